//! Classic control tasks with Gymnasium 1.x's definitions.
//!
//! Each task reproduces its Gymnasium counterpart step for step: the same
//! constants, dynamics, observation layout, reward, termination, reset
//! distribution and time limit (reported as `truncated`, as Gymnasium's
//! `TimeLimit` wrapper does). Gymnasium computes in `f64`; these tasks compute
//! in `f32` with `libm`, so the host and the microcontroller agree bit for
//! bit, and a single step agrees with Gymnasium to within 1e-5 absolute +
//! 1e-5 relative (`tests/classic_conformance.rs` checks this against
//! Gymnasium itself). The exception is an Acrobot spinning near its speed
//! limits: there one RK4 step amplifies the rounding of its input so much
//! that a one-ulp change of the state moves Gymnasium's own result by more
//! than 1e-5. At those states the two agree to within that sensitivity.
//!
//! The physical parameters are public fields, so a caller can build a plant
//! that differs from the training task (a heavier pendulum, a longer pole,
//! friction) and see how a policy copes.
//!
//! | name | struct | Gymnasium |
//! |------|--------|-----------|
//! | `pendulum` | [`Pendulum`] | `Pendulum-v1` |
//! | `cartpole` | [`CartPole`] | `CartPole-v1` |
//! | `cartpole-continuous` | [`CartPoleContinuous`] | `CartPole-v1` physics, force ∝ action |
//! | `mountaincar-continuous` | [`MountainCarContinuous`] | `MountainCarContinuous-v0` |
//! | `acrobot` | [`Acrobot`] | `Acrobot-v1` |
//!
//! ```
//! use fixpo_core::envs::Pendulum;
//! use fixpo_core::rng::Pcg32;
//! use fixpo_core::Env;
//!
//! let mut env = Pendulum::new();
//! let mut rng = Pcg32::seed_from_u64(7);
//! let _first = env.reset(&mut rng);
//! let mut ret = 0.0;
//! loop {
//!     let step = env.step(&[0.0]);
//!     ret += step.reward;
//!     if step.terminated || step.truncated {
//!         break;
//!     }
//! }
//! assert!(ret <= 0.0);
//! ```

mod acrobot;
mod cartpole;
mod mountain_car;
mod pendulum;

pub use acrobot::Acrobot;
pub use cartpole::{CartPole, CartPoleContinuous, CartPolePhysics};
pub use mountain_car::MountainCarContinuous;
pub use pendulum::Pendulum;

use core::f32::consts::{PI, TAU};

/// How a task reads its action vector.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ActionKind {
    /// Real-valued actions, each in `[low, high]`.
    Continuous {
        /// Lower bound of every action dimension.
        low: f32,
        /// Upper bound of every action dimension.
        high: f32,
    },
    /// One of `act_dim` choices, read as the index of the largest entry.
    Discrete,
}

/// One row of the task listing (`fixpo envs`).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EnvInfo {
    /// The name the CLI accepts (`--env NAME`).
    pub name: &'static str,
    /// Observation dimension `O`.
    pub obs_dim: usize,
    /// Action dimension `A` (number of choices for a discrete task).
    pub act_dim: usize,
    /// Continuous or discrete actions.
    pub action: ActionKind,
    /// Steps after which an episode is truncated.
    pub max_episode_steps: u32,
    /// One line for humans.
    pub description: &'static str,
}

impl Pendulum {
    /// The task's row in the listing ([`CLASSIC`]).
    pub const INFO: EnvInfo = EnvInfo {
        name: "pendulum",
        obs_dim: Pendulum::OBS,
        act_dim: Pendulum::ACT,
        action: ActionKind::Continuous {
            low: -2.0,
            high: 2.0,
        },
        max_episode_steps: Pendulum::MAX_EPISODE_STEPS,
        description: "Pendulum-v1: swing a pendulum up and hold it upright with limited torque",
    };
}

