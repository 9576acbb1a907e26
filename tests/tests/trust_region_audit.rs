//! The trust-region guarantee, checked from the outside.
//!
//! Every update here is audited by `fixpo-check`, which recomputes both
//! deployed policies (the behaviour policy that collected the batch, with
//! its observation statistics, and the policy deployed after the update,
//! with its own) in f64 from their stored values, at the batch's raw
//! observations, with its own normalisation, forward pass and KL. It shares
//! no maths with fixpo-core. A state counts as a violation when its KL
//! exceeds ε_KL or anything is not finite.
//!
//! 1. Hostile grids: Gaussian and categorical policies, ε_KL from 0.5 down
//!    to 1e-7, learning rates up to 1, advantages up to 1e4, both fixup
//!    schedules, several consecutive updates whose observation statistics
//!    move under them (drifting observations, outliers beyond the clip).
//! 2. Real `fixpo train` runs of the classic presets, through the host's
//!    parallel backend, audited at every iteration.
//! 3. Extreme inputs: an observation of 1e38 with no clip, and parameters
//!    whose outputs overflow: `Err` or a fallback, never `Ok` with a
//!    non-finite output at a batch state.

use fixpo_check::{Audit, audit};
use fixpo_core::actor::Actor;
use fixpo_core::fixpo::{Config, FixupSchedule, Layout, Lean, Serial, Trainer, Transition, Work};
use fixpo_core::norm::{ObsNorm, RunningMeanStd};
use fixpo_core::params::Params;
use fixpo_core::rng::{Pcg32, normal, uniform};
use fixpo_core::{PolicyKind, UpdateReport, file};
use fixpo_host::config::RunConfig;
use fixpo_host::train::{Observer, TrainOptions, UpdateRecord, train};

const O: usize = 4;
const H: usize = 16;
const A: usize = 2;

fn actor<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A>>(
    t: &Trainer<O, H, A, L>,
) -> Actor<O, H, A> {
    Actor {
        policy: t.policy,
        obs_norm: t.norm.stats,
        obs_clip: t.norm.clip,
        action_low: [-1.0; A],
        action_high: [1.0; A],
    }
}

/// `n` transitions with actions sampled from `t`'s policy acting on raw
/// observations whose offset and scale drift with `round` (1% outliers
/// far beyond the clip), advantages of scale `adv`.
fn batch<const O: usize, const H: usize, const A: usize, L: Layout<O, H, A>>(
    t: &Trainer<O, H, A, L>,
    rng: &mut Pcg32,
    n: usize,
    round: u32,
    adv: f32,
) -> Vec<Transition<O, A>> {
    (0..n)
        .map(|_| {
            let outlier = uniform(rng) < 0.01;
            let obs: [f32; O] = core::array::from_fn(|j| {
                let (off, scale) = (
                    2.0 * round as f32 * (j as f32 - 1.5),
                    1.0 + round as f32 * j as f32,
                );
                off + scale * normal(rng) * if outlier { 50.0 } else { 1.0 }
            });
            let (action, _) = t.policy.sample(&t.norm.apply(&obs), rng);
            let value = normal(rng);
            let advantage = adv * normal(rng);
            Transition {
                obs,
                action,
                advantage,
                ret: value + advantage,
                value,
                ..Transition::ZERO
            }
        })
        .collect()
}

/// Totals over many audited updates.
#[derive(Default, Debug)]
struct Tally {
    audit: Audit,
    updates: u64,
    refused: u64,
    reverted: u64,
    backtracked: u64,
}

impl Tally {
    /// Audits one update: the independent checker passes, the report's
    /// bound is within ε_KL and is an upper bound on what the checker
    /// measured.
    fn check<const O: usize, const H: usize, const A: usize>(
        &mut self,
        what: &str,
        behaviour: &Actor<O, H, A>,
        deployed: &Actor<O, H, A>,
        obs: &[[f32; O]],
        rep: &UpdateReport,
        eps: f32,
    ) {
        let a = audit(behaviour, deployed, obs.iter(), eps);
        assert!(a.passed(), "{what}: {a:?} ({rep:?})");
        assert!(rep.max_kl <= eps, "{what}: reported {rep:?}");
        assert!(
            a.max_kl <= rep.max_kl as f64,
            "{what}: checker's max KL {} above the certified bound {}",
            a.max_kl,
            rep.max_kl
        );
        if rep.reverted {
            assert_eq!(
                behaviour, deployed,
                "{what}: a revert must give the behaviour policy"
            );
        }
        self.audit.merge(&a);
        self.updates += 1;
        self.reverted += u64::from(rep.reverted);
        self.backtracked += u64::from(rep.backtracks > 0);
    }
}

