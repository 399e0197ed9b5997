//! Program contexts: which loads read the context r1 points to at entry,
//! and what they become in this runtime.
//!
//! The kernel's verifier tracks the context pointer's type and rewrites
//! each access to a context field into a load of the field the kernel
//! really has (`xdp_md.data`, a 32-bit field in the ABI, becomes a 64-bit
//! load of `xdp_buff.data`). This module does the same for the program
//! types this runtime runs: a forward data-flow analysis finds, at every
//! instruction, which registers and 8-byte stack slots hold the context
//! pointer (and at which constant offset), keeping the states of up to
//! eight paths apart at each instruction as the kernel explores paths one
//! by one, and not following a comparison's side that constants the kernel
//! knows rule out; each access through one is
//! checked against the type's rules (the kernel's `invalid bpf_context
//! access`). The runtime's context block holds the type's ABI struct at its
//! own offsets (scalar fields are read and written in place, narrow loads
//! included) followed by the packet pointers as 64-bit addresses
//! ([`ContextKind::data`] and the next two): only the loads of `data`,
//! `data_end` and `data_meta` are rewritten, to 64-bit loads of those.
//! Accesses through a pointer that is the context on one path and not on
//! another, and accesses the type does not allow, are refused, naming the
//! instruction, as the kernel refuses them.

use super::blocks;
use super::insn::{op, regs, Insn, Program};
use super::scalar::{self, Scalar, MAX_PACKET_OFF};
use super::semantics;
use super::tnum::Tnum;
use super::verify::Rule;

/// Program types whose context this runtime provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContextKind {
    /// `struct xdp_md` (XDP programs).
    Xdp,
    /// `struct __sk_buff` as TC classifiers and actions see it.
    Tc,
    /// `struct __sk_buff` as socket filters see it.
    Socket,
}

impl std::fmt::Display for ContextKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ContextKind::Xdp => "XDP",
            ContextKind::Tc => "TC",
            ContextKind::Socket => "socket filter",
        })
    }
}

/// `struct __sk_buff` offsets this module names.
pub mod sk_buff {
    /// `len`.
    pub const LEN: usize = 0;
    /// `pkt_type`.
    pub const PKT_TYPE: usize = 4;
    /// `mark`.
    pub const MARK: usize = 8;
    /// `queue_mapping`.
    pub const QUEUE_MAPPING: usize = 12;
    /// `protocol`.
    pub const PROTOCOL: usize = 16;
    /// `vlan_present`.
    pub const VLAN_PRESENT: usize = 20;
    /// `vlan_tci`.
    pub const VLAN_TCI: usize = 24;
    /// `vlan_proto`.
    pub const VLAN_PROTO: usize = 28;
    /// `priority`.
    pub const PRIORITY: usize = 32;
    /// `ingress_ifindex`.
    pub const INGRESS_IFINDEX: usize = 36;
    /// `ifindex`.
    pub const IFINDEX: usize = 40;
    /// `tc_index`.
    pub const TC_INDEX: usize = 44;
    /// `cb[0]`.
    pub const CB: usize = 48;
    /// One past `cb[4]`.
    pub const CB_END: usize = 68;
    /// `hash`.
    pub const HASH: usize = 68;
    /// `tc_classid`.
    pub const TC_CLASSID: usize = 72;
    /// `data`.
    pub const DATA: usize = 76;
    /// `data_end`.
    pub const DATA_END: usize = 80;
    /// `napi_id`.
    pub const NAPI_ID: usize = 84;
    /// `family`: the first of the socket fields.
    pub const FAMILY: usize = 88;
    /// One past `local_port`.
    pub const SOCKET_END: usize = 140;
    /// `data_meta`.
    pub const DATA_META: usize = 140;
    /// `flow_keys` (a pointer).
    pub const FLOW_KEYS: usize = 144;
    /// `tstamp` (u64).
    pub const TSTAMP: usize = 152;
    /// `wire_len`.
    pub const WIRE_LEN: usize = 160;
    /// `gso_segs`.
    pub const GSO_SEGS: usize = 164;
    /// `sk` (a pointer).
    pub const SK: usize = 168;
    /// `gso_size`.
    pub const GSO_SIZE: usize = 176;
    /// `tstamp_type` (u8), then padding to `hwtstamp`.
    pub const TSTAMP_TYPE: usize = 180;
    /// The padding after `tstamp_type` (a byte), to `hwtstamp`.
    pub const TSTAMP_TYPE_PAD: usize = 181;
    /// `hwtstamp` (u64).
    pub const HWTSTAMP: usize = 184;
    /// `sizeof(struct __sk_buff)`.
    pub const SIZE: usize = 192;
}

/// XDP verdicts (`enum xdp_action`).
pub mod xdp_action {
    /// `XDP_ABORTED`.
    pub const ABORTED: u32 = 0;
    /// `XDP_DROP`.
    pub const DROP: u32 = 1;
    /// `XDP_PASS`.
    pub const PASS: u32 = 2;
    /// `XDP_TX`.
    pub const TX: u32 = 3;
    /// `XDP_REDIRECT`.
    pub const REDIRECT: u32 = 4;
}

/// TC verdicts (`TC_ACT_*` in `<linux/pkt_cls.h>`), as u32 return values.
pub mod tc_action {
    /// `TC_ACT_UNSPEC` (-1): the default action.
    pub const UNSPEC: u32 = u32::MAX;
    /// `TC_ACT_OK`.
    pub const OK: u32 = 0;
    /// `TC_ACT_SHOT`.
    pub const SHOT: u32 = 2;
    /// `TC_ACT_REDIRECT`.
    pub const REDIRECT: u32 = 7;
}

/// `struct xdp_md` offsets.
pub mod xdp_md {
    /// `data`.
    pub const DATA: usize = 0;
    /// `data_end`.
    pub const DATA_END: usize = 4;
    /// `data_meta`.
    pub const DATA_META: usize = 8;
    /// `ingress_ifindex`.
    pub const INGRESS_IFINDEX: usize = 12;
    /// `rx_queue_index`.
    pub const RX_QUEUE_INDEX: usize = 16;
    /// `egress_ifindex`.
    pub const EGRESS_IFINDEX: usize = 20;
    /// `sizeof(struct xdp_md)`.
    pub const SIZE: usize = 24;
}

/// The runtime's context block for a program type: the type's ABI struct
/// at its own offsets — scalar fields are read and written there directly,
/// narrow loads included — followed by the packet pointers as 64-bit
/// addresses, where the rewritten pointer loads read them.
impl ContextKind {
    /// Size of the ABI struct.
    pub fn abi_size(self) -> usize {
        match self {
            ContextKind::Xdp => xdp_md::SIZE,
            ContextKind::Tc | ContextKind::Socket => sk_buff::SIZE,
        }
    }

    /// Block offset of the 64-bit `data` address (`data_end` follows at +8,
    /// `data_meta` at +16).
    pub fn data(self) -> usize {
        self.abi_size()
    }

    /// Block offset of the 64-bit `data_end` address.
    pub fn data_end(self) -> usize {
        self.abi_size() + 8
    }

    /// Block offset of the 64-bit `data_meta` address.
    pub fn data_meta(self) -> usize {
        self.abi_size() + 16
    }

    /// Size of the whole block.
    pub fn block_size(self) -> usize {
        self.abi_size() + 24
    }
}

/// A refused context access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContextError {
    /// Instruction slot.
    pub pc: usize,
    /// The kernel's wording where it has one.
    pub message: String,
}

impl std::fmt::Display for ContextError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "instruction {}: {}", self.pc, self.message)
    }
}

impl std::error::Error for ContextError {}

/// What a register or stack slot holds, as far as the context goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Val {
    /// Nothing known yet (not reached, or never written).
    Unset,
    /// The context pointer plus this offset.
    Ctx(i64),
    /// Anything but the context pointer (a number not followed, or a
    /// pointer into a caller's stack).
    Other,
    /// The frame pointer r10 of this function's frame plus this offset
    /// (the kernel's PTR_TO_STACK).
    Stack(i64),
    /// The frame pointer of the frame this many calls up (1: the caller)
    /// plus this offset, in a callee followed from its call (a pointer a
    /// caller passed down): accesses are held to that frame's 512 bytes,
    /// aligned as stack accesses, and read and write that frame's slots,
    /// as the kernel follows them.
    OuterStack(u8, i64),
    /// The same plus the constant `off` and a number with sure bounds,
    /// `vmin ..= vmax` signed, whose known bits are `bits` (a variable
    /// offset into the stack, as privileged programs may use).
    StackVar {
        off: i64,
        vmin: i64,
        vmax: i64,
        bits: Tnum,
    },
    /// A number with known bounds (see `scalar.rs`).
    Scalar(Scalar),
    /// The context on some path, something else on another.
    Mixed,
    /// `data` plus this constant offset, and the bytes past `data` that
    /// comparisons with `data_end` proved for it: the kernel's
    /// PTR_TO_PACKET with no variable part, and its `range` (a pointer
    /// loaded anew has none).
    Pkt(i64, u64),
    /// `data` plus a number unknown on its path, at most `max`, plus the
    /// constant `off`: the kernel's PTR_TO_PACKET with a variable part,
    /// whose `id` (here the instruction that added the number) has its own
    /// proven range; `sure` when `max` is surely the kernel's bound (see
    /// `scalar.rs`), so that a pointer it never proves is refused rather
    /// than left to the run-time checks. `neg` when the number may be
    /// negative (surely: the kernel refuses every access through it).
    PktVar {
        id: usize,
        off: i64,
        max: u64,
        sure: bool,
        neg: bool,
    },
    /// `data_end`.
    PktEnd,
    /// `data_meta` plus this constant offset (the kernel's
    /// PTR_TO_PACKET_META), and the bytes comparisons with `data` proved.
    PktMeta(i64, u64),
    /// What `bpf_map_lookup_elem` returned at this instruction, not yet
    /// compared with 0 (the kernel's PTR_TO_MAP_VALUE_OR_NULL; copies
    /// share the instruction, as the kernel's copies share an id), and
    /// what it is once compared.
    MapOrNull(usize, Lookup),
    /// Map `n` of the object (what `lddw` of a map reference loads), for
    /// the map helpers.
    MapPtr(usize),
    /// A map held by map of maps `n` (a lookup's result there, compared
    /// with 0): the kernel's CONST_PTR_TO_MAP of its inner template.
    InnerMap(usize),
    /// The ring buffer sample reserved at instruction `id`, compared with
    /// 0 (the kernel's referenced `ringbuf_mem`), plus `off`; `size`: the
    /// bytes reserved, when the kernel knows them.
    Sample {
        id: usize,
        off: i64,
        size: Option<u32>,
    },
    /// A read-only map's value (`.rodata`, loaded by `lddw` as
    /// `BPF_PSEUDO_MAP_VALUE`) plus this offset, and the value's size: the
    /// kernel's PTR_TO_MAP_VALUE of a `BPF_F_RDONLY_PROG` map; with the
    /// object's map index when its contents are known (`.rodata`, frozen
    /// once loaded), not for a lookup's read-only value (a devmap's).
    ReadOnly(i64, u32, Option<u32>),
    /// A writable map value of `size` bytes (a lookup's result compared
    /// with 0, or `.data`/`.bss` through `BPF_PSEUDO_MAP_VALUE`) plus the
    /// constant `off` and a number whose bounds are surely the kernel's
    /// (0 ..= 0 for none): at least `vmin` signed, at most `vhi` unsigned;
    /// the kernel's PTR_TO_MAP_VALUE, whose accesses it keeps inside the
    /// value.
    MapValue {
        off: i64,
        size: u32,
        vmin: i64,
        vhi: u64,
        /// The number's known bits, when surely the kernel's (its
        /// `var_off`, which decides the alignment of atomic accesses).
        bits: Option<Tnum>,
    },
    /// A pointer this analysis does not follow (packet plus a variable,
    /// `data_meta`, packet pointers after a helper that moves the data):
    /// its accesses are checked at run time only.
    Unknown,
}

/// What a non-NULL `bpf_map_lookup_elem` result points to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Lookup {
    /// A value programs may write, of this size when the map is known.
    Value(Option<u32>),
    /// A value of this size programs may only read (a devmap's,
    /// `.rodata`'s).
    ReadOnly(u32),
    /// A map, held by map of maps `n`.
    Inner(usize),
    /// A ring buffer sample (`bpf_ringbuf_reserve`'s result) of this size
    /// when known, which the program must submit or discard.
    Sample(Option<u32>),
}

impl Val {
    /// Both paths' value; with `widen` (a loop's head seen many times),
    /// numbers whose bounds still differ are no longer followed.
    fn join(self, other: Val, widen: bool) -> Val {
        match (self, other) {
            (Val::Unset, v) | (v, Val::Unset) => v,
            (a, b) if a == b => a,
            // (What every path proved.)
            (Val::Pkt(a, ra), Val::Pkt(b, rb)) if a == b => Val::Pkt(a, ra.min(rb)),
            (Val::PktMeta(a, ra), Val::PktMeta(b, rb)) if a == b => Val::PktMeta(a, ra.min(rb)),
            (Val::Ctx(_) | Val::Mixed, _) | (_, Val::Ctx(_) | Val::Mixed) => Val::Mixed,
            // (Stack pointers and numbers were one `Other` before stack
            // pointers were followed; they still join as one.)
            (
                Val::Stack(_) | Val::StackVar { .. },
                Val::Stack(_) | Val::StackVar { .. } | Val::Other | Val::Scalar(_),
            )
            | (Val::Other | Val::Scalar(_), Val::Stack(_) | Val::StackVar { .. }) => Val::Other,
            (Val::Scalar(a), Val::Scalar(b)) if !widen => Val::Scalar(a.join(b)),
            (Val::Scalar(_) | Val::Other, Val::Scalar(_) | Val::Other) => Val::Other,
            _ => Val::Unknown,
        }
    }

    /// This pointer moved by the constant `imm` (added, or subtracted with
    /// `sub`, at `pc`), `None` for values that are not pointers with a
    /// constant offset; the kernel's refusal of a move of 2^29 or more for
    /// packet and map value pointers.
    fn moved_by(self, pc: usize, imm: i64, sub: bool) -> Option<Result<Val, ContextError>> {
        let k = if sub { -imm } else { imm };
        let kind = match self {
            Val::Pkt(..) | Val::PktVar { .. } => "pkt",
            Val::PktMeta(..) => "pkt_meta",
            Val::MapValue { .. } => "map_value",
            _ => "",
        };
        let moved = match self {
            Val::Ctx(o) => Val::Ctx(o + k),
            Val::Stack(o) => Val::Stack(o + k),
            Val::OuterStack(up, o) => Val::OuterStack(up, o + k),
            Val::Sample { id, off, size } => Val::Sample {
                id,
                off: off + k,
                size,
            },
            Val::StackVar {
                off,
                vmin,
                vmax,
                bits,
            } => Val::StackVar {
                off: off + k,
                vmin,
                vmax,
                bits,
            },
            Val::Pkt(o, r) => Val::Pkt(o + k, r),
            Val::PktMeta(o, r) => Val::PktMeta(o + k, r),
            Val::ReadOnly(o, n, m) => Val::ReadOnly(o + k, n, m),
            Val::PktVar {
                id,
                off,
                max,
                sure,
                neg,
            } => Val::PktVar {
                id,
                off: off + k,
                max,
                sure,
                neg,
            },
            Val::MapValue {
                off,
                size,
                vmin,
                vhi,
                bits,
            } => Val::MapValue {
                off: off + k,
                size,
                vmin,
                vhi,
                bits,
            },
            _ => return None,
        };
        Some(if kind.is_empty() {
            Ok(moved)
        } else {
            pointer_move(pc, kind, imm).map(|()| moved)
        })
    }

    /// A pointer a number may move and still be followed (`pointer_plus`).
    fn moves(self) -> bool {
        matches!(
            self,
            Val::Pkt(..) | Val::PktVar { .. } | Val::MapValue { .. } | Val::Stack(_)
        )
    }

    /// The kernel's name for the pointer type this surely is
    /// (`reg_type_str`); `None` for numbers and for values not followed.
    fn kernel_type(self) -> Option<&'static str> {
        Some(match self {
            Val::Ctx(_) => "ctx",
            Val::Stack(_) | Val::StackVar { .. } | Val::OuterStack(..) => "fp",
            Val::Pkt(..) | Val::PktVar { .. } => "pkt",
            Val::PktEnd => "pkt_end",
            Val::PktMeta(..) => "pkt_meta",
            Val::MapOrNull(_, Lookup::Sample(_)) => "ringbuf_mem_or_null",
            Val::MapOrNull(..) => "map_value_or_null",
            Val::MapPtr(_) | Val::InnerMap(_) => "map_ptr",
            Val::Sample { .. } => "ringbuf_mem",
            Val::ReadOnly(..) | Val::MapValue { .. } => "map_value",
            _ => return None,
        })
    }

    /// A number's bounds, if it is a number followed.
    fn scalar(self) -> Option<Scalar> {
        match self {
            Val::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// A pointer into a frame (this function's or a caller's), the
    /// kernel's PTR_TO_STACK.
    fn is_stack_pointer(self) -> bool {
        matches!(
            self,
            Val::Stack(_) | Val::StackVar { .. } | Val::OuterStack(..)
        )
    }

    /// A number (followed or not), as an ALU operand or result.
    fn is_number(self) -> bool {
        matches!(self, Val::Other | Val::Scalar(_))
    }

    /// Surely a pointer (the kernel's spillable register types): `Other`
    /// and `Unknown` may be one or a number (`data_end - data` is one), so
    /// they are not.
    fn is_pointer(self) -> bool {
        !matches!(
            self,
            Val::Unset | Val::Other | Val::Unknown | Val::Scalar(_)
        )
    }

    /// A pointer this analysis tracks or gave up on (not a plain value).
    fn is_packet_pointer(self) -> bool {
        matches!(
            self,
            Val::Pkt(..)
                | Val::PktVar { .. }
                | Val::PktEnd
                | Val::PktMeta(..)
                | Val::Unknown
                | Val::MapOrNull(..)
                | Val::MapPtr(_)
                | Val::InnerMap(_)
                | Val::Sample { .. }
                | Val::ReadOnly(..)
                | Val::MapValue { .. }
        )
    }
}

const SLOTS: usize = 64;

/// What the kernel knows of one 8-byte stack slot's bytes that decides
/// whether a map key there is a constant (its `get_constant_map_key`):
/// which bytes are STACK_ZERO, and the size of a register spilled at the
/// slot's bottom (the register itself is the slot's [`Val`]). Two bytes:
/// every path's state holds one per slot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
struct KeyBytes {
    /// Bit `b`: byte `b` above the slot's bottom is known zero.
    zero: u8,
    /// Bytes of a register spilled at the bottom (0: none).
    spilled: u8,
}

/// The bits of bytes `from .. from + len` of a slot.
fn byte_mask(from: u32, len: u32) -> u8 {
    (((1u16 << len) - 1) << from) as u8
}

/// A frame's stack slots from r10 down (slot 0 holds r10-8 .. r10-1),
/// each with its [`KeyBytes`], held only up to the deepest slot written:
/// states are copied per instruction and kept per path, and a program
/// using 24 bytes of stack then copies, hashes and compares three slots,
/// not 64. A slot past the end is `Unset` with nothing known of its bytes;
/// equality and hash ignore such slots however they came to be held.
#[derive(Clone, Debug, Default)]
struct Slots(Vec<(Val, KeyBytes)>);

impl Slots {
    fn val(&self, slot: usize) -> Val {
        self.0.get(slot).map_or(Val::Unset, |e| e.0)
    }

    fn key(&self, slot: usize) -> KeyBytes {
        self.0.get(slot).map_or_else(KeyBytes::default, |e| e.1)
    }

    /// Slot `slot`'s value and key bytes, to change (`slot` < [`SLOTS`]).
    fn entry(&mut self, slot: usize) -> &mut (Val, KeyBytes) {
        if slot >= self.0.len() {
            self.0.resize(slot + 1, (Val::Unset, KeyBytes::default()));
        }
        &mut self.0[slot]
    }

    /// The value of every slot held, to change (those not held are
    /// `Unset`, which nothing that walks them changes).
    fn vals_mut(&mut self) -> impl Iterator<Item = &mut Val> {
        self.0.iter_mut().map(|e| &mut e.0)
    }

    /// The slots up to the deepest one that holds anything.
    fn held(&self) -> &[(Val, KeyBytes)] {
        let end = self
            .0
            .iter()
            .rposition(|e| *e != (Val::Unset, KeyBytes::default()))
            .map_or(0, |k| k + 1);
        &self.0[..end]
    }

    fn join(&mut self, other: &Slots, widen: bool) {
        if other.0.len() > self.0.len() {
            self.0
                .resize(other.0.len(), (Val::Unset, KeyBytes::default()));
        }
        for (k, (a, ka)) in self.0.iter_mut().enumerate() {
            let (b, kb) = (other.val(k), other.key(k));
            *a = a.join(b, widen);
            if *ka != kb {
                *ka = KeyBytes {
                    zero: ka.zero & kb.zero,
                    spilled: ka.spilled.max(kb.spilled),
                };
            }
        }
    }
}

impl PartialEq for Slots {
    fn eq(&self, other: &Slots) -> bool {
        self.held() == other.held()
    }
}

impl Eq for Slots {}

impl std::hash::Hash for Slots {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.held().hash(h);
    }
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct State {
    regs: [Val; 11],
    stack: Slots,
    /// The same for each variable packet pointer's id (sorted by id; an id
    /// missing has nothing proven).
    var_ranges: Vec<(usize, u64)>,
    /// In the program's own function (not a callee).
    main: bool,
    /// Registers that may be unwritten on this path (a bit per register;
    /// a join keeps every path's).
    unwritten: u16,
    /// Packet pointers in registers known to lie past `data_end` (the
    /// kernel's BEYOND_PKT_END: a `pkt > data_end` comparison's taken
    /// side), and at or past it (AT_PKT_END: `pkt >= data_end`), until the
    /// register is written; a bit per register (a join keeps what every
    /// path knows).
    past_end: u16,
    at_end: u16,
    /// In a function called locally and followed from its call, as the
    /// kernel follows it: the caller's side, resumed at the callee's exit.
    caller: Option<Box<Caller>>,
    /// The ring buffer samples this path holds, by the instruction that
    /// reserved each, in the order reserved (the kernel's acquired
    /// references, which belong to the path, not to a frame: the
    /// innermost frame's list is the path's). A join keeps those every
    /// path holds: a leak is then not refused (never a false refusal).
    refs: Vec<usize>,
}

/// The caller's side of a local call followed into the callee: its state
/// (r0-r5 clobbered), where it goes on, and whether a pointer into its
/// stack was passed at a variable offset (not followed in the callee: the
/// caller's slots are then forgotten on return). Stores through a
/// pointer passed at a constant offset are made in `state` itself.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Caller {
    state: State,
    return_to: usize,
    stack_unfollowed: bool,
}

