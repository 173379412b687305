//! Who may see which session. Auditors and admins see every session. An approver sees the
//! record of a session — its details, recordings, audit rows, live view — only if they
//! approved its request, and finds only those in a search. The one exception is the list of
//! running sessions with the stop button: every approver sees what is running and may stop
//! it, because patient safety may need anyone on duty to end a session. Vendors never sign
//! in on the web. Every route showing a session's record goes through [`viewable`].

use super::error::ApiError;
use crate::auth::Authed;
use portcullis_core::domain::{Role, SessionId};
use portcullis_core::store::{SessionRecord, Store};

/// Roles that may read sessions at all.
pub const VIEWERS: &[Role] = &[Role::Approver, Role::Auditor, Role::Admin];

/// The user id an approver's view is narrowed to (their approvals); `None` for auditors and
/// admins, who see everything.
pub fn narrowed_to(a: &Authed) -> Option<i64> {
    (a.role() == Role::Approver).then_some(a.session.user.id)
}

/// Session `id`, if `a` may see it: 404 when there is no such session, 403 when it is not
/// theirs to see.
pub async fn viewable(store: &Store, a: &Authed, id: i64) -> Result<SessionRecord, ApiError> {
    a.require(VIEWERS, "read sessions")?;
    let s = store.session(SessionId(id)).await?.ok_or_else(|| ApiError::not_found(format!("no session {id}")))?;
    if let Some(user) = narrowed_to(a) {
        if !store.approved_session(user, s.id).await? {
            return Err(ApiError::forbidden(format!(
                "you did not approve session {id}; only its approvers, auditors and admins may see it"
            )));
        }
    }
    Ok(s)
}

/// Whether `a` may see session `s` (for links on pages; no error).
pub async fn may_view(store: &Store, a: &Authed, s: SessionId) -> bool {
    match narrowed_to(a) {
        None => VIEWERS.contains(&a.role()),
        Some(user) => store.approved_session(user, s).await.unwrap_or(false),
    }
}
