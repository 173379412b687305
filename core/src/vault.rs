//! The credential vault: device passwords and keys, and users' TOTP secrets, are sealed with
//! AES-256-GCM (aws-lc-rs) under a 32-byte key file made by `init`. Each sealed value is bound
//! to its owner by associated data (`device:NAME`, `totp:USER`), so a sealed blob copied to
//! another row does not open. Plaintexts are wrapped in types whose `Debug` prints nothing.

use crate::keyfile::{self, KeyFileError};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;

const VERSION: u8 = 1;

/// Vault failures. None of them carries secret material.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    #[error("vault key must be exactly 32 bytes")]
    BadKey,
    #[error("sealed value does not open (wrong key, wrong owner, or altered)")]
    Open,
    #[error("sealing failed")]
    Seal,
}

/// A device credential.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", content = "secret", rename_all = "kebab-case")]
pub enum Credential {
    /// Password login.
    Password(String),
    /// OpenSSH private key (PEM text).
    PrivateKey(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Password(_) => f.write_str("Credential::Password(<redacted>)"),
            Credential::PrivateKey(_) => f.write_str("Credential::PrivateKey(<redacted>)"),
        }
    }
}

impl Credential {
    /// `password` or `private-key`, for listings.
    pub fn kind(&self) -> &'static str {
        match self {
            Credential::Password(_) => "password",
            Credential::PrivateKey(_) => "private-key",
        }
    }
}

/// The vault; clonable.
#[derive(Clone)]
pub struct Vault {
    key: Arc<LessSafeKey>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(<key>)")
    }
}

impl Vault {
    /// Makes a new key file (mode 0600).
    pub fn create_key_file(path: &Path) -> Result<(), VaultError> {
        let mut key = [0u8; 32];
        SystemRandom::new().fill(&mut key).map_err(|_| VaultError::Seal)?;
        keyfile::write_new(path, &key)?;
        Ok(())
    }

    /// Loads the key file.
    pub fn open(path: &Path) -> Result<Vault, VaultError> {
        Self::from_key(&keyfile::read(path)?)
    }

    /// Builds a vault from raw key bytes.
    pub fn from_key(bytes: &[u8]) -> Result<Vault, VaultError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| VaultError::BadKey)?;
        Ok(Vault { key: Arc::new(LessSafeKey::new(unbound)) })
    }

    /// Seals bytes for `owner`.
    pub fn seal(&self, owner: &str, plaintext: &[u8]) -> Result<Vec<u8>, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).map_err(|_| VaultError::Seal)?;
        let mut buf = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(owner.as_bytes()), &mut buf)
            .map_err(|_| VaultError::Seal)?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + buf.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Opens bytes sealed for `owner`.
    pub fn open_bytes(&self, owner: &str, sealed: &[u8]) -> Result<Vec<u8>, VaultError> {
        let (&version, rest) = sealed.split_first().ok_or(VaultError::Open)?;
        if version != VERSION || rest.len() < NONCE_LEN {
            return Err(VaultError::Open);
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| VaultError::Open)?;
        let mut buf = body.to_vec();
        let plain = self.key.open_in_place(nonce, Aad::from(owner.as_bytes()), &mut buf).map_err(|_| VaultError::Open)?;
        Ok(plain.to_vec())
    }

    /// Seals a device credential.
    pub fn seal_credential(&self, device: &str, c: &Credential) -> Result<Vec<u8>, VaultError> {
        let json = serde_json::to_vec(c).map_err(|_| VaultError::Seal)?;
        self.seal(&format!("device:{device}"), &json)
    }

    /// Opens a device credential.
    pub fn open_credential(&self, device: &str, sealed: &[u8]) -> Result<Credential, VaultError> {
        let json = self.open_bytes(&format!("device:{device}"), sealed)?;
        serde_json::from_slice(&json).map_err(|_| VaultError::Open)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn vault() -> Vault {
        Vault::from_key(&[7u8; 32]).unwrap()
    }

    #[test]
    fn round_trip_and_binding() {
        let v = vault();
        let c = Credential::Password("s3cret".into());
        let sealed = v.seal_credential("pump", &c).unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"), "plaintext visible");
        assert_eq!(v.open_credential("pump", &sealed).unwrap(), c);
        assert!(v.open_credential("other", &sealed).is_err(), "bound to owner");
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(v.open_credential("pump", &tampered).is_err());
        assert!(Vault::from_key(&[1u8; 32]).unwrap().open_credential("pump", &sealed).is_err());
        assert!(v.open_bytes("x", &[]).is_err() && v.open_bytes("x", &[1, 2]).is_err());
    }

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credential::PrivateKey("-----BEGIN KEY-----".into());
        assert!(!format!("{c:?}").contains("BEGIN"));
        assert!(Vault::from_key(&[0u8; 31]).is_err());
    }
}
