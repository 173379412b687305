//! Reads a recording back: the header and every event, with event data restored to the exact
//! bytes that were recorded (see [`crate::unescape`] for the escaped-byte convention).
//!
//! Used for replay in the web UI, for exports and to check recordings in tests.

use std::path::Path;

use crate::unescape::parse_json_string;
use crate::{CastHeader, RecorderError};

/// One event line: `[time, "code", "data"]`.
#[derive(Debug, Clone, PartialEq)]
pub struct CastEvent {
    /// Seconds since the start of the recording.
    pub time: f64,
    /// Event code: `o` output, `i` input, `r` resize, `m` marker (others are kept as read).
    pub code: String,
    /// The data, unescaped to raw bytes (for `r` and `m` it is UTF-8 text such as `80x24`).
    pub data: Vec<u8>,
}

/// A whole recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Cast {
    pub header: CastHeader,
    pub events: Vec<CastEvent>,
}

impl Cast {
    /// All `o` events concatenated: exactly the bytes the server sent.
    pub fn output_bytes(&self) -> Vec<u8> {
        self.stream_bytes("o")
    }

    /// All `i` events concatenated: exactly the bytes the user typed.
    pub fn input_bytes(&self) -> Vec<u8> {
        self.stream_bytes("i")
    }

    fn stream_bytes(&self, code: &str) -> Vec<u8> {
        self.events
            .iter()
            .filter(|e| e.code == code)
            .flat_map(|e| e.data.iter().copied())
            .collect()
    }
}

/// Reads and parses a `.cast` file. Blocking; from async code use `spawn_blocking`.
pub fn read_cast(path: &Path) -> Result<Cast, RecorderError> {
    let text = std::fs::read_to_string(path).map_err(|e| RecorderError::io("read", path, e))?;
    parse_cast(&text)
}

/// Parses the text of a `.cast` file. Every line must be well formed; a final newline is optional.
pub fn parse_cast(text: &str) -> Result<Cast, RecorderError> {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut lines = body.split('\n');
    let header_line = lines
        .next()
        .filter(|l| !l.trim().is_empty())
        .ok_or_else(|| RecorderError::parse(1, "missing header"))?;
    let header = CastHeader::from_line(header_line)?;
    let events = lines
        .enumerate()
        .map(|(i, line)| parse_event_line(line).map_err(|m| RecorderError::parse(i + 2, m)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Cast { header, events })
}

/// Parses `[time, "code", "data"]` (JSON whitespace allowed between tokens).
fn parse_event_line(line: &str) -> Result<CastEvent, String> {
    let mut cur = Cursor { src: line, pos: 0 };
    cur.expect(b'[')?;
    let time = cur.number()?;
    cur.expect(b',')?;
    let code = String::from_utf8(cur.string()?).map_err(|_| "event code is not text")?;
    cur.expect(b',')?;
    let data = cur.string()?;
    cur.expect(b']')?;
    cur.skip_ws();
    if cur.pos != line.len() {
        return Err(format!(
            "unexpected text after event at column {}",
            cur.pos + 1
        ));
    }
    Ok(CastEvent { time, code, data })
}

struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.skip_ws();
        if self.peek() != Some(c) {
            return Err(format!(
                "expected '{}' at column {}",
                char::from(c),
                self.pos + 1
            ));
        }
        self.pos += 1;
        Ok(())
    }

    /// A JSON number, parsed by serde_json; must be finite and not negative.
    fn number(&mut self) -> Result<f64, String> {
        self.skip_ws();
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
        ) {
            self.pos += 1;
        }
        let token = self.src.get(start..self.pos).unwrap_or_default();
        let time: f64 =
            serde_json::from_str(token).map_err(|_| format!("bad event time {token:?}"))?;
        if !time.is_finite() || time < 0.0 {
            return Err(format!("bad event time {token:?}"));
        }
        Ok(time)
    }

    fn string(&mut self) -> Result<Vec<u8>, String> {
        self.skip_ws();
        let (bytes, end) = parse_json_string(self.src, self.pos)?;
        self.pos = end;
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const HEADER: &str = r#"{"version":2,"width":80,"height":24,"timestamp":1700000000,"env":{}}"#;

    #[test]
    fn parses_events_and_concatenates_streams() {
        let text = format!(
            "{HEADER}\n[0.000000, \"o\", \"a\\udcff\"]\n[0.5,\"i\",\"ls\\r\"]\n\
             [0.600000, \"r\", \"100x30\"]\n[ 1e0 , \"o\" , \"\\u001b[0m\" ]\n[2.0, \"m\", \"done\"]\n"
        );
        let cast = parse_cast(&text).unwrap();
        assert_eq!(cast.header.width, 80);
        assert_eq!(cast.events.len(), 5);
        assert_eq!(cast.events[2].code, "r");
        assert_eq!(cast.events[2].data, b"100x30");
        assert_eq!(cast.events[3].time, 1.0);
        assert_eq!(cast.output_bytes(), b"a\xff\x1b[0m");
        assert_eq!(cast.input_bytes(), b"ls\r");
    }

    #[test]
    fn header_only_and_missing_final_newline() {
        assert!(parse_cast(HEADER).unwrap().events.is_empty());
        let cast = parse_cast(&format!("{HEADER}\n[0.1, \"o\", \"x\"]")).unwrap();
        assert_eq!(cast.output_bytes(), b"x");
    }

    #[test]
    fn reports_line_of_bad_event() {
        for bad in [
            "[0.1, \"o\"]",
            "[0.1, \"o\", \"x\"] extra",
            "[-1, \"o\", \"x\"]",
            "[abc, \"o\", \"x\"]",
            "[0.1, \"\\udcff\", \"x\"]",
            "",
            "{\"t\": 1}",
        ] {
            let text = format!("{HEADER}\n[0.0, \"o\", \"ok\"]\n{bad}\n");
            let result = parse_cast(&text);
            assert!(
                matches!(result, Err(RecorderError::Parse { line: 3, .. })),
                "{bad:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn empty_file_is_an_error() {
        assert!(matches!(
            parse_cast(""),
            Err(RecorderError::Parse { line: 1, .. })
        ));
    }
}
