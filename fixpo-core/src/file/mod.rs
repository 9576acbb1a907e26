//! The policy file: one [`Actor`] as bytes that load the same on the host and
//! on the device.
//!
//! A file is a [postcard]-encoded body followed by the CRC-32
//! (`CRC_32_ISO_HDLC`, the zlib/PNG one) of the body as 4 little-endian
//! bytes. The body holds, in order: [`MAGIC`], [`VERSION`], the policy kind,
//! `OBS`, `HID`, `ACT`, the observation clip, the observation mean, variance
//! and count, the action bounds, the parameter count and the parameters in
//! [`Params`] slice order. `docs/file-format.md` describes it byte by byte.
//!
//! Writing goes into a buffer the caller provides, sized by
//! [`max_encoded_len`]; reading checks everything once, here, so that the
//! control loop running the decoded [`Actor`] cannot fail. No input makes
//! these functions panic.
//!
//! The code is in four files: this one (constants, [`FileError`],
//! [`Header`]); `layout.rs` (the lengths and the rule every value must
//! satisfy, shared by both directions); `write.rs` ([`encode`], through
//! postcard's serializer); `read.rs` ([`decode_into`], [`decode`],
//! [`read_header`], [`read_dyn`]), a fixed-layout reader that decodes the
//! fields in file order straight from the bytes, accepting for each field
//! exactly the encodings postcard's deserializer accepts, with no serde,
//! no allocation and no temporary copy.
//!
//! # Checks, in order
//! The first failing check decides the error.
//!
//! 1. at least [`MIN_LEN`] bytes, else [`FileError::Truncated`];
//! 2. magic, else [`FileError::BadMagic`];
//! 3. version, else [`FileError::UnsupportedVersion`] (before the checksum,
//!    so a file from a newer writer is named as such);
//! 4. checksum, else [`FileError::Truncated`] when the file is shorter than
//!    its header says, or [`FileError::ChecksumMismatch`];
//! 5. kind, else [`FileError::BadKind`];
//! 6. dimensions (non-zero; the expected ones for [`decode_into`], the slice
//!    lengths for [`read_dyn`]), else [`FileError::DimensionMismatch`];
//! 7. the parameter count fits a `u32`, the file has exactly the length its
//!    dimensions give, every sequence has its stated length, the parameter
//!    count field is right and nothing trails: [`FileError::ParamCountMismatch`]
//!    or [`FileError::Malformed`];
//! 8. values, in file order: [`FileError::NonFiniteValue`] or
//!    [`FileError::InvalidValue`].
//!
//! Every accepted file is canonical: encoding what it decodes to gives the
//! same bytes back.
//!
//! # Example
//! ```
//! use fixpo_core::{file, Actor, PolicyKind};
//!
//! let actor = Actor::<3, 8, 1>::zero(PolicyKind::Gaussian);
//! let mut buf = [0u8; file::max_encoded_len(3, 8, 1)];
//! let n = file::encode(&actor, &mut buf)?;
//!
//! let header = file::read_header(&buf[..n])?;
//! assert_eq!((header.obs, header.hid, header.act), (3, 8, 1));
//!
//! let back: Actor<3, 8, 1> = file::decode(&buf[..n])?;
//! assert_eq!(back, actor);
//! # Ok::<(), file::FileError>(())
//! ```
//!
//! [postcard]: https://docs.rs/postcard
//! [`Actor`]: crate::Actor
//! [`Params`]: crate::params::Params

use core::fmt;

use crate::dist::PolicyKind;

mod layout;
mod read;
mod write;

pub use read::{decode, decode_into, read_dyn, read_header};
pub use write::encode;

/// The first four bytes of every policy file.
pub const MAGIC: [u8; 4] = *b"FXPO";

/// The format version this build writes and reads.
pub const VERSION: u16 = 1;

/// Length of the trailing checksum, in bytes.
pub const CRC_LEN: usize = 4;

/// The shortest possible policy file (a 1→1×1→1 policy); anything shorter
/// is [`FileError::Truncated`].
pub const MIN_LEN: usize = max_encoded_len(1, 1, 1);

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
    /// The file has a format version this build cannot read.
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
    /// The parameter count in the file does not match its dimensions.
    ParamCountMismatch,
    /// The checksum over the body does not match the one stored.
    ChecksumMismatch {
        /// The checksum stored at the end of the file.
        expected: u32,
        /// The checksum computed over the body as read.
        found: u32,
    },
    /// A weight, statistic, bound or the clip is NaN or infinite.
    NonFiniteValue,
    /// A value is out of its range: a negative variance or count, a lower
    /// action bound above the upper one, or an observation clip ≤ 0.
    InvalidValue,
    /// The body is not a well-formed encoding (bad varint, wrong sequence
    /// length, non-canonical encoding, trailing bytes).
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
                "unsupported policy file version {found} (this build reads version {VERSION})"
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
    /// Format version (always [`VERSION`] for a file this build accepts).
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
}

/// The length of the policy file for a policy `obs → hid×hid → act`, in
/// bytes; `usize::MAX` when it would not fit a `usize`.
///
/// For this format version the length is exact: every file with these
/// dimensions has it. Use it to size the buffer for [`encode`]:
///
/// ```
/// // 3 → 32×32 → 1 (Pendulum) and 17 → 64×64 → 6 (HalfCheetah).
/// assert_eq!(fixpo_core::file::max_encoded_len(3, 32, 1), 4935);
/// assert_eq!(fixpo_core::file::max_encoded_len(17, 64, 6), 23047);
/// ```
pub const fn max_encoded_len(obs: usize, hid: usize, act: usize) -> usize {
    match layout::file_len(obs, hid, act) {
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
    use super::layout::{param_count, varint_len};
    use super::*;

    #[test]
    fn lengths_match_hand_count() {
        // 3→32×32→1: 1218 parameters; header 13, mean/var 2·13, count 8,
        // bounds 2·5, param count 2, params 4872, crc 4.
        assert_eq!(param_count(3, 32, 1), Some(1218));
        assert_eq!(max_encoded_len(3, 32, 1), 13 + 26 + 8 + 10 + 2 + 4872 + 4);
        assert_eq!(MIN_LEN, 13 + 10 + 8 + 10 + 1 + 28 + 4);
        assert_eq!(max_encoded_len(usize::MAX, 2, 2), usize::MAX);
        // 17→64×64→6: 5708 parameters.
        assert_eq!(
            max_encoded_len(17, 64, 6),
            13 + 138 + 8 + 50 + 2 + 4 * 5708 + 4
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
