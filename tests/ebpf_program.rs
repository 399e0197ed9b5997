//! `EbpfProgram` on both engines: the same results and the same errors,
//! including the ones only reachable at run time.

use cranebpf::ebpf::asm::assemble;
use cranebpf::ebpf::{ExecError, Helpers};
use cranebpf::jit::JitOptions;
use cranebpf::{EbpfOptions, EbpfProgram, Engine, WithPacket};

fn both(src: &str, helpers: Helpers, budget: Option<u64>) -> [EbpfProgram; 2] {
    both_written(src, helpers, budget, true)
}

/// [`both`], the JIT's code written directly where the x86-64 writer
/// covers it when `direct`, else always through Cranelift.
fn both_written(
    src: &str,
    helpers: Helpers,
    budget: Option<u64>,
    direct: bool,
) -> [EbpfProgram; 2] {
    let prog = assemble(src).expect("assembles");
    Engine::EBPF.map(|engine| {
        EbpfProgram::with_options(
            prog.clone(),
            EbpfOptions {
                helpers: helpers.clone(),
                budget,
                engine: Some(engine),
                jit: JitOptions {
                    verify_ir: true,
                    direct,
                    ..JitOptions::default()
                },
            },
        )
        .expect("builds")
    })
}

#[test]
fn engines_report_the_same_run_time_errors() {
    // callx to an unregistered helper.
    let [i, j] = both("mov %r2, 77\ncall %r2\nexit\n", Helpers::new(), None);
    assert_eq!(j.engine(), Engine::Jit);
    let want = Err(ExecError::UnknownHelper { pc: 1, id: 77 });
    assert_eq!(i.run(&mut []), want);
    assert_eq!(j.run(&mut []), want);

    // Recursion until the ninth frame.
    let src = "call local f\nexit\nf:\ncall local f\nexit\n";
    let [i, j] = both(src, Helpers::new(), Some(1000));
    let want = Err(ExecError::CallDepthExceeded { pc: 2 });
    assert_eq!(i.run(&mut []), want);
    assert_eq!(j.run(&mut []), want);

    // A loop that runs out of budget names the same instruction.
    let [i, j] = both(
        "mov %r0, 0\nl:\nadd %r0, 1\nja l\n",
        Helpers::new(),
        Some(101),
    );
    let (a, b) = (i.run(&mut []), j.run(&mut []));
    assert!(matches!(a, Err(ExecError::BudgetExhausted { .. })), "{a:?}");
    assert_eq!(a, b);
}

/// A budget that runs out partway through a run of instructions leaves
/// memory, and the error, as the interpreter leaves them: the stores and
/// failing accesses before the instruction that could not start happen
/// (the JIT paid for whole blocks at their start and skipped a cut block's
/// stores: an `ebpf_diff` finding, `fuzz/regressions/ebpf_diff/`).
#[test]
fn a_budget_cut_short_leaves_memory_and_errors_as_the_interpreter_does() {
    let loops = "mov %r2, 0\nl:\nmov %r3, %r1\nstxw [%r3], %r2\nstb [%r3+8], 90\n\
                 add %r2, 1\njeq %r2, 1000, +1\nja l\nldxdw %r0, [%r1+16]\nexit\n";
    // A load out of bounds (r1 + 64 of 64 bytes) two instructions into a
    // block: the interpreter fails there when the budget reaches it.
    let faults = "mov %r2, 0\nl:\nadd %r2, 1\nldxb %r0, [%r1+64]\nadd %r2, 1\nja l\n";
    for src in [loops, faults] {
        for budget in 1..80 {
            // One buffer for both, so that an error's address is the same.
            let mut mem = vec![0u8; 64];
            let [i, j] = both(src, Helpers::new(), Some(budget));
            let a = (i.run(&mut mem), mem.clone());
            mem.fill(0);
            let b = (j.run(&mut mem), mem.clone());
            assert_eq!(a, b, "budget {budget}:\n{src}");
        }
    }
}

