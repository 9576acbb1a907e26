//! [`DeviceError`]: why a `fixpo device` operation failed, one line each,
//! with the process exit code the CLI uses for it.

use fixpo_proto::{Dims, ErrorCode};
use std::path::PathBuf;

/// Result of the device client's operations.
pub type Result<T> = std::result::Result<T, DeviceError>;

/// Why talking to a device failed. Every message fits on one line; in
/// every case the device's active policy is unchanged unless a push
/// reported `Committed` (the device guarantees it, docs/protocol.md).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The port could not be opened (no such path, permission, not a
    /// serial device or socket, nobody listening on the socket).
    #[error("no device at `{}`: {reason}", port.display())]
    NoDevice {
        /// The port given with `--port`.
        port: PathBuf,
        /// The operating system's reason.
        reason: String,
    },
    /// No answer to a request after every retry (or no report for the
    /// report timeout during an adaptation).
    #[error("no answer from the device to {what} after {tries} tries of {ms} ms each")]
    Timeout {
        /// The request ("Hello", "PushChunk at 512", …).
        what: String,
        /// Attempts made.
        tries: u32,
        /// The timeout of each attempt, in milliseconds.
        ms: u64,
    },
    /// The device speaks another protocol version.
    #[error(
        "wrong protocol version: the device speaks version {device}, this host version {host}; update the {}",
        if *device > *host { "host (fixpo)" } else { "firmware" }
    )]
    Version {
        /// The device's version.
        device: u16,
        /// This host's version, [`fixpo_proto::VERSION`].
        host: u16,
    },
    /// The policy file's shape is not the one the firmware was built for
    /// (found by the host before sending, or reported by the device).
    #[error(
        "dimension mismatch: the policy file is {}, the device runs {} policies",
        show_dims(file),
        show_dims(device)
    )]
    DimensionMismatch {
        /// The file's shape.
        file: Dims,
        /// The firmware's shape.
        device: Dims,
    },
    /// The policy file is longer than the device's store slot (`max` 0:
    /// the device has no store).
    #[error("{}", too_large(*len, *max))]
    TooLarge {
        /// Bytes of the file.
        len: u32,
        /// The longest file the device takes.
        max: u32,
    },
    /// The device is busy (an adaptation runs, or a push is in progress).
    #[error(
        "device busy: it refused {what} (an adaptation or a transfer is in progress; `fixpo device status` shows which)"
    )]
    Busy {
        /// The refused request.
        what: String,
    },
    /// The device refused a request for another reason.
    #[error("device refused {what}: {code}")]
    Refused {
        /// The refused request.
        what: String,
        /// The device's reason.
        code: ErrorCode,
    },
    /// The host cannot read the policy file to push.
    #[error("policy file `{}` is unusable: {reason}", path.display())]
    BadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A pulled file failed its whole-file CRC or is not a valid policy
    /// file; nothing was written.
    #[error("pulled {which} policy is corrupt: {reason}; nothing written")]
    PullCorrupt {
        /// "active" or "factory".
        which: &'static str,
        /// The check that failed.
        reason: String,
    },
    /// The device answered something that does not fit the protocol
    /// (a reply of the wrong kind, a chunk at another offset).
    #[error("unexpected answer from the device to {what}: {got}")]
    Protocol {
        /// The request.
        what: String,
        /// What came back.
        got: String,
    },
    /// Reading or writing the port or a local file failed, or the device
    /// closed the connection.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
    /// The device ended an adaptation with `Failed` (an update failed; the
    /// policy before it is kept).
    #[error(
        "the adaptation failed on the device after {updates} updates ({kept} kept); the policy before the failing update runs"
    )]
    AdaptFailed {
        /// Updates run.
        updates: u32,
        /// Updates kept.
        kept: u32,
    },
    /// Interrupted by Ctrl-C (after a push: aborted, the old policy runs).
    #[error("interrupted: {what}")]
    Interrupted {
        /// What was left behind.
        what: String,
    },
}

/// `3→32×32→1 Gaussian`.
pub(crate) fn show_dims(d: &Dims) -> String {
    format!("{}→{}×{}→{} {:?}", d.obs, d.hid, d.hid, d.act, d.kind)
}

fn too_large(len: u32, max: u32) -> String {
    if max == 0 {
        format!("the device has no policy store, so it cannot take a pushed file ({len} bytes)")
    } else {
        format!("policy file too large: {len} bytes, the device takes at most {max}")
    }
}

