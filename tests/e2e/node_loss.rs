//! Losing a node: two nodes on one PostgreSQL store behind a real HAProxy, each renewing its
//! lease every second (lease 4 s). A vendor has a live terminal through HAProxy on one node.
//!
//! - `kill -9` of that node, recordings going to a real S3 server (`s3s-fs`): the other
//!   notices the lease ran out, closes the session in the record once (`node.lost`, then
//!   `session.ended` with `reason: node lost`, its recording frozen from the shared recording
//!   folder and sealed as truncated, then uploaded to the bucket by the survivor), and the
//!   vendor reconnects through HAProxy, lands on the survivor and reaches the device under the
//!   same grant, whose window is unchanged. `session verify` and `audit verify` pass.
//! - Hostile: the node only pauses (SIGSTOP) for longer than its lease, is closed by the
//!   survivor meanwhile, then resumes (SIGCONT). It must not bring the session back or close
//!   it twice: its vendor is cut with the reason, nothing more is written about the session,
//!   the seal still holds (the resumed writer cannot reach the sealed copy), and the node
//!   takes a fresh lease and carries on.

use crate::harness::broker::{id_of, number, Node};
use crate::harness::haproxy::{Haproxy, NodeAddrs};
use crate::harness::pg::TestDb;
use crate::harness::proc;
use crate::harness::s3::S3Server;
use crate::harness::scenario::{Scenario, Setup, APPROVERS, VENDOR};
use crate::harness::vendor::Interactive;
use serde_json::Value;
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const ENV: [(&str, &str); 3] = [("PORTCULLIS_PROXY_TRUSTED", "127.0.0.1/32"), ("PORTCULLIS_NODE_HEARTBEAT", "1s"), ("PORTCULLIS_NODE_LEASE", "4s")];

/// Two nodes (`node-a` is the scenario's broker, HAProxy's `node1`; `node-b` is `node2`)
/// on a PostgreSQL database of their own, behind HAProxy.
struct Cluster {
    s: Scenario,
    b: Node,
    hx: Haproxy,
    _db: TestDb,
}

fn cluster(device: &str, bucket: Option<&S3Server>) -> Cluster {
    let db = TestDb::create();
    let mut setup = Setup::new(device).store(&db.url).serve_env("PORTCULLIS_NODE_ID", "node-a");
    // The bucket is every process's (the nodes' and the CLI's).
    let extra: Vec<(String, String)> = bucket.map(S3Server::env).unwrap_or_default();
    setup = setup.broker_env(&extra);
    let mut env: Vec<(&str, &str)> = ENV.to_vec();
    for (k, v) in &env {
        setup = setup.serve_env(k, v);
    }
    env.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let s = setup.start();
    env.push(("PORTCULLIS_NODE_ID", "node-b"));
    let b = s.broker.another_node(&env);
    let nodes = [NodeAddrs { ssh: s.broker.ssh_addr(), web: s.broker.web_addr() }, NodeAddrs { ssh: b.ssh_addr(), web: b.web_addr() }];
    let hx = Haproxy::start(&nodes);
    Cluster { s, b, hx, _db: db }
}

/// The HAProxy server that took the latest SSH connection from `client`.
fn server_of_last(hx: &Haproxy, client: &str) -> Option<String> {
    let log = hx.output();
    let line = log.lines().rfind(|l| l.contains(client) && l.contains("portcullis_ssh/node"))?;
    let at = line.find("portcullis_ssh/")? + "portcullis_ssh/".len();
    Some(line[at..].split_whitespace().next()?.to_owned())
}

/// A vendor's approved request and a live terminal through HAProxy from 127.0.0.2; returns
/// the terminal, the session row and the HAProxy server holding it.
fn live_terminal(c: &Cluster) -> (Interactive, Value, String) {
    let s = &c.s;
    let from = ["-o", "BindAddress=127.0.0.2"];
    let asked = s.vendor.exec(c.hx.ssh, VENDOR, &from, &format!("request {} --minutes 30 --reason 'INC-7101 pump firmware'", s.device.name));
    asked.assert_success();
    let id = crate::harness::broker::parse_request_id(&asked.all_text()).unwrap_or_else(|| panic!("no request id:\n{}", asked.describe()));
    s.approve(id, APPROVERS[0], &[]).assert_success();
    s.wait_request_state(id, "approved", WAIT);
    let mut term = s.vendor.interactive(c.hx.ssh, &s.device_login(), &from);
    term.wait_for_shell(WAIT);
    let out = term.run_in_shell("echo before-the-loss-$((6*7))", WAIT);
    assert!(out.contains("before-the-loss-42"), "{out:?}");
    let session = proc::poll_until("the live session", WAIT, || s.sessions_of_request(id).into_iter().find(|r| r["state"] == "active"));
    // The recorder flushes at least every second: wait until the output is on disk, so that
    // the seal made after the loss has something to cover.
    let cast = s.broker.data_dir.join("recordings").join(id_of(&session).to_string()).join("1.cast");
    proc::poll_until("the output in the recording", WAIT, || std::fs::read_to_string(&cast).ok().filter(|t| t.contains("before-the-loss-42")).map(|_| ()));
    let holder = proc::poll(WAIT, || server_of_last(&c.hx, "127.0.0.2:")).unwrap_or_else(|| panic!("no haproxy log line for the vendor:\n{}", c.hx.output()));
    (term, session, holder)
}

