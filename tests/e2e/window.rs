//! Time-bound access: the vendor is warned before the approved window ends and the session
//! is closed when it does; an approver's revocation closes a live session at once.

use crate::harness::scenario::{Setup, APPROVERS};
use std::time::Duration;

#[test]
fn window_end_warns_then_closes_the_session() {
    let s = Setup::new("pump-window")
        .serve_env("PORTCULLIS_SESSION_WARN_BEFORE", "15s")
        .start();
    let (mut term, id) = s.interactive_request(5, "INC-6001 quick check");
    // A 30 s window warned 15 s before its end leaves the shell time to come up first.
    s.approve(id, APPROVERS[0], &["--for", "30s"])
        .assert_success();
    term.wait_for_shell(Duration::from_secs(14));

    // Nothing is typed from here on: the broker alone must warn and then close.
    term.expect("window", Duration::from_secs(60));
    term.wait_exit(Duration::from_secs(60));

    let session = s.wait_session_ended(id, Duration::from_secs(30));
    assert!(!session["ended_at"].is_null(), "{session}");
    assert!(
        !session["end_reason"].as_str().unwrap_or("").is_empty(),
        "ended without a reason: {session}"
    );
    let active = s.broker.sessions(true);
    assert!(
        active
            .iter()
            .all(|x| crate::harness::broker::number(&x["request_id"]) != Some(id)),
        "the session is still listed as active: {active:?}"
    );
    s.broker
        .wait_for_audit("session.ended", Duration::from_secs(30), |_| true);

    // The window is over: no new session either.
    let out = s.exec("echo should-not-run");
    out.assert_failure();
    assert!(!out.stdout_text().contains("should-not-run"));
}

#[test]
fn revocation_closes_a_live_session() {
    let s = Setup::new("pump-revoke").start();
    let (mut term, id) = s.interactive_request(30, "INC-6002 config backup");
    s.approve(id, APPROVERS[0], &[]).assert_success();
    term.wait_for_shell(Duration::from_secs(60));

    s.broker
        .cli_ok(&["request", "revoke", &id.to_string(), "--as", APPROVERS[0]]);
    term.wait_exit(Duration::from_secs(60));

    let request = s.wait_request_state(id, "revoked", Duration::from_secs(30));
    assert_eq!(request["state"], "revoked");
    let session = s.wait_session_ended(id, Duration::from_secs(30));
    assert!(!session["ended_at"].is_null(), "{session}");
    s.broker
        .wait_for_audit("request.revoked", Duration::from_secs(30), |r| {
            r.to_string().contains(&id.to_string())
        });
    s.broker
        .wait_for_audit("session.ended", Duration::from_secs(30), |_| true);

    let out = s.exec("echo should-not-run");
    out.assert_failure();
    assert!(!out.stdout_text().contains("should-not-run"));
}
