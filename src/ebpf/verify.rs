//! The verifier: what a userspace runtime must refuse before running a
//! program. Every error names the instruction index and the rule broken.
//!
//! Rules, in the order they are checked:
//! 1. structure (every slot, reachable or not): known opcode, registers
//!    0–10, unused fields zero, no write to r10, `lddw` complete, jump and
//!    local-call targets inside the program and not on an `lddw` second
//!    slot, helper numbers registered;
//! 2. data flow (reachable code only): no path reads a register before
//!    writing it, no path falls off the end. At entry r1 (input memory),
//!    r2 (its length) and r10 are set; in a local function r1–r5 (the
//!    arguments, when the caller set them) and r10. Calls and legacy packet
//!    loads clobber r0–r5, leave r0 set; a local call keeps r6–r9;
//! 3. termination: loops (a cycle in the control-flow graph) and recursion
//!    are refused unless the caller sets an instruction budget; without
//!    recursion, call chains deeper than [`MAX_CALL_FRAMES`] are refused.
//!
//! Deliberately *accepted*, because RFC 9669 defines their result although
//! the kernel's verifier refuses them: division or modulo by an immediate 0,
//! out-of-range shift amounts, unreachable code, `exit` anywhere, backward
//! jumps that do not form a loop, reads of the stack before it is written
//! (the stack starts zeroed).

use super::helpers::Helpers;
use super::insn::{op, Insn, Program};
use super::MAX_CALL_FRAMES;
use std::fmt;

/// What the verifier needs to know besides the program.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Helpers that `call N` may name.
    pub helpers: Helpers,
    /// Instruction budget the run will enforce. Loops and recursion are
    /// accepted only when this is set.
    pub budget: Option<u64>,
}

/// A refused program: where, and which rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyError {
    /// Instruction (slot) index.
    pub pc: usize,
    /// The rule broken.
    pub rule: Rule,
}

/// The verifier's rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The program has no instructions.
    Empty,
    /// The opcode byte names no instruction.
    UnknownOpcode(u8),
    /// A field this instruction does not use is not zero.
    ReservedField {
        /// Field name (`dst`, `src`, `off`, `imm`).
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// A used field has a value the instruction does not define (e.g. a
    /// byte-swap width of 8, an unknown atomic operation).
    BadField {
        /// Field name.
        field: &'static str,
        /// Its value.
        value: i64,
    },
    /// A register number above 10.
    BadRegister(u8),
    /// The instruction writes r10, the read-only frame pointer.
    WritesR10,
    /// `lddw` is the last slot, so its second half is missing.
    IncompleteLddw,
    /// A form that exists in Linux but not in this runtime (map loads,
    /// BTF calls).
    Unsupported(&'static str),
    /// A jump target outside the program.
    JumpOutOfRange {
        /// The computed target slot.
        target: i64,
    },
    /// A jump or call to the second slot of an `lddw`.
    JumpIntoLddw {
        /// The target slot.
        target: usize,
    },
    /// A local call target outside the program.
    CallOutOfRange {
        /// The computed target slot.
        target: i64,
    },
    /// `call N` to a helper number that is not registered.
    UnknownHelper(i64),
    /// Execution can run past the last instruction.
    FallsOffEnd,
    /// Some path reads this register before writing it.
    UninitializedRead(u8),
    /// A loop (jump to `target` closes a cycle) while no budget is set.
    Loop {
        /// The target slot of the jump closing the loop.
        target: usize,
    },
    /// A recursive local call while no budget is set.
    Recursion,
    /// A chain of local calls needing more than [`MAX_CALL_FRAMES`] frames.
    CallTooDeep {
        /// Frames the chain needs.
        frames: usize,
    },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Empty => write!(f, "empty program"),
            Rule::UnknownOpcode(o) => write!(f, "unknown opcode {o:#04x}"),
            Rule::ReservedField { field, value } => {
                write!(f, "unused field {field} must be 0 (is {value})")
            }
            Rule::BadField { field, value } => write!(f, "invalid {field} value {value}"),
            Rule::BadRegister(r) => write!(f, "register r{r} does not exist (r0-r10)"),
            Rule::WritesR10 => write!(f, "r10 (frame pointer) is read-only"),
            Rule::IncompleteLddw => write!(f, "lddw is missing its second slot"),
            Rule::Unsupported(what) => write!(f, "unsupported: {what}"),
            Rule::JumpOutOfRange { target } => {
                write!(f, "jump target {target} is outside the program")
            }
            Rule::JumpIntoLddw { target } => {
                write!(f, "jump target {target} is the second slot of an lddw")
            }
            Rule::CallOutOfRange { target } => {
                write!(f, "local call target {target} is outside the program")
            }
            Rule::UnknownHelper(id) => write!(f, "call to unregistered helper {id}"),
            Rule::FallsOffEnd => write!(f, "execution falls off the end of the program"),
            Rule::UninitializedRead(r) => write!(f, "r{r} may be read before it is written"),
            Rule::Loop { target } => write!(
                f,
                "jump to {target} closes a loop (allowed only with an instruction budget)"
            ),
            Rule::Recursion => write!(
                f,
                "recursive local call (allowed only with an instruction budget)"
            ),
            Rule::CallTooDeep { frames } => write!(
                f,
                "call chain needs {frames} stack frames (at most {MAX_CALL_FRAMES})"
            ),
        }
    }
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "instruction {}: {}", self.pc, self.rule)
    }
}

