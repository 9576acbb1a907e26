//! The raw stepping rate of a MuJoCo task: its [`Env`] impl driven by
//! random actions on every thread, no policy and no update. `fixpo bench`
//! compares the training's rate with it.

use crate::mujoco::{MujocoError, MujocoTask, MujocoVisitor, visit};
use crate::tasks::Task;
use fixpo_core::env::{ActionSpace, Env};
use fixpo_core::rng::{self, Pcg32};
use std::time::Instant;

/// Raw stepping rate of MuJoCo task `name` through its [`Env`] impl:
/// env steps per second over `threads` threads (each with its own copy
/// of the task), `n_steps` in total, uniform random actions in the action
/// space, resetting at the end of each episode.
///
/// # Errors
/// Unknown name, or the model cannot be loaded.
pub fn raw_steps_per_sec(name: &str, n_steps: u64, threads: usize) -> Result<f64, MujocoError> {
    let (steps, secs) = RawStepper::new(name, threads)?.burst(n_steps);
    Ok(steps as f64 / secs.max(1e-9))
}

/// Random-action stepping of one MuJoCo task on a fixed number of
/// threads, one copy of the task per thread, in timed bursts. The copies
/// and their episodes persist between bursts, so many short bursts
/// measure the same thing as one long one (`fixpo bench` interleaves them
/// with training iterations).
pub struct RawStepper {
    walkers: Box<dyn Bursts>,
}

impl core::fmt::Debug for RawStepper {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RawStepper").finish_non_exhaustive()
    }
}

impl RawStepper {
    /// Loads task `name` (default options) once per thread.
    ///
    /// # Errors
    /// Unknown name, or the model cannot be loaded.
    pub fn new(name: &str, threads: usize) -> Result<Self, MujocoError> {
        struct Make(usize);
        impl MujocoVisitor for Make {
            type Out = Box<dyn Bursts>;
            fn visit<const O: usize, const A: usize, T: MujocoTask<O, A> + Task<O, A>>(
                self,
                task: T,
            ) -> Box<dyn Bursts> {
                let walkers: Vec<RandomWalker<T, O, A>> = (0..self.0.max(1))
                    .map(|k| RandomWalker::new(task.clone(), k as u64))
                    .collect();
                Box::new(walkers)
            }
        }
        Ok(Self {
            walkers: visit(name, &[], Make(threads))?,
        })
    }

    /// Steps every copy `n_steps / threads` times (rounded up), in
    /// parallel on rayon's thread pool; returns the steps taken and the
    /// wall time (s).
    pub fn burst(&mut self, n_steps: u64) -> (u64, f64) {
        self.walkers.burst(n_steps)
    }
}

/// [`RawStepper`]'s per-task state behind a trait object.
trait Bursts {
    fn burst(&mut self, n_steps: u64) -> (u64, f64);
}

impl<E: Env<O, A> + Send, const O: usize, const A: usize> Bursts for Vec<RandomWalker<E, O, A>> {
    fn burst(&mut self, n_steps: u64) -> (u64, f64) {
        let per = n_steps.div_ceil(self.len().max(1) as u64).max(1);
        let t0 = Instant::now();
        // On rayon's pool, the threads that run the training's rollouts.
        rayon::scope(|s| {
            for w in self.iter_mut() {
                s.spawn(move |_| w.steps(per));
            }
        });
        (per * self.len() as u64, t0.elapsed().as_secs_f64())
    }
}

/// One environment driven by uniform random actions, reset at the end of
/// each episode.
struct RandomWalker<E, const O: usize, const A: usize> {
    env: E,
    rng: Pcg32,
}

impl<E: Env<O, A>, const O: usize, const A: usize> RandomWalker<E, O, A> {
    fn new(mut env: E, seed: u64) -> Self {
        let mut rng = Pcg32::new(seed, 0x6d6a);
        env.reset(&mut rng);
        Self { env, rng }
    }

    /// Steps `n` times with uniform random actions in the action space,
    /// resetting at the end of each episode.
    fn steps(&mut self, n: u64) {
        let (low, high) = match self.env.action_space() {
            ActionSpace::Continuous { low, high } => (low, high),
            ActionSpace::Discrete => ([0.0; A], [1.0; A]),
        };
        let rng = &mut self.rng;
        for _ in 0..n {
            let a: [f32; A] = core::array::from_fn(|i| rng::uniform_range(rng, low[i], high[i]));
            let s = self.env.step(&a);
            if s.terminated || s.truncated {
                self.env.reset(rng);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mujoco::TASKS;

    #[test]
    fn raw_stepping_rate_is_measured() {
        let sps = raw_steps_per_sec("hopper", 2000, 2).unwrap();
        assert!(sps > 100.0, "{sps}");
        assert!(raw_steps_per_sec("pendulum", 10, 1).is_err());
    }

    /// `cargo test --release -p fixpo-host --features mujoco --lib raw_stepping_rates -- --ignored --nocapture`
    #[test]
    #[ignore = "benchmark; prints env steps/s"]
    fn raw_stepping_rates() {
        for info in TASKS {
            let one = raw_steps_per_sec(info.name, 100_000, 1).unwrap();
            let two = raw_steps_per_sec(info.name, 100_000, 2).unwrap();
            println!(
                "{:26} {one:>9.0} env steps/s (1 thread) {two:>9.0} (2 threads)",
                info.name
            );
        }
    }
}
