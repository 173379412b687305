//! Window enforcement for one session: warns the vendor before the grant ends (by default 5
//! and 1 minutes before), and ends every channel at the end, or at once when the grant is
//! revoked or an operator asks for a stop — from this process or any other, since both are
//! noticed through the shared change feed. The store is not read here: the node's one
//! [`Fanout`] reads it once per change for every connection and hands this session its own
//! [`Verdict`]. It also ends the session when the store stops
//! answering (the feed says so, [`portcullis_core::feed::Feed::reachable`]): nothing may go
//! on that the audit log cannot record. A graceful stop warns first and closes at its
//! deadline; a later stop with an earlier deadline brings it forward.
//!
//! The loop ([`enforce`]) acts on a session through [`Watched`] (notify, end, the clock), so
//! it runs against the connection in production and against a recording double in tests.

use crate::fanout::{Fanout, Verdict, Watch, Interest};
use crate::state::{ActiveSession, Conn};
use portcullis_core::clock;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tracing::info;

/// A session as window enforcement acts on it.
pub(crate) trait Watched: Sync {
    /// Tells the vendor on every bridged channel.
    fn notify_all(&self, text: &str) -> impl Future<Output = ()> + Send;
    /// Ends the session (the first reason given wins) and cancels every channel.
    fn end(&self, reason: &str);
    /// Cancelled when the session ends for any reason.
    fn cancel(&self) -> &CancellationToken;
    /// Now, in Unix seconds.
    fn now(&self) -> i64 {
        clock::now()
    }
}

impl Watched for Conn {
    fn notify_all(&self, text: &str) -> impl Future<Output = ()> + Send {
        Conn::notify_all(self, text)
    }
    fn end(&self, reason: &str) {
        Conn::end(self, reason)
    }
    fn cancel(&self) -> &CancellationToken {
        &self.cancel
    }
}

/// Waits for the connection's session to start, then enforces its window until it ends.
/// `warn_before`: how long before the end the vendor is warned. Until a session starts (a
/// lobby connection), a change that disables the account still ends the connection.
pub(crate) async fn watch(conn: Arc<Conn>, fanout: Fanout, warn_before: Vec<Duration>) {
    let mut reachable = conn.ctx.audit.feed().reachable();
    let s = {
        let mut lobby = fanout.watch(Interest::Account(conn.user.id));
        loop {
            tokio::select! {
                s = conn.started() => match s {
                    Some(s) => break s,
                    None => return,
                },
                _ = store_lost(&mut reachable) => {
                    on_change(&*conn, unavailable(), &mut None).await;
                    return;
                }
                v = lobby.changed() => {
                    let check = check(&*conn, v);
                    if check != Check::Continue {
                        on_change(&*conn, check, &mut None).await;
                        return;
                    }
                }
            }
        }
    };
    let control = fanout.watch(Interest::Session { id: s.id, grant: s.grant.id, vendor: s.grant.vendor_id });
    enforce(&*conn, s, Feeds { control, reachable, drain: conn.ctx.drain.clone(), lease_lost: conn.ctx.lease.lost() }, warn_before).await;
}

/// What enforcement wakes on: this session's verdicts, and whether the store answers.
pub(crate) struct Feeds {
    pub control: Watch,
    pub reachable: watch::Receiver<bool>,
    /// The node's drain before a restart: the vendor is told once it starts.
    pub drain: portcullis_core::drain::Drain,
    /// Moves when the node finds its lease taken over: another node has closed its sessions
    /// in the record as `node lost`, so this one must not go on.
    pub lease_lost: watch::Receiver<u64>,
}

