//! What a connection tells the alert rules ([`portcullis_core::alerts`]): its session's start
//! (outside a maintenance window, outside working hours), every refusal (bursts) and the bytes
//! it moves (the per-session threshold, crossed once). Counting bytes is one atomic add per
//! chunk; only the chunk that crosses the threshold writes anything. An alert that cannot be
//! written ends the session, as any other row the connection cannot audit.

use super::{Conn, AUDIT_LOST};
use portcullis_core::domain::SessionId;
use portcullis_core::store::DeviceRecord;
use std::sync::atomic::Ordering;
use tracing::error;

impl Conn {
    /// The device of the running session: the one named at sign-in, or the grant's.
    async fn session_device(&self) -> Option<(SessionId, DeviceRecord)> {
        let s = self.started.borrow().clone()?;
        if let Some(d) = self.device.as_ref().filter(|d| d.id == s.grant.device_id) {
            return Some((s.id, d.clone()));
        }
        self.ctx.store.device_by_id(s.grant.device_id).await.ok().map(|d| (s.id, d))
    }

    /// Rules 1 and 5 for the session just started on `dev`.
    pub async fn alert_started(&self, id: SessionId, dev: &DeviceRecord) {
        if let Err(e) = self.ctx.alerts.session_started(self.user.username.as_str(), id, dev, portcullis_core::clock::now()).await {
            error!(error = %e, "cannot write an alert; ending the session");
            self.end(AUDIT_LOST);
        }
    }

    /// Counts `n` bytes moved in either direction on any channel or tunnel of the session;
    /// writes the `alert.bytes_exceeded` row when these cross `alerts.bytes_per_session`.
    pub async fn count_bytes(&self, n: usize) {
        let before = self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        let total = before.saturating_add(n as u64);
        if !self.ctx.alerts.crosses_bytes(before, total) {
            return;
        }
        let Some((id, dev)) = self.session_device().await else { return };
        if let Err(e) = self.ctx.alerts.bytes_exceeded(self.user.username.as_str(), id, &dev, total).await {
            error!(error = %e, "cannot write an alert; ending the session");
            self.end(AUDIT_LOST);
        }
    }

    /// Rule 3: one refusal of `what` on this connection.
    pub(super) async fn alert_refused(&self, what: &str) {
        let (session, device) = match self.session_device().await {
            Some((id, d)) => (Some(id), Some(d)),
            None => (None, self.device.clone()),
        };
        if let Err(e) = self.ctx.alerts.refused(self.user.username.as_str(), session, device.as_ref(), what).await {
            error!(error = %e, "cannot write an alert; ending the session");
            self.end(AUDIT_LOST);
        }
    }
}
