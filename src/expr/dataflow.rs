//! The optimiser's data-flow facts over the block graph: which registers
//! statements use and define, liveness, predecessors, and value numbering
//! (every packet load, constant and ALU result gets a number), shared by
//! the passes in `optimize` and the pull-ups in `pullup`, which depend on
//! this module and not on each other's internals.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::cfg::{Block, Graph, OrderWalk, Target, Test};
use crate::cbpf::insn::op;
use crate::cbpf::{self, Insn};
pub(super) use crate::fxhash::FxHasher;

/// Registers tracked: A, X and the 16 scratch words.
pub(super) const NREGS: usize = 2 + op::MEMWORDS as usize;
pub(super) const A: usize = 0;
pub(super) const X: usize = 1;

/// Register set as a bit mask (bit 0 = A, bit 1 = X, bit 2+k = M[k]).
pub(super) type RegSet = u32;

/// Predecessor edges `(block, side)` of each block: `preds[b]` is a slice.
/// One flat array (each block's edges together), so a pass allocates two
/// vectors for it rather than one per block.
#[derive(Default)]
pub(super) struct Preds {
    /// Where each block's edges start in `edges` (one more entry than
    /// blocks).
    start: Vec<u32>,
    edges: Vec<(usize, bool)>,
    /// Where the next edge of each block goes while filling.
    next: Vec<u32>,
}

impl std::ops::Index<usize> for Preds {
    type Output = [(usize, bool)];

    fn index(&self, b: usize) -> &[(usize, bool)] {
        &self.edges[self.start[b] as usize..self.start[b + 1] as usize]
    }
}

/// A hash map with [`FxHasher`].
pub(super) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// What a value number stands for.
#[derive(Clone, Copy, Debug)]
pub(super) enum Key {
    Const(u32),
    /// `ld size [k]` (code, k).
    Abs(u16, u32),
    /// `ld size [x + k]` with X's number.
    Ind(u16, u32, u32),
    Len,
    Msh(u32),
    Alu(u16, u32, u32),
    Neg(u32),
}

impl Key {
    /// The key as two words (its variant and code above the first field,
    /// the second field alone), so a lookup compares two words instead of
    /// one per field.
    fn packed(self) -> (u64, u32) {
        let (variant, code, a, b) = match self {
            Key::Const(c) => (0u64, 0u16, c, 0u32),
            Key::Abs(code, k) => (1, code, k, 0),
            Key::Ind(code, k, x) => (2, code, k, x),
            Key::Len => (3, 0, 0, 0),
            Key::Msh(k) => (4, 0, k, 0),
            Key::Alu(operation, a, b) => (5, operation, a, b),
            Key::Neg(a) => (6, 0, a, 0),
        };
        (variant << 48 | u64::from(code) << 32 | u64::from(a), b)
    }
}

/// One slot of [`KeyTable`].
#[derive(Clone, Copy, Default)]
struct Slot {
    high: u64,
    low: u32,
    id: u32,
    /// The numbering that filled the slot; any other numbering's slot is
    /// empty.
    stamp: u32,
}

/// Value numbers by key, for one numbering at a time: open addressing
/// over a power-of-two table whose slots carry the numbering that filled
/// them, so that starting a numbering clears nothing. (A general hash map
/// cost a hundred instructions per lookup, a tenth of an optimisation.)
#[derive(Default)]
struct KeyTable {
    slots: Vec<Slot>,
    stamp: u32,
    len: usize,
}

impl KeyTable {
    /// Empty, with room for `keys` keys at most half full.
    fn reset(&mut self, keys: usize) {
        self.len = 0;
        if self.stamp == u32::MAX {
            // Stamps would repeat: every slot made empty for good.
            self.slots.fill(Slot::default());
            self.stamp = 0;
        }
        self.stamp += 1;
        let wanted = (keys * 2).next_power_of_two().max(16);
        if self.slots.len() < wanted {
            self.slots = vec![Slot::default(); wanted];
            self.stamp = 1;
        }
    }

