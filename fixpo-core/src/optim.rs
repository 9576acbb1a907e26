//! Adam with bias correction, global-norm gradient clipping and a linear
//! learning-rate schedule.

use crate::params::Params;

/// Adam hyperparameters.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct AdamConfig {
    /// First-moment decay.
    pub beta1: f32,
    /// Second-moment decay.
    pub beta2: f32,
    /// Denominator floor.
    pub eps: f32,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-5,
        }
    }
}

/// Adam state for one parameter set: first and second moments and the step
/// count used for bias correction.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam<P: Params> {
    /// First moment.
    pub m: P,
    /// Second moment.
    pub v: P,
    /// Steps taken.
    pub t: u32,
}

impl<P: Params> Adam<P> {
    /// Fresh state with zero moments; `zero` must be the zero parameter set.
    pub fn new(zero: P) -> Self {
        Self {
            m: zero.clone(),
            v: zero,
            t: 0,
        }
    }

    /// Resets moments and the step count.
    pub fn reset(&mut self) {
        self.m.fill_zero();
        self.v.fill_zero();
        self.t = 0;
    }

    /// One Adam step: `params −= lr · m̂ / (√v̂ + eps)` with bias-corrected
    /// moments m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).
    pub fn step(&mut self, params: &mut P, grad: &P, lr: f32, cfg: &AdamConfig) {
        self.t = self.t.saturating_add(1);
        let t = self.t as f32;
        let step = lr / (1.0 - libm::powf(cfg.beta1, t));
        let inv_sqrt_c2 = 1.0 / libm::sqrtf(1.0 - libm::powf(cfg.beta2, t));
        let (b1, b2, eps) = (cfg.beta1, cfg.beta2, cfg.eps);
        for k in 0..P::SLICES {
            let g = grad.slice(k);
            let m = self.m.slice_mut(k);
            let v = self.v.slice_mut(k);
            let p = params.slice_mut(k);
            for (((pi, mi), vi), &gi) in p.iter_mut().zip(m).zip(v).zip(g) {
                *mi = b1 * *mi + (1.0 - b1) * gi;
                *vi = b2 * *vi + (1.0 - b2) * gi * gi;
                *pi -= step * *mi / (crate::linalg::sqrt(*vi) * inv_sqrt_c2 + eps);
            }
        }
    }
}

/// Adam whose two moments take 16 bits each: bfloat16 (an f32's top
/// half), packed into one f32-sized slot of `P` per parameter, so the state
/// is one parameter set instead of [`Adam`]'s two. Each step computes the
/// moments in f32 exactly as [`Adam::step`] does and moves the parameter
/// with them; only what is stored is rounded.
///
/// The rounding is stochastic: up with probability equal to the fraction
/// dropped, so the stored moment is unbiased. Round-to-nearest would not
/// do: at β₂ = 0.999 the second moment changes by 0.1 % of itself per step,
/// below bfloat16's half-ulp (0.2–0.4 %), and it would stop decaying. The
/// random bits come from a hash of the step count and the parameter's
/// position (integer arithmetic), so every machine stores the same bits.
///
/// Slot layout: the second moment's bfloat16 in the high half, the first
/// moment's in the low half, so a slot read as f32 is the (non-negative,
/// finite) second moment truncated: never NaN, and copied bit for bit.
#[derive(Clone, Debug, PartialEq)]
pub struct Adam16<P: Params> {
    /// Both moments, packed (not numbers to compute with).
    pub packed: P,
    /// Steps taken.
    pub t: u32,
}

impl<P: Params> Adam16<P> {
    /// Fresh state: zero moments (every slot all-zero bits).
    pub fn new(zero: P) -> Self {
        Self { packed: zero, t: 0 }
    }

    /// Resets moments and the step count.
    pub fn reset(&mut self) {
        self.packed.fill_zero();
        self.t = 0;
    }

    /// Zeroes the first moment, keeping the second.
    pub fn clear_momentum(&mut self) {
        for k in 0..P::SLICES {
            for s in self.packed.slice_mut(k) {
                *s = f32::from_bits(s.to_bits() & 0xFFFF_0000);
            }
        }
    }

    /// The first and second moments of the parameter at `slot`.
    pub fn moments(slot: f32) -> (f32, f32) {
        let b = slot.to_bits();
        (bf16_to_f32(b as u16), bf16_to_f32((b >> 16) as u16))
    }

