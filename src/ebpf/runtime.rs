//! Running programs from clang-built objects as the kernel runs them:
//! maps, the kernel's helpers, and the packet contexts of XDP programs,
//! TC classifiers and socket filters.
//!
//! [`PacketProgram`] takes an object's program and maps, links the map
//! references (`lddw` with `BPF_PSEUDO_MAP_FD` / `BPF_PSEUDO_MAP_VALUE`),
//! rewrites its context accesses ([`super::context`]), verifies it with the
//! helpers below declared, and prepares it for the JIT (or the
//! interpreter) through the one prepared-program core. Each packet then
//! runs in one block of run memory, laid out as
//!
//! ```text
//! [ context block | headroom 256 | packet … | tailroom | map arenas ]
//! ```
//!
//! (an `xdp.frags` program's frame past one page: its first 3,520 bytes
//! linear, the rest as page-sized fragments right after them, reached
//! through the helpers), so that every address a program can hold
//! (context, packet, map value)
//! lies in the memory the engines check accesses against; the stack is the
//! engines' own. Map values persist across packets; the packet area is
//! rewritten for each.
//!
//! Helpers, with the kernel's semantics (ids from `enum bpf_func_id`):
//! `map_lookup_elem` (1), `map_update_elem` (2), `map_delete_elem` (3),
//! `ktime_get_ns` (5, monotonic since the program was made, or a fixed
//! clock), `trace_printk` (6, to stderr), `get_prandom_u32` (7, seeded),
//! `get_smp_processor_id` (8, always 0: one CPU), `tail_call` (12; at most
//! 33 per run, as the kernel), `redirect` (23,
//! recorded; XDP and TC), `redirect_map` (51, XDP: devmaps, cpumaps and
//! xskmaps, recorded; a missing entry returns the action in the flags'
//! low bits), `perf_event_output` (25; the records come back with the ring
//! buffers' as a consumer on CPU 0 reads them: the data, then as many
//! packet bytes as the flags' upper half asks), `skb_store_bytes` (9),
//! `l3_csum_replace` (10),
//! `l4_csum_replace` (11; these three TC only), `skb_load_bytes` (26; TC
//! and socket filters),
//! `csum_diff` (28; XDP and TC),
//! `xdp_adjust_head` (44), `xdp_adjust_meta` (54), `xdp_adjust_tail` (65),
//! `ringbuf_output`, `_reserve`, `_submit`, `_discard`, `_query`
//! (130–134; the records come back in [`PacketOutcome::records`], and the
//! rings are emptied after each packet, as a consumer reading them would);
//! the smaller ones: `ktime_get_boot_ns` (125), `_coarse_ns` (160),
//! `_tai_ns` (208) and `jiffies64` (118, HZ 1000) on the same clock,
//! `get_numa_node_id` (42), `xdp_get_buff_len` (188), `xdp_load_bytes`
//! (189), `xdp_store_bytes` (190), `skb_pull_data` (39),
//! `skb_load_bytes_relative` (68), `csum_update` (40), `csum_level` (135),
//! `set_hash` (48), `set_hash_invalid` (41), `skb_vlan_push` (18),
//! `skb_vlan_pop` (19), `skb_change_tail` (38), `skb_change_head` (43),
//! `skb_adjust_room` (50), `skb_change_proto` (31), `skb_change_type`
//! (32), `check_mtu` (163), `for_each_map_elem` (164,
//! expanded as `callbacks` describes).
//! A helper the program type may not call is refused by the verifier, as
//! the kernel refuses it.
//!
//! What each type sees, as a kernel `BPF_PROG_TEST_RUN` on the loopback
//! device gives it (checked field by field in `cli/tests/xdp_objects.rs`): XDP
//! the whole frame; TC the whole frame as `skb->data`, with `len`,
//! `protocol` and `pkt_type` as `eth_type_trans` sets them; socket filters
//! the frame after its 14-byte Ethernet header, through the legacy packet
//! loads and `skb_load_bytes` only.
//!
//! Where this runtime is weaker than the kernel: accesses are checked
//! against the run memory as a whole, not against each object (a packet
//! pointer that strays past `data_end` into the tailroom is not refused as
//! the kernel's verifier refuses it; an `xdp.frags` program could read
//! its fragments that way), a store into `.rodata` through a pointer the
//! static checks lost track of goes through, `bpf_for_each_map_elem`
//! walks a hash map in slot order rather than the kernel's hash order, and
//! LRU maps evict the least recently used entry exactly (the kernel's LRU
//! is approximate).

use std::cell::{Cell, RefCell};
use std::time::Instant;

use super::context::{self, sk_buff, tc_action, xdp_action, xdp_md, ContextError, ContextKind};
use super::elf::{ObjectProgram, PSEUDO_MAP_FD, PSEUDO_MAP_VALUE};
use super::env::{Environment, HelperMemory, HelperOutcome};
use super::errno::{
    E2BIG, EACCES, EAGAIN, EALREADY, EFAULT, EINVAL, ENODEV, ENOENT, ENOMEM, ENOTSUPP,
};
use super::maps::{map_handle, map_index, MapDef, MapKind, MapSet, MapUpdateError};
use super::verify::VerifyError;
use super::{ExecError, Helpers, Program};
use crate::engine::Engine;
use crate::jit::{JitError, JitOptions};
use crate::program::{Compile, Prepared, WithPacket};
use crate::rng::Rng;

/// Helper ids this runtime serves.
pub mod helper {
    /// `bpf_map_lookup_elem`.
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    /// `bpf_map_update_elem`.
    pub const MAP_UPDATE_ELEM: u32 = 2;
    /// `bpf_map_delete_elem`.
    pub const MAP_DELETE_ELEM: u32 = 3;
    /// `bpf_ktime_get_ns`.
    pub const KTIME_GET_NS: u32 = 5;
    /// `bpf_trace_printk`.
    pub const TRACE_PRINTK: u32 = 6;
    /// `bpf_get_prandom_u32`.
    pub const GET_PRANDOM_U32: u32 = 7;
    /// `bpf_get_smp_processor_id`.
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    /// `bpf_skb_store_bytes`.
    pub const SKB_STORE_BYTES: u32 = 9;
    /// `bpf_l3_csum_replace`.
    pub const L3_CSUM_REPLACE: u32 = 10;
    /// `bpf_l4_csum_replace`.
    pub const L4_CSUM_REPLACE: u32 = 11;
    /// `bpf_tail_call`.
    pub const TAIL_CALL: u32 = 12;
    /// `bpf_redirect`.
    pub const REDIRECT: u32 = 23;
    /// `bpf_perf_event_output`.
    pub const PERF_EVENT_OUTPUT: u32 = 25;
    /// `bpf_redirect_map`.
    pub const REDIRECT_MAP: u32 = 51;
    /// `bpf_set_hash`.
    pub const SET_HASH: u32 = 48;
    /// `bpf_skb_vlan_push`.
    pub const SKB_VLAN_PUSH: u32 = 18;
    /// `bpf_skb_change_tail`.
    pub const SKB_CHANGE_TAIL: u32 = 38;
    /// `bpf_skb_change_head`.
    pub const SKB_CHANGE_HEAD: u32 = 43;
    /// `bpf_skb_adjust_room`.
    pub const SKB_ADJUST_ROOM: u32 = 50;
    /// `bpf_skb_change_proto`.
    pub const SKB_CHANGE_PROTO: u32 = 31;
    /// `bpf_skb_change_type`.
    pub const SKB_CHANGE_TYPE: u32 = 32;
    /// `bpf_skb_vlan_pop`.
    pub const SKB_VLAN_POP: u32 = 19;
    /// `bpf_skb_pull_data`.
    pub const SKB_PULL_DATA: u32 = 39;
    /// `bpf_csum_update`.
    pub const CSUM_UPDATE: u32 = 40;
    /// `bpf_set_hash_invalid`.
    pub const SET_HASH_INVALID: u32 = 41;
    /// `bpf_get_numa_node_id`.
    pub const GET_NUMA_NODE_ID: u32 = 42;
    /// `bpf_skb_load_bytes_relative`.
    pub const SKB_LOAD_BYTES_RELATIVE: u32 = 68;
    /// `bpf_jiffies64`.
    pub const JIFFIES64: u32 = 118;
    /// `bpf_ktime_get_boot_ns`.
    pub const KTIME_GET_BOOT_NS: u32 = 125;
    /// `bpf_csum_level`.
    pub const CSUM_LEVEL: u32 = 135;
    /// `bpf_ktime_get_coarse_ns`.
    pub const KTIME_GET_COARSE_NS: u32 = 160;
    /// `bpf_xdp_get_buff_len`.
    pub const XDP_GET_BUFF_LEN: u32 = 188;
    /// `bpf_xdp_load_bytes`.
    pub const XDP_LOAD_BYTES: u32 = 189;
    /// `bpf_xdp_store_bytes`.
    pub const XDP_STORE_BYTES: u32 = 190;
    /// `bpf_ktime_get_tai_ns`.
    pub const KTIME_GET_TAI_NS: u32 = 208;
    /// `bpf_check_mtu`.
    pub const CHECK_MTU: u32 = 163;
    /// The step of an expanded `bpf_for_each_map_elem`
    /// ([`crate::ebpf::callbacks::FOR_EACH_ENTRY`]).
    pub const FOR_EACH_ENTRY: u32 = crate::ebpf::callbacks::FOR_EACH_ENTRY as u32;
    /// `bpf_skb_load_bytes`.
    pub const SKB_LOAD_BYTES: u32 = 26;
    /// `bpf_csum_diff`.
    pub const CSUM_DIFF: u32 = 28;
    /// `bpf_xdp_adjust_head`.
    pub const XDP_ADJUST_HEAD: u32 = 44;
    /// `bpf_xdp_adjust_meta`.
    pub const XDP_ADJUST_META: u32 = 54;
    /// `bpf_xdp_adjust_tail`.
    pub const XDP_ADJUST_TAIL: u32 = 65;
    /// `bpf_ringbuf_output`.
    pub const RINGBUF_OUTPUT: u32 = 130;
    /// `bpf_ringbuf_reserve`.
    pub const RINGBUF_RESERVE: u32 = 131;
    /// `bpf_ringbuf_submit`.
    pub const RINGBUF_SUBMIT: u32 = 132;
    /// `bpf_ringbuf_discard`.
    pub const RINGBUF_DISCARD: u32 = 133;
    /// `bpf_ringbuf_query`.
    pub const RINGBUF_QUERY: u32 = 134;
    /// Ids every program type may call.
    pub const COMMON: [u32; 20] = [
        PERF_EVENT_OUTPUT,
        FOR_EACH_ENTRY,
        GET_NUMA_NODE_ID,
        JIFFIES64,
        KTIME_GET_BOOT_NS,
        KTIME_GET_COARSE_NS,
        KTIME_GET_TAI_NS,
        RINGBUF_OUTPUT,
        RINGBUF_RESERVE,
        RINGBUF_SUBMIT,
        RINGBUF_DISCARD,
        RINGBUF_QUERY,
        TAIL_CALL,
        MAP_LOOKUP_ELEM,
        MAP_UPDATE_ELEM,
        MAP_DELETE_ELEM,
        KTIME_GET_NS,
        TRACE_PRINTK,
        GET_PRANDOM_U32,
        GET_SMP_PROCESSOR_ID,
    ];
    /// Ids only XDP programs may call.
    pub const XDP: [u32; 10] = [
        REDIRECT,
        CHECK_MTU,
        REDIRECT_MAP,
        XDP_GET_BUFF_LEN,
        XDP_LOAD_BYTES,
        XDP_STORE_BYTES,
        CSUM_DIFF,
        XDP_ADJUST_HEAD,
        XDP_ADJUST_META,
        XDP_ADJUST_TAIL,
    ];
    /// Ids only TC programs may call.
    pub const TC: [u32; 20] = [
        REDIRECT,
        SKB_CHANGE_PROTO,
        SKB_CHANGE_TYPE,
        CHECK_MTU,
        SKB_ADJUST_ROOM,
        SKB_CHANGE_TAIL,
        SKB_CHANGE_HEAD,
        SKB_VLAN_PUSH,
        SKB_VLAN_POP,
        SKB_LOAD_BYTES,
        SKB_LOAD_BYTES_RELATIVE,
        SKB_PULL_DATA,
        CSUM_UPDATE,
        CSUM_LEVEL,
        SET_HASH,
        SET_HASH_INVALID,
        CSUM_DIFF,
        SKB_STORE_BYTES,
        L3_CSUM_REPLACE,
        L4_CSUM_REPLACE,
    ];
    /// Ids only socket filters may call.
    pub const SOCKET: [u32; 2] = [SKB_LOAD_BYTES, SKB_LOAD_BYTES_RELATIVE];

    /// The kernel's name of a helper this runtime serves to some program
    /// type (its `func_id_name`).
    pub fn name(id: u32) -> Option<&'static str> {
        Some(match id {
            MAP_LOOKUP_ELEM => "bpf_map_lookup_elem",
            MAP_UPDATE_ELEM => "bpf_map_update_elem",
            MAP_DELETE_ELEM => "bpf_map_delete_elem",
            KTIME_GET_NS => "bpf_ktime_get_ns",
            TRACE_PRINTK => "bpf_trace_printk",
            GET_PRANDOM_U32 => "bpf_get_prandom_u32",
            GET_SMP_PROCESSOR_ID => "bpf_get_smp_processor_id",
            SKB_STORE_BYTES => "bpf_skb_store_bytes",
            L3_CSUM_REPLACE => "bpf_l3_csum_replace",
            L4_CSUM_REPLACE => "bpf_l4_csum_replace",
            TAIL_CALL => "bpf_tail_call",
            REDIRECT => "bpf_redirect",
            PERF_EVENT_OUTPUT => "bpf_perf_event_output",
            REDIRECT_MAP => "bpf_redirect_map",
            SET_HASH => "bpf_set_hash",
            SKB_VLAN_PUSH => "bpf_skb_vlan_push",
            SKB_CHANGE_TAIL => "bpf_skb_change_tail",
            SKB_CHANGE_HEAD => "bpf_skb_change_head",
            SKB_ADJUST_ROOM => "bpf_skb_adjust_room",
            SKB_CHANGE_PROTO => "bpf_skb_change_proto",
            SKB_CHANGE_TYPE => "bpf_skb_change_type",
            SKB_VLAN_POP => "bpf_skb_vlan_pop",
            SKB_PULL_DATA => "bpf_skb_pull_data",
            CSUM_UPDATE => "bpf_csum_update",
            SET_HASH_INVALID => "bpf_set_hash_invalid",
            GET_NUMA_NODE_ID => "bpf_get_numa_node_id",
            SKB_LOAD_BYTES_RELATIVE => "bpf_skb_load_bytes_relative",
            JIFFIES64 => "bpf_jiffies64",
            KTIME_GET_BOOT_NS => "bpf_ktime_get_boot_ns",
            CSUM_LEVEL => "bpf_csum_level",
            KTIME_GET_COARSE_NS => "bpf_ktime_get_coarse_ns",
            XDP_GET_BUFF_LEN => "bpf_xdp_get_buff_len",
            XDP_LOAD_BYTES => "bpf_xdp_load_bytes",
            XDP_STORE_BYTES => "bpf_xdp_store_bytes",
            KTIME_GET_TAI_NS => "bpf_ktime_get_tai_ns",
            CHECK_MTU => "bpf_check_mtu",
            SKB_LOAD_BYTES => "bpf_skb_load_bytes",
            CSUM_DIFF => "bpf_csum_diff",
            XDP_ADJUST_HEAD => "bpf_xdp_adjust_head",
            XDP_ADJUST_META => "bpf_xdp_adjust_meta",
            XDP_ADJUST_TAIL => "bpf_xdp_adjust_tail",
            RINGBUF_OUTPUT => "bpf_ringbuf_output",
            RINGBUF_RESERVE => "bpf_ringbuf_reserve",
            RINGBUF_SUBMIT => "bpf_ringbuf_submit",
            RINGBUF_DISCARD => "bpf_ringbuf_discard",
            RINGBUF_QUERY => "bpf_ringbuf_query",
            _ => return None,
        })
    }

    /// The helpers programs of `kind` may call here: every type's, then
    /// its own.
    pub fn served(kind: crate::ebpf::context::ContextKind) -> impl Iterator<Item = u32> {
        use crate::ebpf::context::ContextKind;
        let own: &'static [u32] = match kind {
            ContextKind::Xdp => &XDP,
            ContextKind::Tc => &TC,
            ContextKind::Socket => &SOCKET,
        };
        COMMON.iter().chain(own).copied()
    }
}

