//! Timing one tunnel or file transfer, whatever route its command takes:
//! - `ssh -N -L` carrying BYTES into a TCP sink (from the first byte written to the last byte
//!   received by the sink), or out of a TCP source (from connecting to the last byte read);
//!   local forwards use Unix sockets, so no local port is raced for;
//! - one `sftp -b` batch command (`put` or `get`), checked for the full length.

use crate::harness::proc::{self, Capture};
use crate::harness::tcp::Service;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use crate::stopwatch::Stopwatch;
use std::time::Duration;

/// Seconds to push `bytes` through the forward at `socket` into `sink`.
pub fn tunnel_secs(mut forward: Command, socket: &Path, sink: &Service, bytes: u64) -> f64 {
    forward.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child: Child = forward.spawn().expect("start ssh -N -L");
    let errors = Capture::default();
    errors.pump(child.stderr.take().expect("stderr"));
    proc::poll_until("the forwarded socket", Duration::from_secs(120), || socket.exists().then_some(()));
    let before = sink.received();
    let chunk: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7) as u8).collect();
    let watch = Stopwatch::start();
    let mut stream = UnixStream::connect(socket).expect("connect to the forward");
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        stream.write_all(&chunk[..n]).unwrap_or_else(|e| panic!("tunnel write: {e}\n{}", errors.text()));
        left -= n as u64;
    }
    stream.shutdown(std::net::Shutdown::Write).expect("shutdown");
    proc::poll_until("the sink to receive everything", Duration::from_secs(1200), || {
        (sink.received() - before >= bytes).then_some(())
    });
    let secs = watch.stop();
    let _ = child.kill();
    let _ = child.wait();
    secs
}

/// Seconds to read `bytes` out of the forward at `socket`, whose far end is a TCP source that
/// sends that many bytes and closes (from connecting to the last byte).
pub fn tunnel_read_secs(mut forward: Command, socket: &Path, bytes: u64) -> f64 {
    forward.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child: Child = forward.spawn().expect("start ssh -N -L");
    let errors = Capture::default();
    errors.pump(child.stderr.take().expect("stderr"));
    proc::poll_until("the forwarded socket", Duration::from_secs(120), || socket.exists().then_some(()));
    let watch = Stopwatch::start();
    let mut stream = UnixStream::connect(socket).expect("connect to the forward");
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    while n < bytes {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(e) => panic!("tunnel read: {e}\n{}", errors.text()),
        }
    }
    let secs = watch.stop();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(n, bytes, "the tunnel delivered {n} of {bytes} bytes\n{}", errors.text());
    secs
}

/// Seconds for `sftp -b` (a prepared sftp command without host) to run the one batch
/// `command` (`put A B` or `get A B`), copying `from` to `to`; `to` must then be as long as
/// `from`, and is removed.
pub fn sftp_secs(mut cmd: Command, command: &str, from: &Path, to: &Path) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = dir.path().join("batch");
    std::fs::write(&batch, format!("{command}\n")).expect("batch");
    cmd.arg("-b").arg(&batch).arg("127.0.0.1");
    let secs = crate::paths::exact_secs(&mut cmd);
    assert_eq!(std::fs::metadata(to).map(|m| m.len()).ok(), std::fs::metadata(from).map(|m| m.len()).ok(), "sftp transfer incomplete: {command}");
    let _ = std::fs::remove_file(to);
    secs
}

/// Writes a file of `bytes` varied bytes.
pub fn make_file(path: &Path, bytes: u64) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let chunk: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 13 + i / 256) as u8).collect();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).expect("write");
        left -= n as u64;
    }
    f.flush().expect("flush");
}
