//! What one update did ([`UpdateReport`]).

/// What one update did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UpdateReport {
    /// Gradient steps in the primary phase.
    pub primary_grad_steps: u32,
    /// Gradient steps in the fixup phase(s).
    pub fixup_grad_steps: u32,
    /// Passes over the batch in the fixup phase(s), including the final
    /// clean pass.
    pub fixup_passes: u32,
    /// max over the batch's raw observations of the certified upper bound
    /// on D_KL(π_old ‖ π_new) (see [`crate::trust`]), between the behaviour
    /// policy with its normalisation and the returned policy with its
    /// normalisation; 0 when the update reverted to the behaviour policy.
    pub max_kl: f32,
    /// Mean over the batch of the same bound.
    pub mean_kl: f32,
    /// β after the update.
    pub beta: f32,
    /// The factor t of the backtracking θ_start + t·(θ − θ_start) that
    /// produced the returned parameters: 1 when gradient steps produced
    /// them (no backtracking, or later steps moved the policy after an
    /// earlier one), 0 when they are the start point itself.
    pub backtrack_t: f32,
    /// Fixup phases that ended by backtracking (each epoch's phase counts
    /// once).
    pub backtracks: u32,
    /// The returned policy is the behaviour policy, bit for bit, with the
    /// behaviour policy's normalisation (the update's last resort).
    pub reverted: bool,
    /// Mean policy surrogate loss over primary steps.
    pub policy_loss: f32,
    /// Mean value loss over primary steps.
    pub value_loss: f32,
    /// Mean policy entropy over primary steps.
    pub entropy: f32,
    /// Fraction of samples whose ratio was clipped (PPO-clip) or left
    /// [1−ε_clip, 1+ε_clip] (other rules, for comparison).
    pub clip_frac: f32,
    /// Mean gradient norm before clipping.
    pub grad_norm: f32,
}
