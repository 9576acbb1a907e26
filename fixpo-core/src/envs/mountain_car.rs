//! Gymnasium's `MountainCarContinuous-v0`.

use rand_core::RngCore;

use super::clip;
use crate::env::{ActionSpace, Env, Step};
use crate::rng::uniform_range;

/// Drive an underpowered car out of a valley (`MountainCarContinuous-v0`).
///
/// The car moves on the curve `y = sin(3x)`; each step
///
/// ```text
/// f  = clip(action, min_action, max_action)
/// v' = clip(v + power·f − gravity·cos(3x), ±max_speed)
/// x' = clip(x + v', min_position, max_position)
/// v' = 0  if x' hit min_position while v' < 0
/// ```
///
/// - Observation: the state `[x, v]`.
/// - Reward `−0.1·action²` on the *unclipped* action, plus 100 on the step
///   that reaches the goal (as Gymnasium).
/// - Terminates when `x ≥ goal_position` and `v ≥ goal_velocity`; truncated
///   after [`MountainCarContinuous::MAX_EPISODE_STEPS`].
/// - Reset: `x ~ U[−0.6, −0.4)`, `v = 0`.
#[derive(Clone, Debug, PartialEq)]
pub struct MountainCarContinuous {
    /// Lower action bound, default −1.
    pub min_action: f32,
    /// Upper action bound, default 1.
    pub max_action: f32,
    /// Left wall, default −1.2.
    pub min_position: f32,
    /// Right end of the track, default 0.6.
    pub max_position: f32,
    /// Speed limit per step, default 0.07.
    pub max_speed: f32,
    /// Position of the flag, default 0.45.
    pub goal_position: f32,
    /// Minimum velocity at the flag, default 0.
    pub goal_velocity: f32,
    /// Velocity gained per unit of action per step, default 0.0015.
    pub power: f32,
    /// The hill's pull, `gravity·cos(3x)` per step; Gymnasium's literal
    /// 0.0025.
    pub gravity: f32,
    /// Steps after which an episode is truncated, default
    /// [`MountainCarContinuous::MAX_EPISODE_STEPS`].
    pub max_episode_steps: u32,
    state: [f32; 2],
    elapsed_steps: u32,
}

impl MountainCarContinuous {
    /// Observation dimension.
    pub const OBS: usize = 2;
    /// Action dimension.
    pub const ACT: usize = 1;
    /// Gymnasium's time limit for `MountainCarContinuous-v0`.
    pub const MAX_EPISODE_STEPS: u32 = 999;

    /// `MountainCarContinuous-v0` with Gymnasium's parameters.
    pub const fn new() -> Self {
        Self {
            min_action: -1.0,
            max_action: 1.0,
            min_position: -1.2,
            max_position: 0.6,
            max_speed: 0.07,
            goal_position: 0.45,
            goal_velocity: 0.0,
            power: 0.0015,
            gravity: 0.0025,
            max_episode_steps: Self::MAX_EPISODE_STEPS,
            state: [0.0; 2],
            elapsed_steps: 0,
        }
    }

    /// The car's state `[x, v]` (also the observation).
    pub const fn state(&self) -> [f32; 2] {
        self.state
    }

    /// Puts the car in state `[x, v]`; the episode's step count is kept.
    pub fn set_state(&mut self, state: [f32; 2]) {
        self.state = state;
    }

    /// Steps taken since the last reset.
    pub const fn elapsed_steps(&self) -> u32 {
        self.elapsed_steps
    }
}

impl Default for MountainCarContinuous {
    fn default() -> Self {
        Self::new()
    }
}

