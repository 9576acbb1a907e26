//! Version 2's critic section (`fixpo_core::file`): a file with a critic
//! round-trips bit for bit through every reader, every single-byte flip and
//! every truncation of it is refused, its values are checked behind a valid
//! checksum, and the readers that write into caller storage write all or
//! nothing.

mod file_common;

use file_common::{
    Offsets, bits, critic_bits, encode_vec, encode_vec_critic, fix_crc, offsets, random_actor,
    random_critic,
};
use fixpo_core::file::{self, Critic, CriticInfo, FileError};
use fixpo_core::{Actor, ObsNorm, Params, Policy, PolicyKind, RunningMeanStd, Value};

fn check_round_trip<const O: usize, const H: usize, const A: usize>(kind: PolicyKind, seed: u64) {
    let a = random_actor::<O, H, A>(kind, seed);
    let c = random_critic::<O, H>(seed);
    let bytes = encode_vec_critic(&a, &c);

    // The actor reads as from a file without a critic.
    let back = file::decode::<O, H, A>(&bytes).expect("decode");
    assert_eq!(bits(&back), bits(&a));
    let critic = file::decode_critic::<O, H>(&bytes)
        .expect("decode_critic")
        .expect("a critic");
    assert_eq!(critic_bits(&critic), critic_bits(&c));
    // Canonical.
    assert_eq!(encode_vec_critic(&back, &critic), bytes);

    let h = file::read_header(&bytes).expect("read_header");
    assert_eq!(h.version, 2);
    assert_eq!(h.body_len, bytes.len() - 4);
    assert_eq!(
        h.critic,
        Some(CriticInfo {
            param_count: Value::<O, H>::PARAMS as u32,
            ret_mean: c.ret.mean[0],
            ret_var: c.ret.var[0],
            ret_count: c.ret.count,
        })
    );
    let info = h.critic.unwrap();
    assert_eq!(info.sigma(), (c.ret.var[0] + 1e-8).sqrt());

    // The dynamic reader gives the value parameters in slice order.
    let mut flat = vec![0.0; info.param_count as usize];
    assert_eq!(file::read_dyn_critic(&bytes, &mut flat), Ok(h));
    let want: Vec<u32> = (0..Value::<O, H>::SLICES)
        .flat_map(|k| c.value.slice(k).to_vec())
        .map(f32::to_bits)
        .collect();
    assert_eq!(flat.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), want);

    // The parts reader: policy, normalisation, bounds and critic in place.
    let mut policy = Policy::<O, H, A>::zero(PolicyKind::Gaussian);
    let mut norm = ObsNorm::<O>::NEW;
    let (mut low, mut high) = ([0.0; A], [0.0; A]);
    let mut value = Value::<O, H>::ZERO;
    let mut ret = RunningMeanStd::<1>::NEW;
    let got = file::decode_parts(
        &bytes,
        &mut policy,
        &mut norm,
        &mut low,
        &mut high,
        Some((&mut value, &mut ret)),
    );
    assert_eq!(got, Ok(h));
    let parts = Actor {
        policy,
        obs_norm: norm.stats,
        obs_clip: norm.clip,
        action_low: low,
        action_high: high,
    };
    assert_eq!(bits(&parts), bits(&a));
    assert_eq!(critic_bits(&Critic { value, ret }), critic_bits(&c));
}

#[test]
fn round_trip_with_critic_3_32_1() {
    check_round_trip::<3, 32, 1>(PolicyKind::Gaussian, 21);
}

#[test]
fn round_trip_with_critic_17_64_6() {
    check_round_trip::<17, 64, 6>(PolicyKind::Gaussian, 22);
}

#[test]
fn round_trip_with_critic_categorical_4_64_2() {
    check_round_trip::<4, 64, 2>(PolicyKind::Categorical, 23);
}

#[test]
fn files_without_a_critic_say_so() {
    let a = random_actor::<3, 32, 1>(PolicyKind::Gaussian, 24);
    let bytes = encode_vec(&a);
    assert_eq!(file::read_header(&bytes).unwrap().critic, None);
    assert_eq!(file::decode_critic::<3, 32>(&bytes), Ok(None));
    let mut out = random_critic::<3, 32>(25);
    let before = critic_bits(&out);
    assert_eq!(file::decode_critic_into(&bytes, &mut out), Ok(false));
    assert_eq!(critic_bits(&out), before);
    assert!(file::read_dyn_critic(&bytes, &mut []).is_ok());
    assert!(file::read_dyn_critic(&bytes, &mut [0.0]).is_err());
}

