//! Every verifier rule, accepted and refused, with the instruction index.

use cranebpf::ebpf::asm::assemble;
use cranebpf::ebpf::insn::op;
use cranebpf::ebpf::verify::{verify, LoopReason, Rule, VerifyError, VerifyOptions};
use cranebpf::ebpf::{Helpers, Insn, Program, MAX_INSNS};

fn opts(budget: Option<u64>) -> VerifyOptions {
    VerifyOptions {
        helpers: Helpers::conformance(),
        budget,
    }
}

fn check_insns(insns: Vec<Insn>) -> Result<(), VerifyError> {
    verify(&Program::new(insns), &opts(None))
}

fn check(src: &str) -> Result<(), VerifyError> {
    check_budget(src, None)
}

fn check_budget(src: &str, budget: Option<u64>) -> Result<(), VerifyError> {
    let prog = assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    verify(&prog, &opts(budget))
}

fn refused(pc: usize, rule: Rule) -> Result<(), VerifyError> {
    Err(VerifyError { pc, rule })
}

const MOV0: Insn = Insn::new(op::ALU64 | op::MOV, 0, 0, 0, 0);
const EXIT: Insn = Insn::new(op::EXIT_OP, 0, 0, 0, 0);

/// `mov r0, 0; <insn>; exit`.
fn one(i: Insn) -> Result<(), VerifyError> {
    check_insns(vec![MOV0, i, EXIT])
}

#[test]
fn empty_program() {
    assert_eq!(check_insns(vec![]), refused(0, Rule::Empty));
    assert_eq!(check_insns(vec![MOV0, EXIT]), Ok(()));
}

#[test]
fn unknown_opcodes() {
    for opc in [
        0x00u8, // LD W IMM
        0x38,   // LD ABS DW
        0x58,   // LD IND DW
        0xe4,   // ALU op 0xe0
        0xf7,   // ALU64 op 0xf0
        0xdf,   // ALU64 END with the X bit
        0x8c,   // NEG with the X bit
        0x86,   // JMP32 CALL
        0x96,   // JMP32 EXIT
        0x9d,   // EXIT with the X bit
        0x0d,   // JA with the X bit
        0xe5,   // JMP op 0xe0
        0x99,   // LDX MEMSX DW
        0xc1,   // LDX ATOMIC
        0x82,   // ST MEMSX
        0xc2,   // ST ATOMIC
        0xd3,   // STX ATOMIC B
        0xcb,   // STX ATOMIC H
        0xa3,   // STX MEMSX
    ] {
        assert_eq!(
            one(Insn::new(opc, 1, 0, 0, 0)),
            refused(1, Rule::UnknownOpcode(opc)),
            "{opc:#x}"
        );
    }
    // Their valid neighbours.
    for i in [
        Insn::new(0x30, 0, 0, 0, 0),           // ldabsb
        Insn::new(0x50, 0, 1, 0, 0),           // ldindb r1
        Insn::new(0xd7, 1, 0, 0, 16),          // bswap16
        Insn::new(0x87, 1, 0, 0, 0),           // neg
        Insn::new(0x91, 1, 10, -1, 0),         // ldxsb
        Insn::new(0xdb, 10, 1, -8, op::FETCH), // lock fetch add
        Insn::new(0xc3, 10, 1, -8, 0x40),      // lock or32
        Insn::new(0x06, 0, 0, 0, 0),           // ja32 +0
    ] {
        assert_eq!(one(i), Ok(()), "{i:?}");
    }
}

