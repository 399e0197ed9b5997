//! libpcap's dialect of classic BPF: the programs libpcap's `bpf_validate`
//! installs, run as its userland `bpf_filter` runs them (libpcap 1.10). The
//! rest of the crate follows Linux; this exists because libpcap's own
//! compiler emits programs Linux refuses (`protochain` jumps backwards, a
//! few link types read a scratch cell no path has written) and users want
//! to run them as tcpdump does.
//!
//! Where it differs from Linux ([`super::check`], [`super::interp`]):
//! - `ja` may jump backwards (its offset is signed; the target must be in
//!   the program); conditional jumps go forwards, inside the program;
//! - no ancillary loads or `SKF_NET_OFF`/`SKF_LL_OFF` areas: offsets are
//!   unsigned, `X + k` does not wrap, anything past the captured bytes
//!   drops the packet;
//! - a shift by X of 32 or more gives 0 (Linux: X mod 32); a shift by a
//!   constant of 32 or more is accepted and shifts by k mod 32 (what
//!   x86's `shl` does to libpcap's C);
//! - scratch cells are not checked for a write before a read; unwritten
//!   cells read as 0 (libpcap reads whatever its stack held);
//! - no limit of 4096 instructions.
//!
//! Opcodes are the kernel's exact list ([`code_allowed`]): libpcap's
//! validator checks only class and operation, but its interpreter aborts
//! the process on any other code, so those programs are refused here.
//! A backward jump can loop forever in libpcap; [`run`] stops after
//! [`STEP_LIMIT`] instructions and reports it.

use std::fmt;

use super::check::code_allowed;
use super::insn::{op, Program};
use super::interp::size_of;
use super::semantics::{alu, jump_taken};

/// Instructions [`run`] executes on one packet before giving up (libpcap's
/// interpreter has no limit). `protochain` programs take about 15 per
/// extension header.
pub const STEP_LIMIT: u64 = 1 << 24;

/// A rule of libpcap's `bpf_validate` (or of its interpreter) a program
/// broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LibpcapRule {
    /// The program has no instructions.
    Empty,
    /// An opcode `bpf_validate` refuses, or one it passes but `bpf_filter`
    /// aborts on.
    UnknownOpcode,
    /// `div #0` or `mod #0`.
    DivisionByZero,
    /// A scratch memory index >= 16.
    ScratchIndexOutOfRange,
    /// A jump target outside the program.
    JumpOutOfRange,
    /// The last instruction is not `ret`.
    NoFinalReturn,
}

impl LibpcapRule {
    /// A short description of the rule.
    pub fn description(self) -> &'static str {
        match self {
            LibpcapRule::Empty => "program has no instructions",
            LibpcapRule::UnknownOpcode => "opcode libpcap's bpf_filter does not run",
            LibpcapRule::DivisionByZero => "division or modulo by constant zero",
            LibpcapRule::ScratchIndexOutOfRange => "scratch memory index is 16 or more",
            LibpcapRule::JumpOutOfRange => "jump target is outside the program",
            LibpcapRule::NoFinalReturn => "last instruction is not a return",
        }
    }
}

/// Why libpcap would not run a program: the instruction index and rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct LibpcapError {
    /// Index of the offending instruction (0 for an empty program).
    pub pc: usize,
    /// The rule broken.
    pub rule: LibpcapRule,
}

impl fmt::Display for LibpcapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            LibpcapRule::Empty => write!(f, "{}", self.rule.description()),
            _ => write!(f, "instruction {}: {}", self.pc, self.rule.description()),
        }
    }
}

impl std::error::Error for LibpcapError {}

/// A packet on which [`run`] reached [`STEP_LIMIT`] (libpcap would still be
/// running).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StepLimitReached;

impl fmt::Display for StepLimitReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "stopped after {STEP_LIMIT} instructions (a backward jump loops; libpcap would never return)"
        )
    }
}

impl std::error::Error for StepLimitReached {}

