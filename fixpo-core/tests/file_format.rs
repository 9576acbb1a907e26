//! The policy file format (`fixpo_core::file`): bit-exact round trips, and
//! refusal, never a panic, for every damaged or hostile input.

use fixpo_core::file::{self, FileError, Header, MIN_LEN};
use fixpo_core::rng::{self, Pcg32};
use fixpo_core::{Actor, Params, Policy, PolicyKind};
use proptest::prelude::*;

/// An actor with random weights (including biases and log-std), statistics
/// from random samples, and random bounds with low < high.
fn random_actor<const O: usize, const H: usize, const A: usize>(
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

fn encode_vec<const O: usize, const H: usize, const A: usize>(a: &Actor<O, H, A>) -> Vec<u8> {
    let mut buf = vec![0u8; file::max_encoded_len(O, H, A)];
    let n = file::encode(a, &mut buf).expect("encode");
    assert_eq!(n, buf.len());
    buf
}

/// Every number of an actor as bits, for bit-exact comparison.
fn bits<const O: usize, const H: usize, const A: usize>(a: &Actor<O, H, A>) -> Vec<u64> {
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
fn fix_crc(bytes: &mut [u8]) {
    let n = bytes.len() - file::CRC_LEN;
    let c = file::checksum(&bytes[..n]);
    bytes[n..].copy_from_slice(&c.to_le_bytes());
}

/// Byte offsets of the fields of a file whose dimensions are all < 128 and
/// whose parameter count is in 128..16384 (so every varint has the length
/// assumed here).
struct Offsets {
    version: usize,
    kind: usize,
    obs: usize,
    clip: usize,
    mean_len: usize,
    mean: usize,
    var: usize,
    count: usize,
    low: usize,
    high: usize,
    param_count: usize,
    params: usize,
}

fn offsets(obs: usize, act: usize) -> Offsets {
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

fn put_f32(bytes: &mut [u8], at: usize, x: f32) {
    bytes[at..at + 4].copy_from_slice(&x.to_le_bytes());
}

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
    assert_eq!(file::max_encoded_len(3, 32, 1), 4935);
    assert_eq!(file::max_encoded_len(17, 64, 6), 23047);
    assert_eq!(file::max_encoded_len(4, 64, 2), 18527);
    assert_eq!(file::max_encoded_len(64, 64, 8), 35999);
    assert_eq!(MIN_LEN, file::max_encoded_len(1, 1, 1));
    let a = random_actor::<4, 64, 2>(PolicyKind::Categorical, 4);
    assert_eq!(encode_vec(&a).len(), 18527);
}

fn check_every_flip<const O: usize, const H: usize, const A: usize>(kind: PolicyKind, seed: u64) {
    let a = random_actor::<O, H, A>(kind, seed);
    let good = encode_vec(&a);
    let mut bytes = good.clone();
    let mut out = Actor::<O, H, A>::zero(PolicyKind::Gaussian);
    let before = bits(&out);
    for pos in 0..bytes.len() {
        for mask in [0xFF, 0x01] {
            bytes[pos] ^= mask;
            let e = file::decode_into(&bytes, &mut out)
                .expect_err(&format!("flip {mask:#x} at {pos} accepted"));
            assert!(file::read_header(&bytes).is_err());
            // Past the fixed header only the checksum can notice.
            if pos >= 13 {
                assert!(
                    matches!(e, FileError::ChecksumMismatch { .. }),
                    "flip at {pos}: {e:?}"
                );
            }
            if pos < 4 {
                assert_eq!(e, FileError::BadMagic);
            }
            bytes[pos] ^= mask;
        }
    }
    assert_eq!(bytes, good);
    assert_eq!(bits(&out), before, "decode_into wrote on error");
}

#[test]
fn every_byte_flip_is_rejected_3_32_1() {
    check_every_flip::<3, 32, 1>(PolicyKind::Gaussian, 5);
}

#[test]
fn every_byte_flip_is_rejected_17_64_6() {
    check_every_flip::<17, 64, 6>(PolicyKind::Gaussian, 6);
}

#[test]
fn every_byte_flip_is_rejected_4_64_2() {
    check_every_flip::<4, 64, 2>(PolicyKind::Categorical, 7);
}

fn check_every_truncation<const O: usize, const H: usize, const A: usize>(kind: PolicyKind) {
    let bytes = encode_vec(&random_actor::<O, H, A>(kind, 8));
    for n in 0..bytes.len() {
        assert_eq!(
            file::decode::<O, H, A>(&bytes[..n]).err(),
            Some(FileError::Truncated),
            "prefix of {n} bytes"
        );
        assert_eq!(
            file::read_header(&bytes[..n]).err(),
            Some(FileError::Truncated)
        );
    }
    // One byte too many is not a valid file either.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        file::decode::<O, H, A>(&longer),
        Err(FileError::ChecksumMismatch { .. })
    ));
    fix_crc(&mut longer);
    assert!(file::decode::<O, H, A>(&longer).is_err());
}

