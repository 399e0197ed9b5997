//! The JIT: eBPF → Cranelift IR (`lower`) → native code (`module`), with
//! packet bounds-check elimination (`bounds`) and the run-time contract
//! with generated code ([`runtime`]).

mod bounds;
#[cfg(all(unix, target_arch = "x86_64"))]
mod code_pages;
mod copy_loop;
mod facts;
mod listing;
mod lower;
mod module;
pub mod runtime;
#[cfg(all(unix, target_arch = "x86_64"))]
mod x64;

use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, OnceLock, Weak};

pub use module::compile_bytes;
use runtime::{lean, status, RunCtx, FRAME_SIZE, LEAF_HAND_OVER};

use crate::ebpf::insn::{op, Insn};
use crate::ebpf::{Environment, HelperMemory, HelperOutcome, Program};

/// A `jeq`, `jne` or `jset` with a constant on a value loaded big-endian
/// from the packet, done on the raw (unswapped) loaded bytes: what both
/// lowerings emit instead of byte-swapping the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RawCompare {
    /// The jump is never taken.
    Never,
    /// The jump is always taken.
    Always,
    /// Taken when the raw value equals this.
    Equal(u32),
    /// Taken when the raw value differs from this.
    NotEqual(u32),
    /// Taken when the raw value has any of these bits.
    AnyBit(u32),
}

/// `insn` (a conditional jump of its register with a constant) as a
/// compare of the raw bytes of a `size`-byte (2 or 4) big-endian load, or
/// `None` when it is not `jeq`, `jne` or `jset` with a constant.
pub(crate) fn raw_compare(insn: &Insn, size: u8) -> Option<RawCompare> {
    let code = insn.op();
    if insn.is_src_reg() || !matches!(code, op::JEQ | op::JNE | op::JSET) {
        return None;
    }
    let k = if insn.class() == op::JMP {
        i64::from(insn.imm) as u64
    } else {
        u64::from(insn.imm as u32)
    };
    // The loaded value has the load's width; the constant may not.
    let max: u64 = if size == 2 { 0xffff } else { 0xffff_ffff };
    let swap = |v: u64| {
        if size == 2 {
            u32::from((v as u16).swap_bytes())
        } else {
            (v as u32).swap_bytes()
        }
    };
    Some(match code {
        // No bit of the load can match.
        op::JSET if k & max == 0 => RawCompare::Never,
        op::JSET => RawCompare::AnyBit(swap(k & max)),
        // The load never equals a constant wider than itself.
        op::JNE if k > max => RawCompare::Always,
        _ if k > max => RawCompare::Never,
        op::JEQ => RawCompare::Equal(swap(k)),
        _ => RawCompare::NotEqual(swap(k)),
    })
}

/// How to compile.
#[derive(Clone, Debug)]
pub struct JitOptions {
    /// Let one packet-length check cover the LD_ABS loads it dominates.
    pub eliminate_bounds_checks: bool,
    /// Run Cranelift's IR verifier on every function (on in tests).
    pub verify_ir: bool,
    /// Run Cranelift's optimiser (`opt_level = speed`: its e-graph's value
    /// numbering, constant folding and loop-invariant motion) rather than
    /// `none`. Worth it for eBPF programs with loops and arithmetic;
    /// [`crate::Filter`] turns it off, since translated classic filters
    /// are straight-line loads and compares where it measured no faster
    /// (2026-12-04, every `peers` filter within noise) and compiling
    /// without it takes 10–30 % less time.
    pub optimize: bool,
    /// Count executed instructions against a budget given at run time.
    pub budget: bool,
    /// Keep the CLIF and machine-code listings (for `disasm`).
    pub keep_listings: bool,
    /// Compile leaf code with no calls: helper calls, packet loads at
    /// negative offsets and memory accesses not proven in bounds end the
    /// run with a hand-over instead, and the caller finishes that input on
    /// the interpreter. Only for programs without side effects (translated
    /// classic filters), where running the input again from the start
    /// gives the same result, and whose results are 32-bit. Keeps the hot
    /// path free of the register saves a call would force, and of any
    /// context: leaf code is entered as `(packet, len, r1)`.
    pub leaf: bool,
    /// Leaf code: the size of the memory r1 points to at entry (a
    /// translated filter's context block); accesses proven inside it
    /// through a register still holding the entry r1 are plain loads.
    pub leaf_mem: u32,
    /// Leaf code: compile the entry as a loop over many packets, entered
    /// once per batch ([`crate::Filter::run_batch`] uses it), rather than
    /// once per packet.
    pub batch: bool,
    /// Leaf code (per packet or batch) and code with a lean entry, on
    /// x86-64 Unix hosts: write the machine code out directly, instruction
    /// by instruction as the kernel's JIT does, in microseconds, rather
    /// than through Cranelift. Programs using what that writer does not
    /// cover (signed division, sign-extending moves and loads, atomics,
    /// backward jumps; with a lean entry, memory accesses other than
    /// through r10 in the frame or through the entry r1 at a non-negative
    /// offset) still go through Cranelift; so does everything when this is
    /// off.
    pub direct: bool,
    /// When false, compiling fails as if the host had no JIT (to exercise
    /// and test the interpreter fallback).
    pub enabled: bool,
    /// Share the code of identical programs compiled with the same options
    /// while one of them is alive (keyed by the instruction bytes), so that
    /// building the same filter again costs a lookup. Off to measure the
    /// compiler itself.
    pub cache: bool,
    /// Bytes of stack each frame has below r10 (512 for eBPF; a translated
    /// classic filter needs only 64 for its scratch words). The stack given
    /// at run time must hold at least one frame.
    pub frame_size: u32,
    /// `Some(n)`: compile a lean entry, for programs that call nothing and
    /// make no legacy packet load ([`lean_entry_for`]): entered as
    /// `(mem, len)`, with the eBPF stack a slot in the code's own native
    /// frame whose top `n` bytes it zeroes, and returning r0 or the error
    /// in two registers ([`runtime::lean`]) instead of through a context,
    /// so that a run sets up nothing ([`crate::EbpfProgram`] uses it: the
    /// call, not the program, was most of a short program's run).
    pub lean_entry: Option<u32>,
}

