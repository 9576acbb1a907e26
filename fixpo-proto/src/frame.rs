//! Framing (docs/protocol.md, "Frames"): a message is postcard-encoded,
//! followed by the CRC-32 of those bytes, COBS-encoded and ended by one
//! `0x00`:
//!
//! ```text
//! COBS( postcard(message) ‖ CRC-32/ISO-HDLC(postcard(message)) as u32 LE ) ‖ 0x00
//! ```
//!
//! [`encode`] writes a frame with postcard's COBS flavour
//! (`postcard::to_slice_cobs`); [`Decoder`] takes bytes as they arrive and
//! yields frames or typed [`FrameError`]s, resynchronising at the next
//! `0x00` whatever came before.

use crc::{CRC_32_ISO_HDLC, Crc, Digest};
use postcard::ser_flavors::Flavor;
use serde::{Deserialize, Serialize};

use crate::{CRC_LEN, MAX_ENCODED, MAX_MESSAGE};

/// CRC-32/ISO-HDLC, the policy file's checksum (docs/file-format.md).
static CRC32: Crc<u32> = Crc::<u32>::new(&CRC_32_ISO_HDLC);

/// CRC-32/ISO-HDLC of `bytes` (the zlib/PNG CRC; `0xCBF43926` for
/// `"123456789"`): the per-frame check and the whole-file CRC of a push.
pub fn crc32(bytes: &[u8]) -> u32 {
    CRC32.checksum(bytes)
}

/// An incremental [`crc32`], for a file that arrives or leaves in chunks.
pub struct Crc32(Digest<'static, u32>);

impl Crc32 {
    /// A CRC over no bytes yet.
    pub fn new() -> Self {
        Self(CRC32.digest())
    }

    /// Adds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The CRC of every byte added (the digest goes on).
    pub fn value(&self) -> u32 {
        self.0.clone().finalize()
    }
}

impl Default for Crc32 {
    fn default() -> Self {
        Self::new()
    }
}

/// Why a message could not be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EncodeError {
    /// The message encodes to more than [`MAX_MESSAGE`] bytes (chunk data
    /// well beyond [`crate::CHUNK`]): the peer's decoder would refuse it.
    TooLong {
        /// Bytes of the postcard encoding.
        len: usize,
    },
    /// The output buffer is shorter than the frame ([`crate::MAX_FRAME`]
    /// always suffices).
    BufferFull,
    /// postcard refused the message (not expected for this crate's types).
    Postcard,
}

impl core::fmt::Display for EncodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooLong { len } => write!(
                f,
                "message of {len} bytes exceeds the {MAX_MESSAGE}-byte limit"
            ),
            Self::BufferFull => f.write_str("output buffer too short for the frame"),
            Self::Postcard => f.write_str("message cannot be encoded"),
        }
    }
}

impl core::error::Error for EncodeError {}

/// Why bytes up to a `0x00` delimiter are not a frame. The decoder is
/// ready for the next frame after any of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum FrameError {
    /// More than [`MAX_ENCODED`] bytes arrived before the delimiter; they
    /// were discarded up to it.
    TooLong,
    /// The bytes are not valid COBS (a code byte points past the end).
    BadCobs,
    /// The decoded bytes are shorter than the CRC.
    TooShort,
    /// The CRC-32 does not match the bytes before it.
    BadCrc,
    /// The CRC matches but the bytes are not one message of the expected
    /// type (unknown variant, truncated field, bytes left over).
    BadPostcard,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TooLong => "frame longer than the receive buffer",
            Self::BadCobs => "frame is not valid COBS",
            Self::TooShort => "frame shorter than its CRC",
            Self::BadCrc => "frame CRC mismatch",
            Self::BadPostcard => "frame does not hold a known message",
        })
    }
}

impl core::error::Error for FrameError {}

/// A postcard flavour that stores nothing: it counts the bytes and
/// computes their CRC-32 (the first of [`encode`]'s two passes).
struct CrcCount {
    digest: Digest<'static, u32>,
    len: usize,
}

impl Flavor for CrcCount {
    type Output = (u32, usize);

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        self.digest.update(data);
        self.len += data.len();
        Ok(())
    }

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.try_extend(&[data])
    }

    fn finalize(self) -> postcard::Result<(u32, usize)> {
        Ok((self.digest.finalize(), self.len))
    }
}

/// Writes `msg` as one frame into `out` (delimiter included) and returns
/// the frame: the message is serialised once to count its bytes and take
/// their CRC, then `(msg, crc as [u8; 4])` goes through
/// `postcard::to_slice_cobs` — postcard encodes a tuple as its fields in
/// order and a byte array without a length, so the COBS input is exactly
/// `postcard(msg) ‖ crc`.
///
/// # Errors
/// [`EncodeError::TooLong`] for a message over [`MAX_MESSAGE`] bytes,
/// [`EncodeError::BufferFull`] when `out` is too short.
///
/// # Example
/// ```
/// use fixpo_proto::{Command, Decoder, Feed, MAX_FRAME, Request, encode};
/// let req = Request::new(7, Command::Status);
/// let mut buf = [0u8; MAX_FRAME];
/// let frame = encode(&req, &mut buf).unwrap();
/// assert_eq!(frame.last(), Some(&0));
/// let mut dec = Decoder::new();
/// match dec.feed::<Request>(frame) {
///     Feed::Frame { result, remaining } => {
///         assert_eq!(result, Ok(req));
///         assert!(remaining.is_empty());
///     }
///     Feed::Consumed => unreachable!(),
/// }
/// ```
pub fn encode<'o, T: Serialize + ?Sized>(
    msg: &T,
    out: &'o mut [u8],
) -> Result<&'o mut [u8], EncodeError> {
    let count = CrcCount {
        digest: CRC32.digest(),
        len: 0,
    };
    let (crc, len) =
        postcard::serialize_with_flavor(msg, count).map_err(|_| EncodeError::Postcard)?;
    if len > MAX_MESSAGE {
        return Err(EncodeError::TooLong { len });
    }
    postcard::to_slice_cobs(&(msg, crc.to_le_bytes()), out).map_err(|e| match e {
        postcard::Error::SerializeBufferFull => EncodeError::BufferFull,
        _ => EncodeError::Postcard,
    })
}

