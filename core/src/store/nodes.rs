//! Node leases (table `nodes`): each serving node registers at start and renews its row every
//! heartbeat; a surviving node claims a row whose lease ran out, and closes that node's
//! sessions. Every time here is the database server's clock, read in the statement itself
//! ([`Store::db_now_sql`]), never a node's: nodes whose clocks disagree still agree on when a
//! lease ran out, and a renewal and a claim are ordered by the database alone.

use super::{Backend, Store, StoreError};
use crate::domain::{NodeId, SessionId};
use sqlx::{AnyConnection, Row};

/// A lease that ran out, as a survivor found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpiredLease {
    pub node: NodeId,
    pub incarnation: i64,
    /// When it was last renewed (database clock, Unix seconds).
    pub renewed_at: i64,
    /// Set when another survivor claimed it before and did not finish (it too was lost).
    pub lost_at: Option<i64>,
}

/// A node's lease row, for the live view's hop and for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLease {
    pub node: NodeId,
    pub web_url: String,
    pub renewed_at: i64,
    /// Whether a survivor claimed it as lost.
    pub lost: bool,
}

impl Store {
    /// The SQL expression of the database server's clock in Unix seconds.
    fn db_now_sql(&self) -> &'static str {
        match self.backend() {
            Backend::Sqlite => "CAST(strftime('%s', 'now') AS INTEGER)",
            Backend::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS BIGINT)",
        }
    }

    /// Registers (or re-registers) `node`'s lease for this run, `incarnation`, renewed now.
    /// A claim of its previous run is forgotten with it: what that claim had not closed yet
    /// stays to this run, which closes its own connections first (see `crate::lease`).
    pub async fn register_node(&self, node: &NodeId, incarnation: i64, web_url: &str, lease_secs: i64) -> Result<(), StoreError> {
        let now = self.db_now_sql();
        let q = format!(
            "INSERT INTO nodes (id, web_url, incarnation, started_at, renewed_at, lease_secs) VALUES ($1, $2, $3, {now}, {now}, $4) \
             ON CONFLICT (id) DO UPDATE SET web_url = excluded.web_url, incarnation = excluded.incarnation, started_at = excluded.started_at, \
             renewed_at = excluded.renewed_at, lease_secs = excluded.lease_secs, lost_at = NULL, lost_by = NULL, reaped_at = NULL"
        );
        sqlx::query(&q).bind(node.as_str()).bind(web_url).bind(incarnation).bind(lease_secs).execute(self.pool()).await?;
        Ok(())
    }

    /// Renews the lease of `node`'s run `incarnation`; false when it is no longer held (a
    /// survivor claimed it as lost, or another run of the same id registered since).
    pub async fn renew_node(&self, node: &NodeId, incarnation: i64) -> Result<bool, StoreError> {
        let q = format!("UPDATE nodes SET renewed_at = {} WHERE id = $1 AND incarnation = $2 AND lost_at IS NULL", self.db_now_sql());
        let r = sqlx::query(&q).bind(node.as_str()).bind(incarnation).execute(self.pool()).await?;
        Ok(r.rows_affected() == 1)
    }

    /// Leases of nodes other than `me` that ran out and are not closed yet: never claimed, or
    /// claimed by a survivor that has not finished within the lost node's lease since.
    pub async fn expired_leases(&self, me: &NodeId) -> Result<Vec<ExpiredLease>, StoreError> {
        let q = format!(
            "SELECT id, incarnation, renewed_at, lost_at FROM nodes WHERE id <> $1 AND reaped_at IS NULL \
             AND renewed_at + lease_secs < {now} AND (lost_at IS NULL OR lost_at + lease_secs < {now}) ORDER BY id",
            now = self.db_now_sql()
        );
        let rows = sqlx::query(&q).bind(me.as_str()).fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                Ok(ExpiredLease {
                    node: NodeId::parse(&id).map_err(|e| StoreError::Corrupt(format!("node id {id:?}: {e}")))?,
                    incarnation: r.try_get("incarnation")?,
                    renewed_at: r.try_get("renewed_at")?,
                    lost_at: r.try_get("lost_at")?,
                })
            })
            .collect()
    }

    /// Claims `lease` for `me`, in the caller's transaction, if it is still as it was read:
    /// the same run, still expired, not claimed since. Returns the database time of the
    /// claim, or None when another survivor (or the node itself, renewing) came first.
    pub async fn claim_lost_node(&self, conn: &mut AnyConnection, lease: &ExpiredLease, me: &NodeId) -> Result<Option<i64>, StoreError> {
        let q = format!(
            "UPDATE nodes SET lost_at = {now}, lost_by = $1 WHERE id = $2 AND incarnation = $3 AND reaped_at IS NULL \
             AND COALESCE(lost_at, 0) = $4 AND renewed_at + lease_secs < {now} RETURNING lost_at",
            now = self.db_now_sql()
        );
        let at = sqlx::query_scalar::<_, i64>(&q)
            .bind(me.as_str())
            .bind(lease.node.as_str())
            .bind(lease.incarnation)
            .bind(lease.lost_at.unwrap_or(0))
            .fetch_optional(&mut *conn)
            .await?;
        Ok(at)
    }

    /// The sessions still active on `node`, read in the caller's transaction.
    pub async fn active_sessions_of(&self, conn: &mut AnyConnection, node: &NodeId) -> Result<Vec<SessionId>, StoreError> {
        let ids = sqlx::query_scalar::<_, i64>("SELECT id FROM sessions WHERE state = 'active' AND node = $1 ORDER BY id")
            .bind(node.as_str())
            .fetch_all(&mut *conn)
            .await?;
        Ok(ids.into_iter().map(SessionId).collect())
    }

    /// Says that the claim of `node`'s run `incarnation` is done: its sessions are closed.
    pub async fn mark_node_reaped(&self, node: &NodeId, incarnation: i64) -> Result<(), StoreError> {
        let q = format!("UPDATE nodes SET reaped_at = {} WHERE id = $1 AND incarnation = $2 AND lost_at IS NOT NULL", self.db_now_sql());
        sqlx::query(&q).bind(node.as_str()).bind(incarnation).execute(self.pool()).await?;
        Ok(())
    }

    /// Deletes `node`'s lease of run `incarnation` at a clean stop, unless a session of the
    /// node is still active in the store (a survivor must then close it once the lease runs
    /// out). True if deleted.
    pub async fn release_node(&self, node: &NodeId, incarnation: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "DELETE FROM nodes WHERE id = $1 AND incarnation = $2 AND lost_at IS NULL \
             AND NOT EXISTS (SELECT 1 FROM sessions WHERE state = 'active' AND node = $1)",
        )
        .bind(node.as_str())
        .bind(incarnation)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The lease of the node running active session `id` (None: not active, or run by a
    /// node with no lease row).
    pub async fn lease_of_session(&self, id: SessionId) -> Result<Option<NodeLease>, StoreError> {
        let row = sqlx::query("SELECT n.id, n.web_url, n.renewed_at, n.lost_at FROM sessions s JOIN nodes n ON n.id = s.node WHERE s.id = $1 AND s.state = 'active'")
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?;
        row.map(|r| {
            let node: String = r.try_get("id")?;
            Ok(NodeLease {
                node: NodeId::parse(&node).map_err(|e| StoreError::Corrupt(format!("node id {node:?}: {e}")))?,
                web_url: r.try_get("web_url")?,
                renewed_at: r.try_get("renewed_at")?,
                lost: r.try_get::<Option<i64>, _>("lost_at")?.is_some(),
            })
        })
        .transpose()
    }

    /// One node's lease row.
    pub async fn node_lease(&self, node: &NodeId) -> Result<Option<NodeLease>, StoreError> {
        let row = sqlx::query("SELECT id, web_url, renewed_at, lost_at FROM nodes WHERE id = $1").bind(node.as_str()).fetch_optional(self.pool()).await?;
        row.map(|r| {
            Ok(NodeLease {
                node: node.clone(),
                web_url: r.try_get("web_url")?,
                renewed_at: r.try_get("renewed_at")?,
                lost: r.try_get::<Option<i64>, _>("lost_at")?.is_some(),
            })
        })
        .transpose()
    }
}
