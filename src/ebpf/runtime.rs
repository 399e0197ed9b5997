//! Running programs from clang-built objects as the kernel runs them:
//! maps, the kernel's helpers, and the XDP context.
//!
//! [`XdpProgram`] takes an object's program and maps, links the map
//! references (`lddw` with `BPF_PSEUDO_MAP_FD` / `BPF_PSEUDO_MAP_VALUE`),
//! rewrites its context accesses ([`super::context`]), verifies it with the
//! helpers below declared, and prepares it for the JIT (or the
//! interpreter) through the one prepared-program core. Each packet then
//! runs in one block of run memory, laid out as
//!
//! ```text
//! [ context block | headroom 256 | packet … | tailroom | map arenas ]
//! ```
//!
//! so that every address a program can hold (context, packet, map value)
//! lies in the memory the engines check accesses against; the stack is the
//! engines' own. Map values persist across packets; the packet area is
//! rewritten for each.
//!
//! Helpers, with the kernel's semantics (ids from `enum bpf_func_id`):
//! `map_lookup_elem` (1), `map_update_elem` (2), `map_delete_elem` (3),
//! `ktime_get_ns` (5, monotonic since the program was made, or a fixed
//! clock), `trace_printk` (6, to stderr), `get_prandom_u32` (7, seeded),
//! `get_smp_processor_id` (8, always 0: one CPU), `redirect` (23,
//! recorded), `xdp_adjust_head` (44), `xdp_adjust_meta` (54),
//! `xdp_adjust_tail` (65).
//!
//! Where this runtime is weaker than the kernel: accesses are checked
//! against the run memory as a whole, not against each object (a packet
//! pointer that strays past `data_end` into the tailroom is not refused as
//! the kernel's verifier refuses it), `.rodata` is writable, and LRU maps
//! evict the least recently used entry exactly (the kernel's LRU is
//! approximate).

use std::cell::{Cell, RefCell};
use std::sync::Mutex;
use std::time::Instant;

use super::context::{self, xdp_block, ContextError, ContextKind};
use super::elf::{ObjectProgram, PSEUDO_MAP_FD, PSEUDO_MAP_VALUE};
use super::env::{Environment, HelperMemory, HelperOutcome};
use super::maps::{map_handle, map_index, MapDef, MapSet, MapUpdateError};
use super::verify::VerifyError;
use super::{ExecError, Helpers, Program};
use crate::engine::Engine;
use crate::jit::{JitError, JitOptions};
use crate::program::Prepared;
use crate::rng::Rng;

/// Helper ids this runtime serves.
pub mod helper {
    /// `bpf_map_lookup_elem`.
    pub const MAP_LOOKUP_ELEM: u32 = 1;
    /// `bpf_map_update_elem`.
    pub const MAP_UPDATE_ELEM: u32 = 2;
    /// `bpf_map_delete_elem`.
    pub const MAP_DELETE_ELEM: u32 = 3;
    /// `bpf_ktime_get_ns`.
    pub const KTIME_GET_NS: u32 = 5;
    /// `bpf_trace_printk`.
    pub const TRACE_PRINTK: u32 = 6;
    /// `bpf_get_prandom_u32`.
    pub const GET_PRANDOM_U32: u32 = 7;
    /// `bpf_get_smp_processor_id`.
    pub const GET_SMP_PROCESSOR_ID: u32 = 8;
    /// `bpf_redirect`.
    pub const REDIRECT: u32 = 23;
    /// `bpf_xdp_adjust_head`.
    pub const XDP_ADJUST_HEAD: u32 = 44;
    /// `bpf_xdp_adjust_meta`.
    pub const XDP_ADJUST_META: u32 = 54;
    /// `bpf_xdp_adjust_tail`.
    pub const XDP_ADJUST_TAIL: u32 = 65;
    /// Every id served.
    pub const ALL: [u32; 11] = [
        MAP_LOOKUP_ELEM,
        MAP_UPDATE_ELEM,
        MAP_DELETE_ELEM,
        KTIME_GET_NS,
        TRACE_PRINTK,
        GET_PRANDOM_U32,
        GET_SMP_PROCESSOR_ID,
        REDIRECT,
        XDP_ADJUST_HEAD,
        XDP_ADJUST_META,
        XDP_ADJUST_TAIL,
    ];
}