#[test]
fn critic_dimensions_are_checked() {
    let bytes = encode_vec_critic(
        &random_actor::<3, 32, 1>(PolicyKind::Gaussian, 26),
        &random_critic::<3, 32>(26),
    );
    let want = Err(FileError::DimensionMismatch {
        obs: 3,
        hid: 32,
        act: 1,
    });
    assert_eq!(file::decode_critic::<3, 16>(&bytes).map(|_| ()), want);
    assert_eq!(file::decode_critic::<4, 32>(&bytes).map(|_| ()), want);
    let n = Value::<3, 32>::PARAMS;
    for len in [0, n - 1, n + 1] {
        let mut v = vec![7.0; len];
        assert_eq!(file::read_dyn_critic(&bytes, &mut v).map(|_| ()), want);
        assert!(v.iter().all(|&x| x == 7.0));
    }
}

fn check_every_flip<const O: usize, const H: usize, const A: usize>(kind: PolicyKind, seed: u64) {
    let a = random_actor::<O, H, A>(kind, seed);
    let good = encode_vec_critic(&a, &random_critic::<O, H>(seed));
    let mut bytes = good.clone();
    let mut actor = Actor::<O, H, A>::zero(PolicyKind::Gaussian);
    let mut critic = Critic::<O, H>::ZERO;
    let (actor0, critic0) = (bits(&actor), critic_bits(&critic));
    for pos in 0..bytes.len() {
        for mask in [0xFF, 0x01] {
            bytes[pos] ^= mask;
            let e = file::decode_into(&bytes, &mut actor)
                .expect_err(&format!("flip {mask:#x} at {pos} accepted"));
            assert!(file::decode_critic_into(&bytes, &mut critic).is_err());
            assert!(file::read_header(&bytes).is_err());
            // Past the fixed header only the checksum can notice; a critic
            // tag of 0 asks for a shorter file, which this one is not.
            if pos >= 13 {
                assert!(
                    matches!(e, FileError::ChecksumMismatch { .. }),
                    "flip at {pos}: {e:?}"
                );
            }
            bytes[pos] ^= mask;
        }
    }
    assert_eq!(bytes, good);
    assert_eq!(bits(&actor), actor0, "decode_into wrote on error");
    assert_eq!(
        critic_bits(&critic),
        critic0,
        "decode_critic_into wrote on error"
    );
}

#[test]
fn every_byte_flip_of_a_file_with_critic_is_rejected_3_32_1() {
    check_every_flip::<3, 32, 1>(PolicyKind::Gaussian, 27);
}

#[test]
fn every_byte_flip_of_a_file_with_critic_is_rejected_4_16_2() {
    check_every_flip::<4, 16, 2>(PolicyKind::Categorical, 28);
}

