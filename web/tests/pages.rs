//! The approver pages in process (router and a real context over SQLite, no browser): roles
//! are enforced on the server, form posts need this site's Origin and the sign-in's CSRF
//! token, domain refusals come back as a page with a clear message, and the static files have
//! their content types and a long cache. The browser-driven tests are in tests/e2e.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use portcullis_core::approvals::{RequestInput, ApprovalInput};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use portcullis_core::admin::{NewDeviceSpec, NewUserSpec};
use portcullis_core::domain::{Criticality, DeviceName, RequestId, RequestState, Role, Username, Zone};
use portcullis_core::totp::Totp;
use portcullis_core::vault::Credential;
use portcullis_core::webauth::SignIn;
use portcullis_web::AppState;
use tower::ServiceExt;

const HOST_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJZEQfikHFM1diPcvO4jLYg9gdY56d7xc3Y83ov/rpzK";

struct Reply {
    status: StatusCode,
    location: Option<String>,
    content_type: String,
    cache: String,
    body: String,
}

struct World {
    state: AppState,
    app: Router,
    _dir: tempfile::TempDir,
}

/// A signed-in page visitor: the cookie header and the CSRF token pages embed.
struct Visitor {
    cookie: String,
    csrf: String,
}

impl World {
    async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let ctx = support::sqlite_context(dir.path()).await;
        let state = support::state(ctx, "Ward 3");
        let app = portcullis_web::router(state.clone());
        World { state, app, _dir: dir }
    }

    /// A web account with a permanent password, signed in (password + TOTP) directly.
    async fn visitor(&self, name: &str, role: Role) -> Visitor {
        let user = Username::parse(name).unwrap();
        let password = format!("{name}-long-enough-password");
        self.state.admin.create_user("test", NewUserSpec::new(user.clone(), role, "").password(Some(password.clone()))).await.unwrap();
        // The secret as an authenticator holds it: opened from the vault like the broker does.
        let rec = self.state.ctx.store.require_user(&user).await.unwrap();
        let secret = self.state.ctx.vault.open_bytes(&portcullis_core::auth::totp_owner(&user), &rec.totp_secret).unwrap();
        let totp = Totp::new(secret, "Portcullis", name).unwrap();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let code = totp.code_at_step(now / 30);
        let s = match self.state.ctx.webauth.sign_in(name, &password, &code, "127.0.0.1:1").await.unwrap() {
            Ok(SignIn::Done(s)) => s,
            other => panic!("sign-in of {name}: {other:?}"),
        };
        let (token, _) = self.state.keys.issue(&s).unwrap();
        Visitor { cookie: format!("{}={token}", portcullis_web::auth::cookie::NAME), csrf: self.state.keys.csrf(&s.id) }
    }

    /// A vendor, a device and a pending request; returns the request id.
    async fn pending_request(&self, criticality: Criticality) -> RequestId {
        let vendor = Username::parse("acme-vic").unwrap();
        if self.state.ctx.store.user_by_name(&vendor).await.unwrap().is_none() {
            self.state.admin.create_user("test", NewUserSpec::new(vendor.clone(), Role::Vendor, "Acme").ssh_keys(vec![HOST_KEY.into()])).await.unwrap();
        }
        let device = DeviceName::parse(&format!("pump-{}", criticality.as_str())).unwrap();
        let spec = NewDeviceSpec {
            name: device.clone(),
            address: "127.0.0.1:22".into(),
            login: "service".into(),
            credential: Credential::Password("device-secret".into()),
            host_key: HOST_KEY.into(),
            criticality,
            zone: Zone::parse("icu").unwrap(),
            tcp_ports: vec![],
            phi: false,
        };
        self.state.admin.create_device("test", spec).await.unwrap();
        self.state.ctx.approvals.create_request(RequestInput::new(&vendor, &device, "INC-9 check", 30).peer("127.0.0.1:2")).await.unwrap().id
    }

    async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.app.clone().oneshot(req).await.unwrap();
        let h = |n: header::HeaderName| resp.headers().get(n).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let (status, location, content_type, cache) =
            (resp.status(), h(header::LOCATION), h(header::CONTENT_TYPE).unwrap_or_default(), h(header::CACHE_CONTROL).unwrap_or_default());
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
        Reply { status, location, content_type, cache, body: String::from_utf8_lossy(&bytes).into_owned() }
    }

    async fn get(&self, path: &str, who: Option<&Visitor>) -> Reply {
        let mut b = Request::get(path).header(header::HOST, "localhost");
        if let Some(v) = who {
            b = b.header(header::COOKIE, &v.cookie);
        }
        self.send(b.body(Body::empty()).unwrap()).await
    }

    /// A form post from `origin` (None: no Origin header).
    async fn post(&self, path: &str, who: Option<&Visitor>, origin: Option<&str>, form: &str) -> Reply {
        let mut b = Request::post(path).header(header::HOST, "localhost").header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(o) = origin {
            b = b.header(header::ORIGIN, o);
        }
        if let Some(v) = who {
            b = b.header(header::COOKIE, &v.cookie);
        }
        self.send(b.body(Body::from(form.to_owned())).unwrap()).await
    }

    async fn state_of(&self, id: RequestId) -> RequestState {
        self.state.ctx.store.request(id).await.unwrap().unwrap().state
    }
}

