//! Replaying a terminal recording in the browser with asciinema-player (served from the
//! binary, so it works without the internet): speed and idle-time limit to choose, seeking,
//! the recording's markers (the warnings the vendor was shown, the end) as a list to jump
//! to, a download of the `.cast` file, and above it all whether the file still has the
//! SHA-256 sealed in the audit log. The player fetches the bytes from [`cast`], which writes
//! the `recording.replayed` row first. The live view of a running session is here too: the
//! same player fed by the session's websocket.

use super::error::PageError;
use super::layout::{self, Frame, Notice, Tab};
use super::session::integrity;
use super::visitor::decides;
use crate::api::access;
use crate::api::live::LiveQuery;
use crate::api::moderation::{self, Moderating};
use axum::extract::Query;
use crate::api::recordings::{checked_one, deliver, RecordingView};
use crate::api::views::SessionView;
use portcullis_core::audit::AuditLog;
use portcullis_core::viewing::Access;
use serde_json::json;
use crate::auth::PageUser;
use crate::layers::PLAYER_CSP;
use axum::extract::{Path, State};
use axum::http::header::CONTENT_SECURITY_POLICY;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use portcullis_core::recstore::RecStore;
use portcullis_core::store::{RecordingRecord, Store};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

/// Most markers listed under the player.
const MAX_MARKERS: usize = 500;

/// Longest line read while looking for markers; longer lines (big output bursts) are skipped.
const MAX_LINE: usize = 1024 * 1024;

/// What the page needs from the file: its size and markers.
#[derive(Default)]
struct CastFacts {
    cols: u16,
    rows: u16,
    /// `(seconds, label)`.
    markers: Vec<(f64, String)>,
}

/// Reads the header and the `"m"` events, a line at a time (a recording may be large).
async fn facts(recs: &RecStore, rec: &RecordingRecord) -> CastFacts {
    let mut out = CastFacts { cols: 80, rows: 24, markers: Vec::new() };
    let Ok(opened) = recs.open(rec).await else { return out };
    let mut lines = tokio::io::BufReader::new(opened.reader);
    let mut line = Vec::new();
    let mut first = true;
    loop {
        line.clear();
        match (&mut lines).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.len() > MAX_LINE {
            // Skip the rest of an over-long line.
            let mut sink = Vec::new();
            if lines.read_until(b'\n', &mut sink).await.is_err() {
                break;
            }
            continue;
        }
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&line) else { continue };
        if first {
            first = false;
            out.cols = v["width"].as_u64().and_then(|w| u16::try_from(w).ok()).unwrap_or(80);
            out.rows = v["height"].as_u64().and_then(|h| u16::try_from(h).ok()).unwrap_or(24);
            continue;
        }
        if v[1] == "m" && out.markers.len() < MAX_MARKERS {
            if let (Some(t), Some(label)) = (v[0].as_f64(), v[2].as_str()) {
                out.markers.push((t, label.to_owned()));
            }
        }
    }
    out
}

