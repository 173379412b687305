//! TCP tunnels through the broker with the real OpenSSH client (`ssh -N -L`, `ssh -W`) to a
//! real TCP service on the device's address: the granted port carries data both ways and is
//! recorded as a pcap that tshark reassembles into exactly the bytes sent; every other
//! destination (another host, an address spelling of the device, loopback, the broker's
//! port, a listed port that was not granted) is refused, audited, and never reaches a
//! listener; a tunnel asked for before the grant stays refused; the window's end closes an
//! open tunnel; a tunnel whose audit row cannot be written never carries a byte and ends the
//! session; and a large transfer leaves the broker's memory bounded.

use crate::harness::broker::number;
use crate::harness::proc::{self, Capture};
use crate::harness::scenario::{Scenario, Setup};
use crate::harness::tcp::{Behaviour, Service};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `ssh -N -L SOCKET:SPEC ...` as the vendor (lobby login), one Unix socket per forward so
/// no local port is raced for; returns once every socket exists.
struct Forward {
    child: Child,
    output: Capture,
    dir: tempfile::TempDir,
}

impl Forward {
    fn start(s: &Scenario, login: &str, specs: &[&str]) -> Forward {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = s.vendor.ssh(s.broker.ssh_addr(), login, crate::harness::vendor::Code::Next);
        cmd.args(["-N", "-o", "ExitOnForwardFailure=yes"]);
        for (i, spec) in specs.iter().enumerate() {
            cmd.arg("-L").arg(format!("{}:{spec}", dir.path().join(i.to_string()).display()));
        }
        cmd.arg("127.0.0.1").stdin(Stdio::null());
        let (child, output) = Capture::spawn(&mut cmd);
        let f = Forward { child, output, dir };
        proc::poll_until("the forwarded sockets", Duration::from_secs(90), || {
            (0..specs.len()).all(|i| f.socket(i).exists()).then_some(())
        });
        f
    }

    fn socket(&self, i: usize) -> PathBuf {
        self.dir.path().join(i.to_string())
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- ssh -N output ---\n{}", self.output.text());
        }
    }
}

