//! End-to-end tests of the HTTPS listener: a real TLS client talks raw
//! HTTP/1.1 to `portcullis_web::run` on a loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use portcullis_web::{run, TlsCert, TlsFiles, WebError};

mod support;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

struct Server {
    addr: SocketAddr,
    connector: TlsConnector,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), WebError>>,
    _dir: tempfile::TempDir,
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn assert_security_headers(&self) {
        let csp = self.header("content-security-policy").unwrap_or_default();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert!(self
            .header("strict-transport-security")
            .is_some_and(|v| v.starts_with("max-age=")));
        assert_eq!(self.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(self.header("referrer-policy"), Some("no-referrer"));
    }
}

async fn start() -> Server {
    let dir = tempfile::tempdir().unwrap();
    let (tls, connector) = support::tls::self_signed(dir.path());

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let ctx = support::sqlite_context(dir.path()).await;
    let state = support::state(ctx, "Ward <B>");
    let shutdown = CancellationToken::new();
    let tls = TlsCert::load(&tls).await.unwrap();
    let task = tokio::spawn(run(listener, tls, state, shutdown.clone()));
    Server {
        addr,
        connector,
        shutdown,
        task,
        _dir: dir,
    }
}

impl Server {
    async fn connect(&self) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        self.connector.connect(name, tcp).await.unwrap()
    }

    /// Send one raw request on a fresh connection and read to close.
    async fn request(&self, head: &str, body: &[u8]) -> Reply {
        let mut tls = self.connect().await;
        tls.write_all(head.as_bytes()).await.unwrap();
        tls.write_all(body).await.unwrap();
        tls.flush().await.unwrap();
        read_reply(&mut tls).await
    }

    async fn get(&self, path: &str) -> Reply {
        let head = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        self.request(&head, b"").await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        let result = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("run did not return after cancel");
        result.unwrap().unwrap();
    }
}

/// Read until the server closes (Connection: close) and parse.
async fn read_reply(tls: &mut TlsStream<TcpStream>) -> Reply {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => raw.extend_from_slice(&buf[..n]),
            Err(_) => panic!("no reply in time"),
        }
    }
    parse(&String::from_utf8(raw).unwrap())
}

fn parse(raw: &str) -> Reply {
    let (head, body) = raw.split_once("\r\n\r\n").expect("no header end");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

#[tokio::test]
async fn healthz_reports_ok_and_version() {
    let server = start().await;
    let reply = server.get("/healthz").await;
    assert_eq!(reply.status, 200);
    assert!(reply
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let json: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(
        (&json["status"], &json["version"], &json["store"], &json["waiting_writes"]),
        (&serde_json::json!("ok"), &serde_json::json!("9.9.9-test"), &serde_json::json!("ok"), &serde_json::json!(0)),
        "{json}"
    );
    // What an operator (and the leak test) watches: the runtime's tasks and the memory used.
    assert!(json["tasks"].as_u64().is_some_and(|n| n > 0), "{json}");
    if cfg!(target_os = "linux") {
        assert!(json["rss_bytes"].as_u64().is_some_and(|n| n > 1024 * 1024), "{json}");
    }
    reply.assert_security_headers();
    server.stop().await;
}

#[tokio::test]
async fn visitors_who_are_not_signed_in_are_sent_to_sign_in() {
    let server = start().await;
    let reply = server.get("/").await;
    assert!(reply.status == 303 || reply.status == 302 || reply.status == 307, "{}", reply.status);
    assert_eq!(reply.header("location"), Some("/login"));
    let api = server.get("/api/v1/requests").await;
    assert_eq!(api.status, 401);
    assert!(api.body.contains("\"unauthenticated\""), "{}", api.body);
    assert_eq!(api.header("cache-control"), Some("no-store"));
    reply.assert_security_headers();
    server.stop().await;
}

#[tokio::test]
async fn errors_carry_security_headers_too() {
    let server = start().await;
    let reply = server.get("/no-such-page").await;
    assert_eq!(reply.status, 404);
    reply.assert_security_headers();
    server.stop().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let server = start().await;
    let head = "POST /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
                Content-Length: 1000000\r\n\r\n";
    let reply = server.request(head, b"").await;
    assert_eq!(reply.status, 413);
    reply.assert_security_headers();
    server.stop().await;
}

#[tokio::test]
async fn garbage_instead_of_tls_does_not_stop_the_server() {
    let server = start().await;
    // A client that connects and says nothing holds only its own task.
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n\x00\xff\x16\x03garbage")
        .await
        .unwrap();
    // The server drops the connection (possibly after a TLS alert).
    let mut sink = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), tcp.read_to_end(&mut sink)).await;
    assert!(closed.is_ok(), "server kept the garbage connection open");

    let reply = server.get("/healthz").await;
    assert_eq!(reply.status, 200);
    server.stop().await;
}

#[tokio::test]
async fn cancel_stops_run_even_with_idle_keepalive_connection() {
    let server = start().await;
    let mut tls = server.connect().await;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = tls.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // The connection stays open (keep-alive) while the server shuts down.
    let addr = server.addr;
    let started = std::time::Instant::now();
    server.stop().await;
    assert!(started.elapsed() < Duration::from_secs(3));
    // The idle connection was closed and nothing listens any more.
    let after = tokio::time::timeout(Duration::from_secs(1), tls.read(&mut buf)).await;
    assert!(matches!(after, Ok(Ok(0)) | Ok(Err(_))), "{after:?}");
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn bad_tls_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let tls = TlsFiles {
        cert_pem: dir.path().join("missing.pem"),
        key_pem: dir.path().join("missing-key.pem"),
    };
    let err = TlsCert::load(&tls).await.unwrap_err();
    assert!(matches!(err, WebError::Read { .. }), "{err}");

    std::fs::write(dir.path().join("empty.pem"), "").unwrap();
    let tls = TlsFiles {
        cert_pem: dir.path().join("empty.pem"),
        key_pem: dir.path().join("empty.pem"),
    };
    let err = TlsCert::load(&tls).await.unwrap_err();
    assert!(matches!(err, WebError::NoCertificate(_)), "{err}");
}
