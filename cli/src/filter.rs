//! `cranebpf filter -r IN [-w OUT] [--count] FILTER`: the packets of a
//! capture that a filter accepts, written in the input's format.

use super::capture_source::{FilterArg, Input};
use super::prog::ProgArgs;
use super::{output, Failure};
use clap::Args;
use cranebpf::capture::scan::{scan, ScanError, ScanOptions, Summary};
use cranebpf::capture::scan_stream;
use cranebpf::{Dialect, Engine};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const EXAMPLES: &str = "\
Examples:
  cranebpf filter -r examples/sample.pcap 'tcp port 443'
  cranebpf filter -r in.pcapng -w https.pcapng 'tcp port 443 or udp port 443'
  cranebpf filter -r big.pcap -w - --threads 2 prog.ddd | tcpdump -r - -n
  cranebpf filter -r in.pcap --count --ddd '4,40 0 0 12,21 0 1 2048,6 0 0 65535,6 0 0 0'
  cranebpf filter --ebpf xdp_prog.o -r in.pcap -w passed.pcap

A packet matches when the filter's verdict is not 0; its record is written
whole (as tcpdump -w does). Expressions are compiled for each link type in
the file (per interface in pcapng). The output appears under its name only
once complete.";

/// Arguments of `filter`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct FilterArgs {
    #[command(flatten)]
    prog: ProgArgs,
    /// The capture to read (pcap or pcapng; `-` reads stdin).
    #[arg(short = 'r', value_name = "IN")]
    input: PathBuf,
    /// Write matching packets here, in the input's format (`-`: stdout).
    #[arg(short = 'w', value_name = "OUT")]
    output: Option<PathBuf>,
    /// Stop after N matching packets (tcpdump's -c); the scan is then on
    /// one thread.
    #[arg(short = 'c', value_name = "N")]
    max_matches: Option<u64>,
    /// Print the number of matching packets on stdout (the default
    /// without -w).
    #[arg(long)]
    count: bool,
    /// Print the count as one JSON object on stdout (with -w too), with
    /// the rest of the summary: `{"packets", "matched", "written",
    /// "bytes_read", "seconds", "cut_short" (the reason, or null)}`.
    #[arg(long)]
    json: bool,
    /// Filtering threads (0: one per CPU for inputs of 64 MiB or more, else
    /// 1; 1: filter on the main thread).
    #[arg(long, default_value_t = 0, value_name = "N")]
    threads: usize,
    /// Execution engine.
    #[arg(long, default_value = "auto", value_parser = super::engine_or("auto", super::AUTO_HELP))]
    engine: ::std::option::Option<Engine>,
    /// No summary on stderr.
    #[arg(short, long)]
    quiet: bool,
    /// Check and run the program as libpcap does (tcpdump's `bpf_filter`
    /// on savefiles: backward jumps, as `protochain` compiles to, unwritten
    /// scratch cells read 0) instead of as Linux does; on the classic
    /// interpreter.
    #[arg(long)]
    libpcap: bool,
    /// Keep the packets a program from a clang-built object passes (XDP:
    /// XDP_PASS; TC: TC_ACT_OK; socket filter: a non-zero length), written
    /// as the program left them; one thread.
    #[arg(long, value_name = "PROG.o", conflicts_with_all = ["prog", "ddd", "expr_file", "libpcap", "threads"])]
    ebpf: Option<PathBuf>,
    #[command(flatten)]
    program: super::ebpf::ProgramChoice,
    /// Do not confine the process once the input and output are open (by
    /// default Landlock allows only the output's directory and a seccomp
    /// filter refuses sockets, exec and bpf(): a bug in a parser cannot
    /// reach files or the network).
    #[arg(long)]
    no_sandbox: bool,
}

