//! Rules 2 and 3 of the verifier: data flow (reads before writes, falling
//! off the end), loops, recursion and call depth.

use super::Rule;
use crate::ebpf::blocks;
use crate::ebpf::insn::Insn;
use crate::ebpf::MAX_CALL_FRAMES;

use crate::ebpf::insn::regs::{ARGS, CALLEE_SAVED, ENTRY, FP, R0};

/// Rule 2: must-be-written registers, by a forward data-flow fixpoint
/// whose meet is intersection (so a register counts as written only if
/// every path to here writes it).
///
/// A local call's r0 is written after it only if every exit of the callee
/// writes it: the kernel checks r0 at the program's exit, not at a
/// subprogram's, whose r0 (written or not) becomes the caller's
/// (`prepare_func_exit`). Clang relies on this: a static function whose
/// result it knows returns without setting r0, and its callers set the
/// known value themselves.
/// With `check_reads` false only control is checked (falling off the
/// end): for programs whose reads a path-sensitive pass has checked.
/// Returns which slots are reachable.
pub(super) fn check_data_flow(
    insns: &[Insn],
    check_reads: bool,
) -> Result<Vec<bool>, (usize, Rule)> {
    let n = insns.len();
    let functions = blocks::Functions::new(insns);
    let mut state: Vec<Option<u16>> = vec![None; n];
    let mut work = vec![0usize];
    state[0] = Some(ENTRY);
    // Whether every exit of each function reached so far writes r0.
    let mut returns_r0 = vec![true; functions.len()];
    // A slot is queued again only when its mask shrinks (at most 11 times).
    // Flow past the end is not state (rule FallsOffEnd reports it).
    let merge = |state: &mut Vec<Option<u16>>, work: &mut Vec<usize>, pc: usize, m: u16| {
        if pc >= state.len() {
            return;
        }
        let new = state[pc].map_or(m, |old| old & m);
        if state[pc] != Some(new) {
            state[pc] = Some(new);
            work.push(pc);
        }
    };
    while let Some(pc) = work.pop() {
        let Some(live) = state[pc] else { continue };
        let i = &insns[pc];
        if i.is_local_call() {
            let callee = (pc as i64 + 1 + i.imm as i64) as usize;
            merge(&mut state, &mut work, callee, (live & ARGS) | FP);
            let r0 = if returns_r0[functions.index_of(callee)] {
                R0
            } else {
                0
            };
            merge(
                &mut state,
                &mut work,
                pc + 1,
                (live & (CALLEE_SAVED | FP)) | r0,
            );
            continue;
        }
        if functions.is_subprogram_exit(pc, i) && live & R0 == 0 {
            let f = functions.index_of(pc);
            if returns_r0[f] {
                // Its callers learn that r0 may be unwritten after the call.
                returns_r0[f] = false;
                let callers = functions.calls_to(f);
                work.extend(callers.filter(|&c| state[c].is_some()));
            }
        }
        let (_, writes, clobbers) = i.register_effects();
        let mut out = live | writes;
        if clobbers {
            out &= !ARGS;
        }
        let succ = i.successors(pc);
        for s in succ.into_iter().flatten() {
            if s < n {
                merge(&mut state, &mut work, s, out);
            }
        }
    }
    for (pc, i) in insns.iter().enumerate() {
        let Some(live) = state[pc] else { continue };
        let reads = if i.is_local_call() {
            0
        } else if functions.is_subprogram_exit(pc, i) {
            // A subprogram's exit hands r0 over as it is.
            0
        } else {
            i.register_effects().0
        };
        let missing = reads & !live;
        if missing != 0 && check_reads {
            return Err((pc, Rule::UninitializedRead(missing.trailing_zeros() as u8)));
        }
        let succ = i.successors(pc);
        if succ.into_iter().flatten().any(|s| s >= n) {
            return Err((pc, Rule::FallsOffEnd));
        }
    }
    Ok(state.iter().map(Option::is_some).collect())
}

