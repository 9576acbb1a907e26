//! The training loop, in the order it runs:
//!
//! 1. collect `num_envs × steps_per_env` transitions, environments stepped
//!    in parallel (each with its own random stream and its own segment of
//!    the batch), the policy acting with its own normalisation statistics;
//! 2. merge what the environments saw into the running statistics, in
//!    environment order;
//! 3. one update of the core's [`Trainer`] on the batch that also moves
//!    the policy to those statistics: the trust region is checked between
//!    the behaviour policy with its statistics and the new policy with the
//!    new ones, at the batch's raw observations (`docs/guarantee.md`); its
//!    minibatch kernels are split across cores by [`RayonBackend`];
//! 4. now and then, evaluate the deterministic policy;
//! 5. write a metrics line, and now and then a checkpoint and the policy.
//!
//! Nothing in the loop depends on the number of threads, so a seed fixes
//! every number the run produces except timings.

use crate::backend::RayonBackend;
use crate::checkpoint::{self, AdamState, CheckpointData, EnvCheckpoint, MeanVar};
use crate::config::RunConfig;
use crate::error::{HostError, Result};
use crate::io::{self, CHECKPOINT_FILE, CONFIG_FILE, CURVE_FILE, METRICS_FILE, POLICY_FILE};
use crate::metrics::{IterMetrics, read_metrics};
use crate::policy;
use crate::tasks::{self, HiddenVisitor, Task, TaskSpec, TaskVisitor};
use fixpo_core::actor::Actor;
use fixpo_core::fixpo::{Config, Trainer, Transition};
use fixpo_core::gae::GaeStep;
use fixpo_core::norm::{ObsNorm, RunningMeanStd};
use fixpo_core::optim::{Adam, linear_decay};
use fixpo_core::params::Params;
use fixpo_core::rng::Pcg32;
use fixpo_core::rollout::{CollectConfig, CollectError, EnvSlot, Episode, NormStats, collect};
use rayon::prelude::*;
use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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

/// How a training run is started.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The run's configuration. With `resume`, it must equal the
    /// checkpoint's apart from `total_steps`.
    pub config: RunConfig,
    /// Run directory; `None` trains without writing anything (benchmarks).
    pub out_dir: Option<PathBuf>,
    /// Continue from the checkpoint in `out_dir`.
    pub resume: bool,
    /// Overwrite a run already in `out_dir`.
    pub force: bool,
    /// Stop (as if interrupted) once this many iterations are done.
    pub stop_after_iters: Option<u64>,
    /// Set from another thread (Ctrl-C) to stop after the current iteration.
    pub stop: Option<Arc<AtomicBool>>,
    /// Write `curve.png` at the end.
    pub plot: bool,
}

impl TrainOptions {
    /// Options for a fresh run of `config` writing into `out_dir`.
    pub fn new(config: RunConfig, out_dir: Option<PathBuf>) -> Self {
        Self {
            config,
            out_dir,
            resume: false,
            force: false,
            stop_after_iters: None,
            stop: None,
            plot: true,
        }
    }
}

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// `total_steps` were taken.
    Finished,
    /// An evaluation reached `target_return`.
    TargetReached,
    /// Stopped early (Ctrl-C or `--stop-after-iters`); resumable.
    Interrupted,
}

/// What a finished (or stopped) run reports.
#[derive(Clone, Debug, serde::Serialize)]
pub struct TrainSummary {
    /// Why the run ended.
    pub stop: StopReason,
    /// Iterations done.
    pub iters: u64,
    /// Environment steps taken.
    pub env_steps: u64,
    /// Training wall time (s), from the first environment step.
    pub wall_s: f64,
    /// Time stepping environments (s), this process only.
    pub collect_s: f64,
    /// Time in updates (s), this process only.
    pub update_s: f64,
    /// Time evaluating (s), this process only.
    pub eval_s: f64,
    /// Last evaluation's mean return.
    pub last_eval: Option<f32>,
    /// First evaluation at or above `target_return`: (env steps, wall s).
    pub target_reached: Option<(u64, f64)>,
    /// Primary gradient steps, this process only.
    pub primary_grad_steps: u64,
    /// Fixup gradient steps, this process only.
    pub fixup_grad_steps: u64,
    /// Updates whose final max KL exceeded ε_KL, this process only.
    pub kl_violations: u64,
    /// Updates that returned the behaviour policy unchanged, this process
    /// only.
    pub reverts: u64,
    /// Updates run in this process.
    pub updates: u64,
}