impl Env<2, 1> for MountainCarContinuous {
    fn action_space(&self) -> ActionSpace<1> {
        ActionSpace::Continuous {
            low: [self.min_action],
            high: [self.max_action],
        }
    }

    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 2] {
        self.state = [uniform_range(rng, -0.6, -0.4), 0.0];
        self.elapsed_steps = 0;
        self.state
    }

    fn step(&mut self, action: &[f32; 1]) -> Step<2> {
        let [mut position, mut velocity] = self.state;
        let force = clip(action[0], self.min_action, self.max_action);

        velocity += force * self.power - self.gravity * libm::cosf(3.0 * position);
        velocity = clip(velocity, -self.max_speed, self.max_speed);
        position += velocity;
        position = clip(position, self.min_position, self.max_position);
        // An inelastic left wall.
        if position == self.min_position && velocity < 0.0 {
            velocity = 0.0;
        }
        self.state = [position, velocity];

        let terminated = position >= self.goal_position && velocity >= self.goal_velocity;
        let bonus = if terminated { 100.0 } else { 0.0 };
        let reward = bonus - action[0] * action[0] * 0.1;

        self.elapsed_steps = self.elapsed_steps.saturating_add(1);
        Step {
            obs: self.state,
            reward,
            terminated,
            truncated: self.elapsed_steps >= self.max_episode_steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Pcg32;

    #[test]
    fn one_step_table() {
        // (state, action, next state, reward); tolerance 2e-7 absolute.
        let c = |x: f64| (3.0 * x).cos();
        let table: [([f32; 2], f32, [f64; 2], f64); 6] = [
            (
                [-0.5, 0.0],
                0.0,
                [-0.5 - 0.0025 * c(-0.5), -0.0025 * c(-0.5)],
                0.0,
            ),
            (
                [-0.5, 0.01],
                1.0,
                [
                    -0.49 + 0.0015 - 0.0025 * c(-0.5),
                    0.01 + 0.0015 - 0.0025 * c(-0.5),
                ],
                -0.1,
            ),
            // Speed limit.
            ([-0.7, 0.0695], 1.0, [-0.63, 0.07], -0.1),
            // Left wall stops the car.
            ([-1.19, -0.06], 0.0, [-1.2, 0.0], 0.0),
            // Goal: bonus minus the action cost.
            (
                [0.44, 0.02],
                0.5,
                [
                    0.46 + 0.00075 - 0.0025 * c(0.44),
                    0.02 + 0.00075 - 0.0025 * c(0.44),
                ],
                100.0 - 0.025,
            ),
            // The cost uses the unclipped action; the force uses the clipped one.
            (
                [-0.5, 0.0],
                2.0,
                [-0.5 + 0.0015 - 0.0025 * c(-0.5), 0.0015 - 0.0025 * c(-0.5)],
                -0.4,
            ),
        ];
        for (state, a, want, want_r) in table {
            let mut env = MountainCarContinuous::new();
            env.set_state(state);
            let s = env.step(&[a]);
            for k in 0..2 {
                assert!(
                    (s.obs[k] as f64 - want[k]).abs() < 2e-7,
                    "{state:?} {a}: {:?} vs {want:?}",
                    s.obs
                );
            }
            assert!(
                (s.reward as f64 - want_r).abs() < 1e-5,
                "{state:?} {a}: {}",
                s.reward
            );
            assert_eq!(s.terminated, want_r > 50.0);
        }
    }

    #[test]
    fn goal_needs_position_and_nonnegative_velocity() {
        let mut env = MountainCarContinuous::new();
        env.set_state([0.6, -0.001]); // at the end but rolling back
        let s = env.step(&[0.0]);
        assert!(!s.terminated, "{:?}", s.obs);
        env.set_state([0.6, 0.07]); // pinned at max_position, moving right
        let s = env.step(&[0.0]);
        assert_eq!(s.obs[0], 0.6);
        assert!(s.terminated);
        assert!((s.reward - 100.0).abs() < 1e-6);
    }

    #[test]
    fn rewards_bounded_for_actions_in_the_box() {
        let mut rng = Pcg32::seed_from_u64(6);
        let mut env = MountainCarContinuous::new();
        env.reset(&mut rng);
        for _ in 0..20_000 {
            let a = uniform_range(&mut rng, -1.0, 1.0);
            let s = env.step(&[a]);
            assert!((-0.1..=100.0).contains(&s.reward), "{}", s.reward);
            assert!((-1.2..=0.6).contains(&s.obs[0]) && s.obs[1].abs() <= 0.07);
            if s.terminated || s.truncated {
                env.reset(&mut rng);
            }
        }
    }

    #[test]
    fn energy_pumping_reaches_the_goal() {
        // Push in the direction of motion: the classic bang-bang solution.
        let mut rng = Pcg32::seed_from_u64(7);
        let mut env = MountainCarContinuous::new();
        let mut obs = env.reset(&mut rng);
        for t in 1..=999 {
            let s = env.step(&[if obs[1] >= 0.0 { 1.0 } else { -1.0 }]);
            obs = s.obs;
            if s.terminated {
                assert!(t < 300, "{t}");
                assert!(s.reward > 99.0);
                return;
            }
        }
        panic!("never reached the goal");
    }

    #[test]
    fn truncates_at_exactly_999_steps() {
        // Without power the car rocks in the valley forever.
        let mut rng = Pcg32::seed_from_u64(8);
        let mut env = MountainCarContinuous::new();
        env.reset(&mut rng);
        for t in 1..=999 {
            let s = env.step(&[0.0]);
            assert!(!s.terminated);
            assert_eq!(s.reward, 0.0);
            assert_eq!(s.truncated, t == 999, "step {t}");
        }
    }

    #[test]
    fn reset_distribution() {
        let mut rng = Pcg32::seed_from_u64(9);
        let mut env = MountainCarContinuous::new();
        let (mut lo, mut hi) = (0.0f32, -1.0f32);
        for _ in 0..5000 {
            let [x, v] = env.reset(&mut rng);
            assert!((-0.6..-0.4).contains(&x));
            assert_eq!(v, 0.0);
            lo = lo.min(x);
            hi = hi.max(x);
        }
        assert!(lo < -0.599 && hi > -0.401);
    }

    #[test]
    fn same_seed_same_episode() {
        let run = |seed| {
            let mut rng = Pcg32::seed_from_u64(seed);
            let mut env = MountainCarContinuous::new();
            let mut trace = [[0.0f32; 2]; 51];
            trace[0] = env.reset(&mut rng);
            for t in 1..=50 {
                let a = uniform_range(&mut rng, -1.0, 1.0);
                trace[t] = env.step(&[a]).obs;
            }
            trace
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1), run(2));
    }
}
