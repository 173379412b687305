//! The store goes away: the broker's PostgreSQL (a cluster of the test's own, never the
//! shared one) is stopped the hard way (`pg_ctl stop -m immediate`) under a running session,
//! then started again on the same port. Nothing may go on unaudited, so the session ends
//! within a bounded time with the reason on the vendor's terminal and in its recording; a
//! sign-in meanwhile is refused with a clear message; and once the store is back the node
//! recovers by itself: the session's end and its recording's seal, which could not be
//! written, are written late, a new sign-in and session work without restarting the broker,
//! and the audit chain verifies.

use crate::harness::cast::Cast;
use crate::harness::pg::Cluster;
use crate::harness::proc;
use crate::harness::scenario::Setup;
use serde_json::Value;
use std::time::Duration;

/// What the vendor's terminal and the recording say when the store stops answering.
const CUT_TEXT: &str = "nothing may go on unaudited; the session is closed.";
/// What a vendor who signs in meanwhile is told.
const REFUSED_TEXT: &str = "service unavailable: Portcullis cannot record this sign-in";

#[test]
fn the_store_going_away_ends_the_session_refuses_sign_ins_and_the_node_recovers() {
    // Declared first, so it is dropped (stopped) after the broker that uses it.
    let pg = Cluster::start();
    let s = Setup::new("pump-pgloss").store(&pg.url).start();
    let id = s.grant(30, "INC-9100 store outage drill");

    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    term.run_in_shell("echo before-the-outage", Duration::from_secs(30));
    let session = s.sessions_of_request(id);
    let session_id = session.first().and_then(|s| s["id"].as_u64()).unwrap_or_else(|| panic!("no session row: {session:?}"));

    pg.crash();
    // Bounded: the store is seen gone when a read of it has waited the pool's acquire
    // timeout (10 s); 90 s is far beyond that and still ends a broker that never notices.
    term.expect(CUT_TEXT, Duration::from_secs(90));
    term.wait_exit(Duration::from_secs(60));

    // A sign-in while the store is away: refused at once, saying why.
    let refused = s.exec("echo should-not-run");
    refused.assert_failure();
    assert!(refused.stderr_text().contains(REFUSED_TEXT), "the vendor was not told the service is unavailable:\n{}", refused.describe());
    assert!(!refused.stdout_text().contains("should-not-run"), "{}", refused.describe());
    eprintln!("a sign-in while the store is away:\n{}", refused.stderr_text());
    let health = s.broker.health();
    assert_eq!(health["store"], "unavailable", "{health}");
    assert!(health["waiting_writes"].as_u64().is_some_and(|n| n >= 2), "the seal and the end should wait: {health}");

    pg.restart();
    // The node recovers by itself: the feed sees the store again and the waiting rows go in.
    let mut last = Value::Null;
    proc::poll(Duration::from_secs(90), || {
        last = s.broker.health();
        (last["store"] == "ok" && last["waiting_writes"] == 0).then_some(())
    })
    .unwrap_or_else(|| panic!("the node did not recover within 90 s: {last}\n--- server ---\n{}\n--- postgres ---\n{}", s.broker.server_output(), pg.log()));

    let ended = s.wait_session_ended(id, Duration::from_secs(30));
    assert_eq!(ended["end_reason"], "store unavailable", "{ended}");
    let subject = format!("session:{session_id}");
    let end_row = s.broker.wait_for_audit("session.ended", Duration::from_secs(30), |r| r["subject"] == subject.as_str());
    assert_eq!(end_row["detail"]["late"], true, "the end was written late and says so: {end_row}");
    let seal = s.broker.wait_for_audit("recording.sealed", Duration::from_secs(30), |r| r["subject"] == subject.as_str());
    assert_eq!(seal["detail"]["late"], true, "{seal}");
    assert!(s.broker.server_output().contains("written late"), "the log does not say what was written late:\n{}", s.broker.server_output());

    // The reason is in the recording, which the seal's hash covers.
    let path = seal["detail"]["path"].as_str().unwrap_or_else(|| panic!("no path in {seal}"));
    let cast = Cast::read(std::path::Path::new(path));
    let played = String::from_utf8_lossy(&cast.output_bytes()).into_owned();
    assert!(played.contains(CUT_TEXT), "the recording does not say why the session ended: {played:?}");
    let sha = proc::tool("sha256sum", &[path]);
    assert!(sha.starts_with(seal["detail"]["sha256"].as_str().unwrap_or("-")), "the seal does not match the file: {sha} vs {seal}");

    // A new sign-in and session work without restarting the broker.
    let again = s.exec("echo after-the-outage");
    again.assert_success();
    assert_eq!(again.stdout_text(), "after-the-outage\n", "{}", again.describe());

    let verify = s.broker.cli_json(&["audit", "verify", "--json"]);
    assert_eq!(verify["ok"], true, "the chain does not verify after the outage: {verify}");
}
