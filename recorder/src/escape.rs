//! Turns terminal bytes into the body of a JSON string for an asciicast event, byte-exactly.
//!
//! SSH output is arbitrary bytes, but asciicast event data is a JSON string. Valid UTF-8 is
//! written as ordinary JSON text; every byte that is not part of valid UTF-8 (always 0x80..=0xff)
//! is written as the lone low surrogate escape `\udc80`..`\udcff` ("surrogateescape"), which
//! [`crate::unescape`] maps back to the raw byte. No valid UTF-8 text can produce those code
//! points (surrogates are not encodable in UTF-8), so the mapping is unambiguous.
//!
//! serde_json is not used here on purpose: it only serialises Rust `str` (valid UTF-8), so it has
//! no way to emit a lone surrogate escape.
//!
//! A multi-byte character can be split across two packets. [`StreamEncoder`] therefore keeps an
//! incomplete trailing sequence (at most 3 bytes) and prepends it to the next chunk of the same
//! stream; [`StreamEncoder::flush`] writes a tail that never got completed as escaped bytes.

/// Appends the JSON-escaped form of `text` (without surrounding quotes) to `out`.
///
/// `"` and `\` are backslash-escaped, control characters below 0x20 and DEL (0x7f) use the
/// short escapes where JSON has them and `\u00XX` otherwise; everything else is written as is.
pub(crate) fn escape_str(text: &str, out: &mut String) {
    let mut run_start = 0;
    for (i, c) in text.char_indices() {
        let short = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if c < ' ' || c == '\u{7f}' => "",
            _ => continue,
        };
        out.push_str(text.get(run_start..i).unwrap_or_default());
        if short.is_empty() {
            push_u_escape(u32::from(c), out);
        } else {
            out.push_str(short);
        }
        run_start = i + c.len_utf8();
    }
    out.push_str(text.get(run_start..).unwrap_or_default());
}

/// Appends `\udcXX` for each byte (each must be 0x80..=0xff; lower bytes are always valid UTF-8
/// and never reach here, but are still escaped as `\u00XX` to stay lossless).
fn escape_raw_bytes(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        if b >= 0x80 {
            push_u_escape(0xdc00 + u32::from(b), out);
        } else {
            push_u_escape(u32::from(b), out);
        }
    }
}

fn push_u_escape(code: u32, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push_str("\\u");
    for shift in [12u32, 8, 4, 0] {
        let nibble = ((code >> shift) & 0xf) as usize;
        out.push(char::from(HEX.get(nibble).copied().unwrap_or(b'0')));
    }
}

/// Appends the escaped form of arbitrary bytes, with no carry-over: an incomplete sequence at the
/// end is escaped byte by byte.
pub(crate) fn escape_bytes(bytes: &[u8], out: &mut String) {
    for chunk in bytes.utf8_chunks() {
        escape_str(chunk.valid(), out);
        escape_raw_bytes(chunk.invalid(), out);
    }
}

/// True when `bytes` is a non-empty, truncated-but-so-far-valid UTF-8 sequence (a prefix that a
/// following byte could complete).
fn is_incomplete_prefix(bytes: &[u8]) -> bool {
    matches!(std::str::from_utf8(bytes), Err(e) if e.valid_up_to() == 0 && e.error_len().is_none())
}

/// Encoder for one stream ("o" or "i") that carries an incomplete UTF-8 tail to the next chunk.
#[derive(Debug, Default)]
pub(crate) struct StreamEncoder {
    pending: Vec<u8>,
}

