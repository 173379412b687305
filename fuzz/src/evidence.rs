//! The evidence bundle verifier (`core/src/evidence/scan.rs`, `verify.rs`): a `.tar.gz` read
//! member by member under caps (entries, decompressed bytes, kept metadata), then every check
//! `portcullis evidence verify` makes — manifest, signature, members, audit chain segment,
//! checkpoint, recordings — with and without a pinned key.
//!
//! The input is the bundle file. Since a mutated gzip stream rarely decompresses, an input
//! that does not start with the gzip magic is taken as the tar inside and compressed first
//! (stored, no compression), so both the archive reader and the verifier are reached. The
//! caps are the verifier's own code with smaller numbers (256 entries, 16 MiB), so a run stays
//! fast; memory stays bounded by them whatever the input. Checked: a report is `ok` exactly
//! when it names no failure, and one whose key is pinned to another key is never `ok`.

use flate2::write::GzEncoder;
use flate2::Compression;
use portcullis_core::evidence::{scan_archive_within, verify_scanned, KeyPin, Limits};
use std::io::Write;

/// Reads the input as a bundle and verifies it.
pub fn evidence(data: &[u8]) {
    let gz;
    let bundle = if data.starts_with(&[0x1f, 0x8b]) {
        data
    } else {
        let mut enc = GzEncoder::new(Vec::new(), Compression::none());
        if enc.write_all(data).is_err() {
            return;
        }
        let Ok(bytes) = enc.finish() else { return };
        gz = bytes;
        &gz
    };
    let limits = Limits { entries: 256, total_bytes: 16 << 20 };
    let Ok(members) = scan_archive_within(bundle, limits) else { return };
    let report = verify_scanned(&members, None);
    assert_eq!(report.ok, report.failures.is_empty(), "{report:?}");
    let pinned = verify_scanned(&members, Some(&KeyPin::KeyId("0000000000000000".into())));
    assert_eq!(pinned.ok, pinned.failures.is_empty(), "{pinned:?}");
    if pinned.key_id.as_deref() != Some("0000000000000000") {
        assert!(!pinned.ok, "a bundle pinned to another key must fail: {pinned:?}");
    }
}
