//! Delta debugging for mismatches: the shortest program and packet that
//! still show the difference.
//!
//! Programs shrink by dropping one instruction at a time (jumps over it are
//! shortened so every other instruction keeps its target) as long as the
//! result still passes the checker and still differs; packets shrink by
//! cutting the tail and removing ever smaller chunks. Each shrinking step
//! asks the caller's predicate, which for live mode runs the kernel again.

use cranebpf::cbpf::check::check;
use cranebpf::cbpf::insn::op;
use cranebpf::cbpf::Program;

/// Upper bound on predicate calls per minimisation, so a slow predicate
/// (the kernel) cannot make one mismatch take minutes.
pub const MAX_TRIES: usize = 4000;

/// `prog` without instruction `i`, jumps adjusted; `None` if `i` is out of
/// range.
pub fn remove_insn(prog: &Program, i: usize) -> Option<Program> {
    if i >= prog.len() {
        return None;
    }
    let mut insns = prog.insns.clone();
    insns.remove(i);
    for (j, insn) in insns.iter_mut().enumerate().take(i) {
        if insn.class() != op::JMP {
            continue;
        }
        // Offsets are relative to the next instruction: a target past the
        // removed one moves back by one.
        let past = |off: u64| j as u64 + 1 + off > i as u64;
        if insn.op() == op::JA {
            if past(insn.k as u64) {
                insn.k -= 1;
            }
        } else {
            if past(insn.jt as u64) {
                insn.jt -= 1;
            }
            if past(insn.jf as u64) {
                insn.jf -= 1;
            }
        }
    }
    Some(Program::new(insns))
}

/// Drops instructions while the program stays valid (if `keep_valid`) and
/// `differs` still holds.
pub fn minimize_program(
    prog: &Program,
    keep_valid: bool,
    mut differs: impl FnMut(&Program) -> bool,
) -> Program {
    let mut best = prog.clone();
    let mut tries = 0;
    let mut progress = true;
    while progress && tries < MAX_TRIES {
        progress = false;
        for i in (0..best.len()).rev() {
            let Some(candidate) = remove_insn(&best, i) else {
                continue;
            };
            if keep_valid && check(&candidate).is_err() {
                continue;
            }
            tries += 1;
            if differs(&candidate) {
                best = candidate;
                progress = true;
            }
            if tries >= MAX_TRIES {
                break;
            }
        }
    }
    best
}

/// Shortens `packet` while `differs` still holds: first the shortest
/// prefix found by halving, then chunks of halving size removed anywhere.
pub fn minimize_packet(packet: &[u8], mut differs: impl FnMut(&[u8]) -> bool) -> Vec<u8> {
    let mut best = packet.to_vec();
    let mut tries = 0;
    // Cut the tail: largest cut first (a 1-byte packet may lose its byte).
    let mut cut = best.len().div_ceil(2);
    while cut > 0 && tries < MAX_TRIES {
        // A successful cut may leave less than `cut` bytes.
        cut = cut.min(best.len());
        if cut == 0 {
            break;
        }
        tries += 1;
        let shorter = &best[..best.len() - cut];
        if differs(shorter) {
            best.truncate(best.len() - cut);
        } else {
            cut /= 2;
        }
    }
    // Remove chunks from anywhere.
    let mut chunk = best.len().div_ceil(2);
    while chunk > 0 && tries < MAX_TRIES {
        let mut at = 0;
        while at + chunk <= best.len() && tries < MAX_TRIES {
            let mut candidate = best[..at].to_vec();
            candidate.extend_from_slice(&best[at + chunk..]);
            tries += 1;
            if differs(&candidate) {
                best = candidate;
            } else {
                at += chunk;
            }
        }
        chunk /= 2;
    }
    best
}

#[cfg(test)]
mod packet_tests {
    use super::minimize_packet;

    #[test]
    fn a_difference_at_every_length_shrinks_to_nothing() {
        // Every cut succeeds: the cut must never exceed what is left.
        for len in [1usize, 2, 3, 7, 1000] {
            assert!(minimize_packet(&vec![1; len], |_| true).is_empty());
        }
    }

    #[test]
    fn keeps_the_byte_that_matters() {
        let mut p = vec![0u8; 300];
        p[200] = 9;
        let m = minimize_packet(&p, |q| q.contains(&9));
        assert_eq!(m, vec![9]);
    }
}
