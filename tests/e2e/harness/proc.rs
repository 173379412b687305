//! Child processes for the tests: a pump that copies a child's output into a shared buffer
//! that tests can wait on ("until this text appears, or the deadline passes"), running a
//! command to completion under a timeout, and polling a condition with a deadline.
//!
//! Nothing here sleeps to let something happen: every wait is either on a condition
//! variable signalled by the pump, or a poll of a condition with a deadline.

use std::io::Read;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How often [`poll_until`] and process waits look at their condition again.
const POLL_EVERY: Duration = Duration::from_millis(25);

/// Bytes captured from one or more pipes of a child, and whether all of them are closed.
#[derive(Default)]
struct Captured {
    bytes: Vec<u8>,
    /// Number of pipes still open; the capture is complete when it reaches zero.
    open: usize,
}

/// A growing buffer fed by pump threads; cloning shares the same buffer.
#[derive(Clone, Default)]
pub struct Capture {
    inner: Arc<(Mutex<Captured>, Condvar)>,
}

impl Capture {
    /// Starts `cmd` (stdout and stderr piped) and captures both into one buffer.
    pub fn spawn(cmd: &mut Command) -> (std::process::Child, Capture) {
        let what = describe_command(cmd);
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let output = Capture::default();
        output.pump(child.stdout.take().expect("piped stdout"));
        output.pump(child.stderr.take().expect("piped stderr"));
        (child, output)
    }

    /// Starts a thread that copies `pipe` into this buffer until end of file.
    pub fn pump(&self, mut pipe: impl Read + Send + 'static) {
        let inner = Arc::clone(&self.inner);
        lock(&inner.0).open += 1;
        thread::spawn(move || {
            let mut buf = [0u8; 16 * 1024];
            loop {
                let n = match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => 0,
                    Ok(n) => n,
                };
                let mut c = lock(&inner.0);
                if n == 0 {
                    c.open -= 1;
                    inner.1.notify_all();
                    return;
                }
                c.bytes.extend_from_slice(&buf[..n]);
                inner.1.notify_all();
            }
        });
    }

    /// Everything captured so far.
    pub fn bytes(&self) -> Vec<u8> {
        lock(&self.inner.0).bytes.clone()
    }

    /// Everything captured so far, as lossy UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// Waits until `needle` occurs at or after byte offset `from`; returns the offset just
    /// past the match, or `None` if the deadline passed or all pipes closed without it.
    pub fn wait_for(&self, needle: &str, from: usize, timeout: Duration) -> Option<usize> {
        let deadline = Instant::now() + timeout;
        let needle = needle.as_bytes();
        let mut c = lock(&self.inner.0);
        loop {
            if let Some(pos) = find(&c.bytes[from.min(c.bytes.len())..], needle) {
                return Some(from + pos + needle.len());
            }
            let now = Instant::now();
            if c.open == 0 || now >= deadline {
                return None;
            }
            c = match self.inner.1.wait_timeout(c, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Waits until every pumped pipe has reached end of file (or the deadline passes).
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut c = lock(&self.inner.0);
        while c.open > 0 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            c = match self.inner.1.wait_timeout(c, deadline - now) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        true
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Position of the first occurrence of `needle` in `hay`.
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The result of a command run to completion.
#[derive(Debug)]
pub struct Output {
    /// What the command ran, for messages.
    pub what: String,
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// Exit code, or `None` when killed by a signal.
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
    pub fn success(&self) -> bool {
        self.status.success()
    }
    /// Both streams, for assertion messages and text searches.
    pub fn all_text(&self) -> String {
        format!("{}{}", self.stdout_text(), self.stderr_text())
    }
    /// Panics with both streams unless the command succeeded.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.success(),
            "{} failed ({}):\n{}",
            self.what,
            self.status,
            self.describe()
        );
        self
    }
    /// Panics with both streams if the command succeeded.
    pub fn assert_failure(&self) -> &Self {
        assert!(
            !self.success(),
            "{} unexpectedly succeeded:\n{}",
            self.what,
            self.describe()
        );
        self
    }
    pub fn describe(&self) -> String {
        format!(
            "--- stdout ---\n{}\n--- stderr ---\n{}",
            self.stdout_text(),
            self.stderr_text()
        )
    }
}

/// Runs `cmd` with `input` on its stdin (then end of file) and captured stdout/stderr; kills
/// it and panics if it has not finished within `timeout`.
pub fn run_with_input(mut cmd: Command, input: Vec<u8>, timeout: Duration) -> Output {
    let what = describe_command(&cmd);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut stdin = child.stdin.take().expect("piped stdin");
    let writer = thread::spawn(move || {
        use std::io::Write;
        // The far side may close first (that is what some tests expect): ignore write errors.
        let _ = stdin.write_all(&input);
    });
    let out = Capture::default();
    let err = Capture::default();
    out.pump(child.stdout.take().expect("piped stdout"));
    err.pump(child.stderr.take().expect("piped stderr"));
    let Some(status) = wait_child(&mut child, timeout) else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{what} did not finish within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}", out.text(), err.text());
    };
    let _ = writer.join();
    out.wait_closed(Duration::from_secs(5));
    err.wait_closed(Duration::from_secs(5));
    Output { what, status, stdout: out.bytes(), stderr: err.bytes() }
}

/// Runs `cmd` with stdin from /dev/null and captured stdout/stderr; kills it and panics if it
/// has not finished within `timeout`.
pub fn run(mut cmd: Command, timeout: Duration) -> Output {
    let what = describe_command(&cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let out = Capture::default();
    let err = Capture::default();
    out.pump(child.stdout.take().expect("piped stdout"));
    err.pump(child.stderr.take().expect("piped stderr"));
    let status = match wait_child(&mut child, timeout) {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not finish within {timeout:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                out.text(),
                err.text()
            );
        }
    };
    // A grandchild may still hold the pipes (e.g. a forked helper); give it a moment.
    out.wait_closed(Duration::from_secs(5));
    err.wait_closed(Duration::from_secs(5));
    Output {
        what,
        status,
        stdout: out.bytes(),
        stderr: err.bytes(),
    }
}

/// Polls `child` until it exits or `timeout` passes.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) => {}
            Err(e) => panic!("waiting for a child process failed: {e}"),
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL_EVERY);
    }
}

/// Polls `check` until it returns `Some`, or returns `None` after `timeout`.
pub fn poll<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(POLL_EVERY * 4);
    }
}

/// Polls `check` until it returns `Some`, or panics after `timeout` saying what was awaited.
pub fn poll_until<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    poll(timeout, check).unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for {what}"))
}

/// A readable rendering of a command line, for messages.
pub fn describe_command(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        let a = a.to_string_lossy();
        if a.contains(' ') || a.is_empty() {
            s.push_str(&format!("{a:?}"));
        } else {
            s.push_str(&a);
        }
    }
    s
}

/// Runs a helper tool (ssh-keygen, psql, sqlite3, ...) that must succeed; returns stdout.
pub fn tool(program: &str, args: &[&str]) -> String {
    let mut cmd = Command::new(program);
    cmd.args(args);
    let out = run(cmd, Duration::from_secs(60));
    out.assert_success();
    out.stdout_text()
}
