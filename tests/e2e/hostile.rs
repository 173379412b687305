//! Hostile traffic at the vendor listener: garbage instead of an SSH greeting, a client that
//! never finishes signing in, and a flood of connections that never sign in. Each must be
//! refused or cut off while the broker keeps serving real vendors.

use crate::harness::broker::Broker;
use crate::harness::scenario::Setup;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Reads until the peer closes or `limit` passes; returns whether it closed and what it sent.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (bool, Vec<u8>) {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return (true, got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return (true, got),
        }
    }
    (false, got)
}

fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"))
}

#[test]
fn garbage_instead_of_ssh_is_dropped_and_service_continues() {
    let s = Setup::new("pump-garbage").start();
    let addr = s.broker.ssh_addr();
    for junk in [&b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..], &[0xffu8; 70_000][..], b"SSH-2.0-x\r\n\x00\x00\x00\x10garbage-packet!!"] {
        let mut c = connect(addr);
        let _ = c.write_all(junk);
        let (closed, _) = read_until_closed(&mut c, Duration::from_secs(30));
        assert!(closed, "the broker kept a garbage connection open");
    }
    // A real vendor still gets in.
    let out = s.lobby("status");
    out.assert_success();
}

#[test]
fn sign_in_must_finish_before_the_deadline() {
    let mut broker = Broker::init();
    let addr = broker.serve(&[("PORTCULLIS_SSH_PREAUTH_TIMEOUT", "2s")]);
    let mut c = connect(addr);
    c.write_all(b"SSH-2.0-OpenSSH_9.2\r\n").unwrap();
    // The client then says nothing more; the broker must hang up on its own.
    let (closed, got) = read_until_closed(&mut c, Duration::from_secs(60));
    assert!(closed, "a silent client was not disconnected");
    assert!(got.starts_with(b"SSH-2.0-"), "no SSH greeting: {got:?}");
}

#[test]
fn unauthenticated_connections_are_capped() {
    let mut broker = Broker::init();
    let addr = broker.serve(&[("PORTCULLIS_SSH_MAX_UNAUTHENTICATED", "2"), ("PORTCULLIS_SSH_PREAUTH_TIMEOUT", "120s")]);
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = connect(addr);
        let mut greeting = [0u8; 8];
        c.read_exact(&mut greeting).unwrap();
        assert_eq!(&greeting, b"SSH-2.0-");
        held.push(c);
    }
    // The third is closed at once, without a greeting.
    let mut third = connect(addr);
    let (closed, got) = read_until_closed(&mut third, Duration::from_secs(30));
    assert!(closed && got.is_empty(), "a third unauthenticated connection was served: {got:?}");
    // Freeing a slot lets the next one in.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut c = connect(addr);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut greeting = [0u8; 8];
        if c.read_exact(&mut greeting).is_ok() {
            assert_eq!(&greeting, b"SSH-2.0-");
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
    }
}
