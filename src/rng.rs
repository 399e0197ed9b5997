//! A tiny seeded PRNG (SplitMix64) for reproducible generated tests: the
//! same seed gives the same sequence forever, with no external crate.

/// SplitMix64 generator (Steele, Lea, Flood 2014).
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`; tiny modulo bias is irrelevant here).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A uniformly chosen element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
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
            0 | 1 => self.pick(&EDGES),
            2 => self.next_u64(),
            _ => match self.below(3) {
                0 => self.next_u64() as u32 as u64,
                1 => self.next_u64() as i32 as i64 as u64,
                _ => self.below(256),
            },
        }
    }
}
