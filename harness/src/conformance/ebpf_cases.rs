//! eBPF socket-filter programs for the corpus, as `|`-separated assembly:
//! every ALU and ALU64 operation (immediate and register, `neg`, `movsx`,
//! byte order), every JMP and JMP32 condition, and `LD_ABS`/`LD_IND` of
//! every size at and around the packet edge and in the `SKF_NET_OFF` area.
//!
//! `retval` is only the low 32 bits of r0, so each program that computes a
//! 64-bit value also comes in a variant ending in `rsh %r0, 32`. Immediates
//! stay inside what the kernel's verifier accepts (no division by an
//! immediate 0, immediate shifts within the width).

use crate::Rng;
use cranebpf::ebpf::semantics::SKF_NET_OFF;

/// Every two-operand ALU mnemonic (both widths come from a `32` suffix).
const ALU_OPS: [&str; 14] = [
    "add", "sub", "mul", "div", "sdiv", "mod", "smod", "or", "and", "xor", "lsh", "rsh", "arsh",
    "mov",
];
/// Every conditional jump mnemonic.
const JMP_OPS: [&str; 11] = [
    "jeq", "jne", "jgt", "jge", "jlt", "jle", "jset", "jsgt", "jsge", "jslt", "jsle",
];

/// An immediate for `op` at `width` bits that the kernel's verifier
/// accepts (no division by an immediate 0, shifts within the width).
fn legal_imm(rng: &mut Rng, op: &str, width: u32) -> i32 {
    match op {
        "lsh" | "rsh" | "arsh" => rng.below(width as u64) as i32,
        "div" | "sdiv" | "mod" | "smod" => match rng.edgy_u64() as i32 {
            0 => -1,
            v => v,
        },
        _ => rng.edgy_u64() as i32,
    }
}

/// One ALU instruction on r3 (with r4 as the register operand).
fn alu_insn(rng: &mut Rng) -> String {
    let (sfx, width) = *rng.pick(&[("", 64u32), ("32", 32)]);
    match rng.below(10) {
        0 => format!("neg{sfx} %r3"),
        1 => format!(
            "{} %r3, %r4",
            rng.pick(&[
                "movsx832",
                "movsx1632",
                "movsx864",
                "movsx1664",
                "movsx3264"
            ])
        ),
        2 => format!(
            "{}{} %r3",
            rng.pick(&["le", "be", "bswap"]),
            rng.pick(&[16, 32, 64])
        ),
        3..=5 => format!("{}{sfx} %r3, %r4", rng.pick(&ALU_OPS)),
        _ => {
            let op = *rng.pick(&ALU_OPS);
            format!("{op}{sfx} %r3, {}", legal_imm(rng, op, width))
        }
    }
}

/// The two tails: low half of r3, high half of r3.
fn with_tails(body: &str) -> [String; 2] {
    [
        format!("{body} | mov %r0, %r3 | exit"),
        format!("{body} | mov %r0, %r3 | rsh %r0, 32 | exit"),
    ]
}

/// Programs that read no packet (run on an empty payload).
pub fn alu_and_jump_programs(rng: &mut Rng) -> Vec<String> {
    let mut out = Vec::new();
    let init = |rng: &mut Rng| {
        format!(
            "lddw %r3, {:#x} | lddw %r4, {:#x}",
            rng.edgy_u64(),
            rng.edgy_u64()
        )
    };
    // Every ALU op, both widths, both operand kinds, several operand pairs.
    for _ in 0..4 {
        for (sfx, width) in [("", 64), ("32", 32)] {
            for op in ALU_OPS {
                let imm = legal_imm(rng, op, width);
                for body in [
                    format!("{op}{sfx} %r3, {imm}"),
                    format!("{op}{sfx} %r3, %r4"),
                ] {
                    out.extend(with_tails(&format!("{} | {body}", init(rng))));
                }
            }
            out.extend(with_tails(&format!("{} | neg{sfx} %r3", init(rng))));
        }
        for mx in [
            "movsx832",
            "movsx1632",
            "movsx864",
            "movsx1664",
            "movsx3264",
        ] {
            out.extend(with_tails(&format!("{} | {mx} %r3, %r4", init(rng))));
        }
        for kind in ["le", "be", "bswap"] {
            for w in [16, 32, 64] {
                out.extend(with_tails(&format!("{} | {kind}{w} %r3", init(rng))));
            }
        }
    }
    // Chains of ALU ops.
    for _ in 0..150 {
        let mut body = init(rng);
        for _ in 0..1 + rng.below(10) {
            body.push_str(" | ");
            body.push_str(&alu_insn(rng));
            if rng.chance(1, 4) {
                body.push_str(" | mov %r4, %r3");
            }
        }
        out.extend(with_tails(&body));
    }
    // Every condition, both widths, immediate and register.
    for _ in 0..6 {
        for sfx in ["", "32"] {
            for op in JMP_OPS {
                let a = rng.edgy_u64();
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
                    out.push(format!(
                        "lddw %r3, {a:#x} | lddw %r4, {b:#x} | mov %r0, 1 | \
                         {op}{sfx} %r3, {operand}, +1 | mov %r0, 2 | exit"
                    ));
                }
            }
        }
    }
    // Unconditional jumps (the kernel refuses unreachable code, so the
    // skipped `mov` is reachable from a never-taken null check).
    for ja in ["ja +1", "ja32 +1"] {
        out.push(format!(
            "mov %r0, 1 | jeq %r1, 0, +1 | {ja} | mov %r0, 2 | exit"
        ));
    }
    out
}

/// Payload lengths the packet-load programs run on.
pub const PAYLOAD_LENS: [usize; 12] = [0, 1, 2, 3, 4, 5, 7, 8, 13, 40, 64, 1500];

/// `LD_ABS`/`LD_IND` programs (each is run on every payload).
pub fn packet_load_programs(rng: &mut Rng) -> Vec<String> {
    let mut out = Vec::new();
    for len in [0i64, 1, 2, 4, 5, 8, 13, 40, 64, 1500] {
        for (sfx, size) in [("b", 1i64), ("h", 2), ("w", 4)] {
            let mut offsets = vec![0, len - size - 1, len - size, len - size + 1, len, -1];
            offsets.push(SKF_NET_OFF as i64 + (len - size).max(0));
            offsets.push(SKF_NET_OFF as i64 + len - size + 1);
            offsets.push(SKF_NET_OFF as i64 - 1);
            offsets.sort();
            offsets.dedup();
            for k in offsets {
                let reg = match rng.below(3) {
                    0 => 0u64,
                    1 => 0xffff_ffff,
                    _ => 0xdead_beef_0000_0000 | rng.below(8),
                };
                let imm = (k as i32).wrapping_sub(reg as u32 as i32);
                for load in [
                    format!("ldabs{sfx} {k}"),
                    format!("lddw %r7, {reg:#x} | ldind{sfx} %r7, {imm}"),
                ] {
                    for tail in ["", "mov %r0, 7 | "] {
                        out.push(format!("mov %r6, %r1 | {load} | {tail}exit"));
                    }
                }
            }
        }
    }
    out
}
