//! Where a program's functions and basic blocks start: one reading of
//! jumps, calls and exits shared by the JIT's lowering and the
//! interpreter's switch recovery ([`super::switch`]), so both see the same
//! blocks.

use super::insn::{op, regs, Insn};

/// The absolute slot a jump goes to (`None` for anything but a jump:
/// calls and exits included). May lie outside the program.
pub(crate) fn jump_target(insn: &Insn, pc: usize) -> Option<i64> {
    let class = insn.class();
    if class != op::JMP && class != op::JMP32 {
        return None;
    }
    match insn.opc & 0xf0 {
        op::CALL | op::EXIT => None,
        op::JA if class == op::JMP32 => Some(pc as i64 + 1 + i64::from(insn.imm)),
        _ => Some(pc as i64 + 1 + i64::from(insn.off)),
    }
}

/// Which slots lie on or after a loop: from the first target of a
/// backward jump on. (What uses it keeps more paths apart there: a loop's
/// iterations leave it by as many paths, each knowing its own.)
pub(crate) fn on_or_after_loops(insns: &[Insn]) -> Vec<bool> {
    let first_head = insns
        .iter()
        .enumerate()
        .filter_map(|(pc, insn)| jump_target(insn, pc).filter(|&to| to >= 0 && to <= pc as i64))
        .min();
    let mut marked = vec![false; insns.len()];
    if let Some(head) = first_head {
        marked[head as usize..].fill(true);
    }
    marked
}

/// True if control never falls through to the next slot.
pub(crate) fn ends_block(insn: &Insn) -> bool {
    let class = insn.class();
    (class == op::JMP || class == op::JMP32) && matches!(insn.opc & 0xf0, op::EXIT | op::JA)
}

/// Every local call in slot order: (its slot, the absolute slot it
/// calls, which may lie outside the program).
pub(crate) fn local_calls(insns: &[Insn]) -> impl Iterator<Item = (usize, i64)> + '_ {
    let mut pc = 0;
    std::iter::from_fn(move || {
        while pc < insns.len() {
            let at = pc;
            let insn = &insns[at];
            pc += insn.width();
            if insn.is_local_call() {
                return Some((at, at as i64 + 1 + i64::from(insn.imm)));
            }
        }
        None
    })
}

/// The first slot the kernel's `check_cfg` refuses as unreachable
/// (`unreachable insn N`): its walk from slot 0 follows every jump's
/// sides, a local call into its callee and on, and an `lddw` of a
/// function (`BPF_PSEUDO_FUNC`, a callback) into that function and on; an
/// `lddw`'s second slot goes with its first. Targets outside the program
/// are not followed (other rules refuse them). `None` when every slot is
/// reached.
pub(crate) fn first_unreachable(insns: &[Insn]) -> Option<usize> {
    let n = insns.len();
    let mut seen = vec![false; n];
    let mut work = vec![0usize];
    while let Some(pc) = work.pop() {
        if pc >= n || std::mem::replace(&mut seen[pc], true) {
            continue;
        }
        let insn = &insns[pc];
        work.extend(insn.successors(pc).into_iter().flatten());
        if insn.is_local_call() || (insn.is_lddw() && insn.src == super::elf::PSEUDO_FUNC) {
            if let Ok(callee) = usize::try_from(pc as i64 + 1 + i64::from(insn.imm)) {
                work.push(callee);
            }
        }
    }
    let mut pc = 0;
    while pc < n {
        if !seen[pc] {
            return Some(pc);
        }
        pc += insns[pc].width();
    }
    None
}

/// The program's functions by first slot: the entry at 0 and every
/// local-call target, each running up to the next. `Err(pc)` names a
/// local call whose target lies outside the program.
pub(crate) fn function_starts(insns: &[Insn]) -> Result<Vec<usize>, usize> {
    let mut starts = vec![0usize];
    for (pc, target) in local_calls(insns) {
        if target < 0 || target >= insns.len() as i64 {
            return Err(pc);
        }
        starts.push(target as usize);
    }
    starts.sort_unstable();
    starts.dedup();
    Ok(starts)
}

/// A program's functions for the data-flow passes: where each starts (0
/// and every local call's target inside the program, sorted; calls
/// outside it are the verifier's first rules' to refuse) and the local
/// calls into each.
pub(crate) struct Functions {
    pub(crate) starts: Vec<usize>,
    /// (callee's start, call slot), sorted.
    calls: Vec<(usize, usize)>,
    /// The program's length in slots (where the last function ends).
    len: usize,
}

impl Functions {
    pub(crate) fn new(insns: &[Insn]) -> Functions {
        let mut starts = vec![0usize];
        let mut calls = Vec::new();
        for (pc, to) in local_calls(insns) {
            if (0..insns.len() as i64).contains(&to) {
                starts.push(to as usize);
                calls.push((to as usize, pc));
            }
        }
        starts.sort_unstable();
        starts.dedup();
        calls.sort_unstable();
        Functions {
            starts,
            calls,
            len: insns.len(),
        }
    }

