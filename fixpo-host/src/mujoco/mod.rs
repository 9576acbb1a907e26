//! MuJoCo tasks with Gymnasium 1.4's v5 definitions (feature `mujoco`).
//!
//! | name | struct | Gymnasium | `O` | `A` | time limit |
//! |------|--------|-----------|-----|-----|------------|
//! | `hopper` | [`Hopper`] | `Hopper-v5` | 11 | 3 | 1000 |
//! | `walker2d` | [`Walker2d`] | `Walker2d-v5` | 17 | 6 | 1000 |
//! | `halfcheetah` | [`HalfCheetah`] | `HalfCheetah-v5` | 17 | 6 | 1000 |
//! | `swimmer` | [`Swimmer`] | `Swimmer-v5` | 8 | 2 | 1000 |
//! | `inverted-pendulum` | [`InvertedPendulum`] | `InvertedPendulum-v5` | 4 | 1 | 1000 |
//! | `inverted-double-pendulum` | [`InvertedDoublePendulum`] | `InvertedDoublePendulum-v5` | 9 | 1 | 1000 |
//! | `reacher` | [`Reacher`] | `Reacher-v5` | 10 | 2 | 50 |
//! | `ant` | [`Ant`] | `Ant-v5` | 105 | 8 | 1000 |
//!
//! Each task steps the physics exactly as Gymnasium's `MujocoEnv` does
//! (`ctrl := action`, `mj_step` × `frame_skip`, `mj_rnePostConstraint`) and
//! computes its observation, reward and termination in `f64` in the same
//! order of operations as Gymnasium and NumPy (pairwise sums, the same
//! `‖·‖`), so a trajectory from the same state and actions agrees with
//! Gymnasium bit for bit before the final cast to `f32`
//! (`tests/mujoco_conformance.rs` checks this against Gymnasium itself).
//! The `f64` values are available through [`MujocoTask::step_f64`].
//!
//! Reset noise has Gymnasium's distributions (uniform or normal, per task)
//! but is drawn from the caller's generator with [`fixpo_core::rng`], so
//! the samples differ from NumPy's. Actions are not clipped (as in
//! Gymnasium): MuJoCo clamps the control to the actuator range, and the
//! control cost uses the action as given.
//!
//! The models are Gymnasium's MJCF files, read from `$FIXPO_MJCF_DIR`
//! (`scripts/setup-mujoco.sh` fetches them and writes `.cache/mujoco/env.sh`
//! to source). A model is loaded once per process and shared (`Arc`) by
//! every copy of a task; cloning a task copies its `MjData`.
//!
//! Every task has a public options struct with Gymnasium's keyword
//! arguments and defaults (reward weights, healthy ranges as `*_min` /
//! `*_max`, `reset_noise_scale`, `frame_skip`, `max_episode_steps`, …),
//! settable by name with [`MujocoTask::set_option`] (the CLI's
//! `--set env.KEY=VALUE`). Options that would change the observation size
//! (`exclude_current_positions_from_observation`,
//! `include_cfrc_ext_in_observation`) are fixed at Gymnasium's defaults.
//!
//! MuJoCo prints its warnings (e.g. an unstable simulation that it resets)
//! to stdout and appends them to `MUJOCO_LOG.TXT`; installing a log handler
//! needs `unsafe`, which this crate denies. The one warning every run of a
//! Gymnasium model would print (`half_cheetah.xml`'s deprecated compiler
//! attribute `settotalmass`) is avoided by applying that attribute through
//! the model-editing API instead, which compiles the same model.
//!
//! ## Files
//! - this file: [`MujocoTask`], the list of tasks ([`TASKS`], [`find`],
//!   [`visit`]) and the macros every task file uses;
//! - `sim.rs`: [`Sim`], the physics of one task instance, and the models
//!   loaded from [`mjcf_dir`];
//! - `options.rs`: the `options!` macro that makes every `…Options` struct;
//! - `locomotion.rs`: the observation and the step that Hopper, Walker2d,
//!   HalfCheetah and Swimmer share;
//! - `numpy.rs`: NumPy's sums and clips, so that results agree bit for bit;
//! - one file per task, named after it.
//!
//! The raw random-action stepping rate that `fixpo bench` measures is in
//! [`crate::bench`].

