//! The policy file: one [`Actor`], and optionally the value function it
//! was trained with, as bytes that load the same on the host and on the
//! device.
//!
//! A file is a [postcard]-encoded body followed by the CRC-32
//! (`CRC_32_ISO_HDLC`, the zlib/PNG one) of the body as 4 little-endian
//! bytes. The body holds, in order: [`MAGIC`], the version, the policy kind,
//! `OBS`, `HID`, `ACT`, the observation clip, the observation mean, variance
//! and count, the action bounds, the parameter count and the parameters in
//! [`Params`] slice order; version 2 ([`VERSION`]) then holds an optional
//! critic section ([`Critic`]: the value network `OBS → HID×HID → 1` and the
//! statistics of the discounted return its targets were scaled by), so a
//! device can go on training with the host's critic. Version-1 files (no
//! critic section) still load. `docs/file-format.md` describes both byte
//! by byte.
//!
//! Writing goes into a buffer the caller provides, sized by
//! [`max_encoded_len`] (or exactly [`encoded_len`]); reading checks
//! everything once, here, so that the control loop running the decoded
//! [`Actor`] cannot fail. No input makes these functions panic.
//!
//! The code is in five files: this one (constants, [`FileError`],
//! [`Header`], [`Critic`]); `layout.rs` (the lengths and the rule every
//! value must satisfy, shared by both directions); `write.rs` ([`encode`],
//! [`encode_with_critic`], through postcard's serializer); `read.rs`
//! ([`decode_into`], [`decode`], [`decode_parts`], [`decode_critic`],
//! [`decode_critic_into`], [`read_header`], [`read_dyn`],
//! [`read_dyn_critic`]), a fixed-layout reader that decodes the fields in
//! file order straight from the bytes (`reader.rs`), accepting for each
//! field exactly the encodings postcard's deserializer accepts, with no
//! serde, no allocation and no temporary copy.
//!
//! # Checks, in order
//! The first failing check decides the error.
//!
//! 1. at least [`MIN_LEN`] bytes, else [`FileError::Truncated`];
//! 2. magic, else [`FileError::BadMagic`];
//! 3. version ([`OLDEST_VERSION`] to [`VERSION`]), else
//!    [`FileError::UnsupportedVersion`] (before the checksum, so a file from
//!    a newer writer is named as such);
//! 4. checksum, else [`FileError::Truncated`] when the file is shorter than
//!    its header (and, in version 2, its critic tag) says, or
//!    [`FileError::ChecksumMismatch`];
//! 5. kind, else [`FileError::BadKind`];
//! 6. dimensions (non-zero; the expected ones for [`decode_into`], the slice
//!    lengths for [`read_dyn`]), else [`FileError::DimensionMismatch`];
//! 7. the parameter count fits a `u32`, the file has exactly one of the
//!    lengths its version and dimensions allow, every sequence has its
//!    stated length, the parameter count fields are right, the critic tag
//!    is 0 or 1 and agrees with the length, and nothing trails:
//!    [`FileError::ParamCountMismatch`] or [`FileError::Malformed`];
//! 8. values, in file order: [`FileError::NonFiniteValue`] or
//!    [`FileError::InvalidValue`].
//!
//! Every accepted version-2 file is canonical: encoding what it decodes to
//! gives the same bytes back. A version-1 file re-encodes as the version-2
//! file of the same actor (without a critic).
//!
//! # Example
//! ```
//! use fixpo_core::file::{self, Critic};
//! use fixpo_core::{Actor, PolicyKind};
//!
//! let actor = Actor::<3, 8, 1>::zero(PolicyKind::Gaussian);
//! let mut critic = Critic::<3, 8>::ZERO;
//! critic.ret.var = [4.0]; // σ_R = 2
//! let mut buf = [0u8; file::max_encoded_len(3, 8, 1)];
//! let n = file::encode_with_critic(&actor, Some(&critic), &mut buf)?;
//!
//! let header = file::read_header(&buf[..n])?;
//! assert_eq!((header.obs, header.hid, header.act), (3, 8, 1));
//! assert_eq!(header.critic.map(|c| c.ret_var), Some(4.0));
//!
//! let back: Actor<3, 8, 1> = file::decode(&buf[..n])?;
//! assert_eq!(back, actor);
//! assert_eq!(file::decode_critic::<3, 8>(&buf[..n])?, Some(critic));
//! # Ok::<(), file::FileError>(())
//! ```
//!
//! [postcard]: https://docs.rs/postcard
//! [`Actor`]: crate::Actor
//! [`Params`]: crate::params::Params

