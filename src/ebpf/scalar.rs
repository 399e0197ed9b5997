//! Unsigned bounds of numbers, as far as the context pass needs them to
//! follow a packet pointer moved by a number (`data + ihl * 4`): the
//! kernel's verifier gives such a pointer its own id and range, and
//! refuses its accesses past what a comparison with `data_end` proved.
//!
//! Two kinds of number matter, because the kernel explores paths one by
//! one: a number unknown on its own path (`var`: loaded from memory or
//! the context, or computed from one), which makes the kernel's pointer
//! variable on every path, and a number that is a constant on each path
//! but not the same on all (`nh_off = vlan ? 18 : 14`), which the kernel
//! adds to the pointer's constant offset path by path. The pass joins
//! paths, so it follows a pointer only when the number is one constant or
//! `var`; anything else is left to the run-time checks (never refused).
//!
//! The kernel knows more about a number than these bounds (signed bounds,
//! known bits, path by path), so they may be looser than its own. A
//! refusal that follows from a number being *too large* is the kernel's
//! only when they are not (`sure`): numbers built from loads, constants,
//! unsigned comparisons and the operations whose bounds the kernel
//! computes the same way; anything else clears it, and such a number is
//! never the reason for a refusal.

use super::insn::op;
use super::semantics;

/// A number's unsigned bounds, `lo ..= hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scalar {
    pub lo: u64,
    pub hi: u64,
    /// Unknown on its own path (see the module header).
    pub var: bool,
    /// Registers and stack slots holding the same `link` (non-zero) hold
    /// copies of one number, so bounds learnt on one hold for all (the
    /// kernel's scalar ids); 0 for none.
    pub link: usize,
    /// The kernel's bounds are these on the path giving each extreme (see
    /// the module header).
    pub sure: bool,
}

/// The kernel's `MAX_PACKET_OFF`: the largest number a packet pointer may
/// be moved by and still be proven.
pub(crate) const MAX_PACKET_OFF: u64 = 0xffff;

impl Scalar {
    pub(crate) fn constant(v: u64) -> Scalar {
        Scalar {
            lo: v,
            hi: v,
            var: false,
            link: 0,
            sure: true,
        }
    }

    /// A number the kernel knows nothing of: a helper's result
    /// (`RET_INTEGER`, bounds not refined), or 8 bytes loaded.
    pub(crate) fn unknown() -> Scalar {
        Scalar::loaded(8)
    }

    /// A `size`-byte value loaded from memory (zero-extended).
    pub(crate) fn loaded(size: usize) -> Scalar {
        Scalar {
            lo: 0,
            hi: if size >= 8 {
                u64::MAX
            } else {
                (1u64 << (8 * size)) - 1
            },
            var: true,
            link: 0,
            sure: true,
        }
    }

    pub(crate) fn exact(self) -> Option<u64> {
        (self.lo == self.hi).then_some(self.lo)
    }

    /// Both paths' bounds; `var` only when both are (see the header).
    pub(crate) fn join(self, o: Scalar) -> Scalar {
        Scalar {
            lo: self.lo.min(o.lo),
            hi: self.hi.max(o.hi),
            var: self.var && o.var,
            link: if self.link == o.link { self.link } else { 0 },
            sure: self.sure && o.sure,
        }
    }

    /// May be below zero as a signed 64-bit number, with nothing bounding
    /// it there: the kernel's `smin_value == S64_MIN` when `sure`.
    pub(crate) fn unbounded_below(self) -> bool {
        const SIGN: u64 = 1 << 63;
        self.lo == SIGN || (self.lo < SIGN && self.hi >= SIGN)
    }

    fn unsure(self) -> Scalar {
        Scalar {
            sure: false,
            ..self
        }
    }
}

