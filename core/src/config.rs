//! The typed configuration: one TOML file, then `PORTCULLIS_<SECTION>_<KEY>` environment
//! variables on top. Unknown keys in the file and unknown `PORTCULLIS_*` variables are errors,
//! so a typo never silently falls back to a default. Relative paths are resolved against the
//! folder holding the file. Secrets (the store URL may carry a password) are not printed by
//! `Debug`.

use crate::domain::NodeId;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod alerts;
mod breakglass;
mod dur;
mod env;
mod export;
mod maintenance;
mod metrics;
mod notify;
mod oidc;
mod policy;
mod proxy;
mod recording;
mod retention;
mod startups;
pub use alerts::{AlertsConfig, NotifyLevel, SeverityTable, WorkingHours};
pub use breakglass::BreakGlassConfig;
pub use dur::Dur;
pub use startups::MaxStartups;
pub use metrics::MetricsConfig;
pub use export::{ExportConfig, ExportFormat, ExportTarget, SinkConfig};
pub use notify::{is_loopback_host, MailAddress, NotifyConfig, PublicUrl, SmtpConfig, SmtpMode, WebhookUrl, MAX_RETRY_WAIT};
pub use oidc::{OidcConfig, RoleRefusal};
pub use maintenance::{MaintenanceConfig, WindowEntry};
pub use policy::{OutsideWindow, PolicyConfig, PolicyRule, MAX_BREAK_GLASS_MINUTES};
pub use proxy::ProxyConfig;
pub use recording::{RecordingConfig, RecordingStore, S3Config, S3Credentials};
pub use retention::{RetentionAction, RetentionConfig};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Parse { path: PathBuf, source: Box<toml::de::Error> },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// The whole configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Folder the relative paths below were resolved against (not a file key).
    #[serde(skip)]
    pub base_dir: PathBuf,
    #[serde(default)]
    pub node: NodeConfig,
    #[serde(default)]
    pub ssh: SshConfig,
    #[serde(default)]
    pub web: WebConfig,
    #[serde(default)]
    pub proxy: ProxyConfig,
    pub store: StoreConfig,
    #[serde(default)]
    pub vault: VaultConfig,
    #[serde(default)]
    pub audit: AuditConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub approval: ApprovalConfig,
    #[serde(default)]
    pub policy: PolicyConfig,
    /// Maintenance windows as written (`[[maintenance.windows]]`).
    #[serde(default)]
    pub maintenance: MaintenanceConfig,
    /// The same, checked (filled at load; not a file key).
    #[serde(skip)]
    pub windows: crate::maintenance::Windows,
    /// Alert rules and severities (`[alerts]`).
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// Break-glass review time and evidence folder (`[breakglass]`).
    #[serde(default)]
    pub breakglass: BreakGlassConfig,
    #[serde(default)]
    pub session: SessionConfig,
    #[serde(default)]
    pub recording: RecordingConfig,
    #[serde(default)]
    pub notify: NotifyConfig,
    #[serde(default)]
    pub export: ExportConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    /// The Prometheus listener.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Single sign-on for staff; none: password and TOTP only.
    #[serde(default)]
    pub oidc: Option<OidcConfig>,
}

/// This broker node.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// The node's identity, recorded with every session it runs; a node restarting after a
    /// crash closes the sessions recorded under its id. Every node sharing one store needs
    /// its own.
    pub id: NodeId,
    /// On SIGTERM, how long sessions get before they are closed (see [`crate::drain`]).
    pub drain_timeout: Dur,
    /// How often the node renews its lease in the store (see [`crate::lease`]).
    pub heartbeat: Dur,
    /// How long a lease lasts unrenewed before another node takes the node as lost and closes
    /// its sessions; more than twice `heartbeat`.
    pub lease: Dur,
    /// `https://HOST:PORT` at which the other nodes reach this node's web listener; empty:
    /// the address it is bound to.
    pub web_url: String,
}

impl Default for NodeConfig {
    /// The host name, made fit for a node id.
    fn default() -> Self {
        let host = hostname::get().ok().and_then(|h| h.into_string().ok()).unwrap_or_default();
        Self { id: NodeId::from_host_name(&host), drain_timeout: Dur(Duration::from_secs(300)), heartbeat: Dur(Duration::from_secs(5)), lease: Dur(Duration::from_secs(30)), web_url: String::new() }
    }
}

