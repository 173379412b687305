//! `portcullis restore --from BACKUP --data NEWDIR`: makes a new data folder from a backup,
//! trusting nothing in the backup until it is checked. In order: the target must be new or
//! empty; the manifest's signature must verify with the backup's audit key; every file the
//! manifest lists must be there with its SHA-256 (database, key files, configuration,
//! copied recordings); only then are the files copied (0600) into the layout `init` makes and
//! the configuration rewritten to point at them. The restored database is opened (older
//! schemas are migrated forward), must hold the manifest's audit head with the same hash, and
//! must pass `audit verify`. Copied recordings are pointed at their new place and checked
//! against the hash sealed in the audit log; that move and the restore itself are one
//! `backup.restored` row. Any failure removes what was written, and exits 1 saying why.
//!
//! A PostgreSQL backup holds no database: restore it with `pg_restore` first and give its URL
//! with `--store-url`.

use crate::backupset::{self, FileEntry, Manifest, Role};
use crate::output;
use anyhow::Context as _;
use portcullis_core::audit::{self, AuditSigner, Event, Kind, Subject};
use portcullis_core::evidence::integrity::{self, RecordingStatus};
use portcullis_core::domain::SessionId;
use portcullis_core::{Config, Context};
use serde_json::json;
use std::path::{Path, PathBuf};

/// What `restore` was asked for.
pub struct RestoreInput<'a> {
    pub from: &'a Path,
    pub data: &'a Path,
    /// The PostgreSQL database `pg_restore` filled (PostgreSQL backups only).
    pub store_url: Option<&'a str>,
    pub json: bool,
}

/// Runs `restore`.
pub async fn run(input: RestoreInput<'_>) -> anyhow::Result<()> {
    let from = std::path::absolute(input.from).with_context(|| format!("resolving {}", input.from.display()))?;
    let data = std::path::absolute(input.data).with_context(|| format!("resolving {}", input.data.display()))?;
    let (manifest, manifest_sha256) = checked_manifest(&from)?;
    let store_url = match (manifest.backend.as_str(), input.store_url) {
        ("sqlite", None) => format!("sqlite://{}", data.join(backupset::DATABASE).display()),
        ("sqlite", Some(_)) => anyhow::bail!("this is a SQLite backup: it restores into the new data folder; --store-url is for PostgreSQL backups"),
        ("postgres", Some(url)) => url.to_owned(),
        ("postgres", None) => anyhow::bail!(
            "this backup is of a PostgreSQL database, which it does not hold: restore the dump with pg_restore into a new database first, then give that database with --store-url"
        ),
        (other, _) => anyhow::bail!("the manifest names an unknown database back end {other:?}"),
    };
    let existed = data.exists();
    backupset::create_private_dir(&data)?;
    match restore_into(&from, &data, &manifest, &manifest_sha256, &store_url).await {
        Ok(done) => report(&done, &data, input.json),
        Err(e) => {
            if let Err(cleanup) = clear(&data, existed) {
                eprintln!("warning: could not remove the partial restore in {}: {cleanup:#}", data.display());
            }
            Err(e.context(format!("restore refused; nothing was kept in {}", data.display())))
        }
    }
}

/// Reads the manifest and checks it before anything else is read: its signature by the
/// backup's audit key, its format, and every file it lists with its SHA-256 and size.
fn checked_manifest(from: &Path) -> anyhow::Result<(Manifest, String)> {
    let read = |name: &str| std::fs::read(from.join(name)).with_context(|| format!("{} is not a Portcullis backup: cannot read {name}", from.display()));
    let bytes = read(backupset::MANIFEST)?;
    let signature = String::from_utf8(read(backupset::SIGNATURE)?).unwrap_or_default();
    let key = std::fs::read(from.join(Role::AuditKey.path())).with_context(|| format!("the backup has no audit key ({})", Role::AuditKey.path()))?;
    let signer = AuditSigner::from_pkcs8(&key).context("the backup's audit key is not an Ed25519 key")?;
    anyhow::ensure!(
        audit::ed25519_verifies(&signer.public_key(), &bytes, signature.trim()),
        "the manifest's signature does not verify with the backup's audit key: the manifest or the key was changed after the backup"
    );
    let manifest: Manifest = serde_json::from_slice(&bytes).context("the manifest is not valid")?;
    anyhow::ensure!(manifest.format == backupset::FORMAT, "manifest format {} is not known to this binary (it knows {})", manifest.format, backupset::FORMAT);
    anyhow::ensure!(manifest.audit.key_id == signer.key_id(), "the manifest names audit key {}, the backup holds {}", manifest.audit.key_id, signer.key_id());
    let mut needed = vec![Role::Config, Role::VaultKey, Role::AuditKey, Role::TokenKey, Role::HostKey, Role::TlsCert, Role::TlsKey];
    if manifest.backend == "sqlite" {
        needed.push(Role::Database);
    }
    for role in needed {
        anyhow::ensure!(manifest.file(role).is_some(), "the backup lacks its {} ({})", role_name(role), role.path());
    }
    for f in &manifest.files {
        anyhow::ensure!(f.path == f.role.path(), "the manifest puts the {} at {:?}, not {:?}", role_name(f.role), f.path, f.role.path());
        check_file(from, &f.path, &f.sha256, f.bytes, role_name(f.role))?;
    }
    for r in &manifest.recordings {
        if let Some(rel) = &r.copied {
            let sealed = r.sha256.as_deref().with_context(|| format!("recording {} of session {} is copied but has no sealed hash", r.channel, r.session))?;
            let bytes = r.bytes.and_then(|b| u64::try_from(b).ok()).unwrap_or_default();
            check_file(from, rel, sealed, bytes, &format!("recording {} of session {}", r.channel, r.session))?;
        }
    }
    Ok((manifest, portcullis_core::evidence::sha256_hex(&bytes)))
}

