//! Code memory and targets: the Cranelift ISA (set up once per process and
//! reused); on x86-64 hosts a program of one function (every filter) is
//! compiled by `cranelift-codegen` directly into position-independent bytes
//! and mapped read-execute (`code_pages`), skipping `cranelift-jit`'s module
//! machinery; programs with local calls get one `JITModule` each (dropping
//! the program frees its code either way); raw bytes for foreign targets.

use std::sync::{Arc, OnceLock};

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{FuncRef, Function, UserFuncName};
use cranelift_codegen::isa::{self, OwnedTargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::Context;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{default_libcall_names, FuncId, Linkage, Module};
use target_lexicon::Triple;

#[cfg(all(unix, target_arch = "x86_64"))]
use super::code_pages::CodePages;
use super::lower::{self, FunctionInput, Lowered};
use super::{JitError, JitOptions};
use crate::ebpf::blocks;
use crate::ebpf::insn::Insn;

/// Builds an ISA for `triple` at `opt_level = speed` (`optimize`) or
/// `none`.
fn make_isa(triple: Triple, verify_ir: bool, optimize: bool) -> Result<OwnedTargetIsa, JitError> {
    let mut flags = settings::builder();
    let set = |f: &mut settings::Builder, k: &str, v: &str| {
        f.set(k, v)
            .map_err(|e| JitError::Target(format!("setting {k}={v}: {e}")))
    };
    set(
        &mut flags,
        "opt_level",
        if optimize { "speed" } else { "none" },
    )?;
    set(
        &mut flags,
        "enable_verifier",
        if verify_ir { "true" } else { "false" },
    )?;
    let builder = if triple == Triple::host() {
        cranelift_native::builder().map_err(|e| JitError::Target(e.to_string()))?
    } else {
        isa::lookup(triple.clone()).map_err(|e| JitError::Target(format!("{triple}: {e}")))?
    };
    builder
        .finish(settings::Flags::new(flags))
        .map_err(|e| JitError::Target(e.to_string()))
}

/// The host ISA, built on first use (one per verifier and optimiser
/// setting).
pub(crate) fn host_isa(verify_ir: bool, optimize: bool) -> Result<OwnedTargetIsa, JitError> {
    static ISAS: [OnceLock<Result<OwnedTargetIsa, String>>; 4] = [const { OnceLock::new() }; 4];
    let cell = &ISAS[usize::from(verify_ir) * 2 + usize::from(optimize)];
    cell.get_or_init(|| make_isa(Triple::host(), verify_ir, optimize).map_err(|e| e.to_string()))
        .clone()
        .map_err(JitError::Target)
}

/// Splits a program into functions: the entry at 0 and every local-call
/// target, each running up to the next one.
pub(crate) fn split_functions(insns: &[Insn]) -> Result<Vec<usize>, JitError> {
    blocks::function_starts(insns).map_err(|pc| JitError::Unsupported {
        pc,
        what: "a local call outside the program".into(),
    })
}

/// Cranelift's working memory, kept from one compile to the next on each
/// thread: a fresh `Context` and `FunctionBuilderContext` per program cost
/// a fifth of a short filter's compile in allocations (the register
/// allocator's tables above all).
struct Workspace {
    ctx: Context,
    builder: FunctionBuilderContext,
}

impl Default for Workspace {
    fn default() -> Self {
        Workspace {
            ctx: Context::new(),
            builder: FunctionBuilderContext::new(),
        }
    }
}

thread_local! {
    static WORKSPACE: std::cell::RefCell<Workspace> = std::cell::RefCell::new(Workspace::default());
}

/// Runs `f` with this thread's workspace, or a fresh one if this thread is
/// already compiling (never the case today, but not worth a panic).
fn with_workspace<T>(f: impl FnOnce(&mut Workspace) -> T) -> T {
    WORKSPACE.with(|cell| match cell.try_borrow_mut() {
        Ok(mut ws) => f(&mut ws),
        Err(_) => f(&mut Workspace::default()),
    })
}

/// Builds the CLIF of function `index` (entry = 0) into `ws.ctx.func`,
/// clearing whatever the workspace held.
fn build_function(
    ws: &mut Workspace,
    insns: &[Insn],
    starts: &[usize],
    index: usize,
    isa: &dyn isa::TargetIsa,
    options: &JitOptions,
    declare_callee: &mut dyn FnMut(&mut Function, usize) -> Option<FuncRef>,
) -> Result<Lowered, JitError> {
    ws.ctx.clear();
    ws.ctx.set_disasm(options.keep_listings);
    let func = &mut ws.ctx.func;
    func.name = UserFuncName::user(0, index as u32);
    let call_conv = isa.default_call_conv();
    func.signature = lower::function_signature(call_conv, index, options);
    // Declare every possible callee up front; the lowering picks by pc.
    let callees: Vec<(usize, FuncRef)> = starts
        .iter()
        .filter(|&&s| s != 0)
        .filter_map(|&s| declare_callee(func, s).map(|f| (s, f)))
        .collect();
    let lookup = |pc: usize| callees.iter().find(|(s, _)| *s == pc).map(|(_, f)| *f);
    let builder = FunctionBuilder::new(func, &mut ws.builder);
    let input = FunctionInput {
        insns,
        start: starts[index],
        end: starts.get(index + 1).copied().unwrap_or(insns.len()),
        callees: &lookup,
        eliminate_bounds_checks: options.eliminate_bounds_checks,
        budget: options.budget,
        frame_size: i64::from(options.frame_size),
        leaf: options.leaf,
        leaf_mem: options.leaf_mem,
        batch: options.batch,
        lean_entry: options.lean_entry,
    };
    lower::lower_function(builder, &input, call_conv, isa.frontend_config())
}

/// Where a program's code lives; freed in `Drop`.
enum CodeMemory {
    /// Its own `JITModule` (programs whose functions need linking).
    Module(Box<JITModule>),
    /// A read-execute mapping of its own (the single-function fast path:
    /// Unix on x86-64).
    #[cfg(all(unix, target_arch = "x86_64"))]
    Mapped(CodePages),
    /// Already freed.
    Freed,
}

/// Native code for the host.
pub(crate) struct HostCode {
    /// Kept alive for the code; freed in `Drop`.
    memory: CodeMemory,
    /// Address of the entry function.
    pub entry: *const u8,
    /// What the entry function requires of its caller.
    pub lowered: Lowered,
    /// CLIF text of every function, when asked for.
    pub clif: Vec<String>,
    /// Cranelift's listing of the machine code of every function, when
    /// asked for.
    pub native: Vec<String>,
    /// Written by `x64`, not Cranelift.
    pub direct: bool,
}

// SAFETY: the code memory is read-execute and never written after
// compiling; `entry` is only called (by `JitCode`, whose runs keep all
// mutable state per call), and the memory is freed only in `Drop`, when no
// reference is left. So the code may be shared and dropped across threads.
unsafe impl Send for HostCode {}
// SAFETY: see `Send`.
unsafe impl Sync for HostCode {}

impl Drop for HostCode {
    fn drop(&mut self) {
        match std::mem::replace(&mut self.memory, CodeMemory::Freed) {
            // SAFETY: `entry` points into this module's memory and is only
            // reachable through `self`, which is being dropped; no caller can
            // be running the code (running borrows `self`).
            CodeMemory::Module(module) => unsafe { module.free_memory() },
            // Unmapped or kept for reuse by its own `Drop`.
            #[cfg(all(unix, target_arch = "x86_64"))]
            CodeMemory::Mapped(pages) => drop(pages),
            CodeMemory::Freed => {}
        }
    }
}

/// Compiles a program of one function with `cranelift-codegen` alone and
/// maps the bytes; `None` when the code needs relocations after all.
#[cfg(all(unix, target_arch = "x86_64"))]
fn compile_single(
    insns: &[Insn],
    starts: &[usize],
    isa: &OwnedTargetIsa,
    options: &JitOptions,
) -> Result<Option<HostCode>, JitError> {
    with_workspace(|ws| {
        let mut no_callees = |_: &mut Function, _: usize| None;
        let lowered = build_function(ws, insns, starts, 0, &**isa, options, &mut no_callees)?;
        let clif = if options.keep_listings {
            vec![ws.ctx.func.display().to_string()]
        } else {
            Vec::new()
        };
        let code = ws
            .ctx
            .compile(&**isa, &mut ControlPlane::default())
            .map_err(|e| JitError::Codegen(format!("{:?}", e.inner)))?;
        if !code.buffer.relocs().is_empty() {
            return Ok(None);
        }
        let vcode = code.vcode.clone().unwrap_or_default();
        HostCode::mapped(code.code_buffer(), lowered, clif, vcode, options, false).map(Some)
    })
}

#[cfg(all(unix, target_arch = "x86_64"))]
impl HostCode {
    /// One function's position-independent `bytes` in a mapping of their
    /// own; with `keep_listings`, `clif` and the machine code disassembled
    /// (`fallback` where this build has no disassembler).
    fn mapped(
        bytes: &[u8],
        lowered: Lowered,
        clif: Vec<String>,
        fallback: String,
        options: &JitOptions,
        direct: bool,
    ) -> Result<HostCode, JitError> {
        let native = if options.keep_listings {
            vec![super::listing::machine_code(bytes, 0).unwrap_or(fallback)]
        } else {
            Vec::new()
        };
        let pages = CodePages::new(bytes)?;
        Ok(HostCode {
            entry: pages.entry(),
            memory: CodeMemory::Mapped(pages),
            lowered,
            clif,
            native,
            direct,
        })
    }
}

/// Maps code written by `x64` (no Cranelift IR to list).
#[cfg(all(unix, target_arch = "x86_64"))]
fn map_direct(bytes: &[u8], lowered: Lowered, options: &JitOptions) -> Result<HostCode, JitError> {
    let (clif, hex) = if options.keep_listings {
        let note = "; written directly as x86-64 (jit/x64.rs): no Cranelift IR\n";
        let hex = bytes.iter().map(|b| format!("{b:02x}")).collect();
        (vec![note.to_string()], hex)
    } else {
        (Vec::new(), String::new())
    };
    HostCode::mapped(bytes, lowered, clif, hex, options, true)
}

/// Compiles for the host: every function into one fresh module.
/// Without `cranelift`, only code written directly (`x64`): anything else
/// is `Unsupported`.
pub(crate) fn compile_host(
    insns: &[Insn],
    options: &JitOptions,
    cranelift: bool,
) -> Result<HostCode, JitError> {
    let starts = split_functions(insns)?;
    #[cfg(all(unix, target_arch = "x86_64"))]
    if options.direct && (options.leaf || options.lean_entry.is_some()) && starts.len() == 1 {
        match super::x64::emit(insns, options) {
            Ok((bytes, lowered)) => return map_direct(&bytes, lowered, options),
            // What the writer does not cover is Cranelift's, when allowed.
            Err(JitError::Unsupported { .. }) if cranelift => {}
            Err(e) => return Err(e),
        }
    }
    if !cranelift {
        return Err(JitError::Unsupported {
            pc: 0,
            what: "code written directly on this host or with these options".into(),
        });
    }
    let isa = host_isa(options.verify_ir, options.optimize)?;
    #[cfg(all(unix, target_arch = "x86_64"))]
    if starts.len() == 1 {
        if let Some(code) = compile_single(insns, &starts, &isa, options)? {
            return Ok(code);
        }
    }
    let call_conv = isa.default_call_conv();
    let mut module = JITModule::new(JITBuilder::with_isa(isa.clone(), default_libcall_names()));
    let ids: Vec<FuncId> = (0..starts.len())
        .map(|i| {
            let sig = lower::function_signature(call_conv, i, options);
            module
                .declare_function(&format!("bpf_fn_{i}"), Linkage::Local, &sig)
                .map_err(|e| JitError::Codegen(e.to_string()))
        })
        .collect::<Result<_, _>>()?;
    let mut entry_lowered = Lowered::default();
    let mut clif = Vec::new();
    let mut vcode = Vec::new();
    let mut sizes = Vec::new();
    with_workspace(|ws| {
        for (index, &id) in ids.iter().enumerate() {
            let module_ref = &mut module;
            let mut declare = |func: &mut Function, pc: usize| {
                let i = starts.iter().position(|&s| s == pc)?;
                Some(module_ref.declare_func_in_func(ids[i], func))
            };
            let lowered = build_function(ws, insns, &starts, index, &*isa, options, &mut declare)?;
            if index == 0 {
                entry_lowered = lowered;
            }
            if options.keep_listings {
                clif.push(ws.ctx.func.display().to_string());
            }
            module
                .define_function(id, &mut ws.ctx)
                .map_err(|e| JitError::Codegen(format!("{e:?}")))?;
            if options.keep_listings {
                if let Some(code) = ws.ctx.compiled_code() {
                    vcode.push(code.vcode.clone().unwrap_or_default());
                    sizes.push(code.code_buffer().len());
                }
            }
        }
        Ok::<(), JitError>(())
    })?;
    module
        .finalize_definitions()
        .map_err(|e| JitError::Codegen(e.to_string()))?;
    let entry = module.get_finalized_function(ids[0]);
    let mut native = Vec::new();
    for ((&id, text), &size) in ids.iter().zip(vcode).zip(&sizes) {
        let start = module.get_finalized_function(id);
        // SAFETY: `start` is the finalized, readable (read-execute) code of
        // function `id`, which is `size` bytes long (its compiled buffer);
        // the module owning it is alive here and nothing writes to it.
        let bytes = unsafe { std::slice::from_raw_parts(start, size) };
        // Offsets from the function start read better than addresses.
        native.push(super::listing::machine_code(bytes, 0).unwrap_or(text));
    }
    Ok(HostCode {
        memory: CodeMemory::Module(Box::new(module)),
        entry,
        lowered: entry_lowered,
        clif,
        native,
        direct: false,
    })
}

/// Machine code for a foreign target, as position-independent bytes with
/// no relocations (only single-function programs: local calls would need
/// linking).
pub fn compile_bytes(
    insns: &[Insn],
    triple: Triple,
    options: &JitOptions,
) -> Result<Vec<u8>, JitError> {
    let isa: Arc<dyn isa::TargetIsa> = make_isa(triple, options.verify_ir, options.optimize)?;
    let starts = split_functions(insns)?;
    if starts.len() > 1 {
        return Err(JitError::Unsupported {
            pc: starts[1],
            what: "local calls when compiling to bytes".into(),
        });
    }
    with_workspace(|ws| {
        let mut no_callees = |_: &mut Function, _: usize| None;
        build_function(ws, insns, &starts, 0, &*isa, options, &mut no_callees)?;
        let code = ws
            .ctx
            .compile(&*isa, &mut ControlPlane::default())
            .map_err(|e| JitError::Codegen(format!("{:?}", e.inner)))?;
        if !code.buffer.relocs().is_empty() {
            return Err(JitError::Codegen("code needs relocations".into()));
        }
        Ok(code.code_buffer().to_vec())
    })
}
