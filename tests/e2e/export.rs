//! `portcullis audit export` through the real binary, on SQLite and on PostgreSQL: the JSON
//! lines read back into the hash chain (every row's hash recomputes from its fields and
//! links to the previous row), `--since` and `--output` select and redirect, and the syslog
//! and CEF forms have one RFC 5424 message per line. And `portcullis serve` with a syslog
//! sink streams every row to a TCP receiver, and resumes from its cursor after a restart.

use crate::harness::broker::Broker;
use crate::harness::pg::TestDb;
use portcullis_core::audit::{row_hash, GENESIS_HASH};
use serde_json::Value;

/// Some history: users added.
fn history(broker: &Broker) {
    for name in ["carol", "dave", "erin"] {
        broker.add_user(name, "approver", None, None);
    }
}

/// Milliseconds since the epoch of an RFC 3339 time.
fn ms(ts: &str) -> i64 {
    let t = time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339).unwrap();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// Checks that JSON lines are the chain from row 1, and returns them.
fn check_chain(text: &str) -> Vec<Value> {
    let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(rows.len() >= 4, "expected several rows, got {text}");
    let mut prev = GENESIS_HASH.to_owned();
    for (i, r) in rows.iter().enumerate() {
        let seq = r["seq"].as_i64().unwrap();
        assert_eq!(seq, i as i64 + 1, "rows out of order or missing: {r}");
        assert_eq!(r["prev_hash"].as_str().unwrap(), prev, "row {seq} does not link to the previous row");
        let detail = serde_json::to_string(&r["detail"]).unwrap();
        let s = |k: &str| r[k].as_str().unwrap().to_owned();
        let expected = row_hash(seq, ms(&s("ts")), &s("actor"), &s("kind"), &s("subject"), &detail, &prev);
        assert_eq!(s("hash"), expected, "row {seq}: the hash does not recompute from the exported fields");
        prev = s("hash");
    }
    rows
}

fn exports(broker: &Broker) {
    history(broker);
    let all = check_chain(&broker.cli_ok(&["audit", "export", "--format", "jsonl"]));
    let tail = broker.cli_json(&["audit", "tail", "-n", "1000", "--json"]);
    assert_eq!(all.len(), tail.as_array().unwrap().len(), "export and tail disagree on the row count");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("since.jsonl");
    let printed = broker.cli_ok(&["audit", "export", "--format", "jsonl", "--since", "2", "--output", file.to_str().unwrap()]);
    assert!(printed.is_empty(), "--output still printed: {printed}");
    let since: Vec<Value> = std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(since, all[2..].to_vec(), "--since 2 is every row after 2");

    let syslog = broker.cli_ok(&["audit", "export", "--format", "syslog"]);
    assert_eq!(syslog.lines().count(), all.len());
    for (line, row) in syslog.lines().zip(&all) {
        assert!(line.starts_with('<') && line.contains(">1 "), "not RFC 5424: {line}");
        assert!(line.contains(" portcullis ") && line.contains(&format!("[portcullis@32473 seq=\"{}\" hash=\"{}\"", row["seq"], row["hash"].as_str().unwrap())), "{line}");
    }
    let cef = broker.cli_ok(&["audit", "export", "--format", "cef", "--since", "1"]);
    assert_eq!(cef.lines().count(), all.len() - 1);
    assert!(cef.lines().all(|l| l.contains("] CEF:0|Portcullis|Portcullis|")), "{cef}");
}

#[test]
fn sqlite_export_reads_back_into_the_chain() {
    exports(&Broker::init());
}

#[test]
fn postgres_export_reads_back_into_the_chain() {
    let db = TestDb::create();
    exports(&Broker::init_with_store(Some(db.url.clone())));
}

/// A syslog receiver on loopback: each connection's RFC 6587 frames, parsed to their `seq`.
fn syslog_receiver() -> (std::net::SocketAddr, std::sync::mpsc::Receiver<i64>) {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = stream.read(&mut chunk) {
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(sp) = buf.iter().position(|b| *b == b' ') {
                        let len: usize = std::str::from_utf8(&buf[..sp]).unwrap().parse().expect("octet count");
                        if buf.len() < sp + 1 + len {
                            break;
                        }
                        let msg = String::from_utf8(buf[sp + 1..sp + 1 + len].to_vec()).unwrap();
                        buf.drain(..sp + 1 + len);
                        assert!(msg.starts_with('<') && msg.contains(">1 ") && msg.contains(" portcullis "), "not RFC 5424: {msg}");
                        let seq = msg.split("[portcullis@32473 seq=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
                        if tx.send(seq.parse().unwrap()).is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// Receives until `head` arrived.
fn receive_until(rx: &std::sync::mpsc::Receiver<i64>, got: &mut Vec<i64>, head: i64) {
    while !got.contains(&head) {
        got.push(rx.recv_timeout(std::time::Duration::from_secs(60)).expect("rows did not reach the receiver"));
    }
}

fn head(broker: &Broker) -> i64 {
    broker.audit().iter().filter_map(|r| r["seq"].as_i64()).max().unwrap()
}

#[test]
fn serve_streams_syslog_and_resumes_after_a_restart() {
    let (addr, rx) = syslog_receiver();
    let mut broker = Broker::init();
    let mut config = std::fs::read_to_string(&broker.config).unwrap();
    config.push_str(&format!("\n[[export.sinks]]\nname = \"siem\"\nformat = \"syslog\"\ntarget = \"tcp://{addr}\"\n"));
    std::fs::write(&broker.config, config).unwrap();
    let mut got = Vec::new();

    broker.serve(&[]);
    history(&broker);
    receive_until(&rx, &mut got, head(&broker));

    // The broker stops; rows are added by the CLI meanwhile; the next `serve` resumes.
    broker.stop();
    for name in ["frank", "grace"] {
        broker.add_user(name, "approver", None, None);
    }
    broker.serve(&[]);
    let last = head(&broker);
    receive_until(&rx, &mut got, last);

    let mut seen = std::collections::BTreeSet::new();
    let firsts: Vec<i64> = got.iter().copied().filter(|s| seen.insert(*s)).collect();
    assert_eq!(firsts, (1..=last).collect::<Vec<_>>(), "lost or out of order (repeats allowed): {got:?}");
}
