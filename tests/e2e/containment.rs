//! Containing a zone with real vendors on real devices: two `sshd` devices in zone `icu`, one
//! life-critical and one standard, each with a running `ssh` vendor session, a pending request
//! and an approved grant scheduled for later. `portcullis contain zone icu` (made `--as` the
//! admin with a TOTP code) cuts the standard session at once, warns the life-critical one and
//! closes it after `session.stop_grace`, revokes every grant, denies every pending request,
//! refuses new requests until `contain lift`, and writes one `containment.ordered` row naming
//! everything. Refused, with nothing changed: no clinical confirmation while the life-critical
//! session runs, and anyone but an admin.

use crate::harness::broker::{self, Broker};
use crate::harness::device::Device;
use crate::harness::scenario::{Scenario, Setup, APPROVERS, VENDOR, ZONE};
use crate::harness::vendor::Interactive;
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// Long enough that the life-critical session is seen still working after the standard one
/// was cut, short enough for a test.
const GRACE: &str = "25s";
const REASON: &str = "INC-8800 ransomware beacon on the ICU VLAN";
const CONFIRMED: &str = "Dr Ada Byron, ICU consultant on call";

/// A request for `device` through the lobby; its id.
fn lobby_request(s: &Scenario, device: &str, reason: &str) -> u64 {
    let out = s.lobby(&format!("request {device} --minutes 30 --reason '{reason}'"));
    out.assert_success();
    broker::parse_request_id(&out.all_text()).unwrap_or_else(|| panic!("no request id: {}", out.describe()))
}

/// Approves `id` by as many approvers as it needs, the window starting at `starts_at`.
fn approve(s: &Scenario, id: u64, approvers: usize, starts_at: Option<&str>) {
    let extra: Vec<&str> = starts_at.map(|t| vec!["--starts-at", t]).unwrap_or_default();
    for who in &APPROVERS[..approvers] {
        s.approve(id, who, &extra).assert_success();
    }
    s.wait_request_state(id, "approved", Duration::from_secs(30));
}

/// What each device holds before the order.
struct Held {
    running: u64,
    scheduled: u64,
    pending: u64,
    term: Interactive,
}

fn hold(s: &Scenario, device: &str, approvers: usize, later: &str) -> Held {
    let running = lobby_request(s, device, "INC-8801 firmware check");
    approve(s, running, approvers, None);
    let scheduled = lobby_request(s, device, "INC-8802 scheduled calibration");
    approve(s, scheduled, approvers, Some(later));
    let mut term = s.vendor.interactive(s.broker.ssh_addr(), &format!("{VENDOR}:{device}"), &[]);
    term.wait_for_shell(Duration::from_secs(60));
    let pending = lobby_request(s, device, "INC-8803 log collection");
    Held { running, scheduled, pending, term }
}

fn contain(b: &Broker, who: &str, extra: &[&str]) -> crate::harness::proc::Output {
    let mut args = vec!["contain", "zone", ZONE, "--reason", REASON, "--json"];
    args.extend_from_slice(extra);
    b.cli_as(who, &args)
}

