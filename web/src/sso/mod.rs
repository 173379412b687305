//! Single sign-on for staff with the hospital's OpenID provider: the authorization code flow
//! with PKCE (crate `openidconnect`). [`Sso::begin`] makes the provider's sign-in address
//! with a fresh state, nonce and PKCE challenge, kept server side ([`pending`]) for
//! `oidc.state_ttl` and taken at most once. [`Sso::finish`] takes the state back, exchanges
//! the code with the verifier, and verifies the ID token: signature against the provider's
//! published keys, issuer, audience (this client only), expiry and nonce. A token signed with
//! a key the broker does not know yet makes it fetch the provider's keys again (at most once
//! per [`KEYS_REFETCH_EVERY`]), so key rotation at the provider is picked up. Then the role
//! comes from the groups claim ([`OidcConfig::role_for`]) and whether the provider's sign-in
//! counts as multi-factor from `acr`/`amr` ([`OidcConfig::mfa_met`]). What the broker does
//! with the verified identity (link, account, audit) is [`portcullis_core::webauth`]'s job.

mod http;
pub mod pending;

use base64::Engine;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthenticationContextClass, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError, TokenResponse,
};
use portcullis_core::config::{OidcConfig, RoleRefusal};
use portcullis_core::domain::Role;
use portcullis_core::webauth::SsoIdentity;
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub use pending::Pending;

/// Shortest time between two fetches of the provider's keys caused by an unknown key id.
pub const KEYS_REFETCH_EVERY: Duration = Duration::from_secs(10);

/// What a started sign-in keeps until the provider sends the browser back.
#[derive(Debug)]
struct Started {
    nonce: Nonce,
    verifier: PkceCodeVerifier,
}

/// A verified sign-in at the provider: who it is (with the role its groups map to) and the
/// groups the token named.
#[derive(Debug, Clone)]
pub struct Verified {
    pub identity: SsoIdentity,
    pub groups: Vec<String>,
}

/// Why a sign-in at the provider is refused. [`Refused::reason`] is the audit word,
/// [`Refused::message`] what the page says.
#[derive(Debug, Clone)]
pub enum Refused {
    /// The state is unknown, already used or expired, or not this browser's.
    State,
    /// The provider answered with an error (e.g. the user cancelled).
    Provider(String),
    /// The code exchange failed.
    Exchange(String),
    /// The ID token failed a check; the word says which.
    Token(&'static str, String),
    /// The groups map to no role.
    UnknownGroup(Box<Verified>),
    /// The groups map to several roles.
    AmbiguousGroups(Box<Verified>),
    /// The provider cannot be reached or its metadata is unusable.
    Unavailable(String),
    /// Too many sign-ins in flight.
    Busy,
}

impl Refused {
    /// The short word recorded in the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::State => "state",
            Refused::Provider(_) => "provider-error",
            Refused::Exchange(_) => "code-exchange",
            Refused::Token(w, _) => w,
            Refused::UnknownGroup(_) => "unknown-group",
            Refused::AmbiguousGroups(_) => "ambiguous-groups",
            Refused::Unavailable(_) => "provider-unavailable",
            Refused::Busy => "busy",
        }
    }

    /// What the refusal page tells the person.
    pub fn message(&self) -> String {
        match self {
            Refused::State => "This sign-in link was already used, has expired, or was started in another browser. Start again.".into(),
            Refused::Provider(e) => format!("The identity provider did not sign you in ({e})."),
            Refused::Exchange(_) | Refused::Token(..) => "The identity provider's answer could not be verified, so you are not signed in.".into(),
            Refused::UnknownGroup(v) => format!(
                "You are signed in at the identity provider, but none of your groups ({}) gives access to Portcullis. Ask the administrators to add your group.",
                if v.groups.is_empty() { "none".to_owned() } else { v.groups.join(", ") }
            ),
            Refused::AmbiguousGroups(v) => format!(
                "Your groups ({}) give more than one Portcullis role; the administrators must decide which one you get.",
                v.groups.join(", ")
            ),
            Refused::Unavailable(_) => "The identity provider cannot be reached; try again, or use the break-glass sign-in.".into(),
            Refused::Busy => "Too many sign-ins are in progress; try again in a minute.".into(),
        }
    }
}

