//! Leaf code for x86-64 written out instruction by instruction, as the
//! kernel's own JIT writes eBPF (`arch/x86/net/bpf_jit_comp.c`): no IR and
//! no register allocator, one pass over the program and one over its
//! jumps.
//!
//! Why it exists: translated classic filters are short straight-line
//! programs on which Cranelift's work buys nothing on the hot path (its
//! optimiser measured no faster there) yet costs 20–230 µs per filter,
//! three to ten times the kernel's whole load of the same filter. Written
//! out directly they compile in microseconds, and without Cranelift's
//! frame-pointer prologue (its x64 ABI code sets up a frame even in a leaf
//! without stack), their code is also shorter.
//!
//! It keeps the leaf contract of `lower` (entered as `(packet, len, r1)`,
//! a 32-bit verdict or [`LEAF_HAND_OVER`]; batch code as `(descs, n,
//! verdicts, r1)`, a loop storing each packet's verdict and returning how
//! many ran) and its lean entry (`(mem, len)`, returning r0 and 0, or the
//! faulting address and the packed error: see `runtime::lean`; short
//! eBPF programs that call nothing, where Cranelift's frame and its
//! milliseconds of compile were most of a run and of a load) and uses the
//! same analyses:
//! `bounds` for the packet-length checks, `facts` for the accesses proven
//! inside the memory at r1 and the `LD_IND` offsets proven non-negative,
//! `switch` for compare trees searched in halves, and the loaded value
//! compared with a constant byte-swapped at compile time. Programs using
//! anything not written out here (signed division, sign-extending moves
//! and loads, atomics, backward jumps, `lddw` of a map or other pseudo
//! source, r10 as a value, register shifts on a CPU without BMI2) return
//! [`JitError::Unsupported`] and go through Cranelift instead.
//!
//! Safety, as in `lower`'s leaf code: packet bytes are read only below a
//! length compared first (a dominating `bounds` check or the load's own);
//! the stack is this function's own frame, accessed only at offsets proven
//! inside it; the memory at r1 only at accesses `facts` proves inside
//! `leaf_mem` bytes (the caller checks the memory against
//! `Lowered::leaf_mem_needed`); everything else ends the run with a
//! hand-over before touching memory. With a lean entry the memory at r1
//! is touched only through a register `facts` proves to hold the entry r1,
//! at a non-negative offset, after a compare of the memory's length with
//! the access's end (or its run's: `bounds::load_runs`); any other access
//! is not written here. Nothing is called.

use super::bounds;
use super::facts::{self, Proven};
use super::lower::Lowered;
use super::runtime::{lean, status, LEAF_HAND_OVER};
use super::{raw_compare, JitError, JitOptions, RawCompare};
use crate::ebpf::blocks::{self, jump_target, PacketLoads};
use crate::ebpf::insn::{op, regs, Insn};
use crate::ebpf::semantics;
use crate::ebpf::switch::{self, Search, Switch};

/// An x86-64 general-purpose register, by its encoding number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Reg(u8);

const RAX: Reg = Reg(0);
const RCX: Reg = Reg(1);
const RDX: Reg = Reg(2);
const RBX: Reg = Reg(3);
const RSP: Reg = Reg(4);
const RBP: Reg = Reg(5);
const RSI: Reg = Reg(6);
const RDI: Reg = Reg(7);
const R8: Reg = Reg(8);
const R9: Reg = Reg(9);
const R10: Reg = Reg(10);
const R11: Reg = Reg(11);
const R12: Reg = Reg(12);
const R13: Reg = Reg(13);
const R14: Reg = Reg(14);
const R15: Reg = Reg(15);

/// The packet's address and length, as the entry receives them (System V:
/// first and second argument); never written.
const PKT: Reg = RDI;
const LEN: Reg = RSI;
/// Scratch for one instruction's own use.
const TMP: Reg = R11;
/// Batch code: the current packet's `(address, length)` descriptor, and
/// the end of the descriptors.
const CURSOR: Reg = R14;
const END: Reg = R15;

/// Registers for eBPF r2–r9, in the order they are handed out to the
/// registers a program uses: the caller-saved ones first (no save needed),
/// then callee-saved ones, pushed and popped. r0 is `rax` (the result),
/// r1 is `rdx` (the third argument: the entry r1).
const POOL: [Reg; 8] = [RCX, R8, R9, R10, RBX, RBP, R12, R13];

/// The largest frame (bytes below r10) written here.
const MAX_FRAME: u32 = 1 << 16;

/// Condition codes (the low nibble of `jcc`).
mod cc {
    pub const B: u8 = 0x2;
    pub const AE: u8 = 0x3;
    pub const E: u8 = 0x4;
    pub const NE: u8 = 0x5;
    pub const BE: u8 = 0x6;
    pub const A: u8 = 0x7;
    pub const S: u8 = 0x8;
    pub const L: u8 = 0xc;
    pub const GE: u8 = 0xd;
    pub const LE: u8 = 0xe;
    pub const G: u8 = 0xf;
}

/// A memory operand `[base + index + disp]`.
#[derive(Clone, Copy)]
struct Mem {
    base: Reg,
    index: Option<Reg>,
    disp: i32,
}

impl Mem {
    fn at(base: Reg, disp: i32) -> Mem {
        Mem {
            base,
            index: None,
            disp,
        }
    }
}

/// A place in the code jumps may go to.
type Label = usize;

/// The instruction encoder: bytes, and jumps to patch once every label is
/// placed.
#[derive(Default)]
struct Asm {
    code: Vec<u8>,
    /// Offset of each label, once placed.
    labels: Vec<Option<usize>>,
    /// (offset of a rel8 or rel32 field, its label, whether rel8).
    fixups: Vec<(usize, Label, bool)>,
    /// Which jumps, in the order written, take the 2-byte form: decided
    /// from a first pass written with the long form only, whose distances
    /// are at least as long as the second pass's (code only shrinks).
    short: Vec<bool>,
    /// The end of each jump written, and its label.
    sites: Vec<(usize, Label)>,
}

impl Asm {
    fn byte(&mut self, b: u8) {
        self.code.push(b);
    }

    fn imm32(&mut self, v: i32) {
        self.code.extend_from_slice(&v.to_le_bytes());
    }

    /// A REX prefix when any of its bits is needed (`force`: to reach the
    /// byte registers `spl`, `bpl`, `sil` and `dil`).
    fn rex(&mut self, w: bool, reg: u8, index: u8, base: u8, force: bool) {
        let bits = u8::from(w) << 3 | (reg >> 3 & 1) << 2 | (index >> 3 & 1) << 1 | (base >> 3 & 1);
        if bits != 0 || force {
            self.byte(0x40 | bits);
        }
    }

    /// `opcode reg, rm` between registers (`reg` is ModRM.reg, which for
    /// a group opcode is its extension).
    fn rr(&mut self, w: bool, opcode: &[u8], reg: u8, rm: Reg) {
        self.rex(w, reg, 0, rm.0, false);
        self.code.extend_from_slice(opcode);
        self.byte(0xc0 | (reg & 7) << 3 | (rm.0 & 7));
    }

    /// `opcode reg, [mem]`; `byte_reg` when `reg` is a byte register.
    fn rm(&mut self, w: bool, opcode: &[u8], reg: u8, m: Mem, byte_reg: bool) {
        let index = m.index.map_or(0, |r| r.0);
        self.rex(w, reg, index, m.base.0, byte_reg && (4..8).contains(&reg));
        self.code.extend_from_slice(opcode);
        let (mode, disp8) = match m.disp {
            // rbp and r13 as a base have no form without displacement.
            0 if m.base.0 & 7 != 5 => (0, false),
            d if i8::try_from(d).is_ok() => (1, true),
            _ => (2, false),
        };
        let reg = (reg & 7) << 3;
        if m.index.is_some() || m.base.0 & 7 == 4 {
            self.byte(mode << 6 | reg | 4);
            let index = m.index.map_or(4, |r| r.0 & 7);
            self.byte(index << 3 | (m.base.0 & 7));
        } else {
            self.byte(mode << 6 | reg | (m.base.0 & 7));
        }
        match (mode, disp8) {
            (1, _) => self.byte(m.disp as u8),
            (2, _) => self.imm32(m.disp),
            _ => {}
        }
    }