use core::fmt;

use crate::dist::PolicyKind;
use crate::norm::RunningMeanStd;
use crate::policy::Value;

mod layout;
mod read;
mod reader;
mod write;

pub use read::{
    decode, decode_critic, decode_critic_into, decode_into, decode_parts, read_dyn,
    read_dyn_critic, read_header,
};
pub use write::{encode, encode_parts, encode_with_critic};

/// The first four bytes of every policy file.
pub const MAGIC: [u8; 4] = *b"FXPO";

/// The format version this build writes (it reads every version from
/// [`OLDEST_VERSION`] to this one).
pub const VERSION: u16 = 2;

/// The oldest format version this build reads: version 1, the policy
/// without a critic section.
pub const OLDEST_VERSION: u16 = 1;

/// Length of the trailing checksum, in bytes.
pub const CRC_LEN: usize = 4;

/// The shortest possible policy file (a version-1 file of a 1→1×1→1
/// policy); anything shorter is [`FileError::Truncated`].
pub const MIN_LEN: usize = match layout::file_len(OLDEST_VERSION, 1, 1, 1, false) {
    Some(n) => n,
    None => usize::MAX,
};

/// Result of the file functions.
pub type Result<T> = core::result::Result<T, FileError>;

/// Why a policy file could not be read or written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FileError {
    /// The file ends before its header or payload does.
    Truncated,
    /// The file does not start with [`MAGIC`]: it is not a policy file.
    BadMagic,
    /// The file has a format version this build cannot read (below
    /// [`OLDEST_VERSION`] or above [`VERSION`]).
    UnsupportedVersion {
        /// The version in the file.
        found: u16,
    },
    /// The policy kind byte names no known [`PolicyKind`].
    BadKind {
        /// The kind byte in the file.
        found: u8,
    },
    /// The file's dimensions differ from the ones expected (or the caller's
    /// slices for [`read_dyn`] have other lengths), or one of them is zero.
    DimensionMismatch {
        /// Observation dimension in the file.
        obs: u16,
        /// Hidden layer width in the file.
        hid: u16,
        /// Action dimension in the file.
        act: u16,
    },
    /// A parameter count in the file (the policy's, or the critic's value
    /// network's) does not match its dimensions.
    ParamCountMismatch,
    /// The checksum over the body does not match the one stored.
    ChecksumMismatch {
        /// The checksum stored at the end of the file.
        expected: u32,
        /// The checksum computed over the body as read.
        found: u32,
    },
    /// A weight, statistic, bound or the clip (or a number of the critic
    /// section) is NaN or infinite.
    NonFiniteValue,
    /// A value is out of its range: a negative variance or count (of the
    /// observations or of the critic's returns), a lower action bound above
    /// the upper one, or an observation clip ≤ 0.
    InvalidValue,
    /// The body is not a well-formed encoding (bad varint, wrong sequence
    /// length, a critic tag other than 0 or 1 or at odds with the length,
    /// non-canonical encoding, trailing bytes).
    Malformed,
    /// The output buffer is shorter than [`max_encoded_len`].
    BufferTooSmall,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated => f.write_str("policy file is truncated"),
            Self::BadMagic => f.write_str("not a fixpo policy file (bad magic)"),
            Self::UnsupportedVersion { found } => write!(
                f,
                "unsupported policy file version {found} (this build reads versions {OLDEST_VERSION} to {VERSION})"
            ),
            Self::BadKind { found } => write!(f, "unknown policy kind {found} in policy file"),
            Self::DimensionMismatch { obs, hid, act } => write!(
                f,
                "policy file has dimensions {obs}→{hid}×{hid}→{act}, not the expected ones"
            ),
            Self::ParamCountMismatch => {
                f.write_str("policy file parameter count does not match its dimensions")
            }
            Self::ChecksumMismatch { expected, found } => write!(
                f,
                "policy file checksum mismatch (stored {expected:#010x}, computed {found:#010x})"
            ),
            Self::NonFiniteValue => f.write_str("policy file holds a NaN or infinite value"),
            Self::InvalidValue => f.write_str(
                "policy file holds an out-of-range value (negative variance or count, \
                 low bound above high bound, or clip <= 0)",
            ),
            Self::Malformed => f.write_str("policy file is malformed"),
            Self::BufferTooSmall => f.write_str("buffer too small for the policy file"),
        }
    }
}

