//! What a backup folder holds, shared by `backup` (which writes one) and `restore` (which
//! checks one before using it): the fixed place of each file, the manifest that lists every
//! file with its SHA-256 and size, the recordings with their sealed hashes, the audit head the
//! snapshot holds and the schema and binary versions, and the manifest's Ed25519 signature by
//! the audit signing key. It imports nothing else of this crate.
//!
//! ```text
//! OUT/manifest.json            the manifest (below)
//! OUT/manifest.sig             base64 Ed25519 signature of manifest.json's bytes (audit key)
//! OUT/portcullis.toml          the configuration as it was
//! OUT/portcullis.db            SQLite snapshot (VACUUM INTO); absent for PostgreSQL
//! OUT/keys/…, OUT/tls/…        the key files, each 0600
//! OUT/recordings/S/N.cast      with --with-recordings: the sealed recordings
//! ```

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// The manifest's file name in a backup folder.
pub const MANIFEST: &str = "manifest.json";
/// The signature's file name in a backup folder.
pub const SIGNATURE: &str = "manifest.sig";
/// The SQLite snapshot's file name in a backup folder.
pub const DATABASE: &str = "portcullis.db";
/// The configuration's file name in a backup folder (and in a data folder).
pub const CONFIG: &str = "portcullis.toml";
/// Version of the manifest's layout; `restore` refuses another.
pub const FORMAT: u32 = 1;

/// What a file of the backup is; each role has one fixed place in the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Config,
    Database,
    VaultKey,
    AuditKey,
    TokenKey,
    HostKey,
    HostKeyPub,
    TlsCert,
    TlsKey,
    OidcClientSecret,
}

impl Role {
    /// Where a file of this role is, relative to a backup folder and to a restored data
    /// folder alike (the layout `init` makes).
    pub fn path(self) -> &'static str {
        match self {
            Role::Config => CONFIG,
            Role::Database => DATABASE,
            Role::VaultKey => "keys/vault.key",
            Role::AuditKey => "keys/audit_ed25519.pk8",
            Role::TokenKey => "keys/web_token.key",
            Role::HostKey => "keys/ssh_host_ed25519",
            Role::HostKeyPub => "keys/ssh_host_ed25519.pub",
            Role::TlsCert => "tls/cert.pem",
            Role::TlsKey => "tls/key.pem",
            Role::OidcClientSecret => "keys/oidc_client_secret",
        }
    }
}

/// One file of the backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    pub role: Role,
    /// Relative to the backup folder (always `role.path()`).
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

/// The audit log's head in the snapshot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AuditHead {
    /// Rows in the log.
    pub rows: i64,
    /// Sequence number of the last row (0 for an empty log).
    pub head_seq: i64,
    /// Its hash.
    pub head_hash: String,
    /// Key id of the audit signing key in the backup.
    pub key_id: String,
}

/// Where a recording was when the backup was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordingState {
    /// Sealed and at its path; its file matched the sealed hash when copied (or was not read).
    Sealed,
    /// Moved to the archive folder by retention.
    Archived,
    /// Deleted by retention (its sealed hash remains in the log).
    Deleted,
    /// Not sealed yet (still being written, or sealing failed): never copied.
    Unsealed,
    /// Its file no longer matched the sealed hash when the backup read it: not copied.
    Altered,
    /// Its file could not be read when the backup tried to copy it.
    Missing,
}

/// One recording in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordingEntry {
    pub id: i64,
    pub session: i64,
    pub channel: i64,
    pub kind: String,
    /// The sealed SHA-256 (from the store row the seal wrote).
    pub sha256: Option<String>,
    pub bytes: Option<i64>,
    /// Where the file was (the archive path once archived; `None` once deleted).
    pub location: Option<String>,
    pub state: RecordingState,
    /// The copy in the backup folder, relative to it (with `--with-recordings`).
    pub copied: Option<String>,
}

