//! A device's life after the first day: enrolment one at a time or from an inventory in one
//! transaction, edits of its settings, a new credential, another pinned host key, disabling
//! and enabling. Each change is one audited write whose row holds the old and the new value
//! of what changed — fingerprints and credential kinds, never a secret.

use super::{input, Admin, AdminError, NewDeviceSpec};
use crate::audit::{AuditedWrite, Event, Kind, Subject};
use crate::clock;
use crate::domain::{Criticality, DeviceName, Zone};
use crate::store::{DeviceRecord, DeviceSettings, NewDevice, StoreError};
use crate::vault::Credential;
use serde_json::{json, Map, Value};
use std::collections::HashSet;

/// Changes to a device's settings; `None` keeps a field as it is.
#[derive(Debug, Clone, Default)]
pub struct DeviceEdit {
    /// `HOST:PORT` of the device's SSH service.
    pub address: Option<String>,
    /// Account the broker logs in with.
    pub login: Option<String>,
    pub criticality: Option<Criticality>,
    pub zone: Option<Zone>,
    /// The full new list of ports a grant may open (an empty list removes them all).
    pub tcp_ports: Option<Vec<u16>>,
    /// Tag (`true`) or untag the device `phi`.
    pub phi: Option<bool>,
}

/// How a new host key was found, for the audit row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PinSource {
    /// Read from the device over the network and confirmed by the administrator.
    Fetched,
    /// Given by the administrator, checked some other way (console, vendor).
    Given,
}

impl PinSource {
    fn as_str(self) -> &'static str {
        match self {
            PinSource::Fetched => "fetched",
            PinSource::Given => "given",
        }
    }
}

/// A re-pinned host key: the fingerprints before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repinned {
    pub old_fingerprint: Option<String>,
    pub new_fingerprint: String,
}

/// One refused line of an inventory import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line number in the file.
    pub line: usize,
    pub message: String,
}

/// A device checked and ready to insert.
struct Prepared {
    spec: NewDeviceSpec,
    address: String,
    login: String,
    host_key: input::ParsedKey,
    ports: Vec<u16>,
    sealed: Vec<u8>,
}

impl Admin {
    /// Enrols a device: checks every field, seals the credential, pins the host key.
    pub async fn create_device(&self, actor: &str, spec: NewDeviceSpec) -> Result<DeviceRecord, AdminError> {
        let prepared = self.prepare(spec)?;
        let name = prepared.spec.name.clone();
        let mut tx = self.audit.begin().await?;
        self.insert_prepared(&mut tx, actor, &prepared, json!({})).await?;
        tx.commit().await?;
        Ok(self.store.require_device(&name).await?)
    }

    /// Enrols every device of an inventory, or none: every line is checked first (fields,
    /// names repeated in the file or already enrolled) and all refusals are returned, one per
    /// line; only a clean inventory is written, in one transaction. With `dry_run` nothing is
    /// written at all. Returns the names enrolled (or that would be).
    pub async fn import_devices(&self, actor: &str, rows: Vec<(usize, NewDeviceSpec)>, dry_run: bool) -> Result<Result<Vec<DeviceName>, Vec<LineError>>, AdminError> {
        let mut errors = Vec::new();
        let mut ready = Vec::new();
        let mut seen = HashSet::new();
        for (line, spec) in rows {
            if !seen.insert(spec.name.clone()) {
                errors.push(LineError { line, message: format!("device {} appears twice in the file", spec.name) });
                continue;
            }
            if self.store.device_by_name(&spec.name).await?.is_some() {
                errors.push(LineError { line, message: format!("device {} already exists", spec.name) });
                continue;
            }
            match self.prepare(spec) {
                Ok(p) => ready.push((line, p)),
                Err(AdminError::Invalid(message)) => errors.push(LineError { line, message }),
                Err(e) => return Err(e),
            }
        }
        if !errors.is_empty() {
            return Ok(Err(errors));
        }
        let names: Vec<DeviceName> = ready.iter().map(|(_, p)| p.spec.name.clone()).collect();
        if dry_run {
            return Ok(Ok(names));
        }
        let mut tx = self.audit.begin().await?;
        for (line, p) in &ready {
            match self.insert_prepared(&mut tx, actor, p, json!({ "imported": true, "line": line })).await {
                // Enrolled meanwhile by someone else: the transaction is dropped, nothing stays.
                Err(AdminError::Exists(what)) => return Ok(Err(vec![LineError { line: *line, message: format!("{what} already exists") }])),
                other => other?,
            }
        }
        tx.commit().await?;
        Ok(Ok(names))
    }

