//! `audit verify`: walks the chain from the first row, recomputing every hash and link, then
//! checks every signed checkpoint against the key and the rows. The first problem found (the
//! lowest row number) is reported, with what is wrong in words.
//!
//! The signing key lives on the same host as the log, so someone who can cut the log's tail
//! can cut its checkpoints with it, and the rest still verifies. [`verify_with_witness`] also
//! checks checkpoints kept elsewhere (a witness: `portcullis audit checkpoints` shipped off the
//! host, or a SIEM's copy): one that covers a row the log no longer has proves the cut.
//!
//! Speed (a million rows in a few seconds): the checkpoints are read first, and their
//! signatures are checked on a blocking thread while the rows are walked. The database hands
//! over each page of rows as one JSON array (one result row per page: the driver's cost per
//! result row was most of the time), read by a task of its own while this one checks the page
//! before (reading and hashing share the two cores); the check sorts each page itself, so that
//! the database does not sort it twice. Each row is checked without copying its
//! fields, and the hash of every row a checkpoint names is kept, so that checkpoints are
//! matched without reading rows again. Reading the checkpoints before the rows also means that
//! a live log, growing during the walk, cannot show a checkpoint of a row the walk did not
//! reach.

use super::checkpoint::{checkpoints, row_at};
use super::hash::row_hash_is;
use super::{AuditSigner, Checkpoint, GENESIS_HASH};
use crate::store::{Backend, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use tokio::sync::mpsc;

/// Rows per page read (about 1.5 MB of JSON for rows of a typical size).
const PAGE: i64 = 4096;
/// Pages read ahead of the check.
const PAGES_AHEAD: usize = 2;

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

/// One stored row as the page's JSON holds it: `[seq, ts, actor, kind, subject, detail,
/// prev_hash, hash]`. Text is borrowed from the page unless JSON escapes had to be undone.
#[derive(Deserialize)]
struct Wire<'p>(
    i64,
    i64,
    #[serde(borrow)] Cow<'p, str>,
    #[serde(borrow)] Cow<'p, str>,
    #[serde(borrow)] Cow<'p, str>,
    #[serde(borrow)] Cow<'p, str>,
    #[serde(borrow)] Cow<'p, str>,
    #[serde(borrow)] Cow<'p, str>,
);

/// One stored row, borrowed.
struct RowRef<'r> {
    seq: i64,
    ts: i64,
    actor: &'r str,
    kind: &'r str,
    subject: &'r str,
    detail: &'r str,
    prev_hash: &'r str,
    hash: &'r str,
}

impl<'r> RowRef<'r> {
    fn of(w: &'r Wire<'_>) -> RowRef<'r> {
        RowRef { seq: w.0, ts: w.1, actor: &w.2, kind: &w.3, subject: &w.4, detail: &w.5, prev_hash: &w.6, hash: &w.7 }
    }
}

/// The `$2` lowest-numbered rows from row `$1` on, as one JSON array, and the last row's number.
/// The array's order is left to the database (the aggregate has no `ORDER BY`), and the
/// check sorts each page once parsed. With an `ORDER BY` inside `json_group_array`, SQLite
/// sorted every page a second time through a temporary B-tree; without it, its thread (the one
/// the walk waits on) took 42 % fewer samples over a million rows. Which rows make a page is
/// still fixed by the inner `ORDER BY … LIMIT`.
fn page_sql(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => {
            "SELECT COALESCE(json_group_array(json_array(seq, ts, actor, kind, subject, detail, prev_hash, hash)), '[]') AS page, MAX(seq) AS last \
             FROM (SELECT seq, ts, actor, kind, subject, detail, prev_hash, hash FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2) AS p"
        }
        Backend::Postgres => {
            "SELECT COALESCE(json_agg(json_build_array(seq, ts, actor, kind, subject, detail, prev_hash, hash))::text, '[]') AS page, MAX(seq) AS last \
             FROM (SELECT seq, ts, actor, kind, subject, detail, prev_hash, hash FROM audit_log WHERE seq >= $1 ORDER BY seq LIMIT $2) AS p"
        }
    }
}

fn check_row(row: &RowRef<'_>, expected_seq: i64, prev_hash: &str) -> Option<String> {
    // Rows arrive in order and numbers are unique, so only a row below 1 comes before the one
    // expected.
    if row.seq < expected_seq {
        return Some(format!("row {} is outside the chain, whose rows are numbered from 1", row.seq));
    }
    if row.seq != expected_seq {
        return Some(format!("row {expected_seq} is missing (the next row present is {})", row.seq));
    }
    if row.prev_hash != prev_hash {
        return Some(format!("row {} does not link to row {} (deleted, reordered or edited rows)", row.seq, row.seq - 1));
    }
    if !row_hash_is(row.hash, row.seq, row.ts, row.actor, row.kind, row.subject, row.detail, row.prev_hash) {
        return Some(format!("row {} was altered: its content does not match its hash", row.seq));
    }
    None
}

/// What the walk of the chain found.
struct Walk {
    /// Rows read, up to and including the first bad one.
    rows: i64,
    /// The last row of the unbroken chain from row 1 (0 when there is none).
    last_seq: i64,
    problem: Option<Problem>,
    /// Hash of each row named by a checkpoint that the walk read (and found sound).
    hashes: HashMap<i64, String>,
}

