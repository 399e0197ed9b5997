//! A seeded generator of realistic traffic captures: mostly TLS over TCP
//! 443 (IPv4 and IPv6), HTTP, SSH, DNS, QUIC, NTP, ICMP, ARP, VLAN-tagged
//! and fragmented IPv4, with ACK-sized, full-sized and in-between frames,
//! plus a share of odd frames from [`crate::gen::packet::frame`].
//! The same seed gives the same bytes on every machine.

use crate::gen::packet::frame;
use crate::Rng;
use cranebpf::capture::write::{PcapEncoder, PcapngEncoder};
use cranebpf::capture::Timestamp;
use std::io::{self, Write};

/// Server addresses the flows talk to (a small pool, so `host` filters
/// match something).
const SERVERS_V4: [[u8; 4]; 6] = [
    [93, 184, 216, 34],
    [142, 250, 74, 110],
    [151, 101, 1, 69],
    [104, 16, 132, 229],
    [8, 8, 8, 8],
    [1, 1, 1, 1],
];

/// What to generate.
#[derive(Clone, Copy, Debug)]
pub struct SynthOptions {
    /// The seed: the same seed, the same capture.
    pub seed: u64,
    /// Number of packets.
    pub packets: u64,
    /// Snapshot length: frames longer than this are cut (0: never cut).
    pub snaplen: u32,
    /// Write pcapng (one Ethernet interface) instead of pcap.
    pub pcapng: bool,
    /// Big-endian fields.
    pub big_endian: bool,
    /// Nanosecond timestamps.
    pub nanos: bool,
}

impl Default for SynthOptions {
    fn default() -> SynthOptions {
        SynthOptions {
            seed: 1,
            packets: 1000,
            snaplen: 0,
            pcapng: false,
            big_endian: false,
            nanos: false,
        }
    }
}

/// Writes a capture of realistic Ethernet traffic to `out`; returns the
/// number of bytes written.
pub fn write_capture(out: &mut dyn Write, options: &SynthOptions) -> io::Result<u64> {
    let mut rng = Rng::new(options.seed);
    let header_snaplen = if options.snaplen == 0 {
        262_144
    } else {
        options.snaplen
    };
    let pcap = PcapEncoder::new(1, header_snaplen, options.big_endian, options.nanos);
    let ng = PcapngEncoder {
        big_endian: options.big_endian,
    };
    let mut buf = Vec::with_capacity(1 << 20);
    if options.pcapng {
        ng.section_header(&mut buf);
        ng.interface(&mut buf, 1, header_snaplen, options.nanos.then_some(9));
    } else {
        pcap.file_header(&mut buf);
    }
    let mut ts = Timestamp {
        secs: 1_700_000_000,
        nanos: 0,
    };
    let mut packet = Vec::with_capacity(2048);
    let mut written = 0u64;
    for _ in 0..options.packets {
        packet.clear();
        realistic_frame(&mut rng, &mut packet);
        let step = rng.below(2_000_000) as u32;
        let mut nanos = ts.nanos + step;
        if !options.nanos {
            nanos -= nanos % 1000;
        }
        ts.secs += i64::from(nanos / 1_000_000_000);
        ts.nanos = nanos % 1_000_000_000;
        let wire_len = packet.len() as u32;
        let cut = if options.snaplen == 0 {
            packet.len()
        } else {
            packet.len().min(options.snaplen as usize)
        };
        if options.pcapng {
            let per_sec: u64 = if options.nanos {
                1_000_000_000
            } else {
                1_000_000
            };
            let frac = if options.nanos {
                ts.nanos
            } else {
                ts.nanos / 1000
            };
            let units = ts.secs as u64 * per_sec + u64::from(frac);
            ng.packet(&mut buf, 0, units, &packet[..cut], wire_len);
        } else {
            pcap.record(&mut buf, ts, &packet[..cut], wire_len);
        }
        if buf.len() >= 1 << 20 {
            out.write_all(&buf)?;
            written += buf.len() as u64;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    Ok(written + buf.len() as u64)
}

/// A capture as bytes (see [`write_capture`]).
pub fn capture(options: &SynthOptions) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_capture(&mut out, options);
    out
}

/// `count` realistic frames, for benchmarks without a capture at hand.
pub fn packet_mix(seed: u64, count: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let mut p = Vec::new();
            realistic_frame(&mut rng, &mut p);
            p
        })
        .collect()
}

/// Appends one realistic Ethernet frame to `p`.
pub fn realistic_frame(rng: &mut Rng, p: &mut Vec<u8>) {
    let roll = rng.below(100);
    if roll >= 92 {
        p.extend(frame(rng));
        return;
    }
    mac_pair(rng, p);
    match roll {
        0..=34 => ipv4_tcp(rng, p, 443, false),
        35..=44 => ipv6_l4(rng, p, 6, 443),
        45..=52 => ipv4_tcp(rng, p, 80, false),
        53..=56 => ipv4_tcp(rng, p, 22, false),
        57..=66 => {
            let n = 20 + rng.below(200) as usize;
            ipv4_udp(rng, p, 53, n)
        }
        67..=74 => {
            let n = 40 + payload_len(rng, 1300);
            ipv4_udp(rng, p, 443, n)
        }
        75..=77 => ipv4_udp(rng, p, 123, 48),
        78..=80 => ipv4(rng, p, 1, 0, &mut |rng, p| {
            p.extend_from_slice(&[*rng.pick(&[0u8, 8, 3, 11]), 0]);
            fill(rng, p, 6 + 56);
        }),
        81..=82 => ipv6_l4(rng, p, 58, 0),
        83..=84 => {
            p.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1 + rng.below(2) as u8]);
            fill(rng, p, 20);
            p.resize(60, 0);
        }
        85..=88 => {
            p.extend_from_slice(&[0x81, 0x00]);
            p.extend_from_slice(&(1 + rng.below(100) as u16).to_be_bytes());
            let port = *rng.pick(&[443u16, 80, 8080]);
            ipv4_tcp(rng, p, port, false)
        }
        _ => ipv4_tcp(rng, p, 443, true),
    }
}

