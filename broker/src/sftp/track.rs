//! What an SFTP session did to files, worked out from the decoded packets: requests are
//! matched with their responses by request id, open handles are followed from `open` to
//! `close`, and the content read or written through each handle is hashed with SHA-256 as
//! long as it arrives in order from offset 0 (clients read and write sequentially, with a few
//! requests in flight; a bounded amount of out-of-order data is held back to restore order).
//! The result is a list of audit rows: `sftp.op` for each operation, `sftp.file` when a file
//! is closed (path, direction, bytes, SHA-256).

use portcullis_core::audit::Kind;
use super::wire::{Packet, FXF_READ, FXF_WRITE, FX_EOF, FX_OK};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet};

/// Requests awaiting an answer that are remembered; more are forwarded but not matched.
pub const MAX_PENDING: usize = 4096;
/// Open handles followed at once (files, and directories apart).
pub const MAX_HANDLES: usize = 1024;
/// Out-of-order bytes held back per file and direction before its hash is given up.
const MAX_HELD: usize = 8 * 1024 * 1024;
/// Out-of-order bytes held back over all files and both directions of one channel: past it,
/// the hash of the file whose bytes would go beyond is given up instead.
pub const MAX_HELD_ALL: usize = 32 * 1024 * 1024;

/// An audit row to write: kind and detail.
pub(crate) type Row = (Kind, Value);

/// Something that would make the file audit wrong if forwarding went on: the channel must
/// end. Each says why, for the vendor and the audit row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Anomaly {
    /// A request reused the id of a request still in flight (its response would be credited
    /// to the wrong operation: the forged file hash of the review).
    ReusedId,
    /// A request named a handle that no open returned.
    UnknownHandle,
    /// More requests in flight than the watcher follows.
    TooManyInFlight,
    /// More files or folders open at once than the watcher follows.
    TooManyOpen,
    /// A packet that was malformed, or longer than the watcher buffers.
    Unparsable,
    /// A packet type the watcher does not understand.
    NotUnderstood,
}

impl Anomaly {
    /// In words.
    pub(crate) fn why(self) -> &'static str {
        match self {
            Anomaly::ReusedId => "a request reused the id of a request still in flight",
            Anomaly::UnknownHandle => "a request named a handle that no open returned",
            Anomaly::TooManyInFlight => "more requests in flight than the file audit can follow",
            Anomaly::TooManyOpen => "more files open at once than the file audit can follow",
            Anomaly::Unparsable => "a packet was malformed or too long to follow",
            Anomaly::NotUnderstood => "a packet the file audit does not understand",
        }
    }
}

/// A request waiting for its response.
enum Pending {
    Open { path: String, flags: u32 },
    OpenDir,
    Close { handle: Vec<u8> },
    Read { handle: Vec<u8>, offset: u64 },
    Write { handle: Vec<u8> },
    Op { op: String, path: String, to: Option<String> },
    /// A request that changes nothing; its answer is not followed.
    Query,
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
    /// Takes `data` at `offset`; `room` is what the channel may still hold back.
    fn feed(&mut self, offset: u64, data: &[u8], room: usize) {
        self.bytes += data.len() as u64;
        self.requests += 1;
        if self.broken {
            return;
        }
        if offset > self.next {
            if self.held_bytes + data.len() > MAX_HELD || data.len() > room {
                self.broken = true;
                self.held.clear();
                self.held_bytes = 0;
                return;
            }
            self.held_bytes += data.len();
            if let Some(old) = self.held.insert(offset, data.to_vec()) {
                self.held_bytes -= old.len();
            }
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

/// What a [`Tracker`] holds at one moment, against its caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Requests awaiting an answer (at most [`MAX_PENDING`]).
    pub in_flight: usize,
    /// Open files followed (at most [`MAX_HANDLES`]).
    pub files: usize,
    /// Open directories followed (at most [`MAX_HANDLES`]).
    pub dirs: usize,
    /// Out-of-order bytes held back (at most [`MAX_HELD_ALL`]).
    pub held_bytes: usize,
}

/// The watcher of one SFTP channel.
#[derive(Default)]
pub(crate) struct Tracker {
    pending: HashMap<u32, Pending>,
    handles: HashMap<Vec<u8>, OpenFile>,
    /// Open directory handles (for `readdir` and `close`).
    dirs: HashSet<Vec<u8>>,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).chars().take(4096).collect()
}

impl Tracker {
    /// What the watcher holds now.
    pub(crate) fn load(&self) -> Load {
        Load { in_flight: self.pending.len(), files: self.handles.len(), dirs: self.dirs.len(), held_bytes: self.held_all() }
    }

