//! Closing the sessions of a lost node: one that stopped renewing its lease (see
//! `crate::lease`). A surviving node claims the lease in one audited write (`node.lost`, with
//! the sessions it is about to close), so two survivors never both act; then each session is
//! closed as at start-up recovery, with the reason `node lost`: its unsealed recordings frozen
//! and sealed as truncated ([`super::reachable`]), then `session.ended`, one audited write
//! per session, by the actor `system`. Every step is conditional on the row still being as
//! read, so a claim taken over from a survivor that died half-way never closes a session
//! twice, and a lost node that comes back finds its sessions ended and can write nothing more
//! for them.

use super::recovery::{Reach, ACTOR};
use super::Sessions;
use crate::audit::{Event, Kind, Subject};
use crate::domain::{NodeId, SessionId};
use crate::store::{ExpiredLease, StoreError};
use serde_json::json;

/// The end reason, and the truncation reason of the recordings, of a lost node's sessions.
pub const NODE_LOST: &str = "node lost";

/// What closing a lost node did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostNode {
    pub node: NodeId,
    /// Its sessions that were active when it was claimed.
    pub active: Vec<SessionId>,
    /// Those this call ended (the others had ended meanwhile).
    pub ended: Vec<SessionId>,
}

impl Sessions {
    /// Claims the expired `lease` for this node and closes the lost node's sessions; None
    /// when another node (or the lost one, renewing just in time) came first.
    pub async fn close_lost_node(&self, lease: &ExpiredLease) -> Result<Option<LostNode>, StoreError> {
        let mut tx = self.audit.begin().await?;
        let Some(claimed_at) = self.store.claim_lost_node(&mut tx, lease, &self.node).await? else {
            return Ok(None);
        };
        let active = self.store.active_sessions_of(&mut tx, &lease.node).await?;
        let mut detail = json!({
            "node": lease.node, "renewed_at": lease.renewed_at, "claimed_at": claimed_at, "claimed_by": self.node,
            "sessions": active.iter().map(|s| s.0).collect::<Vec<_>>(),
        });
        if let (Some(first), Some(obj)) = (lease.lost_at, detail.as_object_mut()) {
            // A survivor claimed it before and was lost too before it finished.
            obj.insert("taken_over_from".into(), json!(first));
        }
        tx.append(Event::new(ACTOR, Kind::NodeLost, Subject::System, detail)).await?;
        tx.commit().await?;
        let mut ended = Vec::new();
        for &id in &active {
            let found = self.find_recordings(id, Reach::Frozen).await?;
            if self.close_cut_short(id, &found, NODE_LOST, json!({ "reason": NODE_LOST, "node": lease.node, "closed_by": self.node })).await? {
                ended.push(id);
            }
        }
        self.store.mark_node_reaped(&lease.node, lease.incarnation).await?;
        Ok(Some(LostNode { node: lease.node.clone(), active, ended }))
    }
}
