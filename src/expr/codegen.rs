//! Code generation: AST → block graph, one primitive at a time, testing the
//! same fields in the same order as libpcap's gencode.c.
//!
//! Offsets are state: `vlan` and `mpls` move the network layer for every
//! primitive parsed after them (libpcap's well-known quirk, kept on purpose),
//! so the tree is walked left to right in source order.
//!
//! 802.11 headers have a length known only per packet (and may follow a
//! radio header of a length given in the packet): as libpcap does, such
//! offsets are a constant plus a scratch register that a prologue fills in
//! before the first test ([`Off`], [`Gen::prologue`]).

use std::ops::{Add, AddAssign, Sub};

use super::cfg::{Frag, Graph, Stmts, Target, Test};
use super::linktype::{LinkType, OtherProtocols};
use super::parser::{
    Addr, Arith, ArithOp, AtmAbbrev, ByteOp, Dir, LlcFrame, Node, PfTest, Prim, Proto, RelOp,
    WlanAddr,
};
use super::{ExprError, PacketSource};
use crate::cbpf::insn::{op, skf};
use crate::cbpf::Insn;
use smallvec::smallvec;

const ETHERTYPE_IP: u32 = 0x0800;
const ETHERTYPE_IPV6: u32 = 0x86dd;
const ETHERTYPE_ARP: u32 = 0x0806;
const ETHERTYPE_RARP: u32 = 0x8035;
const ETHERTYPE_MPLS: u32 = 0x8847;
const ETHERTYPE_ATALK: u32 = 0x809b;
const ETHERTYPE_AARP: u32 = 0x80f3;
/// Largest 802.3 length field; smaller "types" are LLC frames.
const ETHERMTU: u32 = 1500;
/// SNAP with the zero organisation code and IPX's ethertype.
const IPX_SNAP: [u8; 8] = [0xaa, 0xaa, 0x03, 0, 0, 0, 0x81, 0x37];
/// Linux cooked captures' protocol values for 802.3 and 802.2 frames.
const LINUX_SLL_P_802_3: u32 = 0x0001;
const LINUX_SLL_P_802_2: u32 = 0x0004;
/// Sun raw ATM's pseudo-header: VPI at 1, VCI at 2, the AAL5 PDU at 4;
/// traffic types LANE and LLC-encapsulated.
const ATM_VPI: u32 = 1;
const ATM_VCI: u32 = 2;
const ATM_PAYLOAD: u32 = 4;
const ATM_PT_LANE: u32 = 1;
const ATM_PT_LLC: u32 = 2;
const VLAN_TPIDS: [u32; 3] = [0x8100, 0x88a8, 0x9100];
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
const IPPROTO_SCTP: u32 = 132;
const IPPROTO_FRAGMENT: u32 = 44;
const IPPROTO_ICMPV6: u32 = 58;

const JEQ: u16 = op::JMP | op::JEQ | op::K;
const JGT: u16 = op::JMP | op::JGT | op::K;
const JGE: u16 = op::JMP | op::JGE | op::K;
const JSET: u16 = op::JMP | op::JSET | op::K;

/// Builds the (unoptimised) block graph for an expression.
/// `netmask` is the capture interface's IPv4 netmask, for `ip broadcast`.
pub fn generate(
    ast: &Node,
    link: LinkType,
    netmask: u32,
    source: PacketSource,
) -> Result<Graph, ExprError> {
    let var = |v: Var, k: u32| Off { var: Some(v), k };
    let (off_linkhdr, off_llc) = if link.is_802_11() {
        let hdr = if link.has_radio_header() {
            var(Var::LinkHdr, 0)
        } else {
            Off::from(0)
        };
        (hdr, var(Var::LinkPl, 0))
    } else {
        (
            Off::from(link.link_header_offset()),
            Off::from(link.llc_offset()),
        )
    };
    let (off_linkhdr, off_llc) = if link == LinkType::Pflog {
        (Off::from(0), var(Var::LinkPl, 0))
    } else {
        (off_linkhdr, off_llc)
    };
    let off_nl = if link.has_variable_payload() {
        off_llc + link.network_offset()
    } else {
        Off::from(link.network_offset())
    };
    let mut gen = Gen {
        g: Graph::with_capacity(32),
        link,
        netmask,
        source,
        off_linktype: link.ethertype_offset().map(Off::from),
        off_nl,
        off_llc,
        mpls_depth: 0,
        ppp_inner: false,
        off_linkhdr,
        regs: Regs::default(),
        reg_linkhdr: None,
        reg_linkpl: None,
        out_of_regs: false,
        atm: link == LinkType::SunAtm,
        prev_link: None,
        geneve: false,
    };
    // libpcap never optimises Prism programs: the code that finds the
    // header's length (Prism's or AVS's) jumps inside a block.
    gen.g.unoptimizable = link == LinkType::PrismHeader;
    let top = gen.node(ast)?;
    gen.g.finish(top);
    // The prologue is the outer link type's (`lane` and `geneve` change
    // the link type later tests see).
    gen.link = link;
    gen.prologue();
    if gen.out_of_regs {
        return Err(too_many_registers());
    }
    Ok(gen.g)
}

/// libpcap's words when its 16 scratch registers are all taken.
fn too_many_registers() -> ExprError {
    ExprError::semantic(1, "too many registers needed to evaluate expression")
}

/// libpcap's scratch register allocator (`alloc_reg`, `free_reg`): a
/// cursor that moves on past taken registers and stays where it found a
/// free one, so the registers a program uses, seen in its listing, are
/// the ones libpcap's uses.
#[derive(Default)]
struct Regs {
    taken: u16,
    cursor: u32,
}

impl Regs {
    fn alloc(&mut self) -> Result<u32, ExprError> {
        for _ in 0..op::MEMWORDS {
            if self.taken & (1 << self.cursor) == 0 {
                self.taken |= 1 << self.cursor;
                return Ok(self.cursor);
            }
            self.cursor = (self.cursor + 1) % op::MEMWORDS;
        }
        Err(too_many_registers())
    }

    fn free(&mut self, reg: u32) {
        self.taken &= !(1 << reg);
    }
}

/// Which run-time length an offset's variable part is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Var {
    /// The radio header's length: where the 802.11 header starts.
    LinkHdr,
    /// The radio and 802.11 headers' length: where LLC starts.
    LinkPl,
    /// A length `geneve` code leaves in this scratch register.
    Reg(u32),
}

/// A packet offset: a constant, plus a length the prologue leaves in a
/// scratch register when `var` is set (libpcap's `bpf_abs_offset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Off {
    var: Option<Var>,
    k: u32,
}

impl From<u32> for Off {
    fn from(k: u32) -> Off {
        Off { var: None, k }
    }
}

impl Add<u32> for Off {
    type Output = Off;
    fn add(self, n: u32) -> Off {
        Off {
            var: self.var,
            k: self.k.wrapping_add(n),
        }
    }
}

impl AddAssign<u32> for Off {
    fn add_assign(&mut self, n: u32) {
        self.k = self.k.wrapping_add(n);
    }
}

impl Sub<u32> for Off {
    type Output = Off;
    fn sub(self, n: u32) -> Off {
        Off {
            var: self.var,
            k: self.k.wrapping_sub(n),
        }
    }
}

/// An absolute load.
fn ld(size: u16, k: u32) -> Insn {
    Insn::stmt(op::LD | size | op::ABS, k)
}

struct Gen {
    g: Graph,
    link: LinkType,
    /// The interface netmask (`ip broadcast`); `u32::MAX` means unknown.
    netmask: u32,
    /// Live capture or savefile (DLT_NULL/LOOP address families).
    source: PacketSource,
    /// Offset of the ethertype field, moved by `vlan`.
    off_linktype: Option<Off>,
    /// Offset of the network header, moved by `vlan` and `mpls`.
    off_nl: Off,
    /// Offset of the 802.2 LLC header, on link types that have one.
    off_llc: Off,
    /// MPLS labels seen so far.
    mpls_depth: u32,
    /// After `pppoes`: the link layer is the PPP packet inside PPPoE
    /// (libpcap switches its link type to DLT_PPP).
    ppp_inner: bool,
    /// Start of the link-layer header that `link[…]` and `byte` index:
    /// the packet's (after any radio header), or the PPP header's after
    /// `pppoes`.
    off_linkhdr: Off,
    /// The scratch registers in use.
    regs: Regs,
    /// Scratch registers holding [`Var::LinkHdr`] and [`Var::LinkPl`],
    /// taken when a load first uses them, as libpcap's are (the prologue
    /// computes only what is used).
    reg_linkhdr: Option<u32>,
    reg_linkpl: Option<u32>,
    /// A variable part needed a register when none was free (reported
    /// when generation ends).
    out_of_regs: bool,
    /// Sun raw ATM's pseudo-header is there (it stays after `lane`).
    atm: bool,
    /// The link type `lane` replaced by Ethernet (libpcap's
    /// `prevlinktype`).
    prev_link: Option<LinkType>,
    /// After `geneve`: the link layer is the encapsulated frame, found
    /// per packet (libpcap's `is_geneve`).
    geneve: bool,
}

impl Gen {
    fn node(&mut self, n: &Node) -> Result<Frag, ExprError> {
        Ok(match n {
            Node::And(..) | Node::Or(..) => {
                // `a and b or c …` parses left-deep, as long as the
                // expression: walk the left spine without recursion, then
                // join the right operands in source order.
                let mut rights = Vec::new();
                let mut leftmost = n;
                while let Node::And(l, r) | Node::Or(l, r) = leftmost {
                    rights.push((matches!(leftmost, Node::And(..)), &**r));
                    leftmost = l;
                }
                let mut acc = self.node(leftmost)?;
                for (is_and, right) in rights.into_iter().rev() {
                    let r = self.node(right)?;
                    acc = if is_and {
                        self.g.and(acc, r)
                    } else {
                        self.g.or(acc, r)
                    };
                }
                acc
            }
            Node::Not(a) => {
                let a = self.node(a)?;
                self.g.not(a)
            }
            Node::Prim(p, col) => self.prim(p, *col)?,
            Node::Rel { op, lhs, rhs } => self.relation(*op, lhs, rhs)?,
        })
    }

    /// Puts before the first test the code that computes the variable
    /// parts of offsets that loads used (libpcap's
    /// `insert_compute_vloffsets`), and for PPI the check that the packet
    /// holds 802.11 (`gen_ppi_dlt_check`).
    fn prologue(&mut self) {
        if let (LinkType::Pflog, Some(pl)) = (self.link, self.reg_linkpl) {
            // pflog's header length: its first byte, rounded up to 4.
            if let Some(Target::Block(root)) = self.g.root {
                let mut stmts = smallvec![
                    ld(op::B, 0),
                    Insn::stmt(op::ALU | op::ADD | op::K, 3),
                    Insn::stmt(op::ALU | op::AND | op::K, 0xffff_fffc),
                    Insn::stmt(op::ST, pl),
                    Insn::stmt(op::MISC | op::TAX, 0),
                ];
                let block = &mut self.g.blocks[root];
                stmts.append(&mut block.stmts);
                block.stmts = stmts;
            }
            return;
        }
        if !self.link.is_802_11() {
            return;
        }
        let Some(Target::Block(root)) = self.g.root else {
            return;
        };
        let stmt = Insn::stmt;
        let jset = |k| Test::Jump { code: JSET, k };
        let radio = self.link.has_radio_header();
        let need_pl = self.reg_linkpl.is_some();
        // The payload's offset starts from the radio header's length:
        // libpcap takes that register now if no load took it.
        if need_pl && radio {
            self.var_reg(Var::LinkHdr);
        }
        let need_hdr = self.reg_linkhdr.is_some();
        let (hdr, pl) = (
            self.reg_linkhdr.unwrap_or_default(),
            self.reg_linkpl.unwrap_or_default(),
        );
        let root_t = Target::Block(root);
        let mut entry = root;
        if need_pl {
            // X = start of the 802.11 header; LLC follows 24 bytes on, 26
            // in QoS data frames (and on a 4-byte boundary when radiotap
            // says the driver padded the header).
            let mut stmts = Stmts::new();
            if !radio {
                stmts.push(stmt(op::LDX | op::IMM, 0));
            }
            stmts.extend([
                stmt(op::MISC | op::TXA, 0),
                stmt(op::ALU | op::ADD | op::K, 24),
                stmt(op::ST, pl),
                stmt(op::LD | op::B | op::IND, 0),
            ]);
            let after_qos = if self.link == LinkType::Ieee80211Radio {
                // Radiotap fields are little-endian: flag words swapped.
                let round = self.g.block(
                    smallvec![
                        stmt(op::LD | op::MEM, pl),
                        stmt(op::ALU | op::ADD | op::K, 3),
                        stmt(op::ALU | op::AND | op::K, !3),
                        stmt(op::ST, pl),
                    ],
                    Test::Always,
                    root_t,
                    root_t,
                );
                let round_t = Target::Block(round);
                let pad_no_tsft =
                    self.g
                        .block(smallvec![ld(op::B, 8)], jset(0x20), round_t, root_t);
                let pad_tsft = self
                    .g
                    .block(smallvec![ld(op::B, 16)], jset(0x20), round_t, root_t);
                let tsft = self.g.block(
                    Stmts::new(),
                    jset(0x0100_0000),
                    Target::Block(pad_tsft),
                    Target::Block(pad_no_tsft),
                );
                let ext =
                    self.g
                        .block(Stmts::new(), jset(0x0000_0080), root_t, Target::Block(tsft));
                let flags = self.g.block(
                    smallvec![ld(op::W, 4)],
                    jset(0x0200_0000),
                    Target::Block(ext),
                    root_t,
                );
                Target::Block(flags)
            } else {
                root_t
            };
            let qos_add = self.g.block(
                smallvec![
                    stmt(op::LD | op::MEM, pl),
                    stmt(op::ALU | op::ADD | op::K, 2),
                    stmt(op::ST, pl),
                ],
                Test::Always,
                after_qos,
                after_qos,
            );
            let qos = self
                .g
                .block(Stmts::new(), jset(0x80), Target::Block(qos_add), after_qos);
            let not_ctl = self
                .g
                .block(Stmts::new(), jset(0x04), root_t, Target::Block(qos));
            entry = self
                .g
                .block(stmts, jset(0x08), Target::Block(not_ctl), root_t);
            self.g.unoptimizable = true;
        }
        if need_hdr {
            // The radio header's length into M[hdr] and X.
            let prefix = match self.link {
                LinkType::Ieee80211RadioAvs => smallvec![ld(op::W, 4)],
                LinkType::PrismHeader => Stmts::new(),
                // Radiotap and PPI: a little-endian length at 2.
                _ => smallvec![
                    ld(op::B, 3),
                    stmt(op::ALU | op::LSH | op::K, 8),
                    stmt(op::MISC | op::TAX, 0),
                    ld(op::B, 2),
                    stmt(op::ALU | op::OR | op::X, 0),
                ],
            };
            let mut stmts = prefix;
            stmts.extend([stmt(op::ST, hdr), stmt(op::MISC | op::TAX, 0)]);
            let block = &mut self.g.blocks[entry];
            stmts.append(&mut block.stmts);
            block.stmts = stmts;
            if self.link == LinkType::PrismHeader {
                // Some drivers send an AVS header (its cookie) under the
                // Prism link type; a Prism header is 144 bytes.
                let to = Target::Block(entry);
                let avs = self.g.block(smallvec![ld(op::W, 4)], Test::Always, to, to);
                let prism =
                    self.g
                        .block(smallvec![stmt(op::LD | op::IMM, 144)], Test::Always, to, to);
                entry = self.g.block(
                    smallvec![ld(op::W, 0), stmt(op::ALU | op::AND | op::K, 0xffff_f000)],
                    Test::Jump {
                        code: JEQ,
                        k: 0x8021_1000,
                    },
                    Target::Block(avs),
                    Target::Block(prism),
                );
                self.g.unoptimizable = true;
            }
        }
        if self.link == LinkType::Ppi {
            // The PPI header's DLT field (little-endian) is 802.11.
            entry = self.g.block(
                smallvec![ld(op::W, 4)],
                Test::Jump {
                    code: JEQ,
                    k: 105u32.swap_bytes(),
                },
                Target::Block(entry),
                Target::Reject,
            );
        }
        self.g.root = Some(Target::Block(entry));
    }

