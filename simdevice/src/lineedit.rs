//! A tiny, pure line editor for the simulated device's interactive shell.
//!
//! It turns the raw bytes a terminal sends (one keystroke at a time, or a
//! whole pasted or piped chunk) into edited lines, and says what to echo
//! back. It knows echo, backspace, Enter (CR, LF or CRLF), Ctrl-C (drop
//! the line), Ctrl-U (erase the line) and Ctrl-D (end of input on an empty
//! line); it swallows ANSI escape sequences such as arrow keys. The line is
//! capped so a client cannot make it grow without bound.

/// What one input byte did to the editor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Nothing to show.
    Nothing,
    /// Bytes to echo back to the terminal.
    Echo(Vec<u8>),
    /// The user pressed Enter; the finished line (lossily decoded as UTF-8).
    Submit(String),
    /// Ctrl-C: the line was dropped.
    Interrupt,
    /// Ctrl-D on an empty line: the user wants to leave.
    EndOfInput,
}

/// Where the editor is within an escape sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// Seen ESC.
    Start,
    /// Seen ESC [ or ESC O: wait for the final byte.
    Sequence,
}

/// Line editor state for one terminal.
#[derive(Debug)]
pub struct LineEditor {
    buf: Vec<u8>,
    max_len: usize,
    echo: bool,
    last_was_cr: bool,
    escape: Escape,
}

const BELL: &[u8] = b"\x07";
const RUB_OUT: &[u8] = b"\x08 \x08";

impl LineEditor {
    /// A new empty editor; `echo` is true on a pty, false for piped input.
    pub fn new(max_len: usize, echo: bool) -> Self {
        Self {
            buf: Vec::new(),
            max_len,
            echo,
            last_was_cr: false,
            escape: Escape::None,
        }
    }

    /// Take whatever is on the current line (used at end of input).
    pub fn take_line(&mut self) -> String {
        let line = String::from_utf8_lossy(&self.buf).into_owned();
        self.buf.clear();
        line
    }

    /// Feed one byte and learn what to do.
    pub fn push(&mut self, byte: u8) -> Step {
        let after_cr = std::mem::replace(&mut self.last_was_cr, false);
        match self.escape {
            Escape::Start => {
                self.escape = if byte == b'[' || byte == b'O' {
                    Escape::Sequence
                } else {
                    Escape::None
                };
                return Step::Nothing;
            }
            Escape::Sequence => {
                // Parameters and intermediates are 0x20..=0x3f; anything
                // else ends the sequence.
                if !(0x20..=0x3f).contains(&byte) {
                    self.escape = Escape::None;
                }
                return Step::Nothing;
            }
            Escape::None => {}
        }
        match byte {
            b'\r' => {
                self.last_was_cr = true;
                self.submit()
            }
            b'\n' if after_cr => Step::Nothing,
            b'\n' => self.submit(),
            0x7f | 0x08 => self.backspace(),
            0x03 => {
                self.buf.clear();
                Step::Interrupt
            }
            0x04 if self.buf.is_empty() => Step::EndOfInput,
            0x15 => self.erase_line(),
            0x1b => {
                self.escape = Escape::Start;
                Step::Nothing
            }
            b'\t' => self.insert(b' '),
            b if b < 0x20 => Step::Nothing,
            b => self.insert(b),
        }
    }

    fn submit(&mut self) -> Step {
        Step::Submit(self.take_line())
    }

    fn insert(&mut self, byte: u8) -> Step {
        if self.buf.len() >= self.max_len {
            return self.echoed(BELL.to_vec());
        }
        self.buf.push(byte);
        self.echoed(vec![byte])
    }

    fn backspace(&mut self) -> Step {
        // Remove one whole UTF-8 character: continuation bytes, then the lead.
        let mut removed = false;
        while let Some(b) = self.buf.pop() {
            removed = true;
            if b & 0xc0 != 0x80 {
                break;
            }
        }
        if removed {
            self.echoed(RUB_OUT.to_vec())
        } else {
            Step::Nothing
        }
    }

    fn erase_line(&mut self) -> Step {
        let chars = String::from_utf8_lossy(&self.buf).chars().count();
        self.buf.clear();
        self.echoed(RUB_OUT.repeat(chars))
    }

    fn echoed(&self, bytes: Vec<u8>) -> Step {
        if self.echo && !bytes.is_empty() {
            Step::Echo(bytes)
        } else {
            Step::Nothing
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(ed: &mut LineEditor, input: &[u8]) -> Vec<Step> {
        input
            .iter()
            .map(|b| ed.push(*b))
            .filter(|s| *s != Step::Nothing)
            .collect()
    }

    #[test]
    fn echoes_and_submits_on_cr() {
        let mut ed = LineEditor::new(64, true);
        let steps = feed(&mut ed, b"ab\r");
        assert_eq!(
            steps,
            vec![
                Step::Echo(b"a".to_vec()),
                Step::Echo(b"b".to_vec()),
                Step::Submit("ab".into())
            ]
        );
        assert_eq!(ed.take_line(), "");
    }

    #[test]
    fn crlf_is_one_enter_and_lf_alone_works() {
        let mut ed = LineEditor::new(64, false);
        assert_eq!(
            feed(&mut ed, b"x\r\ny\n\n"),
            vec![
                Step::Submit("x".into()),
                Step::Submit("y".into()),
                Step::Submit(String::new())
            ]
        );
    }

    #[test]
    fn backspace_removes_whole_utf8_char() {
        let mut ed = LineEditor::new(64, true);
        let _ = feed(&mut ed, "aé".as_bytes());
        assert_eq!(ed.push(0x7f), Step::Echo(RUB_OUT.to_vec()));
        assert_eq!(ed.push(b'\r'), Step::Submit("a".into()));
        assert_eq!(ed.push(0x08), Step::Nothing);
    }

    #[test]
    fn ctrl_c_clears_and_ctrl_d_only_ends_empty_line() {
        let mut ed = LineEditor::new(64, false);
        let _ = feed(&mut ed, b"rate 5");
        assert_eq!(ed.push(0x04), Step::Nothing);
        assert_eq!(ed.push(0x03), Step::Interrupt);
        assert_eq!(ed.push(b'\r'), Step::Submit(String::new()));
        assert_eq!(ed.push(0x04), Step::EndOfInput);
    }

    #[test]
    fn ctrl_u_erases_line() {
        let mut ed = LineEditor::new(64, true);
        let _ = feed(&mut ed, b"abc");
        assert_eq!(ed.push(0x15), Step::Echo(RUB_OUT.repeat(3)));
        assert_eq!(ed.push(b'\n'), Step::Submit(String::new()));
    }

    #[test]
    fn escape_sequences_are_swallowed() {
        let mut ed = LineEditor::new(64, true);
        let steps = feed(&mut ed, b"a\x1b[A\x1b[1;5Cb\x1bOPc\r");
        assert_eq!(steps.last(), Some(&Step::Submit("abc".into())));
    }

    #[test]
    fn line_is_capped() {
        let mut ed = LineEditor::new(4, true);
        let steps = feed(&mut ed, b"abcdef");
        assert_eq!(steps.last(), Some(&Step::Echo(BELL.to_vec())));
        assert_eq!(ed.push(b'\r'), Step::Submit("abcd".into()));
    }

    #[test]
    fn no_echo_without_pty() {
        let mut ed = LineEditor::new(8, false);
        assert!(feed(&mut ed, b"abc\x7f").is_empty());
        assert_eq!(ed.take_line(), "ab");
    }
}
