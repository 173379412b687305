//! Notifications end to end over both back ends: a real HTTP receiver and a real SMTP server
//! on loopback, requests filed through the decision service, delivery by the notifier task.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod receiver;
mod smtp;

use crate::approvals::RequestInput;
use super::*;
use crate::admin::fixture::World;
use crate::audit::{Event, Kind, Subject};
use crate::config::Config;
use crate::domain::{Criticality, DeviceName, RequestId, Role, Username};
use crate::testdb::stores;
use receiver::{Receiver, HUNG};
use serde_json::{json, Value};
use smtp::SmtpServer;
use std::path::Path;

const PUBLIC: &str = "https://broker.example.org:8443";

/// A configuration with the given `[notify]` channels and quick retries.
fn config(webhook: Option<&str>, smtp_port: Option<u16>) -> Config {
    let mut text = format!(
        "[store]\nurl = \"sqlite://unused.db\"\n[notify]\npublic_url = \"{PUBLIC}/\"\ntimeout = \"5s\"\nretry_backoff = \"20ms\"\ngive_up_after = \"1h\"\n"
    );
    if let Some(url) = webhook {
        text.push_str(&format!("webhook_url = \"{url}\"\n"));
    }
    if let Some(port) = smtp_port {
        text.push_str(&format!(
            "[notify.smtp]\nhost = \"127.0.0.1\"\nport = {port}\nmode = \"plain\"\nfrom = \"Portcullis <portcullis@example.org>\"\nto = [\"biomed@example.org\", \"Security <sec@example.org>\"]\n"
        ));
    }
    Config::from_parts(&text, Path::new("/tmp/portcullis.toml"), &[]).unwrap()
}

/// A world with a vendor, two approvers and a life-critical device.
struct Site {
    world: World,
    vendor: Username,
    device: DeviceName,
}

async fn site(t: &crate::testdb::TestStore) -> Site {
    let world = World::new(t);
    let vendor = world.user("jdoe", Role::Vendor).await;
    world.user("nurse1", Role::Approver).await;
    let device = world.device("infusion-pump-12", Criticality::LifeCritical).await;
    Site { world, vendor, device }
}

impl Site {
    async fn request(&self, reason: &str) -> RequestId {
        self.world.approvals.create_request(RequestInput::new(&self.vendor, &self.device, reason, 90).peer("127.0.0.1:5555")).await.unwrap().id
    }

    /// A request written straight to the store, as a path that does not check the reason would.
    async fn raw_request(&self, reason: &str) -> RequestId {
        let user = self.world.store.require_user(&self.vendor).await.unwrap();
        let dev = self.world.store.require_device(&self.device).await.unwrap();
        let mut tx = self.world.audit.begin().await.unwrap();
        let id = self.world.store.insert_request(&mut tx, user.id, dev.id, reason, 30, 2, crate::clock::now()).await.unwrap();
        tx.append(Event::new(self.vendor.as_str(), Kind::RequestCreated, Subject::Request(id), json!({}))).await.unwrap();
        tx.commit().await.unwrap();
        id
    }

    /// Starts a notifier (a node) with its cursors in place.
    async fn notifier(&self, cfg: &Config) -> Running {
        let n = Notifier::from_config(cfg, self.world.store.clone(), self.world.audit.clone()).unwrap().unwrap();
        n.prepare().await.unwrap();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(n.run(self.world.audit.feed().subscribe(), shutdown.clone()));
        Running { shutdown, task }
    }

    /// Waits until the channel's cursor has passed the last audit row of a request.
    async fn wait_cursor_done(&self, channel: &str) {
        let last: i64 = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log WHERE kind = 'request.created'")
            .fetch_one(self.world.store.pool())
            .await
            .unwrap();
        let mut rx = self.world.audit.feed().subscribe();
        let deadline = tokio::time::Instant::now() + HUNG;
        while position(&self.world.store, channel).await.unwrap().unwrap_or(0) < last {
            tokio::select! {
                _ = rx.changed() => {}
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
                _ = tokio::time::sleep_until(deadline) => panic!("the {channel} cursor never reached row {last}"),
            }
        }
    }
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(HUNG, self.task).await.unwrap().unwrap();
    }
}

