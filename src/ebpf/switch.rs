//! Switch recovery: a tree of conditional jumps that all compare one
//! register with constants (what clang makes of a C `switch`, since eBPF
//! has no indirect jump; what a classic host or port list becomes) is
//! replaced by one bounds check and one jump table when its constants are
//! dense, or else by a balanced binary search when that takes fewer
//! compares than the tree's longest walk (a list of 40 hosts: 7 instead of
//! 40). The JIT lowers what is found here; the interpreter's prepared form
//! runs it as one dispatch (a table index or a binary search). Inside a
//! loop, for the JIT, a table whose cases only pick values (`case 7:
//! x = 42; break;`, every case going on to one block) becomes loads from
//! constant tables: no indirect jump for the branch predictor to miss.
//!
//! A tree is found from a conditional jump (its root) by following the
//! successors that are themselves blocks of nothing but a conditional
//! jump on the same register with a constant (64-bit compare, not `jset`)
//! or an unconditional `ja`; every other successor is a leaf. Such blocks
//! change no register, so going straight from the root to the leaf the
//! walk would reach is exact. Which leaf is found by walking the tree with
//! [`semantics::jmp_cond`], once per elementary interval: between
//! consecutive constants (and at the signed/unsigned wrap points) every
//! compare of the tree has the same outcome, so one value stands for its
//! interval (a tree of `jeq` only takes one walk for all of them). The
//! table spans the smallest to the largest constant; values below and
//! above it must each reach one leaf.

use std::collections::HashMap;

use crate::ebpf::blocks::Leaders;
use crate::ebpf::insn::{op, Insn};
use crate::ebpf::semantics;

/// The maps recovery keeps per tree, keyed by slot or constant: hashed by
/// foldhash (SipHash was a fifth of finding 65 trees of 60 compares).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// The switches found in a function, keyed by their root's pc.
pub(crate) type Found = FastMap<usize, Switch>;

/// A recovered switch: what replaces a compare tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Switch {
    Table(Table),
    Search(Search),
    Lookup(Lookup),
}

/// A jump table whose entries all go on to one block having only set the
/// same registers to constants (a C `switch` whose cases each pick a
/// value, e.g. `case 7: x = 42; break;`): the registers are loaded from
/// constant tables indexed by the value, with no indirect jump (which the
/// branch predictor cannot follow on varied input). Only inside a loop:
/// the tables are copied onto the stack once per call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lookup {
    /// The range check and the leaves outside it, as a table's.
    pub table: Table,
    /// Where every entry goes after setting the registers.
    pub join: usize,
    /// Each register set and its value for each entry.
    pub values: Vec<(u8, Vec<u64>)>,
}

/// A balanced search over the register's value (signed order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Search {
    pub reg: u8,
    /// Intervals by their first value, the first from the least value the
    /// register holds (`i64::MIN` in eBPF), each up to the next one's first
    /// value, with the leaf pc values in it reach;
    /// neighbours have different leaves.
    pub intervals: Vec<(i64, usize)>,
}

/// A jump table on `reg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Table {
    pub reg: u8,
    /// The value of `table[0]`.
    pub lo: i64,
    /// Leaf pc for each value `lo ..= lo + table.len() - 1`.
    pub table: Vec<usize>,
    /// Leaf for values below `lo` (signed).
    pub below: usize,
    /// Leaf for values above the table (signed).
    pub above: usize,
}

/// A switch as an interpreter runs it: the leaf for a value in one step
/// (exact: a tree's compares change no register, so going straight to
/// the leaf its walk would reach is the same run).
#[derive(Clone, Debug)]
pub(crate) struct Dispatcher {
    /// The register compared.
    pub reg: u8,
    kind: DispatchKind,
}

#[derive(Clone, Debug)]
enum DispatchKind {
    /// Leaf of value `lo + i` at `table[i]`; `below` and `above` outside.
    Table {
        lo: i64,
        table: Box<[usize]>,
        below: usize,
        above: usize,
    },
    /// Intervals by first value (ascending, the first at the least value
    /// the register holds) and each one's leaf.
    Search {
        firsts: Box<[i64]>,
        leaves: Box<[usize]>,
    },
}

impl Dispatcher {
    fn new(switch: Switch) -> Dispatcher {
        let table = |t: Table| DispatchKind::Table {
            lo: t.lo,
            table: t.table.into(),
            below: t.below,
            above: t.above,
        };
        let (reg, kind) = match switch {
            Switch::Table(t) => (t.reg, table(t)),
            // An interpreter goes to the table's leaves, which set the
            // registers themselves.
            Switch::Lookup(l) => (l.table.reg, table(l.table)),
            Switch::Search(s) => {
                let (firsts, leaves): (Vec<i64>, Vec<usize>) = s.intervals.into_iter().unzip();
                let kind = DispatchKind::Search {
                    firsts: firsts.into(),
                    leaves: leaves.into(),
                };
                (s.reg, kind)
            }
        };
        Dispatcher { reg, kind }
    }

    /// The leaf the tree's walk reaches for `value` (signed).
    #[inline]
    pub(crate) fn leaf(&self, value: i64) -> usize {
        match &self.kind {
            DispatchKind::Table {
                lo,
                table,
                below,
                above,
            } => {
                if value < *lo {
                    return *below;
                }
                // value >= lo: the distance fits in 64 unsigned bits.
                let i = value.wrapping_sub(*lo) as u64;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| table.get(i))
                    .copied()
                    .unwrap_or(*above)
            }
            DispatchKind::Search { firsts, leaves } => {
                // The first interval starts at the least value held.
                let i = firsts.partition_point(|&f| f <= value);
                leaves[i.saturating_sub(1)]
            }
        }
    }
}

