//! eBPF → Cranelift IR, one eBPF function (entry or local-call target) at a
//! time. Each eBPF register is a `Variable`; r10 is the frame pointer
//! argument and never changes.
//!
//! The entry function is entered with three arguments, `(pkt, pkt_len,
//! ctx) -> r0`, all 64-bit:
//! - ordinary code: `ctx` points to a [`super::runtime::RunCtx`], from which
//!   the prologue reads r1, r2 and r10; errors are reported by storing a
//!   status there and returning, and callers check it;
//! - leaf code (`JitOptions::leaf`): `ctx` is r1 itself, the input memory
//!   of `JitOptions::leaf_mem` bytes; the stack is a slot in the function's
//!   own frame (no slot when r10 is unused), nothing is stored
//!   anywhere, and a hand-over returns [`LEAF_HAND_OVER`] instead of r0's
//!   low 32 bits, so the caller tests a register, not memory.
//!
//! - a lean entry (`JitOptions::lean_entry`, code that calls nothing and
//!   makes no legacy packet load): `(mem, len) -> (value, error)`, r1 and
//!   r2 the arguments, the stack a slot in the function's own frame as in
//!   leaf code, r0 or the error returned in two registers
//!   ([`super::runtime::lean`]), so the caller sets up nothing;
//!
//! - batch code (`JitOptions::batch`, leaf code only): the entry is
//!   `(descs, n, verdicts, r1) -> done`, a loop over `n` packets given as
//!   `(address, length)` pairs at `descs`; each exit stores the packet's
//!   verdict (32 bits) at `verdicts[i]` and goes on with the next packet,
//!   a hand-over returns its index `i`, the end of the loop `n`. One call
//!   serves many packets: no call, frame or argument set-up per packet.
//!
//! Local-call targets take `(ctx, pkt, pkt_len, fp, r1, r2, r3, r4, r5)`.
//! Nothing here emits a trap: every memory access is either proven in
//! bounds or checked (in leaf code: handed over), and every division is
//! guarded.

use std::collections::HashMap;

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::types::{I16, I32, I64, I8, I8X16};
use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, ConstantData, FuncRef, InstBuilder, InstructionData, JumpTableData,
    MemFlagsData, Opcode, SigRef, Signature, StackSlot, StackSlotData, StackSlotKind, Type, Value,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
use cranelift_frontend::{FunctionBuilder, Variable};

use super::bounds;
use super::copy_loop::{self, CopyLoop, Final, Lin, Source};
use super::facts::{self, Proven};
use super::runtime::{lean, offset, status, FRAME_SIZE, LEAF_HAND_OVER};
use super::{raw_compare, JitError, RawCompare};
use crate::ebpf::blocks::{self, jump_target};
use crate::ebpf::insn::{op, Insn};
use crate::ebpf::switch;

/// Number of arguments of a local-call target.
const CALLEE_PARAMS: usize = 9;

/// Number of arguments of the entry function: few enough to arrive in
/// registers on every target, so the entry needs no frame for them.
const ENTRY_PARAMS: usize = 3;

/// Number of arguments of a lean entry: `(mem, len)`.
const LEAN_PARAMS: usize = 2;

/// Number of arguments of batch code's entry: `(descs, n, verdicts, r1)`.
const BATCH_PARAMS: usize = 4;

/// The signature of function `index` (0 is the entry; `batch`: the entry
/// of batch code).
pub(crate) fn function_signature(
    call_conv: CallConv,
    index: usize,
    options: &super::JitOptions,
) -> Signature {
    let mut sig = Signature::new(call_conv);
    let lean = index == 0 && options.lean_entry.is_some();
    let n = match index {
        0 if options.batch => BATCH_PARAMS,
        0 if lean => LEAN_PARAMS,
        0 => ENTRY_PARAMS,
        _ => CALLEE_PARAMS,
    };
    sig.params
        .extend(std::iter::repeat_n(AbiParam::new(I64), n));
    sig.returns.push(AbiParam::new(I64));
    if lean {
        sig.returns.push(AbiParam::new(I64));
    }
    sig
}

/// `helper_trampoline(ctx, id, r1, r2, r3, r4, r5) -> r0`.
fn helper_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.extend([AbiParam::new(I64); 7]);
    sig.returns.push(AbiParam::new(I64));
    sig
}

/// `negative_load(ctx, pkt, len, offset, size) -> value or -1`.
fn negative_load_signature(call_conv: CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.extend([AbiParam::new(I64); 5]);
    sig.returns.push(AbiParam::new(I64));
    sig
}

/// Memory flags for accesses the code has proven or checked: they never trap.
fn checked() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// What the lowering needs to know about one function.
pub(crate) struct FunctionInput<'a> {
    /// The whole program (jumps and calls are relative to it).
    pub insns: &'a [Insn],
    /// First instruction of this function.
    pub start: usize,
    /// One past its last instruction.
    pub end: usize,
    /// Callee `FuncRef` for each local-call target pc, declared in this
    /// function; `None` when the target cannot take calls.
    pub callees: &'a dyn Fn(usize) -> Option<FuncRef>,
    /// Apply bounds-check elimination to LD_ABS.
    pub eliminate_bounds_checks: bool,
    /// Count instructions against `RunCtx::budget_left`.
    pub budget: bool,
    /// Bytes of stack below r10 in each frame.
    pub frame_size: i64,
    /// Make no calls: hand helper calls, negative packet offsets and any
    /// memory access not proven in bounds back to the caller
    /// ([`LEAF_HAND_OVER`]).
    pub leaf: bool,
    /// Leaf code: bytes at the entry r1 that accesses may be proven in.
    pub leaf_mem: u32,
    /// Leaf code: lower the entry as batch code (the packets' loop).
    pub batch: bool,
    /// A lean entry ([`super::JitOptions::lean_entry`]) zeroing this many
    /// bytes at the top of its own stack.
    pub lean_entry: Option<u32>,
}

/// What lowering found out that the caller of the code must honour.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Lowered {
    /// Leaf code: the memory at r1 must hold at least this many bytes
    /// (the end of the furthest access proven in it; 0 when none).
    pub leaf_mem_needed: u32,
}

/// The eBPF size field in bytes.
fn size_bytes(opc: u8) -> i64 {
    match opc & 0x18 {
        op::B => 1,
        op::H => 2,
        op::W => 4,
        _ => 8,
    }
}

/// The Cranelift type of a size field.
fn size_type(opc: u8) -> Type {
    match opc & 0x18 {
        op::B => I8,
        op::H => I16,
        op::W => I32,
        _ => I64,
    }
}

/// Which access sizes (by [`size_index`]) some memory access in `insns`
/// has that is not a proven in-frame access through r10, so that its
/// bounds must be checked at run time.
fn checked_sizes(insns: &[Insn], frame_size: i64) -> [bool; 4] {
    let mut sizes = [false; 4];
    for i in insns {
        let base = match i.class() {
            op::LDX => i.src,
            op::ST | op::STX => i.dst,
            _ => continue,
        };
        let off = i64::from(i.off);
        let size = size_bytes(i.opc);
        if base != 10 || off < -frame_size || off + size > 0 {
            sizes[size_index(size)] = true;
        }
    }
    sizes
}

/// A memory region as the run-time check compares against it: an access
/// of `size` bytes at `addr` is inside when `addr - lo < limits[size]`
/// (unsigned), where the limit is `len - size + 1`, or 0 when the region is
/// smaller than the access. The limits are computed once at entry, so each
/// check is a subtract, a compare and a branch.
#[derive(Clone, Copy)]
struct Region {
    lo: Value,
    len: Value,
    /// Indexed by [`size_index`].
    limits: [Value; 4],
}

impl Region {
    /// The region at `lo`, `len` bytes long, with the limits of the access
    /// sizes in `sizes` (the others are never read; leaving them out keeps
    /// Cranelift's work, and so compile time, down).
    fn new(b: &mut FunctionBuilder<'_>, lo: Value, len: Value, sizes: [bool; 4]) -> Region {
        let zero = b.ins().iconst(I64, 0);
        let mut limits = [zero; 4];
        for (i, size) in [1, 2, 4, 8].into_iter().enumerate() {
            if sizes[i] {
                let fits = b
                    .ins()
                    .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, len, size);
                let limit = b.ins().iadd_imm_s(len, 1 - size);
                limits[i] = b.ins().select(fits, limit, zero);
            }
        }
        Region { lo, len, limits }
    }
}

/// r10 of a stack of `frame_size` bytes in the function's own native
/// frame, its top `zeroed` bytes (rounded up to 8) set to 0; `None` (no
/// slot) when the stack is not used.
fn own_stack(
    b: &mut FunctionBuilder<'_>,
    frame_size: i64,
    used: bool,
    zeroed: u32,
) -> Option<Value> {
    let size = frame_size as u32;
    if !used && zeroed == 0 {
        return None;
    }
    let slot = b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, size, 3));
    let fp = b.ins().stack_addr(I64, slot, size as i32);
    let zeroed = zeroed.min(size).next_multiple_of(8).min(size & !7);
    if zeroed > 0 {
        let zero = b.ins().iconst(I64, 0);
        for below in (8..=zeroed).step_by(8) {
            b.ins().store(checked(), zero, fp, -(below as i32));
        }
    }
    Some(fp)
}

/// Index of an access size (1, 2, 4 or 8 bytes) in [`Region::limits`].
fn size_index(size: i64) -> usize {
    size.trailing_zeros() as usize
}

