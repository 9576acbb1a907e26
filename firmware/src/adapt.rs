//! On-device adaptation through fixpo-core's round (`fixpo_core::adapt`):
//! episodes on the plant at control rate, rollouts in static buffers, the
//! FixPO update between episodes, and fixpo-check's independent check of
//! the trust region after every update (its own f64 normalisation,
//! forward pass and KL, at the rollout's raw observations), with the
//! update reverted if it fails. This file only logs and picks settings.

use fixpo_check::Independent;
use fixpo_core::adapt::{self, Adapter, Settings};
use fixpo_core::env::Env;
use fixpo_core::fixpo::{Algo, Config, FixupSchedule, TrainScope, Trainer};
use fixpo_core::learn::{LearnError, Learner};

use crate::control::{ACT, Controller, HID, OBS};
use crate::mem::{ROLLOUT, Scratch};

/// Episodes per evaluation (before and after adaptation).
pub const EVAL_EPISODES: u64 = 5;
/// Seed of the evaluation episodes' initial states (the same before and
/// after, so the two means compare the same starts).
const EVAL_SEED: u64 = 0xE7A1_5EED;

/// The device preset of fixpo-core for this build's rollout.
pub const SETTINGS: Settings = Settings::device(ROLLOUT);

/// Mean deterministic return of `actor` on `plant` (episodes of
/// [`ROLLOUT`] steps) over [`EVAL_EPISODES`] episodes with fixed initial
/// states.
pub fn evaluate<E: Env<OBS, ACT>>(label: &str, actor: &Controller, plant: &mut E) -> f32 {
    let mean = adapt::evaluate(plant, actor, EVAL_EPISODES, EVAL_SEED, &mut |k, ep| {
        defmt::info!(
            "eval {=str} episode {=u64}: return {=f32} ({=u32} steps)",
            label,
            k,
            ep.ret,
            ep.len
        );
    });
    defmt::info!("eval {=str} mean return {=f32}", label, mean);
    mean
}

/// What `run` measured.
pub struct Outcome {
    /// Updates that ran (Ok or refused).
    pub updates: u32,
    /// Updates whose independently recomputed max KL exceeded ε_KL, or
    /// whose π_old fingerprint did not match (each reverted).
    pub violations: u32,
}

/// Runs `updates` rounds of fixpo-core's adaptation round on `plant`
/// (one episode with the stochastic policy, a rollout of [`ROLLOUT`]
/// steps — the plant truncates its episodes there — one FixPO update, the
/// independent check). `learner` holds the deployed policy, set up by
/// `fixpo_core::adapt::load`; `cfg` is [`SETTINGS`]`.update` or a
/// benchmarking variant. The plant is lent to the round, so the caller
/// keeps it (a real board controls it afterwards).
pub fn run<E: Env<OBS, ACT>>(
    learner: &mut Learner<OBS, HID, ACT>,
    scratch: &mut Scratch,
    plant: &mut E,
    cfg: &Config,
    updates: u32,
) -> Outcome {
    let mut adapter = Adapter::new(plant, Independent, SETTINGS.seed);
    let rollout = scratch.rollout();
    let mut out = Outcome {
        updates: 0,
        violations: 0,
    };
    for u in 0..updates {
        let r = match adapter.round(learner, rollout, cfg) {
            Ok(r) => r,
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
        if !r.kept {
            out.violations += 1;
        }
        let rep = r.update;
        defmt::info!(
            "update {=u32}: return {=f32} max_kl {=f32} eps_kl {=f32} beta {=f32} fixup_steps {=u32} backtrack_t {=f32} indep_max_kl {=f32} fingerprint_ok {=bool} primary_steps {=u32}",
            u,
            r.episode_return,
            rep.max_kl,
            cfg.eps_kl,
            rep.beta,
            rep.fixup_grad_steps,
            rep.backtrack_t,
            r.check.max_kl as f32,
            r.fingerprint_ok,
            rep.primary_grad_steps
        );
        if !r.kept {
            defmt::error!(
                "update {=u32}: trust region check FAILED (max KL {=f32} > eps {=f32} or fingerprint mismatch), update reverted",
                u,
                r.check.max_kl as f32,
                cfg.eps_kl
            );
        }
    }
    out
}

/// Benchmark variants of the device preset for `scripts/firmware.sh
/// count`: differencing their per-update instruction counts isolates one
/// primary minibatch step and one fixup check.
pub fn bench_config(variant: &str) -> Option<Config> {
    let full = SETTINGS.update;
    let base = Config {
        epochs: 1,
        fixup_schedule: FixupSchedule::End,
        ..full
    };
    match variant {
        "e1" => Some(base),
        "e2" => Some(Config { epochs: 2, ..base }),
        "nofix" => Some(Config {
            algo: Algo::FixpoNoFixup,
            ..base
        }),
        "full" => Some(full),
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