mod ant;
mod half_cheetah;
mod hopper;
mod inverted_double_pendulum;
mod inverted_pendulum;
mod locomotion;
mod numpy;
mod options;
mod reacher;
mod sim;
mod swimmer;
#[cfg(test)]
mod tests;
mod walker2d;

pub use ant::{Ant, AntOptions};
pub use half_cheetah::{HalfCheetah, HalfCheetahOptions};
pub use hopper::{Hopper, HopperOptions};
pub use inverted_double_pendulum::{InvertedDoublePendulum, InvertedDoublePendulumOptions};
pub use inverted_pendulum::{InvertedPendulum, InvertedPendulumOptions};
pub use reacher::{Reacher, ReacherOptions};
pub use sim::{MJCF_DIR_VAR, Sim, mjcf_dir};
pub use swimmer::{Swimmer, SwimmerOptions};
pub use walker2d::{Walker2d, Walker2dOptions};

use crate::tasks::{Task, TaskSpec, TaskVisitor};
use fixpo_core::PolicyKind;
use fixpo_core::env::{Env, Step};
use fixpo_core::envs::{ActionKind, EnvInfo};
use rand_core::RngCore;
use std::path::PathBuf;

/// Why a MuJoCo task could not be made or configured.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum MujocoError {
    /// `$FIXPO_MJCF_DIR` is not set (and the binary was built without it).
    #[error(
        "{MJCF_DIR_VAR} is not set: run scripts/setup-mujoco.sh and `source .cache/mujoco/env.sh`"
    )]
    NoMjcfDir,
    /// The model file does not exist.
    #[error(
        "MuJoCo model `{}` not found: run scripts/setup-mujoco.sh and `source .cache/mujoco/env.sh`",
        path.display()
    )]
    MissingModel {
        /// The path looked for.
        path: PathBuf,
    },
    /// MuJoCo refused the model.
    #[error("MuJoCo cannot load `{}`: {reason}", path.display())]
    Load {
        /// The model file.
        path: PathBuf,
        /// MuJoCo's message.
        reason: String,
    },
    /// The model does not have the shape the task expects.
    #[error("MuJoCo model `{file}` does not fit task `{task}`: {reason}")]
    Shape {
        /// The task.
        task: &'static str,
        /// The model file.
        file: &'static str,
        /// What differs.
        reason: String,
    },
    /// No option has this name.
    #[error("task `{task}` has no option `{key}` (options: {valid})")]
    UnknownOption {
        /// The task.
        task: &'static str,
        /// The key given.
        key: String,
        /// The task's option names, comma-separated.
        valid: String,
    },
    /// An option value is out of range.
    #[error("bad value {value} for option `{key}` of task `{task}`: {reason}")]
    BadOption {
        /// The task.
        task: &'static str,
        /// The key.
        key: String,
        /// The value given.
        value: f64,
        /// What is wrong with it.
        reason: String,
    },
    /// A set of options is inconsistent.
    #[error("bad options for task `{task}`: {reason}")]
    BadOptions {
        /// The task.
        task: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// MuJoCo refused a saved state.
    #[error("task `{task}`: MuJoCo refused the saved state: {reason}")]
    Restore {
        /// The task.
        task: &'static str,
        /// MuJoCo's message.
        reason: String,
    },
    /// No MuJoCo task has this name.
    #[error("unknown MuJoCo task `{0}`")]
    UnknownTask(String),
    /// A state vector has the wrong length.
    #[error("task `{task}`: {what} has {got} numbers, expected {expected}")]
    StateLength {
        /// The task.
        task: &'static str,
        /// Which vector.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length needed.
        expected: usize,
    },
}

impl From<MujocoError> for crate::HostError {
    fn from(e: MujocoError) -> Self {
        crate::HostError::bad("env", e.to_string())
    }
}

/// One step's outcome in `f64`, exactly as Gymnasium computes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepF64<const O: usize> {
    /// Observation after the step.
    pub obs: [f64; O],
    /// Reward for the step.
    pub reward: f64,
    /// The episode reached a terminal state.
    pub terminated: bool,
    /// The time limit was reached.
    pub truncated: bool,
}

