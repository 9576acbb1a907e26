//! Writing a policy file ([`encode`], [`encode_with_critic`],
//! [`encode_parts`]): the body
//! through postcard's serializer, then its CRC-32. Always the current
//! [`VERSION`].

use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Serialize, Serializer};

use super::layout::{
    Preamble, Rule, Shape, check_bounds, check_count, kind_byte, param_count, value_param_count,
};
use super::{CRC_LEN, Critic, FileError, MAGIC, Result, VERSION, checksum, encoded_len};
use crate::actor::Actor;
use crate::norm::{ObsNorm, RunningMeanStd};
use crate::params::Params;
use crate::policy::{Policy, Value};

/// Writes `actor` as a policy file without a critic into `buf`; returns
/// the number of bytes written, [`encoded_len`]`(O, H, A, false)`. See
/// [`encode_with_critic`].
///
/// # Errors
/// As [`encode_with_critic`].
pub fn encode<const O: usize, const H: usize, const A: usize>(
    actor: &Actor<O, H, A>,
    buf: &mut [u8],
) -> Result<usize> {
    encode_with_critic(actor, None, buf)
}

/// Writes `actor` and, if given, `critic` (the value function and return
/// statistics a device can go on training with) as a policy file into
/// `buf`; returns the number of bytes written,
/// [`encoded_len`]`(O, H, A, critic.is_some())`.
///
/// # Errors
/// - [`FileError::BufferTooSmall`] when `buf` is shorter than that;
/// - [`FileError::NonFiniteValue`] or [`FileError::InvalidValue`] when the
///   actor or the critic holds a value [`decode`](super::decode) would
///   refuse, so a file that was written always loads. `buf` may then have
///   been partly written.
///
/// Dimensions of zero, above `u16::MAX`, or with more than `u32::MAX`
/// parameters are refused at compile time.
pub fn encode_with_critic<const O: usize, const H: usize, const A: usize>(
    actor: &Actor<O, H, A>,
    critic: Option<&Critic<O, H>>,
    buf: &mut [u8],
) -> Result<usize> {
    let norm = ObsNorm {
        stats: actor.obs_norm,
        clip: actor.obs_clip,
    };
    encode_parts(
        &actor.policy,
        &norm,
        &actor.action_low,
        &actor.action_high,
        critic.map(|c| (&c.value, &c.ret)),
        buf,
    )
}

/// [`encode_with_critic`] from the parts of an actor and a critic, where
/// they live (the mirror of [`decode_parts`](super::decode_parts)): a
/// device writes its trainer's policy and value network without an
/// `Actor` or `Critic` copy on its stack.
///
/// # Errors
/// As [`encode_with_critic`].
pub fn encode_parts<const O: usize, const H: usize, const A: usize>(
    policy: &Policy<O, H, A>,
    norm: &ObsNorm<O>,
    low: &[f32; A],
    high: &[f32; A],
    critic: Option<(&Value<O, H>, &RunningMeanStd<1>)>,
    buf: &mut [u8],
) -> Result<usize> {
    const {
        assert!(O >= 1 && O <= u16::MAX as usize, "OBS must be in 1..=65535");
        assert!(H >= 1 && H <= u16::MAX as usize, "HID must be in 1..=65535");
        assert!(A >= 1 && A <= u16::MAX as usize, "ACT must be in 1..=65535");
        assert!(
            matches!(param_count(O, H, A), Some(n) if n == Policy::<O, H, A>::PARAMS),
            "the file's parameter count must equal Policy::PARAMS"
        );
        assert!(Policy::<O, H, A>::PARAMS <= u32::MAX as usize);
        assert!(
            matches!(value_param_count(O, H), Some(n) if n == Value::<O, H>::PARAMS),
            "the file's value parameter count must equal Value::PARAMS"
        );
    }
    let parts = Parts {
        policy,
        norm,
        low,
        high,
    };
    check_actor(&parts)?;
    if let Some(c) = critic {
        check_critic(c)?;
    }
    let len = encoded_len(O, H, A, critic.is_some());
    if buf.len() < len {
        return Err(FileError::BufferTooSmall);
    }
    let (body, crc) = buf[..len].split_at_mut(len - CRC_LEN);
    let mut ser = postcard::Serializer {
        output: postcard::ser_flavors::Slice::new(body),
    };
    write_body(&parts, critic, &mut ser).map_err(|_| FileError::BufferTooSmall)?;
    let written = postcard::ser_flavors::Flavor::finalize(ser.output)
        .map_err(|_| FileError::Malformed)?
        .len();
    if written != len - CRC_LEN {
        // Unreachable while `file_len` matches the encoding below.
        return Err(FileError::Malformed);
    }
    crc.copy_from_slice(&checksum(body).to_le_bytes());
    Ok(len)
}

