//! Reading a bundle for verification without holding its recordings: each member is hashed
//! as it is read; the recordings (`recordings/…`) are only hashed, the other members — the
//! manifest, its signature, the JSON and the audit rows, which verification must parse — are
//! kept, up to [`MAX_MEMBER`] each and [`MAX_KEPT`] in all. A bundle beyond those limits (a
//! decompression bomb, say) is refused instead of filling memory. Names must be plain
//! relative names and entries regular files; nothing is extracted to disk.
//!
//! The archive is read raw: GNU long-name and PAX extension headers are entries like any other
//! here, so they are refused as "not a regular file" before a byte of them is read (the tar
//! crate would otherwise read such a header whole into memory, whatever size it claims; Portcullis
//! never writes one). The number of entries and the decompressed bytes are capped too
//! ([`Limits`]), so memory and work stay bounded whatever the input is.

use super::archive::{plain_name, Members};
use super::layout;
use super::EvidenceError;
use flate2::read::GzDecoder;
use portcullis_recorder::Hashing;
use std::collections::BTreeMap;
use std::io::Read;

/// Largest member kept in memory.
pub const MAX_MEMBER: u64 = 64 * 1024 * 1024;

/// Most bytes kept in memory over all members.
pub const MAX_KEPT: u64 = 256 * 1024 * 1024;

/// Caps on what a bundle may hold.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most entries (each costs a little memory in the scan).
    pub entries: usize,
    /// Most decompressed bytes over all entries, headers included.
    pub total_bytes: u64,
}

impl Default for Limits {
    /// 100,000 entries (a long session's tunnels each have a recording) and 1 TiB.
    fn default() -> Self {
        Limits { entries: 100_000, total_bytes: 1 << 40 }
    }
}

/// One member as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scan {
    pub sha256: String,
    pub bytes: u64,
    /// The content, for members verification parses (not recordings).
    pub content: Option<Vec<u8>>,
}

/// Members by name.
pub type Scanned = BTreeMap<String, Scan>;

/// The scan of members held in memory (content kept for all).
pub fn of_members(members: &Members) -> Scanned {
    members
        .iter()
        .map(|(name, data)| (name.clone(), Scan { sha256: super::sha256_hex(data), bytes: data.len() as u64, content: Some(data.clone()) }))
        .collect()
}

/// Reads a `.tar.gz` bundle, hashing every member and keeping the ones to parse.
pub fn scan(input: impl Read) -> Result<Scanned, EvidenceError> {
    scan_within(input, Limits::default())
}

/// [`scan`] with explicit caps.
pub fn scan_within(input: impl Read, limits: Limits) -> Result<Scanned, EvidenceError> {
    let archive = |e: std::io::Error| EvidenceError::Archive(e.to_string());
    let mut tar = tar::Archive::new(Capped { inner: GzDecoder::new(input), left: limits.total_bytes, cap: limits.total_bytes });
    let mut out = Scanned::new();
    let mut kept = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for (i, entry) in tar.entries().map_err(archive)?.raw(true).enumerate() {
        if i >= limits.entries {
            return Err(EvidenceError::Archive(format!("more than {} members: not a bundle", limits.entries)));
        }
        let mut entry = entry.map_err(archive)?;
        let name = entry.path().map_err(archive)?.to_string_lossy().into_owned();
        if !entry.header().entry_type().is_file() {
            return Err(EvidenceError::Archive(format!("{name}: not a regular file")));
        }
        if !plain_name(&name) {
            return Err(EvidenceError::Archive(format!("{name}: not a plain relative name")));
        }
        let keep = !name.starts_with(layout::RECORDINGS);
        let mut reader = Hashing::new(&mut entry);
        let mut content = keep.then(Vec::new);
        loop {
            let n = reader.read(&mut buf).map_err(|e| EvidenceError::Archive(format!("{name}: {e}")))?;
            if n == 0 {
                break;
            }
            let piece = buf.get(..n).unwrap_or_default();
            let bytes = reader.total();
            if let Some(c) = content.as_mut() {
                kept += n as u64;
                if bytes > MAX_MEMBER || kept > MAX_KEPT {
                    return Err(EvidenceError::Archive(format!("{name}: more than a bundle's metadata can be ({MAX_MEMBER} bytes a file, {MAX_KEPT} in all)")));
                }
                c.extend_from_slice(piece);
            }
        }
        let (_, sha256, bytes) = reader.finish();
        let scan = Scan { sha256, bytes, content };
        if out.insert(name.clone(), scan).is_some() {
            return Err(EvidenceError::Archive(format!("{name}: appears twice")));
        }
    }
    Ok(out)
}

