//! The training loop for any environment: [`Learner`].
//!
//! Each iteration is fixpo-core's [`fixpo_core::learn::Learner::iterate`]
//! with the environments stepped in parallel:
//!
//! 1. collect `num_envs × steps_per_env` transitions, environments stepped
//!    in parallel (each with its own random stream and its own segment of
//!    the batch), the policy acting with its own normalisation statistics;
//! 2. merge what the environments saw into the running statistics, in
//!    environment order;
//! 3. one update of the core's trainer on the batch that also moves the
//!    policy to those statistics: the trust region is checked between the
//!    behaviour policy with its statistics and the new policy with the new
//!    ones, at the batch's raw observations (`docs/guarantee.md`); its
//!    minibatch kernels are split across cores by [`RayonBackend`];
//! 4. now and then, evaluate the deterministic policy;
//! 5. report the iteration to the [`Observer`] (metrics files, progress
//!    bars and checkpoints are observers).
//!
//! Nothing in the loop depends on the number of threads, so a seed fixes
//! every number the run produces except timings.
//!
//! ```no_run
//! use fixpo_host::config::RunConfig;
//! use fixpo_host::{Learner, Silent};
//! use fixpo_core::envs::Pendulum;
//!
//! // Any `fixpo_core::Env`: here a built-in one, 3 observations, 1 action.
//! let mut cfg = RunConfig::reference("my-pendulum");
//! cfg.total_steps = 50_000;
//! let mut learner = Learner::<_, 3, 64, 1>::new(Pendulum::new, cfg)?;
//! let summary = learner.run(&mut Silent)?;
//! std::fs::write("policy.fxp", learner.policy_file()?)?;
//! println!("last evaluation: {:?}", summary.last_eval);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod lockstep;
mod save;

pub use lockstep::{VecEnv, VecStep};

use crate::backend::RayonBackend;
use crate::checkpoint::CheckpointData;
use crate::config::RunConfig;
use crate::error::{HostError, Result};
use crate::metrics::IterMetrics;
use crate::policy;
use crate::tasks::{EnvState, Task};

pub use crate::observe::{Observer, RunState, Silent, StopReason, TrainSummary, UpdateRecord};
use fixpo_core::PolicyKind;
use fixpo_core::actor::Actor;
use fixpo_core::env::{ActionSpace, Env};
use fixpo_core::file::Critic;
use fixpo_core::fixpo::{Config, Transition};
use fixpo_core::gae::GaeStep;
use fixpo_core::learn::{self, EnvRunner, LearnError};
use fixpo_core::norm::{ObsNorm, RunningMeanStd};
use fixpo_core::optim::linear_decay;
use fixpo_core::rng::Pcg32;
use fixpo_core::rollout::{Episode, NormStats, RewardNorm, evaluate_episode};
use rayon::prelude::*;
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

/// Training episodes averaged into `return_mean`.
pub const RETURN_WINDOW: usize = 20;

/// Random stream numbers, so each consumer draws from its own stream.
const STREAM_INIT: u64 = 1;
const STREAM_UPDATE: u64 = 2;
const STREAM_ENV_BASE: u64 = 1 << 32;
/// Evaluation episodes use the seed xor this, stream = episode index: the
/// same start states at every evaluation of a run.
const EVAL_SALT: u64 = 0xE7A1_5EED_0000_0000;

/// Saves and restores an environment's episode in progress.
struct EnvStateFns<E> {
    snapshot: fn(&E) -> EnvState,
    restore: fn(&mut E, &EnvState) -> Result<()>,
}

/// One rollout task's environments with their part of the batch and of
/// the GAE scratch.
type Segment<'a, E, const O: usize, const A: usize> = (
    (&'a mut [Runner<E, O>], &'a mut [Transition<O, A>]),
    &'a mut [GaeStep],
);

/// One environment with everything it carries across iterations.
struct Runner<E, const O: usize> {
    run: EnvRunner<E, Pcg32, O>,
    /// Normalisation statistics seen this iteration.
    seen: NormStats<O>,
    /// Episodes finished this iteration.
    episodes: Vec<Episode>,
}

/// What a run has done so far.
#[derive(Clone, Debug, Default)]
struct Counters {
    iter: u64,
    env_steps: u64,
    wall_s: f64,
    episodes: u64,
    recent: VecDeque<f32>,
    target_reached: Option<(u64, f64)>,
}

