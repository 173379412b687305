//! The store: one `sqlx` code path over SQLite (default, embedded) and PostgreSQL (several
//! nodes), chosen by the URL. Queries use `$N` placeholders in first-use order, which both
//! back ends accept, and integer columns only (no database-specific types), so behaviour is
//! the same on both. Migrations of the matching folder are applied at open.
//!
//! Write transactions go through [`Store::begin_write`], which on SQLite takes the write lock
//! at `BEGIN` (so two processes never deadlock upgrading a read lock) and on PostgreSQL is a
//! plain transaction whose row locks come from the first `UPDATE`.

mod containments;
mod controls;
mod devices;
mod nodes;
mod records;
mod requests;
mod retention;
mod stored;
mod session_search;
mod sessions;
mod users;
mod oidc_links;
mod web_sessions;

pub use containments::{ContainmentRecord, NewContainment, ScopeRequest, ScopeSession};
pub use controls::{revoked_now, SessionControl};
pub use devices::{DeviceSettings, NewDevice};
pub use nodes::{ExpiredLease, NodeLease};
pub use records::*;
pub use requests::Tally;
pub use session_search::{SessionSearch, MAX_SESSIONS};
pub use users::{FailureCount, NewUser};
pub use web_sessions::WebSessionRecord;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Connection as _, Executor, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL (use sqlite://PATH or postgres://…)")]
    UnsupportedUrl,
    #[error("no {0}")]
    NotFound(String),
    #[error("{0} already exists")]
    Exists(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the database was migrated by a newer Portcullis (schema version {found}; this binary knows up to {known}): downgrades are not supported; run the newer binary again, or restore a backup taken before the upgrade")]
    TooNew { found: i64, known: i64 },
}

/// Every database error passes here on its way up (`?`), so this is where it is counted.
impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if !matches!(e, sqlx::Error::RowNotFound) {
            crate::metrics::get().store_error();
        }
        StoreError::Db(e)
    }
}

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A cheap, clonable handle to the database.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.inner.backend).finish()
    }
}

struct Inner {
    /// Pool of connections; every query goes through it.
    pool: AnyPool,
    /// Fixed for the life of the pool.
    backend: Backend,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

impl Store {
    /// Opens (creating an SQLite file if needed) and migrates.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let url = match backend {
            Backend::Sqlite if !url.contains('?') => format!("{url}?mode=rwc"),
            _ => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 10 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        // FULL: a commit is on disk (the WAL fsynced) before its caller goes on,
                        // so an audit row that was answered survives a power loss too. Group
                        // commit (audit::batch) shares that fsync among concurrent writers.
                        conn.execute("PRAGMA synchronous = FULL").await?;
                    }
                    Ok(())
                })
            })
            // A transaction whose COMMIT failed (SQLite: disk full) may stay open on its
            // connection, which would then refuse every later BEGIN: such a connection is
            // closed instead of going back to the pool, so writes work again once space
            // returns. The ping first lets the rollback queued by the dropped transaction run.
            .after_release(|conn, _| {
                Box::pin(async move {
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options)
            .await?;
        let migrator = migrator(backend);
        let known = known_version(migrator);
        if let Some(found) = applied_version(&pool).await.filter(|v| *v > known) {
            close_fully(&pool).await;
            return Err(StoreError::TooNew { found, known });
        }
        migrator.run(&pool).await?;
        Ok(Store { inner: Arc::new(Inner { pool, backend }) })
    }

    /// The newest migration applied to this database (its schema version).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE").fetch_one(self.pool()).await?;
        Ok(v.unwrap_or(0))
    }

    /// The newest migration this binary carries for this back end.
    pub fn known_schema_version(&self) -> i64 {
        known_version(migrator(self.inner.backend))
    }

    /// The pool, for read queries.
    pub fn pool(&self) -> &AnyPool {
        &self.inner.pool
    }

    /// Which back end this is.
    pub fn backend(&self) -> Backend {
        self.inner.backend
    }

    /// Starts a transaction that will write.
    pub async fn begin_write(&self) -> Result<Transaction<'static, sqlx::Any>, StoreError> {
        let tx = match self.inner.backend {
            Backend::Sqlite => self.inner.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.inner.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Cheap liveness probe: fails when the database cannot answer.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()).await?;
        Ok(())
    }

    /// Highest audit sequence number (0 when the log is empty). Cheap; the change feed's
    /// safety net and the notifier use it to notice that something was appended.
    pub async fn audit_head(&self) -> Result<i64, StoreError> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM audit_log").fetch_one(self.pool()).await?;
        Ok(v.unwrap_or(0))
    }

    /// Closes the pool and waits until every connection is closed.
    pub async fn close(&self) {
        close_fully(&self.inner.pool).await;
    }
}