#[test]
fn every_truncation_is_rejected() {
    check_every_truncation::<3, 32, 1>(PolicyKind::Gaussian);
    check_every_truncation::<4, 64, 2>(PolicyKind::Categorical);
    check_every_truncation::<1, 1, 1>(PolicyKind::Gaussian);
}

#[test]
fn wrong_dimensions() {
    let bytes = encode_vec(&random_actor::<3, 32, 1>(PolicyKind::Gaussian, 9));
    let want = Err(FileError::DimensionMismatch {
        obs: 3,
        hid: 32,
        act: 1,
    });
    assert_eq!(file::decode::<3, 64, 1>(&bytes).map(|_| ()), want);
    assert_eq!(file::decode::<4, 32, 1>(&bytes).map(|_| ()), want);
    assert_eq!(file::decode::<3, 32, 2>(&bytes).map(|_| ()), want);

    // read_dyn wants exact slice lengths and leaves the slices alone.
    let p = Policy::<3, 32, 1>::PARAMS;
    let mut s = [
        vec![7.0; 3],
        vec![7.0; 3],
        vec![7.0; 1],
        vec![7.0; 1],
        vec![7.0; p],
    ];
    for (i, extra) in [(0, 1), (1, 1), (2, 1), (3, 1), (4, 1), (4, usize::MAX)] {
        let mut t = s.clone();
        if extra == usize::MAX {
            t[i].pop();
        } else {
            t[i].push(7.0);
        }
        let [m, v, l, h, q] = &mut t;
        assert_eq!(file::read_dyn(&bytes, m, v, l, h, q).map(|_| ()), want);
        assert!(t.iter().flatten().all(|&x| x == 7.0));
    }
    let [m, v, l, h, q] = &mut s;
    assert!(file::read_dyn(&bytes, m, v, l, h, q).is_ok());
}

/// A valid file for 3→32×32→1 and a function that edits it and fixes the
/// checksum, so the decoder's later checks are reached.
fn crafted(edit: impl FnOnce(&mut Vec<u8>, &Offsets)) -> Vec<u8> {
    let mut bytes = encode_vec(&random_actor::<3, 32, 1>(PolicyKind::Gaussian, 10));
    edit(&mut bytes, &offsets(3, 1));
    fix_crc(&mut bytes);
    bytes
}

#[test]
fn offsets_match_the_layout() {
    let a = random_actor::<3, 32, 1>(PolicyKind::Gaussian, 10);
    let bytes = encode_vec(&a);
    let o = offsets(3, 1);
    let f = |at: usize| f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(bytes[o.version], 1);
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
    assert_eq!(o.params + 4 * 1218 + 4, bytes.len());
}

