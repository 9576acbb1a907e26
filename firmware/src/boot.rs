//! Boot steps every board shares: policy bytes → the learner, set up for
//! adaptation, and the deployed controller staged from it (or the typed
//! reason why not), the bit-exactness report, the simulated fallback run
//! and a real board's adaptation at boot.

use fixpo_core::adapt::{Deploy, Loaded, load};
use fixpo_core::env::Env;
use fixpo_core::file::FileError;
use fixpo_core::learn::Learner;
use fixpo_core::rng::{Pcg32, uniform_range};

use crate::adapt;
use crate::control::{self, ACT, ActionSource, Controller, HID, OBS, TrainLayout};
use crate::mem::{Memory, Scratch};
use crate::persist::{Flash, Persist};
use crate::plant::{SafeStop, SimPlant, Wires};
use crate::policy;

/// Why no policy was loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum NoPolicy {
    /// No policy bytes at all (empty region, unreadable host file).
    Missing,
    /// fixpo-core's decoder refused the bytes.
    Rejected(FileError),
}

/// Logs where a policy came from, its size and first bytes.
pub fn log_policy(source: &str, bytes: &[u8]) {
    let head = &bytes[..bytes.len().min(16)];
    defmt::info!(
        "policy from {=str}: {=usize} bytes, first {=usize}: {=[u8]:02x}",
        source,
        bytes.len(),
        head.len(),
        head
    );
}

/// The policy file in the flash region, if the region holds one (logged
/// either way).
pub fn region_policy() -> Option<&'static [u8]> {
    let (start, size) = policy::region_bounds();
    defmt::info!(
        "policy region at {=usize:#010x}, {=usize} bytes; built with {=usize} bytes",
        start,
        size,
        policy::POLICY_LEN
    );
    match policy::read() {
        policy::Region::Policy(b) => {
            log_policy("flash region", b);
            Some(b)
        }
        policy::Region::Empty => {
            defmt::info!("policy region empty");
            None
        }
        policy::Region::Invalid { magic, len } => {
            defmt::warn!(
                "policy region invalid: magic {=[u8]:02x}, length {=u32}",
                magic,
                len
            );
            None
        }
    }
}

/// Decodes `bytes` straight into `learner` with fixpo-core's
/// `adapt::load` (the policy and its normalisation; a version-2 file's
/// critic, the value function and return statistics, comes with it, else
/// V starts afresh) and sets the learner up with the device settings
/// ([`adapt::SETTINGS`]); logs the outcome (`policy ok` or `policy error:
/// …`, and whether the file had a critic). On an error the learner is
/// unchanged and the caller must not run a controller staged from it.
pub fn decode(
    bytes: Option<&[u8]>,
    learner: &mut Learner<OBS, HID, ACT, TrainLayout>,
) -> Result<Loaded<OBS, ACT>, NoPolicy> {
    let loaded = match bytes {
        None => Err(NoPolicy::Missing),
        Some(b) => load(b, learner, &adapt::SETTINGS).map_err(NoPolicy::Rejected),
    };
    match loaded {
        Ok(l) => {
            defmt::info!("policy ok: obs clip {=f32}", l.deploy.norm.clip);
            if l.critic {
                defmt::info!("critic ok: value function and return scale from the policy file");
            } else {
                defmt::warn!("no critic in the policy file: value function starts from scratch");
            }
        }
        Err(NoPolicy::Missing) => defmt::error!("policy error: missing"),
        Err(NoPolicy::Rejected(e)) => defmt::error!("policy error: {}", e),
    }
    loaded
}

/// Stages the deployed controller (the learner's policy with `deploy`'s
/// normalisation and bounds) in the scratch region and returns it; valid
/// until the scratch region holds the rollout.
pub fn stage<'s>(
    scratch: &'s mut Scratch,
    learner: &Learner<OBS, HID, ACT, TrainLayout>,
    deploy: &Deploy<OBS, ACT>,
) -> &'s mut Controller {
    let actor = scratch.controller();
    deploy.stage(&learner.trainer.policy, actor);
    actor
}