/// One update as an auditor sees it: the two deployed policies and the
/// states the trust region covers.
#[derive(Clone, Debug)]
pub struct UpdateRecord {
    /// Iteration number, from 1.
    pub iter: u64,
    /// The trust-region radius of the update.
    pub eps_kl: f32,
    /// Observation dimension (`raw_obs` holds rows of this length).
    pub obs_dim: usize,
    /// The batch's raw observations, row after row.
    pub raw_obs: Vec<f32>,
    /// The policy file of the behaviour policy (the one that collected
    /// the batch), normalisation included.
    pub behaviour: Vec<u8>,
    /// The policy file of the policy deployed after the update.
    pub deployed: Vec<u8>,
    /// What the update reported.
    pub report: fixpo_core::UpdateReport,
}

/// Receives progress as the run goes.
pub trait Observer {
    /// Called once before the first iteration.
    fn on_start(&mut self, _config: &RunConfig, _start_iter: u64, _start_steps: u64) {}
    /// Called after every iteration.
    fn on_iteration(&mut self, _m: &IterMetrics) {}
    /// Whether [`Observer::on_update`] should be called (building the
    /// record costs two policy encodings and a copy of the batch).
    fn wants_updates(&self) -> bool {
        false
    }
    /// Called after every update when [`Observer::wants_updates`].
    fn on_update(&mut self, _u: &UpdateRecord) {}
    /// A note for the user (a file written, a warning).
    fn on_message(&mut self, _msg: &str) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// Trains as `opts` says.
///
/// # Errors
/// Any [`HostError`]: bad configuration, unusable output directory or
/// checkpoint, or an update or collection the core refused.
pub fn train(opts: &TrainOptions, observer: &mut dyn Observer) -> Result<TrainSummary> {
    opts.config.validate()?;
    if let Some(dir) = &opts.out_dir {
        io::prepare_dir(dir)?;
        if !opts.resume {
            if !opts.force && has_run(dir) {
                return Err(HostError::RunExists { path: dir.clone() });
            }
            // A fresh run must not leave an older run's checkpoint behind
            // for a later --resume to pick up.
            for f in [CHECKPOINT_FILE, POLICY_FILE, CURVE_FILE] {
                match std::fs::remove_file(dir.join(f)) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        return Err(HostError::io("cannot remove", dir.join(f), e));
                    }
                    _ => {}
                }
            }
        }
    }
    struct V<'a> {
        opts: &'a TrainOptions,
        observer: &'a mut dyn Observer,
    }
    impl TaskVisitor for V<'_> {
        type Out = Result<TrainSummary>;
        fn visit<const O: usize, const A: usize, E: Task<O, A>>(
            self,
            spec: TaskSpec<E>,
        ) -> Result<TrainSummary> {
            struct W<'a, const O: usize, const A: usize, E> {
                v: V<'a>,
                spec: TaskSpec<E>,
            }
            impl<const O: usize, const A: usize, E: Task<O, A>> HiddenVisitor for W<'_, O, A, E> {
                type Out = Result<TrainSummary>;
                fn visit<const H: usize>(self) -> Result<TrainSummary> {
                    let mut run = Run::<O, H, A, E>::new(self.spec, self.v.opts)?;
                    run.run(self.v.opts, self.v.observer)
                }
            }
            let hidden = self.opts.config.hidden;
            tasks::visit_hidden(hidden, W { v: self, spec })?
        }
    }
    let options = opts.config.env_option_pairs();
    tasks::visit_task_with(&opts.config.env.clone(), &options, V { opts, observer })?
}

/// Whether `dir` already holds a run's files.
fn has_run(dir: &Path) -> bool {
    [CHECKPOINT_FILE, METRICS_FILE, POLICY_FILE]
        .iter()
        .any(|f| dir.join(f).exists())
}

/// The configuration saved in the checkpoint of run directory `dir`.
///
/// # Errors
/// [`HostError::Io`] or [`HostError::Checkpoint`] when there is no usable
/// checkpoint.
pub fn checkpoint_config(dir: &Path) -> Result<RunConfig> {
    let path = dir.join(CHECKPOINT_FILE);
    let data = checkpoint::load(&path)?;
    RunConfig::from_toml(&data.config).map_err(|e| HostError::Checkpoint {
        path,
        reason: e.to_string(),
    })
}

