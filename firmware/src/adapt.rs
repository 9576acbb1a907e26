//! On-device adaptation through fixpo-core's round (`fixpo_core::adapt`):
//! episodes on the plant at control rate, rollouts in static buffers, the
//! FixPO update between episodes, and fixpo-check's independent check of
//! the trust region after every update (its own f64 normalisation,
//! forward pass and KL, at the rollout's raw observations), with the
//! update reverted if it fails. This file only logs and picks settings.

use fixpo_check::Independent;
use fixpo_core::adapt::{
    self as adapt_core, Adapter, Decision, Deploy, Keeper, RoundReport, Settings, Total,
    fingerprint,
};
use fixpo_core::env::Env;
use fixpo_core::fixpo::{Algo, Config, FixupSchedule, TrainScope, Trainer};
use fixpo_core::learn::{LearnError, Learner};
use fixpo_core::policy::Policy;
use fixpo_core::rollout::EnvSlot;

use crate::boot;
use crate::control::{ACT, Controller, HID, OBS, TrainLayout};
use crate::mem::{ROLLOUT, Rollout, Scratch};
use crate::persist::{Flash, NoFlash, Persist};
use crate::plant::SafeStop;

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
#[inline(never)]
pub fn evaluate<E: Env<OBS, ACT>>(label: &str, actor: &Controller, plant: &mut E) -> f32 {
    let mean = adapt_core::evaluate(plant, actor, EVAL_EPISODES, EVAL_SEED, &mut |k, ep| {
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

/// Safe adaptation beyond one step (docs/store.md, firmware/README.md):
/// the cumulative bound, the fixed evaluation, rollback and persistence.
#[derive(Clone, Copy, Debug, PartialEq, defmt::Format)]
pub struct Safety {
    /// ε_total: every accepted policy stays within this KL of the factory
    /// policy at every state of its rollout (`None`: off). Needs the
    /// store's factory record.
    pub eps_total: Option<f32>,
    /// Updates between two fixed evaluations ([`EVAL_EPISODES`] episodes
    /// from fixed starts); 0: none, hence no rollback and no writes.
    pub eval_every: u32,
    /// Rollback when an evaluation falls more than this (in return) below
    /// the best persisted policy's.
    pub margin: f32,
    /// Accepted updates between two writes at least (flash wear).
    pub persist_every: u32,
    /// An evaluation is persisted when it beats the best persisted return
    /// by more than this (`fixpo_core::adapt::Keeper::min_gain`).
    pub min_gain: f32,
}

/// The device's safety preset: ε_total = 5·ε_KL, an evaluation every 5
/// updates, rollback 100 below the best (the simulated pendulum's
/// evaluation moves by tens between updates, by hundreds when a start's
/// swing-up is lost), a write at most every 5 accepted updates (13 writes
/// per erase of a 128 KiB STM32F4 sector: docs/store.md).
pub const SAFETY: Safety = Safety {
    eps_total: Some(1.0),
    eval_every: 5,
    margin: 100.0,
    persist_every: 5,
    min_gain: 0.0,
};

/// Adaptation without evaluations, bound or writes (instruction counts).
pub const PLAIN: Safety = Safety {
    eps_total: None,
    eval_every: 0,
    margin: 0.0,
    persist_every: 0,
    min_gain: 0.0,
};

/// What watches an adaptation run besides the trust region: the safety
/// settings, the store (if any) and a trace of every round.
pub struct Guards<'a, F> {
    /// Cumulative bound, evaluations, rollback, writes.
    pub safety: Safety,
    /// The policy store; `None`: no bound, rollback or writes.
    pub persist: Option<&'a mut Persist<F>>,
    /// Sees every round right after it: its report, its rollout and the
    /// policy it left deployed (the QEMU board records them for the host's
    /// own check).
    pub trace: &'a mut dyn FnMut(u32, &RoundReport, &Rollout, &Policy<OBS, HID, ACT>),
    /// Sees every update once it is settled (after its evaluation, if
    /// any): the host link streams it. Returning `false` stops the run
    /// after this update.
    pub report: &'a mut dyn FnMut(&Update<'_>) -> bool,
}

/// One settled update, for [`Guards::report`].
#[derive(Clone, Copy, Debug)]
pub struct Update<'r> {
    /// Index of the update in this run, from 0.
    pub index: u32,
    /// The round, or `None` when the update was refused before a round
    /// report existed (a failed rollout or a diverging update; the policy
    /// was kept).
    pub round: Option<&'r RoundReport>,
    /// ε_KL of the update.
    pub eps_kl: f32,
    /// ε_total, when the cumulative bound was on.
    pub eps_total: Option<f32>,
    /// The evaluation after this update rolled the policy back.
    pub rolled_back: bool,
    /// The policy was committed to the store as this record.
    pub committed: Option<u32>,
}

