//! On-device adaptation: episodes on the plant at control rate, rollouts in
//! static buffers, fixpo-core's FixPO update between episodes, and an
//! independent check of the trust region after every update (fixpo-check:
//! its own f64 normalisation, forward pass and KL, at the rollout's raw
//! observations).

use fixpo_check::{Deployed, audit_deployed};
use fixpo_core::env::Env;
use fixpo_core::fixpo::{Algo, Config, FixupSchedule, Serial, TrainScope, Trainer};
use fixpo_core::learn::{LearnError, Learner};
use fixpo_core::norm::{ObsNorm, RewardScaler, RunningMeanStd};
use fixpo_core::rng::Pcg32;
use fixpo_core::rollout::{CollectConfig, EnvSlot, NormStats, evaluate_episode};

use crate::control::{ACT, Controller, HID, OBS};
use crate::mem::{ROLLOUT, Scratch};

/// Episodes per evaluation (before and after adaptation).
pub const EVAL_EPISODES: u64 = 5;
/// Seed of the evaluation episodes' initial states (the same before and
/// after, so the two means compare the same starts).
const EVAL_SEED: u64 = 0xE7A1_5EED;
/// Seed of exploration, shuffling and the value initialisation.
const ADAPT_SEED: u64 = 0xADA9_7000;

/// What the policy file says besides the network: how to normalise
/// observations and where to clip actions. Kept while the network itself
/// lives in the trainer.
#[derive(Clone, Copy)]
pub struct Deploy {
    obs_norm: RunningMeanStd<OBS>,
    obs_clip: f32,
    low: [f32; ACT],
    high: [f32; ACT],
}

impl Deploy {
    /// Everything of `actor` but its network.
    pub fn of(actor: &Controller) -> Self {
        Self {
            obs_norm: actor.obs_norm,
            obs_clip: actor.obs_clip,
            low: actor.action_low,
            high: actor.action_high,
        }
    }

    /// Puts `policy` together with this normalisation and these bounds into
    /// `out`, field by field (no `Actor` temporary on the stack).
    pub fn stage(&self, policy: &fixpo_core::Policy<OBS, HID, ACT>, out: &mut Controller) {
        out.policy = *policy;
        out.obs_norm = self.obs_norm;
        out.obs_clip = self.obs_clip;
        out.action_low = self.low;
        out.action_high = self.high;
    }
}

/// The update's hyperparameters on the device: the host's Pendulum
/// settings with a rollout of one episode, minibatches of a third of it and
/// a tighter trust region (ε_KL = 0.2) for a policy that is already
/// deployed.
pub fn config() -> Config {
    Config {
        epochs: 10,
        minibatch: ROLLOUT / 3,
        fixup_minibatch: ROLLOUT,
        lr: 1e-3,
        eps_kl: 0.2,
        c_beta: 3.0,
        vf_coef: 0.5,
        vf_clip: 0.0,
        norm_adv: true,
        ..Config::REFERENCE
    }
}

/// Mean deterministic return of `actor` on `plant` (episodes of
/// [`ROLLOUT`] steps) over [`EVAL_EPISODES`] episodes with fixed initial
/// states.
pub fn evaluate<E: Env<OBS, ACT>>(label: &str, actor: &Controller, plant: &mut E) -> f32 {
    let mut sum = 0.0;
    for k in 0..EVAL_EPISODES {
        let mut rng = Pcg32::new(EVAL_SEED, k);
        let ep = evaluate_episode(plant, actor, &mut rng, true);
        defmt::info!(
            "eval {=str} episode {=u64}: return {=f32} ({=u32} steps)",
            label,
            k,
            ep.ret,
            ep.len
        );
        sum += ep.ret;
    }
    let mean = sum / EVAL_EPISODES as f32;
    defmt::info!("eval {=str} mean return {=f32}", label, mean);
    mean
}

/// Fingerprint of a deployed policy's every number (parameters,
/// statistics, clip): proves that the copy of π_old the trainer kept is
/// the policy that collected the rollout.
fn fingerprint(policy: &fixpo_core::Policy<OBS, HID, ACT>, norm: &ObsNorm<OBS>) -> u64 {
    use fixpo_core::params::Params;
    let mut h = 0x9E37_79B9_7F4A_7C15u64;
    let mut eat = |x: f32| {
        h = (h ^ u64::from(x.to_bits())).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 31;
    };
    for k in 0..fixpo_core::Policy::<OBS, HID, ACT>::SLICES {
        policy.slice(k).iter().for_each(|&x| eat(x));
    }
    norm.stats
        .mean
        .iter()
        .chain(&norm.stats.var)
        .for_each(|&x| eat(x));
    eat(norm.clip);
    h
}

/// Sets up the value function and the return scale: from a critic file if
/// one was loaded (`critic` = its network and ln σ_R), otherwise a fresh
/// value network and unit scale.
pub fn init_value(
    trainer: &mut Trainer<OBS, HID, ACT>,
    critic: Option<(&fixpo_core::Mlp<OBS, HID, ACT>, f32, f64)>,
) -> RewardScaler {
    let mut scaler = RewardScaler::default();
    match critic {
        Some((net, ln_sigma, count)) => {
            trainer.value = *net;
            scaler.stats.var = [libm::expf(2.0 * ln_sigma)];
            scaler.stats.count = count;
        }
        None => {
            let mut rng = Pcg32::new(ADAPT_SEED, 0);
            trainer.value.init(&mut rng, core::f32::consts::SQRT_2, 1.0);
        }
    }
    scaler
}

