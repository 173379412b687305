//! Audited access to recordings with a real `ssh` vendor, a real `sshd` device and the real
//! broker, the limits set with the CLI (`device edit --phi`, `user edit --zones`, `--grant`)
//! and the requests made by a real Chromium signed in as each auditor: without the `phi`
//! permission the record of a phi device's session is readable but its recording is refused
//! on every route (each refusal audited with the browser's address); an auditor limited to
//! another zone finds nothing and is answered as if the session did not exist, and may not
//! read the whole audit log; once granted `phi`, the first auditor replays it, on the record.

use crate::harness::broker::number;
use crate::harness::browser::{self, sign_in_env, text, web_user};
use crate::harness::scenario::Setup;
use serde_json::Value;
use std::time::Duration;

const DEVICE: &str = "ventilator-3";
const NEEDLE: &str = "phi-screen-4711";

/// What `access.mjs` answered for `request`.
fn answer<'a>(out: &'a Value, request: &str) -> &'a Value {
    out["answers"].as_array().and_then(|a| a.iter().find(|x| x["request"] == request)).unwrap_or_else(|| panic!("no answer for {request}: {out}"))
}

#[test]
fn phi_recordings_need_the_permission_and_a_zone_limited_auditor_sees_nothing_of_another_zone() {
    let s = Setup::new(DEVICE).start();
    let id = s.grant(30, "INC-7300 alarm settings");
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let printed = term.run_in_shell("echo phi-screen-$((4700+11))", Duration::from_secs(30));
    assert!(printed.contains(NEEDLE), "{printed:?}");
    term.send_line("exit");
    term.wait_exit(Duration::from_secs(30));
    let session = s.wait_session_ended(id, Duration::from_secs(30));
    let sid = number(&session["id"]).expect("session id");
    s.broker.wait_for_audit("recording.sealed", Duration::from_secs(30), |r| r["subject"] == format!("session:{sid}"));

    // Tagged phi and two auditors, one limited to another zone, from the command line.
    s.broker.cli_ok(&["device", "edit", DEVICE, "--phi"]);
    let tagged = s.broker.wait_for_audit("device.edited", Duration::from_secs(10), |r| r["detail"]["changes"]["phi"]["new"] == true);
    assert!(text(&tagged["actor"]).starts_with("cli:"), "{tagged}");
    let pat = web_user(&s.broker, "pat", "auditor");
    let zed = web_user(&s.broker, "zed", "auditor");
    let edited = s.broker.cli_json(&["user", "edit", "zed", "--zones", "radiology", "--json"]);
    assert_eq!(edited["zones"], serde_json::json!(["radiology"]), "{edited}");
    s.broker.wait_for_audit("user.access_changed", Duration::from_secs(10), |r| r["subject"] == "user:zed" && r["detail"]["changes"]["zones"]["new"] == serde_json::json!(["radiology"]));
    // Zones are for auditors only; the refusal changes nothing.
    let refused = s.broker.cli(&["user", "edit", "alice", "--zones", "icu"]);
    refused.assert_failure();
    assert!(refused.stderr_text().contains("only auditor"), "{}", refused.describe());

    let requests = [
        format!("GET /api/v1/sessions/{sid}"),
        format!("GET /sessions/{sid}"),
        format!("GET /api/v1/sessions/{sid}/recordings/1"),
        format!("GET /sessions/{sid}/replay/1"),
        format!("GET /sessions/{sid}/replay/1/cast"),
        format!("POST /api/v1/sessions/{sid}/evidence"),
        "GET /api/v1/sessions?active=false".to_owned(),
        "GET /api/v1/audit".to_owned(),
    ];
    let run = |who: &browser::WebUser| {
        let mut env = sign_in_env(&s.broker, who);
        env.push(("REQUESTS", requests.join("\n")));
        env.push(("NEEDLE", NEEDLE.to_owned()));
        env.push(("FORBIDDEN_TEXT", DEVICE.to_owned()));
        let out = browser::run("access.mjs", &env);
        // The browser used the code of a step at or before now: another sign-in waits past it.
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        s.broker.totp(&who.name).mark_used(now / 30);
        out
    };

    // pat: the record, not the screens; each refusal on the record with the address.
    let out = run(&pat);
    for r in &requests[..2] {
        assert_eq!(answer(&out, r)["status"], 200, "{r}: {out}");
    }
    for r in &requests[2..6] {
        let a = answer(&out, r);
        assert_eq!((a["status"].as_u64(), a["has_needle"].as_bool()), (Some(403), Some(false)), "{r}: {out}");
    }
    assert!(text(&answer(&out, &requests[2])["message"]).contains("phi permission"), "{out}");
    let refusals: Vec<Value> = s.broker.audit_of_kind("recording.access_refused").into_iter().filter(|r| r["actor"] == "pat").collect();
    assert_eq!(refusals.len(), 4, "one row per refused opening: {refusals:?}");
    for r in &refusals {
        assert_eq!((r["subject"].as_str(), r["detail"]["why"].as_str()), (Some(format!("session:{sid}").as_str()), Some("phi")), "{r}");
        assert!(text(&r["detail"]["via"]).starts_with("web 127.0.0.1:"), "{r}");
    }
    assert!(s.broker.audit_of_kind("recording.replayed").is_empty() && s.broker.audit_of_kind("recording.downloaded").is_empty());

    // zed (radiology only): nothing of an icu session, not even that it exists.
    let out = run(&zed);
    for r in &requests[..6] {
        let a = answer(&out, r);
        assert_eq!((a["status"].as_u64(), a["has_needle"].as_bool(), a["has_forbidden"].as_bool()), (Some(404), Some(false), Some(false)), "{r}: {out}");
    }
    let list = answer(&out, &requests[6]);
    assert_eq!((list["status"].as_u64(), list["has_forbidden"].as_bool()), (Some(200), Some(false)), "{out}");
    assert_eq!(answer(&out, &requests[7])["status"], 403, "{out}");
    assert!(s.broker.audit_of_kind("recording.access_refused").iter().all(|r| r["actor"] != "zed"), "an out-of-zone request says nothing about phi");

    // Granted phi (audited), pat replays it: on the record, and listed as a viewer.
    s.broker.cli_ok(&["user", "edit", "pat", "--grant", "phi"]);
    s.broker.wait_for_audit("user.access_changed", Duration::from_secs(10), |r| r["subject"] == "user:pat" && r["detail"]["changes"]["permissions"]["new"] == serde_json::json!(["phi"]));
    // A second sign-in of pat needs a code it has not used yet.
    s.broker.totp("pat").wait_past_used();
    let out = run(&pat);
    let cast = answer(&out, &requests[4]);
    assert_eq!((cast["status"].as_u64(), cast["has_needle"].as_bool()), (Some(200), Some(true)), "{out}");
    let replayed = s.broker.wait_for_audit("recording.replayed", Duration::from_secs(10), |r| r["actor"] == "pat");
    assert!(text(&replayed["detail"]["via"]).starts_with("web 127.0.0.1:"), "{replayed}");
    // `session show` lists the viewer too, from the same rows.
    let record = s.broker.cli_json(&["session", "show", &sid.to_string(), "--json"]);
    let viewers: Vec<(&str, &str)> = record["viewed_by"].as_array().map(|a| a.iter().map(|v| (text(&v["who"]), text(&v["what"]))).collect()).unwrap_or_default();
    assert!(viewers.contains(&("pat", "replay")), "{record}");
    assert!(!viewers.iter().any(|(who, _)| *who == "zed"), "{record}");
    let shown = s.broker.cli_json(&["user", "show", "pat", "--json"]);
    assert_eq!(shown["permissions"], serde_json::json!(["phi"]), "{shown}");
}
