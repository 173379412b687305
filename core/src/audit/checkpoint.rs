//! Signed checkpoints. The audit key (Ed25519, PKCS#8, made by `init`, mode 0600) signs
//! `(seq, hash)` of the chain's head. Someone who can write to the database but does not hold
//! the key cannot recompute a chain that still matches the signed checkpoints.

use super::AuditRow;
use crate::store::{Store, StoreError};
use aws_lc_rs::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// A stored checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: i64,
    pub hash: String,
    pub ts: i64,
    pub key_id: String,
    pub signature: String,
}

/// The message a checkpoint signs.
pub fn checkpoint_message(seq: i64, hash: &str) -> Vec<u8> {
    format!("portcullis-checkpoint-v1\n{seq}\n{hash}\n").into_bytes()
}

/// Holds the audit key; clonable.
#[derive(Clone)]
pub struct AuditSigner {
    key: Arc<Ed25519KeyPair>,
    key_id: String,
}

impl std::fmt::Debug for AuditSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSigner").field("key_id", &self.key_id).finish()
    }
}

impl AuditSigner {
    /// Loads a PKCS#8 Ed25519 key.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, StoreError> {
        let key = Ed25519KeyPair::from_pkcs8(der).map_err(|e| StoreError::Corrupt(format!("audit key: {e}")))?;
        let key_id = key_id_of(key.public_key().as_ref());
        Ok(Self { key: Arc::new(key), key_id })
    }

    /// Makes a new key, returned as PKCS#8 DER.
    pub fn generate_pkcs8() -> Result<Vec<u8>, StoreError> {
        let doc = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .map_err(|e| StoreError::Corrupt(format!("key generation: {e}")))?;
        Ok(doc.as_ref().to_vec())
    }

    /// The raw public key.
    pub fn public_key(&self) -> Vec<u8> {
        self.key.public_key().as_ref().to_vec()
    }

    /// Short identifier of the key (first 16 hex digits of its SHA-256).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Signs `message` with the audit key; the signature in standard base64.
    pub fn sign_b64(&self, message: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.sign(message).as_ref())
    }

    /// Checks a checkpoint's signature against this key.
    pub fn verifies(&self, cp: &Checkpoint) -> bool {
        let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(&cp.signature) else { return false };
        UnparsedPublicKey::new(&signature::ED25519, self.public_key())
            .verify(&checkpoint_message(cp.seq, &cp.hash), &sig)
            .is_ok()
    }

    /// Signs the current head unless it is already checkpointed; returns the new checkpoint.
    pub async fn checkpoint_head(&self, store: &Store) -> Result<Option<Checkpoint>, StoreError> {
        let mut tx = store.begin_write().await?;
        let head: Option<(i64, String)> = sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
        let Some((seq, hash)) = head else { return Ok(None) };
        let last_cp: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_checkpoints").fetch_one(&mut *tx).await?;
        if last_cp.is_some_and(|s| s >= seq) {
            return Ok(None);
        }
        let sig = self.key.sign(&checkpoint_message(seq, &hash));
        let cp = Checkpoint {
            seq,
            hash,
            ts: crate::clock::now_ms(),
            key_id: self.key_id.clone(),
            signature: base64::engine::general_purpose::STANDARD.encode(sig.as_ref()),
        };
        sqlx::query("INSERT INTO audit_checkpoints (seq, hash, ts, key_id, signature) VALUES ($1, $2, $3, $4, $5)")
            .bind(cp.seq)
            .bind(&cp.hash)
            .bind(cp.ts)
            .bind(&cp.key_id)
            .bind(&cp.signature)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(cp))
    }
}

/// Whether `signature_b64` is an Ed25519 signature of `message` by the raw `public` key.
pub fn ed25519_verifies(public: &[u8], message: &[u8], signature_b64: &str) -> bool {
    let Ok(sig) = base64::engine::general_purpose::STANDARD.decode(signature_b64.trim()) else { return false };
    UnparsedPublicKey::new(&signature::ED25519, public).verify(message, &sig).is_ok()
}

/// Whether `cp` is signed by the raw `public` key (offline check, no signer needed).
pub fn checkpoint_verifies(public: &[u8], cp: &Checkpoint) -> bool {
    ed25519_verifies(public, &checkpoint_message(cp.seq, &cp.hash), &cp.signature)
}

/// Short identifier of a raw public key (first 16 hex digits of its SHA-256).
pub fn key_id_of(public: &[u8]) -> String {
    hex::encode(&Sha256::digest(public)[..8])
}

/// All checkpoints, oldest first.
pub async fn checkpoints(store: &Store) -> Result<Vec<Checkpoint>, StoreError> {
    let rows: Vec<(i64, String, i64, String, String)> =
        sqlx::query_as("SELECT seq, hash, ts, key_id, signature FROM audit_checkpoints ORDER BY seq")
            .fetch_all(store.pool())
            .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, hash, ts, key_id, signature)| Checkpoint { seq, hash, ts, key_id, signature })
        .collect())
}

/// Up to `limit` checkpoints of rows after `after` and at most `upto`, oldest first (the SIEM
/// exporter's pages: it sends a checkpoint once the rows it covers are sent).
pub async fn checkpoints_between(store: &Store, after: i64, upto: i64, limit: usize) -> Result<Vec<Checkpoint>, StoreError> {
    let rows: Vec<(i64, String, i64, String, String)> =
        sqlx::query_as("SELECT seq, hash, ts, key_id, signature FROM audit_checkpoints WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3")
            .bind(after)
            .bind(upto)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(store.pool())
            .await?;
    Ok(rows
        .into_iter()
        .map(|(seq, hash, ts, key_id, signature)| Checkpoint { seq, hash, ts, key_id, signature })
        .collect())
}

/// Reads a row by sequence number.
pub(super) async fn row_at(store: &Store, seq: i64) -> Result<Option<AuditRow>, StoreError> {
    let row = sqlx::query("SELECT seq, ts, actor, kind, subject, detail, prev_hash, hash FROM audit_log WHERE seq = $1")
        .bind(seq)
        .fetch_optional(store.pool())
        .await?;
    row.as_ref().map(AuditRow::from_row).transpose()
}

/// The first checkpoint at or after row `seq`.
pub async fn checkpoint_covering(store: &Store, seq: i64) -> Result<Option<Checkpoint>, StoreError> {
    let row: Option<(i64, String, i64, String, String)> =
        sqlx::query_as("SELECT seq, hash, ts, key_id, signature FROM audit_checkpoints WHERE seq >= $1 ORDER BY seq LIMIT 1")
            .bind(seq)
            .fetch_optional(store.pool())
            .await?;
    Ok(row.map(|(seq, hash, ts, key_id, signature)| Checkpoint { seq, hash, ts, key_id, signature }))
}
