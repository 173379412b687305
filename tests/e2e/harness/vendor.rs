//! The vendor side: the real OpenSSH client, as a vendor engineer would run it.
//!
//! Each vendor has its own ed25519 key and TOTP secret. The TOTP code is answered through
//! `SSH_ASKPASS` (forced, so no terminal is needed): just before each connection the harness
//! writes the code into a file of its own, and the askpass script prints that file (and logs
//! the prompt it was shown). Two ways to run `ssh`: to completion with captured output and
//! exit code, or as an interactive `ssh -tt` child that the test types into and reads from.

use super::device::keygen;
use super::proc::{self, Capture, Output};
use super::totp::TotpClock;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How long a non-interactive ssh command may take before the test gives up on it.
pub const SSH_TIMEOUT: Duration = Duration::from_secs(90);

const ASKPASS: &str = "#!/bin/sh\n\
printf '%s\\n' \"$1\" >> \"$PORTCULLIS_TEST_ASKPASS_LOG\"\n\
cat \"$PORTCULLIS_TEST_ASKPASS_ANSWER\"\n";

/// A vendor engineer: key pair, TOTP secret, askpass plumbing.
pub struct Vendor {
    pub name: String,
    /// Private key (the public half is `key.pub`, registered with `user add --ssh-key`).
    pub key: PathBuf,
    totp: Option<TotpClock>,
    dir: tempfile::TempDir,
    answers: AtomicUsize,
}

/// What the broker must be told about this connection's TOTP prompt.
#[derive(Clone, Debug)]
pub enum Code {
    /// The next code the broker should accept.
    Next,
    /// Exactly this answer.
    Exactly(String),
}

impl Vendor {
    /// Makes the key pair; call [`Vendor::set_totp`] once the user exists on the broker.
    pub fn new(name: &str) -> Vendor {
        let dir = tempfile::Builder::new()
            .prefix("portcullis-vendor-")
            .tempdir()
            .expect("tempdir");
        let key = dir.path().join("id_ed25519");
        keygen(&key, &format!("{name}@vendor.example"));
        let askpass = dir.path().join("askpass");
        fs::write(&askpass, ASKPASS).expect("write askpass");
        set_executable(&askpass);
        Vendor {
            name: name.to_owned(),
            key,
            totp: None,
            dir,
            answers: AtomicUsize::new(0),
        }
    }

    /// A vendor whose key pair is the one at `key` (and `key.pub`), copied in; for a key made
    /// by someone else, such as `portcullis demo`.
    pub fn with_key(name: &str, key: &Path) -> Vendor {
        let vendor = Vendor::new(name);
        fs::copy(key, &vendor.key).expect("copy the private key");
        fs::copy(key.with_extension("pub"), vendor.public_key()).expect("copy the public key");
        vendor
    }

    /// The public key file to register with the broker.
    pub fn public_key(&self) -> PathBuf {
        self.key.with_extension("pub")
    }

    /// Records the TOTP secret printed by `user add --json`.
    pub fn set_totp(&mut self, base32_secret: &str) {
        self.totp = Some(TotpClock::new(base32_secret));
    }

    /// The vendor's TOTP clock.
    pub fn totp(&self) -> &TotpClock {
        self.totp
            .as_ref()
            .expect("vendor has no TOTP secret yet (call set_totp)")
    }

    /// Every prompt the askpass script has been shown so far, one a line.
    pub fn prompts(&self) -> String {
        fs::read_to_string(self.dir.path().join("askpass.log")).unwrap_or_default()
    }

    /// An `ssh` command to the broker at `broker` as `login` (`vendor` for the lobby,
    /// `vendor:device` for a device), with the TOTP answer `code` ready for askpass.
    pub fn ssh(&self, broker: SocketAddr, login: &str, code: Code) -> Command {
        self.client("ssh", "-p", broker, login, code)
    }

    /// An `sftp` or `scp` command to the broker as `login` (given as `-o User=`, since the
    /// `VENDOR:DEVICE` form would be read as host:path), with the TOTP answer ready; the
    /// caller adds the host `127.0.0.1` (sftp) or the `127.0.0.1:PATH` operands (scp).
    pub fn file_client(&self, program: &str, broker: SocketAddr, login: &str) -> Command {
        self.client(program, "-P", broker, login, Code::Next)
    }

