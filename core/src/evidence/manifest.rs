//! The bundle's manifest: every other member with its SHA-256 and size, the session it is
//! about, and the audit public key, serialised canonically (compact JSON, fields in a fixed
//! order, files sorted by name) and signed with the audit key over that exact text.

use super::archive::Members;
use super::digest::sha256_hex;
use crate::audit::{ed25519_verifies, AuditSigner};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Name of the manifest member.
pub const MANIFEST: &str = "manifest.json";
/// Name of the member holding the manifest's signature (standard base64).
pub const SIGNATURE: &str = "manifest.sig";
/// Format marker of this layout.
pub const FORMAT: &str = "portcullis-evidence-v1";

/// One member as the manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub sha256: String,
    pub bytes: u64,
}

/// What the signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    pub session_id: i64,
    /// Unix milliseconds of the export.
    pub created_at: i64,
    /// Key id of `public_key` (first 16 hex digits of its SHA-256).
    pub key_id: String,
    /// Raw Ed25519 audit public key, standard base64.
    pub public_key: String,
    /// Every other member by name.
    pub files: BTreeMap<String, FileEntry>,
    /// Recordings that no longer matched their sealed SHA-256 when the bundle was made, and
    /// were exported anyway on purpose (`evidence export --allow-altered`). Absent otherwise,
    /// so manifests without it keep their exact canonical text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub altered_at_export: Vec<String>,
}

impl Manifest {
    /// Lists `members` (which must not yet hold the manifest or its signature).
    pub fn of(members: &Members, session_id: i64, created_at: i64, key_id: &str, public_key_b64: &str) -> Manifest {
        let files = members
            .iter()
            .map(|(name, data)| (name.clone(), FileEntry { sha256: sha256_hex(data), bytes: data.len() as u64 }))
            .collect();
        Manifest::listing(files, session_id, created_at, key_id, public_key_b64)
    }

    /// A manifest of `files`, already hashed.
    pub fn listing(files: BTreeMap<String, FileEntry>, session_id: i64, created_at: i64, key_id: &str, public_key_b64: &str) -> Manifest {
        Manifest { format: FORMAT.into(), session_id, created_at, key_id: key_id.into(), public_key: public_key_b64.into(), files, altered_at_export: Vec::new() }
    }

    /// The canonical text (what is stored and signed).
    pub fn canonical(&self) -> Vec<u8> {
        // Serialising plain strings, integers and a BTreeMap cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The signed message: a domain prefix, then the canonical text.
    pub fn message(&self) -> Vec<u8> {
        let mut m = b"portcullis-evidence-manifest-v1\n".to_vec();
        m.extend_from_slice(&self.canonical());
        m
    }

    /// Signs with the audit key.
    pub fn sign(&self, signer: &AuditSigner) -> String {
        signer.sign_b64(&self.message())
    }

    /// Whether `signature_b64` is this manifest signed by the raw `public` key.
    pub fn verifies(&self, public: &[u8], signature_b64: &str) -> bool {
        ed25519_verifies(public, &self.message(), signature_b64)
    }
}