/// `XDP_PACKET_HEADROOM`.
pub const HEADROOM: usize = 256;
/// `sizeof(struct skb_shared_info)` on x86-64: the tailroom a frame keeps.
const TAILROOM: usize = 320;
/// `sizeof(struct xdp_frame)`: `adjust_head` and `adjust_meta` may not
/// reach into it.
const XDP_FRAME_SIZE: usize = 40;
/// A frame is at least one page, as `BPF_PROG_TEST_RUN` gives one.
const PAGE: usize = 4096;
/// The largest packet a run takes.
pub const MAX_PACKET: usize = 65_535;
const ETH_HLEN: u64 = 14;
const FRAME_AT: usize = 64;
const FRAME_SIZE: usize = HEADROOM + MAX_PACKET + TAILROOM + PAGE;

const EINVAL: i64 = 22;
const EACCES: i64 = 13;

/// What `ktime_get_ns` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// Nanoseconds since the program was made (monotonic).
    Monotonic,
    /// `start`, then `start + step`, … one step per call: reproducible runs.
    Fixed {
        /// The first value.
        start: u64,
        /// Added after each call.
        step: u64,
    },
}

/// How to build an [`XdpProgram`].
#[derive(Clone, Debug)]
pub struct XdpOptions {
    /// The engine; `None`: the JIT, else the interpreter.
    pub engine: Option<Engine>,
    /// Instruction budget per packet (loops the verifier cannot prove to
    /// finish need one).
    pub budget: Option<u64>,
    /// `xdp_md.ingress_ifindex` (default 1, loopback, as a kernel test run).
    pub ingress_ifindex: u32,
    /// `xdp_md.rx_queue_index`.
    pub rx_queue_index: u32,
    /// `ktime_get_ns`'s clock.
    pub clock: Clock,
    /// Seed of `get_prandom_u32`.
    pub seed: u64,
    /// Print `trace_printk` output on stderr (otherwise it is dropped).
    pub trace: bool,
    /// JIT settings.
    pub jit: JitOptions,
}

impl Default for XdpOptions {
    fn default() -> Self {
        XdpOptions {
            engine: None,
            budget: None,
            ingress_ifindex: 1,
            rx_queue_index: 0,
            clock: Clock::Monotonic,
            seed: 0,
            trace: true,
            jit: JitOptions::default(),
        }
    }
}

/// Why an [`XdpProgram`] could not be made.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RuntimeError {
    /// A context access the kernel refuses.
    Context(ContextError),
    /// A map reference to no map.
    BadMapReference {
        /// Instruction slot.
        pc: usize,
        /// The index found.
        index: i64,
    },
    /// The verifier refused the program.
    Verify(VerifyError),
    /// The JIT was required and could not compile it.
    Jit(JitError),
    /// The engine asked for does not run eBPF.
    NotEbpfEngine(Engine),
}

impl std::fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RuntimeError::Context(e) => write!(f, "refused: {e}"),
            RuntimeError::BadMapReference { pc, index } => {
                write!(
                    f,
                    "instruction {pc}: a reference to map {index}, which does not exist"
                )
            }
            RuntimeError::Verify(e) => write!(f, "refused by the verifier: {e}"),
            RuntimeError::Jit(e) => e.fmt(f),
            RuntimeError::NotEbpfEngine(e) => write!(
                f,
                "the {e} engine runs classic programs only; use interp or jit for eBPF"
            ),
        }
    }
}

impl std::error::Error for RuntimeError {}

/// A map's entries as (key, value) bytes.
pub type MapEntries = Vec<(Vec<u8>, Vec<u8>)>;

/// What one packet's run gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XdpOutcome {
    /// The program's return value (r0): the XDP action.
    pub action: u64,
    /// The packet as the program left it (`data .. data_end`).
    pub packet: Vec<u8>,
    /// The interface `bpf_redirect` named, when it was called.
    pub redirect: Option<u32>,
}

