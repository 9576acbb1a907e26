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

mod ant;
mod half_cheetah;
mod hopper;
mod inverted_double_pendulum;
mod inverted_pendulum;
mod reacher;
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
pub use swimmer::{Swimmer, SwimmerOptions};
pub use walker2d::{Walker2d, Walker2dOptions};

use crate::tasks::{EnvState, Task, TaskSpec, TaskVisitor};
use fixpo_core::PolicyKind;
use fixpo_core::env::{ActionSpace, Env, Step};
use fixpo_core::envs::{ActionKind, EnvInfo};
use fixpo_core::rng::{self, Pcg32};
use mujoco_rs::prelude::{MjData, MjModel, MjSpec, MjtState};
use rand_core::RngCore;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// The environment variable naming the directory with Gymnasium's MJCF files.
pub const MJCF_DIR_VAR: &str = "FIXPO_MJCF_DIR";

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

/// The physics of one task instance: an `MjData` on a shared model, the
/// frame skip and the step count of the running episode.
#[derive(Clone)]
pub struct Sim {
    data: MjData<Arc<MjModel>>,
    frame_skip: u32,
    elapsed: u32,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("qpos", &self.data.qpos())
            .field("qvel", &self.data.qvel())
            .field("frame_skip", &self.frame_skip)
            .field("elapsed", &self.elapsed)
            .finish()
    }
}

/// The state kept in a snapshot: what the next `mj_step` reads.
const SNAPSHOT_STATE: u32 = MjtState::mjSTATE_QPOS as u32
    | MjtState::mjSTATE_QVEL as u32
    | MjtState::mjSTATE_WARMSTART as u32;

impl Sim {
    /// Loads `file` from `$FIXPO_MJCF_DIR` (once per process) and checks
    /// its sizes.
    fn load(
        task: &'static str,
        file: &'static str,
        frame_skip: u32,
        sizes: (usize, usize, usize),
    ) -> Result<Self, MujocoError> {
        let model = model(file)?;
        let got = (
            model.nq() as usize,
            model.nv() as usize,
            model.nu() as usize,
        );
        if got != sizes {
            return Err(MujocoError::Shape {
                task,
                file,
                reason: format!("(nq, nv, nu) = {got:?}, expected {sizes:?}"),
            });
        }
        let mut data = MjData::new(model);
        data.forward();
        Ok(Self {
            data,
            frame_skip,
            elapsed: 0,
        })
    }

    /// The model.
    pub fn model(&self) -> &MjModel {
        self.data.model()
    }
    /// The data.
    pub fn data(&self) -> &MjData<Arc<MjModel>> {
        &self.data
    }
    /// Joint positions.
    pub fn qpos(&self) -> &[f64] {
        self.data.qpos()
    }
    /// Joint velocities.
    pub fn qvel(&self) -> &[f64] {
        self.data.qvel()
    }
    /// The model's `qpos0` (Gymnasium's `init_qpos`).
    pub fn init_qpos(&self) -> &[f64] {
        self.model().qpos0()
    }
    /// Gymnasium's `dt`: `timestep * frame_skip`.
    pub fn dt(&self) -> f64 {
        self.model().opt().timestep * f64::from(self.frame_skip)
    }
    /// Steps taken in the running episode.
    pub fn elapsed_steps(&self) -> u32 {
        self.elapsed
    }
    fn set_frame_skip(&mut self, frame_skip: u32) {
        self.frame_skip = frame_skip;
    }

    /// `mj_resetData`, write `qpos`/`qvel`, `mj_forward`; restarts the
    /// episode's step count.
    fn set_state(
        &mut self,
        task: &'static str,
        qpos: &[f64],
        qvel: &[f64],
    ) -> Result<(), MujocoError> {
        let (nq, nv) = (self.data.qpos().len(), self.data.qvel().len());
        for (what, got, expected) in [("qpos", qpos.len(), nq), ("qvel", qvel.len(), nv)] {
            if got != expected {
                return Err(MujocoError::StateLength {
                    task,
                    what,
                    got,
                    expected,
                });
            }
        }
        self.data.reset();
        self.data.qpos_mut().copy_from_slice(qpos);
        self.data.qvel_mut().copy_from_slice(qvel);
        self.data.forward();
        self.elapsed = 0;
        Ok(())
    }

