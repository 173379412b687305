//! Benchmark driver for the Portcullis broker, built on the end-to-end test harness (the
//! same real sshd device, real OpenSSH vendor client and real `portcullis` binary).
//!
//! In one run it measures, through the broker and straight to the same sshd:
//! - throughput of a large output (`yes TEXT | head -c BYTES` on the device), read to the end;
//! - connection setup time, the median of N runs of `ssh ... true` (through the broker this
//!   includes public key + TOTP authentication and the broker's own connection to the device);
//! - the broker's memory per session: its RSS with M concurrent `sleep` sessions open, minus
//!   its RSS before, divided by M;
//! - tunnel throughput: TUNNEL bytes through `ssh -L` via the broker vs. via the device's sshd
//!   as an OpenSSH jump host, and the broker's peak memory during it;
//! - SFTP upload throughput of a SFTP-byte file, via the broker vs. straight to the device;
//! - evidence export and offline verification of the throughput session (time and peak
//!   memory), beside `tar czf` and `sha256sum` of its recording.
//!
//! Every broker connection uses a vendor of its own, so no connection waits for a fresh TOTP
//! time step. It sends traffic to loopback only and stops by itself. Usage:
//! `PORTCULLIS_TEST_BIN=target/release/portcullis portcullis-bench [--bytes N] [--setup-runs N]
//! [--sessions N] [--tunnel-bytes N] [--sftp-bytes N]` (bench/run.sh does this).

#[allow(dead_code)]
#[path = "../tests/e2e/harness/mod.rs"]
mod harness;
mod evidence;
mod transfer;

use harness::broker::{self, Broker};
use harness::device::Device;
use harness::proc::{self, Capture};
use harness::tcp::{Behaviour, Service};
use harness::vendor::{Code, Vendor};
use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

const DEVICE: &str = "bench-device";
const APPROVER: &str = "bench-approver";

struct Options {
    bytes: u64,
    tunnel_bytes: u64,
    sftp_bytes: u64,
    setup_runs: usize,
    sessions: usize,
}

