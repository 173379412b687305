//! The client conformance suite: the SSH clients vendor engineers use, each against a real
//! broker and device on loopback, signing in with key and TOTP code (keyboard-interactive)
//! and doing what the client can: one command with its output and exit status, a terminal,
//! an SFTP transfer whose SHA-256 the audit log must show, and a tunnel. One file per client;
//! the helpers they share are here. A client that is not installed fails its test (CI installs
//! them all through `scripts/test.sh`); helper scripts live in `tests/clients/`.

mod asyncssh;
mod dropbear;
mod libssh2;
mod openssh;
mod putty;

use crate::harness::proc;
use crate::harness::scenario::{Scenario, Setup};
use crate::harness::tcp::{Behaviour, Service};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A broker, a device with an echo service on one TCP port, and an approved grant for a
/// terminal or command, files and that port.
pub struct Rig {
    // Field order is drop order: the broker before the service its tunnels reach.
    pub s: Scenario,
    pub echo: Service,
    pub work: tempfile::TempDir,
}

impl Rig {
    pub fn start(device: &str, reason: &str) -> Rig {
        let rig = Rig::without_grant(device);
        rig.s.grant_channels(30, reason, &format!("--shell --files --tcp {}", rig.echo.port()), &[]);
        rig
    }

    /// The same without the grant (for what the lobby alone shows; saves a code).
    pub fn without_grant(device: &str) -> Rig {
        let echo = Service::start(Behaviour::Echo);
        let s = Setup::new(device).tcp_ports(&[echo.port()]).start();
        Rig { s, echo, work: tempfile::tempdir().unwrap() }
    }

    /// `DEVICE:PORT`, what a tunnel asks for.
    pub fn tunnel_spec(&self) -> (String, u16) {
        (self.s.device.name.clone(), self.echo.port())
    }

    /// A file of `len` varied bytes in the work directory.
    pub fn sample_file(&self, name: &str, len: usize, salt: u8) -> PathBuf {
        let path = self.work.path().join(name);
        let bytes: Vec<u8> = (0..len).map(|i| ((i * 31 + i / 97) as u8) ^ salt).collect();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// The broker's host public key line (`ssh-ed25519 AAAA… comment`).
    pub fn host_key_line(&self) -> String {
        std::fs::read_to_string(self.s.broker.data_dir.join("keys/ssh_host_ed25519.pub")).unwrap().trim().to_owned()
    }

    /// The broker's host key fingerprint as `ssh-keygen -l -E HASH` prints it (`SHA256:…`, `MD5:…`).
    pub fn host_fingerprint(&self, hash: &str) -> String {
        let key = self.s.broker.data_dir.join("keys/ssh_host_ed25519.pub");
        let out = proc::tool("ssh-keygen", &["-l", "-E", hash, "-f", key.to_str().unwrap()]);
        out.split_whitespace().nth(1).unwrap().to_owned()
    }

    /// A `known_hosts` file naming the broker's host key, for clients that check it.
    pub fn known_hosts(&self) -> PathBuf {
        let path = self.work.path().join("known_hosts");
        let mut key = self.host_key_line().split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        key = format!("[127.0.0.1]:{} {key}\n", self.s.broker.ssh_addr().port());
        std::fs::write(&path, key).unwrap();
        path
    }

    /// Waits for the `sftp.file` row of an upload to a path ending in `suffix`; checks that
    /// it names the SHA-256 of `local` and is complete.
    pub fn assert_upload_logged(&self, suffix: &str, local: &Path) {
        self.assert_file_logged(suffix, "upload", local);
    }

    /// Like [`Rig::assert_upload_logged`] for a download.
    pub fn assert_download_logged(&self, suffix: &str, local: &Path) {
        self.assert_file_logged(suffix, "download", local);
    }

    fn assert_file_logged(&self, suffix: &str, direction: &str, local: &Path) {
        let row: Value = proc::poll_until(&format!("an sftp.file {direction} row for {suffix}"), Duration::from_secs(60), || {
            self.s.broker.audit_of_kind("sftp.file").into_iter().find(|r| {
                r["detail"]["direction"] == direction && r["detail"]["path"].as_str().is_some_and(|p| p.ends_with(suffix))
            })
        });
        assert_eq!(row["detail"]["sha256"], sha256_of(local), "{row}");
        // A download is `complete` only when the client read up to the end of file; clients
        // that stop at the size `fstat` gave them (AsyncSSH) leave it unproven.
        if direction == "upload" {
            assert_eq!(row["detail"]["complete"], true, "{row}");
        }
    }
}

pub fn sha256_of(path: &Path) -> String {
    let out = proc::tool("sha256sum", &[path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_owned()
}

/// Bytes to send through a tunnel (the echo service sends them back).
pub fn tunnel_payload() -> Vec<u8> {
    (0..100_000usize).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// The installed program `name`; fails the test (never skips it) when it is missing.
pub fn require(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is missing: run the tests through scripts/test.sh, which installs {package}"))
}

/// A helper script under `tests/clients/`.
pub fn helper(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients").join(name)
}
