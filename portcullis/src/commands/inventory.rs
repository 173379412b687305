//! `portcullis device import FILE.csv [--dry-run]`: enrols an inventory of devices, all of
//! them or none. Every line is read and checked first — here for the file's own form (columns,
//! names, criticality, ports, credential files), then by core for everything else (addresses,
//! keys, names repeated or already enrolled) — and each refusal is reported with its line
//! number. Only a clean inventory is written, in one transaction.
//!
//! The file: a header line `name,address,login,criticality,zone,tcp_ports,host_key,password_file,key_file`,
//! then one device per line; `tcp_ports` separated by spaces (may be empty); one of the two
//! credential files per line, relative to the CSV's folder. Empty lines and lines starting
//! with `#` are skipped. Fields are plain (no quoting): none of them may hold a comma. A
//! tenth column `tags` may follow `key_file` in the header: then each line has it too, empty
//! or `phi` (the device's screens can show patient data).

use super::devices::credential_from;
use crate::caller::cli_actor;
use crate::output::{self, Table};
use anyhow::Context as _;
use portcullis_core::admin::devices::LineError;
use portcullis_core::admin::{Admin, NewDeviceSpec};
use portcullis_core::domain::{Criticality, DeviceName, Zone};
use portcullis_core::Context;
use std::path::Path;

/// The columns, in order.
pub const HEADER: [&str; 9] = ["name", "address", "login", "criticality", "zone", "tcp_ports", "host_key", "password_file", "key_file"];

/// The optional last column, after [`HEADER`]: the device's tags (`phi` or nothing).
pub const TAGS: &str = "tags";

/// The lines that could be read as devices, and the refusals of the others.
#[derive(Debug, Default)]
pub struct Parsed {
    pub rows: Vec<(usize, NewDeviceSpec)>,
    pub errors: Vec<LineError>,
}

/// `device import`.
pub async fn import(ctx: &Context, file: &Path, dry_run: bool, json: bool) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let base = file.parent().unwrap_or(Path::new("."));
    let Parsed { rows, mut errors } = parse(&text, base);
    // With lines already refused nothing is written: core only checks the others.
    let check_only = dry_run || !errors.is_empty();
    let names = match Admin::from_context(ctx).import_devices(&cli_actor(), rows, check_only).await? {
        Ok(names) => names,
        Err(more) => {
            errors.extend(more);
            Vec::new()
        }
    };
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        if json {
            let list: Vec<serde_json::Value> = errors.iter().map(|e| serde_json::json!({ "line": e.line, "error": e.message })).collect();
            output::json(&serde_json::json!({ "imported": [], "errors": list }))?;
        } else {
            let mut t = Table::new(&["LINE", "REFUSED BECAUSE"]);
            errors.iter().for_each(|e| t.row(vec![e.line.to_string(), e.message.clone()]));
            output::print(&t.render(""))?;
        }
        anyhow::bail!("{}: {} lines refused; nothing was imported", file.display(), errors.len());
    }
    if json {
        let key = if dry_run { "would_import" } else { "imported" };
        return output::json(&serde_json::json!({ key: names, "errors": [] }));
    }
    let list = names.iter().map(DeviceName::as_str).collect::<Vec<_>>().join(", ");
    if dry_run {
        output::line(&format!("{} devices would be enrolled (nothing written): {list}", names.len()))?;
    } else {
        output::line(&format!("{} devices enrolled: {list}", names.len()))?;
    }
    Ok(())
}

/// Reads the inventory's text; credential files are read relative to `base`.
pub fn parse(text: &str, base: &Path) -> Parsed {
    let mut out = Parsed::default();
    let mut header_seen = false;
    let mut with_tags = false;
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = raw.split(',').map(str::trim).collect();
        if !header_seen {
            header_seen = true;
            with_tags = fields.len() == HEADER.len() + 1 && fields.last() == Some(&TAGS);
            if fields[..fields.len().min(HEADER.len())] != HEADER || fields.len() != HEADER.len() + usize::from(with_tags) {
                out.errors.push(LineError { line, message: format!("the first line must be the header {} (optionally followed by ,{TAGS})", HEADER.join(",")) });
                return out;
            }
            continue;
        }
        let (fields, phi) = match tags(&fields, with_tags) {
            Ok(v) => v,
            Err(message) => {
                out.errors.push(LineError { line, message });
                continue;
            }
        };
        match device(fields, base).map(|spec| NewDeviceSpec { phi, ..spec }) {
            Ok(spec) => out.rows.push((line, spec)),
            Err(message) => out.errors.push(LineError { line, message }),
        }
    }
    if !header_seen {
        out.errors.push(LineError { line: 1, message: format!("the file is empty: expected the header {}", HEADER.join(",")) });
    }
    out
}

/// Splits the `tags` column off a line of a file that has one; whether it says `phi`.
fn tags<'a, 'b>(fields: &'a [&'b str], with_tags: bool) -> Result<(&'a [&'b str], bool), String> {
    if !with_tags {
        return Ok((fields, false));
    }
    let Some((last, rest)) = fields.split_last().filter(|_| fields.len() == HEADER.len() + 1) else {
        return Err(format!("{} fields; expected {} ({},{TAGS})", fields.len(), HEADER.len() + 1, HEADER.join(",")));
    };
    match *last {
        "" => Ok((rest, false)),
        "phi" => Ok((rest, true)),
        other => Err(format!("tags: {other:?} is not a tag (the only one is phi)")),
    }
}

