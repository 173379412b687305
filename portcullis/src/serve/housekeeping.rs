//! Periodic work of a running node: sign an audit checkpoint every
//! `audit.checkpoint_interval` (only when new rows arrived), and expire pending requests that
//! nobody decided within `approval.request_ttl`, and — when `retention.recordings_after` is
//! set — archive or delete recordings that old every `retention.check_every` (each one an
//! audit row; see `portcullis_core::retention`). Failures are logged and retried at the next
//! tick; they never stop the node (sessions fail closed on their own store errors).

use portcullis_core::{clock, retention, Context};
use std::time::Duration;
use tokio::time::{interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// How often stale requests are looked for.
const EXPIRY_EVERY: Duration = Duration::from_secs(30);
/// Shortest checkpoint interval honoured (a zero in the configuration would spin).
const MIN_CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Runs until `shutdown` is cancelled.
pub async fn run(ctx: Context, shutdown: CancellationToken) {
    let mut checkpoint = interval(ctx.config.audit.checkpoint_interval.0.max(MIN_CHECKPOINT_EVERY));
    let mut expiry = interval(EXPIRY_EVERY);
    checkpoint.set_missed_tick_behavior(MissedTickBehavior::Delay);
    expiry.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut retain = interval(ctx.config.retention.check_every.0);
    retain.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let retention_on = ctx.config.retention.recordings_after.is_some();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = checkpoint.tick() => match ctx.audit.checkpoint().await {
                Ok(Some(cp)) => tracing::debug!(seq = cp.seq, "audit checkpoint signed"),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot sign an audit checkpoint"),
            },
            _ = expiry.tick() => {
                match ctx.approvals.expire_stale().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(expired = n, "expired requests nobody decided in time"),
                    Err(e) => tracing::warn!(error = %e, "cannot expire stale requests"),
                }
                // Counts of refused sign-ins whose minute is over (see core::auth::flood).
                if let Err(e) = ctx.auth.flush_refusals().await {
                    tracing::warn!(error = %e, "cannot write the count of refused sign-ins");
                }
            }
            _ = retain.tick(), if retention_on => {
                match retention::run(&ctx.store, &ctx.recstore, &ctx.audit, &ctx.config.retention, "system", clock::now()).await {
                    Ok(done) if done.is_empty() => {}
                    Ok(done) => tracing::info!(recordings = done.len(), "retention acted on old recordings"),
                    Err(e) => tracing::warn!(error = %e, "cannot apply recording retention"),
                }
            }
        }
    }
}
