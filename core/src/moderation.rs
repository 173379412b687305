//! Moderated sessions, inside one process: who moderates each session now and whether a
//! moderator paused the vendor's input. The web side's live view joins a moderator for as
//! long as their moderating view stays open ([`Rooms::join`], a [`Presence`]) and pauses or
//! resumes input; the broker holding the session follows the room ([`Rooms::subscribe`]) to
//! open the device connection only once a moderator is present, to tell the vendor who is
//! watching, and to drop the vendor's input while no moderator is present or one paused it.
//!
//! Who may moderate is the policy's and the web side's to decide; the audit rows are written
//! there too. This is only the shared state, bounded by the sessions running here: a room is
//! forgotten as soon as nobody follows it ([`Following`] is dropped, on whatever path the
//! channel ends) and nobody moderates it.

use crate::domain::{Role, SessionId};
use crate::policy::Rule;
use std::collections::{BTreeMap, HashMap};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// One session's moderation, as it is now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Room {
    /// Moderators watching, by user name, with how many moderating views each has open.
    pub moderators: BTreeMap<String, usize>,
    /// The moderator who paused the vendor's input, while it is paused by one.
    pub paused_by: Option<String>,
    /// Whether a moderator was ever present (the device connection was opened).
    pub opened: bool,
}

impl Room {
    /// Whether at least one moderator watches.
    pub fn present(&self) -> bool {
        !self.moderators.is_empty()
    }

    /// Whether the vendor's input may reach the device: a moderator watches and none paused it.
    pub fn input_open(&self) -> bool {
        self.present() && self.paused_by.is_none()
    }

    /// The moderators' names, for the vendor's terminal: `alice, bob`.
    pub fn names(&self) -> String {
        self.moderators.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
    }
}

/// What a join changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    /// This user had no moderating view open before.
    pub new_moderator: bool,
    /// Nobody moderated before: input opens (or the device connection, the first time).
    pub first: bool,
    /// A moderator had been present before (this join ends a pause for want of one).
    pub reopened: bool,
}

/// What a leave changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Left {
    /// The user has no moderating view open any more.
    pub gone: bool,
    /// Nobody moderates any more: the vendor's input is paused.
    pub last: bool,
}

/// Whether `user` (of `role`) may moderate a session of `vendor` on a device under `rule`,
/// whose request was filed by `filed_by` (an approver filing for a vendor): an approver
/// under the rule (or an admin) who is neither. The caller has checked that the user may
/// see the session at all. `Err` says why not, for the refusal.
pub fn may_moderate(user: &str, role: Role, rule: &Rule, vendor: &str, filed_by: Option<&str>) -> Result<(), &'static str> {
    if !rule.moderated {
        return Err("this session is not moderated");
    }
    if !(rule.may_approve(role) || role == Role::Admin) {
        return Err("only an approver may moderate a session");
    }
    if user == vendor || filed_by == Some(user) {
        return Err("you may not moderate a session you asked for");
    }
    Ok(())
}

/// The process's moderation rooms. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Rooms {
    rooms: Arc<Mutex<HashMap<i64, watch::Sender<Room>>>>,
}

impl Rooms {
    fn lock(&self) -> MutexGuard<'_, HashMap<i64, watch::Sender<Room>>> {
        // Plain inserts and removals: a poisoned lock is taken over.
        self.rooms.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows `s`'s room: its state now and every change, until the [`Following`] is
    /// dropped. Subscribed under the lock, so a room being forgotten meanwhile cannot leave
    /// the follower on a room nobody joins any more.
    pub fn subscribe(&self, s: SessionId) -> Following {
        let rx = self.lock().entry(s.0).or_insert_with(|| watch::channel(Room::default()).0).subscribe();
        Following { rx, rooms: self.clone(), session: s }
    }

    /// The room of `s` as it is now.
    pub fn get(&self, s: SessionId) -> Room {
        self.lock().get(&s.0).map(|tx| tx.borrow().clone()).unwrap_or_default()
    }