/// The exit codes of `fixpo device` (also in its `--help` and
/// docs/device.md). 1 is any other error (bad arguments are clap's 2).
pub mod exit {
    /// Success.
    pub const OK: u8 = 0;
    /// No device: the port cannot be opened.
    pub const NO_DEVICE: u8 = 3;
    /// No answer after every retry.
    pub const TIMEOUT: u8 = 4;
    /// Wrong protocol version.
    pub const VERSION: u8 = 5;
    /// Dimension mismatch.
    pub const DIMENSION_MISMATCH: u8 = 6;
    /// File too large (or no store).
    pub const TOO_LARGE: u8 = 7;
    /// Device busy.
    pub const BUSY: u8 = 8;
    /// Device refused for another reason.
    pub const REFUSED: u8 = 9;
    /// The policy file cannot be read.
    pub const BAD_FILE: u8 = 10;
    /// A pulled file failed its CRC or does not decode.
    pub const PULL_CORRUPT: u8 = 11;
    /// Unexpected answer (protocol violation).
    pub const PROTOCOL: u8 = 12;
    /// I/O error or connection lost.
    pub const IO: u8 = 13;
    /// The adaptation failed on the device.
    pub const ADAPT_FAILED: u8 = 14;
    /// Interrupted by Ctrl-C.
    pub const INTERRUPTED: u8 = 130;
}

impl DeviceError {
    /// The process exit code for this error (module [`exit`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::NoDevice { .. } => exit::NO_DEVICE,
            Self::Timeout { .. } => exit::TIMEOUT,
            Self::Version { .. } => exit::VERSION,
            Self::DimensionMismatch { .. } => exit::DIMENSION_MISMATCH,
            Self::TooLarge { .. } => exit::TOO_LARGE,
            Self::Busy { .. } => exit::BUSY,
            Self::Refused { .. } => exit::REFUSED,
            Self::BadFile { .. } => exit::BAD_FILE,
            Self::PullCorrupt { .. } => exit::PULL_CORRUPT,
            Self::Protocol { .. } => exit::PROTOCOL,
            Self::Io { .. } => exit::IO,
            Self::AdaptFailed { .. } => exit::ADAPT_FAILED,
            Self::Interrupted { .. } => exit::INTERRUPTED,
        }
    }

    /// A [`DeviceError::Io`].
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    /// The error for a device's refusal `code` of the request `what`.
    /// `file` is the pushed file's shape, for a dimension mismatch.
    pub fn from_code(what: impl Into<String>, code: ErrorCode, file: Option<Dims>) -> Self {
        let what = what.into();
        match code {
            ErrorCode::Version { device } => Self::Version {
                device,
                host: fixpo_proto::VERSION,
            },
            ErrorCode::DimensionMismatch { device } => match file {
                Some(file) => Self::DimensionMismatch { file, device },
                None => Self::Refused { what, code },
            },
            ErrorCode::Busy => Self::Busy { what },
            code => Self::Refused { what, code },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixpo_proto::Kind;

    #[test]
    fn every_message_is_one_line_and_codes_are_distinct() {
        let d = Dims {
            obs: 3,
            hid: 32,
            act: 1,
            kind: Kind::Gaussian,
        };
        let errors = [
            DeviceError::NoDevice {
                port: "/dev/ttyACM0".into(),
                reason: "No such file or directory".into(),
            },
            DeviceError::Timeout {
                what: "Hello".into(),
                tries: 6,
                ms: 2000,
            },
            DeviceError::Version { device: 2, host: 1 },
            DeviceError::DimensionMismatch { file: d, device: d },
            DeviceError::TooLarge { len: 10, max: 5 },
            DeviceError::Busy {
                what: "PushBegin".into(),
            },
            DeviceError::Refused {
                what: "PullBegin".into(),
                code: ErrorCode::NotFound,
            },
            DeviceError::BadFile {
                path: "x.fxp".into(),
                reason: "truncated".into(),
            },
            DeviceError::PullCorrupt {
                which: "active",
                reason: "CRC".into(),
            },
            DeviceError::Protocol {
                what: "Status".into(),
                got: "Done".into(),
            },
            DeviceError::io("reading", std::io::Error::other("gone")),
            DeviceError::AdaptFailed {
                updates: 3,
                kept: 2,
            },
            DeviceError::Interrupted {
                what: "push aborted".into(),
            },
        ];
        let mut codes: Vec<u8> = errors.iter().map(DeviceError::exit_code).collect();
        for e in &errors {
            let s = e.to_string();
            assert!(!s.contains('\n') && !s.is_empty(), "{s}");
        }
        assert!(!codes.contains(&0) && !codes.contains(&1) && !codes.contains(&2));
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        assert!(
            DeviceError::Version { device: 2, host: 1 }
                .to_string()
                .contains("update the host")
        );
    }
}
