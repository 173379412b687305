//! The audit log page (auditors and admins): filter by actor, kind, device and time, each row
//! with its chain position and a short hash, older pages by chain position, and a "Verify"
//! button that runs the same check as `portcullis audit verify` and shows the result and the
//! latest signed checkpoint.

use super::error::PageError;
use super::{detail, format};
use super::layout::{self, Frame, Notice, Tab};
use super::visitor::require;
use crate::api::audit::{run_verify, to_search, AuditQuery, AuditRowView, VerifyView, AUDITORS};
use crate::auth::{CsrfOnly, PageForm, PageUser};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use portcullis_core::audit::{self, AuditLog};
use portcullis_core::store::Store;

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

fn verdict(v: &VerifyView) -> Markup {
    html! {
        section.verify data-ok=(v.ok) {
            @if v.ok {
                p.verified { "Verified: " (v.rows) " rows, every hash link intact and " (v.checkpoints) " signed checkpoint(s) valid." }
            } @else {
                p.error { "Verification failed at row " (v.first_bad_seq.map_or("?".to_owned(), |s| s.to_string())) ": " (v.problem.clone().unwrap_or_default()) }
            }
            p.hint {
                @if let (Some(seq), Some(at)) = (v.last_checkpoint_seq, &v.last_checkpoint_time) {
                    "Latest signed checkpoint: row " (seq) " at " (at)
                    @if let Some(k) = &v.key_id { " (key " code { (k) } ")" }
                    ". " (v.unsigned_tail) " row(s) after it are not yet covered by a signature."
                } @else { "No signed checkpoint yet: none of the " (v.rows) " rows is covered by a signature." }
            }
        }
    }
}

async fn render(frame: &Frame, store: &Store, user: &crate::auth::Authed, q: AuditQuery, verified: Option<VerifyView>) -> Result<Response, PageError> {
    let (rows, notice) = match to_search(&q) {
        Ok(s) => (audit::search(store, &s).await.map_err(crate::api::error::ApiError::from)?, Notice::default()),
        Err(e) => (Vec::new(), Notice::error(e.message)),
    };
    let rows: Vec<AuditRowView> = rows.iter().map(AuditRowView::from).collect();
    let val = |o: &Option<String>| o.clone().unwrap_or_default();
    let next = rows.last().map(|r| r.seq).filter(|_| rows.len() as i64 >= q.limit.unwrap_or(100).clamp(1, audit::MAX_ROWS));
    let body = html! {
        h1 { "Audit log" }
        form.verify method="post" action="/audit/verify" {
            (layout::csrf(user))
            button.primary type="submit" { "Verify the chain" }
        }
        @if let Some(v) = &verified { (verdict(v)) }
        form.filters method="get" action="/audit" {
            label { "Actor" input name="actor" type="text" value=(val(&q.actor)) autocapitalize="none"; }
            label { "Kind" input name="kind" type="text" value=(val(&q.kind)) placeholder="request. or auth.login" autocapitalize="none"; }
            label { "Device" input name="device" type="text" value=(val(&q.device)) autocapitalize="none"; }
            label { "Since (UTC)" input name="since" type="text" value=(val(&q.since)) placeholder="2026-11-01T00:00:00Z"; }
            label { "Until (UTC)" input name="until" type="text" value=(val(&q.until)); }
            button type="submit" { "Filter" }
        }
        @if rows.is_empty() {
            p.empty { "No audit row matches." }
        } @else {
            div.scroll role="region" aria-label="Audit rows" tabindex="0" {
                table.audit {
                    thead { tr { th { "#" } th { "Time" } th { "Actor" } th { "Kind" } th { "Subject" } th { "Detail" } th { "Hash" } } }
                    tbody {
                        @for r in &rows {
                            tr data-seq=(r.seq) {
                                td { (r.seq) }
                                td.nowrap { time datetime=(r.time) { (format::utc_seconds_if_time(&r.time)) } }
                                td { (r.actor) }
                                td { code { (r.kind) } }
                                td { (r.subject) }
                                td.detail { (detail::cell(&r.detail)) }
                                td { code title={ "previous " (r.prev_hash) } { (short(&r.hash)) "…" } }
                            }
                        }
                    }
                }
            }
            @if let Some(before) = next {
                p { a href={ "/audit?before=" (before) "&actor=" (val(&q.actor)) "&kind=" (val(&q.kind)) "&device=" (val(&q.device)) } { "Older rows →" } }
            }
        }
    };
    Ok(layout::page(frame, user, Tab::Audit, "Audit log", notice, body).await.into_response())
}

/// `GET /audit`.
pub async fn list(
    State(frame): State<Frame>,
    State(store): State<Store>,
    PageUser(user): PageUser,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    require(&user, AUDITORS, "read the audit log")?;
    crate::api::access::require_whole_log(&user, "read the whole audit log")?;
    let q = q.map(|Query(q)| q).unwrap_or_default();
    render(&frame, &store, &user, q, None).await
}

/// `POST /audit/verify`: the same check as `portcullis audit verify`, shown above the log.
pub async fn verify(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(log): State<AuditLog>,
    PageForm { user, .. }: PageForm<CsrfOnly>,
) -> Result<Response, PageError> {
    require(&user, AUDITORS, "verify the audit log")?;
    crate::api::access::require_whole_log(&user, "verify the whole audit log")?;
    let v = run_verify(&store, &log).await?;
    render(&frame, &store, &user, AuditQuery::default(), Some(v)).await
}