/// The target of the jump at `pc`, or `None` outside the program. `ja`'s
/// offset is signed (libpcap: `from + k` wraps, then must be below the
/// length).
fn ja_target(pc: usize, k: u32, len: usize) -> Option<usize> {
    let to = (pc as u32).wrapping_add(1).wrapping_add(k) as usize;
    (to < len).then_some(to)
}

/// Checks `prog` with libpcap's `bpf_validate` rules, in its order (each
/// instruction, then the final `ret`), plus a refusal of the opcodes its
/// interpreter would abort on.
pub fn validate(prog: &Program) -> Result<(), LibpcapError> {
    let len = prog.insns.len();
    if len == 0 {
        return Err(LibpcapError {
            pc: 0,
            rule: LibpcapRule::Empty,
        });
    }
    for (pc, insn) in prog.insns.iter().enumerate() {
        let fail = |rule| Err(LibpcapError { pc, rule });
        if !code_allowed(insn.code) {
            return fail(LibpcapRule::UnknownOpcode);
        }
        let class = insn.class();
        let mem = (class == op::LD || class == op::LDX) && insn.mode() == op::MEM;
        if (mem || class == op::ST || class == op::STX) && insn.k >= op::MEMWORDS {
            return fail(LibpcapRule::ScratchIndexOutOfRange);
        }
        if class == op::ALU
            && matches!(insn.op(), op::DIV | op::MOD)
            && insn.src() == op::K
            && insn.k == 0
        {
            return fail(LibpcapRule::DivisionByZero);
        }
        if class == op::JMP {
            let inside = if insn.code == op::JMP | op::JA {
                ja_target(pc, insn.k, len).is_some()
            } else {
                pc + 1 + (insn.jt.max(insn.jf) as usize) < len
            };
            if !inside {
                return fail(LibpcapRule::JumpOutOfRange);
            }
        }
    }
    if prog.insns[len - 1].class() != op::RET {
        return Err(LibpcapError {
            pc: len - 1,
            rule: LibpcapRule::NoFinalReturn,
        });
    }
    Ok(())
}

/// `size` big-endian bytes at `start` (which may exceed 32 bits: libpcap's
/// `X + k` does not wrap), or `None` past the captured bytes.
fn load(packet: &[u8], start: u64, size: u64) -> Option<u32> {
    let end = start.checked_add(size)?;
    let bytes = packet.get(usize::try_from(start).ok()?..usize::try_from(end).ok()?)?;
    Some(bytes.iter().fold(0u32, |v, &b| (v << 8) | b as u32))
}