/// One device line.
fn device(fields: &[&str], base: &Path) -> Result<NewDeviceSpec, String> {
    if fields.iter().any(|f| f.contains('"')) {
        return Err("quoted fields are not read: no field may hold a comma or a quote".into());
    }
    let [name, address, login, criticality, zone, ports, host_key, password_file, key_file] = fields else {
        return Err(format!("{} fields; expected {} ({})", fields.len(), HEADER.len(), HEADER.join(",")));
    };
    let name = DeviceName::parse(name).map_err(|e| format!("name: {e}"))?;
    let criticality = Criticality::parse(criticality).map_err(|e| format!("criticality: {e}"))?;
    let zone = Zone::parse(zone).map_err(|e| format!("zone: {e}"))?;
    let tcp_ports = ports
        .split_whitespace()
        .map(|p| p.parse::<u16>().map_err(|_| format!("tcp_ports: {p:?} is not a port number")))
        .collect::<Result<Vec<_>, _>>()?;
    let file = |f: &str| (!f.is_empty()).then(|| base.join(f));
    let (password_file, key_file) = (file(password_file), file(key_file));
    if password_file.is_some() == key_file.is_some() {
        return Err("give exactly one of password_file and key_file".into());
    }
    let credential = credential_from(password_file.as_deref(), key_file.as_deref()).map_err(|e| format!("{e:#}"))?;
    Ok(NewDeviceSpec { name, address: (*address).to_owned(), login: (*login).to_owned(), credential, host_key: (*host_key).to_owned(), criticality, zone, tcp_ports, phi: false })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGTVRpWbUzHHjUfJOT6sTbMJ/5Q2wQsvL41eenCzMebD";

    #[test]
    fn every_bad_line_is_named_and_good_lines_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pump.pw"), "s3cret\n").unwrap();
        let text = format!(
            "# inventory\n{}\npump-1,10.0.0.1:22,svc,high,icu,104 443,{KEY},pump.pw,\n\npump-2,10.0.0.2:22,svc,extreme,icu,,{KEY},pump.pw,\npump-3,10.0.0.3:22,svc,high,icu,,{KEY},missing.pw,\npump-4,10.0.0.4:22,svc,high,icu\npump-5,10.0.0.5:22,svc,high,icu,x,{KEY},pump.pw,\npump-6,10.0.0.6:22,svc,high,icu,,{KEY},pump.pw,pump.pw\n\"a,b\",1,2,3,4,5,6,7,8\n",
            HEADER.join(",")
        );
        let p = parse(&text, dir.path());
        assert_eq!(p.rows.len(), 1);
        let (line, spec) = &p.rows[0];
        assert_eq!((*line, spec.name.as_str(), spec.tcp_ports.clone()), (3, "pump-1", vec![104, 443]));
        assert_eq!(spec.credential, portcullis_core::vault::Credential::Password("s3cret".into()));
        let refused: Vec<(usize, &str)> = p.errors.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert_eq!(refused.iter().map(|r| r.0).collect::<Vec<_>>(), vec![5, 6, 7, 8, 9, 10], "{refused:?}");
        assert!(refused[0].1.starts_with("criticality"), "{refused:?}");
        assert!(refused[1].1.contains("missing.pw"), "{refused:?}");
        assert!(refused[2].1.contains("5 fields"), "{refused:?}");
        assert!(refused[3].1.contains("not a port"), "{refused:?}");
        assert!(refused[4].1.contains("exactly one"), "{refused:?}");
        assert!(refused[5].1.contains("quoted"), "{refused:?}");
    }

    #[test]
    fn a_tags_column_tags_devices_phi() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pump.pw"), "s3cret\n").unwrap();
        let text = format!(
            "{},tags\npump-1,10.0.0.1:22,svc,high,icu,,{KEY},pump.pw,,phi\npump-2,10.0.0.2:22,svc,high,icu,,{KEY},pump.pw,,\npump-3,10.0.0.3:22,svc,high,icu,,{KEY},pump.pw,,root\npump-4,10.0.0.4:22,svc,high,icu,,{KEY},pump.pw,\n",
            HEADER.join(",")
        );
        let p = parse(&text, dir.path());
        let read: Vec<(&str, bool)> = p.rows.iter().map(|(_, s)| (s.name.as_str(), s.phi)).collect();
        assert_eq!(read, vec![("pump-1", true), ("pump-2", false)], "{p:?}");
        let refused: Vec<(usize, &str)> = p.errors.iter().map(|e| (e.line, e.message.as_str())).collect();
        assert_eq!(refused.iter().map(|r| r.0).collect::<Vec<_>>(), vec![4, 5], "{refused:?}");
        assert!(refused[0].1.contains("not a tag") && refused[1].1.contains("9 fields"), "{refused:?}");
        // Without the column, nothing is tagged.
        let p = parse(&format!("{}\npump-1,10.0.0.1:22,svc,high,icu,,{KEY},pump.pw,\n", HEADER.join(",")), dir.path());
        assert!(!p.rows[0].1.phi && p.errors.is_empty(), "{p:?}");
        assert!(!parse(&format!("{},colour\n", HEADER.join(",")), dir.path()).errors.is_empty());
    }

    #[test]
    fn a_missing_or_wrong_header_is_refused() {
        assert_eq!(parse("", Path::new(".")).errors[0].line, 1);
        let p = parse("name,address\npump-1,x", Path::new("."));
        assert!(p.rows.is_empty() && p.errors[0].message.contains("header"), "{p:?}");
    }
}
