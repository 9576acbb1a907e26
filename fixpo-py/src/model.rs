//! The menu of compiled sizes and one type-erased learner over it.
//!
//! Sizes are const generics in fixpo, so the Python package ships a menu:
//! per hidden width ([`MENU`]), observations are zero-padded up to the
//! next compiled size (exact: observation normalisation maps a constant 0
//! to 0, so a padded input never moves the policy) and action sizes must
//! be compiled exactly. Each entry compiles the whole trainer once, so the
//! menu is what keeps build times in check.

use crate::env::{EnvSpec, PyEnv};
use fixpo_core::rng::Pcg32;
use fixpo_host::checkpoint::CheckpointData;
use fixpo_host::config::RunConfig;
use fixpo_host::metrics::IterMetrics;
use fixpo_host::observe::UpdateRecord;
use fixpo_host::{Learner, Observer, RunState, TrainSummary};
use std::sync::Arc;

/// One hidden width of the menu with the padded observation sizes and the
/// action sizes compiled for it.
#[derive(Debug)]
pub struct MenuGroup {
    /// Hidden-layer width (the `hidden` setting).
    pub hidden: usize,
    /// Padded observation sizes, ascending.
    pub obs: &'static [usize],
    /// Action sizes (Box dimensions, or Discrete choices).
    pub act: &'static [usize],
}

/// Something done at one compiled size `(O, H, A)` of the menu.
pub trait AtSize {
    /// What it gives.
    type Out;
    /// Does it at `(O, H, A)`.
    fn at<const O: usize, const H: usize, const A: usize>(self) -> Self::Out
    where
        crate::file::Sizes: crate::file::RealSizes<O>;
}

/// Declares the menu once: [`MENU`] and the dispatch over it.
macro_rules! menu {
    ($( hidden $h:literal: obs [$($o:literal),*], act [$($a:literal),*]; )*) => {
        /// The compiled sizes: per hidden width, observations (an
        /// environment's are zero-padded up to the first size that holds
        /// them) and actions (exact).
        pub const MENU: &[MenuGroup] = &[
            $( MenuGroup { hidden: $h, obs: &[$($o),*], act: &[$($a),*] }, )*
        ];

        /// `f` at the compiled size `(o, h, a)`; `None` when it is not in
        /// the menu.
        pub fn at_size<F: AtSize>(o: usize, h: usize, a: usize, f: F) -> Option<F::Out> {
            match h {
                $( $h => menu!(@obs f, o, a, $h, [$($o),*], [$($a),*]), )*
                _ => None,
            }
        }
    };
    (@obs $f:ident, $o:ident, $a:ident, $h:literal, [$($oo:literal),*], $acts:tt) => {
        match $o {
            $( $oo => menu!(@act $f, $a, $oo, $h, $acts), )*
            _ => None,
        }
    };
    (@act $f:ident, $a:ident, $o:literal, $h:literal, [$($aa:literal),*]) => {
        match $a {
            $( $aa => Some($f.at::<$o, $h, $aa>()), )*
            _ => None,
        }
    };
}

// Each entry compiles the whole trainer: the menu is what keeps build
// times in check. Hidden 64 is the reference setting (and MuJoCo's
// Hopper-v5: 11 observations padded to 16, 3 actions); 32 is the classic
// control presets'.
menu! {
    hidden 64: obs [4, 8, 16, 32], act [1, 2, 3, 4, 6, 8];
    hidden 32: obs [4, 8], act [1, 2, 3, 4];
}

/// The menu group of hidden width `h`.
pub fn group(h: usize) -> Option<&'static MenuGroup> {
    MENU.iter().find(|g| g.hidden == h)
}

/// The padded observation size for `obs_dim` observations at hidden width
/// `h`: the smallest compiled one that holds them.
pub fn padded_obs(obs_dim: usize, h: usize) -> Option<usize> {
    group(h)?.obs.iter().copied().find(|&o| o >= obs_dim)
}

