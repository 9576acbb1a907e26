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
    // Layer 1: error of the pre-activation, then of tanh.
    let g1 = gamma(I + 1);
    let mut e1 = [0.0f64; H];
    for (k, e) in e1.iter_mut().enumerate() {
        let mut mag = (net.b1[k] as f64).abs();
        let mut prop = 0.0f64;
        for j in 0..I {
            let w = (net.w1[j][k] as f64).abs();
            mag += w * input.max_abs[j];
            prop += w * input.err[j];
        }
        *e = g1 * mag + prop + TANH_ERR;
    }
    // Layer 2: inputs are tanh outputs, |ĥ| ≤ 1.
    let g2 = gamma(H + 1);
    let mut e2 = [0.0f64; H];
    for (k, e) in e2.iter_mut().enumerate() {
        let mut mag = (net.b2[k] as f64).abs();
        let mut prop = 0.0f64;
        for j in 0..H {
            let w = (net.w2[j][k] as f64).abs();
            mag += w;
            prop += w * e1[j];
        }
        *e = g2 * mag + prop + TANH_ERR;
    }
    // Output layer, linear.
    core::array::from_fn(|o| {
        let mut mag = (net.b3[o] as f64).abs();
        let mut prop = 0.0f64;
        for j in 0..H {
            let w = (net.w3[j][o] as f64).abs();
            mag += w;
            prop += w * e2[j];
        }
        let e = (g2 * mag + prop) * F64_SLACK;
        if e.is_finite() { e } else { f64::INFINITY }
    })
}

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
        Self {
            kind,
            log_std_part,
            half_inv_var,
            widen: core::array::from_fn(|i| delta_old[i] + delta_new[i]),
            delta_old: max(delta_old),
            delta_new: max(delta_new),
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
