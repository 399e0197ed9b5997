//! Runtime errors of an eBPF engine (interpreter or JIT): every bad access or
//! exhausted limit ends the run with one of these, never with undefined
//! behaviour.

use super::verify::VerifyError;
use std::fmt;

/// Why a run ended without a return value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecError {
    /// The program was refused before it ran.
    Verify(VerifyError),
    /// A load, store or atomic touched bytes outside the input memory and
    /// the live stack. `addr` is the real host address computed by the
    /// program.
    OutOfBounds {
        /// Instruction index.
        pc: usize,
        /// First byte accessed.
        addr: u64,
        /// Access size in bytes.
        size: usize,
        /// True for stores and atomics.
        write: bool,
    },
    /// The instruction budget ran out (the instruction at `pc` was not run).
    BudgetExhausted {
        /// Instruction index.
        pc: usize,
    },
    /// `callx` named a helper number that is not registered.
    UnknownHelper {
        /// Instruction index.
        pc: usize,
        /// The number found in the register.
        id: u64,
    },
    /// The JIT engine was required and could not compile the program.
    NotCompiled(String),
    /// A helper panicked while native code was running it. (Under the
    /// interpreter the panic simply propagates; native frames cannot be
    /// unwound through, so the JIT reports it instead.)
    HelperPanicked {
        /// Instruction index of the call.
        pc: usize,
        /// The helper number.
        id: u64,
    },
    /// A local call would have needed a ninth stack frame.
    CallDepthExceeded {
        /// Instruction index of the call.
        pc: usize,
    },
}

impl ExecError {
    /// The same error with its instruction slot moved by `slot` (for a
    /// program run in a rewritten form, named in the form it was given).
    pub fn at_slots(self, slot: impl Fn(usize) -> usize) -> ExecError {
        match self {
            ExecError::Verify(mut e) => {
                e.pc = slot(e.pc);
                ExecError::Verify(e)
            }
            ExecError::OutOfBounds {
                pc,
                addr,
                size,
                write,
            } => ExecError::OutOfBounds {
                pc: slot(pc),
                addr,
                size,
                write,
            },
            ExecError::BudgetExhausted { pc } => ExecError::BudgetExhausted { pc: slot(pc) },
            ExecError::UnknownHelper { pc, id } => ExecError::UnknownHelper { pc: slot(pc), id },
            ExecError::NotCompiled(why) => ExecError::NotCompiled(why),
            ExecError::HelperPanicked { pc, id } => ExecError::HelperPanicked { pc: slot(pc), id },
            ExecError::CallDepthExceeded { pc } => ExecError::CallDepthExceeded { pc: slot(pc) },
        }
    }
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Verify(e) => write!(f, "refused by the verifier: {e}"),
            ExecError::OutOfBounds {
                pc,
                addr,
                size,
                write,
            } => write!(
                f,
                "instruction {pc}: out-of-bounds {} of {size} bytes at address {addr:#x}",
                if *write { "write" } else { "read" }
            ),
            ExecError::BudgetExhausted { pc } => {
                write!(f, "instruction {pc}: instruction budget exhausted")
            }
            ExecError::UnknownHelper { pc, id } => {
                write!(f, "instruction {pc}: callx to unregistered helper {id}")
            }
            ExecError::NotCompiled(e) => write!(f, "not compiled: {e}"),
            ExecError::HelperPanicked { pc, id } => {
                write!(f, "instruction {pc}: helper {id} panicked")
            }
            ExecError::CallDepthExceeded { pc } => write!(
                f,
                "instruction {pc}: local call exceeds {} stack frames",
                super::MAX_CALL_FRAMES
            ),
        }
    }
}

impl std::error::Error for ExecError {}

impl From<VerifyError> for ExecError {
    fn from(e: VerifyError) -> ExecError {
        ExecError::Verify(e)
    }
}
