//! Experience collection: step one task with the current policy, store
//! [`Transition`]s, and compute GAE advantages. Buffers are the caller's, so
//! the host can collect into `Vec`s across threads and the firmware into
//! static arrays.

use crate::dist::{self, PolicyKind};
use crate::env::{ActionSpace, Env};
use crate::fixpo::Transition;
use crate::gae::{GaeStep, gae_with};
use crate::norm::{ObsNorm, RewardScaler, RunningMeanStd};
use crate::policy::{Policy, Value};
use rand_core::RngCore;

/// One task's state carried across collections.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EnvSlot<const O: usize> {
    /// The current raw observation.
    pub obs: [f32; O],
    /// The task must be reset before its next step.
    pub needs_reset: bool,
    /// Undiscounted, unscaled return of the running episode.
    pub ep_return: f32,
    /// Length of the running episode.
    pub ep_len: u32,
    /// Discounted return used for reward scaling.
    pub disc_return: f32,
}

impl<const O: usize> EnvSlot<O> {
    /// A slot whose task will be reset on the first step.
    pub const NEW: Self = Self {
        obs: [0.0; O],
        needs_reset: true,
        ep_return: 0.0,
        ep_len: 0,
        disc_return: 0.0,
    };
}

impl<const O: usize> Default for EnvSlot<O> {
    fn default() -> Self {
        Self::NEW
    }
}

/// A finished episode.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Episode {
    /// Undiscounted return (raw rewards).
    pub ret: f32,
    /// Number of steps.
    pub len: u32,
}

/// How rewards are normalised by σ_R, the running standard deviation of
/// the discounted return.
///
/// [`RewardNorm::name`] is the name in configuration files; with the
/// `serde` feature it is also the serialised name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "kebab-case"))]
pub enum RewardNorm {
    /// Raw rewards everywhere.
    Off,
    /// Rewards divided by σ_R before GAE: advantages and value targets in
    /// units of σ_R (the common PPO "reward scaling").
    RewardScale,
    /// GAE on raw rewards with the value function's outputs scaled back by
    /// σ_R: advantages in raw reward units, value targets divided by σ_R
    /// (Tianshou's `rew_norm`, which the paper's reference code uses).
    ValueTargets,
}

impl RewardNorm {
    /// The name used in configuration files.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::RewardScale => "reward-scale",
            Self::ValueTargets => "value-targets",
        }
    }

    /// Every variant, for parsing and listing.
    pub const ALL: [Self; 3] = [Self::Off, Self::RewardScale, Self::ValueTargets];

    /// Parses [`RewardNorm::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == s)
    }
}

/// Collection settings.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct CollectConfig {
    /// Discount γ.
    pub gamma: f32,
    /// GAE λ.
    pub lambda: f32,
    /// How rewards are normalised.
    pub reward_norm: RewardNorm,
}

impl CollectConfig {
    /// γ = 0.99, λ = 0.95, rewards divided by σ_R.
    pub const REFERENCE: Self = Self {
        gamma: 0.99,
        lambda: 0.95,
        reward_norm: RewardNorm::RewardScale,
    };
}

/// Normalisation statistics read during a collection, and the ones it
/// accumulates (merged by the caller afterwards, so parallel workers stay
/// deterministic).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NormStats<const O: usize> {
    /// Observation statistics.
    pub obs: RunningMeanStd<O>,
    /// Discounted-return statistics for reward scaling.
    pub ret: RewardScaler,
}

/// Why a collection stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum CollectError {
    /// The output buffers differ in length.
    LengthMismatch,
    /// The task returned a NaN or infinite observation or reward.
    NonFiniteEnv,
    /// The networks produced a NaN or infinite output.
    NonFiniteNetwork,
}

impl core::fmt::Display for CollectError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::LengthMismatch => f.write_str("transition and GAE buffers differ in length"),
            Self::NonFiniteEnv => {
                f.write_str("the task returned a NaN or infinite observation or reward")
            }
            Self::NonFiniteNetwork => {
                f.write_str("the policy or value network produced a non-finite output")
            }
        }
    }
}

impl core::error::Error for CollectError {}

