//! The main job: a vendor with an approved request reaches the device through the broker
//! with a plain OpenSSH client, and gets the device's output and exit status unchanged, in
//! an exec and in an interactive shell.

use crate::harness::proc;
use crate::harness::scenario::{Scenario, Setup};
use serde_json::Value;
use std::time::Duration;

#[test]
fn approved_exec_returns_output_and_exit_code() {
    let s = Setup::new("pump-exec").start();
    s.grant(30, "INC-4411 firmware check");

    let out = s.exec("sh -c 'echo hi; echo oops >&2; exit 3'");
    assert_eq!(
        out.code(),
        Some(3),
        "exit status not passed through:\n{}",
        out.describe()
    );
    assert_eq!(out.stdout_text(), "hi\n", "{}", out.describe());
    assert!(
        out.stderr_text().contains("oops"),
        "stderr not passed through:\n{}",
        out.describe()
    );
    assert!(s.device.accepted() > 0);

    let out = s.exec("echo second");
    out.assert_success();
    assert_eq!(out.stdout_text(), "second\n");

    let started = s.broker.audit_of_kind("session.started");
    assert!(
        started.len() >= 2,
        "expected two session.started rows: {started:?}"
    );
}

#[test]
fn approved_shell_runs_commands_and_passes_exit_status() {
    let s = Setup::new("pump-shell").start();
    let id = s.grant(30, "INC-4412 log collection");

    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let out = term.run_in_shell("echo product=$((6*7))", Duration::from_secs(30));
    assert!(out.contains("product=42"), "{out:?}");
    let out = term.run_in_shell("tty", Duration::from_secs(30));
    assert!(
        out.contains("/dev/pts/"),
        "the shell has no terminal: {out:?}"
    );

    term.send_line("exit 5");
    let status = term.wait_exit(Duration::from_secs(30));
    assert_eq!(status.code(), Some(5), "{}", term.transcript());

    let session = s.wait_session_ended(id, Duration::from_secs(30));
    assert_eq!(
        session["vendor"],
        crate::harness::scenario::VENDOR,
        "{session}"
    );
    assert_eq!(session["device"], "pump-shell", "{session}");
}

/// Rounds of each kind of misbehaviour; after them the broker must be back where it was.
/// Each round is a sign-in, and TOTP codes are used once, so rounds cost time.
const ROUNDS: usize = 2;
/// Runtime tasks allowed above the baseline once everything has ended: the listener and
/// services hold a steady set, and the health request itself holds one or two.
const TASK_TOLERANCE: u64 = 3;
/// Resident memory allowed above the baseline after all rounds (allocator slack, not state
/// kept per round: a leak of each connection's state would grow with the rounds).
const RSS_BOUND: u64 = 16 * 1024 * 1024;