    /// The id of `key`, given `next` when it has none yet (then `true`).
    #[inline]
    fn get_or_insert(&mut self, (high, low): (u64, u32), next: u32) -> (u32, bool) {
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let hash = (high ^ u64::from(low).rotate_left(29)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        let mut at = (hash >> 32) as usize & mask;
        loop {
            let slot = &mut self.slots[at];
            if slot.stamp != self.stamp {
                *slot = Slot {
                    high,
                    low,
                    id: next,
                    stamp: self.stamp,
                };
                self.len += 1;
                return (next, true);
            }
            if slot.high == high && slot.low == low {
                return (slot.id, false);
            }
            at = (at + 1) & mask;
        }
    }

    /// Twice the room, the keys of this numbering kept.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let stamp = self.stamp;
        let size = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        (self.stamp, self.len) = (1, 0);
        for slot in old.into_iter().filter(|s| s.stamp == stamp) {
            self.get_or_insert((slot.high, slot.low), slot.id);
        }
    }
}

#[derive(Default)]
pub(super) struct Numbers {
    ids: KeyTable,
    consts: Vec<Option<u32>>,
    /// Which numbers [`Numbers::fresh`] gave: values libpcap does not know
    /// (its `VAL_UNKNOWN`).
    unknown: Vec<bool>,
    /// Why folding refused the program (libpcap's optimiser errors: a
    /// division by a zero it computed, a shift by more than 31).
    pub(super) refused: Option<&'static str>,
    /// A statement was rewritten in a way that makes libpcap's optimiser
    /// go round again (its `done = 0`: a constant folded or substituted,
    /// an indexed load made absolute); dropping a redundant statement
    /// does not.
    pub(super) again: bool,
}

impl Numbers {
    /// Empty, with room for the values of a graph of `blocks` blocks
    /// without regrowing (regrowing the map was a tenth of compiling a
    /// short expression); the memory of the last numbering is kept.
    fn reset(&mut self, blocks: usize) {
        let n = blocks * 4;
        self.ids.reset(n);
        self.consts.clear();
        self.consts.reserve(n);
        self.unknown.clear();
        self.unknown.reserve(n);
        self.refused = None;
        self.again = false;
    }

    #[inline(always)]
    fn of(&mut self, key: Key) -> u32 {
        let next = self.consts.len() as u32;
        let (id, new) = self.ids.get_or_insert(key.packed(), next);
        if new {
            self.consts.push(match key {
                Key::Const(c) => Some(c),
                _ => None,
            });
            self.unknown.push(false);
        }
        id
    }

    /// A number equal to no other: a register's value where it differs
    /// between incoming paths (or is not known at the root). Each block
    /// asks once per register per numbering, so no key is needed and
    /// nothing is hashed.
    fn fresh(&mut self) -> u32 {
        let id = self.consts.len() as u32;
        self.consts.push(None);
        self.unknown.push(true);
        id
    }

    /// Whether `v` is a value libpcap's optimiser does not know: a
    /// register's at the root, or where paths disagree.
    pub(super) fn is_unknown(&self, v: u32) -> bool {
        self.unknown.get(v as usize).copied().unwrap_or(true)
    }

    pub(super) fn constant(&self, v: u32) -> Option<u32> {
        self.consts.get(v as usize).copied().flatten()
    }
}

/// Value numbering's state, kept from one numbering of a graph to the next
/// (an optimisation numbers it once or twice per pass, dozens of times;
/// allocating this afresh each time cost a fifth of compiling a short
/// expression, most of it the allocator consolidating its free lists).
#[derive(Default)]
pub(super) struct Numbering {
    /// The numbers given so far.
    pub(super) nums: Numbers,
    /// Register values on exit from each block.
    pub(super) exit: Vec<[u32; NREGS]>,
    /// How many registers the graph uses (A, X and the scratch words up to
    /// the highest one used): the others are never read, so they are never
    /// numbered (most filters use no scratch word, and merging 16 unused
    /// words at every block was a tenth of an optimisation).
    pub(super) regs: usize,
}

/// Memory the optimiser's passes and pull-ups reuse from one to the next
/// (each orders the graph, finds predecessors, numbers values and follows
/// liveness; allocating those afresh every time was most of the optimiser's
/// time on short expressions, a dozen blocks taking microseconds in the
/// allocator).
#[derive(Default)]
pub(super) struct Workspace {
    pub(super) numbering: Numbering,
    pub(super) walk: OrderWalk,
    pub(super) preds: Preds,
    /// A block to number copies in ([`number_copy`], for tests).
    #[cfg(test)]
    pub(super) scratch: Block,
    /// A value per block: A at the block's test, or a block's exit A.
    pub(super) a_values: Vec<u32>,
    /// Registers live on entry to each block.
    pub(super) live_in: Vec<RegSet>,
}

