//! The byte link to a device and its framing: a serial port (8N1) or a
//! unix socket (tests, QEMU's `-serial unix:PATH,server=on,wait=off`),
//! with frames written by [`fixpo_proto::encode`] and read back by
//! [`fixpo_proto::Decoder`].

use super::error::{DeviceError, Result};
use fixpo_proto::{Decoder, Feed, FrameError};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The longest a single blocking read waits, so that Ctrl-C is noticed
/// within this time.
const READ_SLICE: Duration = Duration::from_millis(50);

/// How long a write may block before the link counts as lost.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A byte stream to a device: a serial port or a unix socket.
pub trait Transport: Read + Write + Send {
    /// Sets how long the next reads wait for a byte (at least 1 ms).
    ///
    /// # Errors
    /// The operating system's.
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()>;
}

impl Transport for UnixStream {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        UnixStream::set_read_timeout(self, Some(timeout.max(Duration::from_millis(1))))
    }
}

impl Transport for Box<dyn serialport::SerialPort> {
    fn set_read_timeout(&mut self, timeout: Duration) -> io::Result<()> {
        self.set_timeout(timeout.max(Duration::from_millis(1)))
            .map_err(io::Error::from)
    }
}

/// Opens `port`: a unix socket when the path is one (connect to it), a
/// serial port otherwise (`baud`, 8 data bits, no parity, 1 stop bit, no
/// flow control; pending input is discarded).
///
/// # Errors
/// [`DeviceError::NoDevice`] when the path does not exist or cannot be
/// opened or connected to.
pub fn open(port: &Path, baud: u32) -> Result<Box<dyn Transport>> {
    let no_device = |reason: String| DeviceError::NoDevice {
        port: port.to_owned(),
        reason,
    };
    let meta = std::fs::metadata(port).map_err(|e| no_device(e.to_string()))?;
    if meta.file_type().is_socket() {
        let s = UnixStream::connect(port).map_err(|e| no_device(e.to_string()))?;
        s.set_write_timeout(Some(WRITE_TIMEOUT))
            .map_err(|e| no_device(e.to_string()))?;
        return Ok(Box::new(s));
    }
    let name = port
        .to_str()
        .ok_or_else(|| no_device("the path is not UTF-8".into()))?;
    let serial = serialport::new(name, baud)
        .data_bits(serialport::DataBits::Eight)
        .parity(serialport::Parity::None)
        .stop_bits(serialport::StopBits::One)
        .flow_control(serialport::FlowControl::None)
        .timeout(READ_SLICE)
        .open()
        .map_err(|e| no_device(e.to_string()))?;
    // Bytes that arrived before we opened belong to nobody.
    let _ = serial.clear(serialport::ClearBuffer::Input);
    Ok(Box::new(serial))
}

/// What [`Link::recv`] found.
#[derive(Debug)]
pub enum Incoming {
    /// A frame with a good CRC: its payload (postcard bytes).
    Frame(Vec<u8>),
    /// Bytes up to a delimiter that are not a frame.
    Bad(FrameError),
    /// Nothing complete before the deadline.
    Timeout,
}

/// A framed link: whole frames out, checked payloads in.
pub struct Link {
    io: Box<dyn Transport>,
    port: PathBuf,
    decoder: Decoder,
    /// Bytes read but not yet fed to the decoder (after a frame's
    /// delimiter).
    pending: Vec<u8>,
    interrupt: Option<Arc<AtomicBool>>,
}

impl Link {
    /// A link over `io`; `port` names it in error messages.
    pub fn new(io: Box<dyn Transport>, port: impl Into<PathBuf>) -> Self {
        Self {
            io,
            port: port.into(),
            decoder: Decoder::new(),
            pending: Vec::new(),
            interrupt: None,
        }
    }

    /// The port's path.
    pub fn port(&self) -> &Path {
        &self.port
    }

    /// While `flag` is set, [`Link::recv`] returns
    /// [`DeviceError::Interrupted`] within [`READ_SLICE`].
    pub fn set_interrupt(&mut self, flag: Arc<AtomicBool>) {
        self.interrupt = Some(flag);
    }

    /// Clears the interrupt flag.
    pub fn clear_interrupt(&mut self) {
        if let Some(f) = &self.interrupt {
            f.store(false, Ordering::SeqCst);
        }
    }

    /// Whether the interrupt flag is set.
    pub fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::SeqCst))
    }

    /// Writes `bytes` (one or more whole frames) and flushes.
    ///
    /// # Errors
    /// [`DeviceError::Io`].
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.io
            .write_all(bytes)
            .and_then(|()| self.io.flush())
            .map_err(|e| DeviceError::io(format!("cannot write to `{}`", self.port.display()), e))
    }

    /// The next frame, or [`Incoming::Timeout`] at `deadline`.
    ///
    /// # Errors
    /// [`DeviceError::Io`] when the read fails or the device closed the
    /// connection; [`DeviceError::Interrupted`] when the interrupt flag is
    /// set (checked at least every [`READ_SLICE`]).
    pub fn recv(&mut self, deadline: Instant) -> Result<Incoming> {
        loop {
            if !self.pending.is_empty() {
                let input = std::mem::take(&mut self.pending);
                match self.decoder.feed_raw(&input) {
                    Feed::Consumed => {}
                    Feed::Frame { result, remaining } => {
                        let got = match result {
                            Ok(payload) => Incoming::Frame(payload.to_vec()),
                            Err(e) => Incoming::Bad(e),
                        };
                        self.pending = remaining.to_vec();
                        return Ok(got);
                    }
                }
            }
            if self.interrupted() {
                return Err(DeviceError::Interrupted {
                    what: "stopped waiting for the device".into(),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(Incoming::Timeout);
            }
            let wait = (deadline - now).min(READ_SLICE);
            let read_err =
                |e| DeviceError::io(format!("cannot read from `{}`", self.port.display()), e);
            self.io.set_read_timeout(wait).map_err(read_err)?;
            let mut buf = [0u8; 512];
            match self.io.read(&mut buf) {
                Ok(0) => {
                    return Err(DeviceError::io(
                        format!(
                            "the device on `{}` closed the connection",
                            self.port.display()
                        ),
                        io::ErrorKind::UnexpectedEof.into(),
                    ));
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::TimedOut
                            | io::ErrorKind::WouldBlock
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => {
                    return Err(DeviceError::io(
                        format!("cannot read from `{}`", self.port.display()),
                        e,
                    ));
                }
            }
        }
    }
}
