//! Runs the whole public eBPF conformance suite (shared/bpf-conformance)
//! on every engine: all 313 tests must pass, none skipped.

use cranebpf::ebpf::conformance::{find_suite_dir, run_dir};
use cranebpf::ebpf::Engine;
use std::path::PathBuf;

fn suite_dir() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if let Some(dir) = find_suite_dir(&root) {
        return Some(dir);
    }
    let msg = format!(
        "conformance suite (shared/bpf-conformance/tests) not found above {}",
        root.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{msg}");
    }
    eprintln!("skipping: {msg}");
    None
}

#[test]
fn whole_suite_passes_on_every_engine() {
    let Some(dir) = suite_dir() else { return };
    for &engine in Engine::ALL {
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
