//! Classic filters as XDP programs: the translation behind
//! `cranebpf compile --xdp`, which the kernel's eBPF verifier accepts and
//! which passes (`XDP_PASS`) exactly the packets the classic filter keeps
//! and drops (`XDP_DROP`) the rest.
//!
//! Only what reads the packet and what `ret` means differ from the socket
//! translation in [`super`]; these are the arms that differ:
//! - the packet is `xdp_md.data .. xdp_md.data_end`, held in r8 and r9 for
//!   the whole program; every load is direct packet access behind the
//!   `ptr + size > data_end` check the verifier needs, which jumps to the
//!   shared drop exit when the packet is too short (classic loads past the
//!   end return 0, i.e. drop);
//! - `ld [x + k]` computes `X + k` in 32 bits as the kernel does and drops
//!   the packet when that is beyond 0xffff - size (no XDP frame's linear
//!   data is that long; this bound is what lets the verifier accept a
//!   variable packet offset). A sum that is negative as a 32-bit number
//!   drops the packet: socket filters would read the `SKF_NET_OFF` /
//!   `SKF_LL_OFF` areas there, which XDP has no equivalent of;
//! - `ld len` is `data_end - data`: XDP sees only the frame's linear part
//!   (multi-buffer frames' fragments are not read);
//! - `ret #k` and `ret a` become `XDP_PASS` when the value is non-zero and
//!   `XDP_DROP` when it is zero;
//! - ancillary loads (`#proto`, `#type`, `#vlan_tci`, …) read `struct
//!   sk_buff` fields XDP has no copy of, except `#ifidx`
//!   (`xdp_md.ingress_ifindex`); the others, and constant negative offsets,
//!   are refused naming the instruction;
//! - instructions no path reaches are left out, because the eBPF verifier
//!   (unlike the classic checker) refuses unreachable code; a load that
//!   can never succeed (end beyond 0xffff) ends its path at the drop exit.

use super::{alu32_k, alu32_x, exit, mov64, Emit, Label, Unsupported, REG_A, REG_X};
use crate::cbpf;
use crate::cbpf::ancillary::Ancillary;
use crate::cbpf::check::CheckError;
use crate::cbpf::insn::{op as c, skf};
use crate::ebpf::elf::{write_object, ElfError, ProgramSection};
use crate::ebpf::insn::{op as e, Insn};
use crate::ebpf::packet_load::{ldx, Offset, PacketLoad, Registers, MAX_PACKET_OFF};
use crate::ebpf::Program;
use crate::expr::LinkType;

/// XDP verdicts (`enum xdp_action`), as the packet runtime reads them.
pub use crate::ebpf::context::xdp_action as action;

/// Register holding `xdp_md.data` (a packet pointer) throughout.
pub const REG_DATA: u8 = 8;
/// Register holding `xdp_md.data_end` throughout.
pub const REG_DATA_END: u8 = 9;
/// Scratch registers of the packet loads.
const PTR: u8 = 2;
const OFFSET: u8 = 3;

/// Byte offsets of `struct xdp_md`'s fields.
mod xdp_md {
    pub const DATA: i16 = 0;
    pub const DATA_END: i16 = 4;
    pub const INGRESS_IFINDEX: i16 = 12;
}

/// Why a classic program has no XDP translation.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum XdpError {
    /// The kernel's classic checker refuses the program.
    Check(CheckError),
    /// The object could not be written (a bad function name).
    Object(ElfError),
    /// Instruction `pc` has no XDP equivalent.
    Unsupported {
        /// Classic instruction index.
        pc: usize,
        /// What it needs that XDP lacks.
        what: String,
    },
}

impl std::fmt::Display for XdpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XdpError::Check(e) => write!(f, "the kernel would refuse this program: {e}"),
            XdpError::Object(e) => e.fmt(f),
            XdpError::Unsupported { pc, what } => {
                write!(
                    f,
                    "instruction {pc}: {what}; XDP programs cannot express it"
                )
            }
        }
    }
}

impl std::error::Error for XdpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            XdpError::Check(e) => Some(e),
            XdpError::Object(e) => Some(e),
            XdpError::Unsupported { .. } => None,
        }
    }
}

/// Translates a classic filter into an XDP program that passes the packets
/// the filter keeps and drops the others. Checks the program with the
/// kernel's classic rules first.
pub fn translate_xdp(prog: &cbpf::Program) -> Result<Program, XdpError> {
    cbpf::check::check(prog).map_err(XdpError::Check)?;
    super::link(prog, super::Target::Xdp)
        .map_err(|Unsupported { pc, what }| XdpError::Unsupported { pc, what })
}

/// Whether XDP programs see frames of link type `link`: Ethernet on most
/// devices, raw IP on layer-3 ones (tun, WireGuard, ipip). Filters
/// compiled for other link types read the wrong bytes under XDP.
pub fn sees_link_type(link: LinkType) -> bool {
    matches!(
        link,
        LinkType::Ethernet | LinkType::Raw | LinkType::Ipv4 | LinkType::Ipv6
    )
}

/// Section of the programs [`xdp_object`] writes: libbpf's name for XDP.
pub const SECTION: &str = "xdp";

/// Translates a classic filter with [`translate_xdp`] and writes it as an
/// ELF object holding one XDP program, function `name`, in section
/// [`SECTION`], licence "Dual MIT/GPL" — what `clang -target bpf` would
/// make of it, loadable by `bpftool prog load`, `ip link set dev D xdp obj
/// F sec xdp` or libbpf.
pub fn xdp_object(prog: &cbpf::Program, name: &str) -> Result<Vec<u8>, XdpError> {
    let program = translate_xdp(prog)?;
    let section = ProgramSection {
        section: SECTION,
        name,
        program: &program,
    };
    write_object(&[section], "Dual MIT/GPL").map_err(XdpError::Object)
}

