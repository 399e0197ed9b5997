//! The test outcomes known on each edge of the block graph, for the
//! optimiser's jump threading ([`super::optimize`]): which later tests they
//! decide.
//!
//! Facts are kept as chains sharing their common beginnings (a block with
//! one predecessor extends its predecessor's chain in O(1)), and a block
//! with several keeps the chain they have in common plus what every one of
//! them added since. A fact is the outcome of one edge: as libpcap's edge
//! dominators, a block knows what was learnt on the same edges on every
//! path to it (the same outcome learnt on two edges that each lie on some
//! paths only does not count; counting it proved programs empty that
//! libpcap compiles, and changed 70 of 3,000 random listings). Once a pass has built every chain it asks, edge by
//! edge, what a chain implies; an index over the chains answers in
//! O(log n) instead of a walk down the chain. On an `or` of n ports the
//! chains are O(n) long and a pass asks O(n) questions, and the walks were
//! most of the optimiser's time.

use super::dataflow::FxMap;
use crate::cbpf::insn::op;

/// A known test outcome: (value number of A, jump op, k, outcome), and the
/// edge it was learnt on (`2 * block + outcome`): a block with several
/// predecessors knows the facts learnt on the same edges on every path to
/// it, as libpcap's edge dominators; the same outcome learnt on two
/// different edges does not count.
pub(super) type Fact = (u32, u16, u32, bool, u32);

/// The empty chain.
pub(super) const NO_FACT: u32 = u32::MAX;

/// What decides a test: the same test (`jop` is the jump op), or, for any
/// `jeq`, an `A == k'` that held on the same value (any other `jeq` is
/// then false).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Test { value: u32, jop: u16, k: u32 },
    Equal { value: u32 },
}

/// The keys a fact decides tests for.
fn keys(fact: Fact) -> impl Iterator<Item = Key> {
    let (value, jop, k, outcome, _) = fact;
    let equal = (jop == op::JEQ && outcome).then_some(Key::Equal { value });
    std::iter::once(Key::Test { value, jop, k }).chain(equal)
}

#[derive(Clone, Copy)]
struct Node {
    fact: Fact,
    /// The previous, older node, or [`NO_FACT`].
    older: u32,
    /// Facts in the chain ending here.
    depth: u32,
}

/// A node holding the oldest fact of its key in its chain: the chains
/// through it are those of the nodes numbered `enter..=last` in a
/// depth-first walk.
#[derive(Clone, Copy)]
struct Oldest {
    enter: u32,
    last: u32,
    depth: u32,
    outcome: bool,
}

/// The chains of one pass.
#[derive(Default)]
pub(super) struct FactChains {
    nodes: Vec<Node>,
    /// Depth-first numbers of the nodes, once [`FactChains::index`] ran.
    enter: Vec<u32>,
    /// Per key, the nodes holding its oldest fact in their chains, by
    /// `enter` (no two of them on one chain, so their ranges are disjoint).
    oldest: FxMap<Key, Vec<Oldest>>,
    /// No chain is longer than [`SHORT_CHAIN`]: questions walk the chain
    /// and no index is built.
    short: bool,
    /// [`FactChains::meet`]'s working memory, kept between calls.
    added: Vec<Fact>,
    known: FxMap<Fact, ()>,
}

/// Up to this many facts a walk down a chain is cheaper than the index
/// (which was a tenth of the compile time of `tcp port 443`).
const SHORT_CHAIN: u32 = 32;

impl FactChains {
    /// Empty, keeping the memory of the last pass's chains.
    pub(super) fn clear(&mut self) {
        self.nodes.clear();
        self.enter.clear();
        self.oldest.clear();
        self.short = false;
    }

    fn push(&mut self, fact: Fact, older: u32) -> u32 {
        let depth = self.depth(older) + 1;
        self.nodes.push(Node { fact, older, depth });
        (self.nodes.len() - 1) as u32
    }

    fn depth(&self, at: u32) -> u32 {
        self.nodes.get(at as usize).map_or(0, |n| n.depth)
    }

