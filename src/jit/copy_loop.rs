//! Byte-copy loop recognition. eBPF has no `memcpy`: clang turns a copy of
//! a length it does not know into a loop that loads one byte, stores it,
//! and steps a counter by one until it equals a bound. Such a loop is
//! lowered with a guard in front: when the run's values show that every
//! byte it would copy lies inside the memory or the stack, that source and
//! destination do not overlap and that the count is sane, the bytes are
//! copied 64 and 16 at a time and the registers are given the values the last
//! iteration leaves; otherwise the loop runs as written (and fails, or
//! copies overlapping bytes, exactly as before).
//!
//! What is recognised: a backward jump to `head` closing either `body;
//! jeq c, K, exit; ja head` or `body; jne c, K, head` (64-bit compares
//! with a constant or a register),
//! entered only at `head`, whose body has no jumps and only 64-bit
//! `mov`/`add`/`sub` of registers and immediates plus one byte load
//! followed by one byte store of the loaded value, or (a fill, clang's
//! `memset`) just one byte store of a value the loop does not change. Walking the body once
//! with every register as a sum of the registers' values at `head` (a
//! [`Lin`]) shows the rest: every register the iteration reads keeps its
//! value or gains 1 (a stepper: an index or a pointer), both addresses
//! gain 1, and the exit tests a stepper against a constant or a register
//! that keeps its value.

use crate::ebpf::insn::{op, Insn};

/// A register's value as `c + Σ coef[r] · r` over the registers' values
/// at the loop's head (wrapping 64-bit arithmetic).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lin {
    pub coef: [u64; 10],
    pub c: u64,
}

impl Lin {
    fn reg(r: u8) -> Lin {
        let mut coef = [0; 10];
        coef[usize::from(r)] = 1;
        Lin { coef, c: 0 }
    }

    fn constant(c: u64) -> Lin {
        Lin { coef: [0; 10], c }
    }

    fn add(self, o: Lin, sign: u64) -> Lin {
        let mut coef = self.coef;
        for (a, b) in coef.iter_mut().zip(o.coef) {
            *a = a.wrapping_add(b.wrapping_mul(sign));
        }
        Lin {
            coef,
            c: self.c.wrapping_add(o.c.wrapping_mul(sign)),
        }
    }

    /// The registers this value reads.
    fn reads(&self) -> impl Iterator<Item = u8> + '_ {
        (0..10u8).filter(|&r| self.coef[usize::from(r)] != 0)
    }
}

/// A register's value in the symbolic walk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    Lin(Lin),
    /// The byte the iteration loaded.
    Byte,
}

/// What a register holds after the last iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Final {
    /// This sum, with the counter at its last iteration's value.
    Lin(Lin),
    /// The last byte copied.
    LastByte,
}

/// Where a loop's bytes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// Loaded from this address (the first iteration's), one more each
    /// iteration.
    Copy(Lin),
    /// The low byte of this value (registers the loop does not change):
    /// a fill, clang's `memset` of an unknown length.
    Fill(Lin),
}

/// A recognised byte-copy loop (see the module header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CopyLoop {
    /// The loop's first instruction (where it is entered).
    pub head: usize,
    /// The backward jump closing it.
    pub back: usize,
    /// Where control goes when the loop ends.
    pub exit: usize,
    /// The register the exit tests.
    pub counter: u8,
    /// Registers that gain 1 per iteration (the counter among them).
    pub steppers: Vec<u8>,
    /// The counter's value (at `head`) in the last iteration, over
    /// registers the loop does not change.
    pub last: Lin,
    /// What is stored: the bytes at an address (from the first
    /// iteration's), or one value's low byte.
    pub src: Source,
    /// The first iteration's destination address.
    pub dst: Lin,
    /// Every register the body writes, and its value after the loop.
    pub finals: Vec<(u8, Final)>,
}

/// Finds every byte-copy loop in `insns[start..end]`, by its head.
pub(crate) fn find(insns: &[Insn], start: usize, end: usize) -> Vec<CopyLoop> {
    let targets = jump_targets(insns, start, end);
    (start..end)
        .filter_map(|back| recognise(insns, start, end, &targets, back))
        .collect()
}