/// `XDP_PACKET_HEADROOM`.
pub const HEADROOM: usize = 256;
/// `sizeof(struct skb_shared_info)` on x86-64: the tailroom a frame keeps.
const TAILROOM: usize = 320;
/// `sizeof(struct xdp_frame)`: `adjust_head` and `adjust_meta` may not
/// reach into it.
const XDP_FRAME_SIZE: usize = 40;
/// A frame is at least one page, as `BPF_PROG_TEST_RUN` gives one.
const PAGE: usize = 4096;
/// The largest packet a run takes.
pub const MAX_PACKET: usize = 65_535;
/// The most of a frame an `xdp.frags` program sees linearly: a page less
/// the headroom and tailroom, as a kernel test run builds the frame.
const MAX_LINEAR: usize = PAGE - HEADROOM - TAILROOM;
const ETH_HLEN: u64 = 14;
/// The longest a socket buffer may grow (`BPF_SKB_MAX_LEN`, the kernel's
/// `SKB_MAX_ALLOC`: four pages less `struct skb_shared_info`).
const SKB_MAX_LEN: u64 = 4 * 4096 - 320;
/// Where the frame starts in the run memory: after the largest context
/// block.
const FRAME_AT: usize = 256;
const FRAME_SIZE: usize = HEADROOM + MAX_PACKET + TAILROOM + PAGE;

/// What `ktime_get_ns` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Nanoseconds since the program was made (monotonic).
    Monotonic,
    /// `start`, then `start + step`, … one step per call: reproducible runs.
    Fixed {
        /// The first value.
        start: u64,
        /// Added after each call.
        step: u64,
    },
}

/// How to build a [`PacketProgram`].
#[derive(Clone, Debug)]
pub struct PacketOptions {
    /// The engine; `None`: the JIT, else the interpreter.
    pub engine: Option<Engine>,
    /// Instruction budget per packet (loops the verifier cannot prove to
    /// finish need one).
    pub budget: Option<u64>,
    /// `xdp_md.ingress_ifindex` and `__sk_buff.ifindex` (default 1,
    /// loopback, as a kernel test run).
    pub ingress_ifindex: u32,
    /// `xdp_md.rx_queue_index`.
    pub rx_queue_index: u32,
    /// `ktime_get_ns`'s clock.
    pub clock: Clock,
    /// Seed of `get_prandom_u32`.
    pub seed: u64,
    /// Print `trace_printk` output on stderr (otherwise it is dropped).
    pub trace: bool,
    /// JIT settings.
    pub jit: JitOptions,
}

impl Default for PacketOptions {
    fn default() -> Self {
        PacketOptions {
            engine: None,
            budget: None,
            ingress_ifindex: 1,
            rx_queue_index: 0,
            clock: Clock::Monotonic,
            seed: 0,
            trace: true,
            jit: JitOptions::default(),
        }
    }
}

/// Why a [`PacketProgram`] could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeError {
    /// The program's section names a type this runtime does not run.
    ProgramType(String),
    /// A callback (`bpf_loop`'s) this runtime cannot expand.
    Callback(super::callbacks::CallbackError),
    /// A legacy packet load (`LD_ABS`/`LD_IND`) a TC program cannot make.
    LegacyLoad {
        /// Instruction slot.
        pc: usize,
        /// Why.
        message: String,
    },
    /// A context access the kernel refuses.
    Context(ContextError),
    /// An instruction no path reaches, which the kernel's `check_cfg`
    /// refuses (its first slot).
    Unreachable {
        /// Instruction slot.
        pc: usize,
    },
    /// The kernel's verifier would give up on the program as too large:
    /// its first path alone passes its limit of 1,000,000 processed
    /// instructions (a loop it walks iteration by iteration). The
    /// instruction at which its count passes the limit.
    TooLarge {
        /// Instruction slot.
        pc: usize,
    },
    /// A map reference to no map.
    BadMapReference {
        /// Instruction slot.
        pc: usize,
        /// The index found.
        index: i64,
    },
    /// The verifier refused the program.
    Verify(VerifyError),
    /// The JIT was required and could not compile it.
    Jit(JitError),
    /// The engine asked for does not run eBPF.
    NotEbpfEngine(Engine),
    /// The maps need more memory than [`super::maps::MAX_MAP_MEMORY`].
    MapMemory {
        /// Bytes they need together.
        bytes: u64,
    },
    /// Another program of the object, prepared for tail calls, failed.
    Other {
        /// Its function name.
        program: String,
        /// Why.
        error: Box<RuntimeError>,
    },
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeError::ProgramType(section) => write!(
                f,
                "section '{section}': only XDP (xdp…), TC (tc…, classifier…) and socket filter \
                 (socket…) programs run on packets so far"
            ),
            RuntimeError::LegacyLoad { pc, message } => {
                write!(f, "instruction {pc}: {message}")
            }
            RuntimeError::Context(e) => write!(f, "refused: {e}"),
            RuntimeError::Unreachable { pc } => write!(
                f,
                "refused: instruction {pc}: unreachable insn {pc} (no path from the entry \
                 reaches it, as the kernel requires of every instruction)"
            ),
            RuntimeError::TooLarge { pc } => write!(
                f,
                "refused: instruction {pc}: BPF program is too large. Processed {} insn (the \
                 kernel's verifier walks this path, a loop iteration by iteration, and gives up \
                 past 1,000,000 instructions; with an instruction budget, --budget N, it runs \
                 here)",
                super::complexity::KERNEL_INSN_LIMIT + 1
            ),
            RuntimeError::Callback(e) => write!(f, "refused: {e}"),
            RuntimeError::BadMapReference { pc, index } => {
                write!(
                    f,
                    "instruction {pc}: a reference to map {index}, which does not exist"
                )
            }
            RuntimeError::Verify(e) => write!(f, "refused by the verifier: {e}"),
            RuntimeError::Jit(e) => e.fmt(f),
            RuntimeError::Other { program, error } => {
                write!(
                    f,
                    "program '{program}' of the object (all its programs of this type are \
                     loaded together, as libbpf loads an object, so tail calls can reach them): \
                     {error}"
                )
            }
            RuntimeError::MapMemory { bytes } => write!(
                f,
                "the maps need {} MiB together, over the {} MiB a program's maps may take",
                bytes >> 20,
                super::maps::MAX_MAP_MEMORY >> 20
            ),
            RuntimeError::NotEbpfEngine(e) => write!(
                f,
                "the {e} engine runs classic programs only; use interp or jit for eBPF"
            ),
        }
    }
}

impl std::error::Error for RuntimeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RuntimeError::Context(e) => Some(e),
            RuntimeError::Callback(e) => Some(e),
            RuntimeError::Verify(e) => Some(e),
            RuntimeError::Jit(e) => Some(e),
            RuntimeError::Other { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }
}

/// A map's entries as (key, value) bytes.
pub type MapEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// What one packet's run gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketOutcome {
    /// The program's return value (r0): the XDP action.
    pub action: u64,
    /// The packet as the program left it (`data .. data_end`).
    pub packet: Vec<u8>,
    /// The metadata before it (`data_meta .. data`, XDP programs; what
    /// `xdp_adjust_meta` made room for and the program wrote), empty for
    /// none. A kernel test run returns these bytes followed by the
    /// packet's.
    pub meta: Vec<u8>,
    /// Where `bpf_redirect` or `bpf_redirect_map` last sent the packet,
    /// when one of them was called and succeeded.
    pub redirect: Option<Redirect>,
    /// Records for userspace in this run: (map name, bytes), by map; ring
    /// buffer records in reservation order, perf event records in output
    /// order (the kernel pads a perf record to a multiple of 8 bytes with
    /// its 4-byte size; these are the bytes the program gave).
    pub records: Vec<(String, Vec<u8>)>,
}

/// Where a redirect sends the packet.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Redirect {
    /// Interface `ifindex` (`bpf_redirect`, or a devmap entry's).
    Interface(u32),
    /// Every interface of the devmap named (`BPF_F_BROADCAST`), less the
    /// ingress one when `exclude_ingress`.
    Broadcast {
        /// The devmap's name.
        map: String,
        /// `BPF_F_EXCLUDE_INGRESS`.
        exclude_ingress: bool,
    },
    /// The queue of CPU `cpu` (a cpumap's key).
    Cpu(u32),
    /// The AF_XDP socket in slot `index` of the xskmap named.
    Socket {
        /// The xskmap's name.
        map: String,
        /// The slot.
        index: u32,
    },
}

/// A redirect as a run records it (map names resolved afterwards).
#[derive(Clone, Copy, Debug)]
enum RedirectTo {
    Interface(u32),
    Broadcast { map: usize, exclude_ingress: bool },
    Cpu(u32),
    Socket { map: usize, index: u32 },
}

/// Run memory and map state, one packet at a time.
#[derive(Debug)]
struct RunState {
    /// Backing bytes; the run memory starts at `base` (8-byte aligned) and
    /// never moves, so linked addresses stay valid.
    bytes: Vec<u8>,
    base: usize,
    maps: MapSet,
    rng: Rng,
    ticks: u64,
    /// The last run moved `data` or `data_meta` into the headroom.
    headroom_dirty: bool,
    /// The eBPF stack, kept from run to run (each run zeroes what its
    /// program can touch: `Prepared::run_on_stack`).
    stack: Vec<u8>,
}

impl RunState {
    fn mem(&mut self) -> &mut [u8] {
        &mut self.bytes[self.base..]
    }
}

/// An XDP, TC or socket-filter program from an object, with its maps
/// (and the object's other programs of its type, for tail calls), ready to
/// run packets.
#[derive(Debug)]
pub struct PacketProgram {
    /// The prepared programs, by index in the object (`None`: another
    /// type); tail calls reach them through program arrays.
    programs: Vec<Option<Prepared>>,
    /// Each TC program's original slot for every slot of the program as
    /// run (its legacy loads expanded): run-time errors are named there.
    origins: Vec<Option<super::legacy_loads::SlotOrigins>>,
    entry: usize,
    kind: ContextKind,
    /// An `xdp.frags` program: frames past one page arrive as a linear
    /// part and fragments, as a kernel test run gives them.
    frags: bool,
    /// One run at a time: a program is `Send`, not `Sync` (a lock per
    /// packet was a third of a simple program's time; share one between
    /// threads behind a `Mutex`).
    state: RefCell<RunState>,
    options: PacketOptions,
    started: Instant,
}

/// Most tail calls one run may make (`MAX_TAIL_CALL_CNT`); the next fails.
pub const MAX_TAIL_CALLS: u32 = 33;

impl PacketProgram {
    /// Links, checks and prepares `program` with the object's `maps`; its
    /// section gives its type ([`context_kind`]). Tail calls can reach no
    /// other program: use [`PacketProgram::from_object`] for those.
    pub fn new(
        program: &ObjectProgram,
        maps: &[MapDef],
        options: PacketOptions,
    ) -> Result<PacketProgram, RuntimeError> {
        PacketProgram::build(std::slice::from_ref(program), 0, maps, options)
    }

    /// Prepares program `entry` of `object` and every other program of its
    /// type (all are checked, as a loader loads the whole object), so that
    /// its program arrays can name them.
    pub fn from_object(
        object: &super::elf::EbpfObject,
        entry: usize,
        options: PacketOptions,
    ) -> Result<PacketProgram, RuntimeError> {
        PacketProgram::build(&object.programs, entry, &object.maps, options)
    }

    fn build(
        programs: &[ObjectProgram],
        entry: usize,
        maps: &[MapDef],
        options: PacketOptions,
    ) -> Result<PacketProgram, RuntimeError> {
        if let Some(engine) = options.engine.filter(|e| !e.runs_ebpf()) {
            return Err(RuntimeError::NotEbpfEngine(engine));
        }
        let first = &programs[entry];
        let kind = context_kind(&first.section)
            .ok_or_else(|| RuntimeError::ProgramType(first.section.clone()))?;
        if let Some(bytes) = super::maps::over_memory_bound(maps) {
            return Err(RuntimeError::MapMemory { bytes });
        }
        let arenas_at = FRAME_AT + FRAME_SIZE;
        let mut set = MapSet::new(maps, arenas_at);
        let len = arenas_at + set.arena_size();
        let mut bytes = vec![0u8; len + 8];
        let base = bytes.as_ptr().align_offset(8).min(8);
        set.initialise(&mut bytes[base..]);
        // Program arrays' and maps of maps' initial entries: the programs
        // and maps they name, by index.
        for (m, def) in maps.iter().enumerate() {
            let programs = def.programs.iter().filter_map(|(slot, name)| {
                Some((slot, programs.iter().position(|p| &p.name == name)?))
            });
            let inner = def.maps.iter().filter_map(|(slot, name)| {
                Some((slot, maps.iter().position(|d| &d.name == name)?))
            });
            for (slot, index) in programs.chain(inner) {
                let value = (index as u32).to_le_bytes();
                let _ = set.preload(&mut bytes[base..], m, &slot.to_le_bytes(), &value);
            }
        }
        let mem_addr = bytes[base..].as_ptr() as u64;
        let mut helpers = Helpers::new();
        for id in helper::served(kind) {
            helpers.declare(id);
        }
        let mut jit = options.jit.clone();
        jit.budget = options.budget.is_some();
        jit.leaf = false;
        jit.batch = false;
        let mut prepared = Vec::with_capacity(programs.len());
        let mut origins = Vec::with_capacity(programs.len());
        for (i, program) in programs.iter().enumerate() {
            if i != entry && context_kind(&program.section) != Some(kind) {
                prepared.push(None);
                origins.push(None);
                continue;
            }
            let named = |e: RuntimeError| {
                if i == entry {
                    e
                } else {
                    RuntimeError::Other {
                        program: program.name.clone(),
                        error: Box::new(e),
                    }
                }
            };
            // The kernel's first looks at the program as libbpf loads it.
            if !program.btf_functions {
                context::check_subprograms_without_btf(&program.program)
                    .map_err(|e| named(RuntimeError::Context(e)))?;
            }
            if let Some(pc) = super::blocks::first_unreachable(&program.program.insns) {
                return Err(named(RuntimeError::Unreachable { pc }));
            }
            let looped = super::callbacks::expand_callbacks_with_maps(&program.program, maps)
                .map_err(|e| named(RuntimeError::Callback(e)))?;
            // TC programs' legacy loads read the frame in the run memory;
            // errors are named at the slots the kernel names.
            let expanded = match kind {
                ContextKind::Tc => Some(
                    super::legacy_loads::expand_legacy_loads(&looped).map_err(|e| {
                        named(RuntimeError::LegacyLoad {
                            pc: e.pc,
                            message: e.message,
                        })
                    })?,
                ),
                _ => None,
            };
            let source = expanded.as_ref().map_or(&looped, |e| &e.program);
            let original_slot = |pc| {
                expanded
                    .as_ref()
                    .map_or(pc, |e| e.origins.original_slot(pc))
            };
            // Checked before linking, while map references are still
            // visible as such (linking keeps every instruction in place).
            let checked = context::rewrite_with_maps(source, kind, maps).map_err(|mut e| {
                e.pc = original_slot(e.pc);
                // Named as libbpf names it in the kernel's log.
                if let Some(relocation) = program.poisoned_relocation(e.pc) {
                    if e.message == super::elf::poisoned_call_refusal(None) {
                        e.message = super::elf::poisoned_call_refusal(Some(relocation));
                    }
                }
                named(RuntimeError::Context(e))
            })?;
            let rewritten = link(&checked, &set, mem_addr).map_err(named)?;
            super::verify::verify_checked(&rewritten, &helpers, options.budget, true).map_err(
                |mut e| {
                    e.pc = original_slot(e.pc);
                    named(RuntimeError::Verify(e))
                },
            )?;
            // Last, as the kernel meets its limit only on a path with no
            // error before it; with a budget, loops run as they are.
            if options.budget.is_none() {
                if let Some(pc) = super::complexity::first_path_over_limit(&program.program.insns) {
                    return Err(named(RuntimeError::TooLarge { pc }));
                }
            }
            let core = Prepared::new(rewritten, Compile::for_engine(options.engine), &jit)
                .map_err(|e| named(RuntimeError::Jit(e)))?;
            prepared.push(Some(core));
            origins.push(expanded.map(|e| e.origins));
        }
        // One stack serves every program a tail call can reach.
        let stack_len = prepared
            .iter()
            .flatten()
            .map(Prepared::stack_len)
            .max()
            .unwrap_or(0);
        let frags = first.section.split('/').next() == Some("xdp.frags");
        Ok(PacketProgram {
            programs: prepared,
            origins,
            entry,
            kind,
            frags,
            state: RefCell::new(RunState {
                bytes,
                base,
                maps: set,
                rng: Rng::new(options.seed),
                ticks: 0,
                headroom_dirty: false,
                stack: vec![0; stack_len],
            }),
            started: Instant::now(),
            options,
        })
    }

