//! The JSON API against a real store (SQLite and PostgreSQL): the happy path of an
//! approver's day, and the hostile cases — forged, stale and revoked tokens, missing CSRF
//! tokens and foreign origins, separation of duties, maintenance windows, an approve/deny race, and SQL
//! metacharacters and oversized values in every field.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::{Method, StatusCode};
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use portcullis_core::domain::{Criticality, Role};
use portcullis_web::auth::token::{Claims, AUDIENCE, ISSUER};
use serde_json::json;
use support::client::{assert_error, Api, Signed, ORIGIN};

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn claims(s: &Signed, sid: &str, iat: i64, exp: i64, aud: &str) -> Claims {
    Claims { sub: s.name.clone(), sid: sid.into(), scope: "full".into(), iat, exp, aud: aud.into(), iss: ISSUER.into() }
}

fn sign(c: &Claims, key: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), c, &EncodingKey::from_secret(key).unwrap()).unwrap()
}

fn sid_of(api: &Api, s: &Signed) -> String {
    // The token is ours: read its sid the way the server does.
    api.state.keys.verify(&s.token).unwrap().sid
}

#[tokio::test]
async fn forged_stale_and_ended_tokens_are_refused() {
    for api in Api::both().await {
        api.user("nurse", Role::Approver).await;
        let s = api.login("nurse").await;
        assert_eq!(api.bearer(&s, Method::GET, "/api/v1/me", None).await.status, StatusCode::OK);
        let sid = sid_of(&api, &s);
        let now = portcullis_core::clock::now();
        let good = claims(&s, &sid, now, now + 600, AUDIENCE);

        let none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&serde_json::to_value(&good).unwrap()));
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &good, &EncodingKey::from_secret(&api.key).unwrap()).unwrap();
        let forged = [
            ("alg none", none),
            ("another algorithm", hs512),
            ("wrong key", sign(&good, &[7u8; 32])),
            ("expired", sign(&claims(&s, &sid, now - 3600, now - 120, AUDIENCE), &api.key)),
            ("wrong audience", sign(&claims(&s, &sid, now, now + 600, "somebody-else"), &api.key)),
            ("unknown sign-in", sign(&claims(&s, "00112233445566778899aabbccddeeff", now, now + 600, AUDIENCE), &api.key)),
            ("garbage", "not.a.token".to_owned()),
        ];
        for (what, token) in forged {
            let t = Signed { token, ..s.clone() };
            let a = api.bearer(&t, Method::GET, "/api/v1/me", None).await;
            assert_error(&a, 401, "unauthenticated");
            let cookie = format!("__Host-portcullis={}", t.token);
            let c = api.call(Method::GET, "/api/v1/requests", &[("cookie", &cookie)], None).await;
            assert_eq!(c.status, StatusCode::UNAUTHORIZED, "{}: {what} as cookie", api.backend);
        }
        // A correctly re-signed token still works (so the cases above failed for their reason).
        let resigned = Signed { token: sign(&good, &api.key), ..s.clone() };
        assert_eq!(api.bearer(&resigned, Method::GET, "/api/v1/me", None).await.status, StatusCode::OK);

        // Sign-out ends the token at once, though it has not expired.
        assert_eq!(api.bearer(&s, Method::POST, "/api/v1/auth/logout", None).await.status, StatusCode::NO_CONTENT);
        assert_error(&api.bearer(&s, Method::GET, "/api/v1/me", None).await, 401, "unauthenticated");
        assert_error(&api.bearer(&resigned, Method::GET, "/api/v1/me", None).await, 401, "unauthenticated");

        // Disabling the account ends its sign-ins at once.
        api.user("boss", Role::Admin).await;
        api.user("charge", Role::Approver).await;
        let boss = api.login("boss").await;
        let charge = api.login("charge").await;
        let a = api.bearer(&boss, Method::POST, "/api/v1/users/charge/disable", None).await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        assert_error(&api.bearer(&charge, Method::GET, "/api/v1/requests", None).await, 401, "unauthenticated");
        assert_eq!(api.audit_of("user.disabled").await.len(), 1);
        assert!(api.audit_of("auth.logout").await[0].detail.contains("\"via\":\"web\""));
    }
}

