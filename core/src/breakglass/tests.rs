//! Break-glass decisions on both back ends: who may open one and where, the clip to the
//! policy's maximum, containment, and the review rules (not the vendor, each approver once,
//! any "not justified" disables the account in the same write), and the escalation written
//! once however many nodes run it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::admin::fixture::{World, ACTOR};
use crate::admin::accounts::AccessEdit;
use crate::config::{PolicyConfig, PolicyRule};
use crate::contain::{ContainInput, Containments};
use crate::domain::{Criticality, Role, Scope};
use crate::testdb::stores;
use std::time::Duration;

fn service(w: &World, policy: PolicyConfig, review_within: Duration) -> BreakGlass {
    let cfg = BreakGlassConfig { review_within: crate::config::Dur(review_within), ..BreakGlassConfig::default() };
    BreakGlass::new(w.store.clone(), w.audit.clone(), Policy::new(policy), cfg)
}

fn ask(vendor: &Username, device: &DeviceName, minutes: Option<i64>) -> OpenInput {
    OpenInput {
        vendor: vendor.clone(),
        device: device.clone(),
        incident: "INC-4411".into(),
        reason: "ventilator alarm loop".into(),
        minutes,
        channels: ChannelSet::shell(),
        peer: "ssh:127.0.0.1".into(),
    }
}

async fn right(w: &World, who: &Username) {
    w.admin.set_user_access(ACTOR, who, AccessEdit { grant: vec![Permission::BreakGlass], ..AccessEdit::default() }).await.unwrap();
}

#[tokio::test]
async fn only_the_right_opens_it_clipped_to_the_maximum() {
    for t in stores().await {
        let w = World::new(&t);
        let bg = service(&w, PolicyConfig::default(), Duration::from_secs(3600));
        let jdoe = w.user("jdoe", Role::Vendor).await;
        let dev = w.device("vent-1", Criticality::LifeCritical).await;
        let e = bg.open(ask(&jdoe, &dev, None)).await.unwrap_err();
        assert!(matches!(e, BreakGlassError::NotAllowed(_)), "{}: {e}", w.name);
        assert_eq!(w.audit_of("breakglass.refused").await.len(), 1, "{}", w.name);
        right(&w, &jdoe).await;
        let mut empty = ask(&jdoe, &dev, None);
        empty.incident = "  ".into();
        assert!(bg.open(empty).await.is_err(), "{}", w.name);
        let o = bg.open(ask(&jdoe, &dev, Some(600))).await.unwrap();
        assert_eq!((o.minutes, o.clipped), (60, true), "{}", w.name);
        assert_eq!(o.grant.ends_at - o.grant.starts_at, 3600, "{}", w.name);
        let req = w.store.require_request(o.request).await.unwrap();
        assert_eq!((req.state, req.approvals.len()), (RequestState::Approved, 0), "{}", w.name);
        let opened = w.audit_of("breakglass.opened").await;
        assert_eq!(opened.len(), 1, "{}", w.name);
        assert!(opened[0].detail.contains("\"severity\":\"critical\""), "{}: {}", w.name, opened[0].detail);
    }
}

#[tokio::test]
async fn policy_and_containment_refuse_it() {
    for t in stores().await {
        let w = World::new(&t);
        let rule = PolicyRule { zone: None, criticality: Some(Criticality::LifeCritical), approvals: None, max_minutes: None, approver_roles: None, outside_window: None, break_glass: Some(false), break_glass_minutes: None, moderated: None };
        let bg = service(&w, PolicyConfig { rules: vec![rule], ..PolicyConfig::default() }, Duration::from_secs(3600));
        let jdoe = w.user("jdoe", Role::Vendor).await;
        right(&w, &jdoe).await;
        let vent = w.device("vent-1", Criticality::LifeCritical).await;
        let mon = w.device("mon-1", Criticality::Standard).await;
        let e = bg.open(ask(&jdoe, &vent, None)).await.unwrap_err();
        assert!(e.to_string().contains("policy forbids break-glass"), "{}: {e}", w.name);
        let root = w.user("root", Role::Admin).await;
        let c = Containments::new(w.store.clone(), w.audit.clone(), Duration::from_secs(60));
        c.contain(ContainInput::new(Scope::Device(mon.clone()), &root, "ransomware on the ward network", "cli")).await.unwrap();
        let e = bg.open(ask(&jdoe, &mon, None)).await.unwrap_err();
        assert!(e.to_string().contains("contained"), "{}: {e}", w.name);
        assert!(w.audit_of("breakglass.opened").await.is_empty(), "{}", w.name);
        assert_eq!(w.audit_of("breakglass.refused").await.len(), 2, "{}", w.name);
    }
}

