//! The corpus file format: line-oriented text, one fact per line, so that
//! re-recording shows up as a readable diff.
//!
//! ```text
//! # comment (ignored; so are blank lines)
//! cranebpf-corpus 1                 first line: format version
//! kernel 6.18.44-fc-v595            `uname -r` of the recording machine
//! family classic                    free-form header lines: family, seed,
//! seed 0x5eed                       recipe notes (kept, not interpreted)
//! meta cpu=0                        metadata for classic replay (Metadata::set)
//! packet 0 hex 0011aabb             a packet, hex bytes (`-` = empty)
//! packet 1 random 0x1234 65535      SplitMix64(seed) bytes, of this length
//! packet 2 resize 0 61              packet 0 cut to (or padded with 0xa5 to) 61 bytes
//! expr tcp port 80                  optional: the tcpdump expression of the next case
//! classic 4,40 0 0 12,21 0 1 2048,6 0 0 65535,6 0 0 0
//! deliver 0:60 1:0 2:61             packet index : bytes the receiver got (0 = dropped)
//! accept 1,6 0 0 1                  the kernel attached this program
//! reject 1,22 0 0 0                 setsockopt failed with EINVAL
//! ebpf mov %r6, %r1 | ldabsb 0 | exit    eBPF assembly, `|` separates lines
//! retval 0:0x11 1:0x0               packet index : BPF_PROG_TEST_RUN retval
//! ```
//!
//! Packets are defined before use and numbered 0, 1, 2, … in order. eBPF
//! packets are what the program sees: the recorder puts 14 zero bytes (the
//! Ethernet header the socket-filter test run strips) in front of them.

use crate::Rng;
use cranebpf::cbpf::{self, Metadata};
use cranebpf::ebpf;
use std::fmt::{self, Write};

/// The format version this module reads and writes.
pub const VERSION: u32 = 1;

/// Byte used to pad a `resize` packet past its base's end.
pub const PAD: u8 = 0xa5;

/// How a packet of the table is stored.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PacketSpec {
    /// Literal bytes.
    Hex(Vec<u8>),
    /// `len` bytes from `gen::packet::random_bytes(Rng::new(seed), len)`.
    Random {
        /// Generator seed.
        seed: u64,
        /// Length in bytes.
        len: usize,
    },
    /// Packet `base` of the table cut to `len` bytes, or padded with
    /// [`PAD`] bytes to `len`.
    Resize {
        /// Index of an earlier packet.
        base: usize,
        /// Length in bytes.
        len: usize,
    },
}

impl PacketSpec {
    /// The bytes of this packet, given the bytes of the packets before it.
    pub fn bytes(&self, earlier: &[Vec<u8>]) -> Vec<u8> {
        match self {
            PacketSpec::Hex(b) => b.clone(),
            PacketSpec::Random { seed, len } => {
                crate::gen::packet::random_bytes(&mut Rng::new(*seed), *len)
            }
            PacketSpec::Resize { base, len } => {
                // parse() guarantees base < index; a hand-built table with
                // a forward reference gets an empty base.
                let mut b = earlier.get(*base).cloned().unwrap_or_default();
                b.resize(*len, PAD);
                b
            }
        }
    }
}

/// One recorded case.
#[derive(Clone, Debug)]
pub enum Case {
    /// A classic program and what the receiving socket got per packet.
    Classic {
        /// Line of the `classic` line in the file (the case's index when
        /// built in memory).
        line: usize,
        /// The tcpdump expression it was compiled from, if any.
        expr: Option<String>,
        /// The program.
        prog: cbpf::Program,
        /// (packet index, bytes delivered; 0 = dropped).
        deliveries: Vec<(usize, usize)>,
    },
    /// A classic program and whether the kernel attached it.
    Acceptance {
        /// Line in the file.
        line: usize,
        /// The program.
        prog: cbpf::Program,
        /// Whether `SO_ATTACH_FILTER` succeeded (else it failed with EINVAL).
        accepted: bool,
    },
    /// An eBPF socket filter and its test-run return values.
    Ebpf {
        /// Line in the file.
        line: usize,
        /// The assembly, lines separated by `|`.
        source: String,
        /// The assembled program.
        prog: ebpf::Program,
        /// (packet index, `retval`: the low 32 bits of r0).
        retvals: Vec<(usize, u32)>,
    },
}