/// The single sign-on service: one per process.
#[derive(Debug)]
pub struct Sso {
    cfg: OidcConfig,
    secret: Option<String>,
    http: reqwest::Client,
    /// The provider's metadata and keys, and when they were last fetched because of an
    /// unknown key id.
    provider: Mutex<(Option<CoreProviderMetadata>, Option<Instant>)>,
    started: Pending<Started>,
    /// Verified sign-ins waiting for the local TOTP code: random id → account name, and
    /// whether that sign-in created the account (its secret is then shown for enrolment).
    pub code_steps: Pending<(portcullis_core::domain::Username, bool)>,
}

impl Sso {
    /// Builds the service (reads the client secret file); the provider is first asked when
    /// somebody signs in, so the broker starts while the provider is down.
    pub fn new(cfg: OidcConfig) -> Result<Sso, String> {
        let secret = cfg.client_secret().map_err(|e| e.to_string())?;
        let http = http::client().map_err(|e| format!("oidc HTTP client: {e}"))?;
        let started = Pending::new(cfg.state_ttl.0);
        let code_steps = Pending::new(Duration::from_secs(300));
        Ok(Sso { cfg, secret, http, provider: Mutex::new((None, None)), started, code_steps })
    }

    /// How long a started sign-in lasts (for the cookie binding it to the browser).
    pub fn state_ttl(&self) -> Duration {
        self.cfg.state_ttl.0
    }

    /// The provider's issuer.
    pub fn issuer(&self) -> &str {
        &self.cfg.issuer
    }

