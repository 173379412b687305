//! Containment orders on both back ends: what one order revokes, settles and stops, the
//! patient-safety rules (confirmation, graceful stop, immediate with a reason), who may order
//! it, and that an order whose write fails changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::admin::fixture::{World, ACTOR};
use crate::approvals::{ApprovalInput, ApproveOutcome, RequestInput, Window};
use crate::domain::{DeviceName, NodeId, RequestId, RequestState, Zone};
use crate::sessions::SessionStart;
use crate::testdb::stores;

const GRACE: Duration = Duration::from_secs(120);

/// Two devices in zone `icu` (pump-1 life-critical, mon-1 standard) and lab-1 in zone `lab`;
/// on each icu device a running session, a pending request and an approved grant scheduled
/// for later; on lab-1 a pending request.
struct Ward {
    w: World,
    c: Containments,
    root: Username,
    pump: Fixture,
    mon: Fixture,
    lab_pending: RequestId,
}

struct Fixture {
    device: DeviceName,
    session: SessionId,
    running: RequestId,
    pending: RequestId,
    scheduled: RequestId,
}

async fn ward(t: &crate::testdb::TestStore) -> Ward {
    let w = World::new(t);
    let c = Containments::new(w.store.clone(), w.audit.clone(), GRACE);
    let jdoe = w.user("jdoe", Role::Vendor).await;
    w.user("nurse", Role::Approver).await;
    w.user("doc", Role::Approver).await;
    let root = w.user("root", Role::Admin).await;
    let pump = fixture(&w, &jdoe, w.device("pump-1", Criticality::LifeCritical).await).await;
    let mon = fixture(&w, &jdoe, w.device("mon-1", Criticality::Standard).await).await;
    let mut spec = World::device_spec("lab-1", Criticality::Standard);
    spec.zone = Zone::parse("lab").unwrap();
    w.admin.create_device(ACTOR, spec).await.unwrap();
    let lab_pending = request(&w, &jdoe, &"lab-1".parse().unwrap()).await;
    Ward { w, c, root, pump, mon, lab_pending }
}

async fn request(w: &World, vendor: &Username, device: &DeviceName) -> RequestId {
    w.approvals.create_request(RequestInput::new(vendor, device, "INC-1 check", 30)).await.unwrap().id
}

/// Approves `id` by both approvers (enough for any device), starting at `starts_at`.
async fn grant(w: &World, id: RequestId, starts_at: Option<i64>) -> crate::store::GrantRecord {
    let window = Window { length: None, starts_at };
    for a in ["nurse", "doc"] {
        if let ApproveOutcome::Granted(g) = w.approvals.approve(ApprovalInput::new(id, &a.parse().unwrap(), "test").window(window)).await.unwrap() {
            return g;
        }
    }
    panic!("request #{id} not granted")
}

async fn fixture(w: &World, vendor: &Username, device: DeviceName) -> Fixture {
    let running = request(w, vendor, &device).await;
    let g = grant(w, running, None).await;
    let user = w.store.require_user(vendor).await.unwrap();
    let dev = w.store.require_device(&device).await.unwrap();
    let session = w.sessions.start(SessionStart { user: &user, grant: &g, device: &dev, peer: "192.0.2.1:1" }).await.unwrap();
    let scheduled = request(w, vendor, &device).await;
    grant(w, scheduled, Some(crate::clock::now() + 3600)).await;
    let pending = request(w, vendor, &device).await;
    Fixture { device, session, running, pending, scheduled }
}

fn icu() -> Scope {
    Scope::Zone(Zone::parse("icu").unwrap())
}

async fn state(w: &World, id: RequestId) -> RequestState {
    w.store.require_request(id).await.unwrap().state
}

/// What an order must not have touched when it was refused.
async fn untouched(ward: &Ward, audit_before: usize) {
    let w = &ward.w;
    assert_eq!(w.audit_rows().await.len(), audit_before, "{}: a refused order wrote to the log", w.name);
    for f in [&ward.pump, &ward.mon] {
        assert_eq!(state(w, f.pending).await, RequestState::Pending, "{}", w.name);
        assert_eq!(state(w, f.running).await, RequestState::Approved, "{}", w.name);
        assert_eq!(state(w, f.scheduled).await, RequestState::Approved, "{}", w.name);
        let s = w.store.session(f.session).await.unwrap().unwrap();
        assert!(s.stop_requested_at.is_none(), "{}: {s:?}", w.name);
    }
    assert!(w.store.containments(false, 10).await.unwrap().is_empty(), "{}", w.name);
}