#[test]
fn reserved_fields_must_be_zero() {
    let cases = [
        (Insn::new(0x07, 1, 2, 0, 1), "src", 2),   // add imm with src
        (Insn::new(0x0f, 1, 2, 0, 1), "imm", 1),   // add reg with imm
        (Insn::new(0x07, 1, 0, 3, 1), "off", 3),   // add with off
        (Insn::new(0x87, 1, 0, 0, 1), "imm", 1),   // neg with imm
        (Insn::new(0xd4, 1, 0, 1, 16), "off", 1),  // le16 with off
        (Insn::new(0x05, 0, 0, 0, 1), "imm", 1),   // ja with imm
        (Insn::new(0x05, 1, 0, 0, 0), "dst", 1),   // ja with dst
        (Insn::new(0x06, 0, 0, 1, 0), "off", 1),   // ja32 with off
        (Insn::new(0x15, 1, 2, 0, 0), "src", 2),   // jeq imm with src
        (Insn::new(0x1d, 1, 2, 0, 5), "imm", 5),   // jeq reg with imm
        (Insn::new(0x85, 1, 0, 0, 5), "dst", 1),   // call with dst
        (Insn::new(0x85, 0, 0, 1, 5), "off", 1),   // call with off
        (Insn::new(0x8d, 2, 1, 0, 0), "src", 1),   // callx with src
        (Insn::new(0x8d, 2, 0, 0, 5), "imm", 5),   // callx with imm
        (Insn::new(0x79, 1, 10, -8, 1), "imm", 1), // ldxdw with imm
        (Insn::new(0x7a, 10, 1, -8, 1), "src", 1), // stdw with src
        (Insn::new(0x7b, 10, 1, -8, 1), "imm", 1), // stxdw with imm
        (Insn::new(0x20, 1, 0, 0, 0), "dst", 1),   // ldabsw with dst
        (Insn::new(0x20, 0, 1, 0, 0), "src", 1),   // ldabsw with src
        (Insn::new(0x40, 0, 1, 2, 0), "off", 2),   // ldindw with off
    ];
    for (i, field, value) in cases {
        assert_eq!(
            one(i),
            refused(1, Rule::ReservedField { field, value }),
            "{i:?}"
        );
    }
    // exit with anything set.
    assert_eq!(
        check_insns(vec![MOV0, Insn::new(0x95, 0, 0, 0, 1)]),
        refused(
            1,
            Rule::ReservedField {
                field: "imm",
                value: 1
            }
        )
    );
    // lddw's second slot must be empty but for imm.
    let lddw = Insn::new(op::LDDW, 0, 0, 0, 1);
    assert_eq!(
        check_insns(vec![lddw, Insn::new(0, 0, 0, 0, 7), EXIT]),
        Ok(())
    );
    assert_eq!(
        check_insns(vec![lddw, Insn::new(0, 1, 0, 0, 7), EXIT]),
        refused(
            0,
            Rule::ReservedField {
                field: "second slot dst",
                value: 1
            }
        )
    );
    assert_eq!(
        check_insns(vec![lddw, Insn::new(0x18, 0, 0, 0, 7), EXIT]),
        refused(
            0,
            Rule::ReservedField {
                field: "second slot opcode",
                value: 0x18
            }
        )
    );
}

#[test]
fn bad_field_values() {
    let cases = [
        (Insn::new(0xd4, 1, 0, 0, 8), "imm", 8),         // le8
        (Insn::new(0xd7, 1, 0, 0, 0), "imm", 0),         // bswap0
        (Insn::new(0xbf, 1, 2, 4, 0), "off", 4),         // movsx 4
        (Insn::new(0xbc, 1, 2, 32, 0), "off", 32),       // movsx3232
        (Insn::new(0xb7, 1, 0, 8, 0), "off", 8),         // mov imm with off
        (Insn::new(0x3f, 1, 2, 2, 0), "off", 2),         // div off 2
        (Insn::new(0xdb, 10, 1, -8, 0x10), "imm", 0x10), // atomic 0x10
        (Insn::new(0xdb, 10, 1, -8, 0xe0), "imm", 0xe0), // xchg w/o fetch
        (Insn::new(0xdb, 10, 1, -8, 0xf0), "imm", 0xf0), // cmpxchg w/o fetch
        (Insn::new(0xc3, 10, 1, -8, 0xe0), "imm", 0xe0), // xchg32 w/o fetch
        (Insn::new(0x85, 0, 3, 0, 0), "src", 3),         // call kind 3
    ];
    for (i, field, value) in cases {
        assert_eq!(one(i), refused(1, Rule::BadField { field, value }), "{i:?}");
    }
    // The valid forms next to them.
    for i in [
        Insn::new(0xd4, 1, 0, 0, 64),
        Insn::new(0xbf, 1, 2, 32, 0),
        Insn::new(0xbc, 1, 2, 16, 0),
        Insn::new(0x3f, 1, 2, 1, 0),
        Insn::new(0xdb, 10, 1, -8, op::XCHG),
        Insn::new(0xc3, 10, 1, -8, op::CMPXCHG),
        Insn::new(0xc3, 10, 1, -8, 0xa1),
    ] {
        assert_eq!(one(i), Ok(()), "{i:?}");
    }
}

