//! Moderated sessions (policy `moderated`, on here for a life-critical ventilator) with a real
//! `ssh` vendor, a real `sshd` device and the moderator's live page in Chromium: the vendor
//! waits and the device is not contacted (its own accept counter says so) until an approver
//! joins the live view as moderator; the vendor's terminal then names the moderator and
//! typed input reaches the device; input the vendor types while the moderator paused it
//! never reaches the device; when the moderator leaves, output still arrives but input is
//! dropped, and the session ends after `session.moderator_grace`. Every join, leave, pause
//! and resume is a marker in the recording and an audit row. An auditor may watch but not
//! moderate, and an approver who is not moderating may not pause. A tunnel open when input
//! pauses is closed (nothing sent after the pause reaches the device's port) and a new one is
//! refused; and when nobody joins within `session.moderator_wait` the device is never
//! contacted and the expiry is audited.

use crate::harness::broker::{number, parse_request_id};
use crate::harness::browser::{self, assert_no_page_problems, sign_in_env, text, web_user};
use crate::harness::proc;
use crate::harness::scenario::{Setup, APPROVERS};
use crate::harness::tcp::{Behaviour, Service};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

fn wait_file(p: &Path) {
    proc::poll(browser::SCRIPT_TIMEOUT, || p.exists().then_some(())).unwrap_or_else(|| panic!("{} never appeared", p.display()));
}

