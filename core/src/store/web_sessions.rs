//! Web sign-in sessions (one row per sign-in; the signed token names the row, so revoking the
//! row ends the token) and the account updates web enrolment makes: a new password and a new
//! TOTP secret.

use super::{Store, StoreError};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

/// One web sign-in.
#[derive(Debug, Clone)]
pub struct WebSessionRecord {
    pub id: String,
    pub user_id: i64,
    /// `full`, or `enrol` (may only finish the first sign-in).
    pub scope: String,
    pub peer: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl WebSessionRecord {
    fn from_row(r: &AnyRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.try_get("id")?,
            user_id: r.try_get("user_id")?,
            scope: r.try_get("scope")?,
            peer: r.try_get("peer")?,
            created_at: r.try_get("created_at")?,
            expires_at: r.try_get("expires_at")?,
            revoked_at: r.try_get("revoked_at")?,
        })
    }
}

impl Store {
    /// Records a sign-in.
    pub async fn insert_web_session(&self, s: &WebSessionRecord) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO web_sessions (id, user_id, scope, peer, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&s.id)
            .bind(s.user_id)
            .bind(&s.scope)
            .bind(&s.peer)
            .bind(s.created_at)
            .bind(s.expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// One sign-in, whatever its state.
    pub async fn web_session(&self, id: &str) -> Result<Option<WebSessionRecord>, StoreError> {
        let row = sqlx::query("SELECT id, user_id, scope, peer, created_at, expires_at, revoked_at FROM web_sessions WHERE id = $1")
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.as_ref().map(WebSessionRecord::from_row).transpose()
    }

    /// Ends one sign-in; false if it had already ended.
    pub async fn revoke_web_session(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let r = sqlx::query("UPDATE web_sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// Ends every sign-in of an account (disabled, password changed).
    pub async fn revoke_user_web_sessions(&self, conn: &mut AnyConnection, user_id: i64, now: i64) -> Result<u64, StoreError> {
        let r = sqlx::query("UPDATE web_sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(user_id)
            .execute(conn)
            .await?;
        Ok(r.rows_affected())
    }

    /// Sets an account's password hash and whether it must be changed at next sign-in.
    pub async fn set_password(&self, conn: &mut AnyConnection, user_id: i64, hash: &str, must_change: bool) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET password_hash = $1, password_must_change = $2 WHERE id = $3")
            .bind(hash)
            .bind(i64::from(must_change))
            .bind(user_id)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Replaces an account's sealed TOTP secret; the used-step marker starts afresh.
    pub async fn set_totp_secret(&self, user_id: i64, sealed: &[u8]) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET totp_secret = $1, totp_last_step = NULL WHERE id = $2")
            .bind(sealed)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// An account by id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<super::UserRecord>, StoreError> {
        let q = format!("SELECT {} FROM users WHERE id = $1", super::users::USER_COLUMNS);
        let row = sqlx::query(&q).bind(id).fetch_optional(self.pool()).await?;
        row.as_ref().map(super::UserRecord::from_row).transpose()
    }
}