fn at(t: f64) -> String {
    let s = t.max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

fn verdict(r: &RecordingView) -> Markup {
    html! {
        @match r.status.as_str() {
            "intact" => {
                p.verified.integrity data-integrity="intact" role="status" {
                    "Verified: the file's SHA-256 matches the value sealed in audit row "
                    (r.sealed_in_row.unwrap_or_default()) "."
                }
            }
            "mismatch" | "missing" => {
                p.error.integrity data-integrity=(r.status) role="alert" {
                    strong { "ALTERED: " }
                    "this file does not match the SHA-256 sealed in the audit log"
                    @if let Some(row) = r.sealed_in_row { " (row " (row) ")" }
                    ". What plays below is not what was recorded. "
                    @if let Some(p) = &r.problem { span.hint { (p) } }
                }
            }
            _ => { p.hint.integrity data-integrity=(r.status) { (integrity(r)) } }
        }
    }
}

/// `GET /sessions/{id}/replay/{channel}/cast`: the bytes the page's player plays. Each fetch
/// is one `recording.replayed` row, written before the first byte (the page itself shows
/// only the file's markers and integrity, not its screens, and writes no row).
pub async fn cast(State(store): State<Store>, State(recs): State<RecStore>, State(audit): State<AuditLog>, Path((id, channel)): Path<(String, String)>, PageUser(user): PageUser) -> Result<Response, PageError> {
    let missing = || PageError::not_found(format!("session {id:?} has no recording {channel:?}"));
    let (id, n) = (id.parse::<i64>().map_err(|_| missing())?, channel.parse::<i64>().map_err(|_| missing())?);
    Ok(deliver(&store, &recs, &audit, &user, id, n, Access::Replay).await?)
}

/// `GET /sessions/{id}/replay/{channel}`.
pub async fn show(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(recs): State<RecStore>,
    State(audit): State<AuditLog>,
    Path((id, channel)): Path<(String, String)>,
    PageUser(user): PageUser,
) -> Result<Response, PageError> {
    let sid = id.parse::<i64>().map_err(|_| PageError::not_found(format!("no session {id:?}")))?;
    // A device tagged phi without the permission is refused (and audited) here already.
    let s = SessionView::from(&access::opening(&store, &audit, &user, sid, Access::Replay, json!({ "channel": channel })).await?);
    let missing = || PageError::not_found(format!("session {} has no recording {channel:?}", s.id));
    let n = channel.parse::<i64>().map_err(|_| missing())?;
    let r = checked_one(&store, &recs, s.id, n).await?;
    if !r.is_cast() {
        return Err(PageError::not_found(format!("recording {n} of session {} is a capture (pcap); download it and open it in Wireshark", s.id)));
    }
    let path = r.path.clone();
    let rec = store.recordings_of(portcullis_core::domain::SessionId(s.id)).await.ok().and_then(|all| all.into_iter().find(|x| x.channel == n));
    let f = match (&path, &rec) {
        (Some(_), Some(rec)) => facts(&recs, rec).await,
        _ => CastFacts::default(),
    };
    let body = html! {
        h1 { "Replay: session " (s.id) " on " (s.device) ", channel " (n) }
        p.lead { (s.vendor) @if !s.vendor_org.is_empty() { " (" (s.vendor_org) ")" } " · started " (super::format::utc(&s.started_at)) " · " a href={ "/sessions/" (s.id) } { "session record" } }
        (verdict(&r))
        @if path.is_none() {
            p.error { "The file was deleted by the retention policy; only its sealed hash remains." }
        } @else {
            div #player .player data-cast={ "/sessions/" (s.id) "/replay/" (n) "/cast" } data-idle="2" data-speed="1" data-cols=(f.cols) data-rows=(f.rows) {
                p.player-fallback { "The player needs JavaScript. " a href=(r.url) download=(r.file_name(s.id)) { "Download the recording" } " and play it with " code { "asciinema play" } "." }
            }
            div.player-controls {
                label { "Speed "
                    select #player-speed {
                        option value="0.5" { "0.5×" } option value="1" selected { "1×" } option value="2" { "2×" } option value="4" { "4×" } option value="8" { "8×" }
                    }
                }
                label { "Idle limit "
                    select #player-idle {
                        option value="0" { "none" } option value="1" { "1 s" } option value="2" selected { "2 s" } option value="5" { "5 s" }
                    }
                }
                a.button href=(r.url) download=(r.file_name(s.id)) { "Download .cast" }
            }
            h2 { "Markers" }
            @if f.markers.is_empty() {
                p.empty { "No markers in this recording." }
            } @else {
                ol #player-markers {
                    @for (t, label) in &f.markers {
                        li { button.marker type="button" data-time=(format!("{t:.3}")) { span.time { (at(*t)) } " " (label) } }
                    }
                }
            }
        }
    };
    let head = layout::assets(&["player/asciinema-player.css"], &["player/asciinema-player.min.js", "replay.js"]);
    let title = format!("Replay session {}", s.id);
    let page = layout::page_with(&frame, &user, Tab::Sessions, &title, Notice::default(), head, body).await;
    Ok(([(CONTENT_SECURITY_POLICY, PLAYER_CSP)], page).into_response())
}

