//! Known bits of a number ("tristate numbers"), as the kernel's verifier
//! keeps them beside a number's bounds (`kernel/bpf/tnum.c`): `value` holds
//! the bits known to be 1, `mask` the bits not known. The kernel bounds
//! the results of `and`, `or`, `xor` and shifts by them, so the context
//! pass keeps them too, to give the same bounds (`scalar.rs`).

/// Bits known to be 1 (`value`) and bits not known (`mask`); a bit in
/// neither is known to be 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Tnum {
    pub value: u64,
    pub mask: u64,
}

impl Tnum {
    /// Nothing known.
    pub(crate) const UNKNOWN: Tnum = Tnum {
        value: 0,
        mask: u64::MAX,
    };

    pub(crate) fn constant(v: u64) -> Tnum {
        Tnum { value: v, mask: 0 }
    }

    /// What every number in `min ..= max` has in common: the bits above
    /// the highest one where the two ends differ (`tnum_range`).
    pub(crate) fn range(min: u64, max: u64) -> Tnum {
        let differ = 64 - (min ^ max).leading_zeros();
        if differ > 63 {
            return Tnum::UNKNOWN;
        }
        let low = (1u64 << differ) - 1;
        Tnum {
            value: min & !low,
            mask: low,
        }
    }

    pub(crate) fn add(self, o: Tnum) -> Tnum {
        let sm = self.mask.wrapping_add(o.mask);
        let sv = self.value.wrapping_add(o.value);
        let carries = sm.wrapping_add(sv) ^ sv;
        let mu = carries | self.mask | o.mask;
        Tnum {
            value: sv & !mu,
            mask: mu,
        }
    }

    pub(crate) fn sub(self, o: Tnum) -> Tnum {
        let dv = self.value.wrapping_sub(o.value);
        let alpha = dv.wrapping_add(self.mask);
        let beta = dv.wrapping_sub(o.mask);
        let mu = (alpha ^ beta) | self.mask | o.mask;
        Tnum {
            value: dv & !mu,
            mask: mu,
        }
    }

    pub(crate) fn and(self, o: Tnum) -> Tnum {
        let v = self.value & o.value;
        Tnum {
            value: v,
            mask: (self.value | self.mask) & (o.value | o.mask) & !v,
        }
    }

    pub(crate) fn or(self, o: Tnum) -> Tnum {
        let v = self.value | o.value;
        Tnum {
            value: v,
            mask: (self.mask | o.mask) & !v,
        }
    }

    pub(crate) fn xor(self, o: Tnum) -> Tnum {
        let mu = self.mask | o.mask;
        Tnum {
            value: (self.value ^ o.value) & !mu,
            mask: mu,
        }
    }

    /// A product, as the kernel's `tnum_mul` (the long multiplication of
    /// Linux 6.18: at each bit of `self`, add `o` when it is 1, keep both
    /// sums' common bits when it is unknown). Checked against the running
    /// kernel: products where its earlier `tnum_mul` knew a bit this one
    /// does not, and the reverse, got the verdicts this one gives.
    pub(crate) fn mul(self, o: Tnum) -> Tnum {
        let (mut a, mut b) = (self, o);
        let mut acc = Tnum::constant(0);
        while a.value != 0 || a.mask != 0 {
            if a.value & 1 != 0 {
                acc = acc.add(b);
            } else if a.mask & 1 != 0 {
                acc = acc.union(acc.add(b));
            }
            a = a.rsh(1);
            b = b.lsh(1);
        }
        acc
    }

    pub(crate) fn lsh(self, k: u32) -> Tnum {
        Tnum {
            value: self.value << k,
            mask: self.mask << k,
        }
    }

    pub(crate) fn rsh(self, k: u32) -> Tnum {
        Tnum {
            value: self.value >> k,
            mask: self.mask >> k,
        }
    }

    /// An arithmetic shift of the low `bits` (32 or 64) bits.
    pub(crate) fn arsh(self, k: u32, bits: u32) -> Tnum {
        if bits == 32 {
            Tnum {
                value: u64::from(((self.value as i32) >> k) as u32),
                mask: u64::from(((self.mask as i32) >> k) as u32),
            }
        } else {
            Tnum {
                value: ((self.value as i64) >> k) as u64,
                mask: ((self.mask as i64) >> k) as u64,
            }
        }
    }

    /// What both say (`tnum_intersect`).
    pub(crate) fn intersect(self, o: Tnum) -> Tnum {
        let v = self.value | o.value;
        let mu = self.mask & o.mask;
        Tnum {
            value: v & !mu,
            mask: mu,
        }
    }

    /// What is known on either of two paths.
    pub(crate) fn union(self, o: Tnum) -> Tnum {
        let mu = self.mask | o.mask | (self.value ^ o.value);
        Tnum {
            value: self.value & !mu,
            mask: mu,
        }
    }

    /// The low 32 bits (`tnum_subreg`).
    pub(crate) fn low(self) -> Tnum {
        Tnum {
            value: self.value & 0xffff_ffff,
            mask: self.mask & 0xffff_ffff,
        }
    }

