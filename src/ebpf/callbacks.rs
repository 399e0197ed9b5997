//! `bpf_loop` as the kernel's verifier inlines it (`inline_bpf_loop`): the
//! helper's loop becomes eBPF code that calls the callback as a
//! BPF-to-BPF function, so every engine runs callbacks with no helper
//! calling back into the program.
//!
//! Each `call bpf_loop` whose callback (r2) is a function loaded just
//! before it (`lddw r2, func`: `BPF_PSEUDO_FUNC`, as libbpf and our ELF
//! loader leave it) becomes a local call of a function appended after
//! the program, one per callback:
//!
//! ```text
//!     if flags (r4) != 0: return -EINVAL
//!     n = (u32) r1; if n > BPF_MAX_LOOPS: return -E2BIG
//!     for (i = 0; i < n; ) { r0 = callback(i, ctx, 0, 0, 0); i++; if r0 != 0 break }
//!     return i
//! ```
//!
//! (r6–r8 are its own: a local call keeps the caller's), which returns
//! what the helper returns: the iterations run, the one that stopped the
//! loop included. Where the flags are known to be 0 (`mov r4, 0` in the
//! same straight-line code) the kernel inlines the loop itself, and its
//! inlined form differs from the helper (checked against the kernel): the
//! count is compared as a whole register, and -E2BIG is set by a 32-bit
//! move, so the call returns 0xfffffff9; that form is used there. The
//! `lddw` loading the callback loads 0 instead. A
//! function's address used any other way is refused, as is a callback
//! that may come from elsewhere (a jump lands between the `lddw` and the
//! call). The appended function is one more call frame than the kernel's
//! inlined loop.

use super::elf::PSEUDO_FUNC;
use super::insn::{op, Insn, Program};

/// `BPF_FUNC_loop`.
pub const BPF_LOOP: i32 = 181;
/// `BPF_FUNC_for_each_map_elem`.
pub const FOR_EACH_MAP_ELEM: i32 = 164;
/// The helper the expanded `bpf_for_each_map_elem` calls for each slot of
/// its map (`call FOR_EACH_ENTRY` with r1 = the map, r2 = the slot): the
/// address of a record of the entry's key and value addresses, or 0 for an
/// empty slot. Not a kernel helper (ids there are far smaller).
pub const FOR_EACH_ENTRY: i32 = 0x7f00_0164;
/// `BPF_MAX_LOOPS`.
const MAX_LOOPS: i32 = 1 << 23;

/// Why a program's callbacks cannot be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackError {
    /// Instruction slot.
    pub pc: usize,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for CallbackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "instruction {}: {}", self.pc, self.message)
    }
}

impl std::error::Error for CallbackError {}

/// Whether `i` calls a helper that takes a callback.
fn takes_callback(i: &Insn) -> bool {
    i.opc == op::JMP | op::CALL && i.src == 0 && matches!(i.imm, BPF_LOOP | FOR_EACH_MAP_ELEM)
}

/// `prog` with every `bpf_loop` call expanded (unchanged when it has none;
/// `bpf_for_each_map_elem` needs the object's maps:
/// [`expand_callbacks_with_maps`]).
pub fn expand_callbacks(prog: &Program) -> Result<Program, CallbackError> {
    expand_callbacks_with_maps(prog, &[])
}

