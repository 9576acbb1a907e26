//! The policy file format (`fixpo_core::file`): bit-exact round trips,
//! canonical bytes, the sizes and the byte layout. Damaged and hostile
//! inputs are in `file_errors.rs` and `file_mutations.rs`.

mod file_common;

use file_common::{bits, encode_vec, offsets, random_actor};
use fixpo_core::file::{self, Header, MIN_LEN};
use fixpo_core::{Actor, Params, Policy, PolicyKind};

fn check_round_trip<const O: usize, const H: usize, const A: usize>(kind: PolicyKind, seed: u64) {
    let a = random_actor::<O, H, A>(kind, seed);
    let bytes = encode_vec(&a);
    assert_eq!(&bytes[..4], b"FXPO");

    let back = file::decode::<O, H, A>(&bytes).expect("decode");
    assert_eq!(bits(&back), bits(&a), "decode is not bit-exact");

    let mut into = Actor::<O, H, A>::zero(PolicyKind::Gaussian);
    file::decode_into(&bytes, &mut into).expect("decode_into");
    assert_eq!(bits(&into), bits(&a));

    // Canonical: re-encoding gives the same bytes.
    assert_eq!(encode_vec(&back), bytes);

    let h = file::read_header(&bytes).expect("read_header");
    assert_eq!(
        h,
        Header {
            version: file::VERSION,
            kind,
            obs: O as u16,
            hid: H as u16,
            act: A as u16,
            param_count: Policy::<O, H, A>::PARAMS as u32,
            crc: u32::from_le_bytes(bytes[bytes.len() - 4..].try_into().unwrap()),
            body_len: bytes.len() - 4,
            obs_clip: a.obs_clip,
            obs_count: a.obs_norm.count,
            critic: None,
        }
    );
    assert_eq!(h.crc, file::checksum(&bytes[..h.body_len]));

    let (mut mean, mut var) = (vec![0.0; O], vec![0.0; O]);
    let (mut low, mut high) = (vec![0.0; A], vec![0.0; A]);
    let mut params = vec![0.0; h.param_count as usize];
    let h2 = file::read_dyn(
        &bytes,
        &mut mean,
        &mut var,
        &mut low,
        &mut high,
        &mut params,
    )
    .expect("read_dyn");
    assert_eq!(h2, h);
    let mut flat = vec![0.0; Policy::<O, H, A>::LEN];
    a.policy.write_flat(&mut flat).unwrap();
    let b = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(b(&params), b(&flat));
    assert_eq!(b(&mean), b(&a.obs_norm.mean));
    assert_eq!(b(&var), b(&a.obs_norm.var));
    assert_eq!(b(&low), b(&a.action_low));
    assert_eq!(b(&high), b(&a.action_high));

    // The decoded controller runs.
    assert!(back.act(&[0.5; O]).iter().all(|x| x.is_finite()));
}

#[test]
fn round_trip_gaussian_3_32_1() {
    check_round_trip::<3, 32, 1>(PolicyKind::Gaussian, 1);
}

#[test]
fn round_trip_gaussian_17_64_6() {
    check_round_trip::<17, 64, 6>(PolicyKind::Gaussian, 2);
}

#[test]
fn round_trip_categorical_4_64_2() {
    check_round_trip::<4, 64, 2>(PolicyKind::Categorical, 3);
}

#[test]
fn sizes() {
    // Without a critic: the version-1 length and the critic tag.
    assert_eq!(file::encoded_len(3, 32, 1, false), 4936);
    assert_eq!(file::encoded_len(17, 64, 6, false), 23048);
    assert_eq!(file::encoded_len(4, 64, 2, false), 18528);
    assert_eq!(file::encoded_len(64, 64, 8, false), 36000);
    // With one: return mean, var, count (16 bytes), the value's parameter
    // count (2 bytes) and 4 bytes per value parameter.
    let with = |o: usize, h: usize| o * h + h + h * h + h + h + 1;
    for (o, h, a) in [(3, 32, 1), (17, 64, 6), (4, 64, 2), (64, 64, 8)] {
        assert_eq!(
            file::max_encoded_len(o, h, a),
            file::encoded_len(o, h, a, false) + 18 + 4 * with(o, h)
        );
        assert_eq!(
            file::encoded_len(o, h, a, true),
            file::max_encoded_len(o, h, a)
        );
    }
    assert_eq!(file::max_encoded_len(3, 32, 1), 9822);
    // The shortest file is a version-1 file.
    assert_eq!(MIN_LEN, 74);
    assert_eq!(MIN_LEN + 1, file::encoded_len(1, 1, 1, false));
    let a = random_actor::<4, 64, 2>(PolicyKind::Categorical, 4);
    assert_eq!(encode_vec(&a).len(), 18528);
}

#[test]
fn offsets_match_the_layout() {
    let a = random_actor::<3, 32, 1>(PolicyKind::Gaussian, 10);
    let bytes = encode_vec(&a);
    let o = offsets(3, 32, 1);
    let f = |at: usize| f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(bytes[o.version], 2);
    assert_eq!(bytes[o.kind], 0);
    assert_eq!(bytes[o.obs..o.obs + 3], [3, 32, 1]);
    assert_eq!(f(o.clip), a.obs_clip);
    assert_eq!(bytes[o.mean_len], 3);
    assert_eq!(f(o.mean), a.obs_norm.mean[0]);
    assert_eq!(bytes[o.var - 1], 3);
    assert_eq!(f(o.var), a.obs_norm.var[0]);
    let count = f64::from_le_bytes(bytes[o.count..o.count + 8].try_into().unwrap());
    assert_eq!(count, a.obs_norm.count);
    assert_eq!(f(o.low), a.action_low[0]);
    assert_eq!(f(o.high), a.action_high[0]);
    // 1218 = 0x4C2 as a varint: 0xC2 0x09.
    assert_eq!(bytes[o.param_count..o.param_count + 2], [0xC2, 0x09]);
    assert_eq!(f(o.params), a.policy.net.w1[0][0]);
    assert_eq!(o.critic_tag, o.params + 4 * 1218);
    assert_eq!(bytes[o.critic_tag], 0);
    assert_eq!(o.critic_tag + 1 + 4, bytes.len());
}

#[test]
fn zero_actor_round_trips() {
    let a = Actor::<2, 3, 1>::zero(PolicyKind::Categorical);
    let bytes = encode_vec(&a);
    assert_eq!(file::decode::<2, 3, 1>(&bytes), Ok(a));
}
