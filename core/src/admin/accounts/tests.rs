//! An account's later changes on SQLite and PostgreSQL: a vendor's keys can be replaced but
//! never all removed, an end date stops every sign-in (refused and audited) and every
//! approval, and a TOTP reset makes the old secret's codes worthless.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::admin::fixture::{current_step, World, ACTOR, VENDOR_KEY, VENDOR_KEY_FP};
use crate::admin::AdminError;
use crate::auth::Refusal;
use crate::clock;
use crate::domain::Role;
use crate::testdb::stores;

/// Another ed25519 public key (made by `ssh-keygen -t ed25519`).
const NEW_LAPTOP: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA38UI7MkRWsfgx0aP2PQKALzA3jN6LJ07k9OVDsV18r jdoe@new-laptop";

#[tokio::test]
async fn a_vendor_key_is_replaced_but_the_last_one_stays() {
    for t in stores().await {
        let w = World::new(&t);
        let jdoe = w.user("jdoe", Role::Vendor).await;
        let last = w.admin.remove_user_key(ACTOR, &jdoe, VENDOR_KEY_FP).await;
        assert!(matches!(last, Err(AdminError::Invalid(ref m)) if m.contains("last SSH key")), "{}: {last:?}", w.name);
        let new_fp = w.admin.add_user_key(ACTOR, &jdoe, NEW_LAPTOP).await.unwrap();
        w.admin.remove_user_key(ACTOR, &jdoe, VENDOR_KEY_FP).await.unwrap();
        let keys = w.admin.user_keys(&jdoe).await.unwrap();
        assert_eq!(keys.iter().map(|k| k.fingerprint.as_str()).collect::<Vec<_>>(), [new_fp.as_str()], "{}", w.name);
        assert!(keys[0].public_key.ends_with("jdoe@new-laptop"));
        assert_eq!(w.auth.check_ssh_key(&jdoe, VENDOR_KEY_FP).await.unwrap().unwrap_err(), Refusal::KeyNotEnrolled);
        assert!(w.auth.check_ssh_key(&jdoe, &new_fp).await.unwrap().is_ok());
        let missing = w.admin.remove_user_key(ACTOR, &jdoe, "SHA256:nope").await;
        assert!(matches!(missing, Err(AdminError::NotFound(_))), "{missing:?}");
        let rows = w.audit_of("user.key_removed").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        assert!(rows[0].detail.contains(VENDOR_KEY_FP), "{}", rows[0].detail);
        assert!(!w.audit_of("user.key_added").await[0].detail.contains(VENDOR_KEY.split(' ').nth(1).unwrap()), "a whole key line in the log");
    }
}

#[tokio::test]
async fn after_the_end_date_sign_in_and_approval_are_refused_and_audited() {
    for t in stores().await {
        let w = World::new(&t);
        let jdoe = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let dev = w.device("pump-1", crate::domain::Criticality::Standard).await;
        let req = w.approvals.create_request(crate::approvals::RequestInput::new(&jdoe, &dev, "INC-1", 30)).await.unwrap();
        w.admin.set_user_expiry(ACTOR, &jdoe, Some(clock::now() + 86_400)).await.unwrap();
        assert!(w.auth.check_ssh_key(&jdoe, VENDOR_KEY_FP).await.unwrap().is_ok(), "{}: refused before its end", w.name);

        w.admin.set_user_expiry(ACTOR, &jdoe, Some(clock::now() - 1)).await.unwrap();
        assert_eq!(w.auth.check_ssh_key(&jdoe, VENDOR_KEY_FP).await.unwrap().unwrap_err(), Refusal::Expired, "{}", w.name);
        let totp = w.totp(&jdoe).await;
        let code = totp.code_at_step(current_step());
        assert_eq!(w.auth.check_totp(&jdoe, &code, "10.0.0.9:1", "ssh").await.unwrap().unwrap_err(), Refusal::Expired);
        let refused = w.audit_of("auth.refused").await;
        assert!(refused.iter().any(|r| r.detail.contains("\"expired\"")), "{}: {refused:?}", w.name);
        assert!(!w.store.account_enabled(w.store.require_user(&jdoe).await.unwrap().id).await.unwrap());
        let approve = w.approvals.approve(crate::approvals::ApprovalInput::new(req.id, &nurse, "test")).await;
        assert!(approve.is_err(), "{}: an expired vendor's request was approved", w.name);

        let rows = w.audit_of("user.expiry_set").await;
        assert_eq!(rows.len(), 2);
        let d: serde_json::Value = serde_json::from_str(&rows[1].detail).unwrap();
        assert!(d["expires_at"]["old"].is_string() && d["expires_at"]["new"].is_string(), "{d}");
        // Cleared: the account works again; the same date twice is refused.
        w.admin.set_user_expiry(ACTOR, &jdoe, None).await.unwrap();
        assert!(w.auth.check_ssh_key(&jdoe, VENDOR_KEY_FP).await.unwrap().is_ok());
        assert!(matches!(w.admin.set_user_expiry(ACTOR, &jdoe, None).await, Err(AdminError::Invalid(_))));
    }
}