    /// The entry program, prepared.
    fn core(&self) -> &Prepared {
        self.programs[self.entry]
            .as_ref()
            .unwrap_or_else(|| unreachable!("the entry program is always prepared"))
    }

    /// The entry program's native code, when the JIT runs it (its CLIF and
    /// machine-code listings are kept when `PacketOptions::jit` asked for
    /// them).
    pub fn jit_code(&self) -> Option<&crate::jit::JitCode> {
        self.core().jit_code()
    }

    /// The program's type.
    pub fn kind(&self) -> ContextKind {
        self.kind
    }

    /// Whether an outcome lets the packet on, as the kernel would: XDP
    /// `XDP_PASS`; TC `TC_ACT_OK` or `TC_ACT_UNSPEC` (the default action);
    /// a socket filter any non-zero length.
    pub fn passes(&self, outcome: &PacketOutcome) -> bool {
        let verdict = outcome.action as u32;
        match self.kind {
            ContextKind::Xdp => verdict == xdp_action::PASS,
            ContextKind::Tc => verdict == tc_action::OK || verdict == tc_action::UNSPEC,
            ContextKind::Socket => verdict != 0,
        }
    }

    /// The engine that runs the program.
    pub fn engine(&self) -> Engine {
        self.core().engine()
    }

    /// Why the JIT was not used, when it was tried and failed.
    pub fn jit_error(&self) -> Option<&JitError> {
        self.core().jit_error()
    }

    /// The program as it runs (maps linked, context accesses rewritten).
    pub fn program(&self) -> &Program {
        self.core().program()
    }

    /// Runs the program on one frame (Ethernet header first, at most
    /// [`MAX_PACKET`] bytes).
    pub fn run(&self, packet: &[u8]) -> Result<PacketOutcome, ExecError> {
        self.run_frame(packet, true)
    }

    /// Runs the program on one frame and returns only its return value
    /// (no copy of the packet as left: the fast path for filtering).
    pub fn action(&self, packet: &[u8]) -> Result<u64, ExecError> {
        self.run_frame(packet, false).map(|o| o.action)
    }

    fn run_frame(&self, packet: &[u8], copy_out: bool) -> Result<PacketOutcome, ExecError> {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let len = packet.len().min(MAX_PACKET);
        let kind = self.kind;
        let data = FRAME_AT + HEADROOM;
        // The block and headroom read as zero, as in a kernel test run (the
        // headroom is written only through xdp_adjust_head/meta, so it is
        // cleared only after a run that called them); the tailroom is
        // cleared only when `xdp_adjust_tail` grows into it, as the kernel
        // clears it.
        let cleared = if state.headroom_dirty {
            data
        } else {
            kind.block_size()
        };
        let mem = state.mem();
        mem[..cleared].fill(0);
        let mem_addr = mem.as_ptr() as u64;
        mem[data..data + len].copy_from_slice(&packet[..len]);
        // An `xdp.frags` program sees at most a page's worth linearly
        // (less headroom and tailroom); the rest is in page-sized
        // fragments, which lie right after it here.
        let (linear, frags) = if self.frags && kind == ContextKind::Xdp && len > MAX_LINEAR {
            let rest = len - MAX_LINEAR;
            let pages = (0..rest.div_ceil(PAGE)).map(|i| (rest - i * PAGE).min(PAGE) as u64);
            (MAX_LINEAR, pages.collect())
        } else {
            (len, Vec::new())
        };
        let frame_len = (HEADROOM + linear + TAILROOM).max(PAGE);
        let put64 =
            |mem: &mut [u8], at: usize, v: u64| mem[at..at + 8].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |mem: &mut [u8], at: usize, v: u32| mem[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put64(mem, kind.data(), mem_addr + data as u64);
        put64(mem, kind.data_end(), mem_addr + (data + linear) as u64);
        put64(mem, kind.data_meta(), mem_addr + data as u64);
        // What the legacy loads and skb_load_bytes of a socket filter read.
        let mut network = None;
        match kind {
            ContextKind::Xdp => {
                put32(mem, xdp_md::INGRESS_IFINDEX, self.options.ingress_ifindex);
                put32(mem, xdp_md::RX_QUEUE_INDEX, self.options.rx_queue_index);
            }
            ContextKind::Tc | ContextKind::Socket => {
                let (protocol, pkt_type) = eth_type_trans(&packet[..len]);
                let skb_len = if kind == ContextKind::Socket {
                    network = Some(packet.get(14..len).unwrap_or(&[]));
                    len.saturating_sub(14)
                } else {
                    len
                };
                put32(mem, sk_buff::LEN, skb_len as u32);
                put32(mem, sk_buff::PKT_TYPE, pkt_type);
                put32(mem, sk_buff::PROTOCOL, u32::from(protocol));
                put32(mem, sk_buff::IFINDEX, self.options.ingress_ifindex);
                put32(mem, sk_buff::QUEUE_MAPPING, 0);
            }
        }
        let env = PacketEnv {
            maps: RefCell::new(&mut state.maps),
            rng: RefCell::new(&mut state.rng),
            ticks: Cell::new(state.ticks),
            redirect: Cell::new(None),
            tail_call: Cell::new(None),
            tail_calls: Cell::new(0),
            callable: &self.programs,
            headroom_touched: Cell::new(false),
            csum_unnecessary: Cell::new(None),
            frags: RefCell::new(frags),
            network_offset: Cell::new(ETH_HLEN),
            transport_offset: Cell::new(None),
            encapsulated: Cell::new(false),
            frame_end: mem_addr + (FRAME_AT + frame_len - TAILROOM) as u64,
            frame_start: mem_addr + FRAME_AT as u64,
            frame: &packet[..len],
            kind,
            options: &self.options,
            started: self.started,
        };
        let mut current = self.entry;
        let result = loop {
            let core = self.programs[current]
                .as_ref()
                .unwrap_or_else(|| unreachable!("tail calls reach prepared programs only"));
            let mem = &mut state.bytes[state.base..];
            let stack = &mut state.stack;
            let budget = self.options.budget;
            let result = match network {
                Some(packet) => {
                    core.run_on_stack(&mut WithPacket { mem, packet }, stack, budget, &env)
                }
                None => core.run_on_stack(mem, stack, budget, &env),
            };
            // A tail call ended the program (as an unwind): the callee runs
            // next on the same context, packet and maps, with a new stack.
            match env.tail_call.take() {
                Some(next) if result.is_ok() => current = next,
                _ => {
                    break result.map_err(|e| match &self.origins[current] {
                        Some(origins) => e.at_slots(|pc| origins.original_slot(pc)),
                        None => e,
                    })
                }
            }
        };
        let redirect = env.redirect.get();
        let drained = env.maps.borrow_mut().drain_records();
        let frag_bytes: u64 = env.frags.borrow().iter().sum();
        state.ticks = env.ticks.get();
        state.headroom_dirty = env.headroom_touched.get();
        let action = result?;
        let mem = state.mem();
        let field = |at: usize| u64::from_le_bytes(mem[at..at + 8].try_into().unwrap_or([0; 8]));
        // (Fragments follow the linear part.)
        let (lo, hi) = (field(kind.data()), field(kind.data_end()) + frag_bytes);
        let inside = lo >= mem_addr && lo <= hi && hi <= mem_addr + mem.len() as u64;
        let meta_lo = field(kind.data_meta());
        let meta = if copy_out
            && kind == ContextKind::Xdp
            && inside
            && meta_lo >= mem_addr
            && meta_lo < lo
        {
            mem[(meta_lo - mem_addr) as usize..(lo - mem_addr) as usize].to_vec()
        } else {
            Vec::new()
        };
        let bytes = if !copy_out {
            Vec::new()
        } else if kind == ContextKind::Socket {
            packet[..len].to_vec()
        } else if inside {
            mem[(lo - mem_addr) as usize..(hi - mem_addr) as usize].to_vec()
        } else {
            Vec::new()
        };
        let records = if drained.is_empty() {
            Vec::new()
        } else {
            drained
                .into_iter()
                .map(|(map, bytes)| {
                    let name = state.maps.defs().nth(map).map(|d| d.name.clone());
                    (name.unwrap_or_default(), bytes)
                })
                .collect()
        };
        let name = |map: usize| {
            state
                .maps
                .defs()
                .nth(map)
                .map(|d| d.name.clone())
                .unwrap_or_default()
        };
        let redirect = redirect.map(|r| match r {
            RedirectTo::Interface(ifindex) => Redirect::Interface(ifindex),
            RedirectTo::Broadcast {
                map,
                exclude_ingress,
            } => Redirect::Broadcast {
                map: name(map),
                exclude_ingress,
            },
            RedirectTo::Cpu(cpu) => Redirect::Cpu(cpu),
            RedirectTo::Socket { map, index } => Redirect::Socket {
                map: name(map),
                index,
            },
        });
        Ok(PacketOutcome {
            action,
            packet: bytes,
            meta,
            redirect,
            records,
        })
    }

    /// Every map's entries after the runs so far, by map: (name, entries).
    pub fn map_entries(&self) -> Vec<(String, MapEntries)> {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let mem = &state.bytes[state.base..];
        state
            .maps
            .defs()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), state.maps.entries(mem, i)))
            .collect()
    }

    /// The object's map names, in its order (for
    /// [`PacketProgram::visit_map_entries`]).
    pub fn map_names(&self) -> Vec<String> {
        self.state
            .borrow()
            .maps
            .defs()
            .map(|d| d.name.clone())
            .collect()
    }

    /// Calls `f` with each entry of the map named `map` after the runs so
    /// far (as [`PacketProgram::map_entries`] lists them), without copying
    /// them: what a dump of maps of any size goes through.
    pub fn visit_map_entries(&self, map: &str, f: &mut dyn FnMut(&[u8], &[u8])) {
        let guard = self.state.borrow();
        let mem = &guard.bytes[guard.base..];
        let index = guard.maps.defs().position(|d| d.name == map);
        if let Some(i) = index {
            guard.maps.visit_entries(mem, i, f);
        }
    }

    /// Sets entry `key` of the map named `map` before a run.
    pub fn preload(&self, map: &str, key: &[u8], value: &[u8]) -> Result<(), MapUpdateError> {
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let index = state
            .maps
            .by_name(map)
            .ok_or_else(|| MapUpdateError(format!("the object has no map named '{map}'")))?;
        let base = state.base;
        state
            .maps
            .preload(&mut state.bytes[base..], index, key, value)
    }
}

/// Replaces map references with what they are at run time: handles for
/// maps, addresses for global data.
fn link(program: &Program, maps: &MapSet, mem_addr: u64) -> Result<Program, RuntimeError> {
    let mut insns = program.insns.clone();
    let mut pc = 0;
    while pc + 1 < insns.len() {
        let i = insns[pc];
        if i.is_lddw() && (i.src == PSEUDO_MAP_FD || i.src == PSEUDO_MAP_VALUE) {
            let bad = RuntimeError::BadMapReference {
                pc,
                index: i64::from(i.imm),
            };
            let index = usize::try_from(i.imm)
                .ok()
                .filter(|&m| m < maps.len())
                .ok_or(bad)?;
            let value = if i.src == PSEUDO_MAP_FD {
                map_handle(index)
            } else {
                let at = maps.value_offset(index).unwrap_or(0) as u64;
                let off = insns[pc + 1].imm as u32 as u64;
                mem_addr + at + off
            };
            insns[pc].src = 0;
            insns[pc].imm = value as u32 as i32;
            insns[pc + 1].imm = (value >> 32) as u32 as i32;
            pc += 2;
            continue;
        }
        pc += i.width();
    }
    Ok(Program::new(insns))
}

/// Helper calls of one packet's run.
struct PacketEnv<'a> {
    maps: RefCell<&'a mut MapSet>,
    rng: RefCell<&'a mut Rng>,
    ticks: Cell<u64>,
    redirect: Cell<Option<RedirectTo>>,
    /// The program a successful tail call asked for.
    tail_call: Cell<Option<usize>>,
    tail_calls: Cell<u32>,
    callable: &'a [Option<Prepared>],
    headroom_touched: Cell<bool>,
    /// The socket buffer's checksum state: `None` for CHECKSUM_NONE,
    /// the level of a CHECKSUM_UNNECESSARY one.
    csum_unnecessary: Cell<Option<u8>>,
    /// An `xdp.frags` frame's fragment sizes, in order; their bytes follow
    /// `data_end` in the run memory.
    frags: RefCell<Vec<u64>>,
    /// Where the network header is, from `data` (14 in a test run's
    /// frame; `skb_change_head` moves `data` and not it).
    network_offset: Cell<u64>,
    /// Where the transport header is, from `data`, once a helper set it
    /// (`skb_adjust_room`'s L4 encapsulation).
    transport_offset: Cell<Option<u64>>,
    /// `skb->encapsulation`, set by `skb_adjust_room`'s encapsulation.
    encapsulated: Cell<bool>,
    /// Where `data_end` may grow to, and the frame's first byte.
    frame_end: u64,
    frame_start: u64,
    /// The frame as it came in (the socket-filter legacy loads' link-layer
    /// area).
    frame: &'a [u8],
    kind: ContextKind,
    options: &'a PacketOptions,
    started: Instant,
}

