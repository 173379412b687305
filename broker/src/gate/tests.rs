//! The gate against a real SQLite store (vendors, devices and grants made through core's
//! services) and a scripted vendor in place of the terminal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use crate::testkit::World;
use portcullis_core::approvals::{ApprovalInput};
use portcullis_core::domain::ChannelSet;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Longest a test may wait for the gate.
const GUARD: Duration = Duration::from_secs(60);

/// A vendor that answers from a script and remembers everything it was told.
#[derive(Default)]
struct Script {
    /// Lines the vendor types, in order; then the channel closes.
    lines: VecDeque<Line>,
    said: Mutex<Vec<String>>,
    warned: Mutex<Vec<String>>,
    /// Woken when the gate says it is waiting for an approver.
    waiting: Arc<Notify>,
}

impl Script {
    fn typing(lines: &[&str]) -> Script {
        Script { lines: lines.iter().map(|l| Line::Text((*l).to_owned())).collect(), ..Default::default() }
    }
    fn said(&self) -> String {
        self.said.lock().unwrap().concat()
    }
    fn warned(&self) -> String {
        self.warned.lock().unwrap().concat()
    }
}

impl Dialog for Script {
    fn say(&self, text: &str) -> impl Future<Output = ()> + Send {
        if text.contains("is waiting for approval") {
            self.waiting.notify_one();
        }
        self.said.lock().unwrap().push(text.to_owned());
        std::future::ready(())
    }
    fn warn(&self, text: &str) -> impl Future<Output = ()> + Send {
        self.warned.lock().unwrap().push(text.to_owned());
        std::future::ready(())
    }
    fn read_line(&mut self) -> impl Future<Output = Line> + Send {
        std::future::ready(self.lines.pop_front().unwrap_or(Line::Closed))
    }
    fn interrupted(&mut self) -> impl Future<Output = Line> + Send {
        // The vendor never presses Ctrl-C in these tests.
        std::future::pending()
    }
}

/// What a connection would give the gate.
struct Seat {
    user: UserRecord,
    changes: ChangeRx,
    cancel: CancellationToken,
    entry: crate::state::Entry,
}

impl Seat {
    fn new(w: &World, user: UserRecord) -> Seat {
        Seat { user, changes: w.ctx.audit.feed().subscribe(), cancel: CancellationToken::new(), entry: crate::state::Entry { host: "broker.example".into(), port: 2222 } }
    }
    fn caller<'a>(&'a self, w: &'a World) -> Caller<'a> {
        Caller { ctx: &w.ctx, changes: &self.changes, user: &self.user, peer: crate::testkit::PEER, cancel: &self.cancel, entry: &self.entry }
    }
}

async fn admit_within(who: &Caller<'_>, term: &mut Script, dev: &DeviceRecord, interactive: bool, needs: Channel) -> Admission {
    tokio::time::timeout(GUARD, admit(who, term, dev, interactive, needs)).await.expect("the gate did not decide")
}

#[tokio::test]
async fn a_current_grant_is_used() {
    let w = World::new().await;
    let vendor = w.vendor("jdoe").await;
    let dev = w.device("pump-1").await;
    let grant = w.grant(&vendor, &dev, 30, &ChannelSet::shell()).await;
    let seat = Seat::new(&w, vendor);
    let mut term = Script::default();
    let got = admit_within(&seat.caller(&w), &mut term, &dev, false, Channel::Shell).await;
    match got {
        Admission::Granted(g) => assert_eq!(g.id, grant.id),
        other => panic!("not admitted: {other:?}"),
    }
    assert_eq!(term.said(), "");
    assert_eq!(term.warned(), "");
}