    /// `op dst, imm` of group 1 (`ext`: 0 add, 1 or, 4 and, 5 sub, 6 xor,
    /// 7 cmp); the immediate is sign-extended to 64 bits when `w`.
    fn alu_ri(&mut self, w: bool, ext: u8, dst: Reg, imm: i32) {
        if let Ok(b) = i8::try_from(imm) {
            self.rr(w, &[0x83], ext, dst);
            self.byte(b as u8);
        } else {
            self.rr(w, &[0x81], ext, dst);
            self.imm32(imm);
        }
    }

    /// `mov dst, imm`: the 64-bit value in the shortest form.
    fn mov_ri(&mut self, dst: Reg, v: u64) {
        if v == 0 {
            self.rr(false, &[0x31], dst.0, dst); // xor: zero-extends
        } else if let Ok(v32) = u32::try_from(v) {
            self.rex(false, 0, 0, dst.0, false);
            self.byte(0xb8 | (dst.0 & 7));
            self.imm32(v32 as i32);
        } else if let Ok(s) = i32::try_from(v as i64) {
            self.rr(true, &[0xc7], 0, dst);
            self.imm32(s);
        } else {
            self.rex(true, 0, 0, dst.0, false);
            self.byte(0xb8 | (dst.0 & 7));
            self.code.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// `mov dst32, src32`: the low half, zero-extended.
    fn mov32(&mut self, dst: Reg, src: Reg) {
        self.rr(false, &[0x89], src.0, dst);
    }

    /// `cmp r, imm` for a 64-bit constant (through `TMP` when it does not
    /// fit a sign-extended 32-bit immediate).
    fn cmp_ri64(&mut self, r: Reg, v: i64) {
        match i32::try_from(v) {
            Ok(v) => self.alu_ri(true, 7, r, v),
            Err(_) => {
                self.mov_ri(TMP, v as u64);
                self.rr(true, &[0x39], TMP.0, r);
            }
        }
    }

    /// A VEX-encoded BMI2 shift (`shlx`, `shrx`, `sarx` by `pp`):
    /// `dst = src shifted by count` (masked to the width, as eBPF's).
    fn shiftx(&mut self, w: bool, pp: u8, dst: Reg, src: Reg, count: Reg) {
        self.byte(0xc4);
        let r = !(dst.0 >> 3) & 1;
        let b = !(src.0 >> 3) & 1;
        self.byte(r << 7 | 1 << 6 | b << 5 | 0x02);
        self.byte(u8::from(w) << 7 | (!count.0 & 0xf) << 3 | pp);
        self.byte(0xf7);
        self.byte(0xc0 | (dst.0 & 7) << 3 | (src.0 & 7));
    }

    /// `bswap r` (no ModRM: the register is in the opcode).
    fn bswap(&mut self, w: bool, r: Reg) {
        self.rex(w, 0, 0, r.0, false);
        self.byte(0x0f);
        self.byte(0xc8 | (r.0 & 7));
    }

    fn new_label(&mut self) -> Label {
        self.labels.push(None);
        self.labels.len() - 1
    }

    fn place(&mut self, l: Label) {
        self.labels[l] = Some(self.code.len());
    }

    /// A jump: `short` (rel8) or `long` (rel32) opcode bytes, as decided.
    fn jump(&mut self, short: u8, long: &[u8], l: Label) {
        let rel8 = self.short.get(self.sites.len()).copied().unwrap_or(false);
        if rel8 {
            self.byte(short);
            self.fixups.push((self.code.len(), l, true));
            self.byte(0);
        } else {
            self.code.extend_from_slice(long);
            self.fixups.push((self.code.len(), l, false));
            self.imm32(0);
        }
        self.sites.push((self.code.len(), l));
    }

    fn jmp(&mut self, l: Label) {
        self.jump(0xeb, &[0xe9], l);
    }

    fn jcc(&mut self, cond: u8, l: Label) {
        self.jump(0x70 | cond, &[0x0f, 0x80 | cond], l);
    }

    /// After a pass: which of its jumps reach their label with a rel8.
    fn short_jumps(&self) -> Vec<bool> {
        self.sites
            .iter()
            .map(|&(end, l)| {
                let target = self.labels[l].unwrap_or(usize::MAX);
                i8::try_from(target as i64 - end as i64).is_ok()
            })
            .collect()
    }

    fn push(&mut self, r: Reg) {
        self.rex(false, 0, 0, r.0, false);
        self.byte(0x50 | (r.0 & 7));
    }

    fn pop(&mut self, r: Reg) {
        self.rex(false, 0, 0, r.0, false);
        self.byte(0x58 | (r.0 & 7));
    }

    /// Patches every jump; `None` if one goes to a label never placed.
    fn finish(mut self) -> Option<Vec<u8>> {
        for &(at, l, rel8) in &self.fixups {
            let target = self.labels[l]? as i64;
            if rel8 {
                self.code[at] = i8::try_from(target - (at as i64 + 1)).ok()? as u8;
            } else {
                let rel = i32::try_from(target - (at as i64 + 4)).ok()?;
                self.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
            }
        }
        Some(self.code)
    }
}

/// What the writer knows of the program before writing it (the same
/// analyses `lower` uses), computed once for both passes.
struct Analyses {
    plan: bounds::Plan,
    facts: Proven,
    /// Lean code: the runs of loads from the memory at r1 checked at once.
    load_runs: bounds::LoadRuns,
    /// Registers live on entry to each slot.
    live: Vec<u16>,
    /// Which slots start a block.
    leaders: blocks::Leaders,
    /// The search replacing the compare tree rooted at each slot (by pc:
    /// looked up at every jump).
    searches: Vec<Option<Box<Search>>>,
    /// Whether each slot is reached from the entry, a search going
    /// straight to its tree's leaves: a tree's inner compares that only
    /// its root reached are not written at all.
    reachable: Vec<bool>,
}

/// Which slots control reaches from the entry, each search's root going to
/// its leaves instead of its compare's two sides.
fn reachable(insns: &[Insn], searches: &[Option<Box<Search>>]) -> Vec<bool> {
    let n = insns.len();
    let mut seen = vec![false; n];
    let mut work = vec![0];
    while let Some(pc) = work.pop() {
        if pc >= n || std::mem::replace(&mut seen[pc], true) {
            continue;
        }
        match &searches[pc] {
            Some(search) => work.extend(search.intervals.iter().map(|&(_, leaf)| leaf)),
            None => work.extend(insns[pc].successors(pc).into_iter().flatten()),
        }
    }
    seen
}

/// The writer of one program, one pass.
struct Emitter<'a> {
    insns: &'a [Insn],
    options: &'a JitOptions,
    /// A lean entry, and the bytes below r10 it zeroes.
    lean: Option<u32>,
    /// Whether the program uses r10 (so has a stack in the frame).
    uses_fp: bool,
    /// Lean code: the runs whose checks are still to write (taken as
    /// written).
    runs: bounds::LoadRuns,
    /// Lean code: each run's cold path (its label, where it goes back to,
    /// the run), written after the body.
    run_checks: Vec<(Label, Label, bounds::LoadRun)>,
    /// Lean code: each access's failure (its label, slot, offset from the
    /// entry r1, and the error's info: size, 0x100 for a write).
    out_of_bounds: Vec<(Label, usize, i32, u64)>,
    an: &'a Analyses,
    asm: Asm,
    /// The x86 register of each eBPF register r0–r9.
    map: [Reg; 10],
    /// Callee-saved registers pushed by the prologue.
    saved: Vec<Reg>,
    /// Bytes the prologue takes off `rsp`; the eBPF stack is at its top,
    /// so r10 is `rsp + frame`.
    frame: i32,
    /// Batch code: the frame offset of its two words (the entry r1, the
    /// first descriptor's address), the register holding the next
    /// verdict's address, and the label of the loop's head.
    batch: Option<(i32, Reg, Label)>,
    abort: Label,
    hand_over: Label,
    /// r0 holds the raw little-endian value of a 2- or 4-byte packet load
    /// whose byte swap is still to do (done when something reads r0 other
    /// than an equality or `jset` compare with a constant).
    pending_swap: Option<u8>,
    /// r0's upper half is known to be zero (since the current block began).
    r0_low: bool,
    lowered: Lowered,
}

fn unsupported(pc: usize, what: &str) -> JitError {
    JitError::Unsupported {
        pc,
        what: format!("{what} (in directly written x86-64 leaf code)"),
    }
}

/// Writes the machine code of `insns` (one function, verified, compiled as
/// leaf code, per packet or batch) and what its caller must honour.
pub(crate) fn emit(insns: &[Insn], options: &JitOptions) -> Result<(Vec<u8>, Lowered), JitError> {
    // A lean entry (`(mem, len)`, r0 or the error in two registers), for
    // code that is not leaf code.
    let lean = options
        .lean_entry
        .filter(|_| !options.leaf && !options.batch);
    if !(options.leaf || lean.is_some()) || options.budget {
        return Err(unsupported(
            0,
            "code that is neither leaf code nor has a lean entry",
        ));
    }
    if lean.is_some() && !super::lean_entry_fits(insns) {
        return Err(unsupported(0, "a call or legacy load with a lean entry"));
    }
    // Frame offsets are 32-bit displacements: an absurd frame size (the
    // option is public) must not wrap them.
    if options.frame_size > MAX_FRAME {
        return Err(unsupported(0, "a frame larger than 64 KiB"));
    }
    let n = insns.len();
    let leaders =
        blocks::leaders(insns, 0, n).map_err(|pc| unsupported(pc, "a jump out of the program"))?;
    // What is written out here, checked before anything is: everything
    // else is Cranelift's.
    let mut used = 0u16;
    let mut uses_fp = false;
    let mut needs_bmi2 = false;
    let mut divides = false;
    let mut pc = 0;
    while pc < n {
        let insn = &insns[pc];
        if insn.dst > 10 || insn.src > 10 {
            return Err(unsupported(pc, "a register that does not exist"));
        }
        let (reads, writes, _) = insn.register_effects();
        used |= reads | writes;
        if insn.src == 10 || insn.dst == 10 {
            uses_fp = true;
        }
        check_supported(pc, insn, &mut needs_bmi2, &mut divides)?;
        if let Some(t) = jump_target(insn, pc) {
            if t <= pc as i64 {
                return Err(unsupported(pc, "a backward jump"));
            }
        }
        pc += insn.width();
    }
    if needs_bmi2 && !std::is_x86_feature_detected!("bmi2") {
        return Err(unsupported(0, "a register shift without BMI2"));
    }
    let mut map = [RAX; 10];
    map[1] = RDX;
    let mut pool = POOL.iter();
    let mut saved = Vec::new();
    for (r, slot) in map.iter_mut().enumerate().skip(2) {
        if used & regs::bit(r as u8) != 0 {
            let x = *pool
                .next()
                .ok_or_else(|| unsupported(0, "too many registers"))?;
            if matches!(x, RBX | RBP | R12 | R13) {
                saved.push(x);
            }
            *slot = x;
        }
    }
    let verdicts = if options.batch {
        let x = *pool
            .next()
            .ok_or_else(|| unsupported(0, "batch code using every register"))?;
        if matches!(x, RBX | RBP | R12 | R13) {
            saved.push(x);
        }
        saved.extend([CURSOR, END]);
        x
    } else {
        TMP
    };
    // Frame: two scratch words for division (rax and rdx are saved there),
    // batch code's two words, then the eBPF stack, whose top is r10.
    let scratch = if divides { 16 } else { 0 };
    let batch_words = if options.batch { 16 } else { 0 };
    let stack = if uses_fp {
        (options.frame_size as i32 + 7) & !7
    } else {
        0
    };
    let frame = scratch + batch_words + stack;
    // No jump tables here (no indirect jumps written): a tree one would
    // replace is searched when that is shorter. Boxed: a slot per
    // instruction, nearly all empty.
    let mut searches: Vec<Option<Box<Search>>> = vec![None; n];
    for (root, found) in switch::find(insns, 0, n, &leaders, switch::Tables::NotTaken) {
        if let Switch::Search(search) = found {
            searches[root] = Some(Box::new(search));
        }
    }
    let facts = facts::analyse(insns);
    // Lean code checks its loads from the memory at r1 against its length,
    // a run of them at once (see `bounds`).
    let load_runs = if lean.is_some() {
        bounds::load_runs(
            insns,
            0,
            n,
            &leaders,
            i64::from(options.frame_size),
            |pc, reg| facts.holds_entry_r1(pc, reg),
        )
    } else {
        bounds::LoadRuns::default()
    };
    let an = Analyses {
        plan: bounds::plan(insns, options.eliminate_bounds_checks),
        facts,
        load_runs,
        live: blocks::live_registers(insns, PacketLoads::ReadPacketOnly),
        reachable: reachable(insns, &searches),
        searches,
        leaders,
    };
    // Two passes, as the kernel's JIT makes: the first with every jump in
    // its long form measures the distances, the second writes the short
    // form wherever it reaches.
    let pass = |short: Vec<bool>| -> Result<(Asm, Lowered), JitError> {
        // Sized once (growing them was a tenth of a long program's
        // compile): about what a translated filter takes per instruction,
        // a label per instruction and a jump at most per instruction.
        let jumps = short.len().max(n) + 16;
        let mut asm = Asm {
            short,
            code: Vec::with_capacity(n * 10 + 64),
            labels: Vec::with_capacity(n + 3),
            fixups: Vec::with_capacity(jumps),
            sites: Vec::with_capacity(jumps),
        };
        for _ in 0..n {
            asm.new_label();
        }
        let abort = asm.new_label();
        let hand_over = asm.new_label();
        let batch = options.batch.then(|| (scratch, verdicts, asm.new_label()));
        let mut e = Emitter {
            insns,
            options,
            lean,
            uses_fp,
            runs: an.load_runs.clone(),
            run_checks: Vec::new(),
            out_of_bounds: Vec::new(),
            an: &an,
            asm,
            map,
            saved: saved.clone(),
            frame,
            batch,
            abort,
            hand_over,
            pending_swap: None,
            r0_low: false,
            lowered: Lowered::default(),
        };
        e.prologue();
        e.body()?;
        e.stubs();
        Ok((e.asm, e.lowered))
    };
    let (first, _) = pass(Vec::new())?;
    let (second, lowered) = pass(first.short_jumps())?;
    let code = second
        .finish()
        .ok_or_else(|| unsupported(0, "a jump to an instruction not written"))?;
    Ok((code, lowered))
}

/// Refuses what is not written out here; notes what the prologue and
/// the CPU must provide.
fn check_supported(
    pc: usize,
    insn: &Insn,
    needs_bmi2: &mut bool,
    divides: &mut bool,
) -> Result<(), JitError> {
    let reg_operand = insn.is_src_reg();
    match insn.class() {
        op::ALU | op::ALU64 => {
            if insn.dst == 10 || (reg_operand && insn.src == 10 && insn.op() != op::END) {
                return Err(unsupported(pc, "r10 as a value"));
            }
            match insn.op() {
                op::MOV if insn.off != 0 => Err(unsupported(pc, "a sign-extending move")),
                op::DIV | op::MOD if insn.off != 0 => Err(unsupported(pc, "signed division")),
                op::DIV | op::MOD => {
                    *divides = true;
                    Ok(())
                }
                op::LSH | op::RSH | op::ARSH if reg_operand => {
                    *needs_bmi2 = true;
                    Ok(())
                }
                op::ADD
                | op::SUB
                | op::MUL
                | op::OR
                | op::AND
                | op::XOR
                | op::MOV
                | op::LSH
                | op::RSH
                | op::ARSH
                | op::NEG
                | op::END => Ok(()),
                _ => Err(unsupported(pc, "an unknown ALU operation")),
            }
        }
        op::JMP | op::JMP32 => match insn.op() {
            op::CALL | op::EXIT | op::JA => Ok(()),
            _ if (reg_operand && insn.src == 10) || insn.dst == 10 => {
                Err(unsupported(pc, "r10 as a value"))
            }
            _ => Ok(()),
        },
        op::LD if insn.is_lddw() && insn.src == 0 => Ok(()),
        op::LD if insn.mode() == op::ABS || insn.mode() == op::IND => {
            if insn.size_field() == op::DW {
                Err(unsupported(pc, "an 8-byte packet load"))
            } else if insn.mode() == op::IND && insn.src == 10 {
                Err(unsupported(pc, "r10 as a value"))
            } else {
                Ok(())
            }
        }
        op::LDX if insn.mode() == op::MEM => Ok(()),
        op::ST if insn.mode() == op::MEM => Ok(()),
        op::STX if insn.mode() == op::MEM && insn.src != 10 => Ok(()),
        _ => Err(unsupported(pc, "this instruction")),
    }
}

/// The byte count of a load or store.
fn size_of(insn: &Insn) -> i32 {
    semantics::size_bytes(insn.size_field()) as i32
}

impl Emitter<'_> {
    fn label_of(&self, pc: usize) -> Label {
        // Labels 0..n are the slots' (made first, in order).
        pc
    }

