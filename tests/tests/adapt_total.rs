//! Safe adaptation beyond one step, on the host against the firmware's
//! simulated plant (`fixpo_core::adapt`, as the firmware runs it):
//!
//! - the cumulative bound: rounds under ε_total
//!   (`Adapter::round_within`, checked by `fixpo_check::Independent`).
//!   This test recomputes, by itself, D_KL(π_factory ‖ π) and
//!   D_KL(π_old ‖ π) at every raw observation of every rollout for every
//!   kept policy: its own f64 normalisation, forward pass and closed-form
//!   Gaussian KL, sharing no code with fixpo-check or fixpo-core's maths.
//!   The bound is set tight enough that it binds (some rounds halve their
//!   step), so the test cannot pass by never meeting it;
//! - rollback: a plant change mid-run (the motor's wires swapped, so every
//!   action is negated) drops the fixed evaluation below the best
//!   persisted return by more than the margin; `adapt::Keeper` decides a
//!   rollback, and the policy restored from the (mock) store is the
//!   persisted one, bit for bit, and evaluates as it did on the old plant.
//!   Every policy persisted reads back as the learner's policy and critic.

use fixpo_check::Independent;
use fixpo_core::adapt::{self, Adapter, Decision, Keeper, Rollout, Settings, Total};
use fixpo_core::env::{ActionSpace, Env, Step};
use fixpo_core::envs::Pendulum;
use fixpo_core::file;
use fixpo_core::fixpo::{Head, Layout, Lean, TrainScope, Work};
use fixpo_core::learn::Learner;
use fixpo_core::{Actor, Params, PolicyKind, Value};
use fixpo_tests::device::{ROLLOUT, bits, host_file, max_kl, mean_return_on, plant, within};
use rand_core::RngCore;

#[test]
fn every_kept_policy_stays_within_eps_total_of_the_factory() {
    let learner = Box::new(Learner::<3, 32, 1>::zeroed(PolicyKind::Gaussian));
    rounds_within_eps_total(learner, ());
}

/// The same with fixpo-core's `Lean` layout (16-bit Adam moments, the
/// update's working storage lent in the rollout: the firmware's 64×64
/// full fine-tuning): its own numbers, the same guarantees.
#[test]
fn lean_layout_rounds_stay_within_both_bounds() {
    let learner = Box::new(Learner::<3, 32, 1, Lean>::zeroed(PolicyKind::Gaussian));
    rounds_within_eps_total(learner, Work::ZERO);
}

/// Rounds under a cumulative bound, each kept policy checked here against
/// both bounds; the bound must halve some steps and refuse others.
fn rounds_within_eps_total<L: Layout<3, 32, 1>>(
    mut learner: Box<Learner<3, 32, 1, L>>,
    lent: L::Lent,
) {
    const ROUNDS: u32 = 40;
    const EPS_TOTAL: f32 = 0.3;
    let factory_bytes = host_file(2);
    let factory: Actor<3, 32, 1> = file::decode(&factory_bytes).unwrap();
    let settings = Settings::device(ROLLOUT);
    let eps = settings.update.eps_kl;
    let mut rollout = Box::new(Rollout::<3, 1, ROLLOUT, L::Lent>::with_lent(lent));
    let loaded = adapt::load(&factory_bytes, &mut learner, &settings).unwrap();
    let norm = loaded.deploy.norm;
    let mut total = Total::new(&factory_bytes[..], EPS_TOTAL);
    let mut adapter = Adapter::new(plant(), Independent, settings.seed);
    let (mut kept, mut halved, mut refused, mut worst) = (0, 0, 0, 0.0f64);
    for round in 0..ROUNDS {
        let old = learner.trainer.policy;
        let r = adapter
            .round_within(&mut learner, &mut rollout, &settings.update, &mut total)
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        let states: Vec<[f32; 3]> = rollout.batch.iter().map(|t| t.obs).collect();
        let new = &learner.trainer.policy;
        assert_eq!(learner.trainer.norm, norm, "the deployed statistics stay");
        let tr = r
            .total
            .expect("a round under a cumulative bound reports it");
        assert_eq!(tr.factory_error, None);
        if r.kept {
            kept += 1;
            let drift = max_kl((&factory.policy, &norm), (new, &norm), &states);
            let step = max_kl((&old, &norm), (new, &norm), &states);
            assert!(
                within(drift, EPS_TOTAL),
                "round {round}: drift {drift} {tr:?}"
            );
            assert!(
                within(step, eps),
                "round {round}: step {step} {:?}",
                r.check
            );
            // The round's verdicts are about the policy it kept.
            assert!((tr.drift.max_kl - drift).abs() <= 1e-9 * drift.max(1e-3));
            assert!((r.check.max_kl - step).abs() <= 1e-9 * step.max(1e-3));
            assert!(tr.t > 0.0 && tr.t == 0.5f32.powi(tr.halvings as i32));
            halved += u32::from(tr.halvings > 0);
            worst = worst.max(drift);
        } else {
            refused += 1;
            assert_eq!(tr.t, 0.0);
            // Reverted because no tried step met both bounds, nothing else.
            assert!(r.fingerprint_ok && (!tr.drift.passed || !r.check.passed));
            assert_eq!(tr.halvings, total.max_halvings);
            assert_eq!(bits(new), bits(&old), "round {round}: reverted");
        }
    }
    eprintln!(
        "{ROUNDS} rounds: {kept} kept ({halved} after halving the step), {refused} reverted; \
         worst drift from the factory {worst:.4} (eps_total {EPS_TOTAL}, eps_kl {eps})"
    );
    // The bound binds (the test would prove nothing otherwise): it halves
    // some steps and refuses others.
    assert!(halved > 0, "the bound never halved a step");
    assert!(kept > 0 && refused > 0, "the bound never refused a step");
}

