//! The `qemu` build: the STM32F405 image under QEMU's netduinoplus2.
//!
//! QEMU 7.2 emulates the core, SysTick, USART1 and TIM2–5 of this machine,
//! not RCC, GPIO, I²C or the flash interface, so this build skips clock
//! init (the HAL would wait forever for a PLL lock), runs the simulated
//! pendulum (fixpo-firmware's `SimPlant`) instead of the I²C encoder and
//! PWM motor, logs defmt frames on USART1 and ends with a semihosting exit
//! status. At boot it decodes the policy in the flash region into the
//! learner (with its critic, for a version-2 file), prints the
//! 100-observation inference report (the test compares the action bits
//! with the host's), then evaluates, runs 2 adaptation rounds (the same
//! library code as a real board's `adapt` build), evaluates again and
//! reports the stack high-water mark.

use cortex_m_rt::{ExceptionFrame, entry, exception};
use cortex_m_semihosting::debug;
use fixpo_firmware::boot;
use fixpo_firmware::mem::{self, ROLLOUT};
use fixpo_firmware::persist::{NoFlash, Persist};
use fixpo_firmware::plant::{SimPlant, Wires};

use crate::uart_log;

/// Adaptation rounds under QEMU: enough to exercise the update and the
/// independent check and to measure the stack.
const ROUNDS: u32 = 2;

#[entry]
fn main() -> ! {
    mem::paint_stack();
    uart_log::init();
    defmt::info!("fixpo stm32f4 (qemu netduinoplus2) up");
    let mut memory = mem::take();
    let wires = Wires::new();
    let learner = &mut *memory.learner;
    let Ok(loaded) = boot::decode(boot::region_policy(), learner) else {
        boot::sim_fallback(&wires);
        finish();
    };
    boot::report_inference(boot::stage(memory.scratch, learner, &loaded.deploy));

    let mut plant = SimPlant::new(&wires, ROLLOUT as u32);
    let mut deploy = loaded.deploy;
    // No store: netduinoplus2 emulates no flash interface.
    boot::adapt_on(
        &mut memory,
        &mut deploy,
        &mut plant,
        ROUNDS,
        None::<&mut Persist<NoFlash>>,
    );
    finish()
}

fn finish() -> ! {
    defmt::info!(
        "stack high-water mark {=usize} bytes (window {=usize})",
        mem::stack_high_water(),
        mem::STACK_WINDOW
    );
    defmt::info!("fixpo firmware done");
    exit(true)
}

fn exit(success: bool) -> ! {
    debug::exit(if success {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    let msg = info.message().as_str().unwrap_or("(formatted message)");
    match info.location() {
        Some(l) => defmt::error!("panicked at {=str}:{=u32}: {=str}", l.file(), l.line(), msg),
        None => defmt::error!("panicked: {=str}", msg),
    }
    exit(false)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    defmt::error!(
        "HardFault at pc={=u32:#010x} lr={=u32:#010x}",
        frame.pc(),
        frame.lr()
    );
    exit(false)
}
