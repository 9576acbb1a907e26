//! The training iteration, written once for every caller: the host's
//! parallel trainer, the tests' serial runs and the firmware's on-device
//! adaptation all go through [`Learner::iterate`].
//!
//! One iteration, in the order it runs:
//!
//! 1. the caller collects a batch with the *behaviour* policy (the
//!    policy, value function and normalisation the learner holds now),
//!    one segment of the batch per environment, each segment's
//!    normalisation statistics counted afresh ([`Behaviour::collect`]);
//! 2. the segments' statistics are merged into the learner's running
//!    statistics in the order the caller reports them (so parallel
//!    collection gives the same numbers for any thread count);
//! 3. one update of the [`Trainer`] on the batch, moving the policy to
//!    the merged observation statistics when [`Learner::track_obs`] is set
//!    (the trust region is certified between the behaviour policy with its
//!    statistics and the new policy with the new ones, `docs/guarantee.md`)
//!    and keeping its normalisation otherwise (the firmware, whose
//!    statistics are part of the deployed file).
//!
//! The caller owns the environments, the random streams, the learning-rate
//! schedule and everything that happens between iterations (evaluation,
//! logging, checkpoints).
//!
//! ```
//! use fixpo_core::envs::Pendulum;
//! use fixpo_core::fixpo::{Config, Serial, Transition};
//! use fixpo_core::gae::GaeStep;
//! use fixpo_core::learn::{EnvRunner, Learner};
//! use fixpo_core::rng::Pcg32;
//! use fixpo_core::rollout::CollectConfig;
//! use fixpo_core::{ObsNorm, PolicyKind};
//!
//! let mut learner = Box::new(Learner::<3, 16, 1>::new(
//!     PolicyKind::Gaussian,
//!     ObsNorm::NEW,
//!     CollectConfig::REFERENCE,
//!     true,
//! ));
//! let mut rng = Pcg32::seed_from_u64(1);
//! learner.trainer.init(&mut rng, -0.5, 1.0);
//! let mut envs = [0, 1].map(|i| EnvRunner::new(Pendulum::new(), Pcg32::new(1, 10 + i)));
//! let mut batch = [Transition::ZERO; 256];
//! let mut gae = [GaeStep::default(); 256];
//! let cfg = Config { minibatch: 64, fixup_minibatch: 256, ..Config::REFERENCE };
//! for _ in 0..3 {
//!     let rep = learner
//!         .iterate_serial(&mut envs, &mut batch, &mut gae, &cfg, &mut rng, &mut Serial, &mut |_| {})
//!         .unwrap();
//!     assert!(rep.max_kl <= cfg.eps_kl);
//! }
//! ```

use crate::PolicyKind;
use crate::env::Env;
use crate::fixpo::{Backend, Config, Full, Layout, Trainer, Transition, UpdateError, UpdateReport};
use crate::gae::GaeStep;
use crate::norm::{ObsNorm, RewardScaler};
use crate::policy::{Policy, Value};
use crate::rollout::{CollectConfig, CollectError, EnvSlot, Episode, NormStats, collect};
use rand_core::RngCore;

/// What collection acts with: the behaviour policy and value function,
/// the normalisation the policy acts with, the return statistics rewards
/// are scaled by, and the collection settings.
#[derive(Clone, Copy, Debug)]
pub struct Behaviour<'a, const O: usize, const H: usize, const A: usize> {
    /// The policy that acts.
    pub policy: &'a Policy<O, H, A>,
    /// The value function that estimates the segment's values.
    pub value: &'a Value<O, H>,
    /// The normalisation `policy` and `value` read observations through.
    pub norm: &'a ObsNorm<O>,
    /// Return statistics for reward normalisation.
    pub ret: &'a RewardScaler,
    /// γ, λ and the reward normalisation.
    pub cfg: &'a CollectConfig,
}

impl<const O: usize, const H: usize, const A: usize> Behaviour<'_, O, H, A> {
    /// Collects one segment: steps `env` `out.len()` times (see
    /// [`crate::rollout::collect`]) and returns the statistics of what it
    /// saw, counted from zero, for [`Learner::iterate`] to merge.
    ///
    /// # Errors
    /// [`CollectError`]; `slot` is then marked for reset.
    pub fn collect<E: Env<O, A>, R: RngCore + ?Sized>(
        &self,
        env: &mut E,
        slot: &mut EnvSlot<O>,
        rng: &mut R,
        out: &mut [Transition<O, A>],
        gae: &mut [GaeStep],
        on_episode: &mut dyn FnMut(Episode),
    ) -> Result<NormStats<O>, CollectError> {
        let mut seen = NormStats::default();
        collect(
            env,
            slot,
            rng,
            self.policy,
            self.value,
            self.norm,
            self.ret,
            &mut seen,
            self.cfg,
            out,
            gae,
            on_episode,
        )?;
        Ok(seen)
    }
}

