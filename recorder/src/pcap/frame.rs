//! TCP framing for recorded byte streams. A tunnel's bytes arrive as two ordered streams (to
//! the device and back), with no packets of their own; to make a capture that Wireshark and
//! tshark reassemble and decode (DICOM, HL7, HTTP…), each chunk becomes an IPv4/TCP segment
//! of one made-up connection: a three-way handshake at the start, data segments whose
//! sequence and acknowledgement numbers follow the bytes exactly, and a FIN for each
//! direction that ended. Checksums are computed, so no "bad checksum" warnings appear.

use std::net::Ipv4Addr;

/// Largest payload put in one segment (an IPv4 packet holds at most 65535 bytes).
pub(crate) const MAX_SEGMENT: usize = 65_000;

const SYN: u8 = 0x02;
const FIN: u8 = 0x01;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;

/// Which way bytes went: from the vendor's side (the client) or from the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Vendor to device.
    ToDevice,
    /// Device to vendor.
    FromDevice,
}

/// The two ends shown in the capture: the vendor's address and source port, the device's
/// address and the tunnel's port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowEnds {
    pub client: (Ipv4Addr, u16),
    pub server: (Ipv4Addr, u16),
}

/// The state of the made-up TCP connection: next sequence number each way.
#[derive(Debug)]
pub(crate) struct Flow {
    ends: FlowEnds,
    /// Next sequence number of the client (vendor) side.
    client_seq: u32,
    /// Next sequence number of the server (device) side.
    server_seq: u32,
    ip_id: u16,
}

impl Flow {
    /// A flow with fixed initial sequence numbers (the capture need not be unpredictable).
    pub(crate) fn new(ends: FlowEnds) -> Flow {
        Flow { ends, client_seq: 1_000, server_seq: 5_000, ip_id: 1 }
    }

    /// SYN, SYN-ACK, ACK.
    pub(crate) fn handshake(&mut self) -> Vec<Vec<u8>> {
        let syn = self.segment(Direction::ToDevice, SYN, &[]);
        self.client_seq = self.client_seq.wrapping_add(1);
        let syn_ack = self.segment(Direction::FromDevice, SYN | ACK, &[]);
        self.server_seq = self.server_seq.wrapping_add(1);
        let ack = self.segment(Direction::ToDevice, ACK, &[]);
        vec![syn, syn_ack, ack]
    }

    /// Data segments carrying `data` in direction `dir`.
    pub(crate) fn data(&mut self, dir: Direction, data: &[u8]) -> Vec<Vec<u8>> {
        data.chunks(MAX_SEGMENT)
            .map(|chunk| {
                let p = self.segment(dir, PSH | ACK, chunk);
                let n = chunk.len() as u32;
                match dir {
                    Direction::ToDevice => self.client_seq = self.client_seq.wrapping_add(n),
                    Direction::FromDevice => self.server_seq = self.server_seq.wrapping_add(n),
                }
                p
            })
            .collect()
    }

    /// A FIN from the side sending in direction `dir`.
    pub(crate) fn fin(&mut self, dir: Direction) -> Vec<u8> {
        let p = self.segment(dir, FIN | ACK, &[]);
        match dir {
            Direction::ToDevice => self.client_seq = self.client_seq.wrapping_add(1),
            Direction::FromDevice => self.server_seq = self.server_seq.wrapping_add(1),
        }
        p
    }

