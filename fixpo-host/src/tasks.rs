//! The built-in tasks, and dispatch from a task's name (and a hidden size)
//! to code compiled for its const-generic dimensions.
//!
//! Tasks have different observation and action sizes, and the networks'
//! hidden size is a const too, so a name given at run time is turned into a
//! call of generic code through a visitor: [`visit_task`] calls
//! [`TaskVisitor::visit`] with the task's `O`, `A` and type, and
//! [`visit_hidden`] calls [`HiddenVisitor::visit`] with `H`. Only
//! [`HIDDEN_SIZES`] are compiled, to keep build times in check.

use crate::error::{HostError, Result};
use fixpo_core::PolicyKind;
use fixpo_core::env::Env;
use fixpo_core::envs::{
    self, Acrobot, CartPole, CartPoleContinuous, EnvInfo, MountainCarContinuous, Pendulum,
};
use fixpo_core::rng::Pcg32;
use serde::{Deserialize, Serialize};

/// The hidden-layer widths this build supports.
pub const HIDDEN_SIZES: [usize; 3] = [32, 64, 128];

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

/// A task ready to run: its listing row, a fresh instance (the template
/// every environment is cloned from) and the policy family it needs.
#[derive(Clone, Debug)]
pub struct TaskSpec<E> {
    /// The task's row in [`envs::CLASSIC`].
    pub info: &'static EnvInfo,
    /// A fresh instance with the task's default parameters.
    pub env: E,
    /// Gaussian for continuous actions, categorical for discrete ones.
    pub kind: PolicyKind,
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

/// The MuJoCo tasks' names and Gymnasium ids, known even in a build
/// without the `mujoco` feature so that asking for one says what to do.
pub const MUJOCO_NAMES: [(&str, &str); 8] = [
    ("hopper", "Hopper-v5"),
    ("walker2d", "Walker2d-v5"),
    ("halfcheetah", "HalfCheetah-v5"),
    ("swimmer", "Swimmer-v5"),
    ("inverted-pendulum", "InvertedPendulum-v5"),
    ("inverted-double-pendulum", "InvertedDoublePendulum-v5"),
    ("reacher", "Reacher-v5"),
    ("ant", "Ant-v5"),
];

/// Every task this build can run: the classic tasks, then (feature
/// `mujoco`) the MuJoCo ones.
pub fn all_tasks() -> Vec<&'static EnvInfo> {
    let v: Vec<&'static EnvInfo> = envs::CLASSIC.iter().collect();
    #[cfg(feature = "mujoco")]
    let v = {
        let mut v = v;
        v.extend(crate::mujoco::TASKS.iter());
        v
    };
    v
}

/// The names of the built-in tasks, comma-separated.
pub fn task_names() -> String {
    all_tasks()
        .iter()
        .map(|i| i.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `name` is a MuJoCo task (by name or Gymnasium id), whether or
/// not this build includes them.
pub fn is_mujoco_name(name: &str) -> bool {
    MUJOCO_NAMES.iter().any(|(n, id)| *n == name || *id == name)
}

/// The listing row of task `name`.
///
/// # Errors
/// [`HostError::UnknownTask`] listing the known names;
/// [`HostError::NeedsFeature`] for a MuJoCo task in a build without the
/// `mujoco` feature.
pub fn task_info(name: &str) -> Result<&'static EnvInfo> {
    #[cfg(feature = "mujoco")]
    if let Some(info) = crate::mujoco::find(name) {
        return Ok(info);
    }
    #[cfg(not(feature = "mujoco"))]
    if is_mujoco_name(name) {
        return Err(HostError::NeedsFeature {
            name: name.to_owned(),
        });
    }
    envs::find(name).ok_or_else(|| HostError::UnknownTask {
        name: name.to_owned(),
        known: task_names(),
    })
}

/// Whether `a` and `b` name the same task (e.g. `hopper` and `Hopper-v5`).
pub fn same_task(a: &str, b: &str) -> bool {
    match (task_info(a), task_info(b)) {
        (Ok(x), Ok(y)) => x.name == y.name,
        _ => a == b,
    }
}

/// The option names task `name` accepts through `--set env.KEY=VALUE`
/// (empty for the classic tasks, which have none).
pub fn option_names(name: &str) -> &'static [&'static str] {
    #[cfg(feature = "mujoco")]
    if let Some(o) = crate::mujoco::option_names(name) {
        return o;
    }
    let _ = name;
    &[]
}

