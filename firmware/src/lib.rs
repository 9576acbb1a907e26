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
//! - [`boot`]: decoding a policy with fixpo-core's decoder, the 100-point
//!   bit-exactness report, the simulated fallback run;
//! - [`mem`]: all large memory in statics, and the stack high-water mark;
//! - [`adapt`]: on-device adaptation (fixpo-core's training iteration on a
//!   plant, with an independent trust-region check after each update);
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
pub mod mem;
pub mod plant;
pub mod policy;
