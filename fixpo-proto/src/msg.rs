//! The messages (docs/protocol.md, "Messages"): [`Request`]s from the host,
//! each with an id, and [`Response`]s from the device — replies carrying
//! the id of their request, and the streamed reports of an adaptation
//! carrying the id of the request that started it.
//!
//! Every message starts with the protocol [`VERSION`](crate::VERSION) and
//! the id; these two fields, [`Command::Hello`] (variant 0) and
//! [`Reply::Error`] with [`ErrorCode::Version`] are frozen across
//! versions, so a peer of another version is told so instead of
//! misreading a message.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;
use crate::frame::{FrameError, from_payload};

/// Request id of a response that answers no request the device could read
/// (a frame error). Hosts number their requests from 1 and skip 0 when
/// they wrap.
pub const NO_ID: u16 = 0;

/// A host → device message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Request<'a> {
    /// The sender's protocol version, [`crate::VERSION`].
    pub version: u16,
    /// Chosen by the host, echoed in the reply (1..=65535).
    pub id: u16,
    /// What to do.
    #[serde(borrow)]
    pub command: Command<'a>,
}

impl<'a> Request<'a> {
    /// A request of this protocol version.
    pub const fn new(id: u16, command: Command<'a>) -> Self {
        Self {
            version: crate::VERSION,
            id,
            command,
        }
    }
}

/// What the host asks. Variant order is the wire tag: append only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Command<'a> {
    /// Who are you? Answered by [`Reply::Hello`]. Frozen: always tag 0.
    Hello,
    /// Answered by [`Reply::Status`].
    Status,
    /// Starts a push of a policy file of `len` bytes whose CRC-32 is `crc`
    /// and whose header says `dims`; the device checks the dimensions and
    /// the length before touching flash. Answered by `Ack { next: 0 }`.
    PushBegin {
        /// Bytes of the policy file.
        len: u32,
        /// [`crate::crc32`] of the whole file.
        crc: u32,
        /// Dimensions and kind from the file's header.
        dims: Dims,
    },
    /// Bytes `[offset, offset + data.len())` of the file being pushed, at
    /// most [`crate::CHUNK`]. Answered by `Ack { next }`; a chunk before
    /// `next` (a resend after a lost ack) is acknowledged again without
    /// being written; one after `next` is refused with
    /// [`ErrorCode::Offset`].
    PushChunk {
        /// Offset of `data` in the file.
        offset: u32,
        /// The bytes.
        data: &'a [u8],
    },
    /// Every byte has been sent: the device checks length, CRC and the
    /// policy file itself, commits it and switches to it. Answered by
    /// [`Reply::Committed`].
    PushCommit,
    /// Forget the push in progress; the active policy is unchanged.
    /// Answered by [`Reply::Done`].
    PushAbort,
    /// Starts a pull of the active or the factory policy file. Answered by
    /// [`Reply::PullInfo`].
    PullBegin {
        /// Which policy.
        which: Which,
    },
    /// Bytes of the pulled file from `offset`, up to [`crate::CHUNK`].
    /// Answered by [`Reply::Chunk`].
    PullChunk {
        /// Which policy (as in `PullBegin`).
        which: Which,
        /// Offset in the file.
        offset: u32,
    },
    /// Starts on-device adaptation. Answered by [`Reply::Done`], then one
    /// [`Reply::Report`] per update and a [`Reply::Finished`], all with
    /// this request's id.
    Adapt(AdaptSettings),
    /// Stops adaptation after the update in progress. Answered by
    /// [`Reply::Done`]; the adaptation's [`Reply::Finished`] follows.
    Stop,
    /// Reboots the device (after [`Reply::Done`]); with `factory`, first
    /// commits a copy of the factory policy as the newest record.
    Reset {
        /// Restore the factory policy before rebooting.
        factory: bool,
    },
}

/// A policy's shape, as in its file's header (docs/file-format.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dims {
    /// Observation size (OBS).
    pub obs: u16,
    /// Hidden layer width (HID).
    pub hid: u16,
    /// Action size (ACT).
    pub act: u16,
    /// Distribution of the actions.
    pub kind: Kind,
}

/// The policy's output distribution (the file's kind byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Kind {
    /// Diagonal Gaussian (kind byte 0).
    Gaussian,
    /// Categorical (kind byte 1).
    Categorical,
}

/// Which stored policy a pull reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Which {
    /// The policy the device runs (its newest committed record, else the
    /// factory one).
    Active,
    /// The factory policy (the one first flashed).
    Factory,
}

