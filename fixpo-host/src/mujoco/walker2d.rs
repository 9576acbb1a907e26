//! `Walker2d-v5`.

use super::locomotion::{locomotion_items, torso_upright};
use super::options::options;
use super::sim::{QvelNoise, Sim};
use super::{MujocoError, MujocoTask, common_items, info, mujoco_env};
use fixpo_core::envs::EnvInfo;
use rand_core::RngCore;

options! {
    /// `Walker2d-v5`'s keyword arguments, with Gymnasium's defaults.
    Walker2dOptions for "walker2d" {
        /// Weight of the forward velocity `dx/dt` in the reward.
        forward_reward_weight: f64 = 1.0,
        /// Weight of `Σ a²` in the cost.
        ctrl_cost_weight: f64 = 1e-3,
        /// Reward per step while healthy (0 on an unhealthy step).
        healthy_reward: f64 = 1.0,
        /// End the episode when unhealthy (0/1).
        terminate_when_unhealthy: bool = true,
        /// Healthy only while the torso height `qpos[1]` is above this (strict).
        healthy_z_min: f64 = 0.8,
        /// … and below this (strict).
        healthy_z_max: f64 = 2.0,
        /// Healthy only while the torso angle `qpos[2]` is above this (strict).
        healthy_angle_min: f64 = -1.0,
        /// … and below this (strict).
        healthy_angle_max: f64 = 1.0,
        /// Reset noise: `qpos` and `qvel` each get `U(−s, s)`.
        reset_noise_scale: f64 = 5e-3,
        /// Physics steps per control step (`dt = 0.002 · frame_skip`).
        frame_skip: u32 = 4,
        /// Episode length before truncation.
        max_episode_steps: u32 = 1000,
    }
    nonnegative: reset_noise_scale;
    ordered: healthy_z_min <= healthy_z_max, healthy_angle_min <= healthy_angle_max;
}

/// Gymnasium's `Walker2d-v5` (model `walker2d_v5.xml`, both feet with
/// friction 1.9): a two-legged robot walking forward.
///
/// Observation (17): `qpos[1..9]`, `clip(qvel, ±10)`. Reward:
/// `w_f · dx/dt + healthy_reward · healthy − w_c · Σa²`. Terminates when
/// unhealthy (see [`Walker2dOptions`]).
#[derive(Clone, Debug)]
pub struct Walker2d {
    sim: Sim,
    options: Walker2dOptions,
}

const FILE: &str = "walker2d_v5.xml";

impl Walker2d {
    /// The observation's size.
    pub const OBS: usize = 17;
    /// The action's size.
    pub const ACT: usize = 6;

    /// Gymnasium's `is_healthy`: the torso upright.
    fn is_healthy(&self) -> bool {
        let o = &self.options;
        let z = (o.healthy_z_min, o.healthy_z_max);
        let angle = (o.healthy_angle_min, o.healthy_angle_max);
        torso_upright(self.sim.qpos(), z, angle)
    }
}

impl MujocoTask<{ Walker2d::OBS }, { Walker2d::ACT }> for Walker2d {
    const INFO: EnvInfo = info(
        "walker2d",
        Self::OBS,
        Self::ACT,
        1.0,
        1000,
        "Walker2d-v5 (MuJoCo): make a two-legged robot walk forward without falling",
    );
    const GYM_ID: &'static str = "Walker2d-v5";
    common_items!(Walker2dOptions);
    locomotion_items!(first_qpos: 1, clip_qvel: true, is_healthy: Self::is_healthy);

    fn with_options(options: Walker2dOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (9, 9, 6))?;
        Ok(Self { sim, options })
    }

    fn sample_reset<R: RngCore + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, Vec<f64>) {
        self.sim
            .noisy_reset(self.options.reset_noise_scale, QvelNoise::Uniform, rng)
    }
}

mujoco_env!(Walker2d);