/// A corpus file.
#[derive(Clone, Debug, Default)]
pub struct Corpus {
    /// `uname -r` of the recording kernel.
    pub kernel: String,
    /// Other header lines, `(key, rest of line)`, in order.
    pub header: Vec<(String, String)>,
    /// The `meta` settings, as text (`key=value`).
    pub meta: Vec<String>,
    /// The packet table.
    pub packets: Vec<PacketSpec>,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// A malformed corpus line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormatError {
    /// Line, counted from 1.
    pub line: usize,
    /// Column, counted from 1.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for FormatError {}

/// Hex text of `bytes` (`-` for none).
pub fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "-".to_string();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of hex text (`-` for none); the error gives the offending offset.
pub fn unhex(text: &str) -> Result<Vec<u8>, (usize, String)> {
    if text == "-" {
        return Ok(Vec::new());
    }
    if !text.len().is_multiple_of(2) {
        return Err((text.len(), "odd number of hex digits".to_string()));
    }
    let digit = |at: usize| -> Result<u8, (usize, String)> {
        let c = text.as_bytes()[at];
        (c as char)
            .to_digit(16)
            .map(|d| d as u8)
            .ok_or((at, format!("`{}` is not a hex digit", c as char)))
    };
    (0..text.len() / 2)
        .map(|i| Ok(digit(2 * i)? << 4 | digit(2 * i + 1)?))
        .collect()
}

fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => text.parse().ok(),
    }
}

impl Corpus {
    /// An empty corpus recorded on `kernel`.
    pub fn new(kernel: &str) -> Corpus {
        Corpus {
            kernel: kernel.to_string(),
            ..Corpus::default()
        }
    }

    /// The metadata classic cases replay with.
    pub fn metadata(&self) -> Result<Metadata, cbpf::meta::MetaError> {
        let mut m = Metadata::default();
        for s in &self.meta {
            m.set(s)?;
        }
        Ok(m)
    }

    /// Adds a packet and returns its index.
    pub fn add_packet(&mut self, spec: PacketSpec) -> usize {
        self.packets.push(spec);
        self.packets.len() - 1
    }

    /// The bytes of every packet of the table, in order.
    pub fn materialize(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::with_capacity(self.packets.len());
        for spec in &self.packets {
            let bytes = spec.bytes(&out);
            out.push(bytes);
        }
        out
    }

    /// Number of (program, packet) verdicts of each kind: classic
    /// deliveries, acceptance verdicts, eBPF return values.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for c in &self.cases {
            match c {
                Case::Classic { deliveries, .. } => n.0 += deliveries.len(),
                Case::Acceptance { .. } => n.1 += 1,
                Case::Ebpf { retvals, .. } => n.2 += retvals.len(),
            }
        }
        n
    }

    /// The file text.
    pub fn write(&self) -> String {
        let mut s = format!("cranebpf-corpus {VERSION}\nkernel {}\n", self.kernel);
        for (k, v) in &self.header {
            let _ = writeln!(s, "{k} {v}");
        }
        for m in &self.meta {
            let _ = writeln!(s, "meta {m}");
        }
        for (i, p) in self.packets.iter().enumerate() {
            let _ = match p {
                PacketSpec::Hex(b) => writeln!(s, "packet {i} hex {}", hex(b)),
                PacketSpec::Random { seed, len } => {
                    writeln!(s, "packet {i} random {seed:#x} {len}")
                }
                PacketSpec::Resize { base, len } => writeln!(s, "packet {i} resize {base} {len}"),
            };
        }
        for c in &self.cases {
            match c {
                Case::Classic {
                    expr,
                    prog,
                    deliveries,
                    ..
                } => {
                    if let Some(e) = expr {
                        let _ = writeln!(s, "expr {e}");
                    }
                    let _ = write!(s, "classic {}", cbpf::print::comma(prog));
                    s.push_str("deliver");
                    for (p, n) in deliveries {
                        let _ = write!(s, " {p}:{n}");
                    }
                    s.push('\n');
                }
                Case::Acceptance { prog, accepted, .. } => {
                    let word = if *accepted { "accept" } else { "reject" };
                    let _ = write!(s, "{word} {}", cbpf::print::comma(prog));
                }
                Case::Ebpf {
                    source, retvals, ..
                } => {
                    let _ = writeln!(s, "ebpf {source}");
                    s.push_str("retval");
                    for (p, v) in retvals {
                        let _ = write!(s, " {p}:{v:#x}");
                    }
                    s.push('\n');
                }
            }
        }
        s
    }
}

