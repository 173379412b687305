//! The three routes a vendor's traffic can take to the device in the benchmark, each built as
//! a real OpenSSH client command:
//! - **direct**: `ssh` straight to the device's `sshd` (what a vendor on the device's own
//!   network would do; nothing is recorded);
//! - **ProxyJump**: `ssh` to the device through a second `sshd` used as a jump host, the way
//!   hospitals run vendor access without a broker. It is written as the `ProxyCommand` that
//!   `-J` runs (`ssh -W %h:%p JUMP`), because the jump hop needs its own key and options;
//!   the jump host records nothing;
//! - **Portcullis**: `ssh VENDOR:DEVICE@broker`, with public key + TOTP, recording everything.
//!
//! Every command asks for `curve25519-sha256` so that all routes run the same key exchange
//! (OpenSSH 9.2 would otherwise pick `sntrup761x25519-sha512` with an OpenSSH server, which
//! the broker does not offer), and otherwise keeps the client's default algorithms: the
//! cipher is the client's first choice, `chacha20-poly1305@openssh.com`, on every hop the
//! client speaks.

use crate::harness::broker::Broker;
use crate::harness::device::Device;
use crate::harness::vendor::{Code, Vendor};
use crate::pool::Pool;
use std::process::Command;

/// The key exchange every route uses.
pub const KEX: &str = "KexAlgorithms=curve25519-sha256";

/// Which way a command goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    Direct,
    Jump,
    Broker,
}

impl Route {
    pub const ALL: [Route; 3] = [Route::Direct, Route::Jump, Route::Broker];

    pub fn label(self) -> &'static str {
        match self {
            Route::Direct => "direct",
            Route::Jump => "proxyjump",
            Route::Broker => "portcullis",
        }
    }
}

/// What the routes lead through.
pub struct Hosts<'a> {
    pub device: &'a Device,
    pub jump: &'a Device,
    pub broker: &'a Broker,
    pub vendors: &'a Pool,
}

/// Options every OpenSSH client of the benchmark gets towards an `sshd` of the harness.
fn plain_options(host: &Device) -> Vec<String> {
    [
        "-F", "/dev/null", "-i", &host.key_file.to_string_lossy(), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-o", KEX, "-o", &format!("User={}", host.login),
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// The `ProxyCommand` that `ssh -J` would run to reach the device through the jump host.
fn proxy_command(jump: &Device) -> String {
    let mut words = vec!["ssh".to_owned(), "-p".to_owned(), jump.addr.port().to_string()];
    words.extend(plain_options(jump));
    words.extend(["-W".to_owned(), "%h:%p".to_owned(), "127.0.0.1".to_owned()]);
    format!("ProxyCommand={}", words.join(" "))
}

impl Hosts<'_> {
    /// `program` (`ssh`, `sftp`) towards the device by `route`, with `extra` options; the
    /// caller adds the host operand `127.0.0.1` and what follows it. `port_flag` is `-p` for
    /// ssh and `-P` for sftp. A broker command uses a vendor of its own (a fresh TOTP code).
    pub fn client(&self, route: Route, program: &str, port_flag: &str, extra: &[&str]) -> Command {
        let mut cmd = match route {
            Route::Direct | Route::Jump => {
                let mut cmd = Command::new(program);
                cmd.args([port_flag, &self.device.addr.port().to_string()]).args(plain_options(self.device));
                if route == Route::Jump {
                    cmd.arg("-o").arg(proxy_command(self.jump));
                }
                cmd
            }
            Route::Broker => {
                let vendor: &Vendor = self.vendors.take();
                let login = format!("{}:{}", vendor.name, self.device.name);
                let mut cmd = if program == "ssh" {
                    vendor.ssh(self.broker.ssh_addr(), &login, Code::Next)
                } else {
                    vendor.file_client(program, self.broker.ssh_addr(), &login)
                };
                cmd.args(["-o", KEX]);
                cmd
            }
        };
        cmd.args(extra);
        cmd
    }

    /// `ssh [extra] 127.0.0.1 COMMAND` by `route`.
    pub fn ssh(&self, route: Route, extra: &[&str], command: &str) -> Command {
        let mut cmd = self.client(route, "ssh", "-p", extra);
        cmd.arg("127.0.0.1").arg(command);
        cmd
    }

    /// `ssh -N -L SOCKET:127.0.0.1:PORT`: through the jump host's `sshd` (OpenSSH's own port
    /// forwarding, which records nothing) or through the broker. There is no direct route for
    /// a tunnel: the jump host is OpenSSH's way to forward a port.
    pub fn forward(&self, route: Route, socket: &std::path::Path, port: u16) -> Command {
        match route {
            Route::Broker => {
                let vendor = self.vendors.take();
                let mut cmd = vendor.ssh(self.broker.ssh_addr(), &vendor.name, Code::Next);
                cmd.args(["-o", KEX, "-N", "-L", &format!("{}:{}:{port}", socket.display(), self.device.name), "127.0.0.1"]);
                cmd
            }
            Route::Direct | Route::Jump => {
                let mut cmd = Command::new("ssh");
                cmd.args(["-p", &self.jump.addr.port().to_string()]).args(plain_options(self.jump));
                cmd.args(["-N", "-L", &format!("{}:127.0.0.1:{port}", socket.display()), "127.0.0.1"]);
                cmd
            }
        }
    }
}
