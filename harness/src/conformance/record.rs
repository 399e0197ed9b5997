//! Asking the running kernel for verdicts.
//!
//! Classic programs: `SO_ATTACH_FILTER` on the receiving end of an
//! `AF_UNIX` datagram socket pair ([`crate::kernel::classic`]); each packet
//! is sent from the other end and the receiver's byte count recorded (0 when
//! nothing arrived). Acceptance is whether `setsockopt` succeeded; a refusal
//! other than `EINVAL` (e.g. `ENOMEM` when the translation exceeds
//! `net.core.optmem_max`) is an error, not a verdict.
//!
//! eBPF programs: `BPF_PROG_LOAD` as a socket filter and one
//! `BPF_PROG_TEST_RUN` per packet ([`crate::kernel::bpf`]); needs root or
//! `CAP_BPF` + `CAP_NET_ADMIN`.

use crate::kernel::bpf::{SocketFilter, ETH_HLEN};
use crate::kernel::classic::{pin_to_cpu, Delivery, SocketPair, MAX_PACKET};
use cranebpf::cbpf::{Metadata, Program};
use cranebpf::ebpf;
use std::io;

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    // SAFETY: utsname is plain data; uname fills the struct passed.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid, writable utsname.
    if unsafe { libc::uname(&mut u) } != 0 {
        return "unknown".to_string();
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The kernel's classic-filter machinery, ready to record.
pub struct ClassicRecorder {
    pair: SocketPair,
    /// The metadata a filter sees here: [`Metadata::default`] with the CPU
    /// this thread is pinned to.
    pub metadata: Metadata,
}

/// What the kernel said about one classic program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClassicVerdict {
    /// `setsockopt` failed with `EINVAL`.
    Rejected,
    /// Accepted; bytes delivered per packet (0 = dropped).
    Delivered(Vec<usize>),
}

impl ClassicRecorder {
    /// Pins this thread to CPU 0 (or the first allowed one, so that `#cpu`
    /// is predictable) and opens a socket pair.
    pub fn new() -> io::Result<ClassicRecorder> {
        let cpu = pin_to_cpu(0)?;
        Ok(ClassicRecorder {
            pair: SocketPair::new()?,
            metadata: Metadata {
                cpu: cpu as u32,
                ..Metadata::default()
            },
        })
    }

    /// Attaches `prog` and sends every packet (each at most
    /// [`MAX_PACKET`] bytes).
    pub fn record(&mut self, prog: &Program, packets: &[&[u8]]) -> io::Result<ClassicVerdict> {
        if let Err(e) = self.pair.attach(prog) {
            if e.errno == libc::EINVAL {
                return Ok(ClassicVerdict::Rejected);
            }
            return Err(io::Error::from_raw_os_error(e.errno));
        }
        let mut out = Vec::with_capacity(packets.len());
        for p in packets {
            if p.len() > MAX_PACKET {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("packet of {} bytes: over {MAX_PACKET}", p.len()),
                ));
            }
            out.push(match self.pair.deliver(p)? {
                Delivery::Dropped => 0,
                Delivery::Delivered(n) => n,
            });
        }
        Ok(ClassicVerdict::Delivered(out))
    }

    /// Whether the kernel attaches `prog` (`EINVAL` = no; other errors are
    /// errors).
    pub fn accepts(&mut self, prog: &Program) -> io::Result<bool> {
        Ok(self.record(prog, &[])? != ClassicVerdict::Rejected)
    }
}

/// Loads `prog` as a socket filter and test-runs it on every packet (the
/// packet is what `LD_ABS` sees: 14 zero bytes go in front as the Ethernet
/// header the test run strips). Returns the `retval`s.
pub fn record_ebpf(prog: &ebpf::Program, packets: &[&[u8]]) -> Result<Vec<u32>, String> {
    let filter = SocketFilter::load(&prog.insns).map_err(|e| e.to_string())?;
    packets
        .iter()
        .map(|p| {
            let mut data = vec![0u8; ETH_HLEN];
            data.extend_from_slice(p);
            filter
                .test_run(&data)
                .map_err(|e| format!("BPF_PROG_TEST_RUN: {e}"))
        })
        .collect()
}

/// Whether eBPF recording works here; the error says why not (typically:
/// not root).
pub fn ebpf_available() -> Result<(), String> {
    crate::kernel::bpf::available()
        .map_err(|e| format!("eBPF recording needs root (or CAP_BPF and CAP_NET_ADMIN): {e}"))
}