/// The pid and the node id of HAProxy server `holder`, and the other server's name.
fn node_of(c: &Cluster, holder: &str) -> (u32, &'static str, &'static str) {
    if holder == "node1" {
        (c.s.broker.server_pid(), "node-a", "node2")
    } else {
        (c.b.pid(), "node-b", "node1")
    }
}

fn signal(sig: &str, pid: u32) {
    let sent = Command::new("kill").args([sig, &pid.to_string()]).status().unwrap();
    assert!(sent.success(), "kill {sig} {pid}");
}

/// Waits until the survivor has closed `session` in the record; returns its row.
fn wait_closed_as_lost(s: &Scenario, session: u64) -> Value {
    proc::poll_until("the lost session to be closed by the survivor", WAIT, || {
        s.broker.sessions(false).into_iter().find(|r| id_of(r) == session && r["state"] == "ended")
    })
}

/// The audit rows about session `id`.
fn rows_about(s: &Scenario, id: u64) -> Vec<Value> {
    let subject = format!("session:{id}");
    s.broker.audit().into_iter().filter(|r| r["subject"] == subject.as_str()).collect()
}

/// Checks the record of the lost session: one `node.lost` naming it, one end as `node lost`
/// by `system`, its terminal recording sealed as truncated from a frozen copy, and both
/// verifications passing.
fn check_record(s: &Scenario, session: u64, lost: &str, bucket: Option<&S3Server>) {
    let row = s.broker.sessions(false).into_iter().find(|r| id_of(r) == session).unwrap();
    assert_eq!(row["end_reason"], "node lost", "{row}");
    let nodes_lost = s.broker.audit_of_kind("node.lost");
    assert_eq!(nodes_lost.len(), 1, "{nodes_lost:?}");
    assert_eq!(nodes_lost[0]["detail"]["node"], lost, "{nodes_lost:?}");
    assert!(nodes_lost[0]["detail"]["sessions"].as_array().is_some_and(|a| a.iter().any(|v| number(v) == Some(session))), "{nodes_lost:?}");
    let about = rows_about(s, session);
    let ended: Vec<&Value> = about.iter().filter(|r| r["kind"] == "session.ended").collect();
    assert_eq!(ended.len(), 1, "ended once: {ended:?}");
    assert_eq!((ended[0]["actor"].as_str(), ended[0]["detail"]["reason"].as_str(), ended[0]["detail"]["node"].as_str()), (Some("system"), Some("node lost"), Some(lost)), "{:?}", ended[0]);
    let sealed: Vec<&Value> = about.iter().filter(|r| r["kind"] == "recording.sealed").collect();
    assert_eq!(sealed.len(), 1, "{sealed:?}");
    let d = &sealed[0]["detail"];
    assert_eq!((d["truncated"].as_bool(), d["why"].as_str(), d["what"].as_str()), (Some(true), Some("node lost"), Some("terminal")), "{d}");
    // Sealed from a frozen copy of what had reached the recording folder.
    let frozen = d["path"].as_str().unwrap_or_default();
    assert!(frozen.ends_with("1.lost.cast"), "{d}");
    let held = match bucket {
        // The survivor uploaded the sealed copy (and then removed it from the folder): the
        // object is what the seal covers.
        Some(s3) => {
            let subject = format!("session:{session}");
            let stored = s.broker.wait_for_audit("recording.stored", WAIT, |r| r["subject"] == subject.as_str());
            assert_eq!(stored["detail"]["sha256"], d["sha256"], "{stored}");
            let object = s3.object_file(stored["detail"]["key"].as_str().unwrap());
            let sha = proc::tool("sha256sum", &[object.to_str().unwrap()]).split_whitespace().next().unwrap().to_owned();
            assert_eq!(Some(sha.as_str()), d["sha256"].as_str(), "the object is not what the seal covers");
            std::fs::read_to_string(&object)
        }
        None => std::fs::read_to_string(frozen),
    };
    assert!(held.is_ok_and(|t| t.contains("before-the-loss-42")), "{d}");
    // Nothing about the session after its end but the sealed copy's upload.
    let end_seq = ended[0]["seq"].as_i64().unwrap();
    let later: Vec<&Value> = about.iter().filter(|r| r["seq"].as_i64().unwrap() > end_seq && r["kind"] != "recording.stored").collect();
    assert!(later.is_empty(), "rows about the session after its end: {later:?}");
    s.broker.cli_ok(&["session", "verify", &session.to_string()]);
    s.broker.cli_ok(&["audit", "verify"]);
}

