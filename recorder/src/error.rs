//! The one error type of the recorder crate. Every fallible public function returns
//! `Result<_, RecorderError>`; the broker treats any of these as "the session may not go on
//! unrecorded" and ends the session (fail closed).

use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while writing, sealing or reading a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    /// A file system operation failed (create, write, flush, fsync, read).
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was being done, e.g. "create" or "write".
        action: &'static str,
        /// The recording file concerned.
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The header could not be turned into JSON.
    #[error("cannot encode the recording header: {0}")]
    Encode(#[source] serde_json::Error),
    /// A recording file is not valid asciicast v2 (or not one this crate can read back).
    #[error("line {line}: {message}")]
    Parse {
        /// 1-based line number in the file (1 is the header).
        line: usize,
        message: String,
    },
    /// The writer task hit an I/O error earlier; the text is that error. No more events are
    /// accepted and the session must be ended.
    #[error("recording writer failed: {0}")]
    WriterFailed(String),
    /// The writer did not take an event within the send timeout (storage hung).
    #[error("recording writer stalled: event not accepted within {0:?}")]
    Stalled(Duration),
    /// The recording was finished; no more events are accepted.
    #[error("recording is already finished")]
    Closed,
    /// The writer task went away without reporting a result (runtime shut down or task aborted).
    #[error("recording writer task ended unexpectedly")]
    WriterGone,
}

impl RecorderError {
    /// Shorthand for [`RecorderError::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        RecorderError::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// Shorthand for [`RecorderError::Parse`].
    pub(crate) fn parse(line: usize, message: impl Into<String>) -> Self {
        RecorderError::Parse {
            line,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_error_names_action_and_path() {
        let e = RecorderError::io(
            "create",
            "/nope/x.cast",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        );
        let text = e.to_string();
        assert!(text.starts_with("cannot create /nope/x.cast: "), "{text}");
    }

    #[test]
    fn parse_error_names_line() {
        assert_eq!(RecorderError::parse(3, "bad").to_string(), "line 3: bad");
    }
}
