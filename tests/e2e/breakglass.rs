//! Break-glass with a real `ssh` vendor, a real `sshd` device, a real webhook receiver on
//! loopback and Chromium: a vendor holding the break-glass right opens an emergency session
//! from the lobby with an incident reference and a reason, no approval asked; approvers are
//! notified, the `breakglass.opened` row is critical, the session is recorded, cut at the
//! policy's maximum, and its evidence bundle is written when it ends and verifies offline. An
//! overdue review is escalated once. Two approvers review it on the page; "not justified"
//! disables the vendor, who cannot sign in again. Hostile cases sit next to the happy ones.

use crate::harness::browser::{assert_no_page_problems, run, sign_in_env, web_user};
use crate::harness::proc;
use crate::harness::scenario::{Scenario, Setup, VENDOR};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

/// The `#N` after `BREAK-GLASS #` in the lobby's answer.
fn opened_id(text: &str) -> u64 {
    let start = text.find("BREAK-GLASS #").unwrap_or_else(|| panic!("no BREAK-GLASS #: {text}")) + "BREAK-GLASS #".len();
    text[start..].chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

fn webhook_of(bodies: &mpsc::Receiver<Value>, event: &str, s: &Scenario) -> Value {
    loop {
        let body = bodies.recv_timeout(WAIT).unwrap_or_else(|_| panic!("no {event} webhook arrived:\n{}", s.broker.server_output()));
        if body["portcullis"]["event"] == event {
            return body;
        }
    }
}

fn setup(device: &str, evidence: &std::path::Path, url: &str) -> Setup {
    Setup::new(device)
        .criticality("high")
        .serve_env("PORTCULLIS_NOTIFY_WEBHOOK_URL", url)
        .serve_env("PORTCULLIS_NOTIFY_PUBLIC_URL", "https://broker.hospital.test:8443")
        .serve_env("PORTCULLIS_BREAKGLASS_EVIDENCE_DIR", evidence.to_str().unwrap())
        .serve_env("PORTCULLIS_BREAKGLASS_CHECK_EVERY", "500ms")
}

#[test]
fn break_glass_opens_a_recorded_session_without_approval_loudly_and_exports_its_evidence() {
    let (url, bodies) = crate::notify::receiver();
    let evidence = tempfile::tempdir().unwrap();
    let s = setup("vent-bg", evidence.path(), &url).start();

    // Hostile: without the right, refused and audited; nothing granted.
    let out = s.lobby("break-glass vent-bg --incident INC-4411 --reason ventilator alarm loop");
    out.assert_failure();
    assert!(out.all_text().contains("does not hold the break-glass right"), "{}", out.describe());
    s.broker.wait_for_audit("breakglass.refused", WAIT, |r| r["detail"]["why"].as_str().is_some_and(|w| w.contains("break-glass right")));
    assert!(s.broker.requests(None).is_empty(), "a request was created without the right");

    s.broker.cli_ok(&["user", "edit", VENDOR, "--grant", "break-glass"]);
    // Hostile: an empty incident or an empty reason is refused, audited.
    let out = s.lobby("break-glass vent-bg --reason ventilator alarm loop");
    out.assert_failure();
    assert!(out.all_text().contains("incident reference is required"), "{}", out.describe());
    let out = s.lobby("break-glass vent-bg --incident INC-4411 --reason");
    out.assert_failure();
    assert!(out.all_text().contains("a reason is required"), "{}", out.describe());
    assert!(s.broker.requests(None).is_empty(), "a request was created without incident or reason");

    // Asks for ten hours: clipped to the policy's 60 minutes.
    let out = s.lobby("break-glass vent-bg --incident INC-4411 --reason ventilator alarm loop on ward 3 --minutes 600");
    out.assert_success();
    let text = out.all_text();
    assert!(text.contains("clipped to the policy's maximum of 60 min"), "{}", out.describe());
    let id = opened_id(&text);
    let req = s.broker.request(id);
    assert_eq!(req["state"], "approved", "no approval was needed: {req}");

    let row = s.broker.wait_for_audit("breakglass.opened", WAIT, |r| r["subject"] == format!("request:{id}"));
    let d = &row["detail"];
    assert_eq!((d["severity"].as_str(), d["incident"].as_str(), d["reason"].as_str()), (Some("critical"), Some("INC-4411"), Some("ventilator alarm loop on ward 3")), "{row}");
    assert_eq!((d["minutes"].as_i64(), d["clipped"].as_bool()), (Some(60), Some(true)), "{row}");
    assert_eq!(d["ends_at"].as_i64().unwrap() - d["starts_at"].as_i64().unwrap(), 3600, "the grant is cut at the maximum: {row}");
    assert!(s.broker.audit_of_kind("request.approval_recorded").is_empty(), "nobody approved");

    // Every approver is told at once.
    let hook = webhook_of(&bodies, "breakglass.opened", &s);
    assert!(hook["text"].as_str().unwrap().contains("BREAK-GLASS opened: acme-jdoe on vent-bg"), "{hook}");
    assert_eq!(hook["portcullis"]["url"], "https://broker.hospital.test:8443/breakglass", "{hook}");
    assert_eq!(hook["portcullis"]["detail"]["incident"], "INC-4411", "{hook}");

    // The session runs through the broker and is recorded like any other.
    let done = s.exec("echo break-glass-was-here");
    done.assert_success();
    assert!(done.stdout_text().contains("break-glass-was-here"), "{}", done.describe());
    let session = s.wait_session_ended(id, WAIT);
    let sid = session["id"].as_u64().unwrap();
    s.broker.wait_for_audit("recording.sealed", WAIT, |r| r["subject"] == format!("session:{sid}"));

    // Its evidence bundle is written when it ends, named in the audit, and verifies offline.
    let exported = s.broker.wait_for_audit("evidence.exported", WAIT, |r| r["subject"] == format!("session:{sid}") && r["detail"]["via"] == "break-glass");
    let path = PathBuf::from(exported["detail"]["output"].as_str().unwrap());
    assert!(path.starts_with(evidence.path()) && path.exists(), "{exported}");
    let mut cmd = std::process::Command::new(crate::harness::broker::portcullis_bin());
    cmd.args(["evidence", "verify"]).arg(&path).env("PORTCULLIS_CONFIG", "/nonexistent/portcullis.toml");
    let verified = proc::run(cmd, WAIT);
    verified.assert_success();
    // Exactly one bundle for the session, however often the task ran.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.broker.audit_of_kind("evidence.exported").len(), 1);
}

#[test]
fn break_glass_is_refused_where_policy_forbids_it() {
    let (url, _bodies) = crate::notify::receiver();
    let evidence = tempfile::tempdir().unwrap();
    let s = setup("pump-nobg", evidence.path(), &url).config("[[policy.rules]]\nzone = \"icu\"\nbreak_glass = false\n").start();
    s.broker.cli_ok(&["user", "edit", VENDOR, "--grant", "break-glass"]);
    let out = s.lobby("break-glass pump-nobg --incident INC-1 --reason pump down");
    out.assert_failure();
    assert!(out.all_text().contains("policy forbids break-glass on pump-nobg"), "{}", out.describe());
    s.broker.wait_for_audit("breakglass.refused", WAIT, |r| r["subject"] == "device:pump-nobg");
    assert!(s.broker.requests(None).is_empty());
    assert!(s.broker.audit_of_kind("breakglass.opened").is_empty());
    // The device is never contacted.
    s.exec("true").assert_failure();
    assert_eq!(s.device.accepted(), 0, "the device was contacted");
}

#[test]
fn an_overdue_review_is_escalated_once_and_notified() {
    let (url, bodies) = crate::notify::receiver();
    let evidence = tempfile::tempdir().unwrap();
    let s = setup("vent-late", evidence.path(), &url).serve_env("PORTCULLIS_BREAKGLASS_REVIEW_WITHIN", "1s").start();
    s.broker.cli_ok(&["user", "edit", VENDOR, "--grant", "break-glass"]);
    let out = s.lobby("break-glass vent-late --incident INC-77 --reason no flow reading");
    out.assert_success();
    let id = opened_id(&out.all_text());
    let row = s.broker.wait_for_audit("breakglass.review_overdue", WAIT, |r| r["subject"] == format!("request:{id}"));
    assert_eq!(row["actor"], "system", "{row}");
    assert_eq!(row["detail"]["reviews"], 0, "{row}");
    let hook = webhook_of(&bodies, "breakglass.review_overdue", &s);
    assert!(hook["text"].as_str().unwrap().contains("BREAK-GLASS review OVERDUE"), "{hook}");
    // The task keeps running; the escalation is not repeated.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(s.broker.audit_of_kind("breakglass.review_overdue").len(), 1);
}

#[test]
fn two_approvers_review_in_chromium_and_not_justified_disables_the_vendor() {
    let (url, _bodies) = crate::notify::receiver();
    let evidence = tempfile::tempdir().unwrap();
    let s = setup("vent-review", evidence.path(), &url).start();
    s.broker.cli_ok(&["user", "edit", VENDOR, "--grant", "break-glass"]);
    let out = s.lobby("break-glass vent-review --incident INC-5150 --reason alarm silenced remotely --minutes 15");
    out.assert_success();
    let id = opened_id(&out.all_text());
    s.exec("uname -a").assert_success();
    let sid = s.wait_session_ended(id, WAIT)["id"].as_u64().unwrap();
    s.broker.wait_for_audit("recording.sealed", WAIT, |r| r["subject"] == format!("session:{sid}"));

    let carol = web_user(&s.broker, "carol", "approver");
    let mut env = sign_in_env(&s.broker, &carol);
    env.extend([("BG_ID", id.to_string()), ("VERDICT", "justified".into()), ("NOTE", "on-call confirmed the alarm".into()), ("SHOT", "breakglass-review".into())]);
    let first = run("breakglass.mjs", &env);
    assert_no_page_problems(&first);
    assert_eq!(first["violations"], serde_json::json!([]), "{first}");
    let before = &first["before"];
    assert_eq!((before["incident"].as_str(), before["reason"].as_str(), before["vendor"].as_str()), (Some("INC-5150"), Some("alarm silenced remotely"), Some(VENDOR)), "{first}");
    assert!(before["replay"][0].as_str().is_some_and(|l| l.starts_with(&format!("/sessions/{sid}/replay/"))), "the recording is linked: {first}");
    assert!(before["rows"].as_array().unwrap().iter().any(|k| k == "session.started"), "{first}");
    assert_eq!(first["after"]["outcome"], "pending", "one review is not enough: {first}");
    assert_eq!(first["after"]["form"], false, "carol cannot review twice: {first}");

    let dave = web_user(&s.broker, "dave", "approver");
    let mut env = sign_in_env(&s.broker, &dave);
    env.extend([("BG_ID", id.to_string()), ("VERDICT", "not-justified".into()), ("NOTE", "no incident on ward 3 at that time".into()), ("SHOT", "breakglass-second-review".into())]);
    let second = run("breakglass.mjs", &env);
    assert_no_page_problems(&second);
    assert_eq!(second["after"]["outcome"], "not-justified", "{second}");
    assert!(second["flash"].as_str().unwrap().contains("the vendor's account is disabled"), "{second}");

    let reviewed = s.broker.wait_for_audit("breakglass.reviewed", WAIT, |r| r["actor"] == "dave");
    assert_eq!((reviewed["detail"]["outcome"].as_str(), reviewed["detail"]["account_disabled"].as_bool()), (Some("not-justified"), Some(true)), "{reviewed}");
    let disabled = s.broker.wait_for_audit("user.disabled", WAIT, |r| r["subject"] == format!("user:{VENDOR}"));
    assert!(disabled["detail"]["why"].as_str().unwrap().contains("not justified"), "{disabled}");
    // The vendor cannot sign in again.
    let again = s.lobby("status");
    again.assert_failure();
    s.broker.wait_for_audit("auth.refused", WAIT, |r| r["subject"] == format!("user:{VENDOR}"));
}