/// `found` (switches by root) as interpreters install them: each root
/// with its [`Dispatcher`], in program order (so a decoded program numbers
/// its switches the same on every build).
pub(crate) fn dispatchers(found: Found) -> Vec<(usize, Dispatcher)> {
    let mut by_root: Vec<(usize, Dispatcher)> = found
        .into_iter()
        .map(|(root, s)| (root, Dispatcher::new(s)))
        .collect();
    by_root.sort_unstable_by_key(|&(root, _)| root);
    by_root
}

/// Fewest compares worth a table (fewer are as fast as compares).
const MIN_COMPARES: usize = 4;
/// Most compares followed from one root.
const MAX_NODES: usize = 1024;
/// Largest table, and most entries per compare (keeps tables dense).
const MAX_TABLE: i64 = 4096;
const ENTRIES_PER_COMPARE: i64 = 8;

/// The node at `pc`: a block of one conditional jump on a constant.
fn compare(insn: &Insn) -> Option<(u8, u8, i64)> {
    let code = insn.opc & 0xf0;
    let is_compare = insn.class() == op::JMP
        && insn.opc & op::X == 0
        && !matches!(code, op::JA | op::CALL | op::EXIT | op::JSET);
    is_compare.then_some((insn.dst, code, i64::from(insn.imm)))
}

/// Successor `which` (0: fall-through, 1: jump target; see
/// [`Insn::successors`]) of the instruction at `pc`, if inside the function.
fn successor(insns: &[Insn], pc: usize, which: usize, bounds: (usize, usize)) -> Option<usize> {
    successors_inside(insns, pc, bounds)[which]
}

/// Both of [`successor`]'s answers for `pc`.
fn successors_inside(
    insns: &[Insn],
    pc: usize,
    (start, end): (usize, usize),
) -> [Option<usize>; 2] {
    insns[pc]
        .successors(pc)
        .map(|t| t.filter(|&t| t >= start && t < end))
}

/// A program's instructions as switch recovery reads them (eBPF
/// functions here; the classic interpreter has its own reading).
pub(crate) trait Compares {
    /// The conditional jump at `pc` on a constant, as (register, eBPF
    /// comparison code, constant) compared in 64-bit order, `jset` not
    /// included: what a tree's nodes are.
    fn compare(&self, pc: usize) -> Option<(u8, u8, i64)>;
    /// Whether `pc` holds an unconditional jump.
    fn is_ja(&self, pc: usize) -> bool;
    /// Successor `which` of `pc` (0: the next instruction or the
    /// not-taken side, or an unconditional jump's target; 1: the taken
    /// side), if inside the function.
    fn successor(&self, pc: usize, which: usize) -> Option<usize>;
    /// Whether `pc` starts a block (a node must: no instruction before it
    /// in its block for a jump past the tree to skip).
    fn starts_block(&self, pc: usize) -> bool;
    /// The least and greatest value (signed) the compared register holds.
    fn domain(&self) -> (i64, i64);
    /// Whether the code's runner takes a [`Switch::Table`] (one that does
    /// not is given a [`Switch::Search`] where a table would do).
    fn takes_tables(&self) -> bool {
        true
    }
}

/// The eBPF function `insns[bounds.0..bounds.1]` whose blocks start at
/// `leaders`.
struct Function<'a> {
    insns: &'a [Insn],
    bounds: (usize, usize),
    leaders: &'a Leaders,
    tables: Tables,
}

impl Compares for Function<'_> {
    fn compare(&self, pc: usize) -> Option<(u8, u8, i64)> {
        compare(&self.insns[pc])
    }

    fn is_ja(&self, pc: usize) -> bool {
        self.insns[pc].opc == op::JMP | op::JA
    }

    fn successor(&self, pc: usize, which: usize) -> Option<usize> {
        successor(self.insns, pc, which, self.bounds)
    }

    fn starts_block(&self, pc: usize) -> bool {
        self.leaders.contains(pc)
    }

    fn takes_tables(&self) -> bool {
        self.tables == Tables::Taken
    }

    fn domain(&self) -> (i64, i64) {
        (i64::MIN, i64::MAX)
    }
}

/// Functions with at least this many compares are decoded once
/// ([`Decoded`]); others are read in place, where decoding every slot
/// costs more than the walks of their few trees save (a filter of 40 hosts
/// builds 5 % faster decoded, `tcp port 443` 4 % slower).
const DECODE_FROM: usize = 16;

/// A [`Function`] with each slot decoded once as recovery reads it: a
/// tree's walk asks each node for its compare, its successors and whether
/// it starts a block several times (decoding on every question was a third
/// of building a 4,096-instruction program of host lists).
struct Decoded<'a> {
    function: &'a Function<'a>,
    slots: Vec<Slot>,
}

/// One slot of a [`Decoded`] function.
#[derive(Clone, Copy)]
struct Slot {
    /// See [`Compares::compare`].
    compare: Option<(u8, u8, i64)>,
    is_ja: bool,
    starts_block: bool,
    /// Successors inside the function, [`NO_SUCCESSOR`] where none.
    successors: [u32; 2],
}

/// A [`Slot`]'s missing successor (slots are numbered in `u32`: only
/// functions ending below `u32::MAX` are decoded).
const NO_SUCCESSOR: u32 = u32::MAX;

impl<'a> Decoded<'a> {
    fn new(function: &'a Function<'a>) -> Decoded<'a> {
        let (start, end) = function.bounds;
        let slots = (start..end)
            .map(|pc| {
                let successors = successors_inside(function.insns, pc, function.bounds)
                    .map(|t| t.map_or(NO_SUCCESSOR, |t| t as u32));
                Slot {
                    compare: function.compare(pc),
                    is_ja: function.is_ja(pc),
                    starts_block: function.starts_block(pc),
                    successors,
                }
            })
            .collect();
        Decoded { function, slots }
    }

    fn slot(&self, pc: usize) -> &Slot {
        &self.slots[pc - self.function.bounds.0]
    }
}

