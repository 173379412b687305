//! Idle sessions at scale: how many concurrent sessions one broker node holds, what each
//! costs in memory, and what the node does while they are idle.
//!
//! It starts a broker of its own (the `portcullis` binary through the harness, on a fresh
//! SQLite store) and a device of its own ([`device`], a russh server in this process), enrols
//! vendors with the CLI and the lobby as an operator and vendors would (each with an approved
//! request), and opens sessions from this process with russh clients ([`client`]): public key
//! and TOTP, then a terminal with a shell that stays idle. Each TOTP step is accepted once per
//! vendor, so the sessions are spread over vendors (`SESSIONS_PER_VENDOR` each at most).
//!
//! Rows:
//! - sessions opened, of those asked (each checked by a prompt from the device, and counted
//!   again in the broker's own list of active sessions);
//! - the broker's RSS per session as the slope between two session counts on that fresh
//!   broker, so that what the allocator keeps after its first sessions is not counted, and
//!   the RSS over the first sessions divided by their number, as the main bench reports it;
//! - the broker's CPU while every session is idle, from `/proc/PID/stat` (utime + stime) over
//!   [`IDLE_WINDOW`];
//! - the audit rows written while idle (nothing happens, so nothing is written).
//!
//! Usage (from bench/main.rs): `idle::rows(&[200, 1000, 5000], &mut rows)`. It needs an
//! open-file limit of about three per session for the broker and two per session for this
//! process (it raises its own soft limit to the hard one), and `PORTCULLIS_TEST_BIN`.

#[path = "idle/client.rs"]
mod client;
#[path = "idle/device.rs"]
mod device;

use crate::procfs::{clock_ticks_per_second, cpu_ticks, rss_kib};
use crate::harness::broker::{self, Broker};
use crate::harness::vendor::Vendor;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;

const DEVICE: &str = "idle-device";
/// Approvers are made one per vendor (`idle-approver-N`): each approval needs a fresh TOTP
/// code of its approver, and one authenticator yields a new code only every 30 seconds.
const APPROVER: &str = "idle-approver";
/// Sessions a vendor opens at most (TOTP steps: three at once, then one each 30 s).
const SESSIONS_PER_VENDOR: usize = 4;
/// How long the idle broker is watched.
const IDLE_WINDOW: Duration = Duration::from_secs(30);
/// Sign-ins in flight at once (the broker's caps are raised above this).
const CONCURRENT_SIGN_INS: usize = 48;

