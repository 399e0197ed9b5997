//! XDP programs over a capture: the clang-built objects of `tests/xdp/`
//! (with their maps) and the `compile --xdp` translation of `tcp port 443`,
//! on our eBPF interpreter and JIT, against a native Rust twin of
//! `parse.c`; per packet of `examples/sample.pcap` (400 packets, a mix of
//! TCP, UDP, ARP, IPv6, LLDP).
//!
//! Also each object's load against the kernel's through libbpf.
//!
//! `cargo bench -p cranebpf-bench --bench xdp` (needs clang with libbpf's
//! headers; the kernel's rows need libbpf and root).

use cranebpf::ebpf::elf::{self, ObjectProgram};
use cranebpf::ebpf::runtime::{PacketOptions, PacketProgram};
use cranebpf::expr::{compile_expr, LinkType};
use cranebpf::translate::xdp::translate_xdp;
use cranebpf::Engine;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn object(name: &str) -> Vec<u8> {
    let src = root().join(format!("tests/xdp/{name}.c"));
    let out = std::env::temp_dir().join(format!("cranebpf-bench-{name}.o"));
    let multiarch = format!("-I/usr/include/{}-linux-gnu", std::env::consts::ARCH);
    let ok = Command::new("clang")
        .args(["-O2", "-g", "-target", "bpf", "-c", &multiarch])
        .arg(&src)
        .arg("-o")
        .arg(&out)
        .status()
        .expect("clang (with libbpf's headers) is needed for this bench")
        .success();
    assert!(ok, "clang {name}.c failed");
    std::fs::read(&out).expect("object")
}

fn packets() -> Vec<Vec<u8>> {
    let bytes = std::fs::read(root().join("examples/sample.pcap")).expect("sample.pcap");
    cranebpf::capture::packets(&bytes)
        .expect("readable")
        .into_iter()
        .map(|(_, p)| p.data.to_vec())
        .collect()
}

/// `parse.c` in Rust: the same walk and the same counting.
struct NativeParse {
    ports: HashMap<u32, u64>,
    stats: [u32; 8],
}

impl NativeParse {
    fn run(&mut self, p: &[u8]) -> u32 {
        const DROP: u32 = 1;
        const PASS: u32 = 2;
        let be16 = |at: usize| p.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        let Some(mut proto) = be16(12) else {
            return DROP;
        };
        let mut cur = 14;
        for _ in 0..2 {
            if proto != 0x8100 && proto != 0x88a8 {
                break;
            }
            let Some(next) = be16(cur + 2) else {
                return DROP;
            };
            proto = next;
            cur += 4;
            self.stats[0] += 1;
        }
        let l4proto;
        if proto == 0x0800 {
            if p.len() < cur + 20 {
                return DROP;
            }
            l4proto = u32::from(p[cur + 9]);
            cur += usize::from(p[cur] & 0xf) * 4;
        } else if proto == 0x86dd {
            if p.len() < cur + 40 {
                return DROP;
            }
            let mut nh = p[cur + 6];
            cur += 40;
            for _ in 0..4 {
                if nh == 44 {
                    self.stats[2] += 1;
                    return DROP;
                }
                if nh != 0 && nh != 43 && nh != 60 {
                    break;
                }
                if p.len() < cur + 2 {
                    return DROP;
                }
                nh = p[cur];
                cur += (usize::from(p[cur + 1]) + 1) * 8;
                self.stats[1] += 1;
            }
            l4proto = u32::from(nh);
        } else {
            self.stats[4] += 1;
            return PASS;
        }
        let port = match l4proto {
            6 if p.len() >= cur + 20 => be16(cur + 2).map_or(0, u32::from),
            17 if p.len() >= cur + 8 => be16(cur + 2).map_or(0, u32::from),
            6 | 17 => {
                self.stats[3] += 1;
                return DROP;
            }
            _ => 0,
        };
        *self.ports.entry((l4proto << 16) | port).or_insert(0) += 1;
        PASS
    }
}

fn xdp(c: &mut Criterion) {
    let packets = packets();
    let tcp443 = compile_expr("tcp port 443", LinkType::Ethernet).expect("compiles");
    let translated = ObjectProgram {
        name: "xdp_filter".into(),
        section: "xdp".into(),
        program: translate_xdp(&tcp443).expect("translates"),
        btf_functions: false,
        core: Vec::new(),
    };
    let mut programs = vec![(
        "compile --xdp 'tcp port 443'".to_string(),
        translated,
        Vec::new(),
    )];
    for name in ["counter", "parse"] {
        let obj = elf::load(&object(name)).expect("loads");
        programs.push((name.to_string(), obj.programs[0].clone(), obj.maps));
    }
    for (name, program, maps) in &programs {
        let mut g = c.benchmark_group(format!("xdp/{name}"));
        g.throughput(Throughput::Elements(packets.len() as u64));
        let mut actions = Vec::new();
        for engine in Engine::EBPF {
            let options = PacketOptions {
                engine: Some(engine),
                trace: false,
                ..PacketOptions::default()
            };
            let p = PacketProgram::new(program, maps, options).expect("prepares");
            actions.push(
                packets
                    .iter()
                    .map(|pk| p.run(pk).expect("runs").action)
                    .collect::<Vec<_>>(),
            );
            g.bench_function(engine.name(), |b| {
                b.iter(|| {
                    for pk in &packets {
                        black_box(p.action(black_box(pk)).ok());
                    }
                })
            });
        }
        assert_eq!(actions[0], actions[1], "{name}: the engines differ");
        if name == "parse" {
            let mut native = NativeParse {
                ports: HashMap::new(),
                stats: [0; 8],
            };
            let theirs: Vec<u64> = packets.iter().map(|p| u64::from(native.run(p))).collect();
            assert_eq!(theirs, actions[0], "the native twin differs");
            g.bench_function("native", |b| {
                b.iter(|| {
                    for pk in &packets {
                        black_box(native.run(black_box(pk)));
                    }
                })
            });
        }
        g.finish();
    }
}

/// Loading an object, from its bytes to a program ready to run: ours
/// (ELF, maps, verifier and the JIT's compile) against the kernel's
/// through libbpf (BTF, maps, verifier, the kernel's JIT), one
/// single-program object at a time.
fn load(c: &mut Criterion) {
    cranebpf_bench::libbpf::quiet();
    for name in ["counter", "lpm", "bounds", "vlan", "tc_nat", "parse"] {
        let bytes = object(name);
        let mut g = c.benchmark_group(format!("load/{name}"));
        for engine in Engine::EBPF {
            let options = PacketOptions {
                engine: Some(engine),
                trace: false,
                ..PacketOptions::default()
            };
            g.bench_function(engine.name(), |b| {
                b.iter(|| {
                    let obj = elf::load(black_box(&bytes)).expect("loads");
                    black_box(
                        PacketProgram::new(&obj.programs[0], &obj.maps, options.clone())
                            .expect("prepares"),
                    );
                })
            });
        }
        match cranebpf_bench::libbpf::load_and_close(&bytes) {
            Ok(()) => {
                g.bench_function("kernel (libbpf)", |b| {
                    b.iter(|| cranebpf_bench::libbpf::load_and_close(black_box(&bytes)))
                });
            }
            Err(e) => {
                eprintln!("load/{name}: no kernel row: libbpf's load failed ({e}); needs root")
            }
        }
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = xdp, load
}
criterion_main!(benches);
