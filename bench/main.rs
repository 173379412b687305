//! Benchmark driver for the Portcullis broker, built on the end-to-end test harness (the
//! same real sshd device, real OpenSSH vendor client and real `portcullis` binary).
//!
//! In one run it measures every bulk path and the connection setup on three routes: straight
//! to the device's `sshd`, through a second `sshd` used as an OpenSSH jump host (ProxyJump),
//! and through the broker, which records everything ([`route`], [`paths`]); then evidence export and verification of the largest recording
//! ([`evidence`]), the audit log's append rate and verify time ([`audit`]), and idle
//! sessions at scale: memory per session and CPU while idle ([`idle`]). It prints
//! one table with Portcullis's ratio to the jump host, and keeps every raw figure in the file
//! given by `--raw`.
//!
//! Every broker connection uses a vendor of its own ([`pool`]), so no connection waits for a
//! fresh TOTP time step. It sends traffic to loopback only and stops by itself. Usage:
//! `PORTCULLIS_TEST_BIN=target/profiling/portcullis portcullis-bench [--bytes N]
//! [--tunnel-bytes N] [--sftp-bytes N] [--rounds N] [--setup-runs N] [--idle N,N,...]
//! [--raw FILE] [--only TEXT]` (bench/run.sh does this; `--only` keeps the paths whose name
//! contains TEXT and leaves out the evidence and audit rows, so that a profile of the run is
//! one path's).

#[allow(dead_code)]
#[path = "../tests/e2e/harness/mod.rs"]
mod harness;
mod audit;
mod evidence;
mod idle;
mod paths;
mod pool;
mod procfs;
mod route;
mod stopwatch;
mod table;
mod transfer;

use harness::broker::Broker;
use harness::device::Device;
use harness::tcp::{Behaviour, Service};
use paths::Sizes;
use pool::Pool;
use procfs::{hwm_kib, rss_kib};
use route::Hosts;
use std::fs::File;
use std::path::PathBuf;
use table::Row;

const DEVICE: &str = "bench-device";
const APPROVER: &str = "bench-approver";

struct Options {
    sizes: Sizes,
    /// Session counts of the idle-sessions rows (at least two, increasing).
    idle: Vec<usize>,
    raw: PathBuf,
}

fn parse_options() -> Options {
    let mut o = Options {
        sizes: Sizes { bytes: 512 << 20, tunnel_bytes: 512 << 20, sftp_bytes: 256 << 20, rounds: 3, setup_runs: 20, only: String::new() },
        idle: vec![200, 1000, 5000],
        raw: PathBuf::from("bench-raw.tsv"),
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut text = || -> String {
            it.next().cloned().unwrap_or_else(|| {
                eprintln!("{a} needs a value");
                std::process::exit(2)
            })
        };
        let number = |v: String| -> u64 {
            v.parse().unwrap_or_else(|_| {
                eprintln!("{a} needs a number");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--bytes" => o.sizes.bytes = number(text()),
            "--tunnel-bytes" => o.sizes.tunnel_bytes = number(text()),
            "--sftp-bytes" => o.sizes.sftp_bytes = number(text()),
            "--rounds" => o.sizes.rounds = number(text()) as usize,
            "--setup-runs" => o.sizes.setup_runs = number(text()) as usize,
            "--idle" => o.idle = text().split(',').filter(|w| !w.is_empty()).map(|w| number(w.to_owned()) as usize).collect(),
            "--raw" => o.raw = PathBuf::from(text()),
            "--only" => o.sizes.only = text(),
            _ => {
                eprintln!("usage: portcullis-bench [--bytes N] [--tunnel-bytes N] [--sftp-bytes N] [--rounds N] [--setup-runs N] [--idle N,N,...] [--raw FILE] [--only TEXT]");
                std::process::exit(2)
            }
        }
    }
    o
}

/// Broker connections one round of the paths makes (8 paths, one each), so the pool's size.
const BROKER_RUNS_PER_ROUND: usize = 8;

fn main() {
    let o = parse_options();
    let device = Device::start(DEVICE);
    let jump = Device::start("bench-jump");
    let sink = Service::start(Behaviour::Sink);
    let source = Service::start(Behaviour::Source(o.sizes.tunnel_bytes));
    let mut broker = Broker::init();
    broker.add_device_with_ports(&device, "standard", "bench", &[sink.port(), source.port()]);
    let addr = broker.serve(&[
        ("PORTCULLIS_APPROVAL_WAIT_TIMEOUT", "600s"),
        ("PORTCULLIS_AUTH_MAX_FAILURES", "1000"),
        ("PORTCULLIS_SSH_MAX_UNAUTHENTICATED", "256"),
        // Every benchmark client comes from 127.0.0.1, many at once: not a flood.
        ("PORTCULLIS_SSH_PER_SOURCE_MAX_STARTUPS", "256"),
        ("PORTCULLIS_SSH_MAX_STARTUPS", "256:0:256"),
        ("PORTCULLIS_SSH_PENALTY_MAX", "0s"),
    ]);
    eprintln!("broker pid {} listening on {addr}", broker.server_pid());

    let total = o.sizes.rounds * BROKER_RUNS_PER_ROUND + o.sizes.setup_runs;
    eprintln!("enrolling {total} vendors, each with an approved request ...");
    let vendors = Pool::enroll(&broker, total, DEVICE, APPROVER, &[sink.port(), source.port()]);
    let mut raw = File::create(&o.raw).unwrap_or_else(|e| panic!("{}: {e}", o.raw.display()));

    let mut rows = Vec::new();
    let hosts = Hosts { device: &device, jump: &jump, broker: &broker, vendors: &vendors };
    let pid = broker.server_pid();
    let before = rss_kib(pid);
    rows.extend(paths::measure(&hosts, &sink, &source, &o.sizes, &mut raw));
    rows.push(Row::single(
        "broker RSS before / peak during the bulk paths (MiB)".to_owned(),
        format!("{:.1} / {:.1}", before as f64 / 1024.0, hwm_kib(pid) as f64 / 1024.0),
        "-".to_owned(),
    ));
    let mut three = Vec::new();
    // One path asked for (to profile it): the evidence and audit rows would swamp it.
    if o.sizes.only.is_empty() {
        evidence::rows(&broker, &mut three);
        audit::rows(&mut three);
    }
    // Idle sessions at scale, on a fresh broker and device of their own.
    if o.idle.len() >= 2 {
        idle::rows(&o.idle, &mut three);
    }
    rows.extend(three.into_iter().map(|(name, broker, direct)| Row::single(name, broker, direct)));
    table::print(&rows);
    eprintln!("raw figures: {}", o.raw.display());
}
