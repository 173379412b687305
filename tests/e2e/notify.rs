//! Notifications through the real binary: `portcullis serve` configured only by environment
//! variables (`PORTCULLIS_NOTIFY_*`) posts a webhook to a receiver on loopback when a vendor
//! files a request through the SSH lobby.

use crate::harness::scenario::{Setup, VENDOR, VENDOR_ORG, ZONE};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

/// A one-thread HTTP/1.1 receiver: answers every request 200 and hands its body over.
pub(crate) fn receiver() -> (String, mpsc::Receiver<Value>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            if let Ok(v) = serde_json::from_slice(&body) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    (url, rx)
}

#[test]
fn serve_posts_a_webhook_when_a_vendor_files_a_request() {
    let (url, bodies) = receiver();
    let s = Setup::new("pump-notify")
        .serve_env("PORTCULLIS_NOTIFY_WEBHOOK_URL", &url)
        .serve_env("PORTCULLIS_NOTIFY_PUBLIC_URL", "https://broker.hospital.test:8443")
        .start();
    let id = s.request_via_lobby(20, "INC-7 <b>alarm</b> & \"log\"");
    let body = bodies.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| {
        panic!("no webhook arrived:\n{}", s.broker.server_output())
    });
    let p = &body["portcullis"];
    assert_eq!(p["request"], id, "{body}");
    assert_eq!(p["requester"], VENDOR);
    assert_eq!(p["organisation"], VENDOR_ORG);
    assert_eq!(p["device"], "pump-notify");
    assert_eq!(p["zone"], ZONE);
    assert_eq!(p["minutes"], 20);
    assert_eq!(p["reason"], "INC-7 <b>alarm</b> & \"log\"");
    assert_eq!(p["url"], "https://broker.hospital.test:8443/requests");
    assert!(body["text"].as_str().unwrap().contains(&format!("#{id}")), "{body}");
}
