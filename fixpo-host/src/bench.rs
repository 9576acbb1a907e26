//! `fixpo bench`: training throughput (environment steps per second,
//! updates included) and where the time goes.

use crate::config::RunConfig;
use crate::error::Result;
use crate::learner::RunState;
use crate::metrics::IterMetrics;
use crate::train::{Observer, TrainOptions, TrainSummary, train};
use serde::Serialize;

#[cfg(feature = "mujoco")]
mod raw;
#[cfg(feature = "mujoco")]
pub use raw::{RawStepper, raw_steps_per_sec};

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
    /// Training wall time (s), raw-stepping bursts excluded.
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
    /// the same number of threads, random actions, no policy, no update),
    /// measured in bursts between the training iterations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_steps_per_s: Option<f64>,
    /// `env_steps_per_s / raw_steps_per_s`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub train_over_raw: Option<f64>,
}

/// Trains `cfg` for its `total_steps` without writing files and reports
/// the throughput.
///
/// On a MuJoCo task the raw stepping rate is measured in bursts between
/// the training iterations: after each iteration, every thread steps its
/// own copy of the task with random actions, a batch's worth of steps in
/// all. The two rates then share the same moments of the machine's
/// speed, which on shared cores drifts by a third from minute to minute.
/// The bursts are left out of the training's wall time.
///
/// # Errors
/// As [`train`]; a MuJoCo model that cannot be loaded.
pub fn bench(cfg: RunConfig, settings: &str) -> Result<BenchReport> {
    let mut cfg = cfg;
    cfg.eval_every = 0;
    let mut opts = TrainOptions::new(cfg.clone(), None);
    opts.plot = false;
    let mut raw = RawBursts::new(&cfg)?;
    let s: TrainSummary = train(&opts, &mut raw)?;
    // The training clock ran through every burst but the last (which
    // follows the final iteration).
    let wall = (s.wall_s - (raw.secs - raw.last_secs)).max(1e-9);
    let raw_rate = (raw.steps > 0).then(|| raw.steps as f64 / raw.secs.max(1e-9));
    let env_steps_per_s = s.env_steps as f64 / wall;
    Ok(BenchReport {
        env: cfg.env.clone(),
        settings: settings.to_owned(),
        threads: rayon::current_num_threads(),
        batch: cfg.batch_size(),
        kernels: crate::simd::level().name(),
        env_steps: s.env_steps,
        wall_s: wall,
        env_steps_per_s,
        collect_steps_per_s: s.env_steps as f64 / s.collect_s.max(1e-9),
        collect_frac: s.collect_s / wall,
        update_frac: s.update_s / wall,
        other_frac: (1.0 - (s.collect_s + s.update_s) / wall).max(0.0),
        fixup_per_primary: s.fixup_grad_steps as f64 / s.primary_grad_steps.max(1) as f64,
        raw_steps_per_s: raw_rate,
        train_over_raw: raw_rate.map(|r| env_steps_per_s / r),
    })
}

/// An [`Observer`] that runs a raw-stepping burst of one batch after each
/// training iteration (MuJoCo tasks only; otherwise it does nothing).
struct RawBursts {
    #[cfg(feature = "mujoco")]
    stepper: Option<RawStepper>,
    batch: u64,
    steps: u64,
    secs: f64,
    last_secs: f64,
}

impl RawBursts {
    fn new(cfg: &RunConfig) -> Result<Self> {
        Ok(Self {
            #[cfg(feature = "mujoco")]
            stepper: match crate::mujoco::find(&cfg.env) {
                Some(_) => Some(RawStepper::new(&cfg.env, rayon::current_num_threads())?),
                None => None,
            },
            batch: cfg.batch_size() as u64,
            steps: 0,
            secs: 0.0,
            last_secs: 0.0,
        })
    }
}

impl Observer for RawBursts {
    fn on_iteration(&mut self, _m: &IterMetrics, _run: &dyn RunState) -> Result<()> {
        #[cfg(feature = "mujoco")]
        if let Some(st) = self.stepper.as_mut() {
            let (n, t) = st.burst(self.batch);
            self.steps += n;
            self.secs += t;
            self.last_secs = t;
        }
        #[cfg(not(feature = "mujoco"))]
        let _ = (self.batch, self.steps, self.secs, self.last_secs);
        Ok(())
    }
}

#[cfg(all(test, feature = "mujoco"))]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn bench_measures_raw_stepping_between_iterations() {
        let mut cfg = RunConfig::reference("hopper");
        cfg.num_envs = 8;
        cfg.steps_per_env = 128;
        cfg.total_steps = 2048;
        let t0 = Instant::now();
        let r = bench(cfg, "reference").unwrap();
        let total = t0.elapsed().as_secs_f64();
        assert_eq!((r.env_steps, r.batch), (2048, 1024));
        let raw = r.raw_steps_per_s.expect("a MuJoCo task has a raw rate");
        assert!(raw > 100.0, "{raw}");
        let ratio = r.train_over_raw.unwrap();
        assert!((ratio - r.env_steps_per_s / raw).abs() < 1e-9 * ratio);
        // One burst of a batch per iteration, 2048 steps in all; their time is
        // not part of the training's wall time, so the two add up to no more
        // than the call took.
        let burst_s = 2048.0 / raw;
        assert!(
            r.wall_s + burst_s <= total,
            "{} + {burst_s} > {total}",
            r.wall_s
        );
        assert!((r.env_steps_per_s * r.wall_s - 2048.0).abs() < 1e-6);
    }
}
