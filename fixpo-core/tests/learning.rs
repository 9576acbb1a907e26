//! Learning with fixpo-core alone (serial loop in `common`).
//!
//! Budgets: Pendulum must pass −200 (deterministic, 10 episodes) within
//! 200k steps on at least 4 of 5 seeds; CartPole (discrete) must reach 475.

mod common;

use common::{Setup, train};
use fixpo_core::PolicyKind;
use fixpo_core::envs::{CartPole, Pendulum};
use fixpo_core::fixpo::Config;
use fixpo_core::rollout::CollectConfig;

fn pendulum_setup() -> Setup {
    Setup {
        envs: 8,
        steps_per_env: 256,
        total_steps: 200_000,
        cfg: Config {
            epochs: 10,
            minibatch: 64,
            fixup_minibatch: 2048,
            lr: 1e-3,
            eps_kl: 0.5,
            c_beta: 3.0,
            max_grad_norm: 0.5,
            vf_coef: 0.5,
            vf_clip: 0.0,
            norm_adv: true,
            ..Config::REFERENCE
        },
        collect: CollectConfig {
            gamma: 0.9,
            lambda: 0.95,
            ..CollectConfig::REFERENCE
        },
        log_std_init: 0.0,
        lr_decay: false,
        target: -200.0,
        eval_episodes: 10,
    }
}

#[test]
fn pendulum_passes_minus_200_within_200k_steps_on_4_of_5_seeds() {
    let s = pendulum_setup();
    let mut passed = 0;
    let (mut fix_total, mut prim_total) = (0u32, 0u32);
    for seed in 0..5 {
        let out = train::<_, 3, 32, 1>(Pendulum::new, PolicyKind::Gaussian, seed, &s);
        let fix: u32 = out.reports.iter().map(|r| r.fixup_grad_steps).sum();
        let prim: u32 = out.reports.iter().map(|r| r.primary_grad_steps).sum();
        eprintln!(
            "pendulum seed {seed}: reached at {:?}, eval {:.1}, fixup/primary {fix}/{prim}",
            out.reached_at, out.final_eval
        );
        passed += out.reached_at.is_some() as u32;
        fix_total += fix;
        prim_total += prim;
    }
    assert!(passed >= 4, "only {passed}/5 seeds passed -200");
    // The paper's claim: the fixup phase adds under 5% gradient steps.
    let ratio = fix_total as f32 / prim_total as f32;
    assert!(ratio < 0.05, "fixup steps {ratio:.3} of primary steps");
}

#[test]
fn cartpole_discrete_reaches_475() {
    let s = Setup {
        envs: 8,
        steps_per_env: 128,
        total_steps: 200_000,
        cfg: Config {
            epochs: 10,
            minibatch: 256,
            fixup_minibatch: 1024,
            lr: 1e-3,
            eps_kl: 0.2,
            vf_coef: 0.5,
            vf_clip: 0.0,
            ..Config::REFERENCE
        },
        collect: CollectConfig {
            gamma: 0.99,
            lambda: 0.95,
            ..CollectConfig::REFERENCE
        },
        log_std_init: 0.0,
        lr_decay: false,
        target: 475.0,
        eval_episodes: 10,
    };
    let out = train::<_, 4, 32, 2>(CartPole::new, PolicyKind::Categorical, 1, &s);
    eprintln!(
        "cartpole: reached at {:?}, eval {:.1}",
        out.reached_at, out.final_eval
    );
    assert!(out.reached_at.is_some(), "final eval {}", out.final_eval);
}
