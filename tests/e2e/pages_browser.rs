//! Pages people can read, checked in a real browser (Chromium driven by playwright-core)
//! against a real broker with a real `sshd` device and a real `ssh` vendor: every page passes
//! axe-core's accessibility check with no serious or critical violation, in the light theme
//! and in the dark one (`prefers-color-scheme`); nothing on any page, table or button reaches
//! past the right edge of a 1280 px window; and an audit log row's height does not grow with
//! its detail, which is a list of keys and values with human times.

use crate::harness::broker::number;
use crate::harness::browser::{self, assert_no_page_problems, sign_in_env, text, web_user};
use crate::harness::scenario::{Setup, VENDOR};
use serde_json::Value;
use std::time::Duration;

/// The tallest an audit row may be: two lines of text and the cell padding, whatever the
/// detail holds.
const AUDIT_ROW_MAX_PX: u64 = 64;

#[test]
fn every_page_passes_axe_fits_1280_px_in_light_and_dark_and_audit_rows_stay_short() {
    let s = Setup::new("infusion-9").tcp_ports(&[104]).start();
    // A finished session with a recording (the session record and replay pages), then an
    // approved grant that stays active (Revoke in the history) and one waiting request.
    let id = s.grant(30, "INC-8300 pages check: export the pump event log and compare firmware checksums");
    s.exec("echo pages-$((40+2)) && uname -a").assert_success();
    let session = s.wait_session_ended(id, Duration::from_secs(30));
    let session_id = number(&session["id"]).expect("session id");

    let ada = web_user(&s.broker, "ada", "admin");
    let mut env = sign_in_env(&s.broker, &ada);
    env.push(("SESSION_ID", session_id.to_string()));
    env.push(("DEVICE", "infusion-9".to_owned()));
    env.push(("VENDOR", VENDOR.to_owned()));
    // An auditor limited to a zone: its account page has the zones and the phi permission.
    web_user(&s.broker, "aud", "auditor");
    s.broker.cli_ok(&["user", "edit", "aud", "--zones", "icu", "--grant", "phi"]);
    env.push(("AUDITOR", "aud".to_owned()));
    let out = browser::run("pages.mjs", &env);

    assert!(out["revoke_buttons"].as_u64().unwrap_or(0) >= 1, "the active grant has no Revoke button in the history: {}", out["revoke_buttons"]);
    let pages = out["pages"].as_object().expect("pages");
    assert_eq!(pages.len(), 26, "thirteen pages in each theme: {:?}", pages.keys().collect::<Vec<_>>());
    let mut failures = Vec::new();
    for (name, page) in pages {
        let violations = page["violations"].as_array().expect("violations");
        if !violations.is_empty() {
            failures.push(format!("{name}: axe-core: {}", Value::from(violations.clone())));
        }
        let over = page["over"].as_array().expect("over");
        if !over.is_empty() {
            failures.push(format!("{name}: past the right edge at 1280 px: {}", Value::from(over.clone())));
        }
        let dark = name.ends_with("-dark");
        if page["light"].as_bool() != Some(!dark) {
            failures.push(format!("{name}: background {} is not a {} theme", page["bg"], if dark { "dark" } else { "light" }));
        }
    }
    for theme in ["audit", "audit-dark"] {
        let rows = pages[theme]["rows"].as_array().expect("audit rows");
        assert!(rows.len() >= 10, "too few audit rows to judge: {rows:?}");
        let tallest = rows.iter().filter_map(|r| r["height"].as_u64()).max().unwrap_or(0);
        if tallest > AUDIT_ROW_MAX_PX {
            failures.push(format!("{theme}: an audit row is {tallest}px tall: {rows:?}"));
        }
        let with_pairs = rows.iter().filter(|r| r["pairs"].as_u64().unwrap_or(0) > 0).count();
        if with_pairs == 0 {
            failures.push(format!("{theme}: no audit detail is shown as keys and values: {rows:?}"));
        }
        for r in rows {
            let t = text(&r["time"]);
            // `2026-11-29 11:30:59 UTC`, not `2026-11-29T11:30:59.123Z`.
            if t.get(10..11) != Some(" ") || t.ends_with('Z') || t.len() > 24 {
                failures.push(format!("{theme}: time {t:?} is not a human time"));
            }
        }
    }
    match pages["audit"]["opened"].as_str() {
        Some(opened) if !opened.contains('{') && !opened.contains('"') => {}
        other => failures.push(format!("audit: an opened detail is not a key/value list: {other:?}")),
    }
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
    assert_no_page_problems(&out);
}