/// One environment with everything it carries across iterations.
#[derive(Clone)]
struct EnvRunner<const O: usize, E> {
    env: E,
    slot: EnvSlot<O>,
    rng: Pcg32,
    /// Normalisation statistics seen this iteration.
    seen: NormStats<O>,
    /// Episodes finished this iteration.
    episodes: Vec<Episode>,
}

/// A training run of task `E` with hidden size `H`.
struct Run<const O: usize, const H: usize, const A: usize, E: Task<O, A>> {
    cfg: RunConfig,
    update_cfg: Config,
    collect_cfg: CollectConfig,
    template: E,
    low: [f32; A],
    high: [f32; A],
    trainer: Box<Trainer<O, H, A>>,
    backend: RayonBackend<O, H, A>,
    envs: Vec<EnvRunner<O, E>>,
    /// Statistics of everything seen so far; the policy acts with
    /// `trainer.norm`, which each update moves to these.
    stats: NormStats<O>,
    update_rng: Pcg32,
    batch: Vec<Transition<O, A>>,
    gae: Vec<GaeStep>,
    iter: u64,
    env_steps: u64,
    wall_s: f64,
    episodes: u64,
    recent: VecDeque<f32>,
    target_reached: Option<(u64, f64)>,
}

impl<const O: usize, const H: usize, const A: usize, E: Task<O, A>> Run<O, H, A, E> {
    fn new(spec: TaskSpec<E>, opts: &TrainOptions) -> Result<Self> {
        let cfg = opts.config.clone();
        let update_cfg = cfg.update_config()?;
        let mut trainer = Box::new(Trainer::<O, H, A>::zero(spec.kind, cfg.beta0));
        trainer.init(
            &mut Pcg32::new(cfg.seed, STREAM_INIT),
            cfg.log_std_init,
            cfg.beta0,
        );
        trainer.norm = ObsNorm {
            stats: RunningMeanStd::NEW,
            clip: cfg.obs_clip,
        };
        let (low, high) = policy::action_bounds(&spec.env);
        let steps = cfg.steps_per_env;
        let envs = (0..cfg.num_envs)
            .map(|i| EnvRunner {
                env: spec.env.clone(),
                slot: EnvSlot::NEW,
                rng: Pcg32::new(cfg.seed, STREAM_ENV_BASE + i as u64),
                seen: NormStats::default(),
                // An episode ends at most once per step.
                episodes: Vec::with_capacity(steps),
            })
            .collect();
        let n = cfg.batch_size();
        let mut run = Self {
            collect_cfg: cfg.collect_config()?,
            update_cfg,
            template: spec.env,
            low,
            high,
            backend: RayonBackend::new(spec.kind),
            trainer,
            envs,
            stats: NormStats::default(),
            update_rng: Pcg32::new(cfg.seed, STREAM_UPDATE),
            batch: vec![Transition::ZERO; n],
            gae: vec![GaeStep::default(); n],
            iter: 0,
            env_steps: 0,
            wall_s: 0.0,
            episodes: 0,
            recent: VecDeque::with_capacity(RETURN_WINDOW),
            target_reached: None,
            cfg,
        };
        if opts.resume {
            let dir = opts
                .out_dir
                .as_deref()
                .ok_or_else(|| HostError::bad("resume", "resuming needs an output directory"))?;
            run.restore(&dir.join(CHECKPOINT_FILE))?;
        }
        Ok(run)
    }

    /// The deployable controller for the current policy.
    fn actor(&self) -> Actor<O, H, A> {
        Actor {
            policy: self.trainer.policy,
            obs_norm: self.trainer.norm.stats,
            obs_clip: self.trainer.norm.clip,
            action_low: self.low,
            action_high: self.high,
        }
    }

    /// The normalisation the next update moves the policy to.
    fn next_norm(&self) -> ObsNorm<O> {
        if self.cfg.norm_obs {
            ObsNorm {
                stats: self.stats.obs,
                ..self.trainer.norm
            }
        } else {
            self.trainer.norm
        }
    }

