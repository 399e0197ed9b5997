//! `cranebpf record`: ask the running kernel for verdicts and write them
//! as a corpus file — either the checked-in corpus from its seeds
//! (`--corpus DIR`), or the user's own programs and packets.

use super::diff::{load_packets, load_programs};
use super::prog::InputForm;
use super::Failure;
use clap::Args;
use cranebpf_harness::conformance::format::{assemble_ebpf, Case, Corpus, PacketSpec};
use cranebpf_harness::conformance::generate::{record_family, FILES};
use cranebpf_harness::conformance::record::{
    ebpf_available, kernel_release, record_ebpf, ClassicRecorder, ClassicVerdict,
};
use std::path::PathBuf;

/// Arguments of `record`.
#[derive(Args, Debug)]
pub struct RecordArgs {
    /// Re-record the corpus in DIR (e.g. `conformance`) from its seeds.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["progs", "ebpf"])]
    corpus: Option<PathBuf>,
    /// With --corpus: only this family (tcpdump, classic, acceptance, ebpf).
    #[arg(long, value_name = "FAMILY", requires = "corpus")]
    only: Vec<String>,
    /// Classic programs, each a file in any form the CLI reads.
    #[arg(value_name = "PROG")]
    progs: Vec<PathBuf>,
    /// Read every PROG in this form instead of detecting it.
    #[arg(long, value_enum, value_name = "FORM")]
    from: Option<InputForm>,
    /// eBPF socket filters (assembly files) to record with
    /// BPF_PROG_TEST_RUN (needs root).
    #[arg(long, value_name = "FILE")]
    ebpf: Vec<PathBuf>,
    /// Packets, one hex packet per line (`-` = empty packet, `#` comments).
    #[arg(long, value_name = "FILE")]
    hex_file: Option<PathBuf>,
    /// Write the corpus here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Runs `record`.
pub fn main(args: RecordArgs) -> Result<i32, Failure> {
    if let Some(dir) = &args.corpus {
        let families: Vec<String> = if args.only.is_empty() {
            FILES.iter().map(|f| f.1.to_string()).collect()
        } else {
            args.only.clone()
        };
        for family in &families {
            eprintln!("recording {family} ...");
            let corpus = record_family(dir, family).map_err(Failure::bad_input)?;
            let (classic, accept, ebpf) = corpus.counts();
            eprintln!(
                "{family}: {} cases, {} packets, {classic} deliveries, {accept} acceptance verdicts, {ebpf} eBPF return values",
                corpus.cases.len(),
                corpus.packets.len()
            );
        }
        return Ok(0);
    }
    if args.progs.is_empty() && args.ebpf.is_empty() {
        return Err(Failure::bad_input(
            "nothing to record: give PROG files, --ebpf files or --corpus DIR",
        ));
    }
    let packets = match &args.hex_file {
        Some(path) => load_packets(path)?,
        None => {
            return Err(Failure::bad_input(
                "--hex-file FILE is required with programs",
            ))
        }
    };
    let mut corpus = Corpus::new(&kernel_release());
    corpus.header.push(("family".into(), "user".into()));
    let ids: Vec<usize> = packets
        .iter()
        .map(|p| corpus.add_packet(PacketSpec::Hex(p.clone())))
        .collect();
    let refs: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
    if !args.progs.is_empty() {
        let mut rec = ClassicRecorder::new()
            .map_err(|e| Failure::bad_input(format!("kernel socket pair: {e}")))?;
        corpus.meta.push(format!("cpu={}", rec.metadata.cpu));
        for (name, prog) in load_programs(&args.progs, args.from)? {
            let verdict = rec
                .record(&prog, &refs)
                .map_err(|e| Failure::bad_input(format!("{name}: the kernel: {e}")))?;
            let line = corpus.cases.len();
            corpus.cases.push(match verdict {
                ClassicVerdict::Rejected => Case::Acceptance {
                    line,
                    prog,
                    accepted: false,
                },
                ClassicVerdict::Delivered(n) => Case::Classic {
                    line,
                    expr: None,
                    prog,
                    deliveries: ids.iter().copied().zip(n).collect(),
                },
            });
        }
    }
    if !args.ebpf.is_empty() {
        ebpf_available().map_err(Failure::bad_input)?;
    }
    for path in &args.ebpf {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
        // One line per instruction; comments dropped (`|` separates lines
        // in the corpus).
        let source: Vec<&str> = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .collect();
        let source = source.join(" | ");
        let prog = assemble_ebpf(&source)
            .map_err(|(_, m)| Failure::bad_input(format!("{}: {m}", path.display())))?;
        let retvals = record_ebpf(&prog, &refs)
            .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
        let line = corpus.cases.len();
        corpus.cases.push(Case::Ebpf {
            line,
            source,
            prog,
            retvals: ids.iter().copied().zip(retvals).collect(),
        });
    }
    let text = corpus.write();
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?,
        None => super::output::say(format_args!("{text}")),
    }
    Ok(0)
}