/// Whether a program can be compiled with a lean entry
/// ([`JitOptions::lean_entry`]): it calls nothing (no helper, no local
/// function) and makes no legacy packet load, the only things that need a
/// context beyond the input memory and the stack.
pub(crate) fn lean_entry_fits(insns: &[Insn]) -> bool {
    // Exactly the instructions that leave r1-r5 unreadable.
    !insns.iter().any(|i| i.register_effects().2)
}

/// The [`JitOptions::lean_entry`] for `program` run without a budget:
/// the bytes below r10 it can read, to be zeroed at entry, when it calls
/// nothing and makes no legacy packet load.
pub fn lean_entry_for(program: &Program) -> Option<u32> {
    // The two words come back in two registers only where the host's C
    // convention returns a 16-byte struct so (not on Windows: by pointer).
    let two_registers = cfg!(all(
        unix,
        any(target_arch = "x86_64", target_arch = "aarch64")
    ));
    if !two_registers || !lean_entry_fits(&program.insns) {
        return None;
    }
    let frame = FRAME_SIZE as usize;
    let depth = crate::ebpf::stack_depth::stack_depth(program).unwrap_or(frame);
    Some(depth.min(frame) as u32)
}

impl Default for JitOptions {
    fn default() -> Self {
        JitOptions {
            eliminate_bounds_checks: true,
            direct: true,
            enabled: true,
            cache: true,
            leaf: false,
            leaf_mem: 0,
            batch: false,
            verify_ir: cfg!(debug_assertions),
            optimize: true,
            budget: false,
            keep_listings: false,
            frame_size: FRAME_SIZE as u32,
            lean_entry: None,
        }
    }
}

/// Why a program could not be compiled (the caller falls back to the
/// interpreter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JitError {
    /// The program uses something this JIT does not compile.
    Unsupported {
        /// Instruction index.
        pc: usize,
        /// What it is.
        what: String,
    },
    /// No code generator for the target, or it could not be configured.
    Target(String),
    /// Cranelift refused the function.
    Codegen(String),
}

impl fmt::Display for JitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JitError::Unsupported { pc, what } => {
                write!(f, "instruction {pc}: the JIT does not support {what}")
            }
            JitError::Target(e) => write!(f, "no JIT for this target: {e}"),
            JitError::Codegen(e) => write!(f, "code generation failed: {e}"),
        }
    }
}

impl std::error::Error for JitError {}

/// The entry of leaf code and what it needs, read once so a stream of
/// runs goes straight to the native function; borrows the code.
#[derive(Clone, Copy)]
pub(crate) struct LeafEntry<'a> {
    entry: EntryFn,
    mem_needed: usize,
    code: std::marker::PhantomData<&'a JitCode>,
}

impl LeafEntry<'_> {
    /// Runs the code on `packet` with `mem` at r1: the verdict, or `None`
    /// when the code hands the packet over to the interpreter. `mem` holds
    /// every access the code makes through r1 (a filter that reads no
    /// context block may pass an empty slice).
    #[inline]
    pub(crate) fn run(self, packet: &[u8], mem: &mut [u8]) -> Option<u32> {
        assert!(
            mem.len() >= self.mem_needed,
            "the memory at r1 is smaller than the accesses proven in it"
        );
        // SAFETY: `entry` is leaf code alive for this value's lifetime
        // (`JitCode::leaf_entry`). Leaf code reads `packet` only below the
        // length passed with it, touches `mem` only at accesses proven to
        // end within `mem_needed` bytes (checked just above), uses its own
        // frame for the stack, and calls nothing.
        let r = unsafe {
            (self.entry)(
                packet.as_ptr() as u64,
                packet.len() as u64,
                mem.as_mut_ptr(),
            )
        };
        leaf_verdict(r)
    }
}

/// What leaf code returned: the verdict, or `None` for a hand-over.
#[inline]
fn leaf_verdict(r: u64) -> Option<u32> {
    (r != LEAF_HAND_OVER).then_some(r as u32)
}

/// The entry of leaf code that reads no memory at r1, which a stream of
/// runs enters with the packet alone: nothing to check per run.
#[derive(Clone, Copy)]
pub(crate) struct BareEntry<'a> {
    entry: EntryFn,
    code: std::marker::PhantomData<&'a JitCode>,
}

impl BareEntry<'_> {
    /// Runs the code on `packet`: the verdict, or `None` when the code
    /// hands the packet over to the interpreter.
    #[inline]
    pub(crate) fn run(self, packet: &[u8]) -> Option<u32> {
        // SAFETY: `entry` is leaf code alive for this value's lifetime
        // (`JitCode::bare_entry`) that proved no access in the memory at
        // r1 (`leaf_mem_needed` 0, checked when the code was made), so an
        // empty slice's address serves; it reads `packet` only below the
        // length passed with it, uses its own frame for the stack, and
        // calls nothing.
        let r =
            unsafe { (self.entry)(packet.as_ptr() as u64, packet.len() as u64, [].as_mut_ptr()) };
        leaf_verdict(r)
    }
}

/// A [`BareEntry`] without its borrow, for a value that owns the code
/// beside it: a `Filter` keeps its entry next to the program holding the
/// code, so that a run reads one field instead of walking to the code.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DetachedBareEntry(EntryFn);

impl BareEntry<'_> {
    /// The entry without the borrow.
    pub(crate) fn detach(self) -> DetachedBareEntry {
        DetachedBareEntry(self.entry)
    }
}

impl DetachedBareEntry {
    /// [`BareEntry::run`].
    ///
    /// # Safety
    /// The code this entry was detached from must still be alive.
    #[inline]
    pub(crate) unsafe fn run(self, packet: &[u8]) -> Option<u32> {
        BareEntry {
            entry: self.0,
            code: std::marker::PhantomData,
        }
        .run(packet)
    }
}

/// The entry of code with a lean entry, without a borrow of the code: for
/// a value that owns the code beside it (an `EbpfProgram` keeps it next to
/// its core, so that a run reads one field instead of walking to the code).
#[derive(Clone, Copy, Debug)]
pub(crate) struct DetachedLeanEntry(LeanFn);

