//! # fixpo-host
//!
//! The desktop half of fixpo: training FixPO policies on any environment
//! with environments stepped in parallel, evaluation, policy-file
//! inspection, learning-curve plots, a throughput benchmark and the link to
//! a controller ([`device`]: push, pull, adapt on device). The `fixpo`
//! binary is a thin command line over this library.
//!
//! All the maths — networks, KL, β, the fixup phase, GAE, normalisation,
//! the training iteration — is `fixpo-core`'s; this crate runs it on many
//! environments at once ([`Learner`]), splits the update's minibatch
//! kernels across cores ([`backend::RayonBackend`]), keeps the registry of
//! built-in tasks ([`tasks`]) and saves and restores runs ([`checkpoint`],
//! [`train::RunDir`]). `docs/architecture.md` maps it all.
//!
//! Train your own environment (any [`fixpo_core::Env`]):
//!
//! ```no_run
//! use fixpo_core::envs::CartPole;
//! use fixpo_host::config::RunConfig;
//! use fixpo_host::{Learner, Silent};
//!
//! let mut cfg = RunConfig::preset("cartpole")?;
//! cfg.total_steps = 20_000;
//! let mut learner = Learner::<_, 4, 32, 2>::new(CartPole::new, cfg)?;
//! let summary = learner.run(&mut Silent)?;
//! std::fs::write("cartpole.fxp", learner.policy_file()?)?;
//! println!("final eval return {:?}", summary.last_eval);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Or a built-in task into a run directory, as `fixpo train` does:
//!
//! ```no_run
//! use fixpo_host::config::RunConfig;
//! use fixpo_host::train::{train, TrainOptions};
//!
//! let cfg = RunConfig::resolve(Some("pendulum"), None, &["total_steps=20000".into()])?;
//! let summary = train(&TrainOptions::new(cfg, Some("runs/demo".into())), &mut fixpo_host::Silent)?;
//! println!("final eval return {:?}", summary.last_eval);
//! # Ok::<(), fixpo_host::HostError>(())
//! ```
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod device;
pub mod error;
pub mod io;
pub mod learner;
pub mod metrics;
#[cfg(feature = "mujoco")]
pub mod mujoco;
pub mod observe;
pub mod plot;
pub mod policy;
pub mod presets;
pub mod progress;
pub mod simd;
pub mod tasks;
pub mod train;

pub use error::{HostError, Result};
pub use learner::{Learner, Observer, RunState, Silent, TrainSummary};
