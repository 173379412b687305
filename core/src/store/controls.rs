//! What window enforcement needs to know about every session a node runs, read in one query:
//! whether the vendor's account is still enabled, whether the grant was revoked, and any stop
//! an operator asked for. The broker reads it once per change of the audit head and hands
//! each running session its own row, instead of every session asking on its own.

use super::{Store, StoreError};
use crate::domain::{GrantId, NodeId, SessionId};
use futures_util::TryStreamExt;
use sqlx::Row;

/// The control state of one active session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionControl {
    pub id: SessionId,
    pub grant_id: GrantId,
    /// Whether the grant's vendor account exists and is enabled.
    pub account_enabled: bool,
    /// Who revoked the grant, when it was revoked.
    pub revoked_by: Option<String>,
    /// Whether the grant was revoked.
    pub revoked: bool,
    /// The stop asked for: when it closes the session, and who asked.
    pub stop: Option<(i64, String)>,
}

/// Whether a grant revoked at `revoked_at` cuts its session now. A grant is revoked as of a
/// later time only by a containment, for a session it stops gracefully: that session keeps its
/// announced deadline (`stop_at`); any other session of the grant is cut at once.
pub fn revoked_now(revoked_at: Option<i64>, stop_at: Option<i64>, now: i64) -> bool {
    match revoked_at {
        None => false,
        Some(at) if at > now => stop_at.is_none_or(|stop| stop > at),
        Some(_) => true,
    }
}

impl Store {
    /// The control state of every session still active on `node`, in one query, sorted by
    /// session id. Rows are read one at a time (streamed), so a read over thousands of
    /// sessions holds one database row at a time besides the compact result.
    pub async fn session_controls(&self, node: &NodeId) -> Result<Vec<SessionControl>, StoreError> {
        let mut rows = sqlx::query(
            "SELECT s.id, s.grant_id, s.stop_requested_at, s.stop_requested_by, s.stop_at, g.revoked_at, g.revoked_by, u.disabled, u.expires_at \
             FROM sessions s JOIN grants g ON g.id = s.grant_id JOIN users u ON u.id = g.vendor_id \
             WHERE s.state = 'active' AND s.node = $1 ORDER BY s.id",
        )
        .bind(node.as_str())
        .fetch(self.pool());
        let now = crate::clock::now();
        let mut out = Vec::new();
        while let Some(r) = rows.try_next().await? {
            let stop = match r.try_get::<Option<i64>, _>("stop_requested_at")? {
                Some(_) => Some((r.try_get::<Option<i64>, _>("stop_at")?.unwrap_or(0), r.try_get::<Option<String>, _>("stop_requested_by")?.unwrap_or_default())),
                None => None,
            };
            out.push(SessionControl {
                id: SessionId(r.try_get("id")?),
                grant_id: GrantId(r.try_get("grant_id")?),
                // An account past its end date is as good as disabled.
                account_enabled: r.try_get::<i64, _>("disabled")? == 0 && r.try_get::<Option<i64>, _>("expires_at")?.is_none_or(|t| t > now),
                revoked: revoked_now(r.try_get("revoked_at")?, stop.as_ref().map(|(at, _)| *at), now),
                revoked_by: r.try_get("revoked_by")?,
                stop,
            });
        }
        Ok(out)
    }

    /// The ids of every disabled account, or one past its end date (few: accounts are
    /// disabled one by one, by hand).
    pub async fn disabled_accounts(&self) -> Result<Vec<i64>, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT id FROM users WHERE disabled <> 0 OR (expires_at IS NOT NULL AND expires_at <= $1)")
            .bind(crate::clock::now())
            .fetch_all(self.pool())
            .await?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use crate::admin::fixture::{World, ACTOR};
    use crate::approvals::StopInput;
    use crate::domain::{NodeId, Username};
    use crate::testdb::stores;

    /// On both back ends: the node's active sessions with their account, revocation and stop,
    /// and nothing of another node's or of an ended session.
    #[tokio::test]
    async fn reads_each_active_session_of_the_node_with_what_controls_it() {
        for t in stores().await {
            let w = World::new(&t);
            let node = NodeId::parse("test-node").unwrap();
            let (id, vendor) = w.started_session("192.0.2.1:1").await;
            let rows = w.store.session_controls(&node).await.unwrap();
            assert_eq!(rows.len(), 1, "{}", w.name);
            let row = &rows[0];
            assert!(row.id == id && row.account_enabled && !row.revoked && row.stop.is_none(), "{}: {row:?}", w.name);
            assert!(w.store.session_controls(&NodeId::parse("other-node").unwrap()).await.unwrap().is_empty(), "{}", w.name);
            w.approvals.stop_session(StopInput::new(id, "ops", "done")).await.unwrap();
            let vendor = Username::parse(&vendor).unwrap();
            w.admin.set_user_disabled(ACTOR, &vendor, true).await.unwrap();
            let row = w.store.session_controls(&node).await.unwrap().remove(0);
            assert_eq!(row.stop.as_ref().map(|(_, by)| by.as_str()), Some("ops"), "{}", w.name);
            assert!(!row.account_enabled, "{}", w.name);
            let user = w.store.require_user(&vendor).await.unwrap();
            assert_eq!(w.store.disabled_accounts().await.unwrap(), vec![user.id], "{}", w.name);
            w.sessions.end(ACTOR, id, "done").await.unwrap();
            assert!(w.store.session_controls(&node).await.unwrap().is_empty(), "{}", w.name);
        }
    }

    /// A grant revoked now cuts its sessions; one revoked as of a later time (a containment's
    /// graceful stop) spares only a session whose stop comes no later than that time.
    #[test]
    fn a_revocation_as_of_a_later_time_spares_only_the_session_stopping_by_then() {
        use super::revoked_now;
        let now = 1_000;
        assert!(!revoked_now(None, None, now));
        assert!(revoked_now(Some(now), None, now) && revoked_now(Some(now - 5), Some(now + 60), now));
        assert!(!revoked_now(Some(now + 60), Some(now + 60), now), "the graceful session keeps its deadline");
        assert!(revoked_now(Some(now + 60), None, now), "another session of the grant is cut at once");
        assert!(revoked_now(Some(now + 60), Some(now + 900), now), "a later stop does not put the revocation off");
    }

    /// An account past its end date controls its sessions as a disabled one does.
    #[tokio::test]
    async fn an_account_past_its_end_date_is_as_good_as_disabled() {
        for t in stores().await {
            let w = World::new(&t);
            let node = NodeId::parse("test-node").unwrap();
            let (_, vendor) = w.started_session("192.0.2.1:1").await;
            let vendor = Username::parse(&vendor).unwrap();
            w.admin.set_user_expiry(ACTOR, &vendor, Some(crate::clock::now() + 3600)).await.unwrap();
            assert!(w.store.session_controls(&node).await.unwrap()[0].account_enabled, "{}", w.name);
            assert!(w.store.disabled_accounts().await.unwrap().is_empty(), "{}", w.name);
            w.admin.set_user_expiry(ACTOR, &vendor, Some(crate::clock::now() - 1)).await.unwrap();
            assert!(!w.store.session_controls(&node).await.unwrap()[0].account_enabled, "{}", w.name);
            let user = w.store.require_user(&vendor).await.unwrap();
            assert_eq!(w.store.disabled_accounts().await.unwrap(), vec![user.id], "{}", w.name);
        }
    }
}
