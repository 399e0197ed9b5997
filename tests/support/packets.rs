//! Packets built to tell two filter programs apart: base packets of the
//! link type (Ethernet with VLAN/MPLS, cooked, loopback, raw IP…) carrying
//! IPv4 (with options and fragments), IPv6 (with fragment headers), ARP or
//! random payloads, then mutants with the programs' own constants (and
//! values one off) written where the programs load, then truncations at
//! every load boundary. Shared by the libpcap equivalence tests.

use std::collections::BTreeSet;

use cranebpf::cbpf::insn::op;
use cranebpf::cbpf::Program;
use cranebpf::expr::LinkType;
use cranebpf_harness::Rng;

const MUTANTS_PER_BASE: usize = 12;

fn put(buf: &mut [u8], off: usize, size: usize, v: u32) {
    let bytes = v.to_be_bytes();
    for i in 0..size {
        if let Some(b) = buf.get_mut(off + i) {
            *b = bytes[4 - size + i];
        }
    }
}

fn rand_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u32() as u8).collect()
}

const TRANSPORTS: [u8; 9] = [6, 17, 1, 132, 2, 112, 58, 47, 0];

fn transport(rng: &mut Rng) -> Vec<u8> {
    let mut t = rand_bytes(rng, 40);
    // Ports: often small / well known so port tests can hit.
    let ports = [80u16, 443, 53, 22, 1, 5, 100, 200, 1024, 65535, 0, 123];
    put(&mut t, 0, 2, *rng.pick(&ports) as u32);
    put(&mut t, 2, 2, *rng.pick(&ports) as u32);
    t
}

/// UDP to Geneve's port 6081: a Geneve header (mostly version 0, some
/// options, a few VNIs) and an encapsulated Ethernet frame or IP packet.
fn geneve(rng: &mut Rng) -> Vec<u8> {
    let mut udp = rand_bytes(rng, 8);
    put(&mut udp, 2, 2, 6081);
    let opt_words = rng.below(3) as usize;
    let mut g = rand_bytes(rng, 8 + 4 * opt_words);
    g[0] = *rng.pick(&[0u8, 0, 0, 0x40]) | opt_words as u8;
    let (ethertype, inner) = network(rng);
    let proto = *rng.pick(&[0x6558u32, 0x6558, ethertype as u32]);
    put(&mut g, 2, 2, proto);
    put(&mut g, 4, 4, *rng.pick(&[10u32, 11, 12345, 0]) << 8);
    udp.extend(g);
    if proto == 0x6558 {
        udp.extend(ethernet_header(rng, ethertype));
    }
    udp.extend(inner);
    udp
}

fn ipv4(rng: &mut Rng) -> Vec<u8> {
    let ihl = if rng.chance(1, 3) {
        5 + rng.below(11) as usize
    } else {
        5
    };
    let mut p = rand_bytes(rng, ihl * 4);
    p[0] = 0x40 | ihl as u8;
    let proto = *rng.pick(&TRANSPORTS);
    p[9] = if rng.chance(1, 10) {
        rng.next_u32() as u8
    } else {
        proto
    };
    let frag: u32 = match rng.below(4) {
        0 => 0x2000,                                  // MF, first fragment
        1 => 0x2000 | (1 + rng.below(0x1ffe) as u32), // middle
        2 => 0x4000,                                  // DF
        _ => 0,
    };
    put(&mut p, 6, 2, frag);
    let addrs = [
        0x0102_0304u32,
        0x0a00_0001,
        0x0a01_0203,
        0xc0a8_0101,
        0xffff_ffff,
        0,
        0xe000_0001,
    ];
    put(&mut p, 12, 4, *rng.pick(&addrs));
    put(&mut p, 16, 4, *rng.pick(&addrs));
    if p[9] == 17 && rng.chance(1, 4) {
        p.extend(geneve(rng));
    } else {
        p.extend(transport(rng));
    }
    p
}

