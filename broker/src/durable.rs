//! Writes that must not be lost when the store refuses them for a while, as SQLite does when
//! its disk is full: the end of a session and the seals of its recordings are retried every
//! [`RETRY_EVERY`] for up to [`RETRY_FOR`], so they land once space returns, without a
//! restart. A refusal that is an answer (already ended, already sealed) is not retried. A node
//! stopped while still retrying leaves the session open, and its next start closes it.

use portcullis_core::store::StoreError;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;
use tracing::warn;

/// Pause between two attempts.
pub(crate) const RETRY_EVERY: Duration = Duration::from_secs(1);
/// How long a write is retried before it is given up (and logged by the caller).
pub(crate) const RETRY_FOR: Duration = Duration::from_secs(600);

/// Runs `write` until it succeeds, fails with an answer rather than a database error, or
/// [`RETRY_FOR`] has passed.
pub(crate) async fn retried<F, Fut>(what: &'static str, mut write: F) -> Result<(), StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), StoreError>>,
{
    let deadline = Instant::now() + RETRY_FOR;
    let mut warned = false;
    loop {
        match write().await {
            Err(StoreError::Db(e)) if Instant::now() + RETRY_EVERY < deadline => {
                if !std::mem::replace(&mut warned, true) {
                    warn!(error = %e, what, "the store refused a write that must not be lost; retrying");
                }
                tokio::time::sleep(RETRY_EVERY).await;
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_refused_write_is_retried_until_it_lands_and_an_answer_is_not() {
        let tries = AtomicU32::new(0);
        let r = retried("test", || async {
            let n = tries.fetch_add(1, Ordering::SeqCst);
            if n < 3 { Err(StoreError::Db(sqlx::Error::PoolTimedOut)) } else { Ok(()) }
        })
        .await;
        assert!(r.is_ok());
        assert_eq!(tries.load(Ordering::SeqCst), 4);

        let tries = AtomicU32::new(0);
        let r = retried("test", || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::NotFound("running session 1".into()))
        })
        .await;
        assert!(matches!(r, Err(StoreError::NotFound(_))));
        assert_eq!(tries.load(Ordering::SeqCst), 1, "an answer is not retried");

        let tries = AtomicU32::new(0);
        let r = retried("test", || async {
            tries.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Db(sqlx::Error::PoolTimedOut))
        })
        .await;
        assert!(matches!(r, Err(StoreError::Db(_))), "given up after RETRY_FOR");
        assert!(u64::from(tries.load(Ordering::SeqCst)) <= RETRY_FOR.as_secs() / RETRY_EVERY.as_secs() + 1);
    }
}