    // ---- building blocks ----

    /// Code leaving the `size` bytes at `off` in A: an absolute load, or
    /// for a variable offset `ldx M[reg]; ld [x + k]`.
    fn load_at(&mut self, size: u16, off: Off) -> Stmts {
        match off.var {
            None => smallvec![ld(size, off.k)],
            Some(v) => smallvec![
                Insn::stmt(op::LDX | op::MEM, self.var_reg(v)),
                Insn::stmt(op::LD | size | op::IND, off.k),
            ],
        }
    }

    /// `inbound`/`outbound` on link types whose own header says the
    /// direction (libpcap's gen_inbound): pflog's `dir`, pppd's first byte,
    /// Solaris ipnet's direction, Juniper's flag bit.
    fn link_direction(&mut self, outbound: bool) -> Result<Option<Frag>, ExprError> {
        const JUNIPER: [u16; 22] = [
            130, 131, 132, 133, 134, 135, 136, 137, 164, 167, 168, 178, 179, 180, 181, 183, 194,
            200, 232, 233, 234, 238,
        ];
        if self.ppp_inner {
            return Ok(None);
        }
        let hdr = self.off_linkhdr;
        let n = match self.link {
            LinkType::PppPppd => 166,
            LinkType::Pflog => 117,
            LinkType::Slip => {
                // SLIP's pseudo-header: direction 0 in, 1 out, which
                // libpcap tests as the relation `link[0] = 0`, its
                // operands made right one first (C's argument order).
                let zero = self.arith(&Arith::Num(0))?;
                let first = self.load(Proto::Link, &Arith::Num(0), op::B)?;
                return Ok(Some(self.compare(op::JEQ, outbound, first, zero)));
            }
            LinkType::Other(n) => n,
            _ => return Ok(None),
        };
        Ok(Some(match n {
            // pfloghdr.dir: PF_IN 1, PF_OUT 2.
            117 => self.cmp(op::B, hdr + 60, if outbound { 2 } else { 1 }),
            // PPP_PPPD_OUT 1, PPP_PPPD_IN 0.
            166 => self.cmp(op::B, hdr, u32::from(outbound)),
            // IPNET_OUTBOUND 1, IPNET_INBOUND 2.
            226 => self.cmp(op::H, hdr + 2, if outbound { 1 } else { 2 }),
            // The low bit of the fourth byte is set for inbound packets.
            n if JUNIPER.contains(&n) => self.mcmp(op::B, hdr + 3, 0x01, u32::from(!outbound)),
            _ => return Ok(None),
        }))
    }

    /// Where the network layer starts after a plain 802.2 header (no
    /// SNAP), for OSI protocols (libpcap's `OR_LINKPL_NOSNAP`): 3 bytes
    /// into LLC, or at once where PPP or Cisco HDLC carry them.
    fn off_nosnap(&self) -> Off {
        if self.ppp_inner || self.link.is_ppp() || self.link == LinkType::CHdlc {
            self.off_nl
        } else if let Some((_, _, nosnap)) = self.link.other_protocols() {
            Off::from(nosnap)
        } else if self.link.typed_without_llc() {
            self.off_llc
        } else {
            self.off_llc + 3
        }
    }

    /// A load of Linux ancillary datum `ad` (`SKF_AD_OFF + ad`). libpcap
    /// addresses it from the link-layer header, so where that header does
    /// not start the packet the load reads another datum (after `pppoes`)
    /// or, indexed past a radio header, fails: kept, as tcpdump's programs
    /// do the same.
    fn ancillary(&mut self, size: u16, ad: i32) -> Stmts {
        self.load_at(size, self.off_linkhdr + (skf::AD_OFF + ad) as u32)
    }

    /// The scratch register of a variable part, taken on first use.
    fn var_reg(&mut self, v: Var) -> u32 {
        let slot = match v {
            Var::LinkHdr => &mut self.reg_linkhdr,
            Var::LinkPl => &mut self.reg_linkpl,
            Var::Reg(r) => return r,
        };
        if let Some(r) = *slot {
            return r;
        }
        match self.regs.alloc() {
            Ok(r) => {
                *slot = Some(r);
                r
            }
            Err(_) => {
                self.out_of_regs = true;
                0
            }
        }
    }

    /// Code leaving in X the IPv4 header length plus the variable part of
    /// the network-layer offset (libpcap's `gen_loadx_iphdrlen`).
    fn loadx_iphdrlen(&mut self) -> Stmts {
        let nl = self.off_nl;
        match nl.var {
            None => smallvec![Insn::stmt(op::LDX | op::B | op::MSH, nl.k)],
            Some(v) => smallvec![
                Insn::stmt(op::LDX | op::MEM, self.var_reg(v)),
                Insn::stmt(op::LD | op::B | op::IND, nl.k),
                Insn::stmt(op::ALU | op::AND | op::K, 0xf),
                Insn::stmt(op::ALU | op::LSH | op::K, 2),
                Insn::stmt(op::ALU | op::ADD | op::X, 0),
                Insn::stmt(op::MISC | op::TAX, 0),
            ],
        }
    }

    /// Code loading the `size` bytes `off` bytes past the IPv4 header.
    fn transport_load(&mut self, size: u16, off: u32) -> Stmts {
        let mut v = self.loadx_iphdrlen();
        v.push(Insn::stmt(
            op::LD | size | op::IND,
            self.off_nl.k.wrapping_add(off),
        ));
        v
    }

    /// `LOAD; and #mask; jeq #k` (no `and` for a full mask).
    fn mtest(&mut self, mut load: Stmts, mask: u32, k: u32) -> Frag {
        if mask != u32::MAX {
            load.push(Insn::stmt(op::ALU | op::AND | op::K, mask));
        }
        self.g.test(load, JEQ, k)
    }

    /// `ld size [off]; jCODE k`.
    fn test_at(&mut self, size: u16, off: impl Into<Off>, code: u16, k: u32) -> Frag {
        let load = self.load_at(size, off.into());
        self.g.test(load, code, k)
    }

    /// `ld size [off]; jeq k`.
    fn cmp(&mut self, size: u16, off: impl Into<Off>, k: u32) -> Frag {
        self.test_at(size, off, JEQ, k)
    }

    /// `ld size [off]; and mask; jeq k` (no `and` for a full mask; an
    /// empty one, `net 0/0`, is tested as libpcap tests it, `and #0`).
    fn mcmp(&mut self, size: u16, off: impl Into<Off>, mask: u32, k: u32) -> Frag {
        let full = match size {
            op::B => 0xff,
            op::H => 0xffff,
            _ => u32::MAX,
        };
        let mut stmts = self.load_at(size, off.into());
        if mask != full && mask != u32::MAX {
            stmts.push(Insn::stmt(op::ALU | op::AND | op::K, mask));
        }
        self.g.test(stmts, JEQ, k)
    }

    fn and_all(&mut self, frags: Vec<Frag>) -> Frag {
        let mut it = frags.into_iter();
        let first = it.next().unwrap_or_else(|| self.g.constant(true));
        it.fold(first, |acc, f| self.g.and(acc, f))
    }

    fn or_all(&mut self, frags: Vec<Frag>) -> Frag {
        let mut it = frags.into_iter();
        let first = it.next().unwrap_or_else(|| self.g.constant(false));
        it.fold(first, |acc, f| self.g.or(acc, f))
    }

    /// The network-layer protocol test (libpcap's gen_linktype).
    fn linktype(&mut self, ethertype: u32, col: usize) -> Result<Frag, ExprError> {
        let is_ip = ethertype == ETHERTYPE_IP;
        let is_ip6 = ethertype == ETHERTYPE_IPV6;
        if self.mpls_depth > 0 {
            if !is_ip && !is_ip6 {
                return Err(ExprError::semantic(col, "unsupported protocol over mpls"));
            }
            // Bottom-of-stack bit of the last label, then the IP version.
            let bos = self.mcmp(op::B, self.off_nl - 2, 1, 1);
            let version = if is_ip { 0x40 } else { 0x60 };
            let v = self.mcmp(op::B, self.off_nl, 0xf0, version);
            return Ok(self.g.and(bos, v));
        }
        if self.ppp_inner {
            // PPP's protocol field, with libpcap's ethertype mapping.
            let off = self.off_linktype.unwrap_or(Off::from(0));
            return Ok(self.cmp(op::H, off, ethertype_to_ppp(ethertype)));
        }
        // After `lane`, first the test that the frame is LANE data (after
        // `geneve` Geneve's protocol type says what follows).
        let check = if self.geneve {
            None
        } else {
            self.prev_link_check()
        };
        let f = self.link_protocol(ethertype, col)?;
        Ok(match check {
            Some(c) => self.g.and(c, f),
            None => f,
        })
    }

