//! ns/packet of each engine (reference classic interpreter, eBPF
//! interpreter over the translation, JIT) on tcpdump-sized filters, over a
//! realistic packet mix held in one contiguous buffer.

use cranebpf::expr::{compile_expr, LinkType};
use cranebpf::{Engine, Filter, FilterOptions};
use cranebpf_harness::synth::packet_mix;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

/// Filters of the sizes tcpdump users write (4 to ~30 instructions).
const FILTERS: [&str; 5] = [
    "ip",
    "tcp port 443",
    "host 8.8.8.8 and udp port 53",
    "tcp[tcpflags] & (tcp-syn|tcp-fin) != 0 and not src net 192.168.0.0/16",
    "portrange 1-1023 or ip6 or vlan",
];

fn engines(c: &mut Criterion) {
    let mix = packet_mix(1, 10_000);
    let buffer = mix.concat();
    let mut packets = Vec::with_capacity(mix.len());
    let mut at = 0;
    for p in &mix {
        packets.push(&buffer[at..at + p.len()]);
        at += p.len();
    }
    for text in FILTERS {
        let program = compile_expr(text, LinkType::Ethernet).expect("filter compiles");
        let mut group = c.benchmark_group(format!("{text} ({} insns)", program.insns.len()));
        group.throughput(Throughput::Elements(packets.len() as u64));
        for engine in Engine::ALL {
            let options = FilterOptions {
                engine: Some(engine),
                ..FilterOptions::default()
            };
            let filter = Filter::with_options(program.clone(), options).expect("filter builds");
            group.bench_with_input(BenchmarkId::from_parameter(engine), &packets, |b, ps| {
                // One runner per batch, as `run_batch` and `cranebpf filter`
                // use them: set up once, then each packet.
                b.iter(|| {
                    let mut runner = filter.runner();
                    let mut matched = 0u32;
                    for p in ps {
                        matched += u32::from(runner.run(black_box(p)) != 0);
                    }
                    matched
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, engines);
criterion_main!(benches);