    /// `name` opens a moderating view of `s`; it lasts until the [`Presence`] is left or dropped.
    pub fn join(&self, s: SessionId, name: &str) -> (Presence, Joined) {
        let mut joined = Joined { new_moderator: false, first: false, reopened: false };
        let mut rooms = self.lock();
        rooms.entry(s.0).or_insert_with(|| watch::channel(Room::default()).0).send_modify(|r| {
            joined.first = !r.present();
            joined.reopened = joined.first && r.opened;
            let n = r.moderators.entry(name.to_owned()).or_insert(0);
            joined.new_moderator = *n == 0;
            *n += 1;
            r.opened = true;
        });
        drop(rooms);
        (Presence { rooms: self.clone(), session: s, name: name.to_owned(), left: false }, joined)
    }

    fn leave(&self, s: SessionId, name: &str) -> Left {
        let mut left = Left { gone: false, last: false };
        let mut rooms = self.lock();
        if let Some(tx) = rooms.get(&s.0) {
            tx.send_modify(|r| {
                if let Some(n) = r.moderators.get_mut(name) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        r.moderators.remove(name);
                        left.gone = true;
                        left.last = r.moderators.is_empty();
                    }
                }
            });
        }
        forget_if_unused(&mut rooms, s);
        left
    }

    /// `by` pauses the vendor's input; false if it was paused already or the session has no
    /// room (nobody follows or moderates it here).
    pub fn pause(&self, s: SessionId, by: &str) -> bool {
        self.lock().get(&s.0).is_some_and(|tx| {
            tx.send_if_modified(|r| {
                if r.paused_by.is_some() {
                    return false;
                }
                r.paused_by = Some(by.to_owned());
                true
            })
        })
    }

    /// Resumes the vendor's input; false if no moderator had paused it.
    pub fn resume(&self, s: SessionId) -> bool {
        self.lock().get(&s.0).is_some_and(|tx| tx.send_if_modified(|r| r.paused_by.take().is_some()))
    }

    /// Rooms held (tests and diagnostics).
    pub fn count(&self) -> usize {
        self.lock().len()
    }
}

/// Removes `s`'s room if nobody follows or moderates it (called with the lock held).
fn forget_if_unused(rooms: &mut HashMap<i64, watch::Sender<Room>>, s: SessionId) {
    if rooms.get(&s.0).is_some_and(|tx| tx.receiver_count() == 0 && !tx.borrow().present()) {
        rooms.remove(&s.0);
    }
}

/// One follower of a session's room ([`Rooms::subscribe`]): a `watch::Receiver` of the room
/// (through `Deref`), which forgets the room when dropped if it was the last follower and
/// nobody moderates. Every path that ends a channel drops it, so no room outlives its session.
#[derive(Debug)]
pub struct Following {
    rx: watch::Receiver<Room>,
    rooms: Rooms,
    session: SessionId,
}

impl Clone for Following {
    fn clone(&self) -> Following {
        // Cloned under the lock, like a subscription, so a concurrent drop counts it.
        let _rooms = self.rooms.lock();
        Following { rx: self.rx.clone(), rooms: self.rooms.clone(), session: self.session }
    }
}

impl Deref for Following {
    type Target = watch::Receiver<Room>;

    fn deref(&self) -> &watch::Receiver<Room> {
        &self.rx
    }
}

impl DerefMut for Following {
    fn deref_mut(&mut self) -> &mut watch::Receiver<Room> {
        &mut self.rx
    }
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut rooms = self.rooms.lock();
        // The receiver is let go under the lock (swapped for one of a closed channel), so two
        // followers dropped at once on two threads cannot each see the other still counted.
        drop(std::mem::replace(&mut self.rx, watch::channel(Room::default()).1));
        forget_if_unused(&mut rooms, self.session);
    }
}

/// A moderating view of one session; leaving (or dropping it) ends it.
#[derive(Debug)]
pub struct Presence {
    rooms: Rooms,
    session: SessionId,
    name: String,
    left: bool,
}

impl Presence {
    /// Ends the view and says what that changed.
    pub fn leave(mut self) -> Left {
        self.left = true;
        self.rooms.leave(self.session, &self.name)
    }
}