fn ipv6(rng: &mut Rng) -> Vec<u8> {
    let mut p = rand_bytes(rng, 40);
    p[0] = 0x60 | (p[0] & 0x0f);
    let nh = *rng.pick(&[6u8, 17, 58, 132, 44, 44, 0, 43, 99]);
    p[6] = nh;
    if rng.chance(1, 3) {
        p[8..24].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    }
    if rng.chance(1, 4) {
        p[24] = 0xff;
    }
    if nh == 44 {
        let mut frag = rand_bytes(rng, 8);
        frag[0] = *rng.pick(&[6u8, 17, 58, 132]);
        p.extend(frag);
    }
    if nh == 17 && rng.chance(1, 4) {
        p.extend(geneve(rng));
    } else {
        p.extend(transport(rng));
    }
    p
}

fn arp(rng: &mut Rng) -> Vec<u8> {
    let mut p = rand_bytes(rng, 28);
    put(&mut p, 0, 2, 1);
    put(&mut p, 2, 2, 0x0800);
    p[4] = 6;
    p[5] = 4;
    put(
        &mut p,
        14,
        4,
        *rng.pick(&[0x0102_0304u32, 0x0a00_0001, 0x0a01_0203]),
    );
    put(
        &mut p,
        24,
        4,
        *rng.pick(&[0x0102_0304u32, 0x0a00_0001, 0x0a01_0203]),
    );
    p
}

/// A network-layer packet and its ethertype.
fn network(rng: &mut Rng) -> (u16, Vec<u8>) {
    match rng.below(10) {
        0..=3 => (0x0800, ipv4(rng)),
        4..=6 => (0x86dd, ipv6(rng)),
        7 => (0x0806, arp(rng)),
        8 => (0x8035, arp(rng)),
        _ => (rng.next_u32() as u16, rand_bytes(rng, 60)),
    }
}

/// `len` random bytes with `ethertype` at `at`.
fn typed(rng: &mut Rng, len: usize, at: usize, ethertype: u16) -> Vec<u8> {
    let mut h = rand_bytes(rng, len);
    put(&mut h, at, 2, ethertype as u32);
    h
}

/// An Ethernet header (MACs, VLAN tags, MPLS labels or the ethertype).
fn ethernet_header(rng: &mut Rng, ethertype: u16) -> Vec<u8> {
    let mut pkt = Vec::new();
    let macs: [[u8; 6]; 4] = [
        [1, 2, 3, 4, 5, 6],
        [0xff; 6],
        [0x01, 0, 0x5e, 0, 0, 1],
        [0x02, 0x42, 0xac, 0x11, 0, 2],
    ];
    pkt.extend(rng.pick(&macs));
    pkt.extend(rng.pick(&macs));
    for _ in 0..rng.below(3) {
        if rng.chance(1, 2) {
            let tpid = *rng.pick(&[0x8100u32, 0x88a8, 0x9100]);
            let mut tag = vec![0u8; 4];
            put(&mut tag, 0, 2, tpid);
            put(
                &mut tag,
                2,
                2,
                *rng.pick(&[100u32, 10, 20, 4095, 0]) | 0x2000,
            );
            pkt.extend(tag);
        }
    }
    if rng.chance(1, 5) {
        let depth = 1 + rng.below(2);
        let mut labels = vec![0u8; 2];
        put(&mut labels, 0, 2, 0x8847);
        pkt.extend(labels);
        for d in 0..depth {
            let label = *rng.pick(&[5u32, 3, 0, 1000]);
            let bos = (d + 1 == depth) as u32;
            let mut l = vec![0u8; 4];
            put(&mut l, 0, 4, (label << 12) | (bos << 8) | 64);
            pkt.extend(l);
        }
    } else {
        let mut t = vec![0u8; 2];
        put(&mut t, 0, 2, ethertype as u32);
        pkt.extend(t);
    }
    pkt
}

