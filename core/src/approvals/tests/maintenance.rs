//! Maintenance windows in the decisions, on SQLite and PostgreSQL: outside a window a request
//! is refused naming the next opening (the default) or needs one more approver; inside one the
//! grant ends when the window closes; a scheduled start cannot carry a grant out of a window.
//! Windows are computed from the current time, so the tests hold whenever they run.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::admin::fixture::World;
use crate::approvals::{ApprovalError, ApprovalInput, Approvals, ApproveOutcome, RequestInput, Window};
use crate::clock;
use crate::config::{ApprovalConfig, MaintenanceConfig, OutsideWindow, PolicyConfig, WindowEntry};
use crate::domain::{Criticality, RequestState, Role};
use crate::policy::Policy;
use crate::testdb::stores;
use jiff::Timestamp;

pub(super) const PEER: &str = "127.0.0.1:50000";

/// A daily window in `tz` opening at the wall-clock minute of `opens_at` (Unix seconds).
pub(super) fn daily(name: &str, opens_at: i64, duration: &str, tz: &str) -> WindowEntry {
    let start = Timestamp::from_second(opens_at).unwrap().in_tz(tz).unwrap().strftime("%H:%M").to_string();
    WindowEntry { name: name.into(), zone: Some("icu".into()), device: None, every: "day".into(), start, duration: duration.into(), time_zone: tz.into() }
}

pub(super) fn approvals(w: &World, entries: Vec<WindowEntry>, outside: Option<OutsideWindow>) -> Approvals {
    let windows = MaintenanceConfig { windows: entries }.windows().unwrap();
    let cfg = PolicyConfig { outside_window: outside.unwrap_or_default(), ..PolicyConfig::default() };
    Approvals::new(w.store.clone(), w.audit.clone(), Policy::with_windows(cfg, windows), ApprovalConfig::default())
}

pub(super) fn detail(row: &crate::audit::AuditRow) -> serde_json::Value {
    serde_json::from_str(&row.detail).unwrap()
}

#[tokio::test]
async fn outside_its_window_a_request_is_refused_naming_the_next() {
    for t in stores().await {
        let w = World::new(&t);
        let now = clock::now();
        // Opens three hours from now in a zone half an hour off UTC; closed now.
        let a = approvals(&w, vec![daily("evening-service", now + 3 * 3600, "1h", "Asia/Kolkata")], None);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        let err = a.create_request(RequestInput::new(&vendor, &dev, "INC-1 check", 30).peer(PEER)).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, ApprovalError::NotAllowed(_)), "{}: {err:?}", w.name);
        assert!(msg.contains("pump-1 takes vendor access only in its maintenance windows") && msg.contains("evening-service from ") && msg.contains("IST (Asia/Kolkata)") && msg.contains(" UTC"), "{msg}");
        let rows = w.audit_of("request.refused_outside_window").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        let d = detail(&rows[0]);
        let opens = (now + 3 * 3600) / 60 * 60;
        assert_eq!((rows[0].subject.as_str(), d["vendor"].as_str()), ("device:pump-1", Some("jdoe")));
        assert_eq!(d["maintenance_window"]["state"], "outside");
        assert_eq!(d["maintenance_window"]["policy"], "refuse");
        assert_eq!(d["maintenance_window"]["next"]["starts_at"].as_i64(), Some(opens), "{}", w.name);
        assert_eq!(d["maintenance_window"]["next"]["ends_at"].as_i64(), Some(opens + 3600));
        assert!(w.audit_of("request.created").await.is_empty(), "{}: nothing filed", w.name);
        // A device in another zone is not covered and files as before.
        let mut spec = World::device_spec("lab-scope", Criticality::Standard);
        spec.zone = "lab".parse().unwrap();
        w.admin.create_device(crate::admin::fixture::ACTOR, spec).await.unwrap();
        let req = a.create_request(RequestInput::new(&vendor, &"lab-scope".parse().unwrap(), "INC-2", 30).peer(PEER)).await.unwrap();
        assert_eq!(detail(&w.audit_of("request.created").await[0])["maintenance_window"]["state"], "none");
        assert_eq!(req.required_approvals, 1);
    }
}

