//! A full disk, made for real: the recordings folder, and separately the SQLite database, on
//! a small tmpfs the test fills. A running terminal whose recording can no longer be written
//! ends within a bounded time and byte count, its recording sealed as truncated with the hash
//! of what reached the disk; an SFTP upload caught by the full disk stops with at most the
//! stated bound more on the device than in the recording; no session starts while the disk is
//! full (the vendor is told why); a running terminal whose database disk fills is ended, with
//! the reason, although it writes no rows; and everything works again once space returns,
//! without a restart. The audit chain loses nothing.

use crate::harness::broker::{id_of, Broker};
use crate::harness::proc::{self, Capture};
use crate::harness::scenario::{Scenario, Setup};
use crate::harness::smalldisk::SmallDisk;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// What may reach the vendor or the device after the disk stops taking a terminal recording
/// (README, security model): 576 KiB queued plus the two 256 KiB write buffers.
/// Terminal output grows on the way (CR LF), so the check allows for that too.
const TERMINAL_BOUND: u64 = 2 * (576 * 1024 + 256 * 1024 + 256 * 1024);
/// The same for SFTP: 32 queued chunks of at most 32 KiB, plus the 1 MiB buffer.
const CAPTURE_BOUND: u64 = 32 * 32 * 1024 + 1024 * 1024;

fn sha256_of(path: &Path) -> String {
    proc::tool("sha256sum", &[path.to_str().unwrap()]).split_whitespace().next().unwrap().to_owned()
}

/// The session `id`'s row from `session list --json`.
fn session(broker: &Broker, id: u64) -> Value {
    broker.sessions(false).into_iter().find(|r| id_of(r) == id).unwrap_or_else(|| panic!("no session {id}"))
}

/// Polls until session `id` has ended; returns its row.
fn wait_ended(broker: &Broker, id: u64, timeout: Duration) -> Value {
    proc::poll_until(&format!("session {id} to end"), timeout, || {
        let row = session(broker, id);
        (row["state"] == "ended").then_some(row)
    })
}

/// The `recording.sealed` row of session `id`'s recording `what`, checked against the file:
/// the sealed hash is that of what is on disk, and `session verify` agrees.
fn assert_sealed_truncated(broker: &Broker, id: u64, what: &str) -> Value {
    let subject = format!("session:{id}");
    let sealed = broker.wait_for_audit("recording.sealed", Duration::from_secs(30), |r| r["subject"] == subject && r["detail"]["what"] == what);
    let d = &sealed["detail"];
    assert_eq!(d["truncated"], true, "{sealed}");
    assert!(d["why"].as_str().is_some_and(|w| w.contains("recording failed")), "{sealed}");
    let path = PathBuf::from(d["path"].as_str().unwrap());
    assert_eq!(d["sha256"].as_str(), Some(sha256_of(&path).as_str()), "{sealed}");
    broker.cli_ok(&["session", "verify", &id.to_string()]);
    sealed
}

/// The one active session, once there is one.
fn wait_active(s: &Scenario) -> u64 {
    proc::poll_until("a running session", Duration::from_secs(60), || s.broker.sessions(true).first().map(id_of))
}

#[test]
fn recordings_disk_full_ends_the_terminal_refuses_new_sessions_and_recovers() {
    let disk = SmallDisk::mount("8m");
    let s = Setup::new("pump-disk-1").serve_env("PORTCULLIS_RECORDING_DIR", disk.path().to_str().unwrap()).start();
    s.grant_channels(60, "INC-5001 logs", "--shell", &[]);

    // A terminal is running when the disk fills; then the device floods it with output.
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let id = wait_active(&s);
    let filled = disk.fill();
    assert!(disk.available() < 4096, "the disk is not full: {} bytes free after {filled}", disk.available());
    let before = term.transcript().len() as u64;
    let flood = std::time::Instant::now();
    term.send_line("yes portcullis-disk-full | head -c 100000000");
    term.expect("recording failed", Duration::from_secs(120));
    eprintln!("terminal: ended {:?} after the flood began", flood.elapsed());
    term.wait_exit(Duration::from_secs(60));
    let passed = term.transcript().len() as u64 - before;
    eprintln!("terminal: {passed} bytes reached the vendor after the disk filled");
    assert!(passed < TERMINAL_BOUND, "{passed} bytes reached the vendor after the disk filled (bound {TERMINAL_BOUND})");
    let row = wait_ended(&s.broker, id, Duration::from_secs(30));
    assert_eq!(row["end_reason"], "recording failed", "{row}");
    assert_sealed_truncated(&s.broker, id, "terminal");

    // While the disk is full no session starts, and the vendor is told why.
    let out = s.exec("echo should-not-run");
    out.assert_failure();
    assert!(!out.stdout_text().contains("should-not-run"), "{}", out.describe());
    assert!(out.all_text().contains("cannot be recorded"), "the vendor is not told why:\n{}", out.describe());
    s.broker.wait_for_audit("recording.failed", Duration::from_secs(30), |r| r["subject"] != format!("session:{id}"));

    // Space returns: the next session works, without a restart.
    disk.free();
    let out = s.exec("echo space-is-back");
    out.assert_success();
    assert_eq!(out.stdout_text(), "space-is-back\n", "{}", out.describe());
    s.broker.cli_ok(&["audit", "verify"]);
}