#[test]
fn values_are_checked_behind_a_valid_checksum() {
    use FileError::*;
    let last_param = |b: &mut Vec<u8>, _: &Offsets| {
        let n = b.len() - 8;
        put_f32(b, n, f32::NAN);
    };
    let cases: Vec<(&str, Vec<u8>, FileError)> = vec![
        ("NaN weight", crafted(last_param), NonFiniteValue),
        (
            "inf first weight",
            crafted(|b, o| put_f32(b, o.params, f32::INFINITY)),
            NonFiniteValue,
        ),
        (
            "inf mean",
            crafted(|b, o| put_f32(b, o.mean + 8, f32::NEG_INFINITY)),
            NonFiniteValue,
        ),
        (
            "NaN var",
            crafted(|b, o| put_f32(b, o.var, f32::NAN)),
            NonFiniteValue,
        ),
        (
            "negative var",
            crafted(|b, o| put_f32(b, o.var + 4, -1e-3)),
            InvalidValue,
        ),
        (
            "NaN clip",
            crafted(|b, o| put_f32(b, o.clip, f32::NAN)),
            NonFiniteValue,
        ),
        (
            "zero clip",
            crafted(|b, o| put_f32(b, o.clip, 0.0)),
            InvalidValue,
        ),
        (
            "negative clip",
            crafted(|b, o| put_f32(b, o.clip, -1.0)),
            InvalidValue,
        ),
        (
            "negative count",
            crafted(|b, o| b[o.count..o.count + 8].copy_from_slice(&(-1.0f64).to_le_bytes())),
            InvalidValue,
        ),
        (
            "NaN count",
            crafted(|b, o| b[o.count..o.count + 8].copy_from_slice(&f64::NAN.to_le_bytes())),
            NonFiniteValue,
        ),
        (
            "NaN low",
            crafted(|b, o| put_f32(b, o.low, f32::NAN)),
            NonFiniteValue,
        ),
        (
            "inf high",
            crafted(|b, o| put_f32(b, o.high, f32::INFINITY)),
            NonFiniteValue,
        ),
        (
            "low > high",
            crafted(|b, o| put_f32(b, o.low, 5.0)),
            InvalidValue,
        ),
        (
            "kind 2",
            crafted(|b, o| b[o.kind] = 2),
            BadKind { found: 2 },
        ),
        (
            "kind 255",
            crafted(|b, o| b[o.kind] = 255),
            BadKind { found: 255 },
        ),
        (
            "version 2",
            crafted(|b, o| b[o.version] = 2),
            UnsupportedVersion { found: 2 },
        ),
        ("magic", crafted(|b, _| b[3] = b'p'), BadMagic),
        (
            "zero obs",
            crafted(|b, o| b[o.obs] = 0),
            DimensionMismatch {
                obs: 0,
                hid: 32,
                act: 1,
            },
        ),
        (
            "param count + 1",
            crafted(|b, o| b[o.param_count] += 1),
            ParamCountMismatch,
        ),
        (
            "mean length 2",
            crafted(|b, o| b[o.mean_len] = 2),
            Malformed,
        ),
        (
            "mean length 4",
            crafted(|b, o| b[o.mean_len] = 4),
            Malformed,
        ),
        (
            "high length 0",
            crafted(|b, o| b[o.high - 1] = 0),
            Malformed,
        ),
        (
            "trailing byte",
            crafted(|b, _| b.insert(b.len() - 4, 0)),
            Malformed,
        ),
        (
            "non-canonical obs varint",
            crafted(|b, o| {
                b[o.obs] = 0x83;
                b.insert(o.obs + 1, 0x00);
            }),
            Malformed,
        ),
        (
            "overlong version varint",
            crafted(|b, o| {
                b[o.version] = 0x81;
                b.insert(o.version + 1, 0x00);
            }),
            Malformed,
        ),
    ];
    for (what, bytes, want) in cases {
        let mut out = random_actor::<3, 32, 1>(PolicyKind::Categorical, 11);
        let before = bits(&out);
        let got = file::decode_into(&bytes, &mut out);
        assert_eq!(got, Err(want), "{what}");
        assert_eq!(
            file::read_header(&bytes).err(),
            Some(want),
            "{what} (read_header)"
        );
        assert_eq!(bits(&out), before, "{what}: decode_into wrote on error");
    }
}

