//! `cranebpf conformance [DIR] [--engine E]`: runs the eBPF conformance
//! suite's `.data` tests.

use clap::Args;
use cranebpf::harness::suite::{find_suite_dir, run_dir};
use cranebpf::Engine;
use std::path::{Path, PathBuf};

const EXAMPLES: &str = "\
Examples:
  cranebpf conformance
  cranebpf conformance ../shared/bpf-conformance/tests --engine jit";

/// Arguments of `conformance`.
#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ConformanceArgs {
    /// Directory of `.data` files [default: ../shared/bpf-conformance/tests
    /// next to the source tree or the current directory].
    pub dir: Option<PathBuf>,
    /// Execution engine (interp or jit).
    #[arg(long, value_enum, default_value = "interp")]
    pub engine: Engine,
}

/// The default suite location: `shared/bpf-conformance/tests` in the
/// nearest ancestor of the source tree, else of the current directory.
fn default_dir() -> PathBuf {
    let here = std::env::current_dir().unwrap_or_default();
    find_suite_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .or_else(|| find_suite_dir(&here))
        .unwrap_or_else(|| PathBuf::from("../shared/bpf-conformance/tests"))
}

/// Prints one line per failure, then `N passed, M failed`; exit 1 if any
/// failed (or the directory is unreadable), else 0.
pub fn conformance(args: &ConformanceArgs) -> i32 {
    if !args.engine.runs_ebpf() {
        eprintln!(
            "error: --engine {} runs classic programs only; the suite is eBPF (use interp or jit)",
            args.engine
        );
        return super::EXIT_BAD_INPUT;
    }
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    let report = match run_dir(&dir, args.engine) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            return 1;
        }
    };
    for (file, reason) in &report.failures {
        println!("FAIL {file}: {reason}");
    }
    println!("{} passed, {} failed", report.passed, report.failures.len());
    i32::from(!report.failures.is_empty() || report.passed == 0)
}