impl State {
    fn unset() -> State {
        State {
            regs: [Val::Unset; 11],
            stack: Slots::default(),
            var_ranges: Vec::new(),
            main: false,
            unwritten: regs::ALL,
            past_end: 0,
            at_end: 0,
            caller: None,
            refs: Vec::new(),
        }
    }

    /// Local calls being followed (0 in a function entered otherwise).
    fn depth(&self) -> usize {
        self.caller.as_ref().map_or(0, |c| 1 + c.state.depth())
    }

    /// Whether both are in the same chain of followed calls (only then
    /// may they join).
    fn same_calls(&self, other: &State) -> bool {
        match (&self.caller, &other.caller) {
            (None, None) => true,
            (Some(a), Some(b)) => a.return_to == b.return_to && a.state.same_calls(&b.state),
            _ => false,
        }
    }

    /// `f` on this frame's state and each caller's.
    fn each_frame(&mut self, f: &mut dyn FnMut(&mut State)) {
        f(self);
        if let Some(c) = self.caller.as_mut() {
            c.state.each_frame(f);
        }
    }

    /// `proven` bytes of the packet (or, `meta`, of the metadata) past
    /// every pointer of the kind, copies, spills and callers' included:
    /// the kernel's `find_good_pkt_pointers`, over every frame.
    fn prove_packet(&mut self, meta: bool, proven: u64) {
        self.each_frame(&mut |st| {
            for v in st.regs.iter_mut().chain(st.stack.vals_mut()) {
                match v {
                    Val::Pkt(_, r) if !meta => *r = (*r).max(proven),
                    Val::PktMeta(_, r) if meta => *r = (*r).max(proven),
                    _ => {}
                }
            }
        });
    }

    fn join(&mut self, other: &State, widen: bool) -> bool {
        let before = self.clone();
        if let (Some(a), Some(b)) = (self.caller.as_mut(), other.caller.as_ref()) {
            a.state.join(&b.state, widen);
            a.stack_unfollowed |= b.stack_unfollowed;
        }
        self.var_ranges.retain_mut(|(id, r)| {
            match other.var_ranges.iter().find(|(o, _)| o == id) {
                Some(&(_, o)) => {
                    *r = (*r).min(o);
                    true
                }
                None => false,
            }
        });
        self.main &= other.main;
        self.refs.retain(|r| other.refs.contains(r));
        self.unwritten |= other.unwritten;
        self.past_end &= other.past_end;
        self.at_end &= other.at_end;
        for (a, b) in self.regs.iter_mut().zip(other.regs) {
            *a = a.join(b, widen);
        }
        self.stack.join(&other.stack, widen);
        *self != before
    }

    /// Forgets the registers outside `live` (bit per register), which no
    /// path from here reads before writing.
    fn forget_dead(&mut self, live: u16) {
        for (r, v) in self.regs.iter_mut().enumerate() {
            if live & regs::bit(r as u8) == 0 {
                *v = Val::Unset;
            }
        }
        self.unwritten &= live;
        self.keep_end_marks(live);
    }

    /// Keeps what is known of where packet pointers lie against
    /// `data_end` only for the registers in `kept`.
    fn keep_end_marks(&mut self, kept: u16) {
        self.past_end &= kept;
        self.at_end &= kept;
    }

    /// `f` on each number held as a copy under `link` (none for 0), in
    /// registers and stack slots of this frame and its callers' (the
    /// kernel's `find_equal_scalars` looks through every frame: a callee
    /// may have stored a copy into a caller's stack).
    fn each_linked(&mut self, link: u32, f: &mut dyn FnMut(&mut Scalar)) {
        if link == 0 {
            return;
        }
        self.each_frame(&mut |st| {
            for v in st.regs.iter_mut().chain(st.stack.vals_mut()) {
                if let Val::Scalar(o) = v {
                    if o.link == link {
                        f(o);
                    }
                }
            }
        });
    }

    /// The frame `up` calls above this one (0: this one), while calls are
    /// followed.
    fn frame(&self, up: u8) -> Option<&State> {
        match up {
            0 => Some(self),
            _ => self.caller.as_ref()?.state.frame(up - 1),
        }
    }

    /// [`State::frame`], to change.
    fn frame_mut(&mut self, up: u8) -> Option<&mut State> {
        match up {
            0 => Some(self),
            _ => self.caller.as_mut()?.state.frame_mut(up - 1),
        }
    }

    /// Forgets what the stack slots covering `len` bytes from `r10 +
    /// from` held (a write somewhere there): numbers now, the kernel's
    /// STACK_MISC.
    fn forget_stack(&mut self, from: i64, len: u64) {
        self.overwrite_stack(from, len, Val::Scalar(Scalar::unknown()));
    }

    /// The sample reserved at `id` no longer held (released, or NULL).
    fn release(&mut self, id: usize) {
        if let Some(k) = self.refs.iter().position(|&r| r == id) {
            self.refs.remove(k);
        }
    }

    /// The kernel's refusal of `what` at `pc` while the path holds a
    /// sample (its check_reference_leak, naming the first reserved).
    fn no_reference_held(&self, pc: usize, what: &str) -> Result<(), ContextError> {
        match self.refs.first() {
            Some(&r) => Err(ContextError {
                pc,
                message: format!("Unreleased reference id={r} alloc_insn={r}: {what}"),
            }),
            None => Ok(()),
        }
    }

    /// [`State::lose_stack`] of the frame `up` calls above this one, when
    /// there is one.
    fn lose_frame(&mut self, up: u8) {
        if let Some(frame) = self.frame_mut(up) {
            frame.lose_stack();
        }
    }

    /// Every slot of the frame unknown, a number or a pointer: what a
    /// callee given a pointer into it may have stored there.
    fn lose_stack(&mut self) {
        self.overwrite_stack(-(SLOTS as i64 * 8), SLOTS as u64 * 8, Val::Other);
    }

    /// The slots covering `len` bytes from `r10 + from` hold `v`.
    fn overwrite_stack(&mut self, from: i64, len: u64, v: Val) {
        let low = from.max(-(SLOTS as i64 * 8));
        let end = i128::from(from) + i128::from(len);
        let len = end.min(0) - i128::from(low);
        if len > 0 {
            for t in stack_slot(low, len as usize).1 {
                *self.stack.entry(t) = (v, KeyBytes::default());
            }
        }
    }

    /// A store of `size` bytes at r10 + `at` (aligned to its size, as the
    /// kernel insists), as the kernel's `check_stack_write_fixed_off`
    /// marks the slot for a privileged program: at a slot's bottom a
    /// register is spilled (an immediate as a constant number), elsewhere
    /// the bytes become STACK_ZERO when the value is a known 0 and
    /// STACK_MISC otherwise, and a spill the store lands in is scrubbed.
    /// `value`: the stored number's bounds when it is one. (Made after the
    /// slot's [`Val`] is set for the store: a narrow constant spill puts
    /// its number there.)
    fn note_stack_store(&mut self, at: i64, size: usize, value: Option<Scalar>) {
        if !(-(SLOTS as i64 * 8)..0).contains(&at) {
            return;
        }
        let slot = ((-at - 1) / 8) as usize;
        let byte = at.rem_euclid(8) as u32;
        let size = (size as u32).min(8 - byte);
        let known = value.filter(|v| v.sure).and_then(|v| v.exact());
        let (held, k) = self.stack.entry(slot);
        if byte == 0 {
            k.zero &= !byte_mask(0, size);
            k.spilled = size as u8;
            if let (Some(v), true) = (known, size < 8) {
                *held = Val::Scalar(Scalar::constant(v));
            }
            return;
        }
        if k.spilled != 0 {
            *k = KeyBytes::default();
        }
        if known == Some(0) {
            k.zero |= byte_mask(byte, size);
        } else {
            k.zero &= !byte_mask(byte, size);
        }
    }

    /// The key at r10 + `at` of `key_size` bytes, when the kernel knows it
    /// is a constant: zero bytes from there to the slot's top, or exactly
    /// the bytes of a constant number spilled there (the whole register's
    /// value, as the kernel takes it).
    fn constant_key(&self, at: i64, key_size: u32) -> Option<u64> {
        if !(-(SLOTS as i64 * 8)..0).contains(&at) {
            return None;
        }
        let slot = ((-at - 1) / 8) as usize;
        let k = self.stack.key(slot);
        let byte = at.rem_euclid(8) as u32;
        if (k.zero >> byte).trailing_ones() >= key_size {
            return Some(0);
        }
        let spilled = u32::from(k.spilled);
        let value = self
            .stack
            .val(slot)
            .scalar()
            .filter(|sc| sc.sure)
            .and_then(|sc| sc.exact())?;
        (byte < spilled && spilled - byte == key_size).then_some(value)
    }

    /// Bytes proven past a variable packet pointer of `id`.
    fn var_range(&self, id: usize) -> u64 {
        self.var_ranges
            .iter()
            .find(|(i, _)| *i == id)
            .map_or(0, |&(_, r)| r)
    }

    /// Proves `bytes` past the variable packet pointers of `id`.
    fn prove_var(&mut self, id: usize, bytes: u64) {
        // (In every frame: a caller's copies of the pointer share the id.)
        self.each_frame(
            &mut |st| match st.var_ranges.iter_mut().find(|(i, _)| *i == id) {
                Some((_, r)) => *r = (*r).max(bytes),
                None => {
                    st.var_ranges.push((id, bytes));
                    st.var_ranges.sort_unstable();
                }
            },
        );
    }

    /// Every packet pointer and range forgotten, in every frame, as the
    /// kernel forgets them after a call that may change the packet: the
    /// pointers become unknown numbers (for a privileged program: the
    /// kernel's `mark_reg_invalid`).
    fn forget_packet(&mut self) {
        self.each_frame(&mut |st| {
            for v in st.regs.iter_mut().chain(st.stack.vals_mut()) {
                if matches!(
                    v,
                    Val::Pkt(..) | Val::PktVar { .. } | Val::PktEnd | Val::PktMeta(..)
                ) {
                    *v = Val::Scalar(Scalar::unknown());
                }
            }
            st.var_ranges.clear();
            st.keep_end_marks(0);
        });
    }

    /// Stops following the variable packet pointers of `id`.
    fn forget_var(&mut self, id: usize) {
        self.each_frame(&mut |st| {
            for v in st.regs.iter_mut().chain(st.stack.vals_mut()) {
                if matches!(*v, Val::PktVar { id: i, .. } if i == id) {
                    *v = Val::Unknown;
                }
            }
            st.var_ranges.retain(|(i, _)| *i != id);
        });
    }
}

/// The 8-byte stack slot a `size`-byte access at `r10 + off` covers
/// exactly, or `None`; `touched` lists every slot it overlaps.
fn stack_slot(off: i64, size: usize) -> (Option<usize>, std::ops::Range<usize>) {
    if off >= 0 || off < -(SLOTS as i64 * 8) {
        return (None, 0..0);
    }
    let first = ((-off - 1) / 8) as usize;
    let last = ((-(off + size as i64 - 1) - 1).max(0) / 8) as usize;
    let exact = (size == 8 && off % 8 == 0).then_some(first);
    (exact, last.min(first)..first.max(last) + 1)
}

/// Checks and rewrites `prog`'s context accesses for `kind`.
pub fn rewrite(prog: &Program, kind: ContextKind) -> Result<Program, ContextError> {
    rewrite_with_maps(prog, kind, &[])
}

/// As [`rewrite`], with the object's `maps` (indexed as `lddw` map
/// references name them), so that stores into a read-only map's value are
/// refused as the kernel refuses them.
///
/// Paths are kept apart up to eight per instruction; a program that
/// pass refuses is explored again with 32 kept apart, whose verdict
/// stands (joined paths lose what only some of them know: most
/// programs need few paths, and keeping more costs memory and time on
/// every load).
pub fn rewrite_with_maps(
    prog: &Program,
    kind: ContextKind,
    maps: &[super::maps::MapDef],
) -> Result<Program, ContextError> {
    explore(prog, kind, maps, PATHS).or_else(|_| explore(prog, kind, maps, PATHS_AFTER_REFUSAL))
}

/// The kernel's refusal of a program without BTF function information
/// whose subprograms (functions but the first) use legacy packet loads or
/// tail calls (its `check_abnormal_return`, met before any other check of
/// the instructions): the first such function's, legacy loads before
/// tail calls.
pub fn check_subprograms_without_btf(prog: &Program) -> Result<(), ContextError> {
    let insns = &prog.insns;
    let functions = blocks::Functions::new(insns);
    for f in 1..functions.len() {
        let body = || functions.slots(f).map(|pc| (pc, &insns[pc]));
        let legacy_load = |i: &Insn| i.class() == op::LD && matches!(i.mode(), op::ABS | op::IND);
        let tail_call = |i: &Insn| {
            i.opc == op::CALL_IMM && i.src == 0 && i.imm as u32 == super::runtime::helper::TAIL_CALL
        };
        for (found, what) in [
            (body().find(|(_, i)| legacy_load(i)), "LD_ABS"),
            (body().find(|(_, i)| tail_call(i)), "tail_call"),
        ] {
            if let Some((pc, _)) = found {
                return Err(ContextError {
                    pc,
                    message: format!("{what} is not allowed in subprogs without BTF"),
                });
            }
        }
    }
    Ok(())
}

/// The hasher of the exploration's own keys.
type FxBuild = std::hash::BuildHasherDefault<crate::fxhash::FxHasher>;

/// A state's hash, to find an equal one among many quickly.
fn state_hash(s: &State) -> u64 {
    use std::hash::BuildHasher;
    FxBuild::default().hash_one(s)
}