/// Runs of loads from the input memory are checked once, against their
/// furthest end; on memory too short for some load, the error names the
/// first load (in program order) that does not fit, with its address, as
/// the interpreter and one check per load do: in Cranelift's code and in
/// code written directly.
#[test]
fn loads_checked_as_a_run_fail_where_the_interpreter_fails() {
    let programs = [
        // bpf-benchmark's memory_a_plus_b.
        "ldxdw %r2, [%r1]\nldxdw %r0, [%r1+8]\nadd %r0, %r2\nexit\n",
        // Ends out of order, through a copy of r1, ALU and an in-frame
        // load between.
        "mov %r6, %r1\nstdw [%r10-8], 7\nldxw %r0, [%r6+20]\nlsh %r0, 3\n\
         ldxb %r2, [%r1+2]\nldxdw %r3, [%r10-8]\nldxh %r4, [%r6+30]\n\
         add %r0, %r2\nadd %r0, %r3\nadd %r0, %r4\nexit\n",
        // r1 moved: loads through it are no longer from the memory's start.
        "ldxb %r0, [%r1+1]\nadd %r1, 4\nldxb %r2, [%r1]\nldxb %r3, [%r1+9]\n\
         add %r0, %r2\nadd %r0, %r3\nexit\n",
        // A branch and a store end a run; a local call gives the code the
        // ordinary entry (and a stack region) instead of the lean one.
        "ldxw %r6, [%r1+4]\nldxw %r7, [%r1]\njeq %r6, 0, +2\nldxb %r8, [%r1+12]\n\
         ldxb %r9, [%r1+16]\nstxb [%r1+3], %r7\nldxh %r2, [%r1+2]\nldxdw %r3, [%r1+24]\n\
         call local f\nexit\nf:\nmov %r0, %r2\nadd %r0, %r3\nexit\n",
    ];
    // Through Cranelift, and written directly (on x86-64, the first three).
    for (src, direct) in programs.iter().flat_map(|p| [(p, false), (p, true)]) {
        let [i, j] = both_written(src, Helpers::new(), None, direct);
        assert_eq!(j.engine(), Engine::Jit);
        for len in 0..=40 {
            // One buffer for both, so that an error's address is the same.
            let mut mem: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(37) | 1).collect();
            let a = (i.run(&mut mem), mem.clone());
            let b = (j.run(&mut mem), mem.clone());
            assert_eq!(a, b, "{len} bytes:\n{src}");
        }
    }
}

#[test]
fn helpers_and_unwinding_agree() {
    fn double(a: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
        a * 2
    }
    let mut helpers = Helpers::conformance();
    helpers.register(9, double, false);
    let src = "mov %r1, 21\ncall 9\nmov %r6, %r0\nmov %r1, 0\ncall 5\nmov %r0, %r6\nexit\n";
    let [i, j] = both(src, helpers.clone(), None);
    // Helper 5 returns 0 here, which stops the program with r0 = 0.
    assert_eq!(i.run(&mut []), Ok(0));
    assert_eq!(j.run(&mut []), Ok(0));
    let src = "mov %r1, 21\ncall 9\nexit\n";
    let [i, j] = both(src, helpers, None);
    assert_eq!((i.run(&mut []), j.run(&mut [])), (Ok(42), Ok(42)));
}

#[test]
fn a_panicking_helper_is_an_error_under_the_jit() {
    fn boom(_: u64, _: u64, _: u64, _: u64, _: u64) -> u64 {
        panic!("helper failure");
    }
    let mut helpers = Helpers::new();
    helpers.register(3, boom, false);
    let [_, j] = both("call 3\nexit\n", helpers, None);
    assert_eq!(
        j.run(&mut []),
        Err(ExecError::HelperPanicked { pc: 0, id: 3 })
    );
}

#[test]
fn a_context_with_a_separate_packet_feeds_r1_and_the_packet_loads() {
    // r0 = the packet's byte 1 (legacy load) + the context's first byte
    // (through r1), as a socket filter sees its skb and its packet.
    let src = "mov %r6, %r1\nldabsb 1\nldxb %r2, [%r6]\nadd %r0, %r2\nexit\n";
    for program in both(src, Helpers::new(), None) {
        let mut ctx = [40u8, 0, 0, 0];
        let packet = [1u8, 2, 3];
        let mut run = WithPacket {
            mem: &mut ctx,
            packet: &packet,
        };
        assert_eq!(program.run_on(&mut run), Ok(42), "{}", program.engine());
        // A plain slice is both: byte 1 is 0 and byte 0 is 40.
        assert_eq!(program.run_on(&mut vec![40u8, 0]), Ok(40));
    }
}

