//! Flow optimiser for the block graph, after libpcap's optimize.c in spirit:
//!
//! - value numbering: every packet load, constant and ALU result gets a
//!   number (same load anywhere = same number, the packet never changes);
//!   a statement that recomputes what a register already holds is dropped,
//!   constant operations are folded, tests on constants become jumps;
//! - jump threading: each edge carries the test outcomes known on every
//!   path to it; an edge into a block whose test those outcomes decide goes
//!   straight to the decided successor, when the skipped statements define
//!   nothing the new target reads;
//! - dead statements (results nobody reads) are removed;
//! - identical blocks are merged.
//!
//! Like libpcap, skipping a block can drop its packet loads, so a truncated
//! packet may be judged by fewer loads; the equivalence test holds us to
//! libpcap's optimised output on truncated packets too.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::cfg::{Block, Graph, Target, Test};
use super::pullup;
use crate::cbpf::insn::op;
use crate::cbpf::Insn;

/// Registers tracked: A, X and the 16 scratch words.
pub(super) const NREGS: usize = 2 + op::MEMWORDS as usize;
pub(super) const A: usize = 0;
const X: usize = 1;

/// Register set as a bit mask (bit 0 = A, bit 1 = X, bit 2+k = M[k]).
pub(super) type RegSet = u32;

/// Predecessor edges `(block, side)` of each block, indexed by block.
pub(super) type Preds = Vec<Vec<(usize, bool)>>;

/// A multiply-rotate hasher (rustc's "Fx") for the optimiser's small keys:
/// SipHash's flooding resistance buys nothing here and cost a third of the
/// optimiser's time.
#[derive(Default, Clone, Copy)]
pub(super) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }

    fn write_u16(&mut self, n: u16) {
        self.write_u64(n as u64);
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(n as u64);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash map with [`FxHasher`].
pub(super) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Runs optimisation passes until nothing changes.
///
/// Two phases, as libpcap: first branches move (threading, pullups) while
/// every block still loads what it tests; then statements are rewritten
/// (redundant loads, constants, dead stores) and identical blocks merged.
pub fn optimize(g: &mut Graph) {
    for _ in 0..50_000 {
        if !pass(g, false) && !pullup::pullups(g) {
            break;
        }
    }
    for _ in 0..1000 {
        if !pass(g, true) {
            break;
        }
    }
    skip_undecided_root(g);
}

/// libpcap's `opt_root`: a root whose test goes the same way either way is
/// skipped, its statements moved into the next block.
fn skip_undecided_root(g: &mut Graph) {
    while let Some(Target::Block(r)) = g.root {
        let b = g.blocks[r].clone();
        if b.jt != b.jf {
            return;
        }
        let order = g.order();
        let preds = predecessors(g, &order);
        match b.jt {
            Target::Block(n) if preds[n].iter().all(|&(p, _)| p == r) => {
                let mut stmts = b.stmts;
                stmts.extend(g.blocks[n].stmts.iter().copied());
                g.blocks[n].stmts = stmts;
                g.root = Some(b.jt);
            }
            Target::Block(_) => return,
            leaf => g.root = Some(leaf),
        }
    }
}

/// What a value number stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    Const(u32),
    /// `ld size [k]` (code, k).
    Abs(u16, u32),
    /// `ld size [x + k]` with X's number.
    Ind(u16, u32, u32),
    Len,
    Msh(u32),
    Alu(u16, u32, u32),
    Neg(u32),
    /// A register whose value differs between incoming paths.
    Unknown(usize, usize),
}

#[derive(Default)]
pub(super) struct Numbers {
    ids: FxMap<Key, u32>,
    consts: Vec<Option<u32>>,
}

impl Numbers {
    fn of(&mut self, key: Key) -> u32 {
        let next = self.consts.len() as u32;
        let id = *self.ids.entry(key).or_insert(next);
        if id == next {
            self.consts.push(match key {
                Key::Const(c) => Some(c),
                _ => None,
            });
        }
        id
    }

    fn constant(&self, v: u32) -> Option<u32> {
        self.consts.get(v as usize).copied().flatten()
    }
}

