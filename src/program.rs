//! The prepared-program core every program runs through, and
//! [`EbpfProgram`], its front end for eBPF programs ([`crate::Filter`] is
//! the one for classic filters).
//!
//! The core holds what is fixed when a program is built: the eBPF program
//! (verified, or translated from a checked classic one) and the JIT's code
//! for it, or the reason there is none. A run takes what varies as
//! parameters: the [`Context`] (the memory r1 points to and the packet the
//! legacy packet loads read), the instruction budget and the
//! [`Environment`] serving helper calls. Native code is entered only
//! through [`crate::jit`]'s run functions.

use crate::ebpf::interp::Decoded;
use crate::ebpf::{self, Environment, ExecError, Helpers, HelpersEnv, Program, VerifyError};
use crate::engine::Engine;
use crate::jit::runtime::{status, FRAME_SIZE};
use crate::jit::{DetachedLeanEntry, JitCode, JitError, JitOptions, RawOutcome};
use std::mem::MaybeUninit;
use std::sync::{Arc, OnceLock};

/// What one run of a program works on.
///
/// Implemented for byte slices and vectors (r1 points to them, and the
/// legacy packet loads read them too) and by [`WithPacket`] (a context
/// block for r1 and a separate packet, as socket filters have).
pub trait Context {
    /// The memory r1 points to (r2 holds its length), and the packet the
    /// legacy packet loads (`LD_ABS`, `LD_IND`) read — `None` when they
    /// read that same memory.
    fn regions(&mut self) -> (&mut [u8], Option<&[u8]>);
}

impl Context for [u8] {
    fn regions(&mut self) -> (&mut [u8], Option<&[u8]>) {
        (self, None)
    }
}

impl Context for Vec<u8> {
    fn regions(&mut self) -> (&mut [u8], Option<&[u8]>) {
        (self.as_mut_slice(), None)
    }
}

/// A context block for r1 and a separate packet for the legacy packet
/// loads (how translated classic filters run).
#[derive(Debug)]
pub struct WithPacket<'a> {
    /// The memory r1 points to.
    pub mem: &'a mut [u8],
    /// What the legacy packet loads read.
    pub packet: &'a [u8],
}

impl Context for WithPacket<'_> {
    fn regions(&mut self) -> (&mut [u8], Option<&[u8]>) {
        (self.mem, Some(self.packet))
    }
}

/// A program ready to run: the core behind [`EbpfProgram`] and
/// [`crate::Filter`].
#[derive(Debug)]
pub(crate) struct Prepared {
    program: Program,
    /// The program as the interpreter runs it, decoded on the first
    /// interpreted run (native code may never need it).
    decoded: OnceLock<Decoded>,
    native: Native,
    /// Stack frames a run can use (its deepest local-call chain): the
    /// stack each run zeroes is that big.
    frames: usize,
    /// Bytes below r10 the program can touch in any frame (`None`: not
    /// bounded), for [`Prepared::run_on_stack`].
    /// Found on the first run that needs it (native code never does; long
    /// programs take a while to analyse).
    stack_depth: OnceLock<Option<usize>>,
    /// Compiled as leaf code (`JitOptions::leaf`): native code may hand an
    /// input over, and the interpreter then runs it from the start.
    leaf: bool,
}

/// A program's native code: compiled before it was prepared, being
/// compiled on another thread (a tiered start), or none (with the reason
/// when the JIT was tried).
#[derive(Debug)]
enum Native {
    Ready(JitCode),
    Background(Arc<OnceLock<Result<JitCode, JitError>>>),
    None(Option<JitError>),
}

/// How the JIT comes into a prepared program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compile {
    /// Not at all: the eBPF interpreter runs it.
    Never,
    /// Before [`Prepared::new`] returns; an error is the caller's.
    Required,
    /// Before [`Prepared::new`] returns; the interpreter runs it if the
    /// JIT cannot.
    IfPossible,
    /// On another thread: the interpreter runs it until the code is ready
    /// (or for good, if the JIT cannot compile it).
    Background,
}

impl Compile {
    /// What asking for `engine` means: `None` tries the JIT and keeps the
    /// interpreter when it fails, `Some(Engine::Jit)` requires the JIT,
    /// any other engine keeps the eBPF interpreter.
    pub(crate) fn for_engine(engine: Option<Engine>) -> Compile {
        match engine {
            None => Compile::IfPossible,
            Some(Engine::Jit) => Compile::Required,
            Some(_) => Compile::Never,
        }
    }
}