/// The pass, keeping up to `paths` states apart per instruction.
fn explore(
    prog: &Program,
    kind: ContextKind,
    maps: &[super::maps::MapDef],
    paths: usize,
) -> Result<Program, ContextError> {
    let insns = &prog.insns;
    let n = insns.len();
    // The states reaching each instruction, path by path as the kernel
    // explores them (`nh_off` 14 on one path and 18 on another stay two
    // states, each checked), up to `paths`; past that the last one joins
    // every further path.
    let mut states: Vec<Vec<Box<State>>> = vec![Vec::new(); n];
    // Joins at each instruction: past a few, a loop's numbers are widened.
    let mut joins: Vec<u32> = vec![0; n];
    if n == 0 {
        return Ok(prog.clone());
    }
    let mut entry = State::unset();
    entry.regs[1] = Val::Ctx(0);
    entry.regs[10] = Val::Stack(0);
    entry.main = true;
    // (Only r1 and r10 hold anything at entry, for the kernel's program
    // types; raw programs' r2 is this runtime's.)
    entry.unwritten = regs::ALL & !(regs::bit(1) | regs::FP);
    let mut state_hashes: Vec<Vec<u64>> = vec![Vec::new(); n];
    // States kept apart in and after loops beyond what other instructions
    // keep.
    let mut loop_split = 0usize;
    state_hashes[0].push(state_hash(&entry));
    states[0].push(Box::new(entry));
    // Reads before writes are checked here, path by path as the kernel
    // explores them (the verifier's own data flow joins every path, and
    // would refuse a read that only paths the kernel never takes leave
    // unwritten). A subprogram's exit passes r0 on as it is, so after a
    // local call r0 may be unwritten if some exit of the callee leaves
    // it so (found as exits are reached: the calls are then visited
    // again).
    let functions = blocks::Functions::new(insns);
    let mut returns_r0 = vec![true; functions.len()];
    let live = blocks::live_registers(insns, blocks::PacketLoads::ReadContext);
    let on_or_after_loop = blocks::on_or_after_loops(insns);
    let changes_packet_data = functions_changing_packet(insns, &functions);
    // (instruction, which of its states)
    let mut work = vec![(0usize, 0usize)];
    // States kept beyond each instruction's first, program-wide.
    let mut split = 0usize;
    let mut rewritten = insns.clone();
    // Each (instruction, path) in the order first explored: the order in
    // which the kernel's depth-first search meets them, in which the
    // checks below are made, so that of several refusals the one named
    // is the kernel's.
    let mut visited: Vec<(usize, usize)> = Vec::new();
    // Refusals of paths joined into the state at (instruction, path),
    // found as they joined.
    let mut joined_refusals = std::collections::HashMap::new();
    let mut seen: std::collections::HashSet<_, FxBuild> = Default::default();
    // (A refusal made while exploring ends it; checks of what was
    // explored before it come first.)
    let explored = (|| -> Result<(), ContextError> {
        while let Some((pc, path)) = work.pop() {
            let Some(state) = states[pc].get(path).map(|s| State::clone(s)) else {
                continue;
            };
            if seen.insert((pc, path)) {
                visited.push((pc, path));
            }
            let i = insns[pc];
            let mut s = state;
            let (_, writes, clobbers) = i.register_effects();
            if functions.is_subprogram_exit(pc, &i) && s.unwritten & regs::R0 != 0 {
                let f = functions.index_of(pc);
                if std::mem::replace(&mut returns_r0[f], false) {
                    for call in functions.calls_to(f) {
                        work.extend((0..states[call].len()).map(|path| (call, path)));
                    }
                }
            }
            if !i.is_local_call() {
                s.unwritten &= !writes;
                let (past, at) = (s.past_end, s.at_end);
                s.keep_end_marks(!writes);
                if clobbers {
                    s.unwritten |= regs::ARGS;
                    s.keep_end_marks(!regs::ARGS);
                }
                // A copy keeps what is known of the pointer.
                if i.opc == op::ALU64 | op::MOV | op::X && i.off == 0 {
                    let (from, to) = (regs::bit(i.src & 15), regs::bit(i.dst & 15));
                    if past & from != 0 {
                        s.past_end |= to;
                    }
                    if at & from != 0 {
                        s.at_end |= to;
                    }
                }
            }
            // Whether the state will be explored as itself, or within a
            // join it changed (`false`: a join that already covered it, by a
            // state perhaps being explored now).
            let mut flow = |to: usize, mut st: State, work: &mut Vec<(usize, usize)>| -> bool {
                if to >= n {
                    return true;
                }
                // What dead registers hold makes no path different (the
                // kernel's liveness does the same for its pruning).
                st.forget_dead(live[to]);
                let here = &mut states[to];
                let hashes = &mut state_hashes[to];
                let hash = state_hash(&st);
                // (Hashes first: a loop keeps hundreds of states per
                // instruction, and comparing each whole was most of a load.)
                if let Some(k) = (0..here.len()).find(|&k| hashes[k] == hash && *here[k] == st) {
                    // A state already waiting is explored now, as the
                    // kernel (which keeps no list of pending states to
                    // prune against) explores this path's copy of it.
                    if !seen.contains(&(to, k)) {
                        work.push((to, k));
                    }
                    return true;
                }
                let kept = if on_or_after_loop[to] && loop_split < LOOP_SPLIT_STATES {
                    paths.max(LOOP_PATHS)
                } else {
                    paths
                };
                // (Only states in the same chain of calls join.)
                let last = here.iter().rposition(|h| h.same_calls(&st));
                let Some(last) = last.filter(|_| here.len() >= kept || split >= SPLIT_STATES)
                else {
                    split += usize::from(!here.is_empty());
                    loop_split += usize::from(here.len() >= paths);
                    here.push(Box::new(st));
                    hashes.push(hash);
                    work.push((to, here.len() - 1));
                    return true;
                };
                let st = &st;
                // A path joined into another is checked at the instruction
                // it reaches as if it had been kept apart: the join may
                // lose what refuses it (a packet pointer at one offset on
                // this path and another on the other is no longer
                // followed).
                if let Err(e) = check_path(to, &insns[to], st, kind, maps) {
                    joined_refusals.entry((to, last)).or_insert(e);
                }
                joins[to] = joins[to].saturating_add(1);
                let widen = joins[to] > 8;
                let changed = here[last].join(st, widen);
                if changed {
                    hashes[last] = state_hash(&here[last]);
                    work.push((to, last));
                }
                changed
            };
            let dst = (i.dst & 15).min(10) as usize;
            let src = (i.src & 15).min(10) as usize;
            let size = semantics::size_bytes(i.size_field());
            // A local call's callee, followed once the caller's next
            // instruction is queued.
            let mut callee_entry: Option<(usize, State)> = None;
            // The call is followed: the caller goes on from the callee's
            // exits, not from here.
            let mut returns_later = false;
            // An `and` or `or` with a constant of a number that is 0 or -1
            // (LLVM's `x s>> 63` select): the kernel explores each value
            // apart, -1 first (the running 6.18 does, in either width).
            // The path as 0 waits at this instruction; should it be joined
            // into a state that already covered it (this one, perhaps),
            // this path goes on with both values rather than lose it.
            if let Some([minus_one, zero]) = fork_of_mask(&i, &s) {
                let mut other = s.clone();
                other.regs[dst] = Val::Scalar(zero);
                if flow(pc, other, &mut work) {
                    s.regs[dst] = Val::Scalar(minus_one);
                }
            }
            match i.class() {
                op::ALU64 | op::ALU => {
                    let imm = i64::from(i.imm);
                    // (The kernel's check_alu_op refuses a shift by a constant
                    // outside the width, which the ISA defines, before looking
                    // at the operands.)
                    let width = if i.class() == op::ALU64 { 64 } else { 32 };
                    if matches!(i.op(), op::LSH | op::RSH | op::ARSH)
                        && !i.is_src_reg()
                        && !(0..width).contains(&i.imm)
                    {
                        return Err(ContextError {
                            pc,
                            message: format!("invalid shift {}", i.imm),
                        });
                    }
                    pointer_arithmetic(pc, &i, &s)?;
                    // The operand: a register, or the immediate as the class
                    // extends it.
                    let operand = if i.is_src_reg() {
                        s.regs[src]
                    } else if i.class() == op::ALU64 {
                        Val::Scalar(Scalar::constant(imm as u64))
                    } else {
                        Val::Scalar(Scalar::constant(u64::from(i.imm as u32)))
                    };
                    // A pointer moved by a constant keeps its kind.
                    // (By a register the kernel knows to hold a constant
                    // too: its own offset moves then.)
                    let by = if i.is_src_reg() {
                        operand
                            .scalar()
                            .filter(|sc| sc.sure)
                            .and_then(|sc| sc.exact())
                            .map(|k| k as i64)
                    } else {
                        Some(imm)
                    };
                    let moved = by
                        .filter(|_| i.class() == op::ALU64 && matches!(i.op(), op::ADD | op::SUB))
                        .and_then(|k| s.regs[dst].moved_by(pc, k, i.op() == op::SUB))
                        .transpose()?;
                    let dst_before = s.regs[dst];
                    s.regs[dst] = match (moved, i.class(), i.op(), i.is_src_reg(), dst_before) {
                        (Some(v), ..) => v,
                        (None, op::ALU64, op::MOV, true, _) if i.off == 0 => match s.regs[src] {
                            // A copy of a number not yet linked: both become
                            // copies of one number (a link named by this
                            // instruction, taken first from any older copies
                            // it named, which hold another number now).
                            Val::Scalar(sc) if sc.link == 0 && sc.exact().is_none() => {
                                // (Programs are far shorter than 2^32.)
                                let link = u32::try_from(pc + 1).unwrap_or(u32::MAX);
                                s.each_linked(link, &mut |o| o.link = 0);
                                let linked = Val::Scalar(Scalar { link, ..sc });
                                s.regs[src] = linked;
                                linked
                            }
                            v => v,
                        },
                        // A move of a number overwrites whatever the register
                        // held.
                        (None, _, op::MOV, _, d) if operand.is_number() => {
                            number_alu(&i, d, operand)
                        }
                        // A packet or map value pointer plus a number, either
                        // way round.
                        (None, op::ALU64, op::ADD, true, p) if operand.is_number() && p.moves() => {
                            pointer_plus(pc, p, operand)?
                        }
                        // A constant the kernel knows plus a pointer: the
                        // pointer moved.
                        (None, op::ALU64, op::ADD, true, d)
                            if d.scalar().is_some_and(|sc| sc.sure && sc.exact().is_some())
                                && operand.kernel_type().is_some() =>
                        {
                            let k = d.scalar().and_then(|sc| sc.exact()).unwrap_or(0) as i64;
                            // (Pointers a constant does not move, a map's,
                            // are not followed; every one that `moves` is.)
                            operand
                                .moved_by(pc, k, false)
                                .transpose()?
                                .unwrap_or(Val::Unknown)
                        }
                        (None, op::ALU64, op::ADD, true, d) if d.is_number() => match operand {
                            p if p.moves() => pointer_plus(pc, p, d)?,
                            _ if operand.is_number() || matches!(operand, Val::Stack(_)) => {
                                number_alu(&i, d, operand)
                            }
                            _ => Val::Unknown,
                        },
                        // Any other move replaces the register with what the
                        // kernel makes a number (a 32-bit or sign-extending
                        // copy of a pointer, for programs it lets see
                        // pointers), whatever it held.
                        (None, _, op::MOV, ..) => Val::Other,
                        // A 32-bit subtraction with a pointer, and one
                        // pointer less another: numbers the kernel knows
                        // nothing of (what it allows a privileged
                        // program; `pointer_arithmetic` refused the rest).
                        (None, op::ALU, op::SUB, _, d)
                            if d.kernel_type().is_some() || operand.kernel_type().is_some() =>
                        {
                            Val::Scalar(Scalar::unknown())
                        }
                        (None, op::ALU64, op::SUB, true, d)
                            if d.kernel_type().is_some() && operand.kernel_type().is_some() =>
                        {
                            Val::Scalar(Scalar::unknown())
                        }
                        (None, _, _, _, Val::Ctx(_) | Val::Mixed) => Val::Mixed,
                        (None, _, _, _, v) if v.is_packet_pointer() => Val::Unknown,
                        (None, _, _, _, _) if operand.is_packet_pointer() => Val::Unknown,
                        (None, _, _, _, d) => number_alu(&i, d, operand),
                    };
                    // A pointer into a caller's frame that is no longer one
                    // (moved by a number not known, or mixed into one):
                    // what is stored through it from here is not followed,
                    // so that frame's slots are no longer known.
                    for before in [dst_before, operand] {
                        if let Val::OuterStack(up, _) = before {
                            if !matches!(s.regs[dst], Val::OuterStack(u, _) if u == up) {
                                s.lose_frame(up);
                            }
                        }
                    }
                }
                op::LDX => {
                    let base = s.regs[src];
                    let loaded = access(kind, pc, &i, base, size, false)?;
                    let stack = match base {
                        Val::Stack(o) | Val::OuterStack(_, o) => {
                            Some(stack_slot(o + i64::from(i.off), size).0)
                        }
                        Val::StackVar { .. } => Some(None),
                        _ => None,
                    };
                    // The frame whose slots a stack pointer reads (this
                    // function's, or a caller's).
                    let frame = match base {
                        Val::OuterStack(up, _) => s.frame(up),
                        _ => Some(&s),
                    };
                    // Packet and context bytes are unknown to the kernel too;
                    // through another pointer (a map value, a copy of r10, a
                    // frozen .rodata) it may know more.
                    let from_data = matches!(
                        base,
                        Val::Pkt(..)
                            | Val::PktVar { .. }
                            | Val::PktMeta(..)
                            | Val::Ctx(_)
                            | Val::MapValue { .. }
                            | Val::ReadOnly(..)
                    );
                    // `.rodata` is frozen once loaded: the kernel reads the
                    // bytes a load at a known offset gets.
                    let constant = rodata_constant(&i, base, size, maps);
                    // What the kernel makes of stack bytes that hold no
                    // register it tracks (never written, or written in
                    // part): a number, whose bounds it may know better.
                    let unsure = Val::Scalar(Scalar {
                        sure: false,
                        ..if i.mode() == op::MEMSX {
                            Scalar::loaded_signed(size)
                        } else {
                            Scalar::loaded(size)
                        }
                    });
                    let value = match (stack, constant, frame) {
                        (Some(Some(slot)), _, Some(f)) => match f.stack.val(slot) {
                            Val::Unset => unsure,
                            // (Eight bytes of a narrower spill.)
                            _ if !matches!(f.stack.key(slot).spilled, 0 | 8) => unsure,
                            v => v,
                        },
                        // (Part of a spilled pointer: not followed.)
                        (Some(None), _, Some(f)) => match base {
                            Val::Stack(o) | Val::OuterStack(_, o)
                                if stack_slot(o + i64::from(i.off), size)
                                    .1
                                    .any(|t| f.stack.val(t).is_pointer()) =>
                            {
                                Val::Other
                            }
                            // (At a variable offset: a number too.)
                            Val::Stack(_) | Val::OuterStack(..) | Val::StackVar { .. } => unsure,
                            _ => Val::Other,
                        },
                        (Some(_), _, None) => Val::Other,
                        (None, Some(v), _) => Val::Scalar(Scalar::constant(v)),
                        // A zero-extended load: bounded by its size.
                        _ if i.mode() == op::MEM && (size < 8 || from_data) => {
                            Val::Scalar(Scalar {
                                sure: from_data,
                                ..Scalar::loaded(size)
                            })
                        }
                        // A sign-extended one: its type's signed range.
                        _ if i.mode() == op::MEMSX => Val::Scalar(Scalar {
                            sure: from_data,
                            ..Scalar::loaded_signed(size)
                        }),
                        _ => Val::Other,
                    };
                    // A frame pointer read from a caller's frame points
                    // as far up from here.
                    let value = match (base, value) {
                        (Val::OuterStack(up, _), Val::Stack(o)) => Val::OuterStack(up, o),
                        (Val::OuterStack(up, _), Val::OuterStack(k, o)) => {
                            Val::OuterStack(up + k, o)
                        }
                        (Val::OuterStack(up, _), Val::StackVar { .. }) => {
                            s.lose_frame(up);
                            Val::Other
                        }
                        (_, v) => v,
                    };
                    s.regs[dst] = value;
                    if let Some((new, pointer)) = loaded {
                        rewritten[pc] = new;
                        s.regs[dst] = pointer;
                    }
                }
                op::ST | op::STX => {
                    access(kind, pc, &i, s.regs[dst], size, true)?;
                    let into = match s.regs[dst] {
                        Val::Stack(o) => Some((0, o)),
                        Val::OuterStack(up, o) => Some((up, o)),
                        _ => None,
                    };
                    let value = s.regs[src];
                    // (The kernel's check_stack_write_fixed_off: a frame
                    // pointer would outlive the frame it points into.)
                    if into.is_some_and(|(up, _)| up > 0)
                        && i.class() == op::STX
                        && i.mode() == op::MEM
                        && value.is_stack_pointer()
                    {
                        return Err(ContextError {
                            pc,
                            message: "cannot spill pointers to stack into stack frame of the \
                                      caller"
                                .into(),
                        });
                    }
                    if let Some((o, frame)) = into.and_then(|(up, o)| Some((o, s.frame_mut(up)?))) {
                        let at = o + i64::from(i.off);
                        let stored = match (i.class(), i.mode()) {
                            (op::ST, _) => Some(Scalar::constant(i64::from(i.imm) as u64)),
                            (_, op::MEM) => value.scalar(),
                            // (An atomic's result is a number the kernel
                            // does not know.)
                            _ => Some(Scalar::unknown()),
                        };
                        let (exact, touched) = stack_slot(o + i64::from(i.off), size);
                        // Bytes stored in part of a slot make it a number
                        // for the kernel (STACK_MISC, a spill there
                        // scrubbed; a pointer may not be stored so).
                        for t in touched {
                            frame.stack.entry(t).0 = Val::Scalar(Scalar {
                                sure: false,
                                ..Scalar::unknown()
                            });
                        }
                        match (exact, i.class(), i.mode()) {
                            (Some(slot), op::STX, op::MEM) => frame.stack.entry(slot).0 = value,
                            // (An immediate stored whole: the kernel
                            // spills it as a constant.)
                            (Some(slot), op::ST, _) => {
                                frame.stack.entry(slot).0 =
                                    Val::Scalar(Scalar::constant(i64::from(i.imm) as u64));
                            }
                            _ => {}
                        }
                        frame.note_stack_store(at, size, stored);
                    }
                    if let Val::StackVar { off, vmin, .. } = s.regs[dst] {
                        // Any slot from the lowest byte it may write up.
                        let from = off.saturating_add(vmin).saturating_add(i64::from(i.off));
                        s.forget_stack(from, u64::MAX);
                    }
                    if i.class() == op::STX && i.mode() == op::ATOMIC {
                        // What an atomic fetches is a number the kernel
                        // loaded (bounds by its size, not followed further).
                        let fetched = Val::Scalar(Scalar {
                            sure: false,
                            ..Scalar::loaded(size)
                        });
                        if i.imm == op::CMPXCHG {
                            s.regs[0] = fetched;
                        } else if i.imm & op::FETCH != 0 {
                            s.regs[src] = fetched;
                        }
                    }
                }
                op::LD => {
                    if i.is_lddw() {
                        // libbpf's BPF_PSEUDO_MAP_FD: a map, for the helpers.
                        let map = maps.get(i.imm as u32 as usize);
                        let offset = insns.get(pc + 1).map_or(0, |hi| i64::from(hi.imm as u32));
                        s.regs[dst] = match (i.src, map) {
                            // A 64-bit constant (a CO-RE result among
                            // them: the branches it decides are followed
                            // as the kernel follows them).
                            (0, _) => Val::Scalar(Scalar::constant(i.imm64(insns.get(pc + 1)))),
                            (1, _) => Val::MapPtr(i.imm as u32 as usize),
                            (2, Some(m)) if m.read_only => {
                                Val::ReadOnly(offset, m.value_size, Some(i.imm as u32))
                            }
                            (2, Some(m)) => Val::MapValue {
                                off: offset,
                                size: m.value_size,
                                vmin: 0,
                                vhi: 0,
                                bits: Some(Tnum::constant(0)),
                            },
                            _ => Val::Other,
                        };
                        flow(pc + 2, s, &mut work);
                        continue;
                    }
                    // (A legacy load may end the program, out of the
                    // packet: the kernel's check_ld_abs refuses one while
                    // a sample is held.)
                    s.no_reference_held(
                        pc,
                        "BPF_LD_[ABS|IND] would lead to reference leak (a legacy packet load \
                         may end the program while the sample reserved there is held)",
                    )?;
                    // A legacy packet load: r0 a number the kernel knows
                    // nothing of, r1-r5 clobbered.
                    for r in 1..=5 {
                        s.regs[r] = Val::Other;
                    }
                    s.regs[0] = Val::Scalar(Scalar::unknown());
                }
                _ => match i.op() {
                    op::EXIT => {
                        // The program's own exit: every sample reserved on
                        // the path must have been submitted or discarded
                        // (the kernel's check_reference_leak).
                        if s.caller.is_none() && !functions.is_subprogram_exit(pc, &i) {
                            s.no_reference_held(
                                pc,
                                "the sample bpf_ringbuf_reserve gives there is neither \
                                 submitted nor discarded on this path to the exit",
                            )?;
                        }
                        // (The kernel's prepare_func_exit refuses any stack
                        // pointer, even one into a frame that lives on.)
                        if functions.is_subprogram_exit(pc, &i) && s.regs[0].is_stack_pointer() {
                            return Err(ContextError {
                                pc,
                                message: "cannot return stack pointer to the caller".into(),
                            });
                        }
                        // A followed call's callee returns: the caller goes
                        // on with r0 as the callee left it.
                        if let Some(caller) = s.caller.take() {
                            let Caller {
                                state: mut back,
                                return_to,
                                stack_unfollowed,
                            } = *caller;
                            back.regs[0] = s.regs[0];
                            back.refs = std::mem::take(&mut s.refs);
                            back.unwritten =
                                (back.unwritten & !regs::R0) | (s.unwritten & regs::R0);
                            if stack_unfollowed {
                                back.lose_stack();
                            }
                            flow(return_to, back, &mut work);
                        }
                        continue;
                    }
                    op::CALL if i.src == op::CALL_LOCAL && !i.is_src_reg() => {
                        // The callee starts with the arguments and a fresh frame
                        // (a pointer into the caller's stack is one into a
                        // frame above it).
                        let mut callee = State::unset();
                        let followed = s.depth() + 1 < super::MAX_CALL_FRAMES;
                        for r in 1..=5 {
                            callee.regs[r] = match s.regs[r] {
                                Val::Stack(o) if followed => Val::OuterStack(1, o),
                                Val::OuterStack(up, o) if followed => Val::OuterStack(up + 1, o),
                                Val::Stack(_) | Val::OuterStack(..) | Val::StackVar { .. } => {
                                    Val::Other
                                }
                                v => v,
                            };
                        }
                        callee.regs[10] = Val::Stack(0);
                        callee.var_ranges = s.var_ranges.clone();
                        if followed {
                            // (The path's references go with it.)
                            callee.refs = std::mem::take(&mut s.refs);
                        }
                        callee.unwritten =
                            (s.unwritten & regs::ARGS) | regs::R0 | regs::CALLEE_SAVED;
                        let to = (pc as i64 + 1 + i64::from(i.imm)) as usize;
                        // Frames a pointer the callee is given in a form
                        // not followed may reach (a bit per frame up).
                        let mut unfollowed = 0u32;
                        for v in &s.regs[1..=5] {
                            match *v {
                                Val::StackVar { .. } => unfollowed |= 1,
                                Val::Stack(_) if !followed => unfollowed |= 1,
                                Val::OuterStack(up, _) if !followed => unfollowed |= 1 << up,
                                _ => {}
                            }
                        }
                        for r in 0..=5 {
                            s.regs[r] = Val::Other;
                        }
                        if followed {
                            // Followed as the kernel follows it: the caller
                            // goes on from each of the callee's exits, with
                            // what the callee proved of its packet pointers.
                            let mut back = s.clone();
                            back.unwritten = (s.unwritten & regs::CALLEE_SAVED) | regs::ARGS;
                            back.keep_end_marks(regs::CALLEE_SAVED);
                            back.forget_dead(live.get(pc + 1).copied().unwrap_or(0) | regs::R0);
                            callee.caller = Some(Box::new(Caller {
                                state: back,
                                return_to: pc + 1,
                                stack_unfollowed: unfollowed & 1 != 0,
                            }));
                            callee_entry = Some((to, callee));
                            returns_later = true;
                        } else {
                            // (Deeper than the kernel allows, which the
                            // verifier refuses unless a budget lets
                            // recursion run: the callee explored apart, the
                            // caller going on with what any callee leaves.)
                            callee_entry = Some((to, callee));
                            if to < n && changes_packet_data[functions.index_of(to)] {
                                s.forget_packet();
                            }
                            for up in (0..32u8).filter(|up| unfollowed & (1 << up) != 0) {
                                s.lose_frame(up);
                            }
                            let r0 = if returns_r0[functions.index_of(to)] {
                                0
                            } else {
                                regs::R0
                            };
                            s.unwritten = (s.unwritten & regs::CALLEE_SAVED) | regs::ARGS | r0;
                            s.keep_end_marks(regs::CALLEE_SAVED);
                        }
                    }
                    op::CALL => {
                        // (A helper served to another program type only is
                        // refused by `check_path`, before its arguments.)
                        let lookup = if i.is_src_reg() {
                            Lookup::Value(None)
                        } else {
                            map_argument(pc, i.imm, &s, maps)?
                        };
                        let reserved = if i.is_src_reg() {
                            None
                        } else {
                            ring_buffer_arguments(pc, i.imm, &s)?
                        };
                        if !i.is_src_reg() && i.imm == 12 {
                            s.no_reference_held(
                                pc,
                                "tail_call would lead to reference leak (the sample reserved \
                                 there is still held)",
                            )?;
                        }
                        let elided = match lookup {
                            _ if i.is_src_reg() || i.imm != 1 => None,
                            _ if constant_array_key(&s, maps).is_none() => None,
                            Lookup::Value(Some(size)) => Some(Val::MapValue {
                                off: 0,
                                size,
                                vmin: 0,
                                vhi: 0,
                                bits: Some(Tnum::constant(0)),
                            }),
                            Lookup::ReadOnly(size) => Some(Val::ReadOnly(0, size, None)),
                            _ => None,
                        };
                        // What a helper writes into the stack is a number
                        // there now (the kernel's STACK_MISC): the whole rest
                        // of the frame when the size is not known.
                        for a in prototype(i.imm).memory.iter().filter(|a| a.write) {
                            let size = match a.size {
                                ArgSize::Reg(n, _) => {
                                    s.regs[n].scalar().map_or(u64::MAX, |sc| sc.hi)
                                }
                                ArgSize::Fixed(n) => n,
                                ArgSize::Key | ArgSize::Value => u64::MAX,
                            };
                            match s.regs[a.reg] {
                                Val::Stack(o) => s.forget_stack(o, size),
                                Val::OuterStack(up, o) => {
                                    if let Some(frame) = s.frame_mut(up) {
                                        frame.forget_stack(o, size);
                                    }
                                }
                                Val::StackVar { off, vmin, .. } => {
                                    s.forget_stack(off.saturating_add(vmin), u64::MAX);
                                }
                                _ => {}
                            }
                        }
                        let released = s.regs[1];
                        for r in 0..=5 {
                            s.regs[r] = Val::Other;
                        }
                        match (i.is_src_reg(), i.imm) {
                            // An array's value at a constant key inside
                            // it is never NULL (the kernel's
                            // can_elide_value_nullness).
                            (false, 1) if elided.is_some() => {
                                s.regs[0] = elided.unwrap_or(Val::Other);
                            }
                            (false, 1) => s.regs[0] = Val::MapOrNull(pc, lookup),
                            // RET_INTEGER with no range refined: any 64-bit
                            // value for the kernel.
                            (false, h) if prototype(h).any_number => {
                                s.regs[0] = Val::Scalar(Scalar::unknown());
                            }
                            // bpf_ringbuf_reserve (whose release `samples`
                            // checks).
                            (false, 131) => {
                                s.regs[0] = Val::MapOrNull(pc, Lookup::Sample(reserved));
                                s.refs.push(pc);
                            }
                            // bpf_ringbuf_submit, _discard: the pointer and
                            // its copies in every frame are numbers now (the
                            // kernel's release_reference, for a privileged
                            // program).
                            (false, 132 | 133) => {
                                if let Val::Sample { id, .. } = released {
                                    s.release(id);
                                    s.each_frame(&mut |st| {
                                        for v in st.regs.iter_mut().chain(st.stack.vals_mut()) {
                                            if matches!(*v, Val::Sample { id: i, .. } if i == id) {
                                                *v = Val::Scalar(Scalar::unknown());
                                            }
                                        }
                                    });
                                }
                            }
                            _ => {}
                        }
                        // A helper returning nothing (the kernel's RET_VOID:
                        // tail_call when it fails, ringbuf_submit and
                        // _discard) leaves r0 unwritten.
                        if !i.is_src_reg() && matches!(i.imm, 12 | 132 | 133) {
                            s.regs[0] = Val::Unset;
                            s.unwritten |= regs::R0;
                        }
                        // A helper that changes the packet: the kernel
                        // forgets every packet pointer and range.
                        if !i.is_src_reg() && changes_packet(i.imm) {
                            s.forget_packet();
                        }
                    }
                    _ => {}
                },
            }
            let [next, target] = i.successors(pc);
            // The side of a comparison the kernel never explores: it compares
            // numbers it knows to be constants (its is_branch_taken) and
            // follows only the side they give. Checking the other side's
            // accesses would refuse programs the kernel accepts.
            let dead_side = decided_branch(&i, &s).or_else(|| packet_end_decides(&i, &s));
            let (mut on_next, mut on_target) = (s.clone(), s);
            // `if rX == 0` / `if rX != 0` on a lookup's result: a map value on
            // one side, 0 on the other, for every copy of it.
            if let (Some((id, lookup)), false) = (null_check_id(&i, &on_next), i.is_src_reg()) {
                let value = match lookup {
                    Lookup::Value(Some(size)) => Val::MapValue {
                        off: 0,
                        size,
                        vmin: 0,
                        vhi: 0,
                        bits: Some(Tnum::constant(0)),
                    },
                    Lookup::Value(None) => Val::Other,
                    Lookup::ReadOnly(size) => Val::ReadOnly(0, size, None),
                    Lookup::Inner(outer) => Val::InnerMap(outer),
                    Lookup::Sample(size) => Val::Sample { id, off: 0, size },
                };
                // (The side where it is 0 holds the number 0, as the
                // kernel's mark_ptr_or_null_regs makes it: it may be
                // returned to a caller, who may compute with it.)
                let null_on_target = i.op() == op::JEQ;
                for (st, null) in [
                    (&mut on_next, !null_on_target),
                    (&mut on_target, null_on_target),
                ] {
                    let value = if null && i.class() == op::JMP {
                        Val::Scalar(Scalar::constant(0))
                    } else {
                        value
                    };
                    // (NULL: no sample was reserved, nothing is held.)
                    if null && matches!(lookup, Lookup::Sample(_)) {
                        st.release(id);
                    }
                    for v in st.regs.iter_mut().chain(st.stack.vals_mut()) {
                        if *v == Val::MapOrNull(id, lookup) {
                            *v = value;
                        }
                    }
                }
            }
            if let Some((branch_taken, pointer, proven)) = packet_check(&i, &on_next) {
                let st = if branch_taken {
                    &mut on_target
                } else {
                    &mut on_next
                };
                match pointer {
                    Val::PktVar {
                        id, off, max, sure, ..
                    } => {
                        // The kernel's find_good_pkt_pointers: no range for a
                        // pointer that may lie past MAX_PACKET_OFF. Where
                        // these bounds say so and the kernel's may not, the
                        // pointer is no longer followed rather than refused.
                        if off >= 0 && max.saturating_add(off as u64) <= MAX_PACKET_OFF {
                            st.prove_var(id, proven);
                        } else if !sure {
                            on_next.forget_var(id);
                            on_target.forget_var(id);
                        }
                    }
                    // (Nor for a constant offset past it.)
                    Val::Pkt(o, _) | Val::PktMeta(o, _) if o as u64 > MAX_PACKET_OFF => {}
                    // (Every pointer of the kind, copies and spills
                    // included, as the kernel's find_good_pkt_pointers.)
                    Val::Pkt(..) | Val::PktMeta(..) => {
                        st.prove_packet(matches!(pointer, Val::PktMeta(..)), proven);
                    }
                    _ => {}
                }
            }
            if let Some((reg, on_target_side, past)) = packet_end_mark(&i, &on_next) {
                let st = if on_target_side {
                    &mut on_target
                } else {
                    &mut on_next
                };
                let bit = regs::bit(reg);
                if past {
                    st.past_end |= bit;
                } else {
                    st.at_end |= bit;
                }
            }
            // A comparison of a number with a constant (an immediate, or a
            // register holding one, either way round) bounds it on each side.
            if let Some((reg, code, k, _)) = compared(&i, &on_next) {
                for (st, taken) in [(&mut on_next, false), (&mut on_target, true)] {
                    // (Only numbers followed: `Other` may be a pointer,
                    // which a comparison with 0 does not make a number.)
                    if let Some(sc) = st.regs[reg]
                        .scalar()
                        .and_then(|sc| scalar::refine(i.class(), code, sc, k, taken))
                    {
                        st.regs[reg] = Val::Scalar(sc);
                        // Its copies are the same number.
                        // (What the kernel may have learnt and this did
                        // not, it learnt for them too.)
                        st.each_linked(sc.link, &mut |o| match o.meet(sc) {
                            Some(m) => *o = m,
                            None => o.sure &= sc.sure,
                        });
                    }
                }
            }
            // The jump's target goes on the work list first, so the next
            // instruction's path is taken first: the kernel's order (it
            // explores the fall-through first), so where several paths are
            // refused, the first refused is the one the kernel names.
            if let Some(to) = target.filter(|_| dead_side != Some(true)) {
                flow(to, on_target, &mut work);
            }
            if let Some(to) = next.filter(|_| dead_side != Some(false) && !returns_later) {
                flow(to, on_next, &mut work);
            }
            if let Some((to, callee)) = callee_entry {
                flow(to, callee, &mut work);
            }
        }
        Ok(())
    })();
    // Packet accesses are checked once the states are final (an early
    // visit may see a pointer that a later join makes untracked); so is
    // the memory helpers are given.
    for &(pc, path) in &visited {
        let i = &insns[pc];
        let paths = &states[pc];
        if let Some(s) = paths.get(path) {
            check_reads(pc, i, s, &functions)?;
            check_path(pc, i, s, kind, maps)?;
        }
        if let Some(e) = joined_refusals.remove(&(pc, path)) {
            return Err(e);
        }
        // One instruction reading the context on one path and other
        // memory on another: the kernel's refusal when the second path
        // gets there (a join of the paths' pointers says so; each path
        // alone is fine).
        let base = match i.class() {
            op::LDX => Some(i.src),
            op::ST | op::STX => Some(i.dst),
            _ => None,
        };
        if let Some(reg) = base.filter(|_| path > 0) {
            let reg = usize::from(reg & 15).min(10);
            let joined = paths
                .iter()
                .take(path + 1)
                .map(|s| s.regs[reg])
                .reduce(|a, b| a.join(b, false));
            if joined == Some(Val::Mixed) {
                let size = semantics::size_bytes(i.size_field());
                access(kind, pc, i, Val::Mixed, size, i.class() != op::LDX)?;
            }
        }
    }
    explored?;
    Ok(Program::new(rewritten))
}