pub(super) fn targets(b: &Block) -> Vec<(bool, Target)> {
    match b.test {
        Test::Always => vec![(true, b.jt)],
        Test::Jump { .. } => vec![(true, b.jt), (false, b.jf)],
    }
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
fn uses_defs(s: &Insn) -> (RegSet, RegSet) {
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

fn test_uses(b: &Block) -> RegSet {
    match b.test {
        Test::Always => 0,
        Test::Jump { code, .. } if code & op::X != 0 => (1 << A) | (1 << X),
        Test::Jump { .. } => 1 << A,
    }
}

fn alu_fold(code: u16, a: u32, b: u32) -> Option<u32> {
    Some(match code & 0xf0 {
        op::ADD => a.wrapping_add(b),
        op::SUB => a.wrapping_sub(b),
        op::MUL => a.wrapping_mul(b),
        op::DIV => a.checked_div(b)?,
        op::MOD => a.checked_rem(b)?,
        op::AND => a & b,
        op::OR => a | b,
        op::XOR => a ^ b,
        // Classic shifts by 32 or more give 0 (the kernel masks nothing
        // for cBPF converted to eBPF 32-bit ops... stay out of it).
        op::LSH if b < 32 => a << b,
        op::RSH if b < 32 => a >> b,
        _ => return None,
    })
}

/// The outcome of `a code b` for known operands.
fn decide(code: u16, a: u32, b: u32) -> bool {
    match code & 0xf0 {
        op::JEQ => a == b,
        op::JGT => a > b,
        op::JGE => a >= b,
        _ => a & b != 0,
    }
}

/// A known test outcome: (value number of A, jump op, k, outcome).
type Fact = (u32, u16, u32, bool);

/// The facts known on edges, as chains sharing their common beginnings: a
/// block with one predecessor extends its predecessor's chain in O(1)
/// instead of copying it (the copies were most of the optimiser's time on
/// long `or` chains).
struct FactChains {
    /// (fact, index of the previous, older fact or [`NO_FACT`]).
    nodes: Vec<(Fact, u32)>,
}

/// The empty chain.
const NO_FACT: u32 = u32::MAX;

impl FactChains {
    fn push(&mut self, fact: Fact, older: u32) -> u32 {
        self.nodes.push((fact, older));
        (self.nodes.len() - 1) as u32
    }

    /// The facts of a chain, newest first.
    fn iter(&self, mut at: u32) -> impl Iterator<Item = Fact> + '_ {
        std::iter::from_fn(move || {
            let &(fact, older) = self.nodes.get(at as usize)?;
            at = older;
            Some(fact)
        })
    }

    /// The facts on edge `(p, side)`: those known on entry to `p`
    /// (`facts_in`), plus the outcome of p's test (on A's value number
    /// `at_test_a[p]`).
    fn on_edge(
        &mut self,
        g: &Graph,
        at_test_a: &[u32],
        facts_in: &[u32],
        (p, side): (usize, bool),
    ) -> u32 {
        match g.blocks[p].test {
            Test::Jump { code, k } if code & op::X == 0 => {
                self.push((at_test_a[p], code & 0xf0, k, side), facts_in[p])
            }
            _ => facts_in[p],
        }
    }

    /// A chain of `facts`, oldest first.
    fn push_all(&mut self, facts: &[Fact]) -> u32 {
        facts.iter().fold(NO_FACT, |at, &f| self.push(f, at))
    }

    /// The outcome of block test `(v, code, k)` implied by the chain at
    /// `at`, if any: the oldest fact that decides it.
    fn implied(&self, at: u32, v: u32, code: u16, k: u32) -> Option<bool> {
        let mut decided = None;
        for (fv, fcode, fk, sense) in self.iter(at) {
            if fv != v {
                continue;
            }
            if fcode == code && fk == k {
                decided = Some(sense);
            } else if fcode == op::JEQ && sense && code == op::JEQ {
                // Only what libpcap's fold_edge knows: after `A == k'`
                // held, any other `jeq` is false. (Deciding more would drop
                // loads libpcap keeps, and truncated packets would then be
                // judged differently.)
                decided = Some(false);
            }
        }
        decided
    }
}

fn pass(g: &mut Graph, rewrite: bool) -> bool {
    let mut changed = false;
    // An empty unconditional root just forwards.
    while let Some(Target::Block(r)) = g.root {
        let b = &g.blocks[r];
        if b.test == Test::Always && b.stmts.is_empty() {
            g.root = Some(b.jt);
            changed = true;
        } else {
            break;
        }
    }
    let Some(Target::Block(root)) = g.root else {
        return changed;
    };
    let order = g.order();
    let preds = predecessors(g, &order);

    // ---- value numbering ----
    let mut nums = Numbers::default();
    let mut exit: Vec<[u32; NREGS]> = vec![[0; NREGS]; g.blocks.len()];
    let mut at_test_a: Vec<u32> = vec![0; g.blocks.len()];
    for &b in &order {
        let mut vals = entry_values(b, root, &preds, &exit, &mut nums);
        if rewrite {
            changed |= number_block(&mut g.blocks[b], &mut vals, &mut nums);
        } else {
            // Values only; just a test on a constant is resolved.
            let mut copy = g.blocks[b].clone();
            number_block(&mut copy, &mut vals, &mut nums);
            let blk = &mut g.blocks[b];
            if copy.jt == copy.jf && blk.jt != blk.jf {
                blk.jt = copy.jt;
                blk.jf = copy.jt;
                changed = true;
            }
        }
        at_test_a[b] = vals[A];
        exit[b] = vals;
    }

    // ---- liveness and dead statements ----
    let mut live_in: Vec<RegSet> = vec![0; g.blocks.len()];
    let live_of = |t: Target, live_in: &[RegSet]| match t {
        Target::Block(c) => live_in[c],
        _ => 0,
    };
    for &b in order.iter().rev() {
        let block = &g.blocks[b];
        let mut live = targets(block)
            .iter()
            .fold(0, |acc, &(_, t)| acc | live_of(t, &live_in))
            | test_uses(block);
        let mut kept = Vec::with_capacity(block.stmts.len());
        for s in block.stmts.iter().rev() {
            let (uses, defs) = uses_defs(s);
            if rewrite && defs & live == 0 {
                changed = true;
                continue;
            }
            live = (live & !defs) | uses;
            kept.push(*s);
        }
        kept.reverse();
        g.blocks[b].stmts = kept;
        live_in[b] = live;
    }

    // ---- libpcap's jump peepholes (A not needed after the block) ----
    for &b in &order {
        let block = &g.blocks[b];
        let a_live_after = targets(block)
            .iter()
            .any(|&(_, t)| live_of(t, &live_in) & (1 << A) != 0);
        let (Some(last), Test::Jump { code, k }) = (block.stmts.last().copied(), block.test) else {
            continue;
        };
        if a_live_after || code != op::JMP | op::JEQ | op::K {
            continue;
        }
        let block = &mut g.blocks[b];
        if last.code == op::ALU | op::SUB | op::K {
            // sub #k; jeq #j  ->  jeq #(j + k)
            block.stmts.pop();
            block.test = Test::Jump {
                code,
                k: k.wrapping_add(last.k),
            };
            changed = true;
        } else if last.code == op::ALU | op::AND | op::K && k == 0 {
            // and #k; jeq #0  ->  jset #k with the exits swapped
            block.stmts.pop();
            block.test = Test::Jump {
                code: op::JMP | op::JSET | op::K,
                k: last.k,
            };
            std::mem::swap(&mut block.jt, &mut block.jf);
            changed = true;
        }
    }

    // libpcap's "jset #0 -> never, jset #0xffffffff -> always", the
    // second wrong when A is 0 (`ip[0] & 0xffffffff == 0` never matches in
    // libpcap's program). libpcap's tests take this form in its statement
    // phase, which threads no jumps, and it does not count as a change:
    // the test stays, going one way, unless it is the root
    // ([`skip_undecided_root`]). Kept, to produce libpcap's programs.
    if rewrite {
        for &b in &order {
            let block = &mut g.blocks[b];
            if let Test::Jump { code, k } = block.test {
                if code == op::JMP | op::JSET | op::K {
                    if k == 0 {
                        block.jt = block.jf;
                    }
                    if k == u32::MAX {
                        block.jf = block.jt;
                    }
                }
            }
        }
    }

    // ---- known outcomes and jump threading ----
    // (The statement phase merges identical blocks instead.)
    if rewrite {
        changed |= intern(g);
        return changed;
    }
    let mut chains = FactChains { nodes: Vec::new() };
    let mut facts_in: Vec<u32> = vec![NO_FACT; g.blocks.len()];
    for &b in &order {
        facts_in[b] = match preds[b][..] {
            [] => NO_FACT,
            [(p, side)] => chains.on_edge(g, &at_test_a, &facts_in, (p, side)),
            [(p, side), ref others @ ..] => {
                // What every incoming edge knows, in the first edge's order.
                let first = chains.on_edge(g, &at_test_a, &facts_in, (p, side));
                let mut acc: Vec<Fact> = chains.iter(first).collect();
                acc.reverse();
                for &(q, q_side) in others {
                    let edge = chains.on_edge(g, &at_test_a, &facts_in, (q, q_side));
                    let known: FxMap<Fact, ()> = chains.iter(edge).map(|f| (f, ())).collect();
                    acc.retain(|f| known.contains_key(f));
                }
                chains.push_all(&acc)
            }
        };
    }
    for &p in &order {
        for (side, t) in targets(&g.blocks[p]) {
            let facts = chains.on_edge(g, &at_test_a, &facts_in, (p, side));
            let mut target = t;
            let mut skipped_defs: RegSet = 0;
            for _ in 0..16 {
                let Target::Block(c) = target else { break };
                let cb = &g.blocks[c];
                let next = match cb.test {
                    Test::Always => cb.jt,
                    // Both ways lead to the same place: the test is moot.
                    Test::Jump { .. } if cb.jt == cb.jf => cb.jt,
                    Test::Jump { code, k } => {
                        if code & op::X != 0 {
                            break;
                        }
                        match chains.implied(facts, at_test_a[c], code & 0xf0, k) {
                            Some(true) => cb.jt,
                            Some(false) => cb.jf,
                            None => break,
                        }
                    }
                };
                let defs = cb
                    .stmts
                    .iter()
                    .fold(skipped_defs, |acc, s| acc | uses_defs(s).1);
                if defs & live_of(next, &live_in) != 0 {
                    break;
                }
                skipped_defs = defs;
                target = next;
            }
            if target != t {
                set_target(&mut g.blocks[p], side, target);
                changed = true;
            }
        }
    }

    changed
}

/// Value-numbers one block's statements from entry values `vals`, dropping
/// redundant ones and folding constants. Returns whether it changed.
pub(super) fn number_block(block: &mut Block, vals: &mut [u32; NREGS], nums: &mut Numbers) -> bool {
    let mut changed = false;
    let mut out = Vec::with_capacity(block.stmts.len());
    for s in block.stmts.clone() {
        let mut s = s;
        // X-operand ALU with a known X becomes the K form (not for a zero
        // divisor: `div #0` is refused by the kernel, `div x` returns 0).
        if s.class() == op::ALU && s.src() == op::X && s.op() != op::NEG {
            if let Some(c) = nums.constant(vals[X]) {
                if !(c == 0 && matches!(s.op(), op::DIV | op::MOD)) {
                    s = Insn::stmt(op::ALU | s.op() | op::K, c);
                    changed = true;
                }
            }
        }
        let (reg, key) = match (s.class(), s.mode()) {
            (op::LD, op::IMM) => (A, Key::Const(s.k)),
            (op::LD, op::ABS) => (A, Key::Abs(s.code, s.k)),
            (op::LD, op::IND) => (A, Key::Ind(s.code, s.k, vals[X])),
            (op::LD, op::LEN) => (A, Key::Len),
            (op::LDX, op::IMM) => (X, Key::Const(s.k)),
            (op::LDX, op::LEN) => (X, Key::Len),
            (op::LDX, op::MSH) => (X, Key::Msh(s.k)),
            (op::LD, op::MEM) | (op::LDX, op::MEM) => {
                let reg = if s.class() == op::LD { A } else { X };
                let v = vals[2 + (s.k as usize & 15)];
                if vals[reg] == v {
                    changed = true;
                    continue;
                }
                if let Some(c) = nums.constant(v) {
                    s = Insn::stmt(s.class() | op::IMM, c);
                    changed = true;
                }
                vals[reg] = v;
                out.push(s);
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
                out.push(s);
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
                out.push(s);
                continue;
            }
            (op::ALU, _) => {
                let a = vals[A];
                if s.op() == op::NEG {
                    if let Some(c) = nums.constant(a) {
                        s = Insn::stmt(op::LD | op::IMM, c.wrapping_neg());
                        changed = true;
                        (A, Key::Const(s.k))
                    } else {
                        (A, Key::Neg(a))
                    }
                } else if s.src() == op::K {
                    let identity = match s.op() {
                        op::ADD | op::SUB | op::OR | op::XOR | op::LSH | op::RSH => s.k == 0,
                        op::MUL | op::DIV => s.k == 1,
                        op::AND => s.k == u32::MAX,
                        _ => false,
                    };
                    if identity {
                        changed = true;
                        continue;
                    }
                    // `and #0` / `mul #0` give 0 whatever A holds (libpcap
                    // folds these too, dropping the load that fed them).
                    let absorbing = matches!(s.op(), op::AND | op::MUL) && s.k == 0;
                    let folded = if absorbing {
                        Some(0)
                    } else {
                        nums.constant(a).and_then(|c| alu_fold(s.code, c, s.k))
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
                    (A, Key::Alu(s.op(), a, vals[X]))
                }
            }
            _ => {
                out.push(s);
                continue;
            }
        };
        let v = nums.of(key);
        if vals[reg] == v {
            changed = true;
            continue;
        }
        vals[reg] = v;
        out.push(s);
    }
    block.stmts = out;
    if let Test::Jump { code, k } = block.test {
        let (code, k) = match nums.constant(vals[X]) {
            Some(c) if code & op::X != 0 => {
                changed = true;
                (code & !op::X, c)
            }
            _ => (code, k),
        };
        block.test = Test::Jump { code, k };
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
/// path), indexed by block.
pub(super) fn liveness(g: &Graph, order: &[usize]) -> Vec<RegSet> {
    let mut live_in: Vec<RegSet> = vec![0; g.blocks.len()];
    for &b in order.iter().rev() {
        let block = &g.blocks[b];
        let out = targets(block)
            .iter()
            .fold(test_uses(block), |acc, &(_, t)| {
                acc | match t {
                    Target::Block(c) => live_in[c],
                    _ => 0,
                }
            });
        let (uses, defs) = block_uses_defs(&block.stmts);
        live_in[b] = uses | (out & !defs);
    }
    live_in
}

/// Predecessor edges of every reachable block, in `order`.
pub(super) fn predecessors(g: &Graph, order: &[usize]) -> Preds {
    let mut preds: Preds = vec![Vec::new(); g.blocks.len()];
    for &b in order {
        for (side, t) in targets(&g.blocks[b]) {
            if let Target::Block(c) = t {
                preds[c].push((b, side));
            }
        }
    }
    preds
}

/// Register values on entry to `b`: unknown at the root, else what all
/// predecessors agree on (a fresh number where they differ).
pub(super) fn entry_values(
    b: usize,
    root: usize,
    preds: &Preds,
    exit: &[[u32; NREGS]],
    nums: &mut Numbers,
) -> [u32; NREGS] {
    let mut vals = [0u32; NREGS];
    if b == root {
        // A and X start as 0 on every machine, but libpcap's optimiser does
        // not know it (a leading `ld #0` survives in its listings), so
        // neither do we.
        for (r, v) in vals.iter_mut().enumerate() {
            *v = nums.of(Key::Unknown(b, r));
        }
        return vals;
    }
    let ps = &preds[b];
    for (r, v) in vals.iter_mut().enumerate() {
        let mut it = ps.iter().map(|&(p, _)| exit[p][r]);
        let first = it.next();
        *v = match first {
            Some(f) if it.all(|o| o == f) => f,
            _ => nums.of(Key::Unknown(b, r)),
        };
    }
    vals
}

/// Merges identical blocks (same statements, test and successors).
fn intern(g: &mut Graph) -> bool {
    let order = g.order();
    let mut canon: FxMap<Block, usize> = FxMap::default();
    let mut remap: FxMap<usize, usize> = FxMap::default();
    let fix = |t: Target, remap: &FxMap<usize, usize>| match t {
        Target::Block(b) => Target::Block(*remap.get(&b).unwrap_or(&b)),
        other => other,
    };
    let mut changed = false;
    for &b in order.iter().rev() {
        let mut block = g.blocks[b].clone();
        block.jt = fix(block.jt, &remap);
        block.jf = if block.test == Test::Always {
            block.jt
        } else {
            fix(block.jf, &remap)
        };
        if block != g.blocks[b] {
            g.blocks[b] = block.clone();
            changed = true;
        }
        match canon.get(&block) {
            Some(&c) => {
                remap.insert(b, c);
                changed = true;
            }
            None => {
                canon.insert(block, b);
            }
        }
    }
    if let Some(root) = g.root {
        g.root = Some(fix(root, &remap));
    }
    changed
}
