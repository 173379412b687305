//! Moderated sessions on the broker's side (policy `moderated`, on by default for
//! life-critical devices; the room is [`portcullis_core::moderation`]'s). Before the device
//! connection opens, the vendor waits for a moderator to join the live view ([`wait`]), at
//! most `session.moderator_wait`; nothing reaches the device meanwhile. While the channel is
//! bridged, [`follow`] tells the vendor who is watching, who left and when input is paused
//! or resumed (lines written to the vendor alone, kept in the recording as markers, never as
//! device output), and keeps [`Conn::input_paused`] up to date for the bridge, which drops
//! the vendor's input while it is set (dropped, not held: nothing typed unwatched reaches a
//! life-critical device later). A tunnel or file transfer is not dropped into but closed
//! when input pauses, and none opens while it is paused ([`paused`], [`until_paused`]).
//! When the last moderator has been gone for `session.moderator_grace` (a deadline fixed
//! when the room emptied, [`Watch`]), the session is stopped through the usual stop
//! ([`portcullis_core::approvals::Approvals::stop_session`], by `system`).

use crate::state::{CastTap, Conn};
use portcullis_core::approvals::{StopInput, StopMode};
use portcullis_core::domain::SessionId;
use portcullis_core::moderation::{Following, Room};
use russh::ChannelId;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{info, warn};

/// How the wait for a moderator ended.
pub(crate) enum Waited {
    /// A moderator joined: the device connection may open.
    Joined(Following),
    /// Nobody joined within `session.moderator_wait`.
    TimedOut,
    /// The session ended meanwhile.
    Ended,
}

/// What the vendor is told while waiting.
pub(crate) fn waiting_text(id: SessionId, wait: Duration) -> String {
    format!(
        "portcullis: this device is moderated: the connection to it opens only when a moderator (an approver) joins the live view of session {id}.\nWaiting for a moderator (at most {} minutes)...\n",
        wait.as_secs().div_ceil(60)
    )
}

/// Waits until a moderator is present in session `id`'s room.
pub(crate) async fn wait(conn: &Conn, id: SessionId) -> Waited {
    let mut rx = conn.ctx.live.moderation().subscribe(id);
    let wait = conn.ctx.config.session.moderator_wait.0;
    tokio::select! {
        r = async { rx.wait_for(Room::present).await.map(|room| room.input_open()) } => {
            let Ok(open) = r else { return Waited::Ended };
            conn.input_paused.store(!open, Ordering::SeqCst);
            Waited::Joined(rx)
        }
        () = tokio::time::sleep(wait) => Waited::TimedOut,
        () = conn.cancel.cancelled() => Waited::Ended,
    }
}

/// Whether a moderated session's vendor input is paused now: a moderator was present once,
/// and none is now or one paused it. No tunnel or file transfer opens then.
pub(crate) fn paused(room: &Room) -> bool {
    room.opened && !room.input_open()
}

/// Resolves once input is not open in the followed room (at once if it is not now, or if
/// the room can no longer be followed); never without a room (an unmoderated session). A
/// tunnel or file transfer races it and closes when it resolves.
pub(crate) async fn until_paused(room: Option<&mut Following>) {
    match room {
        Some(rx) => {
            let _ = rx.wait_for(|r| !r.input_open()).await;
        }
        None => std::future::pending().await,
    }
}

/// What the vendor is told when a tunnel or file transfer closes because input paused.
pub(crate) fn closed_text(what: &str) -> String {
    format!("{what} closed: input is paused (no moderator is watching, or a moderator paused it); open it again once input resumes")
}

/// A line to the vendor of channel `ch` (stdout on a terminal, stderr otherwise), kept in
/// the recording as a marker only.
async fn tell(conn: &Conn, ch: ChannelId, pty: bool, cast: Option<&CastTap>, text: &str) {
    if let Some(c) = cast {
        c.marker(text).await;
    }
    let msg = format!("\r\n[portcullis] {text}\r\n").into_bytes();
    let _ = if pty { conn.handle.data(ch, msg).await } else { conn.handle.extended_data(ch, 1, msg).await };
}

