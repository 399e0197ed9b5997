//! The `cranebpf` command: a thin shell over the library (one file per
//! subcommand). It lives in its own package so the library pulls none of
//! its dependencies and the test harness (`cranebpf-harness`), which the
//! `record`, `diff`, `conformance`, `gen-capture` and `bench --synthetic`
//! subcommands use, stays out of the library's API.

mod bench;
mod capture_source;
mod check;
mod compile;
mod conformance;
mod diff;
mod disasm;
mod docs;
mod ebpf;
mod filter;
mod gen_capture;
mod output;
mod prog;
mod prog_source;
mod record;
mod run;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};
use cranebpf::Engine;

/// cranebpf: run classic and extended BPF filters exactly as Linux does.
#[derive(Parser, Debug)]
#[command(name = "cranebpf", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a classic program with the kernel's rules: "ok" (exit 0) or
    /// the reason the kernel would refuse it (exit 1).
    Check(check::CheckArgs),
    /// Print a classic program as tcpdump -d does, or convert it to
    /// another form.
    Disasm(disasm::DisasmArgs),
    /// Run a classic program on packets, printing one decimal verdict per
    /// packet (or, with --ebpf, an eBPF program on input memory).
    Run(Box<run::RunArgs>),
    /// Compile a filter (program or expression) into an eBPF object the
    /// kernel loads: `--xdp` writes an XDP program passing the packets the
    /// filter keeps.
    Compile(compile::CompileArgs),
    /// Run the eBPF conformance suite's .data tests.
    Conformance(conformance::ConformanceArgs),
    /// Record the running kernel's verdicts as a conformance corpus.
    Record(record::RecordArgs),
    /// Compare every engine with the running kernel; prints minimised
    /// mismatches and `N cases, M mismatches` (exit 1 if M > 0).
    Diff(diff::DiffArgs),
    /// Write the packets of a capture that a filter (program or
    /// expression) accepts, or count them; fast on large files.
    Filter(filter::FilterArgs),
    /// Measure each engine's compile time and ns/packet on a capture or a
    /// synthetic packet mix.
    Bench(bench::BenchArgs),
    /// Write a seeded synthetic capture (for examples and benchmarks).
    #[command(hide = true)]
    GenCapture(gen_capture::GenCaptureArgs),
    /// Print a completion script for bash, zsh, fish, elvish or PowerShell.
    Completions(docs::CompletionsArgs),
    /// Print the man page cranebpf(1), or write every page into a
    /// directory.
    #[command(hide = true)]
    Manpage(docs::ManpageArgs),
}

/// Exit code for a program the kernel would refuse.
pub const EXIT_REJECTED: i32 = 1;
/// Exit code for a capture that ends with a cut-off or bad record, once
/// every record before it was handled (tcpdump's status then).
pub const EXIT_CUT_SHORT: i32 = 1;
/// Exit code for unreadable or malformed input.
pub const EXIT_BAD_INPUT: i32 = 2;

fn main() {
    std::process::exit(run());
}

/// Parses arguments, runs the subcommand and returns the exit code.
fn run() -> i32 {
    let cli = Cli::parse();
    output::watch_signals();
    let result = match cli.command {
        Command::Check(args) => check::main(args),
        Command::Disasm(args) => disasm::main(args),
        Command::Run(args) => run::main(*args),
        Command::Compile(args) => compile::main(args),
        Command::Conformance(args) => conformance::conformance(&args),
        Command::Record(args) => record::main(args),
        Command::Diff(args) => diff::main(args),
        Command::Filter(args) => filter::main(args),
        Command::Bench(args) => bench::main(args),
        Command::GenCapture(args) => gen_capture::main(args),
        Command::Completions(args) => docs::completions(args),
        Command::Manpage(args) => docs::manpage(args),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            if !failure.message.is_empty() {
                eprintln!("cranebpf: {}", failure.message);
            }
            failure.code
        }
    }
}

/// `--engine`'s parser: an [`Engine`] name, or `word` (`auto`, `all`;
/// `help` says what it means) for `None`, each listed in `--help`.
fn engine_or(
    word: &'static str,
    help: &'static str,
) -> impl TypedValueParser<Value = Option<Engine>> {
    let names = std::iter::once(PossibleValue::new(word).help(help)).chain(
        Engine::value_variants()
            .iter()
            .filter_map(ValueEnum::to_possible_value),
    );
    PossibleValuesParser::new(names).map(|name| name.parse::<Engine>().ok())
}

/// What `--engine auto` means.
const AUTO_HELP: &str = "The JIT when it can compile the program, else the eBPF interpreter";

/// A failed command: what to tell the user and the exit code.
pub struct Failure {
    message: String,
    code: i32,
}

impl Failure {
    fn bad_input(message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            code: EXIT_BAD_INPUT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_is_well_formed() {
        // clap's own consistency checks (argument ids named in conflicts
        // and requirements exist, no duplicate flags, ...).
        Cli::command().debug_assert();
    }
}