#[tokio::test]
async fn cookie_requests_need_the_csrf_token_and_this_origin() {
    let api = Api::new("sqlite").await;
    let vendor = api.user("jdoe", Role::Vendor).await;
    api.user("nurse", Role::Approver).await;
    let dev = api.device("pump-1", Criticality::High).await;
    let id = api.request(&vendor, &dev).await;
    let s = api.login("nurse").await;
    let path = format!("/api/v1/requests/{id}/approve");
    let cookie = format!("__Host-portcullis={}", s.token);

    let no_csrf = api.call(Method::POST, &path, &[("cookie", &cookie), ("origin", ORIGIN)], Some(json!({}))).await;
    assert_error(&no_csrf, 403, "forbidden");
    let wrong_csrf = api.call(Method::POST, &path, &[("cookie", &cookie), ("origin", ORIGIN), ("x-csrf-token", "AAAA")], Some(json!({}))).await;
    assert_error(&wrong_csrf, 403, "forbidden");
    for origin in ["https://evil.example", "http://portcullis.test:8443", "null"] {
        let foreign = api.call(Method::POST, &path, &[("cookie", &cookie), ("origin", origin), ("x-csrf-token", &s.csrf)], Some(json!({}))).await;
        assert_error(&foreign, 403, "forbidden");
    }
    let no_origin = api.call(Method::POST, &path, &[("cookie", &cookie), ("x-csrf-token", &s.csrf)], Some(json!({}))).await;
    assert_error(&no_origin, 403, "forbidden");
    // Nothing was decided by any of those.
    assert!(api.audit_of("request.approval_recorded").await.is_empty());

    let ok = api.page_post(&s, &path, json!({})).await;
    assert_eq!(ok.status, StatusCode::OK, "{:?}", ok.body);
    assert_eq!(ok.body["outcome"], "granted");
    // A cross-site sign-in attempt is refused too.
    let code = api.code("nurse").await;
    let login = api.call(Method::POST, "/api/v1/auth/login", &[("origin", "https://evil.example")], Some(json!({"username": "nurse", "password": support::client::PASSWORD, "code": code}))).await;
    assert_error(&login, 403, "forbidden");
}

#[tokio::test]
async fn separation_of_duties_holds_over_the_api() {
    for api in Api::both().await {
        let vendor = api.user("jdoe", Role::Vendor).await;
        api.user("nurse", Role::Approver).await;
        api.user("qa", Role::Auditor).await;
        let vent = api.device("vent-3", Criticality::LifeCritical).await;
        let id = api.request(&vendor, &vent).await;
        let nurse = api.login("nurse").await;
        let qa = api.login("qa").await;

        // Vendors never sign in on the web, so they cannot approve their own request here.
        let code = api.code("jdoe").await;
        let v = api.call(Method::POST, "/api/v1/auth/login", &[], Some(json!({"username": "jdoe", "password": "x", "code": code}))).await;
        assert_error(&v, 401, "unauthenticated");
        // Nor can an approver file a request for itself.
        let own = api.bearer(&nurse, Method::POST, "/api/v1/requests", Some(json!({"vendor": "nurse", "device": "vent-3", "reason": "mine", "minutes": 10}))).await;
        assert_error(&own, 400, "invalid");

        let first = api.bearer(&nurse, Method::POST, &format!("/api/v1/requests/{id}/approve"), Some(json!({"minutes": 20}))).await;
        assert_eq!(first.status, StatusCode::OK, "{:?}", first.body);
        assert_eq!((first.body["outcome"].as_str(), first.body["approvals"].as_i64(), first.body["approvals_required"].as_i64()), (Some("recorded"), Some(1), Some(2)));
        let again = api.bearer(&nurse, Method::POST, &format!("/api/v1/requests/{id}/approve"), Some(json!({}))).await;
        assert_error(&again, 403, "forbidden");
        assert!(again.body["error"]["message"].as_str().unwrap().contains("another approver"), "{:?}", again.body);
        let auditor = api.bearer(&qa, Method::POST, &format!("/api/v1/requests/{id}/approve"), Some(json!({}))).await;
        assert_error(&auditor, 403, "forbidden");
        let shown = api.bearer(&qa, Method::GET, &format!("/api/v1/requests/{id}"), None).await;
        assert_eq!(shown.body["state"], "pending", "{}", api.backend);
        assert_eq!(shown.body["approvals"], json!(["nurse"]));
        assert_eq!(shown.body["policy"]["approvals_required"], 2);
        assert_eq!(shown.body["policy"]["moderated"], true, "a life-critical device is moderated by default");
        // The refusals are in the audit log with who and from where.
        let refused = api.audit_of("request.approval_refused").await;
        assert_eq!(refused.len(), 1, "{}: {refused:?}", api.backend);
        assert_eq!(refused[0].actor, "nurse");
        assert!(refused[0].detail.contains("web "), "{}", refused[0].detail);
    }
}