    /// The label for control reaching `pc`: past the last instruction is
    /// a hand-over (only unreachable code gets there: the verifier proves
    /// no path runs off the end; the interpreter then reports it).
    fn target(&self, pc: usize) -> Label {
        if pc < self.insns.len() {
            self.label_of(pc)
        } else {
            self.hand_over
        }
    }

    fn x(&self, r: u8) -> Reg {
        self.map[usize::from(r)]
    }

    fn prologue(&mut self) {
        for i in 0..self.saved.len() {
            let r = self.saved[i];
            self.asm.push(r);
        }
        if self.frame > 0 {
            self.asm.alu_ri(true, 5, RSP, self.frame);
        }
        let live = self.an.live.first().copied().unwrap_or(0);
        if let Some((words, verdicts, head)) = self.batch {
            // Entered as (descs, n, verdicts, r1): the words keep r1 and
            // the descriptors' start; CURSOR walks the descriptors up to
            // END, `verdicts` the verdicts.
            self.asm
                .rm(true, &[0x89], RCX.0, Mem::at(RSP, words), false);
            self.asm
                .rm(true, &[0x89], RDI.0, Mem::at(RSP, words + 8), false);
            self.asm.rr(true, &[0x89], RDX.0, verdicts);
            self.asm.rr(true, &[0x89], RDI.0, CURSOR);
            self.asm.rr(true, &[0xc1], 4, RSI); // shl rsi, 4
            self.asm.byte(4);
            let end = Mem {
                base: RDI,
                index: Some(RSI),
                disp: 0,
            };
            self.asm.rm(true, &[0x8d], END.0, end, false); // lea
                                                           // Each packet: its descriptor, then r1 as at entry.
            self.asm.place(head);
            self.asm.rr(true, &[0x39], END.0, CURSOR); // cmp cursor, end
            self.asm.jcc(cc::AE, self.hand_over);
            self.asm.rm(true, &[0x8b], PKT.0, Mem::at(CURSOR, 0), false);
            self.asm.rm(true, &[0x8b], LEN.0, Mem::at(CURSOR, 8), false);
            if live & regs::bit(1) != 0 {
                self.asm
                    .rm(true, &[0x8b], RDX.0, Mem::at(RSP, words), false);
            }
        }
        if let Some(zeroed) = self.lean {
            // Entered as (mem, len): r1 the memory, r2 its length (both
            // arguments stay where they arrived, as PKT and LEN, for the
            // checks and the errors), the rest zero; the stack's top
            // `zeroed` bytes zero, as the stack of any run reads.
            if self.uses_fp {
                let stack = (self.options.frame_size as i32 + 7) & !7;
                let zeroed = (zeroed.min(self.options.frame_size) as i32 + 7) & !7;
                for below in (8..=zeroed.min(stack)).step_by(8) {
                    // mov qword [rsp + frame - below], 0
                    self.asm
                        .rm(true, &[0xc7], 0, Mem::at(RSP, self.frame - below), false);
                    self.asm.imm32(0);
                }
            }
            for r in (0..10u8).filter(|&r| live & regs::bit(r) != 0) {
                match r {
                    1 => self.asm.rr(true, &[0x89], PKT.0, self.x(1)),
                    2 => self.asm.rr(true, &[0x89], LEN.0, self.x(2)),
                    _ => self.asm.mov_ri(self.x(r), 0),
                }
            }
            return;
        }
        // Registers read before written get the entry values leaf code
        // gives them: r1 the memory (already in rdx), r2 its size, the
        // rest zero.
        for r in (0..10u8).filter(|&r| r != 1 && live & regs::bit(r) != 0) {
            let v = if r == 2 {
                u64::from(self.options.leaf_mem)
            } else {
                0
            };
            self.asm.mov_ri(self.x(r), v);
        }
    }

