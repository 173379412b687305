//! `portcullis demo` end to end: the real binary, its two built-in simulated devices and the
//! real OpenSSH clients, driven only by what the demo prints. An `sftp` upload through the
//! broker reaches the simulated pump's file area and comes back intact, with the SHA-256 of the
//! bytes in the audit log's `sftp.file` rows; `ventilator-3` is a device of its own, answering
//! with its own banner, prompt and commands. (Each test makes at most three connections, the
//! number of TOTP codes usable without waiting.)

use crate::harness::broker::{self, portcullis_bin, CLI_TIMEOUT};
use crate::harness::proc::{self, Capture, Output};
use crate::harness::vendor::Vendor;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

/// A running `portcullis demo`, and what it printed; stopped on drop.
struct Demo {
    child: Child,
    output: Capture,
    _dir: tempfile::TempDir,
    ssh: SocketAddr,
    config: PathBuf,
    vendor: Vendor,
}

/// The word after `prefix` in `text`.
fn word_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    let start = text.find(prefix).unwrap_or_else(|| panic!("{prefix:?} not in the demo's instructions:\n{text}")) + prefix.len();
    text[start..].split_whitespace().next().unwrap()
}

impl Demo {
    /// Starts the demo on loopback port 0 and reads its instructions.
    fn start() -> Demo {
        let dir = tempfile::Builder::new().prefix("portcullis-demo-test-").tempdir().unwrap();
        let mut cmd = Command::new(portcullis_bin());
        cmd.arg("demo").arg("--data").arg(dir.path().join("data"));
        cmd.env("PORTCULLIS_SSH_LISTEN", "127.0.0.1:0").env("PORTCULLIS_WEB_LISTEN", "127.0.0.1:0");
        // The ventilator is life-critical, so moderated by default; these tests drive its
        // shell without a moderator (moderation has its own e2e test, `moderated`).
        cmd.env("PORTCULLIS_POLICY_MODERATED", "false");
        let (mut child, output) = Capture::spawn(&mut cmd);
        if output.wait_for("Current codes", 0, Duration::from_secs(120)).is_none() {
            let _ = child.kill();
            panic!("the demo did not print its instructions:\n{}", output.text());
        }
        let text = output.text();
        let ssh: SocketAddr = word_after(&text, "Broker SSH: ").parse().unwrap();
        let config = PathBuf::from(word_after(&text, "audit tail --config "));
        let key = PathBuf::from(word_after(&text, " -i "));
        let mut vendor = Vendor::with_key("demo-vendor", &key);
        vendor.set_totp(word_after(&text, "add to an authenticator app instead: "));
        Demo { child, output, _dir: dir, ssh, config, vendor }
    }

    /// `portcullis ARGS --config CONFIG`.
    fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(portcullis_bin());
        cmd.args(args).arg("--config").arg(&self.config);
        proc::run(cmd, CLI_TIMEOUT)
    }

    fn audit(&self) -> Vec<Value> {
        let out = self.cli(&["audit", "tail", "-n", "100000", "--json"]);
        out.assert_success();
        broker::as_array(serde_json::from_slice(&out.stdout).unwrap())
    }

    /// Asks for `device` through the lobby with `options`; returns the request id.
    fn request(&self, device: &str, options: &str) -> u64 {
        let out = self.vendor.exec(self.ssh, "demo-vendor", &[], &format!("request {device} --minutes 30 --reason 'INC-1 demo test' {options}"));
        out.assert_success();
        broker::parse_request_id(&out.all_text()).unwrap_or_else(|| panic!("no request id:\n{}", out.describe()))
    }

    /// `who`'s current code, from the last `codes:` line the demo printed (as a person would
    /// read it off the demo's terminal).
    fn code_of(&self, who: &str) -> String {
        proc::poll_until(&format!("a printed code for {who}"), Duration::from_secs(40), || {
            let text = self.output.text();
            let line = text.lines().rev().find(|l| l.starts_with("codes: "))?.to_owned();
            let list = line.strip_prefix("codes: ")?.split(" (valid").next()?.to_owned();
            list.split(" · ").find_map(|pair| {
                let (name, code) = pair.rsplit_once(' ')?;
                (name == who).then(|| code.to_owned())
            })
        })
    }

    fn approve(&self, id: u64, who: &str, extra: &[&str]) {
        let id = id.to_string();
        let code = self.code_of(who);
        let mut args = vec!["request", "approve", id.as_str(), "--as", who, "--code", code.as_str()];
        args.extend_from_slice(extra);
        self.cli(&args).assert_success();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- demo output ---\n{}", self.output.text());
        }
    }
}

fn sha256_of(path: &Path) -> String {
    let out = proc::tool("sha256sum", &[path.to_str().unwrap()]);
    out.split_whitespace().next().unwrap().to_owned()
}

fn wait_file_row(demo: &Demo, path: &str, direction: &str) -> Value {
    proc::poll_until(&format!("an sftp.file {direction} row for {path}"), Duration::from_secs(60), || {
        demo.audit().into_iter().find(|r| r["kind"] == "sftp.file" && r["detail"]["direction"] == direction && r["detail"]["path"] == path)
    })
}

