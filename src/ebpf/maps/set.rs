//! The maps of one loaded object at run time: each map's bookkeeping here,
//! its values in an arena of the run memory ([`MapSet::arena_size`] bytes
//! from the offset the caller gives).

use std::collections::{BTreeMap, HashMap};

use super::{MapDef, MapKind};

/// `map_update_elem` flags.
const BPF_ANY: u64 = 0;
const BPF_NOEXIST: u64 = 1;
const BPF_EXIST: u64 = 2;
/// Update under the value's spin lock; no map here holds one.
const BPF_F_LOCK: u64 = 4;

use crate::ebpf::errno::{E2BIG, EEXIST, EINVAL, ENOENT, ENOSPC, EOPNOTSUPP};

/// Why a map update from outside a program (a preload) failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapUpdateError(pub String);

impl std::fmt::Display for MapUpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MapUpdateError {}

/// A hash map's index: which arena slot holds which key. Keys come from
/// the traffic, so the hash is keyed with a random seed per map, as the
/// kernel seeds its `jhash` per map; foldhash rather than SipHash because
/// lookups are on every packet's path (SipHash was a tenth of `parse.c`'s
/// time per packet).
#[derive(Debug, Default)]
struct HashIndex {
    slots: HashMap<Vec<u8>, u32, foldhash::fast::RandomState>,
    /// The key in each slot (None: free).
    keys: Vec<Option<Vec<u8>>>,
    free: Vec<u32>,
    /// Last use of each slot, for LRU eviction.
    used: Vec<u64>,
    clock: u64,
    /// LPM tries: how many entries have each prefix length (lookups try
    /// the present lengths, longest first).
    prefixes: Option<BTreeMap<u32, u32>>,
}

/// An LPM trie key as the index holds it: the prefix length, then the data
/// with the bits past it cleared (entries are the same when those are).
/// `None` when the prefix is longer than the data.
fn lpm_index_key(key: &[u8], prefix: u32) -> Option<Vec<u8>> {
    let data = key.get(4..)?;
    if prefix as usize > data.len() * 8 {
        return None;
    }
    let mut out = prefix.to_le_bytes().to_vec();
    out.extend(data.iter().enumerate().map(|(i, &b)| {
        let bits = (prefix as usize).saturating_sub(i * 8).min(8) as u32;
        b & !0xffu8.checked_shr(bits).unwrap_or(0)
    }));
    Some(out)
}

/// Whether a 4-byte index key is below `max`.
fn index_below(key: &[u8], max: u32) -> bool {
    key.get(..4)
        .and_then(|k| k.try_into().ok())
        .is_some_and(|k: [u8; 4]| u32::from_le_bytes(k) < max)
}

/// The prefix length an LPM key carries.
fn lpm_prefix(key: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(key.get(..4)?.try_into().ok()?))
}

impl HashIndex {
    /// The key the index is keyed by: the key itself, or for an LPM trie
    /// its normalised form (`None`: an invalid prefix length).
    fn index_key<'k>(&self, key: &'k [u8]) -> Option<std::borrow::Cow<'k, [u8]>> {
        match &self.prefixes {
            None => Some(std::borrow::Cow::Borrowed(key)),
            Some(_) => lpm_index_key(key, lpm_prefix(key)?).map(std::borrow::Cow::Owned),
        }
    }
}

/// A ring buffer's state within one packet's run (a consumer drains it
/// after each).
#[derive(Debug, Default)]
struct Ring {
    /// Bytes reserved so far (headers included), from the arena's start.
    used: usize,
    /// Reservations: (offset of the sample in the run memory, its length,
    /// still pending).
    reservations: Vec<(usize, usize, bool)>,
    /// Records submitted, in reservation order.
    records: Vec<(usize, Vec<u8>)>,
    /// Bytes consumed over the map's life (`BPF_RB_CONS_POS`).
    consumed: u64,
}

/// `BPF_RINGBUF_HDR_SZ`.
const RING_HEADER: usize = 8;

