//! The approver side: a real browser. Debian's Chromium, driven by the npm package
//! `playwright-core` from node, runs one of the scripts in `tests/browser/` against the
//! broker's web page. The test passes what the script needs in environment variables; the
//! script prints one JSON object on its last line of standard output (what it saw) and exits
//! non-zero, with the reason on standard error, when a step fails.
//!
//! `scripts/test.sh` installs Chromium and runs `npm ci` in `tests/browser/`. When
//! `PORTCULLIS_TEST_SCREENSHOTS` names a folder (relative to the repository), the scripts save
//! screenshots of the pages there (`docs/screenshots/` holds the committed ones).

use super::broker::Broker;
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

/// A web account with a permanent password (`user add --password-file`), ready to sign in.
pub struct WebUser {
    pub name: String,
    pub password: String,
    pub totp_secret: String,
}

/// Adds web user `name` with `role` through the CLI.
pub fn web_user(broker: &Broker, name: &str, role: &str) -> WebUser {
    let password = format!("{name}-correct-horse-battery");
    let file = broker.data_dir.join(format!("{name}.password"));
    std::fs::write(&file, &password).expect("write password file");
    let file = file.to_str().expect("utf-8 path").to_owned();
    let json = broker.cli_json(&["user", "add", name, "--role", role, "--password-file", &file, "--json"]);
    broker.remember_totp(name, json["totp_secret"].as_str().expect("totp_secret"));
    WebUser {
        name: name.to_owned(),
        password,
        totp_secret: json["totp_secret"].as_str().expect("totp_secret").to_owned(),
    }
}

/// The environment a browser script needs to sign `u` in.
pub fn sign_in_env(broker: &Broker, u: &WebUser) -> Vec<(&'static str, String)> {
    vec![
        ("PORTCULLIS_URL", base_url(broker.web_addr())),
        ("WEB_USER", u.name.clone()),
        ("WEB_PASSWORD", u.password.clone()),
        ("WEB_TOTP_SECRET", u.totp_secret.clone()),
    ]
}

/// `v` as text; fails the test if it is not a string.
pub fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("expected text, got {v}"))
}

/// Fails the test if a page had script or console errors.
pub fn assert_no_page_problems(out: &Value) {
    assert_eq!(out["problems"], serde_json::json!([]), "script or console errors (CSP?) on the pages: {out}");
}

