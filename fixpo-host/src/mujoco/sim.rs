//! The physics of a task: [`Sim`] (an `MjData` on a model shared by every
//! copy of a task), the model cache and the MJCF directory.

use super::MujocoError;
use crate::tasks::EnvState;
use fixpo_core::env::ActionSpace;
use fixpo_core::rng;
use mujoco_rs::prelude::{MjData, MjModel, MjSpec, MjtState};
use rand_core::RngCore;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// The environment variable naming the directory with Gymnasium's MJCF files.
pub const MJCF_DIR_VAR: &str = "FIXPO_MJCF_DIR";

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

/// The distribution of the `qvel` noise of [`Sim::noisy_reset`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum QvelNoise {
    /// `U(−s, s)` per entry.
    Uniform,
    /// `s · N(0, 1)` per entry.
    Normal,
}

/// The state kept in a snapshot: what the next `mj_step` reads.
const SNAPSHOT_STATE: u32 = MjtState::mjSTATE_QPOS as u32
    | MjtState::mjSTATE_QVEL as u32
    | MjtState::mjSTATE_WARMSTART as u32;

impl Sim {
    /// Loads `file` from `$FIXPO_MJCF_DIR` (once per process) and checks
    /// its sizes.
    pub(super) fn load(
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
    pub(super) fn set_frame_skip(&mut self, frame_skip: u32) {
        self.frame_skip = frame_skip;
    }

    /// `mj_resetData`, write `qpos`/`qvel`, `mj_forward`; restarts the
    /// episode's step count.
    pub(super) fn set_state(
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
    pub(super) fn simulate(&mut self, action: &[f64]) {
        self.data.ctrl_mut().copy_from_slice(action);
        for _ in 0..self.frame_skip {
            self.data.step();
        }
        self.data.rne_post_constraint();
        self.elapsed = self.elapsed.saturating_add(1);
    }

    /// `init + U(−scale, scale)` per entry.
    pub(super) fn uniform_noise<R: RngCore + ?Sized>(
        init: &[f64],
        scale: f64,
        rng: &mut R,
    ) -> Vec<f64> {
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
    pub(super) fn zero_qvel(&self) -> Vec<f64> {
        vec![0.0; self.data.qvel().len()]
    }
    /// Gymnasium's usual reset state `(qpos, qvel)`: `init_qpos + U(−s, s)`
    /// per entry, then zeros plus `qvel_noise` of scale `s` (drawn in that
    /// order).
    pub(super) fn noisy_reset<R: RngCore + ?Sized>(
        &self,
        s: f64,
        qvel_noise: QvelNoise,
        rng: &mut R,
    ) -> (Vec<f64>, Vec<f64>) {
        let qpos = Self::uniform_noise(self.init_qpos(), s, rng);
        let qvel = match qvel_noise {
            QvelNoise::Uniform => Self::uniform_noise(&self.zero_qvel(), s, rng),
            QvelNoise::Normal => Self::normal_noise(&self.zero_qvel(), s, rng),
        };
        (qpos, qvel)
    }

    /// The action space from the actuators' control range (as Gymnasium:
    /// `actuator_ctrlrange` cast to `f32`).
    pub(super) fn action_space<const A: usize>(&self) -> ActionSpace<A> {
        let r = self.model().actuator_ctrlrange();
        ActionSpace::Continuous {
            low: core::array::from_fn(|i| r[i][0] as f32),
            high: core::array::from_fn(|i| r[i][1] as f32),
        }
    }

    pub(super) fn body_id(
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

    pub(super) fn snapshot(&self, aux: Vec<f64>) -> EnvState {
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
    pub(super) fn restore(
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
            .map_err(|e| MujocoError::Restore {
                task,
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

pub(super) fn load_model(path: &Path) -> Result<MjModel, MujocoError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use fixpo_core::rng::Pcg32;

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
    fn settotalmass_is_stripped() {
        let (s, m) =
            strip_settotalmass("<compiler angle=\"radian\" settotalmass=\"14\"/>").unwrap();
        assert_eq!((s.as_str(), m), ("<compiler angle=\"radian\"/>", 14.0));
        assert!(strip_settotalmass("<compiler angle=\"radian\"/>").is_none());
    }
}
