//! The simulated device's file area: a small, bounded, in-memory file tree
//! served over SFTP.
//!
//! It holds a fixed set of directories (`/`, `/opt`, `/opt/firmware`, `/var`,
//! `/var/log`, `/tmp`) and at most [`MAX_FILES`] files of at most
//! [`MAX_FILE_BYTES`] each, [`MAX_TOTAL_BYTES`] in all, so a hostile vendor
//! cannot fill the demo machine's memory; nothing is ever written to disk.
//! Every path is normalised against `/` first: `.` and `..` are resolved
//! and `..` stops at the root, as in a chroot, so no path names anything
//! outside the area. New directories cannot be made.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use super::flavour::Flavour;

/// Largest file, in bytes.
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;
/// Most files at once.
pub const MAX_FILES: usize = 32;
/// Most bytes held by all files together.
pub const MAX_TOTAL_BYTES: u64 = 32 * 1024 * 1024;
/// Longest path accepted, in bytes.
pub const MAX_PATH: usize = 1024;
/// Longest name of one path component, in bytes.
const MAX_NAME: usize = 255;

/// The directories of the area; fixed.
const DIRS: [&str; 6] = ["/", "/opt", "/opt/firmware", "/var", "/var/log", "/tmp"];

/// Why a file operation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AreaError {
    NoSuchFile,
    Exists,
    IsDirectory,
    BadPath,
    /// A file would grow past [`MAX_FILE_BYTES`].
    FileTooLarge,
    /// There are already [`MAX_FILES`] files.
    TooManyFiles,
    /// All files together would pass [`MAX_TOTAL_BYTES`].
    AreaFull,
    /// Directories are fixed.
    ReadOnlyDirectory,
}

impl AreaError {
    /// The message told to the SFTP client.
    pub fn message(self) -> String {
        match self {
            Self::NoSuchFile => "no such file".to_owned(),
            Self::Exists => "file exists".to_owned(),
            Self::IsDirectory => "is a directory".to_owned(),
            Self::BadPath => format!("bad path (at most {MAX_PATH} bytes, no NUL)"),
            Self::FileTooLarge => format!("file too large (at most {MAX_FILE_BYTES} bytes on this simulated device)"),
            Self::TooManyFiles => format!("too many files (at most {MAX_FILES} on this simulated device)"),
            Self::AreaFull => format!("no space left (at most {MAX_TOTAL_BYTES} bytes on this simulated device)"),
            Self::ReadOnlyDirectory => "directories cannot be made, removed or renamed on this simulated device".to_owned(),
        }
    }
}

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    Dir,
    File { size: u64, mtime: u32 },
}

struct Entry {
    bytes: Vec<u8>,
    mtime: u32,
}

#[derive(Default)]
struct Files {
    /// Normalised path to content; at most [`MAX_FILES`] entries, each in a directory of `DIRS`.
    files: BTreeMap<String, Entry>,
    /// The sum of the entries' lengths; never above [`MAX_TOTAL_BYTES`].
    total: u64,
}

/// One device's file area, shared by all its connections.
pub struct FileArea {
    /// A std `Mutex`: each operation holds it only for a map look-up and a copy of at most one
    /// SFTP packet's data, never across an `.await`.
    inner: Mutex<Files>,
}

/// `path` made absolute and normalised: `/a/b`, never above `/`.
pub fn normalize(path: &str) -> Result<String, AreaError> {
    if path.len() > MAX_PATH || path.contains('\0') {
        return Err(AreaError::BadPath);
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            name if name.len() > MAX_NAME => return Err(AreaError::BadPath),
            name => parts.push(name),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// The directory holding `path` (normalised), and its last component.
fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(0) => ("/", path.get(1..).unwrap_or("")),
        Some(i) => (path.get(..i).unwrap_or("/"), path.get(i + 1..).unwrap_or("")),
        None => ("/", path),
    }
}

fn is_dir(path: &str) -> bool {
    DIRS.contains(&path)
}

