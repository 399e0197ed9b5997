//! Classic → extended BPF, the userspace twin of the kernel's
//! `bpf_convert_filter` (net/core/filter.c): one arm per classic opcode.
//!
//! Register mapping as in the kernel, so dumps line up with its conversion:
//! A = r0, X = r7, the context = r6 (copied from r1 at entry), r2 a scratch
//! register, and scratch word `k` at `r10 - (4k + 4)`.
//!
//! Where we depart from the kernel's output, and why:
//! - Packet loads stay legacy `LD_ABS`/`LD_IND` instead of the kernel's
//!   inline fast path through r8/r9: the JIT checks bounds its own way.
//! - A and X are cleared with `mov32 rN, 0` rather than `xor32 rN, rN`,
//!   which the verifier would see as a read of an unset register.
//! - ALU instructions with a constant operand have src = 0 (the kernel
//!   leaves X's number in the unused field; our verifier refuses that).
//! - Ancillary loads read the context block below ([`ctx_block`]) instead
//!   of `struct sk_buff`; `#cpu` and `#poff` read fixed fields there rather
//!   than calling the kernel's helpers; `#rand`, `#nla` and `#nlan` call the
//!   runtime helpers in [`runtime_call`].
//!
//! The translation of a checked program always verifies; its only jumps
//! are forward and stay in range.

use crate::cbpf::insn::{op as c, skf};
use crate::cbpf::{self, Metadata};
use crate::ebpf::insn::{op as e, Insn};
use crate::ebpf::Program;

pub mod xdp;

/// Register holding A.
pub const REG_A: u8 = 0;
/// Register holding X.
pub const REG_X: u8 = 7;
/// Register holding the context pointer.
pub const REG_CTX: u8 = 6;
/// Scratch register.
pub const REG_TMP: u8 = 2;

/// Helper ids of the classic runtime calls the translation makes. They live
/// in a range no real helper uses.
pub mod runtime_call {
    /// `#rand`: the next pseudo-random number of this run.
    pub const RANDOM: u32 = 0x7cb0_0001;
    /// `#nla`: offset of netlink attribute X from offset A, or 0.
    pub const NLATTR: u32 = 0x7cb0_0002;
    /// `#nlan`: the same inside the nested attribute at offset A.
    pub const NLATTR_NEST: u32 = 0x7cb0_0003;
}

/// Byte offsets of the fields of the context block (all u32, native
/// endian).
pub mod ctx_field {
    /// Packet length (`len`).
    pub const LEN: i16 = 0;
    /// `#proto`.
    pub const PROTOCOL: i16 = 4;
    /// `#type`.
    pub const PKTTYPE: i16 = 8;
    /// 1 when there is a device, else 0.
    pub const HAS_DEVICE: i16 = 12;
    /// `#ifidx`.
    pub const IFINDEX: i16 = 16;
    /// `#hatype`.
    pub const HATYPE: i16 = 20;
    /// `#mark`.
    pub const MARK: i16 = 24;
    /// `#queue`.
    pub const QUEUE: i16 = 28;
    /// `#rxhash`.
    pub const RXHASH: i16 = 32;
    /// `#cpu`.
    pub const CPU: i16 = 36;
    /// `#vlan_tci`.
    pub const VLAN_TCI: i16 = 40;
    /// `#vlan_avail`.
    pub const VLAN_PRESENT: i16 = 44;
    /// `#vlan_tpid`.
    pub const VLAN_TPID: i16 = 48;
    /// `#poff`.
    pub const PAY_OFFSET: i16 = 52;
    /// Size of the block in bytes.
    pub const SIZE: usize = 56;
}

/// The context block a translated program reads through r6, for one packet.
pub fn ctx_block(meta: &Metadata, packet_len: usize) -> [u8; ctx_field::SIZE] {
    let mut b = [0u8; ctx_field::SIZE];
    let mut put = |at: i16, v: u32| {
        let at = at as usize;
        b[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    };
    put(
        ctx_field::LEN,
        u32::try_from(packet_len).unwrap_or(u32::MAX),
    );
    put(ctx_field::PROTOCOL, u32::from(meta.protocol));
    put(ctx_field::PKTTYPE, u32::from(meta.pkttype));
    put(ctx_field::HAS_DEVICE, u32::from(meta.device.is_some()));
    put(ctx_field::IFINDEX, meta.device.map_or(0, |d| d.ifindex));
    put(
        ctx_field::HATYPE,
        meta.device.map_or(0, |d| u32::from(d.hatype)),
    );
    put(ctx_field::MARK, meta.mark);
    put(ctx_field::QUEUE, u32::from(meta.queue));
    put(ctx_field::RXHASH, meta.rxhash);
    put(ctx_field::CPU, meta.cpu);
    put(ctx_field::VLAN_TCI, u32::from(meta.vlan_tci));
    put(ctx_field::VLAN_PRESENT, u32::from(meta.vlan_present));
    put(ctx_field::VLAN_TPID, u32::from(meta.vlan_tpid));
    put(ctx_field::PAY_OFFSET, meta.pay_offset);
    b
}

/// Why a classic program could not be translated (it failed the checker).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TranslateError(pub cbpf::check::CheckError);

impl std::fmt::Display for TranslateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the kernel would refuse this program: {}", self.0)
    }
}

