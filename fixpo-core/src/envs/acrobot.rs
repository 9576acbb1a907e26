//! Gymnasium's `Acrobot-v1`.

use rand_core::RngCore;

use super::{clip, wrap_pi};
use crate::env::{ActionSpace, Env, Step, argmax};
use crate::rng::uniform_range;
use core::f32::consts::PI;

/// Swing the tip of a two-link arm above a line (`Acrobot-v1`).
///
/// Two links hang from a fixed pivot; only the elbow is actuated. The state
/// is `[θ1, θ2, θ̇1, θ̇2]`: `θ1` is the first link's angle from hanging
/// straight down, `θ2` the elbow angle relative to the first link. The
/// dynamics are Sutton & Barto's ("book", as Gymnasium's default), integrated
/// with one classical Runge–Kutta step of `dt`; afterwards the angles are
/// wrapped into `[−π, π]` and the velocities clipped to `±max_vel_1`,
/// `±max_vel_2`.
///
/// - Action: three choices, one-hot (the index of the largest entry counts),
///   applying `avail_torque[i]` (−1, 0, +1 N·m) at the elbow.
/// - Observation `[cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2]`.
/// - Reward −1 per step, 0 on the step that reaches the goal.
/// - Terminates when the tip is more than one link length above the pivot,
///   `−cos θ1 − cos(θ1 + θ2) > 1`; truncated after
///   [`Acrobot::MAX_EPISODE_STEPS`].
/// - Reset: every state component `~ U[−0.1, 0.1)`.
///
/// Gymnasium's optional torque noise (`torque_noise_max`, 0 in `Acrobot-v1`)
/// is not modelled.
#[derive(Clone, Debug, PartialEq)]
pub struct Acrobot {
    /// Length of the first link (m), default 1.
    pub link_length_1: f32,
    /// Mass of the first link (kg), default 1.
    pub link_mass_1: f32,
    /// Mass of the second link (kg), default 1.
    pub link_mass_2: f32,
    /// Distance from the pivot to the first link's centre of mass (m),
    /// default 0.5.
    pub link_com_pos_1: f32,
    /// Distance from the elbow to the second link's centre of mass (m),
    /// default 0.5.
    pub link_com_pos_2: f32,
    /// Moment of inertia of the first link about its centre of mass
    /// (kg·m²), default 1 (Gymnasium's `LINK_MOI`).
    pub link_moi_1: f32,
    /// Moment of inertia of the second link about its centre of mass
    /// (kg·m²), default 1 (Gymnasium's `LINK_MOI`).
    pub link_moi_2: f32,
    /// Gravitational acceleration (m/s²), default 9.8.
    pub gravity: f32,
    /// Integration step and control period (s), default 0.2.
    pub dt: f32,
    /// Limit on `|θ̇1|` (rad/s), default 4π.
    pub max_vel_1: f32,
    /// Limit on `|θ̇2|` (rad/s), default 9π.
    pub max_vel_2: f32,
    /// Elbow torque of each action (N·m), default `[−1, 0, 1]`.
    pub avail_torque: [f32; 3],
    /// Steps after which an episode is truncated, default
    /// [`Acrobot::MAX_EPISODE_STEPS`].
    pub max_episode_steps: u32,
    state: [f32; 4],
    elapsed_steps: u32,
}

impl Acrobot {
    /// Observation dimension.
    pub const OBS: usize = 6;
    /// Action dimension (number of choices).
    pub const ACT: usize = 3;
    /// Gymnasium's time limit for `Acrobot-v1`.
    pub const MAX_EPISODE_STEPS: u32 = 500;

    /// `Acrobot-v1` with Gymnasium's parameters.
    pub const fn new() -> Self {
        Self {
            link_length_1: 1.0,
            link_mass_1: 1.0,
            link_mass_2: 1.0,
            link_com_pos_1: 0.5,
            link_com_pos_2: 0.5,
            link_moi_1: 1.0,
            link_moi_2: 1.0,
            gravity: 9.8,
            dt: 0.2,
            max_vel_1: 4.0 * PI,
            max_vel_2: 9.0 * PI,
            avail_torque: [-1.0, 0.0, 1.0],
            max_episode_steps: Self::MAX_EPISODE_STEPS,
            state: [0.0; 4],
            elapsed_steps: 0,
        }
    }

