//! The policy file format (`fixpo_core::file`): refusal, never a panic, of
//! every damaged file (each byte flipped, each truncation, wrong
//! dimensions, bad values behind a valid checksum), and the errors
//! themselves.

mod file_common;

use file_common::{Offsets, bits, encode_vec, fix_crc, offsets, random_actor};
use fixpo_core::file::{self, FileError};
use fixpo_core::{Actor, Policy, PolicyKind};

fn put_f32(bytes: &mut [u8], at: usize, x: f32) {
    bytes[at..at + 4].copy_from_slice(&x.to_le_bytes());
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
            // Past the fixed header only the checksum can notice, except
            // that a critic tag flipped to 1 asks for a longer file.
            let tag = offsets(O, H, A).critic_tag;
            if pos == tag && bytes[pos] == 1 {
                assert_eq!(e, FileError::Truncated, "tag flip");
            } else if pos >= 13 {
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
    edit(&mut bytes, &offsets(3, 32, 1));
    fix_crc(&mut bytes);
    bytes
}

#[test]
fn values_are_checked_behind_a_valid_checksum() {
    use FileError::*;
    let last_param = |b: &mut Vec<u8>, o: &Offsets| put_f32(b, o.critic_tag - 4, f32::NAN);
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
            "version 3",
            crafted(|b, o| b[o.version] = 3),
            UnsupportedVersion { found: 3 },
        ),
        (
            "version 0",
            crafted(|b, o| b[o.version] = 0),
            UnsupportedVersion { found: 0 },
        ),
        // A version-2 file relabelled as version 1 is one byte too long.
        ("version 1", crafted(|b, o| b[o.version] = 1), Malformed),
        (
            "critic tag 2",
            crafted(|b, o| b[o.critic_tag] = 2),
            Malformed,
        ),
        // Tag 1 on a file of the length without a critic.
        (
            "critic tag 1",
            crafted(|b, o| b[o.critic_tag] = 1),
            Malformed,
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
        put_f32(b, o.critic_tag - 4, f32::NAN);
    });
    assert_eq!(
        file::read_header(&bytes).err(),
        Some(FileError::InvalidValue)
    );
}

#[test]
fn encode_refuses_what_decode_would() {
    let good = random_actor::<3, 32, 1>(PolicyKind::Gaussian, 12);
    let mut buf = vec![0u8; file::encoded_len(3, 32, 1, false)];
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
