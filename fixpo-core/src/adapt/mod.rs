//! On-device adaptation, written once for every firmware: a deployed
//! policy goes on training on the real plant, one *round* at a time, and
//! every round's update is checked by an independent checker before it is
//! kept.
//!
//! One round ([`Adapter::round`]), in the order it runs:
//!
//! 1. a fingerprint of the deployed policy π_old (every parameter, the
//!    observation statistics and the clip);
//! 2. [`Learner::iterate`]: one rollout of `batch.len()` steps on the plant
//!    with the stochastic policy, then one FixPO update, keeping the
//!    deployed normalisation (its statistics are part of the file);
//! 3. the independent check: the trainer's copy of π_old must have the
//!    fingerprint of step 1 (it is the policy that collected the rollout),
//!    and a [`TrustCheck`] recomputes D_KL(π_old ‖ π_new) at every raw
//!    observation of the rollout, against ε_KL;
//! 4. if either check fails, the update is reverted ([`Trainer::revert`]):
//!    the deployed policy stays π_old.
//!
//! The check is a trait so that this crate stays free of the checker's
//! maths: `fixpo_check::Independent` (the f64 checker, which shares no
//! maths with this crate) implements it, and so does any closure
//! `FnMut(Deployed, Deployed, &[Transition], f32) -> Verdict`.
//!
//! Set-up: [`load`] decodes a policy file straight into a [`Learner`]
//! (which a firmware keeps in a `static`, built by
//! [`Learner::zeroed`]), with the file's critic when it has one
//! (`docs/file-format.md`, version 2) or a fresh value network, and
//! returns the rest of the deployed controller ([`Deploy`]); [`Settings`]
//! holds the update and collection settings ([`Settings::device`] is the
//! preset the firmware uses); [`Rollout`] is the rollout's storage for a
//! batch of `N` transitions.
//!
//! ```
//! use fixpo_core::adapt::{self, Adapter, Deployed, Rollout, Settings, Verdict};
//! use fixpo_core::envs::Pendulum;
//! use fixpo_core::fixpo::Transition;
//! use fixpo_core::learn::Learner;
//! use fixpo_core::{Actor, PolicyKind, file};
//!
//! // A policy file (here: a zero policy with unit statistics).
//! let mut actor = Actor::<3, 8, 1>::zero(PolicyKind::Gaussian);
//! actor.action_low = [-2.0];
//! actor.action_high = [2.0];
//! let mut bytes = [0u8; file::max_encoded_len(3, 8, 1)];
//! let n = file::encode(&actor, &mut bytes)?;
//!
//! // A firmware keeps these in statics; `Box` keeps them off this stack.
//! let mut learner = Box::new(Learner::<3, 8, 1>::zeroed(PolicyKind::Gaussian));
//! let mut rollout = Box::new(Rollout::<3, 1, 60>::ZERO);
//! let settings = Settings::device(60);
//! let loaded = adapt::load(&bytes[..n], &mut learner, &settings)?;
//! assert!(!loaded.critic); // no critic in this file: V starts afresh
//!
//! // The plant (any `Env`) and the check (any `TrustCheck`; a firmware
//! // passes `fixpo_check::Independent`). This one trusts the update's own
//! // certified bound, so it only shows the shape.
//! let mut plant = Pendulum::new();
//! plant.max_episode_steps = 60;
//! let check = |_: Deployed<3, 8, 1>, _: Deployed<3, 8, 1>, _: &[Transition<3, 1>], _: f32| {
//!     Verdict { max_kl: 0.0, passed: true }
//! };
//! let mut adapter = Adapter::new(plant, check, settings.seed);
//! for _ in 0..2 {
//!     let r = adapter.round(&mut learner, &mut rollout, &settings.update).unwrap();
//!     assert!(r.kept && r.update.max_kl <= settings.update.eps_kl);
//! }
//! // The deployed controller after adaptation.
//! let mut after = actor;
//! loaded.deploy.stage(&learner.trainer.policy, &mut after);
//! # Ok::<(), fixpo_core::FileError>(())
//! ```

