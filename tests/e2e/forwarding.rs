//! Least privilege on the SSH side: agent forwarding, X11 forwarding and remote port
//! forwarding are refused and audited as `channel.refused`, while the session they were
//! asked for on still works. The device must never see an agent or a display.

use crate::harness::proc;
use crate::harness::scenario::{Scenario, Setup};
use crate::harness::vendor::Code;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Waits for a `channel.refused` row whose `detail.what` is `what`.
fn assert_refusal_audited(s: &Scenario, what: &str) {
    s.broker
        .wait_for_audit("channel.refused", Duration::from_secs(30), |r| {
            r["detail"]["what"] == what
        });
}

/// A real ssh-agent, so that `ssh -A` has an agent to offer.
struct Agent {
    child: Child,
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Agent {
    fn start() -> Agent {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent");
        proc::poll_until("ssh-agent's socket", Duration::from_secs(30), || {
            socket.exists().then_some(())
        });
        Agent {
            child,
            socket,
            _dir: dir,
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn agent_forwarding_is_refused_and_audited() {
    let s = Setup::new("pump-agent").start();
    s.grant(30, "INC-8001 agent test");
    let agent = Agent::start();

    let mut cmd = s
        .vendor
        .ssh(s.broker.ssh_addr(), &s.device_login(), Code::Next);
    cmd.env("SSH_AUTH_SOCK", &agent.socket).args([
        "-A",
        "127.0.0.1",
        "echo ok; echo agent=${SSH_AUTH_SOCK:-none}",
    ]);
    let out = proc::run(cmd, Duration::from_secs(90));
    out.assert_success();
    assert_eq!(out.stdout_text(), "ok\nagent=none\n", "{}", out.describe());
    assert_refusal_audited(&s, "agent");
}

#[test]
fn x11_forwarding_is_refused_and_audited() {
    let s = Setup::new("pump-x11").start();
    s.grant(30, "INC-8002 x11 test");

    // DISPLAY is set for every vendor ssh; without xauth, ssh asks with made-up cookie data.
    let out = s.exec_with(&["-X"], "echo ok; echo display=${DISPLAY:-none}");
    out.assert_success();
    assert_eq!(
        out.stdout_text(),
        "ok\ndisplay=none\n",
        "{}",
        out.describe()
    );
    assert_refusal_audited(&s, "x11");
}

#[test]
fn remote_forwarding_is_refused_and_audited() {
    let s = Setup::new("pump-rfwd").start();
    s.grant(30, "INC-8003 remote forward test");

    let out = s.exec_with(
        &["-R", "0:127.0.0.1:1", "-o", "ExitOnForwardFailure=no"],
        "echo ok",
    );
    out.assert_success();
    assert_eq!(out.stdout_text(), "ok\n", "{}", out.describe());
    assert_refusal_audited(&s, "remote-forward");
}

/// Finding: one signed-in connection with 300 `SetEnv` variables wrote 283 `channel.refused`
/// rows, and Debian's default `SendEnv LANG LC_*` put one on every connection. Environment
/// variables are now refused silently and counted; a connection that keeps asking is closed
/// and leaves one summary row.
#[test]
fn refusals_cannot_flood_the_log() {
    let s = Setup::new("pump-env").start();
    s.grant(30, "INC-7001 env");
    let before = s.broker.audit_of_kind("channel.refused").len();
    let ok = s.exec_with(&["-o", "SetEnv=LANG=C.UTF-8 LC_ALL=C"], "echo env-ok");
    ok.assert_success();
    assert!(ok.stdout_text().contains("env-ok"), "{}", ok.describe());
    assert_eq!(s.broker.audit_of_kind("channel.refused").len(), before, "LANG and LC_* wrote a row");

    let vars: Vec<String> = (0..300).map(|i| format!("V{i}=x")).collect();
    let flood = s.exec_with(&["-o", &format!("SetEnv={}", vars.join(" "))], "echo flood-ran");
    assert!(!flood.stdout_text().contains("flood-ran"), "the flooding connection was served: {}", flood.describe());
    let row = s.broker.wait_for_audit("channel.refused", Duration::from_secs(60), |r| r["detail"]["what"] == "summary");
    assert!(row["detail"]["counts"]["env"].as_u64().is_some_and(|n| n >= 16), "{row}");
    let rows = s.broker.audit_of_kind("channel.refused").len() - before;
    assert!(rows <= 2, "{rows} refusal rows for one connection");
}
