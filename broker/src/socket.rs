//! The sockets the SSH layer reads from, on both hops, with a read buffer in front.
//!
//! russh reads each packet with two exact reads straight from its stream: the first block
//! (to learn the length), then the rest. Unbuffered, that is two or more `recvfrom` calls per
//! packet, each of which may park the task. A buffer in front lets one call take several
//! packets at once when data streams. It is the size of one full channel packet: an idle
//! session's buffer is never filled, and a busy one needs no more.

use tokio::io::BufReader;
use tokio::net::TcpStream;

/// Bytes read ahead of the SSH layer: one full packet (32 KiB of channel data, plus headers).
const READ_AHEAD: usize = 34 * 1024;

/// `stream` with the read buffer in front (writes pass through unbuffered).
pub(crate) fn buffered(stream: TcpStream) -> BufReader<TcpStream> {
    BufReader::with_capacity(READ_AHEAD, stream)
}
