//! Sessions made as the broker makes them — store rows, a terminal recording on disk and its
//! `recording.sealed` audit row — for the tests of the session pages, the API and the live view.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use portcullis_core::approvals::RequestInput;
use super::client::{Api, Signed};
use axum::http::Method;
use portcullis_core::sessions::{RecordingSeal, SessionStart};
use portcullis_core::clock;
use portcullis_core::domain::{Criticality, Role, SessionId, Username};
use serde_json::json;

/// A session of `vendor` on `device`, approved by `approver`, with one terminal recording
/// holding `text`; returns the session number.
pub async fn session(api: &Api, vendor: &str, device: &str, reason: &str, approver: &Signed, text: &str) -> i64 {
    let v = Username::parse(vendor).unwrap();
    let d = portcullis_core::domain::DeviceName::parse(device).unwrap();
    let req = api.state.ctx.approvals.create_request(RequestInput::new(&v, &d, reason, 30).peer("127.0.0.1:1")).await.unwrap().id.0;
    let a = api.bearer(approver, Method::POST, &format!("/api/v1/requests/{req}/approve"), Some(json!({}))).await;
    assert_eq!(a.status, 200, "{:?}", a.body);
    let store = &api.state.ctx.store;
    let user = store.require_user(&v).await.unwrap();
    let dev = store.require_device(&d).await.unwrap();
    let grant = store.current_grant(user.id, dev.id, clock::now()).await.unwrap().unwrap();
    let start = SessionStart { user: &user, grant: &grant, device: &dev, peer: "127.0.0.1:50000" };
    let id = api.state.ctx.sessions.start(start).await.unwrap();
    let dir = api.state.ctx.config.recording.dir.join(id.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("1.cast");
    let cast = format!(
        "{}\n{}\n{}\n",
        json!({"version": 2, "width": 80, "height": 24, "timestamp": clock::now()}),
        json!([0.5, "o", format!("{text}\r\n")]),
        json!([1.0, "m", "end: the vendor closed the channel"])
    );
    std::fs::write(&path, &cast).unwrap();
    let rec = store.insert_recording(id, 1, "asciicast", &path.display().to_string(), clock::now()).await.unwrap();
    let sha = portcullis_core::evidence::sha256_hex(cast.as_bytes());
    let seal = RecordingSeal {
        session: id,
        recording_id: rec,
        channel: 1,
        what: "terminal",
        path: path.display().to_string(),
        sha256: sha,
        bytes: cast.len() as u64,
        events: 2,
    };
    api.state.ctx.sessions.seal_recording(vendor, &seal).await.unwrap();
    id.0
}

/// Vendor `jdoe`, device `pump-1`, approver `nurse` and auditor `qa`, both signed in.
pub async fn approver_and_auditor(api: &Api) -> (Signed, Signed) {
    api.user("jdoe", Role::Vendor).await;
    api.user("nurse", Role::Approver).await;
    api.user("qa", Role::Auditor).await;
    api.device("pump-1", Criticality::High).await;
    (api.login("nurse").await, api.login("qa").await)
}

pub async fn end(api: &Api, id: i64) {
    api.state.ctx.sessions.end("jdoe", SessionId(id), "vendor closed").await.unwrap();
}