fn request_ids(bodies: &[Value]) -> Vec<i64> {
    bodies.iter().map(|b| b["portcullis"]["request"].as_i64().unwrap()).collect()
}

#[tokio::test]
async fn webhook_names_everything_and_escapes_hostile_text() {
    for t in stores().await {
        let s = site(&t).await;
        let before = s.request("filed before notifications were turned on").await;
        let rx = Receiver::start(true).await;
        let node = s.notifier(&config(Some(&rx.url), None)).await;
        let reason = r#"INC-4411 <!channel> <script>alert("x")</script> & {"json": [1, "two"]} \ *bold* `code`"#;
        let id = s.request(reason).await;
        rx.wait("the request", |r| !r.bodies().is_empty()).await;
        let body = &rx.bodies()[0];
        let p = &body["portcullis"];
        assert_eq!(p["request"], json!(id.0), "{}: {body}", t.name);
        assert_eq!(p["reason"], json!(reason), "{}: the reason arrives exactly as typed", t.name);
        assert_eq!(p["requester"], json!("jdoe"));
        assert_eq!(p["organisation"], json!("Acme Medical"));
        assert_eq!(p["device"], json!("infusion-pump-12"));
        assert_eq!(p["criticality"], json!("life-critical"));
        assert_eq!(p["zone"], json!("icu"));
        assert_eq!(p["minutes"], json!(90));
        assert_eq!(p["url"], json!(format!("{PUBLIC}/requests")));
        let text = body["text"].as_str().unwrap();
        assert!(text.contains(&format!("#{id}")) && text.contains("jdoe") && text.contains("infusion-pump-12"), "{text}");
        assert!(text.contains(&format!("{PUBLIC}/requests")));
        assert!(!text.contains("<!channel>") && !text.contains("<script>"), "markup must be escaped: {text}");
        assert!(text.contains("&lt;!channel&gt;") && text.contains("&amp; {\"json\": [1, \"two\"]}"), "{text}");
        // A reason with line breaks (not accepted from vendors, but the store could hold one).
        let id2 = s.raw_request("line one\nline two\r\n\"quoted\" {json}").await;
        rx.wait("the second request", |r| r.bodies().len() == 2).await;
        let body = &rx.bodies()[1];
        assert_eq!(body["portcullis"]["request"], json!(id2.0));
        assert_eq!(body["portcullis"]["reason"], json!("line one\nline two\r\n\"quoted\" {json}"));
        assert!(body["text"].as_str().unwrap().contains("Reason: line one line two  \"quoted\" {json}\n"));
        assert!(!request_ids(&rx.bodies()).contains(&before.0), "history is not replayed");
        node.stop().await;
    }
}

#[tokio::test]
async fn receiver_down_then_back_loses_nothing() {
    let t = stores().await.remove(0);
    let s = site(&t).await;
    let rx = Receiver::start(false).await;
    let node = s.notifier(&config(Some(&rx.url), None)).await;
    let a = s.request("first while down").await;
    let b = s.request("second while down").await;
    rx.wait("retries while down", |r| r.refused() >= 3).await;
    assert!(rx.bodies().is_empty());
    rx.set_up(true);
    rx.wait("both requests", |r| r.bodies().len() >= 2).await;
    s.wait_cursor_done("webhook").await;
    assert_eq!(request_ids(&rx.bodies()), vec![a.0, b.0], "in order, each once");
    assert!(s.world.audit_of("notify.failed").await.is_empty());
    node.stop().await;
}

