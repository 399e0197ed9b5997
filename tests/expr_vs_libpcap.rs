//! Our pcap-filter compiler against libpcap's (`pcap_compile` in-process):
//! for every expression in conformance/expressions.txt plus seeded random
//! ones, both programs run through the reference interpreter on a packet set
//! built from each program's own loads and constants (matching values,
//! values one off, range bounds, fragments, IP options, VLAN/MPLS, IPv6,
//! truncations) and must return the same verdict on every packet.
//!
//! Needs libpcap: with CI=true a missing libpcap fails the test, elsewhere
//! it is skipped with a reason. `EXPR_SEED=n` varies the random part (the
//! seed is printed); `EXPR_TABLE=1` prints the instruction-count table.

mod support;

use cranebpf::cbpf::interp::run;
use cranebpf::cbpf::meta::Metadata;
use cranebpf::expr::{compile_expr, LinkType};
use cranebpf_harness::Rng;
use support::libpcap::LibPcap;
use support::packets::packets;

const DEFAULT_SEED: u64 = 0x5eed_0006;
const RANDOM_EXPRESSIONS: usize = 150;
/// Random combinations of listed expressions (same link type), which put
/// the whole listed vocabulary through the optimiser together.
const RANDOM_COMBINATIONS: usize = 150;

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
                // Constant arithmetic, which libpcap folds only after
                // threading jumps: the loads before it stay.
                "1 + 2 = 3",
                "5 - 5 = 0",
                "3 & 1 != 0",
                "2 * 3 > 5",
                "3 = 1 + 2",
                "-1 = 0xffffffff",
                "4 / 2 != 2",
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

/// Two to four listed expressions of one link type joined by `and`/`or`,
/// some negated, some parenthesised.
fn random_combination(rng: &mut Rng, listed: &[(LinkType, String)]) -> (LinkType, String) {
    let (link, first) = rng.pick(listed).clone();
    let same: Vec<&String> = listed
        .iter()
        .filter(|(l, _)| *l == link)
        .map(|(_, e)| e)
        .collect();
    let mut expr = format!("({first})");
    for _ in 0..1 + rng.below(3) {
        let next = rng.pick(&same);
        let not = if rng.chance(1, 4) { "not " } else { "" };
        let op = *rng.pick(&["and", "or"]);
        expr = if rng.chance(1, 2) {
            format!("{expr} {op} {not}({next})")
        } else {
            format!("({expr}) {op} {not}({next})")
        };
    }
    (link, expr)
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

fn compare(pcap: &LibPcap, link: LinkType, expr: &str, seed: u64) -> Option<Outcome> {
    let theirs = match pcap.compile(link.name(), expr, true) {
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
    let pkts = packets(&mut rng, link, &[&theirs, &ours], 40);
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
    let Some(pcap) = LibPcap::load_or_skip() else {
        return;
    };
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
    let mut random: Vec<(LinkType, String)> = (0..RANDOM_EXPRESSIONS)
        .map(|_| {
            let link = *rng.pick(&links);
            (link, random_expr(&mut rng, 3))
        })
        .collect();
    random.extend((0..RANDOM_COMBINATIONS).map(|_| random_combination(&mut rng, &listed)));
    let all: Vec<(usize, LinkType, String)> = listed
        .iter()
        .cloned()
        .chain(random.iter().cloned())
        .enumerate()
        .map(|(i, (l, e))| (i, l, e))
        .collect();
    // In-process libpcap is fast; one thread (pcap_compile's thread
    // safety is not something to rely on).
    let outcomes: Vec<(usize, Outcome)> = all
        .into_iter()
        .filter_map(|(i, l, e)| compare(&pcap, l, &e, seed ^ i as u64).map(|o| (i, o)))
        .collect();
    let table = std::env::var("EXPR_TABLE").is_ok();
    let mut ratios = Vec::new();
    let mut bad = Vec::new();
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
            bad.push(o.expr.clone());
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
        bad.len()
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
    // Which packets an expression meets depends on its place in the list,
    // so a known disagreement may or may not show in a given run.
    let unknown: Vec<&String> = bad
        .iter()
        .filter(|e| !KNOWN_DISAGREEMENTS.contains(&e.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "expressions disagree with libpcap: {unknown:?}"
    );
}

/// Expressions whose verdicts are known to differ from libpcap's on some
/// packets, each understood: ours to fix (that part of the list must
/// shrink, never grow), or libpcap's miscompilation, which we do not copy.
/// Empty since 2026-12-07: the two entries then here, and `EXPR_SEED=21`'s
/// disagreement, came from `proto[k]` loads being numbered unlike libpcap's
/// (see `proto_index_loads_are_numbered_as_libpcaps`).
const KNOWN_DISAGREEMENTS: &[&str] = &[];

/// libpcap compiles `proto[k]` as an indexed load (`ldx #k; ld [x + off]`)
/// that its optimiser makes absolute only in the statement phase, after
/// jumps have been threaded: until then `ip6[6]` is not the `ldb [20]` of
/// `ip6 proto`, so the loads that guard it stay, and a frame too short for
/// them is rejected. Each of these once disagreed on such frames (the
/// first with `EXPR_SEED=21`, where we compiled one `ret`; the other two
/// were listed as known disagreements); now each is libpcap's program
/// byte for byte.
#[test]
fn proto_index_loads_are_numbered_as_libpcaps() {
    let Some(pcap) = LibPcap::load_or_skip() else {
        return;
    };
    for expr in [
        "not (tcp dst portrange 696-759) or not ip6[6] = 17",
        "(dst net 10.0.0.0/8) || (ip6 host 2001:db8::1 && port 22 || (ip6 proto 1) or (ip6[6] = 17))",
        "not (ether proto \\rarp) || not ip6 multicast and  proto \\tcp and ip6[6] = 17 and  proto 6",
        "ether[12:2] = 0x86dd and ip6 proto 17",
        "ip6 and ip6[6] = 6 and tcp port 22",
    ] {
        let ours = compile_expr(expr, LinkType::Ethernet).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let theirs = pcap
            .compile("EN10MB", expr, true)
            .unwrap_or_else(|e| panic!("libpcap, {expr}: {e}"));
        assert_eq!(ours.insns, theirs.insns, "{expr}");
    }
}

/// `protochain` on a link type whose network-layer offset libpcap leaves
/// unset (-1: JUNIPER_ES, "raw IP addresses"): libpcap's unsigned sums
/// wrap, and so must ours (an `expr_compile` fuzz finding: the sum
/// overflowed where the build checks arithmetic). Byte for byte libpcap's
/// program (it never optimises protochain's loop).
#[test]
fn protochain_without_a_network_layer_offset_is_libpcaps_program() {
    let Some(pcap) = LibPcap::load_or_skip() else {
        return;
    };
    let link = LinkType::from_name("JUNIPER_ES").expect("a link type we know");
    for expr in [
        "ip protochain 51",
        "ip6 protochain 44",
        "protochain 51 or ip6 protochain 44",
    ] {
        let ours = compile_expr(expr, link).unwrap_or_else(|e| panic!("{expr}: {e}"));
        let theirs = pcap
            .compile("JUNIPER_ES", expr, true)
            .unwrap_or_else(|e| panic!("libpcap, {expr}: {e}"));
        assert_eq!(ours.insns, theirs.insns, "{expr}");
    }
}