/// One map at run time.
#[derive(Debug)]
struct Map {
    def: MapDef,
    /// Offset of its arena in the run memory.
    arena: usize,
    /// Bytes per value slot (the value size rounded up to 8, as the kernel
    /// lays out array and hash values).
    slot: usize,
    index: Option<HashIndex>,
    ring: Option<Ring>,
    /// A perf event array's records in this run, in output order.
    events: Option<Vec<Vec<u8>>>,
    /// Offset of the entry `bpf_for_each_map_elem` is visiting: its key's
    /// and value's addresses, then the key (maps it iterates only).
    visit: Option<usize>,
}

/// The maps of an object, by index (the order [`MapDef`]s were given).
#[derive(Debug)]
pub struct MapSet {
    maps: Vec<Map>,
    size: usize,
    /// Some map holds records (runs then drain them).
    records: bool,
}

impl MapSet {
    /// Lays out `defs` in an arena starting at offset `base` of the run
    /// memory, which must be 8-byte aligned.
    pub fn new(defs: &[MapDef], base: usize) -> MapSet {
        let mut at = base;
        let mut maps = Vec::with_capacity(defs.len());
        for def in defs {
            let slot = (def.value_size as usize).div_ceil(8) * 8;
            let ring = (def.kind == MapKind::RingBuf).then(Ring::default);
            let events = (def.kind == MapKind::PerfEventArray).then(Vec::new);
            // A ring's arena is its bytes; a perf event array has none (its
            // entries are the consumer's events, not values programs see).
            let slot = match def.kind {
                MapKind::RingBuf => 1,
                MapKind::PerfEventArray => 0,
                _ => slot,
            };
            let index = (!def.kind.is_array() && !def.kind.holds_records()).then(|| {
                let n = def.max_entries as usize;
                HashIndex {
                    keys: vec![None; n],
                    free: (0..n as u32).rev().collect(),
                    used: vec![0; n],
                    prefixes: (def.kind == MapKind::LpmTrie).then(BTreeMap::new),
                    ..HashIndex::default()
                }
            });
            let values = at;
            at += slot * def.max_entries as usize;
            let visit = iterable(def.kind).then(|| {
                let v = at;
                at += 16 + (def.key_size as usize).div_ceil(8) * 8;
                v
            });
            maps.push(Map {
                def: def.clone(),
                arena: values,
                slot,
                index,
                ring,
                events,
                visit,
            });
        }
        MapSet {
            records: maps.iter().any(|m| m.def.kind.holds_records()),
            maps,
            size: at - base,
        }
    }

    /// Bytes of run memory the arenas take.
    pub fn arena_size(&self) -> usize {
        self.size
    }

    /// The definitions, by index.
    pub fn defs(&self) -> impl Iterator<Item = &MapDef> {
        self.maps.iter().map(|m| &m.def)
    }

    /// Number of maps.
    pub fn len(&self) -> usize {
        self.maps.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.maps.is_empty()
    }

    /// Index of the map named `name`.
    pub fn by_name(&self, name: &str) -> Option<usize> {
        self.maps.iter().position(|m| m.def.name == name)
    }

    /// Offset in the run memory of map `map`'s entry-0 value (global data:
    /// what `BPF_PSEUDO_MAP_VALUE` loads point into).
    pub fn value_offset(&self, map: usize) -> Option<usize> {
        self.maps.get(map).map(|m| m.arena)
    }

    /// Writes every map's initial contents (global data) into `mem`.
    pub fn initialise(&self, mem: &mut [u8]) {
        for m in &self.maps {
            let end = m.arena + m.slot * m.def.max_entries as usize;
            mem[m.arena..end].fill(0);
            if let Some(init) = &m.def.initial {
                let n = init.len().min(m.def.value_size as usize);
                mem[m.arena..m.arena + n].copy_from_slice(&init[..n]);
            }
        }
    }