    /// Returns with rax as it is.
    fn epilogue(&mut self) {
        if self.frame > 0 {
            self.asm.alu_ri(true, 0, RSP, self.frame);
        }
        for i in (0..self.saved.len()).rev() {
            let r = self.saved[i];
            self.asm.pop(r);
        }
        self.asm.byte(0xc3);
    }

    /// Ends the run with eax as the verdict: returns it, or in batch code
    /// stores it as the packet's verdict and goes on with the next packet.
    fn finish(&mut self) {
        let Some((_, verdicts, head)) = self.batch else {
            self.epilogue();
            return;
        };
        self.asm
            .rm(false, &[0x89], RAX.0, Mem::at(verdicts, 0), false);
        self.asm.alu_ri(true, 0, verdicts, 4);
        self.asm.alu_ri(true, 0, CURSOR, 16);
        self.asm.jmp(head);
    }

    /// The shared exits: a failed packet load ends the run with 0; a
    /// hand-over returns [`LEAF_HAND_OVER`] (batch code: the index of the
    /// packet handed over, which at the loop's end is the count).
    fn stubs(&mut self) {
        if self.lean.is_some() {
            self.lean_stubs();
            return;
        }
        self.asm.place(self.abort);
        self.asm.mov_ri(RAX, 0);
        self.finish();
        self.asm.place(self.hand_over);
        if let Some((words, _, _)) = self.batch {
            self.asm.rr(true, &[0x89], CURSOR.0, RAX);
            self.asm
                .rm(true, &[0x2b], RAX.0, Mem::at(RSP, words + 8), false); // sub
            self.asm.rr(true, &[0xc1], 5, RAX); // shr rax, 4
            self.asm.byte(4);
        } else {
            self.asm.mov_ri(RAX, LEAF_HAND_OVER);
        }
        self.epilogue();
    }

    /// Lean code's exits: each run's one-by-one checks, each access's
    /// failure (the address in rax, `status | info << 8 | pc << 32` in
    /// rdx: see `runtime::lean`), and running off the end (only
    /// unreachable code can: `FELL_OFF_END` at the slot past the last, as
    /// `lower` reports it). No legacy load is made, so `abort` is never
    /// jumped to.
    fn lean_stubs(&mut self) {
        let error = |st: u32, pc: usize, info: u64| {
            u64::from(st) | info << lean::INFO_SHIFT | (pc as u64) << lean::PC_SHIFT
        };
        for (cold, back, run) in std::mem::take(&mut self.run_checks) {
            self.asm.place(cold);
            for &(pc, off, size) in &run.loads {
                self.check_length(pc, off as i32, size as i32, 0);
            }
            self.asm.jmp(back);
        }
        for (label, pc, off, info) in std::mem::take(&mut self.out_of_bounds) {
            self.asm.place(label);
            self.asm.rm(true, &[0x8d], RAX.0, Mem::at(PKT, off), false); // lea
            self.asm.mov_ri(RDX, error(status::OUT_OF_BOUNDS, pc, info));
            self.epilogue();
        }
        self.asm.place(self.hand_over);
        self.asm.mov_ri(RAX, 0);
        self.asm
            .mov_ri(RDX, error(status::FELL_OFF_END, self.insns.len(), 0));
        self.epilogue();
        self.asm.place(self.abort);
        self.asm.jmp(self.hand_over);
    }

