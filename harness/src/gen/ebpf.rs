//! Seeded generator of eBPF programs for differential testing: every ALU,
//! ALU64, JMP and JMP32 operation with immediate and register operands,
//! signed division, `movsx`, byte swaps, loads, stores and atomics on the
//! stack and on the input memory (in and out of bounds), `lddw` and the
//! legacy packet loads.
//!
//! The programs never let a pointer reach a value register: r1 (the input
//! memory) and r10 (the frame) serve only as base addresses, so results do
//! not depend on where the memory happens to lie. Jumps go forward only,
//! so no budget is needed.

use crate::Rng;
use cranebpf::ebpf::insn::{op, Insn};
use cranebpf::ebpf::Program;

/// Registers that hold plain values (r1 and r10 are pointers, r2 the
/// memory length).
const VALUE_REGS: [u8; 8] = [0, 2, 3, 4, 5, 6, 7, 8];

/// Every ALU operation code (both widths).
pub const ALU_OPS: [u8; 13] = [
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
    op::MOV,
    op::ARSH,
];
/// Every conditional jump operation code (JMP and JMP32).
pub const JMP_OPS: [u8; 11] = [
    op::JEQ,
    op::JGT,
    op::JGE,
    op::JSET,
    op::JNE,
    op::JSGT,
    op::JSGE,
    op::JLT,
    op::JLE,
    op::JSLT,
    op::JSLE,
];
const SIZES: [u8; 4] = [op::B, op::H, op::W, op::DW];

fn imm(rng: &mut Rng) -> i32 {
    match rng.below(4) {
        0 => rng.below(8) as i32 - 2,
        1 => *rng.pick(&[0, 1, -1, 31, 32, 63, 64, i32::MIN, i32::MAX, 0xff, 0xffff]),
        _ => rng.next_u32() as i32,
    }
}

fn size_bytes(size: u8) -> i16 {
    match size {
        op::B => 1,
        op::H => 2,
        op::W => 4,
        _ => 8,
    }
}

/// A memory operand: `(base, offset)` on the stack or the input memory,
/// now and then just outside either.
fn address(rng: &mut Rng, mem_len: usize, size: i16) -> (u8, i16) {
    if rng.chance(1, 2) {
        let off = match rng.below(10) {
            0 => -520 + rng.below(16) as i16, // below the frame
            1 => -(size - 1).max(1) + rng.below(8) as i16 - 4, // across the top
            _ => -(8 * (1 + rng.below(64) as i16)),
        };
        (10, off)
    } else {
        let len = mem_len as i16;
        let off = match rng.below(8) {
            0 => len - size + rng.below(3) as i16, // at and past the end
            1 => -(rng.below(4) as i16) - 1,       // before the start
            _ => rng.below(len.max(1) as u64) as i16,
        };
        (1, off)
    }
}