#[tokio::test]
async fn an_approve_deny_race_has_exactly_one_winner() {
    for api in Api::both().await {
        let vendor = api.user("jdoe", Role::Vendor).await;
        api.user("alice", Role::Approver).await;
        api.user("bob", Role::Approver).await;
        let dev = api.device("pump-1", Criticality::Standard).await;
        let (alice, bob) = (api.login("alice").await, api.login("bob").await);
        for round in 0..5 {
            let id = api.request(&vendor, &dev).await;
            let (ap, dp) = (format!("/api/v1/requests/{id}/approve"), format!("/api/v1/requests/{id}/deny"));
            let approve = api.bearer(&alice, Method::POST, &ap, Some(json!({})));
            let deny = api.bearer(&bob, Method::POST, &dp, Some(json!({"reason": "not today"})));
            let (a, d) = tokio::join!(approve, deny);
            let wins = [a.status, d.status].iter().filter(|s| **s == StatusCode::OK).count();
            assert_eq!(wins, 1, "{} round {round}: approve {:?} deny {:?}", api.backend, a.body, d.body);
            let loser = if a.status == StatusCode::OK { &d } else { &a };
            assert_error(loser, 409, "conflict");
            let r = api.state.ctx.store.require_request(portcullis_core::domain::RequestId(id)).await.unwrap();
            let grant = api.state.ctx.store.grant_of_request(r.id).await.unwrap();
            assert_eq!(r.state.as_str() == "approved", grant.is_some(), "{}", api.backend);
        }
    }
}

#[tokio::test]
async fn approvals_set_windows_and_decisions_are_audited_with_identity_and_address() {
    let api = Api::new("postgres").await;
    let vendor = api.user("jdoe", Role::Vendor).await;
    api.user("nurse", Role::Approver).await;
    let dev = api.device("pump-1", Criticality::High).await;
    let s = api.login("nurse").await;

    let pending = api.bearer(&s, Method::GET, "/api/v1/requests/pending-count", None).await;
    assert_eq!(pending.body["count"], 0);
    let id = api.request(&vendor, &dev).await;
    let list = api.bearer(&s, Method::GET, "/api/v1/requests?state=pending", None).await;
    assert_eq!(list.body.as_array().unwrap().len(), 1);
    assert_eq!(list.body[0]["reason"], "INC-7 firmware check");
    assert_eq!(list.body[0]["minutes"], 30);

    // Scheduled and shortened: the grant starts at the chosen time and lasts 10 minutes.
    let start = portcullis_core::clock::now() + 3600;
    let at = portcullis_core::clock::rfc3339(start);
    let a = api.bearer(&s, Method::POST, &format!("/api/v1/requests/{id}/approve"), Some(json!({"minutes": 10, "starts_at": at}))).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(a.body["grant"]["starts_at"], at);
    assert_eq!(a.body["grant"]["ends_at"], portcullis_core::clock::rfc3339(start + 600));
    let past = api.bearer(&s, Method::POST, &format!("/api/v1/requests/{}/approve", api.request(&vendor, &dev).await), Some(json!({"starts_at": "2001-01-01T00:00:00Z"}))).await;
    assert_error(&past, 400, "invalid");

    let revoked = api.bearer(&s, Method::POST, &format!("/api/v1/requests/{id}/revoke"), None).await;
    assert_eq!(revoked.body["state"], "revoked", "{:?}", revoked.body);
    let again = api.bearer(&s, Method::POST, &format!("/api/v1/requests/{id}/revoke"), None).await;
    assert_error(&again, 409, "conflict");
    assert_error(&api.bearer(&s, Method::GET, "/api/v1/requests/999999", None).await, 404, "not_found");
    assert_error(&api.bearer(&s, Method::POST, "/api/v1/sessions/999999/stop", Some(json!({}))).await, 404, "not_found");

    for kind in ["auth.login", "request.approved", "request.revoked"] {
        let rows = api.audit_of(kind).await;
        assert!(!rows.is_empty(), "{kind}");
        assert!(rows.iter().any(|r| r.actor == "nurse"), "{kind}: {rows:?}");
    }
    // Users and devices are for admins.
    assert_error(&api.bearer(&s, Method::GET, "/api/v1/users", None).await, 403, "forbidden");
    api.user("boss", Role::Admin).await;
    let boss = api.login("boss").await;
    let made = api.bearer(&boss, Method::POST, "/api/v1/users", Some(json!({"username": "newnurse", "role": "approver", "org": "ICU"}))).await;
    assert_eq!(made.status, StatusCode::CREATED, "{:?}", made.body);
    assert!(made.body["one_time_password"].as_str().is_some_and(|p| p.len() >= 16));
    assert!(made.body["totp_secret"].is_null());
    let vend = api.bearer(&boss, Method::POST, "/api/v1/users", Some(json!({"username": "vend2", "role": "vendor", "ssh_keys": [support::client::KEY]}))).await;
    assert!(vend.body["otpauth_uri"].as_str().is_some_and(|u| u.starts_with("otpauth://")), "{:?}", vend.body);
    let devs = api.bearer(&boss, Method::GET, "/api/v1/devices", None).await;
    assert_eq!(devs.body[0]["name"], "pump-1");
    assert!(!devs.body.to_string().contains("device-secret-pw"), "credentials never leave");
}

