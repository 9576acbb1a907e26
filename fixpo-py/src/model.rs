//! The menu of compiled sizes and one type-erased learner over it.
//!
//! Sizes are const generics in fixpo, so the Python package ships a menu:
//! observations are zero-padded up to the next [`OBS_SIZES`] entry (exact:
//! observation normalisation maps a constant 0 to 0, so a padded input
//! never moves the policy), action dimensions and hidden widths must be
//! in [`ACT_SIZES`] and [`HIDDEN_SIZES`] exactly. Each entry compiles the
//! whole trainer once, so the menu is what keeps build times in check.

use crate::env::{EnvSpec, PyEnv};
use fixpo_core::rng::Pcg32;
use fixpo_host::checkpoint::CheckpointData;
use fixpo_host::config::RunConfig;
use fixpo_host::metrics::IterMetrics;
use fixpo_host::observe::UpdateRecord;
use fixpo_host::{Learner, Observer, RunState, TrainSummary};
use std::sync::Arc;

/// Declares the menu once: the lists and the dispatch over them.
macro_rules! menu {
    (obs: [$($o:literal),*]; act: $acts:tt; hidden: $hids:tt) => {
        /// Compiled observation sizes (an environment's observation is
        /// zero-padded up to the first that holds it).
        pub const OBS_SIZES: &[usize] = &[$($o),*];
        /// Compiled action sizes (Box dimensions, or Discrete choices).
        pub const ACT_SIZES: &[usize] = &$acts;
        /// Compiled hidden-layer widths (the `hidden` setting).
        pub const HIDDEN_SIZES: &[usize] = &$hids;

        fn dispatch_obs(o: usize, a: usize, h: usize, spec: &Arc<EnvSpec>, cfg: RunConfig)
            -> Option<fixpo_host::Result<Box<dyn Model>>> {
            match o {
                $( $o => menu!(@act $o, a, h, spec, cfg, $acts, $hids), )*
                _ => None,
            }
        }
    };
    (@act $o:literal, $a:ident, $h:ident, $spec:ident, $cfg:ident, [$($act:literal),*], $hids:tt) => {
        match $a {
            $( $act => menu!(@hidden $o, $act, $h, $spec, $cfg, $hids), )*
            _ => None,
        }
    };
    (@hidden $o:literal, $act:literal, $h:ident, $spec:ident, $cfg:ident, [$($hid:literal),*]) => {
        match $h {
            $( $hid => Some(build::<$o, $hid, $act>($spec, $cfg)), )*
            _ => None,
        }
    };
}

menu!(obs: [4, 8]; act: [1, 2]; hidden: [32, 64]);

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
}

impl<const O: usize, const H: usize, const A: usize> Model for Learner<PyEnv<O, A>, O, H, A> {
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
}

fn build<const O: usize, const H: usize, const A: usize>(
    spec: &Arc<EnvSpec>,
    cfg: RunConfig,
) -> fixpo_host::Result<Box<dyn Model>> {
    let spec = Arc::clone(spec);
    let mut l = Learner::<PyEnv<O, A>, O, H, A>::new(move || PyEnv::new(&spec), cfg)?;
    // Python environments are stepped on the caller's thread (the GIL
    // makes several threads slower, not faster); the update stays parallel.
    l.set_serial_collection(true);
    Ok(Box::new(l))
}

/// Why no compiled size fits.
#[derive(Debug)]
pub enum NoFit {
    /// More observation values than the largest compiled size.
    Obs,
    /// An action size not in [`ACT_SIZES`].
    Act,
    /// A hidden width not in [`HIDDEN_SIZES`].
    Hidden,
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
    let o = *OBS_SIZES
        .iter()
        .find(|&&o| o >= obs_dim)
        .ok_or(NoFit::Obs)?;
    if !ACT_SIZES.contains(&act_dim) {
        return Err(NoFit::Act);
    }
    if !HIDDEN_SIZES.contains(&cfg.hidden) {
        return Err(NoFit::Hidden);
    }
    let h = cfg.hidden;
    dispatch_obs(o, act_dim, h, spec, cfg).ok_or(NoFit::Act)
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

impl<const O: usize, const H: usize, const A: usize> RunState for StrippedRun<'_, O, H, A> {
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

impl<const O: usize, const H: usize, const A: usize> Observer for Stripping<'_, O, H, A> {
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