/// The vendors' SSH listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SshConfig {
    pub listen: SocketAddr,
    /// OpenSSH private key file of the broker's host key.
    pub host_key: PathBuf,
    /// Time a connection has to finish signing in, counted from the TCP accept (OpenSSH's
    /// `LoginGraceTime`).
    pub preauth_timeout: Dur,
    /// Connections allowed at once that have not authenticated yet.
    pub max_unauthenticated: usize,
    /// Authenticated connections allowed at once.
    pub max_sessions: usize,
    /// Connections one source (an IPv4 address or an IPv6 /64) may have signing in at once
    /// (OpenSSH's `PerSourceMaxStartups`).
    pub per_source_max_startups: usize,
    /// Random early drop of new connections while many are signing in (`MaxStartups`).
    pub max_startups: MaxStartups,
    /// Penalty a source accrues for a connection that ends without signing in.
    pub penalty_failed: Dur,
    /// Penalty for a connection that lets the sign-in deadline pass.
    pub penalty_grace_exceeded: Dur,
    /// Penalty a source must accrue before its new connections are refused.
    pub penalty_min: Dur,
    /// Longest penalty; `0s` turns penalties off.
    pub penalty_max: Dur,
    /// The host name vendors use to reach the broker, in the commands and `~/.ssh/config`
    /// blocks the broker suggests; empty means the address the vendor connected to.
    pub public_host: String,
    /// The port vendors use (a load balancer's, say); 0 means the port they connected to.
    pub public_port: u16,
}

impl Default for SshConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 2222)),
            host_key: PathBuf::from("keys/ssh_host_ed25519"),
            preauth_timeout: Dur(Duration::from_secs(60)),
            max_unauthenticated: 64,
            max_sessions: 1000,
            per_source_max_startups: 10,
            max_startups: MaxStartups::default(),
            penalty_failed: Dur(Duration::from_secs(1)),
            penalty_grace_exceeded: Dur(Duration::from_secs(10)),
            penalty_min: Dur(Duration::from_secs(15)),
            penalty_max: Dur(Duration::from_secs(600)),
            public_host: String::new(),
            public_port: 0,
        }
    }
}

/// The HTTPS listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    pub listen: SocketAddr,
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
    /// 32-byte key that signs sign-in tokens and CSRF tokens (made by `init`; every node of
    /// one installation needs the same file).
    pub token_key: PathBuf,
    /// Lifetime of one signed token; the page renews it while the sign-in lasts.
    pub token_ttl: Dur,
    /// Longest a sign-in lasts before the password and code are asked again.
    pub session_max: Dur,
    /// Origins (scheme://host[:port]) allowed to send state-changing requests besides the
    /// one the browser addressed (`https://` + Host), e.g. behind a reverse proxy.
    pub allowed_origins: Vec<String>,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            tls_cert: PathBuf::from("tls/cert.pem"),
            tls_key: PathBuf::from("tls/key.pem"),
            token_key: PathBuf::from("keys/web_token.key"),
            token_ttl: Dur(Duration::from_secs(15 * 60)),
            session_max: Dur(Duration::from_secs(12 * 3600)),
            allowed_origins: Vec::new(),
        }
    }
}

/// Where the database is.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// `sqlite://PATH` or `postgres://…`.
    pub url: String,
    /// SQLite only: the free space, in MiB, below which the database's filesystem counts as
    /// full. Sign-ins are then refused and running sessions end while their last rows still
    /// fit (0 turns the check off).
    #[serde(default = "default_min_free_mib")]
    pub min_free_mib: u64,
}

fn default_min_free_mib() -> u64 {
    16
}

impl std::fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = self.url.split("://").next().unwrap_or("?");
        f.debug_struct("StoreConfig").field("url", &format!("{scheme}://…")).finish()
    }
}

/// The credential vault's key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaultConfig {
    pub key_file: PathBuf,
}

impl Default for VaultConfig {
    fn default() -> Self {
        Self { key_file: PathBuf::from("keys/vault.key") }
    }
}

/// The audit log's signed checkpoints.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// PKCS#8 Ed25519 key that signs checkpoints.
    pub signing_key: PathBuf,
    /// A checkpoint is signed after this many new rows …
    pub checkpoint_every: u64,
    /// … or after this much time with at least one new row.
    pub checkpoint_interval: Dur,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            signing_key: PathBuf::from("keys/audit_ed25519.pk8"),
            checkpoint_every: 100,
            checkpoint_interval: Dur(Duration::from_secs(300)),
        }
    }
}

/// Sign-in rules shared by SSH and the web page.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Wrong codes in a row before the account is locked.
    pub max_failures: u32,
    /// How long a locked account stays locked.
    pub lockout: Dur,
    /// TOTP steps of clock skew accepted either side.
    pub totp_skew: u8,
    /// Issuer shown in authenticator apps.
    pub totp_issuer: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            max_failures: 5,
            lockout: Dur(Duration::from_secs(15 * 60)),
            totp_skew: 1,
            totp_issuer: "Portcullis".into(),
        }
    }
}

/// How vendors wait for approval.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalConfig {
    /// How long an interactive SSH session waits for a decision.
    pub wait_timeout: Dur,
    /// A pending request nobody decided expires after this.
    pub request_ttl: Dur,
    /// Window length offered when the vendor just presses Enter.
    pub default_minutes: u32,
    /// How far ahead an approver may schedule a window to start.
    pub schedule_ahead: Dur,
}

impl ApprovalConfig {
    /// `schedule_ahead` in seconds.
    pub fn max_schedule_ahead(&self) -> i64 {
        self.schedule_ahead.0.as_secs() as i64
    }
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        Self {
            wait_timeout: Dur(Duration::from_secs(30 * 60)),
            request_ttl: Dur(Duration::from_secs(24 * 3600)),
            default_minutes: 60,
            schedule_ahead: Dur(Duration::from_secs(14 * 86_400)),
        }
    }
}

