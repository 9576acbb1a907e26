//! What Gymnasium's planar locomotion tasks share. Hopper, Walker2d,
//! HalfCheetah and Swimmer observe `qpos` without the root's leading
//! coordinates, then `qvel`; they are rewarded for the root's forward
//! velocity less a control cost; the two walkers also earn a reward for
//! each healthy step and may end the episode when unhealthy.
//!
//! A task file says `locomotion_items!(…)` in its [`MujocoTask`] impl,
//! which makes `obs_f64` from [`observation`] and `step_f64` from [`step`].

use super::numpy::{clip, flag, sum_sq};
use super::sim::Sim;
use super::{MujocoTask, StepF64};

/// A locomotion task's reward weights, time limit and health rule (from
/// its options).
pub(super) struct Rules<T> {
    /// Weight of the root's forward velocity `dx/dt`.
    pub(super) forward_reward_weight: f64,
    /// Weight of `Σ a²` in the cost.
    pub(super) ctrl_cost_weight: f64,
    /// Episode length before truncation.
    pub(super) max_episode_steps: u32,
    /// The walkers' health rule; `None` for a task that is never unhealthy.
    pub(super) health: Option<Health<T>>,
}

/// A walker's health rule.
pub(super) struct Health<T> {
    /// Gymnasium's `is_healthy` of the current state.
    pub(super) is_healthy: fn(&T) -> bool,
    /// Reward for a healthy step.
    pub(super) healthy_reward: f64,
    /// An unhealthy step ends the episode.
    pub(super) terminate_when_unhealthy: bool,
}

/// The walkers' posture check: the torso height `qpos[1]` strictly inside
/// `z` and its angle `qpos[2]` strictly inside `angle` (`(min, max)` each).
pub(super) fn torso_upright(qpos: &[f64], z: (f64, f64), angle: (f64, f64)) -> bool {
    let (height, tilt) = (qpos[1], qpos[2]);
    z.0 < height && height < z.1 && angle.0 < tilt && tilt < angle.1
}

/// Gymnasium's observation: `qpos[first_qpos..]`, then `qvel` (clipped to
/// `[−10, 10]` when `clip_qvel`).
pub(super) fn observation<const O: usize>(
    sim: &Sim,
    first_qpos: usize,
    clip_qvel: bool,
) -> [f64; O] {
    let (q, v) = (&sim.qpos()[first_qpos..], sim.qvel());
    debug_assert_eq!(q.len() + v.len(), O);
    core::array::from_fn(|i| match i.checked_sub(q.len()) {
        None => q[i],
        Some(j) if clip_qvel => clip(v[j], -10.0, 10.0),
        Some(j) => v[j],
    })
}

/// One control period, as Gymnasium's `step`. With `x_velocity` the
/// root's `Δqpos[0] / dt`, the reward is `w_f · x_velocity − w_c · Σa²`;
/// with a [`Health`] rule it is `(w_f · x_velocity + healthy_reward ·
/// healthy) − w_c · Σa²`, and an unhealthy step ends the episode when
/// `terminate_when_unhealthy`.
pub(super) fn step<const O: usize, const A: usize, T: MujocoTask<O, A>>(
    task: &mut T,
    action: &[f64; A],
    rules: Rules<T>,
) -> StepF64<O> {
    let x_before = task.sim().qpos()[0];
    task.sim_mut().simulate(action);
    let x_velocity = (task.sim().qpos()[0] - x_before) / task.sim().dt();
    let forward_reward = rules.forward_reward_weight * x_velocity;
    let ctrl_cost = rules.ctrl_cost_weight * sum_sq(action);
    let (reward, terminated) = match rules.health {
        None => (forward_reward - ctrl_cost, false),
        Some(h) => {
            let healthy = (h.is_healthy)(task);
            let rewards = forward_reward + flag(healthy, h.healthy_reward);
            (rewards - ctrl_cost, !healthy && h.terminate_when_unhealthy)
        }
    };
    StepF64 {
        obs: task.obs_f64(),
        reward,
        terminated,
        truncated: task.sim().elapsed_steps() >= rules.max_episode_steps,
    }
}

/// The [`MujocoTask`] items of a locomotion task: `obs_f64` by
/// [`observation`] and `step_f64` by [`step`], with the [`Rules`] read
/// from the options' fields of Gymnasium's names (`forward_reward_weight`,
/// `ctrl_cost_weight`, `max_episode_steps`; with `is_healthy`, also
/// `healthy_reward` and `terminate_when_unhealthy`).
macro_rules! locomotion_items {
    (first_qpos: $first:expr, clip_qvel: $clip:expr $(, is_healthy: $is_healthy:expr)? $(,)?) => {
        fn obs_f64(&self) -> [f64; Self::OBS] {
            $crate::mujoco::locomotion::observation(&self.sim, $first, $clip)
        }

        fn step_f64(&mut self, action: &[f64; Self::ACT]) -> $crate::mujoco::StepF64<{ Self::OBS }> {
            let o = self.options;
            let rules = $crate::mujoco::locomotion::Rules {
                forward_reward_weight: o.forward_reward_weight,
                ctrl_cost_weight: o.ctrl_cost_weight,
                max_episode_steps: o.max_episode_steps,
                health: $crate::mujoco::locomotion::locomotion_items!(@health o $(, $is_healthy)?),
            };
            $crate::mujoco::locomotion::step(self, action, rules)
        }
    };
    (@health $o:ident) => {
        None
    };
    (@health $o:ident, $is_healthy:expr) => {
        Some($crate::mujoco::locomotion::Health {
            is_healthy: $is_healthy,
            healthy_reward: $o.healthy_reward,
            terminate_when_unhealthy: $o.terminate_when_unhealthy,
        })
    };
}
pub(crate) use locomotion_items;
