//! The trust-region check: a certified upper bound on the exact
//! D_KL(π_old(·|x) ‖ π_new(·|x)) at a raw observation x.
//!
//! The guarantee is stated in exact arithmetic of the stored values: each
//! policy is the mathematical function of its f32 parameters and
//! normalisation statistics (normalise, clip, tanh MLP, Gaussian or
//! categorical head). What a processor computes differs from it by
//! rounding, in two places, and the bound here covers both:
//!
//! 1. **The forward pass.** [`forward_error`] bounds |computed − exact|
//!    for every network output, a priori from the weights and from bounds
//!    on the inputs of a batch: each layer's sum of `n + 1` rounded terms
//!    is within γₙ₊₁·Σ|terms| of the exact sum (whatever the summation
//!    order), tanh is 1-Lipschitz and our f32 tanh is within [`TANH_ERR`]
//!    of the exact one, and normalisation is within [`NORM_REL_ERR`]
//!    (relative) of its exact value.
//! 2. **The KL formula.** [`KlBound::bound`] evaluates a cancellation-free
//!    closed form in f64 on the computed outputs widened by those errors,
//!    and rounds the result up by a factor that exceeds its own f64
//!    rounding error.
//!
//! So `bound(x) ≤ ε` implies KL_exact(x) ≤ ε. Any NaN or infinity (an
//! output, a weight, an error bound) makes the bound +∞: a violation.
//!
//! Two parts run in f32 with their rounding bounded explicitly, so that a
//! microcontroller without double-precision hardware checks a batch
//! cheaply: [`forward_error`]'s sums over the hidden and output layers
//! (non-negative terms: the exact sum is at most the computed one times
//! 1 + γ₂ₙ₊₄, plus 2⁻¹⁴⁹ per product for underflow), and, for a Gaussian
//! policy, the state-dependent part of the bound ([`KlBound::quad`]),
//! whose largest value over a batch [`KlBound::from_quad_max`] turns into a
//! bound on every state of it. Both are never below the all-f64 forms
//! (property tests) and within a part in 10⁵ of them.

use crate::dist::PolicyKind;
use crate::mlp::Mlp;

/// Unit roundoff of f32 (2⁻²⁴).
pub const U: f64 = 5.960_464_477_539_063e-8;

/// Bound on |exact tanh(x) − [`crate::linalg::tanh`]\(x)| over every f32 x
/// (measured below 2e-7; `linalg`'s tests hold it to half of this).
pub const TANH_ERR: f64 = 4e-7;

/// Bound on |computed − exact| / |computed| of one normalised observation
/// component `(x − mean) / sqrt(var + 1e-8)` before clipping: a
/// subtraction, an addition, a square root and a division, each correctly
/// rounded (3.5 u to first order, 4.5 u with slack for the second-order
/// terms).
pub const NORM_REL_ERR: f64 = 4.5 * U;

/// The factor a computed f64 bound is multiplied by: it exceeds the f64
/// rounding error of evaluating the bound (a few dozen operations, each
/// within 2⁻⁵³) by orders of magnitude.
const F64_SLACK: f64 = 1.0 + 1e-11;

/// γₙ = n·u / (1 − n·u): the relative error bound of a sum of n rounded
/// operations.
fn gamma(n: usize) -> f64 {
    let nu = n as f64 * U;
    nu / (1.0 - nu)
}

/// Bounds on a batch's normalised network inputs: for every input
/// component, the largest |computed value| and the largest
/// |computed − exact|.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InputBound<const O: usize> {
    /// max over the batch of |x̂ⱼ| (after clipping).
    pub max_abs: [f64; O],
    /// max over the batch of |x̂ⱼ − xⱼ|.
    pub err: [f64; O],
}

impl<const O: usize> InputBound<O> {
    /// No inputs seen yet.
    pub const EMPTY: Self = Self {
        max_abs: [0.0; O],
        err: [0.0; O],
    };