/// Reads pages of rows in order and hands them over until the log ends, the receiver stops
/// listening (a problem was found) or a read fails.
async fn read_pages(store: Store, pages: mpsc::Sender<Result<String, StoreError>>) {
    let sql = page_sql(store.backend());
    // From the lowest number a row can have (inclusive), not from 1: a row numbered below 1 is
    // outside the chain, and must be read to be named.
    let mut from = i64::MIN;
    loop {
        let page: Result<(String, Option<i64>), StoreError> =
            sqlx::query_as(sql).bind(from).bind(PAGE).fetch_one(store.pool()).await.map_err(StoreError::from);
        let (page, next) = match page {
            Ok((page, next)) => (Ok(page), next),
            Err(e) => (Err(e), None),
        };
        if pages.send(page).await.is_err() {
            return;
        }
        // A page that ended at the highest number possible was the last one.
        match next.and_then(|last| last.checked_add(1)) {
            Some(next) => from = next,
            None => return,
        }
    }
}

/// Walks the chain from its lowest-numbered row (row 1 in a sound log) to the first problem or
/// the end.
///
/// The reader is not aborted when the check stops early: it is told (its channel closes) and
/// awaited, so it finishes the one read it may be in. Aborting it could drop it half way
/// through opening a connection, whose SQLite thread would go on to open the database files
/// after the caller had closed the store (a refused restore then could not remove its folder).
async fn walk(store: &Store, wanted: &HashSet<i64>) -> Result<Walk, StoreError> {
    let (tx, mut rx) = mpsc::channel(PAGES_AHEAD);
    let reader = tokio::spawn(read_pages(store.clone(), tx));
    let checked = check_pages(&mut rx, wanted).await;
    drop(rx);
    reader.await.map_err(|e| StoreError::Corrupt(format!("reading audit rows: {e}")))?;
    checked
}

/// Checks the pages `rx` delivers, in order.
async fn check_pages(rx: &mut mpsc::Receiver<Result<String, StoreError>>, wanted: &HashSet<i64>) -> Result<Walk, StoreError> {
    let mut w = Walk { rows: 0, last_seq: 0, problem: None, hashes: HashMap::new() };
    let mut expected = 1i64;
    let mut prev_hash = GENESIS_HASH.to_owned();
    'pages: while let Some(page) = rx.recv().await {
        let page = page?;
        let mut rows: Vec<Wire<'_>> =
            serde_json::from_str(&page).map_err(|e| StoreError::Corrupt(format!("audit rows after row {}: {e}", expected - 1)))?;
        rows.sort_unstable_by_key(|w| w.0);
        if rows.is_empty() {
            break;
        }
        for wire in &rows {
            let row = RowRef::of(wire);
            w.rows += 1;
            if let Some(text) = check_row(&row, expected, &prev_hash) {
                keep_first(&mut w.problem, expected.min(row.seq), text);
                break 'pages;
            }
            if wanted.contains(&row.seq) {
                w.hashes.insert(row.seq, row.hash.to_owned());
            }
            prev_hash.clear();
            prev_hash.push_str(row.hash);
            expected = row.seq + 1;
        }
    }
    w.last_seq = expected - 1;
    Ok(w)
}

/// Verifies the whole log.
pub async fn verify(store: &Store, signer: &AuditSigner) -> Result<VerifyReport, StoreError> {
    verify_with_witness(store, signer, &[]).await
}

/// Verifies the whole log, and also the checkpoints of `witness` (kept off this host) as if
/// they were stored: each must be signed by the audit key and name a row the log still has,
/// with the hash it had.
pub async fn verify_with_witness(store: &Store, signer: &AuditSigner, witness: &[Checkpoint]) -> Result<VerifyReport, StoreError> {
    let stored = checkpoints(store).await?;
    let count = stored.len() as i64;
    let mut cps = stored;
    for w in witness {
        if !cps.iter().any(|c| c.seq == w.seq && c.hash == w.hash) {
            cps.push(w.clone());
        }
    }
    cps.sort_by_key(|c| c.seq);
    let wanted: HashSet<i64> = cps.iter().map(|c| c.seq).collect();
    let signatures = {
        let (signer, cps) = (signer.clone(), cps.clone());
        tokio::task::spawn_blocking(move || cps.iter().map(|cp| signer.verifies(cp)).collect::<Vec<bool>>())
    };
    let walk = walk(store, &wanted).await;
    let signed = signatures.await.map_err(|e| StoreError::Corrupt(format!("checking checkpoint signatures: {e}")))?;
    let Walk { rows, last_seq, mut problem, hashes } = walk?;

    let mut last_good = None;
    for (cp, good) in cps.iter().zip(signed) {
        if !good {
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
        // Rows the walk did not reach (it stopped at a problem) are read one by one.
        let hash = match hashes.get(&cp.seq) {
            Some(h) => Some(h.clone()),
            None => row_at(store, cp.seq).await?.map(|r| r.hash),
        };
        match hash {
            Some(h) if h == cp.hash => last_good = Some(cp.seq),
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