#[tokio::test]
async fn two_distinct_reviewers_not_the_vendor_and_not_justified_disables() {
    for t in stores().await {
        let w = World::new(&t);
        let bg = service(&w, PolicyConfig::default(), Duration::from_secs(3600));
        let jdoe = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let doc = w.user("doc", Role::Approver).await;
        let dev = w.device("vent-1", Criticality::High).await;
        right(&w, &jdoe).await;
        let id = bg.open(ask(&jdoe, &dev, None)).await.unwrap().request;

        let own = bg.review(id, &jdoe, Verdict::Justified, "it was needed", "cli").await.unwrap_err();
        assert!(matches!(own, BreakGlassError::NotAllowed(_)), "{}: {own}", w.name);
        // An on-call engineer's account that may approve, holding the right, opens one too:
        // it may not review its own.
        let oncall = w.user("oncall", Role::Approver).await;
        right(&w, &oncall).await;
        let theirs = bg.open(ask(&oncall, &dev, Some(10))).await.unwrap().request;
        let e = bg.review(theirs, &oncall, Verdict::Justified, "I was there", "web").await.unwrap_err();
        assert!(e.to_string().contains("their own break-glass session"), "{}: {e}", w.name);
        let first = bg.review(id, &nurse, Verdict::Justified, "alarm confirmed", "web").await.unwrap();
        assert_eq!(first, Reviewed { outcome: "pending".into(), account_disabled: false }, "{}", w.name);
        let twice = bg.review(id, &nurse, Verdict::Justified, "again", "web").await.unwrap_err();
        assert!(twice.to_string().contains("already reviewed"), "{}: {twice}", w.name);
        let no_note = bg.review(id, &doc, Verdict::NotJustified, " ", "web").await.unwrap_err();
        assert!(matches!(no_note, BreakGlassError::Invalid(_)), "{}: {no_note}", w.name);
        let second = bg.review(id, &doc, Verdict::NotJustified, "no incident that night", "web").await.unwrap();
        assert_eq!(second, Reviewed { outcome: "not-justified".into(), account_disabled: true }, "{}", w.name);
        assert!(w.store.require_user(&jdoe).await.unwrap().disabled, "{}", w.name);
        assert_eq!(w.audit_of("breakglass.review_refused").await.len(), 3, "{}", w.name);
        let disabled = w.audit_of("user.disabled").await;
        assert_eq!(disabled.len(), 1, "{}", w.name);
        let reviewed = w.audit_of("breakglass.reviewed").await;
        // The disabling is in the same write as the review, right after it.
        assert_eq!(disabled[0].seq, reviewed[1].seq + 1, "{}", w.name);
        // A third review is refused.
        let third = w.user("third", Role::Admin).await;
        assert!(bg.review(id, &third, Verdict::Justified, "late", "web").await.is_err(), "{}", w.name);
    }
}

#[tokio::test]
async fn two_justified_settle_it_and_an_overdue_review_escalates_once() {
    for t in stores().await {
        let w = World::new(&t);
        let bg = service(&w, PolicyConfig::default(), Duration::from_secs(1));
        let other_node = service(&w, PolicyConfig::default(), Duration::from_secs(1));
        let jdoe = w.user("jdoe", Role::Vendor).await;
        let nurse = w.user("nurse", Role::Approver).await;
        let doc = w.user("doc", Role::Approver).await;
        let dev = w.device("vent-1", Criticality::Standard).await;
        right(&w, &jdoe).await;
        let late = bg.open(ask(&jdoe, &dev, Some(5))).await.unwrap().request;
        let done = bg.open(ask(&jdoe, &dev, Some(5))).await.unwrap().request;
        bg.review(done, &nurse, Verdict::Justified, "alarm confirmed", "web").await.unwrap();
        let r = bg.review(done, &doc, Verdict::Justified, "ward log agrees", "web").await.unwrap();
        assert_eq!(r.outcome, "justified", "{}", w.name);
        assert!(!w.store.require_user(&jdoe).await.unwrap().disabled, "{}", w.name);
        // Wait past the due time (a bounded poll on the store's own clock).
        let mut escalated = 0;
        for _ in 0..100 {
            escalated += bg.escalate_overdue().await.unwrap() + other_node.escalate_overdue().await.unwrap();
            if escalated > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        escalated += bg.escalate_overdue().await.unwrap() + other_node.escalate_overdue().await.unwrap();
        assert_eq!(escalated, 1, "{}", w.name);
        let rows = w.audit_of("breakglass.review_overdue").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        assert_eq!(rows[0].subject, format!("request:{late}"), "{}", w.name);
        // A node that read the overdue list before the other's escalation committed finds the
        // claim taken: the claim itself, not only the list, keeps it to one.
        let mut tx = w.audit.begin().await.unwrap();
        assert!(!w.store.claim_escalation(&mut tx, late, crate::clock::now()).await.unwrap(), "{}: escalated twice", w.name);
    }
}
