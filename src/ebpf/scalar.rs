//! Bounds of numbers as the kernel's verifier keeps them, as far as the
//! context pass needs them to follow a pointer moved by a number (`data +
//! ihl * 4`, `value + i * 4`): the kernel gives such a pointer a variable
//! part and refuses it where those bounds do not keep it inside its
//! memory (a sign-extended index may be negative: `R1 min value is
//! negative`, whatever its unsigned bounds say).
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
//! A number has the kernel's four pairs of bounds (unsigned and signed,
//! of all 64 bits and of the low 32 the `w` registers and `JMP32` work
//! on) and its known bits, each operation computing them by the kernel's
//! rules (`scalar_min_max_*` and `scalar32_min_max_*`, here one function
//! per operation for both widths) and `reg_bounds_sync` tightening each by
//! the others. Where these may still know less than the kernel (a join
//! of paths, a comparison not followed), `sure` is cleared,
//! and such a number is never the reason for a refusal.

use super::insn::op;
use super::semantics;
use super::tnum::Tnum;

/// A number's bounds: unsigned `lo ..= hi`, signed `smin ..= smax`, the
/// low 32 bits' unsigned `u32min ..= u32max` and signed `s32min ..=
/// s32max`, each as tight as the others allow (the kernel's
/// `reg_bounds_sync`), and the bits known (`bits`, the kernel's
/// `var_off`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scalar {
    pub lo: u64,
    pub hi: u64,
    pub smin: i64,
    pub smax: i64,
    pub u32min: u32,
    pub u32max: u32,
    pub s32min: i32,
    pub s32max: i32,
    pub bits: Tnum,
    /// `bits` are the kernel's (else they may know less: after a join of
    /// paths that knew different bits, or a comparison not followed). Bounds
    /// computed from bits are `sure` only when they are.
    pub bits_exact: bool,
    /// Unknown on its own path (see the module header).
    pub var: bool,
    /// Registers and stack slots holding the same `link` (non-zero) hold
    /// copies of one number, so bounds learnt on one hold for all (the
    /// kernel's scalar ids); 0 for none.
    pub link: u32,
    /// The kernel's bounds are these on the path giving each extreme (see
    /// the module header).
    pub sure: bool,
}

/// Hashes the fields that most often tell numbers apart, not all twelve:
/// equal numbers still hash alike, and the context pass hashes every
/// state it meets, registers and slots (every field was a sixth of a
/// load's time).
impl std::hash::Hash for Scalar {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        h.write_u64(self.lo ^ self.hi.rotate_left(32));
        h.write_u64(self.smin as u64 ^ self.bits.mask.rotate_left(17));
        h.write_u32(self.link);
    }
}

// (The context pass copies states of registers and stack slots holding
// these from instruction to instruction: their size is much of a load's
// time.)
const _: () = assert!(std::mem::size_of::<Scalar>() <= 72);

/// The kernel's `MAX_PACKET_OFF`: the largest number a packet pointer may
/// be moved by and still be proven.
pub(crate) const MAX_PACKET_OFF: u64 = 0xffff;

/// Which bits of a number an operation or comparison works on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Width {
    W32,
    W64,
}

/// One width's unsigned and signed bounds (a low half's held in 64-bit
/// integers: unsigned zero-extended, signed sign-extended).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Bounds {
    umin: u64,
    umax: u64,
    smin: i64,
    smax: i64,
}

impl Width {
    fn of(wide: bool) -> Width {
        if wide {
            Width::W64
        } else {
            Width::W32
        }
    }

    fn bits(self) -> u32 {
        match self {
            Width::W32 => 32,
            Width::W64 => 64,
        }
    }

    fn umax(self) -> u64 {
        match self {
            Width::W32 => u64::from(u32::MAX),
            Width::W64 => u64::MAX,
        }
    }

    fn smin(self) -> i64 {
        match self {
            Width::W32 => i64::from(i32::MIN),
            Width::W64 => i64::MIN,
        }
    }

    fn smax(self) -> i64 {
        match self {
            Width::W32 => i64::from(i32::MAX),
            Width::W64 => i64::MAX,
        }
    }

    fn any(self) -> Bounds {
        Bounds {
            umin: 0,
            umax: self.umax(),
            smin: self.smin(),
            smax: self.smax(),
        }
    }

    /// `v` as this width's signed number (`(s32)v` for 32 bits).
    fn signed(self, v: u64) -> i64 {
        match self {
            Width::W32 => i64::from(v as u32 as i32),
            Width::W64 => v as i64,
        }
    }

    /// An exact result as this width's unsigned number (wrapped).
    fn wrap(self, v: i128) -> u64 {
        (v as u64) & self.umax()
    }

