//! Evidence bundles: one `.tar.gz` an auditor can hand to an investigator, holding a session,
//! its request and grant, its recordings, the audit rows about it with the chain segment that
//! links them to a signed checkpoint, and a manifest of SHA-256 hashes signed with the audit
//! key. [`build`] needs the store and the audit signer and [`write_bundle`] streams the
//! result (recordings read from disk as they are written); [`verify`] needs nothing but the file,
//! so it runs offline. [`integrity`] checks a session's recordings on disk against their seals.
//! The CLI and the web side both call these.

mod archive;
mod build;
mod digest;
pub mod integrity;
mod layout;
mod manifest;
mod scan;
mod stream;
mod verify;

pub use archive::{read as read_archive, write as write_archive, Members};
pub use build::{altered_recordings, build};
pub use digest::{sha256_file, sha256_hex};
pub use manifest::{FileEntry, Manifest, MANIFEST, SIGNATURE};
pub use scan::{scan as scan_archive, scan_within as scan_archive_within, Limits, Scan, Scanned};
pub use stream::{write_bundle, Bundle};
pub use verify::{verify, verify_scanned, BundleReport, KeyPin};

/// Why a bundle could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("no {0}")]
    NotFound(String),
    #[error("archive: {0}")]
    Archive(String),
    #[error("encoding: {0}")]
    Encode(String),
}

#[cfg(test)]
mod tests;
