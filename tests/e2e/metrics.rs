//! The metrics listener scraped by a real Prometheus: a vendor's approved `ssh` session and a
//! burst of failed sign-ins (a key that is not enrolled) are counted, Prometheus (Debian's
//! `prometheus`, on loopback with a temporary configuration and storage) scrapes `/metrics`,
//! evaluates the shipped `deploy/prometheus/alerts.yml`, and the sign-in burst alert fires,
//! read through its HTTP API. The rules' own unit tests run with `promtool`, and the Grafana
//! dashboard is checked to be JSON that uses only metrics the node serves.

use crate::harness::proc::{self, Capture};
use crate::harness::scenario::Setup;
use crate::harness::vendor::{Code, Vendor};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Failed sign-ins the test makes: more than the burst alert's threshold (10 in 5 minutes).
const FAILED_SIGN_INS: usize = 12;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `GET /metrics` over plain HTTP.
fn scrape(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{text}");
    text
}

/// The value of the one series whose line starts with `series ` (labels included).
fn value(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {series} in:\n{text}")).trim().parse().unwrap()
}

/// A Prometheus server on loopback, killed when dropped.
struct Prometheus {
    child: Child,
    output: Capture,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    fn start(target: SocketAddr) -> Prometheus {
        let dir = tempfile::Builder::new().prefix("portcullis-prometheus-").tempdir().unwrap();
        std::fs::copy(repo().join("deploy/prometheus/alerts.yml"), dir.path().join("alerts.yml")).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - alerts.yml\nscrape_configs:\n  - job_name: portcullis\n    static_configs:\n      - targets: ['{target}']\n"
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        // A free port: bound, read, released (Prometheus then binds it).
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let mut cmd = Command::new("prometheus");
        cmd.arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null());
        let (child, output) = Capture::spawn(&mut cmd);
        let p = Prometheus { child, output, addr, _dir: dir };
        proc::poll_until("Prometheus to be ready", Duration::from_secs(60), || p.get("/-/ready").filter(|t| t.contains("Ready")));
        p
    }

    /// `GET path` of its HTTP API with curl; None when it does not answer 200.
    fn get(&self, path: &str) -> Option<String> {
        let out = proc::run(
            {
                let mut c = Command::new("curl");
                c.args(["-sf", "--max-time", "10", &format!("http://{}{path}", self.addr)]);
                c
            },
            Duration::from_secs(20),
        );
        out.success().then(|| out.stdout_text())
    }

    /// An instant query's result vector.
    fn query(&self, promql: &str) -> Vec<Value> {
        let out = proc::run(
            {
                let mut c = Command::new("curl");
                c.args(["-sf", "--max-time", "10", "-G", &format!("http://{}/api/v1/query", self.addr), "--data-urlencode", &format!("query={promql}")]);
                c
            },
            Duration::from_secs(20),
        );
        if !out.success() {
            return Vec::new();
        }
        let v: Value = serde_json::from_str(&out.stdout_text()).unwrap();
        assert_eq!(v["status"], "success", "{v}");
        v["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- prometheus printed ---\n{}", self.output.text());
        }
    }
}

