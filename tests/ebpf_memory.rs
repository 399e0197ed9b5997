//! Memory safety of both engines: accesses one byte before, at and past
//! every region edge (input memory, the stack of each frame), and the
//! legacy packet loads at and past the packet edge. Every program runs on
//! the interpreter and on the JIT, which must return the same result and
//! leave the memory the same.

use cranebpf::ebpf::asm::assemble;
use cranebpf::ebpf::interp::{run, RunOptions};
use cranebpf::ebpf::ExecError;
use cranebpf::jit::JitOptions;
use cranebpf::{EbpfOptions, EbpfProgram, Engine};

/// The interpreter's result, after checking that the JIT gives the same one
/// and leaves `mem` the same.
fn go(src: &str, mem: &mut [u8]) -> Result<u64, ExecError> {
    let prog = assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    let before = mem.to_vec();
    let want = run(&prog, mem, &RunOptions::default());
    let after = mem.to_vec();
    mem.copy_from_slice(&before);
    let jit = EbpfProgram::with_options(
        prog,
        EbpfOptions {
            engine: Some(Engine::Jit),
            jit: JitOptions {
                verify_ir: true,
                ..JitOptions::default()
            },
            ..EbpfOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{src}"));
    let got = jit.run(mem);
    // The engines' stacks lie at different addresses: a failing address
    // outside the input memory is compared by kind only.
    let range = mem.as_ptr() as u64..mem.as_ptr() as u64 + mem.len() as u64 + 8;
    let comparable = |r: &Result<u64, ExecError>| match r.clone() {
        Err(ExecError::OutOfBounds {
            pc,
            addr,
            size,
            write,
        }) if !range.contains(&addr) => Err(ExecError::OutOfBounds {
            pc,
            addr: 0,
            size,
            write,
        }),
        other => other,
    };
    assert_eq!(comparable(&got), comparable(&want), "jit vs interp\n{src}");
    assert_eq!(mem, &after[..], "memory after the jit vs interp\n{src}");
    want
}

fn is_oob(r: Result<u64, ExecError>, want_write: bool) -> bool {
    matches!(r, Err(ExecError::OutOfBounds { write, .. }) if write == want_write)
}

const SIZES: [(&str, i64); 4] = [("b", 1), ("h", 2), ("w", 4), ("dw", 8)];

#[test]
fn input_memory_edges() {
    let len = 16i64;
    for (sfx, size) in SIZES {
        // Last in-bounds start, one past it, and one byte before the start.
        let inside = len - size;
        for (off, ok) in [(inside, true), (inside + 1, false), (-1, false), (0, true)] {
            let mut mem = [0xabu8; 16];
            let load = go(&format!("ldx{sfx} %r0, [%r1{off:+}]\nexit"), &mut mem);
            let store = go(
                &format!("st{sfx} [%r1{off:+}], 1\nmov %r0, 0\nexit"),
                &mut mem,
            );
            let stx = go(
                &format!("stx{sfx} [%r1{off:+}], %r2\nmov %r0, 0\nexit"),
                &mut mem,
            );
            if ok {
                assert!(
                    load.is_ok() && store.is_ok() && stx.is_ok(),
                    "{sfx} at {off}"
                );
            } else {
                assert!(is_oob(load, false), "ldx{sfx} at {off}");
                assert!(is_oob(store, true), "st{sfx} at {off}");
                assert!(is_oob(stx, true), "stx{sfx} at {off}");
            }
        }
    }
}

#[test]
fn out_of_bounds_error_names_pc_address_and_size() {
    let mut mem = [0u8; 4];
    let addr = mem.as_ptr() as u64 + 2;
    let r = go("mov %r0, 0\nldxw %r0, [%r1+2]\nexit", &mut mem);
    assert_eq!(
        r,
        Err(ExecError::OutOfBounds {
            pc: 1,
            addr,
            size: 4,
            write: false
        })
    );
    // A failed store leaves memory untouched.
    let r = go("stw [%r1+2], -1\nmov %r0, 0\nexit", &mut mem);
    assert!(is_oob(r, true));
    assert_eq!(mem, [0; 4]);
}

#[test]
fn empty_input_memory_has_no_valid_byte() {
    assert!(is_oob(go("ldxb %r0, [%r1]\nexit", &mut []), false));
    assert_eq!(go("mov %r0, %r2\nexit", &mut []), Ok(0));
}

#[test]
fn stack_edges() {
    for (sfx, size) in SIZES {
        for (off, ok) in [
            (-512i64, true),
            (-513, false),
            (-size, true),
            (-size + 1, false),
            (0, false),
        ] {
            let load = go(&format!("ldx{sfx} %r0, [%r10{off:+}]\nexit"), &mut []);
            let store = go(
                &format!("st{sfx} [%r10{off:+}], 1\nmov %r0, 0\nexit"),
                &mut [],
            );
            // The same through a copy of r10, which the JIT checks at run
            // time instead of proving.
            let copied = go(
                &format!("mov %r2, %r10\nldx{sfx} %r0, [%r2{off:+}]\nexit"),
                &mut [0u8; 16],
            );
            if ok {
                assert!(load.is_ok() && store.is_ok(), "{sfx} at r10{off:+}");
                assert!(copied.is_ok(), "{sfx} at r2 = r10{off:+}");
            } else {
                assert!(is_oob(load, false), "ldx{sfx} at r10{off:+}");
                assert!(is_oob(store, true), "st{sfx} at r10{off:+}");
                assert!(is_oob(copied, false), "{sfx} at r2 = r10{off:+}");
            }
        }
    }
    // The stack starts zeroed.
    assert_eq!(go("ldxdw %r0, [%r10-512]\nexit", &mut []), Ok(0));
}

#[test]
fn atomics_are_bounds_checked() {
    let mut mem = [0u8; 8];
    assert!(go(
        "mov %r2, 1\nlock add [%r1], %r2\nmov %r0, 0\nexit",
        &mut mem
    )
    .is_ok());
    assert!(is_oob(
        go(
            "mov %r2, 1\nlock add [%r1+1], %r2\nmov %r0, 0\nexit",
            &mut mem
        ),
        true
    ));
    assert!(is_oob(
        go(
            "mov %r2, 1\nlock xchg32 [%r1+5], %r2\nmov %r0, 0\nexit",
            &mut mem
        ),
        true
    ));
    assert!(go(
        "mov %r2, 1\nlock xchg32 [%r1+4], %r2\nmov %r0, 0\nexit",
        &mut mem
    )
    .is_ok());
    assert!(is_oob(
        go(
            "mov %r0, 0\nmov %r2, 1\nlock cmpxchg [%r10-7], %r2\nexit",
            &mut mem
        ),
        true
    ));
    assert_eq!(mem, [1, 0, 0, 0, 1, 0, 0, 0]);
}

#[test]
fn callee_frame_edges_and_dead_frames() {
    // In a callee, its own 512 bytes and the caller's frame are live...
    let callee = |body: &str| {
        go(
            &format!("call local f\nexit\nf:\n{body}\nmov %r0, 0\nexit"),
            &mut [],
        )
    };
    assert!(callee("stb [%r10-512], 1").is_ok());
    assert!(callee("stb [%r10-1], 1").is_ok());
    assert!(callee("stb [%r10+0], 1").is_ok()); // the caller's frame
    assert!(callee("stb [%r10+511], 1").is_ok()); // top byte of frame 0
    assert!(is_oob(callee("stb [%r10+512], 1"), true)); // above frame 0
    assert!(is_oob(callee("stb [%r10-513], 1"), true)); // below the callee
                                                        // ...but after the callee returns, its frame is dead.
    let src = "call local f\nldxb %r0, [%r1]\nexit\nf:\nmov %r0, %r10\nexit";
    let r = go(&src.replace("[%r1]", "[%r0-1]"), &mut []);
    assert!(is_oob(r.clone(), false), "{r:?}");
}

#[test]
fn pointer_arithmetic_uses_real_addresses() {
    let mut mem = [0u8; 8];
    let base = mem.as_ptr() as u64;
    assert_eq!(go("mov %r0, %r1\nexit", &mut mem), Ok(base));
    // Wrap-around of a huge offset is out of bounds, never a panic.
    assert!(is_oob(
        go(
            "lddw %r3, -1\nadd %r3, %r1\nldxb %r0, [%r3+0]\nexit",
            &mut mem
        ),
        false
    ));
    assert!(is_oob(
        go("lddw %r3, -1\nldxdw %r0, [%r3+0]\nexit", &mut mem),
        false
    ));
    assert!(is_oob(
        go("mov %r3, 0\nldxdw %r0, [%r3+0]\nexit", &mut mem),
        false
    ));
}

/// Value variant returns the loaded value; marker variant returns 7 if the
/// load did not end the program.
fn legacy(load: &str, mem: &mut [u8]) -> (u64, u64) {
    let value = go(&format!("{load}\nexit"), mem).expect("run");
    let marker = go(&format!("{load}\nmov %r0, 7\nexit"), mem).expect("run");
    (value, marker)
}

#[test]
fn legacy_packet_loads_at_every_size_and_edge() {
    let mut pkt = [0x11u8, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    let len = pkt.len() as i32;
    for (sfx, size) in [("b", 1i32), ("h", 2), ("w", 4)] {
        let last = len - size;
        for k in [0, last - 1, last, last + 1, len, -1, i32::MIN] {
            let ok = k >= 0 && k <= last;
            let want = if ok {
                pkt[k as usize..(k + size) as usize]
                    .iter()
                    .fold(0u64, |a, &b| a << 8 | b as u64)
            } else {
                0
            };
            let abs = legacy(&format!("ldabs{sfx} {k}"), &mut pkt);
            assert_eq!(abs, (want, if ok { 7 } else { 0 }), "ldabs{sfx} {k}");
            // LD_IND with the offset split over register and immediate,
            // with a wrapping 32-bit sum and garbage in the upper half.
            let reg = 0xdead_beef_ffff_fff0u64;
            let imm = k.wrapping_sub(reg as u32 as i32);
            let ind = legacy(
                &format!("lddw %r3, {reg:#x}\nldind{sfx} %r3, {imm}"),
                &mut pkt,
            );
            assert_eq!(ind, (want, if ok { 7 } else { 0 }), "ldind{sfx} {k}");
        }
    }
    // Big-endian: ldabsh 0 of 11 22 is 0x1122.
    assert_eq!(legacy("ldabsh 0", &mut pkt).0, 0x1122);
    assert_eq!(legacy("ldabsw 4", &mut pkt).0, 0x5566_7788);
}

#[test]
fn legacy_loads_network_header_offsets() {
    use cranebpf::ebpf::semantics::{SKF_LL_OFF, SKF_NET_OFF};
    let mut pkt = [0x11u8, 0x22, 0x33, 0x44];
    let net = SKF_NET_OFF;
    assert_eq!(legacy(&format!("ldabsb {}", net + 3), &mut pkt), (0x44, 7));
    assert_eq!(legacy(&format!("ldabsh {}", net + 3), &mut pkt), (0, 0));
    assert_eq!(legacy(&format!("ldabsb {}", net - 1), &mut pkt), (0, 0));
    assert_eq!(legacy(&format!("ldabsb {SKF_LL_OFF}"), &mut pkt), (0, 0));
}

/// Packet programs keep one stack from run to run and zero, before each
/// run, only the part their accesses can reach (`ebpf::stack_depth`): a
/// read before any write sees 0 on every run, whether the analysis placed
/// the access (r10 plus a constant) or gave up (a pointer it cannot follow,
/// so the whole stack is zeroed).
#[test]
fn packet_programs_start_every_run_from_a_zeroed_stack() {
    use cranebpf::ebpf::elf::ObjectProgram;
    use cranebpf::ebpf::runtime::{PacketOptions, PacketProgram};
    for src in [
        "ldxb %r2, [%r10-8]\nstb [%r10-8], 7\nstb [%r10-512], 7\nmov %r0, %r2\nexit",
        // (A pointer into the caller's frame, which a callee's accesses
        // are not placed through.)
        "mov %r1, %r10\ncall local f\nexit\nf:\nldxb %r2, [%r1-300]\nstb [%r1-300], 9\n\
         mov %r0, %r2\nexit",
    ] {
        let xdp = ObjectProgram {
            name: "prog".into(),
            section: "xdp".into(),
            program: assemble(src).expect("assembles"),
            btf_functions: false,
            core: Vec::new(),
        };
        for engine in Engine::EBPF {
            let options = PacketOptions {
                engine: Some(engine),
                ..PacketOptions::default()
            };
            let p = PacketProgram::new(&xdp, &[], options).expect("prepares");
            assert_eq!(p.engine(), engine);
            for run in 0..3 {
                assert_eq!(p.action(&[0u8; 60]), Ok(0), "{engine}, run {run}\n{src}");
            }
        }
    }
}

/// Runs on one thread share a kept stack, zeroed wholly when another
/// program used it last and, between runs of one program, as deep as it can
/// reach: no program sees another's bytes or its own from an earlier run.
#[test]
fn runs_on_one_thread_never_see_stack_bytes_left_by_earlier_runs() {
    let build = |src: &str, engine| {
        EbpfProgram::with_options(
            assemble(src).expect("assembles"),
            EbpfOptions {
                engine: Some(engine),
                ..EbpfOptions::default()
            },
        )
        .expect("builds")
    };
    for engine in Engine::EBPF {
        let writer = build(
            "stdw [%r10-8], -1\nstdw [%r10-304], -1\nstdw [%r10-512], -1\nmov %r0, 0\nexit",
            engine,
        );
        // Reads before writing: at r10-8 (placed), and at r10-304 through a
        // pointer the depth analysis cannot follow.
        let placed = build("ldxdw %r0, [%r10-8]\nstdw [%r10-8], 5\nexit", engine);
        let unplaced = build(
            "mov %r3, %r10\nand %r3, -1\nldxdw %r0, [%r3-304]\nstdw [%r3-304], 5\nexit",
            engine,
        );
        for p in [
            &writer, &placed, &unplaced, &placed, &placed, &writer, &unplaced, &unplaced,
        ] {
            assert_eq!(p.run(&mut []), Ok(0), "{engine}");
        }
    }
}
