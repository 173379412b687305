//! `portcullis demo`: the vendor's whole path on one machine, with nothing to install. It
//! initialises a data folder (a temporary one, removed at exit, unless `--data` is given),
//! enrols a vendor, two approvers, an auditor and two simulated devices (an infusion pump and a
//! ventilator, each with its own shell and SFTP file area), starts the broker and the web page
//! like `serve`, and prints exactly what to type in other terminals: the `ssh` command of
//! the vendor, the web page and password of the approvers (or the `request approve` command), a
//! file transfer with `sftp`/`scp` and where its SHA-256 shows, and the vendor's and approvers'
//! TOTP codes every 30 seconds, until Ctrl-C. Every path printed is absolute.

mod cast;
mod ticker;

use crate::cli::DemoArgs;
use crate::datadir::Layout;
use crate::output;
use crate::serve::{self, Listeners};
use crate::setup::{self, Initialised};
use anyhow::Context as _;
use cast::Cast;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use tokio_util::task::TaskTracker;

/// The demo's SSH listener unless `PORTCULLIS_SSH_LISTEN` says otherwise (loopback only).
const DEMO_SSH_LISTEN: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 2222);

/// Runs `demo`.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    crate::logging::init("warn");
    // Held until the end of the demo: dropping it removes the temporary folder.
    let (layout, temp_guard) = match args.data {
        Some(dir) => (Layout::new(&dir)?, None),
        None => {
            let temp = tempfile::Builder::new().prefix("portcullis-demo-").tempdir().context("cannot make a temporary folder")?;
            (Layout::new(temp.path())?, Some(temp))
        }
    };
    let init = setup::initialise(layout, DEMO_SSH_LISTEN).await?;
    let shutdown = crate::shutdown::on_signals();
    let tracker = TaskTracker::new();
    let cast = cast::enrol(&init, &tracker, &shutdown).await?;
    init.ctx.audit.checkpoint().await.context("signing the audit checkpoint")?;
    let host_key = serve::load_host_key(&init.ctx)?;
    let tls = serve::load_tls(&init.ctx).await?;
    let listeners = Listeners::bind(&init.ctx).await?;
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("portcullis"));
    let ssh = listeners.ssh.local_addr()?;
    let web = listeners.web.local_addr()?;
    output::print(&instructions(&init, &cast, &exe, ssh, web, temp_guard.is_some()))?;

    let config = init.layout.config();
    let hint = move |id: portcullis_core::domain::RequestId| approve_command(&exe, &id.to_string(), cast::APPROVERS[0], &config);
    tracker.spawn(ticker::requests(init.ctx.clone(), hint, shutdown.clone()));
    let mut names = vec![cast.vendor.clone()];
    for a in cast::APPROVERS.into_iter().chain([cast::AUDITOR]) {
        names.push(portcullis_core::domain::Username::parse(a)?);
    }
    tracker.spawn(ticker::codes(init.ctx.clone(), names, shutdown.clone()));
    serve::run_node(init.ctx.clone(), host_key, listeners, tls, shutdown, tracker).await
}

/// `EXE request approve ID --as WHO --config CONFIG`.
fn approve_command(exe: &Path, id: &str, who: &str, config: &Path) -> String {
    format!("{} request approve {id} --as {who} --config {}", exe.display(), config.display())
}

/// The `-p`/`-P PORT -i KEY -o IdentitiesOnly=yes` options every vendor command needs.
fn vendor_options(port_flag: &str, port: u16, key: &Path) -> String {
    format!("{port_flag} {port} -i {} -o IdentitiesOnly=yes", key.display())
}

/// The file-transfer commands printed by the demo: the lobby request for a files grant, then
/// `sftp` and `scp` to the pump's file area.
fn file_transfer_commands(vendor: &str, port: u16, key: &Path) -> [String; 4] {
    let login = format!("-o User={vendor}:{}", cast::PUMP);
    [
        format!("ssh {} {vendor}@127.0.0.1 request {} --minutes 30 --reason 'INC-1 firmware update' --files", vendor_options("-p", port, key), cast::PUMP),
        format!("sftp {} {login} 127.0.0.1", vendor_options("-P", port, key)),
        format!("scp {} {login} FILE 127.0.0.1:/opt/firmware/", vendor_options("-P", port, key)),
        format!("scp {} {login} 127.0.0.1:/var/log/pump.log .", vendor_options("-P", port, key)),
    ]
}