    /// Starts a sign-in: the provider's address to send the browser to, and the state.
    pub async fn begin(&self) -> Result<(String, String), Refused> {
        let meta = self.metadata(false).await?;
        let client = self.client(meta)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
        for s in &self.cfg.scopes {
            req = req.add_scope(Scope::new(s.clone()));
        }
        // Ask for the multi-factor sign-in that counts (a voluntary `acr_values`); the token's
        // `acr` is still checked on the way back.
        for a in &self.cfg.mfa_acr {
            req = req.add_auth_context_value(AuthenticationContextClass::new(a.clone()));
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        if !self.started.put(state.secret().clone(), Started { nonce, verifier }) {
            return Err(Refused::Busy);
        }
        Ok((url.to_string(), state.secret().clone()))
    }

    /// Finishes a sign-in: `state` from the callback must be one this process started and
    /// equal to `browser_state` (the cookie set by [`Sso::begin`]'s caller).
    pub async fn finish(&self, state: &str, browser_state: Option<&str>, code: &str) -> Result<Verified, Refused> {
        let Some(started) = self.started.take(state) else { return Err(Refused::State) };
        if browser_state != Some(state) {
            return Err(Refused::State);
        }
        let meta = self.metadata(false).await?;
        let client = self.client(meta)?;
        let http = self.http.clone();
        let send = move |req| http::send(http.clone(), req);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| Refused::Exchange(e.to_string()))?
            .set_pkce_verifier(started.verifier)
            .request_async(&send)
            .await
            .map_err(|e| Refused::Exchange(e.to_string()))?;
        let _ = token.access_token();
        let Some(id_token) = token.id_token() else { return Err(Refused::Token("no-id-token", "no ID token in the answer".into())) };
        let claims = match id_token.claims(&client.id_token_verifier(), &started.nonce) {
            Ok(c) => c.clone(),
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                // Perhaps the provider rotated its keys: fetch them again (bounded) and retry.
                let meta = self.metadata(true).await?;
                let client = self.client(meta)?;
                let verifier = client.id_token_verifier();
                let claims = id_token.claims(&verifier, &started.nonce).map_err(token_refusal)?.clone();
                claims
            }
            Err(e) => return Err(token_refusal(e)),
        };
        let payload = verified_payload(&id_token.to_string());
        let groups: Vec<String> = match payload.get(&self.cfg.groups_claim) {
            Some(Value::Array(a)) => a.iter().filter_map(|g| g.as_str().map(str::to_owned)).collect(),
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        };
        let amr: Vec<String> = claims.auth_method_refs().map(|v| v.iter().map(|a| a.to_string()).collect()).unwrap_or_default();
        let acr = claims.auth_context_ref().map(|a| a.to_string());
        let identity = SsoIdentity {
            issuer: claims.issuer().to_string(),
            subject: claims.subject().to_string(),
            name_hint: claims.preferred_username().map(|n| n.to_string()),
            role: Role::Approver,
            provider_mfa: self.cfg.mfa_met(acr.as_deref(), &amr),
            acr,
            amr,
        };
        let mut v = Verified { identity, groups };
        match self.cfg.role_for(&v.groups) {
            Ok(role) => v.identity.role = role,
            Err(RoleRefusal::NoMappedGroup) => return Err(Refused::UnknownGroup(Box::new(v))),
            Err(RoleRefusal::Ambiguous(_)) => return Err(Refused::AmbiguousGroups(Box::new(v))),
        }
        Ok(v)
    }

    fn client(&self, meta: CoreProviderMetadata) -> Result<CoreClientReady, Refused> {
        let redirect = RedirectUrl::new(self.cfg.redirect_url.clone()).map_err(|e| Refused::Unavailable(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(meta, ClientId::new(self.cfg.client_id.clone()), self.secret.clone().map(ClientSecret::new))
            .set_redirect_uri(redirect))
    }

    /// The provider's metadata and keys: fetched when first needed, and again when `refresh`
    /// asks for it (a token signed with an unknown key) unless the last such fetch is more
    /// recent than [`KEYS_REFETCH_EVERY`] — so tokens with made-up key ids cannot make the
    /// broker hammer the provider.
    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, Refused> {
        let mut held = self.provider.lock().await;
        if let Some(meta) = held.0.as_ref() {
            let recent = held.1.is_some_and(|at| at.elapsed() < KEYS_REFETCH_EVERY);
            if !refresh || recent {
                return Ok(meta.clone());
            }
            held.1 = Some(Instant::now());
        }
        let issuer = IssuerUrl::new(self.cfg.issuer.clone()).map_err(|e| Refused::Unavailable(e.to_string()))?;
        let http = self.http.clone();
        let send = move |req| http::send(http.clone(), req);
        let meta = CoreProviderMetadata::discover_async(issuer, &send).await.map_err(|e| Refused::Unavailable(e.to_string()))?;
        tracing::info!(issuer = %self.cfg.issuer, keys = meta.jwks().keys().len(), "oidc: fetched the provider's metadata and keys");
        held.0 = Some(meta.clone());
        Ok(meta)
    }
}

/// The client type once the redirect URL is set (the endpoints come from discovery).
type CoreClientReady = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// The audit word for a failed ID token check.
fn token_refusal(e: ClaimsVerificationError) -> Refused {
    let word = match &e {
        ClaimsVerificationError::InvalidAudience(_) => "wrong-audience",
        ClaimsVerificationError::Expired(_) => "expired-token",
        ClaimsVerificationError::InvalidIssuer(_) => "wrong-issuer",
        ClaimsVerificationError::InvalidNonce(_) => "wrong-nonce",
        ClaimsVerificationError::SignatureVerification(_) => "bad-signature",
        _ => "invalid-token",
    };
    Refused::Token(word, e.to_string())
}

/// The claims of a compact JWT whose signature was already verified (only read for the
/// configurable groups claim, which the typed claims do not carry).
fn verified_payload(jwt: &str) -> serde_json::Map<String, Value> {
    let part = jwt.split('.').nth(1).unwrap_or("");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).unwrap_or_default();
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    }
}
