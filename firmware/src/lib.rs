//! The board-agnostic part of the fixpo firmware: everything but the chip.
//!
//! A board crate under `firmware/boards/` (see firmware/README.md, "Adding
//! a board") brings the start-up code, the memory map (with the `.policy`
//! region, see [`policy`]), the defmt transport, the panic handler and the
//! peripherals; this library brings the rest:
//!
//! - [`control`]: the control step (`ActionSource`), the network shape of
//!   this build and the zero-action fallback;
//! - [`policy`]: the policy region in flash;
//! - [`boot`]: loading a policy file straight into the learner
//!   (`fixpo_core::adapt::load`: a version-2 file's critic comes with it),
//!   staging the controller, the 100-point bit-exactness report, the
//!   simulated fallback run, adaptation at boot on any plant;
//! - [`mem`]: all large memory in statics, and the stack high-water mark;
//! - [`adapt`]: on-device adaptation: rounds of fixpo-core's
//!   `adapt::Adapter` on any plant, each update checked by
//!   `fixpo_check::Independent` and reverted if the check fails, under the
//!   cumulative bound ε_total, with fixed evaluations, rollback and writes
//!   of accepted policies ([`adapt::Safety`]); this module only logs and
//!   picks settings;
//! - [`persist`]: the policy store (`fixpo-store`) at boot and during
//!   adaptation: provisioning the factory record, loading the newest
//!   committed policy, writes and rollbacks;
//! - [`plant`]: the simulated pendulum behind embedded-hal 1.0 (QEMU);
//! - [`hw`]: the real pendulum behind embedded-hal 1.0 (fixpo-plant's
//!   AS5600 encoder and PWM motor), paced by a hardware timer, feeding a
//!   watchdog, stopping the motor on any fault.
//!
//! The library logs through `defmt` and never picks its transport.
#![no_std]

pub mod adapt;
pub mod boot;
pub mod control;
pub mod hw;
pub mod link;
pub mod mem;
pub mod persist;
pub mod plant;
pub mod policy;
pub mod serve;
