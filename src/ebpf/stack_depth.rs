//! How deep below r10 a program can touch its stack frames, so that a run
//! needs to zero only that much of each frame (the rest is never read or
//! written), as the kernel's verifier sizes `stack_depth`.
//!
//! Registers are followed through the control-flow graph as "r10 plus a
//! known constant", "derived from r10 some other way" or "not from r10".
//! A memory access or a helper's pointer argument at r10 plus a constant
//! reaches that far down (helpers read and write upward from the pointer).
//! Anything the analysis cannot place gives no depth, and the whole stack
//! is zeroed: an access through an r10-derived pointer of unknown offset,
//! a stack pointer stored to memory or passed to a BPF-to-BPF call, an
//! access above r10 (into a caller's frame), or a program that does not
//! decode. A value not derived from r10 that nevertheless points into the
//! stack (computed from scratch) is not followed: such a program may read
//! bytes its own earlier runs left below the depth, the same on every
//! engine.

use super::insn::{op, Insn, Program};
use super::STACK_SIZE;

/// What a register holds, as far as the stack is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Val {
    /// Not derived from r10.
    Scalar,
    /// r10 plus this offset.
    Fp(i64),
    /// Derived from r10 in a way not followed.
    AnyFp,
}

fn join(a: Val, b: Val) -> Val {
    match (a, b) {
        (x, y) if x == y => x,
        (Val::Scalar, Val::Scalar) => Val::Scalar,
        _ => Val::AnyFp,
    }
}

type Regs = [Val; 11];

/// Bytes below r10 that any function of `prog` can touch (a multiple of 8,
/// at most a frame), or `None` when that cannot be bounded.
pub fn stack_depth(prog: &Program) -> Option<usize> {
    let insns = &prog.insns;
    let n = insns.len();
    let mut state: Vec<Option<Regs>> = vec![None; n];
    let mut entry = [Val::Scalar; 11];
    entry[10] = Val::Fp(0);
    // Every function starts with r10 at its own frame.
    let mut work = vec![0usize];
    state.first_mut()?.replace(entry);
    for (pc, i) in insns.iter().enumerate() {
        if i.is_local_call() {
            let t = usize::try_from(pc as i64 + 1 + i64::from(i.imm)).ok()?;
            *state.get_mut(t)? = Some(entry);
            work.push(t);
        }
    }
    let mut deepest = 0i64;
    let mut reach = |at: i64| -> Option<()> {
        // A byte at or above r10 is in a caller's frame: not bounded here.
        (at < 0).then(|| deepest = deepest.max(-at))
    };
    let mut steps = 0usize;
    while let Some(pc) = work.pop() {
        steps += 1;
        if steps > 64 * n + 1024 {
            return None;
        }
        let mut r = state[pc]?;
        let i = *insns.get(pc)?;
        transfer(&i, &mut r, &mut reach)?;
        for next in i.successors(pc).into_iter().flatten() {
            let slot = state.get_mut(next)?;
            let joined = match slot {
                Some(old) => {
                    let mut j = *old;
                    for (a, b) in j.iter_mut().zip(r) {
                        *a = join(*a, b);
                    }
                    j
                }
                None => r,
            };
            if *slot != Some(joined) {
                *slot = Some(joined);
                work.push(next);
            }
        }
    }
    let depth = usize::try_from(deepest).ok()?.next_multiple_of(8);
    (depth <= STACK_SIZE).then_some(depth)
}

