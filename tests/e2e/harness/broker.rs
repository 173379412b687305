//! The broker under test: the real `portcullis` binary, run as a subprocess.
//!
//! [`Broker::init`] runs `portcullis init --data DIR --json` in a fresh temporary directory
//! (optionally against PostgreSQL through `PORTCULLIS_STORE_URL`); CLI commands then run with
//! `--config DIR/portcullis.toml`, and [`Broker::serve`] starts `portcullis serve` on
//! 127.0.0.1:0 and reads its stdout until it says which port it got. The server is killed
//! when the `Broker` is dropped; if the test is panicking, the server's output and the CLI
//! commands run so far are printed first.

use super::proc::{self, Capture, Output};
use super::totp::TotpClock;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long `serve` may take to say it is listening.
pub const SERVE_STARTUP: Duration = Duration::from_secs(60);
/// How long one CLI command may take.
pub const CLI_TIMEOUT: Duration = Duration::from_secs(60);

/// The `portcullis` binary: the one cargo built for this test, or `PORTCULLIS_TEST_BIN`.
pub fn portcullis_bin() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_portcullis") {
        return PathBuf::from(path);
    }
    match std::env::var_os("PORTCULLIS_TEST_BIN") {
        Some(path) => PathBuf::from(path),
        None => panic!("set PORTCULLIS_TEST_BIN to the portcullis binary"),
    }
}

/// Credentials of a user as printed by `init` or `user add`.
#[derive(Clone, Debug)]
pub struct UserInfo {
    pub username: String,
    pub totp_secret: String,
    /// Only set for the admin made by `init`.
    pub password: Option<String>,
    /// The full JSON object printed.
    pub json: Value,
}

/// An initialised broker data directory, and the server when started.
pub struct Broker {
    /// Holds the data directory (`_root/data`); removed on drop.
    _root: tempfile::TempDir,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub admin: UserInfo,
    store_url: Option<String>,
    server: Option<Server>,
    /// Every CLI command run, with its output, for the failure report.
    history: Mutex<Vec<String>>,
    /// The authenticator of every account made through this broker's CLI (except vendors,
    /// whose codes their [`super::vendor::Vendor`] hands out), for `--as NAME --code`.
    totp: Mutex<HashMap<String, Arc<TotpClock>>>,
    /// Environment given to every command and server from now on (see [`Broker::set_env`]).
    env: Mutex<Vec<(String, String)>>,
}

struct Server {
    child: Child,
    output: Capture,
    ssh_addr: SocketAddr,
    web_addr: SocketAddr,
}

impl Broker {
    /// `portcullis init` with the default (SQLite) store.
    pub fn init() -> Broker {
        Broker::init_with_store(None)
    }