#[tokio::test]
async fn hostile_values_in_every_field_are_refused_or_stored_verbatim() {
    let api = Api::new("sqlite").await;
    let vendor = api.user("jdoe", Role::Vendor).await;
    api.user("boss", Role::Admin).await;
    let dev = api.device("pump-1", Criticality::Standard).await;
    let id = api.request(&vendor, &dev).await;
    let boss = api.login("boss").await;
    let sql = "x'); DROP TABLE users; --";
    const FREE_TEXT: &[&str] = &["reason", "org", "password"];
    let huge = "A".repeat(70 * 1024);
    let bodies: Vec<(String, serde_json::Value)> = vec![
        ("/api/v1/requests".into(), json!({"vendor": "jdoe", "device": "pump-1", "reason": "r", "minutes": 5, "channels": "shell"})),
        (format!("/api/v1/requests/{id}/approve"), json!({"minutes": 5, "starts_at": "2030-01-01T00:00:00Z", "channels": "shell"})),
        (format!("/api/v1/requests/{id}/deny"), json!({"reason": "r"})),
        ("/api/v1/users".into(), json!({"username": "u1", "role": "approver", "org": "o", "ssh_keys": []})),
        ("/api/v1/devices".into(), json!({"name": "d1", "address": "10.0.0.1:22", "login": "svc", "password": "p", "host_key": support::client::KEY, "criticality": "high", "zone": "icu", "tcp_ports": []})),
        ("/api/v1/auth/login".into(), json!({"username": "boss", "password": "p", "code": "123456"})),
    ];
    for (path, template) in &bodies {
        for field in template.as_object().unwrap().keys() {
            for bad in [sql, huge.as_str()] {
                let mut body = template.clone();
                body[field] = json!(bad);
                let a = api.bearer(&boss, Method::POST, path, Some(body)).await;
                let s = a.status.as_u16();
                // Too large, refused as invalid, or (free text only) stored as given.
                assert!(matches!(s, 400 | 401 | 403 | 404 | 409 | 413 | 422) || ((s == 200 || s == 201) && FREE_TEXT.contains(&field.as_str()) && bad == sql), "{path} {field}: {s} {:?}", a.body);
                if s >= 400 {
                    assert!(a.body["error"]["code"].is_string(), "{path} {field}: {:?}", a.body);
                    assert!(!a.body.to_string().contains("sqlx") && !a.body.to_string().contains("SQLITE"), "no internals: {:?}", a.body);
                }
            }
        }
    }
    // Unknown fields and wrong types are refused with a clear message; malformed JSON too.
    let extra = api.bearer(&boss, Method::POST, &format!("/api/v1/requests/{id}/deny"), Some(json!({"reason": "r", "admin": true}))).await;
    assert_error(&extra, 422, "invalid");
    let typed = api.bearer(&boss, Method::POST, "/api/v1/requests", Some(json!({"vendor": "jdoe", "device": "pump-1", "reason": "r", "minutes": "five"}))).await;
    assert_error(&typed, 422, "invalid");
    let auth = format!("Bearer {}", boss.token);
    let raw = axum::http::Request::builder().method("POST").uri("/api/v1/requests").header("host", support::client::HOST)
        .header("authorization", &auth).header("content-type", "application/json").body(axum::body::Body::from("{\"vendor\": ")).unwrap();
    assert_error(&api.send(raw).await, 400, "invalid");
    assert_error(&api.bearer(&boss, Method::GET, "/api/v1/requests/1%27%20OR%201=1", None).await, 400, "invalid");
    assert_error(&api.bearer(&boss, Method::GET, "/api/v1/requests?state=pending%27--", None).await, 400, "invalid");
    // The database is intact and the SQL text was stored verbatim where it was accepted.
    let users = api.state.ctx.store.list_users().await.unwrap();
    assert!(users.iter().any(|u| u.org == sql), "{users:?}");
    let stored = api.state.ctx.store.list_requests(None, None, 100).await.unwrap();
    assert!(stored.iter().any(|r| r.reason == sql), "{stored:?}");
    assert!(portcullis_core::audit::verify(&api.state.ctx.store, api.state.ctx.audit.signer()).await.unwrap().ok);
}

