//! Replays generated classic programs through the running kernel
//! (SO_ATTACH_FILTER on an AF_UNIX datagram socket pair) and checks that our
//! checker accepts exactly what the kernel accepts and that our interpreter's
//! verdicts give exactly the deliveries the kernel makes.
//!
//! With CI=true a missing kernel facility is a failure; elsewhere the test
//! skips with a printed reason.

#![cfg(target_os = "linux")]

use cranebpf::cbpf::ancillary::{Ancillary, ALL};
use cranebpf::cbpf::insn::{op, skf};
use cranebpf::cbpf::{check::check, interp, print, Insn, Metadata, Program};
use cranebpf_harness::kernel::classic::{pin_to_cpu, Delivery, SocketPair};
use cranebpf_harness::Rng;

/// A socket pair, or `None` (after explaining) when the kernel cannot be
/// used here.
fn kernel() -> Option<(SocketPair, Metadata)> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let setup = || -> Result<(SocketPair, Metadata), String> {
        let cpu = pin_to_cpu(0).map_err(|e| format!("cannot pin to a CPU: {e}"))?;
        let pair = SocketPair::new().map_err(|e| format!("socketpair: {e}"))?;
        let trivial = Program::new(vec![Insn::stmt(op::RET | op::K, 1)]);
        pair.attach(&trivial)
            .map_err(|e| format!("SO_ATTACH_FILTER: {e}"))?;
        let meta = Metadata {
            cpu: cpu as u32,
            ..Metadata::default()
        };
        Ok((pair, meta))
    };
    match setup() {
        Ok(k) => Some(k),
        Err(why) if ci => panic!("kernel classic BPF unavailable under CI=true: {why}"),
        Err(why) => {
            eprintln!("skipping kernel comparison: {why}");
            None
        }
    }
}

fn hex(p: &[u8]) -> String {
    p.iter().map(|b| format!("{b:02x}")).collect()
}

/// Attaches `prog` and asserts the kernel's answer matches `check`; when
/// accepted, asserts every packet's delivery matches the interpreter.
/// Returns whether the kernel accepted it.
fn compare(pair: &mut SocketPair, meta: &Metadata, prog: &Program, packets: &[Vec<u8>]) -> bool {
    let ours = check(prog);
    let theirs = pair.attach(prog);
    match (&ours, &theirs) {
        (Ok(()), Ok(())) => {}
        (Err(_), Err(e)) => {
            assert_eq!(
                e.errno,
                libc::EINVAL,
                "kernel errno for\n{}",
                print::asm(prog)
            );
            return false;
        }
        _ => panic!(
            "checker disagrees with kernel: ours {:?}, kernel {:?}\n{}",
            ours.map_err(|e| e.to_string()),
            theirs.map_err(|e| e.to_string()),
            print::disasm(prog)
        ),
    }
    for packet in packets {
        let verdict = interp::run(prog, packet, meta);
        let got = pair.deliver(packet).expect("send/recv");
        assert_eq!(
            got,
            Delivery::expected(verdict, packet.len()),
            "verdict {verdict} disagrees with kernel on packet {}\n{}",
            hex(packet),
            print::disasm(prog)
        );
    }
    true
}

const INTERESTING: [u32; 12] = [
    0,
    1,
    2,
    3,
    4,
    14,
    31,
    32,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_fffe,
    0xffff_ffff,
];

fn constant(r: &mut Rng) -> u32 {
    match r.below(3) {
        0 => *r.pick(&INTERESTING),
        1 => r.below(300) as u32,
        _ => r.next_u32(),
    }
}

/// A packet offset: small, near the end of typical packets, in the
/// SKF_NET_OFF / SKF_LL_OFF areas, or anywhere.
fn offset(r: &mut Rng) -> u32 {
    match r.below(8) {
        0..=2 => r.below(64) as u32,
        3 => 200 + r.below(450) as u32,
        4 => (skf::NET_OFF + r.below(80) as i32) as u32,
        5 => (skf::LL_OFF + r.below(40) as i32) as u32,
        6 => (skf::AD_OFF - 1 - r.below(4) as i32) as u32,
        _ => r.next_u32() & 0x7fff_ffff,
    }
}