impl std::error::Error for TranslateError {}

/// One emitted slot, with the classic pc its jump goes to (if any).
struct Emit {
    insn: Insn,
    to: Option<Label>,
}

/// Where an emitted jump goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Label {
    /// The first slot of classic instruction `pc`.
    Classic(usize),
    /// The shared "drop the packet" exit an XDP translation ends with.
    Drop,
}

/// What a translation is for: it decides where packet bytes and the packet
/// length come from and what `ret` becomes. Everything else (ALU, jumps,
/// scratch memory) is translated the same way for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    /// A socket filter, as the kernel's converter makes it.
    Socket,
    /// An XDP program ([`xdp`]).
    Xdp,
}

fn alu32_k(code: u8, dst: u8, k: u32) -> Insn {
    Insn::new(e::ALU | code | e::K, dst, 0, 0, k as i32)
}
fn alu32_x(code: u8, dst: u8, src: u8) -> Insn {
    Insn::new(e::ALU | code | e::X, dst, src, 0, 0)
}
fn mov64(dst: u8, src: u8) -> Insn {
    Insn::new(e::ALU64 | e::MOV | e::X, dst, src, 0, 0)
}
fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    Insn::new(e::LDX | e::MEM | e::W, dst, src, off, 0)
}
fn exit() -> Insn {
    Insn::new(e::JMP | e::EXIT, 0, 0, 0, 0)
}
fn call(id: u32) -> Insn {
    Insn::new(e::JMP | e::CALL, 0, 0, 0, id as i32)
}

/// Translates a program that passed the checker. Refuses any other.
pub fn translate(prog: &cbpf::Program) -> Result<Program, TranslateError> {
    cbpf::check::check(prog).map_err(TranslateError)?;
    Ok(translate_checked(prog))
}

/// Translates without checking first; the caller vouches for the program.
fn translate_checked(prog: &cbpf::Program) -> Program {
    match link(prog, Target::Socket) {
        Ok(p) => p,
        // Socket translation refuses nothing the checker accepts.
        Err(_) => unreachable!("socket-filter translation of a checked program failed"),
    }
}

/// Why a checked classic instruction has no translation for a target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unsupported {
    pc: usize,
    what: String,
}

/// Translates a checked program for `target` and resolves its jumps.
fn link(prog: &cbpf::Program, target: Target) -> Result<Program, Unsupported> {
    // Room for most programs' translation (two slots per instruction).
    let mut out: Vec<Emit> = Vec::with_capacity(2 * prog.len() + 8);
    let plain = |insn| Emit { insn, to: None };
    // Prologue: A = 0, X = 0, and the target's registers from r1.
    out.push(plain(alu32_k(e::MOV, REG_A, 0)));
    out.push(plain(alu32_k(e::MOV, REG_X, 0)));
    match target {
        Target::Socket => out.push(plain(mov64(REG_CTX, 1))),
        Target::Xdp => out.extend(xdp::prologue().map(plain)),
    }

    // The kernel's eBPF verifier (which XDP programs go through, unlike
    // attached classic filters) refuses unreachable code: only reachable
    // classic instructions are translated for XDP.
    let reachable = match target {
        Target::Socket => vec![true; prog.len()],
        Target::Xdp => reachable(prog, xdp::always_drops),
    };
    let mut start = Vec::with_capacity(prog.len() + 1);
    for (pc, insn) in prog.insns.iter().enumerate() {
        start.push(out.len());
        if reachable[pc] {
            convert(pc, insn, target, &mut out)?;
        }
    }
    start.push(out.len());
    let drop_at = out.len();
    if out.iter().any(|emit| emit.to == Some(Label::Drop)) {
        out.extend(xdp::ret_action(xdp::action::DROP).map(plain));
    }

    let mut insns = Vec::with_capacity(out.len());
    for (at, emit) in out.iter().enumerate() {
        let mut insn = emit.insn;
        if let Some(label) = emit.to {
            let slot = match label {
                Label::Classic(pc) => start[pc],
                Label::Drop => drop_at,
            };
            // Socket translations of checked programs jump forward within
            // 4096 instructions of at most 8 slots each: always in range.
            // XDP packet loads are longer, so a huge program can overflow.
            let off = slot as i64 - (at as i64 + 1);
            insn.off = i16::try_from(off).map_err(|_| Unsupported {
                pc: start.partition_point(|&s| s <= at).saturating_sub(1),
                what: format!("a jump of {off} instructions, beyond eBPF's 16-bit offsets"),
            })?;
        }
        insns.push(insn);
    }
    Ok(Program::new(insns))
}

