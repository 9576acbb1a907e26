//! The built-in tasks, and dispatch from a task's name (and a hidden size)
//! to code compiled for its const-generic dimensions.
//!
//! Tasks have different observation and action sizes, and the networks'
//! hidden size is a const too, so a name given at run time is turned into a
//! call of generic code through a visitor: [`visit_task`] calls
//! [`TaskVisitor::visit`] with the task's `O`, `A` and type, and
//! [`visit_hidden`] calls [`HiddenVisitor::visit`] with `H`. Only
//! [`HIDDEN_SIZES`] are compiled, to keep build times in check.

use crate::config::RunConfig;
use crate::error::{HostError, Result};
use crate::presets;
use fixpo_core::PolicyKind;
use fixpo_core::env::Env;
use fixpo_core::envs::{
    self, Acrobot, CartPole, CartPoleContinuous, EnvInfo, MountainCarContinuous, Pendulum,
};
use fixpo_core::rng::Pcg32;
use serde::{Deserialize, Serialize};

/// Declares the supported hidden sizes once: the list and the dispatch.
macro_rules! hidden_sizes {
    ($($h:literal),*) => {
        /// The hidden-layer widths this build supports.
        pub const HIDDEN_SIZES: [usize; [$($h),*].len()] = [$($h),*];

        fn visit_hidden_size<V: HiddenVisitor>(hidden: usize, v: V) -> Result<V::Out> {
            match hidden {
                $($h => Ok(v.visit::<$h>()),)*
                _ => Err(HostError::bad(
                    "hidden",
                    format!("{hidden} is not a supported hidden size (supported: {})", hidden_names()),
                )),
            }
        }
    };
}

hidden_sizes!(32, 64, 128);

/// A task's episode state at a point in time: the plant's state and the
/// steps taken in the running episode. Enough to continue the episode
/// exactly (see [`Task::restore`]).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct EnvState {
    /// The plant's state vector (the task's `state()`).
    pub state: Vec<f32>,
    /// Steps taken since the last reset.
    pub elapsed_steps: u32,
}

/// A built-in task the host can train on: an [`Env`] that can be copied
/// across threads and saved into a checkpoint.
pub trait Task<const O: usize, const A: usize>: Env<O, A> + Clone + Send + Sync + 'static {
    /// The task's current episode state.
    fn snapshot(&self) -> EnvState;
    /// Puts the task back in a state taken by [`Task::snapshot`] on a task
    /// with the same parameters; the next step behaves exactly as it would
    /// have then.
    ///
    /// # Errors
    /// [`HostError::BadConfig`] when the state vector has the wrong length.
    fn restore(&mut self, s: &EnvState) -> Result<()>;
}

/// Implements [`Task`] for a classic task with `state()`, `set_state()`,
/// `elapsed_steps()` and a public `max_episode_steps`.
macro_rules! classic_task {
    ($ty:ty, $n:expr) => {
        impl Task<{ <$ty>::OBS }, { <$ty>::ACT }> for $ty {
            fn snapshot(&self) -> EnvState {
                EnvState {
                    state: self.state().to_vec(),
                    elapsed_steps: self.elapsed_steps(),
                }
            }

            fn restore(&mut self, s: &EnvState) -> Result<()> {
                let state: [f32; $n] = s.state.as_slice().try_into().map_err(|_| {
                    HostError::bad(
                        "checkpoint",
                        format!(
                            "{} state has {} numbers, expected {}",
                            stringify!($ty),
                            s.state.len(),
                            $n
                        ),
                    )
                })?;
                // The tasks have no setter for the episode's step count, so
                // it is replayed: from a reset, take that many steps with the
                // time limit lifted, then put the state in place. At most
                // one episode's length of cheap steps.
                let limit = self.max_episode_steps;
                self.max_episode_steps = u32::MAX;
                self.reset(&mut Pcg32::new(0, 0));
                for _ in 0..s.elapsed_steps {
                    self.set_state(state);
                    self.step(&[0.0; { <$ty>::ACT }]);
                }
                self.max_episode_steps = limit;
                self.set_state(state);
                Ok(())
            }
        }
    };
}

classic_task!(Pendulum, 2);
classic_task!(CartPole, 4);
classic_task!(CartPoleContinuous, 4);
classic_task!(MountainCarContinuous, 2);
classic_task!(Acrobot, 4);

#[cfg(test)]
mod dummy;

/// A built-in task type: what the registry needs to list, look up and
/// build it.
pub trait Builtin: Sized {
    /// The listing row: name, dimensions, action kind, time limit.
    const INFO: EnvInfo;
    /// Gymnasium's id, accepted wherever a task name is.
    const GYM_ID: Option<&'static str>;

