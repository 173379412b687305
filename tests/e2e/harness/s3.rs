//! A real S3 server on loopback for the recording store: `s3s-fs` (crates.io; a server of the
//! S3 protocol, with SigV4 authentication, keeping objects as files under a folder), installed
//! by scripts/test.sh. It is started on a free port with a temporary folder and one bucket,
//! can be stopped and started again on the same port (a bucket that goes away and comes
//! back), and its objects can be read and altered on disk as an attacker with access to the
//! storage would. Killed when dropped.

use super::proc::Capture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const BUCKET: &str = "portcullis-recordings";
pub const ACCESS_KEY: &str = "portcullis-test";
pub const SECRET_KEY: &str = "portcullis-test-secret-key";

pub struct S3Server {
    child: Option<Child>,
    out: Capture,
    dir: tempfile::TempDir,
    /// Where it listens (the same after a restart).
    pub addr: SocketAddr,
}

/// The `s3s-fs` binary: `PORTCULLIS_TEST_S3S_FS`, else on `PATH`, else cargo's bin folder.
pub fn s3s_bin() -> PathBuf {
    if let Ok(p) = std::env::var("PORTCULLIS_TEST_S3S_FS") {
        return p.into();
    }
    let cargo_bin = std::env::var("CARGO_HOME").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")).join("bin/s3s-fs");
    if cargo_bin.exists() {
        return cargo_bin;
    }
    PathBuf::from("s3s-fs")
}

impl S3Server {
    /// Starts the server on a port it picks, with the bucket [`BUCKET`] made.
    pub fn start() -> S3Server {
        let dir = tempfile::Builder::new().prefix("portcullis-s3-").tempdir().expect("tempdir");
        // s3s-fs keeps a bucket as a folder under its root.
        std::fs::create_dir_all(dir.path().join(BUCKET)).expect("bucket folder");
        let (child, out, addr) = spawn(dir.path(), 0);
        S3Server { child: Some(child), out, dir, addr }
    }

    /// The endpoint URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The environment that points `portcullis` at this bucket with the right key.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PORTCULLIS_RECORDING_STORE".into(), "s3".into()),
            ("PORTCULLIS_RECORDING_S3_BUCKET".into(), BUCKET.into()),
            ("PORTCULLIS_RECORDING_S3_ENDPOINT".into(), self.endpoint()),
            ("PORTCULLIS_RECORDING_S3_REGION".into(), "us-east-1".into()),
            ("PORTCULLIS_RECORDING_S3_ALLOW_HTTP".into(), "true".into()),
            ("PORTCULLIS_RECORDING_S3_PREFIX".into(), "recordings/".into()),
            ("PORTCULLIS_S3_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("PORTCULLIS_S3_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ]
    }

    /// The file holding object `key` of the bucket.
    pub fn object_file(&self, key: &str) -> PathBuf {
        self.dir.path().join(BUCKET).join(key)
    }

    /// Keys of the objects in the bucket, sorted.
    pub fn keys(&self) -> Vec<String> {
        let root = self.dir.path().join(BUCKET);
        let mut out = Vec::new();
        let mut todo = vec![root.clone()];
        while let Some(d) = todo.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    todo.push(p);
                } else if let Ok(rel) = p.strip_prefix(&root) {
                    out.push(rel.display().to_string());
                }
            }
        }
        out.sort();
        out
    }

    /// Stops the server (SIGKILL) and waits for it to be gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(self.addr).is_ok() {
            assert!(Instant::now() < deadline, "s3s-fs still answers on {} after it was killed", self.addr);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts it again on the same port, with the same objects.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "s3s-fs is still running");
        let (child, out, addr) = spawn(self.dir.path(), self.addr.port());
        assert_eq!(addr, self.addr, "s3s-fs came back elsewhere");
        self.child = Some(child);
        self.out = out;
    }

    /// What the server printed (since its last start).
    pub fn output(&self) -> String {
        self.out.text()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `s3s-fs` on `port` (0: any) over `root`; returns once it said where it listens.
fn spawn(root: &std::path::Path, port: u16) -> (Child, Capture, SocketAddr) {
    let mut cmd = Command::new(s3s_bin());
    cmd.args(["--host", "127.0.0.1", "--port", &port.to_string(), "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(root)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    let (mut child, out) = Capture::spawn(&mut cmd);
    const SAID: &str = "server is running at http://";
    let addr = out.wait_for(SAID, 0, Duration::from_secs(30)).and_then(|at| {
        let text = out.text();
        let rest = text.get(at..)?;
        let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.' || c == ':')).unwrap_or(rest.len());
        rest.get(..end)?.parse::<SocketAddr>().ok()
    });
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{} did not say `{SAID}ADDR` (is it installed? scripts/test.sh installs it):\n{}", s3s_bin().display(), out.text());
    };
    (child, out, addr)
}
