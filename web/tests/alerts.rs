//! Alerts over the web against a real store (SQLite and PostgreSQL): wrong codes at the web
//! sign-in make one `alert.failed_codes` however many follow, the API lists it for approvers,
//! auditors and admins and acknowledges it once (a second acknowledgement is refused naming
//! the first), and the page's Acknowledge form needs this site's Origin and the CSRF token.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use portcullis_core::domain::Role;
use serde_json::json;
use support::client::{assert_error, Api, Signed, ORIGIN, PASSWORD};

/// Sends `n` sign-ins of `name` with a wrong code.
async fn wrong_codes(api: &Api, name: &str, n: usize) {
    for _ in 0..n {
        let a = api.call(Method::POST, "/api/v1/auth/login", &[], Some(json!({"username": name, "password": PASSWORD, "code": "000000"}))).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{:?}", a.body);
    }
}

#[tokio::test]
async fn wrong_codes_alert_once_and_an_alert_is_acknowledged_once() {
    for backend in ["sqlite", "postgres"] {
        let api = Api::with_config(backend, "[alerts]\nfailed_codes = 3\nfailed_codes_window = \"10m\"\n[auth]\nmax_failures = 1000\n").await;
        api.user("nurse", Role::Approver).await;
        api.user("qa", Role::Auditor).await;
        api.user("mallory", Role::Approver).await;
        let (nurse, qa) = (api.login("nurse").await, api.login("qa").await);
        wrong_codes(&api, "mallory", 40).await;
        assert_eq!(api.audit_of("auth.totp.failed").await.len(), 40);
        let alerts = api.audit_of("alert.failed_codes").await;
        assert_eq!(alerts.len(), 1, "{}: forty wrong codes in one window make one alert", api.backend);

        let list = api.bearer(&nurse, Method::GET, "/api/v1/alerts", None).await;
        assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
        let a = &list.body[0];
        assert_eq!((a["rule"].as_str(), a["severity"].as_str(), a["vendor"].as_str()), (Some("failed_codes"), Some("medium"), Some("mallory")), "{}", a);
        assert_eq!(a["acknowledged_by"], json!(null));
        let seq = a["seq"].as_i64().unwrap();

        let ack = api.bearer(&qa, Method::POST, &format!("/api/v1/alerts/{seq}/acknowledge"), None).await;
        assert_eq!(ack.status, StatusCode::OK, "{:?}", ack.body);
        assert_eq!(ack.body["acknowledged_by"], "qa");
        assert!(ack.body["acknowledged_at"].as_str().is_some());
        let again = api.bearer(&nurse, Method::POST, &format!("/api/v1/alerts/{seq}/acknowledge"), None).await;
        assert_error(&again, 409, "conflict");
        assert!(again.body["error"]["message"].as_str().unwrap().contains("by qa"), "{:?}", again.body);
        let rows = api.audit_of("alert.acknowledged").await;
        assert_eq!(rows.len(), 1, "{}: one audited acknowledgement", api.backend);
        assert_eq!(rows[0].actor, "qa");
        // Only alerts are acknowledged: another row, or none, is 404.
        let other = api.audit_of("auth.totp.failed").await[0].seq;
        assert_error(&api.bearer(&nurse, Method::POST, &format!("/api/v1/alerts/{other}/acknowledge"), None).await, 404, "not_found");
        assert_error(&api.bearer(&nurse, Method::POST, "/api/v1/alerts/99999999/acknowledge", None).await, 404, "not_found");
        // Without a sign-in, nothing.
        assert_eq!(api.call(Method::GET, "/api/v1/alerts", &[], None).await.status, StatusCode::UNAUTHORIZED);
        assert_eq!(api.call(Method::POST, &format!("/api/v1/alerts/{seq}/acknowledge"), &[], None).await.status, StatusCode::UNAUTHORIZED);
    }
}

/// A form post to a page, with the sign-in cookie, from `origin`, with `form` as body.
async fn page_form(api: &Api, s: &Signed, path: &str, origin: Option<&str>, form: &str) -> (StatusCode, Option<String>, String) {
    let mut b = Request::post(path).header(header::HOST, support::client::HOST).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").header(header::COOKIE, format!("__Host-portcullis={}", s.token));
    if let Some(o) = origin {
        b = b.header(header::ORIGIN, o);
    }
    let a = api.send(b.body(Body::from(form.to_owned())).unwrap()).await;
    let location = a.headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    (a.status, location, a.body.as_str().unwrap_or_default().to_owned())
}

async fn page_get(api: &Api, s: &Signed, path: &str) -> (StatusCode, String) {
    let cookie = format!("__Host-portcullis={}", s.token);
    let a = api.call(Method::GET, path, &[("cookie", &cookie)], None).await;
    (a.status, a.body.as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn the_page_lists_alerts_and_its_acknowledge_form_needs_origin_and_csrf() {
    let api = Api::with_config("sqlite", "[alerts]\nfailed_codes = 2\n").await;
    api.user("nurse", Role::Approver).await;
    api.user("mallory", Role::Approver).await;
    let nurse = api.login("nurse").await;
    wrong_codes(&api, "mallory", 2).await;
    let seq = api.audit_of("alert.failed_codes").await[0].seq;

    let (status, html) = page_get(&api, &nurse, "/alerts").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("data-alert=\"{seq}\"")) && html.contains("data-severity=\"medium\"") && html.contains("Repeated wrong one-time codes"), "{html}");
    assert!(html.contains(&format!("action=\"/alerts/{seq}/acknowledge\"")), "{html}");

    let path = format!("/alerts/{seq}/acknowledge");
    let good = format!("_csrf={}", nurse.csrf);
    // Hostile: no token, a wrong token, a foreign origin, no origin: refused, nothing written.
    for (origin, form) in [(Some(ORIGIN), "".to_owned()), (Some(ORIGIN), "_csrf=forged".to_owned()), (Some("https://evil.example"), good.clone()), (None, good.clone())] {
        let (status, _, _) = page_form(&api, &nurse, &path, origin, &form).await;
        assert!(status.is_client_error(), "{origin:?} {form}: {status}");
    }
    assert!(api.audit_of("alert.acknowledged").await.is_empty());

    let (status, location, _) = page_form(&api, &nurse, &path, Some(ORIGIN), &good).await;
    assert_eq!((status, location.as_deref()), (StatusCode::SEE_OTHER, Some(format!("/alerts?done=acknowledged&id={seq}").as_str())));
    let (_, html) = page_get(&api, &nurse, &format!("/alerts?done=acknowledged&id={seq}")).await;
    assert!(html.contains("Acknowledged by <strong>nurse</strong>") && html.contains(&format!("Alert {seq} acknowledged")), "{html}");
    assert!(!html.contains(&format!("action=\"/alerts/{seq}/acknowledge\"")), "no button once acknowledged");
    // A second acknowledgement (an old tab) is refused on the page, naming the first.
    let (status, _, html) = page_form(&api, &nurse, &path, Some(ORIGIN), &good).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(&format!("Alert {seq} was already acknowledged by nurse")), "{html}");
    assert_eq!(api.audit_of("alert.acknowledged").await.len(), 1);
}
