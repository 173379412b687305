//! Web sign-in on SQLite and PostgreSQL: first sign-in enrolment with a one-time password,
//! password + code afterwards, single-use codes, lockout from wrong passwords, and sign-out
//! and disabling ending a sign-in at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::admin::NewUserSpec;
use super::*;
use crate::admin::fixture::{current_step, wrong_code, World, ACTOR};
use crate::testdb::stores;

const PEER: &str = "192.0.2.7:40000";

/// Enrols `name` through the first sign-in and returns its permanent password.
async fn enrol(w: &World, name: &Username, one_time: &str) -> String {
    let (s, e) = match w.webauth.sign_in(name.as_str(), one_time, "", PEER).await.unwrap().unwrap() {
        SignIn::MustEnrol(s, e) => (s, e),
        SignIn::Done(_) => panic!("{}: a one-time password must lead to enrolment", w.name),
    };
    assert_eq!(s.scope, Scope::Enrol);
    assert!(e.otpauth_uri.starts_with("otpauth://totp/"), "{}", e.otpauth_uri);
    let code = w.totp(name).await.code_at_step(current_step());
    let short = w.webauth.finish_enrolment(&s, "short", &code, PEER).await.unwrap().unwrap_err();
    assert!(matches!(short, EnrolRefusal::BadPassword(_)), "{short:?}");
    let with_name = format!("{name}-and-more-letters");
    let named = w.webauth.finish_enrolment(&s, &with_name, &code, PEER).await.unwrap().unwrap_err();
    assert!(matches!(named, EnrolRefusal::BadPassword(_)), "{named:?}");
    let pw = "a long enough passphrase".to_owned();
    let full = w.webauth.finish_enrolment(&s, &pw, &code, PEER).await.unwrap().unwrap();
    assert_eq!(full.scope, Scope::Full);
    assert!(w.webauth.session(&s.id).await.unwrap().is_none(), "{}: the enrolment session must end", w.name);
    assert!(w.webauth.session(&full.id).await.unwrap().is_some());
    pw
}

#[tokio::test]
async fn first_sign_in_enrols_then_password_and_code_work() {
    for t in stores().await {
        let w = World::new(&t);
        let name = Username::parse("nurse").unwrap();
        let (_, e) = w.admin.create_user(ACTOR, NewUserSpec::new(name.clone(), Role::Approver, "ICU")).await.unwrap();
        let one_time = e.one_time_password.unwrap();
        // The one-time password never reaches a full sign-in, even with a right code.
        let pw = enrol(&w, &name, &one_time).await;
        assert!(matches!(w.webauth.sign_in("nurse", &one_time, "", PEER).await.unwrap(), Err(Refusal::WrongPassword)));

        // Enrolment consumed the current step: the same code is now a replay.
        let code = w.totp(&name).await.code_at_step(current_step());
        assert_eq!(w.webauth.sign_in("nurse", &pw, &code, PEER).await.unwrap().unwrap_err(), Refusal::Replayed, "{}", w.name);
        let next = w.totp(&name).await.code_at_step(current_step() + 1);
        let SignIn::Done(s) = w.webauth.sign_in("nurse", &pw, &next, PEER).await.unwrap().unwrap() else { panic!("expected a full sign-in") };
        assert!(w.webauth.session(&s.id).await.unwrap().is_some());

        w.webauth.sign_out(&s, PEER).await.unwrap();
        assert!(w.webauth.session(&s.id).await.unwrap().is_none(), "{}: signed out", w.name);
        assert_eq!(w.audit_of("auth.logout").await.len(), 1);
        assert_eq!(w.audit_of("user.enrolled").await.len(), 1);
        let logins = w.audit_of("auth.login").await;
        assert!(logins.iter().all(|r| r.detail.contains("192.0.2.7")), "{logins:?}");
    }
}

