//! One session's record, for auditors, admins and the approvers who approved it: the request
//! and its approvals, the grant's window and channels, every recording with its integrity
//! (rechecked against the SHA-256 sealed in the audit log on each visit) and links to replay
//! and download it, who has viewed them (each replay, download, live view and export, from
//! the audit log), the files transferred, and the audit rows about the session and its
//! request. Auditors and admins export the evidence bundle from here.

use super::error::PageError;
use super::{detail, format};
use super::layout::{self, Frame, Notice, Tab};
use super::sessions::load;
use super::visitor::decides;
use crate::api::audit::{AuditRowView, AUDITORS};
use crate::api::evidence;
use crate::api::recordings::{checked, RecordingView};
use crate::api::sessions::audit_rows;
use crate::api::viewings::{self, ViewingView};
use crate::api::views::SessionView;
use portcullis_core::domain::Permission;
use crate::auth::{CsrfOnly, PageForm, PageUser};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use portcullis_core::audit::AuditLog;
use portcullis_core::store::Store;

/// The integrity badge of a recording.
pub fn integrity(r: &RecordingView) -> Markup {
    html! {
        @match r.status.as_str() {
            "intact" => { span.verified.badge-ok title={ "SHA-256 " (r.sealed_sha256.clone().unwrap_or_default()) } { "Verified" } }
            "mismatch" => { strong.altered role="alert" { "ALTERED" } }
            "missing" => { strong.altered { "Missing" } }
            "deleted" => { span.hint { "Deleted by retention (sealed hash kept)" } }
            _ => { span.hint { "Still recording" } }
        }
    }
}

fn size(bytes: Option<i64>) -> String {
    match bytes {
        None => "—".into(),
        Some(b) if b < 10 * 1024 => format!("{b} B"),
        Some(b) if b < 10 * 1024 * 1024 => format!("{} KiB", b / 1024),
        Some(b) => format!("{} MiB", b / (1024 * 1024)),
    }
}

