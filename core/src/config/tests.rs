#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const MINIMAL: &str = "[store]\nurl = \"sqlite://x.db\"\n";

fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

#[test]
fn defaults_and_relative_paths() {
    let c = Config::from_parts(MINIMAL, Path::new("/etc/p/portcullis.toml"), &[]).unwrap();
    assert_eq!(c.ssh.listen.port(), 2222);
    assert_eq!(c.vault.key_file, PathBuf::from("/etc/p/keys/vault.key"));
    assert_eq!(c.auth.max_failures, 5);
    assert_eq!(c.policy.life_critical_approvals, 2);
}

#[test]
fn environment_overrides_file() {
    let text = format!("{MINIMAL}[ssh]\nlisten = \"127.0.0.1:1\"\n");
    let env = vars(&[
        ("PORTCULLIS_SSH_LISTEN", "127.0.0.1:0"),
        ("PORTCULLIS_WEB_LISTEN", "127.0.0.1:9"),
        ("PORTCULLIS_SESSION_WARN_BEFORE", "10s, 5s"),
        ("PORTCULLIS_CONFIG", "ignored"),
        ("HOME", "/root"),
    ]);
    let c = Config::from_parts(&text, Path::new("p.toml"), &env).unwrap();
    assert_eq!(c.ssh.listen.port(), 0);
    assert_eq!(c.web.listen.port(), 9);
    assert_eq!(c.session.warn_before, vec![Dur(Duration::from_secs(10)), Dur(Duration::from_secs(5))]);
}

#[test]
fn unknown_keys_are_errors() {
    let text = format!("{MINIMAL}[ssh]\nlisten_port = 22\n");
    assert!(Config::from_parts(&text, Path::new("p.toml"), &[]).is_err());
    let text = format!("{MINIMAL}[nonsense]\n");
    assert!(Config::from_parts(&text, Path::new("p.toml"), &[]).is_err());
    let err = Config::from_parts(MINIMAL, Path::new("p.toml"), &vars(&[("PORTCULLIS_SSH_LSTEN", "x")]));
    assert!(err.unwrap_err().to_string().contains("PORTCULLIS_SSH_LSTEN"));
}

#[test]
fn bad_values_are_errors() {
    let bad = vars(&[("PORTCULLIS_AUTH_LOCKOUT", "forever")]);
    assert!(Config::from_parts(MINIMAL, Path::new("p.toml"), &bad).is_err());
    let bad = vars(&[("PORTCULLIS_POLICY_LIFE_CRITICAL_APPROVALS", "1")]);
    assert!(Config::from_parts(MINIMAL, Path::new("p.toml"), &bad).is_err());
}

#[test]
fn debug_hides_store_secrets() {
    let text = "[store]\nurl = \"postgres://u:hunter2@db/p\"\n";
    let c = Config::from_parts(text, Path::new("p.toml"), &[]).unwrap();
    assert!(!format!("{c:?}").contains("hunter2"));
}

#[test]
fn shipped_example_parses() {
    let text = include_str!("../../../deploy/portcullis.example.toml");
    let c = Config::from_parts(text, Path::new("/var/lib/portcullis/portcullis.toml"), &[]).unwrap();
    assert_eq!(c.ssh.listen.port(), 2222);
    assert_eq!(c.session.warn_before.len(), 2);
    assert_eq!(c.notify.public_url.as_ref().map(|u| u.requests_page()).as_deref(), Some("https://broker.hospital.org:8443/requests"));
    assert!(!c.notify.enabled(), "the example sends nothing until a channel is set");
    c.notify.check().unwrap();
    assert_eq!(c.retention.recordings_after, None, "the example keeps recordings until told otherwise");
    assert_eq!(c.retention.archive_dir, Path::new("/var/lib/portcullis/archive"));
    let icu: crate::domain::Zone = "icu".parse().unwrap();
    assert_eq!(c.alerts.severity_for(Some((crate::domain::Criticality::Standard, &icu))), crate::domain::AlertSeverity::Critical, "the example's icu floor");
    assert!(c.alerts.hours.as_ref().is_some_and(|h| h.days.len() == 5), "the example's working days load");
}

