//! Setting up a new data folder, shared by `init` and `demo`: creates the folder (keys, TLS
//! certificate, recordings folder), opens and migrates the store, audits
//! `system.initialised`, enrols the first administrator and signs a checkpoint; the
//! configuration file is written last, so it only exists for a folder whose initialisation
//! finished. It prints nothing: each command shows the result its own way.

use crate::caller::cli_actor;
use crate::datadir::{self, Layout};
use anyhow::Context as _;
use portcullis_core::admin::{Admin, Enrolment, NewUserSpec};
use portcullis_core::audit::{Event, Kind, Subject};
use portcullis_core::domain::{Role, Username};
use portcullis_core::keyfile;
use portcullis_core::store::UserRecord;
use portcullis_core::{Config, Context};
use serde_json::json;
use std::net::SocketAddr;

/// Name of the first administrator.
pub const FIRST_ADMIN: &str = "admin";

/// Where the SSH listener of a production install listens by default.
pub const DEFAULT_SSH_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 2222);

/// An initialised data folder, with its services open.
pub struct Initialised {
    pub layout: Layout,
    pub ctx: Context,
    pub admin: UserRecord,
    pub enrolment: Enrolment,
    /// Fingerprint of the broker's SSH host key.
    pub host_key_fingerprint: String,
}

/// The SQLite file holds sealed secrets and password hashes: readable by its owner only.
fn restrict_sqlite_file(layout: &Layout, ctx: &Context) {
    #[cfg(unix)]
    if ctx.store.backend() == portcullis_core::store::Backend::Sqlite {
        use std::os::unix::fs::PermissionsExt;
        for name in ["portcullis.db", "portcullis.db-wal", "portcullis.db-shm"] {
            let file = layout.dir.join(name);
            if !file.exists() {
                continue;
            }
            if let Err(e) = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)) {
                tracing::warn!(file = %file.display(), error = %e, "cannot make the database file private");
            }
        }
    }
}

/// Creates and initialises `layout`'s folder. The SSH listener written to the configuration
/// is `ssh_listen` (environment variables still override it).
pub async fn initialise(layout: Layout, ssh_listen: SocketAddr) -> anyhow::Result<Initialised> {
    let config_path = layout.config();
    anyhow::ensure!(!config_path.exists(), "{} already exists; refusing to initialise over it", config_path.display());
    let store_url = std::env::var("PORTCULLIS_STORE_URL").ok().filter(|u| !u.trim().is_empty());
    let text = datadir::config_text(store_url.as_deref().unwrap_or(&layout.sqlite_url()), ssh_listen);
    let vars: Vec<(String, String)> = std::env::vars().collect();
    let config = Config::from_parts(&text, &config_path, &vars).context("the configuration init would write is invalid")?;
    initialise_from(layout, config, Some((config_path, text))).await
}

/// Initialises `layout`'s folder for the configuration file that already exists at
/// `config_path` (the Debian package's `/etc/portcullis/portcullis.toml`): the keys, the TLS
/// certificate and the recordings folder are created where it names them, and no
/// configuration file is written.
pub async fn initialise_with(layout: Layout, config_path: &std::path::Path) -> anyhow::Result<Initialised> {
    let config = Config::load(config_path).with_context(|| format!("cannot load the configuration {}", config_path.display()))?;
    initialise_from(layout, config, None).await
}

/// The steps both share; `write` is the configuration file to write last, if any.
async fn initialise_from(layout: Layout, config: Config, write: Option<(std::path::PathBuf, String)>) -> anyhow::Result<Initialised> {
    std::fs::create_dir_all(&layout.dir).with_context(|| format!("creating {}", layout.dir.display()))?;
    let host_key_fingerprint = datadir::create_files(&config)?;
    let ctx = Context::open(config).await.context("cannot open the new store")?;
    restrict_sqlite_file(&layout, &ctx);
    anyhow::ensure!(
        ctx.store.audit_head().await? == 0,
        "the database already holds a Portcullis audit log; init needs an empty database"
    );
    let actor = cli_actor();
    let detail = json!({
        "data_dir": layout.dir.display().to_string(),
        "backend": format!("{:?}", ctx.store.backend()).to_lowercase(),
        "audit_key_id": ctx.audit.signer().key_id(),
        "ssh_host_key": host_key_fingerprint,
    });
    ctx.audit.record(Event::new(actor.as_str(), Kind::SystemInitialised, Subject::System, detail)).await?;
    let name = Username::parse(FIRST_ADMIN)?;
    let (admin, enrolment) = Admin::from_context(&ctx).create_user(&actor, NewUserSpec::new(name.clone(), Role::Admin, "")).await?;
    ctx.audit.checkpoint().await.context("signing the first audit checkpoint")?;
    if let Some((path, text)) = write {
        keyfile::write_new(&path, text.as_bytes())?;
    }
    Ok(Initialised { layout, ctx, admin, enrolment, host_key_fingerprint })
}