impl DetachedLeanEntry {
    /// Runs the code with r1 = `mem`, r2 its length: r0, or how the run
    /// failed. The stack is the code's own.
    ///
    /// # Safety
    /// The code this entry was taken from must still be alive.
    #[inline]
    pub(crate) unsafe fn run(self, mem: &mut [u8]) -> Result<u64, RawOutcome> {
        // SAFETY: `self.0` has the `LeanFn` signature, `(mem, len)`
        // returning two words in registers, and is alive (the caller's
        // promise). Its only memory is `mem` (accesses proven inside or
        // checked against the pointer and length passed here, a borrow
        // that outlives the call) and its own native frame (the eBPF
        // stack); it calls nothing.
        let ret = unsafe { (self.0)(mem.as_mut_ptr() as u64, mem.len() as u64) };
        if ret.error != 0 {
            return Err(lean_failed(ret));
        }
        Ok(ret.value)
    }
}

/// The entry of batch code ([`JitOptions::batch`]); borrows the code.
#[derive(Clone, Copy)]
pub(crate) struct BatchEntry<'a> {
    entry: BatchFn,
    mem_needed: usize,
    code: std::marker::PhantomData<&'a JitCode>,
}

/// Packets per call of batch code: their `(address, length)` pairs are
/// built on the host stack.
const BATCH: usize = 256;

impl BatchEntry<'_> {
    /// Runs the code on `packets` in order with `mem` at r1, putting each
    /// verdict in `verdicts`, until one is handed over to the interpreter:
    /// returns how many ran (`packets.len()`, or the index of the packet
    /// handed over, whose verdict is left as it was).
    ///
    /// # Panics
    /// If `verdicts` is shorter than `packets`, or `mem` than the accesses
    /// proven in it.
    pub(crate) fn run<P: AsRef<[u8]>>(
        self,
        packets: &[P],
        verdicts: &mut [u32],
        mem: &mut [u8],
    ) -> usize {
        assert!(verdicts.len() >= packets.len(), "too few verdict slots");
        assert!(
            mem.len() >= self.mem_needed,
            "the memory at r1 is smaller than the accesses proven in it"
        );
        let mut descs = [[0u64; 2]; BATCH];
        let mut done = 0;
        for chunk in packets.chunks(BATCH) {
            for (d, p) in descs.iter_mut().zip(chunk) {
                let p = p.as_ref();
                *d = [p.as_ptr() as u64, p.len() as u64];
            }
            let out = &mut verdicts[done..done + chunk.len()];
            // SAFETY: `entry` is batch code alive for this value's lifetime
            // (`JitCode::batch_entry`). It reads `chunk.len()` descriptors
            // from `descs`, each the address and length of a packet
            // borrowed for this call, and reads each packet only below its
            // length; it writes one u32 per packet it finishes into `out`
            // (as long as the chunk), touches `mem` only at accesses proven
            // to end within `mem_needed` bytes (checked above), uses its
            // own frame for the stack and calls nothing.
            let ran = unsafe {
                (self.entry)(
                    descs.as_ptr(),
                    chunk.len() as u64,
                    out.as_mut_ptr(),
                    mem.as_mut_ptr(),
                )
            };
            let ran = (ran as usize).min(chunk.len());
            done += ran;
            if ran < chunk.len() {
                break;
            }
        }
        done
    }
}

/// Signature of a lean entry: `(mem, len) -> (value, error)`.
type LeanFn = unsafe extern "C" fn(u64, u64) -> lean::Return;

/// Signature of batch code's entry: `(descs, n, verdicts, r1) -> done`.
type BatchFn = unsafe extern "C" fn(*const [u64; 2], u64, *mut u32, *mut u8) -> u64;

/// How a run ended, before mapping to an engine's error type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawOutcome {
    pub r0: u64,
    pub status: u32,
    pub pc: u32,
    pub addr: u64,
    pub info: u64,
}

/// Signature of the entry function: `(pkt, len, ctx)` for ordinary code,
/// `(pkt, len, r1)` for leaf code (see `lower`).
type EntryFn = unsafe extern "C" fn(u64, u64, *mut u8) -> u64;

/// A program compiled to native code for the host.
pub struct JitCode {
    code: Arc<module::HostCode>,
    /// `code.entry`, which every entry reads from here: a run of short
    /// code is spared the load through the `Arc` (an address, so the type
    /// stays `Send + Sync`).
    entry: usize,
    frame_size: usize,
    /// Leaf code entered per run (`run_leaf`).
    leaf: bool,
    /// Batch code (`batch_entry`).
    batch: bool,
    /// Code with a lean entry (`run_lean`).
    lean: bool,
    /// Leaf code that reads no memory at r1 (`bare_entry`).
    bare: bool,
}

impl fmt::Debug for JitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JitCode")
            .field("entry", &self.code.entry)
            .finish()
    }
}

impl JitCode {
    /// Compiles a verified program for the host.
    pub fn compile(program: &Program, options: &JitOptions) -> Result<JitCode, JitError> {
        JitCode::compile_with(program, options, true)
    }

    /// Compiles only if the code can be written directly
    /// ([`JitOptions::direct`]), which takes microseconds even for long
    /// programs; otherwise `Unsupported` (a tiered start then leaves
    /// Cranelift to its background thread).
    pub(crate) fn compile_directly(
        program: &Program,
        options: &JitOptions,
    ) -> Result<JitCode, JitError> {
        JitCode::compile_with(program, options, false)
    }

    fn compile_with(
        program: &Program,
        options: &JitOptions,
        cranelift: bool,
    ) -> Result<JitCode, JitError> {
        if !options.enabled {
            return Err(JitError::Target("the JIT is disabled".into()));
        }
        if program.is_empty() {
            return Err(JitError::Unsupported {
                pc: 0,
                what: "an empty program".into(),
            });
        }
        let code = if options.cache && !options.keep_listings {
            cached_compile(program, options, cranelift)?
        } else {
            Arc::new(module::compile_host(&program.insns, options, cranelift)?)
        };
        let leaf = options.leaf && !options.batch;
        Ok(JitCode {
            entry: code.entry as usize,
            bare: leaf && code.lowered.leaf_mem_needed == 0,
            code,
            frame_size: options.frame_size as usize,
            leaf,
            batch: options.batch,
            lean: options.lean_entry.is_some() && !options.leaf,
        })
    }