    /// The options `--set env.KEY=VALUE` accepts (none by default).
    fn option_names() -> &'static [&'static str] {
        &[]
    }

    /// A fresh instance with `options` (`(key, value)` pairs, in order)
    /// applied to the defaults.
    ///
    /// # Errors
    /// [`HostError`] for a bad option or a task that cannot be loaded.
    fn build(options: &[(String, f64)]) -> Result<Self>;
}

/// Implements [`Builtin`] for a classic task (no options).
macro_rules! classic_builtin {
    ($ty:ty, $gym:expr) => {
        impl Builtin for $ty {
            const INFO: EnvInfo = <$ty>::INFO;
            const GYM_ID: Option<&'static str> = $gym;

            fn build(options: &[(String, f64)]) -> Result<Self> {
                check_options(<$ty>::INFO.name, options)?;
                Ok(<$ty>::new())
            }
        }
    };
}

classic_builtin!(Pendulum, Some("Pendulum-v1"));
classic_builtin!(CartPole, Some("CartPole-v1"));
classic_builtin!(CartPoleContinuous, None);
classic_builtin!(MountainCarContinuous, Some("MountainCarContinuous-v0"));
classic_builtin!(Acrobot, Some("Acrobot-v1"));

/// One row of the task registry.
#[derive(Clone, Copy, Debug)]
pub struct TaskEntry {
    /// The listing row.
    pub info: &'static EnvInfo,
    /// Gymnasium's id, if the task has one.
    pub gym_id: Option<&'static str>,
    /// The task's option names.
    pub options: fn() -> &'static [&'static str],
    /// The task's preset: a change to [`RunConfig::reference`].
    pub preset: fn(RunConfig) -> RunConfig,
}

impl TaskEntry {
    /// Whether `name` is this task's name or Gymnasium id.
    pub fn is(&self, name: &str) -> bool {
        self.info.name == name || self.gym_id == Some(name)
    }

    /// Gaussian for continuous actions, categorical for discrete ones.
    pub fn kind(&self) -> PolicyKind {
        kind_of(self.info)
    }
}

fn kind_of(info: &EnvInfo) -> PolicyKind {
    match info.action {
        envs::ActionKind::Continuous { .. } => PolicyKind::Gaussian,
        envs::ActionKind::Discrete => PolicyKind::Categorical,
    }
}

/// Implements [`Builtin`] for a MuJoCo task from its `MujocoTask` impl.
#[cfg(feature = "mujoco")]
macro_rules! mujoco_builtin {
    ($ty:ty) => {
        impl Builtin for $ty {
            const INFO: EnvInfo =
                <$ty as crate::mujoco::MujocoTask<{ <$ty>::OBS }, { <$ty>::ACT }>>::INFO;
            const GYM_ID: Option<&'static str> =
                Some(<$ty as crate::mujoco::MujocoTask<{ <$ty>::OBS }, { <$ty>::ACT }>>::GYM_ID);

            fn option_names() -> &'static [&'static str] {
                <$ty as crate::mujoco::MujocoTask<{ <$ty>::OBS }, { <$ty>::ACT }>>::option_names()
            }

            fn build(options: &[(String, f64)]) -> Result<Self> {
                use crate::mujoco::MujocoTask;
                let mut t = <$ty>::load()?;
                for (k, x) in options {
                    t.set_option(k, *x)?;
                }
                Ok(t)
            }
        }
    };
}

