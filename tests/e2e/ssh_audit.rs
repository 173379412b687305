//! The broker's SSH listener against ssh-audit (PyPI, installed by `scripts/test.sh`) and a
//! policy derived from its built-in "Hardened OpenSSH Server v10.4" (`tests/ssh-audit/`):
//! modern key exchange, authenticated or counter-mode ciphers, encrypt-then-MAC, no
//! compression before authentication, an Ed25519 host key.

use crate::harness::broker::Broker;
use crate::harness::proc;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn policy() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/ssh-audit/portcullis-hardened.txt").display().to_string()
}

#[test]
fn the_listener_passes_the_hardened_ssh_audit_policy() {
    let mut broker = Broker::init();
    let addr = broker.serve(&[]);
    // Through the module, so no PATH shim is needed for the console script.
    let mut audit = Command::new("python3");
    audit.args(["-m", "ssh_audit", "-P", &policy(), "-p", &addr.port().to_string(), "127.0.0.1"]);
    let out = proc::run(audit, Duration::from_secs(300));
    assert!(out.success(), "ssh-audit refused the broker:\n{}", out.describe());
    assert!(out.stdout_text().contains("Passed"), "{}", out.describe());
}
