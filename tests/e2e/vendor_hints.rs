//! What the broker tells a vendor, checked with the real OpenSSH client: the lobby's `config`
//! block, pasted into an ssh config file, makes `ssh DEVICE`, `scp FILE DEVICE:PATH` and
//! `sftp DEVICE` work; hints name the real port and the right tool; a wrong code is told it
//! was wrong (and a reused one is told exactly the same); `ssh -J` through the broker is told
//! to use the `VENDOR:DEVICE` user name instead of a bare "administratively prohibited".

use crate::harness::broker::parse_request_id;
use crate::harness::proc;
use crate::harness::scenario::{Scenario, Setup, APPROVERS, VENDOR};
use crate::harness::vendor::Code;
use std::path::{Path, PathBuf};
use std::time::Duration;

const RUN: Duration = Duration::from_secs(120);

/// What a vendor's own `~/.ssh/config` would hold for every host: the key, and (for the
/// test) no host key checks and askpass for the code.
fn vendor_defaults(s: &Scenario, prompts: u32) -> String {
    format!(
        "Host *\n    IdentityFile {}\n    IdentitiesOnly yes\n    StrictHostKeyChecking no\n    UserKnownHostsFile /dev/null\n    PreferredAuthentications publickey,keyboard-interactive\n    BatchMode no\n    NumberOfPasswordPrompts {prompts}\n    ConnectTimeout 30\n",
        s.vendor.key.display()
    )
}

fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("ssh_config");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_config_block_makes_ssh_scp_and_sftp_just_work() {
    let s = Setup::new("pump-cfg").start();
    // Without a grant there is no block to paste, only how to ask.
    let none = s.lobby("config");
    none.assert_success();
    assert!(!none.stdout_text().lines().any(|l| l.starts_with("Host ")), "{}", none.describe());
    assert!(none.stdout_text().contains("request DEVICE"), "{}", none.describe());

    s.grant_channels(30, "INC-5001 firmware update", "--shell --files", &[]);
    let out = s.lobby("config");
    out.assert_success();
    let block = out.stdout_text();
    let port = s.broker.ssh_addr().port();
    for line in ["Host pump-cfg", "    HostName 127.0.0.1", &format!("    Port {port}"), &format!("    User {VENDOR}:pump-cfg")] {
        assert!(block.lines().any(|l| l == line), "no {line:?} in:\n{block}");
    }
    assert!(block.contains("IdentityFile"), "no IdentityFile hint:\n{block}");

    let work = tempfile::tempdir().unwrap();
    let config = write_config(work.path(), &format!("{block}\n{}", vendor_defaults(&s, 1)));

    let mut ssh = s.vendor.configured("ssh", &config, Code::Next);
    ssh.args(["pump-cfg", "echo through-the-alias"]);
    let out = proc::run(ssh, RUN);
    out.assert_success();
    assert!(out.stdout_text().contains("through-the-alias"), "{}", out.describe());

    let local = work.path().join("fw.bin");
    let bytes: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&local, &bytes).unwrap();
    let remote = s.device.dir().join("fw.bin");
    let mut scp = s.vendor.configured("scp", &config, Code::Next);
    scp.arg(&local).arg(format!("pump-cfg:{}", remote.display()));
    proc::run(scp, RUN).assert_success();
    assert_eq!(std::fs::read(&remote).unwrap(), bytes, "scp through the alias did not deliver the file");

    let back = work.path().join("fw-back.bin");
    // Commands on standard input, not `-b` (which turns on BatchMode and so allows no code).
    let mut sftp = s.vendor.configured("sftp", &config, Code::Next);
    sftp.arg("pump-cfg");
    let input = format!("get {} {}\nbye\n", remote.display(), back.display());
    proc::run_with_input(sftp, input.into_bytes(), RUN).assert_success();
    assert_eq!(std::fs::read(&back).unwrap(), bytes, "sftp through the alias did not bring the file back");
}

#[test]
fn hints_name_the_real_port_and_the_right_tool() {
    let s = Setup::new("pump-hint").tcp_ports(&[104]).start();
    let port = s.broker.ssh_addr().port();
    let out = s.lobby("request pump-hint --minutes 30 --reason INC-5002 logs --files --tcp 104");
    out.assert_success();
    let text = out.stdout_text();
    assert!(text.contains(&format!("sftp -P {port} -o User={VENDOR}:pump-hint 127.0.0.1")), "{text}");
    assert!(text.contains(&format!("ssh -p {port} -N -L 10104:pump-hint:104 {VENDOR}@127.0.0.1")), "{text}");
    assert!(!text.contains("BROKER"), "a placeholder instead of the broker's address:\n{text}");
    let id = parse_request_id(&text).unwrap();
    s.approve(id, APPROVERS[0], &[]).assert_success();
    s.wait_request_state(id, "approved", Duration::from_secs(30));

    // A terminal on a files-and-tunnel grant: refused, pointed to sftp and the tunnel.
    let out = s.exec("echo should-not-run");
    assert!(!out.success(), "{}", out.describe());
    let said = out.all_text();
    assert!(said.contains(&format!("sftp -P {port} -o User={VENDOR}:pump-hint 127.0.0.1")), "{said}");
    assert!(said.contains("-N -L 10104:pump-hint:104"), "{said}");
    assert!(!said.contains(&format!("  terminal: ssh -p {port} {VENDOR}:pump-hint@")), "pointed to ssh for a files grant:\n{said}");
    assert!(!out.stdout_text().contains("should-not-run"), "{}", out.describe());
    assert_eq!(s.device.accepted(), 0, "the device was contacted for a channel the grant does not name");
}

