//! Fewer run-time bounds checks, where one check can stand for several
//! with the same outcome: [`plan`] for the legacy LD_ABS loads, and
//! [`load_runs`] for straight runs of loads from the input memory.
//!
//! ## LD_ABS
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

use std::collections::HashMap;

use crate::ebpf::blocks::{self, Leaders};
use crate::ebpf::insn::{op, Insn};
use crate::ebpf::semantics;

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
    reg == 10 && in_frame(insn, 512)
}

/// Whether an access at `off` of its size lies inside a frame of
/// `frame_size` bytes below r10.
fn in_frame(insn: &Insn, frame_size: i64) -> bool {
    let off = i64::from(insn.off);
    off >= -frame_size && off + access_size(insn) <= 0
}

/// The size in bytes of a memory access.
fn access_size(insn: &Insn) -> i64 {
    semantics::size_bytes(insn.size_field()) as i64
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

// ## Runs of loads from the input memory
//
// A program reading its input memory (bpf-benchmark's `memory_a_plus_b`:
// `r2 = *(u64 *)(r1 + 0); r0 = *(u64 *)(r1 + 8)`) checks each load
// against the memory's length. Within one basic block, from a load
// through the entry r1 (which is where the memory starts) at a
// non-negative offset, up to a jump, a store, a call, a legacy load or a
// load through any other register, nothing the run does can be seen if it
// ends early: only registers change, and a memory error ends the run
// naming the failing load. So one check that the memory holds the run's
// furthest end stands for every load of the run; when it fails, a cold
// path checks the loads one by one, in order, and names the first that
// fails exactly as its own check would have (or, if each is inside the
// memory or the stack after all, goes on).

/// A run of loads from the entry r1 (see above), found at its first load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoadRun {
    /// The furthest end (offset + size) of its loads.
    pub end: u32,
    /// Its loads in order: (slot, offset, size in bytes).
    pub loads: Vec<(usize, i64, i64)>,
}

/// The runs of one function: by the slot of each run's first load, and
/// which slots' loads a run's check covers.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoadRuns {
    first: HashMap<usize, LoadRun>,
    covered: Vec<bool>,
    start: usize,
}

impl LoadRuns {
    /// The run whose check goes before slot `pc`, taken (emitted once).
    pub fn take_run_at(&mut self, pc: usize) -> Option<LoadRun> {
        self.first.remove(&pc)
    }

    /// Whether the load at slot `pc` is covered by its run's check.
    pub fn covers(&self, pc: usize) -> bool {
        pc.checked_sub(self.start)
            .and_then(|i| self.covered.get(i))
            .is_some_and(|&c| c)
    }
}

/// The runs of loads of two or more from the entry r1 in the function
/// `insns[start..end]`. `holds_entry_r1(pc, reg)` tells whether `reg`
/// holds the function's entry r1 before slot `pc` (relative to `start`);
/// loads through r10 inside the `frame_size`-byte frame are proven and
/// may sit inside a run.
pub(crate) fn load_runs(
    insns: &[Insn],
    start: usize,
    end: usize,
    leaders: &Leaders,
    frame_size: i64,
    holds_entry_r1: impl Fn(usize, u8) -> bool,
) -> LoadRuns {
    let is_load = |i: &Insn| i.class() == op::LDX && matches!(i.opc & 0xe0, op::MEM | op::MEMSX);
    let run_load = |pc: usize| {
        let i = &insns[pc];
        (is_load(i) && i.off >= 0 && holds_entry_r1(pc - start, i.src))
            .then(|| (pc, i64::from(i.off), access_size(i)))
    };
    let mut runs = LoadRuns {
        first: HashMap::new(),
        covered: vec![false; end.saturating_sub(start)],
        start,
    };
    let mut pc = start;
    while pc < end {
        if run_load(pc).is_none() {
            pc += insns[pc].width();
            continue;
        }
        let mut loads = Vec::new();
        let mut at = pc;
        while at < end && (at == pc || !leaders.contains(at)) {
            let i = &insns[at];
            if let Some(load) = run_load(at) {
                loads.push(load);
            } else if !(matches!(i.class(), op::ALU | op::ALU64)
                || (i.is_lddw() && i.src == 0)
                || (is_load(i) && i.src == 10 && in_frame(i, frame_size)))
            {
                break;
            }
            at += i.width();
        }
        if loads.len() >= 2 {
            let furthest = loads.iter().map(|&(_, off, size)| off + size).max();
            // (Offsets are at most i16::MAX: every end fits.)
            let end = furthest.unwrap_or(0) as u32;
            for &(slot, _, _) in &loads {
                runs.covered[slot - start] = true;
            }
            runs.first.insert(pc, LoadRun { end, loads });
        }
        pc = at.max(pc + 1);
    }
    runs
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

    fn ldx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(op::LDX | op::MEM | size, dst, src, off, 0)
    }

    /// The runs of `p` with r1 the entry r1 everywhere but where `moved`.
    fn runs_of(p: &[Insn], moved: &[usize]) -> LoadRuns {
        let leaders = blocks::leaders(p, 0, p.len()).expect("jumps stay inside");
        load_runs(p, 0, p.len(), &leaders, 512, |pc, reg| {
            reg == 1 && !moved.contains(&pc)
        })
    }

    #[test]
    fn a_run_spans_loads_alu_and_frame_loads_up_to_a_store() {
        let add = Insn::new(op::ALU64 | op::ADD | op::K, 0, 0, 0, 1);
        let store = Insn::new(op::STX | op::MEM | op::W, 1, 0, 0, 0);
        let p = [
            ldx(op::W, 2, 1, 20),
            add,
            ldx(op::DW, 3, 10, -8),
            ldx(op::B, 3, 1, 2),
            store,
            ldx(op::H, 4, 1, 30),
            exit(),
        ];
        let mut runs = runs_of(&p, &[]);
        let want = LoadRun {
            end: 24,
            loads: vec![(0, 20, 4), (3, 2, 1)],
        };
        assert_eq!(runs.take_run_at(0), Some(want));
        assert!(runs.covers(0) && runs.covers(3));
        // After the store a lone load keeps its own check.
        assert!(!runs.covers(5));
        assert_eq!(runs.take_run_at(5), None);
    }

    #[test]
    fn jumps_leaders_and_other_bases_end_runs() {
        let p = [
            ldx(op::B, 2, 1, 0),
            jeq(0, 1),
            ldx(op::B, 3, 1, 1),
            ldx(op::B, 4, 1, 2), // a jump target
            ldx(op::B, 5, 6, 0), // through r6, not the entry r1
            ldx(op::B, 5, 1, 3),
            ldx(op::B, 5, 1, 4), // r1 no longer the entry r1 here
            ldx(op::B, 5, 1, -1),
            exit(),
        ];
        let mut runs = runs_of(&p, &[6]);
        for pc in 0..p.len() {
            assert!(!runs.covers(pc), "slot {pc}");
            assert_eq!(runs.take_run_at(pc), None);
        }
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
