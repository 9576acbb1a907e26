//! `fixpo bench`: training throughput (environment steps per second,
//! updates included) and where the time goes.

use crate::config::RunConfig;
use crate::error::Result;
use crate::train::{Silent, TrainOptions, TrainSummary, train};
use serde::Serialize;

/// What `fixpo bench` reports.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    /// Task.
    pub env: String,
    /// Which settings ran ("reference" or "preset").
    pub settings: String,
    /// Rayon threads.
    pub threads: usize,
    /// Transitions per iteration.
    pub batch: usize,
    /// Update kernels in use (see [`crate::simd`]).
    pub kernels: &'static str,
    /// Environment steps taken.
    pub env_steps: u64,
    /// Wall time (s).
    pub wall_s: f64,
    /// Environment steps per second, updates included.
    pub env_steps_per_s: f64,
    /// Environment steps per second while collecting.
    pub collect_steps_per_s: f64,
    /// Fraction of the time stepping environments (policy inference included).
    pub collect_frac: f64,
    /// Fraction of the time in updates.
    pub update_frac: f64,
    /// Fraction of the time evaluating and bookkeeping.
    pub other_frac: f64,
    /// Mean fixup gradient steps per primary step.
    pub fixup_per_primary: f64,
    /// MuJoCo tasks: raw stepping rate of this binary (env steps/s over
    /// the same number of threads, random actions, no policy, no update).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_steps_per_s: Option<f64>,
    /// `env_steps_per_s / raw_steps_per_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_over_raw: Option<f64>,
}

/// Trains `cfg` for its `total_steps` without writing files and reports
/// the throughput.
///
/// # Errors
/// As [`train`].
pub fn bench(cfg: RunConfig, settings: &str) -> Result<BenchReport> {
    let mut cfg = cfg;
    cfg.eval_every = 0;
    let mut opts = TrainOptions::new(cfg.clone(), None);
    opts.plot = false;
    // The raw rate is measured half before and half after training, so a
    // drift in the machine's speed (shared cores, thermal limits) affects
    // both figures alike.
    let before = raw_rate(&cfg)?;
    let s: TrainSummary = train(&opts, &mut Silent)?;
    let after = raw_rate(&cfg)?;
    let wall = s.wall_s.max(1e-9);
    // Equal step counts: the combined rate is the harmonic mean.
    let raw = before.zip(after).map(|(a, b)| 2.0 / (1.0 / a + 1.0 / b));
    let env_steps_per_s = s.env_steps as f64 / wall;
    Ok(BenchReport {
        env: cfg.env.clone(),
        settings: settings.to_owned(),
        threads: rayon::current_num_threads(),
        batch: cfg.batch_size(),
        kernels: crate::simd::level().name(),
        env_steps: s.env_steps,
        wall_s: s.wall_s,
        env_steps_per_s,
        collect_steps_per_s: s.env_steps as f64 / s.collect_s.max(1e-9),
        collect_frac: s.collect_s / wall,
        update_frac: s.update_s / wall,
        other_frac: (1.0 - (s.collect_s + s.update_s) / wall).max(0.0),
        fixup_per_primary: s.fixup_grad_steps as f64 / s.primary_grad_steps.max(1) as f64,
        raw_steps_per_s: raw,
        train_over_raw: raw.map(|r| env_steps_per_s / r),
    })
}

/// The raw stepping rate of a MuJoCo task over half as many steps as the
/// training run takes (at least 100k), over the training's thread count.
#[cfg(feature = "mujoco")]
fn raw_rate(cfg: &RunConfig) -> Result<Option<f64>> {
    if crate::mujoco::find(&cfg.env).is_none() {
        return Ok(None);
    }
    let n = (cfg.total_steps / 2).max(100_000);
    Ok(Some(crate::mujoco::raw_steps_per_sec(
        &cfg.env,
        n,
        rayon::current_num_threads(),
    )?))
}

#[cfg(not(feature = "mujoco"))]
fn raw_rate(_cfg: &RunConfig) -> Result<Option<f64>> {
    Ok(None)
}
