//! What every engine and peer is measured on: one seeded packet mix and the
//! filters of issue 13, each with its classic program, its pcap-filter
//! expression (when it has one) and a hand-written Rust function that
//! decides the same (the practical floor for speed).

use cranebpf::cbpf::{self, asm::parse_asm, parse::parse_ddd};
use cranebpf::expr::{compile_expr, LinkType};
use cranebpf_harness::synth::packet_mix;
use cranebpf_harness::Rng;

/// The verdict tcpdump's programs return for an accepted packet.
pub const ACCEPT: u32 = 262_144;

/// Seed of the packet mix (any change is a new workload: say so in the
/// README).
pub const MIX_SEED: u64 = 13;
/// Packets in the mix: enough for every packet class, few enough to stay
/// in cache so that engines are compared, not memory.
pub const MIX_PACKETS: usize = 4096;

/// The packets, held in one buffer like a mapped capture.
pub struct Mix {
    buffer: Vec<u8>,
    ranges: Vec<(usize, usize)>,
}

impl Mix {
    /// The seeded mix: `capture::synth`'s realistic frames, with DNS
    /// queries (UDP to port 53) rewritten to carry real query names so
    /// that the name matcher has matches and near misses.
    pub fn new() -> Mix {
        let mut rng = Rng::new(MIX_SEED ^ 0xd115);
        let mut buffer = Vec::new();
        let mut ranges = Vec::new();
        for mut p in packet_mix(MIX_SEED, MIX_PACKETS) {
            rewrite_dns_query(&mut p, &mut rng);
            ranges.push((buffer.len(), p.len()));
            buffer.extend_from_slice(&p);
        }
        Mix { buffer, ranges }
    }

    /// The packets, in order.
    pub fn packets(&self) -> Vec<&[u8]> {
        self.ranges
            .iter()
            .map(|&(at, len)| &self.buffer[at..at + len])
            .collect()
    }

    /// (offset, length) of each packet in [`Mix::buffer_mut`].
    pub fn ranges(&self) -> &[(usize, usize)] {
        &self.ranges
    }

    /// The buffer holding every packet (for peers that want `&mut`).
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        &mut self.buffer
    }
}

impl Default for Mix {
    fn default() -> Self {
        Mix::new()
    }
}

/// Query names put into DNS queries: the matcher's name and near misses.
const QUERY_NAMES: [&str; 5] = [
    "example.com",
    "www.example.org",
    "cranebpf.dev",
    "example.co",
    "examples.com",
];

/// Turns an IPv4/UDP packet to port 53 (no VLAN, no IP options, as
/// `synth` makes them) into a DNS query for one of [`QUERY_NAMES`].
fn rewrite_dns_query(p: &mut Vec<u8>, rng: &mut Rng) {
    let is_query = p.len() >= 42
        && p[12..14] == [0x08, 0x00]
        && p[14] == 0x45
        && p[23] == 17
        && p[36..38] == [0, 53];
    if !is_query {
        return;
    }
    p.truncate(42);
    p.extend_from_slice(&(rng.next_u32() as u16).to_be_bytes()); // id
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]); // rd, 1 question
    for label in rng.pick(&QUERY_NAMES).split('.') {
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.extend_from_slice(&[0, 0, 1, 0, 1]); // root, type A, class IN
    let ip_len = (p.len() - 14) as u16;
    p[16..18].copy_from_slice(&ip_len.to_be_bytes());
    let udp_len = (p.len() - 34) as u16;
    p[38..40].copy_from_slice(&udp_len.to_be_bytes());
    if p.len() < 60 {
        p.resize(60, 0);
    }
}

/// A filter under test.
pub struct Workload {
    /// Short name used in benchmark ids (no spaces or slashes).
    pub id: &'static str,
    /// What users would type, or a description.
    pub title: String,
    /// The pcap-filter expression, when the filter is one.
    pub expr: Option<String>,
    /// The classic program.
    pub program: cbpf::Program,
    /// The same decision written by hand in Rust; `None` for the
    /// compile-only workloads.
    pub native: Option<fn(&[u8]) -> u32>,
    /// How many packets [`Workload::native`] accepts, with the function
    /// inlined into the loop over them: the floor with no call per packet,
    /// what the batch path and the per-packet rows are told apart by.
    pub native_inlined: Option<CountInlined>,
}

/// Counts the packets of a list that a hand-written function accepts.
pub type CountInlined = fn(&[&[u8]]) -> u32;

/// The packets `decide` accepts, `decide` being a function item so that
/// each instance has it inlined (no call per packet; the hand-written
/// functions are `#[inline(always)]`, or the longer ones stay calls).
#[inline(always)]
fn count_inlined(packets: &[&[u8]], decide: impl Fn(&[u8]) -> u32) -> u32 {
    packets.iter().map(|p| u32::from(decide(p) != 0)).sum()
}

/// Hosts of the or'ed host list: 34 absent from the mix, then the mix's
/// six servers, so that most packets walk a long chain.
fn host_list() -> Vec<[u8; 4]> {
    let mut hosts: Vec<[u8; 4]> = (1..=34).map(|i| [10, 1, 0, i]).collect();
    hosts.extend([
        [93, 184, 216, 34],
        [142, 250, 74, 110],
        [151, 101, 1, 69],
        [104, 16, 132, 229],
        [8, 8, 8, 8],
        [1, 1, 1, 1],
    ]);
    hosts
}

