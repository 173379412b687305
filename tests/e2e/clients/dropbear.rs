//! Dropbear's client `dbclient` (Debian `dropbear-bin`), with the vendor's key converted by
//! `dropbearconvert`. dbclient reads the code from the terminal only, so it runs on a
//! pseudo-terminal (`tests/clients/pty_answer.py`) that types it at the prompt. Dropbear has
//! no SFTP client; `dbclient -B` is its tunnel. Its algorithms against the broker's hardened list: curve25519-sha256 with
//! strict key exchange, chacha20-poly1305 (its only cipher the broker takes: its AES-CTR would
//! need a MAC, and it has no encrypt-then-MAC one), and the broker's ssh-ed25519 host key.

use super::{helper, require, Rig};
use crate::harness::proc::{self, Capture, Output};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

struct Dropbear<'a> {
    rig: &'a Rig,
    key: PathBuf,
}

impl<'a> Dropbear<'a> {
    fn new(rig: &'a Rig) -> Dropbear<'a> {
        let convert = require("dropbearconvert", "dropbear-bin");
        let key = rig.work.path().join("vendor.dropbear");
        let mut cmd = Command::new(convert);
        cmd.args(["openssh", "dropbear"]).arg(&rig.s.vendor.key).arg(&key);
        proc::run(cmd, Duration::from_secs(30)).assert_success();
        Dropbear { rig, key }
    }

    /// `dbclient -y -p PORT -i KEY ARGS…` on a terminal, the code typed at its prompt, then
    /// `input` typed.
    fn run(&self, args: &[&str], input: Option<&str>) -> Output {
        proc::run(self.command(args, input), Duration::from_secs(90))
    }

    fn command(&self, args: &[&str], input: Option<&str>) -> Command {
        let dbclient = require("dbclient", "dropbear-bin");
        let mut cmd = Command::new("python3");
        cmd.arg(helper("pty_answer.py"))
            .args(["--prompt", "Verification code:", "--answer", &self.rig.s.vendor.totp().next_code()]);
        if let Some(input) = input {
            cmd.args(["--input", input]);
        }
        cmd.arg("--").arg(dbclient).args(["-y", "-p", &self.rig.s.broker.ssh_addr().port().to_string(), "-i"]).arg(&self.key).args(args);
        // dbclient keeps its known_hosts under HOME; -y accepts (and prints) the broker's key.
        cmd.env("HOME", self.rig.work.path());
        cmd
    }
}

#[test]
fn dbclient_runs_a_command_a_terminal_and_a_tunnel() {
    let rig = Rig::start("infusion-pump-51", "INC-8301 dbclient check");
    let db = Dropbear::new(&rig);
    let target = format!("{}@127.0.0.1", rig.s.device_login());

    let out = db.run(&["-T", &target, "echo from-dbclient; exit 6"], None);
    assert_eq!(out.code(), Some(6), "{}", out.describe());
    let text = out.stdout_text();
    assert!(text.contains("Verification code:") && text.contains("from-dbclient"), "{}", out.describe());
    assert!(text.contains(&rig.host_fingerprint("sha256")), "dbclient did not see the broker's host key:\n{}", out.describe());

    let out = db.run(&["-t", &target, "tty"], None);
    assert_eq!(out.code(), Some(0), "{}", out.describe());
    assert!(out.stdout_text().contains("/dev/pts/"), "{}", out.describe());

    // dbclient -B HOST:PORT is a netcat through the lobby login: the line typed after sign-in
    // reaches the device's port (an echo service) and comes back (the terminal shows it twice:
    // as typed, and as echoed); then the test hangs up.
    let (device, port) = rig.tunnel_spec();
    let lobby = format!("{}@127.0.0.1", rig.s.vendor.name);
    let line = "MSH|dropbear-tunnel-ping\n";
    let mut cmd = db.command(&["-B", &format!("{device}:{port}"), &lobby], Some(line));
    let (mut child, output) = Capture::spawn(cmd.stdin(Stdio::null()));
    let done = proc::poll(Duration::from_secs(90), || {
        (rig.echo.received() == line.len() as u64 && output.text().matches("dropbear-tunnel-ping").count() == 2).then_some(())
    });
    let _ = child.kill();
    let _ = child.wait();
    assert!(done.is_some(), "the line did not go through dbclient -B and back (the device's port got {} bytes):\n{}", rig.echo.received(), output.text());
    assert_eq!(rig.echo.accepted(), 1);
}

/// dbclient offers AES-CTR only with hmac-sha1 or hmac-sha2-256, which the broker does not
/// take (encrypt-then-MAC only): asked for AES-CTR, it stops at the key exchange, before any
/// sign-in; its default, chacha20-poly1305, is what the test above negotiated.
#[test]
fn dbclient_with_aes_ctr_stops_at_the_key_exchange() {
    let rig = Rig::start("infusion-pump-52", "INC-8302 dbclient algorithms");
    let db = Dropbear::new(&rig);
    let target = format!("{}@127.0.0.1", rig.s.device_login());
    for cipher in ["aes128-ctr", "aes256-ctr"] {
        let out = db.run(&["-c", cipher, "-T", &target, "echo ran"], None);
        assert_ne!(out.code(), Some(0), "{}", out.describe());
        assert!(out.stdout_text().contains("No matching algo"), "{}", out.describe());
        assert!(!out.stdout_text().contains("Verification code:"), "{}", out.describe());
    }
    assert_eq!(rig.s.device.accepted(), 0);
}
