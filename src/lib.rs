//! cranebpf: a userspace JIT compiler for classic and extended BPF that runs
//! filters exactly as the Linux kernel runs them.
//!
//! Pipeline: parse ([`cbpf`]) → check → translate → verify ([`ebpf`]) → JIT,
//! with interpreters as reference semantics and fallback.

#![deny(missing_docs)]

pub mod capture;
pub mod cbpf;
pub mod ebpf;
pub mod engine;
pub mod expr;
pub mod filter;
#[cfg(feature = "harness")]
#[doc(hidden)]
pub mod harness;
pub mod jit;
mod platform;
pub mod program;
mod rng;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod translate;

pub use engine::Engine;
pub use expr::{compile_expr, ExprError, LinkType};
pub use filter::{Dialect, Filter, FilterError, FilterOptions, FilterRunner};
pub use program::{BuildError, Context, EbpfOptions, EbpfProgram, WithPacket};