/// The task registry: one line per task, from which the listing, the
/// name and Gymnasium-id lookup, the options, the presets and the
/// dispatch to const-generic code are all generated. A task's dimensions
/// are its [`Builtin::INFO`]'s. The MuJoCo tasks are listed by name and
/// Gymnasium id too, so a build without the `mujoco` feature can say
/// which feature a name needs.
macro_rules! registry {
    (
        builtin { $( $(#[$attr:meta])* $ty:ty => $preset:path, )* }
        mujoco { $( $mty:ident ($mname:literal, $mgym:literal), )* }
    ) => {
        /// Every task this build can run, in listing order.
        pub static TASKS: &[TaskEntry] = &[
            $( $(#[$attr])* TaskEntry {
                info: &<$ty as Builtin>::INFO,
                gym_id: <$ty as Builtin>::GYM_ID,
                options: <$ty as Builtin>::option_names,
                preset: $preset,
            }, )*
            $( #[cfg(feature = "mujoco")] TaskEntry {
                info: &<crate::mujoco::$mty as Builtin>::INFO,
                gym_id: <crate::mujoco::$mty as Builtin>::GYM_ID,
                options: <crate::mujoco::$mty as Builtin>::option_names,
                preset: presets::mujoco,
            }, )*
        ];

        /// The MuJoCo tasks' names and Gymnasium ids, known even in a
        /// build without the `mujoco` feature.
        pub const MUJOCO_NAMES: &[(&str, &str)] = &[ $( ($mname, $mgym), )* ];

        /// The MuJoCo tasks' listing rows.
        #[cfg(feature = "mujoco")]
        pub const MUJOCO_TASKS: &[EnvInfo] = &[ $( <crate::mujoco::$mty as Builtin>::INFO, )* ];

        $( #[cfg(feature = "mujoco")] mujoco_builtin!(crate::mujoco::$mty); )*

        /// Calls `v` with the type of the MuJoCo task named `name` (its
        /// name or Gymnasium id); `None` when no MuJoCo task has that name.
        #[cfg(feature = "mujoco")]
        pub(crate) fn visit_mujoco_type<V: crate::mujoco::TypeVisitor>(
            name: &str,
            v: V,
        ) -> Option<V::Out> {
            $(
                if <crate::mujoco::$mty as Builtin>::INFO.name == name
                    || <crate::mujoco::$mty as Builtin>::GYM_ID == Some(name)
                {
                    return Some(v.visit::<
                        { crate::mujoco::$mty::OBS },
                        { crate::mujoco::$mty::ACT },
                        crate::mujoco::$mty,
                    >());
                }
            )*
            None
        }

        /// Builds task `name` with `options` and calls `v` with its
        /// dimensions and type.
        fn dispatch<V: TaskVisitor>(
            name: &str,
            options: &[(String, f64)],
            v: V,
        ) -> Result<V::Out> {
            $( $(#[$attr])* if <$ty as Builtin>::INFO.name == name {
                return Ok(v.visit::<
                    { <$ty as Builtin>::INFO.obs_dim },
                    { <$ty as Builtin>::INFO.act_dim },
                    $ty,
                >(spec(<$ty as Builtin>::build(options)?)));
            } )*
            $( #[cfg(feature = "mujoco")] if <crate::mujoco::$mty as Builtin>::INFO.name == name {
                return Ok(v.visit::<
                    { <crate::mujoco::$mty as Builtin>::INFO.obs_dim },
                    { <crate::mujoco::$mty as Builtin>::INFO.act_dim },
                    crate::mujoco::$mty,
                >(spec(<crate::mujoco::$mty as Builtin>::build(options)?)));
            } )*
            Err(HostError::UnknownTask {
                name: name.to_owned(),
                known: task_names(),
            })
        }
    };
}

registry! {
    builtin {
        Pendulum => presets::pendulum,
        CartPole => presets::cartpole,
        CartPoleContinuous => presets::cartpole_continuous,
        MountainCarContinuous => presets::mountaincar_continuous,
        Acrobot => presets::acrobot,
        #[cfg(test)] dummy::Dummy => presets::reference,
    }
    mujoco {
        Hopper("hopper", "Hopper-v5"),
        Walker2d("walker2d", "Walker2d-v5"),
        HalfCheetah("halfcheetah", "HalfCheetah-v5"),
        Swimmer("swimmer", "Swimmer-v5"),
        InvertedPendulum("inverted-pendulum", "InvertedPendulum-v5"),
        InvertedDoublePendulum("inverted-double-pendulum", "InvertedDoublePendulum-v5"),
        Reacher("reacher", "Reacher-v5"),
        Ant("ant", "Ant-v5"),
    }
}

/// A task ready to run: its listing row, a fresh instance (the template
/// every environment is cloned from) and the policy family it needs.
#[derive(Clone, Debug)]
pub struct TaskSpec<E> {
    /// The task's listing row.
    pub info: &'static EnvInfo,
    /// A fresh instance with the requested options.
    pub env: E,
    /// Gaussian for continuous actions, categorical for discrete ones.
    pub kind: PolicyKind,
}

fn spec<E: Builtin>(env: E) -> TaskSpec<E> {
    let info = TASKS
        .iter()
        .find(|t| t.info.name == E::INFO.name)
        .map_or(&E::INFO, |t| t.info);
    TaskSpec {
        info,
        env,
        kind: kind_of(&E::INFO),
    }
}

/// Generic code to run once the task's dimensions are known.
pub trait TaskVisitor {
    /// What the visit returns.
    type Out;
    /// Called with the task's observation size `O`, action size `A` and
    /// type `E`.
    fn visit<const O: usize, const A: usize, E: Task<O, A>>(self, spec: TaskSpec<E>) -> Self::Out;
}

/// Generic code to run once the hidden size is known.
pub trait HiddenVisitor {
    /// What the visit returns.
    type Out;
    /// Called with the hidden-layer width `H`.
    fn visit<const H: usize>(self) -> Self::Out;
}

/// Every task this build can run: the classic tasks, then (feature
/// `mujoco`) the MuJoCo ones.
pub fn all_tasks() -> Vec<&'static EnvInfo> {
    TASKS.iter().map(|t| t.info).collect()
}

/// The names of the built-in tasks, comma-separated.
pub fn task_names() -> String {
    TASKS
        .iter()
        .map(|t| t.info.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `name` is a MuJoCo task (by name or Gymnasium id), whether or
/// not this build includes them.
pub fn is_mujoco_name(name: &str) -> bool {
    MUJOCO_NAMES.iter().any(|(n, id)| *n == name || *id == name)
}

/// The registry row of task `name` (its name or Gymnasium id).
///
/// # Errors
/// [`HostError::UnknownTask`] listing the known names;
/// [`HostError::NeedsFeature`] for a MuJoCo task in a build without the
/// `mujoco` feature.
pub fn entry(name: &str) -> Result<&'static TaskEntry> {
    if let Some(e) = TASKS.iter().find(|t| t.is(name)) {
        return Ok(e);
    }
    if is_mujoco_name(name) {
        return Err(HostError::NeedsFeature {
            name: name.to_owned(),
        });
    }
    Err(HostError::UnknownTask {
        name: name.to_owned(),
        known: task_names(),
    })
}

/// The listing row of task `name`.
///
/// # Errors
/// As [`entry`].
pub fn task_info(name: &str) -> Result<&'static EnvInfo> {
    entry(name).map(|e| e.info)
}

/// Whether `a` and `b` name the same task (e.g. `hopper` and `Hopper-v5`).
pub fn same_task(a: &str, b: &str) -> bool {
    match (task_info(a), task_info(b)) {
        (Ok(x), Ok(y)) => x.name == y.name,
        _ => a == b,
    }
}

/// The option names task `name` accepts through `--set env.KEY=VALUE`
/// (empty for an unknown task and for tasks without options).
pub fn option_names(name: &str) -> &'static [&'static str] {
    entry(name).map_or(&[], |e| (e.options)())
}

