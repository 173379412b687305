//! Checks of the test infrastructure itself, with no broker involved: the sshd device
//! answers a direct `ssh` and counts connections, a replaced host key is really served,
//! `SSH_ASKPASS` answers ssh's prompts from the file the harness wrote, the TOTP codes are
//! the RFC 6238 ones, and the throwaway PostgreSQL is reachable. When one of these fails,
//! the broker tests' failures are not about the broker.

use crate::harness::device::Device;
use crate::harness::pg::TestDb;
use crate::harness::proc;
use crate::harness::totp::{unix_now, TotpClock, STEP};
use crate::harness::vendor::Interactive;
use std::process::Command;
use std::time::Duration;

#[test]
fn device_answers_direct_ssh_and_counts_connections() {
    let device = Device::start("selftest-device");
    assert_eq!(device.accepted(), 0);

    let out = device.direct_exec("echo hi");
    out.assert_success();
    assert_eq!(out.stdout_text(), "hi\n");
    assert_eq!(device.accepted(), 1);

    let out = device.direct_exec("sh -c 'echo out; echo err >&2; exit 3'");
    assert_eq!(out.code(), Some(3), "{}", out.describe());
    assert_eq!(out.stdout_text(), "out\n");
    assert!(out.stderr_text().contains("err"), "{}", out.describe());
    assert_eq!(device.accepted(), 2);

    // The command the recording test runs prints exactly these bytes.
    let out = device.direct_exec(r"printf 'caf\303\251 \377\376 end'");
    out.assert_success();
    assert_eq!(out.stdout, b"caf\xc3\xa9 \xff\xfe end");
}

#[test]
fn device_serves_a_replaced_host_key() {
    let device = Device::start("selftest-hostkey");
    let old_line = device.host_key_line();
    assert!(old_line.starts_with("ssh-ed25519 AAAA"), "{old_line}");

    let known_hosts = device.dir().join("known_hosts");
    let pin = |line: &str| {
        std::fs::write(
            &known_hosts,
            format!("[127.0.0.1]:{} {line}\n", device.addr.port()),
        )
        .unwrap()
    };
    let strict = |cmd: &str| {
        let mut ssh = device.direct_ssh(&[]);
        // Later -o options do not override earlier ones in ssh, so put these first.
        let args: Vec<_> = ssh.get_args().map(|a| a.to_owned()).collect();
        ssh = Command::new("ssh");
        ssh.args(["-o", "StrictHostKeyChecking=yes", "-o"])
            .arg(format!("UserKnownHostsFile={}", known_hosts.display()))
            .args(args)
            .arg(cmd);
        proc::run(ssh, Duration::from_secs(60))
    };

    pin(&old_line);
    strict("true").assert_success();

    let new_line = device.replace_host_key();
    assert_ne!(new_line, old_line);
    let out = strict("true");
    out.assert_failure();
    assert!(
        out.stderr_text()
            .contains("HOST IDENTIFICATION HAS CHANGED"),
        "{}",
        out.describe()
    );

    pin(&new_line);
    strict("true").assert_success();
}

#[test]
fn interactive_terminal_drives_a_device_shell() {
    let device = Device::start("selftest-tty");
    let mut term = Interactive::spawn({
        let mut cmd = device.direct_ssh(&["-tt"]);
        cmd.env("TERM", "dumb");
        cmd
    });
    term.wait_for_shell(Duration::from_secs(30));
    let out = term.run_in_shell("echo product=$((6*7))", Duration::from_secs(30));
    assert!(out.contains("product=42"), "{out:?}");
    let out = term.run_in_shell("tty", Duration::from_secs(30));
    assert!(out.contains("/dev/pts/"), "{out:?}");
    term.send_line("exit 5");
    assert_eq!(
        term.wait_exit(Duration::from_secs(30)).code(),
        Some(5),
        "{}",
        term.transcript()
    );
}

#[test]
fn askpass_answers_ssh_prompts_from_the_answer_file() {
    // ssh asks for a key's passphrase the same way it asks keyboard-interactive questions,
    // so an encrypted key exercises the askpass plumbing against a plain sshd.
    let device = Device::start("selftest-askpass");
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("locked_key");
    proc::tool(
        "ssh-keygen",
        &[
            "-q",
            "-t",
            "ed25519",
            "-N",
            "123456",
            "-C",
            "locked",
            "-f",
            key.to_str().unwrap(),
        ],
    );
    device.authorize(&key.with_extension("pub"));

    let vendor = crate::harness::vendor::Vendor::new("selftest-vendor");
    let login = device.login.clone();
    let attempt = |answer: &str| {
        let mut cmd = vendor.ssh(
            device.addr,
            &login,
            crate::harness::vendor::Code::Exactly(answer.to_owned()),
        );
        cmd.arg("-i")
            .arg(&key)
            .args(["-o", "IdentitiesOnly=yes", "127.0.0.1", "echo via-askpass"]);
        proc::run(cmd, Duration::from_secs(60))
    };

    let out = attempt("654321");
    out.assert_failure();
    let out = attempt("123456");
    out.assert_success();
    assert_eq!(out.stdout_text(), "via-askpass\n");
    let prompts = vendor.prompts();
    assert_eq!(
        prompts.matches("passphrase").count(),
        2,
        "prompts seen: {prompts}"
    );
}

#[test]
fn totp_codes_follow_rfc_6238_and_never_repeat_a_step() {
    // RFC 6238 appendix B, SHA-1 secret "12345678901234567890", T = 59 s (step 1).
    let clock = TotpClock::new("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    assert_eq!(clock.code_at_step(1), "287082");
    assert_eq!(clock.code_at_step(1_111_111_109 / STEP), "081804");

    let before = unix_now() / STEP;
    let steps: Vec<u64> = (0..2).map(|_| clock.next().1).collect();
    let after = unix_now() / STEP;
    assert!(steps[0] < steps[1], "{steps:?}");
    assert!(
        steps[0] + 1 >= before && steps[1] <= after + 1,
        "{steps:?} not within {before}..={after} ± 1"
    );

    let wrong = clock.wrong_code();
    let now = unix_now() / STEP;
    for step in now - 1..=now + 1 {
        assert_ne!(wrong, clock.code_at_step(step));
    }
}

#[test]
fn throwaway_postgres_is_reachable() {
    let db = TestDb::create();
    assert_eq!(db.sql("SELECT 40 + 2").trim(), "42");
    assert_eq!(db.sql("SELECT current_database()").trim(), db.name);
}
