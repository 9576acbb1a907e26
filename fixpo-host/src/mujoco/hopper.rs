//! `Hopper-v5`.

use super::locomotion::{locomotion_items, torso_upright};
use super::options::options;
use super::sim::{QvelNoise, Sim};
use super::{MujocoError, MujocoTask, common_items, info, mujoco_env};
use fixpo_core::envs::EnvInfo;
use rand_core::RngCore;

options! {
    /// `Hopper-v5`'s keyword arguments, with Gymnasium's defaults.
    HopperOptions for "hopper" {
        /// Weight of the forward velocity `dx/dt` in the reward.
        forward_reward_weight: f64 = 1.0,
        /// Weight of `Σ a²` in the cost.
        ctrl_cost_weight: f64 = 1e-3,
        /// Reward per step while healthy (0 on an unhealthy step).
        healthy_reward: f64 = 1.0,
        /// End the episode when unhealthy (0/1).
        terminate_when_unhealthy: bool = true,
        /// Healthy only while every entry of `(qpos[2:], qvel)` is above this (strict).
        healthy_state_min: f64 = -100.0,
        /// … and below this (strict).
        healthy_state_max: f64 = 100.0,
        /// Healthy only while the torso height `qpos[1]` is above this (strict).
        healthy_z_min: f64 = 0.7,
        /// … and below this (strict).
        healthy_z_max: f64 = f64::INFINITY,
        /// Healthy only while the torso angle `qpos[2]` is above this (strict).
        healthy_angle_min: f64 = -0.2,
        /// … and below this (strict).
        healthy_angle_max: f64 = 0.2,
        /// Reset noise: `qpos` and `qvel` each get `U(−s, s)`.
        reset_noise_scale: f64 = 5e-3,
        /// Physics steps per control step (`dt = 0.002 · frame_skip`).
        frame_skip: u32 = 4,
        /// Episode length before truncation.
        max_episode_steps: u32 = 1000,
    }
    nonnegative: reset_noise_scale;
    ordered:
        healthy_state_min <= healthy_state_max,
        healthy_z_min <= healthy_z_max,
        healthy_angle_min <= healthy_angle_max;
}

/// Gymnasium's `Hopper-v5`: a one-legged robot hopping forward.
///
/// Observation (11): `qpos[1..6]`, `clip(qvel, ±10)`. Reward:
/// `w_f · dx/dt + healthy_reward · healthy − w_c · Σa²`. Terminates when
/// unhealthy (see [`HopperOptions`]).
#[derive(Clone, Debug)]
pub struct Hopper {
    sim: Sim,
    options: HopperOptions,
}

const FILE: &str = "hopper.xml";

impl Hopper {
    /// The observation's size.
    pub const OBS: usize = 11;
    /// The action's size.
    pub const ACT: usize = 3;

    /// Gymnasium's `is_healthy`: every entry of `(qpos[2..], qvel)`
    /// strictly inside the healthy state range, and the torso upright.
    fn is_healthy(&self) -> bool {
        let o = &self.options;
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        let state_ok = q[2..]
            .iter()
            .chain(v)
            .all(|&x| o.healthy_state_min < x && x < o.healthy_state_max);
        let z = (o.healthy_z_min, o.healthy_z_max);
        let angle = (o.healthy_angle_min, o.healthy_angle_max);
        state_ok && torso_upright(q, z, angle)
    }
}

impl MujocoTask<{ Hopper::OBS }, { Hopper::ACT }> for Hopper {
    const INFO: EnvInfo = info(
        "hopper",
        Self::OBS,
        Self::ACT,
        1.0,
        1000,
        "Hopper-v5 (MuJoCo): make a one-legged robot hop forward without falling",
    );
    const GYM_ID: &'static str = "Hopper-v5";
    common_items!(HopperOptions);
    locomotion_items!(first_qpos: 1, clip_qvel: true, is_healthy: Self::is_healthy);

    fn with_options(options: HopperOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (6, 6, 3))?;
        Ok(Self { sim, options })
    }

    fn sample_reset<R: RngCore + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, Vec<f64>) {
        self.sim
            .noisy_reset(self.options.reset_noise_scale, QvelNoise::Uniform, rng)
    }
}

mujoco_env!(Hopper);
