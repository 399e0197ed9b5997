//! TC programs' legacy packet loads (`LD_ABS`, `LD_IND`) as direct packet
//! access, so that they read the packet where the program's own direct
//! accesses read and write it (one copy of the frame, in the run memory).
//!
//! Each load becomes: for `LD_IND`, the offset `src + imm` in 32 bits
//! (before r1/r2, which `src` may be, change); `skb->data` and
//! `skb->data_end` loaded into r1 and r2 through r6 (which the kernel
//! requires to hold the context for these loads; the context rewrite then
//! turns them into the runtime's 64-bit addresses); then the shared
//! checked load of `ebpf::packet_load` into r0, whose out-of-packet
//! jumps go to an `r0 = 0; exit` after the function's last slot (a failed
//! legacy load ends the program with 0 in the kernel, or returns 0 from a
//! subprogram). The loads clobber r1–r5 in the kernel, so the expansion
//! uses r1–r3 freely. Offsets beyond 0xffff (including negative `LD_IND`
//! sums, which a socket buffer would resolve through its
//! `SKF_NET_OFF`/`SKF_LL_OFF` areas) are out of the packet.

use super::context::sk_buff;
use super::insn::{op, Insn, Program};
use super::packet_load::{ldx, Offset, PacketLoad, Registers, Step, MAX_PACKET_OFF};

/// Why a program's legacy loads cannot be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LegacyLoadError {
    /// Instruction slot.
    pub pc: usize,
    /// What is wrong.
    pub message: String,
}

/// The direct-access form of one legacy load; its out-of-packet jumps are
/// aimed by the caller.
fn expand(pc: usize, i: &Insn) -> Result<Vec<Step>, LegacyLoadError> {
    let size = match i.size_field() {
        op::B => 1i64,
        op::H => 2,
        op::W => 4,
        _ => {
            return Err(LegacyLoadError {
                pc,
                message: "a legacy packet load of 8 bytes does not exist".into(),
            })
        }
    };
    let at = if i.mode() == op::IND {
        Offset::Indirect {
            src: i.src,
            imm: i.imm,
        }
    } else if i.imm < 0 || i64::from(i.imm) + size > MAX_PACKET_OFF {
        return Err(LegacyLoadError {
            pc,
            message: format!(
                "a legacy load at offset {} (the socket buffer's special areas have no TC \
                 equivalent here)",
                i.imm
            ),
        });
    } else {
        Offset::Const(i64::from(i.imm))
    };
    let load = PacketLoad {
        size,
        at,
        regs: Registers {
            data: 1,
            data_end: 2,
            ptr: 1,
            offset: 3,
        },
        dst: 0,
    };
    let mut out = Vec::new();
    load.offset(&mut out);
    for insn in [
        ldx(op::W, 1, 6, sk_buff::DATA as i16),
        ldx(op::W, 2, 6, sk_buff::DATA_END as i16),
    ] {
        out.push(Step {
            insn,
            out_of_packet: false,
        });
    }
    load.checked_load(&mut out);
    Ok(out)
}

