//! Differential tests against the running kernel: seeded, generated
//! ALU/ALU64/JMP/JMP32 and legacy packet-load programs are loaded with
//! BPF_PROG_LOAD (socket filter) and run with BPF_PROG_TEST_RUN; the
//! interpreter must return the same value. `retval` is the low 32 bits of
//! r0, so each ALU program also runs in a variant ending in `rsh r0, 32`.
//!
//! Needs root and bpf(): skipped with a reason otherwise, but under CI=true
//! a missing bpf() is a failure.

use cranebpf::conformance::ebpf_cases::{legal_imm, ALU_OPS, JMP_OPS};
use cranebpf::ebpf::asm::assemble;
use cranebpf::ebpf::interp::{run, RunOptions};
use cranebpf::ebpf::semantics::SKF_NET_OFF;
use cranebpf::kernel::bpf::{available, SocketFilter, ETH_HLEN};
use cranebpf::rng::Rng;

fn kernel_available() -> bool {
    match available() {
        Ok(()) => true,
        Err(why) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("bpf() unavailable under CI=true: {why}");
            }
            eprintln!("skipping kernel comparison: bpf() unavailable: {why}");
            false
        }
    }
}

/// Runs `asm` in the kernel on `payload` (behind a 14-byte Ethernet header)
/// and in the interpreter on `payload`; returns a description on mismatch.
fn compare(asm: &str, payload: &[u8]) -> Option<String> {
    let prog = assemble(asm).unwrap_or_else(|e| panic!("{e}\n{asm}"));
    let mut mem = payload.to_vec();
    let ours = run(&prog, &mut mem, &RunOptions::default())
        .unwrap_or_else(|e| panic!("interpreter: {e}\n{asm}"));
    let kernel = match SocketFilter::load(&prog.insns) {
        Ok(f) => f,
        Err(e) => return Some(format!("kernel refused:\n{asm}\n{e}")),
    };
    let mut data = vec![0u8; ETH_HLEN];
    data.extend_from_slice(payload);
    let theirs = kernel.test_run(&data).expect("BPF_PROG_TEST_RUN");
    (theirs != ours as u32).then(|| {
        format!(
            "kernel {theirs:#x} != interpreter {:#x} (full {ours:#x}) on payload {payload:02x?}:\n{asm}",
            ours as u32
        )
    })
}

/// The ALU programs: each op (and neg, movsx, byte order) at both widths,
/// with an immediate and a register operand.
fn alu_bodies(rng: &mut Rng) -> Vec<String> {
    let mut bodies = Vec::new();
    for round in 0..3 {
        for (sfx, width) in [("", 64), ("32", 32)] {
            for op in ALU_OPS {
                let imm = legal_imm(rng, op, width);
                bodies.push(format!("{op}{sfx} %r3, {imm}"));
                bodies.push(format!("{op}{sfx} %r3, %r4"));
            }
            bodies.push(format!("neg{sfx} %r3"));
        }
        for mx in [
            "movsx832",
            "movsx1632",
            "movsx864",
            "movsx1664",
            "movsx3264",
        ] {
            bodies.push(format!("{mx} %r3, %r4"));
        }
        for kind in ["le", "be", "bswap"] {
            for w in [16, 32, 64] {
                if round == 0 || rng.below(2) == 0 {
                    bodies.push(format!("{kind}{w} %r3"));
                }
            }
        }
    }
    bodies
}

