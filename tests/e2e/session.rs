//! The main job: a vendor with an approved request reaches the device through the broker
//! with a plain OpenSSH client, and gets the device's output and exit status unchanged, in
//! an exec and in an interactive shell.

use crate::harness::scenario::Setup;
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

/// The device misbehaves: first it is gone (its port closed), then something accepts TCP on
/// its address and never sends an SSH banner. Each time the vendor is told the device is
/// unavailable, the broker's wait is bounded (it hangs up on the mute device by itself), and
/// nothing reaches a device.
#[test]
fn a_device_that_is_gone_or_never_greets_is_reported() {
    use std::io::Read;
    let mut s = Setup::new("pump-silent").start();
    s.grant(30, "INC-8001 device fault");
    let addr = s.device.addr;
    s.device.stop();

    let gone = s.exec("echo should-not-run");
    gone.assert_failure();
    assert!(gone.all_text().contains("unavailable"), "{}", gone.describe());

    let mute = std::net::TcpListener::bind(addr).unwrap();
    let holder = std::thread::spawn(move || {
        // Reads the broker's greeting and says nothing, until the broker hangs up.
        let Ok((mut c, _)) = mute.accept() else { return false };
        let mut buf = [0u8; 256];
        let mut got = 0;
        while let Ok(n) = c.read(&mut buf) {
            if n == 0 {
                break;
            }
            got += n;
        }
        got > 0
    });
    let out = s.exec("echo should-not-run");
    out.assert_failure();
    assert!(out.all_text().contains("unavailable"), "{}", out.describe());
    assert!(!out.stdout_text().contains("should-not-run"));
    assert!(holder.join().unwrap(), "the broker never tried the mute device");
}
