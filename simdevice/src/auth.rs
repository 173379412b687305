//! Password check for the simulated device, in constant time.
//!
//! The comparison does not stop at the first differing byte, so the time it
//! takes tells an attacker nothing about how much of a guess was right (only,
//! at most, its length).

/// The one login the simulated device accepts.
pub struct Credentials {
    login: String,
    password: String,
}

impl Credentials {
    pub fn new(login: String, password: String) -> Self {
        Self { login, password }
    }

    /// True when both login and password match; both are always compared.
    pub fn matches(&self, login: &str, password: &str) -> bool {
        let login_ok = ct_eq(self.login.as_bytes(), login.as_bytes());
        let password_ok = ct_eq(self.password.as_bytes(), password.as_bytes());
        login_ok & password_ok
    }
}

/// Compare two byte strings without an early exit.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= usize::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ct_eq_works() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"secret", b"secret"));
        assert!(!ct_eq(b"secret", b"secreT"));
        assert!(!ct_eq(b"secret", b"secret\0"));
        assert!(!ct_eq(b"secret", b""));
    }

    #[test]
    fn both_parts_must_match() {
        let creds = Credentials::new("service".into(), "pw".into());
        assert!(creds.matches("service", "pw"));
        assert!(!creds.matches("service", "px"));
        assert!(!creds.matches("servicf", "pw"));
        assert!(!creds.matches("", ""));
    }
}
