//! Time-bound access: the vendor is warned before the approved window ends (the warning is in
//! the recording, with a marker) and the session is closed when it does; an approver's
//! revocation closes a live session at once.

use crate::harness::cast::Cast;
use crate::harness::scenario::{Setup, APPROVERS};
use std::path::Path;
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

    // The recording holds the warning as the vendor saw it and as a marker a replay can jump
    // to, and a marker at the end saying why the channel closed.
    let sealed = s.broker.wait_for_audit("recording.sealed", Duration::from_secs(30), |r| r["detail"]["what"] == "terminal");
    let cast = Cast::read(Path::new(sealed["detail"]["path"].as_str().expect("recording path")));
    let markers: Vec<String> = cast.events.iter().filter(|e| e.kind == "m").map(|e| String::from_utf8_lossy(&e.data).into_owned()).collect();
    assert!(markers.iter().any(|m| m.contains("window ends in")), "no warning marker: {markers:?}");
    assert!(markers.last().is_some_and(|m| m.starts_with("end: ")), "no end marker last: {markers:?}");
    assert!(String::from_utf8_lossy(&cast.output_bytes()).contains("[portcullis] your access window ends in"), "the warning is not in the output");

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
        .cli_as(APPROVERS[0], &["request", "revoke", &id.to_string()])
        .assert_success();
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

/// Finding: after `user disable`, an open session and a lobby connection held with `-N` kept
/// working, and the lobby connection could even open new sessions. Disabling now revokes the
/// vendor's grants (audited) and ends every connection of the account within seconds.
#[test]
fn disabling_a_vendor_ends_their_sessions_and_connections() {
    let s = Setup::new("pump-disable").start();
    let (mut term, id) = s.interactive_request(30, "INC-6003 calibration");
    s.approve(id, APPROVERS[0], &[]).assert_success();
    term.wait_for_shell(Duration::from_secs(60));
    // A second connection, to the lobby, held open and doing nothing once signed in.
    let logins = s.broker.audit_of_kind("auth.login").len();
    let mut held = s.vendor.interactive(s.broker.ssh_addr(), &s.vendor.name, &["-N"]);
    crate::harness::proc::poll_until("the held connection's sign-in", Duration::from_secs(60), || {
        (s.broker.audit_of_kind("auth.login").len() > logins).then_some(())
    });

    s.broker.cli_ok(&["user", "disable", &s.vendor.name]);
    term.wait_exit(Duration::from_secs(60));
    held.wait_exit(Duration::from_secs(60));

    let request = s.wait_request_state(id, "revoked", Duration::from_secs(30));
    assert_eq!(request["state"], "revoked");
    let revoked = s.broker.wait_for_audit("request.revoked", Duration::from_secs(30), |r| r["detail"]["why"] == "account disabled");
    assert_eq!(revoked["subject"], format!("request:{id}"), "{revoked}");
    let session = s.wait_session_ended(id, Duration::from_secs(30));
    assert!(session["end_reason"].as_str().is_some_and(|r| r.contains("disabled") || r.contains("revoked")), "{session}");
}