use crate::actor::Actor;
use crate::file::{self, FileError};
use crate::fixpo::{Config, Layout, Optimiser, Transition};
use crate::gae::GaeStep;
use crate::learn::Learner;
use crate::norm::{ObsNorm, RewardScaler};
use crate::policy::Policy;
use crate::rng::Pcg32;
use crate::rollout::CollectConfig;

mod keeper;
mod round;
mod total;

pub use keeper::{Decision, Keeper};
pub use round::{Adapter, Deployed, RoundReport, TrustCheck, Verdict, evaluate, fingerprint};
pub use total::{Factory, Total, TotalReport};

/// Update and collection settings of on-device adaptation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The update's hyperparameters.
    pub update: Config,
    /// γ, λ and the reward normalisation of collection.
    pub collect: CollectConfig,
    /// β at the first update.
    pub beta0: f32,
    /// Seed of exploration, shuffling and a fresh value network.
    pub seed: u64,
}

impl Settings {
    /// The device preset for rollouts of `rollout` transitions (one episode
    /// per update): the host's Pendulum settings (lr 1e-3, 10 epochs,
    /// C_β = 3, c_vf = 0.5 without value clipping, normalised advantages)
    /// with minibatches of a third of the rollout, the fixup check over the
    /// whole rollout, a tighter trust region (ε_KL = 0.2) for a policy that
    /// is already deployed, and γ = 0.9 (a control horizon of about ten
    /// steps, as the firmware's 20 Hz pendulum needs).
    pub const fn device(rollout: usize) -> Self {
        let third = if rollout >= 3 { rollout / 3 } else { 1 };
        Self {
            update: Config {
                epochs: 10,
                minibatch: third,
                fixup_minibatch: rollout,
                lr: 1e-3,
                eps_kl: 0.2,
                c_beta: 3.0,
                vf_coef: 0.5,
                vf_clip: 0.0,
                norm_adv: true,
                ..Config::REFERENCE
            },
            collect: CollectConfig {
                gamma: 0.9,
                lambda: 0.95,
                ..CollectConfig::REFERENCE
            },
            beta0: 1.0,
            seed: 0xADA9_7000,
        }
    }
}

/// The storage of one rollout of `N` transitions, as the update consumes
/// it (a firmware keeps it in a `static`, or shares it with boot-time
/// data).
#[derive(Clone, Copy, Debug)]
pub struct Rollout<const O: usize, const A: usize, const N: usize, W = ()> {
    /// The transitions.
    pub batch: [Transition<O, A>; N],
    /// GAE scratch of the same length.
    pub gae: [GaeStep; N],
    /// The working storage the round lends the update when the trainer's
    /// layout does not hold its own (`fixpo::Lean`: a `fixpo::Work`);
    /// `()` otherwise.
    pub lent: W,
}

impl<const O: usize, const A: usize, const N: usize> Rollout<O, A, N> {
    /// Every number zero.
    pub const ZERO: Self = Self::with_lent(());
}

impl<const O: usize, const A: usize, const N: usize, W> Rollout<O, A, N, W> {
    /// Every number zero, with `lent` as the working storage.
    pub const fn with_lent(lent: W) -> Self {
        Self {
            batch: [Transition::ZERO; N],
            gae: [GaeStep {
                reward: 0.0,
                value: 0.0,
                next_value: 0.0,
                terminated: false,
                done: false,
            }; N],
            lent,
        }
    }
}

/// What a policy file says besides the network: how to normalise
/// observations and where to clip actions. Kept while the network itself
/// lives in the trainer, so the policy is never stored twice.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Deploy<const O: usize, const A: usize> {
    /// The observation normalisation (statistics and clip).
    pub norm: ObsNorm<O>,
    /// Lower action bounds.
    pub low: [f32; A],
    /// Upper action bounds.
    pub high: [f32; A],
}