impl Compares for Decoded<'_> {
    fn compare(&self, pc: usize) -> Option<(u8, u8, i64)> {
        self.slot(pc).compare
    }

    fn is_ja(&self, pc: usize) -> bool {
        self.slot(pc).is_ja
    }

    fn successor(&self, pc: usize, which: usize) -> Option<usize> {
        let t = self.slot(pc).successors[which];
        (t != NO_SUCCESSOR).then_some(t as usize)
    }

    fn starts_block(&self, pc: usize) -> bool {
        self.slot(pc).starts_block
    }

    fn takes_tables(&self) -> bool {
        self.function.takes_tables()
    }

    fn domain(&self) -> (i64, i64) {
        self.function.domain()
    }
}

/// Most instructions followed from a table entry's leaf (see [`outcome`]).
const MAX_WALK: usize = 32;

/// Where entry `value` of a switch on `reg` goes from `leaf`: the block it
/// reaches and the constants it gives registers on the way, following
/// `mov` of an immediate or of `reg`, `ja`, and conditional jumps on `reg` with an
/// immediate (decided by `value`) until another instruction. `None` when
/// the walk leaves the function, meets `reg` or r10 as a destination, or
/// is too long.
fn outcome(
    insns: &[Insn],
    bounds: (usize, usize),
    leaders: &Leaders,
    reg: u8,
    value: i64,
    leaf: usize,
) -> Option<(usize, Vec<(u8, u64)>)> {
    let mut sets: Vec<(u8, u64)> = Vec::new();
    // The last block start passed, and what was set before it.
    let mut last = (leaf, Vec::new());
    let mut pc = leaf;
    for _ in 0..MAX_WALK {
        if leaders.contains(pc) {
            last = (pc, sets.clone());
        }
        let insn = insns[pc];
        let class = insn.class();
        let code = insn.opc & 0xf0;
        let is_jump = class == op::JMP || class == op::JMP32;
        // `mov` of an immediate, or of `reg` itself (whose value is known:
        // clang merges `case 21: x = 21` into `x = reg`).
        let from_reg = insn.opc & op::X != 0;
        if (class == op::ALU64 || class == op::ALU)
            && code == op::MOV
            && insn.off == 0
            && (!from_reg || insn.src == reg)
        {
            if insn.dst == reg || insn.dst >= 10 {
                return None;
            }
            let v = if from_reg { value } else { i64::from(insn.imm) } as u64;
            let v = if class == op::ALU { v as u32 as u64 } else { v };
            sets.retain(|&(r, _)| r != insn.dst);
            sets.push((insn.dst, v));
            pc = successor(insns, pc, 0, bounds)?;
        } else if is_jump && code == op::JA {
            pc = successor(insns, pc, 0, bounds)?;
        } else if is_jump
            && insn.opc & op::X == 0
            && insn.dst == reg
            && !matches!(code, op::CALL | op::EXIT)
        {
            let is32 = class == op::JMP32;
            let k = i64::from(insn.imm) as u64;
            let taken = semantics::jmp_cond(code, value as u64, k, is32);
            pc = successor(insns, pc, usize::from(taken), bounds)?;
        } else {
            break;
        }
    }
    if !leaders.contains(pc) {
        // Stopped inside a block: go there from its start instead.
        (pc, sets) = last;
    }
    sets.sort_unstable();
    Some((pc, sets))
}

/// `table` as a [`Lookup`], when every entry reaches one block having set
/// the same registers to constants.
fn lookup(
    insns: &[Insn],
    bounds: (usize, usize),
    leaders: &Leaders,
    table: &Table,
) -> Option<Lookup> {
    let mut join = None;
    let mut values: Vec<(u8, Vec<u64>)> = Vec::new();
    for (i, &leaf) in table.table.iter().enumerate() {
        let value = table.lo.checked_add(i as i64)?;
        let (pc, sets) = outcome(insns, bounds, leaders, table.reg, value, leaf)?;
        if *join.get_or_insert(pc) != pc {
            return None;
        }
        if i == 0 {
            values = sets.iter().map(|&(r, _)| (r, Vec::new())).collect();
        }
        if sets.len() != values.len() || sets.iter().zip(&values).any(|(s, v)| s.0 != v.0) {
            return None;
        }
        for ((_, v), (_, column)) in sets.iter().zip(values.iter_mut()) {
            column.push(*v);
        }
    }
    if values.is_empty() {
        return None;
    }
    Some(Lookup {
        table: table.clone(),
        join: join?,
        values,
    })
}

/// For each slot of `start..end`, the earliest slot inside the function
/// that a jump at or after it goes to: `pc` is inside a loop when that is
/// at or before `pc` (some jump at or after it goes back).
fn earliest_targets<C: Compares>(code: &C, start: usize, end: usize) -> Vec<usize> {
    let mut earliest = vec![usize::MAX; end.saturating_sub(start)];
    let mut least = usize::MAX;
    for pc in (start..end).rev() {
        for which in 0..2 {
            if let Some(t) = code.successor(pc, which) {
                least = least.min(t);
            }
        }
        earliest[pc - start] = least;
    }
    earliest
}

/// Whether the code a switch is found for runs jump tables: the x86-64
/// writer writes none (no indirect jumps), so a tree a table would replace
/// becomes a search there when that is shorter than the tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(all(unix, target_arch = "x86_64")), allow(dead_code))]
pub(crate) enum Tables {
    Taken,
    NotTaken,
}

/// Finds every switch in `insns[start..end]` whose blocks start at
/// `leaders`, keyed by its root's pc.
pub(crate) fn find(
    insns: &[Insn],
    start: usize,
    end: usize,
    leaders: &Leaders,
    tables: Tables,
) -> Found {
    // Most filters have too few compares for any tree.
    let function_insns = insns.get(start..end).unwrap_or_default();
    let compares = function_insns.iter().filter(|i| compare(i).is_some());
    let compares = compares.take(DECODE_FROM).count();
    if compares < MIN_COMPARES {
        return Found::default();
    }
    let bounds = (start, end);
    let function = Function {
        insns,
        bounds,
        leaders,
        tables,
    };
    if compares >= DECODE_FROM && end < NO_SUCCESSOR as usize {
        find_in(&Decoded::new(&function), &function)
    } else {
        find_in(&function, &function)
    }
}