/// Applies `i` to `r`, reporting every stack address it touches (relative
/// to r10) to `reach`; `None` when it does something not followed.
fn transfer(i: &Insn, r: &mut Regs, reach: &mut dyn FnMut(i64) -> Option<()>) -> Option<()> {
    let (dst, src) = (usize::from(i.dst), usize::from(i.src));
    let get = |r: &Regs, x: usize| r.get(x).copied();
    // An access of `size` bytes at `base + off`.
    let mut access = |base: Val, off: i64, size: i64| match base {
        Val::Scalar => Some(()),
        Val::Fp(a) => {
            reach(a + off)?;
            reach(a + off + size - 1)
        }
        Val::AnyFp => None,
    };
    let size = |i: &Insn| match i.size_field() {
        op::B => 1,
        op::H => 2,
        op::W => 4,
        _ => 8,
    };
    match i.class() {
        op::ALU64 if i.op() == op::MOV && i.off == 0 => {
            r[dst] = if i.opc & op::X != 0 {
                get(r, src)?
            } else {
                Val::Scalar
            };
        }
        op::ALU64 if matches!(i.op(), op::ADD | op::SUB) && i.opc & op::X == 0 => {
            let k = i64::from(i.imm);
            let k = if i.op() == op::SUB { -k } else { k };
            r[dst] = match get(r, dst)? {
                Val::Fp(a) => Val::Fp(a.checked_add(k)?),
                v => v,
            };
        }
        op::ALU | op::ALU64 => {
            let from = get(r, dst)?;
            let with = if i.opc & op::X != 0 {
                get(r, src)?
            } else {
                Val::Scalar
            };
            r[dst] = if from == Val::Scalar && with == Val::Scalar {
                Val::Scalar
            } else {
                Val::AnyFp
            };
        }
        op::LDX => {
            access(get(r, src)?, i64::from(i.off), size(i))?;
            r[dst] = Val::Scalar;
        }
        op::ST => access(get(r, dst)?, i64::from(i.off), size(i))?,
        op::STX => {
            access(get(r, dst)?, i64::from(i.off), size(i))?;
            // A stack pointer stored anywhere escapes the analysis.
            if get(r, src)? != Val::Scalar {
                return None;
            }
            if i.mode() == op::ATOMIC {
                r[src] = Val::Scalar;
                r[0] = Val::Scalar;
            }
        }
        op::LD => {
            if i.is_lddw() {
                r[dst] = Val::Scalar;
            } else {
                // Legacy packet loads set r0 and clobber r1-r5.
                for v in &mut r[0..=5] {
                    *v = Val::Scalar;
                }
            }
        }
        op::JMP if i.op() == op::CALL => {
            let args = &r[1..=5];
            if i.src == op::CALL_LOCAL {
                // The callee could reach below the pointer.
                if args.iter().any(|&v| v != Val::Scalar) {
                    return None;
                }
            } else {
                for &v in args {
                    match v {
                        Val::Scalar => {}
                        Val::Fp(a) => reach(a)?,
                        Val::AnyFp => return None,
                    }
                }
            }
            for v in &mut r[0..=5] {
                *v = Val::Scalar;
            }
        }
        _ => {}
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::asm::assemble;

    fn depth(src: &str) -> Option<usize> {
        stack_depth(&assemble(src).expect("assembles"))
    }

    #[test]
    fn depths_of_direct_derived_and_helper_accesses() {
        assert_eq!(depth("mov %r0, 0\nexit"), Some(0));
        assert_eq!(depth("stw [%r10-4], 1\nldxw %r0, [%r10-4]\nexit"), Some(8));
        // A map key on the stack, passed to a helper.
        let key = "stw [%r10-12], 7\nmov %r2, %r10\nadd %r2, -12\nlddw %r1, 0\ncall 1\n\
                   mov %r0, 0\nexit";
        assert_eq!(depth(key), Some(16));
        // Joined paths keep the deeper offset only when equal; differing
        // offsets of one register give up.
        let branches = "mov %r2, %r10\njeq %r1, 0, +2\nadd %r2, -16\nja +1\nadd %r2, -8\n\
                        stb [%r2], 1\nmov %r0, 0\nexit";
        assert_eq!(depth(branches), None);
        // A callee's own frame counts; a stack pointer passed to it does not.
        let call = "call local f\nexit\nf:\nstdw [%r10-40], 1\nmov %r0, 0\nexit";
        assert_eq!(depth(call), Some(40));
        let passed = "mov %r1, %r10\nadd %r1, -8\ncall local f\nexit\nf:\nmov %r0, 0\nexit";
        assert_eq!(depth(passed), None);
    }

    #[test]
    fn escapes_and_unknown_offsets_give_no_depth() {
        // Stored to memory.
        assert_eq!(depth("stxdw [%r10-8], %r10\nmov %r0, 0\nexit"), None);
        // An offset from a register.
        assert_eq!(
            depth("mov %r2, %r10\nadd %r2, %r1\nstb [%r2], 1\nmov %r0, 0\nexit"),
            None
        );
        // At or above r10: a caller's frame.
        for access in ["stb [%r10+8], 1", "stb [%r10+0], 1", "stw [%r10-2], 1"] {
            let src = format!("call local f\nexit\nf:\n{access}\nmov %r0, 0\nexit");
            assert_eq!(depth(&src), None, "{access}");
        }
        // Derived but unused is fine.
        assert_eq!(
            depth("mov %r2, %r10\nmul %r2, 3\nmov %r0, 0\nexit"),
            Some(0)
        );
    }
}
