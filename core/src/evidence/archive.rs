//! The bundle file: a gzip-compressed tar of plain files with fixed metadata (mode 0644,
//! time 0, no owner), so the same contents always make the same archive. Reading keeps the
//! members in memory by name and refuses anything but regular files with plain relative
//! names; nothing is ever extracted to disk.

use super::EvidenceError;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// Members by name.
pub type Members = BTreeMap<String, Vec<u8>>;

/// Appends one regular file of `size` bytes read from `data`, with the fixed metadata.
pub(super) fn append<W: Write>(tar: &mut tar::Builder<W>, name: &str, size: u64, data: impl Read) -> Result<(), EvidenceError> {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, name, data).map_err(|e| EvidenceError::Archive(format!("{name}: {e}")))
}

/// Writes the members as `.tar.gz` (a bundle held in memory; the export writes with
/// [`super::stream::write_bundle`]).
pub fn write(members: &Members, out: impl Write) -> Result<(), EvidenceError> {
    let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::default()));
    for (name, data) in members {
        append(&mut tar, name, data.len() as u64, data.as_slice())?;
    }
    let gz = tar.into_inner().map_err(|e| EvidenceError::Archive(e.to_string()))?;
    gz.finish().map_err(|e| EvidenceError::Archive(e.to_string()))?.flush().map_err(|e| EvidenceError::Archive(e.to_string()))?;
    Ok(())
}

/// Reads a `.tar.gz` into memory.
pub fn read(input: impl Read) -> Result<Members, EvidenceError> {
    let mut tar = tar::Archive::new(GzDecoder::new(input));
    let mut out = Members::new();
    for entry in tar.entries().map_err(|e| EvidenceError::Archive(e.to_string()))? {
        let mut entry = entry.map_err(|e| EvidenceError::Archive(e.to_string()))?;
        let name = entry.path().map_err(|e| EvidenceError::Archive(e.to_string()))?.to_string_lossy().into_owned();
        if !entry.header().entry_type().is_file() {
            return Err(EvidenceError::Archive(format!("{name}: not a regular file")));
        }
        if !plain_name(&name) {
            return Err(EvidenceError::Archive(format!("{name}: not a plain relative name")));
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).map_err(|e| EvidenceError::Archive(format!("{name}: {e}")))?;
        if out.insert(name.clone(), data).is_some() {
            return Err(EvidenceError::Archive(format!("{name}: appears twice")));
        }
    }
    Ok(out)
}

/// Whether `name` is a plain relative path (no absolute path, `.`, `..` or empty part).
pub(super) fn plain_name(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('/') && name.split('/').all(|p| !p.is_empty() && p != "." && p != "..")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trip_is_exact_and_repeatable() {
        let mut m = Members::new();
        m.insert("a.json".into(), b"{}".to_vec());
        m.insert("recordings/1.cast".into(), vec![0, 255, 10]);
        let mut one = Vec::new();
        write(&m, &mut one).unwrap();
        let mut two = Vec::new();
        write(&m, &mut two).unwrap();
        assert_eq!(one, two);
        assert_eq!(read(one.as_slice()).unwrap(), m);
    }

    #[test]
    fn odd_names_are_refused() {
        assert!(plain_name("recordings/1.cast"));
        assert!(!plain_name("../x"));
        assert!(!plain_name("/etc/passwd"));
        assert!(!plain_name("a//b"));
    }
}
