//! [`Client`]: the host's side of the protocol (docs/protocol.md,
//! "Sequences"), one request outstanding at a time.

use super::error::{DeviceError, Result};
use super::link::{Incoming, Link};
use super::{PolicyFile, which_name};
use fixpo_proto::transfer::{PullError, PullReceiver, push_chunk};
use fixpo_proto::{
    AdaptSettings, Command, DeviceInfo, ErrorCode, Finished, MAX_FRAME, NO_ID, Reply, Request,
    ResponseError, Status, UpdateReport, Which, encode, parse_response,
};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// Timeouts and retries of a [`Client`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// How long to wait for the answer to one request before resending it.
    pub timeout: Duration,
    /// Resends of a request before giving up (so `retries + 1` tries).
    pub retries: u32,
    /// How long an adaptation may go without a report (an update can keep
    /// the device deaf for seconds) before the host asks `Status`.
    pub report_timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(2000),
            retries: 5,
            report_timeout: Duration::from_secs(60),
        }
    }
}

/// The largest file a pull accepts (a device announcing more is refused
/// before anything is allocated).
pub const MAX_PULL: u32 = 16 << 20;

/// A reply with its id, owning the bytes a `Chunk` carries.
#[derive(Debug)]
struct Answer {
    id: u16,
    /// The reply; a `Chunk`'s data is moved to `data`.
    reply: Reply<'static>,
    data: Vec<u8>,
    /// How many times the request was sent before this answer.
    tries: u32,
}

impl Answer {
    fn from_payload(payload: &[u8]) -> std::result::Result<Self, ResponseError> {
        let resp = parse_response(payload)?;
        let (reply, data) = match resp.reply {
            Reply::Chunk { offset, data } => (Reply::Chunk { offset, data: &[] }, data.to_vec()),
            Reply::Hello(i) => (Reply::Hello(i), Vec::new()),
            Reply::Error(e) => (Reply::Error(e), Vec::new()),
            Reply::Status(s) => (Reply::Status(s), Vec::new()),
            Reply::Ack { next } => (Reply::Ack { next }, Vec::new()),
            Reply::Committed { seq } => (Reply::Committed { seq }, Vec::new()),
            Reply::PullInfo {
                which,
                seq,
                len,
                crc,
            } => (
                Reply::PullInfo {
                    which,
                    seq,
                    len,
                    crc,
                },
                Vec::new(),
            ),
            Reply::Done => (Reply::Done, Vec::new()),
            Reply::Report(r) => (Reply::Report(r), Vec::new()),
            Reply::Finished(f) => (Reply::Finished(f), Vec::new()),
        };
        Ok(Self {
            id: resp.id,
            reply,
            data,
            tries: 0,
        })
    }
}

/// A short name of a reply, for error messages.
fn reply_name(r: &Reply<'_>) -> String {
    match r {
        Reply::Hello(_) => "Hello".into(),
        Reply::Error(e) => format!("Error ({e})"),
        Reply::Status(_) => "Status".into(),
        Reply::Ack { next } => format!("Ack {{ next: {next} }}"),
        Reply::Committed { seq } => format!("Committed {{ seq: {seq} }}"),
        Reply::PullInfo { .. } => "PullInfo".into(),
        Reply::Chunk { offset, .. } => format!("Chunk at {offset}"),
        Reply::Done => "Done".into(),
        Reply::Report(_) => "Report".into(),
        Reply::Finished(_) => "Finished".into(),
    }
}

/// A short name of a command, for error messages.
fn command_name(c: &Command<'_>) -> String {
    match c {
        Command::Hello => "Hello".into(),
        Command::Status => "Status".into(),
        Command::PushBegin { .. } => "PushBegin".into(),
        Command::PushChunk { offset, .. } => format!("PushChunk at {offset}"),
        Command::PushCommit => "PushCommit".into(),
        Command::PushAbort => "PushAbort".into(),
        Command::PullBegin { which } => format!("PullBegin ({})", which_name(*which)),
        Command::PullChunk { offset, .. } => format!("PullChunk at {offset}"),
        Command::Adapt(_) => "Adapt".into(),
        Command::Stop => "Stop".into(),
        Command::Reset { .. } => "Reset".into(),
    }
}