/// The manifest: everything `restore` checks before it uses a byte of the backup.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: u32,
    /// The `portcullis` version that took the backup.
    pub portcullis_version: String,
    /// RFC 3339.
    pub created_at: String,
    /// The node that took it.
    pub node: String,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// The newest migration applied to the database at the snapshot.
    pub schema_version: i64,
    pub audit: AuditHead,
    pub files: Vec<FileEntry>,
    /// For PostgreSQL: the `pg_dump` command to run for the database itself.
    pub pg_dump: Option<String>,
    pub with_recordings: bool,
    pub recordings: Vec<RecordingEntry>,
}

impl Manifest {
    /// The entry of `role`, if the backup has that file.
    pub fn file(&self, role: Role) -> Option<&FileEntry> {
        self.files.iter().find(|f| f.role == role)
    }
}

/// Hex SHA-256 and size of a file.
pub fn hash_file(path: &Path) -> anyhow::Result<(String, u64)> {
    portcullis_recorder::sha256_file(path).with_context(|| format!("reading {}", path.display()))
}

/// `rel` joined under `dir`, refusing anything that could leave it (absolute paths, `..`):
/// a manifest is read before it is trusted.
pub fn inside(dir: &Path, rel: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(rel);
    anyhow::ensure!(
        !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_))),
        "the manifest names a path outside the backup folder: {rel:?}"
    );
    Ok(dir.join(p))
}

/// Creates `dir` for a backup or a restore: a new folder, or an existing empty one, made
/// 0700. A folder that holds anything is refused, so nothing is ever overwritten or mixed.
pub fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        anyhow::ensure!(entries.next().is_none(), "{} is not empty; refusing to write into it (choose a new folder)", dir.display());
    } else {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    set_mode(dir, 0o700)
}

/// Makes `path` carry `mode` (Unix permission bits).
pub fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).with_context(|| format!("setting the mode of {}", path.display()))?;
    }
    Ok(())
}

/// Copies `from` to the new file `to` (0600, never overwriting), creating its folders 0700;
/// returns the SHA-256 and size of what was written, read back from the copy.
pub fn copy_private(from: &Path, to: &Path) -> anyhow::Result<(String, u64)> {
    use std::io::Write as _;
    let mut src = std::fs::File::open(from).with_context(|| format!("reading {}", from.display()))?;
    let mut dst = create_private(to)?;
    std::io::copy(&mut src, &mut dst).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    dst.flush().with_context(|| format!("writing {}", to.display()))?;
    dst.sync_all().with_context(|| format!("writing {}", to.display()))?;
    hash_file(to)
}

/// Creates file `to` (which must not exist) with mode 0600, and its folders with 0700.
pub fn create_private(to: &Path) -> anyhow::Result<std::fs::File> {
    if let Some(parent) = to.parent() {
        std::fs::DirBuilder::new().recursive(true).create(parent).with_context(|| format!("creating {}", parent.display()))?;
        set_mode(parent, 0o700)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(to).with_context(|| format!("creating {}", to.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn manifest_paths_cannot_leave_the_folder() {
        let dir = Path::new("/b");
        assert_eq!(inside(dir, "keys/vault.key").unwrap(), Path::new("/b/keys/vault.key"));
        for bad in ["", "/etc/passwd", "../x", "keys/../../x", "./x"] {
            assert!(inside(dir, bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn private_dirs_are_new_or_empty_and_0700() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let fresh = tmp.path().join("new");
        create_private_dir(&fresh).unwrap();
        assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o700);
        std::fs::write(fresh.join("x"), b"1").unwrap();
        let err = create_private_dir(&fresh).unwrap_err().to_string();
        assert!(err.contains("not empty"), "{err}");
        let copied = copy_private(&fresh.join("x"), &tmp.path().join("out/sub/x")).unwrap();
        assert_eq!(copied.1, 1);
        assert_eq!(std::fs::metadata(tmp.path().join("out/sub/x")).unwrap().permissions().mode() & 0o777, 0o600);
        assert!(copy_private(&fresh.join("x"), &tmp.path().join("out/sub/x")).is_err(), "a copy overwrote a file");
    }
}
