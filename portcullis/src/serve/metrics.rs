//! The metrics listener: plain HTTP, `GET /metrics` in the Prometheus text format, on its
//! own address (`[metrics] listen`, loopback by default) so that it is never exposed with
//! the vendors' SSH or the approvers' HTTPS page. Anything else answers 404.

use super::scrape::{self, Sink};
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::Router;
use portcullis_core::metrics::{self, SinkKind};
use portcullis_core::Context;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The delivery cursors of this configuration: each SIEM sink and notification channel.
pub fn sinks(ctx: &Context, notify_channels: &[&str]) -> Vec<Sink> {
    let mut out: Vec<Sink> = ctx.config.export.sinks.iter().map(|s| Sink { kind: SinkKind::Siem, cursor: portcullis_core::export::cursor_name(&s.name), name: s.name.clone() }).collect();
    out.extend(notify_channels.iter().map(|c| Sink { kind: SinkKind::Notify, cursor: (*c).to_owned(), name: (*c).to_owned() }));
    out
}

/// Serves `/metrics` until `shutdown`.
pub async fn run(listener: TcpListener, ctx: Context, sinks: Vec<Sink>, shutdown: CancellationToken) {
    let state = Arc::new((ctx, sinks));
    let app = Router::new().route(
        "/metrics",
        get(|axum::extract::State(s): axum::extract::State<Arc<(Context, Vec<Sink>)>>| async move {
            let (ctx, sinks) = &*s;
            metrics::get().set_recording_queue(i64::try_from(ctx.backlog.len()).unwrap_or(i64::MAX));
            let body = scrape::scrape(metrics::get(), &ctx.store, ctx.sessions.node().as_str(), sinks, &ctx.lease).await;
            ([(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
        }),
    );
    let app = app.with_state(state);
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown.cancelled_owned()).await {
        tracing::warn!(error = %e, "metrics listener failed");
    }
}
