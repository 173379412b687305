//! Each format fed a row full of hostile content: line breaks, `]`, `"`, `\`, `|`, `=`,
//! non-ASCII. Records must stay one record (one line, or exactly the counted octets), and
//! each field must read back as the specification of its format says.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;

const ACTOR: &str = "ev\"il]\\ \n x";
const SUBJECT: &str = "user:jd|oe=1\r\nü";

fn hostile() -> AuditRow {
    AuditRow {
        seq: 42,
        ts: 1_764_000_000_123,
        actor: ACTOR.into(),
        kind: "auth.totp.failed".into(),
        subject: SUBJECT.into(),
        detail: r#"{"reason":"a\nb ] \" | = \\ ü"}"#.into(),
        prev_hash: "aa".repeat(32),
        hash: "bb".repeat(32),
    }
}

fn origin() -> Origin {
    Origin { hostname: "broker-1".into(), version: "1.2|3".into() }
}

/// The SD-PARAMs of the first structured-data element, unescaped as RFC 5424 says.
fn sd_params(msg: &str) -> Vec<(String, String)> {
    let start = msg.find('[').unwrap();
    let mut chars = msg[start + 1..].chars();
    let mut out = Vec::new();
    let id: String = chars.by_ref().take_while(|c| *c != ' ').collect();
    assert_eq!(id, syslog::SD_ID);
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        loop {
            match chars.next().unwrap() {
                '\\' => {
                    let c = chars.next().unwrap();
                    if !matches!(c, '"' | '\\' | ']') {
                        value.push('\\');
                    }
                    value.push(c);
                }
                '"' => break,
                c => value.push(c),
            }
        }
        out.push((name.trim().to_owned(), value));
        match chars.next() {
            Some(' ') => continue,
            Some(']') => return out,
            other => panic!("unexpected {other:?} after an SD-PARAM"),
        }
    }
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> &'a str {
    &params.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn syslog_octet_counted_and_escaped() {
    let bytes = record(ExportFormat::Syslog, Framing::OctetCounted, &origin(), &hostile());
    let text = String::from_utf8(bytes).unwrap();
    let (len, msg) = text.split_once(' ').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), msg.len(), "the count is of octets, not characters");
    assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
    // Facility 13 (log audit) × 8 + severity 4 (warning) for a failed code.
    assert!(msg.starts_with("<108>1 2025-11-24T16:00:00.123Z broker-1 portcullis "), "{msg}");
    assert!(msg.contains(" auth.totp.failed [portcullis@32473 "), "MSGID is the kind: {msg}");
    let params = sd_params(msg);
    assert_eq!(param(&params, "seq"), "42");
    assert_eq!(param(&params, "hash"), "bb".repeat(32));
    assert_eq!(param(&params, "kind"), "auth.totp.failed");
    assert_eq!(param(&params, "actor"), "ev\"il]\\ \\n x", "quotes, ] and \\ round-trip; the line break stays escaped");
    assert_eq!(param(&params, "subject"), "user:jd|oe=1\\r\\nü");
    let detail = &msg[msg.find("] ").unwrap() + 2..];
    let v: serde_json::Value = serde_json::from_str(detail).unwrap();
    assert_eq!(v["reason"], "a\nb ] \" | = \\ ü");
}

#[test]
fn syslog_lines_end_once() {
    let bytes = record(ExportFormat::Syslog, Framing::Lines, &origin(), &hostile());
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text.matches('\n').count(), 1);
    assert!(text.ends_with("\n") && text.starts_with("<108>1 "));
}