/// A `bpf_asm` program matching DNS queries (IPv4, UDP to port 53) for
/// `example.com`, reading the question through `x` (the IP header length).
pub const DNS_QNAME_ASM: &str = "\
    ldh [12]
    jne #0x800, drop
    ldb [23]
    jne #17, drop
    ldh [20]
    jset #0x1fff, drop
    ldxb 4*([14]&0xf)
    ldh [x + 16]
    jne #53, drop
    ld [x + 34]          ; \\7exa
    jne #0x07657861, drop
    ld [x + 38]          ; mple
    jne #0x6d706c65, drop
    ld [x + 42]          ; \\3com
    jne #0x03636f6d, drop
    ldb [x + 46]         ; root label
    jne #0, drop
    ret #262144
drop: ret #0
";

/// The filters of issue 13, in table order.
pub fn workloads() -> Vec<Workload> {
    let expr = |id: &'static str, text: String, native: fn(&[u8]) -> u32, inlined: CountInlined| {
        Workload {
            id,
            title: format!("`{text}`"),
            program: compile_expr(&text, LinkType::Ethernet).expect("the expression compiles"),
            expr: Some(text),
            native: Some(native),
            native_inlined: Some(inlined),
        }
    };
    let hosts = host_list()
        .iter()
        .map(|h| format!("host {}.{}.{}.{}", h[0], h[1], h[2], h[3]))
        .collect::<Vec<_>>()
        .join(" or ");
    vec![
        expr("ip-udp", "ip and udp".into(), native_ip_udp, |ps| {
            count_inlined(ps, native_ip_udp)
        }),
        expr("tcp-443", "tcp port 443".into(), native_tcp_443, |ps| {
            count_inlined(ps, native_tcp_443)
        }),
        expr(
            "udp-53-123-not-10",
            "udp and (port 53 or port 123) and not net 10.0.0.0/8".into(),
            native_udp_53_123,
            |ps| count_inlined(ps, native_udp_53_123),
        ),
        Workload {
            id: "accept-all",
            title: "accept all (`ret #262144`)".into(),
            expr: None,
            program: parse_ddd("1\n6 0 0 262144\n").expect("ddd parses"),
            native: Some(|_| ACCEPT),
            native_inlined: Some(|ps| count_inlined(ps, |_| ACCEPT)),
        },
        Workload {
            title: "40 hosts or'ed (`host 10.1.0.1 or … or host 1.1.1.1`)".into(),
            ..expr("hosts-40", hosts, native_hosts, |ps| {
                count_inlined(ps, native_hosts)
            })
        },
        Workload {
            id: "dns-qname",
            title: "DNS query-name matcher (`bpf_asm`, indirect loads)".into(),
            expr: None,
            program: parse_asm(DNS_QNAME_ASM).expect("bpf_asm parses"),
            native: Some(native_dns_qname),
            native_inlined: Some(|ps| count_inlined(ps, native_dns_qname)),
        },
    ]
}

/// A 4,096-instruction program (the kernel's maximum) for compile
/// latency: 65 groups of `ld [26]`, 60 `jeq`s and a local accept.
pub fn big_workload() -> Workload {
    let mut text = String::new();
    let mut n = 0;
    for g in 0..65u32 {
        text.push_str("40 0 0 26\n");
        for i in 0..60u32 {
            // jt to this group's `ret`, skipping the rest and the `ja`.
            let k = 0x0a00_0000 | (g << 8) | i;
            text.push_str(&format!("21 {} 0 {k}\n", 60 - i));
        }
        text.push_str("5 0 0 1\n6 0 0 262144\n");
        n += 63;
    }
    text.push_str("6 0 0 0\n");
    n += 1;
    Workload {
        id: "insns-4096",
        title: "4,096 instructions (65 × `ld [26]` + 60 `jeq`)".into(),
        expr: None,
        program: parse_ddd(&format!("{n}\n{text}")).expect("ddd parses"),
        native: None,
        native_inlined: None,
    }
}

// ----- the hand-written floor ------------------------------------------
//
// Each mirrors its program's loads in order: a load past the end of the
// packet drops it, as in BPF.

fn u8_at(p: &[u8], at: usize) -> Option<u32> {
    p.get(at).map(|&b| u32::from(b))
}

fn u16_at(p: &[u8], at: usize) -> Option<u32> {
    let b = p.get(at..at + 2)?;
    Some(u32::from(u16::from_be_bytes([b[0], b[1]])))
}

