//! A tiny seeded pseudo-random generator (SplitMix64).
//!
//! The classic `#rand` load and eBPF's `bpf_get_prandom_u32` draw from it
//! when given a seed, so a seed gives the same sequence forever, on every
//! platform. Public so tools (and the test harness, `cranebpf-harness`,
//! whose generators draw from it) can reproduce those values.

/// SplitMix64: a 64-bit state advanced by a constant, then mixed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose sequence is fully determined by `seed`.
    pub const fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next 32 pseudo-random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn sequence_is_fixed_for_a_seed() {
        // Reference values of SplitMix64 from seed 0 (as published with the
        // algorithm); they pin the sequence so recorded seeds stay valid.
        let mut r = Rng::new(0);
        assert_eq!(r.next_u64(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(r.next_u64(), 0x6e78_9e6a_a1b9_65f4);
    }
}