/// Returns once the store is seen not to answer (at once if it already does not); never if
/// nobody can say so any more.
async fn store_lost(reachable: &mut watch::Receiver<bool>) {
    if reachable.wait_for(|up| !*up).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Returns once the node's lease is seen taken over; never if nobody can say so any more.
async fn lease_taken(lost: &mut watch::Receiver<u64>) {
    if lost.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The notice when the node finds its lease taken over.
pub(crate) const NODE_LOST_TEXT: &str = "this node lost contact with the cluster for too long, and its sessions were closed by another node; reconnect to continue.";

/// A graceful stop in progress: when it closes the session and who asked.
type Stopping = Option<(i64, String)>;

/// Runs until the session ends.
pub(crate) async fn enforce<W: Watched>(conn: &W, s: ActiveSession, feeds: Feeds, mut warn_before: Vec<Duration>) {
    let Feeds { mut control, mut reachable, drain, mut lease_lost } = feeds;
    let mut told_of_drain = false;
    warn_before.sort_by(|a, b| b.cmp(a));
    let ends_at = s.grant.ends_at;
    let mut warned: Vec<Duration> = warn_before.iter().copied().filter(|w| w.as_secs() as i64 >= ends_at - conn.now()).collect();
    let mut stopping: Stopping = None;
    loop {
        let now = conn.now();
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
                if let Some(w) = next_warn.filter(|w| (w.as_secs() as i64) >= ends_at - conn.now()) {
                    warned.push(w);
                    conn.notify_all(&format!(
                        "your access window ends in {} (at {}); save your work.",
                        humantime::format_duration(w), clock::rfc3339(ends_at)
                    )).await;
                }
            }
            v = control.changed() => {
                if !on_change(conn, check(conn, v), &mut stopping).await {
                    return;
                }
            }
            _ = store_lost(&mut reachable) => {
                on_change(conn, unavailable(), &mut stopping).await;
                return;
            }
            () = lease_taken(&mut lease_lost) => {
                on_change(conn, Check::Cut { reason: portcullis_core::sessions::NODE_LOST.into(), text: NODE_LOST_TEXT.into() }, &mut stopping).await;
                return;
            }
            () = drain.started(), if !told_of_drain => {
                told_of_drain = true;
                if let Some(d) = drain.state() {
                    conn.notify_all(&restarting_notice(d)).await;
                }
            }
            _ = conn.cancel().cancelled() => return,
        }
    }
}

/// What a vendor is told when the node starts draining before a restart.
pub(crate) fn restarting_notice(d: &portcullis_core::drain::Draining) -> String {
    format!(
        "this node is restarting: the session will be closed by {} (in at most {}); reconnect to continue on another node.",
        clock::rfc3339(d.closes_at),
        humantime::format_duration(d.timeout)
    )
}

/// Acts on what a change in the store means; `false` when the session was ended.
async fn on_change<W: Watched>(conn: &W, check: Check, stopping: &mut Stopping) -> bool {
    match check {
        Check::Continue => {}
        Check::Cut { reason, text } => {
            conn.notify_all(&text).await;
            info!(%reason, "session cut");
            conn.end(&reason);
            return false;
        }
        Check::StopAt { at, by } => {
            if stopping.as_ref().is_none_or(|(t, _)| at < *t) {
                conn.notify_all(&format!("{by} is stopping this session; it closes in {} s. Save your work.", (at - conn.now()).max(0))).await;
                *stopping = Some((at, by));
            }
        }
    }
    true
}

/// What a change in the store means for this session.
#[derive(Debug, PartialEq, Eq)]
enum Check {
    Continue,
    Cut { reason: String, text: String },
    StopAt { at: i64, by: String },
}

/// The notice when the store cannot answer; the reason the session row keeps.
pub(crate) const UNAVAILABLE_TEXT: &str = "the service is unavailable: the broker cannot write to its database (unreachable, or its disk is full), and nothing may go on unaudited; the session is closed.";

fn unavailable() -> Check {
    Check::Cut { reason: "store unavailable".into(), text: UNAVAILABLE_TEXT.into() }
}

/// What the store's verdict means for this session now: a stop whose deadline has passed
/// cuts at once.
fn check<W: Watched>(conn: &W, v: Verdict) -> Check {
    match v {
        Verdict::Fine => Check::Continue,
        Verdict::Disabled => Check::Cut {
            reason: "account disabled or past its end date".into(),
            text: "your account was disabled or has reached its end date; the connection is closed.".into(),
        },
        Verdict::Revoked(by) => Check::Cut { reason: format!("grant revoked by {by}"), text: format!("access was revoked by {by}; the session is closed.") },
        Verdict::Stop { at, by } if at <= conn.now() => Check::Cut { reason: format!("stopped by {by}"), text: format!("the session was stopped by {by}.") },
        Verdict::Stop { at, by } => Check::StopAt { at, by },
        Verdict::Unavailable => unavailable(),
    }
}

#[cfg(test)]
mod tests;
