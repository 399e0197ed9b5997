//! [`Filter`]: a classic program checked with the kernel's rules, translated
//! to eBPF and compiled by the JIT, with the interpreters as fallback and as
//! explicit choices. The front end for classic programs of the prepared
//! program core ([`crate::program`]); it adds the classic reference
//! interpreter, the ancillary metadata and a per-stream fast path.

use std::cell::RefCell;
use std::sync::OnceLock;

use crate::cbpf::{self, Metadata};
use crate::ebpf::{self, Environment, ExecError, HelperOutcome};
use crate::engine::Engine;
use crate::jit::{BareEntry, DetachedBareEntry, JitCode, JitError, JitOptions, LeafEntry};
use crate::program::{Compile, Prepared, WithPacket};
use crate::rng::Rng;
use crate::translate::{self, ctx_field, runtime_call};

/// Stack (bytes) a translated classic program uses: its 16 scratch words.
pub const CLASSIC_FRAME: usize = 64;

/// Whose rules a classic program is checked and run by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// Linux's: its checker, and the semantics of a socket filter (the
    /// default; every engine).
    #[default]
    Linux,
    /// libpcap's: its `bpf_validate`, and its userland `bpf_filter`, as
    /// tcpdump filters savefiles (`cbpf::libpcap`): backward `ja`, unwritten
    /// scratch cells read 0, no ancillary loads, no instruction limit. Runs
    /// on the classic interpreter only (these semantics are not the
    /// translation's).
    Libpcap,
}

/// With the engine left to the library, programs of at least this many
/// classic instructions start on the classic interpreter while the JIT
/// compiles them on another thread (the default of
/// [`FilterOptions::background_jit_from`]).
pub const BACKGROUND_JIT_FROM: usize = 256;

/// How to build a [`Filter`].
#[derive(Clone, Debug)]
pub struct FilterOptions {
    /// The engine to use; `None` means the JIT when it can compile the
    /// program for this host, else the eBPF interpreter.
    pub engine: Option<Engine>,
    /// A tiered start, when `engine` is `None`: a program of at least this
    /// many instructions is ready as soon as it is checked and translated,
    /// runs on the classic interpreter, and switches to native code when a
    /// thread of its own has compiled it ([`Filter::wait_for_jit`] waits
    /// for that). Compiling takes milliseconds for programs this long
    /// (about 8 µs an instruction), the interpreter's start microseconds.
    /// Default [`BACKGROUND_JIT_FROM`]; `None` always compiles before
    /// returning.
    pub background_jit_from: Option<usize>,
    /// Ancillary metadata for [`Filter::run`] (default: what Linux gives
    /// an `AF_UNIX` socket).
    pub metadata: Metadata,
    /// JIT settings.
    pub jit: JitOptions,
    /// Linux's rules (the default) or libpcap's.
    pub dialect: Dialect,
}

impl Default for FilterOptions {
    fn default() -> Self {
        FilterOptions {
            engine: None,
            background_jit_from: Some(BACKGROUND_JIT_FROM),
            metadata: Metadata::default(),
            jit: JitOptions::default(),
            dialect: Dialect::default(),
        }
    }
}

/// Why a filter could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FilterError {
    /// The kernel would refuse the program.
    Rejected(cbpf::CheckError),
    /// The JIT was asked for and could not compile the program.
    Jit(JitError),
    /// libpcap's `bpf_validate` would refuse the program
    /// ([`Dialect::Libpcap`]).
    RejectedByLibpcap(cbpf::libpcap::LibpcapError),
    /// The engine asked for cannot run this dialect ([`Dialect::Libpcap`]
    /// runs on [`Engine::Cbpf`] only).
    EngineForDialect(Engine, Dialect),
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilterError::Rejected(e) => write!(f, "the kernel would refuse this program: {e}"),
            FilterError::Jit(e) => e.fmt(f),
            FilterError::RejectedByLibpcap(e) => {
                write!(f, "libpcap would refuse this program: {e}")
            }
            FilterError::EngineForDialect(engine, _) => write!(
                f,
                "libpcap's semantics run on the classic interpreter only (cbpf), not on {engine}"
            ),
        }
    }
}