impl core::error::Error for FileError {}

/// What a policy file says about itself, as read by [`read_header`] and
/// [`read_dyn`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// Format version ([`OLDEST_VERSION`] to [`VERSION`]).
    pub version: u16,
    /// Distribution family.
    pub kind: PolicyKind,
    /// Observation dimension.
    pub obs: u16,
    /// Hidden layer width.
    pub hid: u16,
    /// Action dimension.
    pub act: u16,
    /// Number of parameters (network and log-std).
    pub param_count: u32,
    /// The CRC-32 stored at the end of the file.
    pub crc: u32,
    /// Length of the body (the file without its checksum), in bytes.
    pub body_len: usize,
    /// Clip applied to normalised observations.
    pub obs_clip: f32,
    /// Number of samples behind the observation statistics.
    pub obs_count: f64,
    /// The critic section, if the file has one (version 2 only).
    pub critic: Option<CriticInfo>,
}

/// What a file's critic section says about itself (see [`Critic`]).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CriticInfo {
    /// Number of value-network parameters,
    /// `Value::<OBS, HID>::PARAMS = O·H + H + H·H + H + H + 1`.
    pub param_count: u32,
    /// Mean of the discounted return.
    pub ret_mean: f32,
    /// Variance of the discounted return (the value targets were divided
    /// by σ_R = √(var + 1e-8)).
    pub ret_var: f32,
    /// Number of samples behind the return statistics.
    pub ret_count: f64,
}

impl CriticInfo {
    /// σ_R = √(var + 1e-8), the return scale, as
    /// [`RewardScaler::sigma`](crate::norm::RewardScaler::sigma) computes it.
    pub fn sigma(&self) -> f32 {
        libm::sqrtf(self.ret_var + 1e-8)
    }
}

/// The critic a version-2 file may carry: the value function the policy
/// was trained with and the statistics of the discounted return that
/// scaled its targets (the reward normaliser's state,
/// [`RewardScaler`](crate::norm::RewardScaler)). A device that fine-tunes
/// the policy starts from it instead of a fresh value network. `V` reads
/// observations through the actor's normalisation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Critic<const O: usize, const H: usize> {
    /// The value network `O → H×H → 1`.
    pub value: Value<O, H>,
    /// Statistics of the discounted return (mean, variance, count).
    pub ret: RunningMeanStd<1>,
}

impl<const O: usize, const H: usize> Critic<O, H> {
    /// A zero network with empty return statistics.
    pub const ZERO: Self = Self {
        value: Value::ZERO,
        ret: RunningMeanStd {
            mean: [0.0],
            var: [0.0],
            count: 0.0,
        },
    };
}

/// The length of the longest policy file ([`VERSION`], with a critic) for
/// a policy `obs → hid×hid → act`, in bytes; `usize::MAX` when it would not
/// fit a `usize`. Use it to size the buffer for [`encode`] and
/// [`encode_with_critic`], or a buffer that must hold any file of this
/// shape:
///
/// ```
/// // 3 → 32×32 → 1 (Pendulum) and 17 → 64×64 → 6 (HalfCheetah).
/// assert_eq!(fixpo_core::file::max_encoded_len(3, 32, 1), 9822);
/// assert_eq!(fixpo_core::file::max_encoded_len(17, 64, 6), 44574);
/// ```
pub const fn max_encoded_len(obs: usize, hid: usize, act: usize) -> usize {
    encoded_len(obs, hid, act, true)
}

