//! The store's one error type.

use crate::layout::GeometryError;

/// Why a store operation failed. `E` is the flash driver's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum StoreError<E> {
    /// The flash driver refused a read, program or erase (or, with the
    /// mock, the power was cut).
    Flash(E),
    /// The layout does not fit the flash device.
    Geometry(GeometryError),
    /// The body is longer than a record slot holds.
    TooLarge {
        /// Bytes of the body.
        len: usize,
        /// The longest body a slot holds.
        max: usize,
    },
    /// What was read back after programming or erasing differs from what
    /// was meant to be there (a worn or faulty cell); the slot is left
    /// unusable and the next write skips it.
    VerifyFailed {
        /// Flash offset of the slot or area that failed.
        offset: u32,
    },
    /// `write_factory` found a valid factory record; use `replace_factory`
    /// to overwrite it on purpose.
    FactoryExists,
    /// `restore_factory` found no valid factory record.
    NoFactory,
    /// A pending record's slot was claimed by another write since
    /// `begin` (start the record again).
    Stale,
    /// A piece of a pending record after one that was not a whole number
    /// of write units.
    Misaligned {
        /// Body offset of the piece.
        offset: u32,
    },
    /// `commit` before every byte of the pending record was written.
    Incomplete {
        /// Bytes written.
        written: u32,
        /// Bytes announced.
        len: u32,
    },
    /// The caller's buffer is shorter than the record to load.
    BufferTooSmall {
        /// Bytes of the caller's buffer.
        len: usize,
        /// Bytes of the record's body.
        needed: usize,
    },
}

impl<E> From<GeometryError> for StoreError<E> {
    fn from(e: GeometryError) -> Self {
        Self::Geometry(e)
    }
}

impl<E: core::fmt::Debug> core::fmt::Display for StoreError<E> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Flash(e) => write!(f, "flash error: {e:?}"),
            Self::Geometry(e) => write!(f, "store layout: {e}"),
            Self::TooLarge { len, max } => {
                write!(f, "body of {len} bytes exceeds the {max}-byte slot")
            }
            Self::VerifyFailed { offset } => {
                write!(f, "flash read-back differs at slot 0x{offset:08x}")
            }
            Self::FactoryExists => f.write_str("a valid factory record exists"),
            Self::NoFactory => f.write_str("no valid factory record"),
            Self::Stale => f.write_str("another write took the pending record's slot"),
            Self::Misaligned { offset } => {
                write!(
                    f,
                    "piece at body offset {offset} follows a partial write unit"
                )
            }
            Self::Incomplete { written, len } => {
                write!(f, "commit after {written} of {len} bytes")
            }
            Self::BufferTooSmall { len, needed } => {
                write!(f, "buffer of {len} bytes, record needs {needed}")
            }
        }
    }
}

impl<E: core::fmt::Debug> core::error::Error for StoreError<E> {}