/// The text printed once at start.
fn instructions(init: &Initialised, cast: &Cast, exe: &Path, ssh: SocketAddr, web: SocketAddr, temporary: bool) -> String {
    let dir = init.layout.dir.display();
    let config = init.layout.config();
    let kept = if temporary { " (a temporary folder, removed when the demo stops)" } else { "" };
    let admin_pw = init.enrolment.one_time_password.as_deref().unwrap_or("-");
    let [files_request, sftp, scp_up, scp_down] = file_transfer_commands(cast.vendor.as_str(), ssh.port(), &cast.vendor_key);
    format!(
        "\nPortcullis demo: data in {dir}{kept}\n\
         \n\
         Two simulated devices, each with its own service shell and files:\n  \
         {pump} (infusion pump on {pump_addr}; high: one approver)\n  \
         {vent} (ventilator on {vent_addr}; life-critical: two distinct approvers, and a moderator\n   watching its live view before the device is contacted)\n\
         Broker SSH: {ssh} (host key {fp})    web page: https://{web}/\n\
         \n\
         1. In another terminal, connect as the vendor (or put {vent} in place of {pump}):\n\
         \n    \
         ssh {opts} {vendor}:{pump}@127.0.0.1\n\
         \n   \
         When asked for a verification code, type the current code for {vendor} shown below\n   \
         (each connection takes a new one: after the first, wait for the next line of codes).\n   \
         Give a reason and a number of minutes; the connection then waits for approval and\n   \
         says which request number it is (it is also printed here).\n\
         \n\
         2. Approve it on the web page https://{web}/ (accept the self-signed certificate):\n   \
         sign in as {first} with password {approver_pw} and {first}'s current code below.\n   \
         (For {vent}, a second approval, by {second} with the same password, is needed too.)\n   \
         Or approve it from a terminal (it asks for {first}'s current code below):\n\
         \n    \
         {approve}\n\
         \n\
         3. Watch or replay it as the auditor: sign in as {auditor} (same password, its own code\n   \
         below), open Sessions, then Watch live while it runs or Replay once it has ended.\n\
         \n\
         4. Transfer a file (SFTP needs a grant for files): ask for one, approve it as in step 2,\n   \
         then upload to /opt/firmware/ or download /var/log/pump.log:\n\
         \n    \
         {files_request}\n    \
         {sftp}\n    \
         {scp_up}\n    \
         {scp_down}\n\
         \n   \
         Each file's SHA-256 is in the audit log (sftp.file rows, see step 5) and on the session's page.\n\
         \n\
         5. Watch the audit log:  {exe} audit tail --config {cfg}\n\
         \n\
         {vendor}'s TOTP secret, to add to an authenticator app instead: {secret}\n\
         Web page admin: admin / one-time password {admin_pw}\n\
         \n\
         Press Ctrl-C to stop. Current codes (what the authenticator apps would show):\n",
        pump_addr = cast.pump_addr,
        vent_addr = cast.ventilator_addr,
        pump = cast::PUMP,
        vent = cast::VENTILATOR,
        fp = init.host_key_fingerprint,
        opts = vendor_options("-p", ssh.port(), &cast.vendor_key),
        vendor = cast.vendor,
        approve = approve_command(exe, "<ID>", cast::APPROVERS[0], &config),
        second = cast::APPROVERS[1],
        first = cast::APPROVERS[0],
        auditor = cast::AUDITOR,
        approver_pw = cast.approver_password,
        exe = exe.display(),
        cfg = config.display(),
        secret = cast.vendor_enrolment.totp_secret_base32,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approve_command_is_copy_pasteable() {
        let cmd = approve_command(Path::new("/usr/bin/portcullis"), "7", "demo-approver", Path::new("/tmp/d/portcullis.toml"));
        assert_eq!(cmd, "/usr/bin/portcullis request approve 7 --as demo-approver --config /tmp/d/portcullis.toml");
    }

    #[test]
    fn file_transfer_commands_name_the_vendor_the_pump_and_the_files_grant() {
        let [request, sftp, up, down] = file_transfer_commands("demo-vendor", 2222, Path::new("/tmp/d/demo-vendor-key"));
        let opts = "2222 -i /tmp/d/demo-vendor-key -o IdentitiesOnly=yes";
        assert_eq!(request, format!("ssh -p {opts} demo-vendor@127.0.0.1 request infusion-pump-12 --minutes 30 --reason 'INC-1 firmware update' --files"));
        assert_eq!(sftp, format!("sftp -P {opts} -o User=demo-vendor:infusion-pump-12 127.0.0.1"));
        assert_eq!(up, format!("scp -P {opts} -o User=demo-vendor:infusion-pump-12 FILE 127.0.0.1:/opt/firmware/"));
        assert_eq!(down, format!("scp -P {opts} -o User=demo-vendor:infusion-pump-12 127.0.0.1:/var/log/pump.log ."));
    }
}
