//! Tuning harness: `KEY=VALUE cargo run --release --example pendulum_tune`.
#[path = "../tests/common/mod.rs"]
mod common;
use common::{Setup, train};
use fixpo_core::PolicyKind;
use fixpo_core::envs::Pendulum;
use fixpo_core::fixpo::Config;
use fixpo_core::rollout::CollectConfig;

fn var<T: std::str::FromStr>(k: &str, d: T) -> T {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn main() {
    let s = Setup {
        envs: var("ENVS", 8),
        steps_per_env: var("STEPS", 256),
        total_steps: var("TOTAL", 200_000),
        cfg: Config {
            epochs: var("EPOCHS", 10),
            minibatch: var("MB", 64),
            fixup_minibatch: var("FMB", 2048),
            lr: var("LR", 1e-3),
            eps_kl: var("EPS", 0.3),
            c_beta: var("CB", 2.0),
            max_grad_norm: var("CLIP", 0.5),
            vf_coef: var("VF", 0.5),
            vf_clip: 0.0,
            norm_adv: var("NORMADV", 0) == 1,
            beta_lr: var("BLR", 0.01),
            ent_coef: var("ENT", 0.0),
            ..Config::REFERENCE
        },
        collect: CollectConfig {
            gamma: var("GAMMA", 0.9),
            lambda: var("LAMBDA", 0.95),
            scale_reward: var("SCALE", 1) == 1,
            norm_obs: var("NORMOBS", 1) == 1,
            ..CollectConfig::REFERENCE
        },
        log_std_init: var("LOGSTD", -0.5),
        lr_decay: var("DECAY", 0) == 1,
        target: -200.0,
        eval_episodes: 10,
    };
    let seeds: u64 = var("SEEDS", 3);
    for seed in 0..seeds {
        let t = std::time::Instant::now();
        let out = train::<_, 3, 32, 1>(Pendulum::new, PolicyKind::Gaussian, seed, &s);
        let fix: u32 = out.reports.iter().map(|r| r.fixup_grad_steps).sum();
        let prim: u32 = out.reports.iter().map(|r| r.primary_grad_steps).sum();
        let beta = out.reports.last().map(|r| r.beta).unwrap_or(0.0);
        println!(
            "seed {seed}: reached {:?} eval {:.0} fixup/primary {:.3} beta {beta:.2} {:.1}s",
            out.reached_at,
            out.final_eval,
            fix as f32 / prim as f32,
            t.elapsed().as_secs_f32()
        );
    }
}