impl std::error::Error for FilterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FilterError::Rejected(e) => Some(e),
            FilterError::Jit(e) => Some(e),
            FilterError::RejectedByLibpcap(e) => Some(e),
            FilterError::EngineForDialect(..) => None,
        }
    }
}

/// A compiled classic filter. `Send + Sync`: share one across threads.
#[derive(Debug)]
pub struct Filter {
    classic: cbpf::Program,
    /// The translation, prepared for the JIT or the eBPF interpreter
    /// (`None` in libpcap's dialect, which runs on the classic interpreter).
    core: Option<Prepared>,
    /// The engine asked for (`None`: the library's choice).
    engine: Option<Engine>,
    metadata: Metadata,
    /// Context block for `metadata`, with the length patched per packet.
    ctx_template: [u8; ctx_field::SIZE],
    /// Whether the translation reads the context block at all.
    uses_ctx: bool,
    /// The program decoded for the classic interpreter, when that is the
    /// engine or native code is being compiled in the background.
    decoded: Option<cbpf::fast::Decoded>,
    /// Batch code for [`Filter::run_batch`], when this filter can have it
    /// (native code that reads no context block); boxed, to keep the
    /// fields `Filter::run` reads together.
    batch: Option<Box<BatchCode>>,
    /// The entry of native code compiled before this filter was returned
    /// that reads no context block: the code is `core`'s, which is never
    /// replaced, so it lives as long as the filter.
    bare: Option<DetachedBareEntry>,
}

/// A filter's batch code: how to compile it, and the code once the first
/// [`Filter::run_batch`] has compiled it (`None` inside: the JIT could
/// not).
#[derive(Debug)]
struct BatchCode {
    options: JitOptions,
    code: OnceLock<Option<JitCode>>,
}

/// The options a filter's translation is compiled with, from the caller's
/// `jit` (its switches: cache, direct writing, bounds-check elimination):
/// leaf code with a classic frame (16 scratch words) and the context block
/// at r1, Cranelift's optimiser off, no budget, per packet (batch code sets
/// `batch` itself). For compiling a translation as `Filter` does, e.g. for
/// another target with [`crate::jit::compile_bytes`].
pub fn translation_jit_options(jit: &JitOptions) -> JitOptions {
    JitOptions {
        frame_size: CLASSIC_FRAME as u32,
        budget: false,
        optimize: false,
        leaf: true,
        leaf_mem: ctx_field::SIZE as u32,
        batch: false,
        ..jit.clone()
    }
}

impl Filter {
    /// Checks, translates and JIT-compiles `program`, falling back to the
    /// eBPF interpreter when the JIT is unavailable. A program of
    /// [`BACKGROUND_JIT_FROM`] instructions or more starts tiered: it runs
    /// on the classic interpreter until the JIT, on a thread of its own,
    /// has compiled it ([`FilterOptions::background_jit_from`]).
    pub fn new(program: cbpf::Program) -> Result<Filter, FilterError> {
        Filter::with_options(program, FilterOptions::default())
    }

