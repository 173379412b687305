//! The approver's web page in a real browser (Chromium driven by playwright-core, see
//! `harness::browser`), against the real broker with a real `sshd` device and a real `ssh`
//! vendor: approving a waiting vendor from the page lets the vendor's session reach the
//! device; stopping a live session from the page ends the vendor's ssh; a first sign-in
//! with a one-time password enrols an authenticator, after which the admin adds a vendor and
//! a device on the admin pages. Each test has its own web users, so no
//! TOTP code is used twice.

use crate::harness::broker::Broker;
use crate::harness::browser::{self, assert_no_page_problems, sign_in_env, text, web_user};
use crate::harness::scenario::{Setup, APPROVERS, VENDOR};
use std::time::Duration;

/// A valid OpenSSH host key line for a device that is only enrolled, never contacted.
const HOST_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJZEQfikHFM1diPcvO4jLYg9gdY56d7xc3Y83ov/rpzK";
/// A vendor's public key for an account made on the page.
const VENDOR_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA38UI7MkRWsfgx0aP2PQKALzA3jN6LJ07k9OVDsV18r acme-newhire@laptop";

#[test]
fn approver_approves_a_waiting_vendor_on_the_page_and_the_session_reaches_the_device() {
    let s = Setup::new("pump-web").start();
    let (mut term, id) = s.interactive_request(25, "INC-7001 replace pump battery");
    let carol = web_user(&s.broker, "carol", "approver");

    let mut env = sign_in_env(&s.broker, &carol);
    env.push(("REQUEST_ID", id.to_string()));
    let out = browser::run("approve.mjs", &env);

    assert!(text(&out["first_url"]).ends_with("/login"), "a visitor was not sent to sign in: {out}");
    // innerText follows the style sheet (the criticality badge is upper case).
    let card = text(&out["before"]["card"]).to_lowercase();
    for needle in [VENDOR, "pump-web", "inc-7001 replace pump battery", "25 min", "standard", "zone icu"] {
        assert!(card.contains(needle), "the request card lacks {needle:?}: {card}");
    }
    assert_eq!(out["before"]["tally"], "0 of 1 approvals", "{out}");
    assert_eq!(out["before"]["badge"], "1", "{out}");
    assert_eq!(out["before"]["minutes"], "25", "the window is not pre-filled with what was asked: {out}");
    assert_eq!(out["before"]["deny_form"], 1, "{out}");
    assert!(text(&out["flash"]).contains(&format!("#{id} approved")), "{out}");
    assert_eq!(out["still_listed"], 0, "the approved request is still listed as pending: {out}");
    assert_eq!(out["badge_after"], "0", "{out}");
    // The tab left open learned of the decision through the badge script, without a reload.
    assert_eq!((&out["other_badge_before"], &out["other_badge_after"]), (&"1".into(), &"0".into()), "{out}");
    assert_no_page_problems(&out);

    // The approval is the core's: recorded under the approver's name, and the waiting vendor
    // gets a shell on the device.
    let request = s.wait_request_state(id, "approved", Duration::from_secs(30));
    assert_eq!(request["approvals"], serde_json::json!(["carol"]), "{request}");
    term.wait_for_shell(Duration::from_secs(60));
    assert!(s.device.accepted() > 0, "the device was not contacted after approval");
    let shell = term.run_in_shell("echo via-web-$((6+1))", Duration::from_secs(30));
    assert!(shell.contains("via-web-7"), "{shell:?}");
}

