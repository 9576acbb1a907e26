//! `Ant-v5`.

use super::numpy::{clip, flag, np_sum, sum_sq};
use super::options::options;
use super::sim::{QvelNoise, Sim};
use super::{MujocoError, MujocoTask, StepF64, common_items, info, mujoco_env};
use fixpo_core::envs::EnvInfo;
use rand_core::RngCore;

options! {
    /// `Ant-v5`'s keyword arguments, with Gymnasium's defaults.
    AntOptions for "ant" {
        /// Weight of the main body's forward velocity `dx/dt` in the reward.
        forward_reward_weight: f64 = 1.0,
        /// Weight of `Σ a²` in the cost.
        ctrl_cost_weight: f64 = 0.5,
        /// Weight of `Σ clip(cfrc_ext)²` (all bodies) in the cost.
        contact_cost_weight: f64 = 5e-4,
        /// Reward per step while healthy (0 on an unhealthy step).
        healthy_reward: f64 = 1.0,
        /// The body whose `x` velocity is rewarded (1 = torso).
        main_body: u32 = 1,
        /// End the episode when unhealthy (0/1).
        terminate_when_unhealthy: bool = true,
        /// Healthy only while the state is finite and the torso height `qpos[2]` is ≥ this.
        healthy_z_min: f64 = 0.2,
        /// … and ≤ this.
        healthy_z_max: f64 = 1.0,
        /// External contact forces are clipped to `[min, max]` (observation and cost).
        contact_force_min: f64 = -1.0,
        /// … upper end of that range.
        contact_force_max: f64 = 1.0,
        /// Reset noise: `qpos` gets `U(−s, s)`, `qvel` gets `s · N(0, 1)`.
        reset_noise_scale: f64 = 0.1,
        /// Physics steps per control step (`dt = 0.01 · frame_skip`).
        frame_skip: u32 = 5,
        /// Episode length before truncation.
        max_episode_steps: u32 = 1000,
    }
    nonnegative: reset_noise_scale;
    ordered: healthy_z_min <= healthy_z_max, contact_force_min <= contact_force_max;
    also: AntOptions::check_main_body;
}

impl AntOptions {
    /// `main_body` must be a body that moves: ant.xml has 14 bodies, and
    /// the world (0) does not move.
    fn check_main_body(&self) -> Result<(), &'static str> {
        if self.main_body >= 14 {
            return Err("main_body must be a body index in 1..14");
        }
        Ok(())
    }
}

/// Gymnasium's `Ant-v5`: a four-legged robot walking forward.
///
/// Observation (105): `qpos[2..15]`, `qvel`, `clip(cfrc_ext[1..14], ±1)`
/// flattened. Reward `w_f · dx/dt (main body) + healthy_reward · healthy −
/// w_c · Σa² − w_cc · Σ clip(cfrc_ext)²`. Terminates when unhealthy
/// (see [`AntOptions`]).
#[derive(Clone, Debug)]
pub struct Ant {
    sim: Sim,
    options: AntOptions,
    /// The main body's `xy` as `MjData` showed it before a restored
    /// snapshot (MuJoCo's `xpos` after `mj_step` lags one physics step, and
    /// Gymnasium's velocity uses that value).
    xy_before: Option<[f64; 2]>,
}

const FILE: &str = "ant.xml";
const NBODY: usize = 14;

impl Ant {
    /// The observation's size.
    pub const OBS: usize = 105;
    /// The action's size.
    pub const ACT: usize = 8;

    fn main_xy(&self) -> [f64; 2] {
        let p = self.sim.data().xpos()[self.options.main_body as usize];
        [p[0], p[1]]
    }
    fn contact_forces(&self) -> [f64; 6 * NBODY] {
        let f = self.sim.data().cfrc_ext();
        let (lo, hi) = (
            self.options.contact_force_min,
            self.options.contact_force_max,
        );
        core::array::from_fn(|i| clip(f[i / 6][i % 6], lo, hi))
    }
    fn is_healthy(&self) -> bool {
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        let o = &self.options;
        q.iter().chain(v).all(|x| x.is_finite())
            && o.healthy_z_min <= q[2]
            && q[2] <= o.healthy_z_max
    }
}

impl MujocoTask<{ Ant::OBS }, { Ant::ACT }> for Ant {
    const INFO: EnvInfo = info(
        "ant",
        Self::OBS,
        Self::ACT,
        1.0,
        1000,
        "Ant-v5 (MuJoCo): make a four-legged robot walk forward",
    );
    const GYM_ID: &'static str = "Ant-v5";
    common_items!(AntOptions);

    fn with_options(options: AntOptions) -> Result<Self, MujocoError> {
        options.validate()?;
        let sim = Sim::load(Self::INFO.name, FILE, options.frame_skip, (15, 14, 8))?;
        if sim.model().nbody() as usize != NBODY {
            return Err(MujocoError::Shape {
                task: Self::INFO.name,
                file: FILE,
                reason: format!("{} bodies, expected {NBODY}", sim.model().nbody()),
            });
        }
        Ok(Self {
            sim,
            options,
            xy_before: None,
        })
    }
    fn obs_f64(&self) -> [f64; Self::OBS] {
        let (q, v) = (self.sim.qpos(), self.sim.qvel());
        let cf = self.contact_forces();
        core::array::from_fn(|i| match i {
            0..13 => q[i + 2],
            13..27 => v[i - 13],
            _ => cf[i - 27 + 6],
        })
    }

    fn step_f64(&mut self, action: &[f64; Self::ACT]) -> StepF64<{ Self::OBS }> {
        let before = self.xy_before.take().unwrap_or_else(|| self.main_xy());
        self.sim.simulate(action);
        let x_velocity = (self.main_xy()[0] - before[0]) / self.sim.dt();
        let o = self.options;
        let healthy = self.is_healthy();
        let rewards = x_velocity * o.forward_reward_weight + flag(healthy, o.healthy_reward);
        let cf = self.contact_forces();
        let contact_cost = o.contact_cost_weight * np_sum(&cf.map(|x| x * x));
        let costs = o.ctrl_cost_weight * sum_sq(action) + contact_cost;
        StepF64 {
            obs: self.obs_f64(),
            reward: rewards - costs,
            terminated: !healthy && o.terminate_when_unhealthy,
            truncated: self.sim.elapsed_steps() >= o.max_episode_steps,
        }
    }

    fn sample_reset<R: RngCore + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, Vec<f64>) {
        self.sim
            .noisy_reset(self.options.reset_noise_scale, QvelNoise::Normal, rng)
    }

    fn set_state(&mut self, qpos: &[f64], qvel: &[f64]) -> Result<[f64; Self::OBS], MujocoError> {
        self.xy_before = None;
        self.sim.set_state(Self::INFO.name, qpos, qvel)?;
        Ok(self.obs_f64())
    }
    fn aux(&self) -> Vec<f64> {
        self.xy_before.unwrap_or_else(|| self.main_xy()).to_vec()
    }
    fn set_aux(&mut self, aux: &[f64]) {
        self.xy_before = Some([aux[0], aux[1]]);
    }
}

mujoco_env!(Ant);
