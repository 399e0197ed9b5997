//! Our pcap-filter compiler against libpcap's (`tcpdump -ddd -y LINKTYPE`):
//! for every expression in conformance/expressions.txt plus seeded random
//! ones, both programs run through the reference interpreter on a packet set
//! built from each program's own loads and constants (matching values,
//! values one off, range bounds, fragments, IP options, VLAN/MPLS, IPv6,
//! truncations) and must return the same verdict on every packet.
//!
//! Needs tcpdump: with CI=true a missing tcpdump fails the test, elsewhere
//! it is skipped with a reason. `EXPR_SEED=n` varies the random part (the
//! seed is printed); `EXPR_TABLE=1` prints the instruction-count table.

use std::collections::BTreeSet;
use std::process::Command;

use cranebpf::cbpf::insn::op;
use cranebpf::cbpf::interp::run;
use cranebpf::cbpf::meta::Metadata;
use cranebpf::cbpf::parse::parse_ddd;
use cranebpf::cbpf::{Insn, Program};
use cranebpf::expr::{compile_expr, LinkType};
use cranebpf::harness::Rng;

const DEFAULT_SEED: u64 = 0x5eed_0006;
const RANDOM_EXPRESSIONS: usize = 150;
const MUTANTS_PER_BASE: usize = 12;

