//! A seeded generator of random messages of every variant (no proptest:
//! the contents are drawn from a SplitMix64 stream, so every run checks
//! the same cases and a failure names its seed and case).
#![allow(dead_code)]

use fixpo_proto::{
    AdaptSettings, Bound, CHUNK, Command, DeviceInfo, Dims, End, ErrorCode, Finished,
    FirmwareVersion, FrameError, Kind, MAX_FRAME, Mode, Reply, Request, Response, Source, Status,
    StoreFault, UpdateReport, Which, encode,
};

/// Number of [`Command`] variants ([`command`] draws each tag).
pub const COMMANDS: u32 = 12;
/// Number of [`Reply`] variants.
pub const REPLIES: u32 = 10;
/// Number of [`ErrorCode`] variants.
pub const ERRORS: u32 = 13;

/// SplitMix64 (Steele, Lea, Flood 2014): a small seeded generator.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.u64() % n
    }

    pub fn bool(&mut self) -> bool {
        self.u64() & 1 == 1
    }

    /// A u32 with a random magnitude (so every varint length occurs).
    pub fn u32(&mut self) -> u32 {
        let bits = self.below(33) as u32;
        (self.u64() as u32).checked_shr(32 - bits).unwrap_or(0)
    }

    pub fn u16(&mut self) -> u16 {
        let bits = self.below(17) as u32;
        (self.u64() as u16).checked_shr(16 - bits).unwrap_or(0)
    }

    /// A finite f32 of any magnitude (from random bits; non-finite bit
    /// patterns are folded to finite ones so `==` compares round trips).
    pub fn f32(&mut self) -> f32 {
        let x = f32::from_bits(self.u64() as u32);
        if x.is_finite() {
            x
        } else {
            (self.u64() % 2001) as f32 - 1000.0
        }
    }

    pub fn opt_u32(&mut self) -> Option<u32> {
        self.bool().then(|| self.u32())
    }

    pub fn opt_f32(&mut self) -> Option<f32> {
        self.bool().then(|| self.f32())
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.u64() as u8).collect()
    }

    /// Chunk data: empty, full, or any length in between, with zeros
    /// common (COBS must encode them).
    pub fn chunk(&mut self) -> Vec<u8> {
        let n = match self.below(4) {
            0 => CHUNK,
            1 => 0,
            _ => self.below(CHUNK as u64 + 1) as usize,
        };
        (0..n)
            .map(|_| {
                if self.below(4) == 0 {
                    0
                } else {
                    self.u64() as u8
                }
            })
            .collect()
    }

    pub fn dims(&mut self) -> Dims {
        Dims {
            obs: self.u16(),
            hid: self.u16(),
            act: self.u16(),
            kind: if self.bool() {
                Kind::Gaussian
            } else {
                Kind::Categorical
            },
        }
    }

    pub fn which(&mut self) -> Which {
        if self.bool() {
            Which::Active
        } else {
            Which::Factory
        }
    }
}

/// A command with tag `tag` (0..COMMANDS) and random contents; chunk data
/// from `data`.
pub fn command<'a>(g: &mut Gen, tag: u32, data: &'a [u8]) -> Command<'a> {
    match tag {
        0 => Command::Hello,
        1 => Command::Status,
        2 => Command::PushBegin {
            len: g.u32(),
            crc: g.u64() as u32,
            dims: g.dims(),
        },
        3 => Command::PushChunk {
            offset: g.u32(),
            data,
        },
        4 => Command::PushCommit,
        5 => Command::PushAbort,
        6 => Command::PullBegin { which: g.which() },
        7 => Command::PullChunk {
            which: g.which(),
            offset: g.u32(),
        },
        8 => Command::Adapt(AdaptSettings {
            updates: g.u32(),
            eps_kl: g.opt_f32(),
            eps_total: match g.below(3) {
                0 => Bound::Default,
                1 => Bound::Off,
                _ => Bound::At(g.f32()),
            },
        }),
        9 => Command::Stop,
        10 => Command::Reset { factory: g.bool() },
        _ => Command::Hello,
    }
}

