//! Classic BPF: the instruction model, its textual and binary forms, the
//! kernel's acceptance rules and the reference interpreter.

pub mod insn;

pub use insn::{Insn, Program};