/// A value for X before an indirect load.
fn index(r: &mut Rng) -> u32 {
    match r.below(6) {
        0..=2 => r.below(64) as u32,
        3 => (skf::NET_OFF + r.below(40) as i32) as u32,
        4 => (skf::AD_OFF + 4 * r.below(16) as i32) as u32,
        _ => r.next_u32(),
    }
}

/// Appends one valid instruction (or a short valid unit) at the end of
/// `out`; jumps may go at most `room` instructions past the next one.
/// `scratch_ok` says whether scratch reads are known to be initialised.
fn valid_unit(r: &mut Rng, out: &mut Vec<Insn>, room: usize, scratch_ok: bool) {
    use op::*;
    let sizes = [W, H, B];
    let jump_room = room.min(255);
    let stmt = Insn::stmt;
    match r.below(22) {
        0 => out.push(stmt(LD | IMM, constant(r))),
        1 => out.push(stmt(
            LDX | IMM,
            if r.chance(1, 2) {
                index(r)
            } else {
                constant(r)
            },
        )),
        2 => out.push(stmt(
            if r.chance(1, 2) {
                LD | W | LEN
            } else {
                LDX | W | LEN
            },
            0,
        )),
        3 => out.push(stmt(LD | *r.pick(&sizes) | ABS, offset(r))),
        4 => out.push(stmt(LD | *r.pick(&sizes) | IND, offset(r))),
        5 => out.push(stmt(LDX | B | MSH, offset(r))),
        6 => out.push(stmt(
            if r.chance(1, 2) { ST } else { STX },
            r.below(16) as u32,
        )),
        7 if scratch_ok => out.push(stmt(
            if r.chance(1, 2) { LD | MEM } else { LDX | MEM },
            r.below(16) as u32,
        )),
        8..=10 => {
            let ops = [ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH];
            let o = *r.pick(&ops);
            if r.chance(1, 2) {
                out.push(stmt(ALU | o | X, 0));
            } else {
                let k = match o {
                    DIV | MOD => constant(r).max(1),
                    LSH | RSH => r.below(32) as u32,
                    _ => constant(r),
                };
                out.push(stmt(ALU | o | K, k));
            }
        }
        11 => out.push(stmt(ALU | NEG, 0)),
        12 => out.push(stmt(
            if r.chance(1, 2) {
                MISC | TAX
            } else {
                MISC | TXA
            },
            0,
        )),
        13 if room > 0 => out.push(Insn::jump(JMP | JA, r.below(room as u64 + 1) as u32, 0, 0)),
        14..=16 if room > 0 => {
            let o = *r.pick(&[JEQ, JGT, JGE, JSET]);
            let src = if r.chance(1, 2) { X } else { K };
            let k = if src == K { constant(r) } else { 0 };
            let jt = r.below(jump_room as u64 + 1) as u8;
            let jf = r.below(jump_room as u64 + 1) as u8;
            out.push(Insn::jump(JMP | o | src, k, jt, jf));
        }
        17..=18 => {
            let anc = *r.pick(&ALL);
            let code = LD | *r.pick(&sizes) | ABS;
            if matches!(anc, Ancillary::NlAttr | Ancillary::NlAttrNest) && r.chance(2, 3) {
                out.push(stmt(LD | IMM, r.below(24) as u32));
                out.push(stmt(
                    LDX | IMM,
                    r.below(6) as u32 | if r.chance(1, 4) { 0x8000 } else { 0 },
                ));
            }
            out.push(stmt(code, anc.k()));
            if anc == Ancillary::Random {
                // The kernel's random numbers cannot be predicted: mask them.
                out.push(stmt(ALU | AND | K, 0));
            }
        }
        19 => out.push(stmt(RET | K, constant(r))),
        20 => out.push(stmt(RET | A, 0)),
        _ => out.push(stmt(LD | IMM, r.below(100) as u32)),
    }
}