/// Runs `v` with the dimensions and type of task `name`.
///
/// # Errors
/// [`HostError::UnknownTask`] when no built-in task has that name.
pub fn visit_task<V: TaskVisitor>(name: &str, v: V) -> Result<V::Out> {
    visit_task_with(name, &[], v)
}

/// Runs `v` with the dimensions and type of task `name`, with the task's
/// options `options` (`(key, value)` pairs, applied in order; see
/// [`option_names`]).
///
/// # Errors
/// [`HostError::UnknownTask`] when no built-in task has that name;
/// [`HostError::BadConfig`] for an option the task does not have.
pub fn visit_task_with<V: TaskVisitor>(
    name: &str,
    options: &[(String, f64)],
    v: V,
) -> Result<V::Out> {
    let e = entry(name)?;
    check_options(e.info.name, options)?;
    dispatch(e.info.name, options, v)
}

/// Checks that every key of `options` is an option of task `name`.
///
/// # Errors
/// [`HostError::BadConfig`] naming the key and listing the valid ones.
pub fn check_options(name: &str, options: &[(String, f64)]) -> Result<()> {
    let valid = option_names(name);
    for (k, _) in options {
        if !valid.contains(&k.as_str()) {
            return Err(HostError::bad(
                format!("env.{k}"),
                if valid.is_empty() {
                    format!("task `{name}` has no options")
                } else {
                    format!(
                        "`{k}` is not an option of task `{name}` (valid: {})",
                        valid.join(", ")
                    )
                },
            ));
        }
    }
    Ok(())
}

/// The supported hidden sizes as a list for messages (`32, 64, 128`).
pub fn hidden_names() -> String {
    HIDDEN_SIZES.map(|h| h.to_string()).join(", ")
}

/// Checks that `hidden` is one of [`HIDDEN_SIZES`].
///
/// # Errors
/// [`HostError::BadConfig`] listing the supported sizes.
pub fn check_hidden(hidden: usize) -> Result<()> {
    if HIDDEN_SIZES.contains(&hidden) {
        Ok(())
    } else {
        Err(HostError::bad(
            "hidden",
            format!(
                "{hidden} is not a supported hidden size (supported: {})",
                hidden_names()
            ),
        ))
    }
}

/// Runs `v` with `H = hidden`.
///
/// # Errors
/// [`HostError::BadConfig`] when `hidden` is not one of [`HIDDEN_SIZES`].
pub fn visit_hidden<V: HiddenVisitor>(hidden: usize, v: V) -> Result<V::Out> {
    check_hidden(hidden)?;
    visit_hidden_size(hidden, v)
}

#[cfg(test)]
mod tests;