    /// Builds a filter as `options` say.
    pub fn with_options(
        program: cbpf::Program,
        options: FilterOptions,
    ) -> Result<Filter, FilterError> {
        if options.dialect == Dialect::Libpcap {
            return Filter::libpcap(program, options);
        }
        let ebpf = translate::translate(&program).map_err(|e| FilterError::Rejected(e.0))?;
        let jit_options = translation_jit_options(&options.jit);
        let uses_ctx = ebpf.insns.iter().any(|i| {
            i.opc == ebpf::insn::op::LDX | ebpf::insn::op::MEM | ebpf::insn::op::W
                && i.src == translate::REG_CTX
        });
        // Long programs with the engine left to us start tiered. Asked for
        // the classic interpreter, the core still keeps the translation
        // (`translation()`, the eBPF interpreter's fallback), with no
        // native code.
        let background = options.engine.is_none()
            && options
                .background_jit_from
                .is_some_and(|from| program.insns.len() >= from);
        let compile = if background {
            Compile::Background
        } else {
            Compile::for_engine(options.engine)
        };
        let core = Prepared::new(ebpf, compile, &jit_options).map_err(FilterError::Jit)?;
        // The classic engine recovers compare trees; the interpreter that
        // runs only until background code is ready starts at once.
        let decoded = if options.engine == Some(Engine::Cbpf) {
            Some(cbpf::fast::Decoded::with_switches(&program))
        } else {
            background.then(|| cbpf::fast::Decoded::new(&program))
        };
        // Batch code keeps no context block between packets, so only
        // filters that read none (most: `ld len` and metadata are what
        // read it) run their batches natively.
        let batch = (!uses_ctx && matches!(options.engine, None | Some(Engine::Jit))).then(|| {
            let mut options = jit_options.clone();
            options.batch = true;
            Box::new(BatchCode {
                options,
                code: OnceLock::new(),
            })
        });
        let bare = core
            .ready_code()
            .filter(|_| !uses_ctx)
            .and_then(JitCode::bare_entry)
            .map(BareEntry::detach);
        Ok(Filter {
            ctx_template: translate::ctx_block(&options.metadata, 0),
            decoded,
            batch,
            classic: program,
            engine: options.engine,
            core: Some(core),
            metadata: options.metadata,
            uses_ctx,
            bare,
        })
    }

    /// A filter in libpcap's dialect: checked by `bpf_validate`'s rules,
    /// run as `bpf_filter` runs it.
    fn libpcap(program: cbpf::Program, options: FilterOptions) -> Result<Filter, FilterError> {
        match options.engine {
            None | Some(Engine::Cbpf) => {}
            Some(other) => return Err(FilterError::EngineForDialect(other, options.dialect)),
        }
        cbpf::libpcap::validate(&program).map_err(FilterError::RejectedByLibpcap)?;
        Ok(Filter {
            ctx_template: translate::ctx_block(&options.metadata, 0),
            classic: program,
            engine: Some(Engine::Cbpf),
            core: None,
            metadata: options.metadata,
            uses_ctx: false,
            decoded: None,
            batch: None,
            bare: None,
        })
    }

    /// Whose rules this filter follows.
    pub fn dialect(&self) -> Dialect {
        if self.core.is_some() {
            Dialect::Linux
        } else {
            Dialect::Libpcap
        }
    }

    /// The engine that runs this filter now (with a tiered start: the
    /// classic interpreter until the native code is ready, then the JIT).
    pub fn engine(&self) -> Engine {
        match (self.engine, &self.core) {
            (Some(engine), _) => engine,
            (None, Some(core)) if core.jit_code().is_some() => Engine::Jit,
            (None, _) if self.decoded.is_some() => Engine::Cbpf,
            (None, _) => Engine::Interp,
        }
    }

    /// Whether the JIT is still compiling this filter on another thread
    /// (a tiered start, [`FilterOptions::background_jit_from`]).
    pub fn compiling(&self) -> bool {
        self.core.as_ref().is_some_and(Prepared::compiling)
    }

    /// Waits until a tiered start's native code is ready (or the JIT has
    /// failed: [`Filter::jit_error`] says why); returns the engine that
    /// runs the filter from now on. Returns at once for other filters.
    pub fn wait_for_jit(&self) -> Engine {
        if let Some(core) = &self.core {
            core.wait_for_jit();
        }
        self.engine()
    }

    /// Why the JIT was not used, when automatic selection fell back.
    pub fn jit_error(&self) -> Option<&JitError> {
        self.core.as_ref()?.jit_error()
    }

    /// The classic program.
    pub fn program(&self) -> &cbpf::Program {
        &self.classic
    }

