//! Clang-built XDP, TC and socket-filter objects with maps, run by us and
//! by the kernel, must agree on everything the kernel lets a test run
//! observe: the return value per packet, the packet as the program left
//! it, and every map's final contents.
//!
//! The programs are the C files in `tests/xdp/` (compiled with clang and
//! libbpf's headers: `clang -O2 -g -target bpf`): bounds-checked parsing
//! with VLAN tags and IPv6 extension headers in bounded loops and a
//! BPF-to-BPF call, array and hash maps (lookups, atomic adds, updates
//! from the stack), `.rodata` and `.bss` global data, packet rewriting with
//! `bpf_xdp_adjust_head` and `bpf_xdp_adjust_tail`, `XDP_TX` and
//! `bpf_redirect`; a TC classifier recording every `__sk_buff` field it
//! may read (whole and narrow) per packet, writing the writable ones,
//! `bpf_skb_load_bytes` inside and past the packet, `TC_ACT_SHOT`; a
//! socket filter with legacy packet loads and truncation; LPM tries
//! (preloaded routes, learned prefixes added and deleted) and
//! `bpf_csum_diff`; tail calls through a program array initialised in the
//! object, to an empty slot, and in a loop up to the kernel's limit; ring
//! buffer records (reserve/submit/discard, output, query, a full ring),
//! read from the kernel's ring through its mapping after each run; perf
//! event records from XDP, TC and socket-filter programs with every
//! run-time failure, read from a perf event on CPU 0 (the test pins itself
//! there: test runs run on the caller's CPU); `bpf_redirect_map` into
//! devmaps, devmap hashes, cpumaps and xskmaps; maps of maps; the
//! smaller XDP, TC and socket-filter helpers with their failures; VLAN
//! tags; `bpf_loop` callbacks. Each object is
//! loaded into the running kernel (`BPF_MAP_CREATE` for its maps, `lddw`
//! references patched to their descriptors, `BPF_PROG_LOAD` as its
//! section's type) and run with `BPF_PROG_TEST_RUN`
//! on every Ethernet packet of the real-world captures and on packets made
//! for the programs' branches; the same object runs through
//! [`PacketProgram`] on the interpreter and on the JIT.
//!
//! Needs clang with libbpf's headers and root: under CI=true (where
//! `.ci/run` installs clang and libbpf-dev) their absence is a failure,
//! elsewhere a skip with the reason.

mod support;

use cranebpf::ebpf::context::ContextKind;
use cranebpf::ebpf::elf::{self, EbpfObject, PSEUDO_MAP_FD, PSEUDO_MAP_VALUE};
use cranebpf::ebpf::maps::{MapDef, MapKind};
use cranebpf::ebpf::runtime::{context_kind, PacketOptions, PacketProgram};
use cranebpf::Engine;
use cranebpf_harness::kernel::bpf::{pin_to_cpu, KernelMap, LoadedProgram, PerfEvent, ProgType};
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

const PROGRAMS: [&str; 38] = [
    "counter",
    "subprogs",
    "parse",
    "rewrite",
    "tc_fields",
    "socket_filter",
    "lpm",
    "tail",
    "ringbuf",
    "tc_legacy",
    "tc_legacy_calls",
    "tc_nat",
    "perf",
    "perf_tc",
    "perf_socket",
    "redirect_map",
    "map_in_map",
    "helpers_xdp",
    "helpers_tc",
    "helpers_socket",
    "vlan",
    "loop",
    "change",
    "adjust_room",
    "frags",
    "for_each",
    "mtu",
    "mtu_tc",
    "change_proto",
    "varoff",
    "bounds",
    "decided",
    "known_result",
    "knob",
    // clang's 32-bit register arithmetic and comparisons (-mcpu=v3).
    "varoff@v3",
    "bounds@v3",
    "decided@v3",
    // clang -O1 compares a packet pointer with data_end again where -O2
    // would not, reading a register only the in-bounds side wrote.
    "varoff@generic:O1",
];

/// The program a test runs: the one named `entry`, or the object's only one.
fn entry(object: &EbpfObject) -> usize {
    object
        .programs
        .iter()
        .position(|p| p.name == "entry")
        .unwrap_or(0)
}

/// Entries both the kernel's maps and ours get before the packets: (map,
/// key, value).
fn preloads(program: &str, object: &EbpfObject) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    if program == "map_in_map" {
        // A hash of maps' value names a map: its index in the object here,
        // its descriptor in the kernel (`load_in_kernel` swaps them).
        let index = |name: &str| {
            let at = object.maps.iter().position(|m| m.name == name);
            (at.expect("a map") as u32).to_le_bytes().to_vec()
        };
        return vec![
            (
                "by_proto",
                0x0800u16.to_le_bytes().to_vec(),
                index("ipv4_lengths"),
            ),
            (
                "by_proto",
                0x86ddu16.to_le_bytes().to_vec(),
                index("ipv6_lengths"),
            ),
        ];
    }
    if program == "redirect_map" {
        // Loopback (ifindex 1) in a devmap slot and under a devmap-hash
        // key; CPU 0 with a 64-frame queue.
        return vec![
            (
                "ports",
                1u32.to_le_bytes().to_vec(),
                vec![1, 0, 0, 0, 0, 0, 0, 0],
            ),
            ("named_ports", 7u32.to_le_bytes().to_vec(), vec![1, 0, 0, 0]),
            (
                "cpus",
                0u32.to_le_bytes().to_vec(),
                vec![64, 0, 0, 0, 0, 0, 0, 0],
            ),
        ];
    }
    if program != "lpm" {
        return Vec::new();
    }
    // IPv4 routes by source: XDP action per prefix, nested and overlapping.
    let routes: [(u32, [u8; 4], u32); 8] = [
        (0, [0, 0, 0, 0], 2),
        (8, [10, 0, 0, 0], 1),
        (16, [10, 1, 0, 0], 2),
        (12, [172, 16, 0, 0], 1),
        (16, [192, 168, 0, 0], 2),
        (24, [192, 168, 1, 0], 1),
        (32, [192, 168, 1, 1], 3),
        (17, [192, 168, 128, 7], 1),
    ];
    routes
        .iter()
        .map(|&(len, addr, action)| {
            let mut key = len.to_le_bytes().to_vec();
            key.extend_from_slice(&addr);
            ("routes", key, action.to_le_bytes().to_vec())
        })
        .collect()
}

/// The largest frame an XDP test run takes without fragments.
const MAX_FRAME: usize = 4096 - 256 - 320;

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

fn skip<T>(why: &str) -> Option<T> {
    assert!(!ci(), "{why} (required under CI=true)");
    eprintln!("skipping: {why}");
    None
}

