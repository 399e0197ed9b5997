//! `cranebpf check PROG`: would the kernel (or, with `--libpcap`, libpcap)
//! accept this classic program?

use super::output::sayln;
use super::prog::ProgArgs;
use super::{Failure, EXIT_REJECTED};
use clap::Args;
use cranebpf::cbpf::check::check;

const EXAMPLES: &str = "\
Examples:
  cranebpf check examples/ip-udp.ddd
  cranebpf check --ddd '1,6 0 0 65535'
  cranebpf check 'tcp port 443'
  tcpdump -ddd 'ip and udp' | cranebpf check -
  tcpdump -ddd -y RAW 'ip protochain 17' | cranebpf check --libpcap -

Exit code 0: accepted; 1: the kernel (or libpcap) would refuse it; 2:
malformed input.";

/// Arguments of `check`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct CheckArgs {
    #[command(flatten)]
    prog: ProgArgs,
    /// libpcap's rules (`bpf_validate`) instead of the kernel's: backward
    /// `ja`, unwritten scratch cells and large constant shifts are allowed.
    #[arg(long)]
    libpcap: bool,
    /// Print the answer as one JSON object on stdout (`{"accepted": true,
    /// "rules": "linux", "instructions": N}` or `{"accepted": false, "rules":
    /// …, "reason": "…"}`); the exit code is the same.
    #[arg(long)]
    json: bool,
}

/// Prints "ok" (exit 0) or the kernel's reason for refusing (exit 1).
pub fn main(args: CheckArgs) -> Result<i32, Failure> {
    let prog = args.prog.load()?;
    let verdict = if args.libpcap {
        cranebpf::cbpf::libpcap::validate(&prog)
            .map_err(|e| format!("libpcap would refuse it: {e}"))
    } else {
        check(&prog).map_err(|e| e.to_string())
    };
    if args.json {
        let rules = if args.libpcap { "libpcap" } else { "linux" };
        let accepted = verdict.is_ok();
        let value = match verdict {
            Ok(()) => serde_json::json!({
                "accepted": true, "rules": rules, "instructions": prog.len()
            }),
            Err(reason) => serde_json::json!({
                "accepted": false, "rules": rules, "reason": reason
            }),
        };
        sayln!("{value}");
        return Ok(if accepted { 0 } else { EXIT_REJECTED });
    }
    match verdict {
        Ok(()) => {
            sayln!("ok");
            Ok(0)
        }
        Err(e) => Err(Failure {
            message: format!("rejected: {e}"),
            code: EXIT_REJECTED,
        }),
    }
}
