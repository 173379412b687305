//! `portcullis backup --output DIR`: an online, consistent copy of a node while `serve` keeps
//! running. For SQLite the database is copied with `VACUUM INTO` (one read transaction, so
//! the copy is a snapshot of one moment, however busy the node is), checked with
//! `PRAGMA integrity_check`, and the audit head, schema version and recordings are read from
//! that snapshot itself. For PostgreSQL the database is left to `pg_dump`, whose command is
//! printed; keys, configuration and manifest are written all the same. The folder gets every
//! key file (0600), the configuration and `manifest.json` (see [`crate::backupset`]), signed
//! with the audit key. Then, after the snapshot, the live log gets a `backup.taken` row naming
//! the head the snapshot holds and the manifest's SHA-256: the row describes the snapshot
//! and so cannot be inside it.

use crate::backupset::{self, AuditHead, FileEntry, Manifest, RecordingEntry, RecordingState, Role};
use crate::output;
use anyhow::Context as _;
use portcullis_core::audit::{self, Event, Kind, Subject};
use portcullis_core::store::{Backend, RecordingRecord, Store};
use portcullis_core::recstore::RecStore;
use portcullis_core::{clock, Context};
use serde_json::json;
use std::path::Path;

/// What `backup` was asked for.
pub struct BackupInput<'a> {
    /// The configuration file of the node (copied as it is).
    pub config: &'a Path,
    /// The folder to create.
    pub output: &'a Path,
    /// Copy the sealed recordings too.
    pub with_recordings: bool,
    pub json: bool,
}

/// Runs `backup`.
pub async fn run(ctx: &Context, input: BackupInput<'_>) -> anyhow::Result<()> {
    let out = std::path::absolute(input.output).with_context(|| format!("resolving {}", input.output.display()))?;
    backupset::create_private_dir(&out)?;
    // The snapshot's tail is covered by a signature, like the end of any command that wrote.
    ctx.audit.checkpoint().await.context("signing the audit checkpoint before the snapshot")?;
    let (snapshot, pg_dump) = match ctx.store.backend() {
        Backend::Sqlite => (sqlite_snapshot(ctx, &out.join(backupset::DATABASE)).await?, None),
        Backend::Postgres => (live_state(&ctx.store).await?, Some(pg_dump_command(&ctx.config.store.url, &out))),
    };
    let mut files = Vec::new();
    if let Some(db) = &snapshot.database {
        files.push(db.clone());
    }
    for (role, from) in key_files(ctx, input.config) {
        let (sha256, bytes) = backupset::copy_private(&from, &out.join(role.path()))?;
        files.push(FileEntry { role, path: role.path().to_owned(), sha256, bytes });
    }
    let mut recordings = Vec::with_capacity(snapshot.recordings.len());
    for r in &snapshot.recordings {
        recordings.push(recording_entry(&ctx.recstore, r, &out, input.with_recordings).await?);
    }
    let manifest = Manifest {
        format: backupset::FORMAT,
        portcullis_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at: clock::rfc3339(clock::now()),
        node: ctx.config.node.id.to_string(),
        backend: backend_name(ctx.store.backend()).to_owned(),
        schema_version: snapshot.schema_version,
        audit: AuditHead { key_id: ctx.audit.signer().key_id().to_owned(), ..snapshot.head },
        files,
        pg_dump: pg_dump.clone(),
        with_recordings: input.with_recordings,
        recordings,
    };
    let text = serde_json::to_vec_pretty(&manifest)?;
    let manifest_sha256 = portcullis_core::evidence::sha256_hex(&text);
    portcullis_core::keyfile::write_new(&out.join(backupset::MANIFEST), &text)?;
    portcullis_core::keyfile::write_new(&out.join(backupset::SIGNATURE), ctx.audit.signer().sign_b64(&text).as_bytes())?;
    let detail = json!({
        "output": out.display().to_string(),
        "backend": manifest.backend,
        "head_seq": manifest.audit.head_seq,
        "head_hash": manifest.audit.head_hash,
        "schema_version": manifest.schema_version,
        "manifest_sha256": manifest_sha256,
        "with_recordings": manifest.with_recordings,
        "recordings": manifest.recordings.len(),
    });
    ctx.audit.record(Event::new(crate::caller::cli_actor(), Kind::BackupTaken, Subject::System, detail)).await?;
    report(&manifest, &out, &manifest_sha256, input.json)
}

