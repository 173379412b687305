//! The `[oidc]` section: single sign-on for staff (approvers, auditors, administrators)
//! with the hospital's OpenID provider, and the two claim checks that decide what a signed-in
//! identity may be: the role, from a groups claim mapped group by group
//! ([`OidcConfig::role_for`]), and whether the provider's own multi-factor sign-in counts
//! instead of the local TOTP code ([`OidcConfig::mfa_met`]). Without the section the web page
//! signs in with password and TOTP only. Set in the file only (no environment overrides).
//!
//! The issuer must be `https`, or `http` to a loopback address (a test provider); the
//! redirect URL is this broker's `/login/sso/callback` as the provider knows it. Vendors
//! never sign in here: a group may not map to `vendor`.

use super::notify::is_loopback_host;
use super::{ConfigError, Dur};
use crate::domain::Role;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use url::Url;

/// The `[oidc]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The provider's issuer identifier; its discovery document is at
    /// `ISSUER/.well-known/openid-configuration`.
    pub issuer: String,
    /// This broker's client id at the provider.
    pub client_id: String,
    /// File holding the client secret (first line); none: a public client (PKCE only).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// `https://BROKER/login/sso/callback`, registered at the provider.
    pub redirect_url: String,
    /// Scopes asked for besides `openid`.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim listing the user's groups (an array of strings).
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Group → role. A user in no mapped group is refused; groups mapping to two different
    /// roles are refused too (ambiguous), so a role is never guessed.
    pub roles: BTreeMap<String, Role>,
    /// `acr` values that count as the provider's multi-factor sign-in.
    #[serde(default)]
    pub mfa_acr: Vec<String>,
    /// `amr` values that must all be present for the provider's sign-in to count as
    /// multi-factor (e.g. `["mfa"]`, or `["pwd", "otp"]`).
    #[serde(default)]
    pub mfa_amr: Vec<String>,
    /// How long a started sign-in may take at the provider.
    #[serde(default = "default_state_ttl")]
    pub state_ttl: Dur,
}

fn default_scopes() -> Vec<String> {
    vec!["profile".into(), "email".into()]
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn default_state_ttl() -> Dur {
    Dur(Duration::from_secs(600))
}

/// Why a set of groups gives no role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleRefusal {
    /// None of the groups is mapped (or the claim is missing).
    NoMappedGroup,
    /// The mapped groups give different roles.
    Ambiguous(Vec<Role>),
}

