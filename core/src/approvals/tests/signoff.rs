//! The clinical sign-off outside maintenance windows, on SQLite and PostgreSQL: the request is
//! filed, approvals by accounts without `clinical-signoff` are recorded up to the rule's count
//! and refused past it, and the grant exists only once an active holder approves; a holder is
//! still bound by separation of duties, a disabled holder signs off nothing, and inside a
//! window (or for a start scheduled inside one) no sign-off is asked.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::maintenance::{approvals, daily, detail, PEER};
use crate::admin::fixture::{World, ACTOR};
use crate::admin::accounts::AccessEdit;
use crate::approvals::{ApprovalError, ApprovalInput, Approvals, ApproveOutcome, RequestInput, Signoff, Window};
use crate::clock;
use crate::config::OutsideWindow;
use crate::domain::{Criticality, DeviceName, Permission, RequestState, Role, Username};
use crate::testdb::stores;

const NEEDS: &str = "needs a clinical sign-off: an approver holding clinical-signoff must approve";

/// An account of `role` holding `clinical-signoff`.
async fn holder(w: &World, name: &str, role: Role) -> Username {
    let u = w.user(name, role).await;
    w.admin.set_user_access(ACTOR, &u, AccessEdit { grant: vec![Permission::ClinicalSignoff], ..AccessEdit::default() }).await.unwrap();
    u
}

/// Approvals for zone `icu` whose only window opens in three hours, under `clinical-signoff`;
/// vendor `jdoe`, device `pump-1` of `criticality`.
async fn outside(w: &World, criticality: Criticality) -> (Approvals, Username, DeviceName) {
    let a = approvals(w, vec![daily("later", clock::now() + 3 * 3600, "1h", "UTC")], Some(OutsideWindow::ClinicalSignoff));
    (a, w.user("jdoe", Role::Vendor).await, w.device("pump-1", criticality).await)
}

#[tokio::test]
async fn non_holders_alone_never_grant_and_the_holder_completes_it() {
    for t in stores().await {
        let w = World::new(&t);
        let (a, vendor, dev) = outside(&w, Criticality::Standard).await;
        let (nurse, boss) = (w.user("nurse", Role::Approver).await, w.user("boss", Role::Admin).await);
        let cne = holder(&w, "cne", Role::Approver).await;
        let req = a.create_request(RequestInput::new(&vendor, &dev, "INC-1", 30).peer(PEER)).await.unwrap();
        assert_eq!(req.required_approvals, 1, "{}: the sign-off is not one more approver", w.name);
        let created = detail(&w.audit_of("request.created").await[0]);
        assert_eq!(created["maintenance_window"]["policy"], "clinical-signoff", "{}", w.name);
        assert_eq!(a.signoff(&req).await.unwrap(), Some(Signoff { given_by: None }), "{}", w.name);

        let first = a.approve(ApprovalInput::new(req.id, &nurse, "test")).await.unwrap();
        assert!(matches!(first, ApproveOutcome::AwaitingSignoff { have: 1, need: 1 }), "{}: {first:?}", w.name);
        assert_eq!(detail(&w.audit_of("request.approval_recorded").await[0])["awaiting_clinical_signoff"], true);
        let e = a.approve(ApprovalInput::new(req.id, &boss, "test")).await.unwrap_err();
        assert!(matches!(e, ApprovalError::NotAllowed(_)) && e.to_string() == format!("request #{} {NEEDS}", req.id), "{}: {e}", w.name);
        let refused = w.audit_of("request.approval_refused").await;
        assert_eq!((refused.len(), refused[0].actor.as_str()), (1, "boss"), "{}", w.name);
        assert!(detail(&refused[0])["why"].as_str().unwrap().contains(NEEDS));
        let pending = w.store.require_request(req.id).await.unwrap();
        assert_eq!((pending.state, pending.approvals.len()), (RequestState::Pending, 1), "{}: the refused approval left nothing", w.name);

        let ApproveOutcome::Granted(g) = a.approve(ApprovalInput::new(req.id, &cne, "test")).await.unwrap() else { panic!("not granted") };
        assert_eq!(g.ends_at - g.starts_at, 30 * 60, "{}", w.name);
        let approved = detail(&w.audit_of("request.approved").await[0]);
        assert_eq!((approved["clinical_signoff"].as_str(), approved["maintenance_window"]["policy"].as_str()), (Some("cne"), Some("clinical-signoff")), "{}", w.name);
    }
}