    fn fits(self, v: i128) -> bool {
        (i128::from(self.smin())..=i128::from(self.smax())).contains(&v)
    }

    /// `v` as this width's unsigned number (`(u32)v` for 32 bits).
    fn unsigned(self, v: i64) -> u64 {
        (v as u64) & self.umax()
    }

    /// Signed and unsigned bounds tightened by each other (the end of the
    /// kernel's `__reg32_deduce_bounds`, and `__reg64_deduce_bounds`):
    /// ranges on one side of the sign boundary are both; signed bounds
    /// across zero whose unsigned ones reach only their non-negative part
    /// (or only the negative one) are that part.
    fn deduce_signs(self, mut b: Bounds) -> Bounds {
        if self.signed(b.umin) <= self.signed(b.umax) {
            b.smin = b.smin.max(self.signed(b.umin));
            b.smax = b.smax.min(self.signed(b.umax));
        }
        let (smin, smax) = (self.unsigned(b.smin), self.unsigned(b.smax));
        if smin <= smax {
            b.umin = b.umin.max(smin);
            b.umax = b.umax.min(smax);
        } else if b.umax < smin {
            b.smin = self.signed(b.umin);
            b.umax = b.umax.min(smax);
        } else if smax < b.umin {
            b.smax = self.signed(b.umax);
            b.umin = b.umin.max(smin);
        }
        b
    }

    /// Signed bounds of unsigned ones that keep one sign, else any (the
    /// kernel's rule for `and`, `or`, `xor`).
    fn signed_of(self, umin: u64, umax: u64) -> Bounds {
        let (smin, smax) = (self.signed(umin), self.signed(umax));
        self.bounds(umin, umax, (smin <= smax).then_some((smin, smax)))
    }

    /// Unsigned bounds `umin ..= umax`, signed ones `s` where known, else
    /// any signed value.
    fn bounds(self, umin: u64, umax: u64, s: Option<(i64, i64)>) -> Bounds {
        let (smin, smax) = s.unwrap_or((self.smin(), self.smax()));
        Bounds {
            umin,
            umax,
            smin,
            smax,
        }
    }

    /// The kernel's `scalar*_min_max_add`: a signed sum that may overflow
    /// is any value; an unsigned one only where some sums wrap and some
    /// do not.
    fn add(self, a: Bounds, b: Bounds) -> Bounds {
        let (lo, hi) = (
            i128::from(a.umin) + i128::from(b.umin),
            i128::from(a.umax) + i128::from(b.umax),
        );
        let over = |v: i128| v > i128::from(self.umax());
        let (umin, umax) = if !over(lo) && over(hi) {
            (0, self.umax())
        } else {
            (self.wrap(lo), self.wrap(hi))
        };
        let (slo, shi) = (
            i128::from(a.smin) + i128::from(b.smin),
            i128::from(a.smax) + i128::from(b.smax),
        );
        self.with_signed(umin, umax, slo, shi)
    }

    /// The kernel's `scalar*_min_max_sub`, as `add`.
    fn sub(self, a: Bounds, b: Bounds) -> Bounds {
        let (lo, hi) = (
            i128::from(a.umin) - i128::from(b.umax),
            i128::from(a.umax) - i128::from(b.umin),
        );
        let (umin, umax) = if lo < 0 && hi >= 0 {
            (0, self.umax())
        } else {
            (self.wrap(lo), self.wrap(hi))
        };
        let (slo, shi) = (
            i128::from(a.smin) - i128::from(b.smax),
            i128::from(a.smax) - i128::from(b.smin),
        );
        self.with_signed(umin, umax, slo, shi)
    }

    /// The kernel's `scalar*_min_max_mul` (since 6.14): unsigned products
    /// of the ends, signed products of every pair of ends, any value where
    /// one overflows.
    fn mul(self, a: Bounds, b: Bounds) -> Bounds {
        let (lo, hi) = (
            u128::from(a.umin) * u128::from(b.umin),
            u128::from(a.umax) * u128::from(b.umax),
        );
        let (umin, umax) = if hi > u128::from(self.umax()) {
            (0, self.umax())
        } else {
            (lo as u64, hi as u64)
        };
        let products = [
            i128::from(a.smin) * i128::from(b.smin),
            i128::from(a.smin) * i128::from(b.smax),
            i128::from(a.smax) * i128::from(b.smin),
            i128::from(a.smax) * i128::from(b.smax),
        ];
        let signed = products.iter().all(|&p| self.fits(p)).then(|| {
            (
                products.iter().copied().min().unwrap_or(0) as i64,
                products.iter().copied().max().unwrap_or(0) as i64,
            )
        });
        self.bounds(umin, umax, signed)
    }

