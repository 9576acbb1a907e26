//! Gymnasium's `CartPole-v1` (discrete) and a continuous-force variant with
//! the same physics.

use rand_core::RngCore;

use super::clip;
use crate::env::{ActionSpace, Env, Step, argmax};
use crate::rng::uniform_range;

/// The cart-pole plant of `CartPole-v1` (Barto, Sutton & Anderson 1983, in
/// Florian's corrected form), integrated with explicit Euler steps.
///
/// State `[x, ẋ, θ, θ̇]`: cart position (m) and velocity, pole angle from
/// upright (rad, positive clockwise) and angular velocity.
#[derive(Clone, Debug, PartialEq)]
pub struct CartPolePhysics {
    /// Gravitational acceleration (m/s²), default 9.8.
    pub gravity: f32,
    /// Mass of the cart (kg), default 1.
    pub masscart: f32,
    /// Mass of the pole (kg), default 0.1.
    pub masspole: f32,
    /// Half the pole's length (m), default 0.5.
    pub length: f32,
    /// Force of a full push (N), default 10.
    pub force_mag: f32,
    /// Integration step and control period (s), default 0.02.
    pub tau: f32,
    /// The episode ends when `|θ|` exceeds this (rad); default 12°.
    pub theta_threshold_radians: f32,
    /// The episode ends when `|x|` exceeds this (m), default 2.4.
    pub x_threshold: f32,
}

impl CartPolePhysics {
    /// `CartPole-v1`'s parameters.
    pub const fn new() -> Self {
        Self {
            gravity: 9.8,
            masscart: 1.0,
            masspole: 0.1,
            length: 0.5,
            force_mag: 10.0,
            tau: 0.02,
            // Rounded once from Gymnasium's f64 value 12·2π/360.
            theta_threshold_radians: (12.0 * 2.0 * core::f64::consts::PI / 360.0) as f32,
            x_threshold: 2.4,
        }
    }

    /// The state one period after `state` with a horizontal `force` (N) on
    /// the cart.
    pub fn step(&self, state: &[f32; 4], force: f32) -> [f32; 4] {
        let [x, x_dot, theta, theta_dot] = *state;
        let total_mass = self.masspole + self.masscart;
        let polemass_length = self.masspole * self.length;
        let costheta = libm::cosf(theta);
        let sintheta = libm::sinf(theta);

        let temp = (force + polemass_length * theta_dot * theta_dot * sintheta) / total_mass;
        let thetaacc = (self.gravity * sintheta - costheta * temp)
            / (self.length * (4.0 / 3.0 - self.masspole * costheta * costheta / total_mass));
        let xacc = temp - polemass_length * thetaacc * costheta / total_mass;

        // Explicit Euler, Gymnasium's default `kinematics_integrator`.
        [
            x + self.tau * x_dot,
            x_dot + self.tau * xacc,
            theta + self.tau * theta_dot,
            theta_dot + self.tau * thetaacc,
        ]
    }

    /// Whether `state` ends the episode: the cart left the track or the pole
    /// tipped past the threshold.
    pub fn is_terminal(&self, state: &[f32; 4]) -> bool {
        let [x, _, theta, _] = *state;
        x < -self.x_threshold
            || x > self.x_threshold
            || theta < -self.theta_threshold_radians
            || theta > self.theta_threshold_radians
    }
}

impl Default for CartPolePhysics {
    fn default() -> Self {
        Self::new()
    }
}

/// The episode bookkeeping both variants share.
#[derive(Clone, Debug, PartialEq)]
struct Episode {
    state: [f32; 4],
    elapsed_steps: u32,
    /// A terminal state was reached; Gymnasium's `steps_beyond_terminated`
    /// is set.
    fell: bool,
}

impl Episode {
    const fn new() -> Self {
        Self {
            state: [0.0; 4],
            elapsed_steps: 0,
            fell: false,
        }
    }

    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 4] {
        for s in &mut self.state {
            *s = uniform_range(rng, -0.05, 0.05);
        }
        self.elapsed_steps = 0;
        self.fell = false;
        self.state
    }

    fn set_state(&mut self, state: [f32; 4]) {
        self.state = state;
        self.fell = false;
    }

    fn advance(&mut self, physics: &CartPolePhysics, max_steps: u32, force: f32) -> Step<4> {
        self.state = physics.step(&self.state, force);
        let terminated = physics.is_terminal(&self.state);
        // 1 for every step up to and including the one that fails; 0 for
        // steps taken after that without a reset, as Gymnasium does.
        let reward = if self.fell { 0.0 } else { 1.0 };
        self.fell |= terminated;
        self.elapsed_steps = self.elapsed_steps.saturating_add(1);
        Step {
            obs: self.state,
            reward,
            terminated,
            truncated: self.elapsed_steps >= max_steps,
        }
    }
}