    /// Lean code: fails the access at `pc` of `size` bytes `off` bytes
    /// past the entry r1 (`write`: 0x100 for a store, else 0) unless the
    /// memory's length reaches its end; the failure is written with the
    /// other exits.
    fn check_length(&mut self, pc: usize, off: i32, size: i32, write: u64) {
        let fail = self.asm.new_label();
        self.out_of_bounds
            .push((fail, pc, off, size as u64 | write));
        self.asm.alu_ri(true, 7, LEN, off + size); // cmp len, end
        self.asm.jcc(cc::B, fail);
    }

    /// Does r0's pending byte swap.
    fn swap_now(&mut self) {
        match self.pending_swap.take() {
            Some(2) => {
                self.asm.bswap(false, RAX);
                self.asm.rr(false, &[0xc1], 5, RAX); // shr eax, 16
                self.asm.byte(16);
            }
            Some(_) => self.asm.bswap(false, RAX),
            None => {}
        }
    }

    fn body(&mut self) -> Result<(), JitError> {
        let n = self.insns.len();
        let mut pc = 0;
        while pc < n {
            if !self.an.reachable[pc] {
                // Nothing jumps here (no code that does is written).
                pc += self.insns[pc].width();
                continue;
            }
            if self.an.leaders.contains(pc) {
                // Control joins here: r0's swap is done unless nothing
                // reads r0 from here on.
                if self.an.live[pc] & regs::R0 != 0 {
                    self.swap_now();
                }
                self.pending_swap = None;
                self.r0_low = false;
            }
            self.asm.place(self.label_of(pc));
            let insn = self.insns[pc];
            if insn.is_lddw() {
                let hi = self
                    .insns
                    .get(pc + 1)
                    .ok_or_else(|| unsupported(pc, "lddw without its second slot"))?;
                let v = insn.imm64(Some(hi));
                if insn.dst == 0 {
                    self.pending_swap = None;
                    self.r0_low = v >> 32 == 0;
                }
                self.asm.mov_ri(self.x(insn.dst), v);
                // The second slot is never a jump target (the verifier).
                self.asm.place(self.label_of(pc + 1));
                pc += 2;
                continue;
            }
            if self.is_dead_write(pc, &insn) {
                pc += 1;
                continue;
            }
            let (reads, writes, _) = insn.register_effects();
            let swap_compare = self.is_swap_compare(pc, &insn);
            let jumps = jump_target(&insn, pc).is_some();
            // Every way on from a jump expects r0 swapped (unless the
            // compare itself uses the raw value, r0 being dead beyond).
            if (reads & regs::R0 != 0 || jumps) && !swap_compare {
                self.swap_now();
            } else if writes & regs::R0 != 0 && !swap_compare {
                self.pending_swap = None;
            }
            match insn.class() {
                op::ALU | op::ALU64 => self.alu(&insn),
                op::JMP | op::JMP32 => self.jump(pc, &insn, swap_compare),
                op::LD => self.packet_load(pc, &insn),
                op::LDX | op::ST | op::STX => self.memory(pc, &insn)?,
                _ => return Err(unsupported(pc, "this instruction")),
            }
            pc += 1;
        }
        // Running off the end (unreachable: see `target`).
        self.asm.jmp(self.hand_over);
        Ok(())
    }

    /// Whether `insn` is an ALU operation whose result nothing reads (the
    /// translation's opening `A = 0`, `X = 0` and `r6 = r1` in a filter
    /// that never reads them): it has no other effect, so it is left out.
    fn is_dead_write(&mut self, pc: usize, insn: &Insn) -> bool {
        let dead = matches!(insn.class(), op::ALU | op::ALU64)
            && self
                .an
                .live
                .get(pc + 1)
                .is_some_and(|live| live & regs::bit(insn.dst) == 0);
        if dead && insn.dst == 0 {
            self.pending_swap = None;
        }
        dead
    }

    /// Whether `insn` is `jeq`, `jne` or `jset` of r0 with a constant
    /// while r0 holds an unswapped load that no successor reads: the
    /// compare then uses the swapped constant.
    fn is_swap_compare(&self, pc: usize, insn: &Insn) -> bool {
        let Some(size) = self.pending_swap else {
            return false;
        };
        if insn.dst != 0
            || !matches!(insn.class(), op::JMP | op::JMP32)
            || raw_compare(insn, size).is_none()
            || self.an.searches[pc].is_some()
        {
            return false;
        }
        let live_at = |t: usize| self.an.live.get(t).copied().unwrap_or(0) & regs::R0 != 0;
        let target = jump_target(insn, pc).unwrap_or_default() as usize;
        !live_at(target) && !live_at(pc + 1)
    }

    fn alu(&mut self, insn: &Insn) {
        let w = insn.class() == op::ALU64;
        let d = self.x(insn.dst);
        let reg_operand = insn.is_src_reg();
        let s = self.x(insn.src);
        // The immediate as eBPF extends it: sign-extended for 64-bit
        // operations, the low 32 bits for 32-bit ones (x86's 32-bit forms
        // read only those).
        let imm = insn.imm;
        if insn.dst == 0 {
            self.r0_low = !w;
        }
        match insn.op() {
            op::MOV => match (reg_operand, w) {
                (true, true) => {
                    if s != d {
                        self.asm.rr(true, &[0x89], s.0, d);
                    }
                }
                (true, false) => self.asm.mov32(d, s),
                (false, true) => self.asm.mov_ri(d, imm as i64 as u64),
                (false, false) => self.asm.mov_ri(d, u64::from(imm as u32)),
            },
            op::ADD | op::SUB | op::OR | op::AND | op::XOR => {
                let (opcode, ext) = match insn.op() {
                    op::ADD => (0x01, 0),
                    op::SUB => (0x29, 5),
                    op::OR => (0x09, 1),
                    op::AND => (0x21, 4),
                    _ => (0x31, 6),
                };
                if reg_operand {
                    self.asm.rr(w, &[opcode], s.0, d);
                } else {
                    self.asm.alu_ri(w, ext, d, imm);
                }
            }
            op::MUL => {
                if reg_operand {
                    self.asm.rr(w, &[0x0f, 0xaf], d.0, s);
                } else {
                    self.asm.rr(w, &[0x69], d.0, d);
                    self.asm.imm32(imm);
                }
            }
            op::NEG => self.asm.rr(w, &[0xf7], 3, d),
            op::LSH | op::RSH | op::ARSH => {
                let (ext, pp) = match insn.op() {
                    op::LSH => (4, 1),
                    op::RSH => (5, 3),
                    _ => (7, 2),
                };
                if reg_operand {
                    self.asm.shiftx(w, pp, d, d, s);
                } else {
                    let amount = if w { imm & 63 } else { imm & 31 };
                    if amount != 0 {
                        self.asm.rr(w, &[0xc1], ext, d);
                        self.asm.byte(amount as u8);
                    } else if !w {
                        self.asm.mov32(d, d);
                    }
                }
            }
            op::DIV | op::MOD => self.divide(insn, w, d, s),
            op::END => self.byte_order(insn, d),
            _ => {}
        }
    }

