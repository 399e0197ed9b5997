//! Parser for pcap-filter expressions: tokens → [`Node`] tree.
//!
//! Follows libpcap's grammar: `and` and `or` have equal precedence and
//! group left to right, `not` binds tightest, and a bare value after
//! `and`/`or`/`not` reuses the qualifiers of the primitive before it
//! (`host 1.2.3.4 or 5.6.7.8`). In arithmetic, `^` has no precedence in
//! libpcap's yacc grammar, so yacc's default (shift) makes it take
//! everything to its right: `a + b ^ c * d` is `a + (b ^ (c * d))`.

use std::collections::HashSet;
use std::net::Ipv6Addr;
use std::sync::LazyLock;

pub use super::address::parse_number;
use super::address::{malformed_number_or_address, parse_ipv4, parse_mac};
pub use super::ast::{
    Addr, Arith, ArithOp, AtmAbbrev, ByteOp, Dir, LlcFrame, Node, PfTest, Prim, Proto, RelOp,
    WlanAddr,
};
use super::lexer::{tokenize, Tok, Token};
use super::names::{self, ServiceProto};
use super::ExprError;
use crate::cbpf::insn::op;

/// The kind qualifier of a primitive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Default,
    Host,
    Net,
    Port,
    PortRange,
    Proto,
    Protochain,
}

/// Qualifiers remembered for juxtaposed values.
#[derive(Clone, Copy, Debug)]
struct Quals {
    proto: Proto,
    dir: Dir,
    kind: Kind,
}

/// Keywords that can never be a bare value.
const KEYWORDS: &str = "\
    and or not host net mask port portrange proto src dst ether link fddi tr wlan ip ip6 \
    arp rarp tcp udp icmp icmp6 sctp igmp vrrp carp igrp pim ppp slip broadcast multicast less greater len vlan \
    length mpls gateway byte inbound outbound ifindex pppoed pppoes decnet llc stp netbeui iso clnp esis es-is isis is-is \
    l1 l2 iih lsp snp csnp psnp atalk aarp ipx lat sca moprc mopdl ah esp protochain";

/// Keywords of narrower link types (802.11, SS7): suggested for a
/// misspelling only when no common keyword is as close.
const LINK_KEYWORDS: &str = "\
    type subtype dir direction ra ta addr1 addr2 addr3 addr4 address1 address2 address3 address4 \
    ifname on rnr rulenum reason rset ruleset srnr subrulenum action fisu lssu lsu msu hfisu hlssu hmsu sio opc dpc sls hsio hopc hdpc hsls \
    vpi vci lane oamf4 oamf4ec oamf4sc oam metac bcc sc ilmic connectmsg metaconnect";

/// pcap-filter keywords we recognise but do not compile.
const UNSUPPORTED: &str = "\
    gateway";

/// "; did you mean 'tcp'?" when `word` is one edit (two for longer
/// words) from a keyword; supported keywords are preferred.
pub fn did_you_mean(word: &str) -> String {
    let lower = word.to_ascii_lowercase();
    let closest = |words: &'static str| {
        words
            .split_whitespace()
            .map(|k| (edit_distance(&lower, k), k))
            .filter(|&(d, k)| d > 0 && d <= if k.len() > 4 { 2 } else { 1 })
            .min()
    };
    closest(KEYWORDS)
        .or_else(|| closest(LINK_KEYWORDS))
        .or_else(|| closest(UNSUPPORTED))
        .map_or_else(String::new, |(_, k)| format!("; did you mean '{k}'?"))
}

/// Edit distance between two short ASCII words, counting a swap of two
/// adjacent letters (`tpc` for `tcp`) as one edit.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// A DECnet address as libpcap reads one: `AREA.NODE` (leading decimal
/// digits of each part, as `sscanf("%d.%d")`; the node keeps 10 bits, the
/// sum 16) or a plain number (its low 16 bits).
fn parse_decnet(text: &str) -> Option<u16> {
    fn leading(s: &str) -> Option<(u32, &str)> {
        let digits = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        s[..digits].parse::<u32>().ok().map(|v| (v, &s[digits..]))
    }
    if text.contains('.') {
        let (area, rest) = leading(text)?;
        let (node, _) = leading(rest.strip_prefix('.')?)?;
        Some(((area << 10) | (node & 0x3ff)) as u16)
    } else {
        parse_number(text).map(|v| v as u16)
    }
}

/// The frame type an `llc TYPE` word names (libpcap's llc.h values).
fn llc_frame(word: &str) -> Option<LlcFrame> {
    let control = |mask, value| Some(LlcFrame::Control { mask, value });
    match word {
        "i" => Some(LlcFrame::Information),
        "s" => control(0x03, 0x01),
        "u" => control(0x03, 0x03),
        "rr" => control(0x0f, 0x01),
        "rnr" => control(0x0f, 0x05),
        "rej" => control(0x0f, 0x09),
        "ui" => control(0xef, 0x03),
        "ua" => control(0xef, 0x63),
        "disc" => control(0xef, 0x43),
        "dm" => control(0xef, 0x0f),
        "sabme" => control(0xef, 0x6f),
        "test" => control(0xef, 0xe3),
        "xid" => control(0xef, 0xaf),
        "frmr" => control(0xef, 0x87),
        _ => None,
    }
}

/// pf's log reasons and actions by name (libpcap's tables as built on
/// Linux).
const PF_REASONS: &[(&str, u32)] = &[
    ("match", 0),
    ("bad-offset", 1),
    ("fragment", 2),
    ("short", 3),
    ("normalize", 4),
    ("memory", 5),
    ("bad-timestamp", 6),
    ("congestion", 7),
    ("ip-option", 8),
    ("proto-cksum", 9),
    ("state-mismatch", 10),
    ("state-insert", 11),
    ("state-limit", 12),
    ("src-limit", 13),
    ("synproxy", 14),
];
const PF_ACTIONS: &[(&str, u32)] = &[
    ("pass", 0),
    ("accept", 0),
    ("drop", 1),
    ("block", 1),
    ("scrub", 2),
    ("noscrub", 3),
    ("nat", 4),
    ("nonat", 5),
    ("binat", 6),
    ("nobinat", 7),
    ("rdr", 8),
    ("nordr", 9),
    ("synproxy-drop", 10),
];

fn pf_code(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, v)| v)
}

/// 802.11 frame types by name (libpcap's grammar).
fn wlan_type(name: &str) -> Option<u32> {
    match name {
        "data" => Some(0x08),
        "mgt" | "management" => Some(0x00),
        "ctl" | "control" => Some(0x04),
        _ => None,
    }
}

