//! Python SSH clients (paramiko, netmiko; PyPI, installed by `scripts/test.sh`) as the
//! vendor's tools: the drivers under `tests/clients/` run with `python3`. A client that is
//! not installed fails the test with a message saying so, never skips it.

use super::proc::{self, Output};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The seconds each driver gives one wait (an authentication answer, a channel, a read).
/// Well under the broker's 60 s sign-in limit, so a server that never answers fails the
/// driver first, with the driver's own message.
pub const WAIT_SECS: u64 = 20;

/// How long a driver run may take before the test kills it.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// A driver script under `tests/clients/`.
pub fn driver(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/clients").join(name)
}

/// Panics unless `python3` can import `module` (whose PyPI name is `package`).
pub fn require(module: &str, package: &str) {
    let mut check = Command::new("python3");
    check.args(["-c", &format!("import {module}")]);
    let out = proc::run(check, Duration::from_secs(60));
    assert!(out.success(), "{package} (PyPI) is not installed for python3: run scripts/test.sh, which installs it\n{}", out.describe());
}

/// The arguments every driver takes: the broker's SSH port, the login, the vendor's key and
/// the seconds one wait may take.
pub fn connect_args(s: &super::scenario::Scenario, login: &str) -> Vec<String> {
    vec![
        "--port".into(),
        s.broker.ssh_addr().port().to_string(),
        "--user".into(),
        login.into(),
        "--key".into(),
        s.vendor.key.display().to_string(),
        "--timeout".into(),
        WAIT_SECS.to_string(),
    ]
}

/// `python3 tests/clients/NAME ARGS...`, run to completion with `input` on stdin.
pub fn run(name: &str, args: &[String], input: &str) -> Output {
    let mut cmd = Command::new("python3");
    cmd.arg(driver(name)).args(args).env("PYTHONUNBUFFERED", "1");
    proc::run_with_input(cmd, input.as_bytes().to_vec(), RUN_TIMEOUT)
}

/// The driver's JSON lines (one object per step), in order.
pub fn steps(out: &Output) -> Vec<serde_json::Value> {
    out.stdout_text().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// The object the driver printed for `step`; panics with the run's output if there is none.
pub fn step(out: &Output, step: &str) -> serde_json::Value {
    steps(out)
        .into_iter()
        .find(|s| s["step"] == step)
        .unwrap_or_else(|| panic!("the driver printed no {step:?} step:\n{}", out.describe()))
}
