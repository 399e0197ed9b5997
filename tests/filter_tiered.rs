//! The tiered start of long filters (`FilterOptions::background_jit_from`):
//! a filter is usable as soon as it is built, gives the same verdicts on
//! the classic interpreter while the JIT compiles it on another thread
//! and on native code afterwards, and waiting ends in every case (the
//! JIT ready, or unable to compile and the interpreter kept). Where the
//! JIT writes the code directly (x86-64), it is ready at once and nothing
//! starts tiered; the tiered start is Cranelift's, tested with the direct
//! writer off.

use cranebpf::jit::JitOptions;
use cranebpf::{cbpf, compile_expr, Engine, Filter, FilterOptions, LinkType};
use cranebpf_harness::synth::packet_mix;

/// `host 10.0.0.1 or … or host 10.0.0.100`: 361 instructions, over the
/// default threshold.
fn long_program() -> cbpf::Program {
    let hosts: Vec<String> = (1..=100)
        .map(|i| format!("host 10.0.{}.{}", i / 7, i))
        .collect();
    let prog = compile_expr(&hosts.join(" or "), LinkType::Ethernet).expect("compiles");
    assert!(prog.insns.len() >= cranebpf::filter::BACKGROUND_JIT_FROM);
    prog
}

/// The defaults with Cranelift as the JIT (as on aarch64 hosts): long
/// filters start tiered.
fn through_cranelift() -> FilterOptions {
    FilterOptions {
        jit: JitOptions {
            direct: false,
            ..JitOptions::default()
        },
        ..FilterOptions::default()
    }
}

/// Packets of the capture generator's mix, some of them from and to the
/// listed hosts.
fn packets() -> Vec<Vec<u8>> {
    let mut packets = packet_mix(11, 600);
    for (i, p) in packets.iter_mut().enumerate().step_by(3) {
        if p.len() >= 34 && p[12..14] == [0x08, 0x00] {
            let at = if i % 2 == 0 { 26 } else { 30 };
            let n = (i % 100 + 1) as u8;
            p[at..at + 4].copy_from_slice(&[10, 0, n / 7, n]);
        }
    }
    packets
}

#[test]
fn verdicts_are_the_same_before_and_after_native_code_arrives() {
    let prog = long_program();
    let packets = packets();
    let reference = Filter::with_options(
        prog.clone(),
        FilterOptions {
            engine: Some(Engine::Cbpf),
            ..FilterOptions::default()
        },
    )
    .expect("builds");
    let want: Vec<u32> = packets.iter().map(|p| reference.run(p)).collect();
    assert!(want.iter().any(|&v| v != 0) && want.contains(&0));

    let tiered = Filter::with_options(prog.clone(), through_cranelift()).expect("builds");
    // Whichever engine runs each packet (native code may arrive part way),
    // the verdicts are the reference's.
    let mut runner = tiered.runner();
    let early: Vec<u32> = packets.iter().map(|p| runner.run(p)).collect();
    assert_eq!(early, want);
    assert_eq!(
        tiered.wait_for_jit(),
        Engine::Jit,
        "{:?}",
        tiered.jit_error()
    );
    assert!(!tiered.compiling());
    assert!(tiered.jit_code().is_some());
    let late: Vec<u32> = packets.iter().map(|p| tiered.run(p)).collect();
    assert_eq!(late, want);
    let mut batch = vec![0; packets.len()];
    tiered.run_batch(&packets, &mut batch);
    assert_eq!(batch, want);
}

#[test]
fn without_a_tiered_start_native_code_is_ready_on_return() {
    let eager = Filter::with_options(
        long_program(),
        FilterOptions {
            background_jit_from: None,
            ..FilterOptions::default()
        },
    )
    .expect("builds");
    assert!(!eager.compiling());
    assert_eq!(eager.engine(), Engine::Jit);
    // Short programs never start tiered, and an engine asked for is used
    // at once.
    let short = Filter::new(compile_expr("ip and udp", LinkType::Ethernet).unwrap()).unwrap();
    assert_eq!((short.engine(), short.compiling()), (Engine::Jit, false));
    for engine in Engine::ALL {
        let options = FilterOptions {
            engine: Some(engine),
            ..FilterOptions::default()
        };
        let asked = Filter::with_options(long_program(), options).expect("builds");
        assert_eq!((asked.engine(), asked.compiling()), (engine, false));
    }
}

#[test]
fn waiting_ends_when_the_jit_cannot_compile() {
    let options = FilterOptions {
        jit: JitOptions {
            enabled: false,
            ..JitOptions::default()
        },
        ..FilterOptions::default()
    };
    let filter = Filter::with_options(long_program(), options).expect("builds");
    assert_eq!(filter.wait_for_jit(), Engine::Cbpf);
    assert!(filter.jit_error().is_some());
    assert!(filter.jit_code().is_none());
    let packets = packets();
    let reference = Filter::with_options(
        long_program(),
        FilterOptions {
            engine: Some(Engine::Interp),
            ..FilterOptions::default()
        },
    )
    .unwrap();
    for p in &packets {
        assert_eq!(filter.run(p), reference.run(p));
    }
}

#[test]
fn filters_dropped_before_their_turn_leave_the_compiler_usable() {
    // Many long filters built and dropped at once queue work for the one
    // background compiler; those gone before their turn are skipped, and
    // a filter built afterwards still gets its native code.
    for _ in 0..50 {
        drop(Filter::with_options(long_program(), through_cranelift()).expect("builds"));
    }
    let last = Filter::with_options(long_program(), through_cranelift()).expect("builds");
    assert_eq!(last.wait_for_jit(), Engine::Jit);
}

#[cfg(all(unix, target_arch = "x86_64"))]
#[test]
fn code_written_directly_needs_no_tiered_start() {
    let prog = long_program();
    let filter = Filter::new(prog.clone()).expect("builds");
    assert_eq!((filter.engine(), filter.compiling()), (Engine::Jit, false));
    let code = filter.jit_code().expect("native code on return");
    assert!(code.is_written_directly());
    let reference = Filter::with_options(
        prog,
        FilterOptions {
            engine: Some(Engine::Cbpf),
            ..FilterOptions::default()
        },
    )
    .unwrap();
    for p in &packets() {
        assert_eq!(filter.run(p), reference.run(p));
    }
}
