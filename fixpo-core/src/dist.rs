//! Action distributions in closed form: log-probability, entropy and
//! D_KL(old ‖ new), each with its gradient with respect to the new
//! distribution's parameters (network output and log-std).
//!
//! A policy network outputs `A` numbers per state: the mean of a diagonal
//! Gaussian (with a state-independent log-std vector) or the logits of a
//! categorical distribution. Categorical actions are one-hot vectors.

use crate::rng;
use rand_core::RngCore;

/// ½·ln(2π).
const HALF_LN_2PI: f32 = 0.918_938_5;

/// Which distribution a policy's output parameterises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PolicyKind {
    /// Diagonal Gaussian: output = mean, plus a learned log-std per dimension.
    Gaussian,
    /// Categorical over `A` choices: output = logits; actions are one-hot.
    Categorical,
}

/// Gradient of a scalar with respect to the distribution parameters of one
/// state: the network output and the (shared) log-std.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadGrad<const A: usize> {
    /// ∂/∂(network output).
    pub d_out: [f32; A],
    /// ∂/∂(log-std); always zero for categorical policies.
    pub d_log_std: [f32; A],
}

impl<const A: usize> HeadGrad<A> {
    /// The zero gradient.
    pub const ZERO: Self = Self {
        d_out: [0.0; A],
        d_log_std: [0.0; A],
    };
}

/// `log softmax(z)` computed stably.
#[inline]
pub fn log_softmax<const A: usize>(z: &[f32; A]) -> [f32; A] {
    let mut m = f32::NEG_INFINITY;
    for &v in z {
        m = m.max(v);
    }
    let mut s = 0.0f32;
    for &v in z {
        s += libm::expf(v - m);
    }
    let lse = m + libm::logf(s);
    core::array::from_fn(|i| z[i] - lse)
}

#[inline]
fn softmax<const A: usize>(z: &[f32; A]) -> [f32; A] {
    let lp = log_softmax(z);
    core::array::from_fn(|i| libm::expf(lp[i]))
}

/// log π(action) for the distribution with parameters (`out`, `log_std`).
#[inline]
pub fn log_prob<const A: usize>(
    kind: PolicyKind,
    out: &[f32; A],
    log_std: &[f32; A],
    action: &[f32; A],
) -> f32 {
    match kind {
        PolicyKind::Gaussian => {
            let mut lp = 0.0f32;
            for i in 0..A {
                let z = (action[i] - out[i]) * libm::expf(-log_std[i]);
                lp += -0.5 * z * z - log_std[i] - HALF_LN_2PI;
            }
            lp
        }
        PolicyKind::Categorical => {
            let l = log_softmax(out);
            let mut lp = 0.0f32;
            for i in 0..A {
                lp += action[i] * l[i];
            }
            lp
        }
    }
}

/// `g += scale · ∂ log π(action) / ∂(out, log_std)`.
#[inline]
pub fn log_prob_grad<const A: usize>(
    kind: PolicyKind,
    out: &[f32; A],
    log_std: &[f32; A],
    action: &[f32; A],
    scale: f32,
    g: &mut HeadGrad<A>,
) {
    match kind {
        PolicyKind::Gaussian => {
            for i in 0..A {
                let inv_var = libm::expf(-2.0 * log_std[i]);
                let d = action[i] - out[i];
                g.d_out[i] += scale * d * inv_var;
                g.d_log_std[i] += scale * (d * d * inv_var - 1.0);
            }
        }
        PolicyKind::Categorical => {
            let p = softmax(out);
            let mass: f32 = action.iter().sum();
            for i in 0..A {
                g.d_out[i] += scale * (action[i] - mass * p[i]);
            }
        }
    }
}

/// Entropy of the distribution.
#[inline]
pub fn entropy<const A: usize>(kind: PolicyKind, out: &[f32; A], log_std: &[f32; A]) -> f32 {
    match kind {
        PolicyKind::Gaussian => log_std.iter().map(|s| s + 0.5 + HALF_LN_2PI).sum(),
        PolicyKind::Categorical => {
            let l = log_softmax(out);
            -l.iter().map(|&li| libm::expf(li) * li).sum::<f32>()
        }
    }
}

