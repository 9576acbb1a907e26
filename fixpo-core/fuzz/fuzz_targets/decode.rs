//! Decodes arbitrary bytes as a policy file: no input may panic, every
//! accepted version-2 file must be canonical (re-encoding what it decodes
//! to, critic section included, gives the same bytes) and an accepted
//! version-1 file must re-encode to the same actor.
//!
//! Run with `cargo +nightly fuzz run decode` from `fixpo-core/`.
#![no_main]

use fixpo_core::file;
use libfuzzer_sys::fuzz_target;

/// Decodes `bytes` as `O → H×H → A` with its critic, if any; an accepted
/// file must re-encode to itself (version 2) or to the same actor
/// (version 1).
fn check<const O: usize, const H: usize, const A: usize>(bytes: &[u8]) {
    let Ok(actor) = file::decode::<O, H, A>(bytes) else {
        return;
    };
    let critic = file::decode_critic::<O, H>(bytes).expect("decode accepted the file");
    let header = file::read_header(bytes).expect("decode accepted the file");
    assert_eq!(critic.is_some(), header.critic.is_some());
    let mut buf = vec![0u8; file::max_encoded_len(O, H, A)];
    let n = file::encode_with_critic(&actor, critic.as_ref(), &mut buf)
        .expect("an accepted file re-encodes");
    if header.version == file::VERSION {
        assert_eq!(&buf[..n], bytes, "accepted file is not canonical");
    } else {
        assert_eq!(file::decode::<O, H, A>(&buf[..n]), Ok(actor));
    }
    // The decoded controller cannot fail on any observation.
    let _ = actor.act(&[0.0; O]);
    let _ = actor.act(&[f32::NAN; O]);
}

fn decode_all(bytes: &[u8]) {
    if let Ok(h) = file::read_header(bytes) {
        let (o, a) = (usize::from(h.obs), usize::from(h.act));
        let (mut mean, mut var) = (vec![0.0; o], vec![0.0; o]);
        let (mut low, mut high) = (vec![0.0; a], vec![0.0; a]);
        let mut params = vec![0.0; h.param_count as usize];
        let got = file::read_dyn(bytes, &mut mean, &mut var, &mut low, &mut high, &mut params);
        assert_eq!(got, Ok(h), "read_header accepted what read_dyn refuses");
        let mut value = vec![0.0; h.critic.map_or(0, |c| c.param_count as usize)];
        let got = file::read_dyn_critic(bytes, &mut value);
        assert_eq!(got, Ok(h), "read_header accepted what read_dyn_critic refuses");
    }
    check::<1, 1, 1>(bytes);
    check::<2, 3, 1>(bytes);
    check::<3, 32, 1>(bytes);
    check::<4, 64, 2>(bytes);
}

fuzz_target!(|data: &[u8]| {
    decode_all(data);
    // Most random inputs stop at the checksum; also try the same bytes with
    // a correct one so the fuzzer reaches the header, the critic section
    // and the value checks.
    if data.len() >= file::CRC_LEN {
        let mut fixed = data.to_vec();
        let n = fixed.len() - file::CRC_LEN;
        let crc = file::checksum(&fixed[..n]);
        fixed[n..].copy_from_slice(&crc.to_le_bytes());
        decode_all(&fixed);
    }
});
