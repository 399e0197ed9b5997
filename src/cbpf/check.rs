//! The kernel's acceptance rules for classic programs, rule for rule.
//!
//! Mirrors Linux's `bpf_check_basics_ok`, `bpf_check_classic` (with
//! `chk_code_allowed` and the ancillary lookup of `bpf_anc_helper`) and
//! `check_load_and_stores` in net/core/filter.c, in the kernel's order, so
//! the first error reported is the one the kernel stops at.

use super::ancillary::Ancillary;
use super::insn::{op, Insn, Program};
use std::fmt;

/// A kernel rule a program broke. The kernel answers all of them with
/// `EINVAL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rule {
    /// The program has no instructions.
    Empty,
    /// The program has more than `BPF_MAXINSNS` (4096) instructions.
    TooLong,
    /// The opcode is not one the kernel accepts (`chk_code_allowed`).
    UnknownOpcode,
    /// `div #0` or `mod #0`.
    DivisionByZero,
    /// `lsh`/`rsh` by a constant >= 32.
    ShiftTooLarge,
    /// A scratch memory index >= 16 (`BPF_MEMWORDS`).
    ScratchIndexOutOfRange,
    /// A jump target past the last instruction.
    JumpOutOfRange,
    /// An absolute load at or above `SKF_AD_OFF` that names no known
    /// ancillary value.
    UnknownAncillary,
    /// The last instruction is not `ret`.
    NoFinalReturn,
    /// A scratch cell may be read before any write (the kernel's single
    /// linear pass, see [`check`]).
    ScratchReadBeforeWrite,
}

impl Rule {
    /// A short description of the rule.
    pub fn description(self) -> &'static str {
        match self {
            Rule::Empty => "program has no instructions",
            Rule::TooLong => "program has more than 4096 instructions",
            Rule::UnknownOpcode => "opcode not accepted by the kernel",
            Rule::DivisionByZero => "division or modulo by constant zero",
            Rule::ShiftTooLarge => "shift by a constant of 32 or more",
            Rule::ScratchIndexOutOfRange => "scratch memory index is 16 or more",
            Rule::JumpOutOfRange => "jump target is past the last instruction",
            Rule::UnknownAncillary => "load at an unknown ancillary offset (SKF_AD_OFF + n)",
            Rule::NoFinalReturn => "last instruction is not a return",
            Rule::ScratchReadBeforeWrite => "scratch memory cell read before it is written",
        }
    }
}

/// Why the kernel would refuse a program: the instruction index and rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CheckError {
    /// Index of the offending instruction (0 for an empty program, 4096 for
    /// one that is too long).
    pub pc: usize,
    /// The rule broken.
    pub rule: Rule,
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            Rule::Empty | Rule::TooLong => write!(f, "{}", self.rule.description()),
            _ => write!(f, "instruction {}: {}", self.pc, self.rule.description()),
        }
    }
}

impl std::error::Error for CheckError {}

/// True for the exact opcodes the kernel's `chk_code_allowed` lists.
pub fn code_allowed(code: u16) -> bool {
    ALLOWED.get(usize::from(code)).copied().unwrap_or(false)
}

/// [`code_allowed`] by opcode (every opcode allowed is below 0x100): asked
/// for every instruction of every program, where searching the list was
/// a third of checking a long one.
const ALLOWED: [bool; 256] = allowed_codes();

const fn allowed_codes() -> [bool; 256] {
    use op::*;
    const ALU_OPS: [u16; 10] = [ADD, SUB, MUL, DIV, MOD, AND, OR, XOR, LSH, RSH];
    const JMP_OPS: [u16; 4] = [JEQ, JGT, JGE, JSET];
    const FIXED: [u16; 21] = [
        ALU | NEG,
        LD | W | ABS,
        LD | H | ABS,
        LD | B | ABS,
        LD | W | LEN,
        LD | W | IND,
        LD | H | IND,
        LD | B | IND,
        LD | IMM,
        LD | MEM,
        LDX | W | LEN,
        LDX | B | MSH,
        LDX | IMM,
        LDX | MEM,
        ST,
        STX,
        MISC | TAX,
        MISC | TXA,
        RET | K,
        RET | A,
        JMP | JA,
    ];
    let mut allowed = [false; 256];
    let mut i = 0;
    while i < FIXED.len() {
        allowed[FIXED[i] as usize] = true;
        i += 1;
    }
    let mut i = 0;
    while i < ALU_OPS.len() {
        allowed[(ALU | ALU_OPS[i] | K) as usize] = true;
        allowed[(ALU | ALU_OPS[i] | X) as usize] = true;
        i += 1;
    }
    let mut i = 0;
    while i < JMP_OPS.len() {
        allowed[(JMP | JMP_OPS[i] | K) as usize] = true;
        allowed[(JMP | JMP_OPS[i] | X) as usize] = true;
        i += 1;
    }
    allowed
}

