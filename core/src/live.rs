//! Live view of running terminals, inside one process: the broker publishes what it records
//! for each terminal channel ([`LiveTap`]), and the web side lets an authorised user watch a
//! session ([`LiveHub::watch`]). Frames are asciicast v2 lines (a header, then `[time, code,
//! data]` events), the same form the recordings have, so the player reads both.
//!
//! Publishing never waits: frames go to a bounded broadcast ring, dropped at once when nobody
//! watches, and a viewer that falls behind is told how many it missed. Each channel also
//! keeps its last [`BACKLOG_BYTES`] of frames so a viewer who joins late sees the current
//! screen. Memory is therefore bounded per session whatever viewers do.
//!
//! A session held by another node is not published here; the web side asks that node for it
//! (the web crate's live-view hop), which answers from its own hub.

use crate::domain::SessionId;
use crate::moderation::Rooms;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;
use tokio::sync::broadcast;

/// Frames a viewer may fall behind before it misses some.
pub const RING: usize = 64;

/// Recent output each channel keeps for viewers who join late (bytes of event data, plus a
/// little per event).
pub const BACKLOG_BYTES: usize = 64 * 1024;

/// One published frame.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The terminal channel (the recording's number within the session).
    pub channel: u32,
    pub kind: FrameKind,
}

/// What a frame carries.
#[derive(Debug, Clone)]
pub enum FrameKind {
    /// An asciicast v2 header line: a terminal channel opened.
    Header(Arc<str>),
    /// An asciicast v2 event line.
    Event(Arc<str>),
    /// The channel closed.
    End,
}

/// One event kept for late viewers, not yet written as a line (most are never watched): its
/// bytes as they came, turned into text only when a line is written, so that a terminal
/// nobody watches costs one copy of its recent output and no conversion.
#[derive(Debug)]
struct Kept {
    at: f64,
    code: &'static str,
    /// UTF-8 except where the terminal sent invalid bytes (shown as U+FFFD in the line); a
    /// character split between two chunks is whole in the second one.
    data: Box<[u8]>,
}

impl Kept {
    /// What it counts against [`BACKLOG_BYTES`]: its data and about what a line adds.
    fn size(&self) -> usize {
        self.data.len() + 32
    }

    fn line(&self) -> Arc<str> {
        serde_json::json!([self.at, self.code, String::from_utf8_lossy(&self.data)]).to_string().into()
    }
}

#[derive(Debug, Default)]
struct Channel {
    header: Option<Arc<str>>,
    backlog: VecDeque<Kept>,
    /// The sum of `backlog`'s sizes.
    backlog_bytes: usize,
}

#[derive(Debug)]
struct Feed {
    tx: broadcast::Sender<Frame>,
    channels: Mutex<BTreeMap<u32, Channel>>,
}

impl Feed {
    fn channels(&self) -> MutexGuard<'_, BTreeMap<u32, Channel>> {
        // A panic while holding this lock cannot leave it inconsistent (plain inserts), so a
        // poisoned lock is taken over rather than failing the data path.
        self.channels.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The process's live feeds, one per watched or published session. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct LiveHub {
    feeds: Arc<Mutex<HashMap<i64, Arc<Feed>>>>,
    /// Who moderates each moderated session watched here.
    moderation: Rooms,
}

/// What a viewer gets: the open channels as they are now, then every later frame.
pub struct Watch {
    /// Each open channel: its number, header and recent events.
    pub open: Vec<(u32, Arc<str>, Vec<Arc<str>>)>,
    pub frames: broadcast::Receiver<Frame>,
}

impl LiveHub {
    fn feeds(&self) -> MutexGuard<'_, HashMap<i64, Arc<Feed>>> {
        self.feeds.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn feed(&self, session: SessionId) -> Arc<Feed> {
        self.feeds()
            .entry(session.0)
            .or_insert_with(|| Arc::new(Feed { tx: broadcast::channel(RING).0, channels: Mutex::new(BTreeMap::new()) }))
            .clone()
    }

    /// Starts publishing terminal channel `channel` of `session`, `cols`×`rows` at `timestamp`
    /// (Unix seconds).
    pub fn start(&self, session: SessionId, channel: u32, cols: u16, rows: u16, timestamp: i64) -> LiveTap {
        let feed = self.feed(session);
        let header: Arc<str> = serde_json::json!({ "version": 2, "width": cols, "height": rows, "timestamp": timestamp }).to_string().into();
        {
            let mut chans = feed.channels();
            chans.insert(channel, Channel { header: Some(header.clone()), ..Channel::default() });
            let _ = feed.tx.send(Frame { channel, kind: FrameKind::Header(header) });
        }
        LiveTap {
            inner: Arc::new(TapInner {
                hub: self.clone(),
                session,
                feed,
                channel,
                start: Instant::now(),
                carry: Mutex::new([Vec::new(), Vec::new()]),
            }),
        }
    }

