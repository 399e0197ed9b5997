//! `cranebpf run PROG --hex ... | --hex-file FILE`: one verdict per packet.

use super::prog::ProgArgs;
use super::{Failure, EXIT_REJECTED};
use clap::{Args, ValueEnum};
use cranebpf::cbpf::{check::check, interp, Metadata};
use std::io::{Read, Write};
use std::path::PathBuf;

/// Which engine runs the program. Later engines (an eBPF interpreter after
/// translation, the JIT) become further variants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Engine {
    /// The reference classic interpreter.
    Cbpf,
}

/// Arguments of `run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    prog: ProgArgs,
    /// Packets as hex bytes (spaces, `:` and `.` between bytes allowed;
    /// `-` is an empty packet).
    #[arg(long, value_name = "HEXBYTES", num_args = 1.., required_unless_present = "hex_file", conflicts_with = "hex_file")]
    hex: Vec<String>,
    /// File of packets, one hex packet per line (`-` for an empty packet,
    /// blank lines and `#` comments skipped); `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    hex_file: Option<PathBuf>,
    /// Ancillary metadata, e.g. `--meta ifindex=2 --meta protocol=0x800`.
    #[arg(long, value_name = "KEY=VALUE")]
    meta: Vec<String>,
    /// Execution engine.
    #[arg(long, value_enum, default_value = "cbpf")]
    engine: Engine,
}

/// Decodes one hex packet; `what` names it in errors.
fn decode_hex(text: &str, what: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    if text == "-" {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut high: Option<(u8, usize)> = None;
    for (col, c) in text.chars().enumerate() {
        if matches!(c, ' ' | '\t' | ':' | '.') {
            if let Some((_, at)) = high {
                return Err(format!("{what}, column {}: lone hex digit", at + 1));
            }
            continue;
        }
        let Some(d) = c.to_digit(16) else {
            return Err(format!(
                "{what}, column {}: `{c}` is not a hex digit",
                col + 1
            ));
        };
        match high.take() {
            None => high = Some((d as u8, col)),
            Some((h, _)) => out.push(h << 4 | d as u8),
        }
    }
    if let Some((_, at)) = high {
        return Err(format!(
            "{what}, column {}: odd number of hex digits",
            at + 1
        ));
    }
    Ok(out)
}

fn packets(args: &RunArgs) -> Result<Vec<Vec<u8>>, Failure> {
    let Some(path) = &args.hex_file else {
        return args
            .hex
            .iter()
            .enumerate()
            .map(|(i, h)| decode_hex(h, &format!("--hex packet {}", i + 1)))
            .collect::<Result<_, _>>()
            .map_err(Failure::bad_input);
    };
    let mut text = String::new();
    let read = if path.as_os_str() == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| Failure::bad_input(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let body = line.trim();
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let what = format!("{}: line {}", path.display(), n + 1);
        out.push(decode_hex(body, &what).map_err(Failure::bad_input)?);
    }
    Ok(out)
}

/// Runs the program on every packet and prints the verdicts.
pub fn main(args: RunArgs) -> Result<i32, Failure> {
    let prog = args.prog.load()?;
    if let Err(e) = check(&prog) {
        return Err(Failure {
            message: format!("rejected (the kernel would not run it): {e}"),
            code: EXIT_REJECTED,
        });
    }
    let mut meta = Metadata::default();
    for setting in &args.meta {
        meta.set(setting)
            .map_err(|e| Failure::bad_input(e.to_string()))?;
    }
    let packets = packets(&args)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for packet in &packets {
        let verdict = match args.engine {
            Engine::Cbpf => interp::run(&prog, packet, &meta),
        };
        writeln!(out, "{verdict}").map_err(|e| Failure::bad_input(format!("stdout: {e}")))?;
    }
    Ok(0)
}
