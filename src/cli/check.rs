//! `cranebpf check PROG`: would the kernel accept this classic program?

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

Exit code 0: accepted; 1: the kernel would refuse it; 2: malformed input.";

/// Arguments of `check`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct CheckArgs {
    #[command(flatten)]
    prog: ProgArgs,
}

/// Prints "ok" (exit 0) or the kernel's reason for refusing (exit 1).
pub fn main(args: CheckArgs) -> Result<i32, Failure> {
    let prog = args.prog.load()?;
    match check(&prog) {
        Ok(()) => {
            println!("ok");
            Ok(0)
        }
        Err(e) => Err(Failure {
            message: format!("rejected: {e}"),
            code: EXIT_REJECTED,
        }),
    }
}
