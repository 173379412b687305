//! Who has opened a session's recordings: each replay, download, live view and evidence
//! export, read back from the audit rows written before the bytes left
//! ([`super::access::record_opening`]), so the list cannot say less than the log. Shown as
//! "Viewed by" on the session's page and as `viewed_by` in its JSON.

use super::audit::AuditRowView;
use portcullis_core::viewing::Access;
use serde::Serialize;
use utoipa::ToSchema;

/// One opening of a session's recordings.
#[derive(Serialize, ToSchema, Clone, Debug)]
pub struct ViewingView {
    /// The account (or `cli:NAME` for the command line).
    pub who: String,
    /// `replay`, `download`, `live` or `export`.
    pub what: String,
    /// RFC 3339.
    pub when: String,
    /// The web client's address as the server saw it (after a trusted proxy's PROXY header),
    /// or `cli` for the local operator.
    pub from: String,
    /// The recording, for a replay or a download.
    pub channel: Option<i64>,
    /// The audit row that holds it.
    pub seq: i64,
}

/// The openings among `rows` (a session's audit rows), oldest first.
pub fn of(rows: &[AuditRowView]) -> Vec<ViewingView> {
    rows.iter()
        .filter_map(|r| {
            let access = Access::of_kind(&r.kind)?;
            let via = r.detail["via"].as_str().unwrap_or("");
            Some(ViewingView {
                who: r.actor.clone(),
                what: access.as_str().to_owned(),
                when: r.time.clone(),
                from: via.strip_prefix("web ").unwrap_or(via).to_owned(),
                channel: r.detail["channel"].as_i64(),
                seq: r.seq,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    fn row(seq: i64, kind: &str, actor: &str, detail: serde_json::Value) -> AuditRowView {
        AuditRowView { seq, time: format!("2026-12-01T06:00:0{seq}.000Z"), actor: actor.into(), kind: kind.into(), subject: "session:7".into(), detail, prev_hash: String::new(), hash: String::new() }
    }

    #[test]
    fn only_openings_are_listed_with_who_what_when_and_where() {
        let rows = [
            row(1, "session.started", "jdoe", json!({})),
            row(2, "recording.replayed", "eve", json!({ "via": "web 10.1.2.3:50000", "channel": 1 })),
            row(3, "recording.access_refused", "mallory", json!({ "via": "web 10.9.9.9:1" })),
            row(4, "session.watched", "nurse1", json!({ "via": "web [fd00::1]:443" })),
            row(5, "evidence.exported", "cli:root", json!({ "via": "cli" })),
            row(6, "recording.downloaded", "eve", json!({ "via": "web 10.1.2.3:50001", "channel": 2 })),
        ];
        let v = of(&rows);
        let got: Vec<(&str, &str, &str, Option<i64>)> = v.iter().map(|v| (v.who.as_str(), v.what.as_str(), v.from.as_str(), v.channel)).collect();
        assert_eq!(
            got,
            vec![("eve", "replay", "10.1.2.3:50000", Some(1)), ("nurse1", "live", "[fd00::1]:443", None), ("cli:root", "export", "cli", None), ("eve", "download", "10.1.2.3:50001", Some(2))]
        );
        assert_eq!(v[0].when, "2026-12-01T06:00:02.000Z");
        assert_eq!(v[0].seq, 2);
    }
}
