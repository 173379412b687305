//! What is reachable of a recording whose writer is gone or cannot be trusted to have
//! stopped: the part a seal can cover. This is the one place that knows where recordings of
//! another node are kept (today the shared recording folder).
//!
//! A node claimed as lost may only have paused: when it resumes, its writer can append to
//! the file it had open. So the seal never covers that file in place: what is there now is
//! copied to a frozen file beside it (`N.lost.cast`, `N.lost.pcap`), which only this
//! function writes, and the seal covers the copy. Whatever the paused node writes later goes
//! to the original, which no row points at any more, and can never break the seal.

use crate::store::RecordingRecord;
use portcullis_recorder::pcap::seal_capture_file;
use portcullis_recorder::{seal_file, Seal};
use std::path::{Path, PathBuf};

/// A frozen copy of what a recording's file held, and its seal.
#[derive(Debug, Clone)]
pub struct Reached {
    /// The frozen file the seal covers (the recording's path from now on).
    pub path: String,
    pub seal: Seal,
}

/// Copies what `rec`'s file holds now to its frozen file and seals that copy; the error says
/// why nothing could be reached (the file is not there, or cannot be copied).
pub async fn freeze(rec: &RecordingRecord) -> Result<Reached, String> {
    let from = PathBuf::from(&rec.path);
    let cast = rec.kind == "asciicast";
    tokio::task::spawn_blocking(move || {
        let to = frozen_path(&from);
        // A claim taken over from a survivor that died half-way may find its copy: made
        // again from the same file, so it holds at least what the first one did.
        std::fs::copy(&from, &to).map_err(|e| format!("cannot copy {}: {e}", from.display()))?;
        let seal = if cast { seal_file(&to) } else { seal_capture_file(&to) }.map_err(|e| e.to_string())?;
        Ok(Reached { path: to.to_string_lossy().into_owned(), seal })
    })
    .await
    .map_err(|e| e.to_string())?
}

/// `DIR/N.lost.EXT` for `DIR/N.EXT`.
fn frozen_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.lost.{}", ext.to_string_lossy()),
        None => format!("{stem}.lost"),
    };
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn frozen_file_sits_beside_the_original() {
        assert_eq!(frozen_path(Path::new("/r/7/2.cast")), PathBuf::from("/r/7/2.lost.cast"));
        assert_eq!(frozen_path(Path::new("/r/7/3.pcap")), PathBuf::from("/r/7/3.lost.pcap"));
    }

    #[tokio::test]
    async fn later_writes_to_the_original_do_not_reach_the_seal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.cast");
        std::fs::write(&path, "{\"version\":2}\n[0.1,\"o\",\"a\"]\n").unwrap();
        let rec = RecordingRecord {
            id: 1,
            session_id: crate::domain::SessionId(1),
            channel: 1,
            kind: "asciicast".into(),
            path: path.to_string_lossy().into_owned(),
            sha256: None,
            bytes: None,
            created_at: 0,
            sealed_at: None,
            retained: None,
            retained_at: None,
            archive_path: None,
            object_key: None,
            stored_at: None,
        };
        let reached = freeze(&rec).await.unwrap();
        // The paused writer resumes and appends to the file it had open.
        std::fs::OpenOptions::new().append(true).open(&path).map(|mut f| std::io::Write::write_all(&mut f, b"[0.2,\"o\",\"b\"]\n")).unwrap().unwrap();
        assert_eq!(seal_file(Path::new(&reached.path)).unwrap().sha256, reached.seal.sha256);
        assert_eq!(reached.seal.events, 1);
        // Nothing there: said, not made up.
        let gone = RecordingRecord { path: dir.path().join("9.cast").to_string_lossy().into_owned(), ..rec };
        assert!(freeze(&gone).await.is_err());
    }
}
