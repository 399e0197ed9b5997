//! Disassembler into the assembler's syntax ([`super::asm`]).
//!
//! Jump targets are printed as relative offsets (`+3`), so each line
//! assembles on its own. A slot with no mnemonic form (unknown opcode,
//! non-zero unused fields, an `lddw` without a clean second slot) is printed
//! as `.insn 0xWORD`, so disassembling and reassembling any byte string
//! gives the same bytes: every printed line is checked by reassembling it.

use super::asm::assemble_line;
use super::insn::{op, Insn, Program};

/// Disassembles a program, one instruction per line (an `lddw` is one line).
pub fn disassemble(prog: &Program) -> String {
    let mut out = String::new();
    let mut pc = 0;
    while pc < prog.insns.len() {
        let (text, slots) = disassemble_at(&prog.insns, pc);
        out.push_str(&text);
        out.push('\n');
        pc += slots;
    }
    out
}

/// Disassembles a program of an ELF object: as [`disassemble`], except
/// that a map reference (`lddw` with `BPF_PSEUDO_MAP_FD` or
/// `BPF_PSEUDO_MAP_VALUE`, as the loader left it) names the map of `maps`
/// it refers to, as `lddw %r1, map 'counts'` or `lddw %r1, map '.bss' + 8`,
/// and a function's address (`BPF_PSEUDO_FUNC`) names its slot, as
/// `lddw %r2, function at 110` (forms for reading: the assembler has
/// neither); an instruction a CO-RE relocation patched ends with a
/// comment saying which, and the value it held and holds, as libbpf's
/// debug log does: `ldxw %r8, [%r1+4]  # CO-RE <byte_off> [19] struct
/// xdp_md___swapped.data_end (0:0 @ offset 0): 0 -> 4`.
pub fn disassemble_object(
    program: &super::elf::ObjectProgram,
    maps: &[super::maps::MapDef],
) -> String {
    use super::elf::{PSEUDO_FUNC, PSEUDO_MAP_FD, PSEUDO_MAP_VALUE};
    let prog = &program.program;
    let mut out = String::new();
    let mut pc = 0;
    while pc < prog.insns.len() {
        let i = prog.insns[pc];
        let map = maps.get(i.imm as u32 as usize).map(|m| m.name.as_str());
        let (text, slots) = match (i.is_lddw(), i.src, map, prog.insns.get(pc + 1)) {
            (true, PSEUDO_MAP_FD, Some(name), Some(_)) => {
                (format!("lddw %r{}, map '{name}'", i.dst), 2)
            }
            (true, PSEUDO_MAP_VALUE, Some(name), Some(hi)) => (
                format!("lddw %r{}, map '{name}' + {}", i.dst, hi.imm as u32),
                2,
            ),
            (true, PSEUDO_FUNC, _, Some(_)) => (
                format!(
                    "lddw %r{}, function at {}",
                    i.dst,
                    pc as i64 + 1 + i64::from(i.imm)
                ),
                2,
            ),
            _ => disassemble_at(&prog.insns, pc),
        };
        out.push_str(&text);
        if let Some((_, r)) = program.core.iter().find(|(at, _)| *at == pc) {
            let value = |v: u64| (v as i64).to_string();
            let outcome = match r.patched {
                Some((from, to)) => format!("{} -> {}", value(from), value(to)),
                None => "nothing in the kernel's types: poisoned".into(),
            };
            out.push_str(&format!("  # CO-RE {}: {outcome}", r.spec));
        }
        out.push('\n');
        pc += slots;
    }
    out
}

/// Disassembles the instruction at `pc`: its text and how many slots it
/// takes (2 for a clean `lddw`, else 1).
pub fn disassemble_at(insns: &[Insn], pc: usize) -> (String, usize) {
    let i = insns[pc];
    let slots = if i.is_lddw() && pc + 1 < insns.len() {
        2
    } else {
        1
    };
    if let Some(text) = mnemonic_form(insns, pc) {
        if assemble_line(&text).ok().as_deref() == insns.get(pc..pc + slots) {
            return (text, slots);
        }
    }
    (raw(&i), 1)
}

fn raw(i: &Insn) -> String {
    format!(".insn {:#018x}", i.to_u64())
}

/// An immediate as the assembler reads it back: small values in decimal,
/// others as their raw 32-bit pattern in hex.
fn imm(v: i32) -> String {
    if (-0xffff..=0xffff).contains(&v) {
        v.to_string()
    } else {
        format!("{:#x}", v as u32)
    }
}

fn mem(reg: u8, off: i16) -> String {
    match off {
        0 => format!("[%r{reg}]"),
        o => format!("[%r{reg}{o:+}]"),
    }
}

fn size_suffix(size: u8) -> &'static str {
    match size {
        op::B => "b",
        op::H => "h",
        op::W => "w",
        _ => "dw",
    }
}

