//! Single sign-on links: which account an OpenID identity (issuer, `sub`) signs in as. The
//! pair is the key; an e-mail address or a name from the provider never finds an account.

use super::users::user_columns_of;
use super::{is_unique_violation, Store, StoreError, UserRecord};
use crate::domain::Role;
use sqlx::AnyConnection;

impl Store {
    /// The account linked to (`issuer`, `subject`), if any.
    pub async fn user_by_oidc(&self, issuer: &str, subject: &str) -> Result<Option<UserRecord>, StoreError> {
        let cols = user_columns_of("u");
        let q = format!("SELECT {cols} FROM users u JOIN oidc_links l ON l.user_id = u.id WHERE l.issuer = $1 AND l.subject = $2");
        let row = sqlx::query(&q).bind(issuer).bind(subject).fetch_optional(self.pool()).await?;
        row.as_ref().map(UserRecord::from_row).transpose()
    }

    /// Links (`issuer`, `subject`) to an account; an identity or account already linked is
    /// [`StoreError::Exists`].
    pub async fn insert_oidc_link(&self, conn: &mut AnyConnection, issuer: &str, subject: &str, user_id: i64, now: i64) -> Result<(), StoreError> {
        let r = sqlx::query("INSERT INTO oidc_links (issuer, subject, user_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(issuer)
            .bind(subject)
            .bind(user_id)
            .bind(now)
            .execute(conn)
            .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Exists(format!("single sign-on link for {subject}"))),
            Err(e) => Err(e.into()),
        }
    }

    /// Sets an account's role (single sign-on: the provider's groups decide it).
    pub async fn set_user_role(&self, conn: &mut AnyConnection, user_id: i64, role: Role) -> Result<(), StoreError> {
        sqlx::query("UPDATE users SET role = $1 WHERE id = $2").bind(role.as_str()).bind(user_id).execute(conn).await?;
        Ok(())
    }
}
