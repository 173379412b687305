//! The capture file read back with pcap-file's reader: handshake, data in order with the
//! right timestamps and lengths, FINs, and a seal that matches the file on disk.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use pcap_file::pcap::PcapReader;
use std::net::Ipv4Addr;

fn ends() -> FlowEnds {
    FlowEnds { client: (Ipv4Addr::new(127, 0, 0, 1), 40000), server: (Ipv4Addr::new(127, 0, 0, 2), 104) }
}

#[tokio::test]
async fn writes_a_readable_capture_and_seals_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1.pcap");
    let (rec, handle) = PcapRecorder::create(&path, ends()).await.unwrap();
    rec.data(Direction::ToDevice, Bytes::from_static(b"GET / HTTP/1.0\r\n\r\n")).await.unwrap();
    rec.data(Direction::FromDevice, Bytes::from(vec![b'x'; 70_000])).await.unwrap();
    rec.fin(Direction::ToDevice).await.unwrap();
    drop(rec);
    let seal = handle.finish().await.unwrap();
    assert_eq!(seal, crate::seal_file(&path).map(|s| Seal { events: seal.events, ..s }).unwrap());

    let mut reader = PcapReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(reader.header().datalink, pcap_file::DataLink::RAW);
    let mut payload_to = Vec::new();
    let mut payload_from = Vec::new();
    let mut flags = Vec::new();
    while let Some(p) = reader.next_packet() {
        let p = p.unwrap();
        let data = &p.data;
        flags.push(data[33]);
        let body = &data[40..];
        if data[20..22] == 40000u16.to_be_bytes() {
            payload_to.extend_from_slice(body);
        } else {
            payload_from.extend_from_slice(body);
        }
    }
    assert_eq!(payload_to, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(payload_from, vec![b'x'; 70_000]);
    // SYN, SYN-ACK, ACK, 1 + 2 data segments, FIN from the vendor, FIN from the device at finish.
    assert_eq!(flags.len(), 8);
    assert_eq!(&flags[..3], &[0x02, 0x12, 0x10]);
    assert_eq!(&flags[6..], &[0x11, 0x11]);
    assert_eq!(seal.events, 8);
}

#[tokio::test]
async fn never_overwrites_an_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1.pcap");
    std::fs::write(&path, b"evidence").unwrap();
    assert!(PcapRecorder::create(&path, ends()).await.is_err());
    assert_eq!(std::fs::read(&path).unwrap(), b"evidence");
}

#[tokio::test]
async fn a_capture_cut_short_is_sealed_with_its_whole_packets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1.pcap");
    let (rec, handle) = PcapRecorder::create(&path, ends()).await.unwrap();
    rec.data(Direction::ToDevice, Bytes::from_static(b"hello")).await.unwrap();
    drop(rec);
    let seal = handle.finish().await.unwrap();
    assert_eq!(seal_capture_file(&path).unwrap(), seal, "a finished capture seals as its writer did");

    // A crash leaves the last packet half written: it is not counted, the hash is the file's.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 3);
    std::fs::write(&path, &bytes).unwrap();
    let cut = seal_capture_file(&path).unwrap();
    assert_eq!(cut.events, seal.events - 1);
    assert_eq!((cut.bytes, cut.sha256.clone()), (bytes.len() as u64, crate::sha256_file(&path).unwrap().0));
}

/// A running capture hands its packets to the file within the flush interval, without being
/// finished, and again for packets that come after that flush (the timer is moved, not made
/// anew, so it must fire a second time).
#[tokio::test]
async fn a_running_capture_reaches_the_file_after_each_quiet_second() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("1.pcap");
    let (rec, handle) = PcapRecorder::create(&path, ends()).await.unwrap();
    let on_disk = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let mut seen = on_disk(&path);
    for round in 0..2 {
        rec.data(Direction::ToDevice, Bytes::from(vec![b'a' + round; 5_000])).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while on_disk(&path) <= seen + 5_000 {
            assert!(std::time::Instant::now() < deadline, "round {round}: the packet never reached the file");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        seen = on_disk(&path);
    }
    drop(rec);
    let seal = handle.finish().await.unwrap();
    assert_eq!(seal.bytes, on_disk(&path));
}