/// Steps `env` `out.len()` times with `policy` acting on observations
/// normalised by `norm`, fills `out` (raw observations, actions, values,
/// advantages and returns by GAE over this segment, rewards normalised as
/// `cfg.reward_norm` says with the return statistics in `ret`) and
/// accumulates the raw observations and discounted returns it saw into
/// `seen`. `gae_buf` is scratch of the same length. Calls `on_episode` for
/// every episode that ends.
///
/// # Errors
/// [`CollectError`]; the buffers' contents are then unspecified, `slot` is
/// marked for reset.
pub fn collect<E, R, const O: usize, const H: usize, const A: usize>(
    env: &mut E,
    slot: &mut EnvSlot<O>,
    rng: &mut R,
    policy: &Policy<O, H, A>,
    value: &Value<O, H>,
    norm: &ObsNorm<O>,
    ret: &RewardScaler,
    seen: &mut NormStats<O>,
    cfg: &CollectConfig,
    out: &mut [Transition<O, A>],
    gae_buf: &mut [GaeStep],
    on_episode: &mut dyn FnMut(Episode),
) -> Result<(), CollectError>
where
    E: Env<O, A>,
    R: RngCore + ?Sized,
{
    if out.len() != gae_buf.len() {
        return Err(CollectError::LengthMismatch);
    }
    // Any error leaves the episode in an unknown state: reset it next time.
    let mut run = || -> Result<(), CollectError> {
        let space = env.action_space();
        // Value-target normalisation: the value network predicts returns in
        // units of σ_R; GAE runs in raw reward units.
        let sigma = match cfg.reward_norm {
            RewardNorm::ValueTargets => ret.sigma(),
            _ => 1.0,
        };
        let n = out.len();
        for i in 0..n {
            if slot.needs_reset {
                slot.obs = env.reset(rng);
                slot.needs_reset = false;
                slot.ep_return = 0.0;
                slot.ep_len = 0;
                slot.disc_return = 0.0;
                if !slot.obs.iter().all(|x| x.is_finite()) {
                    return Err(CollectError::NonFiniteEnv);
                }
                seen.obs.update(&slot.obs);
            }
            let obs = norm.apply(&slot.obs);
            let (mean, logp_ok) = {
                let o = policy.output(&obs);
                (o, o.iter().all(|x| x.is_finite()))
            };
            let v = value.predict(&obs)[0];
            if !(logp_ok && v.is_finite()) {
                return Err(CollectError::NonFiniteNetwork);
            }
            let action = dist::sample(policy.kind, &mean, &policy.log_std, rng);
            let env_action = match (space, policy.kind) {
                (ActionSpace::Continuous { low, high }, PolicyKind::Gaussian) => {
                    core::array::from_fn(|k| action[k].clamp(low[k], high[k]))
                }
                _ => action,
            };
            let step = env.step(&env_action);
            if !(step.obs.iter().all(|x| x.is_finite()) && step.reward.is_finite()) {
                return Err(CollectError::NonFiniteEnv);
            }
            slot.ep_return += step.reward;
            slot.ep_len += 1;
            let done = step.terminated || step.truncated;
            if cfg.reward_norm != RewardNorm::Off {
                slot.disc_return = slot.disc_return * cfg.gamma + step.reward;
                seen.ret.stats.update(&[slot.disc_return]);
            }
            let reward = match cfg.reward_norm {
                RewardNorm::RewardScale => ret.apply(step.reward),
                _ => step.reward,
            };
            seen.obs.update(&step.obs);
            out[i] = Transition {
                obs: slot.obs,
                action,
                value: v,
                ..Transition::ZERO
            };
            gae_buf[i] = GaeStep {
                reward,
                value: v * sigma,
                next_value: 0.0,
                terminated: step.terminated,
                done,
            };
            // Bootstrap values: a truncated episode, or the segment's last step.
            if (step.truncated && !step.terminated) || (i + 1 == n && !done) {
                gae_buf[i].next_value = value.predict(&norm.apply(&step.obs))[0] * sigma;
            }
            if done {
                on_episode(Episode {
                    ret: slot.ep_return,
                    len: slot.ep_len,
                });
                slot.needs_reset = true;
            } else {
                slot.obs = step.obs;
            }
        }
        for i in 0..n.saturating_sub(1) {
            if !gae_buf[i].done {
                gae_buf[i].next_value = gae_buf[i + 1].value;
            }
        }
        gae_with(gae_buf, cfg.gamma, cfg.lambda, |i, adv, target| {
            out[i].advantage = adv;
            out[i].ret = target / sigma;
        })
        .map_err(|_| CollectError::NonFiniteNetwork)
    };
    let result = run();
    if result.is_err() {
        slot.needs_reset = true;
    }
    result
}

/// Runs one episode with the deterministic policy (through `actor`) and
/// returns its undiscounted return and length.
pub fn evaluate_episode<E, R, const O: usize, const H: usize, const A: usize>(
    env: &mut E,
    actor: &crate::actor::Actor<O, H, A>,
    rng: &mut R,
    deterministic: bool,
) -> Episode
where
    E: Env<O, A>,
    R: RngCore + ?Sized,
{
    let mut obs = env.reset(rng);
    let mut ep = Episode { ret: 0.0, len: 0 };
    loop {
        let a = if deterministic {
            actor.act(&obs)
        } else {
            let (a, _) = actor.policy.sample(&actor.normalize(&obs), rng);
            actor.clip_action(&a)
        };
        let s = env.step(&a);
        ep.ret += s.reward;
        ep.len += 1;
        if s.terminated || s.truncated {
            return ep;
        }
        obs = s.obs;
    }
}