/// The lines that tell the vendor what changed from `old` to `new`.
pub(crate) fn changes(old: &Room, new: &Room, grace: Duration) -> Vec<String> {
    let mut out = Vec::new();
    for name in new.moderators.keys().filter(|n| !old.moderators.contains_key(*n)) {
        out.push(format!("moderator joined: {name} is watching this session"));
    }
    for name in old.moderators.keys().filter(|n| !new.moderators.contains_key(*n)) {
        out.push(format!("moderator left: {name} stopped watching"));
    }
    if old.input_open() && !new.input_open() {
        match (&new.paused_by, new.present()) {
            (_, false) => out.push(format!("input paused: no moderator is watching; what you type is not sent to the device. The session ends in {}s unless a moderator joins.", grace.as_secs())),
            (Some(by), true) => out.push(format!("input paused by moderator {by}; what you type is not sent to the device")),
            (None, true) => {}
        }
    } else if !old.input_open() && new.input_open() {
        out.push(format!("input resumed: {} watching", new.names()));
    }
    out
}

/// What [`Watch::next`] saw.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The room changed: its state now.
    Changed(Room),
    /// No moderator came back before the grace deadline.
    GraceOver,
    /// The room can no longer be followed.
    Gone,
}

/// A room followed with its grace deadline: fixed when the room became empty (the last
/// moderator left, or nobody was there when following began) and cleared only when a
/// moderator is present again. Other changes (a pause toggled, a no-op leave) leave it as
/// it is, so the session ends `grace` after the room emptied however busy it is meanwhile.
pub(crate) struct Watch {
    rx: Following,
    grace: Duration,
    /// When the session is stopped for want of a moderator; `None` while one is present.
    deadline: Option<Instant>,
}

impl Watch {
    /// Starts following `rx`; its state now is [`Watch::room`].
    pub(crate) fn new(mut rx: Following, grace: Duration) -> Watch {
        let present = rx.borrow_and_update().present();
        Watch { rx, grace, deadline: (!present).then(|| Instant::now() + grace) }
    }

    /// The room as last seen.
    pub(crate) fn room(&self) -> Room {
        self.rx.borrow().clone()
    }

    /// The next change, or the deadline passing (reported once). A moderator who joined
    /// by the deadline counts: changes are looked at first.
    pub(crate) async fn next(&mut self) -> Seen {
        let deadline = self.deadline;
        tokio::select! {
            biased;
            r = self.rx.changed() => {
                if r.is_err() {
                    return Seen::Gone;
                }
                let now = self.rx.borrow_and_update().clone();
                if now.present() {
                    self.deadline = None;
                } else if self.deadline.is_none() {
                    self.deadline = Some(Instant::now() + self.grace);
                }
                Seen::Changed(now)
            }
            () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                self.deadline = None;
                Seen::GraceOver
            }
        }
    }
}

