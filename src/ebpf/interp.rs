//! The reference interpreter: RFC 9669 semantics, every memory access
//! checked, never undefined behaviour.
//!
//! A program is first decoded into one operation per instruction slot
//! (registers masked, immediates and jump targets resolved, the commonest
//! operations given their own variants) and the run loop dispatches once
//! per instruction; the meaning of each operation stays in
//! [`super::semantics`]. Programs run many times keep their decoded form
//! (the prepared core), which also replaces each compare tree on one
//! register (a host or port list, a C `switch`) by a jump table or a
//! binary search, as the JIT does (switch recovery); the functions here
//! decode on each call, without that search.
//!
//! Execution model (shared with the JIT, which must agree):
//! - at entry r1 = real host address of the input memory, r2 = its length,
//!   r10 = real address of the top of frame 0's stack; every other register
//!   is 0 (unobservable: the verifier refuses reads before writes);
//! - each frame (at most `MAX_CALL_FRAMES`) has
//!   `STACK_SIZE` zeroed bytes; frame k+1 lies directly
//!   below frame k. A load or store may touch the input memory or the live
//!   stack, i.e. from the bottom of the current frame up to the top of
//!   frame 0 (so a callee can use pointers into its callers' frames). Any
//!   byte outside is [`ExecError::OutOfBounds`]. Unaligned access is allowed;
//! - legacy `LD_ABS`/`LD_IND` read the *input memory* as the packet (in the
//!   kernel they read the skb in r6; here r6 plays no part), big-endian; an
//!   offset outside it ends the program with return value 0, as the kernel
//!   does. Calls and legacy loads leave r1–r5 as they were — the verifier
//!   refuses any read of them before they are written again, as the kernel
//!   does, so their values are unobservable;
//! - the budget, when set, is the number of instructions that may start
//!   (`lddw` counts once); starting one more is
//!   [`ExecError::BudgetExhausted`].

use super::blocks;
use super::env::{Environment, HelperMemory, HelperOutcome, HelpersEnv};
use super::error::ExecError;
use super::helpers::Helpers;
use super::insn::{op, Insn, Program};
use super::semantics::{self, alu32, alu64, byte_order, jmp_cond};
use super::switch::{self, Dispatcher};
use super::verify::{verify_with, Rule, VerifyError};
use super::{MAX_CALL_FRAMES, STACK_SIZE};

/// How to run a program.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Helpers callable by number.
    pub helpers: Helpers,
    /// Maximum number of instructions to start; `None` means unlimited
    /// (then the verifier refuses loops and recursion).
    pub budget: Option<u64>,
}

/// Verifies `prog` and runs it on `mem`; returns r0 at the final `exit`.
pub fn run(prog: &Program, mem: &mut [u8], opts: &RunOptions) -> Result<u64, ExecError> {
    verify_with(prog, &opts.helpers, opts.budget)?;
    run_unverified(prog, mem, None, opts.budget, &HelpersEnv(&opts.helpers))
}

/// Runs `prog` without verifying it first, for embeddings that verified or
/// built it themselves (a translated classic filter, run per packet). Legacy
/// packet loads read `packet` (the input memory when `None`); helpers and
/// negative packet offsets go to `env`. Safe for any program: a malformed
/// one ends in an error, never in undefined behaviour.
pub fn run_unverified(
    prog: &Program,
    mem: &mut [u8],
    packet: Option<&[u8]>,
    budget: Option<u64>,
    env: &dyn Environment,
) -> Result<u64, ExecError> {
    let code = Decoded::new(prog);
    if prog.has_local_calls() {
        let mut stack = vec![0u8; STACK_SIZE * MAX_CALL_FRAMES];
        Machine::new(mem, packet, &mut stack).execute(&code, budget, env)
    } else {
        // One frame is all a program without local calls can use; it lives
        // on the host stack.
        let mut stack = [0u8; STACK_SIZE];
        Machine::new(mem, packet, &mut stack).execute(&code, budget, env)
    }
}

