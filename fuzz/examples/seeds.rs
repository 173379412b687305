//! Writes the binary seed inputs of the fuzz corpora: SFTP sessions as an OpenSSH client and
//! server exchange them (framed for the `sftp` target), and an evidence bundle made and signed
//! with the core API as `portcullis evidence export` makes one (gzipped, and its bare tar).
//! The text seeds (lobby lines, user names, recordings, configurations) are files in the
//! corpus folders. Run: `cargo run -p portcullis-fuzz --example seeds -- fuzz/corpus`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine;
use portcullis_core::audit::{checkpoint_message, row_hash, AuditRow, AuditSigner, Checkpoint, GENESIS_HASH};
use portcullis_core::evidence::{sha256_hex, write_archive, Manifest, Members, MANIFEST, SIGNATURE};
use portcullis_fuzz::sftp_frame;
use std::path::Path;

fn string(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

fn u32b(n: u32) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

fn u64b(n: u64) -> Vec<u8> {
    n.to_be_bytes().to_vec()
}

/// One SFTP packet: length, type, fields.
fn packet(kind: u8, fields: &[Vec<u8>]) -> Vec<u8> {
    let mut body = vec![kind];
    for f in fields {
        body.extend_from_slice(f);
    }
    let mut p = u32b(body.len() as u32);
    p.extend(body);
    p
}

fn status(id: u32, code: u32, msg: &[u8]) -> Vec<u8> {
    packet(101, &[u32b(id), u32b(code), string(msg), string(b"")])
}

/// No attributes (`flags = 0`).
fn attrs() -> Vec<u8> {
    u32b(0)
}

fn init() -> Vec<(bool, Vec<u8>)> {
    vec![
        (false, packet(1, &[u32b(3)])),
        (true, packet(2, &[u32b(3), string(b"posix-rename@openssh.com"), string(b"1"), string(b"fsync@openssh.com"), string(b"1")])),
        (false, packet(16, &[u32b(1), string(b".")])),
        (true, packet(104, &[u32b(1), u32b(1), string(b"/home/svc"), string(b"/home/svc"), attrs()])),
    ]
}

/// `put fw.bin`: open for writing, two writes answered out of order, fsync, close.
fn upload() -> Vec<(bool, Vec<u8>)> {
    let mut s = init();
    s.extend([
        (false, packet(17, &[u32b(2), string(b"/home/svc/fw.bin")])),
        (true, status(2, 2, b"No such file")),
        (false, packet(3, &[u32b(3), string(b"/home/svc/fw.bin"), u32b(0x1a), attrs()])),
        (true, packet(102, &[u32b(3), string(b"\0\0\0\0")])),
        (false, packet(6, &[u32b(4), string(b"\0\0\0\0"), u64b(0), string(&[0x7f; 300])])),
        (false, packet(6, &[u32b(5), string(b"\0\0\0\0"), u64b(300), string(b"ELF tail")])),
        (true, status(5, 0, b"Success")),
        (true, status(4, 0, b"Success")),
        (false, packet(200, &[u32b(6), string(b"fsync@openssh.com"), string(b"\0\0\0\0")])),
        (true, status(6, 0, b"Success")),
        (false, packet(4, &[u32b(7), string(b"\0\0\0\0")])),
        (true, status(7, 0, b"Success")),
    ]);
    s
}

/// `get log.txt`: stat, open for reading, short reads, EOF, close.
fn download() -> Vec<(bool, Vec<u8>)> {
    let mut s = init();
    s.extend([
        (false, packet(17, &[u32b(2), string(b"/var/log/pump.log")])),
        (true, packet(105, &[u32b(2), u32b(1), u64b(13)])),
        (false, packet(3, &[u32b(3), string(b"/var/log/pump.log"), u32b(1), attrs()])),
        (true, packet(102, &[u32b(3), string(b"h1")])),
        (false, packet(5, &[u32b(4), string(b"h1"), u64b(0), u32b(32768)])),
        (false, packet(5, &[u32b(5), string(b"h1"), u64b(32768), u32b(32768)])),
        (true, packet(103, &[u32b(4), string(b"pump started\n")])),
        (true, status(5, 1, b"End of file")),
        (false, packet(5, &[u32b(6), string(b"h1"), u64b(13), u32b(32768)])),
        (true, status(6, 1, b"End of file")),
        (false, packet(4, &[u32b(7), string(b"h1")])),
        (true, status(7, 0, b"Success")),
    ]);
    s
}

/// `ls`, `mkdir`, `rename`, `rm`, `rmdir`, `chmod`, `ln -s`, and the extensions.
fn housekeeping() -> Vec<(bool, Vec<u8>)> {
    let mut s = init();
    s.extend([
        (false, packet(11, &[u32b(2), string(b"/home/svc")])),
        (true, packet(102, &[u32b(2), string(b"d1")])),
        (false, packet(12, &[u32b(3), string(b"d1")])),
        (true, packet(104, &[u32b(3), u32b(1), string(b"fw.bin"), string(b"-rw-r--r-- 1 svc svc 308 fw.bin"), attrs()])),
        (false, packet(12, &[u32b(4), string(b"d1")])),
        (true, status(4, 1, b"End of file")),
        (false, packet(4, &[u32b(5), string(b"d1")])),
        (true, status(5, 0, b"Success")),
        (false, packet(14, &[u32b(6), string(b"/home/svc/new"), attrs()])),
        (true, status(6, 0, b"Success")),
        (false, packet(200, &[u32b(7), string(b"posix-rename@openssh.com"), string(b"/home/svc/fw.bin"), string(b"/home/svc/new/fw.bin")])),
        (true, status(7, 0, b"Success")),
        (false, packet(18, &[u32b(8), string(b"/a"), string(b"/b")])),
        (true, status(8, 4, b"Failure")),
        (false, packet(9, &[u32b(9), string(b"/home/svc/new/fw.bin"), u32b(4), u32b(0o600)])),
        (true, status(9, 0, b"Success")),
        (false, packet(20, &[u32b(10), string(b"/home/svc/link"), string(b"/home/svc/new/fw.bin")])),
        (true, status(10, 0, b"Success")),
        (false, packet(19, &[u32b(11), string(b"/home/svc/link")])),
        (true, packet(104, &[u32b(11), u32b(1), string(b"/home/svc/new/fw.bin"), string(b""), attrs()])),
        (false, packet(7, &[u32b(12), string(b"/home/svc/link")])),
        (true, packet(105, &[u32b(12), attrs()])),
        (false, packet(13, &[u32b(13), string(b"/home/svc/link")])),
        (true, status(13, 0, b"Success")),
        (false, packet(200, &[u32b(14), string(b"statvfs@openssh.com"), string(b"/")])),
        (true, packet(201, &[u32b(14), u64b(4096)])),
        (false, packet(200, &[u32b(15), string(b"hardlink@openssh.com"), string(b"/x"), string(b"/y")])),
        (true, status(15, 0, b"Success")),
        (false, packet(200, &[u32b(16), string(b"lsetstat@openssh.com"), string(b"/y"), attrs()])),
        (true, status(16, 0, b"Success")),
        (false, packet(200, &[u32b(17), string(b"expand-path@openssh.com"), string(b"~/x")])),
        (true, packet(104, &[u32b(17), u32b(1), string(b"/home/svc/x"), string(b""), attrs()])),
        (false, packet(200, &[u32b(18), string(b"limits@openssh.com")])),
        (true, packet(201, &[u32b(18), u64b(262144), u64b(261120), u64b(261120), u64b(0)])),
        (false, packet(15, &[u32b(19), string(b"/home/svc/new")])),
        (true, status(19, 4, b"Failure")),
    ]);
    s
}

/// Remote copy (`copy-data`) between two open handles, `fstat`, `fsetstat`, `fstatvfs`.
fn copy() -> Vec<(bool, Vec<u8>)> {
    let mut s = init();
    s.extend([
        (false, packet(3, &[u32b(2), string(b"/src"), u32b(1), attrs()])),
        (true, packet(102, &[u32b(2), string(b"r")])),
        (false, packet(3, &[u32b(3), string(b"/dst"), u32b(0x1a), attrs()])),
        (true, packet(102, &[u32b(3), string(b"w")])),
        (false, packet(8, &[u32b(4), string(b"r")])),
        (true, packet(105, &[u32b(4), attrs()])),
        (false, packet(200, &[u32b(5), string(b"copy-data"), string(b"r"), u64b(0), u64b(0), string(b"w"), u64b(0)])),
        (true, status(5, 0, b"Success")),
        (false, packet(10, &[u32b(6), string(b"w"), attrs()])),
        (true, status(6, 0, b"Success")),
        (false, packet(200, &[u32b(7), string(b"fstatvfs@openssh.com"), string(b"w")])),
        (true, packet(201, &[u32b(7), u64b(4096)])),
        (false, packet(4, &[u32b(8), string(b"r")])),
        (false, packet(4, &[u32b(9), string(b"w")])),
        (true, status(8, 0, b"Success")),
        (true, status(9, 0, b"Success")),
    ]);
    s
}

/// Hostile: a reused request id (the forged-hash attack), then a forged handle.
fn hostile() -> Vec<(bool, Vec<u8>)> {
    let mut s = init();
    s.extend([
        (false, packet(3, &[u32b(7), string(b"/tmp/decoy.bin"), u32b(0x1a), attrs()])),
        (false, packet(3, &[u32b(7), string(b"/fw/firmware.bin"), u32b(0x1a), attrs()])),
        (false, packet(6, &[u32b(8), string(b"forged"), u64b(0), string(b"x")])),
    ]);
    s
}

fn write_sftp(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (name, session) in [("upload", upload()), ("download", download()), ("housekeeping", housekeeping()), ("copy", copy()), ("hostile", hostile())] {
        let chunks: Vec<(bool, &[u8])> = session.iter().map(|(d, b)| (*d, b.as_slice())).collect();
        std::fs::write(dir.join(format!("{name}.bin")), sftp_frame(&chunks)).unwrap();
        // The same session cut into 7-byte pieces, as a slow link may deliver it.
        if name == "upload" {
            let pieces: Vec<(bool, &[u8])> = session.iter().flat_map(|(d, b)| b.chunks(7).map(move |c| (*d, c))).collect();
            std::fs::write(dir.join(format!("{name}-pieces.bin")), sftp_frame(&pieces)).unwrap();
        }
    }
}

fn row(seq: i64, kind: &str, subject: &str, detail: &str, prev: &str) -> AuditRow {
    let ts = 1_764_500_000 + seq;
    AuditRow { seq, ts, actor: "jdoe".into(), kind: kind.into(), subject: subject.into(), detail: detail.into(), prev_hash: prev.into(), hash: row_hash(seq, ts, "jdoe", kind, subject, detail, prev) }
}

/// A bundle of session 7 as the export lays it out, signed with a fresh audit key.
fn bundle() -> Members {
    let signer = AuditSigner::from_pkcs8(&AuditSigner::generate_pkcs8().unwrap()).unwrap();
    let cast = b"{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":1764500000,\"env\":{\"TERM\":\"xterm\"}}\n[0.010000, \"o\", \"$ \"]\n[0.500000, \"i\", \"ls\\r\"]\n[0.510000, \"o\", \"fw.bin\\r\\n\\udcff\"]\n".to_vec();
    let pcap = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0];
    let a = row(41, "session.started", "session:7", "{\"device\":\"infusion-pump-12\",\"grant\":3}", GENESIS_HASH);
    let b = row(42, "recording.sealed", "session:7", &format!("{{\"channel\":1,\"path\":\"/var/lib/portcullis/recordings/7/1.cast\",\"sha256\":\"{}\"}}", sha256_hex(&cast)), &a.hash);
    let c = row(43, "recording.sealed", "session:7", &format!("{{\"channel\":2,\"path\":\"/var/lib/portcullis/recordings/7/2.pcap\",\"sha256\":\"{}\"}}", sha256_hex(&pcap)), &b.hash);
    let d = row(44, "recording.deleted", "session:7", "{\"channel\":3}", &c.hash);
    let e = row(45, "recording.sealed", "session:7", "{\"channel\":3,\"path\":\"/var/lib/portcullis/recordings/7/3.cast\",\"sha256\":\"00\"}", &d.hash);
    let f = row(46, "session.ended", "session:7", "{\"reason\":\"vendor left\"}", &e.hash);
    let cp = Checkpoint { seq: 46, hash: f.hash.clone(), ts: 1_764_500_100, key_id: signer.key_id().into(), signature: signer.sign_b64(&checkpoint_message(46, &f.hash)) };
    let rows: String = [&a, &b, &c, &d, &e, &f].iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect();
    let mut m = Members::new();
    m.insert("session.json".into(), b"{\"id\":7,\"device\":\"infusion-pump-12\",\"user\":\"jdoe\"}".to_vec());
    m.insert("request.json".into(), b"{\"id\":3,\"reason\":\"INC-4411 firmware update\",\"minutes\":90}".to_vec());
    m.insert("audit/rows.jsonl".into(), rows.into_bytes());
    m.insert("audit/involved.json".into(), b"[41,42,43,44,45,46]".to_vec());
    m.insert("audit/checkpoint.json".into(), serde_json::to_vec(&cp).unwrap());
    m.insert("recordings/7/1.cast".into(), cast);
    m.insert("recordings/7/2.pcap".into(), pcap);
    let public = base64::engine::general_purpose::STANDARD.encode(signer.public_key());
    let manifest = Manifest::of(&m, 7, 1_764_500_200, signer.key_id(), &public);
    m.insert(SIGNATURE.into(), manifest.sign(&signer).into_bytes());
    m.insert(MANIFEST.into(), manifest.canonical());
    m
}

fn write_evidence(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let m = bundle();
    let mut gz = Vec::new();
    write_archive(&m, &mut gz).unwrap();
    std::fs::write(dir.join("session-7.tar.gz"), &gz).unwrap();
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(gz.as_slice()).read_to_end(&mut tar).unwrap();
    std::fs::write(dir.join("session-7.tar"), &tar).unwrap();
}

use std::io::Read;

fn main() {
    let root = std::env::args().nth(1).unwrap_or_else(|| "fuzz/corpus".into());
    let root = Path::new(&root);
    write_sftp(&root.join("sftp"));
    write_evidence(&root.join("evidence"));
}
