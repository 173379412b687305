//! The command line, as clap derive types: what each command accepts and its help text.
//! Parsing only; the commands themselves live in `commands/`. Usage errors exit with 2
//! (clap's default); nothing here ever prompts.

use clap::{Args, Parser, Subcommand};
use portcullis_core::domain::{ChannelSet, Criticality, DeviceName, Permission, RequestId, RequestState, Role, SessionId, Username, Zone, ZoneSet};
use std::path::PathBuf;
use std::time::Duration;

mod contain;
pub use contain::{ContainCmd, OrderArgs};

/// Vendor remote-access broker for hospital networks.
#[derive(Debug, Parser)]
#[command(name = "portcullis", version, about, max_term_width = 100)]
pub struct Cli {
    /// Configuration file (every key can be overridden by a PORTCULLIS_<SECTION>_<KEY> variable).
    #[arg(long, global = true, env = "PORTCULLIS_CONFIG", default_value = "portcullis.toml", value_name = "FILE")]
    pub config: PathBuf,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a data folder: configuration, keys, TLS certificate, database and first admin.
    Init(InitArgs),
    /// Run the SSH broker and the web page until SIGINT or SIGTERM.
    Serve {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Try Portcullis on this machine: a simulated device, a vendor and approvers, all set up.
    Demo(DemoArgs),
    /// Accounts: vendors, approvers, auditors, admins.
    #[command(subcommand)]
    User(UserCmd),
    /// Devices vendors may reach.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Access requests: list, approve, deny, revoke.
    #[command(subcommand)]
    Request(RequestCmd),
    /// Brokered sessions: list, stop.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Incident containment of a zone or a device: revoke, deny, stop; lift it afterwards.
    #[command(subcommand)]
    Contain(ContainCmd),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Alerts ranked by patient-safety impact: list, acknowledge.
    #[command(subcommand)]
    Alert(AlertCmd),
    /// Evidence bundles: export a session as one signed archive, verify one offline.
    #[command(subcommand)]
    Evidence(EvidenceCmd),
    /// Recording retention: archive or delete recordings older than `retention.recordings_after`.
    #[command(subcommand)]
    Retention(RetentionCmd),
    /// Copy this node's database (SQLite; PostgreSQL: prints the pg_dump command), keys and
    /// configuration into a new folder, with a signed manifest, while `serve` keeps running.
    Backup(BackupArgs),
    /// Make a new data folder from a backup, after checking every file of it; the restored
    /// audit log must verify.
    Restore(RestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Folder to create (refused if it exists and is not empty); made 0700, files 0600.
    #[arg(long, value_name = "DIR")]
    pub output: PathBuf,
    /// Copy the sealed recordings too (each checked against its sealed hash); without it the
    /// manifest still lists each one with its hash, size and location.
    #[arg(long)]
    pub with_recordings: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The folder `portcullis backup` wrote.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// The new data folder (refused if it exists and is not empty).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// PostgreSQL backups only: the database `pg_restore` filled from the dump.
    #[arg(long, value_name = "URL")]
    pub store_url: Option<String>,
    #[command(flatten)]
    pub out: JsonFlag,
}

/// `--json`, which every command takes.
#[derive(Debug, Args, Clone, Copy)]
pub struct JsonFlag {
    /// Print JSON instead of text (errors too, as `{"error": "…"}` on standard error).
    #[arg(long)]
    pub json: bool,
}

/// Who decides at the command line, and their proof: reading the configuration file is not
/// enough to act as an approver, their current TOTP code is needed too.
#[derive(Debug, Args, Clone)]
pub struct ActingAs {
    /// Account the decision is made as (an approver, or an admin where the policy allows).
    #[arg(long = "as", value_name = "USER")]
    pub name: Username,
    /// That account's current six-digit TOTP code; asked for when omitted and standard input
    /// is a terminal. Each code is accepted once.
    #[arg(long, value_name = "DIGITS")]
    pub code: Option<String>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Folder to create (refused if it already holds a portcullis.toml).
    #[arg(long, value_name = "DIR")]
    pub data: PathBuf,
    /// Use the existing configuration file named by --config (the Debian package's
    /// /etc/portcullis/portcullis.toml) instead of writing DIR/portcullis.toml: the keys, the
    /// TLS certificate and the recordings folder are created where it names them.
    #[arg(long)]
    pub use_config: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep the demo's data here instead of a temporary folder removed at exit.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Enrol an account; prints its TOTP secret (and a one-time password for web accounts) once.
    Add {
        /// Account name: lower-case letters, digits, `.`, `_` or `-`.
        name: Username,
        /// vendor, approver, auditor or admin.
        #[arg(long, value_name = "ROLE")]
        role: Role,
        /// Organisation, e.g. the vendor's company.
        #[arg(long, default_value = "", value_name = "TEXT")]
        org: String,
        /// OpenSSH public key file (vendors); may be given several times.
        #[arg(long = "ssh-key", value_name = "FILE.pub")]
        ssh_keys: Vec<PathBuf>,
        /// File holding a permanent web password (first line), for automation; without it a
        /// web account gets a one-time password and enrols its authenticator at first sign-in.
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// Last day the account works (e.g. a vendor's contract end): YYYY-MM-DD (through the
        /// end of that day, UTC) or an RFC 3339 time.
        #[arg(long, value_name = "DATE", value_parser = parse_end_date)]
        expires: Option<i64>,
        /// Auditors only: the zones the account is limited to, comma separated (`icu,nicu`);
        /// without it, the whole installation.
        #[arg(long, value_name = "ZONE,…", value_parser = parse_zones)]
        zones: Option<ZoneSet>,
        /// Grant a permission (`break-glass`: open an emergency session without approval;
        /// `phi`: replay, download, watch and export the sessions of
        /// devices tagged phi; `clinical-signoff`, approvers and admins only: an approval that
        /// is the clinical sign-off outside maintenance windows); may be given several times.
        /// No role has one by itself.
        #[arg(long = "grant", value_name = "PERMISSION")]
        grant: Vec<Permission>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Change the zones an auditor is limited to, or grant and revoke permissions (audited as
    /// `user.access_changed`).
    Edit {
        /// Account name.
        name: Username,
        /// The zones the auditor is limited to from now on, comma separated (`icu,nicu`).
        #[arg(long, value_name = "ZONE,…", value_parser = parse_zones, conflicts_with = "all_zones")]
        zones: Option<ZoneSet>,
        /// Lift the zone limit: the whole installation.
        #[arg(long)]
        all_zones: bool,
        /// Grant a permission (`phi`, `break-glass`, `clinical-signoff`); may be given several times.
        #[arg(long = "grant", value_name = "PERMISSION")]
        grant: Vec<Permission>,
        /// Revoke a permission; may be given several times.
        #[arg(long = "revoke", value_name = "PERMISSION")]
        revoke: Vec<Permission>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// A vendor's SSH keys: list, add (a new laptop), remove (never the last one).
    #[command(subcommand)]
    Key(UserKeyCmd),
    /// Set or clear the date after which an account can no longer sign in.
    #[command(group = clap::ArgGroup::new("end").required(true).args(["on", "never"]))]
    Expires {
        /// Account name.
        name: Username,
        /// Last day the account works: YYYY-MM-DD (through the end of that day, UTC) or an
        /// RFC 3339 time; a time already past ends it now.
        #[arg(long, value_name = "DATE", value_parser = parse_end_date)]
        on: Option<i64>,
        /// No end date.
        #[arg(long)]
        never: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Give an account a new TOTP secret (a lost or replaced authenticator); prints it once.
    ResetTotp {
        /// Account name.
        name: Username,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one account.
    Show {
        /// Account name.
        name: Username,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Disable an account (it can no longer sign in or approve).
    Disable {
        /// Account name.
        name: Username,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Re-enable a disabled account.
    Enable {
        /// Account name.
        name: Username,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Clear a lockout after repeated wrong codes.
    Unlock {
        /// Account name.
        name: Username,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserKeyCmd {
    /// List an account's SSH keys with their fingerprints.
    List {
        /// Account name.
        name: Username,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Add an SSH public key to a vendor account.
    Add {
        /// Account name.
        name: Username,
        /// OpenSSH public key file (FILE.pub); every key line in it is added.
        #[arg(value_name = "FILE.pub")]
        file: PathBuf,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Remove one of a vendor's SSH keys (refused for the last one).
    Remove {
        /// Account name.
        name: Username,
        /// The key's fingerprint, SHA256:… as `user key list` shows it.
        #[arg(value_name = "FINGERPRINT")]
        fingerprint: String,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeviceCmd {
    /// Enrol a device.
    Add(Box<DeviceAddArgs>),
    /// List devices (never their credentials).
    List {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one device (never its credential).
    Show {
        /// Device name.
        name: DeviceName,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Disable a device (no new requests or sessions).
    Disable {
        /// Device name.
        name: DeviceName,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Re-enable a disabled device.
    Enable {
        /// Device name.
        name: DeviceName,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Change a device's address, login, criticality, zone or ports (only what is given).
    Edit(DeviceEditArgs),
    /// Put a new password or key for a device into the vault; the old one is never shown.
    #[command(group = clap::ArgGroup::new("credential").required(true).args(["password_file", "key_file"]))]
    RotateCredential {
        /// Device name.
        name: DeviceName,
        /// File holding the new device password (one line).
        #[arg(long, value_name = "FILE")]
        password_file: Option<PathBuf>,
        /// File holding the new unencrypted private key (OpenSSH or PEM) the device accepts.
        #[arg(long, value_name = "FILE")]
        key_file: Option<PathBuf>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Pin another host key for a device (after a firmware update or a replacement).
    #[command(group = clap::ArgGroup::new("hostkey").required(true).args(["host_key", "fetch_host_key"]))]
    Repin {
        /// Device name.
        name: DeviceName,
        /// The new host key, as "TYPE BASE64", checked another way (console, vendor).
        #[arg(long, value_name = "TYPE BASE64")]
        host_key: Option<String>,
        /// Connect to the device, show the old and the new fingerprint, and ask before pinning.
        #[arg(long)]
        fetch_host_key: bool,
        /// With --fetch-host-key: pin without asking (for scripts that checked the fingerprint).
        #[arg(long, requires = "fetch_host_key")]
        yes: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Enrol the devices of an inventory file (CSV), all of them or none.
    Import {
        /// CSV with the header `name,address,login,criticality,zone,tcp_ports,host_key,password_file,key_file`
        /// (ports separated by spaces; one of the two files per line, relative to the CSV's folder).
        file: PathBuf,
        /// Check every line and say what would be enrolled, writing nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Args)]
pub struct DeviceEditArgs {
    /// Device name.
    pub name: DeviceName,
    /// New HOST:PORT of the device's SSH service.
    #[arg(long, value_name = "HOST:PORT")]
    pub address: Option<String>,
    /// New account the broker logs in to the device with.
    #[arg(long, value_name = "USER")]
    pub login: Option<String>,
    /// New criticality: standard, high or life-critical.
    #[arg(long, value_name = "LEVEL")]
    pub criticality: Option<Criticality>,
    /// New network zone.
    #[arg(long, value_name = "ZONE")]
    pub zone: Option<Zone>,
    /// The TCP ports a grant may open, replacing the current list; may be given several times.
    #[arg(long = "tcp-port", value_name = "N", conflicts_with = "no_tcp_ports")]
    pub tcp_ports: Vec<u16>,
    /// Remove every TCP port (terminal and file transfer only).
    #[arg(long)]
    pub no_tcp_ports: bool,
    /// Tag the device `phi`: its screens can show patient data, so replaying, downloading,
    /// watching or exporting its sessions needs the `phi` permission.
    #[arg(long, conflicts_with = "no_phi")]
    pub phi: bool,
    /// Remove the `phi` tag.
    #[arg(long)]
    pub no_phi: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("credential").required(true).args(["password_file", "key_file"]))]
#[command(group = clap::ArgGroup::new("hostkey").required(true).args(["host_key", "fetch_host_key"]))]
pub struct DeviceAddArgs {
    /// Device name: lower-case letters, digits, `.`, `_` or `-`.
    pub name: DeviceName,
    /// HOST:PORT of the device's SSH service.
    #[arg(long, value_name = "HOST:PORT")]
    pub address: String,
    /// Account the broker logs in to the device with.
    #[arg(long, value_name = "USER")]
    pub login: String,
    /// File holding the device password (one line).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// File holding an unencrypted private key (OpenSSH or PEM) the device accepts.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// The device's host key, as "TYPE BASE64" (e.g. from its ssh_host_ed25519_key.pub).
    #[arg(long, value_name = "TYPE BASE64")]
    pub host_key: Option<String>,
    /// Connect once and pin the key the device presents (trust on first use).
    #[arg(long)]
    pub fetch_host_key: bool,
    /// standard, high or life-critical (the policy's rules depend on it).
    #[arg(long, value_name = "LEVEL")]
    pub criticality: Criticality,
    /// Network zone, e.g. icu or radiology (the policy's rules may depend on it).
    #[arg(long, value_name = "ZONE")]
    pub zone: Zone,
    /// TCP port a grant may open with `ssh -L`; may be given several times.
    #[arg(long = "tcp-port", value_name = "N")]
    pub tcp_ports: Vec<u16>,
    /// Tag the device `phi`: its screens can show patient data, so replaying, downloading,
    /// watching or exporting its sessions needs the `phi` permission.
    #[arg(long)]
    pub phi: bool,
    #[command(flatten)]
    pub out: JsonFlag,
}

#[derive(Debug, Subcommand)]
pub enum RequestCmd {
    /// List requests, newest first.
    List {
        /// Only requests in this state: pending, approved, denied, expired or revoked.
        #[arg(long, value_name = "STATE")]
        state: Option<RequestState>,
        /// At most this many.
        #[arg(long, default_value_t = 1000, value_name = "N")]
        limit: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one request: who, what device, which channels asked for and granted.
    Show {
        /// Request number (`42` or `#42`).
        id: RequestId,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Approve a pending request (optionally for a shorter window, or fewer channels, than asked).
    Approve {
        /// Request number (`42` or `#42`).
        id: RequestId,
        #[command(flatten)]
        who: ActingAs,
        /// Window length in minutes.
        #[arg(long, conflicts_with = "window")]
        minutes: Option<u64>,
        /// Window length, e.g. 20s, 15m, 1h.
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
        window: Option<Duration>,
        /// Scheduled start, RFC 3339 (e.g. 2026-12-01T08:00:00Z); default now.
        #[arg(long, value_name = "TIME", value_parser = parse_rfc3339)]
        starts_at: Option<i64>,
        /// Grant only these of the channels asked for, e.g. `shell` or `files,tcp:104`.
        #[arg(long, value_name = "LIST")]
        channels: Option<ChannelSet>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Deny a pending request.
    Deny {
        /// Request number (`42` or `#42`).
        id: RequestId,
        #[command(flatten)]
        who: ActingAs,
        /// Why (several words allowed).
        #[arg(long, required = true, num_args = 1.., value_name = "TEXT")]
        reason: Vec<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Revoke an approved request; its running sessions are ended.
    Revoke {
        /// Request number (`42` or `#42`).
        id: RequestId,
        #[command(flatten)]
        who: ActingAs,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// List sessions, newest first.
    List {
        /// Only running sessions.
        #[arg(long)]
        active: bool,
        /// At most this many.
        #[arg(long, default_value_t = 1000, value_name = "N")]
        limit: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Show one session with its recordings (terminal .cast, tunnel and SFTP .pcap).
    Show {
        /// Session number.
        id: SessionId,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Recompute each recording's SHA-256 and compare it with the sealed value; exit 1 on a mismatch.
    Verify {
        /// Session number.
        id: SessionId,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Ask the node holding a session to end it.
    Stop {
        /// Session number.
        id: SessionId,
        /// Why (several words allowed).
        #[arg(long, num_args = 1.., value_name = "TEXT")]
        reason: Vec<String>,
        /// Warn the vendor and close after `session.stop_grace` instead of at once.
        #[arg(long)]
        graceful: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain and the signed checkpoints; exit 1 if anything is wrong.
    Verify {
        /// Checkpoints kept off this host: the file a SIEM sink received (JSON lines, syslog
        /// or CEF; other lines are skipped) or what `audit checkpoints` printed. A cut of the
        /// log's tail together with its checkpoints is then detected too.
        #[arg(long, value_name = "FILE")]
        witness: Option<PathBuf>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Print every signed checkpoint as JSON lines, to keep off this host as a witness.
    Checkpoints {
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Write the log (or the rows after --since) once, oldest first, for a SIEM or an
    /// investigator: JSON lines, RFC 5424 syslog or CEF, one record per line. Keeps no cursor.
    Export {
        /// jsonl (JSON lines), syslog (RFC 5424) or cef.
        #[arg(long, value_parser = parse_format, value_name = "FORMAT")]
        format: portcullis_core::config::ExportFormat,
        /// Only rows after this chain position (sequence number).
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        since: i64,
        /// Write to this file (created or truncated) instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Print the last rows, oldest first.
    Tail {
        /// How many rows.
        #[arg(short = 'n', default_value_t = 20, value_name = "N")]
        n: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Print the audit public key (base64) and its key id, to pin in `evidence verify`.
    PublicKey {
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvidenceCmd {
    /// Write one .tar.gz with the session, its request, approvals, grant, recordings, audit
    /// rows linked to a signed checkpoint, and a manifest signed with the audit key.
    Export {
        /// The session to export.
        #[arg(long, value_name = "ID")]
        session: SessionId,
        /// The .tar.gz to write.
        #[arg(long, value_name = "FILE")]
        output: PathBuf,
        /// Export even if a recording no longer matches its sealed SHA-256 (the manifest then
        /// names each one); without it such an export is refused.
        #[arg(long)]
        allow_altered: bool,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Check a bundle offline (no database); exit 1 naming every part that does not match.
    Verify {
        /// The bundle (.tar.gz) to check.
        file: PathBuf,
        /// File holding the expected audit public key (base64, as `audit public-key` prints).
        #[arg(long, value_name = "FILE", conflicts_with = "key_id")]
        public_key: Option<PathBuf>,
        /// Expected audit key id (16 hex digits).
        #[arg(long, value_name = "HEX")]
        key_id: Option<String>,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertCmd {
    /// The newest alerts, newest first, with their severity and who acknowledged them.
    List {
        /// At most this many (at most 1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        out: JsonFlag,
    },
    /// Acknowledge alert SEQ (its audit row) as `cli:NAME`; refused if already acknowledged.
    Ack {
        /// The alert's number: its audit row (`SEQ` in `alert list`).
        seq: i64,
        #[command(flatten)]
        out: JsonFlag,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCmd {
    /// Archive or delete the recordings due now (each one audited), then exit.
    Run {
        #[command(flatten)]
        out: JsonFlag,
    },
}

/// Words given after `--reason`, as one line.
pub fn join_words(words: &[String]) -> String {
    words.iter().map(|w| w.trim()).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Parses an account's end date (the rule is core's).
fn parse_zones(s: &str) -> Result<ZoneSet, String> {
    let zones = ZoneSet::parse(s).map_err(|e| e.to_string())?;
    if zones.is_everywhere() {
        return Err("name at least one zone (or use --all-zones to lift the limit)".into());
    }
    Ok(zones)
}

fn parse_end_date(s: &str) -> Result<i64, String> {
    portcullis_core::admin::input::parse_end_date(s)
}

/// Parses `jsonl`, `cef` or `syslog`.
fn parse_format(s: &str) -> Result<portcullis_core::config::ExportFormat, String> {
    s.parse()
}

/// Parses an RFC 3339 time into Unix seconds.
fn parse_rfc3339(s: &str) -> Result<i64, String> {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| "expected an RFC 3339 time such as 2026-12-01T08:00:00Z".to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("portcullis").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every option and argument of every command, with the path of commands leading to it.
    fn every_arg(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
        for arg in cmd.get_arguments() {
            out.push((path.to_owned(), arg.clone()));
        }
        for sub in cmd.get_subcommands() {
            every_arg(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_option_says_what_it_takes() {
        let mut args = Vec::new();
        every_arg(&Cli::command(), "portcullis", &mut args);
        let missing: Vec<String> = args
            .iter()
            .filter(|(_, a)| !matches!(a.get_id().as_str(), "help" | "version"))
            .filter(|(_, a)| a.get_help().is_none_or(|h| h.to_string().trim().is_empty()))
            .map(|(path, a)| format!("{path} {}", a.get_id()))
            .collect();
        assert!(missing.is_empty(), "options without help: {missing:?}");
    }

    #[test]
    fn every_command_takes_json() {
        fn walk(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
            let subs: Vec<&clap::Command> = cmd.get_subcommands().collect();
            if subs.is_empty() && !cmd.get_arguments().any(|a| a.get_id() == "json") {
                out.push(path.to_owned());
            }
            for sub in subs {
                walk(sub, &format!("{path} {}", sub.get_name()), out);
            }
        }
        let mut without = Vec::new();
        walk(&Cli::command(), "portcullis", &mut without);
        // The demo is interactive: it prints instructions and a running ticker for a person.
        assert_eq!(without, ["portcullis demo"], "commands without --json");
    }

    #[test]
    fn end_dates_cover_the_whole_day() {
        assert_eq!(parse_end_date("1970-01-01"), Ok(86_400));
        assert_eq!(parse_end_date("1970-01-01T00:01:00Z"), Ok(60));
        assert!(parse_end_date("31/03/2027").is_err());
    }

    #[test]
    fn decisions_take_a_code() {
        let cli = parse(&["request", "revoke", "7", "--as", "bob", "--code", "123456", "--json"]).unwrap();
        let Command::Request(RequestCmd::Revoke { who, out, .. }) = cli.command else { panic!("wrong command") };
        assert_eq!((who.name.as_str(), who.code.as_deref(), out.json), ("bob", Some("123456"), true));
        let cli = parse(&["request", "approve", "7", "--as", "bob"]).unwrap();
        let Command::Request(RequestCmd::Approve { who, .. }) = cli.command else { panic!("wrong command") };
        assert_eq!(who.code, None);
    }

    #[test]
    fn reason_words_are_joined_and_config_may_follow() {
        let cli = parse(&["request", "deny", "7", "--as", "bob", "--reason", "not", "during", " rounds", "--config", "/x.toml"]).unwrap();
        assert_eq!(cli.config, PathBuf::from("/x.toml"));
        let Command::Request(RequestCmd::Deny { id, reason, .. }) = cli.command else { panic!("wrong command") };
        assert_eq!(id, RequestId(7));
        assert_eq!(join_words(&reason), "not during rounds");
        assert_eq!(join_words(&["a".into(), String::new(), "b".into()]), "a b");
    }

    #[test]
    fn approve_takes_minutes_or_a_duration_not_both() {
        let cli = parse(&["request", "approve", "#3", "--as", "alice", "--for", "20s"]).unwrap();
        let Command::Request(RequestCmd::Approve { window, minutes, .. }) = cli.command else { panic!() };
        assert_eq!((window, minutes), (Some(Duration::from_secs(20)), None));
        assert!(parse(&["request", "approve", "3", "--as", "alice", "--for", "1m", "--minutes", "2"]).is_err());
        assert!(parse(&["request", "approve", "3", "--as", "Not A User"]).is_err());
    }

    #[test]
    fn device_add_needs_one_credential_and_one_host_key_source() {
        let base = ["device", "add", "pump", "--address", "h:22", "--login", "svc", "--criticality", "high", "--zone", "icu"];
        let with = |extra: &[&str]| parse(&[&base[..], extra].concat());
        assert!(with(&["--password-file", "p", "--fetch-host-key"]).is_ok());
        assert!(with(&["--key-file", "k", "--host-key", "ssh-ed25519 AAAA"]).is_ok());
        assert!(with(&["--password-file", "p", "--key-file", "k", "--fetch-host-key"]).is_err());
        assert!(with(&["--password-file", "p"]).is_err());
        let bad = ["device", "add", "pump", "--address", "h:22", "--login", "svc", "--criticality", "extreme", "--zone", "icu", "--password-file", "p", "--fetch-host-key"];
        assert!(parse(&bad).unwrap_err().to_string().contains("unknown criticality"));
        let err = with(&["--key-file", "k"]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
    }
}