/// [`run_unverified`] on a stack the caller provides (zeroed, a whole
/// number of [`STACK_SIZE`] frames; a local call that would need a frame
/// more than it holds is [`ExecError::CallDepthExceeded`]).
pub fn run_on_stack(
    prog: &Program,
    mem: &mut [u8],
    packet: Option<&[u8]>,
    stack: &mut [u8],
    budget: Option<u64>,
    env: &dyn Environment,
) -> Result<u64, ExecError> {
    Decoded::new(prog).run_on_stack(mem, packet, stack, budget, env)
}

/// A program decoded once for the interpreter: one operation per
/// instruction slot (so a slot's index is its pc), carrying its registers
/// already masked, its immediate, its load size and its absolute jump
/// target, so a run dispatches once per instruction. Programs run many
/// times keep theirs ([`crate::program`]'s prepared core).
#[derive(Clone, Debug)]
pub(crate) struct Decoded {
    ops: Vec<Op>,
    /// The switches `Op::Switch` slots run.
    switches: Vec<SwitchOp>,
}

/// A compare tree's root replaced by one dispatch on its register's value.
#[derive(Clone, Debug)]
struct SwitchOp {
    dispatch: Dispatcher,
    /// The root's own operation, run instead when instructions are counted
    /// (jumping over the tree's compares would count fewer).
    root: Op,
}

/// One decoded instruction slot. The commonest ALU and jump operations
/// (what clang and the classic translation emit most) have their own
/// variants, so a run dispatches once for them; their meaning is still
/// [`semantics`]' (called with the operation as a constant).
#[derive(Clone, Copy, Debug)]
enum Op {
    Mov64K {
        dst: u8,
        imm: i32,
    },
    Mov64X {
        dst: u8,
        src: u8,
    },
    Mov32K {
        dst: u8,
        imm: i32,
    },
    Mov32X {
        dst: u8,
        src: u8,
    },
    Add64K {
        dst: u8,
        imm: i32,
    },
    Add64X {
        dst: u8,
        src: u8,
    },
    And64K {
        dst: u8,
        imm: i32,
    },
    And32K {
        dst: u8,
        imm: i32,
    },
    Lsh64K {
        dst: u8,
        imm: i32,
    },
    Rsh64K {
        dst: u8,
        imm: i32,
    },
    Lsh32K {
        dst: u8,
        imm: i32,
    },
    Rsh32K {
        dst: u8,
        imm: i32,
    },
    JeqK {
        dst: u8,
        imm: i32,
        target: usize,
    },
    JneK {
        dst: u8,
        imm: i32,
        target: usize,
    },
    JgtK {
        dst: u8,
        imm: i32,
        target: usize,
    },
    JgeK {
        dst: u8,
        imm: i32,
        target: usize,
    },
    JsetK {
        dst: u8,
        imm: i32,
        target: usize,
    },
    JeqX {
        dst: u8,
        src: u8,
        target: usize,
    },
    JneX {
        dst: u8,
        src: u8,
        target: usize,
    },
    JgtX {
        dst: u8,
        src: u8,
        target: usize,
    },
    JgeX {
        dst: u8,
        src: u8,
        target: usize,
    },
    Alu64K {
        op: u8,
        off: i16,
        dst: u8,
        imm: i32,
    },
    Alu64X {
        op: u8,
        off: i16,
        dst: u8,
        src: u8,
    },
    Alu32K {
        op: u8,
        off: i16,
        dst: u8,
        imm: i32,
    },
    Alu32X {
        op: u8,
        off: i16,
        dst: u8,
        src: u8,
    },
    End {
        opc: u8,
        dst: u8,
        width: i32,
    },
    JmpK {
        op: u8,
        dst: u8,
        imm: i32,
        target: usize,
    },
    JmpX {
        op: u8,
        dst: u8,
        src: u8,
        target: usize,
    },
    Jmp32K {
        op: u8,
        dst: u8,
        imm: i32,
        target: usize,
    },
    Jmp32X {
        op: u8,
        dst: u8,
        src: u8,
        target: usize,
    },
    Ja {
        target: usize,
    },
    /// `lddw` (its second slot decodes as whatever it holds and is never
    /// reached by falling through).
    Lddw {
        dst: u8,
        value: u64,
    },
    LdAbs {
        size: u8,
        k: i32,
    },
    LdInd {
        size: u8,
        src: u8,
        k: i32,
    },
    Ldx {
        size: u8,
        sign_extend: bool,
        dst: u8,
        src: u8,
        off: i16,
    },
    St {
        size: u8,
        dst: u8,
        off: i16,
        imm: i32,
    },
    Stx {
        size: u8,
        dst: u8,
        src: u8,
        off: i16,
    },
    Atomic {
        insn: Insn,
    },
    CallHelper {
        id: u32,
    },
    CallReg {
        dst: u8,
    },
    CallLocal {
        target: usize,
    },
    Exit,
    /// The root of a compare tree ([`SwitchOp`]).
    Switch {
        index: u32,
    },
}