#[test]
fn approver_stops_a_live_life_critical_session_from_the_page() {
    let s = Setup::new("ventilator-web")
        .criticality("life-critical")
        .serve_env("PORTCULLIS_SESSION_STOP_GRACE", "3s")
        .start();
    let id = s.request_via_lobby(30, "INC-7002 ventilator firmware check");
    s.approve(id, APPROVERS[0], &[]).assert_success();
    s.approve(id, APPROVERS[1], &[]).assert_success();
    s.wait_request_state(id, "approved", Duration::from_secs(30));
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let dave = web_user(&s.broker, "dave", "approver");

    let mut env = sign_in_env(&s.broker, &dave);
    env.push(("DEVICE", "ventilator-web".to_owned()));
    env.push(("MODE", "graceful".to_owned()));
    let out = browser::run("stop.mjs", &env);

    let card = text(&out["card"]);
    assert!(card.contains(VENDOR) && card.contains("left"), "the session card lacks vendor or time left: {card}");
    assert!(text(&out["confirm"]["heading"]).contains("ventilator-web"), "{out}");
    let warning = text(&out["confirm"]["warning"]);
    assert!(warning.contains("life-critical"), "no clinical warning for a life-critical device: {out}");
    assert_eq!(out["confirm"]["default_mode"], "graceful", "{out}");
    assert!(text(&out["flash"]).contains("stopping"), "{out}");
    assert_no_page_problems(&out);

    // Graceful: the vendor is warned, then the session closes and ssh ends.
    term.wait_exit(Duration::from_secs(60));
    let ended = s.wait_session_ended(id, Duration::from_secs(30));
    assert!(
        ended["stop_requested_by"].to_string().contains("dave") || ended.to_string().contains("dave"),
        "the stop is not attributed to the approver: {ended}"
    );
}

#[test]
fn first_sign_in_enrols_an_authenticator_then_the_admin_adds_a_vendor_and_a_device() {
    let mut broker = Broker::init();
    broker.add_user("nurse-kim", "approver", Some("ICU"), None);
    broker.add_user("audit-lee", "auditor", Some("Compliance"), None);
    broker.serve(&[]);
    let admin = broker.admin.clone();
    let one_time = admin.password.clone().expect("init prints the admin's one-time password");
    let env = vec![
        ("PORTCULLIS_URL", browser::base_url(broker.web_addr())),
        ("WEB_USER", admin.username.clone()),
        ("WEB_PASSWORD", one_time),
        ("NEW_PASSWORD", "a-long-new-passphrase-42".to_owned()),
        ("NEW_VENDOR", "acme-newhire".to_owned()),
        ("NEW_DEVICE", "ventilator-3".to_owned()),
        ("HOST_KEY", HOST_KEY.to_owned()),
        ("VENDOR_KEY", VENDOR_KEY.to_owned()),
    ];
    let out = browser::run("enrol.mjs", &env);

    let secret = text(&out["secret"]);
    assert!(secret.len() >= 16 && secret.chars().all(|c| c.is_ascii_alphanumeric()), "{out}");
    assert_ne!(secret, admin.totp_secret, "enrolment must issue a new TOTP secret: {out}");
    assert_eq!(out["qr_is_svg"], true, "{out}");
    assert!(text(&out["mismatch"]).contains("differ"), "{out}");
    assert_eq!(out["landed"]["path"], "/requests", "{out}");
    assert!(text(&out["landed"]["flash"]).contains("authenticator"), "{out}");
    assert!(text(&out["vendor_secret"]).len() >= 16, "{out}");
    assert_eq!(out["listed"], 1, "the new vendor is not on the accounts page: {out}");
    assert!(text(&out["device_flash"]).contains("ventilator-3"), "{out}");
    let row = text(&out["device_row"]).to_lowercase();
    assert!(row.contains("life-critical") && row.contains("2 approvers"), "the device row lacks its policy: {row}");
    assert_no_page_problems(&out);

    let devices = crate::harness::broker::as_array(broker.cli_json(&["device", "list", "--json"]));
    assert!(devices.iter().any(|d| d["name"] == "ventilator-3"), "the device added on the page is not listed: {devices:?}");
    assert!(text(&out["changed_flash"]).contains("changed"), "{out}");
    let moved = broker.wait_for_audit("device.edited", Duration::from_secs(10), |r| r["subject"] == "device:ventilator-3");
    assert_eq!(moved["detail"]["changes"]["zone"], serde_json::json!({ "old": "icu", "new": "nicu" }), "{moved}");
    let users = crate::harness::broker::as_array(broker.cli_json(&["user", "list", "--json"]));
    let vendor = users.iter().find(|u| u["username"] == "acme-newhire").unwrap_or_else(|| panic!("no new vendor: {users:?}"));
    assert_eq!(vendor["role"], "vendor", "{vendor}");
    assert_eq!(out["keys_shown"], 1, "{out}");
    assert!(text(&out["expiry_text"]).contains("2031"), "{out}");
    assert_eq!(vendor["expires_at"], "2031-04-01T00:00:00Z", "the end date set on the page: {vendor}");
    broker.wait_for_audit("user.enrolled", Duration::from_secs(10), |r| r.to_string().contains(&admin.username));
}
