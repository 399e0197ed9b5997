//! Assembler and disassembler: round trips over the whole conformance
//! suite and over generated programs, error positions, and robustness on
//! garbage (no input may panic the assembler, verifier or interpreter).

mod support;

use cranebpf::ebpf::asm::assemble;
use cranebpf::ebpf::disasm::disassemble;
use cranebpf::ebpf::insn::op;
use cranebpf::ebpf::interp::{run, RunOptions};
use cranebpf::ebpf::{Helpers, Insn, Program};
use cranebpf_harness::gen;
use cranebpf_harness::suite::parse;
use cranebpf_harness::Rng;

/// bytes -> Program -> text -> Program must give the same bytes.
fn round_trip(prog: &Program) -> String {
    let bytes = prog.to_bytes();
    let decoded = Program::from_bytes(&bytes).expect("whole slots");
    let text = disassemble(&decoded);
    let again = assemble(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        again.to_bytes(),
        bytes,
        "round trip changed the bytes:\n{text}"
    );
    text
}

#[test]
fn whole_suite_round_trips() {
    let Some(dir) = support::suite_dir() else {
        return;
    };
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("suite dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|x| x != "data") {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&path).expect("read")).into_owned();
        let case = parse(&path.display().to_string(), &text).expect("parse");
        let disasm = round_trip(&case.program);
        // Every suite instruction has a mnemonic form.
        assert!(!disasm.contains(".insn"), "{}:\n{disasm}", path.display());
        count += 1;
    }
    assert_eq!(count, 313);
}

/// One random instruction with valid fields (an lddw gives two slots).
fn random_insn(rng: &mut Rng) -> Vec<Insn> {
    let r = |rng: &mut Rng| rng.below(11) as u8;
    let w = |rng: &mut Rng| rng.below(10) as u8; // writable
    let imm = |rng: &mut Rng| rng.edgy_u64() as i32;
    let off = |rng: &mut Rng| rng.next_u64() as i16;
    // Two-operand ALU operations (`neg` takes one, so it is left out).
    let alu_ops: Vec<u8> = gen::ebpf::ALU_OPS
        .into_iter()
        .filter(|&o| o != op::NEG)
        .collect();
    let jmp_ops = gen::ebpf::JMP_OPS;
    let sizes = [op::B, op::H, op::W, op::DW];
    let class = *rng.pick(&[op::ALU, op::ALU64]);
    let one = |i: Insn| vec![i];
    match rng.below(14) {
        0 | 1 => {
            let o = *rng.pick(&alu_ops);
            let signed = if o == op::DIV || o == op::MOD {
                rng.below(2) as i16
            } else {
                0
            };
            one(Insn::new(class | o, w(rng), 0, signed, imm(rng)))
        }
        2 | 3 => {
            let o = *rng.pick(&alu_ops);
            let o_off = match o {
                op::DIV | op::MOD => rng.below(2) as i16,
                op::MOV if class == op::ALU64 => *rng.pick(&[0, 8, 16, 32]),
                op::MOV => *rng.pick(&[0, 8, 16]),
                _ => 0,
            };
            one(Insn::new(class | o | op::X, w(rng), r(rng), o_off, 0))
        }
        4 => one(Insn::new(class | op::NEG, w(rng), 0, 0, 0)),
        5 => {
            let opc = *rng.pick(&[op::TO_LE, op::TO_BE, op::BSWAP]);
            one(Insn::new(opc, w(rng), 0, 0, *rng.pick(&[16, 32, 64])))
        }
        6 => {
            let jc = *rng.pick(&[op::JMP, op::JMP32]);
            let o = *rng.pick(&jmp_ops);
            if rng.below(2) == 0 {
                one(Insn::new(jc | o, r(rng), 0, off(rng), imm(rng)))
            } else {
                one(Insn::new(jc | o | op::X, r(rng), r(rng), off(rng), 0))
            }
        }
        7 => match rng.below(5) {
            0 => one(Insn::new(op::JMP | op::JA, 0, 0, off(rng), 0)),
            1 => one(Insn::new(op::JA32, 0, 0, 0, imm(rng))),
            2 => one(Insn::new(op::CALL_IMM, 0, rng.below(2) as u8, 0, imm(rng))),
            3 => one(Insn::new(op::CALLX, r(rng), 0, 0, 0)),
            _ => one(Insn::new(op::EXIT_OP, 0, 0, 0, 0)),
        },
        8 => {
            let v = rng.edgy_u64();
            vec![
                Insn::new(op::LDDW, w(rng), 0, 0, v as i32),
                Insn::new(0, 0, 0, 0, (v >> 32) as i32),
            ]
        }
        9 => {
            let size = *rng.pick(&sizes[..3]);
            if rng.below(2) == 0 {
                one(Insn::new(op::LD | op::ABS | size, 0, 0, 0, imm(rng)))
            } else {
                one(Insn::new(op::LD | op::IND | size, 0, r(rng), 0, imm(rng)))
            }
        }
        10 => {
            let size = *rng.pick(&sizes);
            let mode = if size != op::DW && rng.below(2) == 0 {
                op::MEMSX
            } else {
                op::MEM
            };
            one(Insn::new(
                op::LDX | mode | size,
                w(rng),
                r(rng),
                off(rng),
                0,
            ))
        }
        11 => one(Insn::new(
            op::ST | op::MEM | *rng.pick(&sizes),
            r(rng),
            0,
            off(rng),
            imm(rng),
        )),
        12 => one(Insn::new(
            op::STX | op::MEM | *rng.pick(&sizes),
            r(rng),
            r(rng),
            off(rng),
            0,
        )),
        _ => {
            let size = *rng.pick(&[op::W, op::DW]);
            let a = *rng.pick(&[
                0x00,
                0x01,
                0x40,
                0x41,
                0x50,
                0x51,
                0xa0,
                0xa1,
                op::XCHG,
                op::CMPXCHG,
            ]);
            one(Insn::new(
                op::STX | op::ATOMIC | size,
                r(rng),
                w(rng),
                off(rng),
                a,
            ))
        }
    }
}

