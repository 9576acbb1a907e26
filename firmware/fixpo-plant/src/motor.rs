//! Torque command → PWM duty cycle + direction pin (sign/magnitude drive,
//! e.g. an H-bridge with a PWM input and a DIR input).

use core::fmt;
use embedded_hal::digital::OutputPin;
use embedded_hal::pwm::SetDutyCycle;

/// Which way the motor is driven.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Direction {
    /// Positive torque: DIR pin high (low if inverted).
    Forward,
    /// Negative torque: DIR pin low (high if inverted).
    Reverse,
}

/// What [`Motor::apply`] put on the pins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Drive {
    /// Duty cycle written, `0..=max_duty_cycle()`.
    pub duty: u16,
    /// Direction the DIR pin now selects.
    pub direction: Direction,
    /// The command was outside `[-max, max]` (or not finite) and was limited.
    pub limited: bool,
}

/// Why driving the motor failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum MotorError<P, D> {
    /// Setting the PWM duty cycle failed.
    Pwm(P),
    /// Setting the direction pin failed.
    Pin(D),
}

impl<P: fmt::Debug, D: fmt::Debug> fmt::Display for MotorError<P, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pwm(e) => write!(f, "motor PWM error: {e:?}"),
            Self::Pin(e) => write!(f, "motor direction pin error: {e:?}"),
        }
    }
}

impl<P: fmt::Debug, D: fmt::Debug> core::error::Error for MotorError<P, D> {}

/// A motor driven by one PWM channel (magnitude) and one pin (direction).
#[derive(Debug)]
pub struct Motor<P, D> {
    pwm: P,
    dir: D,
    max_torque: f32,
    inverted: bool,
    /// Direction last written to the pin; `None` until the first write.
    direction: Option<Direction>,
    /// Duty cycle last written; `None` until the first write.
    duty: Option<u16>,
}

type Error<P, D> = MotorError<
    <P as embedded_hal::pwm::ErrorType>::Error,
    <D as embedded_hal::digital::ErrorType>::Error,
>;

impl<P: SetDutyCycle, D: OutputPin> Motor<P, D> {
    /// Wraps a PWM channel and a direction pin; `max_torque` is the command
    /// that maps to 100 % duty. Writes nothing until the first command.
    ///
    /// # Panics
    /// If `max_torque` is not finite and positive (a build-time constant,
    /// not user input).
    pub fn new(pwm: P, dir: D, max_torque: f32) -> Self {
        assert!(
            max_torque.is_finite() && max_torque > 0.0,
            "max_torque must be finite and > 0"
        );
        Self {
            pwm,
            dir,
            max_torque,
            inverted: false,
            direction: None,
            duty: None,
        }
    }

    /// Swaps the DIR pin's meaning, for a motor wired the other way round.
    pub fn inverted(mut self) -> Self {
        self.inverted = true;
        self
    }

    /// The command that maps to full duty.
    pub fn max_torque(&self) -> f32 {
        self.max_torque
    }

    /// Gives the PWM channel and the pin back.
    pub fn release(self) -> (P, D) {
        (self.pwm, self.dir)
    }

    /// Maps `torque` to duty and direction without touching the hardware.
    /// Commands beyond `±max_torque` are clamped; NaN or ±inf give zero duty
    /// (the safe action), flagged as `limited`.
    pub fn plan(&self, torque: f32) -> Drive {
        let max_duty = self.pwm.max_duty_cycle();
        let keep = self.direction.unwrap_or(Direction::Forward);
        if !torque.is_finite() {
            return Drive {
                duty: 0,
                direction: keep,
                limited: true,
            };
        }
        let magnitude = if torque < 0.0 { -torque } else { torque };
        let limited = magnitude > self.max_torque;
        let fraction = (magnitude / self.max_torque).min(1.0);
        // Round to nearest; `as` saturates, `min` guards the rounding edge.
        let duty = ((fraction * f32::from(max_duty) + 0.5) as u16).min(max_duty);
        let direction = if duty == 0 {
            // Zero torque: leave the pin where it is, no needless toggling.
            keep
        } else if torque > 0.0 {
            Direction::Forward
        } else {
            Direction::Reverse
        };
        Drive {
            duty,
            direction,
            limited,
        }
    }

