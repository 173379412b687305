//! Alerts ranked by patient-safety impact, end to end: a real `ssh` vendor on a real `sshd`
//! device through `portcullis serve`, whose CEF export goes to a real syslog daemon
//! (Debian's rsyslogd on loopback, [`crate::harness::rsyslog`]). Each of the six rules fires
//! exactly once, and rsyslog reads the severity that the device's zone and the `[alerts]`
//! table give from the message's PRI (the CEF header carries the same severity on its
//! 0–10 scale). Floods of wrong codes and refused forwardings make one alert each.

use crate::harness::rsyslog::{Received, Rsyslog};
use crate::harness::scenario::{Setup, APPROVERS};
use crate::harness::vendor::Code;
use jiff::Timestamp;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

/// The six alert kinds, each with the syslog severity and CEF severity it must arrive with:
/// the device (standard, in zone `icu` whose floor is `critical`) makes its alerts critical
/// (syslog 2, CEF 10); alerts about an account alone take `no_device = "low"` (notice 5, CEF 5).
const EXPECTED: &[(&str, u8, u8)] = &[
    ("alert.outside_window", 2, 10),
    ("alert.unusual_hours", 2, 10),
    ("alert.refusal_burst", 2, 10),
    ("alert.bytes_exceeded", 2, 10),
    ("alert.new_source", 5, 5),
    ("alert.failed_codes", 5, 5),
];

/// The configuration: a CEF sink to rsyslog and [`rules`].
fn config(siem: &Rsyslog, device: &str) -> String {
    format!("[[export.sinks]]\nname = \"siem\"\nformat = \"cef\"\ntarget = \"tcp://{}\"\n{}", siem.addr, rules(device))
}

/// A maintenance window on `device` that is closed now with policy `allow`, working days that
/// leave out today and tomorrow, and low thresholds.
fn rules(device: &str) -> String {
    let now = Timestamp::now();
    let opens = now.checked_add(jiff::SignedDuration::from_hours(6)).unwrap().in_tz("UTC").unwrap();
    let working_day = now.checked_add(jiff::SignedDuration::from_hours(48)).unwrap().in_tz("UTC").unwrap().weekday();
    let day = format!("{working_day:?}").to_lowercase();
    format!(
        "[[maintenance.windows]]\nname = \"night-service\"\ndevice = \"{device}\"\nevery = \"day\"\nstart = \"{start}\"\nduration = \"1h\"\ntime_zone = \"UTC\"\n\
         [policy]\noutside_window = \"allow\"\n\
         [auth]\nmax_failures = 100\n\
         [alerts]\nbytes_per_session = 200000\nrefusal_burst = 3\nrefusal_window = \"10m\"\nfailed_codes = 3\nfailed_codes_window = \"10m\"\n\
         working_days = [\"{day}\"]\ntime_zone = \"UTC\"\nno_device = \"low\"\n\
         [alerts.zones]\nicu = \"critical\"\n",
        start = opens.strftime("%H:%M"),
    )
}

/// The CEF severity in a CEF line's header (`CEF:0|V|P|VER|KIND|NAME|SEVERITY|…`).
fn cef_severity(msg: &str) -> Option<u8> {
    msg.split("CEF:0|").nth(1)?.split('|').nth(5)?.parse().ok()
}

fn alerts_of(got: &[Received]) -> Vec<&Received> {
    got.iter().filter(|r| r.msgid.starts_with("alert.") && r.msgid != "alert.acknowledged").collect()
}

#[test]
fn each_rule_fires_once_with_its_severity_in_a_real_syslog_daemon() {
    let siem = Rsyslog::start();
    let s = Setup::new("pump-alerts").config(&config(&siem, "pump-alerts")).start();

    // The first sign-in ever (from 127.0.0.1) only records the address.
    let id = s.request_via_lobby(30, "INC-9401 firmware check");
    s.approve(id, APPROVERS[0], &[]).assert_success();

    // One session, from another loopback address: a new source, outside the window and the
    // working days, three refused remote forwardings, 300 kB from the device.
    let out = s.exec_with(
        &["-o", "BindAddress=127.0.0.2", "-o", "ExitOnForwardFailure=no", "-R", "0:127.0.0.1:1", "-R", "0:127.0.0.1:2", "-R", "0:127.0.0.1:3", "-R", "0:127.0.0.1:4"],
        "head -c 300000 /dev/zero",
    );
    out.assert_success();
    assert_eq!(out.stdout.len(), 300_000, "{}", out.describe());

    // A flood of wrong codes on ten connections: one alert.
    let addr = s.broker.ssh_addr();
    for _ in 0..10 {
        let wrong = s.vendor.totp().wrong_code();
        s.vendor.exec_with(addr, &s.device_login(), Code::Exactly(wrong), &[], "true").assert_failure();
    }
    assert!(s.broker.audit_of_kind("auth.totp.failed").len() >= 3, "the wrong codes were not all refused as such");

    siem.wait_until("one alert of each rule", WAIT, |got| EXPECTED.iter().all(|(k, _, _)| got.iter().any(|r| r.msgid == *k)));
    // Everything the log holds has reached the daemon before counting: no late duplicate.
    let head = s.broker.audit().iter().filter_map(|r| r["seq"].as_i64()).max().unwrap();
    let got = siem.wait_until("the audit head", WAIT, |got| got.iter().any(|r| r.msg.contains(&format!("externalId={head} "))));
    let alerts = alerts_of(&got);
    for (kind, syslog, cef) in EXPECTED {
        let of: Vec<&&Received> = alerts.iter().filter(|r| r.msgid == *kind).collect();
        assert_eq!(of.len(), 1, "{kind} arrived {} times:\n{alerts:#?}", of.len());
        assert_eq!(of[0].severity, *syslog, "{kind}: syslog severity read by rsyslog from the PRI: {:?}", of[0]);
        assert_eq!(cef_severity(&of[0].msg), Some(*cef), "{kind}: CEF severity: {}", of[0].msg);
    }
    assert_eq!(alerts.len(), EXPECTED.len(), "no other alert: {alerts:#?}");
    // Rows that are not alerts keep their kind's severity (a sign-in is informational, 6).
    assert!(got.iter().any(|r| r.msgid == "auth.login" && r.severity == 6), "{got:#?}");

    // The audit rows say what each rule saw.
    let bytes = s.broker.audit_of_kind("alert.bytes_exceeded");
    assert!(bytes[0]["detail"]["bytes"].as_u64().is_some_and(|b| b > 200_000), "{}", bytes[0]);
    assert_eq!(bytes[0]["detail"]["zone"], "icu");
    let source = s.broker.audit_of_kind("alert.new_source");
    assert_eq!(source[0]["detail"]["source"], "127.0.0.2", "{}", source[0]);
    let window = s.broker.audit_of_kind("alert.outside_window");
    assert!(window[0]["detail"]["next_window"].as_str().is_some_and(|n| n.contains("night-service")), "{}", window[0]);
    assert_eq!(window[0]["detail"]["outside_window_policy"], "allow");
    let burst = s.broker.audit_of_kind("alert.refusal_burst");
    assert_eq!(burst[0]["detail"]["refusals"], 3, "{}", burst[0]);
}

