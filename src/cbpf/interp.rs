//! The reference interpreter: classic BPF semantics as Linux runs them,
//! written once, directly over classic instructions.
//!
//! Kernel behaviours reproduced here (all checked against Linux 6.18 by
//! `tests/kernel_classic.rs`):
//! - packet loads are big-endian; a load that does not fit in the packet
//!   ends the program with verdict 0;
//! - `ld [x + k]` uses `(X + k) mod 2^32` as a signed offset;
//! - negative offsets from `SKF_NET_OFF` / `SKF_LL_OFF` read relative to the
//!   network / link-layer header (see [`Metadata`]); anything lower fails;
//! - division or modulo by X = 0 ends the program with verdict 0;
//! - shifts by X use X mod 32;
//! - `#ifidx` / `#hatype` without a device end the program returning A.
//!
//! For programs the checker would refuse, `run` still never panics: an
//! unknown opcode, a jump or fall-through past the end, a scratch index of
//! 16 or more, or a division by constant 0 ends the program with verdict 0;
//! a constant shift uses k mod 32.

use super::ancillary::Ancillary;
use super::insn::{op, skf, Program};
use super::meta::Metadata;
use super::semantics::{alu, jump_taken};
use crate::rng::Rng;

// Exact opcodes, as the kernel's checker only accepts exact codes.
const LD_W_ABS: u16 = op::LD | op::W | op::ABS;
const LD_H_ABS: u16 = op::LD | op::H | op::ABS;
const LD_B_ABS: u16 = op::LD | op::B | op::ABS;
const LD_W_IND: u16 = op::LD | op::W | op::IND;
const LD_H_IND: u16 = op::LD | op::H | op::IND;
const LD_B_IND: u16 = op::LD | op::B | op::IND;
const LD_W_LEN: u16 = op::LD | op::W | op::LEN;
const LD_IMM: u16 = op::LD | op::IMM;
const LD_MEM: u16 = op::LD | op::MEM;
const LDX_W_LEN: u16 = op::LDX | op::W | op::LEN;
const LDX_B_MSH: u16 = op::LDX | op::B | op::MSH;
const LDX_IMM: u16 = op::LDX | op::IMM;
const LDX_MEM: u16 = op::LDX | op::MEM;
const RET_K: u16 = op::RET | op::K;
const RET_A: u16 = op::RET | op::A;
const TAX: u16 = op::MISC | op::TAX;
const TXA: u16 = op::MISC | op::TXA;
const NEG: u16 = op::ALU | op::NEG;
const JA: u16 = op::JMP | op::JA;

/// Runs `prog` on `packet` and returns the 32-bit verdict (the number of
/// bytes to keep; 0 drops the packet).
pub fn run(prog: &Program, packet: &[u8], meta: &Metadata) -> u32 {
    run_with_len(prog, packet, meta, packet.len() as u32)
}

/// [`run`] with `len` as the packet length `ld len` reads: the length on
/// the wire when `packet` holds only the captured part (as libpcap's
/// `pcap_filter` and the kernel at capture time see it).
pub fn run_with_len(prog: &Program, packet: &[u8], meta: &Metadata, len: u32) -> u32 {
    let mut a: u32 = 0;
    let mut x: u32 = 0;
    let mut mem = [0u32; op::MEMWORDS as usize];
    let mut rng = Rng::new(meta.random_seed);
    let mut pc: usize = 0;
    loop {
        let Some(insn) = prog.insns.get(pc) else {
            return 0;
        };
        pc += 1;
        let k = insn.k;
        match insn.code {
            RET_K => return k,
            RET_A => return a,
            LD_IMM => a = k,
            LDX_IMM => x = k,
            LD_W_LEN => a = len,
            LDX_W_LEN => x = len,
            LD_MEM | LDX_MEM => {
                let Some(&v) = mem.get(k as usize) else {
                    return 0;
                };
                if insn.code == LD_MEM {
                    a = v;
                } else {
                    x = v;
                }
            }
            c if c == op::ST || c == op::STX => {
                let v = if c == op::ST { a } else { x };
                let Some(cell) = mem.get_mut(k as usize) else {
                    return 0;
                };
                *cell = v;
            }
            TAX => x = a,
            TXA => a = x,
            LD_W_ABS | LD_H_ABS | LD_B_ABS => {
                if let Some(anc) = Ancillary::from_k(k) {
                    match ancillary(anc, a, x, packet, meta, &mut rng) {
                        Ok(v) => a = v,
                        Err(verdict) => return verdict,
                    }
                } else {
                    match load(packet, meta, k as i32, size_of(insn.size())) {
                        Some(v) => a = v,
                        None => return 0,
                    }
                }
            }
            LD_W_IND | LD_H_IND | LD_B_IND => {
                let off = x.wrapping_add(k) as i32;
                match load(packet, meta, off, size_of(insn.size())) {
                    Some(v) => a = v,
                    None => return 0,
                }
            }
            LDX_B_MSH => match load(packet, meta, k as i32, 1) {
                Some(v) => x = (v & 0xf) << 2,
                None => return 0,
            },
            NEG => a = a.wrapping_neg(),
            c if c & 0x07 == op::ALU && c & !0xf8 == op::ALU => {
                let src = if c & op::X != 0 { x } else { k };
                match alu(c & 0xf0, a, src) {
                    Some(v) => a = v,
                    None => return 0,
                }
            }
            JA => pc = pc.saturating_add(k as usize),
            c if c & 0x07 == op::JMP && c & !0xf8 == op::JMP => {
                let src = if c & op::X != 0 { x } else { k };
                let Some(taken) = jump_taken(c & 0xf0, a, src) else {
                    return 0;
                };
                pc += if taken { insn.jt } else { insn.jf } as usize;
            }
            _ => return 0,
        }
    }
}