struct Lowerer<'a, 'b> {
    b: FunctionBuilder<'b>,
    input: &'a FunctionInput<'a>,
    regs: [Variable; 10],
    ctx: Value,
    pkt: Value,
    len: Value,
    fp: Value,
    /// The input memory and the stack, the two regions an access the
    /// verifier did not prove may touch.
    regions: [Region; 2],
    /// Block of each leader pc (indexed from `input.start`).
    blocks: Vec<Option<Block>>,
    /// Shared exit for errors: params (status, pc, addr, info). This and
    /// the other shared exits and signatures are made on first use: every
    /// block and signature a function declares costs Cranelift time even
    /// when nothing uses it, and most filters use none of them.
    fail: Option<Block>,
    /// Return 0 leaving the status as it is.
    bail: Option<Block>,
    /// End the whole program with r0 = 0 (packet load out of range).
    abort: Option<Block>,
    /// Where control that runs past the last instruction goes (only
    /// unreachable code can: see `status::FELL_OFF_END`), made when needed.
    past_end: Option<Block>,
    call_conv: CallConv,
    helper_sig: Option<SigRef>,
    negative_load_sig: Option<SigRef>,
    plan: bounds::Plan,
    /// Runs of loads from the input memory checked once each.
    load_runs: bounds::LoadRuns,
    leaders: blocks::Leaders,
    /// Register facts before each instruction (none in a function with a
    /// backward jump).
    facts: Proven,
    /// Compare trees lowered as jump tables, by root pc.
    switches: switch::Found,
    /// The stack copies of each lookup's tables, by root pc.
    lookup_tables: HashMap<usize, Vec<LookupTable>>,
    /// Byte-copy loops, by head pc (see `copy_loop.rs`).
    copy_loops: HashMap<usize, CopyLoop>,
    /// Where the backward jump closing a copy loop goes (the loop as
    /// written, past the guard at its head), by the jump's pc.
    back_edges: HashMap<usize, Block>,
    lowered: Lowered,
    /// Seal each block as lowering enters it (possible when every jump
    /// goes forward), so that a value stays visible as itself in the blocks
    /// it dominates instead of becoming a block parameter.
    seal_early: bool,
    /// Big-endian packet loads: the loaded value → (the raw loaded value,
    /// its type), so that comparisons with constants compare the raw value
    /// with the constant swapped at compile time.
    swapped: HashMap<Value, (Value, Type)>,
    /// Batch code's loop, when this is batch code.
    batch: Option<Batch>,
}

/// Batch code's loop (see the module header).
#[derive(Clone, Copy)]
struct Batch {
    /// The index of the packet being run.
    index: Variable,
    /// Where verdicts go (`u32` each).
    verdicts: Value,
    /// The loop's head: the index test.
    header: Block,
}

/// What a byte loop stores (see `copy_loop.rs`).
#[derive(Clone, Copy)]
enum Bytes {
    /// The bytes at this address.
    From(Value),
    /// This value's low byte, every time.
    Splat(Value),
}

/// One register's values in a [`switch::Lookup`], on the stack.
struct LookupTable {
    reg: u8,
    slot: StackSlot,
    /// Bytes per entry (1, 2, 4 or 8).
    width: u8,
    /// Whether entries are sign-extended (else zero-extended).
    signed: bool,
}

/// Copies each of `lookup`'s tables, as narrow as its values allow, from
/// the constant pool (in the code, so no relocation) onto the stack, 16
/// bytes at a time; emitted where the function starts.
fn lookup_tables(b: &mut FunctionBuilder<'_>, lookup: &switch::Lookup) -> Vec<LookupTable> {
    lookup
        .values
        .iter()
        .map(|(reg, values)| {
            let fits = |width: u32, signed: bool| {
                values.iter().all(|&v| {
                    if width == 64 {
                        true
                    } else if signed {
                        let v = v as i64;
                        v >= -(1i64 << (width - 1)) && v < 1i64 << (width - 1)
                    } else {
                        v < 1u64 << width
                    }
                })
            };
            let (width, signed) = [8, 16, 32, 64]
                .into_iter()
                .flat_map(|w| [(w, false), (w, true)])
                .find(|&(w, sg)| fits(w, sg))
                .unwrap_or((64, false));
            let bytes = (width / 8) as usize;
            let mut data: Vec<u8> = values
                .iter()
                .flat_map(|v| v.to_le_bytes()[..bytes].to_vec())
                .collect();
            data.resize(data.len().div_ceil(16) * 16, 0);
            let slot = b.create_sized_stack_slot(StackSlotData::new(
                StackSlotKind::ExplicitSlot,
                data.len() as u32,
                4,
            ));
            for (i, chunk) in data.chunks(16).enumerate() {
                let c = b.func.dfg.constants.insert(ConstantData::from(chunk));
                let v = b.ins().vconst(I8X16, c);
                b.ins().stack_store(I64, v, slot, (16 * i) as i32);
            }
            LookupTable {
                reg: *reg,
                slot,
                width: bytes as u8,
                signed,
            }
        })
        .collect()
}

/// The cold exit block in `slot`, made (with `params` 64-bit parameters)
/// on first use.
fn shared_exit(b: &mut FunctionBuilder<'_>, slot: &mut Option<Block>, params: usize) -> Block {
    if let Some(block) = *slot {
        return block;
    }
    let block = b.create_block();
    for _ in 0..params {
        b.append_block_param(block, I64);
    }
    b.set_cold_block(block);
    *slot.insert(block)
}

