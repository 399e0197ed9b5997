//! Classic BPF: the instruction model, its textual and binary forms, the
//! kernel's acceptance rules and the reference interpreter.

pub mod ancillary;
pub mod asm;
pub mod check;
pub mod fast;
pub mod insn;
pub mod interp;
pub mod libpcap;
pub mod meta;
pub mod parse;
pub mod print;
pub mod semantics;

pub use ancillary::Ancillary;
pub use check::{CheckError, Rule};
pub use insn::{Insn, Program};
pub use meta::{Device, Metadata};
pub use parse::ParseError;