#[tokio::test]
async fn a_holder_approving_first_signs_off_once_the_count_is_reached() {
    for t in stores().await {
        let w = World::new(&t);
        let (a, vendor, dev) = outside(&w, Criticality::LifeCritical).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let cne = holder(&w, "cne", Role::Approver).await;
        let req = a.create_request(RequestInput::new(&vendor, &dev, "INC-1", 30).peer(PEER)).await.unwrap();
        let first = a.approve(ApprovalInput::new(req.id, &cne, "test")).await.unwrap();
        assert!(matches!(first, ApproveOutcome::Recorded { have: 1, need: 2 }), "{}: {first:?}", w.name);
        let signed = a.signoff(&w.store.require_request(req.id).await.unwrap()).await.unwrap();
        assert_eq!(signed, Some(Signoff { given_by: Some(cne.clone()) }), "{}", w.name);
        let ApproveOutcome::Granted(_) = a.approve(ApprovalInput::new(req.id, &nurse, "test")).await.unwrap() else { panic!("not granted") };
        assert_eq!(detail(&w.audit_of("request.approved").await[0])["clinical_signoff"], "cne", "{}", w.name);
    }
}

#[tokio::test]
async fn a_holder_cannot_sign_off_what_they_filed_nor_once_disabled() {
    for t in stores().await {
        let w = World::new(&t);
        let (a, vendor, dev) = outside(&w, Criticality::LifeCritical).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let (cne, old) = (holder(&w, "cne", Role::Approver).await, holder(&w, "old", Role::Admin).await);
        // Filed by the holder on the vendor's behalf: the holder is a party to it.
        let filed = a.create_request(RequestInput::new(&vendor, &dev, "INC-1", 30).peer(PEER).filed_by(cne.as_str())).await.unwrap();
        let e = a.approve(ApprovalInput::new(filed.id, &cne, "test")).await.unwrap_err();
        assert!(e.to_string().contains("filed request"), "{}: {e}", w.name);
        // A holder approves, then is disabled: the approval counts, the sign-off does not.
        a.approve(ApprovalInput::new(filed.id, &old, "test")).await.unwrap();
        w.admin.set_user_disabled(ACTOR, &old, true).await.unwrap();
        let second = a.approve(ApprovalInput::new(filed.id, &nurse, "test")).await.unwrap();
        assert!(matches!(second, ApproveOutcome::AwaitingSignoff { have: 2, need: 2 }), "{}: {second:?}", w.name);
        assert_eq!(a.signoff(&w.store.require_request(filed.id).await.unwrap()).await.unwrap(), Some(Signoff { given_by: None }));
        // A disabled holder cannot approve at all; nothing is granted.
        let e = a.approve(ApprovalInput::new(filed.id, &old, "test")).await.unwrap_err();
        assert!(e.to_string().contains("disabled"), "{}: {e}", w.name);
        assert_eq!(w.store.require_request(filed.id).await.unwrap().state, RequestState::Pending, "{}", w.name);
        assert!(w.audit_of("request.approved").await.is_empty(), "{}", w.name);
    }
}

#[tokio::test]
async fn inside_a_window_or_scheduled_into_one_no_signoff_is_asked() {
    for t in stores().await {
        let w = World::new(&t);
        let now = clock::now();
        let vendor = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        let open = approvals(&w, vec![daily("morning", now - 600, "30m", "UTC")], Some(OutsideWindow::ClinicalSignoff));
        let req = open.create_request(RequestInput::new(&vendor, &dev, "INC-1", 10).peer(PEER)).await.unwrap();
        assert_eq!(open.signoff(&req).await.unwrap(), None, "{}", w.name);
        let ApproveOutcome::Granted(_) = open.approve(ApprovalInput::new(req.id, &nurse, "test")).await.unwrap() else { panic!("not granted") };
        assert!(detail(&w.audit_of("request.approved").await[0])["clinical_signoff"].is_null(), "{}", w.name);
        // Filed outside; the approver schedules the start inside the next window.
        let later = approvals(&w, vec![daily("later", now + 3 * 3600, "1h", "UTC")], Some(OutsideWindow::ClinicalSignoff));
        let req = later.create_request(RequestInput::new(&vendor, &dev, "INC-2", 10).peer(PEER)).await.unwrap();
        let inside = Window { length: None, starts_at: Some((now + 3 * 3600) / 60 * 60 + 60) };
        let ApproveOutcome::Granted(g) = later.approve(ApprovalInput::new(req.id, &nurse, "test").window(inside)).await.unwrap() else { panic!("not granted") };
        assert_eq!(g.starts_at, inside.starts_at.unwrap(), "{}", w.name);
    }
}