impl CartPole {
    /// The task's row in the listing ([`CLASSIC`]).
    pub const INFO: EnvInfo = EnvInfo {
        name: "cartpole",
        obs_dim: CartPole::OBS,
        act_dim: CartPole::ACT,
        action: ActionKind::Discrete,
        max_episode_steps: CartPole::MAX_EPISODE_STEPS,
        description: "CartPole-v1: balance a pole on a cart by pushing it left or right",
    };
}

impl CartPoleContinuous {
    /// The task's row in the listing ([`CLASSIC`]).
    pub const INFO: EnvInfo = EnvInfo {
        name: "cartpole-continuous",
        obs_dim: CartPoleContinuous::OBS,
        act_dim: CartPoleContinuous::ACT,
        action: ActionKind::Continuous {
            low: -1.0,
            high: 1.0,
        },
        max_episode_steps: CartPoleContinuous::MAX_EPISODE_STEPS,
        description: "CartPole-v1 physics with a continuous force (action x 10 N)",
    };
}

impl MountainCarContinuous {
    /// The task's row in the listing ([`CLASSIC`]).
    pub const INFO: EnvInfo = EnvInfo {
        name: "mountaincar-continuous",
        obs_dim: MountainCarContinuous::OBS,
        act_dim: MountainCarContinuous::ACT,
        action: ActionKind::Continuous {
            low: -1.0,
            high: 1.0,
        },
        max_episode_steps: MountainCarContinuous::MAX_EPISODE_STEPS,
        description: "MountainCarContinuous-v0: drive an underpowered car up a hill",
    };
}

impl Acrobot {
    /// The task's row in the listing ([`CLASSIC`]).
    pub const INFO: EnvInfo = EnvInfo {
        name: "acrobot",
        obs_dim: Acrobot::OBS,
        act_dim: Acrobot::ACT,
        action: ActionKind::Discrete,
        max_episode_steps: Acrobot::MAX_EPISODE_STEPS,
        description: "Acrobot-v1: swing a two-link arm, actuated at the elbow, above a line",
    };
}

/// The built-in classic control tasks.
pub const CLASSIC: &[EnvInfo] = &[
    Pendulum::INFO,
    CartPole::INFO,
    CartPoleContinuous::INFO,
    MountainCarContinuous::INFO,
    Acrobot::INFO,
];

/// The row of [`CLASSIC`] called `name`, if any.
pub fn find(name: &str) -> Option<&'static EnvInfo> {
    CLASSIC.iter().find(|info| info.name == name)
}

/// Gymnasium's `angle_normalize`: `((x + π) mod 2π) − π` with a floored
/// modulo, so the result lies in `[−π, π)`.
#[inline]
pub(crate) fn angle_normalize(x: f32) -> f32 {
    let r = libm::fmodf(x + PI, TAU);
    // fmod keeps the dividend's sign; the floored modulo does not.
    let r = if r < 0.0 { r + TAU } else { r };
    r - PI
}

/// An angle brought into `[−π, π]`; angles already there are returned
/// unchanged (as Gymnasium's `wrap`), so in-range values lose no precision.
#[inline]
pub(crate) fn wrap_pi(x: f32) -> f32 {
    if (-PI..=PI).contains(&x) {
        x
    } else {
        angle_normalize(x)
    }
}

