//! Command-line interface: one file per subcommand.

use clap::{Parser, Subcommand};

/// cranebpf: run classic and extended BPF filters exactly as Linux does.
#[derive(Parser, Debug)]
#[command(name = "cranebpf", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {}

/// Parses arguments, runs the subcommand and returns the exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match cli.command {}
}
