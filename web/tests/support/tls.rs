//! A self-signed certificate for `localhost` written to a folder, and a TLS client that
//! trusts exactly it: what the tests of the real HTTPS listener need.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use portcullis_web::TlsFiles;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsConnector;

/// Writes `cert.pem` and `key.pem` into `dir`; returns them and a connector trusting them.
pub fn self_signed(dir: &Path) -> (TlsFiles, TlsConnector) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let tls = TlsFiles { cert_pem: dir.join("cert.pem"), key_pem: dir.join("key.pem") };
    std::fs::write(&tls.cert_pem, certified.cert.pem()).unwrap();
    std::fs::write(&tls.key_pem, certified.signing_key.serialize_pem()).unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (tls, TlsConnector::from(Arc::new(client)))
}
