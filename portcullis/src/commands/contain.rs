//! `portcullis contain …`: the incident containment of a zone or a device through core's one
//! decision ([`portcullis_core::contain`]), made `--as` an admin proven by their TOTP code like
//! every decision at the command line; `--dry-run` prints what the order would act on.

use super::proof;
use crate::caller::cli_actor;
use crate::cli::{join_words, ContainCmd, OrderArgs};
use crate::output::{self, Table};
use portcullis_core::contain::{ContainInput, Containments, LiftInput, Plan};
use portcullis_core::domain::{Criticality, Scope};
use portcullis_core::Context;

/// Runs one `contain` command.
pub async fn run(ctx: &Context, cmd: ContainCmd) -> anyhow::Result<()> {
    let c = Containments::of(ctx);
    match cmd {
        ContainCmd::Zone { name, order } => contain(ctx, &c, Scope::Zone(name), order).await,
        ContainCmd::Device { name, order } => contain(ctx, &c, Scope::Device(name), order).await,
        ContainCmd::Lift { kind, target, who, reason, out } => {
            let scope = Scope::parse(&kind, &target)?;
            let via = cli_actor();
            proof::prove(ctx, &who, &via).await?;
            let id = c.lift(LiftInput::new(scope.clone(), &who.name, &join_words(&reason), &via)).await?;
            if out.json {
                return output::json(&serde_json::json!({ "containment": id, "scope": scope, "lifted_by": who.name }));
            }
            Ok(output::line(&format!("containment #{id} of {scope} lifted; requests there may be made again"))?)
        }
        ContainCmd::List { all, out } => {
            let rows = c.list(!all).await?;
            if out.json {
                return output::json(&rows);
            }
            let mut t = Table::new(&["ID", "SCOPE", "BY", "ORDERED", "REASON", "CONFIRMED BY", "IMMEDIATE", "LIFTED"]);
            for r in &rows {
                t.row(vec![
                    r.id.to_string(),
                    r.scope.to_string(),
                    r.ordered_by.clone(),
                    output::time(r.ordered_at),
                    output::one_line(&r.reason),
                    r.confirmed_by.clone().unwrap_or_else(|| "-".into()),
                    r.immediate.clone().unwrap_or_else(|| "-".into()),
                    r.lifted_at.map_or_else(|| "in force".into(), |t| format!("{} by {}", output::time(t), r.lifted_by.as_deref().unwrap_or("?"))),
                ]);
            }
            Ok(output::print(&t.render("(no containment in force)"))?)
        }
    }
}

async fn contain(ctx: &Context, c: &Containments, scope: Scope, order: OrderArgs) -> anyhow::Result<()> {
    let plan = c.preview(&scope).await?;
    let acting = match order.acting() {
        Some(who) if !order.dry_run => who,
        _ => {
            if order.out.json {
                return output::json(&plan);
            }
            return Ok(output::print(&plan_text(&plan))?);
        }
    };
    let via = cli_actor();
    proof::prove(ctx, &acting, &via).await?;
    let input = ContainInput::new(scope, &acting.name, &join_words(&order.reason), &via)
        .confirmed_by(order.confirmed_by.as_deref())
        .immediate(order.immediate.as_deref());
    let done = c.contain(input).await?;
    if order.out.json {
        return output::json(&done);
    }
    let graceful = done.stopped.iter().filter(|s| s.mode == "graceful").count();
    Ok(output::line(&format!(
        "containment #{} of {}: {} grant(s) revoked, {} pending request(s) denied, {} session(s) stopped ({} at once, {} after warning the vendor); new requests there are refused until `contain lift`",
        done.id,
        done.scope,
        done.revoked.len(),
        done.settled.len(),
        done.stopped.len(),
        done.stopped.len() - graceful,
        graceful
    ))?)
}

/// What an order would do, for a person.
fn plan_text(p: &Plan) -> String {
    let mut text = format!("containing {} ({} device(s)) would:\n", p.scope, p.devices);
    if let Some(c) = &p.in_force {
        text.push_str(&format!("  (already contained: containment #{} by {})\n", c.id, c.ordered_by));
    }
    let mut t = Table::new(&["ACTION", "WHAT", "VENDOR", "DEVICE", "CRITICALITY"]);
    for s in &p.sessions {
        let how = if s.criticality == Criticality::LifeCritical { format!("stop gracefully ({} s)", p.grace_seconds) } else { "stop at once".into() };
        t.row(vec![how, format!("session {}", s.id), s.vendor.to_string(), s.device.to_string(), s.criticality.to_string()]);
    }
    for r in &p.granted {
        t.row(vec!["revoke grant".into(), format!("request #{}", r.id), r.vendor.to_string(), r.device.to_string(), r.criticality.to_string()]);
    }
    for r in &p.pending {
        t.row(vec!["deny".into(), format!("request #{}", r.id), r.vendor.to_string(), r.device.to_string(), r.criticality.to_string()]);
    }
    text.push_str(&t.render("(nothing running, granted or pending there)"));
    if p.needs_confirmation() {
        text.push_str("a life-critical session is running: the order needs --confirmed-by naming who confirmed the device is safe to disconnect\n");
    }
    text
}
