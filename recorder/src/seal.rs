//! Sealing: the SHA-256 and size of a finished recording, recorded by the broker (e.g. in the
//! audit log) so that later tampering with the file can be detected by [`seal_file`].
//!
//! The writer hashes exactly the bytes it writes; [`seal_file`] recomputes the same values from
//! disk, so for an untouched recording the two [`Seal`]s are equal. [`Hashing`] is the one way
//! a file's SHA-256 is computed anywhere in Portcullis — while a capture is written, while a
//! recording is read back for verification ([`sha256_file`]) or copied into an evidence bundle
//! — so the values always compare with the sealed ones.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::RecorderError;

/// Fingerprint of a complete recording file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    /// The recording file.
    pub path: PathBuf,
    /// SHA-256 of the whole file, lowercase hex.
    pub sha256: String,
    /// File length in bytes.
    pub bytes: u64,
    /// Asciicast: newline-terminated lines after the header line, i.e. the event count.
    /// Pcap: packets written (set by the pcap writer; `seal_file` cannot count them).
    pub events: u64,
}

/// Passes reads or writes through to `inner`, hashing and counting exactly the bytes that
/// passed (a short read or write counts only what was transferred).
#[derive(Debug)]
pub struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    bytes: u64,
}

impl<T> Hashing<T> {
    /// Starts hashing what passes through `inner`.
    pub fn new(inner: T) -> Self {
        Hashing { inner, hasher: Sha256::new(), bytes: 0 }
    }

    /// Bytes passed so far.
    pub fn total(&self) -> u64 {
        self.bytes
    }

    /// The wrapped reader or writer.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Gives back `inner`, the lowercase hex SHA-256 of what passed, and its length.
    pub fn finish(self) -> (T, String, u64) {
        (self.inner, hex::encode(self.hasher.finalize()), self.bytes)
    }

    fn passed(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.passed(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.passed(buf.get(..n).unwrap_or_default());
        Ok(n)
    }

    /// Hashes exactly the first bytes of `bufs` that `inner` took, across the slices.
    fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
        let n = self.inner.write_vectored(bufs)?;
        let mut left = n;
        for buf in bufs {
            if left == 0 {
                break;
            }
            let took = buf.get(..left.min(buf.len())).unwrap_or_default();
            self.passed(took);
            left -= took.len();
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Lowercase hex SHA-256 and length of a file. Blocking (reads the whole file); from async
/// code call it through `tokio::task::spawn_blocking`.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut reader = Hashing::new(std::fs::File::open(path)?);
    std::io::copy(&mut reader, &mut std::io::sink())?;
    let (_, sha256, bytes) = reader.finish();
    Ok((sha256, bytes))
}

/// Running hash, length and line count of the bytes of a recording.
#[derive(Debug, Default)]
pub(crate) struct SealHasher {
    hasher: Sha256,
    bytes: u64,
    newlines: u64,
}

impl SealHasher {
    pub(crate) fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        self.newlines += data.iter().filter(|&&b| b == b'\n').count() as u64;
    }

    /// Hashes whole event lines, `lines` of them, each ending with the one newline it holds
    /// (escaped event data never holds a raw one), without looking for them: the writer's
    /// hot path.
    pub(crate) fn update_lines(&mut self, data: &[u8], lines: u64) {
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        self.newlines += lines;
    }

    pub(crate) fn finish(self, path: PathBuf) -> Seal {
        Seal {
            path,
            sha256: hex::encode(self.hasher.finalize()),
            bytes: self.bytes,
            events: self.newlines.saturating_sub(1),
        }
    }
}

/// Recomputes the [`Seal`] of a recording from disk, to verify it against the stored one.
///
/// Blocking (reads the whole file); from async code call it through
/// `tokio::task::spawn_blocking`.
pub fn seal_file(path: &Path) -> Result<Seal, RecorderError> {
    let file = std::fs::File::open(path).map_err(|e| RecorderError::io("open", path, e))?;
    let mut reader = Hashing::new(file);
    let mut newlines = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(RecorderError::io("read", path, e)),
        };
        newlines += buf.get(..n).unwrap_or_default().iter().filter(|&&b| b == b'\n').count() as u64;
    }
    let (_, sha256, bytes) = reader.finish();
    Ok(Seal { path: path.to_path_buf(), sha256, bytes, events: newlines.saturating_sub(1) })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn known_digest_and_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cast");
        std::fs::write(&path, b"abc").unwrap();
        let seal = seal_file(&path).unwrap();
        assert_eq!(
            seal.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(seal.bytes, 3);
        assert_eq!(seal.events, 0);
        assert_eq!(seal.path, path);
    }

    #[test]
    fn counts_event_lines_after_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cast");
        std::fs::write(&path, b"{}\n[0.0, \"o\", \"a\"]\n[0.1, \"o\", \"b\"]\n").unwrap();
        assert_eq!(seal_file(&path).unwrap().events, 2);
    }

    #[test]
    fn incremental_equals_whole() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let mut a = SealHasher::default();
        a.update(&data);
        let mut b = SealHasher::default();
        for chunk in data.chunks(777) {
            b.update(chunk);
        }
        assert_eq!(a.finish("x".into()), b.finish("x".into()));
    }

    #[test]
    fn one_changed_byte_changes_digest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.cast");
        let mut data = vec![b'x'; 100_000];
        std::fs::write(&path, &data).unwrap();
        let before = seal_file(&path).unwrap();
        data[54_321] = b'y';
        std::fs::write(&path, &data).unwrap();
        let after = seal_file(&path).unwrap();
        assert_eq!(before.bytes, after.bytes);
        assert_ne!(before.sha256, after.sha256);
    }

    /// Takes at most 5 bytes per call, however many slices it is given.
    struct Trickle(Vec<u8>);

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let n = buf.len().min(5);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn write_vectored(&mut self, bufs: &[std::io::IoSlice<'_>]) -> std::io::Result<usize> {
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(5 - n);
                self.0.extend_from_slice(&b[..take]);
                n += take;
                if n == 5 {
                    break;
                }
            }
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn short_vectored_writes_hash_only_what_passed() {
        let parts: [&[u8]; 3] = [b"abc", b"", b"defghijklmnopq"];
        let mut w = Hashing::new(Trickle(Vec::new()));
        let mut slices: Vec<std::io::IoSlice<'_>> = parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
        let mut bufs = &mut slices[..];
        let mut calls = 0;
        while !bufs.is_empty() {
            let n = w.write_vectored(bufs).unwrap();
            std::io::IoSlice::advance_slices(&mut bufs, n);
            calls += 1;
        }
        assert!(calls > 3, "the writer took the bytes a few at a time");
        let (inner, sha256, bytes) = w.finish();
        assert_eq!(inner.0, b"abcdefghijklmnopq");
        assert_eq!(bytes, 17);
        assert_eq!(sha256, hex::encode(Sha256::digest(b"abcdefghijklmnopq")));
    }

    #[test]
    fn missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            seal_file(&dir.path().join("none.cast")),
            Err(RecorderError::Io { action: "open", .. })
        ));
    }
}