    /// Watches `session`: what is open now and everything published from now on.
    pub fn watch(&self, session: SessionId) -> Watch {
        let feed = self.feed(session);
        let chans = feed.channels();
        let open = chans
            .iter()
            .filter_map(|(n, c)| c.header.clone().map(|h| (*n, h, c.backlog.iter().map(Kept::line).collect())))
            .collect();
        // Subscribing under the lock: no frame is both in the backlog and received, or in neither.
        let frames = feed.tx.subscribe();
        drop(chans);
        Watch { open, frames }
    }

    /// Forgets `session`'s feed if nothing is open and nobody watches (call after dropping a
    /// [`Watch`]).
    pub fn release(&self, session: SessionId) {
        let mut feeds = self.feeds();
        let idle = feeds.get(&session.0).is_some_and(|f| f.tx.receiver_count() == 0 && f.channels().is_empty());
        if idle {
            feeds.remove(&session.0);
        }
    }

    /// Whether terminal `channel` of `session` is published here (held by this process).
    pub fn publishes(&self, session: SessionId, channel: u32) -> bool {
        let feed = self.feeds().get(&session.0).cloned();
        feed.is_some_and(|f| f.channels().contains_key(&channel))
    }

    /// The moderation rooms of the sessions held here ([`crate::moderation`]).
    pub fn moderation(&self) -> &Rooms {
        &self.moderation
    }

    /// Sessions with a feed (tests and diagnostics).
    pub fn feed_count(&self) -> usize {
        self.feeds().len()
    }
}

#[derive(Debug)]
struct TapInner {
    hub: LiveHub,
    session: SessionId,
    feed: Arc<Feed>,
    channel: u32,
    start: Instant,
    /// Incomplete UTF-8 at the end of the last output (0) and input (1) chunk.
    carry: Mutex<[Vec<u8>; 2]>,
}

/// The broker's side of one terminal channel. Cheap to clone; [`LiveTap::end`] closes it.
#[derive(Debug, Clone)]
pub struct LiveTap {
    inner: Arc<TapInner>,
}

impl LiveTap {
    /// Bytes the device sent to the vendor.
    pub fn output(&self, bytes: &[u8]) {
        self.text(0, "o", bytes);
    }

    /// Bytes the vendor typed.
    pub fn input(&self, bytes: &[u8]) {
        self.text(1, "i", bytes);
    }

    /// The terminal changed size.
    pub fn resize(&self, cols: u16, rows: u16) {
        self.event("r", &format!("{cols}x{rows}"));
    }

    /// A marker (a warning shown to the vendor, the end).
    pub fn marker(&self, label: &str) {
        self.event("m", label);
    }

    /// The channel closed.
    pub fn end(&self) {
        let t = &self.inner;
        let mut chans = t.feed.channels();
        chans.remove(&t.channel);
        let _ = t.feed.tx.send(Frame { channel: t.channel, kind: FrameKind::End });
        drop(chans);
        t.hub.release(t.session);
    }

    fn text(&self, dir: usize, code: &'static str, bytes: &[u8]) {
        let data = {
            let mut carry = self.inner.carry.lock().unwrap_or_else(|p| p.into_inner());
            take_complete(&mut carry[dir], bytes)
        };
        if !data.is_empty() {
            self.kept(code, data);
        }
    }

    fn event(&self, code: &'static str, data: &str) {
        self.kept(code, data.as_bytes().into());
    }

    fn kept(&self, code: &'static str, data: Box<[u8]>) {
        let t = &self.inner;
        let kept = Kept { at: (t.start.elapsed().as_micros() as f64) / 1e6, code, data };
        let mut chans = t.feed.channels();
        // Written as a line only when someone watches: a terminal nobody watches costs a copy
        // of its recent output, not a second encoding of every byte.
        if t.feed.tx.receiver_count() > 0 {
            let _ = t.feed.tx.send(Frame { channel: t.channel, kind: FrameKind::Event(kept.line()) });
        }
        if let Some(c) = chans.get_mut(&t.channel) {
            c.backlog_bytes += kept.size();
            c.backlog.push_back(kept);
            while c.backlog_bytes > BACKLOG_BYTES {
                match c.backlog.pop_front() {
                    Some(old) => c.backlog_bytes -= old.size(),
                    None => break,
                }
            }
        }
    }
}

