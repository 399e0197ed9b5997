//! Rule 3a of the verifier: every loop must provably finish, so programs
//! with loops run without an instruction budget when the proof succeeds.
//!
//! Two sound arguments are tried for each natural loop (header `h`, the
//! instructions that reach a back edge to `h` without passing `h`):
//!
//! 1. **Counted exit.** Every register is followed symbolically through one
//!    iteration as "its value at `h` plus a constant" (possibly truncated to
//!    32 bits, as clang's `mov32`/`lsh 32; rsh 32` zero-extensions do). A
//!    register that every back edge returns as itself plus the same *odd*
//!    constant is an induction variable: an odd step visits every value of
//!    its width, 2^w iterations at most. A loop is proven when a
//!    conditional jump that runs on every iteration (it dominates every back
//!    edge) leaves the loop on a relation between an induction variable and
//!    a loop-invariant operand that some value of the variable satisfies
//!    whatever the invariant is (`i >= n`, `i == 0x100000`, `i != n`;
//!    not `i > n`, which no `i` satisfies when n is the maximum).
//! 2. **Memory walk.** An access (load, store, atomic) that runs on every
//!    iteration through a register stepped by a non-zero constant at 64
//!    bits: its addresses `p + k*d` (mod 2^64) include `p + 2^63` within
//!    2^64 iterations, and no two addresses 2^63 apart both lie in the
//!    user-space regions the engines allow, so the run ends by `exit` or by
//!    an out-of-bounds error (`strcmp` over input memory).
//!
//! A proof bounds the iterations by 2^64 at worst, not by a small number:
//! termination, not speed. When some loop has neither argument, the whole
//! program is explored once more with every register either a known value
//! or unknown (memory reads are unknown; a branch on an unknown value
//! explores both sides), as the kernel's verifier does, and accepted if
//! every path reaches its final `exit` within [`EXPLORE_LIMIT`] explored
//! instructions (this proves loops with constant trip counts, such as
//! nested counting loops with non-linear exits).

use super::{LoopReason, Rule};
use crate::ebpf::insn::{op, Insn};
use crate::ebpf::semantics::{alu32, alu64, byte_order, jmp_cond};
use crate::ebpf::MAX_CALL_FRAMES;
use std::collections::HashMap;

/// Most instructions the exploration of argument 3 may process (over all
/// paths) before it gives up. The kernel's own limit is 1 M; ours is
/// larger because it is only used on loops nothing else proves.
pub const EXPLORE_LIMIT: u64 = 8_000_000;

/// Checks that every loop of every function (entries in `entries`)
/// provably finishes. The error names the jump closing the first loop not
/// proven, and the loop's first instruction.
pub(super) fn check_loops_finish(insns: &[Insn], entries: &[usize]) -> Result<(), (usize, Rule)> {
    let mut first_failure = None;
    for &entry in entries {
        let cfg = FunctionCfg::new(insns, entry);
        if let Err(failure) = cfg.prove_loops(insns) {
            first_failure.get_or_insert(failure);
        }
    }
    match first_failure {
        None => Ok(()),
        Some(_) if explore_finishes(insns, EXPLORE_LIMIT) => Ok(()),
        Some(failure) => Err(loop_error(failure)),
    }
}

fn loop_error(((latch, header), reason): ((usize, usize), LoopReason)) -> (usize, Rule) {
    (
        latch,
        Rule::Loop {
            target: header,
            reason,
        },
    )
}

const NONE: usize = usize::MAX;

/// One function's control-flow graph (local calls step over), its reverse
/// post-order and immediate dominators.
struct FunctionCfg {
    /// Instruction slots of the function in reverse post-order.
    order: Vec<usize>,
    /// Position of each slot in `order` (NONE when not in the function).
    rpo: HashMap<usize, usize>,
    /// Immediate dominator of each position in `order` (by position).
    idom: Vec<usize>,
    /// Predecessors of each slot in the function.
    preds: HashMap<usize, Vec<usize>>,
    /// Successors of each slot in the function.
    succs: HashMap<usize, Vec<usize>>,
}

