//! KL(π_old ‖ π_new) in `f64` between two outputs of the same policy
//! family, from the outputs and the stored log-stds.

use fixpo_core::dist::PolicyKind;

/// Below this `|ln σ_new − ln σ_old|` the Gaussian shape term uses its
/// Taylor series (the closed form loses relative accuracy to cancellation).
const SERIES_BELOW: f64 = 1e-4;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::normal;
    use proptest::prelude::*;
    use rand_core::SeedableRng;
    use rand_pcg::Pcg64;

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
}
