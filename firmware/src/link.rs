//! The device's side of the host link (`fixpo device`, docs/protocol.md):
//! requests decoded from a board's serial port, answered between control
//! ticks, with pushes written chunk by chunk straight into the store's
//! next slot and committed only once the whole file passes its CRC and
//! fixpo-core's checks.
//!
//! A board brings a [`Port`]: bytes its receive interrupt queued in a
//! [`Ring`], and a blocking write. [`Link::poll`] drains the port, answers
//! what it can by itself (hello, status, push, pull) and returns an
//! [`Event`] for what changes the running policy or the mode (a policy
//! committed, an adaptation, a reset); `crate::serve` acts on it.
//!
//! Nothing a host sends can make this code panic or block: every frame
//! error, unknown request, out-of-order chunk or store failure is a typed
//! [`ErrorCode`] reply, and the active policy stays until a commit.

use core::cell::RefCell;

use critical_section::Mutex;
use fixpo_core::file;
use fixpo_proto::transfer::{PushReceiver, chunk_range};
use fixpo_proto::{
    Command, Decoder, DeviceInfo, Dims, ErrorCode, Feed, FirmwareVersion, Kind, MAX_FRAME, Mode,
    NO_ID, Reply, Response, Source, Status, StoreFault, Which, crc32, encode, parse_request,
};
use fixpo_store::{Pending, StoreError};

use crate::control::{ACT, HID, OBS};
use crate::persist::{Flash, Persist};

/// The policy shape this firmware runs: a push must match it.
pub const DIMS: Dims = Dims {
    obs: OBS as u16,
    hid: HID as u16,
    act: ACT as u16,
    kind: Kind::Gaussian,
};

/// This firmware's version (the crate's).
pub const FIRMWARE: FirmwareVersion = FirmwareVersion {
    major: parse_u16(env!("CARGO_PKG_VERSION_MAJOR")),
    minor: parse_u16(env!("CARGO_PKG_VERSION_MINOR")),
    patch: parse_u16(env!("CARGO_PKG_VERSION_PATCH")),
};

const fn parse_u16(s: &str) -> u16 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut n: u16 = 0;
    while i < b.len() {
        n = n * 10 + (b[i] - b'0') as u16;
        i += 1;
    }
    n
}

/// A board's serial port as the link sees it.
pub trait Port {
    /// The next received byte, if one is queued (never waits).
    fn read(&mut self) -> Option<u8>;
    /// Sends `bytes`, waiting for the transmitter as needed.
    fn write(&mut self, bytes: &[u8]);
}

/// A byte queue from a receive interrupt to the main loop.
pub struct Ring<const N: usize> {
    buf: [u8; N],
    head: usize,
    len: usize,
}

impl<const N: usize> Ring<N> {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            head: 0,
            len: 0,
        }
    }

    /// Queues `b`; `false` (and `b` dropped) when full.
    pub fn push(&mut self, b: u8) -> bool {
        if self.len == N {
            return false;
        }
        self.buf[(self.head + self.len) % N] = b;
        self.len += 1;
        true
    }

    /// The oldest queued byte.
    pub fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let b = self.buf[self.head];
        self.head = (self.head + 1) % N;
        self.len -= 1;
        Some(b)
    }

    /// Whether another byte fits.
    pub fn has_room(&self) -> bool {
        self.len < N
    }
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

/// A [`Ring`] shared with an interrupt handler.
pub type SharedRing<const N: usize> = Mutex<RefCell<Ring<N>>>;

/// Who the device is (the parts of `Hello` a board knows).
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    /// The chip's unique id, zero-padded.
    pub device_id: [u8; 16],
    /// The default ε_KL of an adaptation.
    pub eps_kl: f32,
    /// The default ε_total (`None`: off).
    pub eps_total: Option<f32>,
}

/// What the device is running, for `Status` and `Hello`.
#[derive(Clone, Copy, Debug)]
pub struct Running {
    /// Where the running policy came from.
    pub source: Source,
    /// fixpo-core's fingerprint of the running policy and statistics.
    pub fingerprint: u64,
    /// Updates run since boot.
    pub updates: u32,
    /// Milliseconds since boot.
    pub uptime_ms: u32,
    /// Control or adapting (a push in progress is the link's own).
    pub mode: Mode,
}

