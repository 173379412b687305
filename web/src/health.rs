//! `GET /healthz`: that the process serves, its version, and what an operator watches to see
//! it is well: whether the store answers (as the change feed last saw it), how many session
//! ends and recording seals wait for it, how many tasks the runtime holds and how much memory
//! the process uses. Open to anyone, like any health check, so it says nothing about who or
//! what is connected.

use axum::extract::State;
use axum::Json;
use portcullis_core::audit::AuditLog;
use portcullis_core::backlog::Backlog;
use portcullis_core::shards::Shards;
use serde::Serialize;

use crate::state::Site;

/// The health report.
#[derive(Serialize)]
pub(crate) struct Health {
    status: &'static str,
    version: &'static str,
    /// `ok`, or `unavailable` when the store did not answer the last time it was asked.
    store: &'static str,
    /// Session ends and recording seals waiting for the store.
    waiting_writes: usize,
    /// Tasks alive in the async runtimes, the main one and the connections' shards (every
    /// connection, channel and service holds some).
    tasks: usize,
    /// Resident memory of the process in bytes (Linux; absent elsewhere).
    #[serde(skip_serializing_if = "Option::is_none")]
    rss_bytes: Option<u64>,
}

pub(crate) async fn healthz(State(site): State<Site>, State(audit): State<AuditLog>, State(backlog): State<Backlog>, State(shards): State<Shards>) -> Json<Health> {
    Json(Health {
        status: "ok",
        version: site.version,
        store: if audit.feed().is_reachable() { "ok" } else { "unavailable" },
        waiting_writes: backlog.len(),
        tasks: tokio::runtime::Handle::current().metrics().num_alive_tasks() + shards.alive_tasks(),
        rss_bytes: rss_bytes(),
    })
}

/// The process's resident set size, from `/proc/self/status` (`VmRSS:  N kB`).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    #[test]
    fn reads_the_resident_size_on_linux() {
        if cfg!(target_os = "linux") {
            let rss = super::rss_bytes().unwrap();
            assert!(rss > 1024 * 1024, "a running test process uses more than 1 MiB: {rss}");
        }
    }
}