/// Run memory and map state, one packet at a time.
#[derive(Debug)]
struct RunState {
    /// Backing bytes; the run memory starts at `base` (8-byte aligned) and
    /// never moves, so linked addresses stay valid.
    bytes: Vec<u8>,
    base: usize,
    maps: MapSet,
    rng: Rng,
    ticks: u64,
}

impl RunState {
    fn mem(&mut self) -> &mut [u8] {
        &mut self.bytes[self.base..]
    }
}

/// An XDP program from an object, with its maps, ready to run packets.
#[derive(Debug)]
pub struct XdpProgram {
    core: Prepared,
    state: Mutex<RunState>,
    options: XdpOptions,
    started: Instant,
}

impl XdpProgram {
    /// Links, checks and prepares `program` with the object's `maps`.
    pub fn new(
        program: &ObjectProgram,
        maps: &[MapDef],
        options: XdpOptions,
    ) -> Result<XdpProgram, RuntimeError> {
        if let Some(engine) = options.engine.filter(|e| !e.runs_ebpf()) {
            return Err(RuntimeError::NotEbpfEngine(engine));
        }
        let arenas_at = FRAME_AT + FRAME_SIZE;
        let set = MapSet::new(maps, arenas_at);
        let len = arenas_at + set.arena_size();
        let mut bytes = vec![0u8; len + 8];
        let base = bytes.as_ptr().align_offset(8).min(8);
        set.initialise(&mut bytes[base..]);
        let mem_addr = bytes[base..].as_ptr() as u64;
        let linked = link(&program.program, &set, mem_addr)?;
        let rewritten =
            context::rewrite(&linked, ContextKind::Xdp).map_err(RuntimeError::Context)?;
        let mut helpers = Helpers::new();
        for id in helper::ALL {
            helpers.declare(id);
        }
        super::verify::verify_with(&rewritten, &helpers, options.budget)
            .map_err(RuntimeError::Verify)?;
        let mut jit = options.jit.clone();
        jit.budget = options.budget.is_some();
        jit.leaf = false;
        let core = Prepared::new(rewritten, options.engine, &jit).map_err(RuntimeError::Jit)?;
        Ok(XdpProgram {
            core,
            state: Mutex::new(RunState {
                bytes,
                base,
                maps: set,
                rng: Rng::new(options.seed),
                ticks: 0,
            }),
            started: Instant::now(),
            options,
        })
    }

    /// The engine that runs the program.
    pub fn engine(&self) -> Engine {
        self.core.engine()
    }

    /// Why the JIT was not used, when it was tried and failed.
    pub fn jit_error(&self) -> Option<&JitError> {
        self.core.jit_error()
    }

    /// The program as it runs (maps linked, context accesses rewritten).
    pub fn program(&self) -> &Program {
        self.core.program()
    }

