//! `PORTCULLIS_<SECTION>_<KEY>` overrides. Each known key is listed here with its type;
//! any other `PORTCULLIS_*` variable is refused, except the few that are not configuration
//! keys (`PORTCULLIS_CONFIG`, `PORTCULLIS_LOG`, and those of the test harness). Lists of
//! tables (`[[policy.rules]]`, `[[export.sinks]]`) are set in the file only.

use super::{Config, ConfigError, Dur, MailAddress, PublicUrl, SmtpConfig, WebhookUrl};
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
        "NODE_ID" => c.node.id = parse(var, v)?,
        "NODE_DRAIN_TIMEOUT" => c.node.drain_timeout = dur(var, v)?,
        "NODE_HEARTBEAT" => c.node.heartbeat = dur(var, v)?,
        "NODE_LEASE" => c.node.lease = dur(var, v)?,
        "NODE_WEB_URL" => c.node.web_url = v.trim().to_owned(),
        "BREAKGLASS_REVIEW_WITHIN" => c.breakglass.review_within = dur(var, v)?,
        "BREAKGLASS_CHECK_EVERY" => c.breakglass.check_every = dur(var, v)?,
        "BREAKGLASS_EVIDENCE_DIR" => c.breakglass.evidence_dir = v.into(),
        "PROXY_TRUSTED" => c.proxy.trusted = super::ProxyConfig::parse_trusted(v).map_err(|message| ConfigError::Env { var: var.into(), message })?,
        "PROXY_HEADER_TIMEOUT" => c.proxy.header_timeout = dur(var, v)?,
        "SSH_LISTEN" => c.ssh.listen = parse(var, v)?,
        "SSH_HOST_KEY" => c.ssh.host_key = v.into(),
        "SSH_PREAUTH_TIMEOUT" => c.ssh.preauth_timeout = dur(var, v)?,
        "SSH_MAX_UNAUTHENTICATED" => c.ssh.max_unauthenticated = parse(var, v)?,
        "SSH_MAX_SESSIONS" => c.ssh.max_sessions = parse(var, v)?,
        "SSH_PER_SOURCE_MAX_STARTUPS" => c.ssh.per_source_max_startups = parse(var, v)?,
        "SSH_MAX_STARTUPS" => c.ssh.max_startups = parse(var, v)?,
        "SSH_PENALTY_FAILED" => c.ssh.penalty_failed = dur(var, v)?,
        "SSH_PENALTY_GRACE_EXCEEDED" => c.ssh.penalty_grace_exceeded = dur(var, v)?,
        "SSH_PENALTY_MIN" => c.ssh.penalty_min = dur(var, v)?,
        "SSH_PENALTY_MAX" => c.ssh.penalty_max = dur(var, v)?,
        "SSH_PUBLIC_HOST" => c.ssh.public_host = v.into(),
        "SSH_PUBLIC_PORT" => c.ssh.public_port = parse(var, v)?,
        "WEB_LISTEN" => c.web.listen = parse(var, v)?,
        "METRICS_ENABLED" => c.metrics.enabled = parse(var, v)?,
        "METRICS_LISTEN" => c.metrics.listen = parse(var, v)?,
        "WEB_TLS_CERT" => c.web.tls_cert = v.into(),
        "WEB_TLS_KEY" => c.web.tls_key = v.into(),
        "WEB_TOKEN_KEY" => c.web.token_key = v.into(),
        "WEB_TOKEN_TTL" => c.web.token_ttl = dur(var, v)?,
        "WEB_SESSION_MAX" => c.web.session_max = dur(var, v)?,
        "STORE_URL" => c.store.url = v.into(),
        "STORE_MIN_FREE_MIB" => c.store.min_free_mib = parse(var, v)?,
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
        "POLICY_MODERATED" => c.policy.moderated = Some(parse(var, v)?),
        "SESSION_WARN_BEFORE" => {
            c.session.warn_before = Dur::parse_list(v)
                .map_err(|message| ConfigError::Env { var: var.into(), message })?
        }
        "SESSION_CONTROL_POLL" => c.session.control_poll = dur(var, v)?,
        "SESSION_STOP_GRACE" => c.session.stop_grace = dur(var, v)?,
        "SESSION_MODERATOR_WAIT" => c.session.moderator_wait = dur(var, v)?,
        "SESSION_MODERATOR_GRACE" => c.session.moderator_grace = dur(var, v)?,
        "RECORDING_DIR" => c.recording.dir = v.into(),
        "RECORDING_STORE" => c.recording.store = parse(var, v)?,
        "RECORDING_S3_BUCKET" => c.recording.s3.get_or_insert_with(Default::default).bucket = v.trim().into(),
        "RECORDING_S3_ENDPOINT" => c.recording.s3.get_or_insert_with(Default::default).endpoint = v.trim().into(),
        "RECORDING_S3_REGION" => c.recording.s3.get_or_insert_with(Default::default).region = v.trim().into(),
        "RECORDING_S3_ALLOW_HTTP" => c.recording.s3.get_or_insert_with(Default::default).allow_http = parse(var, v)?,
        "RECORDING_S3_PREFIX" => c.recording.s3.get_or_insert_with(Default::default).prefix = v.trim().into(),
        "S3_ACCESS_KEY_ID" => c.recording.set_credential(false, v),
        "S3_SECRET_ACCESS_KEY" => c.recording.set_credential(true, v),
        "EXPORT_BATCH_SIZE" => c.export.batch_size = parse(var, v)?,
        "EXPORT_TIMEOUT" => c.export.timeout = dur(var, v)?,
        "EXPORT_RETRY_BACKOFF" => c.export.retry_backoff = dur(var, v)?,
        "RETENTION_RECORDINGS_AFTER" if v.trim().is_empty() => c.retention.recordings_after = None,
        "RETENTION_RECORDINGS_AFTER" => c.retention.recordings_after = Some(dur(var, v)?),
        "RETENTION_ACTION" => c.retention.action = parse(var, v)?,
        "RETENTION_ARCHIVE_DIR" => c.retention.archive_dir = v.into(),
        "RETENTION_CHECK_EVERY" => c.retention.check_every = dur(var, v)?,
        k if k.starts_with("NOTIFY_") => notify(c, k, var, v)?,
        _ => return Err(unknown(var)),
    }
    Ok(())
}

