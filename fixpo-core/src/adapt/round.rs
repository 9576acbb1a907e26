//! One adaptation round ([`Adapter::round`]): rollout, update, the
//! independent check of the update's trust region and, with a cumulative
//! bound ([`Total`]), of the drift from the factory policy; revert when a
//! check fails. Also the checker's view of a deployed policy, its
//! fingerprint and the deterministic evaluation.

use crate::actor::Actor;
use crate::env::Env;
use crate::fixpo::{Config, Layout, Serial, Trainer, Transition, UpdateReport};
use crate::learn::{LearnError, Learner};
use crate::norm::ObsNorm;
use crate::params::Params;
use crate::policy::Policy;
use crate::rng::Pcg32;
use crate::rollout::{EnvSlot, Episode, evaluate_episode};

use super::Rollout;
use super::total::{Factory, Total, TotalReport};

/// A deployed policy as a checker sees it: the network and the
/// normalisation it reads raw observations through.
#[derive(Clone, Copy, Debug)]
pub struct Deployed<'a, const O: usize, const H: usize, const A: usize> {
    /// The policy.
    pub policy: &'a Policy<O, H, A>,
    /// Its observation normalisation.
    pub norm: &'a ObsNorm<O>,
}

/// What a [`TrustCheck`] found.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Verdict {
    /// The largest divergence found (`+∞` if any was not finite).
    pub max_kl: f64,
    /// Every state inside the trust region (a finite KL ≤ ε_KL).
    pub passed: bool,
}

/// An independent check of one update's trust region: D_KL(old ‖ new)
/// ≤ `eps_kl` at the raw observation of every transition of `batch`.
pub trait TrustCheck<const O: usize, const H: usize, const A: usize> {
    /// Checks the pair at every state of `batch`.
    fn check(
        &mut self,
        old: Deployed<'_, O, H, A>,
        new: Deployed<'_, O, H, A>,
        batch: &[Transition<O, A>],
        eps_kl: f32,
    ) -> Verdict;
}

impl<F, const O: usize, const H: usize, const A: usize> TrustCheck<O, H, A> for F
where
    F: FnMut(Deployed<'_, O, H, A>, Deployed<'_, O, H, A>, &[Transition<O, A>], f32) -> Verdict,
{
    fn check(
        &mut self,
        old: Deployed<'_, O, H, A>,
        new: Deployed<'_, O, H, A>,
        batch: &[Transition<O, A>],
        eps_kl: f32,
    ) -> Verdict {
        self(old, new, batch, eps_kl)
    }
}

/// What one round did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundReport {
    /// The update's own report (its certified max KL, β, fixup steps…).
    pub update: UpdateReport,
    /// Return of the last episode that finished during the rollout (NaN if
    /// none did).
    pub episode_return: f32,
    /// The independent check of D_KL(π_old ‖ π) ≤ ε_KL, for the policy the
    /// round kept (or the last one it tried).
    pub check: Verdict,
    /// The trainer's copy of π_old is the policy that collected the
    /// rollout.
    pub fingerprint_ok: bool,
    /// The cumulative bound's outcome ([`Adapter::round_within`]); `None`
    /// without one.
    pub total: Option<TotalReport>,
    /// Every check passed and the new policy is deployed; otherwise the
    /// update was reverted and π_old stays.
    pub kept: bool,
}

/// The plant, its episode in progress, the random stream and the check:
/// what rounds carry from one to the next.
#[derive(Clone, Debug)]
pub struct Adapter<E, C, const O: usize> {
    /// The plant.
    pub env: E,
    /// Its episode in progress.
    pub slot: EnvSlot<O>,
    /// Exploration and minibatch shuffling.
    pub rng: Pcg32,
    /// The independent check.
    pub check: C,
}

impl<E, C, const O: usize> Adapter<E, C, O> {
    /// Rounds on `env`, checked by `check`, drawing from stream 1 of
    /// `seed`.
    pub fn new(env: E, check: C, seed: u64) -> Self {
        Self {
            env,
            slot: EnvSlot::NEW,
            rng: Pcg32::new(seed, 1),
            check,
        }
    }