/// `GET /sessions/{id}/live` (`?moderate=1`: as moderator of a moderated session).
pub async fn live(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(audit): State<AuditLog>,
    State(m): State<Moderating>,
    Path(id): Path<String>,
    Query(q): Query<LiveQuery>,
    PageUser(user): PageUser,
) -> Result<Response, PageError> {
    let sid = id.parse::<i64>().map_err(|_| PageError::not_found(format!("no session {id:?}")))?;
    let rec = access::opening(&store, &audit, &user, sid, Access::Live, json!({})).await?;
    let moderated = moderation::moderated(&m.approvals, &rec);
    let may_moderate = if moderated { moderation::check(&store, &m.approvals, &m.config, &user, &rec).await.map_err(|e| e.message) } else { Err(String::new()) };
    let moderating = q.moderate.as_deref() == Some("1") && may_moderate.is_ok();
    let room = m.live.moderation().get(rec.id);
    let s = SessionView::from(&rec);
    let ws = if moderating { format!("/api/v1/sessions/{}/live?moderate=1", s.id) } else { format!("/api/v1/sessions/{}/live", s.id) };
    let body = html! {
        h1 { "Live: session " (s.id) " on " (s.device) }
        p.lead { (s.vendor) @if !s.vendor_org.is_empty() { " (" (s.vendor_org) ")" } " · started " (super::format::utc(&s.started_at)) " · " a href={ "/sessions/" (s.id) } { "session record" } }
        @if s.ended_at.is_some() {
            p.empty { "This session has ended. Replay it from the " a href={ "/sessions/" (s.id) } { "session record" } "." }
        } @else {
            @if moderated {
                div #moderation .moderation data-session=(s.id) data-csrf=(user.csrf) data-moderating=(if moderating { "1" } else { "0" }) {
                    p #moderation-state role="status" {
                        @if moderating && !room.opened {
                            "Waiting — you are the moderator: joining opens the device connection. The vendor's input reaches the device only while a moderator watches."
                        } @else if moderating {
                            "You are a moderator: the vendor's input reaches the device only while a moderator watches and none paused it. Leaving this page pauses it."
                        } @else if !room.opened {
                            "Moderated session: waiting for a moderator. The device connection opens only when a moderator joins."
                        } @else if room.present() {
                            "Moderated session: watched by " (room.names()) "."
                        } @else {
                            "Moderated session: no moderator is watching; the vendor's input is paused."
                        }
                    }
                    @if moderating {
                        div.actions {
                            button #pause-input type="button" data-action="pause" { "Pause vendor input" }
                            button #resume-input type="button" data-action="resume" { "Resume vendor input" }
                        }
                    } @else {
                        @match &may_moderate {
                            Ok(()) => {
                                form #join-moderator method="get" action={ "/sessions/" (s.id) "/live" } {
                                    input type="hidden" name="moderate" value="1";
                                    button type="submit" { @if room.opened { "Join as moderator" } @else { "Join as moderator (opens the device connection)" } }
                                }
                            }
                            Err(why) if !why.is_empty() => p.hint { "You may watch but not moderate: " (why) "." },
                            Err(_) => {}
                        }
                    }
                }
            }
            p #live-state role="status" { "Connecting…" }
            div #live .player data-ws=(ws) data-cols="80" data-rows="24" {
                p.player-fallback { "The live view needs JavaScript." }
            }
            @if decides(&user) && s.stop_requested_by.is_none() {
                div.actions { a.stop.button.danger href={ "/sessions/" (s.id) "/stop" } { "Stop this session…" } }
            }
            @if moderating {
                p.hint { "Nothing you type reaches the session. Joining, leaving, pausing and resuming are recorded in the recording and the audit log." }
            } @else {
                p.hint { "You only watch: nothing you type reaches the session. Watching is recorded in the audit log." }
            }
        }
    };
    let head = layout::assets(&["player/asciinema-player.css"], &["player/asciinema-player.min.js", "live.js"]);
    let title = format!("Live session {}", s.id);
    let page = layout::page_with(&frame, &user, Tab::Sessions, &title, Notice::default(), head, body).await;
    Ok(([(CONTENT_SECURITY_POLICY, PLAYER_CSP)], page).into_response())
}
