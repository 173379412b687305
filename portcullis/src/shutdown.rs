//! The shutdown signals of a running node. SIGINT (Ctrl-C) cancels at once a
//! `CancellationToken` that every long-running task watches. SIGTERM (systemd's stop, a
//! rolling restart) first drains the node ([`portcullis_core::drain`]): not ready, no new SSH
//! connection, vendors told; the token is cancelled when the last vendor connection has ended
//! or `node.drain_timeout` has passed, or at once on a second signal.

use portcullis_core::drain::Drain;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A token cancelled on SIGINT, or after the drain that SIGTERM starts.
pub fn on_signals() -> CancellationToken {
    on_signals_draining(None)
}

/// Like [`on_signals`]; with `drain`, SIGTERM drains for at most the duration given first.
pub fn on_signals_draining(drain: Option<(Drain, Duration)>) -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let which = wait_for_signal().await;
        if let (Some((drain, timeout)), "SIGTERM") = (drain, which) {
            tracing::info!(signal = which, timeout = %humantime::format_duration(timeout), connections = drain.open(), "draining before shutdown");
            drain.begin(which, timeout);
            tokio::select! {
                () = drain.settled(timeout) => {}
                again = wait_for_signal() => tracing::info!(signal = again, "second signal: not waiting for the drain"),
            }
        }
        tracing::info!(signal = which, "shutting down");
        cancel.cancel();
    });
    token
}

#[cfg(unix)]
async fn wait_for_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = tokio::signal::ctrl_c() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        Err(e) => {
            tracing::warn!(error = %e, "cannot watch SIGTERM; only Ctrl-C stops this process");
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> &'static str {
    let _ = tokio::signal::ctrl_c().await;
    "Ctrl-C"
}
