//! Experience collection: step one task with the current policy, store
//! [`Transition`]s, and compute GAE advantages. Buffers are the caller's, so
//! the host can collect into `Vec`s across threads and the firmware into
//! static arrays.

use crate::dist::{self, PolicyKind};
use crate::env::{ActionSpace, Env, Step};
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
    /// Environments stepped together answered for another number of
    /// environments, or out of turn (a step result for an environment that
    /// was resetting, or the reverse).
    VecEnvMismatch,
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
            Self::VecEnvMismatch => f.write_str(
                "the vector environment's results do not match its environments (count or reset order)",
            ),
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
/// This is [`SegmentWriter`] driven by one environment.
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
    let space = env.action_space();
    let mut w = SegmentWriter::new(
        Acting {
            policy,
            value,
            norm,
            ret,
            cfg,
            space,
        },
        slot,
        seen,
        out,
        gae_buf,
    )?;
    while !w.is_full() {
        if w.needs_reset() {
            w.begin_episode(env.reset(rng))?;
        }
        let action = w.act(rng)?;
        w.observe(&env.step(&action), on_episode)?;
    }
    w.finish()
}

/// What a [`SegmentWriter`] acts with: the behaviour policy and value
/// function, the normalisation they read through, the return statistics,
/// the collection settings and the action space (actions are clipped to
/// its bounds before the environment sees them).
#[derive(Clone, Copy, Debug)]
pub struct Acting<'a, const O: usize, const H: usize, const A: usize> {
    /// The policy that acts.
    pub policy: &'a Policy<O, H, A>,
    /// The value function.
    pub value: &'a Value<O, H>,
    /// The normalisation both read observations through.
    pub norm: &'a ObsNorm<O>,
    /// Return statistics for reward normalisation.
    pub ret: &'a RewardScaler,
    /// γ, λ and the reward normalisation.
    pub cfg: &'a CollectConfig,
    /// The environment's action space.
    pub space: ActionSpace<A>,
}

/// One segment of a batch, filled one step at a time by a caller that
/// steps the environment itself: [`collect`] with one environment, or
/// several environments stepped together (a vector environment, where
/// every environment must take every step).
///
/// The cycle is: [`SegmentWriter::begin_episode`] when
/// [`SegmentWriter::needs_reset`], [`SegmentWriter::act`], step the
/// environment with that action, [`SegmentWriter::observe`]; then
/// [`SegmentWriter::finish`] once [`SegmentWriter::is_full`]. Steps taken
/// after the segment is full (a vector environment whose other members are
/// still filling theirs) keep the episode going in `slot` but are not
/// part of the batch or its statistics.
///
/// Any error marks `slot` for reset; the buffers' contents are then
/// unspecified.
pub struct SegmentWriter<'a, const O: usize, const H: usize, const A: usize> {
    with: Acting<'a, O, H, A>,
    slot: &'a mut EnvSlot<O>,
    seen: &'a mut NormStats<O>,
    out: &'a mut [Transition<O, A>],
    gae: &'a mut [GaeStep],
    /// Transitions written.
    len: usize,
    /// σ_R when the value network predicts returns in units of it.
    sigma: f32,
    /// The action [`SegmentWriter::act`] chose and the value of its state.
    pending: Option<([f32; A], f32)>,
}

impl<'a, const O: usize, const H: usize, const A: usize> SegmentWriter<'a, O, H, A> {
    /// A writer into `out` (and the GAE scratch `gae`, of the same length)
    /// for the episode carried in `slot`, accumulating what it sees into
    /// `seen`.
    ///
    /// # Errors
    /// [`CollectError::LengthMismatch`] when `out` and `gae` differ in
    /// length.
    pub fn new(
        with: Acting<'a, O, H, A>,
        slot: &'a mut EnvSlot<O>,
        seen: &'a mut NormStats<O>,
        out: &'a mut [Transition<O, A>],
        gae: &'a mut [GaeStep],
    ) -> Result<Self, CollectError> {
        if out.len() != gae.len() {
            slot.needs_reset = true;
            return Err(CollectError::LengthMismatch);
        }
        // Value-target normalisation: the value network predicts returns in
        // units of σ_R; GAE runs in raw reward units.
        let sigma = match with.cfg.reward_norm {
            RewardNorm::ValueTargets => with.ret.sigma(),
            _ => 1.0,
        };
        Ok(Self {
            with,
            slot,
            seen,
            out,
            gae,
            len: 0,
            sigma,
            pending: None,
        })
    }

    /// Every transition of the segment is written.
    pub fn is_full(&self) -> bool {
        self.len == self.out.len()
    }

    /// The episode has ended: the next step needs a reset observation.
    pub fn needs_reset(&self) -> bool {
        self.slot.needs_reset
    }

    fn fail<T>(&mut self, e: CollectError) -> Result<T, CollectError> {
        self.slot.needs_reset = true;
        self.pending = None;
        Err(e)
    }

