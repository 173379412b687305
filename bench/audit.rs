//! The audit log's two figures: how many rows per second it appends when many tasks write at
//! once, and how long `portcullis audit verify` takes over a log of 1,000,000 rows.
//!
//! Nothing outside the broker can make it write rows that fast (every row is a decision: a
//! sign-in, an approval…), so the appends are measured in this process, on the library the
//! broker runs: `portcullis init` (the binary bench/run.sh built) makes a data directory, its
//! configuration is loaded and the store opened through `Context::open`, exactly as `portcullis
//! serve` opens them (same SQLite file, pragmas, pool and checkpoint interval), on a
//! multi-threaded tokio runtime like the binary's. WRITERS tasks then call `AuditLog::record`
//! in a loop, each waiting for its own row to be committed before writing the next; the rate is
//! rows committed over wall time. The reference column is one task doing the same: with
//! nobody to share a transaction with, each of its rows is a transaction of its own, which is
//! what every row cost before group commit. The same writers go on until the log holds
//! 1,000,000 rows (with a signed checkpoint every 100, as configured by default), the store is
//! closed, and the built binary's `portcullis audit verify --json` is timed as an operator
//! runs it: a new process that opens the configuration and the store and walks the whole
//! chain and every checkpoint. Its report must say the log is intact with every row read; the
//! figure is the median wall time of three runs.

use crate::harness::broker::{portcullis_bin, Broker};
use portcullis_core::audit::{AuditLog, Event, Kind, Subject};
use portcullis_core::{Config, Context};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Concurrent writers for the "many writers" figure.
const WRITERS: usize = 64;
/// Rows the many writers append between them in the timed run.
const MANY_ROWS: usize = 32_000;
/// Rows the single writer appends.
const SINGLE_ROWS: usize = 5_000;
/// Size of the log `audit verify` walks.
const VERIFY_ROWS: usize = 1_000_000;

fn event(writer: usize, i: usize) -> Event {
    Event::new(
        format!("vendor-{writer}"),
        Kind::AuthLogin,
        Subject::User(format!("vendor-{writer}")),
        serde_json::json!({ "method": "publickey+totp", "peer": "127.0.0.1:40000", "i": i }),
    )
}

/// `writers` tasks appending `total` rows between them; returns rows per second.
async fn append(log: &AuditLog, writers: usize, total: usize) -> f64 {
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(writers);
    for w in 0..writers {
        let log = log.clone();
        let each = total / writers + usize::from(w < total % writers);
        tasks.push(tokio::spawn(async move {
            for i in 0..each {
                log.record(event(w, i)).await.expect("audit record");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer task");
    }
    total as f64 / start.elapsed().as_secs_f64()
}

/// Wall seconds of one `portcullis audit verify --json`, which must find `rows` intact rows.
fn verify_secs(broker: &Broker, rows: usize) -> f64 {
    let mut cmd = Command::new(portcullis_bin());
    cmd.args(["audit", "verify", "--json", "--config"]).arg(&broker.config).stdin(Stdio::null());
    let start = Instant::now();
    let out = cmd.output().expect("run portcullis audit verify");
    let secs = start.elapsed().as_secs_f64();
    assert!(out.status.success(), "audit verify failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("audit verify --json printed JSON");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["rows"].as_u64(), Some(rows as u64), "{report}");
    secs
}

/// Adds the append and verify rows.
pub(crate) fn rows(rows: &mut Vec<(String, String, String)>) {
    let broker = Broker::init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let config = Config::load(&broker.config).expect("load the configuration init wrote");
    let ctx = runtime.block_on(Context::open(config)).expect("open the store");
    let head = runtime.block_on(ctx.store.audit_head()).expect("audit head") as usize;

    eprintln!("audit: 1 writer x {SINGLE_ROWS} rows ...");
    let single = runtime.block_on(append(&ctx.audit, 1, SINGLE_ROWS));
    eprintln!("audit: {WRITERS} writers, {MANY_ROWS} rows ...");
    let many = runtime.block_on(append(&ctx.audit, WRITERS, MANY_ROWS));
    rows.push((format!("audit append, {WRITERS} writers (rows/s; reference: 1 writer)"), format!("{many:.0}"), format!("{single:.0}")));

    let written = head + SINGLE_ROWS + MANY_ROWS;
    eprintln!("audit: filling the log to {VERIFY_ROWS} rows ...");
    let fill = runtime.block_on(append(&ctx.audit, WRITERS, VERIFY_ROWS - written));
    eprintln!("audit: filled at {fill:.0} rows/s");
    let total = runtime.block_on(ctx.store.audit_head()).expect("audit head") as usize;
    assert_eq!(total, VERIFY_ROWS, "the log holds every row appended");
    runtime.block_on(ctx.store.close());
    drop(ctx);
    eprintln!("audit: verifying {total} rows, 3 runs ...");
    let mut runs: Vec<f64> = (0..3).map(|_| verify_secs(&broker, total)).collect();
    runs.sort_by(f64::total_cmp);
    rows.push(("audit verify, 1,000,000 rows, median of 3 (s)".to_owned(), format!("{:.2}", runs[1]), "-".to_owned()));
}