    /// Drives the motor with `torque` (see [`Self::plan`] for the mapping).
    /// On a direction change (and before the first pin write) the duty is
    /// set to zero before the pin flips, so the bridge never sees the old
    /// magnitude in the new direction. Unchanged values are not rewritten.
    ///
    /// # Errors
    /// The PWM's or the pin's error; the motor may then be in either state.
    pub fn apply(&mut self, torque: f32) -> Result<Drive, Error<P, D>> {
        let drive = self.plan(torque);
        if self.direction != Some(drive.direction) {
            if self.duty != Some(0) {
                self.write_duty(0)?;
            }
            let high = (drive.direction == Direction::Forward) != self.inverted;
            if high {
                self.dir.set_high().map_err(MotorError::Pin)?;
            } else {
                self.dir.set_low().map_err(MotorError::Pin)?;
            }
            self.direction = Some(drive.direction);
        }
        if self.duty != Some(drive.duty) {
            self.write_duty(drive.duty)?;
        }
        Ok(drive)
    }

    /// Sets zero duty.
    ///
    /// # Errors
    /// The PWM's error.
    pub fn stop(&mut self) -> Result<(), Error<P, D>> {
        self.write_duty(0)
    }

    fn write_duty(&mut self, duty: u16) -> Result<(), Error<P, D>> {
        self.pwm.set_duty_cycle(duty).map_err(MotorError::Pwm)?;
        self.duty = Some(duty);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::MockError;
    use embedded_hal_mock::eh1::digital::{Mock as PinMock, State, Transaction as PinTx};
    use embedded_hal_mock::eh1::pwm::{Mock as PwmMock, Transaction as PwmTx};

    const MAX_DUTY: u16 = 1000;

    fn io_err() -> MockError {
        MockError::Io(std::io::ErrorKind::NotConnected)
    }

    fn motor(pwm: &[PwmTx], pin: &[PinTx]) -> Motor<PwmMock, PinMock> {
        Motor::new(PwmMock::new(pwm), PinMock::new(pin), 2.0)
    }

    fn finish(m: Motor<PwmMock, PinMock>) {
        let (mut pwm, mut pin) = m.release();
        pwm.done();
        pin.done();
    }

    #[test]
    fn plan_maps_torque_to_duty() {
        // (torque, duty, direction, limited) with max_torque 2.0, max duty 1000.
        let table = [
            (0.0f32, 0u16, Direction::Forward, false),
            (1.0, 500, Direction::Forward, false),
            (-1.0, 500, Direction::Reverse, false),
            (2.0, 1000, Direction::Forward, false),
            (-2.0, 1000, Direction::Reverse, false),
            (5.0, 1000, Direction::Forward, true),
            (-5.0, 1000, Direction::Reverse, true),
            (0.0011, 1, Direction::Forward, false), // 0.55 rounds up
            (0.0009, 0, Direction::Forward, false), // 0.45 rounds down
            (f32::NAN, 0, Direction::Forward, true),
            (f32::INFINITY, 0, Direction::Forward, true),
            (f32::NEG_INFINITY, 0, Direction::Forward, true),
        ];
        let mut pwm = PwmMock::new(&vec![PwmTx::max_duty_cycle(MAX_DUTY); 12]);
        let m = Motor::new(pwm.clone(), PinMock::new(&[]), 2.0);
        for (torque, duty, direction, limited) in table {
            assert_eq!(
                m.plan(torque),
                Drive {
                    duty,
                    direction,
                    limited
                },
                "torque {torque}"
            );
        }
        pwm.done();
        m.release().1.done();
    }

    #[test]
    fn first_command_zeroes_duty_sets_pin_then_duty() {
        let mut m = motor(
            &[
                PwmTx::max_duty_cycle(MAX_DUTY),
                PwmTx::set_duty_cycle(0),
                PwmTx::set_duty_cycle(750),
            ],
            &[PinTx::set(State::High)],
        );
        let d = m.apply(1.5).unwrap();
        assert_eq!(d.duty, 750);
        assert_eq!(d.direction, Direction::Forward);
        finish(m);
    }

    #[test]
    fn stop_writes_zero_duty() {
        let mut m = motor(&[PwmTx::set_duty_cycle(0)], &[]);
        m.stop().unwrap();
        finish(m);
    }

    #[test]
    fn reversal_zeroes_duty_before_flipping_pin() {
        let mut m = motor(
            &[
                PwmTx::max_duty_cycle(MAX_DUTY),
                PwmTx::set_duty_cycle(0),
                PwmTx::set_duty_cycle(500),
                PwmTx::max_duty_cycle(MAX_DUTY),
                PwmTx::set_duty_cycle(0),
                PwmTx::set_duty_cycle(250),
            ],
            &[PinTx::set(State::High), PinTx::set(State::Low)],
        );
        m.apply(1.0).unwrap();
        let d = m.apply(-0.5).unwrap();
        assert_eq!(
            d,
            Drive {
                duty: 250,
                direction: Direction::Reverse,
                limited: false
            }
        );
        finish(m);
    }

    #[test]
    fn same_direction_only_updates_duty_when_it_changes() {
        let mut m = motor(
            &[
                PwmTx::max_duty_cycle(MAX_DUTY),
                PwmTx::set_duty_cycle(0),
                PwmTx::set_duty_cycle(500),
                PwmTx::max_duty_cycle(MAX_DUTY),
                // same duty again: no write
                PwmTx::max_duty_cycle(MAX_DUTY),
                PwmTx::set_duty_cycle(1000),
            ],
            &[PinTx::set(State::High)],
        );
        m.apply(1.0).unwrap();
        m.apply(1.0).unwrap();
        assert!(m.apply(3.0).unwrap().limited);
        finish(m);
    }

    #[test]
    fn nan_command_stops_motor_without_toggling_pin() {
        let mut m = motor(
            &[
                PwmTx::max_duty_cycle(MAX_DUTY),
                PwmTx::set_duty_cycle(0),
                PwmTx::set_duty_cycle(500),
                PwmTx::max_duty_cycle(MAX_DUTY),
                PwmTx::set_duty_cycle(0),
            ],
            &[PinTx::set(State::Low)],
        );
        m.apply(-1.0).unwrap();
        let d = m.apply(f32::NAN).unwrap();
        assert_eq!(
            d,
            Drive {
                duty: 0,
                direction: Direction::Reverse,
                limited: true
            }
        );
        finish(m);
    }

    #[test]
    fn inverted_wiring_flips_pin_level() {
        let mut m = Motor::new(
            PwmMock::new(&[
                PwmTx::max_duty_cycle(MAX_DUTY),
                PwmTx::set_duty_cycle(0),
                PwmTx::set_duty_cycle(500),
            ]),
            PinMock::new(&[PinTx::set(State::Low)]),
            2.0,
        )
        .inverted();
        assert_eq!(m.apply(1.0).unwrap().direction, Direction::Forward);
        finish(m);
    }

    #[test]
    fn errors_are_typed() {
        let mut m = motor(
            &[
                PwmTx::max_duty_cycle(MAX_DUTY),
                PwmTx::set_duty_cycle(0),
                PwmTx::set_duty_cycle(500).with_error(io_err()),
            ],
            &[PinTx::set(State::High)],
        );
        assert_eq!(m.apply(1.0), Err(MotorError::Pwm(io_err())));
        finish(m);

        let mut m = motor(
            &[PwmTx::max_duty_cycle(MAX_DUTY), PwmTx::set_duty_cycle(0)],
            &[PinTx::set(State::High).with_error(io_err())],
        );
        assert_eq!(m.apply(1.0), Err(MotorError::Pin(io_err())));
        finish(m);
    }

    #[test]
    #[should_panic(expected = "max_torque")]
    fn zero_max_torque_is_rejected() {
        let _ = Motor::new(PwmMock::new(&[]), PinMock::new(&[]), 0.0);
    }
}