/// Adds the idle rows for the session counts `sizes` (increasing; at least two).
pub(crate) fn rows(sizes: &[usize], rows: &mut Vec<(String, String, String)>) {
    assert!(sizes.len() >= 2 && sizes.windows(2).all(|w| w[0] < w[1]), "idle: give at least two increasing session counts");
    let most = *sizes.last().unwrap_or(&0);
    raise_nofile();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");

    // The device.
    let keys = tempfile::tempdir().expect("tempdir");
    let host_key_path = keys.path().join("device_host_key");
    crate::harness::device::keygen(&host_key_path, "idle-device");
    let host_key = russh::keys::load_secret_key(&host_key_path, None).expect("device host key");
    let host_line: String = std::fs::read_to_string(host_key_path.with_extension("pub")).expect("host key .pub").split_whitespace().take(2).collect::<Vec<_>>().join(" ");
    let seen = Arc::new(device::Seen::default());
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind device");
    let device_addr = listener.local_addr().expect("device address");
    rt.spawn(device::serve(listener, host_key, seen.clone()));

    // The broker.
    let mut broker = Broker::init();
    let pw = keys.path().join("device.pw");
    std::fs::write(&pw, device::PASSWORD).expect("write password");
    broker.cli_ok(&[
        "device", "add", DEVICE, "--address", &device_addr.to_string(), "--login", device::LOGIN, "--password-file", pw.to_str().expect("utf-8"),
        "--host-key", &host_line, "--criticality", "standard", "--zone", "bench",
    ]);
    let max_sessions = (most + 64).to_string();
    let addr = broker.serve(&[
        ("PORTCULLIS_SSH_MAX_SESSIONS", &max_sessions),
        ("PORTCULLIS_SSH_MAX_UNAUTHENTICATED", "256"),
        // Every client comes from 127.0.0.1, many at once: not a flood.
        ("PORTCULLIS_SSH_PER_SOURCE_MAX_STARTUPS", "256"),
        ("PORTCULLIS_SSH_MAX_STARTUPS", "256:0:256"),
        ("PORTCULLIS_SSH_PENALTY_MAX", "0s"),
        ("PORTCULLIS_AUTH_MAX_FAILURES", "1000"),
        ("PORTCULLIS_LOG", "warn"),
    ]);
    let pid = broker.server_pid();
    eprintln!("idle: broker pid {pid} on {addr}, device on {device_addr}");

    let n_vendors = most.div_ceil(SESSIONS_PER_VENDOR);
    let started = Instant::now();
    let vendors = enrol(&rt, &broker, addr, n_vendors);
    eprintln!("idle: {n_vendors} vendors enrolled, each with an approved request, in {:.0} s", started.elapsed().as_secs_f64());

    // Open the sessions, measuring at each size. Session i belongs to vendor i % n_vendors,
    // so a vendor's sign-ins are spread out in time.
    let mut open: Vec<client::Idle> = Vec::with_capacity(most);
    let mut rss: Vec<(usize, u64)> = vec![(0, rss_kib(pid))];
    let mut failures = Vec::new();
    for &size in sizes {
        let from = open.len();
        let started = Instant::now();
        let (opened, failed) = open_sessions(&rt, addr, &vendors, from..size);
        open.extend(opened);
        failures.extend(failed);
        wait_active(&broker, open.len());
        // Let the broker settle (feed, fan-out, recordings' first writes).
        std::thread::sleep(Duration::from_secs(3));
        rss.push((open.len(), rss_kib(pid)));
        eprintln!("idle: {} sessions open ({} asked) in {:.0} s, broker RSS {} KiB", open.len(), size, started.elapsed().as_secs_f64(), rss_kib(pid));
    }
    for f in failures.iter().take(5) {
        eprintln!("idle: a session failed: {f}");
    }
    let active = active_sessions(&broker);
    rows.push((format!("idle: sessions open, of {most} asked (broker's list / device shells)"), format!("{} ({active} / {})", open.len(), seen.shells.load(Ordering::Relaxed)), "-".into()));
    let (first_n, first_rss) = rss[1];
    rows.push((format!("idle: broker RSS per session, first {first_n} on a fresh broker (KiB)"), format!("{:.0}", first_rss.saturating_sub(rss[0].1) as f64 / first_n.max(1) as f64), "-".into()));
    for w in rss[1..].windows(2) {
        let ((a, ra), (b, rb)) = (w[0], w[1]);
        rows.push((format!("idle: broker RSS per session, slope {a} -> {b} sessions (KiB)"), format!("{:.0}", rb.saturating_sub(ra) as f64 / (b - a).max(1) as f64), "-".into()));
    }
    let last = rss[rss.len() - 1].1;
    rows.push((format!("idle: broker RSS with {} sessions (MiB)", open.len()), format!("{:.1}", last as f64 / 1024.0), "-".into()));

    // Idle: nothing is typed, no window ends, nobody decides anything.
    let audit_before = audit_rows(&broker);
    let t0 = cpu_ticks(pid);
    let wall = Instant::now();
    std::thread::sleep(IDLE_WINDOW);
    let ticks = cpu_ticks(pid) - t0;
    let secs = wall.elapsed().as_secs_f64();
    let audit_after = audit_rows(&broker);
    let hz = clock_ticks_per_second();
    rows.push((format!("idle: broker CPU with {} idle sessions, over {:.0} s (% of one core)", open.len(), secs), format!("{:.2}", ticks as f64 / hz / secs * 100.0), "-".into()));
    rows.push(("idle: audit rows written while idle".into(), format!("{}", audit_after.saturating_sub(audit_before)), "-".into()));

    // Close everything: the clients first, then the broker.
    rt.block_on(async {
        for s in &open {
            let _ = s.handle.disconnect(russh::Disconnect::ByApplication, "", "en").await;
        }
    });
    drop(open);
    broker.stop();
    rt.shutdown_timeout(Duration::from_secs(5));
}

