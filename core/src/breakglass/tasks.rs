//! The periodic break-glass work each node runs ([`run`]): escalating reviews that are overdue
//! (`breakglass.review_overdue`, once per opening, notified to approvers from that row) and
//! writing the evidence bundle of each break-glass session once it has ended
//! (`evidence.exported`, naming the file). Safe with several nodes: an escalation is claimed by
//! an `UPDATE … WHERE escalated_at IS NULL` in the write of its audit row, and a bundle by
//! inserting its session's row in `break_glass_exports`, so no two nodes do the same one.

use super::{BreakGlass, BreakGlassError};
use crate::audit::{Event, Kind, Subject};
use crate::clock;
use crate::domain::{RequestId, SessionId};
use crate::evidence;
use crate::recstore::RecStore;
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

impl BreakGlass {
    /// Escalates every overdue review not yet escalated; the number this node escalated.
    pub async fn escalate_overdue(&self) -> Result<usize, BreakGlassError> {
        let now = clock::now();
        let mut n = 0;
        for id in self.store.overdue_break_glass(now).await? {
            let Some(bg) = self.store.break_glass(id).await? else { continue };
            let mut tx = self.audit.begin().await?;
            if !self.store.claim_escalation(&mut tx, id, now).await? {
                continue;
            }
            tx.append(Event::new("system", Kind::BreakGlassReviewOverdue, Subject::Request(id), json!({
                "severity": "high", "vendor": bg.vendor, "device": bg.device, "zone": bg.zone, "criticality": bg.criticality,
                "incident": bg.incident, "review_due": bg.review_due, "reviews": bg.reviews.len(),
                "reviewers": bg.reviews.iter().map(|r| r.reviewer.clone()).collect::<Vec<_>>(),
            })))
            .await?;
            tx.commit().await?;
            n += 1;
        }
        Ok(n)
    }

    /// Writes the bundle of every ended break-glass session nobody has exported yet; the
    /// paths this node wrote.
    pub async fn export_ended(&self, recs: &RecStore) -> Result<Vec<PathBuf>, BreakGlassError> {
        let mut out = Vec::new();
        for (session, request) in self.store.break_glass_sessions_to_export().await? {
            if !self.store.claim_break_glass_export(session, request, clock::now()).await? {
                continue;
            }
            match self.export_one(recs, session, request).await {
                Ok(path) => out.push(path),
                // Claimed and failed: the failure is logged; an auditor exports it by hand.
                Err(e) => tracing::error!(session = %session, error = %e, "break-glass: the evidence bundle could not be written"),
            }
        }
        Ok(out)
    }

    async fn export_one(&self, recs: &RecStore, session: SessionId, request: RequestId) -> Result<PathBuf, BreakGlassError> {
        let dir = self.cfg.evidence_dir.clone();
        std::fs::create_dir_all(&dir).map_err(|e| BreakGlassError::Invalid(format!("cannot create {}: {e}", dir.display())))?;
        let bundle_err = |e: evidence::EvidenceError| BreakGlassError::Invalid(e.to_string());
        let altered = evidence::altered_recordings(&self.store, recs, session).await.map_err(bundle_err)?;
        let mut bundle = evidence::build(&self.store, recs, &self.audit, session).await.map_err(bundle_err)?;
        bundle.altered = altered;
        let files = bundle.member_count();
        let path = dir.join(format!("breakglass-{}-session-{}.tar.gz", request.0, session.0));
        let partial = path.with_extension("partial");
        let signer = self.audit.signer().clone();
        let target = partial.clone();
        let written = tokio::task::spawn_blocking(move || -> Result<(u64, String), String> {
            let file = std::fs::File::create(&target).map_err(|e| format!("cannot create {}: {e}", target.display()))?;
            let mut w = std::io::BufWriter::new(file);
            evidence::write_bundle(&bundle, &signer, clock::now_ms(), &mut w).map_err(|e| e.to_string())?;
            w.flush().map_err(|e| e.to_string())?;
            drop(w);
            let (sha256, bytes) = evidence::sha256_file(&target).map_err(|e| e.to_string())?;
            Ok((bytes, sha256))
        })
        .await
        .map_err(|e| BreakGlassError::Invalid(format!("the export task failed: {e}")))?;
        let (bytes, sha256) = match written {
            Ok(w) => w,
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                return Err(BreakGlassError::Invalid(e));
            }
        };
        let about = self.store.session(session).await?;
        let shown = path.display().to_string();
        let mut tx = self.audit.begin().await?;
        self.store.set_break_glass_export(&mut tx, session, &shown).await?;
        tx.append(Event::new("system", Kind::EvidenceExported, Subject::Session(session), json!({
            "via": "break-glass", "break_glass": request, "files": files, "bytes": bytes, "sha256": sha256, "output": shown,
            "device": about.as_ref().map(|s| s.device.to_string()), "zone": about.as_ref().map(|s| s.zone.clone()),
        })))
        .await?;
        tx.commit().await?;
        std::fs::rename(&partial, &path).map_err(|e| BreakGlassError::Invalid(format!("cannot move the bundle to {}: {e}", path.display())))?;
        Ok(path)
    }
}

/// Escalates overdue reviews and exports ended sessions every `breakglass.check_every`, until
/// `shutdown`.
pub async fn run(bg: BreakGlass, recs: RecStore, shutdown: CancellationToken) {
    let every = bg.cfg.check_every.0;
    loop {
        match bg.escalate_overdue().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(count = n, "break-glass reviews overdue: escalated"),
            Err(e) => tracing::warn!(error = %e, "break-glass: cannot escalate overdue reviews"),
        }
        match bg.export_ended(&recs).await {
            Ok(paths) => {
                for p in paths {
                    tracing::info!(path = %p.display(), "break-glass: evidence bundle written");
                }
            }
            Err(e) => tracing::warn!(error = %e, "break-glass: cannot export ended sessions"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
