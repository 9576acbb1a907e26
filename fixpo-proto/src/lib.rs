//! # fixpo-proto
//!
//! The host ↔ device protocol of fixpo (docs/protocol.md): push a policy
//! file to a running controller, pull the adapted or the factory policy
//! back, start and watch on-device adaptation. `no_std`, no allocator:
//! the same types build the firmware's side and the host's `fixpo device`.
//!
//! - [`encode`] frames a message: postcard, a CRC-32, COBS, a `0x00`.
//! - [`Decoder`] takes received bytes in any pieces and yields messages or
//!   typed [`FrameError`]s; no input makes it panic, and it resynchronises
//!   at the next `0x00`.
//! - [`Request`] / [`Command`] (host → device, with an id) and
//!   [`Response`] / [`Reply`] (device → host); [`parse_request`] and
//!   [`parse_response`] check the protocol version before the rest.
//! - [`transfer`]: the bookkeeping of a chunked push or pull, for either
//!   side.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod frame;
mod msg;
pub mod transfer;

pub use error::{ErrorCode, StoreFault};
pub use frame::{Crc32, Decoder, EncodeError, Feed, FrameError, crc32, encode, from_payload};
pub use msg::{
    AdaptSettings, Bound, Command, DeviceInfo, Dims, End, Finished, FirmwareVersion, Kind, Mode,
    NO_ID, Reply, Request, Response, ResponseError, Source, Status, UpdateReport, Which,
    parse_request, parse_response,
};

/// The protocol version, the first field of every message.
pub const VERSION: u16 = 1;

/// Bytes of policy file per push or pull chunk.
pub const CHUNK: usize = 256;

/// Bytes of the CRC-32 at the end of every frame's decoded bytes.
pub const CRC_LEN: usize = 4;

/// Longest postcard encoding of any message: a chunk message
/// (`PushChunk`, `Chunk`) is version (≤ 3 bytes as a varint), id (≤ 3),
/// the variant tag (1), offset (≤ 5), the data's length (2 for
/// 128..=16383) and [`CHUNK`] bytes: 14 bytes beyond the chunk. The tests
/// encode the largest value of every variant and check this is the
/// maximum.
pub const MAX_MESSAGE: usize = CHUNK + 14;

/// COBS output for `n` input bytes is at most `n + n / 254 + 1` (one code
/// byte per 254 bytes, one to start).
pub const fn cobs_max(n: usize) -> usize {
    n + n / 254 + 1
}

/// Longest frame before its delimiter: [`Decoder`]'s buffer.
pub const MAX_ENCODED: usize = cobs_max(MAX_MESSAGE + CRC_LEN);

/// Longest frame, delimiter included: an output buffer this long always
/// holds [`encode`]'s frame.
pub const MAX_FRAME: usize = MAX_ENCODED + 1;
