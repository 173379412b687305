//! libssh2, as curl and other embedded tools use it.
//!
//! Debian 12's curl (7.88, libssh2 1.10) cannot reach the broker at all: libssh2 1.10 has
//! neither AES-GCM nor ChaCha20-Poly1305 nor an encrypt-then-MAC MAC, so there is no cipher
//! and MAC pair in common and it stops at the key exchange ("Unable to exchange encryption
//! keys"), before anything the broker could say reaches the user. libssh2 1.11 (tested
//! through ssh2-python, whose wheels carry 1.11.1) negotiates; like 1.10 it reports the key's
//! partial success as an error ("Invalid signature for supplied public key, or bad
//! username/public key combination"), but the connection stays usable, and a program that
//! then asks for keyboard-interactive, as curl does when the broker's first answer names it,
//! signs in with the code.

use super::{helper, require, Rig};
use crate::harness::proc;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

#[test]
fn curl_with_libssh2_1_10_stops_at_the_key_exchange() {
    let rig = Rig::start("lab-analyzer-61", "INC-8401 curl download");
    std::fs::write(rig.s.device.dir().join("report.txt"), "results\n").unwrap();
    let url = format!(
        "sftp://{}:{}@127.0.0.1:{}{}/report.txt",
        rig.s.device_login().replace(':', "%3A"),
        rig.s.vendor.totp().next_code(),
        rig.s.broker.ssh_addr().port(),
        rig.s.device.dir().display()
    );
    let curl = require("curl", "curl");
    let version = proc::tool(curl.to_str().unwrap(), &["-V"]);
    assert!(version.contains("libssh2/1.10"), "this test is about curl with libssh2 1.10 (Debian 12):\n{version}");
    let mut curl = Command::new(curl);
    curl.args(["-sS", "-v", "--insecure", "--key"]).arg(&rig.s.vendor.key).arg("--pubkey").arg(rig.s.vendor.public_key()).arg(&url);
    let out = proc::run(curl, Duration::from_secs(60));
    out.assert_failure();
    assert!(out.stderr_text().contains("Unable to exchange encryption keys"), "{}", out.describe());
    assert_eq!(rig.s.device.accepted(), 0);
    let signed_in = rig.s.broker.audit_of_kind("session.started");
    assert!(signed_in.is_empty(), "{signed_in:?}");
}

/// Runs `tests/clients/libssh2_client.py` (ssh2-python) as `login` with `key` (`-`: none).
fn libssh2(rig: &Rig, key: &str, code: &str) -> Value {
    let check = Command::new("python3").args(["-c", "import ssh2"]).output().unwrap();
    assert!(check.status.success(), "the Python package ssh2-python is missing: run the tests through scripts/test.sh, which installs it");
    let mut cmd = Command::new("python3");
    cmd.arg(helper("libssh2_client.py"))
        .arg(rig.s.broker.ssh_addr().port().to_string())
        .arg(rig.s.device_login())
        .arg(key)
        .arg(code)
        .arg("echo from-libssh2; exit 9");
    let out = proc::run(cmd, Duration::from_secs(90));
    out.assert_success();
    serde_json::from_str(out.stdout_text().trim()).unwrap_or_else(|e| panic!("no JSON ({e}):\n{}", out.describe()))
}

/// Finding: the broker's first answer listed `publickey` alone, and a libssh2 program that
/// tries what that list names (curl) never asked for the code after the key. Now it names
/// both; the key's partial success still reads as an error in libssh2, and the program goes on.
#[test]
fn libssh2_1_11_signs_in_with_the_key_then_keyboard_interactive() {
    let rig = Rig::start("lab-analyzer-62", "INC-8402 libssh2 tool");
    let v = libssh2(&rig, rig.s.vendor.key.to_str().unwrap(), &rig.s.vendor.totp().next_code());
    assert!(v["libssh2"].as_str().unwrap().starts_with("1.11"), "{v}");
    assert_eq!(v["methods"], serde_json::json!(["publickey", "keyboard-interactive"]), "{v}");
    assert!(v["publickey"].as_str().unwrap().contains("bad username/public key combination"), "{v}");
    assert_eq!(v["authenticated"], true, "{v}");
    assert_eq!(v["stdout"], "from-libssh2\n", "{v}");
    assert_eq!(v["exit_status"], 9, "{v}");

    // Keyboard-interactive without the key: refused without a prompt, and the code is not
    // spent (the broker never looks at it).
    let (code, step) = rig.s.vendor.totp().next();
    let v = libssh2(&rig, "-", &code);
    assert_eq!(v["authenticated"], false, "{v}");
    assert!(rig.s.broker.audit_of_kind("auth.totp.failed").is_empty());
    // The code as a password: refused, and not spent either.
    let v = libssh2(&rig, "password", &code);
    assert_eq!(v["authenticated"], false, "{v}");
    assert!(v["password"].as_str().is_some_and(|e| e.contains("Authentication failed")), "{v}");
    let v = libssh2(&rig, rig.s.vendor.key.to_str().unwrap(), &code);
    assert_eq!(v["authenticated"], true, "the code was used up by an attempt without the key: {v}");
    rig.s.vendor.totp().mark_used(step);
}