    /// Adds one normalised input, as the forward pass sees it (after
    /// clipping). Clipping is 1-Lipschitz and exact, and when the computed
    /// value is clipped to ±clip the exact one is within the same relative
    /// error of it, so `NORM_REL_ERR · |x̂ⱼ|` bounds the error either way.
    pub fn add(&mut self, x: &[f32; O]) {
        for j in 0..O {
            let a = (x[j] as f64).abs();
            // NaN would compare false below: make it +∞.
            let a = if a.is_nan() { f64::INFINITY } else { a };
            if a > self.max_abs[j] {
                self.max_abs[j] = a;
            }
            let e = a * NORM_REL_ERR * (1.0 + 1e-6);
            if e > self.err[j] {
                self.err[j] = e;
            }
        }
    }
}

/// Per-output bound on |computed − exact| of `net` at any input within
/// `input`: rounding of each layer's sums (γₙ₊₁ times the sum of the
/// absolute terms, with |hidden| ≤ 1), the tanh's error [`TANH_ERR`], and
/// the propagation of the previous layer's error through the weights
/// (tanh is 1-Lipschitz). Non-finite weights give +∞.
pub fn forward_error<const I: usize, const H: usize, const O: usize>(
    net: &Mlp<I, H, O>,
    input: &InputBound<I>,
) -> [f64; O] {
    // Layer 1 (few inputs), in f64: error of the pre-activation, then of
    // tanh, rounded up to f32 for the layers after it.
    let g1 = gamma(I + 1);
    let e1: [f32; H] = core::array::from_fn(|k| {
        let mut mag = (net.b1[k] as f64).abs();
        let mut prop = 0.0f64;
        for j in 0..I {
            let w = (net.w1[j][k] as f64).abs();
            mag += w * input.max_abs[j];
            prop += w * input.err[j];
        }
        round_up((g1 * mag + prop + TANH_ERR) * F64_SLACK)
    });
    // Layer 2: inputs are tanh outputs, |ĥ| ≤ 1.
    let g2 = gamma(H + 1);
    let sums = SumBound::new(H);
    let (mag, prop) = abs_sums(&net.b2, &net.w2, &e1);
    let e2: [f32; H] = core::array::from_fn(|k| {
        round_up((sums.bound(g2, mag[k], prop[k]) + TANH_ERR) * F64_SLACK)
    });
    // Output layer, linear.
    let (mag, prop) = abs_sums(&net.b3, &net.w3, &e2);
    core::array::from_fn(|o| {
        let e = sums.bound(g2, mag[o], prop[o]) * F64_SLACK;
        if e.is_finite() { e } else { f64::INFINITY }
    })
}

/// For each output k of a layer: Σⱼ|w_jk| + |b_k| and Σⱼ|w_jk|·e_j,
/// summed in f32 (their rounding is accounted for by [`SumBound`]).
/// NaN and ∞ propagate.
fn abs_sums<const N: usize, const M: usize>(
    b: &[f32; M],
    w: &[[f32; M]; N],
    e: &[f32; N],
) -> ([f32; M], [f32; M]) {
    let mut mag: [f32; M] = core::array::from_fn(|k| b[k].abs());
    let mut prop = [0.0f32; M];
    for (row, &ej) in w.iter().zip(e) {
        for ((m, p), &wjk) in mag.iter_mut().zip(&mut prop).zip(row) {
            let a = wjk.abs();
            *m += a;
            *p += a * ej;
        }
    }
    (mag, prop)
}

/// An upper bound on `g·mag_exact + prop_exact` from [`abs_sums`]' f32
/// sums over `n` inputs. Each is a sum of at most n + 1 non-negative
/// terms, so the exact sum is at most the computed one over (1 − γₙ₊₁),
/// and each product w·e rounded to f32 is at least w·e·(1 − u) unless it
/// underflows, when it is within 2⁻¹⁵⁰ of w·e: hence
/// exact ≤ computed·(1 + γ₂ₙ₊₄) + n·2⁻¹⁴⁹. The constants are worked out
/// once per layer width.
struct SumBound {
    rel: f64,
    abs: f64,
}

impl SumBound {
    fn new(n: usize) -> Self {
        Self {
            rel: 1.0 + gamma(2 * n + 4),
            abs: n as f64 * TINY,
        }
    }

    fn bound(&self, g: f64, mag: f32, prop: f32) -> f64 {
        (g * mag as f64 + prop as f64) * self.rel + self.abs
    }
}