fn alu_name(o: u8, off: i16) -> Option<&'static str> {
    Some(match (o, off) {
        (op::ADD, _) => "add",
        (op::SUB, _) => "sub",
        (op::MUL, _) => "mul",
        (op::DIV, 1) => "sdiv",
        (op::DIV, _) => "div",
        (op::MOD, 1) => "smod",
        (op::MOD, _) => "mod",
        (op::OR, _) => "or",
        (op::AND, _) => "and",
        (op::XOR, _) => "xor",
        (op::LSH, _) => "lsh",
        (op::RSH, _) => "rsh",
        (op::ARSH, _) => "arsh",
        (op::MOV, _) => "mov",
        (op::NEG, _) => "neg",
        _ => return None,
    })
}

fn jmp_name(o: u8) -> Option<&'static str> {
    Some(match o {
        op::JEQ => "jeq",
        op::JNE => "jne",
        op::JGT => "jgt",
        op::JGE => "jge",
        op::JLT => "jlt",
        op::JLE => "jle",
        op::JSET => "jset",
        op::JSGT => "jsgt",
        op::JSGE => "jsge",
        op::JSLT => "jslt",
        op::JSLE => "jsle",
        _ => return None,
    })
}

/// The mnemonic text for the instruction at `pc`, if it has a plausible
/// one (exactness is checked by the caller).
fn mnemonic_form(insns: &[Insn], pc: usize) -> Option<String> {
    let i = insns[pc];
    let (d, s) = (i.dst, i.src);
    let operand = |i: &Insn| {
        if i.is_src_reg() {
            format!("%r{s}")
        } else {
            imm(i.imm)
        }
    };
    Some(match i.class() {
        op::ALU | op::ALU64 => {
            let sfx = if i.class() == op::ALU { "32" } else { "" };
            match i.op() {
                op::END => match i.opc {
                    op::TO_LE => format!("le{} %r{d}", i.imm),
                    op::TO_BE => format!("be{} %r{d}", i.imm),
                    _ => format!("bswap{} %r{d}", i.imm),
                },
                op::MOV if i.is_src_reg() && i.off != 0 => {
                    let to = if i.class() == op::ALU { 32 } else { 64 };
                    format!("movsx{}{to} %r{d}, %r{s}", i.off)
                }
                op::NEG => format!("neg{sfx} %r{d}"),
                o => format!("{}{sfx} %r{d}, {}", alu_name(o, i.off)?, operand(&i)),
            }
        }
        op::JMP | op::JMP32 => {
            let sfx = if i.class() == op::JMP32 { "32" } else { "" };
            match (i.class(), i.op()) {
                (op::JMP32, op::JA) => format!("ja32 {:+}", i.imm),
                (_, op::JA) => format!("ja {:+}", i.off),
                (_, op::EXIT) => "exit".to_string(),
                (_, op::CALL) if i.is_src_reg() => format!("call %r{d}"),
                (_, op::CALL) => match i.src {
                    op::CALL_LOCAL => format!("call local {:+}", i.imm),
                    op::CALL_RUNTIME => format!("call runtime {}", i.imm),
                    _ => format!("call {}", i.imm),
                },
                (_, o) => format!("{}{sfx} %r{d}, {}, {:+}", jmp_name(o)?, operand(&i), i.off),
            }
        }
        op::LD if i.is_lddw() => {
            let hi = insns.get(pc + 1)?.imm as u32 as u64;
            format!("lddw %r{d}, {:#x}", (hi << 32) | i.imm as u32 as u64)
        }
        op::LD if i.mode() == op::ABS => {
            format!("ldabs{} {}", size_suffix(i.size_field()), imm(i.imm))
        }
        op::LD if i.mode() == op::IND => {
            format!("ldind{} %r{s}, {}", size_suffix(i.size_field()), imm(i.imm))
        }
        op::LDX => {
            let sx = if i.mode() == op::MEMSX { "s" } else { "" };
            format!(
                "ldx{sx}{} %r{d}, {}",
                size_suffix(i.size_field()),
                mem(s, i.off)
            )
        }
        op::ST => format!(
            "st{} {}, {}",
            size_suffix(i.size_field()),
            mem(d, i.off),
            imm(i.imm)
        ),
        op::STX if i.mode() == op::ATOMIC => {
            let w = if i.size_field() == op::W { "32" } else { "" };
            let (fetch, name) = match i.imm {
                op::XCHG => ("", "xchg"),
                op::CMPXCHG => ("", "cmpxchg"),
                v => {
                    let f = if v & op::FETCH != 0 { "fetch " } else { "" };
                    let n = match v & !op::FETCH {
                        0x00 => "add",
                        0x40 => "or",
                        0x50 => "and",
                        0xa0 => "xor",
                        _ => return None,
                    };
                    (f, n)
                }
            };
            format!("lock {fetch}{name}{w} {}, %r{s}", mem(d, i.off))
        }
        op::STX => format!(
            "stx{} {}, %r{s}",
            size_suffix(i.size_field()),
            mem(d, i.off)
        ),
        _ => return None,
    })
}
