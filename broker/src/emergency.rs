//! The lobby's `break-glass` command: an account holding the break-glass right opens an
//! emergency grant without a prior approval, stating an incident reference and a reason.
//! `--incident` and `--reason` each take every following word up to the next flag (ssh joins
//! the words of a remote command with spaces). The decision is [`portcullis_core::breakglass`]'s.

use crate::hint::Hints;
use crate::state::Conn;
use portcullis_core::approvals::minutes_text;
use portcullis_core::breakglass::OpenInput;
use portcullis_core::clock;
use portcullis_core::domain::{Channel, ChannelSet, DeviceName};

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
    let (mut device, mut minutes) = (None, None);
    let (mut incident, mut reason): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    let mut channels: Vec<Channel> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match words[i].as_str() {
            "--minutes" | "-m" => {
                let v = words.get(i + 1).ok_or("--minutes needs a number")?;
                minutes = Some(minutes_text(v).map_err(|e| format!("--minutes: {e}"))?);
                i += 2;
            }
            flag @ ("--incident" | "-i" | "--reason" | "-r") => {
                let into = if matches!(flag, "--incident" | "-i") { &mut incident } else { &mut reason };
                i += 1;
                while i < words.len() && !words[i].starts_with("--") {
                    into.push(words[i].clone());
                    i += 1;
                }
            }
            "--shell" => {
                channels.push(Channel::Shell);
                i += 1;
            }
            "--files" => {
                channels.push(Channel::Files);
                i += 1;
            }
            "--tcp" => {
                let v = words.get(i + 1).ok_or("--tcp needs a port number")?;
                channels.push(Channel::parse(&format!("tcp:{v}")).map_err(|e| format!("--tcp: {e}"))?);
                i += 2;
            }
            w if w.starts_with('-') => return Err(format!("unknown option {w}")),
            w if device.is_none() => {
                device = Some(w.to_owned());
                i += 1;
            }
            w => return Err(format!("unexpected word {w:?} (put the reason after --reason)")),
        }
    }
    Ok(BreakGlassArgs {
        device: device.ok_or("which device? usage: break-glass DEVICE --incident REF --reason TEXT")?,
        incident: incident.join(" "),
        reason: reason.join(" "),
        minutes,
        channels: if channels.is_empty() { ChannelSet::shell() } else { ChannelSet::from_channels(channels).map_err(|e| e.0)? },
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