/// Sends `data` through a forwarded socket, closes the sending half, returns all that came back.
fn through(sock: &Path, data: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(sock).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let data = data.to_vec();
    let sender = std::thread::spawn(move || {
        writer.write_all(&data).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    stream.read_to_end(&mut back).unwrap();
    sender.join().unwrap();
    back
}

/// A refused channel: ssh closes the local connection without a byte.
fn assert_closed_without_data(sock: &Path) {
    let mut stream = UnixStream::connect(sock).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut back = Vec::new();
    let _ = stream.write_all(b"hello?");
    let _ = stream.read_to_end(&mut back);
    assert!(back.is_empty(), "a refused tunnel returned data: {back:?}");
}

fn sample(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn refused_rows(s: &Scenario) -> Vec<Value> {
    s.broker
        .audit_of_kind("channel.refused")
        .into_iter()
        .filter(|r| r["detail"]["what"] == "direct-tcpip")
        .collect()
}

/// Both directions of the first TCP stream of a capture, as tshark reassembles them.
fn tshark_streams(pcap: &Path) -> (Vec<u8>, Vec<u8>) {
    let text = proc::tool("tshark", &["-r", pcap.to_str().unwrap(), "-q", "-z", "follow,tcp,raw,0"]);
    let (mut client, mut server) = (Vec::new(), Vec::new());
    let mut in_body = false;
    for line in text.lines() {
        if line.starts_with("Node 1:") {
            in_body = true;
            continue;
        }
        if !in_body || line.starts_with("====") {
            continue;
        }
        let (to, hex) = match line.strip_prefix('\t') {
            Some(h) => (&mut server, h),
            None => (&mut client, line),
        };
        to.extend(hex::decode(hex.trim()).unwrap_or_else(|e| panic!("tshark line {line:?}: {e}\n{text}")));
    }
    (client, server)
}

#[test]
fn granted_port_carries_data_and_everything_else_is_refused() {
    let granted = Service::start(Behaviour::Echo);
    let listed = Service::start(Behaviour::Echo);
    let s = Setup::new("modality-1").tcp_ports(&[granted.port(), listed.port()]).start();
    let dev = s.device.name.clone();
    let (gp, lp) = (granted.port(), listed.port());
    let broker_port = s.broker.ssh_addr().port();
    // Asks for both listed ports; the approver grants one.
    let id = s.grant_channels(30, "INC-7001 DICOM check", &format!("--tcp {gp} --tcp {lp}"), &["--channels", &format!("tcp:{gp}")]);
    assert_eq!(s.broker.cli_json(&["request", "show", &id.to_string(), "--json"])["granted_channels"], format!("tcp:{gp}"));

    let specs = [
        format!("{dev}:{gp}"),           // 0: granted
        format!("127.0.0.1:{gp}"),       // 1: the device's own address
        format!("localhost:{gp}"),       // 2: loopback by name
        format!("[::1]:{gp}"),           // 3: loopback, IPv6
        format!("{dev}:{lp}"),           // 4: listed on the device, not granted
        format!("{dev}:{broker_port}"),  // 5: the broker's own port
        format!("db.hospital.example:{gp}"), // 6: another host
    ];
    let spec_refs: Vec<&str> = specs.iter().map(String::as_str).collect();
    let fwd = Forward::start(&s, &s.vendor.name, &spec_refs);

    let data = sample(300_000);
    assert_eq!(through(&fwd.socket(0), &data), data, "the granted tunnel did not carry the bytes both ways");
    for i in 1..specs.len() {
        assert_closed_without_data(&fwd.socket(i));
    }
    // ssh -W through the same grant.
    let mut w = s.vendor.ssh(s.broker.ssh_addr(), &s.vendor.name, crate::harness::vendor::Code::Next);
    w.args(["-W", &specs[0], "127.0.0.1"]);
    let small = b"HL7|MSH|^~\\&|ping\r".to_vec();
    assert_eq!(stdio(w, &small), small, "ssh -W did not carry the bytes");

    // Only the two admitted tunnels reached a listener; nothing reached the device's sshd.
    // The first refusals of a connection are audited one by one, the rest summed up.
    let refused = proc::poll_until("five refusals in the audit log", Duration::from_secs(60), || {
        let rows = refused_rows(&s);
        (rows.len() >= 5).then_some(rows)
    });
    assert_eq!(granted.accepted(), 2, "refused tunnels reached the granted port's listener");
    assert_eq!(listed.accepted(), 0, "a port that was not granted was connected to");
    assert_eq!(s.device.accepted(), 0, "tunnels must not go through the device's sshd");
    for spec in &specs[1..6] {
        let (host, port) = spec.rsplit_once(':').unwrap();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        assert!(
            refused.iter().any(|r| r["detail"]["host"] == host && number(&r["detail"]["port"]) == port.parse().ok()),
            "no refusal audited for {spec}: {refused:?}"
        );
    }

    // The sixth is in the summary row written when the connection ends.
    drop(fwd);
    let summary = s.broker.wait_for_audit("channel.refused", Duration::from_secs(60), |r| r["detail"]["what"] == "summary");
    assert_eq!(number(&summary["detail"]["counts"]["direct-tcpip"]), Some(1), "{summary}");
    assert_eq!(refused_rows(&s).len(), 5, "a refusal beyond the first five got a row of its own");

    // Byte counts and the recording.
    let closed = s.broker.wait_for_audit("tunnel.closed", Duration::from_secs(60), |r| number(&r["detail"]["bytes_to_device"]) == Some(data.len() as u64));
    assert_eq!(number(&closed["detail"]["bytes_from_device"]), Some(data.len() as u64), "{closed}");
    let n = closed["detail"]["channel"].clone();
    let sealed = s.broker.wait_for_audit("recording.sealed", Duration::from_secs(60), |r| r["detail"]["what"] == "tunnel" && r["detail"]["channel"] == n);
    let path = s.broker.data_dir.join(sealed["detail"]["path"].as_str().unwrap());
    let sha = proc::tool("sha256sum", &[path.to_str().unwrap()]);
    assert_eq!(sealed["detail"]["sha256"], sha.split_whitespace().next().unwrap(), "sealed hash differs from the file's");
    // Listed with its session.
    let session = sealed["subject"].as_str().unwrap().trim_start_matches("session:").to_owned();
    let shown = s.broker.cli_json(&["session", "show", &session, "--json"]);
    assert!(
        shown["recordings"].as_array().unwrap().iter().any(|r| r["kind"] == "pcap" && r["sha256"] == sealed["detail"]["sha256"]),
        "the tunnel recording is not listed with session {session}: {shown}"
    );
    let (to_device, from_device) = tshark_streams(&path);
    assert_eq!(to_device.len(), data.len());
    assert!(to_device == data, "tshark's reassembled vendor→device stream differs from what was sent");
    assert!(from_device == data, "tshark's reassembled device→vendor stream differs from what came back");
}

/// Runs `cmd` with `input` on stdin; returns stdout (the command must succeed).
fn stdio(mut cmd: Command, input: &[u8]) -> Vec<u8> {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let err = Capture::default();
    err.pump(child.stderr.take().unwrap());
    let mut out = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut out).unwrap();
    let status = proc::wait_child(&mut child, Duration::from_secs(120)).expect("ssh -W finished");
    writer.join().unwrap();
    assert!(status.success(), "ssh -W failed: {status}\n{}", err.text());
    out
}

#[test]
fn tunnel_before_the_grant_stays_refused_and_files_need_their_own_grant() {
    let svc = Service::start(Behaviour::Echo);
    let s = Setup::new("lab-analyzer-2").tcp_ports(&[svc.port()]).start();
    let spec = format!("{}:{}", s.device.name, svc.port());
    let fwd = Forward::start(&s, &s.vendor.name, &[&spec]);
    assert_closed_without_data(&fwd.socket(0));
    s.broker.wait_for_audit("channel.refused", Duration::from_secs(60), |r| r["detail"]["reason"] == "no current grant for this device");

    let id = s.grant_channels(30, "INC-7002 HL7 feed", &format!("--tcp {}", svc.port()), &[]);
    s.wait_request_state(id, "approved", Duration::from_secs(30));
    // Nothing that was asked for before the grant was held open and let through.
    assert_eq!(svc.accepted(), 0);
    // A new tunnel on the same connection is admitted now.
    assert_eq!(through(&fwd.socket(0), b"MSH|after"), b"MSH|after");
    assert_eq!(svc.accepted(), 1);

    // The grant names a port only: file transfer is refused with a clear message.
    let mut sftp = s.vendor.file_client("sftp", s.broker.ssh_addr(), &s.device_login());
    sftp.args(["-b", "-", "127.0.0.1"]);
    let out = proc::run(sftp, Duration::from_secs(90));
    out.assert_failure();
    assert!(out.all_text().contains("not files"), "{}", out.describe());
    s.broker.wait_for_audit("channel.refused", Duration::from_secs(60), |r| r["detail"]["what"] == "files");
    assert_eq!(s.device.accepted(), 0, "the device was contacted for a channel that is not granted");
}

/// Fail closed: when the store refuses the `tunnel.opened` row (here a trigger the test adds,
/// as a failing database would), the tunnel is not opened, no byte reaches the device's
/// port, and the vendor's connection ends with the reason.
#[test]
fn a_tunnel_whose_row_cannot_be_written_carries_nothing_and_ends_the_session() {
    let svc = Service::start(Behaviour::Echo);
    let s = Setup::new("lis-gw-1").tcp_ports(&[svc.port()]).start();
    let id = s.grant_channels(30, "INC-7010 LIS interface check", &format!("--tcp {}", svc.port()), &[]);
    let spec = format!("{}:{}", s.device.name, svc.port());
    let mut fwd = Forward::start(&s, &s.vendor.name, &[&spec]);
    let db = s.broker.sqlite_path();
    let db = db.to_str().unwrap();
    proc::tool("sqlite3", &[db, "CREATE TRIGGER refuse_tunnel_rows BEFORE INSERT ON audit_log WHEN NEW.kind = 'tunnel.opened' \
        BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"]);
    assert_closed_without_data(&fwd.socket(0));
    assert_eq!(svc.received(), 0, "bytes reached the device through a tunnel that was never audited");
    proc::wait_child(&mut fwd.child, Duration::from_secs(60)).expect("the broker kept the vendor's connection open");
    assert!(fwd.output.text().contains("the audit log cannot be written"), "the vendor was not told why: {}", fwd.output.text());
    proc::tool("sqlite3", &[db, "DROP TRIGGER refuse_tunnel_rows;"]);
    let session = s.wait_session_ended(id, Duration::from_secs(60));
    assert_eq!(session["end_reason"], "the audit log cannot be written", "{session}");
    assert!(s.broker.audit_of_kind("tunnel.opened").is_empty(), "a tunnel row appeared after all");
    s.broker.cli_ok(&["audit", "verify"]);
}

#[test]
fn window_end_closes_an_open_tunnel() {
    let svc = Service::start(Behaviour::Echo);
    let s = Setup::new("pacs-gw-1").tcp_ports(&[svc.port()]).start();
    let id = s.grant_channels(5, "INC-7003 short query", &format!("--tcp {}", svc.port()), &["--for", "30s"]);
    let spec = format!("{}:{}", s.device.name, svc.port());
    let fwd = Forward::start(&s, &s.vendor.name, &[&spec]);
    let mut stream = UnixStream::connect(fwd.socket(0)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(90))).unwrap();
    stream.write_all(b"again").unwrap();
    let mut buf = [0u8; 5];
    stream.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"again");
    // Nothing more is sent: the broker alone must close the tunnel when the window ends.
    let mut rest = Vec::new();
    let n = stream.read_to_end(&mut rest).unwrap_or(0);
    assert_eq!(n, 0, "unexpected data {rest:?}");
    let closed = s.broker.wait_for_audit("tunnel.closed", Duration::from_secs(60), |r| r["detail"]["reason"] == "session ended");
    assert_eq!(number(&closed["detail"]["bytes_to_device"]), Some(5), "{closed}");
    let session = s.wait_session_ended(id, Duration::from_secs(60));
    assert_eq!(session["end_reason"], "window ended", "{session}");
    proc::poll_until("the service to see the tunnel closed", Duration::from_secs(60), || (svc.closed() >= 1).then_some(()));
}

