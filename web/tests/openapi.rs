//! The OpenAPI document: every route the router serves is in it and nothing else is, every
//! documented route answers (not 404/405), and the document is valid OpenAPI (checked by
//! `openapi-spec-validator`, which scripts/test.sh installs).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use axum::http::{Method, StatusCode};
use portcullis_web::api::openapi::ApiDoc;
use std::collections::BTreeSet;
use support::client::Api;
use utoipa::OpenApi;

fn documented() -> BTreeSet<(String, String)> {
    let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let served: BTreeSet<(String, String)> = portcullis_web::api::router().list.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    let doc = documented();
    let missing: Vec<_> = served.difference(&doc).collect();
    let extra: Vec<_> = doc.difference(&served).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    assert!(extra.is_empty(), "documented but not served: {extra:?}");
    assert!(served.len() >= 20, "{served:?}");
}

#[tokio::test]
async fn every_documented_route_answers() {
    let api = Api::new("sqlite").await;
    for (method, path) in documented() {
        let path = path.replace("{id}", "1").replace("{name}", "nobody");
        let m = Method::from_bytes(method.as_bytes()).unwrap();
        let body = (m == Method::POST).then(|| serde_json::json!({}));
        let a = api.call(m, &path, &[], body).await;
        assert!(a.status != StatusCode::NOT_FOUND && a.status != StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {}", a.status);
    }
}

#[test]
fn the_document_is_valid_openapi() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, ApiDoc::openapi().to_pretty_json().unwrap()).unwrap();
    let out = std::process::Command::new("python3")
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "openapi-spec-validator refused the document (is it installed? scripts/test.sh installs it):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