/// What [`Link::poll`] asks the main loop to do.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// Nothing: keep controlling.
    None,
    /// A pushed policy was committed as record `seq`: load and run it.
    Committed {
        /// Its sequence number.
        seq: u32,
    },
    /// Start an adaptation (already answered `Done`); its reports carry
    /// `id`.
    Adapt {
        /// The request's id.
        id: u16,
        /// Its settings.
        settings: fixpo_proto::AdaptSettings,
    },
    /// Reboot (already answered `Done`), with the factory policy restored
    /// first when `factory`.
    Reset {
        /// Restore the factory policy.
        factory: bool,
    },
    /// `Stop` arrived during an adaptation.
    Stop,
}

/// A push in progress: the protocol's bookkeeping and the store's
/// pending record.
struct Push {
    rx: PushReceiver,
    pending: Pending,
}

/// The link: frame decoder, output buffer and the push in progress.
pub struct Link<P> {
    decoder: Decoder,
    io: Io<P>,
}

/// Everything of the link but the decoder (whose buffer a request borrows
/// while it is handled).
struct Io<P> {
    port: P,
    out: [u8; MAX_FRAME],
    push: Option<Push>,
    identity: Identity,
    frame_errors: u32,
    /// The store's slot size and factory record as last seen, for a
    /// `Hello` while an adaptation holds the store.
    store_seen: Option<(u32, bool)>,
}

fn fault<E>(e: StoreError<E>) -> ErrorCode {
    ErrorCode::Store(match e {
        StoreError::VerifyFailed { .. } => StoreFault::Verify,
        StoreError::NoFactory => StoreFault::NoFactory,
        StoreError::TooLarge { max, .. } => {
            return ErrorCode::TooLarge {
                max: u32::try_from(max).unwrap_or(u32::MAX),
            };
        }
        _ => StoreFault::Flash,
    })
}

impl<P: Port> Link<P> {
    /// A link over `port`.
    pub const fn new(port: P, identity: Identity) -> Self {
        Self {
            decoder: Decoder::new(),
            io: Io {
                port,
                out: [0; MAX_FRAME],
                push: None,
                identity,
                frame_errors: 0,
                store_seen: None,
            },
        }
    }

    /// Sends one response.
    pub fn send(&mut self, id: u16, reply: Reply<'_>) {
        self.io.send(id, reply);
    }

    /// Whether a push is in progress.
    pub fn receiving(&self) -> bool {
        self.io.push.is_some()
    }

    /// Frames refused since boot.
    pub fn frame_errors(&self) -> u32 {
        self.io.frame_errors
    }

    /// Drains the port and answers every complete request, until one
    /// needs the main loop ([`Event`]) or the port is empty. While
    /// `running.mode` is `Adapting` (the adaptation holds the store and
    /// `persist` is `None`), everything but `Hello`, `Status` and `Stop`
    /// is refused `Busy`.
    pub fn poll<F: Flash>(
        &mut self,
        running: &Running,
        mut persist: Option<&mut Persist<F>>,
    ) -> Event {
        let Link { decoder, io } = self;
        while let Some(b) = io.port.read() {
            let request = match decoder.feed_raw(&[b]) {
                Feed::Consumed => continue,
                Feed::Frame { result, .. } => match result {
                    Err(e) => Err(Response::new(NO_ID, Reply::Error(ErrorCode::Frame(e)))),
                    Ok(payload) => parse_request(payload),
                },
            };
            let event = match request {
                Ok(r) => io.handle(r.id, r.command, running, persist.as_deref_mut()),
                Err(refusal) => {
                    io.frame_errors += 1;
                    defmt::warn!("link: frame refused: {}", refusal.reply);
                    io.send(refusal.id, refusal.reply);
                    Event::None
                }
            };
            if event != Event::None {
                return event;
            }
        }
        Event::None
    }
}

impl<P: Port> Io<P> {
    fn send(&mut self, id: u16, reply: Reply<'_>) {
        let msg = Response::new(id, reply);
        match encode(&msg, &mut self.out) {
            Ok(frame) => self.port.write(frame),
            // Cannot happen: `out` holds the longest message.
            Err(_) => defmt::error!("link: response too long"),
        }
    }