#[test]
fn registers_above_10() {
    assert_eq!(
        one(Insn::new(0xb7, 11, 0, 0, 0)),
        refused(1, Rule::BadRegister(11))
    );
    assert_eq!(
        one(Insn::new(0xbf, 1, 12, 0, 0)),
        refused(1, Rule::BadRegister(12))
    );
    assert_eq!(
        one(Insn::new(0x1d, 15, 1, 0, 0)),
        refused(1, Rule::BadRegister(15))
    );
    assert_eq!(
        one(Insn::new(0x8d, 11, 0, 0, 0)),
        refused(1, Rule::BadRegister(11))
    );
    assert_eq!(
        one(Insn::new(0x63, 1, 13, 0, 0)),
        refused(1, Rule::BadRegister(13))
    );
    assert_eq!(
        one(Insn::new(0x48, 0, 11, 0, 0)),
        refused(1, Rule::BadRegister(11))
    );
}

#[test]
fn r10_is_read_only() {
    for src in [
        "mov %r10, 1",
        "add %r10, 8",
        "neg %r10",
        "be16 %r10",
        "ldxdw %r10, [%r1]",
        "lddw %r10, 5",
        "lock fetch add [%r1], %r10",
        "lock xchg [%r1], %r10",
    ] {
        assert_eq!(
            check(&format!("mov %r0, 0\n{src}\nexit")),
            refused(1, Rule::WritesR10),
            "{src}"
        );
    }
    for src in [
        "mov %r3, %r10",
        "stxdw [%r10-8], %r10",
        "lock add [%r10-8], %r10",
        "lock cmpxchg [%r10-8], %r10",
        "jeq %r10, 0, +0",
    ] {
        assert_eq!(check(&format!("mov %r0, 0\n{src}\nexit")), Ok(()), "{src}");
    }
}

#[test]
fn incomplete_lddw_and_unsupported_forms() {
    assert_eq!(
        check_insns(vec![MOV0, Insn::new(op::LDDW, 1, 0, 0, 0)]),
        refused(1, Rule::IncompleteLddw)
    );
    let map = Insn::new(op::LDDW, 1, 1, 0, 3);
    assert!(matches!(
        check_insns(vec![map, Insn::default(), MOV0, EXIT]),
        Err(VerifyError {
            pc: 0,
            rule: Rule::Unsupported(_)
        })
    ));
    assert!(matches!(
        check("call runtime 5\nexit"),
        Err(VerifyError {
            pc: 0,
            rule: Rule::Unsupported(_)
        })
    ));
}

#[test]
fn jump_targets() {
    assert_eq!(
        check("mov %r0, 0\nja +2\nexit"),
        refused(1, Rule::JumpOutOfRange { target: 4 })
    );
    assert_eq!(
        check("ja -2\nmov %r0, 0\nexit"),
        refused(0, Rule::JumpOutOfRange { target: -1 })
    );
    assert_eq!(
        check("mov %r0, 0\njeq %r0, 0, +1\nexit"),
        refused(1, Rule::JumpOutOfRange { target: 3 })
    );
    assert_eq!(
        check("mov %r0, 0\nja32 +100000\nexit"),
        refused(1, Rule::JumpOutOfRange { target: 100_002 })
    );
    // Into the second slot of lddw.
    assert_eq!(
        check("mov %r0, 0\nja +1\nlddw %r0, 5\nexit"),
        refused(1, Rule::JumpIntoLddw { target: 3 })
    );
    assert_eq!(check("mov %r0, 0\nja +2\nlddw %r0, 5\nexit"), Ok(()));
    // Local call targets.
    assert_eq!(
        check("mov %r0, 0\ncall local +5\nexit"),
        refused(1, Rule::CallOutOfRange { target: 7 })
    );
    assert_eq!(
        check("call local +2\nexit\nlddw %r0, 1\nexit"),
        refused(0, Rule::JumpIntoLddw { target: 3 })
    );
    assert_eq!(check("call local +1\nexit\nmov %r0, 1\nexit"), Ok(()));
}

