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

/// Bytes written as themselves: printable ASCII except `"` and `\`.
static PLAIN: [bool; 256] = plain_table();

const fn plain_table() -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0x20;
    while b < 0x7f {
        table[b] = b != b'"' as usize && b != b'\\' as usize;
        b += 1;
    }
    table
}

/// Appends the JSON-escaped form of `text` (without surrounding quotes) to `out`.
///
/// `"` and `\` are backslash-escaped, control characters below 0x20 and DEL (0x7f) use the
/// short escapes where JSON has them and `\u00XX` otherwise; everything else is written as is.
pub(crate) fn escape_str(text: &str, out: &mut Vec<u8>) {
    escape_into(text.as_bytes(), out, false);
}

/// Appends the escape of one ASCII byte that is not [`PLAIN`].
fn escape_ascii(b: u8, out: &mut Vec<u8>) {
    let short: &[u8] = match b {
        b'"' => b"\\\"",
        b'\\' => b"\\\\",
        b'\n' => b"\\n",
        b'\r' => b"\\r",
        b'\t' => b"\\t",
        0x08 => b"\\b",
        0x0c => b"\\f",
        _ => return push_u_escape(u32::from(b), out),
    };
    out.extend_from_slice(short);
}

/// Every byte of a word set to `b`.
const fn splat(b: u8) -> u64 {
    0x0101_0101_0101_0101 * b as u64
}

/// The top bit of each byte of `v` that is zero. A byte above the first zero byte may be
/// marked too (the borrow runs on), but never one below it, which is all [`plain_run`] needs.
fn zero_bytes(v: u64) -> u64 {
    v.wrapping_sub(splat(1)) & !v & splat(0x80)
}

/// The top bit of each byte of `w` (read little-endian, so byte 0 is the lowest) that is not
/// [`PLAIN`], exact up to and including the first such byte: below 0x20 (subtracting 0x20
/// borrows), 0x7f and above (adding 1 reaches the top bit, or it is set already), `"` or `\`.
fn not_plain(w: u64) -> u64 {
    let control = w.wrapping_sub(splat(0x20)) & !w;
    let high = w.wrapping_add(splat(1)) | w;
    (control | high) & splat(0x80) | zero_bytes(w ^ splat(b'"')) | zero_bytes(w ^ splat(b'\\'))
}

/// How many bytes at the start of `bytes` are [`PLAIN`], looked at eight at a time: terminal
/// output is mostly long runs of them, and a byte at a time this scan was the escaper's
/// largest cost. Written by hand because the word trick is a few lines, where a SIMD crate
/// would bring unsafe code and per-target builds.
fn plain_run(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut n = 0;
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let marks = not_plain(u64::from_le_bytes(w));
        if marks != 0 {
            return n + (marks.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    let tail = words.remainder();
    n + tail.iter().position(|&b| !PLAIN[usize::from(b)]).unwrap_or(tail.len())
}

/// The escaper behind every public form, written for speed: terminal output is mostly
/// printable ASCII, so runs of [`PLAIN`] bytes are found a word at a time ([`plain_run`]) and
/// copied whole, and only the bytes around them are looked at one by one. A stretch of bytes
/// of 0x80 and above (which a valid multi-byte character never leaves, since its bytes are all
/// above 0x7f) is split into valid UTF-8, written as is, and invalid bytes, written as
/// `\udcXX`. Whatever it appends is valid UTF-8.
///
/// With `hold_tail`, an incomplete but so far valid sequence at the very end is not written
/// and is returned, for the next chunk of the stream to complete; otherwise it is escaped
/// byte by byte and nothing is returned.
fn escape_into<'a>(bytes: &'a [u8], out: &mut Vec<u8>, hold_tail: bool) -> &'a [u8] {
    out.reserve(bytes.len());
    let mut rest = bytes;
    loop {
        let (plain, after) = rest.split_at(plain_run(rest));
        out.extend_from_slice(plain);
        rest = after;
        let Some(&b) = rest.first() else {
            return &[];
        };
        if b < 0x80 {
            escape_ascii(b, out);
            rest = rest.get(1..).unwrap_or_default();
            continue;
        }
        let end = rest.iter().position(|&b| b < 0x80).unwrap_or(rest.len());
        let (wide, after) = rest.split_at(end);
        let mut chunks = wide.utf8_chunks().peekable();
        while let Some(chunk) = chunks.next() {
            out.extend_from_slice(chunk.valid().as_bytes());
            let invalid = chunk.invalid();
            if hold_tail && after.is_empty() && chunks.peek().is_none() && is_incomplete_prefix(invalid) {
                return invalid;
            }
            escape_raw_bytes(invalid, out);
        }
        rest = after;
    }
}

