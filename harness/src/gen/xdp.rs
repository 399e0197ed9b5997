//! Seeded generator of XDP programs (and TC classifiers: the same pieces
//! over `__sk_buff`; and socket filters, with legacy packet loads and
//! `skb_load_bytes` for the packet) that probe the verifier's rules for
//! pointers: packet accesses behind bounds checks of every comparison form
//! (and accesses one byte past what a check proved), variable packet
//! offsets, map lookups with and without their NULL check, map value
//! accesses at and past the value's end, stack reads and writes, context
//! fields, `xdp_adjust_head`/`adjust_tail` invalidating packet pointers,
//! branches on packet bytes that give a program several paths, bounded
//! loops over the packet, and local (BPF-to-BPF) calls of functions given
//! the context, a stack pointer, the packet's pointers or numbers (placed
//! after the main function's exit). Each
//! snippet is as clang writes it or one edit away from it; half the
//! programs are built carefully (what correct code does), and about a
//! quarter of all are accepted: the test against the kernel compares the
//! verdict, the reason, and what accepted programs do.
//!
//! Registers: r6 holds the context, r7 `data` (advanced by variable-offset
//! snippets), r8 `data_end`, r9 a map value; r0-r5 are scratch.

use crate::Rng;
use cranebpf::ebpf::insn::{op, Insn};
use cranebpf::ebpf::maps::{MapDef, MapKind};

/// The program type a case is built for: its context's layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// XDP (`struct xdp_md`).
    Xdp,
    /// A TC classifier (`struct __sk_buff`).
    Tc,
    /// A socket filter (`struct __sk_buff` without packet pointers: the
    /// packet through the legacy loads and `skb_load_bytes`).
    Socket,
}

impl Hook {
    /// Offsets of `data`, `data_end` and `data_meta` in the context.
    fn pointers(self) -> (i16, i16, i16) {
        match self {
            Hook::Xdp => (0, 4, 8),
            // (A socket filter may not read them: the kernel's refusal.)
            Hook::Tc | Hook::Socket => (76, 80, 140),
        }
    }
}

/// `__sk_buff` fields a TC program reads as whole words and whose values
/// a kernel test run and this runtime both define: `len`, `pkt_type`,
/// `mark`, `queue_mapping`, `protocol`, `vlan_present`, `vlan_tci`,
/// `priority`, `ingress_ifindex`, `ifindex`, `tc_index`, `cb[0..5]`,
/// `tc_classid`.
const TC_FIELDS: [i16; 18] = [
    0, 4, 8, 12, 16, 20, 24, 32, 36, 40, 44, 48, 52, 56, 60, 64, 72, 68,
];

/// `__sk_buff` fields a socket filter reads as whole words (those of
/// [`TC_FIELDS`] it may read: not `tc_classid`).
const SOCKET_FIELDS: [i16; 17] = [
    0, 4, 8, 12, 16, 20, 24, 32, 36, 40, 44, 48, 52, 56, 60, 64, 68,
];

/// `__sk_buff` fields a socket filter may write: `cb[0..5]`.
const SOCKET_WRITABLE: [i16; 5] = [48, 52, 56, 60, 64];

/// `__sk_buff` fields a TC program may write (words): `mark`,
/// `queue_mapping`, `priority`, `tc_index`, `cb[0..5]`, `tc_classid`.
const TC_WRITABLE: [i16; 10] = [8, 12, 32, 44, 48, 52, 56, 60, 64, 72];

/// One generated program: its instructions (`lddw` map references name
/// an index into `maps`, `src` = 1) and the maps it uses.
#[derive(Clone, Debug)]
pub struct XdpCase {
    /// The instructions.
    pub insns: Vec<Insn>,
    /// The maps `lddw` instructions refer to by index.
    pub maps: Vec<MapDef>,
    /// The program type it is built for.
    pub hook: Hook,
    /// Whether the program's results depend only on its input: false when
    /// it may read stack bytes it never wrote or compute with addresses
    /// (both of which privileged programs may), so only the verdicts
    /// compare.
    pub results_defined: bool,
}

/// The maps every case may use: two arrays, a hash map, a ring buffer of
/// one page, and a program array whose slot [`TAIL_SLOT`] holds
/// [`tail_target`] (the other slot is empty).
pub fn maps() -> Vec<MapDef> {
    vec![
        MapDef::new("small", MapKind::Array, 4, 8, 4),
        MapDef::new("wide", MapKind::Array, 4, 32, 2),
        MapDef::new("table", MapKind::Hash, 4, 16, 8),
        MapDef::new("events", MapKind::RingBuf, 0, 0, 4096),
        MapDef::new("jumps", MapKind::ProgArray, 4, 4, 2),
    ]
}

/// The ring buffer's index in [`maps`].
const RING: i32 = 3;

/// The program array's index in [`maps`].
pub const PROGRAM_ARRAY: usize = 4;

/// The program array's slot holding [`tail_target`].
pub const TAIL_SLOT: u32 = 0;

/// The program a tail call through slot [`TAIL_SLOT`] reaches, of the
/// case's type: it ends the run with an action of its own, 3 (`XDP_TX`,
/// `TC_ACT_SHOT`; a socket filter keeps 3 bytes) after writing the
/// first packet byte where it may (so that which program ran shows in the
/// packet too).
pub fn tail_target(hook: Hook) -> Vec<Insn> {
    let mut insns = Vec::new();
    if hook != Hook::Socket {
        let (data, end, _) = hook.pointers();
        insns.extend([
            ldx(op::W, 2, 1, data),
            ldx(op::W, 3, 1, end),
            alu64_reg(op::MOV, 4, 2),
            alu64(op::ADD, 4, 1),
            Insn::new(op::JMP | op::JGT | op::X, 4, 3, 1, 0),
            st(op::B, 2, 0, 0x5a),
        ]);
    }
    insns.extend([alu64(op::MOV, 0, 3), Insn::new(op::EXIT_OP, 0, 0, 0, 0)]);
    insns
}

/// An instruction, or a jump to a label resolved when the program is
/// complete.
enum Item {
    Insn(Insn),
    /// A conditional or unconditional jump (`opc`, `dst`, `src`, `imm`) to
    /// a label.
    Jump(u8, u8, u8, i32, usize),
    /// A local (BPF-to-BPF) call of the function at a label.
    Call(usize),
    Label(usize),
}

/// The label of the main function's shared exit block.
const OUT: usize = 0;

/// Local calls in one program at most (each function is a few snippets).
const MAX_FUNCTIONS: u32 = 3;

struct Builder {
    rng: Rng,
    items: Vec<Item>,
    labels: usize,
    /// Only what clang writes for correct code (every access inside what
    /// was checked, aligned, lookups checked for NULL): programs the
    /// kernel mostly accepts, so that what they do is compared too.
    careful: bool,
    /// The value size of the map last looked up.
    value_size: i32,
    /// The program type.
    hook: Hook,
    /// False once the action may depend on where memory lies (a
    /// difference of two pointers, which privileged programs may
    /// compute, made the result).
    defined: bool,
    /// The exit block of the function being built ([`OUT`] in the main
    /// one): where failed checks go.
    exit: usize,
    /// Functions called from the program, placed after the main
    /// function's exit.
    functions: Vec<Item>,
    /// Functions made so far.
    made: u32,
    /// Bytes at the top of the stack the program zeroes in each frame.
    zeroed_bytes: i16,
    /// Whether XDP programs may call `xdp_adjust_meta`.
    adjust_meta: bool,
    /// Whether to write [`Builder::scalar_index`] snippets.
    scalar_indexes: bool,
}

fn ldx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(op::LDX | op::MEM | size, dst, src, off, 0)
}

fn stx(size: u8, dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(op::STX | op::MEM | size, dst, src, off, 0)
}

fn st(size: u8, dst: u8, off: i16, imm: i32) -> Insn {
    Insn::new(op::ST | op::MEM | size, dst, 0, off, imm)
}

fn alu64(code: u8, dst: u8, imm: i32) -> Insn {
    Insn::new(op::ALU64 | code | op::K, dst, 0, 0, imm)
}

fn alu64_reg(code: u8, dst: u8, src: u8) -> Insn {
    Insn::new(op::ALU64 | code | op::X, dst, src, 0, 0)
}

fn call(helper: i32) -> Insn {
    Insn::new(op::CALL_IMM, 0, 0, 0, helper)
}

fn bytes(size: u8) -> i16 {
    match size {
        op::B => 1,
        op::H => 2,
        op::W => 4,
        _ => 8,
    }
}

const SIZES: [u8; 4] = [op::B, op::H, op::W, op::DW];

impl Builder {
    fn push(&mut self, insn: Insn) {
        self.items.push(Item::Insn(insn));
    }

    fn label(&mut self) -> usize {
        self.labels += 1;
        self.labels
    }

    fn jump(&mut self, opc: u8, dst: u8, src: u8, imm: i32, to: usize) {
        self.items.push(Item::Jump(opc, dst, src, imm, to));
    }

    fn size(&mut self) -> u8 {
        *self.rng.pick(&SIZES)
    }

