//! Runs the whole public eBPF conformance suite (shared/bpf-conformance)
//! on every engine: all 313 tests must pass, none skipped.

mod support;

use cranebpf::Engine;
use cranebpf_harness::suite::run_dir;
use support::suite_dir;

#[test]
fn whole_suite_passes_on_every_engine() {
    let Some(dir) = suite_dir() else { return };
    for engine in Engine::EBPF {
        let report = run_dir(&dir, engine).expect("read suite directory");
        for (file, reason) in &report.failures {
            eprintln!("{engine}: {file}: {reason}");
        }
        assert!(
            report.failures.is_empty(),
            "{engine}: {} failures",
            report.failures.len()
        );
        assert_eq!(report.passed, 313, "{engine}: expected all 313 suite files");
    }
}
