//! Packets targeted at a filter: searches for packets the filter accepts
//! and packets it drops, so a recorded filter is seen to do both.
//!
//! Random frames almost never match `host 10.1.2.3 or host ...`, so the
//! search is guided: a light trace of the program on a packet notes each
//! conditional jump that compared a packet field (or the length) with a
//! constant; flipping one decision means writing into that field a value
//! that takes the other branch. The trace is only a guide — which packets
//! match is decided by the reference interpreter, and what is recorded is
//! the kernel's verdict.

use crate::gen;
use crate::Rng;
use cranebpf::cbpf::insn::{op, Insn};
use cranebpf::cbpf::{interp, Metadata, Program};

/// Where the value in A came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// Nothing we can steer.
    Opaque,
    /// `size` bytes at `offset`, with the bits of `mask` kept.
    Field {
        offset: usize,
        size: usize,
        mask: u32,
    },
    /// The packet length.
    Len,
}

/// A conditional jump taken one way on a traced packet.
#[derive(Clone, Copy, Debug)]
struct Decision {
    origin: Origin,
    insn: Insn,
    taken: bool,
}

/// The steerable decisions made running `prog` on `packet`.
fn trace(prog: &Program, packet: &[u8], meta: &Metadata) -> Vec<Decision> {
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut origin = Origin::Opaque;
    let mut out = Vec::new();
    let mut pc = 0;
    while let Some(&insn) = prog.insns.get(pc) {
        pc += 1;
        let size = match insn.size() {
            op::W => 4,
            op::H => 2,
            _ => 1,
        };
        match insn.class() {
            op::LD => match insn.mode() {
                op::ABS | op::IND => {
                    let off = if insn.mode() == op::ABS {
                        insn.k as i32
                    } else {
                        x.wrapping_add(insn.k) as i32
                    };
                    if off < 0 {
                        return out; // ancillary or negative area: stop guiding
                    }
                    match interp::load(packet, meta, off, size) {
                        Some(v) => a = v,
                        None => {
                            // Too short: growing the packet is a decision too.
                            out.push(Decision {
                                origin: Origin::Len,
                                insn: Insn::jump(
                                    op::JMP | op::JGE | op::K,
                                    off as u32 + size as u32,
                                    0,
                                    0,
                                ),
                                taken: false,
                            });
                            return out;
                        }
                    }
                    origin = Origin::Field {
                        offset: off as usize,
                        size,
                        mask: u32::MAX,
                    };
                }
                op::LEN => (a, origin) = (packet.len() as u32, Origin::Len),
                op::MEM => (a, origin) = (mem[(insn.k & 15) as usize], Origin::Opaque),
                _ => (a, origin) = (insn.k, Origin::Opaque),
            },
            op::LDX => {
                x = match insn.mode() {
                    op::MSH => match interp::load(packet, meta, insn.k as i32, 1) {
                        Some(v) => 4 * (v & 0xf),
                        None => return out,
                    },
                    op::LEN => packet.len() as u32,
                    op::MEM => mem[(insn.k & 15) as usize],
                    _ => insn.k,
                }
            }
            op::ST => mem[(insn.k & 15) as usize] = a,
            op::STX => mem[(insn.k & 15) as usize] = x,
            op::ALU => {
                let operand = if insn.src() == op::X { x } else { insn.k };
                if let (op::AND, op::K, Origin::Field { mask, .. }) =
                    (insn.op(), insn.src(), &mut origin)
                {
                    *mask &= insn.k;
                } else {
                    // Steering through other arithmetic is not attempted.
                    origin = Origin::Opaque;
                }
                a = match insn.op() {
                    op::ADD => a.wrapping_add(operand),
                    op::SUB => a.wrapping_sub(operand),
                    op::MUL => a.wrapping_mul(operand),
                    op::DIV => a.checked_div(operand).unwrap_or(0),
                    op::MOD => a.checked_rem(operand).unwrap_or(0),
                    op::OR => a | operand,
                    op::AND => a & operand,
                    op::XOR => a ^ operand,
                    op::LSH => a.wrapping_shl(operand),
                    op::RSH => a.wrapping_shr(operand),
                    _ => a.wrapping_neg(),
                };
            }
            op::JMP => {
                if insn.op() == op::JA {
                    pc += insn.k as usize;
                    continue;
                }
                let operand = if insn.src() == op::X { x } else { insn.k };
                let taken = match insn.op() {
                    op::JEQ => a == operand,
                    op::JGT => a > operand,
                    op::JGE => a >= operand,
                    _ => a & operand != 0,
                };
                if origin != Origin::Opaque {
                    let mut i = insn;
                    i.k = operand;
                    out.push(Decision {
                        origin,
                        insn: i,
                        taken,
                    });
                }
                pc += if taken { insn.jt } else { insn.jf } as usize;
            }
            op::RET => return out,
            _ => {
                if insn.miscop() == op::TAX {
                    x = a;
                } else {
                    a = x;
                    origin = Origin::Opaque;
                }
            }
        }
    }
    out
}

