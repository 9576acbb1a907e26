//! `Walker2d-v5`.

use super::numpy::{clip, flag, sum_sq};
use super::options::{check_range, check_scale, options};
use super::sim::Sim;
use super::{MujocoError, MujocoTask, StepF64, common_items, info, mujoco_env};
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
}

impl Walker2dOptions {
    fn check(&self) -> Result<(), &'static str> {
        check_scale(self.reset_noise_scale)?;
        check_range(
            self.healthy_z_min,
            self.healthy_z_max,
            "healthy_z_min > healthy_z_max",
        )?;
        check_range(
            self.healthy_angle_min,
            self.healthy_angle_max,
            "healthy_angle_min > healthy_angle_max",
        )
    }
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

    fn is_healthy(&self) -> bool {
        let o = &self.options;
        let (z, angle) = (self.sim.qpos()[1], self.sim.qpos()[2]);
        o.healthy_z_min < z
            && z < o.healthy_z_max
            && o.healthy_angle_min < angle
            && angle < o.healthy_angle_max
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

    fn with_options(options: Walker2dOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (9, 9, 6))?;
        Ok(Self { sim, options })
    }

    fn obs_f64(&self) -> [f64; Self::OBS] {
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        core::array::from_fn(|i| {
            if i < 8 {
                q[i + 1]
            } else {
                clip(v[i - 8], -10.0, 10.0)
            }
        })
    }

    fn step_f64(&mut self, action: &[f64; Self::ACT]) -> StepF64<{ Self::OBS }> {
        let x_before = self.sim.qpos()[0];
        self.sim.simulate(action);
        let x_velocity = (self.sim.qpos()[0] - x_before) / self.sim.dt();
        let o = self.options;
        let healthy = self.is_healthy();
        let rewards = o.forward_reward_weight * x_velocity + flag(healthy, o.healthy_reward);
        let reward = rewards - o.ctrl_cost_weight * sum_sq(action);
        StepF64 {
            obs: self.obs_f64(),
            reward,
            terminated: !healthy && o.terminate_when_unhealthy,
            truncated: self.sim.elapsed_steps() >= o.max_episode_steps,
        }
    }

    fn sample_reset<R: RngCore + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, Vec<f64>) {
        let s = self.options.reset_noise_scale;
        let qpos = Sim::uniform_noise(self.sim.init_qpos(), s, rng);
        let qvel = Sim::uniform_noise(&self.sim.zero_qvel(), s, rng);
        (qpos, qvel)
    }
}

mujoco_env!(Walker2d);