/// What a load of `size` bytes from a frozen `.rodata` value at a known
/// offset reads (zero- or sign-extended as the load is): the kernel's
/// `bpf_map_direct_read`. `None` for other loads, or outside the value.
fn rodata_constant(i: &Insn, base: Val, size: usize, maps: &[super::maps::MapDef]) -> Option<u64> {
    let Val::ReadOnly(off, value_size, Some(map)) = base else {
        return None;
    };
    let at = usize::try_from(off.checked_add(i64::from(i.off))?).ok()?;
    if at.checked_add(size)? > value_size as usize || !matches!(size, 1 | 2 | 4 | 8) {
        return None;
    }
    let initial = maps.get(map as usize)?.initial.as_deref().unwrap_or(&[]);
    let mut bytes = [0u8; 8];
    for (k, b) in bytes.iter_mut().take(size).enumerate() {
        *b = initial.get(at + k).copied().unwrap_or(0);
    }
    let v = u64::from_le_bytes(bytes);
    Some(if i.mode() == op::MEMSX {
        let shift = 64 - 8 * size as u32;
        (((v << shift) as i64) >> shift) as u64
    } else {
        v
    })
}

/// Reads before writes on a path's final state at `pc` (a local call
/// reads nothing itself; a subprogram's exit passes r0 on as it is).
fn check_reads(
    pc: usize,
    i: &Insn,
    s: &State,
    functions: &blocks::Functions,
) -> Result<(), ContextError> {
    let unwritten = i.register_effects().0 & s.unwritten;
    if i.is_local_call() || functions.is_subprogram_exit(pc, i) || unwritten == 0 {
        return Ok(());
    }
    Err(ContextError {
        pc,
        message: Rule::UninitializedRead(unwritten.trailing_zeros() as u8).to_string(),
    })
}

/// How many states of different paths an instruction keeps apart before
/// joining the rest (the kernel explores every path; this bounds the
/// work, and a join only loses precision: what it cannot prove is checked
/// at run time). Paths that differ only in dead registers are one (see
/// `forget_dead`).
const PATHS: usize = 8;

/// The same when a program is refused with [`PATHS`]: eight joined the
/// paths of `parse.c`'s header loop as clang -O1 builds it, refusing it
/// (16 too); 32 keeps them apart. Keeping 32 always doubled the load time
/// of `parse.c` at -O2 (3.8 to 8.2 ms: states are copied and stored per
/// path), and a program built to multiply paths (60 independent branches
/// each writing its own stack slot) takes 25 ms with 32, 4 ms with eight.
const PATHS_AFTER_REFUSAL: usize = 32;

/// Paths kept apart per instruction in and after a loop: the kernel
/// follows a bounded loop iteration by iteration, each with its counter
/// known, and refuses the first iteration whose access no check proves;
/// joined after eight iterations, the counter would be a range, the access
/// left to the run-time checks, and the program accepted. After the loop,
/// its exits stay apart too (joined, two exits' pointers at different
/// offsets are no longer followed, and an access one of them does not
/// prove was accepted; and the first path to leave the loop, the deepest,
/// would be named in refusals after one joined later). Enough for a loop
/// over 256 bytes; [`LOOP_SPLIT_STATES`] bounds what loops keep beyond
/// other instructions, [`SPLIT_STATES`] the whole.
const LOOP_PATHS: usize = 1024;

/// States kept apart in and after loops beyond [`PATHS`] per
/// instruction, over the program: a 24-iteration loop of six instructions
/// met by 32 paths (what the generated test's programs needed); where a
/// loop's paths multiply past it (the kernel prunes paths its explored
/// states cover, which this pass does not), they join again. Without a
/// bound, loading xdp-filter's TCP program (loops in its header parsing)
/// took 500 ms instead of 11; with this one, 2.1 times the instructions
/// of keeping eight (callgrind, load and a 400-frame run), 1.7 for its
/// `alw_all` program; `parse.c` at -O1 two thirds (its first pass no
/// longer refuses), at -O2 1.6 times. 1,024 cost 1.27 and 1.18 times but
/// left a second loop after a first one joined, and accepted there an
/// unchecked read the kernel refuses.
const LOOP_SPLIT_STATES: usize = 4096;

/// How many states a program keeps beyond one per instruction (a state
/// is a few kilobytes: this bounds the pass's memory on programs that
/// branch everywhere; past it, paths join as before).
const SPLIT_STATES: usize = 16_384;

/// The checks made on a path's final state at `pc`: memory accesses and
/// what helpers are given.
fn check_path(
    pc: usize,
    i: &Insn,
    s: &State,
    kind: ContextKind,
    maps: &[super::maps::MapDef],
) -> Result<(), ContextError> {
    if i.opc == op::JMP | op::CALL && i.src == 0 {
        // A helper this runtime does not serve to this program type: the
        // kernel's refusal, before it looks at the arguments.
        use super::runtime::helper;
        let id = i.imm as u32;
        if i.imm == super::elf::POISONED_CALL {
            return Err(ContextError {
                pc,
                message: super::elf::poisoned_call_refusal(None),
            });
        }
        if !helper::served(kind).any(|h| h == id) {
            // Refused only where a path reaches it, as the kernel refuses
            // it: a call in a branch a read-only flag or a CO-RE test
            // rules out is dead code.
            let message = match helper::name(id) {
                Some(name) => format!("program of this type cannot use helper {name}#{id}"),
                None => crate::ebpf::verify::Rule::UnknownHelper(i.imm.into()).to_string(),
            };
            return Err(ContextError { pc, message });
        }
        return helper_memory(pc, i.imm, s, maps);
    }
    let (reg, size, write) = match i.class() {
        op::LDX => (i.src, semantics::size_bytes(i.size_field()), false),
        op::ST | op::STX => (i.dst, semantics::size_bytes(i.size_field()), true),
        _ => return Ok(()),
    };
    let at = Access {
        pc,
        reg,
        off: i64::from(i.off),
        size: size as u64,
        write,
        atomic: i.class() == op::STX && i.mode() == op::ATOMIC,
        helper: None,
    };
    at.check(s)?;
    // A pointer stored into the stack must fill a whole 8-byte slot (the
    // kernel keeps it there as a register; clang -mcpu=v3 stores a
    // 32-bit `data` so).
    let base = s.regs[usize::from(i.dst & 15).min(10)];
    let value = s.regs[usize::from(i.src & 15).min(10)];
    if i.class() == op::STX
        && i.mode() == op::MEM
        && size != 8
        && matches!(base, Val::Stack(_) | Val::OuterStack(..))
        && value.is_pointer()
    {
        return Err(ContextError {
            pc,
            message: "invalid size of register spill".into(),
        });
    }
    Ok(())
}

/// A conditional jump comparing a number with a constant (an immediate,
/// or a register holding one, either way round): the number's register,
/// the comparison as seen from it (`5 > x` is `x < 5`), the constant, and
/// whether the kernel knows the constant too (an immediate, or a register
/// whose bounds are sure).
fn compared(i: &Insn, s: &State) -> Option<(usize, u8, u64, bool)> {
    // (A jump target besides the next instruction: a conditional jump.)
    i.successors(0)[1]?;
    let (dst, src) = (
        usize::from(i.dst & 15).min(10),
        usize::from(i.src & 15).min(10),
    );
    match (i.is_src_reg(), s.regs[dst].scalar(), s.regs[src].scalar()) {
        (false, Some(_), _) => Some((dst, i.op(), i64::from(i.imm) as u64, true)),
        (true, Some(_), Some(k)) if k.exact().is_some() => Some((dst, i.op(), k.lo, k.sure)),
        (true, Some(k), Some(_)) if k.exact().is_some() => {
            Some((src, scalar::swapped(i.op()), k.lo, k.sure))
        }
        _ => None,
    }
}

/// For a conditional jump comparing a number with sure bounds (a constant
/// the kernel knows, or a range) with a constant the kernel knows, when
/// the number's bounds or bits decide it: the side no value takes (`true`
/// the jump's target, `false` the next instruction), which the kernel does
/// not explore (its `is_branch_taken`).
fn decided_branch(i: &Insn, s: &State) -> Option<bool> {
    // A map value pointer (never NULL once checked, or at a constant
    // array key) compared with 0: the kernel's is_branch_taken knows the
    // answer (its reg_not_null).
    if i.class() == op::JMP && !i.is_src_reg() && i.imm == 0 {
        let not_null = matches!(
            s.regs[usize::from(i.dst & 15).min(10)],
            Val::MapValue { .. } | Val::ReadOnly(..)
        );
        match i.op() {
            op::JEQ if not_null => return Some(true),
            op::JNE if not_null => return Some(false),
            _ => {}
        }
    }
    let (reg, code, k, constant_sure) = compared(i, s)?;
    let number = s.regs[reg].scalar().filter(|sc| sc.sure && constant_sure)?;
    let taken = match scalar::range_decides(i.class(), code, number, k) {
        Some(taken) => taken,
        // Bounds that leave no value on one side once refined by the
        // comparison (`x << 24` between 8 and 31): the kernel explores
        // only the other (as the running 6.18 does).
        None => match [true, false].map(|t| scalar::refine(i.class(), code, number, k, t)) {
            [None, Some(_)] => false,
            [Some(_), None] => true,
            _ => return None,
        },
    };
    Some(!taken)
}

/// An access of `size` bytes at `off` past the pointer in `reg`: a load
/// or store (`helper` `None`), or memory a helper is given.
struct Access {
    pc: usize,
    reg: u8,
    off: i64,
    size: u64,
    write: bool,
    /// An atomic operation: the kernel insists on alignment for every
    /// pointer type then (its `strict_alignment_once`).
    atomic: bool,
    helper: Option<i32>,
}

impl Access {
    /// The kernel's checks of the access for the pointer the register
    /// holds in `s` (pointers not followed are checked at run time).
    fn check(&self, s: &State) -> Result<(), ContextError> {
        let (pc, reg, size) = (self.pc, self.reg, self.size);
        let refuse = |message: String| Err(ContextError { pc, message });
        // Where a helper's access differs, the kernel says so on a line of
        // its own after the access's.
        let by_helper = |what: &str| match self.helper {
            Some(h) => format!(": R{reg} {what} (helper {h} is given {size} bytes there)"),
            None => String::new(),
        };
        let base = s.regs[(reg & 15).min(10) as usize];
        // (The kernel's check_atomic, before any check of the access.)
        if self.atomic {
            if let Some(kind @ ("ctx" | "pkt" | "pkt_meta")) = base.kernel_type() {
                return refuse(format!(
                    "BPF_ATOMIC stores into R{reg} {kind} is not allowed"
                ));
            }
        }
        if self.helper.is_none() {
            self.check_alignment(base)?;
        }
        match base {
            // (Loads and stores only: a helper's memory argument that is a
            // number has its own message, from `helper_memory`.)
            Val::Scalar(_) if self.helper.is_none() => {
                refuse(format!("R{reg} invalid mem access 'scalar'"))
            }
            Val::MapOrNull(_, lookup) => {
                let (kind, helper) = match lookup {
                    Lookup::Sample(_) => ("ringbuf_mem_or_null", "bpf_ringbuf_reserve"),
                    _ => ("map_value_or_null", "bpf_map_lookup_elem"),
                };
                refuse(format!(
                    "R{reg} invalid mem access '{kind}': the result of {helper} is used \
                     before a comparison with 0"
                ))
            }
            Val::MapValue {
                off,
                size: value_size,
                vmin,
                vhi,
                ..
            } => map_value_access(pc, reg, off + self.off, size, value_size, vmin, vhi),
            Val::Sample {
                off,
                size: Some(mem_size),
                ..
            } => {
                let at = off + self.off;
                if at >= 0 && (at as u64).saturating_add(size) <= u64::from(mem_size) {
                    return Ok(());
                }
                refuse(format!(
                    "invalid access to memory, mem_size={mem_size} off={at} size={size}: \
                     outside the ring buffer sample reserved"
                ))
            }
            Val::ReadOnly(o, value_size, _) if self.write => {
                let off = o + self.off;
                refuse(format!(
                    "write into map forbidden, value_size={value_size} off={off} size={size}: \
                     the map is read-only to programs (.rodata, devmaps)"
                ))
            }
            Val::Stack(o) | Val::OuterStack(_, o) => {
                let off = o + self.off;
                if off >= -(SLOTS as i64 * 8) && off + size as i64 <= 0 {
                    return Ok(());
                }
                let how = if self.write { "write to" } else { "read from" };
                refuse(format!(
                    "invalid {how} stack R{reg} off={off} size={size}: the stack is the 512 \
                     bytes below r10"
                ))
            }
            Val::StackVar {
                off,
                vmin,
                vmax,
                bits,
            } if self.helper.is_none() => {
                let off = off + self.off;
                let how = if self.write { "write to" } else { "read from" };
                if vmax >= MAX_VAR_OFF as i64 || vmin <= -(MAX_VAR_OFF as i64) {
                    return refuse(format!(
                        "invalid unbounded variable-offset {how} stack R{reg}"
                    ));
                }
                let low = i128::from(off) + i128::from(vmin);
                let high = i128::from(off) + i128::from(vmax) + i128::from(size);
                if low >= -(SLOTS as i128 * 8) && high <= 0 {
                    return Ok(());
                }
                refuse(format!(
                    "invalid variable-offset {how} stack R{reg} var_off=({:#x}; {:#x}) off={off} \
                     size={size}: the number added to the stack pointer may take it outside \
                     the 512 bytes below r10",
                    bits.value, bits.mask
                ))
            }
            Val::PktVar { neg: true, id, .. } => refuse(format!(
                "R{reg} min value is negative, either use unsigned index or do a if (index >=0) \
                 check. (the number added to the packet pointer at instruction {id} may be \
                 below zero)"
            )),
            Val::PktVar { id, off, .. } => {
                let at = off + self.off;
                let range = s.var_range(id);
                if at >= 0 && (at as u64).saturating_add(size) <= range {
                    return Ok(());
                }
                refuse(format!(
                    "invalid access to packet, off={at} size={size}, R{reg}(id={id},off={at},\
                     r={range}){}: no comparison with data_end proves those bytes past the \
                     variable offset added at instruction {id}",
                    by_helper("offset is outside of the packet")
                ))
            }
            // (The kernel prints the access's offset, the pointer's own
            // included, in both places; `data_meta`'s as `data`'s.)
            Val::Pkt(o, range) | Val::PktMeta(o, range) => {
                let at = o + self.off;
                if at >= 0 && (at as u64).saturating_add(size) <= range {
                    return Ok(());
                }
                let proof = match base {
                    Val::PktMeta(..) => "of data_meta with data",
                    _ => "with data_end",
                };
                refuse(format!(
                    "invalid access to packet, off={at} size={size}, R{reg}(id=0,off={at},\
                     r={range}){}: no comparison {proof} proves those bytes",
                    by_helper("offset is outside of the packet")
                ))
            }
            _ => Ok(()),
        }
    }

    /// The kernel's `check_ptr_alignment`, made before any other check of
    /// a load or store: stack accesses must be aligned to their size
    /// always (its tracking of spilled registers relies on it), map value
    /// accesses when atomic; packet and context accesses need no
    /// alignment on hosts with efficient unaligned access.
    fn check_alignment(&self, base: Val) -> Result<(), ContextError> {
        let (kind, var, fixed) = match base {
            Val::Stack(o) | Val::OuterStack(_, o) => ("stack", Tnum::constant(0), o),
            Val::StackVar { off, bits, .. } => ("stack", bits, off),
            Val::MapValue {
                off,
                bits: Some(bits),
                ..
            } if self.atomic => ("value", bits, off),
            Val::ReadOnly(off, ..) if self.atomic => ("value", Tnum::constant(0), off),
            // (A pointer that may be NULL has no name in the kernel's
            // alignment message.)
            Val::MapOrNull(..) if self.atomic => ("", Tnum::constant(0), 0),
            // (A number's bits as the kernel's, when they surely are.)
            Val::Scalar(sc) if self.atomic && sc.sure && sc.bits_exact => ("", sc.bits, 0),
            _ => return Ok(()),
        };
        let at = var.add(Tnum::constant(fixed.wrapping_add(self.off) as u64));
        if self.size <= 1 || (at.value | at.mask) & (self.size - 1) == 0 {
            return Ok(());
        }
        // (The kernel prints the variable part, then the pointer's and the
        // instruction's offsets.)
        let var = if var.mask == 0 {
            format!("{}", var.value)
        } else {
            format!("({:#x}; {:#x})", var.value, var.mask)
        };
        Err(ContextError {
            pc: self.pc,
            message: format!(
                "misaligned {kind}{}access off {var}+{fixed}+{} size {}",
                if kind.is_empty() { "" } else { " " },
                self.off,
                self.size
            ),
        })
    }
}