    /// The protocol test of the link layer itself (libpcap's
    /// gen_linktype after its MPLS and PPPoE cases).
    fn link_protocol(&mut self, ethertype: u32, col: usize) -> Result<Frag, ExprError> {
        let is_ip = ethertype == ETHERTYPE_IP;
        let is_ip6 = ethertype == ETHERTYPE_IPV6;
        Ok(match self.link {
            l if l.is_ethernet() && ethertype == LLCSAP_IPX => {
                // Ethernet II IPX, or 802.3 carrying it as the IPX SAP,
                // raw 802.3 (0xffff) or SNAP (libpcap's gen_ether_linktype).
                let typed = self.cmp(op::H, self.off_linktype.unwrap_or(Off::from(12)), 0x8137);
                let llc = self.off_llc;
                let sap = self.cmp(op::B, llc, LLCSAP_IPX);
                let raw = self.cmp(op::H, llc, 0xffff);
                let sap_or_raw = self.g.or(sap, raw);
                let snap = self.bytes_eq(llc, &IPX_SNAP);
                let any = self.g.or(snap, sap_or_raw);
                let is_8023 = self.ieee8023();
                let in_8023 = self.g.and(is_8023, any);
                self.g.or(typed, in_8023)
            }
            l if l.is_ethernet() && ethertype <= ETHERMTU => self.ether_llc_sap(ethertype),
            l if (l.is_ethernet() || l == LinkType::LinuxSll)
                && (ethertype == ETHERTYPE_ATALK || ethertype == ETHERTYPE_AARP) =>
            {
                // Ethernet II, or SNAP (Apple's OUI for AppleTalk) inside
                // 802.3 or, on cooked captures, an 802.2 frame.
                let type_off = self.off_linktype.unwrap_or(Off::from(12));
                let framed = if self.link.is_ethernet() {
                    self.ieee8023()
                } else {
                    self.cmp(op::H, type_off, LINUX_SLL_P_802_2)
                };
                let oui = if ethertype == ETHERTYPE_ATALK {
                    [0x08, 0x00, 0x07]
                } else {
                    [0, 0, 0]
                };
                let [hi, lo] = (ethertype as u16).to_be_bytes();
                let snap = self.bytes_eq(
                    self.off_llc,
                    &[0xaa, 0xaa, 0x03, oui[0], oui[1], oui[2], hi, lo],
                );
                let in_llc = self.g.and(framed, snap);
                let typed = self.cmp(op::H, type_off, ethertype);
                self.g.or(typed, in_llc)
            }
            LinkType::LinuxSll if ethertype == LLCSAP_IPX => {
                // An 802.2 frame with the IPX SAP or SNAP, a raw 802.3
                // frame, or Ethernet II IPX (libpcap's gen_linux_sll_linktype).
                let type_off = self.off_linktype.unwrap_or(Off::from(14));
                let sap = self.cmp(op::B, self.off_llc, LLCSAP_IPX);
                let snap = self.bytes_eq(self.off_llc, &IPX_SNAP);
                let in_llc = self.g.or(sap, snap);
                let p8022 = self.cmp(op::H, type_off, LINUX_SLL_P_802_2);
                let in_8022 = self.g.and(p8022, in_llc);
                let p8023 = self.cmp(op::H, type_off, LINUX_SLL_P_802_3);
                let either = self.g.or(p8023, in_8022);
                let typed = self.cmp(op::H, type_off, 0x8137);
                self.g.or(typed, either)
            }
            LinkType::LinuxSll if ethertype <= ETHERMTU => {
                // An 802.2 frame whose DSAP (for ISO, IP and NetBEUI both
                // SAPs) is the protocol.
                let type_off = self.off_linktype.unwrap_or(Off::from(14));
                let p8022 = self.cmp(op::H, type_off, LINUX_SLL_P_802_2);
                let sap = self.llc_sap(ethertype);
                self.g.and(p8022, sap)
            }
            // libpcap's default: an ethertype where the link layer keeps
            // one (for Linux cooked v2 every protocol, LLC SAPs too).
            l if l.is_ethernet() || l.typed_without_llc() => {
                let off = self.off_linktype.unwrap_or(Off::from(0));
                self.cmp(op::H, off, ethertype)
            }
            l if l.is_ppp() => {
                let off = self.off_linktype.unwrap_or(Off::from(0));
                if l == LinkType::PppBsdos && is_ip {
                    // IP, or Van Jacobson compressed or uncompressed TCP.
                    let ip = self.cmp(op::H, off, PPP_IP);
                    let vjc = self.cmp(op::H, off, PPP_VJC);
                    let either = self.g.or(ip, vjc);
                    let vjnc = self.cmp(op::H, off, PPP_VJNC);
                    self.g.or(either, vjnc)
                } else {
                    self.cmp(op::H, off, ethertype_to_ppp(ethertype))
                }
            }
            LinkType::Pflog => {
                // The address family, in the logging host's byte order
                // (one byte): libpcap compares this host's values.
                const AF_INET6: u32 = 10;
                match ethertype {
                    ETHERTYPE_IP => self.cmp(op::B, self.off_linkhdr + 1, 2),
                    ETHERTYPE_IPV6 => self.cmp(op::B, self.off_linkhdr + 1, AF_INET6),
                    _ => self.g.constant(false),
                }
            }
            LinkType::Arcnet | LinkType::ArcnetLinux => {
                // ARCnet protocol IDs (RFC 1201 and the older RFC 1051).
                let off = self.off_linktype.unwrap_or(Off::from(0));
                let ids: &[u32] = match ethertype {
                    ETHERTYPE_IPV6 => &[0xc4],
                    ETHERTYPE_IP => &[0xd4, 0xf0],
                    ETHERTYPE_ARP => &[0xd5, 0xf1],
                    ETHERTYPE_RARP => &[0xd6],
                    ETHERTYPE_ATALK => &[0xdd],
                    _ => &[],
                };
                let tests: Vec<Frag> = ids.iter().map(|&id| self.cmp(op::B, off, id)).collect();
                self.or_all(tests)
            }
            LinkType::CHdlc => {
                let k = if ethertype == LLCSAP_ISONS {
                    (LLCSAP_ISONS << 8) | LLCSAP_ISONS
                } else {
                    ethertype
                };
                self.cmp(op::H, 2, k)
            }
            // libpcap tests the version of SLIP's pseudo-header's first
            // byte, not the IP header's (kept: the same programs).
            LinkType::Slip | LinkType::SlipBsdos => match ethertype {
                ETHERTYPE_IP => self.mcmp(op::B, self.off_linkhdr, 0xf0, 0x40),
                ETHERTYPE_IPV6 => self.mcmp(op::B, self.off_linkhdr, 0xf0, 0x60),
                _ => self.g.constant(false),
            },
            LinkType::Raw if is_ip || is_ip6 => {
                let version = if is_ip { 0x40 } else { 0x60 };
                self.mcmp(op::B, self.off_nl, 0xf0, version)
            }
            LinkType::Ipv4 => self.g.constant(is_ip),
            LinkType::Ipv6 => self.g.constant(is_ip6),
            LinkType::Null | LinkType::Loop if is_ip || is_ip6 => self.loopback_family(is_ip),
            LinkType::Raw | LinkType::Null | LinkType::Loop => self.g.constant(false),
            l if l.is_802_11() => {
                let data = self.data_frame();
                let proto = self.llc_linktype(ethertype);
                self.g.and(data, proto)
            }
            LinkType::TokenRing
            | LinkType::Fddi
            | LinkType::IpOverFc
            | LinkType::AtmRfc1483
            | LinkType::AtmClip => self.llc_linktype(ethertype),
            LinkType::SunAtm => {
                // LLC-encapsulated (after `lane` the link type is
                // Ethernet's).
                let llc = self.atm_traffic(ATM_PT_LLC);
                let proto = self.llc_linktype(ethertype);
                self.g.and(llc, proto)
            }
            l => match l.other_protocols() {
                Some((OtherProtocols::JuniperMagic, ..)) => {
                    self.mcmp(op::W, self.off_linkhdr, 0xffff_ff00, 0x4d47_4300)
                }
                Some((OtherProtocols::BacnetPreamble, ..)) => {
                    self.mcmp(op::W, self.off_linkhdr, 0xffff_0000, 0x55ff_0000)
                }
                Some((OtherProtocols::Frelay, ..)) => {
                    // Q.922's UI control byte (3), then the NLPID.
                    let hdr = self.off_linkhdr;
                    match ethertype {
                        ETHERTYPE_IP => self.cmp(op::H, hdr + 2, 0x03cc),
                        ETHERTYPE_IPV6 => self.cmp(op::H, hdr + 2, 0x038e),
                        LLCSAP_ISONS => {
                            let clnp = self.cmp(op::H, hdr + 2, 0x0300 | ISO8473_CLNP);
                            let esis = self.cmp(op::H, hdr + 2, 0x0300 | ISO9542_ESIS);
                            let isis = self.cmp(op::H, hdr + 2, 0x0300 | ISO9577_ISIS);
                            let either = self.g.or(esis, isis);
                            self.g.or(clnp, either)
                        }
                        _ => self.g.constant(false),
                    }
                }
                Some((OtherProtocols::Ipnet, ..)) => {
                    const IPH_AF_INET: u32 = 2;
                    const IPH_AF_INET6: u32 = 26;
                    match ethertype {
                        ETHERTYPE_IP => self.cmp(op::B, self.off_linkhdr + 1, IPH_AF_INET),
                        ETHERTYPE_IPV6 => self.cmp(op::B, self.off_linkhdr + 1, IPH_AF_INET6),
                        _ => self.g.constant(false),
                    }
                }
                Some((OtherProtocols::EncFamily, ..)) if is_ip || is_ip6 => {
                    self.loopback_family(is_ip)
                }
                Some((OtherProtocols::EncFamily, ..)) => self.g.constant(false),
                Some((OtherProtocols::Ltalk, ..)) => self.g.constant(ethertype == ETHERTYPE_ATALK),
                None => {
                    // libpcap's words.
                    return Err(ExprError::semantic(
                        col,
                        format!(
                            "{} link-layer type filtering not implemented",
                            l.filtering_family()
                        ),
                    ));
                }
            },
        })
    }

    /// The protocol test on a link type whose payload starts with an 802.2
    /// LLC header (libpcap's `gen_llc_linktype`): a SAP, or for ethertypes
    /// the SNAP header's type field only.
    fn llc_linktype(&mut self, ethertype: u32) -> Frag {
        let llc = self.off_llc;
        match ethertype {
            ETHERTYPE_ATALK => {
                // SNAP with Apple's organisation code.
                self.bytes_eq(llc, &[0xaa, 0xaa, 0x03, 0x08, 0x00, 0x07, 0x80, 0x9b])
            }
            sap if sap <= ETHERMTU => self.llc_sap(sap),
            _ => self.cmp(op::H, llc + 6, ethertype),
        }
    }

    /// The 802.2 header names SAP `sap`: DSAP and SSAP both for IP, ISO
    /// and NetBEUI, the DSAP alone for the others (libpcap's tests).
    fn llc_sap(&mut self, sap: u32) -> Frag {
        match sap {
            LLCSAP_IP | LLCSAP_ISONS | LLCSAP_NETBEUI => {
                self.cmp(op::H, self.off_llc, (sap << 8) | sap)
            }
            _ => self.cmp(op::B, self.off_llc, sap),
        }
    }

    /// The bytes at `off` are `v` (libpcap's `gen_bcmp`: words from the
    /// end, then a half-word, then a byte, each test after the previous).
    fn bytes_eq(&mut self, off: Off, v: &[u8]) -> Frag {
        let mut size = v.len();
        let mut acc: Option<Frag> = None;
        let mut join = |s: &mut Gen, f: Frag| {
            acc = Some(match acc.take() {
                Some(a) => s.g.and(a, f),
                None => f,
            });
        };
        while size >= 4 {
            let w = u32::from_be_bytes([v[size - 4], v[size - 3], v[size - 2], v[size - 1]]);
            let f = self.cmp(op::W, off + (size as u32 - 4), w);
            join(self, f);
            size -= 4;
        }
        while size >= 2 {
            let h = u32::from(u16::from_be_bytes([v[size - 2], v[size - 1]]));
            let f = self.cmp(op::H, off + (size as u32 - 2), h);
            join(self, f);
            size -= 2;
        }
        if size > 0 {
            let f = self.cmp(op::B, off, u32::from(v[0]));
            join(self, f);
        }
        acc.unwrap_or_else(|| self.g.constant(true))
    }

    /// After `lane` on Sun raw ATM, the test that the LANE frame is data,
    /// not an LE Control frame (its first two bytes are not 0xff00) that
    /// libpcap puts before each Ethernet test (`gen_prevlinkhdr_check`).
    fn prev_link_check(&mut self) -> Option<Frag> {
        if self.geneve {
            // After `geneve`, that an Ethernet frame is encapsulated: its
            // start differs from its payload's (libpcap's
            // gen_geneve_ll_check).
            let stmts = smallvec![
                Insn::stmt(op::LD | op::MEM, self.var_reg(self.off_linkhdr.var?)),
                Insn::stmt(op::LDX | op::MEM, self.var_reg(self.off_nl.var?)),
            ];
            let same = self.g.test(stmts, op::JMP | op::JEQ | op::X, 0);
            return Some(self.g.not(same));
        }
        if self.prev_link != Some(LinkType::SunAtm) {
            return None;
        }
        let control = self.cmp(op::H, ATM_PAYLOAD, 0xff00);
        Some(self.g.not(control))
    }

    /// Sun raw ATM's traffic type (the low nibble of the pseudo-header's
    /// first byte) is `pt`.
    fn atm_traffic(&mut self, pt: u32) -> Frag {
        self.mcmp(op::B, self.off_linkhdr, 0x0f, pt)
    }

    /// A cell on the ATM virtual circuit `vpi`/`vci`.
    fn atm_circuit(&mut self, vpi: u32, vci: u32) -> Frag {
        let p = self.cmp(op::B, self.off_linkhdr + ATM_VPI, vpi);
        let c = self.cmp(op::H, self.off_linkhdr + ATM_VCI, vci);
        self.g.and(p, c)
    }

    /// An ATM abbreviation (libpcap's gen_atmtype_abbrev and
    /// gen_atmmulti_abbrev): circuits by their well-known VPI/VCI, LANE
    /// (after which the link layer is LANE's Ethernet), Q.2931 signalling
    /// messages.
    fn atm_abbrev(&mut self, a: AtmAbbrev, col: usize) -> Result<Frag, ExprError> {
        if !self.atm {
            // libpcap's words (its own spelling for the OAM F4 circuits).
            return Err(ExprError::semantic(
                col,
                format!("'{}' supported only on raw ATM", a.libpcap_word()),
            ));
        }
        Ok(match a {
            AtmAbbrev::Metac => self.atm_circuit(0, 1),
            AtmAbbrev::Bcc => self.atm_circuit(0, 2),
            AtmAbbrev::Oamf4sc => self.atm_circuit(0, 3),
            AtmAbbrev::Oamf4ec => self.atm_circuit(0, 4),
            AtmAbbrev::Sc => self.atm_circuit(0, 5),
            AtmAbbrev::Ilmic => self.atm_circuit(0, 16),
            AtmAbbrev::Oam | AtmAbbrev::Oamf4 => {
                let seg = self.cmp(op::H, self.off_linkhdr + ATM_VCI, 3);
                let e2e = self.cmp(op::H, self.off_linkhdr + ATM_VCI, 4);
                let f4 = self.g.or(seg, e2e);
                let vpi = self.cmp(op::B, self.off_linkhdr + ATM_VPI, 0);
                self.g.and(vpi, f4)
            }
            AtmAbbrev::Connectmsg | AtmAbbrev::Metaconnect => {
                // Q.2931 message types, or'ed in libpcap's order.
                const SETUP: u32 = 0x05;
                const CALL_PROCEED: u32 = 0x02;
                const CONNECT: u32 = 0x07;
                const CONNECT_ACK: u32 = 0x0f;
                const RELEASE: u32 = 0x4d;
                const RELEASE_DONE: u32 = 0x5a;
                let later: &[u32] = if a == AtmAbbrev::Connectmsg {
                    &[CONNECT, CONNECT_ACK, RELEASE, RELEASE_DONE]
                } else {
                    &[CONNECT, RELEASE, RELEASE_DONE]
                };
                let msg_type = self.off_linkhdr + ATM_PAYLOAD + 5;
                let setup = self.cmp(op::B, msg_type, SETUP);
                let proceed = self.cmp(op::B, msg_type, CALL_PROCEED);
                let mut any = self.g.or(setup, proceed);
                for &m in later {
                    // libpcap ors each later message type in front.
                    let t = self.cmp(op::B, msg_type, m);
                    any = self.g.or(t, any);
                }
                let circuit = if a == AtmAbbrev::Connectmsg {
                    self.atm_circuit(0, 5)
                } else {
                    self.atm_circuit(0, 1)
                };
                self.g.and(circuit, any)
            }
            AtmAbbrev::Lane => {
                let f = self.atm_traffic(ATM_PT_LANE);
                // From here on the link layer is the LANE frame's Ethernet,
                // after the 2-byte LE header (libpcap's PUSH_LINKHDR).
                self.prev_link = Some(self.link);
                self.link = LinkType::Ethernet;
                let hdr = Off::from(ATM_PAYLOAD + 2);
                self.off_linkhdr = hdr;
                self.off_linktype = Some(hdr + 12);
                self.off_llc = hdr + 14;
                self.off_nl = hdr + 14;
                f
            }
        })
    }