#[test]
fn first_value_error_in_file_order_wins() {
    // A NaN weight after a bad bound: the bound is reported.
    let bytes = crafted(|b, o| {
        put_f32(b, o.low, 9.0);
        let n = b.len() - 8;
        put_f32(b, n, f32::NAN);
    });
    assert_eq!(
        file::read_header(&bytes).err(),
        Some(FileError::InvalidValue)
    );
}

#[test]
fn encode_refuses_what_decode_would() {
    let good = random_actor::<3, 32, 1>(PolicyKind::Gaussian, 12);
    let mut buf = vec![0u8; file::max_encoded_len(3, 32, 1)];
    for n in 0..buf.len() {
        assert_eq!(
            file::encode(&good, &mut buf[..n]),
            Err(FileError::BufferTooSmall)
        );
    }
    // A larger buffer is fine; only the prefix is written.
    let mut big = vec![0xAAu8; buf.len() + 10];
    assert_eq!(file::encode(&good, &mut big), Ok(buf.len()));
    assert!(big[buf.len()..].iter().all(|&b| b == 0xAA));

    let mut a = good;
    a.policy.log_std[0] = f32::NAN;
    assert_eq!(file::encode(&a, &mut buf), Err(FileError::NonFiniteValue));
    let mut a = good;
    a.action_low[0] = 2.0;
    a.action_high[0] = 1.0;
    assert_eq!(file::encode(&a, &mut buf), Err(FileError::InvalidValue));
    let mut a = good;
    a.obs_norm.var[1] = -1.0;
    assert_eq!(file::encode(&a, &mut buf), Err(FileError::InvalidValue));
    let mut a = good;
    a.obs_clip = 0.0;
    assert_eq!(file::encode(&a, &mut buf), Err(FileError::InvalidValue));
}

#[test]
fn zero_actor_round_trips() {
    let a = Actor::<2, 3, 1>::zero(PolicyKind::Categorical);
    let bytes = encode_vec(&a);
    assert_eq!(file::decode::<2, 3, 1>(&bytes), Ok(a));
}

#[test]
fn errors_display_and_are_errors() {
    let e: Box<dyn std::error::Error> = Box::new(FileError::ChecksumMismatch {
        expected: 0xDEADBEEF,
        found: 1,
    });
    assert_eq!(
        e.to_string(),
        "policy file checksum mismatch (stored 0xdeadbeef, computed 0x00000001)"
    );
}

/// Every decoding entry point on `bytes`; panics are the failure.
fn decode_everything(bytes: &[u8]) {
    let _ = file::read_header(bytes);
    let _ = file::decode::<1, 1, 1>(bytes);
    let _ = file::decode::<2, 3, 1>(bytes);
    let _ = file::decode::<3, 32, 1>(bytes);
    if let Ok(h) = file::read_header(bytes) {
        let (o, a) = (h.obs as usize, h.act as usize);
        let (mut m, mut v) = (vec![0.0; o], vec![0.0; o]);
        let (mut l, mut hi) = (vec![0.0; a], vec![0.0; a]);
        let mut p = vec![0.0; h.param_count as usize];
        assert_eq!(
            file::read_dyn(bytes, &mut m, &mut v, &mut l, &mut hi, &mut p),
            Ok(h)
        );
    }
}