#[tokio::test]
async fn a_totp_reset_makes_the_old_codes_worthless() {
    for t in stores().await {
        let w = World::new(&t);
        let jdoe = w.user("jdoe", Role::Vendor).await;
        let old = w.totp(&jdoe).await;
        let enrolment = w.admin.reset_totp(ACTOR, &jdoe).await.unwrap();
        assert_ne!(enrolment.totp_secret_base32, old.secret_base32(), "{}", w.name);
        let step = current_step();
        let stale = old.code_at_step(step);
        let fresh = w.totp(&jdoe).await;
        assert_eq!(fresh.secret_base32(), enrolment.totp_secret_base32);
        if stale != fresh.code_at_step(step) {
            assert!(w.auth.check_totp(&jdoe, &stale, "10.0.0.9:1", "ssh").await.unwrap().is_err(), "{}: the old secret still works", w.name);
        }
        assert!(w.auth.check_totp(&jdoe, &fresh.code_at_step(step), "10.0.0.9:1", "ssh").await.unwrap().is_ok());
        let rows = w.audit_of("user.totp_reset").await;
        assert_eq!(rows.len(), 1);
        assert!(!rows[0].detail.contains(&enrolment.totp_secret_base32), "the secret reached the audit log");
    }
}

#[tokio::test]
async fn an_auditors_zones_and_permissions_change_in_one_audited_write_and_only_where_they_mean_something() {
    use crate::admin::accounts::AccessEdit;
    use crate::domain::{Permission, ZoneSet};
    for t in stores().await {
        let w = World::new(&t);
        let eve = w.user("eve", Role::Auditor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let jdoe = w.user("jdoe", Role::Vendor).await;
        let icu = ZoneSet::parse("icu,nicu").unwrap();
        let u = w.admin.set_user_access(ACTOR, &eve, AccessEdit { zones: Some(icu.clone()), grant: vec![Permission::Phi], revoke: vec![] }).await.unwrap();
        assert_eq!((u.zones.to_string().as_str(), u.permissions.has(Permission::Phi)), ("icu,nicu", true), "{}", w.name);
        let rows = w.audit_of("user.access_changed").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        assert_eq!((rows[0].actor.as_str(), rows[0].subject.as_str()), (ACTOR, "user:eve"));
        let d: serde_json::Value = serde_json::from_str(&rows[0].detail).unwrap();
        assert_eq!(d["changes"]["zones"], serde_json::json!({ "old": [], "new": ["icu", "nicu"] }));
        assert_eq!(d["changes"]["permissions"], serde_json::json!({ "old": [], "new": ["phi"] }));
        // Read back as the web layer reads a sign-in's account.
        let back = w.store.require_user(&eve).await.unwrap();
        assert_eq!((back.zones, back.permissions.has(Permission::Phi)), (icu, true));

        // Revoking alone changes only the permission; the zone limit is lifted with an empty set.
        w.admin.set_user_access(ACTOR, &eve, AccessEdit { revoke: vec![Permission::Phi], ..AccessEdit::default() }).await.unwrap();
        let u = w.admin.set_user_access(ACTOR, &eve, AccessEdit { zones: Some(ZoneSet::everywhere()), ..AccessEdit::default() }).await.unwrap();
        assert!(u.zones.is_everywhere() && u.permissions.is_empty());
        let d: serde_json::Value = serde_json::from_str(&w.audit_of("user.access_changed").await[1].detail).unwrap();
        assert!(d["changes"].get("zones").is_none() && d["changes"]["permissions"]["new"] == serde_json::json!([]), "{d}");

        // Refused, and nothing written: zones for anyone but an auditor, a permission for a
        // vendor, a change that changes nothing, a grant revoked at once.
        let before = w.audit_of("user.access_changed").await.len();
        let zones = || AccessEdit { zones: Some(ZoneSet::parse("icu").unwrap()), ..AccessEdit::default() };
        let e = w.admin.set_user_access(ACTOR, &nurse, zones()).await.unwrap_err();
        assert!(matches!(e, AdminError::Invalid(ref m) if m.contains("only auditor")), "{e:?}");
        let e = w.admin.set_user_access(ACTOR, &jdoe, AccessEdit { grant: vec![Permission::Phi], ..AccessEdit::default() }).await.unwrap_err();
        assert!(matches!(e, AdminError::Invalid(ref m) if m.contains("vendor")), "{e:?}");
        let e = w.admin.set_user_access(ACTOR, &eve, AccessEdit::default()).await.unwrap_err();
        assert!(matches!(e, AdminError::Invalid(ref m) if m.contains("nothing to change")), "{e:?}");
        let e = w.admin.set_user_access(ACTOR, &eve, AccessEdit { grant: vec![Permission::Phi], revoke: vec![Permission::Phi], ..AccessEdit::default() }).await.unwrap_err();
        assert!(matches!(e, AdminError::Invalid(_)), "{e:?}");
        assert_eq!(w.audit_of("user.access_changed").await.len(), before, "{}", w.name);
        assert!(w.store.require_user(&nurse).await.unwrap().zones.is_everywhere());

        // An auditor may be enrolled with its zones; the creation row names them.
        let spec = crate::admin::NewUserSpec::new(crate::domain::Username::parse("icu-audit").unwrap(), Role::Auditor, "").access(ZoneSet::parse("icu").unwrap(), Default::default());
        let (u, _) = w.admin.create_user(ACTOR, spec).await.unwrap();
        assert_eq!(u.zones.to_string(), "icu");
        assert!(w.audit_of("user.created").await.last().unwrap().detail.contains("\"zones\":[\"icu\"]"));
        let spec = crate::admin::NewUserSpec::new(crate::domain::Username::parse("boss2").unwrap(), Role::Admin, "").access(ZoneSet::parse("icu").unwrap(), Default::default());
        assert!(w.admin.create_user(ACTOR, spec).await.is_err(), "an admin limited to zones could lift its own limit");
    }
}

/// `clinical-signoff` is given by approving: an approver or an admin takes it; a vendor or an
/// auditor is refused with a message that says why, and nothing is written.
#[tokio::test]
async fn only_accounts_that_approve_hold_the_clinical_signoff() {
    use crate::admin::accounts::AccessEdit;
    use crate::domain::Permission;
    let signoff = || AccessEdit { grant: vec![Permission::ClinicalSignoff], ..AccessEdit::default() };
    for t in stores().await {
        let w = World::new(&t);
        for (name, role) in [("jdoe", Role::Vendor), ("eve", Role::Auditor)] {
            let u = w.user(name, role).await;
            let e = w.admin.set_user_access(ACTOR, &u, signoff()).await.unwrap_err();
            let want = format!("only approver and admin accounts hold it, not a {role} account");
            assert!(matches!(e, AdminError::Invalid(ref m) if m.contains(&want)), "{}: {e:?}", w.name);
        }
        assert!(w.audit_of("user.access_changed").await.is_empty(), "{}", w.name);
        for (name, role) in [("nurse", Role::Approver), ("root", Role::Admin)] {
            let u = w.user(name, role).await;
            assert!(w.admin.set_user_access(ACTOR, &u, signoff()).await.unwrap().permissions.has(Permission::ClinicalSignoff), "{}", w.name);
        }
    }
}

#[tokio::test]
async fn a_zone_limited_search_finds_only_its_zones_sessions() {
    use crate::admin::devices::DeviceEdit;
    use crate::domain::{DeviceName, Zone, ZoneSet};
    use crate::store::SessionSearch;
    for t in stores().await {
        let w = World::new(&t);
        let (id, _) = w.started_session("10.0.0.9:5000").await;
        let all = |zones: &str| SessionSearch { zones: ZoneSet::parse(zones).unwrap(), limit: 100, ..SessionSearch::default() };
        let ids = |v: Vec<crate::store::SessionRecord>| v.into_iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(ids(w.store.search_sessions(&all("")).await.unwrap()), vec![id], "{}", w.name);
        assert_eq!(ids(w.store.search_sessions(&all("icu")).await.unwrap()), vec![id]);
        assert_eq!(ids(w.store.search_sessions(&all("nicu,radiology")).await.unwrap()), vec![]);
        // `_` is a wildcard to LIKE, never to this filter.
        let pump = DeviceName::parse("pump-1").unwrap();
        w.admin.edit_device(ACTOR, &pump, DeviceEdit { zone: Some(Zone::parse("icu_a").unwrap()), phi: Some(true), ..DeviceEdit::default() }).await.unwrap();
        assert_eq!(ids(w.store.search_sessions(&all("icuxa")).await.unwrap()), vec![], "{}", w.name);
        assert_eq!(ids(w.store.search_sessions(&all("icu_a,x")).await.unwrap()), vec![id]);
        let s = w.store.session(id).await.unwrap().unwrap();
        assert!(s.phi && s.zone == "icu_a", "{}", w.name);
        let d: serde_json::Value = serde_json::from_str(&w.audit_of("device.edited").await[0].detail).unwrap();
        assert_eq!(d["changes"]["phi"], serde_json::json!({ "old": false, "new": true }));
        // Tagged at enrolment: stored, and named in the creation row.
        let spec = crate::admin::NewDeviceSpec { phi: true, ..World::device_spec("vent-1", crate::domain::Criticality::LifeCritical) };
        assert!(w.admin.create_device(ACTOR, spec).await.unwrap().phi, "{}", w.name);
        assert!(w.audit_of("device.created").await.last().unwrap().detail.contains("\"phi\":true"));
    }
}