    /// The Cranelift IR of each function (empty unless `keep_listings`).
    pub fn clif(&self) -> &[String] {
        &self.code.clif
    }

    /// Cranelift's listing of the machine code of each function (empty
    /// unless `keep_listings`).
    pub fn native_listing(&self) -> &[String] {
        &self.code.native
    }

    /// Whether the machine code was written directly from the instructions
    /// ([`JitOptions::direct`]) rather than compiled by Cranelift.
    pub fn is_written_directly(&self) -> bool {
        self.code.direct
    }

    /// Whether this is leaf code ([`JitOptions::leaf`]), to be run with
    /// `JitCode::run_leaf` (crate-internal).
    pub fn is_leaf(&self) -> bool {
        self.leaf
    }

    /// Whether this code has a lean entry ([`JitOptions::lean_entry`]), to
    /// be run with `JitCode::run_lean` (crate-internal).
    pub fn is_lean(&self) -> bool {
        self.lean
    }

    /// Runs code with a lean entry with r1 = `mem`, r2 its length: r0, or
    /// how the run failed. The stack is the code's own.
    ///
    /// # Panics
    /// If this code has no lean entry.
    #[inline]
    pub(crate) fn run_lean(&self, mem: &mut [u8]) -> Result<u64, RawOutcome> {
        let entry = self
            .lean_entry()
            .expect("run_lean on code without a lean entry");
        // SAFETY: the entry of this code, alive for the call.
        unsafe { entry.run(mem) }
    }

    /// The lean entry, when the code has one, without a borrow of the
    /// code (see [`DetachedLeanEntry`]).
    pub(crate) fn lean_entry(&self) -> Option<DetachedLeanEntry> {
        // SAFETY: `entry` is the finalized entry function of this code,
        // compiled with a lean entry: the `LeanFn` signature.
        self.lean
            .then(|| DetachedLeanEntry(unsafe { std::mem::transmute::<usize, LeanFn>(self.entry) }))
    }

    /// Runs leaf code on `packet` with r1 = `mem`: r0's low 32 bits, or
    /// `None` when the code handed the input over (the caller then runs it
    /// on the interpreter). No context is set up and nothing is stored:
    /// this is the filters' hot path.
    ///
    /// # Panics
    /// If this is not leaf code, or `mem` is shorter than the accesses the
    /// code makes through r1 (a filter that reads no context block may
    /// pass an empty slice).
    #[inline]
    pub(crate) fn run_leaf(&self, packet: &[u8], mem: &mut [u8]) -> Option<u32> {
        self.leaf_entry().run(packet, mem)
    }

    /// The entry of leaf code, to keep for a stream of runs.
    ///
    /// # Panics
    /// If this is not leaf code.
    #[inline]
    pub(crate) fn leaf_entry(&self) -> LeafEntry<'_> {
        assert!(self.leaf, "run_leaf on code that is not leaf code");
        LeafEntry {
            // SAFETY: `entry` is the finalized entry function of this
            // code, compiled as leaf code with the `EntryFn` signature;
            // the returned value borrows `self`, so the code outlives it.
            entry: unsafe { std::mem::transmute::<usize, EntryFn>(self.entry) },
            mem_needed: self.code.lowered.leaf_mem_needed as usize,
            code: std::marker::PhantomData,
        }
    }

    /// The entry of leaf code that reads no memory at r1, for runs given
    /// the packet alone; `None` for other code.
    #[inline]
    pub(crate) fn bare_entry(&self) -> Option<BareEntry<'_>> {
        if !self.bare {
            return None;
        }
        Some(BareEntry {
            // SAFETY: as in `leaf_entry`: this is leaf code, whose entry
            // has the `EntryFn` signature; the value borrows `self`.
            entry: unsafe { std::mem::transmute::<usize, EntryFn>(self.entry) },
            code: std::marker::PhantomData,
        })
    }

    /// The entry of batch code.
    ///
    /// # Panics
    /// If this is not batch code.
    pub(crate) fn batch_entry(&self) -> BatchEntry<'_> {
        assert!(self.batch, "batch_entry on code that is not batch code");
        BatchEntry {
            // SAFETY: `entry` is the finalized entry function of this
            // code, compiled as batch code with the `BatchFn` signature;
            // the returned value borrows `self`, so the code outlives it.
            entry: unsafe { std::mem::transmute::<usize, BatchFn>(self.entry) },
            mem_needed: self.code.lowered.leaf_mem_needed as usize,
            code: std::marker::PhantomData,
        }
    }

    /// Runs the code.
    ///
    /// `mem` is the region r1 points to (r2 = its length), `packet` what the
    /// legacy packet loads read, `stack` the eBPF stack (its top is r10 of
    /// the entry function; its size bounds the local-call depth in
    /// `FRAME_SIZE` steps). Every address the code may touch lies in these
    /// three borrowed slices: that is what makes entering it sound.
    pub(crate) fn run(
        &self,
        mem: &mut [u8],
        packet: Option<&[u8]>,
        stack: &mut [u8],
        budget: u64,
        env: &dyn Environment,
    ) -> RawOutcome {
        let stack = StackMemory {
            lo: stack.as_mut_ptr(),
            len: stack.len(),
            borrow: std::marker::PhantomData,
        };
        self.enter(mem, packet, stack, budget, env)
    }

    /// [`JitCode::run`] on a stack only partly initialised: the caller
    /// has zeroed, at the top of each frame, every byte the program can
    /// read ([`crate::ebpf::stack_depth`]), so a run needs no zeroed
    /// frame (zeroing 512 bytes was a third of running a short program).
    /// Generated code touches no byte outside `stack`, as with
    /// [`JitCode::run`], and reads none it has not written or the caller
    /// zeroed.
    pub(crate) fn run_partly_zeroed(
        &self,
        mem: &mut [u8],
        packet: Option<&[u8]>,
        stack: &mut [std::mem::MaybeUninit<u8>],
        budget: u64,
        env: &dyn Environment,
    ) -> RawOutcome {
        let stack = StackMemory {
            lo: stack.as_mut_ptr().cast(),
            len: stack.len(),
            borrow: std::marker::PhantomData,
        };
        self.enter(mem, packet, stack, budget, env)
    }

    /// Enters the code with `stack` as the eBPF stack.
    fn enter(
        &self,
        mem: &mut [u8],
        packet: Option<&[u8]>,
        stack: StackMemory<'_>,
        budget: u64,
        env: &dyn Environment,
    ) -> RawOutcome {
        // Generated code takes r10 - frame_size as proven stack memory.
        assert!(
            stack.len >= self.frame_size,
            "the stack must hold one frame"
        );
        let mem_lo = mem.as_mut_ptr() as u64;
        let mem_len = mem.len() as u64;
        let (pkt, pkt_len) = match packet {
            Some(p) => (p.as_ptr() as u64, p.len() as u64),
            None => (mem_lo, mem_len),
        };
        let stack_lo = stack.lo as u64;
        let stack_hi = stack_lo + stack.len as u64;
        let env_ref: &&dyn Environment = &env;
        let mut ctx = RunCtx {
            mem_lo,
            mem_len,
            stack_lo,
            stack_hi,
            budget_left: budget,
            status: status::OK,
            err_pc: 0,
            err_addr: 0,
            err_info: 0,
            env: env_ref as *const &dyn Environment as usize,
            helper_trampoline: helper_trampoline as *const () as usize,
            negative_load: negative_load_trampoline as *const () as usize,
            packet: pkt,
            packet_len: pkt_len,
        };
        assert!(
            !self.leaf && !self.batch && !self.lean,
            "leaf, batch and lean code have their own entries"
        );
        // SAFETY: `entry` is the finalized entry function of this module,
        // compiled (not as leaf code) with exactly the `EntryFn` signature
        // and the host's default calling convention. Generated code reads
        // and writes only `ctx`, `mem`, the stack (every access is proven
        // inside or checked against the bounds stored in `ctx`; the stack
        // is a slice's memory, borrowed for this call by `StackMemory`)
        // and reads `packet` within `pkt_len`; all of them outlive the
        // call.
        let r0 = unsafe {
            let f: EntryFn = std::mem::transmute::<usize, EntryFn>(self.entry);
            f(pkt, pkt_len, (&mut ctx as *mut RunCtx).cast())
        };
        // The error fields are read only after an error, out of line:
        // read right after the call as wide loads of narrower stores made
        // before it, they stalled store forwarding on every run.
        if ctx.status != status::OK {
            return failed(r0, &ctx);
        }
        RawOutcome {
            r0,
            status: status::OK,
            pc: 0,
            addr: 0,
            info: 0,
        }
    }
}