impl Decoded {
    /// Decodes every slot of `prog`; any bit pattern decodes (to what the
    /// interpreter makes of it), so this never fails.
    pub(crate) fn new(prog: &Program) -> Decoded {
        let insns = &prog.insns;
        let ops = insns
            .iter()
            .enumerate()
            .map(|(pc, i)| decode(pc, i, insns.get(pc + 1)))
            .collect();
        Decoded {
            ops,
            switches: Vec::new(),
        }
    }

    /// [`Decoded::new`], with every compare tree the JIT would make a
    /// switch of run as one dispatch (for programs run many times: finding
    /// the trees costs more than one run saves).
    pub(crate) fn with_switches(prog: &Program) -> Decoded {
        let mut code = Decoded::new(prog);
        let insns = &prog.insns;
        // A program whose calls or jumps leave their function has no
        // switches here (the verifier refuses it).
        let Ok(starts) = blocks::function_starts(insns) else {
            return code;
        };
        for (i, &start) in starts.iter().enumerate() {
            let end = starts.get(i + 1).copied().unwrap_or(insns.len());
            let Ok(leaders) = blocks::leaders(insns, start, end) else {
                continue;
            };
            let found = switch::find(insns, start, end, &leaders, switch::Tables::Taken);
            for (root, dispatch) in switch::dispatchers(found) {
                let Ok(index) = u32::try_from(code.switches.len()) else {
                    return code;
                };
                code.switches.push(SwitchOp {
                    dispatch,
                    root: code.ops[root],
                });
                code.ops[root] = Op::Switch { index };
            }
        }
        code
    }

    /// Runs on `stack` (zeroed, a whole number of [`STACK_SIZE`] frames):
    /// [`run_on_stack`] without decoding again.
    pub(crate) fn run_on_stack(
        &self,
        mem: &mut [u8],
        packet: Option<&[u8]>,
        stack: &mut [u8],
        budget: Option<u64>,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        Machine::new(mem, packet, stack).execute(self, budget, env)
    }
}

/// A register field as the interpreter reads it (r10 for anything above).
fn register(field: u8) -> usize {
    (field & 15).min(10) as usize
}