#[test]
fn recordings_disk_filling_mid_upload_stops_the_transfer_within_the_bound() {
    let disk = SmallDisk::mount("8m");
    let s = Setup::new("pump-disk-2").serve_env("PORTCULLIS_RECORDING_DIR", disk.path().to_str().unwrap()).start();
    s.grant_channels(60, "INC-5002 firmware", "--files", &[]);
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("fw.bin");
    let bytes: Vec<u8> = (0..16 * 1024 * 1024).map(|i: usize| (i * 31 + i / 4099) as u8).collect();
    std::fs::write(&image, bytes).unwrap();
    let remote = s.device.dir().join("fw.bin");
    let batch = work.path().join("batch");
    std::fs::write(&batch, format!("put {} {}\n", image.display(), remote.display())).unwrap();
    let mut sftp = s.vendor.file_client("sftp", s.broker.ssh_addr(), &s.device_login());
    // About 1 MB/s (`-l` is in Kbit/s), so the disk fills with the upload under way.
    sftp.args(["-l", "8192", "-b", batch.to_str().unwrap(), "127.0.0.1"]).stdin(Stdio::null());
    let (mut child, output) = Capture::spawn(&mut sftp);
    let id = wait_active(&s);
    let capture = proc::poll_until("the SFTP recording past 1 MiB", Duration::from_secs(90), || {
        pcaps(disk.path()).into_iter().find(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 1 << 20))
    });
    disk.fill();
    let status = proc::wait_child(&mut child, Duration::from_secs(120)).unwrap_or_else(|| panic!("sftp still running:\n{}", output.text()));
    assert!(!status.success(), "the upload finished although the disk was full:\n{}", output.text());
    let row = wait_ended(&s.broker, id, Duration::from_secs(60));
    assert_eq!(row["end_reason"], "recording failed", "{row}");
    assert_sealed_truncated(&s.broker, id, "sftp");
    let recorded = std::fs::metadata(&capture).unwrap().len();
    let on_device = std::fs::metadata(&remote).map(|m| m.len()).unwrap_or(0);
    eprintln!("sftp: {on_device} bytes on the device, {recorded} bytes in the recording");
    assert!(on_device < 16 * 1024 * 1024, "the whole image reached the device");
    assert!(on_device <= recorded + CAPTURE_BOUND, "{on_device} bytes on the device, {recorded} recorded (bound {CAPTURE_BOUND})");
    s.broker.cli_ok(&["audit", "verify"]);
}

/// Every `.pcap` under `dir`.
fn pcaps(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(pcaps(&p));
        } else if p.extension().is_some_and(|e| e == "pcap") {
            out.push(p);
        }
    }
    out
}

#[test]
fn sqlite_disk_full_ends_the_session_refuses_sign_in_clearly_loses_nothing_and_recovers() {
    let disk = SmallDisk::mount("32m");
    let url = format!("sqlite://{}/portcullis.db", disk.path().display());
    let s = Setup::new("pump-db-1").store(&url).start();
    s.grant_channels(60, "INC-5003 logs", "--shell", &[]);

    // A terminal is running, writing no rows, when the database's disk fills: the node sees
    // the disk below its reserve and ends the session, saying why.
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let id = wait_active(&s);
    disk.fill();
    term.expect("nothing may go on unaudited; the session is closed.", Duration::from_secs(60));
    term.wait_exit(Duration::from_secs(60));

    // Signing in needs a write (the code is used once): refused, with the reason.
    let out = s.exec("echo should-not-run");
    out.assert_failure();
    assert!(!out.stdout_text().contains("should-not-run"), "{}", out.describe());
    assert!(out.all_text().contains("cannot record this sign-in"), "the vendor is not told why:\n{}", out.describe());

    // Space returns: the session's end and its recording's seal land, with no restart, and
    // the next sign-in works.
    disk.free();
    let row = wait_ended(&s.broker, id, Duration::from_secs(60));
    assert_eq!(row["end_reason"], "store unavailable", "{row}");
    let subject = format!("session:{id}");
    s.broker.wait_for_audit("recording.sealed", Duration::from_secs(30), |r| r["subject"] == subject);
    s.broker.cli_ok(&["session", "verify", &id.to_string()]);
    let out = s.exec("echo space-is-back");
    out.assert_success();
    assert_eq!(out.stdout_text(), "space-is-back\n", "{}", out.describe());
    s.broker.cli_ok(&["audit", "verify"]);
}
