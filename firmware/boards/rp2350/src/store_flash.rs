//! The policy store's flash on the Pico 2: a range of its 4 MiB QSPI flash
//! (memory.x: `__store_start` / `__store_end`), erased and programmed with
//! the RP2350 boot ROM's low-level flash functions (`rp235x_hal::rom_data`)
//! and read in place through XIP at 0x1000_0000 + address.
//!
//! While the ROM erases or programs, the QMI is in direct mode and XIP
//! (code and data in flash) is unreadable, so that stretch runs from RAM
//! with interrupts off: [`ram_erase`] / [`ram_program`] live in `.data`
//! (cortex-m-rt copies them to SRAM at reset), touch nothing in flash
//! (ROM function pointers and QMI register addresses are looked up and
//! passed in beforehand; no calls into `.text`, no jump tables, no
//! `memcpy`), and do: `connect_internal_flash`, `flash_exit_xip`, the
//! erase or program, `flash_flush_cache` (which also invalidates the XIP
//! cache, so [`Flash::mapped`] reads the new bytes), then restore the QMI
//! window-0 read setup (`M0_TIMING`, `M0_RFMT`, `M0_RCMD`) the boot ROM
//! chose (`flash_exit_xip` leaves a slow 03h read at CLKDIV 12; the ROM's
//! XIP modes keep the flash in serial command state, so the QMI registers
//! are the whole XIP setup). The data to program is first copied page by
//! page into a RAM buffer: the caller's bytes may be in flash (the policy
//! region, at provisioning).
//!
//! Offsets are storage addresses: the image has no partition table, so the
//! boot ROM's runtime-to-storage translation is the identity.
//!
//! Write unit: a 256-byte page (the ROM's program granularity); erase
//! unit: a 4 KiB sector. A bank erase goes 64 KiB block by block (D8h
//! where aligned, else 4 KiB sectors; the ROM picks), feeding the watchdog
//! before each block: a W25Q-class part takes up to 2 s per 64 KiB block
//! at worst, within the store-time watchdog period (src/main.rs).

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use fixpo_firmware::persist::Flash;
use rp235x_hal::pac;
use rp235x_hal::rom_data;

/// XIP base: flash offset 0 is read here.
const XIP_BASE: u32 = 0x1000_0000;
/// The Pico 2's flash size.
const FLASH_SIZE: u32 = 4 * 1024 * 1024;
/// Program unit.
pub const PAGE: usize = 256;
/// Erase unit.
pub const SECTOR: usize = 4096;
/// The large erase the ROM uses where aligned.
const BLOCK: u32 = 64 * 1024;
/// SPI block erase (64 KiB).
const BLOCK_ERASE_CMD: u8 = 0xD8;

unsafe extern "C" {
    static __store_start: u8;
    static __store_end: u8;
}

/// A refused request (the ROM functions report no errors; the store reads
/// back what it wrote).
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum StoreFlashError {
    /// Beyond the store's range.
    OutOfBounds,
    /// Not on a page (program) or sector (erase) boundary.
    NotAligned,
}

impl NorFlashError for StoreFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            Self::NotAligned => NorFlashErrorKind::NotAligned,
        }
    }
}

/// What the RAM routines need, gathered while XIP still works.
#[repr(C)]
struct RomOps {
    connect: unsafe extern "C" fn(),
    exit_xip: unsafe extern "C" fn(),
    flush: unsafe extern "C" fn(),
    erase: unsafe extern "C" fn(u32, usize, u32, u8),
    program: unsafe extern "C" fn(u32, *const u8, usize),
    /// QMI M0_TIMING, M0_RFMT, M0_RCMD: address and value to restore.
    timing: (*mut u32, u32),
    rfmt: (*mut u32, u32),
    rcmd: (*mut u32, u32),
}

