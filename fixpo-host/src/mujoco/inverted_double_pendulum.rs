//! `InvertedDoublePendulum-v5`.

use super::numpy::clip;
use super::options::options;
use super::sim::{QvelNoise, Sim};
use super::{MujocoError, MujocoTask, StepF64, common_items, info, mujoco_env};
use fixpo_core::envs::EnvInfo;
use rand_core::RngCore;

options! {
    /// `InvertedDoublePendulum-v5`'s keyword arguments, with Gymnasium's defaults.
    InvertedDoublePendulumOptions for "inverted-double-pendulum" {
        /// Reward per step while the tip is above `y = 1` (0 on the terminating step).
        healthy_reward: f64 = 10.0,
        /// Reset noise: `qpos` gets `U(−s, s)`, `qvel` gets `s · N(0, 1)`.
        reset_noise_scale: f64 = 0.1,
        /// Physics steps per control step (`dt = 0.01 · frame_skip`).
        frame_skip: u32 = 5,
        /// Episode length before truncation.
        max_episode_steps: u32 = 1000,
    }
    nonnegative: reset_noise_scale;
}

/// Gymnasium's `InvertedDoublePendulum-v5`: balance two stacked poles on
/// a cart.
///
/// Observation (9): `qpos[0]`, `sin(qpos[1..3])`, `cos(qpos[1..3])`,
/// `clip(qvel, ±10)`, `clip(qfrc_constraint[0], ±10)`. With `(x, _, y)` the
/// tip site's position, reward
/// `healthy_reward · (not terminated) − (0.01x² + (y−2)²) − (1e-3·qvel[1]² + 5e-3·qvel[2]²)`.
/// Terminates when `y ≤ 1`.
#[derive(Clone, Debug)]
pub struct InvertedDoublePendulum {
    sim: Sim,
    options: InvertedDoublePendulumOptions,
}

const FILE: &str = "inverted_double_pendulum.xml";

impl InvertedDoublePendulum {
    /// The observation's size.
    pub const OBS: usize = 9;
    /// The action's size.
    pub const ACT: usize = 1;
}

impl MujocoTask<{ InvertedDoublePendulum::OBS }, { InvertedDoublePendulum::ACT }>
    for InvertedDoublePendulum
{
    const INFO: EnvInfo = info(
        "inverted-double-pendulum",
        Self::OBS,
        Self::ACT,
        1.0,
        1000,
        "InvertedDoublePendulum-v5 (MuJoCo): balance two stacked poles on a cart",
    );
    const GYM_ID: &'static str = "InvertedDoublePendulum-v5";
    common_items!(InvertedDoublePendulumOptions);

    fn with_options(options: InvertedDoublePendulumOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (3, 3, 1))?;
        if sim.model().nsite() < 1 {
            return Err(MujocoError::Shape {
                task: Self::INFO.name,
                file: FILE,
                reason: "no tip site".into(),
            });
        }
        Ok(Self { sim, options })
    }

    fn obs_f64(&self) -> [f64; Self::OBS] {
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        let c = self.sim.data().qfrc_constraint();
        [
            q[0],
            q[1].sin(),
            q[2].sin(),
            q[1].cos(),
            q[2].cos(),
            clip(v[0], -10.0, 10.0),
            clip(v[1], -10.0, 10.0),
            clip(v[2], -10.0, 10.0),
            clip(c[0], -10.0, 10.0),
        ]
    }

    fn step_f64(&mut self, action: &[f64; Self::ACT]) -> StepF64<{ Self::OBS }> {
        self.sim.simulate(action);
        let [x, _, y] = self.sim.data().site_xpos()[0];
        let obs = self.obs_f64();
        let terminated = y <= 1.0;
        let v = self.sim.qvel();
        let (v1, v2) = (v[1], v[2]);
        let dist_penalty = 0.01 * (x * x) + (y - 2.0) * (y - 2.0);
        let vel_penalty = 1e-3 * (v1 * v1) + 5e-3 * (v2 * v2);
        let alive_bonus = self.options.healthy_reward * if terminated { 0.0 } else { 1.0 };
        StepF64 {
            obs,
            reward: alive_bonus - dist_penalty - vel_penalty,
            terminated,
            truncated: self.sim.elapsed_steps() >= self.options.max_episode_steps,
        }
    }

    fn sample_reset<R: RngCore + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, Vec<f64>) {
        self.sim
            .noisy_reset(self.options.reset_noise_scale, QvelNoise::Normal, rng)
    }
}

mujoco_env!(InvertedDoublePendulum);