#[test]
fn demo_sftp_upload_to_the_simulated_pump_is_logged_with_its_sha256() {
    let demo = Demo::start();
    let text = demo.output.text();
    for needle in ["infusion-pump-12 (infusion pump on", "ventilator-3 (ventilator on", "--files", "sftp -P", "sftp.file"] {
        assert!(text.contains(needle), "{needle:?} missing from the instructions:\n{text}");
    }
    let id = demo.request("infusion-pump-12", "--files");
    demo.approve(id, "demo-approver", &["--channels", "files"]);

    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("fw-4.2.2.bin");
    let bytes: Vec<u8> = (0..300_000usize).map(|i| (i * 31 + i / 97) as u8).collect();
    std::fs::write(&image, &bytes).unwrap();
    let back = work.path().join("fw-back.bin");
    let log = work.path().join("pump.log");
    // Over the simulated device's 8 MiB cap per file.
    let big = work.path().join("too-big.bin");
    std::fs::write(&big, vec![0x42u8; 9 * 1024 * 1024]).unwrap();
    // The `-` lets the batch go on after each refused upload (outside the area, too big).
    let batch = format!(
        "put {img} /opt/firmware/fw.bin\nget /opt/firmware/fw.bin {back}\nget /var/log/pump.log {log}\n-put {img} ../../etc/portcullis-demo-escape\n-put {big} /tmp/too-big.bin\nls -l /tmp\nls /opt/firmware\n",
        img = image.display(),
        big = big.display(),
        back = back.display(),
        log = log.display()
    );
    let batch_file = work.path().join("batch");
    std::fs::write(&batch_file, batch).unwrap();
    let mut sftp = demo.vendor.file_client("sftp", demo.ssh, "demo-vendor:infusion-pump-12");
    sftp.args(["-b", batch_file.to_str().unwrap(), "127.0.0.1"]);
    let out = proc::run(sftp, Duration::from_secs(120));
    out.assert_success();

    assert_eq!(std::fs::read(&back).unwrap(), bytes, "the image came back changed");
    assert!(std::fs::read_to_string(&log).unwrap().contains("powered on, pump stopped"));
    assert!(!Path::new("/etc/portcullis-demo-escape").exists());
    assert!(out.stderr_text().contains("portcullis-demo-escape\": No such file"), "{}", out.describe());
    assert!(out.stderr_text().contains("write remote \"/tmp/too-big.bin\": Failure"), "{}", out.describe());
    let stdout = out.stdout_text();
    let tmp = stdout.split("sftp> ls -l /tmp").nth(1).unwrap_or_default();
    assert!(tmp.contains(" 8388608 ") && !tmp.contains(" 9437184 "), "the area kept more than its cap: {}", out.describe());
    let listing = stdout.split("sftp> ls /opt/firmware").nth(1).unwrap_or_default();
    assert!(listing.contains("fw.bin") && listing.contains("README.txt") && !listing.contains("escape"), "{}", out.describe());

    let sha = sha256_of(&image);
    let up = wait_file_row(&demo, "/opt/firmware/fw.bin", "upload");
    assert_eq!(up["detail"]["sha256"], sha, "{up}");
    assert_eq!(up["detail"]["bytes"], bytes.len() as u64, "{up}");
    let down = wait_file_row(&demo, "/opt/firmware/fw.bin", "download");
    assert_eq!(down["detail"]["sha256"], sha, "{down}");

    // The scp form the demo prints works too (modern scp speaks SFTP).
    let mut scp = demo.vendor.file_client("scp", demo.ssh, "demo-vendor:infusion-pump-12");
    scp.arg(&image).arg("127.0.0.1:/opt/firmware/");
    proc::run(scp, Duration::from_secs(120)).assert_success();
    let up = wait_file_row(&demo, "/opt/firmware/fw-4.2.2.bin", "upload");
    assert_eq!(up["detail"]["sha256"], sha, "{up}");
}

#[test]
fn demo_ventilator_is_a_device_of_its_own_with_its_own_prompt() {
    let demo = Demo::start();
    let id = demo.request("ventilator-3", "");
    demo.approve(id, "demo-approver", &[]);
    demo.approve(id, "demo-approver2", &[]);

    let mut term = demo.vendor.interactive(demo.ssh, "demo-vendor:ventilator-3", &[]);
    term.expect("ventilator-3 service shell (simulated ventilator)", Duration::from_secs(60));
    term.expect("ventilator-3> ", Duration::from_secs(10));
    term.send_line("status");
    let status = term.expect("ventilator-3> ", Duration::from_secs(10));
    assert!(status.contains("SimVent 300") && status.contains("mode:     standby"), "{status}");
    assert!(!status.contains("infusion") && !status.contains("mL/h"), "the pump answered: {status}");
    term.send_line("mode SIMV");
    term.expect("mode set to SIMV", Duration::from_secs(10));
    term.send_line("rate 25");
    term.expect("rate: command not found", Duration::from_secs(10));
    term.send_line("exit");
    term.expect("bye", Duration::from_secs(10));
}
