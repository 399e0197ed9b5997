//! Every rule of the kernel's classic checker, accept and reject side.

use cranebpf::cbpf::check::{check, code_allowed, CheckError, Rule};
use cranebpf::cbpf::insn::{op, skf};
use cranebpf::cbpf::parse::parse_asm;
use cranebpf::cbpf::{Insn, Program};

fn asm(src: &str) -> Program {
    parse_asm(src).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn rejects(src: &str, pc: usize, rule: Rule) {
    assert_eq!(check(&asm(src)), Err(CheckError { pc, rule }), "{src}");
}

fn accepts(src: &str) {
    assert_eq!(check(&asm(src)), Ok(()), "{src}");
}

#[test]
fn length_limits() {
    assert_eq!(
        check(&Program::new(vec![])),
        Err(CheckError {
            pc: 0,
            rule: Rule::Empty
        })
    );
    let ret = Insn::stmt(op::RET | op::K, 0);
    assert_eq!(check(&Program::new(vec![ret; 4096])), Ok(()));
    let err = check(&Program::new(vec![ret; 4097])).unwrap_err();
    assert_eq!(
        err,
        CheckError {
            pc: 4096,
            rule: Rule::TooLong
        }
    );
    assert_eq!(err.to_string(), "program has more than 4096 instructions");
}

#[test]
fn opcodes_exactly_as_the_kernel_lists_them() {
    let allowed: Vec<u16> = (0..=u16::MAX).filter(|&c| code_allowed(c)).collect();
    // 10 ALU ops x 2 + neg, 9 LD, 4 LDX, ST, STX, TAX, TXA, 2 RET, JA + 4 x 2 jumps.
    assert_eq!(allowed.len(), 21 + 9 + 4 + 2 + 2 + 2 + 1 + 8);
    for bad in [
        0x08, 0x0e, 0x8c, 0x0d, 0x1e, 0x27, 0x47, 0x85, 0xc4, 0xf5, 0x100, 0xffff,
    ] {
        assert!(!code_allowed(bad), "{bad:#x}");
        let prog = Program::new(vec![Insn::stmt(bad, 0), Insn::stmt(op::RET | op::K, 0)]);
        assert_eq!(
            check(&prog),
            Err(CheckError {
                pc: 0,
                rule: Rule::UnknownOpcode
            })
        );
    }
    rejects("ret x", 0, Rule::UnknownOpcode);
}

#[test]
fn division_and_shift_constants() {
    rejects("div #0\nret a", 0, Rule::DivisionByZero);
    rejects("ld #1\nmod #0\nret a", 1, Rule::DivisionByZero);
    accepts("div #1\nmod #3\nldx #0\ndiv x\nret a");
    rejects("lsh #32\nret a", 0, Rule::ShiftTooLarge);
    rejects("rsh #0xffffffff\nret a", 0, Rule::ShiftTooLarge);
    accepts("lsh #31\nrsh #0\nldx #40\nlsh x\nret a");
}

#[test]
fn scratch_indices() {
    for src in [
        "st M[16]\nret a",
        "stx M[16]\nret a",
        "ld M[16]\nret a",
        "ldx M[99]\nret a",
    ] {
        rejects(src, 0, Rule::ScratchIndexOutOfRange);
    }
    accepts("st M[15]\nstx M[0]\nld M[15]\nldx M[0]\nret a");
}

#[test]
fn jump_ranges() {
    accepts("ja last\nlast: ret #0");
    let far = Program::new(vec![
        Insn::stmt(op::JMP | op::JA, 1),
        Insn::stmt(op::RET | op::K, 0),
    ]);
    assert_eq!(
        check(&far),
        Err(CheckError {
            pc: 0,
            rule: Rule::JumpOutOfRange
        })
    );
    let back = Program::new(vec![
        Insn::stmt(op::RET | op::K, 0),
        Insn::stmt(op::JMP | op::JA, u32::MAX),
        Insn::stmt(op::RET | op::K, 0),
    ]);
    assert_eq!(
        check(&back),
        Err(CheckError {
            pc: 1,
            rule: Rule::JumpOutOfRange
        })
    );
    for (jt, jf, ok) in [(1, 1, true), (2, 0, false), (0, 2, false), (255, 0, false)] {
        let prog = Program::new(vec![
            Insn::jump(op::JMP | op::JGT | op::X, 0, jt, jf),
            Insn::stmt(op::RET | op::K, 0),
            Insn::stmt(op::RET | op::K, 1),
        ]);
        assert_eq!(check(&prog).is_ok(), ok, "jt {jt} jf {jf}");
        if !ok {
            assert_eq!(check(&prog).unwrap_err().rule, Rule::JumpOutOfRange);
        }
    }
}

#[test]
fn ancillary_offsets() {
    accepts("ld #proto\nldh #vlan_tpid\nldb #rand\nret a");
    for k in [skf::AD_OFF + 1, skf::AD_OFF + 2, skf::AD_OFF + 64, -1] {
        rejects(&format!("ld [{k}]\nret a"), 0, Rule::UnknownAncillary);
        rejects(&format!("ldb [{k}]\nret a"), 0, Rule::UnknownAncillary);
    }
    // Below SKF_AD_OFF lie the SKF_NET_OFF and SKF_LL_OFF areas: accepted.
    accepts(&format!(
        "ld [{}]\nld [{}]\nld [{}]\nret a",
        skf::AD_OFF - 1,
        skf::NET_OFF,
        skf::LL_OFF - 5
    ));
    // Indirect loads and msh are not checked.
    accepts(&format!(
        "ld [x + {}]\nldxb 4*([{}]&0xf)\nret a",
        skf::AD_OFF + 1,
        skf::AD_OFF + 1
    ));
}

#[test]
fn final_return() {
    rejects("ld #1", 0, Rule::NoFinalReturn);
    rejects("ret #1\nld #1", 1, Rule::NoFinalReturn);
    accepts("ret a");
    // Per-instruction rules are checked first, in order.
    rejects("div #0\nld #1", 0, Rule::DivisionByZero);
}

#[test]
fn scratch_read_before_write_is_one_linear_pass() {
    rejects("ld M[0]\nret a", 0, Rule::ScratchReadBeforeWrite);
    rejects("ldx M[3]\nret a", 0, Rule::ScratchReadBeforeWrite);
    accepts("st M[0]\nld M[0]\nret a");
    // `ret` resets nothing: unreachable code after it inherits the state.
    accepts("st M[0]\nret #1\nld M[0]\nret a");
    rejects("ret #1\nld M[0]\nret a", 1, Rule::ScratchReadBeforeWrite);
    // After a jump everything counts as written unless a jump brings less.
    accepts("ja over\nld M[5]\nover: ret #1");
    // A path around the write: the jump target's mask lacks the cell.
    rejects(
        "jeq #0, skip, write\nwrite: st M[2]\nskip: ld M[2]\nret a",
        2,
        Rule::ScratchReadBeforeWrite,
    );
    // Both paths write: accepted.
    accepts("jeq #0, one, two\none: st M[2]\nja join\ntwo: stx M[2]\njoin: ld M[2]\nret a");
    // Conditional jump whose both targets skip the fall-through.
    accepts("st M[1]\njeq #0, l1, l1\nl1: ld M[1]\nret a");
}

#[test]
fn error_messages_name_instruction_and_rule() {
    let e = check(&asm("ld #1\ndiv #0\nret a")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "instruction 1: division or modulo by constant zero"
    );
    let e = check(&asm("ld M[1]\nret a")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "instruction 0: scratch memory cell read before it is written"
    );
}
