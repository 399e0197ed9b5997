//! The pcap-filter expression language (pcap-filter(7)), compiled to classic
//! BPF the way libpcap compiles it.
//!
//! Pipeline: [`lexer`] → [`parser`] (an AST) → [`codegen`] (a graph of
//! blocks, one conditional jump each) → [`optimize`] → [`cfg`] layout into a
//! [`Program`](crate::cbpf::Program). The generated code tests the same
//! packet bytes libpcap's does, in the same order on every path, so it
//! gives the same verdict on every packet, truncated ones included.

pub mod cfg;
pub mod codegen;
pub mod lexer;
pub mod linktype;
pub mod names;
pub mod optimize;
pub mod parser;

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

/// Compiles without the optimiser: libpcap's `-O` equivalent, for comparing.
pub fn compile_expr_unoptimized(expr: &str, link_type: LinkType) -> Result<Program, ExprError> {
    let ast = parser::parse(expr)?;
    let graph = codegen::generate(&ast, link_type)?;
    graph
        .layout()
        .map_err(|message| ExprError::unsupported(1, message))
}
