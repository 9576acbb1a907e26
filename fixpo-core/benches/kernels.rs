//! Core kernels at the reference 64×64 shape (Hopper-sized: 11 observations,
//! 3 actions): forward, backward, one primary minibatch step (512 samples)
//! and one fixup check (1024 samples).

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use fixpo_core::fixpo::{Algo, Coeffs, Config, Trainer, Transition, kl_stats, primary_grads};
use fixpo_core::mlp::Portable;
use fixpo_core::norm::ObsNorm;
use fixpo_core::rng::{Pcg32, normal};
use fixpo_core::trust::KlBound;
use fixpo_core::{MlpCache, Policy, PolicyKind, Value};
use std::hint::black_box;

const O: usize = 11;
const H: usize = 64;
const A: usize = 3;

fn batch(n: usize, rng: &mut Pcg32, policy: &Policy<O, H, A>) -> Vec<Transition<O, A>> {
    (0..n)
        .map(|_| {
            let obs = core::array::from_fn(|_| normal(rng));
            let action = core::array::from_fn(|_| normal(rng));
            let old_out = policy.output(&obs);
            Transition {
                obs,
                action,
                advantage: normal(rng),
                ret: normal(rng),
                value: normal(rng),
                old_out,
                old_logp: fixpo_core::dist::log_prob(
                    PolicyKind::Gaussian,
                    &old_out,
                    &policy.log_std,
                    &action,
                ),
            }
        })
        .collect()
}

fn kernels(c: &mut Criterion) {
    let mut rng = Pcg32::seed_from_u64(0);
    let mut t: Box<Trainer<O, H, A>> = Box::new(Trainer::zero(PolicyKind::Gaussian, 1.0));
    t.init(&mut rng, -0.5, 1.0);
    let obs: [f32; O] = core::array::from_fn(|i| 0.1 * i as f32);

    c.bench_function("mlp forward 11-64-64-3", |b| {
        let mut cache = MlpCache::ZERO;
        b.iter(|| t.policy.net.forward(black_box(&obs), &mut cache))
    });
    c.bench_function("mlp backward 11-64-64-3", |b| {
        let mut cache = MlpCache::ZERO;
        t.policy.net.forward(&obs, &mut cache);
        let mut g = fixpo_core::Mlp::<O, H, A>::ZERO;
        b.iter(|| {
            t.policy
                .net
                .backward(black_box(&cache), black_box(&[0.1, -0.2, 0.3]), &mut g)
        })
    });

    let mb = batch(512, &mut rng, &t.policy);
    let coeffs = Coeffs {
        algo: Algo::Fixpo,
        beta: 1.0,
        vf_coef: 0.1,
        vf_clip: 0.2,
        ent_coef: 0.0,
        clip_ratio: 0.2,
        adv_mean: 0.0,
        adv_scale: 1.0,
    };
    let mut g = c.benchmark_group("minibatch");
    g.throughput(Throughput::Elements(512));
    g.bench_function("primary gradients, 512 samples", |b| {
        let mut gp = Policy::zero(PolicyKind::Gaussian);
        let mut gv = Value::ZERO;
        b.iter(|| {
            primary_grads::<Portable, O, H, A>(
                &t.policy,
                &t.value,
                &ObsNorm::NEW,
                &t.policy.log_std,
                black_box(&mb),
                512,
                &coeffs,
                &mut gp,
                &mut gv,
            )
        })
    });
    g.throughput(Throughput::Elements(1024));
    let fb = batch(1024, &mut rng, &t.policy);
    let bound = KlBound::new(
        PolicyKind::Gaussian,
        &t.policy.log_std,
        &[1e-5; A],
        &t.policy.log_std,
        &[1e-5; A],
    );
    g.bench_function("fixup check, 1024 samples", |b| {
        b.iter(|| kl_stats::<Portable, O, H, A>(&t.policy, &ObsNorm::NEW, &bound, black_box(&fb)))
    });
    g.finish();

    let mut g = c.benchmark_group("update");
    g.sample_size(10);
    g.throughput(Throughput::Elements(8192));
    let big = batch(8192, &mut rng, &t.policy);
    g.bench_function("full FixPO update, 8192 samples, reference config", |b| {
        b.iter_batched(
            || ((*t).clone(), big.clone(), Pcg32::seed_from_u64(1)),
            |(mut tr, mut bt, mut r)| tr.update(&mut bt, &Config::REFERENCE, &mut r).unwrap(),
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, kernels);
criterion_main!(benches);
