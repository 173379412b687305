//! Secret files made by `init`: created with mode 0600 before any byte is written, never
//! overwritten, and refused at load when group or others can read them.

use std::io::Write;
use std::path::Path;

/// Problems with a key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{0} is readable by group or others; run: chmod 600 {0}")]
    TooOpen(String),
}

fn io(path: &Path, source: std::io::Error) -> KeyFileError {
    KeyFileError::Io { path: path.display().to_string(), source }
}

/// Writes a new secret file (fails if it exists).
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<(), KeyFileError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(|e| io(path, e))?;
    f.write_all(bytes).map_err(|e| io(path, e))?;
    f.sync_all().map_err(|e| io(path, e))
}

/// Reads a secret file, refusing one that others can read.
pub fn read(path: &Path) -> Result<Vec<u8>, KeyFileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path).map_err(|e| io(path, e))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeyFileError::TooOpen(path.display().to_string()));
        }
    }
    std::fs::read(path).map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn creates_private_and_refuses_open_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k/secret");
        write_new(&p, b"abc").unwrap();
        assert_eq!(read(&p).unwrap(), b"abc");
        assert!(write_new(&p, b"x").is_err(), "must not overwrite");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(matches!(read(&p), Err(KeyFileError::TooOpen(_))));
        }
    }
}
