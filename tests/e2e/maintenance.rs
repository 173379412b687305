//! Maintenance windows with a real `ssh` vendor and a real `sshd` device: a device whose only
//! window is closed refuses the request in the lobby and at the gate, naming the next opening
//! in the window's time zone and in UTC — here a window agreed for the night of the next
//! Europe/Berlin clock change, whose expected opening the test computes with `jiff`; a device
//! whose window is open takes an approval, and the grant ends when the window closes. Windows
//! are written from the current time, so the tests hold whenever they run. Under
//! `outside_window = "clinical-signoff"` a vendor outside the window waits past the approvers'
//! count until an approver holding `clinical-signoff` approves, and only then reaches the device.

use crate::harness::broker::parse_request_id;
use crate::harness::scenario::{Setup, APPROVERS};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use std::time::Duration;

fn window(name: &str, device: &str, every: &str, start: &str, duration: &str, tz: &str) -> String {
    format!("[[maintenance.windows]]\nname = \"{name}\"\ndevice = \"{device}\"\nevery = \"{every}\"\nstart = \"{start}\"\nduration = \"{duration}\"\ntime_zone = \"{tz}\"\n")
}

fn now() -> Timestamp {
    Timestamp::now()
}

#[test]
fn a_closed_window_refuses_in_the_lobby_naming_the_next_opening_across_a_clock_change() {
    // The night of the next Berlin clock change, 02:00 for two hours, as the hospital agreed.
    let berlin = TimeZone::get("Europe/Berlin").unwrap();
    let change = berlin.following(now()).next().expect("a next clock change").timestamp();
    let day = change.to_zoned_datetime(berlin.clone()).date();
    let opens = day.at(2, 0, 0, 0).to_zoned_datetime(berlin.clone()).unwrap();
    let closes = day.at(4, 0, 0, 0).to_zoned_datetime(berlin.clone()).unwrap();
    // 02:00 is skipped in spring (opens 03:00 summer time) and twice in autumn (the first).
    let expected = format!(
        "clock-change from {} to {} (Europe/Berlin), {} to {} UTC",
        opens.strftime("%a %Y-%m-%d %H:%M %Z"),
        closes.strftime("%H:%M %Z"),
        opens.timestamp().strftime("%Y-%m-%d %H:%M"),
        closes.timestamp().strftime("%H:%M"),
    );
    assert!(opens.offset() != closes.offset() || opens.strftime("%H:%M").to_string() == "03:00", "the window does not span the change: {expected}");

    let s = Setup::new("pump-closed").config(&window("clock-change", "pump-closed", &day.to_string(), "02:00", "2h", "Europe/Berlin")).start();
    let out = s.lobby("request pump-closed --minutes 30 --reason 'INC-9101 firmware update'");
    out.assert_failure();
    let text = out.all_text();
    assert!(text.contains("pump-closed takes vendor access only in its maintenance windows"), "{}", out.describe());
    assert!(text.contains(&expected), "the next opening is not named as {expected:?}:\n{}", out.describe());
    assert!(parse_request_id(&text).is_none(), "a request was filed: {text}");
    let devices = s.lobby("devices");
    assert!(devices.stdout_text().contains(&format!("Maintenance windows: pump-closed is outside its maintenance windows; the next: {expected}")), "{}", devices.describe());
    assert!(s.broker.requests(None).is_empty(), "a request was filed");

    let row = s.broker.wait_for_audit("request.refused_outside_window", Duration::from_secs(30), |r| r["subject"] == "device:pump-closed");
    assert_eq!(row["detail"]["maintenance_window"]["next"]["starts_at"].as_i64(), Some(opens.timestamp().as_second()), "{row}");
    assert_eq!(row["detail"]["maintenance_window"]["next"]["ends_at"].as_i64(), Some(closes.timestamp().as_second()), "{row}");
    assert_eq!(row["detail"]["maintenance_window"]["policy"], "refuse", "{row}");

    // At the gate the vendor is told before typing a reason, and refused after.
    let mut term = s.interactive(&[]);
    let before = term.expect("Reason", Duration::from_secs(60));
    assert!(before.contains("Maintenance windows: pump-closed is outside its maintenance windows; the next: ") && before.contains(&expected), "{before:?}");
    term.send_line("INC-9102 firmware update");
    term.expect("Minutes", Duration::from_secs(30));
    term.send_line("30");
    term.expect("takes vendor access only in its maintenance windows", Duration::from_secs(30));
    term.wait_exit(Duration::from_secs(30));
    assert_eq!(s.device.accepted(), 0, "the device was contacted");
    assert!(s.broker.requests(None).is_empty(), "a request was filed at the gate");
}

