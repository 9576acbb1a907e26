//! The policy file format (`fixpo_core::file`) under random input: no
//! bytes make a decoder panic, an accepted version-2 file is canonical (a
//! version-1 file re-encodes to the same actor), and `decode_into` writes
//! all or nothing, with and without a critic section (proptest).

mod file_common;

use file_common::{
    bits, critic_bits, encode_vec, encode_vec_critic, fix_crc, random_actor, random_critic,
};
use fixpo_core::file::{self, Critic, MIN_LEN};
use fixpo_core::{Params, Policy, PolicyKind};
use proptest::prelude::*;

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
        let mut c = vec![0.0; h.critic.map_or(0, |c| c.param_count as usize)];
        assert_eq!(file::read_dyn_critic(bytes, &mut c), Ok(h));
    }
    let _ = file::decode_critic::<2, 3>(bytes);
    let _ = file::decode_critic::<3, 32>(bytes);
}

/// Decodes `bytes` as 2→3×3→1; an accepted version-2 file must be
/// canonical, an accepted version-1 file must re-encode to the same actor.
fn accepted_is_canonical(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(a) = file::decode::<2, 3, 1>(bytes) {
        let h = file::read_header(bytes).expect("decode accepted it");
        let critic = file::decode_critic::<2, 3>(bytes).expect("decode accepted it");
        prop_assert_eq!(critic.is_some(), h.critic.is_some());
        let again = match &critic {
            Some(c) => encode_vec_critic(&a, c),
            None => encode_vec(&a),
        };
        if h.version == file::VERSION {
            prop_assert_eq!(again, bytes.to_vec());
        } else {
            let back = file::decode::<2, 3, 1>(&again).expect("re-encoded");
            prop_assert_eq!(bits(&back), bits(&a));
        }
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
        version in 1..=2u8,
    ) {
        let mut bytes = b"FXPO".to_vec();
        bytes.push(version);
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
        with_critic in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let a = random_actor::<2, 3, 1>(PolicyKind::Gaussian, seed);
        let good = if with_critic {
            encode_vec_critic(&a, &random_critic::<2, 3>(seed))
        } else {
            encode_vec(&a)
        };
        let mut bytes = good.clone();
        apply(&mut bytes, &edits);
        if fix && bytes.len() >= 4 {
            fix_crc(&mut bytes);
        }
        decode_everything(&bytes);
        accepted_is_canonical(&bytes)?;
        // Without the fix-up, any change is caught.
        if !fix && bytes != good {
            prop_assert!(file::decode::<2, 3, 1>(&bytes).is_err());
            prop_assert!(file::decode_critic::<2, 3>(&bytes).is_err());
        }
    }

    #[test]
    fn decode_critic_into_is_all_or_nothing(
        edits in prop::collection::vec(edit_strategy(), 1..4),
        seed in any::<u64>(),
    ) {
        let a = random_actor::<2, 3, 1>(PolicyKind::Gaussian, seed);
        let mut bytes = encode_vec_critic(&a, &random_critic::<2, 3>(seed));
        apply(&mut bytes, &edits);
        if bytes.len() >= 4 {
            fix_crc(&mut bytes);
        }
        let mut out = random_critic::<2, 3>(!seed);
        let before = critic_bits(&out);
        match file::decode_critic_into(&bytes, &mut out) {
            Ok(true) => {
                let a = file::decode::<2, 3, 1>(&bytes).unwrap();
                prop_assert_eq!(encode_vec_critic(&a, &out), bytes);
            }
            Ok(false) | Err(_) => prop_assert_eq!(critic_bits(&out), before),
        }
        let _ = Critic::<2, 3>::ZERO;
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
