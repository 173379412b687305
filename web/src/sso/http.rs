//! The HTTP client the OpenID library calls (discovery, keys, token endpoint): reqwest over
//! rustls (aws-lc-rs), no redirects followed (a provider's answer that redirects is an
//! error, so the broker cannot be steered to another address), a timeout, and answers read
//! up to [`MAX_BODY`] only.

use openidconnect::{HttpRequest, HttpResponse};
use std::time::Duration;

/// Largest answer read from the provider.
pub const MAX_BODY: usize = 1 << 20;

/// Why a call to the provider failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Reqwest(#[from] reqwest::Error),
    #[error("the provider's answer is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("{0}")]
    Http(#[from] openidconnect::http::Error),
}

/// The client: no redirects, 10 s per call.
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).timeout(Duration::from_secs(10)).build()
}

/// Sends `req` with `client`.
pub async fn send(client: reqwest::Client, req: HttpRequest) -> Result<HttpResponse, HttpError> {
    let (parts, body) = req.into_parts();
    let mut resp = client.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
    let status = resp.status();
    let headers = resp.headers().clone();
    let mut bytes = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if bytes.len() + chunk.len() > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    let mut out = openidconnect::http::Response::builder().status(status).body(bytes)?;
    *out.headers_mut() = headers;
    Ok(out)
}