#[test]
fn helper_numbers() {
    assert_eq!(check("mov %r1, 1\ncall 5\nexit"), Ok(()));
    assert_eq!(
        check("mov %r1, 1\ncall 6\nexit"),
        refused(1, Rule::UnknownHelper(6))
    );
    assert_eq!(
        check("mov %r1, 1\ncall -1\nexit"),
        refused(1, Rule::UnknownHelper(-1))
    );
    // callx is checked at run time; the register must be written.
    assert_eq!(check("mov %r3, 9\ncall %r3\nexit"), Ok(()));
    assert_eq!(
        check("call %r3\nexit"),
        refused(0, Rule::UninitializedRead(3))
    );
}

#[test]
fn falling_off_the_end() {
    assert_eq!(check("mov %r0, 0"), refused(0, Rule::FallsOffEnd));
    assert_eq!(
        check("mov %r0, 0\njeq %r0, 1, -2"),
        refused(1, Rule::FallsOffEnd)
    );
    assert_eq!(
        check("mov %r0, 0\ncall local -2"),
        refused(1, Rule::FallsOffEnd)
    );
    // Unreachable code may fall off the end; an exit need not be last.
    assert_eq!(check("mov %r0, 0\nexit\nmov %r0, 1"), Ok(()));
    assert_eq!(check("mov %r0, 0\nja +1\nexit\nja -2"), Ok(()));
}

#[test]
fn reads_before_writes() {
    assert_eq!(
        check("mov %r0, %r1\nadd %r0, %r2\nadd %r0, %r10\nexit"),
        Ok(())
    );
    assert_eq!(
        check("mov %r0, %r3\nexit"),
        refused(0, Rule::UninitializedRead(3))
    );
    assert_eq!(check("exit"), refused(0, Rule::UninitializedRead(0)));
    assert_eq!(
        check("add %r0, 1\nexit"),
        refused(0, Rule::UninitializedRead(0))
    );
    // Written on one path only.
    let one_path = "jeq %r1, 0, +1\nmov %r0, 1\nexit";
    assert_eq!(check(one_path), refused(2, Rule::UninitializedRead(0)));
    assert_eq!(check(&format!("mov %r0, 0\n{one_path}")), Ok(()));
    // Calls and legacy loads clobber r1-r5 and set r0.
    assert_eq!(
        check("mov %r1, 1\ncall 5\nmov %r0, %r1\nexit"),
        refused(2, Rule::UninitializedRead(1))
    );
    assert_eq!(check("mov %r1, 1\ncall 5\nexit"), Ok(()));
    assert_eq!(
        check("ldabsb 0\nmov %r0, %r2\nexit"),
        refused(1, Rule::UninitializedRead(2))
    );
    assert_eq!(check("mov %r6, 1\nldabsb 0\nadd %r0, %r6\nexit"), Ok(()));
    // Stores read their operands; atomics with fetch write src; cmpxchg
    // reads r0.
    assert_eq!(
        check("stxdw [%r10-8], %r4\nmov %r0, 0\nexit"),
        refused(0, Rule::UninitializedRead(4))
    );
    assert_eq!(
        check("mov %r2, 1\nlock cmpxchg [%r10-8], %r2\nexit"),
        refused(1, Rule::UninitializedRead(0))
    );
    assert_eq!(
        check("mov %r0, 0\nmov %r2, 1\nlock cmpxchg [%r10-8], %r2\nexit"),
        Ok(())
    );
}

