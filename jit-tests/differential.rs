//! Differential tests: every engine must give the same result on every
//! generated case.
//!
//! - Classic: reference interpreter = eBPF interpreter on the translation =
//!   JIT on the translation (x86-64: written directly, with and without
//!   bounds-check elimination, and through Cranelift), and a sample of the
//!   JIT's aarch64 code under qemu.
//! - eBPF: interpreter = JIT, on the return value or error and on the
//!   input memory afterwards, and a sample under qemu.
//!
//! `CRANEBPF_SEED` picks the seed (printed), `CRANEBPF_DIFF_SCALE`
//! multiplies the case counts. The aarch64 part fails under `CI=true` when
//! qemu is missing and is skipped with a reason elsewhere.

use cranebpf::cbpf::{self, Device, Metadata};
use cranebpf::ebpf::{self, ExecError};
use cranebpf::filter::translation_jit_options;
use cranebpf::jit::runtime::status;
use cranebpf::jit::{compile_bytes, JitOptions};
use cranebpf::translate::{ctx_block, translate};
use cranebpf::{EbpfOptions, EbpfProgram, Engine, Filter, FilterOptions};
use cranebpf_harness::gen;
use cranebpf_harness::qemu::{self, Aarch64Runner, NO_CALLBACK};
use cranebpf_harness::Rng;

fn seed() -> u64 {
    let seed = std::env::var("CRANEBPF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_c0de);
    eprintln!("seed {seed} (set CRANEBPF_SEED to vary)");
    seed
}

fn scale() -> usize {
    std::env::var("CRANEBPF_DIFF_SCALE")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The aarch64 runner, or `None` with the reason printed (a failure under
/// CI).
fn aarch64() -> Option<Aarch64Runner> {
    let started = qemu::available().and_then(|()| Aarch64Runner::start());
    match started {
        Ok(r) => Some(r),
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "aarch64 differential tests need qemu under CI: {e}"
            );
            eprintln!("skipping the aarch64 part: {e}");
            None
        }
    }
}

fn jit_options(eliminate_bounds_checks: bool) -> JitOptions {
    JitOptions {
        verify_ir: true,
        eliminate_bounds_checks,
        ..JitOptions::default()
    }
}

fn random_metadata(rng: &mut Rng) -> Metadata {
    let mut m = Metadata::default();
    if rng.chance(1, 3) {
        m.device = Some(Device {
            ifindex: rng.next_u32(),
            hatype: rng.next_u32() as u16,
        });
        m.protocol = *rng.pick(&[0x0800u16, 0x86dd, 0x0806]);
        m.pkttype = rng.below(8) as u8;
        m.mark = rng.next_u32();
        m.rxhash = rng.next_u32();
        m.vlan_present = rng.chance(1, 2);
        m.vlan_tci = rng.next_u32() as u16;
        m.vlan_tpid = 0x8100;
        m.cpu = rng.below(4) as u32;
        m.queue = rng.below(8) as u16;
        m.pay_offset = rng.below(100) as u32;
        m.network_offset = *rng.pick(&[0u32, 14, 18]);
        m.mac_offset = if rng.chance(1, 2) { Some(0) } else { None };
    }
    m.random_seed = rng.next_u64();
    m
}

/// Packets that end exactly at, one byte before and one after the edge of
/// each absolute load in `prog`.
fn edge_packets(prog: &cbpf::Program, rng: &mut Rng) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for insn in &prog.insns {
        if insn.code & 0xe7 != 0x20 || insn.k >= 0x1_0000 {
            continue; // not an LD_ABS with a packet offset
        }
        let size = match insn.size() {
            0x00 => 4,
            0x08 => 2,
            _ => 1,
        };
        let end = insn.k as usize + size;
        for len in [end.saturating_sub(1), end, end + 1] {
            let mut p = gen::packet::frame(rng);
            p.resize(len, 0xa5);
            out.push(p);
        }
    }
    out
}