impl std::error::Error for VerifyError {}

/// Checks `prog` against every rule; `Ok` means any engine may run it.
pub fn verify(prog: &Program, opts: &VerifyOptions) -> Result<(), VerifyError> {
    verify_with(prog, &opts.helpers, opts.budget)
}

/// [`verify`] with the options passed separately (engines hold their own).
pub fn verify_with(
    prog: &Program,
    helpers: &Helpers,
    budget: Option<u64>,
) -> Result<(), VerifyError> {
    let insns = &prog.insns;
    if insns.is_empty() {
        return Err(VerifyError {
            pc: 0,
            rule: Rule::Empty,
        });
    }
    let starts = insn_starts(insns);
    let err = |pc, rule| VerifyError { pc, rule };
    for pc in starts.iter_pos() {
        check_fields(insns, pc, helpers).map_err(|r| err(pc, r))?;
        if let Some((target, is_call)) = jump_targets(&insns[pc], pc) {
            if target < 0 || target >= insns.len() as i64 {
                let rule = if is_call {
                    Rule::CallOutOfRange { target }
                } else {
                    Rule::JumpOutOfRange { target }
                };
                return Err(err(pc, rule));
            }
            if !starts.is_start(target as usize) {
                return Err(err(
                    pc,
                    Rule::JumpIntoLddw {
                        target: target as usize,
                    },
                ));
            }
        }
    }
    let reached = check_data_flow(insns).map_err(|(pc, r)| err(pc, r))?;
    let entries = function_entries(insns, &reached);
    if budget.is_none() {
        check_no_loops(insns, &entries).map_err(|(pc, r)| err(pc, r))?;
    }
    check_call_depth(insns, &entries, budget.is_some()).map_err(|(pc, r)| err(pc, r))
}

/// Which slots start an instruction (all but `lddw` second halves).
pub(crate) struct Starts(Vec<bool>);

impl Starts {
    fn is_start(&self, pc: usize) -> bool {
        self.0.get(pc).copied().unwrap_or(false)
    }
    fn iter_pos(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, &s)| s)
            .map(|(i, _)| i)
    }
}

/// Splits the slots into instructions, scanning from the front as the
/// kernel does: a slot after an `lddw` is its second half.
pub(crate) fn insn_starts(insns: &[Insn]) -> Starts {
    let mut starts = vec![false; insns.len()];
    let mut pc = 0;
    while pc < insns.len() {
        starts[pc] = true;
        pc += if insns[pc].is_lddw() { 2 } else { 1 };
    }
    Starts(starts)
}

/// Jump and call targets of one instruction: (absolute target, is a call).
fn jump_targets(i: &Insn, pc: usize) -> Option<(i64, bool)> {
    let next = pc as i64 + 1;
    match (i.class(), i.op()) {
        (op::JMP, op::CALL) if !i.is_src_reg() && i.src == op::CALL_LOCAL => {
            Some((next + i.imm as i64, true))
        }
        (op::JMP, op::CALL) | (op::JMP | op::JMP32, op::EXIT) => None,
        (op::JMP32, op::JA) => Some((next + i.imm as i64, false)),
        (op::JMP | op::JMP32, _) => Some((next + i.off as i64, false)),
        _ => None,
    }
}

