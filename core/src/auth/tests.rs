//! The TOTP rules of [`AuthService`](super::AuthService), on SQLite and PostgreSQL: a code is
//! accepted once, failures are counted and audited, enough of them lock the account until an
//! administrator unlocks it or the lockout ends, and a lockout that ended leaves no debt.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::Refusal;
use crate::admin::fixture::{current_step, wrong_code, World, ACTOR};
use crate::domain::Role;
use crate::testdb::stores;

const PEER: &str = "127.0.0.1:50000";

#[tokio::test]
async fn totp_code_is_accepted_once_and_failures_are_counted() {
    for t in stores().await {
        let w = World::new(&t);
        let jdoe = w.user("jdoe", Role::Vendor).await;
        let totp = w.totp(&jdoe).await;
        let code = totp.code_at_step(current_step());

        let first = w.auth.check_totp(&jdoe, &code, PEER, "ssh").await.unwrap();
        assert!(first.is_ok(), "{}: right code refused: {first:?}", w.name);
        let replay = w.auth.check_totp(&jdoe, &code, PEER, "ssh").await.unwrap();
        assert_eq!(replay.err(), Some(Refusal::Replayed), "{}", w.name);
        let wrong = w.auth.check_totp(&jdoe, &wrong_code(&totp), PEER, "ssh").await.unwrap();
        assert_eq!(wrong.err(), Some(Refusal::WrongCode), "{}", w.name);
        assert_eq!(w.store.require_user(&jdoe).await.unwrap().failed_attempts, 2, "{}", w.name);
        assert_eq!(w.audit_of("auth.login").await.len(), 1);
        assert_eq!(w.audit_of("auth.totp.replayed").await.len(), 1);
        assert_eq!(w.audit_of("auth.totp.failed").await.len(), 1);
    }
}

#[tokio::test]
async fn five_failures_lock_until_unlocked() {
    for t in stores().await {
        let w = World::new(&t);
        let jdoe = w.user("jdoe", Role::Vendor).await;
        let totp = w.totp(&jdoe).await;
        for attempt in 1..=5 {
            let r = w.auth.check_totp(&jdoe, &wrong_code(&totp), PEER, "ssh").await.unwrap();
            assert_eq!(r.err(), Some(Refusal::WrongCode), "{}: attempt {attempt}", w.name);
        }
        let user = w.store.require_user(&jdoe).await.unwrap();
        assert!(user.locked_at(crate::clock::now()), "{}: not locked after 5 failures", w.name);
        assert_eq!(w.audit_of("auth.locked").await.len(), 1, "{}", w.name);

        let right = totp.code_at_step(current_step());
        let locked = w.auth.check_totp(&jdoe, &right, PEER, "ssh").await.unwrap();
        assert_eq!(locked.err(), Some(Refusal::Locked), "{}: right code accepted while locked", w.name);

        w.admin.unlock_user(ACTOR, &jdoe).await.unwrap();
        let user = w.store.require_user(&jdoe).await.unwrap();
        assert_eq!((user.failed_attempts, user.locked_until), (0, None));
        let ok = w.auth.check_totp(&jdoe, &right, PEER, "ssh").await.unwrap();
        assert!(ok.is_ok(), "{}: unlock did not restore sign-in: {ok:?}", w.name);
    }
}

/// Finding: once an account had been locked, the failure counter stayed at the maximum, so
/// after the lockout ended a single wrong password (no credentials needed, `admin` is a known
/// name) locked it again for the whole period: an attacker could keep an approver out for
/// ever with one request per lockout period. A lockout that ended leaves no debt now.
#[tokio::test]
async fn an_ended_lockout_leaves_no_debt() {
    for t in stores().await {
        let w = World::new(&t);
        let nurse = w.user("nurse", Role::Approver).await;
        let totp = w.totp(&nurse).await;
        for _ in 0..5 {
            let r = w.auth.check_totp(&nurse, &wrong_code(&totp), PEER, "web").await.unwrap();
            assert_eq!(r.err(), Some(Refusal::WrongCode), "{}", w.name);
        }
        assert!(w.store.require_user(&nurse).await.unwrap().locked_at(crate::clock::now()), "{}", w.name);
        // The lockout period passes.
        sqlx::query("UPDATE users SET locked_until = $1 WHERE username = 'nurse'").bind(crate::clock::now() - 1).execute(w.store.pool()).await.unwrap();

        let one = w.auth.check_totp(&nurse, &wrong_code(&totp), PEER, "web").await.unwrap();
        assert_eq!(one.err(), Some(Refusal::WrongCode), "{}", w.name);
        let user = w.store.require_user(&nurse).await.unwrap();
        assert!(!user.locked_at(crate::clock::now()), "{}: one failure after the lockout locked the account again", w.name);
        assert_eq!(user.failed_attempts, 1, "{}: the count starts again after a lockout", w.name);
        let ok = w.auth.check_totp(&nurse, &totp.code_at_step(current_step()), PEER, "web").await.unwrap();
        assert!(ok.is_ok(), "{}: the approver cannot sign in: {ok:?}", w.name);

        // Five new failures lock it again, and that lockout is audited again.
        for _ in 0..5 {
            let r = w.auth.check_totp(&nurse, &wrong_code(&totp), PEER, "web").await.unwrap();
            assert_eq!(r.err(), Some(Refusal::WrongCode), "{}", w.name);
        }
        assert!(w.store.require_user(&nurse).await.unwrap().locked_at(crate::clock::now()), "{}", w.name);
        let locks = w.audit_of("auth.locked").await.into_iter().filter(|r| r.detail.contains("\"failures\"")).count();
        assert_eq!(locks, 2, "{}: each lockout is audited", w.name);
    }
}