/// The whole order: the standard session is cut at once, the life-critical one is given the
/// grace (its grant revoked as of its deadline, so only it goes on meanwhile), every grant
/// is revoked, every pending request denied naming the containment, lab is untouched, new
/// requests there are refused until the lift, and one `containment.ordered` row names it all.
#[tokio::test]
async fn containing_a_zone_revokes_settles_and_stops_in_one_audited_order() {
    for t in stores().await {
        let ward = ward(&t).await;
        let (w, c) = (&ward.w, &ward.c);
        let plan = c.preview(&icu()).await.unwrap();
        assert!(plan.needs_confirmation(), "{}", w.name);
        assert_eq!((plan.devices, plan.pending.len(), plan.granted.len(), plan.sessions.len()), (2, 2, 4, 2), "{}", w.name);
        let before = crate::clock::now();
        let done = c
            .contain(ContainInput::new(icu(), &ward.root, "INC-9 ransomware on the ICU VLAN", "test").confirmed_by(Some("Dr Ada Byron, ICU consultant")))
            .await
            .unwrap();
        let (pump, mon) = (&ward.pump, &ward.mon);
        let mut settled = done.settled.clone();
        settled.sort();
        assert_eq!(settled, vec![pump.pending.min(mon.pending), pump.pending.max(mon.pending)], "{}", w.name);
        assert_eq!(done.revoked.len(), 4, "{}", w.name);
        for f in [pump, mon] {
            let pending = w.store.require_request(f.pending).await.unwrap();
            assert_eq!(pending.state, RequestState::Denied, "{}", w.name);
            assert!(pending.decision_note.as_deref().unwrap().contains("contained: zone icu"), "{}: {pending:?}", w.name);
            for r in [f.running, f.scheduled] {
                assert_eq!(state(w, r).await, RequestState::Revoked, "{}", w.name);
            }
        }
        assert_eq!(state(w, ward.lab_pending).await, RequestState::Pending, "{}: outside the zone", w.name);
        let stop = |id| done.stopped.iter().find(|s| s.session == id).unwrap().clone();
        assert_eq!(stop(mon.session).mode, "immediate", "{}", w.name);
        let graceful = stop(pump.session);
        assert_eq!(graceful.mode, "graceful", "{}", w.name);
        assert!(graceful.stop_at >= before + GRACE.as_secs() as i64, "{}", w.name);
        // What the broker sees: the standard session's grant cuts it; the life-critical one
        // keeps its deadline, and its grant serves no new connection.
        let controls = w.store.session_controls(&NodeId::parse("test-node").unwrap()).await.unwrap();
        let control = |id| controls.iter().find(|c| c.id == id).unwrap();
        assert!(control(mon.session).revoked, "{}", w.name);
        assert!(!control(pump.session).revoked, "{}", w.name);
        assert_eq!(control(pump.session).stop.as_ref().unwrap().0, graceful.stop_at, "{}", w.name);
        let user = w.store.require_user(&"jdoe".parse().unwrap()).await.unwrap();
        let dev = w.store.require_device(&pump.device).await.unwrap();
        assert!(w.store.current_grants(user.id, dev.id, crate::clock::now()).await.unwrap().is_empty(), "{}", w.name);
        // Contained: no new request there, in either device; lab still works.
        for d in [&pump.device, &mon.device] {
            let refused = w.approvals.create_request(RequestInput::new(&"jdoe".parse().unwrap(), d, "again", 30)).await.unwrap_err();
            assert!(matches!(refused, ApprovalError::NotAllowed(ref m) if m.contains("is contained")), "{}: {refused}", w.name);
        }
        request(w, &"jdoe".parse().unwrap(), &"lab-1".parse().unwrap()).await;
        let rows = w.audit_of("containment.ordered").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        let d: serde_json::Value = serde_json::from_str(&rows[0].detail).unwrap();
        assert_eq!((rows[0].actor.as_str(), rows[0].subject.as_str()), ("root", "system"), "{}", w.name);
        assert_eq!(d["scope"], serde_json::json!({"kind": "zone", "name": "icu"}), "{}", w.name);
        assert_eq!(d["confirmed_by"], "Dr Ada Byron, ICU consultant", "{}", w.name);
        assert_eq!(d["reason"], "INC-9 ransomware on the ICU VLAN", "{}", w.name);
        assert_eq!(d["immediate"], false, "{}", w.name);
        assert_eq!(d["counts"], serde_json::json!({"revoked": 4, "settled": 2, "stopped": 2, "graceful": 1}), "{}", w.name);
        assert_eq!(d["stopped"].as_array().unwrap().len(), 2, "{}", w.name);
        assert!(w.audit_of("request.revoked").await.is_empty() && w.audit_of("session.stop_requested").await.is_empty(), "{}: one row", w.name);
        // A second order over the same scope is refused; lifting it lets requests in again.
        let again = c.contain(ContainInput::new(icu(), &ward.root, "again", "test").confirmed_by(Some("x"))).await.unwrap_err();
        assert!(matches!(again, ApprovalError::Conflict(_)), "{}: {again}", w.name);
        let id = c.lift(LiftInput::new(icu(), &ward.root, "INC-9 closed, VLAN clean", "test")).await.unwrap();
        assert_eq!(id, done.id, "{}", w.name);
        let lifted = w.audit_of("containment.lifted").await;
        assert_eq!(lifted.len(), 1, "{}", w.name);
        assert!(lifted[0].detail.contains("INC-9 closed"), "{}", w.name);
        request(w, &"jdoe".parse().unwrap(), &pump.device).await;
        assert!(matches!(c.lift(LiftInput::new(icu(), &ward.root, "twice", "test")).await, Err(ApprovalError::NotFound(_))), "{}", w.name);
    }
}