#[tokio::test]
async fn server_errors_are_retried() {
    let t = stores().await.remove(0);
    let s = site(&t).await;
    let rx = Receiver::start(true).await;
    rx.fail_next(2);
    let node = s.notifier(&config(Some(&rx.url), None)).await;
    let id = s.request("retry me").await;
    rx.wait("the request", |r| !r.bodies().is_empty()).await;
    assert_eq!(rx.requests(), 3, "two 500s, then delivered");
    assert_eq!(request_ids(&rx.bodies()), vec![id.0]);
    node.stop().await;
}

#[tokio::test]
async fn a_refused_payload_is_audited_and_skipped() {
    let t = stores().await.remove(0);
    let s = site(&t).await;
    let rx = Receiver::start(true).await;
    let node = s.notifier(&config(Some(&rx.url), None)).await;
    let bad = s.request("REJECT this one").await;
    let good = s.request("a normal one").await;
    rx.wait("the good request", |r| !r.bodies().is_empty()).await;
    assert_eq!(request_ids(&rx.bodies()), vec![good.0]);
    assert_eq!(rx.requests(), 2, "a refused payload is not retried");
    let failed = s.world.audit_of("notify.failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].subject, format!("request:{bad}"));
    assert!(failed[0].detail.contains("\"channel\":\"webhook\"") && failed[0].detail.contains("400"), "{}", failed[0].detail);
    assert!(!failed[0].detail.contains(&rx.url), "the webhook URL is a secret");
    node.stop().await;
}

#[tokio::test]
async fn a_restart_resumes_from_the_cursor_without_duplicates() {
    for t in stores().await {
        let s = site(&t).await;
        let rx = Receiver::start(true).await;
        let cfg = config(Some(&rx.url), None);
        let node = s.notifier(&cfg).await;
        let a = s.request("before the restart").await;
        rx.wait("the first request", |r| r.bodies().len() == 1).await;
        s.wait_cursor_done("webhook").await;
        node.stop().await;
        let b = s.request("while stopped 1").await;
        let c = s.request("while stopped 2").await;
        let node = s.notifier(&cfg).await;
        rx.wait("all three", |r| r.bodies().len() >= 3).await;
        s.wait_cursor_done("webhook").await;
        assert_eq!(request_ids(&rx.bodies()), vec![a.0, b.0, c.0], "{}", t.name);
        node.stop().await;
    }
}

#[tokio::test]
async fn two_nodes_send_each_notice_once() {
    for t in stores().await {
        let s = site(&t).await;
        let rx = Receiver::start(true).await;
        let cfg = config(Some(&rx.url), None);
        let one = s.notifier(&cfg).await;
        let two = s.notifier(&cfg).await;
        let mut ids = Vec::new();
        for i in 0..5 {
            ids.push(s.request(&format!("request {i}")).await.0);
        }
        rx.wait("five requests", |r| r.bodies().len() >= 5).await;
        s.wait_cursor_done("webhook").await;
        assert_eq!(request_ids(&rx.bodies()), ids, "{}", t.name);
        one.stop().await;
        two.stop().await;
    }
}

fn header<'a>(mail: &'a Value, name: &str) -> Vec<&'a str> {
    mail["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h[0].as_str().unwrap().eq_ignore_ascii_case(name))
        .map(|h| h[1].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn email_arrives_with_the_details_and_no_injected_headers() {
    let t = stores().await.remove(0);
    let s = site(&t).await;
    let mut server = SmtpServer::start().await;
    let node = s.notifier(&config(None, Some(server.port))).await;
    let id = s.request("INC-4411 firmware <b>update</b> & check").await;
    let mail = server.next().await;
    assert_eq!(mail["mail_from"], json!("portcullis@example.org"));
    assert_eq!(mail["rcpt_tos"], json!(["biomed@example.org", "sec@example.org"]));
    let subject = header(&mail, "subject");
    assert_eq!(subject.len(), 1);
    assert!(subject[0].contains(&format!("#{id}")) && subject[0].contains("infusion-pump-12"), "{subject:?}");
    let body = mail["body"].as_str().unwrap();
    for fact in ["jdoe", "Acme Medical", "infusion-pump-12", "life-critical", "icu", "90", "INC-4411 firmware <b>update</b> & check", &format!("{PUBLIC}/requests")] {
        assert!(body.contains(fact), "body lacks {fact:?}: {body}");
    }

    // Header injection through the reason: it stays in the body.
    let hostile = "ok\r\nBcc: evil@example.org\r\nSubject: pwned\r\n\r\nfake body";
    let id2 = s.raw_request(hostile).await;
    let mail = server.next().await;
    assert_eq!(mail["rcpt_tos"], json!(["biomed@example.org", "sec@example.org"]), "no recipient was added");
    assert!(header(&mail, "bcc").is_empty(), "{mail}");
    let subject = header(&mail, "subject");
    assert_eq!(subject.len(), 1);
    assert!(subject[0].contains(&format!("#{id2}")) && !subject[0].contains("pwned"), "{subject:?}");
    assert!(mail["body"].as_str().unwrap().contains("Bcc: evil@example.org"), "the reason is shown as text");
    node.stop().await;
}

#[tokio::test]
async fn webhook_and_email_run_side_by_side() {
    let t = stores().await.remove(1);
    let s = site(&t).await;
    let rx = Receiver::start(true).await;
    let mut server = SmtpServer::start().await;
    let node = s.notifier(&config(Some(&rx.url), Some(server.port))).await;
    let id = s.request("both channels").await;
    rx.wait("the request", |r| !r.bodies().is_empty()).await;
    let mail = server.next().await;
    assert!(header(&mail, "subject")[0].contains(&format!("#{id}")));
    assert_eq!(request_ids(&rx.bodies()), vec![id.0]);
    node.stop().await;
}

/// Alerts reach the approvers' channels at or above `alerts.notify` (here `high`): a flood of
/// refusals on a life-critical device makes one critical alert, so one notification; the
/// medium alert of a flood of wrong codes (an account, no device) is not sent, and the cursor
/// moves past it to the request filed after.
#[tokio::test]
async fn alerts_at_or_above_the_level_are_sent_once_each() {
    for t in stores().await {
        let s = site(&t).await;
        let rx = Receiver::start(true).await;
        let node = s.notifier(&config(Some(&rx.url), None)).await;
        let mut alerts_cfg: crate::config::AlertsConfig = toml::from_str("failed_codes = 3\nrefusal_burst = 3").unwrap();
        alerts_cfg.check().unwrap();
        let alerts = crate::alerts::Alerts::new(s.world.store.clone(), s.world.audit.clone(), alerts_cfg, crate::policy::Policy::new(Default::default()));
        for _ in 0..50 {
            alerts.code_failed("jdoe", "10.0.0.1:1").await.unwrap();
        }
        let pump = s.world.store.require_device(&s.device).await.unwrap();
        for _ in 0..50 {
            alerts.refused("jdoe", None, Some(&pump), "direct-tcpip").await.unwrap();
        }
        let id = s.request("after the alerts").await;
        rx.wait("the request after the alert", |r| r.bodies().iter().any(|b| b["portcullis"]["request"] == json!(id.0))).await;
        let bodies = rx.bodies();
        let events: Vec<&str> = bodies.iter().map(|b| b["portcullis"]["event"].as_str().unwrap_or("request.created")).collect();
        assert_eq!(events, vec!["alert.refusal_burst", "request.created"], "{}: the medium failed_codes alert is below the level; the critical burst is sent once", t.name);
        let alert = &bodies[0];
        assert_eq!(alert["portcullis"]["detail"]["severity"], json!("critical"));
        assert_eq!(alert["portcullis"]["url"], json!(format!("{PUBLIC}/alerts")));
        assert!(alert["text"].as_str().unwrap().contains("critical alert refusal_burst: jdoe on infusion-pump-12"), "{}", alert["text"]);
        node.stop().await;
    }
}
