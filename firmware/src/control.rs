//! The control step: observation → action. Phase 1 has only the safe zero
//! action; the hooks for fixpo-core are marked `HOOK(fixpo-core)`.

/// Observation size of the pendulum task the firmware drives
/// (cos θ, sin θ, θ̇ — Gymnasium's Pendulum).
pub const OBS: usize = 3;
/// Action size (motor torque).
pub const ACT: usize = 1;

/// Anything that maps an observation to an action every control tick.
/// Must not fail: inputs were validated when the policy was loaded.
pub trait ActionSource {
    /// Writes the action for `obs` into `action`.
    fn act(&mut self, obs: &[f32; OBS], action: &mut [f32; ACT]);
}

/// The fallback when no valid policy is present: always zero torque.
pub struct ZeroAction;

impl ActionSource for ZeroAction {
    fn act(&mut self, _obs: &[f32; OBS], action: &mut [f32; ACT]) {
        *action = [0.0; ACT];
    }
}

// HOOK(fixpo-core): decode the policy bytes with fixpo-core's file decoder
// into a `fixpo_core::Actor<OBS, HID, ACT>` (policy + observation
// normalisation + action bounds); on a typed error, log it and keep
// ZeroAction. Implement `ActionSource` for it with the deterministic mean
// action, clipped to the file's bounds.
//
// HOOK(fixpo-core): adaptation. Collect `heapless` rollouts of
// `Transition<OBS, ACT>` from the plant (fixpo-plant's encoder/motor), then
// call fixpo-core's update (max KL ≤ eps_kl guaranteed) between episodes, with
// the motor stopped. Log the UpdateReport with defmt.

/// Runs `actor` `n` times on a fixed observation; the work per call is what
/// `scripts/firmware.sh count` measures by differencing `bench=N` and
/// `bench=0`.
pub fn bench(actor: &mut impl ActionSource, n: u32) -> f32 {
    let obs = core::hint::black_box([1.0f32, 0.0, 0.0]);
    let mut action = [0.0f32; ACT];
    let mut sum = 0.0;
    for _ in 0..n {
        actor.act(core::hint::black_box(&obs), &mut action);
        sum += core::hint::black_box(action)[0];
    }
    sum
}
