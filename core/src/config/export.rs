//! The `[export]` section: where the audit log is streamed for a SIEM. Each `[[export.sinks]]`
//! entry names a format (`jsonl`, `cef`, `syslog`) and a target (`tcp://host:port`,
//! `tls://host:port`, `file:///path`, `stdout`); the scalar keys of `[export]` tune every sink.
//! Values are checked as they are read ([`ExportTarget::parse`], [`ExportFormat`]) and the
//! rules that tie keys together in [`ExportConfig::check`], which `Config::load` runs.

use super::{ConfigError, Dur};
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;
use std::time::Duration;

/// The `[export]` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExportConfig {
    /// Most audit rows sent (and held in memory) per write; the cursor moves once per batch.
    pub batch_size: usize,
    /// Limit for connecting and for writing one batch.
    pub timeout: Dur,
    /// First wait before reconnecting to a receiver that is down; doubles up to
    /// [`super::MAX_RETRY_WAIT`].
    pub retry_backoff: Dur,
    /// The sinks; none: nothing is exported.
    pub sinks: Vec<SinkConfig>,
}

impl Default for ExportConfig {
    fn default() -> Self {
        Self { batch_size: 200, timeout: Dur(Duration::from_secs(10)), retry_backoff: Dur(Duration::from_secs(1)), sinks: Vec::new() }
    }
}

/// One `[[export.sinks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Names the sink's cursor (`export:NAME`) and its log lines; unique; letters, digits,
    /// `-` and `_`. Renaming a sink starts it again from the beginning of the log.
    pub name: String,
    pub format: ExportFormat,
    pub target: ExportTarget,
    /// PEM file of the CA certificates that sign a `tls://` receiver's certificate (private
    /// PKI); without it the system's trust store is used. Relative to the configuration.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

/// How each audit row is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// ArcSight Common Event Format, carried in an RFC 5424 syslog message.
    Cef,
    /// RFC 5424 syslog with the row in structured data.
    Syslog,
}

impl std::str::FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "jsonl" => Ok(ExportFormat::Jsonl),
            "cef" => Ok(ExportFormat::Cef),
            "syslog" => Ok(ExportFormat::Syslog),
            other => Err(format!("unknown export format {other:?} (expected jsonl, cef or syslog)")),
        }
    }
}

/// Where a sink writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportTarget {
    /// Plain TCP, RFC 6587 octet-counted frames.
    Tcp { host: String, port: u16 },
    /// TCP with TLS (RFC 5425 framing, which is the same octet counting).
    Tls { host: String, port: u16 },
    /// Appended to a file, one record per line.
    File(PathBuf),
    /// This process's standard output, one record per line.
    Stdout,
}

impl ExportTarget {
    /// Parses `tcp://host:port`, `tls://host:port`, `file:///absolute/path` or `stdout`.
    pub fn parse(s: &str) -> Result<ExportTarget, String> {
        let s = s.trim();
        if s == "stdout" {
            return Ok(ExportTarget::Stdout);
        }
        if let Some(path) = s.strip_prefix("file://") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                return Err(format!("export target {s:?}: a file target is file:///absolute/path"));
            }
            return Ok(ExportTarget::File(path));
        }
        let (scheme, rest) = s.split_once("://").ok_or_else(|| format!("export target {s:?}: expected tcp://, tls://, file:// or stdout"))?;
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| format!("export target {s:?}: a port is required"))?;
        let port: u16 = port.parse().map_err(|_| format!("export target {s:?}: bad port"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        if host.is_empty() || port == 0 {
            return Err(format!("export target {s:?}: a host and a port are required"));
        }
        match scheme {
            "tcp" => Ok(ExportTarget::Tcp { host, port }),
            "tls" => Ok(ExportTarget::Tls { host, port }),
            _ => Err(format!("export target {s:?}: expected tcp://, tls://, file:// or stdout")),
        }
    }

    /// Whether records are line-delimited (file, stdout) rather than octet-counted (TCP, TLS).
    pub fn is_lines(&self) -> bool {
        matches!(self, ExportTarget::File(_) | ExportTarget::Stdout)
    }
}

impl std::fmt::Display for ExportTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExportTarget::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            ExportTarget::Tls { host, port } => write!(f, "tls://{host}:{port}"),
            ExportTarget::File(p) => write!(f, "file://{}", p.display()),
            ExportTarget::Stdout => f.write_str("stdout"),
        }
    }
}

impl<'de> Deserialize<'de> for ExportTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ExportTarget::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl ExportConfig {
    /// Checks the rules that tie keys together.
    pub fn check(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(format!("export: {m}")));
        if self.batch_size == 0 || self.batch_size > 10_000 {
            return bad("batch_size must be between 1 and 10000".into());
        }
        if self.timeout.0.is_zero() || self.retry_backoff.0.is_zero() {
            return bad("timeout and retry_backoff must be more than zero".into());
        }
        let mut names = std::collections::HashSet::new();
        for s in &self.sinks {
            let ok_name = !s.name.is_empty() && s.name.len() <= 64 && s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok_name {
                return bad(format!("sink name {:?} must be 1 to 64 letters, digits, '-' or '_'", s.name));
            }
            if !names.insert(s.name.as_str()) {
                return bad(format!("two sinks are named {:?}", s.name));
            }
            if s.ca_file.is_some() && !matches!(s.target, ExportTarget::Tls { .. }) {
                return bad(format!("sink {:?}: ca_file only applies to a tls:// target", s.name));
            }
        }
        if self.sinks.iter().filter(|s| s.target == ExportTarget::Stdout).count() > 1 {
            return bad("only one sink can write to stdout".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(ExportTarget::parse("tcp://siem.example.org:6514").unwrap(), ExportTarget::Tcp { host: "siem.example.org".into(), port: 6514 });
        assert_eq!(ExportTarget::parse("tls://[::1]:6514").unwrap(), ExportTarget::Tls { host: "::1".into(), port: 6514 });
        assert_eq!(ExportTarget::parse("file:///var/log/p.jsonl").unwrap(), ExportTarget::File("/var/log/p.jsonl".into()));
        assert_eq!(ExportTarget::parse("stdout").unwrap(), ExportTarget::Stdout);
        for bad in ["udp://h:514", "tcp://h", "tcp://:514", "tcp://h:0", "file://relative", "siem:514"] {
            assert!(ExportTarget::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
