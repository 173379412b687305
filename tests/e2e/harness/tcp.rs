//! TCP services on the device's address, as the targets of tunnels: a real listener on
//! 127.0.0.1 (the harness device's host) that counts every connection it accepts, so a test
//! can prove that a refused tunnel never reached it. Echo sends every byte back (and closes
//! its side when the client has finished sending); Sink reads and counts; Stall reads nothing
//! until [`Service::release`], then behaves like Sink (a device that stops reading); Source
//! sends a given number of bytes and closes (counted as they are handed to the socket).
//! [`Service::cut`] drops every open connection at once, as a device that dies does.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};

/// What a service does with each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Echo,
    Sink,
    Stall,
    /// Sends this many bytes, then closes (reads nothing).
    Source(u64),
}

/// A running TCP service.
pub struct Service {
    pub addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    received: Arc<AtomicU64>,
    /// Connections whose client finished or vanished.
    closed: Arc<AtomicUsize>,
    /// Lets Stall connections start reading.
    released: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    /// A handle on every connection accepted, for [`Service::cut`].
    open: Arc<Mutex<Vec<TcpStream>>>,
    accept_loop: Option<JoinHandle<()>>,
}

impl Service {
    /// Listens on 127.0.0.1, port chosen by the system.
    pub fn start(behaviour: Behaviour) -> Service {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a TCP service");
        let addr = listener.local_addr().expect("service address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(AtomicU64::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let released = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let accept_loop = {
            let (accepted, received, closed, stop) = (accepted.clone(), received.clone(), closed.clone(), stop.clone());
            let (released, open) = (released.clone(), open.clone());
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    accepted.fetch_add(1, Ordering::SeqCst);
                    if let Ok(handle) = stream.try_clone() {
                        open.lock().unwrap_or_else(|p| p.into_inner()).push(handle);
                    }
                    let (received, closed, released) = (received.clone(), closed.clone(), released.clone());
                    thread::spawn(move || {
                        if behaviour == Behaviour::Stall {
                            while !released.load(Ordering::SeqCst) {
                                thread::sleep(std::time::Duration::from_millis(20));
                            }
                        }
                        match behaviour {
                            Behaviour::Source(n) => send(stream, n, &received),
                            _ => serve(stream, behaviour, &received),
                        }
                        closed.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        };
        Service { addr, accepted, received, closed, released, stop, open, accept_loop: Some(accept_loop) }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Bytes read from all connections so far (for Source: bytes sent).
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::SeqCst)
    }

    /// Lets Stall connections read from now on.
    pub fn release(&self) {
        self.released.store(true, Ordering::SeqCst);
    }

    /// Connections that have ended.
    pub fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    /// Cuts every connection accepted so far (both directions), as a device that dies does;
    /// the service keeps accepting new ones.
    pub fn cut(&self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        for stream in open.drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

fn serve(mut stream: TcpStream, behaviour: Behaviour, received: &AtomicU64) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        received.fetch_add(n as u64, Ordering::SeqCst);
        if behaviour == Behaviour::Echo && stream.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn send(mut stream: TcpStream, total: u64, sent: &AtomicU64) {
    let chunk: Vec<u8> = (0..64 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        if stream.write_all(&chunk[..n]).is_err() {
            break;
        }
        sent.fetch_add(n as u64, Ordering::SeqCst);
        left -= n as u64;
    }
    let _ = stream.shutdown(Shutdown::Both);
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.release();
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept_loop.take() {
            let _ = h.join();
        }
    }
}
