//! Audited access to recordings over the API and the pages, on SQLite and PostgreSQL: each
//! replay, download, live view and evidence export is an audit row naming who, what and from
//! where, listed back as the session's "Viewed by"; an auditor limited to zones neither finds
//! nor opens another zone's session (answered as if it did not exist) and is refused the
//! whole audit log; a device tagged `phi` needs the `phi` permission, which no role has by
//! itself, and the refusal is audited; an opening whose row the store refuses sends nothing.
//! Sessions are made as the broker makes them; tests/e2e covers a real `ssh` vendor and a
//! real browser.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::Method;
use portcullis_core::admin::accounts::AccessEdit;
use portcullis_core::admin::devices::DeviceEdit;
use portcullis_core::domain::{Criticality, DeviceName, Permission, Role, Username, Zone, ZoneSet};
use serde_json::json;
use support::client::{assert_error, Api, Signed};
use support::sessions::{end, session};

/// `jdoe`, approver `nurse`, device `pump-1` in `icu` and `ct-1` in `radiology`, and an ended
/// session on each; returns them with their numbers.
async fn two_zones(api: &Api) -> (Signed, i64, i64) {
    api.user("jdoe", Role::Vendor).await;
    api.user("nurse", Role::Approver).await;
    api.device("pump-1", Criticality::High).await;
    api.device("ct-1", Criticality::Standard).await;
    let ct = DeviceName::parse("ct-1").unwrap();
    api.state.admin.edit_device("test", &ct, DeviceEdit { zone: Some(Zone::parse("radiology").unwrap()), ..DeviceEdit::default() }).await.unwrap();
    let nurse = api.login("nurse").await;
    let icu = session(api, "jdoe", "pump-1", "INC-1 icu pump", &nurse, "icu-screen").await;
    end(api, icu).await;
    let rad = session(api, "jdoe", "ct-1", "INC-2 radiology scanner", &nurse, "radiology-screen").await;
    end(api, rad).await;
    (nurse, icu, rad)
}

/// An auditor named `name` limited to `zones` (empty: everywhere) with `permissions`.
async fn auditor(api: &Api, name: &str, zones: &str, phi: bool) -> Signed {
    let n = api.user(name, Role::Auditor).await;
    let edit = AccessEdit { zones: Some(ZoneSet::parse(zones).unwrap()), grant: if phi { vec![Permission::Phi] } else { vec![] }, revoke: vec![] };
    if !zones.is_empty() || phi {
        api.state.admin.set_user_access("test", &n, edit).await.unwrap();
    }
    api.login(name).await
}

fn cookie(s: &Signed) -> String {
    format!("__Host-portcullis={}", s.token)
}

