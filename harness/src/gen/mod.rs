//! Seeded generators of programs and packets for differential testing,
//! the conformance corpus and the live comparison with the kernel. The same
//! seed gives the same cases on every machine.

pub mod acceptance;
pub mod classic;
pub mod ebpf;
pub mod packet;
pub mod xdp;

/// The generators' seeded source: the library's SplitMix64 (the one behind
/// `#rand`, so a seed means the same sequence in both) with the draws the
/// generators make.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng(cranebpf::rng::Rng);

impl Rng {
    /// A generator whose sequence is fully determined by `seed`.
    pub const fn new(seed: u64) -> Rng {
        Rng(cranebpf::rng::Rng::new(seed))
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// The next 32 pseudo-random bits.
    pub fn next_u32(&mut self) -> u32 {
        self.0.next_u32()
    }

    /// A value in `0..n` (`n` must be non-zero; 0 gives 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next_u64() % n
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A uniformly chosen element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A value biased towards arithmetic edge cases: half the time one of
    /// 0, ±1, the 32- and 64-bit signed limits and their neighbours, else
    /// uniformly random (sometimes narrowed to 32 or 8 bits).
    pub fn edgy_u64(&mut self) -> u64 {
        const EDGES: [u64; 14] = [
            0,
            1,
            2,
            u64::MAX,
            u64::MAX - 1,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_ffff,
            0x1_0000_0000,
            0x7fff_ffff_ffff_ffff,
            0x8000_0000_0000_0000,
            0xffff_ffff_8000_0000,
            31,
            63,
        ];
        match self.below(4) {
            0 | 1 => *self.pick(&EDGES),
            2 => self.next_u64(),
            _ => match self.below(3) {
                0 => self.next_u64() as u32 as u64,
                1 => self.next_u64() as i32 as i64 as u64,
                _ => self.below(256),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn below_stays_in_range() {
        let mut r = Rng::new(7);
        for n in 1..100 {
            assert!(r.below(n) < n);
        }
        assert_eq!(r.below(0), 0);
    }
}