    /// The eBPF translation (`None` in libpcap's dialect).
    pub fn translation(&self) -> Option<&ebpf::Program> {
        Some(self.core.as_ref()?.program())
    }

    /// The JIT's code, when the JIT is the engine.
    pub fn jit_code(&self) -> Option<&JitCode> {
        self.core.as_ref()?.jit_code()
    }

    /// The verdict for one packet: how many bytes to keep (0 = drop).
    #[inline]
    pub fn run(&self, packet: &[u8]) -> u32 {
        self.run_then(packet, || wire_len(packet))
    }

    /// The verdict for a captured packet: `packet` is the captured part
    /// and `wire_len` the length on the wire, which `ld len` reads (as
    /// when the kernel filters at capture time, before the snap length
    /// cuts the packet, and as libpcap's `pcap_offline_filter` does).
    #[inline]
    pub fn run_wire(&self, packet: &[u8], wire_len: u32) -> u32 {
        self.run_then(packet, || wire_len)
    }

    /// [`Filter::run_wire`] with the length on the wire found only past
    /// the inlined native path.
    #[inline(always)]
    fn run_then(&self, packet: &[u8], wire_len: impl FnOnce() -> u32) -> u32 {
        // Native code that reads no context block needs no set-up: that
        // path is small enough to inline into the caller's loop; the rest
        // is a call away.
        if let Some(entry) = self.bare {
            // SAFETY: the entry of `self.core`'s code, which `self` owns
            // and never replaces (see the field): the code is alive.
            if let Some(r0) = unsafe { entry.run(packet) } {
                return r0;
            }
        }
        self.run_wire_outlined(packet, wire_len(), self.bare.is_some())
    }

    /// [`Filter::run_wire`] past its inlined native path (`bare_ran`: that
    /// path ran native code, which handed the packet over).
    #[inline(never)]
    fn run_wire_outlined(&self, packet: &[u8], wire_len: u32, bare_ran: bool) -> u32 {
        // Native code reading the context block, or compiled in the
        // background.
        if let Some(code) = self.native().filter(|_| !bare_ran) {
            let r0 = if self.uses_ctx {
                let mut ctx = self.ctx_template;
                set_len(&mut ctx, wire_len);
                code.run_leaf(packet, &mut ctx)
            } else {
                code.run_leaf(packet, &mut [])
            };
            if let Some(r0) = r0 {
                return r0;
            }
        }
        if let Some(decoded) = &self.decoded {
            return decoded.run(packet, &self.metadata, wire_len);
        }
        self.run_slow(packet, wire_len)
    }

    /// The native code, when it runs this filter.
    #[inline]
    fn native(&self) -> Option<&JitCode> {
        self.core.as_ref()?.jit_code()
    }

    /// The verdict on the engine chosen when it is not native code, or
    /// where native code handed the packet over.
    #[cold]
    fn run_slow(&self, packet: &[u8], wire_len: u32) -> u32 {
        if self.core.is_none() {
            // A program that loops past the step limit would never return
            // in libpcap; here it drops the packet.
            return cbpf::libpcap::run(&self.classic, packet, wire_len).unwrap_or(0);
        }
        // (The classic interpreter engine is run by the callers, before
        // this cold path.)
        let mut ctx = self.ctx_template;
        self.interpret(packet, wire_len, &mut ctx, &self.metadata, None)
    }

    /// The verdict for one packet with other metadata than the filter's.
    pub fn run_with(&self, packet: &[u8], metadata: &Metadata) -> u32 {
        let Some(core) = &self.core else {
            // libpcap's dialect reads no metadata.
            return self.run_slow(packet, wire_len(packet));
        };
        if let Some(decoded) = &self.decoded {
            return decoded.run(packet, metadata, wire_len(packet));
        }
        let mut ctx = translate::ctx_block(metadata, 0);
        set_len(&mut ctx, wire_len(packet));
        let mem: &mut [u8] = if self.uses_ctx { &mut ctx } else { &mut [] };
        let mut run = WithPacket { mem, packet };
        verdict(core.run(&mut run, None, &ClassicEnv::new(metadata)))
    }