/// Trains a FixPO policy with `H` hidden units on any environment `E`
/// with `O` observations and `A` actions.
pub struct Learner<E, const O: usize, const H: usize, const A: usize> {
    cfg: RunConfig,
    make_env: Arc<dyn Fn() -> E + Send + Sync>,
    env_state: Option<EnvStateFns<E>>,
    core: Box<learn::Learner<O, H, A>>,
    backend: RayonBackend<O, H, A>,
    low: [f32; A],
    high: [f32; A],
    envs: Vec<Runner<E, O>>,
    update_rng: Pcg32,
    batch: Vec<Transition<O, A>>,
    gae: Vec<GaeStep>,
    done: Counters,
    /// Step environments and run evaluations on the calling thread.
    serial: bool,
    /// Collect from these environments stepped together instead.
    lockstep: Option<lockstep::Lockstep<O, A>>,
}

impl<E, const O: usize, const H: usize, const A: usize> Learner<E, O, H, A>
where
    E: Env<O, A> + Send + 'static,
{
    /// A learner for environments made by `make_env` (called once per
    /// environment and once per evaluation episode), with `config`
    /// (`config.env` is only a label here; `config.hidden` must be `H`).
    /// A continuous action space gets a Gaussian policy, a discrete one a
    /// categorical policy.
    ///
    /// # Errors
    /// [`HostError::BadConfig`] for an invalid setting.
    pub fn new(
        make_env: impl Fn() -> E + Send + Sync + 'static,
        config: RunConfig,
    ) -> Result<Self> {
        config.validate_training()?;
        if config.hidden != H {
            return Err(HostError::bad(
                "hidden",
                format!(
                    "the configuration says {} but this learner has {H} hidden units",
                    config.hidden
                ),
            ));
        }
        let cfg = config;
        let make_env: Arc<dyn Fn() -> E + Send + Sync> = Arc::new(make_env);
        let template = make_env();
        let (low, high, kind) = match template.action_space() {
            ActionSpace::Continuous { low, high } => (low, high, PolicyKind::Gaussian),
            ActionSpace::Discrete => ([-1.0; A], [1.0; A], PolicyKind::Categorical),
        };
        let mut core = Box::new(learn::Learner::new(
            kind,
            ObsNorm {
                stats: RunningMeanStd::NEW,
                clip: cfg.obs_clip,
            },
            cfg.collect,
            cfg.norm_obs,
        ));
        core.trainer.init(
            &mut Pcg32::new(cfg.seed, STREAM_INIT),
            cfg.log_std_init,
            cfg.beta0,
        );
        let steps = cfg.steps_per_env;
        let envs = (0..cfg.num_envs)
            .map(|i| Runner {
                run: EnvRunner::new(make_env(), Pcg32::new(cfg.seed, STREAM_ENV_BASE + i as u64)),
                seen: NormStats::default(),
                // An episode ends at most once per step.
                episodes: Vec::with_capacity(steps),
            })
            .collect();
        let n = cfg.batch_size();
        Ok(Self {
            make_env,
            env_state: None,
            core,
            backend: RayonBackend::new(kind),
            low,
            high,
            envs,
            update_rng: Pcg32::new(cfg.seed, STREAM_UPDATE),
            batch: vec![Transition::ZERO; n],
            gae: vec![GaeStep::default(); n],
            done: Counters::default(),
            serial: false,
            lockstep: None,
            cfg,
        })
    }

    /// Steps the environments (and runs the evaluations) one after another
    /// on the thread that calls [`Learner::run`] instead of across cores;
    /// the update stays parallel. For environments that must be stepped on
    /// one thread (Python environments under the GIL). Every number the
    /// run produces is the same either way.
    pub fn set_serial_collection(&mut self, serial: bool) {
        self.serial = serial;
    }

    /// Collects from `envs`, environments stepped together (a vector
    /// environment), instead of from environments made by `make_env`,
    /// which then only serve evaluations. Collection runs on the calling
    /// thread; see [`VecEnv`] for how episodes' ends are handled.
    ///
    /// # Errors
    /// [`HostError::BadConfig`] when `envs` has another number of
    /// environments than `num_envs`, or another action space than the
    /// learner's.
    pub fn set_vec_env(&mut self, envs: Box<dyn VecEnv<O, A>>) -> Result<()> {
        if envs.num_envs() != self.cfg.num_envs {
            return Err(HostError::bad(
                "num_envs",
                format!(
                    "is {} but the vector environment has {} environments",
                    self.cfg.num_envs,
                    envs.num_envs()
                ),
            ));
        }
        let same_space = match envs.action_space() {
            ActionSpace::Continuous { low, high } => {
                self.core.trainer.policy.kind == PolicyKind::Gaussian
                    && low == self.low
                    && high == self.high
            }
            ActionSpace::Discrete => self.core.trainer.policy.kind == PolicyKind::Categorical,
        };
        if !same_space {
            return Err(HostError::bad(
                "env",
                "the vector environment's action space differs from its environments'",
            ));
        }
        self.lockstep = Some(lockstep::Lockstep {
            envs,
            started: false,
        });
        self.serial = true;
        Ok(())
    }

    /// Trains until `total_steps` environment steps in all (so a further
    /// [`Learner::run`] continues a finished run); the learning-rate decay
    /// follows the new total.
    ///
    /// # Errors
    /// [`HostError::BadConfig`] for 0.
    pub fn set_total_steps(&mut self, total_steps: u64) -> Result<()> {
        if total_steps == 0 {
            return Err(HostError::bad("total_steps", "must be at least 1"));
        }
        self.cfg.total_steps = total_steps;
        Ok(())
    }

    /// The run's configuration.
    pub fn config(&self) -> &RunConfig {
        &self.cfg
    }

    /// Iterations done.
    pub fn iterations(&self) -> u64 {
        self.done.iter
    }

    /// Environment steps taken.
    pub fn env_steps(&self) -> u64 {
        self.done.env_steps
    }

    /// The trainer: networks, optimisers, β and the normalisation the
    /// policy acts with.
    pub fn trainer(&self) -> &fixpo_core::Trainer<O, H, A> {
        &self.core.trainer
    }

    /// Statistics of everything collected so far (observations and
    /// discounted returns).
    pub fn stats(&self) -> &NormStats<O> {
        &self.core.stats
    }

    /// The deployable controller for the current policy.
    pub fn actor(&self) -> Actor<O, H, A> {
        let t = &self.core.trainer;
        Actor {
            policy: t.policy,
            obs_norm: t.norm.stats,
            obs_clip: t.norm.clip,
            action_low: self.low,
            action_high: self.high,
        }
    }

    /// The critic the policy was trained with: the value function and the
    /// statistics of the discounted return its targets were scaled by
    /// (unit statistics when rewards are not normalised, so the device
    /// scales by 1).
    pub fn critic(&self) -> Critic<O, H> {
        let ret = match self.core.collect.reward_norm {
            RewardNorm::Off => RunningMeanStd::NEW,
            RewardNorm::RewardScale | RewardNorm::ValueTargets => self.core.stats.ret.stats,
        };
        Critic {
            value: self.core.trainer.value,
            ret,
        }
    }

    /// The current policy's file, with its critic (version 2): what `fixpo
    /// eval`, `fixpo inspect` and the firmware load; a device that
    /// fine-tunes the policy starts from the critic.
    ///
    /// # Errors
    /// [`HostError::PolicyFile`] when the policy cannot be encoded.
    pub fn policy_file(&self) -> Result<Vec<u8>> {
        policy::encode_with_critic(&self.actor(), Some(&self.critic()), Path::new("<policy>"))
    }

    /// Mean undiscounted return of `episodes` episodes of the current
    /// policy (deterministic actions, or sampled ones), episode `i`
    /// starting from the stream `(seed, i)`.
    pub fn evaluate(&self, episodes: u32, seed: u64, deterministic: bool) -> Vec<f32> {
        if self.serial {
            let actor = self.actor();
            return (0..episodes)
                .map(|i| {
                    let mut env = (self.make_env)();
                    let mut rng = Pcg32::new(seed, u64::from(i));
                    evaluate_episode(&mut env, &actor, &mut rng, deterministic).ret
                })
                .collect();
        }
        policy::evaluate_with(
            &*self.make_env,
            &self.actor(),
            episodes,
            seed,
            deterministic,
        )
    }

    fn eval(&self) -> f32 {
        let r = self.evaluate(self.cfg.eval_episodes, self.cfg.seed ^ EVAL_SALT, true);
        r.iter().sum::<f32>() / r.len().max(1) as f32
    }

    /// Steps every environment `steps_per_env` times in parallel, then
    /// updates: one iteration of fixpo-core's loop. Returns the update's
    /// report and the seconds spent collecting.
    fn iterate(&mut self, cfg: &Config, iter: u64) -> Result<(fixpo_core::UpdateReport, f64)> {
        let per_worker = self.cfg.envs_per_worker;
        let steps = self.cfg.steps_per_env;
        let serial = self.serial;
        let Self {
            core,
            envs,
            batch,
            gae,
            update_rng,
            backend,
            done,
            lockstep,
            ..
        } = self;
        let mut collect_s = 0.0;
        let collect = |b: &learn::Behaviour<'_, O, H, A>,
                       batch: &mut [Transition<O, A>],
                       gae: &mut [GaeStep],
                       _: &mut Pcg32,
                       merge: &mut dyn FnMut(&NormStats<O>)| {
            let t0 = Instant::now();
            let work = |((runners, out), gae): Segment<'_, E, O, A>|
             -> std::result::Result<(), fixpo_core::rollout::CollectError> {
                for (k, r) in runners.iter_mut().enumerate() {
                    r.episodes.clear();
                    let episodes = &mut r.episodes;
                    let e = &mut r.run;
                    r.seen = b.collect(
                        &mut e.env,
                        &mut e.slot,
                        &mut e.rng,
                        &mut out[k * steps..(k + 1) * steps],
                        &mut gae[k * steps..(k + 1) * steps],
                        &mut |ep| episodes.push(ep),
                    )?;
                }
                Ok(())
            };
            let chunk = per_worker * steps;
            if let Some(l) = lockstep {
                l.collect(b, envs, batch, gae, steps)?;
            } else if serial {
                envs.chunks_mut(per_worker)
                    .zip(batch.chunks_mut(chunk))
                    .zip(gae.chunks_mut(chunk))
                    .try_for_each(work)?;
            } else {
                envs.par_chunks_mut(per_worker)
                    .zip(batch.par_chunks_mut(chunk))
                    .zip(gae.par_chunks_mut(chunk))
                    .try_for_each(work)?;
            }
            // Merge in environment order: the statistics do not depend on
            // which thread ran which environment.
            for r in envs.iter() {
                merge(&r.seen);
                for ep in &r.episodes {
                    if done.recent.len() == RETURN_WINDOW {
                        done.recent.pop_front();
                    }
                    done.recent.push_back(ep.ret);
                    done.episodes += 1;
                }
            }
            collect_s = t0.elapsed().as_secs_f64();
            Ok(())
        };
        core.iterate(batch, gae, cfg, update_rng, backend, collect)
            .map(|rep| (rep, collect_s))
            .map_err(|e| match e {
                LearnError::Collect(source) => HostError::Collect { iter, source },
                LearnError::Update(source) => HostError::Update { iter, source },
                other => HostError::bad("update", other.to_string()),
            })
    }

    /// Trains until `total_steps` environment steps are taken, an
    /// evaluation reaches `target_return`, or `observer` asks to stop;
    /// reports every iteration to `observer`.
    ///
    /// # Errors
    /// A collection or update the core refused ([`HostError::Collect`],
    /// [`HostError::Update`]; the learner keeps the last good policy), or
    /// an observer's error.
    pub fn run(&mut self, observer: &mut dyn Observer) -> Result<TrainSummary> {
        observer.on_start(&self.cfg, self.done.iter, self.done.env_steps)?;
        let mut sum = TrainSummary {
            stop: StopReason::Finished,
            iters: self.done.iter,
            env_steps: self.done.env_steps,
            wall_s: self.done.wall_s,
            collect_s: 0.0,
            update_s: 0.0,
            eval_s: 0.0,
            last_eval: None,
            target_reached: self.done.target_reached,
            primary_grad_steps: 0,
            fixup_grad_steps: 0,
            kl_violations: 0,
            reverts: 0,
            updates: 0,
        };
        let batch = self.batch.len() as u64;
        let wall0 = self.done.wall_s;
        let start = Instant::now();
        while self.done.env_steps < self.cfg.total_steps {
            let t0 = Instant::now();
            let base = self.cfg.update;
            let lr = if self.cfg.lr_decay {
                linear_decay(base.lr, self.done.env_steps, self.cfg.total_steps)
            } else {
                base.lr
            };
            let iter = self.done.iter + 1;
            let cfg = Config { lr, ..base };
            let behaviour = observer.wants_updates().then(|| self.actor());
            let (rep, collect_s) = self.iterate(&cfg, iter)?;
            let t2 = Instant::now();
            if let Some(b) = behaviour {
                let here = Path::new("<update record>");
                observer.on_update(&UpdateRecord {
                    iter,
                    eps_kl: cfg.eps_kl,
                    obs_dim: O,
                    raw_obs: self.batch.iter().flat_map(|t| t.obs).collect(),
                    behaviour: policy::encode(&b, here)?,
                    deployed: policy::encode(&self.actor(), here)?,
                    report: rep,
                });
            }
            self.done.iter = iter;
            self.done.env_steps += batch;
            let last = self.done.env_steps >= self.cfg.total_steps;
            let every = u64::from(self.cfg.eval_every);
            let eval_return = if last || (every > 0 && iter % every == 0) {
                Some(self.eval())
            } else {
                None
            };
            let t3 = Instant::now();
            self.done.wall_s = wall0 + start.elapsed().as_secs_f64();
            if let (Some(target), Some(ret), None) = (
                self.cfg.target_return,
                eval_return,
                self.done.target_reached,
            ) && ret >= target
            {
                self.done.target_reached = Some((self.done.env_steps, self.done.wall_s));
            }
            let recent = &self.done.recent;
            let m = IterMetrics {
                iter,
                env_steps: self.done.env_steps,
                wall_s: self.done.wall_s,
                sps: batch as f64 / (t3 - t0).as_secs_f64().max(1e-9),
                return_mean: (!recent.is_empty())
                    .then(|| recent.iter().sum::<f32>() / recent.len() as f32),
                episodes: self.done.episodes,
                eval_return,
                max_kl: rep.max_kl,
                mean_kl: rep.mean_kl,
                eps_kl: cfg.eps_kl,
                beta: rep.beta,
                primary_grad_steps: rep.primary_grad_steps,
                fixup_grad_steps: rep.fixup_grad_steps,
                fixup_passes: rep.fixup_passes,
                backtrack_t: rep.backtrack_t,
                backtracks: rep.backtracks,
                reverted: rep.reverted,
                lr,
                policy_loss: rep.policy_loss,
                value_loss: rep.value_loss,
                entropy: rep.entropy,
                clip_frac: rep.clip_frac,
                grad_norm: rep.grad_norm,
                collect_s,
                update_s: (t2 - t0).as_secs_f64() - collect_s,
                eval_s: (t3 - t2).as_secs_f64(),
            };
            sum.collect_s += m.collect_s;
            sum.update_s += m.update_s;
            sum.eval_s += m.eval_s;
            sum.primary_grad_steps += u64::from(rep.primary_grad_steps);
            sum.fixup_grad_steps += u64::from(rep.fixup_grad_steps);
            // NaN counts as a violation.
            let inside = matches!(
                rep.max_kl.partial_cmp(&cfg.eps_kl),
                Some(std::cmp::Ordering::Less | std::cmp::Ordering::Equal)
            );
            sum.kl_violations += u64::from(!inside);
            sum.reverts += u64::from(rep.reverted);
            sum.updates += 1;
            if eval_return.is_some() {
                sum.last_eval = eval_return;
            }
            observer.on_iteration(&m, self)?;
            if self.cfg.target_return.is_some() && self.done.target_reached.is_some() {
                sum.stop = StopReason::TargetReached;
                break;
            }
            if observer.stop_requested() && !last {
                sum.stop = StopReason::Interrupted;
                break;
            }
        }
        sum.iters = self.done.iter;
        sum.env_steps = self.done.env_steps;
        sum.wall_s = self.done.wall_s;
        sum.target_reached = self.done.target_reached;
        observer.on_end(&sum, self)?;
        Ok(sum)
    }
}

impl<E, const O: usize, const H: usize, const A: usize> Learner<E, O, H, A>
where
    E: Task<O, A>,
{
    /// A learner for copies of `template`, a task that can save its
    /// episode in progress: its runs can be checkpointed and resumed
    /// exactly ([`RunState::checkpoint`], [`Learner::restore`]).
    ///
    /// # Errors
    /// As [`Learner::new`].
    pub fn for_task(template: E, config: RunConfig) -> Result<Self> {
        let mut l = Self::new(move || template.clone(), config)?;
        l.env_state = Some(EnvStateFns {
            snapshot: E::snapshot,
            restore: E::restore,
        });
        Ok(l)
    }
}

impl<E, const O: usize, const H: usize, const A: usize> RunState for Learner<E, O, H, A>
where
    E: Env<O, A> + Send + 'static,
{
    fn config(&self) -> &RunConfig {
        &self.cfg
    }

    fn policy_file(&self) -> Result<Vec<u8>> {
        Learner::policy_file(self)
    }

    fn checkpoint(&self) -> Option<CheckpointData> {
        Learner::checkpoint(self)
    }
}
