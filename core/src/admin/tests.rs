//! Enrolment through [`Admin`] on SQLite and PostgreSQL: secrets are sealed and never
//! audited, bad input is refused with a clear message and changes nothing, and every change
//! leaves its audit row.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::admin::NewUserSpec;
use super::fixture::{World, ACTOR, VENDOR_KEY, VENDOR_KEY_FP};
use super::AdminError;
use crate::password;
use crate::audit::verify;
use crate::auth::totp_owner;
use crate::domain::{Criticality, Role, Username};
use crate::testdb::stores;
use crate::totp::Totp;
use crate::vault::Credential;

#[tokio::test]
async fn vendor_enrolment_seals_the_totp_secret() {
    for t in stores().await {
        let w = World::new(&t);
        let name = Username::parse("jdoe").unwrap();
        let (user, enrol) = w.admin.create_user(ACTOR, NewUserSpec::new(name.clone(), Role::Vendor, "Acme Medical").ssh_keys(vec![VENDOR_KEY.to_owned()])).await.unwrap();
        assert_eq!(user.role, Role::Vendor);
        assert_eq!(user.org, "Acme Medical");
        assert!(enrol.one_time_password.is_none() && user.password_hash.is_none(), "{}", w.name);
        assert!(enrol.otpauth_uri.starts_with("otpauth://totp/"), "{}", enrol.otpauth_uri);
        assert!(!format!("{enrol:?}").contains(&enrol.totp_secret_base32));

        let secret = w.vault.open_bytes(&totp_owner(&name), &user.totp_secret).unwrap();
        assert!(!user.totp_secret.windows(secret.len()).any(|win| win == secret.as_slice()), "{}: secret stored in clear", w.name);
        assert!(!user.totp_secret.windows(8).any(|win| enrol.totp_secret_base32.as_bytes().starts_with(win)));
        let again = Totp::new(secret, "Portcullis", "jdoe").unwrap();
        assert_eq!(again.secret_base32(), enrol.totp_secret_base32);
        assert!(w.vault.open_bytes(&totp_owner(&Username::parse("other").unwrap()), &user.totp_secret).is_err());

        assert_eq!(w.store.user_key_fingerprints(user.id).await.unwrap(), vec![VENDOR_KEY_FP.to_owned()]);
        let rows = w.audit_of("user.created").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        assert_eq!(rows[0].actor, ACTOR);
        assert_eq!(rows[0].subject, "user:jdoe");
        assert!(rows[0].detail.contains(VENDOR_KEY_FP), "{}", rows[0].detail);
        assert!(!rows[0].detail.contains(&enrol.totp_secret_base32), "secret audited");
    }
}

#[tokio::test]
async fn web_accounts_get_a_hashed_one_time_password() {
    for t in stores().await {
        let w = World::new(&t);
        let name = Username::parse("alice").unwrap();
        let (user, enrol) = w.admin.create_user(ACTOR, NewUserSpec::new(name.clone(), Role::Approver, "")).await.unwrap();
        let pw = enrol.one_time_password.clone().unwrap();
        assert_eq!(pw.len(), password::ONE_TIME_PASSWORD_LEN);
        let hash = user.password_hash.clone().unwrap();
        assert!(hash.starts_with("$argon2id$") && !hash.contains(&pw), "{}", w.name);
        assert!(password::verify_blocking(&pw, &hash));
        assert!(user.password_must_change);
        let detail = &w.audit_of("user.created").await[0].detail;
        assert!(!detail.contains(&pw) && !detail.contains("argon2"), "{detail}");
    }
}

#[tokio::test]
async fn refused_enrolments_change_nothing() {
    for t in stores().await {
        let w = World::new(&t);
        w.user("jdoe", Role::Vendor).await;
        let rows_before = w.audit_rows().await.len();
        let jdoe = Username::parse("jdoe").unwrap();
        let dup = w.admin.create_user(ACTOR, NewUserSpec::new(jdoe.clone(), Role::Vendor, "").ssh_keys(vec![VENDOR_KEY.into()])).await.unwrap_err();
        assert!(matches!(dup, AdminError::Exists(_)), "{}: {dup:?}", w.name);
        assert_eq!(dup.to_string(), "user jdoe already exists");

        let bob = Username::parse("bob").unwrap();
        let keyless = w.admin.create_user(ACTOR, NewUserSpec::new(bob.clone(), Role::Vendor, "Acme")).await.unwrap_err();
        assert!(matches!(keyless, AdminError::Invalid(_)) && keyless.to_string().contains("at least one SSH public key"), "{keyless}");
        let bad = w.admin.create_user(ACTOR, NewUserSpec::new(bob.clone(), Role::Vendor, "").ssh_keys(vec!["ssh-ed25519 AAAAnotakey".into()])).await.unwrap_err();
        assert!(matches!(bad, AdminError::Invalid(_)), "{bad:?}");
        assert!(bad.to_string().contains("SSH key #1 is not an OpenSSH public key"), "{bad}");
        let keyed = w.admin.create_user(ACTOR, NewUserSpec::new(bob.clone(), Role::Approver, "").ssh_keys(vec![VENDOR_KEY.into()])).await.unwrap_err();
        assert!(keyed.to_string().contains("only vendor accounts"), "{keyed}");
        let org = w.admin.create_user(ACTOR, NewUserSpec::new(bob.clone(), Role::Vendor, "two\nlines")).await.unwrap_err();
        assert!(matches!(org, AdminError::Invalid(_)));
        assert!(w.store.user_by_name(&bob).await.unwrap().is_none(), "{}: refused user exists", w.name);
        assert_eq!(w.audit_rows().await.len(), rows_before, "{}: a refusal was audited as a change", w.name);
        assert!(verify(&w.store, w.audit.signer()).await.unwrap().ok);
    }
}

