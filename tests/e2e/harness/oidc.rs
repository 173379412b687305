//! A real OpenID provider on loopback: `tests/browser/oidc-provider.mjs` (the npm package
//! `oidc-provider`) run with node, configured by the test (client, redirect URI, accounts with
//! their groups, `acr` and `amr`). [`Provider::set_mode`] flips its hostile switch (an ID
//! token for another audience, or expired, re-signed with the provider's own key). Killed
//! when dropped.

use super::browser::repo_root;
use super::proc::{self, Capture};
use serde_json::Value;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The client id the broker uses at the test provider.
pub const CLIENT_ID: &str = "portcullis-test";
/// Its client secret.
pub const CLIENT_SECRET: &str = "portcullis-test-client-secret-8a1f";

/// The running provider.
pub struct Provider {
    child: Child,
    output: Capture,
    pub issuer: String,
}

impl Provider {
    /// Starts the provider for a broker whose callback is `redirect_uri`; `accounts` as
    /// described in the script.
    pub fn start(redirect_uri: &str, accounts: &Value) -> Provider {
        let dir = repo_root().join("tests/browser");
        assert!(dir.join("node_modules/oidc-provider").is_dir(), "oidc-provider is not installed: run `npm ci` in {}", dir.display());
        let mut cmd = Command::new("node");
        cmd.arg(dir.join("oidc-provider.mjs"))
            .current_dir(&dir)
            .env("OIDC_CLIENT_ID", CLIENT_ID)
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URI", redirect_uri)
            .env("OIDC_ACCOUNTS", accounts.to_string())
            .stdin(Stdio::null());
        let (mut child, output) = Capture::spawn(&mut cmd);
        let Some(_) = output.wait_for("issuer http://", 0, Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the OpenID provider did not start:\n{}", output.text());
        };
        let text = output.text();
        let issuer = text.lines().find_map(|l| l.strip_prefix("issuer ")).unwrap_or("").trim().to_owned();
        Provider { child, output, issuer }
    }

    /// Sets the hostile switch: `normal`, `wrong-audience` or `expired`.
    pub fn set_mode(&self, mode: &str) {
        let url = format!("{}/__test/mode?set={mode}", self.issuer);
        let out = proc::run(
            {
                let mut c = Command::new("curl");
                c.args(["-sS", "--max-time", "30", &url]);
                c
            },
            Duration::from_secs(60),
        );
        out.assert_success();
        assert!(out.stdout_text().contains(mode), "the provider did not take mode {mode}: {}", out.describe());
    }

    /// What the provider printed.
    pub fn output(&self) -> String {
        self.output.text()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free right now (for a listener whose address must be known before it
/// starts, such as the broker's web page registered at the provider).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}
