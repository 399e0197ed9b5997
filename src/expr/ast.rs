//! The syntax tree of a pcap-filter expression.

/// A boolean expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Both hold (left evaluated first).
    And(Box<Node>, Box<Node>),
    /// Either holds (left evaluated first).
    Or(Box<Node>, Box<Node>),
    /// Negation.
    Not(Box<Node>),
    /// A primitive, with the column it starts at.
    Prim(Prim, usize),
    /// An arithmetic relation.
    Rel {
        /// The comparison.
        op: RelOp,
        /// Left operand.
        lhs: Arith,
        /// Right operand.
        rhs: Arith,
    },
}

impl Drop for Node {
    /// Drops `and`/`or` chains without recursing along them: a long
    /// chain parses into a left-deep tree as deep as it is long.
    fn drop(&mut self) {
        let mut stack = Vec::new();
        if let Node::And(l, r) | Node::Or(l, r) = self {
            stack.push(std::mem::replace(&mut **l, Node::Prim(Prim::Less(0), 0)));
            stack.push(std::mem::replace(&mut **r, Node::Prim(Prim::Less(0), 0)));
        }
        while let Some(mut n) = stack.pop() {
            if let Node::And(l, r) | Node::Or(l, r) = &mut n {
                stack.push(std::mem::replace(&mut **l, Node::Prim(Prim::Less(0), 0)));
                stack.push(std::mem::replace(&mut **r, Node::Prim(Prim::Less(0), 0)));
            }
        }
    }
}

/// A comparison between two arithmetic values (unsigned 32-bit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelOp {
    /// `=` / `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// An arithmetic binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `&`
    And,
    /// `|`
    Or,
    /// `^`
    Xor,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
}

/// An arithmetic expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arith {
    /// A constant.
    Num(u32),
    /// The packet length (`len`).
    Len,
    /// `proto[index : size]`: packet bytes relative to a protocol header.
    Load {
        /// The header the index is relative to.
        proto: Proto,
        /// The byte offset.
        index: Box<Arith>,
        /// 1, 2 or 4 bytes.
        size: u32,
    },
    /// A binary operation.
    Bin(ArithOp, Box<Arith>, Box<Arith>),
    /// Unary minus (two's complement).
    Neg(Box<Arith>),
}

/// A protocol qualifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// No protocol named.
    Default,
    /// `ether` / `link` (also `fddi`, `tr`, `wlan`, `ppp`, `slip`).
    Link,
    /// `ip`
    Ip,
    /// `ip6`
    Ip6,
    /// `arp`
    Arp,
    /// `rarp`
    Rarp,
    /// `tcp`
    Tcp,
    /// `udp`
    Udp,
    /// `icmp`
    Icmp,
    /// `icmp6`
    Icmp6,
    /// `sctp`
    Sctp,
    /// `igmp`
    Igmp,
    /// `vrrp`
    Vrrp,
    /// `carp` (IPv4 protocol 112, as `vrrp`)
    Carp,
    /// `igrp` (IPv4 protocol 9)
    Igrp,
    /// `pim` (IPv4 or IPv6 protocol 103)
    Pim,
    /// `decnet` (ethertype 0x6003)
    Decnet,
    /// `iso`, only as the protocol of `iso proto N` (and values implied
    /// after it: `iso proto 0x81 or 0x82`).
    Iso,
    /// `isis`, only as the protocol of `isis proto N` (and implied values).
    Isis,
    /// `atalk`, `sca`, `lat`, `moprc`, `mopdl`, only as the header of a
    /// load (`atalk[0]`): the network layer of that ethertype.
    LoadOnly(u32),
    /// `radio[…]`: the radio header (radiotap, AVS, Prism) from the
    /// start of the packet.
    Radio,
}

