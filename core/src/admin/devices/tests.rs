//! A device's later changes on SQLite and PostgreSQL: each is one audited write with old and
//! new values and never a secret, bad input changes nothing, and an inventory with one bad
//! line enrols nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{DeviceEdit, PinSource};
use crate::admin::fixture::{World, ACTOR, VENDOR_KEY, VENDOR_KEY_FP};
use crate::admin::AdminError;
use crate::audit::verify;
use crate::domain::{Criticality, DeviceName, Zone};
use crate::testdb::stores;
use crate::vault::Credential;

/// Another ed25519 public key (made by `ssh-keygen -t ed25519`).
const OTHER_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA38UI7MkRWsfgx0aP2PQKALzA3jN6LJ07k9OVDsV18r";

fn detail(row: &crate::audit::AuditRow) -> serde_json::Value {
    serde_json::from_str(&row.detail).unwrap()
}

#[tokio::test]
async fn edits_are_audited_with_old_and_new_values() {
    for t in stores().await {
        let w = World::new(&t);
        let name = w.device("pump-1", Criticality::Standard).await;
        let edit = DeviceEdit { address: Some("10.20.0.99:2222".into()), criticality: Some(Criticality::High), tcp_ports: Some(vec![104, 443]), ..DeviceEdit::default() };
        let dev = w.admin.edit_device(ACTOR, &name, edit).await.unwrap();
        assert_eq!((dev.address.as_str(), dev.criticality, dev.tcp_ports.clone()), ("10.20.0.99:2222", Criticality::High, vec![104, 443]), "{}", w.name);
        assert_eq!(dev.login, "service", "an unchanged field kept its value");
        let rows = w.audit_of("device.edited").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        let changes = &detail(&rows[0])["changes"];
        assert_eq!(changes["address"], serde_json::json!({ "old": "10.20.0.12:22", "new": "10.20.0.99:2222" }), "{changes}");
        assert_eq!(changes["criticality"], serde_json::json!({ "old": "standard", "new": "high" }), "{changes}");
        assert_eq!(changes["tcp_ports"], serde_json::json!({ "old": [443], "new": [104, 443] }), "{changes}");
        assert!(changes.get("login").is_none() && changes.get("zone").is_none(), "unchanged fields are not listed: {changes}");

        // Bad input and no-op edits change nothing and write nothing.
        let bad = w.admin.edit_device(ACTOR, &name, DeviceEdit { address: Some("no-port".into()), ..DeviceEdit::default() }).await;
        assert!(matches!(bad, Err(AdminError::Invalid(_))), "{bad:?}");
        let same = w.admin.edit_device(ACTOR, &name, DeviceEdit { zone: Some(Zone::parse("icu").unwrap()), ..DeviceEdit::default() }).await;
        assert!(matches!(same, Err(AdminError::Invalid(ref m)) if m.contains("nothing to change")), "{same:?}");
        let missing = w.admin.edit_device(ACTOR, &DeviceName::parse("nope").unwrap(), DeviceEdit::default()).await;
        assert!(matches!(missing, Err(AdminError::NotFound(_))), "{missing:?}");
        assert_eq!(w.audit_of("device.edited").await.len(), 1);
        assert_eq!(w.store.require_device(&name).await.unwrap().address, "10.20.0.99:2222");
        assert!(verify(&w.store, w.audit.signer()).await.unwrap().ok);
    }
}

#[tokio::test]
async fn a_rotated_credential_is_sealed_and_never_audited() {
    for t in stores().await {
        let w = World::new(&t);
        let name = w.device("pump-1", Criticality::Standard).await;
        w.admin.rotate_device_credential(ACTOR, &name, &Credential::Password("n3w-rotated-secret".into())).await.unwrap();
        let dev = w.store.require_device(&name).await.unwrap();
        assert_eq!(w.vault.open_credential(name.as_str(), &dev.credential).unwrap(), Credential::Password("n3w-rotated-secret".into()));
        let rows = w.audit_of("device.credential_rotated").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        assert_eq!(detail(&rows[0])["credential"], serde_json::json!({ "old": "password", "new": "password" }));
        let log: String = w.audit_rows().await.iter().map(|r| r.detail.clone()).collect();
        assert!(!log.contains("n3w-rotated-secret") && !log.contains("pump-s3cret-pw"), "a secret reached the audit log");
        let empty = w.admin.rotate_device_credential(ACTOR, &name, &Credential::Password(String::new())).await;
        assert!(matches!(empty, Err(AdminError::Invalid(_))), "{empty:?}");
        assert_eq!(w.audit_of("device.credential_rotated").await.len(), 1);
    }
}