fn now() -> u32 {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

impl FileArea {
    /// An area holding a short README in `/opt/firmware` and the device's
    /// log file.
    pub fn new(flavour: &Flavour, name: &str) -> Self {
        let area = Self::empty();
        let readme = format!(
            "{name}: simulated {}. Upload firmware images here (at most {MAX_FILE_BYTES} bytes each, {MAX_FILES} files).\n",
            flavour.kind
        );
        let log = format!(
            "2025-01-01 00:00:00Z  {}\n2025-01-01 00:00:05Z  self-test passed\n2025-01-01 00:00:06Z  firmware {} verified\n",
            flavour.power_on, flavour.firmware
        );
        for (path, text) in [("/opt/firmware/README.txt", readme), (flavour.log_path, log)] {
            let seeded = area.open(path, true, true, false).and_then(|()| area.write(path, 0, text.as_bytes()));
            if let Err(e) = seeded {
                tracing::warn!(path, error = ?e, "simdevice file area: seed file not written");
            }
        }
        area
    }

    /// An area with its directories and no files.
    pub fn empty() -> Self {
        Self { inner: Mutex::new(Files::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Files> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What the normalised `path` names.
    pub fn stat(&self, path: &str) -> Result<Stat, AreaError> {
        if is_dir(path) {
            return Ok(Stat::Dir);
        }
        let files = self.lock();
        let entry = files.files.get(path).ok_or(AreaError::NoSuchFile)?;
        Ok(Stat::File { size: entry.bytes.len() as u64, mtime: entry.mtime })
    }

    /// Opens the file at the normalised `path`: `create` makes it when it
    /// does not exist (in an existing directory, within [`MAX_FILES`]),
    /// `exclusive` refuses an existing one, `truncate` empties it.
    pub fn open(&self, path: &str, create: bool, truncate: bool, exclusive: bool) -> Result<(), AreaError> {
        if is_dir(path) {
            return Err(AreaError::IsDirectory);
        }
        let mut files = self.lock();
        let files = &mut *files;
        match files.files.get_mut(path) {
            Some(_) if exclusive => Err(AreaError::Exists),
            Some(entry) => {
                if truncate {
                    files.total -= entry.bytes.len() as u64;
                    entry.bytes = Vec::new();
                    entry.mtime = now();
                }
                Ok(())
            }
            None if !create => Err(AreaError::NoSuchFile),
            None => {
                let (dir, name) = split(path);
                if !is_dir(dir) || name.is_empty() {
                    return Err(AreaError::NoSuchFile);
                }
                if files.files.len() >= MAX_FILES {
                    return Err(AreaError::TooManyFiles);
                }
                files.files.insert(path.to_owned(), Entry { bytes: Vec::new(), mtime: now() });
                Ok(())
            }
        }
    }

    /// Up to `len` bytes at `offset`; `None` at or past the end.
    pub fn read(&self, path: &str, offset: u64, len: usize) -> Result<Option<Vec<u8>>, AreaError> {
        let files = self.lock();
        let entry = files.files.get(path).ok_or(AreaError::NoSuchFile)?;
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        if start >= entry.bytes.len() {
            return Ok(None);
        }
        let end = start.saturating_add(len).min(entry.bytes.len());
        Ok(entry.bytes.get(start..end).map(<[u8]>::to_vec))
    }

    /// Writes `data` at `offset` (a gap is filled with zeros), within the
    /// size limits; nothing changes when it is refused.
    pub fn write(&self, path: &str, offset: u64, data: &[u8]) -> Result<(), AreaError> {
        let end = offset.checked_add(data.len() as u64).ok_or(AreaError::FileTooLarge)?;
        if end > MAX_FILE_BYTES {
            return Err(AreaError::FileTooLarge);
        }
        let mut files = self.lock();
        let files = &mut *files;
        let entry = files.files.get_mut(path).ok_or(AreaError::NoSuchFile)?;
        let old_len = entry.bytes.len() as u64;
        let new_len = old_len.max(end);
        if files.total - old_len + new_len > MAX_TOTAL_BYTES {
            return Err(AreaError::AreaFull);
        }
        let (start, end, new_len) = (usize::try_from(offset), usize::try_from(end), usize::try_from(new_len));
        let (Ok(start), Ok(end), Ok(new_len)) = (start, end, new_len) else {
            return Err(AreaError::FileTooLarge);
        };
        entry.bytes.resize(new_len, 0);
        if let Some(slot) = entry.bytes.get_mut(start..end) {
            slot.copy_from_slice(data);
        }
        entry.mtime = now();
        files.total = files.total - old_len + new_len as u64;
        Ok(())
    }

    /// Removes the file at the normalised `path`.
    pub fn remove(&self, path: &str) -> Result<(), AreaError> {
        if is_dir(path) {
            return Err(AreaError::ReadOnlyDirectory);
        }
        let mut files = self.lock();
        let entry = files.files.remove(path).ok_or(AreaError::NoSuchFile)?;
        files.total -= entry.bytes.len() as u64;
        Ok(())
    }

    /// Renames a file; the target must not exist and its directory must.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), AreaError> {
        if is_dir(from) || is_dir(to) {
            return Err(AreaError::ReadOnlyDirectory);
        }
        let (dir, name) = split(to);
        if !is_dir(dir) || name.is_empty() {
            return Err(AreaError::NoSuchFile);
        }
        let mut files = self.lock();
        if files.files.contains_key(to) {
            return Err(AreaError::Exists);
        }
        let entry = files.files.remove(from).ok_or(AreaError::NoSuchFile)?;
        files.files.insert(to.to_owned(), entry);
        Ok(())
    }

    /// The names in the normalised directory `dir`, with what each is.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, Stat)>, AreaError> {
        if !is_dir(dir) {
            return Err(AreaError::NoSuchFile);
        }
        let mut out: Vec<(String, Stat)> = DIRS
            .iter()
            .filter(|d| **d != "/" && split(d).0 == dir)
            .map(|d| (split(d).1.to_owned(), Stat::Dir))
            .collect();
        let files = self.lock();
        for (path, entry) in &files.files {
            let (parent, name) = split(path);
            if parent == dir {
                out.push((name.to_owned(), Stat::File { size: entry.bytes.len() as u64, mtime: entry.mtime }));
            }
        }
        Ok(out)
    }

    /// Bytes held by all files.
    #[cfg(test)]
    pub fn total_bytes(&self) -> u64 {
        self.lock().total
    }

    /// Number of files.
    #[cfg(test)]
    pub fn file_count(&self) -> usize {
        self.lock().files.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::flavour::INFUSION_PUMP;

    #[test]
    fn normalize_never_leaves_the_root() {
        assert_eq!(normalize("../../etc/passwd").unwrap(), "/etc/passwd");
        assert_eq!(normalize("/opt/firmware/../../../../etc/shadow").unwrap(), "/etc/shadow");
        assert_eq!(normalize("opt/./firmware//fw.bin").unwrap(), "/opt/firmware/fw.bin");
        assert_eq!(normalize("..").unwrap(), "/");
        assert_eq!(normalize("").unwrap(), "/");
        assert_eq!(normalize("/tmp/a\0b"), Err(AreaError::BadPath));
        assert_eq!(normalize(&"a/".repeat(600)), Err(AreaError::BadPath));
        assert_eq!(normalize(&"x".repeat(300)), Err(AreaError::BadPath));
    }

    #[test]
    fn a_dot_dot_path_cannot_reach_the_host() {
        let area = FileArea::new(&INFUSION_PUMP, "infusion-pump-12");
        let before = area.file_count();
        let path = normalize("../../etc/passwd").unwrap();
        // Reading names a file of the area, which has no /etc: not the host's passwd.
        assert_eq!(area.stat(&path), Err(AreaError::NoSuchFile));
        assert_eq!(area.read(&path, 0, 100), Err(AreaError::NoSuchFile));
        // Writing there is refused, since the area has no /etc directory.
        assert_eq!(area.open(&path, true, true, false), Err(AreaError::NoSuchFile));
        assert_eq!(area.rename("/var/log/pump.log", &normalize("../../../tmp/../etc/x").unwrap()), Err(AreaError::NoSuchFile));
        assert_eq!(area.file_count(), before);
        // Inside the area, .. works as expected.
        let fw = normalize("/opt/firmware/../firmware/fw.bin").unwrap();
        area.open(&fw, true, true, false).unwrap();
        area.write(&fw, 0, b"image").unwrap();
        assert_eq!(area.read("/opt/firmware/fw.bin", 0, 100).unwrap().unwrap(), b"image");
    }

    #[test]
    fn seeded_files_can_be_downloaded_and_listed() {
        let area = FileArea::new(&INFUSION_PUMP, "infusion-pump-12");
        let log = area.read("/var/log/pump.log", 0, 4096).unwrap().unwrap();
        assert!(String::from_utf8(log).unwrap().contains("powered on, pump stopped"));
        let names: Vec<String> = area.list("/opt/firmware").unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["README.txt"]);
        let root: Vec<String> = area.list("/").unwrap().into_iter().map(|(n, _)| n).collect();
        assert_eq!(root, ["opt", "var", "tmp"]);
        assert_eq!(area.read("/var/log/pump.log", 1 << 40, 10).unwrap(), None);
        assert_eq!(area.list("/etc"), Err(AreaError::NoSuchFile));
    }

    #[test]
    fn a_file_over_the_size_cap_is_refused_and_leaves_nothing_behind() {
        let area = FileArea::empty();
        area.open("/opt/firmware/big.bin", true, true, false).unwrap();
        let chunk = vec![7u8; 1024 * 1024];
        for i in 0..8u64 {
            area.write("/opt/firmware/big.bin", i * chunk.len() as u64, &chunk).unwrap();
        }
        assert_eq!(area.total_bytes(), MAX_FILE_BYTES);
        assert_eq!(area.write("/opt/firmware/big.bin", MAX_FILE_BYTES, b"x"), Err(AreaError::FileTooLarge));
        // A sparse write far out, or one whose end overflows, allocates nothing.
        assert_eq!(area.write("/opt/firmware/big.bin", 1 << 40, b"x"), Err(AreaError::FileTooLarge));
        assert_eq!(area.write("/opt/firmware/big.bin", u64::MAX, b"x"), Err(AreaError::FileTooLarge));
        assert_eq!(area.total_bytes(), MAX_FILE_BYTES);
        assert_eq!(area.stat("/opt/firmware/big.bin"), Ok(Stat::File { size: MAX_FILE_BYTES, mtime: area_mtime(&area, "/opt/firmware/big.bin") }));
    }

    fn area_mtime(area: &FileArea, path: &str) -> u32 {
        match area.stat(path).unwrap() {
            Stat::File { mtime, .. } => mtime,
            Stat::Dir => 0,
        }
    }

    #[test]
    fn the_whole_area_is_capped_too() {
        let area = FileArea::empty();
        let chunk = vec![1u8; 1024 * 1024];
        let per_file = MAX_FILE_BYTES / chunk.len() as u64;
        let mut refused = None;
        'files: for f in 0..MAX_FILES {
            let path = format!("/tmp/f{f}");
            area.open(&path, true, true, false).unwrap();
            for i in 0..per_file {
                if let Err(e) = area.write(&path, i * chunk.len() as u64, &chunk) {
                    refused = Some(e);
                    break 'files;
                }
            }
        }
        assert_eq!(refused, Some(AreaError::AreaFull));
        assert_eq!(area.total_bytes(), MAX_TOTAL_BYTES);
        // Space comes back when a file goes.
        area.remove("/tmp/f0").unwrap();
        assert_eq!(area.total_bytes(), MAX_TOTAL_BYTES - MAX_FILE_BYTES);
    }

    #[test]
    fn too_many_files_are_refused() {
        let area = FileArea::empty();
        for i in 0..MAX_FILES {
            area.open(&format!("/tmp/f{i}"), true, false, false).unwrap();
        }
        assert_eq!(area.open("/tmp/one-more", true, false, false), Err(AreaError::TooManyFiles));
        assert_eq!(area.file_count(), MAX_FILES);
        // An existing file can still be opened, and a removed one frees a slot.
        area.open("/tmp/f0", true, true, false).unwrap();
        area.remove("/tmp/f1").unwrap();
        area.open("/tmp/one-more", true, false, false).unwrap();
    }

    #[test]
    fn directories_are_fixed() {
        let area = FileArea::new(&INFUSION_PUMP, "p");
        assert_eq!(area.open("/opt/firmware", true, true, false), Err(AreaError::IsDirectory));
        assert_eq!(area.open("/opt/new/fw.bin", true, true, false), Err(AreaError::NoSuchFile));
        assert_eq!(area.remove("/opt"), Err(AreaError::ReadOnlyDirectory));
        assert_eq!(area.rename("/opt/firmware", "/tmp/x"), Err(AreaError::ReadOnlyDirectory));
        assert_eq!(area.open("/var/log/pump.log", true, false, true), Err(AreaError::Exists));
        assert_eq!(area.open("/tmp/absent", false, false, false), Err(AreaError::NoSuchFile));
    }
}