/// Builds the body of one function into `b`, whose function must already
/// carry [`function_signature`].
pub(crate) fn lower_function(
    mut b: FunctionBuilder<'_>,
    input: &FunctionInput<'_>,
    call_conv: CallConv,
    frontend_config: TargetFrontendConfig,
) -> Result<Lowered, JitError> {
    let (start, end) = (input.start, input.end);
    let insns = input.insns;
    if input.leaf && (start != 0 || input.budget) {
        return Err(unsupported(
            start,
            "local calls or an instruction budget in leaf code",
        ));
    }
    if input.batch && !input.leaf {
        return Err(unsupported(start, "batch code that is not leaf code"));
    }
    if input.lean_entry.is_some()
        && (start != 0 || input.budget || input.leaf || !super::lean_entry_fits(insns))
    {
        return Err(unsupported(
            start,
            "a lean entry for code that calls, loads packet bytes the legacy way, counts a budget or is leaf code",
        ));
    }

    let leaders = blocks::leaders(insns, start, end).map_err(|pc| JitError::Unsupported {
        pc,
        what: "a jump that leaves its function".into(),
    })?;

    let entry = b.create_block();
    b.append_block_params_for_function_params(entry);
    b.switch_to_block(entry);
    let params = b.block_params(entry).to_vec();
    let regs: [Variable; 10] = std::array::from_fn(|_| b.declare_var(I64));
    let zero = b.ins().iconst(I64, 0);
    let fixed = checked().with_readonly();
    let checked = checked_sizes(&insns[start..end], input.frame_size);
    // Where each function finds its inputs: (ctx, pkt, len, fp, r1..r5).
    let (ctx, pkt, len, fp, args, mem_lo, mem_len, stack_hi);
    let mut batch = None;
    let mut no_stack = false;
    // Leaf code and a lean entry keep the stack in this function's own
    // frame, which exists only when r10 is used or bytes are zeroed.
    let uses_fp = insns[start..end].iter().any(|i| i.src == 10 || i.dst == 10);
    if input.leaf {
        fp = own_stack(&mut b, input.frame_size, uses_fp, 0).unwrap_or(zero);
        let mem_size = b.ins().iconst(I64, i64::from(input.leaf_mem));
        if input.batch {
            // The loop: `header` tests the index, `next` reads the
            // packet's address and length; every exit comes back to
            // `header` with the index stepped.
            let (descs, count, verdicts) = (params[0], params[1], params[2]);
            ctx = params[3];
            let index = b.declare_var(I64);
            b.def_var(index, zero);
            let header = b.create_block();
            let next = b.create_block();
            let done = b.create_block();
            b.ins().jump(header, &[]);
            b.switch_to_block(header);
            let i = b.use_var(index);
            let more = b.ins().icmp(IntCC::UnsignedLessThan, i, count);
            b.ins().brif(more, next, &[], done, &[]);
            b.switch_to_block(done);
            b.ins().return_(&[count]);
            b.switch_to_block(next);
            let at = b.ins().ishl_imm_u(i, 4);
            let desc = b.ins().iadd(descs, at);
            pkt = b.ins().load(I64, fixed, desc, 0);
            len = b.ins().load(I64, fixed, desc, 8);
            batch = Some(Batch {
                index,
                verdicts,
                header,
            });
        } else {
            (pkt, len, ctx) = (params[0], params[1], params[2]);
        }
        args = [ctx, mem_size, zero, zero, zero];
        (mem_lo, mem_len, stack_hi) = (zero, zero, zero);
    } else if let Some(zeroed) = input.lean_entry {
        // `(mem, len)`: the legacy packet is never read, and nothing
        // reads or writes a context.
        (pkt, len, ctx) = (params[0], params[1], zero);
        // Without a stack, r10 is 0 and no address is in the stack.
        let own = own_stack(&mut b, input.frame_size, uses_fp, zeroed);
        no_stack = own.is_none();
        fp = own.unwrap_or(zero);
        (mem_lo, mem_len, stack_hi) = (pkt, len, fp);
        args = [mem_lo, mem_len, zero, zero, zero];
    } else if start == 0 {
        (pkt, len, ctx) = (params[0], params[1], params[2]);
        mem_lo = b.ins().load(I64, fixed, ctx, offset::MEM_LO);
        mem_len = b.ins().load(I64, fixed, ctx, offset::MEM_LEN);
        stack_hi = b.ins().load(I64, fixed, ctx, offset::STACK_HI);
        fp = stack_hi;
        args = [mem_lo, mem_len, zero, zero, zero];
    } else {
        (ctx, pkt, len, fp) = (params[0], params[1], params[2], params[3]);
        args = [params[4], params[5], params[6], params[7], params[8]];
        // The region bounds are read only when some access needs a
        // run-time check.
        (mem_lo, mem_len, stack_hi) = if checked.contains(&true) {
            (
                b.ins().load(I64, fixed, ctx, offset::MEM_LO),
                b.ins().load(I64, fixed, ctx, offset::MEM_LEN),
                b.ins().load(I64, fixed, ctx, offset::STACK_HI),
            )
        } else {
            (zero, zero, zero)
        };
    }
    // Nothing is inside a region of no limits.
    let none = Region {
        lo: zero,
        len: zero,
        limits: [zero; 4],
    };
    let regions = if checked.contains(&true) && !input.leaf {
        let stack = if no_stack {
            none
        } else {
            let stack_lo = b.ins().iadd_imm_s(fp, -input.frame_size);
            let stack_len = b.ins().isub(stack_hi, stack_lo);
            Region::new(&mut b, stack_lo, stack_len, checked)
        };
        [Region::new(&mut b, mem_lo, mem_len, checked), stack]
    } else {
        [none, none]
    };
    for (r, var) in regs.iter().enumerate() {
        let v = if (1..=5).contains(&r) {
            args[r - 1]
        } else {
            zero
        };
        b.def_var(*var, v);
    }

    let mut blocks = vec![None; end - start];
    for l in leaders.iter() {
        blocks[l - start] = Some(b.create_block());
    }

    // Budget charging counts each block's instructions as it runs: jumping
    // over a tree's compares would charge fewer.
    let switches = if input.budget {
        switch::Found::default()
    } else {
        switch::find(insns, start, end, &leaders, switch::Tables::Taken)
    };
    let lookup_tables = switches
        .iter()
        .filter_map(|(&root, s)| match s {
            switch::Switch::Lookup(l) => Some((root, lookup_tables(&mut b, l))),
            _ => None,
        })
        .collect();
    // Copying 16 bytes at a time would skip the budget's instruction
    // counts; leaf code has no loops.
    let copy_loops = if input.budget || input.leaf {
        HashMap::new()
    } else {
        copy_loop::find(insns, start, end)
            .into_iter()
            .map(|l| (l.head, l))
            .collect()
    };
    let plan = bounds::plan(&insns[start..end], input.eliminate_bounds_checks);
    let facts = facts::analyse(&insns[start..end]);
    // In the entry function r1 starts as the input memory's start, so a
    // run's one check is a compare of the memory's length. A budget could
    // end a run between its loads, and must not be overtaken by a check
    // of a later one.
    let load_runs = if start == 0 && !input.leaf && !input.budget && args[0] == regions[0].lo {
        bounds::load_runs(insns, start, end, &leaders, input.frame_size, |pc, reg| {
            facts.holds_entry_r1(pc, reg)
        })
    } else {
        bounds::LoadRuns::default()
    };
    let mut lw = Lowerer {
        b,
        input,
        regs,
        ctx,
        pkt,
        len,
        fp,
        regions,
        blocks,
        fail: None,
        bail: None,
        abort: None,
        past_end: None,
        call_conv,
        helper_sig: None,
        negative_load_sig: None,
        plan,
        load_runs,
        leaders,
        seal_early: facts.forward_only,
        facts,
        switches,
        lookup_tables,
        copy_loops,
        back_edges: HashMap::new(),
        lowered: Lowered::default(),
        swapped: HashMap::new(),
        batch,
    };
    let first = lw.block_at(start);
    lw.b.ins().jump(first, &[]);
    lw.body()?;
    lw.emit_exits();
    lw.b.seal_all_blocks();
    let lowered = lw.lowered;
    lw.b.finalize(frontend_config);
    Ok(lowered)
}

impl Lowerer<'_, '_> {
    /// Continues lowering in `block`, whose predecessors are all emitted.
    fn enter(&mut self, block: Block) {
        self.b.switch_to_block(block);
        if self.seal_early {
            self.b.seal_block(block);
        }
    }

    fn block_at(&self, pc: usize) -> Block {
        self.blocks[pc - self.input.start].expect("every jump target is a leader")
    }

    /// The block the jump at `pc` to `target` goes to.
    fn jump_block(&self, pc: usize, target: usize) -> Block {
        match self.back_edges.get(&pc) {
            Some(&block) => block,
            None => self.block_at(target),
        }
    }

    // ----- byte-copy loops ---------------------------------------------

    /// At a copy loop's head (see `copy_loop.rs`), entered from outside
    /// the loop: when the count is sane and both ranges lie inside one
    /// region each without overlapping, copy 64 and 16 bytes at a time, give the
    /// registers their values after the last iteration and go to the
    /// loop's exit; else continue into the loop as written, in a new block
    /// that its backward jump goes to.
    fn copy_loop_guard(&mut self, l: &CopyLoop) {
        let looped = self.b.create_block();
        let fast = self.b.create_block();
        let counter = self.reg(l.counter);
        let last = self.sum(&l.last, &[], None);
        // Iterations - 1: huge (the counter starts past its bound and
        // wraps) is left to the loop.
        let more = self.b.ins().isub(last, counter);
        let sane = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThan, more, 1 << 31);
        let n = self.b.ins().iadd_imm_s(more, 1);
        let dst = self.sum(&l.dst, &[], None);
        let (bytes, src) = match l.src {
            Source::Copy(a) => {
                let a = self.sum(&a, &[], None);
                (Bytes::From(a), Some(a))
            }
            Source::Fill(v) => (Bytes::Splat(self.sum(&v, &[], None)), None),
        };
        let mut ok = sane;
        for a in src.into_iter().chain([dst]) {
            let [memory, stack] = self.regions;
            let in_memory = self.range_inside(memory, a, n);
            let in_stack = self.range_inside(stack, a, n);
            let inside = self.b.ins().bor(in_memory, in_stack);
            ok = self.b.ins().band(ok, inside);
        }
        if let Some(src) = src {
            for (a, b) in [(dst, src), (src, dst)] {
                let gap = self.b.ins().isub(a, b);
                let apart = self.b.ins().icmp(IntCC::UnsignedGreaterThanOrEqual, gap, n);
                ok = self.b.ins().band(ok, apart);
            }
        }
        self.b.ins().brif(ok, fast, &[], looped, &[]);

        self.enter(fast);
        self.copy_bytes(bytes, dst, n);
        // Every final value from the registers at the head, before any is
        // set.
        let finals: Vec<(u8, Value)> = l
            .finals
            .iter()
            .map(|&(r, f)| {
                let v = match f {
                    Final::Lin(lin) => self.sum(&lin, &l.steppers, Some(more)),
                    // (Only copies load: `src` is there.)
                    Final::LastByte => {
                        let at = self.b.ins().iadd(src.unwrap_or(dst), more);
                        self.b.ins().uload8(I64, checked(), at, 0)
                    }
                };
                (r, v)
            })
            .collect();
        for (r, v) in finals {
            self.set(r, v);
        }
        let exit = self.block_at(l.exit);
        self.b.ins().jump(exit, &[]);

