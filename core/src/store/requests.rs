//! Access requests, the approvals recorded against them, and the grants they produce.
//! Decisions start with [`Store::lock_pending_request`], an `UPDATE` that both checks the
//! request is still pending and takes its row lock, so concurrent decisions serialise and
//! exactly one of an approve/deny race wins.

use super::{is_unique_violation, GrantRecord, RequestRecord, Store, StoreError};
use crate::domain::{Channel, ChannelSet, RequestId, RequestState, Username};
use sqlx::AnyConnection;

const REQUEST_SELECT: &str = "SELECT r.id, r.vendor_id, u.username AS vendor, u.org, r.device_id, \
    d.name AS device, d.criticality, d.zone, r.reason, r.minutes, r.channels, r.state, r.required_approvals, \
    r.created_at, r.decided_at, r.decided_by, r.decision_note, r.filed_by \
    FROM access_requests r JOIN users u ON u.id = r.vendor_id JOIN devices d ON d.id = r.device_id";

/// What the approvers of one request have agreed so far.
#[derive(Debug, Clone, Copy)]
pub struct Tally {
    pub count: i64,
    pub min_seconds: Option<i64>,
    pub latest_start: Option<i64>,
}

const GRANT_COLUMNS: &str = "id, request_id, vendor_id, device_id, starts_at, ends_at, channels, revoked_at, revoked_by";