impl Prepared {
    /// Prepares a verified (or translated) program; `compile` says how the
    /// JIT comes in.
    pub(crate) fn new(
        program: Program,
        compile: Compile,
        jit: &JitOptions,
    ) -> Result<Prepared, JitError> {
        let native = match compile {
            Compile::Never => Native::None(None),
            Compile::Required => Native::Ready(JitCode::compile(&program, jit)?),
            Compile::IfPossible => compile_if_possible(&program, jit),
            Compile::Background => compile_in_background(&program, jit),
        };
        Ok(Prepared {
            frames: ebpf::verify::call_frames(&program),
            stack_depth: OnceLock::new(),
            leaf: jit.leaf,
            decoded: OnceLock::new(),
            program,
            native,
        })
    }

    /// The engine that runs the program now: the JIT or the eBPF
    /// interpreter.
    pub(crate) fn engine(&self) -> Engine {
        if self.jit_code().is_some() {
            Engine::Jit
        } else {
            Engine::Interp
        }
    }

    /// The eBPF program.
    pub(crate) fn program(&self) -> &Program {
        &self.program
    }

    /// The program decoded for the interpreter.
    fn decoded(&self) -> &Decoded {
        self.decoded
            .get_or_init(|| Decoded::with_switches(&self.program))
    }

    /// The JIT's code, when it is the engine (for a background compile:
    /// once it is ready).
    #[inline]
    pub(crate) fn jit_code(&self) -> Option<&JitCode> {
        match &self.native {
            Native::Ready(code) => Some(code),
            Native::Background(slot) => slot.get()?.as_ref().ok(),
            Native::None(_) => None,
        }
    }

    /// Why the JIT was not used, when it was tried and failed.
    pub(crate) fn jit_error(&self) -> Option<&JitError> {
        match &self.native {
            Native::Ready(_) => None,
            Native::Background(slot) => slot.get()?.as_ref().err(),
            Native::None(e) => e.as_ref(),
        }
    }

    /// Whether native code is still being compiled on another thread.
    pub(crate) fn compiling(&self) -> bool {
        matches!(&self.native, Native::Background(slot) if slot.get().is_none())
    }

    /// Waits until a background compile has finished (at once otherwise).
    pub(crate) fn wait_for_jit(&self) {
        if let Native::Background(slot) = &self.native {
            slot.wait();
        }
    }

    /// Runs on `ctx` with an instruction budget (`None`: unlimited) and
    /// `env` serving helper calls, on a fresh zeroed stack; returns r0.
    #[inline]
    pub(crate) fn run<C: Context + ?Sized>(
        &self,
        ctx: &mut C,
        budget: Option<u64>,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        match self.lean_code() {
            Some(code) => self.run_lean(code, ctx.regions().0),
            None => self.run_other(ctx, budget, env),
        }
    }

    /// The code, when it is ready and has a lean entry: callers run it
    /// first, apart from the rest, since a short program's run is mostly
    /// its call, and the other paths' stacks, saved registers and
    /// arguments would be set up for it too.
    #[inline]
    pub(crate) fn lean_code(&self) -> Option<&JitCode> {
        self.ready_code().filter(|code| code.is_lean())
    }

    /// The code, when it was compiled before this was returned (not by a
    /// tiered start): the one test hot paths make.
    #[inline]
    pub(crate) fn ready_code(&self) -> Option<&JitCode> {
        match &self.native {
            Native::Ready(code) => Some(code),
            _ => None,
        }
    }

    /// [`Prepared::run`] of anything but code with a lean entry ready.
    #[inline(never)]
    pub(crate) fn run_other<C: Context + ?Sized>(
        &self,
        ctx: &mut C,
        budget: Option<u64>,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        let (mem, packet) = ctx.regions();
        if let Some(code) = self.jit_code() {
            if code.is_lean() {
                return self.run_lean(code, mem);
            }
            if self.leaf {
                return self.run_leaf(code, mem, packet, budget, env);
            }
            // Native code on a frame zeroed only where it can read.
            if let Some(depth) = *self.stack_depth() {
                return with_partly_zeroed_stack(self.frames, depth, |stack| {
                    outcome(
                        &self.program,
                        code.run_partly_zeroed(mem, packet, stack, budget.unwrap_or(0), env),
                    )
                });
            }
        }
        with_stack(self.frames, |stack| {
            self.run_with_stack(mem, packet, stack, budget, env)
        })
    }