#[test]
fn generated_programs_round_trip_without_raw_slots() {
    let mut rng = Rng::new(0x0a53_0001);
    for _ in 0..300 {
        let n = 1 + rng.below(30);
        let insns: Vec<Insn> = (0..n).flat_map(|_| random_insn(&mut rng)).collect();
        let text = round_trip(&Program::new(insns));
        assert!(!text.contains(".insn"), "{text}");
    }
}

#[test]
fn arbitrary_bytes_round_trip() {
    let mut rng = Rng::new(0x0a53_0002);
    for _ in 0..300 {
        let n = 1 + rng.below(20);
        let insns: Vec<Insn> = (0..n)
            .map(|_| match rng.below(3) {
                0 => Insn::from_u64(rng.next_u64()),
                // Mostly-valid opcodes with random fields.
                _ => {
                    let mut i = Insn::from_u64(rng.next_u64() & 0xffff_ffff_0000_ffff);
                    i.dst = rng.below(16) as u8;
                    i
                }
            })
            .collect();
        round_trip(&Program::new(insns));
    }
}

#[test]
fn disassembly_reads_like_the_suite() {
    let src = "lddw %r1, 0x1122334455667788\nldxw %r0, [%r1-4]\nstxdw [%r10-8], %r1\n\
               lock fetch add32 [%r10-8], %r1\nlock cmpxchg [%r10-8], %r2\nsdiv32 %r0, -3\n\
               movsx1664 %r2, %r3\nbe16 %r0\njslt32 %r0, %r1, -3\nja32 +1\ncall local +0\n\
               call 5\ncall %r2\nldabsh 12\nldindw %r3, 4\nexit\n";
    let prog = assemble(src).expect("asm");
    assert_eq!(disassemble(&prog), src);
    // Unrepresentable slots print as raw words.
    let odd = Program::new(vec![Insn::new(0x07, 1, 0, 5, 1)]);
    assert_eq!(disassemble(&odd), ".insn 0x0000000100050107\n");
}