    /// One round: rollout, update, independent check, revert on failure
    /// (see the [module docs](super)). The rollout is
    /// `rollout.batch.len()` steps of the plant.
    ///
    /// # Errors
    /// [`LearnError`]: the rollout failed or the update was refused; the
    /// deployed policy is then unchanged.
    pub fn round<const H: usize, const A: usize, const N: usize, L: Layout<O, H, A>>(
        &mut self,
        learner: &mut Learner<O, H, A, L>,
        rollout: &mut Rollout<O, A, N, L::Lent>,
        cfg: &Config,
    ) -> Result<RoundReport, LearnError>
    where
        E: Env<O, A>,
        C: TrustCheck<O, H, A>,
    {
        self.round_with::<H, A, N, L, &[u8]>(learner, rollout, cfg, None)
    }

    /// [`Adapter::round`] under the cumulative bound `total` as well: the
    /// policy kept is within ε_KL of π_old and within ε_total of the
    /// factory policy at every state of the rollout, both checked by the
    /// round's check (see [`super::total`]).
    ///
    /// # Errors
    /// As [`Adapter::round`].
    pub fn round_within<const H: usize, const A: usize, const N: usize, L, F>(
        &mut self,
        learner: &mut Learner<O, H, A, L>,
        rollout: &mut Rollout<O, A, N, L::Lent>,
        cfg: &Config,
        total: &mut Total<F>,
    ) -> Result<RoundReport, LearnError>
    where
        E: Env<O, A>,
        C: TrustCheck<O, H, A>,
        L: Layout<O, H, A>,
        F: Factory<O, H, A>,
    {
        self.round_with(learner, rollout, cfg, Some(total))
    }

    /// [`Adapter::round_within`] when `total` is given, else
    /// [`Adapter::round`] (one call site for a caller whose bound is
    /// optional).
    ///
    /// # Errors
    /// As [`Adapter::round`].
    pub fn round_with<const H: usize, const A: usize, const N: usize, L, F>(
        &mut self,
        learner: &mut Learner<O, H, A, L>,
        rollout: &mut Rollout<O, A, N, L::Lent>,
        cfg: &Config,
        total: Option<&mut Total<F>>,
    ) -> Result<RoundReport, LearnError>
    where
        E: Env<O, A>,
        C: TrustCheck<O, H, A>,
        L: Layout<O, H, A>,
        F: Factory<O, H, A>,
    {
        let old_fp = fingerprint(&learner.trainer.policy, &learner.trainer.norm);
        let mut episode_return = f32::NAN;
        let (env, slot) = (&mut self.env, &mut self.slot);
        let update = learner.iterate_lent(
            &mut rollout.lent,
            &mut rollout.batch,
            &mut rollout.gae,
            cfg,
            &mut self.rng,
            &mut Serial,
            |b, batch, gae, rng, merge| {
                let seen = b.collect(env, slot, rng, batch, gae, &mut |ep| {
                    episode_return = ep.ret;
                })?;
                merge(&seen);
                Ok(())
            },
        )?;
        let trainer = &mut learner.trainer;
        let Rollout { batch, lent, .. } = rollout;
        let (prev, prev_norm) = trainer.previous_and_current_lent(lent).0;
        let fingerprint_ok = fingerprint(prev, prev_norm) == old_fp;
        let batch = &batch[..];
        let mut check = step_check(&mut self.check, trainer, lent, batch, cfg.eps_kl);
        let mut kept = fingerprint_ok && check.passed;
        let mut total_report = None;
        if let (true, Some(total)) = (kept, total) {
            let r = enforce_total(
                &mut self.check,
                trainer,
                lent,
                batch,
                cfg.eps_kl,
                total,
                &mut check,
            );
            kept = r.t > 0.0;
            total_report = Some(r);
        }
        if !kept {
            trainer.revert_lent(lent);
        }
        Ok(RoundReport {
            update,
            episode_return,
            check,
            fingerprint_ok,
            total: total_report,
            kept,
        })
    }
}

/// The check of D_KL(π_old ‖ π) ≤ `eps_kl` for the trainer's current pair.
/// With a partial layout, π_old is rebuilt in the trainer's spare buffer
/// ([`Trainer::previous`]).
fn step_check<C, L, const O: usize, const H: usize, const A: usize>(
    check: &mut C,
    trainer: &mut Trainer<O, H, A, L>,
    lent: &mut L::Lent,
    batch: &[Transition<O, A>],
    eps_kl: f32,
) -> Verdict
where
    C: TrustCheck<O, H, A>,
    L: Layout<O, H, A>,
{
    let ((prev, prev_norm), (policy, norm)) = trainer.previous_and_current_lent(lent);
    check.check(
        Deployed {
            policy: prev,
            norm: prev_norm,
        },
        Deployed { policy, norm },
        batch,
        eps_kl,
    )
}

