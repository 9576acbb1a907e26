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
    if max_norm > 0.0 && norm > max_norm {
        let c = max_norm / (norm + 1e-6);
        a.scale(c);
        b.scale(c);
    }
    norm
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

    #[test]
    fn linear_decay_endpoints() {
        assert_eq!(linear_decay(3e-4, 0, 100), 3e-4);
        assert_eq!(linear_decay(3e-4, 100, 100), 0.0);
        assert_eq!(linear_decay(3e-4, 200, 100), 0.0);
        assert!((linear_decay(1.0, 25, 100) - 0.75).abs() < 1e-7);
    }
}
