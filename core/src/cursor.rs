//! A follower's place in the audit log (`delivery_cursors`, migration 0004) and the lease that
//! lets exactly one node send at a time. Every task that follows the audit log and delivers
//! it somewhere uses it: the approvers' notifier ([`crate::notify`], cursors `webhook` and
//! `email`) and the SIEM exporter ([`crate::export`], cursors `export:NAME`). A node [`claim`]s the lease before each attempt
//! (renewing it if it holds it already), sends, then [`advance`]s the cursor with a
//! compare-and-swap on the old position and its own lease: if another node took over
//! meanwhile, the update changes nothing and this node stands back. A node that dies keeps
//! the lease only until `lease_until`, so delivery is at-least-once, never stuck.

use crate::store::{Store, StoreError};

/// The outcome of asking for the lease.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This node holds the lease; the cursor is at `seq`.
    Held { seq: i64 },
    /// Another node holds it until `until_ms`.
    Busy { until_ms: i64 },
}

/// Creates the cursor of `name` at `seq` unless it exists.
pub async fn ensure(store: &Store, name: &str, seq: i64, now_ms: i64) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO delivery_cursors (name, seq, updated_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(seq)
        .bind(now_ms)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Takes or renews the lease of `name` for `node` until `until_ms`.
pub async fn claim(store: &Store, name: &str, node: &str, now_ms: i64, until_ms: i64) -> Result<Claim, StoreError> {
    let held: Option<i64> = sqlx::query_scalar(
        "UPDATE delivery_cursors SET lease_owner = $1, lease_until = $2 \
         WHERE name = $3 AND (lease_owner IS NULL OR lease_owner = $1 OR lease_until < $4) RETURNING seq",
    )
    .bind(node)
    .bind(until_ms)
    .bind(name)
    .bind(now_ms)
    .fetch_optional(store.pool())
    .await?;
    if let Some(seq) = held {
        return Ok(Claim::Held { seq });
    }
    let until: Option<Option<i64>> = sqlx::query_scalar("SELECT lease_until FROM delivery_cursors WHERE name = $1")
        .bind(name)
        .fetch_optional(store.pool())
        .await?;
    match until {
        Some(until) => Ok(Claim::Busy { until_ms: until.unwrap_or(now_ms) }),
        None => Err(StoreError::NotFound(format!("delivery cursor {name}"))),
    }
}

/// Moves the cursor from `from` to `to` if it is still at `from` and `node` still holds the
/// lease; false if another node moved it or took the lease.
pub async fn advance(store: &Store, name: &str, node: &str, from: i64, to: i64, now_ms: i64) -> Result<bool, StoreError> {
    let r = sqlx::query("UPDATE delivery_cursors SET seq = $1, updated_at = $2 WHERE name = $3 AND seq = $4 AND lease_owner = $5")
        .bind(to)
        .bind(now_ms)
        .bind(name)
        .bind(from)
        .bind(node)
        .execute(store.pool())
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Gives the lease up (nothing left to send, or shutting down).
pub async fn release(store: &Store, name: &str, node: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE delivery_cursors SET lease_owner = NULL, lease_until = NULL WHERE name = $1 AND lease_owner = $2")
        .bind(name)
        .bind(node)
        .execute(store.pool())
        .await?;
    Ok(())
}

/// Where the cursor is (for tests and diagnostics).
pub async fn position(store: &Store, name: &str) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar("SELECT seq FROM delivery_cursors WHERE name = $1").bind(name).fetch_optional(store.pool()).await?)
}
