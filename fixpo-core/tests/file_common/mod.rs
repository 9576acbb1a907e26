//! Helpers shared by the policy-file tests (`file_round_trip.rs`,
//! `file_errors.rs`, `file_mutations.rs`): random actors, encoding into a
//! `Vec`, bit-exact comparison, checksum repair and the byte layout.
#![allow(dead_code)]

use fixpo_core::file;
use fixpo_core::rng::{self, Pcg32};
use fixpo_core::{Actor, Params, Policy, PolicyKind};

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

pub fn encode_vec<const O: usize, const H: usize, const A: usize>(a: &Actor<O, H, A>) -> Vec<u8> {
    let mut buf = vec![0u8; file::max_encoded_len(O, H, A)];
    let n = file::encode(a, &mut buf).expect("encode");
    assert_eq!(n, buf.len());
    buf
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
/// whose parameter count is in 128..16384 (so every varint has the length
/// assumed here).
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
}

pub fn offsets(obs: usize, act: usize) -> Offsets {
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
        params: 27 + 8 * obs + 8 * act,
    }
}