/// [`find`] reading `function` through `code` (itself, or decoded).
fn find_in<C: Compares>(code: &C, function: &Function) -> Found {
    let (start, end) = function.bounds;
    let mut found = find_trees(code, start, end);
    let mut earliest = None;
    for (&root, switch) in found.iter_mut() {
        if let Switch::Table(table) = switch {
            let earliest = earliest.get_or_insert_with(|| earliest_targets(code, start, end));
            if earliest[root - start] <= root {
                let (insns, leaders) = (function.insns, function.leaders);
                if let Some(lookup) = lookup(insns, function.bounds, leaders, table) {
                    *switch = Switch::Lookup(lookup);
                }
            }
        }
    }
    found
}

/// Which slots of `start..end` are the nodes of the tree being recovered,
/// and the index of each compare node: arrays over the function, reused
/// from tree to tree (a slot is the current tree's when its stamp is the
/// tree's number), where hash maps per tree were most of recovery's time.
struct Marks {
    start: usize,
    stamp: Vec<u32>,
    /// Index among the tree's compare nodes ([`Tree::steps`]).
    step: Vec<u32>,
    /// Compares on the longest walk from the node ([`Tree::longest_walk`]).
    longest: Vec<u32>,
    tree: u32,
}

impl Marks {
    fn new(start: usize, end: usize) -> Marks {
        let n = end.saturating_sub(start);
        Marks {
            start,
            stamp: vec![0; n],
            step: vec![0; n],
            longest: vec![0; n],
            tree: 0,
        }
    }

    /// Starts the next tree: no slot is a node of it yet.
    fn next_tree(&mut self) {
        self.tree += 1;
    }

    fn slot(&self, pc: usize) -> Option<usize> {
        pc.checked_sub(self.start).filter(|&i| i < self.stamp.len())
    }

    /// Makes `pc` a node; false when it already was one (or lies outside).
    fn mark(&mut self, pc: usize) -> bool {
        match self.slot(pc) {
            Some(i) if self.stamp[i] != self.tree => {
                self.stamp[i] = self.tree;
                true
            }
            _ => false,
        }
    }

    fn is_node(&self, pc: usize) -> bool {
        self.slot(pc).is_some_and(|i| self.stamp[i] == self.tree)
    }
}

/// Every tree's [`Switch::Table`] or [`Switch::Search`] in `start..end`
/// of `code`, keyed by its root's pc.
pub(crate) fn find_trees<C: Compares>(code: &C, start: usize, end: usize) -> Found {
    let mut found = Found::default();
    let mut marks = Marks::new(start, end);
    // A compare inside a tree already tried roots no tree of its own
    // (outermost trees only; this keeps long chains, like a host list's,
    // linear to explore).
    let mut covered = vec![false; end.saturating_sub(start)];
    for pc in start..end {
        if covered[pc - start] {
            continue;
        }
        let Some((tree, switch)) = recover(code, pc, &mut marks) else {
            continue;
        };
        for &n in &tree.nodes {
            if let Some(c) = n.checked_sub(start).and_then(|i| covered.get_mut(i)) {
                *c = true;
            }
        }
        if let Some(s) = switch {
            found.insert(pc, s);
        }
    }
    found
}

/// A compare node of a tree, for walking it.
#[derive(Clone, Copy)]
struct Step {
    pc: usize,
    cmp: u8,
    k: i64,
    /// Not taken, taken: another compare node or a leaf; `None` where the
    /// side leaves the function.
    next: [Option<Next>; 2],
}

#[derive(Clone, Copy)]
enum Next {
    Node(usize),
    Leaf(usize),
}

/// A tree's compare nodes, the root's first.
struct Steps {
    steps: Vec<Step>,
}

impl Steps {
    /// For a tree of `jeq` compares only (a host or port list), its
    /// intervals over `least..=greatest` (as [`dispatch`] makes them from
    /// [`Tree::leaf`]: the first value of each, neighbours with different
    /// leaves), from one walk down the not-equal sides: a value equal to
    /// no constant met there reaches that walk's end, and one equal to a
    /// constant first met at some node goes on from its equal side,
    /// decided by the value. Linear for a chain, where walking each value
    /// from the root is quadratic. `None` for other trees, or a walk that
    /// goes round; `Some(None)` when some value's walk leaves the function.
    fn equality_intervals(&self, least: i64, greatest: i64) -> Option<Option<Vec<(i64, usize)>>> {
        if self.steps.iter().any(|s| s.cmp != op::JEQ) {
            return None;
        }
        // Each constant met going down the not-equal sides, in order, with
        // the leaf its value reaches from there.
        let mut equal: Vec<(i64, Option<usize>)> = Vec::with_capacity(self.steps.len());
        let mut at = 0;
        let mut unequal = None;
        for _ in 0..=MAX_NODES {
            let step = &self.steps[at];
            equal.push((step.k, self.walk_from(step.next[1], step.k)?));
            match step.next[0] {
                None => unequal = Some(None),
                Some(Next::Leaf(pc)) => unequal = Some(Some(pc)),
                Some(Next::Node(n)) => {
                    at = n;
                    continue;
                }
            }
            break;
        }
        let unequal = unequal?;
        // The first meeting of a constant decides (stable sort).
        equal.sort_by_key(|&(k, _)| k);
        equal.dedup_by_key(|&mut (k, _)| k);
        let mut intervals: Vec<(i64, usize)> = Vec::with_capacity(2 * equal.len() + 1);
        let mut push = |first: i64, leaf: Option<usize>| -> Option<()> {
            let leaf = leaf?;
            if intervals.last().map(|&(_, l)| l) != Some(leaf) {
                intervals.push((first, leaf));
            }
            Some(())
        };
        // The least value not yet in an interval (`None`: past the top).
        let mut next = Some(least);
        for &(k, leaf) in equal.iter().filter(|(k, _)| (least..=greatest).contains(k)) {
            let Some(from) = next else { break };
            if from < k && push(from, unequal).is_none() {
                return Some(None);
            }
            if push(k, leaf).is_none() {
                return Some(None);
            }
            next = k.checked_add(1);
        }
        if let Some(from) = next.filter(|&from| from <= greatest) {
            if push(from, unequal).is_none() {
                return Some(None);
            }
        }
        Some(Some(intervals))
    }

