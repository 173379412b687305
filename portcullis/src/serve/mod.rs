//! `portcullis serve`: one broker node. It opens the services, raises its open-file limit
//! ([`fdlimit`]), closes the sessions it left
//! open if it was killed last time (`Sessions::close_left_open`), binds the SSH and HTTPS
//! listeners, announces their addresses on standard output (`ssh listening on ADDR`, `web
//! listening on ADDR`: tests bind port 0 and read these lines), and, unless `[metrics]` turns
//! it off, binds the Prometheus listener ([`metrics`], `metrics listening on ADDR`), then runs
//! the change feed,
//! the backlog of writes that wait for the store, housekeeping, the approvers' notifier (when
//! `[notify]` configures a channel), the SIEM exporter (one task per `[[export.sinks]]`
//! entry), the broker and the web page until SIGINT/SIGTERM or until one of them fails.
//! SIGHUP re-reads the web certificate, the policy and the maintenance windows ([`reload`]).
//! Every task is on one `TaskTracker` and watches one `CancellationToken`; draining is
//! bounded by a grace timeout, and a final audit checkpoint is signed on the way out.

mod fdlimit;
mod housekeeping;
mod metrics;
pub mod reload;
mod scrape;
mod services;

use crate::output;
use anyhow::Context as _;
use portcullis_core::export::Exporter;
use portcullis_core::notify::Notifier;
use portcullis_core::{feed, Context};
use portcullis_web::TlsCert;
use russh::keys::PrivateKey;
use std::path::Path;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How long running sessions and requests get to finish after shutdown begins.
pub const DRAIN_GRACE: Duration = Duration::from_secs(15);

/// The node's bound listeners.
pub struct Listeners {
    pub ssh: TcpListener,
    pub web: TcpListener,
}

impl Listeners {
    /// Binds the addresses of the configuration (port 0 picks a free port).
    pub async fn bind(ctx: &Context) -> anyhow::Result<Listeners> {
        let (ssh_addr, web_addr) = (ctx.config.ssh.listen, ctx.config.web.listen);
        let ssh = TcpListener::bind(ssh_addr).await.with_context(|| format!("cannot listen for SSH on {ssh_addr}"))?;
        let web = TcpListener::bind(web_addr).await.with_context(|| format!("cannot listen for HTTPS on {web_addr}"))?;
        Ok(Listeners { ssh, web })
    }

    /// Prints (and flushes) the two `… listening on ADDR` lines, or with `json` one
    /// `{"listening": "ssh", "address": "…"}` line for each.
    pub fn announce(&self, json: bool) -> anyhow::Result<()> {
        for (what, addr) in [("ssh", self.ssh.local_addr()?), ("web", self.web.local_addr()?)] {
            announce(what, addr, json)?;
        }
        Ok(())
    }
}

/// Prints (and flushes) `WHAT listening on ADDR`, or its JSON form.
fn announce(what: &str, addr: std::net::SocketAddr, json: bool) -> anyhow::Result<()> {
    if json {
        output::line(&serde_json::json!({ "listening": what, "address": addr.to_string() }).to_string())?;
    } else {
        output::line(&format!("{what} listening on {addr}"))?;
    }
    Ok(())
}

/// Runs `serve`.
pub async fn run(config: &Path, json: bool) -> anyhow::Result<()> {
    crate::logging::init("info");
    let ctx = crate::open::open(config).await?;
    fdlimit::raise_for(ctx.config.ssh.max_sessions, ctx.config.ssh.max_unauthenticated);
    close_left_open(&ctx).await?;
    check_recording_bucket(&ctx).await?;
    let host_key = load_host_key(&ctx)?;
    ctx.config.notify.check().context("notifications ([notify])")?;
    let tls = load_tls(&ctx).await?;
    let listeners = Listeners::bind(&ctx).await?;
    listeners.announce(json)?;
    let shutdown = crate::shutdown::on_signals_draining(Some((ctx.drain.clone(), ctx.config.node.drain_timeout.0)));
    let tracker = TaskTracker::new();
    tracker.spawn(reload::run(config.to_path_buf(), ctx.clone(), tls.clone(), shutdown.clone()));
    if ctx.config.metrics.enabled {
        let addr = ctx.config.metrics.listen;
        let listener = TcpListener::bind(addr).await.with_context(|| format!("cannot listen for metrics on {addr}"))?;
        announce("metrics", listener.local_addr()?, json)?;
        let channels = Notifier::from_config(&ctx.config, ctx.store.clone(), ctx.audit.clone()).context("notifications ([notify])")?.map(|n| n.channels()).unwrap_or_default();
        let sinks = metrics::sinks(&ctx, &channels);
        tracker.spawn(metrics::run(listener, ctx.clone(), sinks, shutdown.clone()));
    }
    run_node(ctx, host_key, listeners, tls, shutdown, tracker).await
}

