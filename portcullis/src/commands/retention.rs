//! `portcullis retention run`: archive or delete the recordings older than
//! `retention.recordings_after` now, as the running node's housekeeping does periodically;
//! each one is an audit row. Exits 1 if any recording could not be handled.

use crate::cli::RetentionCmd;
use crate::output::{self, Table};
use portcullis_core::{clock, retention, Context};

/// Runs one `retention` command.
pub async fn run(ctx: &Context, cmd: RetentionCmd) -> anyhow::Result<()> {
    let RetentionCmd::Run { out } = cmd;
    if ctx.config.retention.recordings_after.is_none() {
        anyhow::bail!("retention is off: set [retention] recordings_after in the configuration");
    }
    let done = retention::run(&ctx.store, &ctx.recstore, &ctx.audit, &ctx.config.retention, &crate::caller::cli_actor(), clock::now()).await?;
    let failed = done.iter().filter(|r| r.error.is_some()).count();
    if out.json {
        output::json(&done)?;
    } else {
        let mut t = Table::new(&["SESSION", "N", "ACTION", "PATH", "NOW AT / ERROR"]);
        for r in &done {
            let where_ = r.error.clone().or_else(|| r.archive_path.clone()).unwrap_or_else(|| "-".into());
            t.row(vec![r.session_id.to_string(), r.channel.to_string(), r.action.clone(), r.path.clone(), where_]);
        }
        output::print(&t.render("(no recordings due)"))?;
    }
    anyhow::ensure!(failed == 0, "{failed} recordings could not be handled");
    Ok(())
}
