//! cranebpf against its peers in one criterion run, on the same packets
//! and filters (`cranebpf_bench::workload`):
//!
//! - `hot/<filter>/<engine>`: one iteration runs every packet of the mix
//!   (ns per packet = time / packets; criterion reports it as throughput);
//! - `compile/<filter>/<compiler>`: one iteration builds the filter from a
//!   parsed classic program (or, for `pcap_compile` and `expr`, from the
//!   expression text).
//!
//! `cargo run -p cranebpf-bench --bin bench-table` turns the results into
//! the README's tables.

use std::hint::black_box;
use std::time::Duration;

use cranebpf::jit::JitOptions;
use cranebpf::{compile_expr, Engine, Filter, FilterOptions, LinkType};
use cranebpf_bench::peers::{self, RBPF_MBUFF};
use cranebpf_bench::workload::{big_workload, workloads, Mix, Workload, MIX_PACKETS};
use cranebpf_harness::kernel::classic::SocketPair;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode, Throughput};

fn filter_on(w: &Workload, engine: Engine) -> Filter {
    let options = FilterOptions {
        engine: Some(engine),
        ..FilterOptions::default()
    };
    Filter::with_options(w.program.clone(), options).expect("filter builds")
}

fn hot(c: &mut Criterion) {
    let mut mix = Mix::new();
    let ranges = mix.ranges().to_vec();
    for w in workloads() {
        let mut g = c.benchmark_group(format!("hot/{}", w.id));
        g.throughput(Throughput::Elements(MIX_PACKETS as u64));
        let packets = mix.packets();
        let count = |v: u32| u32::from(v != 0);
        // The packets are hidden from the optimiser once per iteration, not
        // one by one: a `black_box` per packet put each packet's slice
        // through the stack, a 16-byte store read back as two 8-byte loads,
        // which AMD Zen hosts do not forward. That stall landed on whichever
        // rows the compiler happened to lay out that way (up to 40 % of a
        // 2 ns filter, moving from row to row between builds). Every
        // filter here is called through a pointer the compiler cannot see
        // through (native code, FFI, or `black_box`ed below).

        let jit = filter_on(&w, Engine::Jit);
        // The same leaf code through Cranelift (what aarch64 hosts run).
        let cranelift = Filter::with_options(
            w.program.clone(),
            FilterOptions {
                engine: Some(Engine::Jit),
                jit: JitOptions {
                    direct: false,
                    ..JitOptions::default()
                },
                ..FilterOptions::default()
            },
        )
        .expect("filter builds");
        let (cbpf, interp) = (filter_on(&w, Engine::Cbpf), filter_on(&w, Engine::Interp));
        // Per packet through a runner, as `cranebpf filter` runs them.
        for (id, f) in [
            ("cranebpf-jit-runner", &jit),
            ("cranebpf-jit-cranelift-runner", &cranelift),
            ("cranebpf-cbpf-interp", &cbpf),
            ("cranebpf-ebpf-interp", &interp),
        ] {
            g.bench_function(id, |b| {
                b.iter(|| {
                    let mut runner = f.runner();
                    black_box(&packets[..])
                        .iter()
                        .map(|p| count(runner.run(p)))
                        .sum::<u32>()
                })
            });
        }
        g.bench_function("cranebpf-jit-filter-run", |b| {
            b.iter(|| {
                black_box(&packets[..])
                    .iter()
                    .map(|p| count(jit.run(p)))
                    .sum::<u32>()
            })
        });
        let mut verdicts = vec![0u32; packets.len()];
        g.bench_function("cranebpf-jit-batch", |b| {
            b.iter(|| {
                jit.run_batch(black_box(&packets), &mut verdicts);
                verdicts.iter().map(|&v| count(v)).sum::<u32>()
            })
        });

        let native = black_box(w.native.expect("hot-path workloads have a native twin"));
        g.bench_function("hand-written-rust", |b| {
            b.iter(|| {
                black_box(&packets[..])
                    .iter()
                    .map(|p| count(native(p)))
                    .sum::<u32>()
            })
        });
        // The same function inlined into the loop: no call per packet, so
        // the row above minus this one is what a call costs this host
        // (the floor under `Filter::run` − batch), and libpcap over this
        // one bounds what any per-packet engine can gain on libpcap here.
        let inlined = black_box(w.native_inlined.expect("and an inlined one"));
        g.bench_function("hand-written-rust-inlined", |b| {
            b.iter(|| inlined(black_box(&packets[..])))
        });
        let insns = peers::bpf_insns(&w.program);
        g.bench_function("libpcap-bpf_filter", |b| {
            b.iter(|| {
                black_box(&packets[..])
                    .iter()
                    .map(|p| count(peers::libpcap_filter(&insns, p)))
                    .sum::<u32>()
            })
        });
        let bpfjit = peers::bpfjit_compile(&insns);
        g.bench_function("bpfjit", |b| {
            b.iter(|| {
                black_box(&packets[..])
                    .iter()
                    .map(|p| u32::from(bpfjit.matched(p)))
                    .sum::<u32>()
            })
        });
        drop(packets);

        let prog = peers::rbpf_program(&jit.translation().expect("Linux dialect").insns);
        let mut vm = rbpf::EbpfVmMbuff::new(Some(&prog)).expect("rbpf verifies");
        vm.jit_compile().expect("rbpf JIT");
        vm.cranelift_compile().expect("rbpf Cranelift");
        let buffer = mix.buffer_mut();
        g.bench_function("rbpf-interp", |b| {
            b.iter(|| {
                let mut n = 0;
                for &(at, len) in &ranges {
                    let p = &buffer[at..at + len];
                    let mut mbuff = [0u8; RBPF_MBUFF];
                    peers::rbpf_mbuff(&mut mbuff, p);
                    n += count(vm.execute_program(black_box(p), &mbuff).expect("runs") as u32);
                }
                n
            })
        });
        g.bench_function("rbpf-jit", |b| {
            b.iter(|| {
                let mut n = 0;
                for &(at, len) in &ranges {
                    let p = &mut buffer[at..at + len];
                    let mut mbuff = [0u8; RBPF_MBUFF];
                    peers::rbpf_mbuff(&mut mbuff, p);
                    // SAFETY: the rewritten program reads only the packet
                    // (each load checked against the length in mbuff),
                    // mbuff and its own stack.
                    let r = unsafe { vm.execute_program_jit(black_box(p), &mut mbuff) };
                    n += count(r.expect("runs") as u32);
                }
                n
            })
        });
        g.bench_function("rbpf-cranelift", |b| {
            b.iter(|| {
                let mut n = 0;
                for &(at, len) in &ranges {
                    let p = &mut buffer[at..at + len];
                    let mut mbuff = [0u8; RBPF_MBUFF];
                    peers::rbpf_mbuff(&mut mbuff, p);
                    let r = vm.execute_program_cranelift(black_box(p), &mut mbuff);
                    n += count(r.expect("runs") as u32);
                }
                n
            })
        });
        g.finish();
    }
}