/// The skb load helpers' copy: `len` bytes of `source` from `at` into
/// `to` and 0, or, when they are not all there (or `at` is `None`), `to`
/// cleared and -EFAULT.
fn copy_or_clear(
    source: &[u8],
    at: Option<usize>,
    to: u64,
    len: usize,
    memory: &mut HelperMemory<'_>,
) -> HelperOutcome {
    let Some(dest) = memory.bytes(to, len) else {
        return oob(to, len, true);
    };
    match at.and_then(|a| source.get(a..a.checked_add(len)?)) {
        Some(bytes) => {
            dest.copy_from_slice(bytes);
            errno(0)
        }
        None => {
            dest.fill(0);
            errno(-EFAULT)
        }
    }
}

fn errno(e: i64) -> HelperOutcome {
    HelperOutcome::Return(e as u64)
}

fn oob(addr: u64, size: usize, write: bool) -> HelperOutcome {
    HelperOutcome::OutOfBounds { addr, size, write }
}

impl Environment for PacketEnv<'_> {
    fn call_helper(&self, _: u64, _: [u64; 5], _: &[u8]) -> HelperOutcome {
        HelperOutcome::Unknown
    }

    /// Socket filters' `SKF_NET_OFF` and `SKF_LL_OFF` areas: the network
    /// header (the frame after Ethernet) and the link-layer header.
    fn negative_load(&self, packet: &[u8], offset: i64, size: usize) -> Option<u32> {
        const NET_OFF: i64 = -0x10_0000;
        const LL_OFF: i64 = -0x20_0000;
        let (area, at) = if offset >= NET_OFF {
            (packet, offset - NET_OFF)
        } else if offset >= LL_OFF {
            (self.frame, offset - LL_OFF)
        } else {
            return None;
        };
        let at = usize::try_from(at).ok()?;
        let bytes = area.get(at..at.checked_add(size)?)?;
        Some(bytes.iter().fold(0u32, |v, &b| v << 8 | u32::from(b)))
    }

    fn call_helper_in(
        &self,
        id: u64,
        args: [u64; 5],
        memory: &mut HelperMemory<'_>,
    ) -> HelperOutcome {
        let Ok(id) = u32::try_from(id) else {
            return HelperOutcome::Unknown;
        };
        match id {
            helper::MAP_LOOKUP_ELEM | helper::MAP_UPDATE_ELEM | helper::MAP_DELETE_ELEM => {
                self.map_call(id, args, memory)
            }
            helper::KTIME_GET_NS
            | helper::KTIME_GET_BOOT_NS
            | helper::KTIME_GET_COARSE_NS
            | helper::KTIME_GET_TAI_NS => HelperOutcome::Return(self.now()),
            // HZ = 1000: one jiffy per millisecond of the clock.
            helper::JIFFIES64 => HelperOutcome::Return(self.now() / 1_000_000),
            helper::GET_NUMA_NODE_ID => HelperOutcome::Return(0),
            helper::CHECK_MTU => self.check_mtu(args, memory),
            helper::FOR_EACH_ENTRY => {
                let maps = self.maps.borrow();
                let Some(map) = map_index(args[0]) else {
                    return HelperOutcome::Return(0);
                };
                let (mem, mem_addr) = memory.mem();
                let at = maps.visit(mem, mem_addr, map, args[1] as u32);
                HelperOutcome::Return(at.map_or(0, |at| mem_addr + at as u64))
            }
            helper::XDP_GET_BUFF_LEN => match self.xdp_span(args[0], memory) {
                Some((_, len)) => HelperOutcome::Return(len),
                None => oob(args[0], self.kind.block_size(), false),
            },
            helper::XDP_LOAD_BYTES | helper::XDP_STORE_BYTES => {
                self.xdp_bytes(id == helper::XDP_STORE_BYTES, args, memory)
            }
            helper::SKB_LOAD_BYTES_RELATIVE => self.skb_load_bytes_relative(args, memory),
            helper::SKB_VLAN_PUSH => self.vlan_push(args, memory),
            helper::SKB_VLAN_POP => self.vlan_pop(args[0], memory),
            helper::SKB_CHANGE_TAIL => self.change_tail(args, memory),
            helper::SKB_CHANGE_HEAD => self.change_head(args, memory),
            helper::SKB_ADJUST_ROOM => self.adjust_room(args, memory),
            helper::SKB_CHANGE_PROTO => self.change_proto(args, memory),
            helper::SKB_CHANGE_TYPE => self.change_type(args, memory),
            helper::SKB_PULL_DATA => {
                // Every byte is linear here: pulling succeeds unless more
                // is asked for than the packet has (the kernel's
                // pskb_may_pull).
                let Some((_, len)) = self.packet_span(args[0], memory) else {
                    return oob(args[0], self.kind.block_size(), false);
                };
                errno(if args[1] as u32 as u64 > len {
                    -ENOMEM
                } else {
                    0
                })
            }
            helper::CSUM_UPDATE => {
                // Only a CHECKSUM_COMPLETE socket buffer has a checksum to
                // update; a test run's is CHECKSUM_NONE or _UNNECESSARY.
                errno(-ENOTSUPP)
            }
            helper::CSUM_LEVEL => self.csum_level(args[1]),
            helper::SET_HASH | helper::SET_HASH_INVALID => {
                let hash = if id == helper::SET_HASH {
                    args[1] as u32
                } else {
                    0
                };
                match memory.bytes(args[0], self.kind.block_size()) {
                    Some(block) => {
                        block[sk_buff::HASH..sk_buff::HASH + 4]
                            .copy_from_slice(&hash.to_le_bytes());
                        errno(0)
                    }
                    None => oob(args[0], self.kind.block_size(), true),
                }
            }
            helper::TRACE_PRINTK => self.trace_printk(args, memory),
            helper::GET_PRANDOM_U32 => {
                HelperOutcome::Return(u64::from(self.rng.borrow_mut().next_u32()))
            }
            helper::GET_SMP_PROCESSOR_ID => HelperOutcome::Return(0),
            helper::REDIRECT if self.kind == ContextKind::Xdp => {
                if args[1] != 0 {
                    return HelperOutcome::Return(xdp_action::ABORTED.into());
                }
                self.redirect
                    .set(Some(RedirectTo::Interface(args[0] as u32)));
                HelperOutcome::Return(xdp_action::REDIRECT.into())
            }
            helper::REDIRECT => {
                // Only BPF_F_INGRESS (1) is a flag TC may give.
                if args[1] & !1 != 0 {
                    return HelperOutcome::Return(tc_action::SHOT.into());
                }
                self.redirect
                    .set(Some(RedirectTo::Interface(args[0] as u32)));
                HelperOutcome::Return(tc_action::REDIRECT.into())
            }
            helper::REDIRECT_MAP => self.redirect_map(args, memory),
            helper::PERF_EVENT_OUTPUT => self.perf_event_output(args, memory),
            helper::SKB_LOAD_BYTES => self.skb_load_bytes(args, memory),
            helper::TAIL_CALL => self.tail_call(args, memory),
            helper::RINGBUF_OUTPUT
            | helper::RINGBUF_RESERVE
            | helper::RINGBUF_SUBMIT
            | helper::RINGBUF_DISCARD
            | helper::RINGBUF_QUERY => self.ringbuf(id, args, memory),
            helper::CSUM_DIFF => csum_diff(args, memory),
            helper::SKB_STORE_BYTES => self.skb_store_bytes(args, memory),
            helper::L3_CSUM_REPLACE | helper::L4_CSUM_REPLACE => {
                self.csum_replace(id == helper::L4_CSUM_REPLACE, args, memory)
            }
            helper::XDP_ADJUST_HEAD | helper::XDP_ADJUST_META | helper::XDP_ADJUST_TAIL => {
                self.adjust(id, args, memory)
            }
            _ => HelperOutcome::Unknown,
        }
    }
}

