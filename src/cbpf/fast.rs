//! The classic interpreter engine ([`crate::Engine::Cbpf`]): the reference
//! interpreter's semantics ([`super::interp`]) over a program decoded once
//! into operations that carry what each instruction needs (absolute jump
//! targets, load sizes, whether an offset can be read directly), so a run
//! dispatches once per instruction and reads packet bytes without the
//! reference's general offset resolution. Ancillary loads and negative
//! offsets go through the reference's own functions. A tree of compares
//! of A with constants (a host or port list) runs as one dispatch, a jump
//! table or a binary search, found by the JIT's switch recovery; a packet
//! load and the `jeq` (or `ldh` and the `jset`) after it run as one
//! (12–30 % of a short filter's run; the compare stays in place for jumps
//! to it), and a jump landing on a `ret #k` returns without another
//! dispatch.
//!
//! Only for programs the kernel's checker accepted: jumps land inside the
//! program and every path returns (a run still never panics: a target out
//! of range ends it with verdict 0).

use super::ancillary::Ancillary;
use super::insn::{op, Program};
use super::interp::{ancillary, load};
use super::meta::Metadata;
use super::semantics::{alu, jump_taken};
use crate::ebpf::insn::op as ebpf_op;
use crate::ebpf::switch::{dispatchers, find_trees, Compares, Dispatcher};
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
    /// `ldb [k]`, `ldh [k]` or `ld [k]` and the `jeq #v` after it as one
    /// dispatch (the pair most filters are made of; the `jeq` stays in
    /// place for jumps to it): A is loaded, then compared.
    LdAbsBJeq {
        k: u32,
        v: u32,
        jt: u16,
        jf: u16,
    },
    LdAbsHJeq {
        k: u32,
        v: u32,
        jt: u16,
        jf: u16,
    },
    LdAbsWJeq {
        k: u32,
        v: u32,
        jt: u16,
        jf: u16,
    },
    /// `ldh [k]` and a `jset #v` after it (the IPv4 fragment test).
    LdAbsHJset {
        k: u32,
        v: u32,
        jt: u16,
        jf: u16,
    },
    /// `ld [x + k]` (any size) and a `jeq #v` after it (ports behind the
    /// IPv4 header).
    LdIndJeq {
        size: u8,
        k: u32,
        v: u32,
        jt: u16,
        jf: u16,
    },
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
    /// The root of a compare tree, by index into `Decoded::switches`.
    Switch(u32),
}

/// A classic program decoded for [`Decoded::run`].
#[derive(Clone, Debug)]
pub struct Decoded {
    ops: Vec<Op>,
    switches: Vec<Dispatcher>,
}

/// The decoded program as switch recovery reads it: A is register 0 and
/// holds 0..=u32::MAX; every jump target starts a block (classic jumps
/// never fall into their next instruction).
struct ClassicCompares<'a>(&'a [Op]);