    /// Unsigned division and remainder with eBPF's zero cases: `x / 0 =
    /// 0`, `x % 0 = x` (32-bit: its low half). rax and rdx are saved in
    /// the frame's scratch words around `div`, which needs them.
    fn divide(&mut self, insn: &Insn, w: bool, d: Reg, s: Reg) {
        let is_mod = insn.op() == op::MOD;
        // The result of a zero divisor.
        let by_zero = |asm: &mut Asm| {
            if !is_mod {
                asm.mov_ri(d, 0);
            } else if !w {
                asm.mov32(d, d);
            }
        };
        let done = self.asm.new_label();
        if insn.is_src_reg() {
            let nonzero = self.asm.new_label();
            self.asm.rr(w, &[0x85], s.0, s); // test s, s
            self.asm.jcc(cc::NE, nonzero);
            by_zero(&mut self.asm);
            self.asm.jmp(done);
            self.asm.place(nonzero);
            self.asm.rr(true, &[0x89], s.0, TMP);
        } else {
            let k = if w {
                insn.imm as i64 as u64
            } else {
                u64::from(insn.imm as u32)
            };
            if k == 0 {
                by_zero(&mut self.asm);
                return;
            }
            self.asm.mov_ri(TMP, k);
        }
        self.asm.rm(true, &[0x89], RAX.0, Mem::at(RSP, 0), false);
        self.asm.rm(true, &[0x89], RDX.0, Mem::at(RSP, 8), false);
        if d != RAX {
            self.asm.rr(true, &[0x89], d.0, RAX);
        }
        self.asm.mov_ri(RDX, 0);
        self.asm.rr(w, &[0xf7], 6, TMP); // div tmp
        let result = if is_mod { RDX } else { RAX };
        self.asm.rr(true, &[0x89], result.0, TMP);
        self.asm.rm(true, &[0x8b], RAX.0, Mem::at(RSP, 0), false);
        self.asm.rm(true, &[0x8b], RDX.0, Mem::at(RSP, 8), false);
        self.asm.rr(true, &[0x89], TMP.0, d);
        self.asm.place(done);
    }

    fn byte_order(&mut self, insn: &Insn, d: Reg) {
        let swap = insn.class() == op::ALU64 || insn.is_src_reg();
        match (insn.imm, swap) {
            (16, false) => self.asm.rr(false, &[0x0f, 0xb7], d.0, d), // movzx d32, d16
            (32, false) => self.asm.mov32(d, d),
            (16, true) => {
                self.asm.bswap(false, d);
                self.asm.rr(false, &[0xc1], 5, d);
                self.asm.byte(16);
            }
            (32, true) => self.asm.bswap(false, d),
            (64, true) => self.asm.bswap(true, d),
            _ => {}
        }
        if insn.dst == 0 {
            self.r0_low = insn.imm != 64;
        }
    }

    fn jump(&mut self, pc: usize, insn: &Insn, swap_compare: bool) {
        let wide = insn.class() == op::JMP;
        match insn.op() {
            op::EXIT if self.lean.is_some() => {
                // r0 whole, and no error.
                self.asm.rr(false, &[0x31], RDX.0, RDX); // xor edx, edx
                self.epilogue();
                return;
            }
            op::EXIT => {
                // Leaf results are 32-bit, leaving the high half for
                // LEAF_HAND_OVER.
                if !self.r0_low && self.batch.is_none() {
                    self.asm.mov32(RAX, RAX);
                }
                self.finish();
                return;
            }
            op::CALL => {
                // Helpers are the interpreter's to call.
                self.asm.jmp(self.hand_over);
                return;
            }
            op::JA => {
                let t = jump_target(insn, pc).unwrap_or_default() as usize;
                let l = self.target(t);
                self.asm.jmp(l);
                return;
            }
            _ => {}
        }
        let an = self.an;
        if let Some(search) = &an.searches[pc] {
            let v = self.x(search.reg);
            self.search(v, &search.intervals);
            return;
        }
        let cond = match insn.op() {
            op::JEQ => cc::E,
            op::JNE | op::JSET => cc::NE,
            op::JGT => cc::A,
            op::JGE => cc::AE,
            op::JLT => cc::B,
            op::JLE => cc::BE,
            op::JSGT => cc::G,
            op::JSGE => cc::GE,
            op::JSLT => cc::L,
            _ => cc::LE,
        };
        let t = jump_target(insn, pc).unwrap_or_default() as usize;
        let target = self.target(t);
        let d = self.x(insn.dst);
        if swap_compare {
            let size = self.pending_swap.unwrap_or(4);
            self.compare_swapped(insn, size, target);
        } else if insn.is_src_reg() {
            let s = self.x(insn.src);
            let opcode = if insn.op() == op::JSET { 0x85 } else { 0x39 };
            self.asm.rr(wide, &[opcode], s.0, d);
            self.asm.jcc(cond, target);
        } else if insn.op() == op::JSET {
            self.asm.rr(wide, &[0xf7], 0, d); // test d, imm
            self.asm.imm32(insn.imm);
            self.asm.jcc(cond, target);
        } else {
            self.asm.alu_ri(wide, 7, d, insn.imm);
            self.asm.jcc(cond, target);
        }
    }

    /// `jeq`, `jne` or `jset` of r0 holding an unswapped `size`-byte load
    /// with a constant: compared with the constant swapped instead.
    fn compare_swapped(&mut self, insn: &Insn, size: u8, target: Label) {
        match raw_compare(insn, size) {
            Some(RawCompare::Never) | None => {}
            Some(RawCompare::Always) => self.asm.jmp(target),
            Some(RawCompare::Equal(c)) => {
                self.asm.alu_ri(false, 7, RAX, c as i32);
                self.asm.jcc(cc::E, target);
            }
            Some(RawCompare::NotEqual(c)) => {
                self.asm.alu_ri(false, 7, RAX, c as i32);
                self.asm.jcc(cc::NE, target);
            }
            Some(RawCompare::AnyBit(m)) => {
                self.asm.rr(false, &[0xf7], 0, RAX); // test eax, m
                self.asm.imm32(m as i32);
                self.asm.jcc(cc::NE, target);
            }
        }
    }

    /// A recovered compare tree (see `switch.rs`) searched in halves by
    /// signed compares of `v`; a single value between two intervals with
    /// the same leaf is one equality test.
    fn search(&mut self, v: Reg, intervals: &[(i64, usize)]) {
        match intervals {
            [] => {}
            [(_, leaf)] => {
                let l = self.target(*leaf);
                self.asm.jmp(l);
            }
            [(_, outer), (value, inner), _] if switch::is_single_value(intervals) => {
                let (outer, inner) = (self.target(*outer), self.target(*inner));
                self.asm.cmp_ri64(v, *value);
                self.asm.jcc(cc::E, inner);
                self.asm.jmp(outer);
            }
            _ => {
                let (low, high) = intervals.split_at(intervals.len() / 2);
                let to_low = match low {
                    [(_, leaf)] => self.target(*leaf),
                    _ => self.asm.new_label(),
                };
                self.asm.cmp_ri64(v, high[0].0);
                self.asm.jcc(cc::L, to_low);
                self.search(v, high);
                if low.len() > 1 {
                    self.asm.place(to_low);
                    self.search(v, low);
                }
            }
        }
    }

    fn packet_load(&mut self, pc: usize, insn: &Insn) {
        let size = size_of(insn);
        self.r0_low = true;
        if insn.mode() == op::ABS {
            if insn.imm < 0 {
                // Linux's special areas: the interpreter's.
                self.asm.jmp(self.hand_over);
                return;
            }
            if let Some(need) = self.an.plan[pc] {
                self.asm.cmp_ri64(LEN, need as i64);
                self.asm.jcc(cc::B, self.abort);
            }
            self.load_raw(size, Mem::at(PKT, insn.imm));
            return;
        }
        // LD_IND: the offset is (int32)(src + imm).
        let s = self.x(insn.src);
        self.asm.mov32(TMP, s);
        if insn.imm != 0 {
            self.asm.alu_ri(false, 0, TMP, insn.imm);
        }
        if !self.an.facts.ld_ind_offset_never_negative(pc) {
            self.asm.rr(false, &[0x85], TMP.0, TMP);
            self.asm.jcc(cc::S, self.hand_over);
        }
        // Offset and end are below 2^31 + 4: no wrap in 64 bits.
        self.asm.alu_ri(true, 0, TMP, size);
        self.asm.rr(true, &[0x39], LEN.0, TMP); // cmp tmp, len
        self.asm.jcc(cc::A, self.abort);
        self.load_raw(
            size,
            Mem {
                base: PKT,
                index: Some(TMP),
                disp: -size,
            },
        );
    }