    /// Changes a device's address, login, criticality, zone or ports. Refused when nothing
    /// would change; the audit row names each changed field with its old and new value.
    pub async fn edit_device(&self, actor: &str, name: &DeviceName, edit: DeviceEdit) -> Result<DeviceRecord, AdminError> {
        let dev = self.store.require_device(name).await?;
        let address = edit.address.as_deref().map(input::check_address).transpose().map_err(AdminError::Invalid)?.unwrap_or_else(|| dev.address.clone());
        let login = edit.login.as_deref().map(input::check_login).transpose().map_err(AdminError::Invalid)?.unwrap_or_else(|| dev.login.clone());
        let ports = edit.tcp_ports.as_deref().map(input::check_ports).transpose().map_err(AdminError::Invalid)?.unwrap_or_else(|| dev.tcp_ports.clone());
        let criticality = edit.criticality.unwrap_or(dev.criticality);
        let zone = edit.zone.unwrap_or_else(|| dev.zone.clone());
        let phi = edit.phi.unwrap_or(dev.phi);
        let mut changes = Map::new();
        let mut note = |field: &str, old: Value, new: Value| {
            if old != new {
                changes.insert(field.to_owned(), json!({ "old": old, "new": new }));
            }
        };
        note("address", json!(dev.address), json!(address));
        note("login", json!(dev.login), json!(login));
        note("criticality", json!(dev.criticality), json!(criticality));
        note("zone", json!(dev.zone), json!(zone));
        note("tcp_ports", json!(dev.tcp_ports), json!(ports));
        note("phi", json!(dev.phi), json!(phi));
        if changes.is_empty() {
            return Err(AdminError::Invalid(format!("nothing to change: device {name} already has these settings")));
        }
        let mut tx = self.audit.begin().await?;
        if zone != dev.zone {
            // A contained device may not leave its containment by moving zone, nor may a
            // device move into a contained zone with its grants still open.
            self.store.lock_device(&mut tx, dev.id).await?;
            let into = crate::domain::Scope::Zone(zone.clone());
            if let Some(c) = self.store.containment_over(&mut tx, dev.id).await?.or(self.store.containment_in_force(&into).await?) {
                return Err(AdminError::Invalid(format!("{} is contained (containment #{}): no device moves into or out of it until it is lifted", c.scope, c.id)));
            }
        }
        let settings = DeviceSettings { address: &address, login: &login, criticality, zone: &zone, tcp_ports: &ports, phi };
        if !self.store.update_device_settings(&mut tx, dev.id, settings).await? {
            return Err(AdminError::NotFound(format!("device {name}")));
        }
        tx.append(Event::new(actor, Kind::DeviceEdited, Subject::device(name), json!({ "changes": changes }))).await?;
        tx.commit().await?;
        Ok(self.store.require_device(name).await?)
    }

