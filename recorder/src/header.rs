//! The asciicast v2 header: the first line of a recording, a JSON object such as
//! `{"version":2,"width":80,"height":24,"timestamp":1700000000,"command":"ssh pacs01","env":{"TERM":"xterm"}}`.
//!
//! asciicast v2 has no top-level terminal type: [`CastHeader::term`] is written as `env.TERM`
//! (and wins over a `TERM` key in [`CastHeader::env`]); when reading, `env.TERM` is moved back
//! into `term`. `None` fields are omitted; `env` is always written, possibly as `{}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::RecorderError;

/// What the header of a recording says about the session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CastHeader {
    /// Terminal width in columns at the start.
    pub width: u16,
    /// Terminal height in rows at the start.
    pub height: u16,
    /// Start of the recording, Unix seconds.
    pub timestamp: i64,
    /// The command run in the session, if not an interactive shell.
    pub command: Option<String>,
    /// Free-form title shown by players.
    pub title: Option<String>,
    /// Terminal type (written as `env.TERM`).
    pub term: Option<String>,
    /// Other environment variables worth keeping (e.g. `SHELL`); may be empty.
    pub env: BTreeMap<String, String>,
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    version: u8,
    width: u16,
    height: u16,
    timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    env: BTreeMap<&'a str, &'a str>,
}

#[derive(Deserialize)]
struct HeaderIn {
    version: u32,
    width: u16,
    height: u16,
    timestamp: i64,
    command: Option<String>,
    title: Option<String>,
    /// asciinema may write `null` for an unset variable.
    #[serde(default)]
    env: BTreeMap<String, Option<String>>,
}

impl CastHeader {
    /// A header with the given size and start time and nothing else.
    pub fn new(width: u16, height: u16, timestamp: i64) -> Self {
        CastHeader {
            width,
            height,
            timestamp,
            ..CastHeader::default()
        }
    }

    /// The header line, JSON followed by `\n`.
    pub(crate) fn to_line(&self) -> Result<String, RecorderError> {
        let mut env: BTreeMap<&str, &str> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(term) = &self.term {
            env.insert("TERM", term);
        }
        let out = HeaderOut {
            version: 2,
            width: self.width,
            height: self.height,
            timestamp: self.timestamp,
            command: self.command.as_deref(),
            title: self.title.as_deref(),
            env,
        };
        let mut line = serde_json::to_string(&out).map_err(RecorderError::Encode)?;
        line.push('\n');
        Ok(line)
    }

    /// Parses the header line (without its newline). Only version 2 is accepted.
    pub(crate) fn from_line(line: &str) -> Result<Self, RecorderError> {
        let parsed: HeaderIn = serde_json::from_str(line)
            .map_err(|e| RecorderError::parse(1, format!("bad header: {e}")))?;
        if parsed.version != 2 {
            return Err(RecorderError::parse(
                1,
                format!(
                    "asciicast version {} is not supported (only 2)",
                    parsed.version
                ),
            ));
        }
        let mut env: BTreeMap<String, String> = parsed
            .env
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        let term = env.remove("TERM");
        Ok(CastHeader {
            width: parsed.width,
            height: parsed.height,
            timestamp: parsed.timestamp,
            command: parsed.command,
            title: parsed.title,
            term,
            env,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn full() -> CastHeader {
        CastHeader {
            width: 132,
            height: 43,
            timestamp: 1_700_000_000,
            command: Some("ssh \"pacs01\"".into()),
            title: Some("vendor X on pacs01".into()),
            term: Some("xterm-256color".into()),
            env: BTreeMap::from([("SHELL".into(), "/bin/bash".into())]),
        }
    }

    #[test]
    fn minimal_header_omits_none_fields() {
        let line = CastHeader::new(80, 24, 1_700_000_000).to_line().unwrap();
        assert_eq!(
            line,
            "{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":1700000000,\"env\":{}}\n"
        );
    }

    #[test]
    fn full_header_is_asciicast_v2() {
        let line = full().to_line().unwrap();
        assert!(line.ends_with('\n') && !line.trim_end().contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["version"], 2);
        assert_eq!(v["width"], 132);
        assert_eq!(v["height"], 43);
        assert_eq!(v["timestamp"], 1_700_000_000i64);
        assert_eq!(v["command"], "ssh \"pacs01\"");
        assert_eq!(v["title"], "vendor X on pacs01");
        assert_eq!(v["env"]["TERM"], "xterm-256color");
        assert_eq!(v["env"]["SHELL"], "/bin/bash");
        assert!(v.get("term").is_none());
    }

    #[test]
    fn round_trips() {
        let h = full();
        let line = h.to_line().unwrap();
        assert_eq!(CastHeader::from_line(line.trim_end()).unwrap(), h);
    }

    #[test]
    fn term_overrides_env_term() {
        let mut h = full();
        h.env.insert("TERM".into(), "vt100".into());
        let back = CastHeader::from_line(h.to_line().unwrap().trim_end()).unwrap();
        assert_eq!(back.term.as_deref(), Some("xterm-256color"));
        assert!(!back.env.contains_key("TERM"));
    }

    #[test]
    fn reads_asciinema_style_header() {
        let line = r#"{"version": 2, "width": 80, "height": 24, "timestamp": 1504467315, "idle_time_limit": 2.0, "env": {"SHELL": "/bin/zsh", "TERM": "xterm-256color", "LANG": null}}"#;
        let h = CastHeader::from_line(line).unwrap();
        assert_eq!(h.width, 80);
        assert_eq!(h.term.as_deref(), Some("xterm-256color"));
        assert_eq!(h.env.len(), 1);
        assert_eq!(h.command, None);
    }

    #[test]
    fn rejects_other_versions_and_garbage() {
        assert!(
            CastHeader::from_line(r#"{"version":1,"width":80,"height":24,"timestamp":0}"#).is_err()
        );
        assert!(CastHeader::from_line(r#"{"version":2,"width":80}"#).is_err());
        assert!(CastHeader::from_line("[0.1, \"o\", \"x\"]").is_err());
    }
}
