//! `HalfCheetah-v5`.

use super::locomotion::locomotion_items;
use super::options::options;
use super::sim::{QvelNoise, Sim};
use super::{MujocoError, MujocoTask, common_items, info, mujoco_env};
use fixpo_core::envs::EnvInfo;
use rand_core::RngCore;

options! {
    /// `HalfCheetah-v5`'s keyword arguments, with Gymnasium's defaults.
    HalfCheetahOptions for "halfcheetah" {
        /// Weight of the forward velocity `dx/dt` in the reward.
        forward_reward_weight: f64 = 1.0,
        /// Weight of `Σ a²` in the cost.
        ctrl_cost_weight: f64 = 0.1,
        /// Reset noise: `qpos` gets `U(−s, s)`, `qvel` gets `s · N(0, 1)`.
        reset_noise_scale: f64 = 0.1,
        /// Physics steps per control step (`dt = 0.01 · frame_skip`).
        frame_skip: u32 = 5,
        /// Episode length before truncation.
        max_episode_steps: u32 = 1000,
    }
    nonnegative: reset_noise_scale;
}

/// Gymnasium's `HalfCheetah-v5`: a planar cheetah running forward.
///
/// Observation (17): `qpos[1..9]`, `qvel` (not clipped). Reward:
/// `w_f · dx/dt − w_c · Σa²`. Never terminates.
#[derive(Clone, Debug)]
pub struct HalfCheetah {
    sim: Sim,
    options: HalfCheetahOptions,
}

const FILE: &str = "half_cheetah.xml";

impl HalfCheetah {
    /// The observation's size.
    pub const OBS: usize = 17;
    /// The action's size.
    pub const ACT: usize = 6;
}

impl MujocoTask<{ HalfCheetah::OBS }, { HalfCheetah::ACT }> for HalfCheetah {
    const INFO: EnvInfo = info(
        "halfcheetah",
        Self::OBS,
        Self::ACT,
        1.0,
        1000,
        "HalfCheetah-v5 (MuJoCo): make a planar cheetah run forward",
    );
    const GYM_ID: &'static str = "HalfCheetah-v5";
    common_items!(HalfCheetahOptions);
    locomotion_items!(first_qpos: 1, clip_qvel: false);

    fn with_options(options: HalfCheetahOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (9, 9, 6))?;
        Ok(Self { sim, options })
    }

    fn sample_reset<R: RngCore + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, Vec<f64>) {
        self.sim
            .noisy_reset(self.options.reset_noise_scale, QvelNoise::Normal, rng)
    }
}

mujoco_env!(HalfCheetah);