#[test]
fn classic_engines_agree() {
    let mut rng = Rng::new(seed());
    let programs = 2500 * scale();
    let shared: Vec<Vec<u8>> = (0..80).map(|_| gen::packet::packet(&mut rng)).collect();
    let mut runner = aarch64();
    let arm: target_lexicon::Triple = "aarch64-unknown-linux-gnu".parse().expect("triple");
    // As `Filter` compiles a translation on an aarch64 host.
    let arm_options = translation_jit_options(&jit_options(true));
    let (mut cases, mut comparisons) = (0usize, 0usize);
    let (mut arm_cases, mut arm_skipped) = (0usize, 0usize);
    for n in 0..programs {
        let prog = gen::classic::program(&mut rng, 40);
        let meta = random_metadata(&mut rng);
        let build = |engine, jit| {
            let options = FilterOptions {
                engine: Some(engine),
                metadata: meta.clone(),
                jit,
                ..FilterOptions::default()
            };
            Filter::with_options(prog.clone(), options).expect("a checked program builds")
        };
        // The JIT's leaf code written directly (the default on x86-64) and
        // through Cranelift.
        let cranelift = JitOptions {
            direct: false,
            ..jit_options(true)
        };
        let engines = [
            ("cbpf", build(Engine::Cbpf, jit_options(true))),
            ("interp", build(Engine::Interp, jit_options(true))),
            ("jit", build(Engine::Jit, jit_options(true))),
            ("jit-no-bce", build(Engine::Jit, jit_options(false))),
            ("jit-cranelift", build(Engine::Jit, cranelift)),
        ];
        let mut packets = edge_packets(&prog, &mut rng);
        for _ in 0..20 {
            packets.push(gen::packet::packet(&mut rng));
        }
        packets.extend(shared.iter().cloned());

        let arm_code = match (&mut runner, n % 8) {
            (Some(r), 0) => {
                let ebpf = translate(&prog).expect("translates");
                let bytes =
                    compile_bytes(&ebpf.insns, arm.clone(), &arm_options).expect("aarch64 code");
                r.load_leaf(&bytes).expect("qemu loads code");
                true
            }
            _ => false,
        };
        // Whole batches (native loops where the filter allows) give each
        // packet's verdict.
        let wants: Vec<u32> = packets.iter().map(|p| engines[0].1.run(p)).collect();
        for (name, filter) in &engines[1..] {
            let mut got = vec![u32::MAX; packets.len()];
            filter.run_batch(&packets, &mut got);
            assert_eq!(
                got,
                wants,
                "{name}'s run_batch disagrees with cbpf\nprogram:\n{}metadata: {meta:?}",
                cbpf::print::ddd(&prog),
            );
        }
        for packet in &packets {
            let want = engines[0].1.run(packet);
            // The classic engine (a decoded interpreter) against the
            // reference interpreter it must equal.
            assert_eq!(
                want,
                cbpf::interp::run(&prog, packet, &meta),
                "cbpf disagrees with the reference interpreter\nprogram:\n{}packet: {}\nmetadata: {meta:?}",
                cbpf::print::ddd(&prog),
                hex(packet)
            );
            for (name, filter) in &engines[1..] {
                let got = filter.run(packet);
                assert_eq!(
                    got,
                    want,
                    "{name} disagrees with cbpf\nprogram:\n{}packet: {}\nmetadata: {meta:?}",
                    cbpf::print::ddd(&prog),
                    hex(packet)
                );
                comparisons += 1;
            }
            cases += 1;
            if arm_code {
                let r = runner.as_mut().expect("runner");
                let mut ctx = ctx_block(&meta, packet.len());
                let out = r.run(&ctx, Some(packet), 0).expect("qemu runs");
                ctx.fill(0);
                if out.status == status::HAND_OVER {
                    arm_skipped += 1; // the host finishes these on the interpreter
                    continue;
                }
                assert_eq!(
                    out.r0 as u32,
                    want,
                    "aarch64 disagrees with cbpf (status {})\nprogram:\n{}packet: {}",
                    out.status,
                    cbpf::print::ddd(&prog),
                    hex(packet)
                );
                arm_cases += 1;
            }
        }
    }
    eprintln!(
        "classic: {programs} programs, {cases} program×packet cases, {comparisons} comparisons \
         on x86-64 (interp, jit, jit without bounds-check elimination, jit through Cranelift, \
         each against cbpf); \
         aarch64: {arm_cases} cases ({arm_skipped} handed over to the interpreter: helper calls \
         and negative offsets)"
    );
    assert!(cases >= 200_000 * scale(), "only {cases} cases");
}

