//! Everything a process needs to act on Portcullis data, opened from the configuration in
//! one place: the store (migrated), the vault key, the audit signer, and the services built
//! on them. Each member is itself a small clonable handle.

use crate::alerts::Alerts;
use crate::approvals::Approvals;
use crate::audit::{AuditLog, AuditSigner};
use crate::auth::AuthService;
use crate::backlog::Backlog;
use crate::config::Config;
use crate::keyfile;
use crate::live::LiveHub;
use crate::shards::Shards;
use crate::policy::Policy;
use crate::sessions::Sessions;
use crate::store::Store;
use crate::vault::Vault;
use crate::webauth::WebAuth;
use std::sync::Arc;

/// Why the context could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("vault: {0}")]
    Vault(#[from] crate::vault::VaultError),
    #[error("audit key: {0}")]
    Key(#[from] keyfile::KeyFileError),
    #[error("{0}")]
    Recordings(#[from] crate::recstore::RecStoreError),
}

/// The opened services.
#[derive(Clone, Debug)]
pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    pub vault: Vault,
    pub audit: AuditLog,
    pub auth: AuthService,
    pub approvals: Approvals,
    /// Alert rules (`[alerts]`): sign-ins and wrong codes feed them through `auth`, the broker
    /// feeds the rest.
    pub alerts: Alerts,
    /// Break-glass openings and their retrospective reviews (same policy as `approvals`).
    pub breakglass: crate::breakglass::BreakGlass,
    pub webauth: WebAuth,
    /// Session lifecycle: start, end, recording seals.
    pub sessions: Sessions,
    /// Running terminals of this process, for the live view.
    pub live: LiveHub,
    /// Session ends and recording seals waiting for the store to answer again.
    pub backlog: Backlog,
    /// The single-threaded runtimes SSH connections run on (started when first used).
    pub shards: Shards,
    /// Set on SIGTERM: the node drains before it stops.
    pub drain: crate::drain::Drain,
    /// Where sealed recordings are read from and kept (local folder or bucket).
    pub recstore: crate::recstore::RecStore,
    /// The node's heartbeat lease (registered and renewed by `serve` only).
    pub lease: crate::lease::Lease,
}

impl Context {
    /// Opens the database (applying migrations) and loads the keys named by `config`.
    pub async fn open(config: Config) -> Result<Context, ContextError> {
        let config = Arc::new(config);
        let vault = Vault::open(&config.vault.key_file)?;
        let signer = AuditSigner::from_pkcs8(&keyfile::read(&config.audit.signing_key)?)?;
        let store = Store::open(&config.store.url).await?;
        let audit = AuditLog::new(store.clone(), signer, config.audit.checkpoint_every);
        let approvals = Approvals::new(store.clone(), audit.clone(), Policy::with_windows(config.policy.clone(), config.windows.clone()), config.approval.clone());
        let alerts = Alerts::new(store.clone(), audit.clone(), config.alerts.clone(), approvals.policy().clone());
        let breakglass = crate::breakglass::BreakGlass::new(store.clone(), audit.clone(), approvals.policy().clone(), config.breakglass.clone());
        let auth = AuthService::new(store.clone(), vault.clone(), audit.clone(), config.auth.clone()).with_alerts(alerts.clone());
        let webauth = WebAuth::new(store.clone(), vault.clone(), audit.clone(), auth.clone(), config.auth.clone(), config.web.session_max.0).with_sso(config.oidc.is_some());
        let sessions = Sessions::new(store.clone(), audit.clone(), config.node.id.clone());
        let backlog = Backlog::new(sessions.clone(), audit.feed().clone());
        let recstore = crate::recstore::RecStore::from_config(&config.recording)?;
        Ok(Context { config, store, vault, audit, auth, approvals, alerts, breakglass, webauth, sessions, live: LiveHub::default(), backlog, shards: Shards::default(), drain: Default::default(), recstore, lease: Default::default() })
    }
}
