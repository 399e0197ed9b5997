//! Running programs in the real Linux kernel, to record its verdicts and
//! compare them with ours.

/// Classic filters through `SO_ATTACH_FILTER`.
#[cfg(target_os = "linux")]
pub mod classic;
