//! The deployable controller: a policy with its observation normalisation
//! and action bounds. This is what a policy file holds and what a control
//! loop runs every tick.

use crate::dist::PolicyKind;
use crate::norm::RunningMeanStd;
use crate::policy::Policy;

/// Default clip on normalised observations.
pub const OBS_CLIP: f32 = 10.0;

/// A policy ready to run: raw observation in, bounded action out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Actor<const O: usize, const H: usize, const A: usize> {
    /// The policy network and log-std.
    pub policy: Policy<O, H, A>,
    /// Observation normalisation statistics (mean and variance; a count of
    /// 0 with variance 1 and mean 0 means "no normalisation").
    pub obs_norm: RunningMeanStd<O>,
    /// Clip applied to normalised observations.
    pub obs_clip: f32,
    /// Lower action bounds (Gaussian policies).
    pub action_low: [f32; A],
    /// Upper action bounds (Gaussian policies).
    pub action_high: [f32; A],
}

impl<const O: usize, const H: usize, const A: usize> Actor<O, H, A> {
    /// An actor with zero weights, identity normalisation and bounds ±1.
    pub const fn zero(kind: PolicyKind) -> Self {
        Self {
            policy: Policy::zero(kind),
            obs_norm: RunningMeanStd::NEW,
            obs_clip: OBS_CLIP,
            action_low: [-1.0; A],
            action_high: [1.0; A],
        }
    }

    /// The normalised observation the policy sees.
    #[inline]
    pub fn normalize(&self, raw: &[f32; O]) -> [f32; O] {
        self.obs_norm.normalize(raw, self.obs_clip)
    }

    /// Clips a (Gaussian) action to the bounds; one-hot actions pass through.
    #[inline]
    pub fn clip_action(&self, a: &[f32; A]) -> [f32; A] {
        match self.policy.kind {
            PolicyKind::Gaussian => {
                core::array::from_fn(|i| a[i].clamp(self.action_low[i], self.action_high[i]))
            }
            PolicyKind::Categorical => *a,
        }
    }

    /// The deterministic action for a raw observation, clipped to bounds.
    ///
    /// Non-finite observations give [`Actor::safe_action`]: a control loop
    /// never receives NaN from here.
    #[inline]
    pub fn act(&self, raw: &[f32; O]) -> [f32; A] {
        if !raw.iter().all(|x| x.is_finite()) {
            return self.safe_action();
        }
        let a = self.clip_action(&self.policy.mode(&self.normalize(raw)));
        if a.iter().all(|x| x.is_finite()) {
            a
        } else {
            self.safe_action()
        }
    }

    /// The fallback action: zero clipped into the bounds (Gaussian), or the
    /// first choice (categorical).
    pub fn safe_action(&self) -> [f32; A] {
        match self.policy.kind {
            PolicyKind::Gaussian => {
                core::array::from_fn(|i| 0.0f32.clamp(self.action_low[i], self.action_high[i]))
            }
            PolicyKind::Categorical => core::array::from_fn(|i| if i == 0 { 1.0 } else { 0.0 }),
        }
    }
}
