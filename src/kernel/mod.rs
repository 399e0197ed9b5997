//! The running Linux kernel as an oracle: thin, safe wrappers over the
//! syscalls tests use to record the kernel's own verdicts.

pub mod bpf;
