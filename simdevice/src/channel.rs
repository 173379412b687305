//! One session channel of the simulated device, without the SSH plumbing.
//!
//! A channel is opened idle, may get a pty, then runs either the
//! interactive shell (typed bytes go through the line editor) or a single
//! exec command, and is then done. Everything here returns the exact bytes
//! to send, with `\r\n` line ends on a pty, so it can be tested without a
//! network; the russh handler only moves those bytes.

use tracing::debug;

use super::lineedit::{LineEditor, Step};
use super::shell::{self, DeviceState};

/// Longest command line, in bytes, for both the shell and exec.
pub const MAX_LINE: usize = 1024;
/// Output one chunk of typed input may produce; input past it is dropped,
/// so a flood of commands cannot queue unbounded output.
pub const MAX_FEED_OUTPUT: usize = 64 * 1024;

/// Terminal size from `pty-req` / `window-change`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TermSize {
    pub cols: u32,
    pub rows: u32,
}

/// What a session channel is doing.
enum Mode {
    /// Opened; no shell or exec yet.
    Idle,
    /// Running the interactive shell.
    Shell(LineEditor),
    /// Running a subsystem (SFTP), which reads the channel itself.
    Subsystem,
    /// The shell or exec has finished.
    Done,
}

/// Bytes to send, and the exit status when the program ended.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub bytes: Vec<u8>,
    pub exit: Option<u32>,
}

/// State of one session channel.
pub struct ChannelState {
    pty: Option<TermSize>,
    mode: Mode,
}

impl ChannelState {
    pub fn new() -> Self {
        Self {
            pty: None,
            mode: Mode::Idle,
        }
    }

    /// Accept a pty before the shell or exec starts; false otherwise.
    pub fn set_pty(&mut self, size: TermSize) -> bool {
        if !matches!(self.mode, Mode::Idle) {
            return false;
        }
        self.pty = Some(size);
        true
    }

    /// Remember a new window size; false when there is no pty.
    pub fn resize(&mut self, size: TermSize) -> bool {
        match self.pty.as_mut() {
            Some(pty) => {
                *pty = size;
                true
            }
            None => false,
        }
    }

    /// Start the shell; returns the banner and prompt (nothing without a
    /// pty, like `sh` reading a pipe), or `None` if the channel is busy.
    pub fn start_shell(&mut self, pump: &DeviceState) -> Option<Vec<u8>> {
        if !matches!(self.mode, Mode::Idle) {
            return None;
        }
        self.mode = Mode::Shell(LineEditor::new(MAX_LINE, self.pty.is_some()));
        if self.pty.is_none() {
            return Some(Vec::new());
        }
        Some(self.wire(pump.banner().as_bytes()))
    }

    /// Start a subsystem; false if the channel is busy.
    pub fn start_subsystem(&mut self) -> bool {
        if !matches!(self.mode, Mode::Idle) {
            return false;
        }
        self.mode = Mode::Subsystem;
        true
    }

    /// Run one exec command; `None` if the channel is busy.
    pub fn exec(&mut self, pump: &mut DeviceState, command: &[u8]) -> Option<Output> {
        if !matches!(self.mode, Mode::Idle) {
            return None;
        }
        self.mode = Mode::Done;
        let (text, status) = if command.len() > MAX_LINE {
            (
                format!("command longer than {MAX_LINE} bytes\n"),
                shell::USAGE,
            )
        } else {
            run(pump, &String::from_utf8_lossy(command))
        };
        Some(Output {
            bytes: self.wire(text.as_bytes()),
            exit: Some(status),
        })
    }

    /// Feed bytes typed into the shell; ignored unless the shell runs.
    pub fn feed(&mut self, pump: &mut DeviceState, data: &[u8]) -> Output {
        let prompt = match self.pty {
            Some(_) => pump.prompt(),
            None => String::new(),
        };
        let Mode::Shell(editor) = &mut self.mode else {
            return Output::default();
        };
        let mut text = Vec::new();
        let mut exit = None;
        for &byte in data {
            if text.len() >= MAX_FEED_OUTPUT {
                debug!("simdevice output limit reached, rest of input dropped");
                break;
            }
            match editor.push(byte) {
                Step::Nothing => {}
                Step::Echo(bytes) => text.extend_from_slice(&bytes),
                Step::Submit(line) => {
                    if !prompt.is_empty() {
                        text.push(b'\n');
                    }
                    let (out, status) = run(pump, &line);
                    text.extend_from_slice(out.as_bytes());
                    if shell::is_exit(&line) && status == shell::OK {
                        exit = Some(shell::OK);
                        break;
                    }
                    text.extend_from_slice(prompt.as_bytes());
                }
                Step::Interrupt => {
                    text.extend_from_slice(b"^C\n");
                    text.extend_from_slice(prompt.as_bytes());
                }
                Step::EndOfInput => {
                    if !prompt.is_empty() {
                        text.push(b'\n');
                    }
                    text.extend_from_slice(b"bye\n");
                    exit = Some(shell::OK);
                    break;
                }
            }
        }
        if exit.is_some() {
            self.mode = Mode::Done;
        }
        Output {
            bytes: self.wire(&text),
            exit,
        }
    }

