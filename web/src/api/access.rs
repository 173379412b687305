//! Who may see which session. Auditors and admins see every session. An approver sees the
//! record of a session — its details, recordings, audit rows, live view — only if they
//! approved its request, or if it ran under a break-glass grant (every approver may be one of
//! its two reviewers), and finds only those in a search. The one exception is the list of
//! running sessions with the stop button: every approver sees what is running and may stop
//! it, because patient safety may need anyone on duty to end a session. Vendors never sign
//! in on the web. Every route showing a session's record goes through [`viewable`].
//!
//! On top of that come the rules of [`portcullis_core::viewing`]: an auditor limited to zones
//! is answered about any other zone's session exactly as about a session that does not exist
//! (404, `no session N`), and the recordings of a device tagged `phi` need the `phi`
//! permission (403, audited as `recording.access_refused`). Every route that hands out what
//! a recording holds goes through [`opening`] and writes its row with [`record_opening`]
//! before the first byte leaves: if the row cannot be written, nothing is sent.

use super::error::ApiError;
use crate::auth::Authed;
use portcullis_core::audit::{AuditLog, Event, Kind, Subject};
use portcullis_core::domain::{Role, SessionId};
use portcullis_core::store::{SessionRecord, Store};
use portcullis_core::viewing::{self, Access, Refusal};
use serde_json::{json, Value};

/// Roles that may read sessions at all.
pub const VIEWERS: &[Role] = &[Role::Approver, Role::Auditor, Role::Admin];

/// The user id an approver's view is narrowed to (their approvals); `None` for auditors and
/// admins, who see everything.
pub fn narrowed_to(a: &Authed) -> Option<i64> {
    (a.role() == Role::Approver).then_some(a.session.user.id)
}

/// Session `id`, if `a` may see it: 404 when there is no such session or it is outside the
/// viewer's zones, 403 when it is not theirs to see.
pub async fn viewable(store: &Store, a: &Authed, id: i64) -> Result<SessionRecord, ApiError> {
    a.require(VIEWERS, "read sessions")?;
    let missing = || ApiError::not_found(format!("no session {id}"));
    let s = store.session(SessionId(id)).await?.ok_or_else(missing)?;
    if viewing::check(&a.session.user, &s.zone, s.phi, Access::Record).is_err() {
        return Err(missing());
    }
    if let Some(user) = narrowed_to(a) {
        if !store.approved_session(user, s.id).await? {
            return Err(ApiError::forbidden(format!(
                "you did not approve session {id}; only its approvers, auditors and admins may see it"
            )));
        }
    }
    Ok(s)
}

/// Session `id`, if `a` may open its recordings in the way `access` says: [`viewable`], and
/// for a device tagged `phi` the `phi` permission. A refusal for want of it is audited
/// (`recording.access_refused`, with `extra` such as the channel) and answered 403.
pub async fn opening(store: &Store, audit: &AuditLog, a: &Authed, id: i64, access: Access, extra: Value) -> Result<SessionRecord, ApiError> {
    let s = viewable(store, a, id).await?;
    match viewing::check(&a.session.user, &s.zone, s.phi, access) {
        Ok(()) => Ok(s),
        Err(Refusal::OutOfZone) => Err(ApiError::not_found(format!("no session {id}"))),
        Err(why @ Refusal::NeedsPhi) => {
            let mut detail = json!({ "what": access.as_str(), "why": why.as_str(), "device": s.device, "zone": s.zone, "via": a.via() });
            merge(&mut detail, extra);
            audit.record(Event::new(a.name().as_str(), Kind::RecordingAccessRefused, Subject::Session(s.id), detail)).await?;
            Err(ApiError::forbidden(viewing::phi_message(s.device.as_str())))
        }
    }
}

/// Writes the row of one opening of session `s`'s recordings by `a` (who, what, from where,
/// and `extra`), and returns only once it is committed: the caller sends nothing before.
pub async fn record_opening(audit: &AuditLog, a: &Authed, s: &SessionRecord, access: Access, extra: Value) -> Result<(), ApiError> {
    let Some(kind) = access.kind() else { return Ok(()) };
    let mut detail = json!({ "via": a.via(), "device": s.device, "zone": s.zone });
    merge(&mut detail, extra);
    audit.record(Event::new(a.name().as_str(), kind, Subject::Session(s.id), detail)).await?;
    Ok(())
}

fn merge(detail: &mut Value, extra: Value) {
    if let (Some(d), Value::Object(more)) = (detail.as_object_mut(), extra) {
        d.extend(more);
    }
}

/// Whether `a` may see session `s`, on a device in `zone` (for links on pages; no error).
pub async fn may_view(store: &Store, a: &Authed, s: SessionId, zone: &str) -> bool {
    if !a.session.user.zones.covers(zone) {
        return false;
    }
    match narrowed_to(a) {
        None => VIEWERS.contains(&a.role()),
        Some(user) => store.approved_session(user, s).await.unwrap_or(false),
    }
}

/// Whether `a` may read the whole audit log (an auditor limited to zones may not: its rows
/// about other zones' devices would say who worked where).
pub fn require_whole_log(a: &Authed, what: &str) -> Result<(), ApiError> {
    if viewing::whole_log(&a.session.user) {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "an account limited to zones may not {what}; the audit rows of your zones' sessions are on each session's record"
        )))
    }
}
