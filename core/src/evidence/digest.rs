//! SHA-256 of byte strings, as lowercase hex: how bundle members held in memory are
//! fingerprinted. Files are hashed by [`portcullis_recorder::sha256_file`] (re-exported here),
//! the same function that seals recordings, so the values compare with the sealed ones.

use sha2::{Digest, Sha256};

pub use portcullis_recorder::sha256_file;

/// Hex SHA-256 of bytes.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn file_and_bytes_agree() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        std::fs::write(&p, b"abc").unwrap();
        let (h, n) = sha256_file(&p).unwrap();
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!((h, n), (sha256_hex(b"abc"), 3));
    }
}
