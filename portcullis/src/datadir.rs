//! The data folder `init` creates: where each file goes, the key files and TLS certificate it
//! holds, and the configuration file pointing at them. Paths in the configuration are
//! relative to its folder, so the folder can be moved; the store URL is absolute.
//!
//! ```text
//! DIR/portcullis.toml          configuration (0600: it may hold a database password)
//! DIR/portcullis.db            SQLite store (unless PORTCULLIS_STORE_URL names another)
//! DIR/keys/vault.key           AES-256 key sealing device credentials and TOTP secrets
//! DIR/keys/audit_ed25519.pk8   Ed25519 key signing audit checkpoints
//! DIR/keys/ssh_host_ed25519    the broker's SSH host key (+ .pub)
//! DIR/tls/cert.pem, key.pem    self-signed certificate for localhost / 127.0.0.1
//! DIR/recordings/              session recordings
//! ```
//!
//! The Debian package puts the same files under /var/lib/portcullis, named by absolute paths
//! in its /etc/portcullis/portcullis.toml; [`create_files`] makes them where a configuration
//! names them.

use crate::keys;
use anyhow::Context as _;
use portcullis_core::audit::AuditSigner;
use portcullis_core::keyfile;
use portcullis_core::vault::Vault;
use portcullis_core::Config;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Names of everything in a data folder. `dir` is absolute.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    /// The layout of `dir`, made absolute against the current folder (symlinks kept).
    pub fn new(dir: &Path) -> anyhow::Result<Layout> {
        let dir = std::path::absolute(dir).with_context(|| format!("resolving {}", dir.display()))?;
        Ok(Layout { dir })
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("portcullis.toml")
    }
    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}", self.dir.join("portcullis.db").display())
    }
}

/// Creates every key file, the TLS certificate and the recordings folder where `config`
/// names them (none of the files may exist yet), with the folders they need; returns the SSH
/// host key's fingerprint.
pub fn create_files(config: &Config) -> anyhow::Result<String> {
    let files = [&config.vault.key_file, &config.audit.signing_key, &config.web.token_key, &config.ssh.host_key, &config.web.tls_cert, &config.web.tls_key];
    let folders = files.iter().filter_map(|f| f.parent()).chain([config.recording.dir.as_path()]);
    for sub in folders {
        std::fs::create_dir_all(sub).with_context(|| format!("creating {}", sub.display()))?;
    }
    Vault::create_key_file(&config.vault.key_file)?;
    keyfile::write_new(&config.audit.signing_key, &AuditSigner::generate_pkcs8()?)?;
    keyfile::write_new(&config.web.token_key, &rand::random::<[u8; 32]>())?;
    let host_key = keys::new_ed25519("portcullis-broker");
    keys::write_pair(&host_key, &config.ssh.host_key)?;
    let tls = rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .context("making the self-signed TLS certificate")?;
    write_new_public(&config.web.tls_cert, tls.cert.pem().as_bytes())?;
    keyfile::write_new(&config.web.tls_key, tls.signing_key.serialize_pem().as_bytes())?;
    Ok(keys::fingerprint(&host_key))
}

/// Writes a new, non-secret file (refusing to overwrite).
fn write_new_public(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes).with_context(|| format!("writing {}", path.display()))
}

/// The configuration file `init` writes. Only what differs from the defaults or names a file
/// is written; every other key keeps its documented default.
pub fn config_text(store_url: &str, ssh_listen: SocketAddr) -> String {
    let q = |s: &str| toml::Value::String(s.to_owned()).to_string();
    format!(
        "# Portcullis configuration, written by `portcullis init`.\n\
         # Relative paths are relative to this file's folder. Every key can be overridden by an\n\
         # environment variable PORTCULLIS_<SECTION>_<KEY>, e.g. PORTCULLIS_SSH_LISTEN.\n\
         \n\
         [store]\n\
         url = {url}\n\
         \n\
         [ssh]\n\
         listen = {ssh}\n\
         host_key = \"keys/ssh_host_ed25519\"\n\
         \n\
         [web]\n\
         listen = \"127.0.0.1:8443\"\n\
         tls_cert = \"tls/cert.pem\"\n\
         tls_key = \"tls/key.pem\"\n\
         \n\
         [vault]\n\
         key_file = \"keys/vault.key\"\n\
         \n\
         [audit]\n\
         signing_key = \"keys/audit_ed25519.pk8\"\n\
         \n\
         [recording]\n\
         dir = \"recordings\"\n",
        url = q(store_url),
        ssh = q(&ssh_listen.to_string()),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn config_parses_and_points_into_the_folder() {
        let layout = Layout::new(Path::new("/srv/p \"x\"")).unwrap();
        let text = config_text(&layout.sqlite_url(), "0.0.0.0:2222".parse().unwrap());
        let cfg = Config::from_parts(&text, &layout.config(), &[]).unwrap();
        assert_eq!(cfg.store.url, "sqlite:///srv/p \"x\"/portcullis.db");
        assert_eq!(cfg.vault.key_file, layout.dir.join("keys/vault.key"));
        assert_eq!(cfg.audit.signing_key, layout.dir.join("keys/audit_ed25519.pk8"));
        assert_eq!(cfg.ssh.host_key, layout.dir.join("keys/ssh_host_ed25519"));
        assert_eq!(cfg.web.tls_key, layout.dir.join("tls/key.pem"));
        assert_eq!(cfg.recording.dir, layout.dir.join("recordings"));
        assert_eq!(cfg.ssh.listen.port(), 2222);
    }

    #[test]
    fn files_are_created_once_and_private() {
        let tmp = tempfile::tempdir().unwrap();
        let layout = Layout::new(&tmp.path().join("data")).unwrap();
        let config = Config::from_parts(&config_text(&layout.sqlite_url(), "0.0.0.0:2222".parse().unwrap()), &layout.config(), &[]).unwrap();
        let fp = create_files(&config).unwrap();
        assert!(fp.starts_with("SHA256:"));
        for secret in [&config.vault.key_file, &config.audit.signing_key, &config.ssh.host_key, &config.web.tls_key, &config.web.token_key] {
            assert!(keyfile::read(secret).is_ok(), "{} not private", secret.display());
        }
        assert!(std::fs::read_to_string(&config.web.tls_cert).unwrap().contains("BEGIN CERTIFICATE"));
        assert!(config.recording.dir.is_dir());
        assert!(create_files(&config).is_err(), "second run must not overwrite keys");
    }
}