/// Every (jump pc, target) in the function.
fn jump_targets(insns: &[Insn], start: usize, end: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut pc = start;
    while pc < end {
        let insn = &insns[pc];
        if matches!(insn.class(), op::JMP | op::JMP32) {
            if let [_, Some(t)] | [Some(t), None] = insn.successors(pc) {
                if t != pc + 1 || insn.op() == op::JA {
                    out.push((pc, t));
                }
            }
        }
        pc += insn.width();
    }
    out
}

fn recognise(
    insns: &[Insn],
    start: usize,
    end: usize,
    targets: &[(usize, usize)],
    back: usize,
) -> Option<CopyLoop> {
    let closing = insns[back];
    let is_compare = |i: &Insn| i.class() == op::JMP;
    // (head, the exit test's pc, whether the test exits on equality, exit)
    let (head, test, exit) = if closing.opc == op::JMP | op::JA {
        let head = closing.successors(back)[0]?;
        let test = back.checked_sub(1)?;
        let t = insns[test];
        let exit = t.successors(test)[1]?;
        if !(is_compare(&t) && t.op() == op::JEQ && exit > back && exit < end) {
            return None;
        }
        (head, test, exit)
    } else if is_compare(&closing) && closing.op() == op::JNE {
        let head = closing.successors(back)[1]?;
        (head, back, back + 1)
    } else {
        return None;
    };
    if head < start || head >= test || exit >= end {
        return None;
    }
    // Entered only at `head`: no jump from anywhere lands inside.
    if targets
        .iter()
        .any(|&(from, t)| t > head && t <= back && !(from == test && t == test + 1))
    {
        return None;
    }
    // The body, once, symbolically.
    let mut regs: [Value; 10] = std::array::from_fn(|r| Value::Lin(Lin::reg(r as u8)));
    let (mut src, mut dst, mut fill) = (None, None, None);
    for &insn in &insns[head..test] {
        let (d, s) = (usize::from(insn.dst), usize::from(insn.src));
        // (r10 as either register: a frame access, never stepping.)
        if d >= 10 || s >= 10 {
            return None;
        }
        match insn.class() {
            op::ALU64 if insn.off == 0 && matches!(insn.op(), op::MOV | op::ADD | op::SUB) => {
                let operand = if insn.opc & op::X != 0 {
                    regs[s]
                } else {
                    Value::Lin(Lin::constant(i64::from(insn.imm) as u64))
                };
                regs[d] = match (insn.op(), regs[d], operand) {
                    (op::MOV, _, v) => v,
                    (op::ADD, Value::Lin(a), Value::Lin(b)) => Value::Lin(a.add(b, 1)),
                    (op::SUB, Value::Lin(a), Value::Lin(b)) => Value::Lin(a.add(b, u64::MAX)),
                    _ => return None,
                };
            }
            op::LDX if insn.opc == op::LDX | op::MEM | op::B && src.is_none() => {
                let Value::Lin(base) = regs[s] else {
                    return None;
                };
                let off = Lin::constant(i64::from(insn.off) as u64);
                src = Some(base.add(off, 1));
                regs[d] = Value::Byte;
            }
            op::STX | op::ST
                if (insn.opc == op::ST | op::MEM | op::B
                    || insn.opc == op::STX | op::MEM | op::B)
                    && dst.is_none() =>
            {
                let Value::Lin(base) = regs[d] else {
                    return None;
                };
                let value = if insn.class() == op::ST {
                    Value::Lin(Lin::constant(i64::from(insn.imm) as u64))
                } else {
                    regs[s]
                };
                match (value, src) {
                    (Value::Byte, Some(_)) => {}
                    (Value::Lin(v), None) => fill = Some(v),
                    _ => return None,
                }
                let off = Lin::constant(i64::from(insn.off) as u64);
                dst = Some(base.add(off, 1));
            }
            _ => return None,
        }
    }
    let dst = dst?;
    let src = match (src, fill) {
        (Some(a), None) => Source::Copy(a),
        (None, Some(v)) => Source::Fill(v),
        _ => return None,
    };
    // Registers that gain 1 per iteration.
    let steppers: Vec<u8> = (0..10u8)
        .filter(|&r| {
            let mut step = Lin::reg(r);
            step.c = 1;
            regs[usize::from(r)] == Value::Lin(step)
        })
        .collect();
    // Every register the iteration reads keeps its value or steps.
    let t = insns[test];
    let (Source::Copy(from) | Source::Fill(from)) = src;
    let mut read: Vec<u8> = from.reads().chain(dst.reads()).collect();
    for v in &regs {
        if let Value::Lin(l) = v {
            read.extend(l.reads());
        }
    }
    if t.opc & op::X != 0 {
        read.push(t.src);
    }
    let invariant = |r: u8| regs[usize::from(r)] == Value::Lin(Lin::reg(r));
    if read
        .iter()
        .any(|&r| !steppers.contains(&r) && !invariant(r))
    {
        return None;
    }
    let step_of = |l: &Lin| {
        steppers
            .iter()
            .fold(0u64, |a, &r| a.wrapping_add(l.coef[usize::from(r)]))
    };
    // Both addresses gain 1 per iteration; a filled value stays.
    let from_step = match src {
        Source::Copy(_) => 1,
        Source::Fill(_) => 0,
    };
    if step_of(&from) != from_step || step_of(&dst) != 1 {
        return None;
    }
    if matches!(src, Source::Fill(_)) && from.reads().any(|r| !invariant(r)) {
        return None;
    }
    // The exit test: a stepping register plus a constant against a
    // constant or an unchanging register.
    let Value::Lin(tested) = regs[usize::from(t.dst)] else {
        return None;
    };
    let counter = tested.reads().next()?;
    if tested.reads().count() != 1
        || tested.coef[usize::from(counter)] != 1
        || !steppers.contains(&counter)
    {
        return None;
    }
    let bound = if t.opc & op::X != 0 {
        if t.src >= 10 || !invariant(t.src) {
            return None;
        }
        Lin::reg(t.src)
    } else {
        Lin::constant(i64::from(t.imm) as u64)
    };
    let finals = (0..10u8)
        .filter_map(|r| match regs[usize::from(r)] {
            Value::Lin(l) if l == Lin::reg(r) => None,
            Value::Lin(l) => Some((r, Final::Lin(l))),
            Value::Byte => Some((r, Final::LastByte)),
        })
        .collect();
    Some(CopyLoop {
        head,
        back,
        exit,
        counter,
        steppers,
        last: bound.add(Lin::constant(tested.c), u64::MAX),
        src,
        dst,
        finals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::asm::assemble;

    /// bpf-benchmark's memcpy: r2 counts 0 ..= 0xfffff, copying r1[r2]
    /// to r1[r2 + 0x100000].
    const MEMCPY: &str = "mov %r2, 0\nmov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r3]\n\
                          add %r3, 0x100000\nstxb [%r3], %r4\nadd %r2, 1\n\
                          jeq %r2, 0x100000, +1\nja -8\nmov %r0, 0\nexit";

    #[test]
    fn clangs_copy_loop_is_recognised_with_its_final_registers() {
        let insns = assemble(MEMCPY).expect("assembles").insns;
        let found = find(&insns, 0, insns.len());
        let mut r3 = Lin::reg(1).add(Lin::reg(2), 1);
        let src = r3;
        r3.c = 0x100000;
        let mut r2 = Lin::reg(2);
        r2.c = 1;
        assert_eq!(
            found,
            vec![CopyLoop {
                head: 1,
                back: 8,
                exit: 9,
                counter: 2,
                steppers: vec![2],
                last: Lin::constant(0xfffff),
                src: Source::Copy(src),
                dst: r3,
                finals: vec![
                    (2, Final::Lin(r2)),
                    (3, Final::Lin(r3)),
                    (4, Final::LastByte)
                ],
            }]
        );
    }

    #[test]
    fn a_pointer_stepping_loop_closed_by_jne_on_an_end_pointer_is_recognised() {
        // r1 (source) and r2 (destination) step; the exit tests r1
        // against the end pointer r5 = r1 + 64.
        let src = "mov %r5, %r1\nadd %r5, 64\nldxb %r3, [%r1+2]\nstxb [%r2-1], %r3\n\
                   add %r1, 1\nadd %r2, 1\njne %r1, %r5, -5\nexit";
        let insns = assemble(src).expect("assembles").insns;
        let found = find(&insns, 0, insns.len());
        assert_eq!(found.len(), 1, "{found:?}");
        let l = &found[0];
        assert_eq!((l.head, l.back, l.exit, l.counter), (2, 6, 7, 1));
        assert_eq!(l.steppers, vec![1, 2]);
        // The last iteration starts with r1 = r5 - 1.
        let mut last = Lin::reg(5);
        last.c = u64::MAX;
        assert_eq!(l.last, last);
    }

    #[test]
    fn loops_that_do_more_than_copy_are_not_recognised() {
        for body in [
            // the stored byte is changed
            "mov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r3]\nadd %r4, 1\nstxb [%r3+64], %r4",
            // stores before it loads
            "mov %r3, %r1\nadd %r3, %r2\nstxb [%r3+64], %r4\nldxb %r4, [%r3]",
            // a word, not a byte
            "mov %r3, %r1\nadd %r3, %r2\nldxw %r4, [%r3]\nstxw [%r3+64], %r4",
            // the destination steps twice as fast
            "mov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r3]\nadd %r3, %r2\nstxb [%r3+64], %r4",
            // a register the iteration reads changes
            "mov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r3]\nstxb [%r3+64], %r4\nadd %r1, 3",
            // the frame (r10 is no register of the walk)
            "mov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r10-8]\nstxb [%r3+64], %r4",
            "mov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r3]\nstxb [%r10-8], %r4",
        ] {
            let n = body.lines().count();
            let src = format!(
                "mov %r2, 0\n{body}\nadd %r2, 1\njeq %r2, 64, +1\nja -{}\nexit",
                n + 3
            );
            let insns = assemble(&src).expect("assembles").insns;
            assert!(find(&insns, 0, insns.len()).is_empty(), "{src}");
        }
    }

    #[test]
    fn fill_loops_are_recognised_with_their_value() {
        // clang's memset of an unknown length: a constant, or a register
        // the loop does not change.
        for (store, value) in [
            ("stb [%r3], 0x5a", Lin::constant(0x5a)),
            ("stxb [%r3], %r5", Lin::reg(5)),
        ] {
            let src = format!(
                "mov %r2, 0\nmov %r3, %r1\nadd %r3, %r2\n{store}\nadd %r2, 1\n\
                 jne %r2, %r4, -5\nexit"
            );
            let insns = assemble(&src).expect("assembles").insns;
            let found = find(&insns, 0, insns.len());
            assert_eq!(found.len(), 1, "{src}: {found:?}");
            assert_eq!(found[0].src, Source::Fill(value));
        }
        // A value that changes each time is no fill.
        let src = "mov %r2, 0\nmov %r3, %r1\nadd %r3, %r2\nstxb [%r3], %r2\nadd %r2, 1\n\
                   jne %r2, %r4, -5\nexit";
        let insns = assemble(src).expect("assembles").insns;
        assert!(find(&insns, 0, insns.len()).is_empty());
    }

    #[test]
    fn a_loop_entered_in_the_middle_is_not_recognised() {
        let src = "mov %r2, 0\nja +2\nmov %r3, %r1\nadd %r3, %r2\nldxb %r4, [%r3]\n\
                   stxb [%r3+64], %r4\nadd %r2, 1\njeq %r2, 64, +1\nja -8\nexit";
        let insns = assemble(src).expect("assembles").insns;
        assert!(find(&insns, 0, insns.len()).is_empty());
    }
}
