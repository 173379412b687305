//! The live view's websocket: `GET /api/v1/sessions/{id}/live` (subprotocol `v2.asciicast`)
//! streams a running session's terminal as asciicast v2 lines — the header, the recent
//! screen, then every event as the broker records it. Only users who may see the session ([`super::access`]) get it, a
//! cookie-authenticated upgrade must come from this site ([`crate::auth::Watcher`]), and
//! each watch is an audit row (`session.watched`). Viewers cannot send anything to the
//! session: their messages are ignored. The sign-in and the session are checked again every
//! [`RECHECK`]: signing out, being disabled or the session ending closes the stream.
//!
//! A terminal held by this process comes from the live hub as the broker records it. A
//! terminal held by another node (several nodes share the database and the recording store)
//! is served through a hop to that node ([`super::live_hop`]), which holds its frames in
//! memory, and only so: its recording may be in a folder this node does not share. Only a
//! session of a node with no lease row (started by an older version) is followed in its
//! recording as that node writes it ([`super::live_tail`]), about a second behind.

use super::access;
use super::moderation;
use axum::extract::Query;
use portcullis_core::approvals::Approvals;
use super::error::{ApiError, ErrorBody};
use super::live_hop::Hop;
use super::live_tail::Tail;
use crate::auth::token::TokenKeys;
use super::ApiPath;
use crate::auth::{Authed, Watcher};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use portcullis_core::audit::AuditLog;
use portcullis_core::viewing::{self, Access};
use portcullis_core::domain::{SessionId, SessionState};
use portcullis_core::live::{Frame, FrameKind, LiveHub, Watch};
use portcullis_core::store::Store;
use portcullis_core::webauth::WebAuth;
use portcullis_core::Config;
use std::sync::Arc;
use serde_json::json;
use std::time::{Duration, Instant};
use tokio::sync::broadcast::error::RecvError;
use tracing::debug;

/// The websocket subprotocol spoken: asciicast v2 lines, which asciinema-player reads.
pub const PROTOCOL: &str = "v2.asciicast";

/// How often the sign-in and the session are checked again while watching.
pub const RECHECK: Duration = Duration::from_secs(5);

/// How often a terminal held by another node is looked for and its recording read.
pub const TAIL_POLL: Duration = Duration::from_millis(250);

/// How often a hop to the node running the session is tried while none is open.
pub const HOP_RETRY: Duration = Duration::from_secs(1);

/// Largest message accepted from a viewer (they have nothing to say).
const MAX_INBOUND: usize = 1024;

/// Close codes (RFC 6455).
const NORMAL: u16 = 1000;
const POLICY: u16 = 1008;
const TRY_AGAIN: u16 = 1013;

