//! Random numbers on top of any [`rand_core::RngCore`], computed with `libm`
//! so that every target draws the same samples from the same generator.

use rand_core::RngCore;

/// A uniform sample in `[0, 1)` with 24 bits of resolution.
#[inline]
pub fn uniform<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    (rng.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// A uniform sample in `[low, high)`.
#[inline]
pub fn uniform_range<R: RngCore + ?Sized>(rng: &mut R, low: f32, high: f32) -> f32 {
    low + (high - low) * uniform(rng)
}

/// A standard normal sample (Box–Muller; one of the pair is discarded so the
/// generator state advances identically on every call).
#[inline]
pub fn normal<R: RngCore + ?Sized>(rng: &mut R) -> f32 {
    // u1 in (0, 1] so that ln(u1) is finite.
    let u1 = 1.0 - uniform(rng);
    let u2 = uniform(rng);
    libm::sqrtf(-2.0 * libm::logf(u1)) * libm::cosf(core::f32::consts::TAU * u2)
}

/// A uniform integer in `0..n` (`n > 0`; returns 0 for `n == 0`).
#[inline]
pub fn below<R: RngCore + ?Sized>(rng: &mut R, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    // Lemire's multiply-shift; the tiny bias is irrelevant for shuffling.
    ((rng.next_u32() as u64 * n as u64) >> 32) as usize
}

/// Fisher–Yates shuffle of `items`.
pub fn shuffle<T, R: RngCore + ?Sized>(rng: &mut R, items: &mut [T]) {
    for i in (1..items.len()).rev() {
        let j = below(rng, i + 1);
        items.swap(i, j);
    }
}

/// A small, fast, seedable generator (PCG-XSH-RR 64/32) that needs no crate
/// beyond `rand_core`, so the firmware and the host share one stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Pcg32 {
    state: u64,
    inc: u64,
}

impl Pcg32 {
    const MUL: u64 = 6_364_136_223_846_793_005;

    /// A generator for `seed` on stream `stream`.
    pub const fn new(seed: u64, stream: u64) -> Self {
        let inc = (stream << 1) | 1;
        let mut state = 0u64.wrapping_mul(Self::MUL).wrapping_add(inc);
        state = state.wrapping_add(seed);
        state = state.wrapping_mul(Self::MUL).wrapping_add(inc);
        Self { state, inc }
    }

    /// A generator seeded from one number (stream derived from the seed).
    pub const fn seed_from_u64(seed: u64) -> Self {
        Self::new(seed, seed ^ 0x9E37_79B9_7F4A_7C15)
    }
}

impl RngCore for Pcg32 {
    #[inline]
    fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old.wrapping_mul(Self::MUL).wrapping_add(self.inc);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    #[inline]
    fn next_u64(&mut self) -> u64 {
        let lo = self.next_u32() as u64;
        let hi = self.next_u32() as u64;
        (hi << 32) | lo
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(4) {
            let v = self.next_u32().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_in_unit_interval_and_mean_half() {
        let mut rng = Pcg32::seed_from_u64(1);
        let mut sum = 0.0f64;
        for _ in 0..100_000 {
            let u = uniform(&mut rng);
            assert!((0.0..1.0).contains(&u));
            sum += u as f64;
        }
        assert!((sum / 100_000.0 - 0.5).abs() < 0.01);
    }

    #[test]
    fn normal_moments() {
        let mut rng = Pcg32::seed_from_u64(2);
        let n = 200_000;
        let (mut s, mut s2) = (0.0f64, 0.0f64);
        for _ in 0..n {
            let x = normal(&mut rng) as f64;
            assert!(x.is_finite());
            s += x;
            s2 += x * x;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }

    #[test]
    fn shuffle_is_permutation() {
        let mut rng = Pcg32::seed_from_u64(3);
        let mut v: [usize; 50] = core::array::from_fn(|i| i);
        shuffle(&mut rng, &mut v);
        let mut sorted = v;
        sorted.sort_unstable();
        assert_eq!(sorted, core::array::from_fn::<usize, 50, _>(|i| i));
        assert_ne!(v, sorted);
    }
}
