//! # fixpo-check
//!
//! An independent checker of FixPO's trust-region guarantee: for the
//! behaviour actor `old` (which collected a batch) and the next deployed
//! actor `new`, at every raw observation `x` of the batch,
//!
//! ```text
//! D_KL(π_old(·|x) ‖ π_new(·|x)) ≤ ε_KL,
//! ```
//!
//! where each actor's distribution is the one defined by *exact* arithmetic
//! on its stored `f32` values. This crate stands in `f64` for exact
//! arithmetic and shares no maths with `fixpo-core`: it only reads the
//! public fields of [`Actor`] (policy kind, network weights, log-std,
//! observation statistics and clip) and recomputes everything itself.
//!
//! What is computed, per actor, at a raw observation `x`:
//!
//! - normalisation: `z_i = clamp((x_i − mean_i) / √(var_i + c), −clip, clip)`
//!   with `c = 1e-8f32 as f64`;
//! - network: `h1 = tanh(b1 + Σ_j z_j·w1[j])`, `h2 = tanh(b2 + Σ_j h1_j·w2[j])`,
//!   `out = b3 + Σ_j h2_j·w3[j]`, in `f64` with [`libm::tanh`];
//! - Gaussian policies: mean `out`, standard deviation `exp(log_std)`;
//!   categorical policies: probabilities `softmax(out)`.
//!
//! Anything non-finite (an output, a KL) is a violation, never a pass.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use fixpo_core::actor::Actor;
use fixpo_core::dist::PolicyKind;
use fixpo_core::norm::RunningMeanStd;
use fixpo_core::policy::Policy;

/// The constant added to the variance before the square root, exactly as
/// stored by the deployed actor (the `f32` nearest to 1e-8).
const VAR_EPS: f64 = 1e-8f32 as f64;

/// Below this `|ln σ_new − ln σ_old|` the Gaussian shape term uses its
/// Taylor series (the closed form loses relative accuracy to cancellation).
const SERIES_BELOW: f64 = 1e-4;

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

/// KL(old ‖ new) in f64 from f64 outputs and the f32 log-stds (ignored for
/// categorical).
///
/// - Gaussian: per dimension, with `dl = ls_new − ls_old`,
///   `dl + ½·expm1(−2·dl) + ½·((μ_old − μ_new)·exp(−ls_new))²` (the shape
///   term by its Taylor series `dl² − ⅔dl³ + ⅓dl⁴ − (2/15)dl⁵` when
///   `|dl| < 1e-4`, so tiny divergences keep their relative accuracy; the
///   location term is exactly 0 when the means agree), summed over
///   dimensions.
/// - Categorical: `Σ p_i·(lo_i − ln_i)` with `lo`, `ln` the max-subtracted
///   log-softmaxes of the two logit vectors and `p_i = exp(lo_i)`.
///
/// A tiny negative result from rounding is clamped to 0. Any non-finite
/// input that the distribution uses (an output, or a Gaussian log-std)
/// gives NaN; a result that overflows is `+∞`. A NaN is never turned into a
/// number.
///
/// ```
/// use fixpo_check::kl_f64;
/// use fixpo_core::dist::PolicyKind;
/// // Same σ = 1, means 0.1 apart: KL = ½·0.1².
/// let kl = kl_f64(PolicyKind::Gaussian, &[0.1], &[0.0], &[0.0], &[0.0]);
/// assert!((kl - 0.005).abs() < 1e-15);
/// ```
pub fn kl_f64<const A: usize>(
    kind: PolicyKind,
    old_out: &[f64; A],
    old_log_std: &[f32; A],
    new_out: &[f64; A],
    new_log_std: &[f32; A],
) -> f64 {
    if !old_out.iter().chain(new_out).all(|v| v.is_finite()) {
        return f64::NAN;
    }
    let d = match kind {
        PolicyKind::Gaussian => {
            if !old_log_std.iter().chain(new_log_std).all(|v| v.is_finite()) {
                return f64::NAN;
            }
            let mut d = 0.0f64;
            for i in 0..A {
                d += gaussian_kl_1d(
                    old_out[i],
                    old_log_std[i] as f64,
                    new_out[i],
                    new_log_std[i] as f64,
                );
            }
            d
        }
        PolicyKind::Categorical => {
            let lo = log_softmax(old_out);
            let ln = log_softmax(new_out);
            let mut d = 0.0f64;
            for i in 0..A {
                d += libm::exp(lo[i]) * (lo[i] - ln[i]);
            }
            d
        }
    };
    // Clamp rounding below zero; NaN fails the comparison and stays NaN.
    if d < 0.0 { 0.0 } else { d }
}