    /// A length a bounds check proves: small header sizes, now and then
    /// more than any test packet holds.
    fn check_len(&mut self) -> i32 {
        match self.rng.below(8) {
            0 => 0,
            1 => *self.rng.pick(&[14, 18, 34, 54, 60, 64]),
            2 => 100 + self.rng.below(0x10000) as i32,
            _ => 1 + self.rng.below(48) as i32,
        }
    }

    /// An offset for an access of `size` bytes after a check of `len`:
    /// mostly inside, at the edge, or one byte past it.
    fn access_off(&mut self, len: i32, size: u8) -> i16 {
        let width = i32::from(bytes(size));
        if self.careful {
            return (self.rng.below((len - width + 1).max(1) as u64) as i32).min(200) as i16;
        }
        let off = match self.rng.below(6) {
            0 => len - width,
            1 => len - width + 1,
            2 => -(self.rng.below(3) as i32),
            _ => self.rng.below(len.max(1) as u64) as i32,
        };
        off.clamp(-8, 200) as i16
    }

    /// `data + len` checked against `data_end` in one of the forms clang
    /// writes, exits when short; returns `len`.
    fn packet_check(&mut self) -> i32 {
        let len = self.check_len();
        self.push(alu64_reg(op::MOV, 2, 7));
        self.push(alu64(op::ADD, 2, len));
        let class = if self.rng.chance(1, 16) {
            op::JMP32
        } else {
            op::JMP
        };
        match self.rng.below(6) {
            0 => self.jump(class | op::JGT | op::X, 2, 8, 0, self.exit),
            1 => self.jump(class | op::JGE | op::X, 2, 8, 0, self.exit),
            2 => self.jump(class | op::JLT | op::X, 8, 2, 0, self.exit),
            3 => self.jump(class | op::JLE | op::X, 8, 2, 0, self.exit),
            4 => {
                // if data + len <= data_end goto ok; exit
                let ok = self.label();
                self.jump(class | op::JLE | op::X, 2, 8, 0, ok);
                self.jump(op::JMP | op::JA, 0, 0, 0, self.exit);
                self.items.push(Item::Label(ok));
            }
            _ => {
                let ok = self.label();
                self.jump(class | op::JGE | op::X, 8, 2, 0, ok);
                self.jump(op::JMP | op::JA, 0, 0, 0, self.exit);
                self.items.push(Item::Label(ok));
            }
        }
        len
    }

    /// A load from or store to the packet through `data` or through the
    /// checked end pointer r2.
    fn packet_access(&mut self, len: i32) {
        let size = self.size();
        let (base, off) = if self.rng.chance(1, 4) {
            (2, self.access_off(0, size) - len.min(200) as i16)
        } else {
            (7, self.access_off(len, size))
        };
        match self.rng.below(4) {
            0 => {
                let insn = st(size, base, off, self.rng.next_u32() as i32);
                self.push(insn);
            }
            1 => {
                let insn = alu64(op::MOV, 3, self.rng.next_u32() as i32);
                self.push(insn);
                self.push(stx(size, base, 3, off));
            }
            _ => self.push(ldx(size, 3, base, off)),
        }
    }

    /// A byte or word of the packet made an offset, bounded (or not) as
    /// parsers bound header lengths, added to `data`, then checked again.
    fn variable_offset(&mut self) {
        let len = self.packet_check();
        let size = if self.rng.chance(3, 4) { op::B } else { op::W };
        let off = self.access_off(len, size);
        self.push(ldx(size, 3, 7, off));
        match self.rng.below(6) {
            0 => {
                let insn = alu64(op::AND, 3, *self.rng.pick(&[0xf, 0x3c, 0xff, 0x7ff]));
                self.push(insn);
            }
            1 => {
                self.push(alu64(op::AND, 3, 0xf));
                self.push(alu64(op::LSH, 3, 2));
            }
            2 => {
                let imm = self.rng.below(80) as i32;
                self.jump(op::JMP | op::JGT | op::K, 3, 0, imm, self.exit);
            }
            3 => {
                let insn = alu64(op::RSH, 3, self.rng.below(8) as i32);
                self.push(insn);
            }
            4 => self.push(Insn::new(op::ALU | op::MOV | op::X, 3, 3, 0, 0)),
            _ => {}
        }
        self.push(alu64_reg(op::ADD, 7, 3));
        if self.rng.chance(3, 4) {
            let len = self.packet_check();
            self.packet_access(len);
        } else {
            self.packet_access(0);
        }
    }

    /// A lookup in one of the maps, with the key on the stack; the NULL
    /// check as clang writes it, inverted, or missing; r9 the value.
    fn map_lookup(&mut self) {
        let map = self.rng.below(3) as i32;
        let key = match self.rng.below(4) {
            0 => self.rng.below(10) as i32,
            _ => self.rng.below(2) as i32,
        };
        // The key at the slot's top or bottom, stored as an immediate or
        // from a register: the kernel knows it as a constant (STACK_ZERO
        // bytes, or a spilled number) in some of these ways only.
        let at = *self.rng.pick(&[-4i16, -4, -8, -16, -12]);
        if self.rng.chance(1, 2) {
            self.push(st(op::W, 10, at, key));
        } else {
            self.push(alu64(op::MOV, 1, key));
            self.push(stx(op::W, 10, 1, at));
        }
        self.push(alu64_reg(op::MOV, 2, 10));
        self.push(alu64(op::ADD, 2, i32::from(at)));
        self.push(Insn::new(op::LDDW, 1, 1, 0, map));
        self.push(Insn::new(0, 0, 0, 0, 0));
        self.push(call(1));
        self.value_size = [8, 32, 16][map as usize];
        let check = if self.careful { 2 } else { self.rng.below(8) };
        match check {
            0 => {}
            1 => {
                let ok = self.label();
                self.jump(op::JMP | op::JNE | op::K, 0, 0, 0, ok);
                self.jump(op::JMP | op::JA, 0, 0, 0, self.exit);
                self.items.push(Item::Label(ok));
            }
            _ => self.jump(op::JMP | op::JEQ | op::K, 0, 0, 0, self.exit),
        }
        self.push(alu64_reg(op::MOV, 9, 0));
        self.push(alu64(op::MOV, 0, 2));
    }

    /// A ring buffer record: reserved (`bpf_ringbuf_reserve`), checked
    /// for NULL, written inside its size, then submitted or discarded; or
    /// copied from the stack (`bpf_ringbuf_output`). Careless ones skip
    /// the NULL check or the release, write past the record, release it
    /// twice, write after the release, release a moved pointer, or ask
    /// for flags or sizes the helper refuses at run time (a NULL record).
    fn ring_buffer(&mut self) {
        let map = |b: &mut Builder, r: u8| {
            b.push(Insn::new(op::LDDW, r, 1, 0, RING));
            b.push(Insn::new(0, 0, 0, 0, 0));
        };
        let fault = if self.careful { 0 } else { self.rng.below(10) };
        if self.rng.chance(1, 4) {
            // bpf_ringbuf_output(map, stack bytes, size, flags).
            let size = *self.rng.pick(&[8, 16, 24]);
            map(self, 1);
            self.push(alu64_reg(op::MOV, 2, 10));
            self.push(alu64(op::ADD, 2, -size));
            self.push(alu64(op::MOV, 3, if fault == 1 { size + 8 } else { size }));
            self.push(alu64(op::MOV, 4, if fault == 2 { 4 } else { 0 }));
            self.push(call(130));
            self.push(alu64(op::MOV, 0, 2));
            return;
        }
        let size = *self.rng.pick(&[8, 16, 12]);
        map(self, 1);
        self.push(alu64(op::MOV, 2, if fault == 8 { 8192 } else { size }));
        self.push(alu64(op::MOV, 3, if fault == 9 { 1 } else { 0 }));
        self.push(call(131));
        let done = self.label();
        if fault != 1 {
            self.jump(op::JMP | op::JEQ | op::K, 0, 0, 0, done);
        }
        // The record's bytes: a constant at each 4 bytes.
        for at in (0..size).step_by(4) {
            let imm = self.rng.below(1000) as i32;
            self.push(st(op::W, 0, at as i16, imm));
        }
        if fault == 2 {
            self.push(st(op::W, 0, size as i16, 7));
        }
        let release = if self.rng.chance(1, 2) { 132 } else { 133 };
        match fault {
            3 => {}
            4 => {
                // Released twice.
                self.push(alu64_reg(op::MOV, 9, 0));
                self.push(alu64_reg(op::MOV, 1, 0));
                self.push(alu64(op::MOV, 2, 0));
                self.push(call(release));
                self.push(alu64_reg(op::MOV, 1, 9));
                self.push(alu64(op::MOV, 2, 0));
                self.push(call(release));
            }
            5 => {
                // Written after its release.
                self.push(alu64_reg(op::MOV, 9, 0));
                self.push(alu64_reg(op::MOV, 1, 0));
                self.push(alu64(op::MOV, 2, 0));
                self.push(call(release));
                self.push(st(op::W, 9, 0, 1));
            }
            6 => {
                // A moved pointer released.
                self.push(alu64_reg(op::MOV, 1, 0));
                self.push(alu64(op::ADD, 1, 4));
                self.push(alu64(op::MOV, 2, 0));
                self.push(call(release));
            }
            _ => {
                self.push(alu64_reg(op::MOV, 1, 0));
                self.push(alu64(op::MOV, 2, 0));
                self.push(call(release));
            }
        }
        self.items.push(Item::Label(done));
        self.push(alu64(op::MOV, 0, 2));
    }