#[tokio::test]
async fn keys_disable_enable_unlock_are_audited() {
    for t in stores().await {
        let w = World::new(&t);
        let jdoe = w.user("jdoe", Role::Vendor).await;
        let other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGUS0t+hhuwqwtZmyhnmq7/mzkQUcPDIzHWaJF1w7wkU y";
        let fp = w.admin.add_user_key(ACTOR, &jdoe, other).await.unwrap();
        assert!(fp.starts_with("SHA256:") && fp != VENDOR_KEY_FP);
        assert_eq!(w.store.user_key_fingerprints(w.store.require_user(&jdoe).await.unwrap().id).await.unwrap().len(), 2);
        let dup = w.admin.add_user_key(ACTOR, &jdoe, VENDOR_KEY).await.unwrap_err();
        assert!(matches!(dup, AdminError::Exists(_)), "{}: {dup:?}", w.name);

        w.admin.set_user_disabled(ACTOR, &jdoe, true).await.unwrap();
        assert!(w.store.require_user(&jdoe).await.unwrap().disabled);
        w.admin.set_user_disabled(ACTOR, &jdoe, false).await.unwrap();
        assert!(!w.store.require_user(&jdoe).await.unwrap().disabled);
        w.admin.unlock_user(ACTOR, &jdoe).await.unwrap();
        let ghost = Username::parse("ghost").unwrap();
        assert!(matches!(w.admin.set_user_disabled(ACTOR, &ghost, true).await, Err(AdminError::NotFound(_))));
        assert!(matches!(w.admin.unlock_user(ACTOR, &ghost).await, Err(AdminError::NotFound(_))));
        for kind in ["user.disabled", "user.enabled", "user.unlocked"] {
            assert_eq!(w.audit_of(kind).await.len(), 1, "{}: {kind}", w.name);
        }
        assert_eq!(w.audit_of("user.key_added").await.len(), 1);
    }
}

#[tokio::test]
async fn device_credential_is_sealed_and_host_key_pinned() {
    for t in stores().await {
        let w = World::new(&t);
        let spec = World::device_spec("infusion-pump-12", Criticality::High);
        let dev = w.admin.create_device(ACTOR, spec.clone()).await.unwrap();
        assert!(!dev.credential.windows(6).any(|win| win == b"s3cret"), "{}: credential in clear", w.name);
        assert_eq!(w.vault.open_credential("infusion-pump-12", &dev.credential).unwrap(), spec.credential);
        assert_eq!(dev.host_key, VENDOR_KEY.trim_end_matches(" x"), "pinned without comment");
        assert_eq!(dev.tcp_ports, vec![443]);
        let row = &w.audit_of("device.created").await[0];
        assert!(!row.detail.contains("s3cret"), "{}", row.detail);
        assert!(row.detail.contains("\"password\"") && row.detail.contains(VENDOR_KEY_FP), "{}", row.detail);

        let dup = w.admin.create_device(ACTOR, spec.clone()).await.unwrap_err();
        assert!(matches!(dup, AdminError::Exists(_)), "{}: {dup:?}", w.name);
        let mut bad = World::device_spec("pump-2", Criticality::High);
        bad.address = "10.0.0.1".into();
        assert!(w.admin.create_device(ACTOR, bad).await.unwrap_err().to_string().contains("HOST:PORT"));
        let mut bad = World::device_spec("pump-2", Criticality::High);
        bad.host_key = "ssh-rsa garbage".into();
        assert!(w.admin.create_device(ACTOR, bad).await.unwrap_err().to_string().contains("host key"));
        let mut bad = World::device_spec("pump-2", Criticality::High);
        bad.credential = Credential::PrivateKey("-----BEGIN NOTHING-----".into());
        assert!(matches!(w.admin.create_device(ACTOR, bad).await, Err(AdminError::Invalid(_))));
        assert!(w.store.device_by_name(&crate::domain::DeviceName::parse("pump-2").unwrap()).await.unwrap().is_none());

        w.admin.set_device_disabled(ACTOR, &spec.name, true).await.unwrap();
        assert!(w.store.require_device(&spec.name).await.unwrap().disabled);
        assert_eq!(w.audit_of("device.disabled").await.len(), 1);
        assert!(verify(&w.store, w.audit.signer()).await.unwrap().ok);
    }
}
