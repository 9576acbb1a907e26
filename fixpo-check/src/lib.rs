//! # fixpo-check
//!
//! An independent checker of FixPO's trust-region guarantee: for the
//! behaviour actor `old` (which collected a batch) and the next deployed
//! actor `new`, at every raw observation `x` of the batch,
//!
//! ```text
//! D_KL(π_old(·|x) ‖ π_new(·|x)) ≤ ε_KL,
//! ```
//!
//! where each actor's distribution is the one defined by *exact* arithmetic
//! on its stored `f32` values. This crate stands in `f64` for exact
//! arithmetic and shares no maths with `fixpo-core`: it only reads the
//! public fields of [`Actor`](fixpo_core::actor::Actor) (policy kind,
//! network weights, log-std, observation statistics and clip) and
//! recomputes everything itself.
//!
//! What is computed, per actor, at a raw observation `x`:
//!
//! - normalisation: `z_i = clamp((x_i − mean_i) / √(var_i + c), −clip, clip)`
//!   with `c = 1e-8f32 as f64`;
//! - network: `h1 = tanh(b1 + Σ_j z_j·w1[j])`, `h2 = tanh(b2 + Σ_j h1_j·w2[j])`,
//!   `out = b3 + Σ_j h2_j·w3[j]`, in `f64` with [`libm::tanh`];
//! - Gaussian policies: mean `out`, standard deviation `exp(log_std)`;
//!   categorical policies: probabilities `softmax(out)`.
//!
//! Anything non-finite (an output, a KL) is a violation, never a pass.
//!
//! # Where to read what
//! - [`output_f64`], [`Deployed`] (`output.rs`): the normalisation and the
//!   network in `f64`.
//! - [`kl_f64`] (`kl.rs`): the divergence between two output vectors.
//! - [`audit`], [`audit_deployed`], [`Audit`] (`audit.rs`): the check over a
//!   batch of observations.
//! - [`Independent`] (`round.rs`): the check as fixpo-core's on-device
//!   adaptation round ([`fixpo_core::adapt`]) calls it after every update.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod audit;
mod kl;
mod output;
mod round;
#[cfg(test)]
mod testing;

pub use audit::{Audit, audit, audit_deployed};
pub use kl::kl_f64;
pub use output::{Deployed, output_f64};
pub use round::Independent;
