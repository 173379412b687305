//! Separation of duties in [`Approvals`](crate::approvals::Approvals), on SQLite and
//! PostgreSQL: no self-approval, two distinct approvers for life-critical devices, vendors
//! never approve, exactly one winner of an approve/deny race.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::admin::fixture::{World, ACTOR};
use crate::approvals::{ApprovalError, ApprovalInput, ApproveOutcome, RequestInput};
use crate::domain::{Criticality, RequestState, Role};
use crate::testdb::stores;

const PEER: &str = "127.0.0.1:50000";

#[tokio::test]
async fn nobody_approves_their_own_request() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let boss = w.user("boss", Role::Admin).await;
        let dev = w.device("pump-1", Criticality::Standard).await;

        let req = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-1 check", 30).peer(PEER)).await.unwrap();
        let err = w.approvals.approve(ApprovalInput::new(req.id, &vendor, "test")).await.unwrap_err();
        assert!(matches!(err, ApprovalError::NotAllowed(_)), "{}: {err:?}", w.name);

        // An account that may approve cannot even file a request for itself.
        let err = w.approvals.create_request(RequestInput::new(&boss, &dev, "INC-2 own", 30).peer(PEER)).await.unwrap_err();
        assert!(err.to_string().contains("not an active vendor"), "{}: {err}", w.name);
        for id in [req.id] {
            let r = w.store.require_request(id).await.unwrap();
            assert_eq!(r.state, RequestState::Pending, "{}", w.name);
            assert!(r.approvals.is_empty());
        }
        assert_eq!(w.audit_of("request.approval_refused").await.len(), 1, "{}", w.name);
        assert!(w.audit_of("request.approval_recorded").await.is_empty());
    }
}

#[tokio::test]
async fn vendors_cannot_approve_or_deny() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let other = w.user("mallory", Role::Vendor).await;
        let auditor = w.user("audrey", Role::Auditor).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        let req = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-3", 30).peer(PEER)).await.unwrap();
        for who in [&other, &auditor] {
            let err = w.approvals.approve(ApprovalInput::new(req.id, who, "test")).await.unwrap_err();
            assert!(matches!(err, ApprovalError::NotAllowed(_)), "{}: {who}: {err:?}", w.name);
            let err = w.approvals.deny(req.id, who, "no", "test").await.unwrap_err();
            assert!(matches!(err, ApprovalError::NotAllowed(_)), "{}: {who}: {err:?}", w.name);
        }
        assert_eq!(w.store.require_request(req.id).await.unwrap().state, RequestState::Pending);
    }
}

#[tokio::test]
async fn life_critical_needs_two_distinct_approvers() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let alice = w.user("alice", Role::Approver).await;
        let bob = w.user("bob", Role::Approver).await;
        let dev = w.device("ventilator-3", Criticality::LifeCritical).await;
        let req = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-4 firmware", 20).peer(PEER)).await.unwrap();
        assert_eq!(req.required_approvals, 2);

        let first = w.approvals.approve(ApprovalInput::new(req.id, &alice, "test")).await.unwrap();
        assert!(matches!(first, ApproveOutcome::Recorded { have: 1, need: 2 }), "{}: {first:?}", w.name);
        let now = crate::clock::now();
        assert!(w.store.current_grant(req.vendor_id, req.device_id, now).await.unwrap().is_none(), "{}: granted after one", w.name);

        let again = w.approvals.approve(ApprovalInput::new(req.id, &alice, "test")).await.unwrap_err();
        assert!(matches!(again, ApprovalError::NotAllowed(_)), "{}: {again:?}", w.name);
        let r = w.store.require_request(req.id).await.unwrap();
        assert_eq!((r.state, r.approvals.len()), (RequestState::Pending, 1), "{}", w.name);

        let second = w.approvals.approve(ApprovalInput::new(req.id, &bob, "test")).await.unwrap();
        let ApproveOutcome::Granted(grant) = second else { panic!("{}: second approval did not grant: {second:?}", w.name) };
        assert_eq!(grant.ends_at - grant.starts_at, 20 * 60);
        let r = w.store.require_request(req.id).await.unwrap();
        assert_eq!(r.state, RequestState::Approved);
        assert_eq!(r.approvals.len(), 2);
        assert!(w.store.current_grant(req.vendor_id, req.device_id, crate::clock::now()).await.unwrap().is_some());
        assert_eq!(w.audit_of("request.approved").await.len(), 1, "{}", w.name);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn approve_deny_race_has_exactly_one_winner() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let alice = w.user("alice", Role::Approver).await;
        let bob = w.user("bob", Role::Approver).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        for round in 0..12 {
            let req = w.approvals.create_request(RequestInput::new(&vendor, &dev, &format!("INC-race-{round}"), 10).peer(PEER)).await.unwrap();
            let (a, b) = (w.approvals.clone(), w.approvals.clone());
            let (alice, bob) = (alice.clone(), bob.clone());
            let approve = tokio::spawn(async move { a.approve(ApprovalInput::new(req.id, &alice, "test")).await });
            let deny = tokio::spawn(async move { b.deny(req.id, &bob, "not now", "test").await });
            let (approved, denied) = (approve.await.unwrap(), deny.await.unwrap());
            assert!(approved.is_ok() != denied.is_ok(), "{} round {round}: approve {approved:?}, deny {denied:?}", w.name);
            let loser = approved.as_ref().err().or(denied.as_ref().err());
            assert!(matches!(loser, Some(ApprovalError::Conflict(_))), "{}: loser {loser:?}", w.name);
            let state = w.store.require_request(req.id).await.unwrap().state;
            let expected = if approved.is_ok() { RequestState::Approved } else { RequestState::Denied };
            assert_eq!(state, expected, "{} round {round}", w.name);
            let grant = w.store.grant_of_request(req.id).await.unwrap();
            assert_eq!(grant.is_some(), approved.is_ok(), "{} round {round}: grant without approval", w.name);
        }
        assert!(crate::audit::verify(&w.store, w.audit.signer()).await.unwrap().ok);
    }
}

