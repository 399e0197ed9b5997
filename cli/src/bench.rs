//! `cranebpf bench FILTER (-r IN | --synthetic)`: compile time and
//! nanoseconds per packet of each engine, and the JIT's speed-up over the
//! reference interpreters.

use super::capture_source::{filter_failure, FilterArg, Input};
use super::output::sayln;
use super::prog::ProgArgs;
use super::Failure;
use clap::Args;
use cranebpf::capture::{Item, Reader};
use cranebpf::expr::PacketSource;
use cranebpf::Engine;
use cranebpf_harness::synth::packet_mix;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

const EXAMPLES: &str = "\
Examples:
  cranebpf bench 'tcp port 443' -r examples/sample.pcap
  cranebpf bench 'ip and udp' --synthetic --packets 200000 --engine jit
  cranebpf bench prog.ddd -r in.pcapng --json
  cranebpf bench --ebpf xdp_prog.o -r in.pcap

Each engine builds the filter --runs times (compile time: median) and runs
it over every packet --runs times after one warm-up pass (ns/packet:
median, min and max of the runs).";

/// Arguments of `bench`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct BenchArgs {
    #[command(flatten)]
    prog: ProgArgs,
    /// The capture whose packets to run (pcap or pcapng).
    #[arg(short = 'r', value_name = "IN", required_unless_present = "synthetic")]
    input: Option<PathBuf>,
    /// Use a built-in realistic packet mix instead of a capture.
    #[arg(long, conflicts_with = "input")]
    synthetic: bool,
    /// Packets in the synthetic mix; at most this many from a capture
    /// (few enough by default to stay in cache, so the figures compare
    /// engines rather than memory).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    packets: usize,
    /// Seed of the synthetic mix.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Engines to measure.
    #[arg(long, default_value = "all", value_parser = super::engine_or("all", "cbpf, interp and jit"))]
    engine: ::std::option::Option<Engine>,
    /// Timed runs per engine.
    #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Measure an XDP, TC or socket-filter program from a clang-built
    /// object (with its maps) instead of a classic filter: the interpreter
    /// and the JIT, each named as the engine that really ran.
    #[arg(long, value_name = "PROG.o", conflicts_with_all = ["prog", "ddd", "expr_file"])]
    ebpf: Option<PathBuf>,
    #[command(flatten)]
    program: super::ebpf::ProgramChoice,
}

/// A packet to run: its captured bytes and its length on the wire.
type Sample<'a> = (&'a [u8], u32);

/// One engine's figures.
struct Measured {
    engine: Engine,
    compile_us: f64,
    ns: Vec<f64>,
    matched: u64,
    /// The JIT through `Filter::run_batch_wire`, when that runs whole
    /// batches in native code: ns per packet of each run.
    batch_ns: Option<Vec<f64>>,
    /// Who made the native code that ran: `direct` (written directly,
    /// x86-64) or `cranelift`; `None` for the interpreters.
    codegen: Option<&'static str>,
}