#[test]
fn an_open_window_clips_the_approved_grant_to_its_end() {
    // A daily window in New York that opened five minutes ago for twenty minutes.
    let started = now().as_second() - 300;
    let local = Timestamp::from_second(started).unwrap().in_tz("America/New_York").unwrap();
    let closes = started / 60 * 60 + 20 * 60;
    let until = Timestamp::from_second(closes).unwrap().in_tz("America/New_York").unwrap().strftime("%H:%M %Z").to_string();
    let s = Setup::new("pump-open").config(&window("morning-service", "pump-open", "day", &local.strftime("%H:%M").to_string(), "20m", "America/New_York")).start();

    let mut term = s.interactive(&[]);
    let before = term.expect("Reason", Duration::from_secs(60));
    assert!(before.contains(&format!("pump-open is inside maintenance window morning-service until {until}")), "{before:?}");
    term.send_line("INC-9201 replace battery");
    term.expect("Minutes", Duration::from_secs(30));
    term.send_line("120");
    let text = term.expect("is waiting for approval", Duration::from_secs(30));
    let id = parse_request_id(&text).unwrap_or_else(|| panic!("no request id: {text:?}"));

    s.approve(id, APPROVERS[0], &[]).assert_success();
    let said = term.expect("Connecting", Duration::from_secs(60));
    assert!(said.contains("(when maintenance window morning-service closes)"), "{said:?}");
    term.wait_for_shell(Duration::from_secs(60));

    let row = s.broker.wait_for_audit("request.approved", Duration::from_secs(30), |r| r["subject"] == format!("request:{id}"));
    assert_eq!(row["detail"]["ends_at"].as_i64(), Some(closes), "120 minutes asked; the grant ends with the window: {row}");
    assert_eq!(row["detail"]["clipped_to_window"], true, "{row}");
    assert_eq!(row["detail"]["maintenance_window"]["window"], "morning-service", "{row}");
    // The vendor's own view says the same end.
    let status = s.lobby("status");
    let end = Timestamp::from_second(closes).unwrap().strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    assert!(status.stdout_text().contains(&format!("shell until {end}")), "{}", status.describe());
    let created = s.broker.wait_for_audit("request.created", Duration::from_secs(30), |r| r["subject"] == format!("request:{id}"));
    assert_eq!(created["detail"]["maintenance_window"]["state"], "inside", "{created}");
}

#[test]
fn the_pages_show_the_window_on_the_pending_card_and_the_devices_page() {
    // The device's own window is open (closes in about a quarter of an hour); the zone's weekly
    // Berlin window is listed too.
    let started = now().as_second() - 300;
    let local = Timestamp::from_second(started).unwrap().in_tz("Europe/Berlin").unwrap();
    let closes = started / 60 * 60 + 20 * 60;
    let until = Timestamp::from_second(closes).unwrap().in_tz("Europe/Berlin").unwrap().strftime("%H:%M %Z").to_string();
    let zone_window = "[[maintenance.windows]]\nname = \"icu-tuesday\"\nzone = \"icu\"\nevery = \"tuesday\"\nstart = \"02:00\"\nduration = \"2h\"\ntime_zone = \"Europe/Berlin\"\n";
    let s = Setup::new("ventilator-3")
        .config(&window("ventilator-service", "ventilator-3", "day", &local.strftime("%H:%M").to_string(), "20m", "Europe/Berlin"))
        .config(zone_window)
        .start();
    let id = s.request_via_lobby(90, "INC-9301 sensor calibration");
    let ada = crate::harness::browser::web_user(&s.broker, "ada", "admin");
    let mut env = crate::harness::browser::sign_in_env(&s.broker, &ada);
    env.push(("REQUEST_ID", id.to_string()));
    env.push(("DEVICE", "ventilator-3".to_owned()));
    let out = crate::harness::browser::run("windows.mjs", &env);
    let text = |k: &str| out[k].as_str().unwrap_or_default().to_owned();

    assert_eq!(out["card_state"], "inside", "{out}");
    assert!(text("card_window").contains(&format!("inside maintenance window ventilator-service until {until}")), "{out}");
    assert!(text("card_window").contains("An approval now grants access until the window closes"), "{out}");
    assert!(text("device_cell").contains("open: ventilator-service") && text("device_cell").contains(&until), "{out}");
    assert_eq!(out["window_rows"], 2, "{out}");
    let section = text("section");
    assert!(section.contains("Tuesdays 02:00 for 2h (Europe/Berlin)") && section.contains("come from the configuration"), "{out}");
    assert_eq!(out["violations"].as_array().map(Vec::len), Some(0), "axe-core: {out}");
    assert!(text("flash").contains(&format!("#{id}")), "{out}");
    let row = s.broker.wait_for_audit("request.approved", Duration::from_secs(30), |r| r["subject"] == format!("request:{id}"));
    assert!(row["detail"]["via"].as_str().unwrap_or_default().starts_with("web"), "{row}");
    assert_eq!(row["detail"]["ends_at"].as_i64(), Some(closes), "approved on the page, the grant ends with the window: {row}");
}