#[tokio::test]
async fn without_a_grant_a_command_is_refused_with_how_to_ask() {
    let w = World::new().await;
    let vendor = w.vendor("jdoe").await;
    let dev = w.device("pump-1").await;
    let seat = Seat::new(&w, vendor.clone());
    let mut term = Script::default();
    let got = admit_within(&seat.caller(&w), &mut term, &dev, false, Channel::Files).await;
    assert!(matches!(got, Admission::Refused), "{got:?}");
    let warned = term.warned();
    assert!(warned.starts_with("portcullis: you have no current access to pump-1.\n"), "{warned}");
    assert!(warned.contains("ssh -p 2222 jdoe@broker.example request pump-1 --minutes 60 --reason \"TICKET and what you will do\" --files\n"), "{warned}");
    assert!(warned.contains("ssh -t -p 2222 jdoe:pump-1@broker.example"), "{warned}");
    // Nothing was filed on the vendor's behalf.
    assert!(w.ctx.store.list_requests(None, Some(vendor.id), 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_grant_without_the_channel_is_refused_with_how_to_ask() {
    let w = World::new().await;
    let vendor = w.vendor("jdoe").await;
    let dev = w.device("pump-1").await;
    let grant = w.grant(&vendor, &dev, 30, &ChannelSet::shell()).await;
    let seat = Seat::new(&w, vendor);
    let mut term = Script::default();
    let got = admit_within(&seat.caller(&w), &mut term, &dev, true, Channel::Files).await;
    match got {
        Admission::NotGranted(g) => assert_eq!(g.id, grant.id),
        other => panic!("expected a refusal naming the grant: {other:?}"),
    }
    let warned = term.warned();
    let expected = format!("portcullis: your access to pump-1 (request #{}) allows shell, not files.", grant.request_id);
    assert!(warned.starts_with(&expected), "{warned}");
    assert!(warned.contains("  terminal: ssh -p 2222 jdoe:pump-1@broker.example\n"), "{warned}");
    assert!(warned.contains("Ask for files with: ssh -p 2222 jdoe@broker.example request pump-1 --minutes 60 --reason TEXT --files\n"), "{warned}");
}

#[tokio::test]
async fn a_files_only_grant_points_a_terminal_to_sftp() {
    let w = World::new().await;
    let vendor = w.vendor("jdoe").await;
    let dev = w.device("pump-1").await;
    w.grant(&vendor, &dev, 30, &ChannelSet::parse("files").unwrap()).await;
    let seat = Seat::new(&w, vendor);
    let mut term = Script::default();
    let got = admit_within(&seat.caller(&w), &mut term, &dev, false, Channel::Shell).await;
    assert!(matches!(got, Admission::NotGranted(_)), "{got:?}");
    let warned = term.warned();
    assert!(warned.contains("  files:    sftp -P 2222 -o User=jdoe:pump-1 broker.example"), "{warned}");
    assert!(warned.contains("scp -P 2222 -o User=jdoe:pump-1 FILE broker.example:PATH"), "{warned}");
    assert!(!warned.contains("ssh -p 2222 jdoe:pump-1@"), "a files-only grant was pointed to ssh:\n{warned}");
}

#[tokio::test]
async fn a_store_that_cannot_answer_refuses() {
    let w = World::new().await;
    let vendor = w.vendor("jdoe").await;
    let dev = w.device("pump-1").await;
    w.grant(&vendor, &dev, 30, &ChannelSet::shell()).await;
    let seat = Seat::new(&w, vendor);
    w.ctx.store.close().await;
    let mut term = Script::default();
    let got = admit_within(&seat.caller(&w), &mut term, &dev, true, Channel::Shell).await;
    assert!(matches!(got, Admission::Refused), "{got:?}");
    assert_eq!(term.warned(), "portcullis: the service is unavailable; try again later.\n");
}

#[tokio::test]
async fn an_interactive_vendor_files_a_request_and_passes_once_approved() {
    let w = World::new().await;
    let vendor = w.vendor("jdoe").await;
    let dev = w.device("pump-1").await;
    let seat = Seat::new(&w, vendor.clone());
    let mut term = Script::typing(&["INC-7 replace the battery", "15"]);
    let waiting = term.waiting.clone();
    let approve = async {
        waiting.notified().await;
        let pending = w.ctx.store.list_requests(None, Some(vendor.id), 10).await.unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!((pending[0].minutes, pending[0].reason.as_str()), (15, "INC-7 replace the battery"));
        w.ctx.approvals.approve(ApprovalInput::new(pending[0].id, &w.approver, "test")).await.unwrap();
    };
    let caller = seat.caller(&w);
    let (got, ()) = tokio::join!(admit_within(&caller, &mut term, &dev, true, Channel::Shell), approve);
    let Admission::Granted(g) = got else { panic!("not admitted: {got:?}") };
    assert_eq!(g.vendor_id, vendor.id);
    let said = term.said();
    assert!(said.contains("You have no current access to pump-1"), "{said}");
    assert!(said.contains("Minutes needed ["), "{said}");
    assert!(said.contains("approved; access until"), "{said}");
    assert_eq!(term.warned(), "");
}

#[tokio::test]
async fn the_prompt_refuses_minutes_by_the_rule_that_files_requests() {
    let w = World::new().await;
    let vendor = w.vendor("jdoe").await;
    let dev = w.device("pump-1").await;
    let max = w.ctx.approvals.policy().rule(dev.criticality, &dev.zone).max_minutes;
    let seat = Seat::new(&w, vendor.clone());
    // Three refused answers: nothing is filed.
    let too_long = (max + 1).to_string();
    let mut term = Script::typing(&["INC-8 check", "0", &too_long, "-3"]);
    let got = admit_within(&seat.caller(&w), &mut term, &dev, true, Channel::Shell).await;
    assert!(matches!(got, Admission::Refused), "{got:?}");
    let said = term.said();
    for n in [0, max + 1, -3] {
        let rule = portcullis_core::approvals::request_minutes(n, max).unwrap_err();
        assert!(said.contains(&rule), "the prompt did not use the core rule for {n} ({rule}):\n{said}");
    }
    assert!(w.ctx.store.list_requests(None, Some(vendor.id), 10).await.unwrap().is_empty());
}