    /// An 802.11 data frame: frame control type bits 0x08 set, 0x04 clear.
    fn data_frame(&mut self) -> Frag {
        let hdr = self.off_linkhdr;
        let not_ctl = self.test_at(op::B, hdr, JSET, 0x04);
        let not_ctl = self.g.not(not_ctl);
        let data = self.test_at(op::B, hdr, JSET, 0x08);
        self.g.and(not_ctl, data)
    }

    /// Refuses `what` for a savefile: it reads what only a live Linux
    /// socket knows (the packet type or interface of the ancillary data),
    /// as libpcap refuses it when reading savefiles.
    fn live_only(&self, col: usize, what: &str) -> Result<(), ExprError> {
        match self.source {
            PacketSource::Live => Ok(()),
            PacketSource::Savefile { .. } => Err(ExprError::semantic(
                col,
                format!(
                    "{what} not supported on {} when reading savefiles",
                    self.link.description()
                ),
            )),
        }
    }

    /// DLT_NULL/LOOP's 4-byte address family test for IPv4 or IPv6, as
    /// libpcap's `gen_linktype` builds it ([`PacketSource`]): DLT_NULL's
    /// family is in the writer's byte order (this host's when live),
    /// DLT_LOOP's big-endian; a savefile's IPv6 may be macOS's 30, the
    /// BSDs' 24 or FreeBSD's 28 (tested in that order), a live one is
    /// Linux's 10.
    fn loopback_family(&mut self, is_ip: bool) -> Frag {
        const AF_INET: u32 = 2;
        const AF_INET6_LINUX: u32 = 10;
        const AF_INET6_BSD: u32 = 24;
        const AF_INET6_FREEBSD: u32 = 28;
        const AF_INET6_DARWIN: u32 = 30;
        let encode = |af: u32| match (self.link, self.source) {
            (LinkType::Loop, _) => af,
            (_, PacketSource::Live) => af.to_be(),
            (_, PacketSource::Savefile { big_endian: true }) => af,
            (_, PacketSource::Savefile { big_endian: false }) => af.swap_bytes(),
        };
        match (is_ip, self.source) {
            (true, _) => self.cmp(op::W, 0, encode(AF_INET)),
            (false, PacketSource::Live) => self.cmp(op::W, 0, encode(AF_INET6_LINUX)),
            (false, PacketSource::Savefile { .. }) => {
                let (darwin, bsd, freebsd) = (
                    encode(AF_INET6_DARWIN),
                    encode(AF_INET6_BSD),
                    encode(AF_INET6_FREEBSD),
                );
                let darwin = self.cmp(op::W, 0, darwin);
                let bsd = self.cmp(op::W, 0, bsd);
                let freebsd = self.cmp(op::W, 0, freebsd);
                let bsds = self.g.or(bsd, freebsd);
                self.g.or(darwin, bsds)
            }
        }
    }

    /// Where a link type's MAC header keeps the destination and source
    /// addresses, relative to the link header (libpcap's gen_ehostop,
    /// gen_fhostop, gen_thostop, gen_ipfchostop); `None` for 802.11, whose
    /// addresses move with the frame type ([`Gen::wlan_host`]), and for
    /// link types without MAC addresses.
    fn mac_layout(&self) -> Option<Option<(u32, u32)>> {
        if self.ppp_inner {
            return None;
        }
        match self.link {
            l if l.is_ethernet() => Some(Some((0, 6))),
            LinkType::Fddi => Some(Some((1, 7))),
            LinkType::TokenRing => Some(Some((2, 8))),
            LinkType::IpOverFc => Some(Some((2, 10))),
            l if l.is_802_11() => Some(None),
            _ => None,
        }
    }

    /// `[dir] host MAC` on the link layer.
    fn mac_host(&mut self, dir: Dir, mac: [u8; 6], col: usize) -> Result<Frag, ExprError> {
        let Some(layout) = self.mac_layout() else {
            return Err(ExprError::semantic(
                col,
                // libpcap's words.
                "ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM \
                 LANE/Fibre Channel",
            ));
        };
        let hdr = self.off_linkhdr;
        match (layout, dir) {
            (None, Dir::Wlan(w)) => Ok(self.wlan_addr(w, mac)),
            (None, _) => self.by_dir(dir, col, |s, src| Ok(s.wlan_host(src, mac))),
            (Some(_), Dir::Wlan(w)) => {
                let with = if self.link.is_ethernet() {
                    " with 802.11 headers"
                } else {
                    ""
                };
                Err(ExprError::semantic(
                    col,
                    format!("{} only supported on 802.11{with}", w.subject()),
                ))
            }
            (Some((dst, src)), _) => {
                let check = self.prev_link_check();
                let f = self.by_dir(dir, col, |s, is_src| {
                    Ok(s.bytes_eq(hdr + if is_src { src } else { dst }, &mac))
                })?;
                Ok(match check {
                    Some(c) => self.g.and(c, f),
                    None => f,
                })
            }
        }
    }

    /// A pflog header field (libpcap's gen_pf_*): names compare the
    /// bytes given (a prefix), numbers the whole field.
    fn pf(&mut self, test: &PfTest, col: usize) -> Result<Frag, ExprError> {
        let what = match test {
            PfTest::Ifname(_) => "ifname",
            PfTest::Ruleset(_) => "ruleset",
            PfTest::Rnr(_) => "rnr",
            PfTest::Srnr(_) => "srnr",
            PfTest::Reason(_) => "reason",
            PfTest::Action(_) => "action",
        };
        if self.link != LinkType::Pflog || self.ppp_inner {
            // libpcap's words.
            return Err(ExprError::semantic(
                col,
                format!("{what} supported only on PF linktype"),
            ));
        }
        let hdr = self.off_linkhdr;
        Ok(match test {
            PfTest::Ifname(name) => self.bytes_eq(hdr + 4, name.as_bytes()),
            PfTest::Ruleset(name) => self.bytes_eq(hdr + 20, name.as_bytes()),
            PfTest::Rnr(n) => self.cmp(op::W, hdr + 36, *n),
            PfTest::Srnr(n) => self.cmp(op::W, hdr + 40, *n),
            PfTest::Reason(n) => self.cmp(op::B, hdr + 3, *n),
            PfTest::Action(n) => self.cmp(op::B, hdr + 2, *n),
        })
    }

    /// Where SS7 fields start: MTP2's length indicator (and, 2 bytes on,
    /// the high-speed link's), after MTP2_WITH_PHDR's 4-byte or ERF's
    /// 20-byte pseudo-header.
    fn mtp_base(&self) -> Option<u32> {
        match self.link {
            LinkType::Other(140) => Some(0),
            LinkType::Other(139) => Some(4),
            LinkType::Other(197) => Some(20),
            _ => None,
        }
    }

    /// libpcap's `gen_ncmp`: `ld; and mask; jCODE v`, negated when
    /// `reverse` for `jgt`/`jge` only.
    #[allow(clippy::too_many_arguments)]
    fn ncmp(
        &mut self,
        size: u16,
        off: impl Into<Off>,
        mask: u32,
        code: u16,
        reverse: bool,
        v: u32,
    ) -> Frag {
        let mut stmts = self.load_at(size, off.into());
        if mask != u32::MAX {
            stmts.push(Insn::stmt(op::ALU | op::AND | op::K, mask));
        }
        let f = self.g.test(stmts, op::JMP | code | op::K, v);
        if reverse && code != op::JEQ {
            self.g.not(f)
        } else {
            f
        }
    }

    /// `fisu`, `lssu`, `msu` and their high-speed forms (libpcap's
    /// gen_mtp2type_abbrev).
    fn mtp2_type(&mut self, high_speed: bool, kind: u8, col: usize) -> Result<Frag, ExprError> {
        let Some(base) = self.mtp_base() else {
            let name = ["fisu", "lssu", "msu"][usize::from(kind.min(2))];
            let (h, on) = if high_speed {
                ("h", "MTP2_HSL")
            } else {
                ("", "MTP2")
            };
            return Err(ExprError::semantic(
                col,
                format!("'{h}{name}' supported only on {on}"),
            ));
        };
        let (size, off, mask, unit) = if high_speed {
            (op::H, base + 4, 0xff80, 0x0100)
        } else {
            (op::B, base + 2, 0x3f, 2)
        };
        Ok(match kind {
            0 => self.ncmp(size, off, mask, op::JEQ, false, 0),
            2 => self.ncmp(size, off, mask, op::JGT, false, unit),
            _ => {
                let at_most = self.ncmp(size, off, mask, op::JGT, true, unit);
                let some = self.ncmp(size, off, mask, op::JGT, false, 0);
                self.g.and(some, at_most)
            }
        })
    }

    /// An MTP3 field compared with a value (libpcap's
    /// gen_mtp3field_code): the point codes are stored bit-shuffled.
    fn mtp3(
        &mut self,
        field: &str,
        code: u16,
        reverse: bool,
        value: u32,
        col: usize,
    ) -> Result<Frag, ExprError> {
        let name = field.trim_start_matches('h');
        let high = if field.starts_with('h') { 3 } else { 0 };
        let Some(base) = self.mtp_base() else {
            return Err(ExprError::semantic(
                col,
                format!("'{name}' supported only on SS7"),
            ));
        };
        let too_big = |max: u32| {
            ExprError::semantic(
                col,
                format!("{name} value {value} too big; max value = {max}"),
            )
        };
        Ok(match name {
            "sio" => {
                if value > 255 {
                    return Err(too_big(255));
                }
                self.ncmp(op::B, base + 3 + high, u32::MAX, code, reverse, value)
            }
            "opc" => {
                if value > 16383 {
                    return Err(too_big(16383));
                }
                let v = ((value & 0x3c00) >> 10) + ((value & 0x3fc) << 6) + ((value & 0x3) << 22);
                self.ncmp(op::W, base + 4 + high, 0x00c0_ff0f, code, reverse, v)
            }
            "dpc" => {
                if value > 16383 {
                    return Err(too_big(16383));
                }
                let v = ((value & 0xff) << 24) + ((value & 0x3f00) << 8);
                self.ncmp(op::W, base + 4 + high, 0xff3f_0000, code, reverse, v)
            }
            _ => {
                if value > 15 {
                    return Err(too_big(15));
                }
                self.ncmp(op::B, base + 7 + high, 0xf0, code, reverse, value << 4)
            }
        })
    }

    /// `[dir] host $HH` on ARCnet: source station at 0, destination at 1
    /// (libpcap's gen_ahostop).
    fn arcnet_host(&mut self, dir: Dir, station: u8, col: usize) -> Result<Frag, ExprError> {
        if !matches!(self.link, LinkType::Arcnet | LinkType::ArcnetLinux) || self.ppp_inner {
            // libpcap's words.
            return Err(ExprError::semantic(col, "aid supported only on ARCnet"));
        }
        if let Dir::Wlan(w) = dir {
            return Err(ExprError::semantic(
                col,
                format!("{} only supported on 802.11", w.subject()),
            ));
        }
        let hdr = self.off_linkhdr;
        self.by_dir(dir, col, |s, src| {
            Ok(s.cmp(op::B, hdr + u32::from(!src), u32::from(station)))
        })
    }

    /// 802.11 source (`src`) or destination address: none in control
    /// frames; in management frames at 10 (source) or 4; in data frames
    /// where the To DS / From DS bits put it (libpcap's gen_wlanhostop).
    fn wlan_host(&mut self, src: bool, mac: [u8; 6]) -> Frag {
        let hdr = self.off_linkhdr;
        let bit = |s: &mut Gen, byte: u32, mask: u32, set: bool| {
            let f = s.test_at(op::B, hdr + byte, JSET, mask);
            if set {
                f
            } else {
                s.g.not(f)
            }
        };
        let data_frames = if src {
            // From DS: at 24 with To DS too, else at 16; no From DS: at 10.
            let to_ds = bit(self, 1, 0x01, true);
            let at24 = self.bytes_eq(hdr + 24, &mac);
            let four = self.g.and(to_ds, at24);
            let not_to_ds = bit(self, 1, 0x01, false);
            let at16 = self.bytes_eq(hdr + 16, &mac);
            let three = self.g.and(not_to_ds, at16);
            let from_ds_addrs = self.g.or(three, four);
            let from_ds = bit(self, 1, 0x02, true);
            let from = self.g.and(from_ds, from_ds_addrs);
            let not_from_ds = bit(self, 1, 0x02, false);
            let at10 = self.bytes_eq(hdr + 10, &mac);
            let plain = self.g.and(not_from_ds, at10);
            self.g.or(plain, from)
        } else {
            // To DS: at 16, else at 4.
            let to_ds = bit(self, 1, 0x01, true);
            let at16 = self.bytes_eq(hdr + 16, &mac);
            let to = self.g.and(to_ds, at16);
            let not_to_ds = bit(self, 1, 0x01, false);
            let at4 = self.bytes_eq(hdr + 4, &mac);
            let plain = self.g.and(not_to_ds, at4);
            self.g.or(plain, to)
        };
        let data = bit(self, 0, 0x08, true);
        let data = self.g.and(data, data_frames);
        let mgmt = bit(self, 0, 0x08, false);
        let mgmt_addr = self.bytes_eq(hdr + if src { 10 } else { 4 }, &mac);
        let mgmt = self.g.and(mgmt, mgmt_addr);
        let either = self.g.or(mgmt, data);
        let not_ctl = bit(self, 0, 0x04, false);
        self.g.and(not_ctl, either)
    }