/// The outcome of a run that ended in an error ([`JitCode::run`]).
#[cold]
#[inline(never)]
fn failed(r0: u64, ctx: &RunCtx) -> RawOutcome {
    RawOutcome {
        r0,
        status: ctx.status,
        pc: ctx.err_pc,
        addr: ctx.err_addr,
        info: ctx.err_info,
    }
}

/// The outcome of code with a lean entry that ended in an error.
#[cold]
#[inline(never)]
fn lean_failed(ret: lean::Return) -> RawOutcome {
    let (status, pc, info) = lean::unpack(ret.error);
    RawOutcome {
        r0: 0,
        status,
        pc,
        addr: ret.value,
        info,
    }
}

/// The eBPF stack of one run: memory of a slice (of bytes, or of bytes
/// not all initialised) borrowed for the run, made only from the slice by
/// [`JitCode::run`] and [`JitCode::run_partly_zeroed`].
struct StackMemory<'a> {
    lo: *mut u8,
    len: usize,
    borrow: std::marker::PhantomData<&'a mut [u8]>,
}

/// What makes two compilations give the same code.
#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    insns: Vec<u64>,
    eliminate_bounds_checks: bool,
    direct: bool,
    verify_ir: bool,
    optimize: bool,
    budget: bool,
    leaf: bool,
    leaf_mem: u32,
    batch: bool,
    frame_size: u32,
    lean_entry: Option<u32>,
}

/// Code of live programs, by what compiled it, and the size at which
/// entries of dropped programs are next swept out.
type CodeCache = Mutex<(HashMap<CacheKey, Weak<module::HostCode>>, usize)>;

/// The process's code cache.
fn code_cache() -> &'static CodeCache {
    static CACHE: OnceLock<CodeCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new((HashMap::new(), FIRST_SWEEP)))
}

/// The fewest entries the code cache holds before it is swept.
const FIRST_SWEEP: usize = 64;

/// The code for `program`, shared with a live program compiled alike, or
/// compiled now (outside the lock: two threads may compile the same
/// program at once, and the later one's code is the one kept).
fn cached_compile(
    program: &Program,
    options: &JitOptions,
    cranelift: bool,
) -> Result<Arc<module::HostCode>, JitError> {
    let cache = code_cache();
    let key = CacheKey {
        insns: program.insns.iter().map(|i| i.to_u64()).collect(),
        eliminate_bounds_checks: options.eliminate_bounds_checks,
        direct: options.direct,
        verify_ir: options.verify_ir,
        optimize: options.optimize,
        budget: options.budget,
        leaf: options.leaf,
        leaf_mem: options.leaf_mem,
        batch: options.batch,
        frame_size: options.frame_size,
        lean_entry: options.lean_entry,
    };
    // A panic elsewhere while holding the lock leaves a usable map.
    let lock = || cache.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(code) = lock().0.get(&key).and_then(Weak::upgrade) {
        return Ok(code);
    }
    let code = Arc::new(module::compile_host(&program.insns, options, cranelift)?);
    let mut guard = lock();
    let (map, sweep_at) = &mut *guard;
    // Sweep dropped programs' entries when the map has doubled since the
    // last sweep: amortised constant time per compile, where sweeping on
    // every insert made building n live filters quadratic.
    if map.len() >= *sweep_at {
        map.retain(|_, w| w.strong_count() > 0);
        *sweep_at = (2 * map.len()).max(FIRST_SWEEP);
    }
    map.insert(key, Arc::downgrade(&code));
    Ok(code)
}