#[test]
fn prometheus_scrapes_and_alerts() {
    // No penalty for failed connections, so that the burst is not cut short by the broker.
    let s = Setup::new("pump-metrics").criticality("life-critical").serve_env("PORTCULLIS_SSH_PENALTY_FAILED", "0s").start();
    let metrics = s.broker.metrics_addr();
    assert!(metrics.ip().is_loopback(), "{metrics}");
    // Life-critical: two approvers.
    let id = s.request_via_lobby(30, "INC-5101 metrics check");
    for who in &crate::harness::scenario::APPROVERS[..2] {
        s.approve(id, who, &[]).assert_success();
    }
    s.wait_request_state(id, "approved", Duration::from_secs(30));

    // One approved session: an exec through the broker, and a shell kept open meanwhile.
    let out = s.exec("echo metrics-are-counted");
    out.assert_success();
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let live = proc::poll_until("the live session to be counted", Duration::from_secs(30), || {
        let t = scrape(metrics);
        (value(&t, "portcullis_sessions{criticality=\"life-critical\"}") >= 1.0).then_some(t)
    });
    assert_eq!(value(&live, "portcullis_sessions{criticality=\"standard\"}"), 0.0, "{live}");
    assert!(value(&live, "portcullis_recordings_open") >= 1.0, "{live}");

    // A stranger's key, tried again and again.
    let stranger = Vendor::new("stranger");
    let login = format!("stranger:{}", s.device.name);
    for _ in 0..FAILED_SIGN_INS {
        let out = stranger.exec_with(s.broker.ssh_addr(), &login, Code::Exactly("000000".to_owned()), &[], "true");
        out.assert_failure();
    }

    let text = proc::poll_until("the failed sign-ins to be counted", Duration::from_secs(30), || {
        let t = scrape(metrics);
        (value(&t, "portcullis_sign_ins_total{channel=\"ssh\",outcome=\"failure\"}") >= FAILED_SIGN_INS as f64).then_some(t)
    });
    assert!(value(&text, "portcullis_sign_ins_total{channel=\"ssh\",outcome=\"success\"}") >= 2.0, "{text}");
    assert!(value(&text, "portcullis_channel_bytes_total{kind=\"exec\",direction=\"from_device\"}") >= "metrics-are-counted\n".len() as f64, "{text}");
    assert!(value(&text, "portcullis_channel_bytes_total{kind=\"terminal\",direction=\"from_device\"}") > 0.0, "{text}");
    assert!(value(&text, "portcullis_decision_seconds_count") >= 1.0, "{text}");
    assert_eq!(value(&text, "portcullis_store_errors_total"), 0.0, "{text}");
    assert!(value(&text, "portcullis_store_contact_age_seconds") < 60.0, "{text}");
    // Hostile: no label carries a user, device, address or session.
    for secret in ["stranger", s.vendor.name.as_str(), s.device.name.as_str(), "127.0.0.1"] {
        assert!(!text.contains(secret), "the metrics name {secret:?}:\n{text}");
    }

    // A real Prometheus scrapes the node and evaluates the shipped alert rules.
    let prom = Prometheus::start(metrics);
    proc::poll_until("the node to be scraped (up == 1)", Duration::from_secs(60), || {
        prom.query("up{job=\"portcullis\"} == 1").first().cloned()
    });
    let failures = proc::poll_until("the failed sign-ins in Prometheus", Duration::from_secs(60), || {
        prom.query("portcullis_sign_ins_total{channel=\"ssh\",outcome=\"failure\"}").first().cloned()
    });
    assert!(failures["value"][1].as_str().unwrap().parse::<f64>().unwrap() >= FAILED_SIGN_INS as f64, "{failures}");
    // Every rule of alerts.yml loaded and evaluated without error.
    let rules: Value = serde_json::from_str(&prom.get("/api/v1/rules").unwrap()).unwrap();
    let loaded: Vec<&Value> = rules["data"]["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    let shipped = include_str!("../../deploy/prometheus/alerts.yml").lines().filter(|l| l.trim_start().starts_with("- alert:")).count();
    assert!(shipped >= 6, "alerts.yml lost its rules: {shipped}");
    assert_eq!(loaded.len(), shipped, "{rules}");
    assert!(loaded.iter().all(|r| r["health"] == "ok"), "{rules}");
    // The burst of failed sign-ins fires its alert (more failures arrive meanwhile: a burst
    // needs two samples of the counter to show an increase).
    let fired = proc::poll_until("PortcullisSignInFailureBurst to fire", Duration::from_secs(120), || {
        let _ = stranger.exec_with(s.broker.ssh_addr(), &login, Code::Exactly("000000".to_owned()), &[], "true");
        prom.query("ALERTS{alertname=\"PortcullisSignInFailureBurst\",alertstate=\"firing\"}").first().cloned()
    });
    assert_eq!(fired["metric"]["channel"], "ssh", "{fired}");
    let rules: Value = serde_json::from_str(&prom.get("/api/v1/rules").unwrap()).unwrap();
    for r in rules["data"]["groups"][0]["rules"].as_array().unwrap() {
        assert_eq!(r["health"], "ok", "rule {} does not evaluate: {r}", r["name"]);
    }
    // Nothing else fires on a healthy node.
    let others = prom.query("ALERTS{alertname!=\"PortcullisSignInFailureBurst\"}");
    assert!(others.is_empty(), "{others:?}");
    drop(prom);

    term.send_line("exit");
    term.wait_exit(Duration::from_secs(30));
}

/// The shipped rules pass their unit tests (`promtool test rules`), and the Grafana dashboard
/// is JSON whose queries use only metrics the node serves.
#[test]
fn shipped_rules_and_dashboard_hold() {
    let out = proc::run(
        {
            let mut c = Command::new("promtool");
            c.arg("test").arg("rules").arg(repo().join("deploy/prometheus/alerts.test.yml"));
            c
        },
        Duration::from_secs(60),
    );
    out.assert_success();
    assert!(out.all_text().contains("SUCCESS"), "{}", out.describe());

    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(repo().join("deploy/grafana/portcullis.json")).unwrap()).unwrap();
    let mut broker = crate::harness::broker::Broker::init();
    broker.serve(&[]);
    let text = scrape(broker.metrics_addr());
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 8, "{dashboard}");
    let alerts = std::fs::read_to_string(repo().join("deploy/prometheus/alerts.yml")).unwrap();
    let mut exprs: Vec<String> = panels.iter().flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_owned())).collect();
    exprs.push(alerts);
    for expr in exprs {
        for (i, _) in expr.match_indices("portcullis_") {
            let name: String = expr[i..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let family = name.trim_end_matches("_bucket").trim_end_matches("_total");
            // A sink's family appears once a sink is configured (none is here).
            if family.starts_with("portcullis_sink_lag") {
                continue;
            }
            assert!(text.contains(&format!("# TYPE {family} ")), "{name} is used but not served:\n{text}");
        }
    }
}

