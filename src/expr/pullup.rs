//! libpcap's branch pull-ups (`or_pullup` / `and_pullup`), part of the
//! optimiser's first phase.

use super::cfg::{Graph, Target, Test};
use super::dataflow::{block_uses_defs, set_target, targets, Preds, RegSet, Workspace};

/// Dominance over the reachable blocks of an acyclic graph: immediate
/// dominators in one pass over a topological order (Cooper, Harvey and
/// Kennedy's intersection), then each block's interval in a walk of the
/// dominator tree, so "a dominates n" is two comparisons.
#[derive(Default)]
struct Dominators {
    /// Entry and exit times in a depth-first walk of the dominator tree.
    enter: Vec<u32>,
    leave: Vec<u32>,
    // Working memory, kept from sweep to sweep: each block's place in the
    // order, immediate dominators, the tree's children as compressed rows
    // and the walk's stack.
    index: Vec<usize>,
    idom: Vec<usize>,
    start: Vec<usize>,
    fill: Vec<usize>,
    kids: Vec<usize>,
    stack: Vec<(usize, bool)>,
}

/// What a pull-up sweep keeps for the next one (a short expression's
/// sweep allocated fifteen vectors, a quarter of its compile's
/// allocations).
#[derive(Default)]
pub(super) struct PullupMemory {
    dominators: Dominators,
    height: Vec<usize>,
    by_height: Vec<usize>,
    dirty: Vec<bool>,
    barren: Vec<[Option<u32>; 2]>,
}

impl Dominators {
    /// Dominance over `order` (reachable blocks, topologically), in this
    /// value's memory.
    fn compute(&mut self, order: &[usize], preds: &Preds, blocks: usize) {
        const NONE: usize = usize::MAX;
        let Dominators {
            enter,
            leave,
            index,
            idom,
            start,
            fill,
            kids,
            stack,
        } = self;
        index.clear();
        index.resize(blocks, NONE);
        for (i, &b) in order.iter().enumerate() {
            index[b] = i;
        }
        idom.clear();
        idom.resize(blocks, NONE);
        if let Some(&root) = order.first() {
            idom[root] = root;
        }
        for &b in order.iter().skip(1) {
            let mut acc = NONE;
            for &(p, _) in &preds[b] {
                acc = if acc == NONE {
                    p
                } else {
                    let (mut x, mut y) = (acc, p);
                    while x != y {
                        while index[x] > index[y] {
                            x = idom[x];
                        }
                        while index[y] > index[x] {
                            y = idom[y];
                        }
                    }
                    x
                };
            }
            idom[b] = acc;
        }
        // Children in the dominator tree, as compressed rows (one vector,
        // not one per block).
        start.clear();
        start.resize(blocks + 1, 0);
        for &b in order.iter().skip(1) {
            start[idom[b] + 1] += 1;
        }
        for i in 0..blocks {
            start[i + 1] += start[i];
        }
        fill.clear();
        fill.extend_from_slice(start);
        kids.clear();
        kids.resize(start[blocks], 0);
        for &b in order.iter().skip(1) {
            kids[fill[idom[b]]] = b;
            fill[idom[b]] += 1;
        }
        let children = |b: usize| &kids[start[b]..start[b + 1]];
        enter.clear();
        enter.resize(blocks, 0);
        leave.clear();
        leave.resize(blocks, 0);
        let mut clock = 0u32;
        stack.clear();
        stack.extend(order.first().map(|&r| (r, false)));
        while let Some((b, done)) = stack.pop() {
            clock += 1;
            if done {
                leave[b] = clock;
                continue;
            }
            enter[b] = clock;
            stack.push((b, true));
            stack.extend(children(b).iter().map(|&c| (c, false)));
        }
    }

    /// Whether every path from the root to `n` passes through `a` (true
    /// for `a == n`).
    fn dominates(&self, a: usize, n: usize) -> bool {
        self.enter[a] <= self.enter[n] && self.leave[n] <= self.leave[a]
    }
}

