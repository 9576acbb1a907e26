//! fixpo-core's training iteration ([`Learner::iterate_serial`]) run to a
//! target return, with an evaluation after every update.
#![allow(dead_code)]

use fixpo_core::actor::Actor;
use fixpo_core::env::{ActionSpace, Env};
use fixpo_core::fixpo::{Config, Serial, Transition};
use fixpo_core::gae::GaeStep;
use fixpo_core::learn::{EnvRunner, Learner};
use fixpo_core::norm::ObsNorm;
use fixpo_core::optim::linear_decay;
use fixpo_core::rng::Pcg32;
use fixpo_core::rollout::{CollectConfig, evaluate_episode};
use fixpo_core::{PolicyKind, UpdateReport};

pub struct Setup {
    pub envs: usize,
    pub steps_per_env: usize,
    pub total_steps: usize,
    pub cfg: Config,
    pub collect: CollectConfig,
    pub log_std_init: f32,
    pub lr_decay: bool,
    /// Stop as soon as the deterministic evaluation passes this.
    pub target: f32,
    pub eval_episodes: usize,
}

pub struct Outcome {
    pub reached_at: Option<usize>,
    pub final_eval: f32,
    pub reports: Vec<UpdateReport>,
}

pub fn train<E, const O: usize, const H: usize, const A: usize>(
    make: impl Fn() -> E,
    kind: PolicyKind,
    seed: u64,
    s: &Setup,
) -> Outcome
where
    E: Env<O, A>,
{
    let mut rng = Pcg32::seed_from_u64(seed);
    let mut learner = Box::new(Learner::<O, H, A>::new(kind, ObsNorm::NEW, s.collect, true));
    learner.trainer.init(&mut rng, s.log_std_init, 1.0);
    let mut envs: Vec<EnvRunner<E, Pcg32, O>> = (0..s.envs)
        .map(|i| EnvRunner::new(make(), Pcg32::new(seed, 1 + i as u64)))
        .collect();
    let n = s.envs * s.steps_per_env;
    let mut batch = vec![Transition::<O, A>::ZERO; n];
    let mut gae = vec![GaeStep::default(); n];
    let mut done = 0usize;
    let mut reports = Vec::new();
    let mut final_eval = f32::NEG_INFINITY;
    let (low, high) = match envs[0].env.action_space() {
        ActionSpace::Continuous { low, high } => (low, high),
        ActionSpace::Discrete => ([-1.0; A], [1.0; A]),
    };
    while done < s.total_steps {
        let mut cfg = s.cfg;
        if s.lr_decay {
            cfg.lr = linear_decay(s.cfg.lr, (done + n) as u64, s.total_steps as u64);
        }
        let rep = learner
            .iterate_serial(
                &mut envs,
                &mut batch,
                &mut gae,
                &cfg,
                &mut rng,
                &mut Serial,
                &mut |_| {},
            )
            .expect("iteration");
        done += n;
        assert!(
            rep.max_kl <= cfg.eps_kl || cfg.algo != fixpo_core::Algo::Fixpo,
            "trust region violated: {rep:?}"
        );
        reports.push(rep);
        let t = &learner.trainer;
        let actor = Actor {
            policy: t.policy,
            obs_norm: t.norm.stats,
            obs_clip: t.norm.clip,
            action_low: low,
            action_high: high,
        };
        let mut eval_env = make();
        let mut eval_rng = Pcg32::new(seed ^ 0xE7A1, done as u64);
        let mean: f32 = (0..s.eval_episodes)
            .map(|_| evaluate_episode(&mut eval_env, &actor, &mut eval_rng, true).ret)
            .sum::<f32>()
            / s.eval_episodes as f32;
        final_eval = mean;
        if mean > s.target {
            return Outcome {
                reached_at: Some(done),
                final_eval,
                reports,
            };
        }
    }
    Outcome {
        reached_at: None,
        final_eval,
        reports,
    }
}
