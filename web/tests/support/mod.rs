//! Test support: a real Portcullis context over a fresh SQLite file (or a fresh database on
//! the throwaway PostgreSQL cluster), with its keys in a temporary folder, and the web app's
//! state built on it — exactly what `portcullis serve` builds.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use portcullis_core::audit::AuditSigner;
use portcullis_core::keyfile;
use portcullis_core::vault::Vault;
use portcullis_core::{Config, Context};
use portcullis_web::auth::token::TokenKeys;
use portcullis_web::AppState;
use std::path::Path;
use std::time::Duration;

/// Extra configuration lines (TOML) appended to the minimal file.
pub async fn context_with(dir: &Path, store_url: &str, extra: &str) -> Context {
    Vault::create_key_file(&dir.join("keys/vault.key")).unwrap();
    keyfile::write_new(&dir.join("keys/audit_ed25519.pk8"), &AuditSigner::generate_pkcs8().unwrap()).unwrap();
    let text = format!("[store]\nurl = \"{store_url}\"\n{extra}\n");
    let path = dir.join("portcullis.toml");
    std::fs::write(&path, &text).unwrap();
    let config = Config::from_parts(&text, &path, &[]).unwrap();
    Context::open(config).await.unwrap()
}

/// A context over SQLite in `dir`.
pub async fn sqlite_context(dir: &Path) -> Context {
    let url = format!("sqlite://{}", dir.join("p.db").display());
    context_with(dir, &url, "").await
}

/// A fresh, empty database on the test PostgreSQL cluster (`PORTCULLIS_TEST_PG_URL`).
pub async fn fresh_pg_url() -> String {
    use sqlx::Executor;
    let base = std::env::var("PORTCULLIS_TEST_PG_URL").expect("PORTCULLIS_TEST_PG_URL is not set: run scripts/test.sh");
    sqlx::any::install_default_drivers();
    let name = format!("w_{}", hex_name());
    let pool = sqlx::AnyPool::connect(&base).await.unwrap();
    pool.execute(format!("CREATE DATABASE {name}").as_str()).await.unwrap();
    pool.close().await;
    let (head, _) = base.rsplit_once('/').unwrap();
    format!("{head}/{name}")
}

fn hex_name() -> String {
    let n: u64 = rand_u64();
    format!("{n:016x}")
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish()
}

/// The web state over `ctx` with a random token key.
pub fn state(ctx: Context, name: &str) -> AppState {
    let keys = TokenKeys::from_bytes(&rand_key(), Duration::from_secs(900)).unwrap();
    AppState::new(ctx, keys, name.to_owned(), "9.9.9-test")
}

/// 32 random-enough bytes for a test key.
pub fn rand_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    for chunk in k.chunks_mut(8) {
        chunk.copy_from_slice(&rand_u64().to_le_bytes());
    }
    k
}

pub mod client;
pub mod sessions;
pub mod tls;
