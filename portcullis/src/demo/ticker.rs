//! What the demo keeps printing while it runs: the current TOTP codes of the vendor and the
//! approvers at the start of every 30-second step (what their authenticator apps would show),
//! and each new pending request with where to approve it.

use crate::output;
use portcullis_core::auth::totp_owner;
use portcullis_core::domain::{RequestId, RequestState, Username};
use portcullis_core::totp::{Totp, STEP_SECS};
use portcullis_core::{clock, Context};
use std::collections::HashSet;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the demo looks for new requests.
const REQUEST_POLL: Duration = Duration::from_secs(1);

/// The line printed for the codes: `codes: NAME 123456 · NAME2 654321 (valid ~Ns)`.
pub fn code_line(codes: &[(Username, String)], now_secs: u64) -> String {
    let left = STEP_SECS - now_secs % STEP_SECS;
    let list: Vec<String> = codes.iter().map(|(n, c)| format!("{n} {c}")).collect();
    format!("codes: {} (valid ~{left}s)", list.join(" · "))
}

/// Prints the current codes of `names` at every step until `shutdown`.
pub async fn codes(ctx: Context, names: Vec<Username>, shutdown: CancellationToken) {
    let mut generators = Vec::new();
    for name in names {
        match generator(&ctx, &name).await {
            Ok(t) => generators.push((name, t)),
            Err(e) => {
                tracing::error!(error = %e, "cannot compute the demo users' codes");
                return;
            }
        }
    }
    loop {
        let now = clock::now().max(0) as u64;
        let current: Vec<(Username, String)> = generators.iter().map(|(n, t)| (n.clone(), t.code_at_step(now / STEP_SECS))).collect();
        let line = code_line(&current, now);
        if output::line(&line).is_err() {
            return;
        }
        let wait = Duration::from_secs(STEP_SECS - now % STEP_SECS);
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

async fn generator(ctx: &Context, name: &Username) -> anyhow::Result<Totp> {
    let user = ctx.store.require_user(name).await?;
    let secret = ctx.vault.open_bytes(&totp_owner(name), &user.totp_secret)?;
    Ok(Totp::new(secret, &ctx.config.auth.totp_issuer, name.as_str())?)
}

/// Announces each new pending request with `approve_hint(id)` until `shutdown`.
pub async fn requests(ctx: Context, approve_hint: impl Fn(RequestId) -> String + Send, shutdown: CancellationToken) {
    let mut seen = HashSet::new();
    let mut tick = tokio::time::interval(REQUEST_POLL);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let pending = match ctx.store.list_requests(Some(RequestState::Pending), None, 100).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list pending requests");
                continue;
            }
        };
        for r in pending.iter().rev().filter(|r| seen.insert(r.id)) {
            let text = format!(
                "request #{} from {} for {} ({}, needs {} approval(s)): {}\n  approve it on the web page, or with:\n    {}",
                r.id, r.vendor, r.device, r.criticality, r.required_approvals, output::one_line(&r.reason), approve_hint(r.id)
            );
            if output::line(&text).is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn code_line_counts_down_to_the_next_step() {
        let v = (Username::parse("demo-vendor").unwrap(), "123456".to_owned());
        let a = (Username::parse("demo-approver").unwrap(), "654321".to_owned());
        assert_eq!(code_line(std::slice::from_ref(&v), 60), "codes: demo-vendor 123456 (valid ~30s)");
        assert_eq!(code_line(&[v, a], 89), "codes: demo-vendor 123456 · demo-approver 654321 (valid ~1s)");
    }
}
