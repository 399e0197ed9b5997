//! cranebpf: a userspace JIT compiler for classic and extended BPF that runs
//! filters exactly as the Linux kernel runs them.
//!
//! Pipeline: parse ([`cbpf`]) → check → translate → verify ([`ebpf`]) → JIT,
//! with interpreters as reference semantics and fallback.

#![deny(missing_docs)]

pub mod cbpf;
pub mod ebpf;
pub mod expr;
pub mod kernel;
pub mod rng;

pub use expr::{compile_expr, ExprError, LinkType};