pub(crate) fn size_of(size_field: u16) -> usize {
    match size_field {
        op::H => 2,
        op::B => 1,
        _ => 4,
    }
}

/// Reads `size` big-endian bytes at a classic load offset, or `None` when
/// the kernel's load would fail.
pub fn load(packet: &[u8], meta: &Metadata, offset: i32, size: usize) -> Option<u32> {
    let start: u64 = if offset >= 0 {
        offset as u64
    } else if offset >= skf::NET_OFF {
        (offset - skf::NET_OFF) as u64 + meta.network_offset as u64
    } else if offset >= skf::LL_OFF {
        (offset - skf::LL_OFF) as u64 + meta.mac_offset? as u64
    } else {
        return None;
    };
    let end = start.checked_add(size as u64)?;
    if end > packet.len() as u64 {
        return None;
    }
    let bytes = &packet[start as usize..end as usize];
    Some(bytes.iter().fold(0u32, |v, &b| (v << 8) | b as u32))
}

/// The value of an ancillary load, or `Err(verdict)` when the kernel ends
/// the program there.
pub(crate) fn ancillary(
    anc: Ancillary,
    a: u32,
    x: u32,
    packet: &[u8],
    meta: &Metadata,
    rng: &mut Rng,
) -> Result<u32, u32> {
    Ok(match anc {
        Ancillary::Protocol => meta.protocol as u32,
        Ancillary::PktType => (meta.pkttype & 7) as u32,
        // The kernel tests skb->dev and exits with r0, which holds A.
        Ancillary::IfIndex => meta.device.ok_or(a)?.ifindex,
        Ancillary::HaType => meta.device.ok_or(a)?.hatype as u32,
        Ancillary::NlAttr => nlattr(packet, meta, a, x, false),
        Ancillary::NlAttrNest => nlattr(packet, meta, a, x, true),
        Ancillary::Mark => meta.mark,
        Ancillary::Queue => meta.queue as u32,
        Ancillary::RxHash => meta.rxhash,
        Ancillary::Cpu => meta.cpu,
        Ancillary::AluXorX => a ^ x,
        Ancillary::VlanTag => meta.vlan_tci as u32,
        Ancillary::VlanTagPresent => meta.vlan_present as u32,
        Ancillary::PayOffset => meta.pay_offset,
        Ancillary::Random => rng.next_u32(),
        Ancillary::VlanTpid => meta.vlan_tpid as u32,
    })
}

/// The kernel's `bpf_skb_get_nlattr{,_nest}`: the offset of the netlink
/// attribute of type `x` (searching from offset `a`, or inside the attribute
/// at `a` when `nested`), or 0. Attribute headers are in host byte order.
pub fn nlattr(packet: &[u8], meta: &Metadata, a: u32, x: u32, nested: bool) -> u32 {
    let len = packet.len();
    if len > meta.linear_limit || len < 4 || a as usize > len - 4 {
        return 0;
    }
    let a = a as usize;
    let found = if nested {
        let outer = header(packet, a).0 as usize;
        if outer > len - a {
            return 0;
        }
        find_attr(packet, a + 4, outer as i64 - 4, x)
    } else {
        find_attr(packet, a, (len - a) as i64, x)
    };
    found.map_or(0, |off| off as u32)
}

/// `nla_len` and `nla_type` of the attribute at `pos` (caller ensures 4
/// bytes are there).
fn header(packet: &[u8], pos: usize) -> (u16, u16) {
    let len = u16::from_ne_bytes([packet[pos], packet[pos + 1]]);
    let ty = u16::from_ne_bytes([packet[pos + 2], packet[pos + 3]]);
    (len, ty)
}

/// The kernel's `nla_find`: walks attributes while `nla_ok` holds.
fn find_attr(packet: &[u8], mut pos: usize, mut rem: i64, attr_type: u32) -> Option<usize> {
    // NLA_TYPE_MASK strips the nested and byte-order flags.
    const TYPE_MASK: u16 = 0x3fff;
    while rem >= 4 && pos + 4 <= packet.len() {
        let (nla_len, ty) = header(packet, pos);
        if nla_len < 4 || nla_len as i64 > rem {
            return None;
        }
        if (ty & TYPE_MASK) as u32 == attr_type {
            return Some(pos);
        }
        let total = (nla_len as usize + 3) & !3;
        rem -= total as i64;
        pos += total;
    }
    None
}