    /// Gymnasium's `do_simulation`: `ctrl := action`, `mj_step` ×
    /// `frame_skip`, `mj_rnePostConstraint`. Counts the step.
    fn simulate(&mut self, action: &[f64]) {
        self.data.ctrl_mut().copy_from_slice(action);
        for _ in 0..self.frame_skip {
            self.data.step();
        }
        self.data.rne_post_constraint();
        self.elapsed = self.elapsed.saturating_add(1);
    }

    /// `init + U(−scale, scale)` per entry.
    fn uniform_noise<R: RngCore + ?Sized>(init: &[f64], scale: f64, rng: &mut R) -> Vec<f64> {
        init.iter()
            .map(|&x| x + scale * f64::from(rng::uniform_range(rng, -1.0, 1.0)))
            .collect()
    }
    /// `init + scale · N(0, 1)` per entry.
    fn normal_noise<R: RngCore + ?Sized>(init: &[f64], scale: f64, rng: &mut R) -> Vec<f64> {
        init.iter()
            .map(|&x| x + scale * f64::from(rng::normal(rng)))
            .collect()
    }
    /// Gymnasium's `init_qvel` (zeros).
    fn zero_qvel(&self) -> Vec<f64> {
        vec![0.0; self.data.qvel().len()]
    }

    /// The action space from the actuators' control range (as Gymnasium:
    /// `actuator_ctrlrange` cast to `f32`).
    fn action_space<const A: usize>(&self) -> ActionSpace<A> {
        let r = self.model().actuator_ctrlrange();
        ActionSpace::Continuous {
            low: core::array::from_fn(|i| r[i][0] as f32),
            high: core::array::from_fn(|i| r[i][1] as f32),
        }
    }

    fn body_id(
        &self,
        task: &'static str,
        file: &'static str,
        name: &str,
    ) -> Result<usize, MujocoError> {
        self.model()
            .name_to_id(mujoco_rs::prelude::MjtObjBase::mjOBJ_BODY, name)
            .ok_or_else(|| MujocoError::Shape {
                task,
                file,
                reason: format!("no body named `{name}`"),
            })
    }

    fn snapshot(&self, aux: Vec<f64>) -> EnvState {
        let mut state = Vec::new();
        for x in self.data.state(SNAPSHOT_STATE).iter().chain(&aux) {
            state.extend_from_slice(&split_f64(*x));
        }
        EnvState {
            state,
            elapsed_steps: self.elapsed,
        }
    }

    /// Restores a snapshot; returns the aux values.
    fn restore(
        &mut self,
        task: &'static str,
        s: &EnvState,
        n_aux: usize,
    ) -> Result<Vec<f64>, MujocoError> {
        let n = self.model().state_size(SNAPSHOT_STATE);
        if s.state.len() != 3 * (n + n_aux) {
            return Err(MujocoError::StateLength {
                task,
                what: "snapshot state",
                got: s.state.len(),
                expected: 3 * (n + n_aux),
            });
        }
        let v: Vec<f64> = s
            .state
            .chunks_exact(3)
            .map(|c| join_f64([c[0], c[1], c[2]]))
            .collect();
        self.data.reset();
        self.data
            .set_state(&v[..n], SNAPSHOT_STATE)
            .map_err(|e| MujocoError::Load {
                path: PathBuf::from(task),
                reason: e.to_string(),
            })?;
        self.data.forward();
        self.elapsed = s.elapsed_steps;
        Ok(v[n..].to_vec())
    }
}

