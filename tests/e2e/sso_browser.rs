//! Single sign-on for staff in a real browser (Chromium driven by playwright-core) against a
//! real OpenID provider on loopback (the npm package `oidc-provider`, configured by the test)
//! and the real broker: an approver signs in at the provider and lands on the requests page
//! with the role its group maps to, linked by (issuer, `sub`); a provider account whose
//! `preferred_username` and e-mail are those of a local administrator gets an account of its
//! own, never the administrator's; a sign-in whose `acr` is not multi-factor must still give
//! the local TOTP code, whose secret only the sign-in that created the account shows. Hostile: a replayed callback (state), an ID token for another
//! audience, an expired ID token (both re-signed with the provider's own key, so only the
//! broker's checks can refuse them) and a user in no mapped group are each refused with a
//! clear page and audited as `auth.sso.refused` with the reason. The break-glass password
//! sign-in still works and is audited as `auth.break_glass`.

use crate::harness::broker::{as_array, Broker};
use crate::harness::browser::{self, assert_no_page_problems, sign_in_env, text, web_user};
use crate::harness::oidc::{free_port, Provider, CLIENT_ID, CLIENT_SECRET};
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

const MFA: &str = "urn:hospital:mfa";

struct Sso {
    broker: Broker,
    provider: Provider,
}

fn accounts() -> Value {
    json!({
        "idp-alice-7f3": { "claims": { "preferred_username": "alice", "email": "alice@hospital.example", "groups": ["staff", "biomed-approvers"] }, "acr": MFA, "amr": ["pwd", "otp"] },
        "idp-bob-19c": { "claims": { "preferred_username": "bob", "groups": ["biomed-approvers"] }, "acr": "urn:hospital:pwd", "amr": ["pwd"] },
        "idp-dave-5e0": { "claims": { "preferred_username": "dave", "groups": ["cafeteria", "staff"] }, "acr": MFA },
        // Same name and e-mail as the local administrator "carol", another person at the provider.
        "idp-mallory-c41": { "claims": { "preferred_username": "carol", "email": "carol@hospital.example", "groups": ["biomed-approvers"] }, "acr": MFA },
    })
}

fn start() -> Sso {
    let mut broker = Broker::init();
    let port = free_port();
    let redirect = format!("https://127.0.0.1:{port}/login/sso/callback");
    let provider = Provider::start(&redirect, &accounts());
    let secret = broker.data_dir.join("oidc-client-secret");
    std::fs::write(&secret, format!("{CLIENT_SECRET}\n")).unwrap();
    let section = format!(
        "\n[oidc]\nissuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret_file = \"{}\"\nredirect_url = \"{redirect}\"\nscopes = [\"profile\", \"email\", \"groups\"]\nmfa_acr = [\"{MFA}\"]\n\n[oidc.roles]\n\"biomed-approvers\" = \"approver\"\n\"it-audit\" = \"auditor\"\n",
        provider.issuer,
        secret.display()
    );
    std::fs::OpenOptions::new().append(true).open(&broker.config).unwrap().write_all(section.as_bytes()).unwrap();
    let listen = format!("127.0.0.1:{port}");
    broker.serve(&[("PORTCULLIS_WEB_LISTEN", &listen)]);
    assert_eq!(broker.web_addr().port(), port);
    Sso { broker, provider }
}

