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

use std::cell::RefCell;
use std::hash::{BuildHasher, BuildHasherDefault};

use super::cfg::{with_kept_memory, Graph, Target, Test};
use super::dataflow::{
    block_uses_defs, entry_values, liveness, number_block, set_target, targets, test_uses,
    uses_defs, FxHasher, FxMap, Numbering, RegSet, Workspace, A, X,
};
use super::facts::{FactChains, NO_FACT};
use super::pullup;
use crate::cbpf::insn::{op, Insn};

/// Runs optimisation passes until nothing changes.
///
/// Two phases, as libpcap: first branches move (threading, pullups) while
/// every block still loads what it tests; then statements are rewritten
/// (redundant loads, constants, dead stores) and identical blocks merged.
///
/// Refuses, with libpcap's words, a program whose folding meets a division
/// or remainder by zero or a shift by more than 31 bits.
pub fn optimize(g: &mut Graph) -> Result<(), &'static str> {
    thread_local! {
        static MEMORY: RefCell<PassMemory> = RefCell::default();
    }
    with_kept_memory(&MEMORY, g.blocks.len(), |mem| run(g, mem))
}

fn run(g: &mut Graph, mem: &mut PassMemory) -> Result<(), &'static str> {
    mem.start(g);
    // Whether the workspace's order and predecessors are the graph's.
    let mut surveyed = false;
    for _ in 0..50_000 {
        // A pass that changes nothing leaves the analysis the pull-ups read
        // (see `pullup::analyse`); pull-ups that move nothing leave it too.
        if pass(g, false, false, mem) == Change::None
            && !pullup::pullups(g, &mem.ws, &mut mem.pullup)
        {
            surveyed = true;
            break;
        }
    }
    for _ in 0..1000 {
        // After a pass that only rewrote statements as their values allow,
        // another would change nothing (see `Change::Statements`).
        let change = pass(g, true, surveyed, mem);
        if let Some(why) = mem.ws.numbering.nums.refused {
            return Err(why);
        }
        if change != Change::Shape {
            break;
        }
        surveyed = false;
    }
    skip_undecided_root(g);
    Ok(())
}

/// What a pass changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    None,
    /// Only changes after which libpcap's optimiser stops (its `done`
    /// stays set): redundant statements dropped, identities (`add #0`),
    /// `and #0`, a test on X of known value written on the constant. A
    /// store whose loads were dropped is left (libpcap found what is dead
    /// before its pass), so the statement phase ends here as libpcap's
    /// does.
    Statements,
    /// Anything else: jumps or tests changed, constants substituted or
    /// folded, peepholes, dead statements removed, blocks merged.
    Shape,
}

impl Change {
    fn of(changed: bool, reshaped: bool) -> Change {
        match (changed, reshaped) {
            (false, _) => Change::None,
            (true, false) => Change::Statements,
            (true, true) => Change::Shape,
        }
    }
}

/// What a pass keeps from one pass to the next: the shared workspace and
/// the buffers of liveness, jump threading and block merging.
#[derive(Default)]
struct PassMemory {
    ws: Workspace,
    /// The pull-up sweeps' arrays.
    pullup: pullup::PullupMemory,
    /// Dead statements of one block, last first.
    dead: Vec<bool>,
    /// Registers live into each block as the pass found the graph.
    live_before: Vec<RegSet>,
    /// Per block, whether libpcap would still hold a statement list for it
    /// (its dropped statements stay in the list as no-ops), which its
    /// optimiser empties once the block is found to change nothing.
    listed: Vec<bool>,
    chains: FactChains,
    facts_in: Vec<u32>,
    edges: Vec<u32>,
    edge_facts: Vec<[u32; 2]>,
    /// Per block, its test as the branch phase sees it, for the facts:
    /// (jump op, k) for a test on a constant, (jump op | X, X's value
    /// number) for a test on X, (0, 0) for none.
    test_ops: Vec<(u16, u32)>,
    /// Block merging's index: canonical blocks by content hash, the chain
    /// of blocks whose hashes collide, and where each merged block went.
    canon: FxMap<u64, usize>,
    same_hash: Vec<Option<usize>>,
    remap: Vec<Option<usize>>,
}

