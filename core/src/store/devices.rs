//! Devices: where they are, how the broker logs in (sealed credential), the pinned host key,
//! criticality, zone and the TCP ports a grant may open.

use super::{is_unique_violation, DeviceRecord, Store, StoreError};
use crate::domain::{Criticality, DeviceName, Zone};
use sqlx::AnyConnection;

/// Fields of a new device.
pub struct NewDevice<'a> {
    pub name: &'a DeviceName,
    pub address: &'a str,
    pub login: &'a str,
    pub sealed_credential: &'a [u8],
    pub host_key: &'a str,
    pub criticality: Criticality,
    pub zone: &'a Zone,
    pub tcp_ports: &'a [u16],
    /// Tagged `phi`.
    pub phi: bool,
}

const DEVICE_COLUMNS: &str =
    "id, name, address, login, credential, host_key, criticality, zone, tcp_ports, disabled, created_at, phi";

impl Store {
    /// Enrols a device.
    pub async fn insert_device(&self, conn: &mut AnyConnection, d: NewDevice<'_>, now: i64) -> Result<i64, StoreError> {
        let ports = d.tcp_ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        let r = sqlx::query_scalar::<_, i64>(
            "INSERT INTO devices (name, address, login, credential, host_key, criticality, zone, tcp_ports, created_at, phi) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
        )
        .bind(d.name.as_str())
        .bind(d.address)
        .bind(d.login)
        .bind(d.sealed_credential.to_vec())
        .bind(d.host_key)
        .bind(d.criticality.as_str())
        .bind(d.zone.as_str())
        .bind(ports)
        .bind(now)
        .bind(i64::from(d.phi))
        .fetch_one(conn)
        .await;
        match r {
            Ok(id) => Ok(id),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Exists(format!("device {}", d.name))),
            Err(e) => Err(e.into()),
        }
    }

    /// Looks a device up by name.
    pub async fn device_by_name(&self, name: &DeviceName) -> Result<Option<DeviceRecord>, StoreError> {
        let q = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE name = $1");
        let row = sqlx::query(&q).bind(name.as_str()).fetch_optional(self.pool()).await?;
        row.as_ref().map(DeviceRecord::from_row).transpose()
    }

    /// Like `device_by_name`, but a missing device is an error.
    pub async fn require_device(&self, name: &DeviceName) -> Result<DeviceRecord, StoreError> {
        self.device_by_name(name).await?.ok_or_else(|| StoreError::NotFound(format!("device {name}")))
    }

    /// Looks a device up by id.
    pub async fn device_by_id(&self, id: i64) -> Result<DeviceRecord, StoreError> {
        let q = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1");
        let row = sqlx::query(&q).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(DeviceRecord::from_row).transpose()?.ok_or_else(|| StoreError::NotFound(format!("device #{id}")))
    }

    /// All devices, by name.
    pub async fn list_devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let q = format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY name");
        let rows = sqlx::query(&q).fetch_all(self.pool()).await?;
        rows.iter().map(DeviceRecord::from_row).collect()
    }

    /// Disables a device; returns false if there is no such device.
    pub async fn set_device_disabled(&self, conn: &mut AnyConnection, name: &DeviceName, disabled: bool) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE devices SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(name.as_str())
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }
}

/// The settings of a device an administrator may change after enrolment (not its name,
/// credential or host key, which have their own writes).
pub struct DeviceSettings<'a> {
    pub address: &'a str,
    pub login: &'a str,
    pub criticality: Criticality,
    pub zone: &'a Zone,
    pub tcp_ports: &'a [u16],
    pub phi: bool,
}

impl Store {
    /// Replaces a device's settings; returns false if there is no such device.
    pub async fn update_device_settings(&self, conn: &mut AnyConnection, id: i64, s: DeviceSettings<'_>) -> Result<bool, StoreError> {
        let ports = s.tcp_ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
        let r = sqlx::query("UPDATE devices SET address = $1, login = $2, criticality = $3, zone = $4, tcp_ports = $5, phi = $6 WHERE id = $7")
            .bind(s.address)
            .bind(s.login)
            .bind(s.criticality.as_str())
            .bind(s.zone.as_str())
            .bind(ports)
            .bind(i64::from(s.phi))
            .bind(id)
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces a device's sealed credential; returns false if there is no such device.
    pub async fn set_device_credential(&self, conn: &mut AnyConnection, id: i64, sealed: &[u8]) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE devices SET credential = $1 WHERE id = $2").bind(sealed.to_vec()).bind(id).execute(conn).await?;
        Ok(r.rows_affected() == 1)
    }

    /// Pins another host key for a device; returns false if there is no such device.
    pub async fn set_device_host_key(&self, conn: &mut AnyConnection, id: i64, host_key: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE devices SET host_key = $1 WHERE id = $2").bind(host_key).bind(id).execute(conn).await?;
        Ok(r.rows_affected() == 1)
    }
}
