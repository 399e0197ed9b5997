//! `cranebpf run PROG --hex ... | --hex-file FILE | -r CAPTURE`: one
//! verdict per packet.

use super::prog::ProgArgs;
use super::{Failure, EXIT_REJECTED};
use clap::Args;
use cranebpf::cbpf::Metadata;
use cranebpf::{Engine, Filter, FilterError, FilterOptions};
use std::io::{Read, Write};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  cranebpf run examples/ip-udp.ddd --hex-file examples/packets.hex
  cranebpf run 'tcp port 443' -r examples/sample.pcap
  cranebpf run --ddd '1,6 0 0 96' --hex 'ff ff ff ff ff ff' -
  cranebpf run examples/ip-udp.ddd --engine cbpf --hex-file - < packets.hex
  cranebpf run --ebpf prog.s --mem '22 11 00 ff'
  cranebpf run --ebpf log2_int.bpf.bin --raw --mem-file log2_int.mem
  cranebpf run --ebpf xdp_prog.o -r capture.pcap --maps-out maps.json
  tcpdump -ddd -y RAW 'ip protochain 17' | cranebpf run --libpcap - --hex-file packets.hex

Prints one decimal 32-bit verdict per packet per line (0: drop; else the
number of bytes to keep).";

/// Arguments of `run`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct RunArgs {
    #[command(flatten)]
    prog: ProgArgs,
    /// Packets as hex bytes (spaces, `:` and `.` between bytes allowed;
    /// `-` is an empty packet).
    #[arg(long, value_name = "HEXBYTES", num_args = 1.., required_unless_present_any = ["hex_file", "ebpf", "read"], conflicts_with_all = ["hex_file", "read"])]
    hex: Vec<String>,
    /// Read the packets from a capture (pcap or pcapng; `-` reads stdin);
    /// an expression PROG is compiled for each link type in it, and `ld len`
    /// sees each packet's length on the wire.
    #[arg(short = 'r', long = "read", value_name = "IN", conflicts_with_all = ["hex_file", "meta"])]
    read: Option<PathBuf>,
    /// File of packets, one hex packet per line (`-` for an empty packet,
    /// blank lines and `#` comments skipped); `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    hex_file: Option<PathBuf>,
    /// Ancillary metadata, e.g. `--meta ifindex=2 --meta protocol=0x800`.
    #[arg(long, value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Execution engine.
    #[arg(long, default_value = "auto", value_parser = super::engine_or("auto", super::AUTO_HELP))]
    engine: ::std::option::Option<Engine>,
    /// Run an eBPF program instead of a classic one: assembly or raw bytes
    /// on input memory (--mem, --mem-file; prints its 64-bit return value),
    /// or an XDP program from a clang-built object, with its maps, on
    /// packets (-r, --hex, --hex-file; prints the action per packet).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["prog", "ddd", "meta"])]
    ebpf: Option<PathBuf>,
    /// With --ebpf and packets: preload maps from this JSON file
    /// (`{"map": [{"key": HEX, "value": HEX}, ...]}`); `.rodata` entries
    /// are set before the program is loaded and checked, as libbpf sets
    /// them.
    #[arg(long, value_name = "FILE", requires = "ebpf")]
    maps_in: Option<PathBuf>,
    /// With --ebpf and packets: write every map after the run as JSON (the
    /// form --maps-in takes; arrays list every index, bytes as in memory).
    #[arg(long, value_name = "FILE", requires = "ebpf")]
    maps_out: Option<PathBuf>,
    /// With --ebpf and packets: write every packet as the program left it
    /// (one pcap record per input packet).
    #[arg(long, value_name = "FILE", requires = "ebpf")]
    packets_out: Option<PathBuf>,
    /// With --ebpf and packets: write the ring buffer and perf event
    /// records as JSON Lines, `{"packet": N, "map": NAME, "data": HEX}`
    /// (with --json they are also in each packet's line).
    #[arg(
        long,
        value_name = "FILE",
        requires = "ebpf",
        visible_alias = "ringbuf-out"
    )]
    records_out: Option<PathBuf>,
    /// With --ebpf and packets: `bpf_ktime_get_ns` as `fixed:START:STEP`
    /// (START, then START+STEP, … one step per call: reproducible runs)
    /// instead of nanoseconds since the program was made.
    #[arg(long, value_name = "CLOCK", requires = "ebpf", value_parser = parse_clock)]
    clock: Option<cranebpf::ebpf::runtime::Clock>,
    /// With --ebpf and packets: the seed of `bpf_get_prandom_u32`.
    #[arg(long, value_name = "N", requires = "ebpf", default_value_t = 0)]
    seed: u64,
    /// With --ebpf: read FILE as raw bytes even if it looks like text.
    #[arg(long, requires = "ebpf")]
    raw: bool,
    #[command(flatten)]
    program: super::ebpf::ProgramChoice,
    /// With --ebpf: the input memory as hex (r1 points to it, r2 is its
    /// length).
    #[arg(long, value_name = "HEX", default_value = "", requires = "ebpf")]
    mem: String,
    /// With --ebpf: the input memory is the bytes of FILE (r1 points to
    /// them, r2 is their number).
    #[arg(long, value_name = "FILE", requires = "ebpf", conflicts_with = "mem")]
    mem_file: Option<PathBuf>,
    /// With --ebpf: instruction budget; recursion, and loops the verifier
    /// cannot prove to finish, need one.
    #[arg(long, requires = "ebpf")]
    budget: Option<u64>,
    /// Run the classic program as libpcap's `bpf_filter` does (backward
    /// `ja`, unwritten scratch reads 0, no ancillary loads; see the README)
    /// instead of as Linux does.
    #[arg(long, conflicts_with_all = ["ebpf", "read", "meta", "engine"])]
    libpcap: bool,
    /// JSON Lines on stdout instead of bare numbers: `{"packet": N,
    /// "verdict": V}` per packet (N from 1; with -r also "link_type"), or
    /// for --ebpf one `{"return": V}`.
    #[arg(long)]
    json: bool,
}

