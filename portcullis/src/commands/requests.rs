//! `portcullis request …`: list access requests, and approve, deny or revoke them through the
//! core decision service, so that separation of duties and the two-approver rule hold exactly
//! as on the web page. A decision is made `--as` an account and proven with that account's
//! current TOTP code ([`super::proof`]); its audit rows name that account as the actor and
//! the operating-system user as `via` (`cli:NAME`).

use super::proof;
use crate::caller::cli_actor;
use crate::cli::{join_words, RequestCmd};
use crate::output::{self, Table};
use portcullis_core::approvals::{window_minutes, ApprovalInput, ApproveOutcome, Signoff, Window};
use portcullis_core::domain::{ChannelSet, Criticality, DeviceName, RequestId, RequestState, Username, Zone};
use portcullis_core::store::RequestRecord;
use portcullis_core::Context;
use serde::Serialize;
use serde_json::json;

/// One request as listed.
#[derive(Debug, Serialize)]
pub struct RequestRow<'a> {
    pub id: RequestId,
    pub vendor: &'a Username,
    pub org: &'a str,
    pub device: &'a DeviceName,
    pub criticality: Criticality,
    pub zone: &'a Zone,
    pub state: RequestState,
    pub reason: &'a str,
    pub minutes: i64,
    /// Channels asked for.
    pub channels: &'a ChannelSet,
    /// Channels granted, once a grant exists.
    pub granted_channels: Option<ChannelSet>,
    pub approvals: &'a [Username],
    pub required_approvals: i64,
    /// For a pending request that needs a clinical sign-off (outside its device's maintenance
    /// windows): who gave it, `null` while awaited; absent when none is needed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clinical_signoff: Option<Signoff>,
    pub created_at: String,
}

impl<'a> RequestRow<'a> {
    pub fn of(r: &'a RequestRecord) -> Self {
        RequestRow {
            id: r.id,
            vendor: &r.vendor,
            org: &r.org,
            device: &r.device,
            criticality: r.criticality,
            zone: &r.zone,
            state: r.state,
            reason: &r.reason,
            minutes: r.minutes,
            channels: &r.channels,
            granted_channels: None,
            approvals: &r.approvals,
            required_approvals: r.required_approvals,
            clinical_signoff: None,
            created_at: output::time(r.created_at),
        }
    }
}

/// `2/2 alice,bob`, or `0/1` with nobody yet; then the clinical sign-off, when one is needed.
fn approvals_text(r: &RequestRow) -> String {
    let names: Vec<&str> = r.approvals.iter().map(Username::as_str).collect();
    let tally = format!("{}/{} {}", names.len(), r.required_approvals, names.join(",")).trim_end().to_owned();
    match &r.clinical_signoff {
        None => tally,
        Some(Signoff { given_by: None }) => format!("{tally} + clinical sign-off awaited"),
        Some(Signoff { given_by: Some(by) }) => format!("{tally} + clinical sign-off by {by}"),
    }
}

