//! What a training run tells the outside world: the [`Observer`] trait,
//! the state an observer may read ([`RunState`]), each update's record
//! for auditors and the run's summary.

use crate::checkpoint::CheckpointData;
use crate::config::RunConfig;
use crate::error::Result;
use crate::metrics::IterMetrics;

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StopReason {
    /// `total_steps` were taken.
    Finished,
    /// An evaluation reached `target_return`.
    TargetReached,
    /// Stopped early ([`Observer::stop_requested`]); resumable.
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

/// The state of a run, as an [`Observer`] may read it.
pub trait RunState {
    /// The run's configuration.
    fn config(&self) -> &RunConfig;
    /// The current policy's file (see `docs/file-format.md`).
    ///
    /// # Errors
    /// [`HostError::PolicyFile`] when the policy cannot be encoded.
    fn policy_file(&self) -> Result<Vec<u8>>;
    /// Everything needed to continue the run exactly, when the environment
    /// can be saved ([`crate::Learner::for_task`]); `None` otherwise.
    fn checkpoint(&self) -> Option<CheckpointData>;
}

/// Receives progress as the run goes. Every method has a default that does
/// nothing; an error from one stops the run with that error.
pub trait Observer {
    /// Called once before the first iteration.
    ///
    /// # Errors
    /// Any [`HostError`]; the run does not start.
    fn on_start(&mut self, _config: &RunConfig, _start_iter: u64, _start_steps: u64) -> Result<()> {
        Ok(())
    }
    /// Called after every iteration.
    ///
    /// # Errors
    /// Any [`HostError`]; the run stops.
    fn on_iteration(&mut self, _m: &IterMetrics, _run: &dyn RunState) -> Result<()> {
        Ok(())
    }
    /// Whether [`Observer::on_update`] should be called (building the
    /// record costs two policy encodings and a copy of the batch).
    fn wants_updates(&self) -> bool {
        false
    }
    /// Called after every update when [`Observer::wants_updates`].
    fn on_update(&mut self, _u: &UpdateRecord) {}
    /// Whether to stop after the current iteration (Ctrl-C, say).
    fn stop_requested(&self) -> bool {
        false
    }
    /// Called once when the run ends, however it ends.
    ///
    /// # Errors
    /// Any [`HostError`], returned by [`crate::Learner::run`].
    fn on_end(&mut self, _s: &TrainSummary, _run: &dyn RunState) -> Result<()> {
        Ok(())
    }
    /// A note for the user (a file written, a warning).
    fn on_message(&mut self, _msg: &str) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}
