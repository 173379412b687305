//! The usual cast of an end-to-end test, set up in one call: an initialised broker serving
//! on loopback, one sshd device registered with it, one vendor with a key and TOTP secret,
//! and two approvers. Every test builds its own, so tests share nothing but the machine.

use super::broker::{self, Broker};
use super::device::Device;
use super::proc::{self, Output};
use super::vendor::{Interactive, Vendor};
use serde_json::Value;
use std::time::Duration;

/// Names used by every scenario (each test has its own broker, so they never clash).
pub const VENDOR: &str = "acme-jdoe";
pub const VENDOR_ORG: &str = "acme-medical";
pub const APPROVERS: [&str; 2] = ["alice", "bob"];
pub const ZONE: &str = "icu";

/// How to set a scenario up.
pub struct Setup {
    device_name: String,
    criticality: String,
    tcp_ports: Vec<u16>,
    serve_env: Vec<(String, String)>,
    /// For every command and server of the broker (see [`Broker::set_env`]).
    broker_env: Vec<(String, String)>,
    store_url: Option<String>,
    /// Appended to the broker's `portcullis.toml` before it serves.
    config: String,
}

impl Setup {
    /// A `standard` device called `device_name`, SQLite store, default serve settings.
    pub fn new(device_name: &str) -> Setup {
        Setup {
            device_name: device_name.to_owned(),
            criticality: "standard".to_owned(),
            tcp_ports: Vec::new(),
            serve_env: vec![
                // Bound every wait, so a broker that never answers fails the test in time.
                (
                    "PORTCULLIS_APPROVAL_WAIT_TIMEOUT".to_owned(),
                    "120s".to_owned(),
                ),
                // Moderation (on by default for life-critical devices) has its own tests
                // (`moderated`); elsewhere a vendor reaches a life-critical device unwatched.
                ("PORTCULLIS_POLICY_MODERATED".to_owned(), "false".to_owned()),
            ],
            broker_env: Vec::new(),
            store_url: None,
            config: String::new(),
        }
    }

    /// Sets environment variables for every CLI command and server of the broker (the
    /// recording bucket, say, which `session verify` and `evidence export` read too).
    pub fn broker_env(mut self, vars: &[(String, String)]) -> Setup {
        self.broker_env.extend(vars.iter().cloned());
        self
    }

    /// Uses this store (a PostgreSQL URL) instead of the default SQLite file.
    pub fn store(mut self, url: &str) -> Setup {
        self.store_url = Some(url.to_owned());
        self
    }

    pub fn criticality(mut self, criticality: &str) -> Setup {
        self.criticality = criticality.to_owned();
        self
    }

    /// TCP ports the device lists (grants may open them with `ssh -L`).
    pub fn tcp_ports(mut self, ports: &[u16]) -> Setup {
        self.tcp_ports = ports.to_vec();
        self
    }

    /// Sets an environment variable for `portcullis serve`.
    pub fn serve_env(mut self, key: &str, value: &str) -> Setup {
        self.serve_env.retain(|(k, _)| k != key);
        self.serve_env.push((key.to_owned(), value.to_owned()));
        self
    }

    /// Appends TOML (sections such as `[[maintenance.windows]]`) to the configuration.
    pub fn config(mut self, toml: &str) -> Setup {
        self.config.push_str(toml);
        self.config.push('\n');
        self
    }

    pub fn start(self) -> Scenario {
        let device = Device::start(&self.device_name);
        let mut broker = Broker::init_with_store(self.store_url.clone());
        for (k, v) in &self.broker_env {
            broker.set_env(k, v);
        }
        broker.add_device_with_ports(&device, &self.criticality, ZONE, &self.tcp_ports);
        let mut vendor = Vendor::new(VENDOR);
        let info = broker.add_user(
            VENDOR,
            "vendor",
            Some(VENDOR_ORG),
            Some(&vendor.public_key()),
        );
        vendor.set_totp(&info.totp_secret);
        for name in APPROVERS {
            broker.add_user(name, "approver", None, None);
        }
        let env: Vec<(&str, &str)> = self
            .serve_env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if !self.config.is_empty() {
            use std::io::Write as _;
            let mut file = std::fs::OpenOptions::new().append(true).open(&broker.config).expect("open the configuration");
            file.write_all(format!("\n{}", self.config).as_bytes()).expect("append to the configuration");
        }
        broker.serve(&env);
        Scenario {
            broker,
            device,
            vendor,
        }
    }
}

/// A running broker and device, the vendor, and approvers registered as [`APPROVERS`].
pub struct Scenario {
    // Field order is drop order: the broker goes before the device it connects to.
    pub broker: Broker,
    pub device: Device,
    pub vendor: Vendor,
}

impl Scenario {
    /// The SSH login that reaches the device through the broker: `VENDOR:DEVICE`.
    pub fn device_login(&self) -> String {
        format!("{}:{}", self.vendor.name, self.device.name)
    }

