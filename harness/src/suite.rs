//! The eBPF conformance suite's `.data` test format and a runner for it,
//! usable with either eBPF [`Engine`].
//!
//! Format (see `shared/bpf-conformance/README.md`): any line containing
//! `--` starts a section — `-- asm` (program), `-- result` (expected r0),
//! `-- mem` (input memory, hex bytes), `-- raw` (pre-encoded 64-bit words
//! that replace the asm program), `-- error` (an expected error), `-- c`
//! (ignored), `-- no register offset` (a legacy uBPF marker; its body lines
//! are ignored, and a later header such as `-- result` still counts, as in
//! `mem-len.data`). `#` starts a comment. An unknown section is an error here
//! (upstream would skip the file silently; we never skip).
//!
//! Each test runs with r1/r2 = its memory, the conformance helpers
//! ([`Helpers::conformance`]) and a budget of [`BUDGET`] instructions (the
//! suite has loops, e.g. `prime.data`, which are accepted only with a
//! budget).

use cranebpf::ebpf::asm::assemble;
use cranebpf::ebpf::helpers::Helpers;
use cranebpf::ebpf::insn::{Insn, Program};
use cranebpf::ebpf::ExecError;
use cranebpf::engine::Engine;
use cranebpf::jit::JitOptions;
use cranebpf::program::{BuildError, EbpfOptions, EbpfProgram};
use std::fmt;
use std::path::{Path, PathBuf};

/// Instruction budget for each conformance test.
pub const BUDGET: u64 = 1_000_000;

/// One parsed `.data` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// File name without `.data`.
    pub name: String,
    /// The program (from `-- raw` when present, else from `-- asm`).
    pub program: Program,
    /// Input memory (empty when the file has no `-- mem`).
    pub mem: Vec<u8>,
    /// Expected final r0.
    pub expected: Option<u64>,
    /// Expected error text (the last non-empty line of `-- error`).
    pub expected_error: Option<String>,
}

/// A malformed `.data` file: which line and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    /// 1-based line in the file.
    pub line: usize,
    /// 1-based column, when known (0 otherwise).
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 0 {
            write!(
                f,
                "line {}, column {}: {}",
                self.line, self.column, self.message
            )
        } else {
            write!(f, "line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for DataError {}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    None,
    Asm,
    Result,
    Mem,
    Raw,
    Error,
    Ignored,
}

fn section_of(header: &str) -> Option<Section> {
    // Upstream picks the type by substring, in this order.
    [
        ("-- asm", Section::Asm),
        ("-- result", Section::Result),
        ("-- mem", Section::Mem),
        ("-- raw", Section::Raw),
        ("-- error", Section::Error),
        ("-- c", Section::Ignored),
        ("-- no register offset", Section::Ignored),
    ]
    .iter()
    .find(|(h, _)| header.contains(h))
    .map(|&(_, s)| s)
}

/// Parses the text of a `.data` file named `name`.
pub fn parse(name: &str, text: &str) -> Result<TestCase, DataError> {
    let fail = |line: usize, message: String| DataError {
        line,
        column: 0,
        message,
    };
    let mut section = Section::None;
    // Non-asm lines become blank so assembler line numbers are file lines.
    let mut asm = String::new();
    let mut raw: Option<Vec<Insn>> = None;
    let mut mem = Vec::new();
    let mut result_text: Option<(usize, String)> = None;
    let mut error_text: Option<String> = None;
    for (idx, full) in text.lines().enumerate() {
        let n = idx + 1;
        let line = full.strip_suffix('\r').unwrap_or(full);
        if line.contains("--") {
            section = section_of(line)
                .ok_or_else(|| fail(n, format!("unknown section header '{}'", line.trim())))?;
            match section {
                Section::Raw => raw = Some(Vec::new()),
                Section::Error => error_text = Some(String::new()),
                _ => {}
            }
            asm.push('\n');
            continue;
        }
        let body = line.split('#').next().unwrap_or("").trim();
        if section == Section::Asm {
            asm.push_str(line);
        }
        asm.push('\n');
        if body.is_empty() {
            continue;
        }
        match section {
            Section::None => return Err(fail(n, "text before the first section".into())),
            Section::Asm | Section::Ignored => {}
            Section::Result => {
                if result_text.is_some() {
                    return Err(fail(n, "more than one result value".into()));
                }
                result_text = Some((n, body.to_string()));
            }
            Section::Mem => {
                for tok in body.split_whitespace() {
                    let byte = u8::from_str_radix(tok, 16)
                        .map_err(|_| fail(n, format!("invalid memory byte '{tok}'")))?;
                    mem.push(byte);
                }
            }
            Section::Raw => {
                for tok in body.split_whitespace() {
                    let word = parse_u64(tok)
                        .ok_or_else(|| fail(n, format!("invalid raw instruction '{tok}'")))?;
                    if let Some(r) = raw.as_mut() {
                        r.push(Insn::from_u64(word));
                    }
                }
            }
            Section::Error => error_text = Some(body.to_string()),
        }
    }
    let expected = match result_text {
        Some((n, t)) => {
            Some(parse_u64(&t).ok_or_else(|| fail(n, format!("invalid result value '{t}'")))?)
        }
        None => None,
    };
    let assembled = assemble(&asm).map_err(|e| DataError {
        line: e.line,
        column: e.column,
        message: e.message,
    })?;
    let program = match raw {
        Some(words) => Program::new(words),
        None => assembled,
    };
    if expected.is_none() && error_text.is_none() {
        return Err(fail(1, "no '-- result' or '-- error' section".into()));
    }
    Ok(TestCase {
        name: name.to_string(),
        program,
        mem,
        expected,
        expected_error: error_text,
    })
}

/// `0x…` hex, else decimal.
fn parse_u64(t: &str) -> Option<u64> {
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    }
}