    /// A tail call through the program array: to the slot holding
    /// [`tail_target`] (the run ends there), or to the empty one or one
    /// past the end (the program goes on, r0 set again). Careless ones pass
    /// another map, or not the context, or leave r0 unset after.
    fn tail_call(&mut self) {
        let fault = if self.careful { 0 } else { self.rng.below(8) };
        let slot = match self.rng.below(4) {
            0 => 1,
            1 if !self.careful => 7,
            _ => TAIL_SLOT as i32,
        };
        self.push(alu64_reg(op::MOV, 1, if fault == 1 { 7 } else { 6 }));
        let map = if fault == 2 { 0 } else { PROGRAM_ARRAY as i32 };
        self.push(Insn::new(op::LDDW, 2, 1, 0, map));
        self.push(Insn::new(0, 0, 0, 0, 0));
        self.push(alu64(op::MOV, 3, slot));
        self.push(call(12));
        if fault != 3 {
            self.push(alu64(op::MOV, 0, 2));
        }
    }

    /// A read, write or atomic add at r9 (a map value after a lookup; a
    /// scalar or the context otherwise), now and then at a variable index.
    fn value_access(&mut self) {
        let size = self.size();
        let width = i32::from(bytes(size));
        let value = if self.careful {
            self.value_size
        } else {
            *self.rng.pick(&[8, 16, 32])
        };
        let how = if self.careful { 3 } else { self.rng.below(5) };
        let off = match how {
            0 => value - width,
            1 => value - width + 1,
            2 => -1,
            _ => self.rng.below(value as u64) as i32 & !(width - 1),
        } as i16;
        let mut base = 9;
        if !self.careful && self.hook != Hook::Socket && self.rng.chance(1, 4) {
            let len = self.packet_check();
            let insn = ldx(op::B, 3, 7, self.access_off(len, op::B));
            self.push(insn);
            let insn = alu64(op::AND, 3, *self.rng.pick(&[0x7, 0xf, 0x1f, 0xff]));
            self.push(insn);
            self.push(alu64_reg(op::MOV, 4, 9));
            self.push(alu64_reg(op::ADD, 4, 3));
            base = 4;
        }
        match self.rng.below(5) {
            0 => self.push(st(size, base, off, 7)),
            1 if matches!(size, op::W | op::DW) => {
                self.push(alu64(op::MOV, 3, 1));
                self.push(Insn::new(op::STX | op::ATOMIC | size, base, 3, off, 0));
            }
            _ => self.push(ldx(size, 3, base, off)),
        }
    }

    /// A stack write, a read (perhaps of bytes never written), or a read at
    /// an offset taken from the packet.
    fn stack_access(&mut self) {
        let size = self.size();
        let off = if self.careful {
            -8 * (1 + self.rng.below(9) as i16)
        } else {
            -(self.rng.below(72) as i16) - bytes(size) + self.rng.below(2) as i16
        };
        let how = match self.rng.below(5) {
            _ if self.careful => *self.rng.pick(&[0, 1, 3]),
            2 if self.hook == Hook::Socket => 3,
            how => how,
        };
        match how {
            0 => {
                let insn = st(size, 10, off, self.rng.next_u32() as i32);
                self.push(insn);
            }
            1 => {
                let insn = alu64(op::MOV, 3, self.rng.next_u32() as i32);
                self.push(insn);
                self.push(stx(size, 10, 3, off));
            }
            2 => {
                let len = self.packet_check();
                let insn = ldx(op::B, 3, 7, self.access_off(len, op::B));
                self.push(insn);
                let insn = alu64(op::AND, 3, *self.rng.pick(&[0x7, 0x38, 0xff]));
                self.push(insn);
                self.push(alu64_reg(op::MOV, 4, 10));
                let insn = alu64(op::ADD, 4, -(self.rng.below(300) as i32) - 8);
                self.push(insn);
                self.push(alu64_reg(op::ADD, 4, 3));
                if self.rng.chance(1, 2) {
                    self.push(st(size, 4, 0, 1));
                } else {
                    // (Down to 308 bytes below r10: past what a called
                    // function zeroes.)
                    self.defined &= self.zeroed_bytes >= 308;
                    self.push(ldx(size, 3, 4, 0));
                }
            }
            _ => self.push(ldx(size, 3, 10, off)),
        }
    }

    /// A read (or write) of an `xdp_md` field.
    fn context_access(&mut self) {
        if self.hook != Hook::Xdp {
            return self.sk_buff_access();
        }
        let (size, off) = match self.rng.below(6) {
            _ if self.careful => (op::W, 4 * self.rng.below(5) as i16),
            0 => (self.size(), self.rng.below(32) as i16),
            _ => (op::W, 4 * self.rng.below(7) as i16),
        };
        if !self.careful && self.rng.chance(1, 8) {
            self.push(st(size, 6, off, 0));
        } else {
            self.push(ldx(size, 3, 6, off));
        }
    }

    /// A read or write of an `__sk_buff` field: the ones a TC program
    /// uses, or (carelessly) any offset and size, writes included.
    fn sk_buff_access(&mut self) {
        let (readable, writable): (&[i16], &[i16]) = match self.hook {
            Hook::Socket => (&SOCKET_FIELDS, &SOCKET_WRITABLE),
            _ => (&TC_FIELDS, &TC_WRITABLE),
        };
        if self.careful || self.rng.chance(1, 2) {
            if self.rng.chance(1, 3) {
                let off = *self.rng.pick(writable);
                let value = self.rng.below(1000) as i32;
                self.push(alu64(op::MOV, 3, value));
                self.push(stx(op::W, 6, 3, off));
                self.push(ldx(op::W, 3, 6, off));
            } else {
                let off = *self.rng.pick(readable);
                self.push(ldx(op::W, 3, 6, off));
            }
            return;
        }
        let size = self.size();
        let mut off = self.rng.below(200) as i16;
        // (`sk` read whole is left out: the kernel gives a socket this
        // runtime does not model, which it refuses by design.)
        if off == 168 && size == op::DW {
            off = 160;
        }
        if self.rng.chance(1, 3) {
            self.push(alu64(op::MOV, 3, 1));
            self.push(stx(size, 6, 3, off));
        } else {
            self.push(ldx(size, 3, 6, off));
        }
    }

    /// `xdp_adjust_head` or `adjust_tail`, then (usually) the packet
    /// pointers loaded again; the kernel forgets the old ones.
    fn adjust(&mut self) {
        if self.hook == Hook::Tc && self.careful {
            return;
        }
        let (helper, delta) = match self.rng.below(3) {
            0 => (44, *self.rng.pick(&[-14, -4, 0, 4, 14, 200])),
            1 => (65, *self.rng.pick(&[-20, -4, 0, 4, 64])),
            _ => (54, *self.rng.pick(&[-8, -4, -3, 0, 4])),
        };
        let helper = match helper {
            54 if !self.adjust_meta => 44,
            other => other,
        };
        self.push(alu64_reg(op::MOV, 1, 6));
        self.push(alu64(op::MOV, 2, delta));
        self.push(call(helper));
        if self.rng.chance(1, 2) {
            self.jump(op::JMP | op::JNE | op::K, 0, 0, 0, self.exit);
        }
        if self.careful || self.rng.chance(7, 8) {
            self.load_packet_pointers();
        }
        self.push(alu64(op::MOV, 0, 2));
    }

    /// `data` into r7 and `data_end` into r8 from the context at r6.
    fn load_packet_pointers(&mut self) {
        let (data, end, _) = self.hook.pointers();
        self.push(ldx(op::W, 7, 6, data));
        self.push(ldx(op::W, 8, 6, end));
    }