/// Runs one `request` command.
pub async fn run(ctx: &Context, cmd: RequestCmd) -> anyhow::Result<()> {
    match cmd {
        RequestCmd::List { state, limit, out } => {
            let requests = ctx.store.list_requests(state, None, limit.max(1)).await?;
            let mut rows: Vec<RequestRow> = Vec::with_capacity(requests.len());
            for r in &requests {
                rows.push(row_with_grant(ctx, r).await?);
            }
            if out.json {
                return output::json(&rows);
            }
            let mut t = Table::new(&["ID", "VENDOR", "ORG", "DEVICE", "CRITICALITY", "STATE", "APPROVALS", "MINUTES", "CHANNELS", "CREATED", "REASON"]);
            for r in &rows {
                t.row(vec![
                    r.id.to_string(),
                    r.vendor.to_string(),
                    r.org.to_owned(),
                    r.device.to_string(),
                    r.criticality.to_string(),
                    r.state.to_string(),
                    approvals_text(r),
                    r.minutes.to_string(),
                    channels_text(r),
                    r.created_at.clone(),
                    r.reason.to_owned(),
                ]);
            }
            output::print(&t.render("(no requests)"))?;
            Ok(())
        }
        RequestCmd::Show { id, out } => {
            let r = ctx.store.require_request(id).await?;
            let row = row_with_grant(ctx, &r).await?;
            if out.json {
                return output::json(&row);
            }
            let fields = [
                ("request", format!("#{}", row.id)),
                ("vendor", format!("{} ({})", row.vendor, row.org)),
                ("device", format!("{} ({}, zone {})", row.device, row.criticality, row.zone)),
                ("state", row.state.to_string()),
                ("minutes", row.minutes.to_string()),
                ("channels asked", row.channels.to_string()),
                ("channels granted", row.granted_channels.as_ref().map_or("-".to_owned(), ChannelSet::to_string)),
                ("approvals", approvals_text(&row)),
                ("created", row.created_at.clone()),
                ("reason", row.reason.to_owned()),
            ];
            let text: String = fields.iter().map(|(k, v)| format!("{k:<17} {v}\n")).collect();
            output::print(&text)?;
            Ok(())
        }
        RequestCmd::Approve { id, who, minutes, window, starts_at, channels, out } => {
            let length = match (window, minutes) {
                (Some(w), _) => Some(w),
                (None, Some(m)) => Some(window_minutes(i64::try_from(m).unwrap_or(i64::MAX)).map_err(|why| anyhow::anyhow!(why))?),
                (None, None) => None,
            };
            let via = cli_actor();
            proof::prove(ctx, &who, &via).await?;
            let outcome = ctx.approvals.approve(ApprovalInput::new(id, &who.name, &via).window(Window { length, starts_at }).channels(channels)).await?;
            if out.json {
                return output::json(&approve_json(id, &outcome));
            }
            output::line(&approve_text(id, &outcome))?;
            Ok(())
        }
        RequestCmd::Deny { id, who, reason, out } => {
            let via = cli_actor();
            proof::prove(ctx, &who, &via).await?;
            ctx.approvals.deny(id, &who.name, &join_words(&reason), &via).await?;
            if out.json {
                return output::json(&json!({ "id": id, "state": RequestState::Denied, "by": who.name }));
            }
            output::line(&format!("request #{id} denied"))?;
            Ok(())
        }
        RequestCmd::Revoke { id, who, out } => {
            let via = cli_actor();
            proof::prove(ctx, &who, &via).await?;
            ctx.approvals.revoke(id, &who.name, &via).await?;
            if out.json {
                return output::json(&json!({ "id": id, "state": RequestState::Revoked, "by": who.name }));
            }
            output::line(&format!("request #{id} revoked; its sessions are being ended"))?;
            Ok(())
        }
    }
}

/// The row, with the granted channels filled in when a grant exists and the clinical sign-off
/// when a pending request needs one.
async fn row_with_grant<'a>(ctx: &Context, r: &'a RequestRecord) -> anyhow::Result<RequestRow<'a>> {
    let mut row = RequestRow::of(r);
    row.clinical_signoff = ctx.approvals.signoff(r).await?;
    if matches!(r.state, RequestState::Approved | RequestState::Revoked) {
        row.granted_channels = ctx.store.grant_of_request(r.id).await?.map(|g| g.channels);
    }
    Ok(row)
}

/// `files,tcp:104`, or `asked → granted` when an approver granted less.
fn channels_text(r: &RequestRow) -> String {
    match &r.granted_channels {
        Some(g) if g != r.channels => format!("{} → {g}", r.channels),
        _ => r.channels.to_string(),
    }
}

/// What `request approve --json` prints: `recorded` with the tally, or `approved` with the
/// grant's window and channels.
fn approve_json(id: RequestId, outcome: &ApproveOutcome) -> serde_json::Value {
    match outcome {
        ApproveOutcome::Recorded { have, need } => json!({ "id": id, "outcome": "recorded", "approvals": have, "required": need }),
        ApproveOutcome::AwaitingSignoff { have, need } => {
            json!({ "id": id, "outcome": "awaiting-clinical-signoff", "approvals": have, "required": need })
        }
        ApproveOutcome::Granted(g) => json!({
            "id": id, "outcome": "approved", "grant": g.id, "starts_at": output::time(g.starts_at),
            "ends_at": output::time(g.ends_at), "channels": g.channels,
        }),
    }
}

