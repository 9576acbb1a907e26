//! The `qemu` build's global defmt logger: encoded frames written byte by
//! byte to USART1's data register, which QEMU's netduinoplus2 emulates
//! (`-serial`); `defmt-print -e ELF` decodes the captured bytes.
//!
//! No clock or baud-rate set-up: QEMU's USART sends whatever is written to
//! DR. The firmware enables no interrupts, so a frame cannot be
//! interrupted by another; a nested `acquire` would still be refused.

use core::sync::atomic::{AtomicBool, Ordering};

use stm32f4xx_hal::pac;

#[defmt::global_logger]
struct UartLogger;

static TAKEN: AtomicBool = AtomicBool::new(false);
static mut ENCODER: defmt::Encoder = defmt::Encoder::new();

/// Enables USART1's transmitter (UE, TE).
pub fn init() {
    // SAFETY: the only user of USART1 in this build; set once at boot.
    let usart = unsafe { &*pac::USART1::ptr() };
    usart.cr1().modify(|_, w| w.ue().set_bit().te().set_bit());
}

fn send(bytes: &[u8]) {
    // SAFETY: only the logger writes USART1's DR, inside acquire/release.
    let usart = unsafe { &*pac::USART1::ptr() };
    for &b in bytes {
        while usart.sr().read().txe().bit_is_clear() {}
        usart.dr().write(|w| unsafe { w.dr().bits(u16::from(b)) });
    }
}

// SAFETY: `acquire` refuses a second holder, so the encoder has one user
// between `acquire` and `release`.
unsafe impl defmt::Logger for UartLogger {
    fn acquire() {
        if TAKEN.swap(true, Ordering::Acquire) {
            // A log call inside a log call: drop it rather than corrupt
            // the frame in progress.
            return;
        }
        // SAFETY: held exclusively (see above).
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).start_frame(send) }
    }

    unsafe fn flush() {}

    unsafe fn release() {
        // SAFETY: called after `acquire` by the same holder.
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).end_frame(send) }
        TAKEN.store(false, Ordering::Release);
    }

    unsafe fn write(bytes: &[u8]) {
        // SAFETY: as in `release`.
        unsafe { (*core::ptr::addr_of_mut!(ENCODER)).write(bytes, send) }
    }
}
