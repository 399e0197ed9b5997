//! The bpf-benchmark (2024) programs (`shared/peer-bench/`) on our eBPF
//! interpreter and JIT against a native Rust twin of each
//! (`cranebpf_bench::native`), on the same memory. Every engine's result is
//! checked against the published one before anything is timed.
//!
//! `cargo bench -p cranebpf-bench --bench bpf_benchmark`

use cranebpf::ebpf::Program;
use cranebpf::{EbpfOptions, EbpfProgram, Engine};
use cranebpf_bench::native;
use cranebpf_harness::peer_bench::{self, CASES};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
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
            g.bench_function(engine.name(), |b| b.iter(|| p.run(black_box(&mut m)).ok()));
        }
        let twin = native::twin(case.name).expect("a native twin");
        let mut m = mem.clone();
        assert_eq!(twin(&mut m), want, "{} native", case.name);
        g.bench_function("native", |b| b.iter(|| twin(black_box(&mut m))));
        g.finish();
    }
}

/// `switch` on 2^20 fresh random values in 0..64 instead of the published
/// 4,096, repeated: too long a sequence for a branch predictor to learn,
/// as a program's real input is (the published input's repetition lets the
/// predictor learn a compare tree's branches, which favours compares over a
/// jump table). JIT against the native twin; the results must agree.
fn switch_unrepeated(c: &mut Criterion) {
    let dir = bench_dir();
    let case = CASES
        .iter()
        .find(|c| c.name == "switch")
        .expect("switch is a case");
    let (code, _) = peer_bench::load(&dir, case).expect("loads");
    let n = 1u32 << 20;
    let mut rng = cranebpf_harness::Rng::new(2024);
    let mut mem = n.to_le_bytes().to_vec();
    for _ in 0..n {
        mem.extend_from_slice(&(rng.next_u32() % 64).to_le_bytes());
    }
    let twin = native::twin("switch").expect("a native twin");
    let want = twin(&mut mem.clone());
    let p = EbpfProgram::with_options(
        Program::from_bytes(&code).expect("decodes"),
        EbpfOptions {
            engine: Some(Engine::Jit),
            ..EbpfOptions::default()
        },
    )
    .expect("verifies");
    let mut g = c.benchmark_group("bpf-benchmark/switch-2^20-unrepeated");
    assert_eq!(p.run(&mut mem), Ok(want));
    g.bench_function("jit", |b| b.iter(|| p.run(black_box(&mut mem)).ok()));
    g.bench_function("native", |b| b.iter(|| twin(black_box(&mut mem))));
    g.finish();
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
    targets = programs, switch_unrepeated
}
criterion_main!(benches);
