//! What the lowering can prove about registers before each instruction of
//! a function without backward jumps, so that checks whose outcome is known
//! are not emitted:
//!
//! - which registers still hold the entry value of r1 (the input memory),
//!   so that leaf code reads a translated filter's context block through
//!   r6 with plain loads, and
//! - an unsigned range for each register, so that an `LD_IND` whose
//!   offset `(int32)(src + imm)` cannot be negative loses that test (the
//!   `ldxb 4*([14]&0xf)` idiom makes X a multiple of 4 up to 60).
//!
//! One forward pass in instruction order: every jump goes forward, so all
//! predecessors of an instruction are seen before it; facts meet by
//! intersection (aliases) and union (ranges). Functions with a backward
//! jump get no facts.

use crate::ebpf::blocks;
use crate::ebpf::insn::{op, Insn};

/// An inclusive unsigned range of a register's 64-bit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Range {
    pub lo: u64,
    pub hi: u64,
}

impl Range {
    const ANY: Range = Range {
        lo: 0,
        hi: u64::MAX,
    };
    const U32: Range = Range {
        lo: 0,
        hi: u32::MAX as u64,
    };

    fn exact(v: u64) -> Range {
        Range { lo: v, hi: v }
    }

    fn below_bits(bits: u32) -> Range {
        Range {
            lo: 0,
            hi: u64::MAX >> (64 - bits),
        }
    }

    fn union(self, o: Range) -> Range {
        Range {
            lo: self.lo.min(o.lo),
            hi: self.hi.max(o.hi),
        }
    }

    /// The range of the low 32 bits, zero-extended.
    fn low32(self) -> Range {
        if self.hi <= u32::MAX as u64 {
            self
        } else {
            Range::U32
        }
    }
}

/// Facts holding before one instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Facts {
    /// Bit r set: register r holds the entry value of r1.
    pub entry_r1: u16,
    /// Range of r0..r9.
    pub ranges: [Range; 10],
}

/// What one pass carries from instruction to instruction: the full
/// [`Facts`], or only [`Aliases`] when no `LD_IND` asks for a range (a
/// tenth of the state to copy and meet, on every jump of a long filter).
trait Lattice: Copy {
    fn entry() -> Self;
    fn meet(self, o: Self) -> Self;
    /// Register `r` gets a value in `range` that is not the entry r1.
    fn clobber(&mut self, r: u8, range: Range);
    /// Register `r` gets the entry r1.
    fn alias(&mut self, r: u8);
    /// The registers holding the entry r1 (bit r).
    fn aliases(&self) -> u16;
    /// The range of register `r` (r10 is unknown).
    fn range(&self, r: u8) -> Range;

    /// Whether register `r` holds the entry value of r1.
    fn is_entry_r1(&self, r: u8) -> bool {
        r < 10 && self.aliases() & (1 << r) != 0
    }
}

/// The registers holding the entry r1 (bit r), without ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Aliases(u16);

impl Lattice for Aliases {
    fn entry() -> Aliases {
        Aliases(1 << 1)
    }

    fn meet(self, o: Aliases) -> Aliases {
        Aliases(self.0 & o.0)
    }

    fn clobber(&mut self, r: u8, _: Range) {
        if r < 10 {
            self.0 &= !(1 << r);
        }
    }

    fn alias(&mut self, r: u8) {
        self.0 |= 1 << r;
    }

    fn aliases(&self) -> u16 {
        self.0
    }

    fn range(&self, _: u8) -> Range {
        Range::ANY
    }
}

impl Lattice for Facts {
    fn entry() -> Facts {
        Facts {
            entry_r1: 1 << 1,
            ranges: [Range::ANY; 10],
        }
    }

    fn meet(self, o: Facts) -> Facts {
        let mut ranges = self.ranges;
        for (r, other) in ranges.iter_mut().zip(o.ranges) {
            *r = r.union(other);
        }
        Facts {
            entry_r1: self.entry_r1 & o.entry_r1,
            ranges,
        }
    }

    fn clobber(&mut self, r: u8, range: Range) {
        if let Some(slot) = self.ranges.get_mut(usize::from(r)) {
            *slot = range;
            self.entry_r1 &= !(1 << r);
        }
    }

    fn alias(&mut self, r: u8) {
        self.entry_r1 |= 1 << r;
    }