/// Loads the web listener's certificate and key named by the configuration.
pub async fn load_tls(ctx: &Context) -> anyhow::Result<TlsCert> {
    let files = reload::tls_files(&ctx.config);
    TlsCert::load(&files).await.with_context(|| format!("cannot load the web certificate {} and key {}", files.cert_pem.display(), files.key_pem.display()))
}

/// Closes the sessions this node left open when it last stopped without finishing them
/// (killed, power lost), before anything is accepted; a store that cannot be written stops
/// the start (fail closed).
async fn close_left_open(ctx: &Context) -> anyhow::Result<()> {
    let node = ctx.sessions.node().clone();
    let closed = ctx.sessions.close_left_open().await.with_context(|| format!("cannot close the sessions node {node} left open"))?;
    if !closed.sessions.is_empty() {
        let ids: Vec<String> = closed.sessions.iter().map(ToString::to_string).collect();
        tracing::warn!(%node, sessions = %ids.join(","), sealed = closed.sealed, missing = closed.missing, "closed the sessions this node left open as `node crashed`");
    }
    Ok(())
}

/// With `[recording] store = "s3"`, checks the bucket before anything is accepted: a refused
/// key or a missing bucket stops the start with the reason; a bucket that does not answer is
/// only warned about (recordings stay local and are uploaded once it does).
async fn check_recording_bucket(ctx: &Context) -> anyhow::Result<()> {
    if !ctx.recstore.has_bucket() {
        return Ok(());
    }
    match ctx.recstore.probe().await {
        Ok(()) => {
            tracing::info!(bucket = %ctx.recstore.describe(), "sealed recordings go to the bucket");
            Ok(())
        }
        Err(e @ portcullis_core::recstore::RecStoreError::Unreachable(_)) => {
            tracing::warn!(error = %e, "the recording bucket does not answer; recordings stay local until it does");
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!("{e}")).context("cannot use the recording bucket ([recording.s3])"),
    }
}

/// Loads the broker's SSH host key named by the configuration.
pub fn load_host_key(ctx: &Context) -> anyhow::Result<PrivateKey> {
    let path = &ctx.config.ssh.host_key;
    russh::keys::load_secret_key(path, None).with_context(|| format!("cannot load the SSH host key {}", path.display()))
}