    /// Bytes below r10 the program can touch in any frame (`None`: not
    /// bounded), found on first use.
    fn stack_depth(&self) -> &Option<usize> {
        self.stack_depth
            .get_or_init(|| ebpf::stack_depth::stack_depth(&self.program))
    }

    /// Bytes a stack for this program needs: its frames.
    pub(crate) fn stack_len(&self) -> usize {
        self.frames * FRAME_SIZE as usize
    }

    /// As [`Prepared::run`], on `stack` (at least [`Prepared::stack_len`]
    /// bytes, its top the entry frame's r10) kept from run to run: only
    /// the part of each frame the program can touch
    /// ([`ebpf::stack_depth`]) is zeroed, so every run starts from the same
    /// stack without paying for the whole of it.
    pub(crate) fn run_on_stack<C: Context + ?Sized>(
        &self,
        ctx: &mut C,
        stack: &mut [u8],
        budget: Option<u64>,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        if let Some(code) = self.jit_code() {
            // Leaf and lean code keep their stack in their own native frame.
            if code.is_lean() {
                return self.run_lean(code, ctx.regions().0);
            }
            if self.leaf {
                let (mem, packet) = ctx.regions();
                return self.run_leaf(code, mem, packet, budget, env);
            }
        }
        let Some(stack) = self.cleared_stack(stack) else {
            return self.run(ctx, budget, env);
        };
        let (mem, packet) = ctx.regions();
        self.run_with_stack(mem, packet, stack, budget, env)
    }

    /// The top [`Prepared::stack_len`] bytes of `stack` with the part of
    /// each frame the program can touch zeroed; `None` if `stack` is
    /// smaller.
    fn cleared_stack<'s>(&self, stack: &'s mut [u8]) -> Option<&'s mut [u8]> {
        const FRAME: usize = FRAME_SIZE as usize;
        let at = stack.len().checked_sub(self.stack_len())?;
        let stack = &mut stack[at..];
        match *self.stack_depth() {
            // (Not even an empty fill: that is still a call to memset.)
            Some(0) => {}
            Some(depth) => {
                for frame in stack.rchunks_exact_mut(FRAME) {
                    frame[FRAME - depth..].fill(0);
                }
            }
            None => stack.fill(0),
        }
        Some(stack)
    }

    /// Runs non-leaf code, or the interpreter, on a prepared `stack`.
    fn run_with_stack(
        &self,
        mem: &mut [u8],
        packet: Option<&[u8]>,
        stack: &mut [u8],
        budget: Option<u64>,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        match self.jit_code() {
            Some(code) => outcome(
                &self.program,
                code.run(mem, packet, stack, budget.unwrap_or(0), env),
            ),
            None => self.decoded().run_on_stack(mem, packet, stack, budget, env),
        }
    }

    /// A run of code with a lean entry (which reads no legacy packet).
    #[inline]
    pub(crate) fn run_lean(&self, code: &JitCode, mem: &mut [u8]) -> Result<u64, ExecError> {
        match code.run_lean(mem) {
            Ok(r0) => Ok(r0),
            Err(raw) => self.failed(raw),
        }
    }

    /// The result of native code that ended with an error status.
    #[cold]
    #[inline(never)]
    pub(crate) fn failed(&self, raw: RawOutcome) -> Result<u64, ExecError> {
        outcome(&self.program, raw)
    }

    /// Leaf code's run: native, or the interpreter from the start when the
    /// code hands the input over.
    fn run_leaf(
        &self,
        code: &JitCode,
        mem: &mut [u8],
        packet: Option<&[u8]>,
        budget: Option<u64>,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        let handed_over = match packet {
            Some(packet) => code.run_leaf(packet, mem).map(u64::from),
            None => None,
        };
        match handed_over {
            Some(r0) => Ok(r0),
            // Leaf code is compiled only for programs without side
            // effects: running the input again from the start on the
            // interpreter gives exactly the result.
            None => self.interpret(mem, packet, budget, env),
        }
    }

    /// Runs on the eBPF interpreter whatever the engine (the fallback of
    /// leaf code).
    pub(crate) fn interpret(
        &self,
        mem: &mut [u8],
        packet: Option<&[u8]>,
        budget: Option<u64>,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        with_stack(self.frames, |stack| {
            self.decoded().run_on_stack(mem, packet, stack, budget, env)
        })
    }

    /// [`Prepared::interpret`] on a stack kept from run to run (grown to
    /// [`Prepared::stack_len`] bytes on first use): only the part of each
    /// frame the program can touch is zeroed, as in
    /// [`Prepared::run_on_stack`].
    pub(crate) fn interpret_on_stack(
        &self,
        mem: &mut [u8],
        packet: Option<&[u8]>,
        stack: &mut Vec<u8>,
        budget: Option<u64>,
        env: &dyn Environment,
    ) -> Result<u64, ExecError> {
        if stack.len() < self.stack_len() {
            *stack = vec![0; self.stack_len()];
        }
        match self.cleared_stack(stack) {
            Some(stack) => self.decoded().run_on_stack(mem, packet, stack, budget, env),
            None => self.interpret(mem, packet, budget, env),
        }
    }
}

