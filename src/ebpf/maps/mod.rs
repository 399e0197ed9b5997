//! eBPF maps: what an object declares ([`MapDef`]), and the userspace maps
//! that programs run against ([`MapSet`]), with the kernel's semantics for
//! the types listed in [`MapKind`].
//!
//! Values live in one arena per map, allocated once when the set is made
//! and never moved: a pointer `bpf_map_lookup_elem` returns stays valid for
//! the program's life, as in the kernel (whose hash maps are preallocated
//! too by default). Arenas lie inside the run memory the engines check
//! accesses against (see [`crate::ebpf::runtime`]), so programs read and
//! write map values at native speed, checked like any other access.

mod set;

pub use set::{iterable, MapSet, MapUpdateError};

/// Map types this crate runs (`enum bpf_map_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MapKind {
    /// `BPF_MAP_TYPE_HASH`.
    Hash,
    /// `BPF_MAP_TYPE_ARRAY` (also the maps of `.data`, `.rodata`, `.bss`).
    Array,
    /// `BPF_MAP_TYPE_PERCPU_HASH`, with one CPU.
    PercpuHash,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`, with one CPU.
    PercpuArray,
    /// `BPF_MAP_TYPE_LRU_HASH`.
    LruHash,
    /// `BPF_MAP_TYPE_LRU_PERCPU_HASH`, with one CPU.
    LruPercpuHash,
    /// `BPF_MAP_TYPE_LPM_TRIE`: longest-prefix match on `struct {u32
    /// prefixlen; u8 data[];}` keys.
    LpmTrie,
    /// `BPF_MAP_TYPE_PROG_ARRAY`: programs for `bpf_tail_call`, by index.
    /// A value is the program's index in the object's program list.
    ProgArray,
    /// `BPF_MAP_TYPE_RINGBUF`: records for userspace (`max_entries` is its
    /// size in bytes), drained after each packet as a consumer would.
    RingBuf,
    /// `BPF_MAP_TYPE_PERF_EVENT_ARRAY`: `bpf_perf_event_output` records, as
    /// a consumer with one perf event per CPU (libbpf's `perf_buffer`)
    /// reads them; this runtime is one CPU, CPU 0.
    PerfEventArray,
    /// `BPF_MAP_TYPE_DEVMAP`: interfaces for `bpf_redirect_map`, by index
    /// (a value is `struct bpf_devmap_val`: the ifindex, and optionally a
    /// program, which this runtime does not run).
    DevMap,
    /// `BPF_MAP_TYPE_DEVMAP_HASH`: interfaces by any `u32` key.
    DevMapHash,
    /// `BPF_MAP_TYPE_CPUMAP`: CPUs for `bpf_redirect_map` (a value is
    /// `struct bpf_cpumap_val`: the queue size).
    CpuMap,
    /// `BPF_MAP_TYPE_XSKMAP`: AF_XDP sockets for `bpf_redirect_map`; an
    /// entry set from outside stands for a socket bound to that slot.
    XskMap,
    /// `BPF_MAP_TYPE_ARRAY_OF_MAPS`: maps by index (a value is the inner
    /// map's index in the object's map list; empty slots start empty).
    ArrayOfMaps,
    /// `BPF_MAP_TYPE_HASH_OF_MAPS`: maps by key.
    HashOfMaps,
}

impl MapKind {
    /// The kind with kernel number `n`, if this crate runs it.
    pub fn from_number(n: u32) -> Option<MapKind> {
        Some(match n {
            1 => MapKind::Hash,
            2 => MapKind::Array,
            5 => MapKind::PercpuHash,
            6 => MapKind::PercpuArray,
            9 => MapKind::LruHash,
            10 => MapKind::LruPercpuHash,
            11 => MapKind::LpmTrie,
            3 => MapKind::ProgArray,
            27 => MapKind::RingBuf,
            4 => MapKind::PerfEventArray,
            14 => MapKind::DevMap,
            25 => MapKind::DevMapHash,
            16 => MapKind::CpuMap,
            17 => MapKind::XskMap,
            12 => MapKind::ArrayOfMaps,
            13 => MapKind::HashOfMaps,
            _ => return None,
        })
    }

    /// The kernel's number.
    pub fn number(self) -> u32 {
        match self {
            MapKind::Hash => 1,
            MapKind::Array => 2,
            MapKind::PercpuHash => 5,
            MapKind::PercpuArray => 6,
            MapKind::LruHash => 9,
            MapKind::LruPercpuHash => 10,
            MapKind::LpmTrie => 11,
            MapKind::ProgArray => 3,
            MapKind::RingBuf => 27,
            MapKind::PerfEventArray => 4,
            MapKind::DevMap => 14,
            MapKind::DevMapHash => 25,
            MapKind::CpuMap => 16,
            MapKind::XskMap => 17,
            MapKind::ArrayOfMaps => 12,
            MapKind::HashOfMaps => 13,
        }
    }

    /// Keyed by a `u32` index below `max_entries` (larger ones are `E2BIG`),
    /// with entries that may be absent.
    pub fn is_indexed(self) -> bool {
        matches!(
            self,
            MapKind::ProgArray
                | MapKind::DevMap
                | MapKind::CpuMap
                | MapKind::XskMap
                | MapKind::ArrayOfMaps
        )
    }

    /// Holds maps (`bpf_map_lookup_elem` gives the inner map).
    pub fn holds_maps(self) -> bool {
        matches!(self, MapKind::ArrayOfMaps | MapKind::HashOfMaps)
    }