/// Rounds of a learner with fixpo-core's head-only layout
/// (`fixpo::Head`, the firmware's `head-only` build) under a cumulative
/// bound tight enough to halve steps: their reports (both checks' verdicts
/// included), their policies and their value functions are those of the
/// full layout in head scope, bit for bit. The halvings make the round
/// check π_old again after the factory policy took the spare buffer, where
/// the head layout rebuilds π_old.
#[test]
fn head_layout_rounds_match_the_full_layout_in_head_scope() {
    const ROUNDS: u32 = 12;
    let factory_bytes = host_file(2);
    let settings = Settings::device(ROLLOUT);
    fn run<L: Layout<3, 32, 1, Lent = ()>>(
        learner: &mut Learner<3, 32, 1, L>,
        factory: &[u8],
        settings: &Settings,
    ) -> Vec<(String, Vec<u32>, Vec<u32>)> {
        let mut rollout = Box::new(Rollout::<3, 1, ROLLOUT>::ZERO);
        adapt::load(factory, learner, settings).unwrap();
        learner.trainer.scope = TrainScope::Head;
        let mut total = Total::new(factory, 0.02);
        let mut adapter = Adapter::new(plant(), Independent, settings.seed);
        (0..ROUNDS)
            .map(|round| {
                let r = adapter
                    .round_within(learner, &mut rollout, &settings.update, &mut total)
                    .unwrap_or_else(|e| panic!("round {round}: {e}"));
                let v = &learner.trainer.value;
                let value = (0..<Value<3, 32> as Params>::SLICES)
                    .flat_map(|k| v.slice(k).iter().map(|x| x.to_bits()).collect::<Vec<_>>())
                    .collect();
                (format!("{r:?}"), bits(&learner.trainer.policy), value)
            })
            .collect()
    }
    let mut full = Box::new(Learner::<3, 32, 1>::zeroed(PolicyKind::Gaussian));
    let mut head = Box::new(Learner::<3, 32, 1, Head>::zeroed(PolicyKind::Gaussian));
    let a = run(&mut full, &factory_bytes, &settings);
    let b = run(&mut head, &factory_bytes, &settings);
    for (round, (a, b)) in a.iter().zip(&b).enumerate() {
        assert_eq!(a, b, "round {round}");
    }
    let halved = a
        .iter()
        .filter(|(r, _, _)| !r.contains("halvings: 0,"))
        .count();
    let kept = a
        .iter()
        .filter(|(r, _, _)| r.contains("kept: true"))
        .count();
    eprintln!("{ROUNDS} head-only rounds: {kept} kept, {halved} with halvings");
    assert!(halved > 0 && kept > 0, "{a:?}");
}

#[test]
fn an_unreadable_factory_refuses_the_update() {
    let bytes = host_file(3);
    let settings = Settings::device(ROLLOUT);
    let mut learner = Box::new(Learner::<3, 32, 1>::zeroed(PolicyKind::Gaussian));
    let mut rollout = Box::new(Rollout::<3, 1, ROLLOUT>::ZERO);
    adapt::load(&bytes, &mut learner, &settings).unwrap();
    let before = bits(&learner.trainer.policy);
    let mut corrupt = bytes.clone();
    corrupt[40] ^= 0x10;
    let mut total = Total::new(&corrupt[..], 1.0);
    let mut adapter = Adapter::new(plant(), Independent, settings.seed);
    let r = adapter
        .round_within(&mut learner, &mut rollout, &settings.update, &mut total)
        .unwrap();
    let tr = r.total.unwrap();
    assert!(
        !r.kept && tr.factory_error.is_some() && tr.t == 0.0,
        "{r:?}"
    );
    assert_eq!(bits(&learner.trainer.policy), before);
}

/// The plant with its motor wires swapped (from `swap_at` on): every
/// action is negated.
#[derive(Clone)]
struct Rewired {
    plant: Pendulum,
    swapped: bool,
}