#[test]
fn alu_matches_kernel() {
    if !kernel_available() {
        return;
    }
    let mut rng = Rng::new(0x005e_eda1);
    let mut failures = Vec::new();
    let bodies = alu_bodies(&mut rng);
    for body in &bodies {
        let (a, b) = (rng.edgy_u64(), rng.edgy_u64());
        for tail in ["", "rsh %r0, 32\n"] {
            let asm =
                format!("lddw %r3, {a:#x}\nlddw %r4, {b:#x}\n{body}\nmov %r0, %r3\n{tail}exit\n");
            failures.extend(compare(&asm, &[]));
        }
    }
    assert!(bodies.len() >= 150, "only {} ALU programs", bodies.len());
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Named edge cases, each with its own operands, against the kernel.
#[test]
fn edge_cases_match_kernel() {
    if !kernel_available() {
        return;
    }
    let min64 = 0x8000_0000_0000_0000u64;
    let cases: [(&str, u64, u64); 14] = [
        ("mod32 %r3, %r4", 0x1234_5678_0000_0005, 0),
        ("smod32 %r3, %r4", 0xffff_ffff_ffff_fff6, 0),
        ("mod %r3, %r4", 0x1234_5678_0000_0005, 0),
        ("div32 %r3, %r4", 7, 0x1_0000_0000),
        ("mod32 %r3, %r4", 7, 0x1_0000_0000),
        ("div %r3, %r4", 7, 0),
        ("sdiv %r3, %r4", min64, u64::MAX),
        ("smod %r3, %r4", min64, u64::MAX),
        ("sdiv32 %r3, %r4", 0x8000_0000, u64::MAX),
        ("smod32 %r3, %r4", 0x8000_0000, u64::MAX),
        ("lsh %r3, %r4", 1, 65),
        ("arsh32 %r3, %r4", 0x8000_0000, 33),
        ("movsx832 %r3, %r4", 0, 0xffff_ffff_ffff_ff80),
        ("div %r3, -1", u64::MAX, 0),
    ];
    let mut failures = Vec::new();
    for (body, a, b) in cases {
        for tail in ["", "rsh %r0, 32\n"] {
            let asm =
                format!("lddw %r3, {a:#x}\nlddw %r4, {b:#x}\n{body}\nmov %r0, %r3\n{tail}exit\n");
            failures.extend(compare(&asm, &[]));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn jumps_match_kernel() {
    if !kernel_available() {
        return;
    }
    let mut rng = Rng::new(0x5eed_0707);
    let mut failures = Vec::new();
    let mut count = 0;
    for _ in 0..4 {
        for sfx in ["", "32"] {
            for op in JMP_OPS {
                let a = rng.edgy_u64();
                // Often compare against a close or equal value.
                let b = match rng.below(3) {
                    0 => a,
                    1 => a.wrapping_add(rng.below(3)).wrapping_sub(1),
                    _ => rng.edgy_u64(),
                };
                let imm = match rng.below(3) {
                    0 => a as i32,
                    1 => b as i32,
                    _ => rng.edgy_u64() as i32,
                };
                for operand in [imm.to_string(), "%r4".to_string()] {
                    let asm = format!(
                        "lddw %r3, {a:#x}\nlddw %r4, {b:#x}\nmov %r0, 1\n\
                         {op}{sfx} %r3, {operand}, +1\nmov %r0, 2\nexit\n"
                    );
                    failures.extend(compare(&asm, &[]));
                    count += 1;
                }
            }
        }
    }
    for ja in ["ja +1", "ja32 +1"] {
        // The kernel refuses unreachable code, so the skipped `mov` is
        // reachable from a (never taken) null check of the context.
        let asm = format!("mov %r0, 1\njeq %r1, 0, +1\n{ja}\nmov %r0, 2\nexit\n");
        failures.extend(compare(&asm, &[]));
        count += 1;
    }
    assert!(count >= 170);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// LD_ABS and LD_IND at every size, at and past the packet edge, plus the
/// kernel's network-header-relative negative offsets. Each load runs twice:
/// returning the loaded value, and returning 7 afterwards (0 means the
/// load ended the program).
#[test]
fn legacy_packet_loads_match_kernel() {
    if !kernel_available() {
        return;
    }
    let mut rng = Rng::new(0x0001_dab5);
    let mut failures = Vec::new();
    let mut count = 0;
    for len in [0usize, 1, 2, 3, 4, 5, 7, 8, 13, 40] {
        let payload: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        for (sfx, size) in [("b", 1i64), ("h", 2), ("w", 4)] {
            let l = len as i64;
            let mut offsets = vec![0, l - size - 1, l - size, l - size + 1, l, -1];
            offsets.push(SKF_NET_OFF as i64 + (l - size).max(0));
            offsets.push(SKF_NET_OFF as i64 + l - size + 1);
            offsets.push(SKF_NET_OFF as i64 - 1);
            for k in offsets {
                // LD_IND: split k into a register part and an immediate,
                // sometimes so that the 32-bit sum wraps.
                let reg = match rng.below(3) {
                    0 => 0u64,
                    1 => 0xffff_ffff,
                    _ => 0xdead_beef_0000_0000 | rng.below(8),
                };
                let imm = (k as i32).wrapping_sub(reg as u32 as i32);
                for load in [
                    format!("ldabs{sfx} {k}"),
                    format!("lddw %r7, {reg:#x}\nldind{sfx} %r7, {imm}"),
                ] {
                    for tail in ["", "mov %r0, 7\n"] {
                        let asm = format!("mov %r6, %r1\n{load}\n{tail}exit\n");
                        failures.extend(compare(&asm, &payload));
                        count += 1;
                    }
                }
            }
        }
    }
    assert!(count >= 500);
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// Documents what a socket-filter test run does with `data_in`: the first
/// 14 bytes (Ethernet header) are stripped, so `skb->len` (`__sk_buff`
/// offset 0) is `len - 14` and `LD_ABS 0` reads `data_in[14]`.
#[test]
fn socket_filter_test_run_strips_ethernet_header() {
    if !kernel_available() {
        return;
    }
    let data: Vec<u8> = (0..40u8).collect();
    let len = assemble("ldxw %r0, [%r1]\nexit\n").expect("asm");
    let f = SocketFilter::load(&len.insns).expect("load");
    assert_eq!(f.test_run(&data).expect("run"), 40 - ETH_HLEN as u32);
    let first = assemble("mov %r6, %r1\nldabsb 0\nexit\n").expect("asm");
    let f = SocketFilter::load(&first.insns).expect("load");
    assert_eq!(f.test_run(&data).expect("run"), ETH_HLEN as u32);
    // Exactly the Ethernet header and nothing else is accepted as input.
    assert!(f.test_run(&data[..ETH_HLEN]).is_ok());
    assert!(f.test_run(&data[..ETH_HLEN - 1]).is_err());
}