    /// Starts an episode at the reset observation `obs`.
    ///
    /// # Errors
    /// [`CollectError::NonFiniteEnv`] for a NaN or infinite observation.
    pub fn begin_episode(&mut self, obs: [f32; O]) -> Result<(), CollectError> {
        let s = &mut *self.slot;
        s.obs = obs;
        s.needs_reset = false;
        s.ep_return = 0.0;
        s.ep_len = 0;
        s.disc_return = 0.0;
        if !obs.iter().all(|x| x.is_finite()) {
            return self.fail(CollectError::NonFiniteEnv);
        }
        if !self.is_full() {
            self.seen.obs.update(&obs);
        }
        Ok(())
    }

    /// The action for the current observation, sampled from the policy
    /// with `rng` and clipped to the action space: what the environment
    /// is to be stepped with next.
    ///
    /// # Errors
    /// [`CollectError::NonFiniteNetwork`] when the networks' outputs are
    /// not finite.
    pub fn act<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> Result<[f32; A], CollectError> {
        let w = &self.with;
        let obs = w.norm.apply(&self.slot.obs);
        let mean = w.policy.output(&obs);
        let v = w.value.predict(&obs)[0];
        if !(mean.iter().all(|x| x.is_finite()) && v.is_finite()) {
            return self.fail(CollectError::NonFiniteNetwork);
        }
        let action = dist::sample(w.policy.kind, &mean, &w.policy.log_std, rng);
        self.pending = Some((action, v));
        Ok(match (w.space, w.policy.kind) {
            (ActionSpace::Continuous { low, high }, PolicyKind::Gaussian) => {
                core::array::from_fn(|k| action[k].clamp(low[k], high[k]))
            }
            _ => action,
        })
    }

    /// Records the step the environment took with [`SegmentWriter::act`]'s
    /// action; `on_episode` sees the episode if it ended.
    ///
    /// # Errors
    /// [`CollectError::NonFiniteEnv`] for a NaN or infinite observation or
    /// reward; [`CollectError::LengthMismatch`] when no action is pending.
    pub fn observe(
        &mut self,
        step: &Step<O>,
        on_episode: &mut dyn FnMut(Episode),
    ) -> Result<(), CollectError> {
        let Some((action, v)) = self.pending.take() else {
            return self.fail(CollectError::LengthMismatch);
        };
        if !(step.obs.iter().all(|x| x.is_finite()) && step.reward.is_finite()) {
            return self.fail(CollectError::NonFiniteEnv);
        }
        let cfg = self.with.cfg;
        let keep = !self.is_full();
        let slot = &mut *self.slot;
        slot.ep_return += step.reward;
        slot.ep_len += 1;
        let done = step.terminated || step.truncated;
        if cfg.reward_norm != RewardNorm::Off {
            slot.disc_return = slot.disc_return * cfg.gamma + step.reward;
            if keep {
                self.seen.ret.stats.update(&[slot.disc_return]);
            }
        }
        if keep {
            let reward = match cfg.reward_norm {
                RewardNorm::RewardScale => self.with.ret.apply(step.reward),
                _ => step.reward,
            };
            self.seen.obs.update(&step.obs);
            let i = self.len;
            self.out[i] = Transition {
                obs: slot.obs,
                action,
                value: v,
                ..Transition::ZERO
            };
            self.gae[i] = GaeStep {
                reward,
                value: v * self.sigma,
                next_value: 0.0,
                terminated: step.terminated,
                done,
            };
            // Bootstrap values: a truncated episode, or the segment's last step.
            if (step.truncated && !step.terminated) || (i + 1 == self.out.len() && !done) {
                let w = &self.with;
                self.gae[i].next_value = w.value.predict(&w.norm.apply(&step.obs))[0] * self.sigma;
            }
            self.len += 1;
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
        Ok(())
    }

    /// Computes the segment's advantages and returns (GAE).
    ///
    /// # Errors
    /// [`CollectError::LengthMismatch`] when the segment is not full;
    /// [`CollectError::NonFiniteNetwork`] when GAE overflows.
    pub fn finish(mut self) -> Result<(), CollectError> {
        if !self.is_full() {
            return self.fail(CollectError::LengthMismatch);
        }
        let n = self.out.len();
        for i in 0..n.saturating_sub(1) {
            if !self.gae[i].done {
                self.gae[i].next_value = self.gae[i + 1].value;
            }
        }
        let (out, sigma) = (&mut *self.out, self.sigma);
        let r = gae_with(
            self.gae,
            self.with.cfg.gamma,
            self.with.cfg.lambda,
            |i, adv, target| {
                out[i].advantage = adv;
                out[i].ret = target / sigma;
            },
        );
        match r {
            Ok(()) => Ok(()),
            Err(_) => self.fail(CollectError::NonFiniteNetwork),
        }
    }
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