impl Env<3, 1> for Rewired {
    fn action_space(&self) -> ActionSpace<1> {
        self.plant.action_space()
    }
    fn reset<R: RngCore + ?Sized>(&mut self, rng: &mut R) -> [f32; 3] {
        self.plant.reset(rng)
    }
    fn step(&mut self, action: &[f32; 1]) -> Step<3> {
        let a = if self.swapped { [-action[0]] } else { *action };
        self.plant.step(&a)
    }
}

#[test]
fn a_regression_rolls_back_to_the_best_persisted_policy() {
    const ROUNDS: u32 = 40;
    const SWAP_AT: u32 = 24;
    const EVAL_EVERY: u32 = 2;
    let factory_bytes = host_file(2);
    let factory: Actor<3, 32, 1> = file::decode(&factory_bytes).unwrap();
    let settings = Settings::device(ROLLOUT);
    let mut learner = Box::new(Learner::<3, 32, 1>::zeroed(PolicyKind::Gaussian));
    let mut rollout = Box::new(Rollout::<3, 1, ROLLOUT>::ZERO);
    let loaded = adapt::load(&factory_bytes, &mut learner, &settings).unwrap();
    // The mock store: every persisted file, the newest last.
    let mut store: Vec<(Vec<u8>, f32)> = Vec::new();
    let mut keeper = Keeper::new(40.0, 1);
    let mut total = Total::new(&factory_bytes[..], 1.0);
    let rewired = Rewired {
        plant: plant(),
        swapped: false,
    };
    let mut adapter = Adapter::new(rewired, Independent, settings.seed);
    let evaluate = |learner: &Learner<3, 32, 1>, plant: &Rewired| {
        let mut actor = factory;
        loaded.deploy.stage(&learner.trainer.policy, &mut actor);
        mean_return_on(&mut plant.clone(), &actor)
    };
    let reference = evaluate(&learner, &adapter.env);
    assert_eq!(keeper.judge(reference), Decision::Reference);
    // What the keeper's best must be: the last reference or persisted
    // return.
    let mut expected_best = Some(reference);
    let mut rollbacks = Vec::new();
    for round in 1..=ROUNDS {
        adapter.env.swapped = round > SWAP_AT;
        let r = adapter
            .round_within(&mut learner, &mut rollout, &settings.update, &mut total)
            .unwrap();
        if r.kept {
            keeper.updated();
        }
        if round % EVAL_EVERY != 0 {
            continue;
        }
        let ret = evaluate(&learner, &adapter.env);
        match keeper.judge(ret) {
            Decision::Persist => {
                let mut buf = vec![0u8; file::max_encoded_len(3, 32, 1)];
                let n = adapt::save(&learner, &loaded.deploy, &mut buf).unwrap();
                buf.truncate(n);
                // What was written loads as the learner's policy and critic.
                let back: Actor<3, 32, 1> = file::decode(&buf).unwrap();
                assert_eq!(bits(&back.policy), bits(&learner.trainer.policy));
                let critic = file::decode_critic::<3, 32>(&buf).unwrap().unwrap();
                assert_eq!(critic.value, learner.trainer.value);
                store.push((buf, ret));
                keeper.persisted(ret);
                expected_best = Some(ret);
            }
            Decision::Rollback { best } => {
                assert_eq!(Some(best), expected_best, "round {round}");
                assert!(ret < best - keeper.margin || ret.is_nan());
                let bytes = store.last().map_or(&factory_bytes, |(b, _)| b);
                adapt::load(bytes, &mut learner, &settings).unwrap();
                let want: Actor<3, 32, 1> = file::decode(bytes).unwrap();
                assert_eq!(bits(&learner.trainer.policy), bits(&want.policy));
                if rollbacks.is_empty() {
                    // The restored policy is the one that earned `best` (on
                    // the plant as it was).
                    let was = Rewired {
                        plant: plant(),
                        swapped: false,
                    };
                    assert_eq!(evaluate(&learner, &was), best);
                }
                keeper.rolled_back();
                expected_best = None;
                rollbacks.push((round, ret, best));
            }
            Decision::Reference => expected_best = Some(ret),
            Decision::Continue => {}
        }
    }
    eprintln!(
        "persisted {} policies (returns {:?}); rollbacks (round, return, best): {rollbacks:?}",
        store.len(),
        store.iter().map(|(_, r)| *r).collect::<Vec<_>>()
    );
    assert!(!store.is_empty(), "adaptation never beat the reference");
    // The plant's swing-up is sensitive: a few updates can cost a start's
    // swing-up, and those natural regressions roll back too. The swap must.
    assert!(
        rollbacks.iter().any(|r| r.0 == SWAP_AT + EVAL_EVERY),
        "the first evaluation after the swap must roll back"
    );
}