impl PacketEnv<'_> {
    /// What the `ktime_get*_ns` helpers return.
    fn now(&self) -> u64 {
        match self.options.clock {
            Clock::Monotonic => self.started.elapsed().as_nanos() as u64,
            Clock::Fixed { start, step } => {
                let n = self.ticks.get();
                self.ticks.set(n + 1);
                start.wrapping_add(step.wrapping_mul(n))
            }
        }
    }

    /// `bpf_xdp_load_bytes(ctx, offset, buf, len)` and `_store_bytes`
    /// on a frame without fragments: -EFAULT for an offset or length over
    /// 0xffff, -EINVAL past the frame's end (the buffer is then left as
    /// it was), else 0 and the bytes copied.
    fn xdp_bytes(
        &self,
        store: bool,
        args: [u64; 5],
        memory: &mut HelperMemory<'_>,
    ) -> HelperOutcome {
        let (offset, buf, len) = (args[1] as u32 as u64, args[2], args[3] as u32 as u64);
        let Some((data, size)) = self.xdp_span(args[0], memory) else {
            return oob(args[0], self.kind.block_size(), false);
        };
        if offset > 0xffff || len > 0xffff {
            return errno(-EFAULT);
        }
        if offset + len > size {
            return errno(-EINVAL);
        }
        let (len, at) = (len as usize, data + offset);
        let Some(bytes) = memory
            .bytes(if store { buf } else { at }, len)
            .map(|b| b.to_vec())
        else {
            return oob(if store { buf } else { at }, len, false);
        };
        match memory.bytes(if store { at } else { buf }, len) {
            Some(dest) => {
                dest.copy_from_slice(&bytes);
                errno(0)
            }
            None => oob(if store { at } else { buf }, len, true),
        }
    }

    /// `bpf_skb_load_bytes_relative(skb, offset, to, len, start)`: from the
    /// link-layer header (`BPF_HDR_START_MAC`, 0) or the network header
    /// (`BPF_HDR_START_NET`, 1, 14 bytes in); -EFAULT and a cleared buffer
    /// for another start, an offset over 0xffff or bytes past the end.
    fn skb_load_bytes_relative(
        &self,
        args: [u64; 5],
        memory: &mut HelperMemory<'_>,
    ) -> HelperOutcome {
        let (offset, to, len, start) = (args[1] as u32, args[2], args[3] as u32 as usize, args[4]);
        // From the link-layer header: a socket filter's data starts after it.
        let frame = match self.kind {
            ContextKind::Socket => self.frame.to_vec(),
            _ => match self.skb_data(args[0], memory) {
                Ok(bytes) => bytes,
                Err(fault) => return fault,
            },
        };
        let header = match start as u32 {
            0 => Some(0),
            1 => Some(self.network_offset.get() as usize),
            _ => None,
        };
        let at = header
            .filter(|_| offset <= 0xffff)
            .map(|h| h + offset as usize);
        copy_or_clear(&frame, at, to, len, memory)
    }

    /// The packet from `skb->data` (`data .. data_end` of the context at
    /// `ctx`; a socket filter's, after the Ethernet header), as the skb
    /// helpers read it.
    fn skb_data(&self, ctx: u64, memory: &mut HelperMemory<'_>) -> Result<Vec<u8>, HelperOutcome> {
        if self.kind == ContextKind::Socket {
            return Ok(memory.packet().to_vec());
        }
        // (An XDP frame's fragments too, as `bpf_xdp_copy` reads them.)
        let Some((data, len)) = self.xdp_span(ctx, memory) else {
            return Err(oob(ctx, self.kind.block_size(), false));
        };
        Ok(memory
            .bytes(data, len as usize)
            .map_or_else(Vec::new, |b| b.to_vec()))
    }

    /// A u32 field of the context block at `ctx`.
    fn field(&self, ctx: u64, at: usize, memory: &mut HelperMemory<'_>) -> Option<u32> {
        let block = memory.bytes(ctx, self.kind.block_size())?;
        Some(u32::from_le_bytes(block[at..at + 4].try_into().ok()?))
    }

    /// Sets a u32 field of the context block at `ctx`.
    fn set_field(&self, ctx: u64, at: usize, value: u32, memory: &mut HelperMemory<'_>) {
        if let Some(block) = memory.bytes(ctx, self.kind.block_size()) {
            block[at..at + 4].copy_from_slice(&value.to_le_bytes());
        }
    }

    /// Sets (or, with `None`, clears) the socket buffer's out-of-band
    /// VLAN tag, as `__sk_buff`'s `vlan_present`, `vlan_tci` and
    /// `vlan_proto` show it.
    fn set_hw_tag(&self, ctx: u64, tag: Option<(u16, u16)>, memory: &mut HelperMemory<'_>) {
        let (present, proto, tci) = tag.map_or((0, 0, 0), |(p, t)| (1, p, t));
        self.set_field(ctx, sk_buff::VLAN_PRESENT, present, memory);
        self.set_field(ctx, sk_buff::VLAN_PROTO, u32::from(proto), memory);
        self.set_field(ctx, sk_buff::VLAN_TCI, u32::from(tci), memory);
    }

    /// The out-of-band VLAN tag: (protocol as `__be16`, TCI).
    fn hw_tag(&self, ctx: u64, memory: &mut HelperMemory<'_>) -> Option<(u16, u16)> {
        if self.field(ctx, sk_buff::VLAN_PRESENT, memory)? == 0 {
            return None;
        }
        let proto = self.field(ctx, sk_buff::VLAN_PROTO, memory)? as u16;
        let tci = self.field(ctx, sk_buff::VLAN_TCI, memory)? as u16;
        Some((proto, tci))
    }

    /// `bpf_skb_vlan_push(skb, proto, tci)` as the kernel's
    /// `skb_vlan_push`: a protocol other than 802.1Q or 802.1ad counts as
    /// 802.1Q; the new tag goes out of band, and a tag already there is
    /// first written into the frame after the MAC addresses (the frame
    /// grows into the headroom, `protocol` becomes that tag's).
    fn vlan_push(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let ctx = args[0];
        let proto = match args[1] as u16 {
            p @ (VLAN_8021Q | VLAN_8021AD) => p,
            _ => VLAN_8021Q,
        };
        let Some([data, end, _]) = self.pointers(ctx, memory) else {
            return oob(ctx, self.kind.block_size(), true);
        };
        if let Some((old_proto, old_tci)) = self.hw_tag(ctx, memory) {
            let new = data - 4;
            if new < self.frame_start + XDP_FRAME_SIZE as u64 {
                // The kernel would reallocate the headroom; this frame's
                // 256 bytes are used up (64 tags pushed in one run).
                return errno(-ENOMEM);
            }
            let (mem, at) = memory.mem();
            let (from, to) = ((data - at) as usize, (new - at) as usize);
            mem.copy_within(from..from + 12, to);
            mem[to + 12..to + 14].copy_from_slice(&old_proto.to_ne_bytes());
            mem[to + 14..to + 16].copy_from_slice(&old_tci.to_be_bytes());
            self.headroom_touched.set(true);
            self.set_pointer(ctx, memory, self.kind.data(), new);
            self.set_field(ctx, sk_buff::LEN, (end - new) as u32, memory);
            self.set_field(ctx, sk_buff::PROTOCOL, u32::from(old_proto), memory);
        }
        self.set_hw_tag(ctx, Some((proto, args[2] as u16)), memory);
        errno(0)
    }

    /// `bpf_skb_vlan_pop(skb)` as the kernel's `skb_vlan_pop`: the
    /// out-of-band tag is dropped, or else the frame's own (when
    /// `protocol` is a VLAN type; -ENOMEM in a frame shorter than a tagged
    /// header); then a tag the frame still carries moves out of band.
    fn vlan_pop(&self, ctx: u64, memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let is_vlan = |p: u32| matches!(p as u16, VLAN_8021Q | VLAN_8021AD);
        if self.pointers(ctx, memory).is_none() {
            return oob(ctx, self.kind.block_size(), true);
        }
        let protocol = |env: &Self, memory: &mut HelperMemory<'_>| {
            env.field(ctx, sk_buff::PROTOCOL, memory).unwrap_or(0)
        };
        if self.hw_tag(ctx, memory).is_some() {
            self.set_hw_tag(ctx, None, memory);
        } else {
            if !is_vlan(protocol(self, memory)) {
                return errno(0);
            }
            if let Err(e) = self.pop_inline_tag(ctx, memory) {
                return errno(e);
            }
        }
        let outer = protocol(self, memory);
        if !is_vlan(outer) {
            return errno(0);
        }
        match self.pop_inline_tag(ctx, memory) {
            Ok(tci) => {
                self.set_hw_tag(ctx, Some((outer as u16, tci)), memory);
                errno(0)
            }
            Err(e) => errno(e),
        }
    }

    /// The kernel's `__skb_vlan_pop`: removes the tag after the MAC
    /// addresses (the frame shrinks from the front), sets `protocol` from
    /// the encapsulated type, and gives the tag's TCI.
    fn pop_inline_tag(&self, ctx: u64, memory: &mut HelperMemory<'_>) -> Result<u16, i64> {
        let Some([data, end, _]) = self.pointers(ctx, memory) else {
            return Err(-EFAULT);
        };
        if end - data < 18 {
            return Err(-ENOMEM);
        }
        let (mem, at) = memory.mem();
        let from = (data - at) as usize;
        let tci = u16::from_be_bytes([mem[from + 14], mem[from + 15]]);
        let inner = [mem[from + 16], mem[from + 17]];
        let after = [mem[from + 18], mem[from + 19]];
        mem.copy_within(from..from + 12, from + 4);
        let protocol = encapsulated_protocol(inner, after);
        // The network header stays; no closer than 14 bytes to the start.
        let offset = self.network_offset.get().saturating_sub(4).max(ETH_HLEN);
        self.network_offset.set(offset);
        self.set_pointer(ctx, memory, self.kind.data(), data + 4);
        self.set_field(ctx, sk_buff::LEN, (end - data - 4) as u32, memory);
        self.set_field(ctx, sk_buff::PROTOCOL, u32::from(protocol), memory);
        Ok(tci)
    }

    /// `bpf_skb_change_tail(skb, new_len, flags)`: -EINVAL for flags, a
    /// length under the network header's offset (14, more after
    /// `skb_change_head`) or over 16,064 bytes (`SKB_MAX_ALLOC`); else
    /// the packet trimmed, or grown with zeros, to `new_len` bytes.
    fn change_tail(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let (ctx, new_len, flags) = (args[0], args[1] as u32 as u64, args[2]);
        let Some([data, end, _]) = self.pointers(ctx, memory) else {
            return oob(ctx, self.kind.block_size(), true);
        };
        // (The kernel's minimum is the network header's offset, or the
        // transport header's once set.)
        let min_len = self
            .transport_offset
            .get()
            .unwrap_or(self.network_offset.get());
        if flags != 0 || !(min_len..=SKB_MAX_LEN).contains(&new_len) {
            return errno(-EINVAL);
        }
        if self.encapsulated.get() {
            return errno(-ENOTSUPP);
        }
        let new_end = data + new_len;
        if new_len > MAX_PACKET as u64 || new_end > self.frame_start + FRAME_SIZE as u64 {
            return errno(-ENOMEM);
        }
        if new_end > end {
            let (mem, at) = memory.mem();
            mem[(end - at) as usize..(new_end - at) as usize].fill(0);
        }
        self.set_pointer(ctx, memory, self.kind.data_end(), new_end);
        self.set_field(ctx, sk_buff::LEN, new_len as u32, memory);
        errno(0)
    }

    /// `bpf_skb_change_head(skb, head_room, flags)`: -EINVAL for flags or
    /// a length over 16,064 bytes; else `head_room` zero bytes
    /// before the packet (the packet moved further into the frame when
    /// the headroom is too small, as the kernel reallocates it).
    fn change_head(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let (ctx, room, flags) = (args[0], args[1] as u32 as u64, args[2]);
        let Some([data, end, _]) = self.pointers(ctx, memory) else {
            return oob(ctx, self.kind.block_size(), true);
        };
        let len = end - data;
        let new_len = (len + room) as u32 as u64;
        if flags != 0 || new_len > SKB_MAX_LEN || new_len < len {
            return errno(-EINVAL);
        }
        if new_len > MAX_PACKET as u64 {
            return errno(-ENOMEM);
        }
        let (data, end) = match (data - self.frame_start).checked_sub(room) {
            Some(_) => (data, end),
            None => {
                // Move the packet up to leave `room` bytes before it.
                let shift = room - (data - self.frame_start);
                let (mem, at) = memory.mem();
                let from = (data - at) as usize;
                mem.copy_within(from..from + len as usize, from + shift as usize);
                (data + shift, end + shift)
            }
        };
        let new = data - room;
        let (mem, at) = memory.mem();
        mem[(new - at) as usize..(data - at) as usize].fill(0);
        self.headroom_touched.set(true);
        self.network_offset.set(self.network_offset.get() + room);
        self.set_pointer(ctx, memory, self.kind.data(), new);
        self.set_pointer(ctx, memory, self.kind.data_end(), end);
        self.set_field(ctx, sk_buff::LEN, new_len as u32, memory);
        errno(0)
    }

    /// `bpf_skb_adjust_room(skb, len_diff, mode, flags)` as the kernel's
    /// (a linear buffer without GSO): room added or removed after the
    /// MAC header (`BPF_ADJ_ROOM_MAC`) or after the fixed IPv4/IPv6
    /// header (`BPF_ADJ_ROOM_NET`), new bytes zero, with the kernel's
    /// checks in its order and the encapsulation flags' effects on
    /// `protocol`, the headers and later calls.
    fn adjust_room(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        const FIXED_GSO: u64 = 1;
        const ENCAP_L3_IPV4: u64 = 1 << 1;
        const ENCAP_L3_IPV6: u64 = 1 << 2;
        const ENCAP_L4_GRE: u64 = 1 << 3;
        const ENCAP_L4_UDP: u64 = 1 << 4;
        const NO_CSUM_RESET: u64 = 1 << 5;
        const ENCAP_L2_ETH: u64 = 1 << 6;
        const DECAP_L3_IPV4: u64 = 1 << 7;
        const DECAP_L3_IPV6: u64 = 1 << 8;
        const ENCAP_L2_LEN: u64 = 0xff << 56;
        const ENCAP_L3: u64 = ENCAP_L3_IPV4 | ENCAP_L3_IPV6;
        const DECAP_L3: u64 = DECAP_L3_IPV4 | DECAP_L3_IPV6;
        const KNOWN: u64 = FIXED_GSO
            | ENCAP_L3
            | ENCAP_L4_GRE
            | ENCAP_L4_UDP
            | ENCAP_L2_ETH
            | ENCAP_L2_LEN
            | DECAP_L3
            | NO_CSUM_RESET;
        let (ctx, diff, mode, flags) = (args[0], args[1] as i32, args[2] as u32, args[3]);
        let Some([data, end, _]) = self.pointers(ctx, memory) else {
            return oob(ctx, self.kind.block_size(), true);
        };
        let protocol = self.field(ctx, sk_buff::PROTOCOL, memory).unwrap_or(0) as u16;
        let ipv4 = u16::from_ne_bytes(0x0800u16.to_be_bytes());
        let ipv6 = u16::from_ne_bytes(0x86ddu16.to_be_bytes());
        let base_len = match protocol {
            p if p == ipv4 => 20,
            p if p == ipv6 => 40,
            _ => u64::from(u32::MAX),
        };
        let (shrink, abs) = (diff < 0, u64::from(diff.unsigned_abs()));
        if flags & !KNOWN != 0 {
            return errno(-EINVAL);
        }
        if abs > 0xfff {
            return errno(-EFAULT);
        }
        if protocol != ipv4 && protocol != ipv6 {
            return errno(-ENOTSUPP);
        }
        let net = self.network_offset.get();
        let off = match mode {
            0 => net + base_len,
            1 => net,
            _ => return errno(-ENOTSUPP),
        };
        let len = end - data;
        let cur = len.saturating_sub(net);
        // Decapsulating, what remains must hold the new network header
        // (found against the kernel: IPv6 after 20 of 40 bytes is
        // -ENOTSUPP).
        let min = match flags {
            f if shrink && f & DECAP_L3_IPV4 != 0 => 20,
            f if shrink && f & DECAP_L3_IPV6 != 0 => 40,
            _ => base_len,
        };
        if (shrink && (abs >= cur || cur - abs < min)) || (!shrink && len + abs > SKB_MAX_LEN) {
            return errno(-ENOTSUPP);
        }
        if shrink {
            if flags & !(FIXED_GSO | DECAP_L3 | NO_CSUM_RESET) != 0 || flags & DECAP_L3 == DECAP_L3
            {
                return errno(-EINVAL);
            }
            if off + abs > len {
                return errno(-ENOMEM);
            }
            self.move_head(ctx, [data, end], off, -(abs as i64), memory);
            if flags & DECAP_L3 != 0 {
                let to = if flags & DECAP_L3_IPV4 != 0 {
                    ipv4
                } else {
                    ipv6
                };
                self.set_field(ctx, sk_buff::PROTOCOL, u32::from(to), memory);
            }
        } else {
            let encap = flags & ENCAP_L3 != 0;
            let inner_mac_len = flags >> 56;
            if flags & DECAP_L3 != 0 {
                return errno(-EINVAL);
            }
            if data - self.frame_start < abs {
                // The headroom is used up (the kernel would reallocate).
                return errno(-ENOMEM);
            }
            if encap {
                if flags & ENCAP_L3 == ENCAP_L3
                    || flags & (ENCAP_L4_GRE | ENCAP_L4_UDP) == ENCAP_L4_GRE | ENCAP_L4_UDP
                    || (flags & ENCAP_L2_ETH != 0 && inner_mac_len < ETH_HLEN)
                {
                    return errno(-EINVAL);
                }
                if self.encapsulated.get() {
                    return errno(-EALREADY);
                }
                if inner_mac_len > abs {
                    return errno(-EINVAL);
                }
            }
            self.move_head(ctx, [data, end], off, abs as i64, memory);
            if encap {
                self.encapsulated.set(true);
                if flags & (ENCAP_L4_GRE | ENCAP_L4_UDP) != 0 {
                    let nh = if flags & ENCAP_L3_IPV6 != 0 { 40 } else { 20 };
                    self.transport_offset.set(Some(net + nh));
                }
                let outer = match protocol {
                    p if p == ipv4 && flags & ENCAP_L3_IPV6 != 0 => ipv6,
                    p if p == ipv6 && flags & ENCAP_L3_IPV4 != 0 => ipv4,
                    p => p,
                };
                self.set_field(ctx, sk_buff::PROTOCOL, u32::from(outer), memory);
            }
        }
        if flags & NO_CSUM_RESET == 0 {
            self.csum_unnecessary.set(None);
        }
        errno(0)
    }

    /// Room made (`diff` > 0, zeroed) or removed after the first `off`
    /// bytes of the packet, those bytes moving with `data`, as the
    /// kernel's `bpf_skb_generic_push`/`_pop` (the headers' offsets from
    /// `data` stay); `data` and `len` follow. The caller checked that the
    /// headroom or the packet has the bytes.
    fn move_head(
        &self,
        ctx: u64,
        [data, end]: [u64; 2],
        off: u64,
        diff: i64,
        memory: &mut HelperMemory<'_>,
    ) {
        let new_data = data.wrapping_sub(diff as u64);
        let (mem, at) = memory.mem();
        let (from, to, off) = ((data - at) as usize, (new_data - at) as usize, off as usize);
        mem.copy_within(from..from + off, to);
        if diff > 0 {
            mem[to + off..to + off + diff as usize].fill(0);
            self.headroom_touched.set(true);
        }
        self.set_pointer(ctx, memory, self.kind.data(), new_data);
        self.set_field(ctx, sk_buff::LEN, (end - new_data) as u32, memory);
    }

    /// `bpf_skb_change_proto(skb, proto, flags)` as the kernel's
    /// `bpf_skb_proto_xlat`: IPv4 to IPv6 makes 20 zero bytes of room after
    /// the MAC header, IPv6 to IPv4 removes 20 (-ENOMEM in a shorter
    /// frame); `protocol` becomes the new one and the hash is cleared;
    /// -EINVAL for flags, -ENOTSUPP for any other change.
    fn change_proto(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        const DIFF: u64 = 40 - 20;
        let (ctx, to, flags) = (args[0], args[1] as u16, args[2]);
        if flags != 0 {
            return errno(-EINVAL);
        }
        let Some([data, end, _]) = self.pointers(ctx, memory) else {
            return oob(ctx, self.kind.block_size(), true);
        };
        let from = self.field(ctx, sk_buff::PROTOCOL, memory).unwrap_or(0) as u16;
        let ipv4 = u16::from_ne_bytes(0x0800u16.to_be_bytes());
        let ipv6 = u16::from_ne_bytes(0x86ddu16.to_be_bytes());
        let off = self.network_offset.get();
        if from == ipv4 && to == ipv6 {
            if data - self.frame_start < DIFF {
                return errno(-ENOMEM);
            }
            self.move_head(ctx, [data, end], off, DIFF as i64, memory);
        } else if from == ipv6 && to == ipv4 {
            if off + DIFF > end - data {
                return errno(-ENOMEM);
            }
            self.move_head(ctx, [data, end], off, -(DIFF as i64), memory);
        } else {
            return errno(-ENOTSUPP);
        }
        self.set_field(ctx, sk_buff::PROTOCOL, u32::from(to), memory);
        self.set_field(ctx, sk_buff::HASH, 0, memory);
        errno(0)
    }

    /// `bpf_skb_change_type(skb, type)`: the packet type, when it and the
    /// new one are host, broadcast, multicast or other-host (0-3); else
    /// -EINVAL.
    fn change_type(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let (ctx, to) = (args[0], args[1] as u32);
        let Some(now) = self.field(ctx, sk_buff::PKT_TYPE, memory) else {
            return oob(ctx, self.kind.block_size(), true);
        };
        if now > 3 || to > 3 {
            return errno(-EINVAL);
        }
        self.set_field(ctx, sk_buff::PKT_TYPE, to, memory);
        errno(0)
    }

    /// `bpf_check_mtu(ctx, ifindex, mtu_len, len_diff, flags)` against the
    /// device a test run has, loopback (ifindex 0 or its own; MTU 65,536,
    /// a 14-byte header; any other ifindex is -ENODEV here): the frame's
    /// length (or `*mtu_len` plus the header, when set) plus `len_diff`
    /// over MTU plus header, in 32-bit signed arithmetic, is
    /// `BPF_MTU_CHK_RET_FRAG_NEEDED` (1), else 0;
    /// `*mtu_len` becomes the MTU (failures leave it: checked against the
    /// kernel). XDP takes no flags; TC only `BPF_MTU_CHK_SEGS` (1), and
    /// that without a length.
    fn check_mtu(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        const MTU: u64 = 65_536;
        const FRAG_NEEDED: u64 = 1;
        const SEGS: u64 = 1;
        let (ctx, ifindex, at, diff, flags) = (
            args[0],
            args[1] as u32,
            args[2],
            args[3] as i32 as i64,
            args[4],
        );
        let Some(bytes) = memory.bytes(at, 4) else {
            return oob(at, 4, true);
        };
        let given = u64::from(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]));
        let xdp = self.kind == ContextKind::Xdp;
        let known = ifindex == 0 || ifindex == self.options.ingress_ifindex;
        let bad_flags = if xdp {
            flags != 0
        } else {
            flags & !SEGS != 0 || (flags & SEGS != 0 && (diff != 0 || given != 0))
        };
        let failure = if bad_flags {
            Some(-EINVAL)
        } else if !known {
            Some(-ENODEV)
        } else {
            None
        };
        if let Some(e) = failure {
            return errno(e);
        }
        let Some((_, len)) = self.packet_span(ctx, memory) else {
            return oob(ctx, self.kind.block_size(), false);
        };
        // (In C `int`s, as the kernel computes them: `*mtu_len` near
        // 2^31 wraps below the device's length and passes.)
        let len = if given != 0 {
            (given as u32).wrapping_add(ETH_HLEN as u32) as i32
        } else {
            len as i32
        };
        let verdict = if len.wrapping_add(diff as i32) > (MTU + ETH_HLEN) as i32 {
            FRAG_NEEDED
        } else {
            0
        };
        if let Some(bytes) = memory.bytes(at, 4) {
            bytes.copy_from_slice(&(MTU as u32).to_le_bytes());
        }
        HelperOutcome::Return(verdict)
    }

    /// `bpf_csum_level(skb, op)` on the socket buffer's checksum state
    /// (a test run's starts as CHECKSUM_NONE): `BPF_CSUM_LEVEL_QUERY` (0)
    /// gives the level of a CHECKSUM_UNNECESSARY buffer, else -EACCES;
    /// `_INC` (1), `_DEC` (2) and `_RESET` (3) move it as the kernel's
    /// `__skb_{incr,decr,reset}_checksum_unnecessary`; others -EINVAL.
    fn csum_level(&self, op: u64) -> HelperOutcome {
        const MAX_LEVEL: u8 = 3;
        let level = self.csum_unnecessary.get();
        match op {
            0 => return level.map_or(errno(-EACCES), |l| HelperOutcome::Return(u64::from(l))),
            1 => self
                .csum_unnecessary
                .set(Some(level.map_or(0, |l| (l + 1).min(MAX_LEVEL)))),
            2 => self
                .csum_unnecessary
                .set(level.and_then(|l| l.checked_sub(1))),
            3 => self.csum_unnecessary.set(None),
            _ => return errno(-EINVAL),
        }
        errno(0)
    }

    fn map_call(&self, id: u32, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let mut maps = self.maps.borrow_mut();
        let Some(map) = map_index(args[0]).filter(|&m| m < maps.len()) else {
            // The kernel's verifier refuses a call without a map pointer.
            return errno(-EINVAL);
        };
        let (key_size, value_size) = maps.sizes(map).unwrap_or((0, 0));
        let (_, mem_addr) = memory.mem();
        if id == helper::MAP_LOOKUP_ELEM {
            // The hot path: no copy of the key.
            let Some(key) = memory.bytes(args[1], key_size) else {
                return oob(args[1], key_size, false);
            };
            let found = maps.lookup(map, key);
            if maps.kind(map).is_some_and(MapKind::holds_maps) {
                // A map of maps gives the inner map itself.
                let (mem, _) = memory.mem();
                let inner = found.and_then(|at| mem.get(at..at + 4));
                let inner = inner.map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
                return HelperOutcome::Return(inner.map_or(0, map_handle));
            }
            return HelperOutcome::Return(found.map_or(0, |off| mem_addr + off as u64));
        }
        let key = match memory.bytes(args[1], key_size) {
            Some(k) => k.to_vec(),
            None => return oob(args[1], key_size, false),
        };
        match id {
            helper::MAP_UPDATE_ELEM => {
                let value = match memory.bytes(args[2], value_size) {
                    Some(v) => v.to_vec(),
                    None => return oob(args[2], value_size, false),
                };
                let (mem, _) = memory.mem();
                errno(maps.update(mem, map, &key, &value, args[3]))
            }
            _ => errno(maps.delete(map, &key)),
        }
    }

    /// `xdp_adjust_head`, `_meta` and `_tail` on the context block at r1.
    fn adjust(&self, id: u32, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        if id != helper::XDP_ADJUST_TAIL {
            self.headroom_touched.set(true);
        }
        let delta = args[1] as i32 as i64;
        let kind = self.kind;
        let Some([data, end, meta]) = self.pointers(args[0], memory) else {
            return oob(args[0], kind.block_size(), true);
        };
        let floor = self.frame_start + XDP_FRAME_SIZE as u64;
        let moved = |v: u64| v.wrapping_add(delta as u64);
        match id {
            helper::XDP_ADJUST_HEAD => {
                let new = moved(data);
                let metalen = data - meta;
                if new < floor + metalen || new > end.saturating_sub(ETH_HLEN) {
                    return errno(-EINVAL);
                }
                let new_meta = moved(meta);
                if metalen > 0 {
                    let (mem, at) = memory.mem();
                    let (from, to) = ((meta - at) as usize, (new_meta - at) as usize);
                    mem.copy_within(from..from + metalen as usize, to);
                }
                self.set_pointer(args[0], memory, kind.data(), new);
                self.set_pointer(args[0], memory, kind.data_meta(), new_meta);
            }
            helper::XDP_ADJUST_META => {
                let new = moved(meta);
                if new < floor || new > data {
                    return errno(-EINVAL);
                }
                let metalen = data - new;
                if metalen % 4 != 0 || metalen > 32 {
                    return errno(-EACCES);
                }
                self.set_pointer(args[0], memory, kind.data_meta(), new);
            }
            _ if !self.frags.borrow().is_empty() => {
                return self.adjust_frags(args[0], delta, [data, end], memory);
            }
            _ => {
                let new = moved(end);
                if new > self.frame_end || new < data + ETH_HLEN {
                    return errno(-EINVAL);
                }
                if new > end {
                    // Grown tail bytes read as zero, as the kernel clears them.
                    let (mem, at) = memory.mem();
                    mem[(end - at) as usize..(new - at) as usize].fill(0);
                }
                self.set_pointer(args[0], memory, kind.data_end(), new);
            }
        }
        errno(0)
    }

    /// `xdp_adjust_tail` on a frame with fragments, as the kernel's
    /// `bpf_xdp_frags_shrink_tail` and `_increase_tail`: shrinking takes
    /// bytes from the last fragments (-EINVAL for more than the frame less
    /// 14 bytes), and from the linear part once none is left; growing
    /// extends the last fragment with zeros up to its page (-EINVAL past
    /// it).
    fn adjust_frags(
        &self,
        ctx: u64,
        delta: i64,
        [data, end]: [u64; 2],
        memory: &mut HelperMemory<'_>,
    ) -> HelperOutcome {
        let mut frags = self.frags.borrow_mut();
        let frag_bytes: u64 = frags.iter().sum();
        let linear = end - data;
        if delta < 0 {
            let mut shrink = delta.unsigned_abs();
            if shrink > (linear + frag_bytes).saturating_sub(ETH_HLEN) {
                return errno(-EINVAL);
            }
            while shrink > 0 {
                let Some(last) = frags.last_mut() else { break };
                let take = shrink.min(*last);
                *last -= take;
                shrink -= take;
                if *last == 0 {
                    frags.pop();
                } else {
                    break;
                }
            }
            if frags.is_empty() {
                self.set_pointer(ctx, memory, self.kind.data_end(), end - shrink);
            }
            return errno(0);
        }
        let grow = delta as u64;
        let last = frags.last().copied().unwrap_or(0);
        if grow > PAGE as u64 - last {
            return errno(-EINVAL);
        }
        let (mem, at) = memory.mem();
        let tail = (end + frag_bytes - at) as usize;
        mem[tail..tail + grow as usize].fill(0);
        if let Some(last) = frags.last_mut() {
            *last += grow;
        }
        errno(0)
    }

    /// The ring buffer helpers: `output` (0, or -EAGAIN without room),
    /// `reserve` (a sample pointer or NULL), `submit` and `discard`,
    /// `query`.
    fn ringbuf(&self, id: u32, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let mut maps = self.maps.borrow_mut();
        let (_, mem_addr) = memory.mem();
        let ring = |maps: &MapSet, handle: u64| {
            map_index(handle).filter(|&m| maps.kind(m) == Some(MapKind::RingBuf))
        };
        match id {
            helper::RINGBUF_SUBMIT | helper::RINGBUF_DISCARD => {
                let at = args[0].wrapping_sub(mem_addr) as usize;
                let (mem, _) = memory.mem();
                if !maps.ring_commit(mem, at, id == helper::RINGBUF_DISCARD) {
                    // The kernel's verifier allows only a reserved sample here.
                    return oob(args[0], 1, true);
                }
                HelperOutcome::Return(0)
            }
            helper::RINGBUF_QUERY => {
                let Some(map) = ring(&maps, args[0]) else {
                    return errno(-EINVAL);
                };
                HelperOutcome::Return(maps.ring_query(map, args[1]))
            }
            helper::RINGBUF_RESERVE => {
                let Some(map) = ring(&maps, args[0]) else {
                    return HelperOutcome::Return(0);
                };
                if args[2] != 0 {
                    return HelperOutcome::Return(0);
                }
                let at = maps.ring_reserve(map, args[1] as usize);
                HelperOutcome::Return(at.map_or(0, |at| mem_addr + at as u64))
            }
            _ => {
                let Some(map) = ring(&maps, args[0]) else {
                    return errno(-EINVAL);
                };
                // BPF_RB_NO_WAKEUP and BPF_RB_FORCE_WAKEUP only.
                if args[3] & !3 != 0 {
                    return errno(-EINVAL);
                }
                let size = args[2] as u32 as usize;
                let Some(data) = memory.bytes(args[1], size).map(|d| d.to_vec()) else {
                    return oob(args[1], size, false);
                };
                let Some(at) = maps.ring_reserve(map, size) else {
                    return errno(-EAGAIN);
                };
                let (mem, _) = memory.mem();
                mem[at..at + size].copy_from_slice(&data);
                maps.ring_commit(mem, at, false);
                HelperOutcome::Return(0)
            }
        }
    }

    /// `bpf_redirect_map(map, key, flags)` as the kernel's
    /// `__bpf_xdp_redirect_map`: flags other than the fallback action in
    /// the low two bits (and, for devmaps, `BPF_F_BROADCAST` and
    /// `BPF_F_EXCLUDE_INGRESS`) abort; a missing entry returns the fallback
    /// action and forgets any earlier redirect; otherwise the target is
    /// recorded and the result is `XDP_REDIRECT`.
    fn redirect_map(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        const ACTIONS: u64 = 3;
        const BROADCAST: u64 = 1 << 3;
        const EXCLUDE_INGRESS: u64 = 1 << 4;
        let mut maps = self.maps.borrow_mut();
        let kind = map_index(args[0]).and_then(|m| Some((m, maps.kind(m)?)));
        let Some((map, kind)) = kind.filter(|(_, k)| k.is_redirect_target()) else {
            // The kernel's verifier refuses any other map here.
            return HelperOutcome::Return(xdp_action::ABORTED.into());
        };
        let flags = args[2];
        let devmap = matches!(kind, MapKind::DevMap | MapKind::DevMapHash);
        let allowed = ACTIONS
            | if devmap {
                BROADCAST | EXCLUDE_INGRESS
            } else {
                0
            };
        if flags & !allowed != 0 {
            return HelperOutcome::Return(xdp_action::ABORTED.into());
        }
        let key = args[1] as u32;
        let found = maps.lookup(map, &key.to_le_bytes());
        if found.is_none() && flags & BROADCAST == 0 {
            self.redirect.set(None);
            return HelperOutcome::Return(flags & ACTIONS);
        }
        let target = match kind {
            _ if flags & BROADCAST != 0 => RedirectTo::Broadcast {
                map,
                exclude_ingress: flags & EXCLUDE_INGRESS != 0,
            },
            MapKind::CpuMap => RedirectTo::Cpu(key),
            MapKind::XskMap => RedirectTo::Socket { map, index: key },
            _ => {
                let (mem, _) = memory.mem();
                let at = found.unwrap_or(0);
                let ifindex = mem
                    .get(at..at + 4)
                    .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                RedirectTo::Interface(ifindex)
            }
        };
        self.redirect.set(Some(target));
        HelperOutcome::Return(xdp_action::REDIRECT.into())
    }

    /// `bpf_perf_event_output(ctx, map, flags, data, size)` as the kernel's
    /// XDP and skb forms, with a consumer's event on CPU 0 in slot 0 (the
    /// slot `BPF_F_CURRENT_CPU` names here): -EINVAL for unknown flags,
    /// -EFAULT when more packet bytes are asked for than the packet has,
    /// -E2BIG for a slot past the array, -ENOENT for another slot (no
    /// event there), else 0 and a record of the data and the packet bytes.
    fn perf_event_output(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        const INDEX_MASK: u64 = 0xffff_ffff;
        const CURRENT_CPU: u64 = INDEX_MASK;
        const CTXLEN_MASK: u64 = 0xf_ffff << 32;
        let [ctx, handle, flags, data, size] = args;
        if flags & !(INDEX_MASK | CTXLEN_MASK) != 0 {
            return errno(-EINVAL);
        }
        let packet = match self.skb_data(ctx, memory) {
            Ok(bytes) => bytes,
            Err(fault) => return fault,
        };
        let ctx_len = ((flags & CTXLEN_MASK) >> 32) as usize;
        if ctx_len > packet.len() {
            return errno(-EFAULT);
        }
        let mut maps = self.maps.borrow_mut();
        let Some(map) =
            map_index(handle).filter(|&m| maps.kind(m) == Some(MapKind::PerfEventArray))
        else {
            return errno(-EINVAL);
        };
        let index = match flags & INDEX_MASK {
            CURRENT_CPU => 0,
            i => i,
        };
        let slots = maps.defs().nth(map).map_or(0, |d| u64::from(d.max_entries));
        if index >= slots {
            return errno(-E2BIG);
        }
        if index != 0 {
            return errno(-ENOENT);
        }
        let size = size as usize;
        let Some(bytes) = memory.bytes(data, size) else {
            return oob(data, size, false);
        };
        let mut record = bytes.to_vec();
        record.extend_from_slice(&packet[..ctx_len]);
        maps.perf_output(map, record);
        errno(0)
    }

    /// `bpf_tail_call(ctx, prog_array, index)`: when the array holds a
    /// program at `index` and fewer than [`MAX_TAIL_CALLS`] were made, the
    /// current program ends and that one runs next (the run loop in
    /// [`PacketProgram::run`] starts it); otherwise the caller goes on.
    fn tail_call(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let mut maps = self.maps.borrow_mut();
        let Some(map) = map_index(args[1]).filter(|&m| maps.kind(m) == Some(MapKind::ProgArray))
        else {
            return errno(-EINVAL);
        };
        let index = (args[2] as u32).to_le_bytes();
        let Some(at) = maps.lookup(map, &index) else {
            return errno(-ENOENT);
        };
        let (mem, _) = memory.mem();
        let program = u32::from_le_bytes(mem[at..at + 4].try_into().unwrap_or([0xff; 4])) as usize;
        let callable = matches!(self.callable.get(program), Some(Some(_)));
        if !callable || self.tail_calls.get() >= MAX_TAIL_CALLS {
            return errno(-ENOENT);
        }
        self.tail_calls.set(self.tail_calls.get() + 1);
        self.tail_call.set(Some(program));
        HelperOutcome::Unwind
    }

    /// `data`, `data_end` and `data_meta` of the context block at `ctx`
    /// (the program's r1), or `None` when `ctx` is not one.
    fn pointers(&self, ctx: u64, memory: &mut HelperMemory<'_>) -> Option<[u64; 3]> {
        let kind = self.kind;
        let block = memory.bytes(ctx, kind.block_size())?;
        let get = |at: usize| u64::from_le_bytes(block[at..at + 8].try_into().unwrap_or([0; 8]));
        Some([
            get(kind.data()),
            get(kind.data_end()),
            get(kind.data_meta()),
        ])
    }

    /// Sets the packet pointer at block offset `at` of the context block
    /// at `ctx`; false when `ctx` is not one.
    fn set_pointer(&self, ctx: u64, memory: &mut HelperMemory<'_>, at: usize, value: u64) -> bool {
        match memory.bytes(ctx, self.kind.block_size()) {
            Some(block) => {
                block[at..at + 8].copy_from_slice(&value.to_le_bytes());
                true
            }
            None => false,
        }
    }

    /// An XDP frame's bytes, fragments included (`xdp_get_buff_len`): its
    /// run-memory address and length.
    fn xdp_span(&self, ctx: u64, memory: &mut HelperMemory<'_>) -> Option<(u64, u64)> {
        let (data, linear) = self.packet_span(ctx, memory)?;
        Some((data, linear + self.frags.borrow().iter().sum::<u64>()))
    }

    /// The packet (`data .. data_end` of the context block at `ctx`) as a
    /// run-memory address and length.
    fn packet_span(&self, ctx: u64, memory: &mut HelperMemory<'_>) -> Option<(u64, u64)> {
        let [data, end, _] = self.pointers(ctx, memory)?;
        Some((data, end.saturating_sub(data)))
    }

    /// `bpf_skb_store_bytes(skb, offset, from, len, flags)`: 0, -EFAULT
    /// when the bytes are not all in the packet, -EINVAL for unknown flags
    /// (`BPF_F_RECOMPUTE_CSUM` and `BPF_F_INVALIDATE_HASH` only; the
    /// checksum and hash they touch are not visible here).
    fn skb_store_bytes(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let (offset, from, len, flags) = (args[1], args[2], args[3] as u32 as usize, args[4]);
        if flags & !3 != 0 {
            return errno(-EINVAL);
        }
        let Some(bytes) = memory.bytes(from, len).map(|b| b.to_vec()) else {
            return oob(from, len, false);
        };
        let Some((data, packet_len)) = self.packet_span(args[0], memory) else {
            return oob(args[0], self.kind.block_size(), false);
        };
        if offset > 0xffff || offset + len as u64 > packet_len {
            return errno(-EFAULT);
        }
        match memory.bytes(data + offset, len) {
            Some(dest) => {
                dest.copy_from_slice(&bytes);
                errno(0)
            }
            None => errno(-EFAULT),
        }
    }

    /// `bpf_l3_csum_replace` and `bpf_l4_csum_replace(skb, offset, from,
    /// to, flags)`: the 16-bit checksum at `offset` updated for a field
    /// changing from `from` to `to` (2 or 4 bytes as the flags' low bits
    /// say; 0: `to` is a checksum difference), as the kernel's
    /// `csum_replace2/4` and `csum_replace_by_diff` do for a socket buffer
    /// without a hardware checksum (a test run's). L4 takes
    /// `BPF_F_MARK_MANGLED_0` (a zero checksum stays zero; a result of zero
    /// becomes 0xffff) and `BPF_F_PSEUDO_HDR`.
    fn csum_replace(
        &self,
        l4: bool,
        args: [u64; 5],
        memory: &mut HelperMemory<'_>,
    ) -> HelperOutcome {
        const PSEUDO_HDR: u64 = 0x10;
        const MARK_MANGLED_0: u64 = 0x20;
        const MARK_ENFORCE: u64 = 0x40;
        const IPV6: u64 = 0x80;
        let (offset, from, to, flags) = (args[1], args[2], args[3], args[4]);
        let allowed = 0xf
            | if l4 {
                PSEUDO_HDR | MARK_MANGLED_0 | MARK_ENFORCE | IPV6
            } else {
                0
            };
        if flags & !allowed != 0 {
            return errno(-EINVAL);
        }
        if offset > 0xffff || offset & 1 != 0 {
            return errno(-EFAULT);
        }
        let Some((data, packet_len)) = self.packet_span(args[0], memory) else {
            return oob(args[0], self.kind.block_size(), false);
        };
        if offset + 2 > packet_len {
            return errno(-EFAULT);
        }
        let Some(field) = memory.bytes(data + offset, 2) else {
            return errno(-EFAULT);
        };
        let old = u16::from_ne_bytes([field[0], field[1]]);
        let mmzero = l4 && flags & MARK_MANGLED_0 != 0;
        if mmzero && old == 0 {
            return errno(0);
        }
        // The kernel's one's-complement helpers, on the raw
        // (network-order) values as they lie in memory.
        let add32 = |a: u32, b: u32| {
            let r = a.wrapping_add(b);
            r.wrapping_add(u32::from(r < b))
        };
        let add16 = |a: u16, b: u16| {
            let r = a.wrapping_add(b);
            r.wrapping_add(u16::from(r < b))
        };
        let fold = |x: u32| {
            let x = (x & 0xffff) + (x >> 16);
            let x = (x & 0xffff) + (x >> 16);
            !(x as u16)
        };
        let unfolded = !u32::from(old);
        let new = match (flags & 0xf, l4) {
            // csum_replace_by_diff: `to` is a checksum difference.
            (0, _) if from != 0 => return errno(-EINVAL),
            (0, _) => fold(add32(to as u32, unfolded)),
            // csum_replace2 (l3) works in 16 bits; inet_proto_csum_replace2
            // (l4) is csum_replace4 on the zero-extended values.
            (2, false) => !add16(add16(!old, !(from as u16)), to as u16),
            (2, true) => fold(add32(
                add32(unfolded, !(from as u16 as u32)),
                to as u16 as u32,
            )),
            (4, _) => fold(add32(add32(unfolded, !(from as u32)), to as u32)),
            _ => return errno(-EINVAL),
        };
        let new = if mmzero && new == 0 { 0xffff } else { new };
        field.copy_from_slice(&new.to_ne_bytes());
        errno(0)
    }

    /// `bpf_skb_load_bytes(skb, offset, to, len)`: 0, or -EFAULT with `to`
    /// cleared when the bytes are not all in the packet.
    fn skb_load_bytes(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let (offset, to, len) = (args[1], args[2], args[3] as u32 as usize);
        let source = match self.skb_data(args[0], memory) {
            Ok(bytes) => bytes,
            Err(fault) => return fault,
        };
        let at = usize::try_from(offset).ok().filter(|&o| o <= 0xffff);
        copy_or_clear(&source, at, to, len, memory)
    }

    /// `bpf_trace_printk(fmt, fmt_size, a, b, c)`: the kernel's subset of
    /// printf (`%d %i %u %x %X %c %s %p %%` with `l`/`ll`); the number of
    /// bytes written, or -EINVAL for a bad format.
    fn trace_printk(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let size = args[1] as usize;
        let Some(fmt) = memory.bytes(args[0], size).map(|f| f.to_vec()) else {
            return oob(args[0], size, false);
        };
        let Some(end) = fmt.iter().position(|&b| b == 0) else {
            return errno(-EINVAL);
        };
        let fmt = &fmt[..end];
        let mut out = Vec::new();
        let mut values = args[2..].iter();
        let mut i = 0;
        while i < fmt.len() {
            if fmt[i] != b'%' {
                out.push(fmt[i]);
                i += 1;
                continue;
            }
            i += 1;
            let mut longs = 0;
            while fmt.get(i) == Some(&b'l') {
                longs += 1;
                i += 1;
            }
            let conv = fmt.get(i).copied();
            i += 1;
            if conv == Some(b'%') {
                out.push(b'%');
                continue;
            }
            let Some(&v) = values.next() else {
                return errno(-EINVAL);
            };
            let v32 = longs == 0;
            let text = match conv {
                Some(b'd' | b'i') if v32 => (v as i32).to_string(),
                Some(b'd' | b'i') => (v as i64).to_string(),
                Some(b'u') if v32 => (v as u32).to_string(),
                Some(b'u') => v.to_string(),
                Some(b'x') if v32 => format!("{:x}", v as u32),
                Some(b'x') => format!("{v:x}"),
                Some(b'X') if v32 => format!("{:X}", v as u32),
                Some(b'X') => format!("{v:X}"),
                Some(b'c') => char::from(v as u8).to_string(),
                Some(b'p') => format!("0x{v:x}"),
                Some(b's') => {
                    let mut s = Vec::new();
                    while let Some(&[b]) = memory.bytes(v + s.len() as u64, 1).as_deref() {
                        if b == 0 || s.len() >= 256 {
                            break;
                        }
                        s.push(b);
                    }
                    String::from_utf8_lossy(&s).into_owned()
                }
                _ => return errno(-EINVAL),
            };
            out.extend_from_slice(text.as_bytes());
        }
        if self.options.trace {
            eprint!("{}", String::from_utf8_lossy(&out));
        }
        HelperOutcome::Return(out.len() as u64)
    }
}