/// Runs the node's tasks on `tracker` (which may already hold others, such as the demo's
/// simulated device) until `shutdown` is cancelled or the broker or web page stops; then
/// cancels everything, drains within [`DRAIN_GRACE`] and signs a last checkpoint.
pub async fn run_node(
    ctx: Context,
    host_key: PrivateKey,
    listeners: Listeners,
    tls: TlsCert,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) -> anyhow::Result<()> {
    let notifier = Notifier::from_config(&ctx.config, ctx.store.clone(), ctx.audit.clone()).context("notifications ([notify])")?;
    let exporter = Exporter::from_config(&ctx.config, ctx.store.clone()).context("SIEM export ([export])")?;
    let lease = lease_settings(&ctx, &listeners)?;
    ctx.lease.register(&ctx.store, &lease).await.with_context(|| format!("cannot register the lease of node {}", lease.node))?;
    tracker.spawn(portcullis_core::lease::run(ctx.lease.clone(), ctx.store.clone(), ctx.sessions.clone(), lease, shutdown.clone()));
    let feed = ctx.audit.feed().clone();
    let changes = feed.subscribe();
    let feed_task = feed::spawn(ctx.store.clone(), feed, ctx.config.store.url.clone(), ctx.config.store.min_free_mib, ctx.config.session.control_poll.0, shutdown.clone());
    tracker.spawn(async move {
        if let Err(e) = feed_task.await {
            tracing::warn!(error = %e, "change feed task failed");
        }
    });
    tracker.spawn(housekeeping::run(ctx.clone(), shutdown.clone()));
    // Break-glass: overdue reviews escalated, ended sessions' evidence bundles written.
    tracker.spawn(portcullis_core::breakglass::tasks::run(ctx.breakglass.clone(), ctx.recstore.clone(), shutdown.clone()));
    // Session ends and recording seals that met a store that did not answer.
    tracker.spawn(ctx.backlog.clone().run(shutdown.clone()));
    // Sealed recordings to the bucket, with `[recording] store = "s3"`.
    let uploader = portcullis_core::recstore::Uploader::new(ctx.store.clone(), ctx.audit.clone(), ctx.recstore.clone(), ctx.sessions.node().clone());
    tracker.spawn(uploader.run(shutdown.clone()));
    if let Some(notifier) = notifier {
        tracing::info!(channels = ?notifier.channels(), "notifying approvers of new requests");
        tracker.spawn(notifier.run(changes.clone(), shutdown.clone()));
    }
    if let Some(exporter) = exporter {
        tracing::info!(sinks = ?exporter.sinks(), "exporting the audit log");
        tracker.spawn(exporter.run(changes.clone(), shutdown.clone()));
    }
    let mut broker = tracker.spawn(services::run_broker(listeners.ssh, ctx.clone(), host_key, changes, shutdown.clone()));
    let mut web = tracker.spawn(services::run_web(listeners.web, ctx.clone(), tls, shutdown.clone()));
    tracker.close();

    // Biased: when shutdown was asked for, the services ending is the expected outcome.
    let outcome = tokio::select! {
        biased;
        _ = shutdown.cancelled() => Ok(()),
        ended = &mut broker => stopped("the SSH broker", ended, &shutdown),
        ended = &mut web => stopped("the web page", ended, &shutdown),
    };
    shutdown.cancel();
    let drained = tokio::time::timeout(DRAIN_GRACE, tracker.wait()).await.is_ok();
    if !drained {
        tracing::warn!(grace = ?DRAIN_GRACE, "some tasks did not finish in time");
    }
    if let Err(e) = ctx.audit.checkpoint().await {
        tracing::warn!(error = %e, "cannot sign the final audit checkpoint");
    }
    if drained {
        // Given up only when every session of the node is closed in the store; otherwise it
        // runs out and a surviving node closes them.
        match ctx.lease.release(&ctx.store, ctx.sessions.node()).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!("sessions of this node are still open in the store; its lease is kept, so that another node closes them once it runs out"),
            Err(e) => tracing::warn!(error = %e, "cannot give up this node's lease"),
        }
        // Waits for pooled connections to come back, so only once every task is done.
        ctx.store.close().await;
    }
    outcome
}

/// The node's lease: its id, the address of its web listener as other nodes reach it
/// (`node.web_url`, by default the bound address), the heartbeat and the lease.
fn lease_settings(ctx: &Context, listeners: &Listeners) -> anyhow::Result<portcullis_core::lease::LeaseSettings> {
    let web = listeners.web.local_addr()?;
    Ok(portcullis_core::lease::LeaseSettings {
        node: ctx.sessions.node().clone(),
        web_url: if ctx.config.node.web_url.is_empty() { format!("https://{web}") } else { ctx.config.node.web_url.clone() },
        heartbeat: ctx.config.node.heartbeat.0,
        lease: ctx.config.node.lease.0,
    })
}

/// A service that stopped before shutdown was asked for is an error, even if it said Ok.
fn stopped(what: &str, ended: Result<anyhow::Result<()>, tokio::task::JoinError>, shutdown: &CancellationToken) -> anyhow::Result<()> {
    match ended {
        Ok(Ok(())) if shutdown.is_cancelled() => Ok(()),
        Ok(Ok(())) => anyhow::bail!("{what} stopped unexpectedly"),
        Ok(Err(e)) => Err(e),
        Err(e) => Err(anyhow::anyhow!("{what} task failed: {e}")),
    }
}