#[tokio::test]
async fn auditors_search_and_verify_the_audit_log() {
    for api in Api::both().await {
        let vendor = api.user("jdoe", Role::Vendor).await;
        api.user("nurse", Role::Approver).await;
        api.user("qa", Role::Auditor).await;
        let dev = api.device("pump-1", Criticality::High).await;
        let id = api.request(&vendor, &dev).await;
        let (nurse, qa) = (api.login("nurse").await, api.login("qa").await);
        api.bearer(&nurse, Method::POST, &format!("/api/v1/requests/{id}/approve"), Some(json!({}))).await;

        assert_error(&api.bearer(&nurse, Method::GET, "/api/v1/audit", None).await, 403, "forbidden");
        let all = api.bearer(&qa, Method::GET, "/api/v1/audit?limit=500", None).await;
        let rows = all.body.as_array().unwrap();
        let seqs: Vec<i64> = rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
        assert!(rows.iter().all(|r| r["hash"].as_str().is_some_and(|h| h.len() == 64)));
        let approved = api.bearer(&qa, Method::GET, "/api/v1/audit?kind=request.approved&device=pump-1&actor=nurse", None).await;
        assert_eq!(approved.body.as_array().unwrap().len(), 1, "{}: {:?}", api.backend, approved.body);
        assert_eq!(approved.body[0]["detail"]["device"], "pump-1");
        let family = api.bearer(&qa, Method::GET, "/api/v1/audit?kind=auth.", None).await;
        assert!(family.body.as_array().unwrap().iter().all(|r| r["kind"].as_str().unwrap().starts_with("auth.")));
        assert_error(&api.bearer(&qa, Method::GET, "/api/v1/audit?since=yesterday", None).await, 400, "invalid");
        assert_error(&api.bearer(&qa, Method::GET, "/api/v1/audit?kind=x%27%20OR%201=1", None).await, 400, "invalid");

        let ok = api.bearer(&qa, Method::POST, "/api/v1/audit/verify", None).await;
        assert_eq!(ok.body["ok"], true, "{:?}", ok.body);
        assert_eq!(ok.body["rows"].as_i64(), Some(*seqs.iter().max().unwrap()));
    }
    // An edited row (the append-only trigger dropped by someone with database access) is named.
    let api = Api::new("sqlite").await;
    api.user("qa", Role::Auditor).await;
    let qa = api.login("qa").await;
    let pool = api.state.ctx.store.pool();
    sqlx::query("DROP TRIGGER audit_log_no_update").execute(pool).await.unwrap();
    sqlx::query("UPDATE audit_log SET actor = 'somebody-else' WHERE seq = 1").execute(pool).await.unwrap();
    let bad = api.bearer(&qa, Method::POST, "/api/v1/audit/verify", None).await;
    assert_eq!((bad.body["ok"].as_bool(), bad.body["first_bad_seq"].as_i64()), (Some(false), Some(1)), "{:?}", bad.body);
    assert!(bad.body["problem"].as_str().is_some_and(|p| !p.is_empty()));
}