/// The program type a section names, as libbpf reads section names.
pub fn context_kind(section: &str) -> Option<ContextKind> {
    let head = section.split('/').next().unwrap_or(section);
    match head {
        "xdp" | "xdp.frags" => Some(ContextKind::Xdp),
        "tc" | "classifier" | "action" | "tcx" => Some(ContextKind::Tc),
        "socket" => Some(ContextKind::Socket),
        _ => None,
    }
}

/// `skb->protocol` (network byte order, as a u16 in memory) and
/// `skb->pkt_type` as `eth_type_trans` sets them for a frame arriving on
/// the loopback device: its address and its broadcast address are both
/// 00:00:00:00:00:00, so ff:ff:ff:ff:ff:ff is `PACKET_MULTICAST` there (as
/// kernel test runs show).
fn eth_type_trans(frame: &[u8]) -> (u16, u32) {
    const PACKET_HOST: u32 = 0;
    const PACKET_MULTICAST: u32 = 2;
    const PACKET_OTHERHOST: u32 = 3;
    let Some(dest) = frame.get(..6) else {
        return (0, PACKET_HOST);
    };
    let pkt_type = if dest.iter().all(|&b| b == 0) {
        PACKET_HOST
    } else if dest[0] & 1 == 1 {
        PACKET_MULTICAST
    } else {
        PACKET_OTHERHOST
    };
    let field = |at: usize| frame.get(at..at + 2).map_or([0; 2], |b| [b[0], b[1]]);
    (encapsulated_protocol(field(12), field(14)), pkt_type)
}