/// What the pull-ups read of the graph, as [`pullups`] expects to find it
/// in the workspace: the order and predecessors, A's value number at each
/// test (numbering without rewriting) and the registers live on entry to
/// each block. A pass of the optimiser that changes nothing leaves exactly
/// this behind, and pull-ups run only after such a pass, so they do not
/// compute it again (it was a third of a sweep); a test computes it here
/// and compares.
#[cfg(test)]
pub(super) fn analyse(g: &Graph, ws: &mut Workspace) {
    use super::dataflow::{entry_values, liveness, number_copy, Numbering, A};
    let Some(Target::Block(root)) = g.root else {
        return;
    };
    ws.survey(g);
    let Workspace {
        numbering,
        walk,
        preds,
        scratch,
        a_values: exit_a,
        live_in,
    } = ws;
    let order = &walk.order;
    liveness(g, order, live_in);
    numbering.reset(g);
    exit_a.clear();
    exit_a.resize(g.blocks.len(), 0);
    for &b in order {
        let mut vals = entry_values(b, root, preds, numbering);
        let Numbering { nums, exit, .. } = &mut *numbering;
        number_copy(&g.blocks[b], scratch, &mut vals, nums);
        exit_a[b] = vals[A];
        exit[b] = vals;
    }
}

/// libpcap's `or_pullup` / `and_pullup`: in a chain of tests sharing one
/// exit, a test of the value A held on entry to the chain is moved up
/// ahead of the first test of another value, so it reuses A. This changes
/// which loads a truncated packet reaches, and libpcap does it, so we do.
/// `ws` holds the analysis of `g` a pass that changed nothing leaves (see
/// `analyse`).
pub(super) fn pullups(g: &mut Graph, ws: &Workspace, mem: &mut PullupMemory) -> bool {
    let Some(Target::Block(_)) = g.root else {
        return false;
    };
    let order = &ws.walk.order;
    let (exit_a, live_in, preds) = (&ws.a_values[..], &ws.live_in[..], &ws.preds);
    let PullupMemory {
        dominators: dom,
        height,
        by_height,
        dirty,
        barren,
    } = mem;
    dom.compute(order, preds, g.blocks.len());
    let dom = &*dom;
    let dominates = |a: usize, n: usize| dom.dominates(a, n);
    // Heights (leaves 0). libpcap takes its levels lowest first; we take
    // the highest first, so the first pullup of a chain is made at its top
    // and moves the whole chain's tests at once (see `pull_one`), where
    // lowest first moves a pair per sweep, bubble-sort fashion. The
    // programs come out the same (byte-identical on libpcap's test tables
    // and our expression list, 19,400 expressions over every link type);
    // an `or` of 300 ports takes 2 sweeps instead of 200 (5.5 s to 35 ms).
    // (The order's places, as the dominators numbered them.)
    let index = &dom.index;
    height.clear();
    height.resize(g.blocks.len(), 0);
    for &b in order.iter().rev() {
        height[b] = targets(&g.blocks[b])
            .map(|(_, t)| match t {
                Target::Block(c) => height[c] + 1,
                _ => 1,
            })
            .max()
            .unwrap_or(1);
    }
    by_height.clear();
    by_height.extend_from_slice(order);
    by_height.sort_by_key(|&b| (std::cmp::Reverse(height[b]), index[b]));
    // Several pullups per sweep, as libpcap, but never two touching the
    // same blocks (the analysis above describes the graph before either).
    dirty.clear();
    dirty.resize(g.blocks.len(), false);
    barren.clear();
    barren.resize(g.blocks.len(), [None; 2]);
    let mut pulled = false;
    for &b in by_height.iter() {
        for chain_on_true in [false, true] {
            pulled |= pull_one(
                g,
                b,
                chain_on_true,
                preds,
                exit_a,
                live_in,
                &dominates,
                dirty,
                barren,
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
    preds: &Preds,
    exit_a: &[u32],
    live_in: &[RegSet],
    dominates: &impl Fn(usize, usize) -> bool,
    dirty: &mut [bool],
    barren: &mut [[Option<u32>; 2]],
) -> bool {
    let ps = &preds[b];
    if ps.is_empty() || dirty[b] || ps.iter().any(|&(p, _)| dirty[p]) {
        return false;
    }
    let val = exit_a[ps[0].0];
    if ps.iter().any(|&(p, _)| exit_a[p] != val) {
        return false;
    }
    let direction = chain_on_true as usize;
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
    let fits = |n: usize| is_jump(n) && shared(n) == exit && dominates(b, n) && !dirty[n];
    // Nothing to move: remembered for the next block down when the search
    // went through it.
    let give_up = |barren: &mut [[Option<u32>; 2]]| {
        if let Target::Block(c) = next(b) {
            if is_jump(b) && fits(c) {
                barren[b][direction] = Some(val);
            }
        }
        false
    };
    // The block above in the chain, testing the value `b` is entered with
    // and entered with it too, found nothing to move on a walk through `b`:
    // `b`'s walk is the rest of that one (and stops where it stopped, or
    // earlier at a block a pullup since marked), so it finds nothing
    // either. Without this every block of a long chain walked the rest of
    // the chain in every sweep (quadratic).
    if let [(p, _)] = ps[..] {
        // (`val` is what `p` tests; `p` was searched for the same value, so
        // it is in the run of tests of that value.)
        if barren[p][direction] == Some(val) && next(p) == Target::Block(b) {
            return give_up(barren);
        }
    }
    // Walk the chain while it tests the entry value.
    let mut diff_parent: Option<usize> = None;
    let mut diff = b;
    loop {
        if !fits(diff) {
            return give_up(barren);
        }
        if exit_a[diff] != val {
            break;
        }
        diff_parent = Some(diff);
        match next(diff) {
            Target::Block(n) => diff = n,
            _ => return give_up(barren),
        }
    }
    // Then look further down for tests of the entry value again, and move
    // every one of them, in order, up ahead of `diff`. libpcap moves one
    // per pullup, so an `or` of n ports takes n sweeps over the whole
    // program (cubic overall); moving them together is what those pullups
    // add up to, one after the other: each later test is checked as the
    // pullup that would move it checks it, against the chain as it was
    // (moves only reorder the chain, so its liveness is unchanged), and
    // the first that could not move ends the batch as it would end the
    // sequence of single pullups.
    let live_at = |t: Target| match t {
        Target::Block(c) => live_in[c],
        _ => 0,
    };
    // The chain below `diff` up to the last moved test: (block, moved).
    let mut scanned: Vec<(usize, bool)> = Vec::new();
    let mut at = diff;
    while let Target::Block(s) = next(at) {
        if !fits(s) {
            break;
        }
        if exit_a[s] == val {
            // Moving a block that another path also enters would change
            // that path too (merged blocks make this possible). Data
            // dependencies (libpcap leaves an "XXX" here): the moved block
            // must compute its own operands, and what it defined must not
            // be needed where it used to be nor clobber anything the chain
            // reads after it.
            let (uses, defs) = block_uses_defs(&g.blocks[s].stmts);
            if preds[s].len() != 1
                || uses != 0
                || defs & live_at(next(s)) != 0
                || defs & live_in[diff] & !1 != 0
            {
                break;
            }
            scanned.push((s, true));
        } else {
            scanned.push((s, false));
        }
        at = s;
    }
    while scanned.last().is_some_and(|&(_, moved)| !moved) {
        scanned.pop();
    }
    let Some(&(last, _)) = scanned.last() else {
        return give_up(barren);
    };
    let tail = next(last);
    let set_next = |g: &mut Graph, n: usize, t: Target| {
        if chain_on_true {
            g.blocks[n].jt = t;
        } else {
            g.blocks[n].jf = t;
        }
    };
    // The chain walked from `b` to `diff` (the graph is as it was), the
    // blocks scanned below it and `b`'s predecessors.
    let mut walked = b;
    while walked != diff {
        dirty[walked] = true;
        match next(walked) {
            Target::Block(n) => walked = n,
            _ => break,
        }
    }
    dirty[diff] = true;
    for n in scanned
        .iter()
        .map(|&(n, _)| n)
        .chain(ps.iter().map(|&(p, _)| p))
    {
        dirty[n] = true;
    }
    if let Target::Block(a) = tail {
        dirty[a] = true;
    }
    // The kept blocks close up, then the moved ones go in ahead of `diff`.
    let (moved, stay): (Vec<_>, Vec<_>) = scanned.iter().partition(|&&(_, moved)| moved);
    let moved: Vec<usize> = moved.into_iter().map(|&(n, _)| n).collect();
    let kept: Vec<usize> = std::iter::once(diff)
        .chain(stay.into_iter().map(|&(n, _)| n))
        .collect();
    for pair in kept.windows(2) {
        set_next(g, pair[0], Target::Block(pair[1]));
    }
    set_next(g, kept[kept.len() - 1], tail);
    for pair in moved.windows(2) {
        set_next(g, pair[0], Target::Block(pair[1]));
    }
    set_next(g, moved[moved.len() - 1], Target::Block(diff));
    let first = Target::Block(moved[0]);
    match diff_parent {
        Some(p) => set_next(g, p, first),
        None => {
            for &(p, side) in ps {
                set_target(&mut g.blocks[p], side, first);
            }
            if g.root == Some(Target::Block(b)) {
                g.root = Some(first);
            }
        }
    }
    true
}
