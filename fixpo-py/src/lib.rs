//! # fixpo (Python)
//!
//! Train FixPO policies on Gymnasium environments with fixpo's Rust
//! trainer, in the manner of Stable-Baselines3:
//!
//! ```python
//! import fixpo
//! model = fixpo.FixPO("Pendulum-v1", seed=0)
//! model.learn(100_000)
//! action, _ = model.predict(obs, deterministic=True)
//! model.save("pendulum.fxp")      # `fixpo inspect pendulum.fxp`
//! ```
//!
//! The training loop is fixpo-host's [`fixpo_host::Learner`], the same one
//! the `fixpo` CLI runs; environments are stepped on the caller's thread
//! with the GIL held for each step, and the update runs with the GIL
//! released.

mod env;
mod file;
mod model;
mod vec;

use env::{EnvSpec, ErrorSlot, Space};
use fixpo_core::dist::PolicyKind;
use fixpo_core::rng::Pcg32;
use fixpo_host::config::RunConfig;
use fixpo_host::{HostError, Observer, RunState};
use model::{Model, NoFit};
use numpy::{PyArray1, PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyString};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Random stream of stochastic `predict` calls.
const STREAM_PREDICT: u64 = 7;
/// Random stream of a vector environment's first reset seed.
const STREAM_VEC_RESET: u64 = 8;

/// A host error as a Python exception: an unknown configuration key is a
/// `TypeError` (as an unexpected keyword argument is), a bad value a
/// `ValueError`, anything else a `RuntimeError`.
fn py_err(e: HostError) -> PyErr {
    match e {
        HostError::UnknownKey { .. } => PyTypeError::new_err(e.to_string()),
        HostError::BadConfig { .. } => PyValueError::new_err(e.to_string()),
        other => PyRuntimeError::new_err(other.to_string()),
    }
}

/// A configuration value as `--set` text (TOML syntax).
fn toml_text(v: &Bound<'_, PyAny>) -> PyResult<String> {
    if v.is_instance_of::<pyo3::types::PyBool>() {
        return Ok(if v.is_truthy()? { "true" } else { "false" }.into());
    }
    if v.is_instance_of::<pyo3::types::PyInt>() {
        return Ok(v.extract::<i64>()?.to_string());
    }
    if v.is_instance_of::<pyo3::types::PyFloat>() {
        let x: f64 = v.extract()?;
        return Ok(if x.is_nan() {
            "nan".into()
        } else if x.is_infinite() {
            if x > 0.0 { "inf" } else { "-inf" }.into()
        } else {
            // Debug keeps a decimal point or exponent: always a TOML float.
            format!("{x:?}")
        });
    }
    if v.is_instance_of::<PyString>() {
        let s: String = v.extract()?;
        return Ok(format!(
            "\"{}\"",
            s.replace('\\', "\\\\").replace('"', "\\\"")
        ));
    }
    Err(PyTypeError::new_err(format!(
        "configuration values are numbers, booleans or strings, not {}",
        v.get_type().name()?
    )))
}

/// The run's observer: checks for Ctrl-C after every update, hands each
/// iteration's metrics to the callback (which stops the run by returning
/// `False`), and stops the run once a Python exception is pending.
struct PyObserver {
    error: ErrorSlot,
    callback: Option<Py<PyAny>>,
    /// The callback returned `False`.
    stopped: bool,
    /// The `fixpo train` progress bar on stdout (quiet unless asked for).
    progress: fixpo_host::progress::Progress,
}

impl Observer for PyObserver {
    fn on_start(&mut self, c: &RunConfig, iter: u64, steps: u64) -> fixpo_host::Result<()> {
        self.progress.on_start(c, iter, steps)
    }

    fn on_end(
        &mut self,
        s: &fixpo_host::TrainSummary,
        run: &dyn RunState,
    ) -> fixpo_host::Result<()> {
        self.progress.on_end(s, run)
    }

    fn on_message(&mut self, msg: &str) {
        self.progress.on_message(msg);
    }

