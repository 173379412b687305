//! The live view's websocket over the real HTTPS listener, with a real websocket client:
//! what the live hub publishes (as the broker does for a terminal) reaches an authorised
//! viewer — the recent screen first, then every event — and the hostile cases end the stream
//! with the fitting close code: the viewer's sign-in ends (1008), a viewer that stops reading
//! falls behind (1013, never buffered for), a viewer sends an oversized message, the session
//! ends (1000), the device is tagged phi for a viewer without the permission (1008). Each
//! watch is audited before the first frame. Whatever a viewer sends never reaches the session.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::Method;
use futures_util::{SinkExt, StreamExt};
use portcullis_core::clock;
use portcullis_core::domain::SessionId;
use portcullis_core::live::{FrameKind, LiveTap};
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use std::time::Duration;
use support::client::{Api, Signed};
use support::sessions::{approver_and_auditor, end, session};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

/// Guards against a hung test only; nothing here measures time.
const PATIENCE: Duration = Duration::from_secs(30);

struct Listener {
    addr: SocketAddr,
    connector: TlsConnector,
    _shutdown: tokio_util::sync::DropGuard,
    _dir: tempfile::TempDir,
}

/// `portcullis_web::run` on a loopback port over `api`'s state, and a client trusting it.
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

type Ws = WebSocketStream<TlsStream<TcpStream>>;

impl Listener {
    /// Opens the live stream of `session` as `who` (bearer token).
    async fn watch(&self, who: &Signed, session: i64) -> Ws {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let tls = self.connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await.unwrap();
        let mut req = format!("wss://localhost:{}/api/v1/sessions/{session}/live", self.addr.port()).into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {}", who.token).parse().unwrap());
        req.headers_mut().insert("sec-websocket-protocol", "v2.asciicast".parse().unwrap());
        let (ws, resp) = tokio_tungstenite::client_async(req, tls).await.unwrap();
        assert_eq!(resp.headers()["sec-websocket-protocol"], "v2.asciicast");
        ws
    }
}

/// The next text message.
async fn text(ws: &mut Ws) -> String {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("no message") {
            Some(Ok(Message::Text(t))) => return t.to_string(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected text, got {other:?}"),
        }
    }
}

/// Reads until the server closes; returns its close code and reason (None if it just hung up).
async fn closed(ws: &mut Ws) -> Option<(CloseCode, String)> {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("the stream was not closed") {
            Some(Ok(Message::Close(frame))) => return frame.map(|f| (f.code, f.reason.to_string())),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return None,
        }
    }
}

/// A running session approved by nurse, its terminal published in the live hub, auditor qa
/// signed in, and the real listener.
struct Scene {
    api: Api,
    server: Listener,
    id: i64,
    qa: Signed,
    tap: LiveTap,
}

async fn scene(cols: u16, rows: u16) -> Scene {
    let api = Api::new("sqlite").await;
    let (nurse, qa) = approver_and_auditor(&api).await;
    let id = session(&api, "jdoe", "pump-1", "INC-1", &nurse, "x").await;
    let server = listen(&api).await;
    let tap = api.state.ctx.live.start(SessionId(id), 1, cols, rows, clock::now());
    Scene { api, server, id, qa, tap }
}

impl Scene {
    /// qa watching, past the header.
    async fn watching(&self) -> Ws {
        let mut ws = self.server.watch(&self.qa, self.id).await;
        text(&mut ws).await;
        ws
    }
}

