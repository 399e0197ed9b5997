//! One big-endian packet load as direct packet access behind the range
//! check the kernel's verifier needs: the one sequence behind both places
//! where a packet load becomes direct access (classic filters compiled to
//! XDP, and TC programs' legacy `LD_ABS`/`LD_IND` loads).
//!
//! The sequence: for an indirect load, the offset `src + imm` in 32 bits
//! (as the kernel computes it), out of the packet when above
//! [`MAX_PACKET_OFF`] minus the size (no frame's linear data is that long,
//! and this bound is what lets the verifier accept a variable offset); the
//! pointer one past the bytes read, `data + offset + size`, out of the
//! packet when above `data_end`; then the load at `pointer - size` and the
//! swap to host order. "Out of the packet" is a jump the caller aims (XDP:
//! the drop exit; TC: a shared `r0 = 0; exit`).

use super::insn::{op, Insn};

/// The largest end (offset + size) of a packet access that a range check
/// lets the verifier prove (the kernel's `MAX_PACKET_OFF`).
pub(crate) const MAX_PACKET_OFF: i64 = 0xffff;

/// Where the bytes are.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Offset {
    /// A constant offset (at most `MAX_PACKET_OFF - size`: the caller
    /// handles larger ones, which no packet reaches).
    Const(i64),
    /// `src + imm` in 32 bits.
    Indirect {
        /// Register holding the variable part.
        src: u8,
        /// The constant part.
        imm: i32,
    },
}

/// The registers a load uses.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Registers {
    /// Holds the packet's start (may be `ptr`: it is then consumed).
    pub data: u8,
    /// Holds the packet's end.
    pub data_end: u8,
    /// Scratch: the pointer.
    pub ptr: u8,
    /// Scratch: an indirect load's offset.
    pub offset: u8,
}

/// An emitted instruction; `out_of_packet` marks the jumps the caller aims
/// at its failure path (their `off` is left 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Step {
    pub insn: Insn,
    pub out_of_packet: bool,
}

/// A packet load of `size` bytes (1, 2 or 4) at `at` into `dst`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PacketLoad {
    pub size: i64,
    pub at: Offset,
    pub regs: Registers,
    pub dst: u8,
}

/// `dst = *(width *)(src + off)`.
pub(crate) fn ldx(width: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(op::LDX | op::MEM | width, dst, src, off, 0)
}

fn plain(insn: Insn) -> Step {
    Step {
        insn,
        out_of_packet: false,
    }
}

fn out_of_packet(insn: Insn) -> Step {
    Step {
        insn,
        out_of_packet: true,
    }
}

impl PacketLoad {
    /// The first part: an indirect load's offset into `regs.offset`
    /// (nothing for a constant one). Separate so that a caller that loads
    /// `data` and `data_end` into registers `src` may be can do so after it.
    pub(crate) fn offset(&self, out: &mut Vec<Step>) {
        if let Offset::Indirect { src, imm } = self.at {
            let r = self.regs.offset;
            out.push(plain(Insn::new(op::ALU | op::MOV | op::X, r, src, 0, 0)));
            out.push(plain(Insn::new(op::ALU | op::ADD | op::K, r, 0, 0, imm)));
        }
    }

    /// The rest: the range checks, the load and the byte swap.
    pub(crate) fn checked_load(&self, out: &mut Vec<Step>) {
        let (n, regs) = (self.size, self.regs);
        let add_k = |k: i64| Insn::new(op::ALU64 | op::ADD | op::K, regs.ptr, 0, 0, k as i32);
        let ptr_from_data = |out: &mut Vec<Step>| {
            if regs.data != regs.ptr {
                out.push(plain(Insn::new(
                    op::ALU64 | op::MOV | op::X,
                    regs.ptr,
                    regs.data,
                    0,
                    0,
                )));
            }
        };
        match self.at {
            Offset::Indirect { .. } => {
                out.push(out_of_packet(Insn::new(
                    op::JMP | op::JGT | op::K,
                    regs.offset,
                    0,
                    0,
                    (MAX_PACKET_OFF - n) as i32,
                )));
                ptr_from_data(out);
                out.push(plain(Insn::new(
                    op::ALU64 | op::ADD | op::X,
                    regs.ptr,
                    regs.offset,
                    0,
                    0,
                )));
                out.push(plain(add_k(n)));
            }
            Offset::Const(k) => {
                ptr_from_data(out);
                out.push(plain(add_k(k + n)));
            }
        }
        // The pointer is one past the bytes read: the check the verifier
        // needs.
        out.push(out_of_packet(Insn::new(
            op::JMP | op::JGT | op::X,
            regs.ptr,
            regs.data_end,
            0,
            0,
        )));
        let (width, swap) = match n {
            1 => (op::B, None),
            2 => (op::H, Some(16)),
            _ => (op::W, Some(32)),
        };
        out.push(plain(ldx(width, self.dst, regs.ptr, -(n as i16))));
        if let Some(bits) = swap {
            out.push(plain(Insn::new(op::TO_BE, self.dst, 0, 0, bits)));
        }
    }
}
