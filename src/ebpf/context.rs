//! Program contexts: which loads read the context r1 points to at entry,
//! and what they become in this runtime.
//!
//! The kernel's verifier tracks the context pointer's type and rewrites
//! each access to a context field into a load of the field the kernel
//! really has (`xdp_md.data`, a 32-bit field in the ABI, becomes a 64-bit
//! load of `xdp_buff.data`). This module does the same for the program
//! types this runtime runs: a forward data-flow analysis finds, at every
//! instruction, which registers and 8-byte stack slots hold the context
//! pointer (and at which constant offset); each load through one is checked
//! against the type's fields (the kernel's `invalid bpf_context access`)
//! and rewritten in place to the runtime's context block, whose layout
//! [`xdp_block`] gives. Stores to the context, accesses through a pointer
//! that is the context on one path and not on another, and accesses to no
//! field are refused, naming the instruction, as the kernel refuses them.

use super::insn::{op, Insn, Program};
use super::semantics;

/// The runtime's XDP context block: what r1 points to, and where the
/// rewritten `xdp_md` loads read.
pub mod xdp_block {
    /// `data` (u64 address).
    pub const DATA: usize = 0;
    /// `data_end` (u64 address).
    pub const DATA_END: usize = 8;
    /// `data_meta` (u64 address).
    pub const DATA_META: usize = 16;
    /// `ingress_ifindex` (u32).
    pub const INGRESS_IFINDEX: usize = 24;
    /// `rx_queue_index` (u32).
    pub const RX_QUEUE_INDEX: usize = 28;
    /// `egress_ifindex` (u32).
    pub const EGRESS_IFINDEX: usize = 32;
    /// Size of the block.
    pub const SIZE: usize = 40;
}

/// Program types whose context this runtime provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContextKind {
    /// `struct xdp_md` (XDP programs).
    Xdp,
}

/// A refused context access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextError {
    /// Instruction slot.
    pub pc: usize,
    /// The kernel's wording where it has one.
    pub message: String,
}

impl std::fmt::Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "instruction {}: {}", self.pc, self.message)
    }
}

impl std::error::Error for ContextError {}

/// What a register or stack slot holds, as far as the context goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    /// Nothing known yet (not reached, or never written).
    Unset,
    /// The context pointer plus this offset.
    Ctx(i64),
    /// Anything but the context pointer.
    Other,
    /// The context on some path, something else on another.
    Mixed,
}

impl Val {
    fn join(self, other: Val) -> Val {
        match (self, other) {
            (Val::Unset, v) | (v, Val::Unset) => v,
            (a, b) if a == b => a,
            _ => Val::Mixed,
        }
    }
}

const SLOTS: usize = 64;

#[derive(Clone, PartialEq, Eq)]
struct State {
    regs: [Val; 11],
    stack: [Val; SLOTS],
}

impl State {
    fn unset() -> State {
        State {
            regs: [Val::Unset; 11],
            stack: [Val::Unset; SLOTS],
        }
    }

    fn join(&mut self, other: &State) -> bool {
        let before = self.clone();
        for (a, b) in self.regs.iter_mut().zip(other.regs) {
            *a = a.join(b);
        }
        for (a, b) in self.stack.iter_mut().zip(other.stack) {
            *a = a.join(b);
        }
        *self != before
    }
}

/// The 8-byte stack slot a `size`-byte access at `r10 + off` covers
/// exactly, or `None`; `touched` lists every slot it overlaps.
fn stack_slot(off: i16, size: usize) -> (Option<usize>, std::ops::Range<usize>) {
    let off = i64::from(off);
    if off >= 0 || off < -(SLOTS as i64 * 8) {
        return (None, 0..0);
    }
    let first = ((-off - 1) / 8) as usize;
    let last = ((-(off + size as i64 - 1) - 1).max(0) / 8) as usize;
    let exact = (size == 8 && off % 8 == 0).then_some(first);
    (exact, last.min(first)..first.max(last) + 1)
}

