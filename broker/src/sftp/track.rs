//! What an SFTP session did to files, worked out from the decoded packets: requests are
//! matched with their responses by request id, open handles are followed from `open` to
//! `close`, and the content read or written through each handle is hashed with SHA-256 as
//! long as it arrives in order from offset 0 (clients read and write sequentially, with a few
//! requests in flight; a bounded amount of out-of-order data is held back to restore order).
//! The result is a list of audit rows: `sftp.op` for each operation, `sftp.file` when a file
//! is closed (path, direction, bytes, SHA-256).

use super::wire::{Packet, FXF_READ, FXF_WRITE, FX_EOF, FX_OK};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

/// Requests awaiting an answer that are remembered; more are forwarded but not matched.
const MAX_PENDING: usize = 4096;
/// Open handles followed at once.
const MAX_HANDLES: usize = 1024;
/// Out-of-order bytes held back per file and direction before its hash is given up.
const MAX_HELD: usize = 8 * 1024 * 1024;

/// An audit row to write: kind and detail.
pub(crate) type Row = (&'static str, Value);

/// A request waiting for its response.
enum Pending {
    Open { path: String, flags: u32 },
    Close { handle: Vec<u8> },
    Read { handle: Vec<u8>, offset: u64 },
    Write { handle: Vec<u8> },
    Op { op: &'static str, path: String, to: Option<String> },
}

/// In-order hashing of one direction of one file.
#[derive(Default)]
struct Content {
    hasher: Sha256,
    /// Bytes hashed so far (from offset 0, without gaps).
    next: u64,
    /// All bytes seen, in any order.
    bytes: u64,
    /// Chunks ahead of `next`, by offset.
    held: BTreeMap<u64, Vec<u8>>,
    held_bytes: usize,
    /// The hash no longer covers the content (a gap, or too much out of order).
    broken: bool,
    requests: u64,
}

impl Content {
    fn feed(&mut self, offset: u64, data: &[u8]) {
        self.bytes += data.len() as u64;
        self.requests += 1;
        if self.broken {
            return;
        }
        if offset > self.next {
            if self.held_bytes + data.len() > MAX_HELD {
                self.broken = true;
                self.held.clear();
                return;
            }
            self.held_bytes += data.len();
            self.held.insert(offset, data.to_vec());
            return;
        }
        self.absorb(offset, data);
        while let Some(entry) = self.held.first_entry() {
            if *entry.key() > self.next {
                break;
            }
            let (off, chunk) = entry.remove_entry();
            self.held_bytes -= chunk.len();
            self.absorb(off, &chunk);
        }
    }

    /// Hashes the part of `data` (at `offset <= next`) beyond what was already hashed.
    fn absorb(&mut self, offset: u64, data: &[u8]) {
        let skip = (self.next - offset) as usize;
        if let Some(fresh) = data.get(skip..) {
            self.hasher.update(fresh);
            self.next += fresh.len() as u64;
        }
    }

    /// The SHA-256 of the content, when every byte came in order from 0 with nothing held.
    fn digest(&self) -> Option<String> {
        (!self.broken && self.held.is_empty() && self.bytes > 0).then(|| hex::encode(self.hasher.clone().finalize()))
    }
}

/// One open file.
struct OpenFile {
    path: String,
    flags: u32,
    read: Content,
    written: Content,
    /// A read reached the end of the file.
    eof: bool,
    /// A write was refused by the device.
    write_failed: bool,
}

/// The watcher of one SFTP channel.
#[derive(Default)]
pub(crate) struct Tracker {
    pending: HashMap<u32, Pending>,
    handles: HashMap<Vec<u8>, OpenFile>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().take(4096).collect()
}

impl Tracker {
    /// Takes a request from the vendor's client.
    pub(crate) fn request(&mut self, p: Packet) -> Vec<Row> {
        let (id, pending) = match p {
            Packet::Open { id, path, flags } => (id, Pending::Open { path: text(&path), flags }),
            Packet::Close { id, handle } => (id, Pending::Close { handle }),
            Packet::Read { id, handle, offset, .. } => (id, Pending::Read { handle, offset }),
            Packet::Write { id, handle, offset, data } => {
                if let Some(f) = self.handles.get_mut(&handle) {
                    f.written.feed(offset, &data);
                }
                (id, Pending::Write { handle })
            }
            Packet::PathOp { id, op, path, to } => (id, Pending::Op { op, path: text(&path), to: to.as_deref().map(text) }),
            Packet::HandleOp { id, op, handle } => {
                let path = self.handles.get(&handle).map_or_else(|| "?".to_owned(), |f| f.path.clone());
                (id, Pending::Op { op, path, to: None })
            }
            _ => return Vec::new(),
        };
        if self.pending.len() < MAX_PENDING {
            self.pending.insert(id, pending);
        }
        Vec::new()
    }

    /// Takes a response from the device's server.
    pub(crate) fn response(&mut self, p: Packet) -> Vec<Row> {
        match p {
            Packet::Handle { id, handle } => match self.pending.remove(&id) {
                Some(Pending::Open { path, flags }) => {
                    if self.handles.len() < MAX_HANDLES {
                        self.handles.insert(handle, OpenFile { path: path.clone(), flags, read: Content::default(), written: Content::default(), eof: false, write_failed: false });
                    }
                    vec![("sftp.op", json!({ "op": "open", "path": path, "mode": mode(flags), "status": "ok" }))]
                }
                _ => Vec::new(),
            },
            Packet::Data { id, data } => {
                if let Some(Pending::Read { handle, offset }) = self.pending.remove(&id) {
                    if let Some(f) = self.handles.get_mut(&handle) {
                        f.read.feed(offset, &data);
                    }
                }
                Vec::new()
            }
            Packet::Status { id, code, message } => self.status(id, code, &message),
            _ => Vec::new(),
        }
    }

    fn status(&mut self, id: u32, code: u32, message: &[u8]) -> Vec<Row> {
        let outcome = if code == FX_OK { "ok".to_owned() } else { format!("error {code}: {}", text(message)) };
        match self.pending.remove(&id) {
            Some(Pending::Open { path, flags }) => vec![("sftp.op", json!({ "op": "open", "path": path, "mode": mode(flags), "status": outcome }))],
            Some(Pending::Read { handle, .. }) => {
                if code == FX_EOF {
                    if let Some(f) = self.handles.get_mut(&handle) {
                        f.eof = true;
                    }
                }
                Vec::new()
            }
            Some(Pending::Write { handle }) => {
                if code != FX_OK {
                    if let Some(f) = self.handles.get_mut(&handle) {
                        f.write_failed = true;
                    }
                }
                Vec::new()
            }
            Some(Pending::Close { handle }) => match self.handles.remove(&handle) {
                Some(f) => vec![file_row(f, &outcome)],
                None => Vec::new(),
            },
            Some(Pending::Op { op, path, to }) => {
                let mut d = json!({ "op": op, "path": path, "status": outcome });
                if let (Some(to), Some(obj)) = (to, d.as_object_mut()) {
                    obj.insert("to".into(), json!(to));
                }
                vec![("sftp.op", d)]
            }
            None => Vec::new(),
        }
    }

    /// Rows for files still open when the channel ends.
    pub(crate) fn finish(&mut self) -> Vec<Row> {
        self.handles.drain().map(|(_, f)| file_row(f, "not closed (channel ended)")).collect()
    }
}

fn mode(flags: u32) -> &'static str {
    match (flags & FXF_READ != 0, flags & FXF_WRITE != 0) {
        (true, true) => "read-write",
        (false, true) => "write",
        _ => "read",
    }
}

/// The `sftp.file` row for a file whose handle is closed.
fn file_row(f: OpenFile, close: &str) -> Row {
    let direction = match (f.written.bytes > 0, f.read.bytes > 0) {
        (true, true) => "both",
        (true, false) => "upload",
        (false, true) => "download",
        (false, false) => "none",
    };
    let (bytes, sha256) = match direction {
        "upload" => (f.written.bytes, f.written.digest()),
        "download" => (f.read.bytes, f.read.digest()),
        _ => (f.written.bytes + f.read.bytes, None),
    };
    let complete = match direction {
        "upload" => close == "ok" && !f.write_failed && sha256.is_some(),
        "download" => close == "ok" && f.eof && sha256.is_some(),
        _ => false,
    };
    ("sftp.file", json!({
        "path": f.path, "mode": mode(f.flags), "direction": direction, "bytes": bytes, "sha256": sha256,
        "complete": complete, "bytes_written": f.written.bytes, "bytes_read": f.read.bytes,
        "writes": f.written.requests, "reads": f.read.requests, "close": close,
        "sha256_written": f.written.digest(), "sha256_read": f.read.digest(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn upload_in_pieces_is_hashed() {
        let mut t = Tracker::default();
        t.request(Packet::Open { id: 1, path: b"/fw.bin".to_vec(), flags: FXF_WRITE | 0x18 });
        let rows = t.response(Packet::Handle { id: 1, handle: b"h".to_vec() });
        assert_eq!(rows[0].1["op"], "open");
        // Two writes in flight, answered out of order; the second chunk arrives first.
        t.request(Packet::Write { id: 3, handle: b"h".to_vec(), offset: 4, data: b"5678".to_vec() });
        t.request(Packet::Write { id: 2, handle: b"h".to_vec(), offset: 0, data: b"1234".to_vec() });
        t.response(Packet::Status { id: 3, code: FX_OK, message: vec![] });
        t.response(Packet::Status { id: 2, code: FX_OK, message: vec![] });
        t.request(Packet::Close { id: 4, handle: b"h".to_vec() });
        let rows = t.response(Packet::Status { id: 4, code: FX_OK, message: vec![] });
        let (kind, d) = &rows[0];
        assert_eq!(*kind, "sftp.file");
        assert_eq!(d["direction"], "upload");
        assert_eq!(d["bytes"], 8);
        assert_eq!(d["sha256"], sha(b"12345678"));
        assert_eq!(d["complete"], true);
    }

    #[test]
    fn download_with_short_reads_and_eof() {
        let mut t = Tracker::default();
        t.request(Packet::Open { id: 1, path: b"/log".to_vec(), flags: FXF_READ });
        t.response(Packet::Handle { id: 1, handle: b"h".to_vec() });
        t.request(Packet::Read { id: 2, handle: b"h".to_vec(), offset: 0, len: 10 });
        t.request(Packet::Read { id: 3, handle: b"h".to_vec(), offset: 10, len: 10 });
        t.response(Packet::Data { id: 2, data: b"abc".to_vec() }); // short read
        t.response(Packet::Data { id: 3, data: b"klm".to_vec() }); // ahead: held
        t.request(Packet::Read { id: 4, handle: b"h".to_vec(), offset: 3, len: 7 });
        t.response(Packet::Data { id: 4, data: b"defghij".to_vec() });
        t.request(Packet::Read { id: 5, handle: b"h".to_vec(), offset: 13, len: 10 });
        t.response(Packet::Status { id: 5, code: FX_EOF, message: vec![] });
        t.request(Packet::Close { id: 6, handle: b"h".to_vec() });
        let rows = t.response(Packet::Status { id: 6, code: FX_OK, message: vec![] });
        let d = &rows[0].1;
        assert_eq!(d["direction"], "download");
        assert_eq!(d["sha256"], sha(b"abcdefghijklm"));
        assert_eq!(d["complete"], true);
    }

    #[test]
    fn a_gap_means_no_hash_and_ops_are_logged() {
        let mut t = Tracker::default();
        t.request(Packet::Open { id: 1, path: b"/x".to_vec(), flags: FXF_WRITE });
        t.response(Packet::Handle { id: 1, handle: b"h".to_vec() });
        t.request(Packet::Write { id: 2, handle: b"h".to_vec(), offset: 100, data: b"late".to_vec() });
        t.request(Packet::PathOp { id: 3, op: "rename", path: b"/x".to_vec(), to: Some(b"/y".to_vec()) });
        let rows = t.response(Packet::Status { id: 3, code: 4, message: b"Failure".to_vec() });
        assert_eq!(rows[0].1["to"], "/y");
        assert_eq!(rows[0].1["status"], "error 4: Failure");
        let rows = t.finish();
        assert_eq!(rows[0].1["sha256"], Value::Null);
        assert_eq!(rows[0].1["complete"], false);
        assert_eq!(rows[0].1["close"], "not closed (channel ended)");
    }
}
