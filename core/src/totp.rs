//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps) on top of `totp-rs`. Verification returns
//! the matching time step so the caller can make each step single-use in the database.

use totp_rs::{Algorithm, Secret, TOTP};

/// Length of a step.
pub const STEP_SECS: u64 = 30;

/// Errors building a TOTP.
#[derive(Debug, thiserror::Error)]
#[error("TOTP setup failed: {0}")]
pub struct TotpError(String);

/// A user's TOTP generator.
pub struct Totp(TOTP);

impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Totp(<secret>)")
    }
}

/// Fresh random secret (20 bytes, as RFC 4226 recommends).
pub fn generate_secret() -> Vec<u8> {
    match Secret::generate_secret().to_bytes() {
        Ok(b) => b,
        Err(_) => {
            use rand::RngCore;
            let mut b = vec![0u8; 20];
            rand::thread_rng().fill_bytes(&mut b);
            b
        }
    }
}

impl Totp {
    /// Builds the generator for `account` (shown in authenticator apps with `issuer`).
    pub fn new(secret: Vec<u8>, issuer: &str, account: &str) -> Result<Totp, TotpError> {
        TOTP::new(Algorithm::SHA1, 6, 1, STEP_SECS, secret, Some(issuer.to_owned()), account.to_owned())
            .map(Totp)
            .map_err(|e| TotpError(e.to_string()))
    }

    /// Base32 form of the secret, for manual entry.
    pub fn secret_base32(&self) -> String {
        self.0.get_secret_base32()
    }

    /// `otpauth://` URI, for QR codes.
    pub fn uri(&self) -> String {
        self.0.get_url()
    }

    /// Code for a step.
    pub fn code_at_step(&self, step: u64) -> String {
        self.0.generate(step * STEP_SECS)
    }

    /// The step within `skew` of `now_secs` whose code is `code`, if any.
    pub fn matching_step(&self, code: &str, now_secs: u64, skew: u8) -> Option<u64> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let current = now_secs / STEP_SECS;
        let lo = current.saturating_sub(u64::from(skew));
        let hi = current + u64::from(skew);
        // Check every candidate without stopping early, comparing in constant time.
        let mut found = None;
        for step in lo..=hi {
            if constant_time_eq(self.code_at_step(step).as_bytes(), code.as_bytes()) {
                found = Some(step);
            }
        }
        found
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn rfc6238_sha1_vector() {
        // RFC 6238 appendix B: secret "12345678901234567890", T = 59 s → 94287082 (8 digits);
        // the 6-digit code is its last six digits.
        let t = Totp::new(b"12345678901234567890".to_vec(), "Portcullis", "x").unwrap();
        assert_eq!(t.code_at_step(59 / STEP_SECS), "287082");
    }

    #[test]
    fn skew_window() {
        let t = Totp::new(generate_secret(), "Portcullis", "jdoe").unwrap();
        let now = 1_000_000_000u64;
        let step = now / STEP_SECS;
        assert_eq!(t.matching_step(&t.code_at_step(step), now, 1), Some(step));
        assert_eq!(t.matching_step(&t.code_at_step(step - 1), now, 1), Some(step - 1));
        assert_eq!(t.matching_step(&t.code_at_step(step + 1), now, 1), Some(step + 1));
        assert_eq!(t.matching_step(&t.code_at_step(step + 2), now, 1), None);
        assert_eq!(t.matching_step(&t.code_at_step(step - 2), now, 1), None);
        assert_eq!(t.matching_step("12345", now, 1), None);
        assert_eq!(t.matching_step("abcdef", now, 1), None);
        assert!(t.uri().starts_with("otpauth://totp/"));
    }
}