fn base_packet(rng: &mut Rng, link: LinkType) -> Vec<u8> {
    let (ethertype, payload) = network(rng);
    let mut pkt = Vec::new();
    match link {
        LinkType::Ethernet => pkt.extend(ethernet_header(rng, ethertype)),
        LinkType::Netanalyzer | LinkType::NetanalyzerTransparent => {
            let pseudo = if link == LinkType::Netanalyzer { 4 } else { 12 };
            pkt.extend(rand_bytes(rng, pseudo));
            pkt.extend(ethernet_header(rng, ethertype));
        }
        LinkType::AtmRfc1483 | LinkType::AtmClip => pkt.extend(snap(rng, ethertype)),
        LinkType::SunAtm => {
            // Traffic type, VPI, VCI; then LANE (an LE header, data or
            // control, and Ethernet) or LLC.
            let traffic = *rng.pick(&[1u8, 2, 2, 0, 0x12]);
            pkt.push(traffic);
            pkt.push(*rng.pick(&[0u8, 1, 10]));
            let vci = *rng.pick(&[1u32, 2, 3, 4, 5, 16, 20, 0x1c0]);
            pkt.extend((vci as u16).to_be_bytes());
            if traffic == 1 {
                pkt.extend(*rng.pick(&[[0u8, 0], [0xff, 0]]));
                pkt.extend(ethernet_header(rng, ethertype));
            } else if rng.chance(1, 5) {
                // A Q.2931 signalling message (its type at 5).
                let mut m = rand_bytes(rng, 9);
                m[5] = *rng.pick(&[0x05u8, 0x02, 0x07, 0x0f, 0x4d, 0x5a, 0x11]);
                pkt.extend(m);
            } else {
                pkt.extend(snap(rng, ethertype));
            }
        }
        // Headers of a fixed length with an ethertype at a fixed place.
        LinkType::SymantecFirewall => pkt.extend(typed(rng, 44, 6, ethertype)),
        LinkType::AppleIpOverIeee1394 => pkt.extend(typed(rng, 18, 16, ethertype)),
        LinkType::LinuxSll => pkt.extend(typed(rng, 16, 14, ethertype)),
        LinkType::LinuxSll2 => pkt.extend(typed(rng, 20, 0, ethertype)),
        LinkType::Null | LinkType::Loop => {
            let af: u32 = match ethertype {
                0x0800 => 2,
                0x86dd => *rng.pick(&[10u32, 24, 28, 30]),
                _ => rng.below(40) as u32,
            };
            let v = if link == LinkType::Null {
                af.swap_bytes()
            } else {
                af
            };
            let mut h = vec![0u8; 4];
            put(&mut h, 0, 4, v);
            pkt.extend(h);
        }
        LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6 => {}
        l if is_802_11(l) => {
            pkt.extend(radio_header(rng, l));
            pkt.extend(wlan_frame(rng, ethertype));
        }
        LinkType::Fddi | LinkType::TokenRing | LinkType::IpOverFc => {
            let mac_header = match link {
                LinkType::Fddi => 13,
                LinkType::TokenRing => 14,
                _ => 16,
            };
            let mut h = rand_bytes(rng, mac_header);
            if rng.chance(1, 3) {
                // Broadcast or group destination.
                let dst = if link == LinkType::Fddi { 1 } else { 2 };
                h[dst] |= 1;
            }
            pkt.extend(h);
            pkt.extend(snap(rng, ethertype));
        }
        LinkType::Ppp | LinkType::PppSerial | LinkType::PppPppd | LinkType::CHdlc => {
            let mut h = vec![0xff, 0x03, 0, 0];
            if link == LinkType::PppPppd {
                h[0] = rng.below(2) as u8;
            }
            let proto = if link == LinkType::CHdlc {
                if rng.chance(1, 6) {
                    0xfefe
                } else {
                    ethertype as u32
                }
            } else {
                ppp_protocol(rng, ethertype)
            };
            put(&mut h, 2, 2, proto);
            pkt.extend(h);
        }
        LinkType::PppEther => {
            let mut h = rand_bytes(rng, 8);
            put(&mut h, 6, 2, ppp_protocol(rng, ethertype));
            pkt.extend(h);
        }
        LinkType::PppBsdos => {
            let mut h = rand_bytes(rng, 24);
            let plain = ppp_protocol(rng, ethertype);
            let proto = *rng.pick(&[plain, 0x2d, 0x2f]);
            put(&mut h, 5, 2, proto);
            pkt.extend(h);
        }
        LinkType::Pflog => {
            // pfloghdr: its length first (the payload starts at that
            // length rounded up to 4), the address family, action,
            // reason, names, rule numbers, direction.
            let len = *rng.pick(&[61usize, 64, 68, 45]);
            let mut h = rand_bytes(rng, len.div_ceil(4) * 4);
            h[0] = len as u8;
            h[1] = match ethertype {
                0x0800 => 2,
                0x86dd => 10,
                _ => rng.below(32) as u8,
            };
            h[2] = rng.below(12) as u8;
            h[3] = rng.below(16) as u8;
            if h.len() > 60 {
                h[60] = rng.below(3) as u8;
            }
            pkt.extend(h);
        }
        LinkType::Slip | LinkType::SlipBsdos => {
            let len = if link == LinkType::Slip { 16 } else { 24 };
            let mut h = rand_bytes(rng, len);
            h[0] = *rng.pick(&[0u8, 1, 0x45, 0x60]);
            pkt.extend(h);
        }
        // Other link types: a random header of a typical length; the
        // mutants then write the programs' constants where they load.
        #[allow(unreachable_patterns)]
        _ => {
            let len = *rng.pick(&[0usize, 2, 4, 8, 12, 14, 16, 20, 24, 28, 32, 40, 48, 64]);
            pkt.extend(rand_bytes(rng, len));
        }
    }
    pkt.extend(payload);
    pkt
}

