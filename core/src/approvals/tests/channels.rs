//! Channels through the decision service, on SQLite and PostgreSQL: a request names channels
//! (validated against the device's TCP ports), an approver may grant fewer but never more,
//! two approvers' narrowings combine, and old-style calls mean "shell".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::admin::fixture::World;
use crate::approvals::{ApprovalError, ApprovalInput, ApproveOutcome, RequestInput};
use crate::domain::{Channel, ChannelSet, Criticality, Role};
use crate::testdb::stores;

const PEER: &str = "127.0.0.1:50000";

fn set(s: &str) -> ChannelSet {
    ChannelSet::parse(s).unwrap()
}

#[tokio::test]
async fn approver_grants_what_was_asked_or_less() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let alice = w.user("alice", Role::Approver).await;
        let dev = w.device("pump-1", Criticality::Standard).await; // lists tcp 443

        // Old signature: shell only.
        let plain = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-1", 30).peer(PEER)).await.unwrap();
        assert_eq!(plain.channels, ChannelSet::shell(), "{}", w.name);

        // A port the device does not list is refused and nothing is stored.
        let err = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-2", 30).channels(&set("tcp:104")).peer(PEER)).await.unwrap_err();
        assert!(matches!(err, ApprovalError::Invalid(_)) && err.to_string().contains("443"), "{}: {err}", w.name);

        let req = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-3", 30).channels(&set("files,tcp:443")).peer(PEER)).await.unwrap();
        assert_eq!(req.channels.to_string(), "files,tcp:443");
        // More than asked is refused.
        let err = w.approvals.approve(ApprovalInput::new(req.id, &alice, "test").channels(Some(set("shell,files")))).await.unwrap_err();
        assert!(matches!(err, ApprovalError::Invalid(_)), "{}: {err:?}", w.name);
        let ApproveOutcome::Granted(g) = w.approvals.approve(ApprovalInput::new(req.id, &alice, "test").channels(Some(set("tcp:443")))).await.unwrap() else {
            panic!("{}: not granted", w.name)
        };
        assert_eq!(g.channels, set("tcp:443"), "{}", w.name);
        assert!(!g.channels.contains(Channel::Files));
        let stored = w.store.grant_of_request(req.id).await.unwrap().unwrap();
        assert_eq!(stored.channels, set("tcp:443"), "{}", w.name);
        let approved = w.audit_of("request.approved").await;
        let detail: serde_json::Value = serde_json::from_str(&approved[0].detail).unwrap();
        assert_eq!(detail["channels"], "tcp:443", "{}", w.name);
        assert_eq!(detail["requested_channels"], "files,tcp:443", "{}", w.name);

        // The old approve grants everything asked for.
        let ApproveOutcome::Granted(g) = w.approvals.approve(ApprovalInput::new(plain.id, &alice, "test")).await.unwrap() else { panic!() };
        assert_eq!(g.channels, ChannelSet::shell());
    }
}

#[tokio::test]
async fn two_approvers_narrowings_combine() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let alice = w.user("alice", Role::Approver).await;
        let bob = w.user("bob", Role::Approver).await;
        let dev = w.device("vent-1", Criticality::LifeCritical).await;
        let req = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-4", 30).channels(&set("shell,files,tcp:443")).peer(PEER)).await.unwrap();
        let first = w.approvals.approve(ApprovalInput::new(req.id, &alice, "test").channels(Some(set("shell,files")))).await.unwrap();
        assert!(matches!(first, ApproveOutcome::Recorded { have: 1, need: 2 }));
        let ApproveOutcome::Granted(g) = w.approvals.approve(ApprovalInput::new(req.id, &bob, "test")).await.unwrap() else { panic!() };
        assert_eq!(g.channels, set("shell,files"), "{}", w.name);
    }
}

/// Finding: a newer grant (`shell,files`) was ignored while an older `shell` grant for the same
/// device was still running, so `scp` was refused with "allows shell, not files". The grant
/// that covers the channel asked for is used now.
#[tokio::test]
async fn the_grant_that_covers_the_channel_is_used() {
    for t in stores().await {
        let w = World::new(&t);
        let vendor = w.user("jdoe", Role::Vendor).await;
        let alice = w.user("alice", Role::Approver).await;
        let dev = w.device("pump-1", Criticality::Standard).await;
        let older = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-1", 60).peer(PEER)).await.unwrap();
        let ApproveOutcome::Granted(shell) = w.approvals.approve(ApprovalInput::new(older.id, &alice, "test")).await.unwrap() else { panic!() };
        let newer = w.approvals.create_request(RequestInput::new(&vendor, &dev, "INC-2", 30).channels(&set("shell,files")).peer(PEER)).await.unwrap();
        let ApproveOutcome::Granted(files) = w.approvals.approve(ApprovalInput::new(newer.id, &alice, "test")).await.unwrap() else { panic!() };
        assert!(shell.ends_at > files.ends_at, "{}: the narrower grant ends later", w.name);
        let (v, d, now) = (older.vendor_id, older.device_id, crate::clock::now());
        let store = &w.store;
        let pick = |c| async move { store.grant_for(v, d, c, now).await.unwrap().map(|g| g.id) };
        assert_eq!(pick(Channel::Files).await, Some(files.id), "{}: file transfer uses the grant that allows it", w.name);
        assert_eq!(pick(Channel::Shell).await, Some(shell.id), "{}: a terminal uses the latest-ending grant", w.name);
        assert_eq!(pick(Channel::Tcp(443)).await, Some(shell.id), "{}: nothing covers it: the latest grant, to say what it allows", w.name);
        assert_eq!(w.store.current_grants(v, d, now).await.unwrap().len(), 2, "{}: both are listed", w.name);
    }
}