/// `prog` with every legacy packet load expanded and every jump and local
/// call relinked; the program unchanged when it has none. Each function
/// with legacy loads gets its own `r0 = 0; exit` after its last slot: a
/// failed load ends the program in the main function, and returns 0 from
/// a subprogram (as the kernel's does, which allows legacy loads in
/// subprograms only with BTF saying they return a number; without it
/// the kernel refuses them before this runs).
pub fn expand_legacy_loads(prog: &Program) -> Result<Expanded, LegacyLoadError> {
    let insns = &prog.insns;
    let is_legacy = |i: &Insn| i.class() == op::LD && !i.is_lddw();
    let mut starts = Vec::new();
    let mut pc = 0;
    while let Some(i) = insns.get(pc) {
        starts.push(pc);
        pc += i.width();
    }
    if !starts.iter().any(|&pc| is_legacy(&insns[pc])) {
        return Ok(Expanded {
            program: prog.clone(),
            origins: SlotOrigins::default(),
        });
    }
    let functions = super::blocks::Functions::new(insns);
    // Whether each function has a legacy load (and so a tail).
    let mut has_tail = vec![false; functions.len()];
    for &pc in &starts {
        if is_legacy(&insns[pc]) {
            has_tail[functions.index_of(pc)] = true;
        }
    }
    // The last slot of each function: where its tail follows.
    let last_slot = |f: usize| functions.slots(f).end.saturating_sub(1);
    // New position of every old slot, and of each function's tail.
    let mut pieces: Vec<Vec<Step>> = Vec::with_capacity(starts.len());
    let mut new_pos = vec![0usize; insns.len() + 1];
    let mut tail_at = vec![None; functions.len()];
    let mut at = 0;
    for &pc in &starts {
        let i = insns[pc];
        // (A `lddw` cut short by the program's end keeps its one slot:
        // the verifier refuses it after this.)
        let width = i.width().min(insns.len() - pc);
        let piece = if is_legacy(&i) {
            expand(pc, &i)?
        } else {
            insns[pc..pc + width]
                .iter()
                .map(|&insn| Step {
                    insn,
                    out_of_packet: false,
                })
                .collect()
        };
        for k in 0..width {
            new_pos[pc + k] = at + k;
        }
        at += piece.len();
        pieces.push(piece);
        let f = functions.index_of(pc);
        if has_tail[f] && pc + width > last_slot(f) {
            tail_at[f] = Some(at);
            at += TAIL.len();
        }
    }
    new_pos[insns.len()] = at;
    let too_long = |pc: usize| LegacyLoadError {
        pc,
        message: "a jump too long for 16 bits once the loads are expanded".into(),
    };
    let mut out = Vec::with_capacity(at);
    let mut origin = Vec::with_capacity(at);
    for (&pc, piece) in starts.iter().zip(pieces) {
        let i = insns[pc];
        let f = functions.index_of(pc);
        if is_legacy(&i) {
            let tail = tail_at[f].expect("a function with a legacy load has a tail");
            for step in piece {
                let mut insn = step.insn;
                if step.out_of_packet {
                    let rel = tail as i64 - (out.len() as i64 + 1);
                    insn.off = i16::try_from(rel).map_err(|_| too_long(pc))?;
                }
                out.push(insn);
                origin.push(pc);
            }
        } else {
            let mut piece: Vec<Insn> = piece.into_iter().map(|s| s.insn).collect();
            let here = new_pos[pc] as i64;
            let relink = |rel: i64| -> Result<i64, LegacyLoadError> {
                let target = pc as i64 + 1 + rel;
                let to = usize::try_from(target)
                    .ok()
                    .and_then(|t| new_pos.get(t))
                    .ok_or_else(|| LegacyLoadError {
                        pc,
                        message: "a jump outside the program".into(),
                    })?;
                Ok(*to as i64 - (here + 1))
            };
            match (i.class(), i.op()) {
                (op::JMP32, op::JA) => piece[0].imm = relink(i64::from(i.imm))? as i32,
                (op::JMP, op::CALL) if i.is_local_call() => {
                    piece[0].imm =
                        i32::try_from(relink(i64::from(i.imm))?).map_err(|_| too_long(pc))?;
                }
                (op::JMP, op::CALL | op::EXIT) => {}
                (op::JMP | op::JMP32, _) => {
                    piece[0].off =
                        i16::try_from(relink(i64::from(i.off))?).map_err(|_| too_long(pc))?;
                }
                _ => {}
            }
            origin.extend(pc..pc + piece.len());
            out.extend(piece);
        }
        if tail_at[f] == Some(out.len()) {
            // A failed load's way out belongs to the function's last slot.
            origin.extend([last_slot(f); TAIL.len()]);
            out.extend(TAIL);
        }
    }
    Ok(Expanded {
        program: Program::new(out),
        origins: SlotOrigins(origin),
    })
}

/// A program with its legacy loads expanded, and where each of its slots
/// came from: errors found in it are named at the original slot, as the
/// kernel names them (it checks the loads as they are).
#[derive(Clone, Debug)]
pub struct Expanded {
    /// The program with direct packet accesses.
    pub program: Program,
    /// Where each slot of `program` came from.
    pub origins: SlotOrigins,
}

/// The original slot of each slot of an expanded program; empty when
/// nothing was expanded (every slot is its own).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotOrigins(Vec<usize>);

impl SlotOrigins {
    /// The original slot of `pc`, a slot of the expanded program (past
    /// its end: as far past the original program's end).
    pub fn original_slot(&self, pc: usize) -> usize {
        match self.0.get(pc) {
            Some(&slot) => slot,
            None => pc - self.0.len() + self.0.last().map_or(0, |&l| l + 1),
        }
    }
}