    /// Runs the program on one packet (at most [`MAX_PACKET`] bytes).
    pub fn run(&self, packet: &[u8]) -> Result<XdpOutcome, ExecError> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *guard;
        let len = packet.len().min(MAX_PACKET);
        let mem = state.mem();
        let mem_addr = mem.as_ptr() as u64;
        let data = FRAME_AT + HEADROOM;
        mem[FRAME_AT..data].fill(0);
        mem[data..data + len].copy_from_slice(&packet[..len]);
        let frame_len = (HEADROOM + len + TAILROOM).max(PAGE);
        mem[data + len..FRAME_AT + frame_len].fill(0);
        let put64 =
            |mem: &mut [u8], at: usize, v: u64| mem[at..at + 8].copy_from_slice(&v.to_le_bytes());
        let put32 =
            |mem: &mut [u8], at: usize, v: u32| mem[at..at + 4].copy_from_slice(&v.to_le_bytes());
        put64(mem, xdp_block::DATA, mem_addr + data as u64);
        put64(mem, xdp_block::DATA_END, mem_addr + (data + len) as u64);
        put64(mem, xdp_block::DATA_META, mem_addr + data as u64);
        put32(
            mem,
            xdp_block::INGRESS_IFINDEX,
            self.options.ingress_ifindex,
        );
        put32(mem, xdp_block::RX_QUEUE_INDEX, self.options.rx_queue_index);
        put32(mem, xdp_block::EGRESS_IFINDEX, 0);
        let env = XdpEnv {
            maps: RefCell::new(&mut state.maps),
            rng: RefCell::new(&mut state.rng),
            ticks: Cell::new(state.ticks),
            redirect: Cell::new(None),
            frame_end: mem_addr + (FRAME_AT + frame_len - TAILROOM) as u64,
            frame_start: mem_addr + FRAME_AT as u64,
            options: &self.options,
            started: self.started,
        };
        let result = self
            .core
            .run(&mut state.bytes[state.base..], self.options.budget, &env);
        let redirect = env.redirect.get();
        state.ticks = env.ticks.get();
        let action = result?;
        let mem = state.mem();
        let field = |at: usize| u64::from_le_bytes(mem[at..at + 8].try_into().unwrap_or([0; 8]));
        let (lo, hi) = (field(xdp_block::DATA), field(xdp_block::DATA_END));
        let inside = lo >= mem_addr && lo <= hi && hi <= mem_addr + mem.len() as u64;
        let bytes = if inside {
            mem[(lo - mem_addr) as usize..(hi - mem_addr) as usize].to_vec()
        } else {
            Vec::new()
        };
        Ok(XdpOutcome {
            action,
            packet: bytes,
            redirect,
        })
    }

    /// Every map's entries after the runs so far, by map: (name, entries).
    pub fn map_entries(&self) -> Vec<(String, MapEntries)> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *guard;
        let mem = &state.bytes[state.base..];
        state
            .maps
            .defs()
            .enumerate()
            .map(|(i, d)| (d.name.clone(), state.maps.entries(mem, i)))
            .collect()
    }

    /// Sets entry `key` of the map named `map` before a run.
    pub fn preload(&self, map: &str, key: &[u8], value: &[u8]) -> Result<(), MapUpdateError> {
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *guard;
        let index = state
            .maps
            .by_name(map)
            .ok_or_else(|| MapUpdateError(format!("the object has no map named '{map}'")))?;
        let base = state.base;
        state
            .maps
            .preload(&mut state.bytes[base..], index, key, value)
    }
}

/// Replaces map references with what they are at run time: handles for
/// maps, addresses for global data.
fn link(program: &Program, maps: &MapSet, mem_addr: u64) -> Result<Program, RuntimeError> {
    let mut insns = program.insns.clone();
    let mut pc = 0;
    while pc + 1 < insns.len() {
        let i = insns[pc];
        if i.is_lddw() && (i.src == PSEUDO_MAP_FD || i.src == PSEUDO_MAP_VALUE) {
            let bad = RuntimeError::BadMapReference {
                pc,
                index: i64::from(i.imm),
            };
            let index = usize::try_from(i.imm)
                .ok()
                .filter(|&m| m < maps.len())
                .ok_or(bad)?;
            let value = if i.src == PSEUDO_MAP_FD {
                map_handle(index)
            } else {
                let at = maps.value_offset(index).unwrap_or(0) as u64;
                let off = insns[pc + 1].imm as u32 as u64;
                mem_addr + at + off
            };
            insns[pc].src = 0;
            insns[pc].imm = value as u32 as i32;
            insns[pc + 1].imm = (value >> 32) as u32 as i32;
            pc += 2;
            continue;
        }
        pc += i.width();
    }
    Ok(Program::new(insns))
}

/// Helper calls of one packet's run.
struct XdpEnv<'a> {
    maps: RefCell<&'a mut MapSet>,
    rng: RefCell<&'a mut Rng>,
    ticks: Cell<u64>,
    redirect: Cell<Option<u32>>,
    /// Where `data_end` may grow to, and the frame's first byte.
    frame_end: u64,
    frame_start: u64,
    options: &'a XdpOptions,
    started: Instant,
}

fn errno(e: i64) -> HelperOutcome {
    HelperOutcome::Return(e as u64)
}

fn oob(addr: u64, size: usize, write: bool) -> HelperOutcome {
    HelperOutcome::OutOfBounds { addr, size, write }
}