    /// The leaf `value` reaches going on from `next`: `Some(None)` when it
    /// leaves the function, `None` when the walk goes round.
    fn walk_from(&self, mut next: Option<Next>, value: i64) -> Option<Option<usize>> {
        for _ in 0..=MAX_NODES {
            match next {
                None => return Some(None),
                Some(Next::Leaf(pc)) => return Some(Some(pc)),
                Some(Next::Node(n)) => {
                    let step = &self.steps[n];
                    let taken = semantics::jmp_cond(step.cmp, value as u64, step.k as u64, false);
                    next = step.next[usize::from(taken)];
                }
            }
        }
        None
    }
}

/// What the tree rooted at `root` does with `reg`.
struct Tree {
    reg: u8,
    root: usize,
    /// Ascending.
    nodes: Vec<usize>,
}

impl Tree {
    /// Follows `ja` blocks from `pc`: where control really goes.
    fn through_ja<C: Compares>(code: &C, marks: &Marks, mut pc: usize) -> usize {
        // The cheap test first: most sides are not `ja`.
        let is_ja_node = |pc: usize| code.is_ja(pc) && marks.is_node(pc);
        let mut hops = 0;
        while is_ja_node(pc) && hops < MAX_NODES {
            match code.successor(pc, 0) {
                Some(t) => pc = t,
                None => break,
            }
            hops += 1;
        }
        pc
    }

    /// The tree as steps for [`Tree::leaf`], the root's first: each
    /// compare node's constant, comparison and where each side goes
    /// (through `ja` nodes), found once per tree rather than once per
    /// interval walked.
    fn steps<C: Compares>(&self, code: &C, marks: &mut Marks) -> Steps {
        let mut steps: Vec<Step> = Vec::with_capacity(self.nodes.len());
        let compares = std::iter::once(self.root)
            .chain(self.nodes.iter().copied().filter(|&pc| pc != self.root));
        for pc in compares {
            if let Some((_, cmp, k)) = code.compare(pc) {
                if let Some(i) = marks.slot(pc) {
                    marks.step[i] = steps.len() as u32;
                }
                steps.push(Step {
                    pc,
                    cmp,
                    k,
                    next: [None, None],
                });
            }
        }
        for step in steps.iter_mut() {
            for which in 0..2 {
                step.next[which] = code.successor(step.pc, which).map(|side| {
                    let next = Tree::through_ja(code, marks, side);
                    match marks.slot(next) {
                        Some(i) if marks.is_node(next) && !code.is_ja(next) => {
                            Next::Node(marks.step[i] as usize)
                        }
                        _ => Next::Leaf(next),
                    }
                });
            }
        }
        Steps { steps }
    }

    /// The leaf `value` reaches from the root; `None` when the walk would
    /// run past the function's end.
    fn leaf(steps: &Steps, value: i64) -> Option<usize> {
        let mut at = 0;
        for _ in 0..=MAX_NODES {
            let step = &steps.steps[at];
            let taken = semantics::jmp_cond(step.cmp, value as u64, step.k as u64, false);
            match step.next[usize::from(taken)]? {
                Next::Leaf(pc) => return Some(pc),
                Next::Node(n) => at = n,
            }
        }
        Some(steps.steps[at].pc)
    }
}

/// The tree rooted at `root` (`None`: not a compare, or too big to
/// follow), and its switch if it makes one.
fn recover<C: Compares>(
    code: &C,
    root: usize,
    marks: &mut Marks,
) -> Option<(Tree, Option<Switch>)> {
    let (reg, _, _) = code.compare(root)?;
    // The nodes: blocks of one compare on `reg`, or of one `ja`.
    let is_node = |pc: usize| {
        code.starts_block(pc)
            && (code.is_ja(pc) || code.compare(pc).is_some_and(|(r, _, _)| r == reg))
    };
    marks.next_tree();
    marks.mark(root);
    let mut nodes = vec![root];
    let mut work = vec![root];
    while let Some(pc) = work.pop() {
        for n in [0, 1].into_iter().filter_map(|w| code.successor(pc, w)) {
            if n != root && is_node(n) && marks.mark(n) {
                nodes.push(n);
                if nodes.len() > MAX_NODES {
                    return None;
                }
                work.push(n);
            }
        }
    }
    nodes.sort_unstable();
    let tree = Tree { reg, root, nodes };
    let switch = dispatch(code, &tree, marks);
    Some((tree, switch))
}

/// What replaces `tree`: a jump table when its constants are dense
/// enough, else a search when that is shorter than the tree's longest
/// walk; `None` when neither pays (or a walk leaves the function).
fn dispatch<C: Compares>(code: &C, tree: &Tree, marks: &mut Marks) -> Option<Switch> {
    let steps = tree.steps(code, marks);
    if steps.steps.len() < MIN_COMPARES {
        return None;
    }
    let compares: Vec<i64> = steps.steps.iter().map(|s| s.k).collect();
    let (least, greatest) = code.domain();
    let intervals = match steps.equality_intervals(least, greatest) {
        Some(intervals) => intervals?,
        None => general_intervals(&steps, least, greatest)?,
    };
    if code.takes_tables() {
        if let Some(table) = table(tree.reg, &compares, &intervals, greatest) {
            return Some(Switch::Table(table));
        }
    }
    let longest = tree.longest_walk(code, marks);
    let depth = search_depth(&intervals);
    (depth < longest).then_some(Switch::Search(Search {
        reg: tree.reg,
        intervals,
    }))
}