impl<const O: usize, const A: usize> Deploy<O, A> {
    /// Everything of `actor` but its network.
    pub fn of<const H: usize>(actor: &Actor<O, H, A>) -> Self {
        Self {
            norm: ObsNorm {
                stats: actor.obs_norm,
                clip: actor.obs_clip,
            },
            low: actor.action_low,
            high: actor.action_high,
        }
    }

    /// Puts `policy` together with this normalisation and these bounds into
    /// `out`, field by field (no `Actor` temporary on the stack).
    pub fn stage<const H: usize>(&self, policy: &Policy<O, H, A>, out: &mut Actor<O, H, A>) {
        out.policy = *policy;
        out.obs_norm = self.norm.stats;
        out.obs_clip = self.norm.clip;
        out.action_low = self.low;
        out.action_high = self.high;
    }
}

/// What [`load`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Loaded<const O: usize, const A: usize> {
    /// The deployed controller besides its network.
    pub deploy: Deploy<O, A>,
    /// Whether the file had a critic (else V starts afresh, with unit
    /// return statistics).
    pub critic: bool,
}

/// Decodes a policy file straight into `learner` and sets it up for
/// adaptation with `settings`: the policy and its normalisation go into
/// the trainer; the file's critic (value network and return statistics)
/// too, or else a fresh value network (seeded by `settings.seed`) and
/// unit return statistics; β, the optimisers and the collection settings
/// start afresh, and the observation statistics stay the file's (they
/// are part of the deployed policy). No `Actor` is built on the stack.
///
/// # Errors
/// Any [`FileError`] of [`file::decode_parts`]; `learner` is then
/// unchanged.
pub fn load<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A>>(
    bytes: &[u8],
    learner: &mut Learner<O, H, A, L>,
    settings: &Settings,
) -> Result<Loaded<O, A>, FileError> {
    let (mut low, mut high) = ([0.0; A], [0.0; A]);
    let t = &mut learner.trainer;
    let header = file::decode_parts(
        bytes,
        &mut t.policy,
        &mut t.norm,
        &mut low,
        &mut high,
        Some((&mut t.value, &mut learner.stats.ret.stats)),
    )?;
    let critic = header.critic.is_some();
    prepare(learner, critic, settings);
    Ok(Loaded {
        deploy: Deploy {
            norm: learner.trainer.norm,
            low,
            high,
        },
        critic,
    })
}

/// Writes the adapted controller as a version-2 policy file into `buf`:
/// the learner's policy with `deploy`'s normalisation and bounds, and its
/// critic (value network and return statistics), so that [`load`] resumes
/// adaptation where it stopped. No `Actor` is built on the stack. Returns
/// the length, [`file::encoded_len`]`(O, H, A, true)`.
///
/// # Errors
/// As [`file::encode_parts`] (a buffer too short, or a non-finite number
/// that the reader would refuse).
pub fn save<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A>>(
    learner: &Learner<O, H, A, L>,
    deploy: &Deploy<O, A>,
    buf: &mut [u8],
) -> Result<usize, FileError> {
    let t = &learner.trainer;
    file::encode_parts(
        &t.policy,
        &deploy.norm,
        &deploy.low,
        &deploy.high,
        Some((&t.value, &learner.stats.ret.stats)),
        buf,
    )
}

/// Sets up a learner whose policy, normalisation and (if `critic`) value
/// network and return statistics are in place; see [`load`].
pub fn prepare<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A>>(
    learner: &mut Learner<O, H, A, L>,
    critic: bool,
    settings: &Settings,
) {
    let t = &mut learner.trainer;
    if !critic {
        let mut rng = Pcg32::new(settings.seed, 0);
        t.value.init(&mut rng, core::f32::consts::SQRT_2, 1.0);
        learner.stats.ret = RewardScaler::default();
    }
    t.policy_opt.reset();
    t.value_opt.reset();
    t.beta = settings.beta0;
    t.beta_opt = crate::optim::ScalarAdam::NEW;
    learner.stats.obs = t.norm.stats;
    learner.collect = settings.collect;
    learner.track_obs = false;
}
