//! The FixPO update's contract: the trust region holds at every state after
//! every update, in bounded work, under hostile settings; bad input leaves
//! the parameters untouched; the primary-loss gradient matches finite
//! differences of an independently written loss.

use fixpo_core::fixpo::{Algo, Coeffs, Config, Trainer, Transition, primary_grads};
use fixpo_core::mlp::Portable;
use fixpo_core::norm::ObsNorm;
use fixpo_core::params::Params;
use fixpo_core::rng::{Pcg32, normal};
use fixpo_core::{Policy, PolicyKind, UpdateError, Value};
use proptest::prelude::*;

const O: usize = 3;
const H: usize = 8;
const A: usize = 2;

fn random_batch(
    rng: &mut Pcg32,
    n: usize,
    kind: PolicyKind,
    adv_scale: f32,
) -> Vec<Transition<O, A>> {
    (0..n)
        .map(|_| {
            let obs = core::array::from_fn(|_| 2.0 * normal(rng));
            let action = match kind {
                PolicyKind::Gaussian => core::array::from_fn(|_| normal(rng)),
                PolicyKind::Categorical => {
                    let k = (rng.next_u32_compat() % A as u32) as usize;
                    core::array::from_fn(|i| (i == k) as u8 as f32)
                }
            };
            let value = normal(rng);
            let advantage = adv_scale * normal(rng);
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

trait NextU32 {
    fn next_u32_compat(&mut self) -> u32;
}
impl NextU32 for Pcg32 {
    fn next_u32_compat(&mut self) -> u32 {
        rand_core::RngCore::next_u32(self)
    }
}

/// max over states of D_KL(old ‖ new), computed straight from the two
/// policies (not from anything the update stored).
fn max_kl(old: &Policy<O, H, A>, new: &Policy<O, H, A>, batch: &[Transition<O, A>]) -> f32 {
    batch
        .iter()
        .map(|t| new.kl_from(old, &t.obs))
        .fold(0.0, f32::max)
}

fn trainer(kind: PolicyKind, seed: u64) -> Box<Trainer<O, H, A>> {
    let mut t = Box::new(Trainer::zero(kind, 1.0));
    let mut rng = Pcg32::seed_from_u64(seed);
    t.init(&mut rng, -0.5, 1.0);
    t
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Huge learning rates, tiny ε_KL, huge advantages: every update either
    /// ends inside the trust region at every state, within the step caps,
    /// or is refused with the parameters exactly restored.
    #[test]
    fn every_update_ends_inside_the_trust_region(
        seed in any::<u64>(),
        gauss in any::<bool>(),
        n in 8usize..160,
        lr_exp in -4.0f32..1.0,
        eps_exp in -4.0f32..0.0,
        adv_exp in 0.0f32..6.0,
        epochs in 1u32..6,
        mb in 4usize..64,
        fmb in 4usize..200,
        c_beta in 0.5f32..5.0,
        schedule_end in any::<bool>(),
    ) {
        let kind = if gauss { PolicyKind::Gaussian } else { PolicyKind::Categorical };
        let mut rng = Pcg32::seed_from_u64(seed);
        let mut t = trainer(kind, seed ^ 1);
        let mut batch = random_batch(&mut rng, n, kind, 10f32.powf(adv_exp));
        let cfg = Config {
            epochs,
            minibatch: mb,
            fixup_minibatch: fmb,
            lr: 10f32.powf(lr_exp),
            eps_kl: 10f32.powf(eps_exp),
            c_beta,
            max_fixup_passes: 8,
            max_fixup_steps: 64,
            max_backtracks: 30,
            fixup_schedule: if schedule_end { fixpo_core::fixpo::FixupSchedule::End } else { fixpo_core::fixpo::FixupSchedule::EveryEpoch },
            ..Config::REFERENCE
        };
        let old = t.policy;
        let old_value = t.value;
        match t.update(&mut batch, &cfg, &mut rng) {
            Ok(rep) => {
                let kl = max_kl(&old, &t.policy, &batch);
                prop_assert!(kl <= cfg.eps_kl, "max KL {} > eps {} ({:?})", kl, cfg.eps_kl, rep);
                prop_assert!(rep.max_kl <= cfg.eps_kl);
                // The report is a certified upper bound on the exact KL.
                // (f32 KL itself is only accurate to ~1e-7 absolute.)
                prop_assert!(kl <= rep.max_kl * (1.0 + 1e-5) + 1e-6, "f32 KL {} above the bound {}", kl, rep.max_kl);
                prop_assert!(rep.fixup_grad_steps <= cfg.max_fixup_steps);
                prop_assert!(rep.fixup_passes <= epochs * cfg.max_fixup_passes);
                prop_assert!((0.0..=1.0).contains(&rep.backtrack_t));
                prop_assert_eq!(rep.primary_grad_steps, epochs * n.div_ceil(mb) as u32);
                prop_assert!(rep.beta >= 0.0 && rep.beta <= cfg.beta_max);
            }
            Err(e) => {
                prop_assert!(matches!(e, UpdateError::NonFiniteGradient | UpdateError::Diverged), "{e:?}");
                prop_assert_eq!(t.policy, old);
                prop_assert_eq!(t.value, old_value);
            }
        }
    }
}

#[test]
fn hostile_update_backtracks_and_reports_it() {
    // lr 1 with ε_KL 1e-4 and no fixup steps allowed: only backtracking can
    // restore the bound, and the report must say so.
    let mut rng = Pcg32::seed_from_u64(9);
    let mut t = trainer(PolicyKind::Gaussian, 9);
    let mut batch = random_batch(&mut rng, 64, PolicyKind::Gaussian, 100.0);
    let cfg = Config {
        lr: 1.0,
        eps_kl: 1e-4,
        max_fixup_steps: 0,
        minibatch: 16,
        ..Config::REFERENCE
    };
    let old = t.policy;
    let rep = t.update(&mut batch, &cfg, &mut rng).unwrap();
    assert!(rep.backtrack_t < 1.0, "{rep:?}");
    assert!(rep.backtracks >= 1, "{rep:?}");
    assert_eq!(rep.fixup_grad_steps, 0);
    assert!(max_kl(&old, &t.policy, &batch) <= 1e-4);
}

#[test]
fn ablations_can_leave_the_trust_region_fixpo_cannot() {
    let mut exceeded = [0u32; 3];
    for seed in 0..10u64 {
        for (k, algo) in [Algo::Fixpo, Algo::FixpoNoFixup, Algo::PpoClip]
            .into_iter()
            .enumerate()
        {
            let mut rng = Pcg32::seed_from_u64(seed);
            let mut t = trainer(PolicyKind::Gaussian, seed);
            let mut batch = random_batch(&mut rng, 128, PolicyKind::Gaussian, 10.0);
            let cfg = Config {
                algo,
                lr: 3e-2,
                eps_kl: 0.05,
                minibatch: 32,
                ..Config::REFERENCE
            };
            let old = t.policy;
            let rep = t.update(&mut batch, &cfg, &mut rng).unwrap();
            let kl = max_kl(&old, &t.policy, &batch);
            // The report is a certified upper bound, close to the KL.
            assert!(kl <= rep.max_kl * (1.0 + 1e-5) + 1e-6, "{kl} vs {rep:?}");
            assert!(rep.max_kl <= kl * 1.01 + 1e-4, "{kl} vs {rep:?}");
            exceeded[k] += (kl > cfg.eps_kl) as u32;
        }
    }
    assert_eq!(exceeded[0], 0);
    assert!(exceeded[1] > 0 && exceeded[2] > 0, "{exceeded:?}");
}

#[test]
fn non_finite_inputs_are_refused_and_nothing_changes() {
    type Poison = fn(&mut Transition<O, A>);
    let cases: [(usize, Poison); 5] = [
        (3, |t| t.obs[1] = f32::NAN),
        (0, |t| t.advantage = f32::INFINITY),
        (7, |t| t.ret = f32::NAN),
        (5, |t| t.action[0] = f32::NEG_INFINITY),
        (2, |t| t.value = f32::NAN),
    ];
    for (idx, poison) in cases {
        let mut rng = Pcg32::seed_from_u64(1);
        let mut t = trainer(PolicyKind::Gaussian, 1);
        let before = (*t).clone();
        let mut batch = random_batch(&mut rng, 16, PolicyKind::Gaussian, 1.0);
        poison(&mut batch[idx]);
        let err = t
            .update(&mut batch, &Config::REFERENCE, &mut rng)
            .unwrap_err();
        assert_eq!(err, UpdateError::NonFiniteInput { index: idx });
        assert_eq!(t.policy, before.policy);
        assert_eq!(t.value, before.value);
        assert_eq!(t.policy_opt, before.policy_opt);
        assert_eq!(t.beta.to_bits(), before.beta.to_bits());
    }
}

#[test]
fn non_finite_gradient_restores_parameters() {
    // Finite inputs whose surrogate overflows: r·Â with Â = 3e38.
    let mut rng = Pcg32::seed_from_u64(4);
    let mut t = trainer(PolicyKind::Gaussian, 4);
    // Take one good update first so Adam and β have state.
    let mut good = random_batch(&mut rng, 32, PolicyKind::Gaussian, 1.0);
    t.update(
        &mut good,
        &Config {
            minibatch: 8,
            ..Config::REFERENCE
        },
        &mut rng,
    )
    .unwrap();
    let before = (*t).clone();
    let mut batch = random_batch(&mut rng, 32, PolicyKind::Gaussian, 1.0);
    batch[5].advantage = 3e38;
    batch[6].advantage = -3e38;
    let err = t
        .update(
            &mut batch,
            &Config {
                minibatch: 8,
                ..Config::REFERENCE
            },
            &mut rng,
        )
        .unwrap_err();
    assert!(
        matches!(err, UpdateError::NonFiniteGradient | UpdateError::Diverged),
        "{err:?}"
    );
    assert_eq!(t.policy, before.policy);
    assert_eq!(t.value, before.value);
    assert_eq!(t.beta.to_bits(), before.beta.to_bits());
    assert_eq!(t.beta_opt, before.beta_opt);
}

#[test]
fn invalid_config_and_empty_batch_are_refused() {
    let mut rng = Pcg32::seed_from_u64(2);
    let mut t = trainer(PolicyKind::Gaussian, 2);
    let mut batch = random_batch(&mut rng, 8, PolicyKind::Gaussian, 1.0);
    for (cfg, field) in [
        (
            Config {
                eps_kl: 0.0,
                ..Config::REFERENCE
            },
            "eps_kl",
        ),
        (
            Config {
                eps_kl: f32::NAN,
                ..Config::REFERENCE
            },
            "eps_kl",
        ),
        (
            Config {
                minibatch: 0,
                ..Config::REFERENCE
            },
            "minibatch",
        ),
        (
            Config {
                lr: -1.0,
                ..Config::REFERENCE
            },
            "lr",
        ),
        (
            Config {
                c_beta: 0.0,
                ..Config::REFERENCE
            },
            "c_beta",
        ),
    ] {
        assert_eq!(
            t.update(&mut batch, &cfg, &mut rng),
            Err(UpdateError::InvalidConfig { field })
        );
    }
    assert_eq!(
        t.update(&mut [], &Config::REFERENCE, &mut rng),
        Err(UpdateError::EmptyBatch)
    );
}

/// The primary loss written out independently, in f64 from the networks'
/// outputs: L = mean_i[−r_i·Â_i + β·KL_i + c_vf·(V_i − R_i)² − c_ent·H_i].
fn loss_f64(
    policy: &Policy<O, H, A>,
    value: &Value<O, H>,
    old: &Policy<O, H, A>,
    mb: &[Transition<O, A>],
    c: &Coeffs,
) -> f64 {
    let mut total = 0.0f64;
    for t in mb {
        let mu: Vec<f64> = policy.output(&t.obs).iter().map(|&x| x as f64).collect();
        let mu_old: Vec<f64> = old.output(&t.obs).iter().map(|&x| x as f64).collect();
        let (mut logp, mut logp_old, mut kl, mut ent) = (0.0, 0.0, 0.0, 0.0);
        match policy.kind {
            PolicyKind::Gaussian => {
                for i in 0..A {
                    let (s, so) = (policy.log_std[i] as f64, old.log_std[i] as f64);
                    let a = t.action[i] as f64;
                    let ln2pi = (2.0 * std::f64::consts::PI).ln();
                    logp += -0.5 * ((a - mu[i]) / s.exp()).powi(2) - s - 0.5 * ln2pi;
                    logp_old += -0.5 * ((a - mu_old[i]) / so.exp()).powi(2) - so - 0.5 * ln2pi;
                    kl += s - so
                        + ((2.0 * so).exp() + (mu_old[i] - mu[i]).powi(2))
                            / (2.0 * (2.0 * s).exp())
                        - 0.5;
                    ent += s + 0.5 * (1.0 + ln2pi);
                }
            }
            PolicyKind::Categorical => {
                let lse = |z: &[f64]| z.iter().map(|x| x.exp()).sum::<f64>().ln();
                let (l, lo) = (lse(&mu), lse(&mu_old));
                for i in 0..A {
                    let (lp, lpo) = (mu[i] - l, mu_old[i] - lo);
                    logp += t.action[i] as f64 * lp;
                    logp_old += t.action[i] as f64 * lpo;
                    kl += lpo.exp() * (lpo - lp);
                    ent -= lp.exp() * lp;
                }
            }
        }
        let r = (logp - logp_old).exp();
        let adv = t.advantage as f64;
        let surrogate = match c.algo {
            Algo::PpoClip => {
                -(r * adv).min(r.clamp(1.0 - c.clip_ratio as f64, 1.0 + c.clip_ratio as f64) * adv)
            }
            _ => -r * adv,
        };
        let v = value.predict(&t.obs)[0] as f64;
        total += surrogate + c.beta as f64 * kl + c.vf_coef as f64 * (v - t.ret as f64).powi(2)
            - c.ent_coef as f64 * ent;
    }
    total / mb.len() as f64
}

fn check_primary_gradient(kind: PolicyKind, algo: Algo, seed: u64) {
    let mut rng = Pcg32::seed_from_u64(seed);
    let t = trainer(kind, seed);
    // A moved "new" policy so KL and the ratio are not at their stationary
    // point.
    let mut new = t.policy;
    for k in 0..Policy::<O, H, A>::SLICES {
        for x in new.slice_mut(k) {
            *x += 0.05 * normal(&mut rng);
        }
    }
    if kind == PolicyKind::Categorical {
        new.log_std = [0.0; A];
    }
    let old = t.policy;
    let value = t.value;
    let mut mb = random_batch(&mut rng, 6, kind, 1.0);
    for tr in mb.iter_mut() {
        tr.old_out = old.output(&tr.obs);
        tr.old_logp = fixpo_core::dist::log_prob(kind, &tr.old_out, &old.log_std, &tr.action);
    }
    let c = Coeffs {
        algo,
        beta: 0.7,
        vf_coef: 0.3,
        vf_clip: 0.0,
        ent_coef: 0.05,
        clip_ratio: 0.2,
        adv_mean: 0.0,
        adv_scale: 1.0,
    };
    let mut gp = Policy::zero(kind);
    let mut gv = Value::ZERO;
    primary_grads::<Portable, O, H, A>(
        &new,
        &value,
        &ObsNorm::NEW,
        &old.log_std,
        &mb,
        mb.len(),
        &c,
        &mut gp,
        &mut gv,
    );

    // Central differences, h = 1e-2 on f32 parameters; the loss is smooth
    // (away from PPO's clip kinks, which these small moves rarely hit), so
    // tolerance 2e-3 absolute + 3% relative.
    let h = 1e-2f32;
    let mut flat = vec![0.0f32; Policy::<O, H, A>::LEN];
    let mut gflat = vec![0.0f32; Policy::<O, H, A>::LEN];
    new.write_flat(&mut flat);
    gp.write_flat(&mut gflat);
    let n_params = if kind == PolicyKind::Gaussian {
        flat.len()
    } else {
        flat.len() - A
    };
    let mut kinks = 0;
    for i in 0..n_params {
        let eval = |delta: f32| {
            let mut f = flat.clone();
            f[i] += delta;
            let mut p = new;
            p.read_flat(&f);
            loss_f64(&p, &value, &old, &mb, &c)
        };
        let fd = (eval(h) - eval(-h)) / (2.0 * h as f64);
        let an = gflat[i] as f64;
        // PPO-clip's loss has kinks where a ratio crosses 1 ± ε_clip; there
        // one-sided differences disagree and no derivative exists.
        if algo == Algo::PpoClip {
            let left = (eval(0.0) - eval(-h)) / h as f64;
            let right = (eval(h) - eval(0.0)) / h as f64;
            if (left - right).abs() > 0.05 * (left.abs() + right.abs()) + 1e-3 {
                kinks += 1;
                continue;
            }
        }
        assert!(
            (fd - an).abs() <= 2e-3 + 3e-2 * fd.abs(),
            "{kind:?} {algo:?} policy param {i}: fd {fd} vs {an}"
        );
    }
    assert!(
        kinks * 5 <= n_params,
        "{kinks} of {n_params} parameters sit on a kink"
    );
    let mut vflat = vec![0.0f32; Value::<O, H>::LEN];
    let mut vgflat = vec![0.0f32; Value::<O, H>::LEN];
    value.write_flat(&mut vflat);
    gv.write_flat(&mut vgflat);
    for i in 0..vflat.len() {
        let eval = |delta: f32| {
            let mut f = vflat.clone();
            f[i] += delta;
            let mut v = value;
            v.read_flat(&f);
            loss_f64(&new, &v, &old, &mb, &c)
        };
        let fd = (eval(h) - eval(-h)) / (2.0 * h as f64);
        let an = vgflat[i] as f64;
        assert!(
            (fd - an).abs() <= 2e-3 + 3e-2 * fd.abs(),
            "{kind:?} value param {i}: fd {fd} vs {an}"
        );
    }
}

#[test]
fn primary_gradient_matches_finite_differences() {
    for seed in 0..3 {
        check_primary_gradient(PolicyKind::Gaussian, Algo::Fixpo, seed);
        check_primary_gradient(PolicyKind::Categorical, Algo::Fixpo, seed);
        check_primary_gradient(PolicyKind::Gaussian, Algo::PpoClip, seed + 10);
    }
}

/// The fixup phase's gradient (of scale·Σ KL_i) through the whole network,
/// against central differences of the KL written out in f64.
#[test]
fn fixup_kl_gradient_matches_finite_differences() {
    use fixpo_core::fixpo::kl_grads;
    for (seed, kind) in [(1u64, PolicyKind::Gaussian), (2, PolicyKind::Categorical)] {
        let mut rng = Pcg32::seed_from_u64(seed);
        let t = trainer(kind, seed);
        let old = t.policy;
        let mut new = old;
        for k in 0..Policy::<O, H, A>::SLICES {
            for x in new.slice_mut(k) {
                *x += 0.1 * normal(&mut rng);
            }
        }
        if kind == PolicyKind::Categorical {
            new.log_std = [0.0; A];
        }
        let mut mb = random_batch(&mut rng, 5, kind, 1.0);
        for tr in mb.iter_mut() {
            tr.old_out = old.output(&tr.obs);
        }
        let scale = 0.37f32;
        let mut g = Policy::zero(kind);
        kl_grads::<Portable, O, H, A>(&new, &ObsNorm::NEW, &old.log_std, &mb, scale, &mut g);
        let c = Coeffs {
            algo: Algo::Fixpo,
            beta: 1.0,
            vf_coef: 0.0,
            vf_clip: 0.0,
            ent_coef: 0.0,
            clip_ratio: 0.2,
            adv_mean: 0.0,
            adv_scale: 0.0, // zero advantages: only the KL term is left
        };
        let value = t.value;
        let mut flat = vec![0.0f32; Policy::<O, H, A>::LEN];
        let mut gflat = vec![0.0f32; Policy::<O, H, A>::LEN];
        new.write_flat(&mut flat);
        g.write_flat(&mut gflat);
        let zero_adv: Vec<_> = mb
            .iter()
            .map(|t| Transition {
                advantage: 0.0,
                ..*t
            })
            .collect();
        let n = if kind == PolicyKind::Gaussian {
            flat.len()
        } else {
            flat.len() - A
        };
        let h = 1e-2f32;
        for i in 0..n {
            let eval = |d: f32| {
                let mut f = flat.clone();
                f[i] += d;
                let mut p = new;
                p.read_flat(&f);
                // loss_f64 averages over the minibatch: undo that, apply scale.
                loss_f64(&p, &value, &old, &zero_adv, &c) * zero_adv.len() as f64 * scale as f64
            };
            let fd = (eval(h) - eval(-h)) / (2.0 * h as f64);
            let an = gflat[i] as f64;
            assert!(
                (fd - an).abs() <= 2e-3 + 3e-2 * fd.abs(),
                "{kind:?} param {i}: fd {fd} vs {an}"
            );
        }
    }
}

/// A change of statistics is part of the update: with lr 0 (no gradient
/// step moves anything), the policy ends under the new statistics, carried
/// over so that its outputs at the batch's raw observations stay those of
/// π_old under the old ones — except from empty statistics, where the
/// initialisation (made for normalised inputs) is taken as it is.
#[test]
fn statistics_move_with_the_update_and_learned_functions_are_carried_over() {
    use fixpo_core::norm::RunningMeanStd;
    let mut rng = Pcg32::seed_from_u64(12);
    let mut t = trainer(PolicyKind::Gaussian, 12);
    let spread = |rng: &mut Pcg32| -> [f32; O] {
        core::array::from_fn(|j| 5.0 + 40.0 * j as f32 * normal(rng))
    };
    let mut batch = random_batch(&mut rng, 64, PolicyKind::Gaussian, 1.0);
    batch.iter_mut().for_each(|tr| tr.obs = spread(&mut rng));
    let mut stats = RunningMeanStd::<O>::NEW;
    batch.iter().for_each(|tr| {
        stats.update(&tr.obs);
    });
    let cfg = Config {
        lr: 0.0,
        minibatch: 16,
        ..Config::REFERENCE
    };
    let first = ObsNorm { stats, ..t.norm };
    let w1 = t.policy.net.w1;
    let rep = t
        .update_with_norm(
            &mut batch,
            &cfg,
            &first,
            &mut rng,
            &mut fixpo_core::fixpo::Serial,
        )
        .unwrap();
    assert_eq!(t.norm, first, "{rep:?}");
    assert_eq!(t.policy.net.w1, w1, "the initialisation is not rescaled");

    // Second update: statistics move again; the learned function is kept.
    let before = t.policy;
    let mut batch = random_batch(&mut rng, 64, PolicyKind::Gaussian, 1.0);
    batch.iter_mut().for_each(|tr| tr.obs = spread(&mut rng));
    batch.iter().for_each(|tr| {
        stats.update(&tr.obs);
    });
    let second = ObsNorm { stats, ..t.norm };
    let rep = t
        .update_with_norm(
            &mut batch,
            &cfg,
            &second,
            &mut rng,
            &mut fixpo_core::fixpo::Serial,
        )
        .unwrap();
    assert_eq!(t.norm, second);
    assert_ne!(t.policy.net.w1, before.net.w1, "first layer re-expressed");
    for tr in &batch {
        let a = before.output(&first.apply(&tr.obs));
        let b = t.policy.output(&second.apply(&tr.obs));
        assert!(
            (a[0] - b[0]).abs() < 1e-4 && (a[1] - b[1]).abs() < 1e-4,
            "{a:?} vs {b:?}"
        );
    }
    assert!(rep.max_kl < 1e-3 && !rep.reverted, "{rep:?}");
}