    fn aliases(&self) -> u16 {
        self.entry_r1
    }

    fn range(&self, r: u8) -> Range {
        self.ranges
            .get(usize::from(r))
            .copied()
            .unwrap_or(Range::ANY)
    }
}

impl Facts {
    /// Whether an `LD_IND`'s offset `(int32)(src + imm)` is non-negative
    /// for every value `src` may hold here.
    fn ld_ind_offset_never_negative(&self, src: u8, imm: i32) -> bool {
        let r = self.range(src);
        let imm = i64::from(imm);
        r.hi <= i32::MAX as u64
            && r.lo as i64 + imm >= 0
            && r.hi as i64 + imm <= i64::from(i32::MAX)
    }
}

/// What the lowerings ask of the facts at each slot of one function
/// (indexed like it): nothing is proven at unreachable slots, nor anywhere
/// in a function with a backward jump.
#[derive(Clone, Debug)]
pub(crate) struct Proven {
    /// Whether the function has no backward jump (so facts were found).
    pub forward_only: bool,
    /// Registers holding the entry r1 before each slot.
    entry_r1: Vec<Aliases>,
    /// Whether the `LD_IND` at each slot has an offset never negative.
    ld_ind_never_negative: Vec<bool>,
}

impl Proven {
    /// Leaf code: the end of an access of `size` bytes at `reg + off` at
    /// slot `pc` when it is proven inside the `leaf_mem` bytes at the
    /// entry r1.
    pub fn end_inside_entry_r1(
        &self,
        pc: usize,
        reg: u8,
        off: i64,
        size: i64,
        leaf_mem: u32,
    ) -> Option<u32> {
        let end = off + size;
        (self.holds_entry_r1(pc, reg) && off >= 0 && end <= i64::from(leaf_mem))
            .then_some(end as u32)
    }

    /// Whether register `reg` holds the function's entry r1 before slot
    /// `pc` (never where nothing is proven).
    pub fn holds_entry_r1(&self, pc: usize, reg: u8) -> bool {
        self.entry_r1.get(pc).is_some_and(|a| a.is_entry_r1(reg))
    }

    /// Whether the `LD_IND` at `pc` has an offset `(int32)(src + imm)`
    /// that is non-negative for every value `src` may hold there.
    pub fn ld_ind_offset_never_negative(&self, pc: usize) -> bool {
        self.ld_ind_never_negative.get(pc).copied().unwrap_or(false)
    }
}

/// The facts of `insns` (one function) as the lowerings use them.
pub(crate) fn analyse(insns: &[Insn]) -> Proven {
    let n = insns.len();
    let mut entry_r1 = vec![Aliases(0); n];
    let mut ld_ind_never_negative = vec![false; n];
    let is_ld_ind = |insn: &Insn| insn.class() == op::LD && insn.opc & 0xe0 == op::IND;
    let forward_only = if insns.iter().any(is_ld_ind) {
        walk(insns, |pc, facts: &Facts| {
            entry_r1[pc] = Aliases(facts.entry_r1);
            let insn = &insns[pc];
            if is_ld_ind(insn) {
                ld_ind_never_negative[pc] = facts.ld_ind_offset_never_negative(insn.src, insn.imm);
            }
        })
    } else {
        walk(insns, |pc, aliases: &Aliases| entry_r1[pc] = *aliases)
    };
    Proven {
        forward_only,
        entry_r1,
        ld_ind_never_negative,
    }
}