/// `--clock fixed:START:STEP` (STEP defaults to 1).
fn parse_clock(text: &str) -> Result<cranebpf::ebpf::runtime::Clock, String> {
    let rest = text
        .strip_prefix("fixed:")
        .ok_or_else(|| format!("'{text}': expected fixed:START[:STEP]"))?;
    let mut parts = rest.splitn(2, ':');
    let number = |s: Option<&str>, default: Option<u64>| match (s, default) {
        (None, Some(d)) => Ok(d),
        (s, _) => s
            .unwrap_or("")
            .parse::<u64>()
            .map_err(|e| format!("'{text}': {e}")),
    };
    let start = number(parts.next(), None)?;
    let step = number(parts.next(), Some(1))?;
    Ok(cranebpf::ebpf::runtime::Clock::Fixed { start, step })
}

/// Decodes one hex packet; `what` names it in errors.
pub(super) fn decode_hex(text: &str, what: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    if text == "-" {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut high: Option<(u8, usize)> = None;
    for (col, c) in text.chars().enumerate() {
        if matches!(c, ' ' | '\t' | ':' | '.') {
            if let Some((_, at)) = high {
                return Err(format!("{what}, column {}: lone hex digit", at + 1));
            }
            continue;
        }
        let Some(d) = c.to_digit(16) else {
            return Err(format!(
                "{what}, column {}: `{c}` is not a hex digit",
                col + 1
            ));
        };
        match high.take() {
            None => high = Some((d as u8, col)),
            Some((h, _)) => out.push(h << 4 | d as u8),
        }
    }
    if let Some((_, at)) = high {
        return Err(format!(
            "{what}, column {}: odd number of hex digits",
            at + 1
        ));
    }
    Ok(out)
}

fn packets(args: &RunArgs) -> Result<Vec<Vec<u8>>, Failure> {
    let Some(path) = &args.hex_file else {
        return args
            .hex
            .iter()
            .enumerate()
            .map(|(i, h)| decode_hex(h, &format!("--hex packet {}", i + 1)))
            .collect::<Result<_, _>>()
            .map_err(Failure::bad_input);
    };
    hex_packets(path)
}

/// Reads a hex packet file: one packet per line, `-` an empty packet,
/// blank lines and `#` comments skipped; the path `-` reads stdin.
pub(super) fn hex_packets(path: &std::path::Path) -> Result<Vec<Vec<u8>>, Failure> {
    let mut bytes = Vec::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::read(path).map(|b| bytes = b)
    };
    read.map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let valid = std::str::from_utf8(&e.as_bytes()[..at]).unwrap_or_default();
        let (line, column) = cranebpf::cbpf::parse::line_column(valid, at);
        Failure::bad_input(format!(
            "{}: line {line}, column {column} (byte offset {at}): not UTF-8 text",
            path.display()
        ))
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let body = line.trim();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let what = format!("{}: line {}", path.display(), n + 1);
        out.push(decode_hex(body, &what).map_err(Failure::bad_input)?);
    }
    Ok(out)
}

/// One line of `run`'s output: the verdict, or with --json the JSON
/// object for packet `index` (0-based here, 1-based in the output).
pub(super) fn verdict_line(
    json: bool,
    index: usize,
    verdict: u32,
    link_type: Option<u32>,
) -> String {
    match (json, link_type) {
        (false, _) => verdict.to_string(),
        (true, None) => serde_json::json!({ "packet": index + 1, "verdict": verdict }).to_string(),
        (true, Some(lt)) => {
            serde_json::json!({ "packet": index + 1, "verdict": verdict, "link_type": lt })
                .to_string()
        }
    }
}