    fn on_iteration(
        &mut self,
        m: &fixpo_host::metrics::IterMetrics,
        run: &dyn RunState,
    ) -> fixpo_host::Result<()> {
        self.progress.on_iteration(m, run)?;
        let stop = Python::attach(|py| -> PyResult<bool> {
            py.check_signals()?;
            let Some(cb) = &self.callback else {
                return Ok(false);
            };
            let metrics = py.import("json")?.call_method1("loads", (m.to_json(),))?;
            let r = cb.bind(py).call1((metrics,))?;
            Ok(r.is_instance_of::<PyBool>() && !r.is_truthy()?)
        });
        match stop {
            Ok(s) => self.stopped |= s,
            Err(e) => env::keep(&self.error, e),
        }
        Ok(())
    }

    fn stop_requested(&self) -> bool {
        self.stopped || env::failed(&self.error)
    }
}

/// What the environment argument says: how to make (single)
/// environments, and the id a preset is looked up by.
fn factory<'py>(
    py: Python<'py>,
    env: &Bound<'py, PyAny>,
) -> PyResult<(Bound<'py, PyAny>, Option<String>)> {
    let gym = py.import("gymnasium")?;
    let make = gym.getattr("make")?;
    let partial = py.import("functools")?.getattr("partial")?;
    if env.is_instance_of::<PyString>() {
        let id: String = env.extract()?;
        return Ok((partial.call1((make, id.as_str()))?, Some(id)));
    }
    if is_vector(py, env)? {
        // Evaluation episodes run on a single copy, made as the vector
        // environment makes its own.
        let fns = env.getattr("env_fns").map_err(|_| {
            PyTypeError::new_err(
                "this vector environment has no env_fns, so fixpo cannot make a single copy to evaluate on: use gymnasium.vector.SyncVectorEnv, AsyncVectorEnv or gymnasium.make_vec",
            )
        })?;
        let id = env
            .getattr("spec")
            .ok()
            .filter(|s| !s.is_none())
            .and_then(|s| s.getattr("id").ok()?.extract::<String>().ok());
        return Ok((fns.get_item(0)?, id));
    }
    if env.is_instance(&gym.getattr("Env")?)? {
        let spec = env.getattr("spec")?;
        if spec.is_none() {
            return Err(PyTypeError::new_err(
                "this environment has no spec (it was not made by gymnasium.make), so fixpo cannot make copies of it: pass a factory, e.g. FixPO(lambda: MyEnv(...))",
            ));
        }
        let id: String = spec.getattr("id")?.extract()?;
        return Ok((partial.call1((make, spec))?, Some(id)));
    }
    if env.is_callable() {
        return Ok((env.clone(), None));
    }
    Err(PyTypeError::new_err(format!(
        "env must be a Gymnasium env id, a gymnasium.Env or a callable returning one, not {}",
        env.get_type().name()?
    )))
}

/// `env` is a `gymnasium.vector.VectorEnv`.
fn is_vector(py: Python<'_>, env: &Bound<'_, PyAny>) -> PyResult<bool> {
    let gym = py.import("gymnasium")?;
    env.is_instance(&gym.getattr("vector")?.getattr("VectorEnv")?)
}

