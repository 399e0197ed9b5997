//! A fast path for allow-lists, `host A or host B or …` (IPv4 hosts, no
//! qualifier) on Ethernet: the block graph libpcap's optimiser converges
//! to, built directly in one pass over the addresses, where the general
//! optimiser (like libpcap's) needs about two passes over the whole
//! program per host. The shape, as libpcap 1.10 leaves it: IPv4 source
//! tests, the first destination test, then the ARP/RARP branch (sender
//! tests, target tests) whose target tests after the first are shared
//! with the IPv4 destination tests (the same `jeq` blocks, which libpcap's
//! block merging finds). Repeated addresses are tested once, as the
//! optimiser leaves them. A unit test holds this to the general compiler
//! for lists of every length up to 40; `tests/expr_listings.rs` to
//! libpcap's own listings for up to 300 hosts.

use super::ast::{Addr, Dir, Node, Prim, Proto};
use super::cfg::{Graph, Target, Test};
use super::linktype::LinkType;
use crate::cbpf::insn::op;
use crate::cbpf::Insn;

const ETHERTYPE_IP: u32 = 0x0800;
const ETHERTYPE_ARP: u32 = 0x0806;
const ETHERTYPE_RARP: u32 = 0x8035;

/// The distinct IPv4 hosts of an `or` of plain `host A` primitives, in
/// first-seen order; `None` for anything else.
fn hosts(ast: &Node) -> Option<Vec<u32>> {
    let mut out: Vec<u32> = Vec::new();
    let mut stack = vec![ast];
    // In-order over the `or` tree, without recursion (lists are long).
    let mut leaves = Vec::new();
    while let Some(n) = stack.pop() {
        match n {
            Node::Or(l, r) => {
                stack.push(r);
                stack.push(l);
            }
            Node::Prim(
                Prim::Addr {
                    proto: Proto::Default,
                    dir: Dir::Default,
                    addr:
                        Addr::V4 {
                            addr,
                            mask: u32::MAX,
                        },
                },
                _,
            ) => leaves.push(*addr),
            _ => return None,
        }
    }
    let mut seen = std::collections::HashSet::new();
    for a in leaves {
        if seen.insert(a) {
            out.push(a);
        }
    }
    Some(out)
}

/// The optimised graph of a host list on Ethernet, or `None` when `ast`
/// is not one (or names fewer than two distinct hosts, whose program has
/// another shape).
pub(super) fn host_list(ast: &Node, link: LinkType) -> Option<Graph> {
    if link != LinkType::Ethernet || !matches!(ast, Node::Or(..)) {
        return None;
    }
    let hosts = hosts(ast)?;
    if hosts.len() < 2 {
        return None;
    }
    let mut g = Graph {
        prebuilt: true,
        ..Graph::default()
    };
    let jeq = |k: u32| Test::Jump {
        code: op::JMP | op::JEQ | op::K,
        k,
    };
    let ld = |size: u16, k: u32| Insn::stmt(op::LD | size | op::ABS, k);
    let (accept, reject) = (Target::Accept, Target::Reject);
    // Built from the end, so each block's successors exist.
    // The shared tail: `jeq a_k` for k = 1…n-1.
    let mut next = reject;
    for &a in hosts[1..].iter().rev() {
        next = Target::Block(g.block(Vec::new(), jeq(a), accept, next));
    }
    let tail = next;
    // A run of tests of the loaded address against every host, the first
    // block loading it, ending at `last`.
    let run = |g: &mut Graph, at: u32, last: Target| {
        let mut next = last;
        for (i, &a) in hosts.iter().enumerate().rev() {
            let stmts = if i == 0 {
                vec![ld(op::W, at)]
            } else {
                Vec::new()
            };
            next = Target::Block(g.block(stmts, jeq(a), accept, next));
        }
        next
    };
    // ARP/RARP: sender at 28, then the target at 38 (first test, then the
    // shared tail).
    let arp_target = Target::Block(g.block(vec![ld(op::W, 38)], jeq(hosts[0]), accept, tail));
    let arp_sender = run(&mut g, 28, arp_target);
    let rarp = Target::Block(g.block(Vec::new(), jeq(ETHERTYPE_RARP), arp_sender, reject));
    let arp = Target::Block(g.block(Vec::new(), jeq(ETHERTYPE_ARP), arp_sender, rarp));
    // IPv4: source at 26, then the destination at 30 (first test, then
    // the shared tail).
    let ip_dst = Target::Block(g.block(vec![ld(op::W, 30)], jeq(hosts[0]), accept, tail));
    let ip_src = run(&mut g, 26, ip_dst);
    let root = g.block(vec![ld(op::H, 12)], jeq(ETHERTYPE_IP), ip_src, arp);
    g.root = Some(Target::Block(root));
    Some(g)
}
