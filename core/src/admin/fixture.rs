//! Test fixture shared by the admin and decision tests: every service over one test store,
//! users and devices enrolled through [`Admin`], and TOTP codes computed from the sealed
//! secret as an authenticator app would.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::{Admin, NewDeviceSpec, NewUserSpec};
use crate::approvals::{ApprovalInput, Approvals, ApproveOutcome, RequestInput};
use crate::audit::{self, AuditLog, AuditRow};
use crate::auth::{totp_owner, AuthService};
use crate::config::{ApprovalConfig, AuthConfig, PolicyConfig};
use crate::domain::{Criticality, DeviceName, NodeId, Role, SessionId, Username, Zone};
use crate::policy::Policy;
use crate::sessions::{SessionStart, Sessions};
use crate::store::Store;
use crate::testdb::{audit_log, TestStore};
use crate::totp::{Totp, STEP_SECS};
use crate::vault::{Credential, Vault};
use crate::webauth::WebAuth;

/// An OpenSSH public key line made by `ssh-keygen -t ed25519 -C x`.
pub const VENDOR_KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGTVRpWbUzHHjUfJOT6sTbMJ/5Q2wQsvL41eenCzMebD x";
/// Its fingerprint as `ssh-keygen -lf` prints it.
pub const VENDOR_KEY_FP: &str = "SHA256:xszIaIUyLkUpW+Kg1B4PDkbgNXQ8di0pURd9BwLTAwA";
/// Actor of administrative changes in tests.
pub const ACTOR: &str = "cli:test";

/// Every service over one store.
pub struct World {
    pub name: &'static str,
    pub store: Store,
    pub vault: Vault,
    pub audit: AuditLog,
    pub admin: Admin,
    pub approvals: Approvals,
    pub auth: AuthService,
    pub webauth: WebAuth,
    pub sessions: Sessions,
}

impl World {
    pub fn new(t: &TestStore) -> World {
        let store = t.store.clone();
        let vault = Vault::from_key(&rand::random::<[u8; 32]>()).unwrap();
        let audit = audit_log(&store, 100);
        let cfg = AuthConfig::default();
        World {
            name: t.name,
            admin: Admin::new(store.clone(), vault.clone(), audit.clone(), cfg.clone()),
            approvals: Approvals::new(store.clone(), audit.clone(), Policy::new(PolicyConfig::default()), ApprovalConfig::default()),
            webauth: WebAuth::new(
                store.clone(),
                vault.clone(),
                audit.clone(),
                AuthService::new(store.clone(), vault.clone(), audit.clone(), cfg.clone()),
                cfg.clone(),
                std::time::Duration::from_secs(3600),
            ),
            auth: AuthService::new(store.clone(), vault.clone(), audit.clone(), cfg),
            sessions: Sessions::new(store.clone(), audit.clone(), NodeId::parse("test-node").unwrap()),
            store,
            vault,
            audit,
        }
    }

    /// A session started by vendor `jdoe` under a grant an approver gave on device `pump-1`
    /// (from `peer`); returns it and the vendor's name.
    pub async fn started_session(&self, peer: &str) -> (SessionId, String) {
        let vendor = self.user("jdoe", Role::Vendor).await;
        let nurse = self.user("nurse", Role::Approver).await;
        let dev = self.device("pump-1", Criticality::Standard).await;
        let req = self.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-1", 30).peer(peer)).await.unwrap();
        let ApproveOutcome::Granted(grant) = self.approvals.approve(ApprovalInput::new(req.id, &nurse, "test")).await.unwrap() else {
            panic!("not granted")
        };
        let user = self.store.require_user(&vendor).await.unwrap();
        let device = self.store.require_device(&dev).await.unwrap();
        let id = self.sessions.start(SessionStart { user: &user, grant: &grant, device: &device, peer }).await.unwrap();
        (id, vendor.to_string())
    }

    /// Enrols a user (vendors get [`VENDOR_KEY`]).
    pub async fn user(&self, name: &str, role: Role) -> Username {
        let name = Username::parse(name).unwrap();
        let keys = if role == Role::Vendor { vec![VENDOR_KEY.to_owned()] } else { Vec::new() };
        self.admin.create_user(ACTOR, NewUserSpec::new(name.clone(), role, "Acme Medical").ssh_keys(keys)).await.unwrap();
        name
    }

    /// A device spec with a password credential.
    pub fn device_spec(name: &str, criticality: Criticality) -> NewDeviceSpec {
        NewDeviceSpec {
            name: DeviceName::parse(name).unwrap(),
            address: "10.20.0.12:22".into(),
            login: "service".into(),
            credential: Credential::Password("pump-s3cret-pw".into()),
            host_key: VENDOR_KEY.into(),
            criticality,
            zone: Zone::parse("icu").unwrap(),
            tcp_ports: vec![443],
            phi: false,
        }
    }

    /// Enrols a device.
    pub async fn device(&self, name: &str, criticality: Criticality) -> DeviceName {
        let spec = Self::device_spec(name, criticality);
        let name = spec.name.clone();
        self.admin.create_device(ACTOR, spec).await.unwrap();
        name
    }

    /// The whole audit log, oldest first.
    pub async fn audit_rows(&self) -> Vec<AuditRow> {
        audit::tail(&self.store, 100_000).await.unwrap()
    }

    /// Audit rows of one kind.
    pub async fn audit_of(&self, kind: &str) -> Vec<AuditRow> {
        self.audit_rows().await.into_iter().filter(|r| r.kind == kind).collect()
    }

    /// The user's TOTP generator, opened from the vault like the broker does.
    pub async fn totp(&self, name: &Username) -> Totp {
        let user = self.store.require_user(name).await.unwrap();
        let secret = self.vault.open_bytes(&totp_owner(name), &user.totp_secret).unwrap();
        Totp::new(secret, "Portcullis", name.as_str()).unwrap()
    }
}

/// The current TOTP step.
pub fn current_step() -> u64 {
    crate::clock::now() as u64 / STEP_SECS
}

/// A six-digit code that matches no step near now.
pub fn wrong_code(t: &Totp) -> String {
    let s = current_step();
    let near: Vec<String> = (s - 3..=s + 3).map(|step| t.code_at_step(step)).collect();
    (0..1000u32).map(|n| format!("{:06}", n * 997)).find(|c| !near.contains(c)).unwrap()
}