/// As [`expand_callbacks`], with the object's maps (indexed as `lddw` map
/// references name them), so that `bpf_for_each_map_elem` on map `m`
/// becomes a loop over its `max_entries` slots calling
/// [`FOR_EACH_ENTRY`], then the callback `(map, key, value, ctx)` for each
/// entry, until it returns non-zero; -EINVAL for flags; the entries
/// visited. Maps the kernel does not iterate are refused in its words
/// (`callback function not allowed for map`).
pub fn expand_callbacks_with_maps(
    prog: &Program,
    maps: &[super::maps::MapDef],
) -> Result<Program, CallbackError> {
    let insns = &prog.insns;
    let func_at = |pc: usize| insns[pc].is_lddw() && insns[pc].src == PSEUDO_FUNC;
    let starts = slot_starts(insns);
    if !starts
        .iter()
        .any(|&pc| func_at(pc) || takes_callback(&insns[pc]))
    {
        return Ok(prog.clone());
    }
    // Slots some jump or call lands on: a callback loaded before one of
    // them may not be the one r2 holds at the call.
    let mut targets = vec![false; insns.len() + 1];
    for &pc in &starts {
        for to in insns[pc].successors(pc).into_iter().flatten() {
            if to != pc + insns[pc].width() && to < targets.len() {
                targets[to] = true;
            }
        }
    }
    let mut out = insns.clone();
    let mut consumed = Vec::new();
    // (callback slot, form, its function's first slot once appended)
    let mut functions: Vec<(usize, Form, usize)> = Vec::new();
    let mut appended: Vec<Insn> = Vec::new();
    for (n, &pc) in starts.iter().enumerate() {
        if !takes_callback(&insns[pc]) {
            continue;
        }
        let helper = if insns[pc].imm == BPF_LOOP {
            "bpf_loop"
        } else {
            "bpf_for_each_map_elem"
        };
        let unknown = || CallbackError {
            pc,
            message: format!(
                "{helper}'s callback (r2) is not a function loaded before the call in the same \
                 straight-line code (lddw r2, <function>)"
            ),
        };
        // Back through straight-line code to what last set a register.
        let last_write = |reg: u8| {
            for &at in starts[..n].iter().rev() {
                let i = &insns[at];
                if targets[at + i.width()] || matches!(i.class(), op::JMP | op::JMP32) {
                    return None;
                }
                if writes(i, reg) {
                    return Some(at);
                }
            }
            None
        };
        let load = last_write(2)
            .filter(|&at| func_at(at))
            .ok_or_else(unknown)?;
        // The kernel inlines the loop when it knows the flags are 0.
        let zero = |at: usize| {
            let i = &insns[at];
            matches!(i.class(), op::ALU | op::ALU64)
                && i.op() == op::MOV
                && !i.is_src_reg()
                && i.imm == 0
        };
        let form = if insns[pc].imm == BPF_LOOP {
            Form::Loop {
                inlined: last_write(4).is_some_and(zero),
            }
        } else {
            // The map: a reference loaded in the same straight-line code.
            let map = last_write(1)
                .filter(|&at| insns[at].is_lddw() && insns[at].src == super::elf::PSEUDO_MAP_FD)
                .and_then(|at| maps.get(insns[at].imm as u32 as usize));
            let Some(def) = map else {
                return Err(CallbackError {
                    pc,
                    message: "bpf_for_each_map_elem's map (r1) is not one of the object's maps \
                              loaded before the call in the same straight-line code"
                        .into(),
                });
            };
            if !super::maps::iterable(def.kind) {
                return Err(CallbackError {
                    pc,
                    message: format!(
                        "callback function not allowed for map (bpf_for_each_map_elem on map \
                         '{}', type {})",
                        def.name,
                        def.kind.number()
                    ),
                });
            }
            Form::ForEach {
                slots: def.max_entries.min(i32::MAX as u32) as i32,
            }
        };
        let callback = (load as i64 + 1 + i64::from(insns[load].imm)) as usize;
        if callback >= insns.len() {
            return Err(CallbackError {
                pc: load,
                message: format!("a function address past the program's end (slot {callback})"),
            });
        }
        consumed.push(load);
        let start = match functions.iter().find(|f| (f.0, f.1) == (callback, form)) {
            Some(&(_, _, start)) => start,
            None => {
                let start = insns.len() + appended.len();
                appended.extend(match form {
                    Form::Loop { inlined } => loop_function(start, callback, inlined),
                    Form::ForEach { slots } => for_each_function(start, callback, slots),
                });
                functions.push((callback, form, start));
                start
            }
        };
        out[pc] = Insn::new(op::JMP | op::CALL, 0, op::CALL_LOCAL, 0, rel(pc, start));
    }
    for &pc in &starts {
        if func_at(pc) && !consumed.contains(&pc) {
            return Err(CallbackError {
                pc,
                message: "a function's address is used other than as a callback of bpf_loop or \
                          bpf_for_each_map_elem"
                    .into(),
            });
        }
    }
    for &pc in &consumed {
        out[pc].src = 0;
        out[pc].imm = 0;
    }
    out.extend(appended);
    Ok(Program::new(out))
}

/// Which loop a callback helper becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// `bpf_loop`; `inlined`: the kernel's inlined form.
    Loop { inlined: bool },
    /// `bpf_for_each_map_elem` over a map of `slots` slots.
    ForEach { slots: i32 },
}