/// A value that sends `d` the other way, or `None`.
fn flipped_value(d: &Decision, rng: &mut Rng) -> Option<u32> {
    let k = d.insn.k;
    let want = !d.taken;
    // Random bits only as wide as the field.
    let width = match d.origin {
        Origin::Field { size, .. } if size < 4 => (1u32 << (8 * size)) - 1,
        _ => u32::MAX,
    };
    let noise = rng.next_u32() & width;
    let below = |n: u32| (noise as u64 % n as u64) as u32;
    Some(match (d.insn.op(), want) {
        (op::JEQ, true) => k,
        (op::JEQ, false) => k ^ (1 << rng.below(32)),
        (op::JGT, true) => k.checked_add(1 + rng.below(3) as u32)?,
        (op::JGT, false) => k - (noise as u64 % (k as u64 + 1)) as u32,
        (op::JGE, true) => k.checked_add(rng.below(3) as u32)?,
        (op::JGE, false) if k == 0 => return None,
        (op::JGE, false) => k - 1 - below(k),
        (_, true) if k == 0 => return None,
        (_, true) => (noise & k) | (1 << k.trailing_zeros()),
        (_, false) => noise & !k,
    })
}

/// Applies a flipped decision to a copy of `packet`.
fn flip(packet: &[u8], d: &Decision, rng: &mut Rng) -> Option<Vec<u8>> {
    let v = flipped_value(d, rng)?;
    let mut p = packet.to_vec();
    match d.origin {
        Origin::Opaque => return None,
        Origin::Len => {
            let len = usize::try_from(v).ok().filter(|&l| l <= 4000)?;
            let old = p.len();
            p.resize(len, 0);
            for b in &mut p[old.min(len)..] {
                *b = rng.next_u32() as u8;
            }
        }
        Origin::Field { offset, size, mask } => {
            if size < 4 && (v & mask) >> (8 * size) != 0 {
                return None; // wider than the field
            }
            if p.len() < offset + size {
                let old = p.len();
                p.resize(offset + size, 0);
                for b in &mut p[old..] {
                    *b = rng.next_u32() as u8;
                }
            }
            let field = &mut p[offset..offset + size];
            let old = field.iter().fold(0u32, |acc, &b| acc << 8 | b as u32);
            let new = (old & !mask) | (v & mask);
            for (i, b) in field.iter_mut().enumerate() {
                *b = (new >> (8 * (size - 1 - i))) as u8;
            }
        }
    }
    Some(p)
}

/// Up to `want` packets `prog` keeps and `want` it drops, found in at most
/// `budget` tries (the reference interpreter decides). Matching packets
/// come first in the result.
pub fn targeted_packets(
    prog: &Program,
    meta: &Metadata,
    rng: &mut Rng,
    want: usize,
    budget: usize,
) -> Vec<Vec<u8>> {
    let mut pool: Vec<Vec<u8>> = (0..8).map(|_| gen::packet::frame(rng)).collect();
    let (mut kept, mut dropped): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
    let consider = |p: Vec<u8>, kept: &mut Vec<Vec<u8>>, dropped: &mut Vec<Vec<u8>>| {
        let side = if interp::run(prog, &p, meta) != 0 {
            kept
        } else {
            dropped
        };
        if side.len() < want && !side.contains(&p) {
            side.push(p);
        }
    };
    for p in &pool {
        consider(p.clone(), &mut kept, &mut dropped);
    }
    for _ in 0..budget {
        if kept.len() >= want && dropped.len() >= want {
            break;
        }
        let base = rng.below(pool.len() as u64) as usize;
        let decisions = trace(prog, &pool[base], meta);
        if decisions.is_empty() {
            pool[base] = gen::packet::frame(rng);
            continue;
        }
        // Later decisions are deeper in the filter: favour them.
        let i = decisions.len()
            - 1
            - (rng.below(decisions.len() as u64) as usize).min(rng.below(3) as usize);
        if let Some(p) = flip(&pool[base], &decisions[i], rng) {
            consider(p.clone(), &mut kept, &mut dropped);
            if pool.len() < 64 {
                pool.push(p);
            } else {
                let slot = rng.below(64) as usize;
                pool[slot] = p;
            }
        }
    }
    kept.extend(dropped);
    kept
}
