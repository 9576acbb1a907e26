//! Running mean and variance (Welford/Chan) for observation normalisation
//! and return-based reward scaling.

/// Running mean and variance of `N`-dimensional samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunningMeanStd<const N: usize> {
    /// Mean per dimension.
    pub mean: [f32; N],
    /// Population variance per dimension.
    pub var: [f32; N],
    /// Number of samples seen (f64 keeps long runs exact enough).
    pub count: f64,
}

impl<const N: usize> Default for RunningMeanStd<N> {
    fn default() -> Self {
        Self::NEW
    }
}

impl<const N: usize> RunningMeanStd<N> {
    /// No samples yet: mean 0, variance 1.
    pub const NEW: Self = Self {
        mean: [0.0; N],
        var: [1.0; N],
        count: 0.0,
    };

    /// Adds one sample. Non-finite samples are ignored (returns `false`).
    pub fn update(&mut self, x: &[f32; N]) -> bool {
        if !x.iter().all(|v| v.is_finite()) {
            return false;
        }
        self.count += 1.0;
        let n = self.count;
        for i in 0..N {
            let d = (x[i] - self.mean[i]) as f64;
            let mean = self.mean[i] as f64 + d / n;
            let m2_old = self.var[i] as f64 * (n - 1.0);
            let m2 = if n == 1.0 {
                0.0
            } else {
                m2_old + d * (x[i] as f64 - mean)
            };
            self.mean[i] = mean as f32;
            self.var[i] = (m2 / n) as f32;
        }
        true
    }

    /// Merges another summary into this one (Chan et al.'s parallel rule),
    /// so per-worker statistics combine exactly as if seen by one.
    pub fn merge(&mut self, other: &Self) {
        if other.count == 0.0 {
            return;
        }
        if self.count == 0.0 {
            *self = *other;
            return;
        }
        let (na, nb) = (self.count, other.count);
        let n = na + nb;
        for i in 0..N {
            let d = other.mean[i] as f64 - self.mean[i] as f64;
            let mean = self.mean[i] as f64 + d * nb / n;
            let m2 = self.var[i] as f64 * na + other.var[i] as f64 * nb + d * d * na * nb / n;
            self.mean[i] = mean as f32;
            self.var[i] = (m2 / n) as f32;
        }
        self.count = n;
    }

    /// `clip((x − mean)/√(var + 1e-8), ±clip)`.
    #[inline]
    pub fn normalize(&self, x: &[f32; N], clip: f32) -> [f32; N] {
        core::array::from_fn(|i| {
            let z = (x[i] - self.mean[i]) / libm::sqrtf(self.var[i] + 1e-8);
            z.clamp(-clip, clip)
        })
    }
}

/// Return-based reward scaling: rewards are divided by the running standard
/// deviation of the discounted return, tracked per environment.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RewardScaler {
    /// Statistics of the discounted return.
    pub stats: RunningMeanStd<1>,
}

impl RewardScaler {
    /// Updates the discounted return `ret` of one environment with `reward`
    /// (resetting it after an episode end) and the statistics; returns the
    /// scaled reward.
    pub fn scale(&mut self, ret: &mut f32, reward: f32, gamma: f32, done: bool) -> f32 {
        *ret = *ret * gamma + reward;
        self.stats.update(&[*ret]);
        if done {
            *ret = 0.0;
        }
        self.apply(reward)
    }

    /// Divides `reward` by the current return standard deviation.
    pub fn apply(&self, reward: f32) -> f32 {
        reward / libm::sqrtf(self.stats.var[0] + 1e-8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn welford_matches_two_pass(xs in prop::collection::vec(prop::array::uniform2(-100f32..100.0), 1..200), split in 0usize..200) {
            let mut rs = RunningMeanStd::<2>::NEW;
            for x in &xs { rs.update(x); }
            for d in 0..2 {
                let n = xs.len() as f64;
                let mean: f64 = xs.iter().map(|x| x[d] as f64).sum::<f64>() / n;
                let var: f64 = xs.iter().map(|x| (x[d] as f64 - mean).powi(2)).sum::<f64>() / n;
                prop_assert!((rs.mean[d] as f64 - mean).abs() <= 1e-3 + 1e-5 * mean.abs());
                prop_assert!((rs.var[d] as f64 - var).abs() <= 1e-2 + 1e-4 * var);
            }
            // Merging two halves equals one pass.
            let k = split.min(xs.len());
            let (mut a, mut b) = (RunningMeanStd::<2>::NEW, RunningMeanStd::<2>::NEW);
            for x in &xs[..k] { a.update(x); }
            for x in &xs[k..] { b.update(x); }
            a.merge(&b);
            for d in 0..2 {
                prop_assert!((a.mean[d] - rs.mean[d]).abs() <= 1e-3 + 1e-5 * rs.mean[d].abs());
                prop_assert!((a.var[d] - rs.var[d]).abs() <= 1e-2 + 1e-4 * rs.var[d]);
            }
            prop_assert_eq!(a.count, rs.count);
        }
    }

    #[test]
    fn normalize_clips_and_ignores_nan() {
        let mut rs = RunningMeanStd::<1>::NEW;
        for x in [1.0f32, 3.0] {
            rs.update(&[x]);
        }
        assert!(!rs.update(&[f32::NAN]));
        assert_eq!(rs.count, 2.0);
        assert!((rs.normalize(&[3.0], 10.0)[0] - 1.0).abs() < 1e-6);
        assert_eq!(rs.normalize(&[1e9], 5.0)[0], 5.0);
    }
}
