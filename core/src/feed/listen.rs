//! The PostgreSQL side of the change feed: one `LISTEN portcullis_audit` connection per
//! process. Each append sends `pg_notify('portcullis_audit', seq)` inside its transaction, so
//! a notification arrives exactly when a row commits, on whichever node wrote it.
//!
//! When the connection cannot be made or drops, it is made again after a backoff (doubling
//! from [`MIN_BACKOFF`] to [`MAX_BACKOFF`], back to the minimum once listening again). Every
//! time listening starts, the head is read once, so rows committed while nobody listened are
//! published too: `LISTEN` first, then read, leaves no gap.

use super::{catch_up, Feed, PG_CHANNEL};
use crate::store::Store;
use sqlx::postgres::PgListener;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// First wait before reconnecting.
const MIN_BACKOFF: Duration = Duration::from_millis(200);
/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Listens until `shutdown`, reconnecting as needed.
pub(super) async fn run(url: &str, store: &Store, feed: &Feed, shutdown: &CancellationToken) {
    let mut backoff = MIN_BACKOFF;
    loop {
        let ended = tokio::select! {
            _ = shutdown.cancelled() => return,
            ended = listen(url, store, feed, &mut backoff) => ended,
        };
        tracing::warn!(error = %ended, retry_in = ?backoff, "change feed: LISTEN connection lost; reconnecting");
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One listening connection, from connect to its loss (the returned error says why).
async fn listen(url: &str, store: &Store, feed: &Feed, backoff: &mut Duration) -> sqlx::Error {
    let mut listener = match PgListener::connect(url).await {
        Ok(l) => l,
        Err(e) => return e,
    };
    if let Err(e) = listener.listen(PG_CHANNEL).await {
        return e;
    }
    tracing::debug!(channel = PG_CHANNEL, "change feed: listening");
    *backoff = MIN_BACKOFF;
    catch_up(store, feed).await;
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => match n.payload().parse::<i64>() {
                Ok(seq) => feed.publish(seq),
                Err(_) => catch_up(store, feed).await,
            },
            // The connection was lost; whatever was sent meanwhile is read again on reconnect.
            Ok(None) => return sqlx::Error::Protocol("connection closed".into()),
            Err(e) => return e,
        }
    }
}