fn compile(c: &mut Criterion) {
    let kernel = SocketPair::new().expect("an AF_UNIX socket pair");
    let pcap = peers::PcapCompiler::ethernet();
    let mut all = workloads();
    all.push(big_workload());
    for w in all {
        let mut g = c.benchmark_group(format!("compile/{}", w.id));
        // Some builds take milliseconds: the same iteration count per
        // sample keeps the run short.
        g.sampling_mode(SamplingMode::Flat);
        // The compiler itself: the code cache off, native code ready on
        // return (no tiered start).
        let cold = FilterOptions {
            jit: JitOptions {
                cache: false,
                ..JitOptions::default()
            },
            background_jit_from: None,
            ..FilterOptions::default()
        };
        g.bench_function("cranebpf-jit", |b| {
            b.iter_batched(
                || w.program.clone(),
                |p| Filter::with_options(black_box(p), cold.clone()).expect("builds"),
                BatchSize::SmallInput,
            )
        });
        let cold_cranelift = FilterOptions {
            jit: JitOptions {
                direct: false,
                ..cold.jit.clone()
            },
            ..cold.clone()
        };
        g.bench_function("cranebpf-jit-cranelift", |b| {
            b.iter_batched(
                || w.program.clone(),
                |p| Filter::with_options(black_box(p), cold_cranelift.clone()).expect("builds"),
                BatchSize::SmallInput,
            )
        });
        // Time to the first verdict with the defaults: long programs start
        // on the classic interpreter while the JIT compiles them on its
        // thread (short ones are compiled before `Filter::new` returns).
        let first_packet = Mix::new().packets()[0].to_vec();
        let tiered = FilterOptions {
            jit: JitOptions {
                cache: false,
                ..JitOptions::default()
            },
            ..FilterOptions::default()
        };
        g.bench_function("cranebpf-first-verdict", |b| {
            b.iter_batched(
                || w.program.clone(),
                |p| {
                    let f = Filter::with_options(black_box(p), tiered.clone()).expect("builds");
                    f.run(&first_packet)
                },
                BatchSize::SmallInput,
            )
        });
        // The same program again while one filter of it is alive.
        let alive = Filter::new(w.program.clone()).expect("builds");
        g.bench_function("cranebpf-jit-cached", |b| {
            b.iter_batched(
                || w.program.clone(),
                |p| Filter::new(black_box(p)).expect("builds"),
                BatchSize::SmallInput,
            )
        });
        drop(alive);
        g.bench_function("cranebpf-interp", |b| {
            b.iter_batched(
                || w.program.clone(),
                |p| {
                    let options = FilterOptions {
                        engine: Some(Engine::Interp),
                        ..FilterOptions::default()
                    };
                    Filter::with_options(black_box(p), options).expect("builds")
                },
                BatchSize::SmallInput,
            )
        });
        let insns = peers::bpf_insns(&w.program);
        g.bench_function("bpfjit", |b| {
            b.iter(|| peers::bpfjit_compile(black_box(&insns)))
        });
        let translation = Filter::new(w.program.clone())
            .expect("builds")
            .translation()
            .expect("Linux dialect")
            .clone();
        let prog = peers::rbpf_program(&translation.insns);
        // rbpf's x86 JIT writes into a fixed buffer and panics when the
        // code does not fit (the 4,096-instruction program).
        let fits = std::panic::catch_unwind(|| {
            let mut vm = rbpf::EbpfVmMbuff::new(Some(&prog)).expect("verifies");
            vm.jit_compile().is_ok()
        });
        if matches!(fits, Ok(true)) {
            g.bench_function("rbpf-jit", |b| {
                b.iter(|| {
                    let mut vm = rbpf::EbpfVmMbuff::new(Some(black_box(&prog))).expect("verifies");
                    vm.jit_compile().expect("compiles");
                    vm
                })
            });
        } else {
            eprintln!("compile/{}: rbpf's x86 JIT cannot compile it", w.id);
        }
        g.bench_function("rbpf-cranelift", |b| {
            b.iter(|| {
                let mut vm = rbpf::EbpfVmMbuff::new(Some(black_box(&prog))).expect("verifies");
                vm.cranelift_compile().expect("compiles");
                vm
            })
        });
        match kernel.attach(&w.program) {
            Ok(()) => {
                g.bench_function("kernel-so_attach_filter", |b| {
                    b.iter(|| kernel.attach(black_box(&w.program)).expect("attaches"))
                });
            }
            Err(e) => eprintln!("compile/{}: kernel not measured: {e}", w.id),
        }
        if let Some(expr) = &w.expr {
            g.bench_function("expr-cranebpf", |b| {
                b.iter(|| compile_expr(black_box(expr), LinkType::Ethernet).expect("compiles"))
            });
            g.bench_function("expr-pcap_compile", |b| {
                b.iter(|| pcap.compile(black_box(expr)))
            });
        }
        g.finish();
    }
}

fn config() -> Criterion {
    // Short runs: the figures come from a shared 2-vCPU VM.
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = hot, compile
}
criterion_main!(benches);