const SITE: &str = "https://localhost";

#[tokio::test]
async fn visitors_are_sent_to_sign_in_and_a_failed_sign_in_says_one_thing() {
    let w = World::new().await;
    let r = w.get("/requests", None).await;
    assert_eq!((r.status, r.location.as_deref()), (StatusCode::SEE_OTHER, Some("/login")));
    let r = w.get("/login", None).await;
    assert!(r.body.contains("form class=\"card\" id=\"login\"") || r.body.contains("id=\"login\""), "{}", r.body);

    let r = w.post("/login", None, Some("https://evil.example"), "username=x&password=y&code=1").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = w.post("/login", None, Some(SITE), "username=nobody&password=wrong-password&code=123456").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("class=\"error\"") && r.body.contains("Sign-in failed"), "{}", r.body);
}

#[tokio::test]
async fn auditors_read_but_cannot_decide_even_by_posting() {
    let w = World::new().await;
    let id = w.pending_request(Criticality::Standard).await;
    let auditor = w.visitor("otto", Role::Auditor).await;

    let r = w.get("/requests", Some(&auditor)).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains(&format!("data-request-id=\"{}\"", id.0)), "{}", r.body);
    assert!(!r.body.contains("class=\"approve\"") && !r.body.contains("class=\"deny\""), "an auditor sees decision forms");

    let form = format!("_csrf={}&minutes=10", auditor.csrf);
    let r = w.post(&format!("/requests/{}/approve", id.0), Some(&auditor), Some(SITE), &form).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(w.state_of(id).await, RequestState::Pending);
    let r = w.get("/admin/users", Some(&auditor)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn approve_needs_origin_and_csrf_and_refusals_read_plainly() {
    let w = World::new().await;
    let id = w.pending_request(Criticality::LifeCritical).await;
    let nina = w.visitor("nina", Role::Approver).await;
    let path = format!("/requests/{}/approve", id.0);

    let r = w.post(&path, Some(&nina), Some(SITE), "minutes=10").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "no _csrf field: {}", r.body);
    let r = w.post(&path, Some(&nina), Some(SITE), "_csrf=forged&minutes=10").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let form = format!("_csrf={}&minutes=10", nina.csrf);
    let r = w.post(&path, Some(&nina), Some("https://evil.example"), &form).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = w.post(&path, Some(&nina), None, &form).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(w.state.ctx.store.request(id).await.unwrap().unwrap().approvals.len(), 0);

    // Life-critical: one approval is recorded, the page says how many are in.
    let r = w.post(&path, Some(&nina), Some(SITE), &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let to = r.location.unwrap();
    assert!(to.starts_with("/requests?done=recorded"), "{to}");
    let r = w.get(&to, Some(&nina)).await;
    assert!(r.body.contains("class=\"flash\"") && r.body.contains("(1 of 2)"), "{}", r.body);
    assert!(r.body.contains("1 of 2 approvals"), "{}", r.body);

    // The same approver again: refused by the core, shown as a message, still pending.
    let r = w.post(&path, Some(&nina), Some(SITE), &form).await;
    assert!(r.status.is_client_error(), "{}: {}", r.status, r.body);
    assert!(r.body.contains("class=\"error\"") && r.body.contains("already approved"), "{}", r.body);
    assert_eq!(w.state_of(id).await, RequestState::Pending);

    // A bad window is refused before the core is asked.
    let form = format!("_csrf={}&minutes=0", nina.csrf);
    let r = w.post(&path, Some(&nina), Some(SITE), &form).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("at least 1"), "{}", r.body);

    // Deny with a reason.
    let form = format!("_csrf={}&reason=not+during+the+night+shift", nina.csrf);
    let r = w.post(&format!("/requests/{}/deny", id.0), Some(&nina), Some(SITE), &form).await;
    assert_eq!(r.location.as_deref(), Some(format!("/requests?done=denied&id={}", id.0).as_str()), "{}", r.body);
    assert_eq!(w.state_of(id).await, RequestState::Denied);
    let r = w.get("/history?state=denied", Some(&nina)).await;
    assert!(r.body.contains("not during the night shift"), "{}", r.body);
}