/// An `f64` as three `f32`s whose sum is exactly the `f64` (for finite
/// values of `f32` range above ~1e-24; [`EnvState`] holds `f32`s).
fn split_f64(x: f64) -> [f32; 3] {
    let a = x as f32;
    if !x.is_finite() || !a.is_finite() {
        return [a, 0.0, 0.0];
    }
    let r = x - f64::from(a);
    let b = r as f32;
    let c = (r - f64::from(b)) as f32;
    [a, b, c]
}

fn join_f64(v: [f32; 3]) -> f64 {
    (f64::from(v[0]) + f64::from(v[1])) + f64::from(v[2])
}

/// The directory with the MJCF files: `$FIXPO_MJCF_DIR`, or else the one
/// `$FIXPO_MJCF_DIR` named when this binary was built, if it still exists.
///
/// # Errors
/// [`MujocoError::NoMjcfDir`] when neither is available.
pub fn mjcf_dir() -> Result<PathBuf, MujocoError> {
    match std::env::var_os(MJCF_DIR_VAR) {
        Some(d) if !d.is_empty() => Ok(PathBuf::from(d)),
        _ => option_env!("FIXPO_BUILD_MJCF_DIR")
            .map(PathBuf::from)
            .filter(|d| d.is_dir())
            .ok_or(MujocoError::NoMjcfDir),
    }
}

/// Loads `$FIXPO_MJCF_DIR/file` once per process and path.
fn model(file: &str) -> Result<Arc<MjModel>, MujocoError> {
    static MODELS: OnceLock<Mutex<HashMap<PathBuf, Arc<MjModel>>>> = OnceLock::new();
    let path = mjcf_dir()?.join(file);
    let models = MODELS.get_or_init(Default::default);
    let mut models = models.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(m) = models.get(&path) {
        return Ok(m.clone());
    }
    let m = Arc::new(load_model(&path)?);
    models.insert(path, m.clone());
    Ok(m)
}

fn load_model(path: &Path) -> Result<MjModel, MujocoError> {
    let load_err = |reason: String| MujocoError::Load {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            MujocoError::MissingModel {
                path: path.to_owned(),
            }
        } else {
            load_err(e.to_string())
        }
    })?;
    // MuJoCo warns on stdout about the deprecated compiler attribute
    // `settotalmass` (half_cheetah.xml); set it through the spec instead.
    if let Some((stripped, mass)) = strip_settotalmass(&text) {
        let mut spec = MjSpec::from_xml_string(&stripped).map_err(|e| load_err(e.to_string()))?;
        spec.compiler_mut().set_settotalmass(mass);
        return spec.compile().map_err(|e| load_err(e.to_string()));
    }
    MjModel::from_xml(path).map_err(|e| load_err(e.to_string()))
}

/// `text` without its ` settotalmass="…"` attribute, and the value.
fn strip_settotalmass(text: &str) -> Option<(String, f64)> {
    const ATTR: &str = " settotalmass=\"";
    let start = text.find(ATTR)?;
    let value_start = start + ATTR.len();
    let len = text[value_start..].find('"')?;
    let mass: f64 = text[value_start..value_start + len].trim().parse().ok()?;
    let mut out = String::with_capacity(text.len());
    out.push_str(&text[..start]);
    out.push_str(&text[value_start + len + 1..]);
    Some((out, mass))
}

