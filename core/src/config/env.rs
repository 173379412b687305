//! `PORTCULLIS_<SECTION>_<KEY>` overrides. Each known key is listed here with its type;
//! any other `PORTCULLIS_*` variable is refused, except the few that are not configuration
//! keys (`PORTCULLIS_CONFIG`, `PORTCULLIS_LOG`, and those of the test harness).

use super::{Config, ConfigError, Dur};
use std::str::FromStr;

const NOT_KEYS: &[&str] = &["PORTCULLIS_CONFIG", "PORTCULLIS_LOG"];

fn parse<T: FromStr>(var: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    value.trim().parse::<T>().map_err(|e| ConfigError::Env { var: var.into(), message: e.to_string() })
}

fn dur(var: &str, value: &str) -> Result<Dur, ConfigError> {
    Dur::parse(value).map_err(|message| ConfigError::Env { var: var.into(), message })
}

/// Applies one environment variable, if it is ours.
pub(super) fn apply(c: &mut Config, var: &str, v: &str) -> Result<(), ConfigError> {
    let Some(key) = var.strip_prefix("PORTCULLIS_") else { return Ok(()) };
    if NOT_KEYS.contains(&var) || key.starts_with("TEST_") || key.starts_with("BENCH_") {
        return Ok(());
    }
    match key {
        "SSH_LISTEN" => c.ssh.listen = parse(var, v)?,
        "SSH_HOST_KEY" => c.ssh.host_key = v.into(),
        "SSH_PREAUTH_TIMEOUT" => c.ssh.preauth_timeout = dur(var, v)?,
        "SSH_MAX_UNAUTHENTICATED" => c.ssh.max_unauthenticated = parse(var, v)?,
        "SSH_MAX_SESSIONS" => c.ssh.max_sessions = parse(var, v)?,
        "WEB_LISTEN" => c.web.listen = parse(var, v)?,
        "WEB_TLS_CERT" => c.web.tls_cert = v.into(),
        "WEB_TLS_KEY" => c.web.tls_key = v.into(),
        "WEB_TOKEN_KEY" => c.web.token_key = v.into(),
        "WEB_TOKEN_TTL" => c.web.token_ttl = dur(var, v)?,
        "WEB_SESSION_MAX" => c.web.session_max = dur(var, v)?,
        "STORE_URL" => c.store.url = v.into(),
        "VAULT_KEY_FILE" => c.vault.key_file = v.into(),
        "AUDIT_SIGNING_KEY" => c.audit.signing_key = v.into(),
        "AUDIT_CHECKPOINT_EVERY" => c.audit.checkpoint_every = parse(var, v)?,
        "AUDIT_CHECKPOINT_INTERVAL" => c.audit.checkpoint_interval = dur(var, v)?,
        "AUTH_MAX_FAILURES" => c.auth.max_failures = parse(var, v)?,
        "AUTH_LOCKOUT" => c.auth.lockout = dur(var, v)?,
        "AUTH_TOTP_SKEW" => c.auth.totp_skew = parse(var, v)?,
        "AUTH_TOTP_ISSUER" => c.auth.totp_issuer = v.into(),
        "APPROVAL_WAIT_TIMEOUT" => c.approval.wait_timeout = dur(var, v)?,
        "APPROVAL_REQUEST_TTL" => c.approval.request_ttl = dur(var, v)?,
        "APPROVAL_DEFAULT_MINUTES" => c.approval.default_minutes = parse(var, v)?,
        "APPROVAL_SCHEDULE_AHEAD" => c.approval.schedule_ahead = dur(var, v)?,
        "POLICY_LIFE_CRITICAL_APPROVALS" => c.policy.life_critical_approvals = parse(var, v)?,
        "POLICY_HIGH_APPROVALS" => c.policy.high_approvals = parse(var, v)?,
        "POLICY_STANDARD_APPROVALS" => c.policy.standard_approvals = parse(var, v)?,
        "POLICY_MAX_MINUTES" => c.policy.max_minutes = parse(var, v)?,
        "SESSION_WARN_BEFORE" => {
            c.session.warn_before = Dur::parse_list(v)
                .map_err(|message| ConfigError::Env { var: var.into(), message })?
        }
        "SESSION_CONTROL_POLL" => c.session.control_poll = dur(var, v)?,
        "SESSION_STOP_GRACE" => c.session.stop_grace = dur(var, v)?,
        "RECORDING_DIR" => c.recording.dir = v.into(),
        _ => {
            return Err(ConfigError::Env {
                var: var.into(),
                message: "not a configuration key (see the configuration reference in README.md)".into(),
            })
        }
    }
    Ok(())
}