/// The `k`-th of the 100 observations of the bit-exactness check: angles
/// over the circle, speeds beyond the plant's limit (to reach the
/// observation and action clips), a few huge values and a NaN (safe
/// action).
pub fn infer_obs(k: u32, rng: &mut Pcg32) -> [f32; OBS] {
    let th = uniform_range(rng, -core::f32::consts::PI, core::f32::consts::PI);
    let thdot = uniform_range(rng, -12.0, 12.0);
    match k {
        97 => [1.0, 0.0, 1.0e6],
        98 => [-1.0e6, 3.0e5, -7.5],
        99 => [f32::NAN, 0.0, 0.0],
        _ => [libm::cosf(th), libm::sinf(th), thdot],
    }
}

/// Logs `infer k: obs X Y Z action A` (f32 bits in hex) for the 100 fixed
/// observations; the host recomputes each action from the same file and
/// compares the bits (tests/tests/firmware_qemu.rs).
pub fn report_inference(actor: &mut Controller) {
    let mut rng = Pcg32::new(0x1AFE, 0);
    for k in 0..100 {
        let obs = infer_obs(k, &mut rng);
        let mut a = [0.0f32; ACT];
        ActionSource::act(actor, &obs, &mut a);
        defmt::info!(
            "infer {=u32}: obs {=u32:08x} {=u32:08x} {=u32:08x} action {=u32:08x}",
            k,
            obs[0].to_bits(),
            obs[1].to_bits(),
            obs[2].to_bits(),
            a[0].to_bits()
        );
    }
}

/// No valid policy, simulated plant: the controller runs the zero action
/// for 20 control steps and logs `safe fallback: zero action …`.
pub fn sim_fallback(wires: &Wires) {
    let mut source = control::ZeroAction;
    let mut plant = SimPlant::new(wires, 20);
    let mut rng = Pcg32::new(0x5AFE, 0);
    let mut obs = plant.reset(&mut rng);
    let mut action = [0.0f32; ACT];
    let mut ret = 0.0;
    for _ in 0..20 {
        source.act(&obs, &mut action);
        let step = plant.step(&action);
        ret += step.reward;
        obs = step.obs;
    }
    defmt::warn!(
        "safe fallback: zero action {=f32}, 20 control steps run (return {=f32})",
        action[0],
        ret
    );
}

/// A board's adaptation at boot, after [`decode`] (or the store's load):
/// evaluate the deployed policy on `plant`, run `rounds` adaptation rounds
/// under [`adapt::SAFETY`] (one episode and one FixPO update each, every
/// update checked independently and reverted if the check fails; with a
/// store, the cumulative bound against its factory record, rollback and
/// writes of new best policies; see [`adapt::run`]), stage the adapted
/// policy and evaluate again. The value function is the file's critic, or
/// fresh; observation statistics stay the file's. A store without a
/// factory record is not used (no bound, no writes). Returns the adapted
/// controller, staged in the scratch region.
pub fn adapt_on<'m, E, F>(
    memory: &'m mut Memory,
    deploy: &mut Deploy<OBS, ACT>,
    plant: &mut E,
    rounds: u32,
    persist: Option<&mut Persist<F>>,
) -> &'m mut Controller
where
    E: Env<OBS, ACT> + SafeStop,
    F: Flash,
{
    // The cumulative bound needs the factory record; without one, adapt
    // without the store (no bound, no writes).
    let mut persist = persist;
    if persist.as_mut().is_some_and(|p| p.factory().is_none()) {
        defmt::warn!("store: no factory record; adapting without the store (no bound, no writes)");
        persist = None;
    }
    let learner = &mut *memory.learner;
    let before = adapt::evaluate("before", stage(memory.scratch, learner, deploy), plant);
    adapt::set_scope(&mut learner.trainer, false);
    let out = adapt::run(
        learner,
        memory.scratch,
        plant,
        &adapt::SETTINGS.update,
        rounds,
        deploy,
        adapt::Guards {
            safety: adapt::SAFETY,
            persist,
            trace: &mut |_, _, _, _| {},
            report: &mut |_| true,
        },
    );
    let actor = stage(memory.scratch, learner, deploy);
    let after = adapt::evaluate("after", actor, plant);
    log_outcome(&out, before, after);
    actor
}

/// Logs `adapt done: …` (the QEMU tests parse it).
pub fn log_outcome(out: &adapt::Outcome, before: f32, after: f32) {
    defmt::info!(
        "adapt done: {=u32} updates, {=u32} trust-region violations, {=u32} drift refusals, {=u32} commits, {=u32} rollbacks, mean return before {=f32} after {=f32}",
        out.updates,
        out.violations,
        out.drift_refusals,
        out.commits,
        out.rollbacks,
        before,
        after
    );
}
