//! The approver side: a real browser. Debian's Chromium, driven by the npm package
//! `playwright-core` from node, runs one of the scripts in `tests/browser/` against the
//! broker's web page. The test passes what the script needs in environment variables; the
//! script prints one JSON object on its last line of standard output (what it saw) and exits
//! non-zero, with the reason on standard error, when a step fails.
//!
//! `scripts/test.sh` installs Chromium and runs `npm ci` in `tests/browser/`. When
//! `PORTCULLIS_TEST_SCREENSHOTS` names a folder (relative to the repository), the scripts save
//! screenshots of the pages there (`docs/screenshots/` holds the committed ones).

use super::proc;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// How long one browser script may take.
pub const SCRIPT_TIMEOUT: Duration = Duration::from_secs(150);

/// The repository root (the folder holding `tests/browser/package.json`).
pub fn repo_root() -> PathBuf {
    let start = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    start
        .ancestors()
        .find(|d| d.join("tests/browser/package.json").is_file())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| panic!("no tests/browser/package.json above {}", start.display()))
}

/// Runs `node tests/browser/SCRIPT` with `env` and returns the JSON it printed last.
pub fn run(script: &str, env: &[(&str, String)]) -> Value {
    let root = repo_root();
    let dir = root.join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci` in {} (scripts/test.sh does)",
        dir.display()
    );
    let mut cmd = Command::new("node");
    cmd.arg(dir.join(script)).current_dir(&dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    if let Some(shots) = std::env::var_os("PORTCULLIS_TEST_SCREENSHOTS") {
        cmd.env("PORTCULLIS_TEST_SCREENSHOTS", root.join(shots));
    }
    let out = proc::run(cmd, SCRIPT_TIMEOUT);
    assert!(
        out.success(),
        "browser script {script} failed:\n{}",
        out.describe()
    );
    let text = out.stdout_text();
    let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("");
    serde_json::from_str(last).unwrap_or_else(|e| {
        panic!(
            "browser script {script} printed no JSON on its last line ({e}):\n{}",
            out.describe()
        )
    })
}

/// The HTTPS base URL of a web listener.
pub fn base_url(addr: std::net::SocketAddr) -> String {
    format!("https://{addr}")
}