/// The menu in words, for error messages.
pub fn menu_text() -> String {
    MENU.iter()
        .map(|g| {
            format!(
                "hidden {}: observations up to {} (padded to {:?}), actions {:?}",
                g.hidden,
                g.obs.last().copied().unwrap_or(0),
                g.obs,
                g.act
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A learner of any compiled size, as the Python class drives it.
pub trait Model: Send {
    /// Trains `steps` more environment steps (rounded up to whole
    /// iterations), reporting to `observer`; the policy files it asks the
    /// run for are at the real observation size `real`.
    fn learn(
        &mut self,
        steps: u64,
        real: usize,
        observer: &mut dyn Observer,
    ) -> fixpo_host::Result<TrainSummary>;
    /// The action for `obs` (at most the padded size; the rest is 0):
    /// the policy's mode, or a sample from `rng`, clipped to the bounds
    /// (one-hot for a discrete space).
    fn act(&self, obs: &[f32], deterministic: bool, rng: &mut Pcg32) -> Vec<f32>;
    /// The current policy's file at the environment's real observation
    /// size `real` (the padding stripped, see [`crate::file::strip`]).
    fn policy_file(&self, real: usize) -> Result<Vec<u8>, String>;
    /// Environment steps taken.
    fn env_steps(&self) -> u64;
    /// The run's configuration.
    fn config(&self) -> &RunConfig;
    /// The compiled (padded) observation size.
    fn obs_size(&self) -> usize;
    /// Collects from the vector environment `env` (of `n` environments,
    /// autoreset `mode`, first reset with `seed`) from now on.
    fn set_vec_env(
        &mut self,
        env: pyo3::Py<pyo3::PyAny>,
        spec: &Arc<EnvSpec>,
        n: usize,
        mode: crate::vec::Autoreset,
        seed: u32,
    ) -> fixpo_host::Result<()>;
}

impl<const O: usize, const H: usize, const A: usize> Model for Learner<PyEnv<O, A>, O, H, A>
where
    crate::file::Sizes: crate::file::RealSizes<O>,
{
    fn learn(
        &mut self,
        steps: u64,
        real: usize,
        observer: &mut dyn Observer,
    ) -> fixpo_host::Result<TrainSummary> {
        self.set_total_steps(self.env_steps().saturating_add(steps.max(1)))?;
        self.run(&mut Stripping::<O, H, A> {
            inner: observer,
            real,
        })
    }

    fn act(&self, obs: &[f32], deterministic: bool, rng: &mut Pcg32) -> Vec<f32> {
        crate::file::act(&self.actor(), obs, deterministic, rng)
    }

    fn policy_file(&self, real: usize) -> Result<Vec<u8>, String> {
        crate::file::encode_real(&self.actor(), real)
    }

    fn env_steps(&self) -> u64 {
        Learner::env_steps(self)
    }

    fn config(&self) -> &RunConfig {
        Learner::config(self)
    }

    fn obs_size(&self) -> usize {
        O
    }

    fn set_vec_env(
        &mut self,
        env: pyo3::Py<pyo3::PyAny>,
        spec: &Arc<EnvSpec>,
        n: usize,
        mode: crate::vec::Autoreset,
        seed: u32,
    ) -> fixpo_host::Result<()> {
        Learner::set_vec_env(
            self,
            Box::new(crate::vec::PyVecEnv::<O, A>::new(env, spec, n, mode, seed)),
        )
    }
}

/// Why no compiled size fits.
#[derive(Debug)]
pub enum NoFit {
    /// More observation values than the hidden width's largest compiled
    /// size.
    Obs,
    /// An action size not compiled for the hidden width.
    Act,
    /// A hidden width not in the menu.
    Hidden,
}

/// Builds a learner at the size it is called with.
struct Build<'a> {
    spec: &'a Arc<EnvSpec>,
    cfg: RunConfig,
}

impl AtSize for Build<'_> {
    type Out = fixpo_host::Result<Box<dyn Model>>;
    fn at<const O: usize, const H: usize, const A: usize>(self) -> Self::Out
    where
        crate::file::Sizes: crate::file::RealSizes<O>,
    {
        let spec = Arc::clone(self.spec);
        let mut l = Learner::<PyEnv<O, A>, O, H, A>::new(move || PyEnv::new(&spec), self.cfg)?;
        // Python environments are stepped on the caller's thread (the GIL
        // makes several threads slower, not faster); the update stays
        // parallel.
        l.set_serial_collection(true);
        Ok(Box::new(l))
    }
}

/// A learner for `obs_dim` observations (padded), `act_dim` actions and
/// the configuration's hidden width.
///
/// # Errors
/// [`NoFit`] when no compiled size fits; the learner's own error when the
/// configuration is refused.
pub fn new_model(
    obs_dim: usize,
    act_dim: usize,
    spec: &Arc<EnvSpec>,
    cfg: RunConfig,
) -> Result<fixpo_host::Result<Box<dyn Model>>, NoFit> {
    let h = cfg.hidden;
    let g = group(h).ok_or(NoFit::Hidden)?;
    let o = padded_obs(obs_dim, h).ok_or(NoFit::Obs)?;
    if !g.act.contains(&act_dim) {
        return Err(NoFit::Act);
    }
    at_size(o, h, act_dim, Build { spec, cfg }).ok_or(NoFit::Act)
}

/// Passes everything on to `inner`, except that the run's policy file is
/// at the real observation size `real` (so a run directory's `policy.fxp`
/// is the stripped one, mid-run checkpoints included).
struct Stripping<'a, const O: usize, const H: usize, const A: usize> {
    inner: &'a mut dyn Observer,
    real: usize,
}

/// The run as [`Stripping`] shows it.
struct StrippedRun<'r, const O: usize, const H: usize, const A: usize> {
    run: &'r dyn RunState,
    real: usize,
}

