//! `portcullis alert list` and `portcullis alert ack SEQ`: the alerts the page shows, and
//! their acknowledgement as `cli:NAME` through the same core service (one audited write, once
//! per alert).

use crate::cli::AlertCmd;
use crate::output::{self, Table};
use portcullis_core::alerts::{AckError, AlertView};
use portcullis_core::domain::ZoneSet;
use portcullis_core::{clock, Context};

fn row(a: &AlertView) -> Vec<String> {
    let ack = match (&a.acknowledged_by, a.acknowledged_at) {
        (Some(by), Some(at)) => format!("{by} {}", clock::rfc3339(at)),
        _ => "-".into(),
    };
    let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    vec![a.seq.to_string(), a.severity.to_string(), a.rule.clone(), dash(&a.vendor), dash(&a.device), a.session.map_or("-".into(), |s| s.to_string()), clock::rfc3339_ms(a.ts), ack]
}

/// Runs one `alert` command.
pub async fn run(ctx: &Context, cmd: AlertCmd) -> anyhow::Result<()> {
    const HEAD: [&str; 8] = ["SEQ", "SEVERITY", "RULE", "VENDOR", "DEVICE", "SESSION", "AT", "ACKNOWLEDGED"];
    match cmd {
        AlertCmd::List { limit, out } => {
            let alerts = ctx.alerts.list(&ZoneSet::everywhere(), limit).await?;
            if out.json {
                return output::json(&alerts);
            }
            let mut t = Table::new(&HEAD);
            for a in &alerts {
                t.row(row(a));
            }
            Ok(output::print(&t.render("(no alerts)"))?)
        }
        AlertCmd::Ack { seq, out } => {
            let a = match ctx.alerts.acknowledge(seq, &crate::caller::cli_actor(), &ZoneSet::everywhere()).await {
                Ok(a) => a,
                Err(AckError::Already { seq, by, at }) => anyhow::bail!("alert {seq} was already acknowledged by {by} at {}", clock::rfc3339(at)),
                Err(e) => return Err(e.into()),
            };
            if out.json {
                return output::json(&a);
            }
            let mut t = Table::new(&HEAD);
            t.row(row(&a));
            Ok(output::print(&t.render(""))?)
        }
    }
}
