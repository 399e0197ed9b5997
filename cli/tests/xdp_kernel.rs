//! `compile --xdp` proven against the running kernel: pcap-filter
//! expressions compiled to classic programs, translated to XDP programs
//! (`translate::xdp`), loaded with `BPF_PROG_LOAD` as
//! `BPF_PROG_TYPE_XDP` (the kernel's eBPF verifier must accept every one)
//! and run with `BPF_PROG_TEST_RUN` on every Ethernet packet of the
//! real-world captures and on generated packets aimed at each program's
//! loads (truncations included). The kernel's action must be `XDP_PASS`
//! exactly where our reference classic interpreter keeps the packet (on the
//! captured bytes, `len` = their number) and `XDP_DROP` elsewhere.
//!
//! XDP test runs take frames of 14 bytes up to what one page holds
//! (3,520 bytes on x86-64); packets outside that are not sent (counted).
//! Our own XDP runtime (`ebpf::runtime`) runs every translation too and
//! must return the kernel's action on every packet. Also: the object
//! `compile --xdp` writes is read back by our ELF loader, and loaded by
//! `bpftool` (libbpf) when it is installed.
//!
//! Needs root and bpf(): skipped with a reason otherwise, but under CI=true
//! a missing bpf() (or bpftool) is a failure.

mod support;

use cranebpf::cbpf::meta::Device;
use cranebpf::cbpf::{self, Metadata};
use cranebpf::ebpf::elf::ObjectProgram;
use cranebpf::ebpf::runtime::{PacketOptions, PacketProgram};
use cranebpf::expr::{compile_expr, compile_expr_unoptimized, LinkType};
use cranebpf::translate::xdp::{action, translate_xdp, xdp_object, XdpError};
use cranebpf_harness::kernel::bpf::{LoadedProgram, ProgType};
use cranebpf_harness::Rng;
use std::process::Command;

/// Expressions covering every kind of classic load the expression compiler
/// makes: absolute, indirect (`x + k` after `ldx msh`), lengths, VLAN and
/// MPLS offsets, IPv6, arithmetic.
const EXPRS: &[&str] = &[
    "ip",
    "ip6",
    "arp",
    "tcp port 443",
    "udp and (port 53 or port 123) and not net 10.0.0.0/8",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0",
    "tcp port 80 and (((ip[2:2] - ((ip[0]&0xf)<<2)) - ((tcp[12]&0xf0)>>2)) != 0)",
    "icmp or icmp6",
    "ip6 and tcp and dst port 22",
    "vlan and (ip or ip6)",
    "vlan 100 or mpls",
    "greater 200",
    "less 80",
    "ether multicast and not ether broadcast",
    "host 192.168.1.1 or src net 172.16.0.0/12",
    "portrange 1-1023 and udp",
    "ip proto 47 or ip6 proto 47",
    "pppoes and ip",
    "ip[8] < 64 and ip[6:2] & 0x3fff != 0",
    "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x47455420",
    "len >= 60 and len <= 1514",
    "udp[8:2] = 0x1234 or ip[len - 4:4] = 0",
];

/// The largest frame an XDP test run takes without fragments:
/// PAGE_SIZE - XDP_PACKET_HEADROOM - sizeof(struct skb_shared_info).
const MAX_FRAME: usize = 4096 - 256 - 320;
const ETH_HLEN: usize = 14;

/// Runs `prog`'s XDP translation in the kernel on every packet; returns
/// the packets sent and the mismatches found.
fn compare(name: &str, prog: &cbpf::Program, packets: &[Vec<u8>]) -> (usize, Vec<String>) {
    let xdp = translate_xdp(prog).unwrap_or_else(|e| panic!("{name}: {e}"));
    let kernel = LoadedProgram::load_as(ProgType::Xdp, &xdp.insns)
        .unwrap_or_else(|e| panic!("{name}: the kernel refused the XDP program: {e}"));
    // Our own XDP runtime runs the same translation (its context rewrite
    // and packet-bounds check must accept what the kernel accepts).
    let object_program = ObjectProgram {
        name: "xdp_filter".into(),
        section: "xdp".into(),
        program: xdp.clone(),
        btf_functions: false,
        core: Vec::new(),
    };
    let runtime = PacketProgram::new(&object_program, &[], PacketOptions::default())
        .unwrap_or_else(|e| panic!("{name}: our runtime refused the XDP program: {e}"));
    // XDP test runs arrive on the loopback device (ifindex 1), which is
    // what `#ifidx` (xdp_md.ingress_ifindex) reads.
    let meta = Metadata {
        device: Some(Device {
            ifindex: 1,
            hatype: 772, // ARPHRD_LOOPBACK
        }),
        ..Metadata::default()
    };
    let mut sent = 0;
    let mut differ = Vec::new();
    for packet in packets {
        if !(ETH_HLEN..=MAX_FRAME).contains(&packet.len()) {
            continue;
        }
        sent += 1;
        let ours = cbpf::interp::run(prog, packet, &meta);
        let want = if ours != 0 {
            action::PASS
        } else {
            action::DROP
        };
        let theirs = kernel
            .test_run(packet)
            .unwrap_or_else(|e| panic!("{name}: BPF_PROG_TEST_RUN on {} bytes: {e}", packet.len()));
        let mine = runtime
            .action(packet)
            .unwrap_or_else(|e| panic!("{name}: our run on {} bytes: {e}", packet.len()));
        if mine != u64::from(theirs) && differ.len() < 5 {
            differ.push(format!(
                "{name}: kernel {theirs}, our runtime {mine} on {packet:02x?}"
            ));
        }
        if theirs != want && differ.len() < 5 {
            differ.push(format!(
                "{name}: kernel {theirs}, classic {ours} on {:02x?}",
                packet
            ));
        }
    }
    (sent, differ)
}