#[test]
fn suite_syntax_details() {
    // Labels, the implicit `exit` label, comments, trailing commas.
    let p = assemble("jne %r1, 0x81, exit # to the first exit\nL:\nmov %r0, 1\nexit\nja L")
        .expect("asm");
    assert_eq!(p.insns[0].off, 1);
    assert_eq!(p.insns[3].off, -3);
    // Hex immediates are raw 32-bit patterns; lddw takes 64-bit values.
    assert_eq!(
        assemble("mov %r1, 0xfffffffe").expect("asm").insns[0].imm,
        -2
    );
    assert_eq!(
        assemble("mov %r1, 4294967295").expect("asm").insns[0].imm,
        -1
    );
    let l = assemble("lddw %r0, -2").expect("asm");
    assert_eq!((l.insns[0].imm, l.insns[1].imm), (-2, -1));
    // swap/bswap are synonyms; 64 suffix is ALU64.
    assert_eq!(
        assemble("swap32 %r1").expect("a"),
        assemble("bswap32 %r1").expect("b")
    );
    assert_eq!(
        assemble("add64 %r1, 1").expect("a"),
        assemble("add %r1, 1").expect("b")
    );
    // callx puts the register in dst.
    assert_eq!(
        assemble("call %r2").expect("asm").insns[0],
        Insn::new(0x8d, 2, 0, 0, 0)
    );
}

#[test]
fn assembler_errors_name_line_and_column() {
    let cases = [
        ("mov %r0, 1\nfrob %r0\nexit", 2, 1, "unknown mnemonic"),
        ("mov %r11, 1", 1, 5, "invalid register"),
        ("exit\n  add %r0, 0x1ffffffff", 2, 12, "does not fit"),
        ("ldxw %r0, [%r1+40000]", 1, 11, "does not fit in 16 bits"),
        ("ldxw %r0, [%r1*4]", 1, 11, "invalid memory operand"),
        ("ja nowhere", 1, 4, "unknown label"),
        ("a:\na:\nexit", 2, 1, "defined twice"),
        ("add %r0", 1, 1, "takes 2 operand"),
        ("exit %r0", 1, 6, "takes 0 operand"),
        ("mov %r0, 12abc", 1, 10, "invalid immediate"),
        ("lock nand [%r1], %r2", 1, 6, "unknown atomic"),
        ("ja +40000", 1, 4, "16 bits"),
    ];
    for (src, line, column, msg) in cases {
        let e = assemble(src).expect_err(src);
        assert_eq!((e.line, e.column), (line, column), "{src}: {e}");
        assert!(e.message.contains(msg), "{src}: {e}");
    }
}

#[test]
fn from_bytes_reports_the_offset() {
    let e = Program::from_bytes(&[0u8; 19]).expect_err("19 bytes");
    assert_eq!((e.offset, e.trailing), (16, 3));
    assert!(e.to_string().contains("byte offset 16"));
}

#[test]
fn garbage_never_panics() {
    let mut rng = Rng::new(0x0a53_0003);
    let alphabet: Vec<char> = "%r0123456789abcdefx[]+-,: #\nmovaddjexitlockcalldw.insn"
        .chars()
        .collect();
    for _ in 0..2000 {
        let n = rng.below(60) as usize;
        let s: String = (0..n).map(|_| *rng.pick(&alphabet)).collect();
        let _ = assemble(&s);
    }
    // Random programs: verify, and run what passes, on random memory.
    let opts = RunOptions {
        helpers: Helpers::conformance(),
        budget: Some(10_000),
    };
    let mut ran = 0;
    for _ in 0..3000 {
        let mut insns = Vec::new();
        // Initialise registers so more programs pass the verifier.
        for r in 0..10u8 {
            let v = rng.edgy_u64();
            if r == 1 && rng.below(2) == 0 {
                continue; // keep the memory pointer sometimes
            }
            insns.push(Insn::new(op::LDDW, r, 0, 0, v as i32));
            insns.push(Insn::new(0, 0, 0, 0, (v >> 32) as i32));
        }
        let n = 1 + rng.below(12);
        for _ in 0..n {
            let mut slots = random_insn(&mut rng);
            // Keep most jumps short so some land inside the program.
            for s in &mut slots {
                if s.class() == op::JMP || s.class() == op::JMP32 {
                    s.off %= 4;
                    if s.opc == op::JA32 || s.src == op::CALL_LOCAL {
                        s.imm %= 4;
                    }
                }
            }
            insns.extend(slots);
        }
        insns.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
        let mut mem: Vec<u8> = (0..rng.below(32)).map(|_| rng.next_u64() as u8).collect();
        if run(&Program::new(insns), &mut mem, &opts).is_ok() {
            ran += 1;
        }
    }
    assert!(ran > 100, "only {ran} random programs ran to completion");
}
