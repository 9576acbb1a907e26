//! Where the factory record and the two banks sit in flash, and the checks
//! that make every later flash access aligned and in range.

use embedded_storage::nor_flash::NorFlash;

/// Bytes of a record header's fields (sequence, body length, body CRC,
/// header CRC, magic); the header occupies [`header_len`] bytes.
pub const HEADER_FIELDS: usize = 20;

/// The largest `NorFlash::WRITE_SIZE` the store supports: headers and
/// partial body words are assembled in a stack buffer of this many bytes.
pub const MAX_WRITE_SIZE: usize = 256;

/// Bytes a header occupies in flash: [`HEADER_FIELDS`] rounded up to the
/// write size, so the body that follows starts on a write boundary.
/// `0` when `write_size` is `0`.
///
/// ```
/// assert_eq!(fixpo_store::header_len(1), 20);
/// assert_eq!(fixpo_store::header_len(8), 24);
/// assert_eq!(fixpo_store::header_len(256), 256);
/// ```
pub const fn header_len(write_size: usize) -> usize {
    match round_up(HEADER_FIELDS, write_size) {
        Some(n) => n,
        None => 0,
    }
}

/// Bytes of one record slot for bodies of at most `max_body` bytes: the
/// header, then the body, rounded up to `write_size`. `None` when
/// `write_size` is `0` or the result does not fit a `u32`.
///
/// ```
/// assert_eq!(fixpo_store::record_len(10_000, 4), Some(10_020));
/// assert_eq!(fixpo_store::record_len(10_001, 4), Some(10_024));
/// ```
pub const fn record_len(max_body: usize, write_size: usize) -> Option<u32> {
    if write_size == 0 {
        return None;
    }
    let Some(sum) = header_len(write_size).checked_add(max_body) else {
        return None;
    };
    match round_up(sum, write_size) {
        Some(n) if n <= u32::MAX as usize => Some(n as u32),
        _ => None,
    }
}

const fn round_up(n: usize, to: usize) -> Option<usize> {
    if to == 0 {
        return None;
    }
    match n.checked_add(to - 1) {
        Some(m) => Some(m / to * to),
        None => None,
    }
}

/// The flash range the store owns, `[base, base + len())`: the factory
/// area, then bank 0, then bank 1. Offsets are the `NorFlash` device's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Layout {
    /// Start of the factory area; a multiple of `ERASE_SIZE`.
    pub base: u32,
    /// Bytes of the factory area (whole erase sectors, ≥ `record_len`).
    pub factory_len: u32,
    /// Bytes of each bank (whole erase sectors, ≥ `record_len`).
    pub bank_len: u32,
    /// Bytes of each record slot (a multiple of `WRITE_SIZE`, more than a
    /// header); see [`record_len`].
    pub record_len: u32,
}

/// Why a [`Layout`] does not fit a flash device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum GeometryError {
    /// `WRITE_SIZE` or `READ_SIZE` is `0`, `WRITE_SIZE` exceeds
    /// [`MAX_WRITE_SIZE`] or does not divide `ERASE_SIZE`, or `READ_SIZE`
    /// does not divide `WRITE_SIZE`.
    UnsupportedFlash,
    /// `base`, `factory_len` or `bank_len` is not a multiple of
    /// `ERASE_SIZE`, or `record_len` not a multiple of `WRITE_SIZE`.
    Misaligned,
    /// `record_len` leaves no room for a body after the header.
    RecordTooShort,
    /// A record slot does not fit in the factory area or in a bank.
    RecordDoesNotFit,
    /// The range ends beyond the device's capacity (or beyond `u32`).
    OutOfRange,
}

impl core::fmt::Display for GeometryError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::UnsupportedFlash => "unsupported flash read/write/erase sizes",
            Self::Misaligned => "store range not aligned to erase sectors or write units",
            Self::RecordTooShort => "record slot too short for a header and a body",
            Self::RecordDoesNotFit => "record slot larger than the factory area or a bank",
            Self::OutOfRange => "store range beyond the flash device",
        })
    }
}

