//! The vendor's lobby and the decisions around it: a reason typed without quotes arrives
//! whole, a non-interactive connection without a grant is told how to ask and never reaches
//! the device, a denial reaches the waiting vendor, and an operator's stop ends a session.

use crate::harness::scenario::{Setup, APPROVERS};
use std::time::Duration;

#[test]
fn unquoted_reason_arrives_whole() {
    let s = Setup::new("pump-lobby").start();
    let out = s.lobby("request pump-lobby --minutes 45 --reason INC-4411 firmware update on bed 12");
    out.assert_success();
    let id = crate::harness::broker::parse_request_id(&out.all_text()).expect("a request id");
    let req = s.broker.request(id);
    assert_eq!(req["reason"], "INC-4411 firmware update on bed 12", "{req}");
    assert_eq!(req["minutes"], 45, "{req}");
    assert_eq!(req["state"], "pending", "{req}");

    // The rest in one interactive lobby session (each sign-in spends a TOTP step).
    let before = s.broker.requests(None).len();
    let mut lobby = s.vendor.interactive(s.broker.ssh_addr(), &s.vendor.name, &[]);
    lobby.expect("portcullis> ", Duration::from_secs(60));
    lobby.send_line("status");
    lobby.expect(&format!("#{id}"), Duration::from_secs(30));
    // Bad input gets a clear error and changes nothing.
    for (bad, says) in [
        ("request pump-lobby --minutes 0 --reason x", "minutes"),
        ("request pump-lobby --minutes lots --reason x", "not a whole number of minutes"),
        ("request no-such-device --minutes 5 --reason x", "no device no-such-device"),
        ("request pump-lobby --minutes 5", "reason"),
        ("request 'pump-lobby; rm -rf /' --minutes 5 --reason x", "device name"),
        ("request \"unbalanced --minutes 5", "quotes"),
        ("frobnicate", "unknown command"),
    ] {
        lobby.send_line(bad);
        lobby.expect(says, Duration::from_secs(30));
    }
    lobby.send_line("exit");
    lobby.wait_exit(Duration::from_secs(30));
    assert_eq!(s.broker.requests(None).len(), before, "a refused command created a request");
}

#[test]
fn non_interactive_without_grant_is_refused_with_instructions() {
    let s = Setup::new("pump-noninteractive").start();
    let out = s.exec("echo should-not-run");
    assert!(out.code() != Some(0), "{}", out.describe());
    assert!(!out.stdout_text().contains("should-not-run"));
    assert!(out.all_text().contains("request"), "no instructions:\n{}", out.describe());
    assert_eq!(s.device.accepted(), 0, "the device was contacted without a grant");
}

#[test]
fn denial_reaches_the_waiting_vendor() {
    let s = Setup::new("pump-deny").start();
    let (mut term, id) = s.interactive_request(20, "INC-7001 night change");
    s.broker.cli_as(APPROVERS[0], &["request", "deny", &id.to_string(), "--reason", "not", "during", "the", "night"]).assert_success();
    term.expect("denied", Duration::from_secs(30));
    term.wait_exit(Duration::from_secs(30));
    let req = s.wait_request_state(id, "denied", Duration::from_secs(10));
    assert_eq!(req["state"], "denied");
    assert_eq!(s.device.accepted(), 0, "the device was contacted after a denial");
    // A decided request cannot be decided again.
    assert!(s.approve(id, APPROVERS[1], &[]).status.code() != Some(0));
}

#[test]
fn operator_stop_ends_a_live_session() {
    let s = Setup::new("pump-stop").start();
    let id = s.grant(30, "INC-7002 calibration");
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let session = crate::harness::proc::poll(Duration::from_secs(30), || {
        s.sessions_of_request(id).into_iter().find(|x| x["state"] == "active")
    })
    .expect("an active session");
    let sid = crate::harness::broker::number(&session["id"]).expect("session id").to_string();
    s.broker.cli_ok(&["session", "stop", &sid]);
    term.expect("stopped", Duration::from_secs(30));
    term.wait_exit(Duration::from_secs(30));
    let ended = s.wait_session_ended(id, Duration::from_secs(30));
    assert!(ended["end_reason"].as_str().unwrap_or("").contains("stopped"), "{ended}");
    // A second stop of an ended session is refused.
    assert!(s.broker.cli(&["session", "stop", &sid]).status.code() != Some(0));
}
