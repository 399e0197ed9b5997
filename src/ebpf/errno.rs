//! The Linux errno values helpers return (negated), named once for the
//! map operations and the packet runtime's helpers.

/// No such entry.
pub const ENOENT: i64 = 2;
/// The map is full, or an index is past its end.
pub const E2BIG: i64 = 7;
/// Try again (a ring buffer without room).
pub const EAGAIN: i64 = 11;
/// Permission denied (bad `xdp_adjust_meta` length).
pub const EACCES: i64 = 13;
/// Bad address (bytes outside the packet).
pub const EFAULT: i64 = 14;
/// The entry exists (`BPF_NOEXIST`).
pub const EEXIST: i64 = 17;
/// Invalid argument.
pub const EINVAL: i64 = 22;
/// No space left (an LPM trie at its size).
pub const ENOSPC: i64 = 28;
/// Operation not supported (a devmap entry with a program; a perf event
/// on another CPU).
pub const EOPNOTSUPP: i64 = 95;
/// Out of memory (`bpf_skb_pull_data` past the packet's end).
pub const ENOMEM: i64 = 12;
/// The kernel-internal "operation not supported" (`bpf_csum_update` on a
/// socket buffer without a full checksum).
pub const ENOTSUPP: i64 = 524;
/// Already done (`bpf_skb_adjust_room` encapsulating twice).
pub const EALREADY: i64 = 114;
/// No such device (`bpf_check_mtu` on an unknown interface).
pub const ENODEV: i64 = 19;
