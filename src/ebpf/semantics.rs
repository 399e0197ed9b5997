//! Per-opcode arithmetic semantics, written down once (RFC 9669 sections
//! 4.1–4.3 and 5.3), so every engine — interpreter, JIT constant folding,
//! tests — computes exactly the same values.
//!
//! Decisions the RFC leaves to us follow the Linux kernel (and agree with
//! RFC 9669 where it is explicit):
//! - division by zero gives 0; modulo by zero leaves the dividend (for the
//!   32-bit forms, the dividend's low 32 bits zero-extended);
//! - `INT_MIN / -1 = INT_MIN`, `INT_MIN % -1 = 0` (signed forms wrap);
//! - shift amounts are masked to 5 bits (32-bit) or 6 bits (64-bit);
//! - every 32-bit result is zero-extended into the upper half.

use super::insn::op;

/// 64-bit ALU operation `op` (the opcode's high nibble, e.g. [`op::ADD`])
/// with instruction offset `off` (1 selects signed div/mod; 8/16/32 select
/// `movsx`). `src` is the operand: a register value or the immediate
/// sign-extended to 64 bits. `NEG` ignores `src`. `END` is not handled here:
/// see [`byte_order`]. Unknown operations return `dst` unchanged (the
/// verifier refuses them first).
#[inline]
pub fn alu64(op: u8, off: i16, dst: u64, src: u64) -> u64 {
    let signed = off == 1;
    match op {
        op::ADD => dst.wrapping_add(src),
        op::SUB => dst.wrapping_sub(src),
        op::MUL => dst.wrapping_mul(src),
        op::DIV if signed => {
            if src == 0 {
                0
            } else {
                (dst as i64).wrapping_div(src as i64) as u64
            }
        }
        op::DIV => dst.checked_div(src).unwrap_or(0),
        op::MOD if signed => {
            if src == 0 {
                dst
            } else {
                (dst as i64).wrapping_rem(src as i64) as u64
            }
        }
        op::MOD => dst.checked_rem(src).unwrap_or(dst),
        op::OR => dst | src,
        op::AND => dst & src,
        op::XOR => dst ^ src,
        op::LSH => dst << (src & 63),
        op::RSH => dst >> (src & 63),
        op::ARSH => ((dst as i64) >> (src & 63)) as u64,
        op::NEG => (dst as i64).wrapping_neg() as u64,
        op::MOV => match off {
            8 => src as i8 as i64 as u64,
            16 => src as i16 as i64 as u64,
            32 => src as i32 as i64 as u64,
            _ => src,
        },
        _ => dst,
    }
}

/// 32-bit ALU operation: like [`alu64`] but on the low 32 bits of `dst` and
/// `src`, the result zero-extended to 64 bits. `src` may carry anything in
/// its upper half (a register, or the immediate in any extension): only the
/// low 32 bits are used.
#[inline]
pub fn alu32(op: u8, off: i16, dst: u64, src: u64) -> u64 {
    let d = dst as u32;
    let s = src as u32;
    let signed = off == 1;
    let r: u32 = match op {
        op::ADD => d.wrapping_add(s),
        op::SUB => d.wrapping_sub(s),
        op::MUL => d.wrapping_mul(s),
        op::DIV if signed => {
            if s == 0 {
                0
            } else {
                (d as i32).wrapping_div(s as i32) as u32
            }
        }
        op::DIV => d.checked_div(s).unwrap_or(0),
        op::MOD if signed => {
            if s == 0 {
                d
            } else {
                (d as i32).wrapping_rem(s as i32) as u32
            }
        }
        op::MOD => d.checked_rem(s).unwrap_or(d),
        op::OR => d | s,
        op::AND => d & s,
        op::XOR => d ^ s,
        op::LSH => d << (s & 31),
        op::RSH => d >> (s & 31),
        op::ARSH => ((d as i32) >> (s & 31)) as u32,
        op::NEG => (d as i32).wrapping_neg() as u32,
        op::MOV => match off {
            8 => s as i8 as i32 as u32,
            16 => s as i16 as i32 as u32,
            _ => s,
        },
        _ => d,
    };
    r as u64
}

/// Byte-order instruction: `opc` is the whole opcode ([`op::TO_LE`],
/// [`op::TO_BE`] or [`op::BSWAP`]), `width` its immediate (16, 32 or 64).
/// On the little-endian byte order RFC 9669 assumes for memory, `le` only
/// truncates; `be` and `bswap` swap the low `width` bits; both zero-extend.
/// An unknown width or opcode returns `dst` unchanged (refused by the
/// verifier).
#[inline]
pub fn byte_order(opc: u8, width: i32, dst: u64) -> u64 {
    let swap = opc == op::TO_BE || opc == op::BSWAP;
    match (width, swap) {
        (16, false) => dst as u16 as u64,
        (32, false) => dst as u32 as u64,
        (64, false) => dst,
        (16, true) => (dst as u16).swap_bytes() as u64,
        (32, true) => (dst as u32).swap_bytes() as u64,
        (64, true) => dst.swap_bytes(),
        _ => dst,
    }
}

