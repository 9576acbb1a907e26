//! Paces a control loop at a fixed period with an `embedded-hal` delay.

use core::fmt;
use embedded_hal::delay::DelayNs;

/// The work of one tick took at least a whole period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Overrun {
    /// Time the tick's work took, as reported by the caller.
    pub busy_ns: u32,
    /// The control period.
    pub period_ns: u32,
}

impl fmt::Display for Overrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "control tick overran: {} ns of work in a {} ns period",
            self.busy_ns, self.period_ns
        )
    }
}

impl core::error::Error for Overrun {}

/// A fixed control period, waited out with a [`DelayNs`].
///
/// A bare delay cannot see how long the tick's work took, so the caller
/// passes that in (from a cycle counter, or 0 when it has none, which makes
/// the loop period `period + work`). Keeping the clock outside keeps this
/// usable with any HAL.
///
/// ```
/// # use embedded_hal::delay::DelayNs;
/// # struct NoDelay; impl DelayNs for NoDelay { fn delay_ns(&mut self, _: u32) {} }
/// use fixpo_plant::ControlPeriod;
/// let mut period = ControlPeriod::from_hz(NoDelay, 50);
/// assert_eq!(period.period_ns(), 20_000_000);
/// assert!(period.wait(5_000_000).is_ok());
/// assert!(period.wait(25_000_000).is_err());
/// ```
#[derive(Debug)]
pub struct ControlPeriod<D> {
    delay: D,
    period_ns: u32,
}

impl<D: DelayNs> ControlPeriod<D> {
    /// A period of `period_ns` nanoseconds.
    ///
    /// # Panics
    /// If `period_ns` is 0 (a build-time constant, not user input).
    pub fn new(delay: D, period_ns: u32) -> Self {
        assert!(period_ns > 0, "control period must be > 0 ns");
        Self { delay, period_ns }
    }

    /// A period of `1 / hz` seconds, rounded to whole nanoseconds.
    ///
    /// # Panics
    /// If `hz` is 0 or above 1 GHz.
    pub fn from_hz(delay: D, hz: u32) -> Self {
        assert!(
            hz > 0 && hz <= 1_000_000_000,
            "control rate must be in 1..=1e9 Hz"
        );
        Self::new(delay, (1_000_000_000 + hz / 2) / hz)
    }

    /// The period in nanoseconds.
    pub fn period_ns(&self) -> u32 {
        self.period_ns
    }

    /// The period in seconds: the `dt` of the plant's dynamics.
    pub fn period_s(&self) -> f32 {
        self.period_ns as f32 * 1e-9
    }

    /// Waits for the rest of the period after `busy_ns` of work.
    ///
    /// # Errors
    /// [`Overrun`] if `busy_ns >= period`; then it returns at once, so the
    /// next tick starts late rather than later still.
    pub fn wait(&mut self, busy_ns: u32) -> Result<(), Overrun> {
        match self.period_ns.checked_sub(busy_ns) {
            Some(rest) if rest > 0 => {
                self.delay.delay_ns(rest);
                Ok(())
            }
            _ => Err(Overrun {
                busy_ns,
                period_ns: self.period_ns,
            }),
        }
    }

    /// Gives the delay back.
    pub fn release(self) -> D {
        self.delay
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_hal_mock::eh1::delay::{CheckedDelay, Transaction};

    #[test]
    fn waits_out_the_rest_of_the_period() {
        let mut delay = CheckedDelay::new(&[
            Transaction::delay_ns(10_000_000),
            Transaction::delay_ns(7_000_000),
        ]);
        let mut p = ControlPeriod::from_hz(delay.clone(), 100);
        assert_eq!(p.period_ns(), 10_000_000);
        assert!((p.period_s() - 0.01).abs() < 1e-9);
        p.wait(0).unwrap();
        p.wait(3_000_000).unwrap();
        delay.done();
    }

    #[test]
    fn overrun_does_not_delay() {
        let mut delay = CheckedDelay::new(&[]);
        let mut p = ControlPeriod::new(delay.clone(), 1_000);
        assert_eq!(
            p.wait(1_000),
            Err(Overrun {
                busy_ns: 1_000,
                period_ns: 1_000
            })
        );
        assert_eq!(
            p.wait(5_000),
            Err(Overrun {
                busy_ns: 5_000,
                period_ns: 1_000
            })
        );
        delay.done();
    }

    #[test]
    fn from_hz_rounds_to_nearest_ns() {
        // (hz, period_ns)
        for (hz, ns) in [
            (1, 1_000_000_000),
            (3, 333_333_333),
            (7, 142_857_143),
            (1_000_000_000, 1),
        ] {
            let p = ControlPeriod::from_hz(CheckedDelay::new(&[]), hz);
            assert_eq!(p.period_ns(), ns, "{hz} Hz");
            p.release().done();
        }
    }

    #[test]
    #[should_panic(expected = "control rate")]
    fn zero_rate_is_rejected() {
        let _ = ControlPeriod::from_hz(CheckedDelay::new(&[]), 0);
    }
}