/// What `run` measured.
pub struct Outcome {
    /// Updates that ran (Ok or refused).
    pub updates: u32,
    /// Updates whose independently recomputed max KL exceeded ε_KL, or
    /// whose π_old fingerprint did not match.
    pub violations: u32,
}

/// Runs `updates` rounds of fixpo-core's training iteration on `plant`
/// (one episode with the stochastic policy, a rollout of [`ROLLOUT`]
/// steps — the plant truncates its episodes there — then one FixPO
/// update), each followed by an independent trust-region check. `cfg` is
/// [`config`] or a benchmarking variant.
pub fn run<E: Env<OBS, ACT>>(
    learner: &mut Learner<OBS, HID, ACT>,
    scratch: &mut Scratch,
    deploy: &Deploy,
    scaler: RewardScaler,
    plant: &mut E,
    cfg: &Config,
    updates: u32,
) -> Outcome {
    // Observation statistics stay those of the file (they are part of the
    // deployed policy); the return scale keeps adapting.
    learner.trainer.norm = ObsNorm {
        stats: deploy.obs_norm,
        clip: deploy.obs_clip,
    };
    learner.stats = NormStats {
        obs: deploy.obs_norm,
        ret: scaler,
    };
    learner.collect = CollectConfig {
        gamma: 0.9,
        lambda: 0.95,
        ..CollectConfig::REFERENCE
    };
    learner.track_obs = false;
    let mut rng = Pcg32::new(ADAPT_SEED, 1);
    let mut slot = EnvSlot::NEW;
    let rollout = scratch.rollout();
    let mut out = Outcome {
        updates: 0,
        violations: 0,
    };
    for u in 0..updates {
        // π_old as the firmware deployed it, before the trainer touches it.
        let old_fp = fingerprint(&learner.trainer.policy, &learner.trainer.norm);
        // One episode: the plant truncates after ROLLOUT steps.
        let mut ep_ret = f32::NAN;
        let result = learner.iterate(
            &mut rollout.batch,
            &mut rollout.gae,
            cfg,
            &mut rng,
            &mut Serial,
            |b, batch, gae, rng, merge| {
                let seen = b.collect(plant, &mut slot, rng, batch, gae, &mut |ep| {
                    ep_ret = ep.ret;
                })?;
                merge(&seen);
                Ok(())
            },
        );
        let rep = match result {
            Ok(rep) => rep,
            Err(LearnError::Collect(e)) => {
                defmt::error!("update {=u32}: rollout failed: {}", u, e);
                continue;
            }
            // The trainer restored the policy, value and β: the deployed
            // policy is unchanged.
            Err(e) => {
                out.updates += 1;
                defmt::warn!("update {=u32}: refused ({}), policy kept", u, e);
                continue;
            }
        };
        out.updates += 1;
        // Independent check: the fingerprint proves the trainer's copy of
        // π_old is the policy that collected the rollout; fixpo-check
        // recomputes both policies in f64 at every raw observation of the
        // rollout.
        let trainer = &learner.trainer;
        let (prev, prev_norm) = trainer.previous();
        let fp_ok = fingerprint(prev, prev_norm) == old_fp;
        let a = audit_deployed(
            Deployed {
                policy: prev,
                obs_norm: &prev_norm.stats,
                obs_clip: prev_norm.clip,
            },
            Deployed {
                policy: &trainer.policy,
                obs_norm: &trainer.norm.stats,
                obs_clip: trainer.norm.clip,
            },
            rollout.batch.iter().map(|t| &t.obs),
            cfg.eps_kl,
        );
        let indep = a.max_kl as f32;
        let ok = fp_ok && a.passed();
        if !ok {
            out.violations += 1;
        }
        defmt::info!(
            "update {=u32}: return {=f32} max_kl {=f32} eps_kl {=f32} beta {=f32} fixup_steps {=u32} backtrack_t {=f32} indep_max_kl {=f32} fingerprint_ok {=bool} primary_steps {=u32}",
            u,
            ep_ret,
            rep.max_kl,
            cfg.eps_kl,
            rep.beta,
            rep.fixup_grad_steps,
            rep.backtrack_t,
            indep,
            fp_ok,
            rep.primary_grad_steps
        );
        if !ok {
            defmt::error!(
                "update {=u32}: trust region check FAILED (max KL {=f32} > eps {=f32} or fingerprint mismatch)",
                u,
                indep,
                cfg.eps_kl
            );
        }
    }
    out
}

/// Benchmark variants of [`config`] for `scripts/firmware.sh count`:
/// differencing their per-update instruction counts isolates one primary
/// minibatch step and one fixup check.
pub fn bench_config(variant: &str) -> Option<Config> {
    let base = Config {
        epochs: 1,
        fixup_schedule: FixupSchedule::End,
        ..config()
    };
    match variant {
        "e1" => Some(base),
        "e2" => Some(Config { epochs: 2, ..base }),
        "nofix" => Some(Config {
            algo: Algo::FixpoNoFixup,
            ..base
        }),
        "full" => Some(config()),
        _ => None,
    }
}

/// Sets which parameters the updates may train.
pub fn set_scope(trainer: &mut Trainer<OBS, HID, ACT>, head_only: bool) {
    trainer.scope = if head_only {
        TrainScope::Head
    } else {
        TrainScope::All
    };
}
