//! The auditor's pages in a real browser (Chromium driven by playwright-core), against the
//! real broker with a real `sshd` device and a real `ssh` vendor: an auditor finds a session
//! the vendor made in the same test, replays it (the player shows what the vendor's command
//! printed), sees it verified, downloads the `.cast`, exports the evidence bundle (which
//! `portcullis evidence verify` accepts), and finds the replay, the download and the export
//! as audit rows naming it and its address, listed under "Viewed by"; once a byte of the recording is changed the pages
//! say it was altered. Live: what a vendor types into a running session reaches the
//! auditor's view and a plain websocket, an approver who did not approve the session is
//! refused both, and the view says when the session ends — also when the session is held by
//! another node of a PostgreSQL cluster (followed through the shared recording store).

use crate::harness::broker::number;
use crate::harness::browser::{self, assert_no_page_problems, sign_in_env, text, web_user};
use crate::harness::proc;
use crate::harness::pg::TestDb;
use crate::harness::scenario::{Scenario, Setup, APPROVERS, VENDOR};
use std::net::SocketAddr;
use std::time::Duration;

#[test]
fn auditor_finds_replays_and_verifies_a_real_session_and_sees_an_altered_recording_flagged() {
    let s = Setup::new("infusion-7").start();
    let id = s.grant(30, "INC-8100 occlusion alarm after update");
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let printed = term.run_in_shell("echo replay-$((6*7))-done", Duration::from_secs(30));
    assert!(printed.contains("replay-42-done"), "{printed:?}");
    term.send_line("exit");
    term.wait_exit(Duration::from_secs(30));
    let session = s.wait_session_ended(id, Duration::from_secs(30));
    let session_id = number(&session["id"]).expect("session id");
    let sealed = s.broker.wait_for_audit("recording.sealed", Duration::from_secs(30), |r| r["subject"] == format!("session:{session_id}"));
    let cast_path = text(&sealed["detail"]["path"]).to_owned();

    let eve = web_user(&s.broker, "eve", "auditor");
    let bundle = s.broker.data_dir.join("from-the-browser.tar.gz");
    let mut env = sign_in_env(&s.broker, &eve);
    env.push(("DEVICE", "infusion-7".to_owned()));
    env.push(("NEEDLE", "replay-42-done".to_owned()));
    env.push(("EVIDENCE_OUT", bundle.display().to_string()));
    let out = browser::run("replay.mjs", &env);

    assert_eq!(out["session_id"], session_id.to_string(), "the search found another session: {out}");
    assert_eq!(out["found"], 1, "{out}");
    let row = text(&out["row"]);
    assert!(row.contains(VENDOR) && row.contains("INC-8100"), "the result row lacks vendor or reason: {row}");
    let facts = text(&out["record"]["facts"]);
    for needle in [VENDOR, "infusion-7", "INC-8100 occlusion alarm after update", "shell"] {
        assert!(facts.contains(needle), "the session record lacks {needle:?}: {facts}");
    }
    assert!(text(&out["record"]["approvals"]).contains(APPROVERS[0]), "the approval is not shown: {out}");
    assert_eq!(out["record"]["recording_status"], "intact", "{out}");
    assert!(out["record"]["audit_rows"].as_u64().unwrap_or(0) >= 4, "the session's audit rows are not listed: {out}");
    assert_eq!(out["replay"]["state"], "intact", "{out}");
    assert!(text(&out["replay"]["text"]).starts_with("Verified"), "{out}");
    assert!(text(&out["terminal"]).contains("replay-42-done"), "{out}");
    assert!(text(&out["terminal_at_end"]).contains("replay-42-done"), "{out}");
    let markers = out["markers"].as_array().expect("markers");
    assert!(markers.iter().any(|m| text(m).contains("end:")), "no end marker listed: {out}");
    assert_eq!((out["cast_status"].as_u64(), out["cast_has_needle"].as_bool()), (Some(200), Some(true)), "{out}");
    assert_no_page_problems(&out);

    // The bundle the browser saved checks out offline, and the export is on the record.
    let verified = s.broker.cli(&["evidence", "verify", bundle.to_str().expect("utf-8 path")]);
    verified.assert_success();
    s.broker.wait_for_audit("evidence.exported", Duration::from_secs(10), |r| r["actor"] == "eve");

    // The replay was an audit row naming the auditor, the session and the browser's address
    // as the server saw it; so was the download of the .cast; and the record lists both.
    let subject = format!("session:{session_id}");
    let replayed = s.broker.wait_for_audit("recording.replayed", Duration::from_secs(10), |r| r["actor"] == "eve" && r["subject"] == subject);
    let via = text(&replayed["detail"]["via"]).to_owned();
    assert!(via.starts_with("web 127.0.0.1:"), "the replay row does not say where from: {replayed}");
    assert_eq!((replayed["detail"]["channel"].as_u64(), replayed["detail"]["device"].as_str()), (Some(1), Some("infusion-7")), "{replayed}");
    s.broker.wait_for_audit("recording.downloaded", Duration::from_secs(10), |r| r["actor"] == "eve" && r["subject"] == subject);
    let viewed = out["viewed_by"].as_array().unwrap_or_else(|| panic!("no Viewed by list: {out}"));
    let whats: Vec<&str> = viewed.iter().map(|v| text(&v["what"])).collect();
    for what in ["replay", "download", "export"] {
        assert!(whats.contains(&what), "the record does not list the {what}: {out}");
    }
    let replay_row = viewed.iter().find(|v| v["what"] == "replay").map(|v| v["cells"].clone()).unwrap_or_default();
    assert_eq!(replay_row[0], "eve", "{out}");
    assert!(text(&replay_row[3]).starts_with("127.0.0.1:"), "the record does not say where from: {out}");

    // One byte of the recording changed on disk: the replay and the record say so.
    let original = std::fs::read_to_string(&cast_path).expect("read the recording");
    std::fs::write(&cast_path, original.replacen("replay-42-done", "replay-43-done", 1)).expect("alter the recording");
    let fay = web_user(&s.broker, "fay", "auditor");
    let mut env = sign_in_env(&s.broker, &fay);
    env.push(("DEVICE", "infusion-7".to_owned()));
    env.push(("NEEDLE", "replay-43-done".to_owned()));
    env.push(("SESSION_ID", session_id.to_string()));
    let altered = browser::run("replay.mjs", &env);
    assert_eq!(altered["replay"]["state"], "mismatch", "{altered}");
    assert!(text(&altered["replay"]["text"]).contains("ALTERED"), "{altered}");
    assert!(text(&altered["record_alert"]).contains("no longer matches"), "{altered}");
    assert_eq!(altered["row_status"], "mismatch", "{altered}");
    assert_no_page_problems(&altered);
}