/// Joins `carry` (an incomplete character left by the last chunk) and `bytes`, and returns
/// them but for an incomplete last character (at most 3 bytes), which is left in `carry` for
/// the next chunk. Invalid bytes are passed on as they are (a line shows them as U+FFFD).
/// The usual chunk (no carry, valid text) costs one check and one copy.
fn take_complete(carry: &mut Vec<u8>, bytes: &[u8]) -> Box<[u8]> {
    let joined;
    let all: &[u8] = if carry.is_empty() {
        bytes
    } else {
        let mut v = std::mem::take(carry);
        v.extend_from_slice(bytes);
        joined = v;
        &joined
    };
    let keep = match std::str::from_utf8(all) {
        Ok(_) => 0,
        Err(e) if e.error_len().is_none() => all.len() - e.valid_up_to(),
        Err(_) => incomplete_tail(all),
    };
    let (complete, tail) = all.split_at(all.len() - keep);
    carry.extend_from_slice(tail);
    complete.into()
}

/// The length of an incomplete but so far valid character at the end of `bytes` (0 if none),
/// for a chunk that also holds invalid bytes earlier on.
fn incomplete_tail(bytes: &[u8]) -> usize {
    (1..=3.min(bytes.len()))
        .find(|&n| matches!(std::str::from_utf8(&bytes[bytes.len() - n..]), Err(e) if e.valid_up_to() == 0 && e.error_len().is_none()))
        .unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn split_characters_are_joined_and_garbage_kept_for_the_line() {
        let mut carry = Vec::new();
        assert_eq!(&*take_complete(&mut carry, &"é".as_bytes()[..1]), b"");
        assert_eq!(carry.len(), 1);
        let mut rest = "é".as_bytes()[1..].to_vec();
        rest.extend_from_slice(b"x\xff");
        assert_eq!(&*take_complete(&mut carry, &rest), b"\xc3\xa9x\xff", "the split é is whole, the invalid byte passed on");
        assert!(carry.is_empty());
        // Invalid bytes early on do not stop a split character at the end from being held.
        let mut chunk = b"\xffa".to_vec();
        chunk.extend_from_slice(&"€".as_bytes()[..2]);
        assert_eq!(&*take_complete(&mut carry, &chunk), b"\xffa");
        assert_eq!(&*take_complete(&mut carry, &"€".as_bytes()[2..]), "€".as_bytes());
        let kept = Kept { at: 0.0, code: "o", data: b"x\xff".to_vec().into() };
        assert!(kept.line().contains("x\u{fffd}"), "a line shows invalid bytes as U+FFFD");
    }

    #[tokio::test]
    async fn late_viewer_sees_header_and_backlog_then_new_frames() {
        let hub = LiveHub::default();
        let s = SessionId(7);
        let tap = hub.start(s, 1, 80, 24, 1_700_000_000);
        tap.output(b"before ");
        let mut w = hub.watch(s);
        assert_eq!(w.open.len(), 1);
        assert!(w.open[0].1.contains("\"width\":80"));
        assert!(w.open[0].2[0].contains("before "));
        tap.output(b"after");
        match w.frames.recv().await.map(|f| f.kind) {
            Ok(FrameKind::Event(l)) => assert!(l.contains("after") && l.contains("\"o\"")),
            other => panic!("unexpected {other:?}"),
        }
        tap.end();
        assert!(matches!(w.frames.recv().await.map(|f| f.kind), Ok(FrameKind::End)));
        drop(w);
        hub.release(s);
        assert_eq!(hub.feed_count(), 0);
    }

    #[tokio::test]
    async fn backlog_and_ring_stay_bounded_and_a_slow_viewer_is_told() {
        let hub = LiveHub::default();
        let s = SessionId(8);
        let tap = hub.start(s, 1, 80, 24, 0);
        let mut w = hub.watch(s);
        let chunk = vec![b'x'; 4096];
        for _ in 0..1000 {
            tap.output(&chunk);
        }
        let late = hub.watch(s);
        let kept: usize = late.open[0].2.iter().map(|l| l.len()).sum();
        assert!(kept <= BACKLOG_BYTES, "backlog {kept} bytes");
        assert!(matches!(w.frames.recv().await, Err(broadcast::error::RecvError::Lagged(_))));
    }

    #[test]
    fn sessions_do_not_see_each_other() {
        let hub = LiveHub::default();
        let a = hub.start(SessionId(1), 1, 80, 24, 0);
        let mut wb = hub.watch(SessionId(2));
        a.output(b"secret");
        assert!(wb.open.is_empty());
        assert!(matches!(wb.frames.try_recv(), Err(broadcast::error::TryRecvError::Empty)));
    }
}