    /// `ra`, `ta` and `addr1`…`addr4` on 802.11 (libpcap's gen_wlanhostop).
    fn wlan_addr(&mut self, which: WlanAddr, mac: [u8; 6]) -> Frag {
        const TYPE_MASK: u32 = 0x0c;
        const TYPE_CTL: u32 = 0x04;
        const SUBTYPE_MASK: u32 = 0xf0;
        const SUBTYPE_CTS: u32 = 0xc0;
        const SUBTYPE_ACK: u32 = 0xd0;
        let hdr = self.off_linkhdr;
        // Frames with a second address: not CTS or ACK control frames.
        let with_addr2 = |s: &mut Gen| {
            let ctl = s.mcmp(op::B, hdr, TYPE_MASK, TYPE_CTL);
            let not_ctl = s.g.not(ctl);
            let cts = s.mcmp(op::B, hdr, SUBTYPE_MASK, SUBTYPE_CTS);
            let not_cts = s.g.not(cts);
            let ack = s.mcmp(op::B, hdr, SUBTYPE_MASK, SUBTYPE_ACK);
            let not_ack = s.g.not(ack);
            let neither = s.g.and(not_cts, not_ack);
            s.g.or(not_ctl, neither)
        };
        match which {
            WlanAddr::Addr1 => self.bytes_eq(hdr + 4, &mac),
            WlanAddr::Addr2 => {
                let present = with_addr2(self);
                let a = self.bytes_eq(hdr + 10, &mac);
                self.g.and(present, a)
            }
            WlanAddr::Addr3 => {
                let ctl = self.mcmp(op::B, hdr, TYPE_MASK, TYPE_CTL);
                let not_ctl = self.g.not(ctl);
                let a = self.bytes_eq(hdr + 16, &mac);
                self.g.and(not_ctl, a)
            }
            WlanAddr::Addr4 => {
                let dstods = self.mcmp(op::B, hdr + 1, 0x03, 0x03);
                let a = self.bytes_eq(hdr + 24, &mac);
                self.g.and(dstods, a)
            }
            WlanAddr::Ra => {
                // libpcap tests "link[0] & 0x08" (not management) here.
                let not_mgmt = self.test_at(op::B, hdr, JSET, 0x08);
                let a = self.bytes_eq(hdr + 4, &mac);
                self.g.and(not_mgmt, a)
            }
            WlanAddr::Ta => {
                let present = with_addr2(self);
                let not_mgmt = self.test_at(op::B, hdr, JSET, 0x08);
                let present = self.g.and(not_mgmt, present);
                let a = self.bytes_eq(hdr + 10, &mac);
                self.g.and(present, a)
            }
        }
    }

    /// `[ether] multicast`: the group bit of the destination address.
    fn mac_multicast(&mut self, col: usize) -> Result<Frag, ExprError> {
        let hdr = self.off_linkhdr;
        let group_bit = |s: &mut Gen, at: u32| s.test_at(op::B, hdr + at, JSET, 1);
        match self.mac_layout() {
            Some(Some((dst, _))) => {
                let check = self.prev_link_check();
                let f = group_bit(self, dst);
                Ok(match check {
                    Some(c) => self.g.and(c, f),
                    None => f,
                })
            }
            Some(None) => {
                // 802.11, as `wlan dst`: at 16 with To DS, else at 4;
                // management frames at 4; none in control frames.
                let to_ds = self.test_at(op::B, hdr + 1, JSET, 0x01);
                let at16 = group_bit(self, 16);
                let to = self.g.and(to_ds, at16);
                let not_to = self.test_at(op::B, hdr + 1, JSET, 0x01);
                let not_to = self.g.not(not_to);
                let at4 = group_bit(self, 4);
                let plain = self.g.and(not_to, at4);
                let data_addrs = self.g.or(plain, to);
                let data = self.test_at(op::B, hdr, JSET, 0x08);
                let data = self.g.and(data, data_addrs);
                let mgmt = self.test_at(op::B, hdr, JSET, 0x08);
                let mgmt = self.g.not(mgmt);
                let mgmt_addr = group_bit(self, 4);
                let mgmt = self.g.and(mgmt, mgmt_addr);
                let either = self.g.or(mgmt, data);
                let ctl = self.test_at(op::B, hdr, JSET, 0x04);
                let not_ctl = self.g.not(ctl);
                Ok(self.g.and(not_ctl, either))
            }
            None => Err(ExprError::semantic(
                col,
                "link-layer multicast filters supported only on ethernet/FDDI/token \
                 ring/ARCNET/802.11/ATM LANE/Fibre Channel",
            )),
        }
    }

    /// IPv4 "first fragment or not fragmented": `ldh [6]; jset #0x1fff` false.
    fn not_fragment(&mut self) -> Frag {
        let f = self.test_at(op::H, self.off_nl + 6, JSET, 0x1fff);
        self.g.not(f)
    }

    /// `ip6 proto p`: next header is p, or a fragment header followed by p.
    fn ip6_proto(&mut self, p: u32, col: usize) -> Result<Frag, ExprError> {
        let lt = self.linktype(ETHERTYPE_IPV6, col)?;
        let direct = self.cmp(op::B, self.off_nl + 6, p);
        let frag = self.cmp(op::B, self.off_nl + 6, IPPROTO_FRAGMENT);
        let after = self.cmp(op::B, self.off_nl + 40, p);
        let via = self.g.and(frag, after);
        let either = self.g.or(direct, via);
        Ok(self.g.and(lt, either))
    }

    fn ip_proto(&mut self, p: u32, col: usize) -> Result<Frag, ExprError> {
        let lt = self.linktype(ETHERTYPE_IP, col)?;
        let c = self.cmp(op::B, self.off_nl + 9, p);
        Ok(self.g.and(lt, c))
    }

    /// Tests `src`/`dst` per the direction qualifier; `gen(self, is_src)`.
    fn by_dir(
        &mut self,
        dir: Dir,
        col: usize,
        mut gen: impl FnMut(&mut Gen, bool) -> Result<Frag, ExprError>,
    ) -> Result<Frag, ExprError> {
        Ok(match dir {
            Dir::Src => gen(self, true)?,
            Dir::Dst => gen(self, false)?,
            Dir::Default | Dir::SrcOrDst => {
                let s = gen(self, true)?;
                let d = gen(self, false)?;
                self.g.or(s, d)
            }
            Dir::SrcAndDst => {
                let s = gen(self, true)?;
                let d = gen(self, false)?;
                self.g.and(s, d)
            }
            Dir::Wlan(w) => {
                return Err(ExprError::semantic(
                    col,
                    w.not_valid_for("addresses other than 802.11 MAC addresses"),
                ))
            }
        })
    }

    // ---- primitives ----

    fn prim(&mut self, p: &Prim, col: usize) -> Result<Frag, ExprError> {
        match *p {
            Prim::Abbrev(proto) => self.abbrev(proto, col),
            Prim::ProtoNum { proto, num } => match proto {
                Proto::Link => self.linktype(num, col),
                Proto::Ip => self.ip_proto(num, col),
                Proto::Ip6 => self.ip6_proto(num, col),
                _ => {
                    let a = self.ip_proto(num, col)?;
                    let b = self.ip6_proto(num, col)?;
                    Ok(self.g.or(a, b))
                }
            },
            Prim::Addr { proto, dir, addr } => self.addr(proto, dir, addr, col),
            Prim::Port {
                proto,
                dir,
                lo,
                hi,
                range,
            } => self.port(proto, dir, lo as u32, hi as u32, range, col),
            Prim::Broadcast(proto) => match proto {
                Proto::Default | Proto::Link
                    if matches!(self.link, LinkType::Arcnet | LinkType::ArcnetLinux)
                        && !self.ppp_inner =>
                {
                    // ARCnet's broadcast station is 0.
                    self.arcnet_host(Dir::Dst, 0, col)
                }
                Proto::Default | Proto::Link => {
                    if self.mac_layout().is_none() {
                        return Err(ExprError::semantic(col, "not a broadcast link"));
                    }
                    self.mac_host(Dir::Dst, [0xff; 6], col)
                }
                Proto::Ip => {
                    if self.netmask == u32::MAX {
                        return Err(ExprError::semantic(
                            col,
                            "netmask not known, so 'ip broadcast' not supported",
                        ));
                    }
                    let host = !self.netmask;
                    let lt = self.linktype(ETHERTYPE_IP, col)?;
                    let zero = self.mcmp(op::W, self.off_nl + 16, host, 0);
                    let ones = self.mcmp(op::W, self.off_nl + 16, host, host);
                    let any = self.g.or(zero, ones);
                    Ok(self.g.and(lt, any))
                }
                _ => Err(ExprError::semantic(
                    col,
                    "only link-layer/IP broadcast filters supported",
                )),
            },
            Prim::Multicast(proto) => match proto {
                Proto::Default | Proto::Link
                    if matches!(self.link, LinkType::Arcnet | LinkType::ArcnetLinux)
                        && !self.ppp_inner =>
                {
                    // All ARCnet multicasts go to the broadcast station.
                    self.arcnet_host(Dir::Dst, 0, col)
                }
                Proto::Default | Proto::Link => self.mac_multicast(col),
                Proto::Ip => {
                    let lt = self.linktype(ETHERTYPE_IP, col)?;
                    let m = self.test_at(op::B, self.off_nl + 16, JGE, 224);
                    Ok(self.g.and(lt, m))
                }
                Proto::Ip6 => {
                    let lt = self.linktype(ETHERTYPE_IPV6, col)?;
                    let m = self.cmp(op::B, self.off_nl + 24, 255);
                    Ok(self.g.and(lt, m))
                }
                _ => Err(ExprError::semantic(
                    col,
                    "only link-layer/IP/IPv6 multicast filters supported",
                )),
            },
            Prim::Less(n) => {
                let f = self
                    .g
                    .test(smallvec![Insn::stmt(op::LD | op::W | op::LEN, 0)], JGT, n);
                Ok(self.g.not(f))
            }
            Prim::Greater(n) => {
                Ok(self
                    .g
                    .test(smallvec![Insn::stmt(op::LD | op::W | op::LEN, 0)], JGE, n))
            }
            Prim::Outbound(outbound) => {
                // PACKET_OUTGOING in the link header where it has one,
                // else in the socket's packet type (a Linux extension).
                const PACKET_OUTGOING: u32 = 4;
                if let Some(f) = self.link_direction(outbound)? {
                    return Ok(f);
                }
                let load = match self.link {
                    LinkType::LinuxSll if !self.ppp_inner => smallvec![ld(op::H, 0)],
                    LinkType::LinuxSll2 if !self.ppp_inner => smallvec![ld(op::B, 10)],
                    _ => {
                        self.live_only(col, "inbound/outbound")?;
                        self.ancillary(op::H, skf::AD_PKTTYPE)
                    }
                };
                let out = self.g.test(load, JEQ, PACKET_OUTGOING);
                Ok(if outbound { out } else { self.g.not(out) })
            }
            Prim::IfIndex(index) => {
                let load = match self.link {
                    LinkType::LinuxSll2 if !self.ppp_inner => smallvec![ld(op::W, 4)],
                    _ => {
                        self.live_only(col, "ifindex")?;
                        self.ancillary(op::W, skf::AD_IFINDEX)
                    }
                };
                Ok(self.g.test(load, JEQ, index))
            }
            Prim::Byte {
                offset,
                op: byte_op,
                value,
            } => Ok(match byte_op {
                ByteOp::Eq => self.cmp(op::B, self.off_linkhdr + offset, value),
                ByteOp::Gt => self.test_at(op::B, self.off_linkhdr + offset, JGT, value),
                ByteOp::Lt => {
                    let ge = self.test_at(op::B, self.off_linkhdr + offset, JGE, value);
                    self.g.not(ge)
                }
                // libpcap applies `&`/`|` to A as it stands (0 at the start
                // of the program), never loading the byte: kept, as the
                // same program is what a user of tcpdump gets.
                ByteOp::And | ByteOp::Or => {
                    let alu = if byte_op == ByteOp::And {
                        op::AND
                    } else {
                        op::OR
                    };
                    let zero =
                        self.g
                            .test(smallvec![Insn::stmt(op::ALU | alu | op::K, value)], JEQ, 0);
                    self.g.not(zero)
                }
            }),
            Prim::Vlan(id) => self.vlan(id, col),
            Prim::Mpls(label) => self.mpls(label, col),
            Prim::Pppoed => self.linktype(ETHERTYPE_PPPOED, col),
            Prim::Llc(frame) => self.llc(frame, col),
            Prim::IsoNlpid(nlpid) => self.iso_nlpid(nlpid, col),
            Prim::IsisPdu(pdu) => {
                let isis = self.iso_nlpid(ISO9577_ISIS, col)?;
                // The PDU type, 4 bytes into the IS-IS header.
                let t = self.cmp(op::B, self.off_nosnap() + 4, pdu);
                Ok(self.g.and(isis, t))
            }
            Prim::Pppoes(session) => self.pppoes(session, col),
            Prim::Geneve(vni) => self.geneve(vni, col),
            Prim::Protochain { proto, num } => self.protochain(proto, num, col),
            Prim::Mtp2Type { high_speed, kind } => self.mtp2_type(high_speed, kind, col),
            Prim::Pf(ref test) => self.pf(test, col),
            Prim::HeaderField {
                field: field @ ("vpi" | "vci"),
                code,
                reverse,
                value,
            } => {
                if !self.atm {
                    // libpcap's words.
                    return Err(ExprError::semantic(
                        col,
                        format!("'{field}' supported only on raw ATM"),
                    ));
                }
                let (size, off) = if field == "vpi" {
                    (op::B, ATM_VPI)
                } else {
                    (op::H, ATM_VCI)
                };
                Ok(self.ncmp(size, self.off_linkhdr + off, u32::MAX, code, reverse, value))
            }
            Prim::HeaderField {
                field,
                code,
                reverse,
                value,
            } => self.mtp3(field, code, reverse, value, col),
            Prim::Atm(a) => self.atm_abbrev(a, col),
            // libpcap accepts these on the 802.11 link types but PPI.
            Prim::WlanType { value, mask } => {
                if !self.link.is_802_11() || self.link == LinkType::Ppi {
                    return Err(ExprError::semantic(
                        col,
                        "802.11 link-layer types supported only on 802.11",
                    ));
                }
                Ok(self.mcmp(op::B, self.off_linkhdr, mask, value))
            }
            Prim::WlanDir(dir) => {
                if !self.link.is_802_11() || self.link == LinkType::Ppi {
                    return Err(ExprError::semantic(
                        col,
                        "frame direction supported only with 802.11 headers",
                    ));
                }
                Ok(self.mcmp(op::B, self.off_linkhdr + 1, 0x03, dir))
            }
        }
    }