impl<const O: usize> StepF64<O> {
    /// The `f32` step the [`Env`] trait returns.
    pub fn to_f32(&self) -> Step<O> {
        Step {
            obs: self.obs.map(|x| x as f32),
            reward: self.reward as f32,
            terminated: self.terminated,
            truncated: self.truncated,
        }
    }
}

/// What every MuJoCo task offers beyond [`Env`].
///
/// Each task type also names its sizes `O` and `A` in the associated
/// consts `OBS` and `ACT` (e.g. `Hopper::OBS`).
pub trait MujocoTask<const O: usize, const A: usize>:
    Env<O, A> + Clone + Send + Sync + 'static
{
    /// The task's row in [`TASKS`].
    const INFO: EnvInfo;
    /// Gymnasium's id (`"Hopper-v5"`).
    const GYM_ID: &'static str;
    /// The options struct.
    type Options: Clone + Default + std::fmt::Debug;

    /// Loads the task with `options`.
    ///
    /// # Errors
    /// When the model is missing or the options are out of range.
    fn with_options(options: Self::Options) -> Result<Self, MujocoError>;
    /// Loads the task with Gymnasium's default options.
    ///
    /// # Errors
    /// When the model file is missing or MuJoCo refuses it.
    fn load() -> Result<Self, MujocoError> {
        Self::with_options(Self::Options::default())
    }
    /// The current options.
    fn options(&self) -> &Self::Options;
    /// The option names [`MujocoTask::set_option`] accepts.
    fn option_names() -> &'static [&'static str];
    /// The value of option `key` (booleans as 0/1).
    fn option(&self, key: &str) -> Option<f64>;
    /// Sets option `key` (booleans as 0/1, counts as whole numbers).
    ///
    /// # Errors
    /// [`MujocoError::UnknownOption`] or [`MujocoError::BadOption`]; the
    /// options are unchanged then.
    fn set_option(&mut self, key: &str, value: f64) -> Result<(), MujocoError>;
    /// The simulation.
    fn sim(&self) -> &Sim;
    /// The simulation, mutably.
    fn sim_mut(&mut self) -> &mut Sim;
    /// The observation of the current state, in `f64`.
    fn obs_f64(&self) -> [f64; O];
    /// Applies `action` for one control period, in `f64`.
    fn step_f64(&mut self, action: &[f64; A]) -> StepF64<O>;
    /// Draws a reset state `(qpos, qvel)` with Gymnasium's distributions.
    fn sample_reset<R: RngCore + ?Sized>(&self, rng: &mut R) -> (Vec<f64>, Vec<f64>);

    /// Gymnasium's `set_state` after a reset: starts an episode at
    /// `(qpos, qvel)` and returns its first observation.
    ///
    /// # Errors
    /// [`MujocoError::StateLength`] when a vector has the wrong length.
    fn set_state(&mut self, qpos: &[f64], qvel: &[f64]) -> Result<[f64; O], MujocoError> {
        self.sim_mut()
            .set_state(Self::INFO.name, qpos, qvel)
            .map(|_| self.obs_f64())
    }
    /// Task-specific values a snapshot needs besides the physics state.
    fn aux(&self) -> Vec<f64> {
        Vec::new()
    }
    /// Puts back what [`MujocoTask::aux`] returned.
    fn set_aux(&mut self, _aux: &[f64]) {}
}

/// The [`MujocoTask`] items every task implements the same way (for a
/// task struct with fields `sim` and `options`).
macro_rules! common_items {
    ($opts:ty) => {
        type Options = $opts;
        fn options(&self) -> &$opts {
            &self.options
        }
        fn option_names() -> &'static [&'static str] {
            <$opts>::NAMES
        }
        fn option(&self, key: &str) -> Option<f64> {
            self.options.get(key)
        }
        fn set_option(&mut self, key: &str, value: f64) -> Result<(), $crate::mujoco::MujocoError> {
            self.options.set(key, value)?;
            self.sim.set_frame_skip(self.options.frame_skip);
            Ok(())
        }
        fn sim(&self) -> &$crate::mujoco::Sim {
            &self.sim
        }
        fn sim_mut(&mut self) -> &mut $crate::mujoco::Sim {
            &mut self.sim
        }
    };
}
pub(crate) use common_items;

