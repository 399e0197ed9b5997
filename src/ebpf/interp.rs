//! The reference interpreter: RFC 9669 semantics, every memory access
//! checked, never undefined behaviour.
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

use super::env::{Environment, HelperMemory, HelperOutcome, HelpersEnv};
use super::error::ExecError;
use super::helpers::Helpers;
use super::insn::{op, Insn, Program};
use super::semantics::{self, alu32, alu64, byte_order, jmp_cond};
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
    if prog.has_local_calls() {
        let mut stack = vec![0u8; STACK_SIZE * MAX_CALL_FRAMES];
        Machine::new(mem, packet, &mut stack).execute(&prog.insns, budget, env)
    } else {
        // One frame is all a program without local calls can use; it lives
        // on the host stack, so a run allocates nothing.
        let mut stack = [0u8; STACK_SIZE];
        Machine::new(mem, packet, &mut stack).execute(&prog.insns, budget, env)
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
    Machine::new(mem, packet, stack).execute(&prog.insns, budget, env)
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
    reg: [u64; 11],
}

impl<'m> Machine<'m> {
    fn new(mem: &'m mut [u8], packet: Option<&'m [u8]>, stack: &'m mut [u8]) -> Machine<'m> {
        let mut reg = [0u64; 11];
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
        insns: &[Insn],
        budget: Option<u64>,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        let mut frames: Vec<Frame> = Vec::new();
        let mut pc = 0usize;
        let mut started = 0u64;
        loop {
            let Some(&i) = insns.get(pc) else {
                // Unreachable after verification; kept so a bug can never
                // become an out-of-range index.
                return Err(ExecError::Verify(VerifyError {
                    pc,
                    rule: Rule::FallsOffEnd,
                }));
            };
            if let Some(budget) = budget {
                if started >= budget {
                    return Err(ExecError::BudgetExhausted { pc });
                }
            }
            started += 1;
            let depth = frames.len();
            let dst = (i.dst & 15).min(10) as usize;
            let src = (i.src & 15).min(10) as usize;
            let operand = if i.is_src_reg() {
                self.reg[src]
            } else {
                i.imm as i64 as u64
            };
            let mut next = pc + 1;
            match i.class() {
                op::ALU64 if i.op() == op::END => {
                    self.reg[dst] = byte_order(i.opc, i.imm, self.reg[dst])
                }
                op::ALU if i.op() == op::END => {
                    self.reg[dst] = byte_order(i.opc, i.imm, self.reg[dst])
                }
                op::ALU64 => self.reg[dst] = alu64(i.op(), i.off, self.reg[dst], operand),
                op::ALU => self.reg[dst] = alu32(i.op(), i.off, self.reg[dst], operand),
                op::JMP | op::JMP32 => match (i.class(), i.op()) {
                    (op::JMP32, op::JA) => next = offset(pc, i.imm as i64),
                    (_, op::CALL) if i.is_src_reg() => {
                        let id = self.reg[dst];
                        if let Some(end) = self.call_helper(pc, id, env)? {
                            return Ok(end);
                        }
                    }
                    (_, op::CALL) if i.src == op::CALL_LOCAL => {
                        if depth + 1 >= MAX_CALL_FRAMES
                            || (depth + 2) * STACK_SIZE > self.stack.len()
                        {
                            return Err(ExecError::CallDepthExceeded { pc });
                        }
                        let mut callee_saved = [0u64; 4];
                        callee_saved.copy_from_slice(&self.reg[6..10]);
                        frames.push(Frame {
                            return_pc: pc + 1,
                            callee_saved,
                        });
                        self.reg[10] = self.frame_top(depth + 1);
                        next = offset(pc, i.imm as i64);
                    }
                    (_, op::CALL) => {
                        if let Some(end) = self.call_helper(pc, u64::from(i.imm as u32), env)? {
                            return Ok(end);
                        }
                    }
                    (_, op::EXIT) => match frames.pop() {
                        None => return Ok(self.reg[0]),
                        Some(f) => {
                            self.reg[6..10].copy_from_slice(&f.callee_saved);
                            self.reg[10] = self.frame_top(depth - 1);
                            next = f.return_pc;
                        }
                    },
                    (class, o) => {
                        if jmp_cond(o, self.reg[dst], operand, class == op::JMP32) {
                            next = offset(pc, i.off as i64);
                        }
                    }
                },
                op::LD => {
                    if i.is_lddw() {
                        let hi = insns.get(pc + 1).map_or(0, |s| s.imm as u32 as u64);
                        self.reg[dst] = (i.imm as u32 as u64) | (hi << 32);
                        next = pc + 2;
                    } else {
                        let size = semantics::size_bytes(i.size_field());
                        let at = if i.mode() == op::IND {
                            semantics::ld_ind_offset(self.reg[src], i.imm)
                        } else {
                            i.imm
                        };
                        let packet = self.packet.unwrap_or(self.mem);
                        let loaded = if at >= 0 {
                            semantics::ld_packet(packet, at, size)
                        } else {
                            env.negative_load(packet, i64::from(at), size)
                                .map(u64::from)
                        };
                        match loaded {
                            Some(v) => self.reg[0] = v,
                            None => return Ok(0),
                        }
                    }
                }
                op::LDX => {
                    let size = semantics::size_bytes(i.size_field());
                    let addr = self.reg[src].wrapping_add(i.off as i64 as u64);
                    let v = self.load(pc, depth, addr, size)?;
                    self.reg[dst] = if i.mode() == op::MEMSX {
                        semantics::sign_extend(v, size)
                    } else {
                        v
                    };
                }
                op::ST => {
                    let size = semantics::size_bytes(i.size_field());
                    let addr = self.reg[dst].wrapping_add(i.off as i64 as u64);
                    self.store(pc, depth, addr, size, i.imm as i64 as u64)?;
                }
                _ => {
                    let size = semantics::size_bytes(i.size_field());
                    let addr = self.reg[dst].wrapping_add(i.off as i64 as u64);
                    if i.mode() == op::ATOMIC {
                        self.atomic(pc, depth, &i, addr, size, src)?;
                    } else {
                        self.store(pc, depth, addr, size, self.reg[src])?;
                    }
                }
            }
            pc = next;
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
