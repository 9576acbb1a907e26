//! `Swimmer-v5`.

use super::numpy::sum_sq;
use super::options::{check_scale, options};
use super::sim::Sim;
use super::{MujocoError, MujocoTask, StepF64, common_items, info, mujoco_env};
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
}

impl SwimmerOptions {
    fn check(&self) -> Result<(), &'static str> {
        check_scale(self.reset_noise_scale)
    }
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

    fn with_options(options: SwimmerOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (5, 5, 2))?;
        Ok(Self { sim, options })
    }

    fn obs_f64(&self) -> [f64; Self::OBS] {
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        core::array::from_fn(|i| if i < 3 { q[i + 2] } else { v[i - 3] })
    }

    fn step_f64(&mut self, action: &[f64; Self::ACT]) -> StepF64<{ Self::OBS }> {
        let x_before = self.sim.qpos()[0];
        self.sim.simulate(action);
        let x_velocity = (self.sim.qpos()[0] - x_before) / self.sim.dt();
        let o = self.options;
        let reward = o.forward_reward_weight * x_velocity - o.ctrl_cost_weight * sum_sq(action);
        StepF64 {
            obs: self.obs_f64(),
            reward,
            terminated: false,
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

mujoco_env!(Swimmer);
