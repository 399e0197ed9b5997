//! What the capture commands (`filter`, `bench`, `run -r`) share: a FILTER
//! that is a program or an expression compiled per link type, the engine
//! choice, and opening a capture file.

use super::prog::ProgArgs;
use super::prog_source::{self, Source};
use super::{Failure, EXIT_REJECTED};
use cranebpf::capture::scan::Filters;
use cranebpf::capture::Mapped;
use cranebpf::capture::{Item, Reader};
use cranebpf::cbpf::Program;
use cranebpf::expr::{compile_expr, LinkType};
use cranebpf::{Engine, Filter, FilterError, FilterOptions};
use std::io::{Read, Write};
use std::path::Path;

/// A FILTER argument: a program, or an expression still to compile for
/// each link type met.
#[derive(Clone, Debug)]
pub enum FilterSpec {
    /// A classic program (any form), the same for every link type.
    Program(Program),
    /// A pcap-filter expression, and the link type `--linktype` forces.
    Expr(String, Option<LinkType>),
}

impl FilterSpec {
    /// Reads the FILTER arguments.
    pub fn from_args(prog: &ProgArgs) -> Result<FilterSpec, Failure> {
        if let (None, Some(arg)) = (&prog.ddd, &prog.prog) {
            let force = match (prog.expr, prog.file) {
                (true, _) => Some(Source::Expr),
                (_, true) => Some(Source::File),
                _ => None,
            };
            if prog_source::choose(arg, force) == Source::Expr {
                let forced = match &prog.linktype {
                    Some(name) => {
                        Some(prog_source::link_type(Some(name)).map_err(Failure::bad_input)?)
                    }
                    None => None,
                };
                let text = arg.to_string_lossy().into_owned();
                // Compile once now so a bad expression fails before any
                // input is read, with its column.
                compile_expr(&text, forced.unwrap_or(LinkType::Ethernet))
                    .map_err(|e| Failure::bad_input(format!("expression '{text}': {e}")))?;
                return Ok(FilterSpec::Expr(text, forced));
            }
        }
        Ok(FilterSpec::Program(prog.load()?))
    }

    /// The classic program for packets of `link_type` (`LINKTYPE_*`).
    pub fn program(&self, link_type: u32) -> Result<Program, String> {
        match self {
            FilterSpec::Program(p) => Ok(p.clone()),
            FilterSpec::Expr(text, forced) => {
                let link = match forced {
                    Some(l) => *l,
                    None => LinkType::from_dlt(link_type).ok_or_else(|| {
                        format!(
                            "unknown link type {link_type}: the expression compiler knows \
                             EN10MB, RAW, IPV4, IPV6, LINUX_SLL, LINUX_SLL2, NULL, LOOP \
                             (use a program, or force one with --linktype)"
                        )
                    })?,
                };
                compile_expr(text, link).map_err(|e| format!("expression '{text}': {e}"))
            }
        }
    }

    /// A filter for `link_type` on `engine`.
    pub fn filter(&self, link_type: u32, engine: Option<Engine>) -> Result<Filter, String> {
        let options = FilterOptions {
            engine,
            ..FilterOptions::default()
        };
        Filter::with_options(self.program(link_type)?, options).map_err(|e| match e {
            FilterError::Rejected(e) => format!("rejected (the kernel would not run it): {e}"),
            other => other.to_string(),
        })
    }

    /// Filters for every link type, built as packets need them.
    pub fn filters(&self, engine: Option<Engine>) -> Filters {
        let spec = self.clone();
        Filters::new(move |link_type| spec.filter(link_type, engine))
    }

    /// Builds the filter for Ethernet once so that a refused program fails
    /// with exit code 1 before any input is read.
    pub fn check(&self, engine: Option<Engine>) -> Result<(), Failure> {
        if let FilterSpec::Program(_) = self {
            self.filter(1, engine).map_err(|message| Failure {
                message,
                code: EXIT_REJECTED,
            })?;
        }
        Ok(())
    }
}

/// A capture's bytes: mapped from a file, or read from stdin (`-`).
pub enum Input {
    /// A memory-mapped file.
    Mapped(Mapped),
    /// Bytes read from a pipe.
    Owned(Vec<u8>),
}

impl Input {
    /// Opens `path` (`-`: stdin).
    pub fn open(path: &Path) -> Result<Input, Failure> {
        if path.as_os_str() == "-" {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| Failure::bad_input(format!("stdin: {e}")))?;
            return Ok(Input::Owned(buf));
        }
        Mapped::open(path)
            .map(Input::Mapped)
            .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))
    }

    /// The capture's bytes.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Input::Mapped(m) => m.bytes(),
            Input::Owned(v) => v,
        }
    }
}

/// `run PROG -r IN`: one decimal verdict per packet of the capture, one
/// per line.
pub fn run_capture(prog: &ProgArgs, path: &Path, engine: Option<Engine>) -> Result<i32, Failure> {
    let spec = FilterSpec::from_args(prog)?;
    spec.check(engine)?;
    let filters = spec.filters(engine);
    let input = Input::open(path)?;
    let mut reader = Reader::new(input.bytes())
        .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    // A closed pipe (`| head`) ends the output quietly.
    let write_err = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::BrokenPipe => Failure {
            message: String::new(),
            code: 0,
        },
        _ => Failure::bad_input(format!("stdout: {e}")),
    };
    while let Some(item) = reader.next_item() {
        let item = item.map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
        let Item::Packet(p) = item else { continue };
        let filter = filters.get(p.link_type).map_err(|message| {
            let at = reader.offset() - p.record.len();
            Failure::bad_input(format!("{}: byte offset {at}: {message}", path.display()))
        })?;
        writeln!(out, "{}", filter.run_wire(p.data, p.wire_len)).map_err(write_err)?;
    }
    out.flush().map_err(write_err)?;
    Ok(0)
}