/// No confirmation while a life-critical session runs: refused, nothing changed. A device
/// with no life-critical session needs none.
#[tokio::test]
async fn without_a_clinical_confirmation_a_life_critical_session_refuses_the_order() {
    for t in stores().await {
        let ward = ward(&t).await;
        let before = ward.w.audit_rows().await.len();
        for confirmed in [None, Some("   ")] {
            for immediate in [None, Some("spreading")] {
                let order = ContainInput::new(icu(), &ward.root, "INC-9", "test").confirmed_by(confirmed).immediate(immediate);
                let e = ward.c.contain(order).await.unwrap_err();
                assert!(e.to_string().contains("safe to disconnect") && e.to_string().contains("pump-1"), "{}: {e}", ward.w.name);
            }
        }
        untouched(&ward, before).await;
        let mon = Scope::Device(ward.mon.device.clone());
        let done = ward.c.contain(ContainInput::new(mon, &ward.root, "INC-9", "test")).await.unwrap();
        assert_eq!(done.stopped.len(), 1, "{}", ward.w.name);
    }
}

/// `immediate` needs its own reason; with it, the life-critical session is cut at once too
/// (its grant revoked now) and the row says so.
#[tokio::test]
async fn an_immediate_order_needs_its_reason_and_cuts_every_session_at_once() {
    for t in stores().await {
        let ward = ward(&t).await;
        let before = ward.w.audit_rows().await.len();
        let order = |why: Option<&str>| ContainInput::new(icu(), &ward.root, "INC-9", "test").confirmed_by(Some("Dr Ada")).immediate(why);
        for blank in ["", "  "] {
            assert_eq!(ward.c.contain(order(Some(blank))).await.unwrap_err().to_string(), IMMEDIATE_NEEDS_REASON, "{}", ward.w.name);
        }
        untouched(&ward, before).await;
        let done = ward.c.contain(order(Some("the pump is sending malware"))).await.unwrap();
        assert!(done.stopped.iter().all(|s| s.mode == "immediate"), "{}: {:?}", ward.w.name, done.stopped);
        let controls = ward.w.store.session_controls(&NodeId::parse("test-node").unwrap()).await.unwrap();
        assert!(controls.iter().all(|c| c.revoked), "{}: {controls:?}", ward.w.name);
        let d = &ward.w.audit_of("containment.ordered").await[0].detail;
        assert!(d.contains("\"immediate\":true") && d.contains("the pump is sending malware"), "{}: {d}", ward.w.name);
    }
}