#[test]
fn cef_escapes_header_and_extension() {
    let bytes = record(ExportFormat::Cef, Framing::OctetCounted, &origin(), &hostile());
    let text = String::from_utf8(bytes).unwrap();
    let (len, msg) = text.split_once(' ').unwrap();
    assert_eq!(len.parse::<usize>().unwrap(), msg.len());
    assert!(!msg.contains('\n') && !msg.contains('\r'));
    assert_eq!(param(&sd_params(msg), "seq"), "42", "the syslog envelope still carries seq");
    let cef = &msg[msg.find("] CEF:").unwrap() + 2..];
    assert!(cef.starts_with("CEF:0|Portcullis|Portcullis|1.2\\|3|auth.totp.failed|auth totp failed|7|rt=1764000000123 externalId=42 "), "{cef}");
    assert!(cef.contains(" suser=ev\"il]\\\\ \\n x "), "{cef}");
    assert!(cef.contains(" cs1=user:jd|oe\\=1\\r\\nü "), "{cef}");
    assert!(cef.contains(&format!(" cs2Label=hash cs2={} ", "bb".repeat(32))));
    assert_eq!(cef::header("a|b\\c\nd"), "a\\|b\\\\c d");
    assert_eq!(cef::ext("k=v\\\r\n"), "k\\=v\\\\\\r\\n");
}

#[test]
fn jsonl_reads_back_as_the_row() {
    let row = hostile();
    let bytes = record(ExportFormat::Jsonl, Framing::OctetCounted, &origin(), &row);
    let text = String::from_utf8(bytes).unwrap();
    assert_eq!(text.matches('\n').count(), 1, "JSON lines are newline-framed on every target");
    let v: serde_json::Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(v["seq"], 42);
    assert_eq!(v["ts"], "2025-11-24T16:00:00.123Z");
    assert_eq!(v["actor"], ACTOR);
    assert_eq!(v["subject"], SUBJECT);
    assert_eq!(v["detail"]["reason"], "a\nb ] \" | = \\ ü");
    assert_eq!(serde_json::to_string(&v["detail"]).unwrap(), row.detail, "the detail re-serialises to the hashed text");
    assert_eq!(v["prev_hash"], "aa".repeat(32));
    assert_eq!(v["hash"], "bb".repeat(32));
}

#[test]
fn severities() {
    assert_eq!(Severity::of("auth.totp.failed"), Severity::Warning);
    assert_eq!(Severity::of("auth.locked"), Severity::Warning);
    assert_eq!(Severity::of("channel.refused"), Severity::Warning);
    assert_eq!(Severity::of("request.approval_refused"), Severity::Warning);
    assert_eq!(Severity::of("containment.ordered"), Severity::Notice);
    assert_eq!(Severity::of("containment.lifted"), Severity::Notice);
    assert_eq!(Severity::of("containment.refused"), Severity::Warning);
    assert_eq!(Severity::of("device.hostkey_mismatch"), Severity::Error);
    assert_eq!(Severity::of("sftp.aborted"), Severity::Error);
    assert_eq!(Severity::of("request.approved"), Severity::Notice);
    assert_eq!(Severity::of("user.created"), Severity::Notice);
    assert_eq!(Severity::of("auth.login"), Severity::Info);
    assert_eq!(Severity::of("session.started"), Severity::Info);
    assert_eq!(Severity::of_row("auth.login", "{}"), Severity::Info, "rows other than alerts keep their kind's");
    assert_eq!(syslog::header_field("", 32), "-");
    assert_eq!(syslog::header_field("a b\u{e9}c", 32), "abc");
}