#[test]
fn reads_across_local_calls() {
    // r6-r9 survive a call, r1-r5 do not, r0 is the result.
    assert_eq!(
        check("mov %r6, 1\ncall local f\nadd %r0, %r6\nexit\nf:\nmov %r0, 2\nexit"),
        Ok(())
    );
    assert_eq!(
        check("mov %r3, 1\ncall local f\nmov %r0, %r3\nexit\nf:\nmov %r0, 2\nexit"),
        refused(2, Rule::UninitializedRead(3))
    );
    // The callee sees the arguments its callers set, not r6-r9.
    assert_eq!(
        check("mov %r3, 1\ncall local f\nexit\nf:\nmov %r0, %r3\nexit"),
        Ok(())
    );
    assert_eq!(
        check("mov %r6, 1\ncall local f\nexit\nf:\nmov %r0, %r6\nexit"),
        refused(3, Rule::UninitializedRead(6))
    );
    assert_eq!(
        check("mov %r4, 1\ncall local f\nexit\nf:\nmov %r0, %r4\nexit\nmov %r0, 0\n"),
        Ok(())
    );
    // A callee may return without setting r0 (clang does so when every
    // caller sets the result it knows): the kernel checks r0 at the
    // program's exit only, the callee's r0 becoming the caller's as it is
    // (`R0 !read_ok` at 2 here, from Linux 6.18).
    assert_eq!(
        check("mov %r0, 1\ncall local f\nexit\nf:\nexit"),
        refused(2, Rule::UninitializedRead(0))
    );
    assert_eq!(
        check("mov %r0, 1\ncall local f\nmov %r0, 2\nexit\nf:\nexit"),
        Ok(())
    );
    // r0 counts as written after a call only if every exit of the callee
    // writes it; nested calls pass an unwritten r0 on.
    assert_eq!(
        check("call local f\nexit\nf:\njeq %r1, 0, +1\nmov %r0, 5\nexit"),
        refused(1, Rule::UninitializedRead(0))
    );
    assert_eq!(
        check("call local f\nexit\nf:\njeq %r1, 0, +2\nmov %r0, 5\nexit\nmov %r0, 6\nexit"),
        Ok(())
    );
    assert_eq!(
        check("call local f\nadd %r0, 1\nexit\nf:\ncall local g\nexit\ng:\nexit"),
        refused(1, Rule::UninitializedRead(0))
    );
    assert_eq!(
        check("call local f\nmov %r0, 0\nexit\nf:\ncall local g\nexit\ng:\nexit"),
        Ok(())
    );
}

fn unproven(pc: usize, target: usize) -> Result<(), VerifyError> {
    refused(
        pc,
        Rule::Loop {
            target,
            reason: LoopReason::Unproven,
        },
    )
}

#[test]
fn loops_need_a_proof_or_a_budget() {
    // Counted loops whose exit a counter must reach are proven.
    let counted = "mov %r0, 0\nadd %r0, 1\njlt %r0, 10, -2\nexit";
    assert_eq!(check(counted), Ok(()));
    assert_eq!(check("mov %r0, 0\nja -1"), unproven(1, 1));
    assert_eq!(check_budget("mov %r0, 0\nja -1", Some(100)), Ok(()));
    // A backward jump that closes no cycle is not a loop.
    assert_eq!(check("mov %r0, 0\nja +2\nmov %r1, 0\nexit\nja -3"), Ok(()));
    // A loop inside a local function.
    assert_eq!(
        check("call local f\nexit\nf:\nmov %r0, 0\nja -1"),
        unproven(3, 3)
    );
}

/// `ldxdw r2, [r1]` (an unknown bound), `mov r0, 0`, then `body`.
fn with_unknown_bound(body: &str) -> String {
    format!("ldxdw %r2, [%r1]\nmov %r0, 0\n{body}")
}

