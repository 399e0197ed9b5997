//! Bounds of numbers, unsigned and signed as the kernel's verifier keeps
//! both, as far as the context pass needs them to follow a pointer moved
//! by a number (`data + ihl * 4`, `value + i * 4`): the kernel gives such
//! a pointer a variable part and refuses it where those bounds do not keep
//! it inside its memory (a sign-extended index may be negative: `R1 min
//! value is negative`, whatever its unsigned bounds say).
//!
//! Two kinds of number matter, because the kernel explores paths one by
//! one: a number unknown on its own path (`var`: loaded from memory or
//! the context, or computed from one), which makes the kernel's pointer
//! variable on every path, and a number that is a constant on each path
//! but not the same on all (`nh_off = vlan ? 18 : 14`), which the kernel
//! adds to the pointer's constant offset path by path. The pass keeps the
//! states of up to eight paths apart at each instruction (so such a
//! number is a constant on each) and joins the paths past that; where a
//! join leaves a number neither one constant nor `var`, the pointer is
//! left to the run-time checks (never refused).
//!
//! The kernel knows more about a number than these bounds (known bits,
//! 32-bit halves, path by path), so they may be looser than its own. A
//! refusal that follows from a number's bounds is the kernel's only when
//! they are not (`sure`): numbers built from loads, constants, comparisons
//! and the operations whose bounds the kernel computes the same way;
//! anything else clears it, and such a number is never the reason for a
//! refusal.

use super::insn::op;
use super::semantics;
use super::tnum::Tnum;