    fn handle<F: Flash>(
        &mut self,
        id: u16,
        command: Command<'_>,
        running: &Running,
        persist: Option<&mut Persist<F>>,
    ) -> Event {
        let adapting = matches!(running.mode, Mode::Adapting { .. });
        match command {
            Command::Hello => {
                let info = self.info(running, persist);
                self.reply(id, Reply::Hello(info))
            }
            Command::Status => {
                let mode = match &self.push {
                    Some(p) if !adapting => Mode::Receiving {
                        received: p.rx.next(),
                        len: p.rx.len(),
                    },
                    _ => running.mode,
                };
                let factory_seq = persist.and_then(|p| has_factory(p).then_some(0));
                let status = Status {
                    mode,
                    source: running.source,
                    fingerprint: running.fingerprint,
                    factory_seq,
                    updates: running.updates,
                    uptime_ms: running.uptime_ms,
                };
                self.reply(id, Reply::Status(status))
            }
            Command::Stop if adapting => {
                self.send(id, Reply::Done);
                Event::Stop
            }
            Command::Stop => self.reply(id, Reply::Done),
            _ if adapting => self.error(id, ErrorCode::Busy),
            Command::PushBegin { len, crc, dims } => self.begin(id, len, crc, dims, persist),
            Command::PushChunk { offset, data } => self.chunk(id, offset, data, persist),
            Command::PushCommit => self.commit(id, persist),
            Command::PushAbort => {
                self.push = None;
                self.reply(id, Reply::Done)
            }
            Command::PullBegin { which } => {
                let result = persist
                    .ok_or(ErrorCode::NotFound)
                    .and_then(|p| pull_file(p, which));
                match result {
                    Ok((seq, bytes)) => {
                        let (len, crc) = (bytes.len() as u32, crc32(bytes));
                        self.reply(
                            id,
                            Reply::PullInfo {
                                which,
                                seq,
                                len,
                                crc,
                            },
                        )
                    }
                    Err(e) => self.error(id, e),
                }
            }
            Command::PullChunk { which, offset } => {
                let Some(p) = persist else {
                    return self.error(id, ErrorCode::NotFound);
                };
                let file = match pull_file(p, which) {
                    Ok((_, bytes)) => bytes,
                    Err(e) => return self.error(id, e),
                };
                match chunk_range(file.len(), offset).and_then(|r| file.get(r)) {
                    Some(data) => {
                        let msg = Response::new(id, Reply::Chunk { offset, data });
                        match encode(&msg, &mut self.out) {
                            Ok(frame) => self.port.write(frame),
                            Err(_) => defmt::error!("link: chunk too long"),
                        }
                        Event::None
                    }
                    None => self.error(
                        id,
                        ErrorCode::TooLarge {
                            max: file.len() as u32,
                        },
                    ),
                }
            }
            Command::Adapt(settings) => {
                if self.push.is_some() {
                    return self.error(id, ErrorCode::Busy);
                }
                self.send(id, Reply::Done);
                Event::Adapt { id, settings }
            }
            Command::Reset { factory } => {
                if self.push.is_some() {
                    return self.error(id, ErrorCode::Busy);
                }
                self.send(id, Reply::Done);
                Event::Reset { factory }
            }
        }
    }

    fn reply(&mut self, id: u16, reply: Reply<'_>) -> Event {
        self.send(id, reply);
        Event::None
    }

    fn error(&mut self, id: u16, code: ErrorCode) -> Event {
        defmt::warn!("link: request {=u16} refused: {}", id, code);
        self.reply(id, Reply::Error(code))
    }

    fn info<F: Flash>(
        &mut self,
        running: &Running,
        persist: Option<&mut Persist<F>>,
    ) -> DeviceInfo {
        if let Some(p) = persist {
            self.store_seen = Some((p.store.layout().1.max_body as u32, has_factory(p)));
        }
        let (max_file, factory_seq) = match self.store_seen {
            Some((max, factory)) => (max, factory.then_some(0)),
            None => (0, None),
        };
        DeviceInfo {
            protocol: fixpo_proto::VERSION,
            device_id: self.identity.device_id,
            firmware: FIRMWARE,
            dims: DIMS,
            active_seq: match running.source {
                Source::Record(seq) => Some(seq),
                _ => None,
            },
            factory_seq,
            eps_kl: self.identity.eps_kl,
            eps_total: self.identity.eps_total,
            max_file,
        }
    }

