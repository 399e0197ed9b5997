//! What the capture commands (`filter`, `bench`, `run -r`) share: a FILTER
//! that is a program or an expression compiled per link type, the engine
//! choice, and opening a capture file.

use super::prog::{ProgArgs, ProgSource};
use super::prog_source;
use super::{Failure, EXIT_REJECTED};
use cranebpf::capture::scan::ScanError;
use cranebpf::capture::{
    CaptureFilter, CaptureFilterError, Item, Mapped, Packet, Reader, Stream, Timestamp,
};
use cranebpf::cbpf::Program;
use cranebpf::{Dialect, Engine, FilterError, FilterOptions};
use std::io::{Read, Write};
use std::path::Path;

/// A FILTER argument, read: a program, an expression, or nothing (keep
/// every packet, as tcpdump does without an expression).
pub enum FilterArg {
    /// Keep every packet.
    All,
    /// A classic program, the same for every link type.
    Program(Program),
    /// A pcap-filter expression, the link type `--linktype` forces, and
    /// whether it goes through the optimiser (not with `-O`).
    Expr {
        text: String,
        forced: Option<cranebpf::LinkType>,
        optimize: bool,
    },
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
                FilterArg::Expr {
                    text,
                    forced,
                    optimize: !prog.no_optimize,
                }
            }
        })
    }

    /// The capture filter on `engine`: a program is checked and compiled
    /// now (exit 1 if the kernel would refuse it), an expression's syntax
    /// checked (exit 2), before any input is read.
    pub fn build(&self, engine: Option<Engine>) -> Result<CaptureFilter, Failure> {
        self.build_in(engine, Dialect::Linux)
    }

    /// [`FilterArg::build`] with Linux's rules or libpcap's (`--libpcap`).
    pub fn build_in(
        &self,
        engine: Option<Engine>,
        dialect: Dialect,
    ) -> Result<CaptureFilter, Failure> {
        let options = FilterOptions {
            engine,
            dialect,
            ..FilterOptions::default()
        };
        let built = match self {
            FilterArg::All => CaptureFilter::accept_all(options),
            FilterArg::Program(p) => CaptureFilter::program_with(p.clone(), options),
            FilterArg::Expr {
                text,
                forced,
                optimize: true,
            } => CaptureFilter::expression_with(text, *forced, options),
            FilterArg::Expr { text, forced, .. } => {
                CaptureFilter::expression_unoptimized(text, *forced, options)
            }
        };
        built.map_err(filter_failure)
    }
}

/// The exit code and message for a filter that cannot be built.
pub fn filter_failure(e: CaptureFilterError) -> Failure {
    let code = match e {
        CaptureFilterError::Filter(
            FilterError::Rejected(_) | FilterError::RejectedByLibpcap(_),
        ) => EXIT_REJECTED,
        _ => super::EXIT_BAD_INPUT,
    };
    Failure {
        message: e.to_string(),
        code,
    }
}

/// A capture to read: a regular file mapped (stdin too when it is one),
/// or a pipe, FIFO or device read as the bytes arrive.
pub enum Input {
    /// A memory-mapped file.
    Mapped(Mapped),
    /// A stream read whole ([`Input::open_whole`]).
    Owned(Vec<u8>),
    /// A stream, read as it comes.
    Stream(Box<dyn Read>),
}

impl Input {
    /// Opens `path` (`-`: stdin).
    pub fn open(path: &Path) -> Result<Input, Failure> {
        let failed = |e: std::io::Error| Failure::bad_input(format!("{}: {e}", path.display()));
        let file = if path.as_os_str() == "-" {
            match stdin_file() {
                Some(file) => file,
                None => return Ok(Input::Stream(Box::new(std::io::stdin()))),
            }
        } else {
            std::fs::File::open(path).map_err(failed)?
        };
        if file.metadata().map_err(failed)?.is_file() {
            Mapped::from_file(&file).map(Input::Mapped).map_err(failed)
        } else {
            Ok(Input::Stream(Box::new(file)))
        }
    }

    /// Opens `path` and reads a stream to its end, for commands that need
    /// every packet at once.
    pub fn open_whole(path: &Path) -> Result<Input, Failure> {
        match Input::open(path)? {
            Input::Stream(mut r) => {
                let mut buf = Vec::new();
                r.read_to_end(&mut buf)
                    .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
                Ok(Input::Owned(buf))
            }
            other => Ok(other),
        }
    }

    /// The capture's bytes, unless it is a stream still to read.
    pub fn bytes(&self) -> Option<&[u8]> {
        match self {
            Input::Mapped(m) => Some(m.bytes()),
            Input::Owned(v) => Some(v),
            Input::Stream(_) => None,
        }
    }
}

/// Standard input as a file (to map it when it is a regular one).
#[cfg(unix)]
fn stdin_file() -> Option<std::fs::File> {
    use std::os::fd::AsFd;
    let fd = std::io::stdin().as_fd().try_clone_to_owned().ok()?;
    Some(std::fs::File::from(fd))
}

