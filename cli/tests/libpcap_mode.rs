//! The libpcap run mode (`cbpf::libpcap`) against libpcap 1.10 itself
//! (`bpf_validate` and `bpf_filter`, loaded in process):
//!
//! - the programs libpcap produces that Linux refuses (`protochain`'s
//!   backward jumps; an IEEE802_11_RADIO `geneve` program that reads a
//!   scratch cell before writing it) are accepted and give `bpf_filter`'s
//!   verdict on the packets of libpcap's own test captures, on every
//!   truncation of them and on mutated copies;
//! - random programs get `bpf_validate`'s answer (plus a refusal of the
//!   opcodes `bpf_filter` aborts on) and, forward-only, `bpf_filter`'s
//!   verdicts.
//!
//! Needs libpcap and `shared/`: under `CI=true` missing ones fail the test.

mod support;

use std::path::PathBuf;

use cranebpf::cbpf::check::{check, code_allowed};
use cranebpf::cbpf::insn::op;
use cranebpf::cbpf::libpcap::{run, validate};
use cranebpf::cbpf::{Insn, Program};
use support::libpcap::LibPcap;

/// Expressions whose libpcap programs Linux refuses, with the link type and
/// the libpcap test capture whose packets they are run on.
const PROGRAMS: &[(&str, &str, &str)] = &[
    ("RAW", "ip protochain 17", "ipv6_ext_headers.pcap"),
    ("RAW", "ip6 protochain 17", "ipv6_ext_headers.pcap"),
    ("RAW", "protochain 17", "ipv6_ext_headers.pcap"),
    ("EN10MB", "ip protochain 17", "ipv6_ext_headers.pcap"),
    ("EN10MB", "ip6 protochain 17", "ipv6_ext_headers.pcap"),
    ("EN10MB", "ip6 protochain 51", "AH-IPcomp-IPv6.pcap"),
    ("EN10MB", "ip6 protochain 41", "AH-IPcomp-IPv6.pcap"),
    ("EN10MB", "ip6 protochain 108", "AH-IPcomp-IPv6.pcap"),
    ("EN10MB", "ip protochain 51", "AH-IPcomp-IPv4.pcap"),
    ("EN10MB", "ip protochain 4", "AH-IPcomp-IPv4.pcap"),
    ("EN10MB", "ip protochain 1", "ah-ipip-ping.pcap"),
    ("EN10MB", "protochain 6", "AH-IPcomp-IPv6.pcap"),
    (
        "IEEE802_11_RADIO",
        "geneve and tcp[0xab] == 0xcd",
        "http_PPI.pcap",
    ),
];

/// A small xorshift generator (the test's own, so it does not depend on
/// the crate's).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }

    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

fn capture_dir() -> Option<PathBuf> {
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let found = root
        .ancestors()
        .map(|a| a.join("shared/realworld/captures/libpcap-filter"))
        .find(|p| p.is_dir());
    if found.is_none() {
        let msg = format!(
            "shared/realworld/captures not found above {}",
            root.display()
        );
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("{msg}");
        }
        eprintln!("skipping: {msg}");
    }
    found
}

/// Our verdict and libpcap's on `packet` must agree; returns it.
fn same_verdict(lib: &LibPcap, prog: &Program, packet: &[u8], what: &str) -> u32 {
    let ours = run(prog, packet, packet.len() as u32).expect("the program ends");
    let theirs = lib.filter(prog, packet);
    assert_eq!(ours, theirs, "{what}: packet {packet:02x?}");
    ours
}

#[test]
fn libpcaps_own_programs_run_as_bpf_filter_runs_them() {
    let Some(lib) = LibPcap::load_or_skip() else {
        return;
    };
    let Some(dir) = capture_dir() else {
        return;
    };
    let mut rng = Rng(0x1bf_ca9);
    let (mut runs, mut kept) = (0usize, 0usize);
    for &(link, expr, capture) in PROGRAMS {
        for optimize in [true, false] {
            let what = format!("-y {link} {expr} (optimised: {optimize})");
            let prog = lib
                .compile(link, expr, optimize)
                .expect("libpcap compiles it");
            assert!(check(&prog).is_err(), "{what}: Linux accepts it");
            assert!(lib.validate(&prog), "{what}: bpf_validate refuses it");
            assert_eq!(validate(&prog), Ok(()), "{what}");
            let bytes = std::fs::read(dir.join(capture)).expect("read capture");
            let packets = cranebpf::capture::packets(&bytes).expect("capture parses");
            assert!(!packets.is_empty());
            for (_, p) in packets.iter().take(40) {
                let data = p.data;
                // Every truncation reaches each load's bounds check.
                for cut in 0..=data.len().min(200) {
                    same_verdict(&lib, &prog, &data[..cut], &what);
                }
                kept += (same_verdict(&lib, &prog, data, &what) != 0) as usize;
                // Mutations change next-header values and lengths.
                for _ in 0..40 {
                    let mut m = data.to_vec();
                    for _ in 0..1 + rng.below(3) {
                        let at = rng.below(m.len().min(120) as u32) as usize;
                        m[at] = rng.next() as u8;
                    }
                    same_verdict(&lib, &prog, &m, &what);
                }
                runs += data.len().min(200) + 42;
            }
        }
    }
    eprintln!(
        "{} libpcap programs Linux refuses, {runs} packets in all: verdicts as bpf_filter's \
         ({kept} whole captured packets kept)",
        2 * PROGRAMS.len()
    );
    assert!(kept > 50, "the captures should match some of the filters");
}