impl Store {
    /// Creates a pending request.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_request(
        &self,
        conn: &mut AnyConnection,
        vendor_id: i64,
        device_id: i64,
        reason: &str,
        minutes: i64,
        required_approvals: i64,
        now: i64,
    ) -> Result<RequestId, StoreError> {
        let id = sqlx::query_scalar::<_, i64>(
            "INSERT INTO access_requests (vendor_id, device_id, reason, minutes, state, required_approvals, created_at) \
             VALUES ($1, $2, $3, $4, 'pending', $5, $6) RETURNING id",
        )
        .bind(vendor_id)
        .bind(device_id)
        .bind(reason)
        .bind(minutes)
        .bind(required_approvals)
        .bind(now)
        .fetch_one(conn)
        .await?;
        Ok(RequestId(id))
    }

    /// Records who filed a request on the vendor's behalf (in the transaction that created it).
    pub async fn set_request_filed_by(&self, conn: &mut AnyConnection, id: RequestId, filed_by: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE access_requests SET filed_by = $1 WHERE id = $2").bind(filed_by).bind(id.0).execute(conn).await?;
        Ok(())
    }

    /// Sets the channels a request asks for (in the transaction that created it).
    pub async fn set_request_channels(&self, conn: &mut AnyConnection, id: RequestId, channels: &ChannelSet) -> Result<(), StoreError> {
        sqlx::query("UPDATE access_requests SET channels = $1 WHERE id = $2").bind(channels.to_string()).bind(id.0).execute(conn).await?;
        Ok(())
    }

    /// One request with its approvers.
    pub async fn request(&self, id: RequestId) -> Result<Option<RequestRecord>, StoreError> {
        let q = format!("{REQUEST_SELECT} WHERE r.id = $1");
        let Some(row) = sqlx::query(&q).bind(id.0).fetch_optional(self.pool()).await? else {
            return Ok(None);
        };
        let mut rec = RequestRecord::from_row(&row)?;
        rec.approvals = self.approvers_of(id).await?;
        Ok(Some(rec))
    }

    /// One request as seen inside the write `conn` (without its approvers).
    pub async fn request_in(&self, conn: &mut AnyConnection, id: RequestId) -> Result<RequestRecord, StoreError> {
        let q = format!("{REQUEST_SELECT} WHERE r.id = $1");
        let row = sqlx::query(&q).bind(id.0).fetch_optional(conn).await?;
        row.as_ref().map(RequestRecord::from_row).transpose()?.ok_or_else(|| StoreError::NotFound(format!("request #{id}")))
    }

    /// Like `request`, but a missing request is an error.
    pub async fn require_request(&self, id: RequestId) -> Result<RequestRecord, StoreError> {
        self.request(id).await?.ok_or_else(|| StoreError::NotFound(format!("request #{id}")))
    }

    /// Requests, newest first, optionally of one state and/or one vendor.
    pub async fn list_requests(&self, state: Option<RequestState>, vendor_id: Option<i64>, limit: i64) -> Result<Vec<RequestRecord>, StoreError> {
        let q = format!(
            "{REQUEST_SELECT} WHERE ($1 = '' OR r.state = $1) AND ($2 = 0 OR r.vendor_id = $2) ORDER BY r.id DESC LIMIT $3"
        );
        let rows = sqlx::query(&q)
            .bind(state.map(|s| s.as_str()).unwrap_or(""))
            .bind(vendor_id.unwrap_or(0))
            .bind(limit)
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut rec = RequestRecord::from_row(row)?;
            rec.approvals = self.approvers_of(rec.id).await?;
            out.push(rec);
        }
        Ok(out)
    }

    /// The accounts that have approved request `id`, in the order they approved, as seen in
    /// `conn` (a write transaction, or a connection of the pool).
    pub async fn approver_accounts(&self, conn: &mut AnyConnection, id: RequestId) -> Result<Vec<super::UserRecord>, StoreError> {
        let cols = super::users::user_columns_of("u");
        let q = format!("SELECT {cols} FROM approvals a JOIN users u ON u.id = a.approver_id WHERE a.request_id = $1 ORDER BY a.created_at, u.username");
        let rows = sqlx::query(&q).bind(id.0).fetch_all(conn).await?;
        rows.iter().map(super::UserRecord::from_row).collect()
    }

    async fn approvers_of(&self, id: RequestId) -> Result<Vec<Username>, StoreError> {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT u.username FROM approvals a JOIN users u ON u.id = a.approver_id WHERE a.request_id = $1 ORDER BY a.created_at, u.username",
        )
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        names
            .iter()
            .map(|n| Username::parse(n).map_err(|e| StoreError::Corrupt(e.to_string())))
            .collect()
    }

    /// Takes the request's row lock if it is still pending; false otherwise.
    pub async fn lock_pending_request(&self, conn: &mut AnyConnection, id: RequestId) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE access_requests SET version = version + 1 WHERE id = $1 AND state = 'pending'")
            .bind(id.0)
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Records one approver's approval; `Exists` if this approver already approved.
    /// `seconds` is the window this approver agreed to, `starts_at` a scheduled start.
    pub async fn insert_approval(
        &self,
        conn: &mut AnyConnection,
        id: RequestId,
        approver_id: i64,
        seconds: Option<i64>,
        starts_at: Option<i64>,
        now: i64,
    ) -> Result<(), StoreError> {
        let r = sqlx::query("INSERT INTO approvals (request_id, approver_id, seconds, starts_at, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(id.0)
            .bind(approver_id)
            .bind(seconds)
            .bind(starts_at)
            .bind(now)
            .execute(conn)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Exists("approval by this approver".into())),
            Err(e) => Err(e.into()),
        }
    }

    /// Narrows what one approver agrees to (in the transaction that recorded the approval).
    pub async fn set_approval_channels(&self, conn: &mut AnyConnection, id: RequestId, approver_id: i64, channels: &ChannelSet) -> Result<(), StoreError> {
        sqlx::query("UPDATE approvals SET channels = $1 WHERE request_id = $2 AND approver_id = $3")
            .bind(channels.to_string())
            .bind(id.0)
            .bind(approver_id)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The channels each approver so far narrowed the request to (approvers who granted
    /// everything asked for are not listed).
    pub async fn approval_channels(&self, conn: &mut AnyConnection, id: RequestId) -> Result<Vec<ChannelSet>, StoreError> {
        let rows: Vec<String> = sqlx::query_scalar("SELECT channels FROM approvals WHERE request_id = $1 AND channels IS NOT NULL")
            .bind(id.0)
            .fetch_all(conn)
            .await?;
        rows.iter().map(|c| ChannelSet::parse(c).map_err(|e| StoreError::Corrupt(format!("approval channels: {e}")))).collect()
    }

    /// Distinct approvers so far, the shortest window and the latest start any of them chose.
    pub async fn approval_tally(&self, conn: &mut AnyConnection, id: RequestId) -> Result<Tally, StoreError> {
        let (count, min_seconds, latest_start): (i64, Option<i64>, Option<i64>) =
            sqlx::query_as("SELECT COUNT(*), MIN(seconds), MAX(starts_at) FROM approvals WHERE request_id = $1")
                .bind(id.0)
                .fetch_one(conn)
                .await?;
        Ok(Tally { count, min_seconds, latest_start })
    }

    /// Moves a request from `from` to `to`; false if it was not in `from`.
    #[allow(clippy::too_many_arguments)]
    pub async fn set_request_state(
        &self,
        conn: &mut AnyConnection,
        id: RequestId,
        from: RequestState,
        to: RequestState,
        by: &str,
        note: Option<&str>,
        now: i64,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE access_requests SET state = $1, decided_at = $2, decided_by = $3, decision_note = $4, version = version + 1 \
             WHERE id = $5 AND state = $6",
        )
        .bind(to.as_str())
        .bind(now)
        .bind(by)
        .bind(note.map(str::to_owned))
        .bind(id.0)
        .bind(from.as_str())
        .execute(conn)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Creates the grant of a fully approved request, for the channels it asked for.
    pub async fn insert_grant(&self, conn: &mut AnyConnection, req: &RequestRecord, starts_at: i64, ends_at: i64) -> Result<GrantRecord, StoreError> {
        self.insert_grant_channels(conn, req, starts_at, ends_at, &req.channels).await
    }

    /// Creates the grant of a fully approved request, for `channels`.
    pub async fn insert_grant_channels(
        &self,
        conn: &mut AnyConnection,
        req: &RequestRecord,
        starts_at: i64,
        ends_at: i64,
        channels: &ChannelSet,
    ) -> Result<GrantRecord, StoreError> {
        let q = format!(
            "INSERT INTO grants (request_id, vendor_id, device_id, starts_at, ends_at, channels) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {GRANT_COLUMNS}"
        );
        let row = sqlx::query(&q)
            .bind(req.id.0)
            .bind(req.vendor_id)
            .bind(req.device_id)
            .bind(starts_at)
            .bind(ends_at)
            .bind(channels.to_string())
            .fetch_one(conn)
            .await?;
        GrantRecord::from_row(&row)
    }

    /// The grant covering `now` for this vendor and device, if any (latest ending first).
    pub async fn current_grant(&self, vendor_id: i64, device_id: i64, now: i64) -> Result<Option<GrantRecord>, StoreError> {
        Ok(self.current_grants(vendor_id, device_id, now).await?.into_iter().next())
    }

    /// The grants of a vendor not revoked and not yet over at `now` (running or scheduled).
    pub async fn open_grants_of(&self, vendor_id: i64, now: i64) -> Result<Vec<GrantRecord>, StoreError> {
        let q = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE vendor_id = $1 AND revoked_at IS NULL AND ends_at > $2 ORDER BY id");
        let rows = sqlx::query(&q).bind(vendor_id).bind(now).fetch_all(self.pool()).await?;
        rows.iter().map(GrantRecord::from_row).collect()
    }

    /// Every grant covering `now` for this vendor and device, latest ending first.
    pub async fn current_grants(&self, vendor_id: i64, device_id: i64, now: i64) -> Result<Vec<GrantRecord>, StoreError> {
        let q = format!(
            "SELECT {GRANT_COLUMNS} FROM grants WHERE vendor_id = $1 AND device_id = $2 AND revoked_at IS NULL \
             AND starts_at <= $3 AND ends_at > $3 ORDER BY ends_at DESC, id DESC"
        );
        let rows = sqlx::query(&q).bind(vendor_id).bind(device_id).bind(now).fetch_all(self.pool()).await?;
        rows.iter().map(GrantRecord::from_row).collect()
    }

    /// The grant to use for a channel that needs `needs`: of the grants covering `now`, the
    /// latest-ending one that allows it; when none does, the latest-ending one, so that the
    /// vendor can be told what their access allows. A newer grant with more channels is thus
    /// used even while an older, narrower one is still running.
    pub async fn grant_for(&self, vendor_id: i64, device_id: i64, needs: Channel, now: i64) -> Result<Option<GrantRecord>, StoreError> {
        let grants = self.current_grants(vendor_id, device_id, now).await?;
        let covering = grants.iter().position(|g| g.channels.contains(needs)).unwrap_or(0);
        Ok(grants.into_iter().nth(covering))
    }

    /// A grant by id.
    pub async fn grant(&self, id: crate::domain::GrantId) -> Result<Option<GrantRecord>, StoreError> {
        let q = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE id = $1");
        let row = sqlx::query(&q).bind(id.0).fetch_optional(self.pool()).await?;
        row.as_ref().map(GrantRecord::from_row).transpose()
    }

    /// The grant of a request, if it has one.
    pub async fn grant_of_request(&self, id: RequestId) -> Result<Option<GrantRecord>, StoreError> {
        let q = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE request_id = $1");
        let row = sqlx::query(&q).bind(id.0).fetch_optional(self.pool()).await?;
        row.as_ref().map(GrantRecord::from_row).transpose()
    }

    /// Marks the grant of a request revoked; false if it had none or was already revoked.
    pub async fn revoke_grant(&self, conn: &mut AnyConnection, id: RequestId, by: &str, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE grants SET revoked_at = $1, revoked_by = $2 WHERE request_id = $3 AND revoked_at IS NULL")
            .bind(now)
            .bind(by)
            .bind(id.0)
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// How many requests are in `state`.
    pub async fn count_requests(&self, state: RequestState) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM access_requests WHERE state = $1").bind(state.as_str()).fetch_one(self.pool()).await?)
    }

    /// Pending requests created before `cutoff`.
    pub async fn stale_pending_requests(&self, cutoff: i64) -> Result<Vec<RequestId>, StoreError> {
        let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM access_requests WHERE state = 'pending' AND created_at < $1")
            .bind(cutoff)
            .fetch_all(self.pool())
            .await?;
        Ok(ids.into_iter().map(RequestId).collect())
    }
}