    /// A helper on the packet or on stack bytes, its result made the
    /// action: `csum_diff` over two stack buffers; XDP's `xdp_load_bytes`,
    /// `xdp_store_bytes` and `xdp_get_buff_len`; TC's `skb_store_bytes`,
    /// `l3_csum_replace`, `l4_csum_replace` and `skb_pull_data` (after
    /// which the packet pointers are loaded again, carelessly not); a
    /// `redirect` ending the run. Offsets, lengths, sizes and flags are
    /// mostly ones the helper takes, carelessly ones it refuses at run time
    /// or the kernel refuses at load.
    fn packet_helper(&mut self) {
        let careful = self.careful;
        // Stack buffers at -16 and -24, given bytes first.
        for at in [-16, -24] {
            let imm = self.rng.below(1 << 20) as i32;
            self.push(st(op::DW, 10, at, imm));
        }
        let offset = |b: &mut Builder| -> i32 {
            match b.rng.below(8) {
                _ if careful => b.rng.below(40) as i32,
                0 => 1500,
                1 => -1,
                _ => b.rng.below(60) as i32,
            }
        };
        let length = |b: &mut Builder| -> i32 {
            match b.rng.below(8) {
                _ if careful => 1 + b.rng.below(8) as i32,
                0 => 0,
                1 => 16,
                _ => 1 + b.rng.below(8) as i32,
            }
        };
        // (ctx, offset, the buffer at -16, length): the byte helpers'
        // arguments.
        let buffer_arguments = |b: &mut Builder| {
            b.push(alu64_reg(op::MOV, 1, 6));
            let off = offset(b);
            b.push(alu64(op::MOV, 2, off));
            b.push(alu64_reg(op::MOV, 3, 10));
            b.push(alu64(op::ADD, 3, -16));
            let len = length(b);
            b.push(alu64(op::MOV, 4, len));
        };
        let choice = match self.hook {
            Hook::Xdp => *self.rng.pick(&[0, 1, 2, 3, 8]),
            Hook::Tc => *self.rng.pick(&[0, 4, 5, 6, 7, 8]),
            Hook::Socket => 0,
        };
        let mut reload = false;
        match choice {
            0 => {
                // csum_diff(from, from_size, to, to_size, seed).
                let sizes: &[i32] = if careful {
                    &[0, 4, 8]
                } else {
                    &[0, 4, 8, 6, 12, 600]
                };
                let from = *self.rng.pick(sizes);
                let to = *self.rng.pick(sizes);
                self.push(alu64_reg(op::MOV, 1, 10));
                self.push(alu64(op::ADD, 1, -16));
                self.push(alu64(op::MOV, 2, from));
                self.push(alu64_reg(op::MOV, 3, 10));
                self.push(alu64(op::ADD, 3, -24));
                self.push(alu64(op::MOV, 4, to));
                let seed = self.rng.below(1 << 16) as i32;
                self.push(alu64(op::MOV, 5, seed));
                self.push(call(28));
            }
            1 | 2 => {
                // xdp_load_bytes / xdp_store_bytes(xdp, off, buf, len).
                buffer_arguments(self);
                self.push(call(if choice == 1 { 189 } else { 190 }));
                if choice == 1 {
                    // The bytes read, made the action with the result.
                    self.push(ldx(op::DW, 3, 10, -16));
                    self.push(alu64_reg(op::ADD, 0, 3));
                }
            }
            3 => {
                // xdp_get_buff_len(xdp).
                self.push(alu64_reg(op::MOV, 1, 6));
                self.push(call(188));
            }
            4 => {
                // skb_store_bytes(skb, off, from, len, flags).
                buffer_arguments(self);
                let flags = if careful {
                    *self.rng.pick(&[0, 1, 2])
                } else {
                    *self.rng.pick(&[0, 1, 2, 8])
                };
                self.push(alu64(op::MOV, 5, flags));
                self.push(call(9));
                reload = true;
            }
            5 | 6 => {
                // l3_csum_replace / l4_csum_replace(skb, off, from, to,
                // flags: the size, and for L4 the pseudo-header flag).
                self.push(alu64_reg(op::MOV, 1, 6));
                let any = offset(self);
                let off = *self.rng.pick(&[24, 40, 50, any]);
                self.push(alu64(op::MOV, 2, off));
                let from = self.rng.below(1 << 16) as i32;
                let to = self.rng.below(1 << 16) as i32;
                self.push(alu64(op::MOV, 3, from));
                self.push(alu64(op::MOV, 4, to));
                let mut flags = if careful {
                    *self.rng.pick(&[2, 4])
                } else {
                    *self.rng.pick(&[0, 2, 3, 4])
                };
                if choice == 6 && self.rng.chance(1, 2) {
                    flags |= 0x10;
                }
                self.push(alu64(op::MOV, 5, flags));
                self.push(call(if choice == 5 { 10 } else { 11 }));
                reload = true;
            }
            7 => {
                // skb_pull_data(skb, len).
                self.push(alu64_reg(op::MOV, 1, 6));
                let len = *self.rng.pick(&[0, 14, 34, 60, 2000]);
                self.push(alu64(op::MOV, 2, len));
                self.push(call(39));
                reload = true;
            }
            _ => {
                // redirect(ifindex, flags), its result the action.
                let ifindex = 1 + self.rng.below(3) as i32;
                self.push(alu64(op::MOV, 1, ifindex));
                let flags = if careful || self.rng.chance(3, 4) {
                    0
                } else {
                    1
                };
                self.push(alu64(op::MOV, 2, flags));
                self.push(call(23));
                self.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
                return;
            }
        }
        if reload && (careful || self.rng.chance(7, 8)) {
            self.load_packet_pointers();
        }
        self.push(alu64(op::AND, 0, 3));
    }

    /// A lookup of `key` (stored at -4) in map `map`, its value in r9, the
    /// function's exit taken when it is NULL.
    fn checked_lookup(&mut self, map: i32, key: i32) {
        self.push(st(op::W, 10, -4, key));
        self.push(alu64_reg(op::MOV, 2, 10));
        self.push(alu64(op::ADD, 2, -4));
        self.push(Insn::new(op::LDDW, 1, 1, 0, map));
        self.push(Insn::new(0, 0, 0, 0, 0));
        self.push(call(1));
        self.jump(op::JMP | op::JEQ | op::K, 0, 0, 0, self.exit);
        self.push(alu64_reg(op::MOV, 9, 0));
    }

    /// A number computed from packet bytes, then used as an index into a
    /// 32-byte map value: the kernel accepts the read only where its
    /// bounds of the number keep it inside the value, which this verifier
    /// must follow as closely. Half the time a byte or half-word through
    /// one to three 64-bit operations (masks, shifts, sums, products, or,
    /// xor) and perhaps a 64-bit comparison; the other half anything the
    /// kernel bounds in both widths: words, sign extensions (of the low
    /// half too), numbers past 32 bits, 32-bit operations (`w`
    /// registers), differences, negations, arithmetic shifts, products by
    /// negative constants, quotients and remainders, and 32-bit and signed
    /// comparisons.
    fn scalar_index(&mut self) {
        if self.hook == Hook::Socket {
            return;
        }
        // The value first (r9), checked for NULL.
        let key = self.rng.below(2) as i32;
        self.checked_lookup(1, key);
        self.push(alu64(op::MOV, 0, 2));
        self.value_size = 32;
        // The number, from packet bytes at a checked offset.
        let len = self.packet_check();
        if self.rng.chance(1, 2) {
            return self.wide_scalar_index(len);
        }
        let size = *self.rng.pick(&[op::B, op::B, op::H]);
        let at = self.access_off(len, size);
        self.push(ldx(size, 3, 7, at));
        for _ in 0..1 + self.rng.below(3) {
            let (code, imm) = match self.rng.below(9) {
                0 | 1 => (op::AND, *self.rng.pick(&[0x1f, 0xf, 0x3f, 0x7, 0xff, 0x1e])),
                2 => (op::RSH, 1 + self.rng.below(6) as i32),
                3 => (op::LSH, 1 + self.rng.below(3) as i32),
                4 => (op::ADD, *self.rng.pick(&[1, 4, 16])),
                5 => (op::MUL, *self.rng.pick(&[2, 4, 8, 3, 5, 6, 19])),
                6 => (op::OR, *self.rng.pick(&[1, 3, 16])),
                7 => {
                    // The constant first (the kernel's tnum_mul is not
                    // symmetric in what it knows).
                    let c = *self.rng.pick(&[3, 5, 6, 19, 35]);
                    self.push(Insn::new(op::ALU64 | op::MOV | op::K, 5, 0, 0, c));
                    self.push(alu64_reg(op::MUL, 5, 3));
                    self.push(alu64_reg(op::MOV, 3, 5));
                    continue;
                }
                _ => (op::XOR, *self.rng.pick(&[1, 7, 0x10])),
            };
            self.push(Insn::new(op::ALU64 | code | op::K, 3, 0, 0, imm));
        }
        if self.rng.chance(2, 3) {
            // A bound: jump past the read when out of it.
            let skip = self.label();
            let class = op::JMP;
            let (code, k) = match self.rng.below(6) {
                0 => (op::JGT, 31),
                1 => (op::JGE, 32),
                2 => (op::JSGT, 31),
                3 => (op::JGT, *self.rng.pick(&[28, 40, 7])),
                4 => (op::JSLT, 0),
                _ => (op::JGT, 24),
            };
            self.jump(class | code | op::K, 3, 0, k, skip);
            if code == op::JSLT {
                // (x < 0 skipped; the upper bound from a mask or not.)
                self.jump(class | op::JGT | op::K, 3, 0, 31, skip);
            }
            self.push(alu64_reg(op::MOV, 4, 9));
            self.push(alu64_reg(op::ADD, 4, 3));
            self.push(ldx(op::B, 0, 4, 0));
            self.items.push(Item::Label(skip));
        } else {
            self.push(alu64_reg(op::MOV, 4, 9));
            self.push(alu64_reg(op::ADD, 4, 3));
            self.push(ldx(op::B, 0, 4, 0));
        }
        self.push(alu64(op::AND, 0, 3));
    }

