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
    // A graceful stop in progress: when it closes the session and who asked.
    let mut stopping: Option<(i64, String)> = None;
    loop {
        let now = clock::now();
        if let Some((at, by)) = &stopping {
            if *at <= now {
                conn.notify_all(&format!("the session was stopped by {by}.")).await;
                info!(%by, "session stopped (graceful)");
                conn.end(&format!("stopped by {by}"));
                return;
            }
        }
        let remaining = ends_at - now;
        if remaining <= 0 {
            conn.notify_all("the access window has ended; the session is closed.").await;
            info!("window ended");
            conn.end("window ended");
            return;
        }
        let next_warn = warn_before.iter().copied().find(|w| !warned.contains(w) && (w.as_secs() as i64) < remaining);
        let mut sleep_secs = match next_warn {
            Some(w) => remaining - w.as_secs() as i64,
            None => remaining,
        };
        if let Some((at, _)) = &stopping {
            sleep_secs = sleep_secs.min(at - now);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(sleep_secs.max(0) as u64)) => {
                if let Some(w) = next_warn.filter(|w| (w.as_secs() as i64) >= ends_at - clock::now()) {
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
                match check(&conn, &s).await {
                    Check::Continue => {}
                    Check::Cut { reason, text } => {
                        conn.notify_all(&text).await;
                        info!(%reason, "session cut");
                        conn.end(&reason);
                        return;
                    }
                    Check::StopAt { at, by } => {
                        if stopping.as_ref().is_none_or(|(t, _)| at < *t) {
                            conn.notify_all(&format!(
                                "{by} is stopping this session; it closes in {} s. Save your work.", (at - clock::now()).max(0)
                            )).await;
                            stopping = Some((at, by));
                        }
                    }
                }
            }
            _ = conn.cancel.cancelled() => return,
        }
    }
}

/// What a change in the store means for this session.
enum Check {
    Continue,
    Cut { reason: String, text: String },
    StopAt { at: i64, by: String },
}

fn unavailable() -> Check {
    Check::Cut { reason: "store unavailable".into(), text: "the service is unavailable; the session is closed.".into() }
}

async fn check(conn: &Conn, s: &ActiveSession) -> Check {
    let store = &conn.broker.ctx().store;
    match store.grant(s.grant.id).await {
        Ok(Some(g)) if g.revoked_at.is_some() => {
            let by = g.revoked_by.unwrap_or_default();
            return Check::Cut { reason: format!("grant revoked by {by}"), text: format!("access was revoked by {by}; the session is closed.") };
        }
        Ok(Some(_)) => {}
        // Fail closed: without the store we cannot know the grant still holds.
        Ok(None) | Err(_) => return unavailable(),
    }
    match store.session(s.id).await {
        Ok(Some(rec)) if rec.stop_requested_at.is_some() => {
            let by = rec.stop_requested_by.unwrap_or_default();
            let at = rec.stop_at.unwrap_or(0);
            if at <= clock::now() {
                Check::Cut { reason: format!("stopped by {by}"), text: format!("the session was stopped by {by}.") }
            } else {
                Check::StopAt { at, by }
            }
        }
        Ok(_) => Check::Continue,
        Err(_) => unavailable(),
    }
}