fn mac_pair(rng: &mut Rng, p: &mut Vec<u8>) {
    let host = rng.below(8) as u8;
    let a = [0x02, 0x42, 0xac, 0x11, 0x00, host];
    let b = [0x00, 0x1b, 0x21, 0x3a, 0x4f, 0x01];
    if rng.chance(1, 2) {
        p.extend_from_slice(&a);
        p.extend_from_slice(&b);
    } else {
        p.extend_from_slice(&b);
        p.extend_from_slice(&a);
    }
}

fn fill(rng: &mut Rng, p: &mut Vec<u8>, n: usize) {
    let start = p.len();
    p.reserve(n + 8);
    while p.len() < start + n {
        p.extend_from_slice(&rng.next_u64().to_ne_bytes());
    }
    p.truncate(start + n);
}

fn payload_len(rng: &mut Rng, max: usize) -> usize {
    // Close to IMIX: mostly bare ACKs, a third mid-sized, a tenth full.
    match rng.below(100) {
        0..=57 => 0,
        58..=90 => rng.below(1000) as usize,
        _ => max,
    }
}

/// A client port and the server `port`, in a random direction.
fn ports(rng: &mut Rng, port: u16) -> [u16; 2] {
    let client = 32768 + rng.below(28000) as u16;
    if rng.chance(1, 2) {
        [client, port]
    } else {
        [port, client]
    }
}

fn tcp(rng: &mut Rng, p: &mut Vec<u8>, port: u16, max_payload: usize) {
    for v in ports(rng, port) {
        p.extend_from_slice(&v.to_be_bytes());
    }
    fill(rng, p, 8);
    let options = rng.chance(1, 3);
    p.push(if options { 0x80 } else { 0x50 });
    p.push(*rng.pick(&[0x10u8, 0x18, 0x02, 0x12, 0x11, 0x04]));
    fill(rng, p, 6);
    if options {
        p.extend_from_slice(&[1, 1, 8, 10]);
        fill(rng, p, 8);
    }
    let n = payload_len(rng, max_payload);
    fill(rng, p, n);
}

/// IPv4 header (no options) with protocol `proto`; `l4` appends the rest.
fn ipv4(
    rng: &mut Rng,
    p: &mut Vec<u8>,
    proto: u8,
    frag: u16,
    l4: &mut dyn FnMut(&mut Rng, &mut Vec<u8>),
) {
    p.extend_from_slice(&[0x08, 0x00]);
    let start = p.len();
    p.extend_from_slice(&[0x45, 0, 0, 0]);
    fill(rng, p, 2);
    p.extend_from_slice(&frag.to_be_bytes());
    p.extend_from_slice(&[64, proto, 0, 0]);
    let client = [192, 168, 1, 2 + rng.below(30) as u8];
    let server = *rng.pick(&SERVERS_V4);
    let (src, dst) = if rng.chance(1, 2) {
        (client, server)
    } else {
        (server, client)
    };
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    l4(rng, p);
    let total = (p.len() - start) as u16;
    p[start + 2..start + 4].copy_from_slice(&total.to_be_bytes());
    if p.len() < 60 {
        p.resize(60, 0); // Ethernet minimum frame
    }
}

fn ipv4_tcp(rng: &mut Rng, p: &mut Vec<u8>, port: u16, fragment: bool) {
    let frag = if fragment {
        *rng.pick(&[0x2000u16, 0x00b9, 0x20b9])
    } else {
        0x4000
    };
    if fragment && frag & 0x1fff != 0 {
        // A later fragment: no TCP header, just data.
        let n = 8 * (1 + rng.below(180) as usize);
        return ipv4(rng, p, 6, frag, &mut |rng, p| fill(rng, p, n));
    }
    ipv4(rng, p, 6, frag, &mut |rng, p| tcp(rng, p, port, 1448));
}

fn ipv4_udp(rng: &mut Rng, p: &mut Vec<u8>, port: u16, len: usize) {
    ipv4(rng, p, 17, 0, &mut |rng, p| {
        for v in ports(rng, port) {
            p.extend_from_slice(&v.to_be_bytes());
        }
        p.extend_from_slice(&(8 + len as u16).to_be_bytes());
        fill(rng, p, 2);
        fill(rng, p, len);
    });
}

fn ipv6_l4(rng: &mut Rng, p: &mut Vec<u8>, proto: u8, port: u16) {
    p.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
    let len_at = p.len();
    p.extend_from_slice(&[0, 0, proto, 64]);
    let client = [
        0x20,
        0x01,
        0x0d,
        0xb8,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        2 + rng.below(30) as u8,
    ];
    let server = [
        0x26, 0x06, 0x28, 0x00, 0x02, 0x20, 0, 1, 0x2, 0x48, 0x18, 0x93, 0x25, 0xc8, 0x19, 0x46,
    ];
    let (src, dst) = if rng.chance(1, 2) {
        (client, server)
    } else {
        (server, client)
    };
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let start = p.len();
    if proto == 6 {
        tcp(rng, p, port, 1428);
    } else {
        p.extend_from_slice(&[*rng.pick(&[128u8, 129, 135, 136]), 0]);
        fill(rng, p, 6 + 24);
    }
    let len = (p.len() - start) as u16;
    p[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
}
