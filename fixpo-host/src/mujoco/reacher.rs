//! `Reacher-v5`.

use super::numpy::sum_sq;
use super::options::options;
use super::sim::Sim;
use super::{MujocoError, MujocoTask, StepF64, common_items, info, mujoco_env};
use fixpo_core::envs::EnvInfo;
use fixpo_core::rng;
use rand_core::RngCore;

options! {
    /// `Reacher-v5`'s keyword arguments, with Gymnasium's defaults.
    ReacherOptions for "reacher" {
        /// Weight of the fingertip–target distance in the cost.
        reward_dist_weight: f64 = 1.0,
        /// Weight of `Σ a²` in the cost.
        reward_control_weight: f64 = 1.0,
        /// Physics steps per control step (`dt = 0.01 · frame_skip`).
        frame_skip: u32 = 2,
        /// Episode length before truncation (Gymnasium registers 50).
        max_episode_steps: u32 = 50,
    }
}

/// Gymnasium's `Reacher-v5`: move a two-joint arm's fingertip to a random
/// target.
///
/// Observation (10): `cos(qpos[0..2])`, `sin(qpos[0..2])`, `qpos[2..4]`
/// (the target), `qvel[0..2]`, `(fingertip − target)[0..2]` (body
/// positions). Reward `−w_d · ‖fingertip − target‖ − w_c · Σa²`. Never
/// terminates; truncated after 50 steps.
///
/// Reset: `qpos = qpos0 + U(−0.1, 0.1)`, then the target `qpos[2..4]`
/// drawn from `U(−0.2, 0.2)²` until inside the radius-0.2 disc; `qvel =
/// U(−0.005, 0.005)` with the target's velocity 0.
#[derive(Clone, Debug)]
pub struct Reacher {
    sim: Sim,
    options: ReacherOptions,
    fingertip: usize,
    target: usize,
}

const FILE: &str = "reacher.xml";

impl Reacher {
    /// The observation's size.
    pub const OBS: usize = 10;
    /// The action's size.
    pub const ACT: usize = 2;

    fn tip_minus_target(&self) -> [f64; 3] {
        let x = self.sim.data().xpos();
        let (a, b) = (x[self.fingertip], x[self.target]);
        [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
    }
}

impl MujocoTask<{ Reacher::OBS }, { Reacher::ACT }> for Reacher {
    const INFO: EnvInfo = info(
        "reacher",
        Self::OBS,
        Self::ACT,
        1.0,
        50,
        "Reacher-v5 (MuJoCo): move a two-joint arm's fingertip to a random target",
    );
    const GYM_ID: &'static str = "Reacher-v5";
    common_items!(ReacherOptions);

    fn with_options(options: ReacherOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (4, 4, 2))?;
        let fingertip = sim.body_id(Self::INFO.name, FILE, "fingertip")?;
        let target = sim.body_id(Self::INFO.name, FILE, "target")?;
        Ok(Self {
            sim,
            options,
            fingertip,
            target,
        })
    }

    fn obs_f64(&self) -> [f64; Self::OBS] {
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        let d = self.tip_minus_target();
        [
            q[0].cos(),
            q[1].cos(),
            q[0].sin(),
            q[1].sin(),
            q[2],
            q[3],
            v[0],
            v[1],
            d[0],
            d[1],
        ]
    }

    fn step_f64(&mut self, action: &[f64; Self::ACT]) -> StepF64<{ Self::OBS }> {
        self.sim.simulate(action);
        let d = self.tip_minus_target();
        // np.linalg.norm of a 3-vector: sqrt of BLAS ddot, which accumulates with FMA.
        let norm = d[2].mul_add(d[2], d[1].mul_add(d[1], d[0] * d[0])).sqrt();
        let o = self.options;
        let reward_dist = -norm * o.reward_dist_weight;
        let reward_ctrl = -sum_sq(action) * o.reward_control_weight;
        StepF64 {
            obs: self.obs_f64(),
            reward: reward_dist + reward_ctrl,
            terminated: false,
            truncated: self.sim.elapsed_steps() >= o.max_episode_steps,
        }
    }

    fn sample_reset<R: RngCore + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, Vec<f64>) {
        let mut qpos = Sim::uniform_noise(self.sim.init_qpos(), 0.1, rng);
        let goal = loop {
            let g = [
                0.2 * rng::uniform_range(rng, -1.0, 1.0),
                0.2 * rng::uniform_range(rng, -1.0, 1.0),
            ];
            let g = g.map(f64::from);
            if (g[0] * g[0] + g[1] * g[1]).sqrt() < 0.2 {
                break g;
            }
        };
        qpos[2..4].copy_from_slice(&goal);
        let mut qvel = Sim::uniform_noise(&self.sim.zero_qvel(), 0.005, rng);
        qvel[2..4].fill(0.0);
        (qpos, qvel)
    }
}

mujoco_env!(Reacher);
