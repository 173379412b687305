//! Window enforcement for one session: warns the vendor before the grant ends (by default 5
//! and 1 minutes before), and ends every channel at the end, or at once when the grant is
//! revoked or an operator asks for a stop — from this process or any other, since both are
//! noticed through the shared change feed.

use crate::conn::{ActiveSession, Conn};
use portcullis_core::clock;
use portcullis_core::feed::ChangeRx;
use std::sync::Arc;
use std::time::Duration;
use tracing::info;

/// Runs until the session ends.
pub(crate) async fn enforce(conn: Arc<Conn>, s: ActiveSession, mut changes: ChangeRx, mut warn_before: Vec<Duration>) {
    warn_before.sort_by(|a, b| b.cmp(a));
    let ends_at = s.grant.ends_at;
    let mut warned: Vec<Duration> = warn_before.iter().copied().filter(|w| w.as_secs() as i64 >= ends_at - clock::now()).collect();
    loop {
        let remaining = ends_at - clock::now();
        if remaining <= 0 {
            conn.notify_all("the access window has ended; the session is closed.").await;
            info!("window ended");
            conn.end("window ended");
            return;
        }
        let next_warn = warn_before.iter().copied().find(|w| !warned.contains(w) && (w.as_secs() as i64) < remaining);
        let sleep_secs = match next_warn {
            Some(w) => remaining - w.as_secs() as i64,
            None => remaining,
        };
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(sleep_secs.max(0) as u64)) => {
                if let Some(w) = next_warn {
                    warned.push(w);
                    conn.notify_all(&format!(
                        "your access window ends in {} (at {}); save your work.",
                        humantime::format_duration(w), clock::rfc3339(ends_at)
                    )).await;
                }
            }
            r = changes.changed() => {
                if r.is_err() {
                    return;
                }
                if let Some((reason, text)) = stop_reason(&conn, &s).await {
                    conn.notify_all(&text).await;
                    info!(%reason, "session cut");
                    conn.end(&reason);
                    return;
                }
            }
            _ = conn.cancel.cancelled() => return,
        }
    }
}

async fn stop_reason(conn: &Conn, s: &ActiveSession) -> Option<(String, String)> {
    let store = &conn.broker.ctx().store;
    match store.grant(s.grant.id).await {
        Ok(Some(g)) if g.revoked_at.is_some() => {
            let by = g.revoked_by.unwrap_or_default();
            return Some((format!("grant revoked by {by}"), format!("access was revoked by {by}; the session is closed.")));
        }
        Ok(Some(_)) => {}
        // Fail closed: without the store we cannot know the grant still holds.
        Ok(None) | Err(_) => return Some(("store unavailable".into(), "the service is unavailable; the session is closed.".into())),
    }
    match store.session(s.id).await {
        Ok(Some(rec)) if rec.stop_requested_at.is_some() => {
            let by = rec.stop_requested_by.unwrap_or_default();
            Some((format!("stopped by {by}"), format!("the session was stopped by {by}.")))
        }
        Ok(_) => None,
        Err(_) => Some(("store unavailable".into(), "the service is unavailable; the session is closed.".into())),
    }
}
