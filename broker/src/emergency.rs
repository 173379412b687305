//! The lobby's `break-glass` command: an account holding the break-glass right opens an
//! emergency grant without a prior approval, stating an incident reference and a reason.
//! `--incident` and `--reason` each take every following word up to the next flag (ssh joins
//! the words of a remote command with spaces). The decision is [`portcullis_core::breakglass`]'s.

use crate::hint::Hints;
use crate::state::Conn;
use portcullis_core::breakglass::OpenInput;
use portcullis_core::clock;
use portcullis_core::domain::{ChannelSet, DeviceName};

/// A parsed `break-glass` command.
#[derive(Debug, PartialEq, Eq)]
pub struct BreakGlassArgs {
    pub device: String,
    pub incident: String,
    pub reason: String,
    /// `None`: the policy's maximum.
    pub minutes: Option<i64>,
    pub channels: ChannelSet,
}

/// The command's help line.
pub(crate) const HELP: &str = "  break-glass DEVICE --incident REF --reason TEXT... [--minutes N] [--files] [--tcp PORT]...
                                                EMERGENCY: open access now without approval (needs the
                                                break-glass right); approvers are alerted at once and
                                                review the recorded session afterwards
";

/// Parses the words after `break-glass`.
pub(crate) fn parse(words: &[String]) -> Result<BreakGlassArgs, String> {
    let w = crate::words::parse(words, &[("--incident", "-i"), ("--reason", "-r")])?;
    let mut texts = w.texts.into_iter();
    Ok(BreakGlassArgs {
        device: w.device.ok_or("which device? usage: break-glass DEVICE --incident REF --reason TEXT")?,
        incident: texts.next().unwrap_or_default(),
        reason: texts.next().unwrap_or_default(),
        minutes: w.minutes,
        channels: w.channels,
    })
}

/// Runs the command: the text to show and the exit status.
pub(crate) async fn execute(conn: &Conn, args: BreakGlassArgs) -> (String, u32) {
    let device = match DeviceName::parse(&args.device) {
        Ok(d) => d,
        Err(e) => return (format!("error: {e}\n"), 1),
    };
    let input = OpenInput {
        vendor: conn.user.username.clone(),
        device: device.clone(),
        incident: args.incident,
        reason: args.reason,
        minutes: args.minutes,
        channels: args.channels,
        peer: conn.peer.clone(),
    };
    match conn.ctx.breakglass.open(input).await {
        Ok(o) => {
            let clipped = if o.clipped { format!(" (clipped to the policy's maximum of {} min)", o.minutes) } else { String::new() };
            (
                format!(
                    "BREAK-GLASS #{} opened on {device} until {}{clipped}.\n\
                     Every approver has been alerted; the session is recorded and will be reviewed by two approvers.\n\
                     Connect now with:\n{}",
                    o.request,
                    clock::rfc3339(o.grant.ends_at),
                    Hints::new(&conn.entry, &conn.user.username).channels(&device, &o.grant.channels)
                ),
                0,
            )
        }
        Err(e) => (format!("error: {e}\n"), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn incident_and_reason_take_their_words() {
        let a = parse(&words("vent-1 --incident INC 4411 --reason alarm loop on ward 3 --minutes 30")).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((a.device.as_str(), a.incident.as_str(), a.reason.as_str(), a.minutes), ("vent-1", "INC 4411", "alarm loop on ward 3", Some(30)));
        let b = parse(&words("vent-1 --reason x")).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((b.incident.as_str(), b.minutes), ("", None), "an empty incident is the core's to refuse, audited");
        assert!(parse(&words("--incident x")).is_err());
        assert!(parse(&words("vent-1 --force")).is_err());
    }
}
