//! The asciicast reader (`recorder/src/reader.rs`, with `unescape.rs` for the escaped-byte
//! convention and `header.rs`), checked against the recorder's own writer (`escape.rs`).
//!
//! The input serves twice. Read as the text of a `.cast` file (bytes that are not UTF-8 are
//! replaced, since the reader takes text): every event read has a finite time that is not
//! negative, the output and input streams are exactly the concatenation of their events, and
//! what was read, written again as the recorder writes it (header line, escaped event data)
//! and read back, is the same recording. Taken as the raw bytes of a terminal stream, cut into
//! chunks of 1 to 8 bytes (the first byte chooses; cuts fall inside multi-byte characters),
//! recorded as the recorder records them and read back: exactly the same bytes.

use portcullis_recorder::fuzzing::{escaped_events, header_line};
use portcullis_recorder::{parse_cast, Cast, CastHeader};

/// Reads the input as a recording, and records it as a stream.
pub fn asciicast(data: &[u8]) {
    read(data);
    record(data);
}

fn read(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(cast) = parse_cast(&text) else { return };
    let mut output = 0;
    let mut input = 0;
    for e in &cast.events {
        assert!(e.time.is_finite() && e.time >= 0.0, "{e:?}");
        match e.code.as_str() {
            "o" => output += e.data.len(),
            "i" => input += e.data.len(),
            _ => {}
        }
    }
    assert_eq!(cast.output_bytes().len(), output);
    assert_eq!(cast.input_bytes().len(), input);

    // Written again and read back: the same header, codes and bytes.
    let Ok(mut text) = header_line(&cast.header) else { return };
    for e in &cast.events {
        text.push_str(&line(&e.code, &e.data));
    }
    let again = parse_cast(&text);
    assert!(again.is_ok(), "the reader refuses what the recorder wrote: {again:?}\n{text}");
    let Ok(again) = again else { return };
    assert_eq!(again.header, cast.header);
    let strip = |c: &Cast| c.events.iter().map(|e| (e.code.clone(), e.data.clone())).collect::<Vec<_>>();
    assert_eq!(strip(&again), strip(&cast));
}

fn record(data: &[u8]) {
    let Some((&first, stream)) = data.split_first() else { return };
    let chunks: Vec<&[u8]> = stream.chunks(usize::from(first % 8) + 1).collect();
    let mut text = header_line(&CastHeader::new(80, 24, 1_700_000_000)).unwrap_or_default();
    for event in escaped_events(&chunks) {
        text.push_str(&format!("[0.000000, \"o\", \"{}\"]\n", utf8(event)));
    }
    let cast = parse_cast(&text);
    assert!(cast.is_ok(), "the reader refuses what the recorder wrote: {cast:?}\n{text}");
    let Ok(cast) = cast else { return };
    assert_eq!(cast.output_bytes(), stream, "recorded and read back");
}

/// An escaped event's data as text; the escape must always be UTF-8.
fn utf8(escaped: Vec<u8>) -> String {
    let text = String::from_utf8(escaped);
    assert!(text.is_ok(), "the escape is not UTF-8: {text:?}");
    text.unwrap_or_default()
}

/// An event line as the recorder writes one, for any code and bytes.
fn line(code: &str, data: &[u8]) -> String {
    let code = utf8(escaped_events(&[code.as_bytes()]).concat());
    let data = utf8(escaped_events(&[data]).concat());
    format!("[0.000000, \"{code}\", \"{data}\"]\n")
}
