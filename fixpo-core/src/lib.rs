//! # fixpo-core
//!
//! FixPO (Fixup Policy Optimization, arXiv 2312.05405) without an allocator:
//! fixed-size tanh MLP policies and value functions, closed-form KL
//! divergences, the β controller, the fixup phase and the policy file format.
//! The same code trains on a desktop and fine-tunes on a Cortex-M4F.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod actor;
pub mod adapt;
pub mod dist;
pub mod env;
pub mod envs;
pub mod file;
pub mod fixpo;
pub mod gae;
pub mod learn;
pub mod linalg;
pub mod mlp;
pub mod norm;
pub mod optim;
pub mod params;
pub mod policy;
pub mod rng;
pub mod rollout;
pub mod trust;

pub use actor::Actor;
pub use dist::PolicyKind;
pub use env::{ActionSpace, Env, Step};
pub use file::FileError;
pub use fixpo::{Algo, Backend, Config, Serial, Trainer, Transition, UpdateError, UpdateReport};
pub use mlp::{BLOCK, Mlp, MlpBlock, MlpCache};
pub use norm::{ObsNorm, RunningMeanStd};
pub use params::Params;
pub use policy::{Policy, Value};