/// One environment with what it carries from one iteration to the next:
/// its episode in progress and its own random stream.
#[derive(Clone, Debug)]
pub struct EnvRunner<E, R, const O: usize> {
    /// The environment.
    pub env: E,
    /// Its episode in progress.
    pub slot: EnvSlot<O>,
    /// Its random stream (resets and action noise).
    pub rng: R,
}

impl<E, R, const O: usize> EnvRunner<E, R, O> {
    /// `env`, to be reset before its first step, drawing from `rng`.
    pub fn new(env: E, rng: R) -> Self {
        Self {
            env,
            slot: EnvSlot::NEW,
            rng,
        }
    }
}

/// Why an iteration failed. The learner is then exactly as it was before
/// the call, apart from the statistics of a collection that completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LearnError {
    /// Collection stopped.
    Collect(CollectError),
    /// The update was refused; the policy is unchanged.
    Update(UpdateError),
}

impl core::fmt::Display for LearnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Collect(e) => write!(f, "collection failed: {e}"),
            Self::Update(e) => write!(f, "update refused: {e}"),
        }
    }
}

impl core::error::Error for LearnError {}

impl From<CollectError> for LearnError {
    fn from(e: CollectError) -> Self {
        Self::Collect(e)
    }
}

impl From<UpdateError> for LearnError {
    fn from(e: UpdateError) -> Self {
        Self::Update(e)
    }
}

/// A trainer with the statistics it learns from: everything one training
/// iteration needs besides the environments and the batch buffers. `L` is
/// the trainer's [`Layout`].
#[derive(Clone, Debug)]
pub struct Learner<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A> = Full> {
    /// The networks, their optimisers, β and the normalisation the policy
    /// acts with ([`Trainer::norm`]).
    pub trainer: Trainer<O, H, A, L>,
    /// Statistics of everything collected so far: observations (what the
    /// next update moves the policy to) and discounted returns (what
    /// rewards are scaled by).
    pub stats: NormStats<O>,
    /// γ, λ and the reward normalisation.
    pub collect: CollectConfig,
    /// Move the policy's normalisation to [`Learner::stats`] at every
    /// update; when unset, the normalisation stays as it is.
    pub track_obs: bool,
}

impl<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A>> Learner<O, H, A, L> {
    /// A learner with zero networks (call [`Trainer::init`] on
    /// [`Learner::trainer`]), acting with `norm`, no statistics yet.
    pub fn new(
        kind: PolicyKind,
        norm: ObsNorm<O>,
        collect: CollectConfig,
        track_obs: bool,
    ) -> Self {
        let mut trainer = Trainer::zero(kind, 1.0);
        trainer.norm = norm;
        Self {
            trainer,
            stats: NormStats::default(),
            collect,
            track_obs,
        }
    }

    /// Every number zero, flags off (a `static` of it costs no flash: it
    /// lives in `.bss`). Set [`Trainer::norm`], [`Learner::stats`],
    /// [`Learner::collect`] and the networks before the first iteration:
    /// zero variances and a zero γ are not usable settings.
    pub const fn zeroed(kind: PolicyKind) -> Self {
        let zero = crate::norm::RunningMeanStd {
            mean: [0.0; O],
            var: [0.0; O],
            count: 0.0,
        };
        Self {
            trainer: Trainer::zeroed(kind),
            stats: NormStats {
                obs: zero,
                ret: RewardScaler {
                    stats: crate::norm::RunningMeanStd {
                        mean: [0.0],
                        var: [0.0],
                        count: 0.0,
                    },
                },
            },
            collect: CollectConfig {
                gamma: 0.0,
                lambda: 0.0,
                reward_norm: crate::rollout::RewardNorm::Off,
            },
            track_obs: false,
        }
    }