    fn older(&self, at: u32) -> u32 {
        self.nodes[at as usize].older
    }

    /// The facts on edge `(p, side)`: those known on entry to `p`
    /// (`facts_in`), plus the outcome of p's test (`test_ops[p]`: jump op
    /// and operand, see `PassMemory::test_ops`) on A's value number
    /// `at_test_a[p]`.
    #[inline]
    pub(super) fn on_edge(
        &mut self,
        test_ops: &[(u16, u32)],
        at_test_a: &[u32],
        facts_in: &[u32],
        (p, side): (usize, bool),
    ) -> u32 {
        match test_ops[p] {
            (0, _) => facts_in[p],
            (jop, k) => {
                let edge = 2 * p as u32 + side as u32;
                self.push((at_test_a[p], jop, k, side, edge), facts_in[p])
            }
        }
    }

    /// The longest chain both `a` and `b` extend.
    fn common(&self, mut a: u32, mut b: u32) -> u32 {
        while self.depth(a) > self.depth(b) {
            a = self.older(a);
        }
        while self.depth(b) > self.depth(a) {
            b = self.older(b);
        }
        while a != b {
            a = self.older(a);
            b = self.older(b);
        }
        a
    }

    /// The facts of chain `at` newer than its part `base`, newest first.
    fn since(&self, mut at: u32, base: u32) -> impl Iterator<Item = Fact> + '_ {
        std::iter::from_fn(move || {
            if at == base {
                return None;
            }
            let node = self.nodes[at as usize];
            at = node.older;
            Some(node.fact)
        })
    }

    /// What every chain of `edges` knows: the chain they all extend, then
    /// the facts the first added since that every other one added too, in
    /// the first one's order. (A fact also in the common part is known
    /// already and may be left out: only a key's oldest fact decides.)
    pub(super) fn meet(&mut self, edges: &[u32]) -> u32 {
        let Some((&first, others)) = edges.split_first() else {
            return NO_FACT;
        };
        let base = others.iter().fold(first, |acc, &e| self.common(acc, e));
        let mut added = std::mem::take(&mut self.added);
        let mut known = std::mem::take(&mut self.known);
        added.clear();
        added.extend(self.since(first, base));
        for &e in others {
            if added.is_empty() {
                break;
            }
            known.clear();
            known.extend(self.since(e, base).map(|f| (f, ())));
            added.retain(|f| known.contains_key(f));
        }
        let met = added
            .iter()
            .rev()
            .fold(base, |at, &fact| self.push(fact, at));
        (self.added, self.known) = (added, known);
        met
    }

    /// Numbers the chains for [`FactChains::implied`]; chains pushed after
    /// this are not asked about.
    pub(super) fn index(&mut self) {
        self.short = self.nodes.iter().all(|node| node.depth <= SHORT_CHAIN);
        if self.short {
            return;
        }
        let n = self.nodes.len();
        // Children in node order (compressed rows).
        let mut start = vec![0u32; n + 1];
        for node in &self.nodes {
            if node.older != NO_FACT {
                start[node.older as usize + 1] += 1;
            }
        }
        for i in 0..n {
            start[i + 1] += start[i];
        }
        let mut fill = start.clone();
        let mut children = vec![0u32; start[n] as usize];
        for (i, node) in self.nodes.iter().enumerate() {
            if node.older != NO_FACT {
                children[fill[node.older as usize] as usize] = i as u32;
                fill[node.older as usize] += 1;
            }
        }
        self.enter = vec![0; n];
        self.oldest.clear();
        // Keys whose oldest fact is on the current path (the stack).
        let mut on_path: FxMap<Key, ()> = FxMap::default();
        let mut clock = 0u32;
        // (node, entering): a node is left after its subtree.
        let mut stack: Vec<(u32, bool)> = Vec::new();
        for root in 0..n as u32 {
            if self.nodes[root as usize].older != NO_FACT {
                continue;
            }
            stack.push((root, true));
            while let Some((at, entering)) = stack.pop() {
                let node = self.nodes[at as usize];
                if !entering {
                    // Close the ranges this node opened.
                    for key in keys(node.fact) {
                        let opened = self.oldest.get_mut(&key).and_then(|l| l.last_mut());
                        if let Some(last) = opened.filter(|o| o.enter == self.enter[at as usize]) {
                            last.last = clock - 1;
                            on_path.remove(&key);
                        }
                    }
                    continue;
                }
                self.enter[at as usize] = clock;
                for key in keys(node.fact) {
                    if on_path.insert(key, ()).is_none() {
                        self.oldest.entry(key).or_default().push(Oldest {
                            enter: clock,
                            last: u32::MAX,
                            depth: node.depth,
                            outcome: node.fact.3,
                        });
                    }
                }
                clock += 1;
                stack.push((at, false));
                let kids = &children[start[at as usize] as usize..start[at as usize + 1] as usize];
                stack.extend(kids.iter().rev().map(|&c| (c, true)));
            }
        }
    }

    /// The depth and outcome of `key`'s oldest fact on chain `at`, from
    /// the index.
    fn oldest_on(&self, at: u32, key: Key) -> Option<(u32, bool)> {
        let list = self.oldest.get(&key)?;
        let t = self.enter[at as usize];
        let i = list.partition_point(|o| o.enter <= t);
        let o = *list.get(i.checked_sub(1)?)?;
        (t <= o.last).then_some((o.depth, o.outcome))
    }

    /// The oldest facts on chain `at` deciding test `(value, jop, k)`:
    /// the same test's, and (for a `jeq`) the oldest `A == k'` that held,
    /// each as (depth, outcome). Short chains are walked once for both.
    fn deciders(&self, at: u32, value: u32, jop: u16, k: u32) -> [Option<(u32, bool)>; 2] {
        let is_jeq = jop == op::JEQ;
        if !self.short {
            let same = self.oldest_on(at, Key::Test { value, jop, k });
            let equal = is_jeq.then(|| self.oldest_on(at, Key::Equal { value }));
            return [same, equal.flatten()];
        }
        let [mut same, mut equal] = [None, None];
        let mut walk = at;
        // Newest first: the last match is the oldest. The two matches are
        // `keys`' two keys, compared field by field (going through `keys`
        // made compiling `tcp port 443` 2 % slower; the tests hold this
        // walk to a full walk).
        while let Some(node) = self.nodes.get(walk as usize) {
            let (v, fjop, fk, outcome, _) = node.fact;
            if v == value {
                if fjop == jop && fk == k {
                    same = Some((node.depth, outcome));
                }
                if is_jeq && fjop == op::JEQ && outcome {
                    equal = Some((node.depth, outcome));
                }
            }
            walk = node.older;
        }
        [same, equal]
    }

    /// The outcome of block test `(value, jop, k)` implied by chain `at`,
    /// if any: the oldest fact that decides it. Only what libpcap's
    /// fold_edge knows decides: the same test, or, for a `jeq`, an older
    /// `A == k'` that held. (Deciding more would drop loads libpcap keeps,
    /// and truncated packets would then be judged differently.)
    pub(super) fn implied(&self, at: u32, value: u32, jop: u16, k: u32) -> Option<bool> {
        if at == NO_FACT {
            return None;
        }
        let [same, equal] = self.deciders(at, value, jop, k);
        match (same, equal) {
            (Some((same_depth, _)), Some((equal_depth, _))) if equal_depth < same_depth => {
                Some(false)
            }
            (Some((_, outcome)), _) => Some(outcome),
            (None, Some(_)) => Some(false),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    /// The answer by walking the whole chain: the oldest fact deciding the
    /// test (the same test, or for a `jeq` an `A == k'` that held).
    fn walked(chains: &FactChains, at: u32, value: u32, jop: u16, k: u32) -> Option<bool> {
        let mut decided = None;
        let mut walk = at;
        while let Some(node) = chains.nodes.get(walk as usize) {
            let (v, fjop, fk, outcome, _) = node.fact;
            if v == value {
                if fjop == jop && fk == k {
                    decided = Some(outcome);
                } else if fjop == op::JEQ && outcome && jop == op::JEQ {
                    decided = Some(false);
                }
            }
            walk = node.older;
        }
        decided
    }

    /// The jump ops the tests draw from.
    const JOPS: [u16; 3] = [op::JEQ, op::JGT, op::JSET];

    /// A fact on one of `span` values, testing one of `span` constants.
    fn random_fact(rng: &mut Rng, span: u32) -> Fact {
        let jop = JOPS[rng.next_u32() as usize % 3];
        (
            rng.next_u32() % span,
            jop,
            rng.next_u32() % span,
            rng.next_u32().is_multiple_of(2),
            rng.next_u32() % 8,
        )
    }

    /// [`FactChains::implied`] answers as [`walked`] for every chain and
    /// every test of the `span` values and constants.
    fn assert_implied_as_walked(chains: &FactChains, span: u32) {
        for node in 0..chains.nodes.len() as u32 {
            for value in 0..span {
                for jop in JOPS {
                    for k in 0..span {
                        assert_eq!(
                            chains.implied(node, value, jop, k),
                            walked(chains, node, value, jop, k),
                            "chain {node}, test ({value}, {jop:#x}, {k})"
                        );
                    }
                }
            }
        }
    }

    /// Random trees of chains, long enough to be indexed: the index gives
    /// the walk's answer for every chain and every test.
    #[test]
    fn index_answers_as_the_walk() {
        let mut rng = Rng::new(0x000f_ac75);
        for _ in 0..40 {
            let mut chains = FactChains::default();
            let mut at = NO_FACT;
            for i in 0..300u32 {
                // A trunk longer than SHORT_CHAIN first; then mostly extend
                // the newest chain, sometimes branch off an older node or
                // start a new tree.
                let older = match rng.next_u32() % 10 {
                    _ if i <= SHORT_CHAIN => at,
                    0 => NO_FACT,
                    1 | 2 => rng.next_u32() % i,
                    _ => at,
                };
                let older = if older >= i { NO_FACT } else { older };
                at = chains.push(random_fact(&mut rng, 4), older);
            }
            chains.index();
            assert!(!chains.short, "the chains are long enough to be indexed");
            assert_implied_as_walked(&chains, 4);
        }
    }

    /// Chains too short to index: the one walk for both deciders gives
    /// the full walk's answer for every chain and every test.
    #[test]
    fn short_chains_answer_as_the_walk() {
        let mut rng = Rng::new(0x5_0c4a);
        for _ in 0..200 {
            let mut chains = FactChains::default();
            let mut at = NO_FACT;
            for i in 0..SHORT_CHAIN {
                let older = match rng.next_u32() % 6 {
                    0 => NO_FACT,
                    1 => rng.next_u32() % (i + 1),
                    _ => at,
                };
                let older = if older >= i { at } else { older };
                at = chains.push(random_fact(&mut rng, 3), older);
            }
            chains.index();
            assert!(chains.short, "no chain is longer than SHORT_CHAIN");
            assert_implied_as_walked(&chains, 3);
        }
    }

    /// A block with several predecessors keeps their common chain and the
    /// facts every one of them learnt on the same edge since.
    #[test]
    fn meet_keeps_what_every_edge_learnt() {
        let mut chains = FactChains::default();
        let base = chains.push((1, op::JEQ, 5, false, 0), NO_FACT);
        let shared = (2, op::JGT, 7, true, 3);
        let a = chains.push(shared, base);
        let a = chains.push((3, op::JEQ, 1, true, 4), a);
        let b = chains.push((3, op::JEQ, 1, true, 6), base);
        let b = chains.push(shared, b);
        let met = chains.meet(&[a, b]);
        let facts: Vec<Fact> = chains.since(met, NO_FACT).collect();
        // Learnt on edge 3 on both paths: kept. `A == 1` on value 3 was
        // learnt on different edges (4 and 6): not kept.
        assert_eq!(facts, vec![shared, (1, op::JEQ, 5, false, 0)]);
    }
}
