//! The open-file limit of a node. Each session holds two sockets (the vendor's and the
//! device's) and at least one recording file, and the store, the listeners and the web page
//! hold more; a node started with the usual soft limit of 1,024 would refuse sessions long
//! before `ssh.max_sessions`. So `serve` raises its soft `RLIMIT_NOFILE` to the hard limit at
//! start (which any process may do), logs the value, and warns when even that is short of
//! what the configured caps need. The systemd unit sets the hard limit (`LimitNOFILE=`).

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Files a session holds at most while idle: the vendor's socket, the device's socket and
/// its recording.
pub const FILES_PER_SESSION: u64 = 3;
/// Files the node holds besides its sessions: listeners, the store's pool, logs, the web
/// page's connections.
pub const FILES_BESIDES: u64 = 256;

/// The open files a node needs for `max_sessions` sessions and `max_unauthenticated`
/// connections still signing in (one socket each).
pub fn needed(max_sessions: usize, max_unauthenticated: usize) -> u64 {
    (max_sessions as u64).saturating_mul(FILES_PER_SESSION).saturating_add(max_unauthenticated as u64).saturating_add(FILES_BESIDES)
}

/// Raises the soft limit to the hard one; returns the soft limit now in force (`None`:
/// unlimited).
pub fn raise() -> Option<u64> {
    let now = getrlimit(Resource::Nofile);
    if now.current != now.maximum {
        let raised = Rlimit { current: now.maximum, maximum: now.maximum };
        if let Err(e) = setrlimit(Resource::Nofile, raised) {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Raises the limit, logs it, and warns when it is below what the caps need.
pub fn raise_for(max_sessions: usize, max_unauthenticated: usize) {
    let need = needed(max_sessions, max_unauthenticated);
    match raise() {
        Some(limit) if limit < need => tracing::warn!(
            open_files = limit,
            needed = need,
            max_sessions,
            "the open-file limit is too low for ssh.max_sessions (3 files a session); raise LimitNOFILE= (systemd) or ulimit -Hn"
        ),
        Some(limit) => tracing::info!(open_files = limit, max_sessions, "open-file limit"),
        None => tracing::info!(open_files = "unlimited", max_sessions, "open-file limit"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    #[test]
    fn needs_three_files_a_session_and_a_margin() {
        assert_eq!(needed(5000, 64), 5000 * 3 + 64 + 256);
        assert_eq!(needed(usize::MAX, usize::MAX), u64::MAX);
    }

    #[test]
    fn raising_leaves_the_soft_limit_at_the_hard_one() {
        let after = raise();
        assert_eq!(after, getrlimit(Resource::Nofile).maximum);
    }
}