#[test]
fn the_device_opens_only_when_a_moderator_joins_and_input_pauses_when_they_leave() {
    let s = Setup::new("ventilator-mod")
        .criticality("life-critical")
        .serve_env("PORTCULLIS_POLICY_MODERATED", "true")
        .serve_env("PORTCULLIS_SESSION_MODERATOR_GRACE", "8s")
        .start();
    let mona = web_user(&s.broker, "mona", "approver");
    // The lobby tells the vendor before they ask.
    let listed = s.lobby("devices").all_text();
    assert!(listed.contains("moderated: the device is contacted only while an approver watches"), "{listed}");
    let id = s.request_via_lobby(30, "INC-9100 ventilator alarm log review");
    s.approve(id, "mona", &[]).assert_success();
    s.approve(id, APPROVERS[1], &[]).assert_success();
    s.wait_request_state(id, "approved", Duration::from_secs(30));
    s.broker.totp("mona").wait_past_used();

    let mut term = s.interactive(&[]);
    term.expect("Waiting for a moderator", Duration::from_secs(60));
    let session = proc::poll(Duration::from_secs(30), || s.sessions_of_request(id).into_iter().find(|x| x["state"] == "active"))
        .unwrap_or_else(|| panic!("no active session of request #{id}"));
    let session_id = number(&session["id"]).expect("session id");
    // Typed while waiting: dropped, never sent once the device connection opens.
    term.send_line("echo early$((1+1))typed");

    let ada = web_user(&s.broker, "ada", "auditor");
    let otto = web_user(&s.broker, "otto", "approver");
    let dir = s.broker.data_dir.clone();
    let f = |n: &str| dir.join(format!("moderated-{n}"));
    let (waiting, go, joined, paused, resume, resumed, leave) = (f("waiting"), f("go"), f("joined"), f("paused"), f("resume"), f("resumed"), f("leave"));
    let mut env = sign_in_env(&s.broker, &mona);
    env.extend([
        ("AUDITOR_USER", ada.name.clone()),
        ("AUDITOR_PASSWORD", ada.password.clone()),
        ("AUDITOR_TOTP_SECRET", ada.totp_secret.clone()),
        ("OTHER_USER", otto.name.clone()),
        ("OTHER_PASSWORD", otto.password.clone()),
        ("OTHER_TOTP_SECRET", otto.totp_secret.clone()),
        ("SESSION_ID", session_id.to_string()),
        ("TYPED_NEEDLE", "mod-42".to_owned()),
    ]);
    for (k, p) in [("WAITING_FILE", &waiting), ("GO_FILE", &go), ("JOINED_FILE", &joined), ("PAUSED_FILE", &paused), ("RESUME_FILE", &resume), ("RESUMED_FILE", &resumed), ("LEAVE_FILE", &leave)] {
        env.push((k, p.display().to_string()));
    }
    let page = std::thread::spawn(move || browser::run("moderated.mjs", &env));

    // The moderator's page is open, nobody joined: the device has not been contacted.
    wait_file(&waiting);
    assert_eq!(s.device.accepted(), 0, "the device was contacted before a moderator joined");
    std::fs::write(&go, "go").expect("write");

    // Joined: the vendor is told who watches, and what they type reaches the device.
    wait_file(&joined);
    term.expect("moderator joined: mona", Duration::from_secs(30));
    term.wait_for_shell(Duration::from_secs(60));
    assert!(s.device.accepted() > 0, "the device was not contacted after the moderator joined");
    let out = term.run_in_shell("echo mod-$((40+2))", Duration::from_secs(30));
    assert!(out.contains("mod-42"), "{out:?}");

    // Paused by the moderator: typed input is dropped. Resumed: the next line runs, and the
    // paused one never ran before it (the channel keeps order).
    wait_file(&paused);
    term.expect("input paused by moderator mona", Duration::from_secs(30));
    term.send_line("echo pau$((1+1))sed");
    std::fs::write(&resume, "resume").expect("write");
    wait_file(&resumed);
    term.expect("input resumed", Duration::from_secs(30));
    let after = term.run_in_shell("echo resu$((1+1))med", Duration::from_secs(30));
    assert!(after.contains("resu2med"), "{after:?}");

    // The moderator leaves while output is on its way: input pauses, output still arrives,
    // and the session ends after the grace.
    term.send_line("(sleep 3; echo late-$((6*7))) &");
    term.expect("(sleep 3", Duration::from_secs(10));
    std::fs::write(&leave, "leave").expect("write");
    term.expect("moderator left: mona stopped watching", Duration::from_secs(30));
    term.expect("input paused: no moderator is watching", Duration::from_secs(10));
    term.send_line("echo go$((1+1))ne");
    term.expect("late-42", Duration::from_secs(30));
    term.wait_exit(Duration::from_secs(60));
    let out = page.join().expect("the browser side failed");
    let transcript = term.transcript();
    for never in ["early2typed", "pau2sed", "go2ne"] {
        assert!(!transcript.contains(never), "{never} reached the device: {transcript}");
    }
    s.wait_session_ended(id, Duration::from_secs(30));

    // The page: waiting, then the moderator's view; the hostile attempts were refused.
    assert!(text(&out["waiting"]).contains("waiting for a moderator"), "{out}");
    assert_eq!(out["join_buttons"], 1, "{out}");
    assert!(text(&out["join_label"]).contains("opens the device connection"), "{out}");
    assert!(text(&out["joined_state"]).contains("You are moderating"), "{out}");
    assert!(text(&out["paused"]).contains("paused by mona"), "{out}");
    assert_eq!(out["auditor"]["join_buttons"], 0, "{out}");
    assert!(text(&out["auditor"]["hint"]).contains("only an approver"), "{out}");
    assert!(text(&out["auditor"]["moderating_socket"]).starts_with("closed before opening"), "{out}");
    assert_eq!(out["auditor"]["pause_status"], 403, "{out}");
    assert_eq!(out["other_pause"].as_u64().map(|c| c == 403 || c == 404), Some(true), "{out}");
    assert_no_page_problems(&out);

    // The audit rows, in order, and the markers in the recording.
    let subject = format!("session:{session_id}");
    let joined_row = s.broker.wait_for_audit("session.moderator_joined", Duration::from_secs(10), |r| r["subject"] == subject);
    assert_eq!((joined_row["actor"].as_str(), joined_row["detail"]["opens_device"].as_bool()), (Some("mona"), Some(true)), "{joined_row}");
    s.broker.wait_for_audit("session.input_paused", Duration::from_secs(10), |r| r["subject"] == subject && r["actor"] == "mona");
    s.broker.wait_for_audit("session.input_resumed", Duration::from_secs(10), |r| r["subject"] == subject && r["actor"] == "mona");
    s.broker.wait_for_audit("session.moderator_left", Duration::from_secs(10), |r| r["subject"] == subject && r["actor"] == "mona");
    s.broker.wait_for_audit("session.input_paused", Duration::from_secs(10), |r| r["subject"] == subject && r["actor"] == "system");
    s.broker.wait_for_audit("session.stop_requested", Duration::from_secs(10), |r| r["subject"] == subject && r["actor"] == "system");
    let sealed = s.broker.wait_for_audit("recording.sealed", Duration::from_secs(30), |r| r["subject"] == subject);
    let cast = std::fs::read_to_string(text(&sealed["detail"]["path"])).expect("read the recording");
    let markers: Vec<String> = cast
        .lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e[1] == "m")
        .filter_map(|e| e[2].as_str().map(str::to_owned))
        .collect();
    for want in ["waiting for a moderator", "moderator joined: mona", "input paused by moderator mona", "input resumed", "moderator left: mona", "input paused: no moderator"] {
        assert!(markers.iter().any(|m| m.contains(want)), "no {want:?} marker in {markers:?}");
    }
    // Notices are markers only: the device's output in the recording has none of them.
    let output: String = cast.lines().skip(1).filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).filter(|e| e[1] == "o").filter_map(|e| e[2].as_str().map(str::to_owned)).collect();
    assert!(!output.contains("[portcullis] moderator"), "a notice was recorded as device output");
    assert!(output.contains("late-42") && output.contains("mod-42"), "the device's output is missing from the recording");
}