/// The observation size and action space of `probe`, checked against what
/// the bridge supports.
fn spaces(py: Python<'_>, probe: &Bound<'_, PyAny>) -> PyResult<(usize, Space, usize)> {
    let spaces = py.import("gymnasium.spaces")?;
    let obs_space = probe.getattr("observation_space")?;
    let act_space = probe.getattr("action_space")?;
    if !obs_space.is_instance(&spaces.getattr("Box")?)? {
        return Err(PyTypeError::new_err(format!(
            "unsupported observation space {}: fixpo supports Box observation spaces (flat vectors; {})",
            obs_space.repr()?,
            model::menu_text()
        )));
    }
    let obs_shape: Vec<usize> = obs_space.getattr("shape")?.extract()?;
    let obs_dim: usize = obs_shape.iter().product();
    if act_space.is_instance(&spaces.getattr("Discrete")?)? {
        let n: usize = act_space.getattr("n")?.extract()?;
        let start: i64 = act_space.getattr("start")?.extract()?;
        return Ok((obs_dim, Space::Discrete { start }, n));
    }
    if act_space.is_instance(&spaces.getattr("Box")?)? {
        let np = py.import("numpy")?;
        let flat = |name: &str| -> PyResult<Vec<f32>> {
            np.call_method1("ravel", (act_space.getattr(name)?,))?
                .call_method1("astype", ("float32",))?
                .call_method0("tolist")?
                .extract()
        };
        let (low, high) = (flat("low")?, flat("high")?);
        if let Some(i) = low
            .iter()
            .zip(&high)
            .position(|(l, h)| !(l.is_finite() && h.is_finite()))
        {
            return Err(PyValueError::new_err(format!(
                "action space {} has an infinite bound (dimension {i}): fixpo needs finite Box bounds",
                act_space.repr()?
            )));
        }
        let shape = act_space.getattr("shape")?;
        let act_shape: Vec<usize> = shape.extract()?;
        let dim = act_shape.iter().product();
        let is_f32 = act_space
            .getattr("dtype")?
            .eq(np.getattr("float32")?.call0()?.getattr("dtype")?)?;
        let space = Space::Box {
            low,
            high,
            shape: (act_shape.len() != 1).then(|| shape.unbind()),
            dtype: (!is_f32)
                .then(|| act_space.getattr("dtype").map(Bound::unbind))
                .transpose()?,
        };
        return Ok((obs_dim, space, dim));
    }
    Err(PyTypeError::new_err(format!(
        "unsupported action space {}: fixpo supports Box and Discrete action spaces",
        act_space.repr()?
    )))
}

/// FixPO: trust-region policy optimisation with a guaranteed KL bound
/// (max over the batch's states of KL(π_old‖π_new) ≤ eps_kl at every
/// update), trained by fixpo's Rust trainer on a Gymnasium environment.
///
/// Args:
///     env: a Gymnasium env id (`"Pendulum-v1"`), a `gymnasium.Env` made by
///         `gymnasium.make` (copies are made from its spec), or a callable
///         returning a new env. Observation space: `Box`; action space:
///         `Box` (finite bounds) or `Discrete`.
///     n_envs: environments collected from per iteration (the setting
///         `num_envs`; default: the preset's).
///     seed: seed of every random stream, environment resets included
///         (each reset is `env.reset(seed=...)` from the trainer's streams).
///     out_dir: a run directory (as `fixpo train --out`): `learn` writes
///         `config.toml`, a `metrics.jsonl` line per iteration (`fixpo plot
///         DIR` draws it), checkpoints and `policy.fxp` there. A directory
///         holding another run is refused.
///     **config: any setting of the `fixpo train` configuration by name
///         (`eps_kl=0.2`, `hidden=32`, `steps_per_env=256`, ...); unknown
///         names raise `TypeError` with the list of valid ones.
///
/// Envs whose id is one of fixpo's built-in tasks (`Pendulum-v1`,
/// `CartPole-v1`, ...) start from that task's preset, others from the
/// paper's reference settings.
#[pyclass(module = "fixpo", name = "FixPO")]
pub struct FixPO {
    model: Mutex<Box<dyn Model>>,
    error: ErrorSlot,
    rng: Mutex<Pcg32>,
    obs_dim: usize,
    act_dim: usize,
    discrete: Option<i64>,
    act_shape: Py<PyAny>,
    out_dir: Option<PathBuf>,
    /// Run directories a previous `learn` wrote to (continued, not cleared).
    dirs_used: Mutex<Vec<PathBuf>>,
}

impl FixPO {
    /// The model, locked (poisoned only if an earlier call panicked).
    fn model(&self) -> PyResult<std::sync::MutexGuard<'_, Box<dyn Model>>> {
        self.model
            .lock()
            .map_err(|_| PyRuntimeError::new_err("a previous call panicked"))
    }
}