/// Recovers the environment from a context. Only called by trampolines.
fn env_of(ctx: &RunCtx) -> &dyn Environment {
    // SAFETY: `ctx.env` was set in `JitCode::run` to the address of a
    // `&dyn Environment` that lives on that function's stack for the whole
    // call, and trampolines run only during that call.
    unsafe { *(ctx.env as *const &dyn Environment) }
}

/// Called by generated code for `call N` and `callx`.
extern "C" fn helper_trampoline(
    ctx: *mut RunCtx,
    id: u64,
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
) -> u64 {
    // SAFETY: generated code passes the `RunCtx` it received from
    // `JitCode::run`, which is live and not otherwise borrowed during the
    // call.
    let ctx = unsafe { &mut *ctx };
    // SAFETY: `mem_lo`/`mem_len` and `stack_lo`/`stack_hi` were set in
    // `JitCode::run` from the `&mut` slices it lends to generated code for
    // the call; generated code is suspended while the helper runs and
    // holds no reference into them, so these are their only live views.
    // `packet` (when distinct from `mem`) is a shared slice that outlives
    // the call and is never written.
    let (mem, stack, packet) = unsafe {
        let mem = std::slice::from_raw_parts_mut(ctx.mem_lo as *mut u8, ctx.mem_len as usize);
        let stack = std::slice::from_raw_parts_mut(
            ctx.stack_lo as *mut u8,
            (ctx.stack_hi - ctx.stack_lo) as usize,
        );
        let packet = (ctx.packet != ctx.mem_lo)
            .then(|| std::slice::from_raw_parts(ctx.packet as *const u8, ctx.packet_len as usize));
        (mem, stack, packet)
    };
    let mut memory = HelperMemory::new(mem, stack, packet);
    let env = env_of(ctx);
    // A panicking helper must not unwind through generated frames.
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        env.call_helper_in(id, [a1, a2, a3, a4, a5], &mut memory)
    }));
    match outcome {
        Ok(HelperOutcome::Return(v)) => v,
        Ok(HelperOutcome::Unwind) => {
            ctx.status = status::ABORT_ZERO;
            0
        }
        Ok(HelperOutcome::OutOfBounds { addr, size, write }) => {
            ctx.status = status::OUT_OF_BOUNDS;
            ctx.err_addr = addr;
            ctx.err_info = (size.min(0xff) as u64) | if write { 0x100 } else { 0 };
            0
        }
        Ok(HelperOutcome::Unknown) => {
            ctx.status = status::UNKNOWN_HELPER;
            ctx.err_addr = id;
            0
        }
        Err(_) => {
            ctx.status = status::HELPER_PANICKED;
            ctx.err_addr = id;
            0
        }
    }
}

