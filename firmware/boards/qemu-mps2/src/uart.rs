//! UART0 of the mps2-an386 (an ARM CMSDK APB UART at 0x4000_4000, receive
//! interrupt 0): the host link's port (`fixpo device`, docs/protocol.md).
//! QEMU connects it to the `-serial` backend (`qemu-run.sh`'s
//! `FIXPO_QEMU_SERIAL`).
//!
//! The receive interrupt moves bytes into a small ring; the main loop
//! drains it between control ticks ([`Uart0`] as a `link::Port`). When
//! the ring is full, the handler leaves the byte in the UART and masks
//! its interrupt: QEMU then holds further input (its UART takes a byte
//! only while the receive register is empty) until the main loop reads
//! again, so nothing is lost while an update computes. Transmission polls
//! the transmit-full flag.

use core::cell::RefCell;
use core::ptr::{read_volatile, write_volatile};

use cortex_m::interrupt::InterruptNumber;
use cortex_m::peripheral::NVIC;
use critical_section::Mutex;
use fixpo_firmware::link::{Port, Ring, SharedRing};

const BASE: usize = 0x4000_4000;
const DATA: usize = BASE;
const STATE: usize = BASE + 0x04;
const CTRL: usize = BASE + 0x08;
const INTSTATUS: usize = BASE + 0x0C;
const BAUDDIV: usize = BASE + 0x10;

const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;
const CTRL_RX_INT_EN: u32 = 1 << 3;
const INT_RX: u32 = 1 << 1;

/// 25 MHz / 115 200 baud (QEMU does not pace the bytes; a real CMSDK UART
/// would).
const DIVIDER: u32 = 217;

/// Bytes the interrupt can queue: the requests that matter while an
/// update computes (`Status`, `Stop`) are a dozen bytes.
const RING: usize = 64;

static RX: SharedRing<RING> = Mutex::new(RefCell::new(Ring::new()));

#[derive(Clone, Copy)]
struct RxIrq;

// SAFETY: 0 is UART0's receive interrupt on the AN386 (QEMU's mps2.c).
unsafe impl InterruptNumber for RxIrq {
    fn number(self) -> u16 {
        0
    }
}

/// The receive interrupt's number, as `DefaultHandler` sees it.
pub const RX_IRQ: i16 = 0;

fn reg(addr: usize) -> u32 {
    // SAFETY: a CMSDK UART register of the AN386 memory map.
    unsafe { read_volatile(addr as *const u32) }
}

fn set(addr: usize, value: u32) {
    // SAFETY: as in `reg`.
    unsafe { write_volatile(addr as *mut u32, value) }
}

/// UART0, owned by the link.
pub struct Uart0(());

impl Uart0 {
    /// Enables UART0 and its receive interrupt. Call once.
    pub fn take() -> Self {
        set(BAUDDIV, DIVIDER);
        set(INTSTATUS, INT_RX);
        set(CTRL, CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN);
        // SAFETY: the handler only touches the ring (behind a critical
        // section) and this UART's registers.
        unsafe { NVIC::unmask(RxIrq) };
        Uart0(())
    }
}

/// The receive interrupt: queue what the UART holds.
pub fn on_rx_interrupt() {
    set(INTSTATUS, INT_RX);
    critical_section::with(|cs| {
        let mut ring = RX.borrow_ref_mut(cs);
        while reg(STATE) & STATE_RX_FULL != 0 {
            if !ring.has_room() {
                // Leave the byte in the UART: QEMU waits with the rest.
                set(CTRL, reg(CTRL) & !CTRL_RX_INT_EN);
                return;
            }
            ring.push(reg(DATA) as u8);
        }
    });
}

impl Port for Uart0 {
    fn read(&mut self) -> Option<u8> {
        critical_section::with(|cs| {
            let mut ring = RX.borrow_ref_mut(cs);
            let b = ring.pop().or_else(|| {
                // A byte held while the ring was full (its interrupt was
                // masked and will not fire for it).
                (reg(STATE) & STATE_RX_FULL != 0).then(|| reg(DATA) as u8)
            });
            set(CTRL, reg(CTRL) | CTRL_RX_INT_EN);
            b
        })
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            while reg(STATE) & STATE_TX_FULL != 0 {}
            set(DATA, u32::from(b));
        }
    }
}
