//! Reads a JSON string literal from an asciicast event line back into the exact original bytes.
//!
//! This is the inverse of [`crate::escape`]: besides all standard JSON escapes and proper
//! surrogate pairs (`\ud83d\ude00`), a lone low surrogate `\udc80`..`\udcff` stands for the raw
//! byte 0x80..0xff that was not valid UTF-8 when recorded. serde_json cannot be used for this
//! string because it rejects lone surrogates (and could only return a `String` anyway, which
//! cannot hold arbitrary bytes).

/// Parses the JSON string literal that starts at byte offset `start` of `src` (which must be the
/// opening `"`). Returns the decoded bytes and the offset just past the closing quote.
pub(crate) fn parse_json_string(src: &str, start: usize) -> Result<(Vec<u8>, usize), String> {
    let b = src.as_bytes();
    if b.get(start) != Some(&b'"') {
        return Err(format!("expected '\"' at column {}", start + 1));
    }
    let mut out = Vec::new();
    let mut i = start + 1;
    loop {
        let run_start = i;
        while let Some(&c) = b.get(i) {
            if c == b'"' || c == b'\\' || c < 0x20 {
                break;
            }
            i += 1;
        }
        out.extend_from_slice(b.get(run_start..i).unwrap_or_default());
        match b.get(i) {
            None => return Err("unterminated string".to_string()),
            Some(b'"') => return Ok((out, i + 1)),
            Some(b'\\') => i = parse_escape(b, i + 1, &mut out)?,
            Some(c) => return Err(format!("raw control character 0x{c:02x} in string")),
        }
    }
}

/// Decodes the escape whose letter is at `i` (just after the backslash), appends its bytes to
/// `out` and returns the offset after it.
fn parse_escape(b: &[u8], i: usize, out: &mut Vec<u8>) -> Result<usize, String> {
    let simple = match b.get(i) {
        Some(b'"') => b'"',
        Some(b'\\') => b'\\',
        Some(b'/') => b'/',
        Some(b'b') => 0x08,
        Some(b'f') => 0x0c,
        Some(b'n') => b'\n',
        Some(b'r') => b'\r',
        Some(b't') => b'\t',
        Some(b'u') => return parse_unicode_escape(b, i + 1, out),
        Some(c) => return Err(format!("invalid escape '\\{}'", char::from(*c))),
        None => return Err("unterminated escape".to_string()),
    };
    out.push(simple);
    Ok(i + 1)
}

/// Decodes `XXXX` (after `\u`) at `i`, including a following low surrogate when `XXXX` is a high
/// surrogate, and the escaped-byte convention for lone `\udc80`..`\udcff`.
fn parse_unicode_escape(b: &[u8], i: usize, out: &mut Vec<u8>) -> Result<usize, String> {
    let unit = hex4(b, i)?;
    let next = i + 4;
    let code = match unit {
        0xd800..=0xdbff => {
            if b.get(next) != Some(&b'\\') || b.get(next + 1) != Some(&b'u') {
                return Err(format!("lone high surrogate \\u{unit:04x}"));
            }
            let low = hex4(b, next + 2)?;
            if !(0xdc00..=0xdfff).contains(&low) {
                return Err(format!(
                    "high surrogate \\u{unit:04x} followed by \\u{low:04x}"
                ));
            }
            let code = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
            push_char(code, out)?;
            return Ok(next + 6);
        }
        0xdc80..=0xdcff => {
            let byte = u8::try_from(unit - 0xdc00).map_err(|e| e.to_string())?;
            out.push(byte);
            return Ok(next);
        }
        0xdc00..=0xdfff => return Err(format!("lone low surrogate \\u{unit:04x}")),
        other => other,
    };
    push_char(code, out)?;
    Ok(next)
}

fn push_char(code: u32, out: &mut Vec<u8>) -> Result<(), String> {
    let c = char::from_u32(code).ok_or_else(|| format!("invalid code point U+{code:04X}"))?;
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
    Ok(())
}