/// `skb->protocol` (as `__be16`) for the type field `ethertype` followed
/// by `next`, as `eth_type_trans` and `vlan_set_encap_proto` derive it: the
/// type itself from 0x600 up, else raw 802.3 (IPX's 0xffff) or 802.2.
fn encapsulated_protocol(ethertype: [u8; 2], next: [u8; 2]) -> u16 {
    let protocol = match u16::from_be_bytes(ethertype) {
        t if t >= 0x600 => t,
        _ if next == [0xff, 0xff] => 0x0001, // ETH_P_802_3: raw IPX
        _ => 0x0004,                         // ETH_P_802_2
    };
    u16::from_ne_bytes(protocol.to_be_bytes())
}

/// `htons(ETH_P_8021Q)` and `htons(ETH_P_8021AD)` as a program passes them.
const VLAN_8021Q: u16 = u16::from_ne_bytes(0x8100u16.to_be_bytes());
const VLAN_8021AD: u16 = u16::from_ne_bytes(0x88a8u16.to_be_bytes());

/// `bpf_csum_diff(from, from_size, to, to_size, seed)` as Linux 6.12 and
/// later compute it on every architecture: the one's-complement sum of
/// `to`'s words (as they lie in memory) and `seed`, less that of `from`'s
/// (`~sum(from, ~seed)` with no `to`), folded to 16 bits
/// (`csum_from32to16`, not complemented); -EINVAL for sizes that are not
/// whole words. (Older kernels returned the 32-bit sum unfolded, its value
/// depending on the architecture.)
fn csum_diff(args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
    // (Any sizes, since Linux 6.13: a tail shorter than a word is summed
    // zero-padded, as the kernel's csum_partial loads it. Before, sizes
    // had to be multiples of 4 and the sum was not folded.)
    let (from_size, to_size) = (args[1] as u32 as usize, args[3] as u32 as usize);
    let mut partial = |ptr: u64, size: usize, seed: u32| {
        let mut sum = u64::from(seed);
        if size > 0 {
            let bytes = memory.bytes(ptr, size).ok_or(ptr)?;
            for word in bytes.chunks(4) {
                let mut padded = [0u8; 4];
                padded[..word.len()].copy_from_slice(word);
                sum += u64::from(u32::from_ne_bytes(padded));
            }
        }
        while sum >> 32 != 0 {
            sum = (sum & 0xffff_ffff) + (sum >> 32);
        }
        Ok(sum as u32)
    };
    let seed = args[4] as u32;
    let sum = match (from_size, to_size) {
        (0, 0) => Ok(seed),
        (0, _) => partial(args[2], to_size, seed),
        (_, 0) => partial(args[0], from_size, !seed).map(|s| !s),
        _ => partial(args[2], to_size, seed)
            .and_then(|to| partial(args[0], from_size, 0).map(|from| csum_add(to, !from))),
    };
    match sum {
        Ok(sum) => HelperOutcome::Return(u64::from(csum_from32to16(sum))),
        Err(ptr) => {
            let size = if ptr == args[0] { from_size } else { to_size };
            oob(ptr, size, false)
        }
    }
}

/// One's-complement addition of two 32-bit sums (the kernel's `csum_add`).
fn csum_add(a: u32, b: u32) -> u32 {
    let (sum, carry) = a.overflowing_add(b);
    sum + u32::from(carry)
}

/// A 32-bit one's-complement sum folded to 16 bits (the kernel's
/// `csum_from32to16`).
fn csum_from32to16(sum: u32) -> u16 {
    (sum.wrapping_add(sum.rotate_left(16)) >> 16) as u16
}

#[cfg(test)]
mod tests {
    //! The map-target and record helpers without clang or a kernel (the
    //! kernel comparison is `cli/tests/xdp_objects.rs`).
    use super::*;
    use crate::ebpf::asm::assemble;
    use crate::ebpf::errno::EEXIST;

    /// `lddw rN, MAP_REF + m` in the sources below becomes a reference
    /// to map `m`, as libbpf's relocations leave it.
    const MAP_REF: i64 = 0x7fff_0000;
    /// `lddw rN, FUNC_REF` below becomes a callback's address.
    const FUNC_REF: i64 = 0x7ffe_0000;