/// A direction qualifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// None given: source or destination.
    Default,
    /// `src`
    Src,
    /// `dst`
    Dst,
    /// `src or dst`
    SrcOrDst,
    /// `src and dst`
    SrcAndDst,
    /// An 802.11 address field: `ra`, `ta`, `addr1`…`addr4`.
    Wlan(WlanAddr),
}

/// An 802.11 address qualifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WlanAddr {
    /// `addr1` / `address1`: the first address field.
    Addr1,
    /// `addr2` / `address2`: the second, absent from CTS and ACK frames.
    Addr2,
    /// `addr3` / `address3`: the third, absent from control frames.
    Addr3,
    /// `addr4` / `address4`: the fourth, only between access points.
    Addr4,
    /// `ra`: the receiver address (addr1 outside management frames).
    Ra,
    /// `ta`: the transmitter address (addr2 outside management frames).
    Ta,
}

impl WlanAddr {
    /// The qualifier a word names.
    pub fn from_word(word: &str) -> Option<WlanAddr> {
        Some(match word {
            "addr1" | "address1" => WlanAddr::Addr1,
            "addr2" | "address2" => WlanAddr::Addr2,
            "addr3" | "address3" => WlanAddr::Addr3,
            "addr4" | "address4" => WlanAddr::Addr4,
            "ra" => WlanAddr::Ra,
            "ta" => WlanAddr::Ta,
            _ => return None,
        })
    }

    /// libpcap's way of naming the qualifier as a sentence's subject:
    /// "'ra' is", "'addr1' and 'address1' are".
    pub fn subject(self) -> &'static str {
        match self {
            WlanAddr::Addr1 => "'addr1' and 'address1' are",
            WlanAddr::Addr2 => "'addr2' and 'address2' are",
            WlanAddr::Addr3 => "'addr3' and 'address3' are",
            WlanAddr::Addr4 => "'addr4' and 'address4' are",
            WlanAddr::Ra => "'ra' is",
            WlanAddr::Ta => "'ta' is",
        }
    }

    /// libpcap's refusal of the qualifier for `what` (ports, IP
    /// addresses, …).
    pub fn not_valid_for(self, what: &str) -> String {
        let subject = self.subject();
        match subject.strip_suffix(" is") {
            Some(one) => format!("{one} is not a valid qualifier for {what}"),
            None => format!("{subject} not valid qualifiers for {what}"),
        }
    }
}

/// An address operand of `host` / `net`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Addr {
    /// IPv4 address and network mask (all ones for a host).
    V4 {
        /// The address.
        addr: u32,
        /// The mask.
        mask: u32,
    },
    /// IPv6 address and prefix length.
    V6 {
        /// The address.
        addr: [u8; 16],
        /// Prefix length, 0..=128.
        prefix: u32,
    },
    /// A MAC address.
    Mac([u8; 6]),
    /// A DECnet address: area (6 bits) and node (10 bits).
    Decnet(u16),
    /// An ARCnet station (`$HH`), as libpcap reads it: its parser takes
    /// the `$` for a hex digit, so `$0e` is 0xd0 and `$e` 0xde.
    Arcnet(u8),
}

/// The frame type `llc TYPE` names: by its control field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LlcFrame {
    /// `i`: information frames (control bit 0 clear).
    Information,
    /// `s`, `u`, or a named subtype: the control field under `mask` is
    /// `value`.
    Control {
        /// The bits that identify the type.
        mask: u32,
        /// Their value.
        value: u32,
    },
}

