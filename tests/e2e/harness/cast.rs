//! Reading asciicast v2 recordings back into the exact bytes of the session.
//!
//! A `.cast` file is a JSON header line followed by one JSON array per event,
//! `[seconds, "o" | "i" | "r" | "m", "data"]`. The broker writes output that is not valid
//! UTF-8 by putting each raw byte 0x80-0xff as the lone surrogate `\udc80`-`\udcff` (the
//! "surrogateescape" convention), which a strict JSON library refuses; so this module has its
//! own small string decoder that maps those escapes back to the raw bytes.

use std::path::Path;

/// One event of a recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub time: f64,
    pub kind: String,
    pub data: Vec<u8>,
}

/// A parsed recording.
#[derive(Debug)]
pub struct Cast {
    pub header: serde_json::Value,
    pub events: Vec<Event>,
}

impl Cast {
    pub fn read(path: &Path) -> Cast {
        let text = std::fs::read(path)
            .unwrap_or_else(|e| panic!("cannot read recording {}: {e}", path.display()));
        let text = String::from_utf8(text)
            .unwrap_or_else(|e| panic!("recording {} is not UTF-8: {e}", path.display()));
        Cast::parse(&text).unwrap_or_else(|e| panic!("recording {}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Cast, String> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines.next().ok_or("empty recording")?;
        let header: serde_json::Value =
            serde_json::from_str(header).map_err(|e| format!("bad header: {e}"))?;
        if header["version"] != 2 {
            return Err(format!("not asciicast v2: {header}"));
        }
        let events = lines
            .enumerate()
            .map(|(i, l)| parse_event(l).map_err(|e| format!("event {}: {e}: {l}", i + 1)))
            .collect::<Result<_, _>>()?;
        Ok(Cast { header, events })
    }

    /// The concatenated data of all output (`"o"`) events: what the terminal received.
    pub fn output_bytes(&self) -> Vec<u8> {
        self.events
            .iter()
            .filter(|e| e.kind == "o")
            .flat_map(|e| e.data.clone())
            .collect()
    }
}

fn parse_event(line: &str) -> Result<Event, String> {
    let mut p = Parser {
        s: line.as_bytes(),
        i: 0,
    };
    p.expect(b'[')?;
    let time = p.number()?;
    p.expect(b',')?;
    let kind = String::from_utf8(p.string()?).map_err(|_| "event kind is not text")?;
    p.expect(b',')?;
    let data = p.string()?;
    p.expect(b']')?;
    p.ws();
    if p.i != p.s.len() {
        return Err("trailing characters".into());
    }
    Ok(Event { time, kind, data })
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\r' | b'\n') {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", c as char, self.i))
        }
    }

    fn number(&mut self) -> Result<f64, String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len()
            && matches!(
                self.s[self.i],
                b'0'..=b'9' | b'.' | b'-' | b'+' | b'e' | b'E'
            )
        {
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| format!("bad number at {start}"))
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let h = self.s.get(self.i..self.i + 4).ok_or("short \\u escape")?;
        self.i += 4;
        u32::from_str_radix(std::str::from_utf8(h).map_err(|_| "bad \\u")?, 16)
            .map_err(|_| "bad \\u escape".into())
    }

    /// A JSON string, decoded to bytes; lone `\udc80`-`\udcff` become raw bytes 0x80-0xff.
    fn string(&mut self) -> Result<Vec<u8>, String> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.i).ok_or("unterminated string")?;
            self.i += 1;
            match c {
                b'"' => return Ok(out),
                b'\\' => {
                    let e = *self.s.get(self.i).ok_or("unterminated escape")?;
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(0x08),
                        b'f' => out.push(0x0c),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => self.unicode_escape(&mut out)?,
                        _ => return Err(format!("bad escape \\{}", e as char)),
                    }
                }
                _ => out.push(c),
            }
        }
    }

    fn unicode_escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let u = self.hex4()?;
        let code = match u {
            0xDC80..=0xDCFF => {
                out.push((u - 0xDC00) as u8);
                return Ok(());
            }
            0xD800..=0xDBFF => {
                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                    return Err("lone high surrogate".into());
                }
                self.i += 2;
                let low = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&low) {
                    return Err("bad surrogate pair".into());
                }
                0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)
            }
            0xDC00..=0xDFFF => return Err(format!("lone low surrogate \\u{u:04x}")),
            _ => u,
        };
        let ch = char::from_u32(code).ok_or("bad code point")?;
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_surrogate_bytes() {
        let cast = Cast::parse(
            "{\"version\": 2, \"width\": 80, \"height\": 24}\n\
             [0.1, \"o\", \"caf\u{e9} \\udcff\\udcfe\"]\n\
             [0.2, \"i\", \"x\"]\n\
             [0.3, \"o\", \" \\u00e9\\n\\ud83d\\ude00\\u001b[0m\"]\n",
        )
        .expect("parses");
        assert_eq!(cast.events.len(), 3);
        let mut want = "café ".as_bytes().to_vec();
        want.extend_from_slice(&[0xff, 0xfe]);
        want.extend_from_slice(" é\n😀\x1b[0m".as_bytes());
        assert_eq!(cast.output_bytes(), want);
    }

    #[test]
    fn rejects_lone_high_surrogate_and_bad_header() {
        assert!(Cast::parse("{\"version\": 2}\n[0.1, \"o\", \"\\ud800\"]\n").is_err());
        assert!(Cast::parse("{\"version\": 1}\n").is_err());
    }
}
