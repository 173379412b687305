//! The `[breakglass]` section: how long approvers have for the retrospective review of an
//! emergency session, how often a node looks for overdue reviews and finished sessions, and
//! where each break-glass session's evidence bundle is written when it ends. Whether
//! break-glass is allowed at all, and for how long, is policy (`[policy]` `break_glass`,
//! `break_glass_minutes`, per `[[policy.rules]]`).

use super::{ConfigError, Dur};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Break-glass review and evidence.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakGlassConfig {
    /// Time, from the opening, within which two distinct approvers must review it.
    pub review_within: Dur,
    /// How often each node looks for overdue reviews and ended sessions to export.
    pub check_every: Dur,
    /// Folder the evidence bundle of each ended break-glass session is written to; empty:
    /// `evidence/` in the data folder (next to the configuration).
    pub evidence_dir: PathBuf,
}

impl Default for BreakGlassConfig {
    fn default() -> Self {
        Self { review_within: Dur(Duration::from_secs(24 * 3600)), check_every: Dur(Duration::from_secs(30)), evidence_dir: PathBuf::from("evidence") }
    }
}

impl BreakGlassConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.review_within.0 < Duration::from_secs(1) {
            return Err(ConfigError::Invalid("breakglass.review_within must be at least 1s".into()));
        }
        if self.check_every.0 < Duration::from_millis(100) {
            return Err(ConfigError::Invalid("breakglass.check_every must be at least 100ms".into()));
        }
        Ok(())
    }
}