/// The cumulative bound ε_total for an adaptation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Bound {
    /// The device's default.
    Default,
    /// No cumulative bound.
    Off,
    /// Every accepted policy within this KL of the factory policy.
    At(f32),
}

/// How to adapt.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AdaptSettings {
    /// Updates to run (each one rollout and one FixPO update).
    pub updates: u32,
    /// ε_KL, the per-update trust region; `None`: the device's.
    pub eps_kl: Option<f32>,
    /// ε_total.
    pub eps_total: Bound,
}

/// A device → host message.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Response<'a> {
    /// The device's protocol version, [`crate::VERSION`].
    pub version: u16,
    /// The id of the request answered (or of the `Adapt` a report belongs
    /// to); [`NO_ID`] for a frame the device could not read.
    pub id: u16,
    /// The answer.
    #[serde(borrow)]
    pub reply: Reply<'a>,
}

impl<'a> Response<'a> {
    /// A response of this protocol version.
    pub const fn new(id: u16, reply: Reply<'a>) -> Self {
        Self {
            version: crate::VERSION,
            id,
            reply,
        }
    }
}

/// What the device says. Variant order is the wire tag: append only.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reply<'a> {
    /// The answer to [`Command::Hello`]. Frozen: always tag 0.
    Hello(DeviceInfo),
    /// The request failed; nothing changed unless the code says so.
    /// Frozen: always tag 1.
    Error(ErrorCode),
    /// The answer to [`Command::Status`].
    Status(Status),
    /// Push: every byte before `next` is received.
    Ack {
        /// The offset the device expects next.
        next: u32,
    },
    /// Push: the file is committed as record `seq` and now runs.
    Committed {
        /// Its sequence number in the store.
        seq: u32,
    },
    /// Pull: the file to read.
    PullInfo {
        /// Which policy.
        which: Which,
        /// Its store sequence number (`None`: not from the store).
        seq: Option<u32>,
        /// Bytes of the file.
        len: u32,
        /// [`crate::crc32`] of the whole file.
        crc: u32,
    },
    /// Pull: bytes of the file from `offset` (empty at the end).
    Chunk {
        /// Offset of `data` in the file.
        offset: u32,
        /// The bytes, at most [`crate::CHUNK`].
        data: &'a [u8],
    },
    /// Done (abort, adapt started, stop, reset).
    Done,
    /// One adaptation update, streamed as it happens.
    Report(UpdateReport),
    /// The adaptation ended.
    Finished(Finished),
}

/// A firmware version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FirmwareVersion {
    /// Major.
    pub major: u16,
    /// Minor.
    pub minor: u16,
    /// Patch.
    pub patch: u16,
}

/// Who the device is: the answer to [`Command::Hello`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceInfo {
    /// The device's protocol version (also in every [`Response`]).
    pub protocol: u16,
    /// The chip's unique id, zero-padded (96 bits on an STM32F4, 64 on an
    /// RP2350).
    pub device_id: [u8; 16],
    /// The firmware's version.
    pub firmware: FirmwareVersion,
    /// The policy shape this firmware was built for; a push must match.
    pub dims: Dims,
    /// Sequence number of the active store record (`None`: factory or
    /// given policy).
    pub active_seq: Option<u32>,
    /// Sequence number of the factory record (`None`: no store or none
    /// provisioned).
    pub factory_seq: Option<u32>,
    /// The device's default ε_KL.
    pub eps_kl: f32,
    /// The device's default ε_total (`None`: off).
    pub eps_total: Option<f32>,
    /// The longest policy file a store slot holds (0: no store, no push).
    pub max_file: u32,
}

/// What the device is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// Running the active policy.
    Control,
    /// Adapting: `done` of `of` updates.
    Adapting {
        /// Updates done.
        done: u32,
        /// Updates asked for.
        of: u32,
    },
    /// A push is in progress: `received` of `len` bytes.
    Receiving {
        /// Bytes received.
        received: u32,
        /// Bytes announced.
        len: u32,
    },
}

/// Where the running policy came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Source {
    /// The store's record with this sequence number.
    Record(u32),
    /// The store's factory record.
    Factory,
    /// The policy built into the firmware (no store).
    Given,
}

