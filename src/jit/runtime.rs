//! What generated code sees at run time: the context block passed to every
//! compiled function, and the status codes it leaves there.
//!
//! The layout is `repr(C)` and read by generated code at fixed offsets, so it
//! is the one contract between `super::lower` and the Rust side that calls
//! the code.

/// Status left in [`RunCtx::status`] by generated code.
pub mod status {
    /// The program ran to its `exit`.
    pub const OK: u32 = 0;
    /// The program ended early with r0 = 0 (packet load out of range, or a
    /// helper that unwinds).
    pub const ABORT_ZERO: u32 = 1;
    /// A memory access fell outside the input memory and the stack.
    pub const OUT_OF_BOUNDS: u32 = 2;
    /// The instruction budget ran out.
    pub const BUDGET: u32 = 3;
    /// `callx` named a helper that is not registered.
    pub const UNKNOWN_HELPER: u32 = 4;
    /// Local calls nested deeper than the stack allows.
    pub const CALL_DEPTH: u32 = 5;
    /// Leaf code met a helper call or a negative packet offset: the caller
    /// runs the whole input again on the interpreter.
    pub const HAND_OVER: u32 = 6;
    /// A helper panicked (the panic was caught at the trampoline).
    pub const HELPER_PANICKED: u32 = 7;
    /// Control reached the end of the program without `exit`. Verified
    /// programs never get here: only unreachable code (which the verifier
    /// accepts whatever it holds) can fall off the end, so this reports a
    /// verifier bug instead of running past the code.
    pub const FELL_OFF_END: u32 = 8;
}

/// What leaf code returns instead of a result when it hands the input
/// over to the interpreter (results of leaf code are 32-bit).
pub const LEAF_HAND_OVER: u64 = 1 << 32;

/// How code with a lean entry (`JitOptions::lean_entry`) ends: it returns
/// two words, `(value, error)`. `error` 0: `value` is r0. Otherwise
/// `value` is the faulting address (or 0) and `error` packs the rest of
/// what [`RunCtx`] would have held: the status in bits 0-7, the access
/// info (size, write bit) in bits 8-23, the instruction index in bits
/// 32-63. Nothing is written to memory, so a run sets up none.
pub mod lean {
    /// Where the access info starts in the error word.
    pub const INFO_SHIFT: u32 = 8;
    /// Where the instruction index starts in the error word.
    pub const PC_SHIFT: u32 = 32;

    /// The two words code with a lean entry returns (in the two return
    /// registers of the C calling convention on x86-64 and aarch64).
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct Return {
        /// r0, or the faulting address.
        pub value: u64,
        /// 0, or the packed error.
        pub error: u64,
    }

    /// `(status, pc, info)` of a non-zero error word.
    pub fn unpack(error: u64) -> (u32, u32, u64) {
        (
            (error & 0xff) as u32,
            (error >> PC_SHIFT) as u32,
            (error >> INFO_SHIFT) & 0xffff,
        )
    }
}

/// Size of one eBPF stack frame in bytes.
pub const FRAME_SIZE: u64 = 512;

/// The context block every compiled function receives as its first argument.
#[repr(C)]
#[derive(Debug)]
pub struct RunCtx {
    /// Start of the input memory (the region r1 points to).
    pub mem_lo: u64,
    /// Length of the input memory in bytes.
    pub mem_len: u64,
    /// Lowest usable stack address (bottom of the deepest possible frame).
    pub stack_lo: u64,
    /// Top of the outermost frame: r10 of the entry function.
    pub stack_hi: u64,
    /// Instructions left before the budget runs out (when one is set).
    pub budget_left: u64,
    /// One of [`status`].
    pub status: u32,
    /// Instruction index where an error occurred.
    pub err_pc: u32,
    /// Faulting address, or helper id.
    pub err_addr: u64,
    /// Access size in bits 0-7, bit 8 set for a write.
    pub err_info: u64,
    /// Opaque pointer handed to the trampolines below.
    pub env: usize,
    /// `extern "C" fn(*mut RunCtx, id, r1, r2, r3, r4, r5) -> u64`.
    pub helper_trampoline: usize,
    /// `extern "C" fn(*mut RunCtx, pkt, len, offset: i64, size) -> i64`:
    /// the packet load at a negative offset; -1 when out of range.
    pub negative_load: usize,
    /// The packet the legacy loads read (for helpers; generated code has
    /// it as an argument).
    pub packet: u64,
    /// Its length.
    pub packet_len: u64,
}

/// Byte offsets of [`RunCtx`] fields, as generated code reads them.
pub(crate) mod offset {
    pub const MEM_LO: i32 = 0;
    pub const MEM_LEN: i32 = 8;
    pub const STACK_LO: i32 = 16;
    pub const STACK_HI: i32 = 24;
    pub const BUDGET_LEFT: i32 = 32;
    pub const STATUS: i32 = 40;
    pub const ERR_PC: i32 = 44;
    pub const ERR_ADDR: i32 = 48;
    pub const ERR_INFO: i32 = 56;
    pub const HELPER_TRAMPOLINE: i32 = 72;
    pub const NEGATIVE_LOAD: i32 = 80;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;

    #[test]
    fn offsets_match_the_struct() {
        assert_eq!(offset_of!(RunCtx, mem_lo) as i32, offset::MEM_LO);
        assert_eq!(offset_of!(RunCtx, mem_len) as i32, offset::MEM_LEN);
        assert_eq!(offset_of!(RunCtx, stack_lo) as i32, offset::STACK_LO);
        assert_eq!(offset_of!(RunCtx, stack_hi) as i32, offset::STACK_HI);
        assert_eq!(offset_of!(RunCtx, budget_left) as i32, offset::BUDGET_LEFT);
        assert_eq!(offset_of!(RunCtx, status) as i32, offset::STATUS);
        assert_eq!(offset_of!(RunCtx, err_pc) as i32, offset::ERR_PC);
        assert_eq!(offset_of!(RunCtx, err_addr) as i32, offset::ERR_ADDR);
        assert_eq!(offset_of!(RunCtx, err_info) as i32, offset::ERR_INFO);
        assert_eq!(
            offset_of!(RunCtx, helper_trampoline) as i32,
            offset::HELPER_TRAMPOLINE
        );
        assert_eq!(
            offset_of!(RunCtx, negative_load) as i32,
            offset::NEGATIVE_LOAD
        );
    }
}
