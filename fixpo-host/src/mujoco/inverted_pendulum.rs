//! `InvertedPendulum-v5`.

use super::options::options;
use super::sim::{QvelNoise, Sim};
use super::{MujocoError, MujocoTask, StepF64, common_items, info, mujoco_env};
use fixpo_core::envs::EnvInfo;
use rand_core::RngCore;

options! {
    /// `InvertedPendulum-v5`'s keyword arguments, with Gymnasium's defaults.
    InvertedPendulumOptions for "inverted-pendulum" {
        /// Reset noise: `qpos` and `qvel` each get `U(−s, s)`.
        reset_noise_scale: f64 = 0.01,
        /// Physics steps per control step (`dt = 0.02 · frame_skip`).
        frame_skip: u32 = 2,
        /// Episode length before truncation.
        max_episode_steps: u32 = 1000,
    }
    nonnegative: reset_noise_scale;
}

/// Gymnasium's `InvertedPendulum-v5`: balance a pole on a cart.
///
/// Observation (4): `qpos`, `qvel`. Reward 1 per step, 0 on the
/// terminating step. Terminates when an observation is not finite or
/// `|qpos[1]| > 0.2`.
#[derive(Clone, Debug)]
pub struct InvertedPendulum {
    sim: Sim,
    options: InvertedPendulumOptions,
}

const FILE: &str = "inverted_pendulum.xml";

impl InvertedPendulum {
    /// The observation's size.
    pub const OBS: usize = 4;
    /// The action's size.
    pub const ACT: usize = 1;
}

impl MujocoTask<{ InvertedPendulum::OBS }, { InvertedPendulum::ACT }> for InvertedPendulum {
    const INFO: EnvInfo = info(
        "inverted-pendulum",
        Self::OBS,
        Self::ACT,
        3.0,
        1000,
        "InvertedPendulum-v5 (MuJoCo): balance a pole on a cart",
    );
    const GYM_ID: &'static str = "InvertedPendulum-v5";
    common_items!(InvertedPendulumOptions);

    fn with_options(options: InvertedPendulumOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (2, 2, 1))?;
        Ok(Self { sim, options })
    }

    fn obs_f64(&self) -> [f64; Self::OBS] {
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        [q[0], q[1], v[0], v[1]]
    }

    fn step_f64(&mut self, action: &[f64; Self::ACT]) -> StepF64<{ Self::OBS }> {
        self.sim.simulate(action);
        let obs = self.obs_f64();
        let terminated = !obs.iter().all(|x| x.is_finite()) || obs[1].abs() > 0.2;
        StepF64 {
            obs,
            reward: if terminated { 0.0 } else { 1.0 },
            terminated,
            truncated: self.sim.elapsed_steps() >= self.options.max_episode_steps,
        }
    }

    fn sample_reset<R: RngCore + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, Vec<f64>) {
        self.sim
            .noisy_reset(self.options.reset_noise_scale, QvelNoise::Uniform, rng)
    }
}

mujoco_env!(InvertedPendulum);
