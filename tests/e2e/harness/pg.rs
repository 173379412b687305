//! PostgreSQL for the tests that run the broker against it.
//!
//! scripts/test.sh starts a throwaway cluster and exports `PORTCULLIS_TEST_PG_URL`; without
//! it these tests fail (they must not pass by doing nothing). Each test gets a database of
//! its own, `t_<random>`, created and dropped through `psql`.

use super::proc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The environment variable naming the throwaway cluster.
pub const PG_URL_VAR: &str = "PORTCULLIS_TEST_PG_URL";

/// A database of the test's own, dropped when this is dropped.
pub struct TestDb {
    /// Administrative URL (the `postgres` database of the cluster).
    admin_url: String,
    pub name: String,
    /// URL of the test's database.
    pub url: String,
}

impl TestDb {
    /// Creates `t_<random>` in the cluster named by `PORTCULLIS_TEST_PG_URL`.
    pub fn create() -> TestDb {
        let admin_url = std::env::var(PG_URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{PG_URL_VAR} is not set: this test needs PostgreSQL. Run the suite with \
                 scripts/test.sh, which starts a throwaway cluster and sets it"
            )
        });
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!(
            "t_{}_{}_{}",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        psql(&admin_url, &format!("CREATE DATABASE {name}"));
        let url = with_database(&admin_url, &name);
        TestDb {
            admin_url,
            name,
            url,
        }
    }

    /// Runs SQL in the test database; must succeed. Returns unaligned, tuples-only output.
    pub fn sql(&self, sql: &str) -> String {
        psql(&self.url, sql)
    }

    /// Runs SQL in the test database; returns the whole outcome (for statements that must
    /// be refused).
    pub fn try_sql(&self, sql: &str) -> proc::Output {
        proc::run(
            psql_command(&self.url, sql),
            std::time::Duration::from_secs(60),
        )
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = proc::run(
            psql_command(&self.admin_url, &sql),
            std::time::Duration::from_secs(60),
        );
    }
}

fn psql_command(url: &str, sql: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new("psql");
    cmd.args([
        "-X",
        "-q",
        "-A",
        "-t",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        url,
        "-c",
        sql,
    ]);
    cmd
}

/// Runs SQL that must succeed; returns psql's output.
pub fn psql(url: &str, sql: &str) -> String {
    let out = proc::run(psql_command(url, sql), std::time::Duration::from_secs(60));
    out.assert_success();
    out.stdout_text()
}

/// `url` with its database (the path) replaced by `db`.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host_end = base[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// A PostgreSQL cluster of the test's own (scripts/pg-throwaway.sh in a temporary
/// directory), for tests that stop the store under a running broker: the shared cluster of
/// `PORTCULLIS_TEST_PG_URL` serves other tests at the same time and must never be stopped.
/// Stopped and removed when dropped.
pub struct Cluster {
    dir: tempfile::TempDir,
    /// URL of its `postgres` database.
    pub url: String,
}

impl Cluster {
    /// initdb and start on a free loopback port.
    pub fn start() -> Cluster {
        let dir = tempfile::Builder::new()
            .prefix("portcullis-pg-")
            .tempdir()
            .expect("tempdir");
        let url = throwaway("start", dir.path());
        Cluster { dir, url }
    }

    /// Stops it the hard way (`pg_ctl stop -m immediate`): every connection is cut at once.
    pub fn crash(&self) {
        throwaway("crash", self.dir.path());
    }

    /// Starts it again on the same port (so the broker's URL still names it).
    pub fn restart(&self) {
        let url = throwaway("restart", self.dir.path());
        assert_eq!(url, self.url, "the cluster came back elsewhere");
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = proc::run(
            throwaway_command("stop", self.dir.path()),
            std::time::Duration::from_secs(60),
        );
    }
}

fn throwaway_command(verb: &str, dir: &std::path::Path) -> std::process::Command {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-throwaway.sh");
    let mut cmd = std::process::Command::new(script);
    cmd.arg(verb).arg(dir);
    cmd
}

/// Runs `scripts/pg-throwaway.sh VERB DIR`, which must succeed; returns what it printed.
fn throwaway(verb: &str, dir: &std::path::Path) -> String {
    let out = proc::run(throwaway_command(verb, dir), std::time::Duration::from_secs(120));
    out.assert_success();
    out.stdout_text().trim().to_owned()
}