/// What a failed legacy load runs: r0 = 0, and the function returns.
const TAIL: [Insn; 2] = [
    Insn::new(op::ALU | op::MOV | op::K, 0, 0, 0, 0),
    Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::asm::assemble;

    /// A `lddw` cut short by the end of a program with legacy loads is
    /// left for the verifier to refuse (it indexed past the program: a
    /// `xdp_verify` fuzz finding).
    #[test]
    fn a_cut_short_lddw_is_left_as_it_is() {
        let mut prog = assemble("mov %r6, %r1\nldabsb 12\nlddw %r1, 5").expect("assembles");
        prog.insns.pop();
        let out = expand_legacy_loads(&prog).expect("expands").program;
        assert_eq!(out.insns.last().map(|i| i.opc), Some(op::JMP | op::EXIT));
        assert!(out.insns.iter().any(|i| i.is_lddw()));
    }

    #[test]
    fn every_expanded_slot_knows_its_original_slot() {
        // 0: mov, 1: ldabsb (several slots), 2-3: lddw, 4: exit, then the
        // tail, which belongs to the last slot.
        let prog = assemble("mov %r6, %r1\nldabsb 12\nlddw %r1, 5\nexit").expect("assembles");
        let out = expand_legacy_loads(&prog).expect("expands");
        let slots: Vec<usize> = (0..out.program.insns.len())
            .map(|pc| out.origins.original_slot(pc))
            .collect();
        let n = slots.len();
        assert_eq!(slots[0], 0);
        assert!(slots[1..n - 5].iter().all(|&s| s == 1), "{slots:?}");
        assert_eq!(&slots[n - 5..], &[2, 3, 4, 4, 4], "{slots:?}");
        assert_eq!(out.origins.original_slot(n), 5, "past the end");
        assert_eq!(
            out.program.insns[n - 3],
            Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0)
        );
    }

    #[test]
    fn jumps_over_an_expanded_load_still_land_on_their_targets() {
        let prog = assemble("mov %r6, %r1\nja +1\nldabsh 12\nmov %r0, 7\nexit").expect("assembles");
        let out = expand_legacy_loads(&prog).expect("expands").program;
        // The ja now skips the whole expansion and lands on `mov r0, 7`.
        let ja = out.insns[1];
        let landing = out.insns[(2 + ja.off) as usize];
        assert_eq!(landing, prog.insns[3]);
        assert!(out.len() > prog.len());
    }

    #[test]
    fn special_offsets_are_refused() {
        let special = assemble("mov %r6, %r1\nldabsb -4096\nexit").expect("assembles");
        let e = expand_legacy_loads(&special).expect_err("refused");
        assert_eq!(e.pc, 1);
    }

    /// A legacy load beside a local call (the kernel takes both, as a
    /// clang-built TC program with `load_byte` and a function it does not
    /// inline): the call still reaches its function, and a failed load in
    /// the main function ends it through a tail placed before the
    /// function, not after it.
    #[test]
    fn local_calls_are_relinked_and_each_function_has_its_tail() {
        let call = Insn::new(op::JMP | op::CALL, 0, op::CALL_LOCAL, 0, 1);
        let mut insns = assemble("mov %r6, %r1\nldabsb 12\nexit\nmov %r0, 9\nexit")
            .expect("assembles")
            .insns;
        insns.insert(2, call);
        let out = expand_legacy_loads(&Program::new(insns))
            .expect("expands")
            .program;
        let call_at = out
            .insns
            .iter()
            .position(|i| i.is_local_call())
            .expect("the call");
        let callee = (call_at as i64 + 1 + i64::from(out.insns[call_at].imm)) as usize;
        assert_eq!(
            out.insns[callee],
            Insn::new(op::ALU64 | op::MOV | op::K, 0, 0, 0, 9)
        );
        // The main function ends with its exit, then its tail.
        assert_eq!(&out.insns[callee - 2..callee], &TAIL);
        // Every out-of-packet jump of the load lands on that tail.
        for (pc, i) in out.insns[..call_at].iter().enumerate() {
            if let Some(to) = crate::ebpf::blocks::jump_target(i, pc) {
                if to as usize >= call_at + 2 {
                    assert_eq!(to as usize, callee - 2, "jump at {pc}");
                }
            }
        }
    }
}