/// Watch a running session's terminal (websocket).
#[utoipa::path(get, operation_id = "watch_session", path = "/api/v1/sessions/{id}/live", tag = "sessions",
    params(("id" = i64, Path, description = "session number")),
    responses((status = 101, description = "switching to the websocket stream"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
#[allow(clippy::too_many_arguments)]
pub async fn watch(
    State(store): State<Store>,
    State(audit): State<AuditLog>,
    State(webauth): State<WebAuth>,
    State(approvals): State<Approvals>,
    State(Views { live, keys, config }): State<Views>,
    Watcher(a): Watcher,
    ApiPath(id): ApiPath<i64>,
    Query(q): Query<LiveQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let s = access::opening(&store, &audit, &a, id, Access::Live, json!({})).await?;
    if s.state == SessionState::Ended {
        return Err(ApiError::new(StatusCode::CONFLICT, "conflict", format!("session {id} has ended; replay its recordings instead")));
    }
    let moderate = q.moderate.as_deref() == Some("1");
    if moderate {
        moderation::check(&store, &approvals, &config, &a, &s).await?;
    }
    let ws = ws.map_err(|_| ApiError::bad_request("this address is a websocket; open it with a websocket client"))?;
    // The row is committed before the upgrade: no frame without it.
    access::record_opening(&audit, &a, &s, Access::Live, json!({ "moderate": moderate })).await?;
    let grace = config.session.moderator_grace.0;
    Ok(ws.protocols([PROTOCOL]).max_message_size(MAX_INBOUND).on_upgrade(move |socket| async move {
        let sid = SessionId(id);
        // A moderator's view: joined (its row first) for as long as the stream runs.
        let presence = if moderate {
            match moderation::join(&audit, &a, live.moderation(), sid).await {
                Some(p) => Some(p),
                None => return,
            }
        } else {
            None
        };
        let (who, rows) = (a.clone(), store.clone());
        stream(Sources { store, webauth, live, keys, config }, a, sid, socket).await;
        if let Some(p) = presence {
            // A session that ended is not paused by its moderators' views closing after it.
            let running = matches!(rows.session(sid).await, Ok(Some(s)) if s.state != SessionState::Ended);
            moderation::left(&audit, &who, sid, p.leave(), grace, running).await;
        }
    }))
}

/// The live view's query: `moderate=1` joins as moderator of a moderated session.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LiveQuery {
    pub moderate: Option<String>,
}

/// Where terminals come from: this process's hub, and the hop to other nodes (the token key
/// and this node's configuration).
#[derive(Clone)]
pub struct Views {
    pub live: LiveHub,
    pub keys: Arc<TokenKeys>,
    pub config: Arc<Config>,
}

impl axum::extract::FromRef<crate::AppState> for Views {
    fn from_ref(s: &crate::AppState) -> Views {
        Views { live: s.ctx.live.clone(), keys: s.keys.clone(), config: s.ctx.config.clone() }
    }
}

/// What a viewer's stream reads: the sign-in and session rows (checked again every
/// [`RECHECK`]), the recordings of other nodes, and this process's terminals.
struct Sources {
    store: Store,
    webauth: WebAuth,
    live: LiveHub,
    /// Sign hop tokens.
    keys: Arc<TokenKeys>,
    /// This node's id and the certificate hops are pinned to.
    config: Arc<Config>,
}

/// The stream as one viewer sees it: one terminal from the first message to the last, on
/// this viewer's clock. The first message is always a header (the player waits for one);
/// a later terminal of the same session is announced as a resize and a screen clear, since
/// the player takes only one header per stream.
struct View {
    socket: WebSocket,
    start: Instant,
}

impl View {
    async fn send(&mut self, line: &str) -> bool {
        self.socket.send(Message::Text(Utf8Bytes::from(line))).await.is_ok()
    }

    /// An event line with its time replaced by this viewer's (the broker's times count from
    /// each terminal's start, so they would go backwards at a change of terminal).
    async fn event(&mut self, line: &str) -> bool {
        let Some(comma) = line.find(',') else { return true };
        let at = self.start.elapsed().as_secs_f64();
        self.send(&format!("[{at:.6}{}", &line[comma..])).await
    }

    /// Several event lines, in order.
    async fn events(&mut self, lines: &[impl AsRef<str>]) -> bool {
        for line in lines {
            if !self.event(line.as_ref()).await {
                return false;
            }
        }
        true
    }

    /// Switches the viewer to a terminal described by `header`.
    async fn switch(&mut self, header: &str) -> bool {
        let v: serde_json::Value = serde_json::from_str(header).unwrap_or_default();
        let size = format!("{}x{}", v["width"].as_u64().unwrap_or(80), v["height"].as_u64().unwrap_or(24));
        let at = self.start.elapsed().as_secs_f64();
        self.send(&json!([at, "r", size]).to_string()).await && self.send(&json!([at, "o", "\u{1b}c"]).to_string()).await
    }

    async fn close(mut self, code: u16, reason: &str) {
        let _ = self.socket.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from(reason) }))).await;
    }
}

/// Why the stream should stop, if it should.
async fn still_allowed(state: &Sources, a: &Authed, id: SessionId) -> Option<(u16, &'static str)> {
    let user = match state.webauth.session(&a.session.id).await {
        Ok(Some(w)) => w.user,
        Ok(None) => return Some((POLICY, "your sign-in has ended")),
        Err(_) => return Some((TRY_AGAIN, "the service is unavailable")),
    };
    match state.store.session(id).await {
        Ok(Some(s)) if s.state == SessionState::Ended => Some((NORMAL, "session ended")),
        // Zones or the phi permission taken away, or the device tagged phi, while watching.
        Ok(Some(s)) if viewing::check(&user, &s.zone, s.phi, Access::Live).is_err() => Some((POLICY, "you may no longer watch this session")),
        Ok(Some(_)) => None,
        Ok(None) => Some((NORMAL, "session ended")),
        Err(_) => Some((TRY_AGAIN, "the service is unavailable")),
    }
}