/// An instruction the kernel's checker should usually refuse.
fn invalid_insn(r: &mut Rng, len: usize, pc: usize) -> Insn {
    use op::*;
    let past = (len - pc) as u32;
    match r.below(9) {
        0 => Insn::stmt(r.below(0x100) as u16, constant(r)),
        1 => Insn::stmt(r.next_u32() as u16, 0),
        2 => Insn::stmt(ALU | *r.pick(&[DIV, MOD]) | K, 0),
        3 => Insn::stmt(ALU | *r.pick(&[LSH, RSH]) | K, 32 + r.below(40) as u32),
        4 => Insn::stmt(
            *r.pick(&[ST, STX, LD | MEM, LDX | MEM]),
            16 + r.below(20) as u32,
        ),
        5 => Insn::jump(JMP | JA, past.saturating_sub(2) + r.below(3) as u32, 0, 0),
        6 => Insn::jump(
            JMP | JEQ | K,
            0,
            r.below(past as u64 + 2).min(255) as u8,
            r.below(3) as u8,
        ),
        7 => Insn::stmt(
            LD | *r.pick(&[W, H, B]) | ABS,
            (skf::AD_OFF + r.below(80) as i32) as u32,
        ),
        _ => Insn::stmt(LD | MEM, r.below(16) as u32),
    }
}

/// A random program mixing valid and invalid instructions.
fn checker_program(r: &mut Rng) -> Program {
    let len = 1 + r.below(20) as usize;
    let mut insns = Vec::new();
    while insns.len() < len {
        let pc = insns.len();
        if r.chance(1, 12) {
            insns.push(invalid_insn(r, len, pc));
        } else {
            let scratch_ok = r.chance(1, 2);
            valid_unit(r, &mut insns, len.saturating_sub(pc + 2), scratch_ok);
        }
    }
    insns.truncate(len);
    if r.chance(9, 10) {
        let last = if r.chance(1, 2) {
            Insn::stmt(op::RET | op::A, 0)
        } else {
            Insn::stmt(op::RET | op::K, constant(r))
        };
        insns.push(last);
    }
    Program::new(insns)
}

/// A packet: random bytes, sometimes shaped as a chain of netlink
/// attributes (host byte order) so `#nla`/`#nlan` find something.
fn packet(r: &mut Rng, len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|_| r.next_u32() as u8).collect();
    if r.chance(1, 2) {
        let mut at = r.below(12) as usize;
        while at + 4 <= len {
            let nla_len = 4 + r.below(20) as u16;
            let ty = r.below(6) as u16 | if r.chance(1, 4) { 0x8000 } else { 0 };
            p[at..at + 2].copy_from_slice(&nla_len.to_ne_bytes());
            p[at + 2..at + 4].copy_from_slice(&ty.to_ne_bytes());
            at += if r.chance(1, 3) {
                4
            } else {
                (nla_len as usize + 3) & !3
            };
        }
    }
    p
}

fn packet_set(r: &mut Rng) -> Vec<Vec<u8>> {
    let mut sizes = vec![0, 1, 2, 3, 14, 20, 34, 60, 100];
    sizes.push(200 + r.below(500) as usize);
    sizes.push(r.below(64) as usize);
    sizes.iter().map(|&n| packet(r, n)).collect()
}

#[test]
fn checker_and_interpreter_match_kernel_on_random_programs() {
    let Some((mut pair, meta)) = kernel() else {
        return;
    };
    let mut r = Rng::new(0x5eed_c1a5_5001);
    let (mut accepted, mut rejected) = (0, 0);
    for _ in 0..3000 {
        let prog = checker_program(&mut r);
        let packets = packet_set(&mut r);
        if compare(&mut pair, &meta, &prog, &packets) {
            accepted += 1;
        } else {
            rejected += 1;
        }
    }
    eprintln!("random programs: {accepted} accepted, {rejected} rejected by both");
    assert!(
        accepted > 300 && rejected > 300,
        "generator lost its balance"
    );
}