/// Running sessions.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// Warnings shown to the vendor this long before the window ends.
    pub warn_before: Vec<Dur>,
    /// How often the broker looks for revocations and stop requests made elsewhere.
    pub control_poll: Dur,
    /// How long a graceful stop (the default on the web page) warns before closing.
    pub stop_grace: Dur,
    /// How long a vendor on a moderated device waits for a moderator before giving up.
    pub moderator_wait: Dur,
    /// How long a moderated session goes on, input paused, after its last moderator left.
    pub moderator_grace: Dur,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            warn_before: vec![Dur(Duration::from_secs(300)), Dur(Duration::from_secs(60))],
            control_poll: Dur(Duration::from_millis(500)),
            stop_grace: Dur(Duration::from_secs(60)),
            moderator_wait: Dur(Duration::from_secs(600)),
            moderator_grace: Dur(Duration::from_secs(120)),
        }
    }
}


impl Config {
    /// Reads the file, applies the process environment, resolves relative paths and checks it.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::from_parts(&text, path, &vars)
    }

    /// As `load`, with the file text and environment given (for tests).
    pub fn from_parts(text: &str, path: &Path, vars: &[(String, String)]) -> Result<Config, ConfigError> {
        let mut config: Config = toml::from_str(text)
            .map_err(|e| ConfigError::Parse { path: path.to_owned(), source: Box::new(e) })?;
        for (var, value) in vars {
            env::apply(&mut config, var, value)?;
        }
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.resolve_paths();
        config.check()?;
        config.windows = config.maintenance.windows()?;
        config.alerts.check()?;
        // The PROXY header must come within the sign-in deadline too.
        config.proxy.header_timeout = config.proxy.header_timeout.min(config.ssh.preauth_timeout);
        Ok(config)
    }

    fn resolve_paths(&mut self) {
        let base = self.base_dir.clone();
        for p in [
            &mut self.ssh.host_key,
            &mut self.web.tls_cert,
            &mut self.web.tls_key,
            &mut self.web.token_key,
            &mut self.vault.key_file,
            &mut self.audit.signing_key,
            &mut self.recording.dir,
            &mut self.retention.archive_dir,
            &mut self.breakglass.evidence_dir,
        ] {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        if let Some(p) = self.oidc.as_mut().and_then(|o| o.client_secret_file.as_mut()) {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        for ca in self.export.sinks.iter_mut().filter_map(|s| s.ca_file.as_mut()) {
            if ca.is_relative() {
                *ca = base.join(&*ca);
            }
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.auth.max_failures == 0 {
            return Err(ConfigError::Invalid("auth.max_failures must be at least 1".into()));
        }
        if self.node.heartbeat.0 < Duration::from_secs(1) || self.node.lease.0 <= self.node.heartbeat.0 * 2 {
            return Err(ConfigError::Invalid("node.heartbeat must be at least 1s and node.lease more than twice node.heartbeat".into()));
        }
        if !self.node.web_url.is_empty() && !self.node.web_url.starts_with("https://") {
            return Err(ConfigError::Invalid("node.web_url must start with https://".into()));
        }
        self.policy.check()?;
        self.breakglass.check()?;
        self.notify.check()?;
        self.export.check()?;
        self.retention.check()?;
        self.proxy.check()?;
        self.recording.check()?;
        if let Some(o) = &self.oidc {
            o.check()?;
        }
        if self.web.token_ttl.0 < Duration::from_secs(30) || self.web.session_max.0 < self.web.token_ttl.0 {
            return Err(ConfigError::Invalid("web.token_ttl must be at least 30s and at most web.session_max".into()));
        }
        if self.approval.default_minutes == 0 {
            return Err(ConfigError::Invalid("window lengths must be at least 1 minute".into()));
        }
        if self.approval.default_minutes > self.policy.max_minutes {
            return Err(ConfigError::Invalid(
                "approval.default_minutes exceeds policy.max_minutes".into(),
            ));
        }
        if !self.ssh.public_host.is_empty() && !is_host(&self.ssh.public_host) {
            return Err(ConfigError::Invalid("ssh.public_host must be a host name or an IP address".into()));
        }
        if self.ssh.per_source_max_startups == 0 {
            return Err(ConfigError::Invalid("ssh.per_source_max_startups must be at least 1".into()));
        }
        if self.ssh.max_unauthenticated == 0 || self.ssh.max_sessions == 0 {
            return Err(ConfigError::Invalid("ssh connection caps must be at least 1".into()));
        }
        Ok(())
    }
}

/// An IP address or a DNS name (letters, digits, `-` and `.`): what may stand after `@` in an
/// ssh command line and after `HostName` in an ssh config file.
fn is_host(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
        || (s.len() <= 253 && s.split('.').all(|l| !l.is_empty() && l.len() <= 63 && !l.starts_with('-') && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')))
}

#[cfg(test)]
mod tests;