/// 802.11 subtype names per frame type, in libpcap's order of search.
const WLAN_SUBTYPES: [(u32, &[(&str, u32)]); 3] = [
    (
        0x00,
        &[
            ("assocreq", 0x00),
            ("assoc-req", 0x00),
            ("assocresp", 0x10),
            ("assoc-resp", 0x10),
            ("reassocreq", 0x20),
            ("reassoc-req", 0x20),
            ("reassocresp", 0x30),
            ("reassoc-resp", 0x30),
            ("probereq", 0x40),
            ("probe-req", 0x40),
            ("proberesp", 0x50),
            ("probe-resp", 0x50),
            ("beacon", 0x80),
            ("atim", 0x90),
            ("disassoc", 0xa0),
            ("disassociation", 0xa0),
            ("auth", 0xb0),
            ("authentication", 0xb0),
            ("deauth", 0xc0),
            ("deauthentication", 0xc0),
        ],
    ),
    (
        0x04,
        &[
            ("ps-poll", 0xa0),
            ("rts", 0xb0),
            ("cts", 0xc0),
            ("ack", 0xd0),
            ("cf-end", 0xe0),
            ("cf-end-ack", 0xf0),
        ],
    ),
    (
        0x08,
        &[
            ("data", 0x00),
            ("data-cf-ack", 0x10),
            ("data-cf-poll", 0x20),
            ("data-cf-ack-poll", 0x30),
            ("null", 0x40),
            ("cf-ack", 0x50),
            ("cf-poll", 0x60),
            ("cf-ack-poll", 0x70),
            ("qos-data", 0x80),
            ("qos-data-cf-ack", 0x90),
            ("qos-data-cf-poll", 0xa0),
            ("qos-data-cf-ack-poll", 0xb0),
            ("qos", 0xc0),
            ("qos-cf-poll", 0xe0),
            ("qos-cf-ack-poll", 0xf0),
        ],
    ),
];

fn wlan_name(names: &[(&str, u32)], name: &str) -> Option<u32> {
    names.iter().find(|(n, _)| *n == name).map(|&(_, v)| v)
}

fn is_keyword(word: &str) -> bool {
    // Asked for most words of every expression: split the lists once.
    static ALL: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
        KEYWORDS
            .split_whitespace()
            .chain(LINK_KEYWORDS.split_whitespace())
            .collect()
    });
    ALL.contains(word)
}

fn proto_keyword(word: &str) -> Option<Proto> {
    Some(match word {
        // libpcap's scanner reads all of these as its LINK token.
        "ether" | "link" | "fddi" | "tr" | "wlan" | "ppp" | "slip" => Proto::Link,
        "ip" => Proto::Ip,
        "ip6" => Proto::Ip6,
        "arp" => Proto::Arp,
        "rarp" => Proto::Rarp,
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "icmp" => Proto::Icmp,
        "icmp6" => Proto::Icmp6,
        "sctp" => Proto::Sctp,
        "igmp" => Proto::Igmp,
        "vrrp" => Proto::Vrrp,
        "carp" => Proto::Carp,
        "igrp" => Proto::Igrp,
        "pim" => Proto::Pim,
        "decnet" => Proto::Decnet,
        _ => return None,
    })
}

/// The headers a load may index besides the qualifier protocols:
/// `atalk[…]`, `sca[…]`, `lat[…]`, `moprc[…]`, `mopdl[…]`, `radio[…]`.
fn load_keyword(word: &str) -> Option<Proto> {
    if let Some(p) = proto_keyword(word) {
        return Some(p);
    }
    Some(match word {
        "atalk" => Proto::LoadOnly(0x809b),
        "sca" => Proto::LoadOnly(0x6007),
        "lat" => Proto::LoadOnly(0x6004),
        "moprc" => Proto::LoadOnly(0x6002),
        "mopdl" => Proto::LoadOnly(0x6001),
        "radio" => Proto::Radio,
        _ => return None,
    })
}

/// How deeply the parser may recurse: parentheses, `not`, unary minus,
/// `proto[...]` indexes and right-nested arithmetic each take a level
/// (parenthesised arithmetic takes two). libpcap's limit is its parser's
/// stack (10,000 entries, "memory exhausted"); ours is lower so that
/// parsing, code generation and dropping the tree stay well inside a
/// 2 MiB thread stack. Real filters nest a few levels.
pub const MAX_NESTING: usize = 1000;

/// Parses an expression into a tree.
pub fn parse(text: &str) -> Result<Node, ExprError> {
    let tokens = tokenize(text)?;
    let end_col = text.chars().count() + 1;
    let mut p = Parser {
        tokens,
        pos: 0,
        end_col,
        last: None,
        depth: 0,
    };
    if p.tokens.is_empty() {
        return Err(ExprError::syntax(
            1,
            "expected an expression, found nothing",
        ));
    }
    let node = p.expr()?;
    match p.peek() {
        None => Ok(node),
        Some(t) => Err(ExprError::syntax(
            t.col,
            format!(
                "expected 'and', 'or' or the end, found {}",
                describe(&t.tok)
            ),
        )),
    }
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Word(w) => format!("'{w}'"),
        Tok::Escaped(w) => format!("'\\{w}'"),
        Tok::Punct(p) => format!("'{p}'"),
    }
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end_col: usize,
    /// Qualifiers of the last primitive, for juxtaposed values.
    last: Option<Quals>,
    /// Current recursion depth, bounded by [`MAX_NESTING`].
    depth: usize,
}