/// Native code written directly now when it can be (microseconds), else
/// `program` queued for the background compiler (Cranelift), or compiled
/// here if that thread cannot be started.
fn compile_in_background(program: &Program, jit: &JitOptions) -> Native {
    // Code written directly takes microseconds even for long programs:
    // nothing to wait for on another thread.
    if let Ok(code) = JitCode::compile_directly(program, jit) {
        return Native::Ready(code);
    }
    let slot = Arc::new(OnceLock::new());
    let job = BackgroundJob {
        program: program.clone(),
        options: jit.clone(),
        slot: Arc::downgrade(&slot),
    };
    match background_compiler().map(|queue| queue.send(job)) {
        Some(Ok(())) => Native::Background(slot),
        _ => compile_if_possible(program, jit),
    }
}

/// Native code compiled now, or none with the JIT's reason.
fn compile_if_possible(program: &Program, jit: &JitOptions) -> Native {
    match JitCode::compile(program, jit) {
        Ok(code) => Native::Ready(code),
        Err(e) => Native::None(Some(e)),
    }
}

/// A program waiting for the background compiler. The slot is weak: a
/// program dropped before its turn is not compiled at all.
struct BackgroundJob {
    program: Program,
    options: JitOptions,
    slot: std::sync::Weak<OnceLock<Result<JitCode, JitError>>>,
}

/// The queue of the one background compiler thread, started on first
/// use (`None` if it could not be). One thread, so programs built and
/// dropped in quick succession cost at most one compile at a time; each
/// runs on the interpreter until its turn.
fn background_compiler() -> Option<&'static std::sync::mpsc::Sender<BackgroundJob>> {
    static QUEUE: OnceLock<Option<std::sync::mpsc::Sender<BackgroundJob>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (send, receive) = std::sync::mpsc::channel::<BackgroundJob>();
            std::thread::Builder::new()
                .name("cranebpf-jit".into())
                .spawn(move || {
                    for job in receive {
                        if job.slot.strong_count() == 0 {
                            continue;
                        }
                        // The slot is filled whatever happens, so waiting
                        // for it ends.
                        let code = std::panic::catch_unwind(|| {
                            JitCode::compile(&job.program, &job.options)
                        })
                        .unwrap_or_else(|_| Err(JitError::Codegen("the JIT panicked".into())));
                        if let Some(slot) = job.slot.upgrade() {
                            let _ = slot.set(code);
                        }
                    }
                })
                .ok()
                .map(|_| send)
        })
        .as_ref()
}

/// As [`with_stack`], the stack left uninitialised but for the top
/// `depth` bytes of each frame, zeroed: all a program whose accesses
/// reach `depth` bytes below r10 can read before writing
/// ([`ebpf::stack_depth`]).
fn with_partly_zeroed_stack<T>(
    frames: usize,
    depth: usize,
    f: impl FnOnce(&mut [MaybeUninit<u8>]) -> T,
) -> T {
    const FRAME: usize = FRAME_SIZE as usize;
    fn zeroed_tops(stack: &mut [MaybeUninit<u8>], depth: usize) -> &mut [MaybeUninit<u8>] {
        for frame in stack.rchunks_exact_mut(FRAME) {
            frame[FRAME - depth..].fill(MaybeUninit::new(0));
        }
        stack
    }
    let depth = depth.min(FRAME);
    match frames {
        0 | 1 => f(zeroed_tops(&mut [MaybeUninit::uninit(); FRAME], depth)),
        2 => f(zeroed_tops(&mut [MaybeUninit::uninit(); 2 * FRAME], depth)),
        3 | 4 => f(zeroed_tops(&mut [MaybeUninit::uninit(); 4 * FRAME], depth)),
        _ => f(zeroed_tops(
            &mut [MaybeUninit::uninit(); ebpf::MAX_CALL_FRAMES * FRAME],
            depth,
        )),
    }
}