fn is_802_11(l: LinkType) -> bool {
    matches!(
        l,
        LinkType::Ieee80211
            | LinkType::Ieee80211Radio
            | LinkType::Ieee80211RadioAvs
            | LinkType::PrismHeader
            | LinkType::Ppi
    )
}

/// The radio header before an 802.11 frame, of random length where the
/// format allows (and now and then something else under the link type).
fn radio_header(rng: &mut Rng, link: LinkType) -> Vec<u8> {
    match link {
        LinkType::Ieee80211Radio => {
            // Radiotap: version, pad, little-endian length, present
            // words (flags, TSFT, extension bits), then the fields.
            let present = *rng.pick(&[0u32, 2, 3, 0x8000_0002, 0x0000_000f, 1]);
            let len = *rng.pick(&[8usize, 12, 16, 18, 24, 32]);
            let mut h = rand_bytes(rng, len);
            h[0] = 0;
            h[1] = 0;
            h[2..4].copy_from_slice(&(len as u16).to_le_bytes());
            h[4..8].copy_from_slice(&present.to_le_bytes());
            if len > 8 {
                h[8] = *rng.pick(&[0u8, 0x20, 0x10]);
            }
            if len > 16 {
                h[16] = *rng.pick(&[0u8, 0x20]);
            }
            h
        }
        LinkType::Ppi => {
            let len = *rng.pick(&[8usize, 12, 20, 32]);
            let mut h = rand_bytes(rng, len);
            h[0] = 0;
            h[1] = 0;
            h[2..4].copy_from_slice(&(len as u16).to_le_bytes());
            let dlt: u32 = if rng.chance(1, 6) { 1 } else { 105 };
            h[4..8].copy_from_slice(&dlt.to_le_bytes());
            h
        }
        LinkType::Ieee80211RadioAvs | LinkType::PrismHeader => {
            if link == LinkType::PrismHeader && rng.chance(1, 2) {
                let mut h = rand_bytes(rng, 144);
                h[0] = 0x00;
                return h;
            }
            let len = *rng.pick(&[64usize, 68, 80]);
            let mut h = rand_bytes(rng, len);
            put(&mut h, 0, 4, 0x8021_1001);
            put(&mut h, 4, 4, len as u32);
            h
        }
        _ => Vec::new(),
    }
}

/// An 802.11 frame header: data (QoS or not, any To/From DS bits),
/// management or control, then LLC/SNAP for data frames.
fn wlan_frame(rng: &mut Rng, ethertype: u16) -> Vec<u8> {
    let fc0 = *rng.pick(&[0x08u8, 0x88, 0x08, 0x88, 0x80, 0x40, 0xd4, 0xc4, 0xb4, 0x48]);
    let fc1 = rng.below(4) as u8 | *rng.pick(&[0u8, 0x40]);
    let macs: [[u8; 6]; 3] = [
        [0xff; 6],
        [0x00, 0x11, 0x22, 0x33, 0x44, 0x55],
        [0x01, 0, 0x5e, 0, 0, 1],
    ];
    let mut h = vec![fc0, fc1, 0, 0];
    for _ in 0..3 {
        h.extend(rng.pick(&macs));
    }
    h.extend([0, 0]);
    if fc1 & 3 == 3 {
        h.extend(rng.pick(&macs));
    }
    if fc0 & 0x80 != 0 && fc0 & 0x0c == 0x08 {
        h.extend([0, 0]);
    }
    if rng.chance(1, 3) {
        // Atheros-style padding to a multiple of 4.
        while h.len() % 4 != 0 {
            h.push(0);
        }
    }
    h.extend(snap(rng, ethertype));
    h
}