    /// Verdicts for many packets: `verdicts[i]` for `packets[i]`, each
    /// packet's own length being what `ld len` reads.
    ///
    /// Filters run by the JIT that read no context block (no `ld len`, no
    /// metadata) run whole batches in native code: one call loops over
    /// the packets. Their first call compiles that code (as long again as
    /// [`Filter::new`]'s compile); a packet the native code hands over
    /// finishes on the interpreter, as in [`Filter::run`].
    ///
    /// # Panics
    /// If `verdicts` is shorter than `packets`.
    pub fn run_batch<P: AsRef<[u8]>>(&self, packets: &[P], verdicts: &mut [u32]) {
        self.batch_with(packets, |_, p| wire_len(p), verdicts);
    }

    /// [`Filter::run_batch`] for captured packets: `wire_lens[i]` is the
    /// length on the wire of `packets[i]` (see [`Filter::run_wire`]).
    ///
    /// # Panics
    /// If `verdicts` or `wire_lens` is shorter than `packets`.
    pub fn run_batch_wire<P: AsRef<[u8]>>(
        &self,
        packets: &[P],
        wire_lens: &[u32],
        verdicts: &mut [u32],
    ) {
        assert!(
            wire_lens.len() >= packets.len(),
            "run_batch_wire: {} wire lengths for {} packets",
            wire_lens.len(),
            packets.len()
        );
        self.batch_with(packets, |i, _| wire_lens[i], verdicts);
    }

    /// Whether [`Filter::run_batch`] runs whole batches in native code
    /// (see there); compiles that code if it is not yet.
    pub fn native_batches(&self) -> bool {
        self.batch_code().is_some()
    }

    /// The batch runs, `wire_len(i, packet)` giving each packet's length
    /// on the wire.
    fn batch_with<P: AsRef<[u8]>>(
        &self,
        packets: &[P],
        wire_len: impl Fn(usize, &[u8]) -> u32,
        verdicts: &mut [u32],
    ) {
        assert!(
            verdicts.len() >= packets.len(),
            "run_batch: {} verdict slots for {} packets",
            verdicts.len(),
            packets.len()
        );
        if let Some(code) = self.batch_code() {
            // Batch code reads no context block, so no length.
            let entry = code.batch_entry();
            let mut done = 0;
            while done < packets.len() {
                done += entry.run(&packets[done..], &mut verdicts[done..], &mut []);
                if let Some(p) = packets.get(done) {
                    // Handed over: this packet finishes on the interpreter.
                    let p = p.as_ref();
                    verdicts[done] = self.run_slow(p, wire_len(done, p));
                    done += 1;
                }
            }
            return;
        }
        let mut runner = self.runner();
        for (i, (p, v)) in packets.iter().zip(verdicts.iter_mut()).enumerate() {
            let p = p.as_ref();
            *v = runner.run_wire(p, wire_len(i, p));
        }
    }

    /// Batch code for [`Filter::run_batch`], compiled on first use once
    /// this filter runs natively (not while a tiered start compiles).
    fn batch_code(&self) -> Option<&JitCode> {
        let batch = self.batch.as_deref()?;
        let core = self.core.as_ref()?;
        core.jit_code()?;
        batch
            .code
            .get_or_init(|| JitCode::compile(core.program(), &batch.options).ok())
            .as_ref()
    }