impl Environment for XdpEnv<'_> {
    fn call_helper(&self, _: u64, _: [u64; 5], _: &[u8]) -> HelperOutcome {
        HelperOutcome::Unknown
    }

    fn negative_load(&self, _: &[u8], _: i64, _: usize) -> Option<u32> {
        None
    }

    fn call_helper_in(
        &self,
        id: u64,
        args: [u64; 5],
        memory: &mut HelperMemory<'_>,
    ) -> HelperOutcome {
        let Ok(id) = u32::try_from(id) else {
            return HelperOutcome::Unknown;
        };
        match id {
            helper::MAP_LOOKUP_ELEM | helper::MAP_UPDATE_ELEM | helper::MAP_DELETE_ELEM => {
                self.map_call(id, args, memory)
            }
            helper::KTIME_GET_NS => HelperOutcome::Return(match self.options.clock {
                Clock::Monotonic => self.started.elapsed().as_nanos() as u64,
                Clock::Fixed { start, step } => {
                    let n = self.ticks.get();
                    self.ticks.set(n + 1);
                    start.wrapping_add(step.wrapping_mul(n))
                }
            }),
            helper::TRACE_PRINTK => self.trace_printk(args, memory),
            helper::GET_PRANDOM_U32 => {
                HelperOutcome::Return(u64::from(self.rng.borrow_mut().next_u32()))
            }
            helper::GET_SMP_PROCESSOR_ID => HelperOutcome::Return(0),
            helper::REDIRECT => {
                if args[1] != 0 {
                    return HelperOutcome::Return(0); // XDP_ABORTED
                }
                self.redirect.set(Some(args[0] as u32));
                HelperOutcome::Return(4) // XDP_REDIRECT
            }
            helper::XDP_ADJUST_HEAD | helper::XDP_ADJUST_META | helper::XDP_ADJUST_TAIL => {
                self.adjust(id, args, memory)
            }
            _ => HelperOutcome::Unknown,
        }
    }
}