/// Finding: an approver could file a request "on a vendor's behalf" and approve it
/// themself. Whoever files is a party to the request.
#[tokio::test]
async fn whoever_filed_a_request_cannot_approve_it() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let boss = w.user("boss", Role::Approver).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        let req = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-5 by phone", 30).peer(PEER).filed_by(nurse.as_str())).await.unwrap();
        assert_eq!(req.filed_by.as_deref(), Some("nurse"), "{}", w.name);
        let err = w.approvals.approve(ApprovalInput::new(req.id, &nurse, "api")).await.unwrap_err();
        assert!(matches!(&err, ApprovalError::NotAllowed(m) if m.contains("filed")), "{}: {err:?}", w.name);
        let refused = w.audit_of("request.approval_refused").await;
        assert_eq!((refused.len(), refused[0].actor.as_str()), (1, "nurse"), "{}", w.name);
        let ok = w.approvals.approve(ApprovalInput::new(req.id, &boss, "api")).await.unwrap();
        assert!(matches!(ok, ApproveOutcome::Granted(_)), "{}: another approver decides", w.name);
        // A vendor filing for themself leaves no filer on record.
        let own = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-6", 30).filed_by(vendor.as_str())).await.unwrap();
        assert_eq!(own.filed_by, None, "{}", w.name);
    }
}

/// Finding: a disabled vendor's pending request could still be approved.
#[tokio::test]
async fn a_disabled_vendors_request_cannot_be_approved() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        let req = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-7", 30).peer(PEER)).await.unwrap();
        w.admin.set_user_disabled(ACTOR, &vendor, true).await.unwrap();
        let err = w.approvals.approve(ApprovalInput::new(req.id, &nurse, "api")).await.unwrap_err();
        assert!(matches!(&err, ApprovalError::NotAllowed(m) if m.contains("disabled")), "{}: {err:?}", w.name);
        assert!(w.store.current_grant(req.vendor_id, req.device_id, crate::clock::now()).await.unwrap().is_none(), "{}", w.name);
        // Re-enabled, the same request can be decided again.
        w.admin.set_user_disabled(ACTOR, &vendor, false).await.unwrap();
        assert!(matches!(w.approvals.approve(ApprovalInput::new(req.id, &nurse, "api")).await.unwrap(), ApproveOutcome::Granted(_)), "{}", w.name);
    }
}

/// Disabling a vendor revokes their open grants in the same write, each audited, so their
/// sessions end through the same path as any revocation.
#[tokio::test]
async fn disabling_a_vendor_revokes_their_grants() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        let req = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-8", 30).peer(PEER)).await.unwrap();
        w.approvals.approve(ApprovalInput::new(req.id, &nurse, "api")).await.unwrap();
        w.admin.set_user_disabled(ACTOR, &vendor, true).await.unwrap();
        assert!(w.store.current_grant(req.vendor_id, req.device_id, crate::clock::now()).await.unwrap().is_none(), "{}", w.name);
        assert_eq!(w.store.request(req.id).await.unwrap().unwrap().state, RequestState::Revoked, "{}", w.name);
        let rows = w.audit_of("request.revoked").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        assert!(rows[0].detail.contains("account disabled"), "{}: {}", w.name, rows[0].detail);
        assert!(crate::audit::verify(&w.store, w.audit.signer()).await.unwrap().ok, "{}", w.name);
    }
}
