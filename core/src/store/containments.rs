//! Containment orders and what they act on. A containment names a zone or one device
//! ([`Scope`]); while it is in force (not lifted) new requests for a device in its scope are
//! refused. The queries here read and change what lies in a scope inside the caller's audited
//! write: the devices' rows are locked first ([`Store::lock_scope`]), and filing a request
//! locks its device's row too ([`Store::lock_device`]), so on PostgreSQL an order and a request
//! filed at the same moment serialise and no request slips in between.

use super::{is_unique_violation, Store, StoreError};
use crate::domain::{Criticality, DeviceName, GrantId, RequestId, Scope, SessionId, Username};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// The devices of a scope, as a condition on `devices` (binds `$1` kind, `$2` name).
const IN_SCOPE: &str = "(($1 = 'zone' AND zone = $2) OR ($1 = 'device' AND name = $2))";

const CONTAINMENT_COLUMNS: &str = "id, scope_kind, scope_name, ordered_by, reason, confirmed_by, immediate, ordered_at, lifted_at, lifted_by, lift_reason";

/// One containment order.
#[derive(Debug, Clone, Serialize)]
pub struct ContainmentRecord {
    pub id: i64,
    pub scope: Scope,
    /// The administrator who ordered it.
    pub ordered_by: String,
    pub reason: String,
    /// Who confirmed the life-critical devices there were safe to disconnect.
    pub confirmed_by: Option<String>,
    /// Why sessions were cut at once; `None` for an order that kept the graceful stop.
    pub immediate: Option<String>,
    pub ordered_at: i64,
    pub lifted_at: Option<i64>,
    pub lifted_by: Option<String>,
    pub lift_reason: Option<String>,
}

impl ContainmentRecord {
    fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        let scope = Scope::parse(&r.try_get::<String, _>("scope_kind")?, &r.try_get::<String, _>("scope_name")?)
            .map_err(|e| StoreError::Corrupt(format!("containment scope: {e}")))?;
        Ok(Self {
            id: r.try_get("id")?,
            scope,
            ordered_by: r.try_get("ordered_by")?,
            reason: r.try_get("reason")?,
            confirmed_by: r.try_get("confirmed_by")?,
            immediate: r.try_get("immediate")?,
            ordered_at: r.try_get("ordered_at")?,
            lifted_at: r.try_get("lifted_at")?,
            lifted_by: r.try_get("lifted_by")?,
            lift_reason: r.try_get("lift_reason")?,
        })
    }
}

/// A containment about to be recorded.
#[derive(Debug, Clone, Copy)]
pub struct NewContainment<'a> {
    pub scope: &'a Scope,
    pub ordered_by: &'a str,
    pub reason: &'a str,
    pub confirmed_by: Option<&'a str>,
    pub immediate: Option<&'a str>,
    pub now: i64,
}

/// A running session in a scope.
#[derive(Debug, Clone, Serialize)]
pub struct ScopeSession {
    pub id: SessionId,
    pub grant_id: GrantId,
    pub vendor: Username,
    pub device: DeviceName,
    pub criticality: Criticality,
    /// When a stop already ordered closes it.
    pub stop_at: Option<i64>,
}

/// A request in a scope that a containment settles (pending) or revokes (approved, its grant
/// not yet over).
#[derive(Debug, Clone, Serialize)]
pub struct ScopeRequest {
    pub id: RequestId,
    pub vendor: Username,
    pub device: DeviceName,
    pub criticality: Criticality,
    /// The grant and its window, for an approved request.
    pub grant: Option<(GrantId, i64, i64)>,
}

fn name<T: std::str::FromStr>(r: &AnyRow, col: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    r.try_get::<String, _>(col)?.parse::<T>().map_err(|e| StoreError::Corrupt(format!("{col}: {e}")))
}

impl Store {
    /// Locks the rows of the devices in `scope` for the rest of the transaction; returns how
    /// many there are.
    pub async fn lock_scope(&self, conn: &mut AnyConnection, scope: &Scope) -> Result<u64, StoreError> {
        let q = format!("UPDATE devices SET disabled = disabled WHERE {IN_SCOPE}");
        let r = sqlx::query(&q).bind(scope.kind()).bind(scope.name()).execute(conn).await?;
        Ok(r.rows_affected())
    }

    /// Locks one device's row for the rest of the transaction (a request being filed).
    pub async fn lock_device(&self, conn: &mut AnyConnection, device_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE devices SET disabled = disabled WHERE id = $1").bind(device_id).execute(conn).await?;
        Ok(())
    }

    /// The containment in force over device `device_id` (its own or its zone's), if any.
    pub async fn containment_over(&self, conn: &mut AnyConnection, device_id: i64) -> Result<Option<ContainmentRecord>, StoreError> {
        let q = format!(
            "SELECT {CONTAINMENT_COLUMNS} FROM containments WHERE lifted_at IS NULL AND id IN (SELECT c.id FROM containments c JOIN devices d \
             ON (c.scope_kind = 'zone' AND c.scope_name = d.zone) OR (c.scope_kind = 'device' AND c.scope_name = d.name) WHERE d.id = $1) ORDER BY id LIMIT 1"
        );
        let row = sqlx::query(&q).bind(device_id).fetch_optional(conn).await?;
        row.as_ref().map(ContainmentRecord::from_row).transpose()
    }