/// A primitive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prim {
    /// `[proto] [dir] host|net ADDR`.
    Addr {
        /// Protocol qualifier.
        proto: Proto,
        /// Direction qualifier.
        dir: Dir,
        /// The address or network.
        addr: Addr,
    },
    /// `[proto] [dir] port N` and `portrange LO-HI`.
    Port {
        /// Protocol qualifier (tcp, udp, sctp or none).
        proto: Proto,
        /// Direction qualifier.
        dir: Dir,
        /// Lowest port.
        lo: u16,
        /// Highest port.
        hi: u16,
        /// Written as `portrange` (compiled as a range test even if lo == hi).
        range: bool,
    },
    /// `ether proto N`, `ip proto N`, `ip6 proto N`, `proto N`.
    ProtoNum {
        /// Which header's protocol field.
        proto: Proto,
        /// The protocol number.
        num: u32,
    },
    /// A protocol name alone: `ip`, `tcp`, `arp`, ….
    Abbrev(Proto),
    /// `[ether|ip] broadcast`.
    Broadcast(Proto),
    /// `[ether|ip|ip6] multicast`.
    Multicast(Proto),
    /// `less N`: length <= N.
    Less(u32),
    /// `greater N`: length >= N.
    Greater(u32),
    /// `vlan [ID]`.
    Vlan(Option<u32>),
    /// `mpls [LABEL]`.
    Mpls(Option<u32>),
    /// `llc [TYPE]`: an 802.2 LLC frame (not Novell's raw 802.3), and
    /// of that frame type when one is named.
    Llc(Option<LlcFrame>),
    /// An OSI packet (802.2 SAP 0xfe) whose network-layer protocol
    /// identifier is this: `iso proto N`, `clnp`, `esis`, `isis`.
    IsoNlpid(u32),
    /// An IS-IS packet of this PDU type: `isis proto N`, and the PDU
    /// groups `l1`, `l2`, `iih`, `lsp`, `snp`, `csnp`, `psnp`.
    IsisPdu(u32),
    /// `pppoed`: a PPPoE discovery frame.
    Pppoed,
    /// `pppoes [SESSION]`: a PPPoE session frame; what follows in the
    /// expression is about the PPP packet inside.
    Pppoes(Option<u32>),
    /// `[ip|ip6] protochain N`: protocol N is in the IPv4 (or IPv6)
    /// header chain, found by walking the extension headers in a loop.
    Protochain {
        /// `Ip`, `Ip6`, or `Default` for either.
        proto: Proto,
        /// The protocol number.
        num: u32,
    },
    /// `geneve [VNI]`: a Geneve packet (UDP port 6081, version 0), after
    /// which tests apply to the encapsulated frame.
    Geneve(Option<u32>),
    /// `outbound` (true) or `inbound` (false): the packet's direction.
    Outbound(bool),
    /// `ifindex N`: captured on the interface with this index.
    IfIndex(u32),
    /// `type T [subtype S]` / `subtype S`: the 802.11 frame control's
    /// first byte under `mask` is `value`.
    WlanType {
        /// The type (and subtype) bits.
        value: u32,
        /// 0x0c for a type, 0xfc with a subtype.
        mask: u32,
    },
    /// `dir D`: the 802.11 To DS / From DS bits are `D`.
    WlanDir(u32),
    /// A pflog header field (OpenBSD pf's log): `ifname`/`on NAME`,
    /// `ruleset`/`rset NAME`, `rnr`/`rulenum N`, `srnr`/`subrulenum N`,
    /// `reason R`, `action A`.
    Pf(PfTest),
    /// An SS7 MTP2 signal unit type by its length indicator: `fisu`,
    /// `lssu`, `msu`, and the high-speed-link `hfisu`, `hlssu`, `hmsu`.
    Mtp2Type {
        /// The high-speed-link form (12-bit indicator).
        high_speed: bool,
        /// 0 FISU, 1 LSSU, 2 MSU.
        kind: u8,
    },
    /// A header field compared with a value: SS7 MTP3's `sio`, `opc`,
    /// `dpc`, `sls` (and `h…` forms), Sun raw ATM's `vpi` and `vci`.
    HeaderField {
        /// The field's name as written (`sio`, `hopc`, `vpi`, …).
        field: &'static str,
        /// `JEQ`, `JGT` or `JGE`.
        code: u16,
        /// `<=`, `<`, `!=`: libpcap negates the first two (and, its bug,
        /// not `!=`).
        reverse: bool,
        /// The value.
        value: u32,
    },
    /// An ATM abbreviation on Sun raw ATM (`lane`, `metac`, `oam`, …).
    Atm(AtmAbbrev),
    /// `byte OFFSET OP VALUE`: a byte of the link-layer header.
    Byte {
        /// Offset from the start of the packet.
        offset: u32,
        /// The comparison.
        op: ByteOp,
        /// The operand.
        value: u32,
    },
}

