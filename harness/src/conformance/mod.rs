//! Conformance with the running Linux kernel: a recorded corpus of kernel
//! verdicts ([`format`](mod@format), recorded by [`record`] from the families in
//! [`generate`]), its replay through every engine ([`replay`]), and a live
//! comparison with delta-debugged mismatches ([`diff`]).
//!
//! The corpus lives in `conformance/*.corpus` at the top of the source tree.

pub mod diff;
pub mod ebpf_cases;
pub mod format;
pub mod generate;
pub mod guide;
pub mod minimize;
pub mod record;
pub mod replay;