impl RomOps {
    fn get() -> Self {
        // SAFETY: reads of three QMI registers (no side effects); the
        // pointers are kept to write the same values back.
        let qmi = unsafe { &*pac::QMI::ptr() };
        Self {
            connect: rom_data::connect_internal_flash::ptr(),
            exit_xip: rom_data::flash_exit_xip::ptr(),
            flush: rom_data::flash_flush_cache::ptr(),
            erase: rom_data::flash_range_erase::ptr(),
            program: rom_data::flash_range_program::ptr(),
            timing: (qmi.m0_timing().as_ptr(), qmi.m0_timing().read().bits()),
            rfmt: (qmi.m0_rfmt().as_ptr(), qmi.m0_rfmt().read().bits()),
            rcmd: (qmi.m0_rcmd().as_ptr(), qmi.m0_rcmd().read().bits()),
        }
    }
}

/// Leaves XIP for serial commands (RAM only).
#[unsafe(link_section = ".data.fixpo_store_ram")]
#[inline(always)]
unsafe fn ram_enter(ops: &RomOps) {
    // SAFETY: ROM functions without arguments; the caller runs from RAM.
    unsafe {
        (ops.connect)();
        (ops.exit_xip)();
    }
}

/// Flushes the XIP cache and restores the boot ROM's XIP read setup.
#[unsafe(link_section = ".data.fixpo_store_ram")]
#[inline(always)]
unsafe fn ram_leave(ops: &RomOps) {
    // SAFETY: a ROM function without arguments, then the QMI registers
    // written back with the values they held before `ram_enter`.
    unsafe {
        (ops.flush)();
        ops.timing.0.write_volatile(ops.timing.1);
        ops.rfmt.0.write_volatile(ops.rfmt.1);
        ops.rcmd.0.write_volatile(ops.rcmd.1);
    }
}

/// Erases `count` bytes at flash offset `addr` (sector-aligned), from RAM.
///
/// # Safety
/// Interrupts off, nothing else touching flash (single core, no DMA from
/// flash), `addr..addr + count` sector-aligned and inside the flash.
#[unsafe(link_section = ".data.fixpo_store_ram")]
#[inline(never)]
unsafe fn ram_erase(ops: &RomOps, addr: u32, count: usize) {
    // SAFETY: as the caller promises; XIP is back when this returns.
    unsafe {
        ram_enter(ops);
        (ops.erase)(addr, count, BLOCK, BLOCK_ERASE_CMD);
        ram_leave(ops);
    }
}

/// Programs one page at flash offset `addr` from `page` (in RAM), from RAM.
///
/// # Safety
/// As [`ram_erase`]; `addr` page-aligned, `page` in RAM.
#[unsafe(link_section = ".data.fixpo_store_ram")]
#[inline(never)]
unsafe fn ram_program(ops: &RomOps, addr: u32, page: &[u8; PAGE]) {
    // SAFETY: as the caller promises.
    unsafe {
        ram_enter(ops);
        (ops.program)(addr, page.as_ptr(), PAGE);
        ram_leave(ops);
    }
}

/// The store's range of the QSPI flash (the only writer of it).
pub struct StoreFlash {
    /// Flash offset of the store's offset 0.
    start: u32,
    /// Bytes: a whole number of sectors.
    len: u32,
    /// Watchdog LOAD value written before each erase block and page.
    feed_load: u32,
}

impl StoreFlash {
    /// The range between `__store_start` and `__store_end`; `None` (logged)
    /// if it is not whole sectors inside the 4 MiB flash. `feed_load`: the
    /// watchdog LOAD value that feeds it (the period the HAL started it
    /// with, in µs).
    pub fn new(feed_load: u32) -> Option<Self> {
        // Only the symbols' addresses are taken (memory.x defines them).
        let start = core::ptr::addr_of!(__store_start) as u32;
        let end = core::ptr::addr_of!(__store_end) as u32;
        let ok = start >= XIP_BASE
            && end > start
            && end <= XIP_BASE + FLASH_SIZE
            && start % SECTOR as u32 == 0
            && end % SECTOR as u32 == 0;
        if !ok {
            defmt::error!(
                "store: range {=u32:#010x}..{=u32:#010x} is not whole 4 KiB sectors of the flash",
                start,
                end
            );
            return None;
        }
        defmt::info!("store: flash {=u32:#010x}..{=u32:#010x}", start, end);
        Some(Self {
            start: start - XIP_BASE,
            len: end - start,
            feed_load,
        })
    }

