//! `Swimmer-v5`.

use super::locomotion::locomotion_items;
use super::options::options;
use super::sim::{QvelNoise, Sim};
use super::{MujocoError, MujocoTask, common_items, info, mujoco_env};
use fixpo_core::envs::EnvInfo;
use rand_core::RngCore;

options! {
    /// `Swimmer-v5`'s keyword arguments, with Gymnasium's defaults.
    SwimmerOptions for "swimmer" {
        /// Weight of the forward velocity `dx/dt` in the reward.
        forward_reward_weight: f64 = 1.0,
        /// Weight of `Σ a²` in the cost.
        ctrl_cost_weight: f64 = 1e-4,
        /// Reset noise: `qpos` and `qvel` each get `U(−s, s)`.
        reset_noise_scale: f64 = 0.1,
        /// Physics steps per control step (`dt = 0.01 · frame_skip`).
        frame_skip: u32 = 4,
        /// Episode length before truncation.
        max_episode_steps: u32 = 1000,
    }
    nonnegative: reset_noise_scale;
}

/// Gymnasium's `Swimmer-v5`: a three-link swimmer in a viscous fluid.
///
/// Observation (8): `qpos[2..5]`, `qvel`. Reward: `w_f · dx/dt − w_c · Σa²`.
/// Never terminates.
#[derive(Clone, Debug)]
pub struct Swimmer {
    sim: Sim,
    options: SwimmerOptions,
}

const FILE: &str = "swimmer.xml";

impl Swimmer {
    /// The observation's size.
    pub const OBS: usize = 8;
    /// The action's size.
    pub const ACT: usize = 2;
}

impl MujocoTask<{ Swimmer::OBS }, { Swimmer::ACT }> for Swimmer {
    const INFO: EnvInfo = info(
        "swimmer",
        Self::OBS,
        Self::ACT,
        1.0,
        1000,
        "Swimmer-v5 (MuJoCo): make a three-link swimmer move forward in a viscous fluid",
    );
    const GYM_ID: &'static str = "Swimmer-v5";
    common_items!(SwimmerOptions);
    locomotion_items!(first_qpos: 2, clip_qvel: false);

    fn with_options(options: SwimmerOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (5, 5, 2))?;
        Ok(Self { sim, options })
    }

    fn sample_reset<R: RngCore + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, Vec<f64>) {
        self.sim
            .noisy_reset(self.options.reset_noise_scale, QvelNoise::Uniform, rng)
    }
}

mujoco_env!(Swimmer);
