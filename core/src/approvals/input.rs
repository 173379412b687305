//! One input type per decision: [`RequestInput`] to file a request, [`ApprovalInput`] to
//! approve one, [`StopInput`] to stop a running session. Each starts from what is always
//! needed and takes the rest through small builder methods with the usual defaults (a
//! terminal only, the window asked for, an immediate stop), so every interface — the SSH
//! lobby, the CLI, the API and the pages — calls the same function with the same rules.

use crate::domain::{ChannelSet, DeviceName, RequestId, SessionId, Username};
use std::time::Duration;

/// A request for access to one device.
#[derive(Debug, Clone)]
pub struct RequestInput {
    /// The vendor who will use the grant.
    pub vendor: Username,
    pub device: DeviceName,
    /// Why (a ticket number and what will be done); one line.
    pub reason: String,
    /// How long the window should be.
    pub minutes: i64,
    /// What the grant should allow; default: a terminal.
    pub channels: ChannelSet,
    /// Where the request came from, for the audit row.
    pub peer: String,
    /// Who filed it when not the vendor (staff on the vendor's behalf, e.g. after a call).
    pub filed_by: Option<String>,
}

impl RequestInput {
    /// A request by `vendor` for `minutes` of a terminal on `device`.
    pub fn new(vendor: &Username, device: &DeviceName, reason: &str, minutes: i64) -> Self {
        Self {
            vendor: vendor.clone(),
            device: device.clone(),
            reason: reason.to_owned(),
            minutes,
            channels: ChannelSet::shell(),
            peer: String::new(),
            filed_by: None,
        }
    }

    /// Asks for these channels instead of a terminal only.
    pub fn channels(mut self, channels: &ChannelSet) -> Self {
        self.channels = channels.clone();
        self
    }

    /// Records where the request came from.
    pub fn peer(mut self, peer: &str) -> Self {
        self.peer = peer.to_owned();
        self
    }

    /// Filed by `actor` on the vendor's behalf.
    pub fn filed_by(mut self, actor: &str) -> Self {
        self.filed_by = Some(actor.to_owned());
        self
    }

    /// Who filed it: the audit row's actor.
    pub(super) fn actor(&self) -> &str {
        self.filed_by.as_deref().unwrap_or(self.vendor.as_str())
    }
}

/// The window an approver grants: a length (default: what was asked) and an optional
/// scheduled start (Unix seconds; default: now).
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub length: Option<Duration>,
    pub starts_at: Option<i64>,
}

/// A window length given in whole minutes (the API, the pages, the CLI's `--minutes`, the
/// lobby): at least one. The one place this rule is written.
pub fn window_minutes(minutes: i64) -> Result<Duration, String> {
    if minutes < 1 {
        return Err(format!("the window must be at least 1 minute, not {minutes}"));
    }
    Ok(Duration::from_secs(u64::try_from(minutes).unwrap_or(0).saturating_mul(60)))
}

/// A number of minutes typed as text (a page's field, the lobby's prompt): a whole number, or
/// the one message that says it is not. The range is the caller's rule ([`window_minutes`],
/// [`request_minutes`]).
pub fn minutes_text(text: &str) -> Result<i64, String> {
    let text = text.trim();
    text.parse::<i64>().map_err(|_| format!("{text:?} is not a whole number of minutes"))
}

/// The minutes a request asks for: from 1 to the policy's maximum for the device (`max`).
/// The one place this rule is written: filing a request (lobby, CLI, API, pages) and the
/// gate's prompt both call it.
pub fn request_minutes(minutes: i64, max: i64) -> Result<i64, String> {
    if (1..=max).contains(&minutes) {
        Ok(minutes)
    } else {
        Err(format!("minutes must be from 1 to {max} for this device, not {minutes}"))
    }
}

/// A reason (a request's, a denial's, a stop's), trimmed: one line of at most
/// [`super::MAX_REASON_CHARS`] characters, and not empty when `required`. The one place this
/// rule is written.
pub fn reason(text: &str, required: bool) -> Result<&str, String> {
    let text = text.trim();
    if required && text.is_empty() {
        return Err("a reason is required (e.g. the ticket number and what you will do)".into());
    }
    if text.chars().count() > super::MAX_REASON_CHARS || text.chars().any(char::is_control) {
        return Err(format!("the reason must be one line of at most {} characters", super::MAX_REASON_CHARS));
    }
    Ok(text)
}

/// Checks the window an approver grants: longer than nothing, no longer than the request asks
/// for (`asked_minutes`) nor than the policy allows (`max`). Nothing is cut silently: a window
/// outside these bounds is refused with the bound that applies.
pub(super) fn check_length(length: Duration, asked_minutes: i64, max: Duration) -> Result<(), String> {
    let asked = Duration::from_secs(u64::try_from(asked_minutes).unwrap_or(0) * 60);
    if length < Duration::from_secs(1) {
        Err("the window must be longer than zero".into())
    } else if length > max {
        Err(format!("the policy allows a window of at most {} minutes here", max.as_secs() / 60))
    } else if length > asked {
        Err(format!("it asks for {asked_minutes} minutes; an approval may grant that or less"))
    } else {
        Ok(())
    }
}