/// The `request_id` in the detail of the one `kind` row about request `id`.
async fn row_request_id(api: &Api, kind: &str, id: i64) -> serde_json::Value {
    let rows: Vec<_> = api.audit_of(kind).await.into_iter().filter(|r| r.subject == format!("request:{id}")).collect();
    assert_eq!(rows.len(), 1, "{}: {kind} rows about request {id}: {rows:?}", api.backend);
    serde_json::from_str::<serde_json::Value>(&rows[0].detail).unwrap()["request_id"].clone()
}

/// Whether `id` is one of the server's own request ids (16 random bytes in hex).
fn ours(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test]
async fn audit_rows_carry_the_request_id_of_the_call_that_wrote_them() {
    for api in Api::both().await {
        let vendor = api.user("jdoe", Role::Vendor).await;
        api.user("nurse", Role::Approver).await;
        let dev = api.device("pump-1", Criticality::High).await;
        let s = api.login("nurse").await;
        let auth = format!("Bearer {}", s.token);

        // No id sent: the server makes one, answers with it, and the row names it.
        let id = api.request(&vendor, &dev).await;
        let a = api.call(Method::POST, &format!("/api/v1/requests/{id}/approve"), &[("authorization", &auth)], Some(json!({}))).await;
        assert_eq!(a.status, StatusCode::OK, "{}: {:?}", api.backend, a.body);
        let rid = a.headers["x-request-id"].to_str().unwrap().to_owned();
        assert!(ours(&rid), "{rid:?}");
        assert_eq!(row_request_id(&api, "request.approved", id).await, rid.as_str(), "{}", api.backend);

        // A short id of safe characters sent by the client is kept, in the answer and the row.
        let id = api.request(&vendor, &dev).await;
        let sent = "ticket-42.retry_1";
        let d = api.call(Method::POST, &format!("/api/v1/requests/{id}/deny"), &[("authorization", &auth), ("x-request-id", sent)], Some(json!({"reason": "not now"}))).await;
        assert_eq!(d.status, StatusCode::OK, "{}: {:?}", api.backend, d.body);
        assert_eq!(d.headers["x-request-id"], sent);
        assert_eq!(row_request_id(&api, "request.denied", id).await, sent, "{}", api.backend);

        // Every call gets an id of its own, and rows written outside any call carry none.
        let b = api.call(Method::GET, "/healthz", &[], None).await;
        assert_ne!(b.headers["x-request-id"], a.headers["x-request-id"]);
        assert_eq!(row_request_id(&api, "request.created", id).await, serde_json::Value::Null, "{}", api.backend);
        // The id is part of the hashed detail: the chain still verifies.
        assert!(portcullis_core::audit::verify(&api.state.ctx.store, api.state.ctx.audit.signer()).await.unwrap().ok, "{}", api.backend);
    }
}

