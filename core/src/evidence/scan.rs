//! Reading a bundle for verification without holding its recordings: each member is hashed
//! as it is read; the recordings (`recordings/…`) are only hashed, the other members — the
//! manifest, its signature, the JSON and the audit rows, which verification must parse — are
//! kept, up to [`MAX_MEMBER`] each and [`MAX_KEPT`] in all. A bundle beyond those limits (a
//! decompression bomb, say) is refused instead of filling memory. Names must be plain
//! relative names and entries regular files; nothing is extracted to disk.

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
    let archive = |e: std::io::Error| EvidenceError::Archive(e.to_string());
    let mut tar = tar::Archive::new(GzDecoder::new(input));
    let mut out = Scanned::new();
    let mut kept = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    for entry in tar.entries().map_err(archive)? {
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
}