impl Parser {
    /// Runs `f` one nesting level deeper, or refuses the expression at the
    /// current token when that passes [`MAX_NESTING`].
    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Parser) -> Result<T, ExprError>,
    ) -> Result<T, ExprError> {
        if self.depth >= MAX_NESTING {
            return Err(ExprError::syntax(
                self.col(),
                format!("expression nested too deeply (more than {MAX_NESTING} levels)"),
            ));
        }
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        result
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn peek_at(&self, ahead: usize) -> Option<&Tok> {
        self.tokens.get(self.pos + ahead).map(|t| &t.tok)
    }

    fn col(&self) -> usize {
        self.peek().map_or(self.end_col, |t| t.col)
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Word(x)) if x == w)
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek_at(0), Some(Tok::Punct(x)) if *x == p)
    }

    fn found(&self) -> String {
        self.peek()
            .map_or_else(|| "the end".to_string(), |t| describe(&t.tok))
    }

    fn expect_punct(&mut self, p: &str, what: &str) -> Result<(), ExprError> {
        if self.is_punct(p) {
            self.pos += 1;
            Ok(())
        } else {
            Err(ExprError::syntax(
                self.col(),
                format!("expected '{p}' {what}, found {}", self.found()),
            ))
        }
    }

    fn expr(&mut self) -> Result<Node, ExprError> {
        let mut left = self.term()?;
        loop {
            let is_and = self.is_word("and") || self.is_punct("&&");
            let is_or = self.is_word("or") || self.is_punct("||");
            if !is_and && !is_or {
                return Ok(left);
            }
            self.pos += 1;
            let right = self.term()?;
            left = if is_and {
                Node::And(Box::new(left), Box::new(right))
            } else {
                Node::Or(Box::new(left), Box::new(right))
            };
        }
    }

    fn term(&mut self) -> Result<Node, ExprError> {
        if self.is_word("not") || self.is_punct("!") {
            self.pos += 1;
            return Ok(Node::Not(Box::new(self.nested(Parser::term)?)));
        }
        self.rterm()
    }

    fn rterm(&mut self) -> Result<Node, ExprError> {
        let col = self.col();
        let Some(tok) = self.peek().map(|t| t.tok.clone()) else {
            return Err(ExprError::syntax(
                col,
                "expected a primitive, found the end",
            ));
        };
        match tok {
            Tok::Punct("(") => {
                // `(` opens either arithmetic (`(ip[0]+1) > 2`) or a boolean
                // group; try arithmetic first and back off if it fails.
                self.nested(|p| {
                    let save = (p.pos, p.last);
                    if let Ok(rel) = p.relation() {
                        return Ok(rel);
                    }
                    (p.pos, p.last) = save;
                    p.pos += 1;
                    let inner = p.expr()?;
                    p.expect_punct(")", "to close the '('")?;
                    Ok(inner)
                })
            }
            Tok::Punct("-") => self.relation(),
            Tok::Punct(_) => Err(ExprError::syntax(
                col,
                format!("expected a primitive, found {}", describe(&tok)),
            )),
            Tok::Escaped(_) => self.implied(col),
            Tok::Word(w) => self.word_term(&w, col),
        }
    }

    fn word_term(&mut self, w: &str, col: usize) -> Result<Node, ExprError> {
        if UNSUPPORTED.split_whitespace().any(|u| u == w) {
            return Err(ExprError::unsupported(
                col,
                format!("the '{w}' primitive is not supported yet"),
            ));
        }
        let next_is_bracket = matches!(self.peek_at(1), Some(Tok::Punct("[")));
        if w == "len"
            || w == "length"
            || (load_keyword(w).is_some() && next_is_bracket)
            || w.starts_with(|c: char| c.is_ascii_digit()) && !self.last_quals_take_value()
        {
            return self.relation();
        }
        match w {
            // libpcap's words: `radio` only indexes (`radio[0]`).
            "radio" => {
                return Err(ExprError::semantic(
                    col,
                    "'radio' is not a valid protocol type",
                ))
            }
            "inbound" | "outbound" => {
                self.pos += 1;
                return Ok(Node::Prim(Prim::Outbound(w == "outbound"), col));
            }
            "ifindex" => {
                self.pos += 1;
                let n = self.number_operand(w)?;
                return Ok(Node::Prim(Prim::IfIndex(n), col));
            }
            "byte" => {
                self.pos += 1;
                let offset = self.number_operand(w)?;
                let op_col = self.col();
                let op = match self.peek_at(0) {
                    Some(Tok::Punct("=" | "==")) => ByteOp::Eq,
                    Some(Tok::Punct("<")) => ByteOp::Lt,
                    Some(Tok::Punct(">")) => ByteOp::Gt,
                    Some(Tok::Punct("&")) => ByteOp::And,
                    Some(Tok::Punct("|")) => ByteOp::Or,
                    _ => {
                        return Err(ExprError::syntax(
                            op_col,
                            format!(
                                "expected one of = < > & | after 'byte {offset}', found {}",
                                self.found()
                            ),
                        ))
                    }
                };
                self.pos += 1;
                let value = self.number_operand("the 'byte' operator")?;
                return Ok(Node::Prim(Prim::Byte { offset, op, value }, col));
            }
            "less" | "greater" => {
                self.pos += 1;
                let n = self.number_operand(w)?;
                return Ok(Node::Prim(
                    if w == "less" {
                        Prim::Less(n)
                    } else {
                        Prim::Greater(n)
                    },
                    col,
                ));
            }
            "llc" => {
                self.pos += 1;
                let frame = match self.peek_at(0).cloned() {
                    Some(Tok::Word(t)) if !is_keyword(&t) || t == "rnr" => {
                        if t.starts_with(|c: char| c.is_ascii_digit()) {
                            return Err(ExprError::syntax(
                                self.col(),
                                format!("expected an LLC frame type after 'llc', found '{t}'"),
                            ));
                        }
                        let frame = llc_frame(&t).ok_or_else(|| {
                            // libpcap's words.
                            ExprError::semantic(
                                self.col(),
                                format!("unknown LLC type name \"{t}\""),
                            )
                        })?;
                        self.pos += 1;
                        Some(frame)
                    }
                    _ => None,
                };
                return Ok(Node::Prim(Prim::Llc(frame), col));
            }
            // LLC SAPs by name, as libpcap's `stp` and `netbeui`.
            "iso" | "isis" | "is-is"
                if self
                    .peek_at(1)
                    .is_some_and(|t| matches!(t, Tok::Word(p) if p == "proto")) =>
            {
                self.pos += 2;
                let q = Quals {
                    proto: if w == "iso" { Proto::Iso } else { Proto::Isis },
                    dir: Dir::Default,
                    kind: Kind::Proto,
                };
                // Bare values after it (`isis proto 0x12 or 0x14`) reuse it.
                self.last = Some(q);
                return self.value(q, col);
            }
            "iso" => {
                self.pos += 1;
                let num = 0xfe; // the OSI SAP
                let proto = Proto::Link;
                return Ok(Node::Prim(Prim::ProtoNum { proto, num }, col));
            }
            "clnp" | "esis" | "es-is" | "isis" | "is-is" => {
                self.pos += 1;
                let nlpid = match w {
                    "clnp" => 0x81,
                    "esis" | "es-is" => 0x82,
                    _ => 0x83,
                };
                return Ok(Node::Prim(Prim::IsoNlpid(nlpid), col));
            }
            "l1" | "l2" | "iih" | "lsp" | "snp" | "csnp" | "psnp" => {
                self.pos += 1;
                // libpcap's PDU types for each group, in its order.
                let pdus: &[u32] = match w {
                    "l1" => &[0x1a, 0x18, 0x12, 0x0f, 0x11],
                    "l2" => &[0x1b, 0x19, 0x14, 0x10, 0x11],
                    "iih" => &[0x11, 0x0f, 0x10],
                    "lsp" => &[0x12, 0x14],
                    "snp" => &[0x1b, 0x1a, 0x18, 0x19],
                    "csnp" => &[0x18, 0x19],
                    _ => &[0x1a, 0x1b],
                };
                let node = pdus
                    .iter()
                    .rev()
                    .map(|&p| Node::Prim(Prim::IsisPdu(p), col))
                    .reduce(|right, left| Node::Or(Box::new(left), Box::new(right)))
                    .expect("a group has PDU types");
                return Ok(node);
            }
            // Link-layer protocols by name: SAPs and ethertypes.
            "stp" | "netbeui" | "ipx" | "atalk" | "aarp" | "lat" | "sca" | "moprc" | "mopdl" => {
                self.pos += 1;
                let num = match w {
                    "stp" => 0x42,
                    "netbeui" => 0xf0,
                    "ipx" => 0xe0,
                    "atalk" => 0x809b,
                    "aarp" => 0x80f3,
                    "lat" => 0x6004,
                    "sca" => 0x6007,
                    "moprc" => 0x6002,
                    _ => 0x6001,
                };
                let proto = Proto::Link;
                return Ok(Node::Prim(Prim::ProtoNum { proto, num }, col));
            }
            // IPsec: the IPv4 or IPv6 protocol.
            "ah" | "esp" => {
                self.pos += 1;
                let num = if w == "ah" { 51 } else { 50 };
                let proto = Proto::Default;
                return Ok(Node::Prim(Prim::ProtoNum { proto, num }, col));
            }
            "pppoed" => {
                self.pos += 1;
                return Ok(Node::Prim(Prim::Pppoed, col));
            }
            "pppoes" => {
                self.pos += 1;
                let n = match self.peek_at(0) {
                    Some(Tok::Word(x)) if x.starts_with(|c: char| c.is_ascii_digit()) => {
                        Some(self.number_operand(w)?)
                    }
                    _ => None,
                };
                if let Some(n) = n.filter(|&n| n > 0xffff) {
                    // libpcap's words.
                    return Err(ExprError::semantic(
                        col,
                        format!("PPPoE session number {n} greater than maximum 65535"),
                    ));
                }
                return Ok(Node::Prim(Prim::Pppoes(n), col));
            }
            "vlan" | "mpls" | "geneve" => {
                self.pos += 1;
                let n = match self.peek_at(0) {
                    Some(Tok::Word(x)) if x.starts_with(|c: char| c.is_ascii_digit()) => {
                        Some(self.number_operand(w)?)
                    }
                    _ => None,
                };
                // libpcap's words.
                let (what, max) = match w {
                    "vlan" => ("VLAN tag", 0xfff),
                    "mpls" => ("MPLS label", 0xfffff),
                    _ => ("Geneve VNI", 0xff_ffff),
                };
                if let Some(v) = n.filter(|&v| v > max) {
                    return Err(ExprError::semantic(
                        col,
                        format!("{what} {v} greater than maximum {max}"),
                    ));
                }
                return Ok(Node::Prim(
                    match w {
                        "vlan" => Prim::Vlan(n),
                        "mpls" => Prim::Mpls(n),
                        _ => Prim::Geneve(n),
                    },
                    col,
                ));
            }
            "type" | "subtype" | "dir" | "direction" => return self.p80211(col),
            "ifname" | "on" | "rset" | "ruleset" | "rnr" | "rulenum" | "srnr" | "subrulenum"
            | "reason" | "action" => {
                self.pos += 1;
                self.last = None;
                let (v, vcol) = self.take_value(&format!("a value after '{w}'"))?;
                let number = |v: &str| {
                    parse_number(v).ok_or_else(|| {
                        ExprError::syntax(
                            vcol,
                            format!("expected a number after '{w}', found '{v}'"),
                        )
                    })
                };
                let name = |what: &str| {
                    if v.len() >= 16 {
                        // libpcap's words.
                        Err(ExprError::semantic(
                            vcol,
                            format!("{what} can only be 15 characters"),
                        ))
                    } else {
                        Ok(v.clone())
                    }
                };
                let test = match w {
                    "ifname" | "on" => PfTest::Ifname(name("ifname interface names")?),
                    "rset" | "ruleset" => PfTest::Ruleset(name("ruleset names")?),
                    "rnr" | "rulenum" => PfTest::Rnr(number(&v)?),
                    "srnr" | "subrulenum" => PfTest::Srnr(number(&v)?),
                    "reason" => PfTest::Reason(match parse_number(&v) {
                        Some(n) => n,
                        None => pf_code(PF_REASONS, &v).ok_or_else(|| {
                            ExprError::semantic(vcol, format!("unknown PF reason \"{v}\""))
                        })?,
                    }),
                    _ => PfTest::Action(pf_code(PF_ACTIONS, &v).ok_or_else(|| {
                        ExprError::semantic(vcol, format!("unknown PF action \"{v}\""))
                    })?),
                };
                return Ok(Node::Prim(Prim::Pf(test), col));
            }
            "fisu" | "lssu" | "lsu" | "msu" | "hfisu" | "hlssu" | "hmsu" => {
                self.pos += 1;
                self.last = None;
                let kind = match w.trim_start_matches('h') {
                    "fisu" => 0,
                    "msu" => 2,
                    _ => 1,
                };
                let high_speed = w.starts_with('h');
                return Ok(Node::Prim(Prim::Mtp2Type { high_speed, kind }, col));
            }
            "sio" | "opc" | "dpc" | "sls" | "hsio" | "hopc" | "hdpc" | "hsls" | "vpi" | "vci" => {
                return self.header_field(w, col)
            }
            _ if AtmAbbrev::from_word(w).is_some() => {
                self.pos += 1;
                self.last = None;
                let a = AtmAbbrev::from_word(w).expect("matched above");
                return Ok(Node::Prim(Prim::Atm(a), col));
            }
            "broadcast" => {
                self.pos += 1;
                return Ok(Node::Prim(Prim::Broadcast(Proto::Default), col));
            }
            "multicast" => {
                self.pos += 1;
                return Ok(Node::Prim(Prim::Multicast(Proto::Default), col));
            }
            _ => {}
        }
        let is_qualifier = proto_keyword(w).is_some()
            || WlanAddr::from_word(w).is_some()
            || matches!(
                w,
                "src" | "dst" | "host" | "net" | "port" | "portrange" | "proto" | "protochain"
            );
        if is_qualifier {
            return self.qualified(col);
        }
        self.implied(col)
    }

    /// An MTP3 or ATM field and its value: `N`, `OP N` (`>`, `>=`, `=`,
    /// `==`, `<=`, `<`, `!=`) or `(N or N …)`, as libpcap's grammar takes
    /// them.
    fn header_field(&mut self, word: &str, col: usize) -> Result<Node, ExprError> {
        let field: &'static str = match word {
            "sio" => "sio",
            "opc" => "opc",
            "dpc" => "dpc",
            "sls" => "sls",
            "hsio" => "hsio",
            "hopc" => "hopc",
            "hdpc" => "hdpc",
            "vpi" => "vpi",
            "vci" => "vci",
            _ => "hsls",
        };
        self.pos += 1;
        self.last = None;
        let number = |p: &mut Parser| -> Result<u32, ExprError> {
            let (w, wcol) = p.take_value(&format!("a number after '{field}'"))?;
            parse_number(&w)
                .ok_or_else(|| ExprError::syntax(wcol, format!("expected a number, found '{w}'")))
        };
        let prim = |code, reverse, value| {
            Node::Prim(
                Prim::HeaderField {
                    field,
                    code,
                    reverse,
                    value,
                },
                col,
            )
        };
        if self.is_punct("(") {
            self.pos += 1;
            let mut node = prim(op::JEQ, false, number(self)?);
            while self.is_word("or") || self.is_punct("||") {
                self.pos += 1;
                let right = prim(op::JEQ, false, number(self)?);
                node = Node::Or(Box::new(node), Box::new(right));
            }
            self.expect_punct(")", "to close the value list")?;
            return Ok(node);
        }
        let (code, reverse) = match self.peek_at(0) {
            Some(Tok::Punct(">")) => (op::JGT, false),
            Some(Tok::Punct(">=")) => (op::JGE, false),
            Some(Tok::Punct("=" | "==")) => (op::JEQ, false),
            Some(Tok::Punct("<=")) => (op::JGT, true),
            Some(Tok::Punct("<")) => (op::JGE, true),
            Some(Tok::Punct("!=")) => (op::JEQ, true),
            _ => return Ok(prim(op::JEQ, false, number(self)?)),
        };
        self.pos += 1;
        Ok(prim(code, reverse, number(self)?))
    }

    /// `type T [subtype S]`, `subtype S`, `dir D`: 802.11 frame control
    /// tests, with libpcap's names and its checks of numbers.
    fn p80211(&mut self, col: usize) -> Result<Node, ExprError> {
        const TYPE_MASK: u32 = 0x0c;
        const SUBTYPE_MASK: u32 = 0xf0;
        let keyword = match self.peek_at(0) {
            Some(Tok::Word(w)) => w.clone(),
            _ => {
                return Err(ExprError::syntax(
                    col,
                    "expected 'type', 'subtype' or 'dir'",
                ))
            }
        };
        self.pos += 1;
        self.last = None;
        let (word, word_col) = self.take_value(&format!("a value after '{keyword}'"))?;
        let lower = word.to_ascii_lowercase();
        let number = parse_number(&word);
        let prim = match keyword.as_str() {
            "type" => {
                let t = match number {
                    Some(v) if v & !TYPE_MASK != 0 => {
                        return Err(ExprError::semantic(
                            word_col,
                            format!("invalid 802.11 type value 0x{v:02x}"),
                        ))
                    }
                    Some(v) => v,
                    None => wlan_type(&lower).ok_or_else(|| {
                        ExprError::semantic(
                            word_col,
                            format!("unknown 802.11 type name \"{word}\""),
                        )
                    })?,
                };
                if self.is_word("subtype") {
                    self.pos += 1;
                    let (sub, sub_col) = self.take_value("a subtype after 'subtype'")?;
                    let s =
                        match parse_number(&sub) {
                            Some(v) if v & !SUBTYPE_MASK != 0 => {
                                return Err(ExprError::semantic(
                                    sub_col,
                                    format!("invalid 802.11 subtype value 0x{v:02x}"),
                                ))
                            }
                            Some(v) => v,
                            None => {
                                let names =
                                    WLAN_SUBTYPES.iter().find(|(ty, _)| *ty == t).ok_or_else(
                                        || ExprError::semantic(sub_col, "unknown 802.11 type"),
                                    )?;
                                wlan_name(names.1, &sub.to_ascii_lowercase()).ok_or_else(|| {
                                    ExprError::semantic(
                                        sub_col,
                                        format!("unknown 802.11 subtype name \"{sub}\""),
                                    )
                                })?
                            }
                        };
                    Prim::WlanType {
                        value: t | s,
                        mask: TYPE_MASK | SUBTYPE_MASK,
                    }
                } else {
                    Prim::WlanType {
                        value: t,
                        mask: TYPE_MASK,
                    }
                }
            }
            "subtype" => {
                if number.is_some() {
                    return Err(ExprError::syntax(
                        word_col,
                        format!("expected an 802.11 subtype name after 'subtype', found '{word}'"),
                    ));
                }
                let value = WLAN_SUBTYPES
                    .iter()
                    .find_map(|(ty, names)| wlan_name(names, &lower).map(|s| s | ty))
                    .ok_or_else(|| ExprError::semantic(word_col, "unknown 802.11 type name"))?;
                Prim::WlanType {
                    value,
                    mask: TYPE_MASK | SUBTYPE_MASK,
                }
            }
            _ => {
                let dir = match (number, lower.as_str()) {
                    (Some(v), _) => v,
                    (None, "nods") => 0,
                    (None, "tods") => 1,
                    (None, "fromds") => 2,
                    (None, "dstods") => 3,
                    _ => return Err(ExprError::semantic(word_col, "unknown 802.11 direction")),
                };
                Prim::WlanDir(dir)
            }
        };
        Ok(Node::Prim(prim, col))
    }

    /// True when a bare number here is a juxtaposed value (`port 80 or 443`)
    /// rather than the start of an arithmetic relation.
    fn last_quals_take_value(&self) -> bool {
        let relational = matches!(
            self.peek_at(1),
            Some(Tok::Punct(
                "=" | "=="
                    | "!="
                    | "<"
                    | "<="
                    | ">"
                    | ">="
                    | "+"
                    | "-"
                    | "*"
                    | "/"
                    | "%"
                    | "&"
                    | "|"
                    | "^"
                    | "<<"
                    | ">>"
            ))
        );
        let address =
            matches!(self.peek_at(0), Some(Tok::Word(w)) if w.contains('.') || w.contains(':'));
        self.last.is_some() && (address || !relational)
    }

    /// `[proto] [dir] [kind] value`, or a protocol name alone.
    fn qualified(&mut self, col: usize) -> Result<Node, ExprError> {
        let mut q = Quals {
            proto: Proto::Default,
            dir: Dir::Default,
            kind: Kind::Default,
        };
        if let Some(Tok::Word(w)) = self.peek_at(0) {
            if let Some(p) = proto_keyword(w) {
                q.proto = p;
                self.pos += 1;
            }
        }
        if q.proto != Proto::Default {
            // libpcap takes (and ignores) a protocol before these.
            if ["type", "subtype", "dir", "direction"]
                .iter()
                .any(|w| self.is_word(w))
            {
                return self.p80211(col);
            }
            if self.is_word("broadcast") {
                self.pos += 1;
                return Ok(Node::Prim(Prim::Broadcast(q.proto), col));
            }
            if self.is_word("multicast") {
                self.pos += 1;
                return Ok(Node::Prim(Prim::Multicast(q.proto), col));
            }
        }
        let wlan = match self.peek_at(0) {
            Some(Tok::Word(w)) => WlanAddr::from_word(w),
            _ => None,
        };
        if let Some(w) = wlan {
            self.pos += 1;
            q.dir = Dir::Wlan(w);
        } else if self.is_word("src") || self.is_word("dst") {
            let first = if self.is_word("src") {
                Dir::Src
            } else {
                Dir::Dst
            };
            self.pos += 1;
            q.dir = first;
            let other = if first == Dir::Src { "dst" } else { "src" };
            let combined = matches!(self.peek_at(1), Some(Tok::Word(x)) if x == other);
            if combined && self.is_word("or") {
                self.pos += 2;
                q.dir = Dir::SrcOrDst;
            } else if combined && self.is_word("and") {
                self.pos += 2;
                q.dir = Dir::SrcAndDst;
            }
        }
        if let Some(Tok::Word(w)) = self.peek_at(0) {
            let kind = match w.as_str() {
                "host" => Some(Kind::Host),
                "net" => Some(Kind::Net),
                "port" => Some(Kind::Port),
                "portrange" => Some(Kind::PortRange),
                "proto" => Some(Kind::Proto),
                "protochain" => Some(Kind::Protochain),
                "gateway" => {
                    return Err(ExprError::unsupported(
                        self.col(),
                        "'gateway' is not supported yet (it needs host name lookups)",
                    ))
                }
                _ => None,
            };
            if let Some(k) = kind {
                q.kind = k;
                self.pos += 1;
            }
        }
        if q.dir == Dir::Default && q.kind == Kind::Default && !self.value_follows() {
            if q.proto == Proto::Link {
                return Err(ExprError::syntax(
                    self.col(),
                    format!(
                        "expected 'host', 'src', 'dst', 'proto', 'broadcast', 'multicast' or '[' after 'ether', found {}",
                        self.found()
                    ),
                ));
            }
            self.last = None;
            return Ok(Node::Prim(Prim::Abbrev(q.proto), col));
        }
        self.last = Some(q);
        self.value(q, col)
    }

    /// Values joined by `and`/`or` (left to right, as libpcap's grammar),
    /// each under the qualifiers `q`.
    fn value_list(&mut self, q: Quals, col: usize) -> Result<Node, ExprError> {
        let mut left = self.value(q, col)?;
        loop {
            let is_and = self.is_word("and") || self.is_punct("&&");
            let is_or = self.is_word("or") || self.is_punct("||");
            if !is_and && !is_or {
                return Ok(left);
            }
            self.pos += 1;
            let right = self.value(q, col)?;
            left = if is_and {
                Node::And(Box::new(left), Box::new(right))
            } else {
                Node::Or(Box::new(left), Box::new(right))
            };
        }
    }

    fn value_follows(&self) -> bool {
        match self.peek_at(0) {
            Some(Tok::Escaped(_)) => true,
            Some(Tok::Word(w)) => !is_keyword(w),
            Some(Tok::Punct("(")) => false,
            _ => false,
        }
    }

    /// A bare value that reuses the previous primitive's qualifiers.
    fn implied(&mut self, col: usize) -> Result<Node, ExprError> {
        match self.last {
            Some(q) => self.value(q, col),
            None => Err(ExprError::syntax(
                col,
                format!(
                    "expected a primitive (e.g. 'host', 'port', 'tcp'), found {}{}",
                    self.found(),
                    match self.peek_at(0) {
                        Some(Tok::Word(w)) => did_you_mean(w),
                        _ => String::new(),
                    }
                ),
            )),
        }
    }

    fn take_value(&mut self, after: &str) -> Result<(String, usize), ExprError> {
        let col = self.col();
        match self.peek_at(0).cloned() {
            Some(Tok::Word(w)) if !is_keyword(&w) => {
                self.pos += 1;
                Ok((w, col))
            }
            Some(Tok::Escaped(w)) => {
                self.pos += 1;
                Ok((w, col))
            }
            _ => Err(ExprError::syntax(
                col,
                format!("expected {after}, found {}", self.found()),
            )),
        }
    }

    fn value(&mut self, q: Quals, col: usize) -> Result<Node, ExprError> {
        // libpcap's grammar lets `not` stand between the qualifiers and
        // the value (`ip src not 10.0.0.1`): it negates the primitive.
        if self.is_word("not") || self.is_punct("!") {
            self.pos += 1;
            return Ok(Node::Not(Box::new(self.nested(|p| p.value(q, col))?)));
        }
        // ... and a parenthesised list of values under the same qualifiers
        // (`src (10.0.0.1 or 10.0.0.2)`).
        if self.is_punct("(") {
            self.pos += 1;
            let list = self.nested(|p| p.value_list(q, col))?;
            self.expect_punct(")", "to close the list of values")?;
            return Ok(list);
        }
        let prim = match q.kind {
            Kind::Port | Kind::PortRange => self.port_value(q)?,
            Kind::Proto => {
                let what = "a protocol number or name after 'proto'";
                let (w, vcol) = self.take_value(what)?;
                let num = match parse_number(&w) {
                    Some(n) => n,
                    None => {
                        let named = if q.proto == Proto::Link {
                            names::ether_protocol(&w)
                        } else {
                            names::ip_protocol(&w)
                        };
                        named.ok_or_else(|| {
                            ExprError::semantic(vcol, format!("unknown protocol '{w}'"))
                        })?
                    }
                };
                match q.proto {
                    Proto::Iso => return Ok(Node::Prim(Prim::IsoNlpid(num), col)),
                    Proto::Isis => return Ok(Node::Prim(Prim::IsisPdu(num), col)),
                    Proto::Default | Proto::Link | Proto::Ip | Proto::Ip6 => {}
                    _ => {
                        return Err(ExprError::syntax(
                            col,
                            "'proto' can only follow 'ether', 'ip', 'ip6' or nothing",
                        ))
                    }
                }
                if q.dir != Dir::Default {
                    return Err(ExprError::syntax(col, "'proto' takes no 'src'/'dst'"));
                }
                Prim::ProtoNum {
                    proto: q.proto,
                    num,
                }
            }
            Kind::Protochain => {
                let (w, vcol) = self.take_value("a protocol number or name after 'protochain'")?;
                let num = match parse_number(&w) {
                    Some(n) => n,
                    None => names::ip_protocol(&w).ok_or_else(|| {
                        ExprError::semantic(vcol, format!("unknown protocol '{w}'"))
                    })?,
                };
                if q.dir != Dir::Default {
                    return Err(ExprError::syntax(col, "'protochain' takes no 'src'/'dst'"));
                }
                if !matches!(q.proto, Proto::Default | Proto::Ip | Proto::Ip6) {
                    // libpcap's words.
                    return Err(ExprError::semantic(
                        col,
                        "bad protocol applied for 'protochain'",
                    ));
                }
                Prim::Protochain {
                    proto: q.proto,
                    num,
                }
            }
            Kind::Host | Kind::Net | Kind::Default => self.addr_value(q)?,
        };
        Ok(Node::Prim(prim, col))
    }

    fn port_value(&mut self, q: Quals) -> Result<Prim, ExprError> {
        let range = q.kind == Kind::PortRange;
        let what = if range {
            "a port range (e.g. 1000-2000) after 'portrange'"
        } else {
            "a port number after 'port'"
        };
        let (w, vcol) = self.take_value(what)?;
        let mut proto = q.proto;
        if !matches!(
            proto,
            Proto::Default | Proto::Tcp | Proto::Udp | Proto::Sctp
        ) {
            return Err(ExprError::syntax(
                vcol,
                "ports exist only for 'tcp', 'udp' and 'sctp'",
            ));
        }
        let mut one = |text: &str| -> Result<u16, ExprError> {
            if let Some(n) = parse_number(text) {
                return u16::try_from(n).map_err(|_| {
                    ExprError::semantic(vcol, format!("illegal port number {n} > 65535"))
                });
            }
            if let Some(complaint) = malformed_number_or_address(text) {
                return Err(ExprError::semantic(vcol, complaint));
            }
            if text.contains('.') && parse_ipv4(text).is_some() {
                // libpcap's words.
                return Err(ExprError::semantic(
                    vcol,
                    "'port' modifier applied to ip host",
                ));
            }
            let (port, sp) = names::service(text)
                .ok_or_else(|| ExprError::semantic(vcol, format!("unknown port name '{text}'")))?;
            let named = match sp {
                ServiceProto::Tcp => Proto::Tcp,
                ServiceProto::Udp => Proto::Udp,
                ServiceProto::Any => Proto::Default,
            };
            if named != Proto::Default {
                if proto == Proto::Default {
                    proto = named;
                } else if proto != named {
                    return Err(ExprError::semantic(
                        vcol,
                        format!("port '{text}' is not a {proto:?} port"),
                    ));
                }
            }
            Ok(port)
        };
        let (lo, hi) = if range {
            // `portrange 25` is the range 25-25 (libpcap compiles it so).
            match w.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (one(a)?, one(b)?);
                    (a.min(b), a.max(b))
                }
                None => {
                    let p = one(&w)?;
                    (p, p)
                }
            }
        } else {
            let p = one(&w)?;
            (p, p)
        };
        Ok(Prim::Port {
            proto,
            dir: q.dir,
            lo,
            hi,
            range,
        })
    }

    fn addr_value(&mut self, q: Quals) -> Result<Prim, ExprError> {
        let (w, vcol) = self.take_value("an address")?;
        // `decnet net A.B.C.D mask M` and `…/N`: libpcap reads an IPv4
        // network and tests, as a DECnet address, its low 16 bits (the
        // mask unused); below.
        let decnet_masked = q.proto == Proto::Decnet
            && q.kind == Kind::Net
            && w.contains('.')
            && (self.is_punct("/") || self.is_word("mask"));
        if q.proto == Proto::Decnet && !decnet_masked {
            let addr = parse_decnet(&w).ok_or_else(|| {
                // libpcap's words (it has no DECnet name lookup either).
                ExprError::semantic(
                    vcol,
                    format!("decnet name support not included, '{w}' cannot be translated"),
                )
            })?;
            return Ok(Prim::Addr {
                proto: q.proto,
                dir: q.dir,
                addr: Addr::Decnet(addr),
            });
        }
        if let Some(hex) = w.strip_prefix('$') {
            if q.proto != Proto::Link || !matches!(q.kind, Kind::Host | Kind::Default) {
                // libpcap's words.
                return Err(ExprError::semantic(
                    vcol,
                    "ARCnet address used in non-arc expression",
                ));
            }
            // pcap_ether_aton reads `$` as the hex digit 0xd (`'$' -
            // 'A' + 10`, low nibble) and the first digit after it.
            let first = hex.chars().next().and_then(|c| c.to_digit(16)).unwrap_or(0);
            return Ok(Prim::Addr {
                proto: q.proto,
                dir: q.dir,
                addr: Addr::Arcnet((0xd0 | first) as u8),
            });
        }
        let net = q.kind == Kind::Net;
        let addr = if let Some(mac) = parse_mac(&w) {
            if net {
                return Err(ExprError::semantic(
                    vcol,
                    "'net' takes an IP network, not a MAC address",
                ));
            }
            if q.proto != Proto::Link {
                // libpcap's words.
                return Err(ExprError::semantic(
                    vcol,
                    "ethernet address used in non-ether expression",
                ));
            }
            Addr::Mac(mac)
        } else if w.contains(':') {
            let v6: Ipv6Addr = w
                .parse()
                .map_err(|_| ExprError::semantic(vcol, format!("bad IPv6 address '{w}'")))?;
            let prefix = if self.is_punct("/") {
                self.pos += 1;
                let (len, lcol) = self.take_value("a prefix length after '/'")?;
                match parse_number(&len) {
                    Some(n) if n <= 128 => n,
                    _ => {
                        return Err(ExprError::semantic(
                            lcol,
                            format!("bad IPv6 prefix length '{len}'"),
                        ))
                    }
                }
            } else {
                128
            };
            let bytes = v6.octets();
            let full = u128::from_be_bytes(bytes);
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix)
            };
            if full & !mask != 0 {
                return Err(ExprError::semantic(
                    vcol,
                    format!("non-network bits set in \"{w}/{prefix}\""),
                ));
            }
            if prefix != 128 && !net {
                return Err(ExprError::semantic(vcol, "a prefix length needs 'net'"));
            }
            Addr::V6 {
                addr: bytes,
                prefix,
            }
        } else if let Some((addr, mask)) = parse_ipv4(&w) {
            if !w.contains('.') && (self.is_punct("/") || self.is_word("mask")) {
                // libpcap's grammar takes a prefix or mask only after a
                // dotted network (`10.0/8`, not `10/8`).
                return Err(ExprError::syntax(
                    self.col(),
                    format!(
                        "a network with a {} must be written dotted ('{w}.0…')",
                        if self.is_punct("/") {
                            "prefix length"
                        } else {
                            "mask"
                        }
                    ),
                ));
            }
            let (addr, mask) = if self.is_punct("/") {
                self.pos += 1;
                let (len, lcol) = self.take_value("a prefix length after '/'")?;
                let n = match parse_number(&len) {
                    Some(n) if n <= 32 => n,
                    _ => {
                        return Err(ExprError::semantic(
                            lcol,
                            format!("bad mask length '{len}'"),
                        ))
                    }
                };
                let m = if n == 0 { 0 } else { u32::MAX << (32 - n) };
                if addr & !m != 0 {
                    return Err(ExprError::semantic(
                        vcol,
                        format!("non-network bits set in \"{w}/{n}\""),
                    ));
                }
                (addr, m)
            } else if self.is_word("mask") {
                self.pos += 1;
                let (mask_text, mcol) = self.take_value("a netmask after 'mask'")?;
                // A dotted mask, possibly partial (`255.255` is
                // 255.255.0.0), as libpcap reads it.
                let m = match parse_ipv4(&mask_text) {
                    Some((bits, _)) if mask_text.contains('.') => bits,
                    _ => {
                        return Err(ExprError::semantic(
                            mcol,
                            format!("bad netmask '{mask_text}'"),
                        ))
                    }
                };
                if addr & !m != 0 {
                    // libpcap's words.
                    return Err(ExprError::semantic(
                        vcol,
                        format!("non-network bits set in \"{w} mask {mask_text}\""),
                    ));
                }
                (addr, m)
            } else {
                (addr, mask)
            };
            // A bare number names a whole 32-bit host address (`host 10` is
            // 0.0.0.10); only `net` shifts it into a network.
            let (addr, mask) = if !net && !w.contains('.') {
                (parse_number(&w).unwrap_or(addr), u32::MAX)
            } else {
                (addr, mask)
            };
            if decnet_masked {
                return Ok(Prim::Addr {
                    proto: q.proto,
                    dir: q.dir,
                    addr: Addr::Decnet(addr as u16),
                });
            }
            Addr::V4 { addr, mask }
        } else if let Some(complaint) = malformed_number_or_address(&w) {
            return Err(ExprError::semantic(vcol, complaint));
        } else {
            return Err(ExprError::unsupported(
                vcol,
                format!("host names need DNS lookups, which are not supported: '{w}'"),
            ));
        };
        if matches!(addr, Addr::V4 { .. } | Addr::V6 { .. }) && q.proto == Proto::Link {
            return Err(ExprError::semantic(
                vcol,
                "'ether host' needs a MAC address",
            ));
        }
        if !matches!(
            q.proto,
            Proto::Default | Proto::Link | Proto::Ip | Proto::Ip6 | Proto::Arp | Proto::Rarp
        ) {
            return Err(ExprError::unsupported(
                vcol,
                format!(
                    "'{:?} host' is not supported (libpcap refuses it too)",
                    q.proto
                )
                .to_lowercase(),
            ));
        }
        Ok(Prim::Addr {
            proto: q.proto,
            dir: q.dir,
            addr,
        })
    }

    fn number_operand(&mut self, after: &str) -> Result<u32, ExprError> {
        let col = self.col();
        match self.peek_at(0).cloned() {
            Some(Tok::Word(w)) => match parse_number(&w) {
                Some(n) => {
                    self.pos += 1;
                    Ok(n)
                }
                None => Err(ExprError::syntax(
                    col,
                    format!("expected a number after '{after}', found '{w}'"),
                )),
            },
            _ => Err(ExprError::syntax(
                col,
                format!("expected a number after '{after}', found {}", self.found()),
            )),
        }
    }

    // ---- arithmetic ----

    fn relation(&mut self) -> Result<Node, ExprError> {
        let lhs = self.arith(0)?;
        let col = self.col();
        let op = match self.peek_at(0) {
            Some(Tok::Punct("=" | "==")) => RelOp::Eq,
            Some(Tok::Punct("!=")) => RelOp::Ne,
            Some(Tok::Punct("<")) => RelOp::Lt,
            Some(Tok::Punct("<=")) => RelOp::Le,
            Some(Tok::Punct(">")) => RelOp::Gt,
            Some(Tok::Punct(">=")) => RelOp::Ge,
            _ => {
                return Err(ExprError::syntax(
                    col,
                    format!(
                        "expected a comparison (=, !=, <, <=, >, >=), found {}",
                        self.found()
                    ),
                ))
            }
        };
        self.pos += 1;
        let rhs = self.arith(0)?;
        self.last = None;
        Ok(Node::Rel { op, lhs, rhs })
    }

    fn binop(&self) -> Option<(ArithOp, u8)> {
        Some(match self.peek_at(0)? {
            Tok::Punct("|") => (ArithOp::Or, 1),
            Tok::Punct("&") => (ArithOp::And, 2),
            Tok::Punct("<<") => (ArithOp::Shl, 3),
            Tok::Punct(">>") => (ArithOp::Shr, 3),
            Tok::Punct("+") => (ArithOp::Add, 4),
            Tok::Punct("-") => (ArithOp::Sub, 4),
            Tok::Punct("*") => (ArithOp::Mul, 5),
            Tok::Punct("/") => (ArithOp::Div, 5),
            Tok::Punct("%") => (ArithOp::Mod, 5),
            Tok::Punct("^") => (ArithOp::Xor, 0),
            _ => return None,
        })
    }

    fn arith(&mut self, min_prec: u8) -> Result<Arith, ExprError> {
        self.nested(|p| p.arith_unnested(min_prec))
    }

    fn arith_unnested(&mut self, min_prec: u8) -> Result<Arith, ExprError> {
        let mut lhs = self.unary()?;
        while let Some((op, prec)) = self.binop() {
            if op == ArithOp::Xor {
                // No precedence in libpcap's grammar: always shift.
                self.pos += 1;
                let rhs = self.arith(0)?;
                lhs = Arith::Bin(op, Box::new(lhs), Box::new(rhs));
                continue;
            }
            if prec < min_prec.max(1) {
                break;
            }
            let op_col = self.col();
            self.pos += 1;
            let rhs = self.arith(prec + 1)?;
            // libpcap refuses some divisions by zero and long shifts as
            // it generates the operator's code (see `operator_refused`).
            if let Some(why) = super::codegen::operator_refused(op, &rhs) {
                return Err(ExprError::semantic(op_col, why));
            }
            lhs = Arith::Bin(op, Box::new(lhs), Box::new(rhs));
        }
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Arith, ExprError> {
        let col = self.col();
        match self.peek_at(0).cloned() {
            Some(Tok::Punct("-")) => {
                self.pos += 1;
                Ok(Arith::Neg(Box::new(self.nested(Parser::unary)?)))
            }
            Some(Tok::Punct("(")) => {
                self.pos += 1;
                let inner = self.arith(0)?;
                self.expect_punct(")", "to close the '('")?;
                Ok(inner)
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                if w == "len" || w == "length" {
                    return Ok(Arith::Len);
                }
                if let Some(proto) = load_keyword(&w) {
                    return self.load(proto, &w);
                }
                if let Some(n) = parse_number(&w).or_else(|| names::constant(&w)) {
                    return Ok(Arith::Num(n));
                }
                Err(ExprError::syntax(
                    col,
                    format!("expected a number, 'len' or PROTO[OFFSET], found '{w}'"),
                ))
            }
            _ => Err(ExprError::syntax(
                col,
                format!(
                    "expected a number, 'len' or PROTO[OFFSET], found {}",
                    self.found()
                ),
            )),
        }
    }

    fn load(&mut self, proto: Proto, name: &str) -> Result<Arith, ExprError> {
        self.expect_punct("[", &format!("after '{name}'"))?;
        let index = self.arith(0)?;
        let mut size = 1;
        if self.is_punct(":") {
            self.pos += 1;
            let col = self.col();
            size = self.number_operand(":")?;
            if !matches!(size, 1 | 2 | 4) {
                return Err(ExprError::semantic(col, "data size must be 1, 2, or 4"));
            }
        }
        self.expect_punct("]", &format!("to close '{name}['"))?;
        Ok(Arith::Load {
            proto,
            index: Box::new(index),
            size,
        })
    }
}