/// `g += scale · ∂ entropy / ∂(out, log_std)`.
#[inline]
pub fn entropy_grad<const A: usize>(
    kind: PolicyKind,
    out: &[f32; A],
    _log_std: &[f32; A],
    scale: f32,
    g: &mut HeadGrad<A>,
) {
    match kind {
        PolicyKind::Gaussian => g.d_log_std.iter_mut().for_each(|d| *d += scale),
        PolicyKind::Categorical => {
            let l = log_softmax(out);
            let h: f32 = -l.iter().map(|&li| libm::expf(li) * li).sum::<f32>();
            for i in 0..A {
                let p = libm::expf(l[i]);
                g.d_out[i] += scale * (-p * (l[i] + h));
            }
        }
    }
}

/// D_KL(old ‖ new) in closed form, in f32: the training loss's estimate.
/// The trust-region check does not rely on it; it uses the certified bound
/// of [`crate::trust`].
///
/// The Gaussian form is cancellation-free,
/// Σ dl + ½·expm1(−2·dl) + ½·Δμ²·e^{−2·ln σ_new} with dl = ln σ_new − ln σ_old,
/// so small divergences keep their relative accuracy; NaN stays NaN.
#[inline]
pub fn kl<const A: usize>(
    kind: PolicyKind,
    old_out: &[f32; A],
    old_log_std: &[f32; A],
    out: &[f32; A],
    log_std: &[f32; A],
) -> f32 {
    let d = match kind {
        PolicyKind::Gaussian => {
            let mut d = 0.0f32;
            for i in 0..A {
                let dl = log_std[i] - old_log_std[i];
                let inv_var = libm::expf(-2.0 * log_std[i]);
                let dm = old_out[i] - out[i];
                d += (dl + 0.5 * libm::expm1f(-2.0 * dl)) + 0.5 * (dm * dm * inv_var);
            }
            d
        }
        PolicyKind::Categorical => {
            let lo = log_softmax(old_out);
            let ln = log_softmax(out);
            let mut d = 0.0f32;
            for i in 0..A {
                d += libm::expf(lo[i]) * (lo[i] - ln[i]);
            }
            d
        }
    };
    // Rounding can leave a tiny negative number near zero; NaN must stay
    // NaN (`f32::max` would turn it into 0).
    if d < 0.0 { 0.0 } else { d }
}

/// `g += scale · ∂ D_KL(old ‖ new) / ∂(out, log_std)` of the new distribution.
#[inline]
pub fn kl_grad<const A: usize>(
    kind: PolicyKind,
    old_out: &[f32; A],
    old_log_std: &[f32; A],
    out: &[f32; A],
    log_std: &[f32; A],
    scale: f32,
    g: &mut HeadGrad<A>,
) {
    match kind {
        PolicyKind::Gaussian => {
            for i in 0..A {
                let var_ratio = libm::expf(2.0 * (old_log_std[i] - log_std[i]));
                let inv_var = libm::expf(-2.0 * log_std[i]);
                let dm = out[i] - old_out[i];
                g.d_out[i] += scale * dm * inv_var;
                g.d_log_std[i] += scale * (1.0 - var_ratio - dm * dm * inv_var);
            }
        }
        PolicyKind::Categorical => {
            let po = softmax(old_out);
            let pn = softmax(out);
            for i in 0..A {
                g.d_out[i] += scale * (pn[i] - po[i]);
            }
        }
    }
}

/// Draws an action: a Gaussian sample, or a one-hot categorical sample.
pub fn sample<const A: usize, R: RngCore + ?Sized>(
    kind: PolicyKind,
    out: &[f32; A],
    log_std: &[f32; A],
    rng: &mut R,
) -> [f32; A] {
    match kind {
        PolicyKind::Gaussian => {
            core::array::from_fn(|i| out[i] + libm::expf(log_std[i]) * rng::normal(rng))
        }
        PolicyKind::Categorical => {
            let p = softmax(out);
            let u = rng::uniform(rng);
            let mut acc = 0.0f32;
            let mut k = A.saturating_sub(1);
            for (i, pi) in p.iter().enumerate() {
                acc += pi;
                if u < acc {
                    k = i;
                    break;
                }
            }
            core::array::from_fn(|i| if i == k { 1.0 } else { 0.0 })
        }
    }
}