/// Condition of a conditional jump `op` (e.g. [`op::JSGT`]). With `is32`
/// (class JMP32) only the low 32 bits of `a` and `b` are compared. For the
/// JMP class `b` must already be sign-extended when it is an immediate.
/// `JA` is always true; CALL/EXIT/unknown are false.
#[inline]
pub fn jmp_cond(op: u8, a: u64, b: u64, is32: bool) -> bool {
    if is32 {
        let (a, b) = (a as u32, b as u32);
        let (sa, sb) = (a as i32, b as i32);
        match op {
            op::JA => true,
            op::JEQ => a == b,
            op::JNE => a != b,
            op::JGT => a > b,
            op::JGE => a >= b,
            op::JLT => a < b,
            op::JLE => a <= b,
            op::JSET => a & b != 0,
            op::JSGT => sa > sb,
            op::JSGE => sa >= sb,
            op::JSLT => sa < sb,
            op::JSLE => sa <= sb,
            _ => false,
        }
    } else {
        let (sa, sb) = (a as i64, b as i64);
        match op {
            op::JA => true,
            op::JEQ => a == b,
            op::JNE => a != b,
            op::JGT => a > b,
            op::JGE => a >= b,
            op::JLT => a < b,
            op::JLE => a <= b,
            op::JSET => a & b != 0,
            op::JSGT => sa > sb,
            op::JSGE => sa >= sb,
            op::JSLT => sa < sb,
            op::JSLE => sa <= sb,
            _ => false,
        }
    }
}

/// New memory value of an atomic read-modify-write whose imm (without the
/// [`op::FETCH`] flag) is `ADD`, `OR`, `AND`, `XOR` or `XCHG`. The result is
/// truncated to `width` bytes (4 or 8) by the caller's store. `CMPXCHG` is
/// not handled here (it depends on r0): see [`cmpxchg`].
pub fn atomic_rmw(imm: i32, old: u64, src: u64) -> u64 {
    match imm & !op::FETCH {
        0x00 => old.wrapping_add(src),
        0x40 => old | src,
        0x50 => old & src,
        0xa0 => old ^ src,
        0xe0 => src,
        _ => old,
    }
}

/// Compare-and-exchange: returns the value to store, given the old memory
/// value, r0 and the source register, all already truncated to the access
/// width. The old value always goes to r0 (zero-extended for 32-bit).
pub fn cmpxchg(old: u64, r0: u64, src: u64) -> u64 {
    if old == r0 {
        src
    } else {
        old
    }
}

/// Offset a legacy `LD_IND` reads at: `(int32)(src + imm)`, the addition
/// wrapping at 32 bits as in the kernel. A negative result is out of range.
#[inline]
pub fn ld_ind_offset(src: u64, imm: i32) -> i32 {
    (src as u32).wrapping_add(imm as u32) as i32
}

/// Linux `SKF_NET_OFF`: legacy loads at `SKF_NET_OFF + k` read byte `k`
/// of the network header, which is where the input memory starts.
pub const SKF_NET_OFF: i32 = -0x10_0000;

/// Linux `SKF_LL_OFF`: loads in `[SKF_LL_OFF, SKF_NET_OFF)` read the
/// link-layer header, which this engine does not have, so they fail.
pub const SKF_LL_OFF: i32 = -0x20_0000;

/// Value of a legacy packet load of `size` (1, 2 or 4) bytes, read in
/// network byte order, from `packet` at `offset`; `None` when any byte lies
/// outside the packet (the kernel then ends the program with r0 = 0).
///
/// As in the kernel (`bpf_internal_load_pointer_neg_helper`), a negative
/// offset at or above [`SKF_NET_OFF`] addresses the network header, i.e.
/// `packet[offset - SKF_NET_OFF]`; lower offsets (link layer) fail.
#[inline]
pub fn ld_packet(packet: &[u8], offset: i32, size: usize) -> Option<u64> {
    let start = if offset >= 0 {
        offset as usize
    } else if offset >= SKF_NET_OFF {
        (offset - SKF_NET_OFF) as usize
    } else {
        return None;
    };
    let bytes = packet.get(start..start.checked_add(size)?)?;
    Some(bytes.iter().fold(0u64, |acc, &b| (acc << 8) | b as u64))
}

/// Number of bytes of a load/store size field ([`op::B`], [`op::H`],
/// [`op::W`], [`op::DW`]).
#[inline]
pub fn size_bytes(size_field: u8) -> usize {
    match size_field {
        op::B => 1,
        op::H => 2,
        op::W => 4,
        _ => 8,
    }
}

/// Sign-extends the low `size` bytes of `v` to 64 bits (for `MEMSX` loads).
#[inline]
pub fn sign_extend(v: u64, size: usize) -> u64 {
    match size {
        1 => v as i8 as i64 as u64,
        2 => v as i16 as i64 as u64,
        4 => v as i32 as i64 as u64,
        _ => v,
    }
}
