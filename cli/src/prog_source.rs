//! Programs given as pcap-filter expressions: `PROG` naming an existing
//! file is a program file, anything else is compiled as an expression;
//! `--expr` / `--file` force either, `--linktype` picks the link type.

use cranebpf::cbpf::Program;
use cranebpf::expr::{compile_expr_with, ExprOptions, LinkType, ALL_LINK_TYPES};
use std::path::Path;

/// How to read the PROG argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Compile PROG as a pcap-filter expression.
    Expr,
    /// Read PROG as a program file (`-` is stdin).
    File,
}

/// Decides how to read `arg`: forced, else a file if one exists by that name.
pub fn choose(arg: &Path, force: Option<Source>) -> Source {
    match force {
        Some(s) => s,
        None if arg.as_os_str() == "-" || arg.exists() => Source::File,
        None => Source::Expr,
    }
}

/// Parses a `--linktype` value: a libpcap name (EN10MB, RAW, LINUX_SLL, …)
/// or a LINKTYPE_ number. Default Ethernet.
pub fn link_type(name: Option<&str>) -> Result<LinkType, String> {
    let Some(name) = name else {
        return Ok(LinkType::Ethernet);
    };
    let by_number = name.parse::<u32>().ok().and_then(LinkType::from_dlt);
    by_number
        .or_else(|| LinkType::from_name(name))
        .ok_or_else(|| {
            let known: Vec<&str> = ALL_LINK_TYPES.iter().map(|l| l.name()).collect();
            format!(
                "unknown link type '{name}'{} (known: {} or their LINKTYPE_ numbers)",
                cranebpf::expr::suggest_link_type(name),
                known.join(", ")
            )
        })
}

/// Compiles `expr` for the link type named by `linktype`, optimised.
pub fn compile(expr: &str, linktype: Option<&str>) -> Result<Program, String> {
    compile_for(expr, link_type(linktype)?, true)
}

/// Compiles `expr` for link type `link`, through the optimiser or not
/// (`-O`); the error shows a caret under the place.
pub fn compile_for(expr: &str, link: LinkType, optimize: bool) -> Result<Program, String> {
    let how = ExprOptions {
        optimize,
        ..ExprOptions::default()
    };
    compile_expr_with(expr, link, how).map_err(|e| e.report(expr))
}