fn ids(a: &support::client::Answer) -> Vec<i64> {
    a.body.as_array().unwrap_or_else(|| panic!("{:?}", a.body)).iter().map(|s| s["id"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn each_replay_download_and_export_is_a_row_naming_who_what_and_where_and_the_record_lists_it() {
    for api in Api::both().await {
        let (_, icu, _) = two_zones(&api).await;
        let eve = auditor(&api, "eve", "", false).await;
        let c = cookie(&eve);
        let page = |p: String| {
            let (api, c) = (&api, c.clone());
            async move { api.call(Method::GET, &p, &[("cookie", &c)], None).await }
        };
        // The replay page itself shows markers and integrity, not screens: no row.
        let shown = page(format!("/sessions/{icu}/replay/1")).await;
        assert_eq!(shown.status, 200, "{:?}", shown.body);
        assert!(shown.body.as_str().unwrap().contains(&format!("data-cast=\"/sessions/{icu}/replay/1/cast\"")));
        assert!(api.audit_of("recording.replayed").await.is_empty(), "{}", api.backend);
        // The player's fetch of the bytes is the replay: one row, before the bytes.
        let cast = page(format!("/sessions/{icu}/replay/1/cast")).await;
        assert_eq!(cast.status, 200);
        assert!(cast.body.as_str().unwrap().contains("icu-screen"));
        let rows = api.audit_of("recording.replayed").await;
        assert_eq!(rows.len(), 1, "{}", api.backend);
        assert_eq!((rows[0].actor.as_str(), rows[0].subject.clone()), ("eve", format!("session:{icu}")));
        let d: serde_json::Value = serde_json::from_str(&rows[0].detail).unwrap();
        assert_eq!((d["channel"].as_i64(), d["device"].as_str(), d["zone"].as_str()), (Some(1), Some("pump-1"), Some("icu")), "{d}");
        assert!(d["via"].as_str().unwrap().starts_with("web "), "{d}");
        // A download through the API is another row of its own kind.
        let file = api.bearer(&eve, Method::GET, &format!("/api/v1/sessions/{icu}/recordings/1"), None).await;
        assert_eq!(file.status, 200);
        let rows = api.audit_of("recording.downloaded").await;
        assert_eq!((rows.len(), rows[0].actor.as_str()), (1, "eve"), "{}", api.backend);
        // Reading the record, the list of recordings or the audit rows is not an opening.
        for p in [format!("/api/v1/sessions/{icu}"), format!("/api/v1/sessions/{icu}/recordings"), format!("/api/v1/sessions/{icu}/audit")] {
            assert_eq!(api.bearer(&eve, Method::GET, &p, None).await.status, 200, "{p}");
        }
        let export = api.bearer(&eve, Method::POST, &format!("/api/v1/sessions/{icu}/evidence"), None).await;
        assert_eq!(export.status, 200);
        assert_eq!(api.audit_of("evidence.exported").await.len(), 1);
        assert_eq!(api.audit_of("recording.replayed").await.len() + api.audit_of("recording.downloaded").await.len(), 2, "{}: one row per fetch", api.backend);

        // Viewed by: in the JSON and on the page, oldest first in JSON, newest first on the page.
        let one = api.bearer(&eve, Method::GET, &format!("/api/v1/sessions/{icu}"), None).await;
        let viewed: Vec<(String, String)> = one.body["viewed_by"].as_array().unwrap().iter().map(|v| (v["who"].as_str().unwrap().to_owned(), v["what"].as_str().unwrap().to_owned())).collect();
        assert_eq!(viewed, [("eve", "replay"), ("eve", "download"), ("eve", "export")].map(|(a, b)| (a.to_owned(), b.to_owned())), "{}", api.backend);
        assert!(one.body["viewed_by"][0]["from"].is_string() && one.body["viewed_by"][0]["channel"] == 1);
        assert!(api.bearer(&eve, Method::GET, "/api/v1/sessions?active=false", None).await.body[0].get("viewed_by").is_none(), "lists stay lean");
        let record = page(format!("/sessions/{icu}")).await;
        let html = record.body.as_str().unwrap();
        assert!(html.contains("Viewed by") && html.contains("id=\"viewed-by\""), "{html}");
        assert!(html.contains("data-what=\"replay\"") && html.contains("data-what=\"export\""), "{html}");
    }
}

#[tokio::test]
async fn a_zone_limited_auditor_cannot_find_open_replay_download_watch_or_export_another_zones_session() {
    for api in Api::both().await {
        let (_, icu, rad) = two_zones(&api).await;
        let icu_only = auditor(&api, "icu-audit", "icu", true).await;
        // Its own zone: everything, like any auditor.
        assert_eq!(ids(&api.bearer(&icu_only, Method::GET, "/api/v1/sessions?active=false", None).await), vec![icu], "{}", api.backend);
        assert_eq!(ids(&api.bearer(&icu_only, Method::GET, "/api/v1/sessions?zone=radiology", None).await), Vec::<i64>::new());
        assert_eq!(ids(&api.bearer(&icu_only, Method::GET, "/api/v1/sessions?device=ct", None).await), Vec::<i64>::new());
        assert_eq!(api.bearer(&icu_only, Method::GET, &format!("/api/v1/sessions/{icu}/recordings/1"), None).await.status, 200);
        // Another zone's session answers exactly like one that does not exist.
        let nothing = api.bearer(&icu_only, Method::GET, "/api/v1/sessions/999999", None).await;
        for (method, p) in [
            (Method::GET, format!("/api/v1/sessions/{rad}")),
            (Method::GET, format!("/api/v1/sessions/{rad}/recordings")),
            (Method::GET, format!("/api/v1/sessions/{rad}/recordings/1")),
            (Method::GET, format!("/api/v1/sessions/{rad}/audit")),
            (Method::GET, format!("/api/v1/sessions/{rad}/live")),
            (Method::POST, format!("/api/v1/sessions/{rad}/evidence")),
        ] {
            let a = api.bearer(&icu_only, method, &p, None).await;
            assert_error(&a, 404, "not_found");
            assert_eq!(a.body["error"]["message"], json!(format!("no session {rad}")), "{p}: says more than 'no such session'");
            assert_eq!(nothing.body["error"]["message"], json!("no session 999999"));
        }
        for p in [format!("/sessions/{rad}"), format!("/sessions/{rad}/replay/1"), format!("/sessions/{rad}/replay/1/cast"), format!("/sessions/{rad}/live")] {
            let a = api.call(Method::GET, &p, &[("cookie", &cookie(&icu_only))], None).await;
            assert_eq!(a.status, 404, "{}: {p}: {:?}", api.backend, a.body);
            assert!(!a.body.to_string().contains("radiology-screen") && !a.body.to_string().contains("ct-1"), "{p}: {}", a.body);
        }
        let sessions_page = api.call(Method::GET, "/sessions?state=all", &[("cookie", &cookie(&icu_only))], None).await;
        let html = sessions_page.body.as_str().unwrap();
        assert!(html.contains("pump-1") && !html.contains("ct-1") && !html.contains("INC-2"), "{html}");
        // Nor its request: not in the lists, the history page, or by number.
        let rad_request = api.state.ctx.store.session(portcullis_core::domain::SessionId(rad)).await.unwrap().unwrap().request_id.0;
        let requests = api.bearer(&icu_only, Method::GET, "/api/v1/requests?state=approved", None).await;
        assert!(!requests.body.to_string().contains("INC-2") && requests.body.to_string().contains("INC-1"), "{}: {}", api.backend, requests.body);
        assert_error(&api.bearer(&icu_only, Method::GET, &format!("/api/v1/requests/{rad_request}"), None).await, 404, "not_found");
        let history = api.call(Method::GET, "/history", &[("cookie", &cookie(&icu_only))], None).await;
        assert!(history.status == 200 && !history.body.as_str().unwrap().contains("INC-2"), "{}", history.body);
        // The whole audit log would say who worked where: refused, on the page and the API.
        assert_error(&api.bearer(&icu_only, Method::GET, "/api/v1/audit", None).await, 403, "forbidden");
        assert_error(&api.bearer(&icu_only, Method::POST, "/api/v1/audit/verify", None).await, 403, "forbidden");
        assert_eq!(api.call(Method::GET, "/audit", &[("cookie", &cookie(&icu_only))], None).await.status, 403);
        assert!(!html.contains("href=\"/audit\""), "the Audit log link is offered: {html}");
        // Nothing of this was an opening of radiology's recordings.
        for kind in ["recording.replayed", "recording.downloaded", "evidence.exported", "session.watched"] {
            assert!(api.audit_of(kind).await.iter().all(|r| r.subject != format!("session:{rad}")), "{kind}");
        }
        // An auditor of the whole installation still reads the log.
        let all = auditor(&api, "qa", "", false).await;
        assert_eq!(api.bearer(&all, Method::GET, "/api/v1/audit", None).await.status, 200);
        // Lifting the limit takes effect at the next request.
        api.state.admin.set_user_access("test", &Username::parse("icu-audit").unwrap(), AccessEdit { zones: Some(ZoneSet::everywhere()), ..AccessEdit::default() }).await.unwrap();
        assert_eq!(api.bearer(&icu_only, Method::GET, &format!("/api/v1/sessions/{rad}"), None).await.status, 200);
    }
}

#[tokio::test]
async fn without_the_phi_permission_a_phi_devices_recordings_are_refused_and_the_refusal_is_audited() {
    for api in Api::both().await {
        let (_, icu, _) = two_zones(&api).await;
        let pump = DeviceName::parse("pump-1").unwrap();
        api.state.admin.edit_device("test", &pump, DeviceEdit { phi: Some(true), ..DeviceEdit::default() }).await.unwrap();
        api.user("boss", Role::Admin).await;
        let (qa, boss) = (auditor(&api, "qa", "", false).await, api.login("boss").await);
        for who in [&qa, &boss] {
            // The record stays visible, and says why the screens are not.
            let one = api.bearer(who, Method::GET, &format!("/api/v1/sessions/{icu}"), None).await;
            assert_eq!((one.status.as_u16(), one.body["phi"].as_bool()), (200, Some(true)), "{}", api.backend);
            let page = api.call(Method::GET, &format!("/sessions/{icu}"), &[("cookie", &cookie(who))], None).await;
            assert!(page.body.as_str().unwrap().contains("Tagged phi"), "{}", page.body);
            let download = api.bearer(who, Method::GET, &format!("/api/v1/sessions/{icu}/recordings/1"), None).await;
            assert_error(&download, 403, "forbidden");
            assert!(download.body["error"]["message"].as_str().unwrap().contains("phi permission"), "{:?}", download.body);
            assert_error(&api.bearer(who, Method::POST, &format!("/api/v1/sessions/{icu}/evidence"), None).await, 403, "forbidden");
            for p in [format!("/sessions/{icu}/replay/1"), format!("/sessions/{icu}/replay/1/cast")] {
                let a = api.call(Method::GET, &p, &[("cookie", &cookie(who))], None).await;
                assert_eq!(a.status, 403, "{p}");
                assert!(!a.body.to_string().contains("icu-screen"), "{p}");
            }
        }
        let refused = api.audit_of("recording.access_refused").await;
        assert_eq!(refused.len(), 8, "{}: each refusal is a row", api.backend);
        let d: serde_json::Value = serde_json::from_str(&refused[0].detail).unwrap();
        assert_eq!((refused[0].actor.as_str(), d["what"].as_str(), d["why"].as_str(), d["device"].as_str()), ("qa", Some("download"), Some("phi"), Some("pump-1")), "{d}");
        assert!(refused.iter().any(|r| r.actor == "boss"), "an admin has no phi permission by itself");
        for kind in ["recording.replayed", "recording.downloaded", "evidence.exported"] {
            assert!(api.audit_of(kind).await.is_empty(), "{kind} written for a refused opening");
        }
        // Granted (audited), the same auditor replays it.
        api.state.admin.set_user_access("test", &Username::parse("qa").unwrap(), AccessEdit { grant: vec![Permission::Phi], ..AccessEdit::default() }).await.unwrap();
        let cast = api.call(Method::GET, &format!("/sessions/{icu}/replay/1/cast"), &[("cookie", &cookie(&qa))], None).await;
        assert_eq!(cast.status, 200);
        assert_eq!(api.audit_of("recording.replayed").await.len(), 1);
        assert_eq!(api.audit_of("user.access_changed").await.iter().filter(|r| r.subject == "user:qa").count(), 1);
    }
}

#[tokio::test]
async fn an_opening_whose_row_the_store_refuses_sends_nothing() {
    for api in Api::both().await {
        let (_, icu, _) = two_zones(&api).await;
        let eve = auditor(&api, "eve", "", false).await;
        // The store refuses exactly the rows of openings, as a store that is gone refuses all.
        let refuse = match api.backend {
            "sqlite" => vec!["CREATE TRIGGER refuse_openings BEFORE INSERT ON audit_log WHEN NEW.kind IN ('recording.replayed', 'recording.downloaded', 'evidence.exported', 'session.watched') BEGIN SELECT RAISE(ABORT, 'the store is gone'); END"],
            _ => vec![
                "CREATE FUNCTION refuse_openings() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'the store is gone'; END $$ LANGUAGE plpgsql",
                "CREATE TRIGGER refuse_openings BEFORE INSERT ON audit_log FOR EACH ROW WHEN (NEW.kind IN ('recording.replayed', 'recording.downloaded', 'evidence.exported', 'session.watched')) EXECUTE FUNCTION refuse_openings()",
            ],
        };
        for sql in refuse {
            sqlx::query(sql).execute(api.state.ctx.store.pool()).await.unwrap();
        }
        let cast = api.call(Method::GET, &format!("/sessions/{icu}/replay/1/cast"), &[("cookie", &cookie(&eve))], None).await;
        assert!(cast.status.is_server_error(), "{}: {:?}", api.backend, cast.status);
        assert!(!cast.body.to_string().contains("icu-screen"), "{}: bytes without their row: {}", api.backend, cast.body);
        let download = api.bearer(&eve, Method::GET, &format!("/api/v1/sessions/{icu}/recordings/1"), None).await;
        assert!(download.status.is_server_error() && !download.body.to_string().contains("icu-screen"), "{download:?}");
        let export = api.bearer(&eve, Method::POST, &format!("/api/v1/sessions/{icu}/evidence"), None).await;
        assert!(export.status.is_server_error(), "{export:?}");
        assert!(export.headers.get("content-type").is_none_or(|t| t != "application/gzip"), "{export:?}");
        for kind in ["recording.replayed", "recording.downloaded", "evidence.exported"] {
            assert!(api.audit_of(kind).await.is_empty(), "{kind}");
        }
    }
}