/// One pass in slot order calling `visit` with the facts before each
/// reachable slot; false (and no visit) for an empty function or one with
/// a backward jump. Only the facts waiting at jump targets are kept (the
/// fall-through carries its own): a table of facts per slot was most of
/// the analysis's time on long programs.
fn walk<L: Lattice>(insns: &[Insn], mut visit: impl FnMut(usize, &L)) -> bool {
    let n = insns.len();
    if n == 0 || !blocks::jumps_only_forward(insns) {
        return false;
    }
    // The waiting facts' index at each slot a jump skips ahead to.
    let mut waiting_at = vec![u32::MAX; n];
    let mut waiting: Vec<Option<L>> = Vec::new();
    let mut pc = 0;
    while pc < n {
        let next = pc + insns[pc].width();
        for t in insns[pc].successors(pc).into_iter().flatten() {
            if t != next && t < n && waiting_at[t] == u32::MAX {
                waiting_at[t] = waiting.len() as u32;
                waiting.push(None);
            }
        }
        pc = next;
    }
    let meet = |into: &mut Option<L>, f: L| {
        *into = Some(match *into {
            Some(g) => g.meet(f),
            None => f,
        });
    };
    let mut current = Some(L::entry());
    let mut pc = 0;
    while pc < n {
        let insn = &insns[pc];
        let next = pc + insn.width();
        if let Some(&w) = waiting_at.get(pc).filter(|&&w| w != u32::MAX) {
            if let Some(arrived) = waiting[w as usize].take() {
                meet(&mut current, arrived);
            }
        }
        if let Some(facts) = current.take() {
            visit(pc, &facts);
            let after = transfer(facts, insn);
            for t in insn.successors(pc).into_iter().flatten() {
                if t == next {
                    current = Some(after);
                } else if let Some(&w) = waiting_at.get(t) {
                    meet(&mut waiting[w as usize], after);
                }
            }
        }
        pc = next;
    }
    true
}

/// Facts after `insn`, given those before it.
fn transfer<L: Lattice>(mut f: L, insn: &Insn) -> L {
    let size_bits = match insn.opc & 0x18 {
        op::B => 8,
        op::H => 16,
        op::W => 32,
        _ => 64,
    };
    match insn.class() {
        op::ALU | op::ALU64 => {
            let wide = insn.class() == op::ALU64;
            let r = alu_range(&f, insn, wide);
            let alias = wide
                && insn.opc & 0xf0 == op::MOV
                && insn.opc & op::X != 0
                && insn.off == 0
                && f.is_entry_r1(insn.src);
            f.clobber(insn.dst, r);
            if alias {
                f.alias(insn.dst);
            }
        }
        op::LDX => {
            let r = if insn.opc & 0xe0 == op::MEM {
                Range::below_bits(size_bits)
            } else {
                Range::ANY
            };
            f.clobber(insn.dst, r);
        }
        op::LD => {
            if insn.is_lddw() {
                f.clobber(insn.dst, Range::ANY);
            } else {
                // Legacy packet loads: r0 is the value; r1-r5 count as
                // clobbered, as the kernel defines.
                for r in 1..=5 {
                    f.clobber(r, Range::ANY);
                }
                f.clobber(0, Range::below_bits(size_bits.min(32)));
            }
        }
        op::STX if insn.opc & 0xe0 == op::ATOMIC => {
            f.clobber(insn.src, Range::ANY);
            f.clobber(0, Range::ANY);
        }
        op::JMP | op::JMP32 if insn.opc & 0xf0 == op::CALL => {
            for r in 0..=5 {
                f.clobber(r, Range::ANY);
            }
        }
        _ => {}
    }
    f
}

