//! Test fixture for the broker's unit tests: every core service over a fresh SQLite file,
//! with vendors, devices, grants and session rows made through core's own services, the way
//! an operator and an approver would make them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::state::ActiveSession;
use portcullis_core::admin::{Admin, NewDeviceSpec, NewUserSpec};
use portcullis_core::approvals::{ApprovalInput, ApproveOutcome, Approvals, RequestInput};
use portcullis_core::audit::{AuditLog, AuditSigner};
use portcullis_core::auth::AuthService;
use portcullis_core::backlog::Backlog;
use portcullis_core::config::Config;
use portcullis_core::domain::{ChannelSet, Criticality, DeviceName, NodeId, Role, Username, Zone};
use portcullis_core::live::LiveHub;
use portcullis_core::policy::Policy;
use portcullis_core::store::{DeviceRecord, GrantRecord, Store, UserRecord};
use portcullis_core::vault::{Credential, Vault};
use portcullis_core::webauth::WebAuth;
use portcullis_core::sessions::{SessionStart, Sessions};
use portcullis_core::Context;

/// An OpenSSH public key line (for vendor keys and device host keys).
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGTVRpWbUzHHjUfJOT6sTbMJ/5Q2wQsvL41eenCzMebD x";
/// Actor of administrative changes in tests.
const ACTOR: &str = "cli:test";
/// The vendor's address in tests.
pub const PEER: &str = "192.0.2.7:50000";

/// Every service over one fresh SQLite store.
pub struct World {
    pub ctx: Context,
    pub admin: Admin,
    /// Approves requests.
    pub approver: Username,
    _dir: tempfile::TempDir,
}

impl World {
    pub async fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let text = format!("[store]\nurl = \"{url}\"\n");
        let config = Config::from_parts(&text, &dir.path().join("portcullis.toml"), &[]).unwrap();
        let store = Store::open(&url).await.unwrap();
        let vault = Vault::from_key(&rand::random::<[u8; 32]>()).unwrap();
        let signer = AuditSigner::from_pkcs8(&AuditSigner::generate_pkcs8().unwrap()).unwrap();
        let audit = AuditLog::new(store.clone(), signer, 100);
        let auth = AuthService::new(store.clone(), vault.clone(), audit.clone(), config.auth.clone());
        let approvals = Approvals::new(store.clone(), audit.clone(), Policy::with_windows(config.policy.clone(), config.windows.clone()), config.approval.clone());
        let webauth = WebAuth::new(store.clone(), vault.clone(), audit.clone(), auth.clone(), config.auth.clone(), config.web.session_max.0);
        let admin = Admin::new(store.clone(), vault.clone(), audit.clone(), config.auth.clone());
        let sessions = Sessions::new(store.clone(), audit.clone(), NodeId::parse("test-node").unwrap());
        let backlog = Backlog::new(sessions.clone(), audit.feed().clone());
        let alerts = portcullis_core::alerts::Alerts::new(store.clone(), audit.clone(), config.alerts.clone(), approvals.policy().clone());
        let breakglass = portcullis_core::breakglass::BreakGlass::new(store.clone(), audit.clone(), approvals.policy().clone(), config.breakglass.clone());
        let ctx = Context { config: std::sync::Arc::new(config), store, vault, audit, auth, approvals, alerts, breakglass, webauth, sessions, live: LiveHub::default(), backlog, shards: Default::default(), drain: Default::default(), recstore: portcullis_core::recstore::RecStore::local(), lease: Default::default() };
        let approver = Username::parse("boss").unwrap();
        admin.create_user(ACTOR, NewUserSpec::new(approver.clone(), Role::Approver, "Hospital")).await.unwrap();
        World { ctx, admin, approver, _dir: dir }
    }

    /// Enrols a vendor.
    pub async fn vendor(&self, name: &str) -> UserRecord {
        let name = Username::parse(name).unwrap();
        self.admin.create_user(ACTOR, NewUserSpec::new(name.clone(), Role::Vendor, "Acme Medical").ssh_keys(vec![KEY.to_owned()])).await.unwrap();
        self.ctx.store.require_user(&name).await.unwrap()
    }

    /// Enrols a standard device (one approval) that lists TCP port 443.
    pub async fn device(&self, name: &str) -> DeviceRecord {
        let spec = NewDeviceSpec {
            name: DeviceName::parse(name).unwrap(),
            address: "10.20.0.12:22".into(),
            login: "service".into(),
            credential: Credential::Password("pump-s3cret-pw".into()),
            host_key: KEY.into(),
            criticality: Criticality::Standard,
            zone: Zone::parse("icu").unwrap(),
            tcp_ports: vec![443],
            phi: false,
        };
        self.admin.create_device(ACTOR, spec).await.unwrap()
    }

    /// A current grant of `minutes` of `channels`, asked for by `vendor` and approved.
    pub async fn grant(&self, vendor: &UserRecord, dev: &DeviceRecord, minutes: i64, channels: &ChannelSet) -> GrantRecord {
        let ap = &self.ctx.approvals;
        let req = ap.create_request(RequestInput::new(&vendor.username, &dev.name, "INC-1 firmware update", minutes).channels(channels).peer(PEER)).await.unwrap();
        match ap.approve(ApprovalInput::new(req.id, &self.approver, "test")).await.unwrap() {
            ApproveOutcome::Granted(g) => g,
            other => panic!("not granted: {other:?}"),
        }
    }

    /// The session row a first bridged channel under `grant` writes.
    pub async fn session(&self, vendor: &UserRecord, dev: &DeviceRecord, grant: &GrantRecord) -> ActiveSession {
        let id = self.ctx.sessions.start(SessionStart { user: vendor, grant, device: dev, peer: PEER }).await.unwrap();
        ActiveSession { id, grant: grant.clone() }
    }
}