#[test]
fn a_reload_puts_new_windows_in_force() {
    let s = Setup::new("pump-reload").start();
    let first = s.lobby("request pump-reload --minutes 30 --reason 'INC-9401 before the windows'");
    first.assert_success();
    assert!(!first.all_text().contains("Maintenance windows"), "{}", first.describe());

    // The hospital agrees a window that opens three hours from now; SIGHUP puts it in force.
    let opens = now().as_second() + 3 * 3600;
    let start = Timestamp::from_second(opens).unwrap().in_tz("Asia/Tokyo").unwrap().strftime("%H:%M").to_string();
    {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new().append(true).open(&s.broker.config).unwrap();
        file.write_all(format!("\n{}", window("tokyo-evening", "pump-reload", "day", &start, "1h", "Asia/Tokyo")).as_bytes()).unwrap();
    }
    let hup = std::process::Command::new("kill").args(["-HUP", &s.broker.server_pid().to_string()]).status().unwrap();
    assert!(hup.success());
    s.broker.wait_for_audit("node.reloaded", Duration::from_secs(30), |_| true);

    let out = s.lobby("request pump-reload --minutes 30 --reason 'INC-9402 after the reload'");
    out.assert_failure();
    assert!(out.all_text().contains("the next: tokyo-evening from ") && out.all_text().contains("JST (Asia/Tokyo)"), "{}", out.describe());
}

#[test]
fn outside_the_window_the_vendor_waits_for_the_clinical_signoff() {
    // The device's only window opens in three hours; outside it the zone asks for a sign-off.
    let opens = now().as_second() + 3 * 3600;
    let start = Timestamp::from_second(opens).unwrap().strftime("%H:%M").to_string();
    let s = Setup::new("pump-signoff")
        .config(&window("night-service", "pump-signoff", "day", &start, "1h", "UTC"))
        .config("[[policy.rules]]\nzone = \"icu\"\noutside_window = \"clinical-signoff\"\n")
        .start();
    s.broker.add_user("cne", "approver", None, None);
    s.broker.cli_ok(&["user", "edit", "cne", "--grant", "clinical-signoff"]);
    let vendor = s.broker.cli(&["user", "edit", crate::harness::scenario::VENDOR, "--grant", "clinical-signoff"]);
    vendor.assert_failure();
    assert!(vendor.all_text().contains("only approver and admin accounts hold it"), "{}", vendor.describe());

    let (mut term, id) = s.interactive_request(30, "INC-9501 night firmware fix");
    let first = s.approve(id, APPROVERS[0], &[]);
    first.assert_success();
    assert!(first.stdout_text().contains("waiting for a clinical sign-off"), "{}", first.describe());
    // Told from the start, then again once the approval is in.
    term.expect(&format!("request #{id}: 1 of 1 approvals; waiting for a clinical sign-off"), Duration::from_secs(30));
    let second = s.approve(id, APPROVERS[1], &[]);
    second.assert_failure();
    assert!(second.all_text().contains(&format!("request #{id} needs a clinical sign-off: an approver holding clinical-signoff must approve")), "{}", second.describe());
    assert_eq!(s.broker.request(id)["clinical_signoff"], serde_json::json!({ "given_by": null }), "request list --json");
    assert_eq!(s.device.accepted(), 0, "the device was contacted before the sign-off");

    s.approve(id, "cne", &[]).assert_success();
    let said = term.expect("Connecting", Duration::from_secs(60));
    assert!(said.contains(&format!("request #{id} approved")), "{said:?}");
    term.wait_for_shell(Duration::from_secs(60));
    let row = s.broker.wait_for_audit("request.approved", Duration::from_secs(30), |r| r["subject"] == format!("request:{id}"));
    assert_eq!((row["actor"].as_str(), row["detail"]["clinical_signoff"].as_str()), (Some("cne"), Some("cne")), "{row}");
    assert_eq!(row["detail"]["maintenance_window"]["policy"], "clinical-signoff", "{row}");
    let refused = s.broker.wait_for_audit("request.approval_refused", Duration::from_secs(30), |r| r["subject"] == format!("request:{id}"));
    assert_eq!(refused["actor"], APPROVERS[1], "{refused}");
}