/// The operation for the instruction `i` at `pc` (`next` is the slot
/// after it, which `lddw` reads).
fn decode(pc: usize, i: &Insn, next: Option<&Insn>) -> Op {
    let dst = register(i.dst) as u8;
    let src = register(i.src) as u8;
    let (o, off, imm) = (i.op(), i.off, i.imm);
    let x = i.is_src_reg();
    let size = semantics::size_bytes(i.size_field()) as u8;
    match i.class() {
        op::ALU64 | op::ALU if o == op::END => Op::End {
            opc: i.opc,
            dst,
            width: imm,
        },
        op::ALU64 => match (o, x) {
            (op::MOV, false) if off == 0 => Op::Mov64K { dst, imm },
            (op::MOV, true) if off == 0 => Op::Mov64X { dst, src },
            (op::ADD, false) => Op::Add64K { dst, imm },
            (op::ADD, true) => Op::Add64X { dst, src },
            (op::AND, false) => Op::And64K { dst, imm },
            (op::LSH, false) => Op::Lsh64K { dst, imm },
            (op::RSH, false) => Op::Rsh64K { dst, imm },
            (_, true) => Op::Alu64X {
                op: o,
                off,
                dst,
                src,
            },
            (_, false) => Op::Alu64K {
                op: o,
                off,
                dst,
                imm,
            },
        },
        op::ALU => match (o, x) {
            (op::MOV, false) if off == 0 => Op::Mov32K { dst, imm },
            (op::MOV, true) if off == 0 => Op::Mov32X { dst, src },
            (op::AND, false) => Op::And32K { dst, imm },
            (op::LSH, false) => Op::Lsh32K { dst, imm },
            (op::RSH, false) => Op::Rsh32K { dst, imm },
            (_, true) => Op::Alu32X {
                op: o,
                off,
                dst,
                src,
            },
            (_, false) => Op::Alu32K {
                op: o,
                off,
                dst,
                imm,
            },
        },
        class @ (op::JMP | op::JMP32) => match o {
            op::JA if class == op::JMP32 => Op::Ja {
                target: offset(pc, imm as i64),
            },
            op::JA => Op::Ja {
                target: offset(pc, off as i64),
            },
            op::CALL if x => Op::CallReg { dst },
            op::CALL if i.src == op::CALL_LOCAL => Op::CallLocal {
                target: offset(pc, imm as i64),
            },
            op::CALL => Op::CallHelper { id: imm as u32 },
            op::EXIT => Op::Exit,
            _ => {
                let target = offset(pc, off as i64);
                match (class == op::JMP32, x) {
                    (false, false) => match o {
                        op::JEQ => Op::JeqK { dst, imm, target },
                        op::JNE => Op::JneK { dst, imm, target },
                        op::JGT => Op::JgtK { dst, imm, target },
                        op::JGE => Op::JgeK { dst, imm, target },
                        op::JSET => Op::JsetK { dst, imm, target },
                        _ => Op::JmpK {
                            op: o,
                            dst,
                            imm,
                            target,
                        },
                    },
                    (false, true) => match o {
                        op::JEQ => Op::JeqX { dst, src, target },
                        op::JNE => Op::JneX { dst, src, target },
                        op::JGT => Op::JgtX { dst, src, target },
                        op::JGE => Op::JgeX { dst, src, target },
                        _ => Op::JmpX {
                            op: o,
                            dst,
                            src,
                            target,
                        },
                    },
                    (true, false) => Op::Jmp32K {
                        op: o,
                        dst,
                        imm,
                        target,
                    },
                    (true, true) => Op::Jmp32X {
                        op: o,
                        dst,
                        src,
                        target,
                    },
                }
            }
        },
        op::LD if i.is_lddw() => Op::Lddw {
            dst,
            value: i.imm64(next),
        },
        op::LD if i.mode() == op::IND => Op::LdInd { size, src, k: imm },
        op::LD => Op::LdAbs { size, k: imm },
        op::LDX => Op::Ldx {
            size,
            sign_extend: i.mode() == op::MEMSX,
            dst,
            src,
            off,
        },
        op::ST => Op::St {
            size,
            dst,
            off,
            imm,
        },
        _ if i.mode() == op::ATOMIC => Op::Atomic { insn: *i },
        _ => Op::Stx {
            size,
            dst,
            src,
            off,
        },
    }
}

/// A local call's saved caller state.
struct Frame {
    return_pc: usize,
    callee_saved: [u64; 4],
}

struct Machine<'m> {
    mem: &'m mut [u8],
    packet: Option<&'m [u8]>,
    stack: &'m mut [u8],
    /// r0–r10; decoded register numbers are at most 10, and the spare
    /// slots let `& 15` stand for a bounds check.
    reg: [u64; 16],
}

