//! `portcullis device edit | rotate-credential | repin`: a device's changes after enrolment,
//! through the core administration service (each one audited with its old and new values).
//! A re-pin fetched from the network shows both fingerprints and is pinned only once
//! confirmed, at the terminal or with `--yes`.

use super::devices::DeviceRow;
use crate::caller::cli_actor;
use crate::cli::DeviceEditArgs;
use crate::hostkey;
use crate::output;
use portcullis_core::admin::devices::{DeviceEdit, PinSource};
use portcullis_core::admin::Admin;
use portcullis_core::domain::DeviceName;
use portcullis_core::vault::Credential;
use portcullis_core::Context;
use std::io::{BufRead as _, IsTerminal as _, Write as _};

/// `device edit`.
pub async fn edit(ctx: &Context, args: DeviceEditArgs) -> anyhow::Result<()> {
    let tcp_ports = match (args.no_tcp_ports, args.tcp_ports.is_empty()) {
        (true, _) => Some(Vec::new()),
        (false, false) => Some(args.tcp_ports.clone()),
        (false, true) => None,
    };
    let phi = match (args.phi, args.no_phi) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    };
    let change = DeviceEdit { address: args.address, login: args.login, criticality: args.criticality, zone: args.zone, tcp_ports, phi };
    let device = Admin::from_context(ctx).edit_device(&cli_actor(), &args.name, change).await?;
    if args.out.json {
        return output::json(&DeviceRow::of(&device));
    }
    output::line(&format!("device {} changed; `device show {}` lists its settings", device.name, device.name))?;
    Ok(())
}

/// `device rotate-credential`.
pub async fn rotate(ctx: &Context, name: &DeviceName, credential: &Credential, json: bool) -> anyhow::Result<()> {
    Admin::from_context(ctx).rotate_device_credential(&cli_actor(), name, credential).await?;
    if json {
        return output::json(&serde_json::json!({ "device": name, "credential": credential.kind() }));
    }
    output::line(&format!("device {name}: new {} sealed in the vault; the next connection uses it", credential.kind()))?;
    Ok(())
}

/// `device repin`: `host_key` as given, or fetched from the device when `None`.
pub async fn repin(ctx: &Context, name: &DeviceName, host_key: Option<String>, yes: bool, json: bool) -> anyhow::Result<()> {
    let device = ctx.store.require_device(name).await?;
    let (line, source) = match host_key {
        Some(line) => (line, PinSource::Given),
        None => {
            let mut key = hostkey::fetch(device.address.trim()).await?;
            key.set_comment("");
            let line = key.to_openssh()?;
            let old = portcullis_core::admin::input::host_key_fingerprint(&device.host_key).unwrap_or_else(|| "(unreadable)".into());
            let new = portcullis_core::admin::input::fingerprint(&key);
            let question = format!("device {name} at {}:\n  pinned now:  {old}\n  presented:   {new}\n", device.address);
            if !yes && !confirm(&question)? {
                anyhow::bail!("device {name}: host key not changed");
            }
            (line, PinSource::Fetched)
        }
    };
    let done = Admin::from_context(ctx).repin_device(&cli_actor(), name, &line, source).await?;
    if json {
        return output::json(&serde_json::json!({ "device": name, "old_fingerprint": done.old_fingerprint, "new_fingerprint": done.new_fingerprint }));
    }
    output::line(&format!(
        "device {name}: host key {} pinned (was {})",
        done.new_fingerprint,
        done.old_fingerprint.as_deref().unwrap_or("unreadable")
    ))?;
    Ok(())
}

/// Shows `question` on standard error and asks to pin; without a terminal, says to use `--yes`.
fn confirm(question: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr().lock();
    err.write_all(question.as_bytes())?;
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!("check the presented fingerprint against the device's console or its vendor, then run again with --yes");
    }
    write!(err, "Pin the presented key? [y/N] ")?;
    err.flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}
