//! paramiko (PyPI), the SSH library of vendors' Python tools, against the broker: it signs
//! in with the key and then the TOTP code through keyboard-interactive, although it asks for
//! the "ssh-userauth" service again before the second method (the broker answers that
//! repeated request as OpenSSH does; without the answer paramiko waits until the sign-in
//! limit); then an exec with its output and exit status, a shell on a pty, an SFTP upload
//! and download whose SHA-256 is in the audit log, and a tunnel. The hostile side: the code
//! without the key, the code as a password, and a wrong code after the key are refused.

use crate::harness::python;
use crate::harness::scenario::{Scenario, Setup};
use crate::harness::tcp::{Behaviour, Service};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Runs the paramiko driver as the vendor, signing in as `login` with `code`.
fn paramiko(s: &Scenario, login: &str, code: &str, steps: &[&str]) -> crate::harness::proc::Output {
    python::require("paramiko", "paramiko");
    let mut args = python::connect_args(s, login);
    args.extend(["--code".to_owned(), code.to_owned()]);
    args.extend(steps.iter().map(|a| a.to_string()));
    python::run("paramiko_client.py", &args, "")
}

fn sha256_of(path: &Path) -> String {
    let out = crate::harness::proc::tool("sha256sum", &[path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_owned()
}

fn file_row(s: &Scenario, suffix: &str, direction: &str) -> Value {
    s.broker.wait_for_audit("sftp.file", Duration::from_secs(60), |r| {
        r["detail"]["direction"] == direction && r["detail"]["path"].as_str().is_some_and(|p| p.ends_with(suffix))
    })
}

#[test]
fn paramiko_signs_in_with_key_then_code_and_runs_exec_pty_sftp_and_a_tunnel() {
    let echo = Service::start(Behaviour::Echo);
    let s = Setup::new("infusion-pump-py").tcp_ports(&[echo.port()]).start();
    s.grant_channels(30, "INC-5101 pump log collection script", &format!("--shell --files --tcp {}", echo.port()), &[]);
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("pump-fw.bin");
    let bytes: Vec<u8> = (0..300_000usize).map(|i| (i * 13 + i / 251) as u8).collect();
    std::fs::write(&image, &bytes).unwrap();
    let remote = s.device.dir().join("pump-fw.bin");
    let back = work.path().join("pump-fw-back.bin");

    // One connection to the device: exec, pty, SFTP.
    let code = s.vendor.totp().next_code();
    let out = paramiko(
        &s,
        &s.device_login(),
        &code,
        &[
            "--exec",
            "echo paramiko-$((6*7)); echo to-stderr >&2; exit 3",
            "--pty",
            "echo pty-$((5*5)) $TERM",
            "--sftp",
            image.to_str().unwrap(),
            remote.to_str().unwrap(),
            back.to_str().unwrap(),
        ],
    );
    out.assert_success();
    let auth = python::step(&out, "auth");
    assert_eq!(auth["authenticated"], true, "{auth}");
    assert_eq!(auth["prompts"], serde_json::json!(["Verification code: "]), "{auth}");

    let exec = python::step(&out, "exec");
    assert_eq!(exec["stdout"], "paramiko-42\n", "{exec}");
    assert_eq!(exec["stderr"], "to-stderr\n", "{exec}");
    assert_eq!(exec["status"], 3, "{exec}");

    let pty = python::step(&out, "pty");
    assert!(pty["output"].as_str().unwrap().contains("pty-25 dumb"), "{pty}");

    let want = sha256_of(&image);
    let sftp = python::step(&out, "sftp");
    assert_eq!(sftp["sent"], want, "{sftp}");
    assert_eq!(sftp["received"], want, "{sftp}");
    assert_eq!(sha256_of(&remote), want, "the device holds other bytes than were sent");
    let up = file_row(&s, "/pump-fw.bin", "upload");
    assert_eq!(up["detail"]["sha256"], want, "{up}");
    assert_eq!(up["detail"]["complete"], true, "{up}");
    let down = file_row(&s, "/pump-fw.bin", "download");
    assert_eq!(down["detail"]["sha256"], want, "{down}");

    // A second connection, through the lobby login: a direct-tcpip tunnel to the granted port.
    let payload = work.path().join("hl7.txt");
    std::fs::write(&payload, "MSH|^~\\&|PUMP|ICU|LIS|LAB|202611300000||ORU^R01|1|P|2.5\r".repeat(2000)).unwrap();
    let code = s.vendor.totp().next_code();
    let out = paramiko(&s, &s.vendor.name, &code, &["--tunnel", &s.device.name, &echo.port().to_string(), payload.to_str().unwrap()]);
    out.assert_success();
    let tunnel = python::step(&out, "tunnel");
    assert_eq!(tunnel["received"], sha256_of(&payload), "the tunnel did not carry the bytes both ways: {tunnel}");
    assert_eq!(echo.accepted(), 1, "the echo service saw another number of connections");
}

#[test]
fn paramiko_without_the_key_with_the_code_as_password_or_a_wrong_code_is_refused() {
    let s = Setup::new("infusion-pump-py-hostile").start();
    s.grant(30, "INC-5102 script check");
    let login = s.device_login();

    // The code alone, through keyboard-interactive, without the key first.
    let code = s.vendor.totp().next_code();
    let out = paramiko(&s, &login, &code, &["--skip-key", "--exec", "echo should-not-run"]);
    out.assert_failure();
    let auth = python::step(&out, "auth");
    // Told that the key comes first.
    assert!(auth["error"].as_str().unwrap_or_default().contains("allowed types: ['publickey']"), "{auth}");
    assert!(!out.stdout_text().contains("should-not-run"), "{}", out.describe());

    // The code offered as a password (paramiko falls back to keyboard-interactive only when
    // the server offers it; it does not, since the key comes first).
    let out = paramiko(&s, &login, &code, &["--password", "--exec", "echo should-not-run"]);
    out.assert_failure();
    assert!(python::step(&out, "auth")["error"].as_str().unwrap().contains("password refused"), "{}", out.describe());

    // The key, then a wrong code: the repeated service request changes nothing about the check.
    let wrong = s.vendor.totp().wrong_code();
    let out = paramiko(&s, &login, &wrong, &["--exec", "echo should-not-run"]);
    out.assert_failure();
    // Refused at once, not left to time out.
    let error = python::step(&out, "auth")["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.starts_with("code refused") && error.contains("Authentication failed"), "{}", out.describe());
    assert!(!out.stdout_text().contains("should-not-run"), "{}", out.describe());

    assert_eq!(s.device.accepted(), 0, "the device was contacted without a full sign-in");
    assert!(s.broker.sessions(false).is_empty(), "a session was opened: {:?}", s.broker.sessions(false));
}