impl<'m> Machine<'m> {
    fn new(mem: &'m mut [u8], packet: Option<&'m [u8]>, stack: &'m mut [u8]) -> Machine<'m> {
        let mut reg = [0u64; 16];
        reg[1] = mem.as_ptr() as u64;
        reg[2] = mem.len() as u64;
        let mut m = Machine {
            mem,
            packet,
            stack,
            reg,
        };
        m.reg[10] = m.frame_top(0);
        m
    }

    /// Real address just above frame `depth` (0 = the program's frame).
    fn frame_top(&self, depth: usize) -> u64 {
        self.stack.as_ptr() as u64 + (self.stack.len() - depth * STACK_SIZE) as u64
    }

    /// The bytes `[addr, addr + size)` if they lie wholly in the input
    /// memory or the live stack of a run at call depth `depth`.
    fn bytes(
        &mut self,
        pc: usize,
        depth: usize,
        addr: u64,
        size: usize,
        write: bool,
    ) -> Result<&mut [u8], ExecError> {
        let oob = ExecError::OutOfBounds {
            pc,
            addr,
            size,
            write,
        };
        let Some(end) = addr.checked_add(size as u64) else {
            return Err(oob);
        };
        let mem_base = self.mem.as_ptr() as u64;
        if addr >= mem_base && end <= mem_base + self.mem.len() as u64 {
            let at = (addr - mem_base) as usize;
            return Ok(&mut self.mem[at..at + size]);
        }
        let live_bottom = self.frame_top(depth + 1);
        let stack_base = self.stack.as_ptr() as u64;
        if addr >= live_bottom && end <= self.frame_top(0) {
            let at = (addr - stack_base) as usize;
            return Ok(&mut self.stack[at..at + size]);
        }
        Err(oob)
    }

    fn load(&mut self, pc: usize, depth: usize, addr: u64, size: usize) -> Result<u64, ExecError> {
        let b = self.bytes(pc, depth, addr, size, false)?;
        let mut v = [0u8; 8];
        v[..size].copy_from_slice(b);
        Ok(u64::from_le_bytes(v))
    }

    fn store(
        &mut self,
        pc: usize,
        depth: usize,
        addr: u64,
        size: usize,
        value: u64,
    ) -> Result<(), ExecError> {
        let b = self.bytes(pc, depth, addr, size, true)?;
        b.copy_from_slice(&value.to_le_bytes()[..size]);
        Ok(())
    }

    fn execute(
        &mut self,
        code: &Decoded,
        budget: Option<u64>,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        match budget {
            Some(budget) => self.execute_counted::<true>(code, budget, env),
            None => self.execute_counted::<false>(code, 0, env),
        }
    }

    /// The run loop; `COUNTED` programs may start at most `budget`
    /// instructions (the others count nothing).
    fn execute_counted<const COUNTED: bool>(
        &mut self,
        code: &Decoded,
        budget: u64,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        let ops = &code.ops[..];
        let mut frames: Vec<Frame> = Vec::new();
        let mut pc = 0usize;
        let mut started = 0u64;
        loop {
            let Some(&o) = ops.get(pc) else {
                // Unreachable after verification; kept so a bug can never
                // become an out-of-range index.
                return Err(ExecError::Verify(VerifyError {
                    pc,
                    rule: Rule::FallsOffEnd,
                }));
            };
            let o = match o {
                Op::Switch { index } if COUNTED => code.switches[index as usize].root,
                o => o,
            };
            if COUNTED {
                if started >= budget {
                    return Err(ExecError::BudgetExhausted { pc });
                }
                started += 1;
            }
            let at = pc;
            pc += 1;
            let r = &mut self.reg;
            // (Register numbers are at most 10: `& 15` only spares the
            // bounds check.)
            macro_rules! alu {
                ($f:ident, $op:expr, $dst:expr, $v:expr) => {{
                    let d = ($dst & 15) as usize;
                    r[d] = $f($op, 0, r[d], $v)
                }};
            }
            // A taken jump is marked unlikely only so the compiler keeps a
            // branch: a conditional move would make fetching the next
            // operation wait for every compare.
            macro_rules! jump {
                ($op:expr, $dst:expr, $v:expr, $target:expr) => {
                    jump!($op, $dst, $v, $target, false)
                };
                ($op:expr, $dst:expr, $v:expr, $target:expr, $is32:expr) => {{
                    if jmp_cond($op, r[($dst & 15) as usize], $v, $is32) {
                        std::hint::cold_path();
                        pc = $target;
                    }
                }};
            }
            match o {
                Op::Mov64K { dst, imm } => alu!(alu64, op::MOV, dst, imm as i64 as u64),
                Op::Mov64X { dst, src } => alu!(alu64, op::MOV, dst, r[(src & 15) as usize]),
                Op::Mov32K { dst, imm } => alu!(alu32, op::MOV, dst, imm as i64 as u64),
                Op::Mov32X { dst, src } => alu!(alu32, op::MOV, dst, r[(src & 15) as usize]),
                Op::Add64K { dst, imm } => alu!(alu64, op::ADD, dst, imm as i64 as u64),
                Op::Add64X { dst, src } => alu!(alu64, op::ADD, dst, r[(src & 15) as usize]),
                Op::And64K { dst, imm } => alu!(alu64, op::AND, dst, imm as i64 as u64),
                Op::And32K { dst, imm } => alu!(alu32, op::AND, dst, imm as i64 as u64),
                Op::Lsh64K { dst, imm } => alu!(alu64, op::LSH, dst, imm as i64 as u64),
                Op::Rsh64K { dst, imm } => alu!(alu64, op::RSH, dst, imm as i64 as u64),
                Op::Lsh32K { dst, imm } => alu!(alu32, op::LSH, dst, imm as i64 as u64),
                Op::Rsh32K { dst, imm } => alu!(alu32, op::RSH, dst, imm as i64 as u64),
                Op::JeqK { dst, imm, target } => jump!(op::JEQ, dst, imm as i64 as u64, target),
                Op::JneK { dst, imm, target } => jump!(op::JNE, dst, imm as i64 as u64, target),
                Op::JgtK { dst, imm, target } => jump!(op::JGT, dst, imm as i64 as u64, target),
                Op::JgeK { dst, imm, target } => jump!(op::JGE, dst, imm as i64 as u64, target),
                Op::JsetK { dst, imm, target } => jump!(op::JSET, dst, imm as i64 as u64, target),
                Op::JeqX { dst, src, target } => {
                    jump!(op::JEQ, dst, r[(src & 15) as usize], target)
                }
                Op::JneX { dst, src, target } => {
                    jump!(op::JNE, dst, r[(src & 15) as usize], target)
                }
                Op::JgtX { dst, src, target } => {
                    jump!(op::JGT, dst, r[(src & 15) as usize], target)
                }
                Op::JgeX { dst, src, target } => {
                    jump!(op::JGE, dst, r[(src & 15) as usize], target)
                }
                Op::Alu64K { op, off, dst, imm } => {
                    r[dst as usize] = alu64(op, off, r[dst as usize], imm as i64 as u64)
                }
                Op::Alu64X { op, off, dst, src } => {
                    r[dst as usize] = alu64(op, off, r[dst as usize], r[src as usize])
                }
                Op::Alu32K { op, off, dst, imm } => {
                    r[dst as usize] = alu32(op, off, r[dst as usize], imm as i64 as u64)
                }
                Op::Alu32X { op, off, dst, src } => {
                    r[dst as usize] = alu32(op, off, r[dst as usize], r[src as usize])
                }
                Op::End { opc, dst, width } => {
                    r[dst as usize] = byte_order(opc, width, r[dst as usize])
                }
                Op::JmpK {
                    op,
                    dst,
                    imm,
                    target,
                } => jump!(op, dst, imm as i64 as u64, target, false),
                Op::JmpX {
                    op,
                    dst,
                    src,
                    target,
                } => jump!(op, dst, r[src as usize], target, false),
                Op::Jmp32K {
                    op,
                    dst,
                    imm,
                    target,
                } => jump!(op, dst, imm as i64 as u64, target, true),
                Op::Jmp32X {
                    op,
                    dst,
                    src,
                    target,
                } => jump!(op, dst, r[src as usize], target, true),
                Op::Ja { target } => pc = target,
                Op::Lddw { dst, value } => {
                    r[dst as usize] = value;
                    pc = at + 2;
                }
                Op::LdAbs { size, k } => match self.legacy_load(size as usize, k, env) {
                    Some(v) => self.reg[0] = v,
                    None => return Ok(0),
                },
                Op::LdInd { size, src, k } => {
                    let k = semantics::ld_ind_offset(r[src as usize], k);
                    match self.legacy_load(size as usize, k, env) {
                        Some(v) => self.reg[0] = v,
                        None => return Ok(0),
                    }
                }
                Op::Ldx {
                    size,
                    sign_extend,
                    dst,
                    src,
                    off,
                } => {
                    let size = size as usize;
                    let addr = r[src as usize].wrapping_add(off as i64 as u64);
                    let v = self.load(at, frames.len(), addr, size)?;
                    self.reg[dst as usize] = if sign_extend {
                        semantics::sign_extend(v, size)
                    } else {
                        v
                    };
                }
                Op::St {
                    size,
                    dst,
                    off,
                    imm,
                } => {
                    let addr = r[dst as usize].wrapping_add(off as i64 as u64);
                    self.store(at, frames.len(), addr, size as usize, imm as i64 as u64)?;
                }
                Op::Stx {
                    size,
                    dst,
                    src,
                    off,
                } => {
                    let addr = r[dst as usize].wrapping_add(off as i64 as u64);
                    let value = r[src as usize];
                    self.store(at, frames.len(), addr, size as usize, value)?;
                }
                Op::Atomic { insn } => {
                    let size = semantics::size_bytes(insn.size_field());
                    let dst = register(insn.dst);
                    let addr = r[dst].wrapping_add(insn.off as i64 as u64);
                    self.atomic(at, frames.len(), &insn, addr, size, register(insn.src))?;
                }
                Op::CallHelper { id } => {
                    if let Some(end) = self.call_helper(at, u64::from(id), env)? {
                        return Ok(end);
                    }
                }
                Op::CallReg { dst } => {
                    let id = r[dst as usize];
                    if let Some(end) = self.call_helper(at, id, env)? {
                        return Ok(end);
                    }
                }
                Op::CallLocal { target } => {
                    let depth = frames.len();
                    if depth + 1 >= MAX_CALL_FRAMES || (depth + 2) * STACK_SIZE > self.stack.len() {
                        return Err(ExecError::CallDepthExceeded { pc: at });
                    }
                    let mut callee_saved = [0u64; 4];
                    callee_saved.copy_from_slice(&r[6..10]);
                    frames.push(Frame {
                        return_pc: pc,
                        callee_saved,
                    });
                    self.reg[10] = self.frame_top(depth + 1);
                    pc = target;
                }
                Op::Switch { index } => {
                    let d = &code.switches[index as usize].dispatch;
                    pc = d.leaf(r[(d.reg & 15) as usize] as i64);
                }
                Op::Exit => match frames.pop() {
                    None => return Ok(r[0]),
                    Some(f) => {
                        r[6..10].copy_from_slice(&f.callee_saved);
                        self.reg[10] = self.frame_top(frames.len());
                        pc = f.return_pc;
                    }
                },
            }
        }
    }

    /// A legacy packet load (`LD_ABS`/`LD_IND`) of `size` bytes at offset
    /// `at` of the packet; `None` ends the program with 0.
    fn legacy_load(&self, size: usize, at: i32, env: &dyn Environment) -> Option<u64> {
        let packet = self.packet.unwrap_or(self.mem);
        if at >= 0 {
            semantics::ld_packet(packet, at, size)
        } else {
            env.negative_load(packet, i64::from(at), size)
                .map(u64::from)
        }
    }

    /// Calls helper `id`; `Some(0)` when it ends the program.
    fn call_helper(
        &mut self,
        pc: usize,
        id: u64,
        env: &dyn Environment,
    ) -> Result<Option<u64>, ExecError> {
        let r = self.reg;
        let mut memory = HelperMemory::new(self.mem, self.stack, self.packet);
        match env.call_helper_in(id, [r[1], r[2], r[3], r[4], r[5]], &mut memory) {
            HelperOutcome::Return(v) => {
                self.reg[0] = v;
                Ok(None)
            }
            HelperOutcome::Unwind => Ok(Some(0)),
            HelperOutcome::OutOfBounds { addr, size, write } => Err(ExecError::OutOfBounds {
                pc,
                addr,
                size,
                write,
            }),
            HelperOutcome::Unknown => Err(ExecError::UnknownHelper { pc, id }),
        }
    }

    /// An atomic operation of `size` (4 or 8) bytes at `addr`. The
    /// interpreter is single-threaded, so a checked read-modify-write is
    /// atomic with respect to the program.
    fn atomic(
        &mut self,
        pc: usize,
        depth: usize,
        i: &Insn,
        addr: u64,
        size: usize,
        src: usize,
    ) -> Result<(), ExecError> {
        let mask = if size == 4 { u32::MAX as u64 } else { u64::MAX };
        // Bounds are checked as a write before anything changes.
        self.bytes(pc, depth, addr, size, true)?;
        let old = self.load(pc, depth, addr, size)?;
        let value = self.reg[src] & mask;
        if i.imm == op::CMPXCHG {
            let new = semantics::cmpxchg(old, self.reg[0] & mask, value);
            self.store(pc, depth, addr, size, new)?;
            self.reg[0] = old;
        } else {
            let new = semantics::atomic_rmw(i.imm, old, value) & mask;
            self.store(pc, depth, addr, size, new)?;
            if i.imm & op::FETCH != 0 {
                self.reg[src] = old;
            }
        }
        Ok(())
    }
}

/// Target of a relative jump from `pc` (relative to the next slot).
fn offset(pc: usize, rel: i64) -> usize {
    (pc as i64 + 1 + rel) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::asm::assemble;
    use crate::ebpf::switch::samples;

    /// Runs `src` after a load of `value` into `reg` (relative jumps are
    /// unaffected by the one instruction put in front).
    fn run_both(
        reg: u8,
        src: &str,
        value: i64,
        budget: Option<u64>,
    ) -> [Result<u64, ExecError>; 2] {
        let prog = assemble(&format!("ldxdw %r{reg}, [%r1+0]\n{src}")).expect("assembles");
        let helpers = Helpers::default();
        let env = HelpersEnv(&helpers);
        let run = |code: &Decoded| {
            let mut mem = value.to_le_bytes();
            let mut stack = [0u8; STACK_SIZE];
            code.run_on_stack(&mut mem, None, &mut stack, budget, &env)
        };
        let plain = Decoded::new(&prog);
        let switched = Decoded::with_switches(&prog);
        assert!(
            switched.ops.iter().any(|o| matches!(o, Op::Switch { .. })),
            "no switch found in {src}"
        );
        [run(&plain), run(&switched)]
    }

    /// Values around every constant of the tree, and the extremes.
    fn probes(constants: &[i64]) -> Vec<i64> {
        let mut v = vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX];
        v.extend([u32::MAX as i64, i32::MAX as i64, i32::MIN as i64]);
        for &k in constants {
            v.extend([k.wrapping_sub(1), k, k.wrapping_add(1)]);
        }
        v
    }