/// One instruction (two slots for `lddw`) at `pc`, leaving room for the
/// final instructions.
fn instruction(rng: &mut Rng, pc: usize, n: usize, mem_len: usize, out: &mut Vec<Insn>) {
    let dst = *rng.pick(&VALUE_REGS);
    let src = *rng.pick(&VALUE_REGS);
    let room = n.saturating_sub(pc + 2);
    match rng.below(24) {
        0..=8 => {
            let class = if rng.chance(1, 2) { op::ALU64 } else { op::ALU };
            let code = *rng.pick(&ALU_OPS);
            let signed = matches!(code, op::DIV | op::MOD) && rng.chance(1, 2);
            if code == op::MOV && rng.chance(1, 3) {
                let widths: &[i16] = if class == op::ALU64 {
                    &[8, 16, 32]
                } else {
                    &[8, 16]
                };
                out.push(Insn::new(
                    class | op::MOV | op::X,
                    dst,
                    src,
                    *rng.pick(widths),
                    0,
                ));
            } else if code == op::NEG {
                out.push(Insn::new(class | op::NEG, dst, 0, 0, 0));
            } else if rng.chance(1, 2) {
                out.push(Insn::new(
                    class | code | op::X,
                    dst,
                    src,
                    i16::from(signed),
                    0,
                ));
            } else {
                out.push(Insn::new(
                    class | code | op::K,
                    dst,
                    0,
                    i16::from(signed),
                    imm(rng),
                ));
            }
        }
        9 => {
            let width = *rng.pick(&[16, 32, 64]);
            let opc = *rng.pick(&[
                op::ALU | op::END,
                op::ALU | op::END | op::X,
                op::ALU64 | op::END,
            ]);
            out.push(Insn::new(opc, dst, 0, 0, width));
        }
        10..=12 if room > 0 => {
            let class = if rng.chance(1, 2) { op::JMP } else { op::JMP32 };
            let code = *rng.pick(&JMP_OPS);
            let off = rng.below(room.min(30) as u64 + 1) as i16;
            if rng.chance(1, 2) {
                out.push(Insn::new(class | code | op::X, dst, src, off, 0));
            } else {
                out.push(Insn::new(class | code | op::K, dst, 0, off, imm(rng)));
            }
        }
        13 if room > 0 => {
            let off = rng.below(room.min(30) as u64 + 1) as i32;
            if rng.chance(1, 2) {
                out.push(Insn::new(op::JMP | op::JA, 0, 0, off as i16, 0));
            } else {
                out.push(Insn::new(op::JMP32 | op::JA, 0, 0, 0, off));
            }
        }
        14 | 15 => {
            let size = *rng.pick(&SIZES);
            let (base, off) = address(rng, mem_len, size_bytes(size));
            let signed = size != op::DW && rng.chance(1, 3);
            let mode = if signed { op::MEMSX } else { op::MEM };
            out.push(Insn::new(op::LDX | mode | size, dst, base, off, 0));
        }
        16 | 17 => {
            let size = *rng.pick(&SIZES);
            let (base, off) = address(rng, mem_len, size_bytes(size));
            if rng.chance(1, 2) {
                out.push(Insn::new(op::STX | op::MEM | size, base, src, off, 0));
            } else {
                out.push(Insn::new(op::ST | op::MEM | size, base, 0, off, imm(rng)));
            }
        }
        18 => {
            let size = *rng.pick(&[op::W, op::DW]);
            let (base, off) = address(rng, mem_len, size_bytes(size));
            let aop = *rng.pick(&[0x00, 0x01, 0x40, 0x41, 0x50, 0x51, 0xa0, 0xa1, 0xe1, 0xf1]);
            out.push(Insn::new(op::STX | op::ATOMIC | size, base, src, off, aop));
        }
        19 => {
            let v = rng.next_u64();
            out.push(Insn::new(
                op::LD | op::IMM | op::DW,
                dst,
                0,
                0,
                v as u32 as i32,
            ));
            out.push(Insn::new(0, 0, 0, 0, (v >> 32) as u32 as i32));
        }
        20 | 21 => {
            // Legacy packet loads set r0 and clobber r1-r5: restore r1
            // from r9, where the prologue saved it.
            let size = *rng.pick(&[op::B, op::H, op::W]);
            let k = match rng.below(4) {
                0 => mem_len as i32 - rng.below(5) as i32,
                1 => -0x100000 + rng.below(8) as i32,
                _ => rng.below(mem_len as u64 + 4) as i32,
            };
            if rng.chance(1, 2) {
                out.push(Insn::new(op::LD | op::ABS | size, 0, 0, 0, k));
            } else {
                out.push(Insn::new(op::LD | op::IND | size, 0, 6, 0, k));
            }
            out.push(Insn::new(op::ALU64 | op::MOV | op::X, 1, 9, 0, 0));
            for r in 2..=5u8 {
                out.push(Insn::new(op::ALU64 | op::MOV | op::K, r, 0, 0, imm(rng)));
            }
        }
        22 => {
            // clang's zero extension of a 32-bit value, `lsh 32; rsh 32`,
            // often feeding an unsigned division (which the JIT then does
            // in 32 bits).
            out.push(Insn::new(op::ALU64 | op::LSH | op::K, dst, 0, 0, 32));
            out.push(Insn::new(op::ALU64 | op::RSH | op::K, dst, 0, 0, 32));
            if rng.chance(2, 3) {
                let code = *rng.pick(&[op::DIV, op::MOD]);
                if rng.chance(1, 2) {
                    out.push(Insn::new(op::ALU64 | code | op::X, src, dst, 0, 0));
                } else {
                    let k = *rng.pick(&[0, 1, 3, 0x7fff_ffff, -1]);
                    out.push(Insn::new(op::ALU64 | code | op::K, dst, 0, 0, k));
                }
            }
        }
        _ => out.push(Insn::new(op::ALU64 | op::MOV | op::K, dst, 0, 0, imm(rng))),
    }
}