/// A number's bounds: unsigned `lo ..= hi`, signed `smin ..= smax`, and
/// signed `s32min ..= s32max` of its low 32 bits (what clang's 32-bit
/// arithmetic and comparisons bound), each as tight as the others allow
/// (the kernel's `reg_bounds_sync`), and the bits known (`bits`, the
/// kernel's `var_off`). The low half's unsigned bounds are `lo ..= hi`
/// when the number fits 32 bits, else not kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Scalar {
    pub lo: u64,
    pub hi: u64,
    pub smin: i64,
    pub smax: i64,
    pub s32min: i32,
    pub s32max: i32,
    pub bits: Tnum,
    /// `bits` are the kernel's (else they may know less: after a product
    /// or a division, which the kernel follows bit by bit, or a join of
    /// paths that knew different bits). Bounds computed from bits are
    /// `sure` only when they are.
    pub bits_exact: bool,
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
            smin: v as i64,
            smax: v as i64,
            s32min: v as i32,
            s32max: v as i32,
            bits: Tnum::constant(v),
            bits_exact: true,
            var: false,
            link: 0,
            sure: true,
        }
    }

    /// Any 64-bit value, nothing known (the start of the constructors
    /// below, which narrow it and sync).
    const ANY: Scalar = Scalar {
        lo: 0,
        hi: u64::MAX,
        smin: i64::MIN,
        smax: i64::MAX,
        s32min: i32::MIN,
        s32max: i32::MAX,
        bits: Tnum::UNKNOWN,
        bits_exact: true,
        var: false,
        link: 0,
        sure: true,
    };

    /// A number within `lo ..= hi` unsigned, its signed bounds what those
    /// give.
    pub(crate) fn unsigned(lo: u64, hi: u64, var: bool, sure: bool) -> Scalar {
        Scalar {
            lo,
            hi,
            var,
            sure,
            ..Scalar::ANY
        }
        .synced()
        .unwrap_or_else(|| unreachable!("lo <= hi"))
    }

    /// A number within `smin ..= smax` signed, its unsigned bounds what
    /// those give.
    fn signed(smin: i64, smax: i64, var: bool, sure: bool) -> Scalar {
        Scalar {
            smin,
            smax,
            var,
            sure,
            ..Scalar::ANY
        }
        .synced()
        .unwrap_or_else(|| unreachable!("smin <= smax"))
    }

    /// A 32-bit result within `s32min ..= s32max` signed, zero-extended.
    fn signed32(s32min: i32, s32max: i32, var: bool, sure: bool) -> Scalar {
        Scalar {
            hi: u64::from(u32::MAX),
            s32min,
            s32max,
            var,
            sure,
            ..Scalar::ANY
        }
        .synced()
        .unwrap_or_else(|| unreachable!("s32min <= s32max"))
    }

    /// A number the kernel knows nothing of: a helper's result
    /// (`RET_INTEGER`, bounds not refined), or 8 bytes loaded.
    pub(crate) fn unknown() -> Scalar {
        Scalar::loaded(8)
    }

    /// A `size`-byte value loaded from memory (zero-extended).
    pub(crate) fn loaded(size: usize) -> Scalar {
        let hi = if size >= 8 {
            u64::MAX
        } else {
            (1u64 << (8 * size)) - 1
        };
        Scalar::unsigned(0, hi, true, true)
    }

    /// A `size`-byte value loaded sign-extended (`ldxs`).
    pub(crate) fn loaded_signed(size: usize) -> Scalar {
        if size >= 8 {
            return Scalar::unknown();
        }
        let half = 1i64 << (8 * size - 1);
        Scalar::signed(-half, half - 1, true, true)
    }

    pub(crate) fn exact(self) -> Option<u64> {
        (self.lo == self.hi).then_some(self.lo)
    }

    /// Both paths' bounds; `var` only when both are (see the header).
    pub(crate) fn join(self, o: Scalar) -> Scalar {
        Scalar {
            lo: self.lo.min(o.lo),
            hi: self.hi.max(o.hi),
            smin: self.smin.min(o.smin),
            smax: self.smax.max(o.smax),
            s32min: self.s32min.min(o.s32min),
            s32max: self.s32max.max(o.s32max),
            bits: self.bits.union(o.bits),
            bits_exact: self.bits_exact && o.bits_exact && self.bits == o.bits,
            var: self.var && o.var,
            link: if self.link == o.link { self.link } else { 0 },
            sure: self.sure && o.sure,
        }
    }

    /// What both bounds say of one number (a copy learning what a
    /// comparison taught the other); `None` when they leave no value.
    pub(crate) fn meet(self, o: Scalar) -> Option<Scalar> {
        Scalar {
            lo: self.lo.max(o.lo),
            hi: self.hi.min(o.hi),
            smin: self.smin.max(o.smin),
            smax: self.smax.min(o.smax),
            s32min: self.s32min.max(o.s32min),
            s32max: self.s32max.min(o.s32max),
            bits: self.bits.intersect(o.bits),
            bits_exact: self.bits_exact && o.bits_exact,
            sure: self.sure && o.sure,
            ..self
        }
        .synced()
    }

    /// May be below zero with nothing bounding it: the kernel's
    /// `smin_value == S64_MIN` when `sure`.
    pub(crate) fn unbounded_below(self) -> bool {
        self.smin == i64::MIN
    }

    /// Its low 32 bits (a 32-bit operation's operand, or `mov32`): the
    /// number when it fits, else any 32-bit value, the kernel's bound too
    /// when the low halves cover every value.
    pub(crate) fn low_half(self) -> Scalar {
        if self.hi <= u64::from(u32::MAX) {
            return self;
        }
        let sure = self.sure && self.hi - self.lo >= 1 << 32;
        Scalar {
            bits: self.bits.low(),
            bits_exact: self.bits_exact,
            ..Scalar::signed32(self.s32min, self.s32max, self.var, sure)
        }
        .synced()
        // (Bounds and bits of a synced number agree; should they not, any
        // 32-bit value, no longer the kernel's for sure.)
        .unwrap_or_else(|| Scalar::unsigned(0, u64::from(u32::MAX), self.var, false))
    }

    /// Sign-extended from its low `bits` bits (`movsx`), as the kernel's
    /// `coerce_reg_to_size_sx` bounds it: the same number when its range
    /// keeps one sign there, else the narrow type's whole range.
    fn sign_extended(self, bits: u32) -> Scalar {
        let extend = |v: i64| (v << (64 - bits)) >> (64 - bits);
        if let Some(v) = self.exact() {
            return Scalar {
                var: self.var,
                sure: self.sure,
                ..Scalar::constant(extend(v as i64) as u64)
            };
        }
        let same_top = (self.smax as u64) >> bits == (self.smin as u64) >> bits;
        let (a, b) = (extend(self.smin), extend(self.smax));
        let (lo, hi) = (a.min(b), a.max(b));
        if same_top && (lo >= 0) == (hi >= 0) {
            return Scalar::signed(lo, hi, self.var, self.sure);
        }
        let half = 1i64 << (bits - 1);
        Scalar::signed(-half, half - 1, self.var, self.sure)
    }

    /// Bounds from the bits known (`__update_reg_bounds`).
    fn bounded_by_bits(&mut self) {
        const SIGN: u64 = 1 << 63;
        const SIGN32: u64 = 1 << 31;
        let b = self.bits;
        self.lo = self.lo.max(b.min());
        self.hi = self.hi.min(b.max());
        self.smin = self.smin.max((b.value | (b.mask & SIGN)) as i64);
        self.smax = self.smax.min((b.value | (b.mask & !SIGN)) as i64);
        let l = b.low();
        self.s32min = self.s32min.max((l.value | (l.mask & SIGN32)) as u32 as i32);
        self.s32max = self
            .s32max
            .min((l.value | (l.mask & (SIGN32 - 1))) as u32 as i32);
    }

    /// Bits known from the bounds (`__reg_bound_offset`): the bits every
    /// number in range shares, the low half's from its own bounds.
    fn bits_from_bounds(&mut self) {
        let b = self.bits.intersect(Tnum::range(self.lo, self.hi));
        let (min32, max32) = (self.s32min as u32, self.s32max as u32);
        let low = if min32 <= max32 {
            b.low()
                .intersect(Tnum::range(u64::from(min32), u64::from(max32)))
        } else {
            b.low()
        };
        self.bits = b.with_low(low);
    }

    /// Each pair of bounds and the bits known tightened by the others, as
    /// the kernel's `reg_bounds_sync` does; `None` when no value is left.
    fn synced(mut self) -> Option<Scalar> {
        const U32: u64 = u32::MAX as u64;
        self.bounded_by_bits();
        for _ in 0..2 {
            if self.hi <= U32 {
                // A number of 32 bits: its bounds are its low half's
                // unsigned bounds, tightened by the signed ones as the
                // kernel's `__reg32_deduce_bounds` does.
                let (mut lo, mut hi) = (self.lo as u32, self.hi as u32);
                let (smin, smax) = (self.s32min as u32, self.s32max as u32);
                if smin <= smax {
                    (lo, hi) = (lo.max(smin), hi.min(smax));
                } else if hi < smin {
                    self.s32min = lo as i32;
                    hi = hi.min(smax);
                } else if smax < lo {
                    self.s32max = hi as i32;
                    lo = lo.max(smin);
                }
                if lo as i32 <= hi as i32 {
                    self.s32min = self.s32min.max(lo as i32);
                    self.s32max = self.s32max.min(hi as i32);
                }
                (self.lo, self.hi) = (u64::from(lo), u64::from(hi));
            } else if self.lo >> 32 == self.hi >> 32 && self.lo as i32 <= self.hi as i32 {
                // Upper halves alike: the low halves bound the low half.
                self.s32min = self.s32min.max(self.lo as i32);
                self.s32max = self.s32max.min(self.hi as i32);
            }
            if (self.smin as u64) >> 32 == (self.smax as u64) >> 32
                && self.smin as i32 <= self.smax as i32
            {
                self.s32min = self.s32min.max(self.smin as i32);
                self.s32max = self.s32max.min(self.smax as i32);
            }
            // Unsigned bounds on one side of the sign boundary are signed
            // bounds too.
            if (self.lo as i64) <= (self.hi as i64) {
                self.smin = self.smin.max(self.lo as i64);
                self.smax = self.smax.min(self.hi as i64);
            }
            if (self.smin as u64) <= (self.smax as u64) {
                // Signed bounds of one sign are unsigned bounds too.
                self.lo = self.lo.max(self.smin as u64);
                self.hi = self.hi.min(self.smax as u64);
            } else if self.hi < self.smin as u64 {
                // Signed bounds across zero, unsigned ones reaching only
                // their non-negative part (or only the negative one).
                self.smin = self.lo as i64;
                self.hi = self.hi.min(self.smax as u64);
            } else if (self.smax as u64) < self.lo {
                self.smax = self.hi as i64;
                self.lo = self.lo.max(self.smin as u64);
            }
        }
        if self.lo > self.hi || self.smin > self.smax || self.s32min > self.s32max {
            return None;
        }
        self.bits_from_bounds();
        self.bounded_by_bits();
        // One member of the known bits left between the bounds: the
        // number is that constant (the kernel's tnum_step, since Linux
        // 6.18's stable updates). Only with the kernel's own bits.
        if self.bits_exact && self.lo < self.hi {
            let first = self.bits.member_at_least(self.lo);
            if let Some(only) = first.filter(|&f| f <= self.hi) {
                let next = only
                    .checked_add(1)
                    .and_then(|n| self.bits.member_at_least(n));
                if next.is_none_or(|n| n > self.hi) {
                    return Some(Scalar {
                        var: self.var,
                        link: self.link,
                        sure: self.sure,
                        ..Scalar::constant(only)
                    });
                }
            }
        }
        (self.lo <= self.hi && self.smin <= self.smax && self.s32min <= self.s32max).then_some(self)
    }

    fn unsure(self) -> Scalar {
        Scalar {
            sure: false,
            bits_exact: false,
            ..self
        }
    }
}

