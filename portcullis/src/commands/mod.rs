//! The administrative commands: each opens the services named by the configuration file,
//! does one thing through the core services (so the rules are the same as on the web page),
//! prints a table or JSON, and — when it may have written to the audit log — signs a
//! checkpoint before exiting so the log's tail is covered by a signature. [`run`] also hands
//! `serve` and `demo` to their own modules, which build on [`crate::open`] and
//! [`crate::setup`], never on this one.

mod accounts;
mod alerts;
mod audit;
mod backup;
mod contain;
mod device_changes;
mod devices;
mod evidence;
mod init;
mod inventory;
mod proof;
mod requests;
mod restore;
mod retention;
mod sessions;
mod users;

use crate::cli::{Cli, Command, ContainCmd, DeviceCmd, EvidenceCmd, RequestCmd, SessionCmd, UserCmd};
use crate::open::open;
use anyhow::Context as _;
use portcullis_core::Context;

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let Cli { config, command } = cli;
    match command {
        Command::Init(args) => init::run(args, &config).await,
        Command::Serve { out } => crate::serve::run(&config, out.json).await,
        Command::Demo(args) => crate::demo::run(args).await,
        Command::User(cmd) => {
            let writes = !matches!(cmd, UserCmd::List { .. } | UserCmd::Show { .. } | UserCmd::Key(crate::cli::UserKeyCmd::List { .. }));
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
        Command::Contain(cmd) => {
            let writes = !matches!(cmd, ContainCmd::List { .. });
            let ctx = open(&config).await?;
            finish(&ctx, writes, contain::run(&ctx, cmd).await).await
        }
        Command::Audit(cmd) => {
            let ctx = open(&config).await?;
            finish(&ctx, false, audit::run(&ctx, cmd).await).await
        }
        // Offline: no configuration, no database.
        Command::Evidence(EvidenceCmd::Verify { file, public_key, key_id, out }) => evidence::verify(&file, public_key.as_deref(), key_id, out),
        Command::Evidence(EvidenceCmd::Export { session, output, allow_altered, out }) => {
            let ctx = open(&config).await?;
            finish(&ctx, true, evidence::export(&ctx, session, &output, allow_altered, out).await).await
        }
        Command::Alert(cmd) => {
            let ctx = open(&config).await?;
            finish(&ctx, true, alerts::run(&ctx, cmd).await).await
        }
        Command::Retention(cmd) => {
            let ctx = open(&config).await?;
            finish(&ctx, true, retention::run(&ctx, cmd).await).await
        }
        Command::Backup(args) => {
            let ctx = open(&config).await?;
            let input = backup::BackupInput { config: &config, output: &args.output, with_recordings: args.with_recordings, json: args.out.json };
            finish(&ctx, true, backup::run(&ctx, input).await).await
        }
        // Needs no configuration: the backup brings its own.
        Command::Restore(args) => {
            restore::run(restore::RestoreInput { from: &args.from, data: &args.data, store_url: args.store_url.as_deref(), json: args.out.json }).await
        }
    }
}

/// Signs a checkpoint after a command that may have written (whether it succeeded or was
/// refused: a refusal is audited too), then closes the store. The command's own error wins.
async fn finish(ctx: &Context, writes: bool, result: anyhow::Result<()>) -> anyhow::Result<()> {
    let signed = if writes { ctx.audit.checkpoint().await.map(|_| ()) } else { Ok(()) };
    ctx.store.close().await;
    result?;
    signed.context("signing the audit checkpoint")
}