#[pymethods]
impl FixPO {
    #[new]
    #[pyo3(signature = (env, n_envs=None, seed=0, out_dir=None, **config))]
    fn new(
        py: Python<'_>,
        env: &Bound<'_, PyAny>,
        n_envs: Option<usize>,
        seed: u64,
        out_dir: Option<PathBuf>,
        config: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let (make, id) = factory(py, env)?;
        let vector = if is_vector(py, env)? {
            let n: usize = env.getattr("num_envs")?.extract()?;
            if n_envs.is_some_and(|k| k != n) {
                return Err(PyValueError::new_err(format!(
                    "n_envs={} but the vector environment has {n} environments (leave n_envs out)",
                    n_envs.unwrap_or(0)
                )));
            }
            Some((env.clone().unbind(), n, vec::Autoreset::of(env)?))
        } else {
            None
        };
        let n_envs = vector.as_ref().map(|v| v.1).or(n_envs);
        let probe = make.call0()?;
        let (obs_dim, space, act_dim) = spaces(py, &probe)?;
        let act_shape = probe.getattr("action_space")?.getattr("shape")?.unbind();
        if probe.hasattr("close")? {
            probe.call_method0("close")?;
        }
        drop(probe);
        let label = id.clone().unwrap_or_else(|| "python-env".into());
        let mut cfg = id
            .as_deref()
            .and_then(|id| RunConfig::preset(id).ok())
            .unwrap_or_else(|| RunConfig::reference(&label));
        cfg.env = label;
        cfg.seed = seed;
        // Collection is serial on the caller's thread: grouping
        // environments per worker means nothing there.
        cfg.envs_per_worker = 1;
        if let Some(n) = n_envs {
            cfg.num_envs = n;
        }
        let mut sets = Vec::new();
        if let Some(config) = config {
            for (k, v) in config.iter() {
                if v.is_none() {
                    continue;
                }
                let k: String = k.extract()?;
                if k.starts_with(fixpo_host::config::ENV_OPTION_PREFIX) {
                    return Err(PyTypeError::new_err(format!(
                        "`{k}`: env.* options belong to fixpo's built-in tasks; pass a Gymnasium env's options through a factory, e.g. FixPO(lambda: gymnasium.make(id, **options))"
                    )));
                }
                sets.push(format!("{k}={}", toml_text(&v)?));
            }
        }
        let cfg = cfg.with_training_sets(&sets).map_err(py_err)?;
        let discrete = match &space {
            Space::Discrete { start } => Some(*start),
            Space::Box { .. } => None,
        };
        let error = ErrorSlot::default();
        let spec = Arc::new(EnvSpec {
            factory: make.unbind(),
            obs_dim,
            space,
            error: Arc::clone(&error),
        });
        let hidden = cfg.hidden;
        let model = match model::new_model(obs_dim, act_dim, &spec, cfg) {
            Ok(m) => m.map_err(|e| env::take(&error).unwrap_or_else(|| py_err(e)))?,
            Err(NoFit::Obs) => {
                return Err(PyValueError::new_err(format!(
                    "the observation space has {obs_dim} values, more than this build of fixpo compiles for hidden={hidden} (compiled: {})",
                    model::menu_text()
                )));
            }
            Err(NoFit::Act) => {
                return Err(PyValueError::new_err(format!(
                    "the action space has {act_dim} {}, which this build of fixpo does not compile for hidden={hidden} (compiled: {})",
                    if discrete.is_some() {
                        "choices"
                    } else {
                        "dimensions"
                    },
                    model::menu_text()
                )));
            }
            Err(NoFit::Hidden) => {
                return Err(PyValueError::new_err(format!(
                    "hidden={hidden} is not compiled in this build of fixpo (compiled: {})",
                    model::menu_text()
                )));
            }
        };
        if let Some(e) = env::take(&error) {
            return Err(e);
        }
        let mut model = model;
        if let Some((venv, n, mode)) = vector {
            use rand_core::RngCore;
            let first_seed = Pcg32::new(seed, STREAM_VEC_RESET).next_u32();
            model
                .set_vec_env(venv, &spec, n, mode, first_seed)
                .map_err(py_err)?;
        }
        Ok(Self {
            model: Mutex::new(model),
            error,
            rng: Mutex::new(Pcg32::new(seed, STREAM_PREDICT)),
            obs_dim,
            act_dim,
            discrete,
            act_shape,
            out_dir,
            dirs_used: Mutex::new(Vec::new()),
        })
    }

