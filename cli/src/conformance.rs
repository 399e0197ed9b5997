//! `cranebpf conformance [DIR] [--engine E]`: runs the eBPF conformance
//! suite's `.data` tests.

use super::output::sayln;
use super::Failure;
use clap::Args;
use cranebpf::Engine;
use cranebpf_harness::suite::{find_suite_dir, run_dir};
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
    /// Print the results as one JSON object on stdout: `{"engine": …,
    /// "passed": N, "failed": M, "failures": [{"file": …, "reason": …}]}`.
    #[arg(long)]
    pub json: bool,
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
/// failed. A directory that cannot be read or holds no `.data` file is
/// bad input (exit 2), named in the message.
pub fn conformance(args: &ConformanceArgs) -> Result<i32, Failure> {
    if !args.engine.runs_ebpf() {
        return Err(Failure::bad_input(format!(
            "--engine {} runs classic programs only; the suite is eBPF (use interp or jit)",
            args.engine
        )));
    }
    let dir = args.dir.clone().unwrap_or_else(default_dir);
    let report = run_dir(&dir, args.engine)
        .map_err(|e| Failure::bad_input(format!("{}: {e}", dir.display())))?;
    if report.passed == 0 && report.failures.is_empty() {
        return Err(Failure::bad_input(format!(
            "{}: no .data files (the directory holds no eBPF conformance test)",
            dir.display()
        )));
    }
    if args.json {
        let failures: Vec<_> = report
            .failures
            .iter()
            .map(|(file, reason)| serde_json::json!({ "file": file, "reason": reason }))
            .collect();
        let value = serde_json::json!({
            "engine": args.engine.name(),
            "passed": report.passed,
            "failed": report.failures.len(),
            "failures": failures,
        });
        sayln!("{value}");
        return Ok(i32::from(!report.failures.is_empty()));
    }
    for (file, reason) in &report.failures {
        sayln!("FAIL {file}: {reason}");
    }
    sayln!("{} passed, {} failed", report.passed, report.failures.len());
    Ok(i32::from(!report.failures.is_empty()))
}