    /// `scalar_index`'s other half: a number in r3 bounded in both widths
    /// by the kernel's rules (see there), read past a check of `len`
    /// packet bytes.
    fn wide_scalar_index(&mut self, len: i32) {
        let size = *self.rng.pick(&[op::B, op::H, op::W]);
        let at = self.access_off(len, size);
        self.push(ldx(size, 3, 7, at));
        match self.rng.below(6) {
            // Sign-extended (clang's `lsh; arsh`).
            0 => {
                let shift = 64 - 8 * i32::from(bytes(size));
                self.push(alu64(op::LSH, 3, shift));
                self.push(alu64(op::ARSH, 3, shift));
            }
            // Past 32 bits, the low half a byte.
            1 => {
                let at = self.access_off(len, op::B);
                self.push(ldx(op::B, 4, 7, at));
                self.push(alu64(op::LSH, 3, 32));
                self.push(alu64_reg(op::OR, 3, 4));
            }
            // Sign-extended in the low half (`w3 = (s8)w3`, cpu v4).
            5 => {
                let off = *self.rng.pick(&[8, 16]);
                self.push(Insn::new(op::ALU | op::MOV | op::X, 3, 3, off, 0));
            }
            _ => {}
        }
        for _ in 0..1 + self.rng.below(3) {
            let class = if self.rng.chance(1, 3) {
                op::ALU
            } else {
                op::ALU64
            };
            let (code, imm) = match self.rng.below(12) {
                11 => (
                    *self.rng.pick(&[op::DIV, op::MOD]),
                    *self.rng.pick(&[2, 8, 3]),
                ),
                0 | 1 => (
                    op::AND,
                    *self.rng.pick(&[0x1f, 0xf, 0xff, 0x7fff_ffff, -16]),
                ),
                2 => (op::RSH, *self.rng.pick(&[1, 3, 24, 31, 32])),
                3 => (op::LSH, *self.rng.pick(&[1, 2, 24, 32])),
                4 => (op::ADD, *self.rng.pick(&[1, 16, -8, 0x7fff_fff0])),
                5 => (op::SUB, *self.rng.pick(&[1, 4, 32, -3])),
                6 => (op::MUL, *self.rng.pick(&[2, 3, -1, -4, 6])),
                7 => (op::ARSH, *self.rng.pick(&[1, 4, 24, 31])),
                8 => (op::NEG, 0),
                9 => (op::OR, *self.rng.pick(&[1, 3, 16])),
                _ => (op::XOR, *self.rng.pick(&[1, 7, -1])),
            };
            // (A 32-bit shift by 32 or more is refused: 31 instead.)
            let imm = if class == op::ALU && matches!(code, op::RSH | op::ARSH | op::LSH) {
                imm.min(31)
            } else {
                imm
            };
            self.push(Insn::new(class | code | op::K, 3, 0, 0, imm));
        }
        let skip = self.label();
        for _ in 0..self.rng.below(3) {
            // Bounds: jump past the read when out of them.
            let class = *self.rng.pick(&[op::JMP, op::JMP32]);
            let (code, k) = match self.rng.below(8) {
                0 => (op::JGT, 31),
                1 => (op::JGE, 32),
                2 => (op::JSGT, 31),
                3 => (op::JSLT, 0),
                4 => (op::JSGT, *self.rng.pick(&[7, 24, -1])),
                5 => (op::JLT, *self.rng.pick(&[4, -8])),
                6 => (op::JSLT, *self.rng.pick(&[-4, 8])),
                _ => (op::JGT, *self.rng.pick(&[24, 0x7fff_ffff, -32])),
            };
            self.jump(class | code | op::K, 3, 0, k, skip);
        }
        self.push(alu64_reg(op::MOV, 4, 9));
        self.push(alu64_reg(op::ADD, 4, 3));
        self.push(ldx(op::B, 0, 4, 0));
        self.items.push(Item::Label(skip));
        self.push(alu64(op::AND, 0, 3));
    }

    /// An atomic operation (add, and, or, xor, each with and without
    /// fetch; xchg; cmpxchg), 32 or 64 bits, on a stack slot or on a map
    /// value after a checked lookup; carelessly on the packet, the
    /// context or a misaligned slot. What it fetched (or r0 for cmpxchg)
    /// and what it left are made the action.
    fn atomic_op(&mut self) {
        let careful = self.careful;
        let size = *self.rng.pick(&[op::W, op::DW]);
        let imm = *self.rng.pick(&[
            i32::from(op::ADD),
            i32::from(op::AND),
            i32::from(op::OR),
            i32::from(op::XOR),
            i32::from(op::ADD) | op::FETCH,
            i32::from(op::AND) | op::FETCH,
            i32::from(op::OR) | op::FETCH,
            i32::from(op::XOR) | op::FETCH,
            op::XCHG,
            op::CMPXCHG,
        ]);
        let (base, off) = match self.rng.below(8) {
            _ if careful && self.rng.chance(1, 2) => (10, -16),
            0 | 1 if careful => (9, 0),
            0 | 1 => (9, 0),
            2 if !careful && self.hook != Hook::Socket => (7, 0),
            3 if !careful => (6, 0),
            4 if !careful => (10, -12),
            _ => (10, -16),
        };
        if base == 9 {
            // A value of `small` (8 bytes), checked for NULL.
            let key = self.rng.below(4) as i32;
            self.checked_lookup(0, key);
        } else if base == 10 {
            let v = self.rng.below(1 << 20) as i32;
            self.push(st(op::DW, 10, -16, v));
        }
        let operand = self.rng.below(1 << 16) as i32;
        self.push(alu64(op::MOV, 3, operand));
        if imm == op::CMPXCHG {
            // The value compared: sometimes what is there.
            let expect = self.rng.below(4) as i32;
            self.push(alu64(op::MOV, 0, expect));
        }
        self.push(Insn::new(op::STX | op::ATOMIC | size, base, 3, off, imm));
        let fetched = if imm == op::CMPXCHG { 0 } else { 3 };
        self.push(ldx(size, 4, base, off));
        self.push(alu64_reg(op::MOV, 0, fetched));
        self.push(alu64_reg(op::ADD, 0, 4));
        self.push(alu64(op::AND, 0, 3));
    }

    /// A map update or delete: the key at -4 (a small number; carelessly
    /// past an array's end), the value from the 32 bytes at -40, the
    /// flags `BPF_ANY`,
    /// `BPF_NOEXIST` or `BPF_EXIST` (carelessly `BPF_F_LOCK` or another);
    /// the hash map fills up after eight keys. The result made the action;
    /// the maps are compared after every run.
    fn map_update(&mut self) {
        let careful = self.careful;
        let map = self.rng.below(3) as i32;
        let key = match self.rng.below(6) {
            _ if careful => self.rng.below(if map == 2 { 12 } else { 2 }) as i32,
            0 => 7,
            _ => self.rng.below(12) as i32,
        };
        self.push(st(op::W, 10, -4, key));
        for at in [-40, -32, -24, -16] {
            let imm = self.rng.below(1 << 20) as i32;
            self.push(st(op::DW, 10, at, imm));
        }
        self.push(Insn::new(op::LDDW, 1, 1, 0, map));
        self.push(Insn::new(0, 0, 0, 0, 0));
        self.push(alu64_reg(op::MOV, 2, 10));
        self.push(alu64(op::ADD, 2, -4));
        if self.rng.chance(1, 4) {
            // map_delete_elem(map, key): an array's refuse it.
            self.push(call(3));
        } else {
            self.push(alu64_reg(op::MOV, 3, 10));
            self.push(alu64(op::ADD, 3, -40));
            let flags = match self.rng.below(8) {
                _ if careful => self.rng.below(3) as i32,
                0 => 4,
                1 => 8,
                _ => self.rng.below(3) as i32,
            };
            self.push(alu64(op::MOV, 4, flags));
            self.push(call(2));
        }
        self.push(alu64(op::AND, 0, 3));
    }