fn is_conditional_jump(code: u16) -> bool {
    code & 0x07 == op::JMP && code & 0xff00 == 0 && code != op::JMP | op::JA && code_allowed(code)
}

/// Checks `prog` as the kernel does on `SO_ATTACH_FILTER`.
///
/// One kernel limit is not modelled here: after conversion to eBPF the
/// program must fit the socket's option memory (`net.core.optmem_max`,
/// 128 KiB by default), else the kernel answers `ENOMEM`. Only programs with
/// thousands of packet loads reach it (e.g. 1169 `ld [14]`).
pub fn check(prog: &Program) -> Result<(), CheckError> {
    let insns = &prog.insns;
    let len = insns.len();
    if len == 0 {
        return Err(CheckError {
            pc: 0,
            rule: Rule::Empty,
        });
    }
    if len > op::MAXINSNS {
        return Err(CheckError {
            pc: op::MAXINSNS,
            rule: Rule::TooLong,
        });
    }
    for (pc, insn) in insns.iter().enumerate() {
        check_one(insn, pc, len).map_err(|rule| CheckError { pc, rule })?;
    }
    let last = insns[len - 1].code;
    if last != op::RET | op::K && last != op::RET | op::A {
        return Err(CheckError {
            pc: len - 1,
            rule: Rule::NoFinalReturn,
        });
    }
    check_load_and_stores(insns)
}

/// The per-instruction rules of `bpf_check_classic`.
fn check_one(insn: &Insn, pc: usize, len: usize) -> Result<(), Rule> {
    use op::*;
    if !code_allowed(insn.code) {
        return Err(Rule::UnknownOpcode);
    }
    let k = insn.k;
    let (broken, rule) = match insn.code {
        c if c == ALU | DIV | K || c == ALU | MOD | K => (k == 0, Rule::DivisionByZero),
        c if c == ALU | LSH | K || c == ALU | RSH | K => (k >= 32, Rule::ShiftTooLarge),
        c if c == LD | MEM || c == LDX | MEM || c == ST || c == STX => {
            (k >= MEMWORDS, Rule::ScratchIndexOutOfRange)
        }
        // The kernel compares k with flen - pc - 1, both unsigned.
        c if c == JMP | JA => (k as u64 >= (len - pc - 1) as u64, Rule::JumpOutOfRange),
        c if is_conditional_jump(c) => (
            pc + insn.jt as usize + 1 >= len || pc + insn.jf as usize + 1 >= len,
            Rule::JumpOutOfRange,
        ),
        // Compared as unsigned: SKF_AD_OFF is 0xfffff000, so the SKF_NET_OFF
        // and SKF_LL_OFF areas below it pass.
        c if c == LD | W | ABS || c == LD | H | ABS || c == LD | B | ABS => (
            k >= super::insn::skf::AD_OFF as u32 && Ancillary::from_k(k).is_none(),
            Rule::UnknownAncillary,
        ),
        _ => (false, Rule::UnknownOpcode),
    };
    if broken {
        Err(rule)
    } else {
        Ok(())
    }
}

/// The kernel's `check_load_and_stores`: ONE linear pass. Each instruction
/// starts from what the previous one left known-written, masked by what every
/// jump to it knew; after a jump everything counts as written (only the
/// targets' masks matter); `ret` resets nothing.
fn check_load_and_stores(insns: &[Insn]) -> Result<(), CheckError> {
    use op::*;
    let mut masks = vec![u16::MAX; insns.len()];
    let mut valid: u16 = 0;
    for (pc, insn) in insns.iter().enumerate() {
        valid &= masks[pc];
        let bit = 1u16.checked_shl(insn.k).unwrap_or(0);
        match insn.code {
            c if c == ST || c == STX => valid |= bit,
            c if (c == LD | MEM || c == LDX | MEM) && valid & bit == 0 => {
                return Err(CheckError {
                    pc,
                    rule: Rule::ScratchReadBeforeWrite,
                });
            }
            c if c == JMP | JA || is_conditional_jump(c) => {
                // In range: the per-instruction pass checked every jump.
                for to in insn.successors(pc).into_iter().flatten() {
                    if let Some(m) = masks.get_mut(to) {
                        *m &= valid;
                    }
                }
                valid = u16::MAX;
            }
            _ => {}
        }
    }
    Ok(())
}
