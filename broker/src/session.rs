//! The brokered session in the store: its row and `session.started` audit row are written
//! with the first bridged channel or tunnel of a connection (one grant per connection), and
//! its end (`session.ended`, with the reason) when the connection closes. The window watch
//! that the connection task runs starts when [`open`] records the start.

use crate::state::{ActiveSession, Conn};
use portcullis_core::audit::Event;
use portcullis_core::clock;
use portcullis_core::domain::SessionId;
use portcullis_core::store::{DeviceRecord, GrantRecord};
use serde_json::json;
use tracing::{error, info, Span};

/// The brokered session under `grant` on `dev`, recorded with the first bridged channel or
/// tunnel. `None` when the connection serves another grant or the start cannot be recorded.
pub(crate) async fn open(conn: &Conn, grant: &GrantRecord, dev: &DeviceRecord) -> Option<ActiveSession> {
    conn.session(grant, || async {
        match insert_session(conn, grant, dev).await {
            Ok(id) => {
                Span::current().record("session", id.0);
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

/// Writes the session row and its `session.started` audit row in one transaction.
async fn insert_session(conn: &Conn, grant: &GrantRecord, dev: &DeviceRecord) -> Result<SessionId, portcullis_core::StoreError> {
    let ctx = &conn.ctx;
    let mut tx = ctx.store.begin_write().await?;
    let id = ctx.store.insert_session(&mut tx, grant.id, conn.user.id, dev.id, &conn.peer, clock::now()).await?;
    let seq = ctx
        .audit
        .record_in(&mut tx, Event::new(conn.user.username.as_str(), "session.started", format!("session:{id}"), json!({
            "device": dev.name, "grant": grant.id, "request": grant.request_id, "peer": conn.peer, "ends_at": grant.ends_at,
        })))
        .await?;
    tx.commit().await?;
    ctx.audit.committed(seq).await?;
    Ok(id)
}

/// Records the end of the connection's session, if one started, with the reason it ended.
pub(crate) async fn finish(conn: &Conn) {
    let Some(s) = conn.take_session().await else { return };
    let reason = conn.end_reason().unwrap_or_else(|| "ended".into());
    let ctx = &conn.ctx;
    let result: Result<(), portcullis_core::StoreError> = async {
        let mut tx = ctx.store.begin_write().await?;
        ctx.store.end_session(&mut tx, s.id, &reason, clock::now()).await?;
        let seq = ctx
            .audit
            .record_in(&mut tx, Event::new(conn.user.username.as_str(), "session.ended", format!("session:{}", s.id), json!({ "reason": reason })))
            .await?;
        tx.commit().await?;
        ctx.audit.committed(seq).await
    }
    .await;
    match result {
        Ok(()) => info!(%reason, "session ended"),
        Err(e) => error!(error = %e, "cannot record the session end"),
    }
}