/// 2⁻¹⁴⁹ (the smallest positive f32): twice the largest error of an f32
/// product or sum that underflows.
const TINY: f64 = 1.401_298_464_324_817e-45;

/// g(d) = d + ½·(e^{−2d} − 1) = d² − ⅔d³ + ⅓d⁴ − …: the log-std part of
/// the Gaussian KL per dimension (d = ln σ_new − ln σ_old), without the
/// cancellation of the textbook form. Relative error below 1e-12.
fn log_std_term(d: f64) -> f64 {
    if d.abs() < 1e-3 {
        // Taylor series; the first omitted term is (4/315)·d⁷ < 1e-20·d².
        let d2 = d * d;
        d2 * (1.0 + d * (-2.0 / 3.0 + d * (1.0 / 3.0 + d * (-2.0 / 15.0 + d * (2.0 / 45.0)))))
    } else {
        d + 0.5 * libm::expm1(-2.0 * d)
    }
}

/// The certified bound for one pair of policies: π_old (outputs computed
/// with error ≤ `delta_old`) and π_new (error ≤ `delta_new`), with their
/// log-stds. Build it once per check pass; [`KlBound::bound`] then costs a
/// few f64 operations per state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KlBound<const A: usize> {
    kind: PolicyKind,
    /// Σᵢ g(ln σ_new,i − ln σ_old,i), exact to 1e-12 relative.
    log_std_part: f64,
    /// ½·e^{−2 ln σ_new,i}.
    half_inv_var: [f64; A],
    /// δ_old,i + δ_new,i: the widening of each |μ_old,i − μ_new,i|.
    widen: [f64; A],
    delta_old: f64,
    delta_new: f64,
    /// `widen` and `half_inv_var` rounded up to f32, for [`Self::quad`].
    widen32: [f32; A],
    half_inv_var32: [f32; A],
    /// Factor and absolute slack that make [`Self::quad`]'s f32 rounding
    /// safe (see [`Self::from_quad_max`]).
    quad_rel: f64,
    quad_abs: f64,
}

impl<const A: usize> KlBound<A> {
    /// The bound for π_old with `old_log_std` and output errors
    /// `delta_old`, against π_new with `new_log_std` and `delta_new`.
    pub fn new(
        kind: PolicyKind,
        old_log_std: &[f32; A],
        delta_old: &[f64; A],
        new_log_std: &[f32; A],
        delta_new: &[f64; A],
    ) -> Self {
        let mut log_std_part = 0.0;
        let mut half_inv_var = [0.0; A];
        if kind == PolicyKind::Gaussian {
            for i in 0..A {
                // A difference of two f32 is exact in f64.
                log_std_part += log_std_term(new_log_std[i] as f64 - old_log_std[i] as f64);
                half_inv_var[i] = 0.5 * libm::exp(-2.0 * new_log_std[i] as f64);
            }
        }
        let max = |d: &[f64; A]| {
            d.iter()
                .fold(0.0f64, |m, &x| if x > m || x.is_nan() { x } else { m })
        };
        let widen: [f64; A] = core::array::from_fn(|i| delta_old[i] + delta_new[i]);
        let h_max = max(&half_inv_var);
        Self {
            kind,
            log_std_part,
            half_inv_var,
            widen,
            delta_old: max(delta_old),
            delta_new: max(delta_new),
            widen32: core::array::from_fn(|i| round_up(widen[i])),
            half_inv_var32: core::array::from_fn(|i| round_up(half_inv_var[i])),
            quad_rel: 1.0 + gamma(2 * A + 8),
            quad_abs: A as f64 * (1.0 + h_max) * 4.0 * TINY,
        }
    }

    /// An upper bound on the exact D_KL(π_old ‖ π_new) at a state where the
    /// computed outputs are `old_out` and `new_out`; +∞ when anything is
    /// not finite.
    pub fn bound(&self, old_out: &[f32; A], new_out: &[f32; A]) -> f64 {
        let b = match self.kind {
            PolicyKind::Gaussian => {
                // Σ g(dl) + ½ Σ (|Δμ| + δ)² / σ_new²: every term ≥ 0 and
                // increasing in |Δμ|, so widening |Δμ| by the output errors
                // bounds the exact value.
                let mut s = self.log_std_part;
                for i in 0..A {
                    let dm = (old_out[i] as f64 - new_out[i] as f64).abs() + self.widen[i];
                    s += dm * dm * self.half_inv_var[i];
                }
                s
            }
            PolicyKind::Categorical => self.categorical(old_out, new_out),
        };
        let b = b * F64_SLACK;
        if b.is_finite() { b } else { f64::INFINITY }
    }