/// Implements [`Env`] (through the `f64` path) and the host's [`Task`]
/// for a MuJoCo task type, with the sizes its `OBS` and `ACT` give.
macro_rules! mujoco_env {
    ($ty:ident) => {
        impl fixpo_core::env::Env<{ $ty::OBS }, { $ty::ACT }> for $ty {
            fn action_space(&self) -> fixpo_core::env::ActionSpace<{ $ty::ACT }> {
                self.sim.action_space()
            }

            fn reset<R: rand_core::RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; $ty::OBS] {
                let (qpos, qvel) = $crate::mujoco::MujocoTask::sample_reset(self, rng);
                $crate::mujoco::MujocoTask::set_state(self, &qpos, &qvel)
                    .expect("reset state has the model's sizes")
                    .map(|x| x as f32)
            }

            fn step(&mut self, action: &[f32; $ty::ACT]) -> fixpo_core::env::Step<{ $ty::OBS }> {
                let a = action.map(f64::from);
                $crate::mujoco::MujocoTask::step_f64(self, &a).to_f32()
            }
        }

        impl $crate::tasks::Task<{ $ty::OBS }, { $ty::ACT }> for $ty {
            fn snapshot(&self) -> $crate::tasks::EnvState {
                self.sim.snapshot($crate::mujoco::MujocoTask::aux(self))
            }

            fn restore(&mut self, s: &$crate::tasks::EnvState) -> $crate::Result<()> {
                let n_aux = $crate::mujoco::MujocoTask::aux(self).len();
                let name =
                    <$ty as $crate::mujoco::MujocoTask<{ $ty::OBS }, { $ty::ACT }>>::INFO.name;
                let aux = self.sim.restore(name, s, n_aux)?;
                $crate::mujoco::MujocoTask::set_aux(self, &aux);
                Ok(())
            }
        }
    };
}
pub(crate) use mujoco_env;

/// The MuJoCo tasks' listing rows, in the registry's order
/// ([`crate::tasks`] holds the one list of task types).
pub const TASKS: &[EnvInfo] = crate::tasks::MUJOCO_TASKS;

/// The registry's dispatch over the MuJoCo task types.
fn visit_type<V: TypeVisitor>(name: &str, v: V) -> Option<V::Out> {
    crate::tasks::visit_mujoco_type(name, v)
}

/// Generic code over the MuJoCo task types, before any is loaded: called
/// with the task's `O`, `A` and type by the registry.
pub(crate) trait TypeVisitor {
    /// What the visit returns.
    type Out;
    /// Called with the task's dimensions and type.
    fn visit<const O: usize, const A: usize, T: MujocoTask<O, A> + Task<O, A>>(self) -> Self::Out;
}

/// The listing row of MuJoCo task `name` (also accepts Gymnasium's id,
/// e.g. `Hopper-v5`).
pub fn find(name: &str) -> Option<&'static EnvInfo> {
    struct Name;
    impl TypeVisitor for Name {
        type Out = &'static str;
        fn visit<const O: usize, const A: usize, T: MujocoTask<O, A>>(self) -> &'static str {
            T::INFO.name
        }
    }
    let name = visit_type(name, Name)?;
    TASKS.iter().find(|info| info.name == name)
}

/// The option names of MuJoCo task `name`.
pub fn option_names(name: &str) -> Option<&'static [&'static str]> {
    struct Names;
    impl TypeVisitor for Names {
        type Out = &'static [&'static str];
        fn visit<const O: usize, const A: usize, T: MujocoTask<O, A>>(self) -> Self::Out {
            T::option_names()
        }
    }
    visit_type(name, Names)
}

/// Generic code over the MuJoCo task types: called with the task's `O`,
/// `A` and type by [`visit`].
pub trait MujocoVisitor {
    /// What the visit returns.
    type Out;
    /// Called with the loaded task (default options).
    fn visit<const O: usize, const A: usize, T: MujocoTask<O, A> + Task<O, A>>(
        self,
        task: T,
    ) -> Self::Out;
}