/// The range of an ALU result, for the operations filters use to compute
/// offsets; anything else is unknown.
fn alu_range<L: Lattice>(f: &L, insn: &Insn, wide: bool) -> Range {
    let code = insn.opc & 0xf0;
    let from_reg = insn.opc & op::X != 0;
    let dst = f.range(insn.dst);
    let (dst, limit) = if wide {
        (dst, u64::MAX)
    } else {
        (dst.low32(), u32::MAX as u64)
    };
    let imm = if wide {
        i64::from(insn.imm) as u64
    } else {
        u64::from(insn.imm as u32)
    };
    let unknown = if wide { Range::ANY } else { Range::U32 };
    match (code, from_reg) {
        (op::MOV, false) => Range::exact(imm),
        (op::MOV, true) if insn.off == 0 => {
            let s = f.range(insn.src);
            if wide {
                s
            } else {
                s.low32()
            }
        }
        (op::AND, false) => Range {
            lo: 0,
            hi: dst.hi.min(imm),
        },
        (op::LSH, false) => {
            let k = imm & (if wide { 63 } else { 31 });
            if dst.hi <= limit >> k {
                Range {
                    lo: dst.lo << k,
                    hi: dst.hi << k,
                }
            } else {
                unknown
            }
        }
        (op::RSH, false) => {
            let k = imm & (if wide { 63 } else { 31 });
            Range {
                lo: dst.lo >> k,
                hi: dst.hi >> k,
            }
        }
        (op::ADD, false) if dst.hi.checked_add(imm).is_some_and(|h| h <= limit) => Range {
            lo: dst.lo + imm,
            hi: dst.hi + imm,
        },
        _ => unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbpf::parse::parse_ddd;

    /// The facts before each slot (`None`: unreachable, or none found).
    fn facts_before(insns: &[Insn]) -> Vec<Option<Facts>> {
        let mut before = vec![None; insns.len()];
        walk(insns, |pc, f: &Facts| before[pc] = Some(*f));
        before
    }

    #[test]
    fn the_ip_header_length_idiom_bounds_x() {
        // tcpdump's `ldxb 4*([14]&0xf); ldh [x + 14]` after translation.
        let prog = parse_ddd("4\n177 0 0 14\n72 0 0 14\n6 0 0 1\n6 0 0 0\n").expect("ddd");
        let ebpf = crate::translate::translate(&prog).expect("translates");
        let facts = facts_before(&ebpf.insns);
        let ind = ebpf
            .insns
            .iter()
            .position(|i| i.class() == op::LD && i.opc & 0xe0 == op::IND)
            .expect("an LD_IND");
        let f = facts[ind].expect("reachable");
        let x = f.range(ebpf.insns[ind].src);
        assert_eq!(x, Range { lo: 0, hi: 60 });
        // r6 holds the context pointer (the entry r1).
        assert!(f.is_entry_r1(6));
        assert!(!f.is_entry_r1(0));
        // What the lowerings read.
        let proven = analyse(&ebpf.insns);
        assert!(proven.forward_only);
        assert!(proven.ld_ind_offset_never_negative(ind));
        assert_eq!(proven.end_inside_entry_r1(ind, 6, 8, 4, 64), Some(12));
        assert_eq!(proven.end_inside_entry_r1(ind, 6, 62, 4, 64), None);
        assert_eq!(proven.end_inside_entry_r1(ind, 0, 8, 4, 64), None);
    }

    #[test]
    fn a_join_keeps_only_what_holds_on_every_path() {
        // r3 = r1 on one path only; r4 is 5 or 9.
        let i = |opc: u8, dst: u8, src: u8, off: i16, imm: i32| Insn::new(opc, dst, src, off, imm);
        let prog = [
            i(op::JMP | op::JEQ | op::K, 2, 0, 3, 0),
            i(op::ALU64 | op::MOV | op::X, 3, 1, 0, 0),
            i(op::ALU64 | op::MOV | op::K, 4, 0, 0, 5),
            i(op::JMP | op::JA, 0, 0, 2, 0),
            i(op::ALU64 | op::MOV | op::K, 3, 0, 0, 1),
            i(op::ALU64 | op::MOV | op::K, 4, 0, 0, 9),
            i(op::JMP | op::EXIT, 0, 0, 0, 0),
        ];
        let f = facts_before(&prog)[6].expect("reachable");
        assert!(!f.is_entry_r1(3));
        assert!(f.is_entry_r1(1));
        assert_eq!(f.range(4), Range { lo: 5, hi: 9 });
    }

    #[test]
    fn aliases_alone_are_the_aliases_of_the_full_facts() {
        use crate::expr::{compile_expr, LinkType};
        for expr in [
            "ip and udp",
            "tcp port 443 or udp port 53",
            "ip6 and tcp port 80",
            "vlan and host 10.0.0.1",
            "ether[0] & 1 = 0 and len > 100",
        ] {
            let prog = compile_expr(expr, LinkType::Ethernet).expect("compiles");
            let ebpf = crate::translate::translate(&prog).expect("translates");
            let mut full = vec![None; ebpf.len()];
            let mut alone = vec![None; ebpf.len()];
            assert!(walk(&ebpf.insns, |pc, f: &Facts| full[pc] = Some(f.entry_r1)));
            assert!(walk(&ebpf.insns, |pc, a: &Aliases| alone[pc] = Some(a.0)));
            assert_eq!(full, alone, "{expr}");
        }
    }

    #[test]
    fn a_backward_jump_disables_the_analysis() {
        let prog = [
            Insn::new(op::ALU64 | op::MOV | op::K, 0, 0, 0, 0),
            Insn::new(op::JMP | op::JA, 0, 0, -2, 0),
        ];
        assert!(facts_before(&prog).iter().all(Option::is_none));
        assert!(!analyse(&prog).forward_only);
    }
}