#[test]
fn counted_exits_against_unknown_bounds() {
    // i += 1 until i >= n: reached for every n.
    let up = with_unknown_bound("add %r0, 1\njgt %r2, %r0, -2\nexit");
    assert_eq!(check(&up), Ok(()));
    // until i == n, and until i != n, counting down: every value is hit.
    assert_eq!(
        check(&with_unknown_bound("sub %r0, 1\njne %r0, %r2, -2\nexit")),
        Ok(())
    );
    assert_eq!(
        check(&with_unknown_bound("add %r0, 3\njeq %r0, %r2, -2\nexit")),
        Ok(())
    );
    // until i > n: never when n = u64::MAX, a real infinite loop.
    assert_eq!(
        check(&with_unknown_bound("add %r0, 1\njle %r0, %r2, -2\nexit")),
        unproven(3, 2)
    );
    // An even step can jump over n.
    assert_eq!(
        check(&with_unknown_bound("add %r0, 2\njne %r0, %r2, -2\nexit")),
        unproven(3, 2)
    );
    // A 32-bit counter never equals a 64-bit n >= 2^32 ...
    assert_eq!(
        check(&with_unknown_bound("add32 %r0, 1\njne %r0, %r2, -2\nexit")),
        unproven(3, 2)
    );
    // ... but compared on 32 bits it reaches any n.
    assert_eq!(
        check(&with_unknown_bound(
            "add32 %r0, 1\njne32 %r0, %r2, -2\nexit"
        )),
        Ok(())
    );
    // clang's zero-extension (lsh 32; rsh 32) of a 64-bit counter against
    // a constant below 2^32.
    let zext = "mov %r3, %r0\nlsh %r3, 32\nrsh %r3, 32\nadd %r0, 1\njne %r3, 10000, -5\nexit";
    assert_eq!(check(&with_unknown_bound(zext)), Ok(()));
    // A bound changed inside the loop is not invariant.
    assert_eq!(
        check(&with_unknown_bound(
            "add %r0, 1\nadd %r2, 1\njne %r0, %r2, -3\nexit"
        )),
        unproven(4, 2)
    );
    // An exit skipped on some iterations proves nothing.
    let skipped = "add %r0, 1\nldxb %r3, [%r1]\njeq %r3, 0, +1\njeq %r0, 5, +1\nja -5\nexit";
    assert_eq!(check(&with_unknown_bound(skipped)), unproven(6, 2));
}

#[test]
fn memory_walks_and_exploration() {
    // Reading through a pointer that advances by a constant each iteration
    // ends in an exit or an out-of-bounds error.
    let walk = "mov %r3, %r1\nldxb %r4, [%r3]\nadd %r3, 8\njne %r4, 0, -3\nmov %r0, 0\nexit";
    assert_eq!(check(walk), Ok(()));
    // Not if the pointer stands still.
    let still = "mov %r3, %r1\nldxb %r4, [%r3]\njne %r4, 0, -2\nmov %r0, 0\nexit";
    assert_eq!(check(still), unproven(2, 1));
    // Loops on known values only are explored to the end: a non-linear
    // exit (i * i > 1000).
    let square =
        "mov %r1, 0\nadd %r1, 1\nmov %r2, %r1\nmul %r2, %r2\njle %r2, 1000, -4\nmov %r0, %r1\nexit";
    assert_eq!(check(square), Ok(()));
}

#[test]
fn irreducible_loops() {
    // A cycle entered at two instructions (3 and 4), with an unknown bound.
    let two_entries =
        with_unknown_bound("jeq %r2, 0, +1\nadd %r0, 1\nadd %r0, 1\njlt %r0, %r2, -3\nexit");
    assert_eq!(
        check(&two_entries),
        refused(
            5,
            Rule::Loop {
                target: 3,
                reason: LoopReason::Irreducible,
            },
        )
    );
    // With a constant bound the exploration proves it.
    let constant =
        with_unknown_bound("jeq %r2, 0, +1\nadd %r0, 1\nadd %r0, 1\njlt %r0, 100, -3\nexit");
    assert_eq!(check(&constant), Ok(()));
}

#[test]
fn recursion_needs_a_budget() {
    let rec = "mov %r0, 0\ncall local f\nexit\nf:\ncall local f\nexit";
    assert_eq!(check(rec), refused(3, Rule::Recursion));
    assert_eq!(check_budget(rec, Some(100)), Ok(()));
    let mutual = "call local f\nexit\nf:\ncall local g\nexit\ng:\ncall local f\nexit";
    assert!(matches!(
        check(mutual),
        Err(VerifyError {
            rule: Rule::Recursion,
            ..
        })
    ));
}

