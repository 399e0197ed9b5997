//! Seeded packet generator: realistic frames (Ethernet, VLAN, IPv4 with
//! options and fragments, IPv6, ARP, TCP, UDP, ICMP), truncated frames,
//! random bytes, and sizes from 0 to 65535.

use crate::Rng;

/// Ethertypes, IP protocols and ports the realistic frames draw from.
const ETHERTYPES: [u16; 6] = [0x0800, 0x86dd, 0x0806, 0x8100, 0x8035, 0x88cc];
const PORTS: [u16; 10] = [0, 22, 53, 80, 123, 443, 1023, 1024, 8080, 65535];

/// A packet of one of the kinds above, chosen at random.
pub fn packet(rng: &mut Rng) -> Vec<u8> {
    match rng.below(20) {
        0 => Vec::new(),
        1 => {
            let n = rng.below(64) as usize;
            random_bytes(rng, n)
        }
        2 => {
            let n = 1 + rng.below(2000) as usize;
            random_bytes(rng, n)
        }
        3 => {
            let n = rng.below(65536) as usize;
            random_bytes(rng, n)
        }
        4..=6 => {
            let mut p = frame(rng);
            let cut = rng.below(p.len() as u64 + 1) as usize;
            p.truncate(cut);
            p
        }
        _ => frame(rng),
    }
}

/// `n` random bytes.
pub fn random_bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u32() as u8).collect()
}

/// A well-formed Ethernet frame, possibly VLAN-tagged.
pub fn frame(rng: &mut Rng) -> Vec<u8> {
    let mut p = Vec::with_capacity(128);
    let mac = |rng: &mut Rng, p: &mut Vec<u8>| {
        if rng.chance(1, 8) {
            p.extend_from_slice(&[0xff; 6]); // broadcast
        } else {
            p.extend(random_bytes(rng, 6));
        }
    };
    mac(rng, &mut p);
    mac(rng, &mut p);
    let mut ethertype = *rng.pick(&ETHERTYPES);
    while ethertype == 0x8100 {
        p.extend_from_slice(&0x8100u16.to_be_bytes());
        p.extend_from_slice(&(rng.below(4096) as u16).to_be_bytes());
        ethertype = *rng.pick(&ETHERTYPES);
    }
    p.extend_from_slice(&ethertype.to_be_bytes());
    match ethertype {
        0x0800 => ipv4(rng, &mut p),
        0x86dd => ipv6(rng, &mut p),
        0x0806 | 0x8035 => arp(rng, &mut p),
        _ => {
            let n = rng.below(100) as usize;
            p.extend(random_bytes(rng, n))
        }
    }
    p
}

fn transport(rng: &mut Rng, proto: u8, p: &mut Vec<u8>) {
    let port = |rng: &mut Rng| {
        if rng.chance(3, 4) {
            *rng.pick(&PORTS)
        } else {
            rng.next_u32() as u16
        }
    };
    match proto {
        6 => {
            p.extend_from_slice(&port(rng).to_be_bytes());
            p.extend_from_slice(&port(rng).to_be_bytes());
            p.extend(random_bytes(rng, 8)); // seq, ack
            let words = 5 + rng.below(11) as u8;
            p.push(words << 4);
            p.push(rng.next_u32() as u8); // flags
            p.extend(random_bytes(rng, 6));
            p.extend(random_bytes(rng, (words as usize - 5) * 4));
        }
        17 => {
            p.extend_from_slice(&port(rng).to_be_bytes());
            p.extend_from_slice(&port(rng).to_be_bytes());
            p.extend(random_bytes(rng, 4));
        }
        1 | 58 => {
            p.push(*rng.pick(&[0u8, 3, 8, 11, 128, 129, 135]));
            p.push(rng.below(4) as u8);
            p.extend(random_bytes(rng, 6));
        }
        _ => {}
    }
    let n = rng.below(200) as usize;
    p.extend(random_bytes(rng, n));
}

fn ipv4(rng: &mut Rng, p: &mut Vec<u8>) {
    let ihl = if rng.chance(1, 4) {
        5 + rng.below(11) as u8
    } else {
        5
    };
    let proto = *rng.pick(&[6u8, 17, 1, 2, 47, 132, 112]);
    p.push(0x40 | ihl);
    p.push(0);
    p.extend(random_bytes(rng, 4)); // total length, id
    let frag: u16 = match rng.below(6) {
        0 => 0x2000,                       // more fragments
        1 => rng.below(0x2000) as u16 | 1, // non-zero offset
        2 => 0x4000,                       // don't fragment
        _ => 0,
    };
    p.extend_from_slice(&frag.to_be_bytes());
    p.push(64);
    p.push(proto);
    p.extend(random_bytes(rng, 2));
    for _ in 0..2 {
        if rng.chance(1, 4) {
            p.extend_from_slice(&[10, 0, 0, rng.below(4) as u8]);
        } else {
            p.extend(random_bytes(rng, 4));
        }
    }
    p.extend(random_bytes(rng, (ihl as usize - 5) * 4));
    transport(rng, proto, p);
}

fn ipv6(rng: &mut Rng, p: &mut Vec<u8>) {
    let proto = *rng.pick(&[6u8, 17, 58, 44, 0, 60]);
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend(random_bytes(rng, 2));
    p.push(proto);
    p.push(64);
    p.extend(random_bytes(rng, 32));
    transport(rng, proto, p);
}

fn arp(rng: &mut Rng, p: &mut Vec<u8>) {
    p.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0]);
    p.push(1 + rng.below(4) as u8);
    p.extend(random_bytes(rng, 20));
}
