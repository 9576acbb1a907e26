//! Random actors and observations shared by the unit tests.

use fixpo_core::actor::Actor;
use fixpo_core::dist::PolicyKind;
use rand_core::RngCore;
use rand_pcg::Pcg64;

fn uniform(rng: &mut Pcg64) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Standard normal by Box–Muller.
pub(crate) fn normal(rng: &mut Pcg64) -> f64 {
    let u1 = 1.0 - uniform(rng); // (0, 1]
    let u2 = uniform(rng);
    (-2.0 * u1.ln()).sqrt() * (2.0 * core::f64::consts::PI * u2).cos()
}

/// Weights ~N(0, 0.5), log-std ~N(0, 0.5) (Gaussian), mean ~N(0, 2),
/// variance e^{N(0, 2)} (≈ 1e-3 … 1e3), clip in [2, 10].
pub(crate) fn random_actor<const O: usize, const H: usize, const A: usize>(
    rng: &mut Pcg64,
    kind: PolicyKind,
) -> Actor<O, H, A> {
    let mut a = Actor::<O, H, A>::zero(kind);
    let net = &mut a.policy.net;
    for w in net
        .w1
        .as_flattened_mut()
        .iter_mut()
        .chain(&mut net.b1)
        .chain(net.w2.as_flattened_mut())
        .chain(&mut net.b2)
        .chain(net.w3.as_flattened_mut())
        .chain(&mut net.b3)
    {
        *w = (0.5 * normal(rng)) as f32;
    }
    if kind == PolicyKind::Gaussian {
        for l in &mut a.policy.log_std {
            *l = (0.5 * normal(rng)) as f32;
        }
    }
    for i in 0..O {
        a.obs_norm.mean[i] = (2.0 * normal(rng)) as f32;
        a.obs_norm.var[i] = (2.0 * normal(rng)).exp() as f32;
    }
    a.obs_norm.count = 100.0;
    a.obs_clip = (2.0 + 8.0 * uniform(rng)) as f32;
    a
}

/// A raw observation around the actor's statistics, often beyond the
/// clip (z ~ N(0, 6)), sometimes far beyond (±1e6) or exactly the mean.
pub(crate) fn random_raw<const O: usize, const H: usize, const A: usize>(
    rng: &mut Pcg64,
    actor: &Actor<O, H, A>,
) -> [f32; O] {
    core::array::from_fn(|i| {
        let (m, v) = (actor.obs_norm.mean[i] as f64, actor.obs_norm.var[i] as f64);
        match rng.next_u32() % 16 {
            0 => 1e6,
            1 => -1e6,
            2 => m as f32,
            _ => (m + v.sqrt() * 6.0 * normal(rng)) as f32,
        }
    })
}

pub(crate) fn batch<const O: usize, const H: usize, const A: usize>(
    rng: &mut Pcg64,
    actor: &Actor<O, H, A>,
    n: usize,
) -> Vec<[f32; O]> {
    (0..n).map(|_| random_raw(rng, actor)).collect()
}