/// `x` limited to `[low, high]`, NaN passed through (as `np.clip`). Unlike
/// `f32::clamp` it never panics, whatever bounds a caller configured.
#[inline]
pub(crate) fn clip(x: f32, low: f32, high: f32) -> f32 {
    if x < low {
        low
    } else if x > high {
        high
    } else {
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_names_are_unique_and_findable() {
        let names = [
            "pendulum",
            "cartpole",
            "cartpole-continuous",
            "mountaincar-continuous",
            "acrobot",
        ];
        assert_eq!(CLASSIC.len(), names.len());
        for (info, name) in CLASSIC.iter().zip(names) {
            assert_eq!(info.name, name);
            assert_eq!(find(name), Some(info));
            assert!(!info.description.is_empty());
        }
        assert_eq!(find("hopper"), None);
    }

    #[test]
    fn listing_matches_the_tasks() {
        use crate::env::{ActionSpace, Env};
        fn check<const O: usize, const A: usize, E: Env<O, A>>(env: &E, name: &str, steps: u32) {
            let info = find(name).unwrap();
            assert_eq!((info.obs_dim, info.act_dim), (O, A), "{name}");
            assert_eq!(info.max_episode_steps, steps, "{name}");
            match (env.action_space(), info.action) {
                (ActionSpace::Discrete, ActionKind::Discrete) => {}
                (
                    ActionSpace::Continuous { low, high },
                    ActionKind::Continuous { low: l, high: h },
                ) => {
                    assert!(low.iter().all(|&v| v == l), "{name}");
                    assert!(high.iter().all(|&v| v == h), "{name}");
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        check(&Pendulum::new(), "pendulum", Pendulum::MAX_EPISODE_STEPS);
        check(&CartPole::new(), "cartpole", CartPole::MAX_EPISODE_STEPS);
        check(
            &CartPoleContinuous::new(),
            "cartpole-continuous",
            CartPoleContinuous::MAX_EPISODE_STEPS,
        );
        check(
            &MountainCarContinuous::new(),
            "mountaincar-continuous",
            MountainCarContinuous::MAX_EPISODE_STEPS,
        );
        check(&Acrobot::new(), "acrobot", Acrobot::MAX_EPISODE_STEPS);
        assert_eq!(
            [200, 500, 500, 999, 500],
            [
                Pendulum::MAX_EPISODE_STEPS,
                CartPole::MAX_EPISODE_STEPS,
                CartPoleContinuous::MAX_EPISODE_STEPS,
                MountainCarContinuous::MAX_EPISODE_STEPS,
                Acrobot::MAX_EPISODE_STEPS
            ]
        );
    }

    /// Python's `((x + pi) % (2 * pi)) - pi`, in f64, for the table below.
    fn angle_normalize_f64(x: f64) -> f64 {
        use core::f64::consts::PI;
        (x + PI).rem_euclid(2.0 * PI) - PI
    }

    #[test]
    fn angle_normalize_matches_floored_modulo() {
        let table = [
            0.0f32, 0.5, -0.5, 3.0, -3.0, 3.2, -3.2, 6.0, -6.0, 7.0, -7.0, 12.5, -12.5, 100.0,
            -100.0,
        ];
        for x in table {
            let got = angle_normalize(x) as f64;
            let want = angle_normalize_f64(x as f64);
            assert!((got - want).abs() < 1e-5, "{x}: {got} vs {want}");
            assert!((-PI..PI).contains(&angle_normalize(x)), "{x}");
        }
    }

    #[test]
    fn wrap_pi_keeps_in_range_values_exactly() {
        for x in [0.0f32, 1.0, -1.0, 3.0, -3.0, PI, -PI] {
            assert_eq!(wrap_pi(x), x);
        }
        assert!((wrap_pi(4.0) - (4.0 - TAU)).abs() < 1e-6);
        assert!((wrap_pi(-4.0) - (TAU - 4.0)).abs() < 1e-6);
        assert!((wrap_pi(20.0) - angle_normalize_f64(20.0) as f32).abs() < 1e-5);
    }

    #[test]
    fn clip_is_np_clip() {
        assert_eq!(clip(3.0, -2.0, 2.0), 2.0);
        assert_eq!(clip(-3.0, -2.0, 2.0), -2.0);
        assert_eq!(clip(0.5, -2.0, 2.0), 0.5);
        assert!(clip(f32::NAN, -2.0, 2.0).is_nan());
        // Inverted bounds must not panic.
        let _ = clip(0.0, 1.0, -1.0);
    }
}
