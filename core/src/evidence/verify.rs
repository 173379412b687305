//! Offline verification of a bundle, with no database: the manifest signature, every member
//! against the manifest, the audit chain segment (each row's hash, each link, the checkpoint
//! at its end and that checkpoint's signature), and each recording against the SHA-256 sealed
//! in its `recording.sealed` row. Every failure is named; a recording removed by retention is
//! a note, not a failure.
//!
//! Without a pinned key the signatures only show the bundle is consistent with the key it
//! carries; pinning (`--public-key`, `--key-id`) ties it to the installation's audit key.

use super::archive::Members;
use super::layout;
use super::scan::{of_members, Scanned};
use super::manifest::{Manifest, MANIFEST, SIGNATURE};
use crate::audit::{checkpoint_verifies, key_id_of, AuditRow, Checkpoint};
use base64::Engine;
use serde::Serialize;
use std::collections::BTreeSet;

/// The key a bundle must be signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyPin {
    /// The raw Ed25519 public key.
    PublicKey(Vec<u8>),
    /// Its key id (16 hex digits).
    KeyId(String),
}

/// What verification found.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BundleReport {
    /// True only when there are no failures.
    pub ok: bool,
    pub session_id: Option<i64>,
    /// Key id the bundle says signed it.
    pub key_id: Option<String>,
    /// Whether that key was checked against a pinned one.
    pub key_pinned: bool,
    /// Members checked against the manifest.
    pub files: usize,
    /// Audit rows in the segment.
    pub audit_rows: usize,
    /// Row number of the signed checkpoint ending the segment.
    pub checkpoint_seq: Option<i64>,
    /// Recordings whose hash matched their sealed value.
    pub recordings_verified: usize,
    /// Things worth knowing that are not failures (recordings removed by retention).
    pub notes: Vec<String>,
    /// Each thing that does not match, in words.
    pub failures: Vec<String>,
}

/// Verifies the members of a bundle held in memory.
pub fn verify(members: &Members, pin: Option<&KeyPin>) -> BundleReport {
    verify_scanned(&of_members(members), pin)
}

/// The content of member `name`, if it is in the bundle and was kept (recordings are only
/// hashed).
fn content<'a>(members: &'a Scanned, name: &str) -> Option<&'a [u8]> {
    members.get(name).and_then(|m| m.content.as_deref())
}

/// Verifies a bundle as read by [`super::scan_archive`].
pub fn verify_scanned(members: &Scanned, pin: Option<&KeyPin>) -> BundleReport {
    let mut r = BundleReport { key_pinned: pin.is_some(), ..BundleReport::default() };
    let public = manifest_part(members, pin, &mut r);
    if let Some(public) = public {
        audit_part(members, &public, &mut r);
    }
    r.ok = r.failures.is_empty();
    r
}

/// Checks the manifest, its signature and every member; returns the key to check the
/// checkpoint with (`None` when the manifest is unusable).
fn manifest_part(members: &Scanned, pin: Option<&KeyPin>, r: &mut BundleReport) -> Option<Vec<u8>> {
    let Some(text) = content(members, MANIFEST) else {
        r.failures.push(format!("missing file {MANIFEST}"));
        return None;
    };
    let manifest: Manifest = match serde_json::from_slice(text) {
        Ok(m) => m,
        Err(e) => {
            r.failures.push(format!("{MANIFEST}: not a manifest ({e})"));
            return None;
        }
    };
    r.session_id = Some(manifest.session_id);
    for a in &manifest.altered_at_export {
        r.notes.push(format!("exported on purpose although altered: {a}"));
    }
    r.key_id = Some(manifest.key_id.clone());
    let public = match base64::engine::general_purpose::STANDARD.decode(&manifest.public_key) {
        Ok(p) if key_id_of(&p) == manifest.key_id => p,
        _ => {
            r.failures.push(format!("{MANIFEST}: the public key does not match key id {}", manifest.key_id));
            return None;
        }
    };
    match pin {
        Some(KeyPin::PublicKey(k)) if *k != public => {
            r.failures.push(format!("bundle signed with key {}, expected key {}", manifest.key_id, key_id_of(k)));
        }
        Some(KeyPin::KeyId(id)) if !id.trim().eq_ignore_ascii_case(&manifest.key_id) => {
            r.failures.push(format!("bundle signed with key {}, expected key {}", manifest.key_id, id.trim()));
        }
        _ => {}
    }
    if text != manifest.canonical().as_slice() {
        r.failures.push(format!("{MANIFEST}: not in canonical form (edited)"));
    }
    match content(members, SIGNATURE).map(|s| String::from_utf8_lossy(s).into_owned()) {
        None => r.failures.push(format!("missing file {SIGNATURE}")),
        Some(sig) if !manifest.verifies(&public, &sig) => r.failures.push("manifest signature invalid".into()),
        Some(_) => {}
    }
    for (name, entry) in &manifest.files {
        match members.get(name) {
            None => r.failures.push(format!("missing file {name}")),
            Some(m) if m.bytes != entry.bytes || m.sha256 != entry.sha256 => {
                r.failures.push(format!("{name}: SHA-256 differs from the manifest"));
            }
            Some(_) => r.files += 1,
        }
    }
    for name in members.keys() {
        if name != MANIFEST && name != SIGNATURE && !manifest.files.contains_key(name) {
            r.failures.push(format!("extra file {name} (not in the manifest)"));
        }
    }
    Some(public)
}

