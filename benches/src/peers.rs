//! The peers a user could pick instead of cranebpf, behind one small
//! interface each: libpcap (`bpf_filter`, `pcap_compile`) through FFI,
//! FreeBSD's classic JIT (`bpfjit` crate), and rbpf (interpreter, x86-64
//! JIT, Cranelift JIT) running our eBPF translation rewritten to direct
//! packet access.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};

use cranebpf::cbpf;
use cranebpf::ebpf::insn::{op, Insn};
use cranebpf::translate::{ctx_field, REG_CTX};

// ----- libpcap ---------------------------------------------------------

/// `struct bpf_insn`, as libpcap, the kernel and FreeBSD lay it out.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct BpfInsn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

/// `struct bpf_program`.
#[repr(C)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut BpfInsn,
}

#[link(name = "pcap")]
extern "C" {
    fn bpf_filter(pc: *const BpfInsn, p: *const u8, wirelen: c_uint, buflen: c_uint) -> c_uint;
    fn pcap_open_dead(linktype: c_int, snaplen: c_int) -> *mut c_void;
    fn pcap_close(p: *mut c_void);
    fn pcap_compile(
        p: *mut c_void,
        fp: *mut BpfProgram,
        text: *const c_char,
        optimize: c_int,
        netmask: u32,
    ) -> c_int;
    fn pcap_freecode(fp: *mut BpfProgram);
    fn pcap_geterr(p: *mut c_void) -> *const c_char;
}