    /// A helper that reshapes a TC program's socket buffer or reads its
    /// metadata: `skb_change_tail`, `skb_change_head`, `skb_adjust_room`,
    /// `skb_vlan_push` and `_pop`, `skb_change_proto`, `skb_change_type`,
    /// `set_hash`, `csum_level`, `check_mtu` (XDP too) and
    /// `skb_load_bytes_relative`, with arguments mostly taken, carelessly
    /// refused at run time; then the packet pointers loaded again
    /// (carelessly not) and the result made the action.
    fn skb_helper(&mut self) {
        let careful = self.careful;
        let pick = |b: &mut Builder, good: &[i32], bad: &[i32]| -> i32 {
            if careful || b.rng.chance(3, 4) {
                *b.rng.pick(good)
            } else {
                *b.rng.pick(bad)
            }
        };
        let choice = match self.hook {
            Hook::Tc => self.rng.below(10),
            _ => 8,
        };
        self.push(alu64_reg(op::MOV, 1, 6));
        let helper = match choice {
            0 => {
                // skb_change_tail(skb, len, flags).
                let len = pick(self, &[14, 40, 60, 100], &[0, 70_000]);
                self.push(alu64(op::MOV, 2, len));
                let flags = pick(self, &[0], &[1]);
                self.push(alu64(op::MOV, 3, flags));
                38
            }
            1 => {
                // skb_change_head(skb, head_room, flags).
                let room = pick(self, &[0, 4, 14], &[2000]);
                self.push(alu64(op::MOV, 2, room));
                let flags = pick(self, &[0], &[1]);
                self.push(alu64(op::MOV, 3, flags));
                43
            }
            2 => {
                // skb_adjust_room(skb, len_diff, mode, flags).
                let diff = pick(self, &[-8, -4, 4, 8, 20], &[0, -60, 3]);
                self.push(alu64(op::MOV, 2, diff));
                let mode = pick(self, &[0, 1], &[2]);
                self.push(alu64(op::MOV, 3, mode));
                self.push(alu64(op::MOV, 4, 0));
                50
            }
            3 => {
                // skb_vlan_push(skb, proto (big-endian), tci).
                let proto = pick(self, &[0x0081, 0xa888], &[0x0008]);
                self.push(alu64(op::MOV, 2, proto));
                let tci = self.rng.below(1 << 16) as i32;
                self.push(alu64(op::MOV, 3, tci));
                18
            }
            4 => 19,
            5 => {
                // skb_change_proto(skb, proto (big-endian), flags).
                let proto = pick(self, &[0x0008, 0xdd86], &[0x0081]);
                self.push(alu64(op::MOV, 2, proto));
                let flags = pick(self, &[0], &[1]);
                self.push(alu64(op::MOV, 3, flags));
                31
            }
            6 => {
                // skb_change_type(skb, type).
                let kind = pick(self, &[0, 1, 2, 3], &[4, 7]);
                self.push(alu64(op::MOV, 2, kind));
                32
            }
            7 => {
                // csum_level(skb, level), or set_hash(skb, hash).
                if self.rng.chance(1, 2) {
                    let level = pick(self, &[0, 1, 2, 3], &[7]);
                    self.push(alu64(op::MOV, 2, level));
                    135
                } else {
                    let hash = self.rng.below(1 << 20) as i32;
                    self.push(alu64(op::MOV, 2, hash));
                    48
                }
            }
            8 => {
                // check_mtu(ctx, ifindex, &mtu_len, len_diff, flags).
                let mtu = pick(self, &[0, 1500, 60], &[0x7fff_ffff]);
                self.push(st(op::W, 10, -8, mtu));
                self.push(alu64(op::MOV, 2, 0));
                self.push(alu64_reg(op::MOV, 3, 10));
                self.push(alu64(op::ADD, 3, -8));
                let diff = pick(self, &[0, 100, -10], &[1 << 20]);
                self.push(alu64(op::MOV, 4, diff));
                let flags = pick(self, &[0], &[1, 4]);
                self.push(alu64(op::MOV, 5, flags));
                163
            }
            _ => {
                // skb_load_bytes_relative(skb, off, to, len, header).
                let off = pick(self, &[0, 2, 12], &[-1, 1000]);
                self.push(alu64(op::MOV, 2, off));
                self.push(alu64_reg(op::MOV, 3, 10));
                self.push(alu64(op::ADD, 3, -16));
                let len = pick(self, &[1, 4, 8], &[16]);
                self.push(alu64(op::MOV, 4, len));
                let header = pick(self, &[0, 1], &[2]);
                self.push(alu64(op::MOV, 5, header));
                68
            }
        };
        self.push(call(helper));
        if helper == 163 {
            // The MTU written back, made part of the result.
            self.push(ldx(op::W, 3, 10, -8));
            self.push(alu64_reg(op::ADD, 0, 3));
        }
        if careful || self.rng.chance(7, 8) {
            self.load_packet_pointers();
        }
        self.push(alu64(op::AND, 0, 3));
    }

    /// Arithmetic on a copy of a pointer (or of a number): what clang
    /// writes (adding a constant or a number) and what the kernel refuses
    /// (bitwise and 32-bit operations on pointers, subtracting from the
    /// frame pointer or a pointer from a number, arithmetic on `data_end`
    /// or on a map value that may be NULL), then the result used.
    fn pointer_arithmetic(&mut self) {
        if self.careful {
            return;
        }
        let from = *self.rng.pick(&[6, 7, 8, 9, 10, 3]);
        self.push(alu64_reg(op::MOV, 4, from));
        let code = *self.rng.pick(&[
            op::ADD,
            op::ADD,
            op::SUB,
            op::SUB,
            op::AND,
            op::OR,
            op::XOR,
            op::MUL,
            op::LSH,
            op::RSH,
        ]);
        let class = if self.rng.chance(1, 5) {
            op::ALU
        } else {
            op::ALU64
        };
        if self.rng.chance(1, 2) {
            let k = *self.rng.pick(&[0, 1, 4, -4, 8]);
            self.push(Insn::new(class | code | op::K, 4, 0, 0, k));
        } else {
            let other = *self.rng.pick(&[3, 3, 7, 8, 10]);
            if other == 3 {
                let k = self.rng.below(16) as i32;
                self.push(alu64(op::MOV, 3, k));
            }
            if self.rng.chance(3, 4) {
                self.push(Insn::new(class | code | op::X, 4, other, 0, 0));
            } else {
                // The number on the left: `r3 op= r4`.
                self.push(alu64(op::MOV, 3, 12));
                self.push(Insn::new(class | code | op::X, 3, 4, 0, 0));
                self.push(alu64_reg(op::MOV, 4, 3));
            }
        }
        match self.rng.below(3) {
            0 => self.push(ldx(op::B, 3, 4, 0)),
            1 => {
                self.defined = false;
                self.push(alu64_reg(op::MOV, 0, 4));
                self.push(alu64(op::AND, 0, 3));
            }
            _ => {}
        }
    }

    /// The metadata before the packet (`data_meta`, which `adjust_meta`
    /// makes room for): checked against `data` as clang writes it (or
    /// against a moved `data`, which proves nothing), then read or
    /// written.
    fn metadata(&mut self) {
        let (_, _, meta) = self.hook.pointers();
        self.push(ldx(op::W, 2, 6, meta));
        let len = self.check_len().min(16);
        self.push(alu64_reg(op::MOV, 3, 2));
        self.push(alu64(op::ADD, 3, len));
        let data = if self.rng.chance(7, 8) { 7 } else { 8 };
        self.jump(op::JMP | op::JGT | op::X, 3, data, 0, self.exit);
        let size = *self.rng.pick(&[op::B, op::H, op::W]);
        let off = self.access_off(len, size);
        if self.rng.chance(1, 2) {
            self.push(ldx(size, 3, 2, off));
            self.push(alu64_reg(op::MOV, 0, 3));
            self.push(alu64(op::AND, 0, 3));
        } else {
            let value = self.rng.next_u32() as i32;
            self.push(st(size, 2, off, value));
        }
    }

    /// A legacy packet load (`ldabs`, or `ldind` past a byte loaded
    /// first and masked) into r0, at offsets inside the frames, past
    /// them (the program then ends, returning 0), or (carelessly) in the
    /// kernel's negative `SKF_` areas; r1-r5 clobbered.
    fn legacy_load(&mut self) {
        let size = *self.rng.pick(&[op::B, op::H, op::W]);
        let k = match self.rng.below(8) {
            _ if self.careful => self.rng.below(40) as i32,
            0 => 90 + self.rng.below(40) as i32,
            1 => *self.rng.pick(&[-0x10_0000, -0x20_0000, -0x10_0000 + 9, -1]),
            _ => self.rng.below(60) as i32,
        };
        if self.rng.chance(1, 3) {
            self.push(Insn::new(op::LD | op::ABS | op::B, 0, 0, 0, 14));
            self.push(alu64_reg(op::MOV, 7, 0));
            self.push(alu64(op::AND, 7, 0xf));
            self.push(Insn::new(op::LD | op::IND | size, 0, 7, 0, k));
        } else {
            self.push(Insn::new(op::LD | op::ABS | size, 0, 0, 0, k));
        }
    }

