//! The deployable controller: a policy with its observation normalisation
//! and action bounds. This is what a policy file holds and what a control
//! loop runs every tick.

use crate::dist::PolicyKind;
use crate::linalg::clamp;
use crate::norm::RunningMeanStd;
use crate::policy::Policy;

/// Default clip on normalised observations.
pub const OBS_CLIP: f32 = 10.0;

/// A policy ready to run: raw observation in, bounded action out.
///
/// Build one with [`Actor::new`], which checks the clip and the bounds, or
/// get one from the policy file decoder ([`crate::file::decode`]), which
/// checks every value. The fields are public; [`Actor::act`] does not
/// panic whatever they hold, but only a checked actor's actions are sure
/// to lie within its bounds.
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

/// Why [`Actor::new`] refused its arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ActorError {
    /// The observation clip is NaN, infinite, zero or negative.
    InvalidObsClip,
    /// An action bound is NaN or infinite.
    NonFiniteBound {
        /// The action component.
        index: usize,
    },
    /// A lower action bound is above the upper one.
    InvertedBounds {
        /// The action component.
        index: usize,
    },
}

impl core::fmt::Display for ActorError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::InvalidObsClip => {
                f.write_str("the observation clip must be finite and greater than 0")
            }
            Self::NonFiniteBound { index } => {
                write!(f, "action bound {index} is NaN or infinite")
            }
            Self::InvertedBounds { index } => {
                write!(
                    f,
                    "action bound {index}: the lower bound is above the upper"
                )
            }
        }
    }
}

