//! AsyncSSH (PyPI, pinned in `scripts/test.sh`), through `tests/clients/asyncssh_client.py`:
//! key, then the code by keyboard-interactive; a command, a terminal, an SFTP round trip and a
//! tunnel, each over its own connection (the broker ends a device connection with its first
//! session channel); the broker's host key is checked against a `known_hosts` file.

use super::{helper, tunnel_payload, Rig};
use crate::harness::proc;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

fn asyncssh(rig: &Rig, login: &str, action: &str, args: &[&str]) -> Value {
    let check = Command::new("python3").args(["-c", "import asyncssh"]).output().unwrap();
    assert!(check.status.success(), "the Python package asyncssh is missing: run the tests through scripts/test.sh, which installs it");
    let mut cmd = Command::new("python3");
    cmd.arg(helper("asyncssh_client.py"))
        .arg(rig.s.broker.ssh_addr().port().to_string())
        .arg(login)
        .arg(&rig.s.vendor.key)
        .arg(rig.known_hosts())
        .arg(rig.s.vendor.totp().next_code())
        .arg(action)
        .args(args);
    let out = proc::run(cmd, Duration::from_secs(90));
    out.assert_success();
    serde_json::from_str(out.stdout_text().trim()).unwrap_or_else(|e| panic!("no JSON from the AsyncSSH client ({e}):\n{}", out.describe()))
}

#[test]
fn asyncssh_runs_a_command_a_terminal_sftp_and_a_tunnel() {
    let rig = Rig::start("analyzer-41", "INC-8201 AsyncSSH automation");
    let image = rig.sample_file("cfg-4.1.tar", 250_000, 0x41);
    let remote = rig.s.device.dir().join("cfg-asyncssh.tar");
    let login = rig.s.device_login();
    let out = asyncssh(&rig, &login, "exec", &["echo from-asyncssh; exit 7"]);
    assert_eq!(out["prompts"], serde_json::json!(["Verification code: "]), "{out}");
    assert_eq!(out["exec"]["stdout"], "from-asyncssh\n", "{out}");
    assert_eq!(out["exec"]["exit_status"], 7, "{out}");
    let out = asyncssh(&rig, &login, "pty", &[]);
    assert!(out["pty"]["stdout"].as_str().unwrap().starts_with("/dev/pts/"), "{out}");
    assert_eq!(out["pty"]["exit_status"], 0, "{out}");
    asyncssh(&rig, &login, "put", &[image.to_str().unwrap(), remote.to_str().unwrap()]);
    assert_eq!(super::sha256_of(&remote), super::sha256_of(&image));
    assert_eq!(super::sha256_of(&image.with_extension("tar.back")), super::sha256_of(&image));
    rig.assert_upload_logged("/cfg-asyncssh.tar", &image);
    rig.assert_download_logged("/cfg-asyncssh.tar", &image);

    let (device, port) = rig.tunnel_spec();
    let payload = rig.work.path().join("payload");
    std::fs::write(&payload, tunnel_payload()).unwrap();
    let out = asyncssh(&rig, &rig.s.vendor.name, "tunnel", &[&device, &port.to_string(), payload.to_str().unwrap()]);
    assert_eq!(out["tunnel"]["bytes"], tunnel_payload().len(), "{out}");
    assert!(std::fs::read(payload.with_extension("back")).unwrap() == tunnel_payload(), "the tunnel did not carry the bytes both ways");
}