/// The most likely action: the Gaussian mean, or the one-hot arg-max.
pub fn mode<const A: usize>(kind: PolicyKind, out: &[f32; A]) -> [f32; A] {
    match kind {
        PolicyKind::Gaussian => *out,
        PolicyKind::Categorical => {
            let k = crate::env::argmax(out);
            core::array::from_fn(|i| if i == k { 1.0 } else { 0.0 })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Pcg32;
    use proptest::prelude::*;

    const KINDS: [PolicyKind; 2] = [PolicyKind::Gaussian, PolicyKind::Categorical];

    /// Central-difference gradient of `f` at (`out`, `ls`), in f64 from f32
    /// evaluations with step `h`.
    fn fd<const A: usize>(
        f: &dyn Fn(&[f32; A], &[f32; A]) -> f32,
        out: &[f32; A],
        ls: &[f32; A],
        h: f32,
    ) -> ([f64; A], [f64; A]) {
        let mut d_out = [0.0; A];
        let mut d_ls = [0.0; A];
        for i in 0..A {
            let (mut p, mut m) = (*out, *out);
            p[i] += h;
            m[i] -= h;
            d_out[i] = (f(&p, ls) as f64 - f(&m, ls) as f64) / (2.0 * h as f64);
            let (mut p, mut m) = (*ls, *ls);
            p[i] += h;
            m[i] -= h;
            d_ls[i] = (f(out, &p) as f64 - f(out, &m) as f64) / (2.0 * h as f64);
        }
        (d_out, d_ls)
    }

    fn close(fd: f64, an: f32, what: &str) {
        // h = 1e-2 in f32: truncation ~h²·f''' and rounding ~1e-7·|f|/h;
        // 3e-3 absolute + 2% relative covers both for |params| ≤ 2.
        let an = an as f64;
        assert!(
            (fd - an).abs() <= 3e-3 + 2e-2 * fd.abs(),
            "{what}: finite difference {fd} vs analytic {an}"
        );
    }

    fn check_grads<const A: usize>(
        kind: PolicyKind,
        out: [f32; A],
        ls: [f32; A],
        old: [f32; A],
        old_ls: [f32; A],
        act: [f32; A],
    ) {
        let h = 1e-2;
        let ls_used = if kind == PolicyKind::Gaussian {
            ls
        } else {
            [0.0; A]
        };
        // log-prob
        let (fo, fl) = fd(&|o, l| log_prob(kind, o, l, &act), &out, &ls_used, h);
        let mut g = HeadGrad::ZERO;
        log_prob_grad(kind, &out, &ls_used, &act, 1.0, &mut g);
        for i in 0..A {
            close(fo[i], g.d_out[i], "log_prob d_out");
            close(fl[i], g.d_log_std[i], "log_prob d_log_std");
        }
        // entropy
        let (fo, fl) = fd(&|o, l| entropy(kind, o, l), &out, &ls_used, h);
        let mut g = HeadGrad::ZERO;
        entropy_grad(kind, &out, &ls_used, 1.0, &mut g);
        for i in 0..A {
            close(fo[i], g.d_out[i], "entropy d_out");
            close(fl[i], g.d_log_std[i], "entropy d_log_std");
        }
        // KL: differentiate the raw closed form (without the clamp at 0) by
        // keeping old and new apart.
        let (fo, fl) = fd(&|o, l| kl(kind, &old, &old_ls, o, l), &out, &ls_used, h);
        let mut g = HeadGrad::ZERO;
        kl_grad(kind, &old, &old_ls, &out, &ls_used, 1.0, &mut g);
        for i in 0..A {
            close(fo[i], g.d_out[i], "kl d_out");
            close(fl[i], g.d_log_std[i], "kl d_log_std");
        }
    }

    #[test]
    fn gradient_table_matches_finite_differences() {
        // A table of hand-picked points, including a saturated categorical.
        check_grads(
            PolicyKind::Gaussian,
            [0.3, -1.2],
            [-0.5, 0.2],
            [0.1, -0.7],
            [-0.3, 0.0],
            [0.9, -1.5],
        );
        check_grads(PolicyKind::Gaussian, [0.0], [-1.0], [1.0], [-0.5], [0.2]);
        check_grads(
            PolicyKind::Categorical,
            [0.5, -0.3, 1.2],
            [0.0; 3],
            [0.0, 0.4, -0.2],
            [0.0; 3],
            [0.0, 1.0, 0.0],
        );
        check_grads(
            PolicyKind::Categorical,
            [4.0, -4.0],
            [0.0; 2],
            [-1.0, 1.0],
            [0.0; 2],
            [1.0, 0.0],
        );
    }

    proptest! {
        #[test]
        fn gradients_match_finite_differences(
            out in prop::array::uniform3(-1.5f32..1.5),
            ls in prop::array::uniform3(-1.0f32..0.5),
            old in prop::array::uniform3(-1.5f32..1.5),
            old_ls in prop::array::uniform3(-1.0f32..0.5),
            k in 0usize..3,
            gauss in any::<bool>(),
        ) {
            let kind = if gauss { PolicyKind::Gaussian } else { PolicyKind::Categorical };
            let act = if gauss { [old[0] + 0.3, old[1] - 0.2, out[2]] } else { core::array::from_fn(|i| if i == k { 1.0 } else { 0.0 }) };
            check_grads(kind, out, ls, old, old_ls, act);
        }

        #[test]
        fn kl_is_nonnegative_and_zero_on_self(
            a in prop::array::uniform4(-5f32..5.0),
            la in prop::array::uniform4(-3f32..2.0),
            b in prop::array::uniform4(-5f32..5.0),
            lb in prop::array::uniform4(-3f32..2.0),
        ) {
            for kind in KINDS {
                prop_assert!(kl(kind, &a, &la, &b, &lb) >= 0.0);
                prop_assert_eq!(kl(kind, &a, &la, &a, &la), 0.0);
            }
        }

        #[test]
        fn kl_matches_monte_carlo(
            a in prop::array::uniform2(-1f32..1.0),
            la in prop::array::uniform2(-1f32..0.5),
            b in prop::array::uniform2(-1f32..1.0),
            lb in prop::array::uniform2(-1f32..0.5),
            seed in any::<u64>(),
        ) {
            // E_old[log p_old − log p_new] over 40k samples; the estimator's
            // standard error is below 0.02 for these ranges, so 0.08 is a
            // four-sigma tolerance.
            for kind in KINDS {
                let mut rng = Pcg32::seed_from_u64(seed);
                let n = 40_000;
                let mut acc = 0.0f64;
                for _ in 0..n {
                    let x = sample(kind, &a, &la, &mut rng);
                    acc += (log_prob(kind, &a, &la, &x) - log_prob(kind, &b, &lb, &x)) as f64;
                }
                let mc = acc / n as f64;
                let exact = kl(kind, &a, &la, &b, &lb) as f64;
                prop_assert!((mc - exact).abs() < 0.08 + 0.05 * exact, "{:?}: mc {} exact {}", kind, mc, exact);
            }
        }
    }

    #[test]
    fn kl_keeps_nan_and_small_values() {
        for kind in KINDS {
            assert!(kl(kind, &[0.0, 1.0], &[0.0; 2], &[f32::NAN, 1.0], &[0.0; 2]).is_nan());
            assert!(kl(kind, &[f32::NAN, 1.0], &[0.0; 2], &[0.0, 1.0], &[0.0; 2]).is_nan());
        }
        // A tiny log-std change: the textbook form loses it to rounding of
        // ½σ_old²/σ² − ½; the expm1 form keeps it (KL ≈ dl²).
        let dl = 1e-4f32;
        let k = kl(PolicyKind::Gaussian, &[0.0], &[0.0], &[0.0], &[dl]) as f64;
        let d = dl as f64;
        let exact = d + 0.5 * (-2.0 * d).exp_m1();
        assert!((k - exact).abs() <= 1e-3 * exact, "{k} vs {exact}");
    }

    #[test]
    fn categorical_probabilities_sum_to_one_and_sample_frequencies_match() {
        let z = [0.2f32, -1.0, 1.5];
        let p = softmax(&z);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        let mut rng = Pcg32::seed_from_u64(5);
        let mut counts = [0usize; 3];
        let n = 60_000;
        for _ in 0..n {
            let a = sample(PolicyKind::Categorical, &z, &[0.0; 3], &mut rng);
            counts[crate::env::argmax(&a)] += 1;
        }
        for i in 0..3 {
            assert!((counts[i] as f32 / n as f32 - p[i]).abs() < 0.01);
        }
    }

    #[test]
    fn gaussian_entropy_closed_form() {
        // Entropy of N(0, σ²) is ½ ln(2πeσ²).
        let ls = [0.3f32];
        let want = 0.5 * (2.0 * core::f64::consts::PI * core::f64::consts::E * (0.6f64).exp()).ln();
        assert!((entropy(PolicyKind::Gaussian, &[0.0], &ls) as f64 - want).abs() < 1e-5);
    }
}