/// What one adaptation's stream delivered: a report or the end.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Event {
    /// One update (its id: the `Adapt` that started it).
    Report(UpdateReport),
    /// The adaptation ended.
    Finished(Finished),
}

/// What a push achieved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pushed {
    /// The store record the file was committed as.
    pub seq: u32,
    /// Bytes of the file.
    pub len: u32,
    /// From `PushBegin` to `Committed`.
    pub elapsed: Duration,
    /// Requests resent after a timeout or a garbled frame.
    pub resends: u32,
}

/// What a pull brought back.
#[derive(Clone, Debug, PartialEq)]
pub struct Pulled {
    /// Which policy.
    pub which: Which,
    /// Its store sequence number (`None`: not from the store).
    pub seq: Option<u32>,
    /// The file, CRC checked and decodable by fixpo-core.
    pub bytes: Vec<u8>,
    /// From `PullBegin` to the last chunk.
    pub elapsed: Duration,
}

/// The host's end of the protocol over one [`Link`]: numbers requests
/// from 1, keeps one outstanding, resends it after a timeout or a garbled
/// frame, and checks the protocol version of every answer.
pub struct Client {
    link: Link,
    opts: ClientOptions,
    last_id: u16,
    info: DeviceInfo,
    /// Reports and ends of an adaptation that arrived while a request was
    /// outstanding (`Status` or `Stop` during an adaptation).
    queued: VecDeque<(u16, Event)>,
    resends: u32,
}

impl Client {
    /// Opens `port` ([`super::link::open`]) and says hello
    /// ([`Client::start`]).
    ///
    /// # Errors
    /// [`DeviceError::NoDevice`], then as [`Client::start`].
    pub fn connect(
        port: &Path,
        baud: u32,
        opts: ClientOptions,
        interrupt: Option<Arc<AtomicBool>>,
    ) -> Result<Self> {
        let io = super::link::open(port, baud)?;
        let mut link = Link::new(io, port);
        if let Some(flag) = interrupt {
            link.set_interrupt(flag);
        }
        Self::start(link, opts)
    }

    /// Over an open link: sends a lone `0x00` (the device drops any
    /// partial frame), then `Hello`, and checks the protocol version.
    ///
    /// # Errors
    /// [`DeviceError::Version`], [`DeviceError::Timeout`],
    /// [`DeviceError::Io`], [`DeviceError::Protocol`].
    pub fn start(mut link: Link, opts: ClientOptions) -> Result<Self> {
        link.send(&[0])?;
        let placeholder = DeviceInfo {
            protocol: fixpo_proto::VERSION,
            device_id: [0; 16],
            firmware: fixpo_proto::FirmwareVersion {
                major: 0,
                minor: 0,
                patch: 0,
            },
            dims: fixpo_proto::Dims {
                obs: 0,
                hid: 0,
                act: 0,
                kind: fixpo_proto::Kind::Gaussian,
            },
            active_seq: None,
            factory_seq: None,
            eps_kl: 0.0,
            eps_total: None,
            max_file: 0,
        };
        let mut client = Self {
            link,
            opts,
            last_id: 0,
            info: placeholder,
            queued: VecDeque::new(),
            resends: 0,
        };
        client.info = client.hello()?;
        Ok(client)
    }

    /// The device's answer to the last `Hello`.
    pub fn info(&self) -> &DeviceInfo {
        &self.info
    }

    /// The port's path.
    pub fn port(&self) -> &Path {
        self.link.port()
    }

    /// Requests resent so far (after a timeout or a garbled frame).
    pub fn resends(&self) -> u32 {
        self.resends
    }

    /// The next request id: 1, 2, …, 65535, 1, … (0 is [`NO_ID`]).
    fn next_id(&mut self) -> u16 {
        self.last_id = self.last_id.checked_add(1).unwrap_or(1);
        self.last_id
    }