impl StreamEncoder {
    /// Appends the escaped form of `pending + bytes` to `out`, except for an incomplete UTF-8
    /// sequence at the very end, which is held back for the next call.
    pub(crate) fn encode(&mut self, bytes: &[u8], out: &mut String) {
        let joined;
        let data: &[u8] = if self.pending.is_empty() {
            bytes
        } else {
            let mut v = std::mem::take(&mut self.pending);
            v.extend_from_slice(bytes);
            joined = v;
            &joined
        };
        let mut chunks = data.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            escape_str(chunk.valid(), out);
            let invalid = chunk.invalid();
            if chunks.peek().is_none() && is_incomplete_prefix(invalid) {
                self.pending.extend_from_slice(invalid);
            } else {
                escape_raw_bytes(invalid, out);
            }
        }
    }

    /// Appends the held tail (if any) as escaped bytes and clears it. Used when the stream ends.
    pub(crate) fn flush(&mut self, out: &mut String) {
        escape_bytes(&self.pending, out);
        self.pending.clear();
    }

    /// Number of bytes held back (0..=3).
    #[cfg(test)]
    pub(crate) fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn esc(bytes: &[u8]) -> String {
        let mut s = String::new();
        escape_bytes(bytes, &mut s);
        s
    }

    #[test]
    fn plain_text_is_unchanged() {
        assert_eq!(esc(b"hello world $ ls -l"), "hello world $ ls -l");
        assert_eq!(esc("héllo 😀 中文".as_bytes()), "héllo 😀 中文");
    }

    #[test]
    fn quotes_backslashes_and_controls_are_escaped() {
        assert_eq!(esc(b"a\"b\\c"), "a\\\"b\\\\c");
        assert_eq!(esc(b"\r\n\t\x08\x0c"), "\\r\\n\\t\\b\\f");
        assert_eq!(
            esc(b"\x1b[0m\x00\x7f\x1f"),
            "\\u001b[0m\\u0000\\u007f\\u001f"
        );
    }

    #[test]
    fn escaped_valid_text_is_what_serde_json_reads() {
        let text = "say \"hi\"\\ \u{1b}[1m\u{7f}\u{0}é😀\u{2028}";
        let mut body = String::new();
        escape_str(text, &mut body);
        let back: String = serde_json::from_str(&format!("\"{body}\"")).unwrap();
        assert_eq!(back, text);
    }

    #[test]
    fn invalid_bytes_become_low_surrogates() {
        assert_eq!(esc(&[0xff]), "\\udcff");
        assert_eq!(esc(&[0x80]), "\\udc80");
        assert_eq!(esc(&[b'a', 0xc3, b'b']), "a\\udcc3b");
        // Overlong encoding of '/'.
        assert_eq!(esc(&[0xc0, 0xaf]), "\\udcc0\\udcaf");
        // UTF-8-encoded surrogate U+D800 is not valid UTF-8.
        assert_eq!(esc(&[0xed, 0xa0, 0x80]), "\\udced\\udca0\\udc80");
        // Above U+10FFFF.
        assert_eq!(
            esc(&[0xf4, 0x90, 0x80, 0x80]),
            "\\udcf4\\udc90\\udc80\\udc80"
        );
    }

    #[test]
    fn split_emoji_is_written_whole() {
        let emoji = "😀".as_bytes();
        let mut enc = StreamEncoder::default();
        let mut first = String::new();
        enc.encode(&[b'x', emoji[0], emoji[1]], &mut first);
        assert_eq!(first, "x");
        assert_eq!(enc.pending_len(), 2);
        let mut second = String::new();
        enc.encode(&emoji[2..], &mut second);
        assert_eq!(second, "😀");
        assert_eq!(enc.pending_len(), 0);
    }

    #[test]
    fn split_one_byte_at_a_time() {
        let text = "a€😀é";
        let mut enc = StreamEncoder::default();
        let mut out = String::new();
        for b in text.as_bytes() {
            enc.encode(&[*b], &mut out);
            assert!(enc.pending_len() <= 3);
        }
        enc.flush(&mut out);
        assert_eq!(out, text);
    }

    #[test]
    fn held_tail_not_completed_is_escaped() {
        let mut enc = StreamEncoder::default();
        let mut out = String::new();
        enc.encode(&[0xe2, 0x82], &mut out);
        assert_eq!(out, "");
        enc.encode(b"A", &mut out);
        assert_eq!(out, "\\udce2\\udc82A");
        assert_eq!(enc.pending_len(), 0);
    }

    #[test]
    fn held_tail_flushed_at_end() {
        let mut enc = StreamEncoder::default();
        let mut out = String::new();
        enc.encode(&[b'z', 0xf0, 0x9f, 0x98], &mut out);
        assert_eq!(out, "z");
        enc.flush(&mut out);
        assert_eq!(out, "z\\udcf0\\udc9f\\udc98");
        assert_eq!(enc.pending_len(), 0);
    }

    #[test]
    fn invalid_tail_is_not_held() {
        // 0xff can never start a sequence, 0x80 is a stray continuation byte.
        for tail in [&[0xffu8][..], &[0x80], &[0xc0], &[0xed, 0xa0]] {
            let mut enc = StreamEncoder::default();
            let mut out = String::new();
            enc.encode(tail, &mut out);
            assert_eq!(enc.pending_len(), 0, "{tail:?}");
            assert!(!out.is_empty());
        }
    }

    #[test]
    fn surrogate_prefix_is_held_then_escaped() {
        let mut enc = StreamEncoder::default();
        let mut out = String::new();
        enc.encode(&[0xed], &mut out);
        assert_eq!(enc.pending_len(), 1);
        enc.encode(&[0xa0, 0x80], &mut out);
        assert_eq!(out, "\\udced\\udca0\\udc80");
    }

    #[test]
    fn empty_chunk_keeps_pending() {
        let mut enc = StreamEncoder::default();
        let mut out = String::new();
        enc.encode(&[0xc3], &mut out);
        enc.encode(&[], &mut out);
        assert_eq!(enc.pending_len(), 1);
        enc.encode(&[0xa9], &mut out);
        assert_eq!(out, "é");
    }
}