impl FunctionCfg {
    fn new(insns: &[Insn], entry: usize) -> FunctionCfg {
        let n = insns.len();
        let succ_of = |pc: usize| -> Vec<usize> {
            let s = insns[pc].successors(pc);
            s.into_iter().flatten().filter(|&t| t < n).collect()
        };
        // Iterative depth-first search for the post-order.
        let mut seen = HashMap::new();
        let mut post = Vec::new();
        let mut succs = HashMap::new();
        let mut stack = vec![(entry, 0usize)];
        seen.insert(entry, ());
        succs.insert(entry, succ_of(entry));
        while let Some((pc, idx)) = stack.last_mut() {
            let pc = *pc;
            let next = succs[&pc].get(*idx).copied();
            *idx += 1;
            match next {
                Some(s) => {
                    if seen.insert(s, ()).is_none() {
                        succs.insert(s, succ_of(s));
                        stack.push((s, 0));
                    }
                }
                None => {
                    post.push(pc);
                    stack.pop();
                }
            }
        }
        post.reverse();
        let order = post;
        let rpo: HashMap<usize, usize> = order.iter().enumerate().map(|(i, &p)| (p, i)).collect();
        let mut preds: HashMap<usize, Vec<usize>> = HashMap::new();
        for &pc in &order {
            for &s in &succs[&pc] {
                preds.entry(s).or_default().push(pc);
            }
        }
        // Cooper, Harvey and Kennedy's iterative dominator algorithm.
        let mut idom = vec![NONE; order.len()];
        idom[0] = 0;
        let mut changed = true;
        while changed {
            changed = false;
            for b in 1..order.len() {
                let mut new = NONE;
                for p in preds.get(&order[b]).into_iter().flatten() {
                    let p = rpo[p];
                    if idom[p] == NONE {
                        continue;
                    }
                    new = if new == NONE {
                        p
                    } else {
                        intersect(&idom, p, new)
                    };
                }
                if new != idom[b] {
                    idom[b] = new;
                    changed = true;
                }
            }
        }
        FunctionCfg {
            order,
            rpo,
            idom,
            preds,
            succs,
        }
    }

    /// Whether slot `a` dominates slot `b` (both in the function).
    fn dominates(&self, a: usize, b: usize) -> bool {
        let a = self.rpo[&a];
        let mut b = self.rpo[&b];
        loop {
            if a == b {
                return true;
            }
            if b == 0 || a > b {
                return false;
            }
            b = self.idom[b];
        }
    }

    /// Proves every loop of the function; the error is ((latch, header),
    /// why) for the first that is not proven.
    fn prove_loops(&self, insns: &[Insn]) -> Result<(), ((usize, usize), LoopReason)> {
        // Back edges grouped by header, in program order of the headers.
        let mut latches: Vec<(usize, Vec<usize>)> = Vec::new();
        for &pc in &self.order {
            for &s in &self.succs[&pc] {
                if self.rpo[&s] > self.rpo[&pc] {
                    continue;
                }
                // A retreating edge whose target does not dominate its
                // source: a cycle with more than one entry.
                if !self.dominates(s, pc) {
                    return Err(((pc, s), LoopReason::Irreducible));
                }
                match latches.iter_mut().find(|(h, _)| *h == s) {
                    Some((_, l)) => l.push(pc),
                    None => latches.push((s, vec![pc])),
                }
            }
        }
        latches.sort_unstable();
        for (header, l) in &latches {
            if !self.loop_finishes(insns, *header, l) {
                return Err(((l[0], *header), LoopReason::Unproven));
            }
        }
        Ok(())
    }

    /// Arguments 1 and 2 for the natural loop of `header`.
    fn loop_finishes(&self, insns: &[Insn], header: usize, latches: &[usize]) -> bool {
        let body = self.body(header, latches);
        let (states, at_latches) = symbolic_iteration(insns, header, &body, &self.succs);
        let steps = induction_steps(&at_latches);
        let every_iteration = |pc: usize| latches.iter().all(|&l| self.dominates(pc, l));
        let mut pcs: Vec<usize> = body.keys().copied().collect();
        pcs.sort_unstable();
        pcs.into_iter().any(|pc| {
            let Some(state) = states.get(&pc) else {
                return false;
            };
            let i = &insns[pc];
            if !every_iteration(pc) {
                return false;
            }
            if walks_memory(i, state, &steps) {
                return true;
            }
            let Some(rel) = Relation::of_jump(i) else {
                return false;
            };
            let (fall, taken) = match i.successors(pc) {
                [Some(f), Some(t)] => (f, t),
                _ => return false,
            };
            let is32 = i.class() == op::JMP32;
            let dst = state[reg(i.dst)];
            let src = if i.is_src_reg() {
                state[reg(i.src)]
            } else if is32 {
                Abs::Const(i.imm as u32 as u64)
            } else {
                Abs::Const(i.imm as i64 as u64)
            };
            let leaves = |t: usize| !body.contains_key(&t);
            (leaves(taken) && exit_reachable(rel, is32, dst, src, &steps))
                || (leaves(fall) && exit_reachable(rel.negate(), is32, dst, src, &steps))
        })
    }

