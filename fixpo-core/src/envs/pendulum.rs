//! Gymnasium's `Pendulum-v1`, with optional viscous friction at the pivot.

use rand_core::RngCore;

use super::{angle_normalize, clip, wrap_pi};
use crate::env::{ActionSpace, Env, Step};
use crate::rng::uniform_range;
use core::f32::consts::PI;

/// Swing a pendulum up and hold it upright (`Pendulum-v1`).
///
/// The pendulum is a uniform rod of mass `m` and length `l` hinged at one
/// end; `θ = 0` is upright and positive torque turns it counter-clockwise.
/// Each step applies the torque `u = clip(action, ±max_torque)` for `dt`
/// seconds with Gymnasium's semi-implicit Euler update:
///
/// ```text
/// θ̈  = 3g/(2l)·sin θ + 3/(m l²)·(u − friction·θ̇)
/// θ̇' = clip(θ̇ + θ̈·dt, ±max_speed)
/// θ'  = θ + θ̇'·dt
/// ```
///
/// - Observation `[cos θ, sin θ, θ̇]`.
/// - Reward `−(angle_normalize(θ)² + 0.1·θ̇² + 0.001·u²)` on the state before
///   the step, so within `[−16.2736044, 0]`.
/// - Never terminates; truncated after [`Pendulum::MAX_EPISODE_STEPS`].
/// - Reset: `θ ~ U[−π, π)`, `θ̇ ~ U[−1, 1)`.
///
/// With `friction = 0` (the default) this is `Pendulum-v1` exactly. Unlike
/// Gymnasium, which lets `θ` grow without bound, the stored angle is kept
/// in `[−π, π]`: observation, reward and dynamics depend on `θ` only modulo
/// 2π, and a small angle keeps its `f32` resolution over long episodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Pendulum {
    /// Gravitational acceleration g (m/s²); Gymnasium's `g`, default 10.
    pub g: f32,
    /// Mass of the rod (kg), default 1.
    pub m: f32,
    /// Length of the rod (m), default 1.
    pub l: f32,
    /// Viscous friction at the pivot (N·m·s/rad): a torque `−friction·θ̇`
    /// opposes the motion. Default 0, as in Gymnasium.
    pub friction: f32,
    /// Control period (s), default 0.05.
    pub dt: f32,
    /// Angular speed limit (rad/s), default 8.
    pub max_speed: f32,
    /// Torque limit (N·m), default 2; also the action bound.
    pub max_torque: f32,
    /// Steps after which an episode is truncated, default
    /// [`Pendulum::MAX_EPISODE_STEPS`].
    pub max_episode_steps: u32,
    state: [f32; 2],
    elapsed_steps: u32,
}

impl Pendulum {
    /// Observation dimension.
    pub const OBS: usize = 3;
    /// Action dimension.
    pub const ACT: usize = 1;
    /// Gymnasium's time limit for `Pendulum-v1`.
    pub const MAX_EPISODE_STEPS: u32 = 200;

    /// `Pendulum-v1` with Gymnasium's parameters (g = 10) and no friction.
    pub const fn new() -> Self {
        Self {
            g: 10.0,
            m: 1.0,
            l: 1.0,
            friction: 0.0,
            dt: 0.05,
            max_speed: 8.0,
            max_torque: 2.0,
            max_episode_steps: Self::MAX_EPISODE_STEPS,
            state: [0.0; 2],
            elapsed_steps: 0,
        }
    }

    /// The plant's state `[θ, θ̇]`.
    pub const fn state(&self) -> [f32; 2] {
        self.state
    }

    /// Puts the plant in state `[θ, θ̇]`; the episode's step count is kept.
    pub fn set_state(&mut self, state: [f32; 2]) {
        self.state = state;
    }

    /// Steps taken since the last reset.
    pub const fn elapsed_steps(&self) -> u32 {
        self.elapsed_steps
    }

    /// The observation `[cos θ, sin θ, θ̇]` of the current state.
    pub fn obs(&self) -> [f32; 3] {
        let [th, thdot] = self.state;
        [libm::cosf(th), libm::sinf(th), thdot]
    }
}

impl Default for Pendulum {
    fn default() -> Self {
        Self::new()
    }
}

