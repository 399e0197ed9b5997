//! Criterion benchmarks of cranebpf's engines live in `benches/engines.rs`;
//! this crate exists so that criterion stays out of cranebpf's own build
//! (`cargo bench -p cranebpf-bench`).