/// A program of about `max_len` slots for input memory of `mem_len` bytes.
pub fn program(rng: &mut Rng, max_len: usize, mem_len: usize) -> Program {
    let mut out = Vec::new();
    // Prologue: every value register set; r9 keeps the memory pointer.
    out.push(Insn::new(op::ALU64 | op::MOV | op::X, 9, 1, 0, 0));
    for &r in &VALUE_REGS {
        if r != 2 {
            out.push(Insn::new(op::ALU64 | op::MOV | op::K, r, 0, 0, imm(rng)));
        }
    }
    let n = out.len() + 1 + rng.below(max_len.max(1) as u64) as usize;
    while out.len() < n {
        let pc = out.len();
        instruction(rng, pc, n, mem_len, &mut out);
    }
    // Jumps aim at most `room` ahead of their slot; every such target lies
    // at or before the final exit, which ends every path.
    out.push(Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0));
    // A jump may not land on the second slot of an `lddw`: move such
    // targets one slot on (the final exit is never a second slot).
    let second: Vec<bool> = (0..out.len())
        .map(|i| i > 0 && out[i - 1].opc == op::LD | op::IMM | op::DW)
        .collect();
    for pc in 0..out.len() {
        let insn = out[pc];
        let class = insn.class();
        if (class != op::JMP && class != op::JMP32) || second[pc] {
            continue;
        }
        let code = insn.opc & 0xf0;
        if code == op::EXIT || code == op::CALL {
            continue;
        }
        let wide_ja = class == op::JMP32 && code == op::JA;
        let off = if wide_ja {
            insn.imm as i64
        } else {
            i64::from(insn.off)
        };
        if second.get((pc as i64 + 1 + off) as usize) == Some(&true) {
            if wide_ja {
                out[pc].imm += 1;
            } else {
                out[pc].off += 1;
            }
        }
    }
    Program::new(out)
}

/// A compare tree on one register, as clang makes of a C `switch` (which
/// the JIT may lower as a jump table or a binary search): `r1` is loaded
/// from the input memory's first 8 bytes, then `4..32` compare blocks
/// (every 64-bit compare op against constants in a narrow band, so that
/// many trees are dense, or in one tree of three anywhere in the 32-bit
/// range, sign-extended) each jump forward to another block or to one of `2..12` leaves
/// `r0 = leaf; exit`. Returns the program and its constants, around which
/// a test should try values.
pub fn compare_tree(rng: &mut Rng) -> (Program, Vec<i64>) {
    let mut out = vec![Insn::new(op::LDX | op::MEM | op::DW, 1, 1, 0, 0)];
    let (consts, leaves) = tree_nodes(rng, &mut out, 2);
    for l in 0..leaves {
        out.push(Insn::new(op::ALU64 | op::MOV | op::K, 0, 0, 0, l as i32));
        out.push(Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0));
    }
    (Program::new(out), consts)
}

/// Values [`compare_tree_loop`]'s program reads from its memory (8 bytes
/// each).
pub const LOOP_VALUES: usize = 16;