/// The answer to [`Command::Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Status {
    /// What the device is doing.
    pub mode: Mode,
    /// Where the running policy came from.
    pub source: Source,
    /// fixpo-core's fingerprint of the running policy and its statistics.
    pub fingerprint: u64,
    /// Sequence number of the factory record, if any.
    pub factory_seq: Option<u32>,
    /// Updates run since boot.
    pub updates: u32,
    /// Milliseconds since boot (wraps after 49 days).
    pub uptime_ms: u32,
}

/// One on-device update, as the firmware logs it (firmware/src/adapt.rs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UpdateReport {
    /// Index of the update in this adaptation, from 0.
    pub update: u32,
    /// Return of the rollout the update learned from.
    pub ret: f32,
    /// max KL(old ‖ new) over the rollout's states, as the update computed it.
    pub max_kl: f32,
    /// The same maximum from the independent check (fixpo-check).
    pub check_max_kl: f32,
    /// ε_KL of the update.
    pub eps_kl: f32,
    /// β after the update.
    pub beta: f32,
    /// Fixup gradient steps.
    pub fixup_steps: u32,
    /// Backtracking factor t (1: none).
    pub backtrack_t: f32,
    /// max KL(factory ‖ new) when the cumulative bound is on.
    pub drift_kl: Option<f32>,
    /// ε_total when the cumulative bound is on.
    pub eps_total: Option<f32>,
    /// The update was kept (both checks and ε_total passed).
    pub kept: bool,
    /// An evaluation after this update rolled the policy back.
    pub rolled_back: bool,
    /// The policy was committed to the store as this record.
    pub committed: Option<u32>,
}

/// Why an adaptation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum End {
    /// All updates ran.
    Completed,
    /// [`Command::Stop`].
    Stopped,
    /// An update failed (the policy before it is kept).
    Failed,
}

/// The summary of an adaptation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Finished {
    /// Why it ended.
    pub end: End,
    /// Updates run.
    pub updates: u32,
    /// Updates kept.
    pub kept: u32,
    /// Rollbacks.
    pub rollbacks: u32,
    /// Records committed.
    pub commits: u32,
}

/// The device's reading of a frame's payload: a request of its version,
/// or the response to send instead (wrong version, unknown request, bad
/// frame).
///
/// # Errors
/// The [`Response`] that refuses the payload: [`ErrorCode::Version`] or
/// [`ErrorCode::UnknownRequest`] with the request's id when the version
/// and id can be read, else `Frame(BadPostcard)` with [`NO_ID`].
pub fn parse_request(payload: &[u8]) -> Result<Request<'_>, Response<'static>> {
    let Ok(((version, id), rest)) = postcard::take_from_bytes::<(u16, u16)>(payload) else {
        return Err(Response::new(
            NO_ID,
            Reply::Error(ErrorCode::Frame(FrameError::BadPostcard)),
        ));
    };
    if version != crate::VERSION {
        return Err(Response::new(
            id,
            Reply::Error(ErrorCode::Version {
                device: crate::VERSION,
            }),
        ));
    }
    match from_payload::<Command<'_>>(rest) {
        Ok(command) => Ok(Request {
            version,
            id,
            command,
        }),
        Err(_) => Err(Response::new(id, Reply::Error(ErrorCode::UnknownRequest))),
    }
}

/// Why the host could not read a device's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ResponseError {
    /// The device speaks another protocol version.
    Version {
        /// The device's version.
        device: u16,
        /// The id of the response.
        id: u16,
    },
    /// Not a response of this version.
    BadPostcard,
}

impl core::fmt::Display for ResponseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Version { device, .. } => write!(
                f,
                "device speaks protocol version {device}, this host {}",
                crate::VERSION
            ),
            Self::BadPostcard => f.write_str("device sent an unreadable message"),
        }
    }
}

impl core::error::Error for ResponseError {}

/// The host's reading of a frame's payload.
///
/// # Errors
/// [`ResponseError::Version`] for another protocol version (whatever the
/// rest), [`ResponseError::BadPostcard`] otherwise.
pub fn parse_response(payload: &[u8]) -> Result<Response<'_>, ResponseError> {
    let Ok(((version, id), rest)) = postcard::take_from_bytes::<(u16, u16)>(payload) else {
        return Err(ResponseError::BadPostcard);
    };
    if version != crate::VERSION {
        return Err(ResponseError::Version {
            device: version,
            id,
        });
    }
    let reply = from_payload::<Reply<'_>>(rest).map_err(|_| ResponseError::BadPostcard)?;
    Ok(Response { version, id, reply })
}
