//! The sign-in cookie: `__Host-` prefixed (so it is Secure, host-only and for the whole
//! site), HttpOnly and SameSite=Strict. Parsing reads only our cookie and ignores the rest.

use axum::http::header::{HeaderMap, COOKIE};

/// Name of the cookie holding the signed token.
pub const NAME: &str = "__Host-portcullis";

/// `Set-Cookie` value carrying `token` until `exp` (Unix seconds).
pub fn set(token: &str, max_age_secs: i64) -> String {
    format!("{NAME}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}", max_age_secs.max(0))
}

/// `Set-Cookie` value that removes the cookie.
pub fn clear() -> String {
    format!("{NAME}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// Our cookie's value, if the request carries it.
pub fn read(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == NAME)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}