/// A failed write to stdout (silent status 141 for a closed pipe).
fn stdout_failure(e: std::io::Error) -> Failure {
    super::output::write_failure(std::path::Path::new("-"), e)
}

/// Runs the program on every packet and prints the verdicts.
pub fn main(args: RunArgs) -> Result<i32, Failure> {
    if let Some(path) = &args.ebpf {
        if args.engine == Some(Engine::Cbpf) {
            return Err(Failure::bad_input(
                "--engine cbpf runs classic programs only; use interp or jit with --ebpf",
            ));
        }
        let has_packets = args.read.is_some() || args.hex_file.is_some() || !args.hex.is_empty();
        if has_packets {
            if args.mem_file.is_some() || !args.mem.is_empty() {
                return Err(Failure::bad_input(
                    "give packets (-r, --hex, --hex-file) or input memory (--mem, --mem-file), \
                     not both",
                ));
            }
            let (packets, link_type) = match &args.read {
                Some(file) => super::capture_source::read_packets(file)?,
                None => (
                    packets(&args)?
                        .into_iter()
                        .map(|p| (cranebpf::capture::Timestamp { secs: 0, nanos: 0 }, p))
                        .collect(),
                    1,
                ),
            };
            let outputs = super::ebpf::XdpOutputs {
                maps_in: args.maps_in.as_deref(),
                maps_out: args.maps_out.as_deref(),
                packets_out: args.packets_out.as_deref(),
                records_out: args.records_out.as_deref(),
                clock: args.clock,
                seed: args.seed,
            };
            return super::ebpf::run_xdp(
                path,
                &args.program,
                &packets,
                link_type,
                args.engine,
                args.budget,
                args.json,
                &outputs,
            );
        }
        if args.maps_in.is_some()
            || args.maps_out.is_some()
            || args.packets_out.is_some()
            || args.records_out.is_some()
        {
            return Err(Failure::bad_input(
                "--maps-in, --maps-out, --packets-out and --records-out go with packets (-r, \
                 --hex, --hex-file)",
            ));
        }
        let mem = match &args.mem_file {
            Some(file) => std::fs::read(file)
                .map_err(|e| Failure::bad_input(format!("--mem-file {}: {e}", file.display())))?,
            None => super::ebpf::parse_hex(&args.mem).map_err(Failure::bad_input)?,
        };
        return super::ebpf::run_ebpf(
            path,
            args.raw,
            &args.program,
            mem,
            args.engine,
            args.budget,
            args.json,
        );
    }
    if let Some(path) = &args.read {
        return super::capture_source::run_capture(&args.prog, path, args.engine, args.json);
    }
    let prog = args.prog.load()?;
    if args.libpcap {
        return run_libpcap(&prog, &packets(&args)?, args.json);
    }
    let mut meta = Metadata::default();
    for setting in &args.meta {
        meta.set(setting)
            .map_err(|e| Failure::bad_input(e.to_string()))?;
    }
    let options = FilterOptions {
        engine: args.engine,
        metadata: meta,
        ..FilterOptions::default()
    };
    let filter = Filter::with_options(prog, options).map_err(|e| match e {
        FilterError::Rejected(e) => Failure {
            message: format!("rejected (the kernel would not run it): {e}"),
            code: EXIT_REJECTED,
        },
        other => Failure::bad_input(other.to_string()),
    })?;
    let packets = packets(&args)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (i, packet) in packets.iter().enumerate() {
        let verdict = filter.run(packet);
        writeln!(out, "{}", verdict_line(args.json, i, verdict, None)).map_err(stdout_failure)?;
    }
    out.flush().map_err(stdout_failure)?;
    Ok(0)
}

/// `run --libpcap`: libpcap's validator and interpreter.
fn run_libpcap(
    prog: &cranebpf::cbpf::Program,
    packets: &[Vec<u8>],
    json: bool,
) -> Result<i32, Failure> {
    use cranebpf::cbpf::libpcap;
    libpcap::validate(prog).map_err(|e| Failure {
        message: format!("rejected (libpcap would not run it): {e}"),
        code: EXIT_REJECTED,
    })?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (i, packet) in packets.iter().enumerate() {
        let verdict = libpcap::run(prog, packet, packet.len() as u32)
            .map_err(|e| Failure::bad_input(format!("packet {}: {e}", i + 1)))?;
        writeln!(out, "{}", verdict_line(json, i, verdict, None)).map_err(stdout_failure)?;
    }
    out.flush().map_err(stdout_failure)?;
    Ok(0)
}
