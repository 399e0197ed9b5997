//! The classic interpreter engine ([`crate::Engine::Cbpf`]): the reference
//! interpreter's semantics ([`super::interp`]) over a program decoded once
//! into operations that carry what each instruction needs (absolute jump
//! targets, load sizes, whether an offset can be read directly), so a run
//! dispatches once per instruction and reads packet bytes without the
//! reference's general offset resolution. Ancillary loads and negative
//! offsets go through the reference's own functions.
//!
//! Only for programs the kernel's checker accepted: jumps land inside the
//! program and every path returns (a run still never panics: a target out
//! of range ends it with verdict 0).

use super::ancillary::Ancillary;
use super::insn::{op, Program};
use super::interp::{ancillary, load};
use super::meta::Metadata;
use super::semantics::{alu, jump_taken};
use crate::rng::Rng;

/// One decoded instruction.
#[derive(Clone, Copy, Debug)]
enum Op {
    RetK(u32),
    RetA,
    LdImm(u32),
    LdxImm(u32),
    LdLen,
    LdxLen,
    LdMem(u8),
    LdxMem(u8),
    St(u8),
    Stx(u8),
    Tax,
    Txa,
    /// `ldb [k]`, `ldh [k]`, `ld [k]` with `k` a non-negative offset:
    /// read directly, one variant per size so a run dispatches once.
    LdAbsB(u32),
    LdAbsH(u32),
    LdAbsW(u32),
    /// `ld [k]` at a negative offset (`SKF_NET_OFF`/`SKF_LL_OFF` areas).
    LdAbsNeg {
        size: u8,
        k: u32,
    },
    /// An ancillary load (`#proto`, `#rand`, …).
    LdAnc(Ancillary),
    LdInd {
        size: u8,
        k: u32,
    },
    LdxMsh(u32),
    AluK {
        operation: u16,
        k: u32,
    },
    AluX {
        operation: u16,
    },
    Neg,
    Ja(u32),
    /// `jeq`, `jgt`, `jge`, `jset` with a constant: one variant each, so
    /// a run dispatches once for them.
    JeqK {
        k: u32,
        jt: u16,
        jf: u16,
    },
    JgtK {
        k: u32,
        jt: u16,
        jf: u16,
    },
    JgeK {
        k: u32,
        jt: u16,
        jf: u16,
    },
    JsetK {
        k: u32,
        jt: u16,
        jf: u16,
    },
    JmpX {
        operation: u16,
        jt: u16,
        jf: u16,
    },
    /// What the reference would end with verdict 0.
    Fail,
}

/// A classic program decoded for [`Decoded::run`].
#[derive(Clone, Debug)]
pub struct Decoded {
    ops: Vec<Op>,
}

fn size_bytes(size_field: u16) -> u8 {
    match size_field {
        op::W => 4,
        op::H => 2,
        _ => 1,
    }
}

impl Decoded {
    /// Decodes `prog` (one operation per instruction, same indices).
    pub fn new(prog: &Program) -> Decoded {
        let target =
            |pc: usize, off: u32| (pc as u64 + 1 + u64::from(off)).min(u64::from(u32::MAX)) as u32;
        // Conditional targets are at most 256 past an instruction of a
        // program of at most 4,096 (the checker's limit); a target past
        // what u16 holds ends the run, as a jump past the end does.
        let short = |t: u32| u16::try_from(t).unwrap_or(u16::MAX);
        let ops = prog
            .insns
            .iter()
            .enumerate()
            .map(|(pc, insn)| {
                let k = insn.k;
                let code = insn.code;
                let class = code & 0x07;
                let size = size_bytes(code & 0x18);
                let mem = |k: u32| {
                    if k < op::MEMWORDS {
                        Some(k as u8)
                    } else {
                        None
                    }
                };
                match class {
                    op::RET if code == op::RET | op::K => Op::RetK(k),
                    op::RET if code == op::RET | op::A => Op::RetA,
                    op::LD if code == op::LD | op::IMM => Op::LdImm(k),
                    op::LDX if code == op::LDX | op::IMM => Op::LdxImm(k),
                    op::LD if code == op::LD | op::W | op::LEN => Op::LdLen,
                    op::LDX if code == op::LDX | op::W | op::LEN => Op::LdxLen,
                    op::LD if code == op::LD | op::MEM => mem(k).map_or(Op::Fail, Op::LdMem),
                    op::LDX if code == op::LDX | op::MEM => mem(k).map_or(Op::Fail, Op::LdxMem),
                    op::ST if code == op::ST => mem(k).map_or(Op::Fail, Op::St),
                    op::STX if code == op::STX => mem(k).map_or(Op::Fail, Op::Stx),
                    op::MISC if code == op::MISC | op::TAX => Op::Tax,
                    op::MISC if code == op::MISC | op::TXA => Op::Txa,
                    op::LD if code & 0xe0 == op::ABS && code & 0x18 != 0x18 => {
                        match Ancillary::from_k(k) {
                            Some(anc) => Op::LdAnc(anc),
                            None if (k as i32) >= 0 => match size {
                                1 => Op::LdAbsB(k),
                                2 => Op::LdAbsH(k),
                                _ => Op::LdAbsW(k),
                            },
                            None => Op::LdAbsNeg { size, k },
                        }
                    }
                    op::LD if code & 0xe0 == op::IND && code & 0x18 != 0x18 => {
                        Op::LdInd { size, k }
                    }
                    op::LDX if code == op::LDX | op::B | op::MSH => Op::LdxMsh(k),
                    op::ALU if code == op::ALU | op::NEG => Op::Neg,
                    op::ALU if code & !0xf8 == op::ALU => {
                        let operation = code & 0xf0;
                        if alu(operation, 1, 1).is_none() {
                            Op::Fail
                        } else if code & op::X != 0 {
                            Op::AluX { operation }
                        } else {
                            Op::AluK { operation, k }
                        }
                    }
                    op::JMP if code == op::JMP | op::JA => Op::Ja(target(pc, k)),
                    op::JMP
                        if code & !0xf8 == op::JMP && jump_taken(code & 0xf0, 0, 0).is_some() =>
                    {
                        let jt = short(target(pc, u32::from(insn.jt)));
                        let jf = short(target(pc, u32::from(insn.jf)));
                        let operation = code & 0xf0;
                        if code & op::X != 0 {
                            Op::JmpX { operation, jt, jf }
                        } else {
                            match operation {
                                op::JEQ => Op::JeqK { k, jt, jf },
                                op::JGT => Op::JgtK { k, jt, jf },
                                op::JGE => Op::JgeK { k, jt, jf },
                                _ => Op::JsetK { k, jt, jf },
                            }
                        }
                    }
                    _ => Op::Fail,
                }
            })
            .collect();
        Decoded { ops }
    }

