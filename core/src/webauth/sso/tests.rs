//! Single sign-on accounts on SQLite and PostgreSQL: linked by (issuer, sub) and nothing
//! else, the role following the provider's groups, a disabled account refused, the local
//! code when the provider's sign-in is not multi-factor, and break-glass audited.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::admin::fixture::{current_step, World, ACTOR};
use crate::admin::NewUserSpec;
use crate::testdb::stores;

const PEER: &str = "192.0.2.9:41000";
const ISS: &str = "https://idp.hospital.example";

fn id(sub: &str, hint: &str, role: Role, mfa: bool) -> SsoIdentity {
    SsoIdentity { issuer: ISS.into(), subject: sub.into(), name_hint: Some(hint.into()), role, provider_mfa: mfa, acr: None, amr: vec![] }
}

async fn done(w: &World, i: &SsoIdentity) -> WebSession {
    match w.webauth.sign_in_sso(i, PEER).await.unwrap() {
        Ok(SsoSignIn::Done(s)) => s,
        other => panic!("{}: expected a sign-in, got {other:?}", w.name),
    }
}

#[tokio::test]
async fn identities_link_by_issuer_and_sub_never_by_name_and_the_role_follows_the_groups() {
    for t in stores().await {
        let w = World::new(&t);
        let first = done(&w, &id("sub-1", "alice", Role::Approver, true)).await;
        assert_eq!((first.user.username.as_str(), first.user.role), ("alice", Role::Approver));
        assert!(first.user.password_hash.is_none(), "an SSO account has no password for the break-glass form");
        // Same identity, other name hint: the same account.
        let again = done(&w, &id("sub-1", "someone-else", Role::Approver, true)).await;
        assert_eq!(again.user.id, first.user.id);
        // Another identity claiming the same name: an account of its own.
        let other = done(&w, &id("sub-2", "alice", Role::Approver, true)).await;
        assert_ne!(other.user.id, first.user.id);
        assert!(other.user.username.as_str().starts_with("sso-"), "{}", other.user.username);
        // The same sub at another issuer is another identity.
        let elsewhere = SsoIdentity { issuer: "https://other-idp.example".into(), ..id("sub-1", "alice", Role::Approver, true) };
        assert_ne!(done(&w, &elsewhere).await.user.id, first.user.id);
        assert_eq!(w.audit_of("auth.sso.linked").await.len(), 3);

        // The provider moves alice to the auditors: the role follows, audited with the old one.
        let moved = done(&w, &id("sub-1", "alice", Role::Auditor, true)).await;
        assert_eq!((moved.user.id, moved.user.role), (first.user.id, Role::Auditor));
        let linked = w.audit_of("auth.sso.linked").await;
        assert_eq!(linked.len(), 4);
        assert!(linked[3].detail.contains("\"old_role\":\"approver\""), "{:?}", linked[3]);
        assert_eq!(w.audit_of("auth.sso.login").await.len(), 5);

        // A disabled account is refused and audited.
        w.admin.set_user_disabled(ACTOR, &Username::parse("alice").unwrap(), true).await.unwrap();
        let r = w.webauth.sign_in_sso(&id("sub-1", "alice", Role::Auditor, true), PEER).await.unwrap();
        assert!(matches!(r, Err(SsoRefusal::Disabled)), "{}: {r:?}", w.name);
        assert!(w.audit_of("auth.sso.refused").await[0].detail.contains("account-disabled"));
    }
}

#[tokio::test]
async fn a_local_account_is_never_taken_over_by_a_provider_name() {
    for t in stores().await {
        let w = World::new(&t);
        w.admin.create_user(ACTOR, NewUserSpec::new(Username::parse("carol").unwrap(), Role::Admin, "IT")).await.unwrap();
        let s = done(&w, &id("mallory", "carol", Role::Approver, true)).await;
        assert_ne!(s.user.username.as_str(), "carol");
        assert_eq!(w.store.user_by_name(&Username::parse("carol").unwrap()).await.unwrap().unwrap().role, Role::Admin);
    }
}

#[tokio::test]
async fn without_provider_mfa_the_local_code_is_needed_once_and_break_glass_is_audited() {
    for t in stores().await {
        let w = World::new(&t);
        let user = match w.webauth.sign_in_sso(&id("sub-9", "bob", Role::Approver, false), PEER).await.unwrap() {
            Ok(SsoSignIn::NeedsCode { user, new_account: true }) => user,
            other => panic!("{}: expected the code step, got {other:?}", w.name),
        };
        assert!(w.webauth.sso_totp_enrolment(&user).await.unwrap().is_some(), "a new account is shown its secret");
        let code = w.totp(&user.username).await.code_at_step(current_step());
        let s = w.webauth.finish_sso_code(&user.username, &code, PEER).await.unwrap().unwrap();
        assert_eq!(s.scope, Scope::Full);
        assert_eq!(w.webauth.finish_sso_code(&user.username, &code, PEER).await.unwrap().unwrap_err(), Refusal::Replayed);
        let user = w.store.user_by_name(&user.username).await.unwrap().unwrap();
        assert!(w.webauth.sso_totp_enrolment(&user).await.unwrap().is_none(), "the secret is not shown again once used");
        assert!(w.audit_of("auth.sso.login").await[0].detail.contains("local-totp"));
        // The next sign-in of the same identity: the code again, and no longer a new account.
        let r = w.webauth.sign_in_sso(&id("sub-9", "bob", Role::Approver, false), PEER).await.unwrap();
        assert!(matches!(r, Ok(SsoSignIn::NeedsCode { new_account: false, .. })), "{}: {r:?}", w.name);

        // Break-glass: a password sign-in while SSO is configured.
        let (_, e) = w.admin.create_user(ACTOR, NewUserSpec::new(Username::parse("root-admin").unwrap(), Role::Admin, "IT")).await.unwrap();
        let name = Username::parse("root-admin").unwrap();
        let glass = w.webauth.clone().with_sso(true);
        let r = glass.sign_in("root-admin", &e.one_time_password.unwrap(), "", PEER).await.unwrap().unwrap();
        let super::super::SignIn::MustEnrol(enrolling, _) = r else { panic!("expected enrolment") };
        let code = w.totp(&name).await.code_at_step(current_step());
        glass.finish_enrolment(&enrolling, "a long enough passphrase", &code, PEER).await.unwrap().unwrap();
        assert!(w.audit_of("auth.break_glass").await.is_empty(), "enrolment is not a break-glass sign-in");
        let next = w.totp(&name).await.code_at_step(current_step() + 1);
        glass.sign_in("root-admin", "a long enough passphrase", &next, PEER).await.unwrap().unwrap();
        let bg = w.audit_of("auth.break_glass").await;
        assert_eq!(bg.len(), 1, "{}", w.name);
        assert_eq!(bg[0].actor, "root-admin");
    }
}