    /// The slots of function `f`: from its start to the next one's.
    pub(crate) fn slots(&self, f: usize) -> std::ops::Range<usize> {
        self.starts[f]..self.starts.get(f + 1).copied().unwrap_or(self.len)
    }

    /// How many functions there are.
    pub(crate) fn len(&self) -> usize {
        self.starts.len()
    }

    /// The index of the function `pc` lies in (0: the program's own).
    pub(crate) fn index_of(&self, pc: usize) -> usize {
        self.starts.partition_point(|&s| s <= pc).saturating_sub(1)
    }

    /// An `exit` of a function other than the program's own (one that
    /// passes r0 to its caller as it is, written or not).
    pub(crate) fn is_subprogram_exit(&self, pc: usize, insn: &Insn) -> bool {
        insn.opc == op::EXIT_OP && self.index_of(pc) > 0
    }

    /// The slots of the local calls into function `f`.
    pub(crate) fn calls_to(&self, f: usize) -> impl Iterator<Item = usize> + '_ {
        let start = self.starts[f];
        let from = self.calls.partition_point(|&(to, _)| to < start);
        self.calls[from..]
            .iter()
            .take_while(move |&&(to, _)| to == start)
            .map(|&(_, call)| call)
    }
}

/// The first slots of the basic blocks of one function, as a bitmap over
/// its slots (the JITs and switch recovery ask for every slot; a sorted
/// set cost a tenth of compiling a long filter to build).
#[derive(Clone, Debug)]
pub(crate) struct Leaders {
    start: usize,
    is_leader: Vec<bool>,
}

impl Leaders {
    /// Whether `pc` starts a block (false outside the function).
    pub(crate) fn contains(&self, pc: usize) -> bool {
        pc.checked_sub(self.start)
            .and_then(|i| self.is_leader.get(i))
            .is_some_and(|&l| l)
    }

    /// The leaders in ascending order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let start = self.start;
        self.is_leader
            .iter()
            .enumerate()
            .filter_map(move |(i, &l)| l.then_some(start + i))
    }

    /// The first leader after `pc`, if the function has one.
    pub(crate) fn next_after(&self, pc: usize) -> Option<usize> {
        let from = (pc + 1).saturating_sub(self.start);
        let i = self.is_leader.get(from..)?.iter().position(|&l| l)?;
        Some(self.start + from + i)
    }
}

/// The first slots of the basic blocks of the function `insns[start..end]`:
/// its entry, every jump target, and every slot after a jump or an exit.
/// `Err(pc)` names a jump that leaves the function.
pub(crate) fn leaders(insns: &[Insn], start: usize, end: usize) -> Result<Leaders, usize> {
    let mut is_leader = vec![false; end.saturating_sub(start)];
    let mut mark = |pc: usize| {
        if let Some(l) = is_leader.get_mut(pc - start) {
            *l = true;
        }
    };
    mark(start);
    let mut pc = start;
    while pc < end {
        let insn = &insns[pc];
        if let Some(t) = jump_target(insn, pc) {
            if t < start as i64 || t >= end as i64 {
                return Err(pc);
            }
            mark(t as usize);
            mark(pc + 1);
        } else if ends_block(insn) {
            mark(pc + 1);
        }
        pc += insn.width();
    }
    Ok(Leaders { start, is_leader })
}

/// Whether every jump of `insns` goes forward (no successor at or before
/// its own slot): what the analyses made in one pass in slot order need.
pub(crate) fn jumps_only_forward(insns: &[Insn]) -> bool {
    insns
        .iter()
        .enumerate()
        .all(|(pc, insn)| insn.successors(pc).into_iter().flatten().all(|to| to > pc))
}

/// What legacy packet loads (`LD_ABS`, `LD_IND`) read besides `LD_IND`'s
/// source register.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PacketLoads {
    /// r6, the context, as the kernel defines them (for the passes that
    /// check what the kernel checks).
    ReadContext,
    /// Nothing: for code that reads the packet through registers of its
    /// own (the x86-64 writer), where the translation's `r6 = r1` is then
    /// a write nothing reads.
    #[cfg_attr(not(all(unix, target_arch = "x86_64")), allow(dead_code))]
    ReadPacketOnly,
}

/// Registers live on entry to each slot: read on some path from there
/// before being written (a backward fixpoint over every slot). Calls are
/// taken to read r1–r5 (what a helper or callee uses is not looked up),
/// legacy packet loads what `loads` says, and every `exit` r0; r10 is
/// always live. Registers not live may be forgotten: nothing reads them.
pub(crate) fn live_registers(insns: &[Insn], loads: PacketLoads) -> Vec<u16> {
    // Without backward jumps one pass from the end is the fixpoint: each
    // slot's successors come after it and are final when it is reached.
    if !jumps_only_forward(insns) {
        return live_by_worklist(insns, loads);
    }
    let mut live = vec![regs::FP; insns.len()];
    for pc in (0..insns.len()).rev() {
        live[pc] = live_in(insns, pc, &live, loads);
    }
    live
}