    fn abbrev(&mut self, proto: Proto, col: usize) -> Result<Frag, ExprError> {
        match proto {
            Proto::Ip => self.linktype(ETHERTYPE_IP, col),
            Proto::Ip6 => self.linktype(ETHERTYPE_IPV6, col),
            Proto::Decnet => self.linktype(ETHERTYPE_DN, col),
            Proto::Arp => self.linktype(ETHERTYPE_ARP, col),
            Proto::Rarp => self.linktype(ETHERTYPE_RARP, col),
            Proto::Icmp => self.ip_proto(1, col),
            Proto::Igmp => self.ip_proto(2, col),
            Proto::Vrrp | Proto::Carp => self.ip_proto(112, col),
            Proto::Igrp => self.ip_proto(9, col),
            Proto::Pim => {
                let a = self.ip_proto(103, col)?;
                let b = self.ip6_proto(103, col)?;
                Ok(self.g.or(a, b))
            }
            Proto::Icmp6 => self.ip6_proto(IPPROTO_ICMPV6, col),
            Proto::Tcp | Proto::Udp | Proto::Sctp => {
                let p = transport_number(proto);
                let a = self.ip_proto(p, col)?;
                let b = self.ip6_proto(p, col)?;
                Ok(self.g.or(a, b))
            }
            Proto::Iso => self.linktype(LLCSAP_ISONS, col),
            Proto::Isis => self.iso_nlpid(ISO9577_ISIS, col),
            Proto::LoadOnly(ethertype) => self.linktype(ethertype, col),
            // libpcap's words.
            Proto::Radio => Err(ExprError::semantic(
                col,
                "'radio' is not a valid protocol type",
            )),
            Proto::Link | Proto::Default => Err(ExprError::syntax(col, "expected a protocol name")),
        }
    }