fn zero(field: &'static str, value: i64) -> Result<(), Rule> {
    if value == 0 {
        Ok(())
    } else {
        Err(Rule::ReservedField { field, value })
    }
}

fn reg(r: u8) -> Result<(), Rule> {
    if r > 10 {
        Err(Rule::BadRegister(r))
    } else {
        Ok(())
    }
}

fn write_reg(r: u8) -> Result<(), Rule> {
    reg(r)?;
    if r == 10 {
        Err(Rule::WritesR10)
    } else {
        Ok(())
    }
}

/// Rule 1 for the instruction at `pc`: opcode and fields.
fn check_fields(insns: &[Insn], pc: usize, helpers: &Helpers) -> Result<(), Rule> {
    let i = insns[pc];
    let unknown = Err(Rule::UnknownOpcode(i.opc));
    let (dst, src, off, imm) = (i.dst, i.src, i.off as i64, i.imm as i64);
    match i.class() {
        op::ALU | op::ALU64 => {
            let is64 = i.class() == op::ALU64;
            match i.op() {
                op::END => {
                    if is64 && i.is_src_reg() {
                        return unknown;
                    }
                    write_reg(dst)?;
                    zero("src", src as i64)?;
                    zero("off", off)?;
                    if !matches!(imm, 16 | 32 | 64) {
                        return Err(Rule::BadField {
                            field: "imm",
                            value: imm,
                        });
                    }
                }
                op::NEG => {
                    if i.is_src_reg() {
                        return unknown;
                    }
                    write_reg(dst)?;
                    zero("src", src as i64)?;
                    zero("off", off)?;
                    zero("imm", imm)?;
                }
                0xe0 | 0xf0 => return unknown,
                o => {
                    write_reg(dst)?;
                    if i.is_src_reg() {
                        reg(src)?;
                        zero("imm", imm)?;
                    } else {
                        zero("src", src as i64)?;
                    }
                    let off_ok = match o {
                        op::DIV | op::MOD => off == 0 || off == 1,
                        op::MOV if i.is_src_reg() => {
                            matches!(off, 0 | 8 | 16) || (is64 && off == 32)
                        }
                        _ => off == 0,
                    };
                    if !off_ok {
                        return Err(if o == op::DIV || o == op::MOD || o == op::MOV {
                            Rule::BadField {
                                field: "off",
                                value: off,
                            }
                        } else {
                            Rule::ReservedField {
                                field: "off",
                                value: off,
                            }
                        });
                    }
                }
            }
        }
        op::JMP | op::JMP32 => {
            let is32 = i.class() == op::JMP32;
            match i.op() {
                op::JA => {
                    if i.is_src_reg() {
                        return unknown;
                    }
                    zero("dst", dst as i64)?;
                    zero("src", src as i64)?;
                    if is32 {
                        zero("off", off)?;
                    } else {
                        zero("imm", imm)?;
                    }
                }
                op::CALL => {
                    if is32 {
                        return unknown;
                    }
                    if i.is_src_reg() {
                        // callx: the suite puts the register in dst.
                        reg(dst)?;
                        zero("src", src as i64)?;
                        zero("off", off)?;
                        zero("imm", imm)?;
                    } else {
                        zero("dst", dst as i64)?;
                        zero("off", off)?;
                        match src {
                            op::CALL_HELPER => {
                                if imm < 0 || !helpers.contains(imm as u32) {
                                    return Err(Rule::UnknownHelper(imm));
                                }
                            }
                            op::CALL_LOCAL => {}
                            op::CALL_RUNTIME => {
                                return Err(Rule::Unsupported("call by BTF id (src = 2)"))
                            }
                            _ => {
                                return Err(Rule::BadField {
                                    field: "src",
                                    value: src as i64,
                                })
                            }
                        }
                    }
                }
                op::EXIT => {
                    if is32 || i.is_src_reg() {
                        return unknown;
                    }
                    zero("dst", dst as i64)?;
                    zero("src", src as i64)?;
                    zero("off", off)?;
                    zero("imm", imm)?;
                }
                0xe0 | 0xf0 => return unknown,
                _ => {
                    reg(dst)?;
                    if i.is_src_reg() {
                        reg(src)?;
                        zero("imm", imm)?;
                    } else {
                        zero("src", src as i64)?;
                    }
                }
            }
        }
        op::LD => match i.opc {
            op::LDDW => {
                write_reg(dst)?;
                if src != 0 {
                    return Err(Rule::Unsupported("lddw with src != 0 (map or pseudo load)"));
                }
                zero("off", off)?;
                let Some(second) = insns.get(pc + 1) else {
                    return Err(Rule::IncompleteLddw);
                };
                zero("second slot opcode", second.opc as i64)?;
                zero("second slot dst", second.dst as i64)?;
                zero("second slot src", second.src as i64)?;
                zero("second slot off", second.off as i64)?;
            }
            0x20 | 0x28 | 0x30 => {
                zero("dst", dst as i64)?;
                zero("src", src as i64)?;
                zero("off", off)?;
            }
            0x40 | 0x48 | 0x50 => {
                zero("dst", dst as i64)?;
                reg(src)?;
                zero("off", off)?;
            }
            _ => return unknown,
        },
        op::LDX => {
            match i.mode() {
                op::MEM => {}
                op::MEMSX if i.size_field() != op::DW => {}
                _ => return unknown,
            }
            write_reg(dst)?;
            reg(src)?;
            zero("imm", imm)?;
        }
        op::ST => {
            if i.mode() != op::MEM {
                return unknown;
            }
            reg(dst)?;
            zero("src", src as i64)?;
        }
        _ => {
            // STX
            match i.mode() {
                op::MEM => {
                    reg(dst)?;
                    reg(src)?;
                    zero("imm", imm)?;
                }
                op::ATOMIC if i.size_field() == op::W || i.size_field() == op::DW => {
                    reg(dst)?;
                    reg(src)?;
                    let base = i.imm & !op::FETCH;
                    let valid = matches!(base, 0x00 | 0x40 | 0x50 | 0xa0)
                        || i.imm == op::XCHG
                        || i.imm == op::CMPXCHG;
                    if !valid {
                        return Err(Rule::BadField {
                            field: "imm",
                            value: imm,
                        });
                    }
                    if i.imm & op::FETCH != 0 && i.imm != op::CMPXCHG {
                        write_reg(src)?;
                    }
                }
                _ => return unknown,
            }
        }
    }
    Ok(())
}