/// libpcap's statement peepholes: `st M[k]; ldx M[k]` is `st M[k]; tax`
/// (the store may then die) and `ld #k; tax` is `ldx #k; txa`. Whether
/// any applied.
fn statement_peepholes(stmts: &mut super::cfg::Stmts) -> bool {
    let mut changed = false;
    for i in 1..stmts.len() {
        let s = stmts[i - 1];
        if s.code == op::ST && stmts[i] == Insn::stmt(op::LDX | op::MEM, s.k) {
            stmts[i] = Insn::stmt(op::MISC | op::TAX, 0);
            changed = true;
        }
        if s.code == op::LD | op::IMM && stmts[i].code == op::MISC | op::TAX {
            stmts[i - 1] = Insn::stmt(op::LDX | op::IMM, s.k);
            stmts[i] = Insn::stmt(op::MISC | op::TXA, 0);
            changed = true;
        }
    }
    changed
}

impl PassMemory {
    /// Ready for optimising `g`.
    fn start(&mut self, g: &Graph) {
        self.listed.clear();
        self.listed
            .extend(g.blocks.iter().map(|b| !b.stmts.is_empty()));
    }
}

/// The first `ld #k; [ldxb 4*([n]&0xf);] add x; tax; ld [x + off]` in
/// `stmts` made `[ldxb 4*([n]&0xf);] ld [x + off + k]`; whether there
/// was one.
fn fold_transport_index(stmts: &mut super::cfg::Stmts) -> bool {
    let add_x = Insn::stmt(op::ALU | op::ADD | op::X, 0);
    let tax = Insn::stmt(op::MISC | op::TAX, 0);
    for i in 0..stmts.len() {
        if stmts[i].code != op::LD | op::IMM {
            continue;
        }
        let msh = stmts
            .get(i + 1)
            .is_some_and(|s| s.code == op::LDX | op::B | op::MSH);
        let at = i + 1 + msh as usize;
        let (Some(&add), Some(&t), Some(&load)) =
            (stmts.get(at), stmts.get(at + 1), stmts.get(at + 2))
        else {
            return false;
        };
        if add != add_x || t != tax || load.class() != op::LD || load.mode() != op::IND {
            continue;
        }
        let k = stmts[i].k;
        stmts[at + 2].k = load.k.wrapping_add(k);
        stmts.remove(at + 1);
        stmts.remove(at);
        stmts.remove(i);
        return true;
    }
    false
}

/// libpcap's `opt_root`: a root whose test goes the same way either way is
/// skipped, and so is every block after it that does the same; the first
/// root's statements go before the new root's. The skipped blocks' own
/// statements are dropped, as libpcap drops them (their loads do not run,
/// so a packet too short for them is not refused by them), and a return
/// reached this way runs no statements.
fn skip_undecided_root(g: &mut Graph) {
    let Some(Target::Block(r)) = g.root else {
        return;
    };
    let mut to = Target::Block(r);
    while let Target::Block(b) = to {
        let block = &g.blocks[b];
        if block.jt != block.jf {
            break;
        }
        to = block.jt;
    }
    if let Target::Block(n) = to {
        if n == r {
            return;
        }
        // The skipped chain is the only way into `n` (the graph has no
        // cycles), so its statements can grow. (libpcap would crash on a
        // root without statements here; `n` keeps its own.)
        let mut stmts = std::mem::take(&mut g.blocks[r].stmts);
        if !stmts.is_empty() {
            stmts.extend(g.blocks[n].stmts.iter().copied());
            g.blocks[n].stmts = stmts;
        }
    }
    g.root = Some(to);
}

