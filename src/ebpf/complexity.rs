//! The kernel verifier's limit of 1,000,000 processed instructions
//! (`BPF program is too large. Processed 1000001 insn`), where this crate
//! can know for sure that a program passes it: a loop with a constant
//! trip count the kernel walks iteration by iteration, which the
//! verifier's own termination proof accepts whatever the count.
//!
//! The kernel explores depth first: at a branch it cannot decide it goes
//! on with the fall-through and keeps the other side for later; at one
//! its registers decide it follows the side taken. Until that first path
//! ends no state is complete, and only complete states prune, so the
//! kernel processes every instruction of its first path (a loop's
//! iterations included: the counter it compared is then precise, and no
//! two iterations' states are equal). This module follows that path as
//! far as it is sure to follow it as the kernel does, and reports where
//! the kernel's count passes its limit; a path it cannot follow to the
//! end proves nothing, and nothing is refused (the kernel may still
//! refuse such a program: its other paths and what its registers know
//! past constants are not counted).

use super::insn::{op, Insn};
use super::semantics::{alu32, alu64, jmp_cond};

/// `BPF_COMPLEXITY_LIMIT_INSNS`: the instructions the kernel's verifier
/// processes, over all paths, before it gives up.
pub const KERNEL_INSN_LIMIT: u64 = 1_000_000;

/// The instruction at which the kernel's verifier gives up on `insns` as
/// too large, when its first path alone passes [`KERNEL_INSN_LIMIT`];
/// `None` when that cannot be known from here.
///
/// The path is followed while every branch on it is decided by constants
/// the kernel knows as such: immediates moved or loaded into a register,
/// and the results of `add`, `sub`, `mul`, `and`, `or`, `xor` and shifts
/// of such constants, 64- or 32-bit, without overflow and by less than
/// the width (the operations whose bounds the kernel computes exactly).
/// Anything else is unknown here, and a branch on it, a local call (a
/// global function is verified apart from its callers, which the
/// instructions do not tell) or an instruction not listed ends the walk.
pub(crate) fn first_path_over_limit(insns: &[Insn]) -> Option<usize> {
    // Without a backward jump, a path is no longer than the program.
    if super::blocks::jumps_only_forward(insns) {
        return None;
    }
    let mut regs: [Option<u64>; 11] = [None; 11];
    let mut pc = 0usize;
    let mut processed = 0u64;
    loop {
        let insn = *insns.get(pc)?;
        processed += 1;
        if processed > KERNEL_INSN_LIMIT {
            return Some(pc);
        }
        let dst = usize::from(insn.dst & 15).min(10);
        let operand = |regs: &[Option<u64>; 11]| {
            if insn.is_src_reg() {
                regs[usize::from(insn.src & 15).min(10)]
            } else {
                Some(insn.imm as i64 as u64)
            }
        };
        let mut next = pc + 1;
        match insn.class() {
            class @ (op::ALU | op::ALU64) => {
                let known = match (insn.op(), insn.off) {
                    (op::MOV, 0) => operand(&regs).map(|b| {
                        if class == op::ALU64 {
                            b
                        } else {
                            b & 0xffff_ffff
                        }
                    }),
                    (operation, 0) => regs[dst]
                        .zip(operand(&regs))
                        .and_then(|(a, b)| exact(operation, class == op::ALU64, a, b)),
                    _ => None,
                };
                regs[dst] = known;
            }
            op::LD if insn.is_lddw() => {
                // A plain 64-bit immediate; the pseudo forms are pointers.
                regs[dst] = match (insn.src, insns.get(pc + 1)) {
                    (0, Some(high)) => Some(insn.imm64(Some(high))),
                    _ => None,
                };
                next = pc + 2;
            }
            // Legacy packet loads: r0 the value, r1-r5 clobbered.
            op::LD => regs[..6].fill(None),
            op::LDX => regs[dst] = None,
            op::ST => {}
            op::STX => {
                if insn.mode() == op::ATOMIC {
                    if insn.imm == op::CMPXCHG {
                        regs[0] = None;
                    } else if insn.imm & op::FETCH != 0 {
                        regs[usize::from(insn.src & 15).min(10)] = None;
                    }
                }
            }
            class @ (op::JMP | op::JMP32) => match insn.op() {
                op::EXIT => return None,
                op::CALL if insn.is_local_call() => return None,
                op::CALL => regs[..6].fill(None),
                op::JA if class == op::JMP32 => next = offset(pc, insn.imm)?,
                op::JA => next = offset(pc, i32::from(insn.off))?,
                op::JEQ
                | op::JGT
                | op::JGE
                | op::JSET
                | op::JNE
                | op::JSGT
                | op::JSGE
                | op::JLT
                | op::JLE
                | op::JSLT
                | op::JSLE => {
                    let (a, b) = regs[dst].zip(operand(&regs))?;
                    if jmp_cond(insn.op(), a, b, class == op::JMP32) {
                        next = offset(pc, i32::from(insn.off))?;
                    }
                }
                _ => return None,
            },
            _ => return None,
        }
        pc = next;
    }
}