/// The decompressed stream, failing (rather than ending) once more than `cap` bytes came.
struct Capped<R> {
    inner: R,
    /// Bytes still allowed.
    left: u64,
    cap: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| std::io::Error::other(format!("holds more than {} bytes: not a bundle", self.cap)))?;
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn recordings_are_hashed_and_the_rest_kept() {
        let mut m = Members::new();
        m.insert("session.json".into(), b"{}".to_vec());
        m.insert("recordings/1/1.cast".into(), vec![7; 100_000]);
        let mut gz = Vec::new();
        super::super::write_archive(&m, &mut gz).unwrap();
        let s = scan(gz.as_slice()).unwrap();
        assert_eq!(s["session.json"].content.as_deref(), Some(&b"{}"[..]));
        assert_eq!(s["recordings/1/1.cast"].content, None);
        assert_eq!(s["recordings/1/1.cast"].sha256, super::super::sha256_hex(&[7; 100_000]));
        assert_eq!(s, {
            let mut all = of_members(&m);
            all.get_mut("recordings/1/1.cast").unwrap().content = None;
            all
        });
    }

    #[test]
    fn an_oversized_metadata_member_is_refused_without_reading_it_all() {
        // 1 GiB of zeros compresses to about a megabyte: a decompression bomb in miniature.
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let mut header = tar::Header::new_gnu();
        header.set_size(1 << 30);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, "audit/rows.jsonl", std::io::repeat(0).take(1 << 30)).unwrap();
        let gz = tar.into_inner().unwrap().finish().unwrap();
        assert!(gz.len() < 8 << 20, "{}", gz.len());
        let err = scan(gz.as_slice()).unwrap_err();
        assert!(err.to_string().contains("audit/rows.jsonl"), "{err}");
    }

    /// Counts what is read from the compressed input.
    struct Counted<'a> {
        inner: &'a [u8],
        read: usize,
    }

    impl Read for Counted<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.inner.read(buf)?;
            self.read += n;
            Ok(n)
        }
    }

    /// A gzipped tar whose first header claims `size` bytes of type `kind`, followed by them.
    fn bomb(kind: tar::EntryType, size: u64) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut header = tar::Header::new_gnu();
        header.set_path("././@LongLink").unwrap();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_entry_type(kind);
        header.set_cksum();
        std::io::Write::write_all(&mut gz, header.as_bytes()).unwrap();
        std::io::copy(&mut std::io::repeat(b'a').take(size), &mut gz).unwrap();
        gz.finish().unwrap()
    }

    /// Finding: a 1.5 MB bundle whose GNU long-name (or PAX) header claimed 1.5 GiB made
    /// `evidence verify` read that header whole into memory (4.8 GB). Now such a header is
    /// refused before it is read: only the first compressed block is consumed.
    #[test]
    fn long_name_and_pax_headers_are_refused_unread() {
        for kind in [tar::EntryType::GNULongName, tar::EntryType::XHeader, tar::EntryType::XGlobalHeader] {
            let gz = bomb(kind, 512 << 20);
            assert!(gz.len() > 400 << 10, "{kind:?}: {}", gz.len());
            let mut input = Counted { inner: &gz, read: 0 };
            let err = scan(&mut input).unwrap_err();
            assert!(err.to_string().contains("not a regular file"), "{kind:?}: {err}");
            assert!(input.read <= 128 << 10, "{kind:?}: {} compressed bytes read of {}", input.read, gz.len());
        }
    }

    #[test]
    fn entry_count_and_total_size_are_capped() {
        let mut m = Members::new();
        for i in 0..20 {
            m.insert(format!("recordings/1/{i}.cast"), vec![b'x'; 1000]);
        }
        let mut gz = Vec::new();
        super::super::write_archive(&m, &mut gz).unwrap();
        assert!(scan(gz.as_slice()).is_ok());
        let few = scan_within(gz.as_slice(), Limits { entries: 19, ..Limits::default() }).unwrap_err();
        assert!(few.to_string().contains("more than 19 members"), "{few}");
        let small = scan_within(gz.as_slice(), Limits { total_bytes: 10_000, ..Limits::default() }).unwrap_err();
        assert!(small.to_string().contains("more than 10000 bytes"), "{small}");
    }
}
