//! Entry points for the fuzz targets (crate `portcullis-fuzz`, `fuzz/`): what the recorder
//! writes, so that a fuzz target can check that the reader gives back exactly what was
//! recorded. Not an API: nothing in Portcullis calls these, and they change nothing about how
//! recordings are written.

use crate::escape::StreamEncoder;
use crate::{CastHeader, RecorderError};

/// The escaped data of the events the recorder writes for `chunks` of one stream, in order:
/// one per chunk that had something to show, then the tail held back at the end, if any. Each
/// should be UTF-8 (JSON text); a fuzz target checks that.
pub fn escaped_events(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut enc = StreamEncoder::default();
    let mut events = Vec::new();
    for chunk in chunks {
        let mut data = Vec::new();
        enc.encode(chunk, &mut data);
        if !data.is_empty() {
            events.push(data);
        }
    }
    let mut tail = Vec::new();
    enc.flush(&mut tail);
    if !tail.is_empty() {
        events.push(tail);
    }
    events
}

/// The header line the recorder writes (ending with `\n`).
pub fn header_line(header: &CastHeader) -> Result<String, RecorderError> {
    header.to_line()
}