/// The device misbehaves, round after round: its SSH server dies in the middle of a session
/// while the vendor's terminal and a tunnel run; then it is gone (its port closed); then
/// something accepts TCP on its address and never sends an SSH banner. Each time the vendor
/// is told, every wait is bounded (the broker hangs up on the mute device by itself, and the
/// vendor's ssh ends on its own), nothing reaches a device, and nothing leaks: once the
/// rounds are over, the broker's runtime tasks are back to the baseline (within
/// [`TASK_TOLERANCE`]) and its resident memory within [`RSS_BOUND`] of it, as `/healthz`
/// reports them.
#[test]
fn a_device_that_dies_is_gone_or_never_greets_is_reported_and_nothing_leaks() {
    use crate::harness::tcp::{Behaviour, Service};
    use std::io::Read;
    let svc = Service::start(Behaviour::Echo);
    let mut s = Setup::new("pump-silent").tcp_ports(&[svc.port()]).start();
    s.grant_channels(30, "INC-8001 device fault", &format!("--shell --tcp {}", svc.port()), &[]);

    // A first round warms up what is made once (pools, caches); the baseline is taken after.
    dies_mid_session(&s, &svc);
    let base = settled(&s);
    for _ in 0..ROUNDS {
        dies_mid_session(&s, &svc);
    }

    let addr = s.device.addr;
    s.device.stop();
    for _ in 0..ROUNDS {
        let gone = s.exec("echo should-not-run");
        gone.assert_failure();
        assert!(gone.all_text().contains("unavailable"), "{}", gone.describe());
    }

    let mute = std::net::TcpListener::bind(addr).unwrap();
    let holder = std::thread::spawn(move || {
        // Reads each greeting of the broker and says nothing, until the broker hangs up.
        (0..ROUNDS)
            .map(|_| {
                let Ok((mut c, _)) = mute.accept() else { return false };
                c.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
                let (mut buf, mut got) = ([0u8; 256], 0);
                loop {
                    match c.read(&mut buf) {
                        Ok(0) => return got > 0,
                        Ok(n) => got += n,
                        // Still open after two minutes: the broker's wait is not bounded.
                        Err(_) => return false,
                    }
                }
            })
            .collect::<Vec<bool>>()
    });
    for _ in 0..ROUNDS {
        let out = s.exec("echo should-not-run");
        out.assert_failure();
        assert!(out.all_text().contains("unavailable"), "{}", out.describe());
        assert!(!out.stdout_text().contains("should-not-run"));
    }
    let greeted = holder.join().unwrap();
    assert!(greeted.iter().all(|g| *g), "the broker never tried the mute device, or never hung up on it: {greeted:?}");

    let mut last = Value::Null;
    let base_tasks = base["tasks"].as_u64().unwrap();
    proc::poll(Duration::from_secs(60), || {
        last = s.broker.health();
        (last["tasks"].as_u64().unwrap() <= base_tasks + TASK_TOLERANCE).then_some(())
    })
    .unwrap_or_else(|| panic!("tasks did not come back to the baseline {base} within 60 s: {last}"));
    let (rss0, rss) = (base["rss_bytes"].as_u64().unwrap(), last["rss_bytes"].as_u64().unwrap());
    eprintln!("baseline {base}; after {} rounds {last}", 3 * ROUNDS);
    assert!(rss <= rss0 + RSS_BOUND, "resident memory grew from {rss0} to {rss} bytes over the rounds");
}

/// One round: a terminal and a tunnel run through the broker, then the device's SSH server
/// and its TCP service die. The vendor is told on the terminal, the tunnel closes, and the
/// vendor's ssh ends by itself.
fn dies_mid_session(s: &Scenario, svc: &crate::harness::tcp::Service) {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("tunnel");
    let forward = format!("{}:{}:{}", sock.display(), s.device.name, svc.port());
    let mut term = s.interactive(&["-L", &forward]);
    term.wait_for_shell(Duration::from_secs(60));
    proc::poll_until("the forwarded socket", Duration::from_secs(60), || sock.exists().then_some(()));
    let mut tunnel = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    tunnel.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    tunnel.write_all(b"ping").unwrap();
    let mut echo = [0u8; 4];
    tunnel.read_exact(&mut echo).unwrap();
    assert_eq!(&echo, b"ping", "the tunnel does not run");

    assert!(s.device.kill_sessions() >= 1, "no device sshd was running");
    svc.cut();
    term.expect("the connection to the device was lost", Duration::from_secs(60));
    let mut rest = Vec::new();
    // The tunnel ends too (bounded by the read timeout above).
    let ended = tunnel.read_to_end(&mut rest);
    assert!(ended.is_ok() || ended.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset), "the tunnel did not end: {ended:?}");
    drop(tunnel);
    term.wait_exit(Duration::from_secs(60));
}

/// The broker's health once its task count has settled (two readings in a row agree).
fn settled(s: &Scenario) -> Value {
    let mut prev = s.broker.health();
    proc::poll(Duration::from_secs(60), || {
        let now = s.broker.health();
        let same = now["tasks"] == prev["tasks"];
        prev = now.clone();
        same.then_some(now)
    })
    .unwrap_or_else(|| panic!("the task count never settled: {prev}"))
}
