//! The web listener's certificate reload (what SIGHUP does): a real TLS client on loopback
//! sees the new certificate on its next handshake, a connection opened before keeps working,
//! and a certificate that does not load (wrong key, not a certificate) is refused with the old
//! one kept in force.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use portcullis_web::{run, TlsCert, TlsFiles};
use rustls::pki_types::ServerName;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::sync::CancellationToken;

async fn handshake(addr: SocketAddr, connector: &TlsConnector) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    connector.connect(ServerName::try_from("localhost").unwrap(), tcp).await
}

/// A client trusting only the certificate in `pem`, with no TLS session to resume (a resumed
/// session is not shown the certificate again).
fn fresh_client_trusting(pem: &std::path::Path) -> TlsConnector {
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(pem).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions().unwrap().with_root_certificates(roots).with_no_client_auth();
    TlsConnector::from(std::sync::Arc::new(config))
}

/// Sends GET /healthz on an open connection; returns the status line.
async fn healthz(tls: &mut TlsStream<TcpStream>) -> String {
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tls.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn reload_serves_the_new_certificate_to_new_handshakes_only_when_it_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (old_dir, new_dir) = (dir.path().join("old"), dir.path().join("new"));
    std::fs::create_dir_all(&old_dir).unwrap();
    std::fs::create_dir_all(&new_dir).unwrap();
    let (old_files, trusts_old) = support::tls::self_signed(&old_dir);
    let (new_files, trusts_new) = support::tls::self_signed(&new_dir);
    let cert = TlsCert::load(&old_files).await.unwrap();
    let old_sha = cert.sha256();

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let state = support::state(support::sqlite_context(&dir.path().join("ctx")).await, "");
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(listener, cert.clone(), state, shutdown.clone()));
    let mut before = handshake(addr, &trusts_old).await.unwrap();
    assert!(healthz(&mut before).await.contains("200"));
    assert!(handshake(addr, &trusts_new).await.is_err(), "only the old certificate is served yet");

    // Hostile: the new certificate with the old key, and a PEM block that is no certificate.
    let mismatched = TlsFiles { cert_pem: new_files.cert_pem.clone(), key_pem: old_files.key_pem.clone() };
    assert!(cert.reload(&mismatched).await.is_err(), "a certificate that does not match its key must be refused");
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n").unwrap();
    let not_a_cert = TlsFiles { cert_pem: junk, key_pem: old_files.key_pem.clone() };
    assert!(cert.reload(&not_a_cert).await.is_err(), "a PEM block that is no certificate must be refused");
    assert_eq!(cert.sha256(), old_sha);
    let mut still_old = handshake(addr, &fresh_client_trusting(&old_files.cert_pem)).await.expect("the old certificate stays in force after a refused reload");
    assert!(healthz(&mut still_old).await.contains("200"));

    let new_sha = cert.reload(&new_files).await.unwrap();
    assert_ne!(new_sha, old_sha);
    let mut after = handshake(addr, &trusts_new).await.expect("a new handshake gets the new certificate");
    assert!(healthz(&mut after).await.contains("200"));
    assert!(handshake(addr, &fresh_client_trusting(&old_files.cert_pem)).await.is_err(), "the old certificate is no longer served");
    assert!(healthz(&mut before).await.contains("200"), "a connection opened before the reload keeps working");

    shutdown.cancel();
    task.await.unwrap().unwrap();
}
