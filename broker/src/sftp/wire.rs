//! The SFTP (version 3, draft-ietf-secsh-filexfer-02, as OpenSSH speaks it) wire format, just
//! enough to watch a session in passing: packets are cut out of each direction's byte stream
//! (`uint32 length, byte type, payload`) and every request a client may send is decoded, so
//! that the watcher can tell what each one does (or that it cannot). Nothing here answers or
//! changes a packet; the bridge forwards the original bytes.
//!
//! Packets are buffered whole, up to [`MAX_PACKET`] bytes (OpenSSH's own limit is 256 KiB);
//! a longer or malformed one stops the parser, and the channel with it (the watcher cannot
//! follow the rest), so memory per direction stays bounded.

/// Longest packet the watcher buffers.
pub(crate) const MAX_PACKET: usize = 1024 * 1024;

/// A decoded packet: requests from the vendor's client, responses from the device's server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Packet {
    Open { id: u32, path: Vec<u8>, flags: u32 },
    Close { id: u32, handle: Vec<u8> },
    Read { id: u32, handle: Vec<u8>, offset: u64, len: u32 },
    Write { id: u32, handle: Vec<u8>, offset: u64, data: Vec<u8> },
    /// An operation on one or two paths: setstat, remove, mkdir, rmdir, rename, symlink and
    /// the OpenSSH extensions that rename, link or set attributes without following links.
    PathOp { id: u32, op: &'static str, path: Vec<u8>, to: Option<Vec<u8>> },
    /// An operation through an open handle: fsetstat, and the fsync extension.
    HandleOp { id: u32, op: &'static str, handle: Vec<u8> },
    /// A request that changes nothing, on a path: lstat, realpath, stat, readlink, and the
    /// statvfs and expand-path extensions.
    Query { id: u32, op: &'static str, path: Vec<u8> },
    /// A request that changes nothing, through a handle: fstat, readdir, fstatvfs.
    HandleQuery { id: u32, op: &'static str, handle: Vec<u8> },
    OpenDir { id: u32, path: Vec<u8> },
    /// `copy-data`: the server copies between two open handles.
    CopyData { id: u32, from: Vec<u8>, to: Vec<u8> },
    /// Any other extension, by name: followed by name only.
    Extended { id: u32, name: String },
    /// The client's `init`.
    Init,
    Status { id: u32, code: u32, message: Vec<u8> },
    Handle { id: u32, handle: Vec<u8> },
    Data { id: u32, data: Vec<u8> },
    /// The server's version: carries nothing the watcher follows.
    Reply,
    /// An answer to a request with names, attributes or an extension's reply: it carries
    /// nothing the watcher follows, but frees its request id (clients such as PuTTY reuse the
    /// lowest free id).
    Answer { id: u32 },
    /// A packet type SFTP version 3 does not define.
    Unknown(u8),
}

/// `SSH_FX_*` status codes.
pub(crate) const FX_OK: u32 = 0;
pub(crate) const FX_EOF: u32 = 1;

/// Open flags (`SSH_FXF_*`).
pub(crate) const FXF_READ: u32 = 0x01;
pub(crate) const FXF_WRITE: u32 = 0x02;

/// Reads big-endian fields from a packet body.
struct Cursor<'a> {
    buf: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }
    fn u32(&mut self) -> Option<u32> {
        let (head, rest) = self.buf.split_first_chunk::<4>()?;
        self.buf = rest;
        Some(u32::from_be_bytes(*head))
    }
    fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.buf.split_first_chunk::<8>()?;
        self.buf = rest;
        Some(u64::from_be_bytes(*head))
    }
    fn string(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        if n > self.buf.len() {
            return None;
        }
        let (s, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(s)
    }
}

/// Decodes one packet body (type byte first). `None` when it is malformed.
pub(crate) fn decode(body: &[u8]) -> Option<Packet> {
    let mut c = Cursor { buf: body };
    let kind = c.u8()?;
    let path_op = |c: &mut Cursor, op: &'static str, two: bool| -> Option<Packet> {
        let id = c.u32()?;
        let path = c.string()?.to_vec();
        let to = if two { Some(c.string()?.to_vec()) } else { None };
        Some(Packet::PathOp { id, op, path, to })
    };
    Some(match kind {
        3 => Packet::Open { id: c.u32()?, path: c.string()?.to_vec(), flags: c.u32()? },
        4 => Packet::Close { id: c.u32()?, handle: c.string()?.to_vec() },
        5 => Packet::Read { id: c.u32()?, handle: c.string()?.to_vec(), offset: c.u64()?, len: c.u32()? },
        6 => Packet::Write { id: c.u32()?, handle: c.string()?.to_vec(), offset: c.u64()?, data: c.string()?.to_vec() },
        9 => path_op(&mut c, "setstat", false)?,
        10 => Packet::HandleOp { id: c.u32()?, op: "fsetstat", handle: c.string()?.to_vec() },
        13 => path_op(&mut c, "remove", false)?,
        14 => path_op(&mut c, "mkdir", false)?,
        15 => path_op(&mut c, "rmdir", false)?,
        18 => path_op(&mut c, "rename", true)?,
        20 => path_op(&mut c, "symlink", true)?,
        1 => Packet::Init,
        7 => Packet::Query { id: c.u32()?, op: "lstat", path: c.string()?.to_vec() },
        8 => Packet::HandleQuery { id: c.u32()?, op: "fstat", handle: c.string()?.to_vec() },
        11 => Packet::OpenDir { id: c.u32()?, path: c.string()?.to_vec() },
        12 => Packet::HandleQuery { id: c.u32()?, op: "readdir", handle: c.string()?.to_vec() },
        16 => Packet::Query { id: c.u32()?, op: "realpath", path: c.string()?.to_vec() },
        17 => Packet::Query { id: c.u32()?, op: "stat", path: c.string()?.to_vec() },
        19 => Packet::Query { id: c.u32()?, op: "readlink", path: c.string()?.to_vec() },
        200 => extended(&mut c)?,
        2 => Packet::Reply,
        104 | 105 | 201 => Packet::Answer { id: c.u32()? },
        101 => Packet::Status { id: c.u32()?, code: c.u32()?, message: c.string().unwrap_or_default().to_vec() },
        102 => Packet::Handle { id: c.u32()?, handle: c.string()?.to_vec() },
        103 => Packet::Data { id: c.u32()?, data: c.string()?.to_vec() },
        other => Packet::Unknown(other),
    })
}