/// Sends `data` through the forwarded socket `sock`, closes the sending half and returns all
/// that came back (an echo service answers in full; a closed tunnel answers nothing).
fn through(sock: &Path, data: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(sock).expect("connect the forwarded socket");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("read timeout");
    // A tunnel already closed may refuse the write: then nothing was sent.
    if stream.write_all(data).is_ok() {
        let _ = stream.shutdown(std::net::Shutdown::Write);
    }
    let mut back = Vec::new();
    let _ = stream.read_to_end(&mut back);
    back
}

/// Attack: the vendor opens a tunnel while a moderator watches, then keeps sending through it
/// after the moderator paused input. The tunnel is closed when input pauses (the vendor's
/// terminal says so, `tunnel.closed` says why), the bytes sent after never reach the device's
/// port, and a new tunnel is refused while input stays paused.
#[test]
fn a_pause_closes_the_open_tunnel_and_refuses_new_ones() {
    let svc = Service::start(Behaviour::Echo);
    let s = Setup::new("ventilator-tun")
        .tcp_ports(&[svc.port()])
        .serve_env("PORTCULLIS_POLICY_MODERATED", "true")
        .serve_env("PORTCULLIS_SESSION_MODERATOR_GRACE", "5s")
        .start();
    let mona = web_user(&s.broker, "mona", "approver");
    let asked = s.lobby(&format!("request {} --minutes 30 --shell --tcp {} --reason 'INC-9200 alarm gateway check'", s.device.name, svc.port()));
    asked.assert_success();
    let id = parse_request_id(&asked.all_text()).expect("request id");
    s.approve(id, "mona", &[]).assert_success();
    s.wait_request_state(id, "approved", Duration::from_secs(30));
    s.broker.totp("mona").wait_past_used();

    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("tunnel");
    let forward = format!("{}:{}:{}", sock.display(), s.device.name, svc.port());
    let mut term = s.interactive(&["-L", &forward]);
    term.expect("Waiting for a moderator", Duration::from_secs(60));
    let session = proc::poll(Duration::from_secs(30), || s.sessions_of_request(id).into_iter().find(|x| x["state"] == "active"))
        .unwrap_or_else(|| panic!("no active session of request #{id}"));
    let session_id = number(&session["id"]).expect("session id");
    // Nobody watches yet: refused before the device's port is reached.
    assert!(through(&sock, b"unwatched").is_empty());
    assert_eq!(svc.accepted(), 0, "a tunnel reached the device before a moderator joined");

    let f = |n: &str| s.broker.data_dir.join(format!("tunnel-{n}"));
    let (joined, pause, paused, leave) = (f("joined"), f("pause"), f("paused"), f("leave"));
    let mut env = sign_in_env(&s.broker, &mona);
    env.push(("SESSION_ID", session_id.to_string()));
    for (k, p) in [("JOINED_FILE", &joined), ("PAUSE_FILE", &pause), ("PAUSED_FILE", &paused), ("LEAVE_FILE", &leave)] {
        env.push((k, p.display().to_string()));
    }
    let page = std::thread::spawn(move || browser::run("moderate.mjs", &env));
    wait_file(&joined);
    term.expect("moderator joined: mona", Duration::from_secs(30));

    // Watched: the tunnel carries bytes both ways. It stays open (nothing closes it) while
    // the moderator pauses input.
    let mut open = UnixStream::connect(&sock).expect("connect the forwarded socket");
    open.set_read_timeout(Some(Duration::from_secs(60))).expect("read timeout");
    open.write_all(b"watched").expect("write");
    let mut back = [0u8; 7];
    open.read_exact(&mut back).expect("the echo");
    assert_eq!(&back, b"watched");
    std::fs::write(&pause, "pause").expect("write");
    wait_file(&paused);
    // The pause notice and this one race: only this one is awaited.
    term.expect(&format!("tunnel to {} port {} closed: input is paused", s.device.name, svc.port()), Duration::from_secs(30));

    // Sent after the pause, through the tunnel that was open: nothing reaches the device.
    let _ = open.write_all(b"after-pause");
    let _ = open.shutdown(std::net::Shutdown::Write);
    let mut rest = Vec::new();
    let _ = open.read_to_end(&mut rest);
    assert!(rest.is_empty(), "the device answered after the pause: {rest:?}");
    // A new tunnel while paused: refused, the device's port never sees it.
    assert!(through(&sock, b"new-after-pause").is_empty());
    assert_eq!(svc.accepted(), 1, "a tunnel opened while input was paused");
    assert_eq!(svc.received(), 7, "bytes sent after the pause reached the device");

    let subject = format!("session:{session_id}");
    let closed = s.broker.wait_for_audit("tunnel.closed", Duration::from_secs(30), |r| r["subject"] == subject);
    assert_eq!(closed["detail"]["reason"], "input paused", "{closed}");
    assert_eq!(number(&closed["detail"]["bytes_to_device"]), Some(7), "{closed}");
    // Two refusals: before the moderator joined, and while input was paused.
    proc::poll_until("the second tunnel refusal", Duration::from_secs(30), || {
        let refused = s.broker.audit_of_kind("channel.refused");
        let moderated = refused.iter().filter(|r| r["detail"]["what"] == "direct-tcpip" && text(&r["detail"]["reason"]).contains("input is not paused"));
        (moderated.count() >= 2).then_some(())
    });

    // The moderator leaves; the session ends after the grace.
    std::fs::write(&leave, "leave").expect("write");
    page.join().expect("the browser side failed");
    term.wait_exit(Duration::from_secs(60));
    s.wait_session_ended(id, Duration::from_secs(30));
    assert_eq!(svc.received(), 7);
}