#[tokio::test]
async fn disabling_ends_sign_ins_and_wrong_passwords_lock() {
    for t in stores().await {
        let w = World::new(&t);
        let name = Username::parse("boss").unwrap();
        let pw = "permanent password 1".to_owned();
        w.admin.create_user(ACTOR, NewUserSpec::new(name.clone(), Role::Admin, "IT").password(Some(pw.clone()))).await.unwrap();
        let code = w.totp(&name).await.code_at_step(current_step());
        let SignIn::Done(s) = w.webauth.sign_in("boss", &pw, &code, PEER).await.unwrap().unwrap() else { panic!("no enrolment for a set password") };
        w.admin.set_user_disabled(ACTOR, &name, true).await.unwrap();
        assert!(w.webauth.session(&s.id).await.unwrap().is_none(), "{}: disabled", w.name);
        assert_eq!(w.webauth.sign_in("boss", &pw, &code, PEER).await.unwrap().unwrap_err(), Refusal::Disabled);
        w.admin.set_user_disabled(ACTOR, &name, false).await.unwrap();

        for _ in 0..5 {
            assert_eq!(w.webauth.sign_in("boss", "not the password", "000000", PEER).await.unwrap().unwrap_err(), Refusal::WrongPassword);
        }
        // Locked now: even the right password and a fresh code are refused.
        let fresh = w.totp(&name).await.code_at_step(current_step() + 1);
        assert_eq!(w.webauth.sign_in("boss", &pw, &fresh, PEER).await.unwrap().unwrap_err(), Refusal::Locked, "{}", w.name);
        assert_eq!(w.audit_of("auth.password.failed").await.len(), 5);

        // Unknown accounts, vendors and wrong codes are refused and audited.
        assert_eq!(w.webauth.sign_in("nobody'; DROP TABLE users;--", "x", "1", PEER).await.unwrap().unwrap_err(), Refusal::UnknownUser);
        let vendor = w.user("jdoe", Role::Vendor).await;
        assert_eq!(w.webauth.sign_in(vendor.as_str(), "x", "1", PEER).await.unwrap().unwrap_err(), Refusal::WrongRole);
        let other = Username::parse("audit1").unwrap();
        w.admin.create_user(ACTOR, NewUserSpec::new(other.clone(), Role::Auditor, "QA").password(Some(pw.clone()))).await.unwrap();
        let wrong = wrong_code(&w.totp(&other).await);
        assert_eq!(w.webauth.sign_in("audit1", &pw, &wrong, PEER).await.unwrap().unwrap_err(), Refusal::WrongCode);
        assert_eq!(w.audit_of("auth.refused").await.len(), 3, "{}", w.name);
    }
}

/// Web sign-ins are counted in the metrics by outcome: a success, a wrong password (failure),
/// an unknown account (refused). The registry is the process's, and each test runs in its
/// own process under nextest; the deltas are compared, not absolute values.
#[tokio::test]
async fn sign_ins_are_counted_by_outcome() {
    use crate::metrics::{get, SignInChannel};
    let count = |outcome: &str| -> u64 {
        let series = format!("portcullis_sign_ins_total{{channel=\"{}\",outcome=\"{outcome}\"}} ", SignInChannel::Web.as_str());
        get().encode().lines().find_map(|l| l.strip_prefix(&series)).unwrap().trim().parse().unwrap()
    };
    let t = stores().await.into_iter().next().unwrap();
    let w = World::new(&t);
    let name = Username::parse("counted").unwrap();
    let pw = "permanent password 1".to_owned();
    w.admin.create_user(ACTOR, NewUserSpec::new(name.clone(), Role::Admin, "IT").password(Some(pw.clone()))).await.unwrap();
    let before = (count("success"), count("failure"), count("refused"));
    let code = w.totp(&name).await.code_at_step(current_step());
    assert!(matches!(w.webauth.sign_in("counted", &pw, &code, PEER).await.unwrap(), Ok(SignIn::Done(_))));
    assert_eq!(w.webauth.sign_in("counted", "not the password", "000000", PEER).await.unwrap().unwrap_err(), Refusal::WrongPassword);
    assert_eq!(w.webauth.sign_in("nobody", "x", "1", PEER).await.unwrap().unwrap_err(), Refusal::UnknownUser);
    assert_eq!((count("success"), count("failure"), count("refused")), (before.0 + 1, before.1 + 1, before.2 + 1));
}