    fn addr(&mut self, proto: Proto, dir: Dir, addr: Addr, col: usize) -> Result<Frag, ExprError> {
        match addr {
            // libpcap's gen_dnhostop: each direction tests the link-layer
            // type itself (seen where the program stays unoptimised).
            Addr::Decnet(a) => self.by_dir(dir, col, |s, src| {
                let lt = s.linktype(ETHERTYPE_DN, col)?;
                let host = s.decnet_host(src, a);
                Ok(s.g.and(lt, host))
            }),
            Addr::Mac(mac) => self.mac_host(dir, mac, col),
            Addr::Arcnet(station) => self.arcnet_host(dir, station, col),
            Addr::V4 { addr, mask } => {
                let v4 = |s: &mut Gen, et: u32, src_off: u32, dst_off: u32| {
                    s.by_dir(dir, col, |s, src| {
                        let lt = s.linktype(et, col)?;
                        let off = s.off_nl + if src { src_off } else { dst_off };
                        let c = s.mcmp(op::W, off, mask, addr);
                        Ok(s.g.and(lt, c))
                    })
                };
                match proto {
                    Proto::Ip => v4(self, ETHERTYPE_IP, 12, 16),
                    Proto::Arp => v4(self, ETHERTYPE_ARP, 14, 24),
                    Proto::Rarp => v4(self, ETHERTYPE_RARP, 14, 24),
                    Proto::Default => {
                        let ip = v4(self, ETHERTYPE_IP, 12, 16)?;
                        if self.mpls_depth > 0 {
                            return Ok(ip);
                        }
                        let arp = v4(self, ETHERTYPE_ARP, 14, 24)?;
                        let rarp = v4(self, ETHERTYPE_RARP, 14, 24)?;
                        let f = self.g.or(ip, arp);
                        Ok(self.g.or(f, rarp))
                    }
                    _ => Err(ExprError::semantic(
                        col,
                        "IPv4 addresses need ip, arp or rarp",
                    )),
                }
            }
            Addr::V6 { addr, prefix } => {
                if !matches!(proto, Proto::Default | Proto::Ip6) {
                    return Err(ExprError::semantic(col, "IPv6 addresses need 'ip6'"));
                }
                let full = u128::from_be_bytes(addr);
                let mask = if prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - prefix)
                };
                self.by_dir(dir, col, |s, src| {
                    // libpcap's gen_hostop6: every word compared, masked
                    // (`and #0` where the prefix ends before it), generated
                    // last word first and the link-layer type after them
                    // (the order in which a variable offset's register is
                    // taken).
                    let base = s.off_nl + if src { 8 } else { 24 };
                    let mut words: Vec<Frag> = (0..4u32)
                        .rev()
                        .map(|w| {
                            let shift = 96 - 32 * w;
                            let (a, m) = ((full >> shift) as u32, (mask >> shift) as u32);
                            s.mcmp(op::W, base + 4 * w, m, a)
                        })
                        .collect();
                    words.reverse();
                    let lt = s.linktype(ETHERTYPE_IPV6, col)?;
                    words.insert(0, lt);
                    Ok(s.and_all(words))
                })
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn port(
        &mut self,
        proto: Proto,
        dir: Dir,
        lo: u32,
        hi: u32,
        range: bool,
        col: usize,
    ) -> Result<Frag, ExprError> {
        if let Dir::Wlan(w) = dir {
            return Err(ExprError::semantic(col, w.not_valid_for("ports")));
        }
        let protos: Vec<u32> = match proto {
            Proto::Default => vec![IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP], // libpcap's order
            p => vec![transport_number(p)],
        };
        // One port field: `ldh [off]` compared with the port or the range.
        let field = |s: &mut Gen, load: Stmts| -> Frag {
            if range {
                let ge = s.g.test(load.clone(), JGE, lo);
                let gt = s.g.test(load, JGT, hi);
                let le = s.g.not(gt);
                s.g.and(ge, le)
            } else {
                s.g.test(load, JEQ, lo)
            }
        };
        // One "portop" per protocol, as libpcap: each path then knows which
        // protocol it is on. IPv6: plain next-header test, ports right after
        // the fixed header.
        // Generated as libpcap generates them (IPv4 first, each family's
        // link-layer type before its protocols: the order in which
        // variable offsets take their registers).
        // IPv4: protocol, first fragment, then ports after the IHL.
        let lt4 = self.linktype(ETHERTYPE_IP, col)?;
        let mut ops4 = Vec::new();
        for &p in &protos {
            let pc = self.cmp(op::B, self.off_nl + 9, p);
            let nf = self.not_fragment();
            let ports = self.by_dir(dir, col, |s, src| {
                let load = s.transport_load(op::H, if src { 0 } else { 2 });
                Ok(field(s, load))
            })?;
            ops4.push(self.and_all(vec![pc, nf, ports]));
        }
        let any4 = self.or_all(ops4);
        let v4 = self.g.and(lt4, any4);
        let lt6 = self.linktype(ETHERTYPE_IPV6, col)?;
        let mut ops6 = Vec::new();
        for &p in &protos {
            let pc = self.cmp(op::B, self.off_nl + 6, p);
            let ports = self.by_dir(dir, col, |s, src| {
                let off = s.off_nl + 40 + if src { 0 } else { 2 };
                let load = s.load_at(op::H, off);
                Ok(field(s, load))
            })?;
            ops6.push(self.g.and(pc, ports));
        }
        let any6 = self.or_all(ops6);
        let v6 = self.g.and(lt6, any6);
        Ok(self.g.or(v6, v4))
    }

    fn vlan(&mut self, id: Option<u32>, col: usize) -> Result<Frag, ExprError> {
        if self.ppp_inner {
            // libpcap's words.
            return Err(ExprError::semantic(col, "no VLAN support for PPP"));
        }
        if self.mpls_depth > 0 {
            return Err(ExprError::semantic(col, "no VLAN match after MPLS"));
        }
        let supported =
            self.link.is_ethernet() || (self.link.is_802_11() && self.link != LinkType::Ppi);
        if !supported {
            // libpcap's words.
            return Err(ExprError::semantic(
                col,
                format!("no VLAN support for {}", self.link.description()),
            ));
        }
        // Each TPID as a protocol (on 802.11, in the data frame's SNAP
        // header); the tag follows, where the payload was.
        let mut tpids = Vec::new();
        for t in VLAN_TPIDS {
            tpids.push(self.linktype(t, col)?);
        }
        let mut f = self.or_all(tpids);
        if let Some(id) = id {
            let vid = self.mcmp(op::H, self.off_nl, 0x0fff, id);
            f = self.g.and(f, vid);
        }
        self.off_linktype = self.off_linktype.map(|o| o + 4);
        self.off_llc += 4;
        self.off_nl += 4;
        Ok(f)
    }

    /// A DECnet routing header's source (`src`) or destination address, in
    /// each of the four layouts libpcap's gen_dnhostop tries: short or
    /// long header, with or without a padding byte (the address is stored
    /// little-endian).
    fn decnet_host(&mut self, src: bool, addr: u16) -> Frag {
        let (short, long) = if src { (3, 15) } else { (1, 7) };
        let flags = self.off_nl + 2;
        let want = u32::from(addr.swap_bytes());
        let layout = |s: &mut Gen, pad: bool, offset: u32, kind: u32| {
            let shape = if pad {
                s.mcmp(op::H, flags, 0xff07, 0x8100 | kind)
            } else {
                s.mcmp(op::B, flags, 0x07, kind)
            };
            let at = s.cmp(op::H, flags + u32::from(pad) + offset, want);
            s.g.and(shape, at)
        };
        let short_plain = layout(self, false, short, 2);
        let short_pad = layout(self, true, short, 2);
        let long_plain = layout(self, false, long, 6);
        let long_pad = layout(self, true, long, 6);
        let longs = self.g.or(long_plain, long_pad);
        let rest = self.g.or(short_pad, longs);
        self.g.or(short_plain, rest)
    }

    /// An 802.3 frame (length, not type, in the type field: at most 1500).
    fn ieee8023(&mut self) -> Frag {
        let off = self.off_linktype.unwrap_or(Off::from(12));
        let typed = self.test_at(op::H, off, JGT, ETHERMTU);
        self.g.not(typed)
    }

    /// `ether proto SAP` for SAP <= 1500 on Ethernet, as libpcap's
    /// gen_ether_linktype: an 802.3 frame whose DSAP (for ISO, IP and
    /// NetBEUI both DSAP and SSAP) is the SAP.
    fn ether_llc_sap(&mut self, sap: u32) -> Frag {
        let is_8023 = self.ieee8023();
        let sap = self.llc_sap(sap);
        self.g.and(is_8023, sap)
    }

    /// An OSI packet (LLC SAP 0xfe) with this network-layer protocol
    /// identifier, the first byte after the 3-byte LLC header.
    fn iso_nlpid(&mut self, nlpid: u32, col: usize) -> Result<Frag, ExprError> {
        let frelay = matches!(
            self.link.other_protocols(),
            Some((OtherProtocols::Frelay, ..))
        );
        if frelay && !self.ppp_inner {
            // Frame Relay: Q.922's UI control byte, then the NLPID.
            return Ok(self.cmp(op::H, self.off_linkhdr + 2, 0x0300 | nlpid));
        }
        let iso = self.linktype(LLCSAP_ISONS, col)?;
        // Cisco HDLC puts a fudge byte before OSI packets.
        let fudge = u32::from(self.link == LinkType::CHdlc && !self.ppp_inner);
        let id = self.cmp(op::B, self.off_nosnap() + fudge, nlpid);
        Ok(self.g.and(iso, id))
    }

    /// `llc [TYPE]`: an 802.2 LLC frame, of the frame type named by its
    /// control field. On Ethernet an 802.3 frame that is not Novell's raw
    /// 802.3 (DSAP and SSAP 0xff); on 802.11 a data frame; token ring and
    /// FDDI frames are taken to be LLC, as libpcap takes them.
    fn llc(&mut self, frame: Option<LlcFrame>, col: usize) -> Result<Frag, ExprError> {
        let llc = self.off_llc;
        let f = match self.link {
            _ if self.ppp_inner => None,
            LinkType::Ethernet => {
                let is_8023 = self.ieee8023();
                let raw = self.cmp(op::H, llc, 0xffff);
                let not_raw = self.g.not(raw);
                Some(self.g.and(is_8023, not_raw))
            }
            LinkType::TokenRing | LinkType::Fddi | LinkType::AtmRfc1483 => {
                Some(self.g.constant(true))
            }
            LinkType::SunAtm => Some(self.atm_traffic(ATM_PT_LLC)),
            l if l.is_802_11() => Some(self.data_frame()),
            _ => None,
        };
        let Some(f) = f else {
            let on = if self.ppp_inner {
                "PPP"
            } else {
                self.link.description()
            };
            // libpcap's words.
            return Err(ExprError::semantic(
                col,
                format!("'llc' not supported for {on}"),
            ));
        };
        let control = llc + 2;
        Ok(match frame {
            None => f,
            Some(LlcFrame::Information) => {
                let unnumbered = self.test_at(op::B, control, JSET, 1);
                let info = self.g.not(unnumbered);
                self.g.and(f, info)
            }
            Some(LlcFrame::Control { mask, value }) => {
                let c = self.mcmp(op::B, control, mask, value);
                self.g.and(f, c)
            }
        })
    }

    /// `pppoes [SESSION]`: a PPPoE session frame (and session), after
    /// which the link layer is the PPP packet 6 bytes into the PPPoE
    /// header, as libpcap's gen_pppoes moves its offsets.
    fn pppoes(&mut self, session: Option<u32>, col: usize) -> Result<Frag, ExprError> {
        let mut f = self.linktype(ETHERTYPE_PPPOES, col)?;
        if let Some(session) = session {
            let s = self.mcmp(op::W, self.off_nl, 0xffff, session);
            f = self.g.and(f, s);
        }
        self.off_linkhdr = self.off_nl + 6;
        self.off_linktype = Some(self.off_linkhdr);
        self.off_nl += 8;
        self.ppp_inner = true;
        Ok(f)
    }

    /// `geneve [VNI]` (libpcap's gen_geneve): UDP to port 6081 over IPv4
    /// or IPv6 with a version 0 Geneve header (and the VNI), then code
    /// that finds the encapsulated frame: Ethernet when Geneve's protocol
    /// type is 0x6558, else the network layer at once. From here on tests
    /// apply to that frame, at offsets kept in three scratch registers;
    /// libpcap leaves such programs unoptimised, and so does this.
    fn geneve(&mut self, vni: Option<u32>, col: usize) -> Result<Frag, ExprError> {
        const GENEVE_PORT: u32 = 6081;
        const ETHERTYPE_TEB: u32 = 0x6558;
        let stmt = Insn::stmt;
        // Version 0 (and the VNI), `at` bytes into the transport header.
        let header = |s: &mut Gen, load: &dyn Fn(&mut Gen, u16, u32) -> Stmts| {
            let version = load(s, op::B, 8);
            let version = s.mtest(version, 0xc0, 0);
            match vni {
                Some(v) => {
                    let id = load(s, op::W, 12);
                    let id = s.mtest(id, 0xffff_ff00, v << 8);
                    s.g.and(version, id)
                }
                None => version,
            }
        };
        // IPv4: A and X = the IPv4 header length (plus the variable part
        // of the network offset) for the code below.
        let ip = self.linktype(ETHERTYPE_IP, col)?;
        let udp = self.cmp(op::B, self.off_nl + 9, IPPROTO_UDP);
        let nf = self.not_fragment();
        let dst = self.transport_load(op::H, 2);
        let port = self.g.test(dst, JEQ, GENEVE_PORT);
        let portop = self.and_all(vec![udp, nf, port]);
        let v4 = self.g.and(ip, portop);
        let h4 = header(self, &|s: &mut Gen, size, at| s.transport_load(size, at));
        let v4 = self.g.and(v4, h4);
        let mut len4 = self.loadx_iphdrlen();
        len4.push(stmt(op::MISC | op::TXA, 0));
        let len4 = self.g.test(len4, op::JMP | op::JEQ | op::X, 0);
        let v4 = self.g.and(v4, len4);
        // IPv6: A and X = 40 (plus the variable part).
        let ip6 = self.linktype(ETHERTYPE_IPV6, col)?;
        let udp6 = self.cmp(op::B, self.off_nl + 6, IPPROTO_UDP);
        let port6 = self.cmp(op::H, self.off_nl + 42, GENEVE_PORT);
        let portop6 = self.g.and(udp6, port6);
        let v6 = self.g.and(ip6, portop6);
        let h6 = header(self, &|s: &mut Gen, size, at| {
            s.load_at(size, s.off_nl + 40 + at)
        });
        let v6 = self.g.and(v6, h6);
        let mut len6 = Stmts::new();
        if let Some(v) = self.off_nl.var {
            len6.push(stmt(op::LDX | op::MEM, self.var_reg(v)));
            len6.push(stmt(op::LD | op::IMM, 40));
            len6.push(stmt(op::ALU | op::ADD | op::X, 0));
        } else {
            len6.push(stmt(op::LD | op::IMM, 40));
        }
        len6.push(stmt(op::MISC | op::TAX, 0));
        let len6 = self.g.test(len6, op::JMP | op::JEQ | op::X, 0);
        let v6 = self.g.and(v6, len6);
        let found = self.g.or(v4, v6);

        // The encapsulated frame's offsets, from the network offset's
        // constant part plus A: the protocol type field, the frame (past
        // the options), and its payload (past an Ethernet header when
        // the protocol type is TEB).
        // (libpcap takes the three registers in this order; it refuses
        // here when they run out.)
        let (r_type, r_hdr, r_pl) = (self.regs.alloc()?, self.regs.alloc()?, self.regs.alloc()?);
        let alu = |o: u16, k: u32| stmt(op::ALU | o | op::K, k);
        let offsets = smallvec![
            alu(op::ADD, self.off_nl.k.wrapping_add(8)),
            stmt(op::MISC | op::TAX, 0),
            alu(op::ADD, 2),
            stmt(op::ST, r_type),
            stmt(op::LD | op::B | op::IND, 0),
            alu(op::AND, 0x3f),
            alu(op::MUL, 4),
            alu(op::ADD, 8),
            stmt(op::ALU | op::ADD | op::X, 0),
            stmt(op::ST, r_hdr),
            stmt(op::LD | op::H | op::IND, 2),
            stmt(op::LDX | op::MEM, r_hdr),
        ];
        let ethernet = smallvec![
            stmt(op::MISC | op::TXA, 0),
            alu(op::ADD, 12),
            stmt(op::ST, r_type),
            alu(op::ADD, 2),
            stmt(op::MISC | op::TAX, 0),
        ];
        let done = self.g.test(
            smallvec![stmt(op::STX, r_pl), stmt(op::LD | op::IMM, 0)],
            JEQ,
            0,
        );
        let to_done = Target::Block(done.head);
        let teb = self.g.block(ethernet, Test::Always, to_done, to_done);
        let head = self.g.block(
            offsets,
            Test::Jump {
                code: JEQ,
                k: ETHERTYPE_TEB,
            },
            Target::Block(teb),
            to_done,
        );
        let compute = Frag {
            head,
            t: done.t,
            f: done.f,
        };
        let f = self.g.and(found, compute);

        self.g.unoptimizable = true;
        self.geneve = true;
        self.prev_link = Some(self.link);
        self.link = LinkType::Ethernet;
        self.ppp_inner = false;
        self.off_linkhdr = Off {
            var: Some(Var::Reg(r_hdr)),
            k: 0,
        };
        self.off_linktype = Some(Off {
            var: Some(Var::Reg(r_type)),
            k: 0,
        });
        let pl = Off {
            var: Some(Var::Reg(r_pl)),
            k: 0,
        };
        self.off_llc = pl;
        self.off_nl = pl;
        Ok(f)
    }

    /// `[ip|ip6] protochain N` (libpcap's gen_protochain): a loop over the
    /// IPv6 extension headers (hop-by-hop, destination options, routing,
    /// fragment) and AH, ending at protocol N or at one it cannot pass.
    /// The loop jumps backwards, which Linux refuses: such programs run in
    /// libpcap's dialect ([`crate::cbpf::libpcap`]), unoptimised as libpcap
    /// leaves them.
    fn protochain(&mut self, proto: Proto, v: u32, col: usize) -> Result<Frag, ExprError> {
        // libpcap takes a scratch register on entry and frees it on the
        // way out, but not when it splits into the IPv4 and IPv6 halves.
        let reg = self.regs.alloc()?;
        if proto == Proto::Default {
            let v4 = self.protochain(Proto::Ip, v, col)?;
            let v6 = self.protochain(Proto::Ip6, v, col)?;
            return Ok(self.g.or(v4, v6));
        }
        if self.off_nl.var.is_some() {
            // libpcap's words.
            return Err(ExprError::semantic(
                col,
                "'protochain' not supported with variable length headers",
            ));
        }
        const IPPROTO_HOPOPTS: u32 = 0;
        const IPPROTO_ROUTING: u32 = 43;
        const IPPROTO_FRAGMENT: u32 = 44;
        const IPPROTO_AH: u32 = 51;
        const IPPROTO_NONE: u32 = 59;
        const IPPROTO_DSTOPTS: u32 = 60;
        // (libpcap's unsigned sum: link types whose network layer offset
        // is unset, -1, such as JUNIPER_ES, wrap as its C does.)
        let nl = self.off_nl.k;
        let stmt = Insn::stmt;
        let alu = |o: u16, k: u32| stmt(op::ALU | o | op::K, k);
        // The statement list, with jump targets as indices into it
        // (libpcap's `s[]`), resolved to offsets at the end.
        let mut list: Vec<(Insn, Option<usize>, Option<usize>)> = Vec::new();
        let jeq = |k: u32| Insn::jump(op::JMP | op::JEQ | op::K, k, 0, 0);
        let b0 = if proto == Proto::Ip {
            let b0 = self.linktype(ETHERTYPE_IP, col)?;
            list.push((ld(op::B, nl.wrapping_add(9)), None, None));
            list.push((stmt(op::LDX | op::MSH | op::B, nl), None, None));
            b0
        } else {
            let b0 = self.linktype(ETHERTYPE_IPV6, col)?;
            list.push((ld(op::B, nl.wrapping_add(6)), None, None));
            list.push((stmt(op::LDX | op::IMM, 40), None, None));
            b0
        };
        let again = list.len();
        // The loop's backward `ja` to `again` (libpcap's `again - i - 1`).
        let back_to_again = |list: &mut Vec<(Insn, Option<usize>, Option<usize>)>| {
            let i = list.len();
            let k = (again as u32).wrapping_sub(i as u32 + 1);
            list.push((stmt(op::JMP | op::JA, k), None, None));
        };
        // Found it, or no next header: to the end.
        let found = list.len();
        list.push((jeq(v), None, None));
        let none = list.len();
        list.push((jeq(IPPROTO_NONE), None, None));
        list[found].2 = Some(none);
        let mut fragment = None;
        if proto == Proto::Ip6 {
            // An extension header: the next header is its first byte,
            // its length (8-byte units, less one) its second.
            let starts: Vec<usize> = [IPPROTO_HOPOPTS, IPPROTO_DSTOPTS, IPPROTO_ROUTING]
                .into_iter()
                .map(|p| {
                    list.push((jeq(p), None, None));
                    list.len() - 1
                })
                .collect();
            list[none].2 = Some(starts[0]);
            list[starts[0]].2 = Some(starts[1]);
            list[starts[1]].2 = Some(starts[2]);
            let frag = list.len();
            list.push((jeq(IPPROTO_FRAGMENT), None, None));
            list[starts[2]].2 = Some(frag);
            fragment = Some(frag);
            let advance = list.len();
            list.push((stmt(op::LD | op::IND | op::B, nl), None, None));
            list.push((stmt(op::ST, reg), None, None));
            list.push((
                stmt(op::LD | op::IND | op::B, nl.wrapping_add(1)),
                None,
                None,
            ));
            list.push((alu(op::ADD, 1), None, None));
            list.push((alu(op::MUL, 8), None, None));
            list.push((stmt(op::ALU | op::ADD | op::X, 0), None, None));
            list.push((stmt(op::MISC | op::TAX, 0), None, None));
            list.push((stmt(op::LD | op::MEM, reg), None, None));
            back_to_again(&mut list);
            for j in starts.into_iter().chain([frag]) {
                list[j].1 = Some(advance);
            }
        } else {
            let i = list.len();
            list.push((alu(op::ADD, 0), None, None));
            list[none].2 = Some(i);
        }
        // AH: the next header is its first byte, its length (4-byte units,
        // less two) its second.
        let ah = list.len();
        list.push((jeq(IPPROTO_AH), None, None));
        if let Some(frag) = fragment {
            list[frag].2 = Some(ah);
        }
        list[ah].1 = Some(list.len());
        list.push((stmt(op::MISC | op::TXA, 0), None, None));
        list.push((stmt(op::LD | op::IND | op::B, nl), None, None));
        list.push((stmt(op::ST, reg), None, None));
        list.push((stmt(op::MISC | op::TXA, 0), None, None));
        list.push((alu(op::ADD, 1), None, None));
        list.push((stmt(op::MISC | op::TAX, 0), None, None));
        list.push((stmt(op::LD | op::IND | op::B, nl), None, None));
        list.push((alu(op::ADD, 2), None, None));
        list.push((alu(op::MUL, 4), None, None));
        list.push((stmt(op::MISC | op::TAX, 0), None, None));
        list.push((stmt(op::LD | op::MEM, reg), None, None));
        back_to_again(&mut list);
        let end = list.len();
        list.push((alu(op::ADD, 0), None, None));
        list[none].1 = Some(end);
        list[ah].2 = Some(end);
        list[found].1 = Some(end);
        let stmts = list
            .iter()
            .enumerate()
            .map(|(i, &(insn, jt, jf))| match (jt, jf) {
                (Some(t), Some(f)) => {
                    Insn::jump(insn.code, insn.k, (t - i - 1) as u8, (f - i - 1) as u8)
                }
                _ => insn,
            })
            .collect();
        self.g.unoptimizable = true;
        let b = self.g.test(stmts, JEQ, v);
        self.regs.free(reg);
        Ok(self.g.and(b0, b))
    }

    fn mpls(&mut self, label: Option<u32>, col: usize) -> Result<Frag, ExprError> {
        let on_ppp = self.ppp_inner || self.link == LinkType::Ppp;
        if !on_ppp && !self.link.is_ethernet() && self.link != LinkType::CHdlc {
            // libpcap's words.
            return Err(ExprError::semantic(
                col,
                format!("no MPLS support for {}", self.link.description()),
            ));
        }
        let mut f = if self.mpls_depth > 0 {
            // Not the bottom of the stack yet: the previous S bit is clear
            // (libpcap's `and #1; jeq #0`, a `jset` once optimised).
            self.mcmp(op::B, self.off_nl - 2, 1, 0)
        } else if on_ppp {
            let off = self.off_linktype.unwrap_or(Off::from(0));
            self.cmp(op::H, off, PPP_MPLS_UCAST)
        } else {
            self.linktype(ETHERTYPE_MPLS, col)?
        };
        if let Some(label) = label {
            let l = self.mcmp(op::W, self.off_nl, 0xffff_f000, label << 12);
            f = self.g.and(f, l);
        }
        self.off_nl += 4;
        self.mpls_depth += 1;
        Ok(f)
    }

    // ---- arithmetic relations ----

    /// `lhs REL rhs`, as libpcap's gen_relation writes it: both values
    /// into scratch registers, then `ldx M[rhs]; ld M[lhs]` and a test on
    /// X (`=` as `sub x; jeq #0`). The optimiser makes this what libpcap's
    /// makes it (constants folded, `jeq #k`, `jset`); where libpcap leaves
    /// a program unoptimised (802.11 payloads, `protochain`, `geneve`),
    /// this is the program.
    fn relation(&mut self, rel: RelOp, lhs: &Arith, rhs: &Arith) -> Result<Frag, ExprError> {
        let (code, negate) = match rel {
            RelOp::Eq => (op::JEQ, false),
            RelOp::Ne => (op::JEQ, true),
            RelOp::Gt => (op::JGT, false),
            RelOp::Le => (op::JGT, true),
            RelOp::Ge => (op::JGE, false),
            RelOp::Lt => (op::JGE, true),
        };
        let a0 = self.arith(lhs)?;
        let a1 = self.arith(rhs)?;
        Ok(self.compare(code, negate, a0, a1))
    }

    /// The test `a0 CODE a1` (negated if asked) on two computed values,
    /// after their header checks; their registers are freed.
    fn compare(&mut self, code: u16, negate: bool, a0: Value, a1: Value) -> Frag {
        let mut stmts = a0.stmts;
        stmts.extend(a1.stmts);
        stmts.push(Insn::stmt(op::LDX | op::MEM, a1.reg));
        stmts.push(Insn::stmt(op::LD | op::MEM, a0.reg));
        let test = if code == op::JEQ {
            stmts.push(Insn::stmt(op::ALU | op::SUB | op::X, 0));
            self.g.test(stmts, JEQ, 0)
        } else {
            self.g.test(stmts, op::JMP | code | op::X, 0)
        };
        let test = if negate { self.g.not(test) } else { test };
        self.regs.free(a0.reg);
        self.regs.free(a1.reg);
        let checks = match (a0.checks, a1.checks) {
            (Some(c0), Some(c1)) => Some(self.g.and(c0, c1)),
            (c0, c1) => c0.or(c1),
        };
        match checks {
            Some(c) => self.g.and(c, test),
            None => test,
        }
    }

    /// Code leaving the value of `e` in a scratch register (libpcap's
    /// `struct arth`, from gen_loadi, gen_loadlen, gen_load, gen_neg and
    /// gen_arth), with the header checks its loads need.
    fn arith(&mut self, e: &Arith) -> Result<Value, ExprError> {
        let store = |reg| Insn::stmt(op::ST, reg);
        Ok(match e {
            Arith::Num(k) => {
                let reg = self.regs.alloc()?;
                Value {
                    stmts: smallvec![Insn::stmt(op::LD | op::IMM, *k), store(reg)],
                    reg,
                    checks: None,
                }
            }
            Arith::Len => {
                let reg = self.regs.alloc()?;
                Value {
                    stmts: smallvec![Insn::stmt(op::LD | op::W | op::LEN, 0), store(reg)],
                    reg,
                    checks: None,
                }
            }
            Arith::Neg(a) => {
                let mut v = self.arith(a)?;
                v.stmts.extend([
                    Insn::stmt(op::LD | op::MEM, v.reg),
                    Insn::stmt(op::ALU | op::NEG, 0),
                    store(v.reg),
                ]);
                v
            }
            Arith::Bin(o, a, b) => {
                let mut a0 = self.arith(a)?;
                // The right operand's header checks are dropped, as
                // libpcap's gen_arth drops them (`ip[2:2] + tcp[0] > 5`
                // tests only that the packet is IP).
                let a1 = self.arith(b)?;
                a0.stmts.extend(a1.stmts);
                a0.stmts.extend([
                    Insn::stmt(op::LDX | op::MEM, a1.reg),
                    Insn::stmt(op::LD | op::MEM, a0.reg),
                    Insn::stmt(op::ALU | alu_op(*o) | op::X, 0),
                ]);
                self.regs.free(a0.reg);
                self.regs.free(a1.reg);
                a0.reg = self.regs.alloc()?;
                a0.stmts.push(store(a0.reg));
                a0
            }
            Arith::Load { proto, index, size } => {
                let size = match size {
                    1 => op::B,
                    2 => op::H,
                    _ => op::W,
                };
                self.load(*proto, index, size)?
            }
        })
    }

    /// `proto[index : size]` (libpcap's gen_load): X set to the index
    /// (plus the header's variable offset), an indexed load, the result
    /// stored in a register taken before the index's is freed.
    fn load(&mut self, proto: Proto, index: &Arith, size: u16) -> Result<Value, ExprError> {
        let col = 1;
        let mut v = self.arith(index)?;
        let reg = self.regs.alloc()?;
        self.regs.free(v.reg);
        let ind = |k| Insn::stmt(op::LD | size | op::IND, k);
        match proto {
            Proto::Radio => {
                if !matches!(
                    self.link,
                    LinkType::Ieee80211Radio | LinkType::Ieee80211RadioAvs | LinkType::PrismHeader
                ) {
                    // libpcap's words.
                    return Err(ExprError::semantic(
                        col,
                        "radio information not present in capture",
                    ));
                }
                // The radio header starts the packet.
                v.stmts.push(Insn::stmt(op::LDX | op::MEM, v.reg));
                v.stmts.push(ind(0));
            }
            Proto::Link | Proto::Default => {
                let base = self.off_linkhdr;
                self.index_into_x(&mut v, base);
                v.stmts.push(ind(base.k));
            }
            Proto::Icmp6 => {
                // The checks first (libpcap's order, which decides which
                // register a variable offset gets).
                let ip6 = self.linktype(ETHERTYPE_IPV6, col)?;
                let ip6 = self.and_checks(v.checks, ip6);
                let icmp6 = self.cmp(op::B, self.off_nl + 6, IPPROTO_ICMPV6);
                v.checks = Some(self.g.and(ip6, icmp6));
                let base = self.off_nl + 40;
                self.index_into_x(&mut v, base);
                v.stmts.push(ind(base.k));
            }
            p if is_transport(p) => {
                // X = the IPv4 header's length; then `ld M[index]; add x;
                // tax; ld [x + nl]`. libpcap's statement phase makes a
                // constant index `ld [x + nl + k]` (`fold_transport_index`
                // in the optimiser), not before.
                let hdrlen = self.loadx_iphdrlen();
                v.stmts.extend(hdrlen);
                v.stmts.extend([
                    Insn::stmt(op::LD | op::MEM, v.reg),
                    Insn::stmt(op::ALU | op::ADD | op::X, 0),
                    Insn::stmt(op::MISC | op::TAX, 0),
                    ind(self.off_nl.k),
                ]);
                let is_proto = self.abbrev(p, col)?;
                let first_fragment = self.not_fragment();
                let b = self.g.and(is_proto, first_fragment);
                let b = self.and_checks(v.checks, b);
                let ip = self.linktype(ETHERTYPE_IP, col)?;
                v.checks = Some(self.g.and(ip, b));
            }
            _ => {
                let base = self.off_nl;
                self.index_into_x(&mut v, base);
                v.stmts.push(ind(base.k));
                let ethertype = match proto {
                    Proto::Ip => ETHERTYPE_IP,
                    Proto::Ip6 => ETHERTYPE_IPV6,
                    Proto::Arp => ETHERTYPE_ARP,
                    Proto::Rarp => ETHERTYPE_RARP,
                    Proto::Decnet => ETHERTYPE_DN,
                    Proto::LoadOnly(ethertype) => ethertype,
                    _ => {
                        return Err(ExprError::semantic(col, "unsupported index operation"));
                    }
                };
                let is_proto = self.linktype(ethertype, col)?;
                v.checks = Some(self.and_checks(v.checks, is_proto));
            }
        }
        v.reg = reg;
        v.stmts.push(Insn::stmt(op::ST, reg));
        Ok(v)
    }

    /// X = the index in `v`'s register, plus `base`'s variable part if it
    /// has one.
    fn index_into_x(&mut self, v: &mut Value, base: Off) {
        match base.var {
            Some(var) => {
                let r = self.var_reg(var);
                v.stmts.extend([
                    Insn::stmt(op::LDX | op::MEM, r),
                    Insn::stmt(op::LD | op::MEM, v.reg),
                    Insn::stmt(op::ALU | op::ADD | op::X, 0),
                    Insn::stmt(op::MISC | op::TAX, 0),
                ]);
            }
            None => v.stmts.push(Insn::stmt(op::LDX | op::MEM, v.reg)),
        }
    }

    /// `earlier and f`, or `f` when there is nothing earlier.
    fn and_checks(&mut self, earlier: Option<Frag>, f: Frag) -> Frag {
        match earlier {
            Some(e) => self.g.and(e, f),
            None => f,
        }
    }
}

/// A value in a scratch register (libpcap's `struct arth`): the code that
/// computes it, the register, and the header checks its loads need.
struct Value {
    stmts: Stmts,
    reg: u32,
    checks: Option<Frag>,
}

/// 802.2 SAPs libpcap treats specially on Ethernet.
const LLCSAP_IP: u32 = 0x06;
const LLCSAP_NETBEUI: u32 = 0xf0;
const LLCSAP_ISONS: u32 = 0xfe;
const LLCSAP_IPX: u32 = 0xe0;
/// IS-IS's network-layer protocol identifier (ISO 9577).
const ISO9577_ISIS: u32 = 0x83;
const ISO8473_CLNP: u32 = 0x81;
const ISO9542_ESIS: u32 = 0x82;

/// DECnet's ethertype.
const ETHERTYPE_DN: u32 = 0x6003;

/// PPPoE ethertypes: discovery and session stages.
const ETHERTYPE_PPPOED: u32 = 0x8863;
const ETHERTYPE_PPPOES: u32 = 0x8864;
/// PPP's protocol number for MPLS unicast.
const PPP_MPLS_UCAST: u32 = 0x0281;

/// PPP protocol numbers: IP, and BSD/OS's Van Jacobson compressed and
/// uncompressed TCP.
const PPP_IP: u32 = 0x0021;
const PPP_VJC: u32 = 0x002d;
const PPP_VJNC: u32 = 0x002f;

/// The PPP protocol number for an ethertype or SAP, as libpcap maps them
/// (`ethertype_to_ppptype`); others are compared as they are.
fn ethertype_to_ppp(ethertype: u32) -> u32 {
    match ethertype {
        ETHERTYPE_IP => PPP_IP,
        ETHERTYPE_IPV6 => 0x0057,
        ETHERTYPE_DN => 0x0027,
        ETHERTYPE_ATALK => 0x0029,
        0x0600 => 0x0025, // Xerox NS IDP
        LLCSAP_ISONS => 0x0023,
        0x42 => 0x0031, // 802.1D spanning tree: bridging PDU
        LLCSAP_IPX => 0x002b,
        other => other,
    }
}

/// Protocols whose `proto[…]` loads index past the IPv4 header.
fn is_transport(p: Proto) -> bool {
    matches!(
        p,
        Proto::Tcp
            | Proto::Udp
            | Proto::Icmp
            | Proto::Sctp
            | Proto::Igmp
            | Proto::Vrrp
            | Proto::Carp
            | Proto::Igrp
            | Proto::Pim
    )
}

fn transport_number(p: Proto) -> u32 {
    match p {
        Proto::Tcp => IPPROTO_TCP,
        Proto::Udp => IPPROTO_UDP,
        Proto::Sctp => IPPROTO_SCTP,
        Proto::Icmp => 1,
        Proto::Igmp => 2,
        Proto::Vrrp | Proto::Carp => 112,
        Proto::Igrp => 9,
        Proto::Pim => 103,
        _ => 0,
    }
}

fn alu_op(o: ArithOp) -> u16 {
    match o {
        ArithOp::Add => op::ADD,
        ArithOp::Sub => op::SUB,
        ArithOp::Mul => op::MUL,
        ArithOp::Div => op::DIV,
        ArithOp::Mod => op::MOD,
        ArithOp::And => op::AND,
        ArithOp::Or => op::OR,
        ArithOp::Xor => op::XOR,
        ArithOp::Shl => op::LSH,
        ArithOp::Shr => op::RSH,
    }
}

/// Why libpcap refuses `lhs OP rhs` as it generates it (gen_arth): it
/// looks only at the first statement of the right operand's code, so a
/// right operand whose leftmost number is 0 (`/ 0`, `/ (0 + 1)`,
/// `% tcp[0]`) is a division by zero, and one above 31 a long shift.
/// Constants computed otherwise are refused by the optimiser as it folds
/// them, and not at all in programs libpcap leaves unoptimised.
pub fn operator_refused(o: ArithOp, rhs: &Arith) -> Option<&'static str> {
    let mut first = rhs;
    let k = loop {
        match first {
            Arith::Num(k) => break *k,
            Arith::Len => return None,
            Arith::Neg(a) | Arith::Bin(_, a, _) => first = a,
            Arith::Load { index, .. } => first = index,
        }
    };
    match o {
        ArithOp::Div if k == 0 => Some("division by zero"),
        ArithOp::Mod if k == 0 => Some("modulus by zero"),
        ArithOp::Shl | ArithOp::Shr if k > 31 => Some("shift by more than 31 bits"),
        _ => None,
    }
}