/// Classic instructions some path from the first reaches, where an
/// instruction for which `ends_path` holds has no successors.
fn reachable(prog: &cbpf::Program, ends_path: fn(&cbpf::Insn) -> bool) -> Vec<bool> {
    let mut seen = vec![false; prog.len()];
    let mut work = vec![0usize];
    while let Some(pc) = work.pop() {
        if pc >= prog.len() || seen[pc] {
            continue;
        }
        seen[pc] = true;
        if ends_path(&prog.insns[pc]) {
            continue;
        }
        work.extend(prog.insns[pc].successors(pc).into_iter().flatten());
    }
    seen
}

/// Appends the eBPF form of classic instruction `pc`.
fn convert(
    pc: usize,
    insn: &cbpf::Insn,
    target: Target,
    out: &mut Vec<Emit>,
) -> Result<(), Unsupported> {
    if target == Target::Xdp {
        if let Some(done) = xdp::convert(pc, insn, out) {
            return done;
        }
    }
    if insn.class() == c::JMP {
        jump(pc, insn, out);
        return Ok(());
    }
    let k = insn.k;
    let mut push = |insn: Insn| out.push(Emit { insn, to: None });
    let (a, x) = (REG_A, REG_X);
    match insn.class() {
        c::LD | c::LDX => {
            let dst = if insn.class() == c::LD { a } else { x };
            match insn.mode() {
                c::IMM => push(alu32_k(e::MOV, dst, k)),
                c::LEN => push(ldx_w(dst, REG_CTX, ctx_field::LEN)),
                c::MEM => push(ldx_w(dst, 10, scratch(k))),
                c::ABS if is_ancillary(k) => ancillary(k, &mut push),
                c::ABS => push(Insn::new(e::LD | e::ABS | size(insn), 0, 0, 0, k as i32)),
                c::IND => push(Insn::new(e::LD | e::IND | size(insn), 0, x, 0, k as i32)),
                c::MSH => {
                    // X = 4 * (pkt[k] & 0xf), keeping A (saved in X across
                    // the load, which sets r0).
                    push(mov64(x, a));
                    push(Insn::new(e::LD | e::ABS | e::B, 0, 0, 0, k as i32));
                    push(alu32_k(e::AND, a, 0xf));
                    push(alu32_k(e::LSH, a, 2));
                    push(mov64(REG_TMP, x));
                    push(mov64(x, a));
                    push(mov64(a, REG_TMP));
                }
                _ => unreachable_checked(),
            }
        }
        c::ST => push(Insn::new(e::STX | e::MEM | e::W, 10, a, scratch(k), 0)),
        c::STX => push(Insn::new(e::STX | e::MEM | e::W, 10, x, scratch(k), 0)),
        c::ALU => {
            let code = alu_code(insn.op());
            if insn.op() == c::NEG {
                push(alu32_k(e::NEG, a, 0));
            } else if insn.src() == c::X {
                if matches!(insn.op(), c::DIV | c::MOD) {
                    // Classic division by a zero X ends the program with 0.
                    push(alu32_x(e::MOV, x, x));
                    push(Insn::new(e::JMP | e::JNE | e::K, x, 0, 2, 0));
                    push(alu32_k(e::MOV, a, 0));
                    push(exit());
                }
                push(alu32_x(code, a, x));
            } else {
                push(alu32_k(code, a, k));
            }
        }
        c::RET => {
            if insn.rval() == c::K {
                push(alu32_k(e::MOV, a, k));
            }
            push(exit());
        }
        c::MISC => {
            if insn.miscop() == c::TAX {
                push(mov64(x, a));
            } else {
                push(mov64(a, x));
            }
        }
        _ => unreachable_checked(),
    }
    Ok(())
}

