//! Who may open which session's recordings, in one place for the API, the pages and the
//! live view. Two rules stack on the role rules of the web layer (auditors and admins see
//! every session, an approver the sessions they approved):
//!
//! - **Zones.** An account limited to zones (`user.zones`, auditors only) sees only the
//!   sessions of devices in those zones: it neither finds nor opens any other, and is told
//!   only that there is no such session, so a session's existence does not leak either. It
//!   is also refused the whole-installation audit views (the audit log and its check), whose
//!   rows about other zones would say who worked where; the audit rows of its own zones'
//!   sessions are on their records.
//! - **Patient data.** The recordings of a device tagged `phi` — replay, download, live view,
//!   evidence export — need the `phi` permission, which no role holds by itself (not even an
//!   administrator: least privilege). The record itself (who, when, which device, the
//!   decisions) stays visible; only the screens are withheld. A refusal is audited.
//!
//! Each opening of a recording is one audit row written before the first byte leaves
//! ([`Access::kind`]), and the "Viewed by" list of a session is read back from those rows.

use crate::audit::{AuditRow, Kind};
use serde::Serialize;
use crate::domain::{Permission, ZoneSet};
use crate::store::UserRecord;

/// What someone does with a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reads its record (details, decisions, audit rows, the list of recordings).
    Record,
    /// Plays a terminal recording in the browser (the bytes the player fetches).
    Replay,
    /// Downloads a recording's file.
    Download,
    /// Watches the running terminal.
    Live,
    /// Exports the evidence bundle.
    Export,
}

impl Access {
    /// Every way of opening a recording, in the order of the "Viewed by" list's words.
    pub const OPENINGS: [Access; 4] = [Access::Replay, Access::Download, Access::Live, Access::Export];

    /// The word in audit rows and on the page.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Record => "record",
            Access::Replay => "replay",
            Access::Download => "download",
            Access::Live => "live",
            Access::Export => "export",
        }
    }

    /// Whether this shows what was on the device's screen (or in its traffic).
    pub fn opens_recording(self) -> bool {
        self != Access::Record
    }

    /// The audit kind that records this access; `None` for reading the record.
    pub fn kind(self) -> Option<Kind> {
        match self {
            Access::Record => None,
            Access::Replay => Some(Kind::RecordingReplayed),
            Access::Download => Some(Kind::RecordingDownloaded),
            Access::Live => Some(Kind::SessionWatched),
            Access::Export => Some(Kind::EvidenceExported),
        }
    }

    /// The access an audit row of `kind` records, if it is one of the openings.
    pub fn of_kind(kind: &str) -> Option<Access> {
        Access::OPENINGS.into_iter().find(|a| a.kind().is_some_and(|k| k.as_str() == kind))
    }
}

/// Why an access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The session is outside the account's zones: answered as if it did not exist.
    OutOfZone,
    /// The device is tagged `phi` and the account lacks the `phi` permission.
    NeedsPhi,
}

impl Refusal {
    /// The word in the audit row.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::OutOfZone => "zone",
            Refusal::NeedsPhi => "phi",
        }
    }
}

/// Whether `user` may do `access` to a session on a device in `zone`, tagged `phi` or not.
pub fn check(user: &UserRecord, zone: &str, phi: bool, access: Access) -> Result<(), Refusal> {
    if !user.zones.covers(zone) {
        return Err(Refusal::OutOfZone);
    }
    if phi && access.opens_recording() && !user.permissions.has(Permission::Phi) {
        return Err(Refusal::NeedsPhi);
    }
    Ok(())
}

/// The zones `user`'s searches are limited to (empty: every zone).
pub fn search_zones(user: &UserRecord) -> ZoneSet {
    user.zones.clone()
}

/// Whether `user` may read the whole audit log and run its check (zone-limited accounts
/// may not: see the module's description).
pub fn whole_log(user: &UserRecord) -> bool {
    user.zones.is_everywhere()
}

/// One opening of a session's recordings, as its audit row tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Viewing {
    /// The account (or `cli:NAME` for the command line).
    pub who: String,
    /// `replay`, `download`, `live` or `export`.
    pub what: &'static str,
    /// When (Unix milliseconds).
    pub at_ms: i64,
    /// The web client's address as the server saw it, or `cli`.
    pub from: String,
    /// The recording, for a replay or a download.
    pub channel: Option<i64>,
    /// The audit row that holds it.
    pub seq: i64,
}

/// The openings among a session's audit rows, oldest first: the "Viewed by" list, read from
/// the log itself so it cannot say less than the log.
pub fn viewings(rows: &[AuditRow]) -> Vec<Viewing> {
    rows.iter()
        .filter_map(|r| {
            let access = Access::of_kind(&r.kind)?;
            let detail: serde_json::Value = serde_json::from_str(&r.detail).unwrap_or_default();
            let via = detail["via"].as_str().unwrap_or("");
            Some(Viewing {
                who: r.actor.clone(),
                what: access.as_str(),
                at_ms: r.ts,
                from: via.strip_prefix("web ").unwrap_or(via).to_owned(),
                channel: detail["channel"].as_i64(),
                seq: r.seq,
            })
        })
        .collect()
}

/// The message a refusal for want of `phi` shows.
pub fn phi_message(device: &str) -> String {
    format!(
        "device {device} is tagged phi (its screens can show patient data): replaying, downloading, watching or exporting its sessions needs the phi permission, which an administrator grants (`portcullis user edit NAME --grant phi`)"
    )
}

#[cfg(test)]
mod tests;
