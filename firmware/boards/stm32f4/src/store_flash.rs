//! The policy store's flash on a real STM32F4: whole 128 KiB sectors of the
//! internal flash, driven through the FLASH interface registers (erase a
//! sector, program 32-bit words, read in place at 0x0800_0000 + address).
//!
//! Which sectors: the linker symbols `__store_start` / `__store_end` of the
//! chip's memory map (memory-f446.x: sectors 5–7, memory-f405.x: sectors
//! 8–10; firmware/README.md says why). From sector 5 on every sector of a
//! single-bank STM32F4 is 128 KiB, so the device this driver presents has
//! one erase size; its offset 0 is `__store_start`.
//!
//! Not the HAL's `UnlockedFlash`: that one programs bytes (x8), erases at x8
//! (twice as slow), asserts (panics) if the unlock fails, keeps stale error
//! flags and leaves the data cache as it was. Here: x32 parallelism (needs
//! VDD 2.7–3.6 V, the boards' 3.3 V), error flags cleared before and
//! checked after every operation, the flash locked again after each one,
//! the ART data cache reset after each (a line cached before an erase
//! would read stale bytes through `mapped`), and no panic.
//!
//! Erasing a 128 KiB sector stalls every flash access (so the CPU, which
//! runs from flash) for about a second, two at worst (the chip's
//! datasheet, x32): the IWDG is fed right before each sector erase and each
//! program call, and its period while the store may write covers the worst
//! case (src/board.rs, `STORE_WATCHDOG_MS`). It is not fed while waiting,
//! so a flash interface that never finishes still ends in a reset.

use embedded_storage::nor_flash::{
    ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};
use fixpo_firmware::persist::Flash;
use stm32f4xx_hal::flash::FlashExt;
use stm32f4xx_hal::pac;
use stm32f4xx_hal::pac::flash::cr::PSIZE;

/// Start of the memory-mapped flash.
const FLASH_BASE: u32 = 0x0800_0000;
/// Sector 5, the first 128 KiB sector.
const SECTOR5: u32 = 0x0802_0000;
/// The erase unit this driver offers: one 128 KiB sector.
pub const SECTOR_LEN: u32 = 128 * 1024;
/// The last sector of a single bank (sectors 12 and up are a second bank,
/// numbered differently, on 2 MiB parts).
const LAST_SECTOR: u32 = 11;
/// FLASH_KEYR unlock sequence.
const KEY1: u32 = 0x4567_0123;
const KEY2: u32 = 0xCDEF_89AB;
/// FLASH_SR error flags (OPERR, WRPERR, PGAERR, PGPERR, PGSERR and, on
/// the F446, RDERR; the bit reads 0 where it does not exist).
const SR_ERRORS: u32 = 0x1F2;
/// FLASH_SR EOP.
const SR_EOP: u32 = 0x1;

unsafe extern "C" {
    static __store_start: u8;
    static __store_end: u8;
}

/// A failed flash operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, defmt::Format)]
pub enum StoreFlashError {
    /// Beyond the store's sectors.
    OutOfBounds,
    /// Not on a word (program) or sector (erase) boundary.
    NotAligned,
    /// FLASH_CR stayed locked after the key sequence (a wrong sequence
    /// locks it until the next reset).
    Locked,
    /// The flash interface reported these FLASH_SR error flags.
    Status(u32),
}

impl NorFlashError for StoreFlashError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            Self::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            Self::NotAligned => NorFlashErrorKind::NotAligned,
            Self::Locked | Self::Status(_) => NorFlashErrorKind::Other,
        }
    }
}

/// The store's sectors of the internal flash (owns the FLASH interface).
pub struct StoreFlash {
    regs: pac::FLASH,
    /// Absolute address of offset 0.
    start: u32,
    /// Bytes: a whole number of sectors.
    len: u32,
}

impl StoreFlash {
    /// The sectors between `__store_start` and `__store_end`; `None`
    /// (logged) if the memory map's range is not whole 128 KiB sectors of
    /// the first bank inside this chip's flash.
    pub fn new(regs: pac::FLASH) -> Option<Self> {
        // Only the symbols' addresses are taken (memory-*.x defines them;
        // nothing is read through them).
        let start = core::ptr::addr_of!(__store_start) as u32;
        let end = core::ptr::addr_of!(__store_end) as u32;
        let flash_end = FLASH_BASE.saturating_add(regs.len() as u32);
        let ok = start >= SECTOR5
            && end > start
            && end <= flash_end
            && (start - SECTOR5) % SECTOR_LEN == 0
            && (end - start) % SECTOR_LEN == 0
            && Self::sector_of(end - 1) <= LAST_SECTOR;
        if !ok {
            defmt::error!(
                "store: range {=u32:#010x}..{=u32:#010x} is not whole 128 KiB sectors of this chip's flash (ends {=u32:#010x})",
                start,
                end,
                flash_end
            );
            return None;
        }
        defmt::info!(
            "store: flash sectors {=u32}..={=u32} at {=u32:#010x}",
            Self::sector_of(start),
            Self::sector_of(end - 1),
            start
        );
        Some(Self {
            regs,
            start,
            len: end - start,
        })
    }

    /// Sector number of an absolute address at or after sector 5.
    fn sector_of(addr: u32) -> u32 {
        5 + (addr - SECTOR5) / SECTOR_LEN
    }