    /// The natural loop of `header`: slots reaching a latch without
    /// passing the header (the value is unused; a map keeps lookups cheap).
    fn body(&self, header: usize, latches: &[usize]) -> HashMap<usize, ()> {
        let mut body = HashMap::new();
        body.insert(header, ());
        let mut work: Vec<usize> = latches.to_vec();
        while let Some(pc) = work.pop() {
            if body.insert(pc, ()).is_some() {
                continue;
            }
            work.extend(self.preds.get(&pc).into_iter().flatten().copied());
        }
        body
    }
}

fn intersect(idom: &[usize], mut a: usize, mut b: usize) -> usize {
    while a != b {
        while a > b {
            a = idom[a];
        }
        while b > a {
            b = idom[b];
        }
    }
    a
}

fn reg(r: u8) -> usize {
    (r & 15).min(10) as usize
}

/// A register's value relative to the loop header, for one iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Abs {
    /// Not known.
    Unknown,
    /// This constant.
    Const(u64),
    /// `base`'s value at the header plus `off`, truncated to 32 bits when
    /// `w32`.
    Sym { base: u8, off: u64, w32: bool },
    /// `(base at the header + off) << 32`: half of a zero-extension.
    Shl32 { base: u8, off: u64 },
}

type State = [Abs; 11];

fn join(a: &State, b: &State) -> State {
    let mut out = *a;
    for (o, v) in out.iter_mut().zip(b) {
        if *o != *v {
            *o = Abs::Unknown;
        }
    }
    out
}

fn trunc32(v: Abs) -> Abs {
    match v {
        Abs::Const(c) => Abs::Const(c as u32 as u64),
        Abs::Sym { base, off, .. } => Abs::Sym {
            base,
            off,
            w32: true,
        },
        Abs::Shl32 { .. } => Abs::Const(0),
        Abs::Unknown => Abs::Unknown,
    }
}

/// `dst op src` on abstract values (`off` is the instruction's offset).
fn abs_alu(is64: bool, o: u8, off: i16, dst: Abs, src: Abs) -> Abs {
    use Abs::*;
    if let (Const(a), Const(b)) = (dst, src) {
        return Const(if is64 {
            alu64(o, off, a, b)
        } else {
            alu32(o, off, a, b)
        });
    }
    let add = |v: Abs, k: u64| match v {
        Sym { base, off, w32 } if !is64 || !w32 => Sym {
            base,
            off: off.wrapping_add(k),
            w32: w32 || !is64,
        },
        _ => Unknown,
    };
    match (o, src) {
        (op::MOV, _) if off == 0 => {
            if is64 {
                src
            } else {
                trunc32(src)
            }
        }
        (op::ADD, Const(k)) => add(dst, k),
        (op::SUB, Const(k)) => add(dst, k.wrapping_neg()),
        (op::ADD, _) => match dst {
            Const(k) => add(src, k),
            _ => Unknown,
        },
        (op::LSH, Const(32)) if is64 => match dst {
            Sym { base, off, .. } => Shl32 { base, off },
            _ => Unknown,
        },
        (op::RSH, Const(32)) if is64 => match dst {
            Shl32 { base, off } => Sym {
                base,
                off,
                w32: true,
            },
            _ => Unknown,
        },
        (op::AND, Const(0xffff_ffff)) if is64 => trunc32(dst),
        _ => Unknown,
    }
}