    /// Loads `size` packet bytes into r0, leaving the byte swap pending.
    fn load_raw(&mut self, size: i32, m: Mem) {
        match size {
            1 => self.asm.rm(false, &[0x0f, 0xb6], RAX.0, m, false),
            2 => self.asm.rm(false, &[0x0f, 0xb7], RAX.0, m, false),
            _ => self.asm.rm(false, &[0x8b], RAX.0, m, false),
        }
        self.pending_swap = (size > 1).then_some(size as u8);
    }

    /// LDX, ST and STX: proven inside the frame or the memory at r1, or
    /// handed over; lean code checks accesses at the entry r1 against the
    /// memory's length instead, and leaves any other to Cranelift.
    fn memory(&mut self, pc: usize, insn: &Insn) -> Result<(), JitError> {
        let size = size_of(insn);
        let (base, off) = match insn.class() {
            op::LDX => (insn.src, insn.off),
            _ => (insn.dst, insn.off),
        };
        let m = if self.lean.is_some() {
            self.checked(pc, insn, base, i32::from(off), size)?
        } else {
            self.proven(pc, base, i32::from(off), size)
        };
        let Some(m) = m else {
            self.asm.jmp(self.hand_over);
            return Ok(());
        };
        let w = size == 8;
        match insn.class() {
            op::LDX => {
                let d = self.x(insn.dst);
                match size {
                    1 => self.asm.rm(false, &[0x0f, 0xb6], d.0, m, false),
                    2 => self.asm.rm(false, &[0x0f, 0xb7], d.0, m, false),
                    _ => self.asm.rm(w, &[0x8b], d.0, m, false),
                }
                if insn.dst == 0 {
                    self.r0_low = !w;
                }
            }
            op::STX => {
                let s = self.x(insn.src);
                match size {
                    1 => self.asm.rm(false, &[0x88], s.0, m, true),
                    2 => {
                        self.asm.byte(0x66);
                        self.asm.rm(false, &[0x89], s.0, m, false);
                    }
                    _ => self.asm.rm(w, &[0x89], s.0, m, false),
                }
            }
            _ => match size {
                1 => {
                    self.asm.rm(false, &[0xc6], 0, m, false);
                    self.asm.byte(insn.imm as u8);
                }
                2 => {
                    self.asm.byte(0x66);
                    self.asm.rm(false, &[0xc7], 0, m, false);
                    self.asm
                        .code
                        .extend_from_slice(&(insn.imm as u16).to_le_bytes());
                }
                _ => {
                    self.asm.rm(w, &[0xc7], 0, m, false);
                    self.asm.imm32(insn.imm);
                }
            },
        }
        Ok(())
    }

    /// Lean code: the operand of an access of `size` bytes at `reg + off`,
    /// proven inside the frame (through r10) or checked against the
    /// memory's length (through the entry r1 at a non-negative offset: a
    /// run's first load checks the run, an access in no run itself).
    /// Anything else is not written here.
    fn checked(
        &mut self,
        pc: usize,
        insn: &Insn,
        reg: u8,
        off: i32,
        size: i32,
    ) -> Result<Option<Mem>, JitError> {
        if reg == 10 {
            return match self.proven(pc, reg, off, size) {
                Some(m) => Ok(Some(m)),
                None => Err(unsupported(pc, "a stack access outside the frame")),
            };
        }
        if off < 0 || !self.an.facts.holds_entry_r1(pc, reg) {
            return Err(unsupported(
                pc,
                "an access not at the entry r1 with a lean entry",
            ));
        }
        if let Some(run) = self.runs.take_run_at(pc) {
            let (cold, back) = (self.asm.new_label(), self.asm.new_label());
            self.asm.alu_ri(true, 7, LEN, run.end as i32); // cmp len, end
            self.asm.jcc(cc::B, cold);
            self.asm.place(back);
            self.run_checks.push((cold, back, run));
        }
        if !self.runs.covers(pc) {
            let write = if insn.class() == op::LDX { 0 } else { 0x100 };
            self.check_length(pc, off, size, write);
        }
        Ok(Some(Mem::at(self.x(reg), off)))
    }

    /// The operand of an access of `size` bytes at `reg + off` proven
    /// inside the frame (through r10) or the memory at the entry r1.
    fn proven(&mut self, pc: usize, reg: u8, off: i32, size: i32) -> Option<Mem> {
        let frame = self.options.frame_size as i32;
        if reg == 10 {
            return (off >= -frame && off + size <= 0).then(|| Mem::at(RSP, self.frame + off));
        }
        let end = self.an.facts.end_inside_entry_r1(
            pc,
            reg,
            i64::from(off),
            i64::from(size),
            self.options.leaf_mem,
        )?;
        let needed = &mut self.lowered.leaf_mem_needed;
        *needed = (*needed).max(end);
        Some(Mem::at(self.x(reg), off))
    }
}

#[cfg(all(test, feature = "native-disasm"))]
mod tests {
    //! Every encoder form, for every register and displacement class,
    //! decoded back by iced-x86: what the bytes mean is what was meant.
    use super::*;
    use iced_x86::{Decoder, DecoderOptions, Instruction, Mnemonic, OpKind, Register};

    const R64: [Register; 16] = [
        Register::RAX,
        Register::RCX,
        Register::RDX,
        Register::RBX,
        Register::RSP,
        Register::RBP,
        Register::RSI,
        Register::RDI,
        Register::R8,
        Register::R9,
        Register::R10,
        Register::R11,
        Register::R12,
        Register::R13,
        Register::R14,
        Register::R15,
    ];
    const R32: [Register; 16] = [
        Register::EAX,
        Register::ECX,
        Register::EDX,
        Register::EBX,
        Register::ESP,
        Register::EBP,
        Register::ESI,
        Register::EDI,
        Register::R8D,
        Register::R9D,
        Register::R10D,
        Register::R11D,
        Register::R12D,
        Register::R13D,
        Register::R14D,
        Register::R15D,
    ];
    const R8B: [Register; 16] = [
        Register::AL,
        Register::CL,
        Register::DL,
        Register::BL,
        Register::SPL,
        Register::BPL,
        Register::SIL,
        Register::DIL,
        Register::R8L,
        Register::R9L,
        Register::R10L,
        Register::R11L,
        Register::R12L,
        Register::R13L,
        Register::R14L,
        Register::R15L,
    ];

    /// The one instruction `emit` writes, decoded.
    fn one(emit: impl FnOnce(&mut Asm)) -> Instruction {
        let mut asm = Asm::default();
        emit(&mut asm);
        let mut decoder = Decoder::new(64, &asm.code, DecoderOptions::NONE);
        let insn = decoder.decode();
        assert!(!insn.is_invalid(), "invalid encoding {:02x?}", asm.code);
        assert_eq!(
            insn.len(),
            asm.code.len(),
            "one instruction in {:02x?}",
            asm.code
        );
        insn
    }

    fn regs2(i: &Instruction) -> (Mnemonic, Register, Register) {
        (i.mnemonic(), i.op0_register(), i.op1_register())
    }