/// How many bytes a helper's memory argument covers.
#[derive(Clone, Copy)]
enum ArgSize {
    /// The key size of the map in r1 (`ARG_PTR_TO_MAP_KEY`).
    Key,
    /// Its value size (`ARG_PTR_TO_MAP_VALUE`).
    Value,
    /// The number in this register (`ARG_CONST_SIZE`; zero allowed with
    /// `true`, `ARG_CONST_SIZE_OR_ZERO`).
    Reg(usize, bool),
    /// This many bytes (`ARG_PTR_TO_INT`).
    Fixed(u64),
}

/// A helper's memory argument, as the kernel's prototype declares it.
#[derive(Clone, Copy)]
struct MemArg {
    reg: usize,
    size: ArgSize,
    /// The helper may be given a packet pointer (its prototype's
    /// `pkt_access`).
    packet: bool,
    /// The helper writes there (`ARG_PTR_TO_UNINIT_MEM`).
    write: bool,
    /// NULL, the number 0, may be given instead (`PTR_MAYBE_NULL`).
    maybe_null: bool,
}

const fn mem_arg(reg: usize, size: ArgSize, packet: bool, write: bool) -> MemArg {
    MemArg {
        reg,
        size,
        packet,
        write,
        maybe_null: false,
    }
}

/// What the kernel's prototype of a served helper says, as far as this
/// pass checks it: whether r1 is the context (`ARG_PTR_TO_CTX`), whether
/// R0 is a number the kernel knows nothing of (`RET_INTEGER` with no
/// range refined: not `get_smp_processor_id`, below the number of CPUs;
/// the `RET_VOID` ones leave R0 unreadable), and its memory arguments.
#[derive(Clone, Copy)]
struct Prototype {
    context: bool,
    any_number: bool,
    memory: &'static [MemArg],
}

/// Helpers that change the packet, after which the kernel forgets every
/// packet pointer (`bpf_helper_changes_pkt_data`): skb_store_bytes,
/// l3/l4_csum_replace, skb_vlan_push, _pop, skb_change_proto,
/// skb_pull_data, skb_change_tail, xdp_adjust_head, skb_adjust_room,
/// skb_change_head, xdp_adjust_meta, xdp_adjust_tail.
fn changes_packet(helper: i32) -> bool {
    matches!(
        helper,
        9 | 10 | 11 | 18 | 19 | 31 | 38 | 39 | 43 | 44 | 50 | 54 | 65
    )
}

/// For each function, whether a call of it may change the packet: it
/// calls such a helper, a tail call (the program it runs may), or such a
/// function (the kernel's `changes_pkt_data` of subprograms, found before
/// it verifies any).
fn functions_changing_packet(insns: &[Insn], functions: &blocks::Functions) -> Vec<bool> {
    let mut changes = vec![false; functions.len()];
    let mut pc = 0;
    while pc < insns.len() {
        let i = &insns[pc];
        let tail_call = i.imm as u32 == super::runtime::helper::TAIL_CALL;
        if i.opc == op::CALL_IMM && i.src == 0 && (changes_packet(i.imm) || tail_call) {
            changes[functions.index_of(pc)] = true;
        }
        pc += i.width();
    }
    // (Through calls: until nothing more is marked.)
    loop {
        let mut more = false;
        for (call, to) in blocks::local_calls(insns) {
            let Ok(to) = usize::try_from(to) else {
                continue;
            };
            if to < insns.len()
                && changes[functions.index_of(to)]
                && !std::mem::replace(&mut changes[functions.index_of(call)], true)
            {
                more = true;
            }
        }
        if !more {
            return changes;
        }
    }
}

/// The prototype of helper `helper` (nothing checked for others).
fn prototype(helper: i32) -> Prototype {
    use ArgSize::{Fixed, Key, Reg, Value};
    const KEY: MemArg = mem_arg(2, Key, true, false);
    const VALUE: MemArg = mem_arg(3, Value, true, false);
    const FORMAT: MemArg = mem_arg(1, Reg(2, false), false, false);
    const FROM: MemArg = mem_arg(3, Reg(4, false), false, false);
    const INTO: MemArg = mem_arg(3, Reg(4, false), false, true);
    const PERF_DATA: MemArg = mem_arg(4, Reg(5, true), false, false);
    const RING_DATA: MemArg = mem_arg(2, Reg(3, true), false, false);
    const MTU: MemArg = mem_arg(3, Fixed(4), false, true);
    const CSUM_FROM: MemArg = MemArg {
        maybe_null: true,
        ..mem_arg(1, Reg(2, true), true, false)
    };
    const CSUM_TO: MemArg = MemArg {
        maybe_null: true,
        ..mem_arg(3, Reg(4, true), true, false)
    };
    let (context, any_number, memory): (bool, bool, &'static [MemArg]) = match helper {
        // map_lookup_elem(map, key): a value or NULL.
        1 => (false, false, &[KEY]),
        // map_update_elem(map, key, value, flags).
        2 => (false, true, &[KEY, VALUE]),
        // map_delete_elem(map, key).
        3 => (false, true, &[KEY]),
        // trace_printk(fmt, fmt_size, ...).
        6 => (false, true, &[FORMAT]),
        // skb_store_bytes(skb, off, from, len, flags); xdp_store_bytes(xdp,
        // off, buf, len).
        9 | 190 => (true, true, &[FROM]),
        // perf_event_output(ctx, map, flags, data, size).
        25 => (true, true, &[PERF_DATA]),
        // skb_load_bytes(skb, off, to, len); skb_load_bytes_relative(skb,
        // off, to, len, header); xdp_load_bytes(xdp, off, buf, len).
        26 | 68 | 189 => (true, true, &[INTO]),
        // csum_diff(from, from_size, to, to_size, seed).
        28 => (false, true, &[CSUM_FROM, CSUM_TO]),
        // ringbuf_output(map, data, size, flags).
        130 => (false, true, &[RING_DATA]),
        // check_mtu(ctx, ifindex, &mtu_len, len_diff, flags).
        163 => (true, true, &[MTU]),
        // tail_call(ctx, map, index); skb_set_hash_invalid(skb): no result.
        12 | 41 => (true, false, &[]),
        // The other helpers of the context: l3/l4_csum_replace,
        // skb_vlan_push/pop, skb_change_proto/type/tail/head,
        // skb_pull_data, csum_update, xdp_adjust_head/meta/tail,
        // set_hash, skb_adjust_room, csum_level, xdp_get_buff_len.
        10 | 11 | 18 | 19 | 31 | 32 | 38 | 39 | 40 | 43 | 44 | 48 | 50 | 54 | 65 | 135 | 188 => {
            (true, true, &[])
        }
        // ktime_get_ns, get_prandom_u32, redirect, get_numa_node_id,
        // redirect_map, jiffies64, ktime_get_boot_ns, ringbuf_query,
        // ktime_get_coarse_ns, ktime_get_tai_ns.
        5 | 7 | 23 | 42 | 51 | 118 | 125 | 134 | 160 | 208 => (false, true, &[]),
        _ => (false, false, &[]),
    };
    Prototype {
        context,
        any_number,
        memory,
    }
}

/// The kernel's checks of the memory a helper call at `pc` is given
/// (`check_func_arg`, `check_mem_size_reg`, `check_helper_mem_access`):
/// a number where it takes a pointer, a packet pointer where the helper
/// may not read the packet, a size that may be negative, zero where zero
/// is not allowed, or 2^29 or more, and bytes outside the memory pointed
/// to. Sizes are checked only when their bounds are sure.
fn helper_memory(
    pc: usize,
    helper: i32,
    s: &State,
    maps: &[super::maps::MapDef],
) -> Result<(), ContextError> {
    let refuse = |message: String| Err(ContextError { pc, message });
    // The context, where the helper takes it (ARG_PTR_TO_CTX, r1 of each
    // such served helper), unmoved.
    let proto = prototype(helper);
    if proto.context {
        let found = match s.regs[1] {
            Val::Ctx(0) | Val::Mixed | Val::Other | Val::Unknown | Val::Unset => None,
            Val::Ctx(off) => {
                return refuse(format!(
                    "dereference of modified ctx ptr R1 off={off} disallowed (helper {helper} \
                     takes the context itself)"
                ))
            }
            Val::Pkt(..) | Val::PktVar { .. } => {
                return refuse(format!(
                    "helper access to the packet is not allowed: R1 points into the packet \
                     where helper {helper} takes the context"
                ))
            }
            Val::Scalar(_) => Some("scalar"),
            Val::Stack(_) | Val::StackVar { .. } | Val::OuterStack(..) => Some("fp"),
            Val::PktEnd => Some("pkt_end"),
            Val::PktMeta(..) => Some("pkt_meta"),
            Val::MapPtr(_) | Val::InnerMap(_) => Some("map_ptr"),
            Val::MapOrNull(..) => Some("map_value_or_null"),
            Val::MapValue { .. } | Val::ReadOnly(..) => Some("map_value"),
            Val::Sample { .. } => Some("ringbuf_mem"),
        };
        if let Some(found) = found {
            return refuse(format!(
                "R1 type={found} expected=ctx (helper {helper} takes the context there)"
            ));
        }
    }
    for a in proto.memory {
        let r = a.reg;
        match s.regs[r] {
            Val::Scalar(sc) if a.maybe_null && sc.exact() == Some(0) => continue,
            Val::Scalar(_) => {
                return refuse(format!(
                    "R{r} type=scalar expected=fp, pkt, pkt_meta, map_key, map_value (helper \
                     {helper} takes a pointer to memory there)"
                ))
            }
            Val::Pkt(..) | Val::PktVar { .. } if !a.packet => {
                return refuse(format!(
                    "helper access to the packet is not allowed: R{r} points into the packet, \
                     which helper {helper} is not given"
                ))
            }
            _ => {}
        }
        let size = match a.size {
            ArgSize::Key | ArgSize::Value => {
                let def = match s.regs[1] {
                    Val::MapPtr(m) => maps.get(m),
                    Val::InnerMap(outer) => maps.get(outer).and_then(|m| m.inner.as_deref()),
                    _ => None,
                };
                def.map(|d| {
                    u64::from(if matches!(a.size, ArgSize::Key) {
                        d.key_size
                    } else {
                        d.value_size
                    })
                })
            }
            ArgSize::Reg(n, zero) => match s.regs[n] {
                Val::Scalar(sc) if sc.sure => {
                    size_argument(pc, n, sc, zero)?;
                    Some(sc.hi)
                }
                _ => None,
            },
            ArgSize::Fixed(n) => Some(n),
        };
        if let Some(size) = size.filter(|&n| n > 0) {
            Access {
                pc,
                reg: r as u8,
                off: 0,
                size,
                write: a.write,
                atomic: false,
                helper: Some(helper),
            }
            .check(s)?;
        }
    }
    Ok(())
}

/// The ring buffer helpers' own arguments, checked as the kernel's
/// `check_func_arg` checks them: `bpf_ringbuf_reserve`'s size must be a
/// constant (returned, when this pass knows it); `bpf_ringbuf_submit` and
/// `_discard` must be given a sample, unmoved.
fn ring_buffer_arguments(pc: usize, helper: i32, s: &State) -> Result<Option<u32>, ContextError> {
    let refuse = |message: String| Err(ContextError { pc, message });
    match helper {
        131 => match s.regs[2].scalar().filter(|sc| sc.sure) {
            Some(sc) => match sc.exact() {
                Some(k) => Ok(Some(u32::try_from(k).unwrap_or(u32::MAX))),
                // (The kernel's message has the stray quote.)
                None => refuse("R2 is not a known constant'".into()),
            },
            None => Ok(None),
        },
        132 | 133 => {
            let found = match s.regs[1] {
                Val::Sample { off: 0, .. } => return Ok(None),
                Val::Sample { .. } => {
                    return refuse(
                        "R1 must have zero offset when passed to release func or trusted arg \
                         to kfunc"
                            .into(),
                    )
                }
                Val::Scalar(_) => "scalar",
                v => match v.kernel_type() {
                    Some(t) => t,
                    None => return Ok(None),
                },
            };
            refuse(format!("R1 type={found} expected=ringbuf_mem"))
        }
        _ => Ok(None),
    }
}

/// The kernel's `check_mem_size_reg` for the size in register `reg`.
fn size_argument(pc: usize, reg: usize, sc: Scalar, zero: bool) -> Result<(), ContextError> {
    let message = if sc.smin < 0 {
        format!(
            "R{reg} min value is negative, either use unsigned or 'var &= const' (the size may \
             be {})",
            sc.smin
        )
    } else if sc.lo == 0 && !zero {
        format!(
            "R{reg} invalid zero-sized read: u64=[{},{}] (this helper takes at least one byte)",
            sc.lo, sc.hi
        )
    } else if sc.hi >= MAX_VAR_OFF {
        format!(
            "R{reg} unbounded memory access, use 'var &= const' or 'if (var < const)' (the size \
             may be {})",
            sc.hi
        )
    } else {
        return Ok(());
    };
    Err(ContextError { pc, message })
}

/// The kernel's check of an access of `size` bytes at `at` (plus a number
/// at least `vmin` signed, at most `vhi` unsigned) in a map value of
/// `value_size` bytes (`check_map_access`: a number that may make the
/// offset negative, then both ends of the number's range, each end's bytes
/// inside the value).
fn map_value_access(
    pc: usize,
    reg: u8,
    at: i64,
    size: u64,
    value_size: u32,
    vmin: i64,
    vhi: u64,
) -> Result<(), ContextError> {
    let inside = |from: i64| from >= 0 && from + size as i64 <= i64::from(value_size);
    let refuse = |from: i64, why: &str| ContextError {
        pc,
        message: format!(
            "invalid access to map value, value_size={value_size} off={from} size={size}{why}"
        ),
    };
    if (vmin, vhi) == (0, 0) {
        return if inside(at) {
            Ok(())
        } else {
            Err(refuse(at, ": outside the value"))
        };
    }
    // (vmin is above -2^29 and below 2^29: sane_offset refused anything
    // else.)
    let low = at + vmin;
    if vmin < 0 && (low < 0 || i32::try_from(low).is_err()) {
        return Err(ContextError {
            pc,
            message: format!(
                "R{reg} min value is negative, either use unsigned index or do a if (index >=0) \
                 check. (the number added to the map value pointer may be {vmin})"
            ),
        });
    }
    if !inside(low) {
        return Err(refuse(
            low,
            &format!(": R{reg} min value is outside of the allowed memory range"),
        ));
    }
    if vhi >= MAX_VAR_OFF {
        return Err(ContextError {
            pc,
            message: format!(
                "R{reg} unbounded memory access, make sure to bounds check any such access \
                 (the number added to the map value pointer may be {vhi})"
            ),
        });
    }
    let high = at + vhi as i64;
    if !inside(high) {
        return Err(refuse(
            high,
            &format!(": R{reg} max value is outside of the allowed memory range"),
        ));
    }
    Ok(())
}

/// The kernel's check that a map helper gets a map where it takes one
/// (`R1 type=… expected=map_ptr`): refused only when the argument is
/// certainly something else (a value, the context, a packet pointer, a
/// lookup's result); a pointer this pass lost track of is let through.
/// Then, for a map it knows, the kernel's `check_map_func_compatibility`:
/// which helpers each map type may be given. For a lookup, what its
/// result points to.
fn map_argument(
    pc: usize,
    helper: i32,
    s: &State,
    maps: &[super::maps::MapDef],
) -> Result<Lookup, ContextError> {
    let reg = match helper {
        // map lookup/update/delete; ring buffer output/reserve/query;
        // redirect_map(map, key, flags).
        1 | 2 | 3 | 51 | 130 | 131 | 134 => 1,
        // tail_call(ctx, prog_array, index); perf_event_output(ctx, map, …).
        12 | 25 => 2,
        _ => return Ok(Lookup::Value(None)),
    };
    let found = match s.regs[reg] {
        Val::MapPtr(map) => return map_compatible(pc, helper, maps.get(map), map),
        Val::InnerMap(outer) => {
            let inner = maps.get(outer).and_then(|m| m.inner.as_deref());
            return map_compatible(pc, helper, inner, usize::MAX);
        }
        Val::Stack(_) | Val::StackVar { .. } | Val::OuterStack(..) => "fp",
        Val::Other => "scalar or fp",
        Val::Scalar(_) => "scalar",
        Val::PktVar { .. } => "pkt",
        Val::Ctx(_) => "ctx",
        Val::Pkt(..) => "pkt",
        Val::PktEnd => "pkt_end",
        Val::MapOrNull(..) => "map_value_or_null",
        Val::ReadOnly(..) | Val::MapValue { .. } => "map_value",
        _ => return Ok(Lookup::Value(None)),
    };
    Err(ContextError {
        pc,
        message: format!(
            "R{reg} type={found} expected=map_ptr (helper {helper} takes a map there)"
        ),
    })
}

/// For `bpf_map_lookup_elem`'s arguments in `s`: an array (or per-CPU
/// array) and a key on the stack the kernel knows to be a constant inside
/// it, whose value the lookup finds whatever the map holds.
fn constant_array_key(s: &State, maps: &[super::maps::MapDef]) -> Option<u64> {
    use super::maps::MapKind;
    let (Val::MapPtr(map), (up, at)) = (
        s.regs[1],
        match s.regs[2] {
            Val::Stack(at) => (0, at),
            Val::OuterStack(up, at) => (up, at),
            _ => return None,
        },
    ) else {
        return None;
    };
    let map = maps.get(map)?;
    if !matches!(map.kind, MapKind::Array | MapKind::PercpuArray) {
        return None;
    }
    s.frame(up)?
        .constant_key(at, map.key_size)
        .filter(|&k| k < u64::from(map.max_entries))
}

/// Whether `helper` may be given `map`, as the kernel's
/// `check_map_func_compatibility` decides for the helpers and map types
/// this runtime serves (a map type limits the helpers, and some helpers
/// take one map type only).
/// `index` is the map's in the object (for a lookup in a map of maps).
fn map_compatible(
    pc: usize,
    helper: i32,
    map: Option<&super::maps::MapDef>,
    index: usize,
) -> Result<Lookup, ContextError> {
    use super::maps::MapKind;
    let Some(map) = map else {
        return Ok(Lookup::Value(None));
    };
    let kind = map.kind;
    let read_only = map.read_only || matches!(kind, MapKind::DevMap | MapKind::DevMapHash);
    if read_only && matches!(helper, 2 | 3) {
        // The kernel checks this before the map type.
        return Err(ContextError {
            pc,
            message: format!(
                "write into map forbidden: map '{}' is read-only to programs (helper {helper} \
                 writes it)",
                map.name
            ),
        });
    }
    let by_map = match kind {
        MapKind::ProgArray => helper == 12,
        MapKind::PerfEventArray => helper == 25,
        MapKind::RingBuf => matches!(helper, 130 | 131 | 134),
        MapKind::DevMap | MapKind::DevMapHash | MapKind::XskMap => matches!(helper, 1 | 51),
        MapKind::CpuMap => helper == 51,
        MapKind::ArrayOfMaps | MapKind::HashOfMaps => helper == 1,
        _ => true,
    };
    let by_helper = match helper {
        12 => kind == MapKind::ProgArray,
        25 => kind == MapKind::PerfEventArray,
        51 => kind.is_redirect_target(),
        130 | 131 | 134 => kind == MapKind::RingBuf,
        _ => true,
    };
    // (The kernel's record_func_key, which comes first for a tail call,
    // since Linux 6.17 in these words.)
    if helper == 12 && kind != MapKind::ProgArray {
        return Err(ContextError {
            pc,
            message: format!(
                "expected prog array map for tail call (map '{}' is of type {})",
                map.name,
                kind.number()
            ),
        });
    }
    if !(by_map && by_helper) {
        let name = match helper {
            1 => "bpf_map_lookup_elem",
            2 => "bpf_map_update_elem",
            3 => "bpf_map_delete_elem",
            12 => "bpf_tail_call",
            25 => "bpf_perf_event_output",
            51 => "bpf_redirect_map",
            130 => "bpf_ringbuf_output",
            131 => "bpf_ringbuf_reserve",
            _ => "bpf_ringbuf_query",
        };
        return Err(ContextError {
            pc,
            message: format!(
                "cannot pass map_type {} into func {name}#{helper} (map '{}')",
                kind.number(),
                map.name
            ),
        });
    }
    Ok(match helper {
        1 if kind.holds_maps() => Lookup::Inner(index),
        1 if read_only => Lookup::ReadOnly(map.value_size),
        1 => Lookup::Value(Some(map.value_size)),
        _ => Lookup::Value(None),
    })
}

/// `data + o` plus the number `n` (added at `pc`; a constant up to
/// `MAX_PACKET_OFF` moved it in [`pointer_plus`]): a number unknown on
/// its path, small enough, makes a variable pointer with its own id;
/// anything else is not followed. Refused as the
/// kernel's `check_reg_sane_offset` refuses it: a number that may be
/// negative with nothing bounding it, or one of at least 2^29, when these
/// bounds are surely the kernel's (a larger number the kernel lets through
/// makes a pointer it never proves: followed, so its accesses are refused).
fn packet_plus(pc: usize, o: i64, n: Val) -> Result<Val, ContextError> {
    Ok(match n.scalar() {
        Some(sc) if sc.sure && sc.exact().is_some() => {
            sane_offset(pc, "pkt", sc)?;
            Val::Unknown
        }
        Some(sc) if sc.var && (sc.hi <= MAX_PACKET_OFF || sc.sure) => {
            sane_offset(pc, "pkt", sc)?;
            Val::PktVar {
                id: pc,
                off: o,
                max: sc.hi,
                sure: sc.sure,
                neg: sc.smin < 0,
            }
        }
        _ => Val::Unknown,
    })
}

