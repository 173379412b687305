//! Who may moderate a moderated session, over the real HTTPS listener with a real websocket
//! client: an approver who approved it joins as moderator (`?moderate=1`) and pauses and
//! resumes the vendor's input, each an audit row; an auditor, and an admin who filed the
//! request, are refused the moderating stream; pausing without a moderating view open is
//! refused, and leaving empties the room and pauses input (`session.input_paused` by `system`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::Method;
use portcullis_core::approvals::RequestInput;
use portcullis_core::domain::{Criticality, DeviceName, Role, Username};
use rustls::pki_types::ServerName;
use serde_json::json;
use std::net::SocketAddr;
use std::time::Duration;
use support::client::{Api, Signed};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

struct Listener {
    addr: SocketAddr,
    connector: TlsConnector,
    _shutdown: tokio_util::sync::DropGuard,
    _dir: tempfile::TempDir,
}

async fn listen(api: &Api) -> Listener {
    let dir = tempfile::tempdir().unwrap();
    let (tls, connector) = support::tls::self_signed(dir.path());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let tls = portcullis_web::TlsCert::load(&tls).await.unwrap();
    tokio::spawn(portcullis_web::run(listener, tls, api.state.clone(), shutdown.clone()));
    Listener { addr, connector, _shutdown: shutdown.drop_guard(), _dir: dir }
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<TcpStream>>;

impl Listener {
    /// Opens the moderating stream of `session` as `who`; the HTTP status when refused.
    async fn moderate(&self, who: &Signed, session: i64) -> Result<Ws, u16> {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let tls = self.connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        let mut req = format!("wss://localhost:{}/api/v1/sessions/{session}/live?moderate=1", self.addr.port()).into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {}", who.token).parse().unwrap());
        req.headers_mut().insert("sec-websocket-protocol", "v2.asciicast".parse().unwrap());
        match tokio_tungstenite::client_async(req, tls).await {
            Ok((ws, _)) => Ok(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
            Err(e) => panic!("{e}"),
        }
    }
}

/// Polls `f` until true (bounded; nothing here measures time).
async fn until(mut f: impl FnMut() -> bool) {
    for _ in 0..300 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened");
}

#[tokio::test]
async fn only_an_approver_who_did_not_ask_moderates_and_pauses() {
    let api = Api::new("sqlite").await;
    // Life-critical: moderated by default.
    api.user("jdoe", Role::Vendor).await;
    api.user("nurse", Role::Approver).await;
    api.user("medic", Role::Approver).await;
    api.user("qa", Role::Auditor).await;
    api.user("boss", Role::Admin).await;
    api.device("vent-1", Criticality::LifeCritical).await;
    let (nurse, medic, qa, boss) = (api.login("nurse").await, api.login("medic").await, api.login("qa").await, api.login("boss").await);
    // The admin files the request for the vendor; two approvers approve.
    let (v, d) = (Username::parse("jdoe").unwrap(), DeviceName::parse("vent-1").unwrap());
    let req = api.state.ctx.approvals.create_request(RequestInput::new(&v, &d, "INC-5 alarm log", 30).peer("127.0.0.1:1").filed_by("boss")).await.unwrap().id.0;
    for who in [&nurse, &medic] {
        let a = api.bearer(who, Method::POST, &format!("/api/v1/requests/{req}/approve"), Some(json!({}))).await;
        assert_eq!(a.status, 200, "{:?}", a.body);
    }
    let store = &api.state.ctx.store;
    let user = store.require_user(&v).await.unwrap();
    let dev = store.require_device(&d).await.unwrap();
    let grant = store.current_grant(user.id, dev.id, portcullis_core::clock::now()).await.unwrap().unwrap();
    let start = portcullis_core::sessions::SessionStart { user: &user, grant: &grant, device: &dev, peer: "127.0.0.1:50000" };
    let id = api.state.ctx.sessions.start(start).await.unwrap();
    let server = listen(&api).await;
    let room = api.state.ctx.live.moderation().clone();

    // Not an approver; the one who asked for it.
    assert_eq!(server.moderate(&qa, id.0).await.err(), Some(403), "an auditor moderates");
    assert_eq!(server.moderate(&boss, id.0).await.err(), Some(403), "the admin who filed the request moderates");
    assert!(!room.get(id).present());
    // Pausing without a moderating view open.
    let early = api.bearer(&medic, Method::POST, &format!("/api/v1/sessions/{}/moderation/pause", id.0), None).await;
    assert_eq!(early.status, 403, "{:?}", early.body);

    let ws = server.moderate(&nurse, id.0).await.expect("nurse moderates");
    until(|| room.get(id).present()).await;
    let by_qa = api.bearer(&qa, Method::POST, &format!("/api/v1/sessions/{}/moderation/pause", id.0), None).await;
    assert_eq!(by_qa.status, 403, "{:?}", by_qa.body);
    let by_medic = api.bearer(&medic, Method::POST, &format!("/api/v1/sessions/{}/moderation/pause", id.0), None).await;
    assert_eq!(by_medic.status, 403, "an approver not moderating now paused: {:?}", by_medic.body);
    assert!(room.get(id).input_open());
    let paused = api.bearer(&nurse, Method::POST, &format!("/api/v1/sessions/{}/moderation/pause", id.0), None).await;
    assert_eq!((paused.status.as_u16(), paused.body["input_open"].as_bool()), (200, Some(false)), "{:?}", paused.body);
    assert!(!room.get(id).input_open());
    let resumed = api.bearer(&nurse, Method::POST, &format!("/api/v1/sessions/{}/moderation/resume", id.0), None).await;
    assert_eq!(resumed.body["input_open"], true, "{:?}", resumed.body);

    drop(ws);
    until(|| !room.get(id).present()).await;
    let subject = format!("session:{}", id.0);
    for _ in 0..300 {
        if !api.audit_of("session.moderator_left").await.is_empty() && api.audit_of("session.input_paused").await.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let joined = api.audit_of("session.moderator_joined").await;
    assert_eq!(joined.len(), 1, "{joined:?}");
    assert_eq!((joined[0].actor.as_str(), joined[0].subject.as_str()), ("nurse", subject.as_str()));
    let paused: Vec<String> = api.audit_of("session.input_paused").await.into_iter().map(|r| r.actor).collect();
    assert_eq!(paused, ["nurse", "system"], "paused by the moderator, then by the last leave");
    assert_eq!(api.audit_of("session.input_resumed").await.len(), 1);
    assert_eq!(api.audit_of("session.moderator_left").await.len(), 1);
}
