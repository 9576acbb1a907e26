//! The cumulative trust region of on-device adaptation: besides ε_KL per
//! update, every accepted policy π must satisfy
//!
//! ```text
//! D_KL(π_factory(·|x) ‖ π(·|x)) ≤ ε_total   at every state x of its rollout,
//! ```
//!
//! where π_factory is the policy that was flashed (and certified on the
//! bench). Each update bounds one step; this bounds their sum, so sixty
//! accepted updates cannot walk the controller arbitrarily far away.
//!
//! How the round enforces it ([`super::Adapter::round_within`]): after the
//! update and its ε_KL check, the round loads the factory policy into the
//! trainer's spare policy buffer ([`crate::fixpo::Trainer::spare_policy`],
//! idle between updates, so the bound costs no RAM), asks the round's
//! [`TrustCheck`](super::TrustCheck) for D_KL(π_factory ‖ π) at every raw
//! observation of the rollout against ε_total and, while it fails, moves π
//! halfway back to π_old ([`crate::fixpo::Trainer::halve_towards_previous`]:
//! θ_old + t·(θ − θ_old) with t = ½, ¼, …) and checks both bounds again.
//! π_old was accepted, so the segment starts at a policy within ε_KL of
//! itself; if no tried t passes both checks, the update is reverted (t = 0)
//! and π_old stays deployed.

use crate::file::{self, FileError};
use crate::norm::ObsNorm;
use crate::policy::Policy;

use super::Verdict;

/// Where the factory policy comes from.
pub trait Factory<const O: usize, const H: usize, const A: usize> {
    /// Writes the factory policy into `policy` and the normalisation it
    /// acts with into `norm`.
    ///
    /// # Errors
    /// The factory policy cannot be read; the round then refuses the
    /// update (a bound that cannot be checked does not hold).
    fn load(
        &mut self,
        policy: &mut Policy<O, H, A>,
        norm: &mut ObsNorm<O>,
    ) -> Result<(), FileError>;
}

/// A policy file: the factory record of a policy store, read in place
/// from memory-mapped flash, or any bytes. Decoded (CRC included) at every
/// check, so flash corruption is caught, not trusted.
impl<const O: usize, const H: usize, const A: usize> Factory<O, H, A> for &[u8] {
    fn load(
        &mut self,
        policy: &mut Policy<O, H, A>,
        norm: &mut ObsNorm<O>,
    ) -> Result<(), FileError> {
        let (mut low, mut high) = ([0.0; A], [0.0; A]);
        file::decode_parts(self, policy, norm, &mut low, &mut high, None).map(|_| ())
    }
}

/// A policy and its normalisation in RAM (a board with RAM to spare, or a
/// test).
impl<const O: usize, const H: usize, const A: usize> Factory<O, H, A>
    for (&Policy<O, H, A>, &ObsNorm<O>)
{
    fn load(
        &mut self,
        policy: &mut Policy<O, H, A>,
        norm: &mut ObsNorm<O>,
    ) -> Result<(), FileError> {
        *policy = *self.0;
        *norm = *self.1;
        Ok(())
    }
}

/// The cumulative bound's settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Total<F> {
    /// The factory policy.
    pub factory: F,
    /// ε_total: the largest D_KL(π_factory ‖ π) allowed at any state.
    pub eps_total: f32,
    /// Halvings of the update's step tried before it is reverted.
    pub max_halvings: u32,
}

impl<F> Total<F> {
    /// ε_total = `eps_total` from `factory`, with up to 8 halvings (the
    /// smallest step tried is 1/256 of the update's).
    pub const fn new(factory: F, eps_total: f32) -> Self {
        Self {
            factory,
            eps_total,
            max_halvings: 8,
        }
    }
}

/// What the cumulative bound did in one round.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TotalReport {
    /// D_KL(π_factory ‖ π) over the rollout's states for the policy the
    /// round kept, or for the last one it tried when it kept none.
    pub drift: Verdict,
    /// The step factor kept: 1 when the update's policy was within
    /// ε_total, ½, ¼, … after halvings, 0 when the update was reverted.
    pub t: f32,
    /// Halvings made.
    pub halvings: u32,
    /// The factory policy could not be loaded (the update was reverted).
    pub factory_error: Option<FileError>,
}