fn hex4(b: &[u8], i: usize) -> Result<u32, String> {
    let digits = b.get(i..i + 4).ok_or("truncated \\u escape")?;
    let mut value = 0u32;
    for &d in digits {
        let v = char::from(d)
            .to_digit(16)
            .ok_or_else(|| format!("bad hex digit '{}' in \\u escape", char::from(d)))?;
        value = value * 16 + v;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use crate::escape::{escape_bytes, StreamEncoder};

    fn parse(s: &str) -> Result<Vec<u8>, String> {
        let (bytes, end) = parse_json_string(s, 0)?;
        assert_eq!(end, s.len(), "did not consume all of {s}");
        Ok(bytes)
    }

    #[test]
    fn standard_escapes() {
        assert_eq!(
            parse(r#""a\"b\\c\/d\b\f\n\r\t""#).unwrap(),
            b"a\"b\\c/d\x08\x0c\n\r\t"
        );
        assert_eq!(
            parse(r#""\u001b[0m\u0000\u007F""#).unwrap(),
            b"\x1b[0m\x00\x7f"
        );
        assert_eq!(parse(r#""\u00e9\u20AC""#).unwrap(), "é€".as_bytes());
        assert_eq!(parse("\"raw é 😀\"").unwrap(), "raw é 😀".as_bytes());
    }

    #[test]
    fn surrogate_pairs() {
        assert_eq!(parse(r#""\ud83d\ude00""#).unwrap(), "😀".as_bytes());
        // A pair wins over the escaped-byte reading of its low half: U+1F480.
        assert_eq!(parse(r#""\ud83d\udc80""#).unwrap(), "💀".as_bytes());
    }

    #[test]
    fn lone_low_surrogates_are_bytes() {
        assert_eq!(
            parse(r#""\udc80\udcff\uDCC3x""#).unwrap(),
            vec![0x80, 0xff, 0xc3, b'x']
        );
    }

    #[test]
    fn stops_at_closing_quote() {
        let line = r#""ab", "cd""#;
        let (bytes, end) = parse_json_string(line, 0).unwrap();
        assert_eq!(bytes, b"ab");
        assert_eq!(&line[end..], r#", "cd""#);
        let (bytes, _) = parse_json_string(line, 6).unwrap();
        assert_eq!(bytes, b"cd");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            r#""abc"#,
            r#""\x""#,
            r#""\u12""#,
            r#""\u12g4""#,
            r#""\ud83d""#,
            r#""\ud83dx""#,
            r#""\ud83d\u0041""#,
            r#""\udc00""#,
            r#""\udd00""#,
            "\"a\nb\"",
            "\"\\",
            "abc",
        ] {
            assert!(parse_json_string(bad, 0).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn random_bytes_round_trip_whole() {
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..500 {
            let len = rng.gen_range(0..64);
            let bytes: Vec<u8> = (0..len).map(|_| rng.gen::<u8>()).collect();
            let mut body = b"\"".to_vec();
            escape_bytes(&bytes, &mut body);
            body.push(b'"');
            let body = String::from_utf8(body).unwrap();
            assert_eq!(parse(&body).unwrap(), bytes, "via {body}");
        }
    }

    #[test]
    fn random_chunked_stream_round_trips() {
        let pieces: [&[u8]; 10] = [
            "😀".as_bytes(),
            "é".as_bytes(),
            b"\x1b[31m",
            b"\"\\",
            &[0xff],
            &[0xc3],
            &[0xc0, 0xaf],
            &[0xed, 0xa0, 0x80],
            b"plain ascii ",
            "\u{10ffff}€".as_bytes(),
        ];
        let mut rng = StdRng::seed_from_u64(42);
        for _ in 0..200 {
            let mut stream = Vec::new();
            for _ in 0..rng.gen_range(0..40) {
                if rng.gen_range(0..3) == 0 {
                    stream.push(rng.gen::<u8>());
                } else {
                    stream.extend_from_slice(pieces[rng.gen_range(0..pieces.len())]);
                }
            }
            let mut enc = StreamEncoder::default();
            let mut decoded = Vec::new();
            let mut rest = &stream[..];
            while !rest.is_empty() {
                let (chunk, tail) = rest.split_at(rng.gen_range(0..rest.len() + 1));
                rest = tail;
                let mut body = b"\"".to_vec();
                enc.encode(chunk, &mut body);
                body.push(b'"');
                decoded.extend(parse(&String::from_utf8(body).unwrap()).unwrap());
            }
            let mut body = b"\"".to_vec();
            enc.flush(&mut body);
            body.push(b'"');
            decoded.extend(parse(&String::from_utf8(body).unwrap()).unwrap());
            assert_eq!(decoded, stream);
        }
    }

    #[test]
    fn agrees_with_serde_json_on_valid_json() {
        let text = "tab\t quote\" bs\\ nul\u{0} del\u{7f} é 😀 \u{2028}";
        let json = serde_json::to_string(text).unwrap();
        assert_eq!(parse(&json).unwrap(), text.as_bytes());
    }
}