    /// One IPv4 packet with a TCP segment.
    fn segment(&mut self, dir: Direction, flags: u8, payload: &[u8]) -> Vec<u8> {
        let (src, dst, seq, ack) = match dir {
            Direction::ToDevice => (self.ends.client, self.ends.server, self.client_seq, self.server_seq),
            Direction::FromDevice => (self.ends.server, self.ends.client, self.server_seq, self.client_seq),
        };
        let ack = if flags & ACK != 0 { ack } else { 0 };
        let total = 20 + 20 + payload.len();
        let mut p = Vec::with_capacity(total);
        // IPv4 header: version 4, 5 words, no options; don't fragment; TTL 64; protocol TCP.
        p.extend_from_slice(&[0x45, 0]);
        p.extend_from_slice(&(total as u16).to_be_bytes());
        p.extend_from_slice(&self.ip_id.to_be_bytes());
        p.extend_from_slice(&[0x40, 0, 64, 6, 0, 0]);
        p.extend_from_slice(&src.0.octets());
        p.extend_from_slice(&dst.0.octets());
        let ip_sum = checksum(&[&p[..20]]);
        p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);
        // TCP header: 5 words, window 65535, no options.
        let tcp_start = p.len();
        p.extend_from_slice(&src.1.to_be_bytes());
        p.extend_from_slice(&dst.1.to_be_bytes());
        p.extend_from_slice(&seq.to_be_bytes());
        p.extend_from_slice(&ack.to_be_bytes());
        p.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
        p.extend_from_slice(payload);
        let tcp_len = (p.len() - tcp_start) as u16;
        let mut pseudo = [0u8; 12];
        pseudo[..4].copy_from_slice(&src.0.octets());
        pseudo[4..8].copy_from_slice(&dst.0.octets());
        pseudo[9] = 6;
        pseudo[10..12].copy_from_slice(&tcp_len.to_be_bytes());
        let tcp_sum = checksum(&[&pseudo, &p[tcp_start..]]);
        p[tcp_start + 16..tcp_start + 18].copy_from_slice(&tcp_sum.to_be_bytes());
        p
    }
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts` (each part but the
/// last has an even length here).
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    for part in parts {
        let mut words = part.chunks_exact(2);
        for w in &mut words {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
        if let [last] = words.remainder() {
            sum += u32::from(*last) << 8;
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends() -> FlowEnds {
        FlowEnds { client: (Ipv4Addr::new(10, 0, 0, 1), 40000), server: (Ipv4Addr::new(10, 20, 0, 12), 104) }
    }

    #[test]
    fn checksums_verify() {
        let mut f = Flow::new(ends());
        let mut packets = f.handshake();
        packets.extend(f.data(Direction::ToDevice, b"hello, odd length"));
        for p in &packets {
            assert_eq!(checksum(&[&p[..20]]), 0, "IP checksum");
            let tcp = &p[20..];
            let mut pseudo = [0u8; 12];
            pseudo[..4].copy_from_slice(&p[12..16]);
            pseudo[4..8].copy_from_slice(&p[16..20]);
            pseudo[9] = 6;
            pseudo[10..12].copy_from_slice(&(tcp.len() as u16).to_be_bytes());
            assert_eq!(checksum(&[&pseudo, tcp]), 0, "TCP checksum");
        }
    }

    #[test]
    fn sequence_numbers_follow_the_bytes() {
        let mut f = Flow::new(ends());
        f.handshake();
        let a = f.data(Direction::ToDevice, &[7u8; 100]);
        let b = f.data(Direction::FromDevice, &[8u8; 30]);
        let c = f.data(Direction::ToDevice, &[9u8; MAX_SEGMENT + 5]);
        let seq = |p: &Vec<u8>| u32::from_be_bytes([p[24], p[25], p[26], p[27]]);
        let ack = |p: &Vec<u8>| u32::from_be_bytes([p[28], p[29], p[30], p[31]]);
        assert_eq!(seq(&a[0]), 1_001);
        assert_eq!(ack(&a[0]), 5_001);
        assert_eq!(seq(&b[0]), 5_001);
        assert_eq!(ack(&b[0]), 1_101);
        assert_eq!(c.len(), 2);
        assert_eq!(seq(&c[0]), 1_101);
        assert_eq!(seq(&c[1]), 1_101 + MAX_SEGMENT as u32);
        assert_eq!(ack(&c[1]), 5_031);
        assert_eq!(c[1].len(), 40 + 5);
    }
}