fn random_insn(rng: &mut Rng, pc: usize, len: usize, forward_only: bool) -> Insn {
    let codes: [u16; 12] = [
        op::LD | op::W | op::ABS,
        op::LD | op::H | op::IND,
        op::LD | op::B | op::ABS,
        op::LD | op::MEM,
        op::LDX | op::B | op::MSH,
        op::ST,
        op::ALU | op::LSH | op::X,
        op::ALU | op::RSH | op::K,
        op::ALU | op::DIV | op::X,
        op::JMP | op::JGT | op::K,
        op::JMP | op::JA,
        op::MISC | op::TAX,
    ];
    let code = match rng.below(8) {
        0 => rng.below(0x100) as u16,
        1 => op::LDX | op::IMM,
        2 => op::ALU | op::ADD | op::K,
        _ => codes[rng.below(codes.len() as u32) as usize],
    };
    let room = (len - pc - 1) as u32;
    let k = match rng.below(6) {
        0 => rng.next(),
        1 => 0xffff_f000 + rng.below(64),
        2 => rng.below(40),
        _ if code == op::JMP | op::JA && !forward_only => {
            // Backward or past the end, now and then.
            (rng.below(room + 2) as i64 - rng.below(4) as i64) as u32
        }
        _ if code == op::JMP | op::JA => rng.below(room.max(1)),
        _ => rng.below(20),
    };
    let j = |rng: &mut Rng| {
        if forward_only {
            rng.below(room.clamp(1, 255)) as u8
        } else {
            rng.below(room + 2).min(255) as u8
        }
    };
    let (jt, jf) = (j(rng), j(rng));
    Insn { code, jt, jf, k }
}

#[test]
fn random_programs_validate_and_run_as_libpcaps() {
    let Some(lib) = LibPcap::load_or_skip() else {
        return;
    };
    let mut rng = Rng(0xc0ffee);
    let (mut accepted, mut run_count) = (0, 0);
    for round in 0..6000 {
        let forward_only = round % 2 == 0;
        let len = 2 + rng.below(12) as usize;
        let mut insns: Vec<Insn> = Vec::with_capacity(len + 16);
        if forward_only {
            // libpcap's scratch is uninitialised; ours reads 0. Write every
            // cell first so the two can be compared.
            for m in 0..op::MEMWORDS {
                insns.push(Insn::stmt(op::ST, m));
            }
        }
        let base = insns.len();
        for pc in 0..len {
            insns.push(random_insn(&mut rng, base + pc, base + len, forward_only));
        }
        if rng.below(4) != 0 {
            let last = insns.len() - 1;
            insns[last] = Insn::stmt(
                if rng.below(2) == 0 {
                    op::RET | op::A
                } else {
                    op::RET | op::K
                },
                rng.next(),
            );
        }
        let prog = Program::new(insns);
        let theirs = lib.validate(&prog) && prog.insns.iter().all(|i| code_allowed(i.code));
        let ours = validate(&prog);
        assert_eq!(
            ours.is_ok(),
            theirs,
            "validate {:?}: ours {ours:?}",
            prog.insns
        );
        if ours.is_err() {
            continue;
        }
        accepted += 1;
        // Conditional jumps only go forwards and `ja` did too: it ends.
        if !forward_only {
            continue;
        }
        for _ in 0..8 {
            let n = rng.below(48) as usize;
            let packet: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            same_verdict(&lib, &prog, &packet, "random program");
            run_count += 1;
        }
    }
    eprintln!("random programs: {accepted} of 6000 valid, {run_count} runs agree with bpf_filter");
    assert!(accepted > 1000 && run_count > 4000);
}