#[test]
fn hostile_grids_never_leave_the_trust_region() {
    let mut tally = Tally::default();
    let eps_grid = [0.5f32, 0.1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-7];
    let mut combo = 0u64;
    for kind in [PolicyKind::Gaussian, PolicyKind::Categorical] {
        for eps in eps_grid {
            for lr in [1e-3f32, 0.1, 1.0] {
                for adv in [1.0f32, 1e4] {
                    for schedule in [FixupSchedule::EveryEpoch, FixupSchedule::End] {
                        combo += 1;
                        let mut rng = Pcg32::seed_from_u64(combo);
                        let mut t: Box<Trainer<O, H, A>> = Box::new(Trainer::zero(kind, 1.0));
                        t.init(&mut rng, -0.5, 1.0);
                        let cfg = Config {
                            epochs: 4,
                            minibatch: 256,
                            fixup_minibatch: 512,
                            lr,
                            eps_kl: eps,
                            fixup_schedule: schedule,
                            max_fixup_passes: 8,
                            max_fixup_steps: 64,
                            max_backtracks: 20,
                            ..Config::REFERENCE
                        };
                        // Statistics of everything seen, as a trainer keeps them.
                        let mut seen = RunningMeanStd::<O>::NEW;
                        for round in 0..3 {
                            let mut b = batch(&t, &mut rng, 2048, round, adv);
                            b.iter().for_each(|tr| {
                                seen.update(&tr.obs);
                            });
                            let next = ObsNorm {
                                stats: seen,
                                ..t.norm
                            };
                            let behaviour = actor(&t);
                            let before = (*t).clone();
                            let what = format!(
                                "{kind:?} eps {eps} lr {lr} adv {adv} {schedule:?} round {round}"
                            );
                            match t.update_with_norm(&mut b, &cfg, &next, &mut rng, &mut Serial) {
                                Ok(rep) => {
                                    let obs: Vec<[f32; O]> = b.iter().map(|tr| tr.obs).collect();
                                    tally.check(&what, &behaviour, &actor(&t), &obs, &rep, eps);
                                }
                                Err(e) => {
                                    // Refused: nothing changed.
                                    assert_eq!(t.policy, before.policy, "{what}: {e}");
                                    assert_eq!(t.norm, before.norm, "{what}: {e}");
                                    tally.refused += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "hostile grids: {} updates audited ({} refused, {} reverted, {} backtracked), {} states, worst KL/eps {:.6}",
        tally.updates,
        tally.refused,
        tally.reverted,
        tally.backtracked,
        tally.audit.states,
        tally.audit.worst_ratio
    );
    assert!(tally.audit.states >= 1_000_000, "{tally:?}");
    // The grid must exercise the interesting paths, not only easy updates.
    assert!(tally.backtracked > 0 && tally.reverted > 0, "{tally:?}");
    assert!(tally.updates > 9 * tally.refused, "{tally:?}");
}

/// The same hostile grid for the `Lean` layout (16-bit Adam moments, one
/// gradient buffer, lent working storage: the firmware's 64×64 full
/// fine-tuning), single-action Gaussian policies: the certified bound holds
/// with its own numbers too, and a refused update leaves the policy and its
/// normalisation as they were and the value function finite.
#[test]
fn lean_layout_never_leaves_the_trust_region() {
    const H: usize = 16;
    let mut tally = Tally::default();
    let mut combo = 0u64;
    for eps in [0.5f32, 1e-2, 1e-4, 1e-7] {
        for lr in [1e-3f32, 0.1, 1.0] {
            for adv in [1.0f32, 1e4] {
                for schedule in [FixupSchedule::EveryEpoch, FixupSchedule::End] {
                    combo += 1;
                    let mut rng = Pcg32::seed_from_u64(1000 + combo);
                    let mut t: Box<Trainer<O, H, 1, Lean>> =
                        Box::new(Trainer::zero(PolicyKind::Gaussian, 1.0));
                    let mut work: Box<Work<O, H, 1, Lean>> = Box::new(Work::ZERO);
                    t.init(&mut rng, -0.5, 1.0);
                    let cfg = Config {
                        epochs: 4,
                        minibatch: 256,
                        fixup_minibatch: 512,
                        lr,
                        eps_kl: eps,
                        fixup_schedule: schedule,
                        max_fixup_passes: 8,
                        max_fixup_steps: 64,
                        max_backtracks: 20,
                        ..Config::REFERENCE
                    };
                    let mut seen = RunningMeanStd::<O>::NEW;
                    for round in 0..3 {
                        let mut b = batch(&t, &mut rng, 2048, round, adv);
                        b.iter().for_each(|tr| {
                            seen.update(&tr.obs);
                        });
                        let next = ObsNorm {
                            stats: seen,
                            ..t.norm
                        };
                        let behaviour = actor(&t);
                        let (policy0, norm0) = (t.policy, t.norm);
                        let what =
                            format!("lean eps {eps} lr {lr} adv {adv} {schedule:?} round {round}");
                        match t.update_lent(&mut work, &mut b, &cfg, &next, &mut rng, &mut Serial) {
                            Ok(rep) => {
                                let obs: Vec<[f32; O]> = b.iter().map(|tr| tr.obs).collect();
                                tally.check(&what, &behaviour, &actor(&t), &obs, &rep, eps);
                                // The lent storage holds the behaviour policy.
                                let (prev, prev_norm) = t.previous_and_current_lent(&mut work).0;
                                assert_eq!((prev, prev_norm), (&policy0, &norm0), "{what}");
                            }
                            Err(e) => {
                                assert_eq!(t.policy, policy0, "{what}: {e}");
                                assert_eq!(t.norm, norm0, "{what}: {e}");
                                assert!(t.value.all_finite(), "{what}: {e}");
                                tally.refused += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    eprintln!(
        "lean grid: {} updates audited ({} refused, {} reverted, {} backtracked), {} states, worst KL/eps {:.6}",
        tally.updates,
        tally.refused,
        tally.reverted,
        tally.backtracked,
        tally.audit.states,
        tally.audit.worst_ratio
    );
    assert!(tally.audit.states >= 250_000, "{tally:?}");
    assert!(tally.backtracked > 0, "{tally:?}");
    assert!(tally.updates > 9 * tally.refused, "{tally:?}");
}

/// Audits every update of a real training run.
struct Auditor<const O: usize, const H: usize, const A: usize> {
    name: String,
    tally: Tally,
}

impl<const O: usize, const H: usize, const A: usize> Observer for Auditor<O, H, A> {
    fn wants_updates(&self) -> bool {
        true
    }

    fn on_update(&mut self, u: &UpdateRecord) {
        let behaviour = file::decode::<O, H, A>(&u.behaviour).expect("behaviour policy file");
        let deployed = file::decode::<O, H, A>(&u.deployed).expect("deployed policy file");
        assert_eq!(u.obs_dim, O);
        let obs: Vec<[f32; O]> = u
            .raw_obs
            .chunks_exact(O)
            .map(|r| r.try_into().expect("row"))
            .collect();
        let what = format!("{} iteration {}", self.name, u.iter);
        self.tally
            .check(&what, &behaviour, &deployed, &obs, &u.report, u.eps_kl);
    }
}

fn audit_run<const O: usize, const H: usize, const A: usize>(
    env: &str,
    seed: u64,
    steps: u64,
) -> Tally {
    let mut config = RunConfig::preset(env).expect("preset");
    assert_eq!(config.hidden, H, "{env}: preset hidden size");
    config.seed = seed;
    config.total_steps = config.total_steps.min(steps);
    config.eval_every = 0;
    let mut opts = TrainOptions::new(config, None);
    opts.plot = false;
    let mut auditor = Auditor::<O, H, A> {
        name: format!("{env} seed {seed}"),
        tally: Tally::default(),
    };
    let sum = train(&opts, &mut auditor).expect("training run");
    assert_eq!(
        auditor.tally.updates, sum.updates,
        "{env}: every update audited"
    );
    assert_eq!(sum.kl_violations, 0);
    auditor.tally
}

#[test]
fn real_runs_of_the_classic_presets_stay_in_the_trust_region() {
    // CI audits the first 150k steps of each preset (every update of the
    // shorter presets); FIXPO_AUDIT_FULL=1 audits the whole runs.
    let cap = if std::env::var_os("FIXPO_AUDIT_FULL").is_some() {
        u64::MAX
    } else {
        150_000
    };
    let mut total = Tally::default();
    for seed in [0u64, 1] {
        for t in [
            audit_run::<3, 32, 1>("pendulum", seed, cap),
            audit_run::<4, 32, 2>("cartpole", seed, cap),
            audit_run::<2, 64, 1>("mountaincar-continuous", seed, cap),
            audit_run::<6, 64, 3>("acrobot", seed, cap),
        ] {
            total.audit.merge(&t.audit);
            total.updates += t.updates;
            total.reverted += t.reverted;
            total.backtracked += t.backtracked;
        }
    }
    eprintln!(
        "classic presets: {} updates audited ({} reverted, {} backtracked), {} states, worst KL/eps {:.6}",
        total.updates,
        total.reverted,
        total.backtracked,
        total.audit.states,
        total.audit.worst_ratio
    );
    assert!(total.audit.passed());
}

#[test]
fn extreme_observations_and_overflowing_parameters_never_pass_with_non_finite_outputs() {
    let (mut ok, mut refused) = (0, 0);
    for seed in 0..20u64 {
        for kind in [PolicyKind::Gaussian, PolicyKind::Categorical] {
            let mut rng = Pcg32::seed_from_u64(seed);
            let mut t: Box<Trainer<O, H, A>> = Box::new(Trainer::zero(kind, 1.0));
            t.init(&mut rng, -0.5, 1.0);
            // No clip: the raw 1e38 reaches the network.
            t.norm.clip = f32::MAX;
            if seed % 2 == 1 {
                // Parameters whose first layer overflows on ordinary inputs.
                t.policy
                    .net
                    .w1
                    .iter_mut()
                    .flatten()
                    .for_each(|w| *w *= 1e37);
            }
            let mut b = batch(&t, &mut rng, 256, 0, 1.0);
            b[17].obs[seed as usize % O] = 1e38;
            b[99].obs[(seed as usize + 1) % O] = -1e38;
            let behaviour = actor(&t);
            let before = (*t).clone();
            let cfg = Config {
                epochs: 3,
                minibatch: 64,
                fixup_minibatch: 128,
                lr: 0.1,
                eps_kl: 0.05,
                ..Config::REFERENCE
            };
            match t.update(&mut b, &cfg, &mut rng) {
                Ok(rep) => {
                    let obs: Vec<[f32; O]> = b.iter().map(|tr| tr.obs).collect();
                    let deployed = actor(&t);
                    // Every batch state's output of the deployed policy is
                    // finite, as the deployed controller computes it.
                    for x in &obs {
                        let out = deployed.policy.output(&deployed.normalize(x));
                        assert!(
                            out.iter().all(|v| v.is_finite()),
                            "seed {seed} {kind:?}: {out:?} at {x:?} ({rep:?})"
                        );
                    }
                    assert!(rep.max_kl <= cfg.eps_kl, "{rep:?}");
                    let a = audit(&behaviour, &deployed, obs.iter(), cfg.eps_kl);
                    // Where the behaviour policy itself is finite in f64,
                    // the checker must agree.
                    if a.non_finite == 0 {
                        assert!(a.passed(), "{a:?}");
                    }
                    ok += 1;
                }
                Err(e) => {
                    assert_eq!(t.policy, before.policy, "{e}");
                    assert!(t.value.all_finite());
                    refused += 1;
                }
            }
        }
    }
    eprintln!("extreme inputs: {ok} updates Ok (finite at every batch state), {refused} refused");
    assert!(ok + refused == 40);
}
