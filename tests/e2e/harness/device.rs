//! The device side of the end-to-end tests: a real OpenSSH `sshd`, run in inetd mode.
//!
//! The test binds a listener on 127.0.0.1:0 and an accept loop starts one
//! `sshd -i` per accepted connection with the socket as its stdin and stdout, so there is no
//! port to race for and the test can count how many connections reached the device (the
//! broker must not connect before a request is approved). The device account is the user the
//! tests run as (root in CI); the broker's credential for it is an ed25519 key pair made with
//! `ssh-keygen`, and the host key can be replaced to test host-key pinning.

use super::proc::{self, Output};
use std::fs;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

/// Where Debian (and most distributions) install the OpenSSH server.
pub const SSHD: &str = "/usr/sbin/sshd";

/// A running sshd "device".
pub struct Device {
    /// The device name to register with the broker.
    pub name: String,
    /// Where the device listens (always on loopback).
    pub addr: SocketAddr,
    /// The account the broker logs in as (the user running the tests).
    pub login: String,
    /// Private half of the broker's credential for the device (its public half is in
    /// `authorized_keys`).
    pub key_file: PathBuf,
    dir: tempfile::TempDir,
    /// Connections accepted so far (the wake-up connection made on drop is not counted).
    accepted: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    /// sshd processes started by the accept loop, killed on drop.
    children: Arc<Mutex<Vec<Child>>>,
    accept_loop: Option<JoinHandle<()>>,
}

impl Device {
    /// Generates keys and config in a temporary directory and starts accepting connections.
    pub fn start(name: &str) -> Device {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: run the tests through scripts/test.sh, which installs openssh-server"
        );
        ensure_privsep_dir();
        let dir = tempfile::Builder::new()
            .prefix("portcullis-device-")
            .tempdir()
            .expect("tempdir");
        let key_file = dir.path().join("credential");
        keygen(&key_file, "portcullis-device-credential");
        let host_key = dir.path().join("host_key");
        keygen(&host_key, "portcullis-device-host-key");
        fs::copy(
            key_file.with_extension("pub"),
            dir.path().join("authorized_keys"),
        )
        .expect("write authorized_keys");
        let config = dir.path().join("sshd_config");
        fs::write(&config, sshd_config(dir.path())).expect("write sshd_config");

        let listener = TcpListener::bind("127.0.0.1:0").expect("bind device listener");
        let addr = listener.local_addr().expect("device address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let children = Arc::new(Mutex::new(Vec::new()));
        let accept_loop = {
            let (accepted, stop, children) = (accepted.clone(), stop.clone(), children.clone());
            let (config, host_key) = (config.clone(), host_key.clone());
            let log = dir.path().join("sshd.log");
            thread::spawn(move || {
                accept_loop(
                    listener, &config, &host_key, &log, &accepted, &stop, &children,
                )
            })
        };
        Device {
            name: name.to_owned(),
            addr,
            login: current_user(),
            key_file,
            dir,
            accepted,
            stop,
            children,
            accept_loop: Some(accept_loop),
        }
    }

    /// The device's current host public key as `ssh-ed25519 AAAA...` (no comment), the form
    /// `portcullis device add --host-key` takes.
    pub fn host_key_line(&self) -> String {
        let text = fs::read_to_string(self.dir.path().join("host_key.pub")).expect("read host key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Replaces the host key with a fresh one (used from the next accepted connection on) and
    /// returns the new public line.
    pub fn replace_host_key(&self) -> String {
        let fresh = self.dir.path().join("host_key.new");
        keygen(&fresh, "portcullis-device-host-key-replaced");
        fs::rename(
            fresh.with_extension("new.pub"),
            self.dir.path().join("host_key.pub"),
        )
        .expect("install new host key (public)");
        fs::rename(&fresh, self.dir.path().join("host_key")).expect("install new host key");
        self.host_key_line()
    }

    /// Replaces the credential the device accepts with a fresh key pair (the old key stops
    /// working at once) and returns the new private key's path.
    pub fn replace_credential(&self) -> PathBuf {
        let fresh = self.dir.path().join(format!("credential-{}", self.accepted()));
        let _ = fs::remove_file(&fresh);
        let _ = fs::remove_file(fresh.with_extension("pub"));
        keygen(&fresh, "portcullis-device-credential-rotated");
        fs::copy(fresh.with_extension("pub"), self.dir.path().join("authorized_keys")).expect("install new authorized_keys");
        fresh
    }

    /// Lets another public key (an OpenSSH `.pub` file) log in to the device.
    pub fn authorize(&self, public_key: &Path) {
        let line = fs::read_to_string(public_key).expect("read public key");
        append(&self.dir.path().join("authorized_keys"), &line);
    }

    /// Connections the device has accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// The device's scratch directory (tests may have commands on the device write here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the sshd processes wrote to stderr (errors only).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// `ssh [extra options]` straight to the device with its credential, bypassing the
    /// broker; the remote command, if any, is for the caller to append.
    pub fn direct_ssh(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new("ssh");
        cmd.args(["-F", "/dev/null", "-p", &self.addr.port().to_string(), "-i"])
            .arg(&self.key_file)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "LogLevel=ERROR",
                "-l",
                &self.login,
            ])
            .args(extra)
            .arg("127.0.0.1");
        cmd
    }

