//! Helpers shared by the policy-file tests (`file_round_trip.rs`,
//! `file_errors.rs`, `file_mutations.rs`): random actors, encoding into a
//! `Vec`, bit-exact comparison, checksum repair and the byte layout.
#![allow(dead_code)]

use fixpo_core::file::{self, Critic};
use fixpo_core::rng::{self, Pcg32};
use fixpo_core::{Actor, Params, Policy, PolicyKind, RunningMeanStd, Value};

/// An actor with random weights (including biases and log-std), statistics
/// from random samples, and random bounds with low < high.
pub fn random_actor<const O: usize, const H: usize, const A: usize>(
    kind: PolicyKind,
    seed: u64,
) -> Actor<O, H, A> {
    let mut rng = Pcg32::seed_from_u64(seed);
    let mut a = Actor::<O, H, A>::zero(kind);
    a.policy.init(&mut rng, -0.5);
    // Perturb every number so biases and log-std are not all zero.
    for k in 0..Policy::<O, H, A>::SLICES {
        for x in a.policy.slice_mut(k) {
            *x += 0.1 * rng::normal(&mut rng);
        }
    }
    // Values whose bits a sloppy encoder would lose.
    if let [x, y, z, ..] = a.policy.slice_mut(0) {
        (*x, *y, *z) = (-0.0, f32::MIN_POSITIVE / 8.0, f32::MAX); // subnormal y
    }
    for _ in 0..50 {
        let x: [f32; O] = core::array::from_fn(|_| 3.0 * rng::normal(&mut rng) + 1.0);
        a.obs_norm.update(&x);
    }
    a.obs_clip = 5.0;
    for i in 0..A {
        a.action_low[i] = -1.0 - rng::uniform(&mut rng);
        a.action_high[i] = 1.0 + rng::uniform(&mut rng);
    }
    a
}

/// A version-2 file of `a` without a critic.
pub fn encode_vec<const O: usize, const H: usize, const A: usize>(a: &Actor<O, H, A>) -> Vec<u8> {
    let mut buf = vec![0u8; file::encoded_len(O, H, A, false)];
    let n = file::encode(a, &mut buf).expect("encode");
    assert_eq!(n, buf.len());
    buf
}

/// A version-2 file of `a` with `critic`.
pub fn encode_vec_critic<const O: usize, const H: usize, const A: usize>(
    a: &Actor<O, H, A>,
    critic: &Critic<O, H>,
) -> Vec<u8> {
    let mut buf = vec![0u8; file::max_encoded_len(O, H, A)];
    let n = file::encode_with_critic(a, Some(critic), &mut buf).expect("encode");
    assert_eq!(n, buf.len());
    assert_eq!(n, file::encoded_len(O, H, A, true));
    buf
}

/// A critic with random weights (every one perturbed) and return
/// statistics from random samples.
pub fn random_critic<const O: usize, const H: usize>(seed: u64) -> Critic<O, H> {
    let mut rng = Pcg32::seed_from_u64(seed ^ 0xC41);
    let mut c = Critic::<O, H>::ZERO;
    c.value.init(&mut rng, 1.4, 1.0);
    for k in 0..Value::<O, H>::SLICES {
        for x in c.value.slice_mut(k) {
            *x += 0.1 * rng::normal(&mut rng);
        }
    }
    c.ret = RunningMeanStd::NEW;
    for _ in 0..40 {
        c.ret.update(&[20.0 * rng::normal(&mut rng) - 50.0]);
    }
    c
}

/// Every number of a critic as bits.
pub fn critic_bits<const O: usize, const H: usize>(c: &Critic<O, H>) -> Vec<u64> {
    let mut v = vec![
        c.ret.mean[0].to_bits().into(),
        c.ret.var[0].to_bits().into(),
        c.ret.count.to_bits(),
    ];
    for k in 0..Value::<O, H>::SLICES {
        v.extend(c.value.slice(k).iter().map(|x| u64::from(x.to_bits())));
    }
    v
}

