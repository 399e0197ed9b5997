//! What classic BPF's ALU operations and conditional jumps compute, as the
//! Linux kernel computes them: the one home of that meaning, used by the
//! reference interpreter ([`super::interp`]), libpcap's dialect
//! ([`super::libpcap`], which differs only in shifts by X of 32 or more)
//! and the expression optimiser's constant folding.

use super::insn::op;

/// `A op src` for an ALU operation (`op::ADD` … `op::RSH`, the operation
/// bits only); `None` where the kernel ends the program with verdict 0
/// (division or modulo by zero) or for an operation classic BPF lacks.
/// Shifts use the amount mod 32, as the kernel's 32-bit shifts do.
#[inline]
pub fn alu(operation: u16, a: u32, src: u32) -> Option<u32> {
    Some(match operation {
        op::ADD => a.wrapping_add(src),
        op::SUB => a.wrapping_sub(src),
        op::MUL => a.wrapping_mul(src),
        op::DIV => a.checked_div(src)?,
        op::MOD => a.checked_rem(src)?,
        op::AND => a & src,
        op::OR => a | src,
        op::XOR => a ^ src,
        op::LSH => a.wrapping_shl(src),
        op::RSH => a.wrapping_shr(src),
        _ => return None,
    })
}

/// Whether a conditional jump (`op::JEQ`, `op::JGT`, `op::JGE`,
/// `op::JSET`; the operation bits only) is taken with A = `a` and operand
/// `src`; `None` for another operation.
#[inline]
pub fn jump_taken(operation: u16, a: u32, src: u32) -> Option<bool> {
    Some(match operation {
        op::JEQ => a == src,
        op::JGT => a > src,
        op::JGE => a >= src,
        op::JSET => a & src != 0,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_arithmetic() {
        assert_eq!(alu(op::SUB, 1, 2), Some(u32::MAX));
        assert_eq!(alu(op::DIV, 7, 0), None);
        assert_eq!(alu(op::MOD, 7, 0), None);
        assert_eq!(alu(op::LSH, 1, 33), Some(2)); // amount mod 32
        assert_eq!(alu(op::RSH, 0x8000_0000, 31), Some(1));
        assert_eq!(jump_taken(op::JSET, 0, u32::MAX), Some(false));
        assert_eq!(jump_taken(op::JGE, 5, 5), Some(true));
        assert_eq!(jump_taken(op::JA, 0, 0), None);
    }
}
