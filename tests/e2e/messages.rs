//! What the `portcullis` binary says when it cannot start: a missing configuration names the
//! file and its cause once, and a TOML error keeps its own lines (line, column and the caret
//! under the mistake) instead of a run of `?`.

use crate::harness::broker::portcullis_bin;
use crate::harness::proc;
use std::process::Command;
use std::time::Duration;

fn run(args: &[&str]) -> proc::Output {
    let mut cmd = Command::new(portcullis_bin());
    cmd.args(args).env_remove("RUST_LOG");
    proc::run(cmd, Duration::from_secs(60))
}

#[test]
fn a_missing_config_is_named_with_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    let out = run(&["user", "list", "--config", path.to_str().unwrap()]);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    let err = out.stderr_text();
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(&format!("cannot read {}", path.display())), "{err}");
    assert_eq!(err.matches("No such file or directory").count(), 1, "the cause is printed more than once:\n{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
}

#[test]
fn a_toml_error_keeps_its_line_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portcullis.toml");
    std::fs::write(&path, "[ssh]\nlisten = 127.0.0.1:2222\n").unwrap();
    let out = run(&["user", "list", "--config", path.to_str().unwrap()]);
    assert_eq!(out.code(), Some(1), "{}", out.describe());
    let err = out.stderr_text();
    assert!(!err.contains('?'), "line breaks turned into '?':\n{err}");
    assert!(err.lines().count() >= 3, "the TOML error lost its lines:\n{err}");
    assert!(err.lines().any(|l| l.starts_with("2 | listen = 127.0.0.1:2222")), "no line of the file:\n{err}");
    assert!(err.lines().any(|l| l.trim_start().starts_with('|') && l.contains('^')), "no caret under the mistake:\n{err}");
    assert!(err.contains(&path.display().to_string()), "the file is not named:\n{err}");
}

#[test]
fn lookups_by_id_or_name_say_what_does_not_exist() {
    let broker = crate::harness::broker::Broker::init();
    let admin = broker.admin.username.clone();
    broker.add_user("ann", "approver", None, None);
    // Decisions need the decider's current code (checked first); with it, the lookup speaks.
    let decisions = [
        (broker.cli_as(&admin, &["request", "approve", "99"]), "no request #99"),
        (broker.cli_as("ann", &["request", "deny", "99", "--reason", "x"]), "no request #99"),
    ];
    let mut outcomes: Vec<(String, crate::harness::proc::Output, &str)> = decisions.into_iter().map(|(o, says)| ("decision".to_owned(), o, says)).collect();
    for (args, says) in [
        (&["session", "stop", "99"][..], "no session 99"),
        (&["session", "show", "99"][..], "no session 99"),
        (&["user", "disable", "nobody"][..], "no user nobody"),
        (&["device", "disable", "no-device"][..], "no device no-device"),
    ] {
        outcomes.push((format!("{args:?}"), broker.cli(args), says));
    }
    for (what, out, says) in outcomes {
        assert_eq!(out.code(), Some(1), "{}", out.describe());
        let err = out.stderr_text();
        assert_eq!(err.trim_end(), format!("error: {says}"), "{what}");
    }
}