    /// Trains for `total_timesteps` more environment steps (rounded up to
    /// whole iterations of `num_envs · steps_per_env`). Returns `self`.
    ///
    /// `callback(metrics)` is called after every iteration with that
    /// iteration's metrics as a dict (the fields of a `metrics.jsonl`
    /// line: `iter`, `env_steps`, `return_mean`, `max_kl`, `eps_kl`,
    /// `beta`, ...);
    /// returning `False` stops training after it (no exception).
    /// `progress_bar` shows `fixpo train`'s progress on stdout (a bar on a
    /// terminal, a line now and then otherwise).
    /// `out_dir` (default: the constructor's) is the run directory the
    /// metrics, checkpoints and policy file are written to; a later
    /// `learn` into the same directory continues its `metrics.jsonl`.
    ///
    /// Ctrl-C stops after the current update with `KeyboardInterrupt`:
    /// the model keeps the last update's policy (a later `learn`
    /// continues from it) and the run directory holds its policy file and
    /// the finished iterations' metrics. An exception raised by the
    /// environment or the callback stops the run and propagates.
    #[pyo3(signature = (total_timesteps, callback=None, progress_bar=true, out_dir=None))]
    fn learn<'py>(
        slf: &Bound<'py, Self>,
        total_timesteps: u64,
        callback: Option<Py<PyAny>>,
        progress_bar: bool,
        out_dir: Option<PathBuf>,
    ) -> PyResult<Bound<'py, Self>> {
        let py = slf.py();
        let this = slf.borrow();
        let mut guard = this.model()?;
        let model: &mut dyn Model = &mut **guard;
        let mut observer = PyObserver {
            error: Arc::clone(&this.error),
            callback,
            stopped: false,
            progress: fixpo_host::progress::Progress::new(!progress_bar),
        };
        let dir = out_dir.or_else(|| this.out_dir.clone());
        let real = this.obs_dim;
        let result = if let Some(dir) = &dir {
            let resume = this
                .dirs_used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(dir);
            fixpo_host::train::RunDir::prepare(dir, resume, false).map_err(|e| match e {
                HostError::RunExists { path } => {
                    pyo3::exceptions::PyFileExistsError::new_err(format!(
                        "`{}` already holds a run: pass another out_dir, or remove it",
                        path.display()
                    ))
                }
                e => py_err(e),
            })?;
            // The GIL is released here and taken for each environment call
            // (RunDir is made inside: it is not Send).
            let r = py.detach(|| {
                let mut run_dir =
                    fixpo_host::train::RunDir::new(dir.clone(), resume, false, &mut observer);
                model.learn(total_timesteps, real, &mut run_dir)
            });
            this.dirs_used
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(dir.clone());
            r
        } else {
            py.detach(|| model.learn(total_timesteps, real, &mut observer))
        };
        if let Some(e) = env::take(&this.error) {
            return Err(e);
        }
        let summary = result.map_err(py_err)?;
        if summary.stop == fixpo_host::learner::StopReason::Interrupted && !observer.stopped {
            return Err(PyKeyboardInterrupt::new_err("training interrupted"));
        }
        drop(guard);
        drop(this);
        Ok(slf.clone())
    }

    /// The action for `obs` (one observation, or a batch of them as rows)
    /// and `None`, as Stable-Baselines3 returns `(action, state)`.
    ///
    /// `deterministic=True` gives the policy's mode (the action the
    /// exported file computes); otherwise a sample. Box actions are
    /// clipped to the space's bounds; Discrete actions are ints.
    #[pyo3(signature = (obs, deterministic=true))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        obs: &Bound<'py, PyAny>,
        deterministic: bool,
    ) -> PyResult<(Bound<'py, PyAny>, Option<Py<PyAny>>)> {
        let model = self.model()?;
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let out = predict_with(
            py,
            obs,
            self.obs_dim,
            self.discrete,
            self.act_shape.bind(py),
            |o| model.act(o, deterministic, &mut rng),
        )?;
        Ok((out, None))
    }

    /// Writes the policy file (what `fixpo inspect`, `fixpo eval`, the
    /// firmware and `fixpo.load` read) to `path`, at the environment's own
    /// observation size: the padding up to `padded_obs_size` is stripped
    /// (exactly: the file acts as `predict(obs, deterministic=True)`).
    fn save(&self, path: std::path::PathBuf) -> PyResult<()> {
        let bytes = self
            .model()?
            .policy_file(self.obs_dim)
            .map_err(PyRuntimeError::new_err)?;
        std::fs::write(&path, bytes).map_err(|e| {
            pyo3::exceptions::PyOSError::new_err(format!("cannot write {}: {e}", path.display()))
        })
    }

    /// Environment steps taken so far.
    #[getter]
    fn num_timesteps(&self) -> PyResult<u64> {
        Ok(self.model()?.env_steps())
    }

    /// The resolved configuration, as the TOML text `fixpo train --config`
    /// reads.
    #[getter]
    fn config_toml(&self) -> PyResult<String> {
        Ok(self.model()?.config().to_toml())
    }

    /// The compiled observation size the policy works at (the env's
    /// observation zero-padded up to it).
    #[getter]
    fn padded_obs_size(&self) -> PyResult<usize> {
        Ok(self.model()?.obs_size())
    }

    /// Action dimensions (Box) or choices (Discrete).
    #[getter]
    fn action_size(&self) -> usize {
        self.act_dim
    }
}

