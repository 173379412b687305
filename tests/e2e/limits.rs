//! The node's own limits: `serve` raises its open-file soft limit to the hard limit at start
//! (a session holds two sockets and a recording file, so the usual soft limit of 1,024 would
//! refuse sessions long before `ssh.max_sessions`), and says so when even the hard limit is
//! too low for the configured caps.

use crate::harness::broker::Broker;
use crate::harness::proc::Capture;
use crate::harness::scenario::Setup;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `portcullis serve` for `broker`, started by a shell that first sets the open-file limits
/// with `ulimit` (`-S` soft, `-H` hard), so the binary inherits them as from a login shell.
fn serve_with_limits(broker: &Broker, ulimit: &str) -> (Child, Capture) {
    let inner = broker.command(&["serve"]);
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("{ulimit} && exec \"$0\" \"$@\"")).arg(inner.get_program()).args(inner.get_args());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    cmd.env("PORTCULLIS_SSH_LISTEN", "127.0.0.1:0").env("PORTCULLIS_WEB_LISTEN", "127.0.0.1:0").env("PORTCULLIS_METRICS_LISTEN", "127.0.0.1:0").stdin(Stdio::null());
    let (child, out) = Capture::spawn(&mut cmd);
    assert!(out.wait_for("ssh listening on ", 0, Duration::from_secs(60)).is_some(), "serve did not start:\n{}", out.text());
    (child, out)
}

/// The `Max open files` line of a process: (soft, hard).
fn open_files(pid: u32) -> (String, String) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or_else(|| panic!("no open-file limit in {limits}"));
    let mut f = line["Max open files".len()..].split_whitespace();
    (f.next().unwrap().to_owned(), f.next().unwrap().to_owned())
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn serve_raises_its_open_file_limit_to_the_hard_limit() {
    let broker = Broker::init();
    let (child, out) = serve_with_limits(&broker, "ulimit -Sn 128");
    let (soft, hard) = open_files(child.id());
    stop(child);
    assert_ne!(soft, "128", "the soft limit was left as inherited");
    assert_eq!(soft, hard, "soft limit not raised to the hard one");
    assert!(out.text().contains("open-file limit"), "the limit was not logged:\n{}", out.text());
}

/// Hostile: a hard limit too low for the caps (here 400 files, for the default 1,000 sessions)
/// cannot be raised by the node itself; it must start anyway, at that limit, and say plainly
/// that it is too low.
#[test]
fn a_hard_limit_too_low_for_max_sessions_is_reported() {
    let broker = Broker::init();
    let (child, out) = serve_with_limits(&broker, "ulimit -Sn 100 && ulimit -Hn 400");
    let (soft, hard) = open_files(child.id());
    stop(child);
    assert_eq!((soft.as_str(), hard.as_str()), ("400", "400"));
    let text = out.text();
    assert!(text.contains("the open-file limit is too low for ssh.max_sessions"), "no warning:\n{text}");
}

/// What the process `pid` has open: the target of each of its file descriptors
/// (`socket:[INODE]`, a path, `anon_inode:[eventpoll]`, …).
fn open_file_targets(pid: u32) -> Vec<String> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok()).map(|t| t.display().to_string()).collect()
}

/// Each idle session holds three files in the broker, as the open-file limit counts them
/// (the vendor's socket, the device's socket, the recording), and no socket is held twice:
/// a fourth file per session left the last sessions of 5,000 without a file under a hard
/// limit of 20,000. Two sessions open, so that what the broker opens once on its first
/// session (store connections) is not counted.
#[test]
fn an_idle_session_holds_three_files_and_no_socket_twice() {
    let s = Setup::new("pump-files").start();
    s.grant(30, "INC-4420 open files");
    let pid = s.broker.server_pid();
    // The listeners are held once per accepting runtime: only the sessions' files count.
    let before = open_file_targets(pid);
    let mut first = s.interactive(&[]);
    first.wait_for_shell(Duration::from_secs(60));
    let one = open_file_targets(pid);
    let mut second = s.interactive(&[]);
    second.wait_for_shell(Duration::from_secs(60));
    let two = open_file_targets(pid);

    let mut sockets: Vec<&String> = two.iter().filter(|t| t.starts_with("socket:") && !before.contains(t)).collect();
    sockets.sort();
    let twice: Vec<&&String> = sockets.windows(2).filter(|w| w[0] == w[1]).map(|w| &w[0]).collect();
    assert!(twice.is_empty(), "sockets held by two descriptors each: {twice:?}\nopen: {two:?}");
    assert!(two.len() <= one.len() + 3, "the second session added {} files, not 3:\nwith one: {one:?}\nwith two: {two:?}", two.len() - one.len());

    first.send_line("exit");
    first.wait_exit(Duration::from_secs(30));
    second.send_line("exit");
    second.wait_exit(Duration::from_secs(30));
}
