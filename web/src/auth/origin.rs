//! Origin checking for state-changing requests made with the cookie: the browser's `Origin`
//! (or, failing that, `Referer`) must be this site (`https://` + the Host it addressed) or
//! one of `web.allowed_origins`. A request with neither header is refused: every browser
//! that sends cookies sends one of them on a cross-site POST.

use axum::http::header::{HeaderMap, HOST, ORIGIN, REFERER};

/// Whether the request comes from an allowed origin.
pub fn allowed(headers: &HeaderMap, extra: &[String]) -> bool {
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else { return false };
    let own = format!("https://{host}");
    let origin = headers
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| headers.get(REFERER).and_then(|v| v.to_str().ok()).and_then(origin_of));
    match origin {
        Some(o) => o.eq_ignore_ascii_case(&own) || extra.iter().any(|e| e.eq_ignore_ascii_case(&o)),
        None => false,
    }
}

/// `scheme://host[:port]` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn h(pairs: &[(axum::http::header::HeaderName, &'static str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(k.clone(), HeaderValue::from_static(v));
        }
        m
    }

    #[test]
    fn same_site_only() {
        assert!(allowed(&h(&[(HOST, "pc:8443"), (ORIGIN, "https://pc:8443")]), &[]));
        assert!(allowed(&h(&[(HOST, "pc:8443"), (REFERER, "https://pc:8443/requests?x=1")]), &[]));
        assert!(!allowed(&h(&[(HOST, "pc:8443"), (ORIGIN, "https://evil.example")]), &[]));
        assert!(!allowed(&h(&[(HOST, "pc:8443"), (ORIGIN, "http://pc:8443")]), &[]));
        assert!(!allowed(&h(&[(HOST, "pc:8443"), (ORIGIN, "null")]), &[]));
        assert!(!allowed(&h(&[(HOST, "pc:8443")]), &[]));
        assert!(allowed(&h(&[(HOST, "10.0.0.1"), (ORIGIN, "https://portcullis.example")]), &["https://portcullis.example".into()]));
    }
}
