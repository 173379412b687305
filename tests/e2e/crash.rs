//! `kill -9` of the broker while a vendor has a terminal, a tunnel and an SFTP upload open,
//! then `serve` again on the same data, on SQLite and on PostgreSQL: the sessions left open
//! are ended in the record as `node crashed` by `system`, each recording is sealed as
//! truncated with the SHA-256 of what is on disk, the sessions page shows nothing running,
//! `session verify` and `audit verify` pass, and a second restart writes nothing. Two nodes on
//! one PostgreSQL store: the one that restarts closes only its own session, and the other
//! node's vendor goes on working.

use crate::harness::broker::{id_of, Broker};
use crate::harness::browser::{base_url, web_user, WebUser};
use crate::harness::pg::TestDb;
use crate::harness::proc::{self, Capture};
use crate::harness::scenario::Setup;
use crate::harness::tcp::{Behaviour, Service};
use crate::harness::totp::TotpClock;
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

/// The sessions page as `u` sees it, fetched with curl after signing in with a fresh code.
pub fn sessions_page(broker: &Broker, u: &WebUser, totp: &TotpClock) -> String {
    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().to_str().unwrap();
    let url = base_url(broker.web_addr());
    let code = totp.next_code();
    let login = proc::tool("curl", &[
        "-sk", "-c", jar, "-o", "/dev/null", "-w", "%{http_code}", "-H", &format!("Origin: {url}"),
        "--data-urlencode", &format!("username={}", u.name), "--data-urlencode", &format!("password={}", u.password),
        "--data-urlencode", &format!("code={code}"), &format!("{url}/login"),
    ]);
    assert_eq!(login.trim(), "303", "sign-in as {} refused", u.name);
    proc::tool("curl", &["-sk", "-b", jar, "--fail", &format!("{url}/sessions")])
}

/// The sessions shown under "Running now" on the sessions page.
fn running_on_page(page: &str) -> usize {
    let start = page.find("<section class=\"running\">").unwrap_or_else(|| panic!("no running section:\n{page}"));
    let section = &page[start..];
    let section = &section[..section.find("</section>").unwrap_or(section.len())];
    section.matches("data-session-id=").count()
}

fn sha256_of(path: &Path) -> String {
    proc::tool("sha256sum", &[path.to_str().unwrap()]).split_whitespace().next().unwrap().to_owned()
}

/// Every file under `dir` whose name ends with `ext`.
fn files_under(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(files_under(&p, ext));
        } else if p.to_str().is_some_and(|s| s.ends_with(ext)) {
            out.push(p);
        }
    }
    out
}

