//! A real HAProxy (Debian's `haproxy`) in TCP mode in front of broker nodes, run with the
//! configuration the project ships (`deploy/haproxy.cfg`), its example addresses replaced by
//! the nodes' loopback ones and its listeners moved to free loopback ports. Killed when dropped.

use super::proc::Capture;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One node's listeners as HAProxy reaches them.
#[derive(Debug, Clone, Copy)]
pub struct NodeAddrs {
    pub ssh: SocketAddr,
    pub web: SocketAddr,
}

pub struct Haproxy {
    child: Child,
    out: Capture,
    /// Where vendors connect (the SSH frontend).
    pub ssh: SocketAddr,
    /// Where browsers connect (the HTTPS frontend).
    pub web: SocketAddr,
    _dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// `deploy/haproxy.cfg` for `nodes` (at most two), listening on `ssh` and `web`.
pub fn render(nodes: &[NodeAddrs], ssh: SocketAddr, web: SocketAddr) -> String {
    let shipped = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy.cfg");
    let text = std::fs::read_to_string(&shipped).unwrap_or_else(|e| panic!("{}: {e}", shipped.display()));
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.replace("bind :22", &format!("bind {ssh}")).replace("bind :443", &format!("bind {web}"));
        if let Some(rest) = line.trim_start().strip_prefix("server node") {
            let n: usize = rest.split_whitespace().next().and_then(|s| s.parse().ok()).expect("server nodeN");
            let Some(node) = nodes.get(n - 1) else { continue };
            line = line
                .replace(&format!("192.0.2.1{n}:2222"), &node.ssh.to_string())
                .replace(&format!("192.0.2.1{n}:8443"), &node.web.to_string())
                .replace(" port 8443", &format!(" port {}", node.web.port()));
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

impl Haproxy {
    /// Starts HAProxy in front of `nodes`; returns once both frontends accept.
    pub fn start(nodes: &[NodeAddrs]) -> Haproxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let ssh: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let web: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let cfg = dir.path().join("haproxy.cfg");
        std::fs::write(&cfg, render(nodes, ssh, web)).expect("write haproxy.cfg");
        let mut cmd = Command::new("haproxy");
        cmd.arg("-db").arg("-f").arg(&cfg).stdin(Stdio::null());
        let (child, out) = Capture::spawn(&mut cmd);
        let h = Haproxy { child, out, ssh, web, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(ssh).is_err() || std::net::TcpStream::connect(web).is_err() {
            assert!(Instant::now() < deadline, "haproxy did not start:\n{}", h.output());
            std::thread::sleep(Duration::from_millis(100));
        }
        h
    }

    /// HAProxy's log and alerts so far.
    pub fn output(&self) -> String {
        self.out.text()
    }

    /// Waits until HAProxy's output has `needle` (a server state change, say).
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        self.out.wait_for(needle, 0, timeout).is_some()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
