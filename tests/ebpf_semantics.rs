//! Edge cases of every instruction group, run through the interpreter
//! (and, for the pure arithmetic, through `ebpf::semantics` directly).

use cranebpf::ebpf::asm::assemble;
use cranebpf::ebpf::interp::{run, RunOptions};
use cranebpf::ebpf::semantics::{alu32, alu64, byte_order, jmp_cond};
use cranebpf::ebpf::{insn::op, ExecError, Helpers};

fn run_with(src: &str, mem: &mut [u8], opts: &RunOptions) -> Result<u64, ExecError> {
    let prog = assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    run(&prog, mem, opts)
}

fn eval(src: &str) -> u64 {
    run_with(src, &mut [], &RunOptions::default()).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

/// `dst OP src` with both loaded by lddw; returns dst.
fn binop(op: &str, a: u64, b: u64) -> u64 {
    eval(&format!(
        "lddw %r0, {a:#x}\nlddw %r1, {b:#x}\n{op} %r0, %r1\nexit"
    ))
}

/// `dst OP imm`.
fn binop_imm(op: &str, a: u64, imm: i32) -> u64 {
    eval(&format!("lddw %r0, {a:#x}\n{op} %r0, {imm}\nexit"))
}

const MIN64: u64 = 0x8000_0000_0000_0000;
const MIN32: u64 = 0x8000_0000;

#[test]
fn signed_division_overflow_and_truncation() {
    assert_eq!(binop("sdiv", MIN64, u64::MAX), MIN64);
    assert_eq!(binop("smod", MIN64, u64::MAX), 0);
    assert_eq!(binop_imm("sdiv", MIN64, -1), MIN64);
    assert_eq!(binop_imm("smod", MIN64, -1), 0);
    assert_eq!(binop("sdiv32", 0xffff_ffff_8000_0000, u64::MAX), MIN32);
    assert_eq!(binop("smod32", MIN32, 0xffff_ffff), 0);
    assert_eq!(binop_imm("sdiv32", MIN32, -1), MIN32);
    assert_eq!(binop_imm("smod32", MIN32, -1), 0);
    // Truncation toward zero; remainder takes the dividend's sign.
    assert_eq!(binop_imm("sdiv", (-7i64) as u64, 2), (-3i64) as u64);
    assert_eq!(binop_imm("smod", (-13i64) as u64, 4), (-1i64) as u64);
    assert_eq!(binop_imm("smod", 13, -3), 1);
    assert_eq!(binop_imm("sdiv32", (-7i64) as u64, 2), 0xffff_fffd);
}

#[test]
fn division_and_modulo_by_zero() {
    assert_eq!(binop("div", 10, 0), 0);
    assert_eq!(binop("sdiv", 10, 0), 0);
    assert_eq!(binop("mod", 10, 0), 10);
    assert_eq!(binop("smod", (-10i64) as u64, 0), (-10i64) as u64);
    assert_eq!(binop_imm("div", 10, 0), 0);
    assert_eq!(binop_imm("mod", 10, 0), 10);
    // 32-bit: the dividend's upper half is cleared even when nothing
    // else changes.
    assert_eq!(binop("mod32", 0x1234_5678_0000_0005, 0), 5);
    assert_eq!(binop("smod32", 0x1234_5678_ffff_fff6, 0), 0xffff_fff6);
    assert_eq!(binop_imm("mod32", 0xffff_ffff_0000_0009, 0), 9);
    assert_eq!(binop("div32", 0x1234_5678_0000_0005, 0), 0);
    // Only the low 32 bits of the divisor count: 2^32 divides by zero.
    assert_eq!(binop("div32", 7, 0x1_0000_0000), 0);
    assert_eq!(binop("mod32", 7, 0x1_0000_0000), 7);
    // ALU64 unsigned division sign-extends the immediate.
    assert_eq!(binop_imm("div", u64::MAX, -1), 1);
    assert_eq!(binop_imm("mod", 5, -1), 5);
}

#[test]
fn shifts_are_masked_to_the_width() {
    for (op, a, expect) in [
        ("lsh", 1u64, [1u64 << 63, 1, 2]),
        ("rsh", MIN64, [1, MIN64, MIN64 >> 1]),
        ("arsh", MIN64, [u64::MAX, MIN64, 0xc000_0000_0000_0000]),
    ] {
        for (n, want) in [63u64, 64, 65].into_iter().zip(expect) {
            assert_eq!(binop(op, a, n), want, "{op} by {n}");
            assert_eq!(binop_imm(op, a, n as i32), want, "{op} by imm {n}");
        }
    }
    for (op, a, expect) in [
        ("lsh32", 1u64, [MIN32, 1, 2]),
        ("rsh32", MIN32, [1, MIN32, MIN32 >> 1]),
        ("arsh32", MIN32, [0xffff_ffff, MIN32, 0xc000_0000]),
    ] {
        for (n, want) in [31u64, 32, 33].into_iter().zip(expect) {
            assert_eq!(binop(op, a | 0xabcd_0000_0000_0000, n), want, "{op} by {n}");
            assert_eq!(binop_imm(op, a, n as i32), want, "{op} by imm {n}");
        }
    }
    // Negative immediates are masked too (-1 & 63 = 63).
    assert_eq!(binop_imm("lsh", 1, -1), 1 << 63);
    assert_eq!(binop_imm("rsh32", MIN32, -1), 1);
}

#[test]
fn sign_extension_at_every_width() {
    let mx = |m: &str, v: u64| eval(&format!("lddw %r1, {v:#x}\n{m} %r0, %r1\nexit"));
    assert_eq!(mx("movsx864", 0x80), 0xffff_ffff_ffff_ff80);
    assert_eq!(mx("movsx864", 0x17f), 0x7f);
    assert_eq!(mx("movsx1664", 0x8000), 0xffff_ffff_ffff_8000);
    assert_eq!(mx("movsx1664", 0x1_7fff), 0x7fff);
    assert_eq!(mx("movsx3264", 0x8000_0000), 0xffff_ffff_8000_0000);
    assert_eq!(mx("movsx3264", 0x1_7fff_ffff), 0x7fff_ffff);
    assert_eq!(mx("movsx832", 0xffff_0000_0000_0080), 0xffff_ff80);
    assert_eq!(mx("movsx1632", 0x8000), 0xffff_8000);
    assert_eq!(mx("movsx1632", 0x7fff), 0x7fff);
    // Sign-extending loads.
    let mut mem = [0x80, 0x80, 0x00, 0x80, 0x7f, 0x7f, 0x7f, 0x7f];
    let load = |m: &str, off: i16, mem: &mut [u8]| {
        run_with(
            &format!("{m} %r0, [%r1{off:+}]\nexit"),
            mem,
            &RunOptions::default(),
        )
        .expect("run")
    };
    assert_eq!(load("ldxsb", 0, &mut mem), 0xffff_ffff_ffff_ff80);
    assert_eq!(load("ldxsh", 0, &mut mem), 0xffff_ffff_ffff_8080);
    assert_eq!(load("ldxsw", 0, &mut mem), 0xffff_ffff_8000_8080);
    assert_eq!(load("ldxsb", 4, &mut mem), 0x7f);
    assert_eq!(load("ldxsh", 4, &mut mem), 0x7f7f);
    assert_eq!(load("ldxsw", 4, &mut mem), 0x7f7f_7f7f);
    // mov32 and every 32-bit result zero-extend; mov64 imm sign-extends.
    assert_eq!(binop("mov32", 0, u64::MAX), 0xffff_ffff);
    assert_eq!(binop_imm("mov", 0, -1), u64::MAX);
    assert_eq!(binop_imm("mov32", u64::MAX, -1), 0xffff_ffff);
    assert_eq!(binop_imm("add32", u64::MAX, 1), 0);
}

#[test]
fn negation_and_multiplication_wrap() {
    assert_eq!(eval(&format!("lddw %r0, {MIN64:#x}\nneg %r0\nexit")), MIN64);
    assert_eq!(eval("mov32 %r0, 0x80000000\nneg32 %r0\nexit"), MIN32);
    assert_eq!(eval("lddw %r0, 0x100000005\nneg32 %r0\nexit"), 0xffff_fffb);
    assert_eq!(binop("mul", MIN64, u64::MAX), MIN64);
    assert_eq!(binop("mul32", 0x1_0000_0003, 0x2_0000_0005), 15);
}

#[test]
fn byte_order_conversions() {
    let v = 0x1122_3344_5566_7788u64;
    let bo = |m: &str| eval(&format!("lddw %r0, {v:#x}\n{m} %r0\nexit"));
    assert_eq!(bo("le16"), 0x7788);
    assert_eq!(bo("le32"), 0x5566_7788);
    assert_eq!(bo("le64"), v);
    assert_eq!(bo("be16"), 0x8877);
    assert_eq!(bo("be32"), 0x8877_6655);
    assert_eq!(bo("be64"), 0x8877_6655_4433_2211);
    assert_eq!(bo("bswap16"), 0x8877);
    assert_eq!(bo("bswap32"), 0x8877_6655);
    assert_eq!(bo("bswap64"), 0x8877_6655_4433_2211);
    assert_eq!(byte_order(op::BSWAP, 64, v), v.swap_bytes());
}

#[test]
fn conditional_jumps_signed_unsigned_and_32_bit() {
    let taken = |j: &str, a: u64, b: u64| {
        eval(&format!(
            "lddw %r1, {a:#x}\nlddw %r2, {b:#x}\nmov %r0, 0\n{j} %r1, %r2, +1\nexit\nmov %r0, 1\nexit"
        )) == 1
    };
    assert!(taken("jgt", u64::MAX, 0));
    assert!(!taken("jsgt", u64::MAX, 0));
    assert!(taken("jslt", MIN64, 0));
    assert!(taken("jsle", 5, 5) && taken("jge", 5, 5) && taken("jle", 5, 5));
    assert!(!taken("jlt", 5, 5) && !taken("jne", 5, 5) && taken("jeq", 5, 5));
    assert!(taken("jset", 6, 2) && !taken("jset", 4, 2));
    // JMP32 looks only at the low halves.
    assert!(taken("jeq32", 0x1_0000_0005, 0x2_0000_0005));
    assert!(!taken("jeq", 0x1_0000_0005, 0x2_0000_0005));
    assert!(taken("jslt32", MIN32, 0) && !taken("jslt", MIN32, 0));
    assert!(taken("jsge32", 0xffff_ffff_0000_0000, 0));
    // JMP immediates are sign-extended; JMP32 immediates compare 32 bits.
    let imm = |j: &str, a: u64, k: i32| {
        eval(&format!(
            "lddw %r1, {a:#x}\nmov %r0, 0\n{j} %r1, {k}, +1\nexit\nmov %r0, 1\nexit"
        )) == 1
    };
    assert!(imm("jeq", u64::MAX, -1));
    assert!(!imm("jeq", 0xffff_ffff, -1));
    assert!(imm("jeq32", 0xffff_ffff, -1));
    assert!(jmp_cond(op::JSGT, 1, u64::MAX, false));
    assert!(!jmp_cond(op::JGT, 1, u64::MAX, true));
}

#[test]
fn atomics_with_and_without_fetch() {
    // (op, old, src, new memory, fetched value for the fetch form)
    let cases = [
        (
            "add",
            0x1_0000_0001u64,
            0xffff_ffffu64,
            0x1_0000_0001u64 + 0xffff_ffff,
        ),
        ("or", 0xf0, 0x0f, 0xff),
        ("and", 0xf0f0, 0xff00, 0xf000),
        ("xor", 0xff, 0x0f, 0xf0),
    ];
    for (name, old, src, new) in cases {
        for (w, mask) in [("", u64::MAX), ("32", 0xffff_ffffu64)] {
            for fetch in ["", "fetch "] {
                let src_text = format!(
                    "lddw %r1, {old:#x}\nstxdw [%r10-8], %r1\nlddw %r2, {src:#x}\n\
                     lock {fetch}{name}{w} [%r10-8], %r2\nldxdw %r0, [%r10-8]\n\
                     stxdw [%r10-16], %r2\nldxdw %r3, [%r10-16]\nexit"
                );
                let got = eval(&src_text);
                let want = (old & !mask) | (new & mask);
                assert_eq!(got, want, "lock {fetch}{name}{w}");
                let fetched = eval(
                    &src_text
                        .replace("ldxdw %r0, [%r10-8]\n", "")
                        .replace("ldxdw %r3, [%r10-16]\nexit", "ldxdw %r0, [%r10-16]\nexit"),
                );
                let want_fetch = if fetch.is_empty() { src } else { old & mask };
                assert_eq!(fetched, want_fetch, "src after lock {fetch}{name}{w}");
            }
        }
    }
}

#[test]
fn xchg_and_cmpxchg() {
    let mem_and = |tail: &str| {
        eval(&format!(
            "lddw %r1, 0x1111111122222222\nstxdw [%r10-8], %r1\nlddw %r2, 0x3333333344444444\n{tail}\nexit"
        ))
    };
    // xchg: memory gets src, src gets old.
    assert_eq!(
        mem_and("lock xchg [%r10-8], %r2\nmov %r0, %r2"),
        0x1111_1111_2222_2222
    );
    assert_eq!(
        mem_and("lock xchg [%r10-8], %r2\nldxdw %r0, [%r10-8]"),
        0x3333_3333_4444_4444
    );
    assert_eq!(
        mem_and("lock xchg32 [%r10-8], %r2\nmov %r0, %r2"),
        0x2222_2222
    );
    assert_eq!(
        mem_and("lock xchg32 [%r10-8], %r2\nldxdw %r0, [%r10-8]"),
        0x1111_1111_4444_4444
    );
    // cmpxchg success: r0 matched, memory gets src, r0 gets old.
    let ok = "lddw %r0, 0x1111111122222222\nlock cmpxchg [%r10-8], %r2\n";
    assert_eq!(mem_and(ok), 0x1111_1111_2222_2222);
    assert_eq!(
        mem_and(&format!("{ok}ldxdw %r0, [%r10-8]")),
        0x3333_3333_4444_4444
    );
    // cmpxchg failure: memory unchanged, r0 still gets old.
    let fail = "mov %r0, 5\nlock cmpxchg [%r10-8], %r2\n";
    assert_eq!(mem_and(fail), 0x1111_1111_2222_2222);
    assert_eq!(
        mem_and(&format!("{fail}ldxdw %r0, [%r10-8]")),
        0x1111_1111_2222_2222
    );
    // 32-bit: compares the low 32 bits of r0 only, zero-extends the old value.
    let ok32 = "lddw %r0, 0xffffffff22222222\nlock cmpxchg32 [%r10-8], %r2\n";
    assert_eq!(mem_and(ok32), 0x2222_2222);
    assert_eq!(
        mem_and(&format!("{ok32}ldxdw %r0, [%r10-8]")),
        0x1111_1111_4444_4444
    );
    let fail32 = "mov %r0, 0x11111111\nlock cmpxchg32 [%r10-8], %r2\n";
    assert_eq!(mem_and(fail32), 0x2222_2222);
    assert_eq!(
        mem_and(&format!("{fail32}ldxdw %r0, [%r10-8]")),
        0x1111_1111_2222_2222
    );
}

#[test]
fn semantics_functions_agree_with_the_rfc() {
    assert_eq!(alu64(op::DIV, 1, MIN64, u64::MAX), MIN64);
    assert_eq!(alu64(op::MOD, 0, 9, 0), 9);
    assert_eq!(alu32(op::MOD, 0, 0xffff_0000_0000_0009, 0), 9);
    assert_eq!(alu32(op::MOV, 8, 0, 0xff), 0xffff_ffff);
    assert_eq!(alu64(op::MOV, 32, 0, 0xffff_ffff), u64::MAX);
    assert_eq!(alu64(op::LSH, 0, 1, 64), 1);
    assert_eq!(alu32(op::ARSH, 0, MIN32, 32), MIN32);
}

#[test]
fn local_calls_preserve_callee_saved_registers_and_stack() {
    let src = "mov %r6, 6\nmov %r1, 7\nstdw [%r10-8], 40\ncall local f\n\
               ldxdw %r2, [%r10-8]\nadd %r0, %r2\nadd %r0, %r6\nexit\n\
               f:\nmov %r6, 100\nstdw [%r10-8], 1000\nmov %r0, %r1\nexit";
    // r0 = 7 (callee) + 40 (caller's stack slot untouched) + 6 (r6 back).
    assert_eq!(eval(src), 53);
}

#[test]
fn callee_can_use_a_pointer_into_the_callers_frame() {
    let src = "stdw [%r10-8], 5\nmov %r1, %r10\nadd %r1, -8\ncall local f\n\
               ldxdw %r0, [%r10-8]\nexit\nf:\nstdw [%r1], 9\nmov %r0, 0\nexit";
    assert_eq!(eval(src), 9);
}

#[test]
fn helpers_unwind_and_callx() {
    let opts = RunOptions {
        helpers: Helpers::conformance(),
        budget: None,
    };
    let go = |s: &str| run_with(s, &mut [], &opts);
    assert_eq!(go("mov %r1, 0\ncall 5\nmov %r0, 2\nexit"), Ok(0));
    assert_eq!(go("mov %r1, 9\ncall 5\nexit"), Ok(9));
    assert_eq!(go("mov %r1, 9\nmov %r2, 5\ncall %r2\nexit"), Ok(9));
    assert_eq!(
        go("mov %r1, 9\nmov %r2, 4\ncall %r2\nexit"),
        Err(ExecError::UnknownHelper { pc: 2, id: 4 })
    );
    assert_eq!(
        go("mov %r1, 9\nlddw %r2, 0x100000005\ncall %r2\nexit"),
        Err(ExecError::UnknownHelper {
            pc: 3,
            id: 0x1_0000_0005
        })
    );
    // Unwinding from inside a local function stops the whole program.
    assert_eq!(
        go("call local f\nmov %r0, 3\nexit\nf:\nmov %r1, 0\ncall 5\nmov %r0, 4\nexit"),
        Ok(0)
    );
}

#[test]
fn budget_and_runtime_call_depth() {
    let looping = "mov %r0, 0\nadd %r0, 1\nja -2";
    let opts = RunOptions {
        helpers: Helpers::new(),
        budget: Some(10),
    };
    assert_eq!(
        run_with(looping, &mut [], &opts),
        Err(ExecError::BudgetExhausted { pc: 2 })
    );
    // Exactly enough budget: 4 instructions run.
    let four = "mov %r0, 1\nmov %r0, 2\nmov %r0, 3\nexit";
    let budget = |n| RunOptions {
        helpers: Helpers::new(),
        budget: Some(n),
    };
    assert_eq!(run_with(four, &mut [], &budget(4)), Ok(3));
    assert_eq!(
        run_with(four, &mut [], &budget(3)),
        Err(ExecError::BudgetExhausted { pc: 3 })
    );
    // Unbounded recursion, accepted with a budget, stops at the 9th frame.
    let rec = "mov %r0, 0\ncall local f\nexit\nf:\ncall local f\nexit";
    assert_eq!(
        run_with(rec, &mut [], &budget(1000)),
        Err(ExecError::CallDepthExceeded { pc: 3 })
    );
}