/// The loop function of `bpf_for_each_map_elem` for `callback` over a map
/// of `slots` slots, placed at slot `at`: -EINVAL for flags; then for each
/// slot, [`FOR_EACH_ENTRY`] and, for an entry, the callback (map, key,
/// value, ctx); stops when it returns non-zero; returns the entries
/// visited.
fn for_each_function(at: usize, callback: usize, slots: i32) -> Vec<Insn> {
    let mov = |dst: u8, imm: i32| Insn::new(op::ALU64 | op::MOV | op::K, dst, 0, 0, imm);
    let mov_reg = |dst: u8, src: u8| Insn::new(op::ALU64 | op::MOV | op::X, dst, src, 0, 0);
    let load = |dst: u8, off: i16| Insn::new(op::LDX | op::MEM | op::DW, dst, 0, off, 0);
    let exit = Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0);
    vec![
        Insn::new(op::JMP | op::JNE | op::K, 4, 0, 20, 0),
        mov_reg(6, 1),
        mov(7, 0),
        mov_reg(8, 3),
        mov(9, 0),
        Insn::new(op::JMP | op::JGE | op::K, 7, 0, 13, slots),
        mov_reg(1, 6),
        mov_reg(2, 7),
        Insn::new(op::JMP | op::CALL, 0, 0, 0, FOR_EACH_ENTRY),
        Insn::new(op::ALU64 | op::ADD | op::K, 7, 0, 0, 1),
        Insn::new(op::JMP | op::JEQ | op::K, 0, 0, -6, 0),
        load(2, 0),
        load(3, 8),
        mov_reg(1, 6),
        mov_reg(4, 8),
        mov(5, 0),
        Insn::new(
            op::JMP | op::CALL,
            0,
            op::CALL_LOCAL,
            0,
            rel(at + 16, callback),
        ),
        Insn::new(op::ALU64 | op::ADD | op::K, 9, 0, 0, 1),
        Insn::new(op::JMP | op::JEQ | op::K, 0, 0, -14, 0),
        mov_reg(0, 9),
        exit,
        mov(0, -22),
        exit,
    ]
}

/// Slot indices where instructions start (not `lddw` second halves).
fn slot_starts(insns: &[Insn]) -> Vec<usize> {
    let mut starts = Vec::with_capacity(insns.len());
    let mut pc = 0;
    while pc < insns.len() {
        starts.push(pc);
        pc += insns[pc].width();
    }
    starts
}

/// Whether `i` (not a jump) writes register `reg`.
fn writes(i: &Insn, reg: u8) -> bool {
    match i.class() {
        op::ALU | op::ALU64 | op::LDX | op::LD => i.dst == reg,
        // Atomics with fetch write their source register.
        op::STX => i.mode() == op::ATOMIC && i.imm & op::FETCH != 0 && i.src == reg,
        _ => false,
    }
}

/// The jump or call offset from `pc` to `to`.
fn rel(pc: usize, to: usize) -> i32 {
    (to as i64 - pc as i64 - 1) as i32
}