/// A classic program in `struct bpf_insn` form.
pub fn bpf_insns(program: &cbpf::Program) -> Vec<BpfInsn> {
    program
        .insns
        .iter()
        .map(|i| BpfInsn {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

/// libpcap's interpreter, `bpf_filter(3PCAP)`, as tcpdump runs it on a
/// savefile.
pub fn libpcap_filter(insns: &[BpfInsn], packet: &[u8]) -> u32 {
    let len = packet.len() as c_uint;
    // SAFETY: `insns` is a program the kernel's checker accepted (so
    // libpcap's interpreter stays in it: jumps are forward and in range,
    // it ends in `ret`), and bpf_filter reads `packet` only below `len`.
    unsafe { bpf_filter(insns.as_ptr(), packet.as_ptr(), len, len) }
}

/// A `pcap_t` for compiling expressions for Ethernet.
pub struct PcapCompiler(*mut c_void);

impl PcapCompiler {
    /// `pcap_open_dead(DLT_EN10MB, 262144)`, as tcpdump -r uses.
    pub fn ethernet() -> PcapCompiler {
        // SAFETY: plain constructor; checked for null below.
        let p = unsafe { pcap_open_dead(1, 262_144) };
        assert!(!p.is_null(), "pcap_open_dead failed");
        PcapCompiler(p)
    }

    /// Compiles with libpcap's optimiser and frees the result; returns the
    /// instruction count. Panics where libpcap refuses `expr`: for the
    /// benches' own expressions.
    pub fn compile(&self, expr: &str) -> usize {
        self.try_compile(expr)
            .unwrap_or_else(|e| panic!("pcap_compile refused {expr}: {e}"))
    }

    /// [`PcapCompiler::compile`], or why libpcap refused the expression.
    pub fn try_compile(&self, expr: &str) -> Result<usize, String> {
        let text = CString::new(expr).map_err(|_| "a NUL in the expression".to_string())?;
        let mut prog = BpfProgram {
            bf_len: 0,
            bf_insns: std::ptr::null_mut(),
        };
        // SAFETY: `self.0` is a live pcap_t, `prog` a writable
        // bpf_program, `text` a C string; pcap_freecode frees only what
        // pcap_compile allocated, and only when it succeeded.
        // PCAP_NETMASK_UNKNOWN is 0xffffffff.
        unsafe {
            if pcap_compile(self.0, &mut prog, text.as_ptr(), 1, 0xffff_ffff) != 0 {
                return Err(CStr::from_ptr(pcap_geterr(self.0))
                    .to_string_lossy()
                    .into_owned());
            }
            let n = prog.bf_len as usize;
            pcap_freecode(&mut prog);
            Ok(n)
        }
    }
}

impl Drop for PcapCompiler {
    fn drop(&mut self) {
        // SAFETY: `self.0` came from pcap_open_dead and is closed once.
        unsafe { pcap_close(self.0) }
    }
}

// ----- bpfjit (FreeBSD's classic JIT) -----------------------------------

/// Compiles with FreeBSD's `bpf_jit_compile` (through the `bpfjit` crate).
pub fn bpfjit_compile(insns: &[BpfInsn]) -> bpfjit::BpfJitFilter {
    // SAFETY: `bpfjit::bpf_insn` is `#[repr(C)] { c_ushort, c_uchar,
    // c_uchar, uint32_t }`, the layout of `BpfInsn`; its fields are only
    // private, so the slice is reinterpreted rather than rebuilt.
    let theirs = unsafe {
        std::slice::from_raw_parts(insns.as_ptr() as *const bpfjit::bpf_insn, insns.len())
    };
    bpfjit::BpfJitFilter::compile(theirs).expect("bpfjit compiles the program")
}

// ----- rbpf -------------------------------------------------------------

/// The layout of the metadata buffer rbpf's programs get in r1: the
/// packet's start and end addresses (what the prologue of
/// [`rbpf_program`] reads).
pub const RBPF_MBUFF: usize = 16;

/// Our eBPF translation of a classic program, made runnable by rbpf with
/// the same verdicts: rbpf's `LD_ABS`/`LD_IND` read memory unchecked and
/// in host byte order, so each becomes a length check, a direct load and a
/// byte swap (as a modern eBPF socket filter is written), and `ld len`
/// (the context block's length field) reads the length.
///
/// Prologue: r8 = packet start, r9 = its length, from the metadata buffer
/// ([`RBPF_MBUFF`]). A shared tail returns 0 for loads out of range.
/// Negative offsets (Linux's special areas) and other ancillary loads are
/// not rewritten: the benchmark's filters do not use them.
pub fn rbpf_program(translation: &[Insn]) -> Vec<u8> {
    const DATA: u8 = 8;
    const LEN: u8 = 9;
    let prologue = [
        Insn::new(op::LDX | op::MEM | op::DW, DATA, 1, 0, 0),
        Insn::new(op::LDX | op::MEM | op::DW, LEN, 1, 8, 0),
        Insn::new(op::ALU64 | op::SUB | op::X, LEN, DATA, 0, 0),
    ];
    // What each instruction becomes; jumps to FAIL are fixed up later.
    #[derive(Clone, Copy)]
    enum Out {
        Plain(Insn),
        /// A conditional jump to the shared tail.
        ToFail(Insn),
        /// A jump of the translation, to old pc `target`.
        Jump(Insn, usize),
    }
    let mut out: Vec<Vec<Out>> = Vec::with_capacity(translation.len());
    let mut pc = 0;
    while pc < translation.len() {
        let i = translation[pc];
        let size = match i.opc & 0x18 {
            op::B => 1,
            op::H => 2,
            op::W => 4,
            _ => 8,
        };
        let swap = |v: &mut Vec<Out>| {
            if size > 1 {
                v.push(Out::Plain(Insn::new(
                    op::ALU | 0xd0 | 0x08,
                    0,
                    0,
                    0,
                    size * 8,
                )));
            }
        };
        let ld = op::LDX | op::MEM | (i.opc & 0x18);
        let mut v = Vec::new();
        match (i.class(), i.opc & 0xe0) {
            (op::LD, op::ABS) => {
                assert!(
                    i.imm >= 0 && i.imm < 0x7000,
                    "offset {} not rewritten",
                    i.imm
                );
                let end = i.imm + size;
                v.push(Out::ToFail(Insn::new(
                    op::JMP | op::JLT | op::K,
                    LEN,
                    0,
                    0,
                    end,
                )));
                v.push(Out::Plain(Insn::new(ld, 0, DATA, i.imm as i16, 0)));
                swap(&mut v);
            }
            (op::LD, op::IND) => {
                let alu = |code: u8, src: u8, imm: i32| Insn::new(code, 0, src, 0, imm);
                v.push(Out::Plain(alu(op::ALU | op::MOV | op::X, i.src, 0)));
                v.push(Out::Plain(alu(op::ALU | op::ADD | op::K, 0, i.imm)));
                v.push(Out::Plain(alu(op::ALU64 | op::ADD | op::K, 0, size)));
                v.push(Out::ToFail(Insn::new(
                    op::JMP | op::JGT | op::X,
                    0,
                    LEN,
                    0,
                    0,
                )));
                v.push(Out::Plain(alu(op::ALU64 | op::ADD | op::X, DATA, 0)));
                v.push(Out::Plain(Insn::new(ld, 0, 0, -(size as i16), 0)));
                swap(&mut v);
            }
            (op::LDX, _) if i.src == REG_CTX => {
                assert_eq!(i.off, ctx_field::LEN, "only `ld len` is rewritten");
                v.push(Out::Plain(Insn::new(
                    op::ALU64 | op::MOV | op::X,
                    i.dst,
                    LEN,
                    0,
                    0,
                )));
            }
            (op::JMP | op::JMP32, code) if code != op::CALL && code != op::EXIT => {
                let off = if i.class() == op::JMP32 && code == op::JA {
                    i.imm as i64
                } else {
                    i64::from(i.off)
                };
                v.push(Out::Jump(i, (pc as i64 + 1 + off) as usize));
            }
            _ => v.push(Out::Plain(i)),
        }
        out.push(v);
        if i.is_lddw() {
            out.push(vec![Out::Plain(translation[pc + 1])]);
            pc += 1;
        }
        pc += 1;
    }
    // New index of each old instruction.
    let mut at = Vec::with_capacity(out.len() + 1);
    let mut n = prologue.len();
    for v in &out {
        at.push(n);
        n += v.len();
    }
    let fail = n;
    let mut insns: Vec<Insn> = prologue.to_vec();
    for v in &out {
        for o in v {
            let here = insns.len() as i64;
            insns.push(match *o {
                Out::Plain(i) => i,
                Out::ToFail(mut i) => {
                    i.off = (fail as i64 - here - 1) as i16;
                    i
                }
                Out::Jump(mut i, target) => {
                    i.off = (at[target] as i64 - here - 1) as i16;
                    i
                }
            });
        }
    }
    insns.push(Insn::new(op::ALU64 | op::MOV | op::K, 0, 0, 0, 0));
    insns.push(Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0));
    insns.iter().flat_map(|i| i.to_bytes()).collect()
}

/// Points an rbpf metadata buffer at `packet`.
pub fn rbpf_mbuff(mbuff: &mut [u8; RBPF_MBUFF], packet: &[u8]) {
    let start = packet.as_ptr() as u64;
    mbuff[..8].copy_from_slice(&start.to_ne_bytes());
    mbuff[8..].copy_from_slice(&(start + packet.len() as u64).to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{workloads, Mix};

    #[test]
    fn every_peer_gives_the_reference_verdicts() {
        let mut mix = Mix::new();
        let meta = cbpf::Metadata::default();
        let ranges = mix.ranges().to_vec();
        for w in workloads() {
            let insns = bpf_insns(&w.program);
            let jit = bpfjit_compile(&insns);
            let filter = cranebpf::Filter::new(w.program.clone()).expect("filter builds");
            let prog = rbpf_program(&filter.translation().expect("Linux dialect").insns);
            let mut vm = rbpf::EbpfVmMbuff::new(Some(&prog)).expect("rbpf verifies");
            vm.jit_compile().expect("rbpf JIT");
            vm.cranelift_compile().expect("rbpf Cranelift");
            let mut mbuff = [0u8; RBPF_MBUFF];
            for &(at, len) in &ranges {
                let packet = &mut mix.buffer_mut()[at..at + len];
                let want = cbpf::interp::run(&w.program, packet, &meta);
                assert_eq!(libpcap_filter(&insns, packet), want, "{} libpcap", w.id);
                assert_eq!(jit.matched(packet), want != 0, "{} bpfjit", w.id);
                rbpf_mbuff(&mut mbuff, packet);
                let r = vm.execute_program(packet, &mbuff).expect("rbpf runs");
                assert_eq!(r as u32, want, "{} rbpf interpreter", w.id);
                let mut mbuff = [0u8; RBPF_MBUFF];
                rbpf_mbuff(&mut mbuff, packet);
                // SAFETY: the rewritten program reads only the packet
                // (each load checked against the length in mbuff), mbuff
                // and its own stack.
                let r = unsafe { vm.execute_program_jit(packet, &mut mbuff) };
                assert_eq!(r.expect("rbpf JIT runs") as u32, want, "{} rbpf JIT", w.id);
                let r = vm.execute_program_cranelift(packet, &mut mbuff);
                assert_eq!(
                    r.expect("rbpf Cranelift runs") as u32,
                    want,
                    "{} rbpf Cranelift",
                    w.id
                );
            }
        }
    }
}
