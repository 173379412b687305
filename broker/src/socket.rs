//! The sockets the SSH layer reads from, on both hops, with a read buffer in front that an
//! idle session does not keep.
//!
//! russh reads each packet with two exact reads straight from its stream: the first block
//! (to learn the length), then the rest. Unbuffered, that is two or more `recvfrom` calls per
//! packet, each of which may park the task. A buffer in front lets one call take several
//! packets at once when data streams. It is the size of one full channel packet.
//!
//! tokio's `BufReader` keeps its buffer for the life of the connection: two per session (the
//! vendor's hop and the device's), 68 KiB that an idle session never uses, which was the
//! largest single part of an idle session's memory (heaptrack, 300 idle sessions). So the
//! buffer here is written for this one job: it is taken when the socket is read and given
//! back whenever the socket has nothing more to give (the read would wait), so that idle
//! sessions hold none and the allocator hands the same memory to whichever session reads
//! next. A busy stream keeps it while data keeps coming, and a read at least as large as the
//! buffer goes straight to the socket.
//!
//! The socket is read into the buffer's unfilled capacity, not into zeroed memory: with the
//! buffer given back whenever the socket runs dry, zeroing 34 KiB on every refill was 3.6 %
//! of the broker's samples during terminal output, where the device sends smaller pieces.

use bytes::{Buf, BytesMut};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes read ahead of the SSH layer: one full packet (32 KiB of channel data, plus headers).
const READ_AHEAD: usize = 34 * 1024;

/// `stream` with the read buffer in front (writes pass through unbuffered).
pub(crate) fn buffered(stream: TcpStream) -> ReadAhead<TcpStream> {
    ReadAhead::new(stream)
}

/// A stream with a read-ahead buffer that exists only while there is something to read.
pub(crate) struct ReadAhead<S> {
    inner: S,
    /// The unread bytes; no allocation unless bytes are waiting or a read is under way.
    buf: BytesMut,
}

impl<S> ReadAhead<S> {
    fn new(inner: S) -> Self {
        ReadAhead { inner, buf: BytesMut::new() }
    }

    /// Gives the buffer back to the allocator (only ever called with nothing unread in it).
    fn release(&mut self) {
        self.buf = BytesMut::new();
    }

    #[cfg(test)]
    fn holds_buffer(&self) -> bool {
        self.buf.capacity() > 0
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ReadAhead<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.buf.is_empty() {
            if out.remaining() >= READ_AHEAD {
                this.release();
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            // Allocates READ_AHEAD bytes, or takes the whole held allocation back from the
            // front (nothing is unread, so nothing moves); never grows past that.
            this.buf.reserve(READ_AHEAD);
            match tokio_util::io::poll_read_buf(Pin::new(&mut this.inner), cx, &mut this.buf) {
                Poll::Ready(Ok(0)) => {
                    // End of stream: nothing to hand over, nothing worth keeping.
                    this.release();
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    this.release();
                    return Poll::Ready(Err(e));
                }
                Poll::Pending => {
                    // Waiting (idle): hold nothing meanwhile.
                    this.release();
                    return Poll::Pending;
                }
            }
        }
        let n = out.remaining().min(this.buf.len());
        out.put_slice(&this.buf[..n]);
        this.buf.advance(n);
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ReadAhead<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use std::future::poll_fn;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Every byte arrives once and in order, whatever the sizes of the reads and writes.
    #[tokio::test]
    async fn hands_over_every_byte_in_order() {
        let (mut far, near) = tokio::io::duplex(7 * 1024);
        let sent: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let writer = {
            let sent = sent.clone();
            tokio::spawn(async move {
                for chunk in sent.chunks(5_003) {
                    far.write_all(chunk).await.unwrap();
                }
            })
        };
        let mut reader = ReadAhead::new(near);
        let mut got = Vec::new();
        let sizes = [4usize, 1, 60_000, 16, 3, 40_000, 1_000];
        let mut i = 0;
        loop {
            let mut chunk = vec![0; sizes[i % sizes.len()]];
            i += 1;
            let n = reader.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
        }
        writer.await.unwrap();
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "bytes changed or reordered");
    }

    /// A session with nothing to read holds no buffer; it takes one again when bytes come.
    #[tokio::test]
    async fn an_idle_stream_holds_no_buffer() {
        let (mut far, near) = tokio::io::duplex(64 * 1024);
        let mut reader = ReadAhead::new(near);
        far.write_all(b"0123456789").await.unwrap();
        let mut four = [0u8; 4];
        reader.read_exact(&mut four).await.unwrap();
        assert_eq!(&four, b"0123");
        assert!(reader.holds_buffer(), "six bytes are still waiting in the buffer");
        let mut six = [0u8; 6];
        reader.read_exact(&mut six).await.unwrap();
        assert_eq!(&six, b"456789");

        // Nothing more to read: the read waits, and the buffer is given back meanwhile.
        let mut one = [0u8; 1];
        let waited = poll_fn(|cx| Poll::Ready(Pin::new(&mut reader).poll_read(cx, &mut ReadBuf::new(&mut one)).is_pending())).await;
        assert!(waited, "nothing was sent, so the read must wait");
        assert!(!reader.holds_buffer(), "an idle stream keeps its 34 KiB");

        far.write_all(b"x").await.unwrap();
        reader.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"x");
    }

    /// End of stream and large reads: nothing is kept, nothing is lost.
    #[tokio::test]
    async fn end_of_stream_and_large_reads_keep_nothing() {
        let (mut far, near) = tokio::io::duplex(128 * 1024);
        let mut reader = ReadAhead::new(near);
        far.write_all(&[7u8; 50_000]).await.unwrap();
        drop(far);
        let mut big = vec![0u8; 2 * READ_AHEAD];
        let mut got = 0;
        loop {
            let n = reader.read(&mut big).await.unwrap();
            assert!(!reader.holds_buffer(), "a read as large as the buffer goes straight to the socket");
            if n == 0 {
                break;
            }
            assert!(big[..n].iter().all(|b| *b == 7));
            got += n;
        }
        assert_eq!(got, 50_000);
        assert!(!reader.holds_buffer());
    }

    /// Writes pass through to the socket unchanged.
    #[tokio::test]
    async fn writes_pass_through() {
        let (mut far, near) = tokio::io::duplex(1024);
        let mut stream = ReadAhead::new(near);
        stream.write_all(b"hello").await.unwrap();
        stream.flush().await.unwrap();
        let mut got = [0u8; 5];
        far.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hello");
    }
}