/// The `Wrong code` line ssh printed (the prompt's instructions), if any.
fn wrong_code_line(out: &proc::Output) -> Option<String> {
    out.stderr_text().lines().find(|l| l.contains("Wrong code")).map(str::to_owned)
}

#[test]
fn a_wrong_code_is_told_it_was_wrong_and_a_reused_one_the_same() {
    let s = Setup::new("pump-code").start();
    let work = tempfile::tempdir().unwrap();
    let port = s.broker.ssh_addr().port();
    // OpenSSH's default: the code prompt comes back after a wrong answer.
    let config = write_config(work.path(), &format!("Host broker\n    HostName 127.0.0.1\n    Port {port}\n    User {VENDOR}\n\n{}", vendor_defaults(&s, 2)));
    let wrong = s.vendor.totp().wrong_code();
    let mut ssh = s.vendor.configured("ssh", &config, Code::Exactly(wrong));
    ssh.args(["broker", "status"]);
    let out = proc::run(ssh, RUN);
    assert!(!out.success(), "{}", out.describe());
    let told = wrong_code_line(&out).unwrap_or_else(|| panic!("not told the code was wrong:\n{}", out.describe()));

    // A code that worked once is refused the second time with the very same words: nothing
    // says which of wrong, reused or locked it was.
    let (code, step) = s.vendor.totp().next();
    let mut first = s.vendor.configured("ssh", &config, Code::Exactly(code.clone()));
    first.args(["broker", "status"]);
    proc::run(first, RUN).assert_success();
    s.vendor.totp().mark_used(step);
    let mut again = s.vendor.configured("ssh", &config, Code::Exactly(code));
    again.args(["broker", "status"]);
    let out = proc::run(again, RUN);
    assert!(!out.success(), "a used code was accepted again:\n{}", out.describe());
    assert_eq!(wrong_code_line(&out).as_deref(), Some(told.as_str()), "{}", out.describe());
    for leak in ["reuse", "replay", "locked", "lockout"] {
        assert!(!told.to_lowercase().contains(leak), "the refusal says more than that it failed: {told}");
    }
}

#[test]
fn proxy_jump_is_told_to_use_the_vendor_device_user_name() {
    let s = Setup::new("pump-jump").start();
    s.grant(30, "INC-5003 check");
    let work = tempfile::tempdir().unwrap();
    let port = s.broker.ssh_addr().port();
    let config = write_config(work.path(), &format!("Host broker\n    HostName 127.0.0.1\n    Port {port}\n    User {VENDOR}\n\n{}", vendor_defaults(&s, 1)));
    let mut ssh = s.vendor.configured("ssh", &config, Code::Next);
    ssh.args(["-J", "broker", "service@pump-jump", "true"]);
    let out = proc::run(ssh, RUN);
    assert!(!out.success(), "{}", out.describe());
    let said = out.stderr_text();
    let line = said
        .lines()
        .find(|l| l.contains("open failed: administratively prohibited: portcullis:"))
        .unwrap_or_else(|| panic!("no explanation with the refusal:\n{}", out.describe()));
    assert!(line.contains("pump-jump port 22"), "{line}");
    assert!(line.contains(&format!("ssh -p {port} {VENDOR}:pump-jump@127.0.0.1")), "{line}");
    assert!(line.contains("VENDOR:DEVICE"), "{line}");
    assert_eq!(s.device.accepted(), 0, "the jump reached the device");
    s.broker.wait_for_audit("channel.refused", Duration::from_secs(30), |r| r["detail"]["what"] == "direct-tcpip" && r["detail"]["host"] == "pump-jump");

    // An address instead of a device name (the device's own would be no better) is refused
    // the same way, with the reason.
    let mut ssh = s.vendor.configured("ssh", &config, Code::Next);
    ssh.args(["-J", "broker", "-p", "22", "service@127.0.0.1", "true"]);
    let out = proc::run(ssh, RUN);
    assert!(!out.success(), "{}", out.describe());
    assert!(out.stderr_text().contains("administratively prohibited: portcullis: no tunnel to 127.0.0.1 port 22: an address"), "{}", out.describe());
    assert_eq!(s.device.accepted(), 0, "the jump reached the device");
}