/// The bounds of `dst op src` (class ALU64 or ALU), `None` when not
/// known. `src` is the operand's bounds (an immediate as a constant, as
/// the instruction extends it).
pub(crate) fn alu(class: u8, code: u8, off: i16, dst: Scalar, src: Scalar) -> Option<Scalar> {
    let wide = class == op::ALU64;
    let var = dst.var || src.var;
    if let (Some(a), Some(b)) = (dst.exact(), src.exact()) {
        let v = if wide {
            semantics::alu64(code, off, a, b)
        } else {
            semantics::alu32(code, off, a, b)
        };
        return Some(Scalar {
            var,
            sure: dst.sure && src.sure,
            ..Scalar::constant(v)
        });
    }
    // The kernel bounds these as below; for OR, XOR, DIV and MOD its known
    // bits or its rules may give other bounds.
    let sure = dst.sure
        && src.sure
        && matches!(
            code,
            op::AND | op::ADD | op::SUB | op::MUL | op::LSH | op::RSH
        );
    let range = |lo: u64, hi: u64| {
        Some(Scalar {
            lo,
            hi,
            var,
            link: 0,
            sure,
        })
    };
    let r = match code {
        op::AND => range(0, dst.hi.min(src.hi)),
        op::OR | op::XOR => {
            let top = dst.hi.max(src.hi);
            let all = u64::MAX.checked_shr(top.leading_zeros()).unwrap_or(0);
            let lo = if code == op::OR {
                dst.lo.max(src.lo)
            } else {
                0
            };
            range(lo, all)
        }
        op::ADD => range(dst.lo.checked_add(src.lo)?, dst.hi.checked_add(src.hi)?),
        op::SUB => {
            let k = src.exact()?;
            range(dst.lo.checked_sub(k)?, dst.hi.checked_sub(k)?)
        }
        op::MUL => range(dst.lo.checked_mul(src.lo)?, dst.hi.checked_mul(src.hi)?),
        op::DIV if off == 0 => {
            let k = src.exact().filter(|&k| k != 0)?;
            range(dst.lo / k, dst.hi / k)
        }
        op::MOD if off == 0 => {
            let k = src.exact().filter(|&k| k != 0)?;
            range(0, dst.hi.min(k - 1))
        }
        op::LSH => {
            let k = src.exact().filter(|&k| k < 64)? as u32;
            if dst.hi.leading_zeros() < k {
                // Bits shifted out: only the k low zero bits are known
                // (clang's `lsh 32; rsh 32` zero-extension starts so). The
                // kernel's known bits give it the same bound when every
                // bit of `dst` up to its top was unknown.
                let low_bits_unknown = dst.lo == 0 && dst.hi.wrapping_add(1) & dst.hi == 0;
                return Some(Scalar {
                    lo: 0,
                    hi: u64::MAX << k,
                    var,
                    link: 0,
                    sure: sure && low_bits_unknown,
                })
                .filter(|_| wide);
            }
            range(dst.lo << k, dst.hi << k)
        }
        op::RSH => {
            let k = src.exact().filter(|&k| k < 64)? as u32;
            range(dst.lo >> k, dst.hi >> k)
        }
        _ => None,
    };
    match r {
        // A 32-bit result is its low half: the bounds hold when they fit.
        Some(s) if !wide && s.hi > u64::from(u32::MAX) => None,
        r => r,
    }
}

/// `s` on the side of a jump (`jmp op s, k`, class JMP or JMP32; `k` the
/// immediate sign-extended) where the comparison came out `taken`; `None`
/// when no value of `s` reaches that side (which the pass then leaves as
/// it was: it does not prune paths). A comparison these bounds cannot
/// follow leaves them, no longer `sure`: the kernel may have learnt from
/// it.
pub(crate) fn refine(class: u8, code: u8, s: Scalar, k: u64, taken: bool) -> Option<Scalar> {
    let signed = matches!(code, op::JSGT | op::JSGE | op::JSLT | op::JSLE);
    // JMP32 compares the low halves: the same when the value fits.
    let k = if class == op::JMP {
        k
    } else {
        u64::from(k as u32)
    };
    if class == op::JMP32 && s.hi > u64::from(u32::MAX) {
        return Some(s.unsure());
    }
    // Signed compares order as unsigned ones when both sides are
    // non-negative.
    let limit = if class == op::JMP32 {
        u64::from(i32::MAX as u32)
    } else {
        i64::MAX as u64
    };
    if signed && (s.hi > limit || k > limit) {
        return Some(s.unsure());
    }
    let unsigned = match code {
        op::JSGT => op::JGT,
        op::JSGE => op::JGE,
        op::JSLT => op::JLT,
        op::JSLE => op::JLE,
        c => c,
    };
    // (lo, hi) the side keeps: x > k ⇔ lo = k + 1, and so on.
    let (lo, hi) = match (unsigned, taken) {
        (op::JEQ, true) | (op::JNE, false) => (k, k),
        (op::JGT, true) | (op::JLE, false) => (k.checked_add(1)?, u64::MAX),
        (op::JGT, false) | (op::JLE, true) => (0, k),
        (op::JGE, true) | (op::JLT, false) => (k, u64::MAX),
        (op::JGE, false) | (op::JLT, true) => (0, k.checked_sub(1)?),
        (op::JNE, true) | (op::JEQ, false) => {
            // x != k moves a bound equal to k, as the kernel's does; its
            // signed bounds move at the sign boundary, which these do not
            // see.
            let edge = if class == op::JMP32 {
                matches!(k, 0x7fff_ffff | 0x8000_0000)
            } else {
                matches!(k, 0x7fff_ffff_ffff_ffff | 0x8000_0000_0000_0000)
            };
            let s = if edge { s.unsure() } else { s };
            return match (s.lo == k, s.hi == k) {
                (true, true) => None,
                (true, false) => Some(Scalar { lo: k + 1, ..s }),
                (false, true) => Some(Scalar { hi: k - 1, ..s }),
                (false, false) => Some(s),
            };
        }
        // (jset: the kernel learns known bits.)
        _ => return Some(s.unsure()),
    };
    let (lo, hi) = (s.lo.max(lo), s.hi.min(hi));
    (lo <= hi).then_some(Scalar { lo, hi, ..s })
}

