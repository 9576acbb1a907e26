//! The policy store's flash on mps2-an386: the board's 16 MiB PSRAM at
//! 0x2100_0000, driven as NOR flash. QEMU backs that PSRAM with a file when
//! started with `-machine mps2-an386,memory-backend=pm -object
//! memory-backend-file,id=pm,size=16M,mem-path=FILE,share=on`, so what is
//! written survives the QEMU process, and a SIGKILL of QEMU is a power cut
//! at whatever instruction it lands on (tests/tests/firmware_powercut.rs).
//!
//! NOR semantics, as on a real part: an erase sets a 4 KiB sector to 0xFF,
//! a program only clears bits (`old & new`), one 32-bit word at a time, and
//! each takes time (a busy loop of [`Psram::program_delay`] cycles per word
//! and 64 times that per sector erased), so a power cut can land inside a
//! write as it would on a chip.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use fixpo_firmware::persist::Flash;

/// Start of the PSRAM.
const BASE: usize = 0x2100_0000;
/// The store's share of it (the rest is unused).
pub const SIZE: usize = 256 * 1024;

/// An out-of-range or misaligned request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PsramError(NorFlashErrorKind);

impl defmt::Format for PsramError {
    fn format(&self, f: defmt::Formatter) {
        match self.0 {
            NorFlashErrorKind::NotAligned => defmt::write!(f, "not aligned"),
            NorFlashErrorKind::OutOfBounds => defmt::write!(f, "out of bounds"),
            _ => defmt::write!(f, "other"),
        }
    }
}

impl NorFlashError for PsramError {
    fn kind(&self) -> NorFlashErrorKind {
        self.0
    }
}

/// The PSRAM as NOR flash (the only handle to it: [`Psram::take`]).
pub struct Psram {
    /// Busy-loop cycles per programmed word (erase: 64× per sector).
    pub program_delay: u32,
}

impl Psram {
    /// The PSRAM's handle. The firmware uses the PSRAM for nothing else
    /// (memory.x places no section there).
    pub fn take(program_delay: u32) -> Self {
        Self { program_delay }
    }

    fn check(&self, offset: u32, len: usize, align: usize) -> Result<(), PsramError> {
        let offset = offset as usize;
        if offset % align != 0 || len % align != 0 {
            return Err(PsramError(NorFlashErrorKind::NotAligned));
        }
        match offset.checked_add(len) {
            Some(end) if end <= SIZE => Ok(()),
            _ => Err(PsramError(NorFlashErrorKind::OutOfBounds)),
        }
    }

    fn word(offset: usize) -> *mut u32 {
        (BASE + offset) as *mut u32
    }
}

impl ErrorType for Psram {
    type Error = PsramError;
}

impl ReadNorFlash for Psram {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        self.check(offset, bytes.len(), 1)?;
        for (i, b) in bytes.iter_mut().enumerate() {
            // SAFETY: in range (checked above); PSRAM is plain memory that
            // only this driver touches.
            *b = unsafe { ((BASE + offset as usize + i) as *const u8).read_volatile() };
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        SIZE
    }
}

impl NorFlash for Psram {
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = 4096;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if to < from {
            return Err(PsramError(NorFlashErrorKind::OutOfBounds));
        }
        self.check(from, (to - from) as usize, Self::ERASE_SIZE)?;
        for sector in (from as usize..to as usize).step_by(Self::ERASE_SIZE) {
            cortex_m::asm::delay(self.program_delay.saturating_mul(64));
            for w in (sector..sector + Self::ERASE_SIZE).step_by(4) {
                // SAFETY: in range and word-aligned (checked above).
                unsafe { Self::word(w).write_volatile(u32::MAX) };
            }
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.check(offset, bytes.len(), Self::WRITE_SIZE)?;
        for (i, chunk) in bytes.chunks_exact(4).enumerate() {
            let p = Self::word(offset as usize + 4 * i);
            let new = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            cortex_m::asm::delay(self.program_delay);
            // SAFETY: in range and word-aligned (checked above). NOR
            // programming only clears bits.
            unsafe { p.write_volatile(p.read_volatile() & new) };
        }
        Ok(())
    }
}

impl Flash for Psram {
    fn mapped(&self, offset: u32, len: u32) -> Option<&[u8]> {
        self.check(offset, len as usize, 1).ok()?;
        // SAFETY: in range; the bytes are read while `&self` is borrowed,
        // and every write goes through `&mut self`, so nothing writes them
        // meanwhile.
        Some(unsafe {
            core::slice::from_raw_parts((BASE + offset as usize) as *const u8, len as usize)
        })
    }
}