/// Register bit masks.
const R0: u16 = 1;
const ARGS: u16 = 0b11_1110; // r1-r5
const CALLEE_SAVED: u16 = 0b11_1100_0000; // r6-r9
const FP: u16 = 1 << 10;
const ENTRY: u16 = 0b110 | FP; // r1, r2, r10

fn bit(r: u8) -> u16 {
    1u16 << r
}

/// Registers an instruction reads and writes, and whether it clobbers
/// r1–r5 (calls and legacy packet loads). Local calls are handled by the
/// caller.
fn effects(i: &Insn) -> (u16, u16, bool) {
    let d = bit(i.dst & 15);
    let s = bit(i.src & 15);
    match i.class() {
        op::ALU | op::ALU64 => match i.op() {
            op::MOV if i.is_src_reg() => (s, d, false),
            op::MOV => (0, d, false),
            op::NEG | op::END => (d, d, false),
            _ if i.is_src_reg() => (d | s, d, false),
            _ => (d, d, false),
        },
        op::JMP | op::JMP32 => match i.op() {
            op::JA => (0, 0, false),
            op::CALL if i.is_src_reg() => (d, R0, true),
            op::CALL => (0, R0, true),
            op::EXIT => (R0, 0, false),
            _ if i.is_src_reg() => (d | s, 0, false),
            _ => (d, 0, false),
        },
        op::LD if i.is_lddw() => (0, d, false),
        op::LD if i.mode() == op::IND => (s, R0, true),
        op::LD => (0, R0, true),
        op::LDX => (s, d, false),
        op::ST => (d, 0, false),
        _ if i.mode() == op::ATOMIC => {
            if i.imm == op::CMPXCHG {
                (d | s | R0, R0, false)
            } else if i.imm & op::FETCH != 0 {
                (d | s, s, false)
            } else {
                (d | s, 0, false)
            }
        }
        _ => (d | s, 0, false),
    }
}

