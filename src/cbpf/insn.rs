//! The classic BPF instruction: `struct sock_filter` and its opcode fields.
//!
//! Field values are those of `<linux/filter.h>` / `<linux/bpf_common.h>`.
//! A [`Program`] holds raw instructions exactly as the kernel receives them:
//! any 16-bit code may appear, and it is the checker's job to refuse the
//! ones the kernel refuses.

/// One classic instruction, laid out as the kernel's `struct sock_filter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Insn {
    /// Opcode: class | size/op | mode/src.
    pub code: u16,
    /// Jump offset if the condition holds (relative to the next instruction).
    pub jt: u8,
    /// Jump offset if the condition fails (relative to the next instruction).
    pub jf: u8,
    /// Generic operand: constant, offset or scratch index.
    pub k: u32,
}

impl Insn {
    /// A non-jump instruction (`BPF_STMT`).
    pub const fn stmt(code: u16, k: u32) -> Insn {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A jump instruction (`BPF_JUMP`).
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// Where control goes after this instruction at `pc`: `[next, None]`
    /// for a statement, `[pc + 1 + k, None]` for `ja`, `[pc + 1 + jt,
    /// pc + 1 + jf]` for a conditional jump (taken, not taken), nothing
    /// after `ret`. Targets are not range-checked (the checker does that).
    pub fn successors(&self, pc: usize) -> [Option<usize>; 2] {
        let after = |off: u32| Some(pc + 1 + off as usize);
        match self.class() {
            op::RET => [None, None],
            op::JMP if self.op() == op::JA => [after(self.k), None],
            op::JMP => [after(u32::from(self.jt)), after(u32::from(self.jf))],
            _ => [after(0), None],
        }
    }

    /// The instruction class (`BPF_CLASS`).
    pub const fn class(&self) -> u16 {
        self.code & 0x07
    }

    /// The size field of a load or store (`BPF_SIZE`).
    pub const fn size(&self) -> u16 {
        self.code & 0x18
    }

    /// The addressing mode of a load or store (`BPF_MODE`).
    pub const fn mode(&self) -> u16 {
        self.code & 0xe0
    }

    /// The operation of an ALU or jump instruction (`BPF_OP`).
    pub const fn op(&self) -> u16 {
        self.code & 0xf0
    }

    /// The operand source of an ALU or jump instruction (`BPF_SRC`).
    pub const fn src(&self) -> u16 {
        self.code & 0x08
    }

    /// The return value source of a `ret` (`BPF_RVAL`).
    pub const fn rval(&self) -> u16 {
        self.code & 0x18
    }

    /// The operation of a `misc` instruction (`BPF_MISCOP`).
    pub const fn miscop(&self) -> u16 {
        self.code & 0xf8
    }

    /// Encodes as the 8 little-endian bytes of `struct sock_filter`.
    pub fn to_bytes(&self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&self.code.to_le_bytes());
        b[2] = self.jt;
        b[3] = self.jf;
        b[4..8].copy_from_slice(&self.k.to_le_bytes());
        b
    }

