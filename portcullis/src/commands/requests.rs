//! `portcullis request …`: list access requests, and approve, deny or revoke them through the
//! core decision service (`via = "cli"`), so that separation of duties and the two-approver
//! rule hold exactly as on the web page.

use crate::cli::{join_words, RequestCmd};
use crate::output::{self, Table};
use portcullis_core::approvals::{ApproveOutcome, Window};
use portcullis_core::domain::{Criticality, DeviceName, RequestId, RequestState, Username, Zone};
use portcullis_core::store::RequestRecord;
use portcullis_core::Context;
use serde::Serialize;
use std::time::Duration;

const VIA: &str = "cli";

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
    pub approvals: &'a [Username],
    pub required_approvals: i64,
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
            approvals: &r.approvals,
            required_approvals: r.required_approvals,
            created_at: output::time(r.created_at),
        }
    }
}

/// `2/2 alice,bob`, or `0/1` with nobody yet.
fn approvals_text(r: &RequestRow) -> String {
    let names: Vec<&str> = r.approvals.iter().map(Username::as_str).collect();
    format!("{}/{} {}", names.len(), r.required_approvals, names.join(",")).trim_end().to_owned()
}

/// Runs one `request` command.
pub async fn run(ctx: &Context, cmd: RequestCmd) -> anyhow::Result<()> {
    match cmd {
        RequestCmd::List { state, limit, out } => {
            let requests = ctx.store.list_requests(state, None, limit.max(1)).await?;
            let rows: Vec<RequestRow> = requests.iter().map(RequestRow::of).collect();
            if out.json {
                return output::json(&rows);
            }
            let mut t = Table::new(&["ID", "VENDOR", "DEVICE", "CRITICALITY", "STATE", "APPROVALS", "MINUTES", "CREATED", "REASON"]);
            for r in &rows {
                t.row(vec![
                    r.id.to_string(),
                    r.vendor.to_string(),
                    r.device.to_string(),
                    r.criticality.to_string(),
                    r.state.to_string(),
                    approvals_text(r),
                    r.minutes.to_string(),
                    r.created_at.clone(),
                    r.reason.to_owned(),
                ]);
            }
            output::print(&t.render("(no requests)"))?;
            Ok(())
        }
        RequestCmd::Approve { id, approver, minutes, window, starts_at } => {
            let length = window.or(minutes.map(|m| Duration::from_secs(m.saturating_mul(60))));
            let outcome = ctx.approvals.approve_window(id, &approver, Window { length, starts_at }, VIA).await?;
            output::line(&approve_text(id, &outcome))?;
            Ok(())
        }
        RequestCmd::Deny { id, approver, reason } => {
            ctx.approvals.deny(id, &approver, &join_words(&reason), VIA).await?;
            output::line(&format!("request #{id} denied"))?;
            Ok(())
        }
        RequestCmd::Revoke { id, by } => {
            ctx.approvals.revoke(id, &by, VIA).await?;
            output::line(&format!("request #{id} revoked; its sessions are being ended"))?;
            Ok(())
        }
    }
}

/// What `request approve` prints.
fn approve_text(id: RequestId, outcome: &ApproveOutcome) -> String {
    match outcome {
        ApproveOutcome::Recorded { have, need } => format!("approval recorded ({have} of {need})"),
        ApproveOutcome::Granted(g) if g.starts_at > portcullis_core::clock::now() => {
            format!("request #{id} approved: window from {} until {}", output::time(g.starts_at), output::time(g.ends_at))
        }
        ApproveOutcome::Granted(g) => format!("request #{id} approved: window until {}", output::time(g.ends_at)),
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
        let g = GrantRecord { id: GrantId(1), request_id: RequestId(4), vendor_id: 1, device_id: 1, starts_at: 0, ends_at: 1200, revoked_at: None, revoked_by: None };
        assert_eq!(approve_text(RequestId(4), &ApproveOutcome::Granted(g)), "request #4 approved: window until 1970-01-01T00:20:00Z");
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
            state: RequestState::Pending,
            required_approvals: 2,
            approvals: vec![Username::parse("alice").unwrap()],
            created_at: 0,
            decided_at: None,
            decided_by: None,
            decision_note: None,
        };
        let row = RequestRow::of(&rec);
        assert_eq!(approvals_text(&row), "1/2 alice");
        let v = serde_json::to_value(&row).unwrap();
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let expected = ["id", "vendor", "org", "device", "criticality", "zone", "state", "reason", "minutes", "approvals", "required_approvals", "created_at"];
        assert_eq!(keys.len(), expected.len());
        for k in expected {
            assert!(v.get(k).is_some(), "{k} missing: {v}");
        }
        assert_eq!(v["id"], 9);
        assert_eq!(v["criticality"], "life-critical");
        assert_eq!(v["approvals"], serde_json::json!(["alice"]));
        assert_eq!(v["created_at"], "1970-01-01T00:00:00Z");
    }
}