fn is_local_call(i: &Insn) -> bool {
    i.opc == op::CALL_IMM && i.src == op::CALL_LOCAL
}

/// Control-flow successors within the current function (a local call
/// continues at the next instruction), as (target, is a fall-through).
fn successors(i: &Insn, pc: usize) -> ([Option<usize>; 2], bool) {
    let next = pc + if i.is_lddw() { 2 } else { 1 };
    let target = |rel: i64| Some((pc as i64 + 1 + rel) as usize);
    match (i.class(), i.op()) {
        (op::JMP, op::EXIT) => ([None, None], false),
        (op::JMP, op::JA) => ([target(i.off as i64), None], false),
        (op::JMP32, op::JA) => ([target(i.imm as i64), None], false),
        (op::JMP, op::CALL) => ([Some(next), None], true),
        (op::JMP | op::JMP32, _) => ([Some(next), target(i.off as i64)], true),
        _ => ([Some(next), None], true),
    }
}

/// Rule 2: must-be-written registers, by a forward data-flow fixpoint
/// whose meet is intersection (so a register counts as written only if
/// every path to here writes it).
/// Returns which slots are reachable.
fn check_data_flow(insns: &[Insn]) -> Result<Vec<bool>, (usize, Rule)> {
    let n = insns.len();
    let mut state: Vec<Option<u16>> = vec![None; n];
    let mut work = vec![0usize];
    state[0] = Some(ENTRY);
    // A slot is queued again only when its mask shrinks (at most 11 times).
    // Flow past the end is not state (rule FallsOffEnd reports it).
    let merge = |state: &mut Vec<Option<u16>>, work: &mut Vec<usize>, pc: usize, m: u16| {
        if pc >= state.len() {
            return;
        }
        let new = state[pc].map_or(m, |old| old & m);
        if state[pc] != Some(new) {
            state[pc] = Some(new);
            work.push(pc);
        }
    };
    while let Some(pc) = work.pop() {
        let Some(live) = state[pc] else { continue };
        let i = &insns[pc];
        if is_local_call(i) {
            let callee = (pc as i64 + 1 + i.imm as i64) as usize;
            merge(&mut state, &mut work, callee, (live & ARGS) | FP);
            merge(
                &mut state,
                &mut work,
                pc + 1,
                (live & (CALLEE_SAVED | FP)) | R0,
            );
            continue;
        }
        let (_, writes, clobbers) = effects(i);
        let mut out = live | writes;
        if clobbers {
            out &= !ARGS;
        }
        let (succ, _) = successors(i, pc);
        for s in succ.into_iter().flatten() {
            if s < n {
                merge(&mut state, &mut work, s, out);
            }
        }
    }
    for (pc, i) in insns.iter().enumerate() {
        let Some(live) = state[pc] else { continue };
        let reads = if is_local_call(i) { 0 } else { effects(i).0 };
        let missing = reads & !live;
        if missing != 0 {
            return Err((pc, Rule::UninitializedRead(missing.trailing_zeros() as u8)));
        }
        let (succ, _) = successors(i, pc);
        if succ.into_iter().flatten().any(|s| s >= n) {
            return Err((pc, Rule::FallsOffEnd));
        }
    }
    Ok(state.iter().map(Option::is_some).collect())
}

/// Entry points of functions: 0 and the target of every reachable local
/// call (unreachable code is accepted whatever it contains).
fn function_entries(insns: &[Insn], reached: &[bool]) -> Vec<usize> {
    let mut entries = vec![0];
    for pc in (0..insns.len()).filter(|&pc| reached[pc]) {
        if is_local_call(&insns[pc]) {
            entries.push((pc as i64 + 1 + insns[pc].imm as i64) as usize);
        }
    }
    entries.sort_unstable();
    entries.dedup();
    entries
}