/// The comparison `k op x` as `x op' k` (`5 > x` is `x < 5`).
pub(crate) fn swapped(code: u8) -> u8 {
    match code {
        op::JGT => op::JLT,
        op::JGE => op::JLE,
        op::JLT => op::JGT,
        op::JLE => op::JGE,
        op::JSGT => op::JSLT,
        op::JSGE => op::JSLE,
        op::JSLT => op::JSGT,
        op::JSLE => op::JSGE,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BYTE: Scalar = Scalar {
        lo: 0,
        hi: 255,
        var: true,
        link: 0,
        sure: true,
    };

    #[test]
    fn the_ip_header_length_idiom_is_bounded() {
        // (byte & 0xf) << 2: 0 ..= 60, still unknown on its path.
        let ihl = alu(op::ALU64, op::AND, 0, BYTE, Scalar::constant(0xf)).expect("and");
        let len = alu(op::ALU64, op::LSH, 0, ihl, Scalar::constant(2)).expect("lsh");
        assert_eq!((len.lo, len.hi, len.var), (0, 60, true));
        // Constants stay exact (computed by the shared semantics).
        // clang's zero-extension of a helper's result: 0 ..= 2^32 - 1, as
        // the kernel bounds it.
        let high = alu(
            op::ALU64,
            op::LSH,
            0,
            Scalar::unknown(),
            Scalar::constant(32),
        );
        let low = high.and_then(|h| alu(op::ALU64, op::RSH, 0, h, Scalar::constant(32)));
        assert_eq!(
            low.map(|l| (l.lo, l.hi, l.sure)),
            Some((0, 0xffff_ffff, true))
        );
        let k = alu(
            op::ALU,
            op::SUB,
            0,
            Scalar::constant(3),
            Scalar::constant(5),
        );
        assert_eq!(k.and_then(Scalar::exact), Some(0xffff_fffe));
        // A 32-bit sum that could wrap has no bounds.
        let big = Scalar {
            hi: u64::from(u32::MAX),
            ..BYTE
        };
        assert_eq!(alu(op::ALU, op::ADD, 0, big, Scalar::constant(1)), None);
    }

    #[test]
    fn comparisons_bound_each_side() {
        let le_60 = refine(op::JMP, op::JGT, BYTE, 60, false).expect("not taken");
        assert_eq!((le_60.lo, le_60.hi), (0, 60));
        let gt_60 = refine(op::JMP, op::JGT, BYTE, 60, true).expect("taken");
        assert_eq!((gt_60.lo, gt_60.hi), (61, 255));
        assert_eq!(
            refine(op::JMP, op::JEQ, BYTE, 7, true).and_then(Scalar::exact),
            Some(7)
        );
        // `20 > x` (clang's `hlen < 20` with the constant in a register).
        let lt_20 = refine(op::JMP, swapped(op::JGT), BYTE, 20, true).expect("taken");
        assert_eq!((lt_20.lo, lt_20.hi), (0, 19));
        // A side no value reaches.
        assert_eq!(refine(op::JMP, op::JGT, BYTE, 300, true), None);
        // Signed compares of a number that may be negative are not
        // followed: the bounds stay, no longer the kernel's for sure.
        let any = Scalar::unknown();
        let after = refine(op::JMP, op::JSLT, any, 10, true).expect("reached");
        assert_eq!((after.lo, after.hi, after.sure), (0, u64::MAX, false));
        assert!(any.unbounded_below() && any.sure);
        // x != 0 moves the lower bound, as the kernel's.
        let nonzero = refine(op::JMP, op::JNE, BYTE, 0, true).expect("taken");
        assert_eq!((nonzero.lo, nonzero.hi, nonzero.sure), (1, 255, true));
        assert_eq!(refine(op::JMP, op::JNE, Scalar::constant(3), 3, true), None);
        // jset and comparisons at the sign boundary: not followed.
        assert!(
            !refine(op::JMP, op::JSET, any, 1 << 63, false)
                .expect("reached")
                .sure
        );
        assert!(
            !refine(op::JMP, op::JNE, any, 1 << 63, true)
                .expect("reached")
                .sure
        );
    }
}