/// `pc + 1 + by`, the slot a jump at `pc` goes to.
fn offset(pc: usize, by: i32) -> Option<usize> {
    usize::try_from(pc as i64 + 1 + i64::from(by)).ok()
}

/// `a operation b` on constants when the kernel's verifier computes it
/// exactly (see [`first_path_over_limit`]), else `None`.
fn exact(operation: u8, is64: bool, a: u64, b: u64) -> Option<u64> {
    let width = if is64 { 64 } else { 32 };
    let (a, b) = if is64 {
        (a, b)
    } else {
        (a & 0xffff_ffff, b & 0xffff_ffff)
    };
    let fits = |wide: Option<u64>, signed: Option<i64>| {
        let unsigned = wide.filter(|&r| is64 || r <= u64::from(u32::MAX));
        let signed = signed.filter(|&r| is64 || i32::try_from(r).is_ok());
        unsigned.is_some() && signed.is_some()
    };
    let (sa, sb) = if is64 {
        (a as i64, b as i64)
    } else {
        (i64::from(a as u32 as i32), i64::from(b as u32 as i32))
    };
    let allowed = match operation {
        op::ADD => fits(a.checked_add(b), sa.checked_add(sb)),
        op::SUB => fits(a.checked_sub(b), sa.checked_sub(sb)),
        op::MUL => fits(a.checked_mul(b), sa.checked_mul(sb)),
        op::AND | op::OR | op::XOR => true,
        op::LSH | op::RSH | op::ARSH => b < width,
        _ => false,
    };
    allowed.then(|| {
        if is64 {
            alu64(operation, 0, a, b)
        } else {
            alu32(operation, 0, a, b)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::asm::assemble;

    fn counted_loop(iterations: u64) -> Vec<Insn> {
        assemble(&format!(
            "mov %r0, 0\nmov %r2, 0\nadd %r0, %r2\nadd %r2, 1\njlt %r2, {iterations}, -3\nexit"
        ))
        .expect("assembles")
        .insns
    }

    /// Two instructions, three per iteration, the exit: the kernel took
    /// 333,332 iterations and refused 333,333 at the closing jump.
    #[test]
    fn a_counted_loop_passes_the_limit_where_the_kernel_found_it() {
        assert_eq!(first_path_over_limit(&counted_loop(333_332)), None);
        assert_eq!(first_path_over_limit(&counted_loop(333_333)), Some(4));
    }

    /// What the walk cannot follow as the kernel does proves nothing.
    #[test]
    fn undecided_branches_local_calls_and_unknown_values_end_the_walk() {
        for asm in [
            // A bound read from memory.
            "ldxw %r3, [%r1]\nmov %r2, 0\nadd %r2, 1\njlt %r2, %r3, -2\nmov %r0, 0\nexit",
            // A division: its bounds are not the kernel's exact ones.
            "mov %r2, 0\nmov %r3, 4000000\ndiv %r3, 2\nadd %r2, 1\njlt %r2, %r3, -2\nmov %r0, 0\nexit",
            // A shift by the width.
            "mov %r2, 0\nmov %r3, 4000000\nlsh %r3, 64\nadd %r2, 1\njlt %r2, %r3, -2\nmov %r0, 0\nexit",
            // A local call before the loop.
            "call local +6\nmov %r2, 0\nadd %r2, 1\njlt %r2, 4000000, -2\nmov %r0, 0\nexit\nexit\nmov %r0, 0\nexit",
        ] {
            let insns = assemble(asm).expect("assembles").insns;
            assert_eq!(first_path_over_limit(&insns), None, "{asm}");
        }
        // The same loop with constants only: refused.
        let insns = assemble(
            "mov %r2, 0\nmov %r3, 2000000\nrsh %r3, 1\nadd %r2, 1\njlt %r2, %r3, -2\nmov %r0, 0\nexit",
        )
        .expect("assembles")
        .insns;
        assert!(first_path_over_limit(&insns).is_some());
    }
}