#[tokio::test]
async fn sign_out_ends_the_sign_in() {
    let w = World::new().await;
    let nina = w.visitor("nina", Role::Approver).await;
    assert_eq!(w.get("/sessions", Some(&nina)).await.status, StatusCode::OK);
    let r = w.post("/logout", Some(&nina), Some(SITE), &format!("_csrf={}", nina.csrf)).await;
    assert_eq!(r.location.as_deref(), Some("/login"));
    let r = w.get("/sessions", Some(&nina)).await;
    assert_eq!(r.location.as_deref(), Some("/login"), "the old cookie still works");
}

#[tokio::test]
async fn static_files_have_types_and_a_long_cache() {
    let w = World::new().await;
    for (path, ty) in [("/static/app.css", "text/css"), ("/static/app.js", "text/javascript"), ("/static/favicon.svg", "image/svg+xml")] {
        let r = w.get(path, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}");
        assert!(r.content_type.starts_with(ty), "{path}: {}", r.content_type);
        assert!(r.cache.contains("max-age=31536000"), "{path}: {}", r.cache);
    }
    assert_eq!(w.get("/static/../Cargo.toml", None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(w.get("/static/nope.js", None).await.status, StatusCode::NOT_FOUND);
    // Pages themselves are never cached.
    assert_eq!(w.get("/login", None).await.cache, "no-store");
}

#[tokio::test]
async fn an_approver_may_grant_fewer_channels_than_asked() {
    let w = World::new().await;
    let vendor = Username::parse("acme-vic").unwrap();
    w.state.admin.create_user("test", NewUserSpec::new(vendor.clone(), Role::Vendor, "Acme").ssh_keys(vec![HOST_KEY.into()])).await.unwrap();
    let device = DeviceName::parse("dicom-node").unwrap();
    let spec = NewDeviceSpec {
        name: device.clone(),
        address: "127.0.0.1:22".into(),
        login: "service".into(),
        credential: Credential::Password("device-secret".into()),
        host_key: HOST_KEY.into(),
        criticality: Criticality::High,
        zone: Zone::parse("radiology").unwrap(),
        tcp_ports: vec![104],
        phi: false,
    };
    w.state.admin.create_device("test", spec).await.unwrap();
    let asked = portcullis_core::domain::ChannelSet::parse("shell,files,tcp:104").unwrap();
    let id = w.state.ctx.approvals.create_request(RequestInput::new(&vendor, &device, "INC-5 DICOM echo", 30).channels(&asked).peer("127.0.0.1:2")).await.unwrap().id;
    let nina = w.visitor("nina", Role::Approver).await;
    let page = w.get("/requests", Some(&nina)).await;
    assert!(page.body.contains("name=\"offered\"") && page.body.contains("tcp:104"), "{}", page.body);

    let path = format!("/requests/{}/approve", id.0);
    let none = format!("_csrf={}&minutes=10&offered=shell%2Cfiles%2Ctcp%3A104", nina.csrf);
    let r = w.post(&path, Some(&nina), Some(SITE), &none).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "nothing ticked: {}", r.body);
    let more = format!("_csrf={}&minutes=10&offered=shell&grant_0=tcp%3A22", nina.csrf);
    let r = w.post(&path, Some(&nina), Some(SITE), &more).await;
    assert!(r.status.is_client_error(), "more than asked: {}", r.body);
    let some = format!("_csrf={}&minutes=10&offered=shell%2Cfiles%2Ctcp%3A104&grant_0=shell&grant_2=tcp%3A104", nina.csrf);
    let r = w.post(&path, Some(&nina), Some(SITE), &some).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let grant = w.state.ctx.store.grant_of_request(id).await.unwrap().unwrap();
    assert_eq!(grant.channels.to_string(), "shell,tcp:104");
}

#[tokio::test]
async fn an_approver_revokes_a_window_from_the_history() {
    let w = World::new().await;
    let id = w.pending_request(Criticality::High).await;
    let nina = w.visitor("nina", Role::Approver).await;
    let qa = w.visitor("quinn", Role::Auditor).await;
    w.state.ctx.approvals.approve(ApprovalInput::new(id, &Username::parse("nina").unwrap(), "test")).await.unwrap();
    let page = w.get("/history", Some(&nina)).await;
    assert!(page.body.contains(&format!("action=\"/requests/{}/revoke\"", id.0)), "{}", page.body);
    assert!(!w.get("/history", Some(&qa)).await.body.contains("/revoke\""), "auditors get no revoke button");

    let path = format!("/requests/{}/revoke", id.0);
    let r = w.post(&path, Some(&qa), Some(SITE), &format!("_csrf={}", qa.csrf)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = w.post(&path, Some(&nina), Some(SITE), "_csrf=forged").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = w.post(&path, Some(&nina), Some(SITE), &format!("_csrf={}", nina.csrf)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(w.state_of(id).await, RequestState::Revoked);
    let r = w.get(r.location.as_deref().unwrap(), Some(&nina)).await;
    assert!(r.body.contains("revoked") && !r.body.contains(&format!("action=\"/requests/{}/revoke\"", id.0)), "{}", r.body);
}

#[tokio::test]
async fn the_audit_page_lists_rows_and_verifies_the_chain() {
    let w = World::new().await;
    let id = w.pending_request(Criticality::High).await;
    let qa = w.visitor("quinn", Role::Auditor).await;
    let nina = w.visitor("nina", Role::Approver).await;
    assert_eq!(w.get("/audit", Some(&nina)).await.status, StatusCode::FORBIDDEN);
    let page = w.get("/audit?kind=request.", Some(&qa)).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("request.created") && page.body.contains(&format!("request:{}", id.0)), "{}", page.body);
    assert!(!page.body.contains("<code>auth.login</code>"), "filtered by kind");
    let r = w.post("/audit/verify", Some(&qa), Some(SITE), "_csrf=forged").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = w.post("/audit/verify", Some(&qa), Some(SITE), &format!("_csrf={}", qa.csrf)).await;
    assert!(r.body.contains("class=\"verified\"") && r.body.contains("No signed checkpoint yet"), "{}", r.body);
    let cp = w.state.ctx.audit.checkpoint().await.unwrap().unwrap();
    let r = w.post("/audit/verify", Some(&qa), Some(SITE), &format!("_csrf={}", qa.csrf)).await;
    assert!(r.body.contains(&format!("Latest signed checkpoint: row {}", cp.seq)), "{}", r.body);
}

#[tokio::test]
async fn an_admin_changes_a_device_on_its_page_and_an_auditor_cannot() {
    let w = World::new().await;
    w.pending_request(Criticality::Standard).await;
    let boss = w.visitor("boss", Role::Admin).await;
    let auditor = w.visitor("otto", Role::Auditor).await;
    let page = "/admin/devices/pump-standard";
    let name = DeviceName::parse("pump-standard").unwrap();

    let r = w.get(page, Some(&boss)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for form in ["device-settings", "device-credential", "device-host-key"] {
        assert!(r.body.contains(&format!("id=\"{form}\"")), "{form} missing: {}", r.body);
    }
    assert!(!r.body.contains("device-secret"), "the credential was shown");
    assert_eq!(w.get(page, Some(&auditor)).await.status, StatusCode::FORBIDDEN);
    let form = format!("_csrf={}&zone=or", auditor.csrf);
    assert_eq!(w.post(&format!("{page}/settings"), Some(&auditor), Some(SITE), &form).await.status, StatusCode::FORBIDDEN);

    let form = format!("_csrf={}&address=127.0.0.1%3A2222&login=svc&criticality=high&zone=or&tcp_ports=104%2C+443", boss.csrf);
    let r = w.post(&format!("{page}/settings"), Some(&boss), Some(SITE), &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location.as_deref(), Some("/admin/devices/pump-standard?done=device-changed&id=pump-standard"));
    let d = w.state.ctx.store.require_device(&name).await.unwrap();
    assert_eq!((d.address.as_str(), d.criticality, d.zone.as_str(), d.tcp_ports.clone()), ("127.0.0.1:2222", Criticality::High, "or", vec![104, 443]));

    // Refusals come back as the page with the reason, and change nothing.
    let form = format!("_csrf={}&host_key=ssh-ed25519+garbage", boss.csrf);
    let r = w.post(&format!("{page}/host-key"), Some(&boss), Some(SITE), &form).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("host key"), "{}", r.body);
    let form = format!("_csrf={}&host_key={}", boss.csrf, HOST_KEY.replace(' ', "+"));
    let r = w.post(&format!("{page}/host-key"), Some(&boss), Some(SITE), &form).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("already"), "{}", r.body);
    let other = "ssh-ed25519+AAAAC3NzaC1lZDI1NTE5AAAAIA38UI7MkRWsfgx0aP2PQKALzA3jN6LJ07k9OVDsV18r";
    let r = w.post(&format!("{page}/host-key"), Some(&boss), Some(SITE), &format!("_csrf={}&host_key={other}", boss.csrf)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(w.state.ctx.store.require_device(&name).await.unwrap().host_key, other.replace('+', " "));

    let form = format!("_csrf={}&password=n3w-page-secret", boss.csrf);
    let r = w.post(&format!("{page}/credential"), Some(&boss), Some(SITE), &form).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let d = w.state.ctx.store.require_device(&name).await.unwrap();
    assert_eq!(w.state.ctx.vault.open_credential(name.as_str(), &d.credential).unwrap(), Credential::Password("n3w-page-secret".into()));
    let r = w.get(&format!("{page}?done=device-rotated&id=pump-standard"), Some(&boss)).await;
    assert!(r.body.contains("new credential is sealed") && !r.body.contains("n3w-page-secret"), "{}", r.body);
    // Without this site's Origin nothing happens.
    let form = format!("_csrf={}&password=other-secret", boss.csrf);
    assert_eq!(w.post(&format!("{page}/credential"), Some(&boss), Some("https://evil.example"), &form).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_replaces_a_vendors_key_and_sets_its_end_on_its_page() {
    let w = World::new().await;
    w.pending_request(Criticality::Standard).await;
    let boss = w.visitor("boss", Role::Admin).await;
    let auditor = w.visitor("otto", Role::Auditor).await;
    let page = "/admin/users/acme-vic";
    let vic = Username::parse("acme-vic").unwrap();
    let fingerprints = || async { w.state.admin.user_keys(&vic).await.unwrap().into_iter().map(|k| k.fingerprint).collect::<Vec<_>>() };
    let old = fingerprints().await;

    let r = w.get(page, Some(&boss)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("id=\"user-keys\"") && r.body.contains(&old[0]), "{}", r.body);
    assert_eq!(w.get(page, Some(&auditor)).await.status, StatusCode::FORBIDDEN);
    let form = format!("_csrf={}", auditor.csrf);
    assert_eq!(w.post(&format!("{page}/reset-totp"), Some(&auditor), Some(SITE), &form).await.status, StatusCode::FORBIDDEN);

    // The last key stays; a new one is added, then the old one removed.
    let remove_old = format!("_csrf={}&fingerprint={}", boss.csrf, old[0].replace('+', "%2B").replace('/', "%2F"));
    let r = w.post(&format!("{page}/key-remove"), Some(&boss), Some(SITE), &remove_old).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("last SSH key"), "{}", r.body);
    let add = format!("_csrf={}&ssh_key=ssh-ed25519+AAAAC3NzaC1lZDI1NTE5AAAAIA38UI7MkRWsfgx0aP2PQKALzA3jN6LJ07k9OVDsV18r+vic%40new", boss.csrf);
    assert_eq!(w.post(&format!("{page}/key-add"), Some(&boss), Some(SITE), &add).await.status, StatusCode::SEE_OTHER);
    assert_eq!(w.post(&format!("{page}/key-remove"), Some(&boss), Some(SITE), &remove_old).await.status, StatusCode::SEE_OTHER);
    let now = fingerprints().await;
    assert_eq!(now.len(), 1);
    assert_ne!(now, old);

    // An end date in the past stops the account; a bad date changes nothing.
    let r = w.post(&format!("{page}/expiry"), Some(&boss), Some(SITE), &format!("_csrf={}&expires=soon", boss.csrf)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = w.post(&format!("{page}/expiry"), Some(&boss), Some(SITE), &format!("_csrf={}&expires=2020-01-31", boss.csrf)).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(w.state.ctx.store.require_user(&vic).await.unwrap().expired_at(portcullis_core::clock::now()));
    let r = w.get("/admin/users", Some(&boss)).await;
    assert!(r.body.contains("expired"), "{}", r.body);

    // A new authenticator is shown once.
    let r = w.post(&format!("{page}/reset-totp"), Some(&boss), Some(SITE), &format!("_csrf={}", boss.csrf)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("otpauth://") || r.body.contains("totp-secret"), "{}", r.body);
    assert_eq!(w.state.ctx.store.list_users().await.unwrap().len(), 3);
}