pub fn error_code(g: &mut Gen, tag: u32) -> ErrorCode {
    match tag {
        0 => ErrorCode::Version { device: g.u16() },
        1 => ErrorCode::DimensionMismatch { device: g.dims() },
        2 => ErrorCode::BadCrc {
            expected: g.u64() as u32,
            computed: g.u64() as u32,
        },
        3 => ErrorCode::Truncated {
            received: g.u32(),
            expected: g.u32(),
        },
        4 => ErrorCode::Offset { expected: g.u32() },
        5 => ErrorCode::TooLarge { max: g.u32() },
        6 => ErrorCode::NoTransfer,
        7 => ErrorCode::InvalidPolicy,
        8 => ErrorCode::NotFound,
        9 => ErrorCode::Busy,
        10 => ErrorCode::Store(
            [
                StoreFault::Flash,
                StoreFault::Verify,
                StoreFault::NoStore,
                StoreFault::NoFactory,
            ][g.below(4) as usize],
        ),
        11 => ErrorCode::UnknownRequest,
        _ => ErrorCode::Frame(
            [
                FrameError::TooLong,
                FrameError::BadCobs,
                FrameError::TooShort,
                FrameError::BadCrc,
                FrameError::BadPostcard,
            ][g.below(5) as usize],
        ),
    }
}

pub fn device_info(g: &mut Gen) -> DeviceInfo {
    let mut device_id = [0u8; 16];
    device_id.copy_from_slice(&g.bytes(16));
    DeviceInfo {
        protocol: g.u16(),
        device_id,
        firmware: FirmwareVersion {
            major: g.u16(),
            minor: g.u16(),
            patch: g.u16(),
        },
        dims: g.dims(),
        active_seq: g.opt_u32(),
        factory_seq: g.opt_u32(),
        eps_kl: g.f32(),
        eps_total: g.opt_f32(),
        max_file: g.u32(),
    }
}

pub fn status(g: &mut Gen) -> Status {
    Status {
        mode: match g.below(3) {
            0 => Mode::Control,
            1 => Mode::Adapting {
                done: g.u32(),
                of: g.u32(),
            },
            _ => Mode::Receiving {
                received: g.u32(),
                len: g.u32(),
            },
        },
        source: match g.below(3) {
            0 => Source::Record(g.u32()),
            1 => Source::Factory,
            _ => Source::Given,
        },
        fingerprint: g.u64(),
        factory_seq: g.opt_u32(),
        updates: g.u32(),
        uptime_ms: g.u32(),
    }
}

pub fn report(g: &mut Gen) -> UpdateReport {
    UpdateReport {
        update: g.u32(),
        ret: g.f32(),
        max_kl: g.f32(),
        check_max_kl: g.f32(),
        eps_kl: g.f32(),
        beta: g.f32(),
        fixup_steps: g.u32(),
        backtrack_t: g.f32(),
        drift_kl: g.opt_f32(),
        eps_total: g.opt_f32(),
        kept: g.bool(),
        rolled_back: g.bool(),
        committed: g.opt_u32(),
    }
}

/// A reply with tag `tag` (0..REPLIES) and random contents.
pub fn reply<'a>(g: &mut Gen, tag: u32, data: &'a [u8]) -> Reply<'a> {
    match tag {
        0 => Reply::Hello(device_info(g)),
        1 => {
            let t = g.below(u64::from(ERRORS)) as u32;
            Reply::Error(error_code(g, t))
        }
        2 => Reply::Status(status(g)),
        3 => Reply::Ack { next: g.u32() },
        4 => Reply::Committed { seq: g.u32() },
        5 => Reply::PullInfo {
            which: g.which(),
            seq: g.opt_u32(),
            len: g.u32(),
            crc: g.u64() as u32,
        },
        6 => Reply::Chunk {
            offset: g.u32(),
            data,
        },
        7 => Reply::Done,
        8 => Reply::Report(report(g)),
        _ => Reply::Finished(Finished {
            end: [End::Completed, End::Stopped, End::Failed][g.below(3) as usize],
            updates: g.u32(),
            kept: g.u32(),
            rollbacks: g.u32(),
            commits: g.u32(),
        }),
    }
}

/// A request of this version with a random id (never [`fixpo_proto::NO_ID`]).
pub fn request<'a>(g: &mut Gen, tag: u32, data: &'a [u8]) -> Request<'a> {
    let id = g.u16().max(1);
    Request::new(id, command(g, tag, data))
}

pub fn response<'a>(g: &mut Gen, tag: u32, data: &'a [u8]) -> Response<'a> {
    let id = g.u16();
    Response::new(id, reply(g, tag, data))
}

/// The frame of `msg`.
pub fn frame<T: serde::Serialize>(msg: &T) -> Vec<u8> {
    let mut buf = [0u8; MAX_FRAME];
    encode(msg, &mut buf)
        .expect("every generated message frames")
        .to_vec()
}

/// The postcard bytes of `msg`.
pub fn payload<T: serde::Serialize>(msg: &T) -> Vec<u8> {
    let mut buf = [0u8; 1024];
    postcard::to_slice(msg, &mut buf).expect("fits").to_vec()
}
