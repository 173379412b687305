//! The two network services of a node, behind one small adapter so that `serve` and `demo`
//! depend on nothing else of the broker and web crates: the vendors' SSH broker and the
//! approvers' HTTPS page, each `run(listener, state, shutdown)`.

use anyhow::Context as _;
use portcullis_core::feed::ChangeRx;
use portcullis_core::Context;
use russh::keys::PrivateKey;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Runs the SSH broker until `shutdown`.
pub async fn run_broker(
    listener: TcpListener,
    ctx: Context,
    host_key: PrivateKey,
    changes: ChangeRx,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let broker = portcullis_broker::Broker::new(ctx, host_key, changes);
    portcullis_broker::run(listener, broker, shutdown).await.context("SSH broker")
}

/// Runs the HTTPS page until `shutdown`.
pub async fn run_web(listener: TcpListener, ctx: Context, tls: portcullis_web::TlsCert, shutdown: CancellationToken) -> anyhow::Result<()> {
    let web = &ctx.config.web;
    let keys = portcullis_web::auth::token::TokenKeys::load_or_create(&web.token_key, web.token_ttl.0).context("web token key")?;
    let mut state = portcullis_web::AppState::new(ctx.clone(), keys, "Portcullis".to_owned(), env!("CARGO_PKG_VERSION"));
    if let Some(oidc) = &ctx.config.oidc {
        let sso = portcullis_web::sso::Sso::new(oidc.clone()).map_err(anyhow::Error::msg).context("single sign-on ([oidc])")?;
        state = state.with_sso(sso);
    }
    portcullis_web::run(listener, tls, state, shutdown).await.context("web page")
}
