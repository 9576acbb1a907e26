//! Bookkeeping of chunked transfers, shared by both ends so they agree on
//! offsets, lengths and the whole-file CRC (docs/protocol.md, "Push" and
//! "Pull"). Nothing here touches flash or a port: the device passes a
//! closure that writes a chunk to its store slot.
//!
//! A transfer is stop-and-wait: the host sends one chunk and waits for the
//! device's `Ack { next }`, so a lost frame costs one timeout and a resend
//! from `next`, never a reordered file.

use core::ops::Range;

use crate::CHUNK;
use crate::error::ErrorCode;
use crate::frame::Crc32;
use crate::msg::{Command, Dims};

/// The device's side of a push: checks `PushBegin`, every chunk's offset
/// and `PushCommit`'s length and CRC.
pub struct PushReceiver {
    len: u32,
    crc: u32,
    next: u32,
    digest: Crc32,
}

impl PushReceiver {
    /// Checks a `PushBegin` against the firmware's shape and the store's
    /// slot size.
    ///
    /// # Errors
    /// [`ErrorCode::DimensionMismatch`] when `dims` is not `device`,
    /// [`ErrorCode::TooLarge`] when `len > max_file` (0 means no store).
    pub fn begin(
        len: u32,
        crc: u32,
        dims: Dims,
        device: Dims,
        max_file: u32,
    ) -> Result<Self, ErrorCode> {
        if dims != device {
            return Err(ErrorCode::DimensionMismatch { device });
        }
        if len > max_file {
            return Err(ErrorCode::TooLarge { max: max_file });
        }
        Ok(Self {
            len,
            crc,
            next: 0,
            digest: Crc32::new(),
        })
    }

    /// The offset expected next (bytes received so far).
    pub fn next(&self) -> u32 {
        self.next
    }

    /// Bytes announced.
    pub fn len(&self) -> u32 {
        self.len
    }

    /// Whether the announced file is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes a `PushChunk`: the bytes from [`PushReceiver::next`] on go to
    /// `write(offset, bytes)` (the store slot); bytes before it (a resend)
    /// are skipped. Returns the new `next` for the `Ack`. If `write`
    /// fails, nothing is counted and its error is returned.
    ///
    /// # Errors
    /// [`ErrorCode::Offset`] when `offset` is beyond `next` (a chunk was
    /// lost), [`ErrorCode::TooLarge`] when the chunk ends past the
    /// announced length, or `write`'s error.
    pub fn chunk(
        &mut self,
        offset: u32,
        data: &[u8],
        write: impl FnOnce(u32, &[u8]) -> Result<(), ErrorCode>,
    ) -> Result<u32, ErrorCode> {
        if offset > self.next {
            return Err(ErrorCode::Offset {
                expected: self.next,
            });
        }
        let end = u32::try_from(data.len())
            .ok()
            .and_then(|n| offset.checked_add(n))
            .filter(|&e| e <= self.len)
            .ok_or(ErrorCode::TooLarge { max: self.len })?;
        if end <= self.next {
            return Ok(self.next);
        }
        let skip = (self.next - offset) as usize;
        let fresh = data.get(skip..).unwrap_or(&[]);
        write(self.next, fresh)?;
        self.digest.update(fresh);
        self.next = end;
        Ok(self.next)
    }

    /// Checks a `PushCommit`: every byte arrived and their CRC is the
    /// announced one. The caller then runs the policy decoder and commits.
    ///
    /// # Errors
    /// [`ErrorCode::Truncated`], [`ErrorCode::BadCrc`].
    pub fn finish(&self) -> Result<(), ErrorCode> {
        if self.next != self.len {
            return Err(ErrorCode::Truncated {
                received: self.next,
                expected: self.len,
            });
        }
        let computed = self.digest.value();
        if computed != self.crc {
            return Err(ErrorCode::BadCrc {
                expected: self.crc,
                computed,
            });
        }
        Ok(())
    }
}

/// The host's next `PushChunk` of `file` after the device acknowledged
/// `next`; `None` when every byte is acknowledged (send `PushCommit`), or
/// when `next` is past the file.
pub fn push_chunk(file: &[u8], next: u32) -> Option<Command<'_>> {
    let range = chunk_range(file.len(), next)?;
    if range.is_empty() {
        return None;
    }
    Some(Command::PushChunk {
        offset: next,
        data: file.get(range)?,
    })
}

/// The bytes `[offset, offset + CHUNK)` of a file of `len` bytes, cut at
/// its end (empty at the end); `None` when `offset > len`. The device
/// answers a `PullChunk` with these bytes.
pub fn chunk_range(len: usize, offset: u32) -> Option<Range<usize>> {
    let start = usize::try_from(offset).ok().filter(|&s| s <= len)?;
    Some(start..len.min(start + CHUNK))
}

/// The host's side of a pull: collects `Chunk`s in order into the
/// caller's buffer and checks the whole-file CRC.
pub struct PullReceiver {
    len: u32,
    crc: u32,
    next: u32,
    digest: Crc32,
}

/// Why a pulled chunk or file was refused by the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PullError {
    /// A chunk at another offset than the one asked for.
    Offset {
        /// The offset asked for.
        expected: u32,
    },
    /// A chunk past the announced length or the caller's buffer, or an
    /// empty chunk before the end.
    Length,
    /// The file's CRC is not the announced one.
    BadCrc,
}

impl core::fmt::Display for PullError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Offset { expected } => {
                write!(f, "chunk at an unexpected offset (asked {expected})")
            }
            Self::Length => f.write_str("chunk longer than the announced file"),
            Self::BadCrc => f.write_str("pulled file fails its CRC"),
        }
    }
}

impl core::error::Error for PullError {}

impl PullReceiver {
    /// After `PullInfo { len, crc, .. }`.
    pub fn new(len: u32, crc: u32) -> Self {
        Self {
            len,
            crc,
            next: 0,
            digest: Crc32::new(),
        }
    }

    /// The offset to ask for next; equal to the length when done.
    pub fn next(&self) -> u32 {
        self.next
    }

    /// Whether every byte has arrived.
    pub fn is_done(&self) -> bool {
        self.next == self.len
    }

    /// Takes a `Chunk { offset, data }` into `out[offset..]`.
    ///
    /// # Errors
    /// [`PullError::Offset`], [`PullError::Length`]; `out` is then
    /// unchanged.
    pub fn chunk(&mut self, offset: u32, data: &[u8], out: &mut [u8]) -> Result<(), PullError> {
        if offset != self.next {
            return Err(PullError::Offset {
                expected: self.next,
            });
        }
        let end = u32::try_from(data.len())
            .ok()
            .and_then(|n| offset.checked_add(n))
            .filter(|&e| e <= self.len && (e > offset || offset == self.len))
            .ok_or(PullError::Length)?;
        let dst = out
            .get_mut(offset as usize..end as usize)
            .ok_or(PullError::Length)?;
        dst.copy_from_slice(data);
        self.digest.update(data);
        self.next = end;
        Ok(())
    }

    /// Checks the whole file after the last chunk.
    ///
    /// # Errors
    /// [`PullError::Length`] before the end, [`PullError::BadCrc`].
    pub fn finish(&self) -> Result<(), PullError> {
        if !self.is_done() {
            return Err(PullError::Length);
        }
        if self.digest.value() != self.crc {
            return Err(PullError::BadCrc);
        }
        Ok(())
    }
}