/// What a viewer is shown now.
enum Following {
    /// No terminal is open (yet): the screen stays as it is.
    Nothing,
    /// A terminal held by this process, from the live hub.
    Here(u32),
    /// A terminal held by another node, from its recording as it is written.
    Elsewhere(i64, Tail),
    /// A terminal held by another node, through a hop to it; `started` once its header came.
    Hopped { started: bool },
}

/// A terminal recording of `id` being written by another node, if there is one.
async fn recorded_elsewhere(state: &Sources, id: SessionId) -> Option<(i64, String)> {
    let recs = state.store.recordings_of(id).await.ok()?;
    recs.into_iter()
        .rev()
        .filter(|r| r.kind == "asciicast" && r.sealed_at.is_none())
        .find(|r| u32::try_from(r.channel).is_ok_and(|n| !state.live.publishes(id, n)))
        .map(|r| (r.channel, r.path))
}

/// Whether recording `channel` of `id` is sealed (finished).
async fn sealed(state: &Sources, id: SessionId, channel: i64) -> bool {
    match state.store.recordings_of(id).await {
        Ok(recs) => recs.iter().any(|r| r.channel == channel && r.sealed_at.is_some()),
        Err(_) => false,
    }
}

/// What the viewer's loop does next.
enum Step {
    Go,
    /// Stop, closing with this code and reason (or just hanging up when `None`).
    Stop(Option<(u16, &'static str)>),
}

/// Shows a frame from the hub to the viewer if it belongs to what the viewer follows.
async fn on_frame(view: &mut View, following: &mut Following, frame: Result<Frame, RecvError>, id: SessionId) -> Step {
    let Frame { channel, kind } = match frame {
        Ok(f) => f,
        Err(RecvError::Lagged(n)) => {
            debug!(session = %id, skipped = n, "live viewer fell behind");
            return Step::Stop(Some((TRY_AGAIN, "the view fell behind; reload to catch up")));
        }
        Err(RecvError::Closed) => return Step::Stop(Some((NORMAL, "session ended"))),
    };
    let ok = match (kind, &*following) {
        (FrameKind::Header(h), Following::Nothing) => {
            *following = Following::Here(channel);
            view.switch(&h).await
        }
        (FrameKind::Event(l), Following::Here(n)) if *n == channel => view.event(&l).await,
        (FrameKind::End, Following::Here(n)) if *n == channel => {
            *following = Following::Nothing;
            true
        }
        _ => true,
    };
    if ok {
        Step::Go
    } else {
        Step::Stop(None)
    }
}

/// Looks for a terminal held by another node, or reads what its recording gained.
async fn on_poll(state: &Sources, view: &mut View, following: &mut Following, id: SessionId) -> Step {
    let ok = match following {
        Following::Here(_) | Following::Hopped { .. } => true,
        Following::Nothing => match recorded_elsewhere(state, id).await {
            None => true,
            Some((n, path)) => match Tail::open(&path).await {
                Ok((header, backlog, tail)) => {
                    *following = Following::Elsewhere(n, tail);
                    view.switch(&header).await && view.events(&backlog).await
                }
                Err(e) => {
                    debug!(session = %id, error = %e, "cannot follow the recording yet");
                    true
                }
            },
        },
        Following::Elsewhere(n, tail) => {
            // Checked before reading, so the lines read after it are the last ones.
            let done = sealed(state, id, *n).await;
            match tail.lines().await {
                Ok(lines) => {
                    if done {
                        *following = Following::Nothing;
                    }
                    view.events(&lines).await
                }
                Err(e) => {
                    debug!(session = %id, error = %e, "stopped following the recording");
                    *following = Following::Nothing;
                    true
                }
            }
        }
    };
    if ok {
        Step::Go
    } else {
        Step::Stop(None)
    }
}

/// Sends the first message: the newest open terminal here with its recent screen, or an
/// empty screen of the usual size until one shows up (the vendor is at the prompt, only
/// tunnels are open, or another node holds the session).
async fn open(view: &mut View, watch: &mut Watch) -> (bool, Following) {
    match watch.open.pop() {
        Some((n, header, backlog)) => (view.send(&header).await && view.events(&backlog).await, Following::Here(n)),
        None => (view.send(&json!({ "version": 2, "width": 80, "height": 24 }).to_string()).await, Following::Nothing),
    }
}

/// What trying a hop found.
enum HopTry {
    /// No other node with a lease runs the session: its recording may be followed instead.
    NotElsewhere,
    /// Another node runs it but did not answer (yet): tried again later, never followed in
    /// a recording folder it may not share.
    Failed,
    Open(Hop),
}

/// A hop to the node running `id`, when another node with a lease runs it.
async fn start_hop(state: &Sources, a: &Authed, id: SessionId) -> HopTry {
    let lease = match state.store.lease_of_session(id).await {
        Ok(Some(l)) if l.node != state.config.node.id && !l.lost => l,
        Ok(_) => return HopTry::NotElsewhere,
        Err(_) => return HopTry::Failed,
    };
    match Hop::open(&state.keys, &state.config.web.tls_cert, &lease.web_url, lease.node.as_str(), id, a.name().as_str()).await {
        Ok(h) => HopTry::Open(h),
        Err(e) => {
            debug!(session = %id, node = %lease.node, error = %e, "cannot reach the node running the session yet");
            HopTry::Failed
        }
    }
}

/// The next lines of the hop, if one is open (never returns otherwise).
async fn hop_lines(hop: &mut Option<Hop>) -> Option<Vec<String>> {
    match hop {
        Some(h) => h.lines().await,
        None => std::future::pending().await,
    }
}

/// Shows lines that came through the hop: the first is the terminal's header.
async fn on_hop(view: &mut View, following: &mut Following, lines: Vec<String>) -> Step {
    let mut ok = true;
    for line in lines {
        ok = match following {
            Following::Hopped { started: false } => {
                *following = Following::Hopped { started: true };
                view.switch(&line).await
            }
            _ => view.event(&line).await,
        };
        if !ok {
            break;
        }
    }
    if ok {
        Step::Go
    } else {
        Step::Stop(None)
    }
}

async fn stream(state: Sources, a: Authed, id: SessionId, socket: WebSocket) {
    let hub = state.live.clone();
    let mut watch = hub.watch(id);
    let mut view = View { socket, start: Instant::now() };
    // Follow one terminal; when it closes, the next one that opens.
    let (opened, mut following) = open(&mut view, &mut watch).await;
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    let mut poll = tokio::time::interval(TAIL_POLL);
    let mut step = if opened { Step::Go } else { Step::Stop(None) };
    let (mut hop, mut hop_tried): (Option<Hop>, Option<Instant>) = (None, None);
    // Whether another node with a lease runs the session, as last seen.
    let mut elsewhere = false;
    while let Step::Go = step {
        step = tokio::select! {
            frame = watch.frames.recv() => on_frame(&mut view, &mut following, frame, id).await,
            lines = hop_lines(&mut hop) => match lines {
                Some(lines) => on_hop(&mut view, &mut following, lines).await,
                None => {
                    hop = None;
                    following = Following::Nothing;
                    Step::Go
                }
            },
            _ = poll.tick() => {
                if matches!(following, Following::Nothing) && hop_tried.is_none_or(|t| t.elapsed() >= HOP_RETRY) {
                    hop_tried = Some(Instant::now());
                    elsewhere = true;
                    match start_hop(&state, &a, id).await {
                        HopTry::Open(h) => {
                            hop = Some(h);
                            following = Following::Hopped { started: false };
                        }
                        HopTry::Failed => {}
                        HopTry::NotElsewhere => elsewhere = false,
                    }
                }
                if elsewhere && matches!(following, Following::Nothing) {
                    Step::Go
                } else {
                    on_poll(&state, &mut view, &mut following, id).await
                }
            }
            msg = view.socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => Step::Stop(None),
                Some(Ok(_)) => Step::Go,
            },
            _ = recheck.tick() => match still_allowed(&state, &a, id).await {
                Some(why) => Step::Stop(Some(why)),
                None => Step::Go,
            },
        };
    }
    if let Step::Stop(Some((code, reason))) = step {
        view.close(code, reason).await;
    }
    drop(watch);
    hub.release(id);
}
