//! The SFTP watcher (`broker/src/sftp`): the framer that cuts packets out of each direction's
//! byte stream, the decoder, and the tracker that follows requests, handles and file content.
//!
//! The input is a sequence of chunks, each `[direction][length: u16 big-endian][bytes]`:
//! direction byte even for bytes from the vendor's client (requests), odd for bytes from the
//! device's server (responses); a length past the end of the input takes what is left. The
//! chunks are fed in order, as the bridge does. When the watcher refuses a chunk the channel
//! ends: the open files are reported and nothing more is fed.
//!
//! Checked after every chunk: the watcher stays within its caps (requests in flight, open
//! files and directories, out-of-order bytes held back), and every row it makes is an
//! `sftp.op` or `sftp.file` row whose detail is an object (a `sftp.file` row that says
//! `complete` carries a SHA-256). Every packet is then either understood or refused with a
//! named anomaly, never a panic.

use portcullis_broker::fuzzing::{SftpRow, SftpWatch, SFTP_MAX_HANDLES, SFTP_MAX_HELD_ALL, SFTP_MAX_PENDING};

/// Runs one input through a fresh watcher.
pub fn sftp(data: &[u8]) {
    let mut watch = SftpWatch::default();
    let mut rest = data;
    while let Some((&dir, tail)) = rest.split_first() {
        let (len, tail) = match tail.split_first_chunk::<2>() {
            Some((len, tail)) => (usize::from(u16::from_be_bytes(*len)), tail),
            None => (tail.len(), &[][..]),
        };
        let (chunk, tail) = tail.split_at(len.min(tail.len()));
        rest = tail;
        let from_device = dir & 1 == 1;
        let result = if from_device { watch.device_bytes(chunk) } else { watch.vendor_bytes(chunk) };
        check_load(&watch);
        match result {
            Ok(rows) => check_rows(&rows),
            Err(why) => {
                assert!(!why.is_empty());
                break;
            }
        }
    }
    check_rows(&watch.finish());
    assert_eq!(watch.load().files, 0, "finish reports every open file");
}

fn check_load(watch: &SftpWatch) {
    let load = watch.load();
    assert!(load.in_flight <= SFTP_MAX_PENDING, "{load:?}");
    assert!(load.files <= SFTP_MAX_HANDLES, "{load:?}");
    assert!(load.dirs <= SFTP_MAX_HANDLES, "{load:?}");
    assert!(load.held_bytes <= SFTP_MAX_HELD_ALL, "{load:?}");
}

fn check_rows(rows: &[SftpRow]) {
    for (kind, detail) in rows {
        assert!(matches!(*kind, "sftp.op" | "sftp.file"), "{kind}");
        assert!(detail.is_object(), "{detail}");
        if *kind == "sftp.file" && detail["complete"] == serde_json::Value::Bool(true) {
            let sha = detail["sha256"].as_str().unwrap_or_default();
            assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()), "{detail}");
        }
    }
}

/// Frames chunks as [`sftp`] reads them (`true`: from the device), for making seeds.
pub fn frame(chunks: &[(bool, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (from_device, bytes) in chunks {
        for piece in bytes.chunks(usize::from(u16::MAX)) {
            out.push(u8::from(*from_device));
            out.extend_from_slice(&(piece.len() as u16).to_be_bytes());
            out.extend_from_slice(piece);
        }
    }
    out
}
