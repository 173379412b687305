//! netmiko (PyPI) over paramiko, as network engineers script their devices, against the
//! broker: with its generic driver (`device_type="generic"`) it signs in with the key, answers
//! the TOTP code that paramiko asks for on the terminal, finds the lobby's prompt
//! (`portcullis>`) and runs lobby commands, each output without the echo or the prompt; the
//! lobby's output never looks like a prompt to it. With its Linux driver it reaches the
//! device's own shell through a grant, and copies a file over SFTP on its own paramiko
//! connection; its `file_transfer` (legacy SCP) is refused with a message saying what to use.
//! The code given as netmiko's `password` is refused.

use crate::harness::proc::Output;
use crate::harness::python;
use crate::harness::scenario::{Scenario, Setup};
use serde_json::Value;

/// Runs the netmiko driver as the vendor (`login`), typing `code` when paramiko asks for it.
/// Also returns what the channel carried (netmiko's session log), for messages.
fn netmiko(s: &Scenario, login: &str, device_type: &str, code: &str, commands: &[&str]) -> (Output, String) {
    netmiko_with(s, login, device_type, code, commands, &[])
}

/// Like [`netmiko`] with extra driver options.
fn netmiko_with(s: &Scenario, login: &str, device_type: &str, code: &str, commands: &[&str], extra: &[&str]) -> (Output, String) {
    python::require("netmiko", "netmiko");
    let mut args = python::connect_args(s, login);
    args.extend(["--device-type".to_owned(), device_type.to_owned()]);
    for c in commands {
        args.push("--command".into());
        args.push((*c).into());
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let log = tempfile::NamedTempFile::new().unwrap();
    args.push("--session-log".into());
    args.push(log.path().display().to_string());
    let out = python::run("netmiko_client.py", &args, &format!("{code}\n"));
    (out, std::fs::read_to_string(log.path()).unwrap_or_default())
}

fn outputs(out: &Output) -> Vec<Value> {
    python::steps(out).into_iter().filter(|s| s["step"] == "command").collect()
}

#[test]
fn netmiko_generic_driver_finds_the_lobby_prompt_and_runs_commands() {
    let s = Setup::new("core-switch-3").start();
    let code = s.vendor.totp().next_code();
    let request = format!("request {} --minutes 20 --reason INC-6101 VLAN audit via netmiko", s.device.name);
    let (out, log) = netmiko(&s, &s.vendor.name, "generic", &code, &[&request, "status", "help"]);
    assert!(out.success(), "{}\n--- session log ---\n{log:?}", out.describe());
    // paramiko asked for the code on the terminal (its stdout, which the driver sends to stderr).
    assert!(out.stderr_text().contains("Verification code:"), "{}", out.describe());

    let prompt = python::step(&out, "prompt");
    assert_eq!(prompt["prompt"], "portcullis>", "{prompt}");
    assert_eq!(prompt["base_prompt"], "portcullis", "{prompt}");

    let replies = outputs(&out);
    assert_eq!(replies.len(), 3, "{}", out.describe());
    let id = crate::harness::broker::parse_request_id(replies[0]["output"].as_str().unwrap())
        .unwrap_or_else(|| panic!("no request id in {}", replies[0]));
    let req = s.broker.request(id);
    assert_eq!(req["reason"], "INC-6101 VLAN audit via netmiko", "{req}");
    assert_eq!(req["state"], "pending", "{req}");
    assert!(replies[1]["output"].as_str().unwrap().contains(&format!("#{id}")), "{}", replies[1]);
    for reply in &replies {
        let text = reply["output"].as_str().unwrap();
        // netmiko stripped the echoed command and the trailing prompt.
        assert!(!text.contains("portcullis>"), "the prompt was left in the output: {reply}");
        assert!(!text.starts_with(reply["command"].as_str().unwrap()), "the echo was left in the output: {reply}");
    }
    assert!(replies[2]["output"].as_str().unwrap().starts_with("Commands:"), "{}", replies[2]);
}

#[test]
fn netmiko_linux_driver_runs_commands_on_the_device_through_a_grant() {
    let s = Setup::new("edge-router-7").start();
    s.grant(30, "INC-6102 interface counters");
    let code = s.vendor.totp().next_code();
    let (out, log) = netmiko(&s, &s.device_login(), "linux", &code, &["echo netmiko-$((6*7))", "uname -s"]);
    assert!(out.success(), "{}\n--- session log ---\n{log:?}", out.describe());
    let prompt = python::step(&out, "prompt");
    let replies = outputs(&out);
    assert_eq!(replies.len(), 2, "{}", out.describe());
    // The device's bash (TERM=vt100) starts each output with an empty line for netmiko, the
    // same when netmiko connects to the device's sshd directly; hence the trim.
    let text = |i: usize| replies[i]["output"].as_str().unwrap().trim().to_owned();
    assert_eq!(text(0), "netmiko-42", "{prompt} {}\n--- session log ---\n{log:?}", replies[0]);
    assert_eq!(text(1), "Linux", "{}", replies[1]);
    assert!(s.device.accepted() >= 1, "the device was never reached");
}

#[test]
fn netmiko_with_the_code_as_password_is_refused() {
    let s = Setup::new("edge-router-8").start();
    s.grant(30, "INC-6103 config backup");
    let code = s.vendor.totp().next_code();
    // paramiko signs in with the key, then offers the password; the broker allows only the
    // keyboard-interactive code after the key, so the password gets no fallback.
    let (out, log) = netmiko_with(&s, &s.device_login(), "linux", "", &["echo should-not-run"], &["--password", &code]);
    assert!(!out.success(), "{}\n--- session log ---\n{log:?}", out.describe());
    let connect = python::step(&out, "connect");
    assert!(connect["error"].as_str().unwrap_or_default().contains("Bad authentication type"), "{connect}");
    assert!(!out.stdout_text().contains("should-not-run"), "{}", out.describe());
    assert_eq!(s.device.accepted(), 0, "the device was contacted without the code");
}

#[test]
fn netmiko_copies_files_over_sftp_on_its_connection_and_its_file_transfer_is_refused_clearly() {
    let s = Setup::new("edge-router-9").start();
    s.grant_channels(30, "INC-6104 firmware copy", "--shell --files", &[]);
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("router-fw.bin");
    let bytes: Vec<u8> = (0..120_000usize).map(|i| (i * 7 + i / 509) as u8).collect();
    std::fs::write(&local, &bytes).unwrap();
    let want = crate::harness::proc::tool("sha256sum", &[local.to_str().unwrap()]).split_whitespace().next().unwrap().to_owned();

    // SFTP on netmiko's own paramiko connection: no second sign-in, logged with its hash.
    let remote = s.device.dir().join("router-fw.bin");
    let code = s.vendor.totp().next_code();
    let (out, log) = netmiko_with(&s, &s.device_login(), "linux", &code, &[], &["--sftp-put", local.to_str().unwrap(), remote.to_str().unwrap()]);
    assert!(out.success(), "{}\n--- session log ---\n{log:?}", out.describe());
    assert_eq!(std::fs::read(&remote).unwrap(), bytes, "the device holds other bytes than were sent");
    let row = s.broker.wait_for_audit("sftp.file", std::time::Duration::from_secs(60), |r| {
        r["detail"]["direction"] == "upload" && r["detail"]["path"].as_str().is_some_and(|p| p.ends_with("/router-fw.bin"))
    });
    assert_eq!(row["detail"]["sha256"], want, "{row}");

    // netmiko's file_transfer copies with legacy SCP (`scp -t`) on a second connection (with a
    // code of its own): refused, with the message that says what to use instead.
    let other_dir = s.device.dir().join("fw");
    std::fs::create_dir(&other_dir).unwrap();
    let code = format!("{}\n{}", s.vendor.totp().next_code(), s.vendor.totp().next_code());
    let (out, log) = netmiko_with(&s, &s.device_login(), "linux", &code, &[], &["--file-put", local.to_str().unwrap(), other_dir.to_str().unwrap()]);
    assert!(!out.success(), "{}\n--- session log ---\n{log:?}", out.describe());
    let error = python::step(&out, "file_transfer")["error"].as_str().unwrap_or_default().to_owned();
    assert!(error.contains("legacy scp") && error.contains("sftp"), "{}", out.describe());
    assert!(!other_dir.join("router-fw.bin").exists(), "legacy scp wrote to the device");
    s.broker.wait_for_audit("channel.refused", std::time::Duration::from_secs(60), |r| r["detail"]["what"] == "scp-legacy");
}
