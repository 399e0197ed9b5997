//! `cranebpf disasm PROG`: tcpdump -d layout, or conversion to another form.

use super::prog::ProgArgs;
use super::Failure;
use clap::{Args, ValueEnum};
use cranebpf::cbpf::print;
use std::io::Write;
use std::path::PathBuf;

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

/// Arguments of `disasm`.
#[derive(Args, Debug)]
pub struct DisasmArgs {
    #[command(flatten)]
    prog: ProgArgs,
    /// Output form.
    #[arg(long, value_enum, default_value = "d")]
    format: OutputForm,
    /// Write to this file instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

/// Prints or writes the program in the requested form.
pub fn main(args: DisasmArgs) -> Result<i32, Failure> {
    let prog = args.prog.load()?;
    let bytes = match args.format {
        OutputForm::D => print::disasm(&prog).into_bytes(),
        OutputForm::Ddd => print::ddd(&prog).into_bytes(),
        OutputForm::Comma => print::comma(&prog).into_bytes(),
        OutputForm::Dd => print::dd(&prog).into_bytes(),
        OutputForm::Asm => print::asm(&prog).into_bytes(),
        OutputForm::Raw => print::raw(&prog),
    };
    let written = match &args.output {
        Some(path) => std::fs::write(path, &bytes).map_err(|e| format!("{}: {e}", path.display())),
        None => std::io::stdout()
            .write_all(&bytes)
            .map_err(|e| format!("stdout: {e}")),
    };
    written.map_err(Failure::bad_input)?;
    Ok(0)
}
