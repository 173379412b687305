//! The brokered session of a connection: started in core's session service
//! ([`portcullis_core::sessions`], `session.started`) with the first bridged channel or tunnel
//! of a connection (one grant per connection), and ended there (`session.ended`, with the
//! reason) when the connection closes: at once, or, when the store cannot take it (away, or
//! its disk full), as soon as it can ([`portcullis_core::backlog`]). The window watch that the
//! connection task runs starts when [`open`] records the start.

use crate::state::{ActiveSession, Conn};
use portcullis_core::sessions::SessionStart;
use portcullis_core::store::{DeviceRecord, GrantRecord};
use tracing::{error, info, Span};

/// The brokered session under `grant` on `dev`, recorded with the first bridged channel or
/// tunnel. `None` when the connection serves another grant or the start cannot be recorded.
pub(crate) async fn open(conn: &Conn, grant: &GrantRecord, dev: &DeviceRecord) -> Option<ActiveSession> {
    conn.session(grant, || async {
        match conn.ctx.sessions.start(SessionStart { user: &conn.user, grant, device: dev, peer: &conn.peer }).await {
            Ok(id) => {
                Span::current().record("session", id.0);
                conn.alert_started(id, dev).await;
                Some(id)
            }
            Err(e) => {
                error!(error = %e, "cannot record the session start; refusing");
                None
            }
        }
    })
    .await
}

/// Records the end of the connection's session, if one started, with the reason it ended.
/// When the store cannot take it, the end waits in the backlog and is written when it can.
pub(crate) async fn finish(conn: &Conn) {
    let Some(s) = conn.take_session().await else { return };
    let reason = conn.end_reason().unwrap_or_else(|| "ended".into());
    info!(%reason, "session ended");
    conn.ctx.backlog.end_session(conn.user.username.as_str(), s.id, &reason).await;
}
