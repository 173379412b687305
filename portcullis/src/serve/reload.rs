//! SIGHUP: a node re-reads its configuration file and puts the web listener's TLS certificate
//! and the `[policy]` and `[maintenance]` sections in force, without dropping a session or a connection (new TLS
//! handshakes get the new certificate, open ones keep theirs; decisions after the reload use
//! the new policy). Everything is loaded and checked first and applied only as a whole: a
//! configuration, certificate or key that does not load is refused, logged, audited as
//! `node.reload_refused`, and the certificate and policy in force stay. An applied reload is
//! audited as `node.reloaded`. Other settings need a restart.

use anyhow::Context as _;
use portcullis_core::audit::{Event, Kind, Subject};
use portcullis_core::{Config, Context};
use portcullis_web::{TlsCert, TlsFiles, TlsPair};
use serde_json::json;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

/// The files of the web certificate a configuration names.
pub fn tls_files(config: &Config) -> TlsFiles {
    TlsFiles { cert_pem: config.web.tls_cert.clone(), key_pem: config.web.tls_key.clone() }
}

/// Reloads on every SIGHUP until `shutdown`.
pub async fn run(config: PathBuf, ctx: Context, tls: TlsCert, shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut hup = match signal(SignalKind::hangup()) {
            Ok(hup) => hup,
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGHUP; reloading needs a restart");
                return;
            }
        };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                got = hup.recv() => if got.is_none() { return },
            }
            reload(&config, &ctx, &tls).await;
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (config, ctx, tls);
        shutdown.cancelled().await;
    }
}

/// One reload: load and check, then apply both or neither, then audit the outcome.
pub async fn reload(config: &Path, ctx: &Context, tls: &TlsCert) {
    let node = ctx.sessions.node().to_string();
    let event = match prepare(config, ctx, tls).await {
        Ok((cfg, pair)) => {
            let sha = pair.sha256();
            tls.put(pair);
            ctx.approvals.policy().replace(cfg.policy.clone(), cfg.windows.clone());
            tracing::info!(certificate_sha256 = %sha, "SIGHUP: reloaded the web certificate, the policy and the maintenance windows");
            Event::new("system", Kind::NodeReloaded, Subject::System, json!({ "node": node, "certificate_sha256": sha }))
        }
        Err(e) => {
            let error = format!("{e:#}");
            tracing::error!(%error, "SIGHUP: reload refused; the certificate and policy in force stay");
            Event::new("system", Kind::NodeReloadRefused, Subject::System, json!({ "node": node, "error": error }))
        }
    };
    if let Err(e) = ctx.audit.record(event).await {
        tracing::warn!(error = %e, "cannot audit the reload");
    }
}

/// Reads the configuration (file, then environment, fully checked) and the certificate it
/// names, changing nothing. The new policy must also hold with the settings that stay in force
/// until a restart (the `[approval]` window length).
async fn prepare(config: &Path, ctx: &Context, tls: &TlsCert) -> anyhow::Result<(Config, TlsPair)> {
    let cfg = Config::load(config).with_context(|| format!("cannot load the configuration {}", config.display()))?;
    let (default, max) = (ctx.config.approval.default_minutes, cfg.policy.max_minutes);
    anyhow::ensure!(default <= max, "policy.max_minutes ({max}) is below approval.default_minutes in force ({default}; a restart applies a new one)");
    let pair = tls.check(&tls_files(&cfg)).await.context("the web certificate")?;
    Ok((cfg, pair))
}
