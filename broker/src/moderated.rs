//! Moderated sessions on the broker's side (policy `moderated`, on by default for
//! life-critical devices; the room is [`portcullis_core::moderation`]'s). Before the device
//! connection opens, the vendor waits for a moderator to join the live view ([`wait`]), at
//! most `session.moderator_wait`; nothing reaches the device meanwhile. While the channel is
//! bridged, [`follow`] tells the vendor who is watching, who left and when input is paused
//! or resumed (lines written to the vendor alone, kept in the recording as markers, never as
//! device output), and keeps [`Conn::input_paused`] up to date for the bridge, which drops
//! the vendor's input while it is set (dropped, not held: nothing typed unwatched reaches a
//! life-critical device later). When the last moderator has been gone for
//! `session.moderator_grace`, the session is stopped through the usual stop
//! ([`portcullis_core::approvals::Approvals::stop_session`], by `system`).

use crate::state::{CastTap, Conn};
use portcullis_core::approvals::{StopInput, StopMode};
use portcullis_core::domain::SessionId;
use portcullis_core::moderation::Room;
use russh::ChannelId;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// How the wait for a moderator ended.
pub(crate) enum Waited {
    /// A moderator joined: the device connection may open.
    Joined(watch::Receiver<Room>),
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
    let present = async {
        loop {
            if rx.borrow_and_update().present() {
                return true;
            }
            if rx.changed().await.is_err() {
                return false;
            }
        }
    };
    let outcome = tokio::select! {
        p = present => if p { 1 } else { 2 },
        _ = tokio::time::sleep(wait) => 0,
        _ = conn.cancel.cancelled() => 2,
    };
    match outcome {
        1 => {
            conn.input_paused.store(!rx.borrow().input_open(), Ordering::SeqCst);
            Waited::Joined(rx)
        }
        0 => Waited::TimedOut,
        _ => Waited::Ended,
    }
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

/// Follows the room while channel `ch` is bridged: tells the vendor, sets
/// [`Conn::input_paused`], and stops the session after `session.moderator_grace` without a
/// moderator. Returns when the room can no longer be followed (the caller races it with the
/// bridge and drops it when the channel ends).
pub(crate) async fn follow(conn: &Conn, id: SessionId, ch: ChannelId, pty: bool, cast: Option<CastTap>, mut rx: watch::Receiver<Room>) {
    let grace = conn.ctx.config.session.moderator_grace.0;
    let mut seen = rx.borrow_and_update().clone();
    tell(conn, ch, pty, cast.as_ref(), &format!("moderator joined: {} watching this session", seen.names())).await;
    loop {
        let alone = !seen.present();
        let changed = tokio::select! {
            r = rx.changed() => r.is_ok(),
            _ = tokio::time::sleep(grace), if alone => {
                info!(session = %id, "no moderator within the grace period; stopping the session");
                tell(conn, ch, pty, cast.as_ref(), "no moderator joined in time: the session is stopped").await;
                let stop = StopInput::new(id, "system", "no moderator watching").mode(StopMode::Immediate);
                if let Err(e) = conn.ctx.approvals.stop_session(stop).await {
                    // Already stopping (another channel asked first) or the store is away:
                    // then end this connection here.
                    warn!(session = %id, error = %e, "cannot request the stop; ending the connection");
                    conn.end("no moderator watching");
                }
                std::future::pending::<()>().await;
                false
            }
        };
        if !changed {
            conn.input_paused.store(true, Ordering::SeqCst);
            return;
        }
        let now = rx.borrow_and_update().clone();
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
}