        self.enter(looped);
        self.back_edges.insert(l.back, looped);
    }

    /// `lin` over the registers' current values, each of `steppers` plus
    /// `step` when given.
    fn sum(&mut self, lin: &Lin, steppers: &[u8], step: Option<Value>) -> Value {
        let mut acc = self.iconst(I64, lin.c as i64);
        for r in 0..10u8 {
            let coef = lin.coef[usize::from(r)];
            if coef == 0 {
                continue;
            }
            let mut v = self.reg(r);
            if let (Some(k), true) = (step, steppers.contains(&r)) {
                v = self.b.ins().iadd(v, k);
            }
            let term = self.b.ins().imul_imm_s(v, coef as i64);
            acc = self.b.ins().iadd(acc, term);
        }
        acc
    }

    /// Whether the `n` bytes at `a` all lie inside `region`.
    fn range_inside(&mut self, region: Region, a: Value, n: Value) -> Value {
        let rel = self.b.ins().isub(a, region.lo);
        let start_in = self
            .b
            .ins()
            .icmp(IntCC::UnsignedLessThanOrEqual, rel, region.len);
        let room = self.b.ins().isub(region.len, rel);
        let fits = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, n, room);
        self.b.ins().band(start_in, fits)
    }

    /// Stores `n >= 1` bytes at `dst` (inside a region; apart from a
    /// source): 64 at a time while 64 remain, then 16 at a time with the
    /// last 16 stored again at the end, or byte by byte when fewer than
    /// 16. (16 at a time copied a megabyte at 1.7 times the time of the
    /// host's `memcpy`; four 16-byte moves per iteration halve the loop's
    /// own work.)
    fn copy_bytes(&mut self, bytes: Bytes, dst: Value, n: Value) {
        let f = checked();
        let pick = self.b.create_block();
        let wide4 = self.b.create_block();
        let after4 = self.b.create_block();
        let wide = self.b.create_block();
        let tail = self.b.create_block();
        let narrow = self.b.create_block();
        let done = self.b.create_block();
        for block in [wide4, after4, wide, narrow] {
            self.b.append_block_param(block, I64);
        }
        let zero = self.iconst(I64, 0);
        // A fill's byte and 16 bytes, made once; or a copy's source.
        let source = match bytes {
            Bytes::Splat(v) => {
                let b = self.b.ins().ireduce(I8, v);
                Ok((b, self.b.ins().splat(I8X16, b)))
            }
            Bytes::From(src) => Err(src),
        };
        let big = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, n, 16);
        self.b
            .ins()
            .brif(big, pick, &[], narrow, &[BlockArg::Value(zero)]);
        // The 16 (or 1) bytes at offset `at`.
        let chunk = |lw: &mut Self, at: Value, ty: Type| match source {
            Err(src) => {
                let from = lw.b.ins().iadd(src, at);
                lw.b.ins().load(ty, f, from, 0)
            }
            Ok((byte, _)) if ty == I8 => byte,
            Ok((_, sixteen)) => sixteen,
        };

        self.b.switch_to_block(pick);
        let big4 = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedGreaterThanOrEqual, n, 64);
        self.b.ins().brif(
            big4,
            wide4,
            &[BlockArg::Value(zero)],
            wide,
            &[BlockArg::Value(zero)],
        );

        // 64 bytes at `k` (k + 64 <= n), loads before stores.
        self.b.switch_to_block(wide4);
        let k = self.b.block_params(wide4)[0];
        let mut parts = Vec::with_capacity(4);
        for i in 0..4 {
            let at = self.b.ins().iadd_imm_s(k, 16 * i);
            parts.push((at, chunk(self, at, I8X16)));
        }
        for (at, v) in parts {
            let to = self.b.ins().iadd(dst, at);
            self.b.ins().store(f, v, to, 0);
        }
        let k64 = self.b.ins().iadd_imm_s(k, 64);
        let end = self.b.ins().iadd_imm_s(k64, 64);
        let again = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, n);
        self.b.ins().brif(
            again,
            wide4,
            &[BlockArg::Value(k64)],
            after4,
            &[BlockArg::Value(k64)],
        );

        // Fewer than 64 left: 16 at a time while 16 remain, else the tail.
        self.b.switch_to_block(after4);
        let k = self.b.block_params(after4)[0];
        let end = self.b.ins().iadd_imm_s(k, 16);
        let room = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, n);
        self.b
            .ins()
            .brif(room, wide, &[BlockArg::Value(k)], tail, &[]);

        self.b.switch_to_block(wide);
        let k = self.b.block_params(wide)[0];
        let v = chunk(self, k, I8X16);
        let to = self.b.ins().iadd(dst, k);
        self.b.ins().store(f, v, to, 0);
        let k16 = self.b.ins().iadd_imm_s(k, 16);
        let end = self.b.ins().iadd_imm_s(k16, 16);
        let again = self.b.ins().icmp(IntCC::UnsignedLessThanOrEqual, end, n);
        self.b
            .ins()
            .brif(again, wide, &[BlockArg::Value(k16)], tail, &[]);

        self.b.switch_to_block(tail);
        let at = self.b.ins().iadd_imm_s(n, -16);
        let v = chunk(self, at, I8X16);
        let to = self.b.ins().iadd(dst, at);
        self.b.ins().store(f, v, to, 0);
        self.b.ins().jump(done, &[]);

        self.b.switch_to_block(narrow);
        let k = self.b.block_params(narrow)[0];
        let v = chunk(self, k, I8);
        let to = self.b.ins().iadd(dst, k);
        self.b.ins().store(f, v, to, 0);
        let k1 = self.b.ins().iadd_imm_s(k, 1);
        let again = self.b.ins().icmp(IntCC::UnsignedLessThan, k1, n);
        self.b
            .ins()
            .brif(again, narrow, &[BlockArg::Value(k1)], done, &[]);

        self.b.switch_to_block(done);
    }

    fn reg(&mut self, r: u8) -> Value {
        if r == 10 {
            self.fp
        } else {
            self.b.use_var(self.regs[usize::from(r)])
        }
    }

    fn set(&mut self, r: u8, v: Value) {
        self.b.def_var(self.regs[usize::from(r)], v);
    }

    fn iconst(&mut self, ty: Type, v: i64) -> Value {
        self.b.ins().iconst(ty, v)
    }

    /// The shared error exit (params: status, pc, addr, info).
    fn fail_block(&mut self) -> Block {
        shared_exit(&mut self.b, &mut self.fail, 4)
    }

    /// The exit that returns 0 leaving the status as it is.
    fn bail_block(&mut self) -> Block {
        shared_exit(&mut self.b, &mut self.bail, 0)
    }

    /// The exit that ends the program with r0 = 0.
    fn abort_block(&mut self) -> Block {
        shared_exit(&mut self.b, &mut self.abort, 0)
    }

    fn helper_sig(&mut self) -> SigRef {
        let call_conv = self.call_conv;
        *self
            .helper_sig
            .get_or_insert_with(|| self.b.import_signature(helper_signature(call_conv)))
    }

    fn negative_load_sig(&mut self) -> SigRef {
        let call_conv = self.call_conv;
        *self
            .negative_load_sig
            .get_or_insert_with(|| self.b.import_signature(negative_load_signature(call_conv)))
    }

    /// Jumps to `fail` with an error status when `cond` is non-zero.
    fn fail_if(&mut self, cond: Value, st: u32, pc: usize, addr: Value, info: i64) {
        // A cold block per site keeps the error's constants off the hot path.
        let site = self.b.create_block();
        self.b.set_cold_block(site);
        let cont = self.b.create_block();
        self.b.ins().brif(cond, site, &[], cont, &[]);
        self.enter(site);
        let st = self.iconst(I64, i64::from(st));
        let pcv = self.iconst(I64, pc as i64);
        let info = self.iconst(I64, info);
        let args = [st, pcv, addr, info].map(BlockArg::Value);
        let fail = self.fail_block();
        self.b.ins().jump(fail, &args);
        self.enter(cont);
    }

    /// Returns from this function when a callee left a status behind.
    fn bail_on_status(&mut self) {
        let st = self.b.ins().load(I32, checked(), self.ctx, offset::STATUS);
        let cont = self.b.create_block();
        let bail = self.bail_block();
        self.b.ins().brif(st, bail, &[], cont, &[]);
        self.enter(cont);
    }

    /// Instructions from `pc` up to the next leader or through the next
    /// one that ends a budget segment ([`ends_budget_segment`]): what one
    /// charge of the budget pays for.
    fn segment_len(&self, pc: usize) -> i64 {
        let end = self.leaders.next_after(pc).unwrap_or(self.input.end);
        let insns = &self.input.insns[pc..end];
        let mut n = 0;
        let mut i = 0;
        while i < insns.len() {
            n += 1;
            let ends = ends_budget_segment(&insns[i]);
            i += insns[i].width();
            if ends {
                break;
            }
        }
        n
    }

    fn charge_budget(&mut self, pc: usize) {
        let n = self.segment_len(pc);
        let left = self
            .b
            .ins()
            .load(I64, checked(), self.ctx, offset::BUDGET_LEFT);
        let short = self.b.ins().icmp_imm_u(IntCC::UnsignedLessThan, left, n);
        // The error names the first instruction that could not start:
        // `left` instructions into this block.
        self.fail_if(short, status::BUDGET, pc, left, 0);
        let rest = self.b.ins().iadd_imm_s(left, -n);
        self.b
            .ins()
            .store(checked(), rest, self.ctx, offset::BUDGET_LEFT);
    }

    fn body(&mut self) -> Result<(), JitError> {
        let (start, end) = (self.input.start, self.input.end);
        let mut pc = start;
        let mut open = false; // current block can fall through
        while pc < end {
            if let Some(block) = self.blocks[pc - start] {
                if open {
                    self.b.ins().jump(block, &[]);
                }
                self.enter(block);
                open = true;
                if self.input.budget {
                    self.charge_budget(pc);
                }
                if let Some(l) = self.copy_loops.remove(&pc) {
                    self.copy_loop_guard(&l);
                }
            }
            let insn = self.input.insns[pc];
            if insn.is_lddw() {
                let hi = self
                    .input
                    .insns
                    .get(pc + 1)
                    .ok_or_else(|| unsupported(pc, "lddw without its second slot"))?;
                let v = insn.imm64(Some(hi));
                if insn.src != 0 {
                    return Err(unsupported(pc, "lddw with a pseudo source"));
                }
                let v = self.iconst(I64, v as i64);
                self.set(insn.dst, v);
                pc += 2;
                continue;
            }
            match insn.class() {
                op::ALU | op::ALU64 => self.alu(pc, &insn)?,
                op::JMP | op::JMP32 => {
                    if self.jump(pc, &insn)? {
                        open = false;
                    }
                }
                op::LD => self.packet_load(pc, &insn)?,
                op::LDX => self.load(pc, &insn)?,
                op::ST | op::STX => self.store(pc, &insn)?,
                _ => return Err(unsupported(pc, "unknown instruction class")),
            }
            pc += 1;
            // A charge after a segment's last instruction, unless a block
            // (which charges for itself) starts there.
            if self.input.budget
                && open
                && ends_budget_segment(&insn)
                && pc < end
                && self.blocks[pc - start].is_none()
            {
                self.charge_budget(pc);
            }
        }
        if open {
            let past_end = self.past_end();
            self.b.ins().jump(past_end, &[]);
        }
        Ok(())
    }

    /// The block for control past the last instruction (see `past_end`).
    fn past_end(&mut self) -> Block {
        match self.past_end {
            Some(block) => block,
            None => {
                let block = self.b.create_block();
                self.b.set_cold_block(block);
                self.past_end = Some(block);
                block
            }
        }
    }

    fn emit_exits(&mut self) {
        if let Some(block) = self.past_end {
            // Only unreachable code gets here (the verifier proves that no
            // path runs past the end). Leaf code hands the input over (the
            // interpreter then reports it); other code fails with
            // FELL_OFF_END, as the interpreter does.
            self.b.switch_to_block(block);
            let st = if self.input.leaf {
                status::HAND_OVER
            } else {
                status::FELL_OFF_END
            };
            let st = self.iconst(I64, i64::from(st));
            let pcv = self.iconst(I64, self.input.end as i64);
            let zero = self.iconst(I64, 0);
            let args = [st, pcv, zero, zero].map(BlockArg::Value);
            let fail = self.fail_block();
            self.b.ins().jump(fail, &args);
        }
        if let Some(fail) = self.fail {
            self.b.switch_to_block(fail);
            if let Some(batch) = self.batch {
                // Batch code hands over the packet at the index.
                let i = self.b.use_var(batch.index);
                self.b.ins().return_(&[i]);
            } else if self.input.leaf {
                // Leaf code fails only by handing over.
                let v = self.iconst(I64, LEAF_HAND_OVER as i64);
                self.b.ins().return_(&[v]);
            } else {
                self.store_failure(fail);
            }
        }

        if let Some(bail) = self.bail {
            self.b.switch_to_block(bail);
            let zero = self.iconst(I64, 0);
            self.finish(zero);
        }

        // The entry function returns 0 with status OK, which is the same
        // outcome; callees leave ABORT_ZERO for their callers to see.
        if let Some(abort) = self.abort {
            self.b.switch_to_block(abort);
            if self.input.start != 0 {
                let st = self.b.ins().iconst(I32, i64::from(status::ABORT_ZERO));
                self.b.ins().store(checked(), st, self.ctx, offset::STATUS);
            }
            let zero = self.iconst(I64, 0);
            self.finish(zero);
        }
    }

    /// Ends the run with r0 = `v`: returns it, or in batch code stores it
    /// as the packet's verdict and goes on with the next packet.
    fn finish(&mut self, v: Value) {
        let Some(batch) = self.batch else {
            if self.input.lean_entry.is_some() {
                let ok = self.iconst(I64, 0);
                self.b.ins().return_(&[v, ok]);
            } else {
                self.b.ins().return_(&[v]);
            }
            return;
        };
        let i = self.b.use_var(batch.index);
        let at = self.b.ins().ishl_imm_u(i, 2);
        let slot = self.b.ins().iadd(batch.verdicts, at);
        let verdict = self.b.ins().ireduce(I32, v);
        self.b.ins().store(checked(), verdict, slot, 0);
        let next = self.b.ins().iadd_imm_s(i, 1);
        self.b.def_var(batch.index, next);
        self.b.ins().jump(batch.header, &[]);
    }

    /// The body of the `fail` block of ordinary code: the error goes to
    /// the context, and the function returns 0.
    fn store_failure(&mut self, fail: Block) {
        let p = self.b.block_params(fail).to_vec();
        if self.input.lean_entry.is_some() {
            // (address, status | info << 8 | pc << 32): see `runtime::lean`.
            let info = self.b.ins().ishl_imm_u(p[3], i64::from(lean::INFO_SHIFT));
            let pc = self.b.ins().ishl_imm_u(p[1], i64::from(lean::PC_SHIFT));
            let error = self.b.ins().bor(p[0], info);
            let error = self.b.ins().bor(error, pc);
            self.b.ins().return_(&[p[2], error]);
            return;
        }
        let st = self.b.ins().ireduce(I32, p[0]);
        let pc = self.b.ins().ireduce(I32, p[1]);
        self.b.ins().store(checked(), st, self.ctx, offset::STATUS);
        self.b.ins().store(checked(), pc, self.ctx, offset::ERR_PC);
        self.b
            .ins()
            .store(checked(), p[2], self.ctx, offset::ERR_ADDR);
        self.b
            .ins()
            .store(checked(), p[3], self.ctx, offset::ERR_INFO);
        let zero = self.iconst(I64, 0);
        self.b.ins().return_(&[zero]);
    }

    // ----- arithmetic -------------------------------------------------

    fn alu(&mut self, pc: usize, insn: &Insn) -> Result<(), JitError> {
        let wide = insn.class() == op::ALU64;
        let code = insn.opc & 0xf0;
        let from_reg = insn.opc & op::X != 0;
        let ty = if wide { I64 } else { I32 };
        if code == op::MOV {
            // Not a use of dst (which would keep its old value alive).
            let v = self.mov(pc, insn, wide, from_reg)?;
            self.set(insn.dst, v);
            return Ok(());
        }
        let dst64 = self.reg(insn.dst);
        if code == op::END {
            let v = self.byte_order(pc, insn, dst64)?;
            self.set(insn.dst, v);
            return Ok(());
        }

        let a = if wide {
            dst64
        } else {
            self.b.ins().ireduce(I32, dst64)
        };
        let src = if from_reg {
            let s = self.reg(insn.src);
            if wide {
                s
            } else {
                self.b.ins().ireduce(I32, s)
            }
        } else {
            // ALU64 sign-extends the immediate; ALU32 uses its 32 bits.
            let imm = if wide {
                i64::from(insn.imm)
            } else {
                i64::from(insn.imm as u32)
            };
            match code {
                op::LSH | op::RSH | op::ARSH => self.iconst(ty, imm & (ty.bits() as i64 - 1)),
                _ => self.iconst(ty, imm),
            }
        };
        let signed = insn.off == 1;
        let r = match code {
            op::ADD => self.b.ins().iadd(a, src),
            op::SUB => self.b.ins().isub(a, src),
            op::MUL => self.b.ins().imul(a, src),
            op::OR => self.b.ins().bor(a, src),
            op::AND => self.b.ins().band(a, src),
            op::XOR => self.b.ins().bxor(a, src),
            // Cranelift masks the shift amount to the width, as RFC 9669 does.
            op::LSH => self.b.ins().ishl(a, src),
            // `lsh 32; rsh 32` (clang's zero extension) as one, so that
            // later operations can see the value is 32 bits wide.
            op::RSH if wide => match self.shifted_left_32(a, src) {
                Some(x) => {
                    let low = self.b.ins().ireduce(I32, x);
                    self.b.ins().uextend(I64, low)
                }
                None => self.b.ins().ushr(a, src),
            },
            op::RSH => self.b.ins().ushr(a, src),
            op::ARSH => self.b.ins().sshr(a, src),
            op::NEG => self.b.ins().ineg(a),
            op::DIV | op::MOD => self.div_mod(ty, signed, code == op::MOD, a, src),
            _ => return Err(unsupported(pc, "unknown ALU operation")),
        };
        let r = if wide {
            r
        } else {
            self.b.ins().uextend(I64, r)
        };
        self.set(insn.dst, r);
        Ok(())
    }

    /// Division and remainder with RFC 9669's results for the cases a
    /// machine instruction would trap on: x / 0 = 0, x % 0 = x,
    /// INT_MIN / -1 = INT_MIN and INT_MIN % -1 = 0 (signed).
    fn div_mod(&mut self, ty: Type, signed: bool, is_mod: bool, a: Value, d: Value) -> Value {
        // Unsigned 64-bit operands known to fit in 32 bits give the same
        // quotient and remainder by a 32-bit division, several times
        // faster on x86-64 (clang zero-extends 32-bit C operands).
        if ty == I64 && !signed {
            if let (Some(a32), Some(d32)) = (self.low_32_of(a), self.low_32_of(d)) {
                let r = self.div_mod(I32, false, is_mod, a32, d32);
                return self.b.ins().uextend(I64, r);
            }
        }
        let zero = self.iconst(ty, 0);
        let one = self.iconst(ty, 1);
        let d_zero = self.b.ins().icmp_imm_u(IntCC::Equal, d, 0);
        let on_zero = if is_mod { a } else { zero };
        if !signed {
            let safe = self.b.ins().select(d_zero, one, d);
            let q = if is_mod {
                self.b.ins().urem(a, safe)
            } else {
                self.b.ins().udiv(a, safe)
            };
            return self.b.ins().select(d_zero, on_zero, q);
        }
        let d_neg1 = self.b.ins().icmp_imm_s(IntCC::Equal, d, -1);
        let bad = self.b.ins().bor(d_zero, d_neg1);
        let safe = self.b.ins().select(bad, one, d);
        let q = if is_mod {
            self.b.ins().srem(a, safe)
        } else {
            self.b.ins().sdiv(a, safe)
        };
        // x / -1 = -x (wrapping) and x % -1 = 0.
        let on_neg1 = if is_mod { zero } else { self.b.ins().ineg(a) };
        let q = self.b.ins().select(d_neg1, on_neg1, q);
        self.b.ins().select(d_zero, on_zero, q)
    }

    /// `x` when `v` is `x << 32` (a constant shift).
    fn shifted_left_32(&self, v: Value, amount: Value) -> Option<Value> {
        if self.constant(amount)? != 32 {
            return None;
        }
        match self.b.func.dfg.insts[self.b.func.dfg.value_def(v).inst()?] {
            InstructionData::Binary {
                opcode: Opcode::Ishl,
                args: [x, k],
            } if self.constant(k) == Some(32) => Some(x),
            _ => None,
        }
    }

    /// The constant `v` is defined as, if any.
    fn constant(&self, v: Value) -> Option<i64> {
        match self.b.func.dfg.insts[self.b.func.dfg.value_def(v).inst()?] {
            InstructionData::UnaryImm {
                opcode: Opcode::Iconst,
                imm,
            } => Some(imm.bits()),
            _ => None,
        }
    }

    /// A 32-bit value whose zero extension `v` is, when its definition
    /// shows one (a `uextend` from 32 bits, or a constant below 2^32).
    fn low_32_of(&mut self, v: Value) -> Option<Value> {
        if let Some(k) = self.constant(v) {
            return (0..=i64::from(u32::MAX))
                .contains(&k)
                .then(|| self.iconst(I32, k));
        }
        match self.b.func.dfg.insts[self.b.func.dfg.value_def(v).inst()?] {
            InstructionData::Unary {
                opcode: Opcode::Uextend,
                arg,
            } if self.b.func.dfg.value_type(arg) == I32 => Some(arg),
            _ => None,
        }
    }

    fn mov(
        &mut self,
        pc: usize,
        insn: &Insn,
        wide: bool,
        from_reg: bool,
    ) -> Result<Value, JitError> {
        if !from_reg {
            let v = if wide {
                i64::from(insn.imm)
            } else {
                i64::from(insn.imm as u32)
            };
            return Ok(self.iconst(I64, v));
        }
        let s = self.reg(insn.src);
        let narrow = match insn.off {
            0 => None,
            8 => Some(I8),
            16 => Some(I16),
            32 if wide => Some(I32),
            _ => return Err(unsupported(pc, "mov with an unknown offset")),
        };
        Ok(match (wide, narrow) {
            (true, None) => s,
            (true, Some(t)) => {
                let n = self.b.ins().ireduce(t, s);
                self.b.ins().sextend(I64, n)
            }
            (false, None) => {
                let n = self.b.ins().ireduce(I32, s);
                self.b.ins().uextend(I64, n)
            }
            (false, Some(t)) => {
                let n = self.b.ins().ireduce(t, s);
                let w = self.b.ins().sextend(I32, n);
                self.b.ins().uextend(I64, w)
            }
        })
    }

    /// `le`, `be` (ALU class) and `bswap` (ALU64 class) on a little-endian
    /// machine model: `le` truncates, `be` and `bswap` swap.
    fn byte_order(&mut self, pc: usize, insn: &Insn, v: Value) -> Result<Value, JitError> {
        let swap = insn.class() == op::ALU64 || insn.opc & op::X != 0;
        let ty = match insn.imm {
            16 => I16,
            32 => I32,
            64 => I64,
            _ => return Err(unsupported(pc, "byte swap of an unknown width")),
        };
        if ty == I64 {
            return Ok(if swap { self.b.ins().bswap(v) } else { v });
        }
        let n = self.b.ins().ireduce(ty, v);
        let n = if swap { self.b.ins().bswap(n) } else { n };
        Ok(self.b.ins().uextend(I64, n))
    }

    // ----- control flow ------------------------------------------------

    /// Lowers a jump, call or exit; returns true when control does not fall
    /// through.
    fn jump(&mut self, pc: usize, insn: &Insn) -> Result<bool, JitError> {
        let wide = insn.class() == op::JMP;
        let code = insn.opc & 0xf0;
        match code {
            op::EXIT => {
                let mut r0 = self.reg(0);
                if self.input.leaf {
                    // Leaf results are 32-bit, leaving the high half for
                    // LEAF_HAND_OVER.
                    let low = self.b.ins().ireduce(I32, r0);
                    r0 = self.b.ins().uextend(I64, low);
                }
                self.finish(r0);
                return Ok(true);
            }
            op::CALL => {
                self.call(pc, insn)?;
                return Ok(false);
            }
            op::JA => {
                let t = jump_target(insn, pc).unwrap_or_default() as usize;
                let block = self.jump_block(pc, t);
                self.b.ins().jump(block, &[]);
                return Ok(true);
            }
            _ => {}
        }
        match self.switches.remove(&pc) {
            Some(switch::Switch::Table(table)) => {
                self.jump_table(&table);
                return Ok(true);
            }
            Some(switch::Switch::Search(search)) => {
                let v = self.reg(search.reg);
                self.search(v, &search.intervals);
                return Ok(true);
            }
            Some(switch::Switch::Lookup(lookup)) => {
                self.lookup(pc, &lookup);
                return Ok(true);
            }
            None => {}
        }
        let cc = match code {
            op::JEQ => IntCC::Equal,
            op::JNE => IntCC::NotEqual,
            op::JGT => IntCC::UnsignedGreaterThan,
            op::JGE => IntCC::UnsignedGreaterThanOrEqual,
            op::JLT => IntCC::UnsignedLessThan,
            op::JLE => IntCC::UnsignedLessThanOrEqual,
            op::JSGT => IntCC::SignedGreaterThan,
            op::JSGE => IntCC::SignedGreaterThanOrEqual,
            op::JSLT => IntCC::SignedLessThan,
            op::JSLE => IntCC::SignedLessThanOrEqual,
            op::JSET => IntCC::NotEqual, // on dst & src
            _ => return Err(unsupported(pc, "unknown jump operation")),
        };
        let d = self.reg(insn.dst);
        let target = self.jump_block(pc, jump_target(insn, pc).unwrap_or_default() as usize);
        let next = if pc + 1 >= self.input.end {
            self.past_end()
        } else {
            self.block_at(pc + 1)
        };
        if let Some(cond) = self.compare_swapped(insn, d) {
            self.b.ins().brif(cond, target, &[], next, &[]);
            return Ok(true);
        }
        let a = if wide {
            d
        } else {
            self.b.ins().ireduce(I32, d)
        };
        let s = if insn.opc & op::X != 0 {
            let s = self.reg(insn.src);
            if wide {
                s
            } else {
                self.b.ins().ireduce(I32, s)
            }
        } else if wide {
            self.iconst(I64, i64::from(insn.imm))
        } else {
            self.iconst(I32, i64::from(insn.imm as u32))
        };
        let cond = if code == op::JSET {
            let m = self.b.ins().band(a, s);
            self.b.ins().icmp_imm_u(IntCC::NotEqual, m, 0)
        } else {
            self.b.ins().icmp(cc, a, s)
        };
        self.b.ins().brif(cond, target, &[], next, &[]);
        Ok(true)
    }

    /// A recovered switch (see `switch.rs`): a range check, then one
    /// indirect jump to the leaf its compares would reach.
    fn jump_table(&mut self, table: &switch::Table) {
        let rel = self.table_range(table);
        let index = self.b.ins().ireduce(I32, rel);
        let entries: Vec<_> = table
            .table
            .iter()
            .map(|&pc| {
                let block = self.block_at(pc);
                self.b.func.dfg.block_call(block, &[])
            })
            .collect();
        let above = self.block_at(table.above);
        let default = self.b.func.dfg.block_call(above, &[]);
        let jt = self
            .b
            .create_jump_table(JumpTableData::new(default, &entries));
        self.b.ins().br_table(index, jt);
    }

    /// A recovered switch whose cases only pick constants (see
    /// `switch.rs`): a table's range check, then each register loaded from
    /// its table, and on to the block every case reaches.
    fn lookup(&mut self, root: usize, lookup: &switch::Lookup) {
        let rel = self.table_range(&lookup.table);
        let tables = self.lookup_tables.remove(&root).unwrap_or_default();
        for t in &tables {
            let base = self.b.ins().stack_addr(I64, t.slot, 0);
            let at = self.b.ins().imul_imm_u(rel, i64::from(t.width));
            let addr = self.b.ins().iadd(base, at);
            let v = self.load_extended(addr, i64::from(t.width), t.signed);
            self.set(t.reg, v);
        }
        let join = self.block_at(lookup.join);
        self.b.ins().jump(join, &[]);
    }

    /// A table's range check: branches to its `below` or `above` leaf when
    /// the register is outside it, and continues in a new block with the
    /// register's offset into the table (`0 ..= len - 1`).
    fn table_range(&mut self, table: &switch::Table) -> Value {
        let v = self.reg(table.reg);
        let below = self.block_at(table.below);
        let above = self.block_at(table.above);
        let rel = self.b.ins().iadd_imm_s(v, table.lo.wrapping_neg());
        let last = table.table.len() as i64 - 1;
        let inside = self
            .b
            .ins()
            .icmp_imm_u(IntCC::UnsignedLessThanOrEqual, rel, last);
        let dispatch = self.b.create_block();
        let outside = if below == above {
            below
        } else {
            self.b.create_block()
        };
        self.b.ins().brif(inside, dispatch, &[], outside, &[]);
        if below != above {
            self.enter(outside);
            let low = self.b.ins().icmp_imm_u(IntCC::SignedLessThan, v, table.lo);
            self.b.ins().brif(low, below, &[], above, &[]);
        }
        self.enter(dispatch);
        rel
    }

    /// A recovered switch searched (see `switch.rs`): from the current
    /// block, halve `intervals` by signed compares of `v` with a boundary
    /// until one leaf remains; a single value between two intervals with
    /// the same leaf is one equality test.
    fn search(&mut self, v: Value, intervals: &[(i64, usize)]) {
        let target = |lw: &mut Self, half: &[(i64, usize)]| match half {
            [(_, leaf)] => lw.block_at(*leaf),
            _ => lw.b.create_block(),
        };
        match intervals {
            [] => {}
            [(_, leaf)] => {
                let block = self.block_at(*leaf);
                self.b.ins().jump(block, &[]);
            }
            [(_, outer), (value, inner), _] if switch::is_single_value(intervals) => {
                let (outer, inner) = (self.block_at(*outer), self.block_at(*inner));
                let hit = self.b.ins().icmp_imm_s(IntCC::Equal, v, *value);
                self.b.ins().brif(hit, inner, &[], outer, &[]);
            }
            _ => {
                let (low, high) = intervals.split_at(intervals.len() / 2);
                let (to_low, to_high) = (target(self, low), target(self, high));
                let below = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, v, high[0].0);
                self.b.ins().brif(below, to_low, &[], to_high, &[]);
                for (half, block) in [(low, to_low), (high, to_high)] {
                    if half.len() > 1 {
                        self.enter(block);
                        self.search(v, half);
                    }
                }
            }
        }
    }

    /// `jeq`, `jne` or `jset` of a big-endian packet load with a constant,
    /// done on the raw loaded value with the constant swapped at compile
    /// time (the swap itself then usually goes away).
    fn compare_swapped(&mut self, insn: &Insn, d: Value) -> Option<Value> {
        let &(raw, ty) = self.swapped.get(&d)?;
        let size = if ty == I16 { 2 } else { 4 };
        Some(match raw_compare(insn, size)? {
            RawCompare::Never => self.b.ins().iconst(I8, 0),
            RawCompare::Always => self.b.ins().iconst(I8, 1),
            RawCompare::Equal(c) => self.b.ins().icmp_imm_u(IntCC::Equal, raw, i64::from(c)),
            RawCompare::NotEqual(c) => self.b.ins().icmp_imm_u(IntCC::NotEqual, raw, i64::from(c)),
            RawCompare::AnyBit(m) => {
                let m = self.b.ins().band_imm_u(raw, i64::from(m));
                self.b.ins().icmp_imm_u(IntCC::NotEqual, m, 0)
            }
        })
    }

    /// Ends the run with status `HAND_OVER`, for a leaf function that met
    /// something needing a call (the caller finishes on the interpreter).
    /// Leaves the current block terminated; a fresh unreachable block
    /// follows so lowering can go on.
    fn bail_out(&mut self, pc: usize) {
        let st = self.iconst(I64, i64::from(status::HAND_OVER));
        let pcv = self.iconst(I64, pc as i64);
        let zero = self.iconst(I64, 0);
        let args = [st, pcv, zero, zero].map(BlockArg::Value);
        let fail = self.fail_block();
        self.b.ins().jump(fail, &args);
        let dead = self.b.create_block();
        self.enter(dead);
    }

    fn call(&mut self, pc: usize, insn: &Insn) -> Result<(), JitError> {
        let args: Vec<Value> = (1..=5).map(|r| self.reg(r)).collect();
        let is_callx = insn.opc & op::X != 0;
        if self.input.leaf {
            self.bail_out(pc);
            let zero = self.iconst(I64, 0);
            self.set(0, zero);
            return Ok(());
        }
        if insn.src == op::CALL_LOCAL && !is_callx {
            // Local call: the callee's frame sits just below ours.
            let target = pc as i64 + 1 + i64::from(insn.imm);
            if self.input.frame_size != FRAME_SIZE as i64 {
                return Err(unsupported(pc, "local calls with a small stack frame"));
            }
            let fref = usize::try_from(target)
                .ok()
                .and_then(|t| (self.input.callees)(t))
                .ok_or_else(|| unsupported(pc, "a local call this target cannot make"))?;
            let new_fp = self.b.ins().iadd_imm_s(self.fp, -(FRAME_SIZE as i64));
            let bottom = self.b.ins().iadd_imm_s(new_fp, -(FRAME_SIZE as i64));
            let stack_lo = self
                .b
                .ins()
                .load(I64, checked(), self.ctx, offset::STACK_LO);
            let deep = self.b.ins().icmp(IntCC::UnsignedLessThan, bottom, stack_lo);
            let zero = self.iconst(I64, 0);
            self.fail_if(deep, status::CALL_DEPTH, pc, zero, 0);
            let mut call_args = vec![self.ctx, self.pkt, self.len, new_fp];
            call_args.extend(args);
            let call = self.b.ins().call(fref, &call_args);
            let r0 = self.b.inst_results(call)[0];
            self.set(0, r0);
            self.bail_on_status();
            return Ok(());
        }
        if insn.src > 1 && !is_callx {
            return Err(unsupported(pc, "calls to runtime functions"));
        }
        let id = if is_callx {
            self.reg(insn.dst)
        } else {
            self.iconst(I64, i64::from(insn.imm as u32))
        };
        let tramp = self
            .b
            .ins()
            .load(I64, checked(), self.ctx, offset::HELPER_TRAMPOLINE);
        let pcv = self.iconst(I64, pc as i64);
        // The trampoline reads the pc from err_pc to name it in errors.
        let pc32 = self.b.ins().ireduce(I32, pcv);
        self.b
            .ins()
            .store(checked(), pc32, self.ctx, offset::ERR_PC);
        let mut call_args = vec![self.ctx, id];
        call_args.extend(args);
        let helper_sig = self.helper_sig();
        let call = self.b.ins().call_indirect(helper_sig, tramp, &call_args);
        let r0 = self.b.inst_results(call)[0];
        self.set(0, r0);
        self.bail_on_status();
        Ok(())
    }

    // ----- memory --------------------------------------------------------

    /// The address of a `size`-byte access at `reg + off`, checked against
    /// the input memory and the stack (current frame and its callers).
    fn address(&mut self, pc: usize, reg: u8, off: i16, size: i64, write: bool) -> Value {
        let off = i64::from(off);
        let frame = self.input.frame_size;
        if reg == 10 && off >= -frame && off + size <= 0 {
            return self.b.ins().iadd_imm_s(self.fp, off); // proven in the frame
        }
        let base = self.reg(reg);
        if self.input.leaf {
            let leaf_mem = self.input.leaf_mem;
            let at = pc - self.input.start;
            if let Some(end) = self.facts.end_inside_entry_r1(at, reg, off, size, leaf_mem) {
                // Proven inside the memory at the entry r1.
                let needed = &mut self.lowered.leaf_mem_needed;
                *needed = (*needed).max(end);
                return self.b.ins().iadd_imm_s(base, off);
            }
            // Anything else is finished by the interpreter; the access
            // below is then unreachable.
            self.bail_out(pc);
            return base;
        }
        if let Some(run) = self.load_runs.take_run_at(pc) {
            self.check_load_run(&run);
        }
        if self.load_runs.covers(pc) {
            return self.b.ins().iadd_imm_s(base, off);
        }
        let addr = self.b.ins().iadd_imm_s(base, off);
        // The input memory first (where most unproven accesses go), then
        // the stack, laid out off the hot path (most stack accesses go
        // through r10 and are proven); each is one compare and branch.
        let inside = self.b.create_block();
        let [memory, stack] = self.regions;
        let try_stack = self.b.create_block();
        self.b.set_cold_block(try_stack);
        let in_memory = self.region_test(memory, addr, size, IntCC::UnsignedLessThan);
        self.b.ins().brif(in_memory, inside, &[], try_stack, &[]);
        self.enter(try_stack);
        let outside = self.region_test(stack, addr, size, IntCC::UnsignedGreaterThanOrEqual);
        let info = size | if write { 0x100 } else { 0 };
        self.fail_if(outside, status::OUT_OF_BOUNDS, pc, addr, info);
        // The stack's way back is cold too: laid out in line, it would take
        // the fall-through into `inside` and leave the hot path a jump.
        if let Some(back) = self.b.current_block() {
            self.b.set_cold_block(back);
        }
        self.b.ins().jump(inside, &[]);
        self.enter(inside);
        addr
    }

    /// Before the first load of a run (see `bounds.rs`): whether the input
    /// memory holds every load of the run; if not, a cold path checks each
    /// load in order as [`Self::address`] would and fails at the first
    /// outside both regions, or comes back when none is.
    fn check_load_run(&mut self, run: &bounds::LoadRun) {
        let [memory, stack] = self.regions;
        let holds = self.b.ins().icmp_imm_u(
            IntCC::UnsignedGreaterThanOrEqual,
            memory.len,
            i64::from(run.end),
        );
        let checked = self.b.create_block();
        let one_by_one = self.b.create_block();
        self.b.set_cold_block(one_by_one);
        self.b.ins().brif(holds, checked, &[], one_by_one, &[]);
        self.enter(one_by_one);
        for &(pc, off, size) in &run.loads {
            // (The loads' base is the entry r1, the memory's start.)
            let addr = self.b.ins().iadd_imm_s(memory.lo, off);
            let n = self.iconst(I64, size);
            let in_memory = self.range_inside(memory, addr, n);
            let in_stack = self.range_inside(stack, addr, n);
            let inside = self.b.ins().bor(in_memory, in_stack);
            let outside = self.b.ins().icmp_imm_u(IntCC::Equal, inside, 0);
            self.fail_if(outside, status::OUT_OF_BOUNDS, pc, addr, size);
            if let Some(block) = self.b.current_block() {
                self.b.set_cold_block(block);
            }
        }
        self.b.ins().jump(checked, &[]);
        self.enter(checked);
    }

    /// Whether `size` bytes at `addr` lie inside `region` (`UnsignedLessThan`)
    /// or not (`UnsignedGreaterThanOrEqual`); see [`Region`].
    fn region_test(&mut self, region: Region, addr: Value, size: i64, cc: IntCC) -> Value {
        let rel = self.b.ins().isub(addr, region.lo);
        let limit = region.limits[size_index(size)];
        self.b.ins().icmp(cc, rel, limit)
    }

    fn load(&mut self, pc: usize, insn: &Insn) -> Result<(), JitError> {
        let mode = insn.opc & 0xe0;
        let size = size_bytes(insn.opc);
        let addr = self.address(pc, insn.src, insn.off, size, false);
        let signed = match (mode, size) {
            (op::MEM, 1 | 2 | 4 | 8) => false,
            (op::MEMSX, 1 | 2 | 4) => true,
            _ => return Err(unsupported(pc, "unknown load mode")),
        };
        let v = self.load_extended(addr, size, signed);
        self.set(insn.dst, v);
        Ok(())
    }

    /// The `size`-byte value at `addr` (1, 2, 4 or 8), sign- or
    /// zero-extended to 64 bits.
    fn load_extended(&mut self, addr: Value, size: i64, signed: bool) -> Value {
        let f = checked();
        match (size, signed) {
            (1, false) => self.b.ins().uload8(I64, f, addr, 0),
            (2, false) => self.b.ins().uload16(I64, f, addr, 0),
            (4, false) => self.b.ins().uload32(f, addr, 0),
            (1, true) => self.b.ins().sload8(I64, f, addr, 0),
            (2, true) => self.b.ins().sload16(I64, f, addr, 0),
            (4, true) => self.b.ins().sload32(f, addr, 0),
            _ => self.b.ins().load(I64, f, addr, 0),
        }
    }

    fn store(&mut self, pc: usize, insn: &Insn) -> Result<(), JitError> {
        let mode = insn.opc & 0xe0;
        let size = size_bytes(insn.opc);
        if mode == op::ATOMIC && insn.class() == op::STX {
            return self.atomic(pc, insn, size);
        }
        if mode != op::MEM {
            return Err(unsupported(pc, "unknown store mode"));
        }
        let addr = self.address(pc, insn.dst, insn.off, size, true);
        let v = if insn.class() == op::STX {
            self.reg(insn.src)
        } else {
            self.iconst(I64, i64::from(insn.imm))
        };
        let f = checked();
        match size {
            1 => self.b.ins().istore8(f, v, addr, 0),
            2 => self.b.ins().istore16(f, v, addr, 0),
            4 => self.b.ins().istore32(f, v, addr, 0),
            _ => self.b.ins().store(f, v, addr, 0),
        };
        Ok(())
    }

    /// Atomic read-modify-write. A run has the memory to itself (`&mut`),
    /// so a plain load and store give the same result as a locked operation,
    /// and unlike one they cannot fault on an unaligned address.
    fn atomic(&mut self, pc: usize, insn: &Insn, size: i64) -> Result<(), JitError> {
        if size != 4 && size != 8 {
            return Err(unsupported(pc, "atomic of an unknown width"));
        }
        let ty = size_type(insn.opc);
        let addr = self.address(pc, insn.dst, insn.off, size, true);
        let f = checked();
        let old = self.b.ins().load(ty, f, addr, 0);
        let src64 = self.reg(insn.src);
        let src = if ty == I32 {
            self.b.ins().ireduce(I32, src64)
        } else {
            src64
        };
        let widen = |lw: &mut Self, v: Value| {
            if ty == I32 {
                lw.b.ins().uextend(I64, v)
            } else {
                v
            }
        };
        const FETCH: i32 = 0x01;
        match insn.imm {
            0xe1 => {
                // xchg
                self.b.ins().store(f, src, addr, 0);
                let o = widen(self, old);
                self.set(insn.src, o);
            }
            0xf1 => {
                // cmpxchg: compare with r0, store src on match, r0 = old.
                let r0 = self.reg(0);
                let expected = if ty == I32 {
                    self.b.ins().ireduce(I32, r0)
                } else {
                    r0
                };
                let eq = self.b.ins().icmp(IntCC::Equal, old, expected);
                let new = self.b.ins().select(eq, src, old);
                self.b.ins().store(f, new, addr, 0);
                let o = widen(self, old);
                self.set(0, o);
            }
            imm => {
                let new = match imm & !FETCH {
                    0x00 => self.b.ins().iadd(old, src),
                    0x40 => self.b.ins().bor(old, src),
                    0x50 => self.b.ins().band(old, src),
                    0xa0 => self.b.ins().bxor(old, src),
                    _ => return Err(unsupported(pc, "unknown atomic operation")),
                };
                self.b.ins().store(f, new, addr, 0);
                if imm & FETCH != 0 {
                    let o = widen(self, old);
                    self.set(insn.src, o);
                }
            }
        }
        Ok(())
    }

    /// Legacy LD_ABS / LD_IND: big-endian packet loads into r0 whose
    /// out-of-range case ends the program with 0.
    fn packet_load(&mut self, pc: usize, insn: &Insn) -> Result<(), JitError> {
        let mode = insn.opc & 0xe0;
        let size = size_bytes(insn.opc);
        if size == 8 || (mode != op::ABS && mode != op::IND) {
            return Err(unsupported(pc, "unknown packet load"));
        }
        let abort = self.abort_block();
        if mode == op::ABS && insn.imm >= 0 {
            if let Some(need) = self.plan[pc - self.input.start] {
                let short = self
                    .b
                    .ins()
                    .icmp_imm_u(IntCC::UnsignedLessThan, self.len, need as i64);
                let cont = self.b.create_block();
                self.b.ins().brif(short, abort, &[], cont, &[]);
                self.enter(cont);
            }
            let v = self.load_be(self.pkt, i64::from(insn.imm), size);
            self.set(0, v);
            return Ok(());
        }
        // (int32)(src + imm) for IND; the immediate alone for ABS.
        let offset = if mode == op::IND {
            let s = self.reg(insn.src);
            let s = self.b.ins().ireduce(I32, s);
            let o = self.b.ins().iadd_imm_s(s, i64::from(insn.imm));
            self.b.ins().sextend(I64, o)
        } else {
            self.iconst(I64, i64::from(insn.imm))
        };
        let fast = self.b.create_block();
        // Ordinary code joins the value a negative offset's call returns.
        let mut join = None;
        if mode == op::IND
            && self
                .facts
                .ld_ind_offset_never_negative(pc - self.input.start)
        {
            self.b.ins().jump(fast, &[]);
        } else {
            let slow = self.b.create_block();
            let negative = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, offset, 0);
            self.b.ins().brif(negative, slow, &[], fast, &[]);
            // Negative offsets address Linux's special areas: a call, or
            // in a leaf function a hand-over to the caller.
            self.enter(slow);
            if self.input.leaf {
                self.bail_out(pc);
                self.b.ins().jump(abort, &[]); // unreachable
            } else {
                let j = self.b.create_block();
                self.b.append_block_param(j, I64);
                let f = self
                    .b
                    .ins()
                    .load(I64, checked(), self.ctx, offset::NEGATIVE_LOAD);
                let sz = self.iconst(I64, size);
                let negative_load_sig = self.negative_load_sig();
                let call = self.b.ins().call_indirect(
                    negative_load_sig,
                    f,
                    &[self.ctx, self.pkt, self.len, offset, sz],
                );
                let r = self.b.inst_results(call)[0];
                let failed = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, r, 0);
                self.b
                    .ins()
                    .brif(failed, abort, &[], j, &[BlockArg::Value(r)]);
                join = Some(j);
            }
        }
        self.enter(fast);
        let end = self.b.ins().iadd_imm_s(offset, size);
        let past = self.b.ins().icmp(IntCC::UnsignedGreaterThan, end, self.len);
        let load = self.b.create_block();
        self.b.ins().brif(past, abort, &[], load, &[]);
        self.enter(load);
        let addr = self.b.ins().iadd(self.pkt, offset);
        let mut v = self.load_be(addr, 0, size);
        if let Some(j) = join {
            self.b.ins().jump(j, &[BlockArg::Value(v)]);
            self.enter(j);
            v = self.b.block_params(j)[0];
        }
        self.set(0, v);
        Ok(())
    }

    /// A big-endian load of 1, 2 or 4 bytes at `base + off`, zero-extended.
    fn load_be(&mut self, base: Value, off: i64, size: i64) -> Value {
        let f = checked();
        let off = off as i32;
        if size == 1 {
            return self.b.ins().uload8(I64, f, base, off);
        }
        let ty = if size == 2 { I16 } else { I32 };
        let raw = self.b.ins().load(ty, f, base, off);
        let swapped = self.b.ins().bswap(raw);
        let v = self.b.ins().uextend(I64, swapped);
        self.swapped.insert(v, (raw, ty));
        v
    }
}

fn unsupported(pc: usize, what: &str) -> JitError {
    JitError::Unsupported {
        pc,
        what: what.into(),
    }
}

/// Whether the budget's charge ends after `insn`: a memory access, store
/// or call (anything that writes memory or may fail at run time). The
/// interpreter counts instruction by instruction; the JIT pays for a run
/// of instructions at its start, so a run the budget cuts short must not
/// leave out a write or an error the interpreter's reaches first.
fn ends_budget_segment(insn: &Insn) -> bool {
    match insn.class() {
        op::LD => !insn.is_lddw(),
        op::LDX | op::ST | op::STX => true,
        op::JMP => insn.op() == op::CALL,
        _ => false,
    }
}