/// r8 = data, r9 = data_end (r1 is the `xdp_md`).
pub(super) fn prologue() -> [Insn; 2] {
    [
        ldx(e::W, REG_DATA, 1, xdp_md::DATA),
        ldx(e::W, REG_DATA_END, 1, xdp_md::DATA_END),
    ]
}

/// `r0 = action; exit`.
pub(super) fn ret_action(action: u32) -> [Insn; 2] {
    [alu32_k(e::MOV, 0, action), exit()]
}

/// True when a classic instruction always fails as an XDP load: its
/// successors are then not reached through it.
pub(super) fn always_drops(insn: &cbpf::Insn) -> bool {
    let loads_abs = matches!(insn.class(), c::LD | c::LDX)
        && matches!(insn.mode(), c::ABS | c::MSH)
        && (insn.k as i32) >= 0;
    loads_abs && i64::from(insn.k) + size_of(insn) as i64 > MAX_PACKET_OFF
}

/// The XDP form of `insn` when it differs from the socket translation;
/// `None` when the shared translation applies.
pub(super) fn convert(
    pc: usize,
    insn: &cbpf::Insn,
    out: &mut Vec<Emit>,
) -> Option<Result<(), Unsupported>> {
    let k = insn.k;
    let plain = |insn| Emit { insn, to: None };
    let to_drop = |insn| Emit {
        insn,
        to: Some(Label::Drop),
    };
    let dst = if insn.class() == c::LDX { REG_X } else { REG_A };
    match (insn.class(), insn.mode()) {
        (c::LD | c::LDX, c::LEN) => {
            out.push(plain(mov64(dst, REG_DATA_END)));
            out.push(plain(Insn::new(
                e::ALU64 | e::SUB | e::X,
                dst,
                REG_DATA,
                0,
                0,
            )));
        }
        (c::LD, c::ABS) if super::is_ancillary(k) => {
            let load = Ancillary::from_k(k);
            if load != Some(Ancillary::IfIndex) {
                let name = load.map_or("?", Ancillary::asm_name);
                return Some(Err(Unsupported {
                    pc,
                    what: format!("the ancillary load #{name} reads socket-buffer metadata"),
                }));
            }
            // r1 still holds the xdp_md: no instruction before writes it.
            out.push(plain(Insn::new(
                e::LDX | e::MEM | e::W,
                REG_A,
                REG_CTX_ENTRY,
                xdp_md::INGRESS_IFINDEX,
                0,
            )));
        }
        (c::LD | c::LDX, c::ABS | c::MSH) if (k as i32) < 0 => {
            return Some(Err(Unsupported {
                pc,
                what: format!(
                    "the negative packet offset {} reads the socket buffer's {} header area",
                    k as i32,
                    if (k as i32) >= skf::NET_OFF {
                        "network"
                    } else {
                        "link-layer"
                    }
                ),
            }));
        }
        (c::LD | c::LDX, c::ABS | c::MSH) if always_drops(insn) => {
            out.push(to_drop(Insn::new(e::JMP | e::JA, 0, 0, 0, 0)));
        }
        (c::LD | c::LDX, c::ABS | c::MSH | c::IND) => {
            let load = PacketLoad {
                size: size_of(insn) as i64,
                at: if insn.mode() == c::IND {
                    Offset::Indirect {
                        src: REG_X,
                        imm: k as i32,
                    }
                } else {
                    Offset::Const(i64::from(k))
                },
                regs: Registers {
                    data: REG_DATA,
                    data_end: REG_DATA_END,
                    ptr: PTR,
                    offset: OFFSET,
                },
                dst: if insn.mode() == c::MSH { OFFSET } else { dst },
            };
            let mut steps = Vec::new();
            load.offset(&mut steps);
            load.checked_load(&mut steps);
            out.extend(steps.into_iter().map(|s| Emit {
                insn: s.insn,
                to: s.out_of_packet.then_some(Label::Drop),
            }));
            if insn.mode() == c::MSH {
                // X = 4 * (pkt[k] & 0xf); A is untouched.
                out.push(plain(alu32_k(e::AND, OFFSET, 0xf)));
                out.push(plain(alu32_k(e::LSH, OFFSET, 2)));
                out.push(plain(mov64(REG_X, OFFSET)));
            }
        }
        (c::ALU, _) if matches!(insn.op(), c::DIV | c::MOD) && insn.src() == c::X => {
            // Classic division by a zero X ends the program with 0: drop.
            out.push(plain(alu32_x(e::MOV, REG_X, REG_X)));
            out.push(to_drop(Insn::new(e::JMP | e::JEQ | e::K, REG_X, 0, 0, 0)));
            out.push(plain(alu32_x(insn.op() as u8, REG_A, REG_X)));
        }
        (c::RET, _) if insn.rval() == c::K => {
            let verdict = if k != 0 { action::PASS } else { action::DROP };
            out.extend(ret_action(verdict).map(plain));
        }
        (c::RET, _) => {
            // `ret a` (the checker allows no `ret x`).
            out.push(to_drop(Insn::new(e::JMP | e::JEQ | e::K, REG_A, 0, 0, 0)));
            out.extend(ret_action(action::PASS).map(plain));
        }
        _ => return None,
    }
    Some(Ok(()))
}

/// r1 at entry: the `xdp_md`.
const REG_CTX_ENTRY: u8 = 1;

/// Bytes a classic packet load reads.
fn size_of(insn: &cbpf::Insn) -> u64 {
    if insn.mode() == c::MSH {
        return 1;
    }
    match insn.size() {
        c::H => 2,
        c::B => 1,
        _ => 4,
    }
}