    /// Offset of the value for `key` in map `map`, if present
    /// (`bpf_map_lookup_elem`; marks LRU entries used).
    pub fn lookup(&mut self, map: usize, key: &[u8]) -> Option<usize> {
        let m = self.maps.get_mut(map)?;
        if key.len() != m.def.key_size as usize {
            return None;
        }
        match &mut m.index {
            None => {
                let i = u32::from_le_bytes(key.get(..4)?.try_into().ok()?);
                (i < m.def.max_entries).then(|| m.arena + i as usize * m.slot)
            }
            Some(ix) if ix.prefixes.is_some() => {
                // The longest stored prefix, no longer than the key's, whose
                // bits match the key's data.
                let limit = lpm_prefix(key)?;
                let lengths = ix.prefixes.as_ref()?;
                let slot = lengths.range(..=limit).rev().find_map(|(&len, _)| {
                    lpm_index_key(key, len).and_then(|k| ix.slots.get(&k[..]).copied())
                })?;
                Some(m.arena + slot as usize * m.slot)
            }
            Some(ix) => {
                let &slot = ix.slots.get(key)?;
                ix.clock += 1;
                ix.used[slot as usize] = ix.clock;
                Some(m.arena + slot as usize * m.slot)
            }
        }
    }

    /// `bpf_map_update_elem`: 0 or a negative errno, as the kernel returns.
    pub fn update(
        &mut self,
        mem: &mut [u8],
        map: usize,
        key: &[u8],
        value: &[u8],
        flags: u64,
    ) -> i64 {
        let Some(m) = self.maps.get(map) else {
            return -EINVAL;
        };
        // (A plain array refuses BPF_F_LOCK only after its index and
        // BPF_NOEXIST checks, as the kernel's array_map_update_elem; every
        // other map type with the unknown flags, first.)
        let array_lock = m.def.kind == MapKind::Array
            && flags & BPF_F_LOCK != 0
            && flags & !BPF_F_LOCK <= BPF_EXIST;
        if (flags > BPF_EXIST && !array_lock)
            || key.len() != m.def.key_size as usize
            || value.len() < m.def.value_size as usize
        {
            return -EINVAL;
        }
        let size = m.def.value_size as usize;
        if let Some(template) = m.def.inner.as_deref() {
            // A map of maps' value names a map of the object that fits its
            // inner template (the kernel: a descriptor of such a map).
            let inner = value.get(..4).map_or(usize::MAX, |b| {
                u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
            });
            let fits = self
                .maps
                .get(inner)
                .is_some_and(|m| template.fits_template(&m.def));
            if !fits {
                return -EINVAL;
            }
        }
        let Some(m) = self.maps.get(map) else {
            return -EINVAL;
        };
        let mut value = std::borrow::Cow::Borrowed(&value[..size]);
        match redirect_value(m.def.kind, &value) {
            RedirectValue::Keep => {}
            RedirectValue::Invalid(e) => return e,
            RedirectValue::Remove => {
                // An array devmap's or cpumap's empty value clears the slot.
                if !index_below(key, m.def.max_entries) {
                    return -E2BIG;
                }
                return match self.delete(map, key) {
                    e if e == -ENOENT => 0,
                    e => e,
                };
            }
            RedirectValue::Stored(v) => value = std::borrow::Cow::Owned(v),
        }
        let Some(m) = self.maps.get_mut(map) else {
            return -EINVAL;
        };
        let at = match &mut m.index {
            None => {
                let Some(&[a, b, c, d]) = key.get(..4) else {
                    return -EINVAL;
                };
                let i = u32::from_le_bytes([a, b, c, d]);
                if i >= m.def.max_entries {
                    return -E2BIG;
                }
                if flags & BPF_NOEXIST != 0 {
                    return -EEXIST;
                }
                if flags & BPF_F_LOCK != 0 {
                    return -EINVAL;
                }
                m.arena + i as usize * m.slot
            }
            Some(_) if m.def.kind.is_indexed() && !index_below(key, m.def.max_entries) => {
                return -E2BIG;
            }
            Some(ix) => {
                ix.clock += 1;
                let Some(index_key) = ix.index_key(key).map(|k| k.into_owned()) else {
                    return -EINVAL;
                };
                let slot = match ix.slots.get(&index_key[..]) {
                    Some(_) if flags == BPF_NOEXIST => return -EEXIST,
                    Some(&s) => {
                        // An LPM entry keeps the key it was last set with.
                        ix.keys[s as usize] = Some(key.to_vec());
                        s
                    }
                    None if flags == BPF_EXIST => return -ENOENT,
                    None => {
                        let slot = match ix.free.pop() {
                            Some(s) => s,
                            None if m.def.kind.is_lru() => {
                                let victim =
                                    (0..ix.used.len()).min_by_key(|&s| ix.used[s]).unwrap_or(0)
                                        as u32;
                                if let Some(old) = ix.keys[victim as usize].take() {
                                    ix.slots.remove(&old);
                                }
                                victim
                            }
                            None if ix.prefixes.is_some() => return -ENOSPC,
                            None => return -E2BIG,
                        };
                        if let (Some(lengths), Some(len)) = (&mut ix.prefixes, lpm_prefix(key)) {
                            *lengths.entry(len).or_insert(0) += 1;
                        }
                        ix.slots.insert(index_key, slot);
                        ix.keys[slot as usize] = Some(key.to_vec());
                        slot
                    }
                };
                ix.used[slot as usize] = ix.clock;
                m.arena + slot as usize * m.slot
            }
        };
        mem[at..at + size].copy_from_slice(&value);
        0
    }