/// Closes `pool` and waits until it holds no connection. sqlx 0.8's `Pool::close` can return
/// with one still open: a connection on its way back to the pool lands in the idle queue after
/// the last drain, or the permit count lets the wait end early (sqlx issue 3217, fixed after
/// 0.8.6). An SQLite connection left so keeps the database files open after `close`: a
/// refused restore could not remove its folder (seen in CI), and a backup's snapshot could
/// keep its `-wal`.
/// Closing again until the pool is empty finishes the job; the pause lets a returning
/// connection arrive, and the bound keeps a connection held for ever elsewhere from hanging
/// the caller.
async fn close_fully(pool: &AnyPool) {
    const PAUSE: Duration = Duration::from_millis(10);
    const TRIES: u32 = 1000;
    for _ in 0..TRIES {
        pool.close().await;
        if pool.size() == 0 {
            return;
        }
        tokio::time::sleep(PAUSE).await;
    }
    tracing::warn!(open = pool.size(), "the database pool still holds connections after closing it for 10 s");
}

/// The migrations of a back end.
fn migrator(backend: Backend) -> &'static sqlx::migrate::Migrator {
    match backend {
        Backend::Sqlite => &SQLITE_MIGRATIONS,
        Backend::Postgres => &POSTGRES_MIGRATIONS,
    }
}

/// The newest version among `migrator`'s migrations.
fn known_version(migrator: &sqlx::migrate::Migrator) -> i64 {
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The newest migration recorded in the database, before this binary migrates it; `None`
/// for a database no Portcullis has migrated yet (no bookkeeping table). Read without the
/// store's error counting: a missing table is the normal case of a new database.
async fn applied_version(pool: &AnyPool) -> Option<i64> {
    sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(pool).await.ok().flatten()
}

/// True when the error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            d.is_unique_violation() || d.message().contains("UNIQUE constraint failed")
        }
        _ => false,
    }
}

/// `s` with LIKE's wildcards (and the escape character itself) escaped with a backslash,
/// for patterns written with `ESCAPE '\\'`.
pub(crate) fn like_escape(s: &str) -> String {
    s.chars().fold(String::with_capacity(s.len()), |mut out, c| {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    /// Every SQLite connection of the pool commits to disk before its caller goes on: WAL, and
    /// `synchronous = FULL` (2), not NORMAL (1), which may lose the last commits on power loss.
    #[tokio::test]
    async fn sqlite_commits_are_synchronous_on_every_connection() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..4 {
            let mut conn = store.pool().acquire().await.unwrap();
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *conn).await.unwrap();
            let journal: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&mut *conn).await.unwrap();
            assert_eq!((sync, journal.as_str()), (2, "wal"));
            held.push(conn);
        }
    }

    /// A database migrated by a newer binary (a migration this one does not carry) is refused
    /// at open with both versions named, and left as it was; the current one opens.
    #[tokio::test]
    async fn a_database_from_a_newer_binary_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::open(&url).await.unwrap();
        let known = store.known_schema_version();
        assert!(known >= 9, "{known}");
        assert_eq!(store.schema_version().await.unwrap(), known);
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ($1, 'from the future', TRUE, x'00', 0)")
            .bind(known + 90)
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;
        match Store::open(&url).await {
            Err(StoreError::TooNew { found, known: k }) => assert_eq!((found, k), (known + 90, known)),
            other => panic!("a newer schema was not refused: {other:?}"),
        }
        let text = StoreError::TooNew { found: known + 90, known }.to_string();
        assert!(text.contains("newer Portcullis") && text.contains("downgrades are not supported"), "{text}");
    }

    /// A database error on its way up is counted in the metrics; a row that is simply not
    /// there is not an error.
    #[tokio::test]
    async fn database_errors_are_counted_and_absent_rows_are_not() {
        let errors = || -> u64 {
            crate::metrics::get().encode().lines().find_map(|l| l.strip_prefix("portcullis_store_errors_total ")).unwrap().trim().parse().unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        let before = errors();
        let missing: Result<i64, StoreError> = sqlx::query_scalar("SELECT seq FROM audit_log WHERE seq = -1").fetch_one(store.pool()).await.map_err(StoreError::from);
        assert!(missing.is_err());
        assert_eq!(errors(), before, "a row not found counted as a store error");
        store.close().await;
        assert!(store.audit_head().await.is_err(), "a closed pool answered");
        assert_eq!(errors(), before + 1);
    }
}