    /// Steps every environment `steps_per_env` times, in parallel.
    fn collect(&mut self) -> std::result::Result<(), CollectError> {
        let per_worker = self.cfg.envs_per_worker;
        let steps = self.cfg.steps_per_env;
        let (policy, value, norm) = (
            &self.trainer.policy,
            &self.trainer.value,
            &self.trainer.norm,
        );
        let (ret, ccfg) = (&self.stats.ret, &self.collect_cfg);
        self.envs
            .par_chunks_mut(per_worker)
            .zip(self.batch.par_chunks_mut(per_worker * steps))
            .zip(self.gae.par_chunks_mut(per_worker * steps))
            .try_for_each(|((runners, out), gae)| {
                for (k, r) in runners.iter_mut().enumerate() {
                    r.seen = NormStats::default();
                    r.episodes.clear();
                    let episodes = &mut r.episodes;
                    collect(
                        &mut r.env,
                        &mut r.slot,
                        &mut r.rng,
                        policy,
                        value,
                        norm,
                        ret,
                        &mut r.seen,
                        ccfg,
                        &mut out[k * steps..(k + 1) * steps],
                        &mut gae[k * steps..(k + 1) * steps],
                        &mut |ep| episodes.push(ep),
                    )?;
                }
                Ok(())
            })?;
        // Merge in environment order: the statistics do not depend on
        // which thread ran which environment.
        for r in &self.envs {
            self.stats.obs.merge(&r.seen.obs);
            self.stats.ret.stats.merge(&r.seen.ret.stats);
            for ep in &r.episodes {
                if self.recent.len() == RETURN_WINDOW {
                    self.recent.pop_front();
                }
                self.recent.push_back(ep.ret);
                self.episodes += 1;
            }
        }
        Ok(())
    }

    fn eval(&self) -> f32 {
        let r = policy::evaluate(
            &self.template,
            &self.actor(),
            self.cfg.eval_episodes,
            self.cfg.seed ^ EVAL_SALT,
            true,
        );
        r.iter().sum::<f32>() / r.len().max(1) as f32
    }