    fn check(&self, offset: u32, len: usize, align: u32) -> Result<(), StoreFlashError> {
        let len = u32::try_from(len).map_err(|_| StoreFlashError::OutOfBounds)?;
        if offset % align != 0 || len % align != 0 {
            return Err(StoreFlashError::NotAligned);
        }
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(()),
            _ => Err(StoreFlashError::OutOfBounds),
        }
    }

    /// Unlocks FLASH_CR, waits for the interface and clears stale flags.
    fn begin(&mut self) -> Result<(), StoreFlashError> {
        self.wait();
        if self.regs.cr().read().lock().bit_is_set() {
            // SAFETY: the key register takes any value; these two, in this
            // order, are the unlock sequence.
            self.regs.keyr().write(|w| unsafe { w.key().bits(KEY1) });
            self.regs.keyr().write(|w| unsafe { w.key().bits(KEY2) });
        }
        if self.regs.cr().read().lock().bit_is_set() {
            return Err(StoreFlashError::Locked);
        }
        let stale = self.regs.sr().read().bits() & (SR_ERRORS | SR_EOP);
        // SAFETY: FLASH_SR's flags clear on writing 1; only flags that read
        // set are written back.
        self.regs.sr().write(|w| unsafe { w.bits(stale) });
        Ok(())
    }

    /// Ends an operation: clears PG/SER, locks FLASH_CR again, resets the
    /// data cache; returns the operation's error flags, if any.
    fn end(&mut self) -> Result<(), StoreFlashError> {
        self.wait();
        let flags = self.regs.sr().read().bits() & (SR_ERRORS | SR_EOP);
        // SAFETY: as in `begin`, only set flags are written back.
        self.regs.sr().write(|w| unsafe { w.bits(flags) });
        self.regs.cr().modify(|_, w| {
            w.pg().clear_bit();
            w.ser().clear_bit();
            w.lock().set_bit()
        });
        self.reset_data_cache();
        match flags & SR_ERRORS {
            0 => Ok(()),
            e => Err(StoreFlashError::Status(e)),
        }
    }

    fn wait(&self) {
        while self.regs.sr().read().bsy().bit_is_set() {}
    }

    /// Resets the ART data cache if it is on (it may hold bytes read before
    /// an erase or program); the reset bit only acts with the cache off.
    fn reset_data_cache(&mut self) {
        let acr = self.regs.acr();
        if acr.read().dcen().bit_is_set() {
            acr.modify(|_, w| w.dcen().clear_bit());
            acr.modify(|_, w| w.dcrst().set_bit());
            acr.modify(|_, w| w.dcrst().clear_bit());
            acr.modify(|_, w| w.dcen().set_bit());
        }
    }

    /// Reloads the IWDG before a long flash operation.
    fn feed_watchdog() {
        // SAFETY: one write of the reload key to IWDG_KR: it only reloads
        // the counter (a no-op while the IWDG is not started) and races
        // with nothing (the `Dog` in src/board.rs writes the same key).
        unsafe { (*pac::IWDG::ptr()).kr().write(|w| w.key().feed()) };
    }

    fn erase_sector(&mut self, sector: u32) -> Result<(), StoreFlashError> {
        motor_duty_zero();
        Self::feed_watchdog();
        self.begin()?;
        self.regs.cr().modify(|_, w| {
            w.pg().clear_bit();
            w.psize().variant(PSIZE::Psize32);
            // SAFETY: `sector` is 5..=11 (checked in `new`), a valid SNB.
            unsafe { w.snb().bits(sector as u8) };
            w.ser().set_bit()
        });
        self.regs.cr().modify(|_, w| w.strt().set_bit());
        self.end()
    }
}

/// Motor PWM duty 0 (TIM1_CCR1, the board's motor channel, src/board.rs)
/// before a sector erase: the erase stalls the CPU, and the control loop
/// with it, for up to 2 s, which must not be spent at the last torque (the
/// host link's push erases a bank while the policy controls). Every write
/// outside the link already runs with the motor stopped; the next control
/// step sets the duty again.
fn motor_duty_zero() {
    // SAFETY: one write of TIM1's CCR1, which only the motor's PWM channel
    // uses; 0 = output low for the whole period.
    unsafe { (*pac::TIM1::ptr()).ccr(0).write(|w| w.ccr().bits(0)) };
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
    const WRITE_SIZE: usize = 4;
    const ERASE_SIZE: usize = SECTOR_LEN as usize;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), Self::Error> {
        if to < from {
            return Err(StoreFlashError::OutOfBounds);
        }
        self.check(from, (to - from) as usize, SECTOR_LEN)?;
        let mut addr = self.start + from;
        while addr < self.start + to {
            self.erase_sector(Self::sector_of(addr))?;
            addr += SECTOR_LEN;
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), Self::Error> {
        self.check(offset, bytes.len(), 4)?;
        Self::feed_watchdog();
        self.begin()?;
        self.regs.cr().modify(|_, w| {
            w.ser().clear_bit();
            w.psize().variant(PSIZE::Psize32);
            w.pg().set_bit()
        });
        let mut addr = self.start + offset;
        for word in bytes.chunks_exact(4) {
            let w = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            // SAFETY: a word-aligned address inside the store's sectors
            // (checked above), which nothing else uses; with PG set and
            // PSIZE x32 a 32-bit write programs that word.
            unsafe { (addr as *mut u32).write_volatile(w) };
            self.wait();
            if self.regs.sr().read().bits() & SR_ERRORS != 0 {
                break;
            }
            addr += 4;
        }
        self.end()
    }
}

impl Flash for StoreFlash {
    fn mapped(&self, offset: u32, len: u32) -> Option<&[u8]> {
        self.check(offset, len as usize, 1).ok()?;
        // SAFETY: inside the store's sectors (checked), which are
        // memory-mapped and readable at any time; every erase and program
        // goes through `&mut self`, so nothing changes the bytes while this
        // borrow of `self` lives.
        Some(unsafe {
            core::slice::from_raw_parts((self.start + offset) as *const u8, len as usize)
        })
    }
}