    /// The arm's state `[θ1, θ2, θ̇1, θ̇2]`.
    pub const fn state(&self) -> [f32; 4] {
        self.state
    }

    /// Puts the arm in state `[θ1, θ2, θ̇1, θ̇2]`; the episode's step count is
    /// kept.
    pub fn set_state(&mut self, state: [f32; 4]) {
        self.state = state;
    }

    /// Steps taken since the last reset.
    pub const fn elapsed_steps(&self) -> u32 {
        self.elapsed_steps
    }

    /// The observation `[cos θ1, sin θ1, cos θ2, sin θ2, θ̇1, θ̇2]` of the
    /// current state.
    pub fn obs(&self) -> [f32; 6] {
        let [t1, t2, w1, w2] = self.state;
        [
            libm::cosf(t1),
            libm::sinf(t1),
            libm::cosf(t2),
            libm::sinf(t2),
            w1,
            w2,
        ]
    }

    /// Whether the tip is above the goal line: `−cos θ1 − cos(θ1 + θ2) > 1`.
    pub fn is_terminal(&self) -> bool {
        let [t1, t2, _, _] = self.state;
        -libm::cosf(t1) - libm::cosf(t2 + t1) > 1.0
    }

    /// Time derivative of `[θ1, θ2, θ̇1, θ̇2]` under elbow torque `torque`
    /// (Sutton & Barto's equations, Gymnasium's `_dsdt` with "book").
    fn derivatives(&self, s: &[f32; 4], torque: f32) -> [f32; 4] {
        let m1 = self.link_mass_1;
        let m2 = self.link_mass_2;
        let l1 = self.link_length_1;
        let lc1 = self.link_com_pos_1;
        let lc2 = self.link_com_pos_2;
        let i1 = self.link_moi_1;
        let i2 = self.link_moi_2;
        let g = self.gravity;
        let [theta1, theta2, dtheta1, dtheta2] = *s;
        let (sin2, cos2) = (libm::sinf(theta2), libm::cosf(theta2));

        let d1 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * cos2) + i1 + i2;
        let d2 = m2 * (lc2 * lc2 + l1 * lc2 * cos2) + i2;
        // Gymnasium writes cos(x − π/2); sin(x) is the same function without
        // the rounding of π/2 in f32.
        let phi2 = m2 * lc2 * g * libm::sinf(theta1 + theta2);
        let phi1 = -m2 * l1 * lc2 * dtheta2 * dtheta2 * sin2
            - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * sin2
            + (m1 * lc1 + m2 * l1) * g * libm::sinf(theta1)
            + phi2;
        let ddtheta2 = (torque + d2 / d1 * phi1 - m2 * l1 * lc2 * dtheta1 * dtheta1 * sin2 - phi2)
            / (m2 * lc2 * lc2 + i2 - d2 * d2 / d1);
        let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
        [dtheta1, dtheta2, ddtheta1, ddtheta2]
    }

    /// One classical Runge–Kutta step of `dt` from `s`.
    fn rk4(&self, s: &[f32; 4], torque: f32) -> [f32; 4] {
        let dt = self.dt;
        let dt2 = dt / 2.0;
        let shifted =
            |k: &[f32; 4], h: f32| -> [f32; 4] { core::array::from_fn(|i| s[i] + h * k[i]) };
        let k1 = self.derivatives(s, torque);
        let k2 = self.derivatives(&shifted(&k1, dt2), torque);
        let k3 = self.derivatives(&shifted(&k2, dt2), torque);
        let k4 = self.derivatives(&shifted(&k3, dt), torque);
        core::array::from_fn(|i| s[i] + dt / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
    }
}

impl Default for Acrobot {
    fn default() -> Self {
        Self::new()
    }
}