/// Iterative depth-first search; returns the first edge (from, to) that
/// closes a cycle, if any.
fn find_cycle(
    nodes: usize,
    roots: &[usize],
    edges: impl Fn(usize) -> Vec<usize>,
) -> Option<(usize, usize)> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut color = vec![0u8; nodes];
    for &root in roots {
        if color[root] != 0 {
            continue;
        }
        color[root] = 1;
        let mut stack = vec![(root, edges(root), 0usize)];
        while let Some((node, succ, idx)) = stack.last_mut() {
            if let Some(&next) = succ.get(*idx) {
                *idx += 1;
                let from = *node;
                match color[next] {
                    0 => {
                        color[next] = 1;
                        let e = edges(next);
                        stack.push((next, e, 0));
                    }
                    1 => return Some((from, next)),
                    _ => {}
                }
            } else {
                color[*node] = 2;
                stack.pop();
            }
        }
    }
    None
}

/// Rule 3a: no cycle in the control-flow graph (local calls step over).
fn check_no_loops(insns: &[Insn], entries: &[usize]) -> Result<(), (usize, Rule)> {
    let n = insns.len();
    let edges = |pc: usize| -> Vec<usize> {
        let (succ, _) = successors(&insns[pc], pc);
        succ.into_iter().flatten().filter(|&s| s < n).collect()
    };
    match find_cycle(n, entries, edges) {
        Some((from, to)) => Err((from, Rule::Loop { target: to })),
        None => Ok(()),
    }
}

/// Local calls reachable inside the function starting at `entry`:
/// (call pc, callee entry).
fn calls_of(insns: &[Insn], entry: usize) -> Vec<(usize, usize)> {
    let n = insns.len();
    let mut seen = vec![false; n];
    let mut work = vec![entry];
    let mut calls = Vec::new();
    while let Some(pc) = work.pop() {
        if pc >= n || seen[pc] {
            continue;
        }
        seen[pc] = true;
        let i = &insns[pc];
        if is_local_call(i) {
            calls.push((pc, (pc as i64 + 1 + i.imm as i64) as usize));
        }
        let (succ, _) = successors(i, pc);
        work.extend(succ.into_iter().flatten());
    }
    calls.sort_unstable();
    calls
}

/// Rule 3b: recursion (unless budgeted) and call-chain depth.
fn check_call_depth(
    insns: &[Insn],
    entries: &[usize],
    budgeted: bool,
) -> Result<(), (usize, Rule)> {
    let index = |pc: usize| entries.binary_search(&pc).unwrap_or(0);
    let calls: Vec<Vec<(usize, usize)>> = entries
        .iter()
        .map(|&e| {
            calls_of(insns, e)
                .into_iter()
                .map(|(pc, callee)| (pc, index(callee)))
                .collect()
        })
        .collect();
    let edges = |f: usize| calls[f].iter().map(|&(_, g)| g).collect::<Vec<_>>();
    if let Some((from, to)) = find_cycle(entries.len(), &[0], edges) {
        if budgeted {
            // Recursion is bounded at run time by the budget and the
            // frame limit; depth cannot be checked statically.
            return Ok(());
        }
        let pc = calls[from]
            .iter()
            .find(|&&(_, g)| g == to)
            .map_or(0, |&(pc, _)| pc);
        return Err((pc, Rule::Recursion));
    }
    // Acyclic: frames needed from each function, callees first.
    let mut frames: Vec<Option<usize>> = vec![None; entries.len()];
    let mut stack = vec![0usize];
    while let Some(&f) = stack.last() {
        if frames[f].is_some() {
            stack.pop();
            continue;
        }
        let pending: Vec<usize> = calls[f]
            .iter()
            .map(|&(_, g)| g)
            .filter(|&g| frames[g].is_none())
            .collect();
        if pending.is_empty() {
            let deepest = calls[f].iter().filter_map(|&(_, g)| frames[g]).max();
            frames[f] = Some(1 + deepest.unwrap_or(0));
            stack.pop();
        } else {
            stack.extend(pending);
        }
    }
    let total = frames[0].unwrap_or(1);
    if total <= MAX_CALL_FRAMES {
        return Ok(());
    }
    // Walk the deepest chain to the call that needs the ninth frame.
    let (mut f, mut depth) = (0, 1);
    loop {
        let Some(&(pc, g)) = calls[f]
            .iter()
            .max_by_key(|&&(_, g)| frames[g].unwrap_or(0))
        else {
            return Err((0, Rule::CallTooDeep { frames: total }));
        };
        depth += 1;
        if depth > MAX_CALL_FRAMES {
            return Err((pc, Rule::CallTooDeep { frames: total }));
        }
        f = g;
    }
}
