//! Host services over semihosting: exit status, command line, file reads,
//! a trace file.
//!
//! Only for QEMU and debugger-attached runs: on a bare board without a
//! debugger, a semihosting call traps (HardFault). The defmt transport uses
//! semihosting too, so this firmware already assumes a host.

// File reads are used only by the `host-policy` feature for now.
#![cfg_attr(not(feature = "host-policy"), allow(dead_code))]

use cortex_m_semihosting::{debug, nr};

/// Ends the run; QEMU exits with status 0 (`success`) or 1.
pub fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    // Only reached if a debugger resumes us.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Why a host file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum HostIoError {
    /// The path is longer than the firmware's path buffer.
    PathTooLong,
    /// The host refused to open the file.
    Open,
    /// The host could not report the file's length.
    Length,
    /// The file is larger than the buffer given.
    TooLarge {
        /// File size in bytes.
        len: usize,
    },
    /// Fewer bytes arrived than the file holds.
    Read,
    /// The host took fewer bytes than written.
    Write,
}

/// The command line QEMU passes (`-semihosting-config arg=...`), words
/// separated by spaces, written into `buf`.
pub fn cmdline(buf: &mut [u8]) -> Option<&str> {
    // SYS_GET_CMDLINE takes {buffer, capacity} and rewrites the capacity
    // with the length written (excluding the NUL).
    // The block is passed as a mutable pointer: the host writes into it.
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: `block` describes `buf`, which is valid for writes of
    // `buf.len()` bytes for the duration of the call; both outlive it.
    let rc =
        unsafe { cortex_m_semihosting::syscall1(nr::GET_CMDLINE, block.as_mut_ptr() as usize) };
    if rc != 0 {
        return None;
    }
    let len = block[1].min(buf.len());
    // Stop at a NUL too, in case a host reports the capacity.
    let len = buf[..len].iter().position(|&b| b == 0).unwrap_or(len);
    core::str::from_utf8(&buf[..len]).ok()
}

/// Reads the host file at `path` into `buf`; returns its length.
///
/// # Errors
/// See [`HostIoError`].
pub fn read_file(path: &str, buf: &mut [u8]) -> Result<usize, HostIoError> {
    let handle = open(path, nr::open::R_BINARY)?;
    let result = read_open(handle, buf);
    // SAFETY: `handle` came from SYS_OPEN and is closed once.
    unsafe { cortex_m_semihosting::syscall(nr::CLOSE, &[handle]) };
    result
}

fn read_open(handle: usize, buf: &mut [u8]) -> Result<usize, HostIoError> {
    // SAFETY: SYS_FLEN only reads the handle.
    let len = unsafe { cortex_m_semihosting::syscall(nr::FLEN, &[handle]) };
    if len as isize == -1 {
        return Err(HostIoError::Length);
    }
    if len > buf.len() {
        return Err(HostIoError::TooLarge { len });
    }
    // SAFETY: the host writes at most `len` <= `buf.len()` bytes into `buf`.
    let not_read = unsafe {
        cortex_m_semihosting::syscall(nr::READ, &[handle, buf.as_mut_ptr() as usize, len])
    };
    if not_read != 0 {
        return Err(HostIoError::Read);
    }
    Ok(len)
}

/// Opens the host file at `path` in semihosting mode `mode`.
fn open(path: &str, mode: usize) -> Result<usize, HostIoError> {
    let mut cpath = [0u8; 256];
    if path.len() >= cpath.len() {
        return Err(HostIoError::PathTooLong);
    }
    cpath[..path.len()].copy_from_slice(path.as_bytes());
    // SAFETY: SYS_OPEN reads a NUL-terminated string of the given length
    // from `cpath`, which lives across the call.
    let handle = unsafe {
        cortex_m_semihosting::syscall(nr::OPEN, &[cpath.as_ptr() as usize, mode, path.len()])
    };
    if handle as isize == -1 {
        return Err(HostIoError::Open);
    }
    Ok(handle)
}

/// A host file written from the start, record by record (left open: the
/// run ends with the firmware, and the host closes it).
pub struct TraceFile(usize);

impl TraceFile {
    /// Creates (or truncates) the host file at `path`.
    ///
    /// # Errors
    /// See [`HostIoError`].
    pub fn create(path: &str) -> Result<Self, HostIoError> {
        open(path, nr::open::W_TRUNC_BINARY).map(Self)
    }

    /// Appends `bytes`.
    ///
    /// # Errors
    /// [`HostIoError::Write`] when the host took fewer bytes.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), HostIoError> {
        // SAFETY: the host reads `bytes.len()` bytes from `bytes`, which
        // lives across the call.
        let not_written = unsafe {
            cortex_m_semihosting::syscall(
                nr::WRITE,
                &[self.0, bytes.as_ptr() as usize, bytes.len()],
            )
        };
        if not_written == 0 {
            Ok(())
        } else {
            Err(HostIoError::Write)
        }
    }

    /// Appends `xs` as little-endian f32 bytes, in chunks (no large stack
    /// buffer).
    ///
    /// # Errors
    /// As [`TraceFile::write`].
    pub fn write_f32s(&mut self, xs: &[f32]) -> Result<(), HostIoError> {
        let mut buf = [0u8; 256];
        for chunk in xs.chunks(buf.len() / 4) {
            for (b, x) in buf.chunks_exact_mut(4).zip(chunk) {
                b.copy_from_slice(&x.to_le_bytes());
            }
            self.write(&buf[..4 * chunk.len()])?;
        }
        Ok(())
    }
}
