//! The exporter against a real TCP receiver on loopback, over both back ends: rows arrive as
//! octet-counted RFC 5424 messages; the receiver is stopped while rows are added and started
//! again on the same address; the exporter is stopped and started again (a broker restart).
//! Nothing may be lost, the order is the chain's, and any repeat carries a `seq` already seen.
//! Also: a `tls://` sink trusting a private CA file, and a JSON-lines file sink.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::audit::{AuditLog, Event, Kind, Subject};
use crate::testdb::{audit_log, stores};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// Only to fail a hung test; nothing waits for it in a passing run.
const HUNG: Duration = Duration::from_secs(60);

/// A syslog receiver: accepts connections and parses RFC 6587 octet-counted frames.
struct Receiver {
    addr: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Receiver {
    /// Listens on `addr` (port 0 the first time; the same address again for a restart).
    async fn start(addr: SocketAddr, frames: mpsc::UnboundedSender<String>) -> Receiver {
        let listener = TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = CancellationToken::new();
        let token = stop.clone();
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    accepted = listener.accept() => {
                        let (sock, _) = accepted.unwrap();
                        conns.spawn(read_frames(sock, frames.clone(), token.clone()));
                    }
                }
            }
            // Dropping the listener and every connection: the receiver is gone.
            conns.shutdown().await;
        });
        Receiver { addr, stop, task }
    }

    async fn stop(self) {
        self.stop.cancel();
        self.task.await.unwrap();
    }
}

/// Reads `LEN SP MSG` frames until the peer closes or the receiver stops.
async fn read_frames<S: tokio::io::AsyncRead + Unpin>(mut sock: S, frames: mpsc::UnboundedSender<String>, stop: CancellationToken) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = tokio::select! {
            _ = stop.cancelled() => return,
            n = sock.read(&mut chunk) => n.unwrap_or(0),
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(space) = buf.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..space]).unwrap().parse().expect("octet count");
            if buf.len() < space + 1 + len {
                break;
            }
            let msg = String::from_utf8(buf[space + 1..space + 1 + len].to_vec()).unwrap();
            buf.drain(..space + 1 + len);
            frames.send(msg).unwrap();
        }
    }
}

/// `seq` and `hash` of an RFC 5424 message from Portcullis (checking its shape on the way).
fn parse(msg: &str) -> (i64, String) {
    let parts: Vec<&str> = msg.splitn(7, ' ').collect();
    assert!(parts[0].starts_with('<') && parts[0].ends_with(">1"), "not RFC 5424: {msg}");
    assert_eq!(parts[3], "portcullis", "APP-NAME: {msg}");
    assert!(parts[6].starts_with("[portcullis@32473 seq=\""), "{msg}");
    let sd = parts[6];
    let field = |name: &str| {
        let start = sd.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        sd[start..start + sd[start..].find('"').unwrap()].to_owned()
    };
    let seq = sd["[portcullis@32473 seq=\"".len()..].split('"').next().unwrap().parse().unwrap();
    assert_eq!(field("kind"), parts[5], "MSGID is the kind");
    (seq, field("hash"))
}

/// Everything received so far, by arrival; waits until `seq` `upto` has arrived.
async fn receive_until(rx: &mut mpsc::UnboundedReceiver<String>, got: &mut Vec<(i64, String)>, upto: i64) {
    while got.iter().all(|(s, _)| *s < upto) {
        let msg = tokio::time::timeout(HUNG, rx.recv()).await.expect("rows did not arrive").unwrap();
        got.push(parse(&msg));
    }
}

fn config(target: &str) -> Config {
    let text = format!(
        "[store]\nurl = \"sqlite://unused.db\"\n[export]\nbatch_size = 3\ntimeout = \"5s\"\nretry_backoff = \"20ms\"\n\
         [[export.sinks]]\nname = \"siem\"\nformat = \"syslog\"\ntarget = \"{target}\"\n"
    );
    Config::from_parts(&text, Path::new("/tmp/portcullis.toml"), &[]).unwrap()
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Starts an exporter (a broker node) on `store`.
fn start(cfg: &Config, store: &Store, audit: &AuditLog) -> Running {
    let exporter = Exporter::from_config(cfg, store.clone()).unwrap().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(exporter.run(audit.feed().subscribe(), shutdown.clone()));
    Running { shutdown, task }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(HUNG, self.task).await.unwrap().unwrap();
    }
}

async fn add(audit: &AuditLog, n: usize, tag: &str) -> i64 {
    let mut last = 0;
    for i in 0..n {
        last = audit.record(Event::new("cli:root", Kind::UserCreated, Subject::User(format!("{tag}{i}")), json!({ "i": i, "odd": "a\n]\"" }))).await.unwrap();
    }
    last
}

