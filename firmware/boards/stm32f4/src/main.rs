//! fixpo firmware for STM32F4: Nucleo-F446RE by default, STM32F405 with
//! `--no-default-features --features stm32f405,probe`, and the `qemu`
//! build (`--no-default-features --features qemu`) that boots the STM32F405
//! image under QEMU's netduinoplus2. See
//! firmware/README.md for wiring, flashing and what the LED and log say.
//!
//! - `src/board.rs` (real chips): clocks, pin map, AS5600 on I2C1, PWM
//!   motor on TIM1, TIM2 control timer, IWDG watchdog, LED; defmt over RTT;
//!   a panic or fault cuts the motor's PWM and lets the watchdog reset.
//! - `src/link_uart.rs` (`link`): USART2 (PA2/PA3, the Nucleo's ST-Link
//!   virtual COM port) as the host link's port, interrupt-driven both ways.
//! - `src/store_flash.rs` (real chips): the policy store's 128 KiB flash
//!   sectors as a `NorFlash` for `fixpo_firmware::persist`.
//! - `src/qemu.rs` (`qemu`): no clock init (QEMU does not emulate RCC), the
//!   simulated pendulum instead of I²C/PWM, defmt frames on USART1, exit
//!   status through semihosting.
#![no_std]
#![no_main]

#[cfg(all(feature = "stm32f446", feature = "stm32f405"))]
compile_error!(
    "pick one chip: stm32f446 (default) or stm32f405 (with --no-default-features; `qemu` implies it)"
);
#[cfg(not(any(feature = "stm32f446", feature = "stm32f405")))]
compile_error!("pick a chip: feature stm32f446 (default) or stm32f405");

#[cfg(all(feature = "qemu", feature = "probe"))]
compile_error!("the `qemu` build brings its own logger: build it with --no-default-features");
#[cfg(not(any(feature = "qemu", feature = "probe")))]
compile_error!("a real-chip build needs the `probe` feature (defmt-rtt, panic-probe)");

#[cfg(all(feature = "link", feature = "qemu"))]
compile_error!("`link` is for the real chips (the `qemu` build logs on USART1 and has no store)");
#[cfg(all(feature = "link", feature = "adapt"))]
compile_error!(
    "`link` runs adaptations when the host asks (`fixpo device adapt`): build it without `adapt`"
);

#[cfg(not(feature = "qemu"))]
mod board;
#[cfg(all(feature = "link", not(feature = "qemu")))]
mod link_uart;
#[cfg(feature = "qemu")]
mod qemu;
#[cfg(not(feature = "qemu"))]
mod store_flash;
#[cfg(feature = "qemu")]
mod uart_log;