/// Called by generated code for packet loads at negative offsets.
extern "C" fn negative_load_trampoline(
    ctx: *mut RunCtx,
    pkt: u64,
    len: u64,
    offset: i64,
    size: u64,
) -> i64 {
    // SAFETY: as in `helper_trampoline`.
    let ctx = unsafe { &*ctx };
    // SAFETY: `pkt` and `len` are the packet slice's pointer and length
    // that `JitCode::run` passed to the entry function, unchanged.
    let packet = unsafe { std::slice::from_raw_parts(pkt as *const u8, len as usize) };
    let env = env_of(ctx);
    match catch_unwind(AssertUnwindSafe(|| {
        env.negative_load(packet, offset, size as usize)
    })) {
        Ok(Some(v)) => i64::from(v),
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ebpf::insn::{op, Insn};

    struct NoEnv;
    impl Environment for NoEnv {
        fn call_helper(&self, id: u64, args: [u64; 5], _: &[u8]) -> HelperOutcome {
            match id {
                5 if args[0] == 0 => HelperOutcome::Unwind,
                5 => HelperOutcome::Return(args[0]),
                _ => HelperOutcome::Unknown,
            }
        }
        fn negative_load(&self, _: &[u8], _: i64, _: usize) -> Option<u32> {
            None
        }
    }

    fn run(insns: Vec<Insn>, mem: &mut [u8]) -> RawOutcome {
        let opts = JitOptions {
            verify_ir: true,
            ..JitOptions::default()
        };
        let code = JitCode::compile(&Program::new(insns), &opts).expect("compiles");
        let mut stack = [0u8; 512 * 8];
        code.run(mem, None, &mut stack, 0, &NoEnv)
    }

    const EXIT: Insn = Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0);

    #[test]
    fn the_code_cache_forgets_dropped_programs() {
        // Each program distinct, each dropped at once: the cache keeps
        // entries only until the next sweep, so it stays far below the
        // number compiled (other tests may hold a few live programs).
        let options = JitOptions::default();
        for imm in 0..3000 {
            let prog = Program::new(vec![Insn::new(op::ALU64 | op::MOV, 0, 0, 0, imm), EXIT]);
            let code = JitCode::compile(&prog, &options).expect("compiles");
            assert_eq!(
                code.run(&mut [], None, &mut [0; 512], 0, &NoEnv).r0,
                imm as u64
            );
        }
        let entries = code_cache()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .len();
        assert!(
            entries < 1500,
            "{entries} entries after 3000 dropped programs"
        );
    }

    #[test]
    fn reused_code_pages_never_overwrite_live_programs() {
        // Dropped programs' pages are refilled by later ones: every
        // program kept alive must still run its own code at the end.
        let options = JitOptions {
            cache: false,
            ..JitOptions::default()
        };
        let mut kept = Vec::new();
        for imm in 0..600 {
            let prog = Program::new(vec![Insn::new(op::ALU64 | op::MOV, 0, 0, 0, imm), EXIT]);
            let code = JitCode::compile(&prog, &options).expect("compiles");
            assert_eq!(
                code.run(&mut [], None, &mut [0; 512], 0, &NoEnv).r0,
                imm as u64
            );
            if imm % 3 == 0 {
                kept.push((imm, code));
            }
        }
        for (imm, code) in &kept {
            assert_eq!(
                code.run(&mut [], None, &mut [0; 512], 0, &NoEnv).r0,
                *imm as u64
            );
        }
    }

    #[test]
    fn code_of_every_size_runs_on_any_thread_while_slots_are_reused() {
        // Programs from 1 to 400 additions (code from tens of bytes to
        // several KiB: every arena slot size and page mappings), compiled
        // on four threads and run on this one; a third dropped and their
        // space refilled by new ones; every live program must still run
        // its own code.
        let options = JitOptions {
            cache: false,
            ..JitOptions::default()
        };
        let program = |n: i32| {
            let mut insns = vec![Insn::new(op::ALU64 | op::MOV, 0, 0, 0, 0)];
            insns.extend((0..n).map(|i| Insn::new(op::ALU64 | op::ADD, 0, 0, 0, i * 7 + n)));
            insns.push(EXIT);
            let sum: u64 = (0..n).map(|i| (i * 7 + n) as u64).sum();
            (Program::new(insns), sum)
        };
        let compile = |sizes: Vec<i32>| {
            let options = options.clone();
            std::thread::spawn(move || {
                sizes
                    .into_iter()
                    .map(|n| {
                        let (prog, sum) = program(n);
                        (JitCode::compile(&prog, &options).expect("compiles"), sum)
                    })
                    .collect::<Vec<_>>()
            })
        };
        let sizes: Vec<i32> = (1..=400).step_by(3).collect();
        let threads: Vec<_> = (0..4)
            .map(|t| compile(sizes.iter().copied().skip(t).step_by(4).collect()))
            .collect();
        let mut live: Vec<(JitCode, u64)> = threads
            .into_iter()
            .flat_map(|t| t.join().expect("compiled"))
            .collect();
        let check = |live: &[(JitCode, u64)]| {
            for (code, sum) in live {
                assert_eq!(code.run(&mut [], None, &mut [0; 512], 0, &NoEnv).r0, *sum);
            }
        };
        check(&live);
        let mut i = 0;
        live.retain(|_| {
            i += 1;
            i % 3 != 0
        });
        live.extend(
            compile(sizes.iter().rev().copied().collect())
                .join()
                .expect("compiled"),
        );
        check(&live);
    }

    #[test]
    fn returns_an_immediate() {
        let r = run(
            vec![Insn::new(op::ALU64 | op::MOV, 0, 0, 0, -7), EXIT],
            &mut [],
        );
        assert_eq!(r.r0, -7i64 as u64);
        assert_eq!(r.status, status::OK);
    }

    #[test]
    fn packet_loads_are_big_endian_and_bounded() {
        let prog = vec![Insn::new(op::LD | op::ABS | op::H, 0, 0, 0, 2), EXIT];
        let mut pkt = [0x11, 0x22, 0x33, 0x44];
        assert_eq!(run(prog.clone(), &mut pkt).r0, 0x3344);
        let r = run(prog, &mut pkt[..3]);
        assert_eq!((r.r0, r.status), (0, status::OK));
    }

    #[test]
    fn unreachable_code_may_fall_off_the_end() {
        // exit; then dead code whose path would fall off the end (the
        // verifier accepts unreachable code whatever it holds). Found by
        // the ebpf_verify fuzz target.
        let prog = vec![
            Insn::new(op::ALU64 | op::MOV, 0, 0, 0, 3),
            EXIT,
            Insn::new(op::JMP | op::JSLE, 0, 0, 0, 0x000e_ff20),
            Insn::new(op::ALU | op::MUL | op::X, 0, 0, 0, 0),
        ];
        let r = run(prog, &mut []);
        assert_eq!((r.r0, r.status), (3, status::OK));
    }

    #[test]
    fn unreachable_conditional_jump_may_end_the_program() {
        // exit; then a dead conditional jump as the last slot, whose
        // fall-through would leave the program (ebpf_verify fuzz finding).
        let prog = vec![
            Insn::new(op::ALU64 | op::MOV, 0, 0, 0, 5),
            EXIT,
            Insn::new(op::JMP | op::JEQ, 0, 0, -3, 7),
        ];
        let r = run(prog, &mut []);
        assert_eq!((r.r0, r.status), (5, status::OK));
    }

    #[test]
    fn division_by_zero_register_is_defined() {
        let prog = vec![
            Insn::new(op::ALU64 | op::MOV, 0, 0, 0, 9),
            Insn::new(op::ALU64 | op::MOV, 1, 0, 0, 0),
            Insn::new(op::ALU64 | op::MOD | op::X, 0, 1, 0, 0),
            EXIT,
        ];
        assert_eq!(run(prog, &mut []).r0, 9);
    }

    #[test]
    fn zero_extended_division_is_done_in_32_bits_with_the_same_results() {
        // r1 = 0xdead_beef_0000_0007 and r2 = 0xffff_ffff_0000_0000 | d,
        // each zero-extended by `lsh 32; rsh 32` (what the JIT divides in
        // 32 bits), then r0 = r1 / r2 or r1 % r2.
        let case = |d: i32, code: u8| {
            let ext = |r| {
                [
                    Insn::new(op::ALU64 | op::LSH, r, 0, 0, 32),
                    Insn::new(op::ALU64 | op::RSH, r, 0, 0, 32),
                ]
            };
            // From memory, so that nothing is folded at compile time.
            let mut prog = vec![
                Insn::new(op::LDX | op::MEM | op::DW, 2, 1, 8, 0),
                Insn::new(op::LDX | op::MEM | op::DW, 1, 1, 0, 0),
            ];
            let mut mem = [0u8; 16];
            mem[..8].copy_from_slice(&0xdead_beef_0000_0007_u64.to_le_bytes());
            mem[8..].copy_from_slice(&(0xffff_ffff_0000_0000 | u64::from(d as u32)).to_le_bytes());
            prog.extend(ext(1));
            prog.extend(ext(2));
            prog.extend([
                Insn::new(op::ALU64 | op::MOV | op::X, 0, 1, 0, 0),
                Insn::new(op::ALU64 | code | op::X, 0, 2, 0, 0),
                EXIT,
            ]);
            run(prog, &mut mem).r0
        };
        assert_eq!(case(2, op::DIV), 3);
        assert_eq!(case(2, op::MOD), 1);
        assert_eq!(case(0, op::DIV), 0, "x / 0 = 0");
        assert_eq!(case(0, op::MOD), 7, "x % 0 = x (the zero-extended x)");
        assert_eq!(case(-1, op::DIV), 0, "7 / 0xffff_ffff");
        assert_eq!(case(-1, op::MOD), 7);
    }

    /// Compiles `insns` with a lean entry zeroing `zeroed` bytes and runs
    /// it on `mem`: r0, or the outcome of the error.
    fn run_lean(insns: Vec<Insn>, zeroed: u32, mem: &mut [u8]) -> Result<u64, RawOutcome> {
        let opts = JitOptions {
            verify_ir: true,
            lean_entry: Some(zeroed),
            ..JitOptions::default()
        };
        let code = JitCode::compile(&Program::new(insns), &opts).expect("compiles");
        assert!(code.is_lean());
        code.run_lean(mem)
    }

    #[test]
    fn a_lean_entry_reports_errors_as_the_ordinary_one() {
        // ldxw r0, [r1 + 1]; stxb [r1 + 9], r0 with 4, then 9, then 10
        // bytes of memory: a load, then a store out of bounds, then none.
        let prog = vec![
            Insn::new(op::LDX | op::MEM | op::W, 0, 1, 1, 0),
            Insn::new(op::STX | op::MEM | op::B, 1, 0, 9, 0),
            EXIT,
        ];
        for len in [4, 9, 10] {
            let mut mem: Vec<u8> = (1..=len).collect();
            // Faulting addresses as offsets into each run's memory.
            let relative = |mut r: RawOutcome, mem: &[u8]| {
                if r.status != status::OK {
                    r.addr = r.addr.wrapping_sub(mem.as_ptr() as u64);
                }
                r
            };
            let mut copy = mem.clone();
            let ordinary = relative(run(prog.clone(), &mut copy), &copy);
            let lean = match run_lean(prog.clone(), 0, &mut mem) {
                Ok(r0) => RawOutcome {
                    r0,
                    status: status::OK,
                    pc: 0,
                    addr: 0,
                    info: 0,
                },
                Err(e) => e,
            };
            assert_eq!(relative(lean, &mem), ordinary, "{len} bytes");
            assert_eq!(mem, copy);
        }
    }

    #[test]
    fn a_lean_entry_without_a_stack_has_no_stack_region() {
        // r10 unused, so no stack: an address just below 2^64 (where a
        // region [r10 - 512, r10) with r10 = 0 would lie) is outside
        // everything, not a load from it.
        let prog = vec![
            Insn::new(op::ALU64 | op::MOV, 1, 0, 0, -16),
            Insn::new(op::LDX | op::MEM | op::DW, 0, 1, 0, 0),
            EXIT,
        ];
        let e = run_lean(prog, 0, &mut [0; 8]).expect_err("out of bounds");
        assert_eq!(
            (e.status, e.pc, e.addr),
            (status::OUT_OF_BOUNDS, 1, -16i64 as u64)
        );
    }

    #[test]
    fn a_lean_entry_zeroes_the_stack_it_is_asked_to() {
        // One program fills its frame's top 64 bytes with ones, the next
        // reads them unwritten: 0 for the bytes its entry zeroes, whatever
        // the native stack held before.
        let mut fill = vec![Insn::new(op::ALU64 | op::MOV, 1, 0, 0, -1)];
        fill.extend((1..=8).map(|k| Insn::new(op::STX | op::MEM | op::DW, 10, 1, -8 * k, 0)));
        fill.extend([Insn::new(op::ALU64 | op::MOV, 0, 0, 0, 0), EXIT]);
        let read = vec![
            Insn::new(op::LDX | op::MEM | op::DW, 0, 10, -64, 0),
            Insn::new(op::LDX | op::MEM | op::DW, 2, 10, -8, 0),
            Insn::new(op::ALU64 | op::OR | op::X, 0, 2, 0, 0),
            EXIT,
        ];
        for _ in 0..3 {
            assert_eq!(run_lean(fill.clone(), 0, &mut []), Ok(0));
            assert_eq!(run_lean(read.clone(), 64, &mut []), Ok(0));
        }
    }

    #[test]
    fn out_of_bounds_access_is_an_error() {
        // r1 = mem; ldxw r0, [r1 + 1] with 4 bytes of memory.
        let prog = vec![Insn::new(op::LDX | op::MEM | op::W, 0, 1, 1, 0), EXIT];
        let mut mem = [1, 2, 3, 4];
        let r = run(prog.clone(), &mut mem);
        assert_eq!(r.status, status::OUT_OF_BOUNDS);
        assert_eq!(r.pc, 0);
        let mut mem = [1, 2, 3, 4, 5];
        let r = run(prog, &mut mem);
        assert_eq!((r.r0, r.status), (0x05040302, status::OK));
    }
}

