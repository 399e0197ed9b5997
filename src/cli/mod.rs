//! Command-line interface: one file per subcommand.

mod conformance;
mod ebpf;

use clap::{Parser, Subcommand};

/// cranebpf: run classic and extended BPF filters exactly as Linux does.
#[derive(Parser, Debug)]
#[command(name = "cranebpf", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the eBPF conformance suite's .data tests.
    Conformance(conformance::ConformanceArgs),
    /// Run a program and print its return value.
    Run(ebpf::RunArgs),
    /// Disassemble a program.
    Disasm(ebpf::DisasmArgs),
}

/// Parses arguments, runs the subcommand and returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {
        Command::Conformance(a) => conformance::conformance(&a),
        Command::Run(a) => ebpf::run_ebpf(&a),
        Command::Disasm(a) => ebpf::disasm_ebpf(&a),
    }
}
