//! Tunnel and file-transfer throughput, through the broker and without it, in the same run:
//! - `ssh -N -L` through the broker vs. `ssh -N -L` through the device's own sshd used as an
//!   OpenSSH jump host, each carrying BYTES to a TCP sink on the device's address (the time
//!   from the first byte written to the last byte received by the sink);
//! - `sftp put` of a file, through the broker vs. straight to the device's sshd.
//!   Local forwards use Unix sockets, so no local port is raced for.

use crate::harness::broker::Broker;
use crate::harness::device::Device;
use crate::harness::proc::{self, Capture};
use crate::harness::tcp::Service;
use crate::harness::vendor::{Code, Vendor};
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds to push `bytes` through the forward at `socket` into `sink`.
pub fn tunnel_secs(mut forward: Command, socket: &Path, sink: &Service, bytes: u64) -> f64 {
    forward.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child: Child = forward.spawn().expect("start ssh -N -L");
    let errors = Capture::default();
    errors.pump(child.stderr.take().expect("stderr"));
    proc::poll_until("the forwarded socket", Duration::from_secs(120), || socket.exists().then_some(()));
    let before = sink.received();
    let chunk: Vec<u8> = (0..1 << 20).map(|i: u32| (i * 7) as u8).collect();
    let start = Instant::now();
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
    let secs = start.elapsed().as_secs_f64();
    let _ = child.kill();
    let _ = child.wait();
    secs
}

/// `ssh -N -L SOCKET:127.0.0.1:PORT` through the device's sshd (the OpenSSH jump host).
pub fn direct_forward(device: &Device, socket: &Path, port: u16) -> Command {
    let spec = format!("{}:127.0.0.1:{port}", socket.display());
    device.direct_ssh(&["-N", "-L", &spec])
}

/// `ssh -N -L SOCKET:DEVICE:PORT VENDOR@broker`.
pub fn broker_forward(vendor: &Vendor, broker: &Broker, device: &str, socket: &Path, port: u16) -> Command {
    let mut cmd = vendor.ssh(broker.ssh_addr(), &vendor.name, Code::Next);
    cmd.args(["-N", "-L", &format!("{}:{device}:{port}", socket.display()), "127.0.0.1"]);
    cmd
}

/// Seconds for `sftp -b` to upload `file` with `cmd` (a prepared sftp command without host).
pub fn sftp_put_secs(mut cmd: Command, file: &Path, remote: &Path) -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let batch = dir.path().join("batch");
    std::fs::write(&batch, format!("put {} {}\n", file.display(), remote.display())).expect("batch");
    cmd.arg("-b").arg(&batch).arg("127.0.0.1");
    let start = Instant::now();
    let out = proc::run(cmd, Duration::from_secs(1200));
    let secs = start.elapsed().as_secs_f64();
    out.assert_success();
    assert_eq!(std::fs::metadata(remote).map(|m| m.len()).ok(), std::fs::metadata(file).map(|m| m.len()).ok(), "sftp upload incomplete");
    let _ = std::fs::remove_file(remote);
    secs
}

/// `sftp` straight to the device with its credential.
pub fn direct_sftp(device: &Device) -> Command {
    let mut cmd = Command::new("sftp");
    cmd.args(["-F", "/dev/null", "-P", &device.addr.port().to_string(), "-i"])
        .arg(&device.key_file)
        .args([
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-o",
        ])
        .arg(format!("User={}", device.login));
    cmd
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