/// Compares errors by kind and place (addresses differ between runs on
/// different copies of the memory).
fn same_outcome(a: &Result<u64, ExecError>, b: &Result<u64, ExecError>) -> bool {
    match (a, b) {
        (Ok(x), Ok(y)) => x == y,
        (
            Err(ExecError::OutOfBounds {
                pc: p1,
                size: s1,
                write: w1,
                ..
            }),
            Err(ExecError::OutOfBounds {
                pc: p2,
                size: s2,
                write: w2,
                ..
            }),
        ) => (p1, s1, w1) == (p2, s2, w2),
        (Err(x), Err(y)) => x == y,
        _ => false,
    }
}

#[test]
fn ebpf_engines_agree() {
    let mut rng = Rng::new(seed() ^ 0xeb9f);
    let programs = 3000 * scale();
    let mut runner = aarch64();
    let arm: target_lexicon::Triple = "aarch64-unknown-linux-gnu".parse().expect("triple");
    let (mut cases, mut errors, mut arm_cases) = (0usize, 0usize, 0usize);
    let (mut lean, mut lean_arm, mut direct) = (0usize, 0usize, 0usize);
    for n in 0..programs {
        let mem_len = 1 + rng.below(64) as usize;
        let prog = gen::ebpf::program(&mut rng, 40, mem_len);
        let build = |engine| {
            let options = EbpfOptions {
                engine,
                jit: jit_options(true),
                ..EbpfOptions::default()
            };
            EbpfProgram::with_options(prog.clone(), options).unwrap_or_else(|e| {
                panic!(
                    "generated program refused: {e}\n{}",
                    ebpf::disasm::disassemble(&prog)
                )
            })
        };
        let interp = build(Some(Engine::Interp));
        let jit = build(Some(Engine::Jit));
        lean += usize::from(jit.jit_code().is_some_and(|c| c.is_lean()));
        // Lean code the x86-64 writer covers is written directly.
        direct += usize::from(
            jit.jit_code()
                .is_some_and(|c| c.is_lean() && c.is_written_directly()),
        );
        // Under qemu every eighth program, with the ordinary entry and,
        // as `EbpfProgram` compiles it where it fits, the lean one, by turns.
        let arm_code = match (&mut runner, n % 16) {
            (Some(r), 0) => {
                let bytes = compile_bytes(&prog.insns, arm.clone(), &jit_options(true))
                    .expect("aarch64 code");
                r.load(&bytes).expect("qemu loads code");
                true
            }
            (Some(r), 8) => match cranebpf::jit::lean_entry_for(&prog) {
                Some(zeroed) => {
                    let options = JitOptions {
                        lean_entry: Some(zeroed),
                        ..jit_options(true)
                    };
                    let bytes =
                        compile_bytes(&prog.insns, arm.clone(), &options).expect("aarch64 code");
                    r.load_lean(&bytes).expect("qemu loads code");
                    lean_arm += 1;
                    true
                }
                None => false,
            },
            _ => false,
        };
        for _ in 0..8 {
            let mem: Vec<u8> = gen::packet::random_bytes(&mut rng, mem_len);
            let (mut m1, mut m2) = (mem.clone(), mem.clone());
            let want = interp.run(&mut m1);
            let got = jit.run(&mut m2);
            assert!(
                same_outcome(&want, &got) && (want.is_err() || m1 == m2),
                "jit disagrees with interp: {got:?} vs {want:?}\nmemory {} → interp {} jit {}\n{}",
                hex(&mem),
                hex(&m1),
                hex(&m2),
                ebpf::disasm::disassemble(&prog)
            );
            cases += 1;
            errors += usize::from(want.is_err());
            if arm_code {
                let r = runner.as_mut().expect("runner");
                let out = r.run(&mem, None, 0).expect("qemu runs");
                if out.status == NO_CALLBACK {
                    continue;
                }
                match &want {
                    Ok(v) => assert_eq!(
                        (out.r0, out.status),
                        (*v, 0),
                        "aarch64 disagrees\n{}",
                        ebpf::disasm::disassemble(&prog)
                    ),
                    Err(ExecError::OutOfBounds { pc, .. }) => assert_eq!(
                        (out.status, out.pc as usize),
                        (2, *pc),
                        "aarch64 disagrees on the error\n{}",
                        ebpf::disasm::disassemble(&prog)
                    ),
                    Err(e) => panic!("unexpected error {e}"),
                }
                arm_cases += 1;
            }
        }
    }
    eprintln!(
        "ebpf: {programs} programs ({lean} of them with a lean entry, {direct} of those written \
         directly), {cases} program×memory comparisons (jit against interp, {errors} of them \
         ending in an error); aarch64: {arm_cases} cases ({lean_arm} programs with a lean entry)"
    );
    assert!(cases >= 20_000 * scale());
    // Both entries are compared.
    assert!(
        lean > programs / 8 && lean < programs,
        "{lean} of {programs} lean"
    );
    if cfg!(all(unix, target_arch = "x86_64")) {
        assert!(
            direct > lean / 8,
            "{direct} of {lean} lean programs written directly"
        );
    }
}

