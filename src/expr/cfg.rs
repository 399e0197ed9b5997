//! The filter as a graph of blocks: straight-line statements ending in one
//! conditional jump, with accept/reject leaves. Code generation builds it,
//! the optimiser rewrites it, [`Graph::layout`] turns it into instructions.

use super::ACCEPT_VERDICT;
use crate::cbpf::insn::op;
use crate::cbpf::{Insn, Program};
use std::cell::RefCell;
use std::thread::LocalKey;

use smallvec::{smallvec, SmallVec};

/// Where a jump goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Another block.
    Block(usize),
    /// `ret #262144`.
    Accept,
    /// `ret #0`.
    Reject,
}

/// How a block ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Test {
    /// A conditional jump: `code` is `JMP | op | src` (`k` used when src is K).
    Jump {
        /// Full opcode.
        code: u16,
        /// Constant operand.
        k: u32,
    },
    /// Always continue at `jt`.
    Always,
}

/// A block's statements: nearly every block holds four or fewer (a load,
/// a mask, a shift), kept inline so that building, copying and merging
/// blocks does not allocate (a vector per block was a third of a short
/// expression's allocations).
pub type Stmts = SmallVec<[Insn; 4]>;

/// Working arrays of [`Graph::layout`], kept by the thread from one
/// compile to the next ([`with_kept_memory`]).
#[derive(Default)]
struct LayoutMemory {
    seen: Vec<bool>,
    stack: Vec<(Target, u8)>,
    /// Per block, whether its true (bit 0) and false (bit 1) jumps go via
    /// a `ja`.
    far: Vec<u8>,
    /// Where each block, then each leaf, starts.
    start: Vec<usize>,
}

/// Up to this many blocks, a graph's working memory stays with the thread
/// for its next compile ([`with_kept_memory`]).
const KEPT_BLOCKS: usize = 4096;

/// Runs `work` on the thread's working memory kept in `kept` (a fresh one
/// if `work` is already running on this thread), then drops that memory
/// when the graph had more than [`KEPT_BLOCKS`] blocks: a huge graph's
/// buffers are not kept for the small ones that usually follow. (A short
/// expression's optimisation was half allocation when each compile
/// started from nothing, and its layout a few percent.)
pub(super) fn with_kept_memory<M: Default, R>(
    kept: &'static LocalKey<RefCell<M>>,
    blocks: usize,
    work: impl FnOnce(&mut M) -> R,
) -> R {
    kept.with(|cell| match cell.try_borrow_mut() {
        Ok(mut mem) => {
            let done = work(&mut mem);
            if blocks > KEPT_BLOCKS {
                *mem = M::default();
            }
            done
        }
        Err(_) => work(&mut M::default()),
    })
}

/// A basic block (by default an empty one that rejects).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Block {
    /// Loads, stores and ALU operations, in order.
    pub stmts: Stmts,
    /// The closing test.
    pub test: Test,
    /// Successor when the test holds (the only one for [`Test::Always`]).
    pub jt: Target,
    /// Successor when the test fails.
    pub jf: Target,
}

impl Default for Block {
    fn default() -> Block {
        Block {
            stmts: Stmts::new(),
            test: Test::Always,
            jt: Target::Reject,
            jf: Target::Reject,
        }
    }
}

/// A filter under construction: blocks plus an entry point.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// All blocks ever made; unreachable ones are ignored.
    pub blocks: Vec<Block>,
    /// Entry point.
    pub root: Option<Target>,
    /// Left as generated, as libpcap leaves a program whose prologue
    /// computes an 802.11 header length (its optimiser cannot take the
    /// jumps inside that prologue): the same program, and no "rejects all
    /// packets" refusal.
    pub unoptimizable: bool,
    /// Built directly in the form the optimiser converges to (the
    /// host-list fast path): nothing for the optimiser to do.
    pub prebuilt: bool,
    /// The open-edge lists of fragments under construction, linked through
    /// the edges themselves as libpcap links them through its unpatched
    /// jump fields: `next_edge[e]` follows edge `e` (see [`EdgeList`]).
    /// One vector for the whole graph where two per test block cost a
    /// short expression's compile a tenth of its time in the allocator.
    pub(super) next_edge: Vec<u32>,
}