/// Nobody joins within `session.moderator_wait`: the vendor is told and disconnected, the
/// device never sees a connection, and the expiry is an audit row.
#[test]
fn nobody_joins_within_the_wait_and_the_device_is_never_contacted() {
    let s = Setup::new("ventilator-wait")
        .serve_env("PORTCULLIS_POLICY_MODERATED", "true")
        .serve_env("PORTCULLIS_SESSION_MODERATOR_WAIT", "2s")
        .start();
    let id = s.grant(30, "INC-9300 ventilator log review");
    let mut term = s.interactive(&[]);
    term.expect("Waiting for a moderator", Duration::from_secs(60));
    term.expect("no moderator joined within", Duration::from_secs(60));
    term.expect("the device was not contacted", Duration::from_secs(10));
    term.wait_exit(Duration::from_secs(60));
    let session = s.wait_session_ended(id, Duration::from_secs(30));
    let subject = format!("session:{}", number(&session["id"]).expect("session id"));
    let row = s.broker.wait_for_audit("session.moderator_wait_expired", Duration::from_secs(10), |r| r["subject"] == subject);
    assert_eq!((number(&row["detail"]["waited_seconds"]), row["detail"]["device_contacted"].as_bool()), (Some(2), Some(false)), "{row}");
    assert_eq!(s.device.accepted(), 0, "the device was contacted though nobody moderated");
}
