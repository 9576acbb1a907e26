//! Version-1 files still load: the committed fixtures (`tests/fixtures/`,
//! written by the version-1 writer) and the worked example of
//! `docs/file-format.md` decode bit for bit, have no critic, re-encode as
//! version 2, and every damaged copy of them is refused.

mod file_common;

use file_common::{bits, encode_vec, formula_actor};
use fixpo_core::file::{self, FileError};
use fixpo_core::{Actor, Params, Policy, PolicyKind};

const V1_GAUSSIAN_3_8_1: &[u8] = include_bytes!("fixtures/v1_gaussian_3_8_1.fxp");
const V1_CATEGORICAL_2_4_3: &[u8] = include_bytes!("fixtures/v1_categorical_2_4_3.fxp");

/// The worked example of docs/file-format.md (a version-1 file).
const DOC_EXAMPLE: [u8; 74] = [
    0x46, 0x58, 0x50, 0x4f, 0x01, 0x00, 0x01, 0x01, 0x01, 0x00, 0x00, 0x20, 0x41, 0x01, 0x00, 0x00,
    0x00, 0x3f, 0x01, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x59, 0x40, 0x01,
    0x00, 0x00, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x00, 0x40, 0x07, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00,
    0x80, 0x3e, 0x00, 0x00, 0x00, 0xbf, 0xec, 0x48, 0xeb, 0x5c,
];

fn check_v1<const O: usize, const H: usize, const A: usize>(bytes: &[u8], want: &Actor<O, H, A>) {
    let h = file::read_header(bytes).expect("a version-1 file loads");
    assert_eq!(h.version, 1);
    assert_eq!(h.critic, None);
    assert_eq!(bytes.len(), file::encoded_len(O, H, A, false) - 1);
    let back = file::decode::<O, H, A>(bytes).expect("decode");
    assert_eq!(bits(&back), bits(want));
    assert_eq!(file::decode_critic::<O, H>(bytes), Ok(None));
    // Re-encoded, it is the version-2 file of the same actor: the same
    // bytes but for the version, and the critic tag 0 before the checksum.
    let v2 = encode_vec(&back);
    assert_eq!(v2[4], 2);
    assert_eq!(v2[5..v2.len() - 5], bytes[5..bytes.len() - 4]);
    assert_eq!(v2[v2.len() - 5], 0);
    assert_eq!(bits(&file::decode::<O, H, A>(&v2).unwrap()), bits(want));

    // Every single-byte flip and every truncation is refused.
    let mut damaged = bytes.to_vec();
    for pos in 0..damaged.len() {
        for mask in [0xFF, 0x01, 0x80] {
            damaged[pos] ^= mask;
            assert!(
                file::decode::<O, H, A>(&damaged).is_err(),
                "flip {mask:#x} at {pos} accepted"
            );
            assert!(file::read_header(&damaged).is_err());
            damaged[pos] ^= mask;
        }
    }
    for n in 0..bytes.len() {
        assert_eq!(
            file::read_header(&bytes[..n]).err(),
            Some(FileError::Truncated),
            "prefix of {n} bytes"
        );
    }
}

#[test]
fn version_1_fixture_gaussian_loads() {
    check_v1(
        V1_GAUSSIAN_3_8_1,
        &formula_actor::<3, 8, 1>(PolicyKind::Gaussian),
    );
}

#[test]
fn version_1_fixture_categorical_loads() {
    check_v1(
        V1_CATEGORICAL_2_4_3,
        &formula_actor::<2, 4, 3>(PolicyKind::Categorical),
    );
}

#[test]
fn the_documented_version_1_example_loads() {
    let mut want = Actor::<1, 1, 1>::zero(PolicyKind::Gaussian);
    want.obs_norm.mean = [0.5];
    want.obs_norm.var = [2.0];
    want.obs_norm.count = 100.0;
    want.action_low = [-2.0];
    want.action_high = [2.0];
    want.obs_clip = 10.0;
    let params = [1.0, 0.0, -1.0, 0.0, 0.5, 0.25, -0.5];
    for (k, &x) in params.iter().enumerate() {
        want.policy.slice_mut(k)[0] = x;
    }
    assert_eq!(Policy::<1, 1, 1>::SLICES, params.len());
    check_v1(&DOC_EXAMPLE, &want);
    // The documented checksum.
    assert_eq!(file::checksum(&DOC_EXAMPLE[..70]), 0x5ceb_48ec);
}