    fn run(&mut self, opts: &TrainOptions, observer: &mut dyn Observer) -> Result<TrainSummary> {
        let dir = opts.out_dir.as_deref();
        let mut metrics_out = match dir {
            Some(d) => Some(self.open_metrics(d, opts.resume)?),
            None => None,
        };
        if let Some(d) = dir {
            io::write_atomic(&d.join(CONFIG_FILE), self.cfg.to_toml().as_bytes())?;
        }
        observer.on_start(&self.cfg, self.iter, self.env_steps);
        let mut sum = TrainSummary {
            stop: StopReason::Finished,
            iters: self.iter,
            env_steps: self.env_steps,
            wall_s: self.wall_s,
            collect_s: 0.0,
            update_s: 0.0,
            eval_s: 0.0,
            last_eval: None,
            target_reached: self.target_reached,
            primary_grad_steps: 0,
            fixup_grad_steps: 0,
            kl_violations: 0,
            reverts: 0,
            updates: 0,
        };
        let batch = self.batch.len() as u64;
        let wall0 = self.wall_s;
        let start = Instant::now();
        while self.env_steps < self.cfg.total_steps {
            let t0 = Instant::now();
            let lr = if self.cfg.lr_decay {
                linear_decay(self.cfg.lr, self.env_steps, self.cfg.total_steps)
            } else {
                self.cfg.lr
            };
            let iter = self.iter + 1;
            self.collect()
                .map_err(|source| HostError::Collect { iter, source })?;
            let t1 = Instant::now();
            let cfg = Config {
                lr,
                ..self.update_cfg
            };
            let behaviour = observer.wants_updates().then(|| self.actor());
            let next_norm = self.next_norm();
            let rep = self
                .trainer
                .update_with_norm(
                    &mut self.batch,
                    &cfg,
                    &next_norm,
                    &mut self.update_rng,
                    &mut self.backend,
                )
                .map_err(|source| HostError::Update { iter, source })?;
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
            let t2 = Instant::now();
            self.iter = iter;
            self.env_steps += batch;
            let last = self.env_steps >= self.cfg.total_steps;
            let every = u64::from(self.cfg.eval_every);
            let eval_return = if last || (every > 0 && iter % every == 0) {
                Some(self.eval())
            } else {
                None
            };
            let t3 = Instant::now();
            self.wall_s = wall0 + start.elapsed().as_secs_f64();
            if let (Some(target), Some(ret), None) =
                (self.cfg.target_return, eval_return, self.target_reached)
                && ret >= target
            {
                self.target_reached = Some((self.env_steps, self.wall_s));
            }
            let m = IterMetrics {
                iter,
                env_steps: self.env_steps,
                wall_s: self.wall_s,
                sps: batch as f64 / (t3 - t0).as_secs_f64().max(1e-9),
                return_mean: (!self.recent.is_empty())
                    .then(|| self.recent.iter().sum::<f32>() / self.recent.len() as f32),
                episodes: self.episodes,
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
                collect_s: (t1 - t0).as_secs_f64(),
                update_s: (t2 - t1).as_secs_f64(),
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
            if let (Some(out), Some(d)) = (metrics_out.as_mut(), dir) {
                writeln!(out, "{}", m.to_json())
                    .and_then(|()| out.flush())
                    .map_err(|e| HostError::io("cannot write", d.join(METRICS_FILE), e))?;
            }
            observer.on_iteration(&m);

            let stop_requested = opts.stop.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
                || opts.stop_after_iters.is_some_and(|n| self.iter >= n);
            let reached = self.cfg.target_return.is_some() && self.target_reached.is_some();
            if reached {
                sum.stop = StopReason::TargetReached;
                break;
            }
            if stop_requested && !last {
                sum.stop = StopReason::Interrupted;
                break;
            }
            let every = u64::from(self.cfg.checkpoint_every);
            if let Some(d) = dir
                && every > 0
                && iter % every == 0
                && !last
            {
                self.save(d)?;
            }
        }
        sum.iters = self.iter;
        sum.env_steps = self.env_steps;
        sum.wall_s = self.wall_s;
        sum.target_reached = self.target_reached;
        if let Some(d) = dir {
            self.save(d)?;
            observer.on_message(&format!(
                "wrote {} and {}",
                d.join(POLICY_FILE).display(),
                d.join(CHECKPOINT_FILE).display()
            ));
            if opts.plot {
                let curve = d.join(CURVE_FILE);
                match crate::plot::plot_runs(
                    &[d.to_owned()],
                    &curve,
                    &crate::plot::PlotOptions::default(),
                ) {
                    Ok(()) => observer.on_message(&format!("wrote {}", curve.display())),
                    Err(e) => observer.on_message(&format!("warning: no curve: {e}")),
                }
            }
        }
        Ok(sum)
    }

    /// Opens `metrics.jsonl` for appending; on resume, first drops lines
    /// past the checkpoint (written after it, before the run stopped).
    fn open_metrics(&self, dir: &Path, resume: bool) -> Result<std::io::BufWriter<std::fs::File>> {
        let path = dir.join(METRICS_FILE);
        if resume && path.exists() {
            let kept: String = read_metrics(&path)?
                .into_iter()
                .filter(|m| m.iter <= self.iter)
                .map(|m| m.to_json() + "\n")
                .collect();
            io::write_atomic(&path, kept.as_bytes())?;
        } else {
            io::write_atomic(&path, b"")?;
        }
        let f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| HostError::io("cannot write", &path, e))?;
        Ok(std::io::BufWriter::new(f))
    }

    /// Writes the policy file and the checkpoint (both atomically).
    fn save(&self, dir: &Path) -> Result<()> {
        let policy_path = dir.join(POLICY_FILE);
        let bytes = policy::encode(&self.actor(), &policy_path)?;
        io::write_atomic(&policy_path, &bytes)?;
        checkpoint::save(&dir.join(CHECKPOINT_FILE), &self.checkpoint())
    }

