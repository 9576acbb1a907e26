//! A Gymnasium vector environment (`SyncVectorEnv`, `AsyncVectorEnv`, or
//! `gymnasium.make_vec`) as fixpo-host's [`VecEnv`]: all its environments
//! step in one call, on the caller's thread with the GIL held.
//!
//! Gymnasium's three autoreset modes, read from `metadata["autoreset_mode"]`:
//! - `NEXT_STEP` (the default): the step after an episode's end resets
//!   that environment and ignores its action ([`VecStep::Reset`]);
//! - `SAME_STEP`: the step that ends an episode returns the reset
//!   observation, the final one is `infos["final_obs"][i]`;
//! - `DISABLED`: environments whose episode ended are reset at once with
//!   `reset(options={"reset_mask": ...})`.
//!
//! In every mode the transition that ends an episode carries its final
//! observation, which a truncated episode bootstraps from. As in
//! [`crate::env`], a Python exception goes to the run's error slot and the
//! step reports NaN, which the collection refuses.

use crate::env::{EnvSpec, Space, failed, keep, read_obs};
use fixpo_core::env::{ActionSpace, Env, Step, argmax};
use fixpo_host::learner::{VecEnv, VecStep};
use numpy::PyArray2;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::Arc;

/// Gymnasium's `AutoresetMode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Autoreset {
    /// `NEXT_STEP`.
    NextStep,
    /// `SAME_STEP`.
    SameStep,
    /// `DISABLED`.
    Disabled,
}

impl Autoreset {
    /// The mode of `env` (`NEXT_STEP` when its metadata does not say).
    ///
    /// # Errors
    /// A mode this bridge does not know.
    pub fn of(env: &Bound<'_, PyAny>) -> PyResult<Self> {
        let meta = env.getattr("metadata")?;
        let mode = meta.call_method1("get", ("autoreset_mode",))?;
        if mode.is_none() {
            return Ok(Self::NextStep);
        }
        let name: String = mode.getattr("name")?.extract()?;
        match name.as_str() {
            "NEXT_STEP" => Ok(Self::NextStep),
            "SAME_STEP" => Ok(Self::SameStep),
            "DISABLED" => Ok(Self::Disabled),
            other => Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown autoreset mode {other}: fixpo knows NEXT_STEP, SAME_STEP and DISABLED"
            ))),
        }
    }
}

/// A Gymnasium vector environment of `n` environments with `O` (padded)
/// observations and `A` actions.
pub struct PyVecEnv<const O: usize, const A: usize> {
    env: Py<PyAny>,
    spec: Arc<EnvSpec>,
    n: usize,
    mode: Autoreset,
    /// The seed of the first reset.
    seed: u32,
    /// `NEXT_STEP`: environments whose next step is a reset.
    resetting: Vec<bool>,
}

impl<const O: usize, const A: usize> PyVecEnv<O, A> {
    /// `env` (of `n` environments, in `mode`), first reset with `seed`.
    pub fn new(env: Py<PyAny>, spec: &Arc<EnvSpec>, n: usize, mode: Autoreset, seed: u32) -> Self {
        Self {
            env,
            spec: Arc::clone(spec),
            n,
            mode,
            seed,
            resetting: vec![false; n],
        }
    }