/// The effect of one instruction on the abstract registers.
fn transfer(insns: &[Insn], pc: usize, s: &mut State) {
    let i = insns[pc];
    let d = reg(i.dst);
    let clobber_call = |s: &mut State| s[..6].fill(Abs::Unknown);
    match i.class() {
        op::ALU | op::ALU64 => {
            let is64 = i.class() == op::ALU64;
            s[d] = if i.op() == op::END {
                match s[d] {
                    Abs::Const(v) => Abs::Const(byte_order(i.opc, i.imm, v)),
                    _ => Abs::Unknown,
                }
            } else {
                let src = if i.is_src_reg() {
                    s[reg(i.src)]
                } else {
                    Abs::Const(i.imm as i64 as u64)
                };
                abs_alu(is64, i.op(), i.off, s[d], src)
            };
        }
        op::JMP if i.op() == op::CALL => clobber_call(s),
        op::LD if i.is_lddw() => {
            s[d] = Abs::Const(i.imm64(insns.get(pc + 1)));
        }
        op::LD => clobber_call(s),
        op::LDX => s[d] = Abs::Unknown,
        op::STX if i.mode() == op::ATOMIC => {
            if i.imm == op::CMPXCHG {
                s[0] = Abs::Unknown;
            } else if i.imm & op::FETCH != 0 {
                s[reg(i.src)] = Abs::Unknown;
            }
        }
        _ => {}
    }
}

/// Follows one iteration from `header`: the abstract state before each
/// slot of the body, and the join of the states the back edges carry.
fn symbolic_iteration(
    insns: &[Insn],
    header: usize,
    body: &HashMap<usize, ()>,
    succs: &HashMap<usize, Vec<usize>>,
) -> (HashMap<usize, State>, Option<State>) {
    let mut entry = [Abs::Unknown; 11];
    for (r, v) in entry.iter_mut().enumerate() {
        *v = Abs::Sym {
            base: r as u8,
            off: 0,
            w32: false,
        };
    }
    let mut states: HashMap<usize, State> = HashMap::new();
    states.insert(header, entry);
    let mut at_latches = Vec::new();
    let mut work = vec![header];
    while let Some(pc) = work.pop() {
        let mut out = states[&pc];
        transfer(insns, pc, &mut out);
        for &s in &succs[&pc] {
            if s == header {
                at_latches.push(out);
            } else if body.contains_key(&s) {
                let new = match states.get(&s) {
                    Some(old) => join(old, &out),
                    None => out,
                };
                if states.get(&s) != Some(&new) {
                    states.insert(s, new);
                    work.push(s);
                }
            }
        }
    }
    // Back-edge states recorded before the fixpoint settled are at least
    // as precise as the final ones (values only become Unknown), so the
    // join of all of them is the join of the final ones.
    let joined = at_latches
        .iter()
        .skip(1)
        .fold(at_latches.first().copied(), |acc, s| {
            acc.map(|a| join(&a, s))
        });
    (states, joined)
}

/// Per register: `Some((step, w32))` when every back edge carries the
/// register as itself plus `step` (truncated to 32 bits when `w32`);
/// `Some((0, false))` is a loop invariant.
fn induction_steps(at_latches: &Option<State>) -> [Option<(u64, bool)>; 11] {
    let mut steps = [None; 11];
    let Some(state) = at_latches else {
        return steps;
    };
    for (r, step) in steps.iter_mut().enumerate() {
        *step = match state[r] {
            // Zero-extending an unchanged value is not invariant.
            Abs::Sym { base, off, w32 } if base as usize == r && (off, w32) != (0, true) => {
                Some((off, w32))
            }
            _ => None,
        };
    }
    steps
}

/// Argument 2: `i` accesses memory through a register stepped by a
/// non-zero constant at 64 bits.
fn walks_memory(i: &Insn, state: &State, steps: &[Option<(u64, bool)>; 11]) -> bool {
    let addr = match i.class() {
        op::LDX => i.src,
        op::ST | op::STX => i.dst,
        _ => return false,
    };
    match state[reg(addr)] {
        Abs::Sym {
            base, w32: false, ..
        } => matches!(steps[base as usize], Some((d, false)) if d != 0),
        _ => false,
    }
}

/// A jump condition, oriented as "induction variable REL other".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Relation {
    Eq,
    Ne,
    Lt(bool),
    Le(bool),
    Gt(bool),
    Ge(bool),
    Set,
    NotSet,
}

impl Relation {
    /// The condition of a conditional jump (`dst REL src`), if it is one.
    fn of_jump(i: &Insn) -> Option<Relation> {
        if i.class() != op::JMP && i.class() != op::JMP32 {
            return None;
        }
        Some(match i.op() {
            op::JEQ => Relation::Eq,
            op::JNE => Relation::Ne,
            op::JGT => Relation::Gt(false),
            op::JGE => Relation::Ge(false),
            op::JLT => Relation::Lt(false),
            op::JLE => Relation::Le(false),
            op::JSGT => Relation::Gt(true),
            op::JSGE => Relation::Ge(true),
            op::JSLT => Relation::Lt(true),
            op::JSLE => Relation::Le(true),
            op::JSET => Relation::Set,
            _ => return None,
        })
    }

