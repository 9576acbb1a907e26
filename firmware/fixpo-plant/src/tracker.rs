//! Encoder readings → unwrapped angle and angular velocity.

use crate::as5600::{RAW_COUNTS, raw_to_radians};

const HALF_TURN: i32 = (RAW_COUNTS / 2) as i32;
const RAD_PER_COUNT: f32 = core::f32::consts::TAU / RAW_COUNTS as f32;

/// Tracks a 12-bit absolute encoder across wrap-arounds and estimates the
/// angular velocity by finite differences over a fixed control period.
///
/// Between two readings the shaft must turn less than half a revolution
/// (e.g. < 50 rev/s at 100 Hz), otherwise the direction is ambiguous.
///
/// ```
/// use fixpo_plant::AngleTracker;
/// let mut t = AngleTracker::new(0, 0.01);
/// t.update(4090);          // first reading: velocity 0
/// let (angle, vel) = t.update(6); // wrapped forward by 12 counts
/// assert!(angle > 0.0 && vel > 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AngleTracker {
    zero: u16,
    dt: f32,
    last_raw: Option<u16>,
    /// Counts since the zero, unwrapped.
    counts: i32,
    velocity: f32,
}

impl AngleTracker {
    /// A tracker whose angle 0 is at raw reading `zero`, fed every `dt`
    /// seconds.
    ///
    /// # Panics
    /// If `dt` is not finite and positive (a build-time constant).
    pub fn new(zero: u16, dt: f32) -> Self {
        assert!(dt.is_finite() && dt > 0.0, "dt must be finite and > 0");
        Self {
            zero: zero & 0x0FFF,
            dt,
            last_raw: None,
            counts: 0,
            velocity: 0.0,
        }
    }

    /// Feeds one raw reading; returns `(angle, velocity)` in rad and rad/s.
    /// The first reading sets the turn count from the zero and velocity 0.
    pub fn update(&mut self, raw: u16) -> (f32, f32) {
        let raw = raw & 0x0FFF;
        match self.last_raw {
            None => {
                self.counts = wrap_counts(i32::from(raw) - i32::from(self.zero));
                self.velocity = 0.0;
            }
            Some(last) => {
                let delta = wrap_counts(i32::from(raw) - i32::from(last));
                self.counts = self.counts.wrapping_add(delta);
                self.velocity = delta as f32 * RAD_PER_COUNT / self.dt;
            }
        }
        self.last_raw = Some(raw);
        (self.angle(), self.velocity)
    }

    /// Unwrapped angle from the zero, rad (continuous across turns).
    pub fn angle(&self) -> f32 {
        self.counts as f32 * RAD_PER_COUNT
    }

    /// Angle from the zero wrapped to `[-π, π)`, rad.
    pub fn wrapped_angle(&self) -> f32 {
        wrap_counts(self.counts.rem_euclid(RAW_COUNTS as i32)) as f32 * RAD_PER_COUNT
    }

    /// Last velocity estimate, rad/s.
    pub fn velocity(&self) -> f32 {
        self.velocity
    }

    /// Raw reading of the zero, and its angle in `[0, 2π)`.
    pub fn zero(&self) -> (u16, f32) {
        (self.zero, raw_to_radians(self.zero))
    }
}

/// Maps a count difference to the shortest way round, `[-2048, 2048)`.
fn wrap_counts(delta: i32) -> i32 {
    (delta + HALF_TURN).rem_euclid(RAW_COUNTS as i32) - HALF_TURN
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::f32::consts::{FRAC_PI_2, PI};

    const TOL: f32 = 1e-5;

    #[test]
    fn wrap_counts_takes_shortest_way() {
        // (delta, wrapped)
        for (d, w) in [
            (0, 0),
            (5, 5),
            (-5, -5),
            (4090, -6),
            (-4090, 6),
            (2047, 2047),
            (2048, -2048),
            (-2048, -2048),
        ] {
            assert_eq!(wrap_counts(d), w, "delta {d}");
        }
    }

    #[test]
    fn first_reading_is_relative_to_zero() {
        let mut t = AngleTracker::new(1024, 0.01);
        let (a, v) = t.update(2048);
        assert!((a - FRAC_PI_2).abs() < TOL);
        assert_eq!(v, 0.0);
        let mut t = AngleTracker::new(1024, 0.01);
        let (a, _) = t.update(0);
        assert!((a + FRAC_PI_2).abs() < TOL);
    }

    #[test]
    fn unwraps_across_zero_and_estimates_velocity() {
        let dt = 0.01;
        let mut t = AngleTracker::new(0, dt);
        t.update(4000);
        let (a, v) = t.update(100); // +196 counts across the wrap
        let step = 196.0 * RAD_PER_COUNT;
        assert!((a - (-96.0 * RAD_PER_COUNT + step)).abs() < TOL);
        assert!((v - step / dt).abs() < 1e-3);
        // Keep turning forward for two full turns: angle keeps growing.
        let mut raw = 100u16;
        for _ in 0..(2 * 4096 / 512) {
            raw = (raw + 512) % 4096;
            t.update(raw);
        }
        assert!((t.angle() - (100.0 * RAD_PER_COUNT + 2.0 * 2.0 * PI)).abs() < 1e-4);
        assert!((t.velocity() - 512.0 * RAD_PER_COUNT / dt).abs() < 1e-2);
        assert!((t.wrapped_angle() - 100.0 * RAD_PER_COUNT).abs() < TOL);
    }

    #[test]
    fn wrapped_angle_is_in_minus_pi_to_pi() {
        let mut t = AngleTracker::new(0, 0.01);
        for raw in (0..4096).step_by(97) {
            t.update(raw);
            let w = t.wrapped_angle();
            assert!((-PI..PI).contains(&w), "raw {raw}: {w}");
        }
    }
}