#[cfg(test)]
mod aarch64_tests {
    use super::*;
    use crate::ebpf::insn::{op, Insn};
    use cranebpf_harness::qemu;

    #[test]
    fn smoke_programs_agree_under_qemu() {
        if let Err(e) = qemu::available() {
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{e}");
            eprintln!("skipping aarch64 smoke test: {e}");
            return;
        }
        let exit = Insn::new(op::JMP | op::EXIT, 0, 0, 0, 0);
        let prog = vec![
            Insn::new(op::LD | op::ABS | op::W, 0, 0, 0, 1),
            Insn::new(op::ALU | op::DIV | op::K, 0, 0, 0, 3),
            exit,
        ];
        let triple = "aarch64-unknown-linux-gnu".parse().expect("triple");
        let opts = JitOptions {
            verify_ir: true,
            ..JitOptions::default()
        };
        let bytes = compile_bytes(&prog, triple, &opts).expect("aarch64 code");
        let mut runner = qemu::Aarch64Runner::start().expect("qemu starts");
        runner.load(&bytes).expect("load");
        let r = runner.run(&[9, 0, 0, 1, 2], None, 0).expect("run");
        assert_eq!((r.r0, r.status), (0x102 / 3, 0));
        let r = runner.run(&[9, 0, 0, 1], None, 0).expect("run");
        assert_eq!((r.r0, r.status), (0, status::OK));
    }
}