impl Drop for Presence {
    fn drop(&mut self) {
        if !self.left {
            self.rooms.leave(self.session, &self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn joins_leaves_and_pauses_open_and_close_input() {
        let rooms = Rooms::default();
        let s = SessionId(3);
        let rx = rooms.subscribe(s);
        assert!(!rx.borrow().input_open(), "nobody moderates: closed");
        let (a1, j) = rooms.join(s, "alice");
        assert_eq!(j, Joined { new_moderator: true, first: true, reopened: false });
        assert!(rx.borrow().input_open());
        let (a2, j) = rooms.join(s, "alice");
        assert!(!j.new_moderator && !j.first, "a second tab is not a new moderator");
        assert!(rooms.pause(s, "alice") && !rooms.pause(s, "alice"));
        assert!(!rx.borrow().input_open());
        assert!(rooms.resume(s) && !rooms.resume(s));
        assert_eq!(a1.leave(), Left { gone: false, last: false });
        assert!(rx.borrow().input_open(), "alice still has a tab open");
        drop(a2);
        assert!(!rx.borrow().present() && !rx.borrow().input_open(), "the last moderator left");
        let (_b, j) = rooms.join(s, "bob");
        assert_eq!(j, Joined { new_moderator: true, first: true, reopened: true });
        assert_eq!(rx.borrow().names(), "bob");
    }

    #[test]
    fn only_an_approver_who_did_not_ask_may_moderate() {
        let rule = Rule { approvals: 2, max_minutes: 60, approver_roles: vec![Role::Approver, Role::Admin], outside_window: Default::default(), moderated: true, break_glass: true, break_glass_minutes: 60 };
        assert!(may_moderate("nurse", Role::Approver, &rule, "jdoe", None).is_ok());
        assert!(may_moderate("jdoe", Role::Approver, &rule, "jdoe", None).is_err(), "the vendor itself");
        assert!(may_moderate("nurse", Role::Approver, &rule, "jdoe", Some("nurse")).is_err(), "the approver who filed the request");
        assert!(may_moderate("eve", Role::Vendor, &rule, "jdoe", None).is_err());
        assert!(may_moderate("audrey", Role::Auditor, &rule, "jdoe", None).is_err());
        assert!(may_moderate("nurse", Role::Approver, &Rule { moderated: false, ..rule }, "jdoe", None).is_err());
    }

    #[test]
    fn a_room_nobody_follows_or_moderates_is_forgotten() {
        let rooms = Rooms::default();
        let (p, _) = rooms.join(SessionId(1), "alice");
        assert_eq!(rooms.count(), 1);
        p.leave();
        assert_eq!(rooms.count(), 0);
        let rx = rooms.subscribe(SessionId(2));
        assert_eq!(rooms.count(), 1);
        drop(rx);
        assert_eq!(rooms.count(), 0, "the last follower dropped: the room is forgotten");
    }

    /// Every follower counts: the room stays while one is left or a moderator is present,
    /// and goes with the last of them, however they end (a clone, a thread, a drop in an
    /// error path).
    #[test]
    fn a_room_lasts_as_long_as_a_follower_or_a_moderator() {
        let rooms = Rooms::default();
        let s = SessionId(5);
        let a = rooms.subscribe(s);
        let b = a.clone();
        let (p, _) = rooms.join(s, "alice");
        drop(a);
        assert_eq!(rooms.count(), 1, "one follower and a moderator are left");
        p.leave();
        assert_eq!(rooms.count(), 1, "one follower is left");
        assert!(!rooms.pause(SessionId(6), "alice"), "pausing a session without a room makes none");
        assert_eq!(rooms.count(), 1);
        std::thread::spawn(move || drop(b)).join().unwrap();
        assert_eq!(rooms.count(), 0);

        // Many followers dropped at once on several threads: the last one forgets the room.
        for _ in 0..50 {
            let followers: Vec<Following> = (0..8).map(|_| rooms.subscribe(s)).collect();
            let threads: Vec<_> = followers.into_iter().map(|f| std::thread::spawn(move || drop(f))).collect();
            for t in threads {
                t.join().unwrap();
            }
            assert_eq!(rooms.count(), 0);
        }
    }
}
