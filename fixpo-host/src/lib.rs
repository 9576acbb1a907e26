//! # fixpo-host
//!
//! The desktop half of fixpo: training FixPO policies on the built-in tasks
//! with environments stepped in parallel, evaluation, policy-file
//! inspection, learning-curve plots and a throughput benchmark. The `fixpo`
//! binary is a thin command line over this library.
//!
//! All the maths — networks, KL, β, the fixup phase, GAE, normalisation —
//! is `fixpo-core`'s; this crate only orchestrates it: it runs the core's
//! rollout collection on many environments at once ([`train`]), splits the
//! update's minibatch kernels across cores ([`backend::RayonBackend`]),
//! and saves and restores the state of a run ([`checkpoint`]).
//!
//! ```no_run
//! use fixpo_host::config::RunConfig;
//! use fixpo_host::train::{train, Silent, TrainOptions};
//!
//! let cfg = RunConfig::resolve(Some("pendulum"), None, &["total_steps=20000".into()])?;
//! let summary = train(&TrainOptions::new(cfg, Some("runs/demo".into())), &mut Silent)?;
//! println!("final eval return {:?}", summary.last_eval);
//! # Ok::<(), fixpo_host::HostError>(())
//! ```
#![deny(unsafe_code)]
#![deny(missing_docs)]

pub mod backend;
pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod io;
pub mod metrics;
#[cfg(feature = "mujoco")]
pub mod mujoco;
pub mod plot;
pub mod policy;
pub mod simd;
pub mod tasks;
pub mod train;

pub use error::{HostError, Result};