    /// One Adam step (the formula of [`Adam::step`]), then the moments
    /// stored rounded to bfloat16 stochastically. Looks before it leaps:
    /// when the step would make any parameter non-finite it changes
    /// nothing (parameters, moments, step count) and returns `false`, so
    /// a trainer that keeps no copy of the parameters never holds a
    /// non-finite one.
    pub fn step(&mut self, params: &mut P, grad: &P, lr: f32, cfg: &AdamConfig) -> bool {
        let t = self.t.saturating_add(1);
        let c = StepConsts::new(t, lr, cfg);
        let mut finite = true;
        for k in 0..P::SLICES {
            let p = params.slice(k);
            for ((&pi, &si), &gi) in p.iter().zip(self.packed.slice(k)).zip(grad.slice(k)) {
                finite &= c.next(pi, si, gi).0.is_finite();
            }
        }
        if !finite {
            return false;
        }
        self.t = t;
        let mut at = 0u32;
        for k in 0..P::SLICES {
            let g = grad.slice(k);
            let s = self.packed.slice_mut(k);
            let p = params.slice_mut(k);
            for ((pi, si), &gi) in p.iter_mut().zip(s).zip(g) {
                let (p_new, m, v) = c.next(*pi, *si, gi);
                *pi = p_new;
                let r = noise(t, at);
                let (m16, v16) = (round_bf16(m, r as u16), round_bf16(v, (r >> 16) as u16));
                *si = f32::from_bits(u32::from(v16) << 16 | u32::from(m16));
                at = at.wrapping_add(1);
            }
        }
        true
    }
}

/// The per-step constants of [`Adam16::step`].
struct StepConsts {
    step: f32,
    inv_sqrt_c2: f32,
    b1: f32,
    b2: f32,
    eps: f32,
}

impl StepConsts {
    fn new(t: u32, lr: f32, cfg: &AdamConfig) -> Self {
        let t = t as f32;
        Self {
            step: lr / (1.0 - libm::powf(cfg.beta1, t)),
            inv_sqrt_c2: 1.0 / libm::sqrtf(1.0 - libm::powf(cfg.beta2, t)),
            b1: cfg.beta1,
            b2: cfg.beta2,
            eps: cfg.eps,
        }
    }

    /// The new parameter and the new (unrounded) moments.
    #[inline(always)]
    fn next(&self, p: f32, slot: f32, g: f32) -> (f32, f32, f32) {
        let b = slot.to_bits();
        let (m0, v0) = (bf16_to_f32(b as u16), bf16_to_f32((b >> 16) as u16));
        let m = self.b1 * m0 + (1.0 - self.b1) * g;
        let v = self.b2 * v0 + (1.0 - self.b2) * g * g;
        let p = p - self.step * m / (crate::linalg::sqrt(v) * self.inv_sqrt_c2 + self.eps);
        (p, m, v)
    }
}

/// The f32 whose top half is `h`.
pub fn bf16_to_f32(h: u16) -> f32 {
    f32::from_bits(u32::from(h) << 16)
}

/// `x` rounded to bfloat16 with the 16 random bits `r`: `x`'s dropped low
/// half is added to `r`, and a carry rounds the magnitude up, which happens
/// with probability (dropped half)/2¹⁶: the expected result, over uniform
/// `r`, is `x` exactly. Where rounding up would reach ±∞ (only for
/// |x| within 2⁻⁸ of f32::MAX), the magnitude is rounded down instead.
pub fn round_bf16(x: f32, r: u16) -> u16 {
    let b = x.to_bits();
    let up = (b.wrapping_add(u32::from(r)) >> 16) as u16;
    if up & 0x7F80 == 0x7F80 && b & 0x7F80_0000 != 0x7F80_0000 {
        (b >> 16) as u16
    } else {
        up
    }
}

/// 32 well-mixed bits from a step count and a position (a multiply–xorshift
/// hash), the random bits of [`Adam16`]'s rounding.
fn noise(t: u32, at: u32) -> u32 {
    let mut x = at.wrapping_mul(0x9E37_79B1) ^ t.wrapping_mul(0x85EB_CA77);
    x ^= x >> 16;
    x = x.wrapping_mul(0x7FEB_352D);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846C_A68B);
    x ^ (x >> 16)
}

/// Adam on a single scalar (the β multiplier).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ScalarAdam {
    /// First moment.
    pub m: f32,
    /// Second moment.
    pub v: f32,
    /// Steps taken.
    pub t: u32,
}

impl ScalarAdam {
    /// Fresh state.
    pub const NEW: Self = Self {
        m: 0.0,
        v: 0.0,
        t: 0,
    };

    /// Returns the Adam update for gradient `g` (to be subtracted).
    pub fn delta(&mut self, g: f32, lr: f32, cfg: &AdamConfig) -> f32 {
        self.t = self.t.saturating_add(1);
        let t = self.t as f32;
        self.m = cfg.beta1 * self.m + (1.0 - cfg.beta1) * g;
        self.v = cfg.beta2 * self.v + (1.0 - cfg.beta2) * g * g;
        let mh = self.m / (1.0 - libm::powf(cfg.beta1, t));
        let vh = self.v / (1.0 - libm::powf(cfg.beta2, t));
        lr * mh / (libm::sqrtf(vh) + cfg.eps)
    }
}

