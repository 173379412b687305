//! Decisions at the command line are accountable: `request approve|deny|revoke --as NAME`
//! needs NAME's current TOTP code, under the same single-use and lockout rules as a sign-in,
//! so reading the configuration file is not enough to approve as someone else; a refused
//! code is audited like a refused sign-in; every row names the operating-system user that
//! ran the command (`cli:NAME`, from the process's user id, not from `$USER`); and with
//! `--json` both answers and errors are JSON.

use crate::harness::broker::{self, Broker};
use crate::harness::proc::{self, Output};
use crate::harness::scenario::{Setup, APPROVERS};
use serde_json::Value;
use std::time::Duration;

/// The actor the CLI must write: `cli:` and the name of the user id the tests run as.
fn expected_actor() -> String {
    format!("cli:{}", proc::tool("id", &["-un"]).trim())
}

/// `request approve ID --as alice [--code CODE]`, with `$USER` set to a lie.
fn approve_as_alice(b: &Broker, id: u64, code: Option<&str>) -> Output {
    let id = id.to_string();
    let mut args = vec!["request", "approve", id.as_str(), "--as", APPROVERS[0]];
    if let Some(code) = code {
        args.extend(["--code", code]);
    }
    let mut cmd = b.command(&args);
    cmd.env("USER", "mallory").env("LOGNAME", "mallory");
    proc::run(cmd, broker::CLI_TIMEOUT)
}

fn approvals_recorded(b: &Broker) -> usize {
    b.audit_of_kind("request.approval_recorded").len()
}

#[test]
fn cli_approval_without_a_valid_code_is_refused() {
    let s = Setup::new("pump-cli-code").start();
    let b = &s.broker;
    let alice = b.totp(APPROVERS[0]);
    let actor = expected_actor();
    let first = s.request_via_lobby(30, "INC-6101 code check");

    // No code (standard input is not a terminal, so nothing is asked): refused, nothing written.
    let out = approve_as_alice(b, first, None);
    out.assert_failure();
    assert!(out.stderr_text().contains("--code"), "{}", out.describe());

    // A wrong code: refused and audited as a failed code, naming who ran the command.
    let out = approve_as_alice(b, first, Some(&alice.wrong_code()));
    out.assert_failure();
    assert!(out.stderr_text().contains("wrong"), "{}", out.describe());
    let failed = b.wait_for_audit("auth.totp.failed", Duration::from_secs(10), |r| r["actor"] == APPROVERS[0]);
    assert_eq!(failed["detail"]["via"], actor.as_str(), "{failed}");
    assert_eq!(approvals_recorded(b), 0, "a refused code recorded an approval");
    assert_eq!(b.request(first)["state"], "pending");

    // A valid code: approved; the rows name the approver and the operating-system user.
    let code = alice.next_code();
    approve_as_alice(b, first, Some(&code)).assert_success();
    let approved = b.wait_for_audit("request.approved", Duration::from_secs(10), |r| r["subject"] == format!("request:{first}"));
    assert_eq!(approved["actor"], APPROVERS[0], "{approved}");
    assert_eq!(approved["detail"]["via"], actor.as_str(), "{approved}");
    assert_ne!(actor, "cli:mallory", "the actor came from $USER");

    // The same code again, for another request: refused as replayed.
    let second = s.request_via_lobby(30, "INC-6102 code replay");
    let out = approve_as_alice(b, second, Some(&code));
    out.assert_failure();
    assert!(out.stderr_text().contains("already used"), "{}", out.describe());
    b.wait_for_audit("auth.totp.replayed", Duration::from_secs(10), |r| r["actor"] == APPROVERS[0] && r["detail"]["via"] == actor.as_str());
    assert_eq!(b.request(second)["state"], "pending");
    assert_eq!(approvals_recorded(b), 1, "only the approval with a valid code counts");

    // Bob's code does not prove Alice: each account's own secret is checked.
    let bobs = b.totp(APPROVERS[1]).next_code();
    approve_as_alice(b, second, Some(&bobs)).assert_failure();
    assert_eq!(b.request(second)["state"], "pending");

    // Deny and revoke need the code too.
    let id = second.to_string();
    b.cli(&["request", "deny", &id, "--as", APPROVERS[1], "--reason", "no"]).assert_failure();
    b.cli(&["request", "revoke", &first.to_string(), "--as", APPROVERS[1]]).assert_failure();
    assert_eq!(b.request(first)["state"], "approved");
    b.cli_as(APPROVERS[1], &["request", "revoke", &first.to_string()]).assert_success();
    let revoked = b.wait_for_audit("request.revoked", Duration::from_secs(10), |_| true);
    assert_eq!((revoked["actor"].as_str(), revoked["detail"]["via"].as_str()), (Some(APPROVERS[1]), Some(actor.as_str())), "{revoked}");
}

#[test]
fn every_cli_change_names_the_os_user_and_json_covers_errors() {
    let s = Setup::new("pump-cli-json").start();
    let b = &s.broker;
    let actor = expected_actor();

    // A change answers in JSON and its row names who ran it.
    let mut cmd = b.command(&["user", "disable", APPROVERS[1], "--json"]);
    cmd.env("USER", "mallory");
    let out = proc::run(cmd, broker::CLI_TIMEOUT);
    out.assert_success();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.describe()));
    assert_eq!((v["user"].as_str(), v["disabled"].as_bool()), (Some(APPROVERS[1]), Some(true)), "{v}");
    let row = b.wait_for_audit("user.disabled", Duration::from_secs(10), |_| true);
    assert_eq!(row["actor"], actor.as_str(), "{row}");

    // Errors are one JSON object on standard error, refusals (1) and usage errors (2) alike.
    let out = b.cli(&["request", "approve", "999", "--as", APPROVERS[0], "--code", "000000", "--json"]);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    let err: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|e| panic!("error not JSON ({e}): {}", out.describe()));
    assert!(err["error"].as_str().is_some_and(|e| !e.is_empty()), "{err}");
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let out = b.cli(&["device", "add", "x", "--json"]);
    assert_eq!(out.code(), Some(2), "{}", out.describe());
    let err: Value = serde_json::from_slice(&out.stderr).unwrap_or_else(|e| panic!("usage error not JSON ({e}): {}", out.describe()));
    assert!(err["error"].as_str().is_some_and(|e| e.contains("--address")), "{err}");
}