/// Appends `\udcXX` for each byte (each must be 0x80..=0xff; lower bytes are always valid UTF-8
/// and never reach here, but are still escaped as `\u00XX` to stay lossless).
fn escape_raw_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        if b >= 0x80 {
            push_u_escape(0xdc00 + u32::from(b), out);
        } else {
            push_u_escape(u32::from(b), out);
        }
    }
}

fn push_u_escape(code: u32, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.extend_from_slice(b"\\u");
    for shift in [12u32, 8, 4, 0] {
        let nibble = ((code >> shift) & 0xf) as usize;
        out.push(HEX.get(nibble).copied().unwrap_or(b'0'));
    }
}

/// Appends the escaped form of arbitrary bytes, with no carry-over: an incomplete sequence at the
/// end is escaped byte by byte.
pub(crate) fn escape_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    escape_into(bytes, out, false);
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
    pub(crate) fn encode(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let joined;
        let data: &[u8] = if self.pending.is_empty() {
            bytes
        } else {
            let mut v = std::mem::take(&mut self.pending);
            v.extend_from_slice(bytes);
            joined = v;
            &joined
        };
        let held = escape_into(data, out, true);
        self.pending.extend_from_slice(held);
    }

    /// Appends the held tail (if any) as escaped bytes and clears it. Used when the stream ends.
    pub(crate) fn flush(&mut self, out: &mut Vec<u8>) {
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
        let mut s = Vec::new();
        escape_bytes(bytes, &mut s);
        String::from_utf8(s).expect("the escape is UTF-8")
    }

    fn text_of(out: &[u8]) -> &str {
        std::str::from_utf8(out).expect("the escape is UTF-8")
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
        let mut body = Vec::new();
        escape_str(text, &mut body);
        let back: String = serde_json::from_str(&format!("\"{}\"", text_of(&body))).unwrap();
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
        let mut first = Vec::new();
        enc.encode(&[b'x', emoji[0], emoji[1]], &mut first);
        assert_eq!(text_of(&first), "x");
        assert_eq!(enc.pending_len(), 2);
        let mut second = Vec::new();
        enc.encode(&emoji[2..], &mut second);
        assert_eq!(text_of(&second), "😀");
        assert_eq!(enc.pending_len(), 0);
    }

    #[test]
    fn split_one_byte_at_a_time() {
        let text = "a€😀é";
        let mut enc = StreamEncoder::default();
        let mut out = Vec::new();
        for b in text.as_bytes() {
            enc.encode(&[*b], &mut out);
            assert!(enc.pending_len() <= 3);
        }
        enc.flush(&mut out);
        assert_eq!(text_of(&out), text);
    }

    #[test]
    fn held_tail_not_completed_is_escaped() {
        let mut enc = StreamEncoder::default();
        let mut out = Vec::new();
        enc.encode(&[0xe2, 0x82], &mut out);
        assert_eq!(text_of(&out), "");
        enc.encode(b"A", &mut out);
        assert_eq!(text_of(&out), "\\udce2\\udc82A");
        assert_eq!(enc.pending_len(), 0);
    }

    #[test]
    fn held_tail_flushed_at_end() {
        let mut enc = StreamEncoder::default();
        let mut out = Vec::new();
        enc.encode(&[b'z', 0xf0, 0x9f, 0x98], &mut out);
        assert_eq!(text_of(&out), "z");
        enc.flush(&mut out);
        assert_eq!(text_of(&out), "z\\udcf0\\udc9f\\udc98");
        assert_eq!(enc.pending_len(), 0);
    }

    #[test]
    fn invalid_tail_is_not_held() {
        // 0xff can never start a sequence, 0x80 is a stray continuation byte.
        for tail in [&[0xffu8][..], &[0x80], &[0xc0], &[0xed, 0xa0]] {
            let mut enc = StreamEncoder::default();
            let mut out = Vec::new();
            enc.encode(tail, &mut out);
            assert_eq!(enc.pending_len(), 0, "{tail:?}");
            assert!(!out.is_empty());
        }
    }

    #[test]
    fn surrogate_prefix_is_held_then_escaped() {
        let mut enc = StreamEncoder::default();
        let mut out = Vec::new();
        enc.encode(&[0xed], &mut out);
        assert_eq!(enc.pending_len(), 1);
        enc.encode(&[0xa0, 0x80], &mut out);
        assert_eq!(text_of(&out), "\\udced\\udca0\\udc80");
    }

    /// The rule, one character at a time, as the fast escaper must apply it.
    fn reference(bytes: &[u8]) -> String {
        let mut out = String::new();
        for chunk in bytes.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    '\u{8}' => out.push_str("\\b"),
                    '\u{c}' => out.push_str("\\f"),
                    c if c < ' ' || c == '\u{7f}' => out.push_str(&format!("\\u{:04x}", u32::from(c))),
                    c => out.push(c),
                }
            }
            for b in chunk.invalid() {
                out.push_str(&format!("\\u{:04x}", 0xdc00 + u32::from(*b)));
            }
        }
        out
    }

    #[test]
    fn fast_escaper_matches_the_rule_whole_and_in_chunks() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabets: [&[u8]; 4] = [b"abc xyz 019~!\"\\\n\r\t\x1b\x7f\x00", "é€😀中".as_bytes(), &[0x80, 0xbf, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xff], b"plain text"];
        for _ in 0..2000 {
            let len = (next() % 200) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    let a = alphabets[(next() % 4) as usize];
                    a[(next() % a.len() as u64) as usize]
                })
                .collect();
            let want = reference(&bytes);
            assert_eq!(esc(&bytes), want, "{bytes:?}");
            let mut enc = StreamEncoder::default();
            let mut got = Vec::new();
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let n = 1 + (next() % 17) as usize;
                let (chunk, after) = rest.split_at(n.min(rest.len()));
                enc.encode(chunk, &mut got);
                rest = after;
            }
            enc.flush(&mut got);
            assert_eq!(text_of(&got), want, "in chunks: {bytes:?}");
        }
    }

    /// The word-at-a-time scan against the table, byte by byte: every byte value at every place
    /// in a word and across word ends, after plain bytes and after bytes that could make the
    /// word trick borrow or carry into the next byte.
    #[test]
    fn plain_run_finds_the_first_byte_that_is_not_plain() {
        let by_table = |bytes: &[u8]| bytes.iter().position(|&b| !PLAIN[usize::from(b)]).unwrap_or(bytes.len());
        for b in 0..=255u8 {
            for at in 0..20 {
                for filler in [b'a', b' ', b'~', b'!', b'#', b'[', b']'] {
                    let mut bytes = vec![filler; 20];
                    bytes[at] = b;
                    // What follows the byte must not change where the run ends.
                    for after in [0x00, 0x1f, 0x20, 0x7e, 0x7f, 0x80, 0xff, b'"', b'\\'] {
                        if let Some(next) = bytes.get_mut(at + 1) {
                            *next = after;
                        }
                        assert_eq!(plain_run(&bytes), by_table(&bytes), "{bytes:?}");
                        for start in 0..bytes.len() {
                            let tail = &bytes[start..];
                            assert_eq!(plain_run(tail), by_table(tail), "{tail:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn empty_chunk_keeps_pending() {
        let mut enc = StreamEncoder::default();
        let mut out = Vec::new();
        enc.encode(&[0xc3], &mut out);
        enc.encode(&[], &mut out);
        assert_eq!(enc.pending_len(), 1);
        enc.encode(&[0xa9], &mut out);
        assert_eq!(text_of(&out), "é");
    }
}
