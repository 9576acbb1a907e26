//! The policy: an MLP whose output parameterises a [`PolicyKind`]
//! distribution, plus a state-independent log-std for Gaussian policies.

use crate::dist::{self, PolicyKind};
use crate::mlp::Mlp;
use crate::params::Params;
use rand_core::RngCore;

/// A stochastic policy `O → A` with two tanh hidden layers of `H` units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Policy<const O: usize, const H: usize, const A: usize> {
    /// Distribution family.
    pub kind: PolicyKind,
    /// Mean (Gaussian) or logits (categorical) network.
    pub net: Mlp<O, H, A>,
    /// Log standard deviation per action dimension (Gaussian only; kept at
    /// zero and never trained for categorical policies).
    pub log_std: [f32; A],
}

/// The value function: an MLP `O → 1`.
pub type Value<const O: usize, const H: usize> = Mlp<O, H, 1>;

impl<const O: usize, const H: usize, const A: usize> Policy<O, H, A> {
    /// Number of trainable numbers (network and log-std).
    pub const PARAMS: usize = Mlp::<O, H, A>::PARAMS + A;

    /// A zero policy of the given kind (also the zero gradient).
    pub const fn zero(kind: PolicyKind) -> Self {
        Self {
            kind,
            net: Mlp::ZERO,
            log_std: [0.0; A],
        }
    }

    /// Reference initialisation: orthogonal hidden layers with gain √2, the
    /// output layer with gain 0.01, and log-std `log_std_init` (Gaussian).
    pub fn init<R: RngCore + ?Sized>(&mut self, rng: &mut R, log_std_init: f32) {
        self.net.init(rng, core::f32::consts::SQRT_2, 0.01);
        self.log_std = match self.kind {
            PolicyKind::Gaussian => [log_std_init; A],
            PolicyKind::Categorical => [0.0; A],
        };
    }

    /// Distribution parameters (mean or logits) at a normalised observation.
    #[inline]
    pub fn output(&self, obs: &[f32; O]) -> [f32; A] {
        self.net.predict(obs)
    }

    /// Samples an action at a normalised observation; returns the action
    /// (one-hot for categorical policies) and its log-probability.
    pub fn sample<R: RngCore + ?Sized>(&self, obs: &[f32; O], rng: &mut R) -> ([f32; A], f32) {
        let out = self.output(obs);
        let a = dist::sample(self.kind, &out, &self.log_std, rng);
        (a, dist::log_prob(self.kind, &out, &self.log_std, &a))
    }

    /// The deterministic action: the mean, or the one-hot arg-max.
    #[inline]
    pub fn mode(&self, obs: &[f32; O]) -> [f32; A] {
        dist::mode(self.kind, &self.output(obs))
    }

    /// D_KL(`old` ‖ `self`) at one normalised observation.
    pub fn kl_from(&self, old: &Self, obs: &[f32; O]) -> f32 {
        dist::kl(
            self.kind,
            &old.output(obs),
            &old.log_std,
            &self.output(obs),
            &self.log_std,
        )
    }
}

/// The network's slices, then the log-std.
impl<const O: usize, const H: usize, const A: usize> Params for Policy<O, H, A> {
    const SLICES: usize = Mlp::<O, H, A>::SLICES + 1;
    const LEN: usize = Self::PARAMS;

    fn slice(&self, k: usize) -> &[f32] {
        let net = Mlp::<O, H, A>::SLICES;
        if k < net {
            self.net.slice(k)
        } else if k == net {
            &self.log_std
        } else {
            &[]
        }
    }

    fn slice_mut(&mut self, k: usize) -> &mut [f32] {
        let net = Mlp::<O, H, A>::SLICES;
        if k < net {
            self.net.slice_mut(k)
        } else if k == net {
            &mut self.log_std
        } else {
            &mut []
        }
    }
}
