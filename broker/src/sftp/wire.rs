//! The SFTP (version 3, draft-ietf-secsh-filexfer-02, as OpenSSH speaks it) wire format, just
//! enough to watch a session in passing: packets are cut out of each direction's byte stream
//! (`uint32 length, byte type, payload`) and the few kinds that touch files are decoded.
//! Nothing here answers or changes a packet; the bridge forwards the original bytes.
//!
//! Packets are buffered whole, up to [`MAX_PACKET`] bytes (OpenSSH's own limit is 256 KiB);
//! a longer one stops the parser for the rest of the channel (the raw bytes are still
//! forwarded and recorded), so memory per direction stays bounded.

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
    /// the OpenSSH extensions that rename or link.
    PathOp { id: u32, op: &'static str, path: Vec<u8>, to: Option<Vec<u8>> },
    /// fsetstat: attributes changed through an open handle.
    HandleOp { id: u32, op: &'static str, handle: Vec<u8> },
    Status { id: u32, code: u32, message: Vec<u8> },
    Handle { id: u32, handle: Vec<u8> },
    Data { id: u32, data: Vec<u8> },
    /// Anything else (stat, readdir, realpath, init/version…), not logged.
    Other,
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
        200 => {
            let id = c.u32()?;
            let name = c.string()?;
            let op = match name {
                b"posix-rename@openssh.com" => "rename",
                b"hardlink@openssh.com" => "hardlink",
                _ => return Some(Packet::Other),
            };
            Packet::PathOp { id, op, path: c.string()?.to_vec(), to: Some(c.string()?.to_vec()) }
        }
        101 => Packet::Status { id: c.u32()?, code: c.u32()?, message: c.string().unwrap_or_default().to_vec() },
        102 => Packet::Handle { id: c.u32()?, handle: c.string()?.to_vec() },
        103 => Packet::Data { id: c.u32()?, data: c.string()?.to_vec() },
        _ => Packet::Other,
    })
}

/// Cuts packets out of one direction's byte stream.
#[derive(Debug, Default)]
pub(crate) struct Framer {
    buf: Vec<u8>,
    /// Set when a packet was too long or malformed: nothing more is parsed.
    lost: bool,
}

/// What feeding bytes to a [`Framer`] produced.
#[derive(Debug, Default)]
pub(crate) struct Framed {
    pub packets: Vec<Packet>,
    /// The framer gave up with this chunk (first time only).
    pub lost_now: bool,
}

impl Framer {
    /// Adds bytes; returns the complete packets they finished.
    pub(crate) fn feed(&mut self, bytes: &[u8]) -> Framed {
        let mut out = Framed::default();
        if self.lost {
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
        assert!(!f.feed(&packet(4, &[1u32.to_be_bytes().to_vec(), string(b"h")])).lost_now);
        assert!(f.feed(&packet(4, &[1u32.to_be_bytes().to_vec(), string(b"h")])).packets.is_empty());

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
}