impl<const O: usize, const H: usize, const A: usize> RunState for StrippedRun<'_, O, H, A>
where
    crate::file::Sizes: crate::file::RealSizes<O>,
{
    fn config(&self) -> &RunConfig {
        self.run.config()
    }

    fn policy_file(&self) -> fixpo_host::Result<Vec<u8>> {
        let padded = self.run.policy_file()?;
        let path = std::path::Path::new("<policy>");
        let actor = fixpo_core::file::decode::<O, H, A>(&padded).map_err(|source| {
            fixpo_host::HostError::PolicyFile {
                path: path.to_owned(),
                source,
            }
        })?;
        crate::file::encode_real(&actor, self.real).map_err(|reason| {
            fixpo_host::HostError::Mismatch {
                path: path.to_owned(),
                task: self.run.config().env.clone(),
                policy: format!("padded to {O} observations"),
                needed: format!("{} observations ({reason})", self.real),
            }
        })
    }

    fn checkpoint(&self) -> Option<CheckpointData> {
        self.run.checkpoint()
    }
}

impl<const O: usize, const H: usize, const A: usize> Observer for Stripping<'_, O, H, A>
where
    crate::file::Sizes: crate::file::RealSizes<O>,
{
    fn on_start(&mut self, c: &RunConfig, iter: u64, steps: u64) -> fixpo_host::Result<()> {
        self.inner.on_start(c, iter, steps)
    }

    fn on_iteration(&mut self, m: &IterMetrics, run: &dyn RunState) -> fixpo_host::Result<()> {
        let real = self.real;
        self.inner
            .on_iteration(m, &StrippedRun::<O, H, A> { run, real })
    }

    fn wants_updates(&self) -> bool {
        self.inner.wants_updates()
    }

    fn on_update(&mut self, u: &UpdateRecord) {
        self.inner.on_update(u);
    }

    fn stop_requested(&self) -> bool {
        self.inner.stop_requested()
    }

    fn on_end(&mut self, s: &TrainSummary, run: &dyn RunState) -> fixpo_host::Result<()> {
        let real = self.real;
        self.inner.on_end(s, &StrippedRun::<O, H, A> { run, real })
    }

    fn on_message(&mut self, msg: &str) {
        self.inner.on_message(msg);
    }
}