impl core::error::Error for GeometryError {}

/// A layout checked against a flash device: the figures every operation
/// uses, all consistent with the device's sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Geometry {
    /// The device's `WRITE_SIZE`.
    pub write_size: u32,
    /// Bytes of a header in flash ([`header_len`]).
    pub header_len: u32,
    /// Record slots per bank: writes between two erases.
    pub records_per_bank: u32,
    /// The longest body a record holds.
    pub max_body: usize,
}

impl Layout {
    /// A compact layout for bodies of at most `max_body` bytes: the
    /// factory area is the fewest whole sectors holding one record, each
    /// bank is `bank_len` bytes. `None` on overflow or zero sizes;
    /// [`Layout::check`] still decides whether it fits a device.
    ///
    /// ```
    /// // STM32F446 sectors 5..=7 (128 KiB each), word programming.
    /// let l = fixpo_store::Layout::with_body(0x0804_0000 - 0x0800_0000, 10_000, 128 * 1024, 4, 128 * 1024)
    ///     .unwrap();
    /// assert_eq!(l.factory_len, 128 * 1024);
    /// assert_eq!(l.len(), Some(3 * 128 * 1024));
    /// ```
    pub const fn with_body(
        base: u32,
        max_body: usize,
        bank_len: u32,
        write_size: usize,
        erase_size: usize,
    ) -> Option<Layout> {
        let Some(record_len) = record_len(max_body, write_size) else {
            return None;
        };
        let Some(factory_len) = round_up(record_len as usize, erase_size) else {
            return None;
        };
        if factory_len > u32::MAX as usize {
            return None;
        }
        Some(Layout {
            base,
            factory_len: factory_len as u32,
            bank_len,
            record_len,
        })
    }

    /// Bytes of the whole range (factory area and both banks); `None` on
    /// overflow.
    pub const fn len(&self) -> Option<u32> {
        match self.bank_len.checked_mul(2) {
            Some(banks) => banks.checked_add(self.factory_len),
            None => None,
        }
    }

    /// Whether the range is empty (never, for a layout that passes
    /// [`Layout::check`]).
    pub const fn is_empty(&self) -> bool {
        matches!(self.len(), Some(0))
    }

    /// Offset of bank `bank` (0 or 1; any other value means 1).
    pub const fn bank_start(&self, bank: u8) -> u32 {
        let first = self.base.wrapping_add(self.factory_len);
        if bank == 0 {
            first
        } else {
            first.wrapping_add(self.bank_len)
        }
    }

    /// Checks the layout against a flash type's sizes and a device
    /// capacity.
    ///
    /// # Errors
    /// The first [`GeometryError`] that applies.
    pub fn check<F: NorFlash>(&self, capacity: usize) -> Result<Geometry, GeometryError> {
        let (w, e, r) = (F::WRITE_SIZE, F::ERASE_SIZE, F::READ_SIZE);
        if w == 0 || r == 0 || e == 0 || w > MAX_WRITE_SIZE || e % w != 0 || w % r != 0 {
            return Err(GeometryError::UnsupportedFlash);
        }
        let aligned = |v: u32, to: usize| (v as usize) % to == 0;
        if !aligned(self.base, e)
            || !aligned(self.factory_len, e)
            || !aligned(self.bank_len, e)
            || !aligned(self.record_len, w)
        {
            return Err(GeometryError::Misaligned);
        }
        let header = header_len(w);
        if (self.record_len as usize) <= header {
            return Err(GeometryError::RecordTooShort);
        }
        if self.record_len > self.factory_len || self.record_len > self.bank_len {
            return Err(GeometryError::RecordDoesNotFit);
        }
        match self.len().and_then(|n| self.base.checked_add(n)) {
            Some(end) if (end as usize) <= capacity => {}
            _ => return Err(GeometryError::OutOfRange),
        }
        Ok(Geometry {
            write_size: w as u32,
            header_len: header as u32,
            records_per_bank: self.bank_len / self.record_len,
            max_body: self.record_len as usize - header,
        })
    }
}