#[tokio::test]
async fn repinning_records_both_fingerprints_and_refuses_the_same_key() {
    for t in stores().await {
        let w = World::new(&t);
        let name = w.device("pump-1", Criticality::Standard).await;
        let same = w.admin.repin_device(ACTOR, &name, VENDOR_KEY, PinSource::Given).await;
        assert!(matches!(same, Err(AdminError::Invalid(ref m)) if m.contains("already")), "{same:?}");
        let done = w.admin.repin_device(ACTOR, &name, OTHER_KEY, PinSource::Fetched).await.unwrap();
        assert_eq!(done.old_fingerprint.as_deref(), Some(VENDOR_KEY_FP));
        assert_ne!(done.new_fingerprint, VENDOR_KEY_FP);
        assert_eq!(w.store.require_device(&name).await.unwrap().host_key, OTHER_KEY);
        let rows = w.audit_of("device.repinned").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        let d = detail(&rows[0]);
        assert_eq!(d["host_key_fingerprint"], serde_json::json!({ "old": VENDOR_KEY_FP, "new": done.new_fingerprint }));
        assert_eq!(d["source"], "fetched");
        assert!(w.admin.repin_device(ACTOR, &name, "ssh-ed25519 garbage", PinSource::Given).await.is_err());
    }
}

#[tokio::test]
async fn an_inventory_with_one_bad_line_enrols_nothing() {
    for t in stores().await {
        let w = World::new(&t);
        w.device("pump-0", Criticality::Standard).await;
        let spec = |n: &str| World::device_spec(n, Criticality::Standard);
        let mut bad_address = spec("pump-3");
        bad_address.address = "nowhere".into();
        let rows = vec![(2, spec("pump-1")), (3, spec("pump-2")), (4, bad_address), (5, spec("pump-1")), (6, spec("pump-0"))];
        let errors = w.admin.import_devices(ACTOR, rows, false).await.unwrap().unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![4, 5, 6], "{errors:?}");
        assert!(errors[0].message.contains("HOST:PORT") && errors[1].message.contains("twice") && errors[2].message.contains("already exists"), "{errors:?}");
        assert_eq!(w.store.list_devices().await.unwrap().len(), 1, "{}: a bad inventory enrolled devices", w.name);

        // A dry run of a clean one says what would happen and writes nothing.
        let clean = || vec![(2, spec("pump-1")), (3, spec("pump-2"))];
        let names = w.admin.import_devices(ACTOR, clean(), true).await.unwrap().unwrap();
        assert_eq!(names.len(), 2);
        assert_eq!(w.store.list_devices().await.unwrap().len(), 1);
        let names = w.admin.import_devices(ACTOR, clean(), false).await.unwrap().unwrap();
        assert_eq!(names.iter().map(DeviceName::as_str).collect::<Vec<_>>(), ["pump-1", "pump-2"]);
        assert_eq!(w.store.list_devices().await.unwrap().len(), 3);
        let created = w.audit_of("device.created").await;
        assert_eq!(created.len(), 3);
        assert_eq!(detail(&created[2])["imported"], true);
        assert!(verify(&w.store, w.audit.signer()).await.unwrap().ok);
    }
}

#[tokio::test]
async fn disabling_and_enabling_record_the_change() {
    for t in stores().await {
        let w = World::new(&t);
        let name = w.device("pump-1", Criticality::Standard).await;
        w.admin.set_device_disabled(ACTOR, &name, true).await.unwrap();
        w.admin.set_device_disabled(ACTOR, &name, false).await.unwrap();
        let d = detail(&w.audit_of("device.enabled").await[0]);
        assert_eq!(d["disabled"], serde_json::json!({ "old": true, "new": false }));
    }
}