/// Balance a pole on a cart by pushing left or right (`CartPole-v1`).
///
/// - Action: two choices, one-hot (the index of the largest entry counts):
///   0 pushes the cart left with `force_mag`, 1 pushes it right.
/// - Observation: the state `[x, ẋ, θ, θ̇]`.
/// - Reward 1 for every step, including the one that fails.
/// - Terminates when `|x| > 2.4` or `|θ| > 12°`; truncated after
///   [`CartPole::MAX_EPISODE_STEPS`].
/// - Reset: every state component `~ U[−0.05, 0.05)`.
#[derive(Clone, Debug, PartialEq)]
pub struct CartPole {
    /// The plant's parameters.
    pub physics: CartPolePhysics,
    /// Steps after which an episode is truncated, default
    /// [`CartPole::MAX_EPISODE_STEPS`].
    pub max_episode_steps: u32,
    episode: Episode,
}

impl CartPole {
    /// Observation dimension.
    pub const OBS: usize = 4;
    /// Action dimension (number of choices).
    pub const ACT: usize = 2;
    /// Gymnasium's time limit for `CartPole-v1`.
    pub const MAX_EPISODE_STEPS: u32 = 500;

    /// `CartPole-v1` with Gymnasium's parameters.
    pub const fn new() -> Self {
        Self {
            physics: CartPolePhysics::new(),
            max_episode_steps: Self::MAX_EPISODE_STEPS,
            episode: Episode::new(),
        }
    }

    /// The plant's state `[x, ẋ, θ, θ̇]` (also the observation).
    pub const fn state(&self) -> [f32; 4] {
        self.episode.state
    }

    /// Puts the plant in state `[x, ẋ, θ, θ̇]`; the episode's step count is
    /// kept.
    pub fn set_state(&mut self, state: [f32; 4]) {
        self.episode.set_state(state);
    }

    /// Steps taken since the last reset.
    pub const fn elapsed_steps(&self) -> u32 {
        self.episode.elapsed_steps
    }
}

impl Default for CartPole {
    fn default() -> Self {
        Self::new()
    }
}

impl Env<4, 2> for CartPole {
    fn action_space(&self) -> ActionSpace<2> {
        ActionSpace::Discrete
    }

    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 4] {
        self.episode.reset(rng)
    }

    fn step(&mut self, action: &[f32; 2]) -> Step<4> {
        let force = if argmax(action) == 1 {
            self.physics.force_mag
        } else {
            -self.physics.force_mag
        };
        self.episode
            .advance(&self.physics, self.max_episode_steps, force)
    }
}

/// [`CartPole`] with a continuous push: the force on the cart is
/// `force_mag · clip(action, −1, 1)`.
///
/// Everything else (physics, observation, reward, termination, time limit,
/// reset) is `CartPole-v1`'s.
#[derive(Clone, Debug, PartialEq)]
pub struct CartPoleContinuous {
    /// The plant's parameters.
    pub physics: CartPolePhysics,
    /// Steps after which an episode is truncated, default
    /// [`CartPoleContinuous::MAX_EPISODE_STEPS`].
    pub max_episode_steps: u32,
    episode: Episode,
}

impl CartPoleContinuous {
    /// Observation dimension.
    pub const OBS: usize = 4;
    /// Action dimension.
    pub const ACT: usize = 1;
    /// The time limit of `CartPole-v1`.
    pub const MAX_EPISODE_STEPS: u32 = 500;

    /// The continuous variant with `CartPole-v1`'s parameters.
    pub const fn new() -> Self {
        Self {
            physics: CartPolePhysics::new(),
            max_episode_steps: Self::MAX_EPISODE_STEPS,
            episode: Episode::new(),
        }
    }

    /// The plant's state `[x, ẋ, θ, θ̇]` (also the observation).
    pub const fn state(&self) -> [f32; 4] {
        self.episode.state
    }

    /// Puts the plant in state `[x, ẋ, θ, θ̇]`; the episode's step count is
    /// kept.
    pub fn set_state(&mut self, state: [f32; 4]) {
        self.episode.set_state(state);
    }