/// Approvers, auditors, vendors and a disabled admin are refused, each refusal audited, and
/// nothing changes; only an enabled admin lifts.
#[tokio::test]
async fn only_an_enabled_admin_may_contain_or_lift_and_refusals_are_audited() {
    for t in stores().await {
        let ward = ward(&t).await;
        let w = &ward.w;
        w.user("audi", Role::Auditor).await;
        let old = w.user("old-root", Role::Admin).await;
        w.admin.set_user_disabled(ACTOR, &old, true).await.unwrap();
        let before = w.audit_rows().await.len();
        for who in ["nurse", "audi", "jdoe", "old-root", "nobody"] {
            let order = ContainInput::new(icu(), &who.parse().unwrap(), "INC-9", "test").confirmed_by(Some("Dr Ada"));
            let e = ward.c.contain(order).await.unwrap_err();
            assert!(matches!(e, ApprovalError::NotAllowed(_)), "{}: {who}: {e}", w.name);
        }
        let refused = w.audit_of("containment.refused").await;
        assert_eq!(refused.len(), 5, "{}", w.name);
        assert!(refused.iter().any(|r| r.actor == "nurse" && r.detail.contains("only an admin")), "{}", w.name);
        untouched(&ward, before + 5).await;
        ward.c.contain(ContainInput::new(icu(), &ward.root, "INC-9", "test").confirmed_by(Some("Dr Ada"))).await.unwrap();
        let e = ward.c.lift(LiftInput::new(icu(), &"nurse".parse().unwrap(), "done", "test")).await.unwrap_err();
        assert!(matches!(e, ApprovalError::NotAllowed(_)), "{}: {e}", w.name);
        assert!(ward.c.store.containment_in_force(&icu()).await.unwrap().is_some(), "{}", w.name);
    }
}

/// The store refuses the order's audit row, the last step of the write (a database that went
/// away, a full disk): nothing of the order is left, no revocation, no settlement, no stop,
/// no containment; the broker sees nothing.
#[tokio::test]
async fn an_order_whose_write_fails_changes_nothing() {
    for t in stores().await {
        let ward = ward(&t).await;
        let w = &ward.w;
        let poison = match w.store.backend() {
            crate::store::Backend::Sqlite => vec![
                "CREATE TRIGGER poison BEFORE INSERT ON audit_log WHEN NEW.kind = 'containment.ordered' BEGIN SELECT RAISE(ABORT, 'store gone'); END;",
            ],
            crate::store::Backend::Postgres => vec![
                "CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'store gone'; END $$;",
                "CREATE TRIGGER poison BEFORE INSERT ON audit_log FOR EACH ROW WHEN (NEW.kind = 'containment.ordered') EXECUTE FUNCTION poison();",
            ],
        };
        for q in poison {
            sqlx::query(q).execute(w.store.pool()).await.unwrap();
        }
        let before = w.audit_rows().await.len();
        let e = ward.c.contain(ContainInput::new(icu(), &ward.root, "INC-9", "test").confirmed_by(Some("Dr Ada"))).await.unwrap_err();
        assert!(matches!(e, ApprovalError::Store(_)), "{}: {e}", w.name);
        untouched(&ward, before).await;
        let controls = w.store.session_controls(&NodeId::parse("test-node").unwrap()).await.unwrap();
        assert!(controls.iter().all(|c| !c.revoked && c.stop.is_none()), "{}: {controls:?}", w.name);
        request(w, &"jdoe".parse().unwrap(), &ward.pump.device).await;
    }
}

/// A mistyped zone is refused rather than looking contained.
#[tokio::test]
async fn a_scope_without_devices_is_refused() {
    for t in stores().await {
        let ward = ward(&t).await;
        let e = ward.c.contain(ContainInput::new(Scope::Zone(Zone::parse("icuu").unwrap()), &ward.root, "INC-9", "test")).await.unwrap_err();
        assert!(matches!(e, ApprovalError::NotFound(ref m) if m.contains("zone icuu")), "{}: {e}", ward.w.name);
        assert!(ward.w.store.containments(false, 10).await.unwrap().is_empty(), "{}", ward.w.name);
    }
}

