//! Sessions for auditors over the API, on SQLite and PostgreSQL: the search (vendor,
//! organisation, device, zone, time, state, text in the reason), approvers narrowed to the
//! sessions they approved, recordings checked against their sealed hash and downloaded, the
//! evidence export (audited, and the bundle verifies offline), and the live view's refusals:
//! no sign-in, another approver, a foreign Origin with the cookie, an ended session, a plain
//! GET. Sessions are made here as the broker makes them (store rows, a recording file, the
//! `recording.sealed` audit row); tests/e2e covers them made by a real `ssh` vendor.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use portcullis_core::admin::NewUserSpec;
use axum::body::Body;
use axum::http::{Method, Request};
use portcullis_core::clock;
use portcullis_core::domain::{Criticality, Role, Username};
use serde_json::json;
use support::client::{assert_error, Api, ORIGIN};
use support::sessions::{approver_and_auditor, end, session};

fn ids(a: &support::client::Answer) -> Vec<i64> {
    a.body.as_array().unwrap_or_else(|| panic!("{:?}", a.body)).iter().map(|s| s["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn auditors_search_sessions_and_approvers_see_only_their_own() {
    for api in Api::both().await {
        api.user("jdoe", Role::Vendor).await;
        let globex = Username::parse("mrossi").unwrap();
        api.state.admin.create_user("test", NewUserSpec::new(globex.clone(), Role::Vendor, "Globex Medical").ssh_keys(vec![support::client::KEY.to_owned()])).await.unwrap();
        api.user("nurse", Role::Approver).await;
        api.user("tech", Role::Approver).await;
        api.user("qa", Role::Auditor).await;
        api.device("pump-1", Criticality::High).await;
        api.device("ct-scanner", Criticality::Standard).await;
        let (nurse, tech, qa) = (api.login("nurse").await, api.login("tech").await, api.login("qa").await);
        let a = session(&api, "jdoe", "pump-1", "INC-4711 occlusion alarm", &nurse, "a").await;
        let b = session(&api, "mrossi", "ct-scanner", "quarterly calibration", &tech, "b").await;
        let c = session(&api, "jdoe", "ct-scanner", "firmware 4.2 (50% done_x)", &tech, "c").await;
        end(&api, a).await;

        let q = |s: &str| format!("/api/v1/sessions?{s}");
        assert_eq!(ids(&api.bearer(&qa, Method::GET, &q("state=ended"), None).await), vec![a]);
        assert_eq!(ids(&api.bearer(&qa, Method::GET, &q("active=false"), None).await), vec![c, b, a]);
        assert_eq!(ids(&api.bearer(&qa, Method::GET, "/api/v1/sessions", None).await), vec![c, b], "{}: default is the running ones", api.backend);
        assert_eq!(ids(&api.bearer(&qa, Method::GET, &q("vendor=JDO"), None).await), vec![c, a]);
        assert_eq!(ids(&api.bearer(&qa, Method::GET, &q("org=Globex%20Medical"), None).await), vec![b]);
        assert_eq!(ids(&api.bearer(&qa, Method::GET, &q("device=scanner&vendor=jdoe"), None).await), vec![c]);
        assert_eq!(ids(&api.bearer(&qa, Method::GET, &q("zone=icu"), None).await), vec![c, b, a]);
        assert!(ids(&api.bearer(&qa, Method::GET, &q("zone=theatre"), None).await).is_empty());
        assert_eq!(ids(&api.bearer(&qa, Method::GET, &q("q=occlusion"), None).await), vec![a]);
        // LIKE wildcards in the text are literal: "50%" matches only the reason holding it.
        assert_eq!(ids(&api.bearer(&qa, Method::GET, &q("q=50%25%20done_"), None).await), vec![c]);
        assert!(ids(&api.bearer(&qa, Method::GET, &q("q=%25%27%20OR%201=1--"), None).await).is_empty());
        let later = clock::rfc3339(clock::now() + 3600);
        assert!(ids(&api.bearer(&qa, Method::GET, &q(&format!("since={later}&active=false")), None).await).len() == 2, "{}: running ones overlap any later time", api.backend);
        assert!(ids(&api.bearer(&qa, Method::GET, &q("until=2001-01-01T00:00:00Z"), None).await).is_empty());
        assert_eq!(ids(&api.bearer(&qa, Method::GET, &q(&format!("before={c}&active=false")), None).await), vec![b, a]);
        assert_error(&api.bearer(&qa, Method::GET, &q("state=paused"), None).await, 400, "invalid");
        assert_error(&api.bearer(&qa, Method::GET, &q("since=last%20week"), None).await, 400, "invalid");
        assert_error(&api.bearer(&qa, Method::GET, &q("colour=red"), None).await, 400, "invalid");

        // Approvers: only the sessions of requests they approved, in lists and by number.
        assert_eq!(ids(&api.bearer(&nurse, Method::GET, &q("active=false"), None).await), vec![a]);
        assert_eq!(ids(&api.bearer(&tech, Method::GET, &q("active=false"), None).await), vec![c, b]);
        assert_eq!(api.bearer(&nurse, Method::GET, &format!("/api/v1/sessions/{a}"), None).await.body["reason"], "INC-4711 occlusion alarm");
        for path in [format!("/api/v1/sessions/{b}"), format!("/api/v1/sessions/{b}/recordings"), format!("/api/v1/sessions/{b}/recordings/1"), format!("/api/v1/sessions/{b}/audit")] {
            assert_error(&api.bearer(&nurse, Method::GET, &path, None).await, 403, "forbidden");
        }
        // What is running is every approver's to see and stop (patient safety).
        assert_eq!(ids(&api.bearer(&nurse, Method::GET, "/api/v1/sessions", None).await), vec![c, b]);
        assert_eq!(ids(&api.bearer(&nurse, Method::GET, &q("state=active"), None).await), Vec::<i64>::new());
        assert_eq!(api.bearer(&nurse, Method::POST, &format!("/api/v1/sessions/{b}/stop"), Some(json!({}))).await.status, 202);
        assert_error(&api.bearer(&qa, Method::GET, "/api/v1/sessions/999999", None).await, 404, "not_found");
        // The page: the same narrowing.
        let page = api.call(Method::GET, &format!("/sessions/{b}"), &[("cookie", &format!("__Host-portcullis={}", nurse.token))], None).await;
        assert_eq!(page.status, 403, "{}", page.body);
    }
}

#[tokio::test]
async fn recordings_are_checked_downloaded_and_flagged_when_altered() {
    for api in Api::both().await {
        let (nurse, qa) = approver_and_auditor(&api).await;
        let id = session(&api, "jdoe", "pump-1", "INC-1", &nurse, "hello-from-device").await;

        let list = api.bearer(&qa, Method::GET, &format!("/api/v1/sessions/{id}/recordings"), None).await;
        assert_eq!(list.body[0]["status"], "intact", "{:?}", list.body);
        let url = list.body[0]["url"].as_str().unwrap().to_owned();
        let file = api.bearer(&qa, Method::GET, &url, None).await;
        assert_eq!(file.status, 200);
        assert_eq!(file.headers["content-type"], "application/x-asciicast");
        assert!(file.headers["content-disposition"].to_str().unwrap().contains(&format!("session-{id}-1.cast")));
        assert!(file.body.as_str().unwrap().contains("hello-from-device"));
        // The approver of this session may download it too.
        assert_eq!(api.bearer(&nurse, Method::GET, &url, None).await.status, 200);
        assert_error(&api.bearer(&qa, Method::GET, &format!("/api/v1/sessions/{id}/recordings/9"), None).await, 404, "not_found");
        assert_error(&api.bearer(&qa, Method::GET, &format!("/api/v1/sessions/{id}/recordings/x"), None).await, 400, "invalid");
        assert_eq!(api.call(Method::GET, &url, &[], None).await.status, 401);

        // One byte changed on disk: the list and the replay page say so.
        let path = api.state.ctx.config.recording.dir.join(id.to_string()).join("1.cast");
        let text = std::fs::read_to_string(&path).unwrap().replace("hello-from-device", "hello-from-devicE");
        std::fs::write(&path, text).unwrap();
        let list = api.bearer(&qa, Method::GET, &format!("/api/v1/sessions/{id}/recordings"), None).await;
        assert_eq!(list.body[0]["status"], "mismatch", "{:?}", list.body);
        assert_ne!(list.body[0]["actual_sha256"], list.body[0]["sealed_sha256"]);
        let cookie = format!("__Host-portcullis={}", qa.token);
        let page = api.call(Method::GET, &format!("/sessions/{id}/replay/1"), &[("cookie", &cookie)], None).await;
        let html = page.body.as_str().unwrap();
        assert!(html.contains("data-integrity=\"mismatch\"") && html.contains("ALTERED"), "{html}");
        let record = api.call(Method::GET, &format!("/sessions/{id}"), &[("cookie", &cookie)], None).await;
        assert!(record.body.as_str().unwrap().contains("no longer matches"));
        // No bundle is exported from it on the web: the answer says why and how.
        let export = api.bearer(&qa, Method::POST, &format!("/api/v1/sessions/{id}/evidence"), None).await;
        assert_error(&export, 409, "altered");
        assert!(export.body.to_string().contains("--allow-altered"), "{:?}", export.body);
        assert!(api.audit_of("evidence.exported").await.is_empty());
    }
}

#[tokio::test]
async fn evidence_is_exported_by_auditors_audited_and_verifies_offline() {
    for api in Api::both().await {
        let (nurse, qa) = approver_and_auditor(&api).await;
        let id = session(&api, "jdoe", "pump-1", "INC-1", &nurse, "x").await;
        end(&api, id).await;
        assert_error(&api.bearer(&nurse, Method::POST, &format!("/api/v1/sessions/{id}/evidence"), None).await, 403, "forbidden");
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1/sessions/{id}/evidence"))
            .header("host", support::client::HOST)
            .header("authorization", format!("Bearer {}", qa.token))
            .body(Body::empty())
            .unwrap();
        let resp = tower::ServiceExt::oneshot(api.router.clone(), req).await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "application/gzip");
        let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20).await.unwrap();
        let members = portcullis_core::evidence::read_archive(&bytes[..]).unwrap();
        let report = portcullis_core::evidence::verify(&members, None);
        assert!(report.ok, "{}: {report:?}", api.backend);
        let rows = api.audit_of("evidence.exported").await;
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].actor, "qa");
        let d: serde_json::Value = serde_json::from_str(&rows[0].detail).unwrap();
        assert_eq!(d["sha256"], portcullis_core::evidence::sha256_hex(&bytes));
        // The page's form needs the CSRF token like every other.
        let cookie = format!("__Host-portcullis={}", qa.token);
        let bad = api.call(Method::POST, &format!("/sessions/{id}/evidence"), &[("cookie", &cookie), ("origin", ORIGIN), ("content-type", "application/x-www-form-urlencoded")], None).await;
        assert!(bad.status == 400 || bad.status == 403, "{:?}", bad);
    }
}

