//! Running mean and variance (Welford/Chan) for observation normalisation
//! and return-based reward scaling.

use crate::mlp::Mlp;

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

    /// `clip((x − mean)/√(var + 1e-8), ±clip)`. Never panics: a NaN or
    /// negative `clip` gives some value instead (callers that take `clip`
    /// from outside check it, as [`crate::actor::Actor::new`] does).
    #[inline]
    pub fn normalize(&self, x: &[f32; N], clip: f32) -> [f32; N] {
        self.normalizer(clip).apply(x)
    }

    /// [`Self::normalize`] with its square roots taken once, for many
    /// observations: the same bits.
    #[inline]
    pub fn normalizer(&self, clip: f32) -> Normalizer<N> {
        Normalizer {
            mean: self.mean,
            scale: core::array::from_fn(|i| crate::linalg::sqrt(self.var[i] + 1e-8)),
            clip,
        }
    }
}

/// `clip((x − mean)/scale, ±clip)` with scale = √(var + 1e-8) already
/// taken: what [`RunningMeanStd::normalize`] computes, for a batch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Normalizer<const N: usize> {
    mean: [f32; N],
    scale: [f32; N],
    clip: f32,
}

impl<const N: usize> Normalizer<N> {
    /// The normalised, clipped observation.
    #[inline]
    pub fn apply(&self, x: &[f32; N]) -> [f32; N] {
        core::array::from_fn(|i| {
            let z = (x[i] - self.mean[i]) / self.scale[i];
            crate::linalg::clamp(z, -self.clip, self.clip)
        })
    }
}

/// The observation normalisation a policy acts with: running statistics
/// and the clip applied after normalising. Part of the deployed policy
/// (the policy file stores both), so changing it changes the policy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObsNorm<const O: usize> {
    /// Mean and variance per component.
    pub stats: RunningMeanStd<O>,
    /// Clip on normalised values.
    pub clip: f32,
}

impl<const O: usize> ObsNorm<O> {
    /// No statistics yet (mean 0, variance 1) and the default clip.
    pub const NEW: Self = Self {
        stats: RunningMeanStd::NEW,
        clip: crate::actor::OBS_CLIP,
    };

    /// Every number zero, variance and clip included: storage to be
    /// written before use (a `static` of it is `.bss`), not a usable
    /// normalisation.
    pub const ZEROED: Self = Self {
        stats: RunningMeanStd {
            mean: [0.0; O],
            var: [0.0; O],
            count: 0.0,
        },
        clip: 0.0,
    };

    /// The network input for a raw observation.
    #[inline]
    pub fn apply(&self, raw: &[f32; O]) -> [f32; O] {
        self.stats.normalize(raw, self.clip)
    }

    /// [`Self::apply`] for many observations, its square roots taken once.
    #[inline]
    pub fn normalizer(&self) -> Normalizer<O> {
        self.stats.normalizer(self.clip)
    }

    /// Re-expresses `net`'s first layer for inputs normalised by `to`
    /// instead of `self`, so that the network computes the same function
    /// of the raw observation (exactly, up to rounding, wherever neither
    /// normalisation clips): with s = √(var + 1e-8), inputs
    /// z_self = c + r·z_to where r = s_to / s_self and
    /// c = (mean_to − mean_self) / s_self, so W ← W·diag(r) and
    /// b ← b + W·c. Leaves `net` alone when the two are equal or the
    /// result would not be finite.
    pub fn carry_over<const H: usize, const A: usize>(&self, to: &Self, net: &mut Mlp<O, H, A>) {
        if self == to {
            return;
        }
        let s = |v: f32| libm::sqrt(v as f64 + 1e-8f32 as f64);
        let r: [f64; O] = core::array::from_fn(|j| s(to.stats.var[j]) / s(self.stats.var[j]));
        let c: [f64; O] = core::array::from_fn(|j| {
            (to.stats.mean[j] as f64 - self.stats.mean[j] as f64) / s(self.stats.var[j])
        });
        let mut w1 = net.w1;
        let mut b1 = net.b1;
        for k in 0..H {
            let mut b = net.b1[k] as f64;
            for j in 0..O {
                b += net.w1[j][k] as f64 * c[j];
                w1[j][k] = (net.w1[j][k] as f64 * r[j]) as f32;
            }
            b1[k] = b as f32;
        }
        let finite = b1.iter().chain(w1.iter().flatten()).all(|x| x.is_finite());
        if finite {
            net.w1 = w1;
            net.b1 = b1;
        }
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
    /// Divides `reward` by the current return standard deviation.
    pub fn apply(&self, reward: f32) -> f32 {
        reward / self.sigma()
    }

    /// σ_R = √(var + 1e-8) of the discounted return.
    pub fn sigma(&self) -> f32 {
        crate::linalg::sqrt(self.stats.var[0] + 1e-8)
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

        /// One normaliser for a batch gives the bits of the textbook
        /// formula with its square root taken per call (f32's √ is
        /// correctly rounded, so `libm::sqrtf` is an independent oracle).
        #[test]
        fn normalizer_is_the_formula_bitwise(
            mean in prop::array::uniform3(-1e3f32..1e3),
            var in prop::array::uniform3(0f32..1e4),
            clip in 0.1f32..20.0,
            xs in prop::collection::vec(prop::array::uniform3(-1e4f32..1e4), 1..20),
        ) {
            let rs = RunningMeanStd::<3> { mean, var, count: 5.0 };
            let n = rs.normalizer(clip);
            for x in &xs {
                let z = n.apply(x);
                for i in 0..3 {
                    let want = ((x[i] - mean[i]) / libm::sqrtf(var[i] + 1e-8)).clamp(-clip, clip);
                    prop_assert_eq!(z[i].to_bits(), want.to_bits());
                }
            }
        }
    }

    #[test]
    fn carry_over_keeps_the_function_of_the_raw_observation() {
        use crate::rng::{Pcg32, normal};
        let mut rng = Pcg32::seed_from_u64(3);
        let mut net = Mlp::<3, 8, 2>::ZERO;
        net.init(&mut rng, 1.4, 1.0);
        let mut from = ObsNorm::<3>::NEW;
        let mut to = ObsNorm::<3>::NEW;
        for _ in 0..50 {
            from.stats
                .update(&core::array::from_fn(|_| 2.0 * normal(&mut rng)));
            to.stats
                .update(&core::array::from_fn(|_| 1.0 + 0.5 * normal(&mut rng)));
        }
        let mut moved = net;
        from.carry_over(&to, &mut moved);
        assert_ne!(moved, net);
        for _ in 0..100 {
            let raw: [f32; 3] = core::array::from_fn(|_| 1.0 + normal(&mut rng));
            let a = net.predict(&from.apply(&raw));
            let b = moved.predict(&to.apply(&raw));
            for o in 0..2 {
                assert!((a[o] - b[o]).abs() < 1e-4, "{a:?} vs {b:?} at {raw:?}");
            }
        }
        // Equal normalisations leave the network bit for bit.
        let mut same = net;
        from.carry_over(&from, &mut same);
        assert_eq!(same, net);
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