/// Runs `f` with a zeroed stack of `frames` frames (on the host stack: a
/// run allocates nothing), rounded up to 1, 2, 4 or 8 frames.
fn with_stack<T>(frames: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
    const FRAME: usize = FRAME_SIZE as usize;
    match frames {
        0 | 1 => f(&mut [0u8; FRAME]),
        2 => f(&mut [0u8; 2 * FRAME]),
        3 | 4 => f(&mut [0u8; 4 * FRAME]),
        _ => f(&mut [0u8; ebpf::MAX_CALL_FRAMES * FRAME]),
    }
}

/// How to build an [`EbpfProgram`].
#[derive(Clone, Debug)]
pub struct EbpfOptions {
    /// Helpers the program may call.
    pub helpers: Helpers,
    /// Instruction budget per run; recursion, and loops the verifier cannot
    /// prove to finish, need one.
    pub budget: Option<u64>,
    /// The engine; `None`: the JIT when it compiles the program for this
    /// host, else the interpreter.
    pub engine: Option<Engine>,
    /// JIT settings.
    pub jit: JitOptions,
}

impl Default for EbpfOptions {
    fn default() -> Self {
        EbpfOptions {
            helpers: Helpers::new(),
            budget: None,
            engine: None,
            jit: JitOptions::default(),
        }
    }
}

/// Why an [`EbpfProgram`] could not be built.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The verifier refused the program.
    Verify(VerifyError),
    /// The JIT was required and could not compile it.
    Jit(JitError),
    /// The engine asked for does not run eBPF programs ([`Engine::Cbpf`]).
    NotEbpfEngine(Engine),
    /// A callback (`bpf_loop`'s) this crate cannot expand.
    Callback(ebpf::callbacks::CallbackError),
}

impl std::fmt::Display for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BuildError::Verify(e) => write!(f, "refused by the verifier: {e}"),
            BuildError::Jit(e) => e.fmt(f),
            BuildError::NotEbpfEngine(e) => write!(
                f,
                "the {e} engine runs classic programs only; use interp or jit for eBPF"
            ),
            BuildError::Callback(e) => write!(f, "refused: {e}"),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Verify(e) => Some(e),
            BuildError::Jit(e) => Some(e),
            BuildError::NotEbpfEngine(_) => None,
            BuildError::Callback(e) => Some(e),
        }
    }
}

/// A verified eBPF program, ready to run on either engine.
#[derive(Debug)]
pub struct EbpfProgram {
    core: Prepared,
    helpers: Helpers,
    budget: Option<u64>,
    /// The lean entry of native code compiled before this was returned:
    /// the code is `core`'s, which is never replaced, so it lives as long
    /// as the program.
    lean: Option<DetachedLeanEntry>,
}

impl EbpfProgram {
    /// Verifies `program` (no helpers, no budget) and compiles it with the
    /// JIT, falling back to the interpreter.
    pub fn new(program: Program) -> Result<EbpfProgram, BuildError> {
        EbpfProgram::with_options(program, EbpfOptions::default())
    }

    /// Verifies and prepares `program` as `options` say.
    pub fn with_options(program: Program, options: EbpfOptions) -> Result<EbpfProgram, BuildError> {
        if let Some(engine) = options.engine.filter(|e| !e.runs_ebpf()) {
            return Err(BuildError::NotEbpfEngine(engine));
        }
        let program = ebpf::callbacks::expand_callbacks(&program).map_err(BuildError::Callback)?;
        ebpf::verify::verify_with(&program, &options.helpers, options.budget)
            .map_err(BuildError::Verify)?;
        let mut jit_options = options.jit.clone();
        jit_options.budget = options.budget.is_some();
        // Helpers may have side effects: never leaf code, which re-runs.
        jit_options.leaf = false;
        jit_options.batch = false;
        // Code that calls nothing needs no context: enter it with the
        // memory alone (a short program's run was mostly that set-up).
        jit_options.lean_entry = match options.budget {
            None => crate::jit::lean_entry_for(&program),
            Some(_) => None,
        };
        let core = Prepared::new(program, Compile::for_engine(options.engine), &jit_options)
            .map_err(BuildError::Jit)?;
        let lean = core.lean_code().and_then(JitCode::lean_entry);
        Ok(EbpfProgram {
            core,
            helpers: options.helpers,
            budget: options.budget,
            lean,
        })
    }

