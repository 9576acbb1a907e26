//! The FixPO update: a primary phase of KL-penalised policy-gradient steps
//! with β tuned as a Lagrange multiplier, then a fixup phase of KL-only steps
//! until D_KL(π_old ‖ π_new) ≤ ε_KL at every state of the batch.
//!
//! Beyond the paper, the fixup phase here is bounded (β ≤ β_max, step cap,
//! learning-rate halving on plateau) and, should the bound still fail, the
//! policy is moved back along θ_old + t·(θ − θ_old), halving t until every
//! state satisfies the bound (t = 0 is θ_old itself, where every KL is
//! exactly 0). So [`Trainer::update`] always returns a policy inside the
//! trust region, in bounded work, and says in its [`UpdateReport`] how.
//!
//! The same code runs the ablations: FixPO without the fixup phase, PPO-clip
//! and the adaptive-KL-penalty PPO, selected by [`Algo`].
//!
//! # Where to read what
//! - [`Config`] and [`Algo`] (`config.rs`): the hyperparameters and the
//!   update rules; [`UpdateError`]: why an update is refused.
//! - [`UpdateReport`] (`report.rs`): what one update did.
//! - [`primary_grads`], [`kl_grads`], [`kl_stats`], [`old_outputs`]
//!   (`kernels.rs`): the per-sample maths of a minibatch (the losses and
//!   their gradients), and the [`Backend`] that runs them.
//! - [`Trainer`] (`trainer.rs`): the update itself, epoch by epoch: the
//!   primary phase, Adam steps and the β controller.
//! - [`Layout`] (`layout.rs`): how much optimiser state and how much of
//!   π_old/V_old a trainer keeps ([`Full`], [`Head`] for head-only
//!   training in less RAM, [`Lean`] for full training in the least RAM
//!   with working storage lent by the caller).
//! - `fixup.rs`: the fixup phase and the backtracking that end every
//!   [`Algo::Fixpo`] update inside the trust region.

mod config;
mod fixup;
mod kernels;
mod layout;
mod report;
mod trainer;

pub use config::{Algo, Config, FixupSchedule, UpdateError};
pub use kernels::{
    Backend, Coeffs, MbStats, Serial, kl_grads, kl_stats, old_outputs, policy_grads, primary_grads,
    value_grads,
};
pub use layout::{
    Full, Grads, Head, Keep, Layout, Lean, MlpHead, MlpKept, NoCopy, Optimiser, PolicyHead,
    PolicyKept, Work,
};
pub use report::UpdateReport;
pub use trainer::{LOG_STD_RANGE, TrainScope, Trainer};

/// One step of experience, as the update consumes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transition<const O: usize, const A: usize> {
    /// The raw observation the behaviour policy acted on (each policy
    /// normalises it with its own [`ObsNorm`](crate::norm::ObsNorm)).
    pub obs: [f32; O],
    /// The sampled action before clipping to the task's bounds (one-hot for
    /// categorical policies).
    pub action: [f32; A],
    /// Advantage estimate Â.
    pub advantage: f32,
    /// Value target R (advantage + value).
    pub ret: f32,
    /// V_old(obs) at collection time (used by value clipping).
    pub value: f32,
    /// π_old's output at `obs` (with π_old's normalisation); filled in by
    /// the update.
    pub old_out: [f32; A],
    /// log π_old(action | obs); filled in by the update.
    pub old_logp: f32,
}

impl<const O: usize, const A: usize> Transition<O, A> {
    /// An all-zero transition (for initialising static buffers).
    pub const ZERO: Self = Self {
        obs: [0.0; O],
        action: [0.0; A],
        advantage: 0.0,
        ret: 0.0,
        value: 0.0,
        old_out: [0.0; A],
        old_logp: 0.0,
    };
}
