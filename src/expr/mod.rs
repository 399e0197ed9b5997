//! The pcap-filter expression language (pcap-filter(7)), compiled to classic
//! BPF the way libpcap compiles it.
//!
//! Pipeline (private modules): `lexer` → `parser` (an AST) → `codegen` (a
//! graph of blocks, one conditional jump each) → `optimize` → `cfg` layout
//! into a `cbpf::Program`. The generated code tests the same
//! packet bytes libpcap's does, in the same order on every path, so it
//! gives the same verdict on every packet, truncated ones included.

mod address;
mod ast;
mod cfg;
mod codegen;
mod dataflow;
mod facts;
mod hostlist;
mod lexer;
mod linktype;
mod names;
mod optimize;
mod parser;
mod pullup;

use std::fmt;

pub use linktype::{LinkType, ALL_LINK_TYPES, OTHER_LINK_TYPES};

use crate::cbpf::Program;

/// The verdict of an accepting filter: libpcap's default snapshot length.
pub const ACCEPT_VERDICT: u32 = 262_144;

/// What went wrong with an expression.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExprErrorKind {
    /// The text does not follow the grammar.
    Syntax,
    /// Grammatical, but meaningless (bad address, division by zero, …).
    Semantic,
    /// Valid pcap-filter, but not (yet) supported by this compiler.
    Unsupported,
    /// The optimised filter can match no packet: libpcap (and so tcpdump)
    /// refuses it with "expression rejects all packets".
    RejectsAll,
}

/// An expression the compiler refuses, with the 1-based column at fault.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExprError {
    /// The kind of failure.
    pub kind: ExprErrorKind,
    /// 1-based column of the offending token (one past the end for a
    /// truncated expression).
    pub column: usize,
    /// What was expected or what is wrong.
    pub message: String,
}

impl ExprError {
    /// A grammar error at `column`.
    pub fn syntax(column: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            kind: ExprErrorKind::Syntax,
            column,
            message: message.into(),
        }
    }

    /// A meaning error at `column`.
    pub fn semantic(column: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            kind: ExprErrorKind::Semantic,
            column,
            message: message.into(),
        }
    }

    /// A not-supported error at `column`.
    pub fn unsupported(column: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            kind: ExprErrorKind::Unsupported,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ExprErrorKind::Syntax => "syntax error",
            ExprErrorKind::Semantic => "error",
            ExprErrorKind::Unsupported => "not supported",
            ExprErrorKind::RejectsAll => return f.write_str(&self.message),
        };
        write!(f, "{kind} at {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ExprError {}

impl ExprError {
    /// The error as reported to a user: which expression (quoted, or by its
    /// length when too long to repeat: the caret line shows the place),
    /// the error with its column, and the caret line under it.
    pub fn report(&self, expr: &str) -> String {
        const QUOTED: usize = 60;
        let n = expr.chars().count();
        let which = if n <= QUOTED {
            format!("expression '{expr}'")
        } else {
            format!("expression of {n} characters")
        };
        format!("{which}: {self}\n{}", self.caret(expr))
    }

    /// The expression with a caret under the offending column, as two
    /// lines, for showing under the message. Long expressions are cut to a
    /// window around the column (`…` marks the cuts).
    pub fn caret(&self, expr: &str) -> String {
        const WINDOW: usize = 60;
        let chars: Vec<char> = expr
            .chars()
            .map(|c| if c.is_whitespace() { ' ' } else { c })
            .collect();
        let at = self.column.saturating_sub(1).min(chars.len());
        let start = at.saturating_sub(WINDOW / 2);
        let end = (start + WINDOW).min(chars.len());
        let mut line: String = chars[start..end].iter().collect();
        let mut pad = at - start;
        if start > 0 {
            line.insert(0, '…');
            pad += 1;
        }
        if end < chars.len() {
            line.push('…');
        }
        format!("  {line}\n  {}^", " ".repeat(pad))
    }
}

/// Suggests the link-type name closest to a misspelled `name`, if one is
/// one or two edits away: "; did you mean 'EN10MB'?".
pub fn suggest_link_type(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    ALL_LINK_TYPES
        .iter()
        .map(|l| (parser::edit_distance(&upper, l.name()), l.name()))
        .filter(|&(d, _)| d > 0 && d <= 2)
        .min()
        .map_or_else(String::new, |(_, n)| format!("; did you mean '{n}'?"))
}

/// The netmask `tcpdump` passes when it knows none (reading a savefile,
/// `-d`): `ip broadcast` then means an all-zeros or all-ones address.
pub const DEFAULT_NETMASK: u32 = 0;

/// Compiles a pcap-filter expression for packets of `link_type`, optimised,
/// as `tcpdump` compiles it (netmask [`DEFAULT_NETMASK`]).
///
/// Accepting packets return [`ACCEPT_VERDICT`] (libpcap's snapshot length),
/// rejected ones 0. The empty expression accepts every packet. An
/// expression that can match nothing is refused with
/// [`ExprErrorKind::RejectsAll`], as libpcap refuses it.
pub fn compile_expr(expr: &str, link_type: LinkType) -> Result<Program, ExprError> {
    compile_expr_with_netmask(expr, link_type, DEFAULT_NETMASK)
}

/// [`compile_expr`] with the capture interface's IPv4 netmask (host byte
/// order), which only `ip broadcast` uses: its host part all zeros or all
/// ones. `0xffff_ffff` is libpcap's `PCAP_NETMASK_UNKNOWN`, under which
/// `ip broadcast` is refused.
pub fn compile_expr_with_netmask(
    expr: &str,
    link_type: LinkType,
    netmask: u32,
) -> Result<Program, ExprError> {
    compile(expr, link_type, netmask, PacketSource::Live)
}

/// Where the packets an expression filters come from. libpcap compiles
/// DLT_NULL and DLT_LOOP differently for a savefile than for a live
/// capture: a savefile's 4-byte address family is in the byte order of
/// the machine that wrote it (DLT_NULL; DLT_LOOP's is always big-endian),
/// and its `ip6` may be any BSD's AF_INET6 (24, 28 or 30), where a live
/// capture on Linux has 10 in this host's order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PacketSource {
    /// Captured on this host, as `tcpdump -d -y LINKTYPE` compiles.
    #[default]
    Live,
    /// Read from a savefile written in this byte order, as `tcpdump -r
    /// FILE` compiles.
    Savefile {
        /// The file's (pcap) or section's (pcapng) byte order.
        big_endian: bool,
    },
}