/// The exact length of the file [`encode_with_critic`] writes for a policy
/// `obs → hid×hid → act`, with or without a critic; `usize::MAX` when it
/// would not fit a `usize`.
///
/// ```
/// assert_eq!(fixpo_core::file::encoded_len(3, 32, 1, false), 4936);
/// ```
pub const fn encoded_len(obs: usize, hid: usize, act: usize, critic: bool) -> usize {
    match layout::file_len(VERSION, obs, hid, act, critic) {
        Some(n) => n,
        None => usize::MAX,
    }
}

/// The CRC-32 (`CRC_32_ISO_HDLC`) of a file body, as stored in its last
/// [`CRC_LEN`] bytes (little-endian).
pub fn checksum(body: &[u8]) -> u32 {
    layout::CRC32.checksum(body)
}

#[cfg(test)]
mod tests {
    use super::layout::{file_len, param_count, value_param_count, varint_len};
    use super::*;

    #[test]
    fn lengths_match_hand_count() {
        // 3→32×32→1: 1218 parameters; header 13, mean/var 2·13, count 8,
        // bounds 2·5, param count 2, params 4872, crc 4.
        assert_eq!(param_count(3, 32, 1), Some(1218));
        let v1 = 13 + 26 + 8 + 10 + 2 + 4872 + 4;
        assert_eq!(file_len(1, 3, 32, 1, false), Some(v1));
        // Version 2: the critic tag; with a critic, the return mean, var and
        // count (4 + 4 + 8), the value's parameter count (1217, 2 bytes)
        // and its parameters.
        assert_eq!(value_param_count(3, 32), Some(1217));
        assert_eq!(encoded_len(3, 32, 1, false), v1 + 1);
        assert_eq!(max_encoded_len(3, 32, 1), v1 + 1 + 16 + 2 + 4 * 1217);
        assert_eq!(MIN_LEN, 13 + 10 + 8 + 10 + 1 + 28 + 4);
        assert_eq!(max_encoded_len(usize::MAX, 2, 2), usize::MAX);
        assert_eq!(encoded_len(2, usize::MAX, 2, false), usize::MAX);
        // 17→64×64→6: 5708 parameters, the value 5377.
        assert_eq!(
            encoded_len(17, 64, 6, false),
            13 + 138 + 8 + 50 + 2 + 4 * 5708 + 4 + 1
        );
        assert_eq!(
            value_param_count(17, 64),
            Some(17 * 64 + 64 + 64 * 64 + 64 + 64 + 1)
        );
        assert_eq!(
            max_encoded_len(17, 64, 6),
            encoded_len(17, 64, 6, false) + 16 + 2 + 4 * 5377
        );
    }

    #[test]
    fn varint_lengths() {
        assert_eq!(varint_len(0), 1);
        assert_eq!(varint_len(127), 1);
        assert_eq!(varint_len(128), 2);
        assert_eq!(varint_len(16383), 2);
        assert_eq!(varint_len(16384), 3);
    }

    #[test]
    fn error_display_is_one_line() {
        let all = [
            FileError::Truncated,
            FileError::BadMagic,
            FileError::UnsupportedVersion { found: 7 },
            FileError::BadKind { found: 9 },
            FileError::DimensionMismatch {
                obs: 1,
                hid: 2,
                act: 3,
            },
            FileError::ParamCountMismatch,
            FileError::ChecksumMismatch {
                expected: 1,
                found: 2,
            },
            FileError::NonFiniteValue,
            FileError::InvalidValue,
            FileError::Malformed,
            FileError::BufferTooSmall,
        ];
        for e in all {
            let s = std::format!("{e}");
            assert!(!s.is_empty() && !s.contains('\n'), "{s}");
        }
    }
}