impl Compares for ClassicCompares<'_> {
    fn compare(&self, pc: usize) -> Option<(u8, u8, i64)> {
        let (code, k) = match self.0[pc] {
            Op::JeqK { k, .. } => (ebpf_op::JEQ, k),
            Op::JgtK { k, .. } => (ebpf_op::JGT, k),
            Op::JgeK { k, .. } => (ebpf_op::JGE, k),
            _ => return None,
        };
        Some((0, code, i64::from(k)))
    }

    fn is_ja(&self, pc: usize) -> bool {
        matches!(self.0[pc], Op::Ja(_))
    }

    fn successor(&self, pc: usize, which: usize) -> Option<usize> {
        let next = match (self.0[pc], which) {
            (Op::Ja(to), 0) => to as usize,
            (Op::JeqK { jt, jf, .. } | Op::JgtK { jt, jf, .. } | Op::JgeK { jt, jf, .. }, _) => {
                usize::from(if which == 1 { jt } else { jf })
            }
            _ => return None,
        };
        (next < self.0.len()).then_some(next)
    }

    fn starts_block(&self, _pc: usize) -> bool {
        true
    }

    fn domain(&self) -> (i64, i64) {
        (0, i64::from(u32::MAX))
    }
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
        let mut code = Decoded::decode(prog);
        code.fuse();
        code
    }

    /// One operation per instruction.
    fn decode(prog: &Program) -> Decoded {
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
        Decoded {
            ops,
            switches: Vec::new(),
        }
    }

    /// [`Decoded::new`], with every compare tree of A with constants run
    /// as one dispatch. Finding the trees costs more than decoding (0.5 ms
    /// for 65 chains of 60 `jeq`, 4,096 instructions): for filters that
    /// run many packets.
    pub fn with_switches(prog: &Program) -> Decoded {
        let mut code = Decoded::decode(prog);
        let found = find_trees(&ClassicCompares(&code.ops), 0, code.ops.len());
        for (root, dispatcher) in dispatchers(found) {
            let Ok(index) = u32::try_from(code.switches.len()) else {
                break;
            };
            code.switches.push(dispatcher);
            code.ops[root] = Op::Switch(index);
        }
        code.fuse();
        code
    }

    /// Makes each packet load followed by a `jeq` one operation (after
    /// switch recovery: a load before a tree's root stays apart, so the
    /// tree runs as one dispatch).
    fn fuse(&mut self) {
        for pc in 0..self.ops.len().saturating_sub(1) {
            self.ops[pc] = match (self.ops[pc], self.ops[pc + 1]) {
                (Op::LdAbsB(k), Op::JeqK { k: v, jt, jf }) => Op::LdAbsBJeq { k, v, jt, jf },
                (Op::LdAbsH(k), Op::JeqK { k: v, jt, jf }) => Op::LdAbsHJeq { k, v, jt, jf },
                (Op::LdAbsW(k), Op::JeqK { k: v, jt, jf }) => Op::LdAbsWJeq { k, v, jt, jf },
                (Op::LdAbsH(k), Op::JsetK { k: v, jt, jf }) => Op::LdAbsHJset { k, v, jt, jf },
                (Op::LdInd { size, k }, Op::JeqK { k: v, jt, jf }) => {
                    Op::LdIndJeq { size, k, v, jt, jf }
                }
                (other, _) => other,
            };
        }
    }

    /// The verdict of a program that is one `ret #k` (accept or drop
    /// everything, what an empty tcpdump expression compiles to), whatever
    /// the packet.
    #[inline]
    pub(crate) fn constant(&self) -> Option<u32> {
        match self.ops.first() {
            Some(&Op::RetK(k)) => Some(k),
            _ => None,
        }
    }

    /// The verdict on `packet`, `len` being what `ld len` reads: exactly
    /// [`super::interp::run_with_len`]'s.
    #[inline]
    pub fn run(&self, packet: &[u8], meta: &Metadata, len: u32) -> u32 {
        self.run_inline(packet, meta, len)
    }

    /// [`Decoded::run`], always inlined: for the one caller per packet
    /// that is a call away already (`FilterRunner`'s interpreted path).
    #[inline(always)]
    pub(crate) fn run_inline(&self, packet: &[u8], meta: &Metadata, len: u32) -> u32 {
        // Answered before the loop's set-up.
        if let Some(k) = self.constant() {
            return k;
        }
        let mut a: u32 = 0;
        let mut x: u32 = 0;
        // Scratch words, zeroed on the run's first store (most filters
        // store none: zeroing them up front was a tenth of a short run).
        let mut mem: Option<[u32; op::MEMWORDS as usize]> = None;
        let mut rng: Option<Rng> = None;
        let mut pc = 0usize;
        // A conditional jump or a compare tree landing on a `ret #k`
        // returns at once: most runs end that way, and it spares the loop
        // a dispatch, the indirect jump that predicts worst.
        macro_rules! land {
            ($to:expr) => {{
                pc = $to;
                if let Some(&Op::RetK(k)) = self.ops.get(pc) {
                    return k;
                }
            }};
        }
        macro_rules! jump {
            ($taken:expr, $jt:expr, $jf:expr) => {
                land!(pick($taken, $jt, $jf))
            };
        }
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
                Op::LdMem(i) => a = mem.map_or(0, |m| m[usize::from(i)]),
                Op::LdxMem(i) => x = mem.map_or(0, |m| m[usize::from(i)]),
                Op::St(i) => mem.get_or_insert([0; op::MEMWORDS as usize])[usize::from(i)] = a,
                Op::Stx(i) => mem.get_or_insert([0; op::MEMWORDS as usize])[usize::from(i)] = x,
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
                // A fused load and compare: the load's A, then the jump.
                Op::LdAbsBJeq { k, v, jt, jf } => {
                    let Some(loaded) = read(packet, k as usize, 1) else {
                        return 0;
                    };
                    a = loaded;
                    jump!(jump_taken(op::JEQ, a, v), jt, jf);
                }
                Op::LdAbsHJeq { k, v, jt, jf } => {
                    let Some(loaded) = read(packet, k as usize, 2) else {
                        return 0;
                    };
                    a = loaded;
                    jump!(jump_taken(op::JEQ, a, v), jt, jf);
                }
                Op::LdAbsWJeq { k, v, jt, jf } => {
                    let Some(loaded) = read(packet, k as usize, 4) else {
                        return 0;
                    };
                    a = loaded;
                    jump!(jump_taken(op::JEQ, a, v), jt, jf);
                }
                Op::LdAbsHJset { k, v, jt, jf } => {
                    let Some(loaded) = read(packet, k as usize, 2) else {
                        return 0;
                    };
                    a = loaded;
                    jump!(jump_taken(op::JSET, a, v), jt, jf);
                }
                Op::LdIndJeq { size, k, v, jt, jf } => {
                    let Some(loaded) = read_ind(packet, meta, x, k, size) else {
                        return 0;
                    };
                    a = loaded;
                    jump!(jump_taken(op::JEQ, a, v), jt, jf);
                }
                Op::LdAbsNeg { size, k } => match load_special(packet, meta, k as i32, size) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdAnc(anc) => match load_ancillary(anc, a, x, packet, meta, &mut rng) {
                    Ok(v) => a = v,
                    Err(verdict) => return verdict,
                },
                Op::LdInd { size, k } => match read_ind(packet, meta, x, k, size) {
                    Some(v) => a = v,
                    None => return 0,
                },
                Op::LdxMsh(k) => {
                    let v = if (k as i32) >= 0 {
                        packet.get(k as usize).map(|&b| u32::from(b))
                    } else {
                        load_special(packet, meta, k as i32, 1)
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
                Op::JeqK { k, jt, jf } => jump!(jump_taken(op::JEQ, a, k), jt, jf),
                Op::JgtK { k, jt, jf } => jump!(jump_taken(op::JGT, a, k), jt, jf),
                Op::JgeK { k, jt, jf } => jump!(jump_taken(op::JGE, a, k), jt, jf),
                Op::JsetK { k, jt, jf } => jump!(jump_taken(op::JSET, a, k), jt, jf),
                Op::JmpX { operation, jt, jf } => jump!(jump_taken(operation, a, x), jt, jf),
                Op::Switch(i) => land!(self.switches[i as usize].leaf(i64::from(a))),
                Op::Fail => return 0,
            }
        }
    }
}