/// Filters the capture; exit 0, 1 for a capture cut short (after the
/// records before the cut), 2 for an unreadable one.
pub fn main(args: FilterArgs) -> Result<i32, Failure> {
    if let Some(object) = &args.ebpf {
        return filter_xdp(&args, object);
    }
    // Without -w there is nothing to write: count.
    let count = args.count || args.json || args.output.is_none();
    if (args.count || args.json) && args.output.as_ref().is_some_and(|p| p.as_os_str() == "-") {
        return Err(Failure::bad_input(
            "--count (or --json) and -w - would both write to stdout",
        ));
    }
    let dialect = if args.libpcap {
        Dialect::Libpcap
    } else {
        Dialect::Linux
    };
    let filters = FilterArg::from_args(&args.prog)?.build_in(args.engine, dialect)?;
    // Timed from opening the input: mapping it is part of the work.
    let started = Instant::now();
    let mut input = Input::open(&args.input)?;
    let name = args.input.display().to_string();
    let size = input.bytes().map_or(0, |b| b.len() as u64);
    let bar = Progress::new(size);
    let report = |done: u64| bar.update(done);
    let threads = match args.threads {
        0 if size >= 64 << 20 => {
            std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
        }
        0 => 1,
        n => n,
    };
    let options = ScanOptions {
        threads,
        max_matches: args.max_matches,
        progress: bar.enabled().then_some(&report as &dyn Fn(u64)),
    };
    // A mapped file is scanned where it lies; a stream as it arrives.
    let mut read = 0u64;
    let mut run = |out: Option<&mut dyn Write>| match &mut input {
        Input::Stream(stream) => {
            let mut counted = Counted {
                inner: stream,
                count: &mut read,
            };
            scan_stream(&mut counted, &filters, out, &options)
        }
        other => {
            let bytes = other.bytes().unwrap_or_default();
            scan(bytes, &filters, out, &options)
        }
    };
    let out_path = args.output.clone().unwrap_or_default();
    // Failures of the scan: the output's (a closed pipe, a full disk) or
    // the input's.
    let failed = |e: ScanError| match e {
        ScanError::Output(e) => output::write_failure(&out_path, e),
        other => Failure::bad_input(format!("{name}: {other}")),
    };
    let outcome = match &args.output {
        None => {
            confine(!args.no_sandbox, None)?;
            run(None).map_err(failed)
        }
        Some(path) if path.as_os_str() == "-" => {
            confine(!args.no_sandbox, None)?;
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            let r = run(Some(&mut lock));
            r.and_then(|s| lock.flush().map(|_| s).map_err(ScanError::Output))
                .map_err(failed)
        }
        Some(path) => {
            let mut file = output::create(path)?;
            if let Err(e) = confine(!args.no_sandbox, Some(path)) {
                output::abandon(file);
                return Err(e);
            }
            match run(Some(&mut file)) {
                Ok(summary) => output::commit(file, path).map(|()| summary),
                Err(e) => {
                    // Dropped uncommitted: the temporary file goes.
                    output::abandon(file);
                    Err(failed(e))
                }
            }
        }
    };
    bar.finish();
    let summary = outcome?;
    if count {
        let line = if args.json {
            serde_json::json!({
                "packets": summary.packets,
                "matched": summary.matched,
                "written": summary.written,
                "bytes_read": size.max(read),
                "seconds": started.elapsed().as_secs_f64(),
                "cut_short": summary.error.as_ref().map(|e| e.to_string()),
            })
            .to_string()
        } else {
            summary.matched.to_string()
        };
        writeln!(std::io::stdout(), "{line}")
            .map_err(|e| output::write_failure(std::path::Path::new("-"), e))?;
    }
    if !args.quiet {
        eprintln!(
            "{}",
            summary_line(&summary, size.max(read), started.elapsed())
        );
    }
    Ok(cut_short(&name, &summary))
}

/// Confines the process (see `--no-sandbox`) once input and output are
/// open: only the output's directory stays writable, for its temporary
/// file's rename. The signal watcher started earlier stays unconfined; it
/// only removes temporary files.
fn confine(enabled: bool, output: Option<&std::path::Path>) -> Result<(), Failure> {
    if !enabled {
        return Ok(());
    }
    let dir = output.map(|p| match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    });
    let dirs: Vec<&std::path::Path> = dir.into_iter().collect();
    cranebpf::sandbox::confine(&dirs)
        .map(drop)
        .map_err(|e| Failure::bad_input(e.to_string()))
}

