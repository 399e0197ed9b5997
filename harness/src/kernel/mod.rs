//! Running programs in the real Linux kernel, to record its verdicts and
//! compare them with ours.

/// eBPF socket filters through `BPF_PROG_LOAD` and `BPF_PROG_TEST_RUN`.
#[cfg(target_os = "linux")]
pub mod bpf;
/// Classic filters through `SO_ATTACH_FILTER`.
#[cfg(target_os = "linux")]
pub mod classic;
