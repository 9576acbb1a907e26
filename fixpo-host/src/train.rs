//! Training a built-in task into a run directory: what `fixpo train` does.
//!
//! [`train`] looks the task up in the registry ([`crate::tasks`]), builds a
//! [`Learner`] for it and runs it with a [`RunDir`] observer, which writes
//! `config.toml`, `metrics.jsonl`, checkpoints, the policy file and the
//! learning curve. The loop itself is [`crate::learner`]'s.

use crate::checkpoint;
use crate::config::RunConfig;
use crate::error::{HostError, Result};
use crate::io::{self, CHECKPOINT_FILE, CONFIG_FILE, CURVE_FILE, METRICS_FILE, POLICY_FILE};
use crate::learner::{Learner, RunState};
use crate::metrics::{IterMetrics, read_metrics};
use crate::tasks::{self, HiddenVisitor, Task, TaskSpec, TaskVisitor};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub use crate::learner::{Observer, RETURN_WINDOW, Silent, StopReason, TrainSummary, UpdateRecord};

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

/// Trains the built-in task `opts.config.env` as `opts` says.
///
/// # Errors
/// Any [`HostError`]: bad configuration, unusable output directory or
/// checkpoint, or an update or collection the core refused.
pub fn train(opts: &TrainOptions, observer: &mut dyn Observer) -> Result<TrainSummary> {
    opts.config.validate()?;
    if let Some(dir) = &opts.out_dir {
        RunDir::prepare(dir, opts.resume, opts.force)?;
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
                env: E,
            }
            impl<const O: usize, const A: usize, E: Task<O, A>> HiddenVisitor for W<'_, O, A, E> {
                type Out = Result<TrainSummary>;
                fn visit<const H: usize>(self) -> Result<TrainSummary> {
                    let w = self;
                    let opts = w.v.opts;
                    let mut learner = Learner::<E, O, H, A>::for_task(w.env, opts.config.clone())?;
                    if opts.resume {
                        let dir = opts.out_dir.as_deref().ok_or_else(|| {
                            HostError::bad("resume", "resuming needs an output directory")
                        })?;
                        let path = dir.join(CHECKPOINT_FILE);
                        learner.restore(checkpoint::load(&path)?, &path)?;
                    }
                    let mut stops = Stops {
                        flag: opts.stop.clone(),
                        after_iters: opts.stop_after_iters,
                        iters: 0,
                        inner: w.v.observer,
                    };
                    match &opts.out_dir {
                        Some(dir) => learner.run(&mut RunDir::new(
                            dir.clone(),
                            opts.resume,
                            opts.plot,
                            &mut stops,
                        )),
                        None => learner.run(&mut stops),
                    }
                }
            }
            let hidden = self.opts.config.hidden;
            tasks::visit_hidden(
                hidden,
                W::<O, A, E> {
                    v: self,
                    env: spec.env,
                },
            )?
        }
    }
    let options = opts.config.env_option_pairs();
    tasks::visit_task_with(&opts.config.env.clone(), &options, V { opts, observer })?
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

/// Passes everything on to `inner`, and asks to stop when `flag` is set or
/// `after_iters` iterations are done.
struct Stops<'a> {
    flag: Option<Arc<AtomicBool>>,
    after_iters: Option<u64>,
    /// Iterations done, as last reported.
    iters: u64,
    inner: &'a mut dyn Observer,
}

impl Observer for Stops<'_> {
    fn on_start(&mut self, c: &RunConfig, iter: u64, steps: u64) -> Result<()> {
        self.inner.on_start(c, iter, steps)
    }
    fn on_iteration(&mut self, m: &IterMetrics, run: &dyn RunState) -> Result<()> {
        self.iters = m.iter;
        self.inner.on_iteration(m, run)
    }
    fn wants_updates(&self) -> bool {
        self.inner.wants_updates()
    }
    fn on_update(&mut self, u: &UpdateRecord) {
        self.inner.on_update(u);
    }
    fn stop_requested(&self) -> bool {
        self.flag.as_ref().is_some_and(|s| s.load(Ordering::SeqCst))
            || self.after_iters.is_some_and(|n| self.iters >= n)
            || self.inner.stop_requested()
    }
    fn on_end(&mut self, s: &TrainSummary, run: &dyn RunState) -> Result<()> {
        self.inner.on_end(s, run)
    }
    fn on_message(&mut self, msg: &str) {
        self.inner.on_message(msg);
    }
}

/// An observer that keeps a run directory: `config.toml` at the start,
/// a `metrics.jsonl` line per iteration, a checkpoint every
/// `checkpoint_every` iterations, and at the end the policy file, the
/// checkpoint and (optionally) `curve.png`. Passes everything on to
/// `inner`.
pub struct RunDir<'a> {
    dir: PathBuf,
    resume: bool,
    plot: bool,
    inner: &'a mut dyn Observer,
    metrics: Option<std::io::BufWriter<std::fs::File>>,
    total_steps: u64,
    checkpoint_every: u64,
}