impl core::error::Error for ActorError {}

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

    /// An actor from its parts, after checking the observation clip and the
    /// action bounds.
    ///
    /// # Errors
    /// [`ActorError::InvalidObsClip`] unless `obs_clip` is finite and > 0;
    /// then, for the first action component where it fails,
    /// [`ActorError::NonFiniteBound`] unless both bounds are finite, or
    /// [`ActorError::InvertedBounds`] unless `low ≤ high`.
    ///
    /// # Example
    /// ```
    /// use fixpo_core::actor::{Actor, ActorError};
    /// use fixpo_core::norm::RunningMeanStd;
    /// use fixpo_core::{Policy, PolicyKind};
    ///
    /// let policy = Policy::<3, 8, 1>::zero(PolicyKind::Gaussian);
    /// let actor = Actor::new(policy, RunningMeanStd::NEW, 10.0, [-2.0], [2.0])?;
    /// assert_eq!(actor.act(&[0.1, 0.2, 0.3]), [0.0]);
    ///
    /// let upside_down = Actor::new(policy, RunningMeanStd::NEW, 10.0, [2.0], [-2.0]);
    /// assert_eq!(upside_down, Err(ActorError::InvertedBounds { index: 0 }));
    /// # Ok::<(), ActorError>(())
    /// ```
    pub fn new(
        policy: Policy<O, H, A>,
        obs_norm: RunningMeanStd<O>,
        obs_clip: f32,
        action_low: [f32; A],
        action_high: [f32; A],
    ) -> Result<Self, ActorError> {
        if !(obs_clip.is_finite() && obs_clip > 0.0) {
            return Err(ActorError::InvalidObsClip);
        }
        for (index, (&l, &h)) in action_low.iter().zip(&action_high).enumerate() {
            if !(l.is_finite() && h.is_finite()) {
                return Err(ActorError::NonFiniteBound { index });
            }
            if l > h {
                return Err(ActorError::InvertedBounds { index });
            }
        }
        Ok(Self {
            policy,
            obs_norm,
            obs_clip,
            action_low,
            action_high,
        })
    }

    /// The normalised observation the policy sees.
    #[inline]
    pub fn normalize(&self, raw: &[f32; O]) -> [f32; O] {
        self.obs_norm.normalize(raw, self.obs_clip)
    }

    /// Clips a (Gaussian) action to the bounds; one-hot actions pass through.
    /// Never panics, even for bounds [`Actor::new`] would refuse.
    #[inline]
    pub fn clip_action(&self, a: &[f32; A]) -> [f32; A] {
        match self.policy.kind {
            PolicyKind::Gaussian => {
                core::array::from_fn(|i| clamp(a[i], self.action_low[i], self.action_high[i]))
            }
            PolicyKind::Categorical => *a,
        }
    }

    /// The deterministic action for a raw observation, clipped to bounds.
    ///
    /// Non-finite observations give [`Actor::safe_action`]: a control loop
    /// never receives NaN from here. Never panics, whatever the fields hold.
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
                core::array::from_fn(|i| clamp(0.0, self.action_low[i], self.action_high[i]))
            }
            PolicyKind::Categorical => core::array::from_fn(|i| if i == 0 { 1.0 } else { 0.0 }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::{Pcg32, normal};

    fn policy(kind: PolicyKind) -> Policy<3, 8, 2> {
        let mut p = Policy::zero(kind);
        p.init(&mut Pcg32::seed_from_u64(9), -0.5);
        // A large output layer, so actions reach past the bounds.
        p.net.w3.iter_mut().flatten().for_each(|w| *w *= 500.0);
        p
    }

    /// Fields `new` refuses, each with the error it gives; `act` on an
    /// actor built literally from them returns, whatever the observation.
    #[test]
    fn hostile_fields_never_panic_and_new_refuses_them() {
        use ActorError::*;
        let nan = f32::NAN;
        let inf = f32::INFINITY;
        let ok = ([-1.0, -2.0], [1.0, 2.0]);
        #[rustfmt::skip]
        let cases: [(f32, [f32; 2], [f32; 2], ActorError); 12] = [
            (nan, ok.0, ok.1, InvalidObsClip),
            (inf, ok.0, ok.1, InvalidObsClip),
            (-inf, ok.0, ok.1, InvalidObsClip),
            (0.0, ok.0, ok.1, InvalidObsClip),
            (-0.0, ok.0, ok.1, InvalidObsClip),
            (-3.0, ok.0, ok.1, InvalidObsClip),
            (5.0, [1.0, -2.0], [-1.0, 2.0], InvertedBounds { index: 0 }),
            (5.0, [-1.0, 3.0], [1.0, 2.0], InvertedBounds { index: 1 }),
            (5.0, [nan, -2.0], ok.1, NonFiniteBound { index: 0 }),
            (5.0, ok.0, [1.0, nan], NonFiniteBound { index: 1 }),
            (5.0, [-inf, -2.0], ok.1, NonFiniteBound { index: 0 }),
            (5.0, ok.0, [1.0, inf], NonFiniteBound { index: 1 }),
        ];
        let mut rng = Pcg32::seed_from_u64(3);
        for kind in [PolicyKind::Gaussian, PolicyKind::Categorical] {
            let p = policy(kind);
            for (clip, low, high, want) in cases {
                let what = (kind, clip, low, high);
                assert_eq!(
                    Actor::new(p, RunningMeanStd::NEW, clip, low, high),
                    Err(want),
                    "{what:?}"
                );
                let actor = Actor {
                    policy: p,
                    obs_norm: RunningMeanStd::NEW,
                    obs_clip: clip,
                    action_low: low,
                    action_high: high,
                };
                let mut observations = vec![[nan; 3], [inf, 0.0, -inf], [0.0; 3], [1e30; 3]];
                observations.extend((0..20).map(|_| [0.0; 3].map(|_: f32| 3.0 * normal(&mut rng))));
                for obs in observations {
                    let a = actor.act(&obs);
                    assert!(!a.iter().any(|x| x.is_nan()), "{what:?} {obs:?}: {a:?}");
                }
                let _ = actor.safe_action();
                let _ = actor.clip_action(&[nan, 1e9]);
                let _ = actor.normalize(&[1.0, nan, -1.0]);
            }
        }
    }

    /// What `new` accepts it keeps as given, and the actor acts within its
    /// bounds (a NaN observation gives the safe action).
    #[test]
    fn new_accepts_valid_parts() {
        let p = policy(PolicyKind::Gaussian);
        let (low, high) = ([-1.0, 0.5], [1.0, 0.5]);
        let a = Actor::new(p, RunningMeanStd::NEW, 10.0, low, high).expect("valid");
        assert_eq!(
            a,
            Actor {
                policy: p,
                obs_norm: RunningMeanStd::NEW,
                obs_clip: 10.0,
                action_low: low,
                action_high: high,
            }
        );
        let mut rng = Pcg32::seed_from_u64(4);
        for _ in 0..50 {
            let obs = [0.0; 3].map(|_: f32| 3.0 * normal(&mut rng));
            let act = a.act(&obs);
            for i in 0..2 {
                assert!(low[i] <= act[i] && act[i] <= high[i], "{act:?}");
            }
        }
        assert_eq!(a.act(&[f32::NAN; 3]), [0.0, 0.5]);
    }
}
