//! A vendor's second day, with the real OpenSSH client: a new laptop's key replaces the old
//! one (the old key is refused from then on; the last key can never be removed), the
//! contract ends (a running session is cut, every sign-in refused and audited until the date
//! is cleared), and a lost
//! authenticator is replaced (the old secret's codes are refused, the new one's work). A
//! vendor account without a key is refused at enrolment.

use crate::harness::device::keygen;
use crate::harness::scenario::{Setup, VENDOR};
use crate::harness::vendor::Code;
use serde_json::Value;
use std::time::Duration;

const AUDIT_WAIT: Duration = Duration::from_secs(10);

#[test]
fn a_vendor_gets_a_new_key_an_end_date_and_a_new_authenticator() {
    let mut s = Setup::new("pump-vendor-life").start();
    let addr = s.broker.ssh_addr();
    s.lobby("status").assert_success();

    // Enrolment without a key is refused: such an account could never sign in.
    let keyless = s.broker.cli(&["user", "add", "acme-nokey", "--role", "vendor", "--org", "Acme", "--json"]);
    keyless.assert_failure();
    assert!(keyless.stderr_text().contains("SSH public key"), "{}", keyless.describe());

    // A new laptop: its key is added, the old one removed (never the last one).
    let keys = |b: &crate::harness::broker::Broker| b.cli_json(&["user", "key", "list", VENDOR, "--json"]);
    let old_fp = keys(&s.broker)[0]["fingerprint"].as_str().expect("fingerprint").to_owned();
    let last = s.broker.cli(&["user", "key", "remove", VENDOR, &old_fp]);
    last.assert_failure();
    assert!(last.stderr_text().contains("last SSH key"), "{}", last.describe());
    let dir = tempfile::tempdir().expect("tempdir");
    let new_key = dir.path().join("new-laptop");
    keygen(&new_key, "jdoe@new-laptop");
    let added = s.broker.cli_json(&["user", "key", "add", VENDOR, new_key.with_extension("pub").to_str().expect("utf-8"), "--json"]);
    let new_fp = added["added"][0].as_str().expect("new fingerprint").to_owned();
    s.broker.cli_ok(&["user", "key", "remove", VENDOR, &old_fp]);
    let listed: Vec<Value> = keys(&s.broker).as_array().cloned().unwrap_or_default();
    assert_eq!(listed.iter().map(|k| k["fingerprint"].clone()).collect::<Vec<_>>(), vec![Value::from(new_fp.clone())]);
    // The old laptop is refused (before any code is asked), the new one signs in.
    let out = s.lobby("status");
    out.assert_failure();
    s.broker.wait_for_audit("auth.refused", AUDIT_WAIT, |r| r["detail"]["reason"] == "key-not-enrolled" && r.to_string().contains(VENDOR));
    s.vendor.key = new_key;
    s.lobby("status").assert_success();

    // The contract ends: a running session is cut, sign-in refused and audited; cleared, the
    // account works again.
    s.grant(30, "INC-8400 last day of the contract");
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    s.broker.cli_ok(&["user", "expires", VENDOR, "--on", "2020-01-31"]);
    term.wait_exit(Duration::from_secs(30));
    s.broker.wait_for_audit("session.ended", AUDIT_WAIT, |r| r.to_string().contains("past its end date"));
    let shown = s.broker.cli_json(&["user", "show", VENDOR, "--json"]);
    assert_eq!(shown["expires_at"], "2020-02-01T00:00:00Z", "the account works through its last day: {shown}");
    assert_eq!(shown["org"], "acme-medical", "{shown}");
    let out = s.lobby("status");
    out.assert_failure();
    s.broker.wait_for_audit("auth.refused", AUDIT_WAIT, |r| r["detail"]["reason"] == "expired" && r["actor"] == VENDOR);
    let listed = s.broker.cli(&["user", "list"]);
    assert!(listed.stdout_text().contains("expired"), "{}", listed.describe());
    s.broker.cli_ok(&["user", "expires", VENDOR, "--never"]);
    s.lobby("status").assert_success();
    let set = s.broker.wait_for_audit("user.expiry_set", AUDIT_WAIT, |r| r["detail"]["expires_at"]["new"].is_null());
    assert_eq!(set["detail"]["expires_at"]["old"], "2020-02-01T00:00:00Z", "{set}");

    // A lost phone: a new secret; the old one's codes are refused, the new one's work.
    let stale = s.vendor.totp().next_code();
    let reset = s.broker.cli_json(&["user", "reset-totp", VENDOR, "--json"]);
    let secret = reset["totp_secret"].as_str().expect("new secret").to_owned();
    let out = s.vendor.exec_with(addr, VENDOR, Code::Exactly(stale), &[], "status");
    out.assert_failure();
    s.vendor.set_totp(&secret);
    s.lobby("status").assert_success();
    s.broker.wait_for_audit("auth.totp.failed", AUDIT_WAIT, |r| r["actor"] == VENDOR);
    assert_eq!(s.broker.audit_of_kind("user.totp_reset").len(), 1);
    assert!(!serde_json::to_string(&s.broker.audit()).expect("json").contains(&secret), "a TOTP secret reached the audit log");
}