/// Halves the update's step until the policy is within ε_total of the
/// factory policy and within ε_KL of π_old (`step` holds the latter's
/// verdict for the policy the trainer holds), or reports t = 0 (the caller
/// reverts). The policy π passed both checks on entry except ε_total.
/// The factory policy lives in the trainer's spare buffer, loaded again
/// after a step check (which may rebuild π_old there).
/// Not inlined: its frame stays off the stack of the update it follows.
#[inline(never)]
fn enforce_total<C, F, L, const O: usize, const H: usize, const A: usize>(
    check: &mut C,
    trainer: &mut Trainer<O, H, A, L>,
    lent: &mut L::Lent,
    batch: &[Transition<O, A>],
    eps_kl: f32,
    total: &mut Total<F>,
    step: &mut Verdict,
) -> TotalReport
where
    C: TrustCheck<O, H, A>,
    F: Factory<O, H, A>,
    L: Layout<O, H, A>,
{
    let mut norm = trainer.norm;
    let mut report = TotalReport {
        drift: Verdict {
            max_kl: f64::INFINITY,
            passed: false,
        },
        t: 0.0,
        halvings: 0,
        factory_error: None,
    };
    let mut t = 1.0f32;
    let mut loaded = false;
    loop {
        if !loaded {
            if let Err(e) = total
                .factory
                .load(trainer.spare_policy_lent(lent), &mut norm)
            {
                report.factory_error = Some(e);
                return report;
            }
            loaded = true;
        }
        let factory = Deployed {
            policy: trainer.spare_lent(lent),
            norm: &norm,
        };
        let current = Deployed {
            policy: &trainer.policy,
            norm: &trainer.norm,
        };
        report.drift = check.check(factory, current, batch, total.eps_total);
        if report.drift.passed {
            if report.halvings > 0 {
                *step = step_check(check, trainer, lent, batch, eps_kl);
                loaded = false;
            }
            if step.passed {
                report.t = t;
                return report;
            }
        }
        if report.halvings == total.max_halvings {
            return report;
        }
        trainer.halve_towards_previous_lent(lent);
        report.halvings += 1;
        t *= 0.5;
    }
}

/// Fingerprint of a deployed policy's every number (parameters, kind,
/// statistics, clip), to tell that two copies are the same policy.
pub fn fingerprint<const O: usize, const H: usize, const A: usize>(
    policy: &Policy<O, H, A>,
    norm: &ObsNorm<O>,
) -> u64 {
    let mut h = 0x9E37_79B9_7F4A_7C15u64;
    let mut eat = |x: u64| {
        h = (h ^ x).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 31;
    };
    eat(policy.kind as u64);
    for k in 0..Policy::<O, H, A>::SLICES {
        policy.slice(k).iter().for_each(|x| eat(x.to_bits().into()));
    }
    let s = &norm.stats;
    s.mean
        .iter()
        .chain(&s.var)
        .chain([&norm.clip])
        .for_each(|x| eat(x.to_bits().into()));
    eat(s.count.to_bits());
    h
}

/// Mean deterministic return of `actor` on `env` over `episodes` episodes,
/// episode `k` starting from the stream `(seed, k)` (so two evaluations
/// with the same seed compare the same starts); `on_episode` sees each.
pub fn evaluate<E, const O: usize, const H: usize, const A: usize>(
    env: &mut E,
    actor: &Actor<O, H, A>,
    episodes: u64,
    seed: u64,
    on_episode: &mut dyn FnMut(u64, Episode),
) -> f32
where
    E: Env<O, A>,
{
    let mut sum = 0.0;
    for k in 0..episodes {
        let mut rng = Pcg32::new(seed, k);
        let ep = evaluate_episode(env, actor, &mut rng, true);
        on_episode(k, ep);
        sum += ep.ret;
    }
    sum / episodes.max(1) as f32
}
