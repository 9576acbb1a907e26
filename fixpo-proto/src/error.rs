//! The typed error replies (docs/protocol.md, "Errors").

use serde::{Deserialize, Serialize};

use crate::frame::FrameError;
use crate::msg::Dims;

/// Why the device refused a request ([`crate::Reply::Error`]). In every
/// case the active policy is unchanged. Variant order is the wire tag:
/// append only; `Version` is frozen as tag 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request's protocol version is not the device's.
    Version {
        /// The device's version.
        device: u16,
    },
    /// The pushed policy's shape or kind is not the one the firmware was
    /// built for.
    DimensionMismatch {
        /// The firmware's shape.
        device: Dims,
    },
    /// The pushed file's CRC-32 is not the one `PushBegin` announced.
    BadCrc {
        /// Announced.
        expected: u32,
        /// Computed over the bytes received.
        computed: u32,
    },
    /// `PushCommit` before every byte arrived.
    Truncated {
        /// Bytes received.
        received: u32,
        /// Bytes announced.
        expected: u32,
    },
    /// A chunk beyond the next expected offset (a chunk was lost), or
    /// beyond the announced length; resend from `expected`.
    Offset {
        /// The offset the device expects.
        expected: u32,
    },
    /// The announced file is longer than a store slot (or longer than the
    /// pulled file, for a pull offset).
    TooLarge {
        /// The longest the device takes.
        max: u32,
    },
    /// A chunk or commit without a push in progress.
    NoTransfer,
    /// The bytes arrived intact but fixpo-core's policy decoder refused
    /// them (the file's own checks, docs/file-format.md).
    InvalidPolicy,
    /// Nothing to pull (no factory record; no store).
    NotFound,
    /// The device is busy with something else (an adaptation during a
    /// push, pull or reset; a push during an adaptation).
    Busy,
    /// The store failed; see the fault.
    Store(StoreFault),
    /// The request is not one this version knows (its CRC and version
    /// were fine).
    UnknownRequest,
    /// A frame could not be read (id [`crate::NO_ID`]): resend the
    /// outstanding request.
    Frame(FrameError),
}

/// Which store operation failed (`fixpo_store::StoreError` without the
/// flash driver's error type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StoreFault {
    /// The flash driver refused a read, program or erase.
    Flash,
    /// Read-back after programming differs (a worn cell); the slot is
    /// skipped next time.
    Verify,
    /// There is no store on this device.
    NoStore,
    /// No factory record (for a factory restore).
    NoFactory,
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Version { device } => write!(
                f,
                "wrong protocol version: device speaks {device}, host {}",
                crate::VERSION
            ),
            Self::DimensionMismatch { device } => write!(
                f,
                "dimension mismatch: device runs {}x{}x{} {:?} policies",
                device.obs, device.hid, device.act, device.kind
            ),
            Self::BadCrc { expected, computed } => write!(
                f,
                "bad CRC: file announced {expected:08x}, device computed {computed:08x}"
            ),
            Self::Truncated { received, expected } => write!(
                f,
                "truncated transfer: {received} of {expected} bytes received"
            ),
            Self::Offset { expected } => write!(f, "unexpected offset: device expects {expected}"),
            Self::TooLarge { max } => write!(f, "too large: the device takes at most {max} bytes"),
            Self::NoTransfer => f.write_str("no transfer in progress"),
            Self::InvalidPolicy => f.write_str("the device's policy decoder refused the file"),
            Self::NotFound => f.write_str("no such policy on the device"),
            Self::Busy => f.write_str("device busy"),
            Self::Store(s) => write!(f, "store error: {s:?}"),
            Self::UnknownRequest => f.write_str("unknown request"),
            Self::Frame(e) => write!(f, "device could not read a frame: {e}"),
        }
    }
}

impl core::error::Error for ErrorCode {}