/// Every function keeps control inside it: a reached instruction's
/// successors lie between its function's entry and the next function's
/// (the entries: 0 and the target of every local call, reached or not, as
/// the JIT splits the program and the kernel's `check_subprogs` does).
pub(super) fn check_function_bounds(insns: &[Insn], reached: &[bool]) -> Result<(), (usize, Rule)> {
    let starts = blocks::Functions::new(insns).starts;
    for (k, &start) in starts.iter().enumerate() {
        let end = starts.get(k + 1).copied().unwrap_or(insns.len());
        for pc in (start..end).filter(|&pc| reached.get(pc) == Some(&true)) {
            for to in insns[pc].successors(pc).into_iter().flatten() {
                if to < insns.len() && !(start..end).contains(&to) {
                    return Err((
                        pc,
                        Rule::LeavesFunction {
                            to,
                            function: start,
                        },
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Entry points of functions: 0 and the target of every reachable local
/// call (unreachable code is accepted whatever it contains).
pub(super) fn function_entries(insns: &[Insn], reached: &[bool]) -> Vec<usize> {
    let mut entries = vec![0];
    for pc in (0..insns.len()).filter(|&pc| reached[pc]) {
        if insns[pc].is_local_call() {
            entries.push((pc as i64 + 1 + insns[pc].imm as i64) as usize);
        }
    }
    entries.sort_unstable();
    entries.dedup();
    entries
}

/// Iterative depth-first search; returns the first edge (from, to) that
/// closes a cycle, if any.
fn find_cycle(
    nodes: usize,
    roots: &[usize],
    edges: impl Fn(usize) -> Vec<usize>,
) -> Option<(usize, usize)> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut color = vec![0u8; nodes];
    for &root in roots {
        if color[root] != 0 {
            continue;
        }
        color[root] = 1;
        let mut stack = vec![(root, edges(root), 0usize)];
        while let Some((node, succ, idx)) = stack.last_mut() {
            if let Some(&next) = succ.get(*idx) {
                *idx += 1;
                let from = *node;
                match color[next] {
                    0 => {
                        color[next] = 1;
                        let e = edges(next);
                        stack.push((next, e, 0));
                    }
                    1 => return Some((from, next)),
                    _ => {}
                }
            } else {
                color[*node] = 2;
                stack.pop();
            }
        }
    }
    None
}

/// Whether the control-flow graph has a cycle (local calls step over);
/// rule 3a ([`super::loops`]) then has loops to prove.
pub(super) fn has_loop(insns: &[Insn], entries: &[usize]) -> bool {
    let n = insns.len();
    let edges = |pc: usize| -> Vec<usize> {
        let succ = insns[pc].successors(pc);
        succ.into_iter().flatten().filter(|&s| s < n).collect()
    };
    find_cycle(n, entries, edges).is_some()
}

/// Local calls reachable inside the function starting at `entry`:
/// (call pc, callee entry).
fn calls_of(insns: &[Insn], entry: usize) -> Vec<(usize, usize)> {
    let n = insns.len();
    let mut seen = vec![false; n];
    let mut work = vec![entry];
    let mut calls = Vec::new();
    while let Some(pc) = work.pop() {
        if pc >= n || seen[pc] {
            continue;
        }
        seen[pc] = true;
        let i = &insns[pc];
        if i.is_local_call() {
            calls.push((pc, (pc as i64 + 1 + i.imm as i64) as usize));
        }
        let succ = i.successors(pc);
        work.extend(succ.into_iter().flatten());
    }
    calls.sort_unstable();
    calls
}

/// Rule 3b: recursion (unless budgeted) and call-chain depth.
/// Frames each function needs (itself and its deepest chain of callees),
/// callees first; the call graph must be acyclic.
fn frames_of(calls: &[Vec<(usize, usize)>]) -> Vec<Option<usize>> {
    let mut frames: Vec<Option<usize>> = vec![None; calls.len()];
    let mut stack = vec![0usize];
    while let Some(&f) = stack.last() {
        if frames[f].is_some() {
            stack.pop();
            continue;
        }
        let pending: Vec<usize> = calls[f]
            .iter()
            .map(|&(_, g)| g)
            .filter(|&g| frames[g].is_none())
            .collect();
        if pending.is_empty() {
            let deepest = calls[f].iter().filter_map(|&(_, g)| frames[g]).max();
            frames[f] = Some(1 + deepest.unwrap_or(0));
            stack.pop();
        } else {
            stack.extend(pending);
        }
    }
    frames
}

/// The call graph: for each function, its calls as (pc, callee index).
fn call_graph(insns: &[Insn], entries: &[usize]) -> Vec<Vec<(usize, usize)>> {
    let index = |pc: usize| entries.binary_search(&pc).unwrap_or(0);
    entries
        .iter()
        .map(|&e| {
            calls_of(insns, e)
                .into_iter()
                .map(|(pc, callee)| (pc, index(callee)))
                .collect()
        })
        .collect()
}

/// Frames a run starting at the first function can use, or `None` when
/// calls recurse.
pub(super) fn frames_needed(insns: &[Insn], entries: &[usize]) -> Option<usize> {
    let calls = call_graph(insns, entries);
    let edges = |f: usize| calls[f].iter().map(|&(_, g)| g).collect::<Vec<_>>();
    if find_cycle(entries.len(), &[0], edges).is_some() {
        return None;
    }
    Some(frames_of(&calls)[0].unwrap_or(1))
}

pub(super) fn check_call_depth(
    insns: &[Insn],
    entries: &[usize],
    budgeted: bool,
) -> Result<(), (usize, Rule)> {
    let calls = call_graph(insns, entries);
    let edges = |f: usize| calls[f].iter().map(|&(_, g)| g).collect::<Vec<_>>();
    if let Some((from, to)) = find_cycle(entries.len(), &[0], edges) {
        if budgeted {
            // Recursion is bounded at run time by the budget and the
            // frame limit; depth cannot be checked statically.
            return Ok(());
        }
        let pc = calls[from]
            .iter()
            .find(|&&(_, g)| g == to)
            .map_or(0, |&(pc, _)| pc);
        return Err((pc, Rule::Recursion));
    }
    let frames = frames_of(&calls);
    let total = frames[0].unwrap_or(1);
    let calls = &calls;
    if total <= MAX_CALL_FRAMES {
        return Ok(());
    }
    // Walk the deepest chain to the call that needs the ninth frame.
    let (mut f, mut depth) = (0, 1);
    loop {
        let Some(&(pc, g)) = calls[f]
            .iter()
            .max_by_key(|&&(_, g)| frames[g].unwrap_or(0))
        else {
            return Err((0, Rule::CallTooDeep { frames: total }));
        };
        depth += 1;
        if depth > MAX_CALL_FRAMES {
            return Err((pc, Rule::CallTooDeep { frames: total }));
        }
        f = g;
    }
}
