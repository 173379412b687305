//! Who has opened a session's recordings, as the API and the page show it: each replay,
//! download, live view and evidence export, read back from the audit rows written before the
//! bytes left ([`super::access::record_opening`], [`portcullis_core::viewing::viewings`]).
//! Shown as "Viewed by" on the session's page and as `viewed_by` in its JSON.

use super::error::ApiError;
use portcullis_core::clock;
use portcullis_core::store::Store;
use portcullis_core::viewing;
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

/// Who opened session `id`'s recordings, oldest first ([`viewing::viewings`] of its audit rows).
pub async fn of(store: &Store, id: i64) -> Result<Vec<ViewingView>, ApiError> {
    let subject = format!("session:{id}");
    let rows = portcullis_core::audit::about(store, [&subject, &subject]).await?;
    Ok(viewing::viewings(&rows)
        .into_iter()
        .map(|v| ViewingView { who: v.who, what: v.what.to_owned(), when: clock::rfc3339_ms(v.at_ms), from: v.from, channel: v.channel, seq: v.seq })
        .collect())
}