fn parse_rows(members: &Scanned, r: &mut BundleReport) -> Option<Vec<AuditRow>> {
    let text = content(members, layout::AUDIT_ROWS)?;
    let mut rows = Vec::new();
    for (i, line) in text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).enumerate() {
        match serde_json::from_slice::<AuditRow>(line) {
            Ok(row) => rows.push(row),
            Err(e) => {
                r.failures.push(format!("{}: line {} is not an audit row ({e})", layout::AUDIT_ROWS, i + 1));
                return None;
            }
        }
    }
    Some(rows)
}

/// Checks the chain segment, its checkpoint and the recordings against their sealed rows.
fn audit_part(members: &Scanned, public: &[u8], r: &mut BundleReport) {
    let Some(rows) = parse_rows(members, r) else { return };
    r.audit_rows = rows.len();
    let mut prev: Option<&AuditRow> = None;
    for row in &rows {
        if let Some(p) = prev {
            if row.seq != p.seq + 1 {
                r.failures.push(format!("audit row {} missing from the chain segment (the next row present is {})", p.seq + 1, row.seq));
            } else if row.prev_hash != p.hash {
                r.failures.push(format!("audit row {}: does not link to row {}", row.seq, p.seq));
            }
        }
        if row.hash != row.expected_hash() {
            r.failures.push(format!("audit row {}: hash does not match its fields", row.seq));
        }
        prev = Some(row);
    }
    match content(members, layout::AUDIT_CHECKPOINT).map(serde_json::from_slice::<Checkpoint>) {
        None => {}
        Some(Err(e)) => r.failures.push(format!("{}: not a checkpoint ({e})", layout::AUDIT_CHECKPOINT)),
        Some(Ok(cp)) => {
            r.checkpoint_seq = Some(cp.seq);
            if !checkpoint_verifies(public, &cp) {
                r.failures.push(format!("checkpoint at audit row {}: signature invalid", cp.seq));
            }
            match rows.last() {
                Some(last) if last.seq == cp.seq && last.hash == cp.hash => {}
                Some(last) if last.seq == cp.seq => r.failures.push(format!("audit row {}: does not match the signed checkpoint", cp.seq)),
                _ => r.failures.push(format!("the chain segment does not end at the signed checkpoint (row {})", cp.seq)),
            }
        }
    }
    involved_part(members, &rows, r);
    recordings_part(members, &rows, r);
}

fn involved_part(members: &Scanned, rows: &[AuditRow], r: &mut BundleReport) {
    let Some(text) = content(members, layout::AUDIT_INVOLVED) else { return };
    let Ok(seqs) = serde_json::from_slice::<Vec<i64>>(text) else {
        r.failures.push(format!("{}: not a list of row numbers", layout::AUDIT_INVOLVED));
        return;
    };
    let present: BTreeSet<i64> = rows.iter().map(|row| row.seq).collect();
    for seq in seqs.iter().filter(|s| !present.contains(s)) {
        r.failures.push(format!("audit row {seq}: listed as involved but not in the chain segment"));
    }
}

/// Each `recording.sealed` row of the session names a member whose hash must match; members
/// under `recordings/` with no sealed row are failures; removed ones are notes.
fn recordings_part(members: &Scanned, rows: &[AuditRow], r: &mut BundleReport) {
    let Some(session) = r.session_id else { return };
    let subject = format!("session:{session}");
    let mut expected = BTreeSet::new();
    for row in rows.iter().filter(|row| row.subject == subject && row.kind == "recording.sealed") {
        let detail: serde_json::Value = serde_json::from_str(&row.detail).unwrap_or_default();
        let (Some(channel), Some(path), Some(sha)) = (detail["channel"].as_i64(), detail["path"].as_str(), detail["sha256"].as_str()) else {
            r.failures.push(format!("audit row {}: a recording.sealed row without channel, path and sha256", row.seq));
            continue;
        };
        let name = layout::recording_name(session, channel, path);
        expected.insert(name.clone());
        match members.get(&name) {
            Some(m) if m.sha256 == sha => r.recordings_verified += 1,
            Some(_) => r.failures.push(format!("{name}: SHA-256 differs from the sealed value in audit row {}", row.seq)),
            None => match retained(rows, &subject, channel) {
                Some((kind, seq)) => r.notes.push(format!("{name}: not in the bundle ({kind} in audit row {seq}); sealed SHA-256 {sha} in audit row {}", row.seq)),
                None => r.failures.push(format!("{name}: sealed in audit row {} but not in the bundle", row.seq)),
            },
        }
    }
    for name in members.keys().filter(|n| n.starts_with(layout::RECORDINGS) && !expected.contains(*n)) {
        r.failures.push(format!("{name}: no recording.sealed audit row for it in the bundle"));
    }
}

/// The retention row (kind, seq) that removed recording `channel` of the session, if any.
fn retained(rows: &[AuditRow], subject: &str, channel: i64) -> Option<(String, i64)> {
    rows.iter()
        .filter(|row| row.subject == subject && (row.kind == "recording.deleted" || row.kind == "recording.archived"))
        .find(|row| serde_json::from_str::<serde_json::Value>(&row.detail).is_ok_and(|d| d["channel"].as_i64() == Some(channel)))
        .map(|row| (row.kind.clone(), row.seq))
}
