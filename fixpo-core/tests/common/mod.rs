//! A serial training loop built only from fixpo-core's pieces (the host
//! runs the same pieces in parallel).
#![allow(dead_code)]

use fixpo_core::actor::Actor;
use fixpo_core::env::{ActionSpace, Env};
use fixpo_core::fixpo::{Config, Serial, Trainer, Transition};
use fixpo_core::gae::GaeStep;
use fixpo_core::norm::ObsNorm;
use fixpo_core::optim::linear_decay;
use fixpo_core::rng::Pcg32;
use fixpo_core::rollout::{CollectConfig, EnvSlot, NormStats, collect, evaluate_episode};
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
    let mut trainer: Box<Trainer<O, H, A>> = Box::new(Trainer::zero(kind, 1.0));
    trainer.init(&mut rng, s.log_std_init, 1.0);
    let mut envs: Vec<E> = (0..s.envs).map(|_| make()).collect();
    let mut slots = vec![EnvSlot::<O>::NEW; s.envs];
    let mut env_rngs: Vec<Pcg32> = (0..s.envs)
        .map(|i| Pcg32::new(seed, 1 + i as u64))
        .collect();
    // Statistics accumulated over everything seen; the policy acts with
    // `trainer.norm`, which each update moves to them.
    let mut stats = NormStats::<O>::default();
    let n = s.envs * s.steps_per_env;
    let mut batch = vec![Transition::<O, A>::ZERO; n];
    let mut gae = vec![GaeStep::default(); n];
    let mut done = 0usize;
    let mut reports = Vec::new();
    let mut final_eval = f32::NEG_INFINITY;
    let (low, high) = match envs[0].action_space() {
        ActionSpace::Continuous { low, high } => (low, high),
        ActionSpace::Discrete => ([-1.0; A], [1.0; A]),
    };
    while done < s.total_steps {
        let mut seen = stats;
        for e in 0..s.envs {
            let r = e * s.steps_per_env..(e + 1) * s.steps_per_env;
            collect(
                &mut envs[e],
                &mut slots[e],
                &mut env_rngs[e],
                &trainer.policy,
                &trainer.value,
                &trainer.norm,
                &stats.ret,
                &mut seen,
                &s.collect,
                &mut batch[r.clone()],
                &mut gae[r],
                &mut |_| {},
            )
            .expect("collection");
        }
        stats = seen;
        done += n;
        let mut cfg = s.cfg;
        if s.lr_decay {
            cfg.lr = linear_decay(s.cfg.lr, done as u64, s.total_steps as u64);
        }
        let next = ObsNorm {
            stats: stats.obs,
            ..trainer.norm
        };
        let rep = trainer
            .update_with_norm(&mut batch, &cfg, &next, &mut rng, &mut Serial)
            .expect("update");
        assert!(
            rep.max_kl <= cfg.eps_kl || cfg.algo != fixpo_core::Algo::Fixpo,
            "trust region violated: {rep:?}"
        );
        reports.push(rep);
        let actor = Actor {
            policy: trainer.policy,
            obs_norm: trainer.norm.stats,
            obs_clip: trainer.norm.clip,
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