/// Resident set size (`VmRSS`) or its peak so far (`VmHWM`) of a process, in KiB.
fn memory_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

/// A transfer much larger than any buffer: if the broker held what one side sent faster
/// than the other took it, its peak memory would grow by about the transfer's size. 128 MiB
/// here (set PORTCULLIS_TEST_TUNNEL_MIB=1024 for the 1 GiB run; the bench does that too).
#[test]
fn large_tunnel_transfer_keeps_broker_memory_bounded() {
    let mib: u64 = std::env::var("PORTCULLIS_TEST_TUNNEL_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(128);
    let total = mib * 1024 * 1024;
    let sink = Service::start(Behaviour::Sink);
    let s = Setup::new("ct-scanner-4").tcp_ports(&[sink.port()]).start();
    s.grant_channels(30, "INC-7005 firmware image", &format!("--tcp {}", sink.port()), &[]);
    let pid = s.broker.server_pid();
    let before = memory_kib(pid, "VmRSS");

    let mut cmd = s.vendor.ssh(s.broker.ssh_addr(), &s.vendor.name, crate::harness::vendor::Code::Next);
    cmd.args(["-W", &format!("{}:{}", s.device.name, sink.port()), "127.0.0.1"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let err = Capture::default();
    err.pump(child.stderr.take().unwrap());
    let writer = std::thread::spawn(move || {
        let chunk = sample(1024 * 1024);
        for _ in 0..mib {
            stdin.write_all(&chunk).unwrap();
        }
    });
    writer.join().unwrap();
    let status = proc::wait_child(&mut child, Duration::from_secs(600)).expect("ssh -W finished");
    assert!(status.success(), "ssh -W failed: {status}\n{}", err.text());
    proc::poll_until("the sink to receive everything", Duration::from_secs(60), || (sink.received() == total).then_some(()));
    let peak = memory_kib(pid, "VmHWM");
    let growth_mib = peak.saturating_sub(before) / 1024;
    eprintln!("broker RSS before {} KiB, peak {} KiB, growth {growth_mib} MiB for a {mib} MiB tunnel transfer", before, peak);
    assert!(growth_mib < 64, "the broker's peak memory grew by {growth_mib} MiB during a {mib} MiB transfer");
    let closed = s.broker.wait_for_audit("tunnel.closed", Duration::from_secs(60), |_| true);
    assert_eq!(number(&closed["detail"]["bytes_to_device"]), Some(total), "{closed}");
}

/// A device that stops reading: the vendor's client keeps writing, and everything upstream
/// (the broker included) must fill its bounded buffers and stop taking more, instead of
/// holding what the vendor sends. The test waits until the writer is held back (no progress
/// between two looks), then checks how much got through and the broker's memory, releases
/// the device and checks that every byte arrives.
#[test]
fn device_that_stops_reading_holds_the_vendor_back() {
    const MIB: u64 = 1024 * 1024;
    let total = 96 * MIB;
    let svc = Service::start(Behaviour::Stall);
    let s = Setup::new("dialysis-5").tcp_ports(&[svc.port()]).start();
    s.grant_channels(30, "INC-7006 log upload", &format!("--tcp {}", svc.port()), &[]);
    let pid = s.broker.server_pid();
    let before = memory_kib(pid, "VmRSS");

    let mut cmd = s.vendor.ssh(s.broker.ssh_addr(), &s.vendor.name, crate::harness::vendor::Code::Next);
    cmd.args(["-W", &format!("{}:{}", s.device.name, svc.port()), "127.0.0.1"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let err = Capture::default();
    err.pump(child.stderr.take().unwrap());
    let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let writer = {
        let written = written.clone();
        std::thread::spawn(move || {
            let chunk = sample(256 * 1024);
            while written.load(std::sync::atomic::Ordering::SeqCst) < total {
                stdin.write_all(&chunk).unwrap();
                written.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::SeqCst);
            }
        })
    };
    let held = proc::poll_until("the vendor's writes to be held back", Duration::from_secs(120), || {
        let a = written.load(std::sync::atomic::Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(700));
        let b = written.load(std::sync::atomic::Ordering::SeqCst);
        (a == b && a > 0 && a < total).then_some(a)
    });
    let rss = memory_kib(pid, "VmRSS");
    eprintln!("held back after {} KiB written; broker RSS {} KiB → {} KiB", held / 1024, before, rss);
    assert!(held < 64 * MIB, "{} MiB went in while the device read nothing", held / MIB);
    assert!(rss.saturating_sub(before) < 64 * 1024, "broker RSS grew from {before} to {rss} KiB while the device read nothing");
    assert_eq!(svc.received(), 0);

    svc.release();
    writer.join().unwrap();
    let status = proc::wait_child(&mut child, Duration::from_secs(600)).expect("ssh -W finished");
    assert!(status.success(), "ssh -W failed: {status}\n{}", err.text());
    proc::poll_until("every byte at the device", Duration::from_secs(60), || (svc.received() == total).then_some(()));
}

/// The other way: a vendor whose client stops reading. The device's service keeps sending;
/// the broker must stop reading from it once the vendor's SSH window is used up, not hold
/// what the device sends. The test does not read ssh's output until the device is held back.
#[test]
fn vendor_that_stops_reading_holds_the_device_back() {
    const MIB: u64 = 1024 * 1024;
    let total = 96 * MIB;
    let svc = Service::start(Behaviour::Source(total));
    let s = Setup::new("ventilator-9").tcp_ports(&[svc.port()]).start();
    s.grant_channels(30, "INC-7007 log download", &format!("--tcp {}", svc.port()), &[]);
    let pid = s.broker.server_pid();
    let before = memory_kib(pid, "VmRSS");

    let mut cmd = s.vendor.ssh(s.broker.ssh_addr(), &s.vendor.name, crate::harness::vendor::Code::Next);
    cmd.args(["-W", &format!("{}:{}", s.device.name, svc.port()), "127.0.0.1"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    // Keep stdin open (no EOF) and do not read stdout yet.
    let stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let err = Capture::default();
    err.pump(child.stderr.take().unwrap());
    let held = proc::poll_until("the device's sends to be held back", Duration::from_secs(120), || {
        let a = svc.received();
        std::thread::sleep(Duration::from_millis(700));
        let b = svc.received();
        (a == b && a > 0 && a < total).then_some(a)
    });
    let rss = memory_kib(pid, "VmRSS");
    eprintln!("device held back after {} KiB sent; broker RSS {} KiB → {} KiB", held / 1024, before, rss);
    assert!(held < 64 * MIB, "{} MiB left the device while the vendor read nothing", held / MIB);
    assert!(rss.saturating_sub(before) < 64 * 1024, "broker RSS grew from {before} to {rss} KiB while the vendor read nothing");

    let mut got = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n as u64,
        }
    }
    drop(stdin);
    let status = proc::wait_child(&mut child, Duration::from_secs(600)).expect("ssh -W finished");
    assert_eq!(got, total, "the vendor did not get every byte ({status})\n{}", err.text());
}