/// What `request approve` prints.
fn approve_text(id: RequestId, outcome: &ApproveOutcome) -> String {
    match outcome {
        ApproveOutcome::Recorded { have, need } => format!("approval recorded ({have} of {need})"),
        ApproveOutcome::AwaitingSignoff { have, need } => format!(
            "approval recorded ({have} of {need}); request #{id} is waiting for a clinical sign-off: an approver holding clinical-signoff must approve"
        ),
        ApproveOutcome::Granted(g) if g.starts_at > portcullis_core::clock::now() => format!(
            "request #{id} approved: window from {} until {}, channels {}",
            output::time(g.starts_at),
            output::time(g.ends_at),
            g.channels
        ),
        ApproveOutcome::Granted(g) => format!("request #{id} approved: window until {}, channels {}", output::time(g.ends_at), g.channels),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use portcullis_core::domain::GrantId;
    use portcullis_core::store::GrantRecord;

    #[test]
    fn approval_messages() {
        assert_eq!(approve_text(RequestId(4), &ApproveOutcome::Recorded { have: 1, need: 2 }), "approval recorded (1 of 2)");
        let g = GrantRecord { id: GrantId(1), request_id: RequestId(4), vendor_id: 1, device_id: 1, starts_at: 0, ends_at: 1200, channels: ChannelSet::shell(), revoked_at: None, revoked_by: None };
        assert_eq!(approve_json(RequestId(4), &ApproveOutcome::Granted(g.clone()))["ends_at"], "1970-01-01T00:20:00Z");
        assert_eq!(approve_json(RequestId(4), &ApproveOutcome::Recorded { have: 1, need: 2 })["outcome"], "recorded");
        let waiting = ApproveOutcome::AwaitingSignoff { have: 1, need: 1 };
        assert_eq!(approve_json(RequestId(4), &waiting)["outcome"], "awaiting-clinical-signoff");
        assert!(approve_text(RequestId(4), &waiting).starts_with("approval recorded (1 of 1); request #4 is waiting for a clinical sign-off"));
        assert_eq!(approve_text(RequestId(4), &ApproveOutcome::Granted(g)), "request #4 approved: window until 1970-01-01T00:20:00Z, channels shell");
    }

    #[test]
    fn json_shape_and_approval_column() {
        let rec = RequestRecord {
            id: RequestId(9),
            vendor_id: 1,
            vendor: Username::parse("jdoe").unwrap(),
            org: "Acme".into(),
            device_id: 2,
            device: DeviceName::parse("pump").unwrap(),
            criticality: Criticality::LifeCritical,
            zone: Zone::parse("icu").unwrap(),
            reason: "INC-1".into(),
            minutes: 30,
            channels: ChannelSet::parse("shell,tcp:104").unwrap(),
            state: RequestState::Pending,
            required_approvals: 2,
            approvals: vec![Username::parse("alice").unwrap()],
            created_at: 0,
            decided_at: None,
            decided_by: None,
            decision_note: None,
            filed_by: None,
        };
        let row = RequestRow::of(&rec);
        assert_eq!(approvals_text(&row), "1/2 alice");
        let v = serde_json::to_value(&row).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let expected = ["id", "vendor", "org", "device", "criticality", "zone", "state", "reason", "minutes", "channels", "granted_channels", "approvals", "required_approvals", "created_at"];
        assert_eq!(keys.len(), expected.len());
        for k in expected {
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
        assert_eq!(v["id"], 9);
        assert_eq!(v["criticality"], "life-critical");
        assert_eq!(v["approvals"], serde_json::json!(["alice"]));
        assert_eq!(v["created_at"], "1970-01-01T00:00:00Z");
        assert_eq!(v["channels"], "shell,tcp:104");
        assert_eq!(channels_text(&row), "shell,tcp:104");
        let mut row = row;
        row.clinical_signoff = Some(Signoff { given_by: None });
        assert_eq!(approvals_text(&row), "1/2 alice + clinical sign-off awaited");
        assert_eq!(serde_json::to_value(&row).unwrap()["clinical_signoff"], serde_json::json!({ "given_by": null }));
        row.clinical_signoff = Some(Signoff { given_by: Some(Username::parse("cne").unwrap()) });
        assert_eq!(approvals_text(&row), "1/2 alice + clinical sign-off by cne");
    }
}