/// NumPy's `np.sum` of a contiguous `f64` array (pairwise summation with
/// eight accumulators), so sums agree with Gymnasium bit for bit.
pub(crate) fn np_sum(a: &[f64]) -> f64 {
    let n = a.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in a {
            res += x;
        }
        res
    } else if n <= 128 {
        let mut r = [0.0; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        while i < n {
            res += a[i];
            i += 1;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        np_sum(&a[..n2]) + np_sum(&a[n2..])
    }
}

/// `np.sum(np.square(a))`.
pub(crate) fn sum_sq(a: &[f64]) -> f64 {
    let sq: Vec<f64> = a.iter().map(|x| x * x).collect();
    np_sum(&sq)
}

/// `np.clip(x, lo, hi)` (NaN passes through).
#[inline]
pub(crate) fn clip(x: f64, lo: f64, hi: f64) -> f64 {
    let y = if x < lo { lo } else { x };
    if y > hi { hi } else { y }
}

/// `bool * w` as NumPy computes it.
#[inline]
pub(crate) fn flag(b: bool, w: f64) -> f64 {
    (if b { 1.0 } else { 0.0 }) * w
}

/// An option value given as `f64` on the command line.
pub(crate) trait OptionValue: Sized {
    fn from_option(value: f64) -> Result<Self, &'static str>;
    fn to_option(&self) -> f64;
}

impl OptionValue for f64 {
    fn from_option(value: f64) -> Result<Self, &'static str> {
        if value.is_nan() {
            Err("not a number")
        } else {
            Ok(value)
        }
    }
    fn to_option(&self) -> f64 {
        *self
    }
}

impl OptionValue for bool {
    fn from_option(value: f64) -> Result<Self, &'static str> {
        match value {
            0.0 => Ok(false),
            1.0 => Ok(true),
            _ => Err("expected 0 (false) or 1 (true)"),
        }
    }
    fn to_option(&self) -> f64 {
        if *self { 1.0 } else { 0.0 }
    }
}

impl OptionValue for u32 {
    fn from_option(value: f64) -> Result<Self, &'static str> {
        if value.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&value) {
            Ok(value as u32)
        } else {
            Err("expected a whole number ≥ 1")
        }
    }
    fn to_option(&self) -> f64 {
        f64::from(*self)
    }
}