    /// `bpf_map_delete_elem`: 0 or a negative errno.
    pub fn delete(&mut self, map: usize, key: &[u8]) -> i64 {
        let Some(m) = self.maps.get_mut(map) else {
            return -EINVAL;
        };
        match &mut m.index {
            None => -EINVAL,
            Some(ix) => {
                let Some(index_key) = ix.index_key(key).map(|k| k.into_owned()) else {
                    return -EINVAL;
                };
                match ix.slots.remove(&index_key[..]) {
                    None => -ENOENT,
                    Some(slot) => {
                        ix.keys[slot as usize] = None;
                        ix.free.push(slot);
                        if let (Some(lengths), Some(len)) = (&mut ix.prefixes, lpm_prefix(key)) {
                            if let Some(n) = lengths.get_mut(&len) {
                                *n -= 1;
                                if *n == 0 {
                                    lengths.remove(&len);
                                }
                            }
                        }
                        0
                    }
                }
            }
        }
    }

    /// `bpf_for_each_map_elem`'s step: when slot `slot` of map `map` holds
    /// an entry (every index of an array), the offset of a record of its
    /// key's and value's run-memory addresses (`mem_addr` is where `mem`
    /// lies), the key copied after them.
    pub fn visit(&self, mem: &mut [u8], mem_addr: u64, map: usize, slot: u32) -> Option<usize> {
        let m = self.maps.get(map)?;
        let at = m.visit?;
        if slot >= m.def.max_entries {
            return None;
        }
        let key_size = m.def.key_size as usize;
        let key = match &m.index {
            None => {
                let mut k = slot.to_le_bytes().to_vec();
                k.resize(key_size, 0);
                k
            }
            Some(ix) => ix.keys.get(slot as usize)?.clone()?,
        };
        let value = m.arena + slot as usize * m.slot;
        let record = mem.get_mut(at..at + 16 + key_size)?;
        record[..8].copy_from_slice(&(mem_addr + at as u64 + 16).to_le_bytes());
        record[8..16].copy_from_slice(&(mem_addr + value as u64).to_le_bytes());
        record[16..].copy_from_slice(&key);
        Some(at)
    }

    /// Key and value size of map `map`.
    pub fn sizes(&self, map: usize) -> Option<(usize, usize)> {
        self.maps
            .get(map)
            .map(|m| (m.def.key_size as usize, m.def.value_size as usize))
    }

    /// Every entry of map `map` as (key, value) bytes: arrays every index,
    /// hash maps sorted by key.
    pub fn entries(&self, mem: &[u8], map: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        self.visit_entries(mem, map, &mut |k, v| out.push((k.to_vec(), v.to_vec())));
        out
    }