    /// The state-dependent part of the Gaussian bound, in f32:
    /// q = Σᵢ (|μ_old,i − μ_new,i| + δᵢ)²·½σ_new,i⁻², with δ and ½σ⁻² rounded
    /// up. Cheap enough for every state of a batch on a microcontroller
    /// without double-precision hardware; [`Self::from_quad_max`] turns the
    /// batch's largest q into a bound on every state's exact KL. NaN stays
    /// NaN. Only for [`PolicyKind::Gaussian`] (the value means nothing for
    /// a categorical policy).
    #[inline]
    pub fn quad(&self, old_out: &[f32; A], new_out: &[f32; A]) -> f32 {
        let mut q = 0.0f32;
        for i in 0..A {
            let a = (old_out[i] - new_out[i]).abs() + self.widen32[i];
            q += a * a * self.half_inv_var32[i];
        }
        q
    }

    /// A certified bound on the exact D_KL at every state whose
    /// [`Self::quad`] is at most `q` (a Gaussian policy; NaN or ∞ gives +∞),
    /// never below [`Self::bound`] at those states.
    ///
    /// Why: with u = 2⁻²⁴, the f32 difference is (μ_old − μ_new)(1 + δ₁)
    /// (exact when it underflows), and each later operation rounds
    /// relatively by at most u or, if it underflows, absolutely by at most
    /// 2⁻¹⁵⁰; q is a sum of A non-negative terms. Chaining those (the
    /// standard (1 ± u)ᵏ ≤ 1 + γ lemma), the exact quadratic part is at
    /// most q·(1 + γ₂ₐ₊₈) + A·(1 + max ½σ⁻²)·2⁻¹⁴⁷, and the f64 arithmetic
    /// here is covered by the same slack as [`Self::bound`]'s.
    pub fn from_quad_max(&self, q: f32) -> f64 {
        let b = (self.log_std_part + q as f64 * self.quad_rel + self.quad_abs) * F64_SLACK;
        if b.is_finite() { b } else { f64::INFINITY }
    }

    /// The smaller of two bounds on the exact categorical KL with logits
    /// known to within δ_old and δ_new:
    /// - per term, the largest e^{lo}·(lo − ln) over lo ∈ l̂o ± 2δ_old and
    ///   ln ≥ l̂n − 2δ_new (a log-softmax moves by at most twice its logits'
    ///   error; e^{lo}(lo − ln) has no interior maximum in lo, so an end
    ///   point attains it), which tends to the computed KL as δ → 0;
    /// - Hoeffding's lemma: KL = ln E_p[e^{X − E X}] ≤ range(X)²/8 with
    ///   X = z_new − z_old, whose range widens by at most 2(δ_old + δ_new).
    fn categorical(&self, old_out: &[f32; A], new_out: &[f32; A]) -> f64 {
        let lo = log_softmax_f64(old_out);
        let ln = log_softmax_f64(new_out);
        let (a, b) = (2.0 * self.delta_old, 2.0 * self.delta_new);
        let mut box_bound = 0.0f64;
        // f64 rounding of the log-softmaxes, absolute: a few ulps of the
        // largest magnitude involved.
        let mut scale = 1.0f64;
        let (mut lo_x, mut hi_x) = (f64::INFINITY, f64::NEG_INFINITY);
        for i in 0..A {
            let ln_min = ln[i] - b;
            let f = |l: f64| libm::exp(l) * (l - ln_min);
            let (f1, f2) = (f(lo[i] - a), f(lo[i] + a));
            box_bound += if f1 > f2 || f1.is_nan() { f1 } else { f2 };
            scale = scale.max(lo[i].abs()).max(ln[i].abs());
            let x = new_out[i] as f64 - old_out[i] as f64;
            lo_x = lo_x.min(x);
            hi_x = hi_x.max(x);
        }
        let r = (hi_x - lo_x) + 2.0 * (self.delta_old + self.delta_new);
        let hoeffding = r * r / 8.0;
        let best = if box_bound < hoeffding {
            box_bound
        } else {
            hoeffding
        };
        if best.is_nan() || box_bound.is_nan() || hoeffding.is_nan() {
            return f64::INFINITY;
        }
        best.max(0.0) + 1e-15 * A as f64 * scale
    }
}

