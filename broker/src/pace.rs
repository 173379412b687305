//! The pace of refused sign-in steps. A refusal is answered a fixed time after its request
//! arrived ([`REFUSAL_TIME`]), whatever the reason, so that guessing codes or keys is slow and
//! the time of an answer says nothing about why it was no. Progress is answered at once: an
//! accepted key that still needs its code (partial success) and the code prompt itself.
//!
//! russh has the same delay built in (`auth_rejection_time`), but it applies it to every
//! `USERAUTH_FAILURE`, partial success included, so each vendor sign-in waited it once after
//! the key was accepted, for nothing. The broker sets russh's delay to zero and paces here.

use russh::server::Auth;
use std::time::Duration;
use tokio::time::Instant;

/// How long after its request a refusal is answered.
pub(crate) const REFUSAL_TIME: Duration = Duration::from_millis(300);

/// Returns `auth` once its pace allows: a refusal not before `REFUSAL_TIME` after `asked`,
/// anything else at once.
pub(crate) async fn paced(asked: Instant, auth: Auth) -> Auth {
    if matches!(auth, Auth::Reject { partial_success: false, .. }) {
        tokio::time::sleep_until(asked + REFUSAL_TIME).await;
    }
    auth
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use russh::{MethodKind, MethodSet};

    fn partial() -> Auth {
        Auth::Reject { proceed_with_methods: Some(MethodSet::from(&[MethodKind::KeyboardInteractive][..])), partial_success: true }
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_waits_its_time_and_progress_does_not() {
        let asked = Instant::now();
        let refused = paced(asked, Auth::reject()).await;
        assert!(matches!(refused, Auth::Reject { partial_success: false, .. }));
        assert_eq!(Instant::now() - asked, REFUSAL_TIME, "a refusal is answered REFUSAL_TIME after its request");

        let asked = Instant::now();
        assert!(matches!(paced(asked, partial()).await, Auth::Reject { partial_success: true, .. }));
        assert!(matches!(paced(asked, Auth::Accept).await, Auth::Accept));
        assert_eq!(Instant::now(), asked, "progress is answered at once");
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_check_is_not_paced_twice() {
        let asked = Instant::now();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let before = Instant::now();
        paced(asked, Auth::reject()).await;
        assert_eq!(Instant::now(), before, "the refusal time already passed while the check ran");
    }
}
