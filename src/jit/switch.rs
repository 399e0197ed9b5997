//! Switch recovery: a tree of conditional jumps that all compare one
//! register with constants (what clang makes of a C `switch`, since eBPF
//! has no indirect jump) becomes one bounds check and one jump table.
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
//! interval. The table spans the smallest to the largest constant; values
//! below and above it must each reach one leaf.

use std::collections::{BTreeSet, HashMap};

use crate::ebpf::insn::{op, Insn};
use crate::ebpf::semantics;

/// A recovered switch on `reg`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Switch {
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
fn successor(
    insns: &[Insn],
    pc: usize,
    which: usize,
    (start, end): (usize, usize),
) -> Option<usize> {
    insns[pc].successors(pc)[which].filter(|&t| t >= start && t < end)
}

/// Finds every switch in `insns[start..end]` whose blocks start at
/// `leaders`, keyed by its root's pc.
pub(crate) fn find(
    insns: &[Insn],
    start: usize,
    end: usize,
    leaders: &BTreeSet<usize>,
) -> HashMap<usize, Switch> {
    let mut found = HashMap::new();
    // A compare inside a tree already tried roots no tree of its own
    // (outermost trees only; this keeps long chains, like a host list's,
    // linear to explore).
    let mut covered = BTreeSet::new();
    for pc in start..end {
        if covered.contains(&pc) {
            continue;
        }
        let Some((tree, switch)) = recover(insns, start, end, leaders, pc) else {
            continue;
        };
        covered.extend(tree.nodes);
        if let Some(s) = switch {
            found.insert(pc, s);
        }
    }
    found
}

/// What the tree rooted at `root` does with `reg`.
struct Tree {
    reg: u8,
    nodes: BTreeSet<usize>,
}

impl Tree {
    /// Follows `ja` blocks from `pc`: where control really goes.
    fn through_ja(&self, insns: &[Insn], mut pc: usize, bounds: (usize, usize)) -> usize {
        let is_ja_node = |pc: usize| self.nodes.contains(&pc) && insns[pc].opc == op::JMP | op::JA;
        let mut hops = 0;
        while is_ja_node(pc) && hops < MAX_NODES {
            match successor(insns, pc, 0, bounds) {
                Some(t) => pc = t,
                None => break,
            }
            hops += 1;
        }
        pc
    }

    /// The leaf `value` reaches from `root`; `None` when the walk would run
    /// past the function's end.
    fn leaf(
        &self,
        insns: &[Insn],
        root: usize,
        value: i64,
        bounds: (usize, usize),
    ) -> Option<usize> {
        let mut pc = root;
        for _ in 0..=MAX_NODES {
            let insn = insns[pc];
            let Some((_, code, k)) = compare(&insn) else {
                return Some(pc);
            };
            let taken = semantics::jmp_cond(code, value as u64, k as u64, false);
            let next = successor(insns, pc, usize::from(taken), bounds)?;
            let next = self.through_ja(insns, next, bounds);
            if !self.nodes.contains(&next) || insns[next].opc == op::JMP | op::JA {
                return Some(next);
            }
            pc = next;
        }
        Some(pc)
    }
}

/// The tree rooted at `root` (`None`: not a compare, or too big to
/// follow), and its switch if it makes one.
fn recover(
    insns: &[Insn],
    start: usize,
    end: usize,
    leaders: &BTreeSet<usize>,
    root: usize,
) -> Option<(Tree, Option<Switch>)> {
    let (reg, _, _) = compare(&insns[root])?;
    let bounds = (start, end);
    // The nodes: leader blocks of one compare on `reg`, or of one `ja`.
    let is_node = |pc: usize| {
        leaders.contains(&pc)
            && (insns[pc].opc == op::JMP | op::JA
                || compare(&insns[pc]).is_some_and(|(r, _, _)| r == reg))
    };
    let mut nodes = BTreeSet::from([root]);
    let mut work = vec![root];
    while let Some(pc) = work.pop() {
        for n in [0, 1]
            .into_iter()
            .filter_map(|w| successor(insns, pc, w, bounds))
        {
            if n != root && is_node(n) && nodes.insert(n) {
                if nodes.len() > MAX_NODES {
                    return None;
                }
                work.push(n);
            }
        }
    }
    let tree = Tree { reg, nodes };
    let switch = table(insns, bounds, root, &tree);
    Some((tree, switch))
}