/// Decodes `bytes` as 2→3×3→1; an accepted file must be canonical.
fn accepted_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(a) = file::decode::<2, 3, 1>(bytes) {
        prop_assert_eq!(encode_vec(&a), bytes.to_vec());
        prop_assert!(file::read_header(bytes).is_ok());
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Edit {
    Set(usize, u8),
    Xor(usize, u8),
    Insert(usize, u8),
    Remove(usize),
    SetF32(usize, u32),
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Set(i, b)),
        (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Edit::Xor(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Edit::Insert(i, b)),
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), any::<u32>()).prop_map(|(i, x)| Edit::SetF32(i, x)),
    ]
}

fn apply(bytes: &mut Vec<u8>, edits: &[Edit]) {
    for e in edits {
        let n = bytes.len();
        match *e {
            Edit::Set(i, b) if n > 0 => bytes[i % n] = b,
            Edit::Xor(i, b) if n > 0 => bytes[i % n] ^= b,
            Edit::Insert(i, b) => bytes.insert(i % (n + 1), b),
            Edit::Remove(i) if n > 0 => {
                bytes.remove(i % n);
            }
            Edit::SetF32(i, x) if n >= 4 => {
                let at = i % (n - 3);
                bytes[at..at + 4].copy_from_slice(&x.to_le_bytes());
            }
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        decode_everything(&bytes);
    }

    #[test]
    fn random_tail_after_a_valid_preamble_never_panics(
        tail in prop::collection::vec(any::<u8>(), 0..300),
        fix in any::<bool>(),
    ) {
        let mut bytes = b"FXPO\x01".to_vec();
        bytes.extend_from_slice(&tail);
        if fix && bytes.len() >= MIN_LEN {
            fix_crc(&mut bytes);
        }
        decode_everything(&bytes);
        accepted_is_canonical(&bytes)?;
    }

    #[test]
    fn mutations_never_panic(
        edits in prop::collection::vec(edit_strategy(), 1..6),
        fix in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let a = random_actor::<2, 3, 1>(PolicyKind::Gaussian, seed);
        let mut bytes = encode_vec(&a);
        apply(&mut bytes, &edits);
        if fix && bytes.len() >= 4 {
            fix_crc(&mut bytes);
        }
        decode_everything(&bytes);
        accepted_is_canonical(&bytes)?;
        // Without the fix-up, any change is caught.
        if !fix && bytes != encode_vec(&a) {
            prop_assert!(file::decode::<2, 3, 1>(&bytes).is_err());
        }
    }

    #[test]
    fn decode_into_is_all_or_nothing(
        edits in prop::collection::vec(edit_strategy(), 1..4),
        seed in any::<u64>(),
    ) {
        let mut bytes = encode_vec(&random_actor::<2, 3, 1>(PolicyKind::Gaussian, seed));
        apply(&mut bytes, &edits);
        if bytes.len() >= 4 {
            fix_crc(&mut bytes);
        }
        let mut out = random_actor::<2, 3, 1>(PolicyKind::Categorical, !seed);
        let before = bits(&out);
        match file::decode_into(&bytes, &mut out) {
            Ok(()) => prop_assert_eq!(encode_vec(&out), bytes),
            Err(_) => prop_assert_eq!(bits(&out), before),
        }
    }

    #[test]
    fn random_values_round_trip(
        vals in prop::collection::vec(any::<u32>(), 41),
        seed in any::<u64>(),
    ) {
        // Any finite weights, including subnormals and signed zeros, survive
        // bit for bit.
        let mut a = random_actor::<2, 3, 1>(PolicyKind::Gaussian, seed);
        let mut it = vals.iter().map(|&b| f32::from_bits(b)).filter(|x| x.is_finite());
        for k in 0..Policy::<2, 3, 1>::SLICES {
            for x in a.policy.slice_mut(k) {
                if let Some(v) = it.next() {
                    *x = v;
                }
            }
        }
        let bytes = encode_vec(&a);
        let back = file::decode::<2, 3, 1>(&bytes).unwrap();
        prop_assert_eq!(bits(&back), bits(&a));
    }
}
