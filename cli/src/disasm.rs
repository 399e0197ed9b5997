//! `cranebpf disasm PROG`: tcpdump -d layout, or conversion to another form.

use super::ebpf::Listing;
use super::prog::ProgArgs;
use super::{output, Failure, EXIT_REJECTED};
use clap::{Args, ValueEnum};
use cranebpf::cbpf::print;
use cranebpf::jit::JitOptions;
use cranebpf::translate::translate;
use cranebpf::{Engine, Filter, FilterOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The most instructions iptables' `-m bpf --bytecode` takes
/// (`XT_BPF_MAX_NUM_INSTR` in `<linux/netfilter/xt_bpf.h>`).
const XT_BPF_MAX_NUM_INSTR: usize = 64;

/// Output forms.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum OutputForm {
    /// tcpdump -d disassembly.
    D,
    /// tcpdump -ddd.
    Ddd,
    /// One line: `count,code jt jf k,...`.
    Comma,
    /// tcpdump -dd.
    Dd,
    /// bpf_asm source.
    Asm,
    /// Raw 8-byte little-endian struct sock_filter records.
    Raw,
}

const EXAMPLES: &str = "\
Examples:
  cranebpf disasm examples/ip-udp.ddd
  cranebpf disasm 'tcp port 443' --format ddd
  cranebpf disasm examples/ip-udp.ddd --format asm -o ip-udp.s
  cranebpf disasm examples/ip-udp.ddd --ebpf
  cranebpf disasm examples/ip-udp.ddd --native
  cranebpf disasm --ebpf prog.s";

/// Arguments of `disasm`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct DisasmArgs {
    #[command(flatten)]
    prog: ProgArgs,
    /// Output form.
    #[arg(long, value_enum, default_value = "d")]
    format: OutputForm,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Show the Cranelift IR the JIT builds (on x86-64, filters' code is
    /// written directly, without IR; this shows what Cranelift builds for
    /// the other targets and for batch code).
    #[arg(long, conflicts_with_all = ["native", "format"])]
    clif: bool,
    /// Show the machine code the JIT emits.
    #[arg(long, conflicts_with = "format")]
    native: bool,
    /// Without a value (`disasm PROG --ebpf`): show the eBPF translation of
    /// the classic PROG. With one (`disasm --ebpf FILE`): disassemble the
    /// eBPF program in FILE (assembly or raw bytes).
    #[arg(long, value_name = "FILE", num_args = 0..=1, conflicts_with = "format")]
    ebpf: Option<Option<PathBuf>>,
    /// With --ebpf: read FILE as raw bytes even if it looks like text.
    #[arg(long, requires = "ebpf")]
    raw: bool,
    #[command(flatten)]
    program: super::ebpf::ProgramChoice,
}

/// Prints or writes the program in the requested form.
pub fn main(args: DisasmArgs) -> Result<i32, Failure> {
    let listing = if args.clif {
        Listing::Clif
    } else if args.native {
        Listing::Native
    } else {
        Listing::Ebpf
    };
    if let Some(Some(path)) = &args.ebpf {
        if args.prog.given() {
            return Err(Failure::bad_input(
                "give either PROG or --ebpf FILE (use `disasm PROG --ebpf` for the translation)",
            ));
        }
        return super::ebpf::disasm_ebpf(path, args.raw, &args.program, listing);
    }
    let prog = args.prog.load()?;
    if listing != Listing::Ebpf {
        // The code a Filter runs: compiled with the classic settings.
        let options = FilterOptions {
            engine: Some(Engine::Jit),
            jit: JitOptions {
                keep_listings: true,
                direct: listing != Listing::Clif,
                ..JitOptions::default()
            },
            ..FilterOptions::default()
        };
        let filter = Filter::with_options(prog, options).map_err(|e| Failure {
            message: e.to_string(),
            code: EXIT_REJECTED,
        })?;
        let code = filter
            .jit_code()
            .ok_or_else(|| Failure::bad_input("no JIT code"))?;
        return super::ebpf::write_out(&listing.of(code).join("\n"));
    }
    if args.ebpf.is_some() {
        let translated = translate(&prog).map_err(|e| Failure {
            message: e.to_string(),
            code: EXIT_REJECTED,
        })?;
        return super::ebpf::print_ebpf(&translated, listing);
    }
    let bytes = match args.format {
        OutputForm::D => print::disasm(&prog).into_bytes(),
        OutputForm::Ddd => print::ddd(&prog).into_bytes(),
        OutputForm::Comma => print::comma(&prog).into_bytes(),
        OutputForm::Dd => print::dd(&prog).into_bytes(),
        OutputForm::Asm => print::asm(&prog).into_bytes(),
        OutputForm::Raw => print::raw(&prog),
    };
    if matches!(args.format, OutputForm::Comma) && prog.len() > XT_BPF_MAX_NUM_INSTR {
        eprintln!(
            "cranebpf: warning: {} instructions; iptables -m bpf (xt_bpf) accepts at most \
             {XT_BPF_MAX_NUM_INSTR} (XT_BPF_MAX_NUM_INSTR)",
            prog.len()
        );
    }
    match &args.output {
        Some(path) => output::write_file(path, &bytes)?,
        None => std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| output::write_failure(Path::new("-"), e))?,
    }
    Ok(0)
}