/// The jump table of `tree`, when it makes a dense enough one.
fn table(insns: &[Insn], bounds: (usize, usize), root: usize, tree: &Tree) -> Option<Switch> {
    let compares: Vec<i64> = tree
        .nodes
        .iter()
        .filter_map(|&pc| compare(&insns[pc]).map(|(_, _, k)| k))
        .collect();
    if compares.len() < MIN_COMPARES {
        return None;
    }
    // Elementary intervals, by their first value (signed order).
    let mut starts: BTreeSet<i64> = BTreeSet::from([i64::MIN, 0]);
    for &k in &compares {
        starts.insert(k);
        if let Some(k1) = k.checked_add(1) {
            starts.insert(k1);
        }
    }
    let lo = *compares.iter().min()?;
    let hi = *compares.iter().max()?;
    let span = hi.checked_sub(lo)?.checked_add(1)?;
    if span > MAX_TABLE || span > ENTRIES_PER_COMPARE * compares.len() as i64 {
        return None;
    }
    // The leaf of each interval, and one leaf each below and above.
    let mut below = None;
    let mut above = None;
    let mut table = vec![0usize; span as usize];
    let firsts: Vec<i64> = starts.into_iter().collect();
    for (i, &first) in firsts.iter().enumerate() {
        let last = firsts.get(i + 1).map_or(i64::MAX, |&n| n - 1);
        let leaf = tree.leaf(insns, root, first, bounds)?;
        if last < lo {
            if *below.get_or_insert(leaf) != leaf {
                return None;
            }
        } else if first > hi {
            if *above.get_or_insert(leaf) != leaf {
                return None;
            }
        } else {
            // Inside the table: every interval there lies within lo..=hi
            // (both are interval starts).
            for v in first.max(lo)..=last.min(hi) {
                table[(v - lo) as usize] = leaf;
            }
        }
    }
    let distinct: BTreeSet<usize> = table.iter().copied().collect();
    if distinct.len() < 3 {
        return None;
    }
    Some(Switch {
        reg: tree.reg,
        lo,
        table,
        below: below?,
        above: above?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::asm::assemble;

    fn leaders(insns: &[Insn]) -> BTreeSet<usize> {
        let mut l = BTreeSet::from([0]);
        for (pc, i) in insns.iter().enumerate() {
            if i.class() == op::JMP && !matches!(i.opc & 0xf0, op::CALL | op::EXIT) {
                l.insert((pc as i64 + 1 + i64::from(i.off)) as usize);
                l.insert(pc + 1);
            }
        }
        l
    }

    #[test]
    fn a_compare_tree_becomes_a_table_with_the_walks_leaves() {
        // switch (r1) { case 0: 10; case 1: 11; case 2: 12; case 3: 13;
        // default: 99 }, as a balanced tree with a signed split.
        let src = "jsgt %r1, 1, +3\njeq %r1, 0, +5\njeq %r1, 1, +6\nja +11\n\
                   jeq %r1, 2, +6\njeq %r1, 3, +7\nja +8\n\
                   mov %r0, 10\nexit\nmov %r0, 11\nexit\nmov %r0, 12\nexit\nmov %r0, 13\nexit\n\
                   mov %r0, 99\nexit";
        let prog = assemble(src).expect("assembles");
        let found = find(&prog.insns, 0, prog.len(), &leaders(&prog.insns));
        assert_eq!(
            found.get(&0),
            Some(&Switch {
                reg: 1,
                lo: 0,
                table: vec![7, 9, 11, 13],
                below: 15,
                above: 15,
            })
        );
        // The inner compares root smaller trees, too short for a table.
        assert_eq!(found.len(), 1, "{found:?}");
    }

    #[test]
    fn short_chains_and_other_registers_are_left_alone() {
        let src =
            "jeq %r1, 0, +2\njeq %r1, 1, +2\nmov %r0, 0\nexit\nmov %r0, 1\nexit\nmov %r0, 2\nexit";
        let prog = assemble(src).expect("assembles");
        assert!(find(&prog.insns, 0, prog.len(), &leaders(&prog.insns)).is_empty());
        let src =
            "jeq %r1, 0, +4\njeq %r2, 1, +4\njeq %r1, 2, +4\njeq %r2, 3, +4\nmov %r0, 0\nexit\n\
                   mov %r0, 1\nexit\nmov %r0, 2\nexit\nmov %r0, 3\nexit";
        let prog = assemble(src).expect("assembles");
        assert!(find(&prog.insns, 0, prog.len(), &leaders(&prog.insns)).is_empty());
    }
}
