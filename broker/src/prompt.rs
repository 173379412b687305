//! Talking to the vendor before a channel is bridged: writing text, and reading a line with
//! the small amount of editing a terminal user expects (echo, backspace, Enter, Ctrl-C,
//! Ctrl-D). Used by the lobby and by the approval gate's questions. Lines are capped so a
//! client cannot grow memory by never pressing Enter.

use russh::server::Msg;
use russh::{Channel, ChannelMsg};
use std::future::Future;

/// Longest line accepted, in bytes.
pub const MAX_LINE: usize = 1024;

/// Terminal size and type as the vendor's client announced them.
#[derive(Debug, Clone)]
pub struct PtyInfo {
    pub term: String,
    pub cols: u32,
    pub rows: u32,
    pub modes: Vec<(russh::Pty, u32)>,
}

/// What reading a line produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Text(String),
    /// Ctrl-C.
    Interrupted,
    /// Ctrl-D on an empty line, EOF, or the channel closed.
    Closed,
}

/// The vendor's side of a channel that is not bridged (yet).
pub struct Term<'a> {
    pub ch: &'a mut Channel<Msg>,
    pub pty: Option<PtyInfo>,
    /// Bytes received but not yet consumed as a line.
    pending: std::collections::VecDeque<u8>,
    /// The last byte consumed was a carriage return (so a following `\n` is part of it).
    after_cr: bool,
}

impl<'a> Term<'a> {
    pub fn new(ch: &'a mut Channel<Msg>, pty: Option<PtyInfo>) -> Self {
        Self { ch, pty, pending: Default::default(), after_cr: false }
    }

    fn newline(&self, text: &str) -> String {
        if self.pty.is_some() {
            text.replace("\r\n", "\n").replace('\n', "\r\n")
        } else {
            text.to_owned()
        }
    }

    /// Writes to standard output.
    pub async fn say(&self, text: &str) {
        let _ = self.ch.data_bytes(self.newline(text).into_bytes()).await;
    }

    /// Writes to standard error (to the terminal when there is one).
    pub async fn warn(&self, text: &str) {
        let bytes = self.newline(text).into_bytes();
        let _ = if self.pty.is_some() { self.ch.data_bytes(bytes).await } else { self.ch.extended_data_bytes(1, bytes).await };
    }

    /// Ends the channel with an exit status.
    pub async fn exit(&self, status: u32) {
        let _ = self.ch.exit_status(status).await;
        let _ = self.ch.eof().await;
        let _ = self.ch.close().await;
    }

    /// Reads one line, echoing on a terminal.
    pub async fn read_line(&mut self) -> Line {
        let mut line: Vec<u8> = Vec::new();
        loop {
            while let Some(b) = self.pending.pop_front() {
                if b == b'\n' && std::mem::take(&mut self.after_cr) {
                    continue;
                }
                self.after_cr = b == b'\r';
                match self.edit(&mut line, b).await {
                    Some(done) => return done,
                    None => continue,
                }
            }
            match self.ch.wait().await {
                Some(ChannelMsg::Data { data }) => self.pending.extend(&data[..data.len().min(MAX_LINE * 4)]),
                Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                    if let Some(p) = self.pty.as_mut() {
                        p.cols = col_width;
                        p.rows = row_height;
                    }
                }
                Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => {
                    return if line.is_empty() { Line::Closed } else { Line::Text(String::from_utf8_lossy(&line).into_owned()) };
                }
                Some(_) => {}
            }
        }
    }

    /// Applies one typed byte; returns a finished line when there is one.
    async fn edit(&self, line: &mut Vec<u8>, b: u8) -> Option<Line> {
        let echo = self.pty.is_some();
        match b {
            b'\r' | b'\n' => {
                if echo {
                    self.say("\n").await;
                }
                Some(Line::Text(String::from_utf8_lossy(line).into_owned()))
            }
            0x03 if echo => {
                self.say("^C\n").await;
                Some(Line::Interrupted)
            }
            0x04 if line.is_empty() => Some(Line::Closed),
            0x7f | 0x08 => {
                // Remove one whole UTF-8 character.
                while let Some(last) = line.pop() {
                    if last & 0xC0 != 0x80 {
                        break;
                    }
                }
                if echo {
                    let _ = self.ch.data_bytes(&b"\x08 \x08"[..]).await;
                }
                None
            }
            b if b < 0x20 => None,
            b => {
                if line.len() < MAX_LINE {
                    line.push(b);
                    if echo {
                        let _ = self.ch.data_bytes(vec![b]).await;
                    }
                }
                None
            }
        }
    }

    /// Waits until the vendor presses Ctrl-C (or closes); other input is discarded.
    pub async fn interrupted(&mut self) -> Line {
        loop {
            match self.ch.wait().await {
                Some(ChannelMsg::Data { data }) if data.contains(&0x03) => return Line::Interrupted,
                Some(ChannelMsg::Eof) | Some(ChannelMsg::Close) | None => return Line::Closed,
                Some(ChannelMsg::WindowChange { col_width, row_height, .. }) => {
                    if let Some(p) = self.pty.as_mut() {
                        p.cols = col_width;
                        p.rows = row_height;
                    }
                }
                Some(_) => {}
            }
        }
    }
}

/// Talking to the vendor as the approval gate does: [`Term`] on a real channel, a scripted
/// double in tests.
pub trait Dialog: Send {
    /// Writes to standard output.
    fn say(&self, text: &str) -> impl Future<Output = ()> + Send;
    /// Writes to standard error (to the terminal when there is one).
    fn warn(&self, text: &str) -> impl Future<Output = ()> + Send;
    /// Reads one line.
    fn read_line(&mut self) -> impl Future<Output = Line> + Send;
    /// Waits until the vendor presses Ctrl-C (or closes).
    fn interrupted(&mut self) -> impl Future<Output = Line> + Send;
}

impl Dialog for Term<'_> {
    fn say(&self, text: &str) -> impl Future<Output = ()> + Send {
        Term::say(self, text)
    }
    fn warn(&self, text: &str) -> impl Future<Output = ()> + Send {
        Term::warn(self, text)
    }
    fn read_line(&mut self) -> impl Future<Output = Line> + Send {
        Term::read_line(self)
    }
    fn interrupted(&mut self) -> impl Future<Output = Line> + Send {
        Term::interrupted(self)
    }
}