/// Assembles `|`-separated eBPF source; errors give the column in `source`.
pub fn assemble_ebpf(source: &str) -> Result<ebpf::Program, (usize, String)> {
    let text = source.replace('|', "\n");
    ebpf::asm::assemble(&text).map_err(|e| {
        // Column in the one-line form: start of the e.line-th segment.
        let start: usize = source
            .split('|')
            .take(e.line.saturating_sub(1))
            .map(|seg| seg.len() + 1)
            .sum();
        (start + e.column, e.message)
    })
}

/// Parses a corpus file.
pub fn parse(text: &str) -> Result<Corpus, FormatError> {
    let mut corpus = Corpus::default();
    let mut expr: Option<String> = None;
    let mut pending: Option<Case> = None;
    let mut seen_version = false;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let err = |column: usize, message: String| FormatError {
            line,
            column,
            message,
        };
        let trimmed = raw.trim_end();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (key, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
        let rest_col = key.len() + 2;
        if !seen_version {
            if key != "cranebpf-corpus" || number(rest) != Some(VERSION as u64) {
                return Err(err(
                    1,
                    format!("expected `cranebpf-corpus {VERSION}` as the first line"),
                ));
            }
            seen_version = true;
            continue;
        }
        // A case line must be followed by its verdict line.
        if let Some(case) = pending.take() {
            let want = if matches!(case, Case::Ebpf { .. }) {
                "retval"
            } else {
                "deliver"
            };
            if key != want {
                return Err(err(
                    1,
                    format!("expected a `{want}` line after line {}", line - 1),
                ));
            }
            let pairs =
                verdict_pairs(rest, rest_col, corpus.packets.len()).map_err(|(c, m)| err(c, m))?;
            corpus.cases.push(match case {
                Case::Classic {
                    line, expr, prog, ..
                } => Case::Classic {
                    line,
                    expr,
                    prog,
                    deliveries: pairs.into_iter().map(|(p, v)| (p, v as usize)).collect(),
                },
                Case::Ebpf {
                    line, source, prog, ..
                } => {
                    let mut retvals = Vec::new();
                    for (p, v) in pairs {
                        let v = u32::try_from(v).map_err(|_| {
                            err(rest_col, format!("retval {v:#x} does not fit in 32 bits"))
                        })?;
                        retvals.push((p, v));
                    }
                    Case::Ebpf {
                        line,
                        source,
                        prog,
                        retvals,
                    }
                }
                other => other,
            });
            continue;
        }
        let classic = |rest: &str| {
            cbpf::parse::parse_comma(rest).map_err(|e| {
                let column = match e.location {
                    cbpf::parse::Location::Line { column, .. } => rest_col + column - 1,
                    cbpf::parse::Location::Byte(b) => rest_col + b,
                };
                err(column, e.message)
            })
        };
        match key {
            "kernel" => corpus.kernel = rest.to_string(),
            "meta" => {
                Metadata::default()
                    .set(rest)
                    .map_err(|e| err(rest_col, e.0))?;
                corpus.meta.push(rest.to_string());
            }
            "packet" => {
                let spec = packet_line(rest, rest_col, corpus.packets.len())
                    .map_err(|(c, m)| err(c, m))?;
                corpus.packets.push(spec);
            }
            "expr" => expr = Some(rest.to_string()),
            "classic" => {
                pending = Some(Case::Classic {
                    line,
                    expr: expr.take(),
                    prog: classic(rest)?,
                    deliveries: Vec::new(),
                })
            }
            "accept" | "reject" => corpus.cases.push(Case::Acceptance {
                line,
                prog: classic(rest)?,
                accepted: key == "accept",
            }),
            "ebpf" => {
                let prog = assemble_ebpf(rest).map_err(|(c, m)| err(rest_col + c - 1, m))?;
                pending = Some(Case::Ebpf {
                    line,
                    source: rest.to_string(),
                    prog,
                    retvals: Vec::new(),
                });
            }
            "deliver" | "retval" => {
                return Err(err(1, format!("`{key}` line without a program before it")))
            }
            "cranebpf-corpus" => return Err(err(1, "second version line".to_string())),
            _ if key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
            {
                corpus.header.push((key.to_string(), rest.to_string()))
            }
            _ => return Err(err(1, format!("unknown line kind `{key}`"))),
        }
    }
    if !seen_version {
        return Err(FormatError {
            line: 1,
            column: 1,
            message: format!("empty corpus: expected `cranebpf-corpus {VERSION}`"),
        });
    }
    if pending.is_some() {
        return Err(FormatError {
            line: text.lines().count(),
            column: 1,
            message: "the last program has no verdict line".to_string(),
        });
    }
    Ok(corpus)
}