/// `rel` in `dir` must have `sha256` and `bytes`.
fn check_file(dir: &Path, rel: &str, sha256: &str, bytes: u64, what: &str) -> anyhow::Result<()> {
    let path = backupset::inside(dir, rel)?;
    let (actual, size) = backupset::hash_file(&path).with_context(|| format!("the backup's {what} is missing"))?;
    anyhow::ensure!(
        actual == sha256 && size == bytes,
        "the backup's {what} ({rel}) does not match the manifest: SHA-256 {actual} ({size} bytes), the manifest says {sha256} ({bytes} bytes)"
    );
    Ok(())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Config => "configuration",
        Role::Database => "database",
        Role::VaultKey => "vault key",
        Role::AuditKey => "audit signing key",
        Role::TokenKey => "web token key",
        Role::HostKey => "SSH host key",
        Role::HostKeyPub => "SSH host public key",
        Role::TlsCert => "TLS certificate",
        Role::TlsKey => "TLS key",
        Role::OidcClientSecret => "OpenID client secret",
    }
}

/// What a restore did.
struct Restored {
    audit_rows: i64,
    head_seq: i64,
    schema_from: i64,
    schema_now: i64,
    recordings: usize,
}

async fn restore_into(from: &Path, data: &Path, m: &Manifest, manifest_sha256: &str, store_url: &str) -> anyhow::Result<Restored> {
    for f in &m.files {
        if f.role != Role::Config {
            copy_checked(from, data, f)?;
        }
    }
    let recordings_dir = data.join("recordings");
    std::fs::create_dir_all(&recordings_dir).with_context(|| format!("creating {}", recordings_dir.display()))?;
    backupset::set_mode(&recordings_dir, 0o700)?;
    let mut moved = Vec::new();
    for r in m.recordings.iter().filter(|r| r.copied.is_some()) {
        let rel = r.copied.as_deref().unwrap_or_default();
        let to = backupset::inside(data, rel)?;
        backupset::copy_private(&backupset::inside(from, rel)?, &to)?;
        moved.push((r, to));
    }
    let config_text = restored_config(&std::fs::read_to_string(from.join(backupset::CONFIG)).context("reading the backup's configuration")?, store_url, m)?;
    let config_path = data.join(backupset::CONFIG);
    portcullis_core::keyfile::write_new(&config_path, config_text.as_bytes())?;
    // The restore opens exactly what it restored: no PORTCULLIS_* variable redirects it.
    let config = Config::from_parts(&config_text, &config_path, &[]).context("the restored configuration is invalid")?;
    let ctx = Context::open(config).await.context("cannot open the restored database and keys")?;
    let result = check_and_record(&ctx, m, manifest_sha256, &moved, from).await;
    ctx.store.close().await;
    result
}

/// Copies one listed file into the data folder and checks the copy's hash again.
fn copy_checked(from: &Path, data: &Path, f: &FileEntry) -> anyhow::Result<()> {
    let (sha256, _) = backupset::copy_private(&backupset::inside(from, &f.path)?, &backupset::inside(data, f.role.path())?)?;
    anyhow::ensure!(sha256 == f.sha256, "the {} changed while it was being restored", role_name(f.role));
    Ok(())
}

