//! `[retention]`: how long recordings stay in the recording folder, and what happens after
//! (moved to `archive_dir`, or deleted). Off unless `recordings_after` is set.

use super::{ConfigError, Dur};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// What retention does with an old recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RetentionAction {
    /// Move it to `archive_dir` (it still verifies against its sealed hash there).
    Archive,
    /// Delete it (its sealed hash stays in the store and the audit log).
    Delete,
}

impl RetentionAction {
    /// The word stored in `recordings.retained` and used in the audit kind.
    pub fn as_str(self) -> &'static str {
        match self {
            RetentionAction::Archive => "archived",
            RetentionAction::Delete => "deleted",
        }
    }
}

impl std::str::FromStr for RetentionAction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "archive" => Ok(RetentionAction::Archive),
            "delete" => Ok(RetentionAction::Delete),
            other => Err(format!("{other:?}: expected \"archive\" or \"delete\"")),
        }
    }
}

/// The `[retention]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Age (since the recording started) after which retention acts; `None`: keep forever.
    pub recordings_after: Option<Dur>,
    /// What it does then.
    pub action: RetentionAction,
    /// Where archived recordings go (as `SESSION/N.ext`).
    pub archive_dir: PathBuf,
    /// How often a running node looks for recordings due.
    pub check_every: Dur,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            recordings_after: None,
            action: RetentionAction::Archive,
            archive_dir: PathBuf::from("archive"),
            check_every: Dur(Duration::from_secs(3600)),
        }
    }
}

impl RetentionConfig {
    pub(super) fn check(&self) -> Result<(), ConfigError> {
        if self.check_every.0 < Duration::from_secs(1) {
            return Err(ConfigError::Invalid("retention.check_every must be at least 1s".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_parse() {
        assert_eq!("archive".parse::<RetentionAction>(), Ok(RetentionAction::Archive));
        assert_eq!("delete".parse::<RetentionAction>(), Ok(RetentionAction::Delete));
        assert!("shred".parse::<RetentionAction>().is_err());
        assert_eq!(RetentionAction::Delete.as_str(), "deleted");
    }
}