#[test]
fn shipped_node_example_parses() {
    let text = include_str!("../../../deploy/portcullis.node.example.toml");
    let keys = [("PORTCULLIS_S3_ACCESS_KEY_ID".to_owned(), "AKIAEXAMPLE".to_owned()), ("PORTCULLIS_S3_SECRET_ACCESS_KEY".to_owned(), "example-secret".to_owned())];
    let c = Config::from_parts(text, Path::new("/etc/portcullis/portcullis.toml"), &keys).unwrap();
    assert_eq!(c.node.id.to_string(), "broker-1");
    assert_eq!(c.node.web_url, "https://broker-1.hospital.example:8443");
    assert!(c.store.url.starts_with("postgres://"), "a node of several is on PostgreSQL");
    assert_eq!(c.proxy.trusted.len(), 1);
    assert!(c.recording.s3.is_some(), "recordings go to the bucket");
    // Without the bucket's key in the environment the node refuses to start.
    assert!(Config::from_parts(text, Path::new("/etc/portcullis/portcullis.toml"), &[]).is_err());
}

#[test]
fn retention_section_and_environment() {
    let text = format!("{MINIMAL}[retention]\nrecordings_after = \"180d\"\naction = \"delete\"\n");
    let c = Config::from_parts(&text, Path::new("/d/p.toml"), &[]).unwrap();
    assert_eq!(c.retention.recordings_after, Some(Dur(Duration::from_secs(180 * 86_400))));
    assert_eq!(c.retention.action, RetentionAction::Delete);
    let vars = [("PORTCULLIS_RETENTION_ACTION".to_owned(), "archive".to_owned()), ("PORTCULLIS_RETENTION_RECORDINGS_AFTER".to_owned(), "0s".to_owned())];
    let c = Config::from_parts(&text, Path::new("/d/p.toml"), &vars).unwrap();
    assert_eq!(c.retention.action, RetentionAction::Archive);
    assert_eq!(c.retention.recordings_after, Some(Dur(Duration::ZERO)));
    let bad = format!("{MINIMAL}[retention]\naction = \"shred\"\n");
    assert!(Config::from_parts(&bad, Path::new("p.toml"), &[]).is_err());
}