    fn negate(self) -> Relation {
        use Relation::*;
        match self {
            Eq => Ne,
            Ne => Eq,
            Lt(s) => Ge(s),
            Ge(s) => Lt(s),
            Le(s) => Gt(s),
            Gt(s) => Le(s),
            Set => NotSet,
            NotSet => Set,
        }
    }

    /// `a REL b` as `b REL' a`.
    fn swap(self) -> Relation {
        use Relation::*;
        match self {
            Lt(s) => Gt(s),
            Gt(s) => Lt(s),
            Le(s) => Ge(s),
            Ge(s) => Le(s),
            other => other,
        }
    }
}

/// Argument 1 for one exit: `dst REL src` leaves the loop; true when one
/// operand is an induction variable with an odd step, the other is loop
/// invariant, and some value the variable takes satisfies the relation
/// whatever the invariant's value.
fn exit_reachable(
    rel: Relation,
    is32: bool,
    dst: Abs,
    src: Abs,
    steps: &[Option<(u64, bool)>; 11],
) -> bool {
    let induction = |v: Abs| match v {
        Abs::Sym { base, w32, .. } => match steps[base as usize] {
            Some((d, sw32)) if d & 1 == 1 => Some((w32, sw32)),
            _ => None,
        },
        _ => None,
    };
    let invariant_width = |v: Abs| match v {
        Abs::Const(_) => Some(64),
        Abs::Sym { base, w32, .. } if steps[base as usize] == Some((0, false)) => {
            Some(if w32 { 32 } else { 64 })
        }
        Abs::Shl32 { base, .. } if steps[base as usize] == Some((0, false)) => Some(64),
        _ => None,
    };
    let (rel, iv, other) = match (induction(dst), induction(src)) {
        (Some(iv), None) => (rel, iv, src),
        (None, Some(iv)) => (rel.swap(), iv, dst),
        _ => return false,
    };
    let Some(other_width) = invariant_width(other) else {
        return false;
    };
    let cw: u32 = if is32 { 32 } else { 64 };
    let (value_w32, step_w32) = iv;
    let value_w = if value_w32 { 32 } else { 64 }.min(cw);
    // A 32-bit step zero-extends at the header; only its low half is a
    // full cycle, so the compared value must be that half.
    if step_w32 && value_w != 32 {
        return false;
    }
    let iv_w = value_w;
    let other_w = other_width.min(cw);
    let max = |w: u32| -> i128 { (1i128 << w) - 1 };
    let signed_of = |v: u64| -> i128 {
        if cw == 32 {
            v as u32 as i32 as i128
        } else {
            v as i64 as i128
        }
    };
    let cmask = if cw == 32 { u32::MAX as u64 } else { u64::MAX };
    // Ranges (min, max) of the variable (every value is taken) and of the
    // invariant, as the relation compares them.
    let ranges = |signed: bool| -> ((i128, i128), (i128, i128)) {
        let full_signed = (-(1i128 << (cw - 1)), (1i128 << (cw - 1)) - 1);
        let iv = if signed && iv_w == cw {
            full_signed
        } else {
            (0, max(iv_w))
        };
        let other = match other {
            Abs::Const(c) => {
                let c = c & cmask;
                let v = if signed { signed_of(c) } else { c as i128 };
                (v, v)
            }
            _ if signed && other_w == cw => full_signed,
            _ => (0, max(other_w)),
        };
        (iv, other)
    };
    match rel {
        Relation::Ne | Relation::NotSet => true,
        Relation::Eq => {
            let ((imin, imax), (omin, omax)) = ranges(false);
            imin <= omin && omax <= imax
        }
        Relation::Lt(s) => {
            let ((imin, _), (omin, _)) = ranges(s);
            imin < omin
        }
        Relation::Le(s) => {
            let ((imin, _), (omin, _)) = ranges(s);
            imin <= omin
        }
        Relation::Gt(s) => {
            let ((_, imax), (_, omax)) = ranges(s);
            imax > omax
        }
        Relation::Ge(s) => {
            let ((_, imax), (_, omax)) = ranges(s);
            imax >= omax
        }
        Relation::Set => match other {
            Abs::Const(c) => c & cmask & (max(iv_w) as u64) != 0,
            _ => false,
        },
    }
}