impl Env<3, 1> for Pendulum {
    fn action_space(&self) -> ActionSpace<1> {
        ActionSpace::Continuous {
            low: [-self.max_torque],
            high: [self.max_torque],
        }
    }

    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 3] {
        let th = uniform_range(rng, -PI, PI);
        let thdot = uniform_range(rng, -1.0, 1.0);
        self.state = [th, thdot];
        self.elapsed_steps = 0;
        self.obs()
    }

    fn step(&mut self, action: &[f32; 1]) -> Step<3> {
        let [th, thdot] = self.state;
        let u = clip(action[0], -self.max_torque, self.max_torque);
        let th_n = angle_normalize(th);
        let cost = th_n * th_n + 0.1 * thdot * thdot + 0.001 * (u * u);

        let (g, m, l, dt) = (self.g, self.m, self.l, self.dt);
        let torque = u - self.friction * thdot;
        let thddot = 3.0 * g / (2.0 * l) * libm::sinf(th) + 3.0 / (m * l * l) * torque;
        let new_thdot = clip(thdot + thddot * dt, -self.max_speed, self.max_speed);
        let new_th = th + new_thdot * dt;
        self.state = [wrap_pi(new_th), new_thdot];

        self.elapsed_steps = self.elapsed_steps.saturating_add(1);
        Step {
            obs: self.obs(),
            reward: -cost,
            terminated: false,
            truncated: self.elapsed_steps >= self.max_episode_steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Pcg32;

    /// The worst reward Gymnasium documents: −(π² + 0.1·8² + 0.001·2²).
    const MIN_REWARD: f32 = -16.273_604;

    /// Gymnasium's step in f64, written out for the table below.
    fn gym_step(th: f64, thdot: f64, u: f64) -> (f64, f64, f64) {
        let u = u.clamp(-2.0, 2.0);
        let n =
            (th + core::f64::consts::PI).rem_euclid(core::f64::consts::TAU) - core::f64::consts::PI;
        let cost = n * n + 0.1 * thdot * thdot + 0.001 * u * u;
        let new_thdot = (thdot + (3.0 * 10.0 / 2.0 * th.sin() + 3.0 * u) * 0.05).clamp(-8.0, 8.0);
        (th + new_thdot * 0.05, new_thdot, -cost)
    }

    #[test]
    fn one_step_table_matches_gymnasium_equations() {
        // (θ, θ̇, action); tolerance 1e-5 absolute on every output.
        let table: [(f32, f32, f32); 8] = [
            (0.0, 0.0, 0.0),
            (0.5, 0.3, 1.0),
            (-2.0, 4.0, -0.7),
            (3.0, -7.9, 2.0),
            (PI, 0.0, 0.0),
            (1.0, 7.9, 5.0), // torque clipped to 2, speed clipped to 8
            (-1.0, -7.9, -5.0),
            (9.0, 1.0, 0.1), // angle beyond ±π: reward uses its normalised value
        ];
        for (th, thdot, a) in table {
            let mut env = Pendulum::new();
            env.set_state([th, thdot]);
            let step = env.step(&[a]);
            let (want_th, want_thdot, want_r) = gym_step(th as f64, thdot as f64, a as f64);
            let want_obs = [want_th.cos(), want_th.sin(), want_thdot];
            for k in 0..3 {
                assert!(
                    (step.obs[k] as f64 - want_obs[k]).abs() < 1e-5,
                    "{th},{thdot},{a}: obs[{k}] {} vs {}",
                    step.obs[k],
                    want_obs[k]
                );
            }
            assert!(
                (step.reward as f64 - want_r).abs() < 1e-5,
                "{th},{thdot},{a}"
            );
            assert!(!step.terminated);
        }
    }

    #[test]
    fn upright_and_hanging_rest_are_equilibria() {
        let mut env = Pendulum::new();
        env.set_state([0.0, 0.0]);
        let s = env.step(&[0.0]);
        assert_eq!(s.obs, [1.0, 0.0, 0.0]);
        assert_eq!(s.reward, 0.0);

        env.set_state([PI, 0.0]);
        let s = env.step(&[0.0]);
        assert!((s.obs[0] + 1.0).abs() < 1e-6 && s.obs[1].abs() < 1e-5 && s.obs[2].abs() < 1e-5);
        assert!((s.reward + PI * PI).abs() < 1e-5);
    }

    /// Energy per unit inertia: θ̈ = (3g/2l)·sin θ = −dV/dθ with V = (3g/2l)·cos θ.
    fn energy(env: &Pendulum) -> f32 {
        let [th, thdot] = env.state();
        0.5 * thdot * thdot + 1.5 * env.g / env.l * libm::cosf(th)
    }

    #[test]
    fn free_swing_conserves_energy_and_friction_dissipates_it() {
        // Semi-implicit Euler conserves a nearby energy: no drift over many
        // periods, only a bounded O(ω·dt) wobble.
        let mut env = Pendulum::new();
        env.max_episode_steps = u32::MAX;
        env.set_state([PI - 0.5, 0.0]);
        let bottom = -1.5 * env.g / env.l;
        let e0 = energy(&env) - bottom;
        let mut lo = f32::MAX;
        let mut hi = f32::MIN;
        for _ in 0..2000 {
            env.step(&[0.0]);
            let e = energy(&env) - bottom;
            lo = lo.min(e);
            hi = hi.max(e);
        }
        assert!(lo > 0.85 * e0 && hi < 1.15 * e0, "{lo} {hi} {e0}");

        let mut damped = Pendulum::new();
        damped.friction = 0.1;
        damped.set_state([PI - 0.5, 0.0]);
        for _ in 0..200 {
            damped.step(&[0.0]);
        }
        assert!(energy(&damped) - bottom < 0.5 * e0);
    }

    #[test]
    fn zero_friction_is_bitwise_default_and_parameters_matter() {
        let mut rng = Pcg32::seed_from_u64(11);
        let mut a = Pendulum::new();
        let mut b = Pendulum {
            friction: 0.0,
            ..Pendulum::default()
        };
        let mut heavy = Pendulum {
            m: 2.0,
            ..Pendulum::default()
        };
        a.set_state([1.0, 0.5]);
        b.set_state([1.0, 0.5]);
        heavy.set_state([1.0, 0.5]);
        for _ in 0..50 {
            let u = uniform_range(&mut rng, -2.0, 2.0);
            assert_eq!(a.step(&[u]), b.step(&[u]));
            heavy.step(&[u]);
        }
        assert_ne!(a.state(), heavy.state());
    }

    #[test]
    fn rewards_stay_in_documented_bounds_and_state_in_limits() {
        let mut rng = Pcg32::seed_from_u64(3);
        let mut env = Pendulum::new();
        env.reset(&mut rng);
        for i in 0..5000 {
            let u = uniform_range(&mut rng, -4.0, 4.0);
            let s = env.step(&[u]);
            assert!((MIN_REWARD..=0.0).contains(&s.reward), "{}", s.reward);
            assert!(s.obs[2].abs() <= 8.0);
            assert!((-PI..=PI).contains(&env.state()[0]));
            if i % 200 == 199 {
                env.reset(&mut rng);
            }
        }
        // The bound is reached at θ = ±π, θ̇ = ±8, |u| = 2.
        env.set_state([PI, 8.0]);
        assert!((env.step(&[2.0]).reward - MIN_REWARD).abs() < 1e-5);
    }

    #[test]
    fn truncates_at_exactly_200_steps() {
        let mut rng = Pcg32::seed_from_u64(5);
        let mut env = Pendulum::new();
        env.reset(&mut rng);
        for t in 1..=200 {
            let s = env.step(&[1.0]);
            assert!(!s.terminated);
            assert_eq!(s.truncated, t == 200, "step {t}");
            assert_eq!(env.elapsed_steps(), t);
        }
        env.reset(&mut rng);
        assert_eq!(env.elapsed_steps(), 0);
        assert!(!env.step(&[0.0]).truncated);
    }

    #[test]
    fn reset_distribution_covers_documented_ranges() {
        let mut rng = Pcg32::seed_from_u64(8);
        let mut env = Pendulum::new();
        let (mut th_lo, mut th_hi, mut v_lo, mut v_hi) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
        for _ in 0..10_000 {
            let obs = env.reset(&mut rng);
            let [th, thdot] = env.state();
            assert!((-PI..PI).contains(&th));
            assert!((-1.0..1.0).contains(&thdot));
            assert_eq!(obs, [libm::cosf(th), libm::sinf(th), thdot]);
            th_lo = th_lo.min(th);
            th_hi = th_hi.max(th);
            v_lo = v_lo.min(thdot);
            v_hi = v_hi.max(thdot);
        }
        assert!(th_lo < -3.1 && th_hi > 3.1 && v_lo < -0.99 && v_hi > 0.99);
    }

    #[test]
    fn same_seed_same_episode() {
        let run = |seed| {
            let mut rng = Pcg32::seed_from_u64(seed);
            let mut env = Pendulum::new();
            let mut trace = [[0.0f32; 3]; 201];
            trace[0] = env.reset(&mut rng);
            for t in 1..=200 {
                let u = uniform_range(&mut rng, -2.0, 2.0);
                trace[t] = env.step(&[u]).obs;
            }
            trace
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }
}
