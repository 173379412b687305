//! Test support: a fresh SQLite file and a fresh PostgreSQL database per test. PostgreSQL
//! comes from `PORTCULLIS_TEST_PG_URL` (scripts/test.sh starts a throwaway cluster and sets
//! it); without it these tests fail rather than silently skip one back end.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::audit::{AuditLog, AuditSigner};
use crate::store::Store;
use sqlx::Executor;

/// A store and what keeps it alive.
pub struct TestStore {
    pub name: &'static str,
    pub store: Store,
    #[allow(dead_code)]
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// Both back ends, freshly migrated.
pub async fn stores() -> Vec<TestStore> {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let sqlite = Store::open(&url).await.unwrap();
    let pg_url = fresh_pg_database().await;
    let pg = Store::open(&pg_url).await.unwrap();
    vec![
        TestStore { name: "sqlite", store: sqlite, url, _dir: Some(dir) },
        TestStore { name: "postgres", store: pg, url: pg_url, _dir: None },
    ]
}

/// Creates an empty database on the test cluster and returns its URL.
pub async fn fresh_pg_database() -> String {
    let base = std::env::var("PORTCULLIS_TEST_PG_URL")
        .expect("PORTCULLIS_TEST_PG_URL is not set: run the suite with scripts/test.sh, which starts PostgreSQL");
    sqlx::any::install_default_drivers();
    let name = format!("t_{}", hex::encode(rand::random::<[u8; 6]>()));
    let pool = sqlx::AnyPool::connect(&base).await.unwrap();
    pool.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    pool.close().await;
    let (head, query) = match base.split_once('?') {
        Some((h, q)) => (h, format!("?{q}")),
        None => (base.as_str(), String::new()),
    };
    let prefix = head.rsplit_once('/').map(|(p, _)| p).unwrap_or(head);
    format!("{prefix}/{name}{query}")
}

/// An audit log with a fresh key.
pub fn audit_log(store: &Store, every: u64) -> AuditLog {
    let key = AuditSigner::generate_pkcs8().unwrap();
    AuditLog::new(store.clone(), AuditSigner::from_pkcs8(&key).unwrap(), every)
}
