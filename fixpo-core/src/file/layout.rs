//! The layout of a file as lengths (what [`max_encoded_len`] and
//! [`encoded_len`] compute, for both versions), the kind byte, the fixed
//! header's fields, and the rule every value must satisfy, shared by the
//! writer and the reader.
//!
//! [`max_encoded_len`]: super::max_encoded_len
//! [`encoded_len`]: super::encoded_len

use serde::Serialize;

use super::{CRC_LEN, FileError, Result};
use crate::dist::PolicyKind;

/// The CRC-32 of [`super::checksum`].
pub(super) static CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Kind byte values.
const KIND_GAUSSIAN: u8 = 0;
const KIND_CATEGORICAL: u8 = 1;

pub(super) fn kind_byte(kind: PolicyKind) -> u8 {
    match kind {
        PolicyKind::Gaussian => KIND_GAUSSIAN,
        PolicyKind::Categorical => KIND_CATEGORICAL,
    }
}

pub(super) fn kind_from_byte(b: u8) -> Option<PolicyKind> {
    match b {
        KIND_GAUSSIAN => Some(PolicyKind::Gaussian),
        KIND_CATEGORICAL => Some(PolicyKind::Categorical),
        _ => None,
    }
}

/// The start of every body: what a reader of any version checks first.
#[derive(Serialize)]
pub(super) struct Preamble {
    pub(super) magic: [u8; 4],
    pub(super) version: u16,
}

/// The rest of the fixed header (both versions): fields 3–7.
#[derive(Serialize)]
pub(super) struct Shape {
    pub(super) kind: u8,
    pub(super) obs: u16,
    pub(super) hid: u16,
    pub(super) act: u16,
    pub(super) obs_clip: f32,
}

/// Bytes of a postcard varint holding `v`.
pub(super) const fn varint_len(mut v: usize) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

/// `Policy::<obs, hid, act>::PARAMS`, or `None` on overflow.
pub(super) const fn param_count(obs: usize, hid: usize, act: usize) -> Option<usize> {
    // obs·hid + hid + hid·hid + hid + hid·act + act (network) + act (log-std)
    let Some(w1) = obs.checked_mul(hid) else {
        return None;
    };
    let Some(w2) = hid.checked_mul(hid) else {
        return None;
    };
    let Some(w3) = hid.checked_mul(act) else {
        return None;
    };
    let mut n = w1;
    let parts = [hid, w2, hid, w3, act, act];
    let mut i = 0;
    while i < parts.len() {
        n = match n.checked_add(parts[i]) {
            Some(v) => v,
            None => return None,
        };
        i += 1;
    }
    Some(n)
}

/// `Value::<obs, hid>::PARAMS` (the network `obs → hid×hid → 1`), or
/// `None` on overflow.
pub(super) const fn value_param_count(obs: usize, hid: usize) -> Option<usize> {
    // The policy count for one action, less its one log-std.
    match param_count(obs, hid, 1) {
        Some(n) => Some(n - 1),
        None => None,
    }
}

/// Bytes of the critic section after its tag (fields 16–20 of version 2),
/// or `None` on overflow.
pub(super) const fn critic_len(obs: usize, hid: usize) -> Option<usize> {
    let Some(params) = value_param_count(obs, hid) else {
        return None;
    };
    let Some(bytes) = params.checked_mul(4) else {
        return None;
    };
    // return mean, var (f32), count (f64), parameter count, parameters
    bytes.checked_add(4 + 4 + 8 + varint_len(params))
}

/// Exact file length (body and checksum) of a file of `version` (1 or 2;
/// `critic` only counts for version 2), or `None` on overflow.
pub(super) const fn file_len(
    version: u16,
    obs: usize,
    hid: usize,
    act: usize,
    critic: bool,
) -> Option<usize> {
    let Some(n) = v1_len(obs, hid, act) else {
        return None;
    };
    if version < 2 {
        return Some(n);
    }
    // Version 2: the critic tag, then the section if there is one.
    if !critic {
        return n.checked_add(1);
    }
    let Some(c) = critic_len(obs, hid) else {
        return None;
    };
    match n.checked_add(1) {
        Some(n) => n.checked_add(c),
        None => None,
    }
}

/// Offset of version 2's critic tag (field 15): right after the
/// parameters, where a version-1 file has its checksum.
pub(super) const fn critic_tag_at(obs: usize, hid: usize, act: usize) -> Option<usize> {
    match v1_len(obs, hid, act) {
        Some(n) => Some(n - CRC_LEN),
        None => None,
    }
}

/// Length of a version-1 file (fields 1–14 and the checksum; the version
/// varint is one byte in both versions).
const fn v1_len(obs: usize, hid: usize, act: usize) -> Option<usize> {
    let Some(params) = param_count(obs, hid, act) else {
        return None;
    };
    let Some(param_bytes) = params.checked_mul(4) else {
        return None;
    };
    let Some(obs_bytes) = obs.checked_mul(8) else {
        return None;
    };
    let Some(act_bytes) = act.checked_mul(8) else {
        return None;
    };
    let fixed = 4 // magic
        + 1 // version (1 or 2: one varint byte)
        + 1 // kind
        + varint_len(obs)
        + varint_len(hid)
        + varint_len(act)
        + 4 // obs_clip
        + 2 * varint_len(obs) // mean and var sequence lengths
        + 8 // obs count
        + 2 * varint_len(act) // low and high sequence lengths
        + varint_len(params)
        + CRC_LEN;
    let parts = [obs_bytes, act_bytes, param_bytes];
    let mut n = fixed;
    let mut i = 0;
    while i < parts.len() {
        n = match n.checked_add(parts[i]) {
            Some(v) => v,
            None => return None,
        };
        i += 1;
    }
    Some(n)
}

/// What a number in the file must satisfy.
#[derive(Clone, Copy)]
pub(super) enum Rule {
    /// Finite.
    Finite,
    /// Finite and ≥ 0 (variances).
    NonNegative,
    /// Finite and > 0 (the observation clip).
    Positive,
}

impl Rule {
    pub(super) fn check(self, x: f32) -> Result<()> {
        if !x.is_finite() {
            return Err(FileError::NonFiniteValue);
        }
        let ok = match self {
            Rule::Finite => true,
            Rule::NonNegative => x >= 0.0,
            Rule::Positive => x > 0.0,
        };
        if ok {
            Ok(())
        } else {
            Err(FileError::InvalidValue)
        }
    }

    pub(super) fn check_all(self, xs: &[f32]) -> Result<()> {
        xs.iter().try_for_each(|&x| self.check(x))
    }
}

pub(super) fn check_count(c: f64) -> Result<()> {
    if !c.is_finite() {
        Err(FileError::NonFiniteValue)
    } else if c < 0.0 {
        Err(FileError::InvalidValue)
    } else {
        Ok(())
    }
}

pub(super) fn check_bounds(low: f32, high: f32) -> Result<()> {
    Rule::Finite.check(low)?;
    Rule::Finite.check(high)?;
    // `f32::clamp` in the control loop panics unless low ≤ high.
    if low <= high {
        Ok(())
    } else {
        Err(FileError::InvalidValue)
    }
}

/// Keeps the first value error seen.
pub(super) fn note(first: &mut Result<()>, verdict: Result<()>) {
    if first.is_ok() {
        *first = verdict;
    }
}