/// KL(N(μ_old, σ_old²) ‖ N(μ_new, σ_new²)) for one dimension, from log-stds.
fn gaussian_kl_1d(mu_old: f64, ls_old: f64, mu_new: f64, ls_new: f64) -> f64 {
    let dl = ls_new - ls_old;
    // dl + ½(e^{−2dl} − 1) = ln(σ_new/σ_old) + σ_old²/(2σ_new²) − ½.
    let shape = if libm::fabs(dl) < SERIES_BELOW {
        dl * dl * (1.0 + dl * (-2.0 / 3.0 + dl * (1.0 / 3.0 - dl * (2.0 / 15.0))))
    } else {
        dl + 0.5 * libm::expm1(-2.0 * dl)
    };
    let dm = mu_old - mu_new;
    // (dm/σ_new)², with 0 exactly when the means agree (even if 1/σ_new
    // overflows).
    let loc = if dm == 0.0 {
        0.0
    } else {
        let r = dm * libm::exp(-ls_new);
        0.5 * r * r
    };
    shape + loc
}

/// `z − logsumexp(z)` with the maximum subtracted first (finite inputs).
fn log_softmax<const A: usize>(z: &[f64; A]) -> [f64; A] {
    let mut m = f64::NEG_INFINITY;
    for &v in z {
        if v > m {
            m = v;
        }
    }
    let mut s = 0.0f64;
    for &v in z {
        s += libm::exp(v - m);
    }
    let lse = m + libm::log(s);
    core::array::from_fn(|i| z[i] - lse)
}

/// What an audit found.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Audit {
    /// Observations checked.
    pub states: u64,
    /// States outside the trust region: KL > eps, or KL not finite (a
    /// state is inside only if its KL is finite and ≤ eps).
    pub over: u64,
    /// States whose KL is NaN or infinite (also counted in `over`).
    pub non_finite: u64,
    /// Largest KL seen; `+∞` if any state's KL was not finite; 0 for an
    /// empty audit.
    pub max_kl: f64,
    /// `max_kl / eps` (0 when `max_kl` is 0 and eps ≥ 0; `+∞` when `max_kl`
    /// is infinite or positive over eps = 0, or eps is NaN or negative).
    pub worst_ratio: f64,
}

impl Audit {
    /// Adds the findings of `other` (an audit of more states of the same
    /// actor pair at the same eps) to this one.
    pub fn merge(&mut self, other: &Audit) {
        self.states += other.states;
        self.over += other.over;
        self.non_finite += other.non_finite;
        self.max_kl = nan_max(self.max_kl, other.max_kl);
        self.worst_ratio = nan_max(self.worst_ratio, other.worst_ratio);
    }

    /// Whether every state was inside the trust region (`over == 0` and
    /// `non_finite == 0`). An empty audit passes.
    pub fn passed(&self) -> bool {
        self.over == 0 && self.non_finite == 0
    }
}

/// The larger of two numbers, NaN if either is NaN.
fn nan_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else if b > a {
        b
    } else {
        a
    }
}