/// Defines a task's options struct with Gymnasium's defaults, the
/// by-name setter and getter, and the list of names.
macro_rules! options {
    (
        $(#[$meta:meta])*
        $name:ident for $task:literal {
            $( $(#[doc = $doc:expr])* $field:ident : $ty:ty = $default:expr ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct $name {
            $( $(#[doc = $doc])* pub $field: $ty, )*
        }

        impl Default for $name {
            fn default() -> Self {
                Self { $( $field: $default, )* }
            }
        }

        impl $name {
            /// The option names.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($field) ),*];

            /// The value of option `key` (booleans as 0/1).
            pub fn get(&self, key: &str) -> Option<f64> {
                use $crate::mujoco::OptionValue;
                match key {
                    $( stringify!($field) => Some(self.$field.to_option()), )*
                    _ => None,
                }
            }

            /// Checks the options (ranges, scales).
            ///
            /// # Errors
            /// [`MujocoError::BadOptions`](crate::mujoco::MujocoError::BadOptions).
            pub fn validate(&self) -> Result<(), $crate::mujoco::MujocoError> {
                self.check().map_err(|reason| $crate::mujoco::MujocoError::BadOptions {
                    task: $task,
                    reason: reason.to_owned(),
                })
            }

            /// Sets option `key` and checks the result.
            ///
            /// # Errors
            /// Unknown key or bad value; `self` is unchanged then.
            pub fn set(&mut self, key: &str, value: f64) -> Result<(), $crate::mujoco::MujocoError> {
                use $crate::mujoco::{MujocoError, OptionValue};
                let bad = |reason: &str| MujocoError::BadOption {
                    task: $task,
                    key: key.to_owned(),
                    value,
                    reason: reason.to_owned(),
                };
                let mut next = *self;
                match key {
                    $( stringify!($field) => next.$field = <$ty>::from_option(value).map_err(bad)?, )*
                    _ => {
                        return Err(MujocoError::UnknownOption {
                            task: $task,
                            key: key.to_owned(),
                            valid: Self::NAMES.join(", "),
                        })
                    }
                }
                next.check().map_err(bad)?;
                *self = next;
                Ok(())
            }
        }
    };
}
pub(crate) use options;

/// Checks shared by every options struct.
pub(crate) fn check_range(min: f64, max: f64, what: &'static str) -> Result<(), &'static str> {
    if min <= max { Ok(()) } else { Err(what) }
}
pub(crate) fn check_scale(s: f64) -> Result<(), &'static str> {
    if s.is_finite() && s >= 0.0 {
        Ok(())
    } else {
        Err("reset_noise_scale must be finite and ≥ 0")
    }
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
/// for a MuJoCo task type.
macro_rules! mujoco_env {
    ($ty:ty, $o:literal, $a:literal) => {
        impl fixpo_core::env::Env<$o, $a> for $ty {
            fn action_space(&self) -> fixpo_core::env::ActionSpace<$a> {
                self.sim.action_space()
            }

            fn reset<R: rand_core::RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; $o] {
                let (qpos, qvel) = $crate::mujoco::MujocoTask::sample_reset(self, rng);
                $crate::mujoco::MujocoTask::set_state(self, &qpos, &qvel)
                    .expect("reset state has the model's sizes")
                    .map(|x| x as f32)
            }

            fn step(&mut self, action: &[f32; $a]) -> fixpo_core::env::Step<$o> {
                let a = action.map(f64::from);
                $crate::mujoco::MujocoTask::step_f64(self, &a).to_f32()
            }
        }

        impl $crate::tasks::Task<$o, $a> for $ty {
            fn snapshot(&self) -> $crate::tasks::EnvState {
                self.sim.snapshot($crate::mujoco::MujocoTask::aux(self))
            }

            fn restore(&mut self, s: &$crate::tasks::EnvState) -> $crate::Result<()> {
                let n_aux = $crate::mujoco::MujocoTask::aux(self).len();
                let name = <$ty as $crate::mujoco::MujocoTask<$o, $a>>::INFO.name;
                let aux = self.sim.restore(name, s, n_aux)?;
                $crate::mujoco::MujocoTask::set_aux(self, &aux);
                Ok(())
            }
        }
    };
}
pub(crate) use mujoco_env;

/// The MuJoCo tasks' listing rows.
pub const TASKS: &[EnvInfo] = &[
    Hopper::INFO,
    Walker2d::INFO,
    HalfCheetah::INFO,
    Swimmer::INFO,
    InvertedPendulum::INFO,
    InvertedDoublePendulum::INFO,
    Reacher::INFO,
    Ant::INFO,
];

/// The listing row of MuJoCo task `name` (also accepts Gymnasium's id,
/// e.g. `Hopper-v5`).
pub fn find(name: &str) -> Option<&'static EnvInfo> {
    let gym = [
        Hopper::GYM_ID,
        Walker2d::GYM_ID,
        HalfCheetah::GYM_ID,
        Swimmer::GYM_ID,
        InvertedPendulum::GYM_ID,
        InvertedDoublePendulum::GYM_ID,
        Reacher::GYM_ID,
        Ant::GYM_ID,
    ];
    TASKS
        .iter()
        .zip(gym)
        .find(|(info, id)| info.name == name || *id == name)
        .map(|(info, _)| info)
}

/// The option names of MuJoCo task `name`.
pub fn option_names(name: &str) -> Option<&'static [&'static str]> {
    Some(match find(name)?.name {
        "hopper" => Hopper::option_names(),
        "walker2d" => Walker2d::option_names(),
        "halfcheetah" => HalfCheetah::option_names(),
        "swimmer" => Swimmer::option_names(),
        "inverted-pendulum" => InvertedPendulum::option_names(),
        "inverted-double-pendulum" => InvertedDoublePendulum::option_names(),
        "reacher" => Reacher::option_names(),
        _ => Ant::option_names(),
    })
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
    fn make<const O: usize, const A: usize, T: MujocoTask<O, A>>(
        options: &[(String, f64)],
    ) -> Result<T, MujocoError> {
        let mut t = T::load()?;
        for (k, x) in options {
            t.set_option(k, *x)?;
        }
        Ok(t)
    }
    let info = find(name).ok_or_else(|| MujocoError::UnknownTask(name.to_owned()))?;
    Ok(match info.name {
        "hopper" => v.visit(make::<11, 3, Hopper>(options)?),
        "walker2d" => v.visit(make::<17, 6, Walker2d>(options)?),
        "halfcheetah" => v.visit(make::<17, 6, HalfCheetah>(options)?),
        "swimmer" => v.visit(make::<8, 2, Swimmer>(options)?),
        "inverted-pendulum" => v.visit(make::<4, 1, InvertedPendulum>(options)?),
        "inverted-double-pendulum" => v.visit(make::<9, 1, InvertedDoublePendulum>(options)?),
        "reacher" => v.visit(make::<10, 2, Reacher>(options)?),
        _ => v.visit(make::<105, 8, Ant>(options)?),
    })
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

/// Raw stepping rate of MuJoCo task `name` through its [`Env`] impl:
/// env steps per second over `threads` threads (each with its own copy
/// of the task), `n_steps` in total, uniform random actions in the action
/// space, resetting at the end of each episode.
///
/// # Errors
/// Unknown name, or the model cannot be loaded.
pub fn raw_steps_per_sec(name: &str, n_steps: u64, threads: usize) -> Result<f64, MujocoError> {
    let (steps, secs) = RawStepper::new(name, threads)?.burst(n_steps);
    Ok(steps as f64 / secs.max(1e-9))
}

/// Random-action stepping of one MuJoCo task on a fixed number of
/// threads, one copy of the task per thread, in timed bursts. The copies
/// and their episodes persist between bursts, so many short bursts
/// measure the same thing as one long one (`fixpo bench` interleaves them
/// with training iterations).
pub struct RawStepper {
    walkers: Box<dyn Bursts>,
}

impl core::fmt::Debug for RawStepper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawStepper").finish_non_exhaustive()
    }
}

impl RawStepper {
    /// Loads task `name` (default options) once per thread.
    ///
    /// # Errors
    /// Unknown name, or the model cannot be loaded.
    pub fn new(name: &str, threads: usize) -> Result<Self, MujocoError> {
        struct Make(usize);
        impl MujocoVisitor for Make {
            type Out = Box<dyn Bursts>;
            fn visit<const O: usize, const A: usize, T: MujocoTask<O, A> + Task<O, A>>(
                self,
                task: T,
            ) -> Box<dyn Bursts> {
                let walkers: Vec<RandomWalker<T, O, A>> = (0..self.0.max(1))
                    .map(|k| RandomWalker::new(task.clone(), k as u64))
                    .collect();
                Box::new(walkers)
            }
        }
        Ok(Self {
            walkers: visit(name, &[], Make(threads))?,
        })
    }

    /// Steps every copy `n_steps / threads` times (rounded up), in
    /// parallel on rayon's thread pool; returns the steps taken and the
    /// wall time (s).
    pub fn burst(&mut self, n_steps: u64) -> (u64, f64) {
        self.walkers.burst(n_steps)
    }
}

/// [`RawStepper`]'s per-task state behind a trait object.
trait Bursts {
    fn burst(&mut self, n_steps: u64) -> (u64, f64);
}

impl<E: Env<O, A> + Send, const O: usize, const A: usize> Bursts for Vec<RandomWalker<E, O, A>> {
    fn burst(&mut self, n_steps: u64) -> (u64, f64) {
        let per = n_steps.div_ceil(self.len().max(1) as u64).max(1);
        let t0 = Instant::now();
        // On rayon's pool, the threads that run the training's rollouts.
        rayon::scope(|s| {
            for w in self.iter_mut() {
                s.spawn(move |_| w.steps(per));
            }
        });
        (per * self.len() as u64, t0.elapsed().as_secs_f64())
    }
}

/// One environment driven by uniform random actions, reset at the end of
/// each episode.
struct RandomWalker<E, const O: usize, const A: usize> {
    env: E,
    rng: Pcg32,
}

impl<E: Env<O, A>, const O: usize, const A: usize> RandomWalker<E, O, A> {
    fn new(mut env: E, seed: u64) -> Self {
        let mut rng = Pcg32::new(seed, 0x6d6a);
        env.reset(&mut rng);
        Self { env, rng }
    }

    fn steps(&mut self, n: u64) {
        random_steps(&mut self.env, &mut self.rng, n);
    }
}

/// Steps `env` `n` times with uniform random actions, resetting at the
/// end of each episode; returns the number of episodes ended.
pub fn run_random<const O: usize, const A: usize, E: Env<O, A>>(
    env: &mut E,
    n: u64,
    seed: u64,
) -> u64 {
    let mut rng = Pcg32::new(seed, 0x6d6a);
    env.reset(&mut rng);
    random_steps(env, &mut rng, n)
}

/// [`run_random`] from the current state, with `rng`.
fn random_steps<const O: usize, const A: usize, E: Env<O, A>>(
    env: &mut E,
    rng: &mut Pcg32,
    n: u64,
) -> u64 {
    let (low, high) = match env.action_space() {
        ActionSpace::Continuous { low, high } => (low, high),
        ActionSpace::Discrete => ([0.0; A], [1.0; A]),
    };
    let mut episodes = 0;
    for _ in 0..n {
        let a: [f32; A] = core::array::from_fn(|i| rng::uniform_range(rng, low[i], high[i]));
        let s = env.step(&a);
        if s.terminated || s.truncated {
            episodes += 1;
            env.reset(rng);
        }
    }
    episodes
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
mod helper_tests {
    use super::*;

    #[test]
    fn f64_split_roundtrips() {
        let mut rng = Pcg32::new(3, 5);
        for _ in 0..10_000 {
            let m = f64::from(rng.next_u32()) / f64::from(u32::MAX) - 0.5;
            let e = (rng.next_u32() % 60) as i32 - 30;
            let x = m * 10f64.powi(e) + f64::from(rng.next_u32()) * 1e-17;
            assert_eq!(join_f64(split_f64(x)).to_bits(), x.to_bits(), "{x:e}");
        }
        for x in [
            0.0,
            -0.0,
            1.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e10,
            -3.3e-20,
        ] {
            assert_eq!(join_f64(split_f64(x)), x);
        }
        assert!(join_f64(split_f64(f64::NAN)).is_nan());
    }

    #[test]
    fn numpy_pairwise_sum() {
        let v: Vec<f64> = (0..300)
            .map(|i| (i as f64 * 0.37).sin() * 1e3f64.powf((i % 7) as f64 / 3.0))
            .collect();
        for n in [0, 1, 3, 7, 8, 9, 84, 128, 129, 300] {
            let s = np_sum(&v[..n]);
            let naive: f64 = v[..n].iter().sum();
            assert!((s - naive).abs() <= 1e-9 * naive.abs().max(1.0), "{n}");
        }
        // Eight accumulators: ((a0+a1)+(a2+a3)) + ((a4+a5)+(a6+a7)), then the rest.
        let a = [1e16, 1.0, -1e16, 1.0, 0.5, 0.25, 0.125, 0.0625, 3.0];
        assert_eq!(
            np_sum(&a),
            ((1e16 + 1.0) + (-1e16 + 1.0)) + ((0.5 + 0.25) + (0.125 + 0.0625)) + 3.0
        );
    }

    #[test]
    fn settotalmass_is_stripped() {
        let (s, m) =
            strip_settotalmass("<compiler angle=\"radian\" settotalmass=\"14\"/>").unwrap();
        assert_eq!((s.as_str(), m), ("<compiler angle=\"radian\"/>", 14.0));
        assert!(strip_settotalmass("<compiler angle=\"radian\"/>").is_none());
    }

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
}