/// The kernel's `BPF_MAX_VAR_OFF`.
const MAX_VAR_OFF: u64 = 1 << 29;

/// The kernel's refusal of moving a pointer (`kind` in its words) by a
/// constant of at least 2^29 either way (`check_reg_sane_offset`).
fn pointer_move(pc: usize, kind: &str, k: i64) -> Result<(), ContextError> {
    if k.unsigned_abs() < MAX_VAR_OFF {
        return Ok(());
    }
    Err(ContextError {
        pc,
        message: format!(
            "math between {kind} pointer and {k} is not allowed: a pointer moves by less than \
             2^29"
        ),
    })
}

/// The kernel's refusal of moving a pointer by a number that may be any
/// 64-bit value, or reaches 2^29 either way (`check_reg_sane_offset`),
/// when the number's bounds are sure.
fn sane_offset(pc: usize, kind: &str, sc: Scalar) -> Result<(), ContextError> {
    if !sc.sure {
        return Ok(());
    }
    if let Some(k) = sc.exact() {
        return pointer_move(pc, kind, k as i64);
    }
    if sc.unbounded_below() {
        return Err(ContextError {
            pc,
            message: format!(
                "math between {kind} pointer and register with unbounded min value is not \
                 allowed: the number added may be any 64-bit value (loaded whole, a helper's \
                 result, or shifted past its sign), negative included"
            ),
        });
    }
    if sc.smin.unsigned_abs() >= MAX_VAR_OFF {
        let why = if sc.smin < 0 {
            "may be that far below zero"
        } else {
            "is at least 2^29"
        };
        return Err(ContextError {
            pc,
            message: format!(
                "value {} makes {kind} pointer be out of bounds: the number added {why}",
                sc.smin
            ),
        });
    }
    Ok(())
}

/// Pointer `p` (one that [`Val::moves`]) plus the number `n` (at `pc`).
fn pointer_plus(pc: usize, p: Val, n: Val) -> Result<Val, ContextError> {
    // A constant a packet can hold moves a packet pointer as an immediate
    // does, keeping its id and proven range.
    let small = n
        .scalar()
        .and_then(|sc| sc.exact())
        .filter(|&k| k <= MAX_PACKET_OFF);
    if let (Some(k), Val::Pkt(..) | Val::PktVar { .. }) = (small, p) {
        return p.moved_by(pc, k as i64, false).unwrap_or(Ok(Val::Unknown));
    }
    match p {
        Val::Pkt(o, _) => packet_plus(pc, o, n),
        Val::PktVar {
            off,
            max,
            sure,
            neg,
            ..
        } => Ok(match n.scalar() {
            // Another variable part: a new pointer, proven nothing yet.
            Some(sc) if sc.exact().is_none() && (sc.hi <= MAX_PACKET_OFF || sc.sure) => {
                sane_offset(pc, "pkt", sc)?;
                Val::PktVar {
                    id: pc,
                    off,
                    max: max.saturating_add(sc.hi),
                    sure: sure && sc.sure,
                    neg: neg || sc.smin < 0,
                }
            }
            _ => Val::Unknown,
        }),
        Val::MapValue { .. } => value_plus(pc, p, n),
        Val::Stack(off) => stack_plus(pc, off, n),
        _ => Ok(Val::Unknown),
    }
}

/// The stack pointer `r10 + off` plus the number `n`: a constant moves
/// it, a number with sure bounds makes a variable offset (refused as the
/// kernel's `check_reg_sane_offset` refuses it), anything else a value
/// not followed (checked at run time).
fn stack_plus(pc: usize, off: i64, n: Val) -> Result<Val, ContextError> {
    let Some(sc) = n.scalar() else {
        return Ok(Val::Other);
    };
    sane_offset(pc, "fp", sc)?;
    Ok(match sc.exact() {
        Some(k) => Val::Stack(off + k as i64),
        None if sc.sure => Val::StackVar {
            off,
            vmin: sc.smin,
            vmax: sc.smax,
            bits: sc.bits,
        },
        None => Val::Other,
    })
}

/// A map value pointer `v` plus the number `n`: a constant or a number
/// with sure bounds moves it (once: a second variable part is not
/// followed), anything else is not followed.
fn value_plus(pc: usize, v: Val, n: Val) -> Result<Val, ContextError> {
    let (
        Val::MapValue {
            off,
            size,
            vmin,
            vhi,
            bits,
        },
        Some(sc),
    ) = (v, n.scalar())
    else {
        return Ok(Val::Unknown);
    };
    sane_offset(pc, "map_value", sc)?;
    Ok(match sc.exact() {
        Some(k) if k < MAX_VAR_OFF => Val::MapValue {
            off: off + k as i64,
            size,
            vmin,
            vhi,
            bits,
        },
        None if sc.sure && (vmin, vhi) == (0, 0) => Val::MapValue {
            off,
            size,
            vmin: sc.smin,
            vhi: sc.hi,
            bits: sc.bits_exact.then_some(sc.bits),
        },
        _ => Val::Unknown,
    })
}

/// The two states the kernel explores for `and`/`or` with a constant of
/// a register that is -1 or 0 (its signed bounds exactly those, of the
/// whole number or else of the low half for `w` bounds): the register as
/// -1 and as 0, the whole number made that constant, or only its low half
/// (as the kernel's `__mark_reg32_known`, the rest not synced).
fn fork_of_mask(i: &Insn, s: &State) -> Option<[Scalar; 2]> {
    if !matches!(i.class(), op::ALU | op::ALU64) || !matches!(i.op(), op::AND | op::OR) {
        return None;
    }
    if i.is_src_reg() {
        let k = s.regs[usize::from(i.src & 15).min(10)].scalar()?;
        let known = if i.class() == op::ALU64 {
            k.exact().is_some()
        } else {
            k.u32min == k.u32max
        };
        if !(k.sure && known) {
            return None;
        }
    }
    let d = s.regs[usize::from(i.dst & 15).min(10)]
        .scalar()
        .filter(|d| d.sure)?;
    if (d.smin, d.smax) == (-1, 0) {
        return Some([Scalar::constant(u64::MAX), Scalar::constant(0)]);
    }
    if (d.s32min, d.s32max) != (-1, 0) {
        return None;
    }
    let low = |v: u32| Scalar {
        u32min: v,
        u32max: v,
        s32min: v as i32,
        s32max: v as i32,
        bits: d.bits.with_low(Tnum::constant(u64::from(v))),
        link: 0,
        ..d
    };
    Some([low(u32::MAX), low(0)])
}

/// A number operation's result (`src`: the operand, an immediate as a
/// constant): bounded when both operands are, else a number not followed.
fn number_alu(i: &Insn, dst: Val, src: Val) -> Val {
    // (A move's result does not depend on what `dst` held.)
    let dst = if i.op() == op::MOV {
        Some(Scalar::constant(0))
    } else {
        dst.scalar()
    };
    match (dst, src.scalar()) {
        // (Numbers give a number, unbounded where these bounds are not
        // the kernel's.)
        (Some(d), Some(s)) => Val::Scalar(scalar::alu(i.class(), i.op(), i.off, d, s).unwrap_or(
            Scalar {
                sure: false,
                ..Scalar::unknown()
            },
        )),
        _ => Val::Other,
    }
}

/// The kernel's refusals of arithmetic on pointers (`adjust_ptr_min_max_vals`
/// and its caller, as for a privileged program): only adding a number to
/// a pointer or subtracting one from it is allowed (not to `data_end`, a
/// map but `map + 0`, a pointer that may be NULL, nor subtracting from
/// the frame pointer), and subtracting one pointer from another; 32-bit
/// arithmetic on a pointer only as a subtraction (a meaningless number).
/// Operands not followed may be either: never refused for them.
fn pointer_arithmetic(pc: usize, i: &Insn, s: &State) -> Result<(), ContextError> {
    if !matches!(i.class(), op::ALU | op::ALU64) || matches!(i.op(), op::MOV | op::NEG | op::END) {
        return Ok(());
    }
    let dst = (i.dst & 15).min(10);
    let d = s.regs[dst as usize];
    let (src, known_zero) = if i.is_src_reg() {
        let v = s.regs[(i.src & 15).min(10) as usize];
        (v, v.scalar().and_then(|sc| sc.exact()) == Some(0))
    } else {
        (
            Val::Scalar(Scalar::constant(i64::from(i.imm) as u64)),
            i.imm == 0,
        )
    };
    let refuse = |message: String| Err(ContextError { pc, message });
    let code = i.op();
    let name = alu_operator(code);
    let (pointer, pointer_is_dst) = match (d.kernel_type(), src.kernel_type()) {
        (Some(_), Some(_)) if code == op::SUB => return Ok(()),
        (Some(_), Some(_)) => return refuse(format!("R{dst} pointer {name} pointer prohibited")),
        (Some(_), None) if src.scalar().is_some() => (d, true),
        (None, Some(_)) if d.scalar().is_some() => (src, false),
        _ => return Ok(()),
    };
    let kind = pointer.kernel_type().unwrap_or_default();
    if i.class() == op::ALU {
        return if code == op::SUB {
            Ok(())
        } else {
            refuse(format!("R{dst} 32-bit pointer arithmetic prohibited"))
        };
    }
    if matches!(pointer, Val::MapOrNull(..)) {
        return refuse(format!(
            "R{dst} pointer arithmetic on {kind} prohibited, null-check it first"
        ));
    }
    let map_plus_zero = matches!(pointer, Val::MapPtr(_) | Val::InnerMap(_)) && known_zero;
    if matches!(pointer, Val::PktEnd | Val::MapPtr(_) | Val::InnerMap(_))
        && !(map_plus_zero && code == op::ADD)
    {
        return refuse(format!("R{dst} pointer arithmetic on {kind} prohibited"));
    }
    // (The number's sanity comes before the operation's, whatever it is.)
    let number = if pointer_is_dst { src } else { d };
    if let Some(sc) = number.scalar() {
        sane_offset(pc, kind, sc)?;
    }
    match code {
        op::ADD => Ok(()),
        op::SUB if !pointer_is_dst => {
            refuse(format!("R{dst} tried to subtract pointer from scalar"))
        }
        op::SUB if pointer.is_stack_pointer() => {
            refuse(format!("R{dst} subtraction from stack pointer prohibited"))
        }
        op::SUB => Ok(()),
        op::AND | op::OR | op::XOR => refuse(format!(
            "R{dst} bitwise operator {name} on pointer prohibited"
        )),
        _ => refuse(format!(
            "R{dst} pointer arithmetic with {name} operator prohibited"
        )),
    }
}

/// The kernel's `bpf_alu_string`: how its messages write an ALU operation.
fn alu_operator(code: u8) -> &'static str {
    match code {
        op::ADD => "+=",
        op::SUB => "-=",
        op::MUL => "*=",
        op::DIV => "/=",
        op::OR => "|=",
        op::AND => "&=",
        op::LSH => "<<=",
        op::RSH => ">>=",
        op::NEG => "neg",
        op::MOD => "%=",
        op::XOR => "^=",
        op::MOV => "=",
        op::ARSH => "s>>=",
        _ => "endian",
    }
}

/// The lookup whose unchecked result `i` compares with 0 (`jeq`/`jne`
/// with immediate 0), if it does.
fn null_check_id(i: &Insn, s: &State) -> Option<(usize, Lookup)> {
    if !matches!(i.class(), op::JMP | op::JMP32) || i.imm != 0 {
        return None;
    }
    if !matches!(i.op(), op::JEQ | op::JNE) {
        return None;
    }
    match s.regs[(i.dst & 15).min(10) as usize] {
        Val::MapOrNull(id, read_only) => Some((id, read_only)),
        _ => None,
    }
}

/// For a comparison of a packet pointer with `data_end`: which successor
/// it proves bytes on (true: the jump's target) and how many, as the
/// kernel's `try_match_pkt_pointers` marks them.
fn packet_check(i: &Insn, s: &State) -> Option<(bool, Val, u64)> {
    if i.class() != op::JMP || !i.is_src_reg() {
        return None;
    }
    let (dst, src) = (
        s.regs[(i.dst & 15).min(10) as usize],
        s.regs[(i.src & 15).min(10) as usize],
    );
    let (pointer, pointer_first) = match (dst, src) {
        (p @ (Val::Pkt(..) | Val::PktVar { .. }), Val::PktEnd) => (p, true),
        (Val::PktEnd, p @ (Val::Pkt(..) | Val::PktVar { .. })) => (p, false),
        // (`data_meta` against `data` itself, as `data` against
        // `data_end`.)
        (p @ Val::PktMeta(..), Val::Pkt(0, _)) => (p, true),
        (Val::Pkt(0, _), p @ Val::PktMeta(..)) => (p, false),
        _ => return None,
    };
    let o = match pointer {
        Val::Pkt(o, _) | Val::PktVar { off: o, .. } | Val::PktMeta(o, _) => o,
        _ => return None,
    };
    // (proving successor, whether the proof is strict: pkt < data_end).
    let (on_target, strict) = match (pointer_first, i.op()) {
        (true, op::JGT) => (false, false),
        (true, op::JGE) => (false, true),
        (true, op::JLT) => (true, true),
        (true, op::JLE) => (true, false),
        (false, op::JGT) => (true, true),
        (false, op::JGE) => (true, false),
        (false, op::JLT) => (false, false),
        (false, op::JLE) => (false, true),
        _ => return None,
    };
    if o <= 0 {
        return None;
    }
    Some((on_target, pointer, o as u64 + u64::from(strict)))
}

/// A 64-bit comparison of a packet pointer (not `data_meta`'s) with
/// `data_end`, either way round, as one with the pointer first: (the
/// pointer's register, the jump's operation with the pointer first).
fn packet_end_compare(i: &Insn, s: &State) -> Option<(u8, u8)> {
    if i.class() != op::JMP || !i.is_src_reg() {
        return None;
    }
    let (dst, src) = (i.dst & 15, i.src & 15);
    let val = |r: u8| s.regs[usize::from(r).min(10)];
    let is_pkt = |v: Val| matches!(v, Val::Pkt(..) | Val::PktVar { .. });
    match (val(dst), val(src)) {
        (p, Val::PktEnd) if is_pkt(p) => Some((dst, i.op())),
        (Val::PktEnd, p) if is_pkt(p) => Some((src, scalar::swapped(i.op()))),
        _ => None,
    }
}

/// The kernel's `mark_pkt_end`: after a comparison of a packet pointer
/// with `data_end`, the side where the pointer lies past `data_end`
/// (`past`: `pkt > data_end`) or at or past it: (its register, whether
/// that is the jump's target side, `past`).
fn packet_end_mark(i: &Insn, s: &State) -> Option<(u8, bool, bool)> {
    let (reg, code) = packet_end_compare(i, s)?;
    match code {
        op::JGT => Some((reg, true, true)),
        op::JLE => Some((reg, false, true)),
        op::JGE => Some((reg, true, false)),
        op::JLT => Some((reg, false, false)),
        _ => None,
    }
}

/// The kernel's `is_pkt_ptr_branch_taken`: a comparison with `data_end`
/// of a pointer known to lie past it (or at or past it) has one side only;
/// the side it never takes, as [`decided_branch`] gives it.
fn packet_end_decides(i: &Insn, s: &State) -> Option<bool> {
    let (reg, code) = packet_end_compare(i, s)?;
    let bit = regs::bit(reg);
    let past = s.past_end & bit != 0;
    let at_or_past = past || s.at_end & bit != 0;
    let taken = match code {
        op::JGT if past => true,
        op::JLE if past => false,
        op::JGE if at_or_past => true,
        op::JLT if at_or_past => false,
        _ => return None,
    };
    Some(!taken)
}

/// Checks an access through a register holding `base`; for a load of a
/// packet pointer field, the instruction it becomes and what it loads.
fn access(
    kind: ContextKind,
    pc: usize,
    i: &Insn,
    base: Val,
    size: usize,
    write: bool,
) -> Result<Option<(Insn, Val)>, ContextError> {
    let o = match base {
        // (The kernel's __check_ptr_off_reg: the context pointer itself
        // must not have moved.)
        Val::Ctx(moved) if moved != 0 => {
            let reg = if i.class() == op::LDX { i.src } else { i.dst };
            let how = if moved < 0 {
                "negative offset"
            } else {
                "dereference of modified"
            };
            return Err(ContextError {
                pc,
                message: format!("{how} ctx ptr R{reg} off={moved} disallowed"),
            });
        }
        Val::Ctx(o) => o + i64::from(i.off),
        Val::Mixed => {
            return Err(ContextError {
                pc,
                message: "same insn cannot be used with different pointers: the register holds \
                          the context on one path and another value on another"
                    .into(),
            })
        }
        _ => return Ok(None),
    };
    let what = if write { " (a write)" } else { "" };
    let refuse = || ContextError {
        pc,
        message: format!("invalid bpf_context access off={o} size={size}{what}"),
    };
    let sign_extends = !write && i.mode() == op::MEMSX;
    if o < 0 || o as usize >= kind.abi_size() || sign_extends || o % size as i64 != 0 {
        return Err(refuse());
    }
    let off = o as usize;
    let pointer = match kind {
        ContextKind::Xdp => {
            if write || size != 4 {
                return Err(refuse());
            }
            if off == xdp_md::EGRESS_IFINDEX {
                // (The kernel allows it to devmap programs only, which
                // this runtime does not tell apart.)
                let mut e = refuse();
                e.message
                    .push_str(": egress_ifindex is readable only by programs attached to a devmap");
                return Err(e);
            }
            match off {
                xdp_md::DATA => Some(kind.data()),
                xdp_md::DATA_END => Some(kind.data_end()),
                xdp_md::DATA_META => Some(kind.data_meta()),
                _ => None,
            }
        }
        ContextKind::Tc | ContextKind::Socket => sk_buff_access(kind, off, size, write)
            .ok_or_else(refuse)
            .map_err(|mut e| {
                if off == sk_buff::SK {
                    e.message
                        .push_str("; socket pointers are not modelled by this runtime");
                }
                e
            })?,
    };
    Ok(pointer.map(|to| {
        let new_off = to as i64 - (o - i64::from(i.off));
        let val = if to == kind.data() {
            Val::Pkt(0, 0)
        } else if to == kind.data_end() {
            Val::PktEnd
        } else {
            Val::PktMeta(0, 0)
        };
        (
            Insn::new(op::LDX | op::MEM | op::DW, i.dst, i.src, new_off as i16, 0),
            val,
        )
    }))
}

