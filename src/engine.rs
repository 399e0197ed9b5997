//! [`Engine`]: the one name for "what runs a program", shared by classic
//! filters, eBPF programs, the CLI's `--engine` and the benches. Where a
//! caller may leave the choice to the library, it passes `Option<Engine>`
//! (`None`: the JIT when it compiles the program for this host, else the
//! eBPF interpreter).

use std::fmt;
use std::str::FromStr;

/// An engine that runs programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[non_exhaustive]
pub enum Engine {
    /// The reference classic interpreter, directly over classic
    /// instructions (classic programs only).
    Cbpf,
    /// The eBPF interpreter (over the translation, for classic programs).
    Interp,
    /// Native code from the JIT (over the translation, for classic
    /// programs).
    Jit,
}

impl Engine {
    /// Every engine, in the order they are listed to users.
    pub const ALL: [Engine; 3] = [Engine::Cbpf, Engine::Interp, Engine::Jit];

    /// The engines that run eBPF programs.
    pub const EBPF: [Engine; 2] = [Engine::Interp, Engine::Jit];

    /// The name users type (`--engine NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Engine::Cbpf => "cbpf",
            Engine::Interp => "interp",
            Engine::Jit => "jit",
        }
    }

    /// Whether this engine runs eBPF programs.
    pub fn runs_ebpf(self) -> bool {
        Engine::EBPF.contains(&self)
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not an engine's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownEngine(pub String);

impl fmt::Display for UnknownEngine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = Engine::ALL.iter().map(|e| e.name()).collect();
        write!(
            f,
            "unknown engine '{}' (available: {})",
            self.0,
            names.join(", ")
        )
    }
}

impl std::error::Error for UnknownEngine {}

impl FromStr for Engine {
    type Err = UnknownEngine;

    fn from_str(s: &str) -> Result<Engine, UnknownEngine> {
        Engine::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| UnknownEngine(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back() {
        for engine in Engine::ALL {
            assert_eq!(engine.name().parse::<Engine>(), Ok(engine));
        }
        let err = "fast".parse::<Engine>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown engine 'fast' (available: cbpf, interp, jit)"
        );
    }
}
