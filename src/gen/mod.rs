//! Seeded generators of programs and packets for differential testing,
//! the conformance corpus and the live comparison with the kernel. The same
//! seed gives the same cases on every machine.

pub mod acceptance;
pub mod classic;
pub mod ebpf;
pub mod packet;