/// The vendor reconnects through HAProxy (from 127.0.0.3) once `lost_server` is marked down,
/// and works on the device on the survivor under the same grant.
fn reconnect_on_survivor(c: &Cluster, lost_server: &str, other: &str, old: &Value) {
    assert!(c.hx.wait_for(&format!("portcullis_ssh/{lost_server} is DOWN"), WAIT), "haproxy did not mark {lost_server} down:\n{}", c.hx.output());
    let s = &c.s;
    let mut term = s.vendor.interactive(c.hx.ssh, &s.device_login(), &["-o", "BindAddress=127.0.0.3"]);
    term.wait_for_shell(WAIT);
    let out = term.run_in_shell("echo after-the-loss-$((40+2))", WAIT);
    assert!(out.contains("after-the-loss-42"), "{out:?}");
    assert_eq!(server_of_last(&c.hx, "127.0.0.3:").as_deref(), Some(other), "{}", c.hx.output());
    let request = number(&old["request_id"]).unwrap();
    let new = proc::poll_until("the session on the survivor", WAIT, || s.sessions_of_request(request).into_iter().find(|r| r["state"] == "active"));
    assert_ne!(id_of(&new), id_of(old));
    assert_eq!(new["grant_id"], old["grant_id"], "the same grant: {new} {old}");
    assert_eq!(new["window_ends_at"], old["window_ends_at"], "the same time bound: {new} {old}");
    term.send_line("exit");
    term.wait_exit(WAIT);
}

#[test]
fn kill_9_of_the_node_holding_a_session_the_survivor_closes_it_and_the_vendor_reconnects() {
    let s3 = S3Server::start();
    let c = cluster("infusion-nl", Some(&s3));
    let (mut term, session, holder) = live_terminal(&c);
    let (pid, lost, other) = node_of(&c, &holder);
    signal("-KILL", pid);
    term.wait_exit(WAIT);
    let row = wait_closed_as_lost(&c.s, id_of(&session));
    assert_eq!(row["end_reason"], "node lost", "{row}");
    reconnect_on_survivor(&c, &holder, other, &session);
    check_record(&c.s, id_of(&session), lost, Some(&s3));
}

#[test]
fn a_node_that_only_paused_past_its_lease_neither_resurrects_nor_closes_twice() {
    let c = cluster("infusion-np", None);
    let (mut term, session, holder) = live_terminal(&c);
    let (pid, lost, other) = node_of(&c, &holder);
    signal("-STOP", pid);
    let closed = wait_closed_as_lost(&c.s, id_of(&session));
    assert_eq!(closed["end_reason"], "node lost", "{closed}");
    reconnect_on_survivor(&c, &holder, other, &session);
    let rows_before = c.s.broker.audit().len();

    // It resumes: its vendor is cut with the reason, and it takes a fresh lease.
    signal("-CONT", pid);
    term.expect("its sessions were closed by another node", WAIT);
    term.wait_exit(WAIT);
    let log = || if holder == "node1" { c.s.broker.server_output() } else { c.b.output() };
    proc::poll_until("the resumed node to see its lease taken over", WAIT, || log().contains("lease was taken over").then_some(()));
    assert!(c.hx.wait_for(&format!("portcullis_ssh/{holder} is UP"), WAIT), "the resumed node does not serve again:\n{}", c.hx.output());

    // Nothing resurrected, nothing closed twice, the seal holds.
    let row = c.s.broker.sessions(false).into_iter().find(|r| id_of(r) == id_of(&session)).unwrap();
    assert_eq!((row["state"].as_str(), row["end_reason"].as_str()), (Some("ended"), Some("node lost")), "{row}");
    let subject = format!("session:{}", id_of(&session));
    let new_rows: Vec<Value> = c.s.broker.audit().into_iter().skip(rows_before).filter(|r| r["subject"] == subject.as_str() || r["kind"] == "node.lost").collect();
    assert!(new_rows.is_empty(), "written after the node resumed: {new_rows:?}");
    check_record(&c.s, id_of(&session), lost, None);
}