    fn def(name: &str, kind: MapKind, value_size: u32, max_entries: u32) -> MapDef {
        MapDef::new(name, kind, 4, value_size, max_entries)
    }

    /// `src` assembled, its map references linked as libbpf leaves them
    /// (`MAP_REF`), and `lddw rN, FUNC_REF` made the address of the
    /// function after the first `exit`, as a callback.
    fn prepared(src: &str, maps: &[MapDef], engine: Engine) -> PacketProgram {
        let mut program = assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        let exit = program.insns.iter().position(|i| i.opc == 0x95);
        for (at, i) in program.insns.iter_mut().enumerate() {
            if i.is_lddw() && i64::from(i.imm) == FUNC_REF {
                i.src = super::super::elf::PSEUDO_FUNC;
                i.imm = (exit.unwrap_or(at) as i64 - at as i64) as i32;
            } else if i.is_lddw() && i64::from(i.imm) >= MAP_REF {
                i.src = PSEUDO_MAP_FD;
                i.imm -= MAP_REF as i32;
            }
        }
        let program = ObjectProgram {
            name: "entry".into(),
            section: "xdp".into(),
            program,
            btf_functions: false,
            core: Vec::new(),
        };
        let options = PacketOptions {
            engine: Some(engine),
            ..PacketOptions::default()
        };
        PacketProgram::new(&program, maps, options).unwrap_or_else(|e| panic!("{e}\n{src}"))
    }

    #[test]
    fn for_each_map_elem_visits_every_entry_with_its_key_and_value() {
        // sum over entries of key * 1000 + value, and the count, as
        // (count << 32) | sum; the callback is after the first exit.
        let src = format!(
            "stdw [r10-8], 0\n\
             lddw r1, {MAP_REF}\n\
             lddw r2, {FUNC_REF}\n\
             mov r3, r10\n\
             add r3, -8\n\
             mov r4, 0\n\
             call 164\n\
             ldxdw r1, [r10-8]\n\
             lsh r0, 32\n\
             or r0, r1\n\
             exit\n\
             ldxw r1, [r2]\n\
             mul r1, 1000\n\
             ldxdw r0, [r3]\n\
             add r1, r0\n\
             ldxdw r0, [r4]\n\
             add r0, r1\n\
             stxdw [r4], r0\n\
             mov r0, 0\n\
             exit"
        );
        for (kind, want) in [
            (MapKind::Hash, 2 << 32 | (3030 + 5050)),
            // Every index of an array (0 to 3), 30 at index 3.
            (MapKind::Array, 4 << 32 | (1000 + 2000 + 3030)),
        ] {
            let maps = [def("h", kind, 8, 4)];
            for engine in [Engine::Interp, Engine::Jit] {
                let p = prepared(&src, &maps, engine);
                p.preload("h", &3u32.to_le_bytes(), &30u64.to_le_bytes())
                    .unwrap();
                if kind == MapKind::Hash {
                    p.preload("h", &5u32.to_le_bytes(), &50u64.to_le_bytes())
                        .unwrap();
                }
                assert_eq!(p.action(&[0; 20]).unwrap(), want, "{kind:?} ({engine})");
            }
        }
    }

    #[test]
    fn a_packet_program_can_move_to_another_thread() {
        fn send<T: Send>() {}
        send::<PacketProgram>();
    }

    #[test]
    fn perf_event_output_fails_in_the_kernels_order_and_records_data_then_packet_bytes() {
        let maps = [def("events", MapKind::PerfEventArray, 4, 2)];
        let packet: Vec<u8> = (0..20).collect();
        let cases: [(u64, i64, Option<Vec<u8>>); 7] = [
            // BPF_F_CURRENT_CPU, 4 packet bytes: the data, then those.
            (0xffff_ffff | 4 << 32, 0, Some(vec![7, 0, 0, 0, 0, 1, 2, 3])),
            // Slot 0 named: CPU 0's event.
            (0, 0, Some(vec![7, 0, 0, 0])),
            // More packet bytes than the packet has, before any slot check.
            (5 | 21 << 32, -EFAULT, None),
            // A slot with no event (no other CPU), one past the array.
            (1, -ENOENT, None),
            (2, -E2BIG, None),
            // A flag outside the index and length fields.
            (1 << 52, -EINVAL, None),
            (
                0xffff_ffff | 20 << 32,
                0,
                Some([vec![7, 0, 0, 0], packet.clone()].concat()),
            ),
        ];
        for engine in [Engine::Interp, Engine::Jit] {
            for (flags, want, record) in &cases {
                let src = format!(
                    "stw [r10-8], 7\n\
                     mov r4, r10\n\
                     add r4, -8\n\
                     lddw r2, {MAP_REF}\n\
                     lddw r3, {flags}\n\
                     mov r5, 4\n\
                     call 25\n\
                     exit"
                );
                let outcome = prepared(&src, &maps, engine).run(&packet).expect("runs");
                assert_eq!(outcome.action as i64, *want, "flags {flags:#x} ({engine})");
                let records: Vec<_> = record
                    .iter()
                    .map(|r| ("events".to_string(), r.clone()))
                    .collect();
                assert_eq!(outcome.records, records, "flags {flags:#x} ({engine})");
            }
        }
    }

    #[test]
    fn redirect_map_records_the_target_or_returns_the_fallback_action() {
        let maps = [
            def("ports", MapKind::DevMap, 8, 4),
            def("cpus", MapKind::CpuMap, 4, 2),
            def("sockets", MapKind::XskMap, 4, 4),
            def("named", MapKind::DevMapHash, 4, 4),
        ];
        let broadcast = 1 << 3;
        let exclude = 1 << 4;
        let cases: [(usize, u32, u64, u64, Option<Redirect>); 9] = [
            (0, 1, 0, 4, Some(Redirect::Interface(9))),
            (0, 2, 2, 2, None),
            (0, 9, 1, 1, None),
            (0, 2, broadcast | exclude, 4, None),
            (1, 1, 0, 4, Some(Redirect::Cpu(1))),
            (1, 0, broadcast, 0, None),
            (2, 3, 0, 4, None),
            (2, 0, 3, 3, None),
            (3, 70_000, 0, 4, Some(Redirect::Interface(12))),
        ];
        for engine in [Engine::Interp, Engine::Jit] {
            for (map, key, flags, want, target) in &cases {
                let src = format!(
                    "lddw r1, {}\n\
                     mov r2, {key}\n\
                     lddw r3, {flags}\n\
                     call 51\n\
                     exit",
                    MAP_REF + *map as i64
                );
                let program = prepared(&src, &maps, engine);
                program
                    .preload("ports", &1u32.to_le_bytes(), &[9, 0, 0, 0, 0, 0, 0, 0])
                    .unwrap();
                program
                    .preload("cpus", &1u32.to_le_bytes(), &[64, 0, 0, 0])
                    .unwrap();
                program
                    .preload("sockets", &3u32.to_le_bytes(), &[5, 0, 0, 0])
                    .unwrap();
                program
                    .preload("named", &70_000u32.to_le_bytes(), &[12, 0, 0, 0])
                    .unwrap();
                let outcome = program.run(&[0; 60]).expect("runs");
                let context = format!("map {map} key {key} flags {flags:#x} ({engine})");
                assert_eq!(outcome.action, *want, "{context}");
                let target = match (map, key, flags) {
                    (0, 2, f) if f & broadcast != 0 => Some(Redirect::Broadcast {
                        map: "ports".into(),
                        exclude_ingress: true,
                    }),
                    (2, 3, _) => Some(Redirect::Socket {
                        map: "sockets".into(),
                        index: 3,
                    }),
                    _ => target.clone(),
                };
                assert_eq!(outcome.redirect, target, "{context}");
            }
        }
    }

    #[test]
    fn a_lookup_in_a_map_of_maps_gives_the_inner_map_for_the_map_helpers() {
        let template = def("t", MapKind::Array, 8, 2);
        let mut outer = def("outer", MapKind::ArrayOfMaps, 4, 2);
        outer.inner = Some(Box::new(template));
        outer.maps = vec![(1, "b".into())];
        let maps = [
            outer,
            def("a", MapKind::Array, 8, 2),
            def("b", MapKind::Array, 8, 2),
            def("other", MapKind::Array, 8, 3),
        ];
        // r0 = outer[packet byte 0] ? inner[1] : 99 (the inner map's value
        // at 1, or 98 without one)
        let src = format!(
            "ldxw r2, [r1]\n\
             ldxw r3, [r1+4]\n\
             mov r4, r2\n\
             add r4, 1\n\
             jle r4, r3, +2\n\
             mov r0, 97\n\
             exit\n\
             ldxb r1, [r2]\n\
             stxw [r10-4], r1\n\
             mov r2, r10\n\
             add r2, -4\n\
             lddw r1, {MAP_REF}\n\
             call 1\n\
             jne r0, 0, +2\n\
             mov r0, 99\n\
             exit\n\
             stw [r10-8], 1\n\
             mov r1, r0\n\
             mov r2, r10\n\
             add r2, -8\n\
             call 1\n\
             jne r0, 0, +2\n\
             mov r0, 98\n\
             exit\n\
             ldxdw r0, [r0]\n\
             exit"
        );
        for engine in [Engine::Interp, Engine::Jit] {
            let program = prepared(&src, &maps, engine);
            program
                .preload("a", &1u32.to_le_bytes(), &7u64.to_le_bytes())
                .unwrap();
            program
                .preload("b", &1u32.to_le_bytes(), &8u64.to_le_bytes())
                .unwrap();
            // Slot 1 holds 'b' from the object; slot 0 starts empty.
            assert_eq!(program.action(&[0; 20]).unwrap(), 99, "{engine}");
            assert_eq!(program.action(&[1; 20]).unwrap(), 8, "{engine}");
            program
                .preload("outer", &0u32.to_le_bytes(), &1u32.to_le_bytes())
                .unwrap();
            assert_eq!(program.action(&[0; 20]).unwrap(), 7, "{engine}");
            // Only maps that fit the inner template, and only maps.
            assert!(program
                .preload("outer", &0u32.to_le_bytes(), &3u32.to_le_bytes())
                .is_err());
            assert!(program
                .preload("outer", &0u32.to_le_bytes(), &9u32.to_le_bytes())
                .is_err());
        }
    }

    /// `check_mtu` adds lengths as the kernel's `int`s: a `*mtu_len` of
    /// 0x7fffffff plus the header wraps negative and passes (0), where a
    /// length over the MTU is FRAG_NEEDED (1); the MTU is written back
    /// (the kernel's results, 6.18). And a plain array checks its index
    /// and BPF_NOEXIST before refusing BPF_F_LOCK (-E2BIG, -EEXIST,
    /// then -EINVAL).
    #[test]
    fn check_mtu_wraps_as_ints_and_array_updates_check_the_lock_last() {
        for (given, want) in [(0x7fff_ffff, 65_536), (70_000, 65_537)] {
            let src = format!(
                "stw [r10-4], {given}\n\
                 mov r2, 0\n\
                 mov r3, r10\n\
                 add r3, -4\n\
                 mov r4, 0\n\
                 mov r5, 0\n\
                 call 163\n\
                 ldxw r3, [r10-4]\n\
                 add r0, r3\n\
                 exit"
            );
            for engine in [Engine::Interp, Engine::Jit] {
                let program = prepared(&src, &[], engine);
                assert_eq!(
                    program.action(&[0; 20]).unwrap(),
                    want,
                    "{given} ({engine})"
                );
            }
        }
        let maps = [def("a", MapKind::Array, 8, 4)];
        for (key, flags, errno) in [
            (9, 4, E2BIG),
            (1, 5, EEXIST),
            (1, 4, EINVAL),
            (1, 8, EINVAL),
        ] {
            let src = format!(
                "stw [r10-4], {key}\n\
                 stdw [r10-16], 7\n\
                 lddw r1, {MAP_REF}\n\
                 mov r2, r10\n\
                 add r2, -4\n\
                 mov r3, r10\n\
                 add r3, -16\n\
                 mov r4, {flags}\n\
                 call 2\n\
                 exit"
            );
            let program = prepared(&src, &maps, Engine::Interp);
            assert_eq!(
                program.action(&[0; 20]).unwrap(),
                (-errno) as u64,
                "key {key} flags {flags}"
            );
        }
    }

    /// `csum_diff` takes any sizes (Linux 6.13 and later): bytes 1..=6
    /// as little-endian 16-bit words sum to 0x0c09; bytes 1..=5, the last
    /// zero-padded, to 0x0609.
    #[test]
    fn csum_diff_sums_a_short_tail_zero_padded() {
        for (size, want) in [(6, 0x0c09), (5, 0x0609), (4, 0x0604)] {
            let src = format!(
                "stdw [r10-8], 0\n\
                 stw [r10-8], 0x04030201\n\
                 sth [r10-4], 0x0605\n\
                 mov r1, 0\n\
                 mov r2, 0\n\
                 mov r3, r10\n\
                 add r3, -8\n\
                 mov r4, {size}\n\
                 mov r5, 0\n\
                 call 28\n\
                 exit"
            );
            for engine in [Engine::Interp, Engine::Jit] {
                let program = prepared(&src, &[], engine);
                assert_eq!(program.action(&[0; 20]).unwrap(), want, "{size} ({engine})");
            }
        }
    }

    #[test]
    fn redirect_map_entries_are_set_as_the_kernel_sets_them() {
        let maps = [
            def("ports", MapKind::DevMap, 8, 4),
            def("named", MapKind::DevMapHash, 4, 4),
            def("cpus", MapKind::CpuMap, 8, 2),
        ];
        let program = prepared("mov r0, 2\nexit", &maps, Engine::Interp);
        let key = |k: u32| k.to_le_bytes();
        program
            .preload("ports", &key(1), &[3, 0, 0, 0, 0, 0, 0, 0])
            .unwrap();
        program
            .preload("ports", &key(2), &[4, 0, 0, 0, 0xff, 0xff, 0xff, 0xff])
            .unwrap();
        // An ifindex of 0 empties the slot; a program's descriptor (which
        // would attach it) is refused; past the end is E2BIG.
        program.preload("ports", &key(2), &[0; 8]).unwrap();
        assert!(program
            .preload("ports", &key(0), &[3, 0, 0, 0, 5, 0, 0, 0])
            .is_err());
        assert!(program
            .preload("ports", &key(4), &[3, 0, 0, 0, 0, 0, 0, 0])
            .is_err());
        // A devmap hash takes any key, never ifindex 0.
        program.preload("named", &key(1000), &[7, 0, 0, 0]).unwrap();
        assert!(program.preload("named", &key(1), &[0, 0, 0, 0]).is_err());
        program
            .preload("cpus", &key(1), &[64, 0, 0, 0, 0, 0, 0, 0])
            .unwrap();
        program.preload("cpus", &key(1), &[0; 8]).unwrap();
        let entries: Vec<_> = program.map_entries();
        let listed = |name: &str| {
            entries
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, e)| e.clone())
                .unwrap_or_default()
        };
        assert_eq!(
            listed("ports"),
            vec![(key(1).to_vec(), vec![3, 0, 0, 0, 0, 0, 0, 0])]
        );
        assert_eq!(
            listed("named"),
            vec![(key(1000).to_vec(), vec![7, 0, 0, 0])]
        );
        assert_eq!(listed("cpus"), Vec::<(Vec<u8>, Vec<u8>)>::new());
    }
}