/// [`compile_expr`] for packets from `source` (see [`PacketSource`]).
pub fn compile_expr_from(
    expr: &str,
    link_type: LinkType,
    source: PacketSource,
) -> Result<Program, ExprError> {
    compile(expr, link_type, DEFAULT_NETMASK, source)
}

/// How to compile an expression, besides for which link type: what
/// [`compile_expr_with_netmask`], [`compile_expr_from`] and
/// [`compile_expr_unoptimized`] each set one of.
/// (Build it as `ExprOptions { optimize: false, ..ExprOptions::default() }`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExprOptions {
    /// The capture interface's IPv4 netmask (see
    /// [`compile_expr_with_netmask`]); default [`DEFAULT_NETMASK`].
    pub netmask: u32,
    /// Where the packets come from; default [`PacketSource::Live`].
    pub source: PacketSource,
    /// Run the optimiser (default). Without it the program is libpcap's
    /// unoptimised one, `tcpdump -O`'s, and an expression that matches
    /// nothing is not refused (libpcap finds that out only by optimising).
    pub optimize: bool,
}

impl Default for ExprOptions {
    fn default() -> Self {
        ExprOptions {
            netmask: DEFAULT_NETMASK,
            source: PacketSource::Live,
            optimize: true,
        }
    }
}

/// [`compile_expr`] with [`ExprOptions`].
pub fn compile_expr_with(
    expr: &str,
    link_type: LinkType,
    options: ExprOptions,
) -> Result<Program, ExprError> {
    if options.optimize {
        compile(expr, link_type, options.netmask, options.source)
    } else {
        compile_unoptimized(expr, link_type, options.netmask, options.source)
    }
}

fn compile(
    expr: &str,
    link_type: LinkType,
    netmask: u32,
    source: PacketSource,
) -> Result<Program, ExprError> {
    let Some(mut graph) = generate(expr, link_type, netmask, source)? else {
        return Ok(accept_all());
    };
    let optimized = !graph.unoptimizable;
    if optimized && !graph.prebuilt {
        optimize::optimize(&mut graph).map_err(|why| ExprError::semantic(1, why))?;
    }
    let program = graph
        .layout()
        .map_err(|message| ExprError::unsupported(1, message))?;
    if optimized
        && program.insns
            == [crate::cbpf::Insn::stmt(
                crate::cbpf::insn::op::RET | crate::cbpf::insn::op::K,
                0,
            )]
    {
        return Err(ExprError {
            kind: ExprErrorKind::RejectsAll,
            column: 1,
            message: "expression rejects all packets".into(),
        });
    }
    Ok(program)
}