/// Runs one test on `engine`; `Err` carries the reason it failed.
///
/// A test expecting an error passes when the engine refuses or aborts the
/// program; the text is not compared, because the suite's error strings
/// are those of its own runtimes.
pub fn run_case(case: &TestCase, engine: Engine) -> Result<(), String> {
    let mut mem = case.mem.clone();
    match (run_on(engine, &case.program, &mut mem), case.expected) {
        (Ok(v), Some(want)) if v == want => Ok(()),
        (Ok(v), Some(want)) => Err(format!("returned {v:#x}, expected {want:#x}")),
        (Ok(v), None) => Err(format!(
            "returned {v:#x}, expected error '{}'",
            case.expected_error.as_deref().unwrap_or("")
        )),
        (Err(_), None) => Ok(()),
        (Err(e), Some(want)) => Err(format!("{e} (expected {want:#x})")),
    }
}

/// Verifies `program` and runs it on `engine` alone (no fallback), with
/// the conformance helpers, the budget and Cranelift's IR verifier on.
fn run_on(engine: Engine, program: &Program, mem: &mut [u8]) -> Result<u64, ExecError> {
    let options = EbpfOptions {
        helpers: Helpers::conformance(),
        budget: Some(BUDGET),
        engine: Some(engine),
        jit: JitOptions {
            verify_ir: true,
            ..JitOptions::default()
        },
    };
    match EbpfProgram::with_options(program.clone(), options) {
        Ok(p) => p.run(mem),
        Err(BuildError::Verify(e)) => Err(ExecError::Verify(e)),
        Err(e) => Err(ExecError::NotCompiled(e.to_string())),
    }
}

/// Outcome of a directory run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Tests that passed.
    pub passed: usize,
    /// Failed tests: file name and reason.
    pub failures: Vec<(String, String)>,
}

/// Where the shared suite lives: `shared/bpf-conformance/tests` in the
/// nearest ancestor (or itself) of `start` that has one — `../shared` for a
/// checkout next to `shared/`.
pub fn find_suite_dir(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|a| a.join("shared/bpf-conformance/tests"))
        .find(|p| p.is_dir())
}

/// Runs every `*.data` file in `dir` (sorted by name) on `engine`.
pub fn run_dir(dir: &Path, engine: Engine) -> std::io::Result<Report> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "data"))
        .collect();
    files.sort();
    let mut report = Report::default();
    for path in files {
        let file = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let name = file.trim_end_matches(".data");
        let outcome = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                // A stray non-UTF-8 byte may sit in a comment; keep going.
                let text = String::from_utf8_lossy(&bytes);
                parse(name, &text).map_err(|e| format!("parse error: {e}"))
            })
            .and_then(|case| run_case(&case, engine));
        match outcome {
            Ok(()) => report.passed += 1,
            Err(reason) => report.failures.push((file, reason)),
        }
    }
    Ok(report)
}