fn unknown(var: &str) -> ConfigError {
    ConfigError::Env { var: var.into(), message: "not a configuration key (see the configuration reference in README.md)".into() }
}

/// `PORTCULLIS_NOTIFY_*`. An empty webhook URL turns the webhook off; any `SMTP_*` key makes
/// the `[notify.smtp]` section exist.
fn notify(c: &mut Config, key: &str, var: &str, v: &str) -> Result<(), ConfigError> {
    let env = |message: String| ConfigError::Env { var: var.into(), message };
    let n = &mut c.notify;
    match key {
        "NOTIFY_WEBHOOK_URL" if v.trim().is_empty() => n.webhook_url = None,
        "NOTIFY_WEBHOOK_URL" => n.webhook_url = Some(WebhookUrl::parse(v).map_err(env)?),
        "NOTIFY_PUBLIC_URL" => n.public_url = Some(PublicUrl::parse(v).map_err(env)?),
        "NOTIFY_TIMEOUT" => n.timeout = dur(var, v)?,
        "NOTIFY_RETRY_BACKOFF" => n.retry_backoff = dur(var, v)?,
        "NOTIFY_GIVE_UP_AFTER" => n.give_up_after = dur(var, v)?,
        _ => {
            let smtp = n.smtp.get_or_insert_with(SmtpConfig::default);
            match key {
                "NOTIFY_SMTP_HOST" => smtp.host = v.trim().into(),
                "NOTIFY_SMTP_PORT" => smtp.port = Some(parse(var, v)?),
                "NOTIFY_SMTP_MODE" => smtp.mode = parse(var, v)?,
                "NOTIFY_SMTP_FROM" => smtp.from = Some(MailAddress::parse(v).map_err(env)?),
                "NOTIFY_SMTP_TO" => smtp.to = MailAddress::parse_list(v).map_err(env)?,
                "NOTIFY_SMTP_USERNAME" => smtp.username = Some(v.trim().into()),
                "NOTIFY_SMTP_PASSWORD_FILE" => smtp.password_file = Some(v.into()),
                _ => return Err(unknown(var)),
            }
        }
    }
    Ok(())
}
