//! Who runs a command and what they hand it besides its arguments: the audit actor of changes
//! made at the command line (named after the operating-system user), and the small text
//! files the command line names. A leaf: it imports nothing else of this crate.

use anyhow::Context as _;
use std::path::Path;

/// The audit actor for changes made at the command line: `cli:` and the operating-system
/// user when it is a plain name, else just `cli`.
pub fn cli_actor() -> String {
    let os_user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
    actor_for(&os_user)
}

fn actor_for(os_user: &str) -> String {
    let plain = !os_user.is_empty()
        && os_user.len() <= 32
        && os_user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if plain {
        format!("cli:{os_user}")
    } else {
        "cli".to_owned()
    }
}

/// Reads a small text file given on the command line.
pub fn read_arg_file(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_names_are_plain() {
        assert_eq!(actor_for("root"), "cli:root");
        assert_eq!(actor_for(""), "cli");
        assert_eq!(actor_for("evil\nuser"), "cli");
        assert_eq!(actor_for("a b"), "cli");
    }
}