    /// `portcullis init`, against `store_url` (a PostgreSQL URL) when given.
    pub fn init_with_store(store_url: Option<String>) -> Broker {
        let root = tempfile::Builder::new()
            .prefix("portcullis-broker-")
            .tempdir()
            .expect("tempdir");
        let data_dir = root.path().join("data");
        let mut cmd = Command::new(portcullis_bin());
        cmd.arg("init").arg("--data").arg(&data_dir).arg("--json");
        set_store_env(&mut cmd, store_url.as_deref());
        let out = proc::run(cmd, CLI_TIMEOUT);
        out.assert_success();
        let json: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("init --json printed no JSON ({e}):\n{}", out.describe()));
        let config = PathBuf::from(json["config"].as_str().expect("init JSON has config"));
        assert!(config.exists(), "init did not write {}", config.display());
        assert_eq!(
            std::fs::canonicalize(&config).ok(),
            std::fs::canonicalize(data_dir.join("portcullis.toml")).ok(),
            "init did not put its config in the data directory: {json}"
        );
        let admin = &json["admin"];
        let admin = UserInfo {
            username: admin["username"]
                .as_str()
                .expect("admin.username")
                .to_owned(),
            totp_secret: admin["totp_secret"]
                .as_str()
                .expect("admin.totp_secret")
                .to_owned(),
            password: admin["password"].as_str().map(str::to_owned),
            json: admin.clone(),
        };
        let broker = Broker {
            _root: root,
            data_dir,
            config,
            admin,
            store_url,
            server: None,
            history: Mutex::new(Vec::new()),
            totp: Mutex::new(HashMap::new()),
            env: Mutex::new(Vec::new()),
        };
        broker.remember_totp(&broker.admin.username, &broker.admin.totp_secret);
        broker
    }

    /// A broker for a data folder made another way (by `restore`, say) at `root/data`, whose
    /// accounts include `admin`; CLI commands and `serve` act on its `portcullis.toml`.
    pub fn adopt(root: tempfile::TempDir, admin: UserInfo) -> Broker {
        let data_dir = root.path().join("data");
        let config = data_dir.join("portcullis.toml");
        assert!(config.exists(), "{} does not exist", config.display());
        let broker = Broker {
            _root: root,
            data_dir,
            config,
            admin,
            store_url: None,
            server: None,
            history: Mutex::new(Vec::new()),
            totp: Mutex::new(HashMap::new()),
            env: Mutex::new(Vec::new()),
        };
        broker.remember_totp(&broker.admin.username, &broker.admin.totp_secret);
        broker
    }

    /// A `portcullis ARGS --config CONFIG` command, not yet run.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(portcullis_bin());
        cmd.args(args).arg("--config").arg(&self.config);
        set_store_env(&mut cmd, self.store_url.as_deref());
        for (k, v) in self.env.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            cmd.env(k, v);
        }
        cmd
    }

    /// Sets `key` for every later CLI command and server of this broker (as an operator's
    /// environment file would), e.g. the recording bucket and its key.
    pub fn set_env(&self, key: &str, value: &str) {
        let mut env = self.env.lock().unwrap_or_else(|p| p.into_inner());
        env.retain(|(k, _)| k != key);
        env.push((key.to_owned(), value.to_owned()));
    }

    /// Runs a CLI command; the caller checks the outcome.
    pub fn cli(&self, args: &[&str]) -> Output {
        let out = proc::run(self.command(args), CLI_TIMEOUT);
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history.push(format!(
            "$ {} -> {}\n{}",
            out.what,
            out.status,
            out.describe()
        ));
        out
    }

    /// Runs a CLI command that must succeed; returns its stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        out.assert_success();
        out.stdout_text()
    }

    /// Runs a CLI command that must succeed and print JSON (the caller passes `--json`).
    pub fn cli_json(&self, args: &[&str]) -> Value {
        let out = self.cli(args);
        out.assert_success();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{} printed no JSON ({e}):\n{}", out.what, out.describe()))
    }

    /// `portcullis serve` with loopback listeners on port 0 and the extra environment given;
    /// returns once it reports its SSH port.
    pub fn serve(&mut self, env: &[(&str, &str)]) -> SocketAddr {
        assert!(self.server.is_none(), "serve already started");
        let server = self.spawn_server(env);
        let ssh_addr = server.ssh_addr;
        self.server = Some(server);
        ssh_addr
    }

    /// A second `portcullis serve` on the same configuration — the same database, keys and
    /// recording store — as another node of a cluster would be, under a node id of its own
    /// (`second-node`, unless `env` names one). Killed when dropped.
    pub fn another_node(&self, env: &[(&str, &str)]) -> Node {
        let mut env = env.to_vec();
        if !env.iter().any(|(k, _)| *k == "PORTCULLIS_NODE_ID") {
            env.push(("PORTCULLIS_NODE_ID", "second-node"));
        }
        Node(self.spawn_server(&env))
    }

    /// Kills the server with SIGKILL (no drain, no seal, no last checkpoint) and waits for it
    /// to be gone, so that `serve` can be started again on the same data.
    pub fn kill_server(&mut self) {
        let mut server = self.server.take().expect("serve not started");
        let pid = server.child.id().to_string();
        let sent = Command::new("kill").args(["-KILL", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "cannot send SIGKILL to {pid}");
        let status = server.child.wait().expect("wait for serve");
        assert!(!status.success(), "serve exited cleanly instead of being killed: {status}");
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        history.push(format!("--- killed serve (SIGKILL); it had printed ---\n{}", server.output.text()));
    }

    fn spawn_server(&self, env: &[(&str, &str)]) -> Server {
        let mut cmd = self.command(&["serve"]);
        cmd.env("PORTCULLIS_SSH_LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_WEB_LISTEN", "127.0.0.1:0")
            .env("PORTCULLIS_METRICS_LISTEN", "127.0.0.1:0")
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        let what = proc::describe_command(&cmd);
        let (mut child, output) = Capture::spawn(&mut cmd);
        let ssh_addr = announced(&output, "ssh listening on ");
        // `web listening on` is printed right after the SSH line.
        let web_addr = ssh_addr.and_then(|_| announced(&output, "web listening on "));
        let (Some(ssh_addr), Some(web_addr)) = (ssh_addr, web_addr) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{what} did not report `ssh listening on ADDR` and `web listening on ADDR` within {SERVE_STARTUP:?}:\n{}",
                output.text()
            );
        };
        assert!(
            ssh_addr.ip().is_loopback() && web_addr.ip().is_loopback(),
            "broker listens on {ssh_addr} and {web_addr}, not loopback"
        );
        Server { child, output, ssh_addr, web_addr }
    }

    /// The HTTPS address of the running server (the web page and the API).
    pub fn web_addr(&self) -> SocketAddr {
        self.server.as_ref().expect("serve not started").web_addr
    }

    /// The metrics listener's address of the running server (`metrics listening on ADDR`).
    pub fn metrics_addr(&self) -> SocketAddr {
        let server = self.server.as_ref().expect("serve not started");
        announced(&server.output, "metrics listening on ").unwrap_or_else(|| panic!("serve did not report `metrics listening on ADDR`:\n{}", server.output.text()))
    }

    /// The SSH address of the running server.
    pub fn ssh_addr(&self) -> SocketAddr {
        self.server.as_ref().expect("serve not started").ssh_addr
    }

    /// Process id of the running server.
    pub fn server_pid(&self) -> u32 {
        self.server.as_ref().expect("serve not started").child.id()
    }

    /// Everything the server printed so far.
    pub fn server_output(&self) -> String {
        self.server
            .as_ref()
            .map(|s| s.output.text())
            .unwrap_or_default()
    }

    /// Stops the server the way an operator does (SIGTERM) and waits for it to exit, so that
    /// `serve` can be started again on the same data (a restart).
    pub fn stop(&mut self) {
        let mut server = self.server.take().expect("serve not started");
        let pid = server.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "cannot send SIGTERM to {pid}");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while server.child.try_wait().expect("wait for serve").is_none() {
            assert!(std::time::Instant::now() < deadline, "serve did not exit after SIGTERM:\n{}", server.output.text());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET /healthz` of the running server (with curl: the certificate is self-signed), as
    /// JSON: status, whether the store answers, waiting writes, runtime tasks, RSS.
    pub fn health(&self) -> Value {
        let url = format!("https://{}/healthz", self.web_addr());
        let mut cmd = Command::new("curl");
        cmd.args(["-sS", "-k", "--max-time", "30", &url]);
        let out = proc::run(cmd, Duration::from_secs(60));
        out.assert_success();
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("/healthz is not JSON ({e}):\n{}", out.describe()))
    }

    /// The SQLite database file (for tamper tests).
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("portcullis.db")
    }

    /// `user add NAME --role ROLE [--org ORG] [--ssh-key PUB] --json`.
    pub fn add_user(
        &self,
        name: &str,
        role: &str,
        org: Option<&str>,
        key: Option<&Path>,
    ) -> UserInfo {
        let mut args = vec!["user", "add", name, "--role", role];
        if let Some(org) = org {
            args.extend(["--org", org]);
        }
        let key = key.map(|k| k.to_str().expect("utf-8 key path").to_owned());
        if let Some(key) = &key {
            args.extend(["--ssh-key", key.as_str()]);
        }
        args.push("--json");
        let json = self.cli_json(&args);
        assert_eq!(json["username"], name, "user add JSON: {json}");
        assert_eq!(json["role"], role, "user add JSON: {json}");
        if role != "vendor" {
            self.remember_totp(name, json["totp_secret"].as_str().expect("totp_secret"));
        }
        UserInfo {
            username: name.to_owned(),
            totp_secret: json["totp_secret"]
                .as_str()
                .expect("totp_secret")
                .to_owned(),
            password: None,
            json,
        }
    }

    /// Keeps an authenticator for account `name` (see [`Broker::totp`]).
    pub fn remember_totp(&self, name: &str, base32_secret: &str) {
        let mut all = self.totp.lock().unwrap_or_else(|p| p.into_inner());
        all.insert(name.to_owned(), Arc::new(TotpClock::new(base32_secret)));
    }

    /// The authenticator of account `name`, made through this broker's CLI.
    pub fn totp(&self, name: &str) -> Arc<TotpClock> {
        let all = self.totp.lock().unwrap_or_else(|p| p.into_inner());
        all.get(name).cloned().unwrap_or_else(|| panic!("no TOTP secret known for {name}"))
    }

    /// `ARGS --as NAME --code CODE`: a decision made as `name`, proven with its next code.
    pub fn cli_as(&self, name: &str, args: &[&str]) -> Output {
        let code = self.totp(name).next_code();
        let mut all = args.to_vec();
        all.extend(["--as", name, "--code", code.as_str()]);
        self.cli(&all)
    }

    /// `device add` for a harness device.
    pub fn add_device(&self, device: &super::device::Device, criticality: &str, zone: &str) {
        self.add_device_with_ports(device, criticality, zone, &[]);
    }

    /// `device add` for a harness device that lists `tcp_ports` for tunnels.
    pub fn add_device_with_ports(&self, device: &super::device::Device, criticality: &str, zone: &str, tcp_ports: &[u16]) {
        let address = device.addr.to_string();
        let key = device.key_file.to_str().expect("utf-8 key path").to_owned();
        let host_key = device.host_key_line();
        let ports: Vec<String> = tcp_ports.iter().map(u16::to_string).collect();
        let mut args = vec![
            "device",
            "add",
            &device.name,
            "--address",
            &address,
            "--login",
            &device.login,
            "--key-file",
            &key,
            "--host-key",
            &host_key,
            "--criticality",
            criticality,
            "--zone",
            zone,
        ];
        for p in &ports {
            args.extend(["--tcp-port", p.as_str()]);
        }
        self.cli_ok(&args);
    }

    /// `request list --json`, optionally filtered by state.
    pub fn requests(&self, state: Option<&str>) -> Vec<Value> {
        let mut args = vec!["request", "list"];
        if let Some(state) = state {
            args.extend(["--state", state]);
        }
        args.push("--json");
        as_array(self.cli_json(&args))
    }

    /// One request from `request list --json`.
    pub fn request(&self, id: u64) -> Value {
        self.requests(None)
            .into_iter()
            .find(|r| id_of(r) == id)
            .unwrap_or_else(|| panic!("request #{id} is not in `request list`"))
    }

    /// `session list [--active] --json`.
    pub fn sessions(&self, active_only: bool) -> Vec<Value> {
        let mut args = vec!["session", "list"];
        if active_only {
            args.push("--active");
        }
        args.push("--json");
        as_array(self.cli_json(&args))
    }

    /// `audit tail -n 100000 --json`: the whole log, oldest first as printed.
    pub fn audit(&self) -> Vec<Value> {
        as_array(self.cli_json(&["audit", "tail", "-n", "100000", "--json"]))
    }

    /// Audit rows of one kind.
    pub fn audit_of_kind(&self, kind: &str) -> Vec<Value> {
        self.audit()
            .into_iter()
            .filter(|r| r["kind"] == kind)
            .collect()
    }

    /// Polls the audit log until a row of `kind` matching `pred` appears; returns it.
    pub fn wait_for_audit(
        &self,
        kind: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let mut last = Vec::new();
        let hit = proc::poll(timeout, || {
            let rows = self.audit();
            let hit = rows.iter().find(|r| r["kind"] == kind && pred(r)).cloned();
            last = rows;
            hit
        });
        hit.unwrap_or_else(|| {
            let log: Vec<String> = last.iter().map(|r| r.to_string()).collect();
            panic!(
                "no audit row of kind {kind:?} matched within {timeout:?}; the log:\n{}",
                log.join("\n")
            )
        })
    }
}

/// A second node started by [`Broker::another_node`].
pub struct Node(Server);

impl Node {
    /// Its SSH address.
    pub fn ssh_addr(&self) -> SocketAddr {
        self.0.ssh_addr
    }

    /// Its HTTPS address.
    pub fn web_addr(&self) -> SocketAddr {
        self.0.web_addr
    }

    /// Everything it printed so far.
    pub fn output(&self) -> String {
        self.0.output.text()
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.child.id()
    }

    /// Waits up to `timeout` for it to exit; its exit status if it did.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        proc::poll(timeout, || self.0.child.try_wait().ok().flatten())
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- second node's output ---\n{}", self.0.output.text());
        }
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
            eprintln!("--- portcullis CLI commands ---\n{}", history.join("\n"));
            eprintln!("--- portcullis serve output ---\n{}", self.server_output());
        }
        if let Some(server) = &mut self.server {
            let _ = server.child.kill();
            let _ = server.child.wait();
        }
    }
}

/// The address printed after `marker` (waiting up to [`SERVE_STARTUP`] for it).
fn announced(output: &Capture, marker: &str) -> Option<SocketAddr> {
    let end = output.wait_for(marker, 0, SERVE_STARTUP)?;
    let text = output.bytes();
    let rest = String::from_utf8_lossy(&text[end..]).into_owned();
    // Stop at anything that cannot be part of an address (space, colour escape...).
    let addr: String = rest
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || matches!(c, '.' | ':' | '[' | ']'))
        .collect();
    addr.parse::<SocketAddr>().ok()
}

fn set_store_env(cmd: &mut Command, store_url: Option<&str>) {
    match store_url {
        Some(url) => cmd.env("PORTCULLIS_STORE_URL", url),
        None => cmd.env_remove("PORTCULLIS_STORE_URL"),
    };
}

/// A JSON array's elements (panics on anything else).
pub fn as_array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        other => panic!("expected a JSON array, got {other}"),
    }
}

/// The `id` field of a request or session, as a number (accepts `7` or `"7"`).
pub fn id_of(v: &Value) -> u64 {
    number(&v["id"]).unwrap_or_else(|| panic!("no numeric id in {v}"))
}

/// A JSON number, or a string holding one.
pub fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| {
        v.as_str()
            .and_then(|s| s.trim_start_matches('#').parse().ok())
    })
}

/// Parses `request #ID` out of text printed by the broker.
pub fn parse_request_id(text: &str) -> Option<u64> {
    let start = text.find("request #")? + "request #".len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}