/// Runs a program [`validate`] accepted on one packet as libpcap's
/// `bpf_filter(prog, packet, wire_len, packet.len())` does: the verdict
/// (bytes to keep, 0 = drop). `wire_len` is what `ld len` reads.
///
/// A program [`validate`] refuses never panics here: a jump out of the
/// program or an opcode libpcap would abort on gives verdict 0.
pub fn run(prog: &Program, packet: &[u8], wire_len: u32) -> Result<u32, StepLimitReached> {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; op::MEMWORDS as usize];
    let mut pc: usize = 0;
    for _ in 0..STEP_LIMIT {
        let Some(insn) = prog.insns.get(pc).filter(|i| code_allowed(i.code)) else {
            return Ok(0);
        };
        let k = insn.k;
        let size = size_of(insn.size()) as u64;
        pc += 1;
        match insn.class() {
            op::RET => return Ok(if insn.rval() == op::A { a } else { k }),
            op::LD => {
                a = match insn.mode() {
                    op::IMM => k,
                    op::LEN => wire_len,
                    op::MEM => mem[k as usize & 15],
                    op::ABS => match load(packet, k as u64, size) {
                        Some(v) => v,
                        None => return Ok(0),
                    },
                    _ => match load(packet, x as u64 + k as u64, size) {
                        Some(v) => v,
                        None => return Ok(0),
                    },
                }
            }
            op::LDX => {
                x = match insn.mode() {
                    op::IMM => k,
                    op::LEN => wire_len,
                    op::MEM => mem[k as usize & 15],
                    _ => match load(packet, k as u64, 1) {
                        Some(v) => (v & 0xf) << 2,
                        None => return Ok(0),
                    },
                }
            }
            op::ST => mem[k as usize & 15] = a,
            op::STX => mem[k as usize & 15] = x,
            op::MISC if insn.code == op::MISC | op::TAX => x = a,
            op::MISC => a = x,
            op::ALU if insn.op() == op::NEG => a = a.wrapping_neg(),
            op::ALU => {
                let src = if insn.src() == op::X { x } else { k };
                a = match insn.op() {
                    // libpcap tests X < 32; only a constant shift keeps
                    // the machine's k mod 32.
                    op::LSH | op::RSH if insn.src() == op::X && src >= 32 => 0,
                    operation => match alu(operation, a, src) {
                        Some(v) => v,
                        None => return Ok(0),
                    },
                }
            }
            op::JMP if insn.code == op::JMP | op::JA => match ja_target(pc - 1, k, prog.len()) {
                Some(to) => pc = to,
                None => return Ok(0),
            },
            op::JMP => {
                let src = if insn.src() == op::X { x } else { k };
                let Some(taken) = jump_taken(insn.op(), a, src) else {
                    return Ok(0);
                };
                pc += if taken { insn.jt } else { insn.jf } as usize;
            }
            _ => return Ok(0),
        }
    }
    Err(StepLimitReached)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cbpf::parse::parse_comma;

    fn prog(text: &str) -> Program {
        parse_comma(text).expect("test program parses")
    }

    #[test]
    fn backward_ja_runs_and_endless_loops_stop() {
        // X counts to 3 through a backward `ja`, then A = X is returned.
        let p = prog("7,1 0 0 0,135 0 0 0,4 0 0 1,7 0 0 0,21 1 0 3,5 0 0 4294967291,22 0 0 0");
        // Index 6 is `ret a` reached once A == 3 (jeq jumps over the ja).
        assert_eq!(validate(&p), Ok(()));
        assert_eq!(run(&p, &[], 0), Ok(3));
        let endless = prog("2,5 0 0 4294967295,6 0 0 1");
        assert_eq!(validate(&endless), Ok(()));
        assert_eq!(run(&endless, &[], 0), Err(StepLimitReached));
    }

    #[test]
    fn refusals_name_the_instruction() {
        let err = |t: &str| validate(&prog(t)).unwrap_err();
        assert_eq!(
            err("2,5 0 0 1,6 0 0 1"),
            LibpcapError {
                pc: 0,
                rule: LibpcapRule::JumpOutOfRange
            }
        );
        assert_eq!(err("2,6 0 0 1,0 0 0 1").rule, LibpcapRule::NoFinalReturn);
        assert_eq!(
            err("2,96 0 0 16,6 0 0 1").rule,
            LibpcapRule::ScratchIndexOutOfRange
        );
        assert_eq!(err("2,52 0 0 0,6 0 0 1").rule, LibpcapRule::DivisionByZero);
        // `ldx [k]` passes bpf_validate but bpf_filter aborts on it.
        assert_eq!(err("2,33 0 0 0,6 0 0 1").rule, LibpcapRule::UnknownOpcode);
    }

    #[test]
    fn unwritten_scratch_reads_zero_and_loads_are_unsigned() {
        assert_eq!(run(&prog("2,96 0 0 3,22 0 0 0"), &[], 0), Ok(0));
        // SKF_NET_OFF + 0: Linux reads byte 0, libpcap is out of range.
        assert_eq!(run(&prog("2,48 0 0 4293918720,22 0 0 0"), &[7], 1), Ok(0));
        // X + k past 2^32 does not wrap around to byte 0.
        let p = prog("3,1 0 0 4294967295,80 0 0 1,22 0 0 0");
        assert_eq!(run(&p, &[9, 9], 2), Ok(0));
    }
}