    #[test]
    fn switches_reach_the_leaf_the_compares_reach() {
        // A dense tree (a table) with a signed split.
        let table = samples::TABLE;
        for value in probes(&[0, 1, 2, 3]) {
            let [plain, switched] = run_both(1, table, value, None);
            assert_eq!(plain, switched, "table, {value}");
        }
        // A sparse host list (a search), one constant negative.
        let list = samples::host_list();
        for value in probes(&samples::HOSTS) {
            let [plain, switched] = run_both(0, &list, value, None);
            assert_eq!(plain, switched, "hosts, {value}");
        }
        // A table inside a loop whose cases set r0 (the JIT's lookup):
        // the interpreter goes to the cases, which set it.
        let looped = "jsgt %r1, 1, +3\njeq %r1, 0, +5\njeq %r1, 1, +6\nja +11\n\
                      jeq %r1, 2, +6\njeq %r1, 3, +7\nja +8\n\
                      mov %r0, 10\nja +7\nmov %r0, %r1\nja +5\nmov32 %r0, -1\nja +3\n\
                      mov %r0, -2\nja +1\nmov %r0, 99\nadd %r2, %r0\njlt %r2, 1000, -18\nexit";
        for value in probes(&[0, 1, 2, 3]) {
            let [plain, switched] = run_both(1, looped, value, None);
            assert_eq!(plain, switched, "looped, {value}");
        }
    }

    #[test]
    fn counted_runs_count_every_compare_of_a_switch() {
        let table = samples::TABLE;
        for value in probes(&[0, 1, 2, 3]) {
            for budget in 1..8 {
                let [plain, switched] = run_both(1, table, value, Some(budget));
                assert_eq!(plain, switched, "{value}, budget {budget}");
            }
        }
    }
}