    /// Out-of-order bytes held back over all open files.
    fn held_all(&self) -> usize {
        self.handles.values().map(|f| f.read.held_bytes + f.written.held_bytes).sum()
    }

    /// Takes a request from the vendor's client, before it is forwarded. An error means it
    /// must not be: the file audit would no longer be right.
    pub(crate) fn request(&mut self, p: Packet) -> Result<Vec<Row>, Anomaly> {
        let id = match &p {
            Packet::Init => return Ok(Vec::new()),
            Packet::Status { .. } | Packet::Handle { .. } | Packet::Data { .. } | Packet::Reply | Packet::Answer { .. } | Packet::Unknown(_) => {
                return Err(Anomaly::NotUnderstood)
            }
            Packet::Open { id, .. }
            | Packet::OpenDir { id, .. }
            | Packet::Close { id, .. }
            | Packet::Read { id, .. }
            | Packet::Write { id, .. }
            | Packet::PathOp { id, .. }
            | Packet::HandleOp { id, .. }
            | Packet::Query { id, .. }
            | Packet::HandleQuery { id, .. }
            | Packet::CopyData { id, .. }
            | Packet::Extended { id, .. } => *id,
        };
        if self.pending.contains_key(&id) {
            return Err(Anomaly::ReusedId);
        }
        if self.pending.len() >= MAX_PENDING {
            return Err(Anomaly::TooManyInFlight);
        }
        let pending = match p {
            Packet::Open { path, flags, .. } => Pending::Open { path: text(&path), flags },
            Packet::OpenDir { .. } => Pending::OpenDir,
            Packet::Close { handle, .. } => {
                self.any_handle(&handle)?;
                Pending::Close { handle }
            }
            Packet::Read { handle, offset, .. } => {
                self.file(&handle)?;
                Pending::Read { handle, offset }
            }
            Packet::Write { handle, offset, data, .. } => {
                let room = MAX_HELD_ALL.saturating_sub(self.held_all());
                self.file(&handle)?.written.feed(offset, &data, room);
                Pending::Write { handle }
            }
            Packet::PathOp { op, path, to, .. } => Pending::Op { op: op.into(), path: text(&path), to: to.as_deref().map(text) },
            Packet::HandleOp { op, handle, .. } => Pending::Op { op: op.into(), path: self.file(&handle)?.path.clone(), to: None },
            Packet::Query { .. } => Pending::Query,
            Packet::HandleQuery { handle, .. } => {
                self.any_handle(&handle)?;
                Pending::Query
            }
            Packet::CopyData { from, to, .. } => {
                let from = self.file(&from)?.path.clone();
                let target = self.file(&to)?;
                // The server writes bytes the watcher never sees: the target's upload hash
                // no longer covers its content, and the file row says so.
                target.written.broken = true;
                Pending::Op { op: "copy-data".into(), path: from, to: Some(target.path.clone()) }
            }
            Packet::Extended { name, .. } => Pending::Op { op: name, path: String::new(), to: None },
            _ => return Err(Anomaly::NotUnderstood),
        };
        self.pending.insert(id, pending);
        Ok(Vec::new())
    }

    /// The open file behind `handle`.
    fn file(&mut self, handle: &[u8]) -> Result<&mut OpenFile, Anomaly> {
        self.handles.get_mut(handle).ok_or(Anomaly::UnknownHandle)
    }

    /// Checks that `handle` is an open file or directory.
    fn any_handle(&self, handle: &[u8]) -> Result<(), Anomaly> {
        if self.handles.contains_key(handle) || self.dirs.contains(handle) {
            Ok(())
        } else {
            Err(Anomaly::UnknownHandle)
        }
    }

