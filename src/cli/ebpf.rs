//! `run --ebpf` and `disasm --ebpf`: the eBPF halves of those subcommands,
//! self-contained so they can be wired next to the classic ones.

use clap::Args;
use cranebpf::ebpf::asm::assemble;
use cranebpf::ebpf::disasm::disassemble;
use cranebpf::ebpf::{Engine, Helpers, Program, RunOptions};
use std::path::{Path, PathBuf};

/// Arguments of `run --ebpf`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// eBPF program: assembly text or raw little-endian bytes (auto-detected).
    #[arg(long, value_name = "FILE")]
    pub ebpf: PathBuf,
    /// Treat FILE as raw bytes even if it looks like text.
    #[arg(long)]
    pub raw: bool,
    /// Input memory as hex bytes (r1 points to it, r2 is its length),
    /// e.g. "22 11 00 ff" or "221100ff".
    #[arg(long, value_name = "HEX", default_value = "")]
    pub mem: String,
    /// Execution engine.
    #[arg(long, default_value = "interp")]
    pub engine: Engine,
    /// Instruction budget; loops and recursion are accepted only with one.
    #[arg(long)]
    pub budget: Option<u64>,
}

/// Arguments of `disasm --ebpf`.
#[derive(Args, Debug)]
pub struct DisasmArgs {
    /// eBPF program: assembly text or raw little-endian bytes (auto-detected).
    #[arg(long, value_name = "FILE")]
    pub ebpf: PathBuf,
    /// Treat FILE as raw bytes even if it looks like text.
    #[arg(long)]
    pub raw: bool,
}

/// Reads a program: raw bytes when forced or when the file is not text
/// (has a NUL byte or is not UTF-8), assembly otherwise.
pub fn load_program(path: &Path, force_raw: bool) -> Result<Program, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = std::str::from_utf8(&bytes)
        .ok()
        .filter(|t| !t.contains('\0'));
    match text {
        Some(t) if !force_raw => assemble(t).map_err(|e| format!("{}: {e}", path.display())),
        _ => Program::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display())),
    }
}

/// Parses hex bytes. Whitespace, commas and colons separate groups; a
/// group may start with `0x` and must have an even number of digits.
/// Errors give the 1-based column.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let mut offset = 0;
    for group in text.split([' ', '\t', '\n', '\r', ',', ':']) {
        let start = offset;
        offset += group.len() + 1;
        let (skip, digits) = match group.strip_prefix("0x") {
            Some(d) => (2, d),
            None => (0, group),
        };
        if digits.len() % 2 != 0 {
            return Err(format!(
                "--mem: odd number of hex digits in '{group}' at column {}",
                start + 1
            ));
        }
        let mut high = None;
        for (i, c) in digits.char_indices() {
            let Some(d) = c.to_digit(16) else {
                return Err(format!(
                    "--mem: invalid hex digit '{c}' at column {}",
                    start + skip + i + 1
                ));
            };
            match high.take() {
                None => high = Some(d as u8),
                Some(h) => bytes.push(h << 4 | d as u8),
            }
        }
    }
    Ok(bytes)
}

/// `cranebpf run --ebpf FILE`: prints r0 as `0xHEX (DECIMAL)`; exit 0 on
/// success, 1 on any error (printed to stderr).
pub fn run_ebpf(args: &RunArgs) -> i32 {
    let result = load_program(&args.ebpf, args.raw).and_then(|prog| {
        let mut mem = parse_hex(&args.mem)?;
        let opts = RunOptions {
            helpers: Helpers::new(),
            budget: args.budget,
        };
        args.engine
            .run(&prog, &mut mem, &opts)
            .map_err(|e| e.to_string())
    });
    match result {
        Ok(v) => {
            println!("{v:#x} ({v})");
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}

/// `cranebpf disasm --ebpf FILE`: prints the program in assembler syntax.
pub fn disasm_ebpf(args: &DisasmArgs) -> i32 {
    match load_program(&args.ebpf, args.raw) {
        Ok(prog) => {
            print!("{}", disassemble(&prog));
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            1
        }
    }
}