    /// Decodes 8 little-endian bytes of `struct sock_filter`.
    pub fn from_bytes(b: [u8; 8]) -> Insn {
        Insn {
            code: u16::from_le_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// A classic program: the instructions as the kernel would receive them.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Program {
    /// The instructions, in order.
    pub insns: Vec<Insn>,
}

impl Program {
    /// Wraps a list of instructions.
    pub fn new(insns: Vec<Insn>) -> Program {
        Program { insns }
    }

    /// Number of instructions.
    pub fn len(&self) -> usize {
        self.insns.len()
    }

    /// True for a program with no instructions (which the kernel refuses).
    pub fn is_empty(&self) -> bool {
        self.insns.is_empty()
    }
}

impl From<Vec<Insn>> for Program {
    fn from(insns: Vec<Insn>) -> Program {
        Program { insns }
    }
}

/// Opcode field values, as in `<linux/bpf_common.h>` and `<linux/filter.h>`.
pub mod op {
    // Classes.
    /// Load into A.
    pub const LD: u16 = 0x00;
    /// Load into X.
    pub const LDX: u16 = 0x01;
    /// Store A into scratch memory.
    pub const ST: u16 = 0x02;
    /// Store X into scratch memory.
    pub const STX: u16 = 0x03;
    /// Arithmetic on A.
    pub const ALU: u16 = 0x04;
    /// Jumps.
    pub const JMP: u16 = 0x05;
    /// Return.
    pub const RET: u16 = 0x06;
    /// TAX / TXA.
    pub const MISC: u16 = 0x07;

    // Load sizes.
    /// 32-bit word.
    pub const W: u16 = 0x00;
    /// 16-bit half word.
    pub const H: u16 = 0x08;
    /// Byte.
    pub const B: u16 = 0x10;

    // Load modes.
    /// Immediate constant.
    pub const IMM: u16 = 0x00;
    /// Packet at absolute offset k.
    pub const ABS: u16 = 0x20;
    /// Packet at offset X + k.
    pub const IND: u16 = 0x40;
    /// Scratch memory cell k.
    pub const MEM: u16 = 0x60;
    /// Packet length.
    pub const LEN: u16 = 0x80;
    /// `4 * (pkt[k] & 0xf)`, the IPv4 header length idiom (LDX only).
    pub const MSH: u16 = 0xa0;

    // ALU and jump operations.
    /// A + operand.
    pub const ADD: u16 = 0x00;
    /// A - operand.
    pub const SUB: u16 = 0x10;
    /// A * operand.
    pub const MUL: u16 = 0x20;
    /// A / operand (unsigned).
    pub const DIV: u16 = 0x30;
    /// A | operand.
    pub const OR: u16 = 0x40;
    /// A & operand.
    pub const AND: u16 = 0x50;
    /// A << operand.
    pub const LSH: u16 = 0x60;
    /// A >> operand (logical).
    pub const RSH: u16 = 0x70;
    /// -A.
    pub const NEG: u16 = 0x80;
    /// A % operand (unsigned).
    pub const MOD: u16 = 0x90;
    /// A ^ operand.
    pub const XOR: u16 = 0xa0;

    /// Unconditional jump by k.
    pub const JA: u16 = 0x00;
    /// Jump if A == operand.
    pub const JEQ: u16 = 0x10;
    /// Jump if A > operand (unsigned).
    pub const JGT: u16 = 0x20;
    /// Jump if A >= operand (unsigned).
    pub const JGE: u16 = 0x30;
    /// Jump if A & operand != 0.
    pub const JSET: u16 = 0x40;

    // Operand sources.
    /// Operand is the constant k.
    pub const K: u16 = 0x00;
    /// Operand is X.
    pub const X: u16 = 0x08;
    /// `ret a` (BPF_RVAL).
    pub const A: u16 = 0x10;

    // Misc operations.
    /// X = A.
    pub const TAX: u16 = 0x00;
    /// A = X.
    pub const TXA: u16 = 0x80;

    /// Number of scratch memory words (`BPF_MEMWORDS`).
    pub const MEMWORDS: u32 = 16;
    /// Largest program the kernel accepts (`BPF_MAXINSNS`).
    pub const MAXINSNS: usize = 4096;
}

/// Linux's special packet offsets (`SKF_*` in `<linux/filter.h>`).
pub mod skf {
    /// Base of the ancillary-data offsets: `SKF_AD_OFF` = -0x1000.
    pub const AD_OFF: i32 = -0x1000;
    /// skb->protocol (network byte order value).
    pub const AD_PROTOCOL: i32 = 0;
    /// skb->pkt_type.
    pub const AD_PKTTYPE: i32 = 4;
    /// skb->dev->ifindex.
    pub const AD_IFINDEX: i32 = 8;
    /// Find a netlink attribute.
    pub const AD_NLATTR: i32 = 12;
    /// Find a nested netlink attribute.
    pub const AD_NLATTR_NEST: i32 = 16;
    /// skb->mark.
    pub const AD_MARK: i32 = 20;
    /// skb->queue_mapping.
    pub const AD_QUEUE: i32 = 24;
    /// skb->dev->type.
    pub const AD_HATYPE: i32 = 28;
    /// skb->hash.
    pub const AD_RXHASH: i32 = 32;
    /// The running CPU.
    pub const AD_CPU: i32 = 36;
    /// A ^= X.
    pub const AD_ALU_XOR_X: i32 = 40;
    /// VLAN TCI.
    pub const AD_VLAN_TAG: i32 = 44;
    /// Whether a VLAN tag is present.
    pub const AD_VLAN_TAG_PRESENT: i32 = 48;
    /// Payload offset (flow dissector).
    pub const AD_PAY_OFFSET: i32 = 52;
    /// A pseudo-random number.
    pub const AD_RANDOM: i32 = 56;
    /// VLAN protocol (TPID).
    pub const AD_VLAN_TPID: i32 = 60;
    /// One past the last ancillary offset.
    pub const AD_MAX: i32 = 64;
    /// Base of the network-header-relative area: `SKF_NET_OFF` = -0x100000.
    pub const NET_OFF: i32 = -0x100000;
    /// Base of the link-layer-relative area: `SKF_LL_OFF` = -0x200000.
    pub const LL_OFF: i32 = -0x200000;
}