    fn checkpoint(&self) -> CheckpointData {
        let t = &self.trainer;
        CheckpointData {
            config: self.cfg.to_toml(),
            dims: [O as u32, H as u32, A as u32],
            iter: self.iter,
            env_steps: self.env_steps,
            wall_s: self.wall_s,
            episodes: self.episodes,
            recent_returns: self.recent.iter().copied().collect(),
            target_reached: self.target_reached,
            policy: flat(&t.policy),
            value: flat(&t.value),
            policy_opt: adam_state(&t.policy_opt),
            value_opt: adam_state(&t.value_opt),
            beta: t.beta,
            beta_opt: t.beta_opt,
            obs_stats: mean_var(&self.stats.obs),
            policy_obs_stats: mean_var(&t.norm.stats),
            ret_stats: mean_var(&self.stats.ret.stats),
            update_rng: self.update_rng,
            envs: self
                .envs
                .iter()
                .map(|r| EnvCheckpoint {
                    env: r.env.snapshot(),
                    obs: r.slot.obs.to_vec(),
                    needs_reset: r.slot.needs_reset,
                    ep_return: r.slot.ep_return,
                    ep_len: r.slot.ep_len,
                    disc_return: r.slot.disc_return,
                    rng: r.rng,
                })
                .collect(),
        }
    }

    fn restore(&mut self, path: &Path) -> Result<()> {
        let d = checkpoint::load(path)?;
        let bad = |reason: String| HostError::Checkpoint {
            path: path.to_owned(),
            reason,
        };
        let saved = RunConfig::from_toml(&d.config).map_err(|e| bad(e.to_string()))?;
        let comparable = RunConfig {
            total_steps: self.cfg.total_steps,
            ..saved
        };
        if comparable != self.cfg {
            return Err(bad(
                "the run's configuration differs from the checkpoint's (only total_steps may change on resume)".into(),
            ));
        }
        if d.dims != [O as u32, H as u32, A as u32] || d.envs.len() != self.envs.len() {
            return Err(bad("dimensions or environment count differ".into()));
        }
        let t = &mut self.trainer;
        let ok = read_flat(&mut t.policy, &d.policy)
            && read_flat(&mut t.value, &d.value)
            && read_adam(&mut t.policy_opt, &d.policy_opt)
            && read_adam(&mut t.value_opt, &d.value_opt)
            && read_mean_var(&mut self.stats.obs, &d.obs_stats)
            && read_mean_var(&mut t.norm.stats, &d.policy_obs_stats)
            && read_mean_var(&mut self.stats.ret.stats, &d.ret_stats);
        if !ok {
            return Err(bad("a parameter block has the wrong length".into()));
        }
        t.beta = d.beta;
        t.beta_opt = d.beta_opt;
        self.update_rng = d.update_rng;
        for (r, s) in self.envs.iter_mut().zip(&d.envs) {
            r.env.restore(&s.env)?;
            r.slot = EnvSlot {
                obs: s
                    .obs
                    .as_slice()
                    .try_into()
                    .map_err(|_| bad("an observation has the wrong length".into()))?,
                needs_reset: s.needs_reset,
                ep_return: s.ep_return,
                ep_len: s.ep_len,
                disc_return: s.disc_return,
            };
            r.rng = s.rng;
        }
        self.iter = d.iter;
        self.env_steps = d.env_steps;
        self.wall_s = d.wall_s;
        self.episodes = d.episodes;
        self.recent = d.recent_returns.into_iter().collect();
        self.target_reached = d.target_reached;
        Ok(())
    }
}

fn flat<P: Params>(p: &P) -> Vec<f32> {
    let mut v = vec![0.0; P::LEN];
    p.write_flat(&mut v);
    v
}

fn read_flat<P: Params>(p: &mut P, v: &[f32]) -> bool {
    v.len() == P::LEN && p.read_flat(v).is_some()
}

fn adam_state<P: Params>(a: &Adam<P>) -> AdamState {
    AdamState {
        m: flat(&a.m),
        v: flat(&a.v),
        t: a.t,
    }
}

fn read_adam<P: Params>(a: &mut Adam<P>, s: &AdamState) -> bool {
    a.t = s.t;
    read_flat(&mut a.m, &s.m) && read_flat(&mut a.v, &s.v)
}

fn mean_var<const N: usize>(s: &RunningMeanStd<N>) -> MeanVar {
    MeanVar {
        mean: s.mean.to_vec(),
        var: s.var.to_vec(),
        count: s.count,
    }
}

fn read_mean_var<const N: usize>(s: &mut RunningMeanStd<N>, m: &MeanVar) -> bool {
    match (m.mean.as_slice().try_into(), m.var.as_slice().try_into()) {
        (Ok(mean), Ok(var)) => {
            *s = RunningMeanStd {
                mean,
                var,
                count: m.count,
            };
            true
        }
        _ => false,
    }
}
