//! An API client for tests that calls the real router in process (everything but the TLS
//! listener, which tests/https.rs covers): users made through the core admin service, codes
//! computed from their sealed TOTP secrets as an authenticator would, and sign-ins through
//! `POST /api/v1/auth/login`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use portcullis_core::approvals::RequestInput;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use portcullis_core::admin::{NewDeviceSpec, NewUserSpec};
use portcullis_core::auth::totp_owner;
use portcullis_core::domain::{Criticality, DeviceName, Role, Username, Zone};
use portcullis_core::totp::{Totp, STEP_SECS};
use portcullis_core::vault::Credential;
use portcullis_web::auth::token::TokenKeys;
use portcullis_web::AppState;
use serde_json::{json, Value};
use std::time::Duration;
use tower::ServiceExt;

/// Host every test request addresses; the same-site Origin is `https://` + this.
pub const HOST: &str = "portcullis.test:8443";
pub const ORIGIN: &str = "https://portcullis.test:8443";
pub const PASSWORD: &str = "correct horse battery";
/// A valid OpenSSH public key line.
pub const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGTVRpWbUzHHjUfJOT6sTbMJ/5Q2wQsvL41eenCzMebD x";

/// The app over one back end.
pub struct Api {
    pub backend: &'static str,
    pub state: AppState,
    pub router: Router,
    pub key: [u8; 32],
    _dir: tempfile::TempDir,
}

/// A signed-in user.
#[derive(Clone, Debug)]
pub struct Signed {
    pub name: String,
    pub token: String,
    pub csrf: String,
}

/// An answer.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Api {
    /// SQLite and PostgreSQL, each freshly made.
    pub async fn both() -> Vec<Api> {
        vec![Self::new("sqlite").await, Self::new("postgres").await]
    }

    pub async fn new(backend: &'static str) -> Api {
        Self::with_config(backend, "").await
    }

    /// As [`Api::new`], with more configuration (TOML sections) appended.
    pub async fn with_config(backend: &'static str, extra: &str) -> Api {
        let dir = tempfile::tempdir().unwrap();
        let url = match backend {
            "sqlite" => format!("sqlite://{}", dir.path().join("p.db").display()),
            _ => super::fresh_pg_url().await,
        };
        let ctx = super::context_with(dir.path(), &url, &format!("[session]\nstop_grace = \"30s\"\n{extra}")).await;
        let key = super::rand_key();
        let state = AppState::new(ctx, TokenKeys::from_bytes(&key, Duration::from_secs(900)).unwrap(), "test".into(), "9.9.9-test");
        let router = portcullis_web::router(state.clone());
        Api { backend, state, router, key, _dir: dir }
    }

    /// Sends one request; `auth` adds the bearer token, `cookie` sends it as the cookie.
    pub async fn call(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Answer {
        let mut b = Request::builder().method(method).uri(path).header("host", HOST);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b.header("content-type", "application/json").body(Body::from(v.to_string())).unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, req: Request<Body>) -> Answer {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer { status, headers, body }
    }

    /// GET/POST with the bearer token.
    pub async fn bearer(&self, s: &Signed, method: Method, path: &str, body: Option<Value>) -> Answer {
        let auth = format!("Bearer {}", s.token);
        self.call(method, path, &[("authorization", &auth)], body).await
    }

    /// POST with the cookie, same-site Origin and the CSRF header, as the page's script does.
    pub async fn page_post(&self, s: &Signed, path: &str, body: Value) -> Answer {
        let cookie = format!("__Host-portcullis={}", s.token);
        self.call(Method::POST, path, &[("cookie", &cookie), ("origin", ORIGIN), ("x-csrf-token", &s.csrf)], Some(body)).await
    }

    /// Enrols a web user with a permanent password.
    pub async fn user(&self, name: &str, role: Role) -> Username {
        let n = Username::parse(name).unwrap();
        let pw = (role != Role::Vendor).then(|| PASSWORD.to_owned());
        let keys = if role == Role::Vendor { vec![KEY.to_owned()] } else { Vec::new() };
        self.state.admin.create_user("test", NewUserSpec::new(n.clone(), role, "Acme").ssh_keys(keys.to_vec()).password(pw)).await.unwrap();
        n
    }

    /// Enrols a device.
    pub async fn device(&self, name: &str, c: Criticality) -> DeviceName {
        let spec = NewDeviceSpec {
            name: DeviceName::parse(name).unwrap(),
            address: "10.20.0.12:22".into(),
            login: "service".into(),
            credential: Credential::Password("device-secret-pw".into()),
            host_key: KEY.into(),
            criticality: c,
            zone: Zone::parse("icu").unwrap(),
            tcp_ports: vec![],
            phi: false,
        };
        let n = spec.name.clone();
        self.state.admin.create_device("test", spec).await.unwrap();
        n
    }

    /// The code an authenticator shows for `name` now.
    pub async fn code(&self, name: &str) -> String {
        let n = Username::parse(name).unwrap();
        let user = self.state.ctx.store.require_user(&n).await.unwrap();
        let secret = self.state.ctx.vault.open_bytes(&totp_owner(&n), &user.totp_secret).unwrap();
        let t = Totp::new(secret, "Portcullis", name).unwrap();
        t.code_at_step(portcullis_core::clock::now() as u64 / STEP_SECS)
    }

    /// Signs in through the API (each user once per 30-second step: codes are single-use).
    pub async fn login(&self, name: &str) -> Signed {
        let code = self.code(name).await;
        let a = self.call(Method::POST, "/api/v1/auth/login", &[], Some(json!({"username": name, "password": PASSWORD, "code": code}))).await;
        assert_eq!(a.status, StatusCode::OK, "{}: login {name}: {:?}", self.backend, a.body);
        Signed { name: name.into(), token: a.body["token"].as_str().unwrap().into(), csrf: a.body["csrf"].as_str().unwrap().into() }
    }

    /// A pending request by `vendor` for `device`.
    pub async fn request(&self, vendor: &Username, device: &DeviceName) -> i64 {
        self.state.ctx.approvals.create_request(RequestInput::new(vendor, device, "INC-7 firmware check", 30).peer("127.0.0.1:1")).await.unwrap().id.0
    }

    /// Audit rows of one kind.
    pub async fn audit_of(&self, kind: &str) -> Vec<portcullis_core::audit::AuditRow> {
        portcullis_core::audit::tail(&self.state.ctx.store, 100_000).await.unwrap().into_iter().filter(|r| r.kind == kind).collect()
    }
}

/// Asserts the error shape and status.
pub fn assert_error(a: &Answer, status: u16, code: &str) {
    assert_eq!(a.status.as_u16(), status, "{:?}", a.body);
    assert_eq!(a.body["error"]["code"], code, "{:?}", a.body);
    assert!(a.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{:?}", a.body);
}

/// A fixed role list for loops.
pub const DECIDER: Role = Role::Approver;
pub fn lc() -> Criticality {
    Criticality::LifeCritical
}
