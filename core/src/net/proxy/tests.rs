#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use std::net::Ipv4Addr;
use tokio::io::AsyncWriteExt as _;
use tokio::net::{TcpListener, TcpStream};

/// A v2 header: `cmd` 0x20 LOCAL or 0x21 PROXY, TCP over IPv4 from `src`, then `tlvs`.
fn v2(cmd: u8, src: SocketAddr, tlvs: &[u8]) -> Vec<u8> {
    let SocketAddr::V4(src) = src else { panic!("IPv4 only here") };
    let mut h = SIGNATURE.to_vec();
    h.push(cmd);
    h.push(0x11);
    h.extend_from_slice(&u16::try_from(12 + tlvs.len()).unwrap().to_be_bytes());
    h.extend_from_slice(&src.ip().octets());
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&src.port().to_be_bytes());
    h.extend_from_slice(&2222u16.to_be_bytes());
    h.extend_from_slice(tlvs);
    h
}

/// A connected pair on loopback: the client end, the server end and the peer the server saw.
async fn pair() -> (TcpStream, TcpStream, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (server, peer) = listener.accept().await.unwrap();
    (client, server, peer)
}

fn loopback_rule(deadline: Duration) -> ProxyRule {
    ProxyRule::new(vec!["127.0.0.0/8".parse().unwrap()], deadline)
}

fn vendor() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)), 40123)
}

#[tokio::test]
async fn a_trusted_proxy_header_gives_the_client_address_and_leaves_the_protocol_unread() {
    let (mut client, mut server, peer) = pair().await;
    // A NOOP TLV and an unknown one (0xEE) are skipped.
    let mut bytes = v2(0x21, vendor(), &[0x04, 0x00, 0x01, 0x00, 0xEE, 0x00, 0x02, 1, 2]);
    bytes.extend_from_slice(b"SSH-2.0-client\r\n");
    client.write_all(&bytes).await.unwrap();
    let rule = loopback_rule(HEADER_TIMEOUT);
    assert_eq!(rule.resolve(&mut server, peer).await, Ok(vendor()));
    let mut rest = [0u8; 16];
    server.read_exact(&mut rest).await.unwrap();
    assert_eq!(&rest, b"SSH-2.0-client\r\n");
    assert_eq!(rule.refused(), 0);
}

#[tokio::test]
async fn a_local_header_leaves_the_proxy_as_the_peer() {
    let (mut client, mut server, peer) = pair().await;
    client.write_all(&v2(0x20, vendor(), &[])).await.unwrap();
    assert_eq!(loopback_rule(HEADER_TIMEOUT).resolve(&mut server, peer).await, Ok(peer));
}

#[tokio::test]
async fn a_header_from_an_untrusted_peer_is_not_read() {
    let (mut client, mut server, peer) = pair().await;
    let bytes = v2(0x21, vendor(), &[]);
    client.write_all(&bytes).await.unwrap();
    let rule = ProxyRule::new(vec!["10.9.8.7/32".parse().unwrap()], HEADER_TIMEOUT);
    assert_eq!(rule.resolve(&mut server, peer).await, Ok(peer), "the spoofed address must not be taken");
    // The header is still there for the protocol to choke on.
    let mut first = vec![0u8; bytes.len()];
    server.read_exact(&mut first).await.unwrap();
    assert_eq!(first, bytes);
}

async fn refused(bytes: &[u8], close: bool, deadline: Duration) -> Refusal {
    let (mut client, mut server, peer) = pair().await;
    client.write_all(bytes).await.unwrap();
    if close {
        client.shutdown().await.unwrap();
    }
    let rule = loopback_rule(deadline);
    let why = rule.resolve(&mut server, peer).await.expect_err("must be refused");
    assert_eq!(rule.refused(), 1);
    drop(client);
    why
}

#[tokio::test]
async fn no_header_from_a_trusted_proxy_is_refused() {
    assert_eq!(refused(b"SSH-2.0-OpenSSH_9.2\r\n", false, HEADER_TIMEOUT).await, Refusal::NotProxy);
}

#[tokio::test]
async fn a_truncated_header_is_refused() {
    let whole = v2(0x21, vendor(), &[]);
    assert_eq!(refused(&whole[..20], true, HEADER_TIMEOUT).await, Refusal::Io(std::io::ErrorKind::UnexpectedEof));
    assert_eq!(refused(&whole[..7], true, HEADER_TIMEOUT).await, Refusal::Io(std::io::ErrorKind::UnexpectedEof));
}

#[tokio::test]
async fn an_oversized_header_is_refused_before_it_is_read() {
    let mut h = SIGNATURE.to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
    assert_eq!(refused(&h, false, HEADER_TIMEOUT).await, Refusal::TooLong(16 + 0xffff));
}

#[tokio::test]
async fn garbage_after_the_signature_is_refused() {
    // Version 3, then an address block shorter than IPv4 needs.
    let mut bad_version = v2(0x21, vendor(), &[]);
    bad_version[12] = 0x31;
    assert!(matches!(refused(&bad_version, true, HEADER_TIMEOUT).await, Refusal::Malformed(_)));
    let mut short = SIGNATURE.to_vec();
    short.extend_from_slice(&[0x21, 0x11, 0x00, 0x04, 1, 2, 3, 4]);
    assert!(matches!(refused(&short, true, HEADER_TIMEOUT).await, Refusal::Malformed(_)));
}

#[tokio::test]
async fn a_tlv_that_lies_about_its_length_is_ignored() {
    // TLVs are never read, so a broken one neither panics nor changes the address.
    let (mut client, mut server, peer) = pair().await;
    client.write_all(&v2(0x21, vendor(), &[0x04, 0x00, 0x09, 0x00])).await.unwrap();
    assert_eq!(loopback_rule(HEADER_TIMEOUT).resolve(&mut server, peer).await, Ok(vendor()));
}

#[tokio::test]
async fn a_slow_header_is_cut_at_the_deadline() {
    // Half a signature, then nothing: the read must end at the deadline, not wait forever.
    let bounded = tokio::time::timeout(Duration::from_secs(30), refused(&SIGNATURE[..6], false, Duration::from_millis(300))).await;
    assert_eq!(bounded.expect("the deadline must cut the read"), Refusal::Timeout);
}

#[test]
fn cidr_blocks_parse_and_match() {
    let c: Cidr = "127.0.0.1/32".parse().unwrap();
    assert!(c.contains("127.0.0.1".parse().unwrap()));
    assert!(!c.contains("127.0.0.2".parse().unwrap()));
    assert!(c.contains("::ffff:127.0.0.1".parse().unwrap()), "IPv4-mapped IPv6 is the IPv4 address");
    let net: Cidr = "10.1.0.0/20".parse().unwrap();
    assert!(net.contains("10.1.15.255".parse().unwrap()));
    assert!(!net.contains("10.1.16.0".parse().unwrap()));
    let host: Cidr = "::1".parse().unwrap();
    assert_eq!(host.to_string(), "::1/128");
    assert!(!host.contains("127.0.0.1".parse().unwrap()));
    assert!("127.0.0.1/33".parse::<Cidr>().is_err());
    assert!("proxy.example/8".parse::<Cidr>().is_err());
    let all: Cidr = "0.0.0.0/0".parse().unwrap();
    assert!(all.contains("192.0.2.1".parse().unwrap()));
}
