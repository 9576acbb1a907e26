//! `HalfCheetah-v5`.

use super::numpy::sum_sq;
use super::options::{check_scale, options};
use super::sim::Sim;
use super::{MujocoError, MujocoTask, StepF64, common_items, info, mujoco_env};
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
}

impl HalfCheetahOptions {
    fn check(&self) -> Result<(), &'static str> {
        check_scale(self.reset_noise_scale)
    }
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

    fn with_options(options: HalfCheetahOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (9, 9, 6))?;
        Ok(Self { sim, options })
    }

    fn obs_f64(&self) -> [f64; Self::OBS] {
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        core::array::from_fn(|i| if i < 8 { q[i + 1] } else { v[i - 8] })
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
        let qvel = Sim::normal_noise(&self.sim.zero_qvel(), s, rng);
        (qpos, qvel)
    }
}

mujoco_env!(HalfCheetah);