/// The bounds of `dst op src` (class ALU64 or ALU), `None` when not
/// known. `src` is the operand's bounds (an immediate as a constant, as
/// the instruction extends it).
pub(crate) fn alu(class: u8, code: u8, off: i16, dst: Scalar, src: Scalar) -> Option<Scalar> {
    let wide = class == op::ALU64;
    if code == op::MOV {
        // A move (`dst` unused), sign-extending with an offset (`movsx`;
        // the 32-bit form is not followed).
        return match (wide, off) {
            (true, 0) => Some(src),
            (true, 8 | 16 | 32) => Some(src.sign_extended(off as u32)),
            (false, 0) => Some(src.low_half()),
            _ => None,
        };
    }
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
    // `x & 0` and `x * 0` are 0 whatever the kernel knows of `x`.
    if matches!(code, op::AND | op::MUL)
        && [dst, src].iter().any(|s| s.sure && s.exact() == Some(0))
    {
        return Some(Scalar::constant(0));
    }
    // A 32-bit operation works on the low halves.
    let (dst, src) = if wide {
        (dst, src)
    } else {
        (dst.low_half(), src.low_half())
    };
    // The bits known, as the kernel's tnum operations give them (a
    // quotient is bounded, its bits taken from its bounds: the kernel
    // follows them bit by bit, by rules not followed here).
    let k = src.exact().map(|k| k as u32);
    let bits = match (code, k) {
        (op::MUL, _) => dst.bits.mul(src.bits),
        (op::ADD, _) => dst.bits.add(src.bits),
        (op::SUB, _) => dst.bits.sub(src.bits),
        (op::AND, _) => dst.bits.and(src.bits),
        (op::OR, _) => dst.bits.or(src.bits),
        (op::XOR, _) => dst.bits.xor(src.bits),
        (op::LSH, Some(k)) if k < 64 => dst.bits.lsh(k),
        (op::RSH, Some(k)) if k < 64 => dst.bits.rsh(k),
        (op::ARSH, Some(k)) if k < 64 => dst.bits.arsh(k, if wide { 64 } else { 32 }),
        _ => Tnum::UNKNOWN,
    };
    let bits = if wide { bits } else { bits.low() };
    let bits_exact = dst.bits_exact
        && src.bits_exact
        && matches!(
            code,
            op::ADD | op::SUB | op::MUL | op::AND | op::OR | op::XOR | op::LSH | op::RSH | op::ARSH
        );
    // The kernel bounds these as below (those of `and`, `or`, `xor` and
    // shifts with the bits known); a product of numbers that may be
    // negative is bounded by rules that changed between kernels, and its
    // division rules are not these.
    let sure = dst.sure
        && src.sure
        && match code {
            op::ADD | op::SUB => true,
            op::AND | op::OR | op::XOR | op::LSH | op::RSH | op::ARSH => bits_exact,
            op::MUL => dst.smin >= 0 && src.smin >= 0,
            _ => false,
        };
    let r = alu_bounds(code, off, wide, dst, src, var, sure)?;
    Scalar {
        bits: r.bits.intersect(bits),
        bits_exact,
        ..r
    }
    .synced()
}

