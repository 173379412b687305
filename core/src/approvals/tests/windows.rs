//! Windows and stops, on SQLite and PostgreSQL: a scheduled approval makes a grant that
//! starts later (and with several approvers, the latest start and shortest length win);
//! starts in the past or too far ahead are refused; the policy's approver roles and window
//! maximum per zone are enforced; a graceful stop can be made immediate but never put off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::admin::fixture::{World, ACTOR};
use crate::sessions::SessionStart;
use crate::approvals::{ApprovalError, ApprovalInput, Approvals, ApproveOutcome, RequestInput, StopInput, StopMode, Window};
use crate::clock;
use crate::config::{ApprovalConfig, PolicyConfig, PolicyRule};
use crate::domain::{Criticality, Role, Zone};
use crate::policy::Policy;
use crate::testdb::stores;
use std::time::Duration;

const PEER: &str = "127.0.0.1:50000";

#[tokio::test]
async fn scheduled_windows_start_later_and_agree_across_approvers() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let alice = w.user("alice", Role::Approver).await;
        let bob = w.user("bob", Role::Approver).await;
        let vent = w.device("vent-3", Criticality::LifeCritical).await;
        let req = w.approvals.create_request(RequestInput::new(&vendor, &vent, "INC-9", 60).peer(PEER)).await.unwrap();
        let now = clock::now();

        let past = Window { length: None, starts_at: Some(now - 3600) };
        assert!(matches!(w.approvals.approve(ApprovalInput::new(req.id, &alice, "t").window(past)).await, Err(ApprovalError::Invalid(_))));
        let far = Window { length: None, starts_at: Some(now + 60 * 86_400) };
        assert!(matches!(w.approvals.approve(ApprovalInput::new(req.id, &alice, "t").window(far)).await, Err(ApprovalError::Invalid(_))));

        let a = Window { length: Some(Duration::from_secs(40 * 60)), starts_at: Some(now + 600) };
        let b = Window { length: Some(Duration::from_secs(50 * 60)), starts_at: Some(now + 1200) };
        assert!(matches!(w.approvals.approve(ApprovalInput::new(req.id, &alice, "t").window(a)).await.unwrap(), ApproveOutcome::Recorded { .. }));
        let ApproveOutcome::Granted(g) = w.approvals.approve(ApprovalInput::new(req.id, &bob, "t").window(b)).await.unwrap() else { panic!("{}: not granted", w.name) };
        assert_eq!((g.starts_at, g.ends_at), (now + 1200, now + 1200 + 40 * 60), "{}", w.name);
        assert!(w.store.current_grant(req.vendor_id, req.device_id, clock::now()).await.unwrap().is_none(), "{}: not yet", w.name);
        assert!(w.store.current_grant(req.vendor_id, req.device_id, now + 1300).await.unwrap().is_some(), "{}: then", w.name);
    }
}

#[tokio::test]
async fn zone_rules_set_approver_roles_and_window_maximum() {
    for t in stores().await {
        let w = World::new(&t);
        let rules = vec![PolicyRule {
            zone: Some(Zone::parse("icu").unwrap()),
            criticality: None,
            approvals: None,
            max_minutes: Some(45),
            approver_roles: Some(vec![Role::Admin]),
            outside_window: None,
            break_glass: None,
            break_glass_minutes: None,
            moderated: None,
        }];
        let policy = Policy::new(PolicyConfig { rules, ..PolicyConfig::default() });
        let approvals = Approvals::new(w.store.clone(), w.audit.clone(), policy, ApprovalConfig::default());
        let vendor = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let boss = w.user("boss", Role::Admin).await;
        let pump = w.device("pump-1", Criticality::High).await; // zone icu
        assert!(matches!(approvals.create_request(RequestInput::new(&vendor, &pump, "INC-1", 60).peer(PEER)).await, Err(ApprovalError::Invalid(_))), "{}: over the zone maximum", w.name);
        let req = approvals.create_request(RequestInput::new(&vendor, &pump, "INC-1", 45).peer(PEER)).await.unwrap();
        let err = approvals.approve(ApprovalInput::new(req.id, &nurse, "t")).await.unwrap_err();
        assert!(matches!(err, ApprovalError::NotAllowed(_)), "{}: {err:?}", w.name);
        assert!(matches!(approvals.deny(req.id, &nurse, "no", "t").await, Err(ApprovalError::NotAllowed(_))));
        // Finding: a window over the maximum was silently cut; it is refused now, with the bound.
        let over = approvals.approve(ApprovalInput::new(req.id, &boss, "t").length(Some(Duration::from_secs(3 * 3600)))).await.unwrap_err();
        assert!(matches!(&over, ApprovalError::Invalid(m) if m.contains("at most 45")), "{}: {over:?}", w.name);
        let zero = approvals.approve(ApprovalInput::new(req.id, &boss, "t").length(Some(Duration::ZERO))).await.unwrap_err();
        assert!(matches!(&zero, ApprovalError::Invalid(m) if m.contains("zero")), "{}: {zero:?}", w.name);
        let ApproveOutcome::Granted(g) = approvals.approve(ApprovalInput::new(req.id, &boss, "t").length(Some(Duration::from_secs(45 * 60)))).await.unwrap() else { panic!() };
        assert_eq!(g.ends_at - g.starts_at, 45 * 60, "{}: the window granted is the one asked for", w.name);
    }
}

#[tokio::test]
async fn a_graceful_stop_can_be_brought_forward_never_put_off() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        let req = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-2", 30).peer(PEER)).await.unwrap();
        let ApproveOutcome::Granted(g) = w.approvals.approve(ApprovalInput::new(req.id, &nurse, "t")).await.unwrap() else { panic!() };
        let (user, device) = (w.store.require_user(&vendor).await.unwrap(), w.store.require_device(&dev).await.unwrap());
        let sid = w.sessions.start(SessionStart { user: &user, grant: &g, device: &device, peer: PEER }).await.unwrap();

        w.approvals.stop_session(StopInput::new(sid, ACTOR, "end of shift").mode(StopMode::Graceful(Duration::from_secs(120)))).await.unwrap();
        let s = w.store.session(sid).await.unwrap().unwrap();
        assert!(s.stop_at.unwrap() > clock::now() + 100, "{}: {s:?}", w.name);
        let later = w.approvals.stop_session(StopInput::new(sid, ACTOR, "").mode(StopMode::Graceful(Duration::from_secs(600)))).await;
        assert!(matches!(later, Err(ApprovalError::Conflict(_))), "{}: {later:?}", w.name);
        w.approvals.stop_session(StopInput::new(sid, ACTOR, "now please").mode(StopMode::Immediate)).await.unwrap();
        assert!(w.store.session(sid).await.unwrap().unwrap().stop_at.unwrap() <= clock::now());
        let modes: Vec<String> = w.audit_of("session.stop_requested").await.iter().map(|r| r.detail.clone()).collect();
        assert_eq!(modes.len(), 2, "{}", w.name);
        assert!(modes[0].contains("graceful") && modes[1].contains("immediate"), "{modes:?}");
    }
}
