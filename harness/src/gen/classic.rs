//! Seeded generator of classic programs that the kernel's checker accepts,
//! covering every opcode: scratch memory, division by a zero X, shifts by X
//! of 32 and more, loads straddling the packet end, huge and negative
//! offsets, every ancillary load, and forward jumps of every kind.

use crate::Rng;
use cranebpf::cbpf::insn::{op, skf, Insn};
use cranebpf::cbpf::{check::check, Program};

/// Offsets a packet load uses: small header offsets, the edges of common
/// frame sizes, huge values, and Linux's negative areas.
fn load_offset(rng: &mut Rng) -> u32 {
    match rng.below(12) {
        0..=4 => rng.below(64) as u32,
        5 => rng.below(1600) as u32,
        6 => *rng.pick(&[
            59u32, 60, 61, 62, 63, 1499, 1500, 1513, 1514, 65531, 65532, 65535,
        ]),
        7 => *rng.pick(&[
            0x7fff_ffffu32,
            0x8000_0000,
            0xffff_ffff,
            0x1_0000,
            0xfff0_0000,
        ]),
        8 => (skf::NET_OFF + rng.below(64) as i32) as u32,
        9 => (skf::LL_OFF + rng.below(64) as i32) as u32,
        10 => (skf::LL_OFF - 1 - rng.below(16) as i32) as u32,
        _ => rng.next_u32(),
    }
}

/// A constant operand: small, edge values, or anything.
fn constant(rng: &mut Rng) -> u32 {
    match rng.below(4) {
        0 => rng.below(16) as u32,
        1 => *rng.pick(&[
            0u32,
            1,
            2,
            0x800,
            0x86dd,
            17,
            6,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
        ]),
        _ => rng.next_u32(),
    }
}

const ALU_OPS: [u16; 11] = [
    op::ADD,
    op::SUB,
    op::MUL,
    op::DIV,
    op::OR,
    op::AND,
    op::LSH,
    op::RSH,
    op::NEG,
    op::MOD,
    op::XOR,
];
const JMP_OPS: [u16; 4] = [op::JEQ, op::JGT, op::JGE, op::JSET];
const SIZES: [u16; 3] = [op::W, op::H, op::B];

/// One instruction at position `pc` of an `n`-instruction program, given
/// the scratch cells stored at earlier positions.
fn instruction(rng: &mut Rng, pc: usize, n: usize, stored: &mut u16) -> Insn {
    let room = n - pc - 2; // instructions between this one and the last
    let size = *rng.pick(&SIZES);
    match rng.below(20) {
        0..=3 => Insn::stmt(op::LD | op::ABS | size, load_offset(rng)),
        4 => Insn::stmt(op::LD | op::IND | size, load_offset(rng)),
        5 => {
            let anc = rng.below(skf::AD_MAX as u64 / 4) as i32 * 4;
            Insn::stmt(op::LD | op::ABS | size, (skf::AD_OFF + anc) as u32)
        }
        6 => match rng.below(4) {
            0 => Insn::stmt(op::LD | op::IMM, constant(rng)),
            1 => Insn::stmt(op::LD | op::W | op::LEN, 0),
            2 => Insn::stmt(op::LDX | op::IMM, constant(rng)),
            _ => Insn::stmt(op::LDX | op::W | op::LEN, 0),
        },
        7 => Insn::stmt(op::LDX | op::B | op::MSH, load_offset(rng)),
        8 => {
            let cell = rng.below(16) as u32;
            *stored |= 1 << cell;
            let class = if rng.chance(1, 2) { op::ST } else { op::STX };
            Insn::stmt(class, cell)
        }
        9 if *stored != 0 => {
            let cells: Vec<u32> = (0..16).filter(|c| *stored & (1 << c) != 0).collect();
            let class = if rng.chance(1, 2) { op::LD } else { op::LDX };
            Insn::stmt(class | op::MEM, *rng.pick(&cells))
        }
        10..=13 => {
            let alu = *rng.pick(&ALU_OPS);
            if alu == op::NEG {
                return Insn::stmt(op::ALU | op::NEG, 0);
            }
            if rng.chance(1, 2) {
                return Insn::stmt(op::ALU | alu | op::X, 0);
            }
            let k = match alu {
                op::DIV | op::MOD => constant(rng).max(1),
                op::LSH | op::RSH => rng.below(32) as u32,
                _ => constant(rng),
            };
            Insn::stmt(op::ALU | alu | op::K, k)
        }
        14 => {
            if rng.chance(1, 2) {
                Insn::stmt(op::MISC | op::TAX, 0)
            } else {
                Insn::stmt(op::MISC | op::TXA, 0)
            }
        }
        15 | 16 if room > 0 => {
            let jop = *rng.pick(&JMP_OPS);
            let src = if rng.chance(1, 3) { op::X } else { op::K };
            let span = room.min(255) as u64 + 1;
            let jt = rng.below(span) as u8;
            let jf = rng.below(span) as u8;
            Insn::jump(op::JMP | jop | src, constant(rng), jt, jf)
        }
        17 if room > 0 => Insn::stmt(op::JMP | op::JA, rng.below(room as u64 + 1) as u32),
        18 => {
            if rng.chance(1, 2) {
                Insn::stmt(op::RET | op::A, 0)
            } else {
                Insn::stmt(op::RET | op::K, constant(rng))
            }
        }
        _ => Insn::stmt(op::ALU | op::ADD | op::K, constant(rng)),
    }
}

/// A program the kernel's checker accepts, of 1 to `max_len` instructions.
pub fn program(rng: &mut Rng, max_len: usize) -> Program {
    loop {
        let n = 1 + rng.below(max_len.max(1) as u64) as usize;
        let mut stored = 0u16;
        let mut insns: Vec<Insn> = (0..n - 1)
            .map(|pc| instruction(rng, pc, n, &mut stored))
            .collect();
        insns.push(if rng.chance(1, 2) {
            Insn::stmt(op::RET | op::A, 0)
        } else {
            Insn::stmt(op::RET | op::K, constant(rng))
        });
        let prog = Program::new(insns);
        if check(&prog).is_ok() {
            return prog;
        }
    }
}
