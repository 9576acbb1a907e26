//! The deployed policy's output in `f64`: the observation normalised with
//! the stored statistics and clip, then the network, as the crate
//! documentation writes them.

use fixpo_core::actor::Actor;
use fixpo_core::norm::RunningMeanStd;
use fixpo_core::policy::Policy;

/// The constant added to the variance before the square root, exactly as
/// stored by the deployed actor (the `f32` nearest to 1e-8).
const VAR_EPS: f64 = 1e-8f32 as f64;

/// f64 output (mean or logits) of `actor` at the raw observation.
///
/// The observation is normalised with the actor's stored statistics and
/// clip, then passed through the network, all in `f64` (see the crate
/// documentation for the formulas). A non-finite observation, weight or
/// statistic gives a non-finite output; so does a NaN or negative
/// `obs_clip` (the deployed actor would panic there). This never panics.
pub fn output_f64<const O: usize, const H: usize, const A: usize>(
    actor: &Actor<O, H, A>,
    raw: &[f32; O],
) -> [f64; A] {
    Deployed::of(actor).output_f64(raw)
}

/// The parts of a deployed policy the check reads: the policy and the
/// normalisation it acts with (action bounds do not enter: clipping a
/// sample cannot increase the divergence between two distributions). Lets
/// a caller audit policies it holds apart from an [`Actor`] (a
/// microcontroller that cannot spare the copies).
#[derive(Clone, Copy, Debug)]
pub struct Deployed<'a, const O: usize, const H: usize, const A: usize> {
    /// The policy network, kind and log-std.
    pub policy: &'a Policy<O, H, A>,
    /// The observation statistics it normalises with.
    pub obs_norm: &'a RunningMeanStd<O>,
    /// The clip applied after normalising.
    pub obs_clip: f32,
}

impl<'a, const O: usize, const H: usize, const A: usize> Deployed<'a, O, H, A> {
    /// The parts of `actor`.
    pub fn of(actor: &'a Actor<O, H, A>) -> Self {
        Self {
            policy: &actor.policy,
            obs_norm: &actor.obs_norm,
            obs_clip: actor.obs_clip,
        }
    }

    /// As [`output_f64`].
    pub fn output_f64(&self, raw: &[f32; O]) -> [f64; A] {
        output_parts(self.policy, self.obs_norm, self.obs_clip, raw)
    }
}

fn output_parts<const O: usize, const H: usize, const A: usize>(
    policy: &Policy<O, H, A>,
    norm: &RunningMeanStd<O>,
    clip: f32,
    raw: &[f32; O],
) -> [f64; A] {
    let clip = clip as f64;
    let z: [f64; O] = core::array::from_fn(|i| {
        let scaled =
            (raw[i] as f64 - norm.mean[i] as f64) / libm::sqrt(norm.var[i] as f64 + VAR_EPS);
        clamp_sym(scaled, clip)
    });

    let net = &policy.net;
    let h1 = layer_f64(&net.w1, &net.b1, &z).map(libm::tanh);
    let h2 = layer_f64(&net.w2, &net.b2, &h1).map(libm::tanh);
    layer_f64(&net.w3, &net.b3, &h2)
}

/// `b + Σ_j x_j·w[j]` in f64 (weights stored input-major).
fn layer_f64<const N: usize, const M: usize>(
    w: &[[f32; M]; N],
    b: &[f32; M],
    x: &[f64; N],
) -> [f64; M] {
    let mut y = b.map(f64::from);
    for (xj, wj) in x.iter().zip(w) {
        for (yk, &wjk) in y.iter_mut().zip(wj) {
            *yk += xj * wjk as f64;
        }
    }
    y
}

