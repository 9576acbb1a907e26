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
    let s: TrainSummary = train(&opts, &mut Silent)?;
    let wall = s.wall_s.max(1e-9);
    Ok(BenchReport {
        env: cfg.env.clone(),
        settings: settings.to_owned(),
        threads: rayon::current_num_threads(),
        batch: cfg.batch_size(),
        env_steps: s.env_steps,
        wall_s: s.wall_s,
        env_steps_per_s: s.env_steps as f64 / wall,
        collect_steps_per_s: s.env_steps as f64 / s.collect_s.max(1e-9),
        collect_frac: s.collect_s / wall,
        update_frac: s.update_s / wall,
        other_frac: (1.0 - (s.collect_s + s.update_s) / wall).max(0.0),
        fixup_per_primary: s.fixup_grad_steps as f64 / s.primary_grad_steps.max(1) as f64,
    })
}
