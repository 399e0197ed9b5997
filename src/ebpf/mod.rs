//! Extended BPF (RFC 9669): instruction model, assembler, disassembler,
//! verifier and interpreter.

pub mod insn;

pub use insn::{Insn, Program};
