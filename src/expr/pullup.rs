//! libpcap's branch pull-ups (`or_pullup` / `and_pullup`), part of the
//! optimiser's first phase.

use std::collections::{HashMap, HashSet};

use super::cfg::{Graph, Target, Test};
use super::optimize::{
    block_uses_defs, entry_values, liveness, number_block, predecessors, set_target, targets,
    Numbers, RegSet, A, NREGS,
};

/// libpcap's `or_pullup` / `and_pullup`: in a chain of tests sharing one
/// exit, a test of the value A held on entry to the chain is moved up
/// ahead of the first test of another value, so it reuses A. This changes
/// which loads a truncated packet reaches, and libpcap does it, so we do.
pub(super) fn pullups(g: &mut Graph) -> bool {
    let Some(Target::Block(root)) = g.root else {
        return false;
    };
    let order = g.order();
    let preds = predecessors(g, &order);
    let live_in = liveness(g, &order);
    // Values of A at each test (numbering without rewriting).
    let mut scratch = g.clone();
    let mut nums = Numbers::default();
    let mut exit_a: HashMap<usize, u32> = HashMap::new();
    let mut exit: HashMap<usize, [u32; NREGS]> = HashMap::new();
    for &b in &order {
        let mut vals = entry_values(b, root, &preds, &exit, &mut nums);
        number_block(&mut scratch.blocks[b], &mut vals, &mut nums);
        exit_a.insert(b, vals[A]);
        exit.insert(b, vals);
    }
    // Dominators, as bit sets over positions in `order`.
    let index: HashMap<usize, usize> = order.iter().enumerate().map(|(i, &b)| (b, i)).collect();
    let words = order.len().div_ceil(64);
    let mut dom: Vec<Vec<u64>> = vec![vec![u64::MAX; words]; order.len()];
    for (i, &b) in order.iter().enumerate() {
        let mut d = if b == root {
            vec![0; words]
        } else {
            let mut acc = vec![u64::MAX; words];
            for (p, _) in preds.get(&b).map(Vec::as_slice).unwrap_or(&[]) {
                for (a, w) in acc.iter_mut().zip(&dom[index[p]]) {
                    *a &= *w;
                }
            }
            acc
        };
        d[i / 64] |= 1 << (i % 64);
        dom[i] = d;
    }
    let dominates = |a: usize, n: usize| {
        let (ia, inn) = (index[&a], index[&n]);
        dom[inn][ia / 64] & (1 << (ia % 64)) != 0
    };
    // Heights (leaves 0), processed lowest first as libpcap's levels.
    let mut height: HashMap<usize, usize> = HashMap::new();
    for &b in order.iter().rev() {
        let h = targets(&g.blocks[b])
            .iter()
            .map(|&(_, t)| match t {
                Target::Block(c) => height[&c] + 1,
                _ => 1,
            })
            .max()
            .unwrap_or(1);
        height.insert(b, h);
    }
    let mut by_height = order.clone();
    by_height.sort_by_key(|b| (height[b], index[b]));
    // Several pullups per sweep, as libpcap, but never two touching the
    // same blocks (the analysis above describes the graph before either).
    let mut dirty = HashSet::new();
    let mut pulled = false;
    for &b in &by_height {
        for chain_on_true in [false, true] {
            pulled |= pull_one(
                g,
                b,
                chain_on_true,
                &preds,
                &exit_a,
                &live_in,
                &dominates,
                &mut dirty,
            );
        }
    }
    pulled
}

/// One pullup at `b`. `or` chains continue on the false edge and share the
/// true exit; `and` chains (`chain_on_true`) the other way round.
#[allow(clippy::too_many_arguments)]
fn pull_one(
    g: &mut Graph,
    b: usize,
    chain_on_true: bool,
    preds: &HashMap<usize, Vec<(usize, bool)>>,
    exit_a: &HashMap<usize, u32>,
    live_in: &HashMap<usize, RegSet>,
    dominates: &impl Fn(usize, usize) -> bool,
    dirty: &mut HashSet<usize>,
) -> bool {
    let Some(ps) = preds.get(&b) else {
        return false;
    };
    if dirty.contains(&b) || ps.iter().any(|(p, _)| dirty.contains(p)) {
        return false;
    }
    let mut visited = vec![b];
    let val = exit_a[&ps[0].0];
    if ps.iter().any(|(p, _)| exit_a[p] != val) {
        return false;
    }
    let is_jump = |n: usize| matches!(g.blocks[n].test, Test::Jump { .. });
    let shared = |n: usize| {
        let blk = &g.blocks[n];
        if chain_on_true {
            blk.jf
        } else {
            blk.jt
        }
    };
    let next = |n: usize| {
        let blk = &g.blocks[n];
        if chain_on_true {
            blk.jt
        } else {
            blk.jf
        }
    };
    let exit = shared(b);
    let fits = |n: usize| is_jump(n) && shared(n) == exit && dominates(b, n) && !dirty.contains(&n);
    // Walk the chain while it tests the entry value.
    let mut diff_parent: Option<usize> = None;
    let mut diff = b;
    loop {
        if !fits(diff) {
            return false;
        }
        if exit_a[&diff] != val {
            break;
        }
        diff_parent = Some(diff);
        match next(diff) {
            Target::Block(n) => diff = n,
            _ => return false,
        }
        visited.push(diff);
    }
    // Then look further down for a test of the entry value again.
    let mut same_parent = diff;
    let pull = loop {
        let Target::Block(s) = next(same_parent) else {
            return false;
        };
        if !fits(s) {
            return false;
        }
        visited.push(s);
        if exit_a[&s] == val {
            // Moving a block that another path also enters would change
            // that path too (merged blocks make this possible).
            if preds.get(&s).map_or(0, Vec::len) != 1 {
                return false;
            }
            break s;
        }
        same_parent = s;
    };
    let after_pull = next(pull);
    // Data dependencies (libpcap leaves an "XXX" here): the moved block must
    // compute its own operands, and what it defined must not be needed where
    // it used to be nor clobber anything the chain reads after it.
    let (uses, defs) = block_uses_defs(&g.blocks[pull].stmts);
    let live_at = |t: Target| match t {
        Target::Block(c) => live_in.get(&c).copied().unwrap_or(0),
        _ => 0,
    };
    if uses != 0 || defs & live_at(after_pull) != 0 || defs & live_in[&diff] & !1 != 0 {
        return false;
    }
    let set_next = |g: &mut Graph, n: usize, t: Target| {
        if chain_on_true {
            g.blocks[n].jt = t;
        } else {
            g.blocks[n].jf = t;
        }
    };
    dirty.extend(visited);
    dirty.extend(ps.iter().map(|&(p, _)| p));
    if let Target::Block(a) = after_pull {
        dirty.insert(a);
    }
    set_next(g, same_parent, after_pull);
    set_next(g, pull, Target::Block(diff));
    match diff_parent {
        Some(p) => set_next(g, p, Target::Block(pull)),
        None => {
            for &(p, side) in ps {
                set_target(&mut g.blocks[p], side, Target::Block(pull));
            }
            if g.root == Some(Target::Block(b)) {
                g.root = Some(Target::Block(pull));
            }
        }
    }
    true
}