    /// A runner for a stream of packets: set up once, then each
    /// [`FilterRunner::run`] costs little more than the filter itself.
    pub fn runner(&self) -> FilterRunner<'_> {
        // Whether native code may still arrive (a tiered start compiling);
        // asked before looking for the code, so a compile finishing in
        // between is seen one way or the other.
        let compiling = self.compiling();
        let mut runner = FilterRunner {
            filter: self,
            ctx: self.ctx_template,
            native: None,
            bare: None,
            look_for_native: compiling,
            stack: Vec::new(),
        };
        runner.take_native();
        runner
    }

    /// The eBPF interpreter over the translation: the engine itself, or
    /// where native code handed the packet over (a helper call or a
    /// negative offset; the translation has no side effects, so running it
    /// again from the start gives exactly the result). On `stack` when a
    /// runner keeps one, else on a fresh one.
    fn interpret(
        &self,
        packet: &[u8],
        wire_len: u32,
        ctx: &mut [u8; ctx_field::SIZE],
        metadata: &Metadata,
        stack: Option<&mut Vec<u8>>,
    ) -> u32 {
        let Some(core) = &self.core else {
            return self.run_slow(packet, wire_len);
        };
        let env = ClassicEnv::new(metadata);
        set_len(ctx, wire_len);
        let mem: &mut [u8] = if self.uses_ctx { ctx } else { &mut [] };
        verdict(match stack {
            // A runner's stack, kept between packets.
            Some(stack) => core.interpret_on_stack(mem, Some(packet), stack, None, &env),
            None => core.interpret(mem, Some(packet), None, &env),
        })
    }
}

/// Runs one filter over a stream of packets with no per-packet set-up
/// (see [`Filter::runner`]), keeping the context block between packets.
pub struct FilterRunner<'f> {
    filter: &'f Filter,
    ctx: [u8; ctx_field::SIZE],
    /// The native entry, once there is native code.
    native: Option<LeafEntry<'f>>,
    /// The same, when it reads no context block: the whole of the hot
    /// path, tested first.
    bare: Option<BareEntry<'f>>,
    /// Whether to look for native code again before each packet (a tiered
    /// start's code may arrive mid-stream).
    look_for_native: bool,
    /// The eBPF interpreter's stack, kept from packet to packet (allocated
    /// when the interpreter first runs).
    stack: Vec<u8>,
}

impl FilterRunner<'_> {
    /// The verdict for one packet: how many bytes to keep (0 = drop).
    #[inline]
    pub fn run(&mut self, packet: &[u8]) -> u32 {
        self.run_then(packet, || wire_len(packet))
    }

    /// The verdict for a captured packet whose length on the wire was
    /// `wire_len` (see [`Filter::run_wire`]).
    #[inline]
    pub fn run_wire(&mut self, packet: &[u8], wire_len: u32) -> u32 {
        self.run_then(packet, || wire_len)
    }

    /// [`FilterRunner::run_wire`] with the length on the wire found only
    /// past the bare entry.
    #[inline(always)]
    fn run_then(&mut self, packet: &[u8], wire_len: impl FnOnce() -> u32) -> u32 {
        // Native code that reads no context block: nothing else to do (the
        // length on the wire is in the block).
        if let Some(r0) = self.bare.and_then(|entry| entry.run(packet)) {
            return r0;
        }
        self.run_other(packet, wire_len())
    }

    /// Takes the native entry when there is one now.
    fn take_native(&mut self) {
        let f = self.filter;
        let code = f.native();
        self.native = code.map(JitCode::leaf_entry);
        self.bare = code.filter(|_| !f.uses_ctx).and_then(JitCode::bare_entry);
        self.look_for_native &= self.native.is_none();
    }

    /// [`FilterRunner::run_wire`] past the bare entry: native code reading
    /// the context block, or handing the packet over, or an interpreter.
    #[inline(never)]
    fn run_other(&mut self, packet: &[u8], wire_len: u32) -> u32 {
        if self.native.is_none() && !self.look_for_native {
            // An interpreter for good: a constant verdict is answered
            // here, in a function with no frame (accept-all on the classic
            // interpreter took two calls' frames, a tenth above libpcap's
            // one call).
            let decoded = self.filter.decoded.as_ref();
            if let Some(k) = decoded.and_then(cbpf::fast::Decoded::constant) {
                return k;
            }
            return self.run_interpreted(packet, wire_len);
        }
        self.run_native(packet, wire_len)
    }

    /// [`FilterRunner::run_other`] while there is native code, or may be.
    #[inline(never)]
    fn run_native(&mut self, packet: &[u8], wire_len: u32) -> u32 {
        let f = self.filter;
        if self.look_for_native {
            self.take_native();
            if let Some(r0) = self.bare.and_then(|entry| entry.run(packet)) {
                return r0;
            }
        }
        if let (Some(entry), None) = (self.native, self.bare) {
            // Native code, with the context block only when it is read.
            let r0 = if f.uses_ctx {
                set_len(&mut self.ctx, wire_len);
                entry.run(packet, &mut self.ctx)
            } else {
                entry.run(packet, &mut [])
            };
            if let Some(r0) = r0 {
                return r0;
            }
        }
        self.run_interpreted(packet, wire_len)
    }

    /// [`FilterRunner::run_wire`] past native code: an interpreter (kept
    /// out of line so the native path stays small enough to inline; the
    /// classic interpreter's loop is inlined here, one call away).
    #[inline(never)]
    fn run_interpreted(&mut self, packet: &[u8], wire_len: u32) -> u32 {
        let f = self.filter;
        if let Some(decoded) = &f.decoded {
            return decoded.run_inline(packet, &f.metadata, wire_len);
        }
        f.interpret(
            packet,
            wire_len,
            &mut self.ctx,
            &f.metadata,
            Some(&mut self.stack),
        )
    }
}