    /// Calls `f` with each entry of map `map` (as [`MapSet::entries`] lists
    /// them) without copying them: a map may hold up to the object's map
    /// memory, which a copy per entry would multiply.
    pub fn visit_entries(&self, mem: &[u8], map: usize, f: &mut dyn FnMut(&[u8], &[u8])) {
        let Some(m) = self.maps.get(map).filter(|m| !m.def.kind.holds_records()) else {
            // Ring buffers and perf event arrays hold records, not entries.
            return;
        };
        let size = m.def.value_size as usize;
        let value = |slot: usize| {
            let at = m.arena + slot * m.slot;
            &mem[at..at + size]
        };
        match &m.index {
            None => {
                let mut key = vec![0u8; (m.def.key_size as usize).max(4)];
                for i in 0..m.def.max_entries {
                    key[..4].copy_from_slice(&i.to_le_bytes());
                    f(&key[..m.def.key_size as usize], value(i as usize));
                }
            }
            Some(ix) => {
                let mut slots: Vec<(&[u8], usize)> = ix
                    .slots
                    .values()
                    .filter_map(|&s| Some((ix.keys[s as usize].as_deref()?, s as usize)))
                    .collect();
                slots.sort_unstable();
                for (key, slot) in slots {
                    f(key, value(slot));
                }
            }
        }
    }

    /// Sets an entry from outside a program (`BPF_ANY`), checking sizes.
    pub fn preload(
        &mut self,
        mem: &mut [u8],
        map: usize,
        key: &[u8],
        value: &[u8],
    ) -> Result<(), MapUpdateError> {
        let (k, v) = self
            .sizes(map)
            .ok_or_else(|| MapUpdateError(format!("no map {map}")))?;
        // The kernel refuses updates of a frozen map (EPERM); programs
        // were checked knowing `.rodata`'s contents.
        if self.maps[map].def.read_only {
            return Err(MapUpdateError(format!(
                "map '{}' is read-only once loaded (frozen, as libbpf leaves it): set it in \
                 the object before loading",
                self.maps[map].def.name
            )));
        }
        if key.len() != k || value.len() != v {
            return Err(MapUpdateError(format!(
                "key of {} bytes and value of {} bytes; the map takes {k} and {v}",
                key.len(),
                value.len()
            )));
        }
        match self.update(mem, map, key, value, BPF_ANY) {
            0 => Ok(()),
            e => Err(MapUpdateError(format!(
                "the update failed with errno {}{}",
                -e,
                if -e == E2BIG {
                    " (the map is full, or the index is past its end)"
                } else {
                    ""
                }
            ))),
        }
    }

    /// `bpf_ringbuf_reserve`: the run-memory offset of a `size`-byte
    /// sample, or `None` when the ring has no room.
    pub fn ring_reserve(&mut self, map: usize, size: usize) -> Option<usize> {
        let m = self.maps.get_mut(map)?;
        let capacity = m.def.max_entries as usize;
        let ring = m.ring.as_mut()?;
        let total = (size + RING_HEADER).div_ceil(8) * 8;
        // The kernel refuses a reservation that would bring the producer a
        // whole ring ahead of the consumer (`new_prod - cons > mask`).
        if size == 0 || size > capacity - RING_HEADER || ring.used + total >= capacity {
            return None;
        }
        let at = m.arena + ring.used + RING_HEADER;
        ring.used += total;
        ring.reservations.push((at, size, true));
        Some(at)
    }

    /// `bpf_ringbuf_submit` (or, with `discard`, `_discard`) of the sample
    /// at run-memory offset `at`; false when no pending reservation is
    /// there.
    pub fn ring_commit(&mut self, mem: &[u8], at: usize, discard: bool) -> bool {
        for m in &mut self.maps {
            let Some(ring) = m.ring.as_mut() else {
                continue;
            };
            let Some(order) = ring.reservations.iter().position(|r| r.0 == at && r.2) else {
                continue;
            };
            let len = ring.reservations[order].1;
            ring.reservations[order].2 = false;
            if !discard {
                let bytes = mem
                    .get(at..at + len)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default();
                let place = ring.records.partition_point(|(o, _)| *o < order);
                ring.records.insert(place, (order, bytes));
            }
            return true;
        }
        false
    }

