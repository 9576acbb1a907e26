//! UART0 as the host link's port (feature `link`; `fixpo device`,
//! docs/protocol.md): GP0 TX (pin 1) / GP1 RX (pin 2) at 115 200 baud 8N1,
//! for a 3.3 V USB-serial adapter (or a Debug Probe's UART, which is wired
//! to these pins).
//!
//! Both directions go through interrupt-fed rings around the UART's 32-byte
//! FIFOs, so a request's handling never waits for the line:
//!
//! - receive: the RX interrupt (FIFO at its level) and the receive timeout
//!   interrupt (bytes waiting, line quiet for 32 bit periods) move what the
//!   FIFO holds into a 1 KiB [`SharedRing`]; the main loop drains it while
//!   it waits for the control period. A byte lost to a FIFO overrun (the
//!   interrupt held off: the store's flash operations run with interrupts
//!   off) or to a full ring only costs the host a retry (a CRC error or a
//!   timeout). The count of lost bytes is [`lost`].
//! - transmit: [`Port::write`] queues the frame in a 1 KiB ring, fills the
//!   FIFO and turns the TX interrupt on; the interrupt refills the FIFO as
//!   it drains and masks itself when the ring is empty. A 256-byte `Chunk`
//!   reply is 24 ms at 115 200 baud: sent blocking from the loop's wait it
//!   would make the next control step late (overruns, a wrong velocity
//!   estimate).

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering};

use critical_section::Mutex;
use fixpo_firmware::link::{Port, Ring, SharedRing};
use rp235x_hal::fugit::{HertzU32, RateExtU32};
use rp235x_hal::gpio::bank0::{Gpio0, Gpio1};
use rp235x_hal::gpio::{FunctionUart, Pin, PullUp};
use rp235x_hal::pac::{self, interrupt};
use rp235x_hal::uart::{DataBits, Enabled, StopBits, UartConfig, UartPeripheral};

/// The line's speed.
pub const BAUD: u32 = 115_200;
/// Receive ring: four maximal request frames.
const RX_RING: usize = 1024;
/// Transmit ring: a few maximal replies (stop-and-wait has one).
const TX_RING: usize = 1024;

static RX: SharedRing<RX_RING> = Mutex::new(RefCell::new(Ring::new()));
static TX: SharedRing<TX_RING> = Mutex::new(RefCell::new(Ring::new()));
/// Received bytes dropped: FIFO overruns and a full ring.
static LOST: AtomicU32 = AtomicU32::new(0);

/// UARTDR's overrun error bit (set on the byte that follows the loss).
const DR_OE: u32 = 1 << 11;

/// TX on GP0, RX on GP1, both pulled up (an unconnected RX idles high
/// instead of reading a break).
pub type Pins = (
    Pin<Gpio0, FunctionUart, PullUp>,
    Pin<Gpio1, FunctionUart, PullUp>,
);

/// Received bytes lost since boot (overruns, full ring).
pub fn lost() -> u32 {
    LOST.load(Ordering::Relaxed)
}

fn regs() -> &'static pac::uart0::RegisterBlock {
    // SAFETY: UART0's register block; after `LinkUart::new` only this
    // module touches it (the main loop inside critical sections, the
    // interrupt otherwise), one register access at a time.
    unsafe { &*pac::UART0::ptr() }
}

/// UART0, owned by the link.
pub struct LinkUart {
    _uart: UartPeripheral<Enabled, pac::UART0, Pins>,
}

impl LinkUart {
    /// UART0 on GP0/GP1 at [`BAUD`] 8N1 with its receive interrupts on;
    /// `None` if the HAL cannot make the baud rate from `peripheral_hz`.
    pub fn new(
        uart: pac::UART0,
        pins: Pins,
        resets: &mut pac::RESETS,
        peripheral_hz: HertzU32,
    ) -> Option<Self> {
        let config = UartConfig::new(BAUD.Hz(), DataBits::Eight, None, StopBits::One);
        let mut uart = UartPeripheral::new(uart, pins, resets)
            .enable(config, peripheral_hz)
            .ok()?;
        uart.enable_rx_interrupt();
        // SAFETY: the handler below only touches the rings (inside
        // critical sections) and UART0's registers.
        unsafe { cortex_m::peripheral::NVIC::unmask(pac::Interrupt::UART0_IRQ) };
        Some(Self { _uart: uart })
    }
}

#[interrupt]
fn UART0_IRQ() {
    let uart = regs();
    critical_section::with(|cs| {
        let mut rx = RX.borrow_ref_mut(cs);
        // Drain the FIFO: that also clears the RX and timeout interrupts.
        while uart.uartfr().read().rxfe().bit_is_clear() {
            let dr = uart.uartdr().read().bits();
            if dr & DR_OE != 0 {
                LOST.fetch_add(1, Ordering::Relaxed);
            }
            // Framing, parity and break errors: the byte goes on, the
            // frame's CRC refuses it.
            if !rx.push(dr as u8) {
                LOST.fetch_add(1, Ordering::Relaxed);
            }
        }
        if uart.uartmis().read().txmis().bit_is_set() {
            refill(uart, &mut TX.borrow_ref_mut(cs));
        }
    });
}

/// Moves queued bytes into the TX FIFO until it is full; with nothing
/// left to send, masks (and clears) the TX interrupt.
fn refill(uart: &pac::uart0::RegisterBlock, tx: &mut Ring<TX_RING>) {
    while uart.uartfr().read().txff().bit_is_clear() {
        match tx.pop() {
            // SAFETY: UARTDR's data field takes any byte.
            Some(b) => {
                uart.uartdr().write(|w| unsafe { w.data().bits(b) });
            }
            None => {
                uart.uartimsc().modify(|_, w| w.txim().clear_bit());
                uart.uarticr().write(|w| w.txic().clear_bit_by_one());
                return;
            }
        }
    }
}

impl Port for LinkUart {
    fn read(&mut self) -> Option<u8> {
        critical_section::with(|cs| RX.borrow_ref_mut(cs).pop())
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            // Queue what fits, fill the FIFO (the TX interrupt fires when
            // the FIFO drains through its level, not for an empty one, so
            // it must be primed) and turn the interrupt on. Loops
            // (interrupts on between tries) only while the ring is full.
            critical_section::with(|cs| {
                let mut tx = TX.borrow_ref_mut(cs);
                while let Some((&b, tail)) = rest.split_first() {
                    if !tx.push(b) {
                        break;
                    }
                    rest = tail;
                }
                let uart = regs();
                uart.uartimsc().modify(|_, w| w.txim().set_bit());
                refill(uart, &mut tx);
            });
        }
    }
}
