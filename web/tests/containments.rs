//! Containment through the JSON API on both back ends: the preview lists what an order would
//! stop, revoke and deny; an approver is refused (403, audited); an order without the clinical
//! confirmation while a life-critical session runs is refused (400) and changes nothing; the
//! order made (201) keeps the graceful stop for the life-critical session and refuses new
//! requests until it is lifted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::{Method, StatusCode};
use portcullis_core::domain::{Criticality, Role};
use serde_json::json;
use support::client::{assert_error, Api};

#[tokio::test]
async fn an_admin_contains_a_zone_through_the_api_and_others_are_refused() {
    for api in Api::both().await {
        let (nurse, qa) = support::sessions::approver_and_auditor(&api).await;
        api.device("vent-1", Criticality::LifeCritical).await;
        api.user("doc", Role::Approver).await;
        api.user("root", Role::Admin).await;
        let root = api.login("root").await;
        let doc = api.login("doc").await;
        // A life-critical session (two approvers) and a pending request on pump-1.
        let v = portcullis_core::domain::Username::parse("jdoe").unwrap();
        let vent = portcullis_core::domain::DeviceName::parse("vent-1").unwrap();
        let req = api.request(&v, &vent).await;
        for who in [&nurse, &doc] {
            assert_eq!(api.bearer(who, Method::POST, &format!("/api/v1/requests/{req}/approve"), Some(json!({}))).await.status, StatusCode::OK);
        }
        let store = &api.state.ctx.store;
        let (user, dev) = (store.require_user(&v).await.unwrap(), store.require_device(&vent).await.unwrap());
        let grant = store.current_grant(user.id, dev.id, portcullis_core::clock::now()).await.unwrap().unwrap();
        let start = portcullis_core::sessions::SessionStart { user: &user, grant: &grant, device: &dev, peer: "127.0.0.1:1" };
        let session = api.state.ctx.sessions.start(start).await.unwrap();
        let pending = api.request(&v, &"pump-1".parse().unwrap()).await;

        let p = api.bearer(&qa, Method::GET, "/api/v1/containments/preview?kind=zone&name=icu", None).await;
        assert_eq!(p.status, StatusCode::OK, "{}: {:?}", api.backend, p.body);
        assert_eq!((p.body["devices"].as_u64(), p.body["needs_confirmation"].as_bool()), (Some(2), Some(true)), "{:?}", p.body);
        assert_eq!(p.body["stop"][0]["stop"], "graceful", "{:?}", p.body);
        assert_eq!((p.body["revoke"][0]["id"].as_i64(), p.body["deny"][0]["id"].as_i64()), (Some(req), Some(pending)), "{:?}", p.body);
        assert_error(&api.bearer(&qa, Method::GET, "/api/v1/containments/preview?kind=ward&name=icu", None).await, 400, "invalid");

        let order = json!({"kind": "zone", "name": "icu", "reason": "INC-9 ransomware", "confirmed_by": "Dr Ada, ICU"});
        assert_error(&api.bearer(&nurse, Method::POST, "/api/v1/containments", Some(order.clone())).await, 403, "forbidden");
        assert_eq!(api.audit_of("containment.refused").await.len(), 1, "{}", api.backend);
        let unconfirmed = json!({"kind": "zone", "name": "icu", "reason": "INC-9 ransomware"});
        let a = api.bearer(&root, Method::POST, "/api/v1/containments", Some(unconfirmed)).await;
        assert_error(&a, 400, "invalid");
        assert!(a.body["error"]["message"].as_str().unwrap().contains("safe to disconnect"), "{:?}", a.body);
        let blank = json!({"kind": "zone", "name": "icu", "reason": "INC-9", "confirmed_by": "Dr Ada", "immediate": " "});
        assert_error(&api.bearer(&root, Method::POST, "/api/v1/containments", Some(blank)).await, 400, "invalid");
        assert!(api.audit_of("containment.ordered").await.is_empty(), "{}", api.backend);
        assert!(store.session(session).await.unwrap().unwrap().stop_requested_at.is_none(), "{}", api.backend);

        let a = api.bearer(&root, Method::POST, "/api/v1/containments", Some(order.clone())).await;
        assert_eq!(a.status, StatusCode::CREATED, "{}: {:?}", api.backend, a.body);
        assert_eq!((&a.body["revoked"], &a.body["settled"]), (&json!([req]), &json!([pending])), "{:?}", a.body);
        assert_eq!(a.body["stopped"][0]["mode"], "graceful", "{:?}", a.body);
        assert_error(&api.bearer(&root, Method::POST, "/api/v1/containments", Some(order)).await, 409, "conflict");
        let filed = api.bearer(&nurse, Method::POST, "/api/v1/requests", Some(json!({"vendor": "jdoe", "device": "pump-1", "reason": "again", "minutes": 10}))).await;
        assert_error(&filed, 403, "forbidden");
        let listed = api.bearer(&qa, Method::GET, "/api/v1/containments", None).await;
        assert_eq!(listed.body.as_array().map(Vec::len), Some(1), "{:?}", listed.body);
        assert_eq!(listed.body[0]["confirmed_by"], "Dr Ada, ICU", "{:?}", listed.body);

        let lift = json!({"kind": "zone", "name": "icu", "reason": "INC-9 closed"});
        assert_error(&api.bearer(&nurse, Method::POST, "/api/v1/containments/lift", Some(lift.clone())).await, 403, "forbidden");
        let a = api.bearer(&root, Method::POST, "/api/v1/containments/lift", Some(lift)).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        assert_eq!(a.body["lift_reason"], "INC-9 closed", "{:?}", a.body);
        assert_eq!(api.bearer(&qa, Method::GET, "/api/v1/containments", None).await.body, json!([]), "{}", api.backend);
    }
}