/// A compare tree on `r1` inside a loop, as clang makes of a C `switch` in
/// a loop whose cases pick values (which the JIT may lower as loads from
/// constant tables): each of the memory's [`LOOP_VALUES`] 8-byte values
/// goes through the tree to a leaf that sets `r0` (to a constant of any
/// width, 64- or 32-bit `mov`, or to the value itself); in one program of
/// four leaves may also set `r3` or add the loop index to `r0` (which
/// rules out tables). Every leaf then joins `r6 = r6 * 31 + r0 + r3`; the
/// program returns `r6`. Returns the program and the tree's constants.
pub fn compare_tree_loop(rng: &mut Rng) -> (Program, Vec<i64>) {
    let mut out = vec![
        Insn::new(op::ALU64 | op::MOV | op::X, 9, 1, 0, 0),
        Insn::new(op::ALU64 | op::MOV | op::K, 6, 0, 0, 0),
        Insn::new(op::ALU64 | op::MOV | op::K, 7, 0, 0, 0),
        Insn::new(op::ALU64 | op::MOV | op::K, 0, 0, 0, 0),
    ];
    let head = out.len();
    out.extend([
        Insn::new(op::ALU64 | op::MOV | op::K, 3, 0, 0, 0),
        Insn::new(op::ALU64 | op::MOV | op::X, 2, 7, 0, 0),
        Insn::new(op::ALU64 | op::LSH | op::K, 2, 0, 0, 3),
        Insn::new(op::ALU64 | op::ADD | op::X, 2, 9, 0, 0),
        Insn::new(op::LDX | op::MEM | op::DW, 1, 2, 0, 0),
    ]);
    let (consts, leaves) = tree_nodes(rng, &mut out, 3);
    let join = out.len() + 3 * leaves;
    let mixed = rng.chance(1, 4);
    for _ in 0..leaves {
        let k = match rng.below(6) {
            0 => rng.below(256) as i32,
            1 => -(rng.below(128) as i32) - 1,
            2 => 0x1234 + rng.below(0x8000) as i32,
            3 => *rng.pick(&[i32::MIN, i32::MAX, -0x8000, 0x10000]),
            _ => rng.next_u32() as i32,
        };
        let kinds = if mixed { 5 } else { 3 };
        let [a, b] = match rng.below(kinds) {
            0 => [
                Insn::new(op::ALU64 | op::MOV | op::K, 0, 0, 0, k),
                Insn::new(op::JMP | op::JA, 0, 0, 0, 0),
            ],
            1 => [
                Insn::new(op::ALU | op::MOV | op::K, 0, 0, 0, k),
                Insn::new(op::JMP | op::JA, 0, 0, 0, 0),
            ],
            2 => [
                Insn::new(op::ALU64 | op::MOV | op::X, 0, 1, 0, 0),
                Insn::new(op::JMP | op::JA, 0, 0, 0, 0),
            ],
            3 => [
                Insn::new(op::ALU64 | op::MOV | op::K, 0, 0, 0, k),
                Insn::new(op::ALU64 | op::MOV | op::K, 3, 0, 0, k ^ 0x55),
            ],
            _ => [
                Insn::new(op::ALU64 | op::MOV | op::K, 0, 0, 0, k),
                Insn::new(op::ALU64 | op::ADD | op::X, 0, 7, 0, 0),
            ],
        };
        let at = out.len() + 2;
        out.extend([
            a,
            b,
            Insn::new(op::JMP | op::JA, 0, 0, (join - at - 1) as i16, 0),
        ]);
    }
    let back = join + 4;
    out.extend([
        Insn::new(op::ALU64 | op::MUL | op::K, 6, 0, 0, 31),
        Insn::new(op::ALU64 | op::ADD | op::X, 6, 0, 0, 0),
        Insn::new(op::ALU64 | op::ADD | op::X, 6, 3, 0, 0),
        Insn::new(op::ALU64 | op::ADD | op::K, 7, 0, 0, 1),
        Insn::new(
            op::JMP | op::JLT | op::K,
            7,
            0,
            head as i16 - back as i16 - 1,
            LOOP_VALUES as i32,
        ),
        Insn::new(op::ALU64 | op::MOV | op::X, 0, 6, 0, 0),
        Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0),
    ]);
    (Program::new(out), consts)
}