/// Decodes an `SSH_FXP_EXTENDED` request (after its type byte).
fn extended(c: &mut Cursor) -> Option<Packet> {
    let id = c.u32()?;
    let name = c.string()?;
    let path_op = |c: &mut Cursor, op: &'static str, two: bool| -> Option<Packet> {
        let path = c.string()?.to_vec();
        let to = if two { Some(c.string()?.to_vec()) } else { None };
        Some(Packet::PathOp { id, op, path, to })
    };
    Some(match name {
        b"posix-rename@openssh.com" => path_op(c, "rename", true)?,
        b"hardlink@openssh.com" => path_op(c, "hardlink", true)?,
        b"lsetstat@openssh.com" => path_op(c, "lsetstat", false)?,
        b"fsync@openssh.com" => Packet::HandleOp { id, op: "fsync", handle: c.string()?.to_vec() },
        b"statvfs@openssh.com" => Packet::Query { id, op: "statvfs", path: c.string()?.to_vec() },
        b"expand-path@openssh.com" => Packet::Query { id, op: "expand-path", path: c.string()?.to_vec() },
        b"fstatvfs@openssh.com" => Packet::HandleQuery { id, op: "fstatvfs", handle: c.string()?.to_vec() },
        b"copy-data" => {
            let from = c.string()?.to_vec();
            let (_offset, _length) = (c.u64()?, c.u64()?);
            let to = c.string()?.to_vec();
            c.u64()?;
            Packet::CopyData { id, from, to }
        }
        other => Packet::Extended { id, name: String::from_utf8_lossy(other).chars().take(128).collect() },
    })
}

/// Cuts packets out of one direction's byte stream.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    buf: Vec<u8>,
    /// Set when a packet was too long or malformed: nothing more is parsed, and every later
    /// feed says so too.
    lost: bool,
}

/// What feeding bytes to a [`Framer`] produced.
#[derive(Debug, Default)]
pub(crate) struct Framed {
    pub packets: Vec<Packet>,
    /// The framer has given up (with this chunk or an earlier one).
    pub lost_now: bool,
}

impl Framer {
    /// Adds bytes; returns the complete packets they finished.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Framed {
        let mut out = Framed::default();
        if self.lost {
            out.lost_now = true;
            return out;
        }
        self.buf.extend_from_slice(bytes);
        let mut start = 0;
        while let Some(head) = self.buf.get(start..start + 4) {
            let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
            if len == 0 || len > MAX_PACKET {
                self.lost = true;
                self.buf = Vec::new();
                out.lost_now = true;
                return out;
            }
            let Some(body) = self.buf.get(start + 4..start + 4 + len) else { break };
            match decode(body) {
                Some(p) => out.packets.push(p),
                None => {
                    self.lost = true;
                    self.buf = Vec::new();
                    out.lost_now = true;
                    return out;
                }
            }
            start += 4 + len;
        }
        self.buf.drain(..start);
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn string(s: &[u8]) -> Vec<u8> {
        let mut v = (s.len() as u32).to_be_bytes().to_vec();
        v.extend_from_slice(s);
        v
    }

