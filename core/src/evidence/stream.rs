//! Writing a bundle without holding it in memory: the small members (JSON, the audit
//! segment) are in memory, the recordings are read where they are (a local file or the
//! bucket, through `recstore`) while the archive is written,
//! hashed on the way, and the manifest — listing what was actually written — is signed and
//! appended last. Memory stays at a read buffer and the compressor's window whatever the size
//! of the recordings. A recording that changes size while it is written fails the export
//! rather than produce a bundle that does not match its manifest.

use super::archive::{append, Members};
use super::manifest::{FileEntry, Manifest, MANIFEST, SIGNATURE};
use super::EvidenceError;
use crate::audit::AuditSigner;
use crate::recstore::RecStore;
use crate::store::RecordingRecord;
use base64::Engine;
use flate2::write::GzEncoder;
use flate2::Compression;
use portcullis_recorder::Hashing;
use std::collections::BTreeMap;
use std::io::{Read, Write};

/// A bundle ready to be written: what [`super::build`] gathered.
#[derive(Debug)]
pub struct Bundle {
    pub session_id: i64,
    /// Members held in memory, by name.
    pub small: Members,
    /// Members read while writing (the recordings), by name.
    pub files: BTreeMap<String, RecordingRecord>,
    /// Where the recordings are read from.
    pub recs: RecStore,
    /// Recordings known not to match their sealed hash, exported anyway; the manifest says so.
    pub altered: Vec<String>,
}

impl Bundle {
    /// How many members the archive will hold, manifest and signature included.
    pub fn member_count(&self) -> usize {
        self.small.len() + self.files.len() + 2
    }
}

/// Writes `bundle` as `.tar.gz` to `out`, signing the manifest with `signer`; `created_at`
/// is Unix milliseconds. Blocking: call it from `spawn_blocking` in async code (recordings in
/// a bucket are read through the runtime).
pub fn write_bundle(bundle: &Bundle, signer: &AuditSigner, created_at: i64, out: impl Write) -> Result<(), EvidenceError> {
    let mut tar = tar::Builder::new(GzEncoder::new(out, Compression::default()));
    let mut listed = BTreeMap::new();
    for (name, data) in &bundle.small {
        append(&mut tar, name, data.len() as u64, data.as_slice())?;
        listed.insert(name.clone(), FileEntry { sha256: super::sha256_hex(data), bytes: data.len() as u64 });
    }
    for (name, rec) in &bundle.files {
        let (source, size, place) = bundle.recs.open_blocking(rec).map_err(|e| EvidenceError::Archive(e.to_string()))?;
        let mut reader = Hashing::new(source.take(size));
        append(&mut tar, name, size, &mut reader)?;
        let (_, sha256, bytes) = reader.finish();
        if bytes != size {
            return Err(EvidenceError::Archive(format!("{place}: changed size while it was exported")));
        }
        listed.insert(name.clone(), FileEntry { sha256, bytes: size });
    }
    let public = base64::engine::general_purpose::STANDARD.encode(signer.public_key());
    let mut manifest = Manifest::listing(listed, bundle.session_id, created_at, signer.key_id(), &public);
    manifest.altered_at_export = bundle.altered.clone();
    let text = manifest.canonical();
    append(&mut tar, MANIFEST, text.len() as u64, text.as_slice())?;
    let signature = format!("{}\n", manifest.sign(signer));
    append(&mut tar, SIGNATURE, signature.len() as u64, signature.as_bytes())?;
    let gz = tar.into_inner().map_err(|e| EvidenceError::Archive(e.to_string()))?;
    gz.finish().map_err(|e| EvidenceError::Archive(e.to_string()))?.flush().map_err(|e| EvidenceError::Archive(e.to_string()))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn signer() -> AuditSigner {
        AuditSigner::from_pkcs8(&AuditSigner::generate_pkcs8().unwrap()).unwrap()
    }

    /// Runs `f` on a runtime's blocking pool, as the callers of `write_bundle` do.
    fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let task = rt.spawn_blocking(f);
        rt.block_on(task).unwrap()
    }

    #[test]
    fn files_are_streamed_in_and_listed_with_their_hash() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("1.cast");
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&rec, &data).unwrap();
        let mut small = Members::new();
        small.insert("session.json".into(), b"{}\n".to_vec());
        let bundle = Bundle { session_id: 7, small, files: BTreeMap::from([("recordings/7/1.cast".to_owned(), RecordingRecord::local_for_tests(&rec))]), recs: RecStore::local(), altered: Vec::new() };
        let signer = signer();
        let (bundle, out) = {
            let signer = signer.clone();
            blocking(move || {
                let mut out = Vec::new();
                write_bundle(&bundle, &signer, 1, &mut out).unwrap();
                (bundle, out)
            })
        };
        let members = super::super::read_archive(out.as_slice()).unwrap();
        assert_eq!(members.len(), bundle.member_count());
        assert_eq!(members["recordings/7/1.cast"], data);
        let manifest: Manifest = serde_json::from_slice(&members[MANIFEST]).unwrap();
        assert_eq!(manifest.files["recordings/7/1.cast"].sha256, super::super::sha256_hex(&data));
        assert_eq!(manifest.files.len(), 2);
        let sig = String::from_utf8(members[SIGNATURE].clone()).unwrap();
        assert!(manifest.verifies(&signer.public_key(), sig.trim()));
    }

    #[test]
    fn a_recording_gone_before_it_is_written_fails_the_export() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = Bundle { session_id: 7, small: Members::new(), files: BTreeMap::from([("recordings/7/1.cast".to_owned(), RecordingRecord::local_for_tests(&dir.path().join("gone.cast")))]), recs: RecStore::local(), altered: Vec::new() };
        let err = blocking(move || write_bundle(&bundle, &signer(), 1, Vec::new()).unwrap_err());
        assert!(err.to_string().contains("gone.cast"), "{err}");
    }
}
