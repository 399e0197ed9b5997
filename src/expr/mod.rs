//! The pcap-filter expression language (pcap-filter(7)), compiled to classic
//! BPF the way libpcap compiles it.
//!
//! Pipeline (private modules): `lexer` → `parser` (an AST) → `codegen` (a
//! graph of blocks, one conditional jump each) → `optimize` → `cfg` layout
//! into a [`Program`](crate::cbpf::Program). The generated code tests the same
//! packet bytes libpcap's does, in the same order on every path, so it
//! gives the same verdict on every packet, truncated ones included.

mod address;
mod ast;
mod cfg;
mod codegen;
mod lexer;
mod linktype;
mod names;
mod optimize;
mod parser;
mod pullup;

use std::fmt;

pub use linktype::{LinkType, ALL_LINK_TYPES};

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
        };
        write!(f, "{kind} at {}: {}", self.column, self.message)
    }
}

impl std::error::Error for ExprError {}

/// Compiles a pcap-filter expression for packets of `link_type`, optimised.
///
/// Accepting packets return [`ACCEPT_VERDICT`] (libpcap's snapshot length),
/// rejected ones 0. An expression that matches nothing compiles to `ret #0`
/// (where tcpdump would refuse it with "expression rejects all packets").
pub fn compile_expr(expr: &str, link_type: LinkType) -> Result<Program, ExprError> {
    let ast = parser::parse(expr)?;
    let mut graph = codegen::generate(&ast, link_type)?;
    optimize::optimize(&mut graph);
    graph
        .layout()
        .map_err(|message| ExprError::unsupported(1, message))
}

/// Checks `expr` against the grammar only, for callers that compile it
/// later for link types not known yet (what is link-type specific is found
/// then).
pub fn check_syntax(expr: &str) -> Result<(), ExprError> {
    parser::parse(expr).map(|_| ())
}

/// Compiles without the optimiser: libpcap's `-O` equivalent, for comparing.
pub fn compile_expr_unoptimized(expr: &str, link_type: LinkType) -> Result<Program, ExprError> {
    let ast = parser::parse(expr)?;
    let graph = codegen::generate(&ast, link_type)?;
    graph
        .layout()
        .map_err(|message| ExprError::unsupported(1, message))
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
        assert!(err("atalk").starts_with("not supported at 1:"));
        assert!(err("ether proto 100").starts_with("not supported at 1:"));
        assert!(err("ip6 broadcast").contains("broadcast"));
    }

    #[test]
    fn link_specific_errors() {
        let e = compile_expr("ether host 1:2:3:4:5:6", LinkType::Raw).unwrap_err();
        assert!(e.to_string().contains("only on ethernet"), "{e}");
        let e = compile_expr("vlan", LinkType::LinuxSll).unwrap_err();
        assert_eq!(e.kind, ExprErrorKind::Unsupported);
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
        let f = compile_expr("arp", LinkType::Ipv4).unwrap();
        assert_eq!(f.insns, [crate::cbpf::Insn::stmt(op::RET | op::K, 0)]);
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

    #[test]
    fn garbage_never_panics() {
        let mut rng = crate::rng::Rng::new(7);
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