/// Scales the gradients `a` and `b` together so their joint L2 norm is at
/// most `max_norm`; returns the norm before clipping. `max_norm ≤ 0`
/// disables clipping.
pub fn clip_global_norm<P: Params, Q: Params>(a: &mut P, b: &mut Q, max_norm: f32) -> f32 {
    let norm = libm::sqrtf(a.sum_sq() + b.sum_sq());
    if let Some(c) = clip_factor(norm, max_norm) {
        a.scale(c);
        b.scale(c);
    }
    norm
}

/// The factor [`clip_global_norm`] scales gradients of joint norm `norm`
/// by, or `None` when they are left as they are.
pub fn clip_factor(norm: f32, max_norm: f32) -> Option<f32> {
    (max_norm > 0.0 && norm > max_norm).then(|| max_norm / (norm + 1e-6))
}

/// Linearly decayed learning rate: `lr0·(1 − done/total)`, never negative.
pub fn linear_decay(lr0: f32, done: u64, total: u64) -> f32 {
    if total == 0 {
        return lr0;
    }
    let frac = 1.0 - (done.min(total) as f64 / total as f64);
    lr0 * frac as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mlp::Mlp;

    /// A quadratic bowl: Adam must approach its minimum.
    #[test]
    fn adam_minimises_quadratic() {
        type P = Mlp<1, 2, 1>;
        let mut p = P::ZERO;
        p.b1 = [3.0, -2.0];
        let mut opt = Adam::new(P::ZERO);
        let cfg = AdamConfig::default();
        for _ in 0..2000 {
            let mut g = p;
            // ∂(½‖p − 1‖²) = p − 1
            for k in 0..P::SLICES {
                g.slice_mut(k).iter_mut().for_each(|x| *x -= 1.0);
            }
            opt.step(&mut p, &g, 0.01, &cfg);
        }
        for k in 0..P::SLICES {
            for &x in p.slice(k) {
                assert!((x - 1.0).abs() < 1e-2, "{x}");
            }
        }
    }

    #[test]
    fn first_adam_step_moves_each_weight_by_lr() {
        // With bias correction, step 1 moves by lr·g/(|g|+eps) ≈ lr·sign(g).
        type P = Mlp<1, 1, 1>;
        let mut p = P::ZERO;
        let mut g = P::ZERO;
        g.b1 = [0.5];
        g.b3 = [-2.0];
        let mut opt = Adam::new(P::ZERO);
        opt.step(&mut p, &g, 0.1, &AdamConfig::default());
        assert!((p.b1[0] + 0.1).abs() < 1e-4);
        assert!((p.b3[0] - 0.1).abs() < 1e-4);
        assert_eq!(p.w1[0][0], 0.0);
    }

    #[test]
    fn clipping_bounds_joint_norm() {
        type P = Mlp<2, 3, 1>;
        let mut a = P::ZERO;
        let mut b = P::ZERO;
        a.b1 = [3.0, 0.0, 0.0];
        b.b3 = [4.0];
        let n = clip_global_norm(&mut a, &mut b, 0.5);
        assert!((n - 5.0).abs() < 1e-6);
        let after = libm::sqrtf(a.sum_sq() + b.sum_sq());
        assert!((after - 0.5).abs() < 1e-5);
        assert!((a.b1[0] / b.b3[0] - 0.75).abs() < 1e-6);
    }

    /// Stochastic rounding is unbiased: over all 2¹⁶ values of the random
    /// bits, the rounded values average to x exactly (summed in f64, where
    /// every term and partial sum is exact), and each is one of the two
    /// bfloat16 neighbours of x.
    #[test]
    fn bf16_rounding_is_unbiased() {
        let mut rng = crate::rng::Pcg32::seed_from_u64(9);
        for i in 0..200 {
            let x = if i < 4 {
                [0.0, -0.0, 1e-40, -3.0e38][i]
            } else {
                let e = (rand_core::RngCore::next_u32(&mut rng) % 60) as i32 - 30;
                crate::rng::normal(&mut rng) * libm::powf(2.0, e as f32)
            };
            let mut sum = 0.0f64;
            for r in 0..=u16::MAX {
                let h = round_bf16(x, r);
                let down = (x.to_bits() >> 16) as u16;
                assert!(h == down || h == down + 1, "{x}");
                sum += f64::from(bf16_to_f32(h));
            }
            assert_eq!(sum, f64::from(x) * 65536.0, "{x}");
        }
        // Never rounded up to infinity.
        assert!(bf16_to_f32(round_bf16(f32::MAX, u16::MAX)).is_finite());
    }

    /// Adam16 follows Adam: on the quadratic bowl it reaches the minimum,
    /// and along the way each parameter stays close to full Adam's.
    #[test]
    fn adam16_tracks_adam() {
        type P = Mlp<2, 4, 1>;
        let mut rng = crate::rng::Pcg32::seed_from_u64(4);
        let mut target = P::ZERO;
        for k in 0..P::SLICES {
            for x in target.slice_mut(k) {
                *x = crate::rng::normal(&mut rng);
            }
        }
        let (mut p, mut q) = (P::ZERO, P::ZERO);
        let mut full = Adam::new(P::ZERO);
        let mut half = Adam16::new(P::ZERO);
        let cfg = AdamConfig::default();
        for step in 0..3000 {
            let grad = |x: &P| {
                let mut g = *x;
                g.add_scaled(-1.0, &target);
                g
            };
            let (gp, gq) = (grad(&p), grad(&q));
            full.step(&mut p, &gp, 0.01, &cfg);
            half.step(&mut q, &gq, 0.01, &cfg);
            if step == 100 {
                for k in 0..P::SLICES {
                    for (a, b) in p.slice(k).iter().zip(q.slice(k)) {
                        assert!((a - b).abs() < 0.02, "step {step}: {a} vs {b}");
                    }
                }
            }
        }
        for k in 0..P::SLICES {
            for (x, t) in q.slice(k).iter().zip(target.slice(k)) {
                assert!((x - t).abs() < 1e-2, "{x} vs {t}");
            }
        }
    }

    /// The second moment keeps decaying when its per-step change is far
    /// below bfloat16's resolution (round-to-nearest would freeze it), and
    /// keeps tracking a steady g².
    #[test]
    fn adam16_second_moment_moves_below_resolution() {
        type P = Mlp<1, 1, 1>;
        let cfg = AdamConfig::default();
        let mut opt = Adam16::new(P::ZERO);
        let mut p = P::ZERO;
        let mut g = P::ZERO;
        // 500 steps of g = 1, then 2000 of g = 0.
        g.b1 = [1.0];
        for _ in 0..500 {
            opt.step(&mut p, &g, 0.0, &cfg);
        }
        let v500 = Adam16::<P>::moments(opt.packed.b1[0]).1;
        let exact500 = 1.0 - libm::powf(0.999, 500.0);
        assert!((v500 / exact500 - 1.0).abs() < 0.03, "{v500} {exact500}");
        g.b1 = [0.0];
        for _ in 0..2000 {
            opt.step(&mut p, &g, 0.0, &cfg);
        }
        let v = Adam16::<P>::moments(opt.packed.b1[0]).1;
        let exact = exact500 * libm::powf(0.999, 2000.0);
        // Each rounding errs by under one ulp (2⁻⁷ relative at most) with
        // mean 0: over 2000 undamped steps the relative error is a random
        // walk of standard deviation ≈ 2⁻⁸·√2000/2 ≈ 9 %; round-to-nearest
        // would have left v at v500, 12 times `exact`.
        assert!((v / exact - 1.0).abs() < 0.3, "{v} vs {exact}");
        // Zeroing the first moment keeps the second.
        opt.clear_momentum();
        assert_eq!(Adam16::<P>::moments(opt.packed.b1[0]), (0.0, v));
    }

    /// A step that would overflow a parameter changes nothing.
    #[test]
    fn adam16_refuses_a_non_finite_step() {
        type P = Mlp<1, 1, 1>;
        let cfg = AdamConfig::default();
        let mut opt = Adam16::new(P::ZERO);
        let (mut p, mut g) = (P::ZERO, P::ZERO);
        g.b1 = [1.0];
        assert!(opt.step(&mut p, &g, 1e-3, &cfg));
        let (p0, opt0) = (p, opt.clone());
        p.b3 = [f32::MAX];
        g.b3 = [-1.0];
        let p1 = p;
        assert!(!opt.step(&mut p, &g, 1e38, &cfg));
        assert_eq!((p, &opt), (p1, &opt0));
        assert!(opt.step(&mut p, &g, 1e-3, &cfg));
        assert_ne!(p.b1, p0.b1);
    }

    #[test]
    fn linear_decay_endpoints() {
        assert_eq!(linear_decay(3e-4, 0, 100), 3e-4);
        assert_eq!(linear_decay(3e-4, 100, 100), 0.0);
        assert_eq!(linear_decay(3e-4, 200, 100), 0.0);
        assert!((linear_decay(1.0, 25, 100) - 0.75).abs() < 1e-7);
    }
}
