//! cranebpf: a userspace JIT compiler for classic and extended BPF that runs
//! filters exactly as the Linux kernel runs them.
//!
//! Pipeline: parse ([`cbpf`]) → check → translate → verify ([`ebpf`]) → JIT,
//! with interpreters as reference semantics and fallback.
//!
//! The front doors: [`Filter`] for classic programs (a pcap-filter
//! expression compiled by [`compile_expr`], or a program in any of the
//! forms tcpdump and the kernel take), [`EbpfProgram`] for eBPF, and
//! [`capture::CaptureFilter`] for capture files; the engine is chosen with
//! [`Engine`] (the JIT by default, the interpreters as fallback).
//!
//! Compile an expression and run it on a packet:
//!
//! ```
//! use cranebpf::{compile_expr, Filter, LinkType};
//!
//! let filter = Filter::new(compile_expr("ip and udp", LinkType::Ethernet)?)?;
//! let mut packet = vec![0u8; 42];
//! packet[12..14].copy_from_slice(&[0x08, 0x00]); // IPv4
//! packet[14] = 0x45;
//! packet[23] = 17; // UDP
//! assert_eq!(filter.run(&packet), 262144); // kept, as tcpdump's programs say
//! packet[23] = 6; // TCP
//! assert_eq!(filter.run(&packet), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Load what `tcpdump -ddd` prints (or the comma form `iptables -m bpf`
//! takes, `-dd`, `bpf_asm` or raw `struct sock_filter` bytes: the form is
//! detected):
//!
//! ```
//! use cranebpf::{cbpf, Filter};
//!
//! let prog = cbpf::parse::parse(b"4\n40 0 0 12\n21 0 1 2048\n6 0 0 262144\n6 0 0 0\n")?;
//! let filter = Filter::new(prog)?;
//! let mut ipv4 = [0u8; 14];
//! ipv4[12] = 0x08;
//! assert_eq!(filter.run(&ipv4), 262144);
//! assert_eq!(filter.run(&[0u8; 14]), 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Run an eBPF program (RFC 9669 assembly) on memory (`r1` points to it,
//! `r2` is its length):
//!
//! ```
//! use cranebpf::{ebpf, EbpfProgram};
//!
//! let prog = ebpf::asm::assemble("ldxb r0, [r1+1]\nadd r0, r2\nexit")?;
//! let program = EbpfProgram::new(prog)?;
//! let mut mem = [7u8, 40, 0];
//! assert_eq!(program.run(&mut mem)?, 43);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Filter a capture file, one filter per link type compiled as packets
//! come, as `cranebpf filter` does: see [`capture::CaptureFilter`].
//!
//! Turn an expression into an XDP program (what `cranebpf compile --xdp`
//! writes as an ELF object) and run it the way clang-built XDP, TC and
//! socket-filter objects run, with their maps and the kernel's helpers
//! ([`ebpf::runtime::PacketProgram`]; objects come from
//! [`ebpf::elf::load`]):
//!
//! ```
//! use cranebpf::ebpf::elf::ObjectProgram;
//! use cranebpf::ebpf::runtime::{PacketOptions, PacketProgram};
//! use cranebpf::translate::xdp::{action, translate_xdp};
//! use cranebpf::{compile_expr, LinkType};
//!
//! let classic = compile_expr("udp", LinkType::Ethernet)?;
//! let xdp = ObjectProgram {
//!     name: "xdp_filter".into(),
//!     section: "xdp".into(),
//!     program: translate_xdp(&classic)?,
//!     btf_functions: false,
//!     core: Vec::new(),
//! };
//! let program = PacketProgram::new(&xdp, &[], PacketOptions::default())?;
//! let mut frame = vec![0u8; 42];
//! frame[12..14].copy_from_slice(&[0x08, 0x00]); // IPv4
//! frame[14] = 0x45;
//! frame[23] = 17; // UDP
//! assert_eq!(program.action(&frame)?, u64::from(action::PASS));
//! frame[23] = 6; // TCP
//! assert_eq!(program.action(&frame)?, u64::from(action::DROP));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]

pub mod capture;
pub mod cbpf;
pub mod ebpf;
pub mod engine;
pub mod expr;
pub mod filter;
mod fxhash;
pub mod jit;
mod platform;
pub mod program;
pub mod rng;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod translate;

pub use engine::Engine;
pub use expr::{compile_expr, ExprError, LinkType};
pub use filter::{Dialect, Filter, FilterError, FilterOptions, FilterRunner};
pub use program::{BuildError, Context, EbpfOptions, EbpfProgram, WithPacket};