    /// The client sent EOF: a running shell runs any unfinished line and
    /// ends, a subsystem ends; otherwise nothing happens.
    pub fn eof(&mut self, pump: &mut DeviceState) -> Output {
        if matches!(self.mode, Mode::Subsystem) {
            self.mode = Mode::Done;
            return Output { bytes: Vec::new(), exit: Some(shell::OK) };
        }
        let Mode::Shell(editor) = &mut self.mode else {
            return Output::default();
        };
        let pending = editor.take_line();
        self.mode = Mode::Done;
        let text = if pending.trim().is_empty() {
            String::new()
        } else {
            run(pump, &pending).0
        };
        Output {
            bytes: self.wire(text.as_bytes()),
            exit: Some(shell::OK),
        }
    }

    /// Turn `\n` into `\r\n` on a pty; leave piped output alone.
    fn wire(&self, text: &[u8]) -> Vec<u8> {
        if self.pty.is_none() {
            return text.to_vec();
        }
        let mut out = Vec::with_capacity(text.len() + text.len() / 8);
        let mut prev = 0u8;
        for &b in text {
            if b == b'\n' && prev != b'\r' {
                out.push(b'\r');
            }
            out.push(b);
            prev = b;
        }
        out
    }
}

fn run(pump: &mut DeviceState, line: &str) -> (String, u32) {
    let (out, status) = shell::execute(pump, line);
    debug!(command = %line, status, "simdevice command");
    (out, status)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const SIZE: TermSize = TermSize { cols: 80, rows: 24 };

    fn pump() -> DeviceState {
        DeviceState::new(&crate::flavour::INFUSION_PUMP, "pump-1", time::OffsetDateTime::now_utc())
    }

    fn text(out: &Output) -> String {
        String::from_utf8_lossy(&out.bytes).into_owned()
    }

    #[test]
    fn exec_runs_once_and_reports_status() {
        let mut p = pump();
        let mut ch = ChannelState::new();
        let out = ch.exec(&mut p, b"nonsense").unwrap();
        assert_eq!(out.exit, Some(shell::NOT_FOUND));
        assert!(text(&out).ends_with("(try 'help')\n"));
        assert!(ch.exec(&mut p, b"status").is_none());
        assert!(ch.start_shell(&p).is_none());
        assert!(!ch.set_pty(SIZE));
    }

    #[test]
    fn exec_on_pty_uses_crlf_and_caps_length() {
        let mut p = pump();
        let mut ch = ChannelState::new();
        assert!(ch.set_pty(SIZE));
        let out = ch.exec(&mut p, b"echo a").unwrap();
        assert_eq!(out.bytes, b"a\r\n");
        let mut ch = ChannelState::new();
        let out = ch.exec(&mut p, &[b'x'; MAX_LINE + 1]).unwrap();
        assert_eq!(out.exit, Some(shell::USAGE));
    }

    #[test]
    fn interactive_shell_session() {
        let mut p = pump();
        let mut ch = ChannelState::new();
        assert!(ch.set_pty(SIZE));
        assert!(ch.resize(TermSize {
            cols: 120,
            rows: 40
        }));
        let banner = String::from_utf8(ch.start_shell(&p).unwrap()).unwrap();
        assert!(banner.ends_with("\r\npump-1> "));
        let out = ch.feed(&mut p, b"echo hi\r");
        assert_eq!(text(&out), "echo hi\r\nhi\r\npump-1> ");
        assert_eq!(out.exit, None);
        assert_eq!(
            text(&ch.feed(&mut p, b"rate 9\x03")),
            "rate 9^C\r\npump-1> "
        );
        let out = ch.feed(&mut p, b"exit\rstatus\r");
        assert_eq!(text(&out), "exit\r\nbye\r\n");
        assert_eq!(out.exit, Some(shell::OK));
        assert_eq!(ch.feed(&mut p, b"status\r"), Output::default());
    }

    #[test]
    fn a_flood_of_commands_produces_bounded_output() {
        let mut p = pump();
        let mut ch = ChannelState::new();
        ch.start_shell(&p);
        let flood = b"help\n".repeat(10_000);
        let out = ch.feed(&mut p, &flood);
        assert!(out.bytes.len() < MAX_FEED_OUTPUT + 1024);
        assert_eq!(out.exit, None);
    }

    #[test]
    fn ctrl_d_ends_shell() {
        let mut p = pump();
        let mut ch = ChannelState::new();
        ch.set_pty(SIZE);
        ch.start_shell(&p);
        let out = ch.feed(&mut p, b"\x04");
        assert_eq!(out.exit, Some(shell::OK));
        assert_eq!(text(&out), "\r\nbye\r\n");
    }

    #[test]
    fn piped_shell_has_no_prompt_and_runs_last_line_at_eof() {
        let mut p = pump();
        let mut ch = ChannelState::new();
        assert!(!ch.resize(SIZE));
        assert_eq!(ch.start_shell(&p), Some(Vec::new()));
        assert_eq!(
            text(&ch.feed(&mut p, b"rate 7\nrate")),
            "rate set to 7 mL/h\n"
        );
        let out = ch.eof(&mut p);
        assert_eq!(text(&out), "rate: 7 mL/h\n");
        assert_eq!(out.exit, Some(shell::OK));
        assert_eq!(ch.eof(&mut p), Output::default());
    }
}
