//! The eBPF instruction (RFC 9669 section 3): the 64-bit encoding.
//!
//! A [`Program`] is a sequence of 8-byte slots; `lddw` takes two slots, the
//! second one carrying the upper 32 bits of its immediate in `imm`.

/// One 8-byte eBPF instruction slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    /// Opcode byte: class in bits 0-2, then source and operation/size/mode.
    pub opc: u8,
    /// Destination register (4 bits).
    pub dst: u8,
    /// Source register (4 bits).
    pub src: u8,
    /// Signed 16-bit offset.
    pub off: i16,
    /// Signed 32-bit immediate.
    pub imm: i32,
}

impl Insn {
    /// Builds an instruction from its fields.
    pub const fn new(opc: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            opc,
            dst,
            src,
            off,
            imm,
        }
    }

    /// The instruction class (low 3 bits of the opcode).
    pub const fn class(&self) -> u8 {
        self.opc & 0x07
    }

    /// The operation of an ALU or jump instruction (high 4 bits).
    pub const fn op(&self) -> u8 {
        self.opc & 0xf0
    }

    /// True when an ALU or jump instruction takes its operand from `src`.
    pub const fn is_src_reg(&self) -> bool {
        self.opc & op::X != 0
    }

    /// The size field of a load or store.
    pub const fn size_field(&self) -> u8 {
        self.opc & 0x18
    }

    /// The mode field of a load or store.
    pub const fn mode(&self) -> u8 {
        self.opc & 0xe0
    }

    /// True for the first slot of a 64-bit immediate load (`lddw`).
    pub const fn is_lddw(&self) -> bool {
        self.opc == op::LD | op::IMM | op::DW
    }

    /// The 64-bit immediate of an `lddw` whose second slot is `hi`: this
    /// slot's `imm` the low word, `hi`'s the high one (0 without it).
    pub fn imm64(&self, hi: Option<&Insn>) -> u64 {
        u64::from(self.imm as u32) | hi.map_or(0, |h| u64::from(h.imm as u32)) << 32
    }

    /// A local (BPF-to-BPF) call: `call` with `src` 1, its target
    /// `imm + 1` slots on.
    pub const fn is_local_call(&self) -> bool {
        self.opc == op::JMP | op::CALL && self.src == op::CALL_LOCAL
    }

    /// The slots this instruction occupies: 2 for `lddw`, else 1.
    pub const fn width(&self) -> usize {
        if self.is_lddw() {
            2
        } else {
            1
        }
    }

    /// The registers this instruction reads and writes (bit `r` for
    /// register r), and whether it leaves r1–r5 unreadable (helper calls
    /// and legacy packet loads). A local call is a helper call here; the
    /// data flow passes treat it themselves.
    pub(crate) fn register_effects(&self) -> (u16, u16, bool) {
        let d = regs::bit(self.dst & 15);
        let s = regs::bit(self.src & 15);
        match self.class() {
            op::ALU | op::ALU64 => match self.op() {
                op::MOV if self.is_src_reg() => (s, d, false),
                op::MOV => (0, d, false),
                op::NEG | op::END => (d, d, false),
                _ if self.is_src_reg() => (d | s, d, false),
                _ => (d, d, false),
            },
            op::JMP | op::JMP32 => match self.op() {
                op::JA => (0, 0, false),
                op::CALL if self.is_src_reg() => (d, regs::R0, true),
                op::CALL => (0, regs::R0, true),
                op::EXIT => (regs::R0, 0, false),
                _ if self.is_src_reg() => (d | s, 0, false),
                _ => (d, 0, false),
            },
            op::LD if self.is_lddw() => (0, d, false),
            op::LD if self.mode() == op::IND => (s, regs::R0, true),
            op::LD => (0, regs::R0, true),
            op::LDX => (s, d, false),
            op::ST => (d, 0, false),
            _ if self.mode() == op::ATOMIC => {
                if self.imm == op::CMPXCHG {
                    (d | s | regs::R0, regs::R0, false)
                } else if self.imm & op::FETCH != 0 {
                    (d | s, s, false)
                } else {
                    (d | s, 0, false)
                }
            }
            _ => (d | s, 0, false),
        }
    }

    /// Where control goes after this instruction at slot `pc`, within its
    /// function: `[fall-through, jump target]`. A local call continues at
    /// the next instruction; `exit` has neither. A target before the first
    /// slot is `usize::MAX`, so one range check (`< len`) covers both
    /// directions.
    pub fn successors(&self, pc: usize) -> [Option<usize>; 2] {
        let next = Some(pc + self.width());
        let target = |rel: i64| Some(usize::try_from(pc as i64 + 1 + rel).unwrap_or(usize::MAX));
        match (self.class(), self.op()) {
            (op::JMP, op::EXIT) => [None, None],
            (op::JMP, op::JA) => [target(i64::from(self.off)), None],
            (op::JMP32, op::JA) => [target(i64::from(self.imm)), None],
            (op::JMP, op::CALL) => [next, None],
            (op::JMP | op::JMP32, _) => [next, target(i64::from(self.off))],
            _ => [next, None],
        }
    }

    /// Encodes as 8 little-endian bytes (dst in the low nibble of byte 1).
    pub fn to_bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0] = self.opc;
        b[1] = (self.dst & 0x0f) | (self.src << 4);
        b[2..4].copy_from_slice(&self.off.to_le_bytes());
        b[4..8].copy_from_slice(&self.imm.to_le_bytes());
        b
    }

    /// Decodes 8 little-endian bytes.
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            opc: b[0],
            dst: b[1] & 0x0f,
            src: b[1] >> 4,
            off: i16::from_le_bytes([b[2], b[3]]),
            imm: i32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }

    /// The slot as the 64-bit integer the conformance suite's `-- raw` uses.
    pub fn to_u64(&self) -> u64 {
        u64::from_le_bytes(self.to_bytes())
    }

    /// Decodes the 64-bit integer form.
    pub fn from_u64(v: u64) -> Insn {
        Insn::from_bytes(v.to_le_bytes())
    }
}