/// The loop function for `callback`, placed at slot `at`: the helper's
/// checks (flags, then the count's low 32 bits), or with `inlined` the
/// kernel's inlined form's (flags known to be 0; the whole register
/// compared; -E2BIG set as a 32-bit move, so it reads 0xfffffff9).
fn loop_function(at: usize, callback: usize, inlined: bool) -> Vec<Insn> {
    let mov = |dst: u8, imm: i32| Insn::new(op::ALU64 | op::MOV | op::K, dst, 0, 0, imm);
    let mov_reg = |dst: u8, src: u8| Insn::new(op::ALU64 | op::MOV | op::X, dst, src, 0, 0);
    let exit = Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0);
    let (flags, count, e2big) = if inlined {
        // (Never taken: keeps the layout of the helper's form.)
        (
            Insn::new(op::JMP | op::JA, 0, 0, 0, 0),
            mov_reg(6, 1),
            Insn::new(op::ALU | op::MOV | op::K, 0, 0, 0, -7),
        )
    } else {
        (
            Insn::new(op::JMP | op::JNE | op::K, 4, 0, 15, 0),
            Insn::new(op::ALU | op::MOV | op::X, 6, 1, 0, 0),
            mov(0, -7),
        )
    };
    vec![
        flags,
        count,
        Insn::new(op::JMP | op::JGT | op::K, 6, 0, 15, MAX_LOOPS),
        mov(7, 0),
        mov_reg(8, 3),
        Insn::new(op::JMP | op::JGE | op::X, 7, 6, 8, 0),
        mov_reg(1, 7),
        mov_reg(2, 8),
        mov(3, 0),
        mov(4, 0),
        mov(5, 0),
        Insn::new(
            op::JMP | op::CALL,
            0,
            op::CALL_LOCAL,
            0,
            rel(at + 11, callback),
        ),
        Insn::new(op::ALU64 | op::ADD | op::K, 7, 0, 0, 1),
        Insn::new(op::JMP | op::JEQ | op::K, 0, 0, -9, 0),
        mov_reg(0, 7),
        exit,
        mov(0, -22),
        exit,
        e2big,
        exit,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::asm::assemble;
    use crate::{EbpfOptions, EbpfProgram, Engine};

    /// `src` assembled, its `lddw r2` made the address of the function
    /// after the first `exit`.
    fn with_callback(src: &str) -> Program {
        let mut p = assemble(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
        let at = (0..p.insns.len())
            .find(|&i| p.insns[i].is_lddw() && p.insns[i].dst == 2)
            .expect("an lddw r2");
        let exit = (0..p.insns.len())
            .find(|&i| p.insns[i].opc == op::JMP | op::EXIT)
            .expect("an exit");
        p.insns[at].src = PSEUDO_FUNC;
        p.insns[at].imm = (exit as i64 + 1 - at as i64 - 1) as i32;
        p
    }

    /// Sums `i` over `bpf_loop(r6, add_i, &sum, r7)` (r6, r7 set first).
    fn sum_program(count: i64, flags: &str) -> Program {
        let src = format!(
            "lddw r6, {count}\n\
             stdw [r10-8], 0\n\
             mov r1, r6\n\
             lddw r2, 0\n\
             mov r3, r10\n\
             add r3, -8\n\
             {flags}\n\
             call 181\n\
             ldxdw r1, [r10-8]\n\
             lsh r0, 32\n\
             or r0, r1\n\
             exit\n\
             ldxdw r3, [r2]\n\
             add r3, r1\n\
             stxdw [r2], r3\n\
             mov r0, 0\n\
             jne r1, 6, +1\n\
             mov r0, 1\n\
             exit"
        );
        with_callback(&src)
    }

    fn run(program: Program) -> u64 {
        let mut results = Vec::new();
        for engine in [Engine::Interp, Engine::Jit] {
            let options = EbpfOptions {
                engine: Some(engine),
                ..EbpfOptions::default()
            };
            let p = EbpfProgram::with_options(program.clone(), options).expect("builds");
            results.push(p.run(&mut []).expect("runs"));
        }
        assert_eq!(results[0], results[1], "interpreter vs JIT");
        results[0]
    }

    #[test]
    fn bpf_loop_runs_its_callback_until_it_returns_nonzero_or_the_count_ends() {
        // (iterations << 32) | sum of i.
        assert_eq!(run(sum_program(4, "mov r4, 0")), 4 << 32 | 6);
        // The callback stops the loop at i = 6: seven iterations.
        assert_eq!(run(sum_program(100, "mov r4, 0")), 7 << 32 | 21);
        assert_eq!(run(sum_program(0, "mov r4, 0")), 0);
    }

    #[test]
    fn bpf_loop_fails_as_the_helper_or_as_the_kernels_inlined_loop() {
        // Flags not known to be 0: the helper (-EINVAL; the count's low
        // 32 bits, -E2BIG as a 64-bit value).
        assert_eq!(
            run(sum_program(3, "mov r4, r6\nand r4, 1")),
            (-22i64 as u64) << 32
        );
        assert_eq!(
            run(sum_program(0x1_0000_0002, "mov r4, r6\nrsh r4, 40")),
            2 << 32 | 1
        );
        assert_eq!(
            run(sum_program(0x80_0001, "mov r4, r6\nrsh r4, 40")),
            (-7i64 as u64) << 32
        );
        // Flags known 0: the kernel's inlined loop (the whole register is
        // the count; -E2BIG is 0xfffffff9).
        assert_eq!(run(sum_program(0x80_0001, "mov r4, 0")), 0xffff_fff9 << 32);
        assert_eq!(
            run(sum_program(0x1_0000_0002, "mov r4, 0")),
            0xffff_fff9 << 32
        );
    }

    #[test]
    fn callbacks_that_cannot_be_placed_are_refused_naming_the_instruction() {
        // r2 copied from another register.
        let mut p = sum_program(4, "mov r4, 0");
        p.insns
            .insert(8, Insn::new(op::ALU64 | op::MOV | op::X, 2, 9, 0, 0));
        let e = expand_callbacks(&p).expect_err("refused");
        assert!(e.message.contains("callback (r2)"), "{e}");
        // A function address kept for something else.
        let mut p = sum_program(4, "mov r4, 0");
        p.insns[9] = Insn::new(op::ALU64 | op::MOV | op::K, 0, 0, 0, 0);
        let e = expand_callbacks(&p).expect_err("refused");
        assert_eq!(e.pc, 4, "{e}");
        assert!(e.message.contains("other than as a callback"), "{e}");
    }
}