/// Compiles `tests/xdp/NAME.c`; `NAME@CPU` for clang's `-mcpu=CPU`,
/// `NAME@CPU:O1` at `-O1` (else `-O2`), `NAME%CLANG` with another clang
/// (`core_matches%clang-19`).
fn compile(name: &str) -> Option<support::TempFile> {
    let (name, clang) = name.split_once('%').unwrap_or((name, "clang"));
    let (file, cpu) = name.split_once('@').unwrap_or((name, "generic"));
    let (cpu, level) = cpu.split_once(':').unwrap_or((cpu, "O2"));
    let src =
        Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(format!("tests/xdp/{file}.c"));
    let out = support::temp_file(&format!("{file}-{cpu}-{level}-{clang}.o"), b"");
    // The kernel's UAPI headers include <asm/types.h> from the host's
    // multiarch directory.
    let multiarch = format!("/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let result = Command::new(clang)
        .arg(format!("-{level}"))
        .args(["-g", "-target", "bpf", "-c"])
        .arg(format!("-mcpu={cpu}"))
        // (This clang defines no macro for the CPU version; the C sources
        // test this one.)
        .arg(format!("-DBPF_CPU_{}", cpu.to_uppercase()))
        .arg(format!("-I{multiarch}"))
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .output();
    match result {
        Ok(o) if o.status.success() => Some(out),
        Ok(o) => {
            let err = String::from_utf8_lossy(&o.stderr);
            if err.contains("bpf_helpers.h") {
                return skip(&format!("libbpf's headers are missing: {err}"));
            }
            panic!("clang {name}.c: {err}");
        }
        Err(e) => skip(&format!("{clang} not found (.ci/run installs it): {e}")),
    }
}

/// The object loaded into the kernel: its maps created and initialised,
/// the references patched, every program loaded as its section's type and
/// the program arrays filled; `prog` is program `at`.
struct Kernel {
    prog: LoadedProgram,
    maps: Vec<KernelMap>,
    _others: Vec<LoadedProgram>,
    /// The perf event in slot 0 of each perf event array, by map index
    /// (CPU 0's, where the test runs: see `pin_to_cpu`).
    perf: Vec<(usize, PerfEvent)>,
}

fn load_in_kernel(object: &EbpfObject, at: usize, preload: &[(&str, Vec<u8>, Vec<u8>)]) -> Kernel {
    try_load_in_kernel(object, at, preload).unwrap_or_else(|e| panic!("{e}"))
}

/// As [`load_in_kernel`]; `Err` with the verifier's log when the kernel
/// refuses a program.
fn try_load_in_kernel(
    object: &EbpfObject,
    at: usize,
    preload: &[(&str, Vec<u8>, Vec<u8>)],
) -> Result<Kernel, String> {
    let mut maps = Vec::new();
    for def in &object.maps {
        // `.rodata` as libbpf creates it: BPF_F_RDONLY_PROG (programs may
        // only read it).
        let flags = if def.read_only {
            def.flags | 0x80
        } else {
            def.flags
        };
        let map = create_map(def, flags);
        if let Some(init) = &def.initial {
            let mut value = init.clone();
            value.resize(def.value_size as usize, 0);
            map.update(&0u32.to_le_bytes(), &value, 0)
                .unwrap_or_else(|e| panic!("initialising {}: {e}", def.name));
            // As libbpf leaves `.rodata`: frozen, its contents known to the
            // verifier.
            if def.read_only {
                map.freeze()
                    .unwrap_or_else(|e| panic!("freezing {}: {e}", def.name));
            }
        }
        maps.push(map);
    }
    let mut perf = Vec::new();
    for (i, def) in object.maps.iter().enumerate() {
        if def.kind == MapKind::PerfEventArray {
            let event = PerfEvent::open(0, 64).expect("perf_event_open");
            maps[i]
                .update(&0u32.to_le_bytes(), &event.fd().to_le_bytes(), 0)
                .expect("a perf event in slot 0");
            perf.push((i, event));
        }
    }
    // A map of maps' entries are descriptors in the kernel, indices here.
    let descriptor = |value: &[u8]| {
        let index = u32::from_le_bytes(value[..4].try_into().expect("4 bytes")) as usize;
        maps[index].fd().to_le_bytes().to_vec()
    };
    for (name, key, value) in preload {
        let at = object
            .maps
            .iter()
            .position(|m| m.name == *name)
            .expect("a preloaded map");
        let value = if object.maps[at].kind.holds_maps() {
            descriptor(value)
        } else {
            value.clone()
        };
        maps[at]
            .update(key, &value, 0)
            .expect("BPF_MAP_UPDATE_ELEM");
    }
    for (def, map) in object.maps.iter().zip(&maps) {
        for (slot, name) in &def.maps {
            let at = object.maps.iter().position(|m| &m.name == name);
            let inner = &maps[at.expect("a map")];
            map.update(&slot.to_le_bytes(), &inner.fd().to_le_bytes(), 0)
                .expect("filling a map of maps");
        }
    }
    let license = object.license.as_deref().unwrap_or("GPL");
    let loaded: Result<Vec<LoadedProgram>, String> = object
        .programs
        .iter()
        .map(|program| {
            let mut insns = program.program.insns.clone();
            for insn in insns.iter_mut() {
                if insn.is_lddw() && (insn.src == PSEUDO_MAP_FD || insn.src == PSEUDO_MAP_VALUE) {
                    insn.imm = maps[insn.imm as usize].fd();
                }
            }
            let prog_type = match context_kind(&program.section) {
                Some(ContextKind::Xdp) => ProgType::Xdp,
                Some(ContextKind::Tc) => ProgType::SchedCls,
                Some(ContextKind::Socket) => ProgType::SocketFilter,
                other => panic!("{}: section {} ({other:?})", program.name, program.section),
            };
            // libbpf's BPF_F_XDP_HAS_FRAGS for `xdp.frags` sections.
            let frags = program.section.split('/').next() == Some("xdp.frags");
            LoadedProgram::load_flagged(prog_type, &insns, license, if frags { 32 } else { 0 })
                .map_err(|e| format!("the kernel refused {}: {e}", program.name))
        })
        .collect();
    let mut loaded = loaded?;
    for (def, map) in object.maps.iter().zip(&maps) {
        for (slot, name) in &def.programs {
            let at = object
                .programs
                .iter()
                .position(|p| &p.name == name)
                .expect("a program");
            map.update(&slot.to_le_bytes(), &loaded[at].fd().to_le_bytes(), 0)
                .expect("filling a program array");
        }
    }
    let prog = loaded.remove(at);
    Ok(Kernel {
        prog,
        maps,
        _others: loaded,
        perf,
    })
}

/// `BPF_MAP_CREATE` of `def` with `flags` (a map of maps with a map of its
/// inner template).
fn create_map(def: &MapDef, flags: u32) -> KernelMap {
    let template = def.inner.as_ref().map(|t| {
        KernelMap::create(
            t.kind.number(),
            t.key_size,
            t.value_size,
            t.max_entries,
            t.flags,
        )
        .unwrap_or_else(|e| panic!("BPF_MAP_CREATE {}'s inner template: {e}", def.name))
    });
    KernelMap::create_outer(
        def.kind.number(),
        def.key_size,
        def.value_size,
        def.max_entries,
        flags,
        template.as_ref(),
    )
    .unwrap_or_else(|e| panic!("BPF_MAP_CREATE {}: {e}", def.name))
}

type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// Maps whose entries are not compared: program arrays and maps of maps
/// hold descriptors (ids, as read back) in the kernel and indices here,
/// xskmaps sockets (the kernel does
/// not let userspace read them), ring buffers and perf event arrays
/// records (compared per run).
fn unlisted(kind: MapKind) -> bool {
    kind.holds_records()
        || kind.holds_maps()
        || matches!(kind, MapKind::ProgArray | MapKind::XskMap)
}

/// Whether our perf event record is the kernel's: the kernel's ring pads
/// a record so that its 4-byte size and it fill whole 8-byte words, with
/// whatever the ring held before in the padding.
fn perf_same(ours: &[u8], theirs: &[u8]) -> bool {
    theirs.len() == (ours.len() + 4).div_ceil(8) * 8 - 4 && theirs.starts_with(ours)
}

/// Every map's entries in the kernel, sorted by key.
fn kernel_entries(kernel: &Kernel, object: &EbpfObject) -> Vec<(String, Entries)> {
    // Program arrays hold descriptors there and program indices here: not
    // compared (what they do is, through the runs).
    object
        .maps
        .iter()
        .zip(&kernel.maps)
        .filter(|(def, _)| !unlisted(def.kind))
        .map(|(def, map)| {
            let keys: Vec<Vec<u8>> = if def.kind.is_array() {
                (0..def.max_entries)
                    .map(|i| i.to_le_bytes().to_vec())
                    .collect()
            } else {
                map.keys().expect("BPF_MAP_GET_NEXT_KEY")
            };
            let mut entries: Entries = keys
                .into_iter()
                .filter_map(|k| {
                    let v = map.lookup(&k).expect("BPF_MAP_LOOKUP_ELEM")?;
                    Some((k, v))
                })
                .collect();
            entries.sort();
            (def.name.clone(), entries)
        })
        .collect()
}

/// Ethernet frames of the real-world captures an XDP test run takes.
fn captured() -> Vec<Vec<u8>> {
    let mut frames = support::realworld_frames(1);
    frames.retain(|f| (14..=MAX_FRAME).contains(&f.len()));
    frames
}

/// Frames for the programs' branches: VLAN and QinQ tags, IPv6 extension
/// headers and fragments, ICMP echo, long UDP, TCP to port 22, cut-off
/// headers.
fn made() -> Vec<Vec<u8>> {
    let mac = [2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    let ipv4 = |proto: u8, l4: &[u8]| {
        let mut p = vec![
            0x45,
            0,
            0,
            (20 + l4.len()) as u8,
            0,
            0,
            0,
            0,
            64,
            proto,
            0,
            0,
        ];
        p.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        p.extend_from_slice(l4);
        p
    };
    let frame = |tags: &[[u8; 4]], ethertype: u16, payload: &[u8]| {
        let mut f = mac.to_vec();
        for t in tags {
            f.extend_from_slice(t);
        }
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    };
    let icmp_echo = [8, 0, 0x12, 0x34, 0, 1, 0, 1, b'p', b'i', b'n', b'g'];
    let udp = |len: usize| {
        let mut u = vec![0x30, 0x39, 0, 53, 0, 8, 0, 0];
        u.resize(len, 0xab);
        u
    };
    let tcp = |port: u16| {
        let mut t = vec![0u8; 20];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&port.to_be_bytes());
        t[12] = 0x50;
        t
    };
    let ipv6 = |next: u8, rest: &[u8]| {
        let mut p = vec![0x60, 0, 0, 0, 0, rest.len() as u8, next, 64];
        p.extend_from_slice(&[0xfe; 32]);
        p.extend_from_slice(rest);
        p
    };
    let ext = |next: u8, len8: u8| {
        let mut h = vec![next, len8];
        h.resize(8 * (len8 as usize + 1), 1);
        h
    };
    let vlan = [0x81, 0x00, 0x00, 0x64];
    let qinq = [0x88, 0xa8, 0x00, 0x0a];
    let mut out = vec![
        frame(&[], 0x0800, &ipv4(1, &icmp_echo)),
        frame(&[vlan], 0x0800, &ipv4(1, &icmp_echo)),
        frame(&[qinq, vlan], 0x0800, &ipv4(17, &udp(300))),
        frame(&[vlan], 0x0800, &ipv4(17, &udp(40))),
        frame(&[], 0x0800, &ipv4(17, &udp(1000))),
        frame(&[], 0x0800, &ipv4(6, &tcp(22))),
        frame(&[], 0x0800, &ipv4(6, &tcp(443))),
        frame(&[vlan], 0x86dd, &ipv6(6, &tcp(22))),
        frame(
            &[],
            0x86dd,
            &ipv6(0, &[ext(43, 0), ext(60, 1), ext(17, 0), udp(20)].concat()),
        ),
        frame(
            &[],
            0x86dd,
            &ipv6(0, &[ext(44, 0), ext(17, 0), udp(20)].concat()),
        ),
        frame(
            &[],
            0x86dd,
            &ipv6(
                0,
                &[ext(0, 0), ext(0, 0), ext(0, 0), ext(0, 0), ext(6, 0)].concat(),
            ),
        ),
        frame(&[], 0x0806, &[0; 28]),
    ];
    // Every cut of a few of them: each bounds check's both sides.
    let whole: Vec<Vec<u8>> = out.iter().take(9).cloned().collect();
    for f in whole {
        for len in 14..f.len() {
            out.push(f[..len].to_vec());
        }
    }
    out
}

/// For a test against the kernel: `None` when it cannot run here (no BPF
/// access; a failure under CI=true), else the frames every program gets
/// (made for the branches, then the captures'), with this thread pinned
/// to CPU 0 (test runs run on the caller's CPU, where the perf events
/// are and whose per-CPU values are compared).
fn kernel_comparison_frames() -> Option<Vec<Vec<u8>>> {
    if !support::bpf_available() {
        return None;
    }
    pin_to_cpu(0).expect("sched_setaffinity");
    let mut packets = made();
    packets.extend(captured());
    Some(packets)
}

#[test]
fn clang_xdp_objects_with_maps_agree_with_the_kernel() {
    let Some(packets) = kernel_comparison_frames() else {
        return;
    };
    let mut summary = Vec::new();
    for name in PROGRAMS {
        let Some(path) = compile(name) else {
            return;
        };
        let bytes = std::fs::read(&path).expect("object");
        let object = elf::load(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        let preload = preloads(name, &object);
        // Multi-buffer frames for the xdp.frags program: past one page
        // they arrive in fragments (every cut of a jumbo frame around the
        // page and fragment edges, and up to 65,535 bytes).
        let mut packets = packets.clone();
        if name == "frags" {
            let jumbo: Vec<u8> = (0..65_535u32).map(|i| (i * 7 + i / 251) as u8).collect();
            let lens = [
                3519, 3520, 3521, 3600, 4000, 5001, 7616, 7617, 7618, 8004, 9000, 12_347, 20_000,
                65_535,
            ];
            for len in lens {
                packets.push(jumbo[..len].to_vec());
            }
        }
        summary.push(agree_with_kernel(
            name,
            &object,
            entry(&object),
            &preload,
            &packets,
        ));
    }
    eprintln!("{} packets each; {}", packets.len(), summary.join("; "));
}

/// Runs `object`'s program `at` over `packets` in the kernel (after `preload`)
/// and on each of our engines, and asserts they agree on return values,
/// packets, records and final maps; returns a line for the summary.
fn agree_with_kernel(
    name: &str,
    object: &EbpfObject,
    at: usize,
    preload: &[(&str, Vec<u8>, Vec<u8>)],
    packets: &[Vec<u8>],
) -> String {
    let kernel = load_in_kernel(object, at, preload);
    // Frames a test run of this type refuses (EINVAL) are left out of
    // the comparison, and counted.
    let mut refused = 0;
    let mut sent = Vec::new();
    let mut theirs: Vec<(u32, Vec<u8>)> = Vec::new();
    let mut their_records: Vec<Vec<(String, Vec<u8>)>> = Vec::new();
    for p in packets {
        match kernel.prog.test_run_out(p) {
            Ok(r) => {
                sent.push(p.clone());
                theirs.push(r);
                let mut records = Vec::new();
                for (i, (def, map)) in object.maps.iter().zip(&kernel.maps).enumerate() {
                    if def.kind == MapKind::RingBuf {
                        let read = map.ring_records(def.max_entries as usize);
                        for r in read.expect("reading the ring buffer") {
                            records.push((def.name.clone(), r));
                        }
                    }
                    if let Some((_, event)) = kernel.perf.iter().find(|(m, _)| *m == i) {
                        let (samples, lost) = event.samples();
                        assert_eq!(lost, 0, "{name}: perf samples lost");
                        records.extend(samples.into_iter().map(|r| (def.name.clone(), r)));
                    }
                }
                their_records.push(records);
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                // skb test runs refuse an IPv4 or IPv6 frame too short
                // for its IP header; nothing else.
                let short = match (p[12], p[13]) {
                    (0x08, 0x00) => p.len() < 14 + 20,
                    (0x86, 0xdd) => p.len() < 14 + 40,
                    _ => false,
                };
                assert!(short, "{name}: the kernel refused {p:02x?}: {e}");
                refused += 1;
            }
            Err(e) => panic!("{name}: BPF_PROG_TEST_RUN on {p:02x?}: {e}"),
        }
    }
    let their_maps = kernel_entries(&kernel, object);
    for engine in [Engine::Interp, Engine::Jit] {
        let options = PacketOptions {
            engine: Some(engine),
            trace: false,
            ..PacketOptions::default()
        };
        let ours = PacketProgram::from_object(object, at, options)
            .unwrap_or_else(|e| panic!("{name} ({engine}): {e}"));
        assert_eq!(ours.engine(), engine);
        for (map, key, value) in preload {
            ours.preload(map, key, value).expect("preloads");
        }
        for (i, ((packet, (action, out)), records)) in
            sent.iter().zip(&theirs).zip(&their_records).enumerate()
        {
            let got = ours
                .run(packet)
                .unwrap_or_else(|e| panic!("{name} ({engine}), packet {i}: {e}"));
            // A socket filter cannot change the packet (the kernel's test
            // run hands back its Ethernet header zeroed): the return
            // value is all it shows.
            let packet_shown = ours.kind() != ContextKind::Socket;
            assert_eq!(
                (got.action, packet_shown.then_some(&got.packet)),
                (u64::from(*action), packet_shown.then_some(out)),
                "{name} ({engine}), packet {i} {packet:02x?}"
            );
            let same = got.records.len() == records.len()
                && got
                    .records
                    .iter()
                    .zip(records)
                    .all(|((map, r), (their_map, k))| {
                        let perf = object
                            .maps
                            .iter()
                            .any(|m| &m.name == map && m.kind == MapKind::PerfEventArray);
                        map == their_map && if perf { perf_same(r, k) } else { r == k }
                    });
            assert!(
                same,
                "{name} ({engine}), packet {i}: ring buffer and perf event records: ours \
                 {:02x?}, the kernel's {records:02x?}",
                got.records
            );
        }
        let prog_arrays: Vec<&str> = object
            .maps
            .iter()
            .filter(|m| unlisted(m.kind))
            .map(|m| m.name.as_str())
            .collect();
        let our_maps: Vec<_> = ours
            .map_entries()
            .into_iter()
            .filter(|(name, _)| !prog_arrays.contains(&name.as_str()))
            .map(|(name, mut entries)| {
                // The kernel's are sorted by key bytes (an array's indices
                // are little-endian).
                entries.sort();
                (name, entries)
            })
            .collect();
        for ((map, a), (_, b)) in our_maps.iter().zip(&their_maps) {
            let (a_set, b_set): (HashSet<_>, HashSet<_>) = (a.iter().collect(), b.iter().collect());
            let only_ours: Vec<_> = a.iter().filter(|e| !b_set.contains(e)).take(3).collect();
            let only_theirs: Vec<_> = b.iter().filter(|e| !a_set.contains(e)).take(3).collect();
            assert!(
                only_ours.is_empty() && only_theirs.is_empty(),
                "{name} ({engine}): map {map} differs: ours only {only_ours:?}, the kernel's only {only_theirs:?}"
            );
        }
        assert_eq!(
            our_maps,
            their_maps,
            "{name} ({engine}): maps after {} packets",
            sent.len()
        );
    }
    let mut actions = theirs.iter().map(|(a, _)| *a).collect::<Vec<_>>();
    actions.sort();
    actions.dedup();
    format!(
        "{name}: {} runs ({refused} frames refused by the kernel's test run), {} distinct \
         return values",
        sent.len(),
        actions.len()
    )
}

#[test]
fn the_cli_runs_an_object_over_a_capture_and_writes_maps_and_packets() {
    let Some(path) = compile("counter") else {
        return;
    };
    let obj = path.to_str().expect("utf-8").to_string();
    let maps_in = support::temp_file(
        "maps-in.json",
        br#"{"src_bytes": [{"key": "0a0a0a0a", "value": "0700000000000000"}]}"#,
    );
    let maps_out = maps_in.with_file_name("maps-out.json");
    let packets_out = maps_in.with_file_name("packets-out.pcap");
    let mut verdicts = Vec::new();
    for engine in ["interp", "jit"] {
        let (code, out, err) = support::cli(&[
            "run",
            "--ebpf",
            &obj,
            "-r",
            "examples/sample.pcap",
            "--engine",
            engine,
            "--maps-in",
            maps_in.to_str().expect("utf-8"),
            "--maps-out",
            maps_out.to_str().expect("utf-8"),
            "--packets-out",
            packets_out.to_str().expect("utf-8"),
        ]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out.lines().count(), 400);
        let maps: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&maps_out).expect("maps")).expect("json");
        let preloaded = maps["src_bytes"]
            .as_array()
            .expect("list")
            .iter()
            .any(|e| e["key"] == "0a0a0a0a" && e["value"] == "0700000000000000");
        assert!(preloaded, "{maps}");
        assert_eq!(maps["proto_count"].as_array().expect("array").len(), 256);
        assert_eq!(
            maps[".bss"][0]["value"], "9001000000000000",
            "400 frames seen"
        );
        let written = std::fs::read(&packets_out).expect("pcap");
        let input =
            std::fs::read(support::repo_root().join("examples/sample.pcap")).expect("sample");
        assert_eq!(
            cranebpf::capture::packets(&written)
                .expect("readable")
                .len(),
            cranebpf::capture::packets(&input).expect("readable").len()
        );
        verdicts.push(out);
    }
    assert_eq!(verdicts[0], verdicts[1]);
    // `filter --ebpf` keeps the packets passed (action 2), as left.
    let passed = verdicts[0].lines().filter(|l| *l == "2").count();
    let kept = maps_in.with_file_name("kept.pcap");
    let (code, out, err) = support::cli(&[
        "filter",
        "--ebpf",
        &obj,
        "-r",
        "examples/sample.pcap",
        "-w",
        kept.to_str().expect("utf-8"),
        "--count",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), passed.to_string());
    let written = std::fs::read(&kept).expect("pcap");
    assert_eq!(
        cranebpf::capture::packets(&written)
            .expect("readable")
            .len(),
        passed
    );
    // bench names the engine that really ran each row.
    let (code, out, err) = support::cli(&[
        "bench",
        "--ebpf",
        &obj,
        "--section",
        "xdp",
        "-r",
        "examples/sample.pcap",
        "--runs",
        "1",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let rows = report["engines"].as_array().expect("rows");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["engine"].as_str()).collect();
    assert_eq!(names, ["interp", "jit"], "{out}");
    assert_eq!(rows[0]["matched"], rows[1]["matched"]);
    // A fixed clock and a seed are accepted; a bad clock is named.
    let (code, _, err) = support::cli(&[
        "run",
        "--ebpf",
        &obj,
        "--hex",
        "00",
        "--clock",
        "fixed:5:10",
        "--seed",
        "7",
    ]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = support::cli(&["run", "--ebpf", &obj, "--hex", "00", "--clock", "now"]);
    assert_eq!(code, 2);
    assert!(err.contains("fixed:START"), "{err}");
    // Mistakes are named.
    let bad = support::temp_file(
        "maps-bad.json",
        br#"{"nonesuch": [{"key": "00", "value": "00"}]}"#,
    );
    let (code, _, err) = support::cli(&[
        "run",
        "--ebpf",
        &obj,
        "--hex",
        "00",
        "--maps-in",
        bad.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("no map named 'nonesuch'"), "{err}");
    let (code, _, err) = support::cli(&["run", "--ebpf", &obj, "--mem", "00"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("XDP program") && err.contains("-r CAPTURE"),
        "{err}"
    );
}

#[test]
fn unproven_packet_reads_unchecked_lookups_and_non_maps_are_refused_as_the_kernel_refuses_them() {
    // (Also with clang's 32-bit register arithmetic, -mcpu=v3.)
    for cpu in ["generic", "v3"] {
        refused_as_the_kernel_refuses(cpu);
    }
}

fn refused_as_the_kernel_refuses(cpu: &str) {
    let Some(path) = compile(&format!("unchecked@{cpu}")) else {
        return;
    };
    let object = elf::load(&std::fs::read(&path).expect("object")).expect("loads");
    let kernel = support::bpf_available();
    for program in &object.programs {
        let ours = PacketProgram::new(program, &object.maps, PacketOptions::default());
        let message = match ours {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{} ({cpu}): accepted", program.name),
        };
        let reason = match program.name.as_str() {
            "unchecked_lookup" => "invalid mem access 'map_value_or_null'",
            "not_a_map" => "expected=map_ptr",
            "write_rodata" | "write_devmap" => {
                "write into map forbidden, value_size=4 off=0 size=4"
            }
            "lookup_prog_array" => "cannot pass map_type 3 into func bpf_map_lookup_elem#1",
            "redirect_to_array" => "cannot pass map_type 2 into func bpf_redirect_map#51",
            "perf_to_array" => "cannot pass map_type 2 into func bpf_perf_event_output#25",
            "update_devmap" => "write into map forbidden",
            "update_outer" => "cannot pass map_type 12 into func bpf_map_update_elem#2",
            "redirect_to_inner" => "cannot pass map_type 2 into func bpf_redirect_map#51",
            "end_arithmetic" => "pointer arithmetic on pkt_end prohibited",
            "leak_sample" => "Unreleased reference",
            "tail_with_sample" => "tail_call would lead to reference leak",
            "unchecked_sample" => "invalid mem access 'ringbuf_mem_or_null'",
            "for_each_ring" => "callback function not allowed for map",
            "scalar_key" => "R2 type=scalar expected=",
            "unbounded_offset" | "helper_offset" | "buff_len_offset" => {
                "math between pkt pointer and register with unbounded min value is not allowed"
            }
            // (clang -mcpu=v3 adds the constant in a 32-bit register, a
            // number rather than a constant to the kernel.)
            "far_offset" if cpu == "v3" => "value 536870912 makes pkt pointer be out of bounds",
            "far_offset" => "math between pkt pointer and 536870913 is not allowed",
            "value_past_end" => "invalid access to map value, value_size=8 off=8 size=8",
            "value_index_unchecked" => "invalid access to map value, value_size=32 off=1020 size=4",
            "value_index_loose" => "invalid access to map value, value_size=32 off=32 size=4",
            "global_masked" => "invalid access to map value, value_size=16 off=28 size=4",
            "value_unbounded" => {
                "math between map_value pointer and register with unbounded min value is not \
                 allowed"
            }
            "value_wide_index" => "unbounded memory access, make sure to bounds check",
            "signed_index" => {
                "math between map_value pointer and register with unbounded min value is not \
                 allowed"
            }
            "signed_far_offset" => "value -2147483648 makes pkt pointer be out of bounds",
            "signed_packet_offset" | "signed_value_offset" => {
                "min value is negative, either use unsigned index or do a if (index >=0) check."
            }
            "value_before_start" => "invalid access to map value, value_size=32 off=-16 size=4",
            "helper_short_key" => "invalid read from stack R2 off=-4 size=8",
            "helper_zero_size" => "R4 invalid zero-sized read: u64=[0,63]",
            "helper_size_past_buffer" => "size=256",
            // (For v3 the size is the 32-bit number, zero-extended: never
            // negative, but it may be zero.)
            "helper_negative_size" if cpu == "v3" => {
                "R4 invalid zero-sized read: u64=[0,4294967295]"
            }
            "helper_negative_size" => {
                "R4 min value is negative, either use unsigned or 'var &= const'"
            }
            "helper_packet_data" => "helper access to the packet is not allowed",
            "helper_packet_short" => "R2 offset is outside of the packet",
            "stack_index_past_frame" => "invalid variable-offset write to stack",
            "stack_index_unbounded" => {
                "math between fp pointer and register with unbounded min value is not allowed"
            }
            "context_moved" => "dereference of modified ctx ptr R1 off=4 disallowed",
            "context_number" => "R1 type=scalar expected=ctx",
            "mtu_short_int" => "invalid write to stack R3 off=-2 size=4",
            "absolute_index" => "invalid access to map value, value_size=32 off=1020 size=4",
            "per_path_offset" => "invalid access to packet, off=34 size=4",
            "per_path_index" => "invalid access to map value, value_size=32 off=32 size=4",
            "too_many_iterations" => "BPF program is too large. Processed 1000001 insn",
            _ => "invalid access to packet",
        };
        assert!(
            message.contains(reason) && message.contains("instruction "),
            "{} ({cpu}): {message}",
            program.name
        );
        if kernel {
            let maps: Vec<KernelMap> = object
                .maps
                .iter()
                .map(|d| {
                    // .rodata as libbpf makes it: BPF_F_RDONLY_PROG.
                    let flags = if d.read_only { 0x80 } else { 0 };
                    create_map(d, flags)
                })
                .collect();
            let mut insns = program.program.insns.clone();
            for insn in insns
                .iter_mut()
                .filter(|i| i.is_lddw() && (i.src == PSEUDO_MAP_FD || i.src == PSEUDO_MAP_VALUE))
            {
                // (A map value's offset stays in the second slot.)
                insn.imm = maps[insn.imm as usize].fd();
            }
            let refused = LoadedProgram::load_licensed(ProgType::Xdp, &insns, "GPL")
                .expect_err("the kernel accepted it");
            assert!(
                refused.log.contains(reason),
                "{} ({cpu}): the kernel says {}",
                program.name,
                refused.log
            );
        }
    }
}

#[test]
fn the_cli_disassembles_an_object_with_its_maps_named_and_shows_its_native_code() {
    let Some(path) = compile("counter") else {
        return;
    };
    let obj = path.to_str().expect("utf-8");
    let (code, out, err) = support::cli(&["disasm", "--ebpf", obj]);
    assert_eq!(code, 0, "{err}");
    let object = elf::load(&std::fs::read(&path).expect("object")).expect("loads");
    // One line per instruction, an lddw's two slots on one.
    let insns = &object.programs[0].program.insns;
    let lddws = insns.iter().filter(|i| i.is_lddw()).count();
    assert_eq!(out.lines().count(), insns.len() - lddws);
    assert!(out.contains("lddw %r1, map 'proto_count'"), "{out}");
    assert!(out.contains("lddw %r1, map '.bss' + 0"), "{out}");
    assert!(out.contains("call 1\n"), "{out}");
    for (flag, marker) in [("--native", "ret"), ("--clif", "function ")] {
        let (code, out, err) = support::cli(&["disasm", "--ebpf", obj, flag]);
        assert_eq!(code, 0, "{flag}: {err}");
        assert!(out.contains(marker), "{flag}: {out}");
    }
}

#[test]
fn the_cli_writes_ring_buffer_records() {
    let Some(path) = compile("ringbuf") else {
        return;
    };
    let obj = path.to_str().expect("utf-8").to_string();
    let out = support::temp_file("records.jsonl", b"");
    let (code, _, err) = support::cli(&[
        "run",
        "--ebpf",
        &obj,
        "-r",
        "examples/sample.pcap",
        "--ringbuf-out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{err}");
    let written = std::fs::read_to_string(&out).expect("records");
    let lines: Vec<serde_json::Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert!(!lines.is_empty());
    for line in &lines {
        assert_eq!(line["map"], "events", "{line}");
        assert!(line["packet"]
            .as_u64()
            .is_some_and(|n| (1..=400).contains(&n)));
        assert!(
            line["data"].as_str().is_some_and(|h| h.len() >= 2),
            "{line}"
        );
    }
    // --json lists each packet's records in its line: the same records.
    let (code, stdout, err) = support::cli(&[
        "run",
        "--ebpf",
        &obj,
        "-r",
        "examples/sample.pcap",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let listed: usize = stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("a JSON line");
            v["records"].as_array().map_or(0, Vec::len)
        })
        .sum();
    assert_eq!(listed, lines.len());
    // Without packets there is nothing to record.
    let (code, _, err) = support::cli(&[
        "run",
        "--ebpf",
        &obj,
        "--mem",
        "00",
        "--ringbuf-out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 2);
    assert!(err.contains("go with packets"), "{err}");
}

#[test]
fn the_cli_lists_perf_event_records_and_redirect_targets() {
    let (Some(perf), Some(redirect)) = (compile("perf"), compile("redirect_map")) else {
        return;
    };
    let capture = support::repo_root().join("examples/sample.pcap");
    let capture = capture.to_str().expect("utf-8");
    let out_file = support::temp_file("records.jsonl", b"");
    let (code, _, err) = support::cli(&[
        "run",
        "--ebpf",
        perf.to_str().expect("utf-8"),
        "-r",
        capture,
        "--records-out",
        out_file.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{err}");
    let lines = std::fs::read_to_string(&out_file).expect("records written");
    // Two records per packet (perf_common.h): the first with up to 64
    // packet bytes after the 8-byte event, the second 5 bytes.
    let records: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    let packets = records.iter().map(|r| r["packet"].as_u64()).max().flatten();
    assert_eq!(records.len() as u64, 2 * packets.expect("records"));
    assert!(records.iter().all(|r| r["map"] == "events"));
    let first = records[0]["data"].as_str().expect("hex");
    assert!(first.len() > 2 * 8, "{first}");
    assert_eq!(records[1]["data"].as_str().map(str::len), Some(10));
    // Redirect targets in --json lines: devmap entries loaded from
    // --maps-in name their interface, cpumap entries their CPU.
    let maps_in = support::temp_file(
        "ports.json",
        br#"{"ports": [{"key": "01000000", "value": "0900000000000000"}],
            "cpus": [{"key": "00000000", "value": "4000000000000000"}]}"#,
    );
    let (code, out, err) = support::cli(&[
        "run",
        "--ebpf",
        redirect.to_str().expect("utf-8"),
        "-r",
        capture,
        "--maps-in",
        maps_in.to_str().expect("utf-8"),
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let targets: Vec<serde_json::Value> = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v.get("redirect").cloned())
        .collect();
    assert!(targets.contains(&serde_json::json!(9)), "{out}");
    assert!(targets.contains(&serde_json::json!({"cpu": 0})), "{out}");
    assert!(
        targets
            .iter()
            .any(|t| t.get("broadcast") == Some(&serde_json::json!("ports"))),
        "{out}"
    );
}

/// Where Debian's `xdp-tools` and `libxdp1` install their compiled
/// objects.
fn distributed_objects_dir() -> std::path::PathBuf {
    Path::new("/usr/lib")
        .join(format!("{}-linux-gnu", std::env::consts::ARCH))
        .join("bpf")
}

/// Entries that make `xdp-filter`'s programs match packets of the
/// captures: every flag bit set on common ports, and on the addresses of
/// the first frames (IPv4, IPv6 and Ethernet source addresses).
fn filter_preloads(
    object: &EbpfObject,
    packets: &[Vec<u8>],
) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let flags = |def: &MapDef| {
        let mut v = vec![0u8; def.value_size as usize];
        v[0] = 0xff;
        v
    };
    for def in &object.maps {
        let name: &'static str = match def.name.as_str() {
            "filter_ports" => "filter_ports",
            "filter_ipv4" => "filter_ipv4",
            "filter_ipv6" => "filter_ipv6",
            "filter_ethernet" => "filter_ethernet",
            _ => continue,
        };
        // Source addresses of the first 40 frames of an ethertype, at
        // least `min` bytes long.
        let sources = |ethertype: [u8; 2], min: usize, at: std::ops::Range<usize>| {
            packets
                .iter()
                .filter(|p| p.len() >= min && p[12..14] == ethertype)
                .map(|p| p[at.clone()].to_vec())
                .take(40)
                .collect()
        };
        let keys: Vec<Vec<u8>> = match name {
            "filter_ports" => [22u32, 53, 80, 123, 443]
                .iter()
                .map(|p| p.to_le_bytes().to_vec())
                .collect(),
            "filter_ipv4" => sources([0x08, 0x00], 34, 26..30),
            "filter_ipv6" => sources([0x86, 0xdd], 54, 22..38),
            _ => packets.iter().map(|p| p[6..12].to_vec()).take(40).collect(),
        };
        let mut keys: Vec<Vec<u8>> = keys
            .into_iter()
            .map(|mut k| {
                k.resize(def.key_size as usize, 0);
                k
            })
            .collect();
        keys.sort();
        keys.dedup();
        for key in keys {
            out.push((name, key, flags(def)));
        }
    }
    out
}

/// libxdp's dispatcher as libxdp sets it up before loading it (its
/// `.rodata` configuration rewritten): ten programs enabled, the first
/// nine going on to the next on the stubs' own result (31), so every
/// `prog*` stub runs and the tenth's 31 is the verdict.
fn dispatching(object: &EbpfObject) -> Option<EbpfObject> {
    let mut object = object.clone();
    let conf = object.maps.iter_mut().find(|m| m.name == ".rodata")?;
    let init = conf.initial.as_mut()?;
    // struct xdp_dispatcher_config (version 2): magic, version, programs
    // enabled, frags; then chain_call_actions[10], run_prios[10],
    // program_flags[10] as u32.
    if init.len() != 124 {
        return None;
    }
    init[2] = 10;
    for slot in 0..9 {
        let at = 4 + 4 * slot;
        init[at..at + 4].copy_from_slice(&(1u32 << 31).to_le_bytes());
    }
    Some(object)
}

/// The XDP objects Debian ships in `xdp-tools` and `libxdp1` (built by
/// their maintainers' clang, not ours): `xdp-filter`'s ten programs with
/// empty filter maps and with entries that match the captures' ports and
/// addresses, `xdpdump`'s capture program, AF_XDP's default program in
/// both versions and the multi-program dispatcher. Each must load here as
/// in the kernel and give the kernel's results on every packet.
#[test]
fn distributed_xdp_objects_agree_with_the_kernel() {
    let Some(packets) = kernel_comparison_frames() else {
        return;
    };
    let dir = distributed_objects_dir();
    let Ok(listing) = std::fs::read_dir(&dir) else {
        return skip(&format!(
            "{} not found: install xdp-tools and libxdp1",
            dir.display()
        ))
        .unwrap_or(());
    };
    let mut files: Vec<_> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .collect();
    files.sort();
    // More objects to hold to the kernel, for a developer's own checks:
    // CRANEBPF_KERNEL_OBJECTS=a.o:b.o.
    if let Ok(more) = std::env::var("CRANEBPF_KERNEL_OBJECTS") {
        files.extend(more.split(':').filter(|p| !p.is_empty()).map(Into::into));
    }
    let mut summary = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).expect("utf-8");
        let bytes = std::fs::read(file).expect("object");
        let object = elf::load(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (at, program) in object.programs.iter().enumerate() {
            // (Debian's are all XDP; objects given in the environment may
            // hold TC and socket-filter programs too.)
            if context_kind(&program.section).is_none() {
                continue;
            }
            let label = format!("{name} {}", program.name);
            summary.push(agree_with_kernel(&label, &object, at, &[], &packets));
            let configured = (program.name == "xdp_dispatcher")
                .then(|| dispatching(&object))
                .flatten();
            if let Some(configured) = configured {
                let ours = PacketProgram::from_object(&configured, at, PacketOptions::default())
                    .expect("the configured dispatcher");
                assert_eq!(ours.run(&packets[0]).expect("a run").action, 31);
                let label = format!("{label} (ten programs chained)");
                summary.push(agree_with_kernel(&label, &configured, at, &[], &packets));
            }
            let preload = filter_preloads(&object, &packets);
            if !preload.is_empty() {
                let label = format!("{label} (matching entries)");
                summary.push(agree_with_kernel(&label, &object, at, &preload, &packets));
            }
        }
    }
    assert!(summary.len() >= 14, "{summary:?}");
    eprintln!("{} packets each; {}", packets.len(), summary.join("; "));
}

/// Every program of `tests/xdp/` as clang builds it at other optimisation
/// levels and for other CPU versions (`-O1`, `-Os`, `-mcpu=v2`, `-mcpu=v3
/// -Os`): the code differs (`-O1` compares packet pointers with `data_end`
/// again, v3 keeps 32-bit registers and spills `data` in 4 bytes), the
/// kernel's verdict must not. Where the kernel refuses, we refuse with its
/// reason; elsewhere every engine gives its results.
#[test]
fn every_program_at_other_levels_and_cpus_agrees_with_the_kernel() {
    let Some(packets) = kernel_comparison_frames() else {
        return;
    };
    let mut files: Vec<&str> = PROGRAMS
        .iter()
        .filter(|p| !p.contains('@'))
        .copied()
        .collect();
    files.sort_unstable();
    let mut summary = Vec::new();
    let mut refusals = Vec::new();
    for file in files {
        for variant in ["generic:O1", "generic:Os", "v2", "v3:Os"] {
            let name = format!("{file}@{variant}");
            let Some(path) = compile(&name) else {
                return;
            };
            let bytes = std::fs::read(&path).expect("object");
            let object = elf::load(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            let at = entry(&object);
            let preload = preloads(file, &object);
            let ours = PacketProgram::from_object(&object, at, PacketOptions::default());
            match try_load_in_kernel(&object, at, &preload) {
                Err(log) => {
                    let reason = log
                        .lines()
                        .rev()
                        .find(|l| !l.starts_with("processed ") && !l.trim().is_empty())
                        .unwrap_or_default()
                        .to_string();
                    let ours = ours.err().map(|e| e.to_string()).unwrap_or_default();
                    assert!(
                        !reason.is_empty() && ours.contains(&reason),
                        "{name}: the kernel refuses ({reason}), we say {ours:?}"
                    );
                    refusals.push(format!("{name}: {reason}"));
                }
                Ok(_) => {
                    ours.unwrap_or_else(|e| panic!("{name}: we refuse what the kernel takes: {e}"));
                    summary.push(agree_with_kernel(&name, &object, at, &preload, &packets));
                }
            }
        }
    }
    eprintln!(
        "{} runs agree; refused by both: {}",
        summary.len(),
        refusals.join("; ")
    );
    assert!(summary.len() >= 100, "{summary:?}");
}

/// `.rodata` settings are the kernel's knowledge when checking: set before
/// loading (`EbpfObject::set_read_only`, `--maps-in`), they decide which
/// code is checked, as in the kernel; once loaded the map is frozen.
#[test]
fn rodata_settings_decide_what_is_checked_as_in_the_kernel() {
    if !support::bpf_available() {
        return;
    }
    let Some(path) = compile("knob") else {
        return;
    };
    let bytes = std::fs::read(&path).expect("object");
    let mut object = elf::load(&bytes).expect("knob.o");
    let at = entry(&object);
    // As built: the unchecked read is never reached (the main test runs
    // it against the kernel); the loaded program's `.rodata` is frozen.
    let ours = PacketProgram::from_object(&object, at, PacketOptions::default()).expect("accepted");
    let e = ours
        .preload(".rodata", &[0; 4], &[1, 0, 0, 0, 7])
        .expect_err("frozen");
    assert!(e.to_string().contains("read-only once loaded"), "{e}");
    // Switched on before loading: both refuse, for the same reason.
    let rodata = object
        .maps
        .iter()
        .find(|m| m.name == ".rodata")
        .expect(".rodata");
    let mut on = rodata.initial.clone().expect("contents");
    on[..4].copy_from_slice(&1u32.to_le_bytes());
    // A value of the wrong size, a map that is not there: named errors.
    let e = object
        .set_read_only(".rodata", &[0; 4], &[1])
        .expect_err("size");
    assert!(
        e.to_string()
            .contains("'.rodata' takes key 00000000 and 5 bytes"),
        "{e}"
    );
    let e = object
        .set_read_only(".nope", &[0; 4], &on)
        .expect_err("no map");
    assert!(e.to_string().contains("no map named '.nope'"), "{e}");
    object.set_read_only(".rodata", &[0; 4], &on).expect("set");
    let Err(log) = try_load_in_kernel(&object, at, &[]) else {
        panic!("the kernel took the unchecked read");
    };
    let ours = PacketProgram::from_object(&object, at, PacketOptions::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let reason = "invalid access to packet, off=100 size=1, R1(id=0,off=100,r=14)";
    assert!(log.contains(reason), "{log}");
    assert!(ours.contains(reason), "{ours}");
    // The command sets `.rodata` entries of --maps-in before loading.
    let run_with_maps = |name: &str, json: &[u8]| {
        let maps_in = support::temp_file(name, json);
        let (code, _, err) = support::cli(&[
            "run",
            "--ebpf",
            path.to_str().expect("utf-8"),
            "--hex",
            "0000000000000000000000000000",
            "--maps-in",
            maps_in.to_str().expect("utf-8"),
        ]);
        (code, err)
    };
    let (code, err) = run_with_maps(
        "knob-maps-in.json",
        br#"{".rodata": [{"key": "00000000", "value": "0100000007"}]}"#,
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(reason), "{err}");
    // A `.rodata` entry of the wrong size is bad input, located.
    let (code, err) = run_with_maps(
        "knob-short.json",
        br#"{".rodata": [{"key": "00000000", "value": "01"}]}"#,
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("map '.rodata', entry 1: key of 4 bytes and value of 1 bytes"),
        "{err}"
    );
}

#[test]
fn unreachable_instructions_are_refused_as_the_kernel_refuses_them() {
    use cranebpf::ebpf::asm::assemble;
    use cranebpf::ebpf::elf::ObjectProgram;
    // (asm, the first unreachable slot: `None` where both accept).
    let cases = [
        ("mov %r0, 2\nja +1\nmov %r0, 1\nexit", Some(2)),
        ("mov %r0, 2\nexit\nmov %r0, 1\nexit", Some(2)),
        // In a function a local call reaches.
        (
            "mov %r0, 0\ncall local +1\nexit\nmov %r0, 1\nja +1\nmov %r0, 5\nexit",
            Some(5),
        ),
        // An lddw skipped: reported at its first slot.
        ("mov %r0, 0\nja +2\nlddw %r0, 5\nexit", Some(2)),
        // Dead on every path, but reachable in the control-flow graph.
        ("mov %r0, 0\njeq %r0, 1, +1\nexit\nmov %r0, 7\nexit", None),
        ("mov %r0, 0\ncall local +1\nexit\nmov %r0, 1\nexit", None),
    ];
    let kernel = support::bpf_available();
    for (asm, unreachable) in cases {
        let program = ObjectProgram {
            name: "prog".into(),
            section: "xdp".into(),
            program: assemble(asm).expect("assembles"),
            btf_functions: false,
            core: Vec::new(),
        };
        let ours = PacketProgram::new(&program, &[], PacketOptions::default());
        match unreachable {
            Some(pc) => {
                let message = ours.err().map(|e| e.to_string()).unwrap_or_default();
                assert!(
                    message.contains(&format!("instruction {pc}: unreachable insn {pc}")),
                    "{asm}: {message}"
                );
            }
            None => assert!(ours.is_ok(), "{asm}: {:?}", ours.err()),
        }
        if kernel {
            let theirs = LoadedProgram::load_as(ProgType::Xdp, &program.program.insns);
            match unreachable {
                Some(pc) => {
                    let log = theirs.err().map(|e| e.log).unwrap_or_default();
                    assert!(
                        log.contains(&format!("unreachable insn {pc}\n")),
                        "{asm}: {log}"
                    );
                }
                None => assert!(theirs.is_ok(), "{asm}: {:?}", theirs.err().map(|e| e.log)),
            }
        }
    }
}

/// The kernel's limit of 1,000,000 processed instructions on loops it
/// walks iteration by iteration: refused at the same instruction (the one
/// after the last the kernel's log shows processed), accepted just below
/// it, and run here with a budget.
#[test]
fn loops_past_the_kernels_instruction_limit_are_refused_where_it_refuses_them() {
    use cranebpf::ebpf::asm::assemble;
    use cranebpf::ebpf::elf::ObjectProgram;
    let counted = |n: u32| {
        format!("mov %r0, 0\nmov %r2, 0\nadd %r0, %r2\nadd %r2, 1\njlt %r2, {n}, -3\nexit")
    };
    // 32-bit counters, nested: 1,003 instructions per outer iteration.
    let nested = |outer: u32| {
        format!(
            "mov %r0, 0\nmov32 %r3, 0\nmov32 %r2, 0\nadd32 %r2, 1\njlt32 %r2, 500, -2\n\
             add32 %r3, 1\njlt32 %r3, {outer}, -5\nexit"
        )
    };
    // (asm, the last instruction the kernel processes, the one it
    // refuses and the return value of a run with a budget: `None` where
    // both accept). Two instructions, three per iteration and the exit:
    // 333,332 iterations are 999,999.
    let cases = [
        (counted(333_332), None),
        (counted(333_333), Some((3, 4, 333_333 * 333_332 / 2))),
        (nested(997), None),
        (nested(1000), Some((4, 3, 0))),
    ];
    let kernel = support::bpf_available();
    for (asm, refused) in &cases {
        let program = ObjectProgram {
            name: "prog".into(),
            section: "xdp".into(),
            program: assemble(asm).expect("assembles"),
            btf_functions: false,
            core: Vec::new(),
        };
        let ours = PacketProgram::new(&program, &[], PacketOptions::default());
        match refused {
            Some((_, pc, sum)) => {
                let message = ours.err().map(|e| e.to_string()).unwrap_or_default();
                assert!(
                    message.contains(&format!(
                        "instruction {pc}: BPF program is too large. Processed 1000001 insn"
                    )),
                    "{asm}: {message}"
                );
                // With a budget the loop runs to its end.
                let options = PacketOptions {
                    budget: Some(10_000_000),
                    ..PacketOptions::default()
                };
                let budgeted = PacketProgram::new(&program, &[], options).expect("budgeted");
                let result = budgeted.run(&[0u8; 64]).expect("runs");
                assert_eq!(result.action, *sum, "{asm}");
            }
            None => assert!(ours.is_ok(), "{asm}: {:?}", ours.err()),
        }
        if kernel {
            let theirs = LoadedProgram::load_as(ProgType::Xdp, &program.program.insns);
            match refused {
                Some((last, _, _)) => {
                    let log = theirs.err().map(|e| e.log).unwrap_or_default();
                    let tail: Vec<&str> = log.lines().rev().take(3).collect();
                    assert!(
                        tail.iter()
                            .any(|l| l
                                .starts_with("BPF program is too large. Processed 1000001 insn"))
                            && tail.iter().any(|l| l.starts_with(&format!("{last}: "))),
                        "{asm}: {log}"
                    );
                }
                None => assert!(theirs.is_ok(), "{asm}: {:?}", theirs.err().map(|e| e.log)),
            }
        }
    }
}

#[test]
fn functions_of_text_are_linked_as_libbpf_links_them() {
    let Some(path) = compile("subprogs") else {
        return;
    };
    let object = elf::load(&std::fs::read(&path).expect("object")).expect("loads");
    let program = |name: &str| {
        let p = object
            .programs
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no program {name}"));
        p.program.insns.clone()
    };
    // Each local call's (slot, callee), and the functions' first slots.
    let calls = |insns: &[cranebpf::ebpf::insn::Insn]| -> Vec<(usize, usize)> {
        insns
            .iter()
            .enumerate()
            .filter(|(_, i)| i.is_local_call())
            .map(|(pc, i)| (pc, (pc as i64 + 1 + i64::from(i.imm)) as usize))
            .collect()
    };
    let exits =
        |insns: &[cranebpf::ebpf::insn::Insn]| insns.iter().filter(|i| i.opc == 0x95).count();
    // count_all reaches bump only: its body, then bump, nothing after.
    let count_all = program("count_all");
    let count_calls = calls(&count_all);
    assert_eq!(count_calls.len(), 1, "{count_calls:?}");
    let bump = count_calls[0].1;
    assert_eq!(exits(&count_all[..bump]), 1);
    assert_eq!(exits(&count_all[bump..]), 1, "only bump after the program");
    // entry: ether_type, then classify (its calls in order), then bump
    // (classify's), each appended after the last.
    let entry = program("entry");
    let entry_calls = calls(&entry);
    assert_eq!(entry_calls.len(), 3, "{entry_calls:?}");
    let (ether_type, classify, bump) = (entry_calls[0].1, entry_calls[1].1, entry_calls[2].1);
    assert!(entry_calls[1].0 < ether_type, "{entry_calls:?}");
    assert!(
        ether_type < classify && classify < entry_calls[2].0,
        "{entry_calls:?}"
    );
    assert!(entry_calls[2].0 < bump, "{entry_calls:?}");
    assert_eq!(exits(&entry[bump..]), 1, "bump last");
    assert_eq!(
        &entry[bump..],
        &count_all[count_calls[0].1..],
        "the same bump"
    );
    // The kernel takes both programs as linked (a function nothing calls
    // would be an unreachable instruction there).
    if support::bpf_available() {
        let maps: Vec<KernelMap> = object.maps.iter().map(|d| create_map(d, 0)).collect();
        for p in &object.programs {
            let mut insns = p.program.insns.clone();
            for insn in insns
                .iter_mut()
                .filter(|i| i.is_lddw() && i.src == PSEUDO_MAP_FD)
            {
                insn.imm = maps[insn.imm as usize].fd();
            }
            if let Err(e) = LoadedProgram::load_licensed(ProgType::Xdp, &insns, "GPL") {
                panic!("the kernel refused {}: {}", p.name, e.log);
            }
        }
    }
}

/// Runs `bpftool` with `args`; its stdout, or a panic with its stderr.
fn bpftool(args: &[&str]) -> String {
    let out = Command::new("bpftool")
        .args(args)
        .output()
        .expect("bpftool runs");
    assert!(
        out.status.success(),
        "bpftool {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// CO-RE relocations (`tests/xdp/core.c`: kernel types declared as
/// another kernel might have them — subsets, other orders, flavours,
/// fields and types that do not exist, bit-fields, enum values, type ids,
/// the XDP context read through a flavour with its fields swapped and
/// widened) resolved against the running kernel's BTF: libbpf's own
/// resolution, through `bpftool prog load`, run by the kernel, against
/// `elf::load_with` on both our engines. Every resolved value lands in a
/// map; the return values show the context reads.
#[test]
fn core_relocations_resolve_against_the_kernel_as_libbpf_resolves_them() {
    let Some(obj) = compile("core") else {
        return;
    };
    let Some((object, their_results)) = core_against_libbpf(&obj) else {
        return;
    };
    assert_eq!(
        (
            object.core_relocations,
            object.core_resolved,
            object.core_poisoned()
        ),
        (28, true, 1)
    );
    // As compiled, the values are the object's own.
    let bytes = std::fs::read(&obj).expect("object");
    assert!(!elf::load(&bytes).expect("loads").core_resolved);
    // The kernel's values are not the object's own (else this proves
    // nothing): the context's fields moved, `sk_buff` is bigger.
    assert_ne!(their_results[0], 0);
    assert_eq!(their_results[25], 12345);
}

/// `bpf_core_type_matches` (`tests/xdp/core_matches.c`, built with
/// clang-19: this Debian's clang, 14, cannot emit it): local types that
/// match the kernel's and types that do not (members by name in any
/// order and subset, integer sizes and signs, kinds, enumerators,
/// arrays, pointers, function pointers, typedefs), resolved by libbpf
/// and by us to the same values, as [`core_against_libbpf`] holds them.
#[test]
fn core_type_matches_resolve_as_libbpf_resolves_them() {
    let Some(obj) = compile("core_matches%clang-19") else {
        return;
    };
    let Some((object, results)) = core_against_libbpf(&obj) else {
        return;
    };
    assert_eq!(object.core_relocations, 25);
    // Both outcomes occur (as libbpf resolved them on Linux 6.18: the
    // same context, a subset, enums, a typedef, self and kernel pointers,
    // function pointers and a byte array match; a wider or signed field,
    // an extra member, another kind, an unknown type or enumerator, a
    // member inside the kernel's anonymous unions, a shorter array and a
    // char array of another sign do not).
    let matched: Vec<usize> = (0..25).filter(|&i| results[i] == 1).collect();
    assert!(matched.len() > 5 && matched.len() < 20, "{results:?}");
}

/// Loads `obj` (its program `core`, writing to its 32-slot array map
/// `results`) with libbpf through `bpftool -d prog load` and with
/// `elf::load_with` against the running kernel's BTF: each CO-RE
/// relocation must resolve as libbpf's debug log says (description,
/// instruction, value before and after, or poisoned), and the kernel's
/// test runs and both our engines must give the same return values on a
/// few frames and the same `results`. Returns our object and the
/// results; `None` (a skip, a failure under CI) without bpf() or
/// bpftool.
fn core_against_libbpf(obj: &Path) -> Option<(EbpfObject, Vec<u64>)> {
    if !support::bpf_available() {
        return None;
    }
    if Command::new("bpftool").arg("version").output().is_err() {
        return skip("bpftool not installed");
    }
    let bytes = std::fs::read(obj).expect("object");
    let btf = std::fs::read(elf::KERNEL_BTF).expect("the running kernel's BTF");
    let core = elf::CoreTypes::Btf {
        btf: &btf,
        name: elf::KERNEL_BTF,
    };
    let object = elf::load_with(&bytes, core).expect("relocated");
    assert!(object.core_resolved);

    let mut packets = support::realworld_frames(1);
    packets.truncate(6);
    // (An XDP test run takes no frame shorter than an Ethernet header.)
    packets.push(vec![0; 14]);
    packets.push([vec![0; 12], vec![0x86, 0xdd], vec![0; 40]].concat());
    // The kernel's side, loaded by libbpf.
    support::mount_bpffs();
    let stem = obj.file_stem().and_then(|s| s.to_str()).expect("a name");
    let pin = format!("/sys/fs/bpf/cranebpf-{stem}-{}", std::process::id());
    let maps_dir = format!("{pin}-maps");
    std::fs::create_dir_all(&maps_dir).expect("bpffs directory");
    let obj_path = obj.to_str().expect("utf-8 path");
    /// Unpins the program and its maps however the test ends.
    struct Pinned(String, String);
    impl Drop for Pinned {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let _pinned = Pinned(pin.clone(), maps_dir.clone());
    let load = Command::new("bpftool")
        .args(["-d", "prog", "load", obj_path, &pin, "pinmaps", &maps_dir])
        .output()
        .expect("bpftool runs");
    let log = String::from_utf8_lossy(&load.stderr);
    assert!(load.status.success(), "bpftool prog load: {log}");
    // libbpf's debug log of each relocation: its description, then the
    // instruction it patched (the first change: the offset or immediate
    // before a load's size) or poisoned.
    let mut libbpf: Vec<elf::CoreRelocation> = Vec::new();
    for line in log.lines() {
        let Some(rest) = line.strip_prefix("libbpf: prog 'core': relo #") else {
            continue;
        };
        let (n, what) = rest.split_once(": ").expect("relo #N: ...");
        let n: usize = n.parse().expect("a relocation number");
        if what.starts_with('<') {
            assert_eq!(n, libbpf.len(), "{log}");
            libbpf.push(elf::CoreRelocation {
                section: "xdp".into(),
                insn: usize::MAX,
                spec: what.to_string(),
                patched: None,
            });
        } else if let Some(patched) = what.strip_prefix("patched insn #") {
            let (insn, change) = patched.split_once(' ').expect("insn #N (...) ...");
            if libbpf[n].insn == usize::MAX {
                let (from, to) = change.rsplit_once(" -> ").expect("A -> B");
                let from = from.rsplit(' ').next().expect("A");
                libbpf[n].insn = insn.parse().expect("an instruction");
                libbpf[n].patched = Some((
                    from.parse().expect("a number"),
                    to.parse().expect("a number"),
                ));
            }
        } else if let Some(insn) = what.strip_prefix("substituting insn #") {
            let insn = insn.split(' ').next().expect("insn #N w/ ...");
            libbpf[n].insn = insn.parse().expect("an instruction");
        }
    }
    assert_eq!(
        object.core_applied, libbpf,
        "each relocation as libbpf resolved it"
    );
    let input = support::temp_path("core-packet");
    let mut theirs = Vec::new();
    for p in &packets {
        std::fs::write(&input, p).expect("packet file");
        let shown = bpftool(&[
            "prog",
            "run",
            "pinned",
            &pin,
            "data_in",
            input.to_str().expect("utf-8 path"),
            "repeat",
            "1",
        ]);
        let action = shown
            .split("Return value: ")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|r| r.trim().parse::<u64>().ok())
            .unwrap_or_else(|| panic!("bpftool prog run said {shown}"));
        theirs.push(action);
    }
    let dump = bpftool(&[
        "-j",
        "map",
        "dump",
        "pinned",
        &format!("{maps_dir}/results"),
    ]);
    let dump: serde_json::Value = serde_json::from_str(&dump).expect("bpftool's JSON");
    let their_results: Vec<u64> = dump
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| {
            // The value's bytes, as "0x.." strings.
            let bytes: Vec<u8> = e["value"]
                .as_array()
                .expect("the value's bytes")
                .iter()
                .map(|b| {
                    let b = b.as_str().expect("a byte");
                    u8::from_str_radix(b.trim_start_matches("0x"), 16).expect("hex")
                })
                .collect();
            u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
        })
        .collect();
    assert_eq!(their_results.len(), 32);

    for engine in [Engine::Interp, Engine::Jit] {
        let options = PacketOptions {
            engine: Some(engine),
            ..PacketOptions::default()
        };
        let ours = PacketProgram::from_object(&object, 0, options)
            .unwrap_or_else(|e| panic!("core ({engine}): {e}"));
        let actions: Vec<u64> = packets
            .iter()
            .map(|p| ours.run(p).expect("runs").action)
            .collect();
        assert_eq!(actions, theirs, "core ({engine}): return values");
        let (_, entries) = ours
            .map_entries()
            .into_iter()
            .find(|(name, _)| name == "results")
            .expect("the results map");
        let ours_results: Vec<u64> = entries
            .iter()
            .map(|(_, v)| u64::from_le_bytes(v[..8].try_into().expect("8 bytes")))
            .collect();
        assert_eq!(
            ours_results, their_results,
            "core ({engine}): resolved values"
        );
    }
    Some((object, their_results))
}

/// Helpers this runtime does not serve (`tests/xdp/future_helper.c`:
/// ids 999 and 998, past any kernel's), called in branches that are dead
/// where the program is loaded — behind a `.rodata` setting and behind a
/// CO-RE test of the kernel's `enum bpf_func_id` — are refused only where
/// a path reaches them, as the kernel refuses them: as built and
/// resolved against the kernel's BTF, both take it and agree on every
/// packet; with the setting on, or the CO-RE test left as compiled (the
/// object's own enum has the helper), both refuse, at the same call.
#[test]
fn unserved_helpers_are_refused_only_where_reached_as_in_the_kernel() {
    let Some(packets) = kernel_comparison_frames() else {
        return;
    };
    let Some(path) = compile("future_helper") else {
        return;
    };
    let bytes = std::fs::read(&path).expect("object");
    let btf = std::fs::read(elf::KERNEL_BTF).expect("the running kernel's BTF");
    let core = elf::CoreTypes::Btf {
        btf: &btf,
        name: elf::KERNEL_BTF,
    };
    let resolved = elf::load_with(&bytes, core).expect("future_helper.o");
    let at = entry(&resolved);
    agree_with_kernel("future_helper", &resolved, at, &[], &packets);

    // Both refuse, at the call the kernel names: "N: (85) call unknown#ID".
    let refused_alike = |object: &EbpfObject, id: u32| {
        let Err(log) = try_load_in_kernel(object, at, &[]) else {
            panic!("the kernel took a reachable call of helper {id}");
        };
        let call = format!(": (85) call unknown#{id}\ninvalid func unknown#{id}");
        let line = log
            .lines()
            .find(|l| l.ends_with(&format!(": (85) call unknown#{id}")))
            .unwrap_or_else(|| panic!("{log}"));
        assert!(log.contains(&call), "{log}");
        let pc = line.split(':').next().expect("N:");
        for engine in [Engine::Interp, Engine::Jit] {
            let options = PacketOptions {
                engine: Some(engine),
                ..PacketOptions::default()
            };
            let ours = PacketProgram::from_object(object, at, options)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                ours.contains(&format!(
                    "instruction {pc}: call to unregistered helper {id}"
                )),
                "{engine}: {ours}"
            );
        }
    };
    let mut on = resolved.clone();
    on.set_read_only(".rodata", &[0; 4], &1u32.to_le_bytes())
        .expect("set");
    refused_alike(&on, 999);
    let as_compiled = elf::load(&bytes).expect("future_helper.o");
    refused_alike(&as_compiled, 998);
}

/// A TC program's legacy loads are expanded into several instructions
/// each before the checks; a refusal after them is named at the kernel's
/// instruction (it was named at the expanded program's: 20 for the
/// kernel's 12).
#[test]
fn refusals_after_legacy_loads_name_the_kernels_instruction() {
    if kernel_comparison_frames().is_none() {
        return;
    }
    let Some(path) = compile("tc_legacy_refused") else {
        return;
    };
    let object = elf::load(&std::fs::read(&path).expect("object")).expect("tc_legacy_refused.o");
    let at = entry(&object);
    let Err(log) = try_load_in_kernel(&object, at, &[]) else {
        panic!("the kernel took tc_legacy_refused.o");
    };
    // "N: (61) r7 = *(u32 *)(r1 +0)", then the reason.
    let reason = "R1 invalid mem access 'scalar'";
    let lines: Vec<&str> = log.lines().collect();
    let at_reason = lines
        .iter()
        .position(|l| *l == reason)
        .unwrap_or_else(|| panic!("{log}"));
    let pc = lines[at_reason - 1].split(':').next().expect("N:");
    for engine in [Engine::Interp, Engine::Jit] {
        let options = PacketOptions {
            engine: Some(engine),
            ..PacketOptions::default()
        };
        let ours = PacketProgram::from_object(&object, at, options)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            ours.contains(&format!("instruction {pc}: {reason}")),
            "{engine}: {ours}; the kernel: {log}"
        );
    }
}

/// Run-time errors of a TC program whose legacy loads were expanded name
/// the instruction as the program was given: a budget that runs out
/// inside the expansion of the load at slot 3 names slot 3 on both
/// engines (it named the expanded program's slot).
#[test]
fn run_time_errors_after_legacy_loads_name_the_original_instruction() {
    let Some(path) = compile("tc_legacy") else {
        return;
    };
    let object = elf::load(&std::fs::read(&path).expect("object")).expect("tc_legacy.o");
    let at = entry(&object);
    let load = object.programs[at].program.insns[3];
    assert_eq!(
        load.class(),
        0x00,
        "slot 3 is the first legacy load: {load:?}"
    );
    let mut frame = vec![0u8; 60];
    frame[12] = 0x08;
    for budget in [3, 4, 5] {
        for engine in [Engine::Interp, Engine::Jit] {
            let options = PacketOptions {
                engine: Some(engine),
                budget: Some(budget),
                ..PacketOptions::default()
            };
            let program = PacketProgram::from_object(&object, at, options).expect("loads");
            assert_eq!(
                program.run(&frame).err(),
                Some(cranebpf::ebpf::ExecError::BudgetExhausted { pc: 3 }),
                "{engine}, budget {budget}"
            );
        }
    }
}
