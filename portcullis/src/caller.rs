//! Who runs a command and what they hand it besides its arguments: the audit actor of changes
//! made at the command line (named after the operating-system user the process runs as), and the small text
//! files the command line names. A leaf: it imports nothing else of this crate.

use anyhow::Context as _;
use std::path::Path;

/// The audit actor for changes made at the command line: `cli:` and the operating-system
/// user the process runs as — looked up from its real user id in `/etc/passwd`, never from
/// `$USER`, which whoever runs the command can set to anything. Under `sudo` the invoking
/// user is kept too: `cli:root/sudo:jdoe`. An id without a passwd entry is `cli:uid1234`.
pub fn cli_actor() -> String {
    let uid = rustix::process::getuid().as_raw();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let sudo_user = std::env::var("SUDO_USER").ok();
    actor_for(uid, &passwd, sudo_user.as_deref())
}

fn actor_for(uid: u32, passwd: &str, sudo_user: Option<&str>) -> String {
    let name = passwd
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let (name, _, id) = (f.next()?, f.next()?, f.next()?);
            (id.parse::<u32>().ok()? == uid).then_some(name)
        })
        .find(|n| plain(n))
        .map_or_else(|| format!("uid{uid}"), str::to_owned);
    match sudo_user {
        // Only root's SUDO_USER says who typed the command: anyone else can set it.
        Some(by) if uid == 0 && plain(by) && by != name => format!("cli:{name}/sudo:{by}"),
        _ => format!("cli:{name}"),
    }
}

/// A user name that can go into an audit actor as it is.
fn plain(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Reads a small text file given on the command line.
pub fn read_arg_file(path: &Path, what: &str) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {what} {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\njdoe:x:1000:1000::/home/jdoe:/bin/sh\nevil name:x:1001:1001::/:/bin/sh\n";

    #[test]
    fn actor_is_the_user_of_the_process_id() {
        assert_eq!(actor_for(0, PASSWD, None), "cli:root");
        assert_eq!(actor_for(1000, PASSWD, None), "cli:jdoe");
        assert_eq!(actor_for(1001, PASSWD, None), "cli:uid1001");
        assert_eq!(actor_for(4242, PASSWD, None), "cli:uid4242");
    }

    #[test]
    fn sudo_names_who_typed_it_only_for_root() {
        assert_eq!(actor_for(0, PASSWD, Some("jdoe")), "cli:root/sudo:jdoe");
        assert_eq!(actor_for(1000, PASSWD, Some("alice")), "cli:jdoe");
        assert_eq!(actor_for(0, PASSWD, Some("evil\nuser")), "cli:root");
        assert_eq!(actor_for(0, PASSWD, Some("root")), "cli:root");
    }

    #[test]
    fn this_process_has_an_actor() {
        assert!(cli_actor().starts_with("cli:"), "{}", cli_actor());
    }
}
