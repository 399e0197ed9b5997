//! [`CaptureFilter`]: what filters a capture file. A capture may mix link
//! types (pcapng gives each interface its own), and a pcap-filter
//! expression means different loads on each, so the policy "one filter per
//! link type, compiled once, when the first packet of that type comes" lives
//! here, in the library, for the scan and for anyone reading captures.

use super::scan::{scan, ScanError, ScanOptions, Summary};
use super::Packet;
use crate::cbpf::insn::op;
use crate::cbpf::{self, Program};
use crate::expr::{
    check_syntax, compile_expr_with, ExprError, ExprOptions, LinkType, PacketSource, ACCEPT_VERDICT,
};
use crate::{Dialect, Filter, FilterError, FilterOptions};
use std::io::Write;
use std::sync::{Arc, Mutex};

/// What a built filter serves: a link type (`LINKTYPE_*`) and where its
/// packets come from.
type FilterKey = (u32, PacketSource);

/// What a [`CaptureFilter`] runs.
#[derive(Clone, Debug)]
enum Source {
    /// One classic program for every link type.
    Program(Program),
    /// A pcap-filter expression, compiled for each link type met, or for
    /// the one forced.
    Expression {
        text: String,
        forced: Option<LinkType>,
        /// Through the optimiser (not with `tcpdump -O`).
        optimize: bool,
    },
}

/// Why no filter could be made for a link type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CaptureFilterError {
    /// The expression compiler knows no link type by this number.
    UnknownLinkType(u32),
    /// The expression does not compile (for the link type named, where the
    /// error depends on one).
    Expression {
        /// The expression.
        text: String,
        /// The compiler's error, with its column.
        error: ExprError,
    },
    /// The program (given, or compiled) cannot be run as asked.
    Filter(FilterError),
}

impl std::fmt::Display for CaptureFilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CaptureFilterError::UnknownLinkType(dlt) => write!(
                f,
                "unknown link type {dlt}: the expression compiler does not know it \
                 (use a program, or force a link type)"
            ),
            CaptureFilterError::Expression { text, error } => f.write_str(&error.report(text)),
            CaptureFilterError::Filter(FilterError::Rejected(e)) => {
                write!(f, "rejected (the kernel would not run it): {e}")
            }
            CaptureFilterError::Filter(FilterError::RejectedByLibpcap(e)) => {
                write!(f, "rejected (libpcap would not run it): {e}")
            }
            CaptureFilterError::Filter(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CaptureFilterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CaptureFilterError::Expression { error, .. } => Some(error),
            CaptureFilterError::Filter(e) => Some(e),
            CaptureFilterError::UnknownLinkType(_) => None,
        }
    }
}

/// A filter for the packets of a capture: a classic program, or a
/// pcap-filter expression compiled for the link type of each packet's
/// interface the first time that link type is met, then shared (it is
/// `Send + Sync`, so threads scanning parts of a file share one).
///
/// An expression libpcap compiles to a program Linux's checker refuses
/// (`protochain` loops with a backward jump) runs in libpcap's dialect
/// ([`Dialect::Libpcap`]), as tcpdump runs it; a given program keeps the
/// dialect asked for.
///
/// ```
/// use cranebpf::capture::{CaptureFilter, ScanOptions};
///
/// let filter = CaptureFilter::expression("tcp port 443")?;
/// let input = std::fs::read("examples/sample.pcap")?;
/// let mut output = Vec::new(); // or a file; `None` only counts
/// let summary = filter.scan(&input, Some(&mut output), &ScanOptions::default())?;
/// assert_eq!((summary.matched, summary.packets), (202, 400));
/// assert!(summary.error.is_none()); // read to the end
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct CaptureFilter {
    source: Source,
    options: FilterOptions,
    /// Filters built so far, by link type and packet source (few: one per
    /// link type and byte order met).
    built: Mutex<Vec<(FilterKey, Arc<Filter>)>>,
}

impl CaptureFilter {
    /// A filter compiling `text` for each link type met. The syntax is
    /// checked now; what depends on the link type (a primitive some link
    /// types lack) is found when a packet of that type comes.
    pub fn expression(text: &str) -> Result<CaptureFilter, CaptureFilterError> {
        CaptureFilter::expression_with(text, None, FilterOptions::default())
    }

    /// [`CaptureFilter::expression`] with the filter options (engine,
    /// metadata) and, when `forced` is given, compiled for that link type
    /// whatever the capture says.
    pub fn expression_with(
        text: &str,
        forced: Option<LinkType>,
        options: FilterOptions,
    ) -> Result<CaptureFilter, CaptureFilterError> {
        CaptureFilter::expression_compiled(text, forced, true, options)
    }

    /// [`CaptureFilter::expression_with`] compiled without the optimiser,
    /// as `tcpdump -O` compiles (see [`ExprOptions::optimize`]).
    pub fn expression_unoptimized(
        text: &str,
        forced: Option<LinkType>,
        options: FilterOptions,
    ) -> Result<CaptureFilter, CaptureFilterError> {
        CaptureFilter::expression_compiled(text, forced, false, options)
    }

