//! A sink's open connection or file. [`Conn::send`] writes one batch and returns only once
//! the bytes have left this process: written and flushed for TCP and TLS (the kernel has them;
//! TCP has no application-level acknowledgement, hence at-least-once), written, flushed and
//! `fsync`ed for a file, written and flushed for standard output.
//!
//! Before each batch on a network connection, [`Conn::still_open`] looks (without waiting)
//! whether the receiver closed its end: a syslog receiver never sends anything, so a closed
//! stream means it went away, and the batch is sent on a new connection instead of into a
//! socket whose bytes would be thrown away.

use super::tls;
use crate::config::{ExportTarget, SinkConfig};
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

/// An open sink.
pub enum Conn {
    Tcp(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    File(tokio::fs::File),
    Stdout(tokio::io::Stdout),
}

/// Opens the sink's target. `tls` is the client configuration for `tls://` targets.
pub async fn open(sink: &SinkConfig, tls: Option<&Arc<rustls::ClientConfig>>) -> std::io::Result<Conn> {
    match &sink.target {
        ExportTarget::Tcp { host, port } => {
            let s = TcpStream::connect((host.as_str(), *port)).await?;
            s.set_nodelay(true)?;
            Ok(Conn::Tcp(s))
        }
        ExportTarget::Tls { host, port } => {
            let config = tls.ok_or_else(|| std::io::Error::other("no TLS configuration"))?;
            let s = TcpStream::connect((host.as_str(), *port)).await?;
            s.set_nodelay(true)?;
            Ok(Conn::Tls(Box::new(tls::connect(config.clone(), host, s).await?)))
        }
        ExportTarget::File(path) => Ok(Conn::File(open_file(path).await?)),
        ExportTarget::Stdout => Ok(Conn::Stdout(tokio::io::stdout())),
    }
}

async fn open_file(path: &Path) -> std::io::Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new().create(true).append(true).open(path).await
}

impl Conn {
    /// Writes `bytes` and makes sure they left this process (see the module comment).
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Conn::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            Conn::File(f) => {
                f.write_all(bytes).await?;
                f.flush().await?;
                f.sync_data().await
            }
            Conn::Stdout(o) => {
                o.write_all(bytes).await?;
                o.flush().await
            }
        }
    }

    /// False when the receiver has closed its end or the connection failed; never waits.
    /// Anything the receiver sent is read and ignored (at most a few reads).
    pub fn still_open(&mut self) -> bool {
        match self {
            Conn::Tcp(s) => poll_open(s),
            Conn::Tls(s) => poll_open(s.as_mut()),
            Conn::File(_) | Conn::Stdout(_) => true,
        }
    }

    /// Closes a network connection politely (TLS close_notify, TCP FIN); errors do not matter.
    pub async fn close(mut self) {
        match &mut self {
            Conn::Tcp(s) => {
                let _ = s.shutdown().await;
            }
            Conn::Tls(s) => {
                let _ = s.shutdown().await;
            }
            Conn::File(_) | Conn::Stdout(_) => {}
        }
    }
}

/// Polls the read side once per chunk with a waker that does nothing: `Pending` means open and
/// quiet, end of stream or an error means gone.
fn poll_open<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> bool {
    let mut cx = Context::from_waker(Waker::noop());
    let mut buf = [0u8; 512];
    for _ in 0..16 {
        let mut rb = ReadBuf::new(&mut buf);
        match Pin::new(&mut *s).poll_read(&mut cx, &mut rb) {
            Poll::Pending => return true,
            Poll::Ready(Ok(())) if rb.filled().is_empty() => return false,
            Poll::Ready(Ok(())) => continue,
            Poll::Ready(Err(_)) => return false,
        }
    }
    true
}