/// Index of the largest entry (first on ties).
fn argmax(v: &[f32]) -> usize {
    let mut best = 0;
    for i in 1..v.len() {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}

/// `act` applied to each observation of `obs` (one, or a batch as rows of
/// `obs_dim` values), as an action array (Box, reshaped to `act_shape`
/// per row) or ints (Discrete, numbered from `start`).
fn predict_with<'py>(
    py: Python<'py>,
    obs: &Bound<'py, PyAny>,
    obs_dim: usize,
    discrete: Option<i64>,
    act_shape: &Bound<'py, PyAny>,
    mut act: impl FnMut(&[f32]) -> Vec<f32>,
) -> PyResult<Bound<'py, PyAny>> {
    let np = py.import("numpy")?;
    let arr = np
        .call_method1("asarray", (obs, "float32"))?
        .cast_into::<numpy::PyArrayDyn<f32>>()
        .map_err(PyErr::from)?;
    let shape = arr.shape().to_vec();
    let batched = match shape.len() {
        1 if shape[0] == obs_dim => false,
        2 if shape[1] == obs_dim => true,
        _ => {
            return Err(PyValueError::new_err(format!(
                "observation of shape {shape:?}: expected ({obs_dim},) or (n, {obs_dim})"
            )));
        }
    };
    let flat: Vec<f32> = arr
        .to_vec()
        .map_err(|_| PyValueError::new_err("observation array is not contiguous"))?;
    let rows: Vec<Vec<f32>> = flat.chunks(obs_dim).map(&mut act).collect();
    if let Some(start) = discrete {
        let choices: Vec<i64> = rows.iter().map(|a| argmax(a) as i64 + start).collect();
        return Ok(if batched {
            PyArray1::from_vec(py, choices).into_any()
        } else {
            choices[0].into_pyobject(py)?.into_any()
        });
    }
    if batched {
        let a = PyArray2::from_vec2(py, &rows).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let mut shape = vec![rows.len()];
        shape.extend(act_shape.extract::<Vec<usize>>()?);
        a.into_any().call_method1("reshape", (shape,))
    } else {
        PyArray1::from_vec(py, rows.into_iter().next().unwrap_or_default())
            .into_any()
            .call_method1("reshape", (act_shape,))
    }
}

