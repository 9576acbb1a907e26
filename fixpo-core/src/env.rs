//! The task interface shared by the host's built-in tasks, the MuJoCo tasks
//! and the firmware's plant.

use rand_core::RngCore;

/// What actions a task accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ActionSpace<const A: usize> {
    /// A box of real-valued actions; the policy's samples are clipped to it.
    Continuous {
        /// Lower bound per action dimension.
        low: [f32; A],
        /// Upper bound per action dimension.
        high: [f32; A],
    },
    /// `A` discrete choices. The action passed to [`Env::step`] is one-hot;
    /// a task uses the index of the largest entry.
    Discrete,
}

/// The outcome of one [`Env::step`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step<const O: usize> {
    /// Observation after the step.
    pub obs: [f32; O],
    /// Reward for the step.
    pub reward: f32,
    /// The episode ended in a terminal state (no bootstrapping past it).
    pub terminated: bool,
    /// The episode was cut by the time limit (bootstrap from `obs`).
    pub truncated: bool,
}

/// A task with `O` observations and `A` action dimensions.
///
/// Tasks own their time limit: a step that reaches it reports
/// `truncated = true`. After `terminated` or `truncated` the caller must call
/// [`Env::reset`] before stepping again.
pub trait Env<const O: usize, const A: usize> {
    /// The action space (constant for a task).
    fn action_space(&self) -> ActionSpace<A>;
    /// Starts a new episode and returns its first observation.
    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; O];
    /// Applies `action` for one control period.
    fn step(&mut self, action: &[f32; A]) -> Step<O>;
}

/// A borrowed task is a task: a caller that keeps its plant (a firmware
/// controlling it after adaptation) lends it to an owner of an `Env`, such
/// as [`crate::adapt::Adapter`].
impl<T: Env<O, A> + ?Sized, const O: usize, const A: usize> Env<O, A> for &mut T {
    fn action_space(&self) -> ActionSpace<A> {
        (**self).action_space()
    }

    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; O] {
        (**self).reset(rng)
    }

    fn step(&mut self, action: &[f32; A]) -> Step<O> {
        (**self).step(action)
    }
}

/// Index of the largest entry (first on ties); how discrete tasks read a
/// one-hot action.
pub fn argmax<const A: usize>(v: &[f32; A]) -> usize {
    let mut best = 0;
    for i in 1..A {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envs::Pendulum;
    use crate::rng::Pcg32;

    /// Drives `env` through a 30-step episode from stream `seed` with a
    /// fixed action sequence; returns the first observation and every step.
    fn episode<E: Env<3, 1>>(mut env: E, seed: u64) -> Vec<Step<3>> {
        let mut rng = Pcg32::new(seed, 0);
        let first = env.reset(&mut rng);
        let mut steps = vec![Step {
            obs: first,
            reward: 0.0,
            terminated: false,
            truncated: false,
        }];
        for k in 0..30 {
            steps.push(env.step(&[(k as f32 * 0.37).sin() * 2.0]));
        }
        steps
    }

    #[test]
    fn a_borrowed_env_is_the_env() {
        let mut owned = Pendulum::new();
        owned.max_episode_steps = 30;
        let mut lent = owned.clone();
        for seed in 0..4 {
            let a = episode(owned.clone(), seed);
            let b = episode(&mut lent, seed);
            assert_eq!(a, b, "seed {seed}");
            let space = <&mut Pendulum as Env<3, 1>>::action_space(&&mut lent);
            assert_eq!(space, owned.action_space());
        }
        // The steps went to the lender's plant: its last episode used up
        // the time limit.
        assert!(lent.step(&[0.0]).truncated);
    }
}