/// The registers live on entry to `pc`, given those live at its
/// successors (see [`live_registers`]).
fn live_in(insns: &[Insn], pc: usize, live: &[u16], loads: PacketLoads) -> u16 {
    let n = insns.len();
    let insn = &insns[pc];
    let out = insn
        .successors(pc)
        .into_iter()
        .flatten()
        .filter(|&to| to < n)
        .fold(0u16, |acc, to| acc | live[to]);
    let (mut reads, mut writes, clobbers) = insn.register_effects();
    if insn.opc == op::JMP | op::CALL {
        reads |= regs::ARGS;
    }
    if clobbers {
        writes |= regs::ARGS;
    }
    if insn.class() == op::LD && !insn.is_lddw() && loads == PacketLoads::ReadContext {
        reads |= regs::bit(6);
    }
    ((out & !writes) | reads | regs::FP) & regs::ALL
}

/// [`live_registers`] for any program: a backward worklist to the
/// fixpoint.
fn live_by_worklist(insns: &[Insn], loads: PacketLoads) -> Vec<u16> {
    let n = insns.len();
    let mut live = vec![regs::FP; n];
    // Predecessors, for the worklist: those of `to` are
    // `preds[first[to]..first[to + 1]]` (one allocation, not one per slot).
    let edges = || {
        insns.iter().enumerate().flat_map(move |(pc, insn)| {
            insn.successors(pc)
                .into_iter()
                .flatten()
                .filter(move |&to| to < n)
                .map(move |to| (pc, to))
        })
    };
    let mut first = vec![0usize; n + 1];
    for (_, to) in edges() {
        first[to + 1] += 1;
    }
    for i in 0..n {
        first[i + 1] += first[i];
    }
    let mut fill = first.clone();
    let mut preds = vec![0usize; first[n]];
    for (pc, to) in edges() {
        preds[fill[to]] = pc;
        fill[to] += 1;
    }
    let mut work: Vec<usize> = (0..n).collect();
    while let Some(pc) = work.pop() {
        let new = live_in(insns, pc, &live, loads);
        if new != live[pc] {
            live[pc] = new;
            work.extend(preds[first[pc]..first[pc + 1]].iter().copied());
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::asm::assemble;
    use crate::{compile_expr, translate, LinkType};

    /// The one-pass liveness of code without backward jumps is the
    /// worklist's fixpoint, on translated filters and on eBPF with calls,
    /// `lddw` and several exits.
    #[test]
    fn one_pass_liveness_is_the_fixpoint() {
        let mut programs: Vec<Vec<Insn>> = [
            "ip and udp",
            "tcp port 443",
            "udp and (port 53 or port 123) and not net 10.0.0.0/8",
            "host 10.1.0.1 or host 10.1.0.2 or host 1.1.1.1 or net 192.168.0.0/16",
            "tcp[tcpflags] & tcp-syn != 0 and len > 100",
            "vlan 10 and udp port 53",
        ]
        .iter()
        .map(|e| {
            let classic = compile_expr(e, LinkType::Ethernet).expect("compiles");
            translate::translate(&classic).expect("translates").insns
        })
        .collect();
        for src in [
            "mov %r6, %r1\nlddw %r2, 0x1122334455667788\njgt %r1, %r2, +3\ncall 5\nmov %r0, %r6\nexit\nmov %r0, %r7\nexit",
            "mov %r3, 1\njeq %r1, 0, +2\nadd %r3, %r2\nja +1\nmov %r4, %r3\nmov %r0, %r3\nexit",
        ] {
            programs.push(assemble(src).expect("assembles").insns);
        }
        for insns in &programs {
            for loads in [PacketLoads::ReadContext, PacketLoads::ReadPacketOnly] {
                assert_eq!(live_registers(insns, loads), live_by_worklist(insns, loads));
            }
        }
        // The translation's `r6 = r1` is read only by the packet loads of
        // a filter that reads no context field.
        let ip_udp = &programs[0];
        let copy = ip_udp
            .iter()
            .position(|i| i.opc == op::ALU64 | op::MOV | op::X && i.dst == 6)
            .expect("r6 = r1");
        let r6 = regs::bit(6);
        assert_ne!(
            live_registers(ip_udp, PacketLoads::ReadContext)[copy + 1] & r6,
            0
        );
        assert_eq!(
            live_registers(ip_udp, PacketLoads::ReadPacketOnly)[copy + 1] & r6,
            0
        );
    }
}