#[test]
fn control_stays_in_its_function() {
    // Falling through into a function's entry (found by the elf_load fuzz
    // target: the interpreter ran on, the JIT's function ended there).
    let into = "mov %r1, 1\nf:\ncall local f\nexit";
    let leaves = Rule::LeavesFunction { to: 1, function: 0 };
    assert_eq!(check_budget(into, Some(100)), refused(0, leaves));
    // A jump from one function into another.
    let jump = "mov %r0, 0\nja g\ncall local f\nexit\nf:\nmov %r0, 1\ng:\nexit";
    assert_eq!(
        check(jump),
        refused(1, Rule::LeavesFunction { to: 5, function: 0 })
    );
    // Each function ending in exit (or a jump within it) is fine.
    assert_eq!(
        check("call local f\nexit\nf:\nmov %r0, 1\nja e\ne:\nexit"),
        Ok(())
    );
}

/// A chain main -> f1 -> ... -> f(n-1): n frames.
fn chain(frames: usize) -> String {
    let mut s = String::from("call local f1\nexit\n");
    for k in 1..frames {
        s.push_str(&format!("f{k}:\n"));
        if k + 1 < frames {
            s.push_str(&format!("call local f{}\nexit\n", k + 1));
        } else {
            s.push_str("mov %r0, 7\nexit\n");
        }
    }
    s
}

#[test]
fn call_depth_limit() {
    assert_eq!(check(&chain(8)), Ok(()));
    // The 8th call (the one needing a 9th frame) is at pc 2*7 = 14.
    assert_eq!(
        check(&chain(9)),
        refused(14, Rule::CallTooDeep { frames: 9 })
    );
}

#[test]
fn rfc_defined_results_are_accepted() {
    for src in [
        "mov %r0, 5\ndiv %r0, 0\nexit",
        "mov %r0, 5\nmod32 %r0, 0\nexit",
        "mov %r0, 5\nsdiv %r0, 0\nexit",
        "mov %r0, 5\nlsh %r0, 64\nexit",
        "mov %r0, 5\nrsh32 %r0, -1\nexit",
        "mov %r0, 5\narsh %r0, 1000\nexit",
        "mov %r0, 5\nexit\nmov %r0, 6\nexit",
        "ldxdw %r0, [%r10-8]\nexit",
        // Unreachable loops and recursion are unreachable code too.
        "mov %r0, 0\nexit\nja -1",
        "mov %r0, 0\nexit\ncall local -1\nexit",
    ] {
        assert_eq!(check(src), Ok(()), "{src}");
    }
}

#[test]
fn errors_name_the_rule_and_index() {
    let e = check("mov %r0, 0\nmov %r10, 1\nexit").expect_err("refused");
    assert_eq!(
        e.to_string(),
        "instruction 1: r10 (frame pointer) is read-only"
    );
}

#[test]
fn programs_above_linux_size_limit_are_refused_first() {
    // Linux refuses BPF_PROG_LOAD above BPF_COMPLEXITY_LIMIT_INSNS slots
    // with E2BIG; the limit is checked before any other rule, so a huge
    // program is refused at once.
    let mut insns = vec![MOV0; MAX_INSNS - 1];
    insns.push(EXIT);
    assert_eq!(check_insns(insns.clone()), Ok(()));
    insns.push(EXIT);
    assert_eq!(
        check_insns(insns),
        refused(
            MAX_INSNS,
            Rule::TooLarge {
                slots: MAX_INSNS + 1
            }
        )
    );
    let huge = vec![Insn::new(0xff, 0, 0, 0, 0); 4 * MAX_INSNS];
    assert_eq!(
        check_insns(huge),
        refused(
            MAX_INSNS,
            Rule::TooLarge {
                slots: 4 * MAX_INSNS
            }
        )
    );
}

#[test]
fn the_assembler_stops_at_linux_size_limit() {
    let mut source = "mov %r0, 0\n".repeat(MAX_INSNS - 1);
    source.push_str("exit\n");
    assert_eq!(assemble(&source).map(|p| p.len()), Ok(MAX_INSNS));
    source.push_str("lddw %r1, 1\n");
    let e = assemble(&source).expect_err("one slot too many");
    assert_eq!((e.line, e.column), (MAX_INSNS + 1, 1), "{e}");
    assert!(e.message.contains("1000000 instruction slots"), "{e}");
}