/// What the snapshot holds.
struct Snapshot {
    /// The database file in the backup (SQLite only).
    database: Option<FileEntry>,
    schema_version: i64,
    head: AuditHead,
    recordings: Vec<RecordingRecord>,
}

/// `VACUUM INTO` the backup folder, then reads the copy: integrity, schema, audit head and
/// recordings all come from the snapshot, so the manifest describes exactly that file.
async fn sqlite_snapshot(ctx: &Context, file: &Path) -> anyhow::Result<Snapshot> {
    sqlx::query("VACUUM INTO $1")
        .bind(file.display().to_string())
        .execute(ctx.store.pool())
        .await
        .with_context(|| format!("copying the database into {} (VACUUM INTO)", file.display()))?;
    backupset::set_mode(file, 0o600)?;
    let copy = Store::open(&format!("sqlite://{}", file.display())).await.context("opening the snapshot")?;
    let result = async {
        let check: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check").fetch_all(copy.pool()).await?;
        anyhow::ensure!(check == ["ok"], "the snapshot fails PRAGMA integrity_check: {}", check.join("; "));
        live_state(&copy).await
    }
    .await;
    copy.close().await;
    let mut snapshot = result?;
    for side in ["-wal", "-shm"] {
        let mut name = file.as_os_str().to_owned();
        name.push(side);
        let _ = std::fs::remove_file(std::path::PathBuf::from(name));
    }
    let (sha256, bytes) = backupset::hash_file(file)?;
    snapshot.database = Some(FileEntry { role: Role::Database, path: backupset::DATABASE.to_owned(), sha256, bytes });
    Ok(snapshot)
}

/// Schema version, audit head and recordings of `store`.
async fn live_state(store: &Store) -> anyhow::Result<Snapshot> {
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_log").fetch_one(store.pool()).await?;
    let last = audit::tail(store, 1).await?.pop();
    let head = AuditHead {
        rows,
        head_seq: last.as_ref().map_or(0, |r| r.seq),
        head_hash: last.map_or_else(|| audit::GENESIS_HASH.to_owned(), |r| r.hash),
        key_id: String::new(),
    };
    Ok(Snapshot { database: None, schema_version: store.schema_version().await?, head, recordings: store.all_recordings().await? })
}

/// The key files and configuration, with where each is now.
fn key_files(ctx: &Context, config: &Path) -> Vec<(Role, std::path::PathBuf)> {
    let c = &ctx.config;
    let mut host_pub = c.ssh.host_key.as_os_str().to_owned();
    host_pub.push(".pub");
    let mut files = vec![
        (Role::Config, config.to_path_buf()),
        (Role::VaultKey, c.vault.key_file.clone()),
        (Role::AuditKey, c.audit.signing_key.clone()),
        (Role::TokenKey, c.web.token_key.clone()),
        (Role::HostKey, c.ssh.host_key.clone()),
        (Role::TlsCert, c.web.tls_cert.clone()),
        (Role::TlsKey, c.web.tls_key.clone()),
    ];
    let host_pub = std::path::PathBuf::from(host_pub);
    if host_pub.exists() {
        files.push((Role::HostKeyPub, host_pub));
    }
    if let Some(secret) = c.oidc.as_ref().and_then(|o| o.client_secret_file.clone()) {
        files.push((Role::OidcClientSecret, secret));
    }
    files
}