#[test]
fn cli_check_and_run_take_libpcap() {
    // libpcap's `ip protochain 17` on RAW (`tcpdump -ddd -y RAW`): its
    // `ja` at instruction 20 goes back to 5.
    let Some(lib) = LibPcap::load_or_skip() else {
        return;
    };
    let prog = lib
        .compile("RAW", "ip protochain 17", true)
        .expect("compiles");
    let text = cranebpf::cbpf::print::comma(&prog);
    let (code, _, err) = support::cli(&["check", "--ddd", &text]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("instruction 20: jump target"), "{err}");
    let (code, out, err) = support::cli(&["check", "--libpcap", "--ddd", &text]);
    assert_eq!((code, out.as_str()), (0, "ok\n"), "{err}");
    // UDP directly, then UDP behind an AH header (protocol 51).
    let udp = "45000020000000000011000001020304050607080000000000000000";
    let ah = "4500002000000000003300000102030405060708110400000000000000000000";
    let (code, out, err) =
        support::cli(&["run", "--libpcap", "--ddd", &text, "--hex", udp, ah, "-"]);
    assert_eq!(code, 0, "{err}");
    let theirs: Vec<String> = [udp, ah, ""]
        .iter()
        .map(|h| {
            let bytes: Vec<u8> = (0..h.len() / 2)
                .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            format!("{}\n", lib.filter(&prog, &bytes))
        })
        .collect();
    assert_eq!(out, theirs.concat());
    assert_eq!(out, "262144\n262144\n0\n");
}

/// libpcap's dialect through the front door: `Filter` with
/// `Dialect::Libpcap` and `cranebpf filter --libpcap` keep exactly the
/// packets libpcap's `bpf_filter` keeps, on the captures of every program
/// above; Linux's dialect refuses those programs (exit 1), and the
/// dialect runs on the classic interpreter only.
#[test]
fn filter_takes_libpcap() {
    use cranebpf::{Dialect, Engine, Filter, FilterError, FilterOptions};
    let Some(lib) = LibPcap::load_or_skip() else {
        return;
    };
    let Some(dir) = capture_dir() else {
        return;
    };
    let libpcap = FilterOptions {
        dialect: Dialect::Libpcap,
        ..FilterOptions::default()
    };
    for &(link, expr, capture) in PROGRAMS {
        let prog = lib.compile(link, expr, true).expect("libpcap compiles it");
        let filter = Filter::with_options(prog.clone(), libpcap.clone()).expect("builds");
        assert_eq!(
            (filter.engine(), filter.dialect()),
            (Engine::Cbpf, Dialect::Libpcap)
        );
        let path = dir.join(capture);
        let bytes = std::fs::read(&path).expect("read capture");
        let packets = cranebpf::capture::packets(&bytes).expect("capture parses");
        let mut kept = 0;
        for (_, p) in &packets {
            let theirs = lib.filter(&prog, p.data);
            assert_eq!(filter.run(p.data), theirs, "-y {link} {expr}");
            kept += usize::from(theirs != 0);
        }
        if link != "EN10MB" {
            continue; // the capture is Ethernet: only those filters fit it
        }
        let text = cranebpf::cbpf::print::comma(&prog);
        let path = path.to_str().expect("utf8");
        let (code, out, err) =
            support::cli(&["filter", "-q", "--libpcap", "-r", path, "--ddd", &text]);
        assert_eq!(
            (code, out.trim()),
            (0, kept.to_string().as_str()),
            "{expr}: {err}"
        );
        let (code, _, err) = support::cli(&["filter", "-q", "-r", path, "--ddd", &text]);
        assert_eq!(code, 1, "{expr}: Linux's dialect must refuse it: {err}");
        assert!(
            err.contains("rejected (the kernel would not run it)"),
            "{err}"
        );
    }
    let prog = lib
        .compile("RAW", "ip protochain 17", true)
        .expect("compiles");
    for engine in [Engine::Interp, Engine::Jit] {
        let options = FilterOptions {
            engine: Some(engine),
            ..libpcap.clone()
        };
        assert!(matches!(
            Filter::with_options(prog.clone(), options),
            Err(FilterError::EngineForDialect(e, Dialect::Libpcap)) if e == engine
        ));
    }
    // What bpf_validate refuses is refused in libpcap's dialect too.
    let jumps_out = Program::new(vec![Insn::jump(op::JMP | op::JA, 5, 0, 0)]);
    assert!(matches!(
        Filter::with_options(jumps_out, libpcap),
        Err(FilterError::RejectedByLibpcap(_))
    ));
}