/// What a file holds of an actor, by reference.
struct Parts<'a, const O: usize, const H: usize, const A: usize> {
    policy: &'a Policy<O, H, A>,
    norm: &'a ObsNorm<O>,
    low: &'a [f32; A],
    high: &'a [f32; A],
}

/// The critic's parts: the value network and the return statistics.
type CriticParts<'a, const O: usize, const H: usize> = (&'a Value<O, H>, &'a RunningMeanStd<1>);

/// The value checks of the reader, in the same order, on an actor about to
/// be written.
fn check_actor<const O: usize, const H: usize, const A: usize>(a: &Parts<O, H, A>) -> Result<()> {
    Rule::Positive.check(a.norm.clip)?;
    Rule::Finite.check_all(&a.norm.stats.mean)?;
    Rule::NonNegative.check_all(&a.norm.stats.var)?;
    check_count(a.norm.stats.count)?;
    Rule::Finite.check_all(a.low)?;
    Rule::Finite.check_all(a.high)?;
    for (&l, &h) in a.low.iter().zip(a.high) {
        check_bounds(l, h)?;
    }
    (0..Policy::<O, H, A>::SLICES).try_for_each(|k| Rule::Finite.check_all(a.policy.slice(k)))
}

/// The reader's checks of the critic section, in the same order.
fn check_critic<const O: usize, const H: usize>((value, ret): CriticParts<O, H>) -> Result<()> {
    Rule::Finite.check_all(&ret.mean)?;
    Rule::NonNegative.check_all(&ret.var)?;
    check_count(ret.count)?;
    (0..Value::<O, H>::SLICES).try_for_each(|k| Rule::Finite.check_all(value.slice(k)))
}

/// A slice of `f32` written as a postcard sequence (length, then elements).
struct SeqOut<'a>(&'a [f32]);

impl Serialize for SeqOut<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for x in self.0 {
            seq.serialize_element(x)?;
        }
        seq.end()
    }
}

/// All parameters, in slice order, as one postcard tuple (no length).
struct ParamsOut<'a, P>(&'a P);

impl<P: Params> Serialize for ParamsOut<'_, P> {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        let mut t = s.serialize_tuple(P::LEN)?;
        for k in 0..P::SLICES {
            for x in self.0.slice(k) {
                t.serialize_element(x)?;
            }
        }
        t.end()
    }
}

/// The critic section (fields 16–20), the value of postcard's `Option`.
struct CriticOut<'a, const O: usize, const H: usize>(CriticParts<'a, O, H>);

impl<const O: usize, const H: usize> Serialize for CriticOut<'_, O, H> {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        let (value, ret) = self.0;
        let mut t = s.serialize_tuple(5)?;
        t.serialize_element(&ret.mean[0])?;
        t.serialize_element(&ret.var[0])?;
        t.serialize_element(&ret.count)?;
        t.serialize_element(&u32::try_from(Value::<O, H>::PARAMS).unwrap_or(u32::MAX))?;
        t.serialize_element(&ParamsOut(value))?;
        t.end()
    }
}

fn write_body<const O: usize, const H: usize, const A: usize, F: postcard::ser_flavors::Flavor>(
    a: &Parts<O, H, A>,
    critic: Option<CriticParts<O, H>>,
    ser: &mut postcard::Serializer<F>,
) -> postcard::Result<()> {
    // Dimensions fit a u16 (checked at compile time in `encode`).
    let dim = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
    Preamble {
        magic: MAGIC,
        version: VERSION,
    }
    .serialize(&mut *ser)?;
    Shape {
        kind: kind_byte(a.policy.kind),
        obs: dim(O),
        hid: dim(H),
        act: dim(A),
        obs_clip: a.norm.clip,
    }
    .serialize(&mut *ser)?;
    SeqOut(&a.norm.stats.mean).serialize(&mut *ser)?;
    SeqOut(&a.norm.stats.var).serialize(&mut *ser)?;
    a.norm.stats.count.serialize(&mut *ser)?;
    SeqOut(a.low).serialize(&mut *ser)?;
    SeqOut(a.high).serialize(&mut *ser)?;
    u32::try_from(Policy::<O, H, A>::PARAMS)
        .unwrap_or(u32::MAX)
        .serialize(&mut *ser)?;
    ParamsOut(a.policy).serialize(&mut *ser)?;
    critic.map(CriticOut).serialize(&mut *ser)
}
