//! Choice of execution engine, so callers (CLI, conformance runner) stay
//! the same when more engines exist.

use super::error::ExecError;
use super::insn::Program;
use super::interp::{self, RunOptions};
use crate::jit::JitOptions;
use crate::program::{BuildError, EbpfOptions, EbpfProgram, EngineChoice};
use std::fmt;
use std::str::FromStr;

/// An engine that runs eBPF programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Engine {
    /// The reference interpreter ([`interp`]).
    #[default]
    Interp,
    /// Native code from the JIT ([`crate::jit`]), with no fallback.
    Jit,
}

impl Engine {
    /// Every engine, in the order they are listed to users.
    pub const ALL: &'static [Engine] = &[Engine::Interp, Engine::Jit];

    /// The name users type (`--engine NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Interp => "interp",
            Engine::Jit => "jit",
        }
    }

    /// Verifies and runs `prog` on `mem`, returning r0.
    pub fn run(self, prog: &Program, mem: &mut [u8], opts: &RunOptions) -> Result<u64, ExecError> {
        match self {
            Engine::Interp => interp::run(prog, mem, opts),
            Engine::Jit => {
                let options = EbpfOptions {
                    helpers: opts.helpers.clone(),
                    budget: opts.budget,
                    engine: EngineChoice::Jit,
                    jit: JitOptions {
                        verify_ir: true,
                        ..JitOptions::default()
                    },
                };
                match EbpfProgram::with_options(prog.clone(), options) {
                    Ok(p) => p.run(mem),
                    Err(BuildError::Verify(e)) => Err(ExecError::Verify(e)),
                    Err(BuildError::Jit(e)) => Err(ExecError::NotCompiled(e.to_string())),
                }
            }
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Engine, String> {
        Engine::ALL
            .iter()
            .copied()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Engine::ALL.iter().map(|e| e.name()).collect();
                format!("unknown engine '{s}' (available: {})", names.join(", "))
            })
    }
}