impl Env<6, 3> for Acrobot {
    fn action_space(&self) -> ActionSpace<3> {
        ActionSpace::Discrete
    }

    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 6] {
        for s in &mut self.state {
            *s = uniform_range(rng, -0.1, 0.1);
        }
        self.elapsed_steps = 0;
        self.obs()
    }

    fn step(&mut self, action: &[f32; 3]) -> Step<6> {
        let torque = self.avail_torque[argmax(action)];
        let [t1, t2, w1, w2] = self.rk4(&self.state, torque);
        self.state = [
            wrap_pi(t1),
            wrap_pi(t2),
            clip(w1, -self.max_vel_1, self.max_vel_1),
            clip(w2, -self.max_vel_2, self.max_vel_2),
        ];
        let terminated = self.is_terminal();
        self.elapsed_steps = self.elapsed_steps.saturating_add(1);
        Step {
            obs: self.obs(),
            reward: if terminated { 0.0 } else { -1.0 },
            terminated,
            truncated: self.elapsed_steps >= self.max_episode_steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Pcg32;

    const NONE: [f32; 3] = [0.0, 1.0, 0.0];
    const PLUS: [f32; 3] = [0.0, 0.0, 1.0];
    const MINUS: [f32; 3] = [1.0, 0.0, 0.0];

    /// Total mechanical energy of the default arm (potential zero at the
    /// pivot).
    fn energy(env: &Acrobot) -> f32 {
        let [t1, t2, w1, w2] = env.state();
        let (m1, m2, l1, lc1, lc2, i1, i2, g) = (1.0, 1.0, 1.0, 0.5, 0.5, 1.0, 1.0, 9.8);
        let c2 = libm::cosf(t2);
        let d11 = m1 * lc1 * lc1 + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * c2) + i1 + i2;
        let d12 = m2 * (lc2 * lc2 + l1 * lc2 * c2) + i2;
        let d22 = m2 * lc2 * lc2 + i2;
        let kinetic = 0.5 * (d11 * w1 * w1 + 2.0 * d12 * w1 * w2 + d22 * w2 * w2);
        let potential =
            -(m1 * lc1 + m2 * l1) * g * libm::cosf(t1) - m2 * lc2 * g * libm::cosf(t1 + t2);
        kinetic + potential
    }

    #[test]
    fn hanging_rest_is_an_equilibrium() {
        let mut env = Acrobot::new();
        env.set_state([0.0; 4]);
        let s = env.step(&NONE);
        assert_eq!(s.obs, [1.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
        assert_eq!(s.reward, -1.0);
        assert!(!s.terminated);
    }

    /// Largest energy change over 20 s of free swing from `[1, 0.5, 0, 0]`,
    /// relative to the swing energy (above the hanging rest).
    fn free_swing_energy_error(dt: f32) -> f32 {
        let mut env = Acrobot::new();
        env.dt = dt;
        env.max_episode_steps = u32::MAX;
        let mut rest = Acrobot::new();
        rest.set_state([0.0; 4]);
        let bottom = energy(&rest);
        env.set_state([1.0, 0.5, 0.0, 0.0]);
        let e0 = energy(&env);
        let mut worst = 0.0f32;
        for _ in 0..(20.0 / dt) as usize {
            env.step(&NONE);
            worst = worst.max((energy(&env) - e0).abs());
        }
        worst / (e0 - bottom)
    }

    #[test]
    fn free_swing_conserves_energy_up_to_rk4_error() {
        // The "book" equations are the exact Lagrangian dynamics, so only the
        // RK4 error changes the energy, shrinking like dt⁴. Gymnasium (f64)
        // measures 1.1e-2 at dt = 0.2 and 1.8e-5 at dt = 0.05 on this swing.
        let coarse = free_swing_energy_error(0.2);
        let fine = free_swing_energy_error(0.05);
        assert!(coarse < 0.015, "{coarse}");
        assert!(fine < 1e-4, "{fine}");
        assert!(fine < coarse / 100.0, "{fine} {coarse}");
    }

    #[test]
    fn torque_sign_and_argmax() {
        let run = |a: &[f32; 3]| {
            let mut env = Acrobot::new();
            env.set_state([0.0; 4]);
            env.step(a).obs
        };
        let plus = run(&PLUS);
        let minus = run(&MINUS);
        assert!(plus[5] > 0.0 && minus[5] < 0.0);
        // The elbow's reaction turns the first link the other way.
        assert!(plus[4] < 0.0 && minus[4] > 0.0);
        assert_eq!(run(&[0.1, 0.2, 0.3]), plus);
        assert_eq!(run(&[-1.0, -2.0, -3.0]), minus);
        assert_eq!(run(&[0.0, 5.0, 5.0]), run(&NONE)); // ties: first index
        assert_eq!(run(&[0.0, 0.0, 0.0]), minus);
    }

    #[test]
    fn goal_line_terminates_with_zero_reward() {
        // (state after the step, terminal?)
        let table: [([f32; 4], bool); 5] = [
            ([PI, 0.0, 0.0, 0.0], true),        // arm straight up
            ([PI / 2.0, 0.0, 0.0, 0.0], false), // horizontal: height 0
            ([PI / 2.0, 1.4, 0.0, 0.0], false), // tip at height sin(1.4) < 1
            ([2.5, 0.0, 0.0, 0.0], true),       // height 2·0.801
            ([0.0, PI, 0.0, 0.0], false),       // folded: tip at the pivot
        ];
        for (state, want) in table {
            let mut env = Acrobot::new();
            env.set_state(state);
            assert_eq!(env.is_terminal(), want, "{state:?}");
        }
        // A step that ends upright pays 0.
        let mut env = Acrobot::new();
        env.set_state([PI, 0.0, 0.0, 0.0]);
        let s = env.step(&NONE);
        assert!(s.terminated);
        assert_eq!(s.reward, 0.0);
    }

    #[test]
    fn angles_wrapped_and_velocities_clipped() {
        let mut rng = Pcg32::seed_from_u64(12);
        let mut env = Acrobot::new();
        for _ in 0..2000 {
            let s0 = [
                uniform_range(&mut rng, -PI, PI),
                uniform_range(&mut rng, -PI, PI),
                uniform_range(&mut rng, -15.0, 15.0),
                uniform_range(&mut rng, -30.0, 30.0),
            ];
            env.set_state(s0);
            let a = [0, 1, 2].map(|_| uniform_range(&mut rng, 0.0, 1.0));
            let s = env.step(&a);
            let [t1, t2, w1, w2] = env.state();
            assert!(
                (-PI..=PI).contains(&t1) && (-PI..=PI).contains(&t2),
                "{t1} {t2}"
            );
            assert!(w1.abs() <= 4.0 * PI && w2.abs() <= 9.0 * PI);
            assert!(s.reward == -1.0 || (s.reward == 0.0 && s.terminated));
        }
    }

    #[test]
    fn truncates_at_exactly_500_steps() {
        // Without torque the arm cannot gain the energy to reach the line.
        let mut rng = Pcg32::seed_from_u64(13);
        let mut env = Acrobot::new();
        env.reset(&mut rng);
        for t in 1..=500 {
            let s = env.step(&NONE);
            assert!(!s.terminated);
            assert_eq!(s.reward, -1.0);
            assert_eq!(s.truncated, t == 500, "step {t}");
        }
    }

    #[test]
    fn energy_pumping_reaches_the_goal() {
        // Torque along the elbow's motion does positive work (power τ·θ̇2)
        // and pumps energy into the swing.
        let mut rng = Pcg32::seed_from_u64(14);
        let mut env = Acrobot::new();
        let mut obs = env.reset(&mut rng);
        for _ in 0..300 {
            let a = if obs[5] >= 0.0 { PLUS } else { MINUS };
            let s = env.step(&a);
            obs = s.obs;
            if s.terminated {
                assert_eq!(s.reward, 0.0);
                return;
            }
        }
        panic!("never reached the line");
    }

    #[test]
    fn reset_distribution() {
        let mut rng = Pcg32::seed_from_u64(15);
        let mut env = Acrobot::new();
        let mut lo = [0.0f32; 4];
        let mut hi = [0.0f32; 4];
        for _ in 0..5000 {
            let obs = env.reset(&mut rng);
            let s = env.state();
            assert_eq!(obs, env.obs());
            for k in 0..4 {
                assert!((-0.1..0.1).contains(&s[k]));
                lo[k] = lo[k].min(s[k]);
                hi[k] = hi[k].max(s[k]);
            }
        }
        assert!(lo.iter().all(|&v| v < -0.099) && hi.iter().all(|&v| v > 0.099));
    }

    #[test]
    fn same_seed_same_episode() {
        let run = |seed| {
            let mut rng = Pcg32::seed_from_u64(seed);
            let mut env = Acrobot::new();
            let mut trace = [[0.0f32; 6]; 101];
            trace[0] = env.reset(&mut rng);
            for t in 1..=100 {
                let a = [0, 1, 2].map(|_| uniform_range(&mut rng, 0.0, 1.0));
                trace[t] = env.step(&a).obs;
            }
            trace
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
    }
}