/// A notification channel whose webhook does not answer falls behind the audit log, and the
/// node reports the lag of that channel, labelled by its kind and name only.
#[test]
fn an_unreachable_webhook_shows_as_delivery_lag() {
    // Port 1 on loopback: nothing listens, every delivery fails and is retried.
    let s = Setup::new("pump-lag")
        .serve_env("PORTCULLIS_NOTIFY_WEBHOOK_URL", "http://127.0.0.1:1/hook")
        .serve_env("PORTCULLIS_NOTIFY_PUBLIC_URL", "https://broker.example")
        .start();
    let metrics = s.broker.metrics_addr();
    let idle = proc::poll_until("the webhook's lag series", Duration::from_secs(30), || {
        let t = scrape(metrics);
        t.contains("portcullis_sink_lag_events{kind=\"notify\",sink=\"webhook\"}").then_some(t)
    });
    assert_eq!(value(&idle, "portcullis_sink_lag_events{kind=\"notify\",sink=\"webhook\"}"), 0.0, "{idle}");
    s.request_via_lobby(30, "INC-5102 lag check");
    let behind = proc::poll_until("the webhook to fall behind", Duration::from_secs(30), || {
        let t = scrape(metrics);
        (value(&t, "portcullis_sink_lag_events{kind=\"notify\",sink=\"webhook\"}") >= 1.0).then_some(t)
    });
    assert!(value(&behind, "portcullis_pending_requests") >= 1.0, "{behind}");
    // The undelivered event ages while the webhook stays down.
    proc::poll_until("the webhook's lag to grow past a second", Duration::from_secs(30), || {
        (value(&scrape(metrics), "portcullis_sink_lag_seconds{kind=\"notify\",sink=\"webhook\"}") > 1.0).then_some(())
    });
}