/// `ld [x + k]`: the offset is `(int32)(x + k)`, read directly when not
/// negative.
#[inline(always)]
fn read_ind(packet: &[u8], meta: &Metadata, x: u32, k: u32, size: u8) -> Option<u32> {
    let off = x.wrapping_add(k) as i32;
    if off >= 0 {
        read(packet, off as usize, size)
    } else {
        load_special(packet, meta, off, size)
    }
}

/// A load at a negative offset (the `SKF_NET_OFF`/`SKF_LL_OFF` areas),
/// out of the loop: the metadata it reads would otherwise be loaded on
/// entry to every run (a tenth of a short filter's time).
#[cold]
#[inline(never)]
fn load_special(packet: &[u8], meta: &Metadata, off: i32, size: u8) -> Option<u32> {
    load(packet, meta, off, usize::from(size))
}

/// An ancillary load, out of the loop as [`load_special`] is; the
/// generator is seeded on the run's first `#rand`.
#[cold]
#[inline(never)]
fn load_ancillary(
    anc: Ancillary,
    a: u32,
    x: u32,
    packet: &[u8],
    meta: &Metadata,
    rng: &mut Option<Rng>,
) -> Result<u32, u32> {
    let rng = rng.get_or_insert_with(|| Rng::new(meta.random_seed));
    ancillary(anc, a, x, packet, meta, rng)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbpf::interp;
    use crate::cbpf::parse::parse_ddd;

    /// `ld [0]`, then `body` (lines of `code jt jf k`), as -ddd text.
    fn program(body: &[String]) -> Program {
        let mut text = format!("{}\n32 0 0 0\n", body.len() + 1);
        for line in body {
            text.push_str(line);
            text.push('\n');
        }
        parse_ddd(&text).expect("parses")
    }

    /// Runs `prog` on A = each probe around `constants`, decoded and by
    /// the reference interpreter.
    fn agree(prog: &Program, constants: &[u32]) {
        let decoded = Decoded::with_switches(prog);
        assert!(!decoded.switches.is_empty(), "no switch found");
        let mut probes = vec![0, 1, 0x7fff_ffff, 0x8000_0000, 0x8000_0001, u32::MAX];
        for &k in constants {
            probes.extend([k.wrapping_sub(1), k, k.wrapping_add(1)]);
        }
        let meta = Metadata::default();
        for value in probes {
            let packet = value.to_be_bytes();
            assert_eq!(
                decoded.run(&packet, &meta, 4),
                interp::run(prog, &packet, &meta),
                "A = {value:#x}"
            );
        }
    }

    #[test]
    fn fused_loads_and_compares_reach_the_reference_verdict() {
        // Every fused pair, and a jump straight to a pair's compare (which
        // then compares the A another path loaded):
        let prog = program(&[
            "48 0 0 8".into(),        // 1: ldb [8]
            "21 0 1 7".into(),        // 2: jeq #7, 3 or 4
            "5 0 0 8".into(),         // 3: ja 12 (A = 7)
            "40 0 0 2".into(),        // 4: ldh [2]
            "21 0 8 258".into(),      // 5: jeq #0x102, 6 or 14
            "32 0 0 4".into(),        // 6: ld [4]
            "21 0 5 84281096".into(), // 7: jeq #0x05060708, 8 or 13
            "40 0 0 8".into(),        // 8: ldh [8]
            "69 4 0 8191".into(),     // 9: jset #0x1fff, 14 or 10
            "177 0 0 0".into(),       // 10: ldxb 4*([0]&0xf)
            "80 0 0 1".into(),        // 11: ldb [x + 1]
            "21 0 1 7".into(),        // 12: jeq #7, 13 or 14
            "6 0 0 3".into(),         // 13
            "6 0 0 4".into(),         // 14
        ]);
        let decoded = Decoded::new(&prog);
        let fused = |pc: usize| match decoded.ops[pc] {
            Op::LdAbsBJeq { .. } | Op::LdAbsHJeq { .. } | Op::LdAbsWJeq { .. } => "jeq",
            Op::LdAbsHJset { .. } => "jset",
            Op::LdIndJeq { .. } => "ind",
            _ => "",
        };
        let kinds: Vec<&str> = [1, 4, 6, 8, 11].into_iter().map(fused).collect();
        assert_eq!(
            kinds,
            ["jeq", "jeq", "jeq", "jset", "ind"],
            "{:?}",
            decoded.ops
        );
        // Packets near the one every test passes, cut at every length.
        let template = [
            0x45u8, 0, 1, 2, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7, 0,
        ];
        let meta = Metadata::default();
        let mut rng = crate::rng::Rng::new(7);
        let mut verdicts = std::collections::BTreeSet::new();
        for _ in 0..3000 {
            let mut packet = template.to_vec();
            for byte in packet.iter_mut() {
                if rng.next_u32().is_multiple_of(6) {
                    *byte = [0, 1, 7, 9, 0x20][(rng.next_u32() % 5) as usize];
                }
            }
            for len in 0..=packet.len() {
                let cut = &packet[..len];
                let verdict = decoded.run(cut, &meta, len as u32);
                assert_eq!(verdict, interp::run(&prog, cut, &meta), "{cut:02x?}");
                verdicts.insert(verdict);
            }
        }
        // Out of bounds, and both returns.
        assert_eq!(verdicts.into_iter().collect::<Vec<_>>(), [0, 3, 4]);
    }

    #[test]
    fn jumps_landing_on_a_return_or_past_the_end_answer_as_the_reference() {
        // Each kind of conditional jump with A = [0], X = 4 * ([1] & 0xf):
        // taken to `ret #5`, not taken to `ret #6`, or (one unchecked
        // program) past the last instruction, which ends the run with 0.
        let meta = Metadata::default();
        let mut verdicts = std::collections::BTreeSet::new();
        for jump in ["21 0 1 7", "37 0 1 7", "53 0 1 7", "69 0 1 7", "29 0 1 0"] {
            for tail in ["6 0 0 5\n6 0 0 6", "6 0 0 5"] {
                let count = 3 + tail.lines().count();
                let text = format!("{count}\n48 0 0 0\n177 0 0 1\n{jump}\n{tail}\n");
                let prog = parse_ddd(&text).expect("parses");
                let decoded = Decoded::new(&prog);
                for packet in [[7u8, 7], [8, 7], [0, 7], [28, 7], [255, 255]] {
                    let verdict = decoded.run(&packet, &meta, 2);
                    assert_eq!(
                        verdict,
                        interp::run(&prog, &packet, &meta),
                        "{text} on {packet:?}"
                    );
                    verdicts.insert(verdict);
                }
            }
        }
        assert_eq!(verdicts.into_iter().collect::<Vec<_>>(), [0, 5, 6]);
    }

    #[test]
    fn a_lone_return_answers_as_the_reference() {
        let meta = Metadata::default();
        for k in [0u32, 1, 262_144, u32::MAX] {
            let prog = parse_ddd(&format!("1\n6 0 0 {k}\n")).expect("parses");
            let decoded = Decoded::with_switches(&prog);
            for packet in [&[][..], &[1, 2, 3][..]] {
                let len = packet.len() as u32;
                assert_eq!(
                    decoded.run(packet, &meta, len),
                    interp::run(&prog, packet, &meta)
                );
            }
        }
    }

    #[test]
    fn compare_trees_reach_the_reference_verdict() {
        // A host list: one leaf for all, sparse (a search), addresses
        // above 128.0.0.0 included.
        let hosts = [
            0x0a01_0001u32,
            0x0a01_0009,
            0x0808_0808,
            0xc0a8_0201,
            0x0101_0101,
            0x7f00_0001,
            0xffff_fffe,
            0x8000_0000,
        ];
        let n = hosts.len();
        let mut body: Vec<String> = (0..n)
            .map(|i| format!("21 {} 0 {}", n - i, hosts[i]))
            .collect();
        body.extend(["6 0 0 0".into(), "6 0 0 1".into()]);
        agree(&program(&body), &hosts);
        // Dense constants, each its own verdict (a table).
        let ports: Vec<u32> = (0..8).map(|j| 20 + j).collect();
        let mut body: Vec<String> = (0..8).map(|i| format!("21 8 0 {}", ports[i])).collect();
        body.push("6 0 0 0".into());
        body.extend((0..8).map(|j| format!("6 0 0 {}", 100 + j)));
        agree(&program(&body), &ports);
        // An unsigned split at 0x80000000 (`jgt`), each side a chain:
        // 1 jgt; 2-5 the chain above (to `ret #1`), 6-9 the chain below
        // (to `ret #2`); 10 `ret #0`.
        let above = [0x9000_0000u32, 0xa000_0000, 0xb000_0000, 0xc000_0000];
        let below = [5u32, 6000, 70_000, 0x7000_0000];
        let mut body = vec!["37 0 4 2147483648".to_string()];
        for (i, k) in above.into_iter().enumerate() {
            body.push(format!("21 {} {} {k}", 8 - i, if i == 3 { 4 } else { 0 }));
        }
        for (i, k) in below.into_iter().enumerate() {
            body.push(format!("21 {} 0 {k}", 5 - i));
        }
        body.extend(["6 0 0 0".into(), "6 0 0 1".into(), "6 0 0 2".into()]);
        let mut constants = vec![0x8000_0000];
        constants.extend(above);
        constants.extend(below);
        agree(&program(&body), &constants);
    }
}