#[tokio::test]
async fn a_viewer_gets_the_screen_then_each_event_and_is_cut_off_when_signed_out() {
    let Scene { api, server, id, qa, tap } = scene(100, 30).await;
    tap.output(b"before-you-came ");

    let mut ws = server.watch(&qa, id).await;
    let header: serde_json::Value = serde_json::from_str(&text(&mut ws).await).unwrap();
    assert_eq!((header["version"].as_u64(), header["width"].as_u64(), header["height"].as_u64()), (Some(2), Some(100), Some(30)));
    assert!(text(&mut ws).await.contains("before-you-came"));
    // What the viewer sends goes nowhere: the stream carries on, and the session sees nothing.
    let mut frames = api.state.ctx.live.watch(SessionId(id)).frames;
    ws.send(Message::text("rm -rf /\r")).await.unwrap();
    tap.output(b"after ");
    tap.input(b"typed-by-vendor");
    let after: serde_json::Value = serde_json::from_str(&text(&mut ws).await).unwrap();
    assert_eq!((after[1].as_str(), after[2].as_str()), (Some("o"), Some("after ")));
    let typed: serde_json::Value = serde_json::from_str(&text(&mut ws).await).unwrap();
    assert_eq!((typed[1].as_str(), typed[2].as_str()), (Some("i"), Some("typed-by-vendor")));
    for _ in 0..2 {
        match frames.try_recv().map(|f| f.kind) {
            Ok(FrameKind::Event(l)) => assert!(!l.contains("rm -rf"), "{l}"),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(api.audit_of("session.watched").await.iter().any(|r| r.actor == "qa"));

    // Signing out ends the stream at the next check.
    let out = api.bearer(&qa, Method::POST, "/api/v1/auth/logout", None).await;
    assert!(out.status.is_success(), "{:?}", out);
    let (code, reason) = closed(&mut ws).await.expect("a close frame");
    assert_eq!(code, CloseCode::Policy, "{reason}");
    assert!(reason.contains("sign-in"), "{reason}");
}

#[tokio::test]
async fn a_viewer_that_stops_reading_is_disconnected_not_buffered_for() {
    let scene = scene(80, 24).await;
    let (api, id, tap) = (&scene.api, scene.id, &scene.tap);
    let mut ws = scene.watching().await;
    // 64 MiB of output while the viewer reads nothing: far more than the socket buffers hold.
    let chunk = vec![b'x'; 32 * 1024];
    for _ in 0..2048 {
        tap.output(&chunk);
        tokio::task::yield_now().await;
    }
    let mut code = None;
    while code.is_none() {
        match tokio::time::timeout(PATIENCE, ws.next()).await.expect("the slow viewer was not cut off") {
            Some(Ok(Message::Close(frame))) => code = Some(frame.map(|f| f.code)),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
            None => panic!("hung up without a close frame"),
        }
    }
    assert_eq!(code, Some(Some(CloseCode::Again)));
    // The session's publishing never waited for the viewer, and its backlog stays bounded.
    let kept: usize = api.state.ctx.live.watch(SessionId(id)).open[0].2.iter().map(|l| l.len()).sum();
    assert!(kept <= portcullis_core::live::BACKLOG_BYTES, "{kept}");
}

#[tokio::test]
async fn an_oversized_message_from_a_viewer_ends_its_stream_and_nothing_else() {
    let scene = scene(80, 24).await;
    let mut rude = scene.watching().await;
    let mut calm = scene.watching().await;
    rude.send(Message::text("A".repeat(64 * 1024))).await.unwrap();
    let ended = closed(&mut rude).await;
    assert!(ended.as_ref().is_none_or(|(code, _)| *code != CloseCode::Normal), "{ended:?}");
    scene.tap.output(b"still-here");
    assert!(text(&mut calm).await.contains("still-here"));
}

#[tokio::test]
async fn the_stream_closes_normally_when_the_session_ends() {
    let scene = scene(80, 24).await;
    let (api, id) = (&scene.api, scene.id);
    let mut ws = scene.watching().await;
    scene.tap.end();
    end(api, id).await;
    let (code, reason) = closed(&mut ws).await.expect("a close frame");
    assert_eq!((code, reason.as_str()), (CloseCode::Normal, "session ended"));
    drop(ws);
    // The hub forgets the session once nobody watches and nothing is open.
    tokio::time::timeout(PATIENCE, async {
        while api.state.ctx.live.feed_count() > 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the hub kept the ended session's feed");
}

#[tokio::test]
async fn a_watch_is_audited_before_the_first_frame_and_ends_when_the_device_is_tagged_phi() {
    use portcullis_core::admin::devices::DeviceEdit;
    use portcullis_core::domain::DeviceName;
    let Scene { api, server, id, qa, tap } = scene(80, 24).await;
    tap.output(b"on-screen ");
    let mut ws = server.watch(&qa, id).await;
    text(&mut ws).await;
    let rows = api.audit_of("session.watched").await;
    assert_eq!(rows.len(), 1);
    let d: serde_json::Value = serde_json::from_str(&rows[0].detail).unwrap();
    assert!(d["via"].as_str().unwrap().starts_with("web 127.0.0.1:") && d["device"] == "pump-1", "{d}");
    // Tagged phi while qa (without the permission) watches: the stream ends at the next check.
    let pump = DeviceName::parse("pump-1").unwrap();
    api.state.admin.edit_device("test", &pump, DeviceEdit { phi: Some(true), ..DeviceEdit::default() }).await.unwrap();
    let (code, reason) = closed(&mut ws).await.expect("a close frame");
    assert_eq!(code, CloseCode::Policy, "{reason}");
    assert!(reason.contains("no longer watch"), "{reason}");
    // And a new watch is refused before the upgrade, on the record.
    let again = api.bearer(&qa, Method::GET, &format!("/api/v1/sessions/{id}/live"), None).await;
    assert_eq!(again.status, 403, "{:?}", again.body);
    let refused = api.audit_of("recording.access_refused").await;
    assert_eq!(refused.len(), 1);
    assert!(refused[0].detail.contains("\"what\":\"live\""), "{}", refused[0].detail);
    assert_eq!(api.audit_of("session.watched").await.len(), 1);
}
