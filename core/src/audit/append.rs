//! The append itself. An event's fields are fixed first, in the caller's task ([`Prepared`]:
//! the web request it serves is task-local), then [`insert`] puts one or many prepared rows at
//! the chain's head inside a write transaction: it takes the chain (on SQLite the write
//! transaction already holds it; on PostgreSQL a transaction-scoped advisory lock), reads the
//! head, hashes each row onto the one before it and inserts them, a few per statement. Both
//! [`super::AuditedWrite::append`] (a row beside a change) and the group commit of
//! [`super::AuditLog::record`] (the rows of many callers in one transaction) go through it, so
//! there is one chain and one way onto it.

use super::{row_hash, Event, GENESIS_HASH, PG_APPEND_LOCK};
use crate::feed::PG_CHANNEL;
use crate::store::{Backend, Store, StoreError};
use sqlx::AnyConnection;

/// Most rows in one INSERT statement. Statements hold 1, 2, 4 … up to this many rows, so that a
/// connection prepares and caches only a handful of shapes.
const ROWS_PER_STATEMENT: usize = 64;

/// An event with its stored fields fixed, ready to be hashed onto the chain.
#[derive(Debug)]
pub(super) struct Prepared {
    actor: String,
    kind: &'static str,
    subject: String,
    /// The detail object as stored (compact JSON, with the request id when there is one).
    detail: String,
}

impl Prepared {
    /// Fixes the fields of `ev`. A row written while serving a web request names that request
    /// (see `request_scope`), so this must run in the caller's task.
    pub(super) fn of(ev: Event) -> Result<Prepared, StoreError> {
        let detail = match (crate::request_scope::current(), ev.detail) {
            (Some(id), serde_json::Value::Object(mut map)) if !map.contains_key("request_id") => {
                map.insert("request_id".into(), id.into());
                serde_json::Value::Object(map)
            }
            (_, detail) => detail,
        };
        let detail = serde_json::to_string(&detail).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        Ok(Prepared { actor: ev.actor, kind: ev.kind.as_str(), subject: ev.subject.to_string(), detail })
    }
}

/// A prepared row with its place on the chain.
struct Linked<'a> {
    row: &'a Prepared,
    seq: i64,
    prev_hash: String,
    hash: String,
}

/// Appends `rows`, in order, at the head of the chain inside the caller's write transaction;
/// returns the sequence number of the first (the others follow it one by one). Nothing is
/// visible before the caller commits.
pub(super) async fn insert(store: &Store, conn: &mut AnyConnection, rows: &[Prepared]) -> Result<i64, StoreError> {
    if store.backend() == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_APPEND_LOCK).execute(&mut *conn).await?;
    }
    let last: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await?;
    let (first, mut prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let ts = crate::clock::now_ms();
    let mut linked = Vec::with_capacity(rows.len());
    for (seq, row) in (first..).zip(rows) {
        let hash = row_hash(seq, ts, &row.actor, row.kind, &row.subject, &row.detail, &prev);
        linked.push(Linked { row, seq, prev_hash: std::mem::replace(&mut prev, hash.clone()), hash });
    }
    let mut rest = &linked[..];
    while !rest.is_empty() {
        let n = statement_rows(rest.len());
        let (chunk, tail) = rest.split_at(n);
        let sql = insert_sql(n);
        let mut q = sqlx::query(&sql);
        for l in chunk {
            q = q.bind(l.seq).bind(ts).bind(&l.row.actor).bind(l.row.kind).bind(&l.row.subject).bind(&l.row.detail).bind(&l.prev_hash).bind(&l.hash);
        }
        q.execute(&mut *conn).await?;
        rest = tail;
    }
    let last = first + rows.len() as i64 - 1;
    if store.backend() == Backend::Postgres && !rows.is_empty() {
        // One notification names the new head; a listener publishes it as the feed's value.
        // `pg_notify` returns `void`, which the `Any` driver cannot decode: select a constant.
        sqlx::query("SELECT 1 AS queued FROM pg_notify($1, $2)")
            .bind(PG_CHANNEL)
            .bind(last.to_string())
            .execute(&mut *conn)
            .await?;
    }
    for l in &linked {
        tracing::debug!(seq = l.seq, kind = l.row.kind, subject = %l.row.subject, "audit");
    }
    Ok(first)
}

/// Rows of the next statement when `left` remain: the largest power of two that fits.
fn statement_rows(left: usize) -> usize {
    let mut n = 1;
    while n * 2 <= left.min(ROWS_PER_STATEMENT) {
        n *= 2;
    }
    n
}

/// `INSERT … VALUES (…), (…)` for `n` rows, with `$N` placeholders in first-use order.
fn insert_sql(n: usize) -> String {
    let mut sql = String::from("INSERT INTO audit_log (seq, ts, actor, kind, subject, detail, prev_hash, hash) VALUES ");
    for i in 0..n {
        let b = i * 8;
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&format!("(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4, b + 5, b + 6, b + 7, b + 8));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_take_powers_of_two_up_to_the_cap() {
        assert_eq!(statement_rows(1), 1);
        assert_eq!(statement_rows(3), 2);
        assert_eq!(statement_rows(64), 64);
        assert_eq!(statement_rows(1000), ROWS_PER_STATEMENT);
        let mut left = 77;
        let mut shapes = Vec::new();
        while left > 0 {
            let n = statement_rows(left);
            shapes.push(n);
            left -= n;
        }
        assert_eq!(shapes, [64, 8, 4, 1]);
        assert_eq!(insert_sql(2).matches('$').count(), 16);
        assert!(insert_sql(2).ends_with("($9, $10, $11, $12, $13, $14, $15, $16)"));
    }
}