/// An 802.2 LLC/SNAP header carrying `ethertype`, or now and then a
/// plain LLC header of an OSI, IP or spanning-tree SAP.
fn snap(rng: &mut Rng, ethertype: u16) -> Vec<u8> {
    let mut h = vec![0xaa, 0xaa, 0x03, 0, 0, 0, 0, 0];
    if rng.chance(1, 6) {
        let sap = *rng.pick(&[0xfeu8, 0x06, 0x42, 0xe0, 0xf0]);
        h[0] = sap;
        h[1] = sap;
        h[3] = *rng.pick(&[0x81u8, 0x82, 0x83]);
    } else {
        put(&mut h, 6, 2, ethertype as u32);
    }
    h
}

/// The PPP protocol for a network layer (IP, IPv6, OSI, MPLS…).
fn ppp_protocol(rng: &mut Rng, ethertype: u16) -> u32 {
    match ethertype {
        0x0800 => 0x0021,
        0x86dd => 0x0057,
        _ => *rng.pick(&[0x0023u32, 0x0281, 0x8864, 0x0029, ethertype as u32]),
    }
}

/// Loads a program makes: (is_indirect, offset, size, msh offset for X).
fn loads(prog: &Program) -> Vec<(bool, u32, usize, Option<u32>)> {
    let mut out = Vec::new();
    let mut msh = None;
    for i in &prog.insns {
        let size = match i.size() {
            op::W => 4,
            op::H => 2,
            _ => 1,
        };
        if i.code == op::LDX | op::B | op::MSH {
            msh = Some(i.k);
        }
        if i.class() == op::LD && i.mode() == op::ABS {
            out.push((false, i.k, size, None));
        }
        if i.class() == op::LD && i.mode() == op::IND {
            out.push((true, i.k, size, msh));
        }
        if i.class() == op::LDX && i.mode() == op::MSH {
            out.push((false, i.k, 1, None));
        }
    }
    out
}

fn constants(prog: &Program) -> Vec<u32> {
    let mut set = BTreeSet::new();
    for i in &prog.insns {
        if i.class() == op::JMP && i.op() != op::JA {
            for v in [
                i.k,
                i.k.wrapping_add(1),
                i.k.wrapping_sub(1),
                0,
                i.k & 0x0f0,
            ] {
                set.insert(v);
            }
        }
    }
    set.into_iter().collect()
}

/// The packet set for one expression ({bases} base packets): base packets, then mutants with the
/// programs' constants written where the programs load, then truncations.
pub fn packets(rng: &mut Rng, link: LinkType, progs: &[&Program], bases: usize) -> Vec<Vec<u8>> {
    let mut ls = Vec::new();
    let mut ks = Vec::new();
    for p in progs {
        ls.extend(loads(p));
        ks.extend(constants(p));
    }
    let mut out = Vec::new();
    for _ in 0..bases {
        let base = base_packet(rng, link);
        for m in 0..MUTANTS_PER_BASE {
            let mut pkt = base.clone();
            if m > 0 && !ls.is_empty() {
                for _ in 0..1 + rng.below(4) {
                    let &(ind, k, size, msh) = rng.pick(&ls);
                    let off = if ind {
                        let x = msh
                            .and_then(|o| pkt.get(o as usize))
                            .map_or(0, |b| 4 * (b & 0xf) as u32);
                        x.wrapping_add(k)
                    } else {
                        k
                    };
                    let v = if ks.is_empty() || rng.chance(1, 8) {
                        rng.next_u32()
                    } else {
                        *rng.pick(&ks)
                    };
                    put(&mut pkt, off as usize, size, v);
                }
            }
            out.push(pkt);
        }
        // Truncations: at every load boundary and some random lengths.
        let mut cuts: BTreeSet<usize> = ls
            .iter()
            .filter(|l| !l.0)
            .flat_map(|l| [l.1 as usize, l.1 as usize + l.2 - 1])
            .collect();
        cuts.insert(rng.below(base.len() as u64 + 1) as usize);
        for cut in cuts {
            if cut < base.len() {
                out.push(base[..cut].to_vec());
            }
        }
    }
    out
}