impl Workspace {
    /// Orders `g` and finds its predecessors, into `self.walk.order` and
    /// `self.preds`.
    pub(super) fn survey(&mut self, g: &Graph) {
        g.order_into(&mut self.walk);
        self.preds.compute(g, &self.walk.order);
    }
}

impl Numbering {
    /// Ready to number `g`: no numbers yet.
    pub(super) fn reset(&mut self, g: &Graph) {
        let blocks = g.blocks.len();
        self.nums.reset(blocks);
        self.exit.clear();
        self.exit.resize(blocks, [0; NREGS]);
        self.regs = g
            .blocks
            .iter()
            .flat_map(|b| &b.stmts)
            .filter(|s| matches!(s.class(), op::ST | op::STX) || s.mode() == op::MEM)
            .map(|s| 2 + (s.k as usize & 15) + 1)
            .max()
            .unwrap_or(2);
    }
}

pub(super) fn targets(b: &Block) -> impl Iterator<Item = (bool, Target)> {
    let n = match b.test {
        Test::Always => 1,
        Test::Jump { .. } => 2,
    };
    [(true, b.jt), (false, b.jf)].into_iter().take(n)
}

pub(super) fn set_target(b: &mut Block, side: bool, t: Target) {
    if side {
        b.jt = t;
        if b.test == Test::Always {
            b.jf = t;
        }
    } else {
        b.jf = t;
    }
}

/// (uses, defs) of one statement.
pub(super) fn uses_defs(s: &Insn) -> (RegSet, RegSet) {
    let a = 1 << A;
    let x = 1 << X;
    let m = |k: u32| 1u32 << (2 + (k & 15));
    match s.class() {
        op::LD => match s.mode() {
            op::IND => (x, a),
            op::MEM => (m(s.k), a),
            _ => (0, a),
        },
        op::LDX => match s.mode() {
            op::MEM => (m(s.k), x),
            _ => (0, x),
        },
        op::ST => (a, m(s.k)),
        op::STX => (x, m(s.k)),
        op::ALU if s.op() == op::NEG => (a, a),
        op::ALU if s.src() == op::X => (a | x, a),
        op::ALU => (a, a),
        op::MISC if s.miscop() == op::TXA => (x, a),
        op::MISC => (a, x),
        _ => (0, 0),
    }
}

pub(super) fn test_uses(b: &Block) -> RegSet {
    match b.test {
        Test::Always => 0,
        Test::Jump { code, .. } if code & op::X != 0 => (1 << A) | (1 << X),
        Test::Jump { .. } => 1 << A,
    }
}

/// `a code b` folded at compile time as libpcap's optimiser folds it
/// (`fold_op`): [`cbpf::semantics::alu`], but shifts by 32 or more shift
/// every bit out. `None` for a division or remainder by zero, which
/// libpcap refuses.
pub(super) fn alu_fold(code: u16, a: u32, b: u32) -> Option<u32> {
    match code & 0xf0 {
        op::LSH | op::RSH if b >= 32 => Some(0),
        operation => cbpf::semantics::alu(operation, a, b),
    }
}

/// libpcap's words for a division or remainder by zero.
fn by_zero(operation: u16) -> &'static str {
    if operation == op::MOD {
        "modulus by zero"
    } else {
        "division by zero"
    }
}

/// The outcome of test `code` on known operands.
pub(super) fn decide(code: u16, a: u32, b: u32) -> bool {
    cbpf::semantics::jump_taken(code & 0xf0, a, b).unwrap_or(false)
}

/// [`number_block`] without rewriting on a copy of `block` made in
/// `scratch` (its allocation reused from block to block), `block` left as
/// it is: for the values alone. Returns the copy.
#[cfg(test)]
pub(super) fn number_copy<'s>(
    block: &Block,
    scratch: &'s mut Block,
    vals: &mut [u32; NREGS],
    nums: &mut Numbers,
) -> &'s Block {
    scratch.stmts.clear();
    scratch.stmts.extend_from_slice(&block.stmts);
    scratch.test = block.test;
    scratch.jt = block.jt;
    scratch.jf = block.jf;
    number_block::<false>(scratch, vals, nums);
    scratch
}