/// The alerts page in Chromium: an approver sees the alerts of one session on a
/// life-critical device, newest first, with their severity, and acknowledges one with its
/// button; the acknowledgement is an audit row naming the approver, and the page then shows
/// who acknowledged it, with no button left.
#[test]
fn the_alerts_page_lists_alerts_and_acknowledges_in_chromium() {
    use crate::harness::browser::{assert_no_page_problems, run, sign_in_env, web_user};
    let s = Setup::new("ventilator-7").criticality("life-critical").config(&rules("ventilator-7")).start();
    let id = s.request_via_lobby(30, "INC-9501 flow sensor");
    for who in APPROVERS {
        s.approve(id, who, &[]).assert_success();
    }
    s.wait_request_state(id, "approved", WAIT);
    s.exec_with(&["-o", "BindAddress=127.0.0.2"], "uptime").assert_success();
    let window = s.broker.wait_for_audit("alert.outside_window", WAIT, |_| true);
    s.broker.wait_for_audit("alert.unusual_hours", WAIT, |_| true);
    s.broker.wait_for_audit("alert.new_source", WAIT, |_| true);
    let seq = window["seq"].as_i64().unwrap();

    let carol = web_user(&s.broker, "carol", "approver");
    let mut env = sign_in_env(&s.broker, &carol);
    env.push(("ALERT_SEQ", seq.to_string()));
    let out = run("alerts.mjs", &env);
    assert_no_page_problems(&out);
    assert_eq!(out["violations"], serde_json::json!([]), "axe-core: {out}");
    let listed = out["listed"].as_array().unwrap();
    let seqs: Vec<i64> = listed.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert_eq!(seqs.len(), 3, "{out}");
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");
    let shown = listed.iter().find(|r| r["seq"] == seq).unwrap();
    assert_eq!((shown["severity"].as_str(), shown["chip"].as_str(), shown["rule"].as_str()), (Some("critical"), Some("CRITICAL"), Some("outside_window")), "{out}");
    assert!(shown["session_link"].as_str().is_some_and(|l| l.starts_with("/sessions/")), "{out}");
    let source = listed.iter().find(|r| r["rule"] == "new_source").unwrap();
    assert_eq!(source["severity"], "low", "an alert about the account alone takes no_device: {out}");
    assert!(out["flash"].as_str().unwrap_or_default().contains(&format!("Alert {seq} acknowledged")), "{out}");
    assert!(out["acked"].as_str().unwrap_or_default().contains("Acknowledged by carol"), "{out}");
    assert_eq!(out["still_button"], 0, "{out}");
    let ack = s.broker.wait_for_audit("alert.acknowledged", WAIT, |r| r["detail"]["alert_seq"] == seq);
    assert_eq!(ack["actor"], "carol", "{ack}");
    assert_eq!(ack["detail"]["severity"], "critical", "{ack}");

    // The command line reads the same list and acknowledges through the same rule: once.
    let listed = s.broker.cli_json(&["alert", "list", "--json"]);
    let acked = listed.as_array().unwrap().iter().find(|a| a["seq"] == seq).cloned().unwrap();
    assert_eq!(acked["acknowledged_by"], "carol", "{listed}");
    let again = s.broker.cli(&["alert", "ack", &seq.to_string()]);
    assert!(!again.status.success() && again.stderr_text().contains(&format!("alert {seq} was already acknowledged by carol")), "{}", again.describe());
    let other = source["seq"].as_i64().unwrap();
    let done = s.broker.cli_json(&["alert", "ack", &other.to_string(), "--json"]);
    assert!(done["acknowledged_by"].as_str().is_some_and(|b| b.starts_with("cli:")), "{done}");
    assert_eq!(s.broker.audit_of_kind("alert.acknowledged").len(), 2, "the refused second acknowledgement wrote nothing");
}
