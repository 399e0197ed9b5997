//! Replays the fuzz targets' committed inputs through the same bodies the
//! fuzzers run (`fuzz/src/lib.rs`, compiled here without libFuzzer): the
//! small seeds under `fuzz/seeds/TARGET/` and every past finding under
//! `fuzz/regressions/TARGET/`, so a fixed finding stays fixed and the
//! bodies keep compiling against the library.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_committed_fuzz_input_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut failures = Vec::new();
    let mut replayed = 0;
    for (name, body) in targets::TARGETS {
        let seeds = inputs(&root.join("seeds").join(name));
        assert!(
            !seeds.is_empty(),
            "fuzz target {name} has no committed seed"
        );
        for path in seeds
            .into_iter()
            .chain(inputs(&root.join("regressions").join(name)))
        {
            let data = std::fs::read(&path).expect("read fuzz input");
            replayed += 1;
            if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
                failures.push(path.display().to_string());
            }
        }
    }
    eprintln!("{replayed} fuzz inputs replayed");
    assert!(failures.is_empty(), "fuzz inputs failing: {failures:#?}");
}

#[test]
fn every_target_is_built_by_cargo_fuzz() {
    // fuzz/Cargo.toml must declare a [[bin]] per body, or cargo-fuzz (and
    // .ci/run) would silently skip it.
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/Cargo.toml"))
            .expect("fuzz/Cargo.toml");
    for (name, _) in targets::TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "fuzz/Cargo.toml has no [[bin]] for {name}"
        );
    }
}

#[test]
fn differential_inputs_are_built_as_the_targets_split_them() {
    // fuzz_corpus builds classic_diff/ebpf_diff seeds with diff_input; a
    // seed the target splits differently would test something else.
    let code: Vec<u8> = (0..24).collect();
    let input = targets::diff_input(&code, &[9; 8], b"packet").expect("3 records");
    assert_eq!(input[0], 3);
    assert_eq!(&input[1..25], &code[..]);
    assert_eq!(&input[25..33], &[9; 8]);
    assert_eq!(&input[33..], b"packet");
    assert_eq!(targets::diff_input(&[0; 7], &[], &[]), None);
    assert_eq!(targets::diff_input(&[0; 8 * 256], &[], &[]), None);
}
