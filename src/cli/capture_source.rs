//! What the capture commands (`filter`, `bench`, `run -r`) share: a FILTER
//! that is a program or an expression compiled per link type, the engine
//! choice, and opening a capture file.

use super::prog::{ProgArgs, ProgSource};
use super::prog_source;
use super::{Failure, EXIT_REJECTED};
use cranebpf::capture::{CaptureFilter, CaptureFilterError, Item, Mapped, Reader};
use cranebpf::cbpf::Program;
use cranebpf::{Engine, FilterError, FilterOptions};
use std::io::{Read, Write};
use std::path::Path;

/// A FILTER argument, read: a program, an expression, or nothing (keep
/// every packet, as tcpdump does without an expression).
pub enum FilterArg {
    /// Keep every packet.
    All,
    /// A classic program, the same for every link type.
    Program(Program),
    /// A pcap-filter expression, and the link type `--linktype` forces.
    Expr(String, Option<cranebpf::LinkType>),
}

impl FilterArg {
    /// Reads the FILTER arguments.
    pub fn from_args(prog: &ProgArgs) -> Result<FilterArg, Failure> {
        Ok(match prog.source()? {
            ProgSource::Nothing => FilterArg::All,
            ProgSource::Program(p) => FilterArg::Program(p),
            ProgSource::Expr(text) => {
                let forced = match &prog.linktype {
                    Some(name) => {
                        Some(prog_source::link_type(Some(name)).map_err(Failure::bad_input)?)
                    }
                    None => None,
                };
                FilterArg::Expr(text, forced)
            }
        })
    }

    /// The capture filter on `engine`: a program is checked and compiled
    /// now (exit 1 if the kernel would refuse it), an expression's syntax
    /// checked (exit 2), before any input is read.
    pub fn build(&self, engine: Option<Engine>) -> Result<CaptureFilter, Failure> {
        let options = FilterOptions {
            engine,
            ..FilterOptions::default()
        };
        let built = match self {
            FilterArg::All => CaptureFilter::accept_all(options),
            FilterArg::Program(p) => CaptureFilter::program_with(p.clone(), options),
            FilterArg::Expr(text, forced) => CaptureFilter::expression_with(text, *forced, options),
        };
        built.map_err(filter_failure)
    }
}

/// The exit code and message for a filter that cannot be built.
pub fn filter_failure(e: CaptureFilterError) -> Failure {
    let code = match e {
        CaptureFilterError::Filter(FilterError::Rejected(_)) => EXIT_REJECTED,
        _ => super::EXIT_BAD_INPUT,
    };
    Failure {
        message: e.to_string(),
        code,
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
    let filters = FilterArg::from_args(prog)?.build(engine)?;
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
    let mut status = 0;
    while let Some(item) = reader.next_item() {
        let item = match item {
            Ok(item) => item,
            Err(e) => {
                // Every verdict before it is out, as tcpdump prints every
                // record before it.
                out.flush().map_err(write_err)?;
                eprintln!("cranebpf: {}: {e}", path.display());
                status = super::EXIT_CUT_SHORT;
                break;
            }
        };
        let Item::Packet(p) = item else { continue };
        let filter = filters.for_link_type(p.link_type).map_err(|e| {
            let at = reader.offset() - p.record.len();
            Failure::bad_input(format!(
                "{}: byte offset {at}: link type {}: {e}",
                path.display(),
                p.link_type
            ))
        })?;
        writeln!(out, "{}", filter.run_wire(p.data, p.wire_len)).map_err(write_err)?;
    }
    out.flush().map_err(write_err)?;
    Ok(status)
}