/// Every number of an actor as bits, for bit-exact comparison.
pub fn bits<const O: usize, const H: usize, const A: usize>(a: &Actor<O, H, A>) -> Vec<u64> {
    let mut v = vec![a.policy.kind as u64, a.obs_clip.to_bits().into()];
    v.extend(a.obs_norm.mean.iter().map(|x| u64::from(x.to_bits())));
    v.extend(a.obs_norm.var.iter().map(|x| u64::from(x.to_bits())));
    v.push(a.obs_norm.count.to_bits());
    v.extend(a.action_low.iter().map(|x| u64::from(x.to_bits())));
    v.extend(a.action_high.iter().map(|x| u64::from(x.to_bits())));
    for k in 0..Policy::<O, H, A>::SLICES {
        v.extend(a.policy.slice(k).iter().map(|x| u64::from(x.to_bits())));
    }
    v
}

/// Rewrites the trailing checksum so the body passes the CRC check.
pub fn fix_crc(bytes: &mut [u8]) {
    let n = bytes.len() - file::CRC_LEN;
    let c = file::checksum(&bytes[..n]);
    bytes[n..].copy_from_slice(&c.to_le_bytes());
}

/// Byte offsets of the fields of a file whose dimensions are all < 128 and
/// whose parameter counts are in 128..16384 (so every varint has the length
/// assumed here); the critic fields are those of a version-2 file.
pub struct Offsets {
    pub version: usize,
    pub kind: usize,
    pub obs: usize,
    pub clip: usize,
    pub mean_len: usize,
    pub mean: usize,
    pub var: usize,
    pub count: usize,
    pub low: usize,
    pub high: usize,
    pub param_count: usize,
    pub params: usize,
    /// Version 2: the critic tag, after the parameters.
    pub critic_tag: usize,
    pub ret_mean: usize,
    pub ret_var: usize,
    pub ret_count: usize,
    pub value_count: usize,
    pub value: usize,
}

pub fn offsets(obs: usize, hid: usize, act: usize) -> Offsets {
    let params = 27 + 8 * obs + 8 * act;
    let p = obs * hid + hid + hid * hid + hid + hid * act + 2 * act;
    let critic_tag = params + 4 * p;
    Offsets {
        version: 4,
        kind: 5,
        obs: 6,
        clip: 9,
        mean_len: 13,
        mean: 14,
        var: 15 + 4 * obs,
        count: 15 + 8 * obs,
        low: 24 + 8 * obs,
        high: 25 + 8 * obs + 4 * act,
        param_count: 25 + 8 * obs + 8 * act,
        params,
        critic_tag,
        ret_mean: critic_tag + 1,
        ret_var: critic_tag + 5,
        ret_count: critic_tag + 9,
        value_count: critic_tag + 17,
        value: critic_tag + 19,
    }
}

/// A fixed actor whose every number is a short dyadic fraction given by a
/// formula (no random stream, no initialiser), so a committed file of it
/// stays checkable whatever the core's initialisation does: the version-1
/// fixtures in `tests/fixtures/` hold these actors, written by the
/// version-1 writer.
pub fn formula_actor<const O: usize, const H: usize, const A: usize>(
    kind: PolicyKind,
) -> Actor<O, H, A> {
    let mut a = Actor::<O, H, A>::zero(kind);
    let mut n = 0i32;
    for k in 0..Policy::<O, H, A>::SLICES {
        if k == Policy::<O, H, A>::SLICES - 1 && kind == PolicyKind::Categorical {
            break; // a categorical policy's log-std stays zero
        }
        for x in a.policy.slice_mut(k) {
            *x = ((n * 37) % 101 - 50) as f32 / 64.0;
            n += 1;
        }
    }
    for i in 0..O {
        a.obs_norm.mean[i] = i as f32 * 0.25 - 0.5;
        a.obs_norm.var[i] = 1.0 + i as f32 * 0.5;
    }
    a.obs_norm.count = 1234.0;
    a.obs_clip = 10.0;
    for i in 0..A {
        a.action_low[i] = -2.0 - i as f32 * 0.5;
        a.action_high[i] = 2.0 + i as f32 * 0.25;
    }
    a
}
