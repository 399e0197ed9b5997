//! Differential tests against the running kernel: the corpus's seeded
//! ALU/ALU64/JMP/JMP32 and legacy packet-load families
//! (`conformance::ebpf_cases`, with fresh operands) are loaded with
//! BPF_PROG_LOAD (socket filter) and run with BPF_PROG_TEST_RUN; the
//! interpreter must return the same value. `retval` is the low 32 bits of
//! r0, so each ALU program also runs in a variant ending in `rsh r0, 32`.
//!
//! Needs root and bpf(): skipped with a reason otherwise, but under CI=true
//! a missing bpf() is a failure.

mod support;

use cranebpf::ebpf::asm::assemble;
use cranebpf::ebpf::interp::{run, RunOptions};
use cranebpf_harness::conformance::ebpf_cases::{
    alu_and_jump_programs, packet_load_programs, PAYLOAD_LENS,
};
use cranebpf_harness::kernel::bpf::{SocketFilter, ETH_HLEN};
use cranebpf_harness::Rng;

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

/// Runs every program (`|`-separated assembly, as the corpus writes it) on
/// every payload; returns the number of runs and the mismatches.
fn compare_all<'a>(
    programs: impl Iterator<Item = &'a String>,
    payloads: &[Vec<u8>],
) -> (usize, Vec<String>) {
    let mut failures = Vec::new();
    let mut count = 0;
    for source in programs {
        let asm = source.replace('|', "\n");
        for payload in payloads {
            failures.extend(compare(&asm, payload));
            count += 1;
        }
    }
    (count, failures)
}

/// The corpus's ALU and jump families with fresh operands: jump programs
/// are the ones with a conditional branch (`, +1`).
fn alu_and_jumps(seed: u64) -> (Vec<String>, Vec<String>) {
    alu_and_jump_programs(&mut Rng::new(seed))
        .into_iter()
        .partition(|p| !p.contains(", +1") && !p.contains("ja"))
}

/// Each ALU op (and neg, movsx, byte order) at both widths, with an
/// immediate and a register operand, low and high half of the result.
#[test]
fn alu_matches_kernel() {
    if !support::bpf_available() {
        return;
    }
    let (alu, _) = alu_and_jumps(0x005e_eda1);
    let (count, failures) = compare_all(alu.iter(), &[Vec::new()]);
    assert!(count >= 300, "only {count} ALU programs");
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
    if !support::bpf_available() {
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

/// Every condition at both widths, immediate and register, and `ja`/`ja32`.
#[test]
fn jumps_match_kernel() {
    if !support::bpf_available() {
        return;
    }
    let (_, jumps) = alu_and_jumps(0x5eed_0707);
    let (count, failures) = compare_all(jumps.iter(), &[Vec::new()]);
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
    if !support::bpf_available() {
        return;
    }
    let mut rng = Rng::new(0x0001_dab5);
    let payloads: Vec<Vec<u8>> = PAYLOAD_LENS
        .iter()
        .map(|&n| (0..n).map(|_| rng.below(256) as u8).collect())
        .collect();
    let programs = packet_load_programs(&mut rng);
    let (count, failures) = compare_all(programs.iter(), &payloads);
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
    if !support::bpf_available() {
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