impl Measured {
    fn median(&self) -> f64 {
        median(&self.ns)
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Runs the benchmark and prints the table or JSON.
pub fn main(args: BenchArgs) -> Result<i32, Failure> {
    let spec = if args.ebpf.is_some() {
        FilterArg::All
    } else {
        FilterArg::from_args(&args.prog)?
    };
    let input;
    let synthetic;
    let (packets, link_type, source): (Vec<Sample<'_>>, (u32, PacketSource), String) = match &args
        .input
    {
        Some(path) => {
            input = Input::open_whole(path)?;
            let (packets, link) = capture_packets(input.bytes().unwrap_or_default(), args.packets)
                .map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
            (packets, link, path.display().to_string())
        }
        None => {
            synthetic = packet_mix(args.seed, args.packets);
            let packets = synthetic
                .iter()
                .map(|p| (p.as_slice(), p.len() as u32))
                .collect();
            (
                packets,
                (1, PacketSource::Live),
                format!("synthetic mix (seed {})", args.seed),
            )
        }
    };
    if packets.is_empty() {
        return Err(Failure::bad_input(format!("{source}: no packets to run")));
    }
    if let Some(object) = &args.ebpf {
        return bench_object(&args, object, &source, &packets);
    }
    // A refused program or a bad expression fails before measuring.
    spec.build(None)?;
    let engines: Vec<Engine> = match args.engine {
        None => Engine::ALL.to_vec(),
        Some(one) => vec![one],
    };
    let mut results = Vec::new();
    for engine in engines {
        results.push(measure(&spec, link_type, engine, &packets, args.runs)?);
    }
    let verdicts: Vec<u64> = results.iter().map(|m| m.matched).collect();
    if verdicts.windows(2).any(|w| w[0] != w[1]) {
        return Err(Failure::bad_input(format!(
            "engines disagree on the number of matches: {verdicts:?} (a bug; please report)"
        )));
    }
    if args.json {
        print_json(&source, packets.len(), &results);
    } else {
        print_table(&source, packets.len(), &results);
    }
    Ok(0)
}

/// The packets of the capture's first link type (at most `max`), with
/// that link type and the file's byte order.
fn capture_packets(
    bytes: &[u8],
    max: usize,
) -> Result<(Vec<Sample<'_>>, (u32, PacketSource)), String> {
    let mut reader = Reader::new(bytes).map_err(|e| e.to_string())?;
    let mut link = None;
    let mut out = Vec::new();
    while let Some(item) = reader.next_item() {
        if out.len() >= max {
            break;
        }
        if let Item::Packet(p) = item.map_err(|e| e.to_string())? {
            let source = PacketSource::Savefile {
                big_endian: p.big_endian,
            };
            if *link.get_or_insert((p.link_type, source)) == (p.link_type, source) {
                out.push((p.data, p.wire_len));
            }
        }
    }
    Ok((out, link.unwrap_or((1, PacketSource::Live))))
}

fn measure(
    spec: &FilterArg,
    (link_type, source): (u32, PacketSource),
    engine: Engine,
    packets: &[Sample<'_>],
    runs: u32,
) -> Result<Measured, Failure> {
    let mut compile = Vec::new();
    let mut filter = None;
    for _ in 0..runs {
        let start = Instant::now();
        let f = spec.build(Some(engine)).and_then(|f| {
            f.for_link_type(link_type, source).map_err(|e| Failure {
                message: format!("link type {link_type}: {e}"),
                ..filter_failure(e)
            })
        });
        let f = f.map_err(|e| Failure::bad_input(format!("{engine}: {}", e.message)))?;
        compile.push(start.elapsed().as_secs_f64() * 1e6);
        filter = Some(f);
    }
    let Some(filter) = filter else {
        return Err(Failure::bad_input("no runs"));
    };
    // A runner per pass, as `cranebpf filter` uses one per stretch.
    let pass = || {
        let mut runner = filter.runner();
        let mut matched = 0u64;
        for (data, wire_len) in packets {
            matched += u64::from(runner.run_wire(black_box(data), *wire_len) != 0);
        }
        matched
    };
    let matched = pass(); // warm-up
    let mut ns = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        black_box(pass());
        ns.push(start.elapsed().as_secs_f64() * 1e9 / packets.len() as f64);
    }
    // The JIT in native batches too, where the filter allows it (the
    // library's fastest path; `cranebpf filter` calls per record).
    let batch_ns = (engine == Engine::Jit && filter.native_batches())
        .then(|| {
            let data: Vec<&[u8]> = packets.iter().map(|(d, _)| *d).collect();
            let lens: Vec<u32> = packets.iter().map(|(_, l)| *l).collect();
            let mut verdicts = vec![0u32; data.len()];
            let mut pass = || {
                filter.run_batch_wire(black_box(&data), &lens, &mut verdicts);
                verdicts.iter().filter(|&&v| v != 0).count() as u64
            };
            if pass() != matched {
                return Err(Failure::bad_input(
                    "the JIT's batches disagree with its per-packet runs (a bug; please report)",
                ));
            }
            Ok((0..runs)
                .map(|_| {
                    let start = Instant::now();
                    black_box(pass());
                    start.elapsed().as_secs_f64() * 1e9 / packets.len() as f64
                })
                .collect())
        })
        .transpose()?;
    let codegen = filter.jit_code().map(|code| {
        if code.is_written_directly() {
            "direct"
        } else {
            "cranelift"
        }
    });
    Ok(Measured {
        engine,
        compile_us: median(&compile),
        ns,
        matched,
        batch_ns,
        codegen,
    })
}

/// `bench --ebpf PROG.o`: the object's program on the interpreter and the
/// JIT (or the one asked for), each row named by the engine that ran it
/// (a JIT that cannot compile the program is an error, not a silent
/// interpreter run); "matched" counts the packets it lets on.
fn bench_object(
    args: &BenchArgs,
    object: &std::path::Path,
    source: &str,
    packets: &[Sample<'_>],
) -> Result<i32, Failure> {
    use cranebpf::ebpf::runtime::{PacketOptions, PacketProgram};
    let engines: Vec<Engine> = match args.engine {
        None => Engine::EBPF.to_vec(),
        Some(e) if e.runs_ebpf() => vec![e],
        Some(e) => {
            return Err(Failure::bad_input(format!(
                "the {e} engine runs classic programs only; use interp or jit with --ebpf"
            )))
        }
    };
    let (loaded, entry) = super::ebpf::load_packet_program(object, &args.program)?;
    let mut results = Vec::new();
    for engine in engines {
        let options = PacketOptions {
            engine: Some(engine),
            trace: false,
            ..PacketOptions::default()
        };
        let mut compile = Vec::new();
        let mut program = None;
        for _ in 0..args.runs {
            let start = Instant::now();
            let p = PacketProgram::from_object(&loaded, entry, options.clone()).map_err(|e| {
                Failure {
                    message: format!("{}: {engine}: {e}", object.display()),
                    code: super::EXIT_REJECTED,
                }
            })?;
            compile.push(start.elapsed().as_secs_f64() * 1e6);
            program = Some(p);
        }
        let Some(program) = program else {
            return Err(Failure::bad_input("no runs"));
        };
        let pass = || -> Result<u64, Failure> {
            let mut matched = 0u64;
            for (i, (data, _)) in packets.iter().enumerate() {
                let outcome = program.run(black_box(data)).map_err(|e| Failure {
                    message: format!("packet {}: {e}", i + 1),
                    code: super::EXIT_REJECTED,
                })?;
                matched += u64::from(program.passes(&outcome));
            }
            Ok(matched)
        };
        let matched = pass()?;
        let mut ns = Vec::new();
        for _ in 0..args.runs {
            let start = Instant::now();
            for (data, _) in packets {
                black_box(program.action(black_box(data)).ok());
            }
            ns.push(start.elapsed().as_secs_f64() * 1e9 / packets.len() as f64);
        }
        results.push(Measured {
            engine: program.engine(),
            compile_us: median(&compile),
            ns,
            matched,
            batch_ns: None,
            // eBPF programs' native code is Cranelift's.
            codegen: (program.engine() == Engine::Jit).then_some("cranelift"),
        });
    }
    let verdicts: Vec<u64> = results.iter().map(|m| m.matched).collect();
    if verdicts.windows(2).any(|w| w[0] != w[1]) {
        return Err(Failure::bad_input(format!(
            "engines disagree on the packets passed: {verdicts:?} (a bug; please report)"
        )));
    }
    if args.json {
        print_json(source, packets.len(), &results);
    } else {
        print_table(source, packets.len(), &results);
    }
    Ok(0)
}

fn speedup(results: &[Measured], over: Engine) -> Option<f64> {
    let jit = results.iter().find(|m| m.engine == Engine::Jit)?;
    let base = results.iter().find(|m| m.engine == over)?;
    Some(base.median() / jit.median())
}

fn print_table(source: &str, count: usize, results: &[Measured]) {
    sayln!("{count} packets from {source}");
    sayln!(
        "{:<8} {:>12} {:>10} {:>10} {:>10} {:>9}",
        "engine",
        "compile µs",
        "ns/pkt",
        "min",
        "max",
        "matched"
    );
    for m in results {
        let min = m.ns.iter().copied().fold(f64::INFINITY, f64::min);
        let max = m.ns.iter().copied().fold(0.0, f64::max);
        sayln!(
            "{:<8} {:>12.1} {:>10.2} {:>10.2} {:>10.2} {:>9}",
            m.engine.name(),
            m.compile_us,
            m.median(),
            min,
            max,
            m.matched
        );
    }
    for m in results {
        if let Some(ns) = &m.batch_ns {
            let min = ns.iter().copied().fold(f64::INFINITY, f64::min);
            let max = ns.iter().copied().fold(0.0, f64::max);
            sayln!(
                "{:<8} {:>12} {:>10.2} {:>10.2} {:>10.2}   (jit in native batches: Filter::run_batch)",
                "batch",
                "",
                median(ns),
                min,
                max
            );
        }
    }
    for m in results {
        match m.codegen {
            Some("direct") => sayln!("jit code: written directly (x86-64, as the kernel's JIT)"),
            Some(other) => sayln!("jit code: {other}"),
            None => {}
        }
    }
    for over in [Engine::Interp, Engine::Cbpf] {
        if let Some(s) = speedup(results, over) {
            sayln!("jit speed-up over {over}: {s:.1}x");
        }
    }
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn print_json(source: &str, count: usize, results: &[Measured]) {
    let engines: Vec<String> = results
        .iter()
        .map(|m| {
            let runs: Vec<String> = m.ns.iter().map(|v| format!("{v:.3}")).collect();
            let min = m.ns.iter().copied().fold(f64::INFINITY, f64::min);
            let max = m.ns.iter().copied().fold(0.0, f64::max);
            format!(
                "{{\"engine\":\"{}\",\"compile_us\":{:.3},\"ns_per_packet\":{:.3},\
                 \"min\":{min:.3},\"max\":{max:.3},\"runs\":[{}],\"matched\":{},\
                 \"batch_ns_per_packet\":{},\"codegen\":{}}}",
                m.engine.name(),
                m.compile_us,
                m.median(),
                runs.join(","),
                m.matched,
                m.batch_ns
                    .as_deref()
                    .map_or("null".to_string(), |ns| format!("{:.3}", median(ns))),
                m.codegen.map_or("null".to_string(), json_string)
            )
        })
        .collect();
    let speed = |e| speedup(results, e).map_or("null".to_string(), |s| format!("{s:.3}"));
    sayln!(
        "{{\"source\":{},\"packets\":{count},\"engines\":[{}],\
         \"jit_speedup_over_interp\":{},\"jit_speedup_over_cbpf\":{}}}",
        json_string(source),
        engines.join(","),
        speed(Engine::Interp),
        speed(Engine::Cbpf)
    );
}