/// Compiles without the optimiser: libpcap's `-O` equivalent, for comparing.
/// Nothing is refused for matching no packet (libpcap checks that only
/// when optimising).
pub fn compile_expr_unoptimized(expr: &str, link_type: LinkType) -> Result<Program, ExprError> {
    compile_unoptimized(expr, link_type, DEFAULT_NETMASK, PacketSource::Live)
}

fn compile_unoptimized(
    expr: &str,
    link_type: LinkType,
    netmask: u32,
    source: PacketSource,
) -> Result<Program, ExprError> {
    if expr.trim().is_empty() {
        return Ok(accept_all());
    }
    // Not through the host-list fast path, which builds the optimised
    // graph.
    let ast = parser::parse(expr)?;
    let graph = codegen::generate(&ast, link_type, netmask, source)?;
    graph
        .layout()
        .map_err(|message| ExprError::unsupported(1, message))
}

/// Checks `expr` against the grammar only, for callers that compile it
/// later for link types not known yet (what is link-type specific is found
/// then). The empty expression is valid.
pub fn check_syntax(expr: &str) -> Result<(), ExprError> {
    if expr.trim().is_empty() {
        return Ok(());
    }
    parser::parse(expr).map(|_| ())
}

/// The block graph of an expression; `None` for the empty expression,
/// which accepts everything.
fn generate(
    expr: &str,
    link_type: LinkType,
    netmask: u32,
    source: PacketSource,
) -> Result<Option<cfg::Graph>, ExprError> {
    if expr.trim().is_empty() {
        return Ok(None);
    }
    let ast = parser::parse(expr)?;
    if let Some(graph) = hostlist::host_list(&ast, link_type) {
        return Ok(Some(graph));
    }
    codegen::generate(&ast, link_type, netmask, source).map(Some)
}

/// [`compile_expr`] without the host-list fast path, for tests that hold
/// the fast path to the general compiler.
#[cfg(test)]
fn compile_general(expr: &str, link_type: LinkType) -> Result<Program, ExprError> {
    let ast = parser::parse(expr)?;
    let mut graph = codegen::generate(&ast, link_type, DEFAULT_NETMASK, PacketSource::Live)?;
    optimize::optimize(&mut graph).map_err(|why| ExprError::semantic(1, why))?;
    graph
        .layout()
        .map_err(|message| ExprError::unsupported(1, message))
}