#[tokio::test]
async fn hostile_request_ids_are_replaced_by_our_own() {
    use axum::body::Body;
    use axum::http::{HeaderValue, Request};
    let api = Api::new("sqlite").await;
    let vendor = api.user("jdoe", Role::Vendor).await;
    api.user("nurse", Role::Approver).await;
    let dev = api.device("pump-1", Criticality::High).await;
    let s = api.login("nurse").await;
    // A raw newline cannot reach the app at all: no header value may hold one.
    assert!(HeaderValue::from_bytes(b"abc\nX-Injected: 1").is_err());
    let too_long = "a".repeat(65);
    let mut hostile: Vec<HeaderValue> = [too_long.as_str(), "abc\"def", "two words", "tab\there", "line%0Abreak", "line\\nbreak", "<b>x</b>", "a,b", "{\"x\":1}"]
        .into_iter()
        .map(|v| HeaderValue::from_str(v).unwrap())
        .collect();
    hostile.push(HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
    for sent in hostile {
        let id = api.request(&vendor, &dev).await;
        let req = Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1/requests/{id}/approve"))
            .header("host", support::client::HOST)
            .header("authorization", format!("Bearer {}", s.token))
            .header("content-type", "application/json")
            .header("x-request-id", sent.clone())
            .body(Body::from("{}"))
            .unwrap();
        let a = api.send(req).await;
        assert_eq!(a.status, StatusCode::OK, "{sent:?}: {:?}", a.body);
        let got = a.headers["x-request-id"].to_str().unwrap().to_owned();
        assert!(ours(&got) && got.as_bytes() != sent.as_bytes(), "{sent:?} answered as {got:?}");
        assert_eq!(row_request_id(&api, "request.approved", id).await, got.as_str(), "{sent:?}");
    }
    // Two ids at once are one too many: neither is kept.
    let req = Request::builder().uri("/healthz").header("x-request-id", "one").header("x-request-id", "two").body(Body::empty()).unwrap();
    let a = api.send(req).await;
    assert_eq!(a.headers.get_all("x-request-id").iter().count(), 1);
    assert!(ours(a.headers["x-request-id"].to_str().unwrap()));
}

#[tokio::test]
async fn maintenance_windows_hold_over_the_api() {
    // pump-open's daily window opened five minutes ago for twenty; pump-shut's opens in three hours.
    let now = portcullis_core::clock::now();
    let hhmm = |t: i64| portcullis_core::clock::rfc3339(t)[11..16].to_owned();
    let window = |name: &str, device: &str, start: &str| format!("[[maintenance.windows]]\nname = \"{name}\"\ndevice = \"{device}\"\nevery = \"day\"\nstart = \"{start}\"\nduration = \"20m\"\ntime_zone = \"UTC\"\n");
    let extra = format!("{}{}", window("open-now", "pump-open", &hhmm(now - 300)), window("later", "pump-shut", &hhmm(now + 3 * 3600)));
    for backend in ["sqlite", "postgres"] {
        let api = Api::with_config(backend, &extra).await;
        let vendor = api.user("jdoe", Role::Vendor).await;
        api.user("nurse", Role::Approver).await;
        api.user("boss", Role::Admin).await;
        let open = api.device("pump-open", Criticality::Standard).await;
        api.device("pump-shut", Criticality::Standard).await;
        let (nurse, boss) = (api.login("nurse").await, api.login("boss").await);

        // Filed by staff on the vendor's behalf: refused, naming the next opening.
        let shut = api.bearer(&boss, Method::POST, "/api/v1/requests", Some(json!({"vendor": "jdoe", "device": "pump-shut", "reason": "INC-8 after a call", "minutes": 30}))).await;
        assert_error(&shut, 403, "forbidden");
        assert!(shut.body.to_string().contains("the next: later from "), "{backend}: {:?}", shut.body);

        let id = api.request(&vendor, &open).await;
        let shown = api.bearer(&nurse, Method::GET, &format!("/api/v1/requests/{id}"), None).await;
        let closes = (now - 300) / 60 * 60 + 1200;
        assert_eq!(shown.body["maintenance_window"]["state"], "inside", "{backend}: {:?}", shown.body);
        assert_eq!(shown.body["maintenance_window"]["window"], "open-now");
        assert_eq!(shown.body["maintenance_window"]["ends_at"], portcullis_core::clock::rfc3339(closes));
        assert_eq!(shown.body["policy"]["outside_window"], "refuse");
        let a = api.bearer(&nurse, Method::POST, &format!("/api/v1/requests/{id}/approve"), Some(json!({}))).await;
        assert_eq!(a.status, StatusCode::OK, "{backend}: {:?}", a.body);
        assert_eq!(a.body["grant"]["ends_at"], portcullis_core::clock::rfc3339(closes), "{backend}: 30 minutes asked, the window closes first");
    }
}
