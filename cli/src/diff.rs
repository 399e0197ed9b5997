//! `cranebpf diff --kernel`: compare every engine with the running kernel
//! on fresh generated cases, or on the user's programs and packets, and
//! print each mismatch minimised. Ends with `N cases, M mismatches`.

use super::output::sayln;
use super::prog::InputForm;
use super::prog_source;
use super::Failure;
use clap::Args;
use cranebpf::capture::{self, map::Mapped};
use cranebpf::cbpf::parse;
use cranebpf::cbpf::Program;
use cranebpf_harness::conformance::diff::{
    compare_program, generated, generated_ebpf, packets_for, reads_random, DiffSummary,
    EbpfMismatch, LiveMismatch,
};
use cranebpf_harness::conformance::record::ClassicRecorder;
use cranebpf_harness::kernel::classic::MAX_PACKET;
use cranebpf_harness::Rng;
use std::path::{Path, PathBuf};

/// Arguments of `diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Compare with the running kernel (SO_ATTACH_FILTER on an AF_UNIX
    /// socket pair; works unprivileged).
    #[arg(long, required = true)]
    kernel: bool,
    /// Seed of the generated programs and packets.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// At least this many comparisons when generating cases.
    #[arg(long, default_value_t = 10_000)]
    cases: usize,
    /// Classic programs to compare instead of generated ones: files in
    /// any form, or pcap-filter expressions.
    #[arg(value_name = "PROG")]
    progs: Vec<PathBuf>,
    /// Read every PROG in this form instead of detecting it.
    #[arg(long, value_enum, value_name = "FORM")]
    from: Option<InputForm>,
    /// Also compare fresh eBPF socket filters (every ALU/JMP/JMP32 op and
    /// the legacy packet loads) with BPF_PROG_TEST_RUN; needs root.
    #[arg(long, conflicts_with = "progs")]
    ebpf: bool,
    /// Packets for PROGs, one hex packet per line (default: 64 generated
    /// packets per program, from --seed).
    #[arg(long, value_name = "FILE", conflicts_with = "read")]
    hex_file: Option<PathBuf>,
    /// Packets for PROGs from a capture file (pcap or pcapng); each
    /// packet's captured bytes are sent as one datagram.
    #[arg(short = 'r', long = "read", value_name = "CAPTURE")]
    read: Option<PathBuf>,
    /// Print one JSON object on stdout instead of text: `{"cases": N,
    /// "mismatches": M, "reports": [{"engine", "program" (tcpdump -ddd
    /// text, or eBPF assembly), "packet" (hex or null), "kernel", "ours"}]}`.
    #[arg(long)]
    json: bool,
}

/// Bytes as lowercase hex, no separators.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a hex packet file (one packet per line, `-` = empty, `#` comments).
pub fn load_packets(path: &Path) -> Result<Vec<Vec<u8>>, Failure> {
    super::run::hex_packets(path)
}

/// The captured bytes of every packet in a pcap or pcapng file, at most
/// the largest datagram the socket pair carries.
fn capture_packets(path: &Path) -> Result<Vec<Vec<u8>>, Failure> {
    let map =
        Mapped::open(path).map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
    let packets = capture::packets(map.bytes())
        .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
    Ok(packets
        .into_iter()
        .map(|(_, p)| p.data[..p.data.len().min(MAX_PACKET)].to_vec())
        .collect())
}

/// Reads classic programs in any form (or the one forced); an argument
/// that names no file is compiled as a pcap-filter expression (Ethernet),
/// as everywhere else in the CLI.
pub fn load_programs(
    paths: &[PathBuf],
    from: Option<InputForm>,
) -> Result<Vec<(String, Program)>, Failure> {
    paths
        .iter()
        .map(|path| {
            let name = path.display().to_string();
            if from.is_none() && prog_source::choose(path, None) == prog_source::Source::Expr {
                let prog = prog_source::compile(&name, None)
                    .map_err(|e| Failure::bad_input(format!("{name}: {e}")))?;
                return Ok((name, prog));
            }
            let bytes =
                std::fs::read(path).map_err(|e| Failure::bad_input(format!("{name}: {e}")))?;
            let form = from.map_or_else(|| parse::detect(&bytes), InputForm::form);
            let prog = parse::parse_as(&bytes, form)
                .map_err(|e| Failure::bad_input(format!("{name}: {e}")))?;
            Ok((name, prog))
        })
        .collect()
}

/// Runs `diff`.
pub fn main(args: DiffArgs) -> Result<i32, Failure> {
    let _ = args.kernel; // the only comparison target so far
    let mut rec = ClassicRecorder::new()
        .map_err(|e| Failure::bad_input(format!("kernel socket pair: {e}")))?;
    let mut reports: Vec<serde_json::Value> = Vec::new();
    let json = args.json;
    let mut print = |m: &LiveMismatch| {
        if json {
            reports.push(serde_json::json!({
                "engine": m.engine,
                "program": cranebpf::cbpf::print::ddd(&m.program),
                "packet": m.packet.as_deref().map(hex),
                "kernel": m.kernel,
                "ours": m.ours,
            }));
        } else {
            sayln!("{m}");
        }
    };
    let mut summary = if args.progs.is_empty() {
        generated(&mut rec, args.seed, args.cases, &mut print).map_err(Failure::bad_input)?
    } else {
        let user_packets = match (&args.hex_file, &args.read) {
            (Some(path), _) => Some(load_packets(path)?),
            (None, Some(path)) => Some(capture_packets(path)?),
            (None, None) => None,
        };
        let mut rng = Rng::new(args.seed);
        let mut summary = DiffSummary::default();
        for (name, prog) in load_programs(&args.progs, args.from)? {
            if reads_random(&prog) {
                eprintln!("{name}: skipped: it reads #rand, whose kernel values are random");
                continue;
            }
            let packets = match &user_packets {
                Some(p) => p.clone(),
                None => packets_for(&prog, &mut rng, 64),
            };
            compare_program(&mut rec, &prog, &packets, &mut summary, &mut print)
                .map_err(|e| Failure::bad_input(format!("{name}: {e}")))?;
        }
        summary
    };
    if args.ebpf {
        let mut print = |m: &EbpfMismatch| {
            if json {
                reports.push(serde_json::json!({
                    "engine": m.engine,
                    "program": m.source,
                    "packet": hex(&m.packet),
                    "kernel": m.kernel.to_string(),
                    "ours": m.ours,
                }));
            } else {
                sayln!("{m}");
            }
        };
        let more = generated_ebpf(args.seed, &mut print).map_err(Failure::bad_input)?;
        summary.cases += more.cases;
        summary.mismatches += more.mismatches;
    }
    if summary.skipped_enomem > 0 {
        eprintln!(
            "{} programs not compared: the kernel refused them with ENOMEM (net.core.optmem_max)",
            summary.skipped_enomem
        );
    }
    if json {
        let value = serde_json::json!({
            "cases": summary.cases,
            "mismatches": summary.mismatches,
            "reports": reports,
        });
        sayln!("{value}");
    } else {
        sayln!("{} cases, {} mismatches", summary.cases, summary.mismatches);
    }
    Ok(if summary.mismatches > 0 { 1 } else { 0 })
}