/// One recording's entry; with `copy`, a sealed recording is copied into the backup from
/// where it is kept now (this node's disk, or the bucket once uploaded) when what it reads
/// still matches the sealed hash.
async fn recording_entry(recstore: &RecStore, r: &RecordingRecord, out: &Path, copy: bool) -> anyhow::Result<RecordingEntry> {
    let mut e = RecordingEntry {
        id: r.id,
        session: r.session_id.0,
        channel: r.channel,
        kind: r.kind.clone(),
        sha256: r.sha256.clone(),
        bytes: r.bytes,
        location: match (r.retained.as_deref(), &r.object_key) {
            (None, Some(key)) => Some(recstore.object_url(key)),
            _ => r.current_path().map(str::to_owned),
        },
        state: match (r.retained.as_deref(), &r.sha256) {
            (Some("deleted"), _) => RecordingState::Deleted,
            (Some(_), _) => RecordingState::Archived,
            (None, None) => RecordingState::Unsealed,
            (None, Some(_)) => RecordingState::Sealed,
        },
        copied: None,
    };
    if !copy || e.state != RecordingState::Sealed {
        return Ok(e);
    }
    let ext = Path::new(&r.path).extension().and_then(|x| x.to_str()).unwrap_or("bin");
    let rel = format!("recordings/{}/{}.{ext}", r.session_id, r.channel);
    let dest = out.join(&rel);
    match copy_recording(recstore, r, &dest).await {
        Ok((sha, _)) if Some(&sha) == r.sha256.as_ref() => e.copied = Some(rel),
        Ok(_) => {
            std::fs::remove_file(&dest).with_context(|| format!("removing {}", dest.display()))?;
            eprintln!("warning: recording {} of session {} no longer matches its sealed hash; not copied (see `portcullis session verify {}`)", r.channel, r.session_id, r.session_id);
            e.state = RecordingState::Altered;
        }
        Err(err) => {
            eprintln!("warning: recording {} of session {} cannot be read: {err:#}", r.channel, r.session_id);
            e.state = RecordingState::Missing;
        }
    }
    Ok(e)
}

/// Copies recording `r`, read where it is kept now, to `dest` (0600); its SHA-256 and length.
async fn copy_recording(recstore: &RecStore, r: &RecordingRecord, dest: &Path) -> anyhow::Result<(String, u64)> {
    let mut opened = recstore.open(r).await?;
    let file = backupset::create_private(dest)?;
    let mut file = tokio::fs::File::from_std(file);
    tokio::io::copy(&mut opened.reader, &mut file).await.with_context(|| format!("copying {} to {}", opened.place, dest.display()))?;
    file.sync_all().await.with_context(|| format!("writing {}", dest.display()))?;
    backupset::hash_file(dest)
}

fn backend_name(b: Backend) -> &'static str {
    match b {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// The `pg_dump` command for the database at `url`, writing into `out`. The password, if the
/// URL holds one, is never printed: `pg_dump` takes it from `PGPASSWORD` or `~/.pgpass`.
pub fn pg_dump_command(url: &str, out: &Path) -> String {
    let shown = without_password(url);
    format!("pg_dump --format=custom --no-owner --file={} '{}'", out.join("portcullis.pgdump").display(), shown)
}

/// `url` with the password of its user-info part removed.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (a, h),
        None => return url.to_owned(),
    };
    let user = auth.split_once(':').map_or(auth, |(u, _)| u);
    format!("{scheme}://{user}@{host}")
}

fn report(m: &Manifest, out: &Path, manifest_sha256: &str, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(&json!({
            "output": out.display().to_string(),
            "backend": m.backend,
            "manifest_sha256": manifest_sha256,
            "schema_version": m.schema_version,
            "audit": m.audit,
            "files": m.files.len(),
            "recordings": m.recordings.len(),
            "recordings_copied": m.recordings.iter().filter(|r| r.copied.is_some()).count(),
            "pg_dump": m.pg_dump,
        }));
    }
    let copied = m.recordings.iter().filter(|r| r.copied.is_some()).count();
    let mut text = format!(
        "backup written to {}\n  audit head:  row {} ({})\n  schema:      version {}\n  files:       {}\n  recordings:  {} listed, {copied} copied\n  manifest:    sha256 {manifest_sha256}\n",
        out.display(),
        m.audit.head_seq,
        m.audit.head_hash,
        m.schema_version,
        m.files.len(),
        m.recordings.len(),
    );
    if let Some(cmd) = &m.pg_dump {
        text.push_str(&format!(
            "\nThe database is PostgreSQL: this command does not dump it. Dump it now with\n  {cmd}\n(restore: createdb, then pg_restore --no-owner --dbname=URL portcullis.pgdump)\n"
        ));
    }
    output::print(&text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pg_dump_command_never_shows_the_password() {
        let cmd = pg_dump_command("postgres://portcullis:s3cret@db.example:5432/portcullis?sslmode=require", Path::new("/b"));
        assert_eq!(cmd, "pg_dump --format=custom --no-owner --file=/b/portcullis.pgdump 'postgres://portcullis@db.example:5432/portcullis?sslmode=require'");
        assert!(!cmd.contains("s3cret"));
        assert_eq!(without_password("postgres://db/portcullis"), "postgres://db/portcullis");
    }
}
