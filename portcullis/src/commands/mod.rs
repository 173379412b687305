//! The administrative commands: each opens the services named by the configuration file,
//! does one thing through the core services (so the rules are the same as on the web page),
//! prints a table or JSON, and — when it may have written to the audit log — signs a
//! checkpoint before exiting so the log's tail is covered by a signature.

mod audit;
mod devices;
mod evidence;
pub mod init;
mod requests;
mod retention;
mod sessions;
mod users;

use crate::cli::{Cli, Command, DeviceCmd, EvidenceCmd, RequestCmd, SessionCmd, UserCmd};
use anyhow::Context as _;
use portcullis_core::{Config, Context};
use std::path::Path;

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { config, command } = cli;
    match command {
        Command::Init(args) => init::run(args).await,
        Command::Serve => crate::serve::run(&config).await,
        Command::Demo(args) => crate::demo::run(args).await,
        Command::User(cmd) => {
            let writes = !matches!(cmd, UserCmd::List { .. } | UserCmd::Show { .. });
            let ctx = open(&config).await?;
            finish(&ctx, writes, users::run(&ctx, cmd).await).await
        }
        Command::Device(cmd) => {
            let writes = !matches!(cmd, DeviceCmd::List { .. } | DeviceCmd::Show { .. });
            let ctx = open(&config).await?;
            finish(&ctx, writes, devices::run(&ctx, cmd).await).await
        }
        Command::Request(cmd) => {
            let writes = !matches!(cmd, RequestCmd::List { .. } | RequestCmd::Show { .. });
            let ctx = open(&config).await?;
            finish(&ctx, writes, requests::run(&ctx, cmd).await).await
        }
        Command::Session(cmd) => {
            let writes = !matches!(cmd, SessionCmd::List { .. } | SessionCmd::Show { .. } | SessionCmd::Verify { .. });
            let ctx = open(&config).await?;
            finish(&ctx, writes, sessions::run(&ctx, cmd).await).await
        }
        Command::Audit(cmd) => {
            let ctx = open(&config).await?;
            finish(&ctx, false, audit::run(&ctx, cmd).await).await
        }
        // Offline: no configuration, no database.
        Command::Evidence(EvidenceCmd::Verify { file, public_key, key_id, out }) => evidence::verify(&file, public_key.as_deref(), key_id, out),
        Command::Evidence(EvidenceCmd::Export { session, output, out }) => {
            let ctx = open(&config).await?;
            finish(&ctx, true, evidence::export(&ctx, session, &output, out).await).await
        }
        Command::Retention(cmd) => {
            let ctx = open(&config).await?;
            finish(&ctx, true, retention::run(&ctx, cmd).await).await
        }
    }
}

/// Loads the configuration (file, then environment) and opens the services.
pub async fn open(config: &Path) -> anyhow::Result<Context> {
    let cfg = Config::load(config).with_context(|| format!("cannot load the configuration (--config {})", config.display()))?;
    Context::open(cfg).await.context("cannot open the Portcullis store and keys")
}

/// Signs a checkpoint after a command that may have written (whether it succeeded or was
/// refused: a refusal is audited too), then closes the store. The command's own error wins.
async fn finish(ctx: &Context, writes: bool, result: anyhow::Result<()>) -> anyhow::Result<()> {
    let signed = if writes { ctx.audit.checkpoint().await.map(|_| ()) } else { Ok(()) };
    ctx.store.close().await;
    result?;
    signed.context("signing the audit checkpoint")
}

/// The audit actor for changes made at the command line: `cli:` and the operating-system
/// user when it is a plain name, else just `cli`.
pub fn cli_actor() -> String {
    let os_user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
    actor_for(&os_user)
}

fn actor_for(os_user: &str) -> String {
    let plain = !os_user.is_empty()
        && os_user.len() <= 32
        && os_user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        format!("cli:{os_user}")
    } else {
        "cli".to_owned()
    }
}

/// Reads a small text file given on the command line.
pub fn read_arg_file(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_names_are_plain() {
        assert_eq!(actor_for("root"), "cli:root");
        assert_eq!(actor_for(""), "cli");
        assert_eq!(actor_for("evil\nuser"), "cli");
        assert_eq!(actor_for("a b"), "cli");
    }
}