/// An eBPF program: its instruction slots in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Program {
    /// The slots (an `lddw` occupies two).
    pub insns: Vec<Insn>,
}

impl Program {
    /// Wraps a list of slots.
    pub fn new(insns: Vec<Insn>) -> Program {
        Program { insns }
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// True when there are no slots.
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }

    /// True if some slot is a local (bpf-to-bpf) call, so a run may need
    /// more than one stack frame.
    pub fn has_local_calls(&self) -> bool {
        self.insns.iter().any(Insn::is_local_call)
    }

    /// Encodes every slot as little-endian bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.insns.iter().flat_map(|i| i.to_bytes()).collect()
    }

    /// Decodes little-endian bytes, 8 per slot. Only the length is checked
    /// here: whether the slots make sense is the verifier's job.
    pub fn from_bytes(bytes: &[u8]) -> Result<Program, DecodeError> {
        let chunks = bytes.chunks_exact(8);
        if !chunks.remainder().is_empty() {
            return Err(DecodeError {
                offset: bytes.len() - chunks.remainder().len(),
                trailing: chunks.remainder().len(),
            });
        }
        let insns = chunks
            .map(|c| {
                let mut b = [0u8; 8];
                b.copy_from_slice(c);
                Insn::from_bytes(b)
            })
            .collect();
        Ok(Program { insns })
    }
}

/// Raw bytes whose length is not a multiple of the 8-byte slot size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset where the incomplete slot starts.
    pub offset: usize,
    /// How many bytes that incomplete slot has.
    pub trailing: usize,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "byte offset {}: incomplete instruction ({} trailing bytes; eBPF instructions are 8 bytes)",
            self.offset, self.trailing
        )
    }
}

impl std::error::Error for DecodeError {}

impl From<Vec<Insn>> for Program {
    fn from(insns: Vec<Insn>) -> Program {
        Program { insns }
    }
}

/// Opcode field values (RFC 9669 section 3 and `<linux/bpf.h>`).
pub mod op {
    // Classes.
    /// Non-standard load: `lddw` and the legacy packet loads.
    pub const LD: u8 = 0x00;
    /// Load from memory into a register.
    pub const LDX: u8 = 0x01;
    /// Store an immediate to memory.
    pub const ST: u8 = 0x02;
    /// Store a register to memory (and atomics).
    pub const STX: u8 = 0x03;
    /// 32-bit arithmetic.
    pub const ALU: u8 = 0x04;
    /// 64-bit jumps, calls, exit.
    pub const JMP: u8 = 0x05;
    /// 32-bit jumps.
    pub const JMP32: u8 = 0x06;
    /// 64-bit arithmetic.
    pub const ALU64: u8 = 0x07;

    // Source.
    /// Operand is the immediate.
    pub const K: u8 = 0x00;
    /// Operand is the source register.
    pub const X: u8 = 0x08;

    // Load/store sizes.
    /// 4 bytes.
    pub const W: u8 = 0x00;
    /// 2 bytes.
    pub const H: u8 = 0x08;
    /// 1 byte.
    pub const B: u8 = 0x10;
    /// 8 bytes.
    pub const DW: u8 = 0x18;

    // Load/store modes.
    /// 64-bit immediate (`lddw`).
    pub const IMM: u8 = 0x00;
    /// Legacy packet load at an absolute offset.
    pub const ABS: u8 = 0x20;
    /// Legacy packet load at src + imm.
    pub const IND: u8 = 0x40;
    /// Regular memory access.
    pub const MEM: u8 = 0x60;
    /// Sign-extending load.
    pub const MEMSX: u8 = 0x80;
    /// Atomic operation (STX class).
    pub const ATOMIC: u8 = 0xc0;

