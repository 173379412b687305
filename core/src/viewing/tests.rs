#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
use super::*;
use crate::domain::{PermissionSet, Role, Username};

fn user(role: Role, zones: &str, permissions: &str) -> UserRecord {
    UserRecord {
        id: 1,
        username: Username::parse("someone").unwrap(),
        role,
        org: String::new(),
        disabled: false,
        totp_secret: Vec::new(),
        password_hash: None,
        password_must_change: false,
        totp_last_step: None,
        failed_attempts: 0,
        locked_until: None,
        created_at: 0,
        expires_at: None,
        zones: ZoneSet::parse(zones).unwrap(),
        permissions: PermissionSet::parse(permissions).unwrap(),
    }
}

#[test]
fn a_zone_limited_auditor_sees_only_its_zones_whatever_the_access() {
    let icu = user(Role::Auditor, "icu,nicu", "");
    for a in [Access::Record, Access::Replay, Access::Download, Access::Live, Access::Export] {
        assert_eq!(check(&icu, "icu", false, a), Ok(()), "{a:?}");
        assert_eq!(check(&icu, "nicu", false, a), Ok(()), "{a:?}");
        assert_eq!(check(&icu, "radiology", false, a), Err(Refusal::OutOfZone), "{a:?}");
        // A zone name that merely contains or extends an allowed one is another zone.
        assert_eq!(check(&icu, "icu2", false, a), Err(Refusal::OutOfZone), "{a:?}");
        assert_eq!(check(&icu, "ic", false, a), Err(Refusal::OutOfZone), "{a:?}");
        // The zone rule comes first: a phi device elsewhere is "not there", not "needs phi".
        assert_eq!(check(&icu, "radiology", true, a), Err(Refusal::OutOfZone), "{a:?}");
    }
    assert!(!whole_log(&icu));
    assert_eq!(search_zones(&icu).to_string(), "icu,nicu");
    let everywhere = user(Role::Auditor, "", "");
    assert!(whole_log(&everywhere) && search_zones(&everywhere).is_everywhere());
    assert_eq!(check(&everywhere, "radiology", false, Access::Replay), Ok(()));
}

#[test]
fn phi_recordings_need_the_permission_and_no_role_has_it_by_itself() {
    for role in [Role::Auditor, Role::Admin, Role::Approver] {
        let without = user(role, "", "");
        assert_eq!(check(&without, "icu", true, Access::Record), Ok(()), "{role}: the record stays visible");
        for a in Access::OPENINGS {
            assert_eq!(check(&without, "icu", true, a), Err(Refusal::NeedsPhi), "{role} {a:?}");
            assert_eq!(check(&without, "icu", false, a), Ok(()), "{role} {a:?}");
        }
        let with = user(role, "", "phi");
        for a in Access::OPENINGS {
            assert_eq!(check(&with, "icu", true, a), Ok(()), "{role} {a:?}");
        }
    }
}

#[test]
fn each_opening_has_its_own_audit_kind_and_reads_back() {
    assert_eq!(Access::Record.kind(), None);
    for a in Access::OPENINGS {
        let kind = a.kind().unwrap();
        assert_eq!(Access::of_kind(kind.as_str()), Some(a));
    }
    assert_eq!(Access::Replay.kind(), Some(Kind::RecordingReplayed));
    assert_eq!(Access::Live.kind(), Some(Kind::SessionWatched));
    assert_eq!(Access::of_kind("session.started"), None);
    assert!(phi_message("pump-1").contains("phi permission"));
}

#[test]
fn viewings_are_read_from_the_rows_of_openings_only() {
    let row = |seq: i64, kind: &str, actor: &str, detail: &str| AuditRow {
        seq,
        ts: 1_000 * seq,
        actor: actor.into(),
        kind: kind.into(),
        subject: "session:7".into(),
        detail: detail.into(),
        prev_hash: String::new(),
        hash: String::new(),
    };
    let rows = [
        row(1, "session.started", "jdoe", "{}"),
        row(2, "recording.replayed", "eve", r#"{"via":"web 10.1.2.3:50000","channel":1}"#),
        row(3, "recording.access_refused", "mallory", r#"{"via":"web 10.9.9.9:1"}"#),
        row(4, "session.watched", "nurse1", r#"{"via":"web [fd00::1]:443"}"#),
        row(5, "evidence.exported", "cli:root", r#"{"via":"cli"}"#),
        row(6, "recording.downloaded", "eve", r#"{"via":"web 10.1.2.3:50001","channel":2}"#),
    ];
    let got: Vec<(String, &str, String, Option<i64>, i64)> = viewings(&rows).into_iter().map(|v| (v.who, v.what, v.from, v.channel, v.seq)).collect();
    let want = [("eve", "replay", "10.1.2.3:50000", Some(1), 2), ("nurse1", "live", "[fd00::1]:443", None, 4), ("cli:root", "export", "cli", None, 5), ("eve", "download", "10.1.2.3:50001", Some(2), 6)];
    assert_eq!(got, want.map(|(a, b, c, d, e)| (a.to_owned(), b, c.to_owned(), d, e)));
    assert_eq!(viewings(&rows)[0].at_ms, 2_000);
}