impl<'a> Guards<'a, NoFlash> {
    /// No store, no reports, [`PLAIN`] settings.
    pub fn none(
        trace: &'a mut dyn FnMut(u32, &RoundReport, &Rollout, &Policy<OBS, HID, ACT>),
        report: &'a mut dyn FnMut(&Update<'_>) -> bool,
    ) -> Guards<'a, NoFlash> {
        Guards {
            safety: PLAIN,
            persist: None,
            trace,
            report,
        }
    }
}

/// What `run` measured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Updates that ran (Ok or refused).
    pub updates: u32,
    /// Updates whose independently recomputed max KL exceeded ε_KL, or
    /// whose π_old fingerprint did not match (each reverted).
    pub violations: u32,
    /// Updates reverted because no step met ε_total.
    pub drift_refusals: u32,
    /// Policies committed to the store.
    pub commits: u32,
    /// Rollbacks to the best persisted policy.
    pub rollbacks: u32,
    /// Updates kept (both checks and ε_total passed).
    pub kept: u32,
    /// Whether [`Guards::report`] stopped the run early.
    pub stopped: bool,
}

/// Runs `updates` rounds of fixpo-core's adaptation round on `plant`
/// (one episode with the stochastic policy, a rollout of [`ROLLOUT`]
/// steps — the plant truncates its episodes there — one FixPO update, the
/// independent check), under `guards.safety`: with a store, the
/// cumulative bound against its factory record, a fixed evaluation every
/// `eval_every` updates judged by `fixpo_core::adapt::Keeper`, writes of
/// new best policies (motor stopped) and rollbacks to the best persisted
/// one. `learner` holds the deployed policy, set up by
/// `fixpo_core::adapt::load`; `deploy` is its normalisation and bounds (a
/// rollback may change them); `cfg` is [`SETTINGS`]`.update` or a
/// benchmarking variant. The plant is lent, so the caller keeps it (a
/// real board controls it afterwards).
#[inline(always)]
pub fn run<E, F>(
    learner: &mut Learner<OBS, HID, ACT, TrainLayout>,
    scratch: &mut Scratch,
    plant: &mut E,
    cfg: &Config,
    updates: u32,
    deploy: &mut Deploy<OBS, ACT>,
    guards: Guards<'_, F>,
) -> Outcome
where
    E: Env<OBS, ACT> + SafeStop,
    F: Flash,
{
    let Guards {
        safety,
        mut persist,
        trace,
        report,
    } = guards;
    let mut adapter = Adapter::new(plant, Independent, SETTINGS.seed);
    let mut out = Outcome::default();
    let mut keeper = Keeper::new(safety.margin, safety.persist_every);
    keeper.min_gain = safety.min_gain;
    let judged = safety.eval_every > 0 && persist.is_some();
    if judged {
        let ret = evaluate(
            "reference",
            boot::stage(scratch, learner, deploy),
            &mut adapter.env,
        );
        adapter.slot = EnvSlot::NEW;
        keeper.judge(ret);
    }
    if safety.eps_total.is_some() && persist.is_none() {
        defmt::warn!("eps_total needs the store's factory record: off");
    }
    let eps_total = safety.eps_total.filter(|_| persist.is_some());
    for u in 0..updates {
        let mut total = match (eps_total, persist.as_deref_mut()) {
            (Some(eps), Some(p)) => p.factory().map(|f| Total::new(f, eps)),
            _ => None,
        };
        let mut update = Update {
            index: u,
            round: None,
            eps_kl: cfg.eps_kl,
            eps_total,
            rolled_back: false,
            committed: None,
        };
        let r = match adapter.round_with(learner, scratch.rollout(), cfg, total.as_mut()) {
            Ok(r) => r,
            Err(e) => {
                match e {
                    LearnError::Collect(e) => {
                        defmt::error!("update {=u32}: rollout failed: {}", u, e);
                    }
                    // The trainer restored the policy, value and β: the
                    // deployed policy is unchanged.
                    e => {
                        out.updates += 1;
                        defmt::warn!("update {=u32}: refused ({}), policy kept", u, e);
                    }
                }
                if !report(&update) {
                    out.stopped = true;
                    break;
                }
                continue;
            }
        };
        out.updates += 1;
        log_round(u, cfg, &r);
        trace(u, &r, scratch.rollout(), &learner.trainer.policy);
        let step_ok = r.fingerprint_ok && r.check.passed;
        if !step_ok {
            out.violations += 1;
        } else if !r.kept {
            out.drift_refusals += 1;
        }
        if r.kept {
            out.kept += 1;
            keeper.updated();
        }
        update.round = Some(&r);
        let due = judged && (u + 1) % safety.eval_every == 0;
        if let (Some(p), true) = (persist.as_deref_mut(), due) {
            let (rolled_back, committed) = checkpoint(
                learner,
                scratch,
                &mut adapter,
                deploy,
                &mut keeper,
                p,
                &mut out,
            );
            update.rolled_back = rolled_back;
            update.committed = committed;
        }
        if !report(&update) {
            out.stopped = true;
            break;
        }
    }
    out
}