/// A policy read from a file by `fixpo.load`: acts as the model that saved
/// it (`predict(obs, deterministic=True)` gives the same actions).
///
/// Box actions come out with shape `(action_size,)`; a categorical
/// policy's actions are ints numbered from `action_start`.
#[pyclass(module = "fixpo", name = "Policy")]
pub struct LoadedPolicy {
    actor: Box<dyn file::Loaded>,
    rng: Mutex<Pcg32>,
    start: i64,
}

#[pymethods]
impl LoadedPolicy {
    /// The action for `obs` (one observation, or a batch as rows) and
    /// `None`, as `FixPO.predict` returns them.
    #[pyo3(signature = (obs, deterministic=true))]
    fn predict<'py>(
        &self,
        py: Python<'py>,
        obs: &Bound<'py, PyAny>,
        deterministic: bool,
    ) -> PyResult<(Bound<'py, PyAny>, Option<Py<PyAny>>)> {
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        let discrete = (self.actor.kind() == PolicyKind::Categorical).then_some(self.start);
        let shape = (self.actor.act_size(),).into_pyobject(py)?.into_any();
        let out = predict_with(py, obs, self.actor.obs_size(), discrete, &shape, |o| {
            self.actor.act(o, deterministic, &mut rng)
        })?;
        Ok((out, None))
    }

    /// Observation values the policy reads.
    #[getter]
    fn obs_size(&self) -> usize {
        self.actor.obs_size()
    }

    /// Action dimensions (Gaussian) or choices (categorical).
    #[getter]
    fn action_size(&self) -> usize {
        self.actor.act_size()
    }

    /// `"gaussian"` or `"categorical"`.
    #[getter]
    fn kind(&self) -> &'static str {
        match self.actor.kind() {
            PolicyKind::Categorical => "categorical",
            _ => "gaussian",
        }
    }
}

/// Reads a policy file (from `FixPO.save` or `fixpo train`) into a
/// `fixpo.Policy` with `.predict(obs, deterministic=True)`.
///
/// `seed` seeds the samples of `deterministic=False`; `action_start` is
/// the first choice's number for a categorical policy (a Discrete space's
/// `start`, which the file does not record).
#[pyfunction]
#[pyo3(signature = (path, seed=0, action_start=0))]
fn load(path: std::path::PathBuf, seed: u64, action_start: i64) -> PyResult<LoadedPolicy> {
    let bytes = std::fs::read(&path).map_err(|e| {
        pyo3::exceptions::PyOSError::new_err(format!("cannot read {}: {e}", path.display()))
    })?;
    let actor = file::load(&bytes)
        .map_err(|e| PyValueError::new_err(format!("{}: {e}", path.display())))?;
    Ok(LoadedPolicy {
        actor,
        rng: Mutex::new(Pcg32::new(seed, STREAM_PREDICT)),
        start: action_start,
    })
}

/// Every configuration key `FixPO(**config)` accepts.
#[pyfunction]
fn config_keys() -> Vec<String> {
    RunConfig::keys()
}

/// fixpo: FixPO trust-region RL with a Rust trainer.
#[pymodule]
fn fixpo(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<FixPO>()?;
    m.add_class::<LoadedPolicy>()?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(config_keys, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    let menu = PyDict::new(m.py());
    for g in model::MENU {
        let sizes = PyDict::new(m.py());
        sizes.set_item("obs", g.obs.to_vec())?;
        sizes.set_item("act", g.act.to_vec())?;
        menu.set_item(g.hidden, sizes)?;
    }
    m.add("MENU", menu)?;
    Ok(())
}