/// One approver's approval of a pending request.
#[derive(Debug, Clone)]
pub struct ApprovalInput {
    pub id: RequestId,
    pub approver: Username,
    /// Length and start; default: the window asked for, from now.
    pub window: Window,
    /// Some of the channels asked for; default: all of them.
    pub channels: Option<ChannelSet>,
    /// Which interface it came through (`ssh`, `api`, `web`, or `cli:NAME` with the
    /// operating-system user), for the audit row.
    pub via: String,
}

impl ApprovalInput {
    /// `approver` approves request `id` as asked, through `via`.
    pub fn new(id: RequestId, approver: &Username, via: &str) -> Self {
        Self { id, approver: approver.clone(), window: Window::default(), channels: None, via: via.to_owned() }
    }

    /// Grants a shorter window than asked for (never longer than the policy allows).
    pub fn length(mut self, length: Option<Duration>) -> Self {
        self.window.length = length;
        self
    }

    /// Grants this window (length and scheduled start).
    pub fn window(mut self, window: Window) -> Self {
        self.window = window;
        self
    }

    /// Grants only these of the channels asked for.
    pub fn channels(mut self, channels: Option<ChannelSet>) -> Self {
        self.channels = channels;
        self
    }
}

/// How a session is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Warn the vendor, close after this long.
    Graceful(Duration),
    /// Close now.
    Immediate,
}

impl StopMode {
    /// Word for the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            StopMode::Graceful(_) => "graceful",
            StopMode::Immediate => "immediate",
        }
    }
}

/// An operator's request to stop a running session.
#[derive(Debug, Clone)]
pub struct StopInput {
    pub id: SessionId,
    /// Who asks (a user name or `cli:NAME`).
    pub by: String,
    /// Why, one line (may be empty).
    pub reason: String,
    /// Default: immediate.
    pub mode: StopMode,
}

impl StopInput {
    /// `by` asks to stop session `id` at once.
    pub fn new(id: SessionId, by: &str, reason: &str) -> Self {
        Self { id, by: by.to_owned(), reason: reason.to_owned(), mode: StopMode::Immediate }
    }

    /// Stops it this way instead.
    pub fn mode(mut self, mode: StopMode) -> Self {
        self.mode = mode;
        self
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn defaults_are_a_terminal_as_asked_and_an_immediate_stop() {
        let (v, d): (Username, DeviceName) = ("jdoe".parse().unwrap(), "pump-1".parse().unwrap());
        let r = RequestInput::new(&v, &d, "INC-1", 30);
        assert_eq!((r.channels.clone(), r.actor(), r.peer.as_str()), (ChannelSet::shell(), "jdoe", ""));
        let r = r.filed_by("nurse").peer("127.0.0.1:1");
        assert_eq!((r.actor(), r.peer.as_str()), ("nurse", "127.0.0.1:1"));
        let a = ApprovalInput::new(RequestId(4), &v, "cli");
        assert!(a.window.length.is_none() && a.window.starts_at.is_none() && a.channels.is_none());
        assert_eq!(StopInput::new(SessionId(1), "x", "").mode, StopMode::Immediate);
    }

    #[test]
    fn request_minutes_and_reasons_have_one_rule() {
        assert_eq!(minutes_text(" 15 "), Ok(15));
        assert_eq!(minutes_text("1.5"), Err("\"1.5\" is not a whole number of minutes".to_owned()));
        assert_eq!(minutes_text("0").and_then(|m| window_minutes(m).map(|_| m)), Err("the window must be at least 1 minute, not 0".to_owned()));
        assert_eq!(request_minutes(1, 60), Ok(1));
        assert_eq!(request_minutes(60, 60), Ok(60));
        for bad in [0, -5, 61, i64::MAX] {
            assert!(request_minutes(bad, 60).is_err(), "{bad}");
        }
        assert_eq!(reason("  INC-1 check  ", true), Ok("INC-1 check"));
        assert_eq!(reason("", false), Ok(""));
        assert!(reason("  ", true).is_err());
        assert!(reason("two\nlines", false).is_err());
        assert!(reason(&"x".repeat(super::super::MAX_REASON_CHARS + 1), false).is_err());
        assert!(reason(&"é".repeat(super::super::MAX_REASON_CHARS), true).is_ok());
    }

    #[test]
    fn windows_are_checked_never_cut() {
        assert_eq!(window_minutes(30), Ok(Duration::from_secs(1800)));
        assert!(window_minutes(0).is_err() && window_minutes(-5).is_err());
        let max = Duration::from_secs(60 * 60);
        assert!(check_length(Duration::from_secs(30), 30, max).is_ok(), "a short window (operator's --for 30s)");
        assert!(check_length(Duration::from_secs(30 * 60), 30, max).is_ok());
        assert!(check_length(Duration::ZERO, 30, max).unwrap_err().contains("zero"));
        assert!(check_length(Duration::from_millis(500), 30, max).is_err());
        assert!(check_length(Duration::from_secs(31 * 60), 30, max).unwrap_err().contains("30 minutes"));
        assert!(check_length(Duration::from_secs(9999 * 60), 9999, max).unwrap_err().contains("at most 60"));
    }
}
