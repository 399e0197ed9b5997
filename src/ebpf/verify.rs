//! The verifier: what a userspace runtime must refuse before running a
//! program. Every error names the instruction index and the rule broken.
//!
//! Rules, in the order they are checked:
//! 0. size: at most [`MAX_INSNS`] slots, as Linux;
//! 1. structure (every slot, reachable or not): known opcode, registers
//!    0–10, unused fields zero, no write to r10, `lddw` complete, jump and
//!    local-call targets inside the program and not on an `lddw` second
//!    slot, helper numbers registered;
//! 2. data flow (reachable code only): no path reads a register before
//!    writing it, no path falls off the end, and no path leaves its
//!    function (each runs from its entry, 0 or a local call's target, to
//!    the next function's entry). At entry r1 (input memory),
//!    r2 (its length) and r10 are set; in a local function r1–r5 (the
//!    arguments, when the caller set them) and r10. Calls and legacy packet
//!    loads clobber r0–r5, leave r0 set; a local call keeps r6–r9;
//! 3. termination: without an instruction budget, every loop (a cycle in
//!    the control-flow graph) must be proven to finish (see [`loops`]:
//!    counted exits, memory walks, or exploration with known values), and
//!    recursion is refused; call chains deeper than [`MAX_CALL_FRAMES`] are
//!    refused. With a budget, loops and recursion are accepted as they are.
//!
//! Deliberately *accepted*, because RFC 9669 defines their result although
//! the kernel's verifier refuses them: division or modulo by an immediate 0,
//! out-of-range shift amounts, unreachable code, `exit` anywhere, backward
//! jumps that do not form a loop, reads of the stack before it is written
//! (the stack starts zeroed). (Programs of an object, which the kernel
//! would load, are refused for unreachable code before this runs:
//! `blocks::first_unreachable`; and after it, for a first path longer
//! than the kernel's instruction limit: `complexity`.)

mod fields;
mod flow;
pub mod loops;

use super::helpers::Helpers;
use super::insn::{op, Insn, Program};
use super::{MAX_CALL_FRAMES, MAX_INSNS};
use fields::check_fields;
use flow::{
    check_call_depth, check_data_flow, check_function_bounds, frames_needed, function_entries,
    has_loop,
};
use loops::check_loops_finish;
use std::fmt;

/// What the verifier needs to know besides the program.
#[derive(Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Helpers that `call N` may name.
    pub helpers: Helpers,
    /// Instruction budget the run will enforce. Recursion, and loops the
    /// verifier cannot prove to finish, are accepted only when this is set.
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
    /// The program has more than [`MAX_INSNS`] slots.
    TooLarge {
        /// Its number of slots.
        slots: usize,
    },
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
    /// Control can leave its function (fall through or jump to another
    /// function's code): each function runs from its entry to the next
    /// function's, as the kernel's `check_subprogs` requires and the JIT
    /// compiles them.
    LeavesFunction {
        /// The slot control reaches.
        to: usize,
        /// The entry of the function it leaves.
        function: usize,
    },
    /// Some path reads this register before writing it.
    UninitializedRead(u8),
    /// A loop (jump to `target` closes a cycle) not proven to finish, while
    /// no budget is set.
    Loop {
        /// The target slot of the jump closing the loop.
        target: usize,
        /// Why the proof failed.
        reason: LoopReason,
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
            Rule::TooLarge { slots } => write!(
                f,
                "{slots} instruction slots, more than the {MAX_INSNS} Linux accepts"
            ),
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
            Rule::UnknownHelper(id) if *id == i64::from(crate::ebpf::elf::POISONED_CALL) => {
                f.write_str(&crate::ebpf::elf::poisoned_call_refusal(None))
            }
            Rule::UnknownHelper(id) => write!(f, "call to unregistered helper {id}"),
            Rule::FallsOffEnd => write!(f, "execution falls off the end of the program"),
            Rule::LeavesFunction { to, function } => write!(
                f,
                "control leaves the function at {function} for slot {to}, in another function \
                 (each function must end with exit or a jump within it)"
            ),
            Rule::UninitializedRead(r) => {
                write!(f, "R{r} !read_ok: r{r} may be read before it is written")
            }
            Rule::Loop { target, reason } => write!(
                f,
                "jump to {target} closes a loop that cannot be proven to finish: {reason} \
                 (run it with an instruction budget, --budget N on the command line)"
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

/// Why a loop was not proven to finish.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoopReason {
    /// The cycle can be entered at more than one instruction.
    Irreducible,
    /// No exit compares an induction variable with a loop invariant it must
    /// reach, no access walks memory with a constant stride, and exploring
    /// the program with known values did not finish within
    /// [`loops::EXPLORE_LIMIT`] instructions.
    Unproven,
}

impl fmt::Display for LoopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoopReason::Irreducible => write!(f, "it can be entered at more than one instruction"),
            LoopReason::Unproven => write!(
                f,
                "no exit tests a counter stepped by an odd constant against a bound it must \
                 reach, no access walks memory with a constant stride, and exploring it with \
                 known values did not end within {} instructions",
                loops::EXPLORE_LIMIT
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
    verify_checked(prog, helpers, budget, false)
}

/// As [`verify_with`]; with `reads_checked`, reads before writes are not
/// checked again (the context pass checked them path by path, as the
/// kernel does, for the packet programs it rewrites: a read that only
/// paths the kernel never explores make unwritten is no refusal), nor
/// is a call to a helper not served (it refused one that a path
/// reaches: libbpf's poisoned call, a helper guarded by a read-only flag
/// or a CO-RE test).
pub(crate) fn verify_checked(
    prog: &Program,
    helpers: &Helpers,
    budget: Option<u64>,
    reads_checked: bool,
) -> Result<(), VerifyError> {
    let insns = &prog.insns;
    if insns.is_empty() {
        return Err(VerifyError {
            pc: 0,
            rule: Rule::Empty,
        });
    }
    if insns.len() > MAX_INSNS {
        return Err(VerifyError {
            pc: MAX_INSNS,
            rule: Rule::TooLarge { slots: insns.len() },
        });
    }
    let starts = insn_starts(insns);
    let err = |pc, rule| VerifyError { pc, rule };
    for pc in starts.iter_pos() {
        check_fields(insns, pc, helpers, reads_checked).map_err(|r| err(pc, r))?;
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
    let reached = check_data_flow(insns, !reads_checked).map_err(|(pc, r)| err(pc, r))?;
    check_function_bounds(insns, &reached).map_err(|(pc, r)| err(pc, r))?;
    let entries = function_entries(insns, &reached);
    if budget.is_none() && has_loop(insns, &entries) {
        check_loops_finish(insns, &entries).map_err(|(pc, r)| err(pc, r))?;
    }
    check_call_depth(insns, &entries, budget.is_some()).map_err(|(pc, r)| err(pc, r))
}

/// Stack frames a run of `prog` can use: its deepest chain of local calls
/// (1 without calls), or [`MAX_CALL_FRAMES`] when calls recurse or the
/// program does not verify. Engines size the stack they zero by it.
pub fn call_frames(prog: &Program) -> usize {
    if !prog.has_local_calls() {
        return 1;
    }
    let Ok(reached) = check_data_flow(&prog.insns, false) else {
        return MAX_CALL_FRAMES;
    };
    let entries = function_entries(&prog.insns, &reached);
    frames_needed(&prog.insns, &entries).map_or(MAX_CALL_FRAMES, |f| f.clamp(1, MAX_CALL_FRAMES))
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
        pc += insns[pc].width();
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