#[tokio::test]
async fn syslog_over_tcp_survives_receiver_and_exporter_restarts() {
    for t in stores().await {
        let audit = audit_log(&t.store, 0);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let receiver = Receiver::start("127.0.0.1:0".parse().unwrap(), tx.clone()).await;
        let addr = receiver.addr;
        let cfg = config(&format!("tcp://{addr}"));
        let mut got = Vec::new();

        // Rows from before the exporter started are exported too (a new sink starts at 1).
        add(&audit, 4, "before").await;
        let node = start(&cfg, &t.store, &audit);
        let head = add(&audit, 5, "live").await;
        receive_until(&mut rx, &mut got, head).await;

        // The receiver goes away while rows are added, then comes back on the same address.
        receiver.stop().await;
        let head = add(&audit, 7, "down").await;
        let receiver = Receiver::start(addr, tx.clone()).await;
        receive_until(&mut rx, &mut got, head).await;

        // The broker stops; rows are added meanwhile; a new node resumes from the cursor.
        node.stop().await;
        let head = add(&audit, 5, "restart").await;
        let node = start(&cfg, &t.store, &audit);
        receive_until(&mut rx, &mut got, head).await;
        node.stop().await;
        receiver.stop().await;
        assert_eq!(crate::cursor::position(&t.store, "export:siem").await.unwrap(), Some(head), "{}", t.name);

        // Nothing lost, nothing out of order; a repeat is one seq seen before, same hash.
        let stored: BTreeMap<i64, String> = page(&t.store, 0, 1000).await.unwrap().into_iter().map(|r| (r.seq, r.hash)).collect();
        let mut seen = BTreeMap::new();
        let mut last = 0;
        for (seq, hash) in &got {
            assert_eq!(stored.get(seq), Some(hash), "{}: row {seq} arrived with a wrong hash", t.name);
            if seen.insert(*seq, hash.clone()).is_none() {
                assert_eq!(*seq, last + 1, "{}: row {seq} arrived after {last}", t.name);
                last = *seq;
            }
        }
        assert_eq!(last, head, "{}", t.name);
        assert_eq!(seen.len() as i64, head, "{}", t.name);
    }
}

/// A JSON-lines sink named `file` appending to `file`.
fn file_sink(file: &Path) -> Config {
    let text = format!(
        "[store]\nurl = \"sqlite://unused.db\"\n[[export.sinks]]\nname = \"file\"\nformat = \"jsonl\"\ntarget = \"file://{}\"\n",
        file.display()
    );
    Config::from_parts(&text, Path::new("/tmp/portcullis.toml"), &[]).unwrap()
}

#[tokio::test]
async fn jsonl_to_a_file_resumes_from_the_cursor() {
    for t in stores().await {
        let audit = audit_log(&t.store, 0);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audit.jsonl");
        let cfg = file_sink(&file);
        let node = start(&cfg, &t.store, &audit);
        let head = add(&audit, 3, "a").await;
        wait_cursor(&t.store, "export:file", head).await;
        node.stop().await;
        let head = add(&audit, 2, "b").await;
        let node = start(&cfg, &t.store, &audit);
        wait_cursor(&t.store, "export:file", head).await;
        node.stop().await;
        let lines: Vec<serde_json::Value> =
            std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let seqs: Vec<i64> = lines.iter().map(|v| v["seq"].as_i64().unwrap()).collect();
        assert_eq!(seqs, (1..=head).collect::<Vec<_>>(), "{}", t.name);
    }
}

/// Every signed checkpoint reaches the sink after the rows it covers: those signed at a
/// commit, and one signed with no new row (the worker looks for it every 5 s, since the feed
/// does not move; the periodic interval here is the default 5 minutes). A restart sends none
/// twice.
#[tokio::test]
async fn signed_checkpoints_reach_the_sink_after_their_rows() {
    for t in stores().await {
        let audit = audit_log(&t.store, 2);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("audit.jsonl");
        let cfg = file_sink(&file);
        let node = start(&cfg, &t.store, &audit);
        let head = add(&audit, 5, "a").await;
        wait_cursor(&t.store, "export-checkpoints:file", 4).await;
        // Row 5 is not checkpointed yet; the periodic checkpoint signs it without a new row.
        assert_eq!(audit.checkpoint().await.unwrap().map(|c| c.seq), Some(head), "{}", t.name);
        wait_cursor(&t.store, "export-checkpoints:file", head).await;
        node.stop().await;
        let node = start(&cfg, &t.store, &audit);
        let head = add(&audit, 1, "b").await;
        wait_cursor(&t.store, "export:file", head).await;
        wait_cursor(&t.store, "export-checkpoints:file", head).await;
        node.stop().await;

        let text = std::fs::read_to_string(&file).unwrap();
        let mut rows_seen = 0;
        let mut sent = Vec::new();
        for line in text.lines() {
            match super::format::checkpoint::parse_line(line) {
                Some(cp) => {
                    assert!(cp.seq <= rows_seen, "{}: checkpoint {} came before its rows", t.name, cp.seq);
                    assert!(audit.signer().verifies(&cp), "{}: {line}", t.name);
                    sent.push(cp.seq);
                }
                None => rows_seen = serde_json::from_str::<serde_json::Value>(line).unwrap()["seq"].as_i64().unwrap(),
            }
        }
        assert_eq!(sent, vec![2, 4, 5, 6], "{}: every checkpoint once, in order", t.name);
        assert_eq!(rows_seen, head, "{}", t.name);
    }
}

/// Waits (polling with a deadline) until the cursor reached `seq`.
async fn wait_cursor(store: &Store, name: &str, seq: i64) {
    let deadline = tokio::time::Instant::now() + HUNG;
    while crate::cursor::position(store, name).await.unwrap() != Some(seq) {
        assert!(tokio::time::Instant::now() < deadline, "cursor {name} never reached {seq}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn syslog_over_tls_with_a_private_ca() {
    let t = stores().await.remove(0);
    let audit = audit_log(&t.store, 0);
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), certified.cert.pem()).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(certified.signing_key.serialize_der()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(sock).await.unwrap();
        read_frames(tls, tx, token).await;
    });
    let text = format!(
        "[store]\nurl = \"sqlite://unused.db\"\n[[export.sinks]]\nname = \"tls\"\nformat = \"cef\"\ntarget = \"tls://localhost:{port}\"\nca_file = \"ca.pem\"\n"
    );
    let cfg = Config::from_parts(&text, &dir.path().join("portcullis.toml"), &[]).unwrap();
    let node = start(&cfg, &t.store, &audit);
    let head = add(&audit, 3, "tls").await;
    let mut got = Vec::new();
    receive_until(&mut rx, &mut got, head).await;
    node.stop().await;
    stop.cancel();
    assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), (1..=head).collect::<Vec<_>>());
}
