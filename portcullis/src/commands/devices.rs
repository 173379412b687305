//! `portcullis device …`: enrol a device (credential read from a file and sealed by the vault,
//! host key given or fetched once and pinned), list and show devices without their
//! credentials, disable and enable one. Later changes are in [`super::device_changes`], the
//! inventory import in [`super::inventory`].

use crate::caller::{cli_actor, read_arg_file};
use crate::cli::{DeviceAddArgs, DeviceCmd};
use crate::hostkey;
use crate::output::{self, Table};
use portcullis_core::admin::input::host_key_fingerprint;
use portcullis_core::admin::{Admin, NewDeviceSpec};
use portcullis_core::domain::{Criticality, DeviceName, Zone};
use portcullis_core::store::DeviceRecord;
use portcullis_core::vault::Credential;
use portcullis_core::Context;
use serde::Serialize;

/// One device as listed (never the credential).
#[derive(Debug, Serialize)]
pub struct DeviceRow<'a> {
    name: &'a DeviceName,
    address: &'a str,
    login: &'a str,
    host_key: &'a str,
    host_key_fingerprint: Option<String>,
    criticality: Criticality,
    zone: &'a Zone,
    tcp_ports: &'a [u16],
    /// Tagged `phi`.
    phi: bool,
    disabled: bool,
    created_at: String,
}

impl<'a> DeviceRow<'a> {
    pub fn of(d: &'a DeviceRecord) -> Self {
        DeviceRow {
            name: &d.name,
            address: &d.address,
            login: &d.login,
            host_key: &d.host_key,
            host_key_fingerprint: host_key_fingerprint(&d.host_key),
            criticality: d.criticality,
            zone: &d.zone,
            tcp_ports: &d.tcp_ports,
            phi: d.phi,
            disabled: d.disabled,
            created_at: output::time(d.created_at),
        }
    }

    fn cells(&self) -> Vec<String> {
        vec![
            self.name.to_string(),
            self.address.to_owned(),
            self.criticality.to_string(),
            self.zone.to_string(),
            ports_text(self.tcp_ports),
            if self.disabled { "disabled".into() } else { "active".into() },
            self.host_key_fingerprint.clone().unwrap_or_else(|| "(unreadable)".into()),
        ]
    }
}

fn ports_text(ports: &[u16]) -> String {
    if ports.is_empty() {
        "-".to_owned()
    } else {
        ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
    }
}

/// Runs one `device` command.
pub async fn run(ctx: &Context, cmd: DeviceCmd) -> anyhow::Result<()> {
    match cmd {
        DeviceCmd::Add(args) => add(ctx, *args).await,
        DeviceCmd::List { out } => {
            let devices = ctx.store.list_devices().await?;
            let rows: Vec<DeviceRow> = devices.iter().map(DeviceRow::of).collect();
            if out.json {
                return output::json(&rows);
            }
            let mut t = Table::new(&["DEVICE", "ADDRESS", "CRITICALITY", "ZONE", "PORTS", "STATUS", "HOST KEY"]);
            rows.iter().for_each(|r| t.row(r.cells()));
            output::print(&t.render("(no devices)"))?;
            Ok(())
        }
        DeviceCmd::Show { name, out } => {
            let device = ctx.store.require_device(&name).await?;
            show(&DeviceRow::of(&device), out.json)
        }
        DeviceCmd::Disable { name, out } => set_disabled(ctx, &name, true, out.json).await,
        DeviceCmd::Enable { name, out } => set_disabled(ctx, &name, false, out.json).await,
        DeviceCmd::Edit(args) => super::device_changes::edit(ctx, args).await,
        DeviceCmd::RotateCredential { name, password_file, key_file, out } => {
            let credential = credential_from(password_file.as_deref(), key_file.as_deref())?;
            super::device_changes::rotate(ctx, &name, &credential, out.json).await
        }
        DeviceCmd::Repin { name, host_key, fetch_host_key: _, yes, out } => super::device_changes::repin(ctx, &name, host_key, yes, out.json).await,
        DeviceCmd::Import { file, dry_run, out } => super::inventory::import(ctx, &file, dry_run, out.json).await,
    }
}

/// `device disable` and `device enable`.
async fn set_disabled(ctx: &Context, name: &DeviceName, disabled: bool, json: bool) -> anyhow::Result<()> {
    Admin::from_context(ctx).set_device_disabled(&cli_actor(), name, disabled).await?;
    if json {
        return output::json(&serde_json::json!({ "device": name, "disabled": disabled }));
    }
    output::line(&format!("device {name} {}", if disabled { "disabled" } else { "enabled" }))?;
    Ok(())
}

