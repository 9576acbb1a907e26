//! The control step: observation → action, through fixpo-core's `Actor`
//! (the decoded policy file) or the safe zero action when no valid policy
//! was found.

use fixpo_core::Actor;

/// Observation size of the pendulum task the firmware drives
/// (cos θ, sin θ, θ̇ — Gymnasium's Pendulum).
pub const OBS: usize = 3;
/// Hidden layer width of the policy (and value) network this build runs.
#[cfg(not(feature = "hid64"))]
pub const HID: usize = 32;
/// Hidden layer width of the policy (and value) network this build runs.
#[cfg(feature = "hid64")]
pub const HID: usize = 64;
/// Action size (motor torque).
pub const ACT: usize = 1;

#[cfg(all(feature = "head-only", feature = "lean"))]
compile_error!("`head-only` and `lean` are two trainer layouts: choose one");

/// How much the on-device trainer stores (fixpo-core's
/// `fixpo::Layout`): everything, so updates can train every parameter.
#[cfg(not(any(feature = "head-only", feature = "lean", feature = "hid64")))]
pub type TrainLayout = fixpo_core::fixpo::Full;
/// How much the on-device trainer stores (fixpo-core's
/// `fixpo::Layout`): only what head-only updates need (the output
/// layers' and log-std's Adam state, part of π_old and V_old), so
/// updates train the output layers and the log-std alone.
#[cfg(feature = "head-only")]
pub type TrainLayout = fixpo_core::fixpo::Head;
/// How much the on-device trainer stores (fixpo-core's
/// `fixpo::Layout`): every parameter trained, Adam moments in 16 bits,
/// no V_old, and the update's working storage (π_old and one gradient
/// buffer) lent from [`crate::mem::Scratch`] with each round: what lets
/// 64×64 full fine-tuning fit 128 KiB of RAM (`hid64` selects it unless
/// `head-only` is set; `lean` selects it at any size).
#[cfg(all(not(feature = "head-only"), any(feature = "lean", feature = "hid64")))]
pub type TrainLayout = fixpo_core::fixpo::Lean;

/// The working storage the trainer's layout borrows for a round: `()`
/// when the trainer holds its own.
pub type Lent = <TrainLayout as fixpo_core::fixpo::Layout<OBS, HID, ACT>>::Lent;
/// [`Lent`], every number zero.
#[cfg(not(all(not(feature = "head-only"), any(feature = "lean", feature = "hid64"))))]
pub const LENT_ZERO: Lent = ();
/// [`Lent`], every number zero.
#[cfg(all(not(feature = "head-only"), any(feature = "lean", feature = "hid64")))]
pub const LENT_ZERO: Lent = fixpo_core::fixpo::Work::ZERO;

/// The deployable controller of this build's shape: a decoded policy file
/// (network, normalisation, action bounds). `fixpo_core::Policy` is the
/// network alone.
pub type Controller = Actor<OBS, HID, ACT>;

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

/// A decoded policy file: fixpo-core's deterministic action (normalise,
/// mean, clip to the file's bounds; NaN observations give its safe action).
impl ActionSource for Controller {
    fn act(&mut self, obs: &[f32; OBS], action: &mut [f32; ACT]) {
        *action = Actor::act(self, obs);
    }
}

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