/// A path of the exploration: where it is, what it knows.
#[derive(Clone)]
struct Path {
    pc: usize,
    regs: [Option<u64>; 11],
    /// Saved (return slot, r6–r9) of each local call.
    frames: Vec<(usize, [Option<u64>; 4])>,
}

/// Argument 3: every path from the entry reaches the final `exit` (or an
/// error that ends the run) within `limit` explored instructions.
fn explore_finishes(insns: &[Insn], limit: u64) -> bool {
    let mut pending = vec![Path {
        pc: 0,
        regs: [None; 11],
        frames: Vec::new(),
    }];
    let mut explored = 0u64;
    while let Some(mut p) = pending.pop() {
        loop {
            explored += 1;
            if explored > limit {
                return false;
            }
            let Some(&i) = insns.get(p.pc) else {
                return false;
            };
            let d = reg(i.dst);
            let clobber = |r: &mut [Option<u64>; 11]| r[..6].fill(None);
            let operand = |r: &[Option<u64>; 11]| {
                if i.is_src_reg() {
                    r[reg(i.src)]
                } else {
                    Some(i.imm as i64 as u64)
                }
            };
            let mut next = p.pc + 1;
            match i.class() {
                op::ALU | op::ALU64 => {
                    let is64 = i.class() == op::ALU64;
                    let alu = |a, b| {
                        if is64 {
                            alu64(i.op(), i.off, a, b)
                        } else {
                            alu32(i.op(), i.off, a, b)
                        }
                    };
                    let v = p.regs[d];
                    p.regs[d] = match i.op() {
                        op::END => v.map(|v| byte_order(i.opc, i.imm, v)),
                        // mov and movsx ignore dst, neg ignores src.
                        op::MOV => operand(&p.regs).map(|b| alu(0, b)),
                        op::NEG => v.map(|a| alu(a, 0)),
                        _ => v.zip(operand(&p.regs)).map(|(a, b)| alu(a, b)),
                    };
                }
                op::JMP | op::JMP32 => match (i.class(), i.op()) {
                    (op::JMP32, op::JA) => next = (p.pc as i64 + 1 + i.imm as i64) as usize,
                    (_, op::JA) => next = (p.pc as i64 + 1 + i.off as i64) as usize,
                    (_, op::CALL) if !i.is_src_reg() && i.src == op::CALL_LOCAL => {
                        if p.frames.len() + 1 >= MAX_CALL_FRAMES {
                            break; // the run ends with CallDepthExceeded
                        }
                        let mut saved = [None; 4];
                        saved.copy_from_slice(&p.regs[6..10]);
                        p.frames.push((p.pc + 1, saved));
                        next = (p.pc as i64 + 1 + i.imm as i64) as usize;
                    }
                    (_, op::CALL) => clobber(&mut p.regs),
                    (_, op::EXIT) => match p.frames.pop() {
                        None => break,
                        Some((ret, saved)) => {
                            p.regs[6..10].copy_from_slice(&saved);
                            p.regs[1..6].fill(None);
                            next = ret;
                        }
                    },
                    (class, o) => {
                        let target = (p.pc as i64 + 1 + i.off as i64) as usize;
                        match (p.regs[d], operand(&p.regs)) {
                            (Some(a), Some(b)) => {
                                if jmp_cond(o, a, b, class == op::JMP32) {
                                    next = target;
                                }
                            }
                            _ => {
                                let mut other = p.clone();
                                other.pc = target;
                                pending.push(other);
                            }
                        }
                    }
                },
                op::LD if i.is_lddw() => {
                    p.regs[d] = Some(i.imm64(insns.get(p.pc + 1)));
                    next = p.pc + 2;
                }
                op::LD => clobber(&mut p.regs),
                op::LDX => p.regs[d] = None,
                op::STX if i.mode() == op::ATOMIC => {
                    if i.imm == op::CMPXCHG {
                        p.regs[0] = None;
                    } else if i.imm & op::FETCH != 0 {
                        p.regs[reg(i.src)] = None;
                    }
                }
                _ => {}
            }
            p.pc = next;
        }
    }
    true
}