impl<'a> RunDir<'a> {
    /// Keeps `dir` (continuing its metrics when `resume`), drawing the
    /// curve at the end when `plot`; reports to `inner`.
    pub fn new(dir: PathBuf, resume: bool, plot: bool, inner: &'a mut dyn Observer) -> Self {
        Self {
            dir,
            resume,
            plot,
            inner,
            metrics: None,
            total_steps: 0,
            checkpoint_every: 0,
        }
    }

    /// Makes `dir` ready for a run: created if missing; for a fresh run,
    /// refused if it holds one (unless `force`) and cleared of an older
    /// run's checkpoint, policy and curve.
    ///
    /// # Errors
    /// [`HostError::RunExists`], [`HostError::Io`].
    pub fn prepare(dir: &Path, resume: bool, force: bool) -> Result<()> {
        io::prepare_dir(dir)?;
        if resume {
            return Ok(());
        }
        let has_run = [CHECKPOINT_FILE, METRICS_FILE, POLICY_FILE]
            .iter()
            .any(|f| dir.join(f).exists());
        if !force && has_run {
            return Err(HostError::RunExists {
                path: dir.to_owned(),
            });
        }
        // A fresh run must not leave an older run's checkpoint behind for a
        // later --resume to pick up.
        for f in [CHECKPOINT_FILE, POLICY_FILE, CURVE_FILE] {
            match std::fs::remove_file(dir.join(f)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(HostError::io("cannot remove", dir.join(f), e));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Opens `metrics.jsonl` for appending; on resume, first drops lines
    /// past iteration `iter` (written after the checkpoint, before the run
    /// stopped).
    fn open_metrics(&self, iter: u64) -> Result<std::io::BufWriter<std::fs::File>> {
        let path = self.dir.join(METRICS_FILE);
        if self.resume && path.exists() {
            let kept: String = read_metrics(&path)?
                .into_iter()
                .filter(|m| m.iter <= iter)
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

    /// Writes the policy file and, when the run can be saved, the
    /// checkpoint (both atomically). Returns whether it wrote a checkpoint.
    fn save(&self, run: &dyn RunState) -> Result<bool> {
        let policy_path = self.dir.join(POLICY_FILE);
        let bytes = run.policy_file().map_err(|e| match e {
            HostError::PolicyFile { source, .. } => HostError::PolicyFile {
                path: policy_path.clone(),
                source,
            },
            e => e,
        })?;
        io::write_atomic(&policy_path, &bytes)?;
        match run.checkpoint() {
            Some(c) => checkpoint::save(&self.dir.join(CHECKPOINT_FILE), &c).map(|()| true),
            None => Ok(false),
        }
    }
}

impl Observer for RunDir<'_> {
    fn on_start(&mut self, c: &RunConfig, iter: u64, steps: u64) -> Result<()> {
        self.metrics = Some(self.open_metrics(iter)?);
        io::write_atomic(&self.dir.join(CONFIG_FILE), c.to_toml().as_bytes())?;
        self.total_steps = c.total_steps;
        self.checkpoint_every = u64::from(c.checkpoint_every);
        self.inner.on_start(c, iter, steps)
    }

    fn on_iteration(&mut self, m: &IterMetrics, run: &dyn RunState) -> Result<()> {
        if let Some(out) = self.metrics.as_mut() {
            writeln!(out, "{}", m.to_json())
                .and_then(|()| out.flush())
                .map_err(|e| HostError::io("cannot write", self.dir.join(METRICS_FILE), e))?;
        }
        self.inner.on_iteration(m, run)?;
        let every = self.checkpoint_every;
        let last = m.env_steps >= self.total_steps;
        if every > 0 && m.iter % every == 0 && !last && !self.stop_requested() {
            self.save(run)?;
        }
        Ok(())
    }

    fn wants_updates(&self) -> bool {
        self.inner.wants_updates()
    }

    fn on_update(&mut self, u: &UpdateRecord) {
        self.inner.on_update(u);
    }

    fn stop_requested(&self) -> bool {
        self.inner.stop_requested()
    }

    fn on_end(&mut self, s: &TrainSummary, run: &dyn RunState) -> Result<()> {
        let checkpointed = self.save(run)?;
        let d = &self.dir;
        let written = if checkpointed {
            format!(
                "wrote {} and {}",
                d.join(POLICY_FILE).display(),
                d.join(CHECKPOINT_FILE).display()
            )
        } else {
            format!("wrote {}", d.join(POLICY_FILE).display())
        };
        self.inner.on_message(&written);
        if self.plot {
            let curve = d.join(CURVE_FILE);
            match crate::plot::plot_runs(
                &[d.to_owned()],
                &curve,
                &crate::plot::PlotOptions::default(),
            ) {
                Ok(()) => self.inner.on_message(&format!("wrote {}", curve.display())),
                Err(e) => self.inner.on_message(&format!("warning: no curve: {e}")),
            }
        }
        self.inner.on_end(s, run)
    }

    fn on_message(&mut self, msg: &str) {
        self.inner.on_message(msg);
    }
}