/// Classic conditional and unconditional jumps, as the kernel maps them.
fn jump(pc: usize, insn: &cbpf::Insn, out: &mut Vec<Emit>) {
    let [target_t, target_f] = insn.successors(pc);
    if insn.op() == c::JA {
        out.push(Emit {
            insn: Insn::new(e::JMP | e::JA, 0, 0, 0, 0),
            to: target_t.map(Label::Classic),
        });
        return;
    }
    let cond = match insn.op() {
        c::JEQ => e::JEQ,
        c::JGT => e::JGT,
        c::JGE => e::JGE,
        _ => e::JSET,
    };
    // eBPF immediates are sign-extended; compare against a zero-extended
    // copy in the scratch register when k has its top bit set.
    let (src_bit, src, imm) = if insn.src() == c::X {
        (e::X, REG_X, 0)
    } else if (insn.k as i32) < 0 {
        out.push(Emit {
            insn: alu32_k(e::MOV, REG_TMP, insn.k),
            to: None,
        });
        (e::X, REG_TMP, 0)
    } else {
        (e::K, 0, insn.k as i32)
    };
    let jmp = |code: u8| Insn::new(e::JMP | code | src_bit, REG_A, src, 0, imm);
    if insn.jf == 0 {
        out.push(Emit {
            insn: jmp(cond),
            to: target_t.map(Label::Classic),
        });
        return;
    }
    let inverse = match cond {
        e::JEQ => Some(e::JNE),
        e::JGT => Some(e::JLE),
        e::JGE => Some(e::JLT),
        _ => None,
    };
    if let (0, Some(inv)) = (insn.jt, inverse) {
        out.push(Emit {
            insn: jmp(inv),
            to: target_f.map(Label::Classic),
        });
        return;
    }
    out.push(Emit {
        insn: jmp(cond),
        to: target_t.map(Label::Classic),
    });
    out.push(Emit {
        insn: Insn::new(e::JMP | e::JA, 0, 0, 0, 0),
        to: target_f.map(Label::Classic),
    });
}

fn is_ancillary(k: u32) -> bool {
    let k = k as i32;
    (skf::AD_OFF..skf::AD_OFF + skf::AD_MAX).contains(&k)
}

/// Ancillary loads into A.
fn ancillary(k: u32, push: &mut dyn FnMut(Insn)) {
    let a = REG_A;
    let field = |f: i16| ldx_w(a, REG_CTX, f);
    match k as i32 - skf::AD_OFF {
        skf::AD_PROTOCOL => push(field(ctx_field::PROTOCOL)),
        skf::AD_PKTTYPE => push(field(ctx_field::PKTTYPE)),
        skf::AD_IFINDEX | skf::AD_HATYPE => {
            // No device: the program ends at once, returning A as it is.
            push(ldx_w(REG_TMP, REG_CTX, ctx_field::HAS_DEVICE));
            push(Insn::new(e::JMP | e::JNE | e::K, REG_TMP, 0, 1, 0));
            push(exit());
            let f = if k as i32 - skf::AD_OFF == skf::AD_IFINDEX {
                ctx_field::IFINDEX
            } else {
                ctx_field::HATYPE
            };
            push(field(f));
        }
        skf::AD_MARK => push(field(ctx_field::MARK)),
        skf::AD_QUEUE => push(field(ctx_field::QUEUE)),
        skf::AD_RXHASH => push(field(ctx_field::RXHASH)),
        skf::AD_CPU => push(field(ctx_field::CPU)),
        skf::AD_VLAN_TAG => push(field(ctx_field::VLAN_TCI)),
        skf::AD_VLAN_TAG_PRESENT => push(field(ctx_field::VLAN_PRESENT)),
        skf::AD_VLAN_TPID => push(field(ctx_field::VLAN_TPID)),
        skf::AD_PAY_OFFSET => push(field(ctx_field::PAY_OFFSET)),
        skf::AD_ALU_XOR_X => push(alu32_x(e::XOR, a, REG_X)),
        skf::AD_NLATTR | skf::AD_NLATTR_NEST => {
            let id = if k as i32 - skf::AD_OFF == skf::AD_NLATTR {
                runtime_call::NLATTR
            } else {
                runtime_call::NLATTR_NEST
            };
            push(mov64(1, REG_CTX));
            push(mov64(2, a));
            push(mov64(3, REG_X));
            push(call(id));
        }
        skf::AD_RANDOM => push(call(runtime_call::RANDOM)),
        _ => unreachable_checked(),
    }
}

/// `r10` offset of scratch word `k`.
fn scratch(k: u32) -> i16 {
    -((k as i16) * 4 + 4)
}

fn size(insn: &cbpf::Insn) -> u8 {
    match insn.size() {
        c::H => e::H,
        c::B => e::B,
        _ => e::W,
    }
}

fn alu_code(classic_op: u16) -> u8 {
    // Classic and extended ALU operation codes coincide for every classic op.
    classic_op as u8
}

/// The checker refuses every instruction that reaches here.
fn unreachable_checked() {
    debug_assert!(false, "the checker lets no such instruction through");
}
