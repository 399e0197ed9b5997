//! Packet bounds-check elimination for the legacy LD_ABS loads.
//!
//! An LD_ABS that reads outside the packet ends the program with r0 = 0. The
//! JIT therefore does not need one length check per load: a single check of
//! `len >= L` may stand in for every load whose end is at most `L`, provided
//! that
//!
//! 1. the check *dominates* those loads, so `len >= L` is known whenever they
//!    run (forward analysis, `known`), and
//! 2. failing the check early gives the same outcome as running on: every
//!    path from the check reaches, before any observable effect, a load that
//!    would itself fail when `len < L` (backward analysis, `need`).
//!
//! `need[i]` is the largest `L` such that every path from instruction `i`
//! executes an LD_ABS ending at `L` or beyond before it exits or reaches a
//! *barrier*: an instruction whose effect could be seen if the program were
//! cut short (a store or atomic outside the frame's stack, a helper or local
//! call) or which could itself end the run differently (any memory access that
//! is checked at run time). `need` of a path that meets a barrier or an exit
//! first is 0.
//!
//! At each LD_ABS the JIT emits a check only when `known` does not already
//! cover it, and then checks `len >= need[i]` (which is at least this load's
//! own end), making `need[i]` known below it. This is the scheme of NetBSD's
//! bpfjit, generalised to eBPF's barriers. Functions with backward jumps are
//! not analysed: each of their loads keeps its own check.

use crate::ebpf::blocks;
use crate::ebpf::insn::{op, Insn};

/// The length check to emit before each instruction, or `None`.
///
/// Indexed like the function's instruction slice. Ends fit 32 bits (a
/// non-negative `i32` offset plus at most 4): the per-slot tables stay
/// small on long programs, whose compile they are a part of.
pub(crate) type Plan = Vec<Option<u32>>;

/// The end (offset + size) of an LD_ABS with a non-negative offset.
fn abs_end(insn: &Insn) -> Option<u32> {
    if insn.class() != op::LD || insn.opc & 0xe0 != op::ABS || insn.imm < 0 {
        return None;
    }
    let size = match insn.opc & 0x18 {
        op::W => 4,
        op::H => 2,
        op::B => 1,
        _ => return None,
    };
    Some(insn.imm as u32 + size)
}

/// True if cutting the program short before this instruction could be seen.
fn is_barrier(insn: &Insn) -> bool {
    let class = insn.class();
    match class {
        op::LDX | op::ST | op::STX => !stack_relative(insn),
        op::JMP | op::JMP32 => matches!(insn.opc & 0xf0, op::CALL | op::EXIT),
        _ => false,
    }
}

/// A memory access through r10 that lies inside the frame: proven safe and
/// invisible outside the run.
fn stack_relative(insn: &Insn) -> bool {
    let reg = if insn.class() == op::LDX {
        insn.src
    } else {
        insn.dst
    };
    let size = match insn.opc & 0x18 {
        op::B => 1,
        op::H => 2,
        op::W => 4,
        _ => 8,
    };
    reg == 10 && insn.off >= -512 && i32::from(insn.off) + size <= 0
}

/// Computes the check plan for one function's instructions. With
/// `eliminate = false` every LD_ABS checks exactly its own end.
pub(crate) fn plan(insns: &[Insn], eliminate: bool) -> Plan {
    let n = insns.len();
    if !eliminate || !blocks::jumps_only_forward(insns) {
        return insns.iter().map(abs_end).collect();
    }

    // Backward pass: jumps only go forward, so every successor is later.
    let mut need = vec![0u32; n + 1];
    for pc in (0..n).rev() {
        let insn = &insns[pc];
        if is_barrier(insn) {
            need[pc] = 0;
            continue;
        }
        let [next, target] = insns[pc].successors(pc);
        let at = |s: Option<usize>| s.map(|s| need.get(s).copied().unwrap_or(0));
        let after = match (at(next), at(target)) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => 0,
        };
        need[pc] = abs_end(insn).map_or(after, |end| end.max(after));
    }

    // Forward pass: `known[pc]` is the length proven on every path to pc
    // (`UNREACHED` until a path arrives; every end is below it).
    const UNREACHED: u32 = u32::MAX;
    let mut known = vec![UNREACHED; n + 1];
    known[0] = 0;
    let mut plan = vec![None; n];
    for pc in 0..n {
        let mut k = known[pc];
        if k == UNREACHED {
            continue;
        }
        if let Some(end) = abs_end(&insns[pc]) {
            if k < end {
                plan[pc] = Some(need[pc]);
                k = need[pc];
            }
        }
        let [next, target] = insns[pc].successors(pc);
        for s in [next, target].into_iter().flatten() {
            if let Some(old) = known.get_mut(s) {
                *old = (*old).min(k);
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ld_abs(size: u8, k: i32) -> Insn {
        Insn::new(op::LD | op::ABS | size, 0, 0, 0, k)
    }
    fn jeq(k: i32, off: i16) -> Insn {
        Insn::new(op::JMP | op::JEQ | op::K, 0, 0, off, k)
    }
    fn exit() -> Insn {
        Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0)
    }

    #[test]
    fn one_check_covers_a_straight_line() {
        let p = [
            ld_abs(op::H, 12),
            ld_abs(op::B, 23),
            ld_abs(op::W, 26),
            exit(),
        ];
        assert_eq!(plan(&p, true), vec![Some(30), None, None, None]);
        assert_eq!(plan(&p, false), vec![Some(14), Some(24), Some(30), None]);
    }

    #[test]
    fn branches_take_the_minimum_of_their_needs() {
        // ldh [12]; jeq #0x800 → ldb [23] | exit
        let p = [ld_abs(op::H, 12), jeq(0x800, 1), ld_abs(op::B, 23), exit()];
        // The exit path needs nothing more, so the first check is only 14
        // and the load on the taken branch keeps its own check.
        assert_eq!(plan(&p, true), vec![Some(14), None, Some(24), None]);
    }

    #[test]
    fn both_branches_loading_hoist_the_smaller_end() {
        let p = [
            ld_abs(op::H, 12),
            jeq(0x800, 2),
            ld_abs(op::B, 40),
            exit(),
            ld_abs(op::B, 30),
            exit(),
        ];
        assert_eq!(
            plan(&p, true),
            vec![Some(31), None, Some(41), None, None, None]
        );
    }

    #[test]
    fn barriers_stop_hoisting() {
        let store = Insn::new(op::STX | op::MEM | op::W, 1, 0, 0, 0);
        let p = [ld_abs(op::H, 12), store, ld_abs(op::B, 40), exit()];
        assert_eq!(plan(&p, true), vec![Some(14), None, Some(41), None]);
    }

    #[test]
    fn back_edges_disable_the_analysis() {
        let back = Insn::new(op::JMP | op::JA, 0, 0, -3, 0);
        let p = [
            ld_abs(op::H, 12),
            ld_abs(op::B, 40),
            jeq(0, 1),
            back,
            exit(),
        ];
        assert_eq!(plan(&p, true)[..2], [Some(14), Some(41)]);
    }
}
