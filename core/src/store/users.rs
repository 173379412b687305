//! Accounts, their SSH keys, and the two atomic updates that make TOTP safe: accepting a
//! time step at most once, and counting failures towards a lockout shared by every
//! connection and source address.

use super::{is_unique_violation, Store, StoreError, UserRecord};
use crate::domain::{PermissionSet, Role, Username, ZoneSet};
use sqlx::AnyConnection;

/// Fields of a new account.
pub struct NewUser<'a> {
    pub username: &'a Username,
    pub role: Role,
    pub org: &'a str,
    pub sealed_totp_secret: &'a [u8],
    pub password_hash: Option<&'a str>,
    pub password_must_change: bool,
}

/// The outcome of counting one failed code.
#[derive(Debug, Clone, Copy)]
pub struct FailureCount {
    pub failed_attempts: i64,
    pub locked_until: Option<i64>,
}

pub(super) const USER_COLUMNS: &str = "id, username, role, org, disabled, totp_secret, password_hash, \
    password_must_change, totp_last_step, failed_attempts, locked_until, created_at, expires_at, zones, permissions";

/// [`USER_COLUMNS`] of the table named `alias` in a join.
pub(super) fn user_columns_of(alias: &str) -> String {
    USER_COLUMNS.split(", ").map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

impl Store {
    /// Creates an account.
    pub async fn insert_user(&self, conn: &mut AnyConnection, u: NewUser<'_>, now: i64) -> Result<i64, StoreError> {
        let r = sqlx::query_scalar::<_, i64>(
            "INSERT INTO users (username, role, org, totp_secret, password_hash, password_must_change, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(u.username.as_str())
        .bind(u.role.as_str())
        .bind(u.org)
        .bind(u.sealed_totp_secret.to_vec())
        .bind(u.password_hash.map(str::to_owned))
        .bind(i64::from(u.password_must_change))
        .bind(now)
        .fetch_one(conn)
        .await;
        match r {
            Ok(id) => Ok(id),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Exists(format!("user {}", u.username))),
            Err(e) => Err(e.into()),
        }
    }

    /// Looks an account up by name.
    pub async fn user_by_name(&self, name: &Username) -> Result<Option<UserRecord>, StoreError> {
        let q = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        let row = sqlx::query(&q).bind(name.as_str()).fetch_optional(self.pool()).await?;
        row.as_ref().map(UserRecord::from_row).transpose()
    }

    /// Like `user_by_name`, but a missing account is an error.
    pub async fn require_user(&self, name: &Username) -> Result<UserRecord, StoreError> {
        self.user_by_name(name).await?.ok_or_else(|| StoreError::NotFound(format!("user {name}")))
    }

    /// All accounts, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let q = format!("SELECT {USER_COLUMNS} FROM users ORDER BY username");
        let rows = sqlx::query(&q).fetch_all(self.pool()).await?;
        rows.iter().map(UserRecord::from_row).collect()
    }

    /// Enables or disables an account; returns false if there is no such account.
    pub async fn set_user_disabled(&self, conn: &mut AnyConnection, name: &Username, disabled: bool) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE users SET disabled = $1 WHERE username = $2")
            .bind(i64::from(disabled))
            .bind(name.as_str())
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Clears a lockout and the failure counter.
    pub async fn unlock_user(&self, conn: &mut AnyConnection, name: &Username) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE users SET failed_attempts = 0, locked_until = NULL WHERE username = $1")
            .bind(name.as_str())
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Adds an SSH public key (OpenSSH line and its SHA256 fingerprint).
    pub async fn insert_user_key(&self, conn: &mut AnyConnection, user_id: i64, line: &str, fingerprint: &str, now: i64) -> Result<(), StoreError> {
        let r = sqlx::query("INSERT INTO user_keys (user_id, public_key, fingerprint, created_at) VALUES ($1, $2, $3, $4)")
            .bind(user_id)
            .bind(line)
            .bind(fingerprint)
            .bind(now)
            .execute(conn)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Exists(format!("key {fingerprint}"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets or clears (`None`) an account's end date; returns false if there is no such account.
    pub async fn set_user_expiry(&self, conn: &mut AnyConnection, user_id: i64, expires_at: Option<i64>) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE users SET expires_at = $1 WHERE id = $2").bind(expires_at).bind(user_id).execute(conn).await?;
        Ok(r.rows_affected() == 1)
    }

    /// Sets the zones an account is limited to and the permissions it holds; returns false if
    /// there is no such account.
    pub async fn set_user_access(&self, conn: &mut AnyConnection, user_id: i64, zones: &ZoneSet, permissions: &PermissionSet) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE users SET zones = $1, permissions = $2 WHERE id = $3")
            .bind(zones.to_string())
            .bind(permissions.to_string())
            .bind(user_id)
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Replaces an account's sealed TOTP secret; the next code must come from the new one.
    /// The steps used so far are forgotten with the old secret: none of the new secret's
    /// codes has been seen, and the old secret's no longer match.
    pub async fn reset_totp_secret(&self, conn: &mut AnyConnection, user_id: i64, sealed: &[u8]) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE users SET totp_secret = $1, totp_last_step = NULL, failed_attempts = 0, locked_until = NULL WHERE id = $2")
            .bind(sealed.to_vec())
            .bind(user_id)
            .execute(conn)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// An account's keys: `(OpenSSH line, fingerprint, added at)`, oldest first.
    pub async fn user_keys(&self, user_id: i64) -> Result<Vec<(String, String, i64)>, StoreError> {
        Ok(sqlx::query_as::<_, (String, String, i64)>("SELECT public_key, fingerprint, created_at FROM user_keys WHERE user_id = $1 ORDER BY id")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Removes one of an account's keys; returns false if it has no key with that fingerprint.
    pub async fn delete_user_key(&self, conn: &mut AnyConnection, user_id: i64, fingerprint: &str) -> Result<bool, StoreError> {
        let r = sqlx::query("DELETE FROM user_keys WHERE user_id = $1 AND fingerprint = $2").bind(user_id).bind(fingerprint).execute(conn).await?;
        Ok(r.rows_affected() == 1)
    }

    /// How many keys an account has, counted inside a write (for "not the last one").
    pub async fn count_user_keys(&self, conn: &mut AnyConnection, user_id: i64) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM user_keys WHERE user_id = $1").bind(user_id).fetch_one(conn).await?)
    }

    /// Fingerprints of an account's keys.
    pub async fn user_key_fingerprints(&self, user_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar::<_, String>("SELECT fingerprint FROM user_keys WHERE user_id = $1 ORDER BY id")
            .bind(user_id)
            .fetch_all(self.pool())
            .await?)
    }

    /// Accepts TOTP `step` for the user if it is newer than any accepted before and the
    /// account is not locked; resets the failure counter. One statement, so two connections
    /// presenting the same code cannot both succeed.
    pub async fn accept_totp_step(&self, user_id: i64, step: i64, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE users SET totp_last_step = $1, failed_attempts = 0, locked_until = NULL \
             WHERE id = $2 AND disabled = 0 AND (totp_last_step IS NULL OR totp_last_step < $1) \
             AND (locked_until IS NULL OR locked_until <= $3)",
        )
        .bind(step)
        .bind(user_id)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Whether the account `id` exists and is enabled now: read fresh each time, so a
    /// connection made before the account was disabled learns it at its next step.
    pub async fn account_enabled(&self, id: i64) -> Result<bool, StoreError> {
        Ok(self.user_by_id(id).await?.is_some_and(|u| !u.disabled && !u.expired_at(crate::clock::now())))
    }

    /// Counts one failure; locks the account until `lock_until` when the count reaches `max`.
    pub async fn record_auth_failure(&self, user_id: i64, max: i64, lock_until: i64, now: i64) -> Result<FailureCount, StoreError> {
        // A lockout that has ended starts the count again: this failure is the first of a new
        // series (otherwise one failure after each lockout would lock the account again).
        // Both back ends evaluate every SET expression against the row as it was.
        let row: (i64, Option<i64>) = sqlx::query_as(
            "UPDATE users SET \
             failed_attempts = CASE WHEN locked_until IS NOT NULL AND locked_until <= $4 THEN 1 ELSE failed_attempts + 1 END, \
             locked_until = CASE \
               WHEN (CASE WHEN locked_until IS NOT NULL AND locked_until <= $4 THEN 1 ELSE failed_attempts + 1 END) >= $1 THEN $2 \
               WHEN locked_until IS NOT NULL AND locked_until <= $4 THEN NULL \
               ELSE locked_until END \
             WHERE id = $3 RETURNING failed_attempts, locked_until",
        )
        .bind(max)
        .bind(lock_until)
        .bind(user_id)
        .bind(now)
        .fetch_one(self.pool())
        .await?;
        Ok(FailureCount { failed_attempts: row.0, locked_until: row.1 })
    }
}