/// Appends a tree's compare blocks on `r1` to `out` (`4..32` of them,
/// every 64-bit compare op against constants in a narrow band, so that
/// many trees are dense, or in one tree of three anywhere in the 32-bit
/// range, sign-extended), each jumping forward to another block or to one
/// of `2..12` leaves of `leaf_slots` slots each, which the caller appends
/// right after. Returns the constants and the number of leaves.
fn tree_nodes(rng: &mut Rng, out: &mut Vec<Insn>, leaf_slots: usize) -> (Vec<i64>, usize) {
    const OPS: [u8; 10] = [
        op::JEQ,
        op::JNE,
        op::JGT,
        op::JGE,
        op::JLT,
        op::JLE,
        op::JSGT,
        op::JSGE,
        op::JSLT,
        op::JSLE,
    ];
    let nodes = 4 + rng.below(28) as usize;
    let leaves = 2 + rng.below(10) as usize;
    let base: i64 = *rng.pick(&[0, -20, 0x7fff_fff0, 100]);
    let sparse = rng.below(3) == 0;
    // Slots: two per node, then the leaves.
    let first = out.len();
    let node_at = |i: usize| first + 2 * i;
    let leaf_at = |l: usize| first + 2 * nodes + leaf_slots * l;
    let to = |rng: &mut Rng, i: usize| {
        if i + 1 < nodes && rng.below(3) != 0 {
            node_at(i + 1 + rng.below((nodes - i - 1) as u64) as usize)
        } else {
            leaf_at(rng.below(leaves as u64) as usize)
        }
    };
    let mut consts = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let k = if sparse {
            i64::from(rng.next_u32() as i32)
        } else {
            base + rng.below(24) as i64
        };
        consts.push(k);
        let code = *rng.pick(&OPS);
        let (t, f) = (to(rng, i), to(rng, i));
        let at = node_at(i);
        out.push(Insn::new(
            op::JMP | code | op::K,
            1,
            0,
            (t - at - 1) as i16,
            k as i32,
        ));
        out.push(Insn::new(op::JMP | op::JA, 0, 0, (f - at - 2) as i16, 0));
    }
    (consts, leaves)
}

