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

/// A TCP connection to `addr` from the loopback address `from` (e.g. 127.0.0.2), as a second
/// host on the network would make.
fn connect_from(from: &str, addr: SocketAddr) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
        socket.connect(addr).await.unwrap_or_else(|e| panic!("cannot connect from {from} to {addr}: {e}"))
    });
    let std = stream.into_std().unwrap();
    std.set_nonblocking(false).unwrap();
    std
}

/// Reads the SSH greeting if the broker sends one within `limit`.
fn greeting(c: &mut TcpStream, limit: Duration) -> bool {
    c.set_read_timeout(Some(limit)).unwrap();
    let mut g = [0u8; 8];
    c.read_exact(&mut g).is_ok() && &g == b"SSH-2.0-"
}

/// Finding: 64 TCP connections that never sent an SSH version line held every
/// unauthenticated slot for up to an hour, and every real vendor was reset. Now one source
/// holds at most `ssh.per_source_max_startups` (10) of them, so a vendor from another address
/// signs in while the flood holds its connections open.
#[test]
fn a_flood_from_one_address_does_not_keep_a_vendor_out() {
    let s = Setup::new("pump-flood").start();
    let addr = s.broker.ssh_addr();
    let flood: Vec<TcpStream> = (0..64).map(|_| connect_from("127.0.0.2", addr)).collect();
    // The flood is refused past its tenth connection: at once, without a greeting.
    let mut last = connect_from("127.0.0.2", addr);
    let (closed, got) = read_until_closed(&mut last, Duration::from_secs(30));
    assert!(closed && got.is_empty(), "an eleventh connection from one source was served: {got:?}");
    // The vendor, from 127.0.0.1, signs in and is served as usual.
    let out = s.lobby("status");
    out.assert_success();
    drop(flood);
}

/// Finding: the sign-in deadline started after the version exchange, so a connection that
/// sent nothing was kept for russh's hour of inactivity. It counts from the accept now.
#[test]
fn a_silent_connection_is_cut_at_the_deadline_counted_from_accept() {
    let mut broker = Broker::init();
    let addr = broker.serve(&[("PORTCULLIS_SSH_PREAUTH_TIMEOUT", "2s")]);
    let mut c = connect(addr);
    // Not even a version line.
    let (closed, _) = read_until_closed(&mut c, Duration::from_secs(60));
    assert!(closed, "a connection that sent nothing was not cut at the sign-in deadline");
}

/// A source whose connections keep letting the deadline pass is penalised: its next
/// connection is refused before the greeting, while other sources are served.
#[test]
fn a_source_that_keeps_failing_is_penalised() {
    let mut broker = Broker::init();
    let addr = broker.serve(&[("PORTCULLIS_SSH_PREAUTH_TIMEOUT", "1s"), ("PORTCULLIS_SSH_PENALTY_MAX", "10m")]);
    // Two deadlines let pass: 2 x 10 s, over the 15 s minimum.
    for _ in 0..2 {
        let mut c = connect_from("127.0.0.3", addr);
        let (closed, _) = read_until_closed(&mut c, Duration::from_secs(60));
        assert!(closed, "the idle connection was not cut");
    }
    let mut next = connect_from("127.0.0.3", addr);
    let (closed, got) = read_until_closed(&mut next, Duration::from_secs(30));
    assert!(closed && got.is_empty(), "a penalised source was served: {got:?}");
    assert!(greeting(&mut connect_from("127.0.0.4", addr), Duration::from_secs(30)), "another source was refused");
}