/// [`Graph::order_into`]'s result and working memory.
#[derive(Default)]
pub(crate) struct OrderWalk {
    /// The reachable blocks, parents before children.
    pub(crate) order: Vec<usize>,
    seen: Vec<bool>,
    stack: Vec<(usize, u8)>,
}

/// A list of open edges (a block's jt or jf slot, edge `2 * block + 1`
/// or `2 * block`), linked through [`Graph`]'s `next_edge`: each open edge
/// is on one list, which a fragment owns (fragments are moved, never
/// copied, so no two lists share an edge).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EdgeList {
    first: u32,
    last: u32,
}

/// The end of an edge list.
const NO_EDGE: u32 = u32::MAX;

impl EdgeList {
    const EMPTY: EdgeList = EdgeList {
        first: NO_EDGE,
        last: NO_EDGE,
    };

    fn one(block: usize, side: bool) -> EdgeList {
        let e = 2 * block as u32 + side as u32;
        EdgeList { first: e, last: e }
    }
}

/// A boolean sub-filter with unresolved exits (libpcap's backpatch lists).
#[derive(Debug)]
pub struct Frag {
    /// First block.
    pub head: usize,
    /// Edges taken when the sub-filter holds.
    pub t: EdgeList,
    /// Edges taken when it does not.
    pub f: EdgeList,
}

impl Graph {
    /// An empty graph with room for `blocks` blocks (and their edges)
    /// before its vectors grow: a short expression's then never do.
    pub fn with_capacity(blocks: usize) -> Graph {
        Graph {
            blocks: Vec::with_capacity(blocks),
            next_edge: Vec::with_capacity(2 * blocks),
            ..Graph::default()
        }
    }

    /// Adds a block `stmts; if (A code k)` with both exits open.
    pub fn test(&mut self, stmts: Stmts, code: u16, k: u32) -> Frag {
        let id = self.blocks.len();
        self.blocks.push(Block {
            stmts,
            test: Test::Jump { code, k },
            jt: Target::Reject,
            jf: Target::Reject,
        });
        self.next_edge.resize(2 * self.blocks.len(), NO_EDGE);
        Frag {
            head: id,
            t: EdgeList::one(id, true),
            f: EdgeList::one(id, false),
        }
    }

    /// Adds a block with both successors given.
    pub fn block(&mut self, stmts: Stmts, test: Test, jt: Target, jf: Target) -> usize {
        self.blocks.push(Block {
            stmts,
            test,
            jt,
            jf,
        });
        self.blocks.len() - 1
    }

    /// A constant: libpcap's `gen_uncond`, `ld #0; jeq #0` (true) or
    /// `ld #1; jeq #0` (false), which the optimiser folds away (the load
    /// can survive it, as in libpcap's listings).
    pub fn constant(&mut self, value: bool) -> Frag {
        let code = op::JMP | op::JEQ | op::K;
        self.test(
            smallvec![Insn::stmt(op::LD | op::IMM, !value as u32)],
            code,
            0,
        )
    }

    /// Points every edge of `edges` at `to` (the list is used up).
    fn patch(&mut self, edges: EdgeList, to: Target) {
        let mut e = edges.first;
        while e != NO_EDGE {
            let (b, side) = ((e / 2) as usize, e % 2 == 1);
            if side {
                self.blocks[b].jt = to;
            } else {
                self.blocks[b].jf = to;
            }
            let next = std::mem::replace(&mut self.next_edge[e as usize], NO_EDGE);
            e = if e == edges.last { NO_EDGE } else { next };
        }
    }

    /// `a` followed by `b`, as one list.
    fn concat(&mut self, a: EdgeList, b: EdgeList) -> EdgeList {
        if a == EdgeList::EMPTY {
            return b;
        }
        if b == EdgeList::EMPTY {
            return a;
        }
        self.next_edge[a.last as usize] = b.first;
        EdgeList {
            first: a.first,
            last: b.last,
        }
    }

    /// `a and b`: b runs where a holds.
    pub fn and(&mut self, a: Frag, b: Frag) -> Frag {
        self.patch(a.t, Target::Block(b.head));
        let f = self.concat(a.f, b.f);
        Frag {
            head: a.head,
            t: b.t,
            f,
        }
    }