fn state(b: &Broker, id: u64) -> String {
    b.request(id)["state"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn containing_a_zone_cuts_the_standard_session_and_gives_the_life_critical_one_its_grace() {
    let s = Setup::new("ventilator-c").criticality("life-critical").serve_env("PORTCULLIS_SESSION_STOP_GRACE", GRACE).start();
    let b = &s.broker;
    let monitor = Device::start("monitor-c");
    b.add_device(&monitor, "standard", ZONE);
    let later = humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600)).to_string();
    let mut vent = hold(&s, "ventilator-c", 2, &later);
    let mut mon = hold(&s, "monitor-c", 1, &later);
    let admin = b.admin.username.clone();

    // Hostile: no clinical confirmation while a life-critical session runs; an approver.
    let out = contain(b, &admin, &[]);
    out.assert_failure();
    assert!(out.stderr_text().contains("safe to disconnect") && out.stderr_text().contains("ventilator-c"), "{}", out.describe());
    let out = contain(b, APPROVERS[0], &["--confirmed-by", CONFIRMED]);
    out.assert_failure();
    assert!(out.stderr_text().contains("only an admin"), "{}", out.describe());
    let refused = b.wait_for_audit("containment.refused", Duration::from_secs(10), |r| r["actor"] == APPROVERS[0]);
    assert_eq!(refused["detail"]["scope"], serde_json::json!({ "kind": "zone", "name": ZONE }), "{refused}");
    assert!(b.audit_of_kind("containment.ordered").is_empty(), "a refused order was recorded");
    for h in [&vent, &mon] {
        assert_eq!((state(b, h.running), state(b, h.scheduled), state(b, h.pending)), ("approved".into(), "approved".into(), "pending".into()));
    }
    assert_eq!(b.sessions(true).len(), 2, "a refused order stopped a session");
    vent.term.run_in_shell("echo refused-$((1+1))", Duration::from_secs(30));

    // What it would do, without --as: changes nothing.
    let plan = b.cli_json(&["contain", "zone", ZONE, "--dry-run", "--json"]);
    assert_eq!((plan["devices"].as_u64(), plan["sessions"].as_array().map(Vec::len), plan["granted"].as_array().map(Vec::len), plan["pending"].as_array().map(Vec::len)), (Some(2), Some(2), Some(4), Some(2)), "{plan}");
    assert!(b.audit_of_kind("containment.ordered").is_empty(), "a dry run was recorded");

    // The order.
    let out = contain(b, &admin, &["--confirmed-by", CONFIRMED]);
    out.assert_success();
    let done: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", out.describe()));
    assert_eq!(done["scope"], serde_json::json!({ "kind": "zone", "name": ZONE }), "{done}");

    // The standard session is cut at once; the life-critical one is warned and still works.
    mon.term.expect("access was revoked by", Duration::from_secs(30));
    mon.term.wait_exit(Duration::from_secs(30));
    vent.term.expect("is stopping this session", Duration::from_secs(30));
    assert!(!vent.term.has_exited(), "the life-critical session was cut without its grace");
    let still = vent.term.run_in_shell("echo grace-$((2+2))", Duration::from_secs(10));
    assert!(still.contains("grace-4"), "{still:?}");
    vent.term.expect("the session was stopped by", Duration::from_secs(60));
    vent.term.wait_exit(Duration::from_secs(30));
    crate::harness::proc::poll_until("both sessions ended in the record", Duration::from_secs(30), || b.sessions(true).is_empty().then_some(()));

    // Every grant revoked, every pending request denied naming the containment.
    for h in [&vent, &mon] {
        assert_eq!((state(b, h.running), state(b, h.scheduled), state(b, h.pending)), ("revoked".into(), "revoked".into(), "denied".into()));
    }
    // Contained: a new request is refused, and the vendor cannot reconnect either device.
    for device in ["ventilator-c", "monitor-c"] {
        let out = s.lobby(&format!("request {device} --minutes 10 --reason 'INC-8804 retry'"));
        assert!(out.all_text().contains("contained"), "a request was not refused while contained: {}", out.describe());
    }
    assert_eq!(b.requests(Some("pending")).len(), 0, "a request was filed while contained");

    // One row names it all.
    let rows = b.audit_of_kind("containment.ordered");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let d = &rows[0]["detail"];
    assert_eq!(rows[0]["actor"], admin.as_str(), "{d}");
    assert_eq!((d["reason"].as_str(), d["confirmed_by"].as_str(), d["immediate"].as_bool()), (Some(REASON), Some(CONFIRMED), Some(false)), "{d}");
    assert_eq!(d["counts"], serde_json::json!({ "revoked": 4, "settled": 2, "stopped": 2, "graceful": 1 }), "{d}");
    let mut revoked: Vec<u64> = d["revoked"].as_array().unwrap().iter().filter_map(broker::number).collect();
    revoked.sort();
    let mut want = vec![vent.running, vent.scheduled, mon.running, mon.scheduled];
    want.sort();
    assert_eq!(revoked, want, "{d}");
    let stopped = d["stopped"].as_array().unwrap();
    let mode = |dev: &str| stopped.iter().find(|x| x["device"] == dev).map(|x| x["mode"].clone()).unwrap_or_default();
    assert_eq!((mode("ventilator-c"), mode("monitor-c")), ("graceful".into(), "immediate".into()), "{d}");

    // Lifted: requests can be made again, and the lifting is audited.
    b.cli_as(&admin, &["contain", "lift", "zone", ZONE, "--reason", "INC-8800 closed, VLAN cleaned"]).assert_success();
    let lifted = b.wait_for_audit("containment.lifted", Duration::from_secs(10), |_| true);
    assert_eq!(lifted["detail"]["reason"], "INC-8800 closed, VLAN cleaned", "{lifted}");
    let again = lobby_request(&s, "ventilator-c", "INC-8805 after the incident");
    assert_eq!(state(b, again), "pending");
}