/// Runs `sso.mjs` and checks that every page of the sign-in it saw passes axe-core with no
/// serious or critical violation.
fn run_sso(env: &[(&'static str, String)]) -> Value {
    let out = browser::run("sso.mjs", env);
    let checked = out["axe"].as_object().unwrap_or_else(|| panic!("no axe-core results: {out}"));
    assert!(!checked.is_empty(), "no page was checked with axe-core: {out}");
    for (page, violations) in checked {
        assert_eq!(violations, &serde_json::json!([]), "axe-core on the {page} page: {violations}");
    }
    out
}

fn sso_env(s: &Sso, login: &str) -> Vec<(&'static str, String)> {
    vec![("PORTCULLIS_URL", browser::base_url(s.broker.web_addr())), ("SSO_LOGIN", login.to_owned())]
}

fn user(b: &Broker, name: &str) -> Option<Value> {
    as_array(b.cli_json(&["user", "list", "--json"])).into_iter().find(|u| u["username"] == name)
}

fn refusals(b: &Broker, reason: &str) -> Vec<Value> {
    b.audit_of_kind("auth.sso.refused").into_iter().filter(|r| r["detail"]["reason"] == reason).collect()
}

#[test]
fn staff_sign_in_at_the_provider_lands_on_the_requests_page_linked_by_sub_and_a_replayed_callback_is_refused() {
    let s = start();
    let mut env = sso_env(&s, "idp-alice-7f3");
    env.push(("REPLAY", "1".into()));
    let out = run_sso(&env);
    assert!(text(&out["provider_url"]).starts_with(&s.provider.issuer), "the broker did not send the browser to the provider: {out}");
    assert_eq!(out["landed"], "/requests", "{out}");
    assert_eq!(out["code_step"], false, "acr {MFA} counts as multi-factor: no local code: {out}\n{}", s.provider.output());
    assert!(text(&out["body"]).contains("alice"), "the page does not show who signed in: {out}");
    assert_no_page_problems(&out);

    let alice = user(&s.broker, "alice").expect("an account for the provider's alice");
    assert_eq!(alice["role"], "approver", "the role comes from the group biomed-approvers: {alice}");
    let linked = s.broker.audit_of_kind("auth.sso.linked");
    assert_eq!(linked.len(), 1, "{linked:?}");
    assert_eq!((&linked[0]["detail"]["sub"], &linked[0]["detail"]["issuer"]), (&json!("idp-alice-7f3"), &json!(s.provider.issuer)));
    let logins = s.broker.audit_of_kind("auth.sso.login");
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!((&logins[0]["actor"], &logins[0]["detail"]["mfa"]), (&json!("alice"), &json!("provider")));

    // The same callback address again: the state was used once and is gone.
    assert_eq!(out["replay_status"], 403, "{out}");
    assert!(text(&out["replay_refused"]).contains("already used"), "{out}");
    assert_eq!(refusals(&s.broker, "state").len(), 1, "the replay is audited");
    assert_eq!(s.broker.audit_of_kind("auth.sso.login").len(), 1, "the replay signed nobody in");

    // A second sign-in finds the same account by its link (no second account or link).
    let again = run_sso(&sso_env(&s, "idp-alice-7f3"));
    assert_eq!(again["landed"], "/requests", "{again}");
    assert_eq!(s.broker.audit_of_kind("auth.sso.linked").len(), 1);
    assert_eq!(s.broker.audit_of_kind("auth.sso.login").len(), 2);
}

#[test]
fn a_provider_account_with_a_local_admins_name_and_email_gets_its_own_account_never_the_admins() {
    let s = start();
    let carol = web_user(&s.broker, "carol", "admin");
    let out = run_sso(&sso_env(&s, "idp-mallory-c41"));
    assert_eq!(out["landed"], "/requests", "{out}");
    let linked = s.broker.audit_of_kind("auth.sso.linked");
    assert_eq!(linked.len(), 1, "{linked:?}");
    let name = text(&linked[0]["actor"]).to_owned();
    assert_ne!(name, "carol", "the provider's name linked the local administrator: {linked:?}");
    assert!(name.starts_with("sso-"), "{name}");
    assert_eq!(user(&s.broker, &name).expect("the new account")["role"], "approver");
    assert_eq!(user(&s.broker, "carol").expect("carol")["role"], "admin");
    let logins = s.broker.audit_of_kind("auth.sso.login");
    assert!(logins.iter().all(|r| r["actor"] != "carol"), "somebody signed in as carol: {logins:?}");

    // Break-glass: the local administrator's password sign-in still works, and says so.
    let mut env = sign_in_env(&s.broker, &carol);
    env.push(("BREAK_GLASS", "1".into()));
    let out = run_sso(&env);
    assert_eq!((&out["landed"], &out["sso_link_shown"]), (&json!("/requests"), &json!(1)), "{out}");
    let bg = s.broker.wait_for_audit("auth.break_glass", Duration::from_secs(10), |r| r["actor"] == "carol");
    assert_eq!(bg["detail"]["role"], "admin");
}

#[test]
fn a_provider_sign_in_that_is_not_multi_factor_still_needs_the_local_code() {
    let s = start();
    let out = run_sso(&sso_env(&s, "idp-bob-19c"));
    assert_eq!((&out["code_step"], &out["landed"]), (&json!(true), &json!("/requests")), "{out}");
    let logins = s.broker.audit_of_kind("auth.sso.login");
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert_eq!((&logins[0]["actor"], &logins[0]["detail"]["mfa"]), (&json!("bob"), &json!("local-totp")));
    assert_no_page_problems(&out);

    // The next sign-in without the provider's multi-factor asks for the code again and does
    // not show the secret: the provider password alone never yields the second factor.
    let mut env = sso_env(&s, "idp-bob-19c");
    env.push(("NO_SECRET", "1".into()));
    let again = run_sso(&env);
    assert_eq!((&again["landed"], &again["secret_shown"]), (&json!("/login/sso/code"), &json!(false)), "{again}");
    assert_eq!(s.broker.audit_of_kind("auth.sso.login").len(), 1, "no sign-in without the code");

    // An account created by a multi-factor sign-in, later signed in without the second factor:
    // the code is asked for and its secret, never used, is not handed out.
    let first = run_sso(&sso_env(&s, "idp-alice-7f3"));
    assert_eq!((&first["landed"], &first["code_step"]), (&json!("/requests"), &json!(false)), "{first}");
    s.provider.set_mode("single-factor");
    let mut env = sso_env(&s, "idp-alice-7f3");
    env.push(("NO_SECRET", "1".into()));
    let weak = run_sso(&env);
    assert_eq!((&weak["landed"], &weak["secret_shown"]), (&json!("/login/sso/code"), &json!(false)), "{weak}");
    assert_eq!(s.broker.audit_of_kind("auth.sso.login").len(), 2, "no sign-in without the code");
}

#[test]
fn a_token_for_another_audience_an_expired_token_and_an_unknown_group_are_refused_and_audited() {
    let s = start();
    for (mode, reason) in [("wrong-audience", "wrong-audience"), ("expired", "expired-token")] {
        s.provider.set_mode(mode);
        let out = run_sso(&sso_env(&s, "idp-alice-7f3"));
        assert_eq!(out["landed"], "/login/sso/callback", "{mode}: {out}");
        assert!(text(&out["refused"]).contains("could not be verified"), "{mode}: {out}");
        let rows = refusals(&s.broker, reason);
        assert_eq!(rows.len(), 1, "{mode} is not audited as {reason}; provider said:\n{}", s.provider.output());
    }
    assert!(s.provider.output().contains("issued a expired ID token"), "the provider did not issue the bad token");
    assert!(user(&s.broker, "alice").is_none(), "a refused token created an account");
    assert!(s.broker.audit_of_kind("auth.sso.login").is_empty());

    s.provider.set_mode("normal");
    let out = run_sso(&sso_env(&s, "idp-dave-5e0"));
    assert_eq!(out["landed"], "/login/sso/callback", "{out}");
    let refused = text(&out["refused"]);
    assert!(refused.contains("none of your groups") && refused.contains("cafeteria"), "{out}");
    let rows = refusals(&s.broker, "unknown-group");
    assert_eq!(rows.len(), 1);
    assert_eq!((&rows[0]["detail"]["sub"], &rows[0]["detail"]["groups"]), (&json!("idp-dave-5e0"), &json!(["cafeteria", "staff"])));
    assert!(user(&s.broker, "dave").is_none(), "an unmapped user got an account");
    assert!(s.broker.audit_of_kind("auth.sso.login").is_empty());
}

#[test]
fn a_key_rotation_at_the_provider_is_picked_up_and_a_token_signed_with_an_unpublished_key_is_refused() {
    let s = start();
    let first = run_sso(&sso_env(&s, "idp-alice-7f3"));
    assert_eq!(first["landed"], "/requests", "{first}");
    let fetched = |b: &Broker| b.server_output().matches("fetched the provider's metadata and keys").count();
    assert_eq!(fetched(&s.broker), 1);

    // The provider now signs with a new key it publishes: the broker fetches the keys again.
    s.provider.set_mode("rotated");
    let out = run_sso(&sso_env(&s, "idp-alice-7f3"));
    assert_eq!(out["landed"], "/requests", "the rotated key was not picked up: {out}\n{}", s.broker.server_output());
    assert_eq!(fetched(&s.broker), 2, "the keys were not fetched again");
    assert!(s.provider.output().contains("issued a rotated ID token"));

    // A key nobody publishes: refused (the refetch it may cause is bounded), nobody signed in.
    s.provider.set_mode("unpublished-key");
    let out = run_sso(&sso_env(&s, "idp-alice-7f3"));
    assert_eq!(out["landed"], "/login/sso/callback", "{out}");
    assert_eq!(refusals(&s.broker, "bad-signature").len(), 1, "{out}");
    assert_eq!(s.broker.audit_of_kind("auth.sso.login").len(), 2);
}
