//! A Gymnasium environment as a [`fixpo_core::Env`]: observations read
//! as f32 and zero-padded up to the compiled size `O`, actions written in
//! the space's own form, Gymnasium's `terminated`/`truncated` passed on as
//! they are (a truncated step carries the final observation, which the
//! core bootstraps from), and every reset seeded from the environment's
//! random stream in the trainer.
//!
//! `Env::step` cannot fail, so a Python exception is kept in the shared
//! [`ErrorSlot`] and the step reports a NaN reward and `terminated`: the
//! core then refuses the collection, the run stops, and the exception is
//! raised again, traceback and all. Once the slot holds an error, later
//! calls do not reach Python.

use fixpo_core::env::{ActionSpace, Env, Step, argmax};
use numpy::{AllowTypeChange, PyArray1, PyArrayLikeDyn};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rand_core::RngCore;
use std::sync::{Arc, Mutex};

/// The first Python exception of a run, raised again when the run stops.
pub type ErrorSlot = Arc<Mutex<Option<PyErr>>>;

/// Keeps `err` unless the slot already holds an earlier one.
pub fn keep(slot: &ErrorSlot, err: PyErr) {
    let mut s = slot.lock().unwrap_or_else(|p| p.into_inner());
    if s.is_none() {
        *s = Some(err);
    }
}

/// Takes the slot's error, if any.
pub fn take(slot: &ErrorSlot) -> Option<PyErr> {
    slot.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Whether the slot holds an error.
pub fn failed(slot: &ErrorSlot) -> bool {
    slot.lock().unwrap_or_else(|p| p.into_inner()).is_some()
}

/// The action space, as the bridge writes actions into it.
#[derive(Debug)]
pub enum Space {
    /// `gymnasium.spaces.Box`: `dim` reals in `[low, high]`.
    Box {
        /// Bounds per dimension (finite).
        low: Vec<f32>,
        high: Vec<f32>,
        /// The space's shape and dtype, when an action must be reshaped or
        /// cast before `env.step` (shape `(dim,)` and float32 need neither).
        shape: Option<Py<PyAny>>,
        dtype: Option<Py<PyAny>>,
    },
    /// `gymnasium.spaces.Discrete`: `n` choices numbered from `start`.
    Discrete {
        /// First choice's number.
        start: i64,
    },
}

/// What every environment of a run shares: how to make one, its sizes and
/// the run's error slot.
#[derive(Debug)]
pub struct EnvSpec {
    /// A callable that returns a new environment.
    pub factory: Py<PyAny>,
    /// Observation values (the space's flattened size).
    pub obs_dim: usize,
    /// The action space.
    pub space: Space,
    /// The run's first Python exception.
    pub error: ErrorSlot,
}

/// One Gymnasium environment with `O` (padded) observations and `A`
/// actions, made from the spec's factory when it is first reset.
pub struct PyEnv<const O: usize, const A: usize> {
    env: Option<Py<PyAny>>,
    spec: Arc<EnvSpec>,
}

/// The observation `obs` as `O` values: checked against the space's size
/// `dim`, zero-padded.
pub fn read_obs<const O: usize>(obs: &Bound<'_, PyAny>, dim: usize) -> PyResult<[f32; O]> {
    let arr: PyArrayLikeDyn<'_, f32, AllowTypeChange> = obs.extract()?;
    let view = arr.as_array();
    if view.len() != dim {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "the environment returned an observation of {} values; its observation space has {dim}",
            view.len(),
        )));
    }
    let mut out = [0.0; O];
    for (o, x) in out.iter_mut().zip(view.iter()) {
        *o = *x;
    }
    Ok(out)
}

impl<const O: usize, const A: usize> PyEnv<O, A> {
    /// An environment of `spec`, not made yet (learners make a template
    /// and environments they may never step: a vector environment
    /// collects instead).
    pub fn new(spec: &Arc<EnvSpec>) -> Self {
        Self {
            env: None,
            spec: Arc::clone(spec),
        }
    }

    /// The environment, made now if it was not (takes the GIL). A failure
    /// is kept in the error slot.
    fn made(&mut self) -> Option<&Py<PyAny>> {
        if self.env.is_none() && !failed(&self.spec.error) {
            self.env = Python::attach(|py| match self.spec.factory.call0(py) {
                Ok(e) => Some(e),
                Err(e) => {
                    keep(&self.spec.error, e);
                    None
                }
            });
        }
        self.env.as_ref()
    }

    fn read_obs(&self, obs: &Bound<'_, PyAny>) -> PyResult<[f32; O]> {
        read_obs(obs, self.spec.obs_dim)
    }

    fn failed_step() -> Step<O> {
        Step {
            obs: [f32::NAN; O],
            reward: f32::NAN,
            terminated: true,
            truncated: false,
        }
    }

    fn try_reset(&self, env: &Py<PyAny>, seed: u32) -> PyResult<[f32; O]> {
        Python::attach(|py| {
            let kwargs = PyDict::new(py);
            kwargs.set_item("seed", seed)?;
            let out = env.bind(py).call_method("reset", (), Some(&kwargs))?;
            self.read_obs(&out.get_item(0)?)
        })
    }

    fn try_step(&self, env: &Py<PyAny>, action: &[f32; A]) -> PyResult<Step<O>> {
        Python::attach(|py| {
            let env = env.bind(py);
            let out = match &self.spec.space {
                Space::Discrete { start } => {
                    let choice = argmax(action) as i64 + start;
                    env.call_method1("step", (choice,))?
                }
                Space::Box { shape, dtype, .. } => {
                    let mut a = PyArray1::from_slice(py, action).into_any();
                    if let Some(shape) = shape {
                        a = a.call_method1("reshape", (shape.bind(py),))?;
                    }
                    if let Some(dtype) = dtype {
                        a = a.call_method1("astype", (dtype.bind(py),))?;
                    }
                    env.call_method1("step", (a,))?
                }
            };
            Ok(Step {
                obs: self.read_obs(&out.get_item(0)?)?,
                reward: out.get_item(1)?.extract::<f64>()? as f32,
                terminated: out.get_item(2)?.is_truthy()?,
                truncated: out.get_item(3)?.is_truthy()?,
            })
        })
    }
}

impl<const O: usize, const A: usize> Env<O, A> for PyEnv<O, A> {
    fn action_space(&self) -> ActionSpace<A> {
        match &self.spec.space {
            Space::Box { low, high, .. } => ActionSpace::Continuous {
                low: core::array::from_fn(|i| low[i]),
                high: core::array::from_fn(|i| high[i]),
            },
            Space::Discrete { .. } => ActionSpace::Discrete,
        }
    }

    /// Resets with a seed drawn from `rng` (Gymnasium reseeds the
    /// environment's own generator from it), so one trainer seed fixes
    /// every episode's start.
    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; O] {
        let seed = rng.next_u32();
        self.made();
        match &self.env {
            Some(env) if !failed(&self.spec.error) => {
                self.try_reset(env, seed).unwrap_or_else(|e| {
                    keep(&self.spec.error, e);
                    [f32::NAN; O]
                })
            }
            _ => [f32::NAN; O],
        }
    }

    fn step(&mut self, action: &[f32; A]) -> Step<O> {
        match &self.env {
            Some(env) if !failed(&self.spec.error) => {
                self.try_step(env, action).unwrap_or_else(|e| {
                    keep(&self.spec.error, e);
                    Self::failed_step()
                })
            }
            _ => Self::failed_step(),
        }
    }
}