/// Programs whose whole 32-bit result is observed: a valid body followed by
/// a suffix that returns one byte of A plus 1, for each of the 4 bytes.
#[test]
fn interpreter_results_match_kernel_byte_for_byte() {
    let Some((mut pair, meta)) = kernel() else {
        return;
    };
    let mut r = Rng::new(0xb17e_5eed);
    let mut runs = 0;
    for _ in 0..500 {
        let body_len = 4 + r.below(30) as usize;
        let mut body = Vec::new();
        // Initialise every scratch cell so reads are always allowed.
        for cell in 0..16 {
            body.push(Insn::stmt(op::LD | op::IMM, constant(&mut r)));
            body.push(Insn::stmt(op::ST, cell));
        }
        body.push(Insn::stmt(op::LD | op::IMM, constant(&mut r)));
        let start = body.len();
        while body.len() - start < body_len {
            let room = start + body_len - body.len() - 1;
            let before = body.len();
            valid_unit(&mut r, &mut body, room, true);
            // Keep jumps inside the body: they may land at most on the suffix.
            if body.len() - start > body_len {
                body.truncate(before);
                body.push(Insn::stmt(op::MISC | op::TAX, 0));
            }
        }
        let mut packets: Vec<Vec<u8>> = (0..5)
            .map(|_| {
                let n = 256 + r.below(400) as usize;
                packet(&mut r, n)
            })
            .collect();
        if r.chance(1, 10) {
            let n = 16064 + r.below(3) as usize;
            packets.push(packet(&mut r, n));
        }
        for byte in 0..4 {
            let mut insns = body.clone();
            insns.push(Insn::stmt(op::ALU | op::RSH | op::K, 8 * byte));
            insns.push(Insn::stmt(op::ALU | op::AND | op::K, 0xff));
            insns.push(Insn::stmt(op::ALU | op::ADD | op::K, 1));
            insns.push(Insn::stmt(op::RET | op::A, 0));
            let prog = Program::new(insns);
            assert!(
                check(&prog).is_ok(),
                "generated body must be valid:\n{}",
                print::disasm(&prog)
            );
            assert!(compare(&mut pair, &meta, &prog, &packets));
            runs += packets.len();
        }
    }
    eprintln!("byte-observed runs: {runs}");
}

fn p(insns: &[(u16, u8, u8, u32)]) -> Program {
    Program::new(
        insns
            .iter()
            .map(|&(code, jt, jf, k)| Insn { code, jt, jf, k })
            .collect(),
    )
}