impl XdpEnv<'_> {
    fn map_call(&self, id: u32, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let mut maps = self.maps.borrow_mut();
        let Some(map) = map_index(args[0]).filter(|&m| m < maps.len()) else {
            // The kernel's verifier refuses a call without a map pointer.
            return errno(-EINVAL);
        };
        let (key_size, value_size) = maps.sizes(map).unwrap_or((0, 0));
        let key = match memory.bytes(args[1], key_size) {
            Some(k) => k.to_vec(),
            None => return oob(args[1], key_size, false),
        };
        match id {
            helper::MAP_LOOKUP_ELEM => {
                let (_, at) = memory.mem();
                HelperOutcome::Return(maps.lookup(map, &key).map_or(0, |off| at + off as u64))
            }
            helper::MAP_UPDATE_ELEM => {
                let value = match memory.bytes(args[2], value_size) {
                    Some(v) => v.to_vec(),
                    None => return oob(args[2], value_size, false),
                };
                let (mem, _) = memory.mem();
                errno(maps.update(mem, map, &key, &value, args[3]))
            }
            _ => errno(maps.delete(map, &key)),
        }
    }

    /// `xdp_adjust_head`, `_meta` and `_tail` on the context block at r1.
    fn adjust(&self, id: u32, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let delta = args[1] as i32 as i64;
        let Some(block) = memory.bytes(args[0], xdp_block::SIZE) else {
            return oob(args[0], xdp_block::SIZE, true);
        };
        let get =
            |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]));
        let (data, end, meta) = (
            get(block, xdp_block::DATA),
            get(block, xdp_block::DATA_END),
            get(block, xdp_block::DATA_META),
        );
        let floor = self.frame_start + XDP_FRAME_SIZE as u64;
        let moved = |v: u64| v.wrapping_add(delta as u64);
        let mut set = |at: usize, v: u64| block[at..at + 8].copy_from_slice(&v.to_le_bytes());
        match id {
            helper::XDP_ADJUST_HEAD => {
                let new = moved(data);
                let metalen = data - meta;
                if new < floor + metalen || new > end.saturating_sub(ETH_HLEN) {
                    return errno(-EINVAL);
                }
                let new_meta = meta.wrapping_add(delta as u64);
                if metalen > 0 {
                    let (mem, at) = memory.mem();
                    let (from, to) = ((meta - at) as usize, (new_meta - at) as usize);
                    mem.copy_within(from..from + metalen as usize, to);
                }
                let Some(block) = memory.bytes(args[0], xdp_block::SIZE) else {
                    return oob(args[0], xdp_block::SIZE, true);
                };
                block[xdp_block::DATA..xdp_block::DATA + 8].copy_from_slice(&new.to_le_bytes());
                block[xdp_block::DATA_META..xdp_block::DATA_META + 8]
                    .copy_from_slice(&new_meta.to_le_bytes());
                errno(0)
            }
            helper::XDP_ADJUST_META => {
                let new = moved(meta);
                if new < floor || new > data {
                    return errno(-EINVAL);
                }
                let metalen = data - new;
                if metalen % 4 != 0 || metalen > 32 {
                    return errno(-EACCES);
                }
                set(xdp_block::DATA_META, new);
                errno(0)
            }
            _ => {
                let new = moved(end);
                if new > self.frame_end || new < data + ETH_HLEN {
                    return errno(-EINVAL);
                }
                if new > end {
                    // Grown tail bytes read as zero, as the kernel clears them.
                    let (mem, at) = memory.mem();
                    mem[(end - at) as usize..(new - at) as usize].fill(0);
                    let Some(block) = memory.bytes(args[0], xdp_block::SIZE) else {
                        return oob(args[0], xdp_block::SIZE, true);
                    };
                    block[xdp_block::DATA_END..xdp_block::DATA_END + 8]
                        .copy_from_slice(&new.to_le_bytes());
                } else {
                    set(xdp_block::DATA_END, new);
                }
                errno(0)
            }
        }
    }

    /// `bpf_trace_printk(fmt, fmt_size, a, b, c)`: the kernel's subset of
    /// printf (`%d %i %u %x %X %c %s %p %%` with `l`/`ll`); the number of
    /// bytes written, or -EINVAL for a bad format.
    fn trace_printk(&self, args: [u64; 5], memory: &mut HelperMemory<'_>) -> HelperOutcome {
        let size = args[1] as usize;
        let Some(fmt) = memory.bytes(args[0], size).map(|f| f.to_vec()) else {
            return oob(args[0], size, false);
        };
        let Some(end) = fmt.iter().position(|&b| b == 0) else {
            return errno(-EINVAL);
        };
        let fmt = &fmt[..end];
        let mut out = Vec::new();
        let mut values = args[2..].iter();
        let mut i = 0;
        while i < fmt.len() {
            if fmt[i] != b'%' {
                out.push(fmt[i]);
                i += 1;
                continue;
            }
            i += 1;
            let mut longs = 0;
            while fmt.get(i) == Some(&b'l') {
                longs += 1;
                i += 1;
            }
            let conv = fmt.get(i).copied();
            i += 1;
            if conv == Some(b'%') {
                out.push(b'%');
                continue;
            }
            let Some(&v) = values.next() else {
                return errno(-EINVAL);
            };
            let v32 = longs == 0;
            let text = match conv {
                Some(b'd' | b'i') if v32 => (v as i32).to_string(),
                Some(b'd' | b'i') => (v as i64).to_string(),
                Some(b'u') if v32 => (v as u32).to_string(),
                Some(b'u') => v.to_string(),
                Some(b'x') if v32 => format!("{:x}", v as u32),
                Some(b'x') => format!("{v:x}"),
                Some(b'X') if v32 => format!("{:X}", v as u32),
                Some(b'X') => format!("{v:X}"),
                Some(b'c') => char::from(v as u8).to_string(),
                Some(b'p') => format!("0x{v:x}"),
                Some(b's') => {
                    let mut s = Vec::new();
                    while let Some(&[b]) = memory.bytes(v + s.len() as u64, 1).as_deref() {
                        if b == 0 || s.len() >= 256 {
                            break;
                        }
                        s.push(b);
                    }
                    String::from_utf8_lossy(&s).into_owned()
                }
                _ => return errno(-EINVAL),
            };
            out.extend_from_slice(text.as_bytes());
        }
        if self.options.trace {
            eprint!("{}", String::from_utf8_lossy(&out));
        }
        HelperOutcome::Return(out.len() as u64)
    }
}
