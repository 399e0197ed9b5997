//! The bpf-benchmark (2024) programs (`shared/peer-bench/`) on our eBPF
//! interpreter and JIT against a native Rust twin of each
//! (`cranebpf_bench::native`), on the same memory. Every engine's result is
//! checked against the published one before anything is timed.
//!
//! `cargo bench -p cranebpf-bench --bench bpf_benchmark`

use cranebpf::ebpf::Program;
use cranebpf::harness::peer_bench::{self, CASES};
use cranebpf::{EbpfOptions, EbpfProgram, Engine};
use cranebpf_bench::native;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use std::path::PathBuf;
use std::time::Duration;

/// `shared/peer-bench/bpf-benchmark-2024` in the nearest directory above
/// the crate that has one.
fn bench_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    root.ancestors()
        .map(|a| a.join("shared/peer-bench/bpf-benchmark-2024"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| panic!("shared/peer-bench not found above {}", root.display()))
}

fn programs(c: &mut Criterion) {
    let dir = bench_dir();
    for case in &CASES {
        let (code, mem) = peer_bench::load(&dir, case)
            .unwrap_or_else(|e| panic!("{}: {e} (in {})", case.name, dir.display()));
        let want = peer_bench::expected(case, &mem);
        let prog = Program::from_bytes(&code).expect("decodes");
        let mut g = c.benchmark_group(format!("bpf-benchmark/{}", case.name));
        for engine in Engine::EBPF {
            let options = EbpfOptions {
                engine: Some(engine),
                ..EbpfOptions::default()
            };
            let p = EbpfProgram::with_options(prog.clone(), options).expect("verifies");
            let mut m = mem.clone();
            assert_eq!(p.run(&mut m), Ok(want), "{} on {engine}", case.name);
            g.bench_function(engine.name(), |b| b.iter(|| p.run(black_box(&mut m))));
        }
        let twin = native::twin(case.name).expect("a native twin");
        let mut m = mem.clone();
        assert_eq!(twin(&mut m), want, "{} native", case.name);
        g.bench_function("native", |b| b.iter(|| twin(black_box(&mut m))));
        g.finish();
    }
}

fn config() -> Criterion {
    // The memory walks take milliseconds per run on the interpreter.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
}

criterion_group! {
    name = benches;
    config = config();
    targets = programs
}
criterion_main!(benches);
