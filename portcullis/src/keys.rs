//! Ed25519 SSH keys made by Portcullis itself: the broker's host key at `init`, and the demo's
//! vendor key and simulated device key. The 32-byte seed comes from the operating system's
//! random source; keys are written in OpenSSH format, private halves through `keyfile`
//! (created 0600, never overwritten).

use anyhow::Context as _;
use portcullis_core::keyfile;
use rand::RngCore;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::LineEnding;
use russh::keys::PrivateKey;
use std::path::Path;

/// A fresh Ed25519 key with `comment`.
pub fn new_ed25519(comment: &str) -> PrivateKey {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
    seed.fill(0);
    key.set_comment(comment);
    key
}

/// The public half as an OpenSSH line, `TYPE BASE64 comment`.
pub fn public_line(key: &PrivateKey) -> anyhow::Result<String> {
    Ok(key.public_key().to_openssh()?)
}

/// SHA-256 fingerprint, as OpenSSH prints it.
pub fn fingerprint(key: &PrivateKey) -> String {
    portcullis_core::admin::input::fingerprint(key.public_key())
}

/// Writes the private key (0600, new file) and `PATH.pub` beside it.
pub fn write_pair(key: &PrivateKey, path: &Path) -> anyhow::Result<()> {
    let private = key.to_openssh(LineEnding::LF).context("encoding the private key")?;
    keyfile::write_new(path, private.as_bytes())?;
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    let pub_path = std::path::PathBuf::from(pub_path);
    std::fs::write(&pub_path, public_line(key)? + "\n").with_context(|| format!("writing {}", pub_path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn written_keys_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let key = new_ed25519("test");
        let path = dir.path().join("k");
        write_pair(&key, &path).unwrap();
        let loaded = russh::keys::load_secret_key(&path, None).unwrap();
        assert_eq!(fingerprint(&loaded), fingerprint(&key));
        let line = std::fs::read_to_string(dir.path().join("k.pub")).unwrap();
        assert!(line.starts_with("ssh-ed25519 ") && line.trim_end().ends_with(" test"), "{line}");
        assert_ne!(fingerprint(&new_ed25519("a")), fingerprint(&key));
        assert!(write_pair(&key, &path).is_err(), "never overwrites");
    }
}