    /// Holds records for a consumer rather than entries.
    pub fn holds_records(self) -> bool {
        matches!(self, MapKind::RingBuf | MapKind::PerfEventArray)
    }

    /// Targets of `bpf_redirect_map`.
    pub fn is_redirect_target(self) -> bool {
        matches!(
            self,
            MapKind::DevMap | MapKind::DevMapHash | MapKind::CpuMap | MapKind::XskMap
        )
    }

    /// Indexed by a `u32` key, every index present.
    pub fn is_array(self) -> bool {
        matches!(self, MapKind::Array | MapKind::PercpuArray)
    }

    /// Evicts the least recently used entry when full.
    pub fn is_lru(self) -> bool {
        matches!(self, MapKind::LruHash | MapKind::LruPercpuHash)
    }
}

/// The kernel's name of map type `n` (for messages about types not run).
pub fn kind_name(n: u32) -> String {
    const NAMES: [&str; 33] = [
        "unspec",
        "hash",
        "array",
        "prog_array",
        "perf_event_array",
        "percpu_hash",
        "percpu_array",
        "stack_trace",
        "cgroup_array",
        "lru_hash",
        "lru_percpu_hash",
        "lpm_trie",
        "array_of_maps",
        "hash_of_maps",
        "devmap",
        "sockmap",
        "cpumap",
        "xskmap",
        "sockhash",
        "cgroup_storage",
        "reuseport_sockarray",
        "percpu_cgroup_storage",
        "queue",
        "stack",
        "sk_storage",
        "devmap_hash",
        "struct_ops",
        "ringbuf",
        "inode_storage",
        "task_storage",
        "bloom_filter",
        "user_ringbuf",
        "cgrp_storage",
    ];
    NAMES
        .get(n as usize)
        .map_or_else(|| format!("type {n}"), |s| format!("{s} (type {n})"))
}

/// A map as an object declares it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapDef {
    /// Its name (the variable's, or `.rodata`, `.data`, `.bss`).
    pub name: String,
    /// Its type.
    pub kind: MapKind,
    /// Key bytes.
    pub key_size: u32,
    /// Value bytes.
    pub value_size: u32,
    /// Entries it holds at most.
    pub max_entries: u32,
    /// `map_flags` as declared.
    pub flags: u32,
    /// The initial value of entry 0 (global data sections), if any.
    pub initial: Option<Vec<u8>>,
    /// Programs may not write it (`.rodata`: `BPF_F_RDONLY_PROG`).
    pub read_only: bool,
    /// A program array's initial entries (`__array(values, …)`): index →
    /// the function name of the program there.
    pub programs: Vec<(u32, String)>,
    /// A map of maps' inner map template (`__array(values, struct …)`):
    /// the maps it may hold match it.
    pub inner: Option<Box<MapDef>>,
    /// A map of maps' initial entries: index → the name of the map there.
    pub maps: Vec<(u32, String)>,
}

/// Most memory the maps of one program may take together (values, and
/// a hash map's index of its keys), so that an object cannot make the
/// runtime allocate without bound.
pub const MAX_MAP_MEMORY: u64 = 1 << 30;

/// What `defs` take together when that is over [`MAX_MAP_MEMORY`].
pub fn over_memory_bound(defs: &[MapDef]) -> Option<u64> {
    let total: u64 = defs.iter().map(MapDef::memory_bytes).sum();
    (total > MAX_MAP_MEMORY).then_some(total)
}

impl MapDef {
    /// A map as a declaration gives it: no flags, no initial contents,
    /// writable, no program or map entries.
    pub fn new(
        name: &str,
        kind: MapKind,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
    ) -> MapDef {
        MapDef {
            name: name.into(),
            kind,
            key_size,
            value_size,
            max_entries,
            flags: 0,
            initial: None,
            read_only: false,
            programs: Vec::new(),
            inner: None,
            maps: Vec::new(),
        }
    }

    /// Whether `map` may be an entry of a map of maps with this inner
    /// template, as the kernel's `bpf_map_meta_equal` decides: same type,
    /// key and value sizes and flags, and the same size unless the
    /// template has `BPF_F_INNER_MAP`.
    pub fn fits_template(&self, map: &MapDef) -> bool {
        const INNER_MAP: u32 = 1 << 12;
        self.kind == map.kind
            && self.key_size == map.key_size
            && self.value_size == map.value_size
            && self.flags & !INNER_MAP == map.flags & !INNER_MAP
            && (self.flags & INNER_MAP != 0 || self.max_entries == map.max_entries)
    }

    /// Bytes this map takes in the runtime: its value arena, and for hash
    /// maps and tries the index of their keys (each key, its slot's
    /// bookkeeping).
    pub fn memory_bytes(&self) -> u64 {
        let n = u64::from(self.max_entries);
        let values = u64::from(self.value_size).div_ceil(8) * 8 * n;
        let index = if self.kind.is_array() || self.kind.holds_records() {
            0
        } else {
            n * (u64::from(self.key_size) + 48)
        };
        values + index
    }
}

/// Handles programs hold for maps (what `lddw rN, map` loads): an address
/// no access can reach, with the map's index in the low bits.
pub const MAP_HANDLE_BASE: u64 = 0xffff_fe00_0000_0000;

/// The handle of map `index`.
pub fn map_handle(index: usize) -> u64 {
    MAP_HANDLE_BASE | index as u64
}

/// The map index a handle names, if it is one.
pub fn map_index(handle: u64) -> Option<usize> {
    (handle & !0xffff_ffff == MAP_HANDLE_BASE).then_some((handle & 0xffff_ffff) as usize)
}