    /// `program` (`ssh`, `scp`, `sftp`) reading only the ssh config file `config`, as a vendor's
    /// own `~/.ssh/config` would be read, with the TOTP answer `code` ready for askpass.
    pub fn configured(&self, program: &str, config: &Path, code: Code) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("-F").arg(config);
        self.answering(&mut cmd, code);
        cmd
    }

    /// Sets up askpass to answer `code` for `cmd`.
    fn answering(&self, cmd: &mut Command, code: Code) {
        let answer = match code {
            Code::Next => self.totp().next_code(),
            Code::Exactly(c) => c,
        };
        let n = self.answers.fetch_add(1, Ordering::SeqCst);
        let answer_file = self.dir.path().join(format!("answer-{n}"));
        fs::write(&answer_file, format!("{answer}\n")).expect("write askpass answer");
        cmd.env("SSH_ASKPASS", self.dir.path().join("askpass"))
            .env("SSH_ASKPASS_REQUIRE", "force")
            .env("DISPLAY", ":0")
            .env("PORTCULLIS_TEST_ASKPASS_ANSWER", &answer_file)
            .env("PORTCULLIS_TEST_ASKPASS_LOG", self.dir.path().join("askpass.log"))
            .env_remove("SSH_AUTH_SOCK");
    }

    fn client(&self, program: &str, port_flag: &str, broker: SocketAddr, login: &str, code: Code) -> Command {
        let mut cmd = Command::new(program);
        self.answering(&mut cmd, code);
        cmd.args(["-F", "/dev/null", port_flag, &broker.port().to_string(), "-i"])
            .arg(&self.key)
            .args([
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "PreferredAuthentications=publickey,keyboard-interactive",
                "-o",
                "BatchMode=no",
                "-o",
                "NumberOfPasswordPrompts=1",
                "-o",
                "ConnectTimeout=30",
                "-o",
                "ServerAliveInterval=0",
                "-o",
            ])
            .arg(format!("User={login}"));
        cmd
    }

    /// Runs `ssh [extra options] LOGIN@broker COMMAND` to completion (stdin empty).
    pub fn exec(&self, broker: SocketAddr, login: &str, extra: &[&str], command: &str) -> Output {
        self.exec_with(broker, login, Code::Next, extra, command)
    }

    /// Like [`Vendor::exec`] with a chosen TOTP answer.
    pub fn exec_with(
        &self,
        broker: SocketAddr,
        login: &str,
        code: Code,
        extra: &[&str],
        command: &str,
    ) -> Output {
        let mut cmd = self.ssh(broker, login, code);
        cmd.args(extra).arg("127.0.0.1").arg(command);
        proc::run(cmd, SSH_TIMEOUT)
    }

    /// Starts `ssh -tt [extra options] LOGIN@broker` with piped stdin and output.
    pub fn interactive(&self, broker: SocketAddr, login: &str, extra: &[&str]) -> Interactive {
        let mut cmd = self.ssh(broker, login, Code::Next);
        cmd.arg("-tt")
            .args(extra)
            .arg("127.0.0.1")
            .env("TERM", "dumb");
        Interactive::spawn(cmd)
    }
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod askpass");
}

/// An interactive `ssh -tt` session: the test writes keystrokes and waits for text.
///
/// stdout and stderr go into one buffer, in arrival order, because with a terminal the
/// remote side's output and ssh's own messages ("Connection ... closed") both matter.
pub struct Interactive {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    output: Capture,
    /// Offset in `output` after the last text that [`Interactive::expect`] matched.
    cursor: usize,
    markers: usize,
}

impl Interactive {
    pub fn spawn(mut cmd: Command) -> Interactive {
        let what = proc::describe_command(&cmd);
        cmd.stdin(Stdio::piped());
        let (mut child, output) = Capture::spawn(&mut cmd);
        let stdin = child.stdin.take();
        Interactive {
            what,
            child,
            stdin,
            output,
            cursor: 0,
            markers: 0,
        }
    }

    /// Types `text` as is.
    pub fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin already closed");
        stdin
            .write_all(text.as_bytes())
            .expect("write to ssh stdin");
        stdin.flush().expect("flush ssh stdin");
    }

    /// Types `line` and Enter (a terminal sends carriage return).
    pub fn send_line(&mut self, line: &str) {
        self.send(&format!("{line}\r"));
    }

    /// Waits until `needle` appears after what was matched before; returns the text from the
    /// previous match up to and including this one. Panics with the transcript on timeout.
    pub fn expect(&mut self, needle: &str, timeout: Duration) -> String {
        match self.try_expect(needle, timeout) {
            Some(text) => text,
            None => panic!(
                "{needle:?} did not appear within {timeout:?} from {}\n--- transcript ---\n{}",
                self.what,
                self.output.text()
            ),
        }
    }

    /// Like [`Interactive::expect`] but returns `None` on timeout or end of output.
    pub fn try_expect(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let end = self.output.wait_for(needle, self.cursor, timeout)?;
        let bytes = self.output.bytes();
        let text = String::from_utf8_lossy(&bytes[self.cursor..end]).into_owned();
        self.cursor = end;
        Some(text)
    }

    /// Runs `command` in the remote shell and waits until it has finished, using a marker
    /// whose expected output differs from its echo (`$((n+1))` is echoed unexpanded).
    /// Returns what was printed up to the marker.
    pub fn run_in_shell(&mut self, command: &str, timeout: Duration) -> String {
        self.markers += 1;
        let n = 4000 + self.markers * 2;
        self.send_line(&format!("{command}; echo __done_$(({n}+1))__"));
        self.expect(&format!("__done_{}__", n + 1), timeout)
    }

    /// Waits until a shell on the device answers: types a marker command every couple of
    /// seconds (keystrokes sent while the broker is still connecting may be dropped) until
    /// its output appears, or panics after `timeout`.
    pub fn wait_for_shell(&mut self, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            self.markers += 1;
            let n = 7000 + self.markers * 2;
            self.send_line(&format!("echo __ready_$(({n}+1))__"));
            if self
                .try_expect(&format!("__ready_{}__", n + 1), Duration::from_secs(2))
                .is_some()
            {
                return;
            }
            if std::time::Instant::now() >= deadline || self.has_exited() {
                panic!(
                    "no shell answered within {timeout:?} on {}\n--- transcript ---\n{}",
                    self.what,
                    self.output.text()
                );
            }
        }
    }

    /// Everything received so far.
    pub fn transcript(&self) -> String {
        self.output.text()
    }

    /// Waits for ssh to exit; panics with the transcript if it has not within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match proc::wait_child(&mut self.child, timeout) {
            Some(status) => {
                self.output.wait_closed(Duration::from_secs(5));
                status
            }
            None => panic!(
                "{} still running after {timeout:?}\n--- transcript ---\n{}",
                self.what,
                self.output.text()
            ),
        }
    }

    /// Whether ssh has exited already.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- {} transcript ---\n{}", self.what, self.output.text());
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