/// The kernel's `bpf_skb_is_valid_access` with the TC and socket-filter
/// rules on top: `None` when refused, `Some(Some(slot))` for a packet
/// pointer load (its block offset), `Some(None)` for a plain field.
fn sk_buff_access(
    kind: ContextKind,
    off: usize,
    size: usize,
    write: bool,
) -> Option<Option<usize>> {
    use sk_buff as f;
    let tc = kind == ContextKind::Tc;
    // Fields the program type cannot see at all.
    let hidden = match off {
        f::FAMILY..f::SOCKET_END => true,
        f::TC_CLASSID..f::DATA => !tc,
        f::DATA..f::NAPI_ID | f::DATA_META..f::FLOW_KEYS => !tc,
        f::TSTAMP..f::GSO_SEGS | f::HWTSTAMP..f::SIZE => !tc,
        f::FLOW_KEYS..f::TSTAMP | f::SK..f::GSO_SIZE => true,
        // (TC programs may read `tstamp_type`, a byte; the rest of its
        // word is padding.)
        f::TSTAMP_TYPE => !tc || write,
        f::TSTAMP_TYPE_PAD..f::HWTSTAMP => true,
        _ => false,
    };
    if hidden {
        return None;
    }
    if write {
        let writable = match off {
            // (Within `cb`, as for a load: 8 bytes at `cb[4]` run past it.)
            f::CB..f::CB_END => off + size <= f::CB_END,
            f::MARK..f::QUEUE_MAPPING
            | f::TC_INDEX..f::CB
            | f::PRIORITY..f::INGRESS_IFINDEX
            | f::TC_CLASSID..f::DATA
            | f::QUEUE_MAPPING..f::PROTOCOL => tc && size == 4,
            f::TSTAMP => tc && size == 8,
            _ => false,
        };
        return writable.then_some(None);
    }
    // (Pointer fields and the 64-bit ones only whole: a load inside one
    // is refused as the kernel's bpf_ctx_range cases refuse it.)
    match off {
        f::CB..f::CB_END => (off + size <= f::CB_END).then_some(None),
        f::DATA => (size == 4).then_some(Some(kind.data())),
        f::DATA_END => (size == 4).then_some(Some(kind.data_end())),
        f::DATA_META => (size == 4).then_some(Some(kind.data_meta())),
        f::TSTAMP | f::HWTSTAMP => (size == 8).then_some(None),
        f::TSTAMP_TYPE => (size == 1).then_some(None),
        _ if [f::DATA, f::DATA_END, f::DATA_META]
            .iter()
            .any(|&field| (field..field + 4).contains(&off)) =>
        {
            None
        }
        _ if [f::TSTAMP, f::HWTSTAMP]
            .iter()
            .any(|&field| (field..field + 8).contains(&off)) =>
        {
            None
        }
        // Other fields are u32: whole or narrow (1 or 2 aligned bytes).
        _ => (size <= 4).then_some(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::asm::assemble;
    use crate::ebpf::maps::{MapDef, MapKind};

    #[test]
    fn stack_slots_held_or_not_are_the_same_state() {
        // A slot held but unset (the vector grown past it) is the slot
        // not held: equal, hashed alike, so such paths are one state.
        let mut grown = Slots::default();
        grown.entry(5);
        assert_eq!(grown, Slots::default());
        assert_eq!(state_hash(&State::unset()), {
            let mut s = State::unset();
            s.stack = grown.clone();
            state_hash(&s)
        });
        // A join with a deeper stack keeps the deeper slots; one with a
        // shallower stack keeps them too (unset joins as the other side).
        let mut deep = Slots::default();
        *deep.entry(3) = (Val::Scalar(Scalar::constant(7)), KeyBytes::default());
        let mut shallow = Slots::default();
        shallow.join(&deep, false);
        assert_eq!(shallow, deep);
        deep.join(&grown, false);
        assert_eq!(deep.val(3), Val::Scalar(Scalar::constant(7)));
        assert_eq!(deep.val(40), Val::Unset);
    }

    /// `src` assembled, its `lddw`s made references to the map their
    /// immediate numbers.
    fn assemble_with_maps(src: &str) -> Program {
        let mut prog = assemble(src).expect("assembles");
        for insn in prog.insns.iter_mut().filter(|i| i.is_lddw()) {
            insn.src = 1;
        }
        prog
    }

    fn rodata(read_only: bool) -> MapDef {
        MapDef {
            initial: Some(vec![0; 16]),
            read_only,
            ..MapDef::new(".rodata", MapKind::Array, 4, 16, 1)
        }
    }

    /// `prog` with its first `lddw` made a reference to map 0's value at
    /// offset 4 (as the ELF loader links `.rodata` + 4).
    fn with_map_value(src: &str) -> Program {
        let mut prog = assemble(src).expect("assembles");
        let at = prog.insns.iter().position(Insn::is_lddw).expect("an lddw");
        prog.insns[at].src = 2;
        prog.insns[at].imm = 0;
        prog.insns[at + 1].imm = 4;
        prog
    }

    #[test]
    fn stores_into_a_read_only_value_are_refused_wherever_the_pointer_went() {
        let direct = "lddw %r1, 0\nstw [%r1+2], 1\nmov %r0, 2\nexit";
        let moved = "lddw %r1, 0\nadd %r1, 8\nmov %r3, %r1\nstxdw [%r10-8], %r3\n\
                     ldxdw %r4, [%r10-8]\nstb [%r4-1], 1\nmov %r0, 2\nexit";
        for (src, off, size) in [(direct, 6, 4), (moved, 11, 1)] {
            let prog = with_map_value(src);
            let e =
                rewrite_with_maps(&prog, ContextKind::Xdp, &[rodata(true)]).expect_err("refused");
            assert!(
                e.message.starts_with(&format!(
                    "write into map forbidden, value_size=16 off={off} size={size}"
                )),
                "{}",
                e.message
            );
            // Reads are fine, and so is a writable map.
            assert!(rewrite_with_maps(&prog, ContextKind::Xdp, &[rodata(false)]).is_ok());
        }
        let read = with_map_value("lddw %r1, 0\nldxw %r0, [%r1+2]\nexit");
        assert!(rewrite_with_maps(&read, ContextKind::Xdp, &[rodata(true)]).is_ok());
    }

    /// XDP: r2 = data, r3 = data_end, 34 bytes proven; then `body`, which
    /// may use r4 for the IPv4 header length (`(data[14] & 0xf) * 4`).
    fn xdp(body: &str) -> Result<Program, ContextError> {
        let src = format!(
            "ldxw %r2, [%r1]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 34\n\
             jgt %r4, %r3, +{{out}}\nldxb %r4, [%r2+14]\nand %r4, 15\nlsh %r4, 2\n\
             {body}\nout: mov %r0, 2\nexit"
        );
        // (The assembler takes relative offsets: count the body's lines.)
        let body_len = body.lines().count();
        let src = src
            .replace("{out}", &(3 + body_len).to_string())
            .replace("out: ", "");
        rewrite(&assemble(&src).expect("assembles"), ContextKind::Xdp)
    }

    #[test]
    fn a_pointer_moved_by_a_loaded_number_has_its_own_proven_range() {
        // l4 = data + 14 + ihl; proven 4 bytes past it: reads of bytes
        // 0..4 pass, byte 4 is refused with the kernel's reason.
        let checked = |read: i16| {
            format!(
                "mov %r5, %r2\nadd %r5, 14\nadd %r5, %r4\nmov %r6, %r5\nadd %r6, 4\n\
                 jgt %r6, %r3, +1\nldxb %r0, [%r5+{read}]"
            )
        };
        assert!(xdp(&checked(3)).is_ok());
        let e = xdp(&checked(4)).expect_err("refused");
        assert!(
            e.message
                .starts_with("invalid access to packet, off=18 size=1, R5(id=10,off=18,r=18)"),
            "{}",
            e.message
        );
        // No comparison past the variable offset at all: the bytes the
        // constant pointers proved do not count for it.
        let e = xdp("mov %r5, %r2\nadd %r5, %r4\nldxb %r0, [%r5]").expect_err("refused");
        assert!(e.message.contains("r=0)"), "{}", e.message);
    }

    #[test]
    fn numbers_constant_by_path_are_followed_path_by_path_and_unbounded_ones_refused() {
        // nh = 14 or 18 by path: the kernel adds each path's constant to
        // the pointer's offset, and so does this pass, path by path; the
        // fall-through's path (18) is the kernel's first.
        let e = xdp("mov %r5, 14\njeq %r4, 20, +1\nmov %r5, 18\nadd %r5, %r2\nldxb %r0, [%r5+40]")
            .expect_err("refused");
        assert!(
            e.message
                .starts_with("invalid access to packet, off=58 size=1, R5(id=0,off=58,r=34)"),
            "{}",
            e.message
        );
        // A number with no bounds (8 bytes loaded): refused at the
        // addition, as the kernel refuses it, also when a signed
        // comparison bounds it from above only; bounded from below only,
        // it makes a pointer never proven.
        for bound in ["", "jsgt %r5, 40, +2\n"] {
            let e = xdp(&format!(
                "ldxdw %r5, [%r2]\n{bound}add %r5, %r2\nldxb %r0, [%r5]"
            ))
            .expect_err("refused");
            assert!(
                e.message
                    .starts_with("math between pkt pointer and register with unbounded min"),
                "{}",
                e.message
            );
        }
        let e = xdp("ldxdw %r5, [%r2]\njslt %r5, 0, +2\nadd %r5, %r2\nldxb %r0, [%r5]")
            .expect_err("refused");
        assert!(
            e.message.starts_with("invalid access to packet"),
            "{}",
            e.message
        );
        // One constant, however reached, moves the constant offset: the 34
        // proven bytes cover byte 33 = 20 + 13.
        assert!(xdp("mov %r5, 4\nmul %r5, 5\nadd %r5, %r2\nldxb %r0, [%r5+13]").is_ok());
        let e =
            xdp("mov %r5, 4\nmul %r5, 5\nadd %r5, %r2\nldxb %r0, [%r5+14]").expect_err("refused");
        assert!(e.message.contains("off=34 size=1"), "{}", e.message);
    }

    #[test]
    fn large_numbers_are_refused_only_where_the_kernel_bounds_them_alike() {
        // A random number zero-extended by clang (lsh 32; rsh 32): any
        // 32-bit value, never proven past MAX_PACKET_OFF. (data and
        // data_end kept in r7, r8 across the call.)
        let random = |mask: &str| {
            format!(
                "mov %r7, %r2\nmov %r8, %r3\ncall 7\nlsh %r0, 32\nrsh %r0, 32\n{mask}\n\
                 add %r0, %r7\nmov %r6, %r0\nadd %r6, 1\njgt %r6, %r8, +1\nldxb %r0, [%r0]"
            )
        };
        let e = xdp(&random("ja +0")).expect_err("refused");
        assert!(e.message.contains("r=0)"), "{}", e.message);
        // Masked, it is proven; or'ed with 1, it is still up to 2^32 - 1
        // (the bits known give the kernel's bounds of an `or`).
        assert!(xdp(&random("and %r0, 255")).is_ok());
        let e = xdp(&random("or %r0, 1")).expect_err("refused");
        assert!(e.message.contains("r=0)"), "{}", e.message);
        // A 32-bit move of a helper's result: the same as the shifts.
        let e = xdp("mov %r7, %r2\ncall 7\nmov32 %r5, %r0\nadd %r5, %r7\nldxb %r0, [%r5]")
            .expect_err("refused");
        assert!(
            e.message.starts_with("invalid access to packet"),
            "{}",
            e.message
        );
        // 2^29 or more, as an immediate or a constant in a register.
        for add in ["add %r5, 0x20000000", "mov %r6, 0x20000000\nadd %r5, %r6"] {
            let e = xdp(&format!("mov %r5, %r2\n{add}\nldxb %r0, [%r5]")).expect_err("refused");
            assert!(
                e.message
                    .starts_with("math between pkt pointer and 536870912 is not allowed"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn map_value_accesses_stay_inside_the_value() {
        // A 64-byte array value, indexed by the IPv4 header length (0 ..=
        // 60) and read 4 bytes at `off` past it.
        let map = MapDef::new("table", MapKind::Array, 4, 64, 1);
        let run = |read: &str| {
            let body = format!(
                "mov %r6, %r4\nstw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, 0\n\
                 call 1\njeq %r0, 0, +2\nadd %r0, %r6\n{read}"
            );
            let src = format!(
                "ldxw %r2, [%r1]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 34\n\
                 jgt %r4, %r3, +13\nldxb %r4, [%r2+14]\nand %r4, 15\nlsh %r4, 2\n{body}\n\
                 mov %r0, 2\nexit"
            );
            let prog = assemble_with_maps(&src);
            rewrite_with_maps(&prog, ContextKind::Xdp, std::slice::from_ref(&map))
        };
        assert!(run("ldxw %r0, [%r0]").is_ok());
        let e = run("ldxw %r0, [%r0+4]").expect_err("refused");
        assert!(
            e.message.starts_with(
                "invalid access to map value, value_size=64 off=64 size=4: R0 max value"
            ),
            "{}",
            e.message
        );
        let e = run("ldxw %r0, [%r0-4]").expect_err("refused");
        assert!(
            e.message.contains("off=-4 size=4: R0 min value"),
            "{}",
            e.message
        );
    }

    #[test]
    fn memory_given_to_helpers_is_checked_as_the_kernel_checks_it() {
        // (In `xdp`'s body: r2 = data with 34 bytes proven, r4 = the IPv4
        // header length, 0 ..= 60.) xdp_load_bytes(ctx, 0, buf, len) into a
        // stack buffer below r10.
        let load = |buf: i64, len: &str| {
            xdp(&format!(
                "mov %r3, %r10\nadd %r3, {buf}\n{len}\nmov %r2, 0\ncall 189"
            ))
        };
        let refused = |r: Result<Program, ContextError>, reason: &str| {
            let e = r.expect_err("refused");
            assert!(
                e.message.starts_with(reason),
                "{} (wanted {reason})",
                e.message
            );
        };
        assert!(load(-16, "mov %r4, 16").is_ok());
        refused(
            load(-16, "mov %r4, 17"),
            "invalid write to stack R3 off=-16 size=17",
        );
        refused(load(-64, ""), "R4 invalid zero-sized read: u64=[0,60]");
        assert!(load(-64, "add %r4, 4").is_ok());
        refused(
            load(-32, "add %r4, 4"),
            "invalid write to stack R3 off=-32 size=64",
        );
        refused(
            xdp("mov %r3, %r2\nmov %r4, 8\nmov %r2, 0\ncall 189"),
            "helper access to the packet is not allowed: R3",
        );
        // csum_diff(from, from_size, to, to_size, seed) may read the packet
        // (what comparisons proved), or be given NULL.
        let csum = |from: &str, size: u32| {
            xdp(&format!(
                "{from}\nmov %r2, {size}\nmov %r3, 0\nmov %r4, 0\nmov %r5, 0\ncall 28"
            ))
        };
        assert!(csum("mov %r1, %r2", 32).is_ok());
        refused(
            csum("mov %r1, %r2", 40),
            "invalid access to packet, off=0 size=40, R1(id=0,off=0,r=34): R1 offset is outside \
             of the packet",
        );
        assert!(csum("mov %r1, 0", 0).is_ok());
        refused(csum("mov %r1, 5", 4), "R1 type=scalar expected=");
    }

    #[test]
    fn a_stack_pointer_moved_by_a_number_stays_in_the_frame() {
        // (r4: the IPv4 header length, 0 ..= 60, its low 2 bits zero.)
        let store = |buf: i64| {
            xdp(&format!(
                "mov %r3, %r10\nadd %r3, {buf}\nadd %r3, %r4\nstb [%r3], 1"
            ))
        };
        assert!(store(-64).is_ok());
        let e = store(-16).expect_err("refused");
        assert!(
            e.message.starts_with(
                "invalid variable-offset write to stack R3 var_off=(0x0; 0x3c) off=-16 size=1"
            ),
            "{}",
            e.message
        );
        // A slot it may have written no longer holds what was stored
        // there: `data` spilled and reloaded is a packet pointer (byte 40
        // unproven) until the store may have overwritten it.
        let spill = |between: &str| {
            xdp(&format!(
                "stxdw [%r10-8], %r2\n{between}ldxdw %r5, [%r10-8]\nldxb %r0, [%r5+40]"
            ))
        };
        let e = spill("").expect_err("refused");
        assert!(
            e.message.starts_with("invalid access to packet"),
            "{}",
            e.message
        );
        let overwritten = spill("mov %r3, %r10\nadd %r3, -64\nadd %r3, %r4\nstb [%r3], 1\n");
        assert!(
            !matches!(&overwritten, Err(e) if e.message.starts_with("invalid access to packet")),
            "{:?}",
            overwritten.err()
        );
    }

    #[test]
    fn bounds_learnt_on_a_copy_hold_for_the_number() {
        // r6 = a 16-bit number, r7 its copy; `if r7 > 40` bounds r6 too, so
        // data + r6 may be proven (max 40 + 14 <= 0xffff); without the
        // copy's bound (0xffff + 14) no comparison proves the pointer, as
        // for the kernel.
        let body = |bounded: &str| {
            format!(
                "ldxh %r6, [%r2+20]\nmov %r7, %r6\n{bounded}\nmov %r5, %r2\nadd %r5, %r6\n\
                 add %r5, 14\nmov %r8, %r5\nadd %r8, 2\njgt %r8, %r3, +1\nldxb %r0, [%r5+2]"
            )
        };
        // Proven 2 bytes past r5 (r=16 over its offset 14), read the third:
        // refused only when the bound reached r6.
        let e = xdp(&body("jgt %r7, 40, +7")).expect_err("refused");
        assert!(e.message.contains("off=16 size=1"), "{}", e.message);
        assert!(e.message.contains("r=16)"), "{}", e.message);
        let e = xdp(&body("ja +0")).expect_err("refused");
        assert!(e.message.contains("off=16 size=1"), "{}", e.message);
        assert!(e.message.contains("r=0)"), "{}", e.message);
    }

    /// An offset that is a different constant on each of two paths is
    /// followed path by path, as the kernel explores them: the read that
    /// only one path proves is refused with the kernel's words, not left
    /// to a run-time check as a join of the two would leave it.
    #[test]
    fn constants_of_different_paths_are_checked_path_by_path() {
        let program = |wide: u32| {
            format!(
                "ldxw %r2, [%r1]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 34\n\
                 jgt %r4, %r3, +7\nmov %r5, 14\nldxb %r6, [%r2+12]\njne %r6, 0x81, +1\n\
                 mov %r5, {wide}\nadd %r2, %r5\nldxw %r0, [%r2+16]\nexit\nmov %r0, 2\nexit"
            )
        };
        let run = |src: &str| rewrite(&assemble(src).expect("assembles"), ContextKind::Xdp);
        assert!(run(&program(14)).is_ok());
        let e = run(&program(18)).expect_err("refused");
        assert!(
            e.message
                .starts_with("invalid access to packet, off=34 size=4, R2(id=0,off=34,r=34)"),
            "{}",
            e.message
        );
    }

    /// Reads before writes are checked path by path: a register left
    /// unwritten only on paths the kernel never explores is no refusal.
    /// Every verdict here is Linux 6.18's for the same program (loaded as
    /// XDP).
    #[test]
    fn reads_before_writes_are_checked_on_the_paths_the_kernel_explores() {
        // r6 is written only when data + 20 is inside the packet; a second
        // comparison of the same pointer with data_end decides on the path
        // where it lay past the end (`pkt > data_end`, `pkt >= data_end`,
        // either way round, or through a copy).
        let program = |first: &str, second: &str| {
            format!(
                "ldxw %r2, [%r1+4]\nldxw %r1, [%r1]\nmov %r3, %r1\nadd %r3, 20\n{first}\n\
                 ldxb %r6, [%r1+19]\n{second}\nmov %r0, %r6\nexit\nmov %r0, 1\nexit"
            )
        };
        let run = |src: &str| rewrite(&assemble(src).expect("assembles"), ContextKind::Xdp);
        let accepted = [
            ("jgt %r3, %r2, +1", "jgt %r3, %r2, +2"),
            ("jge %r3, %r2, +1", "jge %r3, %r2, +2"),
            ("jge %r3, %r2, +1", "jlt %r3, %r2, +1\nja +2"),
            ("jlt %r2, %r3, +1", "jgt %r3, %r2, +2"),
            ("jgt %r3, %r2, +1", "mov %r4, %r3\njgt %r4, %r2, +2"),
            ("jle %r3, %r2, +1\nja +1", "jle %r3, %r2, +1\nja +2"),
            ("jgt %r3, %r2, +1", "jgt %r2, %r3, +1\nja +2"),
            ("jgt %r3, %r2, +1", "jge %r2, %r3, +1\nja +2"),
        ];
        for (first, second) in accepted {
            let src = program(first, second);
            assert!(run(&src).is_ok(), "{src}");
        }
        // At (not past) the end decides no `>`; a pointer written again
        // (even by 0) is no longer known to lie past it.
        let refused = [
            ("jge %r3, %r2, +1", "jgt %r3, %r2, +2", 7),
            ("jgt %r3, %r2, +1", "add %r3, 0\njgt %r3, %r2, +2", 8),
        ];
        for (first, second, pc) in refused {
            let src = program(first, second);
            let e = run(&src).expect_err("refused");
            assert_eq!(
                (e.pc, e.message.as_str()),
                (pc, "R6 !read_ok: r6 may be read before it is written"),
                "{src}"
            );
        }
        // A flag that is 0 exactly where r7 is unwritten: the kernel knows
        // the constant and never reads r7 there.
        let flag = "mov %r6, 0\nldxw %r2, [%r1+4]\nldxw %r1, [%r1]\nmov %r3, %r1\nadd %r3, 1\n\
                    jgt %r3, %r2, +2\nldxb %r7, [%r1]\nmov %r6, 1\njeq %r6, 0, +2\nmov %r0, %r7\n\
                    exit\nmov %r0, 2\nexit";
        assert!(run(flag).is_ok());
        let unflagged = flag.replacen("mov %r6, 0", "ldxw %r6, [%r1+16]", 1);
        let e = run(&unflagged).expect_err("refused");
        assert_eq!(
            (e.pc, e.message.as_str()),
            (9, "R7 !read_ok: r7 may be read before it is written")
        );
    }

    /// A pointer stored into the stack must fill a whole slot; a number
    /// need not. (Linux 6.18's verdicts on the same XDP programs.)
    #[test]
    fn pointers_spilled_to_the_stack_fill_a_slot() {
        let run = |src: &str| rewrite(&assemble(src).expect("assembles"), ContextKind::Xdp);
        for (src, pc) in [
            // `data` (clang -mcpu=v3 stores the 32-bit field's register so).
            ("ldxw %r2, [%r1]\nstxw [%r10-8], %r2\nmov %r0, 2\nexit", 1),
            // The context, and the frame pointer.
            ("stxw [%r10-8], %r1\nmov %r0, 2\nexit", 0),
            ("mov %r3, %r10\nstxb [%r10-8], %r3\nmov %r0, 2\nexit", 1),
        ] {
            let e = run(src).expect_err("refused");
            assert_eq!(
                (e.pc, e.message.as_str()),
                (pc, "invalid size of register spill")
            );
        }
        assert!(run("ldxw %r2, [%r1]\nstxdw [%r10-8], %r2\nmov %r0, 2\nexit").is_ok());
        assert!(run("ldxw %r2, [%r1+16]\nstxh [%r10-8], %r2\nmov %r0, 2\nexit").is_ok());
    }

    /// One load through the context on one path and the stack on another
    /// is refused, though each path alone is fine.
    #[test]
    fn one_access_through_the_context_and_other_memory_is_refused() {
        let src = "ldxw %r3, [%r1+12]\nmov %r2, %r10\nadd %r2, -8\nstdw [%r10-8], 0\n\
                   jeq %r3, 0, +1\nmov %r2, %r1\nldxw %r0, [%r2]\nexit";
        let e = rewrite(&assemble(src).expect("assembles"), ContextKind::Xdp).expect_err("refused");
        assert!(
            e.message.contains("the context on one path"),
            "{}",
            e.message
        );
        assert_eq!(e.pc, 6);
    }

    /// A loop over up to 255 packet bytes, each checked, then a read
    /// before the packet: refused where the kernel refuses it. (The kernel
    /// names the range its first path proved, the deepest iteration's,
    /// r=255; here the loop's exits join past 32 paths and the range
    /// named is the joined one.)
    #[test]
    fn a_loop_is_followed_iteration_by_iteration() {
        let src = "ldxw %r7, [%r1]\nldxw %r8, [%r1+4]\nmov %r0, 2\nmov %r2, %r7\n\
                   add %r2, 12\njge %r2, %r8, +17\nldxb %r1, [%r7+6]\nand %r1, 255\n\
                   mov %r4, 0\nmov %r5, 0\njge32 %r4, %r1, +9\nmov %r2, %r7\nadd %r2, %r4\n\
                   mov %r3, %r2\nadd %r3, 1\njgt %r3, %r8, +7\nldxb %r3, [%r2]\n\
                   add %r5, %r3\nadd %r4, 1\nja -10\nmov %r0, %r5\nand %r0, 3\n\
                   ldxdw %r3, [%r7-7]\nexit";
        let prog = assemble(src).expect("assembles");
        let e = rewrite(&prog, ContextKind::Xdp).expect_err("refused");
        assert_eq!(e.pc, 22);
        assert!(
            e.message
                .starts_with("invalid access to packet, off=-7 size=8, R7(id=0,off=-7,r="),
            "{}",
            e.message
        );
        // Unchecked, the same loop's read is refused at the first
        // iteration past what was proven (r4 = 13), not left to the
        // run-time checks as a joined counter would leave it.
        let unchecked = src.replace("jgt %r3, %r8, +7", "ja +0");
        let e = rewrite(&assemble(&unchecked).expect("assembles"), ContextKind::Xdp)
            .expect_err("refused");
        assert_eq!(e.pc, 16, "{}", e.message);
        assert!(
            e.message
                .starts_with("invalid access to packet, off=13 size=1"),
            "{}",
            e.message
        );
    }

    /// Without BTF function information the kernel refuses legacy packet
    /// loads and tail calls in subprograms (its words, legacy loads
    /// first), not in the main function.
    #[test]
    fn subprograms_without_btf_may_not_use_legacy_loads_or_tail_calls() {
        let refused = |src: &str| check_subprograms_without_btf(&assemble(src).expect("assembles"));
        let main_only = "mov %r6, %r1\nldabsb 12\ncall local +1\nexit\nmov %r0, 0\nexit";
        assert!(refused(main_only).is_ok());
        let e = refused("mov %r6, %r1\ncall local +1\nexit\nldabsb 12\nexit").expect_err("refused");
        assert_eq!(
            (e.pc, e.message.as_str()),
            (3, "LD_ABS is not allowed in subprogs without BTF")
        );
        let e = refused("call local +1\nexit\nmov %r0, 0\ncall 12\nldindh %r1, 2\nexit")
            .expect_err("refused");
        assert_eq!(
            (e.pc, e.message.as_str()),
            (4, "LD_ABS is not allowed in subprogs without BTF")
        );
        let e = refused("call local +1\nexit\nmov %r0, 0\ncall 12\nexit").expect_err("refused");
        assert_eq!(
            (e.pc, e.message.as_str()),
            (3, "tail_call is not allowed in subprogs without BTF")
        );
    }

    /// A callee followed from its call: what it proves of the caller's
    /// packet pointer holds after it returns (on that path), and a key
    /// the caller stored and passed by pointer is no longer a constant
    /// after it returns (the callee may have written it), so the lookup
    /// needs its NULL check.
    #[test]
    fn local_calls_are_followed_from_their_call() {
        // The callee checks 18 bytes past the pointer it is given; the
        // caller then reads byte 17 of the packet.
        let src = "ldxw %r7, [%r1]\nldxw %r8, [%r1+4]\nmov %r1, %r7\nmov %r2, %r8\n\
                   call local +3\nldxb %r0, [%r7+17]\nand %r0, 3\nexit\n\
                   mov %r3, %r1\nadd %r3, 18\njgt %r3, %r2, +2\nmov %r0, 2\nexit\n\
                   mov %r0, 1\nexit";
        let prog = assemble(src).expect("assembles");
        let e = rewrite(&prog, ContextKind::Xdp).expect_err("refused on the unchecked path");
        // (The callee's first path proved 18 bytes; its other exit, none.)
        assert!(
            e.message.contains("off=17 size=1, R7(id=0,off=17,r=0)"),
            "{}",
            e.message
        );
        let map = MapDef::new("table", MapKind::Array, 4, 8, 4);
        let src = "stw [%r10-4], 0\nmov %r1, %r10\nadd %r1, -4\ncall local +7\n\
                   mov %r2, %r10\nadd %r2, -4\nlddw %r1, 0\ncall 1\nldxdw %r0, [%r0]\nexit\n\
                   stw [%r1], 100\nmov %r0, 0\nexit";
        let prog = assemble_with_maps(src);
        let e = rewrite_with_maps(&prog, ContextKind::Xdp, std::slice::from_ref(&map))
            .expect_err("refused");
        assert!(
            e.message
                .starts_with("R0 invalid mem access 'map_value_or_null'"),
            "{}",
            e.message
        );
        // Without the call, the key is the constant 0 and the value
        // never NULL.
        let without = src.replace("call local +7", "ja +0");
        let prog = assemble_with_maps(&without);
        assert!(rewrite_with_maps(&prog, ContextKind::Xdp, std::slice::from_ref(&map)).is_ok());
    }

    /// Atomics into the packet or the context are refused before the
    /// access is looked at (the kernel's check_atomic; its words, 6.18).
    #[test]
    fn atomics_into_the_packet_or_the_context_are_refused_first() {
        let e = xdp("mov %r3, 1\nlock add [%r2+500], %r3").expect_err("packet");
        assert!(
            e.message
                .starts_with("BPF_ATOMIC stores into R2 pkt is not allowed"),
            "{}",
            e.message
        );
        let prog =
            assemble("mov %r3, 1\nlock add [%r1+3], %r3\nmov %r0, 2\nexit").expect("assembles");
        let e = rewrite(&prog, ContextKind::Xdp).expect_err("context");
        assert_eq!(
            (e.pc, e.message.as_str()),
            (1, "BPF_ATOMIC stores into R1 ctx is not allowed")
        );
        // What an atomic fetches is a number: no pointer to read through
        // (the kernel's `R4 invalid mem access 'scalar'`).
        let prog = assemble(
            "stdw [%r10-16], 0\nmov %r3, 1\nlock fetch add32 [%r10-16], %r3\n\
             mov %r4, %r3\nxor32 %r4, 8\nldxb %r3, [%r4]\nmov %r0, 2\nexit",
        )
        .expect("assembles");
        let e = rewrite(&prog, ContextKind::Xdp).expect_err("a number");
        assert_eq!(
            (e.pc, e.message.as_str()),
            (5, "R4 invalid mem access 'scalar'")
        );
    }

    /// Sixteen paths reach one access with the packet pointer at sixteen
    /// offsets; the last the kernel explores (every branch taken) reads
    /// past the 20 bytes proven. Past eight paths kept apart the rest join
    /// into one, where the pointer is no longer followed: each joined path
    /// is checked at the access as it joins. The kernel's verdict and
    /// words (6.18); accepted here before.
    #[test]
    fn a_path_joined_at_an_access_is_checked_as_it_joins() {
        let src = "ldxw %r2, [%r1]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 20\n\
                   jgt %r4, %r3, +16\nmov %r6, %r2\nadd %r6, 15\n\
                   ldxb %r4, [%r2]\njeq %r4, 0, +1\nadd %r6, -1\n\
                   ldxb %r4, [%r2+1]\njeq %r4, 0, +1\nadd %r6, -2\n\
                   ldxb %r4, [%r2+2]\njeq %r4, 0, +1\nadd %r6, -4\n\
                   ldxb %r4, [%r2+3]\njeq %r4, 0, +1\nadd %r6, -8\n\
                   ldxb %r0, [%r6+5]\nexit\nmov %r0, 2\nexit";
        let e = rewrite(&assemble(src).expect("assembles"), ContextKind::Xdp)
            .expect_err("the last path reads past the range");
        assert_eq!(e.pc, 19);
        assert!(
            e.message
                .starts_with("invalid access to packet, off=20 size=1, R6(id=0,off=20,r=20)"),
            "{}",
            e.message
        );
    }

    /// A tail call through a map that is not a program array, in the
    /// words of the kernel's record_func_key (Linux 6.17 and later); one
    /// that fails leaves r0 unwritten (RET_VOID); a helper served to
    /// another program type only is refused before its arguments (the
    /// kernel's verdicts and words, 6.18, from the generated programs).
    #[test]
    fn tail_calls_and_unserved_helpers_are_refused_as_the_kernel_words_it() {
        let maps = [
            MapDef::new("small", MapKind::Array, 4, 8, 4),
            MapDef::new("jumps", MapKind::ProgArray, 4, 4, 2),
        ];
        let check = |kind: ContextKind, src: &str| {
            rewrite_with_maps(&assemble_with_maps(src), kind, &maps)
                .map(|_| ())
                .map_err(|e| format!("{} {}", e.pc, e.message))
        };
        let tail = |map: u32| format!("lddw %r2, {map}\nmov %r3, 0\ncall 12\nexit");
        let e = check(ContextKind::Xdp, &tail(0)).expect_err("not a program array");
        assert!(
            e.starts_with("3 expected prog array map for tail call"),
            "{e}"
        );
        let e = check(ContextKind::Xdp, &tail(1)).expect_err("r0 unwritten");
        assert!(e.starts_with("4 R0 !read_ok"), "{e}");
        // csum_diff is not a socket filter's, whatever its buffer.
        let e = check(
            ContextKind::Socket,
            "mov %r1, %r10\nadd %r1, -8\nmov %r2, 600\nmov %r3, 0\nmov %r4, 0\n\
             mov %r5, 0\ncall 28\nexit",
        )
        .expect_err("not served");
        assert_eq!(
            e,
            "6 program of this type cannot use helper bpf_csum_diff#28"
        );
    }

    /// Numbers the running kernel (6.18.44) knows better than its older
    /// releases, each verdict and message its own (the same programs
    /// loaded into it as XDP programs, 2026-12-06): it explores `x & k`
    /// for x -1 and 0 apart (LLVM's `x s>> 63` select), takes no side of a
    /// comparison that leaves a number no value (`x << 24` between 8 and
    /// 31), and bounds `x << 32` by the low half's negative bounds too.
    #[test]
    fn numbers_are_followed_as_the_running_kernel_follows_them() {
        let maps = [MapDef::new("values", MapKind::Array, 4, 32, 1)];
        let check = |body: &str| {
            let src = format!(
                "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, 0\ncall 1\n\
                 jne %r0, 0, +2\nmov %r0, 0\nexit\nmov %r9, %r0\nmov %r0, 0\n{body}\n\
                 mov %r4, %r9\nadd %r4, %r3\nldxb %r0, [%r4]\nmov %r0, 0\nexit"
            );
            rewrite_with_maps(&assemble_with_maps(&src), ContextKind::Xdp, &maps)
                .map(|_| ())
                .map_err(|e| format!("{} {}", e.pc, e.message))
        };
        let sign_bit = "ldxb %r3, [%r9]\nlsh %r3, 56\narsh %r3, 56\narsh %r3, 31";
        assert_eq!(
            check(&format!(
                "{sign_bit}\nand %r3, -16\njgt %r3, 0x7fffffff, +4"
            )),
            Ok(())
        );
        assert_eq!(
            check(&format!("{sign_bit}\nand32 %r3, -16\njgt %r3, 0xffff, +4")),
            Ok(())
        );
        // (Without the jump, the path where it is -16 reads before the
        // value.)
        let e = check(&format!("{sign_bit}\nand %r3, -16")).expect_err("-16");
        assert!(
            e.starts_with("18 invalid access to map value, value_size=32 off=-16 size=1"),
            "{e}"
        );
        assert_eq!(
            check("ldxh %r3, [%r9]\nlsh %r3, 24\njslt %r3, 8, +4\njsgt %r3, 31, +3"),
            Ok(())
        );
        let e = check("ldxb %r3, [%r9]\nlsh %r3, 56\narsh %r3, 56\nlsh %r3, 32")
            .expect_err("out of bounds");
        assert!(
            e.starts_with("16 value -549755813888 makes map_value pointer be out of bounds"),
            "{e}"
        );
        // Where the path as 0 cannot always be kept apart (128 paths reach
        // the mask, registers and stack slots set apart on each and read
        // after it: some paths as 0 are joined into states that already
        // covered them, and go on with both values): -1 & 8 less 1 reads
        // inside, 0 & 8 less 1 before the value, and the program is
        // refused. (Paths as 0 kept apart refuse it too, so this holds the
        // verdict, not the joined case alone.)
        let set = [
            "mov %r1, 1",
            "mov %r2, 1",
            "mov %r5, 1",
            "mov %r6, 1",
            "mov %r8, 1",
            "stdw [%r10-16], 1",
            "stdw [%r10-24], 1",
        ];
        let branches: String = set
            .iter()
            .enumerate()
            .map(|(k, s)| format!("ldxb %r7, [%r9+{}]\njeq %r7, 0, +1\n{s}\n", k + 1))
            .collect();
        let src = format!(
            "stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, 0\ncall 1\n\
             jne %r0, 0, +2\nmov %r0, 0\nexit\nmov %r9, %r0\n{sign_bit}\n\
             mov %r1, 0\nmov %r2, 0\nmov %r5, 0\nmov %r6, 0\nmov %r8, 0\n\
             stdw [%r10-16], 0\nstdw [%r10-24], 0\n{branches}\
             and %r3, 8\nadd %r3, -1\nmov %r4, %r9\nadd %r4, %r3\nldxb %r0, [%r4]\n\
             add %r0, %r1\nadd %r0, %r2\nadd %r0, %r5\nadd %r0, %r6\nadd %r0, %r8\n\
             ldxdw %r7, [%r10-16]\nadd %r0, %r7\nldxdw %r7, [%r10-24]\nadd %r0, %r7\nexit"
        );
        let e = rewrite_with_maps(&assemble_with_maps(&src), ContextKind::Xdp, &maps)
            .map(|_| ())
            .map_err(|e| format!("{} {}", e.pc, e.message))
            .expect_err("the path as 0 reads before the value");
        assert!(
            e.starts_with("46 invalid access to map value, value_size=32 off=-1 size=1"),
            "{e}"
        );
    }

    /// Stores into `cb` stay within `cb[4]` and are aligned, as the
    /// kernel's `bpf_skb_is_valid_access` (8 bytes at `cb[4]` refused by
    /// the running 6.18, at `cb[2]` accepted).
    #[test]
    fn stores_into_cb_stay_within_it() {
        let store = |off: u32| {
            let src = format!("mov %r3, 1\nstxdw [%r1+{off}], %r3\nmov %r0, 0\nexit");
            rewrite_with_maps(&assemble_with_maps(&src), ContextKind::Socket, &[])
                .map(|_| ())
                .map_err(|e| format!("{} {}", e.pc, e.message))
        };
        assert_eq!(store(56), Ok(()));
        for off in [60, 64] {
            let e = store(off).expect_err("past cb[4] or misaligned");
            assert!(
                e.starts_with(&format!("1 invalid bpf_context access off={off} size=8")),
                "{e}"
            );
        }
    }

    /// The kernel's RET_VOID helpers leave r0 unreadable; the others
    /// return a number (each verdict the running kernel's, 6.18).
    #[test]
    fn helpers_returning_nothing_leave_r0_unwritten() {
        let ring = MapDef::new("events", MapKind::RingBuf, 0, 0, 4096);
        for release in [132, 133] {
            let src = format!(
                "lddw %r1, 0\nmov %r2, 8\nmov %r3, 0\ncall 131\njeq %r0, 0, +4\n\
                 mov %r1, %r0\nmov %r2, 0\ncall {release}\nexit\nmov %r0, 0\nexit"
            );
            let e = rewrite_with_maps(
                &assemble_with_maps(&src),
                ContextKind::Xdp,
                std::slice::from_ref(&ring),
            )
            .expect_err("r0 unwritten");
            assert!(
                (e.pc, e.message.starts_with("R0 !read_ok")) == (9, true),
                "{e}"
            );
        }
        // set_hash_invalid(skb) and set_hash(skb, hash) return 0.
        for src in ["call 41\nexit", "mov %r2, 7\ncall 48\nexit"] {
            assert!(rewrite(&assemble(src).expect("assembles"), ContextKind::Tc).is_ok());
        }
    }

    /// Each verdict and reason as the kernel gives them (6.18, in
    /// `tests/xdp_verifier_kernel.rs`'s generated ring buffer snippets).
    #[test]
    fn ring_buffer_samples_are_followed_path_by_path() {
        let ring = MapDef::new("events", MapKind::RingBuf, 0, 0, 4096);
        let check = |kind: ContextKind, body: &str| {
            let src = format!(
                "lddw %r1, 0\nmov %r2, 16\nmov %r3, 0\ncall 131\njeq %r0, 0, +{{skip}}\n\
                 {body}\nmov %r0, 2\nexit"
            );
            let src = src.replace("{skip}", &body.lines().count().to_string());
            rewrite_with_maps(&assemble_with_maps(&src), kind, std::slice::from_ref(&ring))
                .map(|_| ())
                .map_err(|e| format!("{} {}", e.pc, e.message))
        };
        let submit = "mov %r1, %r0\nmov %r2, 0\ncall 132";
        assert_eq!(
            check(ContextKind::Xdp, &format!("stw [%r0+12], 1\n{submit}")),
            Ok(())
        );
        let refused = |kind, body: &str, pc: usize, reason: &str| {
            let e = check(kind, body).expect_err(body);
            assert!(e.starts_with(&format!("{pc} {reason}")), "{body}: {e}");
        };
        // Past the 16 bytes reserved.
        refused(
            ContextKind::Xdp,
            &format!("stw [%r0+16], 1\n{submit}"),
            6,
            "invalid access to memory, mem_size=16 off=16 size=4",
        );
        // Written after the submit: the pointer is a number now.
        refused(
            ContextKind::Xdp,
            &format!("mov %r9, %r0\n{submit}\nstw [%r9], 1"),
            10,
            "R9 invalid mem access 'scalar'",
        );
        // Submitted twice.
        refused(
            ContextKind::Xdp,
            &format!("mov %r9, %r0\n{submit}\nmov %r1, %r9\ncall 132"),
            11,
            "R1 type=scalar expected=ringbuf_mem",
        );
        // A moved pointer given back.
        refused(
            ContextKind::Xdp,
            "mov %r1, %r0\nadd %r1, 4\nmov %r2, 0\ncall 133",
            9,
            "R1 must have zero offset when passed to release func",
        );
        // Released on one side of a branch only: the other side's exit.
        refused(
            ContextKind::Xdp,
            &format!("ldxw %r5, [%r0]\njeq %r5, 0, +3\n{submit}"),
            12,
            "Unreleased reference id=4 alloc_insn=4",
        );
        // A legacy load while the sample is held, in a socket filter.
        refused(
            ContextKind::Socket,
            &format!("ldabsb 14\n{submit}"),
            6,
            "Unreleased reference id=4 alloc_insn=4: BPF_LD_[ABS|IND] would lead to \
             reference leak",
        );
    }

    /// The verdicts and reasons of the programs reading their slot back
    /// are the running kernel's (6.18, each loaded as XDP with
    /// `BPF_PROG_LOAD`); the two refusals at the end are worded as the
    /// kernel's in `tests/xdp_verifier_kernel.rs`, whose generated calls
    /// make both.
    #[test]
    fn a_callee_writes_into_its_callers_stack_as_the_kernel_follows_it() {
        let map = MapDef::new("table", MapKind::Array, 4, 8, 4);
        let check = |src: &str| {
            rewrite_with_maps(
                &assemble_with_maps(src),
                ContextKind::Xdp,
                std::slice::from_ref(&map),
            )
            .map(|_| ())
            .map_err(|e| format!("{} {}", e.pc, e.message))
        };
        // The callee adds 1 to the number at the pointer: the caller's
        // slot holds a number, not a pointer (here through one callee,
        // then through a second the first passes the pointer on to).
        let add = "ldxdw %r3, [%r1]\nadd %r3, 1\nstxdw [%r1], %r3\nmov %r0, 0\nexit";
        let caller = "stdw [%r10-8], 403\nmov %r1, %r10\nadd %r1, -8\ncall local +3\n\
                      ldxdw %r3, [%r10-8]\nldxb %r0, [%r3]\nexit\n";
        for src in [
            format!("{caller}{add}"),
            format!("{}call local +1\nexit\n{add}", caller),
        ] {
            assert_eq!(
                check(&src),
                Err("5 R3 invalid mem access 'scalar'".into()),
                "{src}"
            );
        }
        // A constant array key the callee (or its callee, or a callee
        // reaching the slot through a pointer the caller spilled) stores:
        // in range the value is never NULL; out of range it may be.
        let lookup = "mov %r2, %r10\nadd %r2, -8\nlddw %r1, 0\ncall 1\nldxdw %r0, [%r0]\nexit\n";
        let direct = |key: u32| {
            format!(
                "mov %r1, %r10\nadd %r1, -8\ncall local +7\n{lookup}stw [%r1], {key}\n\
                 mov %r0, 0\nexit"
            )
        };
        let nested = format!(
            "mov %r1, %r10\nadd %r1, -8\ncall local +7\n{lookup}call local +1\nexit\n\
             stw [%r1], 2\nmov %r0, 0\nexit"
        );
        let spilled = |key: u32| {
            format!(
                "mov %r1, %r10\nadd %r1, -8\nstxdw [%r10-16], %r1\nmov %r1, %r10\n\
                 add %r1, -16\ncall local +7\n{lookup}ldxdw %r1, [%r1]\nstw [%r1], {key}\n\
                 mov %r0, 0\nexit"
            )
        };
        assert_eq!(check(&direct(2)), Ok(()));
        assert_eq!(check(&nested), Ok(()));
        assert_eq!(check(&spilled(2)), Ok(()));
        for (src, pc) in [(direct(7), 8), (spilled(9), 11)] {
            let e = check(&src).expect_err("may be NULL");
            assert!(
                e.starts_with(&format!("{pc} R0 invalid mem access 'map_value_or_null'")),
                "{e}"
            );
        }
        // What the kernel refuses outright: a callee's stack pointer
        // stored into a caller's frame, and a stack pointer returned.
        let spill_own = "mov %r1, %r10\nadd %r1, -8\ncall local +2\nmov %r0, 0\nexit\n\
                         mov %r2, %r10\nadd %r2, -8\nstxdw [%r1], %r2\nmov %r0, 0\nexit";
        assert_eq!(
            check(spill_own),
            Err("7 cannot spill pointers to stack into stack frame of the caller".into())
        );
        let give_back = "mov %r1, %r10\nadd %r1, -8\ncall local +2\nmov %r0, 0\nexit\n\
                         mov %r0, %r1\nexit";
        assert_eq!(
            check(give_back),
            Err("6 cannot return stack pointer to the caller".into())
        );
    }
}