/// Loads MuJoCo task `name` with its default options, applies `options`
/// (`(key, value)` pairs, in order) and calls `v` with it.
///
/// # Errors
/// [`MujocoError::UnknownTask`], a missing model, or a bad option.
pub fn visit<V: MujocoVisitor>(
    name: &str,
    options: &[(String, f64)],
    v: V,
) -> Result<V::Out, MujocoError> {
    struct Load<'a, V>(&'a [(String, f64)], V);
    impl<V: MujocoVisitor> TypeVisitor for Load<'_, V> {
        type Out = Result<V::Out, MujocoError>;
        fn visit<const O: usize, const A: usize, T: MujocoTask<O, A> + Task<O, A>>(
            self,
        ) -> Self::Out {
            let Load(options, v) = self;
            let mut t = T::load()?;
            for (k, x) in options {
                t.set_option(k, *x)?;
            }
            Ok(v.visit(t))
        }
    }
    visit_type(name, Load(options, v)).ok_or_else(|| MujocoError::UnknownTask(name.to_owned()))?
}

/// Runs the host's [`TaskVisitor`] on MuJoCo task `name` (default
/// options): the hook for `tasks::visit_task`.
///
/// # Errors
/// Unknown name, or the model cannot be loaded.
pub fn visit_task<V: TaskVisitor>(name: &str, v: V) -> crate::Result<V::Out> {
    struct Host<V>(V);
    impl<V: TaskVisitor> MujocoVisitor for Host<V> {
        type Out = V::Out;
        fn visit<const O: usize, const A: usize, T: MujocoTask<O, A> + Task<O, A>>(
            self,
            task: T,
        ) -> V::Out {
            self.0.visit(TaskSpec {
                info: find(T::INFO.name).expect("listed"),
                env: task,
                kind: PolicyKind::Gaussian,
            })
        }
    }
    Ok(visit(name, &[], Host(v))?)
}

/// An [`EnvInfo`] row for a MuJoCo task with actions in `[-bound, bound]`.
const fn info(
    name: &'static str,
    obs_dim: usize,
    act_dim: usize,
    bound: f32,
    max_episode_steps: u32,
    description: &'static str,
) -> EnvInfo {
    EnvInfo {
        name,
        obs_dim,
        act_dim,
        action: ActionKind::Continuous {
            low: -bound,
            high: bound,
        },
        max_episode_steps,
        description,
    }
}

#[cfg(test)]
mod registry_tests {
    use super::*;

    #[test]
    fn every_task_is_listed_and_found() {
        for info in TASKS {
            assert_eq!(find(info.name), Some(info));
            assert!(
                option_names(info.name)
                    .unwrap()
                    .contains(&"max_episode_steps")
            );
        }
        assert_eq!(find("Hopper-v5").unwrap().name, "hopper");
        assert!(find("pendulum").is_none());
    }

    #[test]
    fn gymnasium_ids_name_the_same_tasks() {
        let ids = [
            ("Hopper-v5", "hopper"),
            ("Walker2d-v5", "walker2d"),
            ("HalfCheetah-v5", "halfcheetah"),
            ("Swimmer-v5", "swimmer"),
            ("InvertedPendulum-v5", "inverted-pendulum"),
            ("InvertedDoublePendulum-v5", "inverted-double-pendulum"),
            ("Reacher-v5", "reacher"),
            ("Ant-v5", "ant"),
        ];
        assert_eq!(TASKS.len(), ids.len());
        for (id, name) in ids {
            assert_eq!(find(id).map(|info| info.name), Some(name));
            assert_eq!(option_names(id), option_names(name));
        }
    }

    #[test]
    fn unknown_names_are_refused() {
        struct Unreached;
        impl MujocoVisitor for Unreached {
            type Out = ();
            fn visit<const O: usize, const A: usize, T: MujocoTask<O, A> + Task<O, A>>(
                self,
                _task: T,
            ) {
                unreachable!("no task is named so")
            }
        }
        assert!(option_names("pendulum").is_none());
        assert_eq!(
            visit("pendulum", &[], Unreached).unwrap_err(),
            MujocoError::UnknownTask("pendulum".into())
        );
    }
}