/// Runs `prog` on the interpreter and the JIT, and with `runner` as
/// aarch64 code under qemu, on each of `memories`: the same result, the
/// same memory after the run and the same error. Returns how many runs
/// ended in an error.
fn loop_engines_agree(
    prog: &ebpf::Program,
    listing: &str,
    memories: &[Vec<u8>],
    mut runner: Option<&mut Aarch64Runner>,
) -> usize {
    let build = |engine| {
        let options = EbpfOptions {
            engine: Some(engine),
            jit: jit_options(true),
            ..EbpfOptions::default()
        };
        EbpfProgram::with_options(prog.clone(), options)
            .unwrap_or_else(|e| panic!("generated program refused: {e}\n{listing}"))
    };
    let (interp, jit) = (build(Engine::Interp), build(Engine::Jit));
    assert_eq!(jit.engine(), Engine::Jit);
    if let Some(runner) = runner.as_mut() {
        let arm: target_lexicon::Triple = "aarch64-unknown-linux-gnu".parse().expect("triple");
        let bytes = compile_bytes(&prog.insns, arm, &jit_options(true)).expect("aarch64");
        runner.load(&bytes).expect("qemu loads code");
    }
    let mut errors = 0;
    for mem in memories {
        let (mut m1, mut m2) = (mem.clone(), mem.clone());
        let want = interp.run(&mut m1);
        let got = jit.run(&mut m2);
        assert!(
            same_outcome(&want, &got) && m1 == m2,
            "jit disagrees with interp: {got:?} vs {want:?}\nmemory {}\n{listing}",
            hex(mem)
        );
        errors += usize::from(want.is_err());
        if let Some(runner) = runner.as_mut() {
            let out = runner.run(mem, None, 0).expect("qemu runs");
            match &want {
                Ok(v) => assert_eq!((out.r0, out.status), (*v, 0), "aarch64\n{listing}"),
                Err(ExecError::OutOfBounds { pc, .. }) => {
                    assert_eq!(
                        (out.status, out.pc as usize),
                        (2, *pc),
                        "aarch64\n{listing}"
                    )
                }
                Err(e) => panic!("unexpected error {e}"),
            }
        }
    }
    errors
}

/// Byte-copy loops (which the JIT copies 64 and 16 bytes at a time when the
/// ranges are inside a region and apart) give the interpreter's result,
/// memory and errors, including overlapping copies and copies running
/// out of bounds, which must run as written; on x86-64 and under qemu.
#[test]
fn copy_loops_agree_with_the_interpreter() {
    let mut rng = Rng::new(seed() ^ 0xc0b7);
    let mut runner = aarch64();
    let (mut cases, mut errors, mut arm_cases) = (0usize, 0usize, 0usize);
    for n in 0..400 * scale() {
        let mem_len = 64 + rng.below(200) as usize;
        let prog = gen::ebpf::copy_loop(&mut rng, mem_len);
        let listing = ebpf::disasm::disassemble(&prog);
        let memories: Vec<Vec<u8>> = (0..4)
            .map(|_| gen::packet::random_bytes(&mut rng, mem_len))
            .collect();
        let on_arm = runner.as_mut().filter(|_| n % 4 == 0);
        arm_cases += if on_arm.is_some() { memories.len() } else { 0 };
        errors += loop_engines_agree(&prog, &listing, &memories, on_arm);
        cases += memories.len();
    }
    eprintln!(
        "copy loops: {cases} cases ({errors} ending out of bounds); aarch64: {arm_cases} cases"
    );
    assert!(
        errors > cases / 20 && errors < cases / 2,
        "{errors} errors in {cases}"
    );
}