/// `max_kl / eps`, never NaN (see [`Audit::worst_ratio`]).
fn ratio(max_kl: f64, eps: f64) -> f64 {
    if !max_kl.is_finite() || eps.is_nan() || eps < 0.0 {
        f64::INFINITY
    } else if max_kl == 0.0 {
        0.0
    } else if eps == 0.0 {
        f64::INFINITY
    } else {
        max_kl / eps
    }
}

/// Checks every state: KL(old‖new) ≤ eps at each raw observation.
///
/// Both actors are evaluated with [`output_f64`] at each observation of
/// `raw_obs` (each with its own normalisation statistics) and compared with
/// [`kl_f64`]. A state whose KL is not finite counts in both `over` and
/// `non_finite`, as does every state when the two actors' policy kinds
/// differ (KL between different families is undefined). A NaN `eps`
/// leaves every state over.
///
/// ```
/// use fixpo_check::audit;
/// use fixpo_core::{Actor, PolicyKind};
///
/// let old = Actor::<2, 4, 1>::zero(PolicyKind::Gaussian);
/// let mut new = old;
/// new.policy.net.b3[0] = 0.01; // mean moves by 0.01 at σ = 1: KL ≈ 5e-5
/// let batch = [[0.5f32, -1.0], [2.0, 3.0]];
///
/// let a = audit(&old, &new, &batch, 1e-3);
/// assert!(a.passed());
/// assert_eq!(a.states, 2);
/// assert!((a.max_kl - 5e-5).abs() < 1e-9);
///
/// let b = audit(&old, &new, &batch, 1e-5);
/// assert_eq!(b.over, 2);
/// assert!(!b.passed());
/// ```
pub fn audit<'a, const O: usize, const H: usize, const A: usize>(
    old: &Actor<O, H, A>,
    new: &Actor<O, H, A>,
    raw_obs: impl IntoIterator<Item = &'a [f32; O]>,
    eps: f32,
) -> Audit {
    audit_deployed(Deployed::of(old), Deployed::of(new), raw_obs, eps)
}