#[tokio::test]
async fn outside_its_window_extra_approver_asks_one_more() {
    for t in stores().await {
        let w = World::new(&t);
        let now = clock::now();
        let a = approvals(&w, vec![daily("later", now + 3 * 3600, "1h", "UTC")], Some(OutsideWindow::ExtraApprover));
        let vendor = w.user("jdoe", Role::Vendor).await;
        let (nurse, boss) = (w.user("nurse", Role::Approver).await, w.user("boss", Role::Admin).await);
        let dev = w.device("pump-1", Criticality::Standard).await;
        let req = a.create_request(RequestInput::new(&vendor, &dev, "INC-1", 30).peer(PEER)).await.unwrap();
        assert_eq!(req.required_approvals, 2, "{}: a standard device needs 1, plus one outside the window", w.name);
        let d = detail(&w.audit_of("request.created").await[0]);
        assert_eq!((d["maintenance_window"]["state"].as_str(), d["maintenance_window"]["policy"].as_str()), (Some("outside"), Some("extra-approver")));
        let first = a.approve(ApprovalInput::new(req.id, &nurse, "test")).await.unwrap();
        assert!(matches!(first, ApproveOutcome::Recorded { have: 1, need: 2 }), "{}: {first:?}", w.name);
        let ApproveOutcome::Granted(g) = a.approve(ApprovalInput::new(req.id, &boss, "test")).await.unwrap() else { panic!("not granted") };
        assert_eq!(g.ends_at - g.starts_at, 30 * 60, "{}: outside a window nothing is clipped", w.name);
    }
}

#[tokio::test]
async fn inside_a_window_the_grant_ends_with_it() {
    for t in stores().await {
        let w = World::new(&t);
        let now = clock::now();
        // Opened ten minutes ago for thirty minutes: closes in about twenty.
        let a = approvals(&w, vec![daily("morning", now - 600, "30m", "America/New_York")], None);
        let closes = (now - 600) / 60 * 60 + 1800;
        let vendor = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        let req = a.create_request(RequestInput::new(&vendor, &dev, "INC-1", 120).peer(PEER)).await.unwrap();
        assert_eq!(req.required_approvals, 1);
        let created = detail(&w.audit_of("request.created").await[0]);
        assert_eq!((created["maintenance_window"]["window"].as_str(), created["maintenance_window"]["ends_at"].as_i64()), (Some("morning"), Some(closes)));
        let ApproveOutcome::Granted(g) = a.approve(ApprovalInput::new(req.id, &nurse, "test")).await.unwrap() else { panic!("not granted") };
        assert_eq!(g.ends_at, closes, "{}: 120 minutes asked, the window closes first", w.name);
        let approved = detail(&w.audit_of("request.approved").await[0]);
        assert_eq!((approved["clipped_to_window"].as_bool(), approved["ends_at"].as_i64()), (Some(true), Some(closes)));
        assert_eq!(approved["maintenance_window"]["state"], "inside");
    }
}

#[tokio::test]
async fn a_scheduled_start_cannot_carry_a_grant_out_of_the_window() {
    for t in stores().await {
        let w = World::new(&t);
        let now = clock::now();
        let a = approvals(&w, vec![daily("morning", now - 600, "30m", "Europe/Berlin")], None);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        let req = a.create_request(RequestInput::new(&vendor, &dev, "INC-1", 60).peer(PEER)).await.unwrap();
        // Filed inside the window; the approver schedules the start an hour on, after it closes.
        let later = Window { length: None, starts_at: Some(now + 3600) };
        let err = a.approve(ApprovalInput::new(req.id, &nurse, "test").window(later)).await.unwrap_err();
        assert!(matches!(err, ApprovalError::NotAllowed(_)) && err.to_string().contains("the next: morning from "), "{}: {err}", w.name);
        assert_eq!(w.store.require_request(req.id).await.unwrap().state, RequestState::Pending);
        let refused = w.audit_of("request.approval_refused").await;
        assert_eq!(refused.len(), 1, "{}", w.name);
        assert!(detail(&refused[0])["why"].as_str().unwrap().contains("maintenance windows"));
    }
}
