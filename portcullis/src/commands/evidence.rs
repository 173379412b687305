//! `portcullis evidence …`: export one session as a signed bundle (`.tar.gz`), and verify a
//! bundle offline. `verify` opens no configuration and no database; it exits 1 listing every
//! failure, and says whether the signing key was pinned or only self-consistent.

use crate::caller::cli_actor;
use crate::output;
use anyhow::Context as _;
use base64::Engine;
use portcullis_core::audit::{Event, Kind, Subject};
use portcullis_core::domain::SessionId;
use portcullis_core::evidence::{self, BundleReport, KeyPin};
use portcullis_core::Context;
use serde::Serialize;
use std::io::Write as _;
use std::path::Path;

/// What `export --json` prints.
#[derive(Debug, Serialize)]
struct Exported<'a> {
    session_id: SessionId,
    output: String,
    files: usize,
    bytes: u64,
    key_id: &'a str,
}

/// Builds the bundle and writes it (to a temporary name, renamed when complete). A recording
/// that no longer matches its sealed hash is named loudly on stderr and refuses the export,
/// unless `allow_altered`, when the bundle's manifest names it too.
pub async fn export(ctx: &Context, session: SessionId, output: &Path, allow_altered: bool, json: crate::cli::JsonFlag) -> anyhow::Result<()> {
    let altered = evidence::altered_recordings(&ctx.store, &ctx.recstore, session).await.with_context(|| format!("cannot check the recordings of session {session}"))?;
    for a in &altered {
        eprintln!("WARNING: session {session}: {a}");
    }
    if !altered.is_empty() && !allow_altered {
        anyhow::bail!(
            "refusing to export session {session}: {} recording(s) no longer match the SHA-256 sealed in the audit log; \
             run `portcullis session verify {session}`, or export anyway with --allow-altered (the bundle will say so)",
            altered.len()
        );
    }
    let mut bundle = evidence::build(&ctx.store, &ctx.recstore, &ctx.audit, session).await.with_context(|| format!("cannot build the bundle of session {session}"))?;
    bundle.altered = altered;
    let files = bundle.member_count();
    let partial = output.with_extension("partial");
    let file = std::fs::File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let signer = ctx.audit.signer().clone();
    // Recordings are read while the archive is written: blocking work, off the runtime.
    let written = tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::new(file);
        evidence::write_bundle(&bundle, &signer, portcullis_core::clock::now_ms(), &mut out)?;
        out.flush().map_err(|e| evidence::EvidenceError::Archive(e.to_string()))
    })
    .await
    .context("the export task failed")?;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e).with_context(|| format!("cannot write {}", partial.display()));
    }
    // Who took a copy of which recordings is on the record, as for a download from the page,
    // before the bundle is put where it was asked for: if the row cannot be written, the
    // partial file is removed and no bundle is left behind.
    let bytes = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    let path = partial.clone();
    let (sha256, _) = tokio::task::spawn_blocking(move || portcullis_recorder::sha256_file(&path))
        .await
        .context("the hashing task failed")?
        .with_context(|| format!("cannot read back {}", partial.display()))?;
    let about = ctx.store.session(session).await.ok().flatten();
    let detail = serde_json::json!({
        "via": "cli", "files": files, "bytes": bytes, "sha256": sha256, "output": output.display().to_string(),
        "device": about.as_ref().map(|s| s.device.to_string()), "zone": about.as_ref().map(|s| s.zone.clone()),
    });
    if let Err(e) = ctx.audit.record(Event::new(cli_actor(), Kind::EvidenceExported, Subject::Session(session), detail)).await {
        let _ = std::fs::remove_file(&partial);
        return Err(e).context("the export cannot be audited, so no bundle was written");
    }
    std::fs::rename(&partial, output).with_context(|| format!("cannot move the bundle to {}", output.display()))?;
    let shown = Exported { session_id: session, output: output.display().to_string(), files, bytes, key_id: ctx.audit.signer().key_id() };
    if json.json {
        return output::json(&shown);
    }
    output::line(&format!(
        "wrote {} ({} files, {} bytes) for session {session}, signed with audit key {}",
        shown.output, files, bytes, shown.key_id
    ))?;
    Ok(())
}

/// Verifies a bundle file offline.
pub fn verify(file: &Path, public_key: Option<&Path>, key_id: Option<String>, json: crate::cli::JsonFlag) -> anyhow::Result<()> {
    let pin = match (public_key, key_id) {
        (Some(p), _) => Some(KeyPin::PublicKey(read_public_key(p)?)),
        (None, Some(id)) => Some(KeyPin::KeyId(id)),
        (None, None) => None,
    };
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    // Recordings are hashed as they are read, never held: memory stays small for any bundle.
    let report = match evidence::scan_archive(std::io::BufReader::new(f)) {
        Ok(members) => evidence::verify_scanned(&members, pin.as_ref()),
        Err(e) => BundleReport { failures: vec![format!("{}: {e}", file.display())], key_pinned: pin.is_some(), ..BundleReport::default() },
    };
    if json.json {
        output::json(&report)?;
    } else {
        output::print(&report_text(&report))?;
    }
    if report.ok {
        Ok(())
    } else {
        anyhow::bail!("the evidence bundle does not verify ({} problems)", report.failures.len())
    }
}

/// Reads a raw Ed25519 public key written as base64 (surrounding whitespace ignored).
fn read_public_key(path: &Path) -> anyhow::Result<Vec<u8>> {
    let text = crate::caller::read_arg_file(path, "the public key")?;
    let key = base64::engine::general_purpose::STANDARD.decode(text.trim()).with_context(|| format!("{}: not base64", path.display()))?;
    anyhow::ensure!(key.len() == 32, "{}: not an Ed25519 public key (expected 32 bytes, got {})", path.display(), key.len());
    Ok(key)
}

/// The human-readable verdict.
fn report_text(r: &BundleReport) -> String {
    let key = r.key_id.as_deref().unwrap_or("?");
    let mut text = String::new();
    if r.ok {
        text.push_str(&format!(
            "evidence bundle OK: session {}, {} files, {} audit rows up to the signed checkpoint at row {}, {} recordings match their sealed hashes\n",
            r.session_id.map_or_else(|| "?".into(), |s| s.to_string()),
            r.files,
            r.audit_rows,
            r.checkpoint_seq.map_or_else(|| "?".into(), |s| s.to_string()),
            r.recordings_verified
        ));
    } else {
        text.push_str(&format!("evidence bundle FAILED ({} problems):\n", r.failures.len()));
        for f in &r.failures {
            text.push_str(&format!("  - {f}\n"));
        }
    }
    for n in &r.notes {
        text.push_str(&format!("  note: {n}\n"));
    }
    if r.key_pinned {
        text.push_str(&format!("signing key {key} checked against the pinned key\n"));
    } else {
        text.push_str(&format!(
            "signing key {key} was NOT pinned: the signatures are only self-consistent; pass --public-key or --key-id to tie them to your audit key\n"
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpinned_verdict_says_so() {
        let r = BundleReport { ok: true, key_id: Some("abcd".into()), session_id: Some(3), ..BundleReport::default() };
        let t = report_text(&r);
        assert!(t.starts_with("evidence bundle OK: session 3"));
        assert!(t.contains("abcd was NOT pinned"));
        let bad = BundleReport { ok: false, failures: vec!["manifest signature invalid".into()], key_pinned: true, ..r };
        let t = report_text(&bad);
        assert!(t.contains("FAILED (1 problems)") && t.contains("  - manifest signature invalid") && t.contains("checked against the pinned key"));
    }
}