    /// `a or b`: b runs where a fails.
    pub fn or(&mut self, a: Frag, b: Frag) -> Frag {
        self.patch(a.f, Target::Block(b.head));
        let t = self.concat(a.t, b.t);
        Frag {
            head: a.head,
            t,
            f: b.f,
        }
    }

    /// `not a`.
    pub fn not(&mut self, a: Frag) -> Frag {
        Frag {
            head: a.head,
            t: a.f,
            f: a.t,
        }
    }

    /// Closes a fragment: true exits accept, false exits reject.
    pub fn finish(&mut self, top: Frag) {
        self.patch(top.t, Target::Accept);
        self.patch(top.f, Target::Reject);
        self.root = Some(Target::Block(top.head));
    }

    /// Blocks reachable from the root, parents before children, into
    /// `walk.order` (the false successor's subtree follows its parent, so
    /// it usually falls through), reusing the walk's memory (the optimiser
    /// orders the graph several times per compile).
    pub(crate) fn order_into(&self, walk: &mut OrderWalk) {
        let OrderWalk {
            order: post,
            seen,
            stack,
        } = walk;
        post.clear();
        seen.clear();
        seen.resize(self.blocks.len(), false);
        stack.clear();
        if let Some(Target::Block(r)) = self.root {
            // Iterative DFS (deep `and` chains would overflow recursion).
            stack.push((r, 0));
            seen[r] = true;
            while let Some((b, state)) = stack.pop() {
                let block = &self.blocks[b];
                let next = match state {
                    0 => Some(block.jt),
                    1 if block.test != Test::Always => Some(block.jf),
                    1 => None,
                    _ => {
                        post.push(b);
                        continue;
                    }
                };
                stack.push((b, state + 1));
                if let Some(Target::Block(c)) = next {
                    if !seen[c] {
                        seen[c] = true;
                        stack.push((c, 0));
                    }
                }
            }
        }
        post.reverse();
    }

    /// libpcap's instruction order (`convert_code_r`): every block and
    /// return leaf reachable from the root, each once, in reverse post-order
    /// of a walk that visits the false successor before the true one. So a
    /// block's true subtree follows it and a node shared by both subtrees
    /// lands in the false one; tcpdump's `-d` listings have this order.
    /// (Working arrays from `mem`.)
    fn layout_order(&self, mem: &mut LayoutMemory) -> Vec<Target> {
        let Some(root) = self.root else {
            return Vec::new();
        };
        // Every block and both leaves at most (sized once: growing it was a
        // few percent of a short expression's compile).
        let mut post = Vec::with_capacity(self.blocks.len() + 2);
        let LayoutMemory {
            seen: seen_block,
            stack,
            ..
        } = mem;
        seen_block.clear();
        seen_block.resize(self.blocks.len(), false);
        let mut seen_leaf = [false; 2];
        let mut first_visit = |t: Target| match t {
            Target::Block(b) => !std::mem::replace(&mut seen_block[b], true),
            Target::Accept => !std::mem::replace(&mut seen_leaf[0], true),
            Target::Reject => !std::mem::replace(&mut seen_leaf[1], true),
        };
        // Iterative (deep `and` chains would overflow recursion).
        first_visit(root);
        stack.clear();
        stack.push((root, 0));
        while let Some((t, state)) = stack.pop() {
            let Target::Block(b) = t else {
                post.push(t);
                continue;
            };
            let block = &self.blocks[b];
            let next = match (state, block.test) {
                (0, Test::Jump { .. }) => Some(block.jf),
                (0, Test::Always) | (1, _) => Some(block.jt),
                _ => None,
            };
            match next {
                None => post.push(t),
                Some(n) => {
                    let state = if block.test == Test::Always {
                        2
                    } else {
                        state + 1
                    };
                    stack.push((t, state));
                    if first_visit(n) {
                        stack.push((n, 0));
                    }
                }
            }
        }
        post.reverse();
        post
    }

    /// Lays the graph out as a classic program in libpcap's order
    /// ([`Graph::layout_order`]). Conditional jumps can only skip 255
    /// instructions, so longer ones go through an inserted `ja`.
    pub fn layout(&self) -> Result<Program, String> {
        thread_local! {
            static MEMORY: RefCell<LayoutMemory> = RefCell::default();
        }
        with_kept_memory(&MEMORY, self.blocks.len(), |mem| self.layout_in(mem))
    }

