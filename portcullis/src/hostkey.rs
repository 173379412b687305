//! Trust on first use for `device add --fetch-host-key`: connect once to the device's SSH
//! service, take the host key it proves it holds during key exchange, and hang up before
//! authenticating. The caller pins that key; from then on the broker refuses any other.

use anyhow::Context as _;
use russh::keys::PublicKey;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::oneshot;

/// How long the whole exchange may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(15);

/// Captures the server's key, then refuses it so the connection ends at once.
struct Capture {
    found: Option<oneshot::Sender<PublicKey>>,
}

impl russh::client::Handler for Capture {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        if let (Some(tx), russh::keys::PublicKeyOrCertificate::PublicKey { key, .. }) = (self.found.take(), key) {
            let _ = tx.send(key.clone());
        }
        Ok(false)
    }
}

/// The host key the SSH server at `address` (`HOST:PORT`) presents.
pub async fn fetch(address: &str) -> anyhow::Result<PublicKey> {
    let (tx, rx) = oneshot::channel();
    let config = Arc::new(russh::client::Config::default());
    let handler = Capture { found: Some(tx) };
    let attempt = tokio::time::timeout(FETCH_TIMEOUT, russh::client::connect(config, address, handler)).await;
    // The handler refuses the key on purpose, so the connection itself always fails; what
    // matters is whether a key arrived before it did.
    if let Ok(key) = rx.await {
        return Ok(key);
    }
    match attempt {
        Err(_) => anyhow::bail!("no SSH key exchange with {address} within {}s", FETCH_TIMEOUT.as_secs()),
        Ok(Err(e)) => Err(e).with_context(|| format!("cannot fetch the host key of {address}")),
        Ok(Ok(_)) => anyhow::bail!("{address} presented a certificate, not a plain host key; give it with --host-key"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[tokio::test]
    async fn refuses_a_closed_port_with_a_message() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = fetch(&addr.to_string()).await.unwrap_err();
        assert!(format!("{err:#}").contains(&addr.to_string()), "{err:#}");
    }

    #[tokio::test]
    async fn a_silent_server_is_not_a_key() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            use tokio::io::AsyncWriteExt;
            s.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\n").await.unwrap();
        });
        assert!(fetch(&addr.to_string()).await.is_err());
        server.await.unwrap();
    }
}
