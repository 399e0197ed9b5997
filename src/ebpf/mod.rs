//! Extended BPF (RFC 9669): instruction model, assembler, disassembler,
//! verifier and interpreter.
//!
//! Covered: the conformance groups base32, base64, atomic32, atomic64,
//! divmul32, divmul64, callx, and the legacy packet-access group
//! (`LD_ABS`/`LD_IND`, which in this userspace runtime read the input
//! memory as the packet, big-endian).

pub mod asm;
pub(crate) mod blocks;
pub mod callbacks;
pub(crate) mod complexity;
pub mod context;
pub mod disasm;
pub mod elf;
pub mod env;
pub(crate) mod errno;
pub mod error;
pub mod helpers;
pub mod insn;
pub mod interp;
pub mod legacy_loads;
pub mod maps;
pub(crate) mod packet_load;
pub mod runtime;
pub(crate) mod scalar;
pub mod semantics;
pub mod stack_depth;
pub(crate) mod switch;
pub(crate) mod tnum;
pub mod verify;

pub use env::{Environment, HelperMemory, HelperOutcome, HelpersEnv};
pub use error::ExecError;
pub use helpers::{Helper, HelperFn, Helpers};
pub use insn::{DecodeError, Insn, Program};
pub use interp::RunOptions;
pub use verify::{LoopReason, Rule, VerifyError, VerifyOptions};

/// Bytes of stack per frame (RFC 9669 / Linux `MAX_BPF_STACK`).
pub const STACK_SIZE: usize = 512;

/// Most instruction slots a program may have: Linux's limit for a
/// privileged `BPF_PROG_LOAD` (`BPF_COMPLEXITY_LIMIT_INSNS`; `E2BIG` above).
/// Checked by the verifier before anything else, so a huge program costs
/// nothing but the check.
pub const MAX_INSNS: usize = 1_000_000;

/// Most stack frames a run may have (the program's own plus 7 nested local
/// calls; Linux `MAX_CALL_FRAMES`).
pub const MAX_CALL_FRAMES: usize = 8;
