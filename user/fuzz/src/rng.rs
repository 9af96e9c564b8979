//! The campaign's one source of randomness: xorshift64* per process, seeded from the campaign
//! seed and the process's index, so a seed replays the same choices in each process (the
//! interleaving across CPUs is the machine's).

/// A xorshift64* generator.
pub struct Rng(u64);

impl Rng {
    /// The generator of process `index` in the campaign `seed`.
    pub fn new(seed: u32, index: u64) -> Rng {
        // splitmix64 of the pair, so neighbouring seeds and indices start far apart.
        let mut z = (seed as u64) << 32 ^ index ^ 0x9e37_79b9_7f4a_7c15;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}