    fn packet(kind: u8, fields: &[Vec<u8>]) -> Vec<u8> {
        let mut body = vec![kind];
        for f in fields {
            body.extend_from_slice(f);
        }
        let mut p = (body.len() as u32).to_be_bytes().to_vec();
        p.extend(body);
        p
    }

    #[test]
    fn frames_across_chunk_boundaries() {
        let open = packet(3, &[7u32.to_be_bytes().to_vec(), string(b"/fw.bin"), 0x1au32.to_be_bytes().to_vec(), 0u32.to_be_bytes().to_vec()]);
        let write = packet(6, &[8u32.to_be_bytes().to_vec(), string(b"h1"), 0u64.to_be_bytes().to_vec(), string(b"abc")]);
        let mut all = open.clone();
        all.extend(&write);
        let mut f = Framer::default();
        let mut got = Vec::new();
        for chunk in all.chunks(5) {
            got.extend(f.feed(chunk).packets);
        }
        assert_eq!(
            got,
            vec![
                Packet::Open { id: 7, path: b"/fw.bin".to_vec(), flags: 0x1a },
                Packet::Write { id: 8, handle: b"h1".to_vec(), offset: 0, data: b"abc".to_vec() },
            ]
        );
    }

    #[test]
    fn gives_up_on_oversized_or_malformed_packets() {
        let mut f = Framer::default();
        let r = f.feed(&(MAX_PACKET as u32 + 1).to_be_bytes());
        assert!(r.lost_now && r.packets.is_empty());
        let after = f.feed(&packet(4, &[1u32.to_be_bytes().to_vec(), string(b"h")]));
        assert!(after.lost_now && after.packets.is_empty(), "once lost, every later feed says so");

        let mut g = Framer::default();
        // A handle string longer than the packet.
        let r = g.feed(&packet(4, &[1u32.to_be_bytes().to_vec(), 99u32.to_be_bytes().to_vec()]));
        assert!(r.lost_now);
    }

    #[test]
    fn decodes_responses_and_extensions() {
        let st = packet(101, &[3u32.to_be_bytes().to_vec(), 1u32.to_be_bytes().to_vec(), string(b"End of file"), string(b"")]);
        let ren = packet(200, &[4u32.to_be_bytes().to_vec(), string(b"posix-rename@openssh.com"), string(b"/a"), string(b"/b")]);
        let mut f = Framer::default();
        let mut bytes = st;
        bytes.extend(ren);
        assert_eq!(
            f.feed(&bytes).packets,
            vec![
                Packet::Status { id: 3, code: FX_EOF, message: b"End of file".to_vec() },
                Packet::PathOp { id: 4, op: "rename", path: b"/a".to_vec(), to: Some(b"/b".to_vec()) },
            ]
        );
    }

    #[test]
    fn decodes_every_request_a_client_sends() {
        let id = |n: u32| n.to_be_bytes().to_vec();
        let ext = |n: u32, name: &[u8], rest: &[Vec<u8>]| {
            let mut f = vec![id(n), string(name)];
            f.extend_from_slice(rest);
            packet(200, &f)
        };
        let cases = [
            (packet(1, &[id(3)]), Packet::Init),
            (packet(11, &[id(1), string(b"/d")]), Packet::OpenDir { id: 1, path: b"/d".to_vec() }),
            (packet(12, &[id(2), string(b"dh")]), Packet::HandleQuery { id: 2, op: "readdir", handle: b"dh".to_vec() }),
            (packet(17, &[id(3), string(b"/f")]), Packet::Query { id: 3, op: "stat", path: b"/f".to_vec() }),
            (ext(4, b"fsync@openssh.com", &[string(b"h")]), Packet::HandleOp { id: 4, op: "fsync", handle: b"h".to_vec() }),
            (ext(5, b"lsetstat@openssh.com", &[string(b"/l"), id(0)]), Packet::PathOp { id: 5, op: "lsetstat", path: b"/l".to_vec(), to: None }),
            (
                ext(6, b"copy-data", &[string(b"r"), 0u64.to_be_bytes().to_vec(), 0u64.to_be_bytes().to_vec(), string(b"w"), 0u64.to_be_bytes().to_vec()]),
                Packet::CopyData { id: 6, from: b"r".to_vec(), to: b"w".to_vec() },
            ),
            (ext(7, b"made-up@example.com", &[]), Packet::Extended { id: 7, name: "made-up@example.com".into() }),
            (packet(99, &[id(8)]), Packet::Unknown(99)),
        ];
        for (bytes, want) in cases {
            assert_eq!(Framer::default().feed(&bytes).packets, vec![want]);
        }
    }
}
