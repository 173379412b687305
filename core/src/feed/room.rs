//! Room to write, for a SQLite store: the free space of the filesystem that holds the
//! database. A SQLite database whose disk is full still answers every read but refuses every
//! write, so a terminal that writes no rows would run on with nothing able to record its end.
//! The change feed's safety-net read therefore also looks at the free space, and a store with
//! less than `store.min_free_mib` left counts as one that cannot take writes: sign-ins are
//! refused and running sessions end while their last rows (ends, seals) still fit in what is
//! left. PostgreSQL runs on its own server and reports its own disk errors.
//!
//! `statvfs` from `rustix` rather than a crate of its own: one call, no unsafe code here.

use std::path::PathBuf;

/// The database's folder and the free space it must keep.
#[derive(Debug, Clone)]
pub(crate) struct Room {
    dir: PathBuf,
    min_free: u64,
}

impl Room {
    /// The room of the SQLite database at `url` (`sqlite://PATH`, `sqlite:PATH`, with or without
    /// `?options`); `None` for other stores, an in-memory database, or `min_free_mib` 0.
    pub(crate) fn of(url: &str, min_free_mib: u64) -> Option<Room> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or(rest);
        if min_free_mib == 0 || path.is_empty() || path == ":memory:" {
            return None;
        }
        let dir = PathBuf::from(path).parent().map(PathBuf::from).filter(|d| !d.as_os_str().is_empty()).unwrap_or_else(|| PathBuf::from("."));
        Some(Room { dir, min_free: min_free_mib.saturating_mul(1024 * 1024) })
    }

    /// Bytes an unprivileged writer may still use there; `None` when it cannot be told.
    pub(crate) fn free(&self) -> Option<u64> {
        let st = rustix::fs::statvfs(&self.dir).ok()?;
        Some(st.f_bavail.saturating_mul(st.f_frsize))
    }

    /// Whether there is at least the reserve left (a filesystem that cannot be asked counts as
    /// having room: the writes themselves then say whether it has).
    pub(crate) fn enough(&self) -> bool {
        self.free().is_none_or(|f| f >= self.min_free)
    }

    /// The folder whose filesystem is asked.
    pub(crate) fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// The reserve, in bytes.
    pub(crate) fn min_free(&self) -> u64 {
        self.min_free
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn only_a_sqlite_file_has_a_room_and_its_folder_is_asked() {
        assert!(Room::of("postgres://u@h/db", 16).is_none());
        assert!(Room::of("sqlite::memory:", 16).is_none());
        assert!(Room::of("sqlite:///var/lib/portcullis/portcullis.db", 0).is_none(), "0 turns it off");
        let r = Room::of("sqlite:///var/lib/portcullis/portcullis.db?mode=rwc", 16).unwrap();
        assert_eq!(r.dir, PathBuf::from("/var/lib/portcullis"));
        assert_eq!(r.min_free(), 16 * 1024 * 1024);
        assert_eq!(Room::of("sqlite:portcullis.db", 1).unwrap().dir, PathBuf::from("."));
    }

    #[test]
    fn a_real_folder_reports_its_free_space() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/p.db", dir.path().display());
        let r = Room::of(&url, 1).unwrap();
        assert!(r.free().is_some());
        // No filesystem here has 2^40 MiB free.
        assert!(!Room::of(&url, 1 << 40).unwrap().enough());
    }
}
