//! USART2 as the host link's port (feature `link`; `fixpo device`,
//! docs/protocol.md): PA2 TX / PA3 RX (AF7) at 115 200 baud 8N1. On the
//! Nucleo-F446RE these two pins are wired to the ST-Link's virtual COM port
//! (`/dev/ttyACM0` on the host) through solder bridges SB13/SB14 (closed
//! by default); on an STM32F405 board they are plain pins for a USB-serial
//! adapter.
//!
//! Both directions go through interrupt-fed rings, so a request's handling
//! never waits for the line:
//!
//! - receive: the RXNE interrupt (which also fires on an overrun) moves
//!   each byte into a 1 KiB [`SharedRing`]; the main loop drains it while
//!   it waits for the control period. A byte lost to an overrun (the
//!   interrupt held off, e.g. by a flash operation stalling the CPU) or to
//!   a full ring only costs the host a retry: the frame fails its CRC and
//!   the device answers `Frame` errors, or nothing and the host times out.
//!   The count of lost bytes is [`lost`].
//! - transmit: [`Port::write`] queues the frame in a 1 KiB ring and the
//!   TXE interrupt sends it. A 256-byte `Chunk` reply is 24 ms of line
//!   time at 115 200 baud, half a control period: sent blocking from the
//!   loop's wait it would push the next control step late (a wrong
//!   velocity estimate, overruns and, three in a row, the plant's
//!   `Overruns` fault). `write` only waits when the ring is full, which
//!   stop-and-wait (one request, one reply) does not reach.

use core::cell::RefCell;
use core::sync::atomic::{AtomicU32, Ordering};

use critical_section::Mutex;
use fixpo_firmware::link::{Port, Ring, SharedRing};
use stm32f4xx_hal::gpio::{PA2, PA3};
use stm32f4xx_hal::pac::{self, interrupt};
use stm32f4xx_hal::prelude::*;
use stm32f4xx_hal::rcc::Rcc;
use stm32f4xx_hal::serial::{Config, Serial};

/// The line's speed.
pub const BAUD: u32 = 115_200;
/// Receive ring: four maximal request frames.
const RX_RING: usize = 1024;
/// Transmit ring: a few maximal replies (and stop-and-wait has one).
const TX_RING: usize = 1024;

static RX: SharedRing<RX_RING> = Mutex::new(RefCell::new(Ring::new()));
static TX: SharedRing<TX_RING> = Mutex::new(RefCell::new(Ring::new()));
/// Received bytes dropped: overruns and a full receive ring.
static LOST: AtomicU32 = AtomicU32::new(0);

/// USART_SR bits (RM0390 / RM0090, same on the F405 and F446).
const SR_ORE: u16 = 1 << 3;
const SR_RXNE: u16 = 1 << 5;
const SR_TXE: u16 = 1 << 7;
/// USART_CR1 TXEIE.
const CR1_TXEIE: u16 = 1 << 7;

/// Received bytes lost since boot (overruns, full ring).
pub fn lost() -> u32 {
    LOST.load(Ordering::Relaxed)
}

fn regs() -> &'static pac::usart1::RegisterBlock {
    // SAFETY: USART2's register block; after `LinkUart::new` only this
    // module touches it (the main loop inside critical sections, the
    // interrupt otherwise), and every access is a single register read or
    // write.
    unsafe { &*pac::USART2::ptr() }
}

/// USART2, owned by the link (the HAL's serial keeps the pins).
pub struct LinkUart {
    _serial: Serial<pac::USART2>,
}

impl LinkUart {
    /// USART2 on PA2/PA3 at [`BAUD`] 8N1 with its receive interrupt on;
    /// `None` if the HAL refuses the baud rate for this clock tree (it
    /// does not at the boards' 45 MHz or 42 MHz APB1).
    pub fn new(usart: pac::USART2, tx: PA2, rx: PA3, rcc: &mut Rcc) -> Option<Self> {
        let config = Config::default().baudrate(BAUD.bps());
        let serial: Serial<pac::USART2> = usart.serial((tx, rx), config, rcc).ok()?;
        // RXNEIE: an interrupt per received byte and on an overrun.
        regs().cr1().modify(|_, w| w.rxneie().set_bit());
        // SAFETY: the handler below only touches the rings (inside
        // critical sections) and USART2's registers.
        unsafe { cortex_m::peripheral::NVIC::unmask(pac::Interrupt::USART2) };
        Some(Self { _serial: serial })
    }
}

#[interrupt]
fn USART2() {
    let usart = regs();
    let sr = usart.sr().read().bits();
    if sr & (SR_RXNE | SR_ORE) != 0 {
        // Reading SR then DR clears RXNE, ORE and the error flags.
        let b = usart.dr().read().bits() as u8;
        if sr & SR_ORE != 0 {
            LOST.fetch_add(1, Ordering::Relaxed);
        }
        let queued = critical_section::with(|cs| RX.borrow_ref_mut(cs).push(b));
        if !queued {
            LOST.fetch_add(1, Ordering::Relaxed);
        }
    }
    if sr & SR_TXE != 0 && usart.cr1().read().bits() & CR1_TXEIE != 0 {
        critical_section::with(|cs| send_next(usart, &mut TX.borrow_ref_mut(cs)));
    }
}

/// Moves one queued byte into DR (TXE set), or masks TXE's interrupt when
/// nothing is queued.
fn send_next(usart: &pac::usart1::RegisterBlock, tx: &mut Ring<TX_RING>) {
    match tx.pop() {
        // SAFETY: DR takes any 9-bit value; 8N1 sends the low 8.
        Some(b) => {
            usart.dr().write(|w| unsafe { w.bits(u16::from(b)) });
        }
        None => {
            usart.cr1().modify(|_, w| w.txeie().clear_bit());
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
            // Queue what fits, then TXE's interrupt on: it sends what is
            // queued and masks itself when the ring is empty. Loops
            // (interrupts on between tries) only while the ring is full.
            critical_section::with(|cs| {
                let mut tx = TX.borrow_ref_mut(cs);
                while let Some((&b, tail)) = rest.split_first() {
                    if !tx.push(b) {
                        break;
                    }
                    rest = tail;
                }
                regs().cr1().modify(|_, w| w.txeie().set_bit());
            });
        }
    }
}