    /// What the next collection acts with.
    pub fn behaviour(&self) -> Behaviour<'_, O, H, A> {
        Behaviour {
            policy: &self.trainer.policy,
            value: &self.trainer.value,
            norm: &self.trainer.norm,
            ret: &self.stats.ret,
            cfg: &self.collect,
        }
    }

    /// The normalisation the next update moves the policy to.
    pub fn next_norm(&self) -> ObsNorm<O> {
        if self.track_obs {
            ObsNorm {
                stats: self.stats.obs,
                ..self.trainer.norm
            }
        } else {
            self.trainer.norm
        }
    }

    /// [`Learner::iterate`] with the update's working storage lent
    /// ([`Trainer::update_lent`]). One iteration. `collect` fills `batch`
    /// and `gae` by acting with the [`Behaviour`] it is given (it may use `rng`, or streams of its own)
    /// and reports each segment's statistics, in a fixed order, through
    /// the callback; then the statistics are merged and the trainer
    /// updated on the batch with `cfg`, `rng` and `backend`.
    ///
    /// # Errors
    /// [`LearnError::Collect`] (nothing is merged then) or
    /// [`LearnError::Update`] (the statistics are merged, the policy is
    /// unchanged).
    pub fn iterate_lent<R, B, C>(
        &mut self,
        lent: &mut L::Lent,
        batch: &mut [Transition<O, A>],
        gae: &mut [GaeStep],
        cfg: &Config,
        rng: &mut R,
        backend: &mut B,
        collect: C,
    ) -> Result<UpdateReport, LearnError>
    where
        R: RngCore + ?Sized,
        B: Backend<O, H, A>,
        C: FnOnce(
            &Behaviour<'_, O, H, A>,
            &mut [Transition<O, A>],
            &mut [GaeStep],
            &mut R,
            &mut dyn FnMut(&NormStats<O>),
        ) -> Result<(), CollectError>,
    {
        let mut merged = self.stats;
        let mut merge = |seen: &NormStats<O>| {
            merged.obs.merge(&seen.obs);
            merged.ret.stats.merge(&seen.ret.stats);
        };
        collect(&self.behaviour(), batch, gae, rng, &mut merge)?;
        self.stats = merged;
        let next = self.next_norm();
        Ok(self
            .trainer
            .update_lent(lent, batch, cfg, &next, rng, backend)?)
    }
}

/// The calls of a learner whose trainer holds its own working storage.
impl<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A, Lent = ()>>
    Learner<O, H, A, L>
{
    /// One iteration. `collect` fills `batch` and `gae` by acting with the
    /// [`Behaviour`] it is given (it may use `rng`, or streams of its own)
    /// and reports each segment's statistics, in a fixed order, through
    /// the callback; then the statistics are merged and the trainer
    /// updated on the batch with `cfg`, `rng` and `backend`.
    ///
    /// # Errors
    /// [`LearnError::Collect`] (nothing is merged then) or
    /// [`LearnError::Update`] (the statistics are merged, the policy is
    /// unchanged).
    pub fn iterate<R, B, C>(
        &mut self,
        batch: &mut [Transition<O, A>],
        gae: &mut [GaeStep],
        cfg: &Config,
        rng: &mut R,
        backend: &mut B,
        collect: C,
    ) -> Result<UpdateReport, LearnError>
    where
        R: RngCore + ?Sized,
        B: Backend<O, H, A>,
        C: FnOnce(
            &Behaviour<'_, O, H, A>,
            &mut [Transition<O, A>],
            &mut [GaeStep],
            &mut R,
            &mut dyn FnMut(&NormStats<O>),
        ) -> Result<(), CollectError>,
    {
        self.iterate_lent(&mut (), batch, gae, cfg, rng, backend, collect)
    }

    /// [`Learner::iterate`] with the environments stepped one after
    /// another, each with its own random stream, filling equal segments of
    /// the batch in order. `on_episode` sees every finished episode.
    ///
    /// # Errors
    /// As [`Learner::iterate`]; a batch whose length is not a multiple of
    /// the number of environments is [`CollectError::LengthMismatch`].
    #[allow(clippy::too_many_arguments)]
    pub fn iterate_serial<E, R, U, B>(
        &mut self,
        envs: &mut [EnvRunner<E, R, O>],
        batch: &mut [Transition<O, A>],
        gae: &mut [GaeStep],
        cfg: &Config,
        rng: &mut U,
        backend: &mut B,
        on_episode: &mut dyn FnMut(Episode),
    ) -> Result<UpdateReport, LearnError>
    where
        E: Env<O, A>,
        R: RngCore,
        U: RngCore + ?Sized,
        B: Backend<O, H, A>,
    {
        if envs.is_empty() || batch.len() % envs.len() != 0 {
            return Err(CollectError::LengthMismatch.into());
        }
        let steps = batch.len() / envs.len();
        self.iterate(batch, gae, cfg, rng, backend, |b, batch, gae, _, merge| {
            let segments = batch.chunks_mut(steps).zip(gae.chunks_mut(steps));
            for (r, (out, g)) in envs.iter_mut().zip(segments) {
                merge(&b.collect(&mut r.env, &mut r.slot, &mut r.rng, out, g, on_episode)?);
            }
            Ok(())
        })
    }
}
