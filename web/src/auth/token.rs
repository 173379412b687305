//! Signed sign-in tokens (JWT, HS256 pinned) and CSRF tokens, both keyed by one 32-byte
//! secret file shared by every node of an installation. A token names a row of
//! `web_sessions`; it is only ever accepted after that row is checked too, so its signature
//! proves where it came from and the row says whether it still counts.

use aws_lc_rs::hmac;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use portcullis_core::clock;
use portcullis_core::keyfile;
use portcullis_core::webauth::{Scope, WebSession};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

/// `iss` of every token.
pub const ISSUER: &str = "portcullis";
/// `aud` of every token: only the web API accepts them.
pub const AUDIENCE: &str = "portcullis-web";
/// Length of the key file.
pub const KEY_LEN: usize = 32;

/// What a token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// User name.
    pub sub: String,
    /// The `web_sessions` row.
    pub sid: String,
    /// `full` or `enrol`.
    pub scope: String,
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
    pub iss: String,
}

/// `aud` of the node-to-node live view tokens.
pub const HOP_AUDIENCE: &str = "portcullis-live-hop";
/// Lifetime of a hop token, in seconds (it is used at once).
pub const HOP_TTL: i64 = 30;

/// What a hop token says: who watches which session on which node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HopClaims {
    /// The viewer, as authorised by the node that asks.
    pub sub: String,
    pub session: i64,
    /// The node asked (its `[node] id`); any other node refuses the token.
    pub node: String,
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
    pub iss: String,
}

/// The keys, loaded once.
pub struct TokenKeys {
    enc: EncodingKey,
    dec: DecodingKey,
    csrf: hmac::Key,
    ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// Why a key file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(transparent)]
    File(#[from] keyfile::KeyFileError),
    #[error("{0} must hold exactly {KEY_LEN} bytes")]
    Length(String),
    #[error("token key: {0}")]
    Jwt(String),
}

/// What every token of this installation must satisfy: HS256 only (`none` and every other
/// algorithm refused), `audience`, the issuer, the spec claims present, and 5 s of leeway.
fn validation(audience: &str) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.set_audience(&[audience]);
    v.set_issuer(&[ISSUER]);
    v.set_required_spec_claims(&["exp", "iat", "aud", "iss", "sub"]);
    v.leeway = 5;
    v
}

impl TokenKeys {
    /// Reads the key file, creating it (mode 0600) on first start.
    pub fn load_or_create(path: &Path, ttl: Duration) -> Result<TokenKeys, KeyError> {
        if !path.exists() {
            keyfile::write_new(path, &rand::random::<[u8; KEY_LEN]>())?;
            tracing::info!(path = %path.display(), "created the web token key");
        }
        let bytes = keyfile::read(path)?;
        if bytes.len() != KEY_LEN {
            return Err(KeyError::Length(path.display().to_string()));
        }
        Self::from_bytes(&bytes, ttl)
    }

    /// Keys from raw bytes.
    pub fn from_bytes(bytes: &[u8], ttl: Duration) -> Result<TokenKeys, KeyError> {
        if bytes.len() != KEY_LEN {
            return Err(KeyError::Length("the token key".into()));
        }
        Ok(TokenKeys {
            enc: EncodingKey::from_secret(bytes).map_err(|e| KeyError::Jwt(e.to_string()))?,
            dec: DecodingKey::from_secret(bytes).map_err(|e| KeyError::Jwt(e.to_string()))?,
            csrf: hmac::Key::new(hmac::HMAC_SHA256, bytes),
            ttl,
        })
    }

    /// Lifetime of one token.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// A token for `s`, ending at the token lifetime or the sign-in's end, whichever is first.
    pub fn issue(&self, s: &WebSession) -> Result<(String, i64), jsonwebtoken::errors::Error> {
        let now = clock::now();
        let exp = (now + self.ttl.as_secs() as i64).min(s.expires_at);
        let claims = Claims {
            sub: s.user.username.to_string(),
            sid: s.id.clone(),
            scope: if s.scope == Scope::Full { "full" } else { "enrol" }.to_owned(),
            iat: now,
            exp,
            aud: AUDIENCE.to_owned(),
            iss: ISSUER.to_owned(),
        };
        Ok((jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)?, exp))
    }

    /// Checks signature (HS256 only: `none` and every other algorithm are refused), expiry,
    /// audience and issuer.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.dec, &validation(AUDIENCE)).ok().map(|d| d.claims)
    }

    /// A token for one hop of the live view to the node `node` running session `session`,
    /// asked for on behalf of `viewer` (already authorised by the node that asks), valid
    /// [`HOP_TTL`] seconds. Its audience is never accepted as a sign-in, nor a sign-in's here.
    pub fn issue_hop(&self, viewer: &str, session: i64, node: &str) -> Result<String, jsonwebtoken::errors::Error> {
        let now = clock::now();
        let claims = HopClaims { sub: viewer.to_owned(), session, node: node.to_owned(), iat: now, exp: now + HOP_TTL, aud: HOP_AUDIENCE.to_owned(), iss: ISSUER.to_owned() };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)
    }

    /// Checks a hop token: signature (HS256 only), expiry, audience and issuer.
    pub fn verify_hop(&self, token: &str) -> Option<HopClaims> {
        jsonwebtoken::decode::<HopClaims>(token, &self.dec, &validation(HOP_AUDIENCE)).ok().map(|d| d.claims)
    }

    /// The CSRF token of a sign-in: an HMAC of its id, so it needs no storage and differs
    /// for every sign-in.
    pub fn csrf(&self, sid: &str) -> String {
        let tag = hmac::sign(&self.csrf, format!("csrf|{sid}").as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag.as_ref())
    }

    /// Whether `given` is the CSRF token of `sid` (constant-time comparison).
    pub fn csrf_ok(&self, sid: &str, given: &str) -> bool {
        let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(given.trim()) else { return false };
        hmac::verify(&self.csrf, format!("csrf|{sid}").as_bytes(), &raw).is_ok()
    }
}
