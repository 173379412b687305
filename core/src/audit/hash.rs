//! The row hash. SHA-256 over a length-prefixed encoding of every field and the previous
//! row's hash: length prefixes make the encoding unambiguous, so no two different rows can
//! share the bytes that are hashed.

use sha2::{Digest, Sha256};

/// `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_be_bytes());
    h.update(bytes);
}

fn digest(seq: i64, ts: i64, actor: &str, kind: &str, subject: &str, detail: &str, prev_hash: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"portcullis-audit-v1");
    h.update(seq.to_be_bytes());
    h.update(ts.to_be_bytes());
    for f in [actor, kind, subject, detail, prev_hash] {
        field(&mut h, f.as_bytes());
    }
    h.finalize().into()
}

/// Hex SHA-256 of one row.
pub fn row_hash(seq: i64, ts: i64, actor: &str, kind: &str, subject: &str, detail: &str, prev_hash: &str) -> String {
    hex::encode(digest(seq, ts, actor, kind, subject, detail, prev_hash))
}

/// Whether `hash` is [`row_hash`] of the other fields (the same comparison, without building
/// a string: `audit verify` makes it for every row).
#[allow(clippy::too_many_arguments)]
pub(super) fn row_hash_is(hash: &str, seq: i64, ts: i64, actor: &str, kind: &str, subject: &str, detail: &str, prev_hash: &str) -> bool {
    let mut hex = [0u8; 64];
    // Encoding 32 bytes into 64 cannot fail; a failure would only make the row count as altered.
    hex::encode_to_slice(digest(seq, ts, actor, kind, subject, detail, prev_hash), &mut hex).is_ok() && hex == hash.as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_field_change_changes_the_hash() {
        let base = row_hash(1, 2, "a", "k", "s", "{}", GENESIS_HASH);
        assert_eq!(base.len(), 64);
        assert_ne!(base, row_hash(2, 2, "a", "k", "s", "{}", GENESIS_HASH));
        assert_ne!(base, row_hash(1, 3, "a", "k", "s", "{}", GENESIS_HASH));
        assert_ne!(base, row_hash(1, 2, "b", "k", "s", "{}", GENESIS_HASH));
        assert_ne!(base, row_hash(1, 2, "a", "k", "s", "{ }", GENESIS_HASH));
        // Moving bytes between fields must not collide.
        assert_ne!(row_hash(1, 2, "ab", "c", "s", "{}", GENESIS_HASH), row_hash(1, 2, "a", "bc", "s", "{}", GENESIS_HASH));
    }

    #[test]
    fn the_check_agrees_with_the_hash() {
        let h = row_hash(1, 2, "a", "k", "s", "{}", GENESIS_HASH);
        assert!(row_hash_is(&h, 1, 2, "a", "k", "s", "{}", GENESIS_HASH));
        assert!(!row_hash_is(&h, 1, 2, "a", "k", "s", "{ }", GENESIS_HASH));
        assert!(!row_hash_is(&h.to_uppercase(), 1, 2, "a", "k", "s", "{}", GENESIS_HASH), "the stored form is lowercase hex");
        assert!(!row_hash_is(&h[..63], 1, 2, "a", "k", "s", "{}", GENESIS_HASH));
        assert!(!row_hash_is(&format!("{h}0"), 1, 2, "a", "k", "s", "{}", GENESIS_HASH));
    }
}