#[test]
fn policy_rules_parse_and_unsafe_ones_are_refused() {
    let ok = format!(
        "{MINIMAL}[policy]\napprover_roles = [\"approver\"]\n[[policy.rules]]\nzone = \"icu\"\nmax_minutes = 60\napprover_roles = [\"admin\"]\n[[policy.rules]]\ncriticality = \"life-critical\"\napprovals = 3\n"
    );
    let c = Config::from_parts(&ok, Path::new("p.toml"), &[]).unwrap();
    assert_eq!(c.policy.rules.len(), 2);
    for (bad, why) in [
        ("[[policy.rules]]\nmax_minutes = 5\n", "must name a zone"),
        ("[[policy.rules]]\nzone = \"icu\"\napprover_roles = [\"vendor\"]\n", "vendors may never approve"),
        ("[[policy.rules]]\ncriticality = \"life-critical\"\napprovals = 1\n", "at least 2"),
        ("[policy]\napprover_roles = []\n", "at least one role"),
        ("[[policy.rules]]\nzone = \"icu\"\nunknown = 1\n", "unknown field"),
    ] {
        let err = Config::from_parts(&format!("{MINIMAL}{bad}"), Path::new("p.toml"), &[]).unwrap_err().to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn maintenance_windows_load_and_bad_ones_are_refused_by_name() {
    // The example's commented windows, switched on.
    let example = include_str!("../../../deploy/portcullis.example.toml");
    let section = example.split_once("\n[maintenance]\n").and_then(|(_, rest)| rest.split_once("\n[session]")).map(|(m, _)| m).unwrap();
    let on: String = section.lines().map(uncomment_setting).collect::<Vec<_>>().join("\n");
    let text = format!("{MINIMAL}[policy]\noutside_window = \"extra-approver\"\n[[policy.rules]]\nzone = \"icu\"\noutside_window = \"refuse\"\n[maintenance]\n{on}");
    let c = Config::from_parts(&text, Path::new("p.toml"), &[]).unwrap();
    let names: Vec<&str> = c.windows.all().iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["icu-tuesday", "mri-monthly"]);
    assert_eq!(c.windows.all()[1].describe(), "first Sunday of the month 06:00 for 4h (Europe/Berlin)");
    let policy = crate::policy::Policy::with_windows(c.policy.clone(), c.windows.clone());
    use crate::config::OutsideWindow;
    assert_eq!(policy.rule(crate::domain::Criticality::High, &"icu".parse().unwrap()).outside_window, OutsideWindow::Refuse);
    assert_eq!(policy.rule(crate::domain::Criticality::High, &"lab".parse().unwrap()).outside_window, OutsideWindow::ExtraApprover);
    assert_eq!(Config::from_parts(MINIMAL, Path::new("p.toml"), &[]).unwrap().policy.outside_window, OutsideWindow::Refuse, "the documented default");
    let signoff = format!("{MINIMAL}[[policy.rules]]\nzone = \"icu\"\noutside_window = \"clinical-signoff\"\n");
    let c = Config::from_parts(&signoff, Path::new("p.toml"), &[]).unwrap();
    assert_eq!(c.policy.rules[0].outside_window, Some(OutsideWindow::ClinicalSignoff));
    assert_eq!(OutsideWindow::ClinicalSignoff.as_str(), "clinical-signoff", "the audit's word is the configuration's");
    assert!(Config::from_parts(&signoff.replace("clinical-signoff", "clinical_signoff"), Path::new("p.toml"), &[]).is_err());
    let entry = |rest: &str| format!("[[maintenance.windows]]\nname = \"night\"\nzone = \"icu\"\nstart = \"02:00\"\n{rest}\n");
    for (bad, why) in [
        (entry("every = \"tuesday\"\nduration = \"2h\"\ntime_zone = \"Europe/Berln\""), "maintenance.windows[0] (\"night\"): time_zone = \"Europe/Berln\" is not an IANA time zone"),
        (entry("every = \"someday\"\nduration = \"2h\"\ntime_zone = \"UTC\""), "(\"night\"): every = \"someday\" is not a recurrence"),
        (entry("every = \"day\"\nduration = \"0m\"\ntime_zone = \"UTC\""), "(\"night\"): duration = \"0m\": a window lasts at least a minute"),
        (entry("every = \"day\"\nduration = \"2days\"\ntime_zone = \"UTC\""), "(\"night\"): duration = \"2days\": a window recurring every day lasts at most 1day"),
        (entry("every = \"day\"\nduration = \"1h\"\ntime_zone = \"UTC\"\nweekday = 1"), "unknown field"),
        ("[policy]\noutside_window = \"maybe\"\n".to_owned(), "unknown variant"),
    ] {
        let err = Config::from_parts(&format!("{MINIMAL}{bad}"), Path::new("p.toml"), &[]).unwrap_err().to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

#[test]
fn export_sinks_parse_and_bad_ones_are_refused() {
    // The example's commented sinks, switched on.
    let example = include_str!("../../../deploy/portcullis.example.toml");
    let on: String = example
        .split_once("[export]")
        .map(|(_, rest)| rest.lines().map(uncomment_setting).collect::<Vec<_>>().join("\n"))
        .unwrap();
    let vars = [("PORTCULLIS_EXPORT_BATCH_SIZE".to_owned(), "50".to_owned())];
    let c = Config::from_parts(&format!("{MINIMAL}[export]{on}"), Path::new("/etc/portcullis/p.toml"), &vars).unwrap();
    assert_eq!(c.export.batch_size, 50);
    assert_eq!(c.export.sinks.len(), 2);
    assert_eq!(c.export.sinks[0].format, crate::config::ExportFormat::Syslog);
    assert_eq!(c.export.sinks[0].ca_file.as_deref(), Some(Path::new("/etc/portcullis/tls/siem-ca.pem")));
    assert_eq!(c.export.sinks[1].target, crate::config::ExportTarget::File("/var/log/portcullis/audit.jsonl".into()));
    let sink = |name: &str, rest: &str| format!("[[export.sinks]]\nname = \"{name}\"\nformat = \"jsonl\"\n{rest}\n");
    for (bad, why) in [
        (sink("a", "target = \"udp://h:514\""), "expected tcp://"),
        (sink("a", "target = \"stdout\"\nextra = 1"), "unknown field"),
        (format!("{}{}", sink("a", "target = \"stdout\""), sink("a", "target = \"tcp://h:1\"")), "two sinks are named"),
        (sink("a b", "target = \"stdout\""), "letters, digits"),
        (sink("a", "target = \"tcp://h:1\"\nca_file = \"ca.pem\""), "only applies to a tls://"),
        ("[[export.sinks]]\nname = \"a\"\nformat = \"xml\"\ntarget = \"stdout\"\n".to_owned(), "unknown variant"),
        ("[export]\nbatch_size = 0\n".to_owned(), "batch_size"),
    ] {
        let err = Config::from_parts(&format!("{MINIMAL}{bad}"), Path::new("p.toml"), &[]).unwrap_err().to_string();
        assert!(err.contains(why), "{bad}: {err}");
    }
}

/// `# key = value` or `# [[table]]` without the `# `; any other line as it is.
fn uncomment_setting(line: &str) -> &str {
    match line.strip_prefix("# ") {
        Some(rest) if rest.starts_with("[[") || rest.split_once(" = ").is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_')) => rest,
        _ => line,
    }
}

#[test]
fn node_id_defaults_to_the_host_name_and_is_validated() {
    let c = Config::from_parts(MINIMAL, Path::new("p.toml"), &[]).unwrap();
    let host = hostname::get().unwrap().into_string().unwrap();
    assert_eq!(c.node.id, NodeId::from_host_name(&host));
    let text = format!("{MINIMAL}[node]\nid = \"broker-a\"\n");
    assert_eq!(Config::from_parts(&text, Path::new("p.toml"), &[]).unwrap().node.id.as_str(), "broker-a");
    let env = vars(&[("PORTCULLIS_NODE_ID", "broker-b")]);
    assert_eq!(Config::from_parts(&text, Path::new("p.toml"), &env).unwrap().node.id.as_str(), "broker-b");
    for bad in ["Broker A", "", "../x"] {
        assert!(Config::from_parts(&format!("{MINIMAL}[node]\nid = {bad:?}\n"), Path::new("p.toml"), &[]).is_err(), "{bad:?}");
        assert!(Config::from_parts(MINIMAL, Path::new("p.toml"), &vars(&[("PORTCULLIS_NODE_ID", bad)])).is_err(), "{bad:?}");
    }
}

#[test]
fn public_ssh_address_is_a_host_name_or_an_address() {
    let c = Config::from_parts(MINIMAL, Path::new("p.toml"), &[]).unwrap();
    assert_eq!((c.ssh.public_host.as_str(), c.ssh.public_port), ("", 0));
    let env = vars(&[("PORTCULLIS_SSH_PUBLIC_HOST", "broker.hospital.example"), ("PORTCULLIS_SSH_PUBLIC_PORT", "22")]);
    let c = Config::from_parts(MINIMAL, Path::new("p.toml"), &env).unwrap();
    assert_eq!((c.ssh.public_host.as_str(), c.ssh.public_port), ("broker.hospital.example", 22));
    for good in ["10.0.0.5", "fd00::5", "b-1.example"] {
        assert!(Config::from_parts(&format!("{MINIMAL}[ssh]\npublic_host = {good:?}\n"), Path::new("p.toml"), &[]).is_ok(), "{good}");
    }
    for bad in ["broker example", "-x.example", "a..b", "x;rm", "host\nProxyCommand sh"] {
        assert!(Config::from_parts(&format!("{MINIMAL}[ssh]\npublic_host = {bad:?}\n"), Path::new("p.toml"), &[]).is_err(), "{bad:?}");
    }
}

/// The metrics listener is on loopback unless told otherwise; it can be moved or turned off,
/// from the file or the environment, and a bad address is refused.
#[test]
fn metrics_listener_defaults_to_loopback_and_can_be_turned_off() {
    let c = Config::from_parts(MINIMAL, Path::new("p.toml"), &[]).unwrap();
    assert!(c.metrics.enabled);
    assert!(c.metrics.listen.ip().is_loopback(), "{}", c.metrics.listen);
    let c = Config::from_parts(&format!("{MINIMAL}[metrics]\nenabled = false\nlisten = \"10.1.2.3:9100\"\n"), Path::new("p.toml"), &[]).unwrap();
    assert!(!c.metrics.enabled);
    assert_eq!(c.metrics.listen.to_string(), "10.1.2.3:9100");
    let vars = [("PORTCULLIS_METRICS_LISTEN".to_owned(), "127.0.0.1:0".to_owned()), ("PORTCULLIS_METRICS_ENABLED".to_owned(), "true".to_owned())];
    let c = Config::from_parts(&format!("{MINIMAL}[metrics]\nenabled = false\n"), Path::new("p.toml"), &vars).unwrap();
    assert!(c.metrics.enabled);
    assert_eq!(c.metrics.listen.port(), 0);
    let err = Config::from_parts(&format!("{MINIMAL}[metrics]\nlisten = \"everywhere\"\n"), Path::new("p.toml"), &[]).unwrap_err().to_string();
    assert!(err.contains("listen"), "{err}");
    let err = Config::from_parts(&format!("{MINIMAL}[metrics]\nport = 1\n"), Path::new("p.toml"), &[]).unwrap_err().to_string();
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn proxy_section_and_environment() {
    let c = Config::from_parts(MINIMAL, Path::new("p.toml"), &[]).unwrap();
    assert!(c.proxy.rule().is_none(), "no trusted proxy by default: no header is ever read");
    assert_eq!(c.node.drain_timeout, Dur(Duration::from_secs(300)));
    let text = format!("{MINIMAL}[proxy]\ntrusted = [\"10.0.0.0/24\", \"::1\"]\nheader_timeout = \"2s\"\n[node]\ndrain_timeout = \"90s\"\n");
    let c = Config::from_parts(&text, Path::new("p.toml"), &[]).unwrap();
    let rule = c.proxy.rule().unwrap();
    assert!(rule.trusts("10.0.0.77".parse().unwrap()));
    assert!(rule.trusts("::1".parse().unwrap()));
    assert!(!rule.trusts("10.0.1.1".parse().unwrap()));
    assert_eq!(c.node.drain_timeout, Dur(Duration::from_secs(90)));
    let env = vars(&[("PORTCULLIS_PROXY_TRUSTED", "127.0.0.1/32, 192.0.2.10"), ("PORTCULLIS_NODE_DRAIN_TIMEOUT", "5m")]);
    let c = Config::from_parts(MINIMAL, Path::new("p.toml"), &env).unwrap();
    assert!(c.proxy.rule().unwrap().trusts("192.0.2.10".parse().unwrap()));
    assert_eq!(c.node.drain_timeout, Dur(Duration::from_secs(300)));
    // A header deadline past the sign-in deadline is cut to it.
    let c = Config::from_parts(&format!("{MINIMAL}[proxy]\nheader_timeout = \"2m\"\n[ssh]\npreauth_timeout = \"3s\"\n"), Path::new("p.toml"), &[]).unwrap();
    assert_eq!(c.proxy.header_timeout, Dur(Duration::from_secs(3)));
    // Refused: a block that is not one, and no time at all.
    for bad in ["[proxy]\ntrusted = [\"10.0.0.0/40\"]\n", "[proxy]\ntrusted = [\"haproxy.local\"]\n", "[proxy]\nheader_timeout = \"0s\"\n"] {
        assert!(Config::from_parts(&format!("{MINIMAL}{bad}"), Path::new("p.toml"), &[]).is_err(), "{bad}");
    }
    assert!(Config::from_parts(MINIMAL, Path::new("p.toml"), &vars(&[("PORTCULLIS_PROXY_TRUSTED", "nope")])).is_err());
}

#[test]
fn node_lease_defaults_environment_and_limits() {
    let c = Config::from_parts(MINIMAL, Path::new("p.toml"), &[]).unwrap();
    assert_eq!((c.node.heartbeat, c.node.lease), (Dur(Duration::from_secs(5)), Dur(Duration::from_secs(30))));
    let env = vars(&[("PORTCULLIS_NODE_HEARTBEAT", "1s"), ("PORTCULLIS_NODE_LEASE", "4s")]);
    let c = Config::from_parts(MINIMAL, Path::new("p.toml"), &env).unwrap();
    assert_eq!((c.node.heartbeat, c.node.lease), (Dur(Duration::from_secs(1)), Dur(Duration::from_secs(4))));
    // Refused: a lease that one late renewal would lose, and no heartbeat at all.
    for bad in ["[node]\nheartbeat = \"5s\"\nlease = \"10s\"\n", "[node]\nheartbeat = \"0s\"\n"] {
        assert!(Config::from_parts(&format!("{MINIMAL}{bad}"), Path::new("p.toml"), &[]).is_err(), "{bad}");
    }
}
