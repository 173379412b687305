//! A device's changes through the JSON API, on SQLite and PostgreSQL: an admin edits it,
//! rotates its credential and pins another host key, each audited with old and new values
//! and no secret in any answer or row; approvers may not, and bad input changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::Method;
use portcullis_core::domain::{Criticality, Role};
use serde_json::json;
use support::client::{assert_error, Api};

/// Another ed25519 public key (made by `ssh-keygen -t ed25519`).
const OTHER_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA38UI7MkRWsfgx0aP2PQKALzA3jN6LJ07k9OVDsV18r";

#[tokio::test]
async fn admins_edit_rotate_repin_and_enable_devices_and_nobody_else_does() {
    for api in Api::both().await {
        api.user("boss", Role::Admin).await;
        api.user("nurse", Role::Approver).await;
        api.device("pump-1", Criticality::Standard).await;
        let boss = api.login("boss").await;
        let nurse = api.login("nurse").await;
        let path = "/api/v1/devices/pump-1";

        let denied = api.bearer(&nurse, Method::PATCH, path, Some(json!({"zone": "or"}))).await;
        assert_error(&denied, 403, "forbidden");
        assert_error(&api.bearer(&nurse, Method::POST, &format!("{path}/credential"), Some(json!({"password": "x"}))).await, 403, "forbidden");
        assert_error(&api.bearer(&nurse, Method::POST, &format!("{path}/host-key"), Some(json!({"host_key": OTHER_KEY}))).await, 403, "forbidden");

        let edited = api.bearer(&boss, Method::PATCH, path, Some(json!({"zone": "or", "tcp_ports": [104], "criticality": "high"}))).await;
        assert_eq!(edited.status.as_u16(), 200, "{}: {:?}", api.backend, edited.body);
        assert_eq!((edited.body["zone"].as_str(), edited.body["criticality"].as_str()), (Some("or"), Some("high")), "{:?}", edited.body);
        assert_eq!(edited.body["tcp_ports"], json!([104]));
        assert_error(&api.bearer(&boss, Method::PATCH, path, Some(json!({"address": "nowhere"}))).await, 400, "invalid");
        assert_error(&api.bearer(&boss, Method::PATCH, path, Some(json!({"colour": "red"}))).await, 422, "invalid");
        assert_error(&api.bearer(&boss, Method::PATCH, "/api/v1/devices/nope", Some(json!({"zone": "or"}))).await, 404, "not_found");

        let rotated = api.bearer(&boss, Method::POST, &format!("{path}/credential"), Some(json!({"password": "rotated-s3cret"}))).await;
        assert_eq!(rotated.body, json!({"device": "pump-1", "credential": "password"}), "{}", api.backend);
        assert_error(&api.bearer(&boss, Method::POST, &format!("{path}/credential"), Some(json!({"password": "a", "private_key": "b"}))).await, 400, "invalid");

        let repinned = api.bearer(&boss, Method::POST, &format!("{path}/host-key"), Some(json!({"host_key": OTHER_KEY}))).await;
        assert_eq!(repinned.status.as_u16(), 200, "{:?}", repinned.body);
        assert!(repinned.body["old_fingerprint"].as_str().is_some_and(|f| f.starts_with("SHA256:")), "{:?}", repinned.body);
        assert_ne!(repinned.body["old_fingerprint"], repinned.body["new_fingerprint"]);
        assert_error(&api.bearer(&boss, Method::POST, &format!("{path}/host-key"), Some(json!({"host_key": OTHER_KEY}))).await, 400, "invalid");

        assert_eq!(api.bearer(&boss, Method::POST, &format!("{path}/disable"), None).await.body["disabled"], true);
        assert_eq!(api.bearer(&boss, Method::POST, &format!("{path}/enable"), None).await.body["disabled"], false);

        for kind in ["device.edited", "device.credential_rotated", "device.repinned", "device.enabled"] {
            let rows = api.audit_of(kind).await;
            assert_eq!(rows.len(), 1, "{}: {kind}", api.backend);
            assert!(rows[0].actor.starts_with("boss"), "{kind}: {:?}", rows[0]);
        }
        let edited = &api.audit_of("device.edited").await[0];
        let detail: serde_json::Value = serde_json::from_str(&edited.detail).unwrap();
        assert_eq!(detail["changes"]["zone"], json!({"old": "icu", "new": "or"}), "{detail}");
        let log: String = api.audit_of("device.credential_rotated").await.iter().map(|r| r.detail.clone()).collect();
        assert!(!log.contains("rotated-s3cret"), "a secret reached the audit log");
        let shown = api.bearer(&boss, Method::GET, path, None).await;
        assert!(!shown.body.to_string().contains("rotated-s3cret"), "credentials never leave");
    }
}

#[tokio::test]
async fn an_inventory_is_enrolled_whole_or_not_at_all() {
    for api in Api::both().await {
        api.user("boss", Role::Admin).await;
        let boss = api.login("boss").await;
        let device = |n: u32| json!({"name": format!("lab-{n}"), "address": format!("10.30.0.{n}:22"), "login": "svc", "password": "pw", "host_key": OTHER_KEY, "criticality": "standard", "zone": "lab"});
        let mut bad = device(3);
        bad["address"] = json!("nowhere");
        let body = json!({"devices": [device(1), device(2), bad, device(1)]});
        let refused = api.bearer(&boss, Method::POST, "/api/v1/device-inventory", Some(body)).await;
        assert_eq!(refused.status.as_u16(), 400, "{}: {:?}", api.backend, refused.body);
        let lines: Vec<u64> = refused.body["errors"].as_array().unwrap().iter().filter_map(|e| e["line"].as_u64()).collect();
        assert_eq!(lines, vec![3, 4], "{:?}", refused.body);
        assert_eq!(refused.body["devices"], json!([]));
        let listed = api.bearer(&boss, Method::GET, "/api/v1/devices", None).await;
        assert_eq!(listed.body.as_array().map(Vec::len), Some(0), "a refused inventory enrolled devices");

        let dry = api.bearer(&boss, Method::POST, "/api/v1/device-inventory", Some(json!({"dry_run": true, "devices": [device(1), device(2)]}))).await;
        assert_eq!(dry.body["devices"], json!(["lab-1", "lab-2"]), "{:?}", dry.body);
        assert_eq!(api.bearer(&boss, Method::GET, "/api/v1/devices", None).await.body.as_array().map(Vec::len), Some(0));
        let done = api.bearer(&boss, Method::POST, "/api/v1/device-inventory", Some(json!({"devices": [device(1), device(2)]}))).await;
        assert_eq!(done.status.as_u16(), 200, "{:?}", done.body);
        assert_eq!(api.bearer(&boss, Method::GET, "/api/v1/devices", None).await.body.as_array().map(Vec::len), Some(2));
    }
}