    /// Sends `cmd` and waits for the answer with its id: stop-and-wait,
    /// resending the same frame after a timeout, a garbled frame or the
    /// device's `Error(Frame)` with [`NO_ID`]. Reports and ends of an
    /// adaptation with another id are queued for [`Client::next_event`];
    /// other stray answers are dropped.
    fn request(&mut self, cmd: Command<'_>) -> Result<Answer> {
        let what = command_name(&cmd);
        let id = self.next_id();
        let mut buf = [0u8; MAX_FRAME];
        let frame =
            encode(&Request::new(id, cmd), &mut buf).map_err(|e| DeviceError::Protocol {
                what: what.clone(),
                got: format!("cannot encode the request: {e}"),
            })?;
        let frame = frame.to_vec();
        let tries = self.opts.retries.saturating_add(1);
        for attempt in 1..=tries {
            if attempt > 1 {
                self.resends += 1;
            }
            self.link.send(&frame)?;
            let deadline = Instant::now() + self.opts.timeout;
            'wait: loop {
                let payload = match self.link.recv(deadline)? {
                    Incoming::Timeout => break 'wait,
                    // Possibly our answer, garbled: ask again now.
                    Incoming::Bad(_) => break 'wait,
                    Incoming::Frame(p) => p,
                };
                let answer = match Answer::from_payload(&payload) {
                    Ok(a) => a,
                    Err(ResponseError::Version { device, .. }) => {
                        return Err(DeviceError::Version {
                            device,
                            host: fixpo_proto::VERSION,
                        });
                    }
                    Err(_) => break 'wait,
                };
                match answer.reply {
                    Reply::Error(ErrorCode::Version { device }) => {
                        return Err(DeviceError::Version {
                            device,
                            host: fixpo_proto::VERSION,
                        });
                    }
                    Reply::Error(ErrorCode::Frame(_)) if answer.id == NO_ID => break 'wait,
                    _ if answer.id == id => {
                        return Ok(Answer {
                            tries: attempt,
                            ..answer
                        });
                    }
                    Reply::Report(r) => self.queue(answer.id, Event::Report(r)),
                    Reply::Finished(f) => self.queue(answer.id, Event::Finished(f)),
                    _ => {} // a late answer to an earlier request
                }
            }
        }
        Err(DeviceError::Timeout {
            what,
            tries,
            ms: u64::try_from(self.opts.timeout.as_millis()).unwrap_or(u64::MAX),
        })
    }

    fn queue(&mut self, id: u16, e: Event) {
        // Bounded: a host that never reads events must not grow forever.
        if self.queued.len() >= 4096 {
            self.queued.pop_front();
        }
        self.queued.push_back((id, e));
    }

    /// `Hello` → the device's [`DeviceInfo`] (also kept for
    /// [`Client::info`]).
    ///
    /// # Errors
    /// [`DeviceError::Version`] when the device speaks another protocol
    /// version; [`DeviceError::Timeout`], [`DeviceError::Io`],
    /// [`DeviceError::Protocol`].
    pub fn hello(&mut self) -> Result<DeviceInfo> {
        let a = self.request(Command::Hello)?;
        match a.reply {
            Reply::Hello(info) if info.protocol != fixpo_proto::VERSION => {
                Err(DeviceError::Version {
                    device: info.protocol,
                    host: fixpo_proto::VERSION,
                })
            }
            Reply::Hello(info) => {
                self.info = info;
                Ok(info)
            }
            other => Err(unexpected("Hello", &other)),
        }
    }

    /// `Status` → what the device is doing.
    ///
    /// # Errors
    /// As [`Client::hello`].
    pub fn status(&mut self) -> Result<Status> {
        let a = self.request(Command::Status)?;
        match a.reply {
            Reply::Status(s) => Ok(s),
            Reply::Error(code) => Err(DeviceError::from_code("Status", code, None)),
            other => Err(unexpected("Status", &other)),
        }
    }

    /// Pushes `file` and commits it: checks its shape against the
    /// device's and its length against `max_file` before sending anything,
    /// then `PushBegin`, one `PushChunk` per `Ack { next }` (calling
    /// `progress(next, len)`), `PushCommit`. If the interrupt flag is set
    /// mid-push, sends `PushAbort` (the old policy stays) and returns
    /// [`DeviceError::Interrupted`].
    ///
    /// # Errors
    /// [`DeviceError::DimensionMismatch`], [`DeviceError::TooLarge`] (both
    /// local, before sending), [`DeviceError::Busy`],
    /// [`DeviceError::Refused`], [`DeviceError::Timeout`],
    /// [`DeviceError::Protocol`], [`DeviceError::Io`],
    /// [`DeviceError::Interrupted`].
    pub fn push(
        &mut self,
        file: &PolicyFile,
        mut progress: impl FnMut(u32, u32),
    ) -> Result<Pushed> {
        let device = self.info.dims;
        if file.dims != device {
            return Err(DeviceError::DimensionMismatch {
                file: file.dims,
                device,
            });
        }
        let len = u32::try_from(file.bytes.len()).unwrap_or(u32::MAX);
        if len > self.info.max_file {
            return Err(DeviceError::TooLarge {
                len,
                max: self.info.max_file,
            });
        }
        let resends = self.resends;
        let start = Instant::now();
        let result = self.push_inner(file, len, &mut progress);
        match result {
            Ok(seq) => Ok(Pushed {
                seq,
                len,
                elapsed: start.elapsed(),
                resends: self.resends - resends,
            }),
            Err(DeviceError::Interrupted { .. }) => Err(self.abort_push()),
            Err(e) => Err(e),
        }
    }

    fn push_inner(
        &mut self,
        file: &PolicyFile,
        len: u32,
        progress: &mut impl FnMut(u32, u32),
    ) -> Result<u32> {
        let before = self.info.active_seq;
        let begin = Command::PushBegin {
            len,
            crc: fixpo_proto::crc32(&file.bytes),
            dims: file.dims,
        };
        match self.request(begin)?.reply {
            Reply::Ack { next: 0 } => {}
            Reply::Error(ErrorCode::TooLarge { max }) => {
                return Err(DeviceError::TooLarge { len, max });
            }
            Reply::Error(code) => {
                return Err(DeviceError::from_code("PushBegin", code, Some(file.dims)));
            }
            other => return Err(unexpected("PushBegin", &other)),
        }
        progress(0, len);
        let mut next = 0u32;
        // A device that acknowledges without progress must not keep us
        // here forever.
        let mut stalls = 0u32;
        while let Some(chunk) = push_chunk(&file.bytes, next) {
            if self.link.interrupted() {
                return Err(DeviceError::Interrupted {
                    what: String::new(),
                });
            }
            let what = command_name(&chunk);
            match self.request(chunk)?.reply {
                Reply::Ack { next: n } if n > next && n <= len => {
                    next = n;
                    stalls = 0;
                }
                Reply::Ack { next: n } if n <= len => {
                    next = n;
                    stalls += 1;
                }
                Reply::Error(ErrorCode::Offset { expected }) if expected <= len => {
                    next = expected;
                    stalls += 1;
                }
                Reply::Error(code) => {
                    return Err(DeviceError::from_code(what, code, Some(file.dims)));
                }
                other => return Err(unexpected(&what, &other)),
            }
            if stalls > self.opts.retries {
                return Err(DeviceError::Protocol {
                    what,
                    got: format!("no progress past byte {next}"),
                });
            }
            progress(next, len);
        }
        if self.link.interrupted() {
            return Err(DeviceError::Interrupted {
                what: String::new(),
            });
        }
        let a = self.request(Command::PushCommit)?;
        match a.reply {
            Reply::Committed { seq } => Ok(seq),
            // The commit was resent: the first one may have committed and
            // its answer been lost. The device's newest record tells.
            Reply::Error(ErrorCode::NoTransfer) if a.tries > 1 => {
                let info = self.hello()?;
                match info.active_seq {
                    Some(seq) if info.active_seq != before => Ok(seq),
                    _ => Err(DeviceError::Refused {
                        what: "PushCommit".into(),
                        code: ErrorCode::NoTransfer,
                    }),
                }
            }
            Reply::Error(code) => Err(DeviceError::from_code("PushCommit", code, Some(file.dims))),
            other => Err(unexpected("PushCommit", &other)),
        }
    }

    /// After Ctrl-C mid-push: `PushAbort` with one short try (the device
    /// also drops an uncommitted push by itself), then the error to
    /// report.
    fn abort_push(&mut self) -> DeviceError {
        let saved = self.opts;
        self.opts.retries = 0;
        self.opts.timeout = self.opts.timeout.min(Duration::from_millis(500));
        self.link.clear_interrupt();
        let aborted = matches!(
            self.request(Command::PushAbort).map(|a| a.reply),
            Ok(Reply::Done)
        );
        self.opts = saved;
        DeviceError::Interrupted {
            what: if aborted {
                "push aborted; the device keeps its old policy".into()
            } else {
                "push abandoned (no answer to PushAbort); the device keeps its old policy".into()
            },
        }
    }

    /// Pulls the active or the factory policy: `PullInfo`, then
    /// `PullChunk`s until every byte arrived; checks the whole-file CRC and
    /// that fixpo-core reads the file.
    ///
    /// # Errors
    /// [`DeviceError::PullCorrupt`] (CRC or decoder), [`DeviceError::Busy`]
    /// (active policy during an adaptation), [`DeviceError::Refused`]
    /// (nothing to pull), [`DeviceError::Timeout`],
    /// [`DeviceError::Protocol`], [`DeviceError::Io`].
    pub fn pull(&mut self, which: Which, mut progress: impl FnMut(u32, u32)) -> Result<Pulled> {
        let start = Instant::now();
        let (seq, len, crc) = match self.request(Command::PullBegin { which })?.reply {
            Reply::PullInfo {
                which: w,
                seq,
                len,
                crc,
            } if w == which => (seq, len, crc),
            Reply::Error(code) => return Err(DeviceError::from_code("PullBegin", code, None)),
            other => return Err(unexpected("PullBegin", &other)),
        };
        if len > MAX_PULL {
            return Err(DeviceError::Protocol {
                what: "PullBegin".into(),
                got: format!("a file of {len} bytes (at most {MAX_PULL} expected)"),
            });
        }
        let mut bytes = vec![0u8; len as usize];
        let mut rx = PullReceiver::new(len, crc);
        progress(0, len);
        while !rx.is_done() {
            if self.link.interrupted() {
                return Err(DeviceError::Interrupted {
                    what: "pull stopped; nothing written".into(),
                });
            }
            let offset = rx.next();
            let what = format!("PullChunk at {offset}");
            let a = self.request(Command::PullChunk { which, offset })?;
            match a.reply {
                Reply::Chunk { offset: o, .. } => {
                    rx.chunk(o, &a.data, &mut bytes)
                        .map_err(|e| DeviceError::Protocol {
                            what: what.clone(),
                            got: e.to_string(),
                        })?;
                }
                Reply::Error(code) => return Err(DeviceError::from_code(what, code, None)),
                other => return Err(unexpected(&what, &other)),
            }
            progress(rx.next(), len);
        }
        let name = which_name(which);
        match rx.finish() {
            Ok(()) => {}
            Err(PullError::BadCrc) => {
                return Err(DeviceError::PullCorrupt {
                    which: name,
                    reason: format!("the bytes received fail the announced CRC {crc:08x}"),
                });
            }
            Err(e) => {
                return Err(DeviceError::Protocol {
                    what: "PullChunk".into(),
                    got: e.to_string(),
                });
            }
        }
        fixpo_core::file::read_header(&bytes).map_err(|e| DeviceError::PullCorrupt {
            which: name,
            reason: e.to_string(),
        })?;
        Ok(Pulled {
            which,
            seq,
            bytes,
            elapsed: start.elapsed(),
        })
    }

    /// Starts an adaptation (`Adapt` → `Done`) and returns its id, the id
    /// of its reports; read them with [`Client::next_event`].
    ///
    /// # Errors
    /// [`DeviceError::Busy`] (an adaptation or a transfer runs),
    /// [`DeviceError::Refused`], [`DeviceError::Timeout`],
    /// [`DeviceError::Protocol`], [`DeviceError::Io`].
    pub fn start_adapt(&mut self, settings: AdaptSettings) -> Result<u16> {
        let a = self.request(Command::Adapt(settings))?;
        match a.reply {
            Reply::Done => Ok(a.id),
            // Resent after a lost `Done`: the first `Adapt` may be the
            // adaptation the device is busy with.
            Reply::Error(ErrorCode::Busy) if a.tries > 1 => {
                let ours = self.queued.iter().any(|(id, _)| *id == a.id)
                    || matches!(
                        self.status()?.mode,
                        fixpo_proto::Mode::Adapting { of, .. } if of == settings.updates
                    );
                if ours {
                    Ok(a.id)
                } else {
                    Err(DeviceError::Busy {
                        what: "Adapt".into(),
                    })
                }
            }
            Reply::Error(code) => Err(DeviceError::from_code("Adapt", code, None)),
            other => Err(unexpected("Adapt", &other)),
        }
    }

    /// The next report or end of an adaptation: of the adaptation `id`,
    /// or of any (`None`, for watching one another host started). When
    /// nothing arrives for the report timeout, asks `Status` (the device
    /// may be deaf while an update computes) and keeps waiting while the
    /// device says it adapts.
    ///
    /// # Errors
    /// [`DeviceError::Timeout`] when the device stops answering or no
    /// longer adapts without a `Finished` having arrived;
    /// [`DeviceError::Interrupted`] on Ctrl-C; [`DeviceError::Io`],
    /// [`DeviceError::Version`].
    pub fn next_event(&mut self, id: Option<u16>) -> Result<(u16, Event)> {
        if let Some(pos) = self
            .queued
            .iter()
            .position(|(i, _)| id.is_none_or(|want| *i == want))
            && let Some(e) = self.queued.remove(pos)
        {
            return Ok(e);
        }
        let mut idle_checks = 0u32;
        loop {
            let deadline = Instant::now() + self.opts.report_timeout;
            loop {
                let payload = match self.link.recv(deadline)? {
                    Incoming::Timeout => break,
                    Incoming::Bad(_) => continue, // a report lost: Finished counts it
                    Incoming::Frame(p) => p,
                };
                let answer = match Answer::from_payload(&payload) {
                    Ok(a) => a,
                    Err(ResponseError::Version { device, .. }) => {
                        return Err(DeviceError::Version {
                            device,
                            host: fixpo_proto::VERSION,
                        });
                    }
                    Err(_) => continue,
                };
                if id.is_some_and(|want| want != answer.id) {
                    continue;
                }
                match answer.reply {
                    Reply::Report(r) => return Ok((answer.id, Event::Report(r))),
                    Reply::Finished(f) => return Ok((answer.id, Event::Finished(f))),
                    _ => {}
                }
            }
            // Silence: is the device still there, and still adapting?
            let status = self.status()?;
            let adapting = matches!(status.mode, fixpo_proto::Mode::Adapting { .. });
            if let Some(pos) = self
                .queued
                .iter()
                .position(|(i, _)| id.is_none_or(|want| *i == want))
                && let Some(e) = self.queued.remove(pos)
            {
                return Ok(e);
            }
            if !adapting && id.is_some() {
                idle_checks += 1;
                // The Finished was lost (or the device rebooted).
                if idle_checks >= 2 {
                    return Err(DeviceError::Timeout {
                        what: "the adaptation's end (the device no longer adapts)".into(),
                        tries: idle_checks,
                        ms: u64::try_from(self.opts.report_timeout.as_millis()).unwrap_or(u64::MAX),
                    });
                }
            }
        }
    }

    /// `Stop`: the adaptation ends after the update in progress; its
    /// `Finished` follows ([`Client::next_event`]).
    ///
    /// # Errors
    /// As [`Client::status`].
    pub fn stop(&mut self) -> Result<()> {
        match self.request(Command::Stop)?.reply {
            Reply::Done => Ok(()),
            Reply::Error(code) => Err(DeviceError::from_code("Stop", code, None)),
            other => Err(unexpected("Stop", &other)),
        }
    }

    /// Clears the interrupt flag (after the first Ctrl-C, to send `Stop`
    /// and go on waiting for the adaptation's `Finished`; a second Ctrl-C
    /// sets it again).
    pub fn clear_interrupt(&mut self) {
        self.link.clear_interrupt();
    }

    /// `Reset`: the device answers `Done` and reboots (with `factory`,
    /// after committing a copy of its factory policy).
    ///
    /// # Errors
    /// [`DeviceError::Busy`], [`DeviceError::Refused`] (e.g. no factory
    /// record), [`DeviceError::Timeout`], [`DeviceError::Io`].
    pub fn reset(&mut self, factory: bool) -> Result<()> {
        match self.request(Command::Reset { factory })?.reply {
            Reply::Done => Ok(()),
            Reply::Error(code) => Err(DeviceError::from_code("Reset", code, None)),
            other => Err(unexpected("Reset", &other)),
        }
    }
}

fn unexpected(what: &str, got: &Reply<'_>) -> DeviceError {
    DeviceError::Protocol {
        what: what.into(),
        got: reply_name(got),
    }
}