/// Decodes COBS in place; returns the decoded length, `None` if a code
/// byte is 0 or points past the end. Never panics: every group reads
/// `code` bytes and writes at most `code`, so `write <= read <= len`.
fn cobs_decode_in_place(buf: &mut [u8]) -> Option<usize> {
    let len = buf.len();
    let (mut read, mut write) = (0usize, 0usize);
    while read < len {
        let code = usize::from(*buf.get(read)?);
        if code == 0 {
            return None;
        }
        let start = read + 1;
        let end = start + code - 1;
        if end > len {
            return None;
        }
        buf.copy_within(start..end, write);
        write += code - 1;
        read = end;
        if code != 0xFF && read < len {
            *buf.get_mut(write)? = 0;
            write += 1;
        }
    }
    Some(write)
}

/// What [`Decoder::feed`] found in its input.
#[derive(Debug, PartialEq)]
pub enum Feed<'i, T> {
    /// Every byte was taken; no delimiter yet.
    Consumed,
    /// A delimiter ended a frame: the message or why it is not one, and
    /// the input after the delimiter (feed it next).
    Frame {
        /// The message, or why the bytes were not one.
        result: Result<T, FrameError>,
        /// The input after the delimiter.
        remaining: &'i [u8],
    },
}

/// The receive side: collects bytes up to each `0x00`, then checks COBS,
/// the CRC and postcard. Any input is safe: an overlong run is discarded
/// up to the next delimiter (one [`FrameError::TooLong`]), empty frames
/// (`0x00 0x00`, a sender's resync) are skipped silently. Holds
/// [`MAX_ENCODED`] bytes.
///
/// Unlike `postcard::accumulator::CobsAccumulator` (same shape), it tells
/// the errors apart, checks the CRC, refuses bytes left over after the
/// message, and after an overflow discards up to the delimiter instead of
/// restarting mid-frame.
pub struct Decoder {
    buf: [u8; MAX_ENCODED],
    len: usize,
    overflow: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// An empty decoder.
    pub const fn new() -> Self {
        Self {
            buf: [0; MAX_ENCODED],
            len: 0,
            overflow: false,
        }
    }

    /// Forgets a partial frame: the next byte starts a new one.
    pub fn clear(&mut self) {
        self.len = 0;
        self.overflow = false;
    }

    /// Bytes of the frame received so far (0 between frames).
    pub fn pending(&self) -> usize {
        self.len
    }

    /// Takes `input` up to and including the first delimiter that ends a
    /// non-empty frame; returns the frame's payload (postcard bytes, CRC
    /// checked) or its error, and the input after it.
    pub fn feed_raw<'d, 'i>(&'d mut self, input: &'i [u8]) -> Feed<'i, &'d [u8]> {
        let mut rest = input;
        loop {
            let Some(zero) = rest.iter().position(|&b| b == 0) else {
                self.take(rest);
                return Feed::Consumed;
            };
            let (body, after) = (&rest[..zero], &rest[zero + 1..]);
            self.take(body);
            if self.len == 0 && !self.overflow {
                rest = after; // empty frame: a resync, not an error
                continue;
            }
            let result = self.finish();
            return Feed::Frame {
                result,
                remaining: after,
            };
        }
    }

    /// [`Decoder::feed_raw`], then postcard: the payload must be exactly
    /// one `T` ([`FrameError::BadPostcard`] otherwise).
    pub fn feed<'d, 'i, T: Deserialize<'d>>(&'d mut self, input: &'i [u8]) -> Feed<'i, T> {
        match self.feed_raw(input) {
            Feed::Consumed => Feed::Consumed,
            Feed::Frame { result, remaining } => Feed::Frame {
                result: result.and_then(from_payload),
                remaining,
            },
        }
    }

    /// Appends bytes of the current frame, or marks it overlong.
    fn take(&mut self, bytes: &[u8]) {
        if self.overflow {
            return;
        }
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
            }
            None => self.overflow = true,
        }
    }

    /// Ends the current frame (its delimiter arrived) and checks it.
    fn finish(&mut self) -> Result<&[u8], FrameError> {
        let (len, overflow) = (self.len, self.overflow);
        self.clear();
        if overflow {
            return Err(FrameError::TooLong);
        }
        let frame = self.buf.get_mut(..len).ok_or(FrameError::TooLong)?;
        let n = cobs_decode_in_place(frame).ok_or(FrameError::BadCobs)?;
        let body_len = n.checked_sub(CRC_LEN).ok_or(FrameError::TooShort)?;
        let (body, crc) = self.buf[..n].split_at(body_len);
        let crc = u32::from_le_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32(body) != crc {
            return Err(FrameError::BadCrc);
        }
        Ok(body)
    }
}

/// Exactly one `T` in `payload` (postcard), nothing left over.
///
/// # Errors
/// [`FrameError::BadPostcard`].
pub fn from_payload<'d, T: Deserialize<'d>>(payload: &'d [u8]) -> Result<T, FrameError> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((t, [])) => Ok(t),
        _ => Err(FrameError::BadPostcard),
    }
}