/// [`audit`] for policies given by their parts.
pub fn audit_deployed<'a, const O: usize, const H: usize, const A: usize>(
    old: Deployed<'_, O, H, A>,
    new: Deployed<'_, O, H, A>,
    raw_obs: impl IntoIterator<Item = &'a [f32; O]>,
    eps: f32,
) -> Audit {
    let eps = eps as f64;
    let kind = old.policy.kind;
    let same_kind = kind == new.policy.kind;
    let mut a = Audit::default();
    for raw in raw_obs {
        a.states += 1;
        let kl = if same_kind {
            kl_f64(
                kind,
                &old.output_f64(raw),
                &old.policy.log_std,
                &new.output_f64(raw),
                &new.policy.log_std,
            )
        } else {
            f64::NAN
        };
        if !kl.is_finite() {
            a.non_finite += 1;
            a.over += 1;
            a.max_kl = f64::INFINITY;
            continue;
        }
        if kl > a.max_kl {
            a.max_kl = kl;
        }
        let inside = kl <= eps;
        if !inside {
            a.over += 1;
        }
    }
    a.worst_ratio = ratio(a.max_kl, eps);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand_core::{RngCore, SeedableRng};
    use rand_pcg::Pcg64;

    fn uniform(rng: &mut Pcg64) -> f64 {
        (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal by Box–Muller.
    fn normal(rng: &mut Pcg64) -> f64 {
        let u1 = 1.0 - uniform(rng); // (0, 1]
        let u2 = uniform(rng);
        (-2.0 * u1.ln()).sqrt() * (2.0 * core::f64::consts::PI * u2).cos()
    }

    /// Weights ~N(0, 0.5), log-std ~N(0, 0.5) (Gaussian), mean ~N(0, 2),
    /// variance e^{N(0, 2)} (≈ 1e-3 … 1e3), clip in [2, 10].
    fn random_actor<const O: usize, const H: usize, const A: usize>(
        rng: &mut Pcg64,
        kind: PolicyKind,
    ) -> Actor<O, H, A> {
        let mut a = Actor::<O, H, A>::zero(kind);
        let net = &mut a.policy.net;
        for w in net
            .w1
            .as_flattened_mut()
            .iter_mut()
            .chain(&mut net.b1)
            .chain(net.w2.as_flattened_mut())
            .chain(&mut net.b2)
            .chain(net.w3.as_flattened_mut())
            .chain(&mut net.b3)
        {
            *w = (0.5 * normal(rng)) as f32;
        }
        if kind == PolicyKind::Gaussian {
            for l in &mut a.policy.log_std {
                *l = (0.5 * normal(rng)) as f32;
            }
        }
        for i in 0..O {
            a.obs_norm.mean[i] = (2.0 * normal(rng)) as f32;
            a.obs_norm.var[i] = (2.0 * normal(rng)).exp() as f32;
        }
        a.obs_norm.count = 100.0;
        a.obs_clip = (2.0 + 8.0 * uniform(rng)) as f32;
        a
    }

    /// A raw observation around the actor's statistics, often beyond the
    /// clip (z ~ N(0, 6)), sometimes far beyond (±1e6) or exactly the mean.
    fn random_raw<const O: usize, const H: usize, const A: usize>(
        rng: &mut Pcg64,
        actor: &Actor<O, H, A>,
    ) -> [f32; O] {
        core::array::from_fn(|i| {
            let (m, v) = (actor.obs_norm.mean[i] as f64, actor.obs_norm.var[i] as f64);
            match rng.next_u32() % 16 {
                0 => 1e6,
                1 => -1e6,
                2 => m as f32,
                _ => (m + v.sqrt() * 6.0 * normal(rng)) as f32,
            }
        })
    }

    fn batch<const O: usize, const H: usize, const A: usize>(
        rng: &mut Pcg64,
        actor: &Actor<O, H, A>,
        n: usize,
    ) -> Vec<[f32; O]> {
        (0..n).map(|_| random_raw(rng, actor)).collect()
    }

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

    #[test]
    fn kl_is_exactly_zero_on_identical_inputs() {
        let mut rng = Pcg64::seed_from_u64(3);
        for _ in 0..200 {
            let out: [f64; 4] = core::array::from_fn(|_| 3.0 * normal(&mut rng));
            let ls: [f32; 4] = core::array::from_fn(|_| normal(&mut rng) as f32);
            for kind in [PolicyKind::Gaussian, PolicyKind::Categorical] {
                let kl = kl_f64(kind, &out, &ls, &out, &ls);
                assert_eq!(kl.to_bits(), 0.0f64.to_bits(), "{kind:?} {out:?} {ls:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn gaussian_matches_textbook(
            mo in prop::array::uniform3(-3.0f64..3.0),
            mn in prop::array::uniform3(-3.0f64..3.0),
            lo in prop::array::uniform3(-1.5f32..1.1),
            ln in prop::array::uniform3(-1.5f32..1.1),
        ) {
            let mut want = 0.0f64;
            for i in 0..3 {
                let (s1, s2) = ((lo[i] as f64).exp(), (ln[i] as f64).exp());
                want += (s2 / s1).ln() + (s1 * s1 + (mo[i] - mn[i]).powi(2)) / (2.0 * s2 * s2) - 0.5;
            }
            let got = kl_f64(PolicyKind::Gaussian, &mo, &lo, &mn, &ln);
            prop_assert!((got - want).abs() <= 1e-12 * (1.0 + want), "{got} vs {want}");
        }

        #[test]
        fn categorical_matches_direct_sum(
            zo in prop::array::uniform4(-5.0f64..5.0),
            zn in prop::array::uniform4(-5.0f64..5.0),
        ) {
            let soft = |z: &[f64; 4]| {
                let e = z.map(f64::exp);
                let s: f64 = e.iter().sum();
                e.map(|v| v / s)
            };
            let (p, q) = (soft(&zo), soft(&zn));
            let want: f64 = (0..4).map(|i| p[i] * (p[i] / q[i]).ln()).sum();
            let got = kl_f64(PolicyKind::Categorical, &zo, &[0.0; 4], &zn, &[0.0; 4]);
            prop_assert!(got >= 0.0);
            prop_assert!((got - want).abs() <= 1e-14 + 1e-12 * want, "{got} vs {want}");
        }
    }

    #[test]
    fn kl_agrees_with_core_f32_kl_for_moderate_values() {
        let mut rng = Pcg64::seed_from_u64(5);
        for kind in [PolicyKind::Gaussian, PolicyKind::Categorical] {
            for _ in 0..200 {
                let o32: [f32; 3] = core::array::from_fn(|_| (2.0 * normal(&mut rng)) as f32);
                let n32: [f32; 3] = core::array::from_fn(|_| (2.0 * normal(&mut rng)) as f32);
                let lo: [f32; 3] = core::array::from_fn(|_| (0.5 * normal(&mut rng)) as f32);
                let ln: [f32; 3] = core::array::from_fn(|_| (0.5 * normal(&mut rng)) as f32);
                let ours = kl_f64(kind, &o32.map(f64::from), &lo, &n32.map(f64::from), &ln);
                let core = fixpo_core::dist::kl(kind, &o32, &lo, &n32, &ln) as f64;
                assert!(
                    (ours - core).abs() <= 1e-5 + 1e-5 * ours,
                    "{kind:?}: {ours} vs core {core}"
                );
            }
        }
    }

    /// The closed form with std's (not libm's) expm1, accurate when |dl| is
    /// not tiny.
    fn shape_direct(dl: f64) -> f64 {
        dl + 0.5 * (-2.0 * dl).exp_m1()
    }

    #[test]
    fn tiny_log_std_gap_series_agrees_with_direct_formula() {
        // Both sides of the 1e-4 switch, with dl read off f32 log-stds.
        for (old, new) in [
            (0.0f32, 1e-5f32),
            (0.0, 5e-5),
            (0.0, 9.99e-5),
            (0.0, 1.01e-4),
            (0.0, 3e-4),
            (0.3, 0.30005),
            (-0.7, -0.70008),
            (5e-5, 0.0),
            (1.2, 1.19991),
        ] {
            let dl = new as f64 - old as f64;
            assert!(dl != 0.0);
            let got = kl_f64(PolicyKind::Gaussian, &[0.0], &[old], &[0.0], &[new]);
            let want = shape_direct(dl);
            assert!(
                (got - want).abs() <= 1e-9 * want,
                "dl={dl:e}: {got:e} vs {want:e}"
            );
        }
    }

    #[test]
    fn tiny_log_std_gap_is_accurate_at_1e_minus_9() {
        // dl = ±(1e-9f32 as f64) = ±9.999999717180685e-10; the exact
        // dl + ½·expm1(−2·dl) computed with 50-digit arithmetic (mpmath):
        //   +dl: 9.999999427694712632476142e-19
        //   −dl: 9.999999441028044834532249e-19
        let d = 1e-9f32;
        assert_eq!(d as f64, 9.999999717180685e-10);
        let plus = kl_f64(PolicyKind::Gaussian, &[0.0], &[0.0], &[0.0], &[d]);
        let minus = kl_f64(PolicyKind::Gaussian, &[0.0], &[d], &[0.0], &[0.0]);
        for (got, want) in [
            (plus, 9.999_999_427_694_713e-19),
            (minus, 9.999_999_441_028_045e-19),
        ] {
            assert!((got - want).abs() <= 1e-15 * want, "{got:e} vs {want:e}");
        }
        // A mean gap of 1e-9 at σ = 1: ½·1e-18, nothing lost.
        let m = kl_f64(PolicyKind::Gaussian, &[1e-9], &[0.0], &[0.0], &[0.0]);
        assert!((m - 0.5e-18).abs() <= 1e-15 * 0.5e-18, "{m:e}");
    }

    #[test]
    fn non_finite_inputs_never_give_a_finite_kl() {
        let (nan, inf) = (f64::NAN, f64::INFINITY);
        let g = PolicyKind::Gaussian;
        let c = PolicyKind::Categorical;
        let ok = [0.5f64, -0.25];
        let ls = [0.1f32, -0.2];
        for (kind, oo, ol, no, nl) in [
            (g, [nan, 0.0], ls, ok, ls),
            (g, ok, ls, [0.0, nan], ls),
            (g, [inf, 0.0], ls, ok, ls),
            (g, ok, ls, [0.0, -inf], ls),
            (g, ok, [f32::NAN, 0.0], ok, ls),
            (g, ok, ls, ok, [0.0, f32::NAN]),
            (g, ok, ls, ok, [0.0, f32::NEG_INFINITY]),
            (g, ok, [f32::INFINITY, 0.0], ok, ls),
            (c, [nan, 0.0], ls, ok, ls),
            (c, ok, ls, [0.0, nan], ls),
            (c, [inf, 0.0], ls, ok, ls),
            (c, ok, ls, [-inf, 0.0], ls),
            (c, [nan, nan], ls, [nan, nan], ls),
        ] {
            let kl = kl_f64(kind, &oo, &ol, &no, &nl);
            assert!(
                !kl.is_finite(),
                "{kind:?} {oo:?} {ol:?} {no:?} {nl:?} gave {kl}"
            );
        }
        // Categorical policies ignore the log-std, whatever it holds.
        let kl = kl_f64(c, &ok, &[f32::NAN; 2], &ok, &[f32::NAN; 2]);
        assert_eq!(kl, 0.0);
        // Overflow is +∞, not NaN, and equal means add exactly 0 even when
        // 1/σ_new overflows.
        let big = kl_f64(g, &[1.0], &[-1000.0], &[0.0], &[-1000.0]);
        assert_eq!(big, f64::INFINITY);
        let same = kl_f64(g, &[1.0], &[-1000.0], &[1.0], &[-1000.0]);
        assert_eq!(same, 0.0);
    }

    #[test]
    fn audit_counts_a_shifted_gaussian_mean() {
        let mut rng = Pcg64::seed_from_u64(11);
        let old = random_actor::<5, 16, 3>(&mut rng, PolicyKind::Gaussian);
        let mut new = old;
        for b in &mut new.policy.net.b3 {
            *b += 0.1;
        }
        // Same log-std, every output moved by the same Δb3: the KL is the
        // same at every state.
        let want: f64 = (0..3)
            .map(|i| {
                let dm = new.policy.net.b3[i] as f64 - old.policy.net.b3[i] as f64;
                0.5 * dm * dm * (-2.0 * old.policy.log_std[i] as f64).exp()
            })
            .sum();
        let obs = batch(&mut rng, &old, 64);

        let small = audit(&old, &new, &obs, 1e-3);
        assert_eq!(small.states, 64);
        assert_eq!(small.over, 64);
        assert_eq!(small.non_finite, 0);
        assert!(!small.passed());
        assert!(
            (small.max_kl - want).abs() <= 1e-9 * want,
            "{} vs {want}",
            small.max_kl
        );
        let r = want / (1e-3f32 as f64);
        assert!((small.worst_ratio - r).abs() <= 1e-9 * r);

        let large = audit(&old, &new, &obs, (10.0 * want) as f32);
        assert_eq!(large.states, 64);
        assert_eq!(large.over, 0);
        assert!(large.passed());
        assert!(large.worst_ratio > 0.09 && large.worst_ratio < 0.11);
    }

    #[test]
    fn audit_counts_a_shifted_logit() {
        let mut rng = Pcg64::seed_from_u64(12);
        let old = random_actor::<4, 16, 3>(&mut rng, PolicyKind::Categorical);
        let mut new = old;
        new.policy.net.b3[0] += 1.0;
        let obs = batch(&mut rng, &old, 64);
        let small = audit(&old, &new, &obs, 1e-6);
        assert!(small.over > 0 && small.non_finite == 0);
        // Shifting one logit by 1 moves KL by at most max_p(ln(1 + p(e−1)) − p) < 0.13.
        let large = audit(&old, &new, &obs, 1.0);
        assert_eq!((large.over, large.non_finite), (0, 0));
        assert!(large.max_kl > 0.0 && large.max_kl < 0.13);
    }

    #[test]
    fn audit_of_an_actor_against_itself_is_exactly_zero() {
        let mut rng = Pcg64::seed_from_u64(13);
        for kind in [PolicyKind::Gaussian, PolicyKind::Categorical] {
            let a = random_actor::<5, 16, 3>(&mut rng, kind);
            let obs = batch(&mut rng, &a, 32);
            let r = audit(&a, &a, &obs, 0.0);
            assert!(r.passed());
            assert_eq!((r.states, r.max_kl, r.worst_ratio), (32, 0.0, 0.0));
        }
    }

    #[test]
    fn audit_flags_non_finite() {
        let mut rng = Pcg64::seed_from_u64(14);
        let old = random_actor::<5, 16, 3>(&mut rng, PolicyKind::Gaussian);
        let obs = batch(&mut rng, &old, 16);

        let mut new = old;
        new.policy.net.w2[3][5] = f32::NAN;
        let r = audit(&old, &new, &obs, 1.0);
        assert_eq!((r.states, r.non_finite, r.over), (16, 16, 16));
        assert_eq!(r.max_kl, f64::INFINITY);
        assert_eq!(r.worst_ratio, f64::INFINITY);
        assert!(!r.passed());

        // One NaN observation among good ones.
        let mut obs2 = obs.clone();
        obs2[7][2] = f32::NAN;
        let r = audit(&old, &old, &obs2, 1.0);
        assert_eq!((r.non_finite, r.over), (1, 1));
        assert!(!r.passed());

        // A NaN clip (the core would panic) and a NaN log-std.
        let mut new = old;
        new.obs_clip = f32::NAN;
        assert_eq!(audit(&old, &new, &obs, 1.0).non_finite, 16);
        let mut new = old;
        new.policy.log_std[1] = f32::NAN;
        assert_eq!(audit(&old, &new, &obs, 1.0).non_finite, 16);

        // Different distribution families.
        let mut new = old;
        new.policy.kind = PolicyKind::Categorical;
        assert_eq!(audit(&old, &new, &obs, 1.0).non_finite, 16);

        // A NaN eps passes nothing (but finds nothing non-finite).
        let r = audit(&old, &old, &obs, f32::NAN);
        assert_eq!((r.over, r.non_finite), (16, 0));
        assert_eq!(r.worst_ratio, f64::INFINITY);
    }

    #[test]
    fn audit_merge_equals_one_audit() {
        let mut rng = Pcg64::seed_from_u64(15);
        let old = random_actor::<5, 16, 3>(&mut rng, PolicyKind::Gaussian);
        let mut new = random_actor::<5, 16, 3>(&mut rng, PolicyKind::Gaussian);
        new.obs_norm = old.obs_norm;
        let obs = batch(&mut rng, &old, 40);
        let eps = 0.5;
        let whole = audit(&old, &new, &obs, eps);
        assert!(whole.over > 0 && whole.over < whole.states, "{whole:?}");
        let mut merged = Audit::default();
        for part in obs.chunks(7) {
            merged.merge(&audit(&old, &new, part, eps));
        }
        assert_eq!(merged, whole);
        assert!(Audit::default().passed());
    }
}
