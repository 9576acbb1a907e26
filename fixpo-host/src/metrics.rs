//! `metrics.jsonl`: one JSON object per training iteration.

use crate::error::{HostError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Fields that measure time; everything else in a metrics line is the same
/// for two runs with the same configuration and seed.
pub const TIMING_FIELDS: [&str; 5] = ["wall_s", "sps", "collect_s", "update_s", "eval_s"];

/// What one iteration did (one line of `metrics.jsonl`).
///
/// A line written by `fixpo device adapt` (a [`crate::device::UpdateLine`])
/// reads as one too: the fields a device does not measure (environment
/// steps, losses, timings) are optional and default to 0.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IterMetrics {
    /// Iteration number, from 1.
    pub iter: u64,
    /// Environment steps taken so far.
    #[serde(default)]
    pub env_steps: u64,
    /// Training wall time so far (s), from the first environment step.
    pub wall_s: f64,
    /// Environment steps per second over this iteration, updates included.
    #[serde(default)]
    pub sps: f64,
    /// Mean undiscounted return of the most recent training episodes
    /// (`null` before the first episode ends).
    pub return_mean: Option<f32>,
    /// Training episodes finished so far.
    #[serde(default)]
    pub episodes: u64,
    /// Mean deterministic return over the evaluation episodes, when this
    /// iteration evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_return: Option<f32>,
    /// max over the batch's raw observations of the certified upper bound
    /// on D_KL(π_old ‖ π_new) between the behaviour policy (with the
    /// normalisation it acted with) and the policy deployed next (with its
    /// own): see `docs/guarantee.md`.
    pub max_kl: f32,
    /// Mean over the batch of the same bound.
    #[serde(default)]
    pub mean_kl: f32,
    /// The trust-region radius ε_KL.
    pub eps_kl: f32,
    /// β after the update.
    pub beta: f32,
    /// Gradient steps of the primary phase.
    #[serde(default)]
    pub primary_grad_steps: u32,
    /// Gradient steps of the fixup phase.
    #[serde(default)]
    pub fixup_grad_steps: u32,
    /// Passes over the batch in the fixup phase.
    #[serde(default)]
    pub fixup_passes: u32,
    /// The backtracking factor t that produced the deployed parameters
    /// (1.0 when gradient steps produced them; 0 when they are the start
    /// point).
    pub backtrack_t: f32,
    /// Fixup phases of this update that ended by backtracking.
    #[serde(default)]
    pub backtracks: u32,
    /// The update returned the behaviour policy unchanged (its last resort).
    #[serde(default)]
    pub reverted: bool,
    /// Learning rate of this update.
    #[serde(default)]
    pub lr: f32,
    /// Mean surrogate loss over primary steps.
    #[serde(default)]
    pub policy_loss: f32,
    /// Mean value loss over primary steps.
    #[serde(default)]
    pub value_loss: f32,
    /// Mean policy entropy over primary steps.
    #[serde(default)]
    pub entropy: f32,
    /// Fraction of samples whose probability ratio left [1−ε, 1+ε].
    #[serde(default)]
    pub clip_frac: f32,
    /// Mean gradient norm before clipping.
    #[serde(default)]
    pub grad_norm: f32,
    /// Time spent stepping environments this iteration (s).
    #[serde(default)]
    pub collect_s: f64,
    /// Time spent in the update this iteration (s).
    #[serde(default)]
    pub update_s: f64,
    /// Time spent evaluating this iteration (s).
    #[serde(default)]
    pub eval_s: f64,
}

impl IterMetrics {
    /// The line as written to `metrics.jsonl` (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("metrics serialise")
    }
}

/// Reads every complete line of a metrics file; a torn last line (from a
/// crash mid-write) is skipped.
///
/// # Errors
/// [`HostError::Io`] when the file cannot be read, [`HostError::Plot`] when
/// a line other than the last is not a metrics object.
pub fn read_metrics(path: &Path) -> Result<Vec<IterMetrics>> {
    let text = crate::io::read_string(path)?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        match serde_json::from_str(line) {
            Ok(m) => out.push(m),
            Err(_) if i + 1 == lines.len() && !text.ends_with('\n') => {}
            Err(e) => {
                return Err(HostError::Plot {
                    path: path.to_owned(),
                    reason: format!("line {}: {e}", i + 1),
                });
            }
        }
    }
    Ok(out)
}