    /// Takes a response from the device's server.
    pub(crate) fn response(&mut self, p: Packet) -> Result<Vec<Row>, Anomaly> {
        match p {
            Packet::Handle { id, handle } => match self.pending.remove(&id) {
                Some(Pending::Open { path, flags }) => {
                    if self.handles.len() >= MAX_HANDLES {
                        return Err(Anomaly::TooManyOpen);
                    }
                    self.handles.insert(handle, OpenFile { path: path.clone(), flags, read: Content::default(), written: Content::default(), eof: false, write_failed: false });
                    Ok(vec![(Kind::SftpOp, json!({ "op": "open", "path": path, "mode": mode(flags), "status": "ok" }))])
                }
                Some(Pending::OpenDir) => {
                    if self.dirs.len() >= MAX_HANDLES {
                        return Err(Anomaly::TooManyOpen);
                    }
                    self.dirs.insert(handle);
                    Ok(Vec::new())
                }
                _ => Ok(Vec::new()),
            },
            Packet::Data { id, data } => {
                if let Some(Pending::Read { handle, offset }) = self.pending.remove(&id) {
                    let room = MAX_HELD_ALL.saturating_sub(self.held_all());
                    if let Some(f) = self.handles.get_mut(&handle) {
                        f.read.feed(offset, &data, room);
                    }
                }
                Ok(Vec::new())
            }
            Packet::Status { id, code, message } => Ok(self.status(id, code, &message)),
            // Names, attributes and extension replies answer queries and extensions: the
            // request is done (its id free again), and an extension is logged as done.
            Packet::Answer { id } => Ok(match self.pending.remove(&id) {
                Some(Pending::Op { op, path, to }) => vec![op_row(op, path, to, "ok".to_owned())],
                _ => Vec::new(),
            }),
            // The version, or an answer nobody asked for: changes nothing the audit follows.
            _ => Ok(Vec::new()),
        }
    }

    fn status(&mut self, id: u32, code: u32, message: &[u8]) -> Vec<Row> {
        let outcome = if code == FX_OK { "ok".to_owned() } else { format!("error {code}: {}", text(message)) };
        match self.pending.remove(&id) {
            Some(Pending::Open { path, flags }) => vec![(Kind::SftpOp, json!({ "op": "open", "path": path, "mode": mode(flags), "status": outcome }))],
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
            Some(Pending::Close { handle }) => {
                if self.dirs.remove(&handle) {
                    return Vec::new();
                }
                match self.handles.remove(&handle) {
                    Some(f) => vec![file_row(f, &outcome)],
                    None => Vec::new(),
                }
            }
            Some(Pending::Op { op, path, to }) => vec![op_row(op, path, to, outcome)],
            Some(Pending::OpenDir) | Some(Pending::Query) | None => Vec::new(),
        }
    }

