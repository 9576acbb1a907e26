//! Board-independent plant I/O for the fixpo firmware.
//!
//! The firmware reaches the physical plant only through `embedded-hal` 1.0
//! traits, so everything here is generic over a bus or pin and is unit-tested
//! on the host with `embedded-hal-mock`:
//!
//! - [`As5600`]: AS5600-style 12-bit magnetic angle encoder on an I²C bus.
//! - [`Motor`]: a torque command in `[-max, max]` mapped to a PWM duty cycle
//!   and a direction pin.
//! - [`ControlPeriod`]: paces a control loop with a `DelayNs`.
//! - [`AngleTracker`]: turns successive encoder readings into an unwrapped
//!   angle and an angular velocity, the observation a pendulum policy needs.
//!
//! Nothing here depends on `cortex-m`; the firmware binary picks the board.
//!
//! ```
//! use fixpo_plant::{raw_to_radians, RAW_COUNTS};
//! let quarter = raw_to_radians((RAW_COUNTS / 4) as u16);
//! assert!((quarter - core::f32::consts::FRAC_PI_2).abs() < 1e-6);
//! ```
#![cfg_attr(not(test), no_std)]

mod as5600;
mod motor;
mod pacing;
mod tracker;

pub use as5600::{As5600, EncoderError, MagnetStatus, RAW_COUNTS, raw_to_radians};
pub use motor::{Direction, Drive, Motor, MotorError};
pub use pacing::{ControlPeriod, Overrun};
pub use tracker::AngleTracker;
