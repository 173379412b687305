#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::config::Config;

const MINIMAL: &str = "[store]\nurl = \"sqlite://x.db\"\n";

fn load(extra: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let vars: Vec<(String, String)> = env.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    Config::from_parts(&format!("{MINIMAL}{extra}"), Path::new("/etc/p/portcullis.toml"), &vars)
}

const FULL: &str = r#"
[notify]
webhook_url = "https://hooks.example.org/services/T0/B0/secret-token"
public_url = "https://broker.example.org:8443/"
timeout = "5s"
retry_backoff = "2s"
give_up_after = "30m"

[notify.smtp]
host = "mail.example.org"
mode = "tls"
from = "Portcullis <portcullis@example.org>"
to = ["biomed@example.org", "it-security@example.org"]
username = "portcullis"
password_file = "keys/smtp.pw"
"#;

#[test]
fn full_section_parses_and_checks() {
    let c = load(FULL, &[]).unwrap();
    let n = &c.notify;
    n.check().unwrap();
    assert!(n.enabled());
    assert_eq!(n.public_url.as_ref().unwrap().requests_page(), "https://broker.example.org:8443/requests");
    let smtp = n.smtp.as_ref().unwrap();
    assert_eq!((smtp.mode, smtp.port()), (SmtpMode::Tls, 465));
    assert_eq!(smtp.to.len(), 2);
    assert_eq!(smtp.password_path(&c.base_dir).unwrap(), PathBuf::from("/etc/p/keys/smtp.pw"));
    assert!(!format!("{c:?}").contains("secret-token"), "the webhook URL is a secret");
}

#[test]
fn absent_section_sends_nothing() {
    let c = load("", &[]).unwrap();
    assert!(!c.notify.enabled());
    c.notify.check().unwrap();
}

#[test]
fn webhook_must_be_https_unless_loopback() {
    assert!(WebhookUrl::parse("http://hooks.example.org/x").is_err());
    assert!(WebhookUrl::parse("ftp://hooks.example.org/x").is_err());
    assert!(WebhookUrl::parse("not a url").is_err());
    for ok in ["https://hooks.example.org/x", "http://127.0.0.1:9000/hook", "http://localhost/h", "http://[::1]:80/h"] {
        assert!(WebhookUrl::parse(ok).is_ok(), "{ok}");
    }
    assert!(load("[notify]\nwebhook_url = \"http://10.0.0.5/hook\"\n", &[]).is_err());
}

#[test]
fn environment_sets_every_scalar_key() {
    let c = load(
        "",
        &[
            ("PORTCULLIS_NOTIFY_WEBHOOK_URL", "http://127.0.0.1:9/h"),
            ("PORTCULLIS_NOTIFY_PUBLIC_URL", "https://b.example.org"),
            ("PORTCULLIS_NOTIFY_TIMEOUT", "3s"),
            ("PORTCULLIS_NOTIFY_RETRY_BACKOFF", "100ms"),
            ("PORTCULLIS_NOTIFY_GIVE_UP_AFTER", "2m"),
            ("PORTCULLIS_NOTIFY_SMTP_HOST", "127.0.0.1"),
            ("PORTCULLIS_NOTIFY_SMTP_PORT", "2525"),
            ("PORTCULLIS_NOTIFY_SMTP_MODE", "plain"),
            ("PORTCULLIS_NOTIFY_SMTP_FROM", "p@example.org"),
            ("PORTCULLIS_NOTIFY_SMTP_TO", "a@example.org, b@example.org"),
        ],
    )
    .unwrap();
    let n = &c.notify;
    n.check().unwrap();
    assert_eq!(n.timeout.0, Duration::from_secs(3));
    assert_eq!(n.retry_backoff.0, Duration::from_millis(100));
    let smtp = n.smtp.as_ref().unwrap();
    assert_eq!((smtp.port(), smtp.mode, smtp.to.len()), (2525, SmtpMode::Plain, 2));
    // An empty webhook URL turns the webhook off.
    let c = load(FULL, &[("PORTCULLIS_NOTIFY_WEBHOOK_URL", "")]).unwrap();
    assert!(c.notify.webhook_url.is_none());
    assert!(load("", &[("PORTCULLIS_NOTIFY_SMTP_MODE", "ssl")]).is_err());
    assert!(load("", &[("PORTCULLIS_NOTIFY_SMTP_SPEED", "1")]).is_err());
    assert!(load("", &[("PORTCULLIS_NOTIFY_SMTP_TO", "not-an-address")]).is_err());
}

#[test]
fn cross_key_rules() {
    let check = |extra: &str| load(extra, &[]).map(|_| ());
    assert!(check("[notify]\nwebhook_url = \"https://h.example.org/x\"\n").is_err(), "public_url missing");
    let base = "[notify]\npublic_url = \"https://b.example.org\"\n[notify.smtp]\n";
    assert!(check(&format!("{base}host = \"m.example.org\"\nfrom = \"p@example.org\"\n")).is_err(), "no recipient");
    let ok = format!("{base}host = \"m.example.org\"\nfrom = \"p@example.org\"\nto = [\"a@example.org\"]\n");
    check(&ok).unwrap();
    assert!(check(&format!("{ok}mode = \"plain\"\n")).is_err(), "plain to a remote host");
    assert!(check(&format!("{ok}username = \"u\"\n")).is_err(), "username without password file");
    let local = format!("{base}host = \"127.0.0.1\"\nfrom = \"p@example.org\"\nto = [\"a@example.org\"]\nmode = \"plain\"\n");
    check(&local).unwrap();
    assert!(check(&format!("{local}username = \"u\"\npassword_file = \"pw\"\n")).is_err(), "password in clear");
    assert!(load("[notify]\nsmtp_host = \"x\"\n", &[]).is_err(), "unknown key");
    assert!(load("[notify.smtp]\nhost = \"x\"\nmode = \"ssl\"\n", &[]).is_err(), "unknown mode");
}