/// The fixed evaluation after an update and what the keeper decides of
/// it: persist the policy (motor stopped) or roll back to the best
/// persisted one. Returns whether it rolled back and the record it
/// committed. Not inlined: its frame stays off the stack of the updates
/// (the 64 KiB RAM budget of the QEMU board).
#[inline(never)]
fn checkpoint<E, C, F>(
    learner: &mut Learner<OBS, HID, ACT, TrainLayout>,
    scratch: &mut Scratch,
    adapter: &mut Adapter<&mut E, C, OBS>,
    deploy: &mut Deploy<OBS, ACT>,
    keeper: &mut Keeper,
    p: &mut Persist<F>,
    out: &mut Outcome,
) -> (bool, Option<u32>)
where
    E: Env<OBS, ACT> + SafeStop,
    F: Flash,
{
    let actor = boot::stage(scratch, learner, deploy);
    let ret = evaluate("check", actor, &mut adapter.env);
    adapter.slot = EnvSlot::NEW;
    match keeper.judge(ret) {
        Decision::Reference => defmt::info!("keeper: reference return {=f32}", ret),
        Decision::Continue => {}
        Decision::Persist => {
            adapter.env.stop_motor();
            let fp = fingerprint(&learner.trainer.policy, &learner.trainer.norm);
            let file = scratch.file();
            match adapt_core::save(learner, deploy, file) {
                Ok(n) => {
                    if let Some(seq) = p.commit(&file[..n], fp) {
                        out.commits += 1;
                        keeper.persisted(ret);
                        return (false, Some(seq));
                    }
                }
                Err(e) => defmt::error!("store: cannot encode the policy ({})", e),
            }
        }
        Decision::Rollback { best } => {
            adapter.env.stop_motor();
            defmt::warn!(
                "rollback: return {=f32} fell below the best persisted {=f32} - margin {=f32}",
                ret,
                best,
                keeper.margin
            );
            match p.load(learner, scratch.file()) {
                Some((source, loaded)) => {
                    *deploy = loaded.deploy;
                    out.rollbacks += 1;
                    keeper.rolled_back();
                    defmt::warn!("rollback: restored {}", source);
                    return (true, None);
                }
                None => defmt::error!("rollback: nothing to restore; policy kept"),
            }
        }
    }
    (false, None)
}

/// Logs one round: the update, both checks, the cumulative bound.
#[inline(never)]
fn log_round(u: u32, cfg: &Config, r: &RoundReport) {
    let rep = r.update;
    defmt::info!(
        "update {=u32}: return {=f32} max_kl {=f32} eps_kl {=f32} beta {=f32} fixup_steps {=u32} backtrack_t {=f32} indep_max_kl {=f32} fingerprint_ok {=bool} primary_steps {=u32} kept {=bool}",
        u,
        r.episode_return,
        rep.max_kl,
        cfg.eps_kl,
        rep.beta,
        rep.fixup_grad_steps,
        rep.backtrack_t,
        r.check.max_kl as f32,
        r.fingerprint_ok,
        rep.primary_grad_steps,
        r.kept
    );
    if let Some(t) = r.total {
        defmt::info!(
            "update {=u32}: drift_kl {=f32} eps_total_ok {=bool} total_t {=f32} halvings {=u32}",
            u,
            t.drift.max_kl as f32,
            t.drift.passed,
            t.t,
            t.halvings
        );
        if let Some(e) = t.factory_error {
            defmt::error!(
                "update {=u32}: factory policy unreadable ({}), update reverted",
                u,
                e
            );
        }
    }
    if !(r.fingerprint_ok && r.check.passed) {
        defmt::error!(
            "update {=u32}: trust region check FAILED (max KL {=f32} > eps {=f32} or fingerprint mismatch), update reverted",
            u,
            r.check.max_kl as f32,
            cfg.eps_kl
        );
    } else if !r.kept {
        defmt::warn!(
            "update {=u32}: no step within eps_total, update reverted",
            u
        );
    }
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
        "e2x" => Some(Config {
            epochs: 2,
            fixup_schedule: FixupSchedule::EveryEpoch,
            ..base
        }),
        "e2nofix" => Some(Config {
            epochs: 2,
            algo: Algo::FixpoNoFixup,
            ..base
        }),
        "nofix" => Some(Config {
            algo: Algo::FixpoNoFixup,
            ..base
        }),
        "full" => Some(full),
        _ => None,
    }
}

/// Sets which parameters the updates may train (a `head-only` build
/// trains the head whatever this says: `Trainer::scope_in_force`).
pub fn set_scope(trainer: &mut Trainer<OBS, HID, ACT, TrainLayout>, head_only: bool) {
    trainer.scope = if head_only {
        TrainScope::Head
    } else {
        TrainScope::All
    };
}
