//! Break-glass over the web against a real store (SQLite and PostgreSQL): an administrator
//! grants the right to a vendor with the account page's Access form (a vendor may hold no
//! other permission), the reviews due are listed for approvers and auditors, an approver
//! reviews once (a second review by the same approver and a review by an auditor are refused),
//! and a second approver's "not justified" disables the vendor. The opening itself, from a
//! real `ssh` vendor, and the page in Chromium are in tests/e2e/breakglass.rs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use portcullis_core::admin::accounts::AccessEdit;
use portcullis_core::breakglass::OpenInput;
use portcullis_core::domain::{ChannelSet, Criticality, DeviceName, Permission, Role, Username};
use serde_json::json;
use support::client::{Api, Signed, ORIGIN};

async fn page_form(api: &Api, s: &Signed, path: &str, form: &str) -> (StatusCode, Option<String>) {
    let b = Request::post(path)
        .header(header::HOST, support::client::HOST)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, format!("__Host-portcullis={}", s.token))
        .header(header::ORIGIN, ORIGIN);
    let a = api.send(b.body(Body::from(form.to_owned())).unwrap()).await;
    (a.status, a.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned))
}

#[tokio::test]
async fn the_right_is_granted_on_the_page_and_two_approvers_review_over_the_api() {
    for backend in ["sqlite", "postgres"] {
        let api = Api::with_config(backend, "").await;
        let jdoe = api.user("jdoe", Role::Vendor).await;
        api.user("root", Role::Admin).await;
        api.user("nurse", Role::Approver).await;
        api.user("doc", Role::Approver).await;
        api.user("qa", Role::Auditor).await;
        api.device("vent-1", Criticality::High).await;
        let (root, nurse, doc, qa) = (api.login("root").await, api.login("nurse").await, api.login("doc").await, api.login("qa").await);

        // The account page offers the right to a vendor (and not phi), and grants it.
        let cookie = format!("__Host-portcullis={}", root.token);
        let page = api.call(Method::GET, "/admin/users/jdoe", &[("cookie", &cookie)], None).await;
        let html = page.body.as_str().unwrap_or_default();
        assert!(html.contains("name=\"break_glass\"") && !html.contains("name=\"phi\""), "{backend}: {html}");
        let (status, location) = page_form(&api, &root, "/admin/users/jdoe/access", &format!("_csrf={}&break_glass_shown=1&break_glass=1", root.csrf)).await;
        assert!(status.is_redirection(), "{backend}: {status} {location:?}");
        assert!(api.state.ctx.store.require_user(&jdoe).await.unwrap().permissions.has(Permission::BreakGlass), "{backend}");
        // Hostile: a vendor still takes no other permission.
        let e = api.state.admin.set_user_access("test", &jdoe, AccessEdit { grant: vec![Permission::Phi], ..AccessEdit::default() }).await.unwrap_err();
        assert!(e.to_string().contains("break-glass"), "{backend}: {e}");

        let input = OpenInput {
            vendor: jdoe.clone(),
            device: DeviceName::parse("vent-1").unwrap(),
            incident: "INC-9".into(),
            reason: "alarm loop".into(),
            minutes: None,
            channels: ChannelSet::shell(),
            peer: "ssh:127.0.0.1".into(),
        };
        let id = api.state.ctx.breakglass.open(input).await.unwrap().request.0;

        let due = api.bearer(&qa, Method::GET, "/api/v1/breakglass?due=true", None).await;
        assert_eq!(due.status, StatusCode::OK, "{backend}: {:?}", due.body);
        assert_eq!((due.body[0]["id"].as_i64(), due.body[0]["incident"].as_str(), due.body[0]["outcome"].as_str()), (Some(id), Some("INC-9"), Some("pending")), "{backend}: {:?}", due.body);
        let path = format!("/api/v1/breakglass/{id}/review");
        let by_auditor = api.bearer(&qa, Method::POST, &path, Some(json!({"verdict": "justified", "note": "looks fine"}))).await;
        assert_eq!(by_auditor.status, StatusCode::FORBIDDEN, "{backend}");
        let first = api.bearer(&nurse, Method::POST, &path, Some(json!({"verdict": "justified", "note": "alarm confirmed"}))).await;
        assert_eq!((first.status, first.body["outcome"].as_str()), (StatusCode::OK, Some("pending")), "{backend}: {:?}", first.body);
        let again = api.bearer(&nurse, Method::POST, &path, Some(json!({"verdict": "justified", "note": "again"}))).await;
        assert_eq!(again.status, StatusCode::FORBIDDEN, "{backend}: {:?}", again.body);
        let bad = api.bearer(&doc, Method::POST, &path, Some(json!({"verdict": "maybe", "note": "x"}))).await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{backend}");
        let second = api.bearer(&doc, Method::POST, &path, Some(json!({"verdict": "not-justified", "note": "no incident on record"}))).await;
        assert_eq!((second.body["outcome"].as_str(), second.body["account_disabled"].as_bool()), (Some("not-justified"), Some(true)), "{backend}: {:?}", second.body);
        assert!(api.state.ctx.store.require_user(&Username::parse("jdoe").unwrap()).await.unwrap().disabled, "{backend}");
        let none_due = api.bearer(&nurse, Method::GET, "/api/v1/breakglass?due=true", None).await;
        assert_eq!(none_due.body, json!([]), "{backend}");
        assert_eq!(api.audit_of("breakglass.review_refused").await.len(), 1, "{backend}: the second review by nurse");
    }
}