    fn with_signed(self, umin: u64, umax: u64, slo: i128, shi: i128) -> Bounds {
        let fits = self.fits(slo) && self.fits(shi);
        self.bounds(umin, umax, fits.then_some((slo as i64, shi as i64)))
    }

    /// The kernel's `scalar*_min_max_lsh` by a constant `k` below the
    /// width: the sign lost, any value where the top bit may be shifted
    /// out.
    fn lsh(self, a: Bounds, k: u32) -> Bounds {
        let (umin, umax) = if k >= self.bits() || a.umax > 1u64 << (self.bits() - 1 - k) {
            (0, self.umax())
        } else {
            (a.umin << k, a.umax << k)
        };
        Bounds {
            umin,
            umax,
            smin: self.smin(),
            smax: self.smax(),
        }
    }

    fn rsh(self, a: Bounds, k: u32) -> Bounds {
        Bounds {
            umin: a.umin >> k,
            umax: a.umax >> k,
            ..self.any()
        }
    }

    fn arsh(self, a: Bounds, k: u32) -> Bounds {
        Bounds {
            smin: a.smin >> k,
            smax: a.smax >> k,
            ..self.any()
        }
    }
}

impl Scalar {
    pub(crate) fn constant(v: u64) -> Scalar {
        Scalar {
            lo: v,
            hi: v,
            smin: v as i64,
            smax: v as i64,
            u32min: v as u32,
            u32max: v as u32,
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
        u32min: 0,
        u32max: u32::MAX,
        s32min: i32::MIN,
        s32max: i32::MAX,
        bits: Tnum::UNKNOWN,
        bits_exact: true,
        var: false,
        link: 0,
        sure: true,
    };

    /// A number within `lo ..= hi` unsigned, its other bounds what those
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

    /// A number within `smin ..= smax` signed, its other bounds what
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
            u32min: self.u32min.min(o.u32min),
            u32max: self.u32max.max(o.u32max),
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
            u32min: self.u32min.max(o.u32min),
            u32max: self.u32max.min(o.u32max),
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

    /// One width's bounds.
    fn half(self, w: Width) -> Bounds {
        match w {
            Width::W64 => Bounds {
                umin: self.lo,
                umax: self.hi,
                smin: self.smin,
                smax: self.smax,
            },
            Width::W32 => Bounds {
                umin: u64::from(self.u32min),
                umax: u64::from(self.u32max),
                smin: i64::from(self.s32min),
                smax: i64::from(self.s32max),
            },
        }
    }

    /// One width's bounds replaced (not synced).
    fn with_half(self, w: Width, b: Bounds) -> Scalar {
        match w {
            Width::W64 => Scalar {
                lo: b.umin,
                hi: b.umax,
                smin: b.smin,
                smax: b.smax,
                ..self
            },
            Width::W32 => Scalar {
                u32min: b.umin as u32,
                u32max: b.umax as u32,
                s32min: b.smin as i32,
                s32max: b.smax as i32,
                ..self
            },
        }
    }

    /// Its low 32 bits zero-extended, as the kernel's `zext_32_to_64`
    /// makes a 32-bit result (not synced): the low half's bounds become
    /// the number's, its signed ones only when not negative.
    fn zero_extended(self) -> Scalar {
        let natural = self.s32min >= 0;
        Scalar {
            lo: u64::from(self.u32min),
            hi: u64::from(self.u32max),
            smin: if natural { i64::from(self.s32min) } else { 0 },
            smax: if natural {
                i64::from(self.s32max)
            } else {
                i64::from(u32::MAX)
            },
            bits: self.bits.low(),
            ..self
        }
    }

    /// Its low 32 bits (`mov32`, or a 32-bit operation's operand).
    pub(crate) fn low_half(self) -> Scalar {
        self.zero_extended()
            .synced()
            // (The bounds of a synced number agree; should they not, any
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

    /// Its low half's low `bits` bits sign-extended to 32, zero-extended
    /// to 64 (`movsx32`), as the kernel's `coerce_subreg_to_size_sx`:
    /// the same low half when its range keeps one sign there, else the
    /// narrow type's whole range.
    fn low_sign_extended(self, bits: u32) -> Scalar {
        let extend = |v: i32| (v << (32 - bits)) >> (32 - bits);
        let half = 1i32 << (bits - 1);
        let (lo, hi) = if let Some(v) = self.exact() {
            let v = extend(v as i32);
            (v, v)
        } else {
            let same_top = (self.s32max as u32) >> bits == (self.s32min as u32) >> bits;
            let (a, b) = (extend(self.s32min), extend(self.s32max));
            let (lo, hi) = (a.min(b), a.max(b));
            if same_top && (lo >= 0) == (hi >= 0) {
                (lo, hi)
            } else {
                (-half, half - 1)
            }
        };
        let one_sign = (lo >= 0) == (hi >= 0);
        Scalar {
            u32min: if one_sign { lo as u32 } else { 0 },
            u32max: if one_sign { hi as u32 } else { u32::MAX },
            s32min: lo,
            s32max: hi,
            bits: if one_sign {
                Tnum::range(u64::from(lo as u32), u64::from(hi as u32))
            } else {
                Tnum::UNKNOWN
            },
            ..self
        }
        .zero_extended()
        .synced()
        .unwrap_or_else(|| Scalar::unsigned(0, u64::from(u32::MAX), self.var, false))
    }

    /// Bounds from the bits known (`__update_reg_bounds`); with the
    /// kernel's own bits, one member of them left between the bounds
    /// makes the number that constant (its `tnum_step`, since Linux
    /// 6.18's stable updates).
    fn bounded_by_bits(&mut self) {
        const SIGN: u64 = 1 << 63;
        const SIGN32: u64 = 1 << 31;
        let l = self.bits.low();
        self.s32min = self.s32min.max((l.value | (l.mask & SIGN32)) as u32 as i32);
        self.s32max = self
            .s32max
            .min((l.value | (l.mask & (SIGN32 - 1))) as u32 as i32);
        self.u32min = self.u32min.max(l.min() as u32);
        self.u32max = self.u32max.min(l.max() as u32);
        let b = self.bits;
        self.smin = self.smin.max((b.value | (b.mask & SIGN)) as i64);
        self.smax = self.smax.min((b.value | (b.mask & !SIGN)) as i64);
        self.lo = self.lo.max(b.min());
        self.hi = self.hi.min(b.max());
        if self.bits_exact && self.lo < self.hi {
            let first = self.bits.member_at_least(self.lo);
            if let Some(only) = first.filter(|&f| f <= self.hi) {
                let next = only
                    .checked_add(1)
                    .and_then(|n| self.bits.member_at_least(n));
                if next.is_none_or(|n| n > self.hi) {
                    *self = Scalar {
                        var: self.var,
                        link: self.link,
                        sure: self.sure,
                        ..Scalar::constant(only)
                    };
                }
            }
        }
    }

    /// The low half's bounds from the whole number's and from each other
    /// (the kernel's `__reg32_deduce_bounds`).
    fn deduce32(&mut self) {
        let (lo, hi, smin, smax) = (self.lo, self.hi, self.smin, self.smax);
        if lo >> 32 == hi >> 32 {
            // Upper halves alike: the low halves bound the low half.
            self.u32min = self.u32min.max(lo as u32);
            self.u32max = self.u32max.min(hi as u32);
            if lo as i32 <= hi as i32 {
                self.s32min = self.s32min.max(lo as i32);
                self.s32max = self.s32max.min(hi as i32);
            }
        }
        if smin >> 32 == smax >> 32 {
            if smin as u32 <= smax as u32 {
                self.u32min = self.u32min.max(smin as u32);
                self.u32max = self.u32max.min(smax as u32);
            }
            if smin as i32 <= smax as i32 {
                self.s32min = self.s32min.max(smin as i32);
                self.s32max = self.s32max.min(smax as i32);
            }
        }
        // Upper halves consecutive, the low half crossing from negative
        // to non-negative: still one signed range.
        if ((lo >> 32) as u32).wrapping_add(1) == (hi >> 32) as u32
            && (lo as i32) < 0
            && hi as i32 >= 0
        {
            self.s32min = self.s32min.max(lo as i32);
            self.s32max = self.s32max.min(hi as i32);
        }
        if ((smin >> 32) as u32).wrapping_add(1) == (smax >> 32) as u32
            && (smin as i32) < 0
            && smax as i32 >= 0
        {
            self.s32min = self.s32min.max(smin as i32);
            self.s32max = self.s32max.min(smax as i32);
        }
        *self = self.with_half(Width::W32, Width::W32.deduce_signs(self.half(Width::W32)));
    }

    /// Signed and unsigned bounds of the whole number from each other
    /// (the kernel's `__reg64_deduce_bounds`).
    fn deduce64(&mut self) {
        *self = self.with_half(Width::W64, Width::W64.deduce_signs(self.half(Width::W64)));
    }

    /// The whole number's bounds from the low half's (the kernel's
    /// `__reg_deduce_mixed_bounds`): the low half's ends replace the low
    /// halves of the number's ends where that is tighter.
    fn deduce_mixed(&mut self) {
        const HIGH: u64 = !0xffff_ffff;
        let mut tighten = |min32: u32, max32: u32| {
            self.lo = self.lo.max((self.lo & HIGH) | u64::from(min32));
            self.hi = self.hi.min((self.hi & HIGH) | u64::from(max32));
            self.smin = self
                .smin
                .max(((self.smin as u64 & HIGH) | u64::from(min32)) as i64);
            self.smax = self
                .smax
                .min(((self.smax as u64 & HIGH) | u64::from(max32)) as i64);
        };
        tighten(self.u32min, self.u32max);
        if self.s32min as u32 <= self.s32max as u32 {
            tighten(self.s32min as u32, self.s32max as u32);
        }
        // A low half that is not negative, in a number that is an int
        // sign-extended: the number is its low half.
        if self.s32min >= 0 && self.smin >= i64::from(i32::MIN) && self.smax <= i64::from(i32::MAX)
        {
            self.smin = i64::from(self.s32min);
            self.smax = i64::from(self.s32max);
            self.lo = self.s32min as u64;
            self.hi = self.s32max as u64;
            self.bits = self
                .bits
                .intersect(Tnum::range(self.smin as u64, self.smax as u64));
        }
    }

    /// Bits known from the bounds (`__reg_bound_offset`): the bits every
    /// number in range shares, the low half's from its own bounds.
    fn bits_from_bounds(&mut self) {
        let b = self.bits.intersect(Tnum::range(self.lo, self.hi));
        let low = b
            .low()
            .intersect(Tnum::range(u64::from(self.u32min), u64::from(self.u32max)));
        self.bits = b.with_low(low);
    }

    fn empty(&self) -> bool {
        self.lo > self.hi
            || self.smin > self.smax
            || self.u32min > self.u32max
            || self.s32min > self.s32max
    }

    /// Each pair of bounds and the bits known tightened by the others, as
    /// the kernel's `reg_bounds_sync` does (three rounds of deduction, as
    /// since Linux 6.17); `None` when no value is left.
    fn synced(mut self) -> Option<Scalar> {
        self.bounded_by_bits();
        for _ in 0..3 {
            if self.empty() {
                return None;
            }
            let before = self;
            self.deduce32();
            self.deduce64();
            self.deduce_mixed();
            // (A round that learns nothing leaves the next nothing to
            // learn: the same result, sooner.)
            if self == before {
                break;
            }
        }
        if self.empty() {
            return None;
        }
        self.bits_from_bounds();
        self.bounded_by_bits();
        (!self.empty()).then_some(self)
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
/// the instruction extends it). As the kernel's
/// `adjust_scalar_min_max_vals`: a 64-bit operation computes both widths'
/// bounds (the low half's by the 32-bit rules, or none where the kernel
/// keeps none), a 32-bit one the low half's, zero-extended.
pub(crate) fn alu(class: u8, code: u8, off: i16, dst: Scalar, src: Scalar) -> Option<Scalar> {
    let wide = class == op::ALU64;
    if code == op::MOV {
        // A move (`dst` unused), sign-extending with an offset (`movsx`,
        // of the whole or, 32-bit, of the low half).
        return match (wide, off) {
            (true, 0) => Some(src),
            (true, 8 | 16 | 32) => Some(src.sign_extended(off as u32)),
            (false, 0) => Some(src.low_half()),
            (false, 8 | 16) => Some(src.low_sign_extended(off as u32)),
            _ => None,
        };
    }
    // A quotient or remainder is a number the kernel knows nothing of,
    // whatever the operands (6.18 marks it unknown, all 64 bits, even of
    // two constants; asked of the running kernel).
    if matches!(code, op::DIV | op::MOD) {
        return Some(Scalar::unknown());
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
    let w = Width::of(wide);
    // A shift's amount: a constant below the width (else the kernel
    // knows nothing of the result).
    let k = match w {
        Width::W64 => src.exact(),
        Width::W32 => (src.u32min == src.u32max).then_some(u64::from(src.u32min)),
    }
    .filter(|&k| k < u64::from(w.bits()))
    .map(|k| k as u32);
    // The bits known, as the kernel's tnum operations give them.
    let (db, sb) = match w {
        Width::W64 => (dst.bits, src.bits),
        Width::W32 => (dst.bits.low(), src.bits.low()),
    };
    let bits = match (code, k) {
        (op::MUL, _) => db.mul(sb),
        (op::ADD, _) => db.add(sb),
        (op::SUB, _) => db.sub(sb),
        (op::NEG, _) => Tnum::constant(0).sub(db),
        (op::AND, _) => db.and(sb),
        (op::OR, _) => db.or(sb),
        (op::XOR, _) => db.xor(sb),
        (op::LSH, Some(k)) => db.lsh(k),
        (op::RSH, Some(k)) => db.rsh(k),
        (op::ARSH, Some(k)) => db.arsh(k, w.bits()),
        _ => Tnum::UNKNOWN,
    };
    let bits = if wide { bits } else { bits.low() };
    let bitwise = matches!(
        code,
        op::AND | op::OR | op::XOR | op::LSH | op::RSH | op::ARSH
    );
    let bits_exact = dst.bits_exact
        && (src.bits_exact || code == op::NEG)
        && (bitwise || matches!(code, op::ADD | op::SUB | op::MUL | op::NEG));
    let sure = dst.sure
        && (src.sure || code == op::NEG)
        && match code {
            op::ADD | op::SUB | op::MUL | op::NEG => true,
            _ => bitwise && bits_exact,
        };
    // Each width's bounds by the kernel's rules for it.
    let halves = |w: Width| -> Option<Bounds> {
        let (d, s) = (dst.half(w), src.half(w));
        let t = if w == Width::W64 { bits } else { bits.low() };
        Some(match code {
            op::ADD => w.add(d, s),
            op::SUB => w.sub(d, s),
            op::NEG => w.sub(Scalar::constant(0).half(w), d),
            op::MUL => w.mul(d, s),
            op::AND => w.signed_of(t.min(), d.umax.min(s.umax)),
            op::OR => w.signed_of(d.umin.max(s.umin), t.max()),
            op::XOR => w.signed_of(t.min(), t.max()),
            op::LSH => w.lsh(d, k?),
            op::RSH => w.rsh(d, k?),
            op::ARSH => w.arsh(d, k?),
            _ => return None,
        })
    };
    let r = if wide {
        let mut r = Scalar::ANY.with_half(Width::W64, halves(Width::W64)?);
        if code == op::LSH && k == Some(32) {
            // The kernel's own case for clang's sign extension (`lsh
            // 32; arsh 32`): the low half's signed bounds, moved up,
            // are the result's (the running 6.18 takes negative ones
            // too).
            r.smin = i64::from(dst.s32min) << 32;
            r.smax = i64::from(dst.s32max) << 32;
        }
        // The low half: by the 32-bit rules, except after a right shift
        // (the kernel keeps none there, and takes what the bits give).
        if !matches!(code, op::RSH | op::ARSH) {
            r = r.with_half(Width::W32, halves(Width::W32).unwrap_or(Width::W32.any()));
        }
        r
    } else {
        Scalar::ANY
            .with_half(Width::W32, halves(Width::W32)?)
            .zero_extended()
    };
    Scalar {
        bits,
        bits_exact,
        var,
        sure,
        link: 0,
        ..r
    }
    .synced()
}

/// `s` on the side of a jump (`jmp op s, k`, class JMP or JMP32; `k` the
/// immediate sign-extended) where the comparison came out `taken`; `None`
/// when no value of `s` reaches that side (which the pass then leaves as
/// it was: it does not prune paths). As the kernel's
/// `regs_refine_cond_op`: JMP32 bounds the low half, which the sync then
/// carries into the whole number's bounds. A comparison these bounds
/// cannot follow leaves them, no longer `sure`: the kernel may have
/// learnt from it.
pub(crate) fn refine(class: u8, code: u8, s: Scalar, k: u64, taken: bool) -> Option<Scalar> {
    let w = Width::of(class == op::JMP);
    let k = k & w.umax();
    let ks = w.signed(k);
    let h = s.half(w);
    let narrowed = match (code, taken) {
        (op::JEQ, true) | (op::JNE, false) => Bounds {
            umin: h.umin.max(k),
            umax: h.umax.min(k),
            smin: h.smin.max(ks),
            smax: h.smax.min(ks),
        },
        (op::JGT | op::JGE | op::JLT | op::JLE | op::JSGT | op::JSGE | op::JSLT | op::JSLE, _) => {
            // The side's values, `lo ..= hi` unsigned or signed: x > k
            // keeps k + 1 ..= the width's largest, and so on.
            let signed = matches!(code, op::JSGT | op::JSGE | op::JSLT | op::JSLE);
            let (k, least, most) = if signed {
                (i128::from(ks), i128::from(w.smin()), i128::from(w.smax()))
            } else {
                (i128::from(k), 0, i128::from(w.umax()))
            };
            let above = matches!(code, op::JGT | op::JSGT | op::JGE | op::JSGE) == taken;
            let strict = matches!(
                (code, taken),
                (op::JGT | op::JSGT | op::JLT | op::JSLT, true)
                    | (op::JGE | op::JSGE | op::JLE | op::JSLE, false)
            );
            let (lo, hi) = match (above, strict) {
                (true, true) => (k + 1, most),
                (true, false) => (k, most),
                (false, true) => (least, k - 1),
                (false, false) => (least, k),
            };
            if lo > hi {
                return None;
            }
            if signed {
                Bounds {
                    smin: h.smin.max(lo as i64),
                    smax: h.smax.min(hi as i64),
                    ..h
                }
            } else {
                Bounds {
                    umin: h.umin.max(lo as u64),
                    umax: h.umax.min(hi as u64),
                    ..h
                }
            }
        }
        (op::JNE, true) | (op::JEQ, false) => {
            // x != k moves a bound equal to k, as the kernel's does (of
            // the low half for JMP32).
            if h.umin == k && h.umax == k {
                return None;
            }
            // (A bound at the end of its range equal to k leaves the
            // number k alone, decided above; kept within the width,
            // should the bounds not be synced.)
            let up = |b: u64| {
                if b == k {
                    b.saturating_add(1).min(w.umax())
                } else {
                    b
                }
            };
            let down = |b: u64| if b == k { b.saturating_sub(1) } else { b };
            Bounds {
                umin: up(h.umin),
                umax: down(h.umax),
                smin: if h.smin == ks {
                    ks.saturating_add(1).min(w.smax())
                } else {
                    h.smin
                },
                smax: if h.smax == ks {
                    ks.saturating_sub(1).max(w.smin())
                } else {
                    h.smax
                },
            }
        }
        // jset: the kernel learns known bits (its regs_refine_cond_op):
        // not taken, the bits of `k` are 0; taken, a single bit is 1.
        // The bounds follow from the bits, as sure as the bits are.
        (op::JSET, _) if !taken || k.is_power_of_two() => {
            let learnt = |t: Tnum| {
                if taken {
                    t.or(Tnum::constant(k))
                } else {
                    t.and(Tnum::constant(!k))
                }
            };
            let bits = match w {
                Width::W64 => learnt(s.bits),
                Width::W32 => s.bits.with_low(learnt(s.bits.low()).low()),
            };
            return Scalar {
                bits,
                sure: s.sure && s.bits_exact,
                ..s
            }
            .synced();
        }
        _ => return Some(s.unsure()),
    };
    s.with_half(w, narrowed).synced()
}

/// The outcome of `jmp op s, k` (class JMP, or JMP32 on the low halves)
/// when `s` is one constant, or its bounds or known bits decide it for
/// every value, as the kernel's `is_branch_taken` decides from its ranges
/// and `var_off` (a side it decides against is never explored); `None`
/// when values on both sides remain, or `code` is no comparison.
pub(crate) fn range_decides(class: u8, code: u8, s: Scalar, k: u64) -> Option<bool> {
    let w = Width::of(class == op::JMP);
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
    let h = s.half(w);
    if h.umin == h.umax {
        return Some(semantics::jmp_cond(code, h.umin, k, w == Width::W32));
    }
    let k = k & w.umax();
    let ks = w.signed(k);
    // Known bits (only where they are the kernel's): a bit known set in
    // both makes `jset` true, no bit possibly set in both makes it false;
    // a known bit that differs makes `jeq` false.
    if s.bits_exact {
        let t = match w {
            Width::W64 => s.bits,
            Width::W32 => s.bits.low(),
        };
        let (ones, maybe) = (t.value & !t.mask, t.value | t.mask);
        let differs = (t.value ^ k) & !t.mask != 0;
        match code {
            op::JSET if ones & k != 0 => return Some(true),
            op::JSET if maybe & k == 0 => return Some(false),
            op::JEQ if differs => return Some(false),
            op::JNE if differs => return Some(true),
            _ => {}
        }
    }
    let (always, never) = match code {
        // Equal never where k is outside either range.
        op::JEQ | op::JNE => {
            let outside = k < h.umin || k > h.umax || ks < h.smin || ks > h.smax;
            if code == op::JEQ {
                (false, outside)
            } else {
                (outside, false)
            }
        }
        op::JGT => (h.umin > k, h.umax <= k),
        op::JGE => (h.umin >= k, h.umax < k),
        op::JLT => (h.umax < k, h.umin >= k),
        op::JLE => (h.umax <= k, h.umin > k),
        op::JSGT => (h.smin > ks, h.smax <= ks),
        op::JSGE => (h.smin >= ks, h.smax < ks),
        op::JSLT => (h.smax < ks, h.smin >= ks),
        op::JSLE => (h.smax <= ks, h.smin > ks),
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
        u32min: 0,
        u32max: 255,
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
        // 32` (the kernel's own case for a shift by 32, which the
        // running 6.18 takes for negative bounds too): -128 ..= 7.
        let w = alu(op::ALU, op::LSH, 0, BYTE, Scalar::constant(24)).expect("lsh32");
        let c = alu(op::ALU, op::ARSH, 0, w, Scalar::constant(24)).expect("arsh32");
        assert_eq!(
            (c.s32min, c.s32max, c.lo, c.hi),
            (-128, 127, 0, u64::from(u32::MAX))
        );
        let c = refine(op::JMP32, op::JSGT, c, 7, false).expect("reached");
        let high = alu(op::ALU64, op::LSH, 0, c, Scalar::constant(32)).expect("lsh");
        assert_eq!((high.smin, high.smax), (-128 << 32, 7 << 32));
        let n = alu(op::ALU64, op::ARSH, 0, high, Scalar::constant(32)).expect("arsh");
        assert_eq!((n.smin, n.smax, n.sure), (-128, 7, true));
        // movsx32 of a byte (`w1 = (s8)w2`): the low half -128 ..= 127,
        // the number its zero extension; of a byte below 128, the byte.
        let m = alu(op::ALU, op::MOV, 8, Scalar::constant(0), BYTE).expect("movsx32");
        assert_eq!(
            (m.s32min, m.s32max, m.lo, m.hi),
            (-128, 127, 0, u64::from(u32::MAX))
        );
        let small = refine(op::JMP, op::JLT, BYTE, 100, true).expect("reached");
        let m = alu(op::ALU, op::MOV, 8, Scalar::constant(0), small).expect("movsx32");
        assert_eq!((m.lo, m.hi, m.s32min, m.s32max), (0, 99, 0, 99));
        // Checked from below too, the low half is 0 ..= 7, and so is the
        // number.
        let c = refine(op::JMP32, op::JSLT, c, 0, false).expect("reached");
        assert_eq!((c.lo, c.hi, c.s32min, c.s32max), (0, 7, 0, 7));
    }

    /// Numbers past 32 bits keep their low half's bounds, as the kernel's
    /// u32/s32 bounds: 32-bit comparisons and operations bound them, and
    /// what a comparison teaches the low half tightens the whole
    /// (`__reg_deduce_mixed_bounds`).
    #[test]
    fn the_low_half_of_a_wide_number_has_bounds_of_its_own() {
        let k = Scalar::constant;
        // (word << 32) | byte: past 32 bits, its low half a byte.
        let high = alu(op::ALU64, op::LSH, 0, Scalar::loaded(4), k(32)).expect("lsh");
        let wide = alu(op::ALU64, op::OR, 0, high, BYTE).expect("or");
        assert_eq!(
            (wide.u32min, wide.u32max, wide.hi),
            (0, 255, u64::MAX << 32 | 255)
        );
        // A 32-bit comparison bounds the low half, and a 32-bit operation
        // on it (zero-extended) is bounded by it.
        let below_16 = refine(op::JMP32, op::JLT, wide, 16, true).expect("reached");
        assert_eq!((below_16.u32max, below_16.sure), (15, true));
        let w = alu(op::ALU, op::ADD, 0, below_16, k(4)).expect("add32");
        assert_eq!((w.lo, w.hi, w.sure), (4, 19, true));
        // A 32-bit comparison no value of the low half passes: no side.
        assert_eq!(refine(op::JMP32, op::JGT, below_16, 20, true), None);
        assert_eq!(range_decides(op::JMP32, op::JGT, below_16, 20), Some(false));
        // The whole number from the low half's bounds: a number of the
        // form 2^32 * n + low, n 0 or 1, its low half at least 5.
        let n = Scalar::unsigned(0, 0x1_0000_0000 | 0xff, true, true);
        let at_least_5 = refine(op::JMP32, op::JGE, n, 5, true).expect("reached");
        assert_eq!((at_least_5.lo, at_least_5.u32min), (5, 5));
        // Sums where every sum wraps still have bounds (the kernel's
        // scalar_min_max_add since 6.17), and products of numbers of
        // either sign are bounded by the four products of their ends.
        let top = Scalar::unsigned(u64::MAX - 3, u64::MAX, true, true);
        let wrapped = alu(op::ALU64, op::ADD, 0, top, k(8)).expect("add");
        assert_eq!((wrapped.lo, wrapped.hi), (4, 7));
        let signed = refine(
            op::JMP,
            op::JSGE,
            Scalar::loaded_signed(1),
            u64::MAX - 2,
            true,
        )
        .and_then(|s| refine(op::JMP, op::JSLE, s, 5, true))
        .expect("reached");
        let product = alu(op::ALU64, op::MUL, 0, signed, k(u64::MAX - 3)).expect("mul");
        assert_eq!((product.smin, product.smax, product.sure), (-20, 12, true));
        // A quotient is any number to the kernel, even of constants (the
        // running 6.18: `r3 = 16; r3 /= 8` reads as scalar()).
        for (class, code) in [(op::ALU64, op::DIV), (op::ALU, op::MOD)] {
            let q = alu(class, code, 0, k(16), k(8)).expect("quotient");
            assert_eq!((q.lo, q.hi, q.sure), (0, u64::MAX, true));
        }
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
        // A JMP32 of a number past 32 bits: its low half may be anything.
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