/// The admin's button and confirmation page in Chromium, on a zone with a running
/// life-critical session: the page lists what stops (gracefully), is revoked and denied,
/// requires the clinical confirmation (the server refuses the order without it), and the
/// order made on the page warns the vendor and is one row naming the confirmation.
#[test]
fn an_admin_contains_a_zone_from_the_page_after_naming_the_clinical_confirmation() {
    use crate::harness::browser::{self, assert_no_page_problems, sign_in_env, text, web_user};
    let s = Setup::new("pump-page-c").criticality("life-critical").serve_env("PORTCULLIS_SESSION_STOP_GRACE", "5s").start();
    let b = &s.broker;
    let running = lobby_request(&s, "pump-page-c", "INC-8901 pump firmware");
    approve(&s, running, 2, None);
    let later = humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600)).to_string();
    let scheduled = lobby_request(&s, "pump-page-c", "INC-8902 calibration");
    approve(&s, scheduled, 2, Some(&later));
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let pending = lobby_request(&s, "pump-page-c", "INC-8903 logs");
    let root = web_user(b, "root-web", "admin");

    let mut env = sign_in_env(b, &root);
    env.push(("DEVICE", "pump-page-c".to_owned()));
    env.push(("ZONE", ZONE.to_owned()));
    let out = browser::run("contain.mjs", &env);

    assert_eq!(out["device_button"], "/admin/contain/device/pump-page-c", "{out}");
    let c = &out["confirm"];
    assert!(text(&c["heading"]).contains(&format!("zone {ZONE}")), "{out}");
    assert_eq!((c["graceful"].as_u64(), c["revoke"].as_u64(), c["deny"].as_u64()), (Some(1), Some(2), Some(1)), "{out}");
    assert!(text(&c["graceful_text"]).contains("life-critical"), "{out}");
    assert!(text(&c["warning"]).contains("life-critical"), "{out}");
    assert_eq!(c["confirmation_required"], true, "{out}");
    assert_eq!(out["axe"], serde_json::json!([]), "accessibility violations on the confirmation page: {out}");
    assert!(text(&out["refused"]["error"]).contains("safe to disconnect"), "{out}");
    assert!(text(&out["after"]["flash"]).contains("Containment #"), "{out}");
    assert!(text(&out["after"]["contained"]).contains(&format!("zone {ZONE} is contained")), "{out}");
    assert_no_page_problems(&out);

    term.expect("is stopping this session", Duration::from_secs(30));
    term.wait_exit(Duration::from_secs(60));
    let rows = b.audit_of_kind("containment.ordered");
    assert_eq!(rows.len(), 1, "the refused post was recorded too, or the order was not: {rows:?}");
    let d = &rows[0]["detail"];
    assert_eq!((rows[0]["actor"].as_str(), d["confirmed_by"].as_str()), (Some("root-web"), Some("Dr Ada Byron, ICU consultant on call")), "{d}");
    assert!(d["via"].as_str().is_some_and(|v| v.starts_with("web ")), "{d}");
    assert_eq!((state(b, running), state(b, scheduled), state(b, pending)), ("revoked".into(), "revoked".into(), "denied".into()));
}
