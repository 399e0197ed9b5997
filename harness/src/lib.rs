//! The test and tooling harness: seeded program and packet generators,
//! running programs in the real kernel, the recorded conformance corpus
//! with its replay and live diff, the public eBPF conformance suite's
//! runner, synthetic captures and the aarch64 runner under qemu.
//!
//! Its own crate, not part of the library's API (no stability promise): it
//! exists for the `cranebpf` command's `record`, `diff`, `conformance`,
//! `bench --synthetic` and `gen-capture`, for the tests (a dev-dependency
//! of `cranebpf`) and the benches. It uses only the library's public API.

#[cfg(target_os = "linux")]
pub mod conformance;
pub mod gen;
pub mod kernel;
pub mod peer_bench;
pub mod qemu;
pub mod suite;
pub mod synth;

pub use gen::Rng;