impl OidcConfig {
    /// Checks the values that serde cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(format!("oidc.{m}")));
        match Url::parse(&self.issuer) {
            Ok(u) if u.scheme() == "https" || (u.scheme() == "http" && u.host_str().is_some_and(is_loopback_host)) => {}
            Ok(_) => return bad("issuer must be https (http only to a loopback address)".into()),
            Err(e) => return bad(format!("issuer: {e}")),
        }
        match Url::parse(&self.redirect_url) {
            Ok(u) if u.path() == "/login/sso/callback" && matches!(u.scheme(), "https" | "http") => {}
            Ok(_) => return bad("redirect_url must be this broker's https://HOST/login/sso/callback".into()),
            Err(e) => return bad(format!("redirect_url: {e}")),
        }
        if self.client_id.trim().is_empty() {
            return bad("client_id must not be empty".into());
        }
        if self.groups_claim.trim().is_empty() {
            return bad("groups_claim must not be empty".into());
        }
        if self.roles.is_empty() {
            return bad("roles must map at least one group".into());
        }
        if let Some((g, _)) = self.roles.iter().find(|(_, r)| **r == Role::Vendor) {
            return bad(format!("roles: group {g:?} maps to vendor; vendors sign in with SSH key and TOTP only"));
        }
        if self.state_ttl.0 < Duration::from_secs(30) || self.state_ttl.0 > Duration::from_secs(3600) {
            return bad("state_ttl must be between 30s and 1h".into());
        }
        Ok(())
    }

    /// The role the groups give: every mapped group must give the same one.
    pub fn role_for(&self, groups: &[String]) -> Result<Role, RoleRefusal> {
        let mut roles: Vec<Role> = groups.iter().filter_map(|g| self.roles.get(g).copied()).collect();
        roles.sort_by_key(|r| r.as_str());
        roles.dedup();
        match roles.as_slice() {
            [] => Err(RoleRefusal::NoMappedGroup),
            [one] => Ok(*one),
            _ => Err(RoleRefusal::Ambiguous(roles)),
        }
    }

    /// Whether the provider's sign-in counts as multi-factor: `acr` is one of `mfa_acr`, or
    /// every `mfa_amr` value is in `amr`. Nothing configured: it never counts (the local
    /// TOTP code is asked for).
    pub fn mfa_met(&self, acr: Option<&str>, amr: &[String]) -> bool {
        let by_acr = acr.is_some_and(|a| self.mfa_acr.iter().any(|x| x == a));
        let by_amr = !self.mfa_amr.is_empty() && self.mfa_amr.iter().all(|x| amr.iter().any(|a| a == x));
        by_acr || by_amr
    }

    /// The client secret from `client_secret_file`, if configured.
    pub fn client_secret(&self) -> Result<Option<String>, ConfigError> {
        let Some(path) = &self.client_secret_file else { return Ok(None) };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.clone(), source })?;
        let secret = text.lines().next().unwrap_or("").trim().to_owned();
        if secret.is_empty() {
            return Err(ConfigError::Invalid(format!("oidc.client_secret_file {} is empty", path.display())));
        }
        Ok(Some(secret))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn cfg(extra: &str) -> Result<OidcConfig, String> {
        let text = format!(
            "issuer = \"https://idp.example\"\nclient_id = \"portcullis\"\nredirect_url = \"https://broker.example/login/sso/callback\"\n{extra}"
        );
        let c: OidcConfig = toml::from_str(&text).map_err(|e| e.to_string())?;
        c.check().map_err(|e| e.to_string())?;
        Ok(c)
    }

    const ROLES: &str = "[roles]\n\"biomed-approvers\" = \"approver\"\n\"it-audit\" = \"auditor\"\n\"it-admins\" = \"admin\"\n\"oncall\" = \"approver\"\n";

    fn groups(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_full_section_parses_with_defaults() {
        let c = cfg(ROLES).unwrap();
        assert_eq!(c.groups_claim, "groups");
        assert_eq!(c.scopes, ["profile", "email"]);
        assert_eq!(c.state_ttl.0, Duration::from_secs(600));
        assert_eq!(c.roles.get("it-audit"), Some(&Role::Auditor));
        assert!(c.client_secret_file.is_none());
    }

    #[test]
    fn bad_sections_are_refused_with_the_key_named() {
        assert!(cfg("").unwrap_err().contains("roles"), "roles are required");
        assert!(cfg("[roles]\n").unwrap_err().contains("oidc.roles"));
        assert!(cfg("[roles]\n\"contractors\" = \"vendor\"\n").unwrap_err().contains("vendor"));
        assert!(cfg("[roles]\n\"x\" = \"root\"\n").unwrap_err().contains("root"));
        assert!(cfg(&format!("colour = \"blue\"\n{ROLES}")).unwrap_err().contains("colour"));
        assert!(cfg(&format!("state_ttl = \"5s\"\n{ROLES}")).unwrap_err().contains("state_ttl"));
        let plain = "issuer = \"http://idp.example\"\nclient_id = \"p\"\nredirect_url = \"https://b/login/sso/callback\"\n";
        let c: OidcConfig = toml::from_str(&format!("{plain}{ROLES}")).unwrap();
        assert!(c.check().unwrap_err().to_string().contains("oidc.issuer"), "plain http to a remote provider");
        let local = plain.replace("idp.example", "127.0.0.1:9000");
        let c: OidcConfig = toml::from_str(&format!("{local}{ROLES}")).unwrap();
        c.check().unwrap();
        let wrong_path = local.replace("/login/sso/callback", "/callback");
        let c: OidcConfig = toml::from_str(&format!("{wrong_path}{ROLES}")).unwrap();
        assert!(c.check().unwrap_err().to_string().contains("redirect_url"));
    }

    #[test]
    fn the_role_comes_from_mapped_groups_only() {
        let c = cfg(ROLES).unwrap();
        assert_eq!(c.role_for(&groups(&["biomed-approvers"])), Ok(Role::Approver));
        assert_eq!(c.role_for(&groups(&["cafeteria", "it-audit"])), Ok(Role::Auditor));
        assert_eq!(c.role_for(&groups(&["biomed-approvers", "oncall"])), Ok(Role::Approver), "two groups, one role");
        assert_eq!(c.role_for(&groups(&["cafeteria"])), Err(RoleRefusal::NoMappedGroup));
        assert_eq!(c.role_for(&[]), Err(RoleRefusal::NoMappedGroup));
        assert_eq!(c.role_for(&groups(&["IT-ADMINS"])), Err(RoleRefusal::NoMappedGroup), "group names match exactly");
        assert!(matches!(c.role_for(&groups(&["it-admins", "it-audit"])), Err(RoleRefusal::Ambiguous(_))));
    }

    #[test]
    fn mfa_counts_only_as_configured() {
        let none = cfg(ROLES).unwrap();
        assert!(!none.mfa_met(Some("urn:hospital:mfa"), &groups(&["mfa"])), "nothing configured: the local code is asked for");
        let acr = cfg(&format!("mfa_acr = [\"urn:hospital:mfa\"]\n{ROLES}")).unwrap();
        assert!(acr.mfa_met(Some("urn:hospital:mfa"), &[]));
        assert!(!acr.mfa_met(Some("urn:hospital:pwd"), &[]));
        assert!(!acr.mfa_met(None, &groups(&["mfa"])));
        let amr = cfg(&format!("mfa_amr = [\"pwd\", \"otp\"]\n{ROLES}")).unwrap();
        assert!(amr.mfa_met(None, &groups(&["otp", "pwd"])));
        assert!(!amr.mfa_met(None, &groups(&["pwd"])), "every listed amr value is needed");
        assert!(!amr.mfa_met(Some("anything"), &[]));
    }
}
