//! Expression compile time: `cranebpf::compile_expr` against libpcap's
//! `pcap_compile` (optimised, EN10MB) on the filters and on or-ed
//! host lists, port and network lists and a deny-list shape, whose
//! optimisation is superlinear in libpcap. Labels carry both instruction counts (ours / libpcap's).

use std::hint::black_box;

use cranebpf::expr::{compile_expr, LinkType};
use cranebpf_bench::peers::PcapCompiler;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// `n` distinct IPv4 hosts, or-ed.
fn hosts(n: usize) -> String {
    (1..=n)
        .map(|i| format!("host 10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// `n` or-ed terms made by `term` from 0..n.
fn list(n: usize, term: impl Fn(usize) -> String) -> String {
    (0..n).map(term).collect::<Vec<_>>().join(" or ")
}

fn filters() -> Vec<(&'static str, String)> {
    vec![
        ("ip and udp", "ip and udp".into()),
        ("tcp port 443", "tcp port 443".into()),
        (
            "udp 53/123 not 10/8",
            "udp and (port 53 or port 123) and not net 10.0.0.0/8".into(),
        ),
        ("10 hosts", hosts(10)),
        ("40 hosts", hosts(40)),
        ("100 hosts", hosts(100)),
        (
            "deny 40 hosts, tcp 443",
            format!("not ({}) and tcp port 443", hosts(40)),
        ),
        ("100 ports", list(100, |i| format!("port {}", 1000 + i))),
        ("100 nets", list(100, |i| format!("net 10.{i}.0.0/16"))),
        (
            "tcp and 100 ports",
            format!("tcp and ({})", list(100, |i| format!("port {}", 1000 + i))),
        ),
    ]
}

fn expr_compile(c: &mut Criterion) {
    let pcap = PcapCompiler::ethernet();
    let mut group = c.benchmark_group("expr_compile");
    group.sample_size(10);
    for (name, text) in filters() {
        let ours = compile_expr(&text, LinkType::Ethernet).expect("compiles");
        let label = format!("{name} ({} / {} insns)", ours.len(), pcap.compile(&text));
        group.bench_with_input(BenchmarkId::new("cranebpf", &label), &text, |b, t| {
            b.iter(|| compile_expr(black_box(t), LinkType::Ethernet).expect("compiles"))
        });
        group.bench_with_input(BenchmarkId::new("pcap_compile", &label), &text, |b, t| {
            b.iter(|| pcap.compile(black_box(t)))
        });
    }
    group.finish();
}

criterion_group!(benches, expr_compile);
criterion_main!(benches);
