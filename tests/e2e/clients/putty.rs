//! PuTTY's command-line tools (Debian `putty-tools`): `plink`, `pscp` and `psftp`, with the
//! vendor's OpenSSH key converted by `puttygen`. The code is typed at PuTTY's prompt on a
//! pseudo-terminal once, and otherwise given with `-pwfile`, which PuTTY uses as the answer to
//! the keyboard-interactive prompt (the broker offers no `password` method, so it is never sent
//! as a password). The broker's host key is pinned with `-hostkey`, in the
//! formats PuTTY takes: `SHA256:…` and `MD5:…` fingerprints and the key itself; a fingerprint
//! that does not match ends the connection before anything is sent.

use super::{helper, require, tunnel_payload, Rig};
use crate::harness::proc::{self, Output};
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(90);

/// The vendor's key in PuTTY's format and a way to run PuTTY's tools against the rig.
struct Putty<'a> {
    rig: &'a Rig,
    ppk: PathBuf,
    hostkey: String,
    codes: AtomicUsize,
}

impl<'a> Putty<'a> {
    fn new(rig: &'a Rig) -> Putty<'a> {
        let puttygen = require("puttygen", "putty-tools");
        let ppk = rig.work.path().join("vendor.ppk");
        let mut cmd = Command::new(puttygen);
        cmd.arg(&rig.s.vendor.key).args(["-O", "private", "-o"]).arg(&ppk);
        proc::run(cmd, TIMEOUT).assert_success();
        Putty { rig, ppk, hostkey: rig.host_fingerprint("sha256"), codes: AtomicUsize::new(0) }
    }

    /// `PROGRAM -batch -P PORT -i KEY -hostkey HOSTKEY -pwfile CODE`, with a fresh code.
    fn command(&self, program: &str, hostkey: &str) -> Command {
        let n = self.codes.fetch_add(1, Ordering::SeqCst);
        let code = self.rig.work.path().join(format!("putty-code-{n}"));
        std::fs::write(&code, format!("{}\n", self.rig.s.vendor.totp().next_code())).unwrap();
        let mut cmd = Command::new(require(program, "putty-tools"));
        cmd.args(["-batch", "-P", &self.rig.s.broker.ssh_addr().port().to_string(), "-i"])
            .arg(&self.ppk)
            .args(["-hostkey", hostkey, "-pwfile"])
            .arg(code);
        cmd
    }

    /// `plink … LOGIN@127.0.0.1 EXTRA…`.
    fn plink(&self, login: &str, extra: &[&str]) -> Output {
        self.plink_with_key(&self.hostkey, login, extra)
    }

    fn plink_with_key(&self, hostkey: &str, login: &str, extra: &[&str]) -> Output {
        let mut cmd = self.command("plink", hostkey);
        cmd.args(["-ssh", "-l", login]);
        let (options, command): (Vec<&str>, Vec<&str>) = extra.iter().partition(|a| a.starts_with('-'));
        cmd.args(options).arg("127.0.0.1").args(command);
        proc::run(cmd, TIMEOUT)
    }
}

#[test]
fn plink_runs_a_command_a_terminal_and_a_tunnel() {
    let rig = Rig::start("ventilator-31", "INC-8101 plink check");
    let putty = Putty::new(&rig);
    let login = rig.s.device_login();

    // The command closes its output a second before it exits, so the device's EOF comes well
    // before its exit status: plink, having sent its own EOF, closes the channel on seeing
    // the broker's, and the status must already be there.
    let out = putty.plink(&login, &["echo from-plink; exec >&- 2>&-; sleep 1; exit 3"]);
    assert_eq!(out.code(), Some(3), "{}", out.describe());
    assert_eq!(out.stdout_text(), "from-plink\n", "{}", out.describe());
    assert!(out.stderr_text().contains("Keyboard-interactive"), "the code was not asked by keyboard-interactive:\n{}", out.describe());

    // A terminal, with the code typed at PuTTY's prompt as a person would (plink on a
    // pseudo-terminal, no -pwfile). pty-req and exec are sent together; both must be answered.
    let mut typed = Command::new("python3");
    // After a sign-in on its terminal, PuTTY waits for Return ("Access granted. Press Return to
    // begin session."), so that a server cannot fake its prompts.
    let code = rig.s.vendor.totp().next_code();
    typed.arg(helper("pty_answer.py")).args(["--prompt", "Verification code:", "--answer", &code, "--prompt", "Press Return", "--answer", "", "--"]);
    typed.arg(require("plink", "putty-tools")).args(["-ssh", "-P", &rig.s.broker.ssh_addr().port().to_string(), "-i"]).arg(&putty.ppk);
    typed.args(["-hostkey", &putty.hostkey, "-l", &login, "-t", "127.0.0.1", "tty"]);
    let out = proc::run(typed, TIMEOUT);
    out.assert_success();
    assert!(out.stdout_text().contains("/dev/pts/"), "{}", out.describe());
    assert!(!out.all_text().contains("refused"), "{}", out.describe());

    // A tunnel: plink -nc, through the lobby login.
    let (device, port) = rig.tunnel_spec();
    let mut cmd = putty.command("plink", &putty.hostkey);
    cmd.args(["-ssh", "-l", &rig.s.vendor.name, "-nc", &format!("{device}:{port}"), "127.0.0.1"]);
    let data = tunnel_payload();
    let out = proc::run_with_input(cmd, data.clone(), TIMEOUT);
    assert!(out.stdout == data, "the tunnel did not carry the bytes both ways:\n{}", out.describe());
    assert_eq!(rig.echo.accepted(), 1);
}

#[test]
fn pscp_uploads_and_psftp_downloads_with_the_sha256_logged() {
    let rig = Rig::start("infusion-pump-31", "INC-8102 firmware by pscp");
    let putty = Putty::new(&rig);
    let image = rig.sample_file("fw-3.1.bin", 300_000, 0x31);
    let remote = rig.s.device.dir().join("fw-pscp.bin");

    let mut up = putty.command("pscp", &putty.hostkey);
    up.args(["-sftp", "-l", &rig.s.device_login()]).arg(&image).arg(format!("127.0.0.1:{}", remote.display()));
    proc::run(up, TIMEOUT).assert_success();
    assert_eq!(super::sha256_of(&remote), super::sha256_of(&image));
    rig.assert_upload_logged("/fw-pscp.bin", &image);

    let back = rig.work.path().join("fw-back.bin");
    let batch = rig.work.path().join("psftp-batch");
    std::fs::write(&batch, format!("get {} {}\n", remote.display(), back.display())).unwrap();
    let mut down = putty.command("psftp", &putty.hostkey);
    down.args(["-l", &rig.s.device_login(), "-b"]).arg(&batch).arg("127.0.0.1");
    proc::run(down, TIMEOUT).assert_success();
    assert_eq!(super::sha256_of(&back), super::sha256_of(&image));
    rig.assert_download_logged("/fw-pscp.bin", &image);
}

/// `-hostkey` takes the SHA-256 fingerprint as `ssh-keygen -l` prints it, the MD5 one (with
/// or without `MD5:`) and the public key's base64; a fingerprint of another key is refused
/// before sign-in, and a bare SHA-256 hash without its `SHA256:` prefix is not understood.
#[test]
fn plink_hostkey_takes_sha256_md5_and_the_key_and_refuses_another() {
    let rig = Rig::without_grant("monitor-31");
    let putty = Putty::new(&rig);
    let login = rig.s.vendor.name.clone();
    let md5 = rig.host_fingerprint("md5");
    let blob = rig.host_key_line().split_whitespace().nth(1).unwrap().to_owned();
    for hostkey in [md5.clone(), blob] {
        let out = putty.plink_with_key(&hostkey, &login, &["status"]);
        assert!(out.success(), "-hostkey {hostkey} was not taken:\n{}", out.describe());
    }

    let other = "SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let out = putty.plink_with_key(other, &login, &["status"]);
    out.assert_failure();
    assert!(out.all_text().contains("Host key not in manually configured list"), "{}", out.describe());
    assert!(!out.all_text().contains("Keyboard-interactive"), "signed in despite the wrong host key:\n{}", out.describe());

    let bare = putty.hostkey.trim_start_matches("SHA256:").to_owned();
    let out = putty.plink_with_key(&bare, &login, &["status"]);
    out.assert_failure();
    assert!(out.all_text().contains("not a valid format"), "{}", out.describe());
}
