//! `cranebpf gen-capture -o FILE` (hidden): writes a seeded, realistic
//! capture, e.g. the bundled examples/sample.pcap or a large benchmark file.

use super::Failure;
use clap::Args;
use cranebpf::capture::write::AtomicFile;
use cranebpf_harness::synth::{write_capture, SynthOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Arguments of `gen-capture`.
#[derive(Args, Debug)]
#[command(
    after_help = "Example:\n  cranebpf gen-capture -o examples/sample.pcap --packets 400 --seed 7"
)]
pub struct GenCaptureArgs {
    /// Output file.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Number of packets.
    #[arg(long, default_value_t = 1000)]
    packets: u64,
    /// Seed: the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Cut frames to this many bytes (0: keep whole).
    #[arg(long, default_value_t = 0)]
    snaplen: u32,
    /// Write pcapng instead of pcap.
    #[arg(long)]
    pcapng: bool,
    /// Big-endian fields.
    #[arg(long)]
    big_endian: bool,
    /// Nanosecond timestamps.
    #[arg(long)]
    nanos: bool,
}

/// Writes the capture.
pub fn main(args: GenCaptureArgs) -> Result<i32, Failure> {
    let options = SynthOptions {
        seed: args.seed,
        packets: args.packets,
        snaplen: args.snaplen,
        pcapng: args.pcapng,
        big_endian: args.big_endian,
        nanos: args.nanos,
    };
    let fail = |e: std::io::Error| Failure::bad_input(format!("{}: {e}", args.output.display()));
    let file = AtomicFile::create(&args.output).map_err(fail)?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write_capture(&mut out, &options).map_err(fail)?;
    out.flush().map_err(fail)?;
    let file = out.into_inner().map_err(|e| fail(e.into_error()))?;
    file.commit().map_err(fail)?;
    Ok(0)
}