fn tcpdump_available() -> bool {
    Command::new("tcpdump")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// libpcap's program, or `None` when tcpdump refuses the expression.
/// "expression rejects all packets" is a program: `ret #0`.
fn libpcap(link: LinkType, expr: &str) -> Result<Program, String> {
    let out = Command::new("tcpdump")
        .args(["-ddd", "-y", link.name(), expr])
        .output()
        .map_err(|e| format!("running tcpdump: {e}"))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("expression rejects all packets") {
        return Ok(Program::new(vec![Insn::stmt(op::RET | op::K, 0)]));
    }
    if !out.status.success() {
        return Err(stderr.trim().to_string());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    parse_ddd(&text).map_err(|e| format!("parsing tcpdump output: {e}"))
}

/// One entry: `[-y LINKTYPE] EXPR`.
fn parse_line(line: &str) -> Option<(LinkType, String)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    if let Some(rest) = line.strip_prefix("-y ") {
        let (name, expr) = rest.trim().split_once(' ')?;
        let link = LinkType::from_name(name)?;
        return Some((link, expr.trim().to_string()));
    }
    Some((LinkType::Ethernet, line.to_string()))
}

// ---------------------------------------------------------------- packets

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
    p.extend(transport(rng));
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
    p.extend(transport(rng));
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

fn base_packet(rng: &mut Rng, link: LinkType) -> Vec<u8> {
    let (ethertype, payload) = network(rng);
    let mut pkt = Vec::new();
    match link {
        LinkType::Ethernet => {
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
        }
        LinkType::LinuxSll => {
            let mut h = rand_bytes(rng, 16);
            put(&mut h, 14, 2, ethertype as u32);
            pkt.extend(h);
        }
        LinkType::LinuxSll2 => {
            let mut h = rand_bytes(rng, 20);
            put(&mut h, 0, 2, ethertype as u32);
            pkt.extend(h);
        }
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
    }
    pkt.extend(payload);
    pkt
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

/// The packet set for one expression: base packets, then mutants with the
/// programs' constants written where the programs load, then truncations.
fn packets(rng: &mut Rng, link: LinkType, progs: &[&Program]) -> Vec<Vec<u8>> {
    let mut ls = Vec::new();
    let mut ks = Vec::new();
    for p in progs {
        ls.extend(loads(p));
        ks.extend(constants(p));
    }
    let mut out = Vec::new();
    for _ in 0..40 {
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

// ------------------------------------------------------ random expressions

fn random_primitive(rng: &mut Rng) -> String {
    let hosts = ["1.2.3.4", "10.0.0.1", "192.168.1.1", "10.1.2.3"];
    let nets = [
        "10.0.0.0/8",
        "10.1",
        "192.168.0.0/16",
        "0.0.0.0/0",
        "10.1.2.0/24",
    ];
    let ports = [
        "80", "443", "53", "22", "http", "domain", "ntp", "1", "65535",
    ];
    let dirs = ["", "src ", "dst ", "src or dst ", "src and dst "];
    let tp = ["", "tcp ", "udp ", "sctp "];
    let d = *rng.pick(&dirs);
    match rng.below(16) {
        0 => format!("{d}host {}", rng.pick(&hosts)),
        1 => format!(
            "{}{d}host {}",
            rng.pick(&["ip ", "arp ", "rarp ", ""]),
            rng.pick(&hosts)
        ),
        2 => format!("{d}net {}", rng.pick(&nets)),
        3 => format!(
            "{}{d}port {}",
            rng.pick(&tp),
            rng.pick(&["80", "443", "53", "22", "1"])
        ),
        4 => format!("{d}port {}", rng.pick(&ports)),
        5 => {
            let a = rng.below(1000);
            format!("{}{d}portrange {a}-{}", rng.pick(&tp), a + rng.below(200))
        }
        6 => rng
            .pick(&[
                "tcp", "udp", "icmp", "icmp6", "sctp", "igmp", "vrrp", "ip", "ip6", "arp", "rarp",
            ])
            .to_string(),
        7 => format!(
            "{} proto {}",
            rng.pick(&["ip", "ip6", ""]),
            rng.pick(&["6", "17", "58", "\\tcp", "\\udp", "1"])
        ),
        8 => format!(
            "ip6 {d}host {}",
            rng.pick(&["::1", "2001:db8::1", "fe80::1"])
        ),
        9 => format!(
            "{}{} {}",
            rng.pick(&["less ", "greater "]),
            "",
            rng.below(120)
        ),
        10 => rng
            .pick(&[
                "tcp[tcpflags] & tcp-syn != 0",
                "tcp[13] & 0x12 = 0x12",
                "ip[2:2] > 576",
                "udp[8:2] = 0",
                "icmp[icmptype] = icmp-echo",
                "ip[6] & 0x20 != 0",
                "len >= 60",
                "ip[0] & 0xf > 5",
                "ether[0] & 1 = 1",
                "tcp[0:2] < 1024",
                "ip6[6] = 17",
                "ip[9] * 2 - 12 = 0",
                "ip[1] % 7 = 3",
                "ip[ip[0] & 3] = 0",
            ])
            .to_string(),
        11 => rng
            .pick(&[
                "ether broadcast",
                "ether multicast",
                "ip multicast",
                "ip broadcast",
                "ip6 multicast",
                "broadcast",
                "multicast",
            ])
            .to_string(),
        12 => format!(
            "ether {d}host {}",
            rng.pick(&["1:2:3:4:5:6", "ff:ff:ff:ff:ff:ff", "02:42:ac:11:00:02"])
        ),
        13 => format!(
            "ether proto {}",
            rng.pick(&["\\ip", "\\arp", "\\ip6", "0x8035", "\\rarp"])
        ),
        14 => format!("vlan{}", rng.pick(&["", " 100", " 10", " 20"])),
        _ => format!("mpls{}", rng.pick(&["", " 5", " 3"])),
    }
}

fn random_expr(rng: &mut Rng, depth: u32) -> String {
    if depth == 0 || rng.chance(2, 5) {
        let p = random_primitive(rng);
        return if rng.chance(1, 6) {
            format!("not {p}")
        } else {
            p
        };
    }
    let a = random_expr(rng, depth - 1);
    let b = random_expr(rng, depth - 1);
    let op = *rng.pick(&["and", "or", "&&", "||"]);
    match rng.below(3) {
        0 => format!("({a}) {op} ({b})"),
        1 => format!("{a} {op} {b}"),
        _ => format!("not ({a}) {op} {b}"),
    }
}

// ------------------------------------------------------------------- test

struct Outcome {
    expr: String,
    link: LinkType,
    ours: usize,
    theirs: usize,
    packets: usize,
    disagreements: Vec<String>,
}

fn compare(link: LinkType, expr: &str, seed: u64) -> Option<Outcome> {
    let theirs = match libpcap(link, expr) {
        Ok(p) => p,
        Err(why) => {
            // libpcap refuses: we must refuse too.
            return Some(Outcome {
                expr: expr.to_string(),
                link,
                ours: 0,
                theirs: 0,
                packets: 0,
                disagreements: match compile_expr(expr, link) {
                    Err(_) => vec![],
                    Ok(p) => vec![format!(
                        "libpcap refuses ({why}) but we compile {} insns",
                        p.len()
                    )],
                },
            });
        }
    };
    let ours = match compile_expr(expr, link) {
        Ok(p) => p,
        Err(e) => {
            return Some(Outcome {
                expr: expr.to_string(),
                link,
                ours: 0,
                theirs: theirs.len(),
                packets: 0,
                disagreements: vec![format!("we refuse: {e}")],
            })
        }
    };
    let mut rng = Rng::new(seed);
    let pkts = packets(&mut rng, link, &[&theirs, &ours]);
    let meta = Metadata::default();
    let mut disagreements = Vec::new();
    for pkt in &pkts {
        let (a, b) = (run(&ours, pkt, &meta), run(&theirs, pkt, &meta));
        if a != b && disagreements.len() < 3 {
            let hex: String = pkt.iter().map(|b| format!("{b:02x}")).collect();
            disagreements.push(format!("ours {a} libpcap {b} on {hex}"));
        }
    }
    Some(Outcome {
        expr: expr.to_string(),
        link,
        ours: ours.len(),
        theirs: theirs.len(),
        packets: pkts.len(),
        disagreements,
    })
}

#[test]
fn expressions_match_libpcap() {
    if !tcpdump_available() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("tcpdump is required for the libpcap equivalence test (CI=true)");
        }
        eprintln!("skipping expr_vs_libpcap: tcpdump not found");
        return;
    }
    let listed: Vec<(LinkType, String)> = include_str!("../conformance/expressions.txt")
        .lines()
        .filter_map(parse_line)
        .collect();
    let seed = std::env::var("EXPR_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("expr_vs_libpcap: random expression seed {seed} (set EXPR_SEED to vary)");
    let mut rng = Rng::new(seed);
    let links = [
        LinkType::Ethernet,
        LinkType::Ethernet,
        LinkType::Ethernet,
        LinkType::Raw,
        LinkType::LinuxSll,
        LinkType::Null,
    ];
    let random: Vec<(LinkType, String)> = (0..RANDOM_EXPRESSIONS)
        .map(|_| {
            let link = *rng.pick(&links);
            (link, random_expr(&mut rng, 3))
        })
        .collect();
    let all: Vec<(usize, LinkType, String)> = listed
        .iter()
        .cloned()
        .chain(random.iter().cloned())
        .enumerate()
        .map(|(i, (l, e))| (i, l, e))
        .collect();
    // tcpdump start-up dominates: compare on a few threads.
    let threads = 4;
    let chunks: Vec<Vec<(usize, LinkType, String)>> = (0..threads)
        .map(|t| {
            all.iter()
                .filter(|(i, ..)| i % threads == t)
                .cloned()
                .collect()
        })
        .collect();
    let mut outcomes: Vec<(usize, Outcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .into_iter()
                        .filter_map(|(i, l, e)| compare(l, &e, seed ^ i as u64).map(|o| (i, o)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    outcomes.sort_by_key(|(i, _)| *i);
    let table = std::env::var("EXPR_TABLE").is_ok();
    let mut ratios = Vec::new();
    let mut bad = 0;
    let mut packets = 0;
    let mut compiled = 0;
    for (i, o) in &outcomes {
        packets += o.packets;
        if o.ours > 0 && o.theirs > 0 {
            compiled += 1;
            if *i < listed.len() {
                ratios.push(o.ours as f64 / o.theirs as f64);
            }
        }
        if table && *i < listed.len() {
            println!("{:>4} {:>4}  -y {} {}", o.ours, o.theirs, o.link, o.expr);
        }
        if !o.disagreements.is_empty() {
            bad += 1;
            eprintln!("DISAGREE [-y {} {}]:", o.link, o.expr);
            for d in &o.disagreements {
                eprintln!("    {d}");
            }
        }
    }
    ratios.sort_by(|a, b| a.total_cmp(b));
    let median = ratios.get(ratios.len() / 2).copied().unwrap_or(0.0);
    let longer = ratios.iter().filter(|r| **r > 1.0).count();
    eprintln!(
        "expr_vs_libpcap: {} listed + {} random expressions, {} compiled by both, {} packets, {} expressions disagree",
        listed.len(),
        random.len(),
        compiled,
        packets,
        bad
    );
    eprintln!(
        "instruction counts (listed): median ours/libpcap = {median:.3}, {longer} of {} longer than libpcap",
        ratios.len()
    );
    assert!(
        listed.len() >= 300,
        "expressions.txt lists only {}",
        listed.len()
    );
    assert_eq!(bad, 0, "{bad} expressions disagree with libpcap");
}
