//! `Hopper-v5`.

use super::numpy::{clip, flag, sum_sq};
use super::options::{check_range, check_scale, options};
use super::sim::Sim;
use super::{MujocoError, MujocoTask, StepF64, common_items, info, mujoco_env};
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
}

impl HopperOptions {
    fn check(&self) -> Result<(), &'static str> {
        check_scale(self.reset_noise_scale)?;
        check_range(
            self.healthy_state_min,
            self.healthy_state_max,
            "healthy_state_min > healthy_state_max",
        )?;
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

    fn is_healthy(&self) -> bool {
        let o = &self.options;
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        let state_ok = q[2..]
            .iter()
            .chain(v)
            .all(|&x| o.healthy_state_min < x && x < o.healthy_state_max);
        let (z, angle) = (q[1], q[2]);
        state_ok
            && o.healthy_z_min < z
            && z < o.healthy_z_max
            && o.healthy_angle_min < angle
            && angle < o.healthy_angle_max
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

    fn with_options(options: HopperOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (6, 6, 3))?;
        Ok(Self { sim, options })
    }

    fn obs_f64(&self) -> [f64; Self::OBS] {
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        core::array::from_fn(|i| {
            if i < 5 {
                q[i + 1]
            } else {
                clip(v[i - 5], -10.0, 10.0)
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

mujoco_env!(Hopper);