    /// Rows of an `(n, ...)` observation array, padded.
    fn rows(&self, obs: &Bound<'_, PyAny>) -> PyResult<Vec<[f32; O]>> {
        let len = obs.len()?;
        if len != self.n {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "the vector environment returned {len} observations for {} environments",
                self.n
            )));
        }
        (0..self.n)
            .map(|i| read_obs(&obs.get_item(i)?, self.spec.obs_dim))
            .collect()
    }

    /// The actions as the vector environment takes them: an `(n, *shape)`
    /// array in the space's dtype, or `n` ints.
    fn py_actions<'py>(
        &self,
        py: Python<'py>,
        actions: &[[f32; A]],
    ) -> PyResult<Bound<'py, PyAny>> {
        let np = py.import("numpy")?;
        match &self.spec.space {
            Space::Discrete { start } => {
                let choices: Vec<i64> = actions.iter().map(|a| argmax(a) as i64 + start).collect();
                np.call_method1("asarray", (choices,))
            }
            Space::Box { shape, dtype, .. } => {
                let rows: Vec<Vec<f32>> = actions.iter().map(|a| a.to_vec()).collect();
                let mut a = PyArray2::from_vec2(py, &rows)?.into_any();
                if let Some(shape) = shape {
                    let mut full = vec![self.n];
                    full.extend(shape.bind(py).extract::<Vec<usize>>()?);
                    a = a.call_method1("reshape", (full,))?;
                }
                if let Some(dtype) = dtype {
                    a = a.call_method1("astype", (dtype.bind(py),))?;
                }
                Ok(a)
            }
        }
    }

    fn try_reset(&self) -> PyResult<Vec<[f32; O]>> {
        Python::attach(|py| {
            let kwargs = PyDict::new(py);
            kwargs.set_item("seed", self.seed)?;
            let out = self.env.bind(py).call_method("reset", (), Some(&kwargs))?;
            self.rows(&out.get_item(0)?)
        })
    }

    fn try_step(&mut self, actions: &[[f32; A]], out: &mut Vec<VecStep<O>>) -> PyResult<()> {
        Python::attach(|py| {
            let env = self.env.bind(py);
            let r = env.call_method1("step", (self.py_actions(py, actions)?,))?;
            let obs = self.rows(&r.get_item(0)?)?;
            let flags = |k: usize| -> PyResult<Vec<bool>> {
                let np = py.import("numpy")?;
                np.call_method1("asarray", (r.get_item(k)?, "bool"))?
                    .call_method0("tolist")?
                    .extract()
            };
            let rewards: Vec<f64> = py
                .import("numpy")?
                .call_method1("asarray", (r.get_item(1)?, "float64"))?
                .call_method0("tolist")?
                .extract()?;
            let (terminated, truncated) = (flags(2)?, flags(3)?);
            if rewards.len() != self.n || terminated.len() != self.n || truncated.len() != self.n {
                return Err(pyo3::exceptions::PyValueError::new_err(
                    "the vector environment's rewards or flags do not have one entry per environment",
                ));
            }
            let done: Vec<bool> = (0..self.n).map(|i| terminated[i] || truncated[i]).collect();
            let infos = r.get_item(4)?;
            // DISABLED: reset the finished environments now.
            let reset_now = if self.mode == Autoreset::Disabled && done.iter().any(|&d| d) {
                let kwargs = PyDict::new(py);
                let options = PyDict::new(py);
                let mask = py
                    .import("numpy")?
                    .call_method1("asarray", (done.clone(),))?;
                options.set_item("reset_mask", mask)?;
                kwargs.set_item("options", options)?;
                Some(self.rows(&env.call_method("reset", (), Some(&kwargs))?.get_item(0)?)?)
            } else {
                None
            };
            out.clear();
            for i in 0..self.n {
                if self.resetting[i] {
                    self.resetting[i] = false;
                    out.push(VecStep::Reset { obs: obs[i] });
                    continue;
                }
                let mut step = Step {
                    obs: obs[i],
                    reward: rewards[i] as f32,
                    terminated: terminated[i],
                    truncated: truncated[i],
                };
                let reset_obs = match self.mode {
                    Autoreset::NextStep => {
                        self.resetting[i] = done[i];
                        None
                    }
                    Autoreset::SameStep if done[i] => {
                        let fin = infos.get_item("final_obs")?.get_item(i)?;
                        step.obs = read_obs(&fin, self.spec.obs_dim)?;
                        Some(obs[i])
                    }
                    Autoreset::Disabled if done[i] => reset_now.as_ref().map(|r| r[i]),
                    _ => None,
                };
                out.push(VecStep::Stepped { step, reset_obs });
            }
            Ok(())
        })
    }

    fn failed_steps(&self, out: &mut Vec<VecStep<O>>) {
        out.clear();
        out.extend((0..self.n).map(|_| VecStep::Stepped {
            step: Step {
                obs: [f32::NAN; O],
                reward: f32::NAN,
                terminated: true,
                truncated: false,
            },
            reset_obs: None,
        }));
    }
}

impl<const O: usize, const A: usize> VecEnv<O, A> for PyVecEnv<O, A> {
    fn num_envs(&self) -> usize {
        self.n
    }

    fn action_space(&self) -> ActionSpace<A> {
        crate::env::PyEnv::<O, A>::new(&self.spec).action_space()
    }

    fn reset(&mut self) -> Vec<[f32; O]> {
        if failed(&self.spec.error) {
            return vec![[f32::NAN; O]; self.n];
        }
        self.try_reset().unwrap_or_else(|e| {
            keep(&self.spec.error, e);
            vec![[f32::NAN; O]; self.n]
        })
    }

    fn step(&mut self, actions: &[[f32; A]], out: &mut Vec<VecStep<O>>) {
        if failed(&self.spec.error) {
            return self.failed_steps(out);
        }
        if let Err(e) = self.try_step(actions, out) {
            keep(&self.spec.error, e);
            self.failed_steps(out);
        }
    }
}
