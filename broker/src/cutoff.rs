//! A vendor's socket that the connection task can cut while the SSH layer owns it.
//!
//! russh runs each connection in a task of its own that owns the stream, so the connection
//! task cannot close it: a client that stalls before key exchange, or stops reading while the
//! broker says goodbye, would keep that task, and its socket, alive. A duplicate of the
//! socket's file descriptor could be shut down instead, but it costs every session a fourth
//! open file (5,000 sessions need 15,000 files, not 20,000: see `serve`'s open-file limit).
//! So the stream is wrapped here: once [`Cutter::cut`] is called, every read of the SSH layer
//! sees the end of the stream and every write fails, and a read or write already waiting is
//! woken to see it. The SSH task then ends and drops the socket, which closes it.

use futures_util::task::AtomicWaker;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// `inner`, which can be cut with the returned [`Cutter`].
pub(crate) fn cuttable<S>(inner: S) -> (Cuttable<S>, Cutter) {
    let switch = Arc::new(Switch::default());
    (Cuttable { inner, switch: switch.clone() }, Cutter(switch))
}

/// Cuts the stream it came with; cheap to keep.
pub(crate) struct Cutter(Arc<Switch>);

impl Cutter {
    /// From now on the stream reads as ended and refuses writes; whoever waits on it is woken.
    pub(crate) fn cut(&self) {
        self.0.cut.store(true, Ordering::SeqCst);
        self.0.reader.wake();
        self.0.writer.wake();
    }
}

/// The shared state of a stream and its cutter.
#[derive(Default)]
struct Switch {
    /// Set once, never cleared.
    cut: AtomicBool,
    /// The task waiting to read, if any, woken by the cut. An `AtomicWaker`, not a mutex:
    /// it is stored on every read that waits, the vendor's hot path.
    reader: AtomicWaker,
    /// The task waiting to write (the peer stopped reading), if any, woken by the cut.
    writer: AtomicWaker,
}

impl Switch {
    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }

    /// Remembers who waits in `slot`; true if the stream was cut meanwhile (the waiter must
    /// not wait then: the cut may have come before its waker was stored).
    fn wait(&self, slot: &AtomicWaker, cx: &Context<'_>) -> bool {
        // `register` keeps the stored waker when it would wake the same task.
        slot.register(cx.waker());
        self.is_cut()
    }
}

fn refused() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the connection was cut")
}

/// A stream that a [`Cutter`] can end.
pub(crate) struct Cuttable<S> {
    inner: S,
    switch: Arc<Switch>,
}

impl<S: AsyncRead + Unpin> AsyncRead for Cuttable<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.switch.is_cut() {
            // Nothing filled: the end of the stream.
            return Poll::Ready(Ok(()));
        }
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Pending if this.switch.wait(&this.switch.reader, cx) => Poll::Ready(Ok(())),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> Cuttable<S> {
    /// Polls a write-side operation of the inner stream, unless the stream is cut.
    fn poll_write_side<T>(&mut self, cx: &mut Context<'_>, op: impl FnOnce(Pin<&mut S>, &mut Context<'_>) -> Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if self.switch.is_cut() {
            return Poll::Ready(Err(refused()));
        }
        match op(Pin::new(&mut self.inner), cx) {
            Poll::Pending if self.switch.wait(&self.switch.writer, cx) => Poll::Ready(Err(refused())),
            other => other,
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Cuttable<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_side(cx, |s, cx| s.poll_write(cx, buf))
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_side(cx, |s, cx| s.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_write_side(cx, |s, cx| s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_write_side(cx, |s, cx| s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Uncut, bytes pass both ways unchanged.
    #[tokio::test]
    async fn an_uncut_stream_passes_bytes_both_ways() {
        let (mut far, near) = tokio::io::duplex(1024);
        let (mut stream, _cutter) = cuttable(near);
        far.write_all(b"ping").await.unwrap();
        let mut got = [0u8; 4];
        stream.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        stream.write_all(b"pong").await.unwrap();
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"pong");
    }

    /// Hostile: a peer that never sends a byte. A read already waiting ends when the stream
    /// is cut, and so does every later read, even with bytes waiting underneath.
    #[tokio::test]
    async fn a_cut_wakes_a_waiting_read_with_the_end_of_the_stream() {
        let (mut far, near) = tokio::io::duplex(1024);
        let (mut stream, cutter) = cuttable(near);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 16];
            let n = stream.read(&mut buf).await.unwrap();
            (n, stream)
        });
        tokio::task::yield_now().await;
        cutter.cut();
        let (n, mut stream) = reader.await.unwrap();
        assert_eq!(n, 0, "a cut stream reads as ended");
        far.write_all(b"late").await.unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(stream.read(&mut buf).await.unwrap(), 0, "bytes after the cut are not handed over");
    }

    /// Hostile: a peer that stops reading, so the write waits for room that never comes. The
    /// cut fails it, and every later write.
    #[tokio::test]
    async fn a_cut_fails_a_write_waiting_for_a_peer_that_stopped_reading() {
        let (_far, near) = tokio::io::duplex(64);
        let (mut stream, cutter) = cuttable(near);
        let writer = tokio::spawn(async move {
            let r = stream.write_all(&[0u8; 4096]).await;
            (r, stream)
        });
        tokio::task::yield_now().await;
        cutter.cut();
        let (r, mut stream) = writer.await.unwrap();
        assert_eq!(r.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        assert!(stream.write_all(b"x").await.is_err());
        assert!(stream.flush().await.is_err());
    }
}