/// A contained device cannot leave its containment by moving zone, nor can a device move
/// into a contained zone; and a request pending in a contained scope (one that slipped in by
/// any way) cannot be approved, and that refusal is in the log.
#[tokio::test]
async fn a_contained_scope_keeps_its_devices_takes_none_in_and_approves_nothing() {
    for t in stores().await {
        let ward = ward(&t).await;
        let w = &ward.w;
        ward.c.contain(ContainInput::new(icu(), &ward.root, "INC-9", "test").confirmed_by(Some("Dr Ada"))).await.unwrap();
        let to = |zone: &str| crate::admin::devices::DeviceEdit { zone: Some(Zone::parse(zone).unwrap()), ..Default::default() };
        for (device, zone) in [("pump-1", "lab"), ("lab-1", "icu")] {
            let e = w.admin.edit_device(ACTOR, &device.parse().unwrap(), to(zone)).await.unwrap_err();
            assert!(e.to_string().contains("zone icu is contained"), "{}: {device}: {e}", w.name);
        }
        assert_eq!(w.store.require_device(&"pump-1".parse().unwrap()).await.unwrap().zone.as_str(), "icu", "{}", w.name);
        // lab-1's pending request, under a containment recorded without settling it.
        let lab = Scope::Device("lab-1".parse().unwrap());
        let mut tx = w.audit.begin().await.unwrap();
        w.store.insert_containment(&mut tx, crate::store::NewContainment { scope: &lab, ordered_by: "root", reason: "x", confirmed_by: None, immediate: None, now: crate::clock::now() }).await.unwrap();
        tx.append(crate::audit::Event::new("test", Kind::ContainmentOrdered, Subject::device("lab-1"), serde_json::json!({}))).await.unwrap();
        tx.commit().await.unwrap();
        let e = w.approvals.approve(ApprovalInput::new(ward.lab_pending, &"nurse".parse().unwrap(), "test")).await.unwrap_err();
        assert!(matches!(e, ApprovalError::Conflict(ref m) if m.contains("is contained")), "{}: {e}", w.name);
        let refused = w.audit_of("request.approval_refused").await;
        assert!(refused.len() == 1 && refused[0].detail.contains("is contained"), "{}: the refusal is not in the log: {refused:?}", w.name);
        assert_eq!(state(w, ward.lab_pending).await, RequestState::Pending, "{}", w.name);
        assert!(w.store.grant_of_request(ward.lab_pending).await.unwrap().is_none(), "{}", w.name);
    }
}

/// A request for a contained device is refused on the record: one `request.refused_contained`
/// row naming the vendor, the device, the containment and where it came from, and no request
/// left half-written.
#[tokio::test]
async fn a_refused_request_in_a_contained_scope_is_in_the_log() {
    for t in stores().await {
        let ward = ward(&t).await;
        let w = &ward.w;
        let mon = Scope::Device(ward.mon.device.clone());
        ward.c.contain(ContainInput::new(mon.clone(), &ward.root, "INC-9", "test")).await.unwrap();
        let order = ward.c.store.containment_in_force(&mon).await.unwrap().unwrap();
        let before = w.store.list_requests(None, None, 100).await.unwrap().len();
        let ask = RequestInput::new(&"jdoe".parse().unwrap(), &ward.mon.device, "INC-10 again", 30).peer("10.1.2.3:4444");
        let e = w.approvals.create_request(ask).await.unwrap_err();
        assert!(matches!(e, ApprovalError::NotAllowed(ref m) if m.contains("is contained")), "{}: {e}", w.name);
        let rows = w.audit_of("request.refused_contained").await;
        assert_eq!(rows.len(), 1, "{}", w.name);
        let d: serde_json::Value = serde_json::from_str(&rows[0].detail).unwrap();
        assert_eq!((rows[0].actor.as_str(), rows[0].subject.as_str()), ("jdoe", "device:mon-1"), "{}", w.name);
        assert_eq!((d["vendor"].as_str(), d["device"].as_str(), d["containment"].as_i64(), d["peer"].as_str()), (Some("jdoe"), Some("mon-1"), Some(order.id), Some("10.1.2.3:4444")), "{}: {d}", w.name);
        assert_eq!(w.store.list_requests(None, None, 100).await.unwrap().len(), before, "{}: a request was left behind", w.name);
    }
}