    fn expression_compiled(
        text: &str,
        forced: Option<LinkType>,
        optimize: bool,
        options: FilterOptions,
    ) -> Result<CaptureFilter, CaptureFilterError> {
        let error = |error| CaptureFilterError::Expression {
            text: text.to_string(),
            error,
        };
        check_syntax(text).map_err(error)?;
        let filter = CaptureFilter {
            source: Source::Expression {
                text: text.to_string(),
                forced,
                optimize,
            },
            options,
            built: Mutex::new(Vec::new()),
        };
        if let Some(link) = forced {
            // Every packet will use this one: build it now, so that a
            // refusal comes before any input is read.
            filter.for_link_type(link.dlt(), PacketSource::Live)?;
        }
        Ok(filter)
    }

    /// A filter running `program` on every packet, whatever its link type.
    /// It is checked and compiled now.
    pub fn program(program: Program) -> Result<CaptureFilter, CaptureFilterError> {
        CaptureFilter::program_with(program, FilterOptions::default())
    }

    /// [`CaptureFilter::program`] with the filter options.
    pub fn program_with(
        program: Program,
        options: FilterOptions,
    ) -> Result<CaptureFilter, CaptureFilterError> {
        let filter = CaptureFilter {
            source: Source::Program(program),
            options,
            built: Mutex::new(Vec::new()),
        };
        filter.for_link_type(0, PacketSource::Live)?;
        Ok(filter)
    }

    /// A filter keeping every packet: what libpcap compiles for an empty
    /// expression (`ret #262144`), as tcpdump filters with no expression.
    pub fn accept_all(options: FilterOptions) -> Result<CaptureFilter, CaptureFilterError> {
        let keep = cbpf::Insn::stmt(op::RET | op::K, ACCEPT_VERDICT);
        CaptureFilter::program_with(Program::new(vec![keep]), options)
    }

    /// The filter for `packet`, read from a capture file: compiled for its
    /// link type as libpcap compiles for a savefile in its byte order
    /// (what `tcpdump -r` does; see [`PacketSource`]).
    pub fn for_packet(&self, packet: &Packet<'_>) -> Result<Arc<Filter>, CaptureFilterError> {
        self.for_savefile(packet.link_type, packet.big_endian)
    }

    /// The filter for packets of `link_type` from a capture file written
    /// in that byte order (see [`CaptureFilter::for_packet`]); what
    /// tcpdump builds for the link type a file declares before its first
    /// packet ([`super::Reader::declared_link_type`]).
    pub fn for_savefile(
        &self,
        link_type: u32,
        big_endian: bool,
    ) -> Result<Arc<Filter>, CaptureFilterError> {
        self.for_link_type(link_type, PacketSource::Savefile { big_endian })
    }

    /// The filter for packets of `link_type` (`LINKTYPE_*`) from `source`,
    /// built now if it is the first packet of that kind.
    pub fn for_link_type(
        &self,
        link_type: u32,
        source: PacketSource,
    ) -> Result<Arc<Filter>, CaptureFilterError> {
        let key = (link_type, source);
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        if let Source::Program(_) = self.source {
            // The same filter serves every link type.
            if let Some((_, f)) = built.first() {
                return Ok(Arc::clone(f));
            }
        }
        if let Some((_, f)) = built.iter().find(|(k, _)| *k == key) {
            return Ok(Arc::clone(f));
        }
        let program = self.program_for(link_type, source)?;
        let filter = match Filter::with_options(program.clone(), self.options.clone()) {
            // What libpcap compiles but Linux refuses (protochain's
            // backward jumps) runs as tcpdump runs it: in libpcap's dialect.
            Err(FilterError::Rejected(_))
                if matches!(self.source, Source::Expression { .. })
                    && self.options.dialect == Dialect::Linux
                    && cbpf::libpcap::validate(&program).is_ok() =>
            {
                let options = FilterOptions {
                    dialect: Dialect::Libpcap,
                    ..self.options.clone()
                };
                Filter::with_options(program, options)
            }
            other => other,
        }
        .map_err(CaptureFilterError::Filter)?;
        let filter = Arc::new(filter);
        built.push((key, Arc::clone(&filter)));
        Ok(filter)
    }

    /// The classic program packets of `link_type` from `source` are
    /// filtered with.
    pub fn program_for(
        &self,
        link_type: u32,
        source: PacketSource,
    ) -> Result<Program, CaptureFilterError> {
        match &self.source {
            Source::Program(p) => Ok(p.clone()),
            Source::Expression {
                text,
                forced,
                optimize,
            } => {
                let link = match forced {
                    Some(l) => *l,
                    None => LinkType::from_dlt(link_type)
                        .ok_or(CaptureFilterError::UnknownLinkType(link_type))?,
                };
                let how = ExprOptions {
                    source,
                    optimize: *optimize,
                    ..ExprOptions::default()
                };
                compile_expr_with(text, link, how).map_err(|error| CaptureFilterError::Expression {
                    text: text.clone(),
                    error,
                })
            }
        }
    }

    /// Filters the capture in `bytes` (pcap or pcapng), writing the file
    /// header and every record the filter keeps to `out` in the input's
    /// format, or only counting without `out`; see [`scan`].
    pub fn scan(
        &self,
        bytes: &[u8],
        out: Option<&mut dyn Write>,
        options: &ScanOptions<'_>,
    ) -> Result<Summary, ScanError> {
        scan(bytes, self, out, options)
    }
}
