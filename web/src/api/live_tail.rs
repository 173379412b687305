//! Following a terminal recording while it is written, for the live view of a session held
//! by another node: every node writes recordings to the one shared recording store, and the
//! recorder flushes at least every second, so reading the growing `.cast` file shows the
//! session with about a second's delay. A viewer starts with the header and the last
//! [`BACKLOG_BYTES`] of events, then gets each complete line as it lands; memory is bounded
//! by one read buffer and the longest line ([`MAX_LINE`]).

use portcullis_core::live::BACKLOG_BYTES;
use std::io::SeekFrom;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

/// Longest event line followed; a longer one (which the recorder does not write: events are
/// at most one SSH packet) ends the tail.
pub const MAX_LINE: usize = 1024 * 1024;

/// How much is read at a time.
const CHUNK: usize = 64 * 1024;

/// A growing recording, read line by line.
pub struct Tail {
    file: tokio::fs::File,
    /// Bytes read that do not end a line yet.
    partial: Vec<u8>,
}

/// Why a recording cannot be followed.
#[derive(Debug, thiserror::Error)]
pub enum TailError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the recording has no header line")]
    NoHeader,
    #[error("a line of the recording is longer than {MAX_LINE} bytes")]
    LineTooLong,
}

impl Tail {
    /// Opens `path`: its header line and the recent event lines, and the tail positioned after
    /// them.
    pub async fn open(path: &str) -> Result<(String, Vec<String>, Tail), TailError> {
        let mut file = tokio::fs::File::open(path).await?;
        // The header: the first line.
        let mut head = Vec::new();
        let mut buf = vec![0u8; 4096];
        let header_len = loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Err(TailError::NoHeader);
            }
            head.extend_from_slice(&buf[..n]);
            if let Some(i) = head.iter().position(|b| *b == b'\n') {
                break i + 1;
            }
            if head.len() > MAX_LINE {
                return Err(TailError::LineTooLong);
            }
        };
        let header = String::from_utf8_lossy(&head[..header_len - 1]).into_owned();
        // The recent events: from at most BACKLOG_BYTES before the end, at a line start.
        let len = file.metadata().await?.len();
        let from = len.saturating_sub(BACKLOG_BYTES as u64).max(header_len as u64);
        file.seek(SeekFrom::Start(from)).await?;
        let mut tail = Tail { file, partial: Vec::new() };
        let mut backlog = tail.lines().await?;
        if from > header_len as u64 && !backlog.is_empty() {
            // The first line is most likely cut: start at the next one.
            backlog.remove(0);
        }
        Ok((header, backlog, tail))
    }

    /// The complete lines written since the last call (none if nothing new).
    pub async fn lines(&mut self) -> Result<Vec<String>, TailError> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = self.file.read(&mut buf).await?;
            if n == 0 {
                return Ok(out);
            }
            self.partial.extend_from_slice(&buf[..n]);
            while let Some(i) = self.partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=i).collect();
                out.push(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
            }
            if self.partial.len() > MAX_LINE {
                return Err(TailError::LineTooLong);
            }
            if out.len() > 4096 {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn follows_complete_lines_as_they_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.cast");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "{{\"version\":2,\"width\":80,\"height\":24}}").unwrap();
        writeln!(f, "[0.1, \"o\", \"one\"]").unwrap();
        write!(f, "[0.2, \"o\", \"tw").unwrap();
        f.flush().unwrap();
        let (header, backlog, mut tail) = Tail::open(path.to_str().unwrap()).await.unwrap();
        assert!(header.contains("\"width\":80"));
        assert_eq!(backlog, vec!["[0.1, \"o\", \"one\"]".to_owned()]);
        assert!(tail.lines().await.unwrap().is_empty());
        writeln!(f, "o\"]").unwrap();
        f.flush().unwrap();
        assert_eq!(tail.lines().await.unwrap(), vec!["[0.2, \"o\", \"two\"]".to_owned()]);
    }

    #[tokio::test]
    async fn a_long_recording_starts_at_a_whole_line_near_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.cast");
        let mut f = std::fs::File::create(&path).unwrap();
        writeln!(f, "{{\"version\":2,\"width\":80,\"height\":24}}").unwrap();
        for i in 0..20_000 {
            writeln!(f, "[{i}.0, \"o\", \"line {i}\"]").unwrap();
        }
        f.flush().unwrap();
        let (_, backlog, _) = Tail::open(path.to_str().unwrap()).await.unwrap();
        let bytes: usize = backlog.iter().map(|l| l.len() + 1).sum();
        assert!(bytes <= BACKLOG_BYTES, "{bytes}");
        assert!(backlog.iter().all(|l| l.starts_with('[') && l.ends_with(']')), "{:?}", &backlog[..2]);
        assert_eq!(backlog.last().unwrap(), "[19999.0, \"o\", \"line 19999\"]");
    }

    #[tokio::test]
    async fn an_empty_file_has_no_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1.cast");
        std::fs::File::create(&path).unwrap();
        assert!(matches!(Tail::open(path.to_str().unwrap()).await, Err(TailError::NoHeader)));
    }
}
