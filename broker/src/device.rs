//! The client towards a device. The broker connects to the address stored for the device
//! (never one the vendor supplied), accepts only the pinned host key, and logs in with the
//! vaulted credential, which stays inside this process. A vendor connection makes at most one
//! device connection ([`LinkSlot`]), shared by its channels.

use portcullis_core::store::DeviceRecord;
use portcullis_core::vault::Credential;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKey};
use russh::Disconnect;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long connecting and logging in to a device may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Why the device could not be reached. Vendors only ever hear "unavailable".
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    #[error("no such enabled device")]
    Unknown,
    #[error("the device credential cannot be opened")]
    Vault,
    #[error("the stored host key is not valid")]
    BadPin,
    #[error("host key mismatch: device presented {presented}")]
    HostKeyMismatch { presented: String },
    #[error("cannot connect: {0}")]
    Connect(String),
    #[error("the device refused the stored credential")]
    AuthFailed,
    #[error("timed out")]
    Timeout,
}

/// The SHA-256 fingerprint of an OpenSSH public key line, or `?`.
pub fn fingerprint_of_line(line: &str) -> String {
    PublicKey::from_openssh(line).map(|k| k.fingerprint(HashAlg::Sha256).to_string()).unwrap_or_else(|_| "?".into())
}

struct Pinned {
    pin: PublicKey,
    /// What the device presented when it did not match.
    presented: Arc<Mutex<Option<String>>>,
}

impl client::Handler for Pinned {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &russh::keys::PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let ok = match key {
            russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.key_data() == self.pin.key_data(),
            russh::keys::PublicKeyOrCertificate::Certificate(_) => false,
        };
        if !ok {
            let shown = match key {
                russh::keys::PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256).to_string(),
                russh::keys::PublicKeyOrCertificate::Certificate(_) => "certificate".into(),
            };
            if let Ok(mut slot) = self.presented.lock() {
                *slot = Some(shown);
            }
        }
        Ok(ok)
    }
}

/// An authenticated connection to a device.
pub struct DeviceLink {
    handle: Handle<Pinned>,
}

impl DeviceLink {
    /// Opens a session channel on the device.
    pub async fn open_session(&self) -> Result<russh::Channel<client::Msg>, russh::Error> {
        self.handle.channel_open_session().await
    }

    /// Closes the connection.
    pub async fn disconnect(&self) {
        let _ = self.handle.disconnect(Disconnect::ByApplication, "session ended", "en").await;
    }
}

/// The one device connection of a vendor connection, made on first use and shared by all
/// its channels. The lock is held while connecting, so two channels make one connection.
#[derive(Default)]
pub(crate) struct LinkSlot(tokio::sync::Mutex<Option<Arc<DeviceLink>>>);

impl LinkSlot {
    /// The link, made with `connect` if there is none yet (a failure leaves the slot empty).
    pub(crate) async fn get_or_connect<F, Fut>(&self, connect: F) -> Result<Arc<DeviceLink>, DeviceError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<DeviceLink, DeviceError>>,
    {
        let mut slot = self.0.lock().await;
        if let Some(l) = slot.as_ref() {
            return Ok(l.clone());
        }
        let link = Arc::new(connect().await?);
        *slot = Some(link.clone());
        Ok(link)
    }

    /// Takes the link, to close it when the connection ends.
    pub(crate) async fn take(&self) -> Option<Arc<DeviceLink>> {
        self.0.lock().await.take()
    }
}

/// Connects and logs in.
pub async fn connect(dev: &DeviceRecord, cred: Credential) -> Result<DeviceLink, DeviceError> {
    tokio::time::timeout(CONNECT_TIMEOUT, connect_inner(dev, cred)).await.map_err(|_| DeviceError::Timeout)?
}

async fn connect_inner(dev: &DeviceRecord, cred: Credential) -> Result<DeviceLink, DeviceError> {
    let pin = PublicKey::from_openssh(&dev.host_key).map_err(|_| DeviceError::BadPin)?;
    let presented = Arc::new(Mutex::new(None));
    let handler = Pinned { pin, presented: presented.clone() };
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        nodelay: true,
        preferred: crate::algorithms::device_client(),
        ..Default::default()
    });
    let socket = tokio::net::TcpStream::connect(dev.address.as_str()).await.map_err(|e| DeviceError::Connect(e.to_string()))?;
    let _ = socket.set_nodelay(true);
    let mut handle = match client::connect_stream(config, crate::socket::buffered(socket), handler).await {
        Ok(h) => h,
        Err(e) => {
            if let Some(p) = presented.lock().ok().and_then(|s| s.clone()) {
                return Err(DeviceError::HostKeyMismatch { presented: p });
            }
            return Err(DeviceError::Connect(e.to_string()));
        }
    };
    let result = match cred {
        Credential::Password(pw) => handle.authenticate_password(dev.login.clone(), pw).await,
        Credential::PrivateKey(pem) => {
            let key = russh::keys::decode_secret_key(&pem, None).map_err(|_| DeviceError::Vault)?;
            let hash = handle.best_supported_rsa_hash().await.ok().flatten().flatten();
            let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
            handle.authenticate_publickey(dev.login.clone(), key).await
        }
    };
    match result {
        Ok(r) if r.success() => Ok(DeviceLink { handle }),
        Ok(_) => Err(DeviceError::AuthFailed),
        Err(e) => Err(DeviceError::Connect(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    /// Each queue of a device connection preallocates a block of 32 messages (tokio's mpsc),
    /// four such queues per connection and one connection per session: russh's client message
    /// must stay small. Inline, its authentication method (with a certificate) made it over
    /// 500 bytes, 17 KiB per queue; the vendored russh boxes it (vendor/russh/PORTCULLIS-PATCH.md).
    #[test]
    fn a_device_connections_message_is_small() {
        let size = std::mem::size_of::<russh::client::Msg>();
        assert!(size <= 160, "russh::client::Msg is {size} bytes: a large variant is inline again");
    }
}