    /// The engine that runs this program ([`Engine::Jit`] or
    /// [`Engine::Interp`]).
    pub fn engine(&self) -> Engine {
        self.core.engine()
    }

    /// Why the JIT was not used, when it was tried and failed.
    pub fn jit_error(&self) -> Option<&JitError> {
        self.core.jit_error()
    }

    /// The program as verified.
    pub fn program(&self) -> &Program {
        self.core.program()
    }

    /// The JIT's code, when it is the engine.
    pub fn jit_code(&self) -> Option<&JitCode> {
        self.core.jit_code()
    }

    /// Runs with r1 = `mem` and r2 = its length; returns r0.
    #[inline]
    pub fn run(&self, mem: &mut [u8]) -> Result<u64, ExecError> {
        self.run_on(mem)
    }

    /// Runs on `ctx` (see [`Context`]); returns r0.
    #[inline]
    pub fn run_on<C: Context + ?Sized>(&self, ctx: &mut C) -> Result<u64, ExecError> {
        // (Not `Prepared::run`: the arguments of the other paths would be
        // made before the test, on the short programs' hot path.)
        match self.lean {
            // SAFETY: the entry of `self.core`'s code, which `self` owns
            // and never replaces (see the field): the code is alive.
            Some(entry) => match unsafe { entry.run(ctx.regions().0) } {
                Ok(r0) => Ok(r0),
                Err(raw) => self.lean_failed(raw),
            },
            None => self.run_other(ctx),
        }
        .map_err(|e| *e)
    }

    /// [`EbpfProgram::run_on`] of anything but code with a lean entry.
    ///
    /// The error comes boxed, as from [`EbpfProgram::lean_failed`]: a
    /// result of two words comes back in registers, where a whole one
    /// would come through memory that the lean path, meeting it, would
    /// then write and read back on every run.
    #[inline(never)]
    fn run_other<C: Context + ?Sized>(&self, ctx: &mut C) -> Result<u64, Box<ExecError>> {
        self.core
            .run_other(ctx, self.budget, &HelpersEnv(&self.helpers))
            .map_err(Box::new)
    }

    /// The result of a lean run that ended with an error status, the
    /// error boxed (see [`EbpfProgram::run_other`]).
    #[cold]
    #[inline(never)]
    fn lean_failed(&self, raw: RawOutcome) -> Result<u64, Box<ExecError>> {
        self.core.failed(raw).map_err(Box::new)
    }
}

/// Maps what generated code reported to the engines' shared result type.
fn outcome(program: &Program, raw: RawOutcome) -> Result<u64, ExecError> {
    let pc = raw.pc as usize;
    match raw.status {
        status::OK => Ok(raw.r0),
        status::ABORT_ZERO => Ok(0),
        status::OUT_OF_BOUNDS => Err(ExecError::OutOfBounds {
            pc,
            addr: raw.addr,
            size: (raw.info & 0xff) as usize,
            write: raw.info & 0x100 != 0,
        }),
        status::BUDGET => Err(ExecError::BudgetExhausted {
            pc: skip_instructions(program, pc, raw.addr),
        }),
        status::UNKNOWN_HELPER => Err(ExecError::UnknownHelper { pc, id: raw.addr }),
        status::HELPER_PANICKED => Err(ExecError::HelperPanicked { pc, id: raw.addr }),
        status::CALL_DEPTH => Err(ExecError::CallDepthExceeded { pc }),
        // What the interpreter reports for the same (unverifiable) path.
        status::FELL_OFF_END => Err(ExecError::Verify(VerifyError {
            pc,
            rule: ebpf::Rule::FallsOffEnd,
        })),
        // Only leaf code hands over, and `Prepared::run` runs leaf code
        // through its own path; reaching here would be a bug, reported
        // rather than hidden.
        other => Err(ExecError::NotCompiled(format!(
            "native code ended with unexpected status {other}"
        ))),
    }
}

/// The slot reached from `pc` after `n` instructions (`lddw` is one).
fn skip_instructions(program: &Program, mut pc: usize, n: u64) -> usize {
    for _ in 0..n {
        pc += program.insns.get(pc).map_or(1, |i| i.width());
    }
    pc
}