fn accept_all() -> Program {
    Program::new(vec![crate::cbpf::Insn::stmt(
        crate::cbpf::insn::op::RET | crate::cbpf::insn::op::K,
        ACCEPT_VERDICT,
    )])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbpf::insn::op;

    fn err(expr: &str) -> String {
        match compile_expr(expr, LinkType::Ethernet) {
            Err(e) => e.to_string(),
            Ok(p) => panic!("'{expr}' compiled to {} instructions", p.len()),
        }
    }

    #[test]
    fn errors_name_the_column_and_what_was_expected() {
        assert_eq!(
            err("tcp port"),
            "syntax error at 9: expected a port number after 'port', found the end"
        );
        assert_eq!(
            err("host 1.2.3.4 and ("),
            "syntax error at 19: expected a primitive, found the end"
        );
        assert_eq!(
            err("ip and $"),
            "syntax error at 8: unexpected character '$'"
        );
        assert_eq!(
            err("tcp[0:3] = 1"),
            "error at 7: data size must be 1, 2, or 4"
        );
        assert!(err("ip[0] / 0 = 1").contains("division by zero"));
        assert!(err("ip[0] << 32 = 1").contains("shift by more than 31 bits"));
        assert!(err("net 10.1.2.3/8").contains("non-network bits"));
        assert!(err("port 70000").contains("illegal port number"));
        assert!(err("udp port http").contains("not a Udp port"));
        assert!(err("host example.com").starts_with("not supported at 6:"));
        assert!(err("gateway router").starts_with("not supported at 1:"));
        assert_eq!(
            err("tcp protochain 6"),
            "error at 1: bad protocol applied for 'protochain'"
        );
        assert!(err("ip6 broadcast").contains("broadcast"));
    }

    #[test]
    fn malformed_numbers_and_addresses_get_libpcaps_words() {
        // As tcpdump 4.99 (libpcap 1.10.3) words them, not as names to look up.
        for (expr, want) in [
            (
                "host 10.256.0.0",
                "error at 6: invalid IPv4 address '10.256.0.0'",
            ),
            (
                "net 1.2.3.256",
                "error at 5: invalid IPv4 address '1.2.3.256'",
            ),
            (
                "host 99999999999",
                "error at 6: number 99999999999 overflows 32 bits",
            ),
            (
                "host 0x1ffffffff",
                "error at 6: number 0x1ffffffff overflows 32 bits",
            ),
            (
                "port 99999999999",
                "error at 6: number 99999999999 overflows 32 bits",
            ),
            (
                "host 0999",
                "error at 6: number 0999 contains non-octal digit",
            ),
            (
                "port 0999",
                "error at 6: number 0999 contains non-octal digit",
            ),
            (
                "port 1.2.3.4",
                "error at 6: 'port' modifier applied to ip host",
            ),
            (
                "tcp port 1.2",
                "error at 10: 'port' modifier applied to ip host",
            ),
        ] {
            assert_eq!(err(expr), want, "{expr}");
        }
        // Five parts is a name, as libpcap's scanner reads it.
        assert!(err("host 1.2.3.4.5").starts_with("not supported at 6:"));
    }

    #[test]
    fn reports_quote_short_expressions_and_count_long_ones() {
        let e = compile_expr("host 10.256.0.0", LinkType::Ethernet).unwrap_err();
        assert_eq!(
            e.report("host 10.256.0.0"),
            "expression 'host 10.256.0.0': error at 6: invalid IPv4 address '10.256.0.0'\n  \
             host 10.256.0.0\n       ^"
        );
        let long = format!(
            "{} or host 10.256.0.0",
            vec!["host 10.0.0.1"; 20].join(" or ")
        );
        let e = compile_expr(&long, LinkType::Ethernet).unwrap_err();
        let report = e.report(&long);
        assert!(
            report.starts_with(&format!(
                "expression of {} characters: error at",
                long.len()
            )),
            "{report}"
        );
        assert_eq!(report.lines().count(), 3, "{report}");
    }

    #[test]
    fn direction_ifindex_byte_and_single_port_ranges() {
        let listing =
            |e: &str, l: LinkType| crate::cbpf::print::disasm(&compile_expr(e, l).unwrap());
        assert!(listing("outbound", LinkType::LinuxSll).contains("ldh      [0]"));
        assert!(listing("inbound", LinkType::LinuxSll2).contains("ldb      [10]"));
        assert!(listing("inbound", LinkType::Ethernet).contains("[type]"));
        assert!(listing("ifindex 2", LinkType::LinuxSll2).contains("ld       [4]"));
        assert!(listing("byte 8 > 5", LinkType::Ipv4).contains("jgt      #0x5"));
        assert!(listing("tcp portrange 25", LinkType::Ethernet).contains("jgt      #0x19"));
        assert!(listing("net 192.168 mask 255.255", LinkType::Raw).contains("and      #0xffff0000"));
        assert!(err("byte 8 != 5").starts_with("syntax error at 8:"));
        assert!(err("net 10/8").starts_with("syntax error at 7:"));
    }

    #[test]
    fn carets_and_suggestions() {
        let e = compile_expr("tcp prot 80", LinkType::Ethernet).unwrap_err();
        assert_eq!(e.caret("tcp prot 80"), "  tcp prot 80\n      ^");
        assert!(
            err("tpc port 80").ends_with("found 'tpc'; did you mean 'tcp'?"),
            "{}",
            err("tpc port 80")
        );
        assert!(err("hots 1.2.3.4").ends_with("did you mean 'host'?"));
        let long = format!("{} and $", vec!["ip"; 100].join(" and "));
        let e = compile_expr(&long, LinkType::Ethernet).unwrap_err();
        let c = e.caret(&long);
        assert!(c.starts_with("  …") && c.ends_with("^"), "{c}");
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(
            lines[0].chars().nth(lines[1].chars().count() - 1),
            Some('$')
        );
        assert_eq!(suggest_link_type("EN10M"), "; did you mean 'EN10MB'?");
    }

    #[test]
    fn link_specific_errors() {
        let e = compile_expr("ether host 1:2:3:4:5:6", LinkType::Raw).unwrap_err();
        assert!(e.to_string().contains("only on ethernet"), "{e}");
        let e = compile_expr("vlan", LinkType::LinuxSll).unwrap_err();
        assert_eq!(e.kind, ExprErrorKind::Semantic);
        assert_eq!(
            e.to_string(),
            "error at 1: no VLAN support for Linux cooked v1"
        );
    }

    #[test]
    fn link_type_primitives_are_refused_in_libpcaps_words() {
        let on = |expr: &str, link: LinkType| compile_expr(expr, link).unwrap_err().to_string();
        let wlan = LinkType::Ieee80211;
        assert_eq!(
            on("type 0x10", wlan),
            "error at 6: invalid 802.11 type value 0x10"
        );
        assert_eq!(
            on("type mgt subtype 0x05", wlan),
            "error at 18: invalid 802.11 subtype value 0x05"
        );
        assert_eq!(
            on("type foo", wlan),
            "error at 6: unknown 802.11 type name \"foo\""
        );
        assert_eq!(
            on("dir sideways", wlan),
            "error at 5: unknown 802.11 direction"
        );
        assert!(on("type data", LinkType::Ethernet)
            .ends_with("802.11 link-layer types supported only on 802.11"));
        assert!(on("ra 1.2.3.4", wlan).ends_with(
            "'ra' is not a valid qualifier for addresses other than 802.11 MAC addresses"
        ));
        assert!(on("addr1 port 80", wlan)
            .ends_with("'addr1' and 'address1' are not valid qualifiers for ports"));
        assert!(on("ether ta 1:2:3:4:5:6", LinkType::Ethernet)
            .ends_with("'ta' is only supported on 802.11 with 802.11 headers"));
        assert!(on("link host $0e", LinkType::Ethernet).ends_with("aid supported only on ARCnet"));
        assert!(on("ip host $0e", LinkType::Arcnet)
            .ends_with("ARCnet address used in non-arc expression"));
        assert!(
            on("sio 300", LinkType::Other(140)).ends_with("sio value 300 too big; max value = 255")
        );
        assert!(on("opc 0x4000", LinkType::Other(140))
            .ends_with("opc value 16384 too big; max value = 16383"));
        assert!(on("fisu", LinkType::Ethernet).ends_with("'fisu' supported only on MTP2"));
        assert!(on("reason nonsense", LinkType::Pflog).ends_with("unknown PF reason \"nonsense\""));
        assert!(on("action nonsense", LinkType::Pflog).ends_with("unknown PF action \"nonsense\""));
        assert!(
            on("ifname abcdefghijklmnop", LinkType::Pflog).ends_with("can only be 15 characters")
        );
        assert!(on("rnr 5", LinkType::Ethernet).ends_with("rnr supported only on PF linktype"));
        assert!(on("vpi 1", LinkType::Ethernet).ends_with("'vpi' supported only on raw ATM"));
        assert!(on("oamf4sc", LinkType::Ethernet).ends_with("'oam4sc' supported only on raw ATM"));
        assert!(on("ether host 1:2:3:4:5:6", LinkType::SunAtm)
            .ends_with("supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel"));
        assert!(on("llc", LinkType::Netanalyzer)
            .ends_with("'llc' not supported for Ethernet with Hilscher netANALYZER pseudo-header"));
        assert!(on("mpls", LinkType::Ppi).ends_with("no MPLS support for Per-Packet Information"));
        assert!(on("mpls and vlan", LinkType::Ethernet).ends_with("no VLAN match after MPLS"));
        assert!(on("geneve 16777216", LinkType::Ethernet)
            .ends_with("Geneve VNI 16777216 greater than maximum 16777215"));
        assert!(on("vlan 4096", LinkType::Ethernet)
            .ends_with("VLAN tag 4096 greater than maximum 4095"));
        assert_eq!(
            on("ip", LinkType::Other(187)),
            "error at 1: Bluetooth link-layer type filtering not implemented"
        );
        assert_eq!(
            on("tcp port 80", LinkType::from_name("USER2").unwrap()),
            "error at 1: DLT 149 link-layer type filtering not implemented"
        );
        // What needs no header knowledge compiles on any named link type.
        assert!(compile_expr("link[0] = 1 and len > 20", LinkType::Other(187)).is_ok());
        assert_eq!(
            LinkType::from_name("BLUETOOTH_HCI_H4"),
            Some(LinkType::Other(187))
        );
    }

    #[test]
    fn scratch_registers_run_out_where_libpcaps_do() {
        // geneve takes three registers, a bare protochain leaks one
        // (libpcap's own counts): 5 and 15 fit in 16, 6 and 16 do not.
        let chain = |word: &str, join: &str, n: usize| vec![word; n].join(join);
        assert!(compile_expr(&chain("geneve", " and ", 5), LinkType::Ethernet).is_ok());
        assert!(compile_expr(&chain("protochain 6", " or ", 15), LinkType::Ethernet).is_ok());
        // Right-nested sums: libpcap holds a register per level (14 fit).
        let nested = |n: usize| {
            (0..n)
                .rev()
                .fold(format!("ip[{n}]"), |acc, i| format!("ip[{i}]+({acc})"))
                + "=1"
        };
        assert!(compile_expr(&nested(14), LinkType::Ethernet).is_ok());
        for expr in [
            chain("geneve", " and ", 6),
            chain("protochain 6", " or ", 16),
            nested(15),
        ] {
            let e = compile_expr(&expr, LinkType::Ethernet).unwrap_err();
            assert_eq!(e.kind, ExprErrorKind::Semantic, "{e}");
            assert!(
                e.message
                    .starts_with("too many registers needed to evaluate expression"),
                "{e}"
            );
        }
    }

    #[test]
    fn host_lists_are_what_the_general_compiler_makes() {
        // Lists of every length up to 40, with repeats, juxtaposed values
        // and parentheses: the fast path's program is the optimiser's.
        let mut seed = 0x1234_5678u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for quals in ["", "src ", "dst ", "ip ", "ip src ", "ip dst "] {
            for n in 2..=40 {
                let hosts: Vec<String> = (0..n)
                    .map(|_| {
                        let v = next() % 24; // few values: repeats happen
                        format!("10.0.{}.{}", v / 8, v % 8 + 1)
                    })
                    .collect();
                let mut expr = format!("{quals}host {}", hosts[0]);
                for (i, h) in hosts[1..].iter().enumerate() {
                    expr = match i % 3 {
                        0 => format!("{expr} or {quals}host {h}"),
                        1 => format!("{expr} or {h}"),
                        _ => format!("({expr}) or ({quals}host {h})"),
                    };
                }
                let ast = parser::parse(&expr).unwrap();
                if hosts.iter().collect::<std::collections::HashSet<_>>().len() > 1 {
                    assert!(
                        hostlist::host_list(&ast, LinkType::Ethernet).is_some(),
                        "{expr}"
                    );
                }
                let fast = compile_expr(&expr, LinkType::Ethernet).unwrap();
                let general = compile_general(&expr, LinkType::Ethernet).unwrap();
                assert_eq!(fast, general, "{expr}");
            }
        }
        // Not a plain host list: the general compiler.
        for expr in [
            "host 1.1.1.1 or src host 2.2.2.2",
            "host 1.1.1.1 or tcp",
            "ip6 host ::1 or ip6 host ::2",
            "net 10.0.0.0/8 or net 11.0.0.0/8",
        ] {
            let ast = parser::parse(expr).unwrap();
            assert!(
                hostlist::host_list(&ast, LinkType::Ethernet).is_none(),
                "{expr}"
            );
        }
        // 10,000 hosts compile (the general optimiser would take hours).
        let many: Vec<String> = (0..10_000u32)
            .map(|i| format!("host 10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255))
            .collect();
        let prog = compile_expr(&many.join(" or "), LinkType::Ethernet).unwrap();
        assert!(prog.len() > 30_000, "{}", prog.len());
    }

    #[test]
    fn link_types_round_trip() {
        for l in ALL_LINK_TYPES {
            assert_eq!(LinkType::from_dlt(l.dlt()), Some(l));
            assert_eq!(LinkType::from_name(l.name()), Some(l));
        }
        assert_eq!(LinkType::from_dlt(12), Some(LinkType::Raw));
        assert_eq!(LinkType::from_dlt(9999), None);
    }

    #[test]
    fn ip_and_tcp_is_libpcaps_six_instructions() {
        let p = compile_expr("ip and tcp", LinkType::Ethernet).unwrap();
        let codes: Vec<(u16, u32)> = p.insns.iter().map(|i| (i.code, i.k)).collect();
        assert_eq!(
            codes,
            [
                (op::LD | op::H | op::ABS, 12),
                (op::JMP | op::JEQ | op::K, 0x800),
                (op::LD | op::B | op::ABS, 23),
                (op::JMP | op::JEQ | op::K, 6),
                (op::RET | op::K, ACCEPT_VERDICT),
                (op::RET | op::K, 0),
            ]
        );
    }

    #[test]
    fn constant_expressions_fold_to_one_return() {
        let t = compile_expr("1 + 2 = 3", LinkType::Ethernet).unwrap();
        assert_eq!(
            t.insns,
            [crate::cbpf::Insn::stmt(op::RET | op::K, ACCEPT_VERDICT)]
        );
        let f = compile_expr("arp", LinkType::Ipv4).unwrap_err();
        assert_eq!(f.kind, ExprErrorKind::RejectsAll);
        assert_eq!(f.to_string(), "expression rejects all packets");
        let u = compile_expr_unoptimized("arp", LinkType::Ipv4).unwrap();
        assert!(crate::cbpf::interp::run(&u, &[0x45; 40], &Default::default()) == 0);
        for empty in ["", "  "] {
            let all = compile_expr(empty, LinkType::Ethernet).unwrap();
            assert_eq!(
                all.insns,
                [crate::cbpf::Insn::stmt(op::RET | op::K, ACCEPT_VERDICT)]
            );
        }
    }

    #[test]
    fn long_programs_get_ja_trampolines_and_pass_the_checker() {
        // 151 ports: far more than 255 instructions between test and exit.
        let ports: Vec<String> = (1000..=1150).map(|p| p.to_string()).collect();
        let expr = format!("tcp port {}", ports.join(" or "));
        let p = compile_expr(&expr, LinkType::Ethernet).unwrap();
        assert!(p.len() > 256, "{} instructions", p.len());
        assert!(p.insns.iter().any(|i| i.code == op::JMP | op::JA));
        crate::cbpf::check::check(&p).unwrap();
    }

    /// Nested `depth` deep in each way the grammar nests.
    fn deep_expressions(depth: usize) -> Vec<String> {
        vec![
            format!("{}ip{}", "(".repeat(depth), ")".repeat(depth)),
            format!("{}ip", "not ".repeat(depth)),
            format!("{}ip", "! ".repeat(depth)),
            format!("{}1 = 1", "-".repeat(depth)),
            format!("{}len{} = 1", "(".repeat(depth), ")".repeat(depth)),
            format!("{}0{} = 1", "ip[".repeat(depth), "]".repeat(depth)),
            format!("len{} = 1", " ^ len".repeat(depth)),
        ]
    }

    /// Runs `f` on a thread with the default 2 MiB stack of spawned threads.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(f)
            .expect("spawn")
            .join()
            .expect("no panic, no stack overflow");
    }

    #[test]
    fn deep_nesting_is_refused_at_its_column_without_overflowing() {
        on_small_stack(|| {
            for expr in deep_expressions(12_000) {
                let e = compile_expr(&expr, LinkType::Ethernet).unwrap_err();
                assert!(e.message.contains("nested too deeply"), "{expr:.20}…: {e}");
                assert!(e.column > parser::MAX_NESTING / 2, "{e}");
            }
        });
    }

    #[test]
    fn nesting_within_the_limit_compiles_on_a_small_stack() {
        on_small_stack(|| {
            for expr in deep_expressions(parser::MAX_NESTING / 2 - 1) {
                match compile_expr(&expr, LinkType::Ethernet) {
                    Ok(_) => {}
                    Err(e) => assert!(!e.message.contains("nested"), "{expr:.20}…: {e}"),
                }
            }
            // A long flat chain is not nesting: it compiles.
            let chain = vec!["ip"; 8_000].join(" and ");
            compile_expr(&chain, LinkType::Ethernet).unwrap();
        });
    }

    #[test]
    fn garbage_never_panics() {
        let mut rng = cranebpf_harness::Rng::new(7);
        let alphabet: Vec<char> = "tcp ip6 host port 1.2:[]()!&|^<>=-+*/%\\and or not vlan 0x "
            .chars()
            .collect();
        for _ in 0..3000 {
            let n = rng.below(30) as usize;
            let s: String = (0..n).map(|_| *rng.pick(&alphabet)).collect();
            let _ = compile_expr(&s, LinkType::Ethernet);
        }
    }
}