/// `z` clamped to `[−clip, clip]`; NaN `z` stays NaN, and a NaN or negative
/// `clip` (no valid interval) gives NaN instead of panicking.
fn clamp_sym(z: f64, clip: f64) -> f64 {
    if clip.is_nan() || clip < 0.0 {
        f64::NAN
    } else if z > clip {
        clip
    } else if z < -clip {
        -clip
    } else {
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{random_actor, random_raw};
    use fixpo_core::dist::PolicyKind;
    use rand_core::SeedableRng;
    use rand_pcg::Pcg64;

    /// Largest `|ours − core| / (1 + |ours|)` over random actors and
    /// observations, against the core's own f32 path.
    fn max_scaled_diff_vs_core<const O: usize, const H: usize, const A: usize>(
        seed: u64,
        kind: PolicyKind,
    ) -> (f64, f64) {
        let mut rng = Pcg64::seed_from_u64(seed);
        let (mut worst, mut largest_out) = (0.0f64, 0.0f64);
        for _ in 0..20 {
            let actor = random_actor::<O, H, A>(&mut rng, kind);
            for _ in 0..50 {
                let raw = random_raw(&mut rng, &actor);
                let ours = output_f64(&actor, &raw);
                let core = actor.policy.output(&actor.normalize(&raw));
                for i in 0..A {
                    assert!(ours[i].is_finite() && core[i].is_finite());
                    let d = (ours[i] - core[i] as f64).abs() / (1.0 + ours[i].abs());
                    worst = worst.max(d);
                    largest_out = largest_out.max(ours[i].abs());
                }
            }
        }
        (worst, largest_out)
    }

    #[test]
    fn output_agrees_with_core_f32_path() {
        // The two implementations share nothing but the stored weights; the
        // f32 path rounds each product and sum (and uses a 2e-7-accurate
        // tanh); with these seeds they agree to ≤ 5e-6 scaled, 20× inside.
        const TOL: f64 = 1e-4;
        for (seed, kind) in [(1, PolicyKind::Gaussian), (2, PolicyKind::Categorical)] {
            let (d, big) = max_scaled_diff_vs_core::<5, 16, 3>(seed, kind);
            assert!(d <= TOL, "5x16x3 {kind:?}: scaled diff {d:e}");
            assert!(big > 1.0, "outputs too small to test anything: {big}");
            let (d, big) = max_scaled_diff_vs_core::<11, 64, 4>(seed + 10, kind);
            assert!(d <= TOL, "11x64x4 {kind:?}: scaled diff {d:e}");
            assert!(big > 1.0, "outputs too small to test anything: {big}");
            let (d, _) = max_scaled_diff_vs_core::<1, 1, 1>(seed + 20, kind);
            assert!(d <= TOL, "1x1x1 {kind:?}: scaled diff {d:e}");
        }
    }

    #[test]
    fn output_by_hand_on_a_tiny_network() {
        // 2 inputs, 1 hidden unit per layer, 2 outputs; every number is
        // exact in f32. Reference written out with std's tanh.
        let mut a = Actor::<2, 1, 2>::zero(PolicyKind::Gaussian);
        a.obs_norm.mean = [1.0, -2.0];
        a.obs_norm.var = [4.0, 0.25];
        a.obs_clip = 3.0;
        a.policy.net.w1 = [[0.5], [-0.25]];
        a.policy.net.b1 = [0.125];
        a.policy.net.w2 = [[1.5]];
        a.policy.net.b2 = [-0.5];
        a.policy.net.w3 = [[2.0, -3.0]];
        a.policy.net.b3 = [0.25, 1.0];
        let c = 1e-8f32 as f64;
        for raw in [[2.0f32, -1.0], [100.0, -2.0], [-50.0, 7.5], [1.0, -2.0]] {
            let z0 = ((raw[0] as f64 - 1.0) / (4.0 + c).sqrt()).clamp(-3.0, 3.0);
            let z1 = ((raw[1] as f64 + 2.0) / (0.25 + c).sqrt()).clamp(-3.0, 3.0);
            let h1 = (0.125 + 0.5 * z0 - 0.25 * z1).tanh();
            let h2 = (-0.5 + 1.5 * h1).tanh();
            let want = [0.25 + 2.0 * h2, 1.0 - 3.0 * h2];
            let got = output_f64(&a, &raw);
            for i in 0..2 {
                assert!(
                    (got[i] - want[i]).abs() <= 1e-15,
                    "{raw:?}: {got:?} vs {want:?}"
                );
            }
        }
        // Clipping is applied: 100 and 1000 both normalise past the clip.
        assert_eq!(
            output_f64(&a, &[100.0, 0.0]),
            output_f64(&a, &[1000.0, 0.0])
        );
    }

    #[test]
    fn output_non_finite_never_panics() {
        let mut rng = Pcg64::seed_from_u64(7);
        let a = random_actor::<3, 8, 2>(&mut rng, PolicyKind::Gaussian);
        assert!(
            output_f64(&a, &[f32::NAN, 0.0, 0.0])
                .iter()
                .all(|v| v.is_nan())
        );
        let mut b = a;
        b.obs_clip = f32::NAN;
        assert!(output_f64(&b, &[0.0; 3]).iter().all(|v| v.is_nan()));
        b.obs_clip = -1.0;
        assert!(output_f64(&b, &[0.0; 3]).iter().all(|v| v.is_nan()));
        // Infinite observations are clipped like any large one.
        let inf = output_f64(&a, &[f32::INFINITY, 0.0, 0.0]);
        assert_eq!(inf, output_f64(&a, &[1e30, 0.0, 0.0]));
    }
}