    // ALU operations.
    /// dst += src.
    pub const ADD: u8 = 0x00;
    /// dst -= src.
    pub const SUB: u8 = 0x10;
    /// dst *= src.
    pub const MUL: u8 = 0x20;
    /// dst /= src (signed when offset = 1).
    pub const DIV: u8 = 0x30;
    /// dst |= src.
    pub const OR: u8 = 0x40;
    /// dst &= src.
    pub const AND: u8 = 0x50;
    /// dst <<= src.
    pub const LSH: u8 = 0x60;
    /// dst >>= src (logical).
    pub const RSH: u8 = 0x70;
    /// dst = -dst.
    pub const NEG: u8 = 0x80;
    /// dst %= src (signed when offset = 1).
    pub const MOD: u8 = 0x90;
    /// dst ^= src.
    pub const XOR: u8 = 0xa0;
    /// dst = src (sign-extending when offset = 8/16/32).
    pub const MOV: u8 = 0xb0;
    /// dst >>= src (arithmetic).
    pub const ARSH: u8 = 0xc0;
    /// Byte swap / byte order conversion.
    pub const END: u8 = 0xd0;

    // Jump operations.
    /// Unconditional jump.
    pub const JA: u8 = 0x00;
    /// ==.
    pub const JEQ: u8 = 0x10;
    /// > unsigned.
    pub const JGT: u8 = 0x20;
    /// >= unsigned.
    pub const JGE: u8 = 0x30;
    /// dst & src != 0.
    pub const JSET: u8 = 0x40;
    /// !=.
    pub const JNE: u8 = 0x50;
    /// > signed.
    pub const JSGT: u8 = 0x60;
    /// >= signed.
    pub const JSGE: u8 = 0x70;
    /// Function call.
    pub const CALL: u8 = 0x80;
    /// Return from the program or a local function.
    pub const EXIT: u8 = 0x90;
    /// < unsigned.
    pub const JLT: u8 = 0xa0;
    /// <= unsigned.
    pub const JLE: u8 = 0xb0;
    /// < signed.
    pub const JSLT: u8 = 0xc0;
    /// <= signed.
    pub const JSLE: u8 = 0xd0;

    // Atomic operations (the imm field of an ATOMIC store).
    /// Flag: also load the old value into `src`.
    pub const FETCH: i32 = 0x01;
    /// Atomic exchange (always fetches).
    pub const XCHG: i32 = 0xe0 | FETCH;
    /// Atomic compare-and-exchange against r0 (always fetches into r0).
    pub const CMPXCHG: i32 = 0xf0 | FETCH;

    // Call kinds (src field of a CALL).
    /// Helper function called by number.
    pub const CALL_HELPER: u8 = 0;
    /// Program-local (BPF-to-BPF) call; imm is the relative slot offset.
    pub const CALL_LOCAL: u8 = 1;
    /// Platform-specific helper by BTF id (not supported here).
    pub const CALL_RUNTIME: u8 = 2;

    // Whole opcodes used by name.
    /// `lddw`: load a 64-bit immediate (two slots).
    pub const LDDW: u8 = LD | IMM | DW;
    /// `call imm` (helper or local call).
    pub const CALL_IMM: u8 = JMP | CALL;
    /// `callx`: call the helper whose number is in the register named by dst.
    pub const CALLX: u8 = JMP | CALL | X;
    /// `exit`.
    pub const EXIT_OP: u8 = JMP | EXIT;
    /// `ja32` / `gotol`: unconditional jump with a 32-bit offset in imm.
    pub const JA32: u8 = JMP32 | JA;
    /// Byte-order conversion to little endian (imm = 16/32/64).
    pub const TO_LE: u8 = ALU | END;
    /// Byte-order conversion to big endian (imm = 16/32/64).
    pub const TO_BE: u8 = ALU | END | X;
    /// Unconditional byte swap (imm = 16/32/64).
    pub const BSWAP: u8 = ALU64 | END;
}

/// Register sets as bit masks (bit `r` for register r), for the passes
/// that follow which registers hold a value.
pub(crate) mod regs {
    /// r0, the result.
    pub const R0: u16 = 1;
    /// r1–r5, the arguments (unreadable after a helper call).
    pub const ARGS: u16 = 0b11_1110;
    /// r6–r9, kept across calls.
    pub const CALLEE_SAVED: u16 = 0b11_1100_0000;
    /// r10, the frame pointer.
    pub const FP: u16 = 1 << 10;
    /// What a program may read at entry: r1, r2 (this runtime's memory
    /// length, which raw programs take) and r10.
    pub const ENTRY: u16 = 0b110 | FP;
    /// Every register.
    pub const ALL: u16 = (1 << 11) - 1;

    /// Register `r`'s bit (r11–r15, which the field checks refuse first,
    /// fall outside [`ALL`]).
    pub const fn bit(r: u8) -> u16 {
        1u16 << r
    }
}