/// Value-numbers one block's statements from entry values `vals`. With
/// `REWRITE` (libpcap's statement phase) it drops redundant statements,
/// folds constants and rewrites tests; without, it leaves statements and
/// test as they are and only sends a test its values decide both ways to
/// the decided successor. Returns whether it changed (with `REWRITE`).
/// (Inlined into its callers: a call per block per pass was a twentieth
/// of compiling a short expression.)
#[inline(always)]
pub(super) fn number_block<const REWRITE: bool>(
    block: &mut Block,
    vals: &mut [u32; NREGS],
    nums: &mut Numbers,
) -> bool {
    let mut changed = false;
    // Compacted in place: each statement is kept (perhaps rewritten) or
    // dropped, so the kept ones never overtake the one being read.
    let mut kept = 0;
    for i in 0..block.stmts.len() {
        let mut s = block.stmts[i];
        // An `op x` is rewritten only in the statement phase, as libpcap's
        // opt_stmt does (`alter`): in the branch phase `1 + 2` is a value
        // of its own, not the constant 3, so a test on it is decided (and
        // the jumps around it threaded, dropping loads a truncated packet
        // fails) only where libpcap decides it. Then, as libpcap, both
        // operands known fold, a known X makes it `op #k`, and an A known
        // to be 0 makes it `txa` or `ld #0`. A `div #0` made so is refused
        // only when a later pass (which `again` asks for) meets it, if its
        // block is still there; a folded one at once.
        let mut from_x = false;
        if REWRITE && s.class() == op::ALU && s.src() == op::X && s.op() != op::NEG {
            let operation = s.op();
            match (nums.constant(vals[A]), nums.constant(vals[X])) {
                (Some(a), Some(c)) => {
                    match alu_fold(operation, a, c) {
                        Some(r) => s = Insn::stmt(op::LD | op::IMM, r),
                        None => nums.refused = Some(by_zero(operation)),
                    }
                    changed = true;
                    nums.again = true;
                }
                (None, Some(c)) => {
                    if matches!(operation, op::LSH | op::RSH) && c > 31 {
                        nums.refused = Some("shift by more than 31 bits");
                    }
                    s = Insn::stmt(op::ALU | operation | op::K, c);
                    from_x = true;
                    changed = true;
                    nums.again = true;
                }
                (Some(0), None) => match operation {
                    op::ADD | op::OR | op::XOR => {
                        s = Insn::stmt(op::MISC | op::TXA, 0);
                        changed = true;
                    }
                    // (Not `sub x`: 0 - x is not 0.)
                    op::MUL | op::DIV | op::MOD | op::AND | op::LSH | op::RSH => {
                        s = Insn::stmt(op::LD | op::IMM, 0);
                        changed = true;
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        let (reg, key) = match (s.class(), s.mode()) {
            (op::LD, op::IMM) => (A, Key::Const(s.k)),
            (op::LD, op::ABS) => (A, Key::Abs(s.code, s.k)),
            // An indexed load at a known X is an absolute one, but only in
            // the statement phase, as in libpcap's opt_stmt: in the branch
            // phase `ldx #6; ldb [x + 14]` (libpcap's `ip6[6]`) is a value
            // of its own, not the `ldb [20]` of `ip6 proto`, so jumps are
            // threaded (and loads dropped) where libpcap's are.
            (op::LD, op::IND) => match nums.constant(vals[X]) {
                Some(c) if REWRITE => {
                    s = Insn::stmt(op::LD | op::ABS | s.size(), s.k.wrapping_add(c));
                    changed = true;
                    nums.again = true;
                    (A, Key::Abs(s.code, s.k))
                }
                _ => (A, Key::Ind(s.code, s.k, vals[X])),
            },
            (op::LD, op::LEN) => (A, Key::Len),
            (op::LDX, op::IMM) => (X, Key::Const(s.k)),
            (op::LDX, op::LEN) => (X, Key::Len),
            (op::LDX, op::MSH) => (X, Key::Msh(s.k)),
            (op::LD, op::MEM) | (op::LDX, op::MEM) => {
                let reg = if s.class() == op::LD { A } else { X };
                let v = vals[2 + (s.k as usize & 15)];
                // (libpcap writes a known value as `ld #k` before it finds
                // the load redundant.)
                nums.again |= REWRITE && nums.constant(v).is_some();
                if vals[reg] == v {
                    changed = true;
                    continue;
                }
                if let Some(c) = nums.constant(v) {
                    s = Insn::stmt(s.class() | op::IMM, c);
                    changed = true;
                }
                vals[reg] = v;
                if REWRITE {
                    block.stmts[kept] = s;
                }
                kept += 1;
                continue;
            }
            (op::ST, _) | (op::STX, _) => {
                let src = if s.class() == op::ST { A } else { X };
                let m = 2 + (s.k as usize & 15);
                if vals[m] == vals[src] {
                    changed = true;
                    continue;
                }
                vals[m] = vals[src];
                if REWRITE {
                    block.stmts[kept] = s;
                }
                kept += 1;
                continue;
            }
            (op::MISC, _) => {
                let (from, to) = if s.miscop() == op::TXA {
                    (X, A)
                } else {
                    (A, X)
                };
                if vals[to] == vals[from] {
                    changed = true;
                    continue;
                }
                vals[to] = vals[from];
                if REWRITE {
                    block.stmts[kept] = s;
                }
                kept += 1;
                continue;
            }
            (op::ALU, _) => {
                let a = vals[A];
                if s.op() == op::NEG {
                    if let Some(c) = nums.constant(a).filter(|_| REWRITE) {
                        s = Insn::stmt(op::LD | op::IMM, c.wrapping_neg());
                        changed = true;
                        (A, Key::Const(s.k))
                    } else {
                        (A, Key::Neg(a))
                    }
                } else if s.src() == op::K {
                    // libpcap's (opt_stmt with `alter`): not `sub #0`,
                    // `mul #1` or `and #0xffffffff`, which it keeps (the
                    // last becomes its `jset #0xffffffff`, "always").
                    let identity = match s.op() {
                        op::ADD | op::OR | op::XOR | op::LSH | op::RSH => s.k == 0,
                        _ => false,
                    };
                    if identity && REWRITE {
                        changed = true;
                        continue;
                    }
                    if REWRITE && !from_x && s.k == 0 && matches!(s.op(), op::DIV | op::MOD) {
                        nums.refused = Some(by_zero(s.op()));
                    }
                    // `and #0` / `mul #0` give 0 whatever A holds (libpcap
                    // folds these too, dropping the load that fed them).
                    let absorbing = matches!(s.op(), op::AND | op::MUL) && s.k == 0;
                    let folded = if !REWRITE {
                        None
                    } else if absorbing {
                        Some(0)
                    } else {
                        let r = nums.constant(a).and_then(|c| alu_fold(s.code, c, s.k));
                        nums.again |= r.is_some();
                        r
                    };
                    match folded {
                        Some(r) => {
                            s = Insn::stmt(op::LD | op::IMM, r);
                            changed = true;
                            (A, Key::Const(r))
                        }
                        None => {
                            let kv = nums.of(Key::Const(s.k));
                            (A, Key::Alu(s.op(), a, kv))
                        }
                    }
                } else {
                    // `op x` is not `op #k` even where X holds k: libpcap's
                    // value numbers include the operand's form, and only
                    // its statement phase writes `op x` as `op #k`.
                    (A, Key::Alu(s.op() | op::X, a, vals[X]))
                }
            }
            _ => {
                if REWRITE {
                    block.stmts[kept] = s;
                }
                kept += 1;
                continue;
            }
        };
        let v = nums.of(key);
        if vals[reg] == v {
            changed = true;
            continue;
        }
        vals[reg] = v;
        if REWRITE {
            block.stmts[kept] = s;
        }
        kept += 1;
    }
    if REWRITE {
        block.stmts.truncate(kept);
    }
    if let Test::Jump { code, k } = block.test {
        let (code, k) = match nums.constant(vals[X]) {
            Some(c) if code & op::X != 0 => {
                changed = true;
                (code & !op::X, c)
            }
            _ => (code, k),
        };
        if REWRITE {
            block.test = Test::Jump { code, k };
        }
        let outcome = if code & op::X == 0 {
            nums.constant(vals[A]).map(|a| decide(code, a, k))
        } else {
            None
        };
        if let Some(taken) = outcome {
            // Both edges to the decided successor; the block stays a jump
            // (libpcap's statement phase leaves such blocks in place).
            let t = if taken { block.jt } else { block.jf };
            changed |= block.jt != block.jf;
            nums.again |= block.jt != block.jf;
            block.jt = t;
            block.jf = t;
        }
    }
    changed
}

/// Registers read before being written by a block's statements, and the
/// registers they write.
pub(super) fn block_uses_defs(stmts: &[Insn]) -> (RegSet, RegSet) {
    stmts.iter().fold((0, 0), |(uses, defs), s| {
        let (u, d) = uses_defs(s);
        (uses | (u & !defs), defs | d)
    })
}

/// Registers live on entry to each block (read before written on some
/// path), indexed by block, into `live_in`.
pub(super) fn liveness(g: &Graph, order: &[usize], live_in: &mut Vec<RegSet>) {
    live_in.clear();
    live_in.resize(g.blocks.len(), 0);
    for &b in order.iter().rev() {
        let block = &g.blocks[b];
        let out = targets(block).fold(test_uses(block), |acc, (_, t)| {
            acc | match t {
                Target::Block(c) => live_in[c],
                _ => 0,
            }
        });
        let (uses, defs) = block_uses_defs(&block.stmts);
        live_in[b] = uses | (out & !defs);
    }
}

impl Preds {
    /// The predecessor edges of every reachable block, in `order`, in this
    /// value's memory.
    pub(super) fn compute(&mut self, g: &Graph, order: &[usize]) {
        let Preds { start, edges, next } = self;
        // Count each block's edges, then place them, in `order` as before.
        start.clear();
        start.resize(g.blocks.len() + 1, 0);
        for &b in order {
            for (_, t) in targets(&g.blocks[b]) {
                if let Target::Block(c) = t {
                    start[c + 1] += 1;
                }
            }
        }
        for i in 1..start.len() {
            start[i] += start[i - 1];
        }
        next.clear();
        next.extend_from_slice(start);
        edges.clear();
        edges.resize(start[g.blocks.len()] as usize, (0, false));
        for &b in order {
            for (side, t) in targets(&g.blocks[b]) {
                if let Target::Block(c) = t {
                    edges[next[c] as usize] = (b, side);
                    next[c] += 1;
                }
            }
        }
    }
}

/// Register values on entry to `b`: unknown at the root, else what all
/// predecessors agree on (a fresh number where they differ). Only the
/// graph's first `regs` registers are numbered ([`Numbering::regs`]).
pub(super) fn entry_values(
    b: usize,
    root: usize,
    preds: &Preds,
    numbering: &mut Numbering,
) -> [u32; NREGS] {
    let Numbering { nums, exit, regs } = numbering;
    let mut vals = [0u32; NREGS];
    if b == root {
        // A and X start as 0 on every machine, but libpcap's optimiser does
        // not know it (a leading `ld #0` survives in its listings), so
        // neither do we.
        for v in vals[..*regs].iter_mut() {
            *v = nums.fresh();
        }
        return vals;
    }
    let ps = &preds[b];
    for (r, v) in vals[..*regs].iter_mut().enumerate() {
        let mut it = ps.iter().map(|&(p, _)| exit[p][r]);
        let first = it.next();
        *v = match first {
            Some(f) if it.all(|o| o == f) => f,
            _ => nums.fresh(),
        };
    }
    vals
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key table numbers as a map would: growing past its first room
    /// keeps every key's id, a new numbering forgets the last one's keys
    /// (also when the stamps wrap around), and different keys never share
    /// an id.
    #[test]
    fn the_key_table_numbers_as_a_map_would() {
        let mut numbers = Numbers::default();
        let mut reference: HashMap<u128, u32> = HashMap::new();
        let key = |i: u32| match i % 3 {
            0 => Key::Const(i),
            1 => Key::Abs(op::LD | op::H | op::ABS, i),
            _ => Key::Alu(op::ADD, i, i.wrapping_mul(7)),
        };
        let packed = |k: Key| {
            let (high, low) = k.packed();
            u128::from(high) << 32 | u128::from(low)
        };
        for round in 0..3u32 {
            if round == 2 {
                // The next numbering's stamp wraps around.
                numbers.ids.stamp = u32::MAX;
            }
            // Room for 4 keys; 1,000 make it grow several times.
            numbers.reset(1);
            reference.clear();
            // The same keys each round, in another order, the middle round
            // only half of them: a key left from an earlier numbering (the
            // first, whose stamp the wrapped one repeats) would keep its
            // old id.
            let keys = if round == 1 { 500 } else { 1000 };
            for i in (0..keys)
                .chain(0..keys)
                .map(|i| (i + round * 300) % keys * 31)
            {
                let id = numbers.of(key(i));
                let want = reference.len() as u32;
                assert_eq!(id, *reference.entry(packed(key(i))).or_insert(want), "{i}");
            }
            assert_eq!(numbers.ids.len, keys as usize);
            let constant = numbers.of(Key::Const(31));
            assert_eq!(numbers.constant(constant), Some(31));
        }
    }
}