/// `index kind args` of a packet line.
fn packet_line(rest: &str, col: usize, next: usize) -> Result<PacketSpec, (usize, String)> {
    let words: Vec<(usize, &str)> = words(rest, col);
    let index = words.first().and_then(|w| number(w.1));
    if index != Some(next as u64) {
        return Err((col, format!("expected packet number {next}")));
    }
    let arg = |i: usize| -> Result<(usize, &str), (usize, String)> {
        words
            .get(i)
            .copied()
            .ok_or((col + rest.len(), "missing field".to_string()))
    };
    let num = |i: usize| -> Result<u64, (usize, String)> {
        let (c, w) = arg(i)?;
        number(w).ok_or((c, format!("`{w}` is not a number")))
    };
    let (kcol, kind) = arg(1)?;
    let spec = match kind {
        "hex" => {
            let (c, h) = arg(2)?;
            PacketSpec::Hex(unhex(h).map_err(|(at, m)| (c + at, m))?)
        }
        "random" => PacketSpec::Random {
            seed: num(2)?,
            len: num(3)? as usize,
        },
        "resize" => {
            let base = num(2)? as usize;
            if base >= next {
                return Err((arg(2)?.0, format!("packet {base} is not defined yet")));
            }
            PacketSpec::Resize {
                base,
                len: num(3)? as usize,
            }
        }
        _ => return Err((kcol, format!("unknown packet kind `{kind}`"))),
    };
    let len = match &spec {
        PacketSpec::Random { len, .. } | PacketSpec::Resize { len, .. } => *len,
        PacketSpec::Hex(_) => 0,
    };
    if len > 1 << 20 {
        return Err((col, format!("packet length {len} over 1 MiB")));
    }
    Ok(spec)
}

/// Whitespace-separated words with their 1-based columns (offset `col`).
fn words(text: &str, col: usize) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut at = 0;
    for w in text.split(' ') {
        if !w.is_empty() {
            out.push((col + at, w));
        }
        at += w.len() + 1;
    }
    out
}

/// `packet:value` pairs.
fn verdict_pairs(
    rest: &str,
    col: usize,
    packets: usize,
) -> Result<Vec<(usize, u64)>, (usize, String)> {
    let mut out = Vec::new();
    for (c, w) in words(rest, col) {
        let Some((p, v)) = w.split_once(':') else {
            return Err((c, format!("`{w}`: expected packet:value")));
        };
        let p = number(p)
            .filter(|&p| (p as usize) < packets)
            .ok_or((c, format!("`{p}` is not a defined packet number")))?;
        let v = number(v).ok_or((c, format!("`{v}` is not a number")))?;
        out.push((p as usize, v));
    }
    Ok(out)
}