/// A vendor's running session on `s` watched by an auditor through the web page at `web`;
/// checks what the page and a plain websocket show, and that another approver is refused.
fn watch_live(s: &Scenario, web: SocketAddr) {
    // Approved on the web side's terms by ivy, who may then watch it too.
    let ivy = web_user(&s.broker, "ivy", "approver");
    let id = s.request_via_lobby(30, "INC-8200 live check");
    s.approve(id, "ivy", &[]).assert_success();
    // The browser signs ivy in with the code of "now": never one the approval used.
    s.broker.totp("ivy").wait_past_used();
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let session = proc::poll(Duration::from_secs(30), || s.sessions_of_request(id).into_iter().find(|x| x["state"] == "active"))
        .unwrap_or_else(|| panic!("no active session of request #{id}"));
    let session_id = number(&session["id"]).expect("session id");

    let gus = web_user(&s.broker, "gus", "auditor");
    let hal = web_user(&s.broker, "hal", "approver");
    let ready = s.broker.data_dir.join("live-ready");
    let seen = s.broker.data_dir.join("live-seen");
    let mut env = sign_in_env(&s.broker, &gus);
    env.retain(|(k, _)| *k != "PORTCULLIS_URL");
    env.extend([
        ("PORTCULLIS_URL", browser::base_url(web)),
        ("OTHER_USER", hal.name.clone()),
        ("OTHER_PASSWORD", hal.password.clone()),
        ("OTHER_TOTP_SECRET", hal.totp_secret.clone()),
        ("APPROVER_USER", ivy.name.clone()),
        ("APPROVER_PASSWORD", ivy.password.clone()),
        ("APPROVER_TOTP_SECRET", ivy.totp_secret.clone()),
        ("SESSION_ID", session_id.to_string()),
        ("NEEDLE", "live-4242".to_owned()),
        ("TYPED", "echo live-$((4200+42))".to_owned()),
        ("READY_FILE", ready.display().to_string()),
        ("SEEN_FILE", seen.display().to_string()),
    ]);
    // The vendor types once the auditor is watching, and leaves once the text was seen.
    let (ready_at, seen_at) = (ready.clone(), seen.clone());
    let vendor = std::thread::spawn(move || {
        proc::poll(browser::SCRIPT_TIMEOUT, || ready_at.exists().then_some(())).expect("the live view never became ready");
        let out = term.run_in_shell("echo live-$((4200+42))", Duration::from_secs(30));
        assert!(out.contains("live-4242"), "{out:?}");
        proc::poll(browser::SCRIPT_TIMEOUT, || seen_at.exists().then_some(())).expect("the live view never saw the text");
        term.send_line("exit");
        term.wait_exit(Duration::from_secs(30));
    });
    let out = browser::run("live.mjs", &env);
    vendor.join().expect("the vendor's side failed");

    assert_eq!(out["raw_socket"], "open", "{out}");
    assert!(text(&out["terminal"]).contains("live-4242"), "{out}");
    assert!(text(&out["frames"]["typed"]).contains("echo live-$((4200+42))"), "{out}");
    assert_eq!(out["frames"]["header"]["version"], 2, "{out}");
    assert_eq!(out["end_state"], "Session ended", "{out}");
    // Auditors watch; stopping is for approvers.
    assert_eq!(out["stop_links"], 0, "{out}");
    // The other approver sees that the session runs (to stop it) but may not watch it.
    assert_eq!(out["other"]["sees"]["card"], 1, "{out}");
    assert_eq!(out["other"]["sees"]["watch_links"], 0, "{out}");
    assert_eq!(out["other"]["live"]["status"], 403, "{out}");
    assert!(text(&out["other"]["live"]["text"]).contains("did not approve"), "{out}");
    assert!(text(&out["other"]["socket"]).starts_with("closed before opening"), "{out}");
    assert_eq!(out["other"]["frames"], 0, "{out}");
    // The approver who approved it watches too, with the stop button.
    assert!(text(&out["approver"]["terminal"]).contains("live-4242"), "{out}");
    assert_eq!(out["approver"]["stop_links"], 1, "{out}");
    assert_no_page_problems(&out);
    // Watching is on the record; the refused attempts are not watches.
    let watched: Vec<_> = s.broker.audit_of_kind("session.watched");
    let watchers: std::collections::BTreeSet<&str> = watched.iter().filter_map(|r| r["actor"].as_str()).collect();
    assert_eq!(watchers, ["gus", "ivy"].into_iter().collect(), "{watched:?}");
}

#[test]
fn typed_text_reaches_the_auditors_live_view_and_another_approver_is_refused() {
    let s = Setup::new("monitor-live").start();
    watch_live(&s, s.broker.web_addr());
}

#[test]
fn a_session_held_by_another_node_is_watched_through_a_hop_to_that_node() {
    // Two nodes on one PostgreSQL database, each with a recording folder of its own (as with
    // recordings kept locally until they are uploaded): the vendor's session is on the first,
    // the auditor's page on the second, which cannot read the first's recording and is served
    // through the hop to it.
    let db = TestDb::create();
    let s = Setup::new("monitor-cluster").store(&db.url).start();
    let own = tempfile::tempdir().unwrap();
    let second = s.broker.another_node(&[("PORTCULLIS_RECORDING_DIR", own.path().to_str().unwrap())]);
    watch_live(&s, second.web_addr());
    assert!(s.broker.server_output().contains("live view served to another node"), "not through the hop");
}