/// Websocket upgrade headers for `GET /api/v1/sessions/{id}/live`.
fn upgrade(id: i64, extra: &[(&str, &str)]) -> Request<Body> {
    let mut b = Request::builder()
        .method(Method::GET)
        .uri(format!("/api/v1/sessions/{id}/live"))
        .header("host", support::client::HOST)
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    b.body(Body::empty()).unwrap()
}

#[tokio::test]
async fn the_live_view_refuses_whoever_may_not_watch() {
    let api = Api::new("sqlite").await;
    api.user("jdoe", Role::Vendor).await;
    api.user("nurse", Role::Approver).await;
    api.user("tech", Role::Approver).await;
    api.user("qa", Role::Auditor).await;
    api.device("pump-1", Criticality::High).await;
    let (nurse, tech, qa) = (api.login("nurse").await, api.login("tech").await, api.login("qa").await);
    let id = session(&api, "jdoe", "pump-1", "INC-1", &nurse, "x").await;

    assert_error(&api.send(upgrade(id, &[])).await, 401, "unauthenticated");
    let forged = format!("Bearer {}x", qa.token);
    assert_error(&api.send(upgrade(id, &[("authorization", &forged)])).await, 401, "unauthenticated");
    let tech_auth = format!("Bearer {}", tech.token);
    let refused = api.send(upgrade(id, &[("authorization", &tech_auth)])).await;
    assert_error(&refused, 403, "forbidden");
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("did not approve"));
    // With the cookie, another site's page may not open the stream (cross-site websocket hijacking).
    let cookie = format!("__Host-portcullis={}", qa.token);
    assert_error(&api.send(upgrade(id, &[("cookie", &cookie), ("origin", "https://evil.example")])).await, 403, "forbidden");
    assert_error(&api.send(upgrade(id, &[("cookie", &cookie)])).await, 403, "forbidden");
    // A plain GET by someone allowed is told what the address is.
    assert_error(&api.bearer(&qa, Method::GET, &format!("/api/v1/sessions/{id}/live"), None).await, 400, "invalid");
    // Nobody was recorded as watching.
    assert!(api.audit_of("session.watched").await.is_empty());
    end(&api, id).await;
    let nurse_auth = format!("Bearer {}", nurse.token);
    assert_error(&api.send(upgrade(id, &[("authorization", &nurse_auth)])).await, 409, "conflict");
}