/// The bounds of `dst op src` without the bits known (`alu`'s).
fn alu_bounds(
    code: u8,
    off: i16,
    wide: bool,
    dst: Scalar,
    src: Scalar,
    var: bool,
    sure: bool,
) -> Option<Scalar> {
    let unsigned = |lo: u64, hi: u64| Some(Scalar::unsigned(lo, hi, var, sure));
    let r = match code {
        op::AND => unsigned(0, dst.hi.min(src.hi)),
        op::OR | op::XOR => {
            let top = dst.hi.max(src.hi);
            let all = u64::MAX.checked_shr(top.leading_zeros()).unwrap_or(0);
            let lo = if code == op::OR {
                dst.lo.max(src.lo)
            } else {
                0
            };
            unsigned(lo, all)
        }
        // Sums and differences: each pair of bounds on its own, any value
        // where it could wrap (as the kernel's scalar_min_max_add/sub).
        op::ADD | op::SUB => {
            let (u, s) = if code == op::ADD {
                (
                    dst.lo.checked_add(src.lo).zip(dst.hi.checked_add(src.hi)),
                    dst.smin
                        .checked_add(src.smin)
                        .zip(dst.smax.checked_add(src.smax)),
                )
            } else {
                (
                    dst.lo.checked_sub(src.hi).zip(dst.hi.checked_sub(src.lo)),
                    dst.smin
                        .checked_sub(src.smax)
                        .zip(dst.smax.checked_sub(src.smin)),
                )
            };
            if wide {
                let (lo, hi) = u.unwrap_or((0, u64::MAX));
                let (smin, smax) = s.unwrap_or((i64::MIN, i64::MAX));
                return Scalar {
                    lo,
                    hi,
                    smin,
                    smax,
                    var,
                    sure,
                    ..Scalar::ANY
                }
                .synced();
            }
            // 32 bits: the low halves' sums, any 32-bit value where they
            // wrap, and the same for their signed bounds.
            let u32_max = u64::from(u32::MAX);
            let (lo, hi) = u.filter(|&(_, hi)| hi <= u32_max).unwrap_or((0, u32_max));
            let s32 = if code == op::ADD {
                dst.s32min
                    .checked_add(src.s32min)
                    .zip(dst.s32max.checked_add(src.s32max))
            } else {
                dst.s32min
                    .checked_sub(src.s32max)
                    .zip(dst.s32max.checked_sub(src.s32min))
            };
            let (s32min, s32max) = s32.unwrap_or((i32::MIN, i32::MAX));
            let r = Scalar::unsigned(lo, hi, var, sure);
            return Scalar {
                s32min: r.s32min.max(s32min),
                s32max: r.s32max.min(s32max),
                ..r
            }
            .synced();
        }
        op::MUL => unsigned(dst.lo.checked_mul(src.lo)?, dst.hi.checked_mul(src.hi)?),
        op::DIV if off == 0 => {
            let k = src.exact().filter(|&k| k != 0)?;
            unsigned(dst.lo / k, dst.hi / k)
        }
        op::MOD if off == 0 => {
            let k = src.exact().filter(|&k| k != 0)?;
            unsigned(0, dst.hi.min(k - 1))
        }
        op::LSH => {
            let width = if wide { 64 } else { 32 };
            let k = src.exact().filter(|&k| k < width)? as u32;
            // Where the top bit may be shifted out the kernel's bounds are
            // what the bits known give (`__scalar64_min_max_lsh`: clang's
            // `lsh 32; rsh 32` zero-extension starts so).
            let r = if dst.hi > 1u64 << (width - 1 - u64::from(k)) {
                let all = if wide { u64::MAX } else { u64::from(u32::MAX) };
                Scalar::unsigned(0, all, var, sure)
            } else {
                Scalar::unsigned(dst.lo << k, dst.hi << k, var, sure)
            };
            if k != 32 || !wide {
                Some(r)
            } else {
                // The kernel's own case for clang's sign extension (`lsh
                // 32; arsh 32`): a non-negative end of the low half's
                // signed bounds bounds the result.
                let end = |b: i32, none: i64| if b >= 0 { i64::from(b) << 32 } else { none };
                Scalar {
                    smin: r.smin.max(end(dst.s32min, i64::MIN)),
                    smax: r.smax.min(end(dst.s32max, i64::MAX)),
                    ..r
                }
                .synced()
            }
        }
        op::RSH => {
            let k = src.exact().filter(|&k| k < 64)? as u32;
            unsigned(dst.lo >> k, dst.hi >> k)
        }
        // An arithmetic shift keeps the signed order (clang's sign
        // extension `lsh 32; arsh 32` ends so).
        op::ARSH if wide => {
            let k = src.exact().filter(|&k| k < 64)? as u32;
            Some(Scalar::signed(dst.smin >> k, dst.smax >> k, var, sure))
        }
        op::ARSH => {
            let k = src.exact().filter(|&k| k < 32)? as u32;
            Some(Scalar::signed32(
                dst.s32min >> k,
                dst.s32max >> k,
                var,
                sure,
            ))
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
    let wide = class == op::JMP;
    // JMP32 compares the low halves: bounds of the number when it fits
    // 32 bits (the kernel also learns of a wider number's low half, which
    // these do not keep).
    if !wide && s.hi > u64::from(u32::MAX) {
        return Some(s.unsure());
    }
    let signed = matches!(code, op::JSGT | op::JSGE | op::JSLT | op::JSLE);
    if signed {
        // The signed bounds (of the low half for JMP32), as the kernel's
        // regs_refine_cond_op.
        let (min, max, k) = if wide {
            (i64::MIN, i64::MAX, k as i64)
        } else {
            (
                i64::from(i32::MIN),
                i64::from(i32::MAX),
                i64::from(k as i32),
            )
        };
        let (lo, hi) = match (code, taken) {
            (op::JSGT, true) | (op::JSLE, false) => (k.checked_add(1).filter(|&l| l <= max)?, max),
            (op::JSGT, false) | (op::JSLE, true) => (min, k),
            (op::JSGE, true) | (op::JSLT, false) => (k, max),
            (op::JSGE, false) | (op::JSLT, true) => (min, k.checked_sub(1).filter(|&h| h >= min)?),
            _ => unreachable!("signed comparisons"),
        };
        return if wide {
            Scalar {
                smin: s.smin.max(lo),
                smax: s.smax.min(hi),
                ..s
            }
        } else {
            Scalar {
                s32min: s.s32min.max(lo as i32),
                s32max: s.s32max.min(hi as i32),
                ..s
            }
        }
        .synced();
    }
    let k = if wide { k } else { u64::from(k as u32) };
    // (lo, hi) the side keeps: x > k ⇔ lo = k + 1, and so on.
    let (lo, hi) = match (code, taken) {
        (op::JEQ, true) | (op::JNE, false) => (k, k),
        (op::JGT, true) | (op::JLE, false) => (k.checked_add(1)?, u64::MAX),
        (op::JGT, false) | (op::JLE, true) => (0, k),
        (op::JGE, true) | (op::JLT, false) => (k, u64::MAX),
        (op::JGE, false) | (op::JLT, true) => (0, k.checked_sub(1)?),
        (op::JNE, true) | (op::JEQ, false) => {
            // x != k moves a bound equal to k, as the kernel's does (its
            // signed bounds too, of the low half for JMP32).
            if s.exact() == Some(k) {
                return None;
            }
            let step = |b: u64, by: fn(u64, u64) -> u64| if b == k { by(b, 1) } else { b };
            let sstep = |b: i64, by: fn(i64, i64) -> i64| {
                if wide && b == k as i64 {
                    by(b, 1)
                } else {
                    b
                }
            };
            let s32step = |b: i32, by: fn(i32, i32) -> i32| {
                if !wide && b == k as i32 {
                    by(b, 1)
                } else {
                    b
                }
            };
            return Scalar {
                lo: step(s.lo, u64::wrapping_add),
                hi: step(s.hi, u64::wrapping_sub),
                smin: sstep(s.smin, i64::wrapping_add),
                smax: sstep(s.smax, i64::wrapping_sub),
                s32min: s32step(s.s32min, i32::wrapping_add),
                s32max: s32step(s.s32max, i32::wrapping_sub),
                ..s
            }
            .synced();
        }
        // jset: the kernel learns known bits (its regs_refine_cond_op):
        // not taken, the bits of `k` are 0; taken, a single bit is 1.
        // The bounds follow from the bits, as sure as the bits are.
        (op::JSET, false) => {
            return Scalar {
                bits: s.bits.and(Tnum::constant(!k)),
                sure: s.sure && s.bits_exact,
                ..s
            }
            .synced();
        }
        (op::JSET, true) if k.is_power_of_two() => {
            return Scalar {
                bits: s.bits.or(Tnum::constant(k)),
                sure: s.sure && s.bits_exact,
                ..s
            }
            .synced();
        }
        _ => return Some(s.unsure()),
    };
    Scalar {
        lo: s.lo.max(lo),
        hi: s.hi.min(hi),
        ..s
    }
    .synced()
}

/// The outcome of `jmp op s, k` (class JMP, or JMP32 on the low halves)
/// when `s` is one constant, or its bounds or known bits decide it for
/// every value, as the kernel's `is_branch_taken` decides from its ranges
/// and `var_off` (a side it decides against is never explored); `None`
/// when values on both sides remain, the bounds of the compared half are
/// not kept (a JMP32 of a number past 32 bits), or `code` is no
/// comparison.
pub(crate) fn range_decides(class: u8, code: u8, s: Scalar, k: u64) -> Option<bool> {
    let wide = class == op::JMP;
    let comparison = matches!(
        code,
        op::JEQ
            | op::JNE
            | op::JGT
            | op::JGE
            | op::JLT
            | op::JLE
            | op::JSET
            | op::JSGT
            | op::JSGE
            | op::JSLT
            | op::JSLE
    );
    if !comparison {
        return None;
    }
    if let Some(v) = s.exact() {
        return Some(semantics::jmp_cond(code, v, k, !wide));
    }
    // Known bits (only where they are the kernel's): a bit known set in
    // both makes `jset` true, no bit possibly set in both makes it false;
    // a known bit that differs makes `jeq` false.
    if s.bits_exact {
        let half = if wide { u64::MAX } else { u64::from(u32::MAX) };
        let (ones, maybe) = (
            s.bits.value & !s.bits.mask & half,
            (s.bits.value | s.bits.mask) & half,
        );
        let k = k & half;
        let differs = (s.bits.value ^ k) & !s.bits.mask & half != 0;
        match code {
            op::JSET if ones & k != 0 => return Some(true),
            op::JSET if maybe & k == 0 => return Some(false),
            op::JEQ if differs => return Some(false),
            op::JNE if differs => return Some(true),
            _ => {}
        }
    }
    let signed = matches!(code, op::JSGT | op::JSGE | op::JSLT | op::JSLE);
    let (lo, hi, k) = if signed {
        let (min, max, k) = if wide {
            (s.smin, s.smax, k as i64)
        } else {
            (
                i64::from(s.s32min),
                i64::from(s.s32max),
                i64::from(k as i32),
            )
        };
        // Shifted so signed order is unsigned order.
        let flip = |v: i64| (v as u64) ^ (1 << 63);
        (flip(min), flip(max), flip(k))
    } else if wide {
        (s.lo, s.hi, k)
    } else if s.hi <= u64::from(u32::MAX) {
        (s.lo, s.hi, u64::from(k as u32))
    } else {
        return None;
    };
    let (always, never) = match code {
        op::JEQ => (lo == k && hi == k, k < lo || k > hi),
        op::JNE => (k < lo || k > hi, lo == k && hi == k),
        op::JGT | op::JSGT => (lo > k, hi <= k),
        op::JGE | op::JSGE => (lo >= k, hi < k),
        op::JLT | op::JSLT => (hi < k, lo >= k),
        op::JLE | op::JSLE => (hi <= k, lo > k),
        _ => (false, false),
    };
    match (always, never) {
        (true, false) => Some(true),
        (false, true) => Some(false),
        _ => None,
    }
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
        smin: 0,
        smax: 255,
        s32min: 0,
        s32max: 255,
        bits: Tnum {
            value: 0,
            mask: 0xff,
        },
        bits_exact: true,
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
        // A 32-bit sum that could wrap is any 32-bit value, as the
        // kernel's; its signed bounds may still hold (a byte less 4).
        let big = Scalar::loaded(4);
        let wrapped = alu(op::ALU, op::ADD, 0, big, Scalar::constant(1)).expect("add");
        assert_eq!((wrapped.lo, wrapped.hi), (0, u64::from(u32::MAX)));
        let less = alu(op::ALU, op::SUB, 0, BYTE, Scalar::constant(4)).expect("sub");
        assert_eq!(
            (less.lo, less.hi, less.s32min, less.s32max),
            (0, u64::from(u32::MAX), -4, 251)
        );
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
        // A signed upper bound leaves a number that may be any negative
        // value (the kernel's smin stays S64_MIN); a lower bound of zero
        // makes it non-negative, unsigned bounds included.
        let any = Scalar::unknown();
        let below_10 = refine(op::JMP, op::JSLT, any, 10, true).expect("reached");
        assert_eq!(
            (below_10.lo, below_10.hi, below_10.smin, below_10.smax),
            (0, u64::MAX, i64::MIN, 9)
        );
        assert!(below_10.unbounded_below() && below_10.sure);
        let natural = refine(op::JMP, op::JSLT, any, 0, false).expect("reached");
        assert_eq!(
            (natural.lo, natural.hi, natural.smin),
            (0, i64::MAX as u64, 0)
        );
        let small = refine(op::JMP, op::JSGT, natural, 7, false).expect("reached");
        assert_eq!((small.lo, small.hi, small.sure), (0, 7, true));
        // 32-bit signed compares bound the low half: an int read whole
        // and found below 8 may still be any negative int.
        let word = Scalar::loaded(4);
        let int = refine(op::JMP32, op::JSGT, word, 7, false).expect("reached");
        assert_eq!(
            (int.s32min, int.s32max, int.lo, int.hi, int.sure),
            (i32::MIN, 7, 0, u64::from(u32::MAX), true)
        );
        let natural = refine(op::JMP32, op::JSGE, int, 0, true).expect("reached");
        assert_eq!((natural.lo, natural.hi), (0, 7));
        // x != 0 moves the lower bound, as the kernel's.
        let nonzero = refine(op::JMP, op::JNE, BYTE, 0, true).expect("taken");
        assert_eq!((nonzero.lo, nonzero.hi, nonzero.sure), (1, 255, true));
        assert_eq!(refine(op::JMP, op::JNE, Scalar::constant(3), 3, true), None);
        // jset not taken: the bits tested are known 0 (here the sign bit),
        // as the kernel's tnum says; taken, a single bit is known 1.
        let clear = refine(op::JMP, op::JSET, any, 1 << 63, false).expect("reached");
        assert_eq!(
            (clear.sure, clear.smin, clear.hi),
            (true, 0, i64::MAX as u64)
        );
        let set = refine(op::JMP, op::JSET, any, 4, true).expect("reached");
        assert_eq!((set.sure, set.lo, set.bits.value), (true, 4, 4));
        assert!(
            !refine(op::JMP, op::JSET, any, 6, true)
                .expect("reached")
                .sure
        );
        // Comparisons at the sign boundary: not followed.
        // x != i64::MIN moves the signed lower bound (and only that).
        let above_min = refine(op::JMP, op::JNE, any, 1 << 63, true).expect("reached");
        assert_eq!(
            (above_min.smin, above_min.lo, above_min.sure),
            (i64::MIN + 1, 0, true)
        );
    }

    #[test]
    fn bits_known_bound_and_or_xor_and_shifts_as_the_kernels_do() {
        let k = Scalar::constant;
        let high = alu(op::ALU64, op::AND, 0, BYTE, k(0xf0)).expect("and");
        assert_eq!(
            (high.lo, high.hi, high.bits.mask, high.sure),
            (0, 0xf0, 0xf0, true)
        );
        let odd = alu(op::ALU64, op::OR, 0, high, k(1)).expect("or");
        assert_eq!((odd.lo, odd.hi, odd.sure), (1, 0xf1, true));
        let flipped = alu(op::ALU64, op::XOR, 0, BYTE, k(0xff)).expect("xor");
        assert_eq!((flipped.lo, flipped.hi, flipped.sure), (0, 255, true));
        // A shift that may lose the top bit: what the bits give.
        let w = alu(op::ALU64, op::LSH, 0, Scalar::loaded(4), k(33)).expect("lsh");
        assert_eq!((w.lo, w.hi, w.sure), (0, u64::MAX << 33, true));
        // A product's bits are the kernel's tnum_mul's, in either order:
        // ((b & 1) | 6) * 19 is 114 or 133, bit 3 clear in both; the
        // kernel (6.18.44, 2026-12-06) refused `if r3 & 8` reaching an
        // unreadable register after `r3 *= 19` (bit 3 not known) and
        // accepted it after `r3 = 19; r3 *= r4` (known), as `mul` gives.
        let six_or_seven = alu(op::ALU64, op::AND, 0, BYTE, k(1)).expect("and");
        let six_or_seven = alu(op::ALU64, op::OR, 0, six_or_seven, k(6)).expect("or");
        let times19 = alu(op::ALU64, op::MUL, 0, six_or_seven, k(19)).expect("mul");
        assert_eq!((times19.lo, times19.hi), (114, 133));
        assert!(times19.sure && times19.bits_exact);
        assert_ne!((times19.bits.value | times19.bits.mask) & 8, 0);
        let nineteen_times = alu(op::ALU64, op::MUL, 0, k(19), six_or_seven).expect("mul");
        assert_eq!(
            (nineteen_times.bits.value | nineteen_times.bits.mask) & 8,
            0
        );
        // A join of paths that knew different bits no longer bounds an
        // `or` for sure.
        let joined = high.join(BYTE);
        assert!(!alu(op::ALU64, op::OR, 0, joined, k(1)).expect("or").sure);
        // A product by a power of two is a shift: its bits are known, and
        // an `or` stays sure.
        let times4 = alu(op::ALU64, op::MUL, 0, BYTE, k(4)).expect("mul");
        assert_eq!(
            (times4.hi, times4.bits.mask, times4.bits_exact),
            (1020, 0x3fc, true)
        );
        let or1 = alu(op::ALU64, op::OR, 0, times4, k(1)).expect("or");
        assert_eq!((or1.lo, or1.hi, or1.sure), (1, 1021, true));
        // `x & 0` and `x * 0` are 0 for the kernel whatever it knew of x.
        let unsure = Scalar {
            sure: false,
            ..BYTE
        };
        for code in [op::AND, op::MUL] {
            let zero = alu(op::ALU64, code, 0, unsure, k(0)).expect("zero");
            assert_eq!((zero.exact(), zero.sure), (Some(0), true));
        }
        // One member of the known bits between the bounds: that constant
        // (x | 3 & 30 << 3 is 16 + 32k; below 40 it is 16, as the
        // kernel's tnum_step finds).
        let x = alu(op::ALU64, op::OR, 0, BYTE, k(3)).expect("or");
        let x = alu(op::ALU64, op::AND, 0, x, k(30)).expect("and");
        let x = alu(op::ALU64, op::LSH, 0, x, k(3)).expect("lsh");
        let below_40 = refine(op::JMP, op::JGT, x, 40, false).expect("reached");
        assert_eq!((below_40.exact(), below_40.sure), (Some(16), true));
        // A comparison's bounds give bits too (the kernel's
        // __reg_bound_offset): below 16, only the low 4 bits are unknown.
        let small = refine(op::JMP, op::JLT, BYTE, 16, true).expect("reached");
        assert_eq!(small.bits.mask, 0xf);
    }

    #[test]
    fn sign_extensions_and_differences_have_signed_bounds() {
        // clang's sign extension of a byte: lsh 56; arsh 56.
        let high = alu(op::ALU64, op::LSH, 0, BYTE, Scalar::constant(56)).expect("lsh");
        let c = alu(op::ALU64, op::ARSH, 0, high, Scalar::constant(56)).expect("arsh");
        assert_eq!(
            (c.smin, c.smax, c.lo, c.hi, c.sure),
            (-128, 127, 0, u64::MAX, true)
        );
        // movsx of a byte the same (the kernel's coerce_reg_to_size_sx),
        // and of a number of one sign the number itself.
        let m = alu(op::ALU64, op::MOV, 8, Scalar::constant(0), BYTE).expect("movsx");
        assert_eq!((m.smin, m.smax), (-128, 127));
        let seven_bits = Scalar::loaded(1).meet(Scalar::constant(0).join(Scalar::constant(127)));
        let m = alu(op::ALU64, op::MOV, 8, BYTE, seven_bits.expect("meet")).expect("movsx");
        assert_eq!((m.smin, m.smax, m.lo, m.hi), (0, 127, 0, 127));
        // ... checked from below: back to unsigned bounds.
        let natural = refine(op::JMP, op::JSGE, c, 0, true).expect("reached");
        assert_eq!((natural.lo, natural.hi, natural.smax), (0, 127, 127));
        // Scaled, a number that may be negative reaches every value.
        let scaled = alu(op::ALU64, op::LSH, 0, c, Scalar::constant(2)).expect("lsh");
        assert!(scaled.unbounded_below() && scaled.sure);
        // A difference that may wrap: any unsigned value, signed bounds
        // kept (the kernel's scalar_min_max_sub).
        let d = alu(op::ALU64, op::SUB, 0, BYTE, Scalar::constant(4)).expect("sub");
        assert_eq!((d.smin, d.smax, d.lo, d.hi), (-4, 251, 0, u64::MAX));
        // Signed bounds of one sign are unsigned bounds too.
        let negative = refine(op::JMP, op::JSLT, c, 0, true).expect("reached");
        assert_eq!((negative.lo, negative.hi), ((-128i64) as u64, u64::MAX));
        // An int sign-extended after a u32 load: lsh 32; arsh 32.
        let w = alu(
            op::ALU64,
            op::LSH,
            0,
            Scalar::loaded(4),
            Scalar::constant(32),
        )
        .expect("lsh");
        let n = alu(op::ALU64, op::ARSH, 0, w, Scalar::constant(32)).expect("arsh");
        assert_eq!(
            (n.smin, n.smax, n.sure),
            (i64::from(i32::MIN), i64::from(i32::MAX), true)
        );
        // The same in 32-bit registers (clang -mcpu=v3): a byte
        // sign-extended by `w <<= 24; w s>>= 24`, bounded by a 32-bit
        // signed comparison, sign-extended to 64 bits by `lsh 32; arsh
        // 32` (the kernel's own case for a shift by 32): below zero as
        // far as an int goes.
        let w = alu(op::ALU, op::LSH, 0, BYTE, Scalar::constant(24)).expect("lsh32");
        let c = alu(op::ALU, op::ARSH, 0, w, Scalar::constant(24)).expect("arsh32");
        assert_eq!(
            (c.s32min, c.s32max, c.lo, c.hi),
            (-128, 127, 0, u64::from(u32::MAX))
        );
        let c = refine(op::JMP32, op::JSGT, c, 7, false).expect("reached");
        let high = alu(op::ALU64, op::LSH, 0, c, Scalar::constant(32)).expect("lsh");
        assert_eq!((high.smin, high.smax), (i64::MIN, 7 << 32));
        let n = alu(op::ALU64, op::ARSH, 0, high, Scalar::constant(32)).expect("arsh");
        assert_eq!((n.smin, n.smax, n.sure), (i64::from(i32::MIN), 7, true));
        // Checked from below too, the low half is 0 ..= 7, and so is the
        // number.
        let c = refine(op::JMP32, op::JSLT, c, 0, false).expect("reached");
        assert_eq!((c.lo, c.hi, c.s32min, c.s32max), (0, 7, 0, 7));
    }

    /// The bounds decide a comparison only when every value goes one way,
    /// as the kernel's is_branch_taken decides from its ranges.
    #[test]
    fn bounds_decide_a_comparison_only_when_every_value_goes_one_way() {
        let byte = Scalar::unsigned(0, 15, true, true);
        assert_eq!(range_decides(op::JMP, op::JGT, byte, 20), Some(false));
        assert_eq!(range_decides(op::JMP, op::JLT, byte, 16), Some(true));
        assert_eq!(range_decides(op::JMP, op::JGT, byte, 7), None);
        assert_eq!(range_decides(op::JMP, op::JEQ, byte, 16), Some(false));
        assert_eq!(range_decides(op::JMP, op::JNE, byte, 16), Some(true));
        assert_eq!(range_decides(op::JMP, op::JEQ, byte, 7), None);
        // Signed: [0, 15] is never below -1; as a 32-bit comparison too.
        assert_eq!(
            range_decides(op::JMP, op::JSLT, byte, u64::MAX),
            Some(false)
        );
        assert_eq!(
            range_decides(op::JMP32, op::JSGT, byte, u64::MAX),
            Some(true)
        );
        // A JMP32 of a number past 32 bits: its low half is not kept.
        let wide = Scalar::unsigned(0, 1 << 40, true, true);
        assert_eq!(range_decides(op::JMP32, op::JGT, wide, 1 << 41), None);
        assert_eq!(range_decides(op::JMP, op::JGT, wide, 1 << 41), Some(false));
        // jset and equality by known bits: a byte masked with 0xf has no
        // bit 4, and a number with bit 0 known set is never 16.
        assert_eq!(range_decides(op::JMP, op::JSET, byte, 16), Some(false));
        assert_eq!(range_decides(op::JMP, op::JSET, byte, 3), None);
        let odd = Scalar {
            bits: Tnum {
                value: 1,
                mask: 0xfe,
            },
            ..Scalar::unsigned(1, 255, true, true)
        };
        assert_eq!(range_decides(op::JMP, op::JSET, odd, 1), Some(true));
        assert_eq!(range_decides(op::JMP, op::JEQ, odd, 16), Some(false));
        assert_eq!(range_decides(op::JMP, op::JNE, odd, 16), Some(true));
        assert_eq!(range_decides(op::JMP, op::JEQ, odd, 17), None);
    }
}