/// A byte-copy loop, as clang makes of a copy whose length it does not
/// know (which the JIT may run 16 bytes at a time), for input memory of
/// `mem_len >= 64` bytes, returning the program. Either an index stepping
/// from a start (a constant, or the memory's first byte) until it equals
/// a bound, `jeq` then `ja` back, or two pointers stepping until the
/// source equals an end pointer, `jne` back. Source and destination are
/// in the memory or in the stack's top 128 bytes, at offsets that
/// sometimes overlap or run past the end, with counts around 16 and 32;
/// one loop in four fills the destination with a constant instead.
/// Returns what the loop leaves in registers and every 8-byte word of the
/// memory and of the stack's top 128 bytes folded into `r0`, so that a
/// run's result shows what it copied.
pub fn copy_loop(rng: &mut Rng, mem_len: usize) -> Program {
    let mut out = Vec::new();
    let count = match rng.below(4) {
        0 => *rng.pick(&[1, 2, 15, 16, 17, 31, 32, 33]),
        1 => (mem_len / 2) as i32,
        _ => 1 + rng.below(60) as i32,
    };
    // A base: (register, offset) in the memory (r1, kept in r9) or on the
    // stack (r10); mostly with room for the copy.
    let base = |rng: &mut Rng| -> (u8, i32) {
        let fits = rng.chance(4, 5);
        if rng.chance(1, 4) {
            let room = (128 - count).max(0);
            match fits && room > 0 {
                true => (10, -128 + rng.below(room as u64 + 1) as i32),
                false => (10, -128 + rng.below(128) as i32),
            }
        } else {
            let room = mem_len as i32 - count;
            match fits && room > 0 {
                true => (9, rng.below(room as u64 + 1) as i32),
                false => (9, rng.below(mem_len as u64) as i32),
            }
        }
    };
    let (src, dst) = (base(rng), base(rng));
    out.push(Insn::new(op::ALU64 | op::MOV | op::X, 9, 1, 0, 0));
    // Point r7 at the source and r8 at the destination.
    for (r, (b, off)) in [(7u8, src), (8u8, dst)] {
        out.push(Insn::new(op::ALU64 | op::MOV | op::X, r, b, 0, 0));
        out.push(Insn::new(op::ALU64 | op::ADD | op::K, r, 0, 0, off));
    }
    // One loop in four fills (clang's memset) with a constant, stored as
    // an immediate or from r4, instead of copying.
    let fill = rng
        .chance(1, 4)
        .then(|| (rng.next_u32() as i32, rng.chance(1, 2)));
    if let Some((k, _)) = fill {
        out.push(Insn::new(op::ALU64 | op::MOV | op::K, 4, 0, 0, k));
    }
    let store = |base: u8, off: i16| match fill {
        Some((k, true)) => Insn::new(op::ST | op::MEM | op::B, base, 0, off, k),
        _ => Insn::new(op::STX | op::MEM | op::B, base, 4, off, 0),
    };
    let load = |base: u8, off: i16| {
        fill.is_none()
            .then(|| Insn::new(op::LDX | op::MEM | op::B, 4, base, off, 0))
    };
    let index_form = rng.chance(1, 2);
    if index_form {
        // Index form: r2 from its start until r2 == start + count.
        let from_memory = rng.chance(1, 6);
        let start = rng.below(8) as i32;
        if from_memory {
            out.push(Insn::new(op::LDX | op::MEM | op::B, 2, 9, 0, 0));
        } else {
            out.push(Insn::new(op::ALU64 | op::MOV | op::K, 2, 0, 0, start));
        }
        let (o1, o2) = (rng.below(3) as i16 - 1, rng.below(3) as i16 - 1);
        // r3 = r7 + r2 - start; r4 = [r3 + o1]; r5 = r8 + r2 - start;
        // [r5 + o2] = r4.
        let body: Vec<Insn> = [
            Some(Insn::new(op::ALU64 | op::MOV | op::X, 3, 7, 0, 0)),
            Some(Insn::new(op::ALU64 | op::ADD | op::X, 3, 2, 0, 0)),
            Some(Insn::new(op::ALU64 | op::SUB | op::K, 3, 0, 0, start)),
            load(3, o1),
            Some(Insn::new(op::ALU64 | op::MOV | op::X, 5, 8, 0, 0)),
            Some(Insn::new(op::ALU64 | op::ADD | op::X, 5, 2, 0, 0)),
            Some(Insn::new(op::ALU64 | op::SUB | op::K, 5, 0, 0, start)),
            Some(store(5, o2)),
            Some(Insn::new(op::ALU64 | op::ADD | op::K, 2, 0, 0, 1)),
            Some(Insn::new(op::JMP | op::JEQ | op::K, 2, 0, 1, start + count)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let n = body.len() as i16;
        out.extend(body);
        out.push(Insn::new(op::JMP | op::JA, 0, 0, -(n + 1), 0));
    } else {
        // Pointer form: r7 and r8 step until r7 == r6 = r7 + count (r5
        // keeps where r8 started).
        out.push(Insn::new(op::ALU64 | op::MOV | op::X, 5, 8, 0, 0));
        out.push(Insn::new(op::ALU64 | op::MOV | op::X, 6, 7, 0, 0));
        out.push(Insn::new(op::ALU64 | op::ADD | op::K, 6, 0, 0, count));
        let body: Vec<Insn> = [
            load(7, 0),
            Some(store(8, 0)),
            Some(Insn::new(op::ALU64 | op::ADD | op::K, 7, 0, 0, 1)),
            Some(Insn::new(op::ALU64 | op::ADD | op::K, 8, 0, 0, 1)),
        ]
        .into_iter()
        .flatten()
        .collect();
        let n = body.len() as i16;
        out.extend(body);
        out.push(Insn::new(op::JMP | op::JNE | op::X, 7, 6, -(n + 1), 0));
    }
    // Fold what the loop leaves in registers (as differences of addresses
    // in one region, which do not depend on where the region is), then
    // every word.
    let folded: [(u8, u8); 3] = if index_form {
        [(2, 0), (3, 7), (5, 8)]
    } else {
        [(7, 6), (8, 5), (4, 0)]
    };
    out.push(Insn::new(op::ALU64 | op::MOV | op::X, 0, 4, 0, 0));
    for (r, minus) in folded {
        out.push(Insn::new(op::ALU64 | op::MUL | op::K, 0, 0, 0, 31));
        out.push(Insn::new(op::ALU64 | op::MOV | op::X, 1, r, 0, 0));
        if minus != 0 {
            out.push(Insn::new(op::ALU64 | op::SUB | op::X, 1, minus, 0, 0));
        }
        out.push(Insn::new(op::ALU64 | op::XOR | op::X, 0, 1, 0, 0));
    }
    let words: Vec<(u8, i16)> = (0..mem_len as i16 / 8)
        .map(|i| (9u8, 8 * i))
        .chain((1..=16).map(|i| (10u8, -8 * i)))
        .collect();
    for (b, off) in words {
        out.push(Insn::new(op::LDX | op::MEM | op::DW, 4, b, off, 0));
        out.push(Insn::new(op::ALU64 | op::MUL | op::K, 0, 0, 0, 31));
        out.push(Insn::new(op::ALU64 | op::XOR | op::X, 0, 4, 0, 0));
    }
    out.push(Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0));
    Program::new(out)
}