fn show(row: &DeviceRow, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(row);
    }
    let mut t = Table::new(&["FIELD", "VALUE"]);
    let fields = [
        ("device", row.name.to_string()),
        ("address", row.address.to_owned()),
        ("login", row.login.to_owned()),
        ("criticality", row.criticality.to_string()),
        ("zone", row.zone.to_string()),
        ("tcp ports", ports_text(row.tcp_ports)),
        ("tags", if row.phi { "phi".into() } else { "-".into() }),
        ("status", if row.disabled { "disabled".into() } else { "active".into() }),
        ("host key", row.host_key.to_owned()),
        ("fingerprint", row.host_key_fingerprint.clone().unwrap_or_default()),
        ("created", row.created_at.clone()),
    ];
    for (k, v) in fields {
        t.row(vec![k.to_owned(), v]);
    }
    output::print(&t.render(""))?;
    Ok(())
}

/// Reads the credential file named on the command line.
fn credential(args: &DeviceAddArgs) -> anyhow::Result<Credential> {
    credential_from(args.password_file.as_deref(), args.key_file.as_deref())
}

/// Reads a password file (one line) or a private key file; exactly one must be given.
pub fn credential_from(password_file: Option<&std::path::Path>, key_file: Option<&std::path::Path>) -> anyhow::Result<Credential> {
    match (password_file, key_file) {
        (Some(f), None) => {
            let text = read_arg_file(f, "password file")?;
            let pw = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
            Ok(Credential::Password(pw.to_owned()))
        }
        (None, Some(f)) => Ok(Credential::PrivateKey(read_arg_file(f, "key file")?)),
        _ => anyhow::bail!("give exactly one of --password-file and --key-file"),
    }
}

async fn add(ctx: &Context, args: DeviceAddArgs) -> anyhow::Result<()> {
    let credential = credential(&args)?;
    let (host_key, fetched) = match &args.host_key {
        Some(line) => (line.clone(), false),
        None => {
            let key = hostkey::fetch(args.address.trim()).await?;
            let mut bare = key.clone();
            bare.set_comment("");
            (bare.to_openssh()?, true)
        }
    };
    let spec = NewDeviceSpec {
        name: args.name.clone(),
        address: args.address.clone(),
        login: args.login.clone(),
        credential,
        host_key,
        criticality: args.criticality,
        zone: args.zone.clone(),
        tcp_ports: args.tcp_ports.clone(),
        phi: args.phi,
    };
    let device = Admin::from_context(ctx).create_device(&cli_actor(), spec).await?;
    let row = DeviceRow::of(&device);
    let fp = row.host_key_fingerprint.clone().unwrap_or_default();
    let tofu = format!(
        "trust on first use: {} presented host key {fp}; it is now pinned for {}. \
         Check this fingerprint against the device's console or its vendor before granting access.",
        device.address, device.name
    );
    if args.out.json {
        if fetched {
            eprintln!("{tofu}");
        }
        return output::json(&row);
    }
    if fetched {
        output::line(&tofu)?;
    }
    output::line(&format!("device {} enrolled ({}, zone {}, host key {fp})", device.name, device.criticality, device.zone))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> DeviceAddArgs {
        let base = ["portcullis", "device", "add", "d", "--address", "h:22", "--login", "l", "--criticality", "high", "--zone", "z", "--fetch-host-key"];
        let cli = crate::cli::Cli::try_parse_from(base.iter().chain(extra)).unwrap();
        match cli.command {
            crate::cli::Command::Device(DeviceCmd::Add(a)) => *a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn password_files_lose_one_trailing_newline_only() {
        let dir = tempfile::tempdir().unwrap();
        for (content, expected) in [("pw\n", "pw"), ("pw\r\n", "pw"), ("pw", "pw"), (" pw \n\n", " pw \n")] {
            let f = dir.path().join("p");
            std::fs::write(&f, content).unwrap();
            let a = args(&["--password-file", f.to_str().unwrap()]);
            assert_eq!(credential(&a).unwrap(), Credential::Password(expected.into()), "{content:?}");
        }
        assert_eq!(ports_text(&[]), "-");
        assert_eq!(ports_text(&[22, 443]), "22,443");
    }
}