    /// The high 32 bits kept, the low ones replaced by `low`'s.
    pub(crate) fn with_low(self, low: Tnum) -> Tnum {
        Tnum {
            value: (self.value & !0xffff_ffff) | low.value,
            mask: (self.mask & !0xffff_ffff) | low.mask,
        }
    }

    pub(crate) fn min(self) -> u64 {
        self.value
    }

    pub(crate) fn max(self) -> u64 {
        self.value | self.mask
    }

    /// The smallest member that is at least `z`, if any (as the kernel's
    /// `tnum_step` walks a tnum's members). Where `z`'s highest bit that
    /// disagrees with a known bit is a known 1, the member keeps `z`'s
    /// bits above it; where a known 0, the lowest unknown bit above it
    /// that `z` has 0 is set instead (none: no member is that large).
    /// Below the bit chosen, the least: the known bits. (Constant time:
    /// the bounds sync asks this of every number it tightens.)
    pub(crate) fn member_at_least(self, z: u64) -> Option<u64> {
        let (v, m) = (self.value, self.mask);
        let differ = (z ^ v) & !m;
        if differ == 0 {
            return Some(z);
        }
        let top = 63 - differ.leading_zeros();
        let set_at = |i: u32| {
            let bit = 1u64 << i;
            (z & !(bit | (bit - 1))) | bit | (v & (bit - 1))
        };
        if v >> top & 1 == 1 {
            return Some(set_at(top));
        }
        let free = m & !z & (!0u64).checked_shl(top + 1).unwrap_or(0);
        (free != 0).then(|| set_at(free.trailing_zeros()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_keep_what_is_known_as_the_kernels_do() {
        // A byte: its low 8 bits unknown.
        let byte = Tnum::range(0, 255);
        assert_eq!(
            byte,
            Tnum {
                value: 0,
                mask: 0xff
            }
        );
        // (byte & 0xf) << 2: the IPv4 header length, bits 2..5 unknown.
        let ihl = byte.and(Tnum::constant(0xf)).lsh(2);
        assert_eq!(
            ihl,
            Tnum {
                value: 0,
                mask: 0x3c
            }
        );
        // A sum spreads the unknown bits by the carries it may make.
        assert_eq!(ihl.add(Tnum::constant(14)).max(), 0x7e);
        // An or with a constant knows its bits; xor of unknowns nothing.
        assert_eq!(byte.or(Tnum::constant(0x100)).min(), 0x100);
        assert_eq!(byte.xor(byte), byte);
        // The sign-extending shift copies an unknown sign bit.
        let high = byte.lsh(56);
        assert_eq!(high.arsh(56, 64), Tnum::UNKNOWN);
        assert_eq!(byte.lsh(24).arsh(24, 32).mask, 0xffff_ffff);
        assert_eq!(Tnum::range(5, 5), Tnum::constant(5));
        assert_eq!(Tnum::range(0, u64::MAX), Tnum::UNKNOWN);
        assert_eq!(
            Tnum::constant(4).union(Tnum::constant(6)),
            Tnum { value: 4, mask: 2 }
        );
    }

    #[test]
    fn members_are_stepped_through_in_order() {
        // x11100x0: the kernel's tnum_step example, 241 → 242.
        let t = Tnum {
            value: 0b0111_0000,
            mask: 0b1000_0010,
        };
        assert_eq!(t.member_at_least(241), Some(242));
        assert_eq!(t.member_at_least(0), Some(0b0111_0000));
        assert_eq!(t.member_at_least(0b0111_0010), Some(0b0111_0010));
        assert_eq!(t.member_at_least(0b0111_0011), Some(0b1111_0000));
        assert_eq!(t.member_at_least(0b1111_0011), None);
        // Every member of a small tnum, by brute force.
        let u = Tnum {
            value: 0b1_0010,
            mask: 0b0_1101,
        };
        let members: Vec<u64> = (0..64).filter(|x| x & !u.mask == u.value).collect();
        for z in 0..64 {
            assert_eq!(
                u.member_at_least(z),
                members.iter().copied().find(|&m| m >= z),
                "{z}"
            );
        }
        // Every 6-bit tnum, placed at the bottom and at the top of the
        // word (where no bit lies above), against its members by brute
        // force.
        for shift in [0, 58] {
            for value in 0u64..64 {
                for mask in (0u64..64).filter(|m| m & value == 0) {
                    let t = Tnum {
                        value: value << shift,
                        mask: mask << shift,
                    };
                    let members: Vec<u64> = (0u64..64)
                        .map(|x| x << shift)
                        .filter(|x| x & !t.mask == t.value)
                        .collect();
                    for z in (0u64..64).map(|x| x << shift) {
                        for z in [z, z.saturating_add(1)] {
                            assert_eq!(
                                t.member_at_least(z),
                                members.iter().copied().find(|&m| m >= z),
                                "{t:?} {z}"
                            );
                        }
                    }
                }
            }
        }
    }
}