/// A packet's own length, as `ld len` reads it when nothing was cut off.
fn wire_len(packet: &[u8]) -> u32 {
    u32::try_from(packet.len()).unwrap_or(u32::MAX)
}

/// Puts the packet length into a context block.
fn set_len(ctx: &mut [u8; ctx_field::SIZE], len: u32) {
    let at = ctx_field::LEN as usize;
    ctx[at..at + 4].copy_from_slice(&len.to_ne_bytes());
}

/// A translated classic program cannot fail at run time: its memory
/// accesses are the context block and its own scratch words. An error here
/// would be a bug in the translator, so it drops the packet.
fn verdict(result: Result<u64, ExecError>) -> u32 {
    debug_assert!(result.is_ok(), "translated filter failed: {result:?}");
    result.map_or(0, |r0| r0 as u32)
}

/// The run-time services of translated classic programs: `#rand`, `#nla`,
/// `#nlan`, and the `SKF_NET_OFF` / `SKF_LL_OFF` areas, all with the
/// reference interpreter's semantics.
pub(crate) struct ClassicEnv<'a> {
    metadata: &'a Metadata,
    rng: RefCell<Rng>,
}

impl<'a> ClassicEnv<'a> {
    pub(crate) fn new(metadata: &'a Metadata) -> ClassicEnv<'a> {
        ClassicEnv {
            metadata,
            rng: RefCell::new(Rng::new(metadata.random_seed)),
        }
    }
}

impl Environment for ClassicEnv<'_> {
    fn call_helper(&self, id: u64, args: [u64; 5], packet: &[u8]) -> HelperOutcome {
        // Translated programs pass A in r2 and X in r3.
        let (a, x) = (args[1] as u32, args[2] as u32);
        let v = match u32::try_from(id) {
            Ok(runtime_call::RANDOM) => self.rng.borrow_mut().next_u32(),
            Ok(runtime_call::NLATTR) => cbpf::interp::nlattr(packet, self.metadata, a, x, false),
            Ok(runtime_call::NLATTR_NEST) => {
                cbpf::interp::nlattr(packet, self.metadata, a, x, true)
            }
            _ => return HelperOutcome::Unknown,
        };
        HelperOutcome::Return(u64::from(v))
    }

    fn negative_load(&self, packet: &[u8], offset: i64, size: usize) -> Option<u32> {
        cbpf::interp::load(packet, self.metadata, i32::try_from(offset).ok()?, size)
    }
}