#[test]
fn xdp_translations_pass_what_the_classic_filter_keeps() {
    if !support::bpf_available() {
        return;
    }
    let captured = support::realworld_frames(1);
    if captured.is_empty() && std::env::var("CI").as_deref() == Ok("true") {
        panic!("no real-world captures under CI=true (../shared/realworld/captures)");
    }
    let mut rng = Rng::new(0x7d9);
    let (mut programs, mut runs) = (0, 0);
    let mut differ = Vec::new();
    for expr in EXPRS {
        let optimised = compile_expr(expr, LinkType::Ethernet).expect(expr);
        let plain = compile_expr_unoptimized(expr, LinkType::Ethernet).expect(expr);
        let mut packets =
            support::packets::packets(&mut rng, LinkType::Ethernet, &[&optimised, &plain], 40);
        packets.extend(captured.iter().cloned());
        for (tag, prog) in [("optimised", &optimised), ("unoptimised", &plain)] {
            let (sent, d) = compare(&format!("{expr} ({tag})"), prog, &packets);
            programs += 1;
            runs += sent;
            differ.extend(d);
        }
    }
    eprintln!(
        "{programs} XDP programs, {runs} kernel test runs ({} captured Ethernet packets)",
        captured.len()
    );
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn hand_written_corner_cases_agree_with_the_kernel() {
    if !support::bpf_available() {
        return;
    }
    // Programs the expression compiler does not write: loads past any
    // frame (their successors only reachable through them), `x + k`
    // wrapping in 32 bits, division by a zero X, `ret a`, scratch memory,
    // `ld len` into X, unreachable code.
    let cases = [
        "ld [70000]\nret #1",
        "ldh [12]\njeq #0x800, ok, drop\nok: ld [65534]\nret #1\ndrop: ret #0",
        "ldx #0xfffffff2\nldh [x + 26]\nret a",
        "ldx #0xffffffff\nldb [x + 1]\nret a",
        "ldb [14]\ntax\nld #100\ndiv x\nret a",
        "ldb [14]\ntax\nld #100\nmod x\nret a",
        "ld #0\nst M[3]\nldb [13]\nst M[0]\nld M[0]\nldx M[3]\nadd x\nret a",
        "ldx len\ntxa\nsub #60\nret a",
        "ldxb 4*([14]&0xf)\nld [x + 14]\nret a",
        "ret #0\nld [0]\nret a",
        "ldb [0]\njset #1, odd, even\nodd: ret #7\neven: ldxb 4*([14]&0xf)\nldh [x + 6]\nand #0xfff\nret a",
    ];
    let mut rng = Rng::new(0x5eed);
    let mut differ = Vec::new();
    for src in cases {
        let prog = cbpf::asm::parse_asm(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        let mut packets = support::packets::packets(&mut rng, LinkType::Ethernet, &[&prog], 30);
        for len in [14, 15, 16, 20, 34, 60, 100, 1500, MAX_FRAME] {
            packets.push((0..len).map(|i| (i * 7 + len) as u8).collect());
        }
        differ.extend(compare(src, &prog, &packets).1);
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
fn ancillary_loads_and_negative_offsets_are_refused_by_instruction() {
    let refused = [
        ("ldh [12]\nld #proto\nret a", 1, "#proto"),
        ("ldb [0]\nld #type\nret a", 1, "#type"),
        ("ld [-1048576]\nret a", 0, "network"),
        ("ldb [-2097152]\nret a", 0, "link-layer"),
    ];
    for (src, pc, word) in refused {
        let prog = cbpf::asm::parse_asm(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        match translate_xdp(&prog) {
            Err(e @ XdpError::Unsupported { pc: at, .. }) => {
                assert_eq!(at, pc, "{src}: {e}");
                let text = e.to_string();
                assert!(text.contains(word), "{src}: {text}");
                assert!(text.starts_with(&format!("instruction {pc}:")), "{text}");
            }
            other => panic!("{src}: expected a refusal, got {other:?}"),
        }
    }
    // What the classic checker refuses is refused as such.
    let bad = cbpf::asm::parse_asm("ld M[0]\nret a").expect("assembles");
    assert!(matches!(translate_xdp(&bad), Err(XdpError::Check(_))));
    // `#ifidx` is xdp_md.ingress_ifindex.
    let ifidx = cbpf::asm::parse_asm("ld #ifidx\nret a").expect("assembles");
    assert!(translate_xdp(&ifidx).is_ok());
}

#[test]
fn the_object_reads_back_and_libbpf_loads_it() {
    let prog = compile_expr("tcp port 443", LinkType::Ethernet).expect("compiles");
    let bytes = xdp_object(&prog, "xdp_filter").expect("writes");
    let object = cranebpf::ebpf::elf::load(&bytes).expect("our loader reads it");
    assert_eq!(object.programs.len(), 1);
    let p = &object.programs[0];
    assert_eq!((p.name.as_str(), p.section.as_str()), ("xdp_filter", "xdp"));
    assert_eq!(
        p.program.insns,
        translate_xdp(&prog).expect("translates").insns
    );
    assert_eq!(object.license.as_deref(), Some("Dual MIT/GPL"));
    assert!(xdp_object(&prog, "").is_err());

    // The CLI writes the same bytes.
    let out = support::temp_file("xdp-filter.o", b"");
    let (code, _, err) = support::cli(&[
        "compile",
        "--xdp",
        "tcp port 443",
        "-o",
        out.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read(&out).expect("written"), bytes);

    if !support::bpf_available() {
        return;
    }
    let bpftool = Command::new("bpftool").arg("version").output();
    if bpftool.is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("bpftool missing under CI=true");
        }
        eprintln!("skipping the libbpf load: bpftool not installed");
        return;
    }
    support::mount_bpffs();
    let pin = format!("/sys/fs/bpf/cranebpf-xdp-test-{}", std::process::id());
    let load = Command::new("bpftool")
        .args(["prog", "load"])
        .arg(&out)
        .arg(&pin)
        .output()
        .expect("bpftool");
    let shown = Command::new("bpftool")
        .args(["prog", "show", "pinned", &pin])
        .output()
        .expect("bpftool");
    let _ = std::fs::remove_file(&pin);
    assert!(
        load.status.success(),
        "bpftool prog load: {}",
        String::from_utf8_lossy(&load.stderr)
    );
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(
        shown.contains("xdp") && shown.contains("xdp_filter"),
        "{shown}"
    );
}

/// Every EN10MB expression of libpcap's TESTrun tables
/// (`shared/realworld/exprs.tsv`) that we compile: the XDP translation is
/// accepted by the kernel's verifier (or refused by us for an ancillary
/// load, by instruction) and agrees with the classic program on packets
/// aimed at its loads and a sample of the captured ones.
#[test]
fn every_ethernet_expression_of_the_realworld_tables_loads_and_agrees() {
    let Some(table) = support::shared_dir("realworld").map(|d| d.join("exprs.tsv")) else {
        return;
    };
    if !support::bpf_available() {
        return;
    }
    let text = std::fs::read_to_string(&table).expect("exprs.tsv");
    let captured: Vec<Vec<u8>> = support::realworld_frames(1)
        .into_iter()
        .step_by(20)
        .collect();
    let mut rng = Rng::new(0x2639);
    let (mut compiled, mut loaded, mut runs) = (0, 0, 0);
    let mut refused: Vec<String> = Vec::new();
    let mut differ = Vec::new();
    for line in text.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let [expr, "EN10MB", _, _, _, mask, ..] = cols[..] else {
            continue;
        };
        let netmask = mask.parse::<std::net::Ipv4Addr>().map_or(0, u32::from);
        let Ok(prog) = cranebpf::expr::compile_expr_with_netmask(expr, LinkType::Ethernet, netmask)
        else {
            continue;
        };
        compiled += 1;
        match translate_xdp(&prog) {
            Err(XdpError::Unsupported { what, .. }) if what.contains("ancillary") => {
                refused.push(format!("{expr}: {what}"));
                continue;
            }
            // libpcap-dialect programs (protochain's backward jump) that
            // Linux's checker refuses have no kernel translation either.
            Err(XdpError::Check(e)) => {
                refused.push(format!("{expr}: {e}"));
                continue;
            }
            Err(e) => panic!("{expr}: {e}"),
            Ok(_) => {}
        }
        let mut packets = support::packets::packets(&mut rng, LinkType::Ethernet, &[&prog], 2);
        packets.extend(captured.iter().cloned());
        let (sent, d) = compare(expr, &prog, &packets);
        loaded += 1;
        runs += sent;
        differ.extend(d);
    }
    eprintln!(
        "{compiled} EN10MB expressions compiled, {loaded} XDP programs loaded, {runs} kernel \
         test runs, {} refused (ancillary loads, or Linux's classic checker)",
        refused.len()
    );
    for r in refused.iter().take(5) {
        eprintln!("  refused: {r}");
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}