/// The backup's configuration with every file it names pointing into the new folder.
fn restored_config(text: &str, store_url: &str, m: &Manifest) -> anyhow::Result<String> {
    let mut t: toml::Table = toml::from_str(text).context("the backup's configuration is not valid TOML")?;
    let mut set = |section: &str, key: &str, value: &str| {
        let s = t.entry(section.to_owned()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(s) = s {
            s.insert(key.to_owned(), toml::Value::String(value.to_owned()));
        }
    };
    set("store", "url", store_url);
    set("ssh", "host_key", Role::HostKey.path());
    set("web", "tls_cert", Role::TlsCert.path());
    set("web", "tls_key", Role::TlsKey.path());
    set("web", "token_key", Role::TokenKey.path());
    set("vault", "key_file", Role::VaultKey.path());
    set("audit", "signing_key", Role::AuditKey.path());
    set("recording", "dir", "recordings");
    if m.file(Role::OidcClientSecret).is_some() {
        set("oidc", "client_secret_file", Role::OidcClientSecret.path());
    }
    let body = toml::to_string(&t).context("writing the restored configuration")?;
    Ok(format!(
        "# Portcullis configuration, restored by `portcullis restore` from a backup taken {} on node {}\n\
         # (portcullis {}). Relative paths are relative to this file's folder.\n\n{body}",
        m.created_at, m.node, m.portcullis_version
    ))
}

/// The restored database must hold the manifest's audit head and pass `audit verify`; then the
/// copied recordings are pointed at their new place with the `backup.restored` row, and each
/// must match the hash sealed in the log.
async fn check_and_record(ctx: &Context, m: &Manifest, manifest_sha256: &str, moved: &[(&backupset::RecordingEntry, PathBuf)], from: &Path) -> anyhow::Result<Restored> {
    let schema_now = ctx.store.schema_version().await?;
    let head = &m.audit;
    if head.head_seq > 0 {
        let row = audit::range(&ctx.store, head.head_seq, head.head_seq).await?.pop();
        anyhow::ensure!(
            row.as_ref().is_some_and(|r| r.hash == head.head_hash),
            "the restored database does not hold the audit head the manifest names (row {} with hash {})",
            head.head_seq,
            head.head_hash
        );
    }
    if m.backend == "sqlite" {
        let now = ctx.store.audit_head().await?;
        anyhow::ensure!(now == head.head_seq, "the restored database's audit log ends at row {now}, the manifest says {}", head.head_seq);
    }
    verified(ctx, "before the restore is recorded").await?;
    let mut w = ctx.audit.begin().await?;
    for (r, to) in moved {
        anyhow::ensure!(ctx.store.move_recording(&mut w, r.id, &to.display().to_string()).await?, "the restored database has no recording {} (session {})", r.id, r.session);
    }
    let detail = json!({
        "from": from.display().to_string(),
        "manifest_sha256": manifest_sha256,
        "taken_at": m.created_at,
        "taken_on": m.node,
        "taken_by_version": m.portcullis_version,
        "head_seq": head.head_seq,
        "head_hash": head.head_hash,
        "schema_from": m.schema_version,
        "schema_now": schema_now,
        "recordings_restored": moved.len(),
    });
    w.append(Event::new(crate::caller::cli_actor(), Kind::BackupRestored, Subject::System, detail)).await?;
    w.commit().await?;
    ctx.audit.checkpoint().await.context("signing the audit checkpoint")?;
    for (r, _) in moved {
        let check = integrity::check_recording(&ctx.store, &ctx.recstore, SessionId(r.session), r.channel).await?;
        let check = check.with_context(|| format!("recording {} of session {} is not in the restored database", r.channel, r.session))?;
        anyhow::ensure!(
            check.status == RecordingStatus::Intact,
            "recording {} of session {} does not match the hash sealed in the audit log: {}",
            r.channel,
            r.session,
            check.problem.unwrap_or_default()
        );
    }
    let report = verified(ctx, "after the restore").await?;
    Ok(Restored { audit_rows: report.rows, head_seq: head.head_seq, schema_from: m.schema_version, schema_now, recordings: moved.len() })
}

/// `audit verify` on the restored log; an error unless it passes.
async fn verified(ctx: &Context, when: &str) -> anyhow::Result<audit::VerifyReport> {
    let report = audit::verify(&ctx.store, ctx.audit.signer()).await?;
    anyhow::ensure!(
        report.ok,
        "the restored audit log does not verify ({when}): {}{}",
        report.problem.as_deref().unwrap_or("unknown problem"),
        report.first_bad_seq.map(|s| format!(" (first bad row: {s})")).unwrap_or_default()
    );
    Ok(report)
}

/// Removes what a failed restore wrote: the folder itself when the restore made it, else
/// its contents (it was empty before).
fn clear(dir: &Path, existed: bool) -> anyhow::Result<()> {
    if !existed {
        return std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()));
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path)?;
        } else {
            std::fs::remove_file(&path)?;
        }
    }
    Ok(())
}

fn report(done: &Restored, data: &Path, json: bool) -> anyhow::Result<()> {
    let config = data.join(backupset::CONFIG);
    if json {
        return output::json(&json!({
            "data_dir": data.display().to_string(),
            "config": config.display().to_string(),
            "audit_rows": done.audit_rows,
            "backup_head_seq": done.head_seq,
            "schema_from": done.schema_from,
            "schema_now": done.schema_now,
            "recordings_restored": done.recordings,
        }));
    }
    output::print(&format!(
        "restored into {}\n  audit log:   intact, {} rows (the backup's head was row {})\n  schema:      version {} (backup) -> {}\n  recordings:  {} restored and matching their sealed hashes\n\nStart it with:  portcullis serve --config {}\n",
        data.display(),
        done.audit_rows,
        done.head_seq,
        done.schema_from,
        done.schema_now,
        done.recordings,
        config.display()
    ))?;
    Ok(())
}