    /// Runs a lobby command (`ssh VENDOR@broker COMMAND`).
    pub fn lobby(&self, command: &str) -> Output {
        self.vendor
            .exec(self.broker.ssh_addr(), &self.vendor.name, &[], command)
    }

    /// Asks for access to the device through the lobby; returns the request id.
    pub fn request_via_lobby(&self, minutes: u32, reason: &str) -> u64 {
        let out = self.lobby(&format!(
            "request {} --minutes {minutes} --reason '{reason}'",
            self.device.name
        ));
        out.assert_success();
        broker::parse_request_id(&out.all_text()).unwrap_or_else(|| {
            panic!(
                "no `request #ID` in the lobby's answer:\n{}",
                out.describe()
            )
        })
    }

    /// `request approve ID --as WHO --code CODE EXTRA...`, with WHO's next TOTP code (the
    /// vendor's from its own authenticator); the caller checks the outcome.
    pub fn approve(&self, id: u64, who: &str, extra: &[&str]) -> Output {
        let id = id.to_string();
        let code = if who == self.vendor.name { self.vendor.totp().next_code() } else { self.broker.totp(who).next_code() };
        let mut args = vec!["request", "approve", id.as_str(), "--as", who, "--code", code.as_str()];
        args.extend_from_slice(extra);
        self.broker.cli(&args)
    }

    /// A request made through the lobby and approved by the first approver; returns its id.
    pub fn grant(&self, minutes: u32, reason: &str) -> u64 {
        self.grant_channels(minutes, reason, "", &[])
    }

    /// Like [`Scenario::grant`], asking with lobby options such as `--files --tcp 104` and
    /// approving with extra `request approve` options such as `--channels files`.
    pub fn grant_channels(&self, minutes: u32, reason: &str, ask: &str, approve: &[&str]) -> u64 {
        let out = self.lobby(&format!(
            "request {} --minutes {minutes} {ask} --reason '{reason}'",
            self.device.name
        ));
        out.assert_success();
        let id = broker::parse_request_id(&out.all_text())
            .unwrap_or_else(|| panic!("no `request #ID` in the lobby's answer:\n{}", out.describe()));
        self.approve(id, APPROVERS[0], approve).assert_success();
        self.wait_request_state(id, "approved", Duration::from_secs(30));
        id
    }

    /// Polls `request list` until request `id` is in `state`; returns the request.
    pub fn wait_request_state(&self, id: u64, state: &str, timeout: Duration) -> Value {
        let mut last = Value::Null;
        proc::poll(timeout, || {
            last = self.broker.request(id);
            (last["state"] == state).then(|| last.clone())
        })
        .unwrap_or_else(|| panic!("request #{id} did not become {state:?} in {timeout:?}: {last}"))
    }

    /// Runs `command` on the device through the broker, as the vendor.
    pub fn exec(&self, command: &str) -> Output {
        self.exec_with(&[], command)
    }

    /// Like [`Scenario::exec`] with extra ssh options.
    pub fn exec_with(&self, extra: &[&str], command: &str) -> Output {
        self.vendor
            .exec(self.broker.ssh_addr(), &self.device_login(), extra, command)
    }

    /// `ssh -tt VENDOR:DEVICE@broker` with extra ssh options.
    pub fn interactive(&self, extra: &[&str]) -> Interactive {
        self.vendor
            .interactive(self.broker.ssh_addr(), &self.device_login(), extra)
    }

    /// Connects interactively without a grant, answers the reason and minutes prompts, and
    /// returns the session waiting for approval together with the request id it printed.
    pub fn interactive_request(&self, minutes: u32, reason: &str) -> (Interactive, u64) {
        let mut term = self.interactive(&[]);
        // The prompt is "Reason (ticket number and what you will do): ".
        term.expect("Reason", Duration::from_secs(60));
        term.send_line(reason);
        term.expect("Minutes", Duration::from_secs(30));
        term.send_line(&minutes.to_string());
        let text = term.expect("is waiting for approval", Duration::from_secs(30));
        let id = broker::parse_request_id(&text).unwrap_or_else(|| {
            panic!("no `request #ID` before `is waiting for approval`: {text:?}")
        });
        (term, id)
    }

    /// The sessions (from `session list --json`) that belong to request `id`.
    pub fn sessions_of_request(&self, id: u64) -> Vec<Value> {
        self.broker
            .sessions(false)
            .into_iter()
            .filter(|s| broker::number(&s["request_id"]) == Some(id))
            .collect()
    }

    /// Polls until a session of request `id` has ended; returns it.
    pub fn wait_session_ended(&self, id: u64, timeout: Duration) -> Value {
        let mut last = Vec::new();
        proc::poll(timeout, || {
            last = self.sessions_of_request(id);
            last.iter().find(|s| s["state"] == "ended").cloned()
        })
        .unwrap_or_else(|| panic!("no session of request #{id} ended within {timeout:?}: {last:?}"))
    }
}