    /// Rows for files still open when the channel ends.
    pub(crate) fn finish(&mut self) -> Vec<Row> {
        self.handles.drain().map(|(_, f)| file_row(f, "not closed (channel ended)")).collect()
    }
}

/// The `sftp.op` row of an operation that was answered.
fn op_row(op: String, path: String, to: Option<String>, outcome: String) -> Row {
    let mut d = json!({ "op": op, "path": path, "status": outcome });
    if let (Some(to), Some(obj)) = (to, d.as_object_mut()) {
        obj.insert("to".into(), json!(to));
    }
    (Kind::SftpOp, d)
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
    (Kind::SftpFile, json!({
        "path": f.path, "mode": mode(f.flags), "direction": direction, "bytes": bytes, "sha256": sha256,
        "complete": complete, "bytes_written": f.written.bytes, "bytes_read": f.read.bytes,
        "writes": f.written.requests, "reads": f.read.requests, "close": close,
        "sha256_written": f.written.digest(), "sha256_read": f.read.digest(),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn sha(b: &[u8]) -> String {
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn upload_in_pieces_is_hashed() {
        let mut t = Tracker::default();
        t.request(Packet::Open { id: 1, path: b"/fw.bin".to_vec(), flags: FXF_WRITE | 0x18 }).unwrap();
        let rows = t.response(Packet::Handle { id: 1, handle: b"h".to_vec() }).unwrap();
        assert_eq!(rows[0].1["op"], "open");
        // Two writes in flight, answered out of order; the second chunk arrives first.
        t.request(Packet::Write { id: 3, handle: b"h".to_vec(), offset: 4, data: b"5678".to_vec() }).unwrap();
        t.request(Packet::Write { id: 2, handle: b"h".to_vec(), offset: 0, data: b"1234".to_vec() }).unwrap();
        t.response(Packet::Status { id: 3, code: FX_OK, message: vec![] }).unwrap();
        t.response(Packet::Status { id: 2, code: FX_OK, message: vec![] }).unwrap();
        t.request(Packet::Close { id: 4, handle: b"h".to_vec() }).unwrap();
        let rows = t.response(Packet::Status { id: 4, code: FX_OK, message: vec![] }).unwrap();
        let (kind, d) = &rows[0];
        assert_eq!(*kind, Kind::SftpFile);
        assert_eq!(d["direction"], "upload");
        assert_eq!(d["bytes"], 8);
        assert_eq!(d["sha256"], sha(b"12345678"));
        assert_eq!(d["complete"], true);
    }

    #[test]
    fn download_with_short_reads_and_eof() {
        let mut t = Tracker::default();
        t.request(Packet::Open { id: 1, path: b"/log".to_vec(), flags: FXF_READ }).unwrap();
        t.response(Packet::Handle { id: 1, handle: b"h".to_vec() }).unwrap();
        t.request(Packet::Read { id: 2, handle: b"h".to_vec(), offset: 0, len: 10 }).unwrap();
        t.request(Packet::Read { id: 3, handle: b"h".to_vec(), offset: 10, len: 10 }).unwrap();
        t.response(Packet::Data { id: 2, data: b"abc".to_vec() }).unwrap(); // short read
        t.response(Packet::Data { id: 3, data: b"klm".to_vec() }).unwrap(); // ahead: held
        t.request(Packet::Read { id: 4, handle: b"h".to_vec(), offset: 3, len: 7 }).unwrap();
        t.response(Packet::Data { id: 4, data: b"defghij".to_vec() }).unwrap();
        t.request(Packet::Read { id: 5, handle: b"h".to_vec(), offset: 13, len: 10 }).unwrap();
        t.response(Packet::Status { id: 5, code: FX_EOF, message: vec![] }).unwrap();
        t.request(Packet::Close { id: 6, handle: b"h".to_vec() }).unwrap();
        let rows = t.response(Packet::Status { id: 6, code: FX_OK, message: vec![] }).unwrap();
        let d = &rows[0].1;
        assert_eq!(d["direction"], "download");
        assert_eq!(d["sha256"], sha(b"abcdefghijklm"));
        assert_eq!(d["complete"], true);
    }

    #[test]
    fn a_gap_means_no_hash_and_ops_are_logged() {
        let mut t = Tracker::default();
        t.request(Packet::Open { id: 1, path: b"/x".to_vec(), flags: FXF_WRITE }).unwrap();
        t.response(Packet::Handle { id: 1, handle: b"h".to_vec() }).unwrap();
        t.request(Packet::Write { id: 2, handle: b"h".to_vec(), offset: 100, data: b"late".to_vec() }).unwrap();
        t.request(Packet::PathOp { id: 3, op: "rename", path: b"/x".to_vec(), to: Some(b"/y".to_vec()) }).unwrap();
        let rows = t.response(Packet::Status { id: 3, code: 4, message: b"Failure".to_vec() }).unwrap();
        assert_eq!(rows[0].1["to"], "/y");
        assert_eq!(rows[0].1["status"], "error 4: Failure");
        let rows = t.finish();
        assert_eq!(rows[0].1["sha256"], Value::Null);
        assert_eq!(rows[0].1["complete"], false);
        assert_eq!(rows[0].1["close"], "not closed (channel ended)");
    }

    fn open(t: &mut Tracker, id: u32, path: &[u8], handle: &[u8]) {
        t.request(Packet::Open { id, path: path.to_vec(), flags: FXF_WRITE }).unwrap();
        t.response(Packet::Handle { id, handle: handle.to_vec() }).unwrap();
    }

    /// Finding: `OPEN id=7 decoy.bin` then `OPEN id=7 firmware.bin` made the log credit the
    /// decoy's bytes to firmware.bin. A reused id is refused before it is forwarded.
    #[test]
    fn a_reused_request_id_is_refused() {
        let mut t = Tracker::default();
        t.request(Packet::Open { id: 7, path: b"/tmp/decoy.bin".to_vec(), flags: FXF_WRITE }).unwrap();
        let second = t.request(Packet::Open { id: 7, path: b"/fw/firmware.bin".to_vec(), flags: FXF_WRITE });
        assert_eq!(second.unwrap_err(), Anomaly::ReusedId);
        // Once answered, the id may be used again (clients do reuse them).
        t.response(Packet::Handle { id: 7, handle: b"h".to_vec() }).unwrap();
        t.request(Packet::Close { id: 7, handle: b"h".to_vec() }).unwrap();
    }

    /// Finding: PuTTY's psftp reuses the lowest free request id; an id answered with names or
    /// attributes stayed "in flight", so its reuse after a `stat` stopped the download.
    #[test]
    fn an_id_answered_with_names_or_attributes_is_free_again() {
        let mut t = Tracker::default();
        t.request(Packet::Query { id: 0, op: "realpath", path: b".".to_vec() }).unwrap();
        t.response(Packet::Answer { id: 0 }).unwrap();
        t.request(Packet::Query { id: 0, op: "stat", path: b"/fw.bin".to_vec() }).unwrap();
        t.response(Packet::Answer { id: 0 }).unwrap();
        open(&mut t, 0, b"/fw.bin", b"h");
        assert_eq!(t.load().in_flight, 0);
        // An extension answered by its reply is logged as done.
        t.request(Packet::Extended { id: 1, name: "limits@openssh.com".into() }).unwrap();
        let rows = t.response(Packet::Answer { id: 1 }).unwrap();
        assert_eq!(rows[0].1["op"], "limits@openssh.com");
        assert_eq!(rows[0].1["status"], "ok");
    }

    #[test]
    fn unknown_handles_and_packets_end_the_channel() {
        let mut t = Tracker::default();
        open(&mut t, 1, b"/a", b"h");
        let write = t.request(Packet::Write { id: 2, handle: b"forged".to_vec(), offset: 0, data: b"x".to_vec() });
        assert_eq!(write.unwrap_err(), Anomaly::UnknownHandle);
        assert_eq!(t.request(Packet::Read { id: 3, handle: b"nope".to_vec(), offset: 0, len: 1 }).unwrap_err(), Anomaly::UnknownHandle);
        assert_eq!(t.request(Packet::Close { id: 4, handle: b"nope".to_vec() }).unwrap_err(), Anomaly::UnknownHandle);
        assert_eq!(t.request(Packet::HandleOp { id: 5, op: "fsetstat", handle: b"nope".to_vec() }).unwrap_err(), Anomaly::UnknownHandle);
        assert_eq!(t.request(Packet::Unknown(99)).unwrap_err(), Anomaly::NotUnderstood);
        assert_eq!(t.request(Packet::Status { id: 6, code: 0, message: vec![] }).unwrap_err(), Anomaly::NotUnderstood);
    }

    /// Finding: out-of-order bytes were capped per file (8 MiB a direction) but not per
    /// channel, so 1,024 open files could hold 16 GiB. Now the channel holds at most
    /// `MAX_HELD_ALL`; the file whose bytes would go beyond loses its hash instead.
    #[test]
    fn out_of_order_bytes_are_capped_over_all_files() {
        let mut t = Tracker::default();
        let ahead = vec![b'x'; MAX_HELD - 1];
        let files = MAX_HELD_ALL / ahead.len() + 1;
        for n in 0..files as u32 {
            open(&mut t, 2 * n + 1, format!("/f{n}").as_bytes(), &n.to_be_bytes());
            t.request(Packet::Write { id: 2 * n + 2, handle: n.to_be_bytes().to_vec(), offset: 1, data: ahead.clone() }).unwrap();
            assert!(t.load().held_bytes <= MAX_HELD_ALL, "file {n}: {:?}", t.load());
        }
        for n in 0..files as u32 {
            t.request(Packet::Write { id: 10_000 + n, handle: n.to_be_bytes().to_vec(), offset: 0, data: b"y".to_vec() }).unwrap();
        }
        assert_eq!(t.load().held_bytes, 0);
        let rows = t.finish();
        let hashed = rows.iter().filter(|(_, d)| d["sha256"].is_string()).count();
        assert_eq!((rows.len(), hashed), (files, files - 1), "only the file past the cap loses its hash");
    }

    /// A chunk written again at the same offset replaces the one held, and is counted once.
    #[test]
    fn a_rewritten_chunk_is_held_once() {
        let mut t = Tracker::default();
        open(&mut t, 1, b"/a", b"h");
        t.request(Packet::Write { id: 2, handle: b"h".to_vec(), offset: 10, data: vec![b'a'; 100] }).unwrap();
        t.request(Packet::Write { id: 3, handle: b"h".to_vec(), offset: 10, data: vec![b'b'; 10] }).unwrap();
        assert_eq!(t.load().held_bytes, 10);
    }

    #[test]
    fn too_many_in_flight_is_refused() {
        let mut t = Tracker::default();
        for id in 0..MAX_PENDING as u32 {
            t.request(Packet::Query { id, op: "stat", path: b"/".to_vec() }).unwrap();
        }
        assert_eq!(t.request(Packet::Query { id: u32::MAX, op: "stat", path: b"/".to_vec() }).unwrap_err(), Anomaly::TooManyInFlight);
    }

    #[test]
    fn directories_are_followed_and_extensions_audited() {
        let mut t = Tracker::default();
        t.request(Packet::OpenDir { id: 1, path: b"/d".to_vec() }).unwrap();
        t.response(Packet::Handle { id: 1, handle: b"dh".to_vec() }).unwrap();
        t.request(Packet::HandleQuery { id: 2, op: "readdir", handle: b"dh".to_vec() }).unwrap();
        t.request(Packet::Close { id: 3, handle: b"dh".to_vec() }).unwrap();
        assert!(t.response(Packet::Status { id: 3, code: FX_OK, message: vec![] }).unwrap().is_empty());

        open(&mut t, 4, b"/src", b"r");
        open(&mut t, 5, b"/dst", b"w");
        t.request(Packet::Write { id: 6, handle: b"w".to_vec(), offset: 0, data: b"abc".to_vec() }).unwrap();
        t.request(Packet::CopyData { id: 7, from: b"r".to_vec(), to: b"w".to_vec() }).unwrap();
        let rows = t.response(Packet::Status { id: 7, code: FX_OK, message: vec![] }).unwrap();
        assert_eq!((rows[0].1["op"].clone(), rows[0].1["path"].clone(), rows[0].1["to"].clone()), (json!("copy-data"), json!("/src"), json!("/dst")));
        t.request(Packet::HandleOp { id: 8, op: "fsync", handle: b"w".to_vec() }).unwrap();
        assert_eq!(t.response(Packet::Status { id: 8, code: FX_OK, message: vec![] }).unwrap()[0].1["op"], "fsync");
        t.request(Packet::PathOp { id: 9, op: "lsetstat", path: b"/dst".to_vec(), to: None }).unwrap();
        assert_eq!(t.response(Packet::Status { id: 9, code: FX_OK, message: vec![] }).unwrap()[0].1["op"], "lsetstat");
        t.request(Packet::Extended { id: 10, name: "made-up@example.com".into() }).unwrap();
        assert_eq!(t.response(Packet::Status { id: 10, code: 8, message: b"Unsupported".to_vec() }).unwrap()[0].1["op"], "made-up@example.com");
        // The server wrote bytes the watcher never saw: no hash is claimed for the target.
        t.request(Packet::Close { id: 11, handle: b"w".to_vec() }).unwrap();
        let rows = t.response(Packet::Status { id: 11, code: FX_OK, message: vec![] }).unwrap();
        assert_eq!((rows[0].1["sha256"].clone(), rows[0].1["complete"].clone()), (Value::Null, json!(false)));
    }
}