/// ATM circuit, traffic and signalling abbreviations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AtmAbbrev {
    /// LAN Emulation traffic; later tests see its Ethernet frame.
    Lane,
    /// The meta signalling circuit (VPI 0, VCI 1).
    Metac,
    /// The broadcast circuit (VPI 0, VCI 2).
    Bcc,
    /// The segment OAM F4 circuit (VPI 0, VCI 3).
    Oamf4sc,
    /// The end-to-end OAM F4 circuit (VPI 0, VCI 4).
    Oamf4ec,
    /// The signalling circuit (VPI 0, VCI 5).
    Sc,
    /// The ILMI circuit (VPI 0, VCI 16).
    Ilmic,
    /// OAM F4 cells, segment or end-to-end (`oam`).
    Oam,
    /// The same cells as `oam` (`oamf4`).
    Oamf4,
    /// Q.2931 call set-up and release messages on the signalling circuit.
    Connectmsg,
    /// The same messages but Connect Ack, on the meta signalling circuit.
    Metaconnect,
}

impl AtmAbbrev {
    /// The abbreviation named by `word`.
    pub fn from_word(word: &str) -> Option<AtmAbbrev> {
        Some(match word {
            "lane" => AtmAbbrev::Lane,
            "metac" => AtmAbbrev::Metac,
            "bcc" => AtmAbbrev::Bcc,
            "oamf4sc" => AtmAbbrev::Oamf4sc,
            "oamf4ec" => AtmAbbrev::Oamf4ec,
            "sc" => AtmAbbrev::Sc,
            "ilmic" => AtmAbbrev::Ilmic,
            "oam" => AtmAbbrev::Oam,
            "oamf4" => AtmAbbrev::Oamf4,
            "connectmsg" => AtmAbbrev::Connectmsg,
            "metaconnect" => AtmAbbrev::Metaconnect,
            _ => return None,
        })
    }

    /// The word libpcap's refusal names (`oam4sc`/`oam4ec` for the OAM F4
    /// circuits, as libpcap spells them there).
    pub fn libpcap_word(self) -> &'static str {
        match self {
            AtmAbbrev::Lane => "lane",
            AtmAbbrev::Metac => "metac",
            AtmAbbrev::Bcc => "bcc",
            AtmAbbrev::Oamf4sc => "oam4sc",
            AtmAbbrev::Oamf4ec => "oam4ec",
            AtmAbbrev::Sc => "sc",
            AtmAbbrev::Ilmic => "ilmic",
            AtmAbbrev::Oam => "oam",
            AtmAbbrev::Oamf4 => "oamf4",
            AtmAbbrev::Connectmsg => "connectmsg",
            AtmAbbrev::Metaconnect => "metaconnect",
        }
    }
}

/// A test of the pflog header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PfTest {
    /// The interface name starts with these bytes.
    Ifname(String),
    /// The ruleset name starts with these bytes.
    Ruleset(String),
    /// The rule number.
    Rnr(u32),
    /// The subrule number.
    Srnr(u32),
    /// The reason code.
    Reason(u32),
    /// The action code.
    Action(u32),
}

/// The operator of the `byte` primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteOp {
    /// `=` / `==`
    Eq,
    /// `<`
    Lt,
    /// `>`
    Gt,
    /// `&`: libpcap tests `A & VALUE != 0` without loading the byte.
    And,
    /// `|`: libpcap tests `A | VALUE != 0` without loading the byte.
    Or,
}