    /// Steps taken since the last reset.
    pub const fn elapsed_steps(&self) -> u32 {
        self.episode.elapsed_steps
    }
}

impl Default for CartPoleContinuous {
    fn default() -> Self {
        Self::new()
    }
}

impl Env<4, 1> for CartPoleContinuous {
    fn action_space(&self) -> ActionSpace<1> {
        ActionSpace::Continuous {
            low: [-1.0],
            high: [1.0],
        }
    }

    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 4] {
        self.episode.reset(rng)
    }

    fn step(&mut self, action: &[f32; 1]) -> Step<4> {
        let force = self.physics.force_mag * clip(action[0], -1.0, 1.0);
        self.episode
            .advance(&self.physics, self.max_episode_steps, force)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Pcg32;

    /// Gymnasium's Euler step in f64, written out for the table below.
    fn gym_step(s: [f64; 4], force: f64) -> [f64; 4] {
        let (g, mc, mp, l, tau) = (9.8, 1.0, 0.1, 0.5, 0.02);
        let total = mc + mp;
        let pml = mp * l;
        let (sin, cos) = s[2].sin_cos();
        let temp = (force + pml * s[3] * s[3] * sin) / total;
        let thacc = (g * sin - cos * temp) / (l * (4.0 / 3.0 - mp * cos * cos / total));
        let xacc = temp - pml * thacc * cos / total;
        [
            s[0] + tau * s[1],
            s[1] + tau * xacc,
            s[2] + tau * s[3],
            s[3] + tau * thacc,
        ]
    }

    #[test]
    fn one_step_table_matches_gymnasium_equations() {
        // Tolerance 1e-5 absolute.
        let table: [([f32; 4], f32); 5] = [
            ([0.0; 4], 10.0),
            ([0.0; 4], -10.0),
            ([0.1, -0.5, 0.05, 0.3], 10.0),
            ([-2.0, 2.0, -0.2, -2.5], -10.0),
            ([1.0, 0.0, 0.15, 3.0], 3.7),
        ];
        let physics = CartPolePhysics::new();
        for (s, f) in table {
            let got = physics.step(&s, f);
            let want = gym_step(s.map(f64::from), f as f64);
            for k in 0..4 {
                assert!(
                    (got[k] as f64 - want[k]).abs() < 1e-5,
                    "{s:?} {f}: {got:?} vs {want:?}"
                );
            }
        }
    }

    #[test]
    fn push_right_accelerates_cart_right_and_tips_pole_left() {
        let mut env = CartPole::new();
        env.set_state([0.0; 4]);
        let s = env.step(&[0.0, 1.0]);
        assert!(s.obs[1] > 0.0 && s.obs[3] < 0.0, "{:?}", s.obs);
        assert_eq!(s.obs[0], 0.0); // Euler: position moves with the old velocity
        assert_eq!(s.reward, 1.0);
        // Hand value: ẍ = 10/1.1 − 0.05·θ̈/1.1 with θ̈ = −(10/1.1)/(0.5·(4/3 − 0.1/1.1)).
        let thacc = -(10.0 / 1.1) / (0.5 * (4.0 / 3.0 - 0.1 / 1.1));
        let xacc = 10.0 / 1.1 - 0.05 * thacc / 1.1;
        assert!((s.obs[1] - 0.02 * xacc).abs() < 1e-6);
        assert!((s.obs[3] - 0.02 * thacc).abs() < 1e-6);
    }

    #[test]
    fn discrete_action_is_read_by_argmax() {
        let right = {
            let mut e = CartPole::new();
            e.step(&[0.0, 1.0]).obs
        };
        let left = {
            let mut e = CartPole::new();
            e.step(&[1.0, 0.0]).obs
        };
        for (action, want) in [
            ([0.3f32, 0.7], right),
            ([0.7, 0.3], left),
            ([-2.0, -1.0], right),
            ([5.0, -5.0], left),
            ([0.5, 0.5], left), // ties go to the first index
        ] {
            let mut env = CartPole::new();
            assert_eq!(env.step(&action).obs, want, "{action:?}");
        }
    }

    #[test]
    fn continuous_force_scales_and_clips_and_matches_discrete_at_full_push() {
        let run = |a: f32| {
            let mut e = CartPoleContinuous::new();
            e.set_state([0.1, 0.2, 0.03, -0.1]);
            e.step(&[a]).obs
        };
        let mut d = CartPole::new();
        d.set_state([0.1, 0.2, 0.03, -0.1]);
        assert_eq!(run(1.0), d.step(&[0.0, 1.0]).obs);
        assert_eq!(run(3.0), run(1.0));
        assert_eq!(run(-7.0), run(-1.0));
        let s = [0.1, 0.2, 0.03, -0.1];
        let physics = CartPolePhysics::new();
        assert_eq!(run(0.5), physics.step(&s, 5.0));
        assert_eq!(run(0.0), physics.step(&s, 0.0));
    }

    #[test]
    fn terminates_on_position_and_angle_and_pays_zero_afterwards() {
        let theta_max = CartPolePhysics::new().theta_threshold_radians;
        assert!((theta_max as f64 - 12.0f64.to_radians()).abs() < 1e-7);
        // (state, terminated after one zero-force step)
        let table: [([f32; 4], bool); 6] = [
            ([2.39, 1.0, 0.0, 0.0], true), // x → 2.41
            ([-2.39, -1.0, 0.0, 0.0], true),
            ([2.3, 1.0, 0.0, 0.0], false),  // x → 2.32
            ([0.0, 0.0, 0.205, 0.5], true), // θ → 0.215 > 0.2094
            ([0.0, 0.0, -0.205, -0.5], true),
            ([0.0, 0.0, 0.2, 0.0], false),
        ];
        for (state, want) in table {
            let mut env = CartPoleContinuous::new();
            env.set_state(state);
            let s = env.step(&[0.0]);
            assert_eq!(s.terminated, want, "{state:?} -> {:?}", s.obs);
            assert_eq!(s.reward, 1.0, "the failing step still pays 1");
            if want {
                let after = env.step(&[0.0]);
                assert!(after.terminated);
                assert_eq!(after.reward, 0.0);
            }
        }
    }

    #[test]
    fn truncates_at_exactly_500_steps() {
        let mut rng = Pcg32::seed_from_u64(1);
        let mut env = CartPole::new();
        // Thresholds out of reach, so only the time limit can end the episode.
        env.physics.x_threshold = f32::INFINITY;
        env.physics.theta_threshold_radians = f32::INFINITY;
        env.reset(&mut rng);
        for t in 1..=500u32 {
            let s = env.step(&[(t % 2) as f32, ((t + 1) % 2) as f32]);
            assert!(!s.terminated);
            assert_eq!(s.truncated, t == 500, "step {t}");
            assert_eq!(s.reward, 1.0);
        }
    }

    #[test]
    fn balancing_controller_survives_to_truncation() {
        // A PD law on θ and x keeps the default plant inside its limits, so a
        // 500-step episode ends by truncation, not termination.
        let mut rng = Pcg32::seed_from_u64(2);
        let mut env = CartPoleContinuous::new();
        let mut obs = env.reset(&mut rng);
        let mut total = 0.0;
        for t in 1..=500u32 {
            let u = 0.1 * obs[0] + 0.2 * obs[1] + 3.0 * obs[2] + 0.5 * obs[3];
            let s = env.step(&[u]);
            total += s.reward;
            assert!(!s.terminated, "fell at step {t}: {:?}", s.obs);
            assert_eq!(s.truncated, t == 500);
            obs = s.obs;
        }
        assert_eq!(total, 500.0);
    }

    #[test]
    fn reset_distribution_is_uniform_on_plus_minus_005() {
        let mut rng = Pcg32::seed_from_u64(4);
        let mut env = CartPole::new();
        let mut lo = [0.0f32; 4];
        let mut hi = [0.0f32; 4];
        for _ in 0..5000 {
            let obs = env.reset(&mut rng);
            assert_eq!(obs, env.state());
            assert_eq!(env.elapsed_steps(), 0);
            for k in 0..4 {
                assert!((-0.05..0.05).contains(&obs[k]));
                lo[k] = lo[k].min(obs[k]);
                hi[k] = hi[k].max(obs[k]);
            }
        }
        assert!(lo.iter().all(|&v| v < -0.049) && hi.iter().all(|&v| v > 0.049));
    }

    #[test]
    fn same_seed_same_episode() {
        let run = |seed| {
            let mut rng = Pcg32::seed_from_u64(seed);
            let mut env = CartPole::new();
            let mut trace = [[0.0f32; 4]; 21];
            trace[0] = env.reset(&mut rng);
            for t in 1..=20 {
                let a = uniform_range(&mut rng, 0.0, 1.0);
                trace[t] = env.step(&[a, 0.5]).obs;
            }
            trace
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }
}
