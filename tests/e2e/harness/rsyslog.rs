//! A real syslog daemon as the SIEM's receiver: Debian's `rsyslogd` in the foreground with
//! its own configuration, listening on a loopback TCP port it picks itself (port 0; the port
//! is read back from `listenPortFileName`, so nothing is bound twice), parsing each RFC 5424
//! message (RFC 6587 octet-counted framing, as the exporter sends on TCP) and writing one line
//! per message to a file: `SEVERITY|MSGID|MSG`, the severity being what rsyslog read from the
//! PRI. Killed when dropped.

use super::proc::Capture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The daemon.
pub const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

/// One message as rsyslog parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Severity 0–7, from the PRI.
    pub severity: u8,
    /// The MSGID (Portcullis puts the audit kind there).
    pub msgid: String,
    /// The free-form part (the CEF line for the `cef` format).
    pub msg: String,
}

pub struct Rsyslog {
    child: Child,
    out: Capture,
    /// Where the exporter sends (`tcp://ADDR`).
    pub addr: SocketAddr,
    file: PathBuf,
    dir: tempfile::TempDir,
}

impl Rsyslog {
    /// Starts rsyslogd; returns once it listens.
    pub fn start() -> Rsyslog {
        assert!(std::path::Path::new(RSYSLOGD).exists(), "{RSYSLOGD} is missing: scripts/test.sh installs Debian's rsyslog");
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let port_file = d.join("port");
        let file = d.join("siem.log");
        let conf = format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imtcp\")\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"0\" listenPortFileName=\"{port}\")\n\
             template(name=\"siem\" type=\"string\" string=\"%syslogseverity%|%msgid%|%msg%\\n\")\n\
             *.* action(type=\"omfile\" file=\"{file}\" template=\"siem\")\n",
            d = d.display(),
            port = port_file.display(),
            file = file.display(),
        );
        let conf_path = d.join("rsyslog.conf");
        std::fs::write(&conf_path, conf).expect("write rsyslog.conf");
        let mut cmd = Command::new(RSYSLOGD);
        cmd.arg("-n").arg("-f").arg(&conf_path).arg("-i").arg(d.join("rsyslogd.pid")).stdin(Stdio::null());
        let (child, out) = Capture::spawn(&mut cmd);
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Some(p) = std::fs::read_to_string(&port_file).ok().and_then(|s| s.trim().parse::<u16>().ok()).filter(|p| *p > 0) {
                break p;
            }
            assert!(Instant::now() < deadline, "rsyslogd did not listen: {}", out.text());
            std::thread::sleep(Duration::from_millis(50));
        };
        Rsyslog { child, out, addr: SocketAddr::from(([127, 0, 0, 1], port)), file, dir }
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Received> {
        let text = std::fs::read_to_string(&self.file).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut parts = l.splitn(3, '|');
                let severity = parts.next()?.parse().ok()?;
                Some(Received { severity, msgid: parts.next()?.to_owned(), msg: parts.next().unwrap_or_default().to_owned() })
            })
            .collect()
    }

    /// Waits until `done` holds for what was received; panics after `timeout`.
    pub fn wait_until(&self, what: &str, timeout: Duration, done: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "rsyslog never received {what}; got:\n{got:#?}\nrsyslogd said: {}", self.out.text());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The folder holding its configuration and file.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