fn spec<E>(name: &str, env: E) -> TaskSpec<E> {
    let info = envs::find(name).expect("every built-in task is listed");
    let kind = match info.action {
        envs::ActionKind::Continuous { .. } => PolicyKind::Gaussian,
        envs::ActionKind::Discrete => PolicyKind::Categorical,
    };
    TaskSpec { info, env, kind }
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
    #[cfg(feature = "mujoco")]
    if crate::mujoco::find(name).is_some() {
        check_options(name, options)?;
        struct Host<V>(V);
        impl<V: TaskVisitor> crate::mujoco::MujocoVisitor for Host<V> {
            type Out = V::Out;
            fn visit<
                const O: usize,
                const A: usize,
                T: crate::mujoco::MujocoTask<O, A> + Task<O, A>,
            >(
                self,
                task: T,
            ) -> V::Out {
                self.0.visit(TaskSpec {
                    info: crate::mujoco::find(T::INFO.name).expect("listed"),
                    env: task,
                    kind: PolicyKind::Gaussian,
                })
            }
        }
        return Ok(crate::mujoco::visit(name, options, Host(v))?);
    }
    let info = task_info(name)?;
    check_options(info.name, options)?;
    Ok(match info.name {
        "pendulum" => v.visit(spec(info.name, Pendulum::new())),
        "cartpole" => v.visit(spec(info.name, CartPole::new())),
        "cartpole-continuous" => v.visit(spec(info.name, CartPoleContinuous::new())),
        "mountaincar-continuous" => v.visit(spec(info.name, MountainCarContinuous::new())),
        "acrobot" => v.visit(spec(info.name, Acrobot::new())),
        _ => {
            return Err(HostError::UnknownTask {
                name: name.to_owned(),
                known: task_names(),
            });
        }
    })
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
            format!("{hidden} is not a supported hidden size (supported: 32, 64, 128)"),
        ))
    }
}

/// Runs `v` with `H = hidden`.
///
/// # Errors
/// [`HostError::BadConfig`] when `hidden` is not one of [`HIDDEN_SIZES`].
pub fn visit_hidden<V: HiddenVisitor>(hidden: usize, v: V) -> Result<V::Out> {
    check_hidden(hidden)?;
    Ok(match hidden {
        32 => v.visit::<32>(),
        64 => v.visit::<64>(),
        _ => v.visit::<128>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Roundtrip;
    impl TaskVisitor for Roundtrip {
        type Out = ();
        fn visit<const O: usize, const A: usize, E: Task<O, A>>(self, spec: TaskSpec<E>) {
            assert_eq!((spec.info.obs_dim, spec.info.act_dim), (O, A));
            let mut rng = Pcg32::seed_from_u64(5);
            let mut a = spec.env.clone();
            a.reset(&mut rng);
            let action: [f32; A] = core::array::from_fn(|i| if i == 0 { 0.7 } else { 0.1 });
            // As collection does: a finished episode is reset before the
            // next step, so a snapshot never sees a task past its end.
            for _ in 0..37 {
                let s = a.step(&action);
                if s.terminated || s.truncated {
                    a.reset(&mut rng);
                }
            }
            let saved = a.snapshot();
            let mut b = spec.env.clone();
            b.restore(&saved).unwrap();
            assert_eq!(b.snapshot(), saved);
            for _ in 0..600 {
                let (sa, sb) = (a.step(&action), b.step(&action));
                assert_eq!(sa, sb, "{}", spec.info.name);
                if sa.terminated || sa.truncated {
                    break;
                }
            }
            let bad = EnvState {
                state: vec![0.0; 9],
                elapsed_steps: 0,
            };
            assert!(b.restore(&bad).is_err());
        }
    }

    #[test]
    fn every_task_restores_exactly() {
        for info in envs::CLASSIC {
            visit_task(info.name, Roundtrip).unwrap();
        }
    }

    #[test]
    fn unknown_names_and_sizes_are_refused() {
        let e = visit_task("hoppr", Roundtrip).unwrap_err().to_string();
        assert!(e.contains("hoppr") && e.contains("pendulum"), "{e}");
        #[cfg(feature = "mujoco")]
        assert!(e.contains("hopper"), "{e}");
        #[cfg(not(feature = "mujoco"))]
        {
            let e = visit_task("hopper", Roundtrip).unwrap_err();
            assert!(matches!(e, HostError::NeedsFeature { .. }), "{e}");
            let e = e.to_string();
            assert!(e.contains("--features mujoco") && !e.contains('\n'), "{e}");
        }
        let e = visit_task_with("pendulum", &[("g".into(), 9.0)], Roundtrip)
            .unwrap_err()
            .to_string();
        assert!(e.contains("env.g") && e.contains("no options"), "{e}");
        struct H;
        impl HiddenVisitor for H {
            type Out = usize;
            fn visit<const H: usize>(self) -> usize {
                H
            }
        }
        assert_eq!(visit_hidden(64, H).unwrap(), 64);
        let e = visit_hidden(48, H).unwrap_err().to_string();
        assert!(e.contains("48") && e.contains("32, 64, 128"), "{e}");
    }
}