#[test]
fn every_truncation_of_a_file_with_critic_is_rejected() {
    fn check<const O: usize, const H: usize, const A: usize>(kind: PolicyKind) {
        let bytes = encode_vec_critic(
            &random_actor::<O, H, A>(kind, 29),
            &random_critic::<O, H>(29),
        );
        for n in 0..bytes.len() {
            let prefix = &bytes[..n];
            assert_eq!(
                file::decode::<O, H, A>(prefix).err(),
                Some(FileError::Truncated),
                "prefix of {n} bytes"
            );
            assert_eq!(
                file::decode_critic::<O, H>(prefix).err(),
                Some(FileError::Truncated)
            );
            assert_eq!(file::read_header(prefix).err(), Some(FileError::Truncated));
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(matches!(
            file::read_header(&longer),
            Err(FileError::ChecksumMismatch { .. })
        ));
        fix_crc(&mut longer);
        assert_eq!(file::read_header(&longer).err(), Some(FileError::Malformed));
    }
    check::<3, 32, 1>(PolicyKind::Gaussian);
    check::<1, 1, 1>(PolicyKind::Gaussian);
    check::<4, 8, 2>(PolicyKind::Categorical);
}

/// A valid 3→32×32→1 file with a critic, edited, with its checksum fixed.
fn crafted(edit: impl FnOnce(&mut Vec<u8>, &Offsets)) -> Vec<u8> {
    let mut bytes = encode_vec_critic(
        &random_actor::<3, 32, 1>(PolicyKind::Gaussian, 30),
        &random_critic::<3, 32>(30),
    );
    edit(&mut bytes, &offsets(3, 32, 1));
    fix_crc(&mut bytes);
    bytes
}

fn put_f32(bytes: &mut [u8], at: usize, x: f32) {
    bytes[at..at + 4].copy_from_slice(&x.to_le_bytes());
}

#[test]
fn offsets_match_the_critic_layout() {
    let a = random_actor::<3, 32, 1>(PolicyKind::Gaussian, 31);
    let c = random_critic::<3, 32>(31);
    let bytes = encode_vec_critic(&a, &c);
    let o = offsets(3, 32, 1);
    let f = |at: usize| f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(bytes[o.critic_tag], 1);
    assert_eq!(f(o.ret_mean), c.ret.mean[0]);
    assert_eq!(f(o.ret_var), c.ret.var[0]);
    let count = f64::from_le_bytes(bytes[o.ret_count..o.ret_count + 8].try_into().unwrap());
    assert_eq!(count, c.ret.count);
    // 1217 = 0x4C1: 0xC1 0x09.
    assert_eq!(bytes[o.value_count..o.value_count + 2], [0xC1, 0x09]);
    assert_eq!(f(o.value), c.value.w1[0][0]);
    assert_eq!(o.value + 4 * 1217 + 4, bytes.len());
}

#[test]
fn critic_values_are_checked_behind_a_valid_checksum() {
    use FileError::*;
    let count = |x: f64| {
        move |b: &mut Vec<u8>, o: &Offsets| {
            b[o.ret_count..o.ret_count + 8].copy_from_slice(&x.to_le_bytes())
        }
    };
    let cases: Vec<(&str, Vec<u8>, FileError)> = vec![
        (
            "NaN return mean",
            crafted(|b, o| put_f32(b, o.ret_mean, f32::NAN)),
            NonFiniteValue,
        ),
        (
            "inf return var",
            crafted(|b, o| put_f32(b, o.ret_var, f32::INFINITY)),
            NonFiniteValue,
        ),
        (
            "negative return var",
            crafted(|b, o| put_f32(b, o.ret_var, -0.5)),
            InvalidValue,
        ),
        ("negative return count", crafted(count(-2.0)), InvalidValue),
        ("NaN return count", crafted(count(f64::NAN)), NonFiniteValue),
        (
            "NaN first value weight",
            crafted(|b, o| put_f32(b, o.value, f32::NAN)),
            NonFiniteValue,
        ),
        (
            "inf last value weight",
            crafted(|b, _| {
                let n = b.len() - 8;
                put_f32(b, n, f32::NEG_INFINITY)
            }),
            NonFiniteValue,
        ),
        (
            "value count + 1",
            crafted(|b, o| b[o.value_count] += 1),
            ParamCountMismatch,
        ),
        // Tag 0 on a file of the length with a critic.
        (
            "critic tag 0",
            crafted(|b, o| b[o.critic_tag] = 0),
            Malformed,
        ),
        (
            "critic tag 2",
            crafted(|b, o| b[o.critic_tag] = 2),
            Malformed,
        ),
        (
            "trailing byte",
            crafted(|b, _| b.insert(b.len() - 4, 0)),
            Malformed,
        ),
        (
            "critic section cut",
            crafted(|b, o| b.truncate(o.value + 4)),
            Malformed,
        ),
        // The actor's checks still come first, in file order.
        (
            "negative obs var before a NaN return mean",
            crafted(|b, o| {
                put_f32(b, o.var, -1.0);
                put_f32(b, o.ret_mean, f32::NAN);
            }),
            InvalidValue,
        ),
    ];
    for (what, bytes, want) in cases {
        let mut actor = random_actor::<3, 32, 1>(PolicyKind::Categorical, 32);
        let mut critic = random_critic::<3, 32>(32);
        let (actor0, critic0) = (bits(&actor), critic_bits(&critic));
        assert_eq!(file::decode_into(&bytes, &mut actor), Err(want), "{what}");
        assert_eq!(
            file::decode_critic_into(&bytes, &mut critic),
            Err(want),
            "{what}"
        );
        assert_eq!(file::read_header(&bytes).err(), Some(want), "{what}");
        assert_eq!(bits(&actor), actor0, "{what}: decode_into wrote");
        assert_eq!(critic_bits(&critic), critic0, "{what}: critic written");
    }
}

#[test]
fn encode_refuses_a_critic_decode_would_refuse() {
    let a = random_actor::<3, 32, 1>(PolicyKind::Gaussian, 33);
    let good = random_critic::<3, 32>(33);
    let mut buf = vec![0u8; file::max_encoded_len(3, 32, 1)];
    for n in [0, file::encoded_len(3, 32, 1, false), buf.len() - 1] {
        assert_eq!(
            file::encode_with_critic(&a, Some(&good), &mut buf[..n]),
            Err(FileError::BufferTooSmall)
        );
    }
    let mut c = good;
    c.value.b3[0] = f32::NAN;
    assert_eq!(
        file::encode_with_critic(&a, Some(&c), &mut buf),
        Err(FileError::NonFiniteValue)
    );
    let mut c = good;
    c.ret.var[0] = -1.0;
    assert_eq!(
        file::encode_with_critic(&a, Some(&c), &mut buf),
        Err(FileError::InvalidValue)
    );
    let mut c = good;
    c.ret.count = f64::INFINITY;
    assert_eq!(
        file::encode_with_critic(&a, Some(&c), &mut buf),
        Err(FileError::NonFiniteValue)
    );
    // Without a critic, `encode_with_critic` is `encode`.
    let n = file::encode_with_critic(&a, None, &mut buf).unwrap();
    assert_eq!(buf[..n], encode_vec(&a)[..]);
}
