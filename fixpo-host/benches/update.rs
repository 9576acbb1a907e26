//! The update's minibatch kernels: serial (the core's loop) against
//! [`RayonBackend`], at Pendulum's size with 64 hidden units, and one whole
//! FixPO update at the Pendulum preset; then, at Hopper's size
//! (11 → 64×64 → 3), one 512-sample minibatch on one thread with the
//! portable kernels and with the ones `fixpo_host::simd` picks (AVX2 where
//! the CPU has it).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use fixpo_core::PolicyKind;
use fixpo_core::fixpo::{Algo, Backend, Coeffs, Config, Serial, Trainer, Transition};
use fixpo_core::policy::{Policy, Value};
use fixpo_core::rng::{Pcg32, normal};
use fixpo_host::backend::RayonBackend;
use std::hint::black_box;

fn batch(n: usize, tr: &Trainer<3, 64, 1>, rng: &mut Pcg32) -> Vec<Transition<3, 1>> {
    (0..n)
        .map(|_| {
            let mut t = Transition::<3, 1>::ZERO;
            t.obs = core::array::from_fn(|_| normal(rng));
            t.action = [normal(rng)];
            t.advantage = normal(rng);
            t.ret = t.advantage;
            t.old_out = tr.policy.output(&t.obs);
            t.old_logp = fixpo_core::dist::log_prob(
                PolicyKind::Gaussian,
                &t.old_out,
                &tr.policy.log_std,
                &t.action,
            );
            t
        })
        .collect()
}

fn kernels(c: &mut Criterion) {
    let mut rng = Pcg32::seed_from_u64(1);
    let mut tr = Trainer::<3, 64, 1>::zero(PolicyKind::Gaussian, 1.0);
    tr.init(&mut rng, -0.5, 1.0);
    let coeffs = Coeffs {
        algo: Algo::Fixpo,
        beta: 1.0,
        vf_coef: 0.5,
        vf_clip: 0.0,
        ent_coef: 0.0,
        clip_ratio: 0.2,
        adv_mean: 0.0,
        adv_scale: 1.0,
    };
    let mut g = c.benchmark_group("primary_grads");
    for n in [64usize, 256, 2048] {
        let mb = batch(n, &tr, &mut rng);
        g.throughput(Throughput::Elements(n as u64));
        let mut par = RayonBackend::<3, 64, 1>::new(PolicyKind::Gaussian);
        let (mut gp, mut gv) = (Policy::zero(PolicyKind::Gaussian), Value::ZERO);
        g.bench_with_input(BenchmarkId::new("serial", n), &mb, |b, mb| {
            b.iter(|| {
                black_box(Serial.primary_grads(
                    &tr.policy,
                    &tr.value,
                    &fixpo_core::norm::ObsNorm::NEW,
                    &tr.policy.log_std,
                    mb,
                    n,
                    &coeffs,
                    &mut gp,
                    &mut gv,
                ))
            })
        });
        g.bench_with_input(BenchmarkId::new("rayon", n), &mb, |b, mb| {
            b.iter(|| {
                black_box(par.primary_grads(
                    &tr.policy,
                    &tr.value,
                    &fixpo_core::norm::ObsNorm::NEW,
                    &tr.policy.log_std,
                    mb,
                    n,
                    &coeffs,
                    &mut gp,
                    &mut gv,
                ))
            })
        });
    }
    g.finish();

    let cfg = Config {
        minibatch: 64,
        fixup_minibatch: 2048,
        lr: 1e-3,
        ..Config::REFERENCE
    };
    let mut g = c.benchmark_group("update_2048");
    g.sample_size(10);
    g.throughput(Throughput::Elements(2048));
    let data = batch(2048, &tr, &mut rng);
    g.bench_function("rayon", |b| {
        let mut be = RayonBackend::<3, 64, 1>::new(PolicyKind::Gaussian);
        b.iter(|| {
            let mut t = tr.clone();
            let mut d = data.clone();
            black_box(t.update_with(&mut d, &cfg, &mut rng, &mut be).ok())
        })
    });
    g.finish();
}

fn hopper_kernels(c: &mut Criterion) {
    use fixpo_core::fixpo::{kl_stats, primary_grads};
    use fixpo_core::mlp::Portable;
    let mut rng = Pcg32::seed_from_u64(2);
    let mut policy = Policy::<11, 64, 3>::zero(PolicyKind::Gaussian);
    policy.init(&mut rng, -0.5);
    let mut value = Value::<11, 64>::ZERO;
    value.init(&mut rng, std::f32::consts::SQRT_2, 1.0);
    let mb: Vec<Transition<11, 3>> = (0..512)
        .map(|_| {
            let obs = std::array::from_fn(|_| normal(&mut rng));
            let (action, old_logp) = policy.sample(&obs, &mut rng);
            Transition {
                obs,
                action,
                advantage: normal(&mut rng),
                ret: normal(&mut rng),
                value: normal(&mut rng),
                old_out: policy.output(&obs),
                old_logp,
            }
        })
        .collect();
    let c0 = Coeffs {
        algo: Algo::Fixpo,
        beta: 1.0,
        vf_coef: 0.1,
        vf_clip: 0.2,
        ent_coef: 0.0,
        clip_ratio: 0.2,
        adv_mean: 0.0,
        adv_scale: 1.0,
    };
    let ls = policy.log_std;
    let norm = fixpo_core::norm::ObsNorm::<11>::NEW;
    let bound =
        fixpo_core::trust::KlBound::new(PolicyKind::Gaussian, &ls, &[1e-5; 3], &ls, &[1e-5; 3]);
    let (mut gp, mut gv) = (policy, value);
    let level = fixpo_host::simd::level().name();
    let mut g = c.benchmark_group("hopper_512");
    g.throughput(Throughput::Elements(512));
    g.bench_function("primary_grads/portable", |b| {
        b.iter(|| {
            black_box(primary_grads::<Portable, 11, 64, 3>(
                &policy, &value, &norm, &ls, &mb, 512, &c0, &mut gp, &mut gv,
            ))
        })
    });
    g.bench_function(format!("primary_grads/{level}"), |b| {
        b.iter(|| {
            black_box(fixpo_host::simd::primary_grads(
                &policy, &value, &norm, &ls, &mb, 512, &c0, &mut gp, &mut gv,
            ))
        })
    });
    g.bench_function("kl_stats/portable", |b| {
        b.iter(|| black_box(kl_stats::<Portable, 11, 64, 3>(&policy, &norm, &bound, &mb)))
    });
    g.bench_function(format!("kl_stats/{level}"), |b| {
        b.iter(|| black_box(fixpo_host::simd::kl_stats(&policy, &norm, &bound, &mb)))
    });
    g.finish();
}

criterion_group!(benches, kernels, hopper_kernels);
criterion_main!(benches);