    /// Seals a new credential for a device in place of the old one, which is never shown;
    /// the audit row has only the kinds (`password`, `private-key`).
    pub async fn rotate_device_credential(&self, actor: &str, name: &DeviceName, credential: &Credential) -> Result<(), AdminError> {
        input::check_credential(credential).map_err(AdminError::Invalid)?;
        let dev = self.store.require_device(name).await?;
        let old_kind = self.vault.open_credential(name.as_str(), &dev.credential).map(|c| c.kind()).unwrap_or("unreadable");
        let sealed = self.vault.seal_credential(name.as_str(), credential)?;
        let mut tx = self.audit.begin().await?;
        if !self.store.set_device_credential(&mut tx, dev.id, &sealed).await? {
            return Err(AdminError::NotFound(format!("device {name}")));
        }
        let detail = json!({ "credential": { "old": old_kind, "new": credential.kind() } });
        tx.append(Event::new(actor, Kind::DeviceCredentialRotated, Subject::device(name), detail)).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Pins another host key for a device (after a firmware update or a replacement). Refused
    /// when it is the key already pinned; the audit row has both fingerprints and `source`.
    pub async fn repin_device(&self, actor: &str, name: &DeviceName, host_key: &str, source: PinSource) -> Result<Repinned, AdminError> {
        let key = input::parse_public_key(host_key, "host key").map_err(AdminError::Invalid)?;
        let dev = self.store.require_device(name).await?;
        let old_fingerprint = input::host_key_fingerprint(&dev.host_key);
        if old_fingerprint.as_deref() == Some(key.fingerprint.as_str()) {
            return Err(AdminError::Invalid(format!("device {name} already has host key {} pinned", key.fingerprint)));
        }
        let mut tx = self.audit.begin().await?;
        if !self.store.set_device_host_key(&mut tx, dev.id, &key.normalised).await? {
            return Err(AdminError::NotFound(format!("device {name}")));
        }
        let detail = json!({
            "host_key_fingerprint": { "old": old_fingerprint, "new": key.fingerprint }, "source": source.as_str(),
        });
        tx.append(Event::new(actor, Kind::DeviceRepinned, Subject::device(name), detail)).await?;
        tx.commit().await?;
        Ok(Repinned { old_fingerprint, new_fingerprint: key.fingerprint })
    }

    /// Disables (`true`) or re-enables (`false`) a device.
    pub async fn set_device_disabled(&self, actor: &str, name: &DeviceName, disabled: bool) -> Result<(), AdminError> {
        let before = self.store.require_device(name).await?;
        let mut tx = self.audit.begin().await?;
        if !self.store.set_device_disabled(&mut tx, name, disabled).await? {
            return Err(AdminError::NotFound(format!("device {name}")));
        }
        let kind = if disabled { Kind::DeviceDisabled } else { Kind::DeviceEnabled };
        tx.append(Event::new(actor, kind, Subject::device(name), json!({ "disabled": { "old": before.disabled, "new": disabled } }))).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Checks every field of a new device and seals its credential.
    fn prepare(&self, spec: NewDeviceSpec) -> Result<Prepared, AdminError> {
        let address = input::check_address(&spec.address).map_err(AdminError::Invalid)?;
        let login = input::check_login(&spec.login).map_err(AdminError::Invalid)?;
        let host_key = input::parse_public_key(&spec.host_key, "host key").map_err(AdminError::Invalid)?;
        input::check_credential(&spec.credential).map_err(AdminError::Invalid)?;
        let ports = input::check_ports(&spec.tcp_ports).map_err(AdminError::Invalid)?;
        let sealed = self.vault.seal_credential(spec.name.as_str(), &spec.credential)?;
        Ok(Prepared { spec, address, login, host_key, ports, sealed })
    }

    /// Inserts a prepared device and its `device.created` row (with `extra` fields) into `tx`.
    async fn insert_prepared(&self, tx: &mut AuditedWrite, actor: &str, p: &Prepared, extra: Value) -> Result<(), AdminError> {
        let new = NewDevice {
            name: &p.spec.name,
            address: &p.address,
            login: &p.login,
            sealed_credential: &p.sealed,
            host_key: &p.host_key.normalised,
            criticality: p.spec.criticality,
            zone: &p.spec.zone,
            tcp_ports: &p.ports,
            phi: p.spec.phi,
        };
        match self.store.insert_device(tx, new, clock::now()).await {
            Err(StoreError::Exists(what)) => return Err(AdminError::Exists(what)),
            other => other?,
        };
        let mut detail = json!({
            "address": p.address, "login": p.login, "credential": p.spec.credential.kind(),
            "host_key_fingerprint": p.host_key.fingerprint, "criticality": p.spec.criticality,
            "zone": p.spec.zone, "tcp_ports": p.ports, "phi": p.spec.phi,
        });
        if let (Some(d), Value::Object(more)) = (detail.as_object_mut(), extra) {
            d.extend(more);
        }
        tx.append(Event::new(actor, Kind::DeviceCreated, Subject::device(&p.spec.name), detail)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