/// Scanning loops (strcmp's shape: pointers the verifier cannot place,
/// every access checked at run time) give the interpreter's result,
/// memory and errors: loads of every size at offsets that leave the
/// memory early, late or never, starts past its end, a store in the loop,
/// a pointer that stays put; on x86-64 and, for a quarter, under qemu.
#[test]
fn scanning_loops_agree_with_the_interpreter() {
    let mut rng = Rng::new(seed() ^ 0x5ca9);
    let mut runner = aarch64();
    let (mut cases, mut errors) = (0usize, 0usize);
    for n in 0..300 * scale() {
        let mem_len = 16 + rng.below(120) as usize;
        let size = ["b", "h", "w", "dw"][rng.below(4) as usize];
        // Mostly inside, sometimes before the memory or past its end.
        let o1 = if rng.below(8) == 0 {
            -4
        } else {
            rng.below(8) as i64
        };
        let o2 = rng.below(mem_len as u64) as i64;
        let o3 = rng.below(mem_len as u64 + 8) as i64;
        let start = if rng.below(8) == 0 {
            mem_len as u64 + rng.below(4)
        } else {
            rng.below(mem_len as u64 / 2)
        };
        let store = match rng.below(3) {
            0 => format!("stxb [%r1{o3:+}], %r4\n"),
            _ => String::new(),
        };
        // The second pointer stays put half the time.
        let step2 = rng.below(2);
        let sentinel = rng.below(4);
        let body = format!(
            "ldx{size} %r2, [%r1{o1:+}]\nldx{size} %r3, [%r5{o2:+}]\njne %r2, %r3, +EXIT\n\
             {store}add %r1, 1\nadd %r5, {step2}\nadd %r0, 1\njne %r2, {sentinel}, -BACK"
        );
        let lines = body.lines().count();
        let body = body
            .replace("EXIT", &(lines - 3).to_string())
            .replace("BACK", &lines.to_string());
        let src = format!("mov %r0, 0\nmov %r4, 7\nadd %r1, {start}\nmov %r5, %r1\n{body}\nexit");
        let prog = ebpf::asm::assemble(&src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        // Mostly ones, so that loops run long, often to the end.
        let memories: Vec<Vec<u8>> = (0..4)
            .map(|_| {
                (0..mem_len)
                    .map(|_| match rng.below(24) {
                        0 => rng.below(4) as u8,
                        _ => 1,
                    })
                    .collect()
            })
            .collect();
        let on_arm = runner.as_mut().filter(|_| n % 4 == 0);
        errors += loop_engines_agree(&prog, &src, &memories, on_arm);
        cases += memories.len();
    }
    eprintln!("scanning loops: {cases} cases ({errors} ending out of bounds)");
    assert!(
        errors > cases / 10 && errors < cases * 9 / 10,
        "{errors} errors in {cases}"
    );
}

/// Compare trees (clang's `switch`, lowered as jump tables where dense,
/// as loads from constant tables in loops whose cases pick values) run
/// under qemu as aarch64 code give the interpreter's results.
#[test]
fn aarch64_switch_tables_give_the_interpreters_leaf() {
    let Some(mut runner) = aarch64() else {
        return;
    };
    let arm: target_lexicon::Triple = "aarch64-unknown-linux-gnu".parse().expect("triple");
    let mut rng = Rng::new(seed() ^ 0x5717);
    let mut cases = 0;
    // 40 trees, then 40 in loops whose leaves pick values (loads from
    // constant tables); every value alone, or the loop's values at once.
    for n in 0..80 {
        let looped = n >= 40;
        let (prog, consts) = if looped {
            gen::ebpf::compare_tree_loop(&mut rng)
        } else {
            gen::ebpf::compare_tree(&mut rng)
        };
        let interp = EbpfProgram::with_options(
            prog.clone(),
            EbpfOptions {
                engine: Some(Engine::Interp),
                ..EbpfOptions::default()
            },
        )
        .expect("verifies");
        let bytes = compile_bytes(&prog.insns, arm.clone(), &jit_options(true)).expect("aarch64");
        runner.load(&bytes).expect("qemu loads code");
        let mut values = vec![i64::MIN, i64::MAX, -1, 0];
        values.extend(consts.iter().flat_map(|&k| [k - 1, k, k + 1]));
        let memories: Vec<Vec<u8>> = if looped {
            values
                .chunks(gen::ebpf::LOOP_VALUES)
                .map(|chunk| {
                    (0..gen::ebpf::LOOP_VALUES)
                        .flat_map(|i| chunk[i % chunk.len()].to_le_bytes())
                        .collect()
                })
                .collect()
        } else {
            values.iter().map(|v| v.to_le_bytes().to_vec()).collect()
        };
        for mem in memories {
            let want = interp.run(&mut mem.clone()).expect("runs");
            let out = runner.run(&mem, None, 0).expect("qemu runs");
            assert_eq!(
                (out.r0, out.status),
                (want, 0),
                "aarch64 disagrees on memory {}\n{}",
                hex(&mem),
                ebpf::disasm::disassemble(&prog)
            );
            cases += 1;
        }
    }
    eprintln!("aarch64 compare trees: {cases} cases");
}

/// Native batches cross their 256-packet chunks and hand packets over to
/// the interpreter mid-batch (a negative-offset load), and still give
/// every packet the reference interpreter's verdict.
#[test]
fn batches_give_every_packet_its_own_verdict() {
    let mut rng = Rng::new(seed() ^ 0xba7c);
    let packets: Vec<Vec<u8>> = (0..1000)
        .map(|i| match i % 7 {
            0 => Vec::new(),
            1 => vec![0x45; i % 40],
            _ => gen::packet::packet(&mut rng),
        })
        .collect();
    let programs = [
        "ip and udp",
        "tcp port 443",
        "host 10.1.0.1 or host 10.1.0.2 or host 192.168.1.1 or host 8.8.8.8 or host 1.1.1.1",
        // Reads the context block (`ld len`): batches run per packet.
        "greater 100",
    ]
    .map(|e| cranebpf::compile_expr(e, cranebpf::LinkType::Ethernet).expect("compiles"))
    .into_iter()
    // Byte 9 of the network header (SKF_NET_OFF + 9) when byte 0 is odd:
    // handed over to the interpreter on those packets only.
    .chain([cbpf::parse::parse_ddd(
        "5\n48 0 0 0\n69 0 2 1\n48 0 0 4293918729\n22 0 0 0\n6 0 0 65535\n",
    )
    .expect("parses")]);
    let mut batches = 0;
    for prog in programs {
        let filter = Filter::new(prog.clone()).expect("builds");
        assert_eq!(filter.engine(), Engine::Jit);
        let want: Vec<u32> = packets
            .iter()
            .map(|p| cbpf::interp::run(&prog, p, &Metadata::default()))
            .collect();
        let mut got = vec![u32::MAX; packets.len()];
        filter.run_batch(&packets, &mut got);
        assert_eq!(got, want, "program:\n{}", cbpf::print::ddd(&prog));
        // Captured packets cut short: `ld len` reads the wire length.
        let wire: Vec<u32> = packets.iter().map(|p| p.len() as u32 + 60).collect();
        let want: Vec<u32> = packets
            .iter()
            .zip(&wire)
            .map(|(p, &w)| filter.run_wire(p, w))
            .collect();
        filter.run_batch_wire(&packets, &wire, &mut got);
        assert_eq!(got, want, "program:\n{}", cbpf::print::ddd(&prog));
        batches += 1;
    }
    assert_eq!(batches, 5);
}

/// Batch code compiled for aarch64 and run under qemu over a batch of
/// packets gives each finished packet the reference interpreter's verdict
/// and stops exactly at the packets it must hand over.
#[test]
fn aarch64_batches_give_every_packet_its_own_verdict() {
    let Some(mut runner) = aarch64() else {
        return;
    };
    let arm: target_lexicon::Triple = "aarch64-unknown-linux-gnu".parse().expect("triple");
    let options = JitOptions {
        batch: true,
        ..translation_jit_options(&jit_options(true))
    };
    let mut rng = Rng::new(seed() ^ 0xa64b);
    let packets: Vec<Vec<u8>> = (0..300)
        .map(|i| match i % 9 {
            0 => Vec::new(),
            _ => gen::packet::packet(&mut rng),
        })
        .collect();
    let programs = [
        "tcp port 443",
        "host 10.1.0.1 or host 8.8.8.8 or host 1.1.1.1 or host 9.9.9.9",
    ]
    .map(|e| cranebpf::compile_expr(e, cranebpf::LinkType::Ethernet).expect("compiles"))
    .into_iter()
    // Hands over the packets whose first byte is odd (a load at
    // SKF_NET_OFF + 9).
    .chain([cbpf::parse::parse_ddd(
        "5\n48 0 0 0\n69 0 2 1\n48 0 0 4293918729\n22 0 0 0\n6 0 0 65535\n",
    )
    .expect("parses")]);
    let mem = ctx_block(&Metadata::default(), 0);
    let (mut cases, mut handed_over) = (0, 0);
    for prog in programs {
        let ebpf = translate(&prog).expect("translates");
        let bytes = compile_bytes(&ebpf.insns, arm.clone(), &options).expect("aarch64 batch code");
        runner.load_batch(&bytes).expect("qemu loads code");
        let mut start = 0;
        while start < packets.len() {
            let rest: Vec<&[u8]> = packets[start..].iter().map(Vec::as_slice).collect();
            let (done, verdicts) = runner.run_batch(&mem, &rest).expect("qemu runs");
            let done = done as usize;
            assert!(done <= rest.len());
            for (i, &v) in verdicts[..done].iter().enumerate() {
                let p = rest[i];
                assert_eq!(
                    v,
                    cbpf::interp::run(&prog, p, &Metadata::default()),
                    "aarch64 batch code disagrees\nprogram:\n{}packet: {}",
                    cbpf::print::ddd(&prog),
                    hex(p)
                );
                cases += 1;
            }
            if done < rest.len() {
                // Only the negative-offset load hands over.
                assert_eq!(rest[done].first().map(|b| b & 1), Some(1));
                handed_over += 1;
            }
            start += done + 1;
        }
    }
    let odd = packets
        .iter()
        .filter(|p| p.first().is_some_and(|b| b & 1 == 1))
        .count();
    assert_eq!(handed_over, odd);
    eprintln!("aarch64 batch code: {cases} packets, {handed_over} handed over");
}

#[test]
fn bounds_check_elimination_keeps_verdicts_at_every_length() {
    // Filters whose loads a single hoisted check covers, run on every
    // packet length from 0 to past the last load.
    let mut rng = Rng::new(seed() ^ 0xbce);
    let sources = [
        "ldh [12]\njeq #0x800, ip, drop\nip: ldb [23]\njeq #6, tcp, drop\ntcp: ldh [20]\njset #0x1fff, drop, ports\nports: ldxb 4*([14]&0xf)\nldh [x + 14]\njeq #22, keep, next\nnext: ldh [x + 16]\njeq #22, keep, drop\nkeep: ret #-1\ndrop: ret #0\n",
        "ld [0]\nld [4]\nldh [60]\nldb [61]\nadd x\nret a\n",
        "ldh [12]\njgt #0x600, big, small\nbig: ldb [40]\nret a\nsmall: ldb [30]\nret a\n",
    ];
    let mut cases = 0;
    for src in sources {
        let prog = cbpf::parse::parse_asm(src).expect("assembles");
        let with = Filter::with_options(
            prog.clone(),
            FilterOptions {
                engine: Some(Engine::Jit),
                jit: jit_options(true),
                ..FilterOptions::default()
            },
        )
        .expect("builds");
        let without = Filter::with_options(
            prog.clone(),
            FilterOptions {
                engine: Some(Engine::Jit),
                jit: jit_options(false),
                ..FilterOptions::default()
            },
        )
        .expect("builds");
        for len in 0..=80 {
            for _ in 0..20 {
                let mut p = gen::packet::frame(&mut rng);
                p.resize(len, rng.next_u32() as u8);
                if rng.chance(1, 2) && len > 13 {
                    p[12] = 8;
                    p[13] = 0;
                }
                let want = cbpf::interp::run(&prog, &p, &Metadata::default());
                assert_eq!(with.run(&p), want, "with elimination, length {len}");
                assert_eq!(without.run(&p), want, "without elimination, length {len}");
                cases += 1;
            }
        }
    }
    eprintln!("bounds-check elimination: {cases} packets, same verdicts with and without");
}

/// The classic comparison above means the directly written code only if
/// filters get it: every generated program's translation, compiled as
/// `Filter` compiles it (per packet and batch code), is written directly
/// on x86-64 (register shifts need BMI2; without it those go to
/// Cranelift).
#[cfg(all(unix, target_arch = "x86_64"))]
#[test]
fn generated_filters_are_written_directly_on_x86_64() {
    use cranebpf::jit::JitCode;
    let mut rng = Rng::new(seed() ^ 0xd1ec);
    let options = translation_jit_options(&JitOptions {
        cache: false,
        ..jit_options(true)
    });
    let bmi2 = std::is_x86_feature_detected!("bmi2");
    let mut direct = 0;
    for _ in 0..1000 {
        let prog = gen::classic::program(&mut rng, 40);
        let ebpf = translate(&prog).expect("translates");
        let shifts_by_x = prog.insns.iter().any(|i| matches!(i.code, 0x6c | 0x7c));
        if !bmi2 && shifts_by_x {
            continue;
        }
        for batch in [false, true] {
            let options = JitOptions {
                batch,
                ..options.clone()
            };
            let code = JitCode::compile(&ebpf, &options).expect("compiles");
            assert!(
                code.is_written_directly(),
                "went to Cranelift (batch: {batch}):\n{}",
                cbpf::print::ddd(&prog)
            );
        }
        direct += 1;
    }
    eprintln!("{direct} of 1000 generated filters written directly");
}

#[test]
fn fallback_to_the_interpreter_gives_the_same_verdicts() {
    let mut rng = Rng::new(seed() ^ 0xfa11);
    for _ in 0..200 {
        let prog = gen::classic::program(&mut rng, 30);
        let no_jit = FilterOptions {
            engine: None,
            jit: JitOptions {
                enabled: false,
                ..JitOptions::default()
            },
            ..FilterOptions::default()
        };
        let fallback = Filter::with_options(prog.clone(), no_jit).expect("builds");
        assert_eq!(fallback.engine(), Engine::Interp);
        assert!(fallback.jit_error().is_some());
        let jit = Filter::new(prog.clone()).expect("builds");
        assert_eq!(jit.engine(), Engine::Jit);
        for _ in 0..20 {
            let p = gen::packet::packet(&mut rng);
            let want = cbpf::interp::run(&prog, &p, &Metadata::default());
            assert_eq!(fallback.run(&p), want);
            assert_eq!(jit.run(&p), want);
        }
    }
}

#[test]
fn expression_filters_agree_on_every_engine() {
    // The checked-in pcap-filter expressions, compiled by our compiler, on
    // realistic packets and packets cut at every load edge.
    let list = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/conformance/expressions.txt"
    ))
    .expect("expression list");
    let mut rng = Rng::new(seed() ^ 0xe4e4);
    let packets: Vec<Vec<u8>> = (0..200).map(|_| gen::packet::packet(&mut rng)).collect();
    let (mut filters, mut cases) = (0usize, 0usize);
    for line in list.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (link, expr) = match line.strip_prefix("-y ") {
            Some(rest) => {
                let (name, expr) = rest.split_once(' ').unwrap_or((rest, ""));
                (cranebpf::LinkType::from_name(name), expr)
            }
            None => (Some(cranebpf::LinkType::Ethernet), line),
        };
        let Some(link) = link else { continue };
        let Ok(prog) = cranebpf::compile_expr(expr, link) else {
            continue; // refused like libpcap refuses it (tested elsewhere)
        };
        let jit = Filter::with_options(
            prog.clone(),
            FilterOptions {
                engine: Some(Engine::Jit),
                jit: jit_options(true),
                ..FilterOptions::default()
            },
        )
        .expect("compiled expressions build");
        let interp = Filter::with_options(
            prog.clone(),
            FilterOptions {
                engine: Some(Engine::Interp),
                ..FilterOptions::default()
            },
        )
        .expect("builds");
        let mut own = edge_packets(&prog, &mut rng);
        own.extend(packets.iter().cloned());
        for p in &own {
            let want = cbpf::interp::run(&prog, p, &Metadata::default());
            assert_eq!(jit.run(p), want, "jit: {expr} on {}", hex(p));
            assert_eq!(interp.run(p), want, "interp: {expr} on {}", hex(p));
            cases += 1;
        }
        filters += 1;
    }
    eprintln!("expressions: {filters} compiled filters, {cases} packets, all engines agree");
    assert!(filters >= 300);
}