    /// `bpf_ringbuf_query`: available data, ring size, consumer or
    /// producer position.
    pub fn ring_query(&self, map: usize, what: u64) -> u64 {
        let Some(m) = self.maps.get(map) else {
            return 0;
        };
        let Some(ring) = &m.ring else {
            return 0;
        };
        match what {
            0 => ring.used as u64,
            1 => u64::from(m.def.max_entries),
            2 => ring.consumed,
            3 => ring.consumed + ring.used as u64,
            _ => 0,
        }
    }

    /// `bpf_perf_event_output`'s record for perf event array `map`.
    pub fn perf_output(&mut self, map: usize, record: Vec<u8>) {
        if let Some(events) = self.maps.get_mut(map).and_then(|m| m.events.as_mut()) {
            events.push(record);
        }
    }

    /// The records every ring buffer and perf event array received in this
    /// run, by map, and the maps emptied (the consumer's read after a
    /// packet).
    #[inline]
    pub fn drain_records(&mut self) -> Vec<(usize, Vec<u8>)> {
        if !self.records {
            return Vec::new();
        }
        self.drain_all()
    }

    fn drain_all(&mut self) -> Vec<(usize, Vec<u8>)> {
        let mut out = Vec::new();
        for (index, m) in self.maps.iter_mut().enumerate() {
            if let Some(events) = m.events.as_mut() {
                out.extend(events.drain(..).map(|r| (index, r)));
            }
            if let Some(ring) = m.ring.as_mut() {
                out.extend(ring.records.drain(..).map(|(_, r)| (index, r)));
                ring.consumed += ring.used as u64;
                ring.used = 0;
                ring.reservations.clear();
            }
        }
        out
    }

    /// The kind of map `map`.
    pub fn kind(&self, map: usize) -> Option<MapKind> {
        self.maps.get(map).map(|m| m.def.kind)
    }
}

/// Map types `bpf_for_each_map_elem` iterates (the kernel's with a
/// `map_for_each_callback`).
pub fn iterable(kind: MapKind) -> bool {
    matches!(
        kind,
        MapKind::Hash
            | MapKind::PercpuHash
            | MapKind::LruHash
            | MapKind::LruPercpuHash
            | MapKind::Array
            | MapKind::PercpuArray
    )
}

/// What an update with `value` does to a `bpf_redirect_map` target, as the
/// kernel's devmap, cpumap and xskmap updates treat it.
enum RedirectValue {
    /// Not such a map: stored as given.
    Keep,
    /// Stored as this (a devmap's or cpumap's program id reads as 0).
    Stored(Vec<u8>),
    /// Clears the entry (ifindex or queue size 0 in an array devmap or a
    /// cpumap).
    Remove,
    /// Refused with this errno.
    Invalid(i64),
}

fn redirect_value(kind: MapKind, value: &[u8]) -> RedirectValue {
    let word = |i: usize| {
        value
            .get(4 * i..4 * i + 4)
            .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    match kind {
        MapKind::DevMap | MapKind::DevMapHash | MapKind::CpuMap => {
            // The second word is a program's descriptor to attach to the
            // entry: programs there are not run here, so none may be given.
            if word(1) as i32 > 0 {
                return RedirectValue::Invalid(-EOPNOTSUPP);
            }
            match (kind, word(0)) {
                (MapKind::DevMapHash, 0) => RedirectValue::Invalid(-EINVAL),
                (_, 0) => RedirectValue::Remove,
                _ => {
                    let mut v = value.to_vec();
                    if let Some(rest) = v.get_mut(4..) {
                        rest.fill(0);
                    }
                    RedirectValue::Stored(v)
                }
            }
        }
        _ => RedirectValue::Keep,
    }
}
