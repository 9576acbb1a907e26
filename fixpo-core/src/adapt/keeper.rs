//! What a device does after a fixed evaluation of its adapted policy:
//! persist it (a new best), roll back to the best persisted policy (the
//! return fell more than a margin below it), or go on. Pure decisions: the
//! caller evaluates, writes the store and restores from it, so the same
//! [`Keeper`] drives the firmware (flash) and the host tests (a mock).
//!
//! ```
//! use fixpo_core::adapt::{Decision, Keeper};
//!
//! let mut keeper = Keeper::new(50.0, 1);
//! assert_eq!(keeper.judge(-600.0), Decision::Reference); // the deployed policy
//! keeper.updated();
//! assert_eq!(keeper.judge(-550.0), Decision::Persist); // a new best
//! keeper.persisted(-550.0);
//! keeper.updated();
//! assert_eq!(keeper.judge(-580.0), Decision::Continue); // within the margin
//! keeper.updated();
//! assert_eq!(keeper.judge(-700.0), Decision::Rollback { best: -550.0 });
//! keeper.rolled_back();
//! // The restored policy's return on the plant as it is now is the new
//! // reference (the plant may have changed: that is often why).
//! assert_eq!(keeper.judge(-690.0), Decision::Reference);
//! ```

/// What to do after an evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Decision {
    /// The first evaluation (or the first after a rollback): its return is
    /// the reference the next ones are judged against. The policy is the
    /// one already in the store.
    Reference,
    /// A return above the best persisted one (by more than
    /// [`Keeper::min_gain`]), after enough updates since the last write:
    /// persist this policy (then call
    /// [`Keeper::persisted`]).
    Persist,
    /// The return fell more than the margin below the best persisted
    /// policy's (or is not finite): restore that policy from the store
    /// (then call [`Keeper::rolled_back`]).
    Rollback {
        /// The best persisted return.
        best: f32,
    },
    /// None of these.
    Continue,
}

/// Best-policy bookkeeping for persistence and rollback.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Keeper {
    /// How far (in return) below the best persisted return an evaluation
    /// may fall before a rollback.
    pub margin: f32,
    /// Accepted updates between two writes at least (the write rate; flash
    /// wears with every write).
    pub persist_every: u32,
    /// How much an evaluation must beat the best persisted return by to
    /// be persisted (0: any gain; negative: also a policy slightly worse,
    /// down to the margin, which keeps the store close to what runs).
    pub min_gain: f32,
    best: Option<f32>,
    since_write: u32,
}

impl Keeper {
    /// A keeper with no reference yet, persisting any gain.
    pub const fn new(margin: f32, persist_every: u32) -> Self {
        Self {
            margin,
            persist_every,
            min_gain: 0.0,
            best: None,
            since_write: 0,
        }
    }

    /// The best persisted return (the reference), if any.
    pub fn best(&self) -> Option<f32> {
        self.best
    }

    /// Counts one accepted update since the last write.
    pub fn updated(&mut self) {
        self.since_write = self.since_write.saturating_add(1);
    }

    /// Judges an evaluation's mean return `ret`.
    pub fn judge(&mut self, ret: f32) -> Decision {
        let Some(best) = self.best else {
            if ret.is_finite() {
                self.best = Some(ret);
                self.since_write = 0;
            }
            return Decision::Reference;
        };
        if ret.is_nan() || ret < best - self.margin {
            Decision::Rollback { best }
        } else if ret > best + self.min_gain && self.since_write >= self.persist_every.max(1) {
            Decision::Persist
        } else {
            Decision::Continue
        }
    }

    /// The policy that returned `ret` was persisted: it is the new best.
    pub fn persisted(&mut self, ret: f32) {
        self.best = Some(ret);
        self.since_write = 0;
    }

    /// The best persisted policy was restored: the next evaluation is the
    /// new reference.
    pub fn rolled_back(&mut self) {
        self.best = None;
        self.since_write = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_only_improvements_at_the_write_rate() {
        let mut k = Keeper::new(10.0, 3);
        assert_eq!(k.judge(-100.0), Decision::Reference);
        for (ret, want) in [(-90.0, Decision::Continue), (-80.0, Decision::Continue)] {
            k.updated();
            assert_eq!(k.judge(ret), want, "too soon after the reference");
        }
        k.updated();
        assert_eq!(k.judge(-80.0), Decision::Persist);
        k.persisted(-80.0);
        k.updated();
        k.updated();
        k.updated();
        assert_eq!(k.judge(-80.0), Decision::Continue, "equal is no gain");
        assert_eq!(k.judge(-90.0), Decision::Continue, "inside the margin");
        assert_eq!(k.judge(-90.5), Decision::Rollback { best: -80.0 });
    }

    #[test]
    fn a_negative_min_gain_persists_what_stays_within_the_margin() {
        let mut k = Keeper::new(10.0, 1);
        k.min_gain = -5.0;
        assert_eq!(k.judge(-100.0), Decision::Reference);
        k.updated();
        assert_eq!(k.judge(-104.0), Decision::Persist);
        k.persisted(-104.0);
        k.updated();
        assert_eq!(k.judge(-109.5), Decision::Continue);
        assert_eq!(k.judge(-114.5), Decision::Rollback { best: -104.0 });
    }

    #[test]
    fn a_nan_return_rolls_back_and_a_nan_reference_is_not_kept() {
        let mut k = Keeper::new(10.0, 1);
        assert_eq!(k.judge(f32::NAN), Decision::Reference);
        assert_eq!(k.best(), None);
        assert_eq!(k.judge(-5.0), Decision::Reference);
        assert_eq!(k.judge(f32::NAN), Decision::Rollback { best: -5.0 });
        k.rolled_back();
        assert_eq!(k.best(), None);
    }
}