/// Reports a capture that ended with a bad or cut-off record after the
/// records before it were filtered (and written): exit status 1, as
/// tcpdump's after the same records. 0 when it was read to the end.
fn cut_short(name: &str, summary: &Summary) -> i32 {
    match &summary.error {
        None => 0,
        Some(e) => {
            eprintln!(
                "cranebpf: {name}: {e} (the {} packets before it were filtered{})",
                summary.packets,
                if summary.written > 0 {
                    " and written"
                } else {
                    ""
                }
            );
            super::EXIT_CUT_SHORT
        }
    }
}

/// A reader counting the bytes it hands on.
struct Counted<'a, R> {
    inner: R,
    count: &'a mut u64,
}

impl<R: std::io::Read> std::io::Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.count += n as u64;
        Ok(n)
    }
}

/// The final summary: packets read, matched, bytes, elapsed, Mpps, GB/s.
fn summary_line(s: &Summary, file_bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(1e-9);
    format!(
        "{} packets read, {} matched; {} bytes read, {} written; {:.3} s, {:.1} Mpps, {:.2} GB/s",
        s.packets,
        s.matched,
        file_bytes,
        s.written,
        secs,
        s.packets as f64 / secs / 1e6,
        file_bytes as f64 / secs / 1e9,
    )
}

/// A progress bar on stderr (indicatif), only when stderr is a terminal
/// and the input is large enough to take a noticeable time.
struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    fn new(total: u64) -> Progress {
        let show = total >= 64 << 20 && std::io::stderr().is_terminal();
        let bar = show.then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template(
                "[{bar:40}] {percent:>3}% {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar
        });
        Progress { bar }
    }

    fn enabled(&self) -> bool {
        self.bar.is_some()
    }

    fn update(&self, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `filter --ebpf PROG.o`: the packets a program passes, as it left them,
/// in a pcap file with the input's timestamps and link type.
fn filter_xdp(args: &FilterArgs, object: &std::path::Path) -> Result<i32, Failure> {
    use cranebpf::ebpf::runtime::{PacketOptions, PacketProgram};
    let (packets, link_type) = super::capture_source::read_packets(&args.input)?;
    let (loaded, entry) = super::ebpf::load_packet_program(object, &args.program)?;
    let program = PacketProgram::from_object(
        &loaded,
        entry,
        PacketOptions {
            engine: args.engine,
            ..PacketOptions::default()
        },
    )
    .map_err(|e| Failure {
        message: format!("{}: {e}", object.display()),
        code: super::EXIT_REJECTED,
    })?;
    let (encoder, mut out) = super::ebpf::packet_capture(link_type);
    let mut matched = 0u64;
    for (i, (ts, packet)) in packets.iter().enumerate() {
        if args.max_matches.is_some_and(|m| matched >= m) {
            break;
        }
        let outcome = program.run(packet).map_err(|e| Failure {
            message: format!("packet {}: {e}", i + 1),
            code: super::EXIT_REJECTED,
        })?;
        if program.passes(&outcome) {
            matched += 1;
            encoder.record(&mut out, *ts, &outcome.packet, outcome.packet.len() as u32);
        }
    }
    match &args.output {
        Some(path) if path.as_os_str() == "-" => std::io::stdout()
            .write_all(&out)
            .map_err(|e| output::write_failure(path, e))?,
        Some(path) => output::write_file(path, &out)?,
        None => {}
    }
    if args.json {
        output::sayln!(
            "{}",
            serde_json::json!({ "packets": packets.len(), "matched": matched })
        );
    } else if args.count || args.output.is_none() {
        output::sayln!("{matched}");
    }
    if !args.quiet {
        eprintln!("{matched} of {} packets passed", packets.len());
    }
    Ok(0)
}
