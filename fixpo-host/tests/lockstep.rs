//! Collection from environments stepped together (`Learner::set_vec_env`),
//! checked against the serial collection it must equal, and against the
//! episode structure a next-step autoreset must leave intact.

use fixpo_core::env::{ActionSpace, Env, Step};
use fixpo_host::config::RunConfig;
use fixpo_host::learner::{VecEnv, VecStep};
use fixpo_host::observe::UpdateRecord;
use fixpo_host::{Learner, Observer, RunState, Silent};
use rand_core::RngCore;

/// Observation `[t, episode, env]`: the step within the episode, the
/// episode's number and the environment's. Reward `-(a − t/10)²`; an
/// episode terminates after `4 + episode % 7` steps, or is truncated at
/// 9 (so episodes meant to last 10 steps end by truncation).
/// Resets are deterministic (the random stream is not used), so a serial
/// and a lockstep collection see the same episodes.
#[derive(Clone, Debug)]
struct Counter {
    id: f32,
    t: u32,
    episode: u32,
}

impl Counter {
    fn new(id: usize) -> Self {
        Self {
            id: id as f32,
            t: 0,
            episode: 0,
        }
    }

    fn obs(&self) -> [f32; 3] {
        [self.t as f32, self.episode as f32, self.id]
    }

    fn length(episode: u32) -> u32 {
        4 + episode % 7
    }
}

impl Env<3, 1> for Counter {
    fn action_space(&self) -> ActionSpace<1> {
        ActionSpace::Continuous {
            low: [-1.0],
            high: [1.0],
        }
    }

    fn reset<R: RngCore + ?Sized>(&mut self, _: &mut R) -> [f32; 3] {
        self.episode += 1;
        self.t = 0;
        self.obs()
    }

    fn step(&mut self, a: &[f32; 1]) -> Step<3> {
        let reward = -(a[0] - self.t as f32 / 10.0).powi(2);
        self.t += 1;
        Step {
            obs: self.obs(),
            reward,
            terminated: self.t == Self::length(self.episode),
            truncated: self.t == 9,
        }
    }
}

/// Gymnasium's autoreset modes, over `Counter`s.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    SameStep,
    NextStep,
}

struct VecCounter {
    envs: Vec<Counter>,
    mode: Mode,
    /// NEXT_STEP: environments whose next step is a reset.
    resetting: Vec<bool>,
    /// Steps taken by the vector environment.
    calls: u64,
}

impl VecCounter {
    fn new(n: usize, mode: Mode) -> Self {
        Self {
            envs: (0..n).map(Counter::new).collect(),
            mode,
            resetting: vec![false; n],
            calls: 0,
        }
    }
}

impl VecEnv<3, 1> for VecCounter {
    fn num_envs(&self) -> usize {
        self.envs.len()
    }

    fn action_space(&self) -> ActionSpace<1> {
        self.envs[0].action_space()
    }

    fn reset(&mut self) -> Vec<[f32; 3]> {
        let mut none = fixpo_core::rng::Pcg32::new(0, 0);
        self.envs.iter_mut().map(|e| e.reset(&mut none)).collect()
    }

    fn step(&mut self, actions: &[[f32; 1]], out: &mut Vec<VecStep<3>>) {
        self.calls += 1;
        let mut none = fixpo_core::rng::Pcg32::new(0, 0);
        out.clear();
        for (i, (e, a)) in self.envs.iter_mut().zip(actions).enumerate() {
            if self.resetting[i] {
                self.resetting[i] = false;
                out.push(VecStep::Reset {
                    obs: e.reset(&mut none),
                });
                continue;
            }
            let step = e.step(a);
            let done = step.terminated || step.truncated;
            let reset_obs = match self.mode {
                Mode::SameStep if done => Some(e.reset(&mut none)),
                _ => None,
            };
            self.resetting[i] = self.mode == Mode::NextStep && done;
            out.push(VecStep::Stepped { step, reset_obs });
        }
    }
}

