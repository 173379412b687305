//! `audit verify`: walks the chain from the first row, recomputing every hash and link, then
//! checks every signed checkpoint against the key and the rows. The first problem found (the
//! lowest row number) is reported, with what is wrong in words.
//!
//! The signing key lives on the same host as the log, so someone who can cut the log's tail
//! can cut its checkpoints with it, and the rest still verifies. [`verify_with_witness`] also
//! checks checkpoints kept elsewhere (a witness: `portcullis audit checkpoints` shipped off the
//! host, or a SIEM's copy): one that covers a row the log no longer has proves the cut.

use super::checkpoint::{checkpoints, row_at};
use super::{AuditRow, AuditSigner, Checkpoint, GENESIS_HASH};
use crate::store::{Store, StoreError};
use serde::Serialize;

const PAGE: i64 = 1000;

/// Result of a verification.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VerifyReport {
    pub ok: bool,
    /// Rows read.
    pub rows: i64,
    /// Checkpoints read.
    pub checkpoints: i64,
    /// Row number of the latest checkpoint with a good signature.
    pub last_checkpoint_seq: Option<i64>,
    /// Rows written after the latest checkpoint (not yet covered by a signature).
    pub unsigned_tail: i64,
    /// Lowest row number found broken.
    pub first_bad_seq: Option<i64>,
    /// What is wrong there.
    pub problem: Option<String>,
}

struct Problem {
    seq: i64,
    text: String,
}

fn keep_first(slot: &mut Option<Problem>, seq: i64, text: String) {
    if slot.as_ref().is_none_or(|p| seq < p.seq) {
        *slot = Some(Problem { seq, text });
    }
}

fn check_row(row: &AuditRow, expected_seq: i64, prev_hash: &str) -> Option<String> {
    if row.seq != expected_seq {
        return Some(format!("row {expected_seq} is missing (the next row present is {})", row.seq));
    }
    if row.prev_hash != prev_hash {
        return Some(format!("row {} does not link to row {} (deleted, reordered or edited rows)", row.seq, row.seq - 1));
    }
    if row.hash != row.expected_hash() {
        return Some(format!("row {} was altered: its content does not match its hash", row.seq));
    }
    None
}

/// Verifies the whole log.
pub async fn verify(store: &Store, signer: &AuditSigner) -> Result<VerifyReport, StoreError> {
    verify_with_witness(store, signer, &[]).await
}

/// Verifies the whole log, and also the checkpoints of `witness` (kept off this host) as if
/// they were stored: each must be signed by the audit key and name a row the log still has,
/// with the hash it had.
pub async fn verify_with_witness(store: &Store, signer: &AuditSigner, witness: &[Checkpoint]) -> Result<VerifyReport, StoreError> {
    let mut problem: Option<Problem> = None;
    let mut expected = 1i64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    let mut rows = 0i64;
    let mut after = 0i64;
    'pages: loop {
        let page = sqlx::query(
            "SELECT seq, ts, actor, kind, subject, detail, prev_hash, hash FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(PAGE)
        .fetch_all(store.pool())
        .await?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            let row = AuditRow::from_row(r)?;
            rows += 1;
            after = row.seq;
            if let Some(text) = check_row(&row, expected, &prev_hash) {
                keep_first(&mut problem, expected.min(row.seq), text);
                break 'pages;
            }
            prev_hash = row.hash.clone();
            expected = row.seq + 1;
        }
    }
    let last_seq = expected - 1;

    let stored = checkpoints(store).await?;
    let count = stored.len() as i64;
    let mut cps = stored;
    for w in witness {
        if !cps.iter().any(|c| c.seq == w.seq && c.hash == w.hash) {
            cps.push(w.clone());
        }
    }
    cps.sort_by_key(|c| c.seq);
    let mut last_good = None;
    for cp in &cps {
        if !signer.verifies(cp) {
            keep_first(&mut problem, cp.seq, format!("checkpoint at row {} has an invalid signature", cp.seq));
            continue;
        }
        if problem.is_none() && cp.seq > last_seq {
            keep_first(
                &mut problem,
                last_seq + 1,
                format!("log truncated: a signed checkpoint covers row {} but the log ends at row {last_seq}", cp.seq),
            );
            continue;
        }
        match row_at(store, cp.seq).await? {
            Some(row) if row.hash == cp.hash => last_good = Some(cp.seq),
            Some(_) => keep_first(&mut problem, cp.seq, format!("row {} does not match its signed checkpoint (chain rewritten)", cp.seq)),
            None => keep_first(&mut problem, cp.seq, format!("row {} named by a signed checkpoint is missing", cp.seq)),
        }
    }
    Ok(VerifyReport {
        ok: problem.is_none(),
        rows,
        checkpoints: count,
        last_checkpoint_seq: last_good,
        unsigned_tail: last_good.map_or(last_seq, |s| last_seq - s).max(0),
        first_bad_seq: problem.as_ref().map(|p| p.seq),
        problem: problem.map(|p| p.text),
    })
}