/// The intervals of the register's domain `least..=greatest` by their
/// first value (signed order), each with the leaf of its values' walk,
/// neighbours with the same leaf merged: between consecutive constants
/// (and at the signed/unsigned wrap point 0) every compare has the same
/// outcome, so one walk per elementary interval. `None` when a walk
/// leaves the function.
fn general_intervals(steps: &Steps, least: i64, greatest: i64) -> Option<Vec<(i64, usize)>> {
    let mut starts: Vec<i64> = Vec::with_capacity(3 * steps.steps.len() + 1);
    starts.push(least);
    for k in steps
        .steps
        .iter()
        .flat_map(|s| [Some(0), Some(s.k), s.k.checked_add(1)])
    {
        if let Some(k) = k.filter(|k| (least..=greatest).contains(k)) {
            starts.push(k);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let mut intervals: Vec<(i64, usize)> = Vec::new();
    for first in starts {
        let leaf = Tree::leaf(steps, first)?;
        if intervals.last().map(|&(_, l)| l) != Some(leaf) {
            intervals.push((first, leaf));
        }
    }
    Some(intervals)
}

/// Compares a [`Search`] over `intervals` makes on its longest path (as
/// the lowering emits it: halving, and one equality test for a single
/// value between two intervals with the same leaf).
pub(crate) fn search_depth(intervals: &[(i64, usize)]) -> usize {
    match intervals.len() {
        0 | 1 => 0,
        3 if is_single_value(intervals) => 1,
        n => 1 + search_depth(&intervals[..n / 2]).max(search_depth(&intervals[n / 2..])),
    }
}

/// Whether three intervals are one value between two with the same leaf.
pub(crate) fn is_single_value(intervals: &[(i64, usize)]) -> bool {
    matches!(intervals, [(_, a), (v, _), (next, c)] if a == c && v.checked_add(1) == Some(*next))
}

impl Tree {
    /// Compares on the longest walk from the root to a leaf.
    fn longest_walk<C: Compares>(&self, code: &C, marks: &mut Marks) -> usize {
        // Jumps go forward, so nodes in decreasing pc order see every
        // successor first (a successor not yet seen counts 0).
        for &pc in self.nodes.iter().rev() {
            if let Some(i) = marks.slot(pc) {
                marks.longest[i] = 0;
            }
        }
        for &pc in self.nodes.iter().rev() {
            let here = u32::from(code.compare(pc).is_some());
            let below = [0, 1]
                .into_iter()
                .filter_map(|w| code.successor(pc, w))
                .filter(|&n| marks.is_node(n))
                .filter_map(|n| marks.slot(n).map(|i| marks.longest[i]))
                .max()
                .unwrap_or(0);
            if let Some(i) = marks.slot(pc) {
                marks.longest[i] = here + below;
            }
        }
        marks
            .slot(self.root)
            .map_or(0, |i| marks.longest[i] as usize)
    }
}

/// The jump table for `intervals` (up to `greatest`), when the constants
/// are dense enough and the values below and above them each reach one
/// leaf.
fn table(reg: u8, compares: &[i64], intervals: &[(i64, usize)], greatest: i64) -> Option<Table> {
    let lo = *compares.iter().min()?;
    let hi = *compares.iter().max()?;
    let span = hi.checked_sub(lo)?.checked_add(1)?;
    if span > MAX_TABLE || span > ENTRIES_PER_COMPARE * compares.len() as i64 {
        return None;
    }
    // One leaf each below and above the table.
    let mut below = None;
    let mut above = None;
    let mut table = vec![0usize; span as usize];
    for (i, &(first, leaf)) in intervals.iter().enumerate() {
        let last = intervals.get(i + 1).map_or(greatest, |&(n, _)| n - 1);
        if last < lo {
            if *below.get_or_insert(leaf) != leaf {
                return None;
            }
        } else if first > hi {
            if *above.get_or_insert(leaf) != leaf {
                return None;
            }
        } else {
            // Straddling intervals cover the table's edge values too.
            if first < lo && *below.get_or_insert(leaf) != leaf {
                return None;
            }
            if last > hi && *above.get_or_insert(leaf) != leaf {
                return None;
            }
            for v in first.max(lo)..=last.min(hi) {
                table[(v - lo) as usize] = leaf;
            }
        }
    }
    // At least three different leaves (fewer are as fast as compares).
    let mut distinct: Vec<usize> = Vec::with_capacity(3);
    for &leaf in &table {
        if !distinct.contains(&leaf) {
            distinct.push(leaf);
            if distinct.len() == 3 {
                break;
            }
        }
    }
    if distinct.len() < 3 {
        return None;
    }
    Some(Table {
        reg,
        lo,
        table,
        below: below?,
        above: above?,
    })
}

/// Compare trees shared by the tests of recovery and of the interpreter.
#[cfg(test)]
pub(crate) mod samples {
    /// `switch (r1) { case 0: 10; case 1: 11; case 2: 12; case 3: 13;
    /// default: 99 }`, as a balanced tree with a signed split.
    pub(crate) const TABLE: &str = "jsgt %r1, 1, +3\njeq %r1, 0, +5\njeq %r1, 1, +6\nja +11\n\
        jeq %r1, 2, +6\njeq %r1, 3, +7\nja +8\n\
        mov %r0, 10\nexit\nmov %r0, 11\nexit\nmov %r0, 12\nexit\nmov %r0, 13\nexit\n\
        mov %r0, 99\nexit";

    /// Sparse host addresses, one negative (an address above 128.0.0.0
    /// sign-extends).
    pub(crate) const HOSTS: [i64; 8] = [
        0x0a01_0001,
        0x0a01_0009,
        0x0808_0808,
        -0x3f57_fe00,
        0x0101_0101,
        0x7f00_0001,
        0x0a00_0005,
        0x2000_0000,
    ];

    /// A `host` list: a `jeq` on r0 for each of [`HOSTS`] to one leaf
    /// (r0 = 1), else r0 = 0.
    pub(crate) fn host_list() -> String {
        let mut src = String::new();
        for (i, k) in HOSTS.iter().enumerate() {
            src.push_str(&format!("jeq %r0, {k}, +{}\n", HOSTS.len() - i + 1));
        }
        src.push_str("mov %r0, 0\nexit\nmov %r0, 1\nexit");
        src
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::asm::assemble;

    fn leaders(insns: &[Insn]) -> Leaders {
        crate::ebpf::blocks::leaders(insns, 0, insns.len()).expect("jumps stay inside")
    }

    /// Every switch of a one-function program, for code taking tables.
    fn find_all(insns: &[Insn]) -> Found {
        find(insns, 0, insns.len(), &leaders(insns), Tables::Taken)
    }

    /// The same, for code taking no tables.
    fn find_all_searched(insns: &[Insn]) -> Found {
        find(insns, 0, insns.len(), &leaders(insns), Tables::NotTaken)
    }

    #[test]
    fn a_compare_tree_becomes_a_table_with_the_walks_leaves() {
        // switch (r1) { case 0: 10; case 1: 11; case 2: 12; case 3: 13;
        // default: 99 }, as a balanced tree with a signed split.
        let prog = assemble(samples::TABLE).expect("assembles");
        let found = find_all(&prog.insns);
        assert_eq!(
            found.get(&0),
            Some(&Switch::Table(Table {
                reg: 1,
                lo: 0,
                table: vec![7, 9, 11, 13],
                below: 15,
                above: 15,
            }))
        );
        // The inner compares root smaller trees, too short for a table.
        assert_eq!(found.len(), 1, "{found:?}");
    }

    /// The tree of the first test inside a loop, its cases picking r0:
    /// a constant, the value itself, a 32-bit `mov` (zero-extended) and a
    /// negative constant; then `last` at pc 17.
    fn looped_switch(case_1: &str, last: &str) -> Vec<Insn> {
        let src = format!(
            "jsgt %r1, 1, +3\njeq %r1, 0, +5\njeq %r1, 1, +6\nja +11\n\
             jeq %r1, 2, +6\njeq %r1, 3, +7\nja +8\n\
             mov %r0, 10\nja +7\n{case_1}\nja +5\nmov32 %r0, -1\nja +3\nmov %r0, -2\nja +1\n\
             mov %r0, 99\nadd %r2, %r0\n{last}\nexit"
        );
        assert_eq!(src.lines().count(), 19, "{src}");
        assert_eq!(src.lines().nth(16), Some("add %r2, %r0"), "{src}");
        assemble(&src).expect("assembles").insns
    }

    #[test]
    fn a_switch_in_a_loop_whose_cases_pick_values_becomes_a_lookup() {
        let insns = looped_switch("mov %r0, %r1", "ja -18");
        let found = find_all(&insns);
        let table = Table {
            reg: 1,
            lo: 0,
            table: vec![7, 9, 11, 13],
            below: 15,
            above: 15,
        };
        assert_eq!(
            found.get(&0),
            Some(&Switch::Lookup(Lookup {
                table,
                join: 16,
                values: vec![(0, vec![10, 1, 0xffff_ffff, -2i64 as u64])],
            }))
        );
    }

    #[test]
    fn switches_outside_loops_or_with_computing_cases_keep_their_tables() {
        // No loop: copying tables to the stack on every run would cost
        // more than the one jump it saves.
        let insns = looped_switch("mov %r0, %r1", "mov %r0, %r2");
        let found = find_all(&insns);
        assert!(matches!(found.get(&0), Some(Switch::Table(_))), "{found:?}");
        // A case that computes.
        let insns = looped_switch("add %r0, %r1", "ja -18");
        let found = find_all(&insns);
        assert!(matches!(found.get(&0), Some(Switch::Table(_))), "{found:?}");
    }

    #[test]
    fn decoded_functions_find_what_functions_read_in_place_find() {
        // Long enough to be decoded by `find`: 30 host lists of 8, each
        // setting r1 and going on to the next.
        let mut long = String::new();
        for _ in 0..30 {
            for (i, k) in samples::HOSTS.iter().enumerate() {
                long.push_str(&format!(
                    "jeq %r0, {k}, +{}\n",
                    samples::HOSTS.len() - i + 1
                ));
            }
            long.push_str("mov %r1, 0\nja +1\nmov %r1, 1\n");
        }
        long.push_str("exit");
        let sources = [samples::TABLE.to_string(), samples::host_list(), long];
        let mut programs: Vec<Vec<Insn>> = sources
            .iter()
            .map(|src| assemble(src).expect("assembles").insns)
            .collect();
        programs.push(looped_switch("mov %r0, %r1", "ja -18"));
        programs.push(looped_switch("add %r0, %r1", "ja -18"));
        // The host list is read in place by `find`, the long one decoded.
        let compares = |insns: &[Insn]| insns.iter().filter(|i| compare(i).is_some()).count();
        assert!(compares(&programs[1]) < DECODE_FROM && compares(&programs[2]) >= DECODE_FROM);
        for (n, insns) in programs.iter().enumerate() {
            let leaders = leaders(insns);
            for tables in [Tables::Taken, Tables::NotTaken] {
                let function = Function {
                    insns,
                    bounds: (0, insns.len()),
                    leaders: &leaders,
                    tables,
                };
                let in_place = find_in(&function, &function);
                // Searched, the 4-case switches (0, 3, 4) take as many
                // compares as their trees: only the host lists pay.
                let pays = tables == Tables::Taken || matches!(n, 1 | 2);
                assert_eq!(!in_place.is_empty(), pays, "program {n}, {tables:?}");
                assert_eq!(find_in(&Decoded::new(&function), &function), in_place);
                assert_eq!(find(insns, 0, insns.len(), &leaders, tables), in_place);
            }
        }
    }

    #[test]
    fn a_dense_chain_is_searched_where_tables_are_not_taken() {
        // `r1` in 10..=12 gives 1, in 13..=15 gives 2, in 16..=18 gives 3,
        // else 0 (ranges written as lists of cases): a table of 9 entries,
        // or a search of 5 intervals in 3 compares.
        let mut src = String::new();
        for i in 0..9 {
            let to = 10 + 2 * (i / 3) - i;
            src.push_str(&format!("jeq %r1, {}, +{to}\n", 10 + i));
        }
        src.push_str("mov %r0, 0\nexit\nmov %r0, 1\nexit\nmov %r0, 2\nexit\nmov %r0, 3\nexit");
        let insns = assemble(&src).expect("assembles").insns;
        let found = find_all(&insns);
        assert!(matches!(found.get(&0), Some(Switch::Table(_))), "{found:?}");
        let found = find_all_searched(&insns);
        assert_eq!(
            found.get(&0),
            Some(&Switch::Search(Search {
                reg: 1,
                intervals: vec![(i64::MIN, 9), (10, 11), (13, 13), (16, 15), (19, 9)],
            }))
        );
    }

    #[test]
    fn short_chains_and_other_registers_are_left_alone() {
        let src =
            "jeq %r1, 0, +2\njeq %r1, 1, +2\nmov %r0, 0\nexit\nmov %r0, 1\nexit\nmov %r0, 2\nexit";
        let prog = assemble(src).expect("assembles");
        assert!(find_all(&prog.insns).is_empty());
        let src =
            "jeq %r1, 0, +4\njeq %r2, 1, +4\njeq %r1, 2, +4\njeq %r2, 3, +4\nmov %r0, 0\nexit\n\
                   mov %r0, 1\nexit\nmov %r0, 2\nexit\nmov %r0, 3\nexit";
        let prog = assemble(src).expect("assembles");
        assert!(find_all(&prog.insns).is_empty());
    }

    #[test]
    fn a_long_sparse_chain_becomes_a_search() {
        // `host` list: eight jeq's on r0 to one leaf, sparse constants
        // (one negative, as an address above 128.0.0.0 sign-extends).
        let hosts = samples::HOSTS;
        let prog = assemble(&samples::host_list()).expect("assembles");
        let found = find_all(&prog.insns);
        let (miss, hit) = (hosts.len(), hosts.len() + 2);
        let mut sorted = hosts;
        sorted.sort();
        let mut intervals = vec![(i64::MIN, miss)];
        for k in sorted {
            intervals.extend([(k, hit), (k + 1, miss)]);
        }
        assert_eq!(
            found.get(&0),
            Some(&Switch::Search(Search {
                reg: 0,
                intervals: intervals.clone()
            }))
        );
        // 17 intervals: four halvings and one equality test at most,
        // against eight compares in a row.
        assert_eq!(search_depth(&intervals), 4);
        assert_eq!(found.len(), 1, "{found:?}");
    }

    /// Every tree of `src` that is `jeq` only: the one-walk intervals
    /// equal those of walking each elementary interval from the root, over
    /// eBPF's domain and over classic A's.
    fn equality_intervals_match_walks(src: &str) -> Vec<usize> {
        let prog = assemble(src).expect("assembles");
        let insns = &prog.insns;
        let leaders = leaders(insns);
        let function = Function {
            insns,
            bounds: (0, insns.len()),
            leaders: &leaders,
            tables: Tables::Taken,
        };
        let mut marks = Marks::new(0, insns.len());
        let mut checked = Vec::new();
        for root in 0..insns.len() {
            let Some((tree, _)) = recover(&function, root, &mut marks) else {
                continue;
            };
            let steps = tree.steps(&function, &mut marks);
            for (least, greatest) in [(i64::MIN, i64::MAX), (0, i64::from(u32::MAX))] {
                let Some(fast) = steps.equality_intervals(least, greatest) else {
                    continue;
                };
                let walked = general_intervals(&steps, least, greatest);
                assert_eq!(fast, walked, "root {root}, domain {least}..={greatest}");
                checked.push(root);
            }
        }
        checked
    }

    #[test]
    fn equality_trees_found_in_one_walk_match_walking_each_value() {
        // A chain with a repeated constant and a `ja` in it.
        let chain = "jeq %r0, 7, +8\njeq %r0, 9, +7\nja +0\njeq %r0, 7, +7\njeq %r0, 11, +4\n\
                     jeq %r0, 12, +3\njeq %r0, -5, +2\nmov %r0, 0\nexit\nmov %r0, 1\nexit\n\
                     mov %r0, 2\nexit";
        assert!(equality_intervals_match_walks(chain).contains(&0));
        // Equal sides going on to more compares of the same register.
        let nested = "jeq %r0, 1, +4\njeq %r0, 2, +5\njeq %r0, 3, +6\njeq %r0, 4, +7\nja +8\n\
                      jeq %r0, 1, +7\nja +6\njeq %r0, 5, +5\nja +4\njeq %r0, 3, +3\nja +2\n\
                      jeq %r0, 9, +1\nja +2\nmov %r0, 1\nexit\nmov %r0, 0\nexit";
        assert!(equality_intervals_match_walks(nested).contains(&0));
        // A tree with a range compare is walked value by value (the chain
        // below it is a tree of its own).
        let mixed = "jgt %r0, 100, +4\njeq %r0, 1, +3\njeq %r0, 2, +2\njeq %r0, 3, +1\n\
                     mov %r0, 0\nexit";
        let roots = equality_intervals_match_walks(mixed);
        assert!(roots.contains(&1) && !roots.contains(&0), "{roots:?}");
    }

    #[test]
    fn three_sparse_compares_stay_compares() {
        // Below the fewest compares worth replacing.
        let src = "jeq %r0, 5, +4\njeq %r0, 900, +3\njeq %r0, 70000, +2\nmov %r0, 0\nexit\n\
                   mov %r0, 1\nexit";
        let prog = assemble(src).expect("assembles");
        assert!(find_all(&prog.insns).is_empty());
    }
}