/// Follows the room while channel `ch` is bridged: tells the vendor, sets
/// [`Conn::input_paused`], and stops the session when the grace deadline passes without a
/// moderator ([`Watch`]). Returns when the room can no longer be followed (the caller races
/// it with the bridge and drops it when the channel ends).
pub(crate) async fn follow(conn: &Conn, id: SessionId, ch: ChannelId, pty: bool, cast: Option<CastTap>, rx: Following) {
    let grace = conn.ctx.config.session.moderator_grace.0;
    let mut room = Watch::new(rx, grace);
    let mut seen = room.room();
    tell(conn, ch, pty, cast.as_ref(), &format!("moderator joined: {} watching this session", seen.names())).await;
    loop {
        let now = match room.next().await {
            Seen::Changed(now) => now,
            Seen::Gone => {
                conn.input_paused.store(true, Ordering::SeqCst);
                return;
            }
            Seen::GraceOver => {
                info!(session = %id, "no moderator within the grace period; stopping the session");
                tell(conn, ch, pty, cast.as_ref(), "no moderator joined in time: the session is stopped").await;
                let stop = StopInput::new(id, "system", "no moderator watching").mode(StopMode::Immediate);
                // Boxed: a stop is rare, and inline its state would be carried by every
                // moderated channel's task while it waits.
                if let Err(e) = Box::pin(conn.ctx.approvals.stop_session(stop)).await {
                    // Already stopping (another channel asked first) or the store is away:
                    // then end this connection here.
                    warn!(session = %id, error = %e, "cannot request the stop; ending the connection");
                    conn.end("no moderator watching");
                }
                return std::future::pending().await;
            }
        };
        conn.input_paused.store(!now.input_open(), Ordering::SeqCst);
        for line in changes(&seen, &now, grace) {
            tell(conn, ch, pty, cast.as_ref(), &line).await;
        }
        seen = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::moderation::Rooms;
    use std::collections::BTreeMap;

    fn room(names: &[&str], paused_by: Option<&str>) -> Room {
        Room { moderators: names.iter().map(|n| (n.to_string(), 1)).collect::<BTreeMap<_, _>>(), paused_by: paused_by.map(str::to_owned), opened: true }
    }

    #[test]
    fn the_vendor_is_told_who_watches_and_when_input_stops() {
        let g = Duration::from_secs(120);
        assert_eq!(changes(&room(&["alice"], None), &room(&["alice", "bob"], None), g), vec!["moderator joined: bob is watching this session"]);
        let left = changes(&room(&["alice"], None), &room(&[], None), g);
        assert_eq!(left[0], "moderator left: alice stopped watching");
        assert!(left[1].starts_with("input paused: no moderator is watching") && left[1].contains("120s"));
        assert_eq!(changes(&room(&["alice"], None), &room(&["alice"], Some("alice")), g), vec!["input paused by moderator alice; what you type is not sent to the device"]);
        assert_eq!(changes(&room(&["alice"], Some("alice")), &room(&["alice"], None), g), vec!["input resumed: alice watching"]);
    }

    /// The deadline is set when the room empties; a pause toggled meanwhile does not move it,
    /// a moderator coming back clears it, and the next emptying sets a new one.
    #[tokio::test(start_paused = true)]
    async fn the_grace_deadline_is_fixed_when_the_room_empties() {
        let rooms = Rooms::default();
        let s = SessionId(9);
        let grace = Duration::from_secs(10);
        let (alice, _) = rooms.join(s, "alice");
        let mut w = Watch::new(rooms.subscribe(s), grace);
        alice.leave();
        let emptied = Instant::now();
        assert!(matches!(w.next().await, Seen::Changed(r) if !r.present()));
        for step in [true, false] {
            tokio::time::advance(Duration::from_secs(4)).await;
            assert!(if step { rooms.pause(s, "alice") } else { rooms.resume(s) });
            assert!(matches!(w.next().await, Seen::Changed(_)));
        }
        let over = tokio::time::timeout_at(emptied + grace + Duration::from_millis(1), w.next()).await;
        assert_eq!(over, Ok(Seen::GraceOver), "the deadline moved with the room's other changes");

        let (bob, _) = rooms.join(s, "bob");
        assert!(matches!(w.next().await, Seen::Changed(r) if r.present()));
        assert!(tokio::time::timeout(grace * 10, w.next()).await.is_err(), "a moderator is present: no deadline");
        bob.leave();
        let emptied = Instant::now();
        assert!(matches!(w.next().await, Seen::Changed(_)));
        assert_eq!(tokio::time::timeout_at(emptied + grace + Duration::from_millis(1), w.next()).await, Ok(Seen::GraceOver));
    }
}
