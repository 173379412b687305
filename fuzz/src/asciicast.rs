//! The asciicast reader (`recorder/src/reader.rs`, with `unescape.rs` for the escaped-byte
//! convention and `header.rs`): a recording read back for replay, export and checks.
//!
//! The input is the text of a `.cast` file (bytes that are not UTF-8 are replaced, since the
//! reader takes text). Checked: every event read has a finite time that is not negative, and
//! the output and input streams are exactly the concatenation of their events.

use portcullis_recorder::parse_cast;

/// Parses the input as a recording.
pub fn asciicast(data: &[u8]) {
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
}