fn parse_options() -> Options {
    let mut o = Options {
        bytes: 1 << 30,
        tunnel_bytes: 1 << 30,
        sftp_bytes: 256 << 20,
        setup_runs: 21,
        sessions: 200,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || -> u64 {
            it.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| {
                eprintln!("{a} needs a number");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--bytes" => o.bytes = value(),
            "--setup-runs" => o.setup_runs = value() as usize,
            "--sessions" => o.sessions = value() as usize,
            "--tunnel-bytes" => o.tunnel_bytes = value(),
            "--sftp-bytes" => o.sftp_bytes = value(),
            _ => {
                eprintln!("usage: portcullis-bench [--bytes N] [--setup-runs N] [--sessions N] [--tunnel-bytes N] [--sftp-bytes N]");
                std::process::exit(2)
            }
        }
    }
    o
}

fn main() {
    let o = parse_options();
    let device = Device::start(DEVICE);
    let sink = Service::start(Behaviour::Sink);
    let mut broker = Broker::init();
    broker.add_device_with_ports(&device, "standard", "bench", &[sink.port()]);
    broker.add_user(APPROVER, "approver", None, None);
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

    let total = 1 + o.setup_runs + o.sessions;
    eprintln!("enrolling {total} vendors, each with an approved request ...");
    let vendors = enroll(&broker, total, sink.port());
    let (throughput_vendor, rest) = vendors.split_first().expect("at least one vendor");
    let (setup_vendors, session_vendors) = rest.split_at(o.setup_runs);
    let login = |v: &Vendor| format!("{}:{DEVICE}", v.name);

    let mut rows: Vec<(String, String, String)> = Vec::new();

    // Memory per session, measured first so that buffers kept from the throughput run do
    // not hide it.
    let before = rss_kib(broker.server_pid());
    let accepted_before = device.accepted();
    let mut clients: Vec<Child> = Vec::new();
    // Open the sessions in batches, each waited for, so that the broker's limit on
    // connections still authenticating is never what is measured.
    for batch in session_vendors.chunks(20) {
        for v in batch {
            let mut cmd = v.ssh(addr, &login(v), Code::Next);
            cmd.arg("127.0.0.1")
                .arg("sleep 900")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            clients.push(cmd.spawn().expect("start ssh"));
        }
        let want = clients.len();
        proc::poll_until(
            &format!("{want} active sessions"),
            Duration::from_secs(300),
            || {
                let exited = clients
                    .iter_mut()
                    .filter_map(|c| c.try_wait().ok().flatten())
                    .count();
                assert!(exited == 0, "{exited} of the session clients exited early");
                let active = broker.sessions(true).len();
                (active >= want && device.accepted() >= accepted_before + want).then_some(())
            },
        );
        eprintln!("{want} sessions open");
    }
    let want = clients.len();
    let during = rss_kib(broker.server_pid());
    for c in &mut clients {
        let _ = c.kill();
        let _ = c.wait();
    }
    // Let the broker finish tearing those sessions down before timing anything else.
    proc::poll_until("the sessions to end", Duration::from_secs(120), || {
        broker.sessions(true).is_empty().then_some(())
    });
    let per_session = (during.saturating_sub(before)) as f64 / want as f64;
    rows.push((
        format!("broker RSS per session, {want} concurrent (KiB)"),
        format!("{per_session:.0}"),
        "-".to_owned(),
    ));
    rows.push((
        "broker RSS before / during (MiB)".to_owned(),
        format!(
            "{:.1} / {:.1}",
            before as f64 / 1024.0,
            during as f64 / 1024.0
        ),
        "-".to_owned(),
    ));

    // Straight to the device, measured in the same conditions as through the broker (after
    // the memory phase), so both columns see the same machine state.
    // Printable text, as a terminal carries: every byte is then recorded as itself.
    let command = format!("yes 0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ | head -c {}", o.bytes);
    // Two alternating rounds, best of each: the first transfer after 200 sessions were torn
    // down is slowed by the machine settling (processes exiting, page cache), whichever
    // path it takes.
    let mut direct_secs = f64::MAX;
    let mut broker_secs = f64::MAX;
    for _ in 0..2 {
        let mut direct = device.direct_ssh(&[]);
        direct.arg(&command);
        let (secs, n) = timed_drain(direct);
        check_bytes("direct", n, o.bytes);
        direct_secs = direct_secs.min(secs);
        let mut via = throughput_vendor.ssh(addr, &login(throughput_vendor), Code::Next);
        via.arg("127.0.0.1").arg(&command);
        let (secs, n) = timed_drain(via);
        check_bytes("broker", n, o.bytes);
        broker_secs = broker_secs.min(secs);
    }
    let mut direct_times = Vec::new();
    for _ in 0..o.setup_runs {
        let mut cmd = device.direct_ssh(&[]);
        cmd.arg("true");
        direct_times.push(timed_ok(cmd));
    }
    eprintln!(
        "direct: {:.1} MiB/s, setup median {:.1} ms",
        o.bytes as f64 / (1024.0 * 1024.0) / direct_secs,
        median(&mut direct_times) * 1000.0
    );

    let mib = o.bytes as f64 / (1024.0 * 1024.0);
    rows.push((
        format!("throughput, {mib:.0} MiB of output, best of 2 (MiB/s)"),
        format!("{:.1}", mib / broker_secs),
        format!("{:.1}", mib / direct_secs),
    ));

    // Connection setup through the broker.
    let mut broker_times = Vec::new();
    for v in setup_vendors {
        let mut cmd = v.ssh(addr, &login(v), Code::Next);
        cmd.arg("127.0.0.1").arg("true");
        broker_times.push(timed_ok(cmd));
    }
    rows.push((
        format!("connection setup, median of {} (ms)", o.setup_runs),
        format!("{:.1}", median(&mut broker_times) * 1000.0),
        format!("{:.1}", median(&mut direct_times) * 1000.0),
    ));

    transfers(&o, &device, &broker, throughput_vendor, &sink, &mut rows);
    evidence::rows(&broker, &throughput_vendor.name, &mut rows);
    print_table(&rows);
}

/// Tunnel and SFTP throughput rows, alternating direct and brokered runs, best of 2.
fn transfers(o: &Options, device: &Device, broker: &Broker, vendor: &Vendor, sink: &Service, rows: &mut Vec<(String, String, String)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut direct, mut via) = (f64::MAX, f64::MAX);
    let pid = broker.server_pid();
    let before = rss_kib(pid);
    for round in 0..2 {
        let sock = dir.path().join(format!("direct-{round}"));
        direct = direct.min(transfer::tunnel_secs(transfer::direct_forward(device, &sock, sink.port()), &sock, sink, o.tunnel_bytes));
        let sock = dir.path().join(format!("broker-{round}"));
        via = via.min(transfer::tunnel_secs(transfer::broker_forward(vendor, broker, DEVICE, &sock, sink.port()), &sock, sink, o.tunnel_bytes));
    }
    let peak = hwm_kib(pid);
    let mib = o.tunnel_bytes as f64 / (1024.0 * 1024.0);
    rows.push((format!("tunnel (ssh -L), {mib:.0} MiB to a TCP sink, best of 2 (MiB/s)"), format!("{:.1}", mib / via), format!("{:.1}", mib / direct)));
    rows.push((
        "broker RSS before / peak during tunnels (MiB)".to_owned(),
        format!("{:.1} / {:.1}", before as f64 / 1024.0, peak as f64 / 1024.0),
        "-".to_owned(),
    ));

    let file = dir.path().join("image.bin");
    transfer::make_file(&file, o.sftp_bytes);
    let remote = device.dir().join("upload.bin");
    let (mut direct, mut via) = (f64::MAX, f64::MAX);
    for _ in 0..2 {
        direct = direct.min(transfer::sftp_put_secs(transfer::direct_sftp(device), &file, &remote));
        let cmd = vendor.file_client("sftp", broker.ssh_addr(), &format!("{}:{DEVICE}", vendor.name));
        via = via.min(transfer::sftp_put_secs(cmd, &file, &remote));
    }
    let mib = o.sftp_bytes as f64 / (1024.0 * 1024.0);
    rows.push((format!("sftp upload, {mib:.0} MiB file, best of 2 (MiB/s)"), format!("{:.1}", mib / via), format!("{:.1}", mib / direct)));
}