    /// A socket filter's piece: a legacy load made the result, a load
    /// into the stack by `skb_load_bytes` read back, a loop of indirect
    /// loads, or one of the pieces every program type shares (maps,
    /// stack, context fields, pointer arithmetic, local calls: which the
    /// kernel refuses beside legacy loads).
    fn socket_snippet(&mut self, depth: u32) {
        match self.rng.below(16) {
            15 => self.map_update(),
            14 => self.packet_helper(),
            13 => self.tail_call(),
            12 => self.ring_buffer(),
            0..=2 => {
                self.legacy_load();
                self.push(alu64_reg(op::MOV, 3, 0));
                if self.rng.chance(1, 2) {
                    self.push(alu64(op::AND, 0, 0xff));
                } else {
                    self.push(alu64(op::MOV, 0, 64));
                }
            }
            3 => {
                // skb_load_bytes(ctx, off, r10 - 16, len)
                let off = match self.rng.below(6) {
                    _ if self.careful => self.rng.below(30) as i32,
                    0 => -1,
                    1 => 200,
                    _ => self.rng.below(60) as i32,
                };
                let len = match self.rng.below(6) {
                    _ if self.careful => 1 + self.rng.below(16) as i32,
                    0 => 0,
                    1 => 17,
                    _ => 1 + self.rng.below(16) as i32,
                };
                self.push(alu64_reg(op::MOV, 1, 6));
                self.push(alu64(op::MOV, 2, off));
                self.push(alu64_reg(op::MOV, 3, 10));
                self.push(alu64(op::ADD, 3, -16));
                self.push(alu64(op::MOV, 4, len));
                self.push(call(26));
                let exit = self.exit;
                if self.careful || self.rng.chance(3, 4) {
                    self.jump(op::JMP | op::JNE | op::K, 0, 0, 0, exit);
                }
                self.push(ldx(op::DW, 3, 10, -16));
                self.push(alu64_reg(op::MOV, 0, 3));
                self.push(alu64(op::AND, 0, 0xff));
            }
            4 => {
                // A loop of indirect loads: the counter in r7 (legacy
                // loads clobber r1-r5), the bound in r8.
                let bound = 1 + self.rng.below(20) as i32;
                self.push(alu64(op::MOV, 7, 0));
                self.push(alu64(op::MOV, 8, bound));
                let top = self.label();
                self.items.push(Item::Label(top));
                self.push(Insn::new(op::LD | op::IND | op::B, 0, 7, 0, 0));
                self.push(alu64(op::ADD, 7, 1));
                self.jump(op::JMP | op::JLT | op::X, 7, 8, 0, top);
                self.push(alu64(op::AND, 0, 0xff));
            }
            5 | 6 => {
                self.map_lookup();
                self.value_access();
            }
            7 => self.stack_access(),
            8 => self.context_access(),
            9 => self.pointer_arithmetic(),
            10 if self.made < MAX_FUNCTIONS && depth < 2 => self.local_call(depth),
            _ => {
                // An early exit with a legacy load's value.
                self.legacy_load();
                self.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
            }
        }
    }

    /// One piece of a program, perhaps skipped on a branch on a packet
    /// byte.
    fn snippet(&mut self, depth: u32) {
        if self.hook == Hook::Socket {
            return self.socket_snippet(depth);
        }
        if depth < 2 && self.rng.chance(1, 5) {
            let len = self.packet_check();
            let insn = ldx(op::B, 3, 7, self.access_off(len, op::B));
            self.push(insn);
            let skip = self.label();
            let code = *self
                .rng
                .pick(&[op::JEQ, op::JGT, op::JSET, op::JNE, op::JLT]);
            let imm = self.rng.below(256) as i32;
            self.jump(op::JMP | code | op::K, 3, 0, imm, skip);
            self.snippet(depth + 1);
            self.items.push(Item::Label(skip));
            return;
        }
        match self.rng.below(if self.scalar_indexes { 33 } else { 30 }) {
            30..=32 => self.scalar_index(),
            28 | 29 => self.atomic_op(),
            26 | 27 => self.map_update(),
            24 | 25 => self.skb_helper(),
            22 | 23 => self.packet_helper(),
            21 => self.tail_call(),
            20 => self.ring_buffer(),
            18 if self.made < MAX_FUNCTIONS && depth < 2 => self.local_call(depth),
            18 | 19 => self.bounded_loop(),
            16 => self.pointer_arithmetic(),
            17 => self.metadata(),
            0..=3 => {
                let len = self.packet_check();
                self.packet_access(len);
            }
            4 => self.packet_access(0),
            5 | 6 => self.variable_offset(),
            7..=9 => {
                self.map_lookup();
                self.value_access();
            }
            10 => self.value_access(),
            11 => self.stack_access(),
            12 => self.context_access(),
            13 => self.adjust(),
            14 => {
                // An early exit with a packet byte as the action.
                let len = self.packet_check();
                let insn = ldx(op::B, 0, 7, self.access_off(len, op::B));
                self.push(insn);
                self.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
            }
            _ => {
                // The result so far from a packet byte, or a scratch
                // register that may not hold a number.
                let src = *self.rng.pick(&[3, 3, 3, 9, 4]);
                self.defined &= src == 3;
                self.push(alu64_reg(op::MOV, 0, src));
                self.push(alu64(op::AND, 0, 3));
            }
        }
    }

    fn finish(mut self) -> Vec<Insn> {
        let functions = std::mem::take(&mut self.functions);
        self.items.extend(functions);
        // Label positions (in instruction slots), then the jumps and calls.
        let mut at = vec![0usize; self.labels + 1];
        let mut pc = 0;
        for item in &self.items {
            match item {
                Item::Insn(_) | Item::Jump(..) | Item::Call(_) => pc += 1,
                Item::Label(l) => at[*l] = pc,
            }
        }
        let mut insns = Vec::with_capacity(pc);
        for item in self.items {
            let from = insns.len() as i64 + 1;
            match item {
                Item::Insn(i) => insns.push(i),
                Item::Jump(opc, dst, src, imm, to) => {
                    let off = at[to] as i64 - from;
                    insns.push(Insn::new(opc, dst, src, off as i16, imm));
                }
                Item::Call(to) => {
                    let off = at[to] as i64 - from;
                    insns.push(Insn::new(op::CALL_IMM, 0, 1, 0, off as i32));
                }
                Item::Label(_) => {}
            }
        }
        insns
    }

    /// The items a function body's `build` adds, built with `exit` as its
    /// exit block and with its own zeroed stack, placed after the main
    /// function under `label`.
    fn function(&mut self, label: usize, build: impl FnOnce(&mut Builder)) {
        let outer_items = std::mem::take(&mut self.items);
        let outer = (self.exit, self.zeroed_bytes, self.value_size);
        self.exit = self.label();
        self.items.push(Item::Label(label));
        build(self);
        let body = std::mem::replace(&mut self.items, outer_items);
        (self.exit, self.zeroed_bytes, self.value_size) = outer;
        self.functions.extend(body);
    }