/// Each alert severity reaches syslog's PRI and CEF's header mapped (critical → crit/10,
/// high → err/9, medium → warning/7, low → notice/5); facility 13 makes PRI 104 + severity.
#[test]
fn alert_rows_carry_their_own_severity() {
    for (sev, pri, cef) in [("critical", 106, 10), ("high", 107, 9), ("medium", 108, 7), ("low", 109, 5)] {
        let mut row = hostile();
        row.kind = "alert.failed_codes".into();
        row.detail = format!(r#"{{"rule":"failed_codes","severity":"{sev}"}}"#);
        let text = String::from_utf8(record(ExportFormat::Syslog, Framing::Lines, &origin(), &row)).unwrap();
        assert!(text.starts_with(&format!("<{pri}>1 ")), "{sev}: {text}");
        let line = String::from_utf8(record(ExportFormat::Cef, Framing::Lines, &origin(), &row)).unwrap();
        assert!(line.contains(&format!("|alert.failed_codes|alert failed codes|{cef}|")), "{sev}: {line}");
    }
    assert_eq!(Severity::of_row("alert.new_source", "not json"), Severity::Warning, "an alert without a readable severity is still a warning");
    assert_eq!(Severity::of_row("alert.acknowledged", r#"{"severity":"critical"}"#), Severity::Notice, "an acknowledgement is a decision, not an alert");
}

/// A break-glass opening reaches the SIEM as critical (syslog crit, CEF 10) and an overdue
/// review as an error, whatever their detail says; a review is a decision.
#[test]
fn break_glass_rows_are_critical_for_the_siem() {
    for (kind, pri, cef) in [("breakglass.opened", 106, 10), ("breakglass.review_overdue", 107, 9)] {
        let mut row = hostile();
        row.kind = kind.into();
        row.detail = r#"{"severity":"low","incident":"INC-1"}"#.into();
        let text = String::from_utf8(record(ExportFormat::Syslog, Framing::Lines, &origin(), &row)).unwrap();
        assert!(text.starts_with(&format!("<{pri}>1 ")), "{kind}: {text}");
        let line = String::from_utf8(record(ExportFormat::Cef, Framing::Lines, &origin(), &row)).unwrap();
        assert!(line.contains(&format!("|{kind}|")) && line.contains(&format!("|{cef}|")), "{kind}: {line}");
    }
    assert_eq!(Severity::of_row("breakglass.reviewed", "{}"), Severity::Notice);
    assert_eq!(Severity::of_row("breakglass.refused", "{}"), Severity::Warning);
}

mod checkpoints {
    use super::super::checkpoint::{self, parse_line};
    use super::*;
    use crate::audit::Checkpoint;

    fn signed() -> Checkpoint {
        // A base64 signature holds `=`, `+` and `/`, which CEF escapes and syslog does not.
        Checkpoint { seq: 300, hash: "cd".repeat(32), ts: 1_764_000_000_456, key_id: "0123456789abcdef".into(), signature: "q+/w==".into() }
    }

    #[test]
    fn a_checkpoint_reads_back_from_every_format_and_framing() {
        let cp = signed();
        for format in [ExportFormat::Jsonl, ExportFormat::Syslog, ExportFormat::Cef] {
            for framing in [Framing::Lines, Framing::OctetCounted] {
                let bytes = checkpoint::record(format, framing, &origin(), &cp);
                let text = String::from_utf8(bytes).unwrap();
                assert_eq!(text.matches('\n').count(), usize::from(framing == Framing::Lines || format == ExportFormat::Jsonl), "{format:?} {framing:?}: one record: {text:?}");
                assert_eq!(parse_line(text.trim_end()), Some(cp.clone()), "{format:?} {framing:?}: {text}");
            }
        }
        // And as `audit checkpoints` prints it.
        assert_eq!(parse_line(&serde_json::to_string(&cp).unwrap()), Some(cp));
    }

    #[test]
    fn rows_and_other_lines_are_not_checkpoints() {
        let row = hostile();
        for format in [ExportFormat::Jsonl, ExportFormat::Syslog, ExportFormat::Cef] {
            let text = String::from_utf8(record(format, Framing::Lines, &origin(), &row)).unwrap();
            assert_eq!(parse_line(text.trim_end()), None, "{format:?}: {text}");
        }
        for line in ["", "{", "not json", r#"{"type":"row","seq":1,"hash":"x","ts":1,"key_id":"k","signature":"s"}"#, r#"{"seq":1,"hash":"x","ts":1}"#] {
            assert_eq!(parse_line(line), None, "{line}");
        }
    }

    #[test]
    fn the_syslog_record_names_the_checkpoint() {
        let text = String::from_utf8(checkpoint::record(ExportFormat::Syslog, Framing::Lines, &origin(), &signed())).unwrap();
        assert!(text.contains(" audit.checkpoint [portcullis@32473 seq=\"300\""), "{text}");
        let cef = String::from_utf8(checkpoint::record(ExportFormat::Cef, Framing::Lines, &origin(), &signed())).unwrap();
        assert!(cef.contains("|audit.checkpoint|audit checkpoint|") && cef.contains("cs5=q+/w\\=\\="), "{cef}");
    }
}