/// A `kB` field of a process's `/proc/PID/status` (`VmHWM`, `VmRSS`), if it can be read.
pub(crate) fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok())
}

/// Peak resident set size (`VmHWM`) of a process, in KiB.
fn hwm_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM").expect("VmHWM in /proc status")
}

/// Enrols `n` vendors in parallel: key pair, `user add`, a request through the lobby, and its
/// approval. Returns them in a fixed order.
fn enroll(broker: &Broker, n: usize, tcp_port: u16) -> Vec<Vendor> {
    let slots: Vec<Mutex<Option<Vendor>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let next = Mutex::new(0usize);
    let addr = broker.ssh_addr();
    thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let i = {
                    let mut next = next.lock().expect("lock");
                    let i = *next;
                    *next += 1;
                    i
                };
                if i >= n {
                    return;
                }
                let name = format!("bench-v{i:04}");
                let mut vendor = Vendor::new(&name);
                let info = broker.add_user(
                    &name,
                    "vendor",
                    Some("bench-org"),
                    Some(&vendor.public_key()),
                );
                vendor.set_totp(&info.totp_secret);
                let out = vendor.exec(
                    addr,
                    &name,
                    &[],
                    &format!("request {DEVICE} --minutes 120 --shell --files --tcp {tcp_port} --reason 'benchmark run'"),
                );
                out.assert_success();
                let id = broker::parse_request_id(&out.all_text())
                    .unwrap_or_else(|| panic!("no request id in {}", out.describe()));
                broker.cli_ok(&["request", "approve", &id.to_string(), "--as", APPROVER]);
                *slots[i].lock().expect("lock") = Some(vendor);
            });
        }
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().expect("lock").expect("enrolled"))
        .collect()
}

/// Runs `cmd`, reads its stdout to the end; returns seconds from spawn to exit and bytes read.
fn timed_drain(mut cmd: Command) -> (f64, u64) {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn");
    let errors = Capture::default();
    errors.pump(child.stderr.take().expect("stderr"));
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(e) => panic!("read: {e}"),
        }
    }
    let status = child.wait().expect("wait");
    let secs = start.elapsed().as_secs_f64();
    assert!(
        status.success(),
        "{} failed: {status}\n{}",
        proc::describe_command(&cmd),
        errors.text()
    );
    (secs, n)
}

/// Runs `cmd` to completion (must succeed); returns its wall time in seconds.
fn timed_ok(cmd: Command) -> f64 {
    let start = Instant::now();
    let out = proc::run(cmd, Duration::from_secs(120));
    let secs = start.elapsed().as_secs_f64();
    out.assert_success();
    secs
}

fn check_bytes(path: &str, got: u64, want: u64) {
    assert_eq!(got, want, "{path}: received {got} bytes, expected {want}");
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// Resident set size of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS").expect("VmRSS in /proc status")
}

fn print_table(rows: &[(String, String, String)]) {
    let w0 = rows
        .iter()
        .map(|r| r.0.len())
        .max()
        .unwrap_or(0)
        .max("measure".len());
    println!();
    println!(
        "{:<w0$}  {:>14}  {:>14}",
        "measure", "via broker", "direct sshd"
    );
    println!("{:-<w0$}  {:->14}  {:->14}", "", "", "");
    for (name, broker, direct) in rows {
        println!("{name:<w0$}  {broker:>14}  {direct:>14}");
    }
}