/// Hand-picked edge cases, each compared with the kernel.
#[test]
fn edge_cases_match_kernel() {
    let Some((mut pair, meta)) = kernel() else {
        return;
    };
    let mut r = Rng::new(3);
    let packets = packet_set(&mut r);
    let ret_k = op::RET | op::K;
    let cases: Vec<Program> = vec![
        Program::new(vec![]),
        // The scratch pass is linear and `ret` resets nothing: accepted.
        p(&[
            (op::LD | op::IMM, 0, 0, 5),
            (op::ST, 0, 0, 0),
            (ret_k, 0, 0, 1),
            (op::LD | op::MEM, 0, 0, 0),
            (op::RET | op::A, 0, 0, 0),
        ]),
        // Unreachable read after a jump over it: accepted (after a jump
        // everything counts as written).
        p(&[
            (op::JMP | op::JA, 0, 0, 1),
            (op::LD | op::MEM, 0, 0, 3),
            (ret_k, 0, 0, 1),
        ]),
        // A read reachable by a jump from before the write: refused.
        p(&[
            (op::JMP | op::JEQ | op::K, 1, 0, 0),
            (op::ST, 0, 0, 2),
            (op::LD | op::MEM, 0, 0, 2),
            (op::RET | op::A, 0, 0, 0),
        ]),
        // Jump to the last instruction: fine; one further: refused.
        p(&[(op::JMP | op::JA, 0, 0, 0), (ret_k, 0, 0, 9)]),
        p(&[(op::JMP | op::JA, 0, 0, 1), (ret_k, 0, 0, 9)]),
        p(&[(op::JMP | op::JA, 0, 0, u32::MAX), (ret_k, 0, 0, 9)]),
        // ifindex with no device ends the program returning A.
        p(&[
            (op::LD | op::IMM, 0, 0, 77),
            (op::LD | op::W | op::ABS, 0, 0, Ancillary::IfIndex.k()),
            (ret_k, 0, 0, 1000),
        ]),
        p(&[
            (op::LD | op::IMM, 0, 0, 5),
            (op::LD | op::B | op::ABS, 0, 0, Ancillary::HaType.k()),
            (ret_k, 0, 0, 1000),
        ]),
        // RET X exists in bpf_asm but not in the kernel.
        p(&[(op::RET | op::X, 0, 0, 0)]),
        // Shift by X = 33 shifts by 1.
        p(&[
            (op::LD | op::IMM, 0, 0, 3),
            (op::LDX | op::IMM, 0, 0, 33),
            (op::ALU | op::LSH | op::X, 0, 0, 0),
            (op::RET | op::A, 0, 0, 0),
        ]),
        // SKF_AD_OFF + 1 and + 64 are refused; SKF_AD_OFF - 1 is accepted.
        p(&[
            (op::LD | op::H | op::ABS, 0, 0, (skf::AD_OFF + 1) as u32),
            (ret_k, 0, 0, 1),
        ]),
        p(&[
            (op::LD | op::H | op::ABS, 0, 0, (skf::AD_OFF + 64) as u32),
            (ret_k, 0, 0, 1),
        ]),
        p(&[
            (op::LD | op::H | op::ABS, 0, 0, (skf::AD_OFF - 1) as u32),
            (ret_k, 0, 0, 1),
        ]),
    ];
    for prog in &cases {
        compare(&mut pair, &meta, prog, &packets);
    }
    // Length limits: 4096 instructions accepted, 4097 refused.
    let mut long = vec![Insn::stmt(op::LD | op::IMM, 1); 4095];
    long.push(Insn::stmt(ret_k, 7));
    assert!(compare(
        &mut pair,
        &meta,
        &Program::new(long.clone()),
        &packets
    ));
    long.insert(0, Insn::stmt(op::LD | op::IMM, 1));
    assert!(!compare(&mut pair, &meta, &Program::new(long), &packets));
}

/// `#nla` finds attributes only in linear socket buffers: AF_UNIX keeps
/// datagrams of up to 16064 bytes linear.
#[test]
fn nlattr_stops_at_nonlinear_packets() {
    let Some((mut pair, meta)) = kernel() else {
        return;
    };
    let prog = p(&[
        (op::LDX | op::IMM, 0, 0, 5),
        (op::LD | op::IMM, 0, 0, 0),
        (op::LD | op::W | op::ABS, 0, 0, Ancillary::NlAttr.k()),
        (op::ALU | op::ADD | op::K, 0, 0, 1),
        (op::RET | op::A, 0, 0, 0),
    ]);
    let mut packets = Vec::new();
    for len in [300, 16063, 16064, 16065, 20000] {
        let mut pk = vec![0u8; len];
        pk[0..2].copy_from_slice(&4u16.to_ne_bytes());
        pk[2..4].copy_from_slice(&1u16.to_ne_bytes());
        pk[4..6].copy_from_slice(&8u16.to_ne_bytes());
        pk[6..8].copy_from_slice(&5u16.to_ne_bytes());
        packets.push(pk);
    }
    assert!(compare(&mut pair, &meta, &prog, &packets));
    assert_eq!(interp::run(&prog, &packets[2], &meta), 5);
    assert_eq!(interp::run(&prog, &packets[3], &meta), 1);
}