/// Checks and rewrites `prog`'s context accesses for `kind`.
pub fn rewrite(prog: &Program, kind: ContextKind) -> Result<Program, ContextError> {
    let insns = &prog.insns;
    let n = insns.len();
    let mut states: Vec<Option<State>> = vec![None; n];
    if n == 0 {
        return Ok(prog.clone());
    }
    let mut entry = State::unset();
    entry.regs[1] = Val::Ctx(0);
    entry.regs[10] = Val::Other;
    states[0] = Some(entry);
    let mut work = vec![0usize];
    let mut rewritten = insns.clone();
    while let Some(pc) = work.pop() {
        let Some(state) = states[pc].clone() else {
            continue;
        };
        let i = insns[pc];
        let mut s = state;
        let mut flow = |to: usize, st: &State, work: &mut Vec<usize>| {
            if to < n {
                let changed = match &mut states[to] {
                    Some(old) => old.join(st),
                    slot @ None => {
                        *slot = Some(st.clone());
                        true
                    }
                };
                if changed {
                    work.push(to);
                }
            }
        };
        let dst = (i.dst & 15).min(10) as usize;
        let src = (i.src & 15).min(10) as usize;
        let size = semantics::size_bytes(i.size_field());
        match i.class() {
            op::ALU64 | op::ALU => {
                s.regs[dst] = match (i.class(), i.op(), i.is_src_reg(), s.regs[dst]) {
                    (op::ALU64, op::MOV, true, _) if i.off == 0 => s.regs[src],
                    (op::ALU64, op::ADD, false, Val::Ctx(o)) => Val::Ctx(o + i64::from(i.imm)),
                    (op::ALU64, op::SUB, false, Val::Ctx(o)) => Val::Ctx(o - i64::from(i.imm)),
                    (_, _, _, Val::Ctx(_) | Val::Mixed) => Val::Mixed,
                    _ => Val::Other,
                };
            }
            op::LDX => {
                if let Some(new) = access(kind, pc, &i, s.regs[src], size, false)? {
                    rewritten[pc] = new;
                }
                let (exact, _) = stack_slot(i.off, size);
                s.regs[dst] = match (src, exact) {
                    (10, Some(slot)) => match s.stack[slot] {
                        Val::Unset => Val::Other,
                        v => v,
                    },
                    _ => Val::Other,
                };
            }
            op::ST | op::STX => {
                access(kind, pc, &i, s.regs[dst], size, true)?;
                if dst == 10 {
                    let (exact, touched) = stack_slot(i.off, size);
                    for t in touched {
                        s.stack[t] = Val::Other;
                    }
                    if let (Some(slot), op::STX, op::MEM) = (exact, i.class(), i.mode()) {
                        s.stack[slot] = s.regs[src];
                    }
                }
                if i.class() == op::STX && i.mode() == op::ATOMIC {
                    if i.imm == op::CMPXCHG {
                        s.regs[0] = Val::Other;
                    } else if i.imm & op::FETCH != 0 {
                        s.regs[src] = Val::Other;
                    }
                }
            }
            op::LD => {
                if i.is_lddw() {
                    s.regs[dst] = Val::Other;
                    flow(pc + 2, &s, &mut work);
                    continue;
                }
                for r in 0..=5 {
                    s.regs[r] = Val::Other;
                }
            }
            _ => match i.op() {
                op::EXIT => continue,
                op::CALL if i.src == op::CALL_LOCAL && !i.is_src_reg() => {
                    // The callee starts with the arguments and a fresh frame.
                    let mut callee = State::unset();
                    callee.regs[1..=5].copy_from_slice(&s.regs[1..=5]);
                    callee.regs[10] = Val::Other;
                    let to = (pc as i64 + 1 + i64::from(i.imm)) as usize;
                    flow(to, &callee, &mut work);
                    for r in 0..=5 {
                        s.regs[r] = Val::Other;
                    }
                }
                op::CALL => {
                    for r in 0..=5 {
                        s.regs[r] = Val::Other;
                    }
                }
                _ => {}
            },
        }
        for to in i.successors(pc).into_iter().flatten() {
            flow(to, &s, &mut work);
        }
    }
    Ok(Program::new(rewritten))
}

/// Checks an access through a register holding `base`; for a context
/// load, the instruction it becomes.
fn access(
    kind: ContextKind,
    pc: usize,
    i: &Insn,
    base: Val,
    size: usize,
    write: bool,
) -> Result<Option<Insn>, ContextError> {
    let refuse = |message: String| Err(ContextError { pc, message });
    let o = match base {
        Val::Ctx(o) => o + i64::from(i.off),
        Val::Mixed => {
            return refuse(
                "the register holds the context on one path and another value on another; \
                 the kernel refuses such an access"
                    .into(),
            )
        }
        _ => return Ok(None),
    };
    if write {
        return refuse(format!(
            "invalid bpf_context access off={o} size={size} (a write)"
        ));
    }
    if i.mode() == op::MEMSX {
        return refuse(format!(
            "invalid bpf_context access off={o} size={size} (sign-extending)"
        ));
    }
    match kind {
        ContextKind::Xdp => {
            // xdp_md: six u32 fields, loaded whole.
            use xdp_block as b;
            let (to, width) = match (o, size) {
                (0, 4) => (b::DATA, op::DW),
                (4, 4) => (b::DATA_END, op::DW),
                (8, 4) => (b::DATA_META, op::DW),
                (12, 4) => (b::INGRESS_IFINDEX, op::W),
                (16, 4) => (b::RX_QUEUE_INDEX, op::W),
                (20, 4) => (b::EGRESS_IFINDEX, op::W),
                _ => return refuse(format!("invalid bpf_context access off={o} size={size}")),
            };
            let off = to as i64 - (o - i64::from(i.off));
            Ok(Some(Insn::new(
                op::LDX | op::MEM | width,
                i.dst,
                i.src,
                off as i16,
                0,
            )))
        }
    }
}
