//! TOTP codes for test users, handed out the way a careful human would use an authenticator.
//!
//! The broker takes SHA-1, 6-digit, 30-second codes with one step of clock skew either way,
//! and accepts each time step at most once per user. So each [`TotpClock`] remembers the last
//! step it handed out and gives the next unused step among current-1, current and current+1
//! in increasing order; when all are used it waits (polling the clock) for the next step.
//! The step before the current one is skipped late in a step, so that a code still lies in
//! the broker's window when it is checked a little later.

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use totp_rs::{Algorithm, Secret, TOTP};

/// Seconds per TOTP step.
pub const STEP: u64 = 30;

/// Codes for one user.
pub struct TotpClock {
    totp: TOTP,
    /// The highest step handed out so far; steps at or below it are never handed out again.
    last_step: Mutex<Option<u64>>,
}

impl TotpClock {
    /// From the base32 secret printed by `user add --json`.
    pub fn new(base32_secret: &str) -> TotpClock {
        let secret = Secret::Encoded(base32_secret.trim().to_owned())
            .to_bytes()
            .unwrap_or_else(|e| panic!("bad base32 TOTP secret {base32_secret:?}: {e:?}"));
        let totp = TOTP::new_unchecked(Algorithm::SHA1, 6, 1, STEP, secret, None, String::new());
        TotpClock {
            totp,
            last_step: Mutex::new(None),
        }
    }

    /// The code for a given step.
    pub fn code_at_step(&self, step: u64) -> String {
        self.totp.generate(step * STEP)
    }

    /// The next code the broker should accept (see the module comment), and its step.
    pub fn next(&self) -> (String, u64) {
        let deadline = Instant::now() + Duration::from_secs(3 * STEP);
        loop {
            let now = unix_now();
            let current = now / STEP;
            let late_in_step = now % STEP >= STEP - 10;
            let mut last = self.last_step.lock().unwrap_or_else(|p| p.into_inner());
            let candidates = [
                (!late_in_step).then(|| current.saturating_sub(1)),
                Some(current),
                Some(current + 1),
            ];
            let pick = candidates
                .into_iter()
                .flatten()
                .find(|s| last.is_none_or(|l| *s > l));
            if let Some(step) = pick {
                *last = Some(step);
                return (self.code_at_step(step), step);
            }
            drop(last);
            assert!(Instant::now() < deadline, "TOTP clock did not advance");
            // All usable steps are spent: poll the clock until the next step begins.
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// The next code the broker should accept.
    pub fn next_code(&self) -> String {
        self.next().0
    }

    /// Waits (polling the clock) until the current step is past every step handed out, so
    /// that someone computing "the code of now" elsewhere (a browser script) cannot hit a
    /// step already used.
    pub fn wait_past_used(&self) {
        let Some(last) = *self.last_step.lock().unwrap_or_else(|p| p.into_inner()) else { return };
        let deadline = Instant::now() + Duration::from_secs(3 * STEP);
        while unix_now() / STEP <= last {
            assert!(Instant::now() < deadline, "TOTP clock did not advance");
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Marks every step up to `step` as used (after a test used a code on its own).
    pub fn mark_used(&self, step: u64) {
        let mut last = self.last_step.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|l| step > l) {
            *last = Some(step);
        }
    }

    /// A six-digit code that is valid for none of the steps around now, so the broker must
    /// reject it.
    pub fn wrong_code(&self) -> String {
        let current = unix_now() / STEP;
        let valid: Vec<String> = (current.saturating_sub(3)..=current + 3)
            .map(|s| self.code_at_step(s))
            .collect();
        (0..1_000_000u32)
            .map(|n| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
            .find(|c| !valid.contains(c))
            .expect("some six-digit code is not valid")
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}
