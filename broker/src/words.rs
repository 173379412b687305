//! The options of the lobby's commands that ask for access (`request`, `break-glass`): the
//! device, `--minutes`, the channels (`--shell`, `--files`, `--tcp PORT`) and free-text options
//! (`--reason`, `--incident`). ssh joins a remote command's words with spaces, so a text option
//! takes every following word up to the next `--` flag. One parser for both commands, so that
//! they read their options alike and refuse the same mistakes with the same words.

use portcullis_core::approvals::minutes_text;
use portcullis_core::domain::{Channel, ChannelSet};

/// A free-text option: its long and short spellings.
pub(crate) type TextFlag = (&'static str, &'static str);

/// A command's options, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Words {
    /// The one word that is not an option, when given.
    pub device: Option<String>,
    pub minutes: Option<i64>,
    /// The words of each text option, in the order of the flags given to [`parse`], joined
    /// with spaces; empty when the option was not given.
    pub texts: Vec<String>,
    /// `shell` when no channel option was given.
    pub channels: ChannelSet,
}

/// Parses `words`; `texts` are the free-text options this command takes.
pub(crate) fn parse(words: &[String], texts: &[TextFlag]) -> Result<Words, String> {
    let (mut device, mut minutes) = (None, None);
    let mut text: Vec<Vec<String>> = vec![Vec::new(); texts.len()];
    let mut channels: Vec<Channel> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        i += 1;
        if let Some(t) = texts.iter().position(|(long, short)| w == *long || w == *short) {
            while i < words.len() && !words[i].starts_with("--") {
                text[t].push(words[i].clone());
                i += 1;
            }
            continue;
        }
        match w {
            "--minutes" | "-m" => {
                let v = words.get(i).ok_or("--minutes needs a number")?;
                minutes = Some(minutes_text(v).map_err(|e| format!("--minutes: {e}"))?);
                i += 1;
            }
            "--shell" => channels.push(Channel::Shell),
            "--files" => channels.push(Channel::Files),
            "--tcp" => {
                let v = words.get(i).ok_or("--tcp needs a port number")?;
                channels.push(Channel::parse(&format!("tcp:{v}")).map_err(|e| format!("--tcp: {e}"))?);
                i += 1;
            }
            w if w.starts_with('-') => return Err(format!("unknown option {w}")),
            w if device.is_none() => device = Some(w.to_owned()),
            w => return Err(format!("unexpected word {w:?} (put the reason after --reason)")),
        }
    }
    Ok(Words {
        device,
        minutes,
        texts: text.into_iter().map(|t| t.join(" ")).collect(),
        channels: if channels.is_empty() { ChannelSet::shell() } else { ChannelSet::from_channels(channels).map_err(|e| e.0)? },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    const REASON: &[TextFlag] = &[("--reason", "-r")];

    #[test]
    fn text_options_stop_at_the_next_long_flag_only() {
        let w = parse(&words("pump --reason a -x b --minutes 5"), REASON).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((w.texts[0].as_str(), w.minutes), ("a -x b", Some(5)), "a short word inside the reason is part of it");
        let two: &[TextFlag] = &[("--incident", "-i"), ("--reason", "-r")];
        let w = parse(&words("d -r r1 --incident i1 i2"), two).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(w.texts, vec!["i1 i2".to_owned(), "r1".to_owned()]);
        let w = parse(&words("d"), two).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!((w.device.as_deref(), w.texts.concat().as_str()), (Some("d"), ""));
    }

    #[test]
    fn hostile_option_lists_are_refused() {
        for bad in ["pump --minutes", "pump --minutes 5x", "pump extra", "pump --tcp", "pump --tcp 70000", "pump --incident x"] {
            assert!(parse(&words(bad), REASON).is_err(), "{bad}");
        }
        let w = parse(&words("pump --tcp 22 --tcp 22 --files"), REASON).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(w.channels.iter().collect::<Vec<_>>(), vec![Channel::Files, Channel::Tcp(22)], "a repeated port counts once");
    }
}