    #[test]
    fn register_forms_decode_as_meant() {
        for d in 0..16u8 {
            let rd = Reg(d);
            let (d64, d32) = (R64[usize::from(d)], R32[usize::from(d)]);
            for s in 0..16u8 {
                let (s64, s32) = (R64[usize::from(s)], R32[usize::from(s)]);
                let i = one(|a| a.rr(true, &[0x89], s, rd));
                assert_eq!(regs2(&i), (Mnemonic::Mov, d64, s64));
                let i = one(|a| a.mov32(rd, Reg(s)));
                assert_eq!(regs2(&i), (Mnemonic::Mov, d32, s32));
                let i = one(|a| a.rr(false, &[0x39], s, rd));
                assert_eq!(regs2(&i), (Mnemonic::Cmp, d32, s32));
                let i = one(|a| a.rr(true, &[0x0f, 0xaf], d, Reg(s)));
                assert_eq!(regs2(&i), (Mnemonic::Imul, d64, s64));
                for (pp, m) in [
                    (1, Mnemonic::Shlx),
                    (3, Mnemonic::Shrx),
                    (2, Mnemonic::Sarx),
                ] {
                    for (w, regs) in [(true, &R64), (false, &R32)] {
                        let i = one(|a| a.shiftx(w, pp, rd, rd, Reg(s)));
                        assert_eq!(
                            (
                                i.mnemonic(),
                                i.op0_register(),
                                i.op1_register(),
                                i.op2_register()
                            ),
                            (
                                m,
                                regs[usize::from(d)],
                                regs[usize::from(d)],
                                regs[usize::from(s)]
                            )
                        );
                    }
                }
            }
            for (w, reg) in [(true, d64), (false, d32)] {
                let i = one(|a| a.bswap(w, rd));
                assert_eq!((i.mnemonic(), i.op0_register()), (Mnemonic::Bswap, reg));
                let i = one(|a| a.rr(w, &[0xf7], 3, rd));
                assert_eq!((i.mnemonic(), i.op0_register()), (Mnemonic::Neg, reg));
                let i = one(|a| a.rr(w, &[0xf7], 6, rd));
                assert_eq!((i.mnemonic(), i.op0_register()), (Mnemonic::Div, reg));
                for imm in [0, 1, -1, 127, 128, -128, -129, i32::MAX, i32::MIN] {
                    for (ext, m) in [
                        (0, Mnemonic::Add),
                        (1, Mnemonic::Or),
                        (4, Mnemonic::And),
                        (5, Mnemonic::Sub),
                        (6, Mnemonic::Xor),
                        (7, Mnemonic::Cmp),
                    ] {
                        let i = one(|a| a.alu_ri(w, ext, rd, imm));
                        assert_eq!((i.mnemonic(), i.op0_register()), (m, reg));
                        // As the operation sees it: sign-extended to the width.
                        let want = if w {
                            imm as i64 as u64
                        } else {
                            u64::from(imm as u32)
                        };
                        let got = if w {
                            i.immediate(1)
                        } else {
                            i.immediate(1) & 0xffff_ffff
                        };
                        assert_eq!(got, want, "{m:?} {reg:?}, {imm}");
                    }
                }
            }
            let i = one(|a| a.push(rd));
            assert_eq!((i.mnemonic(), i.op0_register()), (Mnemonic::Push, d64));
            let i = one(|a| a.pop(rd));
            assert_eq!((i.mnemonic(), i.op0_register()), (Mnemonic::Pop, d64));
            for v in [
                0,
                1,
                0x7fff_ffff,
                0xffff_ffff,
                u64::MAX,
                1 << 32,
                0xffff_ffff_8000_0000,
                0x1234_5678_9abc_def0,
            ] {
                let i = one(|a| a.mov_ri(rd, v));
                // The value the full register holds afterwards.
                let got = match (i.mnemonic(), i.op1_kind()) {
                    (Mnemonic::Xor, _) => {
                        assert_eq!(i.op1_register(), i.op0_register());
                        0
                    }
                    (Mnemonic::Mov, OpKind::Immediate32) => {
                        assert_eq!(i.op0_register(), d32);
                        i.immediate(1) & 0xffff_ffff
                    }
                    (Mnemonic::Mov, OpKind::Immediate32to64 | OpKind::Immediate64) => {
                        assert_eq!(i.op0_register(), d64);
                        i.immediate(1)
                    }
                    other => panic!("mov_ri({v:#x}) wrote {other:?}"),
                };
                assert_eq!(got, v, "mov_ri into {d64:?}");
                assert!(
                    i.op0_register() == d64 || i.op0_register() == d32,
                    "mov_ri wrote {:?}",
                    i.op0_register()
                );
            }
        }
    }

    #[test]
    fn memory_forms_decode_as_meant() {
        for base in 0..16u8 {
            for index in [None, Some(R11), Some(RAX), Some(R13)] {
                if index == Some(Reg(base)) {
                    continue;
                }
                for disp in [0, 1, -2, 127, 128, -128, -129, 0x7fff_ffff, i32::MIN] {
                    let m = Mem {
                        base: Reg(base),
                        index,
                        disp,
                    };
                    let at = |i: &Instruction, op: u32| {
                        assert_eq!(i.op_kind(op), OpKind::Memory);
                        assert_eq!(i.memory_base(), R64[usize::from(base)]);
                        let want_index = index.map_or(Register::None, |r| R64[usize::from(r.0)]);
                        assert_eq!(i.memory_index(), want_index);
                        assert_eq!(i.memory_index_scale(), 1);
                        assert_eq!(i.memory_displacement64() as i64, i64::from(disp));
                    };
                    for r in 0..16u8 {
                        let i = one(|a| a.rm(true, &[0x8b], r, m, false));
                        assert_eq!(
                            (i.mnemonic(), i.op0_register()),
                            (Mnemonic::Mov, R64[usize::from(r)])
                        );
                        at(&i, 1);
                        let i = one(|a| a.rm(false, &[0x0f, 0xb6], r, m, false));
                        assert_eq!(
                            (i.mnemonic(), i.op0_register()),
                            (Mnemonic::Movzx, R32[usize::from(r)])
                        );
                        assert_eq!(i.memory_size(), iced_x86::MemorySize::UInt8);
                        at(&i, 1);
                        let i = one(|a| a.rm(false, &[0x88], r, m, true));
                        assert_eq!(
                            (i.mnemonic(), i.op1_register()),
                            (Mnemonic::Mov, R8B[usize::from(r)])
                        );
                        at(&i, 0);
                        let i = one(|a| {
                            a.byte(0x66);
                            a.rm(false, &[0x89], r, m, false);
                        });
                        assert_eq!(i.memory_size(), iced_x86::MemorySize::UInt16);
                        at(&i, 0);
                    }
                }
            }
        }
    }

    #[test]
    fn what_is_not_written_here_is_unsupported() {
        let leaf = JitOptions {
            leaf: true,
            frame_size: 64,
            ..JitOptions::default()
        };
        let program = |src: &str| crate::ebpf::asm::assemble(src).expect("assembles").insns;
        let refused = |src: &str, options: &JitOptions| {
            matches!(
                emit(&program(src), options),
                Err(JitError::Unsupported { .. })
            )
        };
        let plain = "mov32 %r0, 1\nexit";
        assert!(emit(&program(plain), &leaf).is_ok());
        for (what, options) in [
            ("no leaf", JitOptions::default()),
            (
                "a budget",
                JitOptions {
                    budget: true,
                    ..leaf.clone()
                },
            ),
            (
                "a wrapping frame",
                JitOptions {
                    frame_size: u32::MAX,
                    ..leaf.clone()
                },
            ),
        ] {
            assert!(refused(plain, &options), "{what}");
        }
        for src in [
            "mov32 %r0, 7\nsdiv32 %r0, 2\nexit",
            "mov %r1, 7\nmovsx864 %r0, %r1\nexit",
            "mov %r0, 0\nja -2\nexit",
            "mov %r0, %r10\nexit",
        ] {
            assert!(refused(src, &leaf), "{src}");
        }
    }

    #[test]
    fn jumps_land_on_their_labels() {
        let mut asm = Asm::default();
        let (back, fwd) = (asm.new_label(), asm.new_label());
        asm.place(back);
        asm.jcc(cc::NE, fwd);
        asm.jmp(back);
        asm.byte(0x90);
        asm.place(fwd);
        let code = asm.finish().expect("every label placed");
        let mut decoder = Decoder::new(64, &code, DecoderOptions::NONE);
        let jne = decoder.decode();
        assert_eq!((jne.mnemonic(), jne.near_branch64()), (Mnemonic::Jne, 12));
        let jmp = decoder.decode();
        assert_eq!((jmp.mnemonic(), jmp.near_branch64()), (Mnemonic::Jmp, 0));
        let mut asm = Asm::default();
        let never = asm.new_label();
        asm.jmp(never);
        assert!(asm.finish().is_none(), "a jump to a label never placed");
    }
}