    /// The containment in force over exactly `scope`, if any.
    pub async fn containment_in_force(&self, scope: &Scope) -> Result<Option<ContainmentRecord>, StoreError> {
        let q = format!("SELECT {CONTAINMENT_COLUMNS} FROM containments WHERE lifted_at IS NULL AND scope_kind = $1 AND scope_name = $2");
        let row = sqlx::query(&q).bind(scope.kind()).bind(scope.name()).fetch_optional(self.pool()).await?;
        row.as_ref().map(ContainmentRecord::from_row).transpose()
    }

    /// Containments, newest first; with `in_force`, only those not lifted.
    pub async fn containments(&self, in_force: bool, limit: i64) -> Result<Vec<ContainmentRecord>, StoreError> {
        let q = format!("SELECT {CONTAINMENT_COLUMNS} FROM containments WHERE ($1 = 0 OR lifted_at IS NULL) ORDER BY id DESC LIMIT $2");
        let rows = sqlx::query(&q).bind(i64::from(in_force)).bind(limit).fetch_all(self.pool()).await?;
        rows.iter().map(ContainmentRecord::from_row).collect()
    }

    /// Records a containment; `Exists` when one is already in force over the same scope.
    pub async fn insert_containment(&self, conn: &mut AnyConnection, c: NewContainment<'_>) -> Result<i64, StoreError> {
        let r = sqlx::query_scalar::<_, i64>(
            "INSERT INTO containments (scope_kind, scope_name, ordered_by, reason, confirmed_by, immediate, ordered_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(c.scope.kind())
        .bind(c.scope.name())
        .bind(c.ordered_by)
        .bind(c.reason)
        .bind(c.confirmed_by.map(str::to_owned))
        .bind(c.immediate.map(str::to_owned))
        .bind(c.now)
        .fetch_one(conn)
        .await;
        match r {
            Ok(id) => Ok(id),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Exists(format!("a containment of {}", c.scope))),
            Err(e) => Err(e.into()),
        }
    }

    /// Lifts the containment in force over `scope`; its id, or `None` when there was none.
    pub async fn lift_containment(&self, conn: &mut AnyConnection, scope: &Scope, by: &str, reason: &str, now: i64) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>(
            "UPDATE containments SET lifted_at = $1, lifted_by = $2, lift_reason = $3 \
             WHERE scope_kind = $4 AND scope_name = $5 AND lifted_at IS NULL RETURNING id",
        )
        .bind(now)
        .bind(by)
        .bind(reason)
        .bind(scope.kind())
        .bind(scope.name())
        .fetch_optional(conn)
        .await?)
    }

    /// The pending requests, and the approved ones whose grant is neither revoked nor over at
    /// `now`, for devices in `scope`, oldest first.
    pub async fn requests_in(&self, conn: &mut AnyConnection, scope: &Scope, now: i64) -> Result<(Vec<ScopeRequest>, Vec<ScopeRequest>), StoreError> {
        let q = format!(
            "SELECT r.id, r.state, u.username AS vendor, d.name AS device, d.criticality, g.id AS grant_id, g.starts_at, g.ends_at \
             FROM access_requests r JOIN users u ON u.id = r.vendor_id JOIN devices d ON d.id = r.device_id \
             LEFT JOIN grants g ON g.request_id = r.id AND r.state = 'approved' \
             WHERE r.device_id IN (SELECT id FROM devices WHERE {IN_SCOPE}) \
             AND (r.state = 'pending' OR (r.state = 'approved' AND g.revoked_at IS NULL AND g.ends_at > $3)) ORDER BY r.id"
        );
        let rows = sqlx::query(&q).bind(scope.kind()).bind(scope.name()).bind(now).fetch_all(conn).await?;
        let (mut pending, mut granted) = (Vec::new(), Vec::new());
        for r in &rows {
            let grant = match r.try_get::<Option<i64>, _>("grant_id")? {
                Some(g) => Some((GrantId(g), r.try_get("starts_at")?, r.try_get("ends_at")?)),
                None => None,
            };
            let item = ScopeRequest { id: RequestId(r.try_get("id")?), vendor: name(r, "vendor")?, device: name(r, "device")?, criticality: name(r, "criticality")?, grant };
            if r.try_get::<String, _>("state")? == "pending" {
                pending.push(item);
            } else {
                granted.push(item);
            }
        }
        Ok((pending, granted))
    }

    /// The sessions running on devices in `scope`, oldest first.
    pub async fn sessions_in(&self, conn: &mut AnyConnection, scope: &Scope) -> Result<Vec<ScopeSession>, StoreError> {
        let q = format!(
            "SELECT s.id, s.grant_id, s.stop_at, u.username AS vendor, d.name AS device, d.criticality \
             FROM sessions s JOIN users u ON u.id = s.vendor_id JOIN devices d ON d.id = s.device_id \
             WHERE s.state = 'active' AND s.device_id IN (SELECT id FROM devices WHERE {IN_SCOPE}) ORDER BY s.id"
        );
        let rows = sqlx::query(&q).bind(scope.kind()).bind(scope.name()).fetch_all(conn).await?;
        rows.iter()
            .map(|r| {
                Ok(ScopeSession {
                    id: SessionId(r.try_get("id")?),
                    grant_id: GrantId(r.try_get("grant_id")?),
                    vendor: name(r, "vendor")?,
                    device: name(r, "device")?,
                    criticality: name(r, "criticality")?,
                    stop_at: r.try_get("stop_at")?,
                })
            })
            .collect()
    }
}
