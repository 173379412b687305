//! Passwords of web-page accounts (approvers, auditors, admins). One-time passwords are made
//! here at enrolment, shown once to the administrator, and stored only as an Argon2id PHC
//! hash with `password_must_change` set, so the first web sign-in must replace them; sign-in
//! checks them here too. Hashing is deliberately slow, so it runs on the blocking pool, never
//! on the runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;

/// Length of a generated one-time password.
pub const ONE_TIME_PASSWORD_LEN: usize = 20;

/// Letters and digits that cannot be mistaken for one another when read aloud or copied
/// from a terminal (no `0/O`, `1/l/I`).
const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A fresh random one-time password (about 116 bits).
pub fn one_time_password() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..ONE_TIME_PASSWORD_LEN)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

/// Argon2id PHC string of `password` (default parameters, 16-byte random salt), computed on
/// the blocking pool.
pub async fn hash(password: String) -> Result<String, String> {
    let task = tokio::task::spawn_blocking(move || hash_blocking(&password));
    task.await.map_err(|e| format!("password hashing task failed: {e}"))?
}

/// As [`hash`], on the calling thread (only from the blocking pool or a CLI).
pub fn hash_blocking(password: &str) -> Result<String, String> {
    let salt_bytes: [u8; 16] = rand::rngs::OsRng.gen();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| e.to_string())?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Whether `password` matches a PHC hash made by [`hash`] (blocking; for tests and, later,
/// the web sign-in, which calls it from the blocking pool).
pub fn verify_blocking(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn passwords_are_long_random_and_unambiguous() {
        let a = one_time_password();
        let b = one_time_password();
        assert_eq!(a.len(), ONE_TIME_PASSWORD_LEN);
        assert_ne!(a, b);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
    }

    #[tokio::test]
    async fn hash_is_argon2id_and_verifies() {
        let h = hash("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_blocking("correct horse", &h));
        assert!(!verify_blocking("wrong", &h));
        assert!(!verify_blocking("correct horse", "not a hash"));
    }
}
