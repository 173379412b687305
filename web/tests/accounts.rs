//! An account's changes through the JSON API, on SQLite and PostgreSQL: an admin replaces a
//! vendor's key (never the last), sets and clears its end date (after which sign-in is
//! refused) and resets its TOTP secret; nobody else may, and a keyless vendor is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::Method;
use portcullis_core::auth::Refusal;
use portcullis_core::domain::Role;
use serde_json::json;
use support::client::{assert_error, Api, KEY};

/// Another ed25519 public key (made by `ssh-keygen -t ed25519`).
const NEW_LAPTOP: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA38UI7MkRWsfgx0aP2PQKALzA3jN6LJ07k9OVDsV18r jdoe@new-laptop";

#[tokio::test]
async fn admins_replace_keys_set_end_dates_and_reset_authenticators() {
    for api in Api::both().await {
        api.user("boss", Role::Admin).await;
        api.user("nurse", Role::Approver).await;
        let jdoe = api.user("jdoe", Role::Vendor).await;
        let boss = api.login("boss").await;
        let nurse = api.login("nurse").await;
        let base = "/api/v1/users/jdoe";

        assert_error(&api.bearer(&nurse, Method::GET, &format!("{base}/keys"), None).await, 403, "forbidden");
        assert_error(&api.bearer(&nurse, Method::POST, &format!("{base}/reset-totp"), None).await, 403, "forbidden");
        let keyless = api.bearer(&boss, Method::POST, "/api/v1/users", Some(json!({"username": "acme-x", "role": "vendor", "org": "Acme"}))).await;
        assert_error(&keyless, 400, "invalid");

        let keys = api.bearer(&boss, Method::GET, &format!("{base}/keys"), None).await;
        let old_fp = keys.body[0]["fingerprint"].as_str().unwrap().to_owned();
        let last = api.bearer(&boss, Method::POST, &format!("{base}/keys/remove"), Some(json!({"fingerprint": old_fp}))).await;
        assert_error(&last, 400, "invalid");
        let added = api.bearer(&boss, Method::POST, &format!("{base}/keys"), Some(json!({"public_key": NEW_LAPTOP}))).await;
        assert_eq!(added.body.as_array().map(Vec::len), Some(2), "{}: {:?}", api.backend, added.body);
        assert_error(&api.bearer(&boss, Method::POST, &format!("{base}/keys"), Some(json!({"public_key": KEY}))).await, 409, "conflict");
        let left = api.bearer(&boss, Method::POST, &format!("{base}/keys/remove"), Some(json!({"fingerprint": old_fp}))).await;
        assert_eq!(left.body.as_array().map(Vec::len), Some(1), "{:?}", left.body);
        assert!(left.body[0]["public_key"].as_str().unwrap().ends_with("jdoe@new-laptop"));

        let ended = api.bearer(&boss, Method::POST, &format!("{base}/expiry"), Some(json!({"expires_at": "2020-01-31T23:59:59Z"}))).await;
        assert_eq!((ended.body["expires_at"].as_str(), ended.body["expired"].as_bool()), (Some("2020-01-31T23:59:59Z"), Some(true)), "{:?}", ended.body);
        let fp = left.body[0]["fingerprint"].as_str().unwrap();
        assert_eq!(api.state.ctx.auth.check_ssh_key(&jdoe, fp).await.unwrap().unwrap_err(), Refusal::Expired);
        assert_error(&api.bearer(&boss, Method::POST, &format!("{base}/expiry"), Some(json!({"expires_at": "next tuesday"}))).await, 400, "invalid");
        let cleared = api.bearer(&boss, Method::POST, &format!("{base}/expiry"), Some(json!({"expires_at": null}))).await;
        assert_eq!(cleared.body["expired"], false, "{:?}", cleared.body);
        assert!(api.state.ctx.auth.check_ssh_key(&jdoe, fp).await.unwrap().is_ok());

        let reset = api.bearer(&boss, Method::POST, &format!("{base}/reset-totp"), None).await;
        assert!(reset.body["totp_secret"].as_str().is_some_and(|s| s.len() >= 16), "{:?}", reset.body);
        assert!(reset.body["otpauth_uri"].as_str().is_some_and(|u| u.starts_with("otpauth://")));
        assert_error(&api.bearer(&boss, Method::POST, "/api/v1/users/nobody/reset-totp", None).await, 404, "not_found");

        for kind in ["user.key_added", "user.key_removed", "user.expiry_set", "user.totp_reset"] {
            assert!(api.audit_of(kind).await.iter().any(|r| r.actor.starts_with("boss")), "{}: {kind}", api.backend);
        }
        let secret = reset.body["totp_secret"].as_str().unwrap();
        assert!(api.audit_of("user.totp_reset").await.iter().all(|r| !r.detail.contains(secret)));
    }
}