    /// [`Graph::layout`] with working arrays from `mem`.
    fn layout_in(&self, mem: &mut LayoutMemory) -> Result<Program, String> {
        let root = self.root.ok_or("empty filter graph")?;
        if !matches!(root, Target::Block(_)) {
            return Ok(Program::new(vec![ret(root)]));
        }
        let order = self.layout_order(mem);
        let LayoutMemory { far, start, .. } = mem;
        far.clear();
        far.resize(self.blocks.len(), 0);
        let mut far_edges = 0;
        loop {
            // Every jump that does not fit gets its `ja` at once: adding
            // one only lengthens other jumps, so the set only grows and
            // this reaches libpcap's (one at a time) in fewer rounds.
            let (insns, overflows) = self.emit(&order, far, start);
            if overflows.is_empty() {
                return Ok(Program::new(insns));
            }
            for (b, side) in overflows {
                // Each round adds a new edge, and there are two per block.
                let bit = far_bit(side);
                if far[b] & bit != 0 || far_edges >= 2 * self.blocks.len() {
                    return Err("filter too large to lay out".to_string());
                }
                far[b] |= bit;
                far_edges += 1;
            }
        }
    }

    /// One layout attempt; returns every jump that does not fit (the
    /// instructions are then not usable).
    fn emit(
        &self,
        order: &[Target],
        far: &[u8],
        start: &mut Vec<usize>,
    ) -> (Vec<Insn>, Vec<(usize, bool)>) {
        let follower = |i: usize| order.get(i + 1).copied();
        let is_far = |b: usize, side: bool| far[b] & far_bit(side) != 0;
        // Pass 1: positions, indexed by block, then the two leaves.
        let n = self.blocks.len();
        let slot = |t: Target| match t {
            Target::Block(b) => b,
            Target::Accept => n,
            Target::Reject => n + 1,
        };
        start.clear();
        start.resize(n + 2, 0);
        let mut pos = 0usize;
        for (i, &t) in order.iter().enumerate() {
            start[slot(t)] = pos;
            let Target::Block(b) = t else {
                pos += 1;
                continue;
            };
            let block = &self.blocks[b];
            pos += block.stmts.len();
            match block.test {
                Test::Always => pos += (follower(i) != Some(block.jt)) as usize,
                Test::Jump { .. } => {
                    pos += 1;
                    pos += is_far(b, true) as usize;
                    pos += is_far(b, false) as usize;
                }
            }
        }
        let at = |t: Target| start[slot(t)];
        // Pass 2: instructions.
        let mut out = Vec::with_capacity(pos);
        let mut overflows = Vec::new();
        for (i, &t) in order.iter().enumerate() {
            let Target::Block(b) = t else {
                out.push(ret(t));
                continue;
            };
            let block = &self.blocks[b];
            out.extend_from_slice(&block.stmts);
            let here = out.len();
            match block.test {
                Test::Always => {
                    if follower(i) != Some(block.jt) {
                        out.push(Insn::stmt(
                            op::JMP | op::JA,
                            (at(block.jt) - here - 1) as u32,
                        ));
                    }
                }
                Test::Jump { code, k } => {
                    let ft = is_far(b, true);
                    let ff = is_far(b, false);
                    let dest_t = if ft { here + 1 } else { at(block.jt) };
                    let dest_f = if ff {
                        here + 1 + ft as usize
                    } else {
                        at(block.jf)
                    };
                    let (jt, jf) = (dest_t - here - 1, dest_f - here - 1);
                    if jt > 255 {
                        overflows.push((b, true));
                    }
                    if jf > 255 {
                        overflows.push((b, false));
                    }
                    out.push(Insn::jump(code, k, jt as u8, jf as u8));
                    for (needed, target) in [(ft, block.jt), (ff, block.jf)] {
                        if needed {
                            let h = out.len();
                            out.push(Insn::stmt(op::JMP | op::JA, (at(target) - h - 1) as u32));
                        }
                    }
                }
            }
        }
        (out, overflows)
    }
}

/// A block's bit in the layout's trampoline set for its true or false jump.
fn far_bit(side: bool) -> u8 {
    if side {
        1
    } else {
        2
    }
}

fn ret(t: Target) -> Insn {
    let k = if t == Target::Accept {
        ACCEPT_VERDICT
    } else {
        0
    };
    Insn::stmt(op::RET | op::K, k)
}