/// log softmax in f64 (max-shifted), from f32 logits.
fn log_softmax_f64<const A: usize>(z: &[f32; A]) -> [f64; A] {
    let mut m = f64::NEG_INFINITY;
    for &v in z {
        m = m.max(v as f64);
    }
    let mut s = 0.0f64;
    for &v in z {
        s += libm::exp(v as f64 - m);
    }
    let lse = m + libm::log(s);
    core::array::from_fn(|i| z[i] as f64 - lse)
}

/// The smallest f32 at or above `x` (so that `up(x) ≤ ε` ⇔ `x ≤ ε` for an
/// f32 ε); NaN gives +∞.
pub fn round_up(x: f64) -> f32 {
    if x.is_nan() {
        return f32::INFINITY;
    }
    let f = x as f32;
    if (f as f64) >= x {
        f
    } else if f == f32::MAX {
        f32::INFINITY
    } else if f >= 0.0 {
        // Positive and below x: the next representable number up.
        f32::from_bits(if f == 0.0 { 1 } else { f.to_bits() + 1 })
    } else {
        f32::from_bits(f.to_bits() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Pcg32, normal};
    use proptest::prelude::*;

    /// The exact Gaussian KL, computed independently with the textbook
    /// formula in f64 for moderate differences.
    fn gauss_kl(mo: f64, lso: f64, mn: f64, lsn: f64) -> f64 {
        (lsn - lso) + ((2.0 * lso).exp() + (mo - mn).powi(2)) / (2.0 * (2.0 * lsn).exp()) - 0.5
    }

    #[test]
    fn log_std_term_is_accurate_on_both_branches() {
        for d in [
            1e-9f64, -1e-9, 1e-5, -3e-4, 9.99e-4, 1e-3, -1e-3, 0.1, -0.7, 2.0,
        ] {
            // Reference: the series summed far (16 terms) for small d, the
            // textbook form for large d.
            let want = if d.abs() < 0.05 {
                let mut s = 0.0;
                let mut term = 1.0; // (−2d)^k / k!
                for k in 1..20 {
                    term *= -2.0 * d / k as f64;
                    if k >= 2 {
                        s += 0.5 * term;
                    }
                }
                s
            } else {
                d + 0.5 * ((-2.0 * d).exp() - 1.0)
            };
            let got = log_std_term(d);
            assert!(
                (got - want).abs() <= 1e-12 * want.abs(),
                "d = {d}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn round_up_is_the_smallest_f32_not_below() {
        for x in [
            0.0f64,
            1e-50,
            0.1,
            0.5,
            1.0 / 3.0,
            1e30,
            -0.1,
            -1e-50,
            3.5e38,
        ] {
            let f = round_up(x);
            assert!(f as f64 >= x, "{x}: {f}");
            if f.is_finite() && f > f32::MIN {
                let below = if f > 0.0 {
                    f32::from_bits(f.to_bits() - 1)
                } else if f == 0.0 {
                    -f32::from_bits(1)
                } else {
                    f32::from_bits(f.to_bits() + 1)
                };
                assert!(
                    (below as f64) < x || f == 0.0 && x == 0.0,
                    "{x}: {f} {below}"
                );
            }
        }
        assert_eq!(round_up(f64::NAN), f32::INFINITY);
    }

    proptest! {
        /// With exact outputs (δ = 0) the Gaussian bound is never below the
        /// exact KL of the same f32 numbers, even where the f32 textbook
        /// formula cancels badly (tiny KL, near the bound).
        #[test]
        fn gaussian_bound_covers_exact_kl(
            mo in prop::array::uniform2(-3f32..3.0),
            lso in prop::array::uniform2(-2f32..1.0),
            dmu in prop::array::uniform2(-1e-3f32..1e-3),
            dls in prop::array::uniform2(-1e-4f32..1e-4),
        ) {
            let mn: [f32; 2] = core::array::from_fn(|i| mo[i] + dmu[i]);
            let lsn: [f32; 2] = core::array::from_fn(|i| lso[i] + dls[i]);
            let b = KlBound::new(PolicyKind::Gaussian, &lso, &[0.0; 2], &lsn, &[0.0; 2]);
            let got = b.bound(&mo, &mn);
            // Exact in f64 by the cancellation-free form with a long series.
            let mut exact = 0.0f64;
            for i in 0..2 {
                let d = lsn[i] as f64 - lso[i] as f64;
                let mut s = 0.0;
                let mut term = 1.0;
                for k in 1..25 {
                    term *= -2.0 * d / k as f64;
                    if k >= 2 { s += 0.5 * term; }
                }
                let dm = mo[i] as f64 - mn[i] as f64;
                exact += s + 0.5 * dm * dm * (-2.0 * lsn[i] as f64).exp();
            }
            prop_assert!(got >= exact, "bound {} < exact {}", got, exact);
            prop_assert!(got <= exact * (1.0 + 1e-9) + 1e-300, "bound {} far above exact {}", got, exact);
        }

        /// With output errors δ, the bound covers the exact KL of every
        /// pair of outputs within δ of the computed ones (corners and
        /// random points of the box), for both kinds.
        #[test]
        fn bound_covers_every_output_within_delta(
            zo in prop::array::uniform3(-4f32..4.0),
            zn in prop::array::uniform3(-4f32..4.0),
            lso in prop::array::uniform3(-1.5f32..0.5),
            lsn in prop::array::uniform3(-1.5f32..0.5),
            dexp in -7i32..-1,
            seed in any::<u64>(),
        ) {
            let delta = 10f64.powi(dexp);
            let mut rng = Pcg32::seed_from_u64(seed);
            for kind in [PolicyKind::Gaussian, PolicyKind::Categorical] {
                let b = KlBound::new(kind, &lso, &[delta; 3], &lsn, &[delta; 3]);
                let got = b.bound(&zo, &zn);
                for _ in 0..64 {
                    let po: [f64; 3] = core::array::from_fn(|i| zo[i] as f64 + delta * (2.0 * crate::rng::uniform(&mut rng) as f64 - 1.0).signum());
                    let pn: [f64; 3] = core::array::from_fn(|i| zn[i] as f64 + delta * (2.0 * crate::rng::uniform(&mut rng) as f64 - 1.0));
                    let exact = match kind {
                        PolicyKind::Gaussian => (0..3).map(|i| gauss_kl(po[i], lso[i] as f64, pn[i], lsn[i] as f64)).sum::<f64>(),
                        PolicyKind::Categorical => {
                            let lse = |z: &[f64; 3]| { let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max); m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln() };
                            let (a, c) = (lse(&po), lse(&pn));
                            (0..3).map(|i| (po[i] - a).exp() * ((po[i] - a) - (pn[i] - c))).sum::<f64>()
                        }
                    };
                    // The textbook Gaussian formula itself cancels at the
                    // 1e-16·(terms) level; allow that much.
                    prop_assert!(got >= exact - 1e-14, "{:?}: bound {} < exact {}", kind, got, exact);
                }
            }
        }

        /// The forward-pass error bound covers |f32 forward − f64 forward|
        /// on random networks and inputs within the stated input bounds.
        #[test]
        fn forward_error_covers_f32_rounding(seed in any::<u64>(), scale in 0.1f32..3.0, clip in 1f32..12.0) {
            let mut rng = Pcg32::seed_from_u64(seed);
            let mut net = Mlp::<5, 16, 3>::ZERO;
            net.init(&mut rng, scale * core::f32::consts::SQRT_2, scale);
            for b in net.b1.iter_mut().chain(net.b2.iter_mut()).chain(net.b3.iter_mut()) {
                *b = 0.3 * scale * normal(&mut rng);
            }
            let xs: [[f32; 5]; 32] = core::array::from_fn(|_| core::array::from_fn(|_| (4.0 * normal(&mut rng)).clamp(-clip, clip)));
            let mut ib = InputBound::EMPTY;
            xs.iter().for_each(|x| ib.add(x));
            let d = forward_error(&net, &ib);
            for x in &xs {
                let y32 = net.predict(x);
                // f64 reference of the same weights at the same inputs.
                let h1: [f64; 16] = core::array::from_fn(|k| (net.b1[k] as f64 + (0..5).map(|j| x[j] as f64 * net.w1[j][k] as f64).sum::<f64>()).tanh());
                let h2: [f64; 16] = core::array::from_fn(|k| (net.b2[k] as f64 + (0..16).map(|j| h1[j] * net.w2[j][k] as f64).sum::<f64>()).tanh());
                for o in 0..3 {
                    let y = net.b3[o] as f64 + (0..16).map(|j| h2[j] * net.w3[j][o] as f64).sum::<f64>();
                    prop_assert!((y32[o] as f64 - y).abs() <= d[o], "output {}: error {} > bound {}", o, (y32[o] as f64 - y).abs(), d[o]);
                }
            }
        }
    }

    /// The f64 forward-error bound as it was before the f32 sums: the
    /// reference the faster one must never undercut.
    fn forward_error_f64<const I: usize, const H: usize, const O: usize>(
        net: &Mlp<I, H, O>,
        input: &InputBound<I>,
    ) -> [f64; O] {
        let g1 = gamma(I + 1);
        let e1: [f64; H] = core::array::from_fn(|k| {
            let mut mag = (net.b1[k] as f64).abs();
            let mut prop = 0.0;
            for j in 0..I {
                let w = (net.w1[j][k] as f64).abs();
                mag += w * input.max_abs[j];
                prop += w * input.err[j];
            }
            g1 * mag + prop + TANH_ERR
        });
        let g2 = gamma(H + 1);
        let e2: [f64; H] = core::array::from_fn(|k| {
            let mag =
                (net.b2[k] as f64).abs() + (0..H).map(|j| (net.w2[j][k] as f64).abs()).sum::<f64>();
            let prop: f64 = (0..H).map(|j| (net.w2[j][k] as f64).abs() * e1[j]).sum();
            g2 * mag + prop + TANH_ERR
        });
        core::array::from_fn(|o| {
            let mag =
                (net.b3[o] as f64).abs() + (0..H).map(|j| (net.w3[j][o] as f64).abs()).sum::<f64>();
            let prop: f64 = (0..H).map(|j| (net.w3[j][o] as f64).abs() * e2[j]).sum();
            (g2 * mag + prop) * F64_SLACK
        })
    }

    /// A weight drawn over many magnitudes, subnormals and zeros included.
    fn wild(rng: &mut Pcg32) -> f32 {
        let u = crate::rng::uniform(rng);
        let sign = if crate::rng::uniform(rng) < 0.5 {
            -1.0
        } else {
            1.0
        };
        match (u * 8.0) as u32 {
            0 => 0.0,
            1 => sign * f32::from_bits(1 + (crate::rng::uniform(rng) * 8e6) as u32),
            2 => sign * 1e-30 * crate::rng::uniform(rng),
            _ => sign * normal(rng) * 10f32.powi((u * 6.0) as i32 - 3),
        }
    }

    proptest! {
        /// The f32 sums of the hidden and output layers never give a bound
        /// below the all-f64 one, and stay within a part in 10⁵ of it.
        #[test]
        fn forward_error_f32_sums_cover_the_f64_bound(seed in any::<u64>(), dexp in -12i32..2) {
            let mut rng = Pcg32::seed_from_u64(seed);
            let mut net = Mlp::<3, 24, 2>::ZERO;
            for w in net.w1.iter_mut().flatten().chain(net.w2.iter_mut().flatten()).chain(net.w3.iter_mut().flatten())
                .chain(net.b1.iter_mut()).chain(net.b2.iter_mut()).chain(net.b3.iter_mut()) {
                *w = wild(&mut rng);
            }
            let mut ib = InputBound::EMPTY;
            for _ in 0..8 {
                ib.add(&core::array::from_fn(|_| 10f32.powi(dexp) * normal(&mut rng)));
            }
            let fast = forward_error(&net, &ib);
            let slow = forward_error_f64(&net, &ib);
            for o in 0..2 {
                prop_assert!(fast[o] >= slow[o], "output {}: {} < {}", o, fast[o], slow[o]);
                prop_assert!(fast[o] <= slow[o] * (1.0 + 1e-5), "output {}: {} ≫ {}", o, fast[o], slow[o]);
            }
        }

        /// The batch path (the largest f32 quadratic part, then
        /// `from_quad_max`) is never below the f64 bound of any state, and
        /// within a part in 10⁵ of the largest one: outputs from equal to
        /// far apart, differences that underflow, widths from 0 up.
        #[test]
        fn quad_max_covers_every_state_bound(
            seed in any::<u64>(),
            lso in prop::array::uniform3(-20f32..2.0),
            dls in prop::array::uniform3(-1f32..1.0),
            dexp in -40i32..0,
            zero_delta in any::<bool>(),
        ) {
            let mut rng = Pcg32::seed_from_u64(seed);
            let lsn: [f32; 3] = core::array::from_fn(|i| (lso[i] + dls[i]).clamp(-20.0, 2.0));
            let delta = if zero_delta { 0.0 } else { 10f64.powi(dexp) };
            let b = KlBound::new(PolicyKind::Gaussian, &lso, &[delta; 3], &lsn, &[delta * 0.5; 3]);
            let (mut q_max, mut b_max) = (0.0f32, 0.0f64);
            for _ in 0..32 {
                let old: [f32; 3] = core::array::from_fn(|_| wild(&mut rng));
                let new: [f32; 3] = core::array::from_fn(|i| match (crate::rng::uniform(&mut rng) * 4.0) as u32 {
                    0 => old[i],
                    1 => f32::from_bits(old[i].to_bits() ^ 1),
                    _ => old[i] + wild(&mut rng),
                });
                q_max = q_max.max(b.quad(&old, &new));
                b_max = b_max.max(b.bound(&old, &new));
            }
            let fast = b.from_quad_max(q_max);
            prop_assert!(fast >= b_max, "{} < {}", fast, b_max);
            prop_assert!(fast <= b_max * (1.0 + 1e-5) + 1e-30, "{} ≫ {}", fast, b_max);
        }
    }

    #[test]
    fn quad_of_non_finite_is_a_violation() {
        let b = KlBound::new(PolicyKind::Gaussian, &[0.0], &[0.0], &[0.0], &[0.0]);
        for (o, n) in [
            (0.0, f32::NAN),
            (f32::INFINITY, 0.0),
            (f32::INFINITY, f32::INFINITY),
        ] {
            assert_eq!(b.from_quad_max(b.quad(&[o], &[n])), f64::INFINITY);
        }
        assert_eq!(
            b.from_quad_max(f32::MAX),
            f32::MAX as f64 * b.quad_rel * F64_SLACK
        );
    }

    #[test]
    fn non_finite_is_a_violation() {
        let b = KlBound::new(PolicyKind::Gaussian, &[0.0], &[0.0], &[0.0], &[0.0]);
        assert_eq!(b.bound(&[0.0], &[f32::NAN]), f64::INFINITY);
        assert_eq!(b.bound(&[f32::INFINITY], &[0.0]), f64::INFINITY);
        let c = KlBound::new(
            PolicyKind::Categorical,
            &[0.0; 2],
            &[0.0; 2],
            &[0.0; 2],
            &[f64::NAN; 2],
        );
        assert_eq!(c.bound(&[0.0, 1.0], &[0.0, 1.0]), f64::INFINITY);
        let c = KlBound::new(
            PolicyKind::Categorical,
            &[0.0; 2],
            &[0.0; 2],
            &[0.0; 2],
            &[0.0; 2],
        );
        assert_eq!(c.bound(&[0.0, f32::NAN], &[0.0, 1.0]), f64::INFINITY);
        let mut net = Mlp::<2, 4, 1>::ZERO;
        net.w2[1][3] = f32::NAN;
        let mut ib = InputBound::EMPTY;
        ib.add(&[1.0, -2.0]);
        assert_eq!(forward_error(&net, &ib), [f64::INFINITY]);
        ib.add(&[f32::NAN, 0.0]);
        assert_eq!(ib.max_abs[0], f64::INFINITY);
    }
}
