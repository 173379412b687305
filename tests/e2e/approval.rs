//! Approval: nothing reaches a device before a request is approved, nobody approves their
//! own request, and a life-critical device needs two distinct approvers.

use crate::harness::scenario::{Setup, APPROVERS, VENDOR};
use std::time::Duration;

#[test]
fn no_device_connection_before_approval() {
    let s = Setup::new("pump-wait").start();

    // Without a grant a non-interactive exec cannot ask questions: it is refused and told
    // to make a request.
    let out = s.exec("echo should-not-run");
    out.assert_failure();
    assert!(
        out.all_text().contains("request"),
        "refusal does not mention a request:\n{}",
        out.describe()
    );
    assert!(!out.stdout_text().contains("should-not-run"));
    assert_eq!(
        s.device.accepted(),
        0,
        "the device was contacted without a grant"
    );

    // Interactively the vendor is asked why and for how long, and then waits.
    let (mut term, id) = s.interactive_request(15, "INC-5001 pump alarm log");
    let pending = s.broker.requests(Some("pending"));
    let request = pending
        .iter()
        .find(|r| crate::harness::broker::id_of(r) == id)
        .unwrap_or_else(|| panic!("request #{id} is not pending: {pending:?}"));
    assert_eq!(request["vendor"], VENDOR, "{request}");
    assert_eq!(request["device"], "pump-wait", "{request}");
    assert!(
        request["reason"]
            .as_str()
            .unwrap_or("")
            .contains("pump alarm log"),
        "{request}"
    );
    assert_eq!(
        s.device.accepted(),
        0,
        "the device was contacted while the request is pending"
    );
    // The lobby's own view of it is served while the connection waits; still nothing on the
    // device side.
    let status = s.lobby("status");
    status.assert_success();
    assert!(
        status.stdout_text().contains(&id.to_string()),
        "{}",
        status.describe()
    );
    assert_eq!(
        s.device.accepted(),
        0,
        "the device was contacted while the request is pending"
    );
    assert!(
        !term.has_exited(),
        "the waiting connection ended:\n{}",
        term.transcript()
    );

    s.approve(id, APPROVERS[0], &[]).assert_success();
    term.wait_for_shell(Duration::from_secs(60));
    assert!(s.device.accepted() > 0);
    let out = term.run_in_shell("echo on-device-$((2+3))", Duration::from_secs(30));
    assert!(out.contains("on-device-5"), "{out:?}");
}

#[test]
fn self_approval_is_refused() {
    let s = Setup::new("pump-self").start();
    let id = s.request_via_lobby(30, "INC-5002 calibration");

    let out = s.approve(id, VENDOR, &[]);
    out.assert_failure();
    assert!(
        !out.all_text().trim().is_empty(),
        "refused without a message:\n{}",
        out.describe()
    );
    let request = s.broker.request(id);
    assert_eq!(request["state"], "pending", "{request}");
    assert_eq!(request["approvals"], serde_json::json!([]), "{request}");
    assert!(
        s.broker
            .audit_of_kind("request.approval_recorded")
            .is_empty(),
        "an approval was recorded for the requester himself"
    );

    let out = s.exec("echo should-not-run");
    out.assert_failure();
    assert_eq!(s.device.accepted(), 0);

    // A real approver can.
    s.approve(id, APPROVERS[0], &[]).assert_success();
    s.wait_request_state(id, "approved", Duration::from_secs(30));
}

#[test]
fn life_critical_device_needs_two_distinct_approvers() {
    let s = Setup::new("ventilator-3")
        .criticality("life-critical")
        .start();
    let id = s.request_via_lobby(20, "INC-5003 firmware update");

    s.approve(id, APPROVERS[0], &[]).assert_success();
    let request = s.broker.request(id);
    assert_eq!(
        request["state"], "pending",
        "one approval must not be enough: {request}"
    );
    assert_eq!(
        request["approvals"],
        serde_json::json!([APPROVERS[0]]),
        "{request}"
    );
    assert_eq!(
        crate::harness::broker::number(&request["required_approvals"]),
        Some(2),
        "{request}"
    );
    s.broker
        .wait_for_audit("request.approval_recorded", Duration::from_secs(30), |r| {
            r.to_string().contains(APPROVERS[0])
        });

    let out = s.exec("echo should-not-run");
    out.assert_failure();
    assert_eq!(
        s.device.accepted(),
        0,
        "the device was contacted after one approval of two"
    );

    // The same person approving again does not count as a second approver.
    let out = s.approve(id, APPROVERS[0], &[]);
    out.assert_failure();
    assert!(
        !out.all_text().trim().is_empty(),
        "refused without a message:\n{}",
        out.describe()
    );
    let request = s.broker.request(id);
    assert_eq!(request["state"], "pending", "{request}");
    assert_eq!(
        request["approvals"],
        serde_json::json!([APPROVERS[0]]),
        "{request}"
    );

    s.approve(id, APPROVERS[1], &[]).assert_success();
    let request = s.wait_request_state(id, "approved", Duration::from_secs(30));
    let approvals = request["approvals"].as_array().cloned().unwrap_or_default();
    assert_eq!(approvals.len(), 2, "{request}");
    s.broker
        .wait_for_audit("request.approved", Duration::from_secs(30), |r| {
            r.to_string().contains(&id.to_string())
        });

    let out = s.exec("echo reached");
    out.assert_success();
    assert_eq!(out.stdout_text(), "reached\n");
    assert!(s.device.accepted() > 0);
}

/// Finding: `request approve N --minutes 0` was accepted (a one-second window) and
/// `--minutes 9999` was silently cut to the policy maximum, while the API refused the same
/// input. The rule lives in core now: the CLI refuses both, saying why, and changes nothing.
#[test]
fn the_cli_refuses_windows_the_api_refuses() {
    let s = Setup::new("pump-window-rule").start();
    let id = s.request_via_lobby(30, "INC-5100 window rule");
    let zero = s.approve(id, APPROVERS[0], &["--minutes", "0"]);
    zero.assert_failure();
    assert!(zero.all_text().contains("at least 1 minute"), "{}", zero.describe());
    let long = s.approve(id, APPROVERS[0], &["--minutes", "9999"]);
    long.assert_failure();
    assert!(long.all_text().contains("at most"), "{}", long.describe());
    let longer_than_asked = s.approve(id, APPROVERS[0], &["--minutes", "31"]);
    longer_than_asked.assert_failure();
    assert!(longer_than_asked.all_text().contains("asks for 30 minutes"), "{}", longer_than_asked.describe());
    assert_eq!(s.broker.request(id)["state"], "pending", "a refused approval changed the request");
    s.approve(id, APPROVERS[0], &["--minutes", "20"]).assert_success();
    s.wait_request_state(id, "approved", Duration::from_secs(30));
}
