//! The on-device adaptation set-up the host tests share with the firmware:
//! its simulated plant, a policy file with a critic as the host exports it,
//! and plain-loop evaluation.

use fixpo_core::envs::Pendulum;
use fixpo_core::file;
use fixpo_core::fixpo::Config;
use fixpo_core::norm::ObsNorm;
use fixpo_core::rng::Pcg32;
use fixpo_core::rollout::CollectConfig;
use fixpo_core::{Actor, Env, Params, Policy};
use fixpo_host::Silent;
use fixpo_host::config::RunConfig;

/// Host training budget: deliberately short of convergence, so the flashed
/// policy is usable but leaves room for the device to improve it (its mean
/// return on the mismatched plant was −819 to −969 for seeds 1–5).
pub const TRAIN_STEPS: usize = 16 * 1024;
/// One plant episode (9 s at 20 Hz) per round, as on the firmware.
pub const ROLLOUT: usize = 180;
/// Episodes of a fixed evaluation (the firmware's `EVAL_EPISODES`).
pub const EVAL_EPISODES: u64 = 5;
/// Seed of their initial states (the firmware's).
pub const EVAL_SEED: u64 = 0xE7A1_5EED;

/// The firmware's simulated plant (`firmware/src/plant.rs`): Pendulum-v1
/// with m = 1.2 kg, l = 1.1 m and friction 0.05, episodes of 180 steps.
pub fn plant() -> Pendulum {
    let mut p = Pendulum::new();
    p.m = 1.2;
    p.l = 1.1;
    p.friction = 0.05;
    p.max_episode_steps = ROLLOUT as u32;
    p
}

/// A Pendulum policy and its critic as the host exports them (the QEMU
/// test's training run).
pub fn host_file(seed: u64) -> Vec<u8> {
    host_file_of::<32>(seed)
}

/// [`host_file`] for hidden width `H`.
pub fn host_file_of<const H: usize>(seed: u64) -> Vec<u8> {
    let mut cfg = RunConfig::reference("pendulum");
    cfg.seed = seed;
    cfg.total_steps = TRAIN_STEPS as u64;
    cfg.hidden = H;
    cfg.num_envs = 8;
    cfg.steps_per_env = 256;
    cfg.lr_decay = false;
    cfg.log_std_init = 0.0;
    cfg.eval_every = 0;
    cfg.eval_episodes = 1;
    cfg.collect = CollectConfig {
        gamma: 0.9,
        lambda: 0.95,
        ..CollectConfig::REFERENCE
    };
    cfg.update = Config {
        epochs: 10,
        minibatch: 64,
        fixup_minibatch: 2048,
        lr: 1e-3,
        eps_kl: 0.5,
        c_beta: 3.0,
        vf_coef: 0.5,
        vf_clip: 0.0,
        norm_adv: true,
        ..Config::REFERENCE
    };
    let mut learner = fixpo_host::Learner::<_, 3, H, 1>::new(Pendulum::new, cfg).unwrap();
    let summary = learner.run(&mut Silent).unwrap();
    assert_eq!(summary.kl_violations, 0);
    let bytes = learner.policy_file().unwrap();
    // The file holds the trainer's value network and return statistics.
    let critic = file::decode_critic::<3, H>(&bytes).unwrap().unwrap();
    assert_eq!(critic, learner.critic());
    assert_eq!(critic.value, learner.trainer().value);
    assert_eq!(critic.ret, learner.stats().ret.stats);
    bytes
}

/// Mean return of `actor` over the evaluation starts on `plant`: a plain
/// loop.
pub fn mean_return_on<E: Env<3, 1>>(plant: &mut E, actor: &Actor<3, 32, 1>) -> f32 {
    let mut sum = 0.0;
    for k in 0..EVAL_EPISODES {
        let env = &mut *plant;
        let mut rng = Pcg32::new(EVAL_SEED, k);
        let mut obs = env.reset(&mut rng);
        loop {
            let s = env.step(&actor.act(&obs));
            sum += s.reward;
            if s.terminated || s.truncated {
                break;
            }
            obs = s.obs;
        }
    }
    sum / EVAL_EPISODES as f32
}

/// Every parameter's bits, in slice order.
pub fn bits(p: &Policy<3, 32, 1>) -> Vec<u32> {
    (0..Policy::<3, 32, 1>::SLICES)
        .flat_map(|k| p.slice(k).iter().map(|x| x.to_bits()).collect::<Vec<_>>())
        .collect()
}

/// [`mean_return_on`] the simulated plant.
pub fn mean_return(actor: &Actor<3, 32, 1>) -> f32 {
    mean_return_on(&mut plant(), actor)
}

/// The normalisation's variance floor, as the deployed actor adds it.
const VAR_EPS: f64 = 1e-8f32 as f64;

/// This crate's own f64 recomputation (shares no code with fixpo-check or
/// fixpo-core's maths): the network's output (the Gaussian mean) at raw
/// observation `x`, in f64: normalise, clip, two tanh layers, the output layer.
pub fn mean_f64(p: &Policy<3, 32, 1>, norm: &ObsNorm<3>, x: &[f32; 3]) -> f64 {
    let clip = norm.clip as f64;
    let z: Vec<f64> = (0..3)
        .map(|i| {
            let s = (x[i] as f64 - norm.stats.mean[i] as f64)
                / (norm.stats.var[i] as f64 + VAR_EPS).sqrt();
            s.max(-clip).min(clip)
        })
        .collect();
    let n = &p.net;
    let h1: Vec<f64> = (0..32)
        .map(|k| (n.b1[k] as f64 + (0..3).map(|j| z[j] * n.w1[j][k] as f64).sum::<f64>()).tanh())
        .collect();
    let h2: Vec<f64> = (0..32)
        .map(|k| (n.b2[k] as f64 + (0..32).map(|j| h1[j] * n.w2[j][k] as f64).sum::<f64>()).tanh())
        .collect();
    n.b3[0] as f64 + (0..32).map(|j| h2[j] * n.w3[j][0] as f64).sum::<f64>()
}

/// max over `states` of D_KL(p ‖ q) between the two Gaussian policies:
/// ln(σ_q/σ_p) + (σ_p² + (μ_p − μ_q)²) / (2σ_q²) − ½; NaN counts as +∞.
pub fn max_kl(
    p: (&Policy<3, 32, 1>, &ObsNorm<3>),
    q: (&Policy<3, 32, 1>, &ObsNorm<3>),
    states: &[[f32; 3]],
) -> f64 {
    let (sp, sq) = ((p.0.log_std[0] as f64).exp(), (q.0.log_std[0] as f64).exp());
    states
        .iter()
        .map(|x| {
            let d = mean_f64(p.0, p.1, x) - mean_f64(q.0, q.1, x);
            let kl = (sq / sp).ln() + (sp * sp + d * d) / (2.0 * sq * sq) - 0.5;
            if kl.is_nan() { f64::INFINITY } else { kl }
        })
        .fold(0.0, f64::max)
}

/// `a ≤ eps` up to the rounding of two f64 evaluations of the same sums.
pub fn within(a: f64, eps: f32) -> bool {
    a <= eps as f64 * (1.0 + 1e-9) + 1e-12
}