fn recordings(id: i64, recs: &[RecordingView]) -> Markup {
    html! {
        @if recs.is_empty() {
            p.empty { "No channel was opened to the device in this session." }
        } @else {
            div.scroll role="region" aria-label="Recordings" tabindex="0" {
                table.recordings {
                    thead { tr { th { "Channel" } th { "Kind" } th { "Size" } th { "Integrity" } th { "Sealed SHA-256" } th { span.sr-only { "Actions" } } } }
                    tbody {
                        @for r in recs {
                            tr data-channel=(r.channel) data-status=(r.status) {
                                td { (r.channel) }
                                td { @if r.is_cast() { "terminal (asciicast)" } @else { "capture (pcap)" } }
                                td { (size(r.bytes)) }
                                td { (integrity(r)) @if let Some(p) = &r.problem { br; span.hint { (p) } } }
                                td {
                                    @match &r.sealed_sha256 {
                                        Some(h) => { code.hash title=(h) { (h.get(..16).unwrap_or(h)) "…" } }
                                        None => { "—" }
                                    }
                                }
                                td {
                                    div.cell-actions {
                                        @if r.is_cast() && r.status != "deleted" {
                                            a.button.replay href={ "/sessions/" (id) "/replay/" (r.channel) } { "Replay" }
                                        }
                                        @if r.status != "deleted" {
                                            a.button href=(r.url) download=(r.file_name(id)) { "Download" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn files(rows: &[AuditRowView]) -> Markup {
    let files: Vec<&AuditRowView> = rows.iter().filter(|r| r.kind == "sftp.file").collect();
    html! {
        @if files.is_empty() {
            p.empty { "No file was transferred." }
        } @else {
            div.scroll role="region" aria-label="Files" tabindex="0" {
                table.files {
                    thead { tr { th { "Path" } th { "Direction" } th { "Bytes" } th { "SHA-256" } th { "Audit row" } } }
                    tbody {
                        @for f in files {
                            tr {
                                td { code { (f.detail["path"].as_str().unwrap_or("?")) } }
                                td { (f.detail["direction"].as_str().unwrap_or("?")) }
                                td { (f.detail["bytes"]) }
                                td {
                                    @let h = f.detail["sha256"].as_str().unwrap_or("—");
                                    code.hash title=(h) { (h.get(..16).unwrap_or(h)) "…" }
                                    @if f.detail["complete"] == false { br; span.hint { "covers only part of the file" } }
                                }
                                td { (f.seq) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn approvals(rows: &[AuditRowView]) -> Markup {
    let decisions: Vec<&AuditRowView> = rows.iter().filter(|r| r.kind.starts_with("request.")).collect();
    html! {
        ol.decisions {
            @for r in decisions {
                li {
                    time.time datetime=(r.time) { (format::utc_seconds_if_time(&r.time)) } " " strong { (r.actor) } " " code { (r.kind) }
                    @if let Some(ch) = r.detail.get("channels").and_then(|c| c.as_str()) { " · channels " (ch) }
                    @if let Some(m) = r.detail.get("minutes") { " · " (m) " min" }
                    @if let Some(n) = r.detail.get("note").and_then(|c| c.as_str()).filter(|n| !n.is_empty()) { " · " q { (n) } }
                }
            }
        }
    }
}

fn audit_table(rows: &[AuditRowView]) -> Markup {
    html! {
        div.scroll role="region" aria-label="Audit rows" tabindex="0" {
            table.audit {
                thead { tr { th { "#" } th { "Time" } th { "Actor" } th { "Kind" } th { "Detail" } } }
                tbody {
                    @for r in rows {
                        tr data-seq=(r.seq) {
                            td { (r.seq) }
                            td.nowrap { time datetime=(r.time) { (format::utc_seconds_if_time(&r.time)) } }
                            td { (r.actor) }
                            td { code { (r.kind) } }
                            td.detail { (detail::cell(&r.detail)) }
                        }
                    }
                }
            }
        }
    }
}

fn summary(s: &SessionView) -> Markup {
    html! {
        dl.facts {
            dt { "Vendor" } dd { (s.vendor) @if !s.vendor_org.is_empty() { " (" (s.vendor_org) ")" } " from " (s.peer) }
            dt { "Device" } dd { (s.device) " · zone " (s.zone) @if let Some(c) = &s.criticality { " · " (c) } }
            dt { "Request" } dd { "#" (s.request_id) ": " q.reason { (s.reason) } }
            dt { "Window" }
            dd {
                @match (&s.window_starts_at, &s.window_ends_at) {
                    (Some(a), Some(b)) => { (format::utc(a)) " to " (format::utc(b)) }
                    _ => { "—" }
                }
            }
            dt { "Channels granted" } dd { (s.channels.clone().unwrap_or_else(|| "—".into())) }
            dt { "Started" } dd { (format::utc(&s.started_at)) }
            dt { "Ended" }
            dd {
                @match &s.ended_at {
                    Some(e) => { (format::utc(e)) @if let Some(r) = &s.end_reason { " — " (r) } }
                    None => { strong.running { "running" } }
                }
            }
        }
    }
}

/// Who opened this session's recordings, from the audit rows (newest first).
fn viewed_by(viewings: &[ViewingView]) -> Markup {
    html! {
        @if viewings.is_empty() {
            p.empty #viewed-by { "Nobody has replayed, downloaded, watched or exported this session." }
        } @else {
            div.scroll role="region" aria-label="Viewed by" tabindex="0" {
                table #viewed-by .viewed-by {
                    thead { tr { th { "Who" } th { "What" } th { "When" } th { "From" } th { "Audit row" } } }
                    tbody {
                        @for v in viewings.iter().rev() {
                            tr data-what=(v.what) {
                                td { (v.who) }
                                td { (v.what) @if let Some(c) = v.channel { " (channel " (c) ")" } }
                                td { (format::utc(&v.when)) }
                                td { (v.from) }
                                td { (v.seq) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /sessions/{id}`.
pub async fn show(State(frame): State<Frame>, State(store): State<Store>, State(recstore): State<portcullis_core::recstore::RecStore>, Path(id): Path<String>, PageUser(user): PageUser) -> Result<Response, PageError> {
    let s = load(&store, &user, &id).await?;
    let rows = audit_rows(&store, s.id, s.request_id).await?;
    let recs = checked(&store, &recstore, s.id).await?;
    let viewings = viewings::of(&store, s.id).await?;
    let phi_refused = s.phi && !user.session.user.permissions.has(Permission::Phi);
    let altered = recs.iter().any(|r| r.status == "mismatch" || r.status == "missing");
    let running = s.ended_at.is_none();
    let body = html! {
        h1 { "Session " (s.id) " on " (s.device) }
        @if altered {
            p.error role="alert" { "A recording of this session no longer matches the SHA-256 sealed in the audit log." }
        }
        (summary(&s))
        @if s.phi {
            p.hint.phi {
                strong { "Tagged phi: " } "this device's screens can show patient data. Replaying, downloading, watching and exporting need the phi permission"
                @if phi_refused { ", which your account does not have" } "; every opening is in the audit log and listed under Viewed by."
            }
        }
        div.record-actions {
            @if running {
                a.button.watch href={ "/sessions/" (s.id) "/live" } { "Watch live" }
                @if decides(&user) && s.stop_requested_by.is_none() {
                    a.stop.button.danger href={ "/sessions/" (s.id) "/stop" } { "Stop…" }
                }
            }
            @if AUDITORS.contains(&user.role()) {
                form.inline #export-evidence method="post" action={ "/sessions/" (s.id) "/evidence" } {
                    (layout::csrf(&user))
                    button type="submit" { "Export evidence bundle" }
                }
            }
        }
        h2 { "Request and decisions" }
        (approvals(&rows))
        h2 { "Recordings" }
        (recordings(s.id, &recs))
        h2 { "Viewed by" }
        (viewed_by(&viewings))
        h2 { "Files transferred" }
        (files(&rows))
        h2 { "Audit rows" }
        (audit_table(&rows))
    };
    let title = format!("Session {}", s.id);
    Ok(layout::page(&frame, &user, Tab::Sessions, &title, Notice::default(), body).await.into_response())
}

/// `POST /sessions/{id}/evidence`: the bundle as a download.
pub async fn export(
    State(store): State<Store>,
    State(recs): State<portcullis_core::recstore::RecStore>,
    State(audit): State<AuditLog>,
    Path(id): Path<String>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let s = load(&store, &user, &id).await?;
    Ok(evidence::export(&store, &recs, &audit, &user, s.id).await?)
}