    /// Runs `command` on the device straight through `ssh` (no broker).
    pub fn direct_exec(&self, command: &str) -> Output {
        let mut cmd = self.direct_ssh(&[]);
        cmd.arg(command);
        proc::run(cmd, Duration::from_secs(60))
    }
}

impl Device {
    /// Kills every running sshd of the device (each in its own process group, so its
    /// privilege-separated children die with it), as when the device's SSH server dies in
    /// the middle of a session. The device still accepts new connections.
    pub fn kill_sessions(&self) -> usize {
        let mut children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        let mut killed = 0;
        for child in children.iter_mut() {
            if matches!(child.try_wait(), Ok(None)) {
                let group = format!("-{}", child.id());
                let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
                killed += 1;
            }
            let _ = child.wait();
        }
        children.clear();
        killed
    }

    /// Stops the device as if it died: no more connections are accepted (its port is
    /// closed) and running sshd processes are killed.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so the loop sees the stop flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(handle) = self.accept_loop.take() {
            let _ = handle.join();
        }
        let mut children = self.children.lock().unwrap_or_else(|p| p.into_inner());
        for child in children.iter_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("--- device {} sshd log ---\n{}", self.name, self.log());
        }
        self.stop();
    }
}

fn accept_loop(
    listener: TcpListener,
    config: &Path,
    host_key: &Path,
    log: &Path,
    accepted: &AtomicUsize,
    stop: &AtomicBool,
    children: &Mutex<Vec<Child>>,
) {
    for stream in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        accepted.fetch_add(1, Ordering::SeqCst);
        let spawned = spawn_sshd(stream, config, host_key, log);
        let mut children = children.lock().unwrap_or_else(|p| p.into_inner());
        // Reap the ones that have finished so a long test does not pile up zombies.
        children.retain_mut(|c| matches!(c.try_wait(), Ok(None)));
        match spawned {
            Ok(child) => children.push(child),
            Err(e) => append(log, &format!("harness: cannot start sshd: {e}\n")),
        }
    }
}

fn spawn_sshd(
    stream: TcpStream,
    config: &Path,
    host_key: &Path,
    log: &Path,
) -> std::io::Result<Child> {
    let stdout = stream.try_clone()?;
    let stderr = fs::OpenOptions::new().create(true).append(true).open(log)?;
    use std::os::unix::process::CommandExt;
    Command::new(SSHD)
        .process_group(0)
        .arg("-i")
        .arg("-e")
        .arg("-f")
        .arg(config)
        .arg("-h")
        .arg(host_key)
        .stdin(Stdio::from(OwnedFd::from(stream)))
        .stdout(Stdio::from(OwnedFd::from(stdout)))
        .stderr(Stdio::from(stderr))
        .spawn()
}

fn append(path: &Path, text: &str) {
    if let Ok(mut f) = fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(text.as_bytes());
    }
}

fn sshd_config(dir: &Path) -> String {
    let sftp = ["/usr/lib/openssh/sftp-server", "/usr/libexec/sftp-server"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or("internal-sftp");
    format!(
        "AuthorizedKeysFile {dir}/authorized_keys\n\
         StrictModes no\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         PubkeyAuthentication yes\n\
         PermitRootLogin prohibit-password\n\
         UsePAM no\n\
         PidFile none\n\
         LogLevel ERROR\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         Subsystem sftp {sftp}\n",
        dir = dir.display()
    )
}

/// Makes an ed25519 key pair without a passphrase at `path` and `path.pub`.
pub fn keygen(path: &Path, comment: &str) {
    let path = path.to_str().expect("utf-8 temp path");
    proc::tool(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path],
    );
}

/// The login name of the user running the tests.
pub fn current_user() -> String {
    proc::tool("id", &["-un"]).trim().to_owned()
}

/// sshd started as root insists on its privilege separation directory, normally made by the
/// service unit; scripts/test.sh makes it too, this covers `cargo test` run by hand.
fn ensure_privsep_dir() {
    if proc::tool("id", &["-u"]).trim() == "0" {
        let _ = fs::create_dir_all("/run/sshd");
    }
}