    /// The verdict on `packet`, `len` being what `ld len` reads: exactly
    /// [`super::interp::run_with_len`]'s.
    #[inline]
    pub fn run(&self, packet: &[u8], meta: &Metadata, len: u32) -> u32 {
        let mut a: u32 = 0;
        let mut x: u32 = 0;
        let mut mem = [0u32; op::MEMWORDS as usize];
        let mut rng: Option<Rng> = None;
        let mut pc = 0usize;
        loop {
            let Some(&o) = self.ops.get(pc) else {
                return 0;
            };
            pc += 1;
            match o {
                Op::RetK(k) => return k,
                Op::RetA => return a,
                Op::LdImm(k) => a = k,
                Op::LdxImm(k) => x = k,
                Op::LdLen => a = len,
                Op::LdxLen => x = len,
                Op::LdMem(i) => a = mem[usize::from(i)],
                Op::LdxMem(i) => x = mem[usize::from(i)],
                Op::St(i) => mem[usize::from(i)] = a,
                Op::Stx(i) => mem[usize::from(i)] = x,
                Op::Tax => x = a,
                Op::Txa => a = x,
                Op::LdAbsB(k) => match read(packet, k as usize, 1) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdAbsH(k) => match read(packet, k as usize, 2) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdAbsW(k) => match read(packet, k as usize, 4) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdAbsNeg { size, k } => match load(packet, meta, k as i32, usize::from(size)) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdAnc(anc) => {
                    let rng = rng.get_or_insert_with(|| Rng::new(meta.random_seed));
                    match ancillary(anc, a, x, packet, meta, rng) {
                        Ok(v) => a = v,
                        Err(verdict) => return verdict,
                    }
                }
                Op::LdInd { size, k } => {
                    let off = x.wrapping_add(k) as i32;
                    let v = if off >= 0 {
                        read(packet, off as usize, size)
                    } else {
                        load(packet, meta, off, usize::from(size))
                    };
                    match v {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
                Op::LdxMsh(k) => {
                    let v = if (k as i32) >= 0 {
                        packet.get(k as usize).map(|&b| u32::from(b))
                    } else {
                        load(packet, meta, k as i32, 1)
                    };
                    match v {
                        Some(v) => x = (v & 0xf) << 2,
                        None => return 0,
                    }
                }
                Op::AluK { operation, k } => match alu(operation, a, k) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::AluX { operation } => match alu(operation, a, x) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::Neg => a = a.wrapping_neg(),
                Op::Ja(to) => pc = to as usize,
                Op::JeqK { k, jt, jf } => pc = pick(jump_taken(op::JEQ, a, k), jt, jf),
                Op::JgtK { k, jt, jf } => pc = pick(jump_taken(op::JGT, a, k), jt, jf),
                Op::JgeK { k, jt, jf } => pc = pick(jump_taken(op::JGE, a, k), jt, jf),
                Op::JsetK { k, jt, jf } => pc = pick(jump_taken(op::JSET, a, k), jt, jf),
                Op::JmpX { operation, jt, jf } => pc = pick(jump_taken(operation, a, x), jt, jf),
                Op::Fail => return 0,
            }
        }
    }
}

/// The next instruction after a conditional jump. The taken side is
/// marked unlikely only so the compiler keeps a branch: a conditional move
/// would make fetching the next operation wait for every compare.
#[inline(always)]
fn pick(taken: Option<bool>, jt: u16, jf: u16) -> usize {
    if taken == Some(true) {
        std::hint::cold_path();
        usize::from(jt)
    } else {
        usize::from(jf)
    }
}

/// `size` big-endian bytes at `off`, if the packet holds them.
#[inline(always)]
fn read(packet: &[u8], off: usize, size: u8) -> Option<u32> {
    match size {
        1 => packet.get(off).map(|&b| u32::from(b)),
        2 => packet
            .get(off..off.checked_add(2)?)
            .map(|b| u32::from(u16::from_be_bytes([b[0], b[1]]))),
        _ => packet
            .get(off..off.checked_add(4)?)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]])),
    }
}