/// Standard input as a file: not here; it is read as a stream.
#[cfg(not(unix))]
fn stdin_file() -> Option<std::fs::File> {
    None
}

/// `run PROG -r IN`: one decimal verdict per packet of the capture, one
/// per line.
pub fn run_capture(
    prog: &ProgArgs,
    path: &Path,
    engine: Option<Engine>,
    json: bool,
) -> Result<i32, Failure> {
    let filters = FilterArg::from_args(prog)?.build(engine)?;
    let input = Input::open(path)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let write_err = |e: std::io::Error| super::output::write_failure(Path::new("-"), e);
    let name = path.display();
    let bad = |e: &dyn std::fmt::Display| Failure::bad_input(format!("{name}: {e}"));
    let verdict = |p: &Packet<'_>, at: u64| {
        let filter = filters.for_packet(p).map_err(|e| {
            let what = format!("byte offset {at}: link type {}: {e}", p.link_type);
            bad(&what)
        })?;
        Ok::<u32, Failure>(filter.run_wire(p.data, p.wire_len))
    };
    // The filter for the link type the file declares is built before any
    // packet, as tcpdump builds it: one it cannot build fails on a capture
    // with no packets too.
    let mut declared_built = false;
    let mut build_declared = |declared: Option<(u32, bool, u64)>| {
        let Some((link_type, big_endian, at)) = declared.filter(|_| !declared_built) else {
            return Ok(());
        };
        declared_built = true;
        filters
            .for_savefile(link_type, big_endian)
            .map(drop)
            .map_err(|e| bad(&format!("byte offset {at}: link type {link_type}: {e}")))
    };
    let from_reader = |r: &Reader<'_>| {
        r.declared_link_type()
            .map(|(link_type, big_endian, at)| (link_type, big_endian, at as u64))
    };
    // A bad record ends the output after every verdict before it, as
    // tcpdump prints every record before it; the status says so.
    let mut cut_short = None;
    let mut index = 0usize;
    if let Some(bytes) = input.bytes() {
        let mut reader = Reader::new(bytes).map_err(|e| bad(&e))?;
        build_declared(from_reader(&reader))?;
        loop {
            let at = reader.offset() as u64;
            match reader.next_item() {
                None => break,
                Some(Err(e)) => {
                    cut_short = Some(e.to_string());
                    break;
                }
                Some(Ok(Item::Packet(p))) => {
                    let line =
                        super::run::verdict_line(json, index, verdict(&p, at)?, Some(p.link_type));
                    index += 1;
                    writeln!(out, "{line}").map_err(write_err)?;
                }
                Some(Ok(_)) => build_declared(from_reader(&reader))?,
            }
        }
    } else if let Input::Stream(read) = input {
        let mut stream = Stream::new(read).map_err(|e| bad(&e))?;
        build_declared(stream.declared_link_type())?;
        loop {
            let at = stream.offset();
            match stream.next_item() {
                None => break,
                Some(Err(ScanError::Capture(e))) => {
                    cut_short = Some(e.to_string());
                    break;
                }
                Some(Err(e)) => return Err(bad(&e)),
                Some(Ok(Item::Packet(p))) => {
                    let line =
                        super::run::verdict_line(json, index, verdict(&p, at)?, Some(p.link_type));
                    index += 1;
                    writeln!(out, "{line}").map_err(write_err)?;
                    // Each verdict out as its packet comes.
                    out.flush().map_err(write_err)?;
                }
                Some(Ok(_)) => build_declared(stream.declared_link_type())?,
            }
        }
    }
    out.flush().map_err(write_err)?;
    match cut_short {
        None => Ok(0),
        Some(e) => {
            eprintln!("cranebpf: {name}: {e}");
            Ok(super::EXIT_CUT_SHORT)
        }
    }
}

/// Packets with their timestamps.
pub type TimedPackets = Vec<(Timestamp, Vec<u8>)>;

/// Every packet of a capture with its timestamp, and the link type they
/// share (XDP runs take one). A bad record is an error naming its offset.
pub fn read_packets(path: &Path) -> Result<(TimedPackets, u32), Failure> {
    let input = Input::open_whole(path)?;
    let name = path.display();
    let bad = |e: &dyn std::fmt::Display| Failure::bad_input(format!("{name}: {e}"));
    let bytes = input.bytes().unwrap_or_default();
    let mut reader = Reader::new(bytes).map_err(|e| bad(&e))?;
    let mut packets = Vec::new();
    let mut link = None;
    while let Some(item) = reader.next_item() {
        if let Item::Packet(p) = item.map_err(|e| bad(&e))? {
            match link {
                None => link = Some(p.link_type),
                Some(l) if l != p.link_type => {
                    return Err(bad(&format!(
                        "packets of link types {l} and {}; an XDP run takes one",
                        p.link_type
                    )))
                }
                Some(_) => {}
            }
            packets.push((reader.timestamp(&p), p.data.to_vec()));
        }
    }
    Ok((packets, link.unwrap_or(1)))
}
