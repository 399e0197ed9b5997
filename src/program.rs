//! [`EbpfProgram`]: one API over both eBPF engines, the JIT chosen when it
//! can run and the interpreter otherwise.

use crate::ebpf::{self, ExecError, Helpers, HelpersEnv, Program, VerifyError};
use crate::engine::Engine;
use crate::jit::runtime::{status, FRAME_SIZE};
use crate::jit::{JitCode, JitError, JitOptions, RawOutcome};

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
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Verify(e) => Some(e),
            BuildError::Jit(e) => Some(e),
            BuildError::NotEbpfEngine(_) => None,
        }
    }
}

/// A verified eBPF program, ready to run on either engine.
#[derive(Debug)]
pub struct EbpfProgram {
    program: Program,
    helpers: Helpers,
    budget: Option<u64>,
    code: Option<JitCode>,
    jit_error: Option<JitError>,
    has_local_calls: bool,
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
        ebpf::verify::verify_with(&program, &options.helpers, options.budget)
            .map_err(BuildError::Verify)?;
        let mut jit_options = options.jit.clone();
        jit_options.budget = options.budget.is_some();
        let (code, jit_error) = match options.engine {
            None => match JitCode::compile(&program, &jit_options) {
                Ok(c) => (Some(c), None),
                Err(e) => (None, Some(e)),
            },
            Some(Engine::Jit) => (
                Some(JitCode::compile(&program, &jit_options).map_err(BuildError::Jit)?),
                None,
            ),
            // The interpreter (the only other eBPF engine, checked above).
            Some(_) => (None, None),
        };
        let has_local_calls = program.has_local_calls();
        Ok(EbpfProgram {
            program,
            helpers: options.helpers,
            budget: options.budget,
            code,
            jit_error,
            has_local_calls,
        })
    }

    /// The engine that runs this program ([`Engine::Jit`] or
    /// [`Engine::Interp`]).
    pub fn engine(&self) -> Engine {
        if self.code.is_some() {
            Engine::Jit
        } else {
            Engine::Interp
        }
    }

    /// Why the JIT was not used, when it was tried and failed.
    pub fn jit_error(&self) -> Option<&JitError> {
        self.jit_error.as_ref()
    }

    /// The program as verified.
    pub fn program(&self) -> &Program {
        &self.program
    }

    /// The JIT's code, when it is the engine.
    pub fn jit_code(&self) -> Option<&JitCode> {
        self.code.as_ref()
    }

    /// Runs with r1 = `mem` and r2 = its length; returns r0.
    pub fn run(&self, mem: &mut [u8]) -> Result<u64, ExecError> {
        let Some(code) = &self.code else {
            let opts = ebpf::RunOptions {
                helpers: self.helpers.clone(),
                budget: self.budget,
            };
            return ebpf::interp::run(&self.program, mem, &opts);
        };
        let env = HelpersEnv(&self.helpers);
        let budget = self.budget.unwrap_or(0);
        let raw = if self.has_local_calls {
            let mut stack = [0u8; FRAME_SIZE as usize * ebpf::MAX_CALL_FRAMES];
            code.run(mem, None, &mut stack, budget, &env)
        } else {
            let mut stack = [0u8; FRAME_SIZE as usize];
            code.run(mem, None, &mut stack, budget, &env)
        };
        outcome(&self.program, raw)
    }
}

/// Maps what generated code reported to the engines' shared result type.
pub(crate) fn outcome(program: &Program, raw: RawOutcome) -> Result<u64, ExecError> {
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
        // Only leaf code hands over, and EbpfProgram never compiles leaf
        // code; reaching here would be a bug, reported rather than hidden.
        other => Err(ExecError::NotCompiled(format!(
            "native code ended with unexpected status {other}"
        ))),
    }
}

/// The slot reached from `pc` after `n` instructions (`lddw` is one).
fn skip_instructions(program: &Program, mut pc: usize, n: u64) -> usize {
    for _ in 0..n {
        let wide = program.insns.get(pc).is_some_and(|i| i.is_lddw());
        pc += if wide { 2 } else { 1 };
    }
    pc
}