    fn begin<F: Flash>(
        &mut self,
        id: u16,
        len: u32,
        crc: u32,
        dims: Dims,
        persist: Option<&mut Persist<F>>,
    ) -> Event {
        // A new push replaces one in progress (its slot stays torn).
        self.push = None;
        let Some(p) = persist else {
            return self.error(id, ErrorCode::Store(StoreFault::NoStore));
        };
        let max = p.store.layout().1.max_body as u32;
        let rx = match PushReceiver::begin(len, crc, dims, DIMS, max) {
            Ok(rx) => rx,
            Err(e) => return self.error(id, e),
        };
        // The slot is picked (and its bank erased if full) now, before the
        // first chunk.
        match p.store.begin(&mut p.flash, len as usize) {
            Ok(pending) => {
                defmt::info!("link: push of {=u32} bytes begins", len);
                self.push = Some(Push { rx, pending });
                self.reply(id, Reply::Ack { next: 0 })
            }
            Err(e) => {
                defmt::error!("link: store refused the push ({})", e);
                self.error(id, fault(e))
            }
        }
    }

    fn chunk<F: Flash>(
        &mut self,
        id: u16,
        offset: u32,
        data: &[u8],
        persist: Option<&mut Persist<F>>,
    ) -> Event {
        let (Some(push), Some(p)) = (self.push.as_mut(), persist) else {
            return self.error(id, ErrorCode::NoTransfer);
        };
        let pending = &mut push.pending;
        let r = push.rx.chunk(offset, data, |_, bytes| {
            p.store
                .write_chunk(&mut p.flash, pending, bytes)
                .map_err(fault)
        });
        match r {
            Ok(next) => self.reply(id, Reply::Ack { next }),
            Err(e) => {
                // A failed write leaves the slot unusable: the push must
                // start again. An offset error keeps it (resend).
                if matches!(e, ErrorCode::Store(_)) {
                    self.push = None;
                }
                self.error(id, e)
            }
        }
    }

    fn commit<F: Flash>(&mut self, id: u16, persist: Option<&mut Persist<F>>) -> Event {
        let (Some(push), Some(p)) = (self.push.as_ref(), persist) else {
            return self.error(id, ErrorCode::NoTransfer);
        };
        if let Err(e) = push.rx.finish() {
            if !matches!(e, ErrorCode::Truncated { .. }) {
                self.push = None;
            }
            return self.error(id, e);
        }
        // The file's own checks, in place: its CRC, every field, finite
        // values, and this firmware's shape.
        let (offset, len) = p.store.pending_body(&push.pending);
        let valid = p
            .flash
            .mapped(offset, len)
            .map(file::read_header)
            .is_some_and(|h| {
                h.is_ok_and(|h| {
                    usize::from(h.obs) == OBS
                        && usize::from(h.hid) == HID
                        && usize::from(h.act) == ACT
                        && h.kind == fixpo_core::PolicyKind::Gaussian
                })
            });
        let Some(push) = self.push.take() else {
            return Event::None;
        };
        if !valid {
            return self.error(id, ErrorCode::InvalidPolicy);
        }
        match p.store.commit(&mut p.flash, push.pending) {
            Ok(c) => {
                defmt::info!("link: pushed policy committed as seq {=u32}", c.seq);
                self.send(id, Reply::Committed { seq: c.seq });
                Event::Committed { seq: c.seq }
            }
            Err(e) => {
                defmt::error!("link: commit failed ({})", e);
                self.error(id, fault(e))
            }
        }
    }
}

fn has_factory<F: Flash>(p: &mut Persist<F>) -> bool {
    p.store.has_factory(&mut p.flash).unwrap_or(false)
}

/// The bytes of the active or factory policy file, in place, with the
/// record's sequence number (`None` for the factory record).
fn pull_file<F: Flash>(
    p: &mut Persist<F>,
    which: Which,
) -> Result<(Option<u32>, &[u8]), ErrorCode> {
    let found = match which {
        Which::Active => match p.store.active_body(&mut p.flash) {
            Ok(Some((info, offset))) => Some((Some(info.seq), offset, info.len)),
            Ok(None) => factory_location(p)?.map(|(o, l)| (None, o, l)),
            Err(e) => return Err(fault(e)),
        },
        Which::Factory => factory_location(p)?.map(|(o, l)| (None, o, l)),
    };
    let (seq, offset, len) = found.ok_or(ErrorCode::NotFound)?;
    let bytes = p
        .flash
        .mapped(offset, len)
        .ok_or(ErrorCode::Store(StoreFault::Flash))?;
    Ok((seq, bytes))
}

fn factory_location<F: Flash>(p: &mut Persist<F>) -> Result<Option<(u32, u32)>, ErrorCode> {
    p.store.factory_body(&mut p.flash).map_err(fault)
}