    /// A local (BPF-to-BPF) call: of a function given the context (which
    /// runs snippets of its own on the packet: bounds checks, lookups,
    /// helpers that move the packet under the caller's pointers, calls of
    /// its own), a pointer into the caller's stack, the packet's pointers,
    /// or numbers; its result made the action, or (carelessly) a register
    /// the call clobbered read after it. Careless calls pass what the
    /// callee does not expect, leave argument registers unset, or reach
    /// outside what the argument points to.
    fn local_call(&mut self, depth: u32) {
        self.made += 1;
        let f = self.label();
        let kinds = if self.hook == Hook::Socket { 2 } else { 4 };
        match self.rng.below(kinds) {
            0 => {
                if self.careful || self.rng.chance(3, 4) {
                    self.push(alu64_reg(op::MOV, 1, 6));
                }
                self.items.push(Item::Call(f));
                let snippets = 1 + self.rng.below(3);
                self.function(f, |b| {
                    b.push(alu64_reg(op::MOV, 6, 1));
                    if b.hook != Hook::Socket {
                        b.load_packet_pointers();
                    }
                    let action = b.rng.below(4) as i32;
                    b.push(alu64(op::MOV, 0, action));
                    if b.careful || b.rng.chance(3, 4) {
                        b.push(alu64(op::MOV, 9, 0));
                    }
                    // (Ten slots: the kernel's limit is on the stacks of
                    // a call chain together.)
                    b.zeroed_bytes = 80;
                    for slot in 1..=10 {
                        b.push(st(op::DW, 10, -8 * slot, 0));
                    }
                    for _ in 0..snippets {
                        b.snippet(depth + 1);
                    }
                    let exit = b.exit;
                    b.items.push(Item::Label(exit));
                    b.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
                });
            }
            1 => {
                let slot = -8 * (1 + self.rng.below(4) as i16);
                let value = self.rng.below(1000) as i32;
                if self.careful || self.rng.chance(3, 4) {
                    self.push(st(op::DW, 10, slot, value));
                }
                self.push(alu64_reg(op::MOV, 1, 10));
                let at = match self.rng.below(8) {
                    _ if self.careful => slot,
                    0 => slot + 4,
                    1 => {
                        // (The callee may reach bytes of the frame never
                        // zeroed, which hold what the kernel's stack held.)
                        self.defined = false;
                        slot - 512
                    }
                    _ => slot,
                };
                self.push(alu64(op::ADD, 1, i32::from(at)));
                let add = self.rng.below(100) as i32;
                self.push(alu64(op::MOV, 2, add));
                self.items.push(Item::Call(f));
                self.push(ldx(op::DW, 3, 10, slot));
                self.push(alu64_reg(op::XOR, 0, 3));
                let (size, off) = match self.rng.below(6) {
                    _ if self.careful => (op::DW, 0),
                    0 => (op::DW, 8),
                    1 => (op::DW, -8),
                    2 => (op::W, 4),
                    _ => (op::DW, 0),
                };
                // What the callee does with the pointer: adds to the
                // number there (itself, or through a function it passes
                // the pointer on to, reading the number back after); or,
                // carelessly, returns the pointer, or stores a pointer to
                // its own frame there (both refused by the kernel).
                let variant = if self.careful || self.rng.chance(3, 4) {
                    self.rng.below(2)
                } else {
                    2 + self.rng.below(2)
                };
                let nested = (variant == 1 && self.made < MAX_FUNCTIONS).then(|| {
                    self.made += 1;
                    self.label()
                });
                let add_through_r1 = move |b: &mut Builder| {
                    b.push(ldx(size, 3, 1, off));
                    b.push(alu64_reg(op::ADD, 3, 2));
                    b.push(stx(size, 1, 3, off));
                    b.push(alu64_reg(op::MOV, 0, 3));
                    b.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
                };
                self.function(f, |b| match (variant, nested) {
                    (1, Some(g)) => {
                        b.push(alu64_reg(op::MOV, 6, 1));
                        b.items.push(Item::Call(g));
                        b.push(ldx(size, 3, 6, off));
                        b.push(alu64_reg(op::ADD, 0, 3));
                        b.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
                        b.function(g, add_through_r1);
                    }
                    (2, _) => {
                        b.push(alu64_reg(op::MOV, 0, 1));
                        b.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
                    }
                    (3, _) => {
                        b.push(alu64_reg(op::MOV, 4, 10));
                        b.push(alu64(op::ADD, 4, -8));
                        b.push(stx(size, 1, 4, off));
                        b.push(alu64(op::MOV, 0, 0));
                        b.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
                    }
                    _ => add_through_r1(b),
                });
            }
            2 => {
                let (first, second) = match self.rng.below(8) {
                    _ if self.careful => (7, 8),
                    0 => (8, 7),
                    1 => (7, 7),
                    2 => {
                        // (The callee compares the context's address with
                        // data_end's: which way it goes is the memory
                        // layout's.)
                        self.defined = false;
                        (6, 8)
                    }
                    _ => (7, 8),
                };
                self.push(alu64_reg(op::MOV, 1, first));
                self.push(alu64_reg(op::MOV, 2, second));
                self.items.push(Item::Call(f));
                let len = self.check_len();
                let size = self.size();
                let off = self.access_off(len, size);
                let set_r0 = self.careful || self.rng.chance(7, 8);
                self.function(f, |b| {
                    let exit = b.exit;
                    b.push(alu64_reg(op::MOV, 3, 1));
                    b.push(alu64(op::ADD, 3, len));
                    b.jump(op::JMP | op::JGT | op::X, 3, 2, 0, exit);
                    b.push(ldx(size, 0, 1, off));
                    b.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
                    b.items.push(Item::Label(exit));
                    if set_r0 {
                        b.push(alu64(op::MOV, 0, 1));
                    }
                    b.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
                });
            }
            _ => {
                if self.rng.chance(1, 2) {
                    let len = self.packet_check();
                    let insn = ldx(op::B, 1, 7, self.access_off(len, op::B));
                    self.push(insn);
                } else {
                    let k = self.rng.below(50) as i32;
                    self.push(alu64(op::MOV, 1, k));
                }
                if self.careful || self.rng.chance(3, 4) {
                    let k = self.rng.below(50) as i32;
                    self.push(alu64(op::MOV, 2, k));
                }
                self.items.push(Item::Call(f));
                let code = *self.rng.pick(&[op::ADD, op::MUL, op::XOR, op::SUB]);
                self.function(f, |b| {
                    b.push(alu64_reg(op::MOV, 0, 1));
                    b.push(alu64_reg(code, 0, 2));
                    b.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
                });
            }
        }
        if self.careful || self.rng.chance(7, 8) {
            self.push(alu64(op::AND, 0, 3));
        } else {
            // r1-r5 do not survive a call.
            let clobbered = 1 + self.rng.below(5) as u8;
            self.push(alu64_reg(op::MOV, 0, clobbered));
        }
    }

    /// A bounded loop over the packet's first bytes as clang writes one:
    /// the bound a constant or a packet byte (masked small, or not), the
    /// test at the bottom or at the top, each byte checked against
    /// `data_end` before it is read (carelessly, not; or a counter that
    /// never moves, which the kernel finds to be an infinite loop). The
    /// bytes' sum (low two bits) is the action.
    fn bounded_loop(&mut self) {
        if self.rng.chance(1, 3) {
            let len = self.packet_check();
            let insn = ldx(op::B, 1, 7, self.access_off(len, op::B));
            self.push(insn);
            let mask = match self.rng.below(4) {
                _ if self.careful => 0xf,
                0 => 0xff,
                _ => *self.rng.pick(&[0x7, 0xf, 0x1f]),
            };
            self.push(alu64(op::AND, 1, mask));
        } else {
            let k = 1 + self.rng.below(24) as i32;
            self.push(alu64(op::MOV, 1, k));
        }
        self.push(alu64(op::MOV, 4, 0));
        self.push(alu64(op::MOV, 5, 0));
        // (A counter that never moves costs both verifiers their whole
        // search budget: rare, so that a run stays short.)
        let step = if self.careful || !self.rng.chance(1, 32) {
            1
        } else {
            0
        };
        let class = if self.rng.chance(1, 4) {
            op::JMP32
        } else {
            op::JMP
        };
        let top = self.label();
        let done = self.label();
        let test_first = self.rng.chance(1, 2);
        self.items.push(Item::Label(top));
        if test_first {
            self.jump(class | op::JGE | op::X, 4, 1, 0, done);
        }
        self.push(alu64_reg(op::MOV, 2, 7));
        self.push(alu64_reg(op::ADD, 2, 4));
        if self.careful || self.rng.chance(7, 8) {
            self.push(alu64_reg(op::MOV, 3, 2));
            self.push(alu64(op::ADD, 3, 1));
            let exit = self.exit;
            self.jump(op::JMP | op::JGT | op::X, 3, 8, 0, exit);
        }
        self.push(ldx(op::B, 3, 2, 0));
        self.push(alu64_reg(op::ADD, 5, 3));
        self.push(alu64(op::ADD, 4, step));
        if test_first {
            self.jump(op::JMP | op::JA, 0, 0, 0, top);
        } else {
            self.jump(class | op::JLT | op::X, 4, 1, 0, top);
        }
        self.items.push(Item::Label(done));
        self.push(alu64_reg(op::MOV, 0, 5));
        self.push(alu64(op::AND, 0, 3));
    }
}

/// One XDP program of `snippets` pieces.
pub fn program(rng: &mut Rng, snippets: usize) -> XdpCase {
    program_for(rng, snippets, Hook::Xdp, true)
}

/// One program of `snippets` pieces for `hook` (for TC, `adjust`'s XDP
/// helpers are among the edits the kernel refuses). `adjust_meta`: whether
/// `xdp_adjust_meta` is among the helpers it calls; some kernel builds
/// serve XDP programs without it (a test against such a kernel leaves it
/// out rather than compare the build's choice).
pub fn program_for(rng: &mut Rng, snippets: usize, hook: Hook, adjust_meta: bool) -> XdpCase {
    program_with(rng, snippets, hook, adjust_meta, false)
}

/// [`program_for`], with `scalar_indexes` also writing numbers computed
/// from packet bytes used as map value indexes, bounded in both widths
/// (see the README's "Scalar indexes"; on in the default run).
pub fn program_with(
    rng: &mut Rng,
    snippets: usize,
    hook: Hook,
    adjust_meta: bool,
    scalar_indexes: bool,
) -> XdpCase {
    let mut b = Builder {
        rng: rng.clone(),
        items: Vec::new(),
        labels: 0,
        careful: false,
        value_size: 8,
        hook,
        defined: true,
        exit: OUT,
        functions: Vec::new(),
        made: 0,
        zeroed_bytes: 0,
        adjust_meta,
        scalar_indexes,
    };
    b.careful = b.rng.chance(1, 2);
    b.push(alu64_reg(op::MOV, 6, 1));
    if hook != Hook::Socket {
        b.load_packet_pointers();
    }
    if b.rng.chance(15, 16) {
        let action = b.rng.below(5) as i32;
        b.push(alu64(op::MOV, 0, action));
    }
    if b.rng.chance(3, 4) {
        b.push(alu64(op::MOV, 9, 0));
    }
    // The stack the snippets use, zeroed: bytes never written hold
    // whatever the kernel's stack held, which would make results differ
    // for no fault of either side. Now and then not, for the verdicts.
    // (Forty slots leave room for the called functions' stacks: the
    // kernel limits a call chain's stacks together to 512 bytes.)
    let zeroed = b.rng.chance(7, 8);
    if zeroed {
        b.zeroed_bytes = 320;
        for slot in 1..=40 {
            b.push(st(op::DW, 10, -8 * slot, 0));
        }
    }
    for _ in 0..snippets {
        b.snippet(0);
    }
    // The shared exit: the action so far, or a fixed one.
    b.items.push(Item::Label(OUT));
    if b.rng.chance(1, 3) {
        b.push(alu64(op::MOV, 0, 2));
    }
    b.push(Insn::new(op::EXIT_OP, 0, 0, 0, 0));
    *rng = b.rng.clone();
    let defined = b.defined;
    let insns = b.finish();
    XdpCase {
        insns,
        maps: maps(),
        hook,
        results_defined: zeroed && defined,
    }
}