fn config() -> RunConfig {
    let mut c = RunConfig::reference("counter");
    c.hidden = 16;
    c.num_envs = 3;
    c.steps_per_env = 50;
    c.total_steps = 3 * 150;
    c.eval_every = 0;
    c.eval_episodes = 1;
    c.update.minibatch = 50;
    c.update.fixup_minibatch = 150;
    c.update.epochs = 2;
    c
}

/// A learner whose environments are `Counter`s 0, 1, 2 (`Learner::new`
/// makes a template first, then the environments in order).
fn learner() -> Learner<Counter, 3, 16, 1> {
    let made = std::sync::atomic::AtomicUsize::new(0);
    let n = config().num_envs;
    Learner::new(
        move || {
            let k = made.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Counter::new((k + n - 1) % n)
        },
        config(),
    )
    .unwrap()
}

/// Keeps every update's batch observations.
#[derive(Default)]
struct Batches(Vec<Vec<[f32; 3]>>);

impl Observer for Batches {
    fn wants_updates(&self) -> bool {
        true
    }

    fn on_update(&mut self, u: &UpdateRecord) {
        self.0
            .push(u.raw_obs.chunks(3).map(|c| [c[0], c[1], c[2]]).collect());
    }

    fn on_iteration(
        &mut self,
        _: &fixpo_host::metrics::IterMetrics,
        _: &dyn RunState,
    ) -> fixpo_host::Result<()> {
        Ok(())
    }
}

#[test]
fn same_step_lockstep_equals_serial_collection() {
    let mut serial = learner();
    serial.set_serial_collection(true);
    let a = serial.run(&mut Silent).unwrap();
    let mut lock = learner();
    lock.set_vec_env(Box::new(VecCounter::new(3, Mode::SameStep)))
        .unwrap();
    let b = lock.run(&mut Silent).unwrap();
    assert_eq!(a.iters, 3);
    assert_eq!((a.iters, a.env_steps), (b.iters, b.env_steps));
    assert_eq!(serial.policy_file().unwrap(), lock.policy_file().unwrap());
    assert_eq!(serial.stats(), lock.stats());
}

#[test]
fn next_step_autoreset_keeps_each_segment_a_true_trajectory() {
    let mut lock = learner();
    let mut vec = VecCounter::new(3, Mode::NextStep);
    vec.calls = 0;
    lock.set_vec_env(Box::new(vec)).unwrap();
    let mut seen = Batches::default();
    let sum = lock.run(&mut seen).unwrap();
    assert_eq!(sum.iters, 3);
    assert_eq!(sum.kl_violations, 0);
    let steps = config().steps_per_env;
    let mut resets_skipped = 0;
    for batch in &seen.0 {
        // The update shuffles the batch: regroup each environment's
        // states (its number is in the observation) in time order.
        for env in 0..3 {
            let mut seg: Vec<(u32, u32)> = batch
                .iter()
                .filter(|o| o[2] == env as f32)
                .map(|o| (o[1] as u32, o[0] as u32))
                .collect();
            assert_eq!(seg.len(), steps, "env {env}");
            seg.sort_unstable();
            for w in seg.windows(2) {
                let ((e0, t0), (e1, t1)) = (w[0], w[1]);
                let ended = t0 + 1 == Counter::length(e0) || t0 + 1 == 9;
                if ended {
                    // The reset step is not a transition: the next one is
                    // the new episode's first state.
                    assert_eq!((e1, t1), (e0 + 1, 0), "{w:?}");
                    resets_skipped += 1;
                } else {
                    assert_eq!((e1, t1), (e0, t0 + 1), "{w:?}");
                }
            }
        }
    }
    assert!(resets_skipped > 10, "{resets_skipped}");
}

#[test]
fn a_vec_env_of_the_wrong_size_is_refused() {
    let mut l = learner();
    let e = l
        .set_vec_env(Box::new(VecCounter::new(2, Mode::SameStep)))
        .unwrap_err();
    assert!(e.to_string().contains("num_envs"), "{e}");
}
