//! Seeded generator of classic programs for acceptance testing: valid
//! programs from [`super::classic`], each broken (or nearly broken) in one
//! targeted way per checker rule — unknown opcodes, `div #0`, shifts by 32,
//! scratch index 16, jumps one past the end, unknown ancillary offsets, no
//! final `ret`, scratch reads before writes, empty and over-long programs —
//! plus the same edits at their legal limits (shift by 31, jump to the last
//! instruction, ...), so both verdicts of every rule are exercised.

use crate::Rng;
use cranebpf::cbpf::check::code_allowed;
use cranebpf::cbpf::insn::{op, skf, Insn};
use cranebpf::cbpf::Program;

/// One program, valid or not.
pub fn program(rng: &mut Rng) -> Program {
    let mut insns = super::classic::program(rng, 12).insns;
    let n = insns.len();
    let at = rng.below(n as u64) as usize;
    let edge = rng.chance(1, 2); // just past the limit, or exactly at it
    let k = |ok: u32, bad: u32| if edge { bad } else { ok };
    match rng.below(12) {
        0 => {
            // Any 16-bit opcode, biased towards the allowed ones' neighbours.
            let code = if rng.chance(1, 2) {
                rng.next_u32() as u16
            } else {
                rng.below(0x100) as u16
            };
            let kk = rng.next_u32() & *rng.pick(&[0xf, 0xffff_ffff]);
            insns[at] = Insn::stmt(code, kk);
            if code & 0x07 == op::JMP && code_allowed(code) {
                insns[at] = Insn::jump(code, kk, rng.below(3) as u8, rng.below(3) as u8);
            }
        }
        1 => {
            let o = *rng.pick(&[op::DIV, op::MOD]);
            insns[at] = Insn::stmt(op::ALU | o | op::K, k(1 + rng.below(3) as u32, 0));
        }
        2 => {
            let o = *rng.pick(&[op::LSH, op::RSH]);
            let bad = 32 + *rng.pick(&[0u32, 1, 31, 0xffff_ffe0]);
            insns[at] = Insn::stmt(op::ALU | o | op::K, k(31, bad));
        }
        3 => {
            let class = *rng.pick(&[op::ST, op::STX, op::LD | op::MEM, op::LDX | op::MEM]);
            let cell = k(15, 16 + *rng.pick(&[0u32, 1, 0x7fff_ffff, 0xffff_ffef]));
            // Reads of cell 15 need a write first.
            insns.insert(0, Insn::stmt(op::ST, 15));
            insns.insert(at + 1, Insn::stmt(class, cell));
        }
        4 => {
            // Jumps relative to the instruction after; the last index is n-1.
            let room = (n - at - 1) as u32; // targets pc+1+room = n... past end
            let target = k(room.saturating_sub(1), room + rng.below(2) as u32);
            if rng.chance(1, 2) {
                insns[at] = Insn::stmt(op::JMP | op::JA, target);
                if !edge && rng.chance(1, 4) {
                    insns[at].k = u32::MAX - rng.below(3) as u32;
                }
            } else {
                let o = *rng.pick(&[op::JEQ, op::JGT, op::JGE, op::JSET]);
                let t = target.min(255) as u8;
                let (jt, jf) = if rng.chance(1, 2) { (t, 0) } else { (0, t) };
                insns[at] = Insn::jump(op::JMP | o | op::K, rng.next_u32(), jt, jf);
            }
        }
        5 => {
            let size = *rng.pick(&[op::W, op::H, op::B]);
            let off = if edge {
                skf::AD_OFF + *rng.pick(&[1i32, 2, 3, 5, 64, 68, 100, 0x7fff])
            } else {
                skf::AD_OFF - 1 - rng.below(4) as i32
            };
            insns[at] = Insn::stmt(op::LD | size | op::ABS, off as u32);
        }
        6 => {
            // Drop the final return (or replace it with a non-return).
            insns[n - 1] = Insn::stmt(
                *rng.pick(&[op::LD | op::IMM, op::MISC | op::TAX, op::ALU | op::NEG]),
                1,
            );
            if !edge {
                insns.push(Insn::stmt(op::RET | op::A, 0));
            }
        }
        7 => {
            // A read of a never-written cell, or of one written just before.
            let cell = rng.below(16) as u32;
            let class = *rng.pick(&[op::LD | op::MEM, op::LDX | op::MEM]);
            insns.insert(at, Insn::stmt(class, cell));
            if !edge {
                insns.insert(at, Insn::stmt(op::STX, cell));
            } else {
                // Make sure nothing earlier wrote it.
                for i in &mut insns[..at] {
                    if matches!(i.code, op::ST | op::STX) && i.k == cell {
                        *i = Insn::stmt(op::MISC | op::TXA, 0);
                    }
                }
            }
        }
        8 => {
            // A jump over the write makes the read unsafe.
            let cell = rng.below(16) as u32;
            let skip = u32::from(edge);
            insns.splice(
                0..0,
                [
                    Insn::jump(op::JMP | op::JEQ | op::K, 0, 1, 0),
                    Insn::stmt(op::ST, cell),
                    Insn::stmt(op::JMP | op::JA, skip),
                    Insn::stmt(op::LD | op::MEM, cell),
                    Insn::stmt(op::RET | op::K, 1),
                ],
            );
            insns[0] = Insn::jump(op::JMP | op::JEQ | op::K, 0, 1, 0);
        }
        9 => match rng.below(3) {
            0 => insns.clear(),
            // Rare: a 4096-instruction program is a 40 KB corpus line.
            1 if rng.chance(1, 8) => {
                let len = k(4096, 4097);
                insns = vec![Insn::stmt(op::LD | op::IMM, 1); len as usize - 1];
                insns.push(Insn::stmt(op::RET | op::K, 1));
            }
            _ => insns = vec![Insn::stmt(op::RET | *rng.pick(&[op::X, 0x18, op::A]), 0)],
        },
        _ => {} // left valid
    }
    Program::new(insns)
}
