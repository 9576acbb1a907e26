//! Environments stepped together, as a Gymnasium vector environment steps
//! them: [`VecEnv`], and the collection that drives one.
//!
//! Every environment takes every step, so each fills its own segment of
//! the batch through a [`SegmentWriter`] one step at a time. Whatever the
//! vector environment does at an episode's end, each segment gets exactly
//! its transitions:
//!
//! - the reset observation comes with the step that ended the episode
//!   ([`VecStep::Stepped`] with `reset_obs`: Gymnasium's same-step
//!   autoreset, or an adapter that resets at once);
//! - or with the next step, which ignores that environment's action
//!   ([`VecStep::Reset`]: Gymnasium's next-step autoreset, its default).
//!   That step is not a transition, so an environment that ended episodes
//!   fills its segment later than the others; environments whose segment
//!   is full meanwhile keep stepping with the behaviour policy, and those
//!   steps carry their episodes on without entering the batch.
//!
//! The observation before an episode's end is the step's own `obs`
//! (Gymnasium's `final_obs`), which a truncated episode bootstraps from.

use super::Runner;
use fixpo_core::env::{ActionSpace, Step};
use fixpo_core::fixpo::Transition;
use fixpo_core::gae::GaeStep;
use fixpo_core::learn::Behaviour;
use fixpo_core::rollout::{Acting, CollectError, SegmentWriter};

/// What one environment of a [`VecEnv`] did in one step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum VecStep<const O: usize> {
    /// It took the step: `step.obs` is the observation after it (the
    /// final one when the episode ended), and `reset_obs` the next
    /// episode's first observation when it was reset in the same call.
    Stepped {
        /// The step.
        step: Step<O>,
        /// The next episode's first observation, when reset in this call.
        reset_obs: Option<[f32; O]>,
    },
    /// It was reset instead (its episode had ended at the previous step
    /// and its action was ignored): the new episode's first observation.
    Reset {
        /// The first observation.
        obs: [f32; O],
    },
}

/// Environments that step together: `num_envs` of them, `O` observations
/// and `A` action values each.
///
/// A failure inside the environments is reported the way [`fixpo_core::Env`]
/// reports one: NaN observations or rewards, which the collection refuses
/// (the caller keeps the error itself, as fixpo-py keeps a Python
/// exception).
pub trait VecEnv<const O: usize, const A: usize>: Send {
    /// Number of environments.
    fn num_envs(&self) -> usize;
    /// The action space every environment shares.
    fn action_space(&self) -> ActionSpace<A>;
    /// Resets every environment: their first observations. Called once,
    /// before the first step.
    fn reset(&mut self) -> Vec<[f32; O]>;
    /// Steps every environment with its action (`actions[i]` for
    /// environment `i`) and writes what each did to `out` (cleared first;
    /// one entry per environment, in order).
    fn step(&mut self, actions: &[[f32; A]], out: &mut Vec<VecStep<O>>);
}

/// A vector environment and whether it has been reset.
pub(super) struct Lockstep<const O: usize, const A: usize> {
    pub(super) envs: Box<dyn VecEnv<O, A>>,
    pub(super) started: bool,
}

impl<const O: usize, const A: usize> Lockstep<O, A> {
    /// Fills one segment of `steps` transitions per environment of
    /// `runners` (whose episodes in progress and random streams it uses
    /// and updates) by stepping the vector environment with the behaviour
    /// policy `b`; each runner's `seen` and `episodes` get what its
    /// environment saw and finished.
    pub(super) fn collect<E, const H: usize>(
        &mut self,
        b: &Behaviour<'_, O, H, A>,
        runners: &mut [Runner<E, O>],
        batch: &mut [Transition<O, A>],
        gae: &mut [GaeStep],
        steps: usize,
    ) -> Result<(), CollectError> {
        let n = runners.len();
        if self.envs.num_envs() != n || batch.len() != n * steps || gae.len() != n * steps {
            return Err(CollectError::VecEnvMismatch);
        }
        let with = Acting {
            policy: b.policy,
            value: b.value,
            norm: b.norm,
            ret: b.ret,
            cfg: b.cfg,
            space: self.envs.action_space(),
        };
        let mut rngs = Vec::with_capacity(n);
        let mut episodes = Vec::with_capacity(n);
        let mut writers = Vec::with_capacity(n);
        let segments = batch.chunks_mut(steps).zip(gae.chunks_mut(steps));
        for (r, (out, g)) in runners.iter_mut().zip(segments) {
            r.seen = Default::default();
            r.episodes.clear();
            rngs.push(&mut r.run.rng);
            episodes.push(&mut r.episodes);
            writers.push(SegmentWriter::new(
                with,
                &mut r.run.slot,
                &mut r.seen,
                out,
                g,
            )?);
        }
        if !self.started {
            let first = self.envs.reset();
            if first.len() != n {
                return Err(CollectError::VecEnvMismatch);
            }
            for (w, obs) in writers.iter_mut().zip(first) {
                w.begin_episode(obs)?;
            }
            self.started = true;
        }
        // An environment whose episode ended at the last step of the
        // previous iteration, without a reset observation, resets now.
        let mut resetting: Vec<bool> = writers.iter().map(|w| w.needs_reset()).collect();
        let mut actions = vec![[0.0; A]; n];
        let mut results = Vec::with_capacity(n);
        while writers.iter().any(|w| !w.is_full()) {
            for i in 0..n {
                actions[i] = if resetting[i] {
                    [0.0; A]
                } else {
                    writers[i].act(&mut *rngs[i])?
                };
            }
            self.envs.step(&actions, &mut results);
            if results.len() != n {
                return Err(CollectError::VecEnvMismatch);
            }
            for (i, r) in results.drain(..).enumerate() {
                let w = &mut writers[i];
                match (r, resetting[i]) {
                    (VecStep::Reset { obs }, true) => {
                        w.begin_episode(obs)?;
                        resetting[i] = false;
                    }
                    (VecStep::Stepped { step, reset_obs }, false) => {
                        let eps = &mut *episodes[i];
                        w.observe(&step, &mut |ep| eps.push(ep))?;
                        match reset_obs {
                            Some(obs) if w.needs_reset() => w.begin_episode(obs)?,
                            Some(_) => return Err(CollectError::VecEnvMismatch),
                            None => resetting[i] = w.needs_reset(),
                        }
                    }
                    _ => return Err(CollectError::VecEnvMismatch),
                }
            }
        }
        writers.into_iter().try_for_each(SegmentWriter::finish)
    }
}