/// `prog` on the interpreter and on the JIT through Cranelift (IR
/// verified, listings kept), or with the code written directly where the
/// x86-64 writer covers it when `direct`.
fn interp_and_listed_jit(prog: &cranebpf::ebpf::Program, direct: bool) -> [EbpfProgram; 2] {
    let [interp, jit] = Engine::EBPF.map(|engine| {
        EbpfProgram::with_options(
            prog.clone(),
            EbpfOptions {
                engine: Some(engine),
                jit: JitOptions {
                    verify_ir: true,
                    keep_listings: true,
                    direct,
                    ..JitOptions::default()
                },
                ..EbpfOptions::default()
            },
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", cranebpf::ebpf::disasm::disassemble(prog)))
    });
    assert_eq!(jit.engine(), Engine::Jit);
    [interp, jit]
}

/// `prog` on the interpreter that walks every compare (the functions of
/// `ebpf::interp` decode afresh, without recovering switches).
fn walked(prog: &cranebpf::ebpf::Program, mem: &mut [u8]) -> Result<u64, ExecError> {
    cranebpf::ebpf::interp::run(prog, mem, &cranebpf::ebpf::interp::RunOptions::default())
}

/// Values worth trying on a compare tree: the extremes, the wrap points,
/// and each constant and its neighbours.
fn values_around(consts: &[i64]) -> Vec<i64> {
    let mut values: Vec<i64> = vec![i64::MIN, i64::MAX, -1, 0, 1, u32::MAX.into()];
    for &k in consts {
        values.extend([k - 1, k, k + 1]);
    }
    values
}

/// Random compare trees on one register (what clang makes of a `switch`),
/// which the JIT may lower as a jump table and the prepared interpreter
/// runs as one dispatch: both return the leaf of the interpreter walking
/// every compare for values around every constant, at the wrap points and
/// at the extremes.
#[test]
fn compare_trees_give_the_interpreters_leaf_on_every_value() {
    use cranebpf_harness::gen::ebpf::compare_tree;
    use cranebpf_harness::Rng;
    let mut rng = Rng::new(2026);
    let mut tables = 0;
    for _ in 0..300 {
        let (prog, consts) = compare_tree(&mut rng);
        let listing = cranebpf::ebpf::disasm::disassemble(&prog);
        // Cranelift's jump tables, and the x86-64 writer's searches.
        for direct in [false, true] {
            let [interp, jit] = interp_and_listed_jit(&prog, direct);
            let clif = jit.jit_code().expect("jit code").clif();
            if clif.iter().any(|f| f.contains("br_table")) {
                tables += 1;
            }
            for v in values_around(&consts) {
                let mut mem = v.to_le_bytes();
                let want = walked(&prog, &mut mem);
                assert_eq!(interp.run(&mut mem), want, "value {v}\n{listing}");
                assert_eq!(jit.run(&mut mem), want, "value {v}\n{listing}");
            }
        }
    }
    // The trees do exercise the tables.
    assert!(tables > 30, "only {tables} of 300 trees became tables");
}

/// Compare trees inside a loop whose leaves pick values (a C `switch` in a
/// loop), which the JIT may lower as loads from constant tables: the JIT
/// and the prepared interpreter give the result of the interpreter walking
/// every compare on memories of values around every constant, at the wrap
/// points and at the extremes.
#[test]
fn compare_trees_in_loops_give_the_interpreters_results() {
    use cranebpf_harness::gen::ebpf::{compare_tree_loop, LOOP_VALUES};
    use cranebpf_harness::Rng;
    let mut rng = Rng::new(2027);
    let mut lookups = 0;
    for _ in 0..300 {
        let (prog, consts) = compare_tree_loop(&mut rng);
        let listing = cranebpf::ebpf::disasm::disassemble(&prog);
        let [interp, jit] = interp_and_listed_jit(&prog, false);
        // Lookup tables are copied onto the stack from vector constants.
        let clif = jit.jit_code().expect("jit code").clif();
        if clif.iter().any(|f| f.contains("vconst")) {
            lookups += 1;
        }
        let values = values_around(&consts);
        for chunk in values.chunks(LOOP_VALUES) {
            let mut mem: Vec<u8> = (0..LOOP_VALUES)
                .flat_map(|i| chunk[i % chunk.len()].to_le_bytes())
                .collect();
            let want = walked(&prog, &mut mem.clone());
            assert!(want.is_ok(), "{want:?}\n{listing}");
            assert_eq!(
                interp.run(&mut mem.clone()),
                want,
                "values {chunk:?}\n{listing}"
            );
            assert_eq!(jit.run(&mut mem), want, "values {chunk:?}\n{listing}");
        }
    }
    // The trees do exercise the lookups.
    assert!(lookups > 30, "only {lookups} of 300 trees became lookups");
    eprintln!("{lookups} of 300 trees became lookups");
}

/// A run's stack reads as zeros where the program reads before writing,
/// though the JIT's frame is zeroed only as deep as the program reaches:
/// between runs of a program that reads its top words unwritten, another
/// fills the host stack at the same place with ones, frame and callee
/// frame alike.
#[test]
fn stack_bytes_read_before_written_are_zero_on_every_run() {
    let fill: String = (1..=64)
        .map(|k| format!("stxdw [%r10-{}], %r1\n", 8 * k))
        .collect();
    let dirty = both(
        &format!("mov %r1, -1\n{fill}call local +2\nmov %r0, 0\nexit\nmov %r1, -1\n{fill}exit"),
        Helpers::new(),
        None,
    );
    // Reads r10-8 and r10-16 in its frame, and r10-8 in a callee's.
    let reader = both(
        "ldxdw %r7, [%r10-8]\nldxdw %r1, [%r10-16]\nor %r7, %r1\ncall local +2\n\
         or %r0, %r7\nexit\nldxdw %r0, [%r10-8]\nexit",
        Helpers::new(),
        None,
    );
    for (d, r) in dirty.iter().zip(&reader) {
        for _ in 0..4 {
            assert_eq!(d.run(&mut []), Ok(0), "{}", d.engine());
            assert_eq!(r.run(&mut []), Ok(0), "{}", r.engine());
        }
    }
}