fn u32_at(p: &[u8], at: usize) -> Option<u32> {
    let b = p.get(at..at + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn verdict(matched: Option<bool>) -> u32 {
    if matched == Some(true) {
        ACCEPT
    } else {
        0
    }
}

#[inline(always)]
fn native_ip_udp(p: &[u8]) -> u32 {
    verdict((|| Some(u16_at(p, 12)? == 0x800 && u8_at(p, 23)? == 17))())
}

#[inline(always)]
fn native_tcp_443(p: &[u8]) -> u32 {
    verdict((|| match u16_at(p, 12)? {
        0x86dd => Some(u8_at(p, 20)? == 6 && (u16_at(p, 54)? == 443 || u16_at(p, 56)? == 443)),
        0x800 => {
            if u8_at(p, 23)? != 6 || u16_at(p, 20)? & 0x1fff != 0 {
                return Some(false);
            }
            let x = 4 * (u8_at(p, 14)? as usize & 0xf);
            Some(u16_at(p, x + 14)? == 443 || u16_at(p, x + 16)? == 443)
        }
        _ => Some(false),
    })())
}

#[inline(always)]
fn native_udp_53_123(p: &[u8]) -> u32 {
    verdict(udp_53_123(p))
}

/// [`native_udp_53_123`]'s decision (a function, not a closure, so that
/// it is inlined too).
#[inline(always)]
fn udp_53_123(p: &[u8]) -> Option<bool> {
    let port = |v: u32| v == 53 || v == 123;
    match u16_at(p, 12)? {
        0x86dd => Some(u8_at(p, 20)? == 17 && (port(u16_at(p, 54)?) || port(u16_at(p, 56)?))),
        0x800 => {
            if u8_at(p, 23)? != 17 || u16_at(p, 20)? & 0x1fff != 0 {
                return Some(false);
            }
            let x = 4 * (u8_at(p, 14)? as usize & 0xf);
            if !(port(u16_at(p, x + 14)?) || port(u16_at(p, x + 16)?)) {
                return Some(false);
            }
            Some(u32_at(p, 26)? >> 24 != 10 && u32_at(p, 30)? >> 24 != 10)
        }
        _ => Some(false),
    }
}

/// The 40 hosts as big-endian words, for [`native_hosts`].
const HOSTS: [u32; 40] = {
    let mut h = [0u32; 40];
    let mut i = 0;
    while i < 34 {
        h[i] = 0x0a01_0000 | (i as u32 + 1);
        i += 1;
    }
    h[34] = u32::from_be_bytes([93, 184, 216, 34]);
    h[35] = u32::from_be_bytes([142, 250, 74, 110]);
    h[36] = u32::from_be_bytes([151, 101, 1, 69]);
    h[37] = u32::from_be_bytes([104, 16, 132, 229]);
    h[38] = u32::from_be_bytes([8, 8, 8, 8]);
    h[39] = u32::from_be_bytes([1, 1, 1, 1]);
    h
};

#[inline(always)]
fn native_hosts(p: &[u8]) -> u32 {
    verdict(hosts(p))
}

/// [`native_hosts`]'s decision (a function, so that it is inlined too).
#[inline(always)]
fn hosts(p: &[u8]) -> Option<bool> {
    let listed = |a: u32| HOSTS.contains(&a);
    // `host H` is `ip host H or arp host H or rarp host H`.
    match u16_at(p, 12)? {
        0x800 => Some(listed(u32_at(p, 26)?) || listed(u32_at(p, 30)?)),
        0x806 | 0x8035 => Some(listed(u32_at(p, 28)?) || listed(u32_at(p, 38)?)),
        _ => Some(false),
    }
}

#[inline(always)]
fn native_dns_qname(p: &[u8]) -> u32 {
    verdict((|| {
        if u16_at(p, 12)? != 0x800 || u8_at(p, 23)? != 17 || u16_at(p, 20)? & 0x1fff != 0 {
            return Some(false);
        }
        let x = 4 * (u8_at(p, 14)? as usize & 0xf);
        Some(
            u16_at(p, x + 16)? == 53
                && u32_at(p, x + 34)? == 0x0765_7861
                && u32_at(p, x + 38)? == 0x6d70_6c65
                && u32_at(p, x + 42)? == 0x0363_6f6d
                && u8_at(p, x + 46)? == 0,
        )
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_functions_agree_with_the_reference_interpreter() {
        let mix = Mix::new();
        let meta = cbpf::Metadata::default();
        for w in workloads() {
            let native = w.native.expect("hot-path workloads have a native twin");
            let mut matched = 0;
            for (i, p) in mix.packets().iter().enumerate() {
                let want = cbpf::interp::run(&w.program, p, &meta);
                assert_eq!(native(p), want, "{} packet {i}", w.id);
                matched += usize::from(want != 0);
            }
            // Every filter both keeps and drops some of the mix (but
            // accept-all, which keeps everything).
            assert!(matched > 0, "{} matches nothing", w.id);
            let inlined = w.native_inlined.expect("hot-path workloads have one");
            assert_eq!(
                inlined(&mix.packets()) as usize,
                matched,
                "{} inlined",
                w.id
            );
            assert!(
                matched < MIX_PACKETS || w.id == "accept-all",
                "{} matches everything",
                w.id
            );
        }
    }

    #[test]
    fn the_big_program_is_the_kernels_maximum_and_accepted() {
        let w = big_workload();
        assert_eq!(w.program.insns.len(), 4096);
        cbpf::check::check(&w.program).expect("the checker accepts it");
    }
}