/// Enrols `n` vendors: key pair, `user add`, a request made in the lobby, `request approve`.
fn enrol(rt: &tokio::runtime::Runtime, broker: &Broker, addr: SocketAddr, n: usize) -> Vec<Arc<client::Account>> {
    let next = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Arc<client::Account>>>> = (0..n).map(|_| std::sync::Mutex::new(None)).collect();
    std::thread::scope(|scope| {
        for _ in 0..6 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return;
                }
                let name = format!("idle-v{i:05}");
                let mut vendor = Vendor::new(&name);
                let info = broker.add_user(&name, "vendor", Some("idle-org"), Some(&vendor.public_key()));
                vendor.set_totp(&info.totp_secret);
                let key = Arc::new(russh::keys::load_secret_key(&vendor.key, None).expect("vendor key"));
                let account = Arc::new(client::Account { vendor: Arc::new(vendor), key, turn: tokio::sync::Mutex::new(()) });
                let command = format!("request {DEVICE} --minutes 240 --shell --reason 'idle benchmark'");
                let out = rt.block_on(client::lobby(addr, &account, &command)).unwrap_or_else(|e| panic!("{name}: lobby request: {e}"));
                let id = broker::parse_request_id(&out).unwrap_or_else(|| panic!("{name}: no request id in {out:?}"));
                let approver = format!("{APPROVER}-{i}");
                broker.add_user(&approver, "approver", None, None);
                broker.cli_as(&approver, &["request", "approve", &id.to_string()]).assert_success();
                *slots[i].lock().expect("lock") = Some(account);
            });
        }
    });
    slots.into_iter().map(|s| s.into_inner().expect("lock").expect("enrolled")).collect()
}

/// Opens the sessions numbered `range`, [`CONCURRENT_SIGN_INS`] at a time; returns those
/// opened and why the others failed.
fn open_sessions(rt: &tokio::runtime::Runtime, addr: SocketAddr, vendors: &[Arc<client::Account>], range: std::ops::Range<usize>) -> (Vec<client::Idle>, Vec<String>) {
    let gate = Arc::new(Semaphore::new(CONCURRENT_SIGN_INS));
    rt.block_on(async {
        let tasks: Vec<_> = range
            .map(|i| {
                let (account, gate) = (vendors[i % vendors.len()].clone(), gate.clone());
                tokio::spawn(async move {
                    let _permit = gate.acquire_owned().await.map_err(|e| e.to_string())?;
                    tokio::time::timeout(Duration::from_secs(120), client::idle_terminal(addr, &account, DEVICE)).await.map_err(|_| "timed out".to_owned())?
                })
            })
            .collect();
        let (mut opened, mut failed) = (Vec::new(), Vec::new());
        for t in tasks {
            match t.await {
                Ok(Ok(s)) => opened.push(s),
                Ok(Err(e)) => failed.push(e),
                Err(e) => failed.push(e.to_string()),
            }
        }
        (opened, failed)
    })
}

/// The number of sessions the broker lists as active.
fn active_sessions(broker: &Broker) -> usize {
    broker::as_array(broker.cli_json(&["session", "list", "--active", "--limit", "100000", "--json"])).len()
}

/// Waits until the broker lists at least `n` active sessions.
fn wait_active(broker: &Broker, n: usize) {
    crate::harness::proc::poll_until(&format!("{n} active sessions"), Duration::from_secs(120), || (active_sessions(broker) >= n).then_some(()));
}

/// The number of rows in the audit log.
fn audit_rows(broker: &Broker) -> usize {
    broker.audit().len()
}

/// Raises this process's open-file soft limit to the hard limit: it holds a client and a
/// device socket per session.
fn raise_nofile() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let now = getrlimit(Resource::Nofile);
    let _ = setrlimit(Resource::Nofile, Rlimit { current: now.maximum, maximum: now.maximum });
}
