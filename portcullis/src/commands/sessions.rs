//! `portcullis session …`: list brokered sessions, show one with its recordings and who has
//! viewed them (from the audit log), and ask for
//! one to be stopped. A stop is a
//! request recorded in the store; whichever broker node holds the session sees it and ends
//! the session: at once, or with `--graceful` after warning the vendor for `session.stop_grace`.

use crate::cli::{join_words, SessionCmd};
use crate::output::{self, Table};
use portcullis_core::approvals::{StopInput, StopMode};
use portcullis_core::domain::{DeviceName, RequestId, SessionId, SessionState, Username};
use portcullis_core::store::{RecordingRecord, SessionRecord};
use portcullis_core::evidence::integrity::{self, RecordingStatus};
use portcullis_core::viewing;
use portcullis_core::Context;
use serde::Serialize;

/// Reason recorded when `--reason` is not given.
const DEFAULT_REASON: &str = "stopped from the command line";

/// One session as listed.
#[derive(Debug, Serialize)]
struct SessionRow<'a> {
    id: SessionId,
    vendor: &'a Username,
    /// The vendor's organisation.
    org: &'a str,
    device: &'a DeviceName,
    request_id: RequestId,
    state: SessionState,
    started_at: String,
    ended_at: Option<String>,
    end_reason: Option<&'a str>,
    peer: &'a str,
}

impl<'a> SessionRow<'a> {
    fn of(s: &'a SessionRecord) -> Self {
        SessionRow {
            id: s.id,
            vendor: &s.vendor,
            org: &s.vendor_org,
            device: &s.device,
            request_id: s.request_id,
            state: s.state,
            started_at: output::time(s.started_at),
            ended_at: output::opt_time(s.ended_at),
            end_reason: s.end_reason.as_deref(),
            peer: &s.peer,
        }
    }
}

/// Runs one `session` command.
pub async fn run(ctx: &Context, cmd: SessionCmd) -> anyhow::Result<()> {
    match cmd {
        SessionCmd::List { active, limit, out } => {
            let sessions = ctx.store.list_sessions(active, limit.max(1)).await?;
            let rows: Vec<SessionRow> = sessions.iter().map(SessionRow::of).collect();
            if out.json {
                return output::json(&rows);
            }
            let mut t = Table::new(&["ID", "VENDOR", "ORG", "DEVICE", "REQUEST", "STATE", "STARTED", "ENDED", "PEER", "END REASON"]);
            for r in &rows {
                t.row(vec![
                    r.id.to_string(),
                    r.vendor.to_string(),
                    r.org.to_owned(),
                    r.device.to_string(),
                    r.request_id.to_string(),
                    r.state.to_string(),
                    r.started_at.clone(),
                    r.ended_at.clone().unwrap_or_else(|| "-".into()),
                    r.peer.to_owned(),
                    r.end_reason.unwrap_or("-").to_owned(),
                ]);
            }
            output::print(&t.render("(no sessions)"))?;
            Ok(())
        }
        SessionCmd::Show { id, out } => {
            let s = ctx.store.session(id).await?.ok_or_else(|| anyhow::anyhow!("no session {id}"))?;
            let recordings = ctx.store.recordings_of(id).await?;
            let subject = format!("session:{}", id.0);
            let viewed_by = viewing::viewings(&portcullis_core::audit::about(&ctx.store, [&subject, &subject]).await?);
            if out.json {
                #[derive(Serialize)]
                struct Shown<'a> {
                    #[serde(flatten)]
                    session: SessionRow<'a>,
                    recordings: &'a [RecordingRecord],
                    /// Who replayed, downloaded, watched or exported it (from the audit log).
                    viewed_by: &'a [viewing::Viewing],
                }
                return output::json(&Shown { session: SessionRow::of(&s), recordings: &recordings, viewed_by: &viewed_by });
            }
            let row = SessionRow::of(&s);
            let mut text = format!(
                "session {} — {} on {} (request #{}), {}, from {} to {}{}\n",
                row.id,
                row.vendor,
                row.device,
                row.request_id,
                row.state,
                row.started_at,
                row.ended_at.clone().unwrap_or_else(|| "-".into()),
                row.end_reason.map(|r| format!(" ({r})")).unwrap_or_default()
            );
            let mut t = Table::new(&["N", "KIND", "BYTES", "SHA256", "PATH"]);
            for r in &recordings {
                t.row(vec![
                    r.channel.to_string(),
                    r.kind.clone(),
                    r.bytes.map_or_else(|| "-".into(), |b| b.to_string()),
                    r.sha256.clone().unwrap_or_else(|| "(not sealed)".into()),
                    r.path.clone(),
                ]);
            }
            text.push_str(&t.render("(no recordings)"));
            let mut v = Table::new(&["VIEWED BY", "WHAT", "WHEN", "FROM", "ROW"]);
            for x in &viewed_by {
                let what = x.channel.map_or_else(|| x.what.to_owned(), |c| format!("{} ({c})", x.what));
                v.row(vec![x.who.clone(), what, output::time(x.at_ms.div_euclid(1000)), x.from.clone(), x.seq.to_string()]);
            }
            text.push('\n');
            text.push_str(&v.render("(nobody has replayed, downloaded, watched or exported it)"));
            output::print(&text)?;
            Ok(())
        }
        SessionCmd::Verify { id, out } => verify(ctx, id, out.json).await,
        SessionCmd::Stop { id, reason, graceful, out } => {
            let by = crate::caller::cli_actor();
            let reason = join_words(&reason);
            let reason = if reason.is_empty() { DEFAULT_REASON.to_owned() } else { reason };
            let mode = if graceful { StopMode::Graceful(ctx.config.session.stop_grace.0) } else { StopMode::Immediate };
            ctx.approvals.stop_session(StopInput::new(id, &by, &reason).mode(mode)).await?;
            if out.json {
                return output::json(&serde_json::json!({ "session": id, "stop": mode.as_str(), "by": by }));
            }
            output::line(&format!("stop requested for session {id}; the broker holding it will end it"))?;
            Ok(())
        }
    }
}

/// Recomputes each recording's SHA-256 against its sealed value; fails naming mismatches.
async fn verify(ctx: &Context, id: SessionId, json: bool) -> anyhow::Result<()> {
    let checks = integrity::check_session(&ctx.store, &ctx.recstore, id).await?;
    let bad: Vec<&str> = checks
        .iter()
        .filter(|c| matches!(c.status, RecordingStatus::Mismatch | RecordingStatus::Missing))
        .filter_map(|c| c.problem.as_deref())
        .collect();
    if json {
        output::json(&checks)?;
    } else {
        let mut t = Table::new(&["N", "KIND", "STATUS", "SEALED IN ROW", "PATH / PROBLEM"]);
        for c in &checks {
            let status = serde_json::to_value(c.status).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
            t.row(vec![
                c.channel.to_string(),
                c.kind.clone(),
                status,
                c.sealed_in_row.map_or_else(|| "-".into(), |s| s.to_string()),
                c.problem.clone().or_else(|| c.path.clone()).unwrap_or_else(|| "-".into()),
            ]);
        }
        output::print(&t.render("(no recordings)"))?;
    }
    if bad.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("session {id}: recordings do not match their sealed hashes: {}", bad.join("; "))
    }
}