    fn check(&self, offset: u32, len: usize, align: usize) -> Result<(), StoreFlashError> {
        let len = u32::try_from(len).map_err(|_| StoreFlashError::OutOfBounds)?;
        if offset % align as u32 != 0 || len % align as u32 != 0 {
            return Err(StoreFlashError::NotAligned);
        }
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(StoreFlashError::OutOfBounds),
        }
    }

    fn feed_watchdog(&self) {
        // SAFETY: one write of WATCHDOG LOAD with the period it runs with:
        // a reload of its counter, what `hal::Watchdog::feed` writes.
        unsafe {
            (*pac::WATCHDOG::ptr())
                .load()
                .write(|w| w.bits(self.feed_load))
        };
    }
}

/// Motor PWM duty 0 (slice 0 channel A, the board's motor, src/main.rs)
/// before an erase: the erase runs with interrupts off and XIP off, the
/// control loop stopped, for up to about 2 s per 64 KiB block, which must
/// not be spent at the last torque (the host link's push erases a bank
/// while the policy controls). Every write outside the link already runs
/// with the motor stopped; the next control step sets the duty again.
fn motor_duty_zero() {
    // SAFETY: one write of PWM slice 0's compare A, which only the motor's
    // channel uses; 0 = output low for the whole period.
    unsafe { (*pac::PWM::ptr()).ch(0).cc().modify(|_, w| w.a().bits(0)) };
}

impl ErrorType for StoreFlash {
    type Error = StoreFlashError;
}

impl ReadNorFlash for StoreFlash {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), Self::Error> {
        let src = self
            .mapped(offset, u32::try_from(bytes.len()).unwrap_or(u32::MAX))
            .ok_or(StoreFlashError::OutOfBounds)?;
        bytes.copy_from_slice(src);
        Ok(())
    }

    fn capacity(&self) -> usize {
        self.len as usize
    }
}

impl NorFlash for StoreFlash {
    const WRITE_SIZE: usize = PAGE;
    const ERASE_SIZE: usize = SECTOR;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if to < from {
            return Err(StoreFlashError::OutOfBounds);
        }
        self.check(from, (to - from) as usize, SECTOR)?;
        motor_duty_zero();
        let ops = RomOps::get();
        let mut addr = self.start + from;
        let end = self.start + to;
        while addr < end {
            // Up to the next 64 KiB boundary (or the end).
            let next = ((addr / BLOCK + 1) * BLOCK).min(end);
            self.feed_watchdog();
            // SAFETY: interrupts off for the call; single core, no DMA;
            // `addr..next` is sector-aligned inside the store's range.
            cortex_m::interrupt::free(|_| unsafe { ram_erase(&ops, addr, (next - addr) as usize) });
            addr = next;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.check(offset, bytes.len(), PAGE)?;
        let ops = RomOps::get();
        let mut page = [0u8; PAGE];
        let mut addr = self.start + offset;
        for chunk in bytes.chunks_exact(PAGE) {
            page.copy_from_slice(chunk);
            self.feed_watchdog();
            // SAFETY: interrupts off for the call; single core, no DMA;
            // `addr` page-aligned inside the store's range; `page` is on
            // the stack (RAM).
            cortex_m::interrupt::free(|_| unsafe { ram_program(&ops, addr, &page) });
            addr += PAGE as u32;
        }
        Ok(())
    }
}

impl Flash for StoreFlash {
    fn mapped(&self, offset: u32, len: u32) -> Option<&[u8]> {
        self.check(offset, len as usize, 1).ok()?;
        // SAFETY: inside the store's range of the XIP window (checked);
        // XIP is readable whenever this code runs (the RAM routines restore
        // it before returning), and every erase and program goes through
        // `&mut self`, so the bytes do not change while this borrow lives.
        Some(unsafe {
            core::slice::from_raw_parts((XIP_BASE + self.start + offset) as *const u8, len as usize)
        })
    }
}
