//! A fast path for allow-lists, `host A or host B or …` (IPv4 hosts, all
//! with the same qualifiers: none, `src`, `dst`, `ip`, `ip src`, `ip dst`)
//! on Ethernet: the block graph libpcap's optimiser converges to, built
//! directly in one pass over the addresses, where the general optimiser
//! (like libpcap's) needs about two passes over the whole program per
//! host. The shapes, as libpcap 1.10 leaves them: for `host`, IPv4 source
//! tests, the first destination test, then the ARP/RARP branch (sender
//! tests, target tests) whose target tests after the first are shared
//! with the IPv4 destination tests (the same `jeq` blocks, which libpcap's
//! block merging finds); for `src`/`dst host`, one address field of IPv4
//! and of ARP, the tests after the first shared; for `ip …`, IPv4 only.
//! Repeated addresses are tested once, as the optimiser leaves them. A
//! unit test holds this to the general compiler for lists of every length
//! up to 40 in every shape; `tests/expr_listings.rs` to libpcap's own
//! listings for up to 300 hosts.

use super::ast::{Addr, Dir, Node, Prim, Proto};
use super::cfg::{Graph, Stmts, Target, Test};
use super::linktype::LinkType;
use crate::cbpf::insn::op;
use crate::cbpf::Insn;
use smallvec::smallvec;

const ETHERTYPE_IP: u32 = 0x0800;
const ETHERTYPE_ARP: u32 = 0x0806;
const ETHERTYPE_RARP: u32 = 0x8035;

/// The qualifiers every host of the list shares, and its distinct IPv4
/// hosts in first-seen order; `None` for anything else.
fn hosts(ast: &Node) -> Option<((Proto, Dir), Vec<u32>)> {
    let mut out: Vec<u32> = Vec::new();
    let mut stack = vec![ast];
    let mut quals = None;
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
                    proto: proto @ (Proto::Default | Proto::Ip),
                    dir: dir @ (Dir::Default | Dir::Src | Dir::Dst),
                    addr:
                        Addr::V4 {
                            addr,
                            mask: u32::MAX,
                        },
                },
                _,
            ) => {
                if *quals.get_or_insert((*proto, *dir)) != (*proto, *dir) {
                    return None;
                }
                leaves.push(*addr);
            }
            _ => return None,
        }
    }
    let mut seen = std::collections::HashSet::new();
    for a in leaves {
        if seen.insert(a) {
            out.push(a);
        }
    }
    Some((quals?, out))
}

/// The optimised graph of a host list on Ethernet, or `None` when `ast`
/// is not one (or names fewer than two distinct hosts, whose program has
/// another shape).
pub(super) fn host_list(ast: &Node, link: LinkType) -> Option<Graph> {
    if link != LinkType::Ethernet || !matches!(ast, Node::Or(..)) {
        return None;
    }
    let ((proto, dir), hosts) = hosts(ast)?;
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
        next = Target::Block(g.block(Stmts::new(), jeq(a), accept, next));
    }
    let tail = next;
    // A run of tests of the loaded address against every host, the first
    // block loading it, ending at `last`.
    let run = |g: &mut Graph, at: u32, last: Target| {
        let mut next = last;
        for (i, &a) in hosts.iter().enumerate().rev() {
            let stmts = if i == 0 {
                smallvec![ld(op::W, at)]
            } else {
                Stmts::new()
            };
            next = Target::Block(g.block(stmts, jeq(a), accept, next));
        }
        next
    };
    // The first test of a field (it loads the field), then the shared tail.
    let first = |g: &mut Graph, at: u32| {
        Target::Block(g.block(smallvec![ld(op::W, at)], jeq(hosts[0]), accept, tail))
    };
    // IPv4 source at 26, destination at 30; ARP/RARP sender at 28, target
    // at 38.
    let (ip, arp_fields) = match (proto, dir) {
        (Proto::Ip, Dir::Src) => (run(&mut g, 26, reject), None),
        (Proto::Ip, Dir::Dst) => (run(&mut g, 30, reject), None),
        (Proto::Ip, _) => {
            let dst = run(&mut g, 30, reject);
            (run(&mut g, 26, dst), None)
        }
        (_, Dir::Src) => {
            let arp = first(&mut g, 28);
            (first(&mut g, 26), Some(arp))
        }
        (_, Dir::Dst) => {
            let arp = first(&mut g, 38);
            (first(&mut g, 30), Some(arp))
        }
        _ => {
            let arp_target = first(&mut g, 38);
            let arp_sender = run(&mut g, 28, arp_target);
            let ip_dst = first(&mut g, 30);
            (run(&mut g, 26, ip_dst), Some(arp_sender))
        }
    };
    let not_ip = match arp_fields {
        Some(fields) => {
            let rarp = Target::Block(g.block(Stmts::new(), jeq(ETHERTYPE_RARP), fields, reject));
            Target::Block(g.block(Stmts::new(), jeq(ETHERTYPE_ARP), fields, rarp))
        }
        None => reject,
    };
    let root = g.block(smallvec![ld(op::H, 12)], jeq(ETHERTYPE_IP), ip, not_ip);
    g.root = Some(Target::Block(root));
    Some(g)
}