/// One pass; `surveyed`: the workspace's order and predecessors are
/// already `g`'s.
fn pass(g: &mut Graph, rewrite: bool, surveyed: bool, mem: &mut PassMemory) -> Change {
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
        return Change::of(changed, true);
    };
    if changed || !surveyed {
        mem.ws.survey(g);
    }
    let PassMemory {
        ws,
        dead,
        live_before,
        listed,
        chains,
        facts_in,
        edges,
        edge_facts,
        test_ops,
        ..
    } = mem;
    let Workspace {
        numbering,
        walk,
        preds,
        a_values: at_test_a,
        live_in,
        ..
    } = ws;
    let order = &walk.order;
    // Whether a jump target has changed since `order` was made (then
    // block merging orders the graph again).
    let mut moved = false;
    // Whether anything but value-preserving statement rewrites happened
    // (see [`Change`]): the root moved above, or one of the steps below.
    let mut reshaped = changed;

    // What is live as the pass finds the graph: libpcap decides which
    // statements are dead from uses found before its pass (`find_ud`), so
    // a store whose loads the pass finds redundant stays until a later
    // pass, and there is none if nothing else made libpcap go round again
    // (the radio header's length, stored and then always in X, stays
    // stored). The branch phase changes no statement before the dead ones
    // are found, so there it is found on the way (below).
    if rewrite && surveyed {
        // The branch phase's last pass changed nothing, and found this
        // on its way.
    } else if rewrite {
        liveness(g, order, live_before);
    } else {
        live_before.clear();
        live_before.resize(g.blocks.len(), 0);
    }

    // Whether libpcap's empty-block rule cleared a block.
    let mut cleared = false;

    // ---- value numbering ----
    numbering.reset(g);
    at_test_a.clear();
    at_test_a.resize(g.blocks.len(), 0);
    for &b in order {
        let mut vals = entry_values(b, root, preds, numbering);
        let Numbering { nums, exit, .. } = &mut *numbering;
        if rewrite {
            let entry = vals;
            let blk = &mut g.blocks[b];
            let exits = (blk.jt, blk.jf);
            changed |= number_block::<true>(blk, &mut vals, nums);
            moved |= (blk.jt, blk.jf) != exits;
            // libpcap's opt_blk: a block (not the root) after which no
            // register is read, leaving A and X as known values it found
            // them, loses all its statements, and that makes libpcap go
            // round again (done once: the list is then gone).
            let kept = |r: usize| vals[r] == entry[r] && !nums.is_unknown(entry[r]);
            let read_after =
                || targets(blk).any(|(_, t)| matches!(t, Target::Block(c) if live_before[c] != 0));
            if listed[b] && b != root && kept(A) && kept(X) && !read_after() {
                blk.stmts.clear();
                listed[b] = false;
                changed = true;
                cleared = true;
            }
        } else {
            // Values only; just a test on a constant is resolved.
            let blk = &mut g.blocks[b];
            let exits = (blk.jt, blk.jf);
            number_block::<false>(blk, &mut vals, nums);
            changed |= (blk.jt, blk.jf) != exits;
        }
        at_test_a[b] = vals[A];
        exit[b] = vals;
    }
    if numbering.nums.refused.is_some() {
        // The program is refused (see `optimize`).
        return Change::Shape;
    }
    reshaped |= numbering.nums.again;

    // ---- libpcap's statement peepholes, then liveness and dead statements
    // (both phases, as its opt_peep and opt_deadstores) ----
    live_in.clear();
    live_in.resize(g.blocks.len(), 0);
    let live_of = |t: Target, live_in: &[RegSet]| match t {
        Target::Block(c) => live_in[c],
        _ => 0,
    };
    for &b in order.iter().rev() {
        let block = &g.blocks[b];
        let out_then =
            targets(block).fold(0, |acc, (_, t)| acc | live_of(t, live_before)) | test_uses(block);
        // (A peephole needs two statements.)
        let peepholes = block.stmts.len() >= 2;
        if !rewrite && peepholes {
            // The block as the pass found it (nothing has changed it yet).
            let (uses, defs) = block_uses_defs(&block.stmts);
            live_before[b] = uses | (out_then & !defs);
        }
        if peepholes && statement_peepholes(&mut g.blocks[b].stmts) {
            changed = true;
            reshaped = true;
        }
        let block = &g.blocks[b];
        let mut live =
            targets(block).fold(0, |acc, (_, t)| acc | live_of(t, live_in)) | test_uses(block);
        let mut live_then = out_then;
        dead.clear();
        for s in block.stmts.iter().rev() {
            let (uses, defs) = uses_defs(s);
            let is_dead = defs & live_then == 0;
            dead.push(is_dead);
            live_then = (live_then & !defs) | uses;
            if !is_dead {
                live = (live & !defs) | uses;
            }
        }
        if !rewrite && !peepholes {
            // The walk went over the block as the pass found it.
            live_before[b] = live_then;
        }
        if dead.contains(&true) {
            // `dead` runs backwards over the statements.
            let mut i = dead.len();
            g.blocks[b].stmts.retain(|_| {
                i -= 1;
                !dead[i]
            });
            changed = true;
            reshaped = true;
        }
        live_in[b] = live;
    }

    // ---- libpcap's jump peepholes (both phases), block by block: the
    // jump (A not needed after the block), then `jset` on an empty or
    // full mask ----
    for &b in order {
        'jump: {
            let block = &g.blocks[b];
            let a_live_after = targets(block).any(|(_, t)| live_of(t, live_in) & (1 << A) != 0);
            // libpcap's "ugly special case" for `tcp[k]` (its statement
            // phase only: until then stores sit between the statements):
            // `ld #k; [ldxb 4*([n]&0xf);] add x; tax; ld [x + off]` is
            // `[ldxb 4*([n]&0xf);] ld [x + off + k]` when X is not needed
            // after the block (it then holds the header length, not the
            // sum).
            if rewrite {
                let x_live_after = targets(block).any(|(_, t)| live_of(t, live_in) & (1 << X) != 0);
                if !x_live_after && fold_transport_index(&mut g.blocks[b].stmts) {
                    changed = true;
                    reshaped = true;
                }
            }
            let block = &g.blocks[b];
            let (Some(last), Test::Jump { code, k }) = (block.stmts.last().copied(), block.test)
            else {
                break 'jump;
            };
            if a_live_after || code != op::JMP | op::JEQ | op::K {
                break 'jump;
            }
            let x = numbering.exit[b][X];
            let block = &mut g.blocks[b];
            if last.code == op::ALU | op::SUB | op::X {
                // sub x; jeq #j  ->  jeq #(j + x) for a known X, and
                // sub x; jeq #0  ->  jeq x otherwise
                let test = match numbering.nums.constant(x) {
                    Some(c) => Test::Jump {
                        code,
                        k: k.wrapping_add(c),
                    },
                    None if k == 0 => Test::Jump {
                        code: op::JMP | op::JEQ | op::X,
                        k: 0,
                    },
                    None => break 'jump,
                };
                block.stmts.pop();
                block.test = test;
                changed = true;
                reshaped = true;
            } else if last.code == op::ALU | op::SUB | op::K {
                // sub #k; jeq #j  ->  jeq #(j + k)
                block.stmts.pop();
                block.test = Test::Jump {
                    code,
                    k: k.wrapping_add(last.k),
                };
                changed = true;
                reshaped = true;
            } else if last.code == op::ALU | op::AND | op::K && k == 0 {
                // and #k; jeq #0  ->  jset #k with the exits swapped
                block.stmts.pop();
                block.test = Test::Jump {
                    code: op::JMP | op::JSET | op::K,
                    k: last.k,
                };
                std::mem::swap(&mut block.jt, &mut block.jf);
                changed = true;
                moved = true;
            }
        }
        // "jset #0 -> never, jset #0xffffffff -> always", the second wrong
        // when A is 0 (`ip[0] & 0xffffffff == 0` never matches in
        // libpcap's program). In the branch phase the block is then
        // skipped like any test whose exits agree (`net 0/0`'s `and #0;
        // jeq #0`); in the statement phase, which threads no jumps, the
        // test stays, going one way, unless it is the root
        // ([`skip_undecided_root`]). Kept, to produce libpcap's programs.
        let block = &mut g.blocks[b];
        if let Test::Jump { code, k } = block.test {
            if code == op::JMP | op::JSET | op::K
                && block.jt != block.jf
                && (k == 0 || k == u32::MAX)
            {
                if k == 0 {
                    block.jt = block.jf;
                } else {
                    block.jf = block.jt;
                }
                moved = true;
                changed = true;
            }
        }
    }

    // ---- known outcomes and jump threading ----
    // (The statement phase merges identical blocks instead.)
    if rewrite {
        // Merging is libpcap's last step, not one of its passes: blocks
        // merged here do not make the phase go round again.
        let merged = intern(g, mem, moved);
        reshaped |= moved;
        if cleared && !reshaped {
            // libpcap goes round again after clearing a block. That pass
            // could only find dead what the cleared statements' uses kept
            // alive (the values it numbers are this pass's), so unless
            // some register is no longer live where it was, it would
            // change nothing: spare it.
            let PassMemory {
                ws, live_before, ..
            } = mem;
            liveness(g, &ws.walk.order, &mut ws.live_in);
            reshaped = ws
                .walk
                .order
                .iter()
                .any(|&b| live_before[b] & !ws.live_in[b] != 0);
        }
        return Change::of(changed || merged, reshaped);
    }
    // The tests as the peepholes above left them (a `jeq #0` may have
    // become a `jset`, its exits swapped). A test on X of known value is
    // a test on that constant (libpcap's opt_peep rewrites it in either
    // phase), and one on X of unknown value a fact about that value, as
    // libpcap's fold_edge compares X operands.
    test_ops.clear();
    test_ops.resize(g.blocks.len(), (0, 0));
    for &b in order {
        test_ops[b] = match g.blocks[b].test {
            Test::Jump { code, .. } if code & op::X != 0 => {
                let x = numbering.exit[b][X];
                match numbering.nums.constant(x) {
                    Some(c) => (code & 0xf0, c),
                    None => (code & 0xf8, x),
                }
            }
            Test::Jump { code, k } => (code & 0xf0, k),
            Test::Always => (0, 0),
        };
    }
    chains.clear();
    facts_in.clear();
    facts_in.resize(g.blocks.len(), NO_FACT);
    for &b in order {
        edges.clear();
        for &edge in &preds[b] {
            edges.push(chains.on_edge(test_ops, at_test_a, facts_in, edge));
        }
        facts_in[b] = chains.meet(edges);
    }
    // Every chain is built before any is asked about (threading changes
    // targets, not tests, so the chains on edges stay as they are).
    edge_facts.clear();
    edge_facts.resize(g.blocks.len(), [NO_FACT; 2]);
    for &p in order {
        for side in [false, true] {
            edge_facts[p][side as usize] = chains.on_edge(test_ops, at_test_a, facts_in, (p, side));
        }
    }
    chains.index();
    // Bottom up, as libpcap's opt_j goes level by level from the leaves: a
    // block whose exits a threading makes equal is then skipped by the
    // edges above it in the same pass. (Top down, a deny-list of n hosts
    // took 2n passes, one block collapsing per pass.)
    for &p in order.iter().rev() {
        for (side, t) in targets(&g.blocks[p]) {
            let facts = edge_facts[p][side as usize];
            let mut target = t;
            let mut skipped_defs: RegSet = 0;
            for _ in 0..16 {
                let Target::Block(c) = target else { break };
                let cb = &g.blocks[c];
                let next = match cb.test {
                    Test::Always => cb.jt,
                    // Both ways lead to the same place: the test is moot.
                    Test::Jump { .. } if cb.jt == cb.jf => cb.jt,
                    Test::Jump { .. } => {
                        let (jop, k) = test_ops[c];
                        match chains.implied(facts, at_test_a[c], jop, k) {
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
                if defs & live_of(next, live_in) != 0 {
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
    // (The branch phase rewrites no statement: every change is a jump's.)
    Change::of(changed, true)
}

/// Merges identical blocks (same statements, test and successors).
/// Blocks are compared in place, found through a hash of their contents,
/// so nothing is copied. `moved`: a jump target changed since the
/// workspace's order was made.
fn intern(g: &mut Graph, mem: &mut PassMemory, moved: bool) -> bool {
    if moved {
        g.order_into(&mut mem.ws.walk);
    }
    let order = &mem.ws.walk.order;
    // Canonical blocks by content hash; blocks whose hashes collide are
    // chained through `same_hash` and compared in full.
    let PassMemory {
        canon,
        same_hash,
        remap,
        ..
    } = mem;
    canon.clear();
    same_hash.clear();
    same_hash.resize(g.blocks.len(), None);
    remap.clear();
    remap.resize(g.blocks.len(), None);
    let fix = |t: Target, remap: &[Option<usize>]| match t {
        Target::Block(b) => Target::Block(remap[b].unwrap_or(b)),
        other => other,
    };
    let mut changed = false;
    for &b in order.iter().rev() {
        let block = &g.blocks[b];
        let jt = fix(block.jt, remap);
        let jf = if block.test == Test::Always {
            jt
        } else {
            fix(block.jf, remap)
        };
        if (jt, jf) != (block.jt, block.jf) {
            let block = &mut g.blocks[b];
            (block.jt, block.jf) = (jt, jf);
            changed = true;
        }
        let block = &g.blocks[b];
        let hash = BuildHasherDefault::<FxHasher>::default().hash_one(block);
        let mut candidate = canon.get(&hash).copied();
        while let Some(c) = candidate {
            if g.blocks[c] == *block {
                break;
            }
            candidate = same_hash[c];
        }
        match candidate {
            Some(c) => {
                remap[b] = Some(c);
                changed = true;
            }
            None => same_hash[b] = canon.insert(hash, b),
        }
    }
    if let Some(root) = g.root {
        g.root = Some(fix(root, remap));
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::cfg::Block;
    use crate::expr::{codegen, parser, LinkType, PacketSource, DEFAULT_NETMASK};

    /// The block graph of every expression of the conformance list on each
    /// of `links`, as generated (before optimisation), with its expression
    /// and link type; expressions a link type cannot express are left out.
    fn conformance_graphs(
        links: &[LinkType],
    ) -> impl Iterator<Item = (&'static str, LinkType, Graph)> + '_ {
        let list = include_str!("../../conformance/expressions.txt");
        list.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .flat_map(move |expr| links.iter().map(move |&link| (expr, link)))
            .filter_map(|(expr, link)| {
                let ast = parser::parse(expr).ok()?;
                let g = codegen::generate(&ast, link, DEFAULT_NETMASK, PacketSource::Live).ok()?;
                Some((expr, link, g))
            })
    }

    /// Why removing a dead statement reshapes: with `ld #5` gone, A leaves
    /// both predecessors of the last block as `ldh [12]` left it, and that
    /// block's own `ldh [12]` is then redundant, which only the next pass
    /// sees.
    #[test]
    fn a_dead_statement_removed_can_leave_more_for_the_next_pass() {
        use crate::cbpf::Insn;
        use smallvec::smallvec;
        let ldh_12 = Insn::stmt(op::LD | op::H | op::ABS, 12);
        let jeq = |k| Test::Jump {
            code: op::JMP | op::JEQ | op::K,
            k,
        };
        let block = |stmts, test, jt, jf| Block {
            stmts,
            test,
            jt,
            jf,
        };
        let mut g = Graph {
            blocks: vec![
                block(
                    smallvec![ldh_12],
                    jeq(0x800),
                    Target::Block(1),
                    Target::Block(2),
                ),
                block(
                    smallvec![
                        Insn::stmt(op::LD | op::IMM, 5),
                        Insn::stmt(op::LDX | op::IMM, 1)
                    ],
                    Test::Always,
                    Target::Block(3),
                    Target::Block(3),
                ),
                block(
                    smallvec![Insn::stmt(op::LDX | op::IMM, 2)],
                    Test::Always,
                    Target::Block(3),
                    Target::Block(3),
                ),
                block(
                    smallvec![ldh_12, Insn::stmt(op::ALU | op::ADD | op::X, 0)],
                    jeq(0x801),
                    Target::Accept,
                    Target::Reject,
                ),
            ],
            root: Some(Target::Block(0)),
            ..Graph::default()
        };
        let mut mem = PassMemory::default();
        mem.start(&g);
        assert_eq!(pass(&mut g, true, false, &mut mem), Change::Shape);
        assert_eq!(g.blocks[1].stmts.len(), 1, "ld #5 was dead");
        assert_eq!(g.blocks[3].stmts.len(), 2);
        assert_eq!(pass(&mut g, true, false, &mut mem), Change::Statements);
        assert_eq!(g.blocks[3].stmts.len(), 1, "ldh [12] was redundant");
        assert_eq!(pass(&mut g, true, false, &mut mem), Change::None);
    }

    /// The pull-ups trust that a pass of the first phase which changed
    /// nothing left their analysis in the workspace ([`pullup::analyse`]),
    /// and the second phase's first pass that pull-ups which moved nothing
    /// left its order and predecessors: checked as `run`'s first phase
    /// goes, over every expression of the conformance list on three link
    /// types.
    #[test]
    fn a_pass_that_changes_nothing_leaves_the_pullups_analysis() {
        let mut checked = 0;
        let links = [LinkType::Ethernet, LinkType::Raw, LinkType::LinuxSll];
        for (expr, _, mut g) in conformance_graphs(&links) {
            let mut mem = PassMemory::default();
            loop {
                if pass(&mut g, false, false, &mut mem) != Change::None {
                    continue;
                }
                let mut fresh = Workspace::default();
                pullup::analyse(&g, &mut fresh);
                let (ws, order) = (&mem.ws, &fresh.walk.order);
                if matches!(g.root, Some(Target::Block(_))) {
                    assert_eq!(&ws.walk.order, order, "{expr}");
                    assert_eq!(ws.a_values, fresh.a_values, "{expr}");
                    assert_eq!(ws.live_in, fresh.live_in, "{expr}");
                    for &b in order {
                        assert_eq!(ws.preds[b], fresh.preds[b], "{expr}");
                        let exit = |w: &Workspace| w.numbering.exit[b];
                        assert_eq!(exit(ws), exit(&fresh), "{expr}");
                    }
                    checked += 1;
                }
                if !pullup::pullups(&mut g, &mem.ws, &mut mem.pullup) {
                    // The statement phase's first pass trusts the order
                    // and predecessors still.
                    let mut again = Workspace::default();
                    pullup::analyse(&g, &mut again);
                    assert_eq!(mem.ws.walk.order, again.walk.order, "{expr}");
                    for &b in &again.walk.order {
                        assert_eq!(mem.ws.preds[b], again.preds[b], "{expr}");
                    }
                    break;
                }
            }
        }
        assert!(checked > 1000, "{checked} analyses checked");
    }
}