fn kill_mid_session_and_restart(store: Option<&str>) {
    let echo = Service::start(Behaviour::Echo);
    let mut setup = Setup::new("infusion-pump-9").tcp_ports(&[echo.port()]);
    if let Some(url) = store {
        setup = setup.store(url);
    }
    let mut s = setup.start();
    let approver = web_user(&s.broker, "carol", "approver");
    let approver_totp = TotpClock::new(&approver.totp_secret);
    let port = echo.port();
    s.grant_channels(60, "INC-9001 firmware", &format!("--shell --files --tcp {port}"), &[]);

    // One connection with a terminal and a tunnel.
    let socks = tempfile::tempdir().unwrap();
    let sock = socks.path().join("fwd");
    let mut term = s.interactive(&["-L", &format!("{}:{}:{port}", sock.display(), s.device.name)]);
    term.wait_for_shell(Duration::from_secs(60));
    let out = term.run_in_shell("echo before-the-crash", Duration::from_secs(30));
    assert!(out.contains("before-the-crash"), "{out:?}");
    proc::poll_until("the forwarded socket", Duration::from_secs(60), || sock.exists().then_some(()));
    let mut tunnel = UnixStream::connect(&sock).unwrap();
    tunnel.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    tunnel.write_all(b"ping through the tunnel").unwrap();
    let mut back = [0u8; 23];
    tunnel.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"ping through the tunnel");

    // Another with an SFTP upload large enough to be under way when the broker dies.
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("fw.bin");
    let bytes: Vec<u8> = (0..16 * 1024 * 1024).map(|i: usize| (i * 31 + i / 4099) as u8).collect();
    std::fs::write(&image, bytes).unwrap();
    let batch = work.path().join("batch");
    std::fs::write(&batch, format!("put {} {}\n", image.display(), s.device.dir().join("fw.bin").display())).unwrap();
    let mut sftp = s.vendor.file_client("sftp", s.broker.ssh_addr(), &s.device_login());
    // About 1 MB/s (`-l` is in Kbit/s), so the upload is still going when the broker dies.
    sftp.args(["-l", "8192", "-b", batch.to_str().unwrap(), "127.0.0.1"]).stdin(Stdio::null());
    let (mut sftp, sftp_out) = Capture::spawn(&mut sftp);
    let recordings = s.broker.data_dir.join("recordings");
    proc::poll_until("an SFTP recording past 1 MiB", Duration::from_secs(90), || {
        files_under(&recordings, ".pcap").iter().any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 1 << 20)).then_some(())
    });

    let active = s.broker.sessions(true);
    assert_eq!(active.len(), 2, "a terminal+tunnel session and an SFTP session: {active:?}");
    let page = sessions_page(&s.broker, &approver, &approver_totp);
    assert_eq!(running_on_page(&page), 2, "the page shows the two running sessions before the crash:\n{page}");

    s.broker.kill_server();
    let _ = sftp.kill();
    let _ = sftp.wait();
    let _ = sftp_out;
    drop(tunnel);
    drop(term);

    // Nothing was sealed or ended by the dying broker.
    assert!(s.broker.audit_of_kind("session.ended").is_empty());
    assert!(s.broker.audit_of_kind("recording.sealed").is_empty());

    s.broker.serve(&[]);
    assert!(s.broker.sessions(true).is_empty(), "sessions still active after the restart: {:?}", s.broker.sessions(true));
    for sess in &active {
        let id = id_of(sess);
        let row = s.broker.sessions(false).into_iter().find(|r| id_of(r) == id).unwrap();
        assert_eq!((row["state"].as_str(), row["end_reason"].as_str()), (Some("ended"), Some("node crashed")), "{row}");
        s.broker.cli_ok(&["session", "verify", &id.to_string()]);
    }
    let ended = s.broker.audit_of_kind("session.ended");
    assert_eq!(ended.len(), 2, "{ended:?}");
    assert!(ended.iter().all(|r| r["actor"] == "system" && r["detail"]["reason"] == "node crashed"), "{ended:?}");

    let sealed = s.broker.audit_of_kind("recording.sealed");
    let mut whats: Vec<&str> = sealed.iter().filter_map(|r| r["detail"]["what"].as_str()).collect();
    whats.sort_unstable();
    assert_eq!(whats, ["sftp", "terminal", "tunnel"], "{sealed:?}");
    for r in &sealed {
        let d = &r["detail"];
        assert_eq!((d["truncated"].as_bool(), d["why"].as_str(), r["actor"].as_str()), (Some(true), Some("node crashed"), Some("system")), "{r}");
        let path = PathBuf::from(d["path"].as_str().unwrap());
        assert_eq!(d["sha256"].as_str(), Some(sha256_of(&path).as_str()), "the seal is the hash of what is on disk: {r}");
        assert_eq!(d["bytes"].as_u64(), std::fs::metadata(&path).ok().map(|m| m.len()), "{r}");
    }
    let sftp_seal = sealed.iter().find(|r| r["detail"]["what"] == "sftp").unwrap();
    assert!(sftp_seal["detail"]["bytes"].as_u64().unwrap() > 1 << 20, "the SFTP recording holds the upload so far: {sftp_seal}");
    s.broker.cli_ok(&["audit", "verify"]);

    let page = sessions_page(&s.broker, &approver, &approver_totp);
    assert_eq!(running_on_page(&page), 0, "a ghost running session on the sessions page:\n{page}");
    assert!(page.contains("No vendor is connected to a device."), "the running list is not empty");

    // A second restart finds nothing left open and writes nothing.
    let rows = s.broker.audit().len();
    s.broker.stop();
    s.broker.serve(&[]);
    let after: Vec<Value> = s.broker.audit();
    let new: Vec<&Value> = after.iter().skip(rows).collect();
    assert!(new.iter().all(|r| r["kind"] != "session.ended" && r["kind"] != "recording.sealed" && r["kind"] != "recording.failed"), "the second restart wrote: {new:?}");
    assert_eq!(s.broker.audit_of_kind("session.ended").len(), 2);
    s.broker.cli_ok(&["audit", "verify"]);
}

#[test]
fn kill_9_mid_session_is_closed_and_sealed_at_restart_on_sqlite() {
    kill_mid_session_and_restart(None);
}

#[test]
fn kill_9_mid_session_is_closed_and_sealed_at_restart_on_postgres() {
    let db = TestDb::create();
    kill_mid_session_and_restart(Some(&db.url));
}

#[test]
fn a_restarting_node_closes_only_its_own_sessions_on_a_shared_store() {
    let db = TestDb::create();
    let s = Setup::new("infusion-pump-10").store(&db.url).serve_env("PORTCULLIS_NODE_ID", "node-a").start();
    s.grant_channels(60, "INC-9002 logs", "--shell", &[]);
    let node_b = s.broker.another_node(&[("PORTCULLIS_NODE_ID", "node-b")]);

    let mut on_a = s.interactive(&[]);
    on_a.wait_for_shell(Duration::from_secs(60));
    let id_a = proc::poll_until("node A's session", Duration::from_secs(30), || s.broker.sessions(true).first().map(id_of));
    let mut on_b = s.vendor.interactive(node_b.ssh_addr(), &s.device_login(), &[]);
    on_b.wait_for_shell(Duration::from_secs(60));
    let id_b = proc::poll_until("node B's session", Duration::from_secs(30), || {
        s.broker.sessions(true).iter().map(id_of).find(|id| *id != id_a)
    });

    // Node B is killed (its drop sends SIGKILL) and started again.
    drop(node_b);
    drop(on_b);
    let node_b = s.broker.another_node(&[("PORTCULLIS_NODE_ID", "node-b")]);
    let active: Vec<u64> = s.broker.sessions(true).iter().map(id_of).collect();
    assert_eq!(active, vec![id_a], "only node B's session is closed");
    let b = s.broker.sessions(false).into_iter().find(|r| id_of(r) == id_b).unwrap();
    assert_eq!(b["end_reason"], "node crashed", "{b}");
    let out = on_a.run_in_shell("echo still-here", Duration::from_secs(30));
    assert!(out.contains("still-here"), "node A's vendor was cut off: {out:?}");
    drop(node_b);
    on_a.send_line("exit");
    on_a.wait_exit(Duration::from_secs(60));
    let a = proc::poll_until("node A's session to end", Duration::from_secs(30), || {
        s.broker.sessions(false).into_iter().find(|r| id_of(r) == id_a && r["state"] == "ended")
    });
    assert_eq!(a["end_reason"], "vendor disconnected", "{a}");
    s.broker.cli_ok(&["audit", "verify"]);
}
